//! Resampling: ancestor indices from normalised weights and pre-drawn uniforms.
//!
//! Every scheme here is a deterministic function of its inputs (the weights and the
//! uniforms), so the caller decides where randomness comes from (STYLE habit 4). All three
//! are unbiased: the expected number of offspring of particle `i` is `M·wᵢ` for `M` draws.
//! They differ in variance: systematic < stratified < multinomial (Douc, Cappé & Moulines
//! 2005). RSMC uses systematic resampling both inside SMC and when drawing from the replay
//! buffer (Choi et al. 2025, arXiv 2510.11711, §3; `rsmc.md` §1.2 step 4 and §1.4).
//!
//! Inputs: `w` are non-negative weights (need not sum exactly to 1: the cumulative sum is
//! accumulated in `f64` and scaled by its own total, so `f32` normalisation error never
//! shifts an index). Outputs: `ancestors[k] ∈ [0, w.len())`, always an index of positive
//! weight, in non-decreasing order.

use crate::error::Error;
use crate::math;

/// A resampling scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scheme {
    /// One uniform `u`, points `(k + u)/M`. Lowest variance; the RSMC default.
    #[default]
    Systematic,
    /// One uniform per stratum, points `(k + u_k)/M`.
    Stratified,
    /// `M` independent draws from the weights (sorted via uniform spacings, O(N + M)).
    Multinomial,
}

impl Scheme {
    /// How many uniforms [`resample`] needs for `m` draws.
    pub const fn uniforms_needed(self, m: usize) -> usize {
        match self {
            Scheme::Systematic => 1,
            Scheme::Stratified | Scheme::Multinomial => m,
        }
    }
}

fn total_weight(w: &[f32]) -> Result<f64, Error> {
    let mut total = 0.0f64;
    for &x in w {
        if !(x >= 0.0) || x == f32::INFINITY {
            return Err(Error::NonFinite(
                "resampling weight must be finite and non-negative",
            ));
        }
        total += x as f64;
    }
    if total > 0.0 {
        Ok(total)
    } else {
        Err(Error::Degenerate("resampling: all weights are zero"))
    }
}

/// Inverse CDF at sorted points: for each point `p_k ∈ [0, 1)` (non-decreasing), the
/// smallest `i` with `cumsum(w)[i] / total > p_k`. Indices of zero weight are never chosen;
/// rounding at the top end is clamped to the last positive-weight index.
fn inverse_cdf_sorted(
    w: &[f32],
    total: f64,
    points: impl Iterator<Item = f64>,
    ancestors: &mut [u32],
) {
    let last_positive = w.iter().rposition(|&x| x > 0.0).unwrap_or(0);
    let mut i = 0usize;
    let mut cum = w.first().map_or(0.0, |&x| x as f64) / total;
    for (a, p) in ancestors.iter_mut().zip(points) {
        while (cum <= p || w[i] == 0.0) && i < last_positive {
            i += 1;
            cum += w[i] as f64 / total;
        }
        *a = i as u32;
    }
}

fn check_uniforms(u: &[f64], needed: usize) -> Result<(), Error> {
    if u.len() < needed {
        return Err(Error::ShapeMismatch {
            what: "uniforms",
            expected: needed,
            got: u.len(),
        });
    }
    if u.iter().take(needed).any(|&x| !(0.0..1.0).contains(&x)) {
        return Err(Error::InvalidConfig("uniforms must lie in [0, 1)"));
    }
    Ok(())
}

