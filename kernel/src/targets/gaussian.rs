//! The isotropic Gaussian `N(μ·1, σ² I)` in any dimension: the sanity-check target.

use super::{LogDensity, check_len, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::math::{self, LN_2PI};
use crate::rng::{Rng, fill_standard_normal};

/// The isotropic Gaussian `N(μ·1, σ² I_d)`, normalised (`log Z = 0`).
///
/// ```text
/// log p(x) = −½ Σᵢ (xᵢ − μ)² / σ² − (d/2) ln(2π σ²)
/// ∇ log p(x) = −(x − μ) / σ²
/// ```
///
/// Exact sampler: `x = μ + σ z` with `z` from [`crate::rng::fill_standard_normal`].
/// Defaults (registry name `gaussian`): `d = 2`, `μ = 0`, `σ = 1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gaussian {
    dim: usize,
    mean: f32,
    std: f32,
    /// `(d/2) ln(2π σ²)`.
    log_norm: f64,
    inv_var: f64,
}

impl Gaussian {
    /// `N(mean·1, std² I)` in `dim` dimensions.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `dim == 0`, `mean` is not finite, or `std` is not finite
    /// and positive.
    pub fn new(dim: usize, mean: f32, std: f32) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::InvalidConfig("gaussian: dim must be >= 1"));
        }
        if !mean.is_finite() {
            return Err(Error::InvalidConfig("gaussian: mean must be finite"));
        }
        if !(std.is_finite() && std > 0.0) {
            return Err(Error::InvalidConfig("gaussian: std must be finite and > 0"));
        }
        let var = std as f64 * std as f64;
        Ok(Self {
            dim,
            mean,
            std,
            log_norm: 0.5 * dim as f64 * (LN_2PI + math::ln(var)),
            inv_var: 1.0 / var,
        })
    }

    /// The mean `μ` shared by every coordinate.
    pub fn mean(&self) -> f32 {
        self.mean
    }

    /// The standard deviation `σ` of every coordinate.
    pub fn std(&self) -> f32 {
        self.std
    }
}

impl LogDensity for Gaussian {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, self.dim, || {
            let mu = self.mean as f64;
            let ss: f64 = x.iter().map(|&v| (v as f64 - mu) * (v as f64 - mu)).sum();
            -0.5 * ss * self.inv_var - self.log_norm
        })
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, self.dim, |grad| {
            let mu = self.mean as f64;
            let mut ss = 0.0f64;
            for (g, &v) in grad.iter_mut().zip(x) {
                let c = v as f64 - mu;
                ss += c * c;
                *g = finite_grad(-c * self.inv_var);
            }
            -0.5 * ss * self.inv_var - self.log_norm
        })
    }

    fn log_z(&self) -> Option<f64> {
        Some(0.0)
    }

    fn has_sampler(&self) -> bool {
        true
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        check_len("out", self.dim, out.len())?;
        fill_standard_normal(rng, out);
        for v in out.iter_mut() {
            *v = self.mean + self.std * *v;
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

    #[test]
    fn value_and_gradient() {
        let t = Gaussian::new(3, 1.0, 2.0).unwrap();
        let lp = t.log_density(&[1.0, 3.0, -1.0]) as f64;
        let want = -0.5 * (4.0 + 4.0) / 4.0 - 1.5 * (LN_2PI + 4.0f64.ln());
        assert!((lp - want).abs() < 1e-5, "{lp} vs {want}");
        let mut rng = seeded(1);
        for _ in 0..5 {
            let x: std::vec::Vec<f32> = (0..3)
                .map(|_| (uniform_f64(&mut rng) * 8.0 - 4.0) as f32)
                .collect();
            check_grad(&t, &x, 1e-2, 1e-3, 1e-3);
        }
    }

    #[test]
    fn one_dimensional_normaliser_by_quadrature() {
        let t = Gaussian::new(1, 0.5, 0.7).unwrap();
        let z: f64 = simpson(-10.0, 10.0, 2001)
            .iter()
            .map(|&(x, w)| w * (t.log_density(&[x as f32]) as f64).exp())
            .sum();
        assert!(z.ln().abs() < 1e-5, "log Z {}", z.ln());
    }

    #[test]
    fn sampler_moments() {
        let t = Gaussian::new(3, -1.0, 0.5).unwrap();
        let n = 40_000;
        let mut xs = vec![0.0f32; 3 * n];
        let mut rng = seeded(2);
        crate::targets::sample_batch(&t, &mut rng, &mut xs).unwrap();
        for j in 0..3 {
            let var = 0.25;
            assert_moments(
                "gaussian",
                column_moments(&xs, 3, j),
                -1.0,
                var,
                3.0 * var * var,
                n,
            );
        }
    }

    #[test]
    fn invalid_settings() {
        assert!(matches!(
            Gaussian::new(0, 0.0, 1.0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Gaussian::new(2, f32::NAN, 1.0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Gaussian::new(2, 0.0, 0.0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Gaussian::new(2, 0.0, f32::INFINITY),
            Err(Error::InvalidConfig(_))
        ));
        let t = Gaussian::new(2, 0.0, 1.0).unwrap();
        let mut out = [0.0f32; 3];
        assert!(matches!(
            t.sample(&mut seeded(0), &mut out),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
