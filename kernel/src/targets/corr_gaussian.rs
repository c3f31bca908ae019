//! A correlated 2-D Gaussian `N(μ, Σ)` with a full covariance, via `nalgebra`'s static
//! `Matrix2` Cholesky factorisation.

use nalgebra::{Matrix2, Vector2};

use super::{LogDensity, all_finite, check_len, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::math::{self, LN_2PI};
use crate::rng::{Rng, standard_normal};

/// A 2-D Gaussian `N(μ, Σ)` with full covariance, normalised (`log Z = 0`).
///
/// ```text
/// Σ = L Lᵀ                        (Cholesky, L lower triangular)
/// log p(x) = −½ ‖L⁻¹(x − μ)‖² − ln(2π) − Σᵢ ln Lᵢᵢ
/// ∇ log p(x) = −Σ⁻¹ (x − μ)
/// sample:    x = μ + L z,  z ~ N(0, I₂)
/// ```
///
/// This is the crate's use of `nalgebra`: the covariance is factorised once, in
/// [`CorrGaussian2::new`], with `nalgebra::linalg::Cholesky` on a stack-allocated
/// `Matrix2<f64>` (no allocation; its square root goes through `simba`'s `libm` backend, the
/// same `libm` as [`crate::math`], so the factor is bit-identical on every platform). The
/// factor `L` and the precision `Σ⁻¹` are stored as `Matrix2<f64>`; every evaluation is a
/// 2×2 triangular solve and matrix–vector product in `f64`.
///
/// Defaults (registry name `corr-gaussian`): `μ = 0`, `Σ = [[1, 1.8], [1.8, 4]]`
/// (standard deviations 1 and 2, correlation 0.9): a narrow diagonal ridge that tests
/// whether a sampler captures correlation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CorrGaussian2 {
    mean: Vector2<f64>,
    chol: Matrix2<f64>,
    precision: Matrix2<f64>,
    /// `ln(2π) + Σᵢ ln Lᵢᵢ = ln(2π) + ½ ln det Σ`.
    log_norm: f64,
}

impl CorrGaussian2 {
    /// The default covariance `[[1, 1.8], [1.8, 4]]` (correlation 0.9).
    pub const DEFAULT_COV: [[f64; 2]; 2] = [[1.0, 1.8], [1.8, 4.0]];

    /// `N(mean, cov)`; `cov` is given row by row and must be symmetric positive definite.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when an entry is not finite, `cov` is not symmetric, or the
    /// Cholesky factorisation fails (not positive definite).
    pub fn new(mean: [f32; 2], cov: [[f64; 2]; 2]) -> Result<Self, Error> {
        if !all_finite(&mean) || cov.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::InvalidConfig(
                "corr-gaussian: mean and cov must be finite",
            ));
        }
        if cov[0][1] != cov[1][0] {
            return Err(Error::InvalidConfig("corr-gaussian: cov must be symmetric"));
        }
        let sigma = Matrix2::new(cov[0][0], cov[0][1], cov[1][0], cov[1][1]);
        let chol = sigma.cholesky().ok_or(Error::InvalidConfig(
            "corr-gaussian: cov must be positive definite",
        ))?;
        let l = chol.l();
        if !(l[(0, 0)] > 0.0 && l[(1, 1)] > 0.0) {
            return Err(Error::InvalidConfig(
                "corr-gaussian: cov must be positive definite",
            ));
        }
        Ok(Self {
            mean: Vector2::new(mean[0] as f64, mean[1] as f64),
            chol: l,
            precision: chol.inverse(),
            log_norm: LN_2PI + math::ln(l[(0, 0)]) + math::ln(l[(1, 1)]),
        })
    }

    /// The lower Cholesky factor `L` of the covariance (row-major).
    pub fn cholesky_factor(&self) -> [[f64; 2]; 2] {
        let l = &self.chol;
        [[l[(0, 0)], l[(0, 1)]], [l[(1, 0)], l[(1, 1)]]]
    }

    /// `(x − μ)` and `−½ (x − μ)ᵀ Σ⁻¹ (x − μ) − log_norm`, using forward substitution
    /// `y = L⁻¹ (x − μ)`.
    #[inline]
    fn centred(&self, x: &[f32]) -> (Vector2<f64>, f64) {
        let (x0, x1) = match x {
            [a, b, ..] => (*a as f64, *b as f64),
            _ => (0.0, 0.0),
        };
        let c = Vector2::new(x0, x1) - self.mean;
        let l = &self.chol;
        let y0 = c[0] / l[(0, 0)];
        let y1 = (c[1] - l[(1, 0)] * y0) / l[(1, 1)];
        (c, -0.5 * (y0 * y0 + y1 * y1) - self.log_norm)
    }
}