/// Fills `ancestors` (its length `M` is the number of draws) from weights `w` using
/// `scheme` and the pre-drawn uniforms `u` (at least [`Scheme::uniforms_needed`]`(M)` of
/// them, each in `[0, 1)`).
///
/// # Errors
/// [`Error::Degenerate`] if all weights are zero or `w` is empty; [`Error::NonFinite`] for a
/// negative, NaN or infinite weight; [`Error::ShapeMismatch`] if `u` is too short;
/// [`Error::InvalidConfig`] for a uniform outside `[0, 1)`; [`Error::CapacityExceeded`] if
/// `w.len()` does not fit in `u32`.
///
/// # Example
///
/// Systematic resampling of weights `(1/4, 3/4)` into 4 draws with `u = 1/2`: the points
/// `(k + u)/4 = 1/8, 3/8, 5/8, 7/8` fall once below the first cumulative weight `1/4`.
///
/// ```
/// use amortise_kernel::smc::resample::{Scheme, resample};
///
/// let mut ancestors = [0u32; 4];
/// resample(Scheme::Systematic, &[0.25, 0.75], &[0.5], &mut ancestors)?;
/// assert_eq!(ancestors, [0, 1, 1, 1]);
/// # Ok::<(), amortise_kernel::Error>(())
/// ```
pub fn resample(scheme: Scheme, w: &[f32], u: &[f64], ancestors: &mut [u32]) -> Result<(), Error> {
    if w.len() > u32::MAX as usize {
        return Err(Error::CapacityExceeded {
            what: "resampling population",
            capacity: u32::MAX as usize,
        });
    }
    let total = total_weight(w)?;
    let m = ancestors.len();
    check_uniforms(u, scheme.uniforms_needed(m))?;
    if m == 0 {
        return Ok(());
    }
    let mf = m as f64;
    match scheme {
        Scheme::Systematic => {
            let u0 = u[0];
            inverse_cdf_sorted(w, total, (0..m).map(|k| (k as f64 + u0) / mf), ancestors);
        }
        Scheme::Stratified => {
            inverse_cdf_sorted(
                w,
                total,
                u.iter()
                    .take(m)
                    .enumerate()
                    .map(|(k, &uk)| (k as f64 + uk) / mf),
                ancestors,
            );
        }
        Scheme::Multinomial => {
            // Sorted uniforms in O(M) by the order-statistics recursion: with v_k = 1 - u_k
            // in (0, 1], s_M = v_M^{1/M} is the largest of M uniforms and
            // s_k = s_{k+1} · v_k^{1/k} the next ones, descending. Fill `ancestors` from the
            // end while walking the cumulative weights down from the top.
            let mut s = 1.0f64;
            let mut idx = m;
            let mut i = w.len().saturating_sub(1);
            let mut cum_hi = 1.0f64; // normalised cumulative weight up to and including i
            let first_positive = w.iter().position(|&x| x > 0.0).unwrap_or(0);
            while idx > 0 {
                let k = idx as f64;
                let v = 1.0 - u[idx - 1];
                s *= math::powf(v, 1.0 / k);
                // s is the idx-th smallest point: the smallest i with cum(i) > s.
                loop {
                    let cum_lo = cum_hi - w[i] as f64 / total;
                    if (cum_lo <= s && w[i] > 0.0) || i <= first_positive {
                        break;
                    }
                    cum_hi = cum_lo;
                    i -= 1;
                }
                idx -= 1;
                ancestors[idx] = i as u32;
            }
        }
    }
    Ok(())
}

