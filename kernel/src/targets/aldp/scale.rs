//! A per-coordinate scale of the ALDP target: the sampler works in `y`, the target in the
//! seeds' coordinates `x = s ⊙ y`.
//!
//! A diffusion sampler's reference process has one `σ` for every coordinate, but the 60
//! coordinates of the seeds' target are spread very differently: bond lengths by 0.05, the
//! backbone dihedral φ (`x₁₇`) by 0.23, most others by 0.4–0.6 (the MD reference's standard
//! deviations). Sampling `y` with density `p̃(s ⊙ y) · Π sᵢ` instead is the same target up to
//! a change of variables (the `Π sᵢ` keeps `log Z`, and so ELBO, EUBO and importance weights,
//! unchanged), while the reference law `N(0, σ² I)` in `y` becomes `N(0, σ² diag(s²))` in `x`.
//! [`Aldp::MD_SCALE`] makes that the MD reference's own spread at `σ = 0.5`
//! (`docs/aldp.md`, "A per-coordinate scale").
//!
//! The scale multiplies in `f32` (`x = y·s`, the point the energy is evaluated at, bit for
//! bit the row a sample file holds); a scale of ones changes no bits of anything.

use super::internal::DIM;
use super::target::Aldp;
use crate::error::{Error, check_len};
use crate::math;

impl Aldp {
    /// The MD reference's per-coordinate standard deviation in `x` over `σ = 0.5`, to three
    /// decimals: `results/aldp/reference-x-1675.csv.gz` (the first 1675 parallel-tempering
    /// samples at 300 K of `scripts/aldp/reference_md.py`'s run, which was the reference when
    /// the preset was fixed), population standard deviation of each column / 0.5.
    pub const MD_SCALE: [f32; DIM] = [
        1.172, 1.194, 0.778, 1.184, 0.952, 1.739, 1.215, 0.658, 0.112, 1.163, 0.976, 1.034, 1.191,
        0.937, 0.987, 0.976, 0.778, 0.454, 0.935, 0.643, 0.111, 1.002, 1.026, 0.132, 1.204, 0.882,
        0.458, 1.211, 0.698, 0.465, 1.183, 0.927, 1.417, 1.179, 0.919, 0.990, 1.202, 0.917, 1.025,
        0.915, 0.616, 1.083, 0.986, 0.658, 1.023, 1.040, 1.031, 0.102, 1.150, 0.789, 0.109, 1.225,
        0.936, 1.722, 1.214, 0.911, 1.033, 1.178, 0.945, 1.030,
    ];

