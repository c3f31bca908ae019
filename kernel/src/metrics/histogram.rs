//! Distances between discrete distributions, and the histograms that produce them.
//!
//! - [`total_variation`]: `TV(p, q) = ½ Σₓ |p(x) − q(x)|` (VGS, Yoon et al. 2025, B4, TVD-E
//!   over energy histograms).
//! - [`l1_mean`]: `(1/|X|) Σₓ |p̂(x) − p(x)|`, a **mean** over states, not a sum (adaptive
//!   teachers, Kim et al. 2025, A4, grid "empirical L1").
//! - [`histogram_1d`] bins values on equal-width edges over `[lo, hi]`, dropping values out
//!   of range (as TVD-E does); [`normalize_counts`] turns counts into frequencies.
//!
//! Distributions are `f32` slices used as given (normalise first if needed); accumulation is
//! in `f64`.

use crate::error::{Error, check_len};

/// Validates a pair of distributions: equal lengths, non-empty, finite, non-negative.
fn check_pair(p: &[f32], q: &[f32]) -> Result<(), Error> {
    check_len("q", p.len(), q.len())?;
    if p.is_empty() {
        return Err(Error::Degenerate("empty distribution"));
    }
    for &v in p.iter().chain(q) {
        if !v.is_finite() {
            return Err(Error::NonFinite("probability"));
        }
        if v < 0.0 {
            return Err(Error::InvalidConfig("probabilities must be non-negative"));
        }
    }
    Ok(())
}

fn abs_diff_sum(p: &[f32], q: &[f32]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let d = a as f64 - b as f64;
            if d < 0.0 { -d } else { d }
        })
        .sum()
}

/// Total variation distance `½ Σₓ |p(x) − q(x)|` (in `[0, 1]` for normalised inputs).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ; [`Error::Degenerate`] if empty;
/// [`Error::NonFinite`] for NaN/infinite entries; [`Error::InvalidConfig`] for negative ones.
pub fn total_variation(p: &[f32], q: &[f32]) -> Result<f64, Error> {
    check_pair(p, q)?;
    Ok(0.5 * abs_diff_sum(p, q))
}

/// Mean absolute difference `(1/|X|) Σₓ |p(x) − q(x)|` over the `|X| = p.len()` states.
///
/// # Errors
/// As [`total_variation`].
pub fn l1_mean(p: &[f32], q: &[f32]) -> Result<f64, Error> {
    check_pair(p, q)?;
    Ok(abs_diff_sum(p, q) / p.len() as f64)
}

/// Frequencies `out[k] = counts[k] / Σ counts`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `out.len() != counts.len()`; [`Error::Degenerate`] if the
/// total is zero.
pub fn normalize_counts(counts: &[u32], out: &mut [f32]) -> Result<(), Error> {
    check_len("out", counts.len(), out.len())?;
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    if total <= 0.0 {
        return Err(Error::Degenerate("empty histogram"));
    }
    for (o, &c) in out.iter_mut().zip(counts) {
        *o = (c as f64 / total) as f32;
    }
    Ok(())
}

/// Adds `values` to `counts` (not cleared), using `counts.len()` equal-width bins on
/// `[lo, hi]` (the last bin includes `hi`); returns how many values were dropped as out of
/// range or NaN.
///
/// # Errors
/// [`Error::InvalidConfig`] if `counts` is empty or `lo < hi` fails or a bound is not finite.
pub fn histogram_1d(values: &[f32], lo: f64, hi: f64, counts: &mut [u32]) -> Result<usize, Error> {
    if counts.is_empty() {
        return Err(Error::InvalidConfig("histogram needs at least one bin"));
    }
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::InvalidConfig(
            "histogram range must be finite with lo < hi",
        ));
    }
    let bins = counts.len();
    let scale = bins as f64 / (hi - lo);
    let mut dropped = 0usize;
    for &v in values {
        let v = v as f64;
        if !(v >= lo && v <= hi) {
            dropped += 1;
            continue;
        }
        let k = ((v - lo) * scale) as usize;
        let k = if k >= bins { bins - 1 } else { k };
        if let Some(c) = counts.get_mut(k) {
            *c = c.saturating_add(1);
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn tv_hand_cases() {
        assert_eq!(total_variation(&[0.5, 0.5], &[0.5, 0.5]).unwrap(), 0.0);
        assert_eq!(total_variation(&[1.0, 0.0], &[0.0, 1.0]).unwrap(), 1.0);
        assert!((total_variation(&[0.2, 0.3, 0.5], &[0.3, 0.3, 0.4]).unwrap() - 0.1).abs() < 1e-7);
    }

    #[test]
    fn l1_mean_is_a_mean() {
        // Σ|p − q| = 0.2 over 4 states → 0.05.
        let p = [0.1f32, 0.2, 0.3, 0.4];
        let q = [0.2f32, 0.1, 0.3, 0.4];
        assert!((l1_mean(&p, &q).unwrap() - 0.05).abs() < 1e-7);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            total_variation(&[0.5, 0.5], &[1.0]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(l1_mean(&[], &[]), Err(Error::Degenerate(_))));
        assert!(matches!(
            total_variation(&[f32::NAN], &[1.0]),
            Err(Error::NonFinite(_))
        ));
        assert!(matches!(
            total_variation(&[-0.1, 1.1], &[0.5, 0.5]),
            Err(Error::InvalidConfig(_))
        ));
    }

    #[test]
    fn histogram_and_normalisation() {
        let mut c = [0u32; 4];
        let dropped = histogram_1d(
            &[0.0, 0.1, 0.3, 0.99, 1.0, -0.1, 2.0, f32::NAN],
            0.0,
            1.0,
            &mut c,
        )
        .unwrap();
        assert_eq!(c, [2, 1, 0, 2]);
        assert_eq!(dropped, 3);
        let mut f = [0.0f32; 4];
        normalize_counts(&c, &mut f).unwrap();
        assert_eq!(f, [0.4, 0.2, 0.0, 0.4]);
        assert!(matches!(
            normalize_counts(&[0, 0], &mut f[..2]),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            histogram_1d(&[], 1.0, 1.0, &mut c),
            Err(Error::InvalidConfig(_))
        ));
    }
}
