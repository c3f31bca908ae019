//! ManyWell: a product of `d/2` independent 2-D double wells.

use super::{LogDensity, check_len, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::math::{self, LN_2PI};
use crate::rng::{Rng, standard_normal, uniform_open_f64};

/// `Z_{x₁} = ∫ exp(−x⁴ + 6x² + 0.5x) dx` (gfn-diffusion `many_well.py`).
const Z_X1: f64 = 11_784.509_27;
/// Mixture weight of the right proposal component `N(1.7, 0.5²)` (the left one has 0.2).
const PROPOSAL_RIGHT_WEIGHT: f64 = 0.8;
/// Centre of the proposal components `N(±1.7, 0.5²)`.
const PROPOSAL_CENTRE: f64 = 1.7;
/// Standard deviation of the proposal components.
const PROPOSAL_STD: f64 = 0.5;
/// Envelope constant `k = 3 Z_{x₁}`: `p̃(x) ≤ k q(x)` for all `x`.
const ENVELOPE: f64 = 3.0 * Z_X1;

/// ManyWell-`d` (`d` even): a product of `d/2` double wells over the pairs
/// `(x_{2i}, x_{2i+1})`, unnormalised:
///
/// ```text
/// log p̃(x) = Σ_pairs [ −a⁴ + 6a² + 0.5a − 0.5b² ],       (a, b) = (x_{2i}, x_{2i+1})
/// ∂/∂a = −4a³ + 12a + 0.5,   ∂/∂b = −b
/// log Z = (d/2) (ln Z_{x₁} + ½ ln 2π),   Z_{x₁} = 11784.50927
/// ```
///
/// `log Z = 164.69567532` at `d = 32` (the value gfn-diffusion's `train.py` uses) and
/// `329.3913506` at `d = 64`. Each `a` has two modes (near −1.7 and +1.7, the right one
/// heavier), so there are `2^{d/2}` modes. Source: gfn-diffusion (Sendera et al. 2024)
/// `energies/many_well.py`; RSMC (Choi et al. 2025) `targets/many_well.py`; originally Noé
/// et al. 2019 (Boltzmann generators) / FAB (Midgley et al. 2023).
///
/// **Sampler** (exact, as gfn-diffusion's): `b ~ N(0, 1)`; `a` by rejection from the
/// proposal `q = 0.2·N(−1.7, 0.5²) + 0.8·N(1.7, 0.5²)` with envelope `k = 3 Z_{x₁}`,
/// accepting a proposal `a` with probability `p̃(a) / (k q(a))`. The acceptance rate is
/// `Z_{x₁}/k = 1/3`. The loop is **bounded** by [`ManyWell::MAX_REJECTION_TRIES`] proposals
/// per coordinate: the chance of reaching the cap is `(2/3)^{1000} < 10^{−176}`, and if it
/// ever happens [`LogDensity::sample`] returns [`Error::NotConverged`] rather than loop on.
/// (That `p̃ ≤ k q` everywhere is checked numerically on a fine grid in the tests.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ManyWell {
    dim: usize,
}

impl ManyWell {
    /// `Z_{x₁} = ∫ exp(−x⁴ + 6x² + 0.5x) dx = 11784.50927` (gfn-diffusion `many_well.py`).
    pub const Z_X1: f64 = Z_X1;
    /// Proposal cap per coordinate of the rejection sampler.
    pub const MAX_REJECTION_TRIES: u32 = 1000;

    /// ManyWell in `dim` dimensions.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `dim` is even and `≥ 2`.
    pub fn new(dim: usize) -> Result<Self, Error> {
        if dim < 2 || !dim.is_multiple_of(2) {
            return Err(Error::InvalidConfig("manywell: dim must be even and >= 2"));
        }
        Ok(Self { dim })
    }

    /// `log p̃₁(a) = −a⁴ + 6a² + 0.5a`, the unnormalised log density of one well coordinate.
    #[inline]
    pub fn log_well(a: f64) -> f64 {
        let a2 = a * a;
        -a2 * a2 + 6.0 * a2 + 0.5 * a
    }

