//! The debiased Sinkhorn divergence between two uniform point clouds, in two conventions.
//!
//! With `a = 1/n` on the points `xᵢ`, `b = 1/m` on the points `yⱼ` (row-major `[n, dim]` and
//! `[m, dim]`) and the squared-Euclidean cost `C(x, y) = ‖x − y‖²` (ott-jax's `PointCloud`
//! default), the entropic OT cost is
//!
//! ```text
//! OT_ε(a, b) = min_{P ∈ Π(a, b)} ⟨C, P⟩ + ε KL(P ‖ a ⊗ b)
//!            = max_{f, g} ⟨f, a⟩ + ⟨g, b⟩ − ε ⟨e^{(f ⊕ g − C)/ε} − 1, a ⊗ b⟩,
//! ```
//!
//! and the **debiased Sinkhorn divergence** (Genevay et al. 2018; Feydy et al. 2019) is
//!
//! ```text
//! S_ε(a, b) = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b).
//! ```
//!
//! Reinforced SMC (Choi et al. 2025, §5) reports it as "sd", computed with ott-jax's
//! `sinkhorn_divergence` on `PointCloud`s. Its code means `ε = 1e-3`, but passes a
//! `PointCloud` instance where ott expects the class, so ott's default relative
//! `ε = 0.05 · mean cost` is what the published tables contain. Both are here
//! ([`SinkhornConvention`]):
//!
//! | convention | `ε` | stopping | file |
//! |---|---|---|---|
//! | [`Converged`](SinkhornConvention::Converged) | absolute, default `1e-3`, reached by ε-annealing | L1 marginal error `< 1e-3` | `converged.rs` |
//! | [`Paper`](SinkhornConvention::Paper) | `0.05 · mean_{i,j} C(xᵢ, yⱼ)`, shared by the three terms | ott-jax 0.4.6's defaults | `paper.rs` |
//!
//! The converged value approaches the exact `W₂²` as `ε → 0`; the paper's value at its much
//! larger `ε` is on a different, smaller scale (`docs/results.md`, "Sinkhorn: two
//! conventions"). Both return ott's `reg_ot_cost` for each term, evaluated from the dual
//! potentials as `⟨f, a⟩ + ⟨g, b⟩ + ε (1 − Σ P)` (the KL convention). With the entropy
//! convention (`⟨C, P⟩ − ε H(P)`) each `OT_ε` shifts by `−ε (H(a) + H(b))`, and these shifts
//! cancel in `S_ε`.
//!
//! ## Log-domain Sinkhorn (both conventions, `lse.rs`)
//! With `m` points on the other side, `fᵢ ← −ε LSEⱼ((gⱼ − C(xᵢ, yⱼ))/ε) + ε ln m`, then the same
//! for `g` from `f`. The cost is recomputed on the fly (no `n × m` buffer), or read from a
//! caller's cache ([`sinkhorn_divergence_cached`], same bits). The self terms `OT_ε(a, a)`,
//! `OT_ε(b, b)` use the symmetric averaged update `p ← ½ (p + T(p))` (Feydy et al. 2019).
//! Terms of a log-sum-exp more than 40 nats below the row maximum (relative weight
//! `< 4·10⁻¹⁸`) are skipped, which makes small-ε iterations cheap.
//!
//! ## The converged convention
//! The cross solve's value is `⟨f, a⟩ + ⟨g, b⟩`: it stops right after a `g` update, where the
//! plan's column marginal, hence its total mass, is exact; a self term's is `2 ⟨p, a⟩`.
//! **ε-annealing**: every solve starts at `ε₀ = diam²` (the squared diagonal of the
//! joint bounding box, an upper bound on the cost); at each level it iterates until the
//! **L1 marginal error** `Σᵢ |(P 1)ᵢ − aᵢ|` (ott's `norm_error = 1`) is below
//! [`SinkhornConfig::level_tolerance`], then multiplies ε by
//! [`SinkhornConfig::epsilon_decay`]; at the target ε it iterates until the error is below
//! [`SinkhornConfig::tolerance`]. Keeping every level nearly solved matters at ε = 1e-3:
//! with one iteration per level the potentials reach the target ε far from its solution and
//! plain Sinkhorn then creeps at a pace of order ε per iteration (the previous schedule did
//! not converge on 200 GMM40 points in 2·10⁵ iterations, and its value was 7 % low).
//!
//! ## The paper convention
//! ott-jax 0.4.6's solver step by step, with the source lines it follows: see `paper.rs`
//! ([`PaperConfig`]).
//!
//! In both, not converging within the iteration cap is **not an error**: the divergence from
//! the last iterate is returned with `converged = false` in [`SinkhornInfo`].

