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

mod fast;
pub use fast::*;

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
    fn m_acos(self) -> Self;
    fn m_atan2(self, x: Self) -> Self;
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
     $sin:path, $cos:path, $acos:path, $atan2:path, $pow:path, $floor:path) => {
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
            fn m_acos(self) -> Self {
                $acos(self)
            }
            #[inline]
            fn m_atan2(self, x: Self) -> Self {
                $atan2(self, x)
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
    libm::acosf,
    libm::atan2f,
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
    libm::acos,
    libm::atan2,
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
/// Arc cosine (radians, in `[0, π]`); NaN outside `[−1, 1]`.
#[inline]
pub fn acos<T: Real>(x: T) -> T {
    x.m_acos()
}
/// The angle of the point `(x, y)` (radians, in `[−π, π]`), `atan2(y, x)`.
#[inline]
pub fn atan2<T: Real>(y: T, x: T) -> T {
    y.m_atan2(x)
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

/// Squared Euclidean distance `Σ_k (a_k − b_k)²` of two `f32` rows, each term and the sum in
/// `f64`, added in increasing `k` from `0.0` (the one order every metric and target uses).
#[inline]
pub fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    let mut s = 0.0f64;
    for (&u, &v) in a.iter().zip(b) {
        let d = u as f64 - v as f64;
        s += d * d;
    }
    s
}

/// Log-density of `N(x; mean, var)` in one dimension, in `f64`.
#[inline]
pub fn normal_log_pdf(x: f64, mean: f64, var: f64) -> f64 {
    let d = x - mean;
    -0.5 * (LN_2PI + ln(var) + d * d / var)
}

/// Log-density of the isotropic Gaussian `N(x; 0, var·I)` for one row `x`, in `f32`:
/// `−½ (d (log 2π + log var) + ‖x‖² / var)` with `d = x.len()`.
///
/// The base law of annealed SMC and the OU reference process of the diffusion samplers
/// (`samplers::diffusion::reference` re-exports it under its old path).
pub fn gaussian_log_pdf(x: &[f32], var: f32) -> f32 {
    let ss: f32 = x.iter().map(|v| v * v).sum();
    -0.5 * (x.len() as f32 * (LN_2PI as f32 + ln(var)) + ss / var)
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
        assert_eq!(acos(-1.0f64), PI);
        assert!((acos(0.5f32) - core::f32::consts::FRAC_PI_3).abs() < 1e-7);
        assert_eq!(atan2(0.0f64, -1.0), PI);
        assert!((atan2(-1.0f64, 1.0) + core::f64::consts::FRAC_PI_4).abs() < 1e-16);
        assert!((atan2(1.0f32, 0.0) - core::f32::consts::FRAC_PI_2).abs() < 1e-7);
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

    #[test]
    fn gaussian_log_pdf_value() {
        // d = 2, var = 4, x = (1, 1): -(log 2π + log 4) - 2/8.
        let want = -(LN_2PI + ln(4.0f64)) - 0.25;
        assert!((gaussian_log_pdf(&[1.0, 1.0], 4.0) as f64 - want).abs() < 1e-6);
        assert_eq!(gaussian_log_pdf(&[], 2.0), 0.0);
    }

    /// Calls `f` on every `step`-th `f32` bit pattern of magnitude below `limit`, both signs.
    fn for_grid(step: u32, limit: f32, mut f: impl FnMut(f32)) {
        let mut b = 0u32;
        while f32::from_bits(b) < limit {
            f(f32::from_bits(b));
            f(-f32::from_bits(b));
            b += step;
        }
    }

    /// The staged block forms give the scalar forms' bits, specials included.
    #[test]
    fn block_forms_match_the_scalar_forms_bit_for_bit() {
        let mut xs: std::vec::Vec<f32> = std::vec::Vec::new();
        for_grid(9973, 200.0, |x| xs.push(x));
        xs.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            EXP_FAST_HI,
            EXP_FAST_LO,
            0.927_734_4,
            -0.927_734_4,
        ]);
        for chunk in xs.chunks(BLOCK) {
            let mut x = [0.5f32; BLOCK];
            x[..chunk.len()].copy_from_slice(chunk);
            let e = exp_fast_block(&x);
            let r = erf_fast_block(&x);
            for i in 0..BLOCK {
                assert_eq!(e[i].to_bits(), exp_fast(x[i]).to_bits(), "exp at {}", x[i]);
                assert_eq!(r[i].to_bits(), erf_fast(x[i]).to_bits(), "erf at {}", x[i]);
            }
        }
    }

    #[test]
    fn erf_fast_matches_libm_on_a_dense_grid() {
        // every 61st bit pattern below 12 in magnitude (2 × 17.9 M points, dense at every
        // scale; the exhaustive run over all 2.2e9 patterns gave the same bound)
        let mut worst = 0.0f64;
        let mut at = 0.0f32;
        for_grid(61, 12.0, |x| {
            let d = (erf_fast(x) as f64 - libm::erff(x) as f64).abs();
            if d > worst {
                worst = d;
                at = x;
            }
        });
        // measured 5.96e-8 (exhaustive over all f32)
        assert!(worst <= 1e-7, "max |erf_fast - erff| = {worst:e} at {at}");
        // a uniform grid over the interesting range too
        for i in -200_000..=200_000 {
            let x = i as f32 * 3e-5;
            assert!((erf_fast(x) - libm::erff(x)).abs() <= 1e-7, "at {x}");
        }
        assert_eq!(erf_fast(0.0), 0.0);
        assert_eq!(erf_fast(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(erf_fast(f32::INFINITY), 1.0);
        assert_eq!(erf_fast(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf_fast(1e30), 1.0);
        assert!(erf_fast(f32::NAN).is_nan());
        for x in [0.1f32, 0.9, 0.93, 1.7, 3.3] {
            assert_eq!(erf_fast(-x), -erf_fast(x));
        }
    }

    #[test]
    fn exp_fast_matches_libm_on_a_dense_grid() {
        let mut worst = 0.0f64;
        let mut at = 0.0f32;
        for_grid(61, 110.0, |x| {
            let e = libm::exp(x as f64);
            if e >= f32::MIN_POSITIVE as f64 && e <= f32::MAX as f64 {
                let rel = (exp_fast(x) as f64 - e).abs() / e;
                if rel > worst {
                    worst = rel;
                    at = x;
                }
            }
        });
        // measured 8.16e-8 (exhaustive), i.e. below 1.4 ulp
        assert!(worst <= 9e-8, "max relative error {worst:e} at {at}");
        assert_eq!(exp_fast(0.0), 1.0);
        assert_eq!(exp_fast(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_fast(89.0), f32::INFINITY);
        assert_eq!(exp_fast(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_fast(-104.0), 0.0);
        assert!(exp_fast(f32::NAN).is_nan());
        // subnormal results keep a sensible relative accuracy
        let x = -95.0f32;
        let e = libm::exp(x as f64);
        assert!((exp_fast(x) as f64 - e).abs() / e < 1e-3);
    }

    #[test]
    fn exp_fast_f64_matches_libm_on_a_dense_grid() {
        let mut worst = 0.0f64;
        let mut at = 0.0f64;
        let steps = 2_000_000;
        for i in 0..=steps {
            let x = -744.0 + 1453.0 * i as f64 / steps as f64;
            let e = libm::exp(x);
            if e >= f64::MIN_POSITIVE && e.is_finite() {
                let rel = (exp_fast_f64(x) - e).abs() / e;
                if rel > worst {
                    (worst, at) = (rel, x);
                }
            }
        }
        for x in [
            -1e-300,
            1e-17,
            -0.346_573_590_279_972_6,
            0.346_573_590_279_972_6,
            1.0,
        ] {
            let e = libm::exp(x);
            assert!((exp_fast_f64(x) - e).abs() / e <= 4.5e-16, "{x}");
        }
        assert!(worst <= 4.5e-16, "max relative error {worst:e} at {at}");
        assert_eq!(exp_fast_f64(0.0), 1.0);
        assert_eq!(exp_fast_f64(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp_fast_f64(710.0), f64::INFINITY);
        assert_eq!(exp_fast_f64(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_fast_f64(-746.0), 0.0);
        assert!(exp_fast_f64(f64::NAN).is_nan());
        // subnormal results keep a sensible relative accuracy
        let e = libm::exp(-740.0);
        assert!((exp_fast_f64(-740.0) - e).abs() / e < 1e-3);
        let xs = [-30.0, -2.5, -0.1, 0.0, 0.7, 3.0];
        let block = exp_fast_f64_block(&xs);
        for (b, &x) in block.iter().zip(&xs) {
            assert_eq!(b.to_bits(), exp_fast_f64(x).to_bits());
        }
    }

    #[test]
    fn fast_slices_agree_with_scalars() {
        let xs = [-5.0f32, -1.0, -0.3, 0.0, 0.4, 0.95, 2.5, 9.0];
        let mut a = [0.0f32; 8];
        let mut b = [0.0f32; 8];
        erf_fast_slice(&xs, &mut a);
        exp_fast_slice(&xs, &mut b);
        for i in 0..8 {
            assert_eq!(a[i], erf_fast(xs[i]));
            assert_eq!(b[i], exp_fast(xs[i]));
        }
    }
}