    /// `ln q(a)` of the rejection proposal `0.2·N(−1.7, 0.5²) + 0.8·N(1.7, 0.5²)`.
    #[inline]
    pub fn log_proposal(a: f64) -> f64 {
        let v = PROPOSAL_STD * PROPOSAL_STD;
        let l =
            math::ln(1.0 - PROPOSAL_RIGHT_WEIGHT) + math::normal_log_pdf(a, -PROPOSAL_CENTRE, v);
        let r = math::ln(PROPOSAL_RIGHT_WEIGHT) + math::normal_log_pdf(a, PROPOSAL_CENTRE, v);
        let m = if l > r { l } else { r };
        m + math::ln(math::exp(l - m) + math::exp(r - m))
    }

    /// `ln k = ln(3 Z_{x₁})`, the log envelope constant of the rejection sampler.
    pub fn log_envelope() -> f64 {
        math::ln(ENVELOPE)
    }

    /// One exact draw of a well coordinate `a ∝ exp(−a⁴ + 6a² + 0.5a)` by rejection.
    ///
    /// # Errors
    /// [`Error::NotConverged`] after [`ManyWell::MAX_REJECTION_TRIES`] rejections in a row.
    pub fn sample_well<R: Rng + ?Sized>(rng: &mut R) -> Result<f64, Error> {
        let ln_k = Self::log_envelope();
        for _ in 0..Self::MAX_REJECTION_TRIES {
            let centre = if uniform_open_f64(rng) < 1.0 - PROPOSAL_RIGHT_WEIGHT {
                -PROPOSAL_CENTRE
            } else {
                PROPOSAL_CENTRE
            };
            let a = centre + PROPOSAL_STD * standard_normal(rng);
            let log_ratio = Self::log_well(a) - ln_k - Self::log_proposal(a);
            if math::ln(uniform_open_f64(rng)) < log_ratio {
                return Ok(a);
            }
        }
        Err(Error::NotConverged {
            what: "manywell rejection sampler",
            iterations: Self::MAX_REJECTION_TRIES,
        })
    }
}

