//! Trajectory balance (TB) with a learnt `log Z`, gradients by hand through the rollout.
//!
//! For a trajectory `τ = (x₀ → … → x_T)` (Malkin et al. 2022; `rsmc.md` §1.3):
//!
//! ```text
//! δ(τ) = log Z + log p₀(x₀) + Σ_n log p_F(x_{n+1} | x_n) − Σ_n log p_B(x_n | x_{n+1}) − log R(x_T)
//! L_TB = (1/B) Σ_b δ(τ_b)²
//! ```
//!
//! States are data (no reparameterisation), so `∂L/∂θ = (2/B) Σ_b δ_b Σ_n ∂ log p_F/∂θ`,
//! obtained by back-propagating the per-step upstream gradient of `log p_F` with respect to
//! the network outputs through each step's cached forward pass; `∂L/∂log Z = (2/B) Σ_b δ_b`.
//! (gfn-diffusion's `fwd_tb` halves this loss; Adam is invariant to that constant factor up
//! to its ε.)
//!
//! **Non-finite residuals are masked**: a trajectory whose `δ` is not finite (a target that
//! returns NaN, `±inf` or `-inf` somewhere, or a non-finite `log p_F`) gets `δ = 0`, hence no
//! gradient, and the means run over the `B′` finite trajectories (`∂L/∂θ = (2/B′) Σ δ …`);
//! the count is [`TbInfo::masked`]. A batch with no finite residual is
//! [`Error::Degenerate`]. With every residual finite the result is unchanged (`B′ = B`).

use super::net::{NetGrads, NetInput};
use super::policy::{
    Policy, Trajectories, Transition, Workspace, fill_log_r, log_pf_output_grad, sample_forward,
};
use super::reference::Schedule;
use crate::error::{Error, check_len, check_min_len};
use crate::rng::Rng;
use crate::targets::LogDensity;

/// Result of one TB loss evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TbInfo {
    /// `L_TB = mean δ²`.
    pub loss: f32,
    /// `mean δ`.
    pub mean_delta: f32,
    /// `∂L/∂log Z = 2·mean δ`.
    pub log_z_grad: f32,
    /// Trajectories whose residual was not finite, masked out of the loss (see the module
    /// docs).
    pub masked: u32,
}

/// TB residuals `δ_b` into `delta` (`B` values) for trajectories already scored under the
/// current policy (`log p_F` filled), and the loss statistics. `scale_b` are optional
/// per-trajectory loss weights (`None` = 1).
///
/// Non-finite residuals are masked (set to 0, left out of the means; see the module docs).
///
/// # Errors
/// [`Error::ShapeMismatch`] for inconsistent lengths; [`Error::Degenerate`] if no residual
/// is finite (for example `log R` is NaN or `-inf` at every terminal state).
pub fn residuals(
    sched: &Schedule<'_>,
    traj: &Trajectories<'_>,
    log_r: &[f32],
    log_z: f32,
    delta: &mut [f32],
) -> Result<TbInfo, Error> {
    let b = traj.batch;
    check_len("tb delta", b, delta.len())?;
    super::policy::log_weights(sched, traj, log_r, delta)?;
    let (mut s, mut s2) = (0.0f64, 0.0f64);
    let mut masked = 0u32;
    for d in delta.iter_mut() {
        *d = log_z - *d;
        if !d.is_finite() {
            *d = 0.0;
            masked += 1;
            continue;
        }
        s += *d as f64;
        s2 += (*d as f64) * (*d as f64);
    }
    let kept = b - masked as usize;
    if kept == 0 {
        return Err(Error::Degenerate(
            "trajectory balance: no trajectory has a finite residual (is log R finite anywhere?)",
        ));
    }
    let bf = kept as f64;
    Ok(TbInfo {
        loss: (s2 / bf) as f32,
        mean_delta: (s / bf) as f32,
        log_z_grad: (2.0 * s / bf) as f32,
        masked,
    })
}

/// Scratch for [`backward`].
#[derive(Debug)]
pub struct TbWorkspace<'a> {
    /// `[B]`: residuals (output: `δ_b` after the call).
    pub delta: &'a mut [f32],
    /// `[B]`: per-trajectory upstream coefficients.
    pub coef: &'a mut [f32],
    /// `[B·out]`: upstream gradient of one step.
    pub dout: &'a mut [f32],
    /// `[net.scratch_len(B)]`.
    pub net_scratch: &'a mut [f32],
}

