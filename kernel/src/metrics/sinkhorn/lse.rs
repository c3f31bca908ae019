//! The log-domain Sinkhorn pass both conventions share: one potential update by row-wise
//! log-sum-exp over the costs (recomputed or cached), which also measures the plan's marginal
//! error before the update.

use crate::math;

/// Log-sum-exp terms this far below the row maximum are skipped (`e^{-40} ≈ 4.2·10⁻¹⁸`) by
/// the libm form.
const LSE_CUTOFF: f64 = 40.0;

/// Terms per block of the polynomial form. Fixed (not [`math::BLOCK`]), so that the order of
/// the sum, hence its bits, is the same on every target.
const LSE_BLOCK: usize = 16;

/// Lanes of [`row_max`].
const MAX_LANES: usize = 8;

/// One solve's outcome.
#[derive(Clone, Copy)]
pub(super) struct Solve {
    /// `OT_ε` of the final iterate.
    pub value: f64,
    /// Iterations done.
    pub iterations: u32,
    /// Whether the stopping rule was met within the cap.
    pub converged: bool,
    /// The last measured L1 marginal error.
    pub error: f64,
}

/// The geometry of one direction of a transport problem: the cloud `a` whose potential is
/// updated (`[n_a, dim]`), the cloud `b` it is paired with (`[n_b, dim]`) and, when cached,
/// their costs `C(aᵢ, bⱼ)` (`[n_a, n_b]`, filled by [`fill_costs`]).
#[derive(Clone, Copy)]
pub(super) struct Geometry<'a> {
    /// Points whose potential is updated.
    a: &'a [f32],
    /// Points on the other side.
    b: &'a [f32],
    /// Point dimension.
    dim: usize,
    /// Cached `‖aᵢ − bⱼ‖²` row by row, or `None` to recompute them.
    costs: Option<&'a [f64]>,
}

impl<'a> Geometry<'a> {
    pub(super) const fn new(
        a: &'a [f32],
        b: &'a [f32],
        dim: usize,
        costs: Option<&'a [f64]>,
    ) -> Self {
        Geometry { a, b, dim, costs }
    }
}

/// The plan's marginal on the updated side before a [`dual_update`], against its target
/// `1/n_a`: with `rᵢ` the plan's row sums, `eᵢ = n_a rᵢ − 1 = e^{(oldᵢ − outᵢ)/ε} − 1`.
#[derive(Clone, Copy)]
pub(super) struct Marginal {
    /// `Σᵢ (1/n_a) |eᵢ|`: the L1 marginal error (ott-jax's `norm_error = 1`).
    pub error: f64,
    /// `Σᵢ (1/n_a) eᵢ = Σ P − 1`: the plan's total mass minus one.
    pub excess: f64,
}

/// `out_i = −ε (LSEⱼ((pⱼ − C(aᵢ, bⱼ))/ε) − ln m_b)` for every row `aᵢ` of `geom.a`, with
/// `pot_b` the potential on `geom.b`; returns the [`Marginal`] of the plan before the update
/// (`old` is `out`'s previous content, or `prev` when given).
///
/// `POLY` picks how the exponentials are summed: `false`, `libm::exp` term by term with terms
/// more than [`LSE_CUTOFF`] nats below the maximum skipped (the converged convention, whose
/// small ε makes most terms negligible); `true`, every term by [`math::exp_fast_f64_block`]
/// in blocks of [`LSE_BLOCK`] (the paper convention, whose large ε keeps most terms).
pub(super) fn dual_update<const POLY: bool>(
    out: &mut [f64],
    prev: Option<&[f64]>,
    geom: Geometry<'_>,
    pot_b: &[f64],
    eps: f64,
    row: &mut [f64],
) -> Marginal {
    let Geometry {
        a: pts_a,
        b: pts_b,
        dim,
        costs,
    } = geom;
    let inv_eps = 1.0 / eps;
    let n_b = pot_b.len();
    let ln_nb = math::ln(n_b as f64);
    let row = &mut row[..n_b];
    let inv_na = 1.0 / out.len() as f64;
    let mut err = 0.0f64;
    let mut excess = 0.0f64;
    for (i, (o, a)) in out.iter_mut().zip(pts_a.chunks_exact(dim)).enumerate() {
        let mx = match costs.and_then(|c| c.get(i * n_b..(i + 1) * n_b)) {
            Some(c) => scores_cached(c, pot_b, inv_eps, row),
            None => match dim {
                1 => scores::<1>(a, pts_b, pot_b, inv_eps, row),
                2 => scores::<2>(a, pts_b, pot_b, inv_eps, row),
                3 => scores::<3>(a, pts_b, pot_b, inv_eps, row),
                _ => scores_dyn(a, pts_b, pot_b, dim, inv_eps, row),
            },
        };
        // The cutoff is tested on `r − mx`, not as `r > mx − 40`: once |mx| exceeds ~2⁵⁸,
        // `mx − 40` rounds to `mx`, the maximum itself was skipped, the sum was 0 and the
        // potentials became ±inf and then NaN (found by the property tests, e.g. two points
        // 1.95 apart at ε = 1e-20, or 1e9 apart at ε = 1e-3).
        let s = if POLY {
            sum_exp_poly(row, mx)
        } else {
            let mut s = 0.0f64;
            for &r in row.iter() {
                let d = r - mx;
                if d > -LSE_CUTOFF {
                    s += math::exp(d);
                }
            }
            s
        };
        let new = -eps * (mx + math::ln(s) - ln_nb);
        let old = match prev {
            Some(p) => p.get(i).copied().unwrap_or(new),
            None => *o,
        };
        let e = math::exp((old - new) * inv_eps) - 1.0;
        err += if e < 0.0 { -e } else { e } * inv_na;
        excess += e * inv_na;
        *o = new;
    }
    Marginal { error: err, excess }
}

