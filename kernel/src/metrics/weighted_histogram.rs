//! Weighted histograms, and FAB's histogram KL divergence between weighted ones: the
//! counterparts of [`histogram`](super::histogram)'s counts for a sample whose rows carry
//! importance weights (a self-normalised estimate of the target's histogram).
//!
//! - [`histogram_1d_weighted`] and [`histogram_2d_weighted`] add each value's weight to its
//!   bin, with the binning rule of [`Bins`] and the layout of
//!   [`histogram_2d`](super::histogram::histogram_2d) (`numpy.histogram(..., weights=w)`).
//! - [`kl_density_masses`] is
//!   [`kl_density_histograms`](super::histogram::kl_density_histograms) on cell masses: `p_k = m_k/(Σ m·cell)`. Equal weights give the count version's value; counts
//!   given as masses give its bits.
//!
//! Weights must be finite and non-negative; they need not be normalised.

use super::histogram::{Bins, bin_1d, bin_2d, kl_density};
use crate::error::{Error, check_len};

/// Checks masses or weights: finite and non-negative.
fn check_masses(what: &'static str, m: &[f64]) -> Result<(), Error> {
    for &v in m {
        if !v.is_finite() {
            return Err(Error::NonFinite(what));
        }
        if v < 0.0 {
            return Err(Error::InvalidConfig(
                "histogram weights and masses must be non-negative",
            ));
        }
    }
    Ok(())
}

/// The binning callback of the weighted histograms: row `i`'s weight goes to its cell of
/// `mass`, or to `dropped` if it has none.
fn add_weight<'a>(
    weights: &'a [f64],
    mass: &'a mut [f64],
    dropped: &'a mut f64,
) -> impl FnMut(Option<usize>, usize) + 'a {
    move |k, i| {
        let w = weights.get(i).copied().unwrap_or(0.0);
        match k.and_then(|k| mass.get_mut(k)) {
            Some(m) => *m += w,
            None => *dropped += w,
        }
    }
}

/// Adds `weights[i]` to the bin of `values[i]` in `mass` (not cleared; `mass.len()` must be
/// `bins.n`); returns the total weight dropped (values out of range or NaN).
///
/// # Errors
/// [`Error::InvalidConfig`] for invalid bins or a negative weight; [`Error::NonFinite`] for
/// a non-finite weight; [`Error::ShapeMismatch`] if `weights` and `values` differ in length
/// or `mass.len()` is not `bins.n`.
pub fn histogram_1d_weighted(
    values: &[f64],
    weights: &[f64],
    bins: Bins,
    mass: &mut [f64],
) -> Result<f64, Error> {
    check_len("histogram_1d_weighted weights", values.len(), weights.len())?;
    check_len("histogram_1d_weighted mass", bins.n, mass.len())?;
    check_masses("histogram weight", weights)?;
    let mut dropped = 0.0f64;
    bin_1d(values, bins, add_weight(weights, mass, &mut dropped))?;
    Ok(dropped)
}

/// Adds `weights[i]` to the cell of the point `(x[i], y[i])` in `mass` (not cleared),
/// row-major `[bx.n][by.n]` as [`histogram_2d`](super::histogram::histogram_2d); returns the
/// total weight dropped (a coordinate out of range or NaN).
///
/// # Errors
/// As [`histogram_1d_weighted`], with `mass.len()` checked against `bx.n·by.n`.
pub fn histogram_2d_weighted(
    xy: [&[f64]; 2],
    weights: &[f64],
    bx: Bins,
    by: Bins,
    mass: &mut [f64],
) -> Result<f64, Error> {
    check_len("histogram_2d_weighted weights", xy[0].len(), weights.len())?;
    check_masses("histogram weight", weights)?;
    let mut dropped = 0.0f64;
    let cells = mass.len();
    bin_2d(xy, [bx, by], cells, add_weight(weights, mass, &mut dropped))?;
    Ok(dropped)
}