/// Computes `L_TB` and **accumulates** `∂L/∂θ` into `grads` (policy parameters); returns the
/// loss and `∂L/∂log Z`. `traj` must have been filled with caches (by
/// [`super::policy::sample_forward`] or [`super::policy::score`] with `keep_cache`).
///
/// # Errors
/// As [`residuals`], and [`Error::ShapeMismatch`] for wrong buffers.
pub fn backward(
    policy: Policy<'_>,
    traj: &Trajectories<'_>,
    log_r: &[f32],
    log_z: f32,
    grads: &mut [f32],
    ws: &mut TbWorkspace<'_>,
) -> Result<TbInfo, Error> {
    let (b, t) = (traj.batch, traj.steps);
    let (net, sched) = (policy.net, policy.sched);
    check_len("tb coef", b, ws.coef.len())?;
    check_len("tb dout", b * net.out(), ws.dout.len())?;
    check_min_len("tb net_scratch", net.scratch_len(b), ws.net_scratch.len())?;
    check_len("tb cache", t * net.cache_len(b), traj.cache.len())?;
    let info = residuals(sched, traj, log_r, log_z, ws.delta)?;
    // masked trajectories have δ = 0: no gradient; the mean runs over the others
    let k = 2.0 / (b - info.masked as usize) as f32;
    for (c, &dl) in ws.coef.iter_mut().zip(ws.delta.iter()) {
        *c = k * dl;
    }
    backprop_log_pf(policy, traj, ws.coef, grads, ws.dout, ws.net_scratch)?;
    Ok(info)
}

/// Accumulates `∂/∂θ Σ_b coef_b Σ_n log p_F(x_{n+1}^b | x_n^b)` into `grads`, using the
/// per-step caches of `traj`.
///
/// # Errors
/// [`Error::ShapeMismatch`] for wrong buffers.
pub fn backprop_log_pf(
    policy: Policy<'_>,
    traj: &Trajectories<'_>,
    coef: &[f32],
    grads: &mut [f32],
    dout: &mut [f32],
    net_scratch: &mut [f32],
) -> Result<(), Error> {
    let Policy {
        cfg,
        sched,
        net,
        params,
    } = policy;
    let (b, t) = (traj.batch, traj.steps);
    let cl = net.cache_len(b);
    check_len("tb cache", t * cl, traj.cache.len())?;
    for n in 0..t {
        let step = Transition::new(traj.states, traj.outputs, (b, traj.dim, net.out()), n);
        log_pf_output_grad(cfg, sched, step, coef, dout);
        let input = NetInput::new(step.x, b, n as f32 / t as f32);
        let g = NetGrads {
            dout,
            params: &mut *grads,
            dx: None,
        };
        net.backward(
            params,
            input,
            &traj.cache[n * cl..(n + 1) * cl],
            g,
            net_scratch,
        )?;
    }
    Ok(())
}

/// Sums over the rows of one chunk of a TB batch ([`chunk_gradient`]); chunks
/// are combined by adding these in a fixed chunk order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TbChunkSums {
    /// `Σ_b δ_b` over the chunk's rows.
    pub sum_delta: f64,
    /// `Σ_b δ_b²` over the chunk's rows.
    pub sum_delta2: f64,
    /// Rows whose residual was not finite: masked (`δ = 0`, no gradient), as in
    /// [`residuals`]. The runner divides by the finite rows of the whole batch.
    pub masked: u32,
}

/// The caller-owned views of one chunk of a TB batch ([`chunk_gradient`]): its
/// trajectory storage and rollout scratch, its per-row buffers and its own gradient
/// accumulator.
#[derive(Debug)]
pub struct ChunkViews<'a> {
    /// The chunk's trajectories (`traj.batch` rows, with caches).
    pub traj: Trajectories<'a>,
    /// Rollout scratch for `traj.batch` rows.
    pub ws: Workspace<'a>,
    /// `[B]`: `log R(x_T)` (output).
    pub log_r: &'a mut [f32],
    /// `[B]`: residuals `δ_b` (output).
    pub delta: &'a mut [f32],
    /// `[B]`: per-row upstream coefficients (scratch).
    pub coef: &'a mut [f32],
    /// `[B·out]`: upstream gradient of one step (scratch).
    pub dout: &'a mut [f32],
    /// Policy gradient (`param_count()` values), **accumulated**.
    pub grads: &'a mut [f32],
}