impl Default for CorrGaussian2 {
    /// Mean zero, [`CorrGaussian2::DEFAULT_COV`].
    fn default() -> Self {
        // The default covariance is positive definite, so `new` succeeds; a failure would be
        // caught by the unit tests. Fall back to the identity without panicking.
        match Self::new([0.0; 2], Self::DEFAULT_COV) {
            Ok(t) => t,
            Err(_) => Self {
                mean: Vector2::zeros(),
                chol: Matrix2::identity(),
                precision: Matrix2::identity(),
                log_norm: LN_2PI,
            },
        }
    }
}

impl LogDensity for CorrGaussian2 {
    fn dim(&self) -> usize {
        2
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, 2, || self.centred(x).1)
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, 2, |grad| {
            let (c, lp) = self.centred(x);
            let g = -(self.precision * c);
            for (o, v) in grad.iter_mut().zip(g.iter()) {
                *o = finite_grad(*v);
            }
            lp
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
        let z = Vector2::new(standard_normal(rng), standard_normal(rng));
        let x = self.mean + self.chol * z;
        for (o, v) in out.iter_mut().zip(x.iter()) {
            *o = *v as f32;
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
    fn factor_value_and_gradient() {
        let t = CorrGaussian2::default();
        let l = t.cholesky_factor();
        assert!((l[0][0] - 1.0).abs() < 1e-15);
        assert!((l[1][0] - 1.8).abs() < 1e-15);
        assert!((l[1][1] - (4.0f64 - 3.24).sqrt()).abs() < 1e-15);
        assert_eq!(l[0][1], 0.0);
        // closed form with det Σ = 0.76, Σ⁻¹ = [[4, −1.8], [−1.8, 1]] / 0.76
        let x = [0.5f64, -1.0];
        let q = (4.0 * x[0] * x[0] - 3.6 * x[0] * x[1] + x[1] * x[1]) / 0.76;
        let want = -0.5 * q - LN_2PI - 0.5 * 0.76f64.ln();
        let got = t.log_density(&[0.5, -1.0]) as f64;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        let mut rng = seeded(3);
        for _ in 0..6 {
            let x = [
                (uniform_f64(&mut rng) * 4.0 - 2.0) as f32,
                (uniform_f64(&mut rng) * 6.0 - 3.0) as f32,
            ];
            check_grad(&t, &x, 1e-2, 1e-3, 1e-3);
        }
    }

    #[test]
    fn normaliser_by_quadrature() {
        let t = CorrGaussian2::new([1.0, -0.5], [[0.5, -0.3], [-0.3, 0.4]]).unwrap();
        let lz = log_integral_2d(&t, -6.0, 6.0, 401);
        assert!(lz.abs() < 1e-5, "log Z {lz}");
    }

    #[test]
    fn sampler_moments_and_covariance() {
        let t = CorrGaussian2::default();
        let n = 40_000;
        let mut xs = vec![0.0f32; 2 * n];
        crate::targets::sample_batch(&t, &mut seeded(4), &mut xs).unwrap();
        assert_moments("x0", column_moments(&xs, 2, 0), 0.0, 1.0, 3.0, n);
        assert_moments("x1", column_moments(&xs, 2, 1), 0.0, 4.0, 48.0, n);
        let cov = xs
            .chunks_exact(2)
            .map(|r| r[0] as f64 * r[1] as f64)
            .sum::<f64>()
            / n as f64;
        // Var(x0 x1) = σ0²σ1² + c² = 4 + 3.24 for a bivariate normal with zero mean
        let se = (7.24f64 / n as f64).sqrt();
        assert!((cov - 1.8).abs() < 5.0 * se, "cov {cov}");
    }

    #[test]
    fn invalid_covariances() {
        for cov in [
            [[1.0, 2.0], [2.0, 1.0]],
            [[1.0, 0.5], [0.4, 1.0]],
            [[0.0, 0.0], [0.0, 1.0]],
            [[-1.0, 0.0], [0.0, 1.0]],
            [[f64::NAN, 0.0], [0.0, 1.0]],
        ] {
            assert!(
                matches!(
                    CorrGaussian2::new([0.0; 2], cov),
                    Err(Error::InvalidConfig(_))
                ),
                "{cov:?}"
            );
        }
        assert!(CorrGaussian2::new([f32::INFINITY, 0.0], [[1.0, 0.0], [0.0, 1.0]]).is_err());
    }
}
