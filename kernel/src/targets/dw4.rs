//! DW-4: four particles in 2-D interacting through a double-well pair potential.

use super::{LogDensity, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::math;
use crate::rng::Rng;

/// Number of particles.
const N: usize = 4;
/// Spatial dimension of each particle.
const D: usize = 2;
/// Quartic coefficient `a`.
const A: f64 = 0.9;
/// Quadratic coefficient `b`.
const B: f64 = -4.0;
/// Distance offset `r₀`.
const R0: f64 = 4.0;

/// DW-4 (Köhler, Klein & Noé 2020; DEM, Akhound-Sadegh et al. 2024; VGS
/// `vgs/energy/DW4.py`, from `bgflow`'s `MultiDoubleWellPotential`): 4 particles in 2-D,
/// `d = 8`, `x = (x₁, y₁, …, x₄, y₄)`, with energy over **unordered** pairs
///
/// ```text
/// E(x) = Σ_{i<j} [ a (r_ij − r₀)⁴ + b (r_ij − r₀)² ],   a = 0.9, b = −4, r₀ = 4 (c = 0)
/// log p̃(x) = −E(x)
/// ∇_{x_i} log p̃ = −Σ_{j≠i} E'(r_ij) (x_i − x_j) / r_ij,   E'(r) = 4a(r − r₀)³ + 2b(r − r₀)
/// ```
///
/// `E` is invariant under translations, rotations, reflections and particle permutations,
/// so `p̃` is not integrable (`log Z` is unknown/infinite without removing the centre of
/// mass) and there is no exact sampler ([`LogDensity::sample`] returns
/// [`Error::Unsupported`]; reference samples come from MCMC data sets in the source repos).
///
/// **Coincident particles.** At `r_ij = 0` the energy is finite (`a r₀⁴ + b r₀² = 166.4`)
/// but the direction `(x_i − x_j)/r_ij` is undefined; the pair's gradient contribution is
/// defined as **0** there (any other choice would break the permutation symmetry).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dw4;

impl Dw4 {
    /// Number of particles.
    pub const N_PARTICLES: usize = N;
    /// Spatial dimension per particle.
    pub const SPATIAL_DIM: usize = D;

    /// The DW-4 target (no settings).
    pub fn new() -> Self {
        Self
    }

    /// The pair energy `a(r − r₀)⁴ + b(r − r₀)²` and its derivative in `r`.
    #[inline]
    pub fn pair(r: f64) -> (f64, f64) {
        let s = r - R0;
        let s2 = s * s;
        (A * s2 * s2 + B * s2, 4.0 * A * s2 * s + 2.0 * B * s)
    }

    /// The energy `E(x)` in `f64` (`x.len() == 8` is `debug_assert`ed).
    pub fn energy(&self, x: &[f32]) -> f64 {
        debug_assert_eq!(x.len(), N * D);
        let p = positions(x);
        let mut e = 0.0;
        for i in 0..N {
            for j in i + 1..N {
                let (dx, dy) = (p[i][0] - p[j][0], p[i][1] - p[j][1]);
                e += Self::pair(math::sqrt(dx * dx + dy * dy)).0;
            }
        }
        e
    }
}

/// The 4 particle positions in `f64` (missing coordinates, only possible when the length
/// contract is broken, read as 0).
#[inline]
fn positions(x: &[f32]) -> [[f64; D]; N] {
    let mut p = [[0.0f64; D]; N];
    for (pi, c) in p.iter_mut().zip(x.chunks_exact(D)) {
        for (v, &s) in pi.iter_mut().zip(c) {
            *v = s as f64;
        }
    }
    p
}

impl LogDensity for Dw4 {
    fn dim(&self) -> usize {
        N * D
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, N * D, || -self.energy(x))
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, N * D, |grad| {
            let p = positions(x);
            let mut g = [[0.0f64; D]; N];
            let mut e = 0.0;
            for i in 0..N {
                for j in i + 1..N {
                    let (dx, dy) = (p[i][0] - p[j][0], p[i][1] - p[j][1]);
                    let r = math::sqrt(dx * dx + dy * dy);
                    let (ep, dep) = Self::pair(r);
                    e += ep;
                    if r > 0.0 {
                        // ∂E/∂x_i = E'(r)(x_i − x_j)/r; log p̃ = −E
                        let f = dep / r;
                        g[i][0] -= f * dx;
                        g[i][1] -= f * dy;
                        g[j][0] += f * dx;
                        g[j][1] += f * dy;
                    }
                }
            }
            for (o, v) in grad.iter_mut().zip(g.iter().flatten()) {
                *o = finite_grad(*v);
            }
            -e
        })
    }

    fn log_z(&self) -> Option<f64> {
        None
    }

    fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
        Err(Error::Unsupported("dw4 has no exact sampler"))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{seeded, standard_normal, uniform_f64};
    use crate::targets::testutil::*;

    /// A random configuration with particles spread over a few units (well separated).
    fn config(rng: &mut crate::rng::Xoshiro256PlusPlus) -> [f32; 8] {
        let mut x = [0.0f32; 8];
        for v in x.iter_mut() {
            *v = (2.5 * standard_normal(rng)) as f32;
        }
        x
    }

    #[test]
    fn energy_of_a_square() {
        // a square of side 4: four edges at r = r₀ (energy 0), two diagonals at 4√2
        let x = [0.0f32, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0];
        let s = 4.0 * 2.0f64.sqrt() - 4.0;
        let want = 2.0 * (0.9 * s.powi(4) - 4.0 * s * s);
        assert!((Dw4.energy(&x) - want).abs() < 1e-12);
        assert!((want - -8.396_642).abs() < 1e-5, "{want}");
        assert!((Dw4.log_density(&x) as f64 + want).abs() < 1e-5);
        // all particles at one point: 6 pairs at r = 0, 6(a r₀⁴ + b r₀²) = 998.4
        let x = [1.0f32; 8];
        let mut g = [9.0f32; 8];
        let lp = Dw4.log_density_grad(&x, &mut g);
        assert!((lp as f64 + 998.4).abs() < 1e-3);
        assert_eq!(g, [0.0; 8]);
        let mut out = [0.0f32; 8];
        assert!(matches!(
            Dw4.sample(&mut seeded(0), &mut out),
            Err(Error::Unsupported(_))
        ));
        assert!(Dw4.log_z().is_none() && !Dw4.has_sampler());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = seeded(51);
        for _ in 0..8 {
            let x = config(&mut rng);
            check_grad(&Dw4, &x, 1e-3, 1e-2, 2e-2);
        }
    }

    #[test]
    fn energy_is_invariant_under_rigid_motions_and_permutations() {
        let mut rng = seeded(52);
        for _ in 0..10 {
            let x = config(&mut rng);
            let e = Dw4.energy(&x);
            let th = uniform_f64(&mut rng) * core::f64::consts::TAU;
            let (c, s) = (th.cos(), th.sin());
            let (tx, ty) = (
                standard_normal(&mut rng) * 3.0,
                standard_normal(&mut rng) * 3.0,
            );
            let mut y = [0.0f32; 8];
            for i in 0..4 {
                let (a, b) = (x[2 * i] as f64, x[2 * i + 1] as f64);
                y[2 * i] = (c * a - s * b + tx) as f32;
                y[2 * i + 1] = (s * a + c * b + ty) as f32;
            }
            let e2 = Dw4.energy(&y);
            assert!(
                (e - e2).abs() < 1e-4 * (1.0 + e.abs()),
                "rotation: {e} vs {e2}"
            );
            // permutation (3, 0, 2, 1) and reflection y → −y
            let perm = [3usize, 0, 2, 1];
            let mut z = [0.0f32; 8];
            for (k, &i) in perm.iter().enumerate() {
                z[2 * k] = x[2 * i];
                z[2 * k + 1] = -x[2 * i + 1];
            }
            let e3 = Dw4.energy(&z);
            assert!(
                (e - e3).abs() < 1e-12 * (1.0 + e.abs()),
                "permutation: {e} vs {e3}"
            );
        }
    }
}
