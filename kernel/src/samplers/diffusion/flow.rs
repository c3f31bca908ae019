//! Learnt state flows (SMC twists) and the chunked sub-trajectory balance loss of RSMC.
//!
//! Choi et al. 2025 (arXiv 2510.11711; `rsmc.md` §1.1, §1.3) parameterise the log-flow, the
//! soft value function of the MaxEnt-RL reading and the twist of SMC, with a "partial
//! energy" bias:
//!
//! ```text
//! log F_n(x) = h_φ(x, n/T) + (1 − β_n) log p_ref,n(x) + β_n log R(x),     0 < n < T
//! log F_0(x) = log Z + log p₀(x),    log F_T(x) = log R(x)
//! β_n = S_n / S_T,  S_n = Σ_{j<n} softplus(b_j)   (b ∈ ℝ^T learnt, initialised to ones)
//! ```
//!
//! so `β₀ = 0`, `β_T = 1`, `β` is monotone and starts linear; `p_ref,n` is the reference
//! marginal at step `n` ([`super::reference::Process::marginal_var`]; the bias is an
//! [`AnnealingPath`]). `h_φ` is a
//! [`PisNet`] with one output whose last layer starts at the constant `1e-8`.
//!
//! **SubTB over chunks.** With boundaries `s_k = kL` (`K = T/L`), stop-gradient policy terms
//! `Δ_k = Σ_{j=s_k}^{s_{k+1}−1} (log p_F − log p_B)` and stop-gradient `log Z` inside
//! `log F_0`, the loss of one trajectory is the mean over `2K` squared discrepancies
//!
//! ```text
//! d_k  = log F_{s_k} + Δ_k − log F_{s_{k+1}}                           (adjacent chunks)
//! d'_k = (log F_{s_k} + Σ_{m≥k} Δ_m − log R(x_T)) / (K − k)            (chunk to terminal)
//! ```
//!
//! and trains only `φ` and `b` (the policy and `log Z` are trained by TB alone).

use super::net::{NetGrads, NetInput, PisNet};
use super::policy::Trajectories;
use super::reference::{Process, Schedule, gaussian_log_pdf};
use crate::error::{Error, check_len, check_min_len};
use crate::math;
use crate::nn::LastLayerInit;
use crate::rng::Rng;

/// Initial value of every β logit (`get_beta_fn`: ones, so β starts linear).
pub const BETA_LOGIT_INIT: f32 = 1.0;

/// The flow model: network shape, number of steps and chunk length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flows {
    net: PisNet,
    steps: usize,
    chunk: usize,
}

impl Flows {
    /// Flows for `T = steps` with chunks of `chunk` steps, over a [`PisNet`] with one output.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `net.out() != 1`, `chunk == 0`, or `steps` is not a
    /// positive multiple of `chunk`.
    pub fn new(net: PisNet, steps: usize, chunk: usize) -> Result<Self, Error> {
        if net.out() != 1 {
            return Err(Error::InvalidConfig(
                "the flow network must have exactly one output",
            ));
        }
        if chunk == 0 || steps == 0 || !steps.is_multiple_of(chunk) {
            return Err(Error::InvalidConfig(
                "steps must be a positive multiple of the chunk length",
            ));
        }
        Ok(Flows { net, steps, chunk })
    }

    /// The network.
    pub fn net(&self) -> &PisNet {
        &self.net
    }
    /// Chunk length `L`.
    pub fn chunk(&self) -> usize {
        self.chunk
    }
    /// Number of chunks `K = T/L`.
    pub fn chunks(&self) -> usize {
        self.steps / self.chunk
    }
    /// Parameters: the network's, then `T` β logits.
    pub fn param_count(&self) -> usize {
        self.net.param_count() + self.steps
    }
    /// Offset of the β logits in the parameter vector.
    pub fn beta_offset(&self) -> usize {
        self.net.param_count()
    }

