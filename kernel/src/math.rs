//! The one math chokepoint: every transcendental function in the kernel goes through here.
//!
//! Scalar functions forward to [`libm`], which is written in plain Rust with IEEE
//! arithmetic only, so the host, `wasm32` and Cortex-M builds produce the same bits for the
//! same inputs (the portability promise of the crate; `std`'s `f32::exp` may call the
//! platform's C library instead and is never used). Functions are generic over the sealed
//! [`Real`] trait, implemented for `f32` (storage and network arithmetic) and `f64`
//! (reductions over particles, log-normalisers).
//!
//! Log-space helpers ([`log_sum_exp`], [`log_mean_exp`], [`softplus`], [`log_sigmoid`]) are
//! written in their numerically stable forms: max-subtraction, and `log1p(exp(-|x|))`.
//! Reductions over `f32` slices accumulate in `f64`.
//!
//! Edge cases, all tested: `log_sum_exp(&[])` and a slice of all `-inf` give `-inf`; any
//! `+inf` entry gives `+inf`; a NaN entry gives NaN (callers that want NaN treated as zero
//! weight, as the SMC and metric code does, map NaN to `-inf` first, see
//! [`crate::metrics::weights`]).

use core::ops::{Add, Div, Mul, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point type the kernel computes in (`f32` or `f64`); sealed.
///
/// The methods are prefixed `m_` so that they never collide with `std`'s inherent float
/// methods in test builds: call the free functions of this module instead.
#[allow(missing_docs)]
pub trait Real:
    sealed::Sealed
    + Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn m_exp(self) -> Self;
    fn m_ln(self) -> Self;
    fn m_log1p(self) -> Self;
    fn m_expm1(self) -> Self;
    fn m_tanh(self) -> Self;
    fn m_erf(self) -> Self;
    fn m_sqrt(self) -> Self;
    fn m_sin(self) -> Self;
    fn m_cos(self) -> Self;
    fn m_pow(self, e: Self) -> Self;
    fn m_floor(self) -> Self;
    fn m_abs(self) -> Self;
    fn m_is_nan(self) -> bool;
    fn m_is_finite(self) -> bool;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
}

macro_rules! impl_real {
    ($t:ty, $exp:path, $ln:path, $log1p:path, $expm1:path, $tanh:path, $erf:path, $sqrt:path,
     $sin:path, $cos:path, $pow:path, $floor:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            #[inline]
            fn m_exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn m_ln(self) -> Self {
                $ln(self)
            }
            #[inline]
            fn m_log1p(self) -> Self {
                $log1p(self)
            }
            #[inline]
            fn m_expm1(self) -> Self {
                $expm1(self)
            }
            #[inline]
            fn m_tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn m_erf(self) -> Self {
                $erf(self)
            }
            #[inline]
            fn m_sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline]
            fn m_sin(self) -> Self {
                $sin(self)
            }
            #[inline]
            fn m_cos(self) -> Self {
                $cos(self)
            }
            #[inline]
            fn m_pow(self, e: Self) -> Self {
                $pow(self, e)
            }
            #[inline]
            fn m_floor(self) -> Self {
                $floor(self)
            }
            #[inline]
            fn m_abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn m_is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn m_is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}

impl_real!(
    f32,
    libm::expf,
    libm::logf,
    libm::log1pf,
    libm::expm1f,
    libm::tanhf,
    libm::erff,
    libm::sqrtf,
    libm::sinf,
    libm::cosf,
    libm::powf,
    libm::floorf
);
impl_real!(
    f64,
    libm::exp,
    libm::log,
    libm::log1p,
    libm::expm1,
    libm::tanh,
    libm::erf,
    libm::sqrt,
    libm::sin,
    libm::cos,
    libm::pow,
    libm::floor
);

/// `ln 2π`, used by every Gaussian log-density.
pub const LN_2PI: f64 = 1.837_877_066_409_345_5;
/// `π`.
pub const PI: f64 = core::f64::consts::PI;

