//! Entropic mode coverage (EMC): how evenly samples spread over the known modes.
//!
//! Each sample is assigned to its nearest mode centre (Euclidean distance; for an
//! equal-weight, equal-covariance mixture such as GMM40 this is the arg-max component), and
//! (Reinforced SMC, Choi et al. 2025, §5, "EMC" on GMM40 and MoS)
//!
//! ```text
//! EMC = H(c / Σc) / ln K = −Σₖ pₖ ln pₖ / ln K ∈ [0, 1],    pₖ = cₖ / Σⱼ cⱼ,
//! ```
//!
//! with `0 ln 0 = 0` and `K` the number of modes: 0 when every sample sits in one mode, 1
//! when the modes are equally covered.

use crate::error::{Error, check_len};
use crate::math;

use super::sinkhorn::cloud_len;

/// Counts, for each of the `K = centres.len() / dim` mode centres, how many samples of
/// `samples` (`[n, dim]`) have it as their nearest centre (Euclidean; ties go to the lower
/// index). `counts` (length `K`) is overwritten.
///
/// # Errors
/// - [`Error::InvalidConfig`] if `dim == 0`;
/// - [`Error::ShapeMismatch`] if a length is not a multiple of `dim` or
///   `counts.len() != K`;
/// - [`Error::Degenerate`] if there are no samples or no centres;
/// - [`Error::NonFinite`] if a coordinate is NaN or infinite.
pub fn nearest_mode_counts(
    samples: &[f32],
    dim: usize,
    centres: &[f32],
    counts: &mut [u32],
) -> Result<(), Error> {
    cloud_len("samples", samples, dim)?;
    let k = cloud_len("centres", centres, dim)?;
    check_len("counts", k, counts.len())?;
    counts.fill(0);
    for s in samples.chunks_exact(dim) {
        let (arg, _) = nearest(s, centres, dim);
        if let Some(c) = counts.get_mut(arg) {
            *c = c.saturating_add(1);
        }
    }
    Ok(())
}

/// For each sample of `samples` (`[n, dim]`), the index of its nearest mode centre
/// (Euclidean; ties go to the lower index), into `mode[i]`, and its squared distance to that
/// centre, into `sq_dist[i]`: the per-sample view behind [`nearest_mode_counts`], from which
/// the spread of the samples around their modes follows (for a mixture of unit-variance
/// Gaussians, exact samples have a mean `sq_dist` of a little under `dim`, the nearest centre
/// being nearer than the component's own now and then).
///
/// # Errors
/// As [`nearest_mode_counts`], with [`Error::ShapeMismatch`] if `mode` or `sq_dist` is not
/// of length `n`.
pub fn nearest_modes(
    samples: &[f32],
    dim: usize,
    centres: &[f32],
    mode: &mut [u32],
    sq_dist: &mut [f64],
) -> Result<(), Error> {
    let n = cloud_len("samples", samples, dim)?;
    cloud_len("centres", centres, dim)?;
    check_len("mode", n, mode.len())?;
    check_len("sq_dist", n, sq_dist.len())?;
    let rows = samples.chunks_exact(dim).zip(mode.iter_mut().zip(sq_dist));
    for (s, (m, d)) in rows {
        let (arg, best) = nearest(s, centres, dim);
        *m = u32::try_from(arg).unwrap_or(u32::MAX);
        *d = best;
    }
    Ok(())
}

/// The nearest centre of `s` (ties to the lower index) and the squared distance to it.
fn nearest(s: &[f32], centres: &[f32], dim: usize) -> (usize, f64) {
    let mut best = f64::INFINITY;
    let mut arg = 0usize;
    for (j, c) in centres.chunks_exact(dim).enumerate() {
        let d = math::sq_dist(s, c);
        if d < best {
            best = d;
            arg = j;
        }
    }
    (arg, best)
}

/// `EMC = −Σₖ pₖ ln pₖ / ln K` from per-mode counts (`pₖ = cₖ / Σc`, `0 ln 0 = 0`).
///
/// # Errors
/// [`Error::InvalidConfig`] if there are fewer than 2 modes (`ln 1 = 0`);
/// [`Error::Degenerate`] if all counts are zero.
pub fn emc_from_counts(counts: &[u32]) -> Result<f64, Error> {
    if counts.len() < 2 {
        return Err(Error::InvalidConfig("EMC needs at least 2 modes"));
    }
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    if total <= 0.0 {
        return Err(Error::Degenerate("no samples assigned to any mode"));
    }
    let mut h = 0.0f64;
    for &c in counts {
        if c > 0 {
            let p = c as f64 / total;
            h -= p * math::ln(p);
        }
    }
    Ok(h / math::ln(counts.len() as f64))
}

