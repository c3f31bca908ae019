//! LJ-13: thirteen Lennard-Jones particles in 3-D with a harmonic tether to their centre.

use nalgebra::Vector3;

use super::{LogDensity, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::rng::Rng;

/// Number of particles.
const N: usize = 13;
/// Spatial dimension of each particle.
const D: usize = 3;

/// LJ-13 in the DEM convention (Akhound-Sadegh et al. 2024; VGS `vgs/energy/LJ13.py`):
/// 13 particles in 3-D, `d = 39`, `x = (x₁, y₁, z₁, …, x₁₃, y₁₃, z₁₃)`.
///
/// ```text
/// E(x) = Σ_{i≠j} ε [ (r_m/r_ij)¹² − 2 (r_m/r_ij)⁶ ]  +  ½ Σ_i ‖x_i − x̄‖²,   ε = r_m = 1
/// log p̃(x) = −E(x)
/// ```
///
/// The Lennard-Jones sum runs over **ordered** pairs: every unordered pair is counted twice
/// (DEM's `energy_factor = 1`; the minimum of one unordered pair is therefore −2, not −1).
/// The second term is DEM's harmonic "oscillator" (scale 1) on the centred positions,
/// `x̄ = (1/13) Σ_i x_i`; its gradient is `−(x_i − x̄)` in `log p̃` because the centring
/// terms cancel.
///
/// **Coincident particles.** `r_ij² ` is clamped below at [`Lj13::R2_FLOOR`]` = 10⁻⁴`
/// (`r_ij ≥ 0.01`, far inside the repulsive wall; physical configurations have
/// `r_ij ≳ 0.8`). Below the floor the pair energy is constant (`≈ 2·10²⁴` per ordered pair,
/// huge but finite in `f32`, so `log p̃ ≈ −10²⁶` at worst, never NaN) and its gradient is 0.
/// The floor is `10⁻⁴` rather than `10⁻⁶` so that the gradient just above the floor
/// (`|∂E/∂x| ~ 24 r⁻¹³ ≈ 2.4·10²⁷`) still fits in `f32`.
///
/// `E` is invariant under translations, rotations, reflections and permutations; `log Z`
/// is unknown (and infinite without removing the centre of mass) and there is no exact
/// sampler ([`LogDensity::sample`] returns [`Error::Unsupported`]).
///
/// Geometry uses `nalgebra::Vector3<f64>` for positions, pair displacements and the
/// per-particle force accumulators (13 stack vectors, no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Lj13;

impl Lj13 {
    /// Number of particles.
    pub const N_PARTICLES: usize = N;
    /// Spatial dimension per particle.
    pub const SPATIAL_DIM: usize = D;
    /// Lower clamp on squared pair distances (see the type documentation).
    pub const R2_FLOOR: f64 = 1e-4;

    /// The LJ-13 target (no settings).
    pub fn new() -> Self {
        Self
    }

    /// The Lennard-Jones energy of one **unordered** pair at squared distance `r2`
    /// (clamped at [`Lj13::R2_FLOOR`]), `u⁻⁶ − 2u⁻³` with `u = max(r2, floor)`, and its
    /// derivative with respect to `r2` (0 below the floor).
    #[inline]
    pub fn pair(r2: f64) -> (f64, f64) {
        let (u, below) = if r2 < Self::R2_FLOOR {
            (Self::R2_FLOOR, true)
        } else {
            (r2, false)
        };
        let inv = 1.0 / u;
        let i3 = inv * inv * inv;
        let i6 = i3 * i3;
        let e = i6 - 2.0 * i3;
        let de = if below {
            0.0
        } else {
            (-6.0 * i6 + 6.0 * i3) * inv
        };
        (e, de)
    }

    /// The energy `E(x)` in `f64` (`x.len() == 39` is `debug_assert`ed).
    pub fn energy(&self, x: &[f32]) -> f64 {
        debug_assert_eq!(x.len(), N * D);
        energy_and_force(x, None)
    }
}

/// Particle positions as `Vector3<f64>` (missing coordinates, only possible when the length
/// contract is broken, read as 0).
#[inline]
fn positions(x: &[f32]) -> [Vector3<f64>; N] {
    let mut p = [Vector3::zeros(); N];
    for (pi, c) in p.iter_mut().zip(x.chunks_exact(D)) {
        *pi = Vector3::new(c[0] as f64, c[1] as f64, c[2] as f64);
    }
    p
}

/// `E(x)`; when `grad` is given, also `∂E/∂x` per particle.
fn energy_and_force(x: &[f32], mut grad: Option<&mut [Vector3<f64>; N]>) -> f64 {
    let p = positions(x);
    let mut e = 0.0;
    for i in 0..N {
        for j in i + 1..N {
            let d = p[i] - p[j];
            let (ep, dep) = Lj13::pair(d.norm_squared());
            // ordered pairs: (i, j) and (j, i)
            e += 2.0 * ep;
            if let Some(g) = grad.as_deref_mut() {
                // ∂(2 φ(‖d‖²))/∂x_i = 2 φ'(‖d‖²) · 2 d
                let f = d * (4.0 * dep);
                g[i] += f;
                g[j] -= f;
            }
        }
    }
    let centre = p.iter().fold(Vector3::zeros(), |a, v| a + v) / N as f64;
    for (i, pi) in p.iter().enumerate() {
        let c = pi - centre;
        e += 0.5 * c.norm_squared();
        if let Some(g) = grad.as_deref_mut() {
            g[i] += c;
        }
    }
    e
}

impl LogDensity for Lj13 {
    fn dim(&self) -> usize {
        N * D
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, N * D, || -energy_and_force(x, None))
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, N * D, |grad| {
            let mut g = [Vector3::zeros(); N];
            let e = energy_and_force(x, Some(&mut g));
            for (o, v) in grad.chunks_exact_mut(D).zip(g.iter()) {
                for (oi, vi) in o.iter_mut().zip(v.iter()) {
                    *oi = finite_grad(-*vi);
                }
            }
            -e
        })
    }

    fn log_z(&self) -> Option<f64> {
        None
    }

    fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
        Err(Error::Unsupported("lj13 has no exact sampler"))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{Xoshiro256PlusPlus, seeded, standard_normal, uniform_f64};
    use crate::targets::testutil::*;
    use nalgebra::{Rotation3, Unit};

    /// A cuboctahedral cluster (centre + 12 neighbours at distance `nn`), jittered.
    fn cluster(rng: &mut Xoshiro256PlusPlus, nn: f64, jitter: f64) -> [f32; 39] {
        let a = nn / 2.0f64.sqrt();
        let mut pts = std::vec![[0.0f64; 3]];
        for s1 in [-a, a] {
            for s2 in [-a, a] {
                pts.push([s1, s2, 0.0]);
                pts.push([s1, 0.0, s2]);
                pts.push([0.0, s1, s2]);
            }
        }
        let mut x = [0.0f32; 39];
        for (k, p) in pts.iter().enumerate() {
            for c in 0..3 {
                x[3 * k + c] = (p[c] + jitter * standard_normal(rng)) as f32;
            }
        }
        x
    }

    #[test]
    fn energy_of_a_line() {
        // 13 particles on the x-axis at spacing 1: separation k occurs (13 − k) times;
        // ordered pairs double it. Oscillator: Σ (i − 6)² / 2 = 91.
        let mut x = [0.0f32; 39];
        for i in 0..13 {
            x[3 * i] = i as f32;
        }
        let lj: f64 = (1..13)
            .map(|k| {
                let r = k as f64;
                2.0 * (13 - k) as f64 * (r.powi(-12) - 2.0 * r.powi(-6))
            })
            .sum();
        let want = lj + 91.0;
        assert!(
            (Lj13.energy(&x) - want).abs() < 1e-10,
            "{} vs {want}",
            Lj13.energy(&x)
        );
        // nearest neighbours give 12 · 2 · (1 − 2) = −24, second neighbours
        // 11 · 2 · (2⁻¹² − 2·2⁻⁶) ≈ −0.682, the rest ≈ −0.04
        assert!(lj < -24.68 && lj > -24.8, "{lj}");
        assert!((Lj13.log_density(&x) as f64 + want).abs() < 1e-4);
    }

    #[test]
    fn coincident_particles_are_finite() {
        let x = [0.25f32; 39];
        let mut g = [1.0f32; 39];
        let lp = Lj13.log_density_grad(&x, &mut g);
        // 78 unordered pairs at the floor: 78 · 2 · (10²⁴ − 2·10¹²)
        let want = -156.0 * (1e24 - 2e12);
        assert!(
            lp.is_finite() && ((lp as f64 - want) / want).abs() < 1e-6,
            "{lp}"
        );
        assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
        // two particles just apart: huge but finite gradient
        let mut x = [0.0f32; 39];
        let mut rng = seeded(60);
        x.copy_from_slice(&cluster(&mut rng, 1.1, 0.0));
        x[3] = x[0] + 0.011;
        x[4] = x[1];
        x[5] = x[2];
        let lp = Lj13.log_density_grad(&x, &mut g);
        assert!(lp.is_finite());
        assert!(g.iter().all(|v| v.is_finite()));
        let mut out = [0.0f32; 39];
        assert!(matches!(
            Lj13.sample(&mut rng, &mut out),
            Err(Error::Unsupported(_))
        ));
        assert!(Lj13.log_z().is_none() && !Lj13.has_sampler());
    }

    #[test]
    fn pair_derivative_and_minimum() {
        let (e, de) = Lj13::pair(1.0);
        assert_eq!((e, de), (-1.0, 0.0));
        let (_, de) = Lj13::pair(0.5 * Lj13::R2_FLOOR);
        assert_eq!(de, 0.0);
        for r2 in [0.7f64, 1.3, 2.5] {
            let h = 1e-6;
            let fd = (Lj13::pair(r2 + h).0 - Lj13::pair(r2 - h).0) / (2.0 * h);
            assert!((fd - Lj13::pair(r2).1).abs() < 1e-5 * (1.0 + fd.abs()));
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = seeded(61);
        for nn in [1.0f64, 1.12, 1.3] {
            let x = cluster(&mut rng, nn, 0.05);
            check_grad(&Lj13, &x, 1e-3, 1e-2, 3e-2);
        }
    }

    #[test]
    fn energy_is_invariant_under_rigid_motions_and_permutations() {
        let mut rng = seeded(62);
        for _ in 0..5 {
            let x = cluster(&mut rng, 1.12, 0.1);
            let e = Lj13.energy(&x);
            let axis = Unit::new_normalize(nalgebra::Vector3::new(
                standard_normal(&mut rng),
                standard_normal(&mut rng),
                standard_normal(&mut rng),
            ));
            let rot =
                Rotation3::from_axis_angle(&axis, uniform_f64(&mut rng) * core::f64::consts::TAU);
            let t = nalgebra::Vector3::new(2.0, -1.0, 0.5);
            let mut y = [0.0f32; 39];
            for i in 0..13 {
                let p = nalgebra::Vector3::new(
                    x[3 * i] as f64,
                    x[3 * i + 1] as f64,
                    x[3 * i + 2] as f64,
                );
                let q = rot * p + t;
                for c in 0..3 {
                    y[3 * i + c] = q[c] as f32;
                }
            }
            let e2 = Lj13.energy(&y);
            assert!(
                (e - e2).abs() < 1e-4 * (1.0 + e.abs()),
                "rigid motion: {e} vs {e2}"
            );
            // reverse the particle order
            let mut z = [0.0f32; 39];
            for i in 0..13 {
                z[3 * i..3 * i + 3].copy_from_slice(&x[3 * (12 - i)..3 * (12 - i) + 3]);
            }
            let e3 = Lj13.energy(&z);
            assert!(
                (e - e3).abs() < 1e-12 * (1.0 + e.abs()),
                "permutation: {e} vs {e3}"
            );
        }
    }
}
