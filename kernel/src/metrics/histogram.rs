//! Distances between discrete distributions, and the histograms that produce them.
//!
//! - [`total_variation`]: `TV(p, q) = ½ Σₓ |p(x) − q(x)|` (VGS, Yoon et al. 2025, B4, TVD-E
//!   over energy histograms).
//! - [`l1_mean`]: `(1/|X|) Σₓ |p̂(x) − p(x)|`, a **mean** over states, not a sum (adaptive
//!   teachers, Kim et al. 2025, A4, grid "empirical L1").
//! - [`histogram_1d`] bins values on equal-width edges over `[lo, hi]`, dropping values out
//!   of range (as TVD-E does); [`normalize_counts`] turns counts into frequencies.
//!   [`Bins`] is that binning rule for `f64` values, and [`histogram_2d`] its 2-D product
//!   (`numpy.histogram2d`'s layout).
//! - [`kl_density_histograms`]: the KL divergence between two histograms as FAB computes it
//!   for alanine dipeptide (`fab/utils/aldp.py::evaluate_aldp`, Midgley et al. 2023):
//!   densities `p = c/(N·cell)`, then `cell · Σ p ln((p + ε)/(q + ε))`.
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
    let bins = Bins {
        lo,
        hi,
        n: counts.len(),
    };
    bins.validate()?;
    let mut dropped = 0usize;
    for &v in values {
        match bins.index(v as f64).and_then(|k| counts.get_mut(k)) {
            Some(c) => *c = c.saturating_add(1),
            None => dropped += 1,
        }
    }
    Ok(dropped)
}

/// Equal-width bins on `[lo, hi]`, the rule of [`histogram_1d`] (and, up to rounding at
/// the edges, of `numpy.histogram` with `range=(lo, hi)`): bin `k` holds
/// `lo + k·w ≤ v < lo + (k+1)·w`, `w = (hi − lo)/n`, and the last bin also holds `hi`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bins {
    /// Lower edge.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Number of bins.
    pub n: usize,
}

impl Bins {
    /// Checks the bins: at least one, finite edges with `lo < hi`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] otherwise.
    pub fn validate(&self) -> Result<(), Error> {
        if self.n == 0 {
            return Err(Error::InvalidConfig("histogram needs at least one bin"));
        }
        if !(self.lo.is_finite() && self.hi.is_finite() && self.lo < self.hi) {
            return Err(Error::InvalidConfig(
                "histogram range must be finite with lo < hi",
            ));
        }
        Ok(())
    }

    /// Width of one bin.
    pub fn width(&self) -> f64 {
        (self.hi - self.lo) / self.n as f64
    }

    /// The bin of `v`; `None` out of range or NaN.
    pub fn index(&self, v: f64) -> Option<usize> {
        if !(v >= self.lo && v <= self.hi) {
            return None;
        }
        let k = ((v - self.lo) * (self.n as f64 / (self.hi - self.lo))) as usize;
        Some(if k >= self.n { self.n - 1 } else { k })
    }
}

/// [`histogram_1d`] for `f64` values on [`Bins`] (`counts.len()` must be `bins.n`).
///
/// # Errors
/// [`Error::InvalidConfig`] for invalid bins; [`Error::ShapeMismatch`] if `counts.len()`
/// is not `bins.n`.
pub fn histogram_1d_f64(values: &[f64], bins: Bins, counts: &mut [u32]) -> Result<usize, Error> {
    bins.validate()?;
    check_len("histogram_1d_f64 counts", bins.n, counts.len())?;
    bin_1d(values, bins, |k, _| {
        if let Some(c) = k.and_then(|k| counts.get_mut(k)) {
            *c = c.saturating_add(1);
        }
    })
}

/// Calls `add(Some(bin), i)` for every `values[i]` in range of `bins` (validated) and
/// `add(None, i)` for the others (out of range or NaN); returns how many were dropped.
pub(crate) fn bin_1d(
    values: &[f64],
    bins: Bins,
    mut add: impl FnMut(Option<usize>, usize),
) -> Result<usize, Error> {
    bins.validate()?;
    let mut dropped = 0usize;
    for (i, &v) in values.iter().enumerate() {
        let k = bins.index(v);
        dropped += usize::from(k.is_none());
        add(k, i);
    }
    Ok(dropped)
}

/// Adds the points `(x[i], y[i])` to `counts` (not cleared), row-major
/// `[bx.n][by.n]` (`counts[i·by.n + j]` counts `x` in bin `i` and `y` in bin `j`, as
/// `numpy.histogram2d(x, y)[0][i, j]`); returns how many points were dropped (a coordinate
/// out of range or NaN).
///
/// # Errors
/// [`Error::InvalidConfig`] for invalid bins; [`Error::ShapeMismatch`] if `x` and `y`
/// differ in length or `counts.len() != bx.n·by.n`.
pub fn histogram_2d(
    x: &[f64],
    y: &[f64],
    bx: Bins,
    by: Bins,
    counts: &mut [u32],
) -> Result<usize, Error> {
    let cells = counts.len();
    bin_2d([x, y], [bx, by], cells, |k, _| {
        if let Some(c) = k.and_then(|k| counts.get_mut(k)) {
            *c = c.saturating_add(1);
        }
    })
}