mod converged;
mod lse;
mod paper;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_paper;

pub use converged::SinkhornConfig;
pub use paper::{PaperConfig, mean_cost};

use crate::error::{Error, check_min_len};
use converged::Annealing;
use lse::{Geometry, Solve, fill_costs};
use paper::Scratch;

/// Smallest accepted [`SinkhornConfig::epsilon`] (and paper-convention `ε`). Below it the scores `(g − C)/ε` of far-apart
/// points can overflow `f64` to `-inf` (found by the property tests: `ε = 2.2·10⁻³⁰⁸` on two
/// points 1.95 apart gave a NaN divergence). With `ε ≥ 10⁻³⁰` every score stays finite for
/// any `f32` cloud: `C ≤ dim·(2·f32::MAX)² ≈ dim·4.6·10⁷⁷`, so `C/ε ≤ dim·4.6·10¹⁰⁷`.
pub const MIN_EPSILON: f64 = 1e-30;

/// Which Sinkhorn divergence to compute (see the [module docs](self)), with its settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SinkhornConvention {
    /// Absolute `ε` (default `1e-3`), ε-annealed and solved to convergence: close to the
    /// exact `W₂²` for small `ε`.
    Converged(SinkhornConfig),
    /// ott-jax 0.4.6's `sinkhorn_divergence(PointCloud, x, y)`: `ε = 0.05 · mean cost`, ott's
    /// stopping rule; the scale of the Reinforced SMC tables.
    Paper(PaperConfig),
}

impl Default for SinkhornConvention {
    fn default() -> Self {
        Self::Converged(SinkhornConfig::default())
    }
}

impl SinkhornConvention {
    /// The paper convention with ott-jax's defaults.
    pub fn paper() -> Self {
        Self::Paper(PaperConfig::default())
    }

    /// The converged convention with its defaults (`ε = 1e-3`).
    pub fn converged() -> Self {
        Self::Converged(SinkhornConfig::default())
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`SinkhornConfig::validate`] or [`PaperConfig::validate`].
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Self::Converged(c) => c.validate(),
            Self::Paper(c) => c.validate(),
        }
    }
}

/// What [`sinkhorn_divergence`] and [`divergence`] return.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SinkhornInfo {
    /// `S_ε = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b)`.
    pub divergence: f64,
    /// `OT_ε(a, b)` (ott-jax's `reg_ot_cost`, KL convention).
    pub ot_xy: f64,
    /// `OT_ε(a, a)`.
    pub ot_xx: f64,
    /// `OT_ε(b, b)`.
    pub ot_yy: f64,
    /// The `ε` of the three terms (the paper convention's is relative to the mean cost).
    pub epsilon: f64,
    /// Total iterations over the three solves (ε-scaling iterations included).
    pub iterations: u32,
    /// Whether all three solves reached the tolerance within the cap.
    pub converged: bool,
    /// The largest of the three last measured L1 marginal errors.
    pub final_error: f64,
}

/// Length of the `f64` workspace [`sinkhorn_divergence`] needs for `n` and `m` points:
/// `2(n + m) + 2 max(n, m)` (the potentials `f, g, p_x, p_y`, one scratch potential and one
/// row of log-sum-exp scores). Saturates instead of overflowing.
pub const fn sinkhorn_workspace_len(n: usize, m: usize) -> usize {
    let big = if n > m { n } else { m };
    n.saturating_add(m).saturating_add(big).saturating_mul(2)
}

/// Validates a point cloud: length a positive multiple of `dim`, finite; returns its size.
pub(crate) fn cloud_len(what: &'static str, pts: &[f32], dim: usize) -> Result<usize, Error> {
    if dim == 0 {
        return Err(Error::InvalidConfig("dim must be at least 1"));
    }
    let n = pts.len() / dim;
    // a ragged cloud is a shape error even when it holds less than one point (found by the
    // property tests: one value with `dim = 2` used to be reported as an empty cloud)
    if n * dim != pts.len() {
        return Err(Error::ShapeMismatch {
            what,
            expected: n * dim,
            got: pts.len(),
        });
    }
    if n == 0 {
        return Err(Error::Degenerate("empty point cloud"));
    }
    if pts.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite("point coordinate"));
    }
    Ok(n)
}