/// Offspring counts from an ancestor vector: `counts[i]` = number of `k` with
/// `ancestors[k] == i`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if an ancestor is out of range for `counts`.
pub fn offspring_counts(ancestors: &[u32], counts: &mut [u32]) -> Result<(), Error> {
    counts.iter_mut().for_each(|c| *c = 0);
    for &a in ancestors {
        let slot = counts.get_mut(a as usize).ok_or(Error::ShapeMismatch {
            what: "counts",
            expected: a as usize + 1,
            got: 0,
        })?;
        *slot += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{self, uniform_f64};
    use std::vec;
    use std::vec::Vec;

    fn draw(scheme: Scheme, w: &[f32], m: usize, seed: u64) -> Vec<u32> {
        let mut r = rng::seeded(seed);
        let u: Vec<f64> = (0..scheme.uniforms_needed(m))
            .map(|_| uniform_f64(&mut r))
            .collect();
        let mut a = vec![0u32; m];
        resample(scheme, w, &u, &mut a).unwrap();
        a
    }

    #[test]
    fn systematic_offspring_counts_are_floor_or_ceil() {
        let w = [0.05f32, 0.3, 0.0, 0.15, 0.5];
        for seed in 0..50 {
            let a = draw(Scheme::Systematic, &w, 10, seed);
            let mut c = [0u32; 5];
            offspring_counts(&a, &mut c).unwrap();
            assert_eq!(c.iter().sum::<u32>(), 10);
            assert_eq!(c[2], 0, "zero weight never drawn");
            for (i, &wi) in w.iter().enumerate() {
                let e = 10.0 * wi as f64;
                assert!(
                    c[i] as f64 >= e.floor() - 1e-9 && c[i] as f64 <= e.ceil() + 1e-9,
                    "{i}: {} vs {e}",
                    c[i]
                );
            }
            assert!(a.windows(2).all(|p| p[0] <= p[1]), "sorted");
        }
    }

    #[test]
    fn stratified_and_multinomial_are_unbiased() {
        let w = [0.1f32, 0.2, 0.3, 0.0, 0.4];
        for scheme in [Scheme::Stratified, Scheme::Multinomial, Scheme::Systematic] {
            let reps = 4000;
            let m = 7;
            let mut tot = [0u64; 5];
            for seed in 0..reps {
                let a = draw(scheme, &w, m, seed);
                assert!(a.windows(2).all(|p| p[0] <= p[1]), "{scheme:?} sorted");
                for &x in &a {
                    tot[x as usize] += 1;
                }
            }
            assert_eq!(tot[3], 0);
            for i in 0..5 {
                let p = w[i] as f64;
                let f = tot[i] as f64 / (reps as f64 * m as f64);
                // multinomial variance bounds the others; 5 standard errors
                let se = (p * (1.0 - p) / (reps as f64 * m as f64)).sqrt();
                assert!(
                    (f - p).abs() <= 5.0 * se + 1e-12,
                    "{scheme:?} index {i}: {f} vs {p}"
                );
            }
        }
    }

    #[test]
    fn unnormalised_weights_and_edges() {
        // scaling the weights changes nothing
        let a = draw(Scheme::Systematic, &[1.0, 3.0], 4, 3);
        let b = draw(Scheme::Systematic, &[0.25, 0.75], 4, 3);
        assert_eq!(a, b);
        // single positive weight at the end, and at the start
        assert!(
            draw(Scheme::Multinomial, &[0.0, 0.0, 2.0], 5, 1)
                .iter()
                .all(|&x| x == 2)
        );
        assert!(
            draw(Scheme::Multinomial, &[2.0, 0.0, 0.0], 5, 1)
                .iter()
                .all(|&x| x == 0)
        );
        assert!(
            draw(Scheme::Stratified, &[0.0, 1.0, 0.0], 5, 1)
                .iter()
                .all(|&x| x == 1)
        );
        // u at the top of its range never overflows
        let mut out = [0u32; 3];
        resample(
            Scheme::Systematic,
            &[0.5, 0.5, 0.0],
            &[0.999_999_999_9],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0, 1, 1]);
        // errors
        assert!(matches!(
            resample(Scheme::Systematic, &[], &[0.5], &mut out),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            resample(Scheme::Systematic, &[0.0, 0.0], &[0.5], &mut out),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            resample(Scheme::Systematic, &[f32::NAN, 1.0], &[0.5], &mut out),
            Err(Error::NonFinite(_))
        ));
        assert!(matches!(
            resample(Scheme::Systematic, &[-1.0, 1.0], &[0.5], &mut out),
            Err(Error::NonFinite(_))
        ));
        assert!(matches!(
            resample(Scheme::Stratified, &[1.0], &[0.5], &mut out),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            resample(Scheme::Systematic, &[1.0], &[1.0], &mut out),
            Err(Error::InvalidConfig(_))
        ));
        // zero draws is fine
        resample(Scheme::Multinomial, &[1.0], &[], &mut []).unwrap();
    }

    #[test]
    fn draws_more_or_fewer_than_population() {
        let w = [0.5f32, 0.25, 0.25];
        let a = draw(Scheme::Systematic, &w, 8, 0);
        let mut c = [0u32; 3];
        offspring_counts(&a, &mut c).unwrap();
        assert_eq!(c, [4, 2, 2]);
        let a = draw(Scheme::Systematic, &w, 1, 9);
        assert_eq!(a.len(), 1);
    }
}