/// Calls `add(Some(cell), i)` for every point `(xy[0][i], xy[1][i])` in range of `b`
/// (validated), `cell = i_x·b[1].n + i_y`, and `add(None, i)` for the others; returns how
/// many points were dropped. `cells` is the length of the caller's histogram, checked
/// against `b[0].n·b[1].n`.
pub(crate) fn bin_2d(
    xy: [&[f64]; 2],
    b: [Bins; 2],
    cells: usize,
    mut add: impl FnMut(Option<usize>, usize),
) -> Result<usize, Error> {
    let ([x, y], [bx, by]) = (xy, b);
    bx.validate()?;
    by.validate()?;
    if y.len() != x.len() {
        return Err(Error::ShapeMismatch {
            what: "histogram_2d y",
            expected: x.len(),
            got: y.len(),
        });
    }
    let want = bx.n.saturating_mul(by.n);
    if cells != want {
        return Err(Error::ShapeMismatch {
            what: "histogram_2d counts",
            expected: want,
            got: cells,
        });
    }
    let mut dropped = 0usize;
    for (i, (&u, &v)) in x.iter().zip(y).enumerate() {
        let cell = match (bx.index(u), by.index(v)) {
            (Some(a), Some(b)) => Some(a * by.n + b),
            _ => None,
        };
        dropped += usize::from(cell.is_none());
        add(cell, i);
    }
    Ok(dropped)
}

/// FAB's `ε` of the ALDP histogram KL divergences (added to both densities).
pub const FAB_KL_EPS: f64 = 1e-10;

/// The KL divergence `KL(p ‖ q)` between the densities of two histograms on the same
/// cells, as FAB computes it (`fab/utils/aldp.py::evaluate_aldp`, `numpy.histogram(...,
/// density=True)`): with `p_k = p_counts[k]/(N_p·cell)` and `q_k` alike,
///
/// `KL = cell · Σ_k p_k ln((p_k + ε)/(q_k + ε))`,
///
/// `cell` the bin width (1-D) or area (2-D), `ε` added to the densities (FAB:
/// [`FAB_KL_EPS`]). Empty `p` cells add 0; a cell empty in `q` only adds the large finite
/// `p_k ln((p_k + ε)/ε)`. FAB passes the reference (test) histogram as `p` and the model's
/// as `q`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ; [`Error::Degenerate`] if either histogram
/// is empty (no counts: numpy's density would be NaN); [`Error::InvalidConfig`] unless
/// `cell > 0` and `eps > 0` are finite.
pub fn kl_density_histograms(
    p_counts: &[u32],
    q_counts: &[u32],
    cell: f64,
    eps: f64,
) -> Result<f64, Error> {
    kl_density(
        [p_counts.len(), q_counts.len()],
        |k| p_counts.get(k).map_or(0.0, |&c| f64::from(c)),
        |k| q_counts.get(k).map_or(0.0, |&c| f64::from(c)),
        [cell, eps],
    )
}

