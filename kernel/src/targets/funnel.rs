//! Neal's funnel in `d ≥ 2` dimensions.

use super::{LogDensity, check_len, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::math::{self, LN_2PI};
use crate::rng::{Rng, standard_normal};

/// Neal's funnel (Neal 2003, *Slice sampling*), normalised (`log Z = 0`):
///
/// ```text
/// x₀ ~ N(0, σ²),   x_{1..d−1} | x₀ ~ N(0, e^{x₀} I)
/// log p(x) = −x₀²/(2σ²) − ½ ln(2πσ²) − ((d−1)/2)(ln 2π + x₀) − ½ e^{−x₀} Σ_{i≥1} xᵢ²
/// ∂/∂x₀   = −x₀/σ² − (d−1)/2 + ½ e^{−x₀} Σ_{i≥1} xᵢ²
/// ∂/∂xᵢ   = −xᵢ e^{−x₀}        (i ≥ 1)
/// ```
///
/// Default (registry `funnel`): `d = 10`, `σ = 3` — the "HardFunnel" of gfn-diffusion and
/// the funnel of RSMC (`nolerk/gfn-smc-jax` `targets/funnel.py`). (VGS's `funnel.py` uses
/// variance `d − 1`, which is the same 9 at `d = 10`; here `σ` does not change with `d`.)
/// [`Funnel::with_sigma`] with `σ = 1` gives gfn-diffusion's EasyFunnel.
///
/// Evaluated in `f64`. When `e^{−x₀}` overflows (`x₀ < −709`), `Σ xᵢ² > 0` gives `-inf`
/// and `Σ xᵢ² = 0` gives the finite limit (that term is 0); gradients follow the module's
/// finite-gradient policy.
///
/// **Sampler** (exact): `x₀ = σ z₀`, `xᵢ = e^{x₀/2} zᵢ`. Samples are **not** clipped. RSMC's
/// evaluation clips ground-truth samples to `[−30, 30]` (`sample_bounds`);
/// [`Funnel::clip_to_bounds`] does that to a sample (the CLI's evaluation set, `src/eval.rs`,
/// calls it on its exact samples). The density is never clipped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Funnel {
    dim: usize,
    sigma: f64,
    /// `½ ln(2πσ²) + ((d−1)/2) ln 2π`.
    log_norm: f64,
}

impl Funnel {
    /// Bound used by RSMC's evaluation clipping: `[−30, 30]`.
    pub const SAMPLE_BOUND: f32 = 30.0;

    /// The funnel in `dim` dimensions with `σ = 3`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `dim < 2`.
    pub fn new(dim: usize) -> Result<Self, Error> {
        Self::with_sigma(dim, 3.0)
    }

    /// The funnel in `dim` dimensions with first-coordinate standard deviation `sigma`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `dim < 2` or `sigma` is not finite and positive.
    pub fn with_sigma(dim: usize, sigma: f64) -> Result<Self, Error> {
        if dim < 2 {
            return Err(Error::InvalidConfig("funnel: dim must be >= 2"));
        }
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(Error::InvalidConfig("funnel: sigma must be finite and > 0"));
        }
        Ok(Self {
            dim,
            sigma,
            log_norm: 0.5 * (LN_2PI + 2.0 * math::ln(sigma)) + 0.5 * (dim - 1) as f64 * LN_2PI,
        })
    }

    /// Standard deviation `σ` of `x₀`.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Clips every coordinate to `[−30, 30]` ([`Funnel::SAMPLE_BOUND`]), as RSMC does to its
    /// ground-truth samples before computing sample metrics. NaN stays NaN.
    pub fn clip_to_bounds(x: &mut [f32]) {
        super::clip_coordinates(x, Self::SAMPLE_BOUND);
    }

    /// `(x₀, e^{−x₀}, Σ_{i≥1} xᵢ², log p)`.
    #[inline]
    fn parts(&self, x: &[f32]) -> (f64, f64, f64, f64) {
        let (x0, rest) = match x.split_first() {
            Some((a, r)) => (*a as f64, r),
            None => (0.0, x),
        };
        let ss: f64 = rest.iter().map(|&v| v as f64 * v as f64).sum();
        let e = math::exp(-x0);
        // 0 · ∞ is 0 here: Σ xᵢ² = 0 contributes nothing whatever x₀ is
        let quad = if ss == 0.0 { 0.0 } else { e * ss };
        let lp = -0.5 * x0 * x0 / (self.sigma * self.sigma)
            - 0.5 * (self.dim - 1) as f64 * x0
            - 0.5 * quad
            - self.log_norm;
        (x0, e, quad, lp)
    }
}

