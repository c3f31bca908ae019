//! Equal-weight 2-D Gaussian mixtures with means on a square grid: 9GMM and 25GMM.

use super::{LogDensity, check_len, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::math::{self, LN_2PI};
use crate::rng::{Rng, standard_normal, uniform_f64};

/// Largest grid side (so at most 49 components, held in fixed-size stack arrays).
const MAX_SIDE: usize = 7;

/// An equal-weight mixture of `n²` isotropic 2-D Gaussians with means on a centred square
/// grid, normalised (`log Z = 0`).
///
/// ```text
/// c_i = (i − (n − 1)/2)·s,  i = 0..n            (grid coordinates, spacing s)
/// component k = i·n + j has mean (c_i, c_j) and covariance v·I₂
/// log p(x) = LSE_k [ −‖x − m_k‖² / (2v) ] − ln n² − ln(2π v)
/// ∇ log p(x) = Σ_k w_k (m_k − x) / v,  w_k = softmax_k(−‖x − m_k‖² / (2v))
/// ```
///
/// - [`GridGmm::nine`] (registry `9gmm`): `n = 3`, `s = 5` (means `{−5, 0, 5}²`), `v = 0.3`;
///   the "grid" target of the Value Gradient Sampler (Yoon et al. 2025,
///   `vgs/energy/gauss.py`) and gfn-diffusion's 9GMM.
/// - [`GridGmm::twenty_five`] (registry `25gmm`): `n = 5`, `s = 5` (means
///   `{−10, −5, 0, 5, 10}²`), `v = 0.3`; gfn-diffusion (Sendera et al. 2024)
///   `energies/twenty_five_gmm.py`, adaptive teachers (Kim et al. 2025).
///
/// **Sampler** (exact): component `k = ⌊n² u⌋` (uniform multinomial choice), then
/// `x = m_k + √v z`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridGmm {
    n_side: usize,
    spacing: f64,
    var: f64,
    std: f64,
    log_norm: f64,
}

impl GridGmm {
    /// Largest grid side `n` (7, so at most 49 components in fixed-size stack arrays).
    pub const MAX_SIDE: usize = MAX_SIDE;

    /// A grid mixture with `n_side²` components, grid spacing `spacing` and per-coordinate
    /// variance `var`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `1 ≤ n_side ≤ 7` and `spacing`, `var` are finite and
    /// positive.
    pub fn new(n_side: usize, spacing: f64, var: f64) -> Result<Self, Error> {
        if n_side == 0 || n_side > MAX_SIDE {
            return Err(Error::InvalidConfig("grid gmm: n_side must be in 1..=7"));
        }
        if !(spacing.is_finite() && spacing > 0.0) {
            return Err(Error::InvalidConfig(
                "grid gmm: spacing must be finite and > 0",
            ));
        }
        if !(var.is_finite() && var > 0.0) {
            return Err(Error::InvalidConfig("grid gmm: var must be finite and > 0"));
        }
        let k = (n_side * n_side) as f64;
        Ok(Self {
            n_side,
            spacing,
            var,
            std: math::sqrt(var),
            log_norm: math::ln(k) + LN_2PI + math::ln(var),
        })
    }

    /// 9GMM: means `{−5, 0, 5}²`, variance 0.3.
    pub fn nine() -> Self {
        Self::fixed(3)
    }

    /// 25GMM: means `{−10, −5, 0, 5, 10}²`, variance 0.3.
    pub fn twenty_five() -> Self {
        Self::fixed(5)
    }

    fn fixed(n_side: usize) -> Self {
        let var = 0.3;
        Self {
            n_side,
            spacing: 5.0,
            var,
            std: math::sqrt(var),
            log_norm: math::ln((n_side * n_side) as f64) + LN_2PI + math::ln(var),
        }
    }

    /// Number of components `n²`.
    pub fn n_components(&self) -> usize {
        self.n_side * self.n_side
    }

    /// Grid side `n`.
    pub fn n_side(&self) -> usize {
        self.n_side
    }

    /// Per-coordinate variance `v` of each component.
    pub fn var(&self) -> f64 {
        self.var
    }

