//! Target densities: unnormalised log-densities with analytic gradients, known `log Z` where
//! the literature gives one, and exact samplers where they exist.
//!
//! Every target implements [`LogDensity`]. [`Target`] wraps any of them (a [`Density`]) for
//! code that picks a target by name at run time ([`Target::from_name`]); [`TARGETS`] lists
//! them for a command-line `targets` listing.
//!
//! The table of registered names (type, dimensions, `log Z`, exact sampler, source) is on
//! [`TARGETS`]; `registry.rs` says how to add a target (one file here, one registry row).
//!
//! # Contracts shared by every target
//! - **Lengths.** [`LogDensity::log_density`] and [`LogDensity::log_density_grad`] are the
//!   hot path and do not return `Result`: `x.len() == dim()` and `grad.len() == dim()` are the
//!   caller's responsibility and are checked with `debug_assert!` only. In release builds a
//!   wrong length never panics or reads out of bounds (every loop iterates over zipped
//!   slices or bounded ranges) but the value is meaningless. Use [`log_density_checked`],
//!   [`grad_checked`] and the batch helpers ([`log_density_batch`], [`grad_batch`],
//!   [`sample_batch`]) to get [`Error::ShapeMismatch`] instead.
//! - **Non-finite inputs.** If any coordinate of `x` is NaN or ±∞, the log density is `-inf`
//!   and the gradient is all zeros (a point outside the support, with no direction to move).
//! - **Never NaN.** For finite `x`, a NaN produced inside the arithmetic (for example
//!   `0 · ∞` when an exponential overflows) is reported as log density `-inf`; gradient
//!   entries are always finite: NaN entries become `0` and `±∞` entries become `±f32::MAX`.
//! - **Precision.** Inputs and outputs are `f32`; sums over components, particles and
//!   coordinates are accumulated in `f64`. Every transcendental goes through
//!   [`crate::math`].

use crate::error::{Error, check_len};
use crate::rng::Rng;

pub mod aldp;
mod corr_gaussian;
mod dw4;
mod funnel;
mod gaussian;
mod gmm40;
mod gmm40_jax;
mod grid_gmm;
mod lj13;
mod many_well;
mod mos;
#[rustfmt::skip]
mod paper_params;
mod registry;
mod tempered;

pub use aldp::Aldp;
pub use corr_gaussian::CorrGaussian2;
pub use dw4::Dw4;
pub use funnel::Funnel;
pub use gaussian::Gaussian;
pub use gmm40::Gmm40;
pub use gmm40_jax::Gmm40Jax;
pub use grid_gmm::GridGmm;
pub use lj13::Lj13;
pub use many_well::ManyWell;
pub use mos::StudentTMixture;
pub use registry::{Density, TARGETS, Target, TargetInfo};
pub use tempered::Tempered;

/// An unnormalised log density `log p̃(x)` on `ℝ^dim` with its gradient.
///
/// The normalised density is `p(x) = p̃(x) / Z`; [`LogDensity::log_z`] returns `log Z` when
/// it is known in closed form (or to the precision the source paper uses).
///
/// See the [module documentation](self) for the length contract, the non-finite-input
/// policy and the never-NaN guarantee every implementation follows.
///
/// # Example
///
/// A target of your own, the standard normal on `ℝ`: the trainers, SMC and the metrics take
/// any `T: LogDensity + ?Sized` (`kernel/examples/rsmc_static.rs` trains on a 2-D one).
///
/// ```
/// use amortise_kernel::rng::{self, Rng};
/// use amortise_kernel::targets::{LogDensity, grad_checked};
/// use amortise_kernel::{Error, math};
///
/// struct StdNormal;
///
/// impl LogDensity for StdNormal {
///     fn dim(&self) -> usize {
///         1
///     }
///     fn log_density(&self, x: &[f32]) -> f32 {
///         match x {
///             [v] if v.is_finite() => -0.5 * *v * *v,
///             _ => f32::NEG_INFINITY, // off the support (or a wrong length)
///         }
///     }
///     fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
///         match (x, grad) {
///             ([v], [g]) if v.is_finite() => {
///                 *g = -*v;
///                 -0.5 * *v * *v
///             }
///             (_, grad) => {
///                 grad.fill(0.0); // no direction to move
///                 f32::NEG_INFINITY
///             }
///         }
///     }
///     fn log_z(&self) -> Option<f64> {
///         Some(0.5 * math::ln(2.0 * core::f64::consts::PI))
///     }
///     fn has_sampler(&self) -> bool {
///         true
///     }
///     fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
///         let [o] = out else {
///             return Err(Error::ShapeMismatch { what: "out", expected: 1, got: out.len() });
///         };
///         *o = rng::standard_normal(rng) as f32;
///         Ok(())
///     }
/// }
///
/// let mut g = [0.0];
/// assert_eq!(grad_checked(&StdNormal, &[2.0], &mut g)?, -2.0);
/// assert_eq!(g, [-2.0]);
/// assert_eq!(StdNormal.log_density(&[f32::NAN]), f32::NEG_INFINITY);
/// assert!(grad_checked(&StdNormal, &[1.0, 2.0], &mut g).is_err()); // checked lengths
/// # Ok::<(), Error>(())
/// ```
pub trait LogDensity {
    /// The dimension `d` of the space (`x.len()` must equal it).
    fn dim(&self) -> usize;