    /// Initialises: network with last layer `1e-8` (RSMC), β logits to ones.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != param_count()`.
    pub fn init<R: Rng + ?Sized>(&self, params: &mut [f32], rng: &mut R) -> Result<(), Error> {
        check_len("flow params", self.param_count(), params.len())?;
        let (np, bp) = params.split_at_mut(self.net.param_count());
        self.net.init(
            np,
            LastLayerInit::Constant {
                weight: 1e-8,
                bias: 0.0,
            },
            rng,
        )?;
        bp.iter_mut().for_each(|b| *b = BETA_LOGIT_INIT);
        Ok(())
    }

    /// Fills `betas` (`T + 1` values) from the logits in `params`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for wrong lengths.
    pub fn betas(&self, params: &[f32], betas: &mut [f32]) -> Result<(), Error> {
        check_len("flow params", self.param_count(), params.len())?;
        check_len("betas", self.steps + 1, betas.len())?;
        let logits = &params[self.beta_offset()..];
        let total: f64 = logits.iter().map(|&b| math::softplus(b as f64)).sum();
        let mut acc = 0.0f64;
        betas[0] = 0.0;
        for (n, &b) in logits.iter().enumerate() {
            acc += math::softplus(b as f64);
            betas[n + 1] = if n + 1 == self.steps {
                1.0
            } else {
                (acc / total) as f32
            };
        }
        Ok(())
    }
}

/// The partial-energy bias of the flows, a geometric annealing path between the reference
/// marginals and the target: `(1 − β_n) log p_ref,n(x) + β_n log R(x)`. Without learnt
/// flows it is the whole twist of SMC (with `β_n = n/T`).
#[derive(Clone, Copy, Debug)]
pub struct AnnealingPath<'a> {
    /// The reference process (`p_ref,n` is its marginal at step `n`).
    pub process: Process,
    /// `β_n` for `n = 0..=T` ([`Flows::betas`], or `n/T`).
    pub betas: &'a [f32],
}

/// A batch of states at a chunk boundary: the step `n`, the states `x` (`B × d`) and their
/// `log R` (`B`).
#[derive(Clone, Copy, Debug)]
pub struct Boundary<'a> {
    /// Step `n`.
    pub n: usize,
    /// States `x_n`.
    pub x: &'a [f32],
    /// `log R(x_n)` per row.
    pub log_r: &'a [f32],
}

/// The learnt twist: the flow model and its parameters (the network's, then the β logits).
#[derive(Clone, Copy, Debug)]
pub struct Twist<'a> {
    /// The flow model.
    pub flows: &'a Flows,
    /// Its [`Flows::param_count`] parameters.
    pub params: &'a [f32],
}

impl Twist<'_> {
    /// `log F_n` at an inner step `0 < n < T` for the batch `at`: writes `out` (`B`) and the
    /// network cache. `path` holds the process and the β schedule.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `n` is not an inner step; shape errors otherwise.
    pub fn log_flow(
        &self,
        path: AnnealingPath<'_>,
        at: Boundary<'_>,
        cache: &mut [f32],
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let (flows, params) = (self.flows, self.params);
        let (process, betas) = (path.process, path.betas);
        let Boundary { n, x, log_r } = at;
        if n == 0 || n >= flows.steps {
            return Err(Error::InvalidConfig(
                "log_flow is for inner steps 0 < n < T",
            ));
        }
        check_len("betas", flows.steps + 1, betas.len())?;
        let batch = out.len();
        check_len("flow log_r", batch, log_r.len())?;
        let np = &params[..flows.net.param_count()];
        let input = NetInput::new(x, batch, n as f32 / flows.steps as f32);
        flows.net.forward(np, input, cache, scratch, out)?;
        let beta = betas[n];
        let var = process.marginal_var(n, flows.steps);
        let d = flows.net.dim();
        for ((o, row), &lr) in out.iter_mut().zip(x.chunks_exact(d)).zip(log_r) {
            let lref = gaussian_log_pdf(row, var);
            *o += (1.0 - beta) * lref + beta * lr;
        }
        Ok(())
    }
}