    /// Mean of component `k = i·n + j`: `(c_i, c_j)`; `None` when `k ≥ n²`.
    pub fn mean(&self, k: usize) -> Option<[f64; 2]> {
        if k >= self.n_components() {
            return None;
        }
        Some([self.coord(k / self.n_side), self.coord(k % self.n_side)])
    }

    /// The component whose mean is nearest to `(x₀, x₁)` (for mode coverage).
    pub fn nearest_component(&self, x0: f32, x1: f32) -> usize {
        let idx = |v: f32| -> usize {
            let half = (self.n_side as f64 - 1.0) * 0.5;
            let t = math::floor(v as f64 / self.spacing + half + 0.5);
            if t.is_nan() || t <= 0.0 {
                0
            } else if t >= (self.n_side - 1) as f64 {
                self.n_side - 1
            } else {
                t as usize
            }
        };
        idx(x0) * self.n_side + idx(x1)
    }

    #[inline]
    fn coord(&self, i: usize) -> f64 {
        (i as f64 - (self.n_side as f64 - 1.0) * 0.5) * self.spacing
    }

    /// Log-terms `−‖x − m_k‖² / (2v)` for `k < n²` and their maximum.
    #[inline]
    fn terms(&self, x0: f64, x1: f64, t: &mut [f64; MAX_SIDE * MAX_SIDE]) -> f64 {
        let n = self.n_side;
        let inv = 0.5 / self.var;
        // squared offsets per axis, computed once per grid coordinate
        let mut d0 = [0.0f64; MAX_SIDE];
        let mut d1 = [0.0f64; MAX_SIDE];
        for i in 0..n {
            let c = self.coord(i);
            d0[i] = (x0 - c) * (x0 - c);
            d1[i] = (x1 - c) * (x1 - c);
        }
        let mut mx = f64::NEG_INFINITY;
        for (k, tk) in t.iter_mut().take(n * n).enumerate() {
            *tk = -(d0[k / n] + d1[k % n]) * inv;
            if *tk > mx {
                mx = *tk;
            }
        }
        mx
    }
}

/// The first two coordinates (the length contract is `debug_assert`ed by the callers).
#[inline]
fn xy(x: &[f32]) -> (f64, f64) {
    match x {
        [a, b, ..] => (*a as f64, *b as f64),
        _ => (f64::NAN, f64::NAN),
    }
}

