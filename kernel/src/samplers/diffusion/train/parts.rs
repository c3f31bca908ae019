//! The pieces of one training iteration, over the per-call [`Views`]: an SMC pass into the
//! buffer, the on-policy and buffer batches, the TB/SubTB gradients, the buffer insert and
//! the batch initialisation of `log Z`.

use super::super::flow::{self, SubTbTerms, SubTbWorkspace, Twist};
use super::super::policy::{self, Policy};
use super::super::reference::Schedule;
use super::super::smc::{self, SmcInfo};
use super::super::tb::{self, TbWorkspace};
use super::{Config, Info, Layout, State, Views};
use crate::buffer::{Cursor, Priority, ReplayBuffer};
use crate::error::Error;
use crate::math;
use crate::rng::{Rng, uniform_f64};
use crate::targets::LogDensity;

/// The policy of `cfg` over `lay`'s network at the policy part of the model's `params`.
pub fn policy_at<'a>(
    cfg: &'a Config,
    lay: &'a Layout,
    sched: &'a Schedule<'a>,
    params: &'a [f32],
) -> Policy<'a> {
    Policy {
        cfg: &cfg.policy,
        sched,
        net: &lay.net,
        params: lay.policy(params),
    }
}

/// The seeds' on-policy buffer weight ([`BufferWeights::Seed`]): adds `log p₀(x₀)` back to
/// each row's log weight of the on-policy batch (the batch's weights are not read again
/// after the insert that follows).
pub(super) fn seed_weights(cfg: &Config, v: &mut Views<'_>) -> Result<(), Error> {
    let sched = Schedule::view(cfg.process, cfg.steps, &*v.table)?;
    let x0 = v.traj.state(0);
    for (w, row) in v.batch.log_w.iter_mut().zip(x0.chunks_exact(v.layout.dim)) {
        *w += sched.log_p0(row);
    }
    Ok(())
}

/// Stores the SMC particles (`from_smc`) or the on-policy batch in the buffer.
pub(super) fn insert(cursor: &mut Cursor, v: &mut Views<'_>, from_smc: bool) -> Result<(), Error> {
    let d = v.layout.dim;
    let (states, log_w, log_r): (&[f32], &[f32], &[f32]) = if from_smc {
        (v.smc_traj.terminal(), &*v.smc.log_w, &*v.smc.log_r)
    } else {
        (v.traj.terminal(), &*v.batch.log_w, &*v.batch.log_r)
    };
    let b = &mut v.buffer;
    let mut buf = ReplayBuffer::from_parts(d, b.states, b.log_w, b.log_r, *cursor)?;
    buf.insert(states, log_w, log_r)?;
    *cursor = buf.cursor();
    // the slots just written hold the policy's (or SMC's) entries (`origin` is empty unless
    // tracked)
    let cap = b.origin.len();
    for k in 0..log_w.len().min(cap) {
        b.origin[(cursor.head + cap - 1 - k) % cap] = 0;
    }
    Ok(())
}

/// Runs one SMC pass with the current model; stores its particles in the buffer if the
/// method has one.
pub(super) fn smc_pass<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    v: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<SmcInfo, Error> {
    let lay = v.layout;
    let sched = Schedule::view(cfg.process, cfg.steps, &*v.table)?;
    let params = &*v.model.params;
    let smc = lay.sampler(cfg, &sched, params);
    let info = smc::run(smc, target, &mut v.smc_traj, &mut v.pws, &mut v.smc, rng)?;
    state.smc_runs += 1;
    if cfg.method.has_buffer() {
        insert(&mut state.buffer, v, true)?;
    }
    Ok(info)
}

/// The terminal states of the last SMC pass as the batch's `x_T` (`N = B` rows).
pub(super) fn particles_to_batch(v: &mut Views<'_>) -> Result<(), Error> {
    let x = v.smc_traj.terminal();
    crate::error::check_len("SMC particles as the batch", v.batch.x_t.len(), x.len())?;
    v.batch.x_t.copy_from_slice(x);
    Ok(())
}