/// One chunk of an on-policy TB iteration, for a runner that splits a batch of
/// `total_batch` rows into fixed chunks (possibly on several threads): rolls out
/// `chunk.traj.batch` trajectories of `p_F` with `rng` (keeping the caches), then
/// [`chunk_gradient`].
///
/// The chunk's result depends only on its inputs (parameters, `log Z`, `rng`), never on the
/// other chunks, so the chunks may be computed in any order or concurrently; adding the
/// gradients and [`TbChunkSums`] in chunk order then gives the same bits however they were
/// scheduled.
///
/// # Errors
/// As [`super::policy::sample_forward`] and [`chunk_gradient`].
pub fn on_policy_chunk<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    policy: Policy<'_>,
    log_z: f32,
    target: &T,
    total_batch: usize,
    chunk: &mut ChunkViews<'_>,
    rng: &mut R,
) -> Result<TbChunkSums, Error> {
    if total_batch < chunk.traj.batch {
        return Err(Error::InvalidConfig(
            "the total TB batch must be at least the chunk's batch",
        ));
    }
    sample_forward(policy, target, &mut chunk.traj, &mut chunk.ws, true, rng)?;
    fill_log_r(target, chunk.traj.terminal(), chunk.traj.dim, chunk.log_r);
    chunk_gradient(policy, log_z, total_batch, chunk)
}