/// Per-trajectory boundary quantities for SubTB, caller-owned.
#[derive(Debug)]
pub struct SubTbWorkspace<'a> {
    /// `[(K−1), B]`: `log R` at the inner boundary states (input, filled by the caller or
    /// by [`fill_boundary_log_r`]).
    pub boundary_log_r: &'a mut [f32],
    /// `[(K−1), B]`: `log F` at the inner boundaries (output).
    pub boundary_log_f: &'a mut [f32],
    /// `[(K−1), cache_len(B)]`: network caches at the inner boundaries.
    pub cache: &'a mut [f32],
    /// `[T + 1]`: β schedule.
    pub betas: &'a mut [f32],
    /// `[B]`: upstream gradient for one boundary.
    pub dout: &'a mut [f32],
    /// `[(K+1)]` per-trajectory `log F` at all boundaries, and `[K]` chunk sums: `2K + 1`.
    pub per_traj: &'a mut [f32],
    /// `[net.scratch_len(B)]`.
    pub net_scratch: &'a mut [f32],
}

impl SubTbWorkspace<'_> {
    /// Lengths `(boundary_log_r, boundary_log_f, cache, betas, dout, per_traj, net_scratch)`.
    pub fn lens(flows: &Flows, batch: usize) -> [usize; 7] {
        let inner = flows.chunks() - 1;
        [
            inner * batch,
            inner * batch,
            inner * flows.net.cache_len(batch),
            flows.steps + 1,
            batch,
            2 * flows.chunks() + 1,
            flows.net.scratch_len(batch),
        ]
    }
}

/// Evaluates `log R` at the inner chunk boundaries of `traj` into `out` (`[(K−1), B]`).
///
/// # Errors
/// [`Error::ShapeMismatch`] for wrong lengths.
pub fn fill_boundary_log_r<T: crate::targets::LogDensity + ?Sized>(
    flows: &Flows,
    traj: &Trajectories<'_>,
    target: &T,
    out: &mut [f32],
) -> Result<(), Error> {
    let (b, d) = (traj.batch, traj.dim);
    check_len("boundary log_r", (flows.chunks() - 1) * b, out.len())?;
    for k in 1..flows.chunks() {
        let x = traj.state(k * flows.chunk);
        for (o, row) in out[(k - 1) * b..k * b].iter_mut().zip(x.chunks_exact(d)) {
            *o = target.log_density(row);
        }
    }
    Ok(())
}

/// Result of the SubTB loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubTbInfo {
    /// Batch mean of the per-trajectory SubTB loss (before the weight `w`; over the
    /// chunk's usable trajectories for a chunk, [`SubTbTerms::batch`]).
    pub loss: f32,
    /// Sum of the per-trajectory losses of the usable trajectories.
    pub sum_loss: f64,
    /// Usable (not masked) trajectories.
    pub kept: u32,
}

/// The fixed terms of the SubTB loss: the ends of the flows, which it does not train, and
/// the loss weight.
#[derive(Clone, Copy, Debug)]
pub struct SubTbTerms<'a> {
    /// `log R(x_T)` per trajectory (`log F_T`).
    pub log_r: &'a [f32],
    /// The current `log Z` (stop-gradient, inside `log F_0`).
    pub log_z: f32,
    /// The loss weight `w`.
    pub weight: f32,
    /// The rows the gradient is averaged over: 0 for the usable trajectories of `traj`
    /// (the loss of the batch); `n > 0` when `traj` is one chunk of a batch of `n` rows
    /// split by a runner (the gradient is this chunk's share `w/n · Σ ∂ℓ_i`, and a chunk
    /// without a usable trajectory is not an error: the runner sums [`SubTbInfo::sum_loss`]
    /// and [`SubTbInfo::kept`] over the chunks and rescales by `n / kept` if some were
    /// masked). One chunk of `n` rows with none masked gives the bits of `0`.
    pub batch: usize,
}

