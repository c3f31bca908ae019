//! One-dimensional marginals: quantiles of a sorted sample and the 1-Wasserstein distance
//! between two sorted samples.
//!
//! For empirical distributions on the real line the optimal transport is monotone, so
//!
//! ```text
//! W₁(a, b) = ∫₀¹ |F_a⁻¹(u) − F_b⁻¹(u)| du
//! ```
//!
//! with `F⁻¹` the empirical quantile functions (steps of height `1/n` and `1/m`); the
//! integral is a sum over the merged steps, exact for any `n` and `m`. Quantiles interpolate
//! linearly between order statistics (numpy's default, `h = (n − 1) q`).

use crate::error::Error;

/// Checks `v` is non-empty, finite and sorted ascending.
fn check_sorted(v: &[f64]) -> Result<(), Error> {
    if v.is_empty() {
        return Err(Error::Degenerate("empty sample"));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::NonFinite("sample value"));
    }
    if v.windows(2).any(|w| w[1] < w[0]) {
        return Err(Error::InvalidConfig("sample must be sorted ascending"));
    }
    Ok(())
}

/// The `q`-quantile (`0 ≤ q ≤ 1`) of the sorted sample `v`, interpolating linearly between
/// order statistics.
///
/// # Errors
/// [`Error::Degenerate`] if `v` is empty; [`Error::NonFinite`] for a non-finite value;
/// [`Error::InvalidConfig`] if `v` is not sorted or `q` is outside `[0, 1]`.
pub fn quantile_sorted(v: &[f64], q: f64) -> Result<f64, Error> {
    check_sorted(v)?;
    if !(0.0..=1.0).contains(&q) {
        return Err(Error::InvalidConfig("quantile level must be in [0, 1]"));
    }
    let h = (v.len() - 1) as f64 * q;
    let lo = h as usize; // h ≥ 0: truncation is the floor
    let frac = h - lo as f64;
    match (v.get(lo), v.get(lo + 1)) {
        (Some(&a), Some(&b)) => Ok(a + frac * (b - a)),
        (Some(&a), None) => Ok(a),
        _ => Err(Error::Degenerate("empty sample")),
    }
}

/// `W₁` between the empirical distributions of the sorted samples `a` and `b` (module docs).
///
/// # Errors
/// As [`quantile_sorted`] for either sample.
pub fn w1_sorted(a: &[f64], b: &[f64]) -> Result<f64, Error> {
    check_sorted(a)?;
    check_sorted(b)?;
    let (n, m) = (a.len(), b.len());
    // walk the merged steps of the two quantile functions: on (u, next] both are constant
    let (mut i, mut j, mut u, mut sum) = (0usize, 0usize, 0.0f64, 0.0f64);
    while i < n && j < m {
        let (ui, uj) = ((i + 1) as f64 / n as f64, (j + 1) as f64 / m as f64);
        let next = ui.min(uj);
        sum += (next - u) * (a[i] - b[j]).abs();
        u = next;
        // compare in integers so that equal step ends advance both (u128: n·m overflows a
        // 32-bit usize from 65,536 points a side)
        let (ei, ej) = ((i as u128 + 1) * m as u128, (j as u128 + 1) * n as u128);
        if ei <= ej {
            i += 1;
        }
        if ej <= ei {
            j += 1;
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&v, 0.5).unwrap(), 3.0);
        assert!((quantile_sorted(&v, 0.9).unwrap() - 4.6).abs() < 1e-12);
        assert_eq!(quantile_sorted(&v, 0.0).unwrap(), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0).unwrap(), 5.0);
        assert_eq!(quantile_sorted(&[7.0], 0.99).unwrap(), 7.0);
    }

    #[test]
    fn w1_known_answers() {
        // equal sizes: the mean absolute difference of the order statistics
        let a = [0.0, 1.0, 5.0];
        let b = [1.0, 1.0, 2.0];
        assert!((w1_sorted(&a, &b).unwrap() - (1.0 + 0.0 + 3.0) / 3.0).abs() < 1e-15);
        // a shift by c costs c; symmetric
        let s = [0.5, 1.5, 5.5];
        assert!((w1_sorted(&a, &s).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(w1_sorted(&a, &b).unwrap(), w1_sorted(&b, &a).unwrap());
        // unequal sizes: a point mass at 0 against {0, 1}: half the mass moves by 1
        assert!((w1_sorted(&[0.0], &[0.0, 1.0]).unwrap() - 0.5).abs() < 1e-15);
        // {0, 3} against {0, 1, 2}: on (0,1/3] 0, (1/3,1/2] 1, (1/2,2/3] 2, (2/3,1] 1
        let w = w1_sorted(&[0.0, 3.0], &[0.0, 1.0, 2.0]).unwrap();
        assert!(
            (w - (1.0 / 6.0 + 2.0 / 6.0 + 1.0 / 3.0)).abs() < 1e-15,
            "{w}"
        );
        // a sample against itself
        assert_eq!(w1_sorted(&a, &a).unwrap(), 0.0);
    }

    #[test]
    fn w1_of_two_normals_is_the_mean_shift() {
        // N(0,1) against N(0.3,1) from the same draws shifted: exactly 0.3; against
        // independent draws of N(0.3, 1), about 0.3
        let n = 20_000;
        let mut rng = crate::rng::seeded(3);
        let mut x: std::vec::Vec<f64> = (0..n)
            .map(|_| crate::rng::standard_normal(&mut rng))
            .collect();
        let mut y: std::vec::Vec<f64> = (0..n / 2)
            .map(|_| 0.3 + crate::rng::standard_normal(&mut rng))
            .collect();
        x.sort_by(f64::total_cmp);
        y.sort_by(f64::total_cmp);
        let shifted: std::vec::Vec<f64> = x.iter().map(|v| v + 0.3).collect();
        assert!((w1_sorted(&x, &shifted).unwrap() - 0.3).abs() < 1e-12);
        let w = w1_sorted(&x, &y).unwrap();
        assert!((w - 0.3).abs() < 0.03, "{w}");
    }

    #[test]
    fn bad_input() {
        assert!(matches!(
            quantile_sorted(&[], 0.5),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            quantile_sorted(&[2.0, 1.0], 0.5),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            quantile_sorted(&[1.0], 1.5),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            w1_sorted(&[1.0, f64::NAN], &[1.0]),
            Err(Error::NonFinite(_))
        ));
        assert!(matches!(w1_sorted(&[1.0], &[]), Err(Error::Degenerate(_))));
    }
}
