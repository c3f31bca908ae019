//! Adaptive weight tempering: choose `λ ∈ (0, 1]` so that the tempered weights `w^λ` keep a
//! target effective sample size.
//!
//! RSMC (Choi et al. 2025, arXiv 2510.11711, "adaptive weight tempering"; `rsmc.md` §1.2
//! step 5 and §1.4) resamples with `w^λ` instead of `w` when the weights are too uneven,
//! and carries the residual `w^{1-λ}` forward, which keeps the particle system consistent
//! while reducing the variance of the training signal. The same rule tempers the whole
//! replay buffer before drawing from it.
//!
//! Rule (from the authors' JAX code): with `ℓ` the log-weights and `γ` the target ESS
//! fraction, if `ESS(ℓ)/N ≥ γ` then `λ = 1`. Otherwise find a temperature `τ > 1`
//! (`λ = 1/τ`) such that `ESS(ℓ/τ)/N ≈ γ`: bracket `[1, 10]`, multiplying both ends by 10
//! while `ESS(ℓ/τ_hi)/N < γ`; then bisect (`τ_mid` with `ESS > γ` becomes the new upper
//! end) until `|ESS/N − γ| < tolerance` or the iteration cap. `ESS(ℓ/τ)` increases
//! monotonically in `τ`, so the bisection is well posed.
//!
//! Termination is guaranteed: the bracket grows at most [`MAX_DECADES`] times (as `τ → ∞`
//! the ESS tends to `N_finite²/(N·N_finite)`, which may stay below `γ` when many weights are
//! `-inf`; then the largest bracket end is returned with `converged = false`), and the
//! bisection runs at most `max_iterations` steps.

use crate::error::Error;
use crate::math;

/// The largest number of ×10 bracket expansions (τ up to 10^40).
pub const MAX_DECADES: u32 = 40;

/// Tempering settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Target ESS fraction `γ ∈ (0, 1]`. Defaults to `0.05` (`smc.target_ess`, RSMC).
    pub target_ess: f64,
    /// Absolute tolerance on `ESS/N`. Defaults to `1e-3` (RSMC JAX code).
    pub tolerance: f64,
    /// Bisection iteration cap. Defaults to `1000` (RSMC JAX code).
    pub max_iterations: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target_ess: 0.05,
            tolerance: 1e-3,
            max_iterations: 1000,
        }
    }
}

/// What [`tempering_exponent`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Info {
    /// The exponent `λ = 1/τ ∈ (0, 1]` to apply to the weights.
    pub lambda: f64,
    /// `ESS(λ·ℓ)/N` at the returned `λ`.
    pub ess_fraction: f64,
    /// `ESS(ℓ)/N` before tempering.
    pub ess_fraction_untempered: f64,
    /// Bracket expansions plus bisection steps used.
    pub iterations: u32,
    /// `false` if the cap was hit before the tolerance.
    pub converged: bool,
}

/// `ESS(λ·ℓ)/N = (Σ e^{λℓᵢ})² / (N Σ e^{2λℓᵢ})`, in `f64` with the max trick. NaN
/// log-weights count as `-inf`.
///
/// # Errors
/// [`Error::Degenerate`] if `log_w` is empty or has no finite entry; [`Error::NonFinite`]
/// if an entry is `+inf`.
pub fn ess_fraction_tempered(log_w: &[f32], lambda: f64) -> Result<f64, Error> {
    let m = finite_max(log_w)?;
    let mut s1 = 0.0f64;
    let mut s2 = 0.0f64;
    for &l in log_w {
        if l > f32::NEG_INFINITY {
            let e = math::exp(lambda * (l as f64 - m));
            s1 += e;
            s2 += e * e;
        }
    }
    Ok(s1 * s1 / (s2 * log_w.len() as f64))
}

fn finite_max(log_w: &[f32]) -> Result<f64, Error> {
    let mut m = f32::NEG_INFINITY;
    for &l in log_w {
        if l == f32::INFINITY {
            return Err(Error::NonFinite("log-weight is +inf"));
        }
        if l > m {
            m = l; // NaN never compares greater
        }
    }
    if m == f32::NEG_INFINITY {
        Err(Error::Degenerate("no finite log-weight"))
    } else {
        Ok(m as f64)
    }
}

