//! The paper's convention: the debiased Sinkhorn divergence exactly as ott-jax 0.4.6 computes
//! `sinkhorn_divergence(PointCloud, x, y)` with no `epsilon`, which is what the Reinforced SMC
//! tables report (Choi et al. 2025, §5; the seeds' `eval/optimal_transport.py` passes a
//! `PointCloud` instance whose `epsilon = 1e-3` `prepare_divergences` never reads).
//!
//! Source (ott-jax 0.4.6): `tools/sinkhorn_divergence.py`, `solvers/linear/sinkhorn.py`,
//! `solvers/linear/acceleration.py`, `geometry/{geometry,pointcloud,epsilon_scheduler}.py`,
//! `math/fixed_point_loop.py`, `initializers/linear/initializers.py`.
//!
//! - **ε**: `Epsilon(target = 0.05, scale_epsilon = mean_cost_matrix)` of the x–y geometry,
//!   i.e. `ε = 0.05 · mean_{i,j} ‖xᵢ − yⱼ‖²`, copied to the x–x and y–y geometries
//!   (`share_epsilon = True`, `copy_epsilon`). No ε-scaling (`init = decay = 1`).
//! - **Start**: zero potentials (`DefaultInitializer`, lse mode).
//! - **x–y solve**: per iteration `g ← T_g(f)` then `f ← T_f(g)` (`lse_step`, no momentum,
//!   `parallel_dual_updates = False`). Every `inner_iterations = 10` iterations the L1
//!   error of the column marginal `‖Pᵀ1 − b‖₁` is measured (`solution_error`, balanced and
//!   sequential: only `b`'s marginal, `a`'s is exact after the `f` update); the loop stops at
//!   the first check below `threshold = 1e-3`, or after `max_iterations = 2000`
//!   (`fixpoint_iter` runs whole blocks of 10, so the cap is rounded up to a multiple).
//! - **x–x and y–y solves** (`symmetric_sinkhorn = True`): `parallel_dual_updates = True`
//!   with `Momentum(start = 0, value = 0.5)`, so `f ← ½ f + ½ T_f(g)` and
//!   `g ← ½ g + ½ T_g(f)` from the same old pair; from zero, `f = g = p` throughout and this
//!   is `p ← ½ (p + T(p))` (Feydy et al. 2019, eq. 25). The error is the sum of both
//!   marginals' L1 errors, `2 ‖P1 − a‖₁`.
//! - **Value** (`compute_kl_reg_cost`, balanced, lse mode): in our potentials (ott's minus
//!   `ε ln a`, `ε ln b`), `reg_ot_cost = ⟨f, a⟩ + ⟨g, b⟩ + ε (1 − Σ P)` at the iterate where
//!   the loop stopped. The mass term vanishes after an `f` update in the x–y solve; in the
//!   symmetric solves it is second order in the marginal error (dropping it moves the
//!   GMM40-2d fixture value by 2·10⁻⁹ relative), and it is kept so that every term is ott's.
//!   `divergence = OT_xy − ½ (OT_xx + OT_yy) + ½ ε (Σa − Σb)²`, the last term zero for
//!   uniform weights.
//!
//! ott runs in `float32` by default (the seeds did not enable `x64`); this is the same
//! algorithm in `f64`. `tests/ott_sinkhorn.rs` checks it against ott's values in both
//! precisions (`scripts/ott_sinkhorn_fixture.py` writes them).

use super::lse::{Geometry, Solve, dual_update, mean};
use super::{MIN_EPSILON, cloud_len};
use crate::error::Error;

/// Settings of the paper convention ([`super::SinkhornConvention::Paper`]); `Copy + Default`,
/// the defaults are ott-jax 0.4.6's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperConfig {
    /// `ε` as a multiple of the mean x–y cost. Default `0.05` (ott's `Epsilon` target when
    /// neither `epsilon` nor `relative_epsilon` is given). Must be finite and positive.
    pub relative_epsilon: f64,
    /// Stop at the first check whose L1 marginal error is below this. Default `1e-3`
    /// (`Sinkhorn(threshold=1e-3, norm_error=1)`). Must be finite and positive.
    pub threshold: f64,
    /// Iterations between two error checks. Default `10` (`inner_iterations`). At least 1.
    pub inner_iterations: u32,
    /// Iteration cap per solve, rounded up to a multiple of `inner_iterations`. Default
    /// `2000` (`max_iterations`). At least 1.
    pub max_iterations: u32,
}

impl Default for PaperConfig {
    fn default() -> Self {
        Self {
            relative_epsilon: 0.05,
            threshold: 1e-3,
            inner_iterations: 10,
            max_iterations: 2000,
        }
    }
}

impl PaperConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `relative_epsilon` or `threshold` is not finite and
    /// positive, or `inner_iterations` or `max_iterations` is zero.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.relative_epsilon.is_finite() && self.relative_epsilon > 0.0) {
            return Err(Error::InvalidConfig(
                "relative_epsilon must be finite and > 0",
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::InvalidConfig("threshold must be finite and > 0"));
        }
        if self.inner_iterations == 0 || self.max_iterations == 0 {
            return Err(Error::InvalidConfig(
                "inner_iterations and max_iterations must be >= 1",
            ));
        }
        Ok(())
    }
}

