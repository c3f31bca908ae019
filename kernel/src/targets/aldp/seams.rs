//! Where the circular map's seams sit: the same ALDP target with the tanh map of some circular
//! dihedrals centred elsewhere.
//!
//! The seeds map a circular dihedral's offset from the reference structure, `z ∈ (−π, π)`, to
//! `x = atanh(z / (π + 10⁻⁴))`, so the seam (`x → ±∞`) sits at `z = ±180°`. For φ that is
//! 34.2°, inside the αL wells; for ψ it is −29.7°, inside αR (`docs/aldp.md`, "Where the
//! basins sit in x"). [`Aldp::with_seams`] lets the sampler work in `u` with
//! `z = (π + 10⁻⁴)·wrap(tanh u + d)`: the map rotated on its circle so that its seam sits at
//! a chosen offset. The rotation has unit Jacobian and maps the circle onto itself, so the
//! density of `u` is the target's with the same `log Z`, and a zero shift is the seeds' map
//! bit for bit. Sample files still hold the seeds' `x` ([`Aldp::to_seeds`]).

use super::internal::{DIM, IND_CIRC};
use super::target::{Aldp, N_CIRC, atanh, shifted_tanh, wrap_unit};
use crate::error::Error;
use crate::math::{self, PI};

impl Aldp {
    /// The seams of the MD reference, in degrees of offset from the reference structure's
    /// angle, one per [`IND_CIRC`] entry (180: the seeds' seam). A seam moves where the
    /// reference (`results/aldp/reference-x.csv.gz`, 12,975 samples) has fewer than a tenth
    /// of the samples within 15° of the seeds' seam somewhere else; it then sits in the
    /// middle of the longest run of whole-degree offsets with the fewest samples within 15°
    /// (`tests/aldp_coordinates.rs` recomputes it). φ (`x₁₇`) and the two dihedrals about the same
    /// bond (`x₂₆`, `x₂₉`) move to the empty arc at φ ≈ 120°, ψ (`x₄₄`) to its emptiest
    /// angle, ψ ≈ 17°.
    pub const MD_SEAMS: [f64; N_CIRC] = [
        92.0, 180.0, 180.0, 100.0, 98.0, 180.0, 133.0, 180.0, 180.0, 180.0, 180.0, 180.0,
    ];

    /// The per-coordinate scale that goes with [`Aldp::MD_SEAMS`]: the population standard
    /// deviation of each coordinate of the reference's 12,975 samples in the coordinates `u`
    /// of those seams, over `σ = 0.5`, to three decimals (`tests/aldp_coordinates.rs`).
    pub const MD_SEAMS_SCALE: [f32; DIM] = [
        1.172, 1.197, 0.760, 1.174, 0.936, 1.732, 1.219, 0.663, 0.113, 1.188, 0.942, 1.014, 1.195,
        0.939, 1.015, 0.973, 0.777, 0.463, 0.922, 0.632, 0.114, 1.044, 1.023, 0.133, 1.192, 0.872,
        0.457, 1.217, 0.714, 0.453, 1.190, 0.923, 1.351, 1.184, 0.921, 0.990, 1.192, 0.921, 1.002,
        0.916, 0.625, 1.059, 0.980, 0.653, 0.755, 1.055, 1.014, 0.105, 1.178, 0.784, 0.111, 1.193,
        0.936, 1.714, 1.191, 0.944, 1.022, 1.187, 0.941, 1.033,
    ];

    /// The same target with the circular map's seams at `seams` (degrees of offset from the
    /// reference structure's angle, one per [`IND_CIRC`] entry; ±180 is the seeds' seam).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless every value is finite and within `[−180, 180]`.
    pub fn with_seams(self, seams: &[f64; N_CIRC]) -> Result<Self, Error> {
        if !seams.iter().all(|s| (-180.0..=180.0).contains(s)) {
            return Err(Error::InvalidConfig(
                "aldp seams: every value must be a finite angle in [-180, 180] degrees",
            ));
        }
        let mut shift = [0.0; N_CIRC];
        for (d, &s) in shift.iter_mut().zip(seams) {
            if s.abs() != 180.0 {
                // the seam at offset θ: tanh u = ±1 lands on θ, so the shift is θ − π
                let theta = s * (PI / 180.0);
                let to = if theta > 0.0 { theta - PI } else { theta + PI };
                *d = to / (PI + 1e-4);
            }
        }
        let mut t = self;
        t.seam_shift = shift;
        Ok(t)
    }

    /// Whether a seam other than the seeds' is set.
    pub fn has_moved_seams(&self) -> bool {
        self.seam_shift.iter().any(|&d| d != 0.0)
    }

    /// The map's input `u` to the seeds' `x` on the moved seams, in place.
    pub(super) fn seams_to_seeds(&self, row: &mut [f32]) {
        for (&c, &d) in IND_CIRC.iter().zip(&self.seam_shift) {
            if d != 0.0 {
                let v = &mut row[usize::from(c)];
                *v = atanh(shifted_tanh(f64::from(*v), d)) as f32;
            }
        }
    }