/// `e^x`.
#[inline]
pub fn exp<T: Real>(x: T) -> T {
    x.m_exp()
}
/// Natural logarithm; `ln(0) = -inf`, `ln(x < 0) = NaN`.
#[inline]
pub fn ln<T: Real>(x: T) -> T {
    x.m_ln()
}
/// `ln(1 + x)`, accurate for small `x`.
#[inline]
pub fn log1p<T: Real>(x: T) -> T {
    x.m_log1p()
}
/// `e^x - 1`, accurate for small `x`.
#[inline]
pub fn expm1<T: Real>(x: T) -> T {
    x.m_expm1()
}
/// Hyperbolic tangent.
#[inline]
pub fn tanh<T: Real>(x: T) -> T {
    x.m_tanh()
}
/// The error function `erf(x) = 2/√π ∫₀ˣ e^{-t²} dt`.
#[inline]
pub fn erf<T: Real>(x: T) -> T {
    x.m_erf()
}
/// Square root; NaN for negative input.
#[inline]
pub fn sqrt<T: Real>(x: T) -> T {
    x.m_sqrt()
}
/// Sine (radians).
#[inline]
pub fn sin<T: Real>(x: T) -> T {
    x.m_sin()
}
/// Cosine (radians).
#[inline]
pub fn cos<T: Real>(x: T) -> T {
    x.m_cos()
}
/// `x^e`.
#[inline]
pub fn powf<T: Real>(x: T, e: T) -> T {
    x.m_pow(e)
}
/// Largest integer not above `x`.
#[inline]
pub fn floor<T: Real>(x: T) -> T {
    x.m_floor()
}

/// `softplus(x) = ln(1 + e^x)`, computed as `max(x, 0) + log1p(e^{-|x|})` so it never
/// overflows; `softplus(+inf) = +inf`, `softplus(-inf) = 0`.
#[inline]
pub fn softplus<T: Real>(x: T) -> T {
    if x.m_is_nan() {
        return x;
    }
    if x == T::INFINITY {
        return x;
    }
    let pos = if x > T::ZERO { x } else { T::ZERO };
    pos + log1p(exp(-x.m_abs()))
}

/// `ln σ(x) = -softplus(-x)`, the log of the logistic function, stable for large `|x|`.
#[inline]
pub fn log_sigmoid<T: Real>(x: T) -> T {
    -softplus(-x)
}

/// The logistic function `σ(x) = 1 / (1 + e^{-x})`, the derivative of [`softplus`].
#[inline]
pub fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + exp(-x))
    } else {
        let e = exp(x);
        e / (T::ONE + e)
    }
}

/// `ln Σᵢ e^{xᵢ}`, accumulated in `f64` with the max trick.
///
/// Empty slice or all `-inf`: `-inf`. Any `+inf`: `+inf`. Any NaN: NaN.
pub fn log_sum_exp<T: Real>(xs: &[T]) -> T {
    T::from_f64(log_sum_exp_f64(xs))
}

/// [`log_sum_exp`] returning the `f64` accumulator (useful when the result feeds a further
/// `f64` reduction such as a running `log Ẑ`).
pub fn log_sum_exp_f64<T: Real>(xs: &[T]) -> f64 {
    let mut m = f64::NEG_INFINITY;
    for &x in xs {
        let x = x.to_f64();
        if x.is_nan() {
            return f64::NAN;
        }
        if x > m {
            m = x;
        }
    }
    if m.is_infinite() {
        return m;
    }
    let mut s = 0.0f64;
    for &x in xs {
        s += exp(x.to_f64() - m);
    }
    m + ln(s)
}

/// `ln( (1/n) Σᵢ e^{xᵢ} )`; `-inf` for an empty slice (no mass), otherwise as
/// [`log_sum_exp`] minus `ln n`.
pub fn log_mean_exp<T: Real>(xs: &[T]) -> T {
    if xs.is_empty() {
        return T::NEG_INFINITY;
    }
    T::from_f64(log_sum_exp_f64(xs) - ln(xs.len() as f64))
}