/// `Σⱼ e^{row[j] − mx}` with every term, by [`math::exp_fast_f64_block`]: [`LSE_BLOCK`]
/// running sums (one per position in a block), added in order at the end, then the tail.
fn sum_exp_poly(row: &[f64], mx: f64) -> f64 {
    let mut lanes = [0.0f64; LSE_BLOCK];
    let mut blocks = row.chunks_exact(LSE_BLOCK);
    for b in &mut blocks {
        let mut d = [0.0f64; LSE_BLOCK];
        for (di, &r) in d.iter_mut().zip(b) {
            *di = r - mx;
        }
        for (l, e) in lanes.iter_mut().zip(math::exp_fast_f64_block(&d)) {
            *l += e;
        }
    }
    let mut s = 0.0f64;
    for l in lanes {
        s += l;
    }
    for &r in blocks.remainder() {
        s += math::exp_fast_f64(r - mx);
    }
    s
}

/// Fills `row[j] = (pot[j] − ‖a − b_j‖²)/ε` for a fixed dimension `D`; returns the maximum.
#[inline]
fn scores<const D: usize>(
    a: &[f32],
    pts_b: &[f32],
    pot: &[f64],
    inv_eps: f64,
    row: &mut [f64],
) -> f64 {
    let mut xa = [0.0f64; D];
    for (x, &v) in xa.iter_mut().zip(a) {
        *x = v as f64;
    }
    for ((r, b), &p) in row.iter_mut().zip(pts_b.chunks_exact(D)).zip(pot) {
        let mut c = 0.0f64;
        for k in 0..D {
            let d = xa[k] - b[k] as f64;
            c += d * d;
        }
        *r = (p - c) * inv_eps;
    }
    row_max(row)
}

/// [`scores`] for a run-time dimension.
fn scores_dyn(
    a: &[f32],
    pts_b: &[f32],
    pot: &[f64],
    dim: usize,
    inv_eps: f64,
    row: &mut [f64],
) -> f64 {
    for ((r, b), &p) in row.iter_mut().zip(pts_b.chunks_exact(dim)).zip(pot) {
        *r = (p - math::sq_dist(a, b)) * inv_eps;
    }
    row_max(row)
}

/// [`scores`] from a precomputed cost row `c[j] = ‖a − b_j‖²` (filled by [`fill_costs`],
/// which adds the squares in the same order, so the scores are the same bits).
fn scores_cached(c: &[f64], pot: &[f64], inv_eps: f64, row: &mut [f64]) -> f64 {
    for ((r, &cj), &p) in row.iter_mut().zip(c).zip(pot) {
        *r = (p - cj) * inv_eps;
    }
    row_max(row)
}

/// The largest value of a row (`-inf` if empty), by running maxima in [`MAX_LANES`] lanes so
/// that the loop vectorises; the maximum of a set does not depend on the order.
fn row_max(row: &[f64]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; MAX_LANES];
    let mut blocks = row.chunks_exact(MAX_LANES);
    for b in &mut blocks {
        for (l, &v) in lanes.iter_mut().zip(b) {
            *l = if v > *l { v } else { *l };
        }
    }
    let mut mx = f64::NEG_INFINITY;
    for v in lanes.into_iter().chain(blocks.remainder().iter().copied()) {
        mx = if v > mx { v } else { mx };
    }
    mx
}

/// `out[i·m + j] = ‖a_i − b_j‖²` in `f64`, summed over coordinates in order (as [`scores`]).
pub(super) fn fill_costs(a: &[f32], b: &[f32], dim: usize, out: &mut [f64]) {
    let m = b.len() / dim;
    for (orow, pa) in out.chunks_exact_mut(m).zip(a.chunks_exact(dim)) {
        for (o, pb) in orow.iter_mut().zip(b.chunks_exact(dim)) {
            *o = math::sq_dist(pa, pb);
        }
    }
}

/// The arithmetic mean of a potential.
pub(super) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}