/// The debiased Sinkhorn divergence `S_ε(a, b) = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b)`
/// between the uniform clouds `x` (`[n, dim]`) and `y` (`[m, dim]`) with squared-Euclidean
/// cost (Genevay et al. 2018; Feydy et al. 2019; Reinforced SMC §5 via ott-jax
/// `sinkhorn_divergence`). See the [module docs](self) for the exact `OT_ε` returned, the
/// algorithm and the stopping rule.
///
/// `workspace` holds at least [`sinkhorn_workspace_len`]`(n, m)` `f64`s (scratch; its content
/// on return is unspecified). Not converging within the cap is reported by
/// `converged = false`, not as an error. At convergence `S_ε ≥ 0` and `S_ε(a, b) = S_ε(b, a)`
/// up to the tolerance.
///
/// # Errors
/// - [`Error::InvalidConfig`] if `dim == 0` or [`SinkhornConfig::validate`] fails;
/// - [`Error::ShapeMismatch`] if a cloud's length is not a multiple of `dim`, or `workspace`
///   is too short;
/// - [`Error::Degenerate`] if a cloud is empty;
/// - [`Error::NonFinite`] if a coordinate is NaN or infinite.
pub fn sinkhorn_divergence(
    x: &[f32],
    y: &[f32],
    dim: usize,
    config: &SinkhornConfig,
    workspace: &mut [f64],
) -> Result<SinkhornInfo, Error> {
    divergence(
        x,
        y,
        dim,
        &SinkhornConvention::Converged(*config),
        workspace,
        None,
    )
}

/// `f64`s of cost cache that [`sinkhorn_divergence_cached`] needs for clouds of `n` and `m`
/// points: `max(2nm, n², m²)` (both orientations of the cross costs, then each cloud's own).
pub const fn sinkhorn_cost_cache_len(n: usize, m: usize) -> usize {
    let nm = n.saturating_mul(m).saturating_mul(2);
    let (a, b) = (n.saturating_mul(n), m.saturating_mul(m));
    let ab = if a > b { a } else { b };
    if nm > ab { nm } else { ab }
}

/// [`sinkhorn_divergence`] with the squared distances computed once per solve into
/// `cost_cache` (at least [`sinkhorn_cost_cache_len`]`(n, m)` `f64`s, 64 MB for two clouds
/// of 2000 points) instead of at every iteration. The result is the same bits: the costs are
/// summed in the same order. Worth it when `dim` is more than a few (every iteration then
/// reads one number per pair instead of `dim` coordinates); this is how the CLI evaluates.
///
/// # Errors
/// As [`sinkhorn_divergence`], and [`Error::ShapeMismatch`] if `cost_cache` is too short.
pub fn sinkhorn_divergence_cached(
    x: &[f32],
    y: &[f32],
    dim: usize,
    config: &SinkhornConfig,
    workspace: &mut [f64],
    cost_cache: &mut [f64],
) -> Result<SinkhornInfo, Error> {
    divergence(
        x,
        y,
        dim,
        &SinkhornConvention::Converged(*config),
        workspace,
        Some(cost_cache),
    )
}