/// The sum of [`kl_density_histograms`] over cells whose masses (counts, or weights) are
/// `p(k)` and `q(k)`, `k < len[0] = len[1]`; `ce = [cell, eps]`. Sums of counts below 2⁵³
/// are exact in `f64`, so counts and the same counts as masses give the same bits.
pub(crate) fn kl_density(
    len: [usize; 2],
    p: impl Fn(usize) -> f64,
    q: impl Fn(usize) -> f64,
    ce: [f64; 2],
) -> Result<f64, Error> {
    let [cell, eps] = ce;
    if len[1] != len[0] {
        return Err(Error::ShapeMismatch {
            what: "kl q_counts",
            expected: len[0],
            got: len[1],
        });
    }
    if !(cell.is_finite() && cell > 0.0 && eps.is_finite() && eps > 0.0) {
        return Err(Error::InvalidConfig(
            "kl: cell and eps must be finite and positive",
        ));
    }
    let (np, nq) = (0..len[0]).fold((0.0f64, 0.0f64), |(a, b), k| (a + p(k), b + q(k)));
    if np <= 0.0 || nq <= 0.0 {
        return Err(Error::Degenerate("kl: a histogram has no counts"));
    }
    let (sp, sq) = (np * cell, nq * cell);
    let mut sum = 0.0f64;
    for k in 0..len[0] {
        let a = p(k);
        if a == 0.0 {
            continue;
        }
        let (pk, qk) = (a / sp, q(k) / sq);
        sum += pk * crate::math::ln((pk + eps) / (qk + eps));
    }
    Ok(sum * cell)
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

    #[test]
    fn bins_and_histogram_2d() {
        let b = Bins {
            lo: -1.0,
            hi: 1.0,
            n: 4,
        };
        assert_eq!(b.width(), 0.5);
        assert_eq!(b.index(-1.0), Some(0));
        assert_eq!(b.index(-0.5), Some(1));
        assert_eq!(b.index(0.999), Some(3));
        assert_eq!(b.index(1.0), Some(3), "the last bin is closed");
        assert_eq!(b.index(1.0 + 1e-15), None);
        assert_eq!(b.index(f64::NAN), None);
        let by = Bins {
            lo: 0.0,
            hi: 3.0,
            n: 3,
        };
        let mut c = [0u32; 12];
        let x = [-1.0, 0.2, 0.2, 0.9, 5.0, f64::NAN];
        let y = [0.0, 1.5, 2.9, 3.0, 1.0, 1.0];
        assert_eq!(histogram_2d(&x, &y, b, by, &mut c).unwrap(), 2);
        // x bins 0, 2, 2, 3; y bins 0, 1, 2, 2 → cells 0·3+0, 2·3+1, 2·3+2, 3·3+2
        let mut want = [0u32; 12];
        for k in [0, 7, 8, 11] {
            want[k] = 1;
        }
        assert_eq!(c, want);
        assert!(matches!(
            histogram_2d(&x, &y[..2], b, by, &mut c),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            histogram_2d(&x, &y, b, by, &mut c[..11]),
            Err(Error::ShapeMismatch { .. })
        ));
        let bad = Bins { n: 0, ..b };
        assert!(matches!(
            histogram_2d(&x, &y, bad, by, &mut c),
            Err(Error::InvalidConfig(_))
        ));
    }

    #[test]
    fn histogram_1d_f64_agrees_with_f32() {
        let v = [0.0f32, 0.1, 0.3, 0.99, 1.0, -0.1, 2.0, f32::NAN];
        let mut a = [0u32; 4];
        let mut b = [0u32; 4];
        let da = histogram_1d(&v, 0.0, 1.0, &mut a).unwrap();
        let w: std::vec::Vec<f64> = v.iter().map(|&x| x as f64).collect();
        let bins = Bins {
            lo: 0.0,
            hi: 1.0,
            n: 4,
        };
        let db = histogram_1d_f64(&w, bins, &mut b).unwrap();
        assert_eq!((a, da), (b, db));
        assert!(matches!(
            histogram_1d_f64(&w, bins, &mut b[..3]),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn kl_hand_example() {
        // p counts [2, 1, 1, 0] (N = 4), q counts [1, 1, 0, 2] (N = 4), cell 0.5:
        // densities p = [1, 0.5, 0.5, 0], q = [0.5, 0.5, 0, 1];
        // KL = 0.5 · [1·ln((1+ε)/(0.5+ε)) + 0.5·ln(1) + 0.5·ln((0.5+ε)/ε) + 0]
        //    = 0.5·ln 2 + 0.25·ln(0.5/ε)  (to O(ε))
        let eps = 1e-10;
        let kl = kl_density_histograms(&[2, 1, 1, 0], &[1, 1, 0, 2], 0.5, eps).unwrap();
        let want = 0.5 * 2f64.ln() + 0.25 * (0.5f64 / eps).ln();
        assert!((kl - want).abs() < 1e-8, "{kl} vs {want}");
        // with q covering p everywhere the ε barely matters: p = [1, 0.5, 0.5, 0] against
        // q = [0.5, 0.5, 0.5, 0.5] (counts [1, 1, 1, 1]) gives 0.5·(ln 2 + 0 + 0) = 0.5 ln 2
        let kl = kl_density_histograms(&[2, 1, 1, 0], &[1, 1, 1, 1], 0.5, eps).unwrap();
        assert!((kl - 0.5 * 2f64.ln()).abs() < 1e-9);
        // identical shapes (any counts scale) give 0
        let kl = kl_density_histograms(&[2, 4, 0], &[1, 2, 0], 0.1, eps).unwrap();
        assert!(kl.abs() < 1e-15);
        // the direction matters: KL(q ‖ p) of the first pair is a different number
        let back = kl_density_histograms(&[1, 1, 0, 2], &[2, 1, 1, 0], 0.5, eps).unwrap();
        let want_back = 0.5 * (0.5 * 0.5f64.ln() + 0.0 + 1.0 * (1.0f64 / eps).ln());
        assert!((back - want_back).abs() < 1e-8, "{back} vs {want_back}");
        assert!(matches!(
            kl_density_histograms(&[0, 0], &[1, 1], 1.0, eps),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            kl_density_histograms(&[1], &[1, 1], 1.0, eps),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            kl_density_histograms(&[1], &[1], 0.0, eps),
            Err(Error::InvalidConfig(_))
        ));
    }
}