/// Entropic mode coverage of `samples` (`[n, dim]`) with respect to the mode `centres`
/// (`[K, dim]`): [`nearest_mode_counts`] then [`emc_from_counts`]. `counts` (length `K`)
/// is caller-owned scratch and holds the histogram on return.
///
/// # Errors
/// As [`nearest_mode_counts`] and [`emc_from_counts`].
pub fn entropic_mode_coverage(
    samples: &[f32],
    dim: usize,
    centres: &[f32],
    counts: &mut [u32],
) -> Result<f64, Error> {
    nearest_mode_counts(samples, dim, centres, counts)?;
    emc_from_counts(counts)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    const CENTRES: [f32; 8] = [-5.0, -5.0, 5.0, -5.0, -5.0, 5.0, 5.0, 5.0];

    #[test]
    fn one_mode_gives_zero() {
        let s = [4.0f32, 4.5, 6.0, 5.5, 5.0, 5.0];
        let mut c = [0u32; 4];
        let e = entropic_mode_coverage(&s, 2, &CENTRES, &mut c).unwrap();
        assert_eq!(e, 0.0);
        assert_eq!(c, [0, 0, 0, 3]);
    }

    #[test]
    fn uniform_over_modes_gives_one() {
        let s = [
            -4.0f32, -6.0, 4.0, -4.0, -5.0, 6.0, 5.0, 5.0, -5.0, -5.0, 6.0, -5.0, -4.0, 4.0, 4.0,
            4.0,
        ];
        let mut c = [0u32; 4];
        let e = entropic_mode_coverage(&s, 2, &CENTRES, &mut c).unwrap();
        assert_eq!(c, [2, 2, 2, 2]);
        assert!((e - 1.0).abs() < 1e-15);
    }

    #[test]
    fn hand_case_two_of_four() {
        // Half in two modes: H = ln 2, EMC = ln 2 / ln 4 = 1/2.
        assert!((emc_from_counts(&[5, 0, 5, 0]).unwrap() - 0.5).abs() < 1e-15);
    }

    #[test]
    fn nearest_modes_hand_case() {
        // (4, 4.5): nearest (5, 5), 1 + 0.25; (0, 0): equidistant from all four, goes to
        // the first, 50; (-5, 3): nearest (-5, 5), 4.
        let s = [4.0f32, 4.5, 0.0, 0.0, -5.0, 3.0];
        let (mut m, mut d) = ([9u32; 3], [0.0f64; 3]);
        nearest_modes(&s, 2, &CENTRES, &mut m, &mut d).unwrap();
        assert_eq!(m, [3, 0, 2]);
        assert_eq!(d, [1.25, 50.0, 4.0]);
        // the same assignment as the histogram
        let mut c = [0u32; 4];
        nearest_mode_counts(&s, 2, &CENTRES, &mut c).unwrap();
        assert_eq!(c, [1, 0, 1, 1]);
    }

    #[test]
    fn nearest_modes_spread_of_unit_gaussians() {
        // Unit-variance Gaussians around centres 10 apart: the mean squared distance to the
        // nearest centre is the dimension (2), up to sampling error (sd 2/√n ≈ 0.014) and
        // the rare sample nearer another centre; a scale of 1.5 gives 2 · 2.25.
        let n = 20_000;
        let mut rng = crate::rng::seeded(11);
        for (scale, want) in [(1.0f32, 2.0f64), (1.5, 4.5)] {
            let mut s = std::vec![0.0f32; 2 * n];
            crate::rng::fill_standard_normal(&mut rng, &mut s);
            for (i, p) in s.chunks_exact_mut(2).enumerate() {
                let c = &CENTRES[2 * (i % 4)..2 * (i % 4) + 2];
                p[0] = c[0] + scale * p[0];
                p[1] = c[1] + scale * p[1];
            }
            let (mut m, mut d) = (std::vec![0u32; n], std::vec![0.0f64; n]);
            nearest_modes(&s, 2, &CENTRES, &mut m, &mut d).unwrap();
            let mean = d.iter().sum::<f64>() / n as f64;
            assert!((mean - want).abs() < 0.05 * want, "scale {scale}: {mean}");
            let right = m.iter().enumerate().filter(|&(i, &k)| k as usize == i % 4);
            assert!(right.count() > n * 99 / 100);
        }
    }

    #[test]
    fn validation() {
        let mut c = [0u32; 3];
        assert!(matches!(
            entropic_mode_coverage(&[0.0, 0.0], 2, &CENTRES, &mut c),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            emc_from_counts(&[3]),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            emc_from_counts(&[0, 0]),
            Err(Error::Degenerate(_))
        ));
        let mut c4 = [0u32; 4];
        assert!(matches!(
            entropic_mode_coverage(&[f32::NAN, 0.0], 2, &CENTRES, &mut c4),
            Err(Error::NonFinite(_))
        ));
        let (mut m, mut d) = ([0u32; 2], [0.0f64; 1]);
        assert!(matches!(
            nearest_modes(&[0.0, 0.0], 2, &CENTRES, &mut m, &mut d),
            Err(Error::ShapeMismatch { .. })
        ));
        let mut m1 = [0u32; 1];
        assert!(matches!(
            nearest_modes(&[f32::INFINITY, 0.0], 2, &CENTRES, &mut m1, &mut d),
            Err(Error::NonFinite(_))
        ));
    }
}
