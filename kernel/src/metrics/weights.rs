//! Log-weight normalisation and the effective sample size.
//!
//! Importance weights are carried as log-weights `ℓᵢ = log wᵢ` in `f32`; every reduction here
//! accumulates in `f64` after subtracting the maximum, so magnitudes up to `±1e30` (finite)
//! neither overflow nor underflow (Reinforced SMC, Choi et al. 2025, §1.2: `log_softmax` of
//! the particle log-weights after every chunk, ESS/N = 1 / (N Σ softmax(ℓ)²)).
//!
//! ## Policy for non-finite log-weights (shared by the whole [`metrics`](super) module)
//! - **NaN counts as `-inf`**: a particle whose log-density is NaN gets zero weight.
//! - **`-inf`** is an ordinary zero weight.
//! - **`+inf`** is rejected with [`Error::NonFinite`]: an infinite weight has no normalised
//!   meaning (it would take all the mass, and every other weight would be `0/inf`).
//! - An **empty** slice, or one whose entries are all `-inf`/NaN, has no mass:
//!   [`Error::Degenerate`].

use crate::error::{Error, check_len};
use crate::math;

/// A log-weight as `f64` with NaN mapped to `-inf` (the module's NaN policy).
#[inline]
pub(crate) fn clean(x: f32) -> f64 {
    if x.is_nan() {
        f64::NEG_INFINITY
    } else {
        x as f64
    }
}

/// The maximum cleaned log-weight, validated: finite, so that `ℓ − max` is safe.
///
/// # Errors
/// [`Error::Degenerate`] for an empty slice or no mass; [`Error::NonFinite`] for `+inf`.
pub(crate) fn checked_max(log_w: &[f32]) -> Result<f64, Error> {
    if log_w.is_empty() {
        return Err(Error::Degenerate("empty log-weight slice"));
    }
    let mut m = f64::NEG_INFINITY;
    for &x in log_w {
        let x = clean(x);
        if x == f64::INFINITY {
            return Err(Error::NonFinite("log-weight is +inf"));
        }
        if x > m {
            m = x;
        }
    }
    if m == f64::NEG_INFINITY {
        return Err(Error::Degenerate("all log-weights are -inf or NaN"));
    }
    Ok(m)
}

/// `(Σᵢ e^{ℓᵢ − max}, Σᵢ e^{2(ℓᵢ − max)})` in `f64`, NaN as `-inf`.
fn shifted_sums(log_w: &[f32], max: f64) -> (f64, f64) {
    let mut s1 = 0.0f64;
    let mut s2 = 0.0f64;
    for &x in log_w {
        let e = math::exp(clean(x) - max);
        s1 += e;
        s2 += e * e;
    }
    (s1, s2)
}

/// Writes the normalised weights `wᵢ / Σⱼ wⱼ = exp(ℓᵢ − log Σⱼ e^{ℓⱼ})` into `out` (they sum to
/// 1 up to `f32` rounding) and returns `log Σⱼ wⱼ` in `f64`.
///
/// Computed as `e^{ℓᵢ − max} / Σⱼ e^{ℓⱼ − max}` with the sum in `f64`. NaN entries get weight 0
/// (see the [module policy](self)).
///
/// # Errors
/// - [`Error::ShapeMismatch`] if `out.len() != log_w.len()`;
/// - [`Error::Degenerate`] if `log_w` is empty or all `-inf`/NaN;
/// - [`Error::NonFinite`] if any entry is `+inf`.
pub fn normalize_log_weights(log_w: &[f32], out: &mut [f32]) -> Result<f64, Error> {
    check_len("out", log_w.len(), out.len())?;
    let max = checked_max(log_w)?;
    let (s1, _) = shifted_sums(log_w, max);
    let inv = 1.0 / s1;
    for (o, &x) in out.iter_mut().zip(log_w) {
        *o = (math::exp(clean(x) - max) * inv) as f32;
    }
    Ok(max + math::ln(s1))
}