/// `mean_{i,j} ‖xᵢ − yⱼ‖² = (1/n) Σ ‖xᵢ − x̄‖² + (1/m) Σ ‖yⱼ − ȳ‖² + ‖x̄ − ȳ‖²` in `f64`
/// (ott's `mean_cost_matrix`, without forming the matrix or cancelling large norms).
///
/// # Errors
/// As [`super::sinkhorn_divergence`] for the clouds.
pub fn mean_cost(x: &[f32], y: &[f32], dim: usize) -> Result<f64, Error> {
    let n = cloud_len("x", x, dim)?;
    let m = cloud_len("y", y, dim)?;
    let mut total = 0.0f64;
    for k in 0..dim {
        let (mx, vx) = moments(x, dim, k, n);
        let (my, vy) = moments(y, dim, k, m);
        total += vx + vy + (mx - my) * (mx - my);
    }
    Ok(total)
}

/// Mean and (biased) variance of coordinate `k` of a cloud of `n` points.
fn moments(pts: &[f32], dim: usize, k: usize, n: usize) -> (f64, f64) {
    let col = || pts.iter().skip(k).step_by(dim).map(|&v| v as f64);
    let mu = col().sum::<f64>() / n as f64;
    let var = col().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
    (mu, var)
}

/// One divergence's settings and its `ε`.
#[derive(Clone, Copy)]
pub(super) struct Run<'a> {
    cfg: &'a PaperConfig,
    /// `relative_epsilon · mean x–y cost`.
    pub eps: f64,
}

impl<'a> Run<'a> {
    /// `ε` for the clouds `x`, `y` (validated by the caller).
    ///
    /// # Errors
    /// [`Error::Degenerate`] if `ε` is below [`MIN_EPSILON`] (both clouds one repeated point).
    pub(super) fn new(
        cfg: &'a PaperConfig,
        x: &[f32],
        y: &[f32],
        dim: usize,
    ) -> Result<Self, Error> {
        let eps = cfg.relative_epsilon * mean_cost(x, y, dim)?;
        if !(eps >= MIN_EPSILON && eps.is_finite()) {
            return Err(Error::Degenerate(
                "paper Sinkhorn: the mean x-y cost is zero, so the relative epsilon is too",
            ));
        }
        Ok(Run { cfg, eps })
    }

    /// Whether the error is checked before iteration `it` (0-based), i.e. after `it` iterations.
    fn checks_at(&self, it: u32) -> bool {
        it > 0 && it.is_multiple_of(self.cfg.inner_iterations)
    }

    /// The cap, rounded up to whole blocks of `inner_iterations`.
    fn cap(&self) -> u32 {
        let inner = self.cfg.inner_iterations;
        self.cfg
            .max_iterations
            .div_ceil(inner)
            .saturating_mul(inner)
    }
}

/// Scratch of a solve: a staged potential and one row of log-sum-exp scores.
pub(super) struct Scratch<'a> {
    /// At least as long as the potential it stages.
    pub tmp: &'a mut [f64],
    /// At least as long as the larger cloud.
    pub row: &'a mut [f64],
}

/// `OT_ε(a, b)` as ott's sequential solve: `xy` updates `f` on `x` against `y`, `yx` updates
/// `g`. Each `g` update is staged in `s.tmp`: it measures the column marginal of the current
/// pair, and is committed only if the loop goes on.
pub(super) fn solve_pair(
    xy: Geometry<'_>,
    yx: Geometry<'_>,
    run: Run<'_>,
    f: &mut [f64],
    g: &mut [f64],
    s: Scratch<'_>,
) -> Solve {
    let (eps, cap) = (run.eps, run.cap());
    f.fill(0.0);
    g.fill(0.0);
    let tmp = &mut s.tmp[..g.len()];
    let mut it = 0u32;
    let (error, excess, converged) = loop {
        let marg = dual_update::<true>(tmp, Some(g), yx, f, eps, s.row);
        if run.checks_at(it) || it >= cap {
            let converged = marg.error < run.cfg.threshold;
            if converged || it >= cap {
                break (marg.error, marg.excess, converged);
            }
        }
        g.copy_from_slice(tmp);
        dual_update::<true>(f, None, xy, g, eps, s.row);
        it += 1;
    };
    Solve {
        value: mean(f) + mean(g) - eps * excess,
        iterations: it,
        converged,
        error,
    }
}

/// `OT_ε(a, a)` as ott's symmetric solve, `p ← ½ (p + T(p))`; `xx` pairs the cloud with itself.
pub(super) fn solve_sym(xx: Geometry<'_>, run: Run<'_>, p: &mut [f64], s: Scratch<'_>) -> Solve {
    let (eps, cap) = (run.eps, run.cap());
    p.fill(0.0);
    let tmp = &mut s.tmp[..p.len()];
    let mut it = 0u32;
    let (error, excess, converged) = loop {
        let marg = dual_update::<true>(tmp, Some(p), xx, p, eps, s.row);
        if run.checks_at(it) || it >= cap {
            // both marginals of the symmetric plan: twice one of them
            let error = 2.0 * marg.error;
            let converged = error < run.cfg.threshold;
            if converged || it >= cap {
                break (error, marg.excess, converged);
            }
        }
        for (pi, &ti) in p.iter_mut().zip(tmp.iter()) {
            *pi = 0.5 * (*pi + ti);
        }
        it += 1;
    };
    Solve {
        value: 2.0 * mean(p) - eps * excess,
        iterations: it,
        converged,
        error,
    }
}