    /// The same target with the sampler's coordinates `y = x / scale` (see the module
    /// documentation); the log density gains `Σ ln sᵢ`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `scale` has 60 values; [`Error::InvalidConfig`] unless
    /// every value is finite and positive.
    pub fn with_scale(self, scale: &[f32]) -> Result<Self, Error> {
        check_len("aldp scale", DIM, scale.len())?;
        if !scale.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(Error::InvalidConfig(
                "aldp scale: every value must be finite and > 0",
            ));
        }
        let mut s = [0.0; DIM];
        s.copy_from_slice(scale);
        let log_scale = s.iter().map(|&v| math::ln(f64::from(v))).sum();
        Ok(self.scaled_by(s, log_scale))
    }

    /// The scale `s` (`x = s ⊙ y`; ones unless [`Aldp::with_scale`] set it).
    pub fn scale(&self) -> &[f32; DIM] {
        &self.scale
    }

    /// Whether a scale other than ones is set.
    pub fn is_scaled(&self) -> bool {
        self.scale.iter().any(|&s| s != 1.0)
    }

    /// Rows of sampler coordinates `y` (60 values each) to the seeds' coordinates, in place:
    /// `x = y·s`, then the moved seams' map ([`Aldp::with_seams`]).
    pub fn to_seeds(&self, rows: &mut [f32]) {
        for row in rows.chunks_exact_mut(DIM) {
            for (v, s) in row.iter_mut().zip(self.scale) {
                *v *= s;
            }
            self.seams_to_seeds(row);
        }
    }

    /// Rows of the seeds' coordinates `x` to sampler coordinates, in place: the moved seams'
    /// inverse map, then `y = x / s`.
    pub fn to_sampler(&self, rows: &mut [f32]) {
        for row in rows.chunks_exact_mut(DIM) {
            self.seams_to_sampler(row);
            for (v, s) in row.iter_mut().zip(self.scale) {
                *v /= s;
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

    /// A point of sampler coordinates near the reference structure (L form kept).
    fn point(seed: u64) -> [f32; DIM] {
        let mut rng = seeded(seed);
        let mut y = [0.0f32; DIM];
        for v in &mut y {
            *v = 0.4 * standard_normal(&mut rng) as f32;
        }
        y[26] = y[17] * Aldp::MD_SCALE[17] / Aldp::MD_SCALE[26];
        y
    }

    fn scaled() -> Aldp {
        Aldp::new()
            .with_scale(&Aldp::MD_SCALE)
            .expect("the MD scale is valid")
    }

    #[test]
    fn the_scaled_target_is_the_seeds_target_at_s_times_y_plus_its_log_determinant() {
        let (t, ts) = (Aldp::new(), scaled());
        let log_det: f64 = Aldp::MD_SCALE.iter().map(|&s| math::ln(f64::from(s))).sum();
        for seed in 0..4 {
            let y = point(seed);
            let mut x = y;
            ts.to_seeds(&mut x);
            let (mut gy, mut gx) = ([0.0f32; DIM], [0.0f32; DIM]);
            let lp_y = f64::from(ts.log_density_grad(&y, &mut gy));
            let lp_x = f64::from(t.log_density_grad(&x, &mut gx));
            assert_eq!(lp_y, f64::from(ts.log_density(&y)));
            assert!(
                (lp_y - lp_x - log_det).abs() < 1e-5 * lp_x.abs(),
                "{lp_y} {lp_x}"
            );
            let big = gx.iter().fold(1.0f32, |m, g| m.max(g.abs()));
            for k in 0..DIM {
                let want = gx[k] * Aldp::MD_SCALE[k];
                assert!((gy[k] - want).abs() <= 1e-6 * big, "{k}: {} {want}", gy[k]);
            }
        }
    }

    #[test]
    fn scaled_gradient_matches_finite_differences() {
        let ts = scaled();
        for seed in 10..12 {
            crate::targets::aldp::tests::assert_log_density_fd(&ts, &point(seed));
        }
    }

    #[test]
    fn a_scale_of_ones_changes_no_bits() {
        let t = Aldp::new();
        let ones = t.with_scale(&[1.0; DIM]).expect("ones are valid");
        assert_eq!(ones, t);
        assert!(!ones.is_scaled() && scaled().is_scaled());
        let y = point(3);
        let (mut a, mut b) = ([0.0f32; DIM], [0.0f32; DIM]);
        let (la, lb) = (
            t.log_density_grad(&y, &mut a),
            ones.log_density_grad(&y, &mut b),
        );
        assert_eq!(la.to_bits(), lb.to_bits());
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
        let mut rows = [y, y].concat();
        t.to_seeds(&mut rows);
        t.to_sampler(&mut rows);
        assert!(
            rows.iter()
                .zip([y, y].concat())
                .all(|(p, q)| p.to_bits() == q.to_bits())
        );
    }

    #[test]
    fn rows_round_trip_and_bad_scales_are_errors() {
        let ts = scaled();
        let y = [point(5), point(6)].concat();
        let mut rows = y.clone();
        ts.to_seeds(&mut rows);
        assert_eq!(rows[17], y[17] * Aldp::MD_SCALE[17]);
        ts.to_sampler(&mut rows);
        for (a, b) in rows.iter().zip(&y) {
            assert!((a - b).abs() <= f32::EPSILON * b.abs(), "{a} {b}");
        }
        let t = Aldp::new();
        assert!(matches!(
            t.with_scale(&[1.0; 59]),
            Err(Error::ShapeMismatch { .. })
        ));
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let mut s = [1.0; DIM];
            s[7] = bad;
            assert!(
                matches!(t.with_scale(&s), Err(Error::InvalidConfig(_))),
                "{bad}"
            );
        }
    }
}