/// Log-softmax in place: `ℓᵢ ← ℓᵢ − log Σⱼ e^{ℓⱼ}`; returns `log Σⱼ e^{ℓⱼ}` in `f64`.
///
/// Computed as `(ℓᵢ − max) − ln Σⱼ e^{ℓⱼ − max}`, so the result stays accurate when `|max|`
/// is huge (e.g. `1e30`) and `max + ln Σ` would round away the `ln Σ` part.
///
/// Afterwards `Σᵢ e^{ℓᵢ} = 1`. NaN entries become `-inf` (zero weight, the
/// [module policy](self)); `-inf` entries stay `-inf`.
///
/// # Errors
/// - [`Error::Degenerate`] if `log_w` is empty or all `-inf`/NaN;
/// - [`Error::NonFinite`] if any entry is `+inf`.
///
/// The slice is left unchanged on error.
pub fn log_normalize_in_place(log_w: &mut [f32]) -> Result<f64, Error> {
    let max = checked_max(log_w)?;
    let (s1, _) = shifted_sums(log_w, max);
    let ln_s = math::ln(s1);
    // (ℓ − max) − ln s rather than ℓ − (max + ln s): exact even when |max| ≫ ln s.
    for x in log_w.iter_mut() {
        *x = ((clean(*x) - max) - ln_s) as f32;
    }
    Ok(max + ln_s)
}

/// The effective sample size `ESS = (Σᵢ wᵢ)² / Σᵢ wᵢ²` of unnormalised log-weights, in
/// `[1, N]` (Kong 1992; Reinforced SMC §1.2 and §5, "reverse ESS").
///
/// Computed from `e^{ℓᵢ − max}` in `f64`; the result is clamped to `[1, N]` against rounding.
/// NaN entries count as zero weight (the [module policy](self)).
///
/// # Example
///
/// Weights `(1, 1, 2)`, any common scale: `ESS = 4² / (1 + 1 + 4) = 8/3`.
///
/// ```
/// use amortise_kernel::metrics::weights::ess;
///
/// let log_w = [10.0, 10.0, 10.0 + 2f32.ln()];
/// assert!((ess(&log_w)? - 8.0 / 3.0).abs() < 1e-6);
/// assert_eq!(ess(&[0.0, f32::NEG_INFINITY, f32::NAN])?, 1.0); // one particle carries it all
/// # Ok::<(), amortise_kernel::Error>(())
/// ```
///
/// # Errors
/// - [`Error::Degenerate`] if `log_w` is empty or all `-inf`/NaN;
/// - [`Error::NonFinite`] if any entry is `+inf`.
pub fn ess(log_w: &[f32]) -> Result<f64, Error> {
    let max = checked_max(log_w)?;
    let (s1, s2) = shifted_sums(log_w, max);
    let e = s1 * s1 / s2;
    let n = log_w.len() as f64;
    Ok(if e < 1.0 {
        1.0
    } else if e > n {
        n
    } else {
        e
    })
}