    /// Unnormalised log density; `-inf` outside the support, never NaN for finite `x`.
    ///
    /// `x.len() == self.dim()` is the caller's responsibility (`debug_assert!`ed); see
    /// [`log_density_checked`] for the checked form.
    fn log_density(&self, x: &[f32]) -> f32;

    /// Writes `∇ₓ log p̃(x)` into `grad` (length `dim`, overwritten, not accumulated) and
    /// returns the log density.
    ///
    /// `x.len() == grad.len() == self.dim()` is the caller's responsibility
    /// (`debug_assert!`ed); see [`grad_checked`] for the checked form. Every entry written to
    /// `grad` is finite.
    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32;

    /// Known log normalising constant `log Z = log ∫ p̃(x) dx`, if any (`None` when unknown).
    fn log_z(&self) -> Option<f64>;

    /// Whether [`LogDensity::sample`] draws exact samples (default `false`).
    fn has_sampler(&self) -> bool {
        false
    }

    /// Writes one exact sample from `p = p̃ / Z` into `out` (length `dim`).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the target has no exact sampler;
    /// [`Error::ShapeMismatch`] when `out.len() != dim`; implementations with a bounded
    /// rejection loop may return [`Error::NotConverged`] (documented on the type).
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error>;
}

/// [`LogDensity::log_density`] with the length of `x` checked.
///
/// # Errors
/// [`Error::ShapeMismatch`] (`"x"`) when `x.len() != target.dim()`.
pub fn log_density_checked<T: LogDensity + ?Sized>(target: &T, x: &[f32]) -> Result<f32, Error> {
    check_len("x", target.dim(), x.len())?;
    Ok(target.log_density(x))
}

/// [`LogDensity::log_density_grad`] with the lengths of `x` and `grad` checked.
///
/// # Errors
/// [`Error::ShapeMismatch`] (`"x"` or `"grad"`) when a length differs from `target.dim()`.
pub fn grad_checked<T: LogDensity + ?Sized>(
    target: &T,
    x: &[f32],
    grad: &mut [f32],
) -> Result<f32, Error> {
    check_len("x", target.dim(), x.len())?;
    check_len("grad", target.dim(), grad.len())?;
    Ok(target.log_density_grad(x, grad))
}

/// Checks a row-major `[n, dim]` batch against `n` rows.
fn check_batch(what: &'static str, dim: usize, n: usize, got: usize) -> Result<(), Error> {
    let expected = n.checked_mul(dim).ok_or(Error::CapacityExceeded {
        what,
        capacity: usize::MAX,
    })?;
    check_len(what, expected, got)
}

/// Log densities of a row-major batch: `out[i] = log p̃(xs[i·d .. (i+1)·d])`, with
/// `n = out.len()` rows and `d = target.dim()`.
///
/// # Errors
/// [`Error::ShapeMismatch`] (`"xs"`) when `xs.len() != n·d`.
pub fn log_density_batch<T: LogDensity + ?Sized>(
    target: &T,
    xs: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    let d = target.dim();
    check_batch("xs", d, out.len(), xs.len())?;
    for (row, o) in xs.chunks_exact(d).zip(out.iter_mut()) {
        *o = target.log_density(row);
    }
    Ok(())
}

