//! Drawing trajectories: on-policy rollouts of `p_F` (all steps, or a range of steps for
//! SMC) and off-policy trajectories of `p_B` down from given terminal states (see the
//! [parent module](super) for the kernels).

use core::ops::Range;

use super::super::reference::{Process, Schedule};
use super::density::{
    kernel_params, log_normal, log_normal_const, net_step, step_log_pb, var_factor,
};
use super::{Policy, Trajectories, Workspace};
use crate::error::{Error, check_len, check_min_len};
use crate::math;
use crate::rng::{Rng, fill_standard_normal};
use crate::targets::LogDensity;

/// Draws `x₀` into `states[0]` from the initial law (0 for the pinned process, `N(0, σ²I)`
/// for OU).
fn draw_initial<R: Rng + ?Sized>(sched: &Schedule<'_>, x0: &mut [f32], rng: &mut R) {
    match sched.process() {
        Process::PinnedBrownian { .. } => x0.iter_mut().for_each(|v| *v = 0.0),
        Process::OrnsteinUhlenbeck { init_std } => {
            fill_standard_normal(rng, x0);
            x0.iter_mut().for_each(|v| *v *= init_std);
        }
    }
}

/// On-policy rollout: draws `x₀`, then `T` steps of `p_F`, filling states, outputs,
/// `log p_F`, `log p_B` and (if `keep_cache`) the per-step network caches.
///
/// # Errors
/// [`Error::ShapeMismatch`]/[`Error::InvalidConfig`] for inconsistent buffers or settings.
pub fn sample_forward<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    policy: Policy<'_>,
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    keep_cache: bool,
    rng: &mut R,
) -> Result<(), Error> {
    let steps = Steps {
        start: 0,
        end: traj.steps,
        keep_cache,
    };
    rollout(policy, target, traj, ws, steps, rng)
}

/// As [`sample_forward`] without keeping the caches, but only the steps `range` (the states
/// at `range.start` must already be in place; `start = 0` draws `x₀`). Used by SMC to
/// propagate chunk by chunk.
///
/// # Errors
/// As [`sample_forward`], and [`Error::InvalidConfig`] for an empty or out-of-range interval.
pub fn sample_forward_range<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    policy: Policy<'_>,
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    range: Range<usize>,
    rng: &mut R,
) -> Result<(), Error> {
    let steps = Steps {
        start: range.start,
        end: range.end,
        keep_cache: false,
    };
    rollout(policy, target, traj, ws, steps, rng)
}

/// The steps `start..end` of a rollout, and whether each step's network cache is kept (in
/// [`Trajectories::cache`], for back-propagation).
#[derive(Clone, Copy, Debug)]
struct Steps {
    start: usize,
    end: usize,
    keep_cache: bool,
}

/// [`sample_forward`] and [`sample_forward_range`]: `steps.start..steps.end` of `p_F`.
fn rollout<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    policy: Policy<'_>,
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    steps: Steps,
    rng: &mut R,
) -> Result<(), Error> {
    let Steps {
        start,
        end,
        keep_cache,
    } = steps;
    policy.validate(traj, ws, keep_cache)?;
    let Policy {
        cfg, sched, net, ..
    } = policy;
    if sched.steps() != traj.steps {
        return Err(Error::ShapeMismatch {
            what: "schedule steps",
            expected: traj.steps,
            got: sched.steps(),
        });
    }
    if net.out() != cfg.net_out(net.dim()) {
        return Err(Error::ShapeMismatch {
            what: "policy net outputs",
            expected: cfg.net_out(net.dim()),
            got: net.out(),
        });
    }
    if start >= end || end > traj.steps {
        return Err(Error::InvalidConfig(
            "rollout step range must satisfy start < end <= T",
        ));
    }
    let (b, d) = (traj.batch, traj.dim);
    let (w, ow) = (b * d, net.out());
    if start == 0 {
        draw_initial(sched, &mut traj.states[..w], rng);
    }
    let explore2 = cfg.exploration_std * cfg.exploration_std;
    for n in start..end {
        net_step(policy, target, traj, ws, (n, keep_cache))?;
        let (before, after) = traj.states.split_at_mut((n + 1) * w);
        let x = &before[n * w..];
        let y = &mut after[..w];
        let out = &traj.outputs[n * b * ow..(n + 1) * b * ow];
        fill_standard_normal(rng, &mut ws.noise[..w]);
        let (a, c, v) = (sched.a(n), sched.c(n), sched.v(n));
        let k = log_normal_const(v);
        // the step and its `log p_F` in one pass (the same operations as `step_log_pf`,
        // without evaluating tanh and exp twice)
        for ((((xr, yr), orow), er), lp) in x
            .chunks_exact(d)
            .zip(y.chunks_exact_mut(d))
            .zip(out.chunks_exact(ow))
            .zip(ws.noise.chunks_exact(d))
            .zip(traj.log_pf[n * b..(n + 1) * b].iter_mut())
        {
            let mut acc = 0.0f32;
            for j in 0..d {
                let r = cfg.learned_variance.then(|| orow[d + j]);
                let (mean, s) = kernel_params(cfg, a, c, xr[j], orow[j], r);
                let mut e = er[j];
                if cfg.noise_clip > 0.0 {
                    e = e.clamp(-cfg.noise_clip, cfg.noise_clip);
                }
                let var = v * var_factor(cfg, s);
                let sd = math::sqrt(var + explore2);
                let yj = mean + sd * e;
                yr[j] = yj;
                acc += log_normal(yj, mean, var, s, k);
            }
            *lp = acc;
        }
        step_log_pb(sched, n, d, x, y, &mut traj.log_pb[n * b..(n + 1) * b]);
    }
    Ok(())
}

/// Off-policy trajectories: puts `x_T` (`B × d`) at the end and runs the backward kernel
/// `p_B` down to `x₀`, filling states and `log p_B` (the pinned process ends exactly at 0).
/// Call [`score`](super::score) afterwards for `log p_F` under the current policy.
///
/// # Errors
/// [`Error::ShapeMismatch`] for inconsistent lengths.
pub fn sample_backward<R: Rng + ?Sized>(
    sched: &Schedule<'_>,
    x_t: &[f32],
    traj: &mut Trajectories<'_>,
    noise: &mut [f32],
    rng: &mut R,
) -> Result<(), Error> {
    let (b, d, t) = (traj.batch, traj.dim, traj.steps);
    let w = b * d;
    check_len("terminal states", w, x_t.len())?;
    check_len("trajectory states", (t + 1) * w, traj.states.len())?;
    check_len("trajectory log_pb", t * b, traj.log_pb.len())?;
    check_min_len("backward noise", w, noise.len())?;
    if sched.steps() != t {
        return Err(Error::ShapeMismatch {
            what: "schedule steps",
            expected: t,
            got: sched.steps(),
        });
    }
    traj.states[t * w..].copy_from_slice(x_t);
    for n in (0..t).rev() {
        let (before, after) = traj.states.split_at_mut((n + 1) * w);
        let xn = &mut before[n * w..];
        let xp = &after[..w];
        let (bn, wn) = (sched.b(n), sched.w(n));
        if wn == 0.0 {
            xn.iter_mut().for_each(|v| *v = 0.0);
        } else {
            fill_standard_normal(rng, &mut noise[..w]);
            let sd = math::sqrt(wn);
            for ((v, &p), &e) in xn.iter_mut().zip(xp).zip(noise.iter()) {
                *v = bn * p + sd * e;
            }
        }
        step_log_pb(sched, n, d, xn, xp, &mut traj.log_pb[n * b..(n + 1) * b]);
    }
    Ok(())
}
