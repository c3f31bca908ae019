//! Exact 2-Wasserstein distance between two equal-size point clouds, as in the particle
//! benchmarks of DEM and VGS (Yoon et al. 2025, report B4: `√(ot.emd2)` with the
//! squared-Euclidean cost and uniform weights, 2000 vs 2000 samples).
//!
//! With uniform weights on `n` points each, the optimal plan is a permutation (Birkhoff), so
//!
//! ```text
//! W₂(X, Y) = √( min_σ (1/n) Σᵢ ‖xᵢ − y_σ(i)‖² )
//! ```
//!
//! solved exactly by the Hungarian algorithm with potentials (Kuhn 1955; the
//! shortest-augmenting-path form of Jonker & Volgenant 1987), `O(n³)` time, costs computed on
//! the fly in `f64`, no cost matrix stored.

use crate::error::{Error, check_min_len};
use crate::math;

use super::sinkhorn::cloud_len;

/// Lengths of the `f64` and `usize` workspaces [`w2_exact`] needs for `n` points:
/// `3(n + 1)` and `3(n + 1)`.
pub const fn w2_workspace_len(n: usize) -> (usize, usize) {
    (3 * (n + 1), 3 * (n + 1))
}

/// `W₂` between `x` and `y` (`[n, dim]` each; module docs).
///
/// # Errors
/// [`Error::InvalidConfig`] if `dim == 0`; [`Error::ShapeMismatch`] if a length is not a
/// multiple of `dim`, the clouds differ in size or a workspace is too short;
/// [`Error::Degenerate`] for empty clouds; [`Error::NonFinite`] for a non-finite coordinate.
pub fn w2_exact(
    x: &[f32],
    y: &[f32],
    dim: usize,
    ws_f64: &mut [f64],
    ws_idx: &mut [usize],
) -> Result<f64, Error> {
    let n = cloud_len("x", x, dim)?;
    let m = cloud_len("y", y, dim)?;
    if m != n {
        return Err(Error::ShapeMismatch {
            what: "w2 clouds must have equal sizes",
            expected: n,
            got: m,
        });
    }
    let (lf, li) = w2_workspace_len(n);
    check_min_len("w2 f64 workspace", lf, ws_f64.len())?;
    check_min_len("w2 index workspace", li, ws_idx.len())?;
    let cost = |i: usize, j: usize| -> f64 {
        let (a, b) = (&x[(i - 1) * dim..i * dim], &y[(j - 1) * dim..j * dim]);
        math::sq_dist(a, b)
    };
    let (u, rest) = ws_f64.split_at_mut(n + 1);
    let (v, rest) = rest.split_at_mut(n + 1);
    let minv = &mut rest[..n + 1];
    let (p, rest) = ws_idx.split_at_mut(n + 1);
    let (way, rest) = rest.split_at_mut(n + 1);
    // used[j] == i  ⇔  column j is in the alternating tree of row i's augmentation
    let used = &mut rest[..n + 1];
    u.fill(0.0);
    v.fill(0.0);
    p.fill(0);
    way.fill(0);
    used.fill(0);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.fill(f64::INFINITY);
        let mut used_count = 0usize;
        loop {
            used[j0] = i;
            used_count += 1;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=n {
                if used[j] == i {
                    continue;
                }
                let cur = cost(i0, j) - u[i0] - v[j];
                if cur < minv[j] {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if minv[j] < delta {
                    delta = minv[j];
                    j1 = j;
                }
            }
            if !delta.is_finite() || j1 == 0 {
                return Err(Error::NonFinite("w2 assignment"));
            }
            for j in 0..=n {
                if used[j] == i {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 || used_count > n + 1 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut total = 0.0f64;
    for j in 1..=n {
        total += cost(p[j], j);
    }
    Ok(math::sqrt(total / n as f64))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{fill_standard_normal, seeded};
    use std::vec;

    fn run(x: &[f32], y: &[f32], d: usize) -> f64 {
        let n = x.len() / d;
        let (a, b) = w2_workspace_len(n);
        w2_exact(x, y, d, &mut vec![0.0; a], &mut vec![0; b]).unwrap()
    }

    #[test]
    fn hand_cases() {
        // 1-D: the optimum matches sorted orders
        let x = [0.0f32, 3.0, 1.0];
        let y = [2.0f32, 1.5, 5.0];
        // sorted: (0,1.5),(1,2),(3,5): (2.25 + 1 + 4)/3
        assert!((run(&x, &y, 1) - (7.25f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(run(&x, &x, 1).abs() < 1e-12);
    }

    #[test]
    fn translation_and_brute_force() {
        let mut r = seeded(4);
        let mut x = vec![0.0f32; 12];
        fill_standard_normal(&mut r, &mut x);
        let y: std::vec::Vec<f32> = x.iter().map(|v| v + 0.5).collect();
        // translating every point by (0.5, 0.5): W2 = |shift| = 0.5·√2
        assert!((run(&x, &y, 2) - 0.5 * 2f64.sqrt()).abs() < 1e-6);
        // brute force over all permutations of 5 points in 3-D
        let mut a = vec![0.0f32; 15];
        let mut b = vec![0.0f32; 15];
        fill_standard_normal(&mut r, &mut a);
        fill_standard_normal(&mut r, &mut b);
        let mut best = f64::INFINITY;
        let mut perm = [0usize, 1, 2, 3, 4];
        fn next(p: &mut [usize]) -> bool {
            let n = p.len();
            let Some(i) = (0..n - 1).rev().find(|&i| p[i] < p[i + 1]) else {
                return false;
            };
            let j = (i + 1..n).rev().find(|&j| p[j] > p[i]).unwrap();
            p.swap(i, j);
            p[i + 1..].reverse();
            true
        }
        loop {
            let c: f64 = (0..5)
                .map(|i| {
                    (0..3)
                        .map(|k| {
                            let d = a[i * 3 + k] as f64 - b[perm[i] * 3 + k] as f64;
                            d * d
                        })
                        .sum::<f64>()
                })
                .sum();
            best = best.min(c);
            if !next(&mut perm) {
                break;
            }
        }
        assert!((run(&a, &b, 3) - (best / 5.0).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn validation() {
        let (a, b) = w2_workspace_len(2);
        let (mut f, mut i) = (vec![0.0; a], vec![0; b]);
        assert!(w2_exact(&[0.0; 4], &[0.0; 2], 2, &mut f, &mut i).is_err());
        assert!(w2_exact(&[0.0; 4], &[0.0; 4], 0, &mut f, &mut i).is_err());
        assert!(w2_exact(&[f32::NAN; 4], &[0.0; 4], 2, &mut f, &mut i).is_err());
        assert!(w2_exact(&[0.0; 6], &[0.0; 6], 2, &mut f, &mut i).is_err());
    }
}