    /// The seeds' `x` to the map's input `u` on the moved seams, in place.
    pub(super) fn seams_to_sampler(&self, row: &mut [f32]) {
        for (&c, &d) in IND_CIRC.iter().zip(&self.seam_shift) {
            if d != 0.0 {
                let v = &mut row[usize::from(c)];
                *v = atanh(wrap_unit(math::tanh(f64::from(*v)) - d)) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{seeded, standard_normal};
    use crate::targets::LogDensity;

    /// The MD seams without a scale, and with theirs.
    fn moved() -> Aldp {
        Aldp::new()
            .with_seams(&Aldp::MD_SEAMS)
            .expect("the MD seams are valid")
    }

    /// A point of `u` near the reference structure, φ's three dihedrals moved together.
    fn point(seed: u64) -> [f32; DIM] {
        let mut rng = seeded(seed);
        let mut u = [0.0f32; DIM];
        for v in &mut u {
            *v = 0.2 * standard_normal(&mut rng) as f32;
        }
        u[26] = u[17];
        u[29] = u[17];
        u
    }

    #[test]
    fn the_seeds_seams_change_no_bits() {
        let t = Aldp::new();
        let same = t.with_seams(&[180.0; N_CIRC]).expect("valid");
        assert_eq!(same, t);
        assert_eq!(t.with_seams(&[-180.0; N_CIRC]).expect("valid"), t);
        assert!(!same.has_moved_seams() && moved().has_moved_seams());
    }

    #[test]
    fn moved_seams_are_the_seeds_target_after_a_change_of_variables() {
        let (t, m) = (Aldp::new(), moved());
        for seed in 0..6 {
            let u = point(seed);
            let mut x = u;
            m.to_seeds(&mut x);
            let (lp_u, lp_x) = (f64::from(m.log_density(&u)), f64::from(t.log_density(&x)));
            // log |dx/du| = ln(1 − tanh² u) − ln(1 − tanh² x) on each moved coordinate
            let mut log_det = 0.0;
            for (&c, d) in IND_CIRC.iter().zip(m.seam_shift) {
                if d != 0.0 {
                    let (a, b) = (
                        math::tanh(f64::from(u[usize::from(c)])),
                        math::tanh(f64::from(x[usize::from(c)])),
                    );
                    log_det += math::ln(1.0 - a * a) - math::ln(1.0 - b * b);
                }
            }
            assert!(
                (lp_u - lp_x - log_det).abs() < 1e-4,
                "{seed}: {lp_u} {lp_x} {log_det}"
            );
            let mut back = x;
            m.to_sampler(&mut back);
            for (a, b) in back.iter().zip(&u) {
                assert!((a - b).abs() <= 1e-6, "{a} {b}");
            }
        }
    }

    #[test]
    fn the_map_with_a_moved_seam_keeps_the_normaliser() {
        // a von Mises density of the angle offset z, pushed through the seeds' map and
        // through maps with moved seams, integrated over the whole line
        let density = |z: f64| math::exp(2.0 * math::cos(z - 1.0));
        let integral = |d: f64| {
            let (h, mut sum) = (1e-3, 0.0);
            for i in -20_000..20_000 {
                let v = (f64::from(i) + 0.5) * h;
                let t = shifted_tanh(v, d);
                let dz_dv = (PI + 1e-4) * (1.0 - math::tanh(v) * math::tanh(v));
                sum += density((PI + 1e-4) * t) * dz_dv * h;
            }
            sum
        };
        let seeds = integral(0.0);
        for d in [0.3, -0.51, 0.97] {
            assert!((integral(d) - seeds).abs() < 1e-6 * seeds, "{d}");
        }
    }

    #[test]
    fn phis_seam_sits_at_the_empty_arc_near_120_degrees() {
        let (m, t) = (moved(), Aldp::new());
        for far in [-30.0f32, 30.0] {
            let mut row = [0.0f32; DIM];
            row[17] = far;
            m.to_seeds(&mut row);
            let x: [f64; DIM] = core::array::from_fn(|k| f64::from(row[k]));
            let phi = t.phi_psi(&x)[0].to_degrees();
            assert!((phi - 122.2).abs() < 0.5, "{phi}");
        }
        // the centre of u is 180° away from the seam
        let mut row = [0.0f32; DIM];
        m.to_seeds(&mut row);
        let x: [f64; DIM] = core::array::from_fn(|k| f64::from(row[k]));
        let phi = t.phi_psi(&x)[0].to_degrees();
        assert!((phi + 57.8).abs() < 0.5, "{phi}");
    }

    #[test]
    fn moved_seams_gradient_matches_finite_differences() {
        let m = moved().with_scale(&Aldp::MD_SEAMS_SCALE).expect("valid");
        for seed in 20..22 {
            let mut y = point(seed);
            for (v, s) in y.iter_mut().zip(Aldp::MD_SEAMS_SCALE) {
                *v /= s;
            }
            crate::targets::aldp::tests::assert_log_density_fd(&m, &y);
        }
    }

    #[test]
    fn bad_seams_are_errors_and_far_tails_stay_finite() {
        for bad in [f64::NAN, f64::INFINITY, 180.5, -181.0] {
            let mut s = [180.0; N_CIRC];
            s[3] = bad;
            assert!(
                matches!(Aldp::new().with_seams(&s), Err(Error::InvalidConfig(_))),
                "{bad}"
            );
        }
        let m = moved();
        let mut u = [0.0f32; DIM];
        for far in [-1e6f32, -25.0, 25.0, 1e6] {
            u[17] = far;
            let mut g = [0.0f32; DIM];
            let lp = m.log_density_grad(&u, &mut g);
            assert!(
                !lp.is_nan() && g.iter().all(|v| v.is_finite()),
                "{far}: {lp}"
            );
            let mut x = u;
            m.to_seeds(&mut x);
            assert!(!x[17].is_nan(), "{far}");
        }
    }
}