impl LogDensity for ManyWell {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, self.dim, || {
            let lp: f64 = x
                .chunks_exact(2)
                .map(|p| {
                    let b = p[1] as f64;
                    Self::log_well(p[0] as f64) - 0.5 * b * b
                })
                .sum();
            lp
        })
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, self.dim, |grad| {
            let mut lp = 0.0f64;
            for (p, g) in x.chunks_exact(2).zip(grad.chunks_exact_mut(2)) {
                let (a, b) = (p[0] as f64, p[1] as f64);
                lp += Self::log_well(a) - 0.5 * b * b;
                g[0] = finite_grad(-4.0 * a * a * a + 12.0 * a + 0.5);
                g[1] = finite_grad(-b);
            }
            lp
        })
    }

    fn log_z(&self) -> Option<f64> {
        Some(0.5 * self.dim as f64 * (math::ln(Z_X1) + 0.5 * LN_2PI))
    }

    fn has_sampler(&self) -> bool {
        true
    }

    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong `out` length; [`Error::NotConverged`] if a
    /// rejection loop hits its cap (probability below `10^{−176}` per coordinate).
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        check_len("out", self.dim, out.len())?;
        for p in out.chunks_exact_mut(2) {
            p[0] = Self::sample_well(rng)? as f32;
            p[1] = standard_normal(rng) as f32;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{seeded, uniform_f64};
    use crate::targets::testutil::*;
    use std::vec;
    use std::vec::Vec;

    /// Moments 0..=4 of exp(log_well) by Simpson quadrature on [−6, 6].
    fn well_moments() -> [f64; 5] {
        let mut m = [0.0f64; 5];
        for (a, w) in simpson(-6.0, 6.0, 24_001) {
            let p = w * ManyWell::log_well(a).exp();
            for (k, mk) in m.iter_mut().enumerate() {
                *mk += p * a.powi(k as i32);
            }
        }
        m
    }

    #[test]
    fn log_z_constants() {
        let t = ManyWell::new(32).unwrap();
        assert!((t.log_z().unwrap() - 164.695_675_32).abs() < 1e-6);
        let t = ManyWell::new(64).unwrap();
        assert!((t.log_z().unwrap() - 329.391_350_64).abs() < 1e-6);
        // Z_x1 by independent quadrature of the 1-D well (the b factor is √2π exactly)
        let z = well_moments()[0];
        assert!((z / Z_X1 - 1.0).abs() < 1e-8, "Z_x1 {z}");
    }

    #[test]
    fn one_pair_normaliser_by_2d_quadrature() {
        let t = ManyWell::new(2).unwrap();
        let lz = log_integral_2d(&t, -7.0, 7.0, 1401);
        assert!((lz - t.log_z().unwrap()).abs() < 1e-5, "{lz}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = seeded(31);
        let t = ManyWell::new(8).unwrap();
        for _ in 0..6 {
            let x: Vec<f32> = (0..8)
                .map(|_| (uniform_f64(&mut rng) * 5.0 - 2.5) as f32)
                .collect();
            check_grad(&t, &x, 1e-3, 1e-2, 2e-2);
        }
    }

    #[test]
    fn envelope_dominates_on_a_fine_grid() {
        // p̃(a) ≤ k q(a) on [−8, 8] (outside, −a⁴ falls far faster than the Gaussian tails)
        let ln_k = ManyWell::log_envelope();
        let mut min_gap = f64::INFINITY;
        for i in 0..=160_000 {
            let a = -8.0 + i as f64 * 1e-4;
            let gap = ln_k + ManyWell::log_proposal(a) - ManyWell::log_well(a);
            min_gap = min_gap.min(gap);
        }
        assert!(min_gap > 0.0, "envelope violated: min ln(kq/p) = {min_gap}");
        // and the proposal density itself integrates to 1
        let zq: f64 = simpson(-6.0, 6.0, 6001)
            .iter()
            .map(|&(a, w)| w * ManyWell::log_proposal(a).exp())
            .sum();
        assert!((zq - 1.0).abs() < 1e-9);
    }

    #[test]
    fn rejection_sampler_matches_quadrature() {
        let m = well_moments();
        let mean = m[1] / m[0];
        let var = m[2] / m[0] - mean * mean;
        let mu4 = (m[4] - 4.0 * mean * m[3] + 6.0 * mean * mean * m[2]) / m[0] - 3.0 * mean.powi(4);
        let n = 40_000;
        let t = ManyWell::new(4).unwrap();
        let mut xs = vec![0.0f32; 4 * n];
        crate::targets::sample_batch(&t, &mut seeded(41), &mut xs).unwrap();
        let a: Vec<f32> = xs.chunks_exact(2).map(|p| p[0]).collect();
        let b: Vec<f32> = xs.chunks_exact(2).map(|p| p[1]).collect();
        let na = a.len();
        assert_moments("a", column_moments(&a, 1, 0), mean, var, mu4, na);
        assert_moments("b", column_moments(&b, 1, 0), 0.0, 1.0, 3.0, na);
        // histogram of a against the normalised density: chi-square over 24 bins on [−3, 3]
        let edges: Vec<f64> = (0..=24).map(|i| -3.0 + 0.25 * i as f64).collect();
        let mut obs = [0usize; 24];
        for &v in &a {
            let k = ((v as f64 + 3.0) / 0.25).floor();
            if (0.0..24.0).contains(&k) {
                obs[k as usize] += 1;
            }
        }
        let mut chi2 = 0.0;
        let mut dof = 0;
        for k in 0..24 {
            let p: f64 = simpson(edges[k], edges[k + 1], 201)
                .iter()
                .map(|&(x, w)| w * ManyWell::log_well(x).exp())
                .sum::<f64>()
                / m[0];
            let e = p * na as f64;
            if e >= 5.0 {
                chi2 += (obs[k] as f64 - e).powi(2) / e;
                dof += 1;
            }
        }
        // mean dof, sd √(2 dof); 5 sd above the mean is a generous bound
        let bound = dof as f64 + 5.0 * (2.0 * dof as f64).sqrt();
        assert!(chi2 < bound, "chi2 {chi2} with {dof} bins");
    }

    #[test]
    fn invalid_dims() {
        for d in [0usize, 1, 3, 33] {
            assert!(matches!(ManyWell::new(d), Err(Error::InvalidConfig(_))));
        }
    }
}