/// Finds the tempering exponent `λ` for log-weights `log_w` (see the module doc).
///
/// # Errors
/// [`Error::InvalidConfig`] for `target_ess ∉ (0, 1]` or a non-positive tolerance;
/// otherwise as [`ess_fraction_tempered`].
pub fn tempering_exponent(cfg: &Config, log_w: &[f32]) -> Result<Info, Error> {
    if !(cfg.target_ess > 0.0 && cfg.target_ess <= 1.0) {
        return Err(Error::InvalidConfig("target_ess must be in (0, 1]"));
    }
    if !(cfg.tolerance > 0.0) {
        return Err(Error::InvalidConfig("tempering tolerance must be > 0"));
    }
    let gamma = cfg.target_ess;
    let ess0 = ess_fraction_tempered(log_w, 1.0)?;
    if ess0 >= gamma {
        return Ok(Info {
            lambda: 1.0,
            ess_fraction: ess0,
            ess_fraction_untempered: ess0,
            iterations: 0,
            converged: true,
        });
    }
    let ess_at = |tau: f64| ess_fraction_tempered(log_w, 1.0 / tau);
    let (mut lo, mut hi) = (1.0f64, 10.0f64);
    let mut iterations = 0u32;
    let mut ess_hi = ess_at(hi)?;
    while ess_hi < gamma {
        if iterations >= MAX_DECADES {
            return Ok(Info {
                lambda: 1.0 / hi,
                ess_fraction: ess_hi,
                ess_fraction_untempered: ess0,
                iterations,
                converged: false,
            });
        }
        lo = hi;
        hi *= 10.0;
        ess_hi = ess_at(hi)?;
        iterations += 1;
    }
    let mut best = (hi, ess_hi);
    for _ in 0..cfg.max_iterations {
        if (best.1 - gamma).abs() < cfg.tolerance {
            return Ok(Info {
                lambda: 1.0 / best.0,
                ess_fraction: best.1,
                ess_fraction_untempered: ess0,
                iterations,
                converged: true,
            });
        }
        let mid = 0.5 * (lo + hi);
        let e = ess_at(mid)?;
        iterations += 1;
        if e > gamma {
            hi = mid;
        } else {
            lo = mid;
        }
        best = (mid, e);
    }
    let converged = (best.1 - gamma).abs() < cfg.tolerance;
    Ok(Info {
        lambda: 1.0 / best.0,
        ess_fraction: best.1,
        ess_fraction_untempered: ess0,
        iterations,
        converged,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{self, standard_normal};
    use std::vec::Vec;

    #[test]
    fn ess_known_values() {
        assert!((ess_fraction_tempered(&[0.0; 10], 1.0).unwrap() - 1.0).abs() < 1e-12);
        let one_hot = [0.0f32, f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NAN];
        assert!((ess_fraction_tempered(&one_hot, 1.0).unwrap() - 0.25).abs() < 1e-12);
        // weights 1, 2, 3, 4: (10)^2 / (4 * 30)
        let lw: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].iter().map(|w| w.ln()).collect();
        assert!((ess_fraction_tempered(&lw, 1.0).unwrap() - 100.0 / 120.0).abs() < 1e-6);
        // λ = 0 makes the finite weights uniform
        assert!((ess_fraction_tempered(&lw, 0.0).unwrap() - 1.0).abs() < 1e-12);
        assert!(matches!(
            ess_fraction_tempered(&[], 1.0),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            ess_fraction_tempered(&[0.0, f32::INFINITY], 1.0),
            Err(Error::NonFinite(_))
        ));
    }

    #[test]
    fn hits_the_target_ess() {
        let mut r = rng::seeded(5);
        for scale in [5.0f64, 20.0, 200.0, 5000.0] {
            let lw: Vec<f32> = (0..2000)
                .map(|_| (scale * standard_normal(&mut r)) as f32)
                .collect();
            let cfg = Config::default();
            let info = tempering_exponent(&cfg, &lw).unwrap();
            assert!(info.converged, "scale {scale}: {info:?}");
            assert!(info.lambda > 0.0 && info.lambda < 1.0);
            assert!((info.ess_fraction - 0.05).abs() < 1e-3, "{info:?}");
            let check = ess_fraction_tempered(&lw, info.lambda).unwrap();
            assert!((check - info.ess_fraction).abs() < 1e-12);
            assert!(info.ess_fraction_untempered < 0.05);
        }
    }

    #[test]
    fn no_tempering_when_ess_is_already_high() {
        let lw = [0.0f32, 0.1, -0.1, 0.05];
        let info = tempering_exponent(&Config::default(), &lw).unwrap();
        assert_eq!(info.lambda, 1.0);
        assert_eq!(info.iterations, 0);
    }

    #[test]
    fn unreachable_target_terminates() {
        // 1 finite weight among 100: ESS/N <= 0.01 < 0.05 for every λ.
        let mut lw = [f32::NEG_INFINITY; 100];
        lw[7] = 3.0;
        let info = tempering_exponent(&Config::default(), &lw).unwrap();
        assert!(!info.converged);
        assert!(info.lambda > 0.0 && info.lambda <= 1.0);
        assert!(info.iterations <= MAX_DECADES);
        let bad = Config {
            target_ess: 0.0,
            ..Config::default()
        };
        assert!(matches!(
            tempering_exponent(&bad, &lw),
            Err(Error::InvalidConfig(_))
        ));
        let bad = Config {
            target_ess: f64::NAN,
            ..Config::default()
        };
        assert!(matches!(
            tempering_exponent(&bad, &lw),
            Err(Error::InvalidConfig(_))
        ));
    }
}
