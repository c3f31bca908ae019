//! Bounds and estimates of `log Z` from trajectory log importance weights.
//!
//! For a diffusion sampler with forward policy `p_F`, fixed backward kernel `p_B`, initial law
//! `p_0` and unnormalised target `R`, the log importance weight of a trajectory
//! `τ = (x_0, …, x_T)` is (Reinforced SMC, Choi et al. 2025, §5; adaptive teachers, Kim et al.
//! 2025, A4)
//!
//! ```text
//! log w(τ) = log R(x_T) + Σₙ log p_B(xₙ | xₙ₊₁) − log p_0(x_0) − Σₙ log p_F(xₙ₊₁ | xₙ).
//! ```
//!
//! - Over **forward** trajectories `τ ~ P_F`, `E[w] = Z`, so by Jensen `E[log w] ≤ log Z`:
//!   [`elbo`] is a lower bound (higher is better), and [`log_z_is`] = `log mean w` is a
//!   consistent estimate whose expectation is also `≤ log Z`, with
//!   `elbo ≤ log_z_is` for every sample (Jensen on the empirical mean).
//! - Over **backward** trajectories `τ ~ P_B` started from exact target samples `x_T ~ R/Z`,
//!   `E[log w] = log Z + KL(P_B ‖ P_F) ≥ log Z`: [`eubo`] is an upper bound in expectation
//!   (lower is better). `eubo − elbo` is the logged gap.
//!
//! NaN log-weights count as `-inf` (see [`weights`](super::weights)); `+inf` is
//! [`Error::NonFinite`]; an empty slice is [`Error::Degenerate`].

use super::weights::{checked_max, clean};
use crate::error::Error;
use crate::math;

/// Mean of the cleaned log-weights in `f64`; `-inf` if any entry is `-inf` or NaN.
fn mean_log_weight(log_w: &[f32]) -> Result<f64, Error> {
    if log_w.is_empty() {
        return Err(Error::Degenerate("empty log-weight slice"));
    }
    let mut s = 0.0f64;
    for &x in log_w {
        let x = clean(x);
        if x == f64::INFINITY {
            return Err(Error::NonFinite("log-weight is +inf"));
        }
        s += x;
    }
    Ok(s / log_w.len() as f64)
}

/// The evidence lower bound `ELBO = (1/N) Σᵢ log w(τᵢ)` over `N` **forward** trajectories
/// `τᵢ ~ P_F` (Reinforced SMC §5, "ELBO"; teachers A4 `log Z_lb`). `E[ELBO] ≤ log Z`.
///
/// A `-inf` (or NaN) entry makes the result `-inf`, a valid (vacuous) lower bound.
///
/// # Errors
/// [`Error::Degenerate`] for an empty slice; [`Error::NonFinite`] if an entry is `+inf`.
pub fn elbo(log_w: &[f32]) -> Result<f64, Error> {
    mean_log_weight(log_w)
}

/// The evidence upper bound `EUBO = (1/N) Σᵢ log w(τᵢ)` over `N` **backward** trajectories:
/// `x_T` an exact target sample, then `x_{T−1}, …, x_0` drawn from `p_B` (Reinforced SMC §5,
/// "EUBO"; teachers A4 `log Z_ub`). `E[EUBO] = log Z + KL(P_B ‖ P_F) ≥ log Z`.
///
/// The arithmetic is the same mean as [`elbo`]; only the trajectories differ.
///
/// # Errors
/// [`Error::Degenerate`] for an empty slice; [`Error::NonFinite`] if an entry is `+inf`.
pub fn eubo(log_w_backward: &[f32]) -> Result<f64, Error> {
    mean_log_weight(log_w_backward)
}

/// The importance-sampling estimate `log Ẑ = log((1/N) Σᵢ w(τᵢ))` (log-mean-exp) over forward
/// trajectories (Reinforced SMC §5, "logZ/reverse"; teachers A4 `log Ẑ`).
///
/// `Ẑ` is unbiased for `Z`, so `E[log Ẑ] ≤ log Z`, and `elbo(log_w) ≤ log_z_is(log_w)` for
/// every sample. Computed with the max trick in `f64`.
///
/// # Errors
/// [`Error::Degenerate`] for an empty slice or all `-inf`/NaN; [`Error::NonFinite`] if an
/// entry is `+inf`.
pub fn log_z_is(log_w: &[f32]) -> Result<f64, Error> {
    let max = checked_max(log_w)?;
    let mut s = 0.0f64;
    for &x in log_w {
        s += math::exp(clean(x) - max);
    }
    Ok(max + math::ln(s) - math::ln(log_w.len() as f64))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn constant_log_weights_give_equal_bounds() {
        let lw = [-2.5f32; 11];
        assert!((elbo(&lw).unwrap() + 2.5).abs() < 1e-12);
        assert!((eubo(&lw).unwrap() + 2.5).abs() < 1e-12);
        assert!((log_z_is(&lw).unwrap() + 2.5).abs() < 1e-12);
    }

    #[test]
    fn hand_example() {
        // log w = (0, ln 3): ELBO = ln3/2, IS = ln 2.
        let lw = [0.0f32, math::ln(3.0f32)];
        assert!((elbo(&lw).unwrap() - 0.5 * math::ln(3.0f64)).abs() < 1e-7);
        assert!((log_z_is(&lw).unwrap() - core::f64::consts::LN_2).abs() < 1e-7);
    }

    #[test]
    fn jensen_ordering() {
        let mut rng = crate::rng::seeded(11);
        let mut lw = [0.0f32; 100];
        for _ in 0..10 {
            crate::rng::fill_standard_normal(&mut rng, &mut lw);
            let e = elbo(&lw).unwrap();
            let z = log_z_is(&lw).unwrap();
            assert!(e <= z, "{e} > {z}");
            // Gaussian log-weights with variance 1: log E[w] = mean + 1/2, roughly.
            assert!(z - e > 0.2 && z - e < 0.9);
        }
    }

    #[test]
    fn non_finite_policy() {
        let lw = [0.0f32, f32::NAN];
        assert_eq!(elbo(&lw).unwrap(), f64::NEG_INFINITY);
        assert!((log_z_is(&lw).unwrap() + core::f64::consts::LN_2).abs() < 1e-12);
        assert!(matches!(log_z_is(&[f32::NAN]), Err(Error::Degenerate(_))));
        assert!(matches!(elbo(&[]), Err(Error::Degenerate(_))));
        assert!(matches!(
            eubo(&[1.0, f32::INFINITY]),
            Err(Error::NonFinite(_))
        ));
        assert!(matches!(
            log_z_is(&[1.0, f32::INFINITY]),
            Err(Error::NonFinite(_))
        ));
    }
}
