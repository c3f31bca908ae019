//! The pieces of one teacher iteration that are the loop's own, over the per-call
//! [`Views`]: the teacher rewards from the student's residuals, the buffer refresh with
//! teacher samples, the reward threshold and the teacher's TB step on the kept
//! trajectories. Rollouts, scoring and TB residuals are the diffusion sampler's
//! ([`policy`], [`tb`]); the optimiser is the trainer's ([`train::Config::optimiser`]).

use super::super::{Config as RewardConfig, teacher_log_reward};
use super::{Config, State, Views};
use crate::buffer::{Cursor, ReplayBuffer};
use crate::error::{Error, check_len};
use crate::rng::Rng;
use crate::samplers::diffusion::policy;
use crate::samplers::diffusion::reference::Schedule;
use crate::samplers::diffusion::tb;
use crate::samplers::diffusion::train::{self, policy_at};
use crate::targets::LogDensity;

/// `ℓ` given to samples below the reward threshold (the reference's `1e-12`), as a residual.
const DROPPED_RESIDUAL: f32 = 1e-6;

/// `log R_T` per sample from the kernel residuals `resid` (`= −δ_S`) and `log R`; `keep`
/// gets 1 for samples at or above the threshold with a finite residual and reward, 0
/// otherwise (they get `ℓ = 10⁻¹²`). The residual enters as `d/√2`, so that the reward's
/// `d²` is the diffusion code's halved loss `ℓ = ½δ_S²`. Returns the number kept.
pub(super) fn teacher_rewards(
    cfg: &RewardConfig,
    threshold: Option<f32>,
    resid: &[f32],
    log_r: &[f32],
    log_rt: &mut [f32],
    keep: &mut [f32],
) -> usize {
    let thr = threshold.unwrap_or(f32::NEG_INFINITY);
    let mut kept = 0;
    for (((rt, k), &d), &lr) in log_rt
        .iter_mut()
        .zip(keep.iter_mut())
        .zip(resid.iter())
        .zip(log_r.iter())
    {
        let ok = lr >= thr && d.is_finite();
        let r = if ok {
            d * core::f32::consts::FRAC_1_SQRT_2
        } else {
            DROPPED_RESIDUAL
        };
        *rt = teacher_log_reward(cfg, r, lr);
        let ok = ok && rt.is_finite();
        *k = if ok { 1.0 } else { 0.0 };
        kept += usize::from(ok);
    }
    kept
}

/// The `q`-quantile of `log_r` (sorted in `sort`, which it overwrites): element
/// `⌊q·(B − 1)⌋` of the sorted values.
pub(super) fn quantile(log_r: &[f32], q: f32, sort: &mut [f32]) -> Option<f32> {
    check_len("quantile scratch", log_r.len(), sort.len()).ok()?;
    sort.copy_from_slice(log_r);
    sort.sort_unstable_by(|a, b| a.total_cmp(b));
    let last = sort.len().checked_sub(1)?;
    let k = ((q as f64) * last as f64) as usize;
    sort.get(k.min(last)).copied()
}

/// Student residuals `v.residuals` (kernel sign, `−δ_S`) and `log R`
/// (`v.student.batch.log_r`) of the states in `v.student.batch.x_t`, each on one backward
/// trajectory of `p_B` scored under the student's policy. A state with `log R = −∞` (or a
/// non-finite density, the samplers' failure policy) gets a non-finite residual.
pub(super) fn student_residuals_at<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &train::Config,
    v: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<(), Error> {
    let s = &mut v.student;
    let lay = s.layout;
    let sched = Schedule::view(cfg.process, cfg.steps, &*s.table)?;
    policy::fill_log_r(target, s.batch.x_t, lay.dim, s.batch.log_r);
    policy::sample_backward(&sched, s.batch.x_t, &mut s.traj, s.pws.noise, rng)?;
    let student = policy_at(cfg, &lay, &sched, s.model.params);
    policy::score(student, target, &mut s.traj, &mut s.pws, false)?;
    policy::log_weights(&sched, &s.traj, s.batch.log_r, v.residuals)?;
    let lz = lay.log_z(s.model.params);
    v.residuals.iter_mut().for_each(|r| *r = lz - *r);
    Ok(())
}

/// `it mod 4 = 1`: `B` teacher samples, scored by the student's residuals on backward
/// trajectories, their teacher rewards, and the kept ones into the buffer. Returns the
/// number inserted.
pub(super) fn refresh<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    v: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<usize, Error> {
    let (tc, t) = (&cfg.teacher, &mut v.teacher);
    let lay = t.layout;
    let sched = Schedule::view(tc.process, tc.steps, &*t.table)?;
    let teacher = policy_at(tc, &lay, &sched, t.model.params);
    policy::sample_forward(teacher, target, &mut t.traj, &mut t.pws, false, rng)?;
    let x = t.traj.terminal();
    check_len("teacher samples", v.student.batch.x_t.len(), x.len())?;
    v.student.batch.x_t.copy_from_slice(x);
    student_residuals_at(&cfg.student, v, target, rng)?;
    let (resid, log_r) = (&*v.residuals, &*v.student.batch.log_r);
    teacher_rewards(&cfg.reward, state.threshold, resid, log_r, v.log_rt, v.keep);
    insert_kept(&mut state.student.buffer, v)
}