/// Backward trajectories by `p_B` from the states in `v.batch.x_t`, scored under the policy
/// with the gradient caches.
pub(super) fn backward_batch<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    v: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<(), Error> {
    let lay = v.layout;
    let sched = Schedule::view(cfg.process, cfg.steps, &*v.table)?;
    policy::sample_backward(&sched, v.batch.x_t, &mut v.traj, v.pws.noise, rng)?;
    let policy = policy_at(cfg, &lay, &sched, v.model.params);
    policy::score(policy, target, &mut v.traj, &mut v.pws, true)
}

/// Draws the training batch on-policy, keeping the gradient caches.
pub(super) fn on_policy_batch<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    v: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<(), Error> {
    forward(cfg, v, target, true, rng)
}

fn forward<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    v: &mut Views<'_>,
    target: &T,
    keep_cache: bool,
    rng: &mut R,
) -> Result<(), Error> {
    let lay = v.layout;
    let sched = Schedule::view(cfg.process, cfg.steps, &*v.table)?;
    let policy = policy_at(cfg, &lay, &sched, v.model.params);
    policy::sample_forward(policy, target, &mut v.traj, &mut v.pws, keep_cache, rng)
}

/// Draws `B` terminal states from the buffer, builds backward trajectories with `p_B` and
/// scores them under the policy. Returns the buffer draw's tempering exponent.
pub(super) fn buffer_batch<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    cursor: Cursor,
    v: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<f64, Error> {
    let lambda = draw(cfg, cursor, v, rng)?;
    backward_batch(cfg, v, target, rng)?;
    Ok(lambda)
}

/// Draws `B` terminal states from the buffer into `v.batch.x_t` (slots in `v.batch.draw`).
/// Returns the draw's tempering exponent.
pub(super) fn draw<R: Rng + ?Sized>(
    cfg: &Config,
    cursor: Cursor,
    v: &mut Views<'_>,
    rng: &mut R,
) -> Result<f64, Error> {
    let b = v.batch.draw.len();
    draw_n(cfg, cursor, v, b, rng)
}

/// [`draw`] of the first `n ≤ B` rows only (`v.batch.draw[..n]`, `v.batch.x_t[..n·d]`).
pub(super) fn draw_n<R: Rng + ?Sized>(
    cfg: &Config,
    cursor: Cursor,
    v: &mut Views<'_>,
    n: usize,
    rng: &mut R,
) -> Result<f64, Error> {
    let d = v.layout.dim;
    crate::error::check_min_len("buffer draw", n, v.batch.draw.len())?;
    let (draw, x_t) = (&mut v.batch.draw[..n], &mut v.batch.x_t[..n * d]);
    let b = &mut v.buffer;
    let buf = ReplayBuffer::from_parts(d, b.states, b.log_w, b.log_r, cursor)?;
    let mut lambda = 1.0;
    if cfg.buffer_priority == Priority::Uniform {
        // independent uniform slots (the buffer's own uniform rule would need B uniforms)
        let len = buf.len();
        for slot in draw.iter_mut() {
            *slot = ((uniform_f64(rng) * len as f64) as usize).min(len - 1) as u32;
        }
    } else {
        let si = buf.sample(
            cfg.buffer_priority,
            &[uniform_f64(rng)],
            b.weights,
            b.order,
            draw,
        )?;
        lambda = si.lambda;
    }
    for (row, &slot) in x_t.chunks_exact_mut(d).zip(draw.iter()) {
        if let Some(s) = buf.state(slot as usize) {
            row.copy_from_slice(s);
        }
    }
    Ok(lambda)
}