/// The debiased Sinkhorn divergence between the uniform clouds `x` (`[n, dim]`) and `y`
/// (`[m, dim]`) in either convention: [`sinkhorn_divergence`] (or, with a `cost_cache` of at
/// least [`sinkhorn_cost_cache_len`]`(n, m)` `f64`s, [`sinkhorn_divergence_cached`]) for
/// [`SinkhornConvention::Converged`]; ott-jax 0.4.6's value for
/// [`SinkhornConvention::Paper`]. `workspace` holds at least
/// [`sinkhorn_workspace_len`]`(n, m)` `f64`s in both.
///
/// # Errors
/// As [`sinkhorn_divergence`], with the convention's `validate`; and, for the paper
/// convention, [`Error::Degenerate`] if the mean x–y cost is zero (one repeated point on
/// both sides), so that `ε` would be.
pub fn divergence(
    x: &[f32],
    y: &[f32],
    dim: usize,
    convention: &SinkhornConvention,
    workspace: &mut [f64],
    cost_cache: Option<&mut [f64]>,
) -> Result<SinkhornInfo, Error> {
    convention.validate()?;
    let n = cloud_len("x", x, dim)?;
    let m = cloud_len("y", y, dim)?;
    check_min_len("workspace", sinkhorn_workspace_len(n, m), workspace.len())?;
    let plan = match convention {
        SinkhornConvention::Converged(c) => Plan::Converged(Annealing::new(c, x, y, dim)),
        SinkhornConvention::Paper(c) => Plan::Paper(paper::Run::new(c, x, y, dim)?),
    };
    let big = if n > m { n } else { m };
    let (f, rest) = workspace.split_at_mut(n);
    let (g, rest) = rest.split_at_mut(m);
    let (px, rest) = rest.split_at_mut(n);
    let (py, rest) = rest.split_at_mut(m);
    let (tmp, rest) = rest.split_at_mut(big);
    let mut w = Work {
        f,
        g,
        px,
        py,
        tmp,
        row: &mut rest[..big],
    };
    let (xy, xx, yy) = match cost_cache {
        None => (
            plan.pair(
                Geometry::new(x, y, dim, None),
                Geometry::new(y, x, dim, None),
                &mut w,
            ),
            plan.sym(Geometry::new(x, x, dim, None), Side::X, &mut w),
            plan.sym(Geometry::new(y, y, dim, None), Side::Y, &mut w),
        ),
        Some(cache) => {
            check_min_len("cost cache", sinkhorn_cost_cache_len(n, m), cache.len())?;
            let (cxy, rest) = cache.split_at_mut(n * m);
            let cyx = &mut rest[..n * m];
            fill_costs(x, y, dim, cxy);
            fill_costs(y, x, dim, cyx);
            let (gxy, gyx) = (
                Geometry::new(x, y, dim, Some(&*cxy)),
                Geometry::new(y, x, dim, Some(&*cyx)),
            );
            let xy = plan.pair(gxy, gyx, &mut w);
            let cxx = &mut cache[..n * n];
            fill_costs(x, x, dim, cxx);
            let xx = plan.sym(Geometry::new(x, x, dim, Some(&*cxx)), Side::X, &mut w);
            let cyy = &mut cache[..m * m];
            fill_costs(y, y, dim, cyy);
            let yy = plan.sym(Geometry::new(y, y, dim, Some(&*cyy)), Side::Y, &mut w);
            (xy, xx, yy)
        }
    };
    let errs = [xy.error, xx.error, yy.error];
    let final_error = errs.iter().fold(0.0f64, |a, &b| if b > a { b } else { a });
    Ok(SinkhornInfo {
        divergence: xy.value - 0.5 * (xx.value + yy.value),
        ot_xy: xy.value,
        ot_xx: xx.value,
        ot_yy: yy.value,
        epsilon: plan.epsilon(),
        iterations: xy.iterations + xx.iterations + yy.iterations,
        converged: xy.converged && xx.converged && yy.converged,
        final_error,
    })
}

/// The workspace carved into potentials and scratch.
struct Work<'a> {
    f: &'a mut [f64],
    g: &'a mut [f64],
    px: &'a mut [f64],
    py: &'a mut [f64],
    tmp: &'a mut [f64],
    row: &'a mut [f64],
}

/// Which self term a symmetric solve computes (whose potential it uses).
#[derive(Clone, Copy)]
enum Side {
    X,
    Y,
}

/// A convention's solver for one divergence.
#[derive(Clone, Copy)]
enum Plan<'a> {
    Converged(Annealing<'a>),
    Paper(paper::Run<'a>),
}

impl Plan<'_> {
    fn epsilon(&self) -> f64 {
        match self {
            Plan::Converged(a) => a.target(),
            Plan::Paper(r) => r.eps,
        }
    }

    fn pair(self, xy: Geometry<'_>, yx: Geometry<'_>, w: &mut Work<'_>) -> Solve {
        match self {
            Plan::Converged(a) => converged::solve_pair(xy, yx, a, w.f, w.g, w.row),
            Plan::Paper(r) => {
                let s = Scratch {
                    tmp: w.tmp,
                    row: w.row,
                };
                paper::solve_pair(xy, yx, r, w.f, w.g, s)
            }
        }
    }

    fn sym(self, xx: Geometry<'_>, side: Side, w: &mut Work<'_>) -> Solve {
        let p = match side {
            Side::X => &mut *w.px,
            Side::Y => &mut *w.py,
        };
        match self {
            Plan::Converged(a) => converged::solve_sym(xx, a, p, w.tmp, w.row),
            Plan::Paper(r) => {
                let s = Scratch {
                    tmp: w.tmp,
                    row: w.row,
                };
                paper::solve_sym(xx, r, p, s)
            }
        }
    }
}