/// The gradient of one chunk of a TB batch of `total_batch` rows whose trajectories are in
/// `chunk.traj` with their caches (an on-policy rollout, [`on_policy_chunk`], or backward
/// trajectories of `p_B` scored with `keep_cache`, [`super::policy::score`]) and whose
/// `log R(x_T)` the caller has written into `chunk.log_r` (non-finite: `-inf`, zero reward,
/// as `fill_log_r` writes it): writes the residuals into `chunk.delta`, and
/// **accumulates** into `chunk.grads` this chunk's share of
/// `∂L_TB/∂θ` for the whole batch, `(2/total_batch) Σ_{b ∈ chunk} δ_b Σ_n ∂ log p_F/∂θ`.
///
/// `∂L/∂log Z = (2/total_batch)·Σ sum_delta` and `L = Σ sum_delta2 / total_batch` when no
/// row is masked; with `B′` finite rows in the batch the runner rescales the summed
/// gradient by `total_batch / B′` and divides the sums by `B′` (the failure policy of
/// [`residuals`]). With one chunk and no masked row this is [`backward`] bit for bit.
///
/// # Errors
/// As [`residuals`] (but a chunk without a finite residual is not an error on its own);
/// [`Error::InvalidConfig`] if `total_batch < chunk.traj.batch`; shape errors.
pub fn chunk_gradient(
    policy: Policy<'_>,
    log_z: f32,
    total_batch: usize,
    chunk: &mut ChunkViews<'_>,
) -> Result<TbChunkSums, Error> {
    let ChunkViews {
        traj,
        ws,
        log_r,
        delta,
        coef,
        dout,
        grads,
    } = chunk;
    let (sched, net) = (policy.sched, policy.net);
    let b = traj.batch;
    if total_batch < b {
        return Err(Error::InvalidConfig(
            "the total TB batch must be at least the chunk's batch",
        ));
    }
    check_len("tb chunk log_r", b, log_r.len())?;
    check_len("tb coef", b, coef.len())?;
    check_len("tb dout", b * net.out(), dout.len())?;
    // Non-finite residuals are masked (δ = 0) by `residuals`; a chunk with none finite is
    // not an error on its own (the runner checks the whole batch).
    let masked = match residuals(sched, traj, log_r, log_z, delta) {
        Ok(info) => info.masked,
        Err(Error::Degenerate(_)) => b as u32,
        Err(e) => return Err(e),
    };
    let (mut s, mut s2) = (0.0f64, 0.0f64);
    for &d in delta.iter() {
        s += d as f64;
        s2 += (d as f64) * (d as f64);
    }
    let k = 2.0 / total_batch as f32;
    for (c, &dl) in coef.iter_mut().zip(delta.iter()) {
        *c = k * dl;
    }
    backprop_log_pf(policy, traj, coef, grads, dout, ws.net_scratch)?;
    Ok(TbChunkSums {
        sum_delta: s,
        sum_delta2: s2,
        masked,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::LastLayerInit;
    use crate::rng::{self, fill_standard_normal};
    use crate::samplers::diffusion::net::PisNet;
    use crate::samplers::diffusion::policy::{PolicyConfig, Rollout};
    use crate::samplers::diffusion::policy::{sample_backward, score};
    use crate::samplers::diffusion::reference::Process;
    use std::vec;
    use std::vec::Vec;

    /// The batch's trajectories (with caches) and workspace over `arena`.
    fn rollout<'a>(net: &PisNet, (b, t): (usize, usize), arena: &'a mut [f32]) -> Rollout<'a> {
        Rollout::carve(net, b, t, true, arena).unwrap()
    }

    fn check_tb_gradients(process: Process, t: usize, learned_variance: bool) {
        let d = 2;
        let b = 3;
        let cfg = PolicyConfig {
            learned_variance,
            ..PolicyConfig::default()
        };
        let net = PisNet::new(d, 4, 3, cfg.net_out(d)).unwrap();
        let mut table = vec![0.0f32; Schedule::table_len(t)];
        let sched = Schedule::new(process, t, &mut table).unwrap();
        let mut r = rng::seeded(3);
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
        let mut arena = vec![0.0f32; Rollout::arena_len(&net, b, t, true)];
        let mut x_t = vec![0.0f32; b * d];
        fill_standard_normal(&mut r, &mut x_t);
        let log_r: Vec<f32> = vec![-1.0, 0.5, -2.0];
        let log_z = 0.3f32;
        let loss_at = |arena: &mut [f32], p: &[f32], log_z: f32| -> f64 {
            let Rollout { mut traj, mut ws } = rollout(&net, (b, t), arena);
            let policy = Policy {
                cfg: &cfg,
                sched: &sched,
                net: &net,
                params: p,
            };
            let target = crate::targets::Gaussian::new(2, 0.0, 1.0).unwrap();
            score(policy, &target, &mut traj, &mut ws, true).unwrap();
            let mut delta = vec![0.0f32; b];
            // f64 recomputation of the loss for a clean finite difference
            residuals(&sched, &traj, &log_r, log_z, &mut delta).unwrap();
            delta.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / b as f64
        };
        // fixed trajectories: backward from x_T (they do not depend on the parameters)
        {
            let Rollout { mut traj, ws } = rollout(&net, (b, t), &mut arena);
            sample_backward(&sched, &x_t, &mut traj, ws.noise, &mut r).unwrap();
        }
        let base = loss_at(&mut arena, &p, log_z);
        let mut g = vec![0.0f32; net.param_count()];
        let (mut delta, mut coef, mut dout, mut ns) = (
            vec![0.0f32; b],
            vec![0.0f32; b],
            vec![0.0f32; b * net.out()],
            vec![0.0f32; net.scratch_len(b)],
        );
        let info = {
            let traj = rollout(&net, (b, t), &mut arena).traj;
            let mut tws = TbWorkspace {
                delta: &mut delta,
                coef: &mut coef,
                dout: &mut dout,
                net_scratch: &mut ns,
            };
            let policy = Policy {
                cfg: &cfg,
                sched: &sched,
                net: &net,
                params: &p,
            };
            backward(policy, &traj, &log_r, log_z, &mut g, &mut tws).unwrap()
        };
        assert!((info.loss as f64 - base).abs() < 1e-3 * (1.0 + base));
        let h = 1e-2f32;
        let lz_fd = (loss_at(&mut arena, &p, log_z + h) - loss_at(&mut arena, &p, log_z - h))
            / (2.0 * h as f64);
        assert!(
            (lz_fd - info.log_z_grad as f64).abs() < 1e-2 * (1.0 + lz_fd.abs()),
            "log Z: {lz_fd} vs {}",
            info.log_z_grad
        );
        for i in 0..p.len() {
            let mut pp = p.clone();
            pp[i] += h;
            let lp = loss_at(&mut arena, &pp, log_z);
            pp[i] -= 2.0 * h;
            let lm = loss_at(&mut arena, &pp, log_z);
            let fd = (lp - lm) / (2.0 * h as f64);
            let tol = 3e-2 * (1e-1 + fd.abs().max(g[i].abs() as f64));
            assert!(
                (fd - g[i] as f64).abs() < tol,
                "{process:?} param {i}: fd {fd} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn tb_gradcheck_pinned_brownian_learned_variance() {
        check_tb_gradients(Process::PinnedBrownian { t_scale: 1.0 }, 4, true);
    }

    #[test]
    fn tb_gradcheck_ou_fixed_variance() {
        check_tb_gradients(Process::OrnsteinUhlenbeck { init_std: 1.0 }, 15, false);
    }
}