/// The normalised effective sample size `ESS / N ∈ [1/N, 1]` (the quantity compared with the
/// resampling threshold 0.2 in Reinforced SMC §1.2).
///
/// # Errors
/// As [`ess`].
pub fn ess_fraction(log_w: &[f32]) -> Result<f64, Error> {
    Ok(ess(log_w)? / log_w.len() as f64)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn ess_of_equal_weights_is_n() {
        let lw = [3.5f32; 7];
        assert!((ess(&lw).unwrap() - 7.0).abs() < 1e-12);
        assert!((ess_fraction(&lw).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ess_of_one_hot_is_one() {
        let lw = [f32::NEG_INFINITY, 2.0, f32::NEG_INFINITY, f32::NAN];
        assert_eq!(ess(&lw).unwrap(), 1.0);
        assert_eq!(ess_fraction(&lw).unwrap(), 0.25);
    }

    #[test]
    fn ess_hand_example() {
        // w = (1, 2, 3): (6)² / (1 + 4 + 9) = 36/14.
        let lw = [0.0f32, math::ln(2.0f32), math::ln(3.0f32)];
        assert!((ess(&lw).unwrap() - 36.0 / 14.0).abs() < 1e-6);
        // Shift invariance with huge finite magnitudes.
        let big = [1e30f32, 1e30, -1e30];
        assert!((ess(&big).unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn normalisation_sums_to_one_and_returns_log_sum() {
        let lw = [
            0.0f32,
            math::ln(2.0f32),
            math::ln(3.0f32),
            f32::NEG_INFINITY,
        ];
        let mut out = [0.0f32; 4];
        let lse = normalize_log_weights(&lw, &mut out).unwrap();
        assert!((lse - math::ln(6.0f64)).abs() < 1e-6);
        let expect = [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, 0.0];
        for (o, e) in out.iter().zip(expect) {
            assert!((o - e).abs() < 1e-6, "{o} vs {e}");
        }
        assert!((out.iter().map(|&x| x as f64).sum::<f64>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn nan_counts_as_zero_weight() {
        let lw = [f32::NAN, 1.0, f32::NEG_INFINITY, 1.0];
        let mut out = [9.0f32; 4];
        let lse = normalize_log_weights(&lw, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.5, 0.0, 0.5]);
        assert!((lse - (1.0 + core::f64::consts::LN_2)).abs() < 1e-12);
        let mut lw2 = lw;
        let lse2 = log_normalize_in_place(&mut lw2).unwrap();
        assert_eq!(lse, lse2);
        assert_eq!(lw2[0], f32::NEG_INFINITY);
        assert_eq!(lw2[2], f32::NEG_INFINITY);
        assert!((lw2[1] + core::f32::consts::LN_2).abs() < 1e-7);
    }

    #[test]
    fn huge_magnitudes_do_not_overflow() {
        let lw = [1e30f32, 1e30, -1e30, 1e30 - 1e24];
        let mut out = [0.0f32; 4];
        let lse = normalize_log_weights(&lw, &mut out).unwrap();
        assert_eq!(out, [0.5, 0.5, 0.0, 0.0]);
        assert!((lse - (1e30f32 as f64 + core::f64::consts::LN_2)).abs() < 1e-3);
        let mut lw2 = [-1e30f32, -1e30];
        let lse = log_normalize_in_place(&mut lw2).unwrap();
        assert!((lse - (-1e30f32 as f64 + core::f64::consts::LN_2)).abs() < 1e-3);
        assert!((lw2[0] + core::f32::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn log_softmax_exponentiates_to_one() {
        let mut lw = [-3.0f32, 0.5, 2.0, -0.25, 7.0];
        log_normalize_in_place(&mut lw).unwrap();
        let s: f64 = lw.iter().map(|&x| math::exp(x as f64)).sum();
        assert!((s - 1.0).abs() < 1e-6);
    }

    #[test]
    fn degenerate_and_non_finite_inputs() {
        let empty: [f32; 0] = [];
        assert!(matches!(ess(&empty), Err(Error::Degenerate(_))));
        assert!(matches!(ess_fraction(&empty), Err(Error::Degenerate(_))));
        let dead = [f32::NEG_INFINITY, f32::NAN];
        assert!(matches!(ess(&dead), Err(Error::Degenerate(_))));
        let mut out = [0.0f32; 2];
        assert!(matches!(
            normalize_log_weights(&dead, &mut out),
            Err(Error::Degenerate(_))
        ));
        let mut dead2 = dead;
        assert!(matches!(
            log_normalize_in_place(&mut dead2),
            Err(Error::Degenerate(_))
        ));
        assert!(dead2[1].is_nan(), "unchanged on error");
        let inf = [0.0f32, f32::INFINITY];
        assert!(matches!(ess(&inf), Err(Error::NonFinite(_))));
        assert!(matches!(
            normalize_log_weights(&inf, &mut out),
            Err(Error::NonFinite(_))
        ));
        let mut short = [0.0f32; 1];
        assert!(matches!(
            normalize_log_weights(&inf, &mut short),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn ess_is_within_one_and_n() {
        let mut rng = crate::rng::seeded(3);
        let mut lw = [0.0f32; 64];
        for _ in 0..20 {
            crate::rng::fill_standard_normal(&mut rng, &mut lw);
            for x in lw.iter_mut() {
                *x *= 5.0;
            }
            let e = ess(&lw).unwrap();
            assert!((1.0..=64.0).contains(&e));
        }
    }
}