/// Log-density of `N(x; mean, var)` in one dimension, in `f64`.
#[inline]
pub fn normal_log_pdf(x: f64, mean: f64, var: f64) -> f64 {
    let d = x - mean;
    -0.5 * (LN_2PI + ln(var) + d * d / var)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn chokepoint_matches_known_values() {
        assert_eq!(exp(0.0f32), 1.0);
        assert!((ln(core::f64::consts::E) - 1.0).abs() < 1e-15);
        assert!((erf(1.0f64) - 0.842_700_792_949_714_9).abs() < 1e-15);
        assert!((tanh(0.5f32) - 0.462_117_16).abs() < 1e-7);
        assert!((sqrt(2.0f64) - core::f64::consts::SQRT_2).abs() < 1e-16);
        assert_eq!(floor(-1.5f32), -2.0);
        assert!((powf(2.0f64, 10.0) - 1024.0).abs() < 1e-12);
        assert!((sin(PI / 2.0) - 1.0).abs() < 1e-15);
        assert!((cos(0.0f32) - 1.0).abs() < 1e-7);
        assert!((log1p(1e-10f64) - (1e-10 - 0.5e-20)).abs() < 1e-25);
        assert!((expm1(1e-10f64) - (1e-10 + 0.5e-20)).abs() < 1e-25);
    }

    #[test]
    fn softplus_is_stable_at_the_extremes() {
        assert_eq!(softplus(1000.0f32), 1000.0);
        assert_eq!(softplus(-1000.0f32), 0.0);
        assert!((softplus(0.0f64) - core::f64::consts::LN_2).abs() < 1e-15);
        assert_eq!(softplus(f32::INFINITY), f32::INFINITY);
        assert_eq!(softplus(f32::NEG_INFINITY), 0.0);
        assert!(softplus(f32::NAN).is_nan());
        // softplus(x) - softplus(-x) = x
        for &x in &[-30.0f64, -3.0, -0.1, 0.0, 0.1, 3.0, 30.0] {
            assert!((softplus(x) - softplus(-x) - x).abs() < 1e-12);
        }
        assert!((log_sigmoid(-1000.0f64) + 1000.0).abs() < 1e-9);
        assert!(log_sigmoid(1000.0f64).abs() < 1e-300);
        assert!((sigmoid(0.0f32) - 0.5).abs() < 1e-7);
        assert!(sigmoid(-1000.0f64) >= 0.0 && sigmoid(1000.0f64) == 1.0);
    }

    #[test]
    fn log_sum_exp_edge_cases() {
        let empty: [f32; 0] = [];
        assert_eq!(log_sum_exp(&empty), f32::NEG_INFINITY);
        assert_eq!(log_mean_exp(&empty), f32::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 3]), f32::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[0.0f32, f32::INFINITY]), f32::INFINITY);
        assert!(log_sum_exp(&[0.0f32, f32::NAN]).is_nan());
        // no overflow for large values, no underflow for very negative ones
        let big = [1000.0f32, 1000.0];
        assert!((log_sum_exp(&big) - (1000.0 + core::f32::consts::LN_2)).abs() < 1e-3);
        let small = [-1000.0f64, -1000.0];
        assert!((log_sum_exp(&small) - (-1000.0 + core::f64::consts::LN_2)).abs() < 1e-12);
        let xs = [1.0f64, 2.0, 3.0];
        let direct = ln(exp(1.0f64) + exp(2.0) + exp(3.0));
        assert!((log_sum_exp(&xs) - direct).abs() < 1e-14);
        assert!((log_mean_exp(&xs) - (direct - ln(3.0f64))).abs() < 1e-14);
    }

    #[test]
    fn normal_log_pdf_value() {
        assert!((normal_log_pdf(0.0, 0.0, 1.0) + 0.5 * LN_2PI).abs() < 1e-15);
        assert!(
            (normal_log_pdf(1.0, 0.0, 4.0) - (-0.5 * LN_2PI - ln(2.0f64) - 0.125)).abs() < 1e-15
        );
    }
}