/// Log densities and gradients of a row-major batch: for each of the `n = out.len()` rows,
/// `grads[i·d .. (i+1)·d] = ∇ log p̃(xs[i·d .. (i+1)·d])` and `out[i] = log p̃(…)`.
///
/// # Errors
/// [`Error::ShapeMismatch`] (`"xs"` or `"grads"`) when a length differs from `n·d`.
pub fn grad_batch<T: LogDensity + ?Sized>(
    target: &T,
    xs: &[f32],
    grads: &mut [f32],
    out: &mut [f32],
) -> Result<(), Error> {
    let d = target.dim();
    check_batch("xs", d, out.len(), xs.len())?;
    check_batch("grads", d, out.len(), grads.len())?;
    for ((row, g), o) in xs
        .chunks_exact(d)
        .zip(grads.chunks_exact_mut(d))
        .zip(out.iter_mut())
    {
        *o = target.log_density_grad(row, g);
    }
    Ok(())
}

/// Fills a row-major `[n, dim]` buffer with `n = out.len() / dim` exact samples.
///
/// # Errors
/// [`Error::ShapeMismatch`] (`"out"`) when `out.len()` is not a multiple of `dim`;
/// otherwise whatever [`LogDensity::sample`] returns for the first failing row
/// ([`Error::Unsupported`] for targets without a sampler).
pub fn sample_batch<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    target: &T,
    rng: &mut R,
    out: &mut [f32],
) -> Result<(), Error> {
    let d = target.dim();
    if d == 0 || !out.len().is_multiple_of(d) {
        return Err(Error::ShapeMismatch {
            what: "out",
            expected: (out.len() / d.max(1)) * d,
            got: out.len(),
        });
    }
    for row in out.chunks_exact_mut(d) {
        target.sample(rng, row)?;
    }
    Ok(())
}

/// Clips every coordinate of `x` to `[−bound, bound]`; NaN stays NaN. How the RSMC code bounds
/// its ground-truth samples ([`Funnel::clip_to_bounds`]).
pub fn clip_coordinates(x: &mut [f32], bound: f32) {
    for v in x.iter_mut() {
        if *v > bound {
            *v = bound;
        } else if *v < -bound {
            *v = -bound;
        }
    }
}

/// Whether every coordinate is finite (neither NaN nor ±∞).
#[inline]
pub(crate) fn all_finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// The shared exit of every `log_density`: NaN becomes `-inf`.
#[inline]
pub(crate) fn finish_lp(lp: f64) -> f32 {
    if lp.is_nan() {
        f32::NEG_INFINITY
    } else {
        lp as f32
    }
}

/// The frame of every target's `log_density`: `-inf` for a non-finite `x` (the points
/// where `lp` is not evaluated), else `lp()` through [`finish_lp`]. `x.len() == dim` is
/// `debug_assert`ed.
#[inline]
pub(crate) fn guarded(x: &[f32], dim: usize, lp: impl FnOnce() -> f64) -> f32 {
    debug_assert_eq!(x.len(), dim);
    if !all_finite(x) {
        return f32::NEG_INFINITY;
    }
    finish_lp(lp())
}

/// The frame of every target's `log_density_grad`: for a non-finite `x` a zero gradient
/// and `-inf` ([`outside`]), else `lp_grad(grad)`, which writes the gradient and returns
/// `log p̃` (through [`finish_lp`]). Both lengths are `debug_assert`ed to be `dim`.
#[inline]
pub(crate) fn guarded_grad(
    x: &[f32],
    grad: &mut [f32],
    dim: usize,
    lp_grad: impl FnOnce(&mut [f32]) -> f64,
) -> f32 {
    debug_assert_eq!(x.len(), dim);
    debug_assert_eq!(grad.len(), dim);
    if !all_finite(x) {
        return outside(grad);
    }
    finish_lp(lp_grad(grad))
}

/// Converts one `f64` gradient entry to a finite `f32`: NaN ↦ 0, overflow ↦ `±f32::MAX`.
#[inline]
pub(crate) fn finite_grad(g: f64) -> f32 {
    if g.is_nan() {
        0.0
    } else if g > f32::MAX as f64 {
        f32::MAX
    } else if g < -(f32::MAX as f64) {
        -f32::MAX
    } else {
        g as f32
    }
}