/// Computes the chunked SubTB loss of scored trajectories (`log p_F`, `log p_B` filled) and
/// **accumulates** `w·∂L/∂(φ, b)` into `grads` (the flow parameter vector, as `twist.params`).
/// `terms` holds `log R(x_T)`, `log Z` and `w`; `ws.boundary_log_r` must hold `log R` at the
/// inner boundaries.
///
/// # Errors
/// [`Error::ShapeMismatch`] for wrong buffers; [`Error::Degenerate`] if no trajectory has
/// finite discrepancies. A trajectory with a non-finite `log R` (terminal or at a boundary)
/// or a non-finite discrepancy is masked, as in TB ([`super::tb`]): no loss term and no
/// gradient, and the mean runs over the other trajectories.
pub fn subtb_backward(
    twist: Twist<'_>,
    sched: &Schedule<'_>,
    traj: &Trajectories<'_>,
    terms: SubTbTerms<'_>,
    grads: &mut [f32],
    ws: &mut SubTbWorkspace<'_>,
) -> Result<SubTbInfo, Error> {
    let Twist { flows, params } = twist;
    let SubTbTerms {
        log_r,
        log_z,
        weight,
        batch,
    } = terms;
    let (b, d, t) = (traj.batch, traj.dim, traj.steps);
    if t != flows.steps || d != flows.net.dim() {
        return Err(Error::ShapeMismatch {
            what: "flow trajectories",
            expected: flows.steps,
            got: t,
        });
    }
    check_len("flow params", flows.param_count(), params.len())?;
    check_len("flow grads", flows.param_count(), grads.len())?;
    check_len("log_r", b, log_r.len())?;
    let lens = SubTbWorkspace::lens(flows, b);
    check_len("boundary_log_r", lens[0], ws.boundary_log_r.len())?;
    check_len("boundary_log_f", lens[1], ws.boundary_log_f.len())?;
    check_len("subtb cache", lens[2], ws.cache.len())?;
    check_len("betas", lens[3], ws.betas.len())?;
    check_len("subtb dout", lens[4], ws.dout.len())?;
    check_len("subtb per_traj", lens[5], ws.per_traj.len())?;
    check_min_len("subtb net_scratch", lens[6], ws.net_scratch.len())?;
    let kk = flows.chunks();
    let l = flows.chunk;
    let process = sched.process();
    let cl = flows.net.cache_len(b);
    flows.betas(params, ws.betas)?;
    // forward: log F at the inner boundaries
    for k in 1..kk {
        let n = k * l;
        let path = AnnealingPath {
            process,
            betas: ws.betas,
        };
        let at = Boundary {
            n,
            x: traj.state(n),
            log_r: &ws.boundary_log_r[(k - 1) * b..k * b],
        };
        twist.log_flow(
            path,
            at,
            &mut ws.cache[(k - 1) * cl..k * cl],
            ws.net_scratch,
            &mut ws.boundary_log_f[(k - 1) * b..k * b],
        )?;
    }
    // per trajectory: discrepancies, loss, and ∂L/∂log F_k, written over `boundary_log_f`
    let (logf, delta) = ws.per_traj.split_at_mut(kk + 1);
    let delta = &mut delta[..kk];
    let x0 = traj.state(0);
    // masking: a trajectory with a non-finite log R, log F or Δ contributes nothing
    let usable = |i: usize, blf: &[f32]| -> bool {
        let mut ok = log_r[i].is_finite();
        for k in 1..kk {
            ok &= blf[(k - 1) * b + i].is_finite();
        }
        for n in 0..t {
            ok &= (traj.log_pf[n * b + i] - traj.log_pb[n * b + i]).is_finite();
        }
        ok
    };
    let kept = (0..b).filter(|&i| usable(i, ws.boundary_log_f)).count();
    if kept == 0 && batch == 0 {
        return Err(Error::Degenerate(
            "sub-trajectory balance: no trajectory has finite log R and flows",
        ));
    }
    let denom = if batch == 0 { kept } else { batch };
    let scale = weight / (denom as f32 * 2.0 * kk as f32);
    let mut total = 0.0f64;
    for i in 0..b {
        if !usable(i, ws.boundary_log_f) {
            for k in 1..kk {
                ws.boundary_log_f[(k - 1) * b + i] = 0.0;
            }
            continue;
        }
        logf[0] = log_z + sched.log_p0(&x0[i * d..(i + 1) * d]);
        for k in 1..kk {
            logf[k] = ws.boundary_log_f[(k - 1) * b + i];
        }
        logf[kk] = log_r[i];
        for (k, dk) in delta.iter_mut().enumerate() {
            let mut s = 0.0f32;
            for n in k * l..(k + 1) * l {
                s += traj.log_pf[n * b + i] - traj.log_pb[n * b + i];
            }
            *dk = s;
        }
        let mut sum_sq = 0.0f64;
        // suffix sums of Δ for the to-terminal terms
        let mut suffix = 0.0f32;
        for k in (0..kk).rev() {
            suffix += delta[k];
            let adj = logf[k] + delta[k] - logf[k + 1];
            let rem = (kk - k) as f32;
            let term = (logf[k] + suffix - logf[kk]) / rem;
            if !adj.is_finite() || !term.is_finite() {
                // finite inputs whose differences overflow: a real failure, not a mask
                return Err(Error::NonFinite("sub-trajectory balance discrepancy"));
            }
            sum_sq += (adj as f64) * (adj as f64) + (term as f64) * (term as f64);
            // gradients wrt inner log F: d_k has +logF_k and −logF_{k+1}; d'_k has +logF_k/(K−k)
            if k >= 1 {
                // log F_k was copied to `logf`, so its slot now receives ∂L/∂log F_k; the
                // −adj_{k−1} part arrives at iteration k − 1 (later in this descending loop)
                ws.boundary_log_f[(k - 1) * b + i] = 2.0 * scale * (adj + term / rem);
            }
            if k + 1 < kk {
                // −logF_{k+1} in d_k; slot (k+1) was initialised at iteration k+1 (visited first)
                ws.boundary_log_f[k * b + i] -= 2.0 * scale * adj;
            }
        }
        total += sum_sq / (2.0 * kk as f64);
    }
    // backward: network and β logits
    let np = flows.net.param_count();
    let beta_total: f64 = params[np..].iter().map(|&v| math::softplus(v as f64)).sum();
    for k in 1..kk {
        let n = k * l;
        let x = traj.state(n);
        let var = process.marginal_var(n, flows.steps);
        let gk = &ws.boundary_log_f[(k - 1) * b..k * b];
        ws.dout.copy_from_slice(gk);
        // ∂L/∂β_n = Σ_i g_i (log R − log p_ref)
        let mut gb = 0.0f64;
        for ((&g, row), &lr) in gk
            .iter()
            .zip(x.chunks_exact(d))
            .zip(&ws.boundary_log_r[(k - 1) * b..k * b])
        {
            if g != 0.0 {
                // masked trajectories have g = 0 and may have log R = -inf (0·inf = NaN)
                gb += g as f64 * (lr as f64 - gaussian_log_pdf(row, var) as f64);
            }
        }
        // β_n = S_n / S_T: ∂β_n/∂b_j = σ(b_j)(1[j<n] S_T − S_n)/S_T²
        let s_n: f64 = params[np..np + n]
            .iter()
            .map(|&v| math::softplus(v as f64))
            .sum();
        for j in 0..flows.steps {
            let sig = math::sigmoid(params[np + j] as f64);
            let ind = if j < n { beta_total } else { 0.0 };
            grads[np + j] += (gb * sig * (ind - s_n) / (beta_total * beta_total)) as f32;
        }
        let (gnet, _) = grads.split_at_mut(np);
        let input = NetInput::new(x, b, n as f32 / flows.steps as f32);
        let g = NetGrads {
            dout: ws.dout,
            params: gnet,
            dx: None,
        };
        let cache = &ws.cache[(k - 1) * cl..k * cl];
        flows
            .net
            .backward(&params[..np], input, cache, g, ws.net_scratch)?;
    }
    Ok(SubTbInfo {
        loss: if kept == 0 {
            0.0
        } else {
            (total / kept as f64) as f32
        },
        sum_loss: total,
        kept: kept as u32,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{self, fill_standard_normal};
    use crate::samplers::diffusion::policy::{
        Policy, PolicyConfig, Rollout, sample_backward, score,
    };
    use crate::targets::{LogDensity, Target};
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn betas_start_linear_and_end_at_one() {
        let net = PisNet::new(2, 4, 2, 1).unwrap();
        let flows = Flows::new(net, 8, 2).unwrap();
        let mut p = vec![0.0f32; flows.param_count()];
        flows.init(&mut p, &mut rng::seeded(0)).unwrap();
        let mut betas = vec![0.0f32; 9];
        flows.betas(&p, &mut betas).unwrap();
        for (n, &b) in betas.iter().enumerate() {
            assert!((b - n as f32 / 8.0).abs() < 1e-6, "{n}: {b}");
        }
        assert!(Flows::new(net, 9, 2).is_err());
        assert!(Flows::new(PisNet::new(2, 4, 2, 2).unwrap(), 8, 2).is_err());
    }

    /// Loss as a plain function of the flow parameters (f64 accumulation), for finite
    /// differences.
    fn subtb_loss(
        twist: Twist<'_>,
        sched: &Schedule<'_>,
        traj: &Trajectories<'_>,
        log_r: &[f32],
        blr: &[f32],
        log_z: f32,
    ) -> f64 {
        let Twist { flows, params: p } = twist;
        let (b, d) = (traj.batch, traj.dim);
        let kk = flows.chunks();
        let l = flows.chunk();
        let mut betas = vec![0.0f32; traj.steps + 1];
        flows.betas(p, &mut betas).unwrap();
        let mut cache = vec![0.0; flows.net().cache_len(b)];
        let mut scratch = vec![0.0; flows.net().scratch_len(b)];
        let mut lf = vec![vec![0.0f32; b]; kk + 1];
        for k in 1..kk {
            let path = AnnealingPath {
                process: sched.process(),
                betas: &betas,
            };
            let at = Boundary {
                n: k * l,
                x: traj.state(k * l),
                log_r: &blr[(k - 1) * b..k * b],
            };
            twist
                .log_flow(path, at, &mut cache, &mut scratch, &mut lf[k])
                .unwrap();
        }
        let mut total = 0.0f64;
        for i in 0..b {
            let mut f: Vec<f64> = (0..=kk).map(|k| lf[k][i] as f64).collect();
            f[0] = log_z as f64 + sched.log_p0(&traj.state(0)[i * d..(i + 1) * d]) as f64;
            f[kk] = log_r[i] as f64;
            let delta: Vec<f64> = (0..kk)
                .map(|k| {
                    (k * l..(k + 1) * l)
                        .map(|n| (traj.log_pf[n * b + i] - traj.log_pb[n * b + i]) as f64)
                        .sum()
                })
                .collect();
            let mut s = 0.0;
            for k in 0..kk {
                let adj = f[k] + delta[k] - f[k + 1];
                let suffix: f64 = delta[k..].iter().sum();
                let term = (f[k] + suffix - f[kk]) / (kk - k) as f64;
                s += adj * adj + term * term;
            }
            total += s / (2 * kk) as f64;
        }
        total / b as f64
    }

    #[test]
    fn subtb_gradcheck() {
        let (d, b, t, l) = (2usize, 3usize, 6usize, 2usize);
        let target = Target::from_name("9gmm", None).unwrap();
        let process = Process::PinnedBrownian { t_scale: 2.0 };
        let mut table = vec![0.0f32; Schedule::table_len(t)];
        let sched = Schedule::new(process, t, &mut table).unwrap();
        let pcfg = PolicyConfig::default();
        let pnet = PisNet::new(d, 4, 2, d).unwrap();
        let mut r = rng::seeded(5);
        let mut pp = vec![0.0f32; pnet.param_count()];
        pnet.init(&mut pp, LastLayerInit::Default, &mut r).unwrap();
        let fnet = PisNet::new(d, 5, 3, 1).unwrap();
        let flows = Flows::new(fnet, t, l).unwrap();
        let mut fp = vec![0.0f32; flows.param_count()];
        flows.init(&mut fp, &mut r).unwrap();
        // make the flow net and the β logits non-trivial so every gradient path is exercised
        fnet.init(
            &mut fp[..fnet.param_count()],
            LastLayerInit::Default,
            &mut r,
        )
        .unwrap();
        let np = fnet.param_count();
        for (j, v) in fp[np..].iter_mut().enumerate() {
            *v = 0.5 + 0.3 * j as f32;
        }
        // trajectories backward from x_T, scored by the policy
        let mut x_t = vec![0.0f32; b * d];
        fill_standard_normal(&mut r, &mut x_t);
        let mut arena = vec![0.0; Rollout::arena_len(&pnet, b, t, false)];
        let Rollout { mut traj, mut ws } = Rollout::carve(&pnet, b, t, false, &mut arena).unwrap();
        sample_backward(&sched, &x_t, &mut traj, ws.noise, &mut r).unwrap();
        let policy = Policy {
            cfg: &pcfg,
            sched: &sched,
            net: &pnet,
            params: &pp,
        };
        score(policy, &target, &mut traj, &mut ws, false).unwrap();
        let log_r: Vec<f32> = traj
            .terminal()
            .chunks_exact(d)
            .map(|x| target.log_density(x))
            .collect();
        let lens = SubTbWorkspace::lens(&flows, b);
        let mut bufs: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.0f32; n]).collect();
        fill_boundary_log_r(&flows, &traj, &target, &mut bufs[0]).unwrap();
        let blr = bufs[0].clone();
        let log_z = 0.7f32;
        let mut g = vec![0.0f32; flows.param_count()];
        let twist = Twist {
            flows: &flows,
            params: &fp,
        };
        let info = {
            let [b0, b1, b2, b3, b4, b5, b6] = &mut bufs[..] else {
                unreachable!()
            };
            let mut sws = SubTbWorkspace {
                boundary_log_r: b0,
                boundary_log_f: b1,
                cache: b2,
                betas: b3,
                dout: b4,
                per_traj: b5,
                net_scratch: b6,
            };
            let terms = SubTbTerms {
                log_r: &log_r,
                log_z,
                weight: 1.0,
                batch: 0,
            };
            subtb_backward(twist, &sched, &traj, terms, &mut g, &mut sws).unwrap()
        };
        let base = subtb_loss(twist, &sched, &traj, &log_r, &blr, log_z);
        assert!(
            (info.loss as f64 - base).abs() < 1e-3 * (1.0 + base),
            "{} vs {base}",
            info.loss
        );
        let h = 1e-2f32;
        for i in 0..fp.len() {
            let mut q = fp.clone();
            q[i] += h;
            let lp = subtb_loss(
                Twist {
                    flows: &flows,
                    params: &q,
                },
                &sched,
                &traj,
                &log_r,
                &blr,
                log_z,
            );
            q[i] -= 2.0 * h;
            let lm = subtb_loss(
                Twist {
                    flows: &flows,
                    params: &q,
                },
                &sched,
                &traj,
                &log_r,
                &blr,
                log_z,
            );
            let fd = (lp - lm) / (2.0 * h as f64);
            let tol = 3e-2 * (1e-1 + fd.abs().max(g[i].abs() as f64));
            assert!(
                (fd - g[i] as f64).abs() < tol,
                "flow param {i} (beta logits from {np}): fd {fd} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn subtb_chunks_add_up_to_the_batch() {
        // a batch split into chunks (`SubTbTerms::batch`): the chunk gradients add up to the
        // batch's, the loss sums over the chunks to its loss, and one chunk of the whole batch
        // gives its bits
        let (d, b, t, l) = (2usize, 5usize, 6usize, 2usize);
        let target = Target::from_name("9gmm", None).unwrap();
        let process = Process::PinnedBrownian { t_scale: 2.0 };
        let mut table = vec![0.0f32; Schedule::table_len(t)];
        let sched = Schedule::new(process, t, &mut table).unwrap();
        let pcfg = PolicyConfig::default();
        let pnet = PisNet::new(d, 4, 2, d).unwrap();
        let mut r = rng::seeded(8);
        let mut pp = vec![0.0f32; pnet.param_count()];
        pnet.init(&mut pp, LastLayerInit::Default, &mut r).unwrap();
        let fnet = PisNet::new(d, 5, 3, 1).unwrap();
        let flows = Flows::new(fnet, t, l).unwrap();
        let mut fp = vec![0.0f32; flows.param_count()];
        flows.init(&mut fp, &mut r).unwrap();
        let np = fnet.param_count();
        fnet.init(&mut fp[..np], LastLayerInit::Default, &mut r)
            .unwrap();
        let mut x_t = vec![0.0f32; b * d];
        fill_standard_normal(&mut r, &mut x_t);
        let mut arena = vec![0.0; Rollout::arena_len(&pnet, b, t, false)];
        let Rollout { mut traj, mut ws } = Rollout::carve(&pnet, b, t, false, &mut arena).unwrap();
        sample_backward(&sched, &x_t, &mut traj, ws.noise, &mut r).unwrap();
        let policy = Policy {
            cfg: &pcfg,
            sched: &sched,
            net: &pnet,
            params: &pp,
        };
        score(policy, &target, &mut traj, &mut ws, false).unwrap();
        let log_r: Vec<f32> = traj
            .terminal()
            .chunks_exact(d)
            .map(|x| target.log_density(x))
            .collect();
        let twist = Twist {
            flows: &flows,
            params: &fp,
        };
        let run = |tr: &Trajectories<'_>, lr: &[f32], batch: usize, g: &mut [f32]| {
            let lens = SubTbWorkspace::lens(&flows, tr.batch);
            let mut bufs: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.0f32; n]).collect();
            fill_boundary_log_r(&flows, tr, &target, &mut bufs[0]).unwrap();
            let [b0, b1, b2, b3, b4, b5, b6] = &mut bufs[..] else {
                unreachable!()
            };
            let mut sws = SubTbWorkspace {
                boundary_log_r: b0,
                boundary_log_f: b1,
                cache: b2,
                betas: b3,
                dout: b4,
                per_traj: b5,
                net_scratch: b6,
            };
            let terms = SubTbTerms {
                log_r: lr,
                log_z: 0.7,
                weight: 0.5,
                batch,
            };
            subtb_backward(twist, &sched, tr, terms, g, &mut sws).unwrap()
        };
        let n = flows.param_count();
        let mut g_full = vec![0.0f32; n];
        let full = run(&traj, &log_r, 0, &mut g_full);
        assert_eq!(full.kept as usize, b);
        let mut g_one = vec![0.0f32; n];
        let one = run(&traj, &log_r, b, &mut g_one);
        assert_eq!(one.loss.to_bits(), full.loss.to_bits());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&g_one), bits(&g_full));
        let (mut g_sum, mut sum, mut kept) = (vec![0.0f32; n], 0.0f64, 0u32);
        for (lo, hi) in [(0usize, 2usize), (2, 5)] {
            let rows = hi - lo;
            let mut ca = vec![0.0; Rollout::arena_len(&pnet, rows, t, false)];
            let ct = Rollout::carve(&pnet, rows, t, false, &mut ca).unwrap().traj;
            for s in 0..=t {
                ct.states[s * rows * d..(s + 1) * rows * d]
                    .copy_from_slice(&traj.states[(s * b + lo) * d..(s * b + hi) * d]);
            }
            for s in 0..t {
                let (dst, src) = (s * rows..(s + 1) * rows, s * b + lo..s * b + hi);
                ct.log_pf[dst.clone()].copy_from_slice(&traj.log_pf[src.clone()]);
                ct.log_pb[dst].copy_from_slice(&traj.log_pb[src]);
            }
            let mut g = vec![0.0f32; n];
            let ci = run(&ct, &log_r[lo..hi], b, &mut g);
            g_sum.iter_mut().zip(&g).for_each(|(a, &x)| *a += x);
            sum += ci.sum_loss;
            kept += ci.kept;
        }
        assert_eq!(kept as usize, b);
        let loss = sum / b as f64;
        assert!(
            (loss - full.loss as f64).abs() < 1e-5 * (1.0 + loss.abs()),
            "{loss} vs {}",
            full.loss
        );
        assert!(g_full.iter().any(|&x| x != 0.0));
        for (i, (&a, &x)) in g_sum.iter().zip(&g_full).enumerate() {
            assert!(
                (a - x).abs() <= 1e-5 * (1.0 + x.abs()),
                "param {i}: {a} vs {x}"
            );
        }
    }
}