/// FAB's histogram KL divergence `KL(p ‖ q)` between two histograms given as cell masses
/// (weights or counts; each normalised by its own total):
/// `cell · Σ_k p_k ln((p_k + ε)/(q_k + ε))`, `p_k = p_mass[k]/(Σ p_mass · cell)`, `q_k` alike.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ; [`Error::NonFinite`] or
/// [`Error::InvalidConfig`] for a non-finite or negative mass; [`Error::Degenerate`] if a
/// histogram has no mass; [`Error::InvalidConfig`] unless `cell > 0` and `eps > 0` are
/// finite.
pub fn kl_density_masses(
    p_mass: &[f64],
    q_mass: &[f64],
    cell: f64,
    eps: f64,
) -> Result<f64, Error> {
    check_masses("histogram mass", p_mass)?;
    check_masses("histogram mass", q_mass)?;
    kl_density(
        [p_mass.len(), q_mass.len()],
        |k| p_mass.get(k).copied().unwrap_or(0.0),
        |k| q_mass.get(k).copied().unwrap_or(0.0),
        [cell, eps],
    )
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::histogram::{histogram_1d_f64, histogram_2d, kl_density_histograms};
    use super::*;
    use std::vec::Vec;

    const B: Bins = Bins {
        lo: 0.0,
        hi: 1.0,
        n: 4,
    };

    #[test]
    fn weighted_1d_hand_case() {
        let v = [0.1, 0.3, 0.3, 0.9, 2.0, f64::NAN];
        let w = [1.0, 0.5, 0.25, 2.0, 4.0, 8.0];
        let mut m = [0.0f64; 4];
        let dropped = histogram_1d_weighted(&v, &w, B, &mut m).unwrap();
        assert_eq!(m, [1.0, 0.75, 0.0, 2.0]);
        assert_eq!(dropped, 12.0);
        // nothing dropped is exactly 0, whatever the weights' rounding
        let mut m = [0.0f64; 4];
        let none = histogram_1d_weighted(&[0.1, 0.5, 0.9], &[0.1, 0.2, 0.7], B, &mut m).unwrap();
        assert_eq!(none, 0.0);
    }

    #[test]
    fn unit_weights_are_counts() {
        let x: Vec<f64> = (0..500)
            .map(|i| ((i * 37) % 101) as f64 / 100.0 - 0.05)
            .collect();
        let y: Vec<f64> = (0..500).map(|i| ((i * 53) % 97) as f64 / 96.0).collect();
        let ones = [1.0f64; 500];
        let (mut c1, mut m1) = ([0u32; 4], [0.0f64; 4]);
        let d = histogram_1d_f64(&x, B, &mut c1).unwrap();
        let dw = histogram_1d_weighted(&x, &ones, B, &mut m1).unwrap();
        assert_eq!(dw, d as f64);
        assert_eq!(m1, c1.map(f64::from));
        let (mut c2, mut m2) = ([0u32; 16], [0.0f64; 16]);
        let d = histogram_2d(&x, &y, B, B, &mut c2).unwrap();
        let dw = histogram_2d_weighted([&x, &y], &ones, B, B, &mut m2).unwrap();
        assert_eq!(dw, d as f64);
        assert_eq!(m2, c2.map(f64::from));
        // the KL on the counts as masses has the count version's bits
        let p = [7u32, 0, 3, 5, 1, 9, 0, 2, 4, 4, 1, 0, 6, 2, 3, 8];
        let pm = p.map(f64::from);
        let a = kl_density_histograms(&p, &c2, 1.0 / 16.0, 1e-10).unwrap();
        let b = kl_density_masses(&pm, &m2, 1.0 / 16.0, 1e-10).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
    }

    #[test]
    fn weights_equal_duplicated_rows() {
        // weight 2 on a row is the row twice; 0.5 on every row of a set is the same shape
        let v = [0.1, 0.3, 0.6, 0.9];
        let dup = [0.1, 0.1, 0.3, 0.6, 0.6, 0.6, 0.9];
        let mut c = [0u32; 4];
        histogram_1d_f64(&dup, B, &mut c).unwrap();
        let mut m = [0.0f64; 4];
        histogram_1d_weighted(&v, &[1.0, 0.5, 1.5, 0.5], B, &mut m).unwrap();
        let p = [1u32, 2, 3, 4];
        let want = kl_density_histograms(&p, &c, 0.25, 1e-10).unwrap();
        let got = kl_density_masses(&p.map(f64::from), &m, 0.25, 1e-10).unwrap();
        assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    }

    #[test]
    fn kl_masses_hand_case() {
        // p = [0.5, 0.5] of the unit, q = [0.25, 0.75], cell 0.5: densities p = [1, 1],
        // q = [0.5, 1.5]; KL = 0.5·(ln 2 + ln(2/3)) = 0.5·ln(4/3)
        let kl = kl_density_masses(&[3.0, 3.0], &[0.1, 0.3], 0.5, 1e-12).unwrap();
        assert!((kl - 0.5 * (4.0f64 / 3.0).ln()).abs() < 1e-10, "{kl}");
    }

    #[test]
    fn errors() {
        let mut m = [0.0f64; 4];
        let e = |r: Result<f64, Error>| r.unwrap_err();
        assert!(matches!(
            e(histogram_1d_weighted(&[0.1], &[f64::NAN], B, &mut m)),
            Error::NonFinite(_)
        ));
        assert!(matches!(
            e(histogram_1d_weighted(&[0.1], &[-1.0], B, &mut m)),
            Error::InvalidConfig(_)
        ));
        assert!(matches!(
            e(histogram_1d_weighted(&[0.1, 0.2], &[1.0], B, &mut m)),
            Error::ShapeMismatch { .. }
        ));
        assert!(matches!(
            e(histogram_1d_weighted(&[0.1], &[1.0], B, &mut m[..3])),
            Error::ShapeMismatch { .. }
        ));
        assert!(matches!(
            e(histogram_2d_weighted(
                [&[0.1], &[0.1]],
                &[1.0],
                B,
                B,
                &mut m
            )),
            Error::ShapeMismatch { .. }
        ));
        assert!(matches!(
            e(histogram_2d_weighted(
                [&[0.1], &[]],
                &[1.0],
                B,
                B,
                &mut [0.0; 16]
            )),
            Error::ShapeMismatch { .. }
        ));
        assert!(matches!(
            e(kl_density_masses(&[0.0, 0.0], &[1.0, 1.0], 1.0, 1e-10)),
            Error::Degenerate(_)
        ));
        assert!(matches!(
            e(kl_density_masses(&[1.0], &[f64::INFINITY], 1.0, 1e-10)),
            Error::NonFinite(_)
        ));
        assert!(matches!(
            e(kl_density_masses(&[1.0], &[1.0, 1.0], 1.0, 1e-10)),
            Error::ShapeMismatch { .. }
        ));
    }
}