/// `log R` of the batch (failure policy: non-finite is zero reward; then
/// [`Config::low_reward`]), the on-policy log
/// weights for the buffer, and the TB (+ SubTB) gradients into the model's zeroed
/// gradients; fills the losses and the masked count of `info`.
pub(super) fn gradients<T: LogDensity + ?Sized>(
    cfg: &Config,
    v: &mut Views<'_>,
    target: &T,
    info: &mut Info,
) -> Result<(), Error> {
    let lay = v.layout;
    let d = lay.dim;
    let sched = Schedule::view(cfg.process, cfg.steps, &*v.table)?;
    policy::fill_log_r(target, v.traj.terminal(), d, v.batch.log_r);
    cfg.apply_low_reward(v.batch.log_r);
    if info.on_policy && cfg.method.has_buffer() {
        policy::log_weights(&sched, &v.traj, v.batch.log_r, v.batch.log_w)?;
    }
    v.model.zero_grads();
    let params = &*v.model.params;
    let log_z = lay.log_z(params);
    let (gp, grest) = v.model.grads.split_at_mut(lay.policy_params);
    let mut tws = TbWorkspace {
        delta: v.tb.delta,
        coef: v.tb.coef,
        dout: v.tb.dout,
        net_scratch: v.pws.net_scratch,
    };
    let policy = policy_at(cfg, &lay, &sched, params);
    let ti = tb::backward(policy, &v.traj, v.batch.log_r, log_z, gp, &mut tws)?;
    info.tb_loss = ti.loss;
    info.masked = ti.masked;
    let (gf, glz) = grest.split_at_mut(lay.flow_params);
    if let Some(g) = glz.first_mut() {
        *g = ti.log_z_grad;
    }
    if let Some(f) = &lay.flows {
        let s = &mut v.subtb;
        flow::fill_boundary_log_r(f, &v.traj, target, s.boundary_log_r)?;
        let mut sws = SubTbWorkspace {
            boundary_log_r: s.boundary_log_r,
            boundary_log_f: s.boundary_log_f,
            cache: s.cache,
            betas: s.betas,
            dout: s.dout,
            per_traj: s.per_traj,
            net_scratch: s.net_scratch,
        };
        let twist = Twist {
            flows: f,
            params: lay.flow(params),
        };
        let terms = SubTbTerms {
            log_r: v.batch.log_r,
            log_z,
            weight: cfg.subtb_weight,
            batch: 0,
        };
        let si = flow::subtb_backward(twist, &sched, &v.traj, terms, gf, &mut sws)?;
        info.subtb_loss = si.loss;
    }
    Ok(())
}

/// [`Config::init_log_z_from_batch`]: one on-policy batch (no gradient caches),
/// `log Z ←` the mean of its finite log weights, or their log-mean-exp with
/// [`Config::init_log_z_iw`].
pub(super) fn init_log_z_from_batch<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    v: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<(), Error> {
    forward(cfg, v, target, false, rng)?;
    let d = v.layout.dim;
    let sched = Schedule::view(cfg.process, cfg.steps, &*v.table)?;
    policy::fill_log_r(target, v.traj.terminal(), d, v.batch.log_r);
    policy::log_weights(&sched, &v.traj, v.batch.log_r, v.batch.log_w)?;
    let (mut sum, mut n, mut max) = (0.0f64, 0u32, f64::NEG_INFINITY);
    for &w in v.batch.log_w.iter().filter(|w| w.is_finite()) {
        sum += f64::from(w);
        max = max.max(f64::from(w));
        n += 1;
    }
    if n == 0 {
        return Err(Error::NonFinite(
            "log Z initialisation batch (no finite log weight)",
        ));
    }
    let lz = if cfg.init_log_z_iw {
        // log-mean-exp over the same finite weights, shifted by their maximum (finite: the
        // largest term is 1, the sum is in [1, n])
        let mut s = 0.0f64;
        for &w in v.batch.log_w.iter().filter(|w| w.is_finite()) {
            s += math::exp(f64::from(w) - max);
        }
        max + math::ln(s / f64::from(n))
    } else {
        // a mean of finite f32 values in f64 is finite
        sum / f64::from(n)
    };
    if let Some(z) = v.model.params.last_mut() {
        *z = lz as f32;
    }
    Ok(())
}