impl LogDensity for Funnel {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, self.dim, || self.parts(x).3)
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, self.dim, |grad| {
            let (x0, e, quad, lp) = self.parts(x);
            if let Some((g0, grest)) = grad.split_first_mut() {
                *g0 = finite_grad(
                    -x0 / (self.sigma * self.sigma) - 0.5 * (self.dim - 1) as f64 + 0.5 * quad,
                );
                for (g, &v) in grest.iter_mut().zip(x.iter().skip(1)) {
                    *g = finite_grad(-(v as f64) * e);
                }
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
        check_len("out", self.dim, out.len())?;
        let x0 = self.sigma * standard_normal(rng);
        let s = math::exp(0.5 * x0);
        if let Some((o0, rest)) = out.split_first_mut() {
            *o0 = x0 as f32;
            for o in rest.iter_mut() {
                *o = (s * standard_normal(rng)) as f32;
            }
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

    #[test]
    fn value_against_closed_form() {
        let t = Funnel::new(3).unwrap();
        let x = [1.0f32, 0.5, -2.0];
        let lp = t.log_density(&x) as f64;
        let n0 = -0.5 * (1.0 / 9.0) - 0.5 * (2.0 * std::f64::consts::PI * 9.0).ln();
        let v = 1.0f64.exp();
        let ni = |y: f64| -0.5 * y * y / v - 0.5 * (2.0 * std::f64::consts::PI * v).ln();
        let want = n0 + ni(0.5) + ni(-2.0);
        assert!((lp - want).abs() < 1e-5, "{lp} vs {want}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = seeded(21);
        for dim in [2usize, 10] {
            let t = Funnel::new(dim).unwrap();
            for _ in 0..6 {
                let x: Vec<f32> = (0..dim)
                    .map(|_| (uniform_f64(&mut rng) * 4.0 - 2.0) as f32)
                    .collect();
                check_grad(&t, &x, 1e-3, 1e-2, 1e-2);
            }
        }
    }

    #[test]
    fn normaliser_by_quadrature_in_2d() {
        // x₀ on a fixed Simpson grid over ±8σ; x₁ on a grid scaled to ±12 e^{x₀/2} (the
        // density itself is evaluated, only the integration range adapts)
        for sigma in [3.0f64, 1.0] {
            let t = Funnel::with_sigma(2, sigma).unwrap();
            let mut z = 0.0f64;
            for (x0, w0) in simpson(-8.0 * sigma, 8.0 * sigma, 801) {
                let s = (0.5 * x0).exp();
                let inner: f64 = simpson(-12.0 * s, 12.0 * s, 401)
                    .iter()
                    .map(|&(x1, w1)| w1 * (t.log_density(&[x0 as f32, x1 as f32]) as f64).exp())
                    .sum();
                z += w0 * inner;
            }
            assert!(z.ln().abs() < 1e-4, "sigma {sigma}: log Z {}", z.ln());
        }
    }

    #[test]
    fn sampler_is_exact() {
        let t = Funnel::new(10).unwrap();
        let n = 20_000;
        let mut xs = vec![0.0f32; 10 * n];
        crate::targets::sample_batch(&t, &mut seeded(8), &mut xs).unwrap();
        assert_moments("x0", column_moments(&xs, 10, 0), 0.0, 9.0, 243.0, n);
        // standardised xᵢ e^{−x₀/2} ~ N(0, 1), independent of x₀
        let zs: Vec<f32> = xs
            .chunks_exact(10)
            .flat_map(|r| {
                let s = (-0.5 * r[0] as f64).exp();
                r[1..]
                    .iter()
                    .map(move |&v| (v as f64 * s) as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_moments("z", column_moments(&zs, 1, 0), 0.0, 1.0, 3.0, zs.len());
        let mut clipped = [100.0f32, -100.0, 3.0, f32::NAN];
        Funnel::clip_to_bounds(&mut clipped);
        assert_eq!(&clipped[..3], &[30.0, -30.0, 3.0]);
        assert!(clipped[3].is_nan());
    }

    #[test]
    fn extreme_neck_is_finite_or_neg_inf() {
        let t = Funnel::new(3).unwrap();
        let mut g = [0.0f32; 3];
        // e^{800} overflows f64: zero spread is finite, non-zero spread is -inf
        let lp = t.log_density_grad(&[-800.0, 0.0, 0.0], &mut g);
        assert!(lp.is_finite());
        assert!(g.iter().all(|v| v.is_finite()));
        let lp = t.log_density_grad(&[-800.0, 1.0, 0.0], &mut g);
        assert_eq!(lp, f32::NEG_INFINITY);
        assert!(g.iter().all(|v| v.is_finite()));
        assert!(matches!(Funnel::new(1), Err(Error::InvalidConfig(_))));
        assert!(Funnel::with_sigma(4, 0.0).is_err());
    }
}