impl LogDensity for GridGmm {
    fn dim(&self) -> usize {
        2
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, 2, || {
            let (x0, x1) = xy(x);
            let mut t = [0.0f64; MAX_SIDE * MAX_SIDE];
            let mx = self.terms(x0, x1, &mut t);
            let s: f64 = t[..self.n_components()]
                .iter()
                .map(|&v| math::exp(v - mx))
                .sum();
            mx + math::ln(s) - self.log_norm
        })
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, 2, |grad| {
            let (x0, x1) = xy(x);
            let n = self.n_side;
            let mut t = [0.0f64; MAX_SIDE * MAX_SIDE];
            let mx = self.terms(x0, x1, &mut t);
            let (mut s, mut a0, mut a1) = (0.0f64, 0.0f64, 0.0f64);
            for (k, &tk) in t.iter().take(n * n).enumerate() {
                let w = math::exp(tk - mx);
                s += w;
                a0 += w * self.coord(k / n);
                a1 += w * self.coord(k % n);
            }
            if let [g0, g1, ..] = grad {
                *g0 = finite_grad((a0 / s - x0) / self.var);
                *g1 = finite_grad((a1 / s - x1) / self.var);
            }
            mx + math::ln(s) - self.log_norm
        })
    }

    fn log_z(&self) -> Option<f64> {
        Some(0.0)
    }

    fn has_sampler(&self) -> bool {
        true
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        check_len("out", 2, out.len())?;
        let nk = self.n_components();
        let k = ((uniform_f64(rng) * nk as f64) as usize).min(nk - 1);
        let m0 = self.coord(k / self.n_side);
        let m1 = self.coord(k % self.n_side);
        let z0 = standard_normal(rng);
        let z1 = standard_normal(rng);
        if let [o0, o1] = out {
            *o0 = (m0 + self.std * z0) as f32;
            *o1 = (m1 + self.std * z1) as f32;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;
    use crate::targets::testutil::*;
    use std::vec;

    #[test]
    fn means_and_value() {
        let t = GridGmm::nine();
        assert_eq!(t.mean(0), Some([-5.0, -5.0]));
        assert_eq!(t.mean(5), Some([0.0, 5.0]));
        assert_eq!(t.mean(9), None);
        let t25 = GridGmm::twenty_five();
        assert_eq!(t25.mean(24), Some([10.0, 10.0]));
        assert_eq!(t25.mean(12), Some([0.0, 0.0]));
        assert_eq!(t25, GridGmm::new(5, 5.0, 0.3).unwrap());
        // at a mean, far from the others: ≈ log(1/25 · 1/(2π·0.3))
        let lp = t25.log_density(&[5.0, -10.0]) as f64;
        let want = -(25.0f64).ln() - (2.0 * core::f64::consts::PI * 0.3).ln();
        assert!((lp - want).abs() < 1e-5, "{lp} vs {want}");
        assert_eq!(t25.nearest_component(4.0, -9.0), 3 * 5);
        assert_eq!(t25.nearest_component(-100.0, 100.0), 4);
        // 2.4 is nearer 0 (index 1), 2.6 nearer 5 (index 2)
        assert_eq!(t.nearest_component(2.4, 2.6), 3 + 2);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = seeded(12);
        for t in [GridGmm::nine(), GridGmm::twenty_five()] {
            for _ in 0..8 {
                let x = [
                    (uniform_f64(&mut rng) * 24.0 - 12.0) as f32,
                    (uniform_f64(&mut rng) * 24.0 - 12.0) as f32,
                ];
                check_grad(&t, &x, 1e-3, 1e-2, 1e-2);
            }
        }
    }

    #[test]
    fn normalisers_by_quadrature() {
        for (t, hi, n) in [
            (GridGmm::nine(), 10.0, 401),
            (GridGmm::twenty_five(), 15.0, 601),
        ] {
            let lz = log_integral_2d(&t, -hi, hi, n);
            assert!(lz.abs() < 1e-5, "log Z {lz}");
        }
    }

    #[test]
    fn sampler_moments_and_modes() {
        for (t, seed) in [(GridGmm::nine(), 1u64), (GridGmm::twenty_five(), 2)] {
            let n = 40_000;
            let mut xs = vec![0.0f32; 2 * n];
            crate::targets::sample_batch(&t, &mut seeded(seed), &mut xs).unwrap();
            let nn = t.n_side();
            let cs: std::vec::Vec<f64> = (0..nn).map(|i| t.coord(i)).collect();
            let vm = cs.iter().map(|c| c * c).sum::<f64>() / nn as f64;
            let var = 0.3 + vm;
            let mu4 = cs
                .iter()
                .map(|c| c.powi(4) + 6.0 * c * c * 0.3 + 3.0 * 0.09)
                .sum::<f64>()
                / nn as f64;
            for j in 0..2 {
                assert_moments("grid gmm", column_moments(&xs, 2, j), 0.0, var, mu4, n);
            }
            let k = t.n_components();
            let mut counts = [0usize; 49];
            for r in xs.chunks_exact(2) {
                counts[t.nearest_component(r[0], r[1])] += 1;
            }
            let p = 1.0 / k as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            for &c in &counts[..k] {
                assert!((c as f64 / n as f64 - p).abs() < 5.0 * se, "{counts:?}");
            }
        }
    }

    #[test]
    fn invalid_settings() {
        assert!(GridGmm::new(0, 5.0, 0.3).is_err());
        assert!(GridGmm::new(8, 5.0, 0.3).is_err());
        assert!(GridGmm::new(3, 0.0, 0.3).is_err());
        assert!(GridGmm::new(3, 5.0, -1.0).is_err());
        assert!(GridGmm::new(3, f64::NAN, 0.3).is_err());
    }
}