/// The policy for a non-finite input: zero gradient, log density `-inf`.
#[inline]
pub(crate) fn outside(grad: &mut [f32]) -> f32 {
    grad.iter_mut().for_each(|g| *g = 0.0);
    f32::NEG_INFINITY
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared test helpers: finite differences, quadrature, moments.
    extern crate std;
    use super::LogDensity;
    use std::vec;
    use std::vec::Vec;

    /// Central-difference check of `log_density_grad` at `x`.
    ///
    /// The step is taken in `f32` (the actual step `x+h - (x-h)` after rounding is used) and
    /// the tolerance is `rtol·|g| + atol`.
    pub fn check_grad<T: LogDensity>(t: &T, x: &[f32], h: f32, rtol: f64, atol: f64) {
        let d = t.dim();
        let mut g = vec![0.0f32; d];
        let lp = t.log_density_grad(x, &mut g);
        let lp2 = t.log_density(x);
        assert_eq!(lp, lp2, "log_density and log_density_grad disagree");
        assert!(lp.is_finite(), "log density not finite at {x:?}");
        let mut xp: Vec<f32> = x.to_vec();
        for i in 0..d {
            let xi = x[i];
            xp[i] = xi + h;
            let up = xp[i];
            let fp = t.log_density(&xp) as f64;
            xp[i] = xi - h;
            let lo = xp[i];
            let fm = t.log_density(&xp) as f64;
            xp[i] = xi;
            let fd = (fp - fm) / (up as f64 - lo as f64);
            let gi = g[i] as f64;
            assert!(
                (gi - fd).abs() <= rtol * gi.abs().max(fd.abs()) + atol,
                "grad[{i}] = {gi}, finite difference {fd}, at x = {x:?}"
            );
        }
    }

    /// Composite Simpson weights on `n` (odd) equally spaced nodes over `[a, b]`.
    pub fn simpson(a: f64, b: f64, n: usize) -> Vec<(f64, f64)> {
        assert!(n % 2 == 1 && n >= 3);
        let h = (b - a) / (n - 1) as f64;
        (0..n)
            .map(|i| {
                let w = if i == 0 || i == n - 1 {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                (a + i as f64 * h, w * h / 3.0)
            })
            .collect()
    }

    /// `log ∫∫ exp(log p̃)` over a 2-D box by tensor Simpson (shifting by a reference value).
    pub fn log_integral_2d<T: LogDensity>(t: &T, lo: f64, hi: f64, n: usize) -> f64 {
        let nodes = simpson(lo, hi, n);
        let mut vals = Vec::with_capacity(n * n);
        let mut m = f64::NEG_INFINITY;
        for &(x, wx) in &nodes {
            for &(y, wy) in &nodes {
                let lp = t.log_density(&[x as f32, y as f32]) as f64;
                m = m.max(lp);
                vals.push((lp, wx * wy));
            }
        }
        m + vals
            .iter()
            .map(|&(lp, w)| w * (lp - m).exp())
            .sum::<f64>()
            .ln()
    }

    /// Mean and variance (divisor n) of column `j` of a row-major sample matrix.
    pub fn column_moments(xs: &[f32], d: usize, j: usize) -> (f64, f64) {
        let n = xs.len() / d;
        let mean = xs.chunks_exact(d).map(|r| r[j] as f64).sum::<f64>() / n as f64;
        let var = xs
            .chunks_exact(d)
            .map(|r| (r[j] as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        (mean, var)
    }

    /// Asserts sample mean and variance against analytic values within 5 standard errors
    /// (`se(mean) = √(var/n)`, `se(var) = √((μ₄ − var²)/n)` with the true fourth central
    /// moment `mu4`).
    pub fn assert_moments(name: &str, got: (f64, f64), mean: f64, var: f64, mu4: f64, n: usize) {
        let n = n as f64;
        let se_m = (var / n).sqrt();
        let se_v = ((mu4 - var * var) / n).sqrt();
        assert!(
            (got.0 - mean).abs() < 5.0 * se_m,
            "{name}: mean {} vs {mean} (se {se_m})",
            got.0
        );
        assert!(
            (got.1 - var).abs() < 5.0 * se_v,
            "{name}: var {} vs {var} (se {se_v})",
            got.1
        );
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn checked_helpers_report_shapes() {
        let t = Gaussian::new(3, 0.0, 1.0).unwrap();
        assert_eq!(
            log_density_checked(&t, &[0.0; 2]),
            Err(Error::ShapeMismatch {
                what: "x",
                expected: 3,
                got: 2
            })
        );
        let mut g = [0.0f32; 4];
        assert!(matches!(
            grad_checked(&t, &[0.0; 3], &mut g),
            Err(Error::ShapeMismatch { what: "grad", .. })
        ));
        let lp = log_density_checked(&t, &[0.0; 3]).unwrap();
        assert!((lp as f64 + 1.5 * crate::math::LN_2PI).abs() < 1e-6);
        let mut g = [9.0f32; 3];
        assert_eq!(
            grad_checked(&t, &[1.0, 0.0, -2.0], &mut g),
            Ok(t.log_density(&[1.0, 0.0, -2.0]))
        );
        assert_eq!(g, [-1.0, 0.0, 2.0]);
    }

    #[test]
    fn batch_helpers_match_single_calls() {
        let t = Target::from_name("25gmm", None).unwrap();
        let mut rng = seeded(5);
        let mut xs = [0.0f32; 2 * 7];
        sample_batch(&t, &mut rng, &mut xs).unwrap();
        let mut out = [0.0f32; 7];
        log_density_batch(&t, &xs, &mut out).unwrap();
        let mut grads = [0.0f32; 14];
        let mut out2 = [0.0f32; 7];
        grad_batch(&t, &xs, &mut grads, &mut out2).unwrap();
        for i in 0..7 {
            let row = &xs[2 * i..2 * i + 2];
            assert_eq!(out[i], t.log_density(row));
            assert_eq!(out2[i], out[i]);
            let mut g = [0.0f32; 2];
            t.log_density_grad(row, &mut g);
            assert_eq!(&grads[2 * i..2 * i + 2], &g);
        }
        assert!(matches!(
            log_density_batch(&t, &xs[..13], &mut out),
            Err(Error::ShapeMismatch {
                what: "xs",
                expected: 14,
                got: 13
            })
        ));
        assert!(matches!(
            grad_batch(&t, &xs, &mut grads[..12], &mut out2),
            Err(Error::ShapeMismatch { what: "grads", .. })
        ));
        assert!(matches!(
            sample_batch(&t, &mut rng, &mut xs[..13]),
            Err(Error::ShapeMismatch { what: "out", .. })
        ));
        let dw = Target::from_name("dw4", None).unwrap();
        let mut buf = [0.0f32; 16];
        assert!(matches!(
            sample_batch(&dw, &mut rng, &mut buf),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn finishing_policy() {
        assert_eq!(finish_lp(f64::NAN), f32::NEG_INFINITY);
        assert_eq!(finish_lp(-1.5), -1.5);
        assert_eq!(finite_grad(f64::NAN), 0.0);
        assert_eq!(finite_grad(f64::INFINITY), f32::MAX);
        assert_eq!(finite_grad(-1e300), -f32::MAX);
        assert_eq!(finite_grad(2.5), 2.5);
        assert!(all_finite(&[0.0, 1.0]));
        assert!(!all_finite(&[0.0, f32::NAN]));
        assert!(!all_finite(&[f32::NEG_INFINITY]));
    }

    /// Every registered target obeys the non-finite-input policy and never returns NaN.
    #[test]
    fn non_finite_inputs_give_neg_inf_and_zero_gradient() {
        for info in TARGETS {
            let t = Target::from_name(info.name, None).unwrap();
            let d = t.dim();
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for pos in [0, d - 1] {
                    let mut x = [0.5f32; 64];
                    x[pos] = bad;
                    let x = &x[..d];
                    let mut g = [7.0f32; 64];
                    let lp = t.log_density_grad(x, &mut g[..d]);
                    assert_eq!(lp, f32::NEG_INFINITY, "{}", info.name);
                    assert_eq!(t.log_density(x), f32::NEG_INFINITY, "{}", info.name);
                    assert!(g[..d].iter().all(|&v| v == 0.0), "{}", info.name);
                }
            }
            // huge but finite inputs: never NaN, gradient finite
            for big in [1e30f32, -1e30, 3e38, -3e38, 1e-30] {
                let x = [big; 64];
                let mut g = [0.0f32; 64];
                let lp = t.log_density_grad(&x[..d], &mut g[..d]);
                assert!(!lp.is_nan(), "{} at {big}", info.name);
                assert!(!t.log_density(&x[..d]).is_nan(), "{} at {big}", info.name);
                assert!(
                    g[..d].iter().all(|v| v.is_finite()),
                    "{} at {big}: {:?}",
                    info.name,
                    &g[..d]
                );
            }
        }
    }
}