/// Inserts the kept rows (`keep = 1`) of `v.student.batch.x_t` into the buffer, with
/// `log R` in the log-weight slot and `log R_T` in the priority slot, compacting the
/// scratch in place. Returns the number inserted.
pub(super) fn insert_kept(cursor: &mut Cursor, v: &mut Views<'_>) -> Result<usize, Error> {
    let s = &mut v.student;
    let d = s.layout.dim;
    let (x, log_r, log_rt) = (&mut *s.batch.x_t, &mut *s.batch.log_r, &mut *v.log_rt);
    check_len("teacher insert", x.len(), d * v.keep.len())?;
    let mut k = 0;
    for (i, &keep) in v.keep.iter().enumerate() {
        if keep > 0.0 {
            if k != i {
                x.copy_within(i * d..(i + 1) * d, k * d);
                log_r[k] = log_r[i];
                log_rt[k] = log_rt[i];
            }
            k += 1;
        }
    }
    if k == 0 {
        return Ok(0);
    }
    let b = &mut s.buffer;
    let mut buf = ReplayBuffer::from_parts(d, b.states, b.log_w, b.log_r, *cursor)?;
    buf.insert(&x[..k * d], &log_r[..k], &log_rt[..k])?;
    *cursor = buf.cursor();
    Ok(k)
}

/// The teacher's loss on the student's batch: the trajectories copied from the student's
/// views and re-scored under the teacher's policy, TB towards `log R_T` over the `kept`
/// trajectories, `L = (1/K) Σ_kept δ_T²`. Writes `∂L/∂θ` and `∂L/∂log Z^T` into the
/// teacher's zeroed gradients (coefficients `2δ_T/K` for the kept trajectories, `0` for the
/// others, through [`tb::backprop_log_pf`], the path of [`tb::backward`]). Returns the loss
/// and the mean `log R_T` over the kept trajectories.
///
/// # Errors
/// As [`policy::score`] and [`tb::residuals`].
pub(super) fn teacher_gradient<T: LogDensity + ?Sized>(
    cfg: &train::Config,
    v: &mut Views<'_>,
    target: &T,
    kept: usize,
) -> Result<(f32, f32), Error> {
    let (s, t) = (&v.student.traj, &mut v.teacher);
    check_len("teacher trajectories", t.traj.states.len(), s.states.len())?;
    check_len("teacher log p_B", t.traj.log_pb.len(), s.log_pb.len())?;
    t.traj.states.copy_from_slice(s.states);
    t.traj.log_pb.copy_from_slice(s.log_pb);
    t.model.grads.fill(0.0);
    let sched = Schedule::view(cfg.process, cfg.steps, &*t.table)?;
    let lay = t.layout;
    let params = &*t.model.params;
    let teacher = policy_at(cfg, &lay, &sched, params);
    policy::score(teacher, target, &mut t.traj, &mut t.pws, true)?;
    tb::residuals(&sched, &t.traj, v.log_rt, lay.log_z(params), t.tb.delta)?;
    let k2 = 2.0 / kept as f32;
    let (mut loss, mut gz, mut srt) = (0.0f64, 0.0f64, 0.0f64);
    for (((c, &dl), &rt), &keep) in
        t.tb.coef
            .iter_mut()
            .zip(t.tb.delta.iter())
            .zip(v.log_rt.iter())
            .zip(v.keep.iter())
    {
        if keep > 0.0 {
            loss += (dl as f64) * (dl as f64);
            srt += rt as f64;
            *c = k2 * dl;
            gz += *c as f64;
        } else {
            *c = 0.0;
        }
    }
    let (tg, tgz) = t.model.grads.split_at_mut(lay.policy_params);
    tb::backprop_log_pf(
        teacher,
        &t.traj,
        t.tb.coef,
        tg,
        t.tb.dout,
        t.pws.net_scratch,
    )?;
    if let Some(g) = tgz.last_mut() {
        *g = gz as f32;
    }
    Ok(((loss / kept as f64) as f32, (srt / kept as f64) as f32))
}

/// The teacher's optimiser step on its gradients: the trainer's groups and schedule
/// ([`train::Config::groups`], [`train::Config::optimiser`]) at the loop's iteration.
/// Returns whether the step was skipped (a non-finite gradient).
pub(super) fn teacher_update(
    cfg: &train::Config,
    state: &mut train::State,
    v: &mut train::Views<'_>,
) -> Result<bool, Error> {
    let lay = v.layout;
    let groups = cfg.groups(lay.policy_params, lay.flows.as_ref());
    let oi = cfg
        .optimiser()?
        .step(&groups, &mut v.model, &mut state.optim, state.iteration)?;
    Ok(oi.skipped)
}
