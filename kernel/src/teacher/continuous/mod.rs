//! Adaptive teacher for a continuous target with the diffusion sampler (Kim et al., ICLR
//! 2025; `teachers-and-vgs.md` A1.1 and A1.3, `diffusion/train.py --teacher`).
//!
//! Two diffusion trainers ([`train`]) share the reference process (and so the fixed
//! backward kernel `p_B`), the number of steps and the batch size:
//! - the **student** (policy `p_F^S`, learnt `log Z^S`) targets `R(x)`;
//! - the **teacher** (policy `p_F^T`, learnt `log Z^T`) is trained with TB towards
//!
//!   `log R_T(τ) = log log(1 + ε + (1 + C·𝟙[δ_S(τ) > 0])·ℓ(τ)) + α·log R(x)`,
//!   `ℓ = ½δ_S²` (the diffusion code's halved loss),
//!
//!   where `δ_S(τ)` is the student's signed TB residual on the trajectory `τ`, computed
//!   **before** the student's optimiser step. `δ_S > 0` means the student under-samples
//!   `x` along `τ`; those trajectories get weight `1 + C = 20`. [`super::teacher_log_reward`]
//!   computes the reward from the kernel residual `d = −δ_S` ([`tb::residuals`]); it is
//!   called with `d/√2`, so that its `d²` is `ℓ = ½δ_S²`. Defaults (diffusion column of
//!   A1.1): `C = 19`, `ε = 10⁻³`, `α = 0.5`.
//!
//! Iteration `it` (A1.3):
//! - `it` even: the student trains with TB on `B` of its own on-policy trajectories
//!   ([`Phase::Student`]). At `it = 0` the batch also goes into the replay buffer.
//! - `it mod 4 = 1`: first `B` samples `x` are drawn from the **teacher**; each gets the
//!   teacher reward `R_T` from the student's residual on a backward trajectory of `p_B` from
//!   `x` (scored under the student's current policy); those above the reward threshold are
//!   inserted into the buffer with priority `log R_T` ([`Phase::TeacherRefresh`]). Then as
//!   below.
//! - `it mod 4 = 3`: the student trains on `B` buffer entries (rank-prioritised by stored
//!   `log R_T`, weight `1/(k·n + rank)`, `k = 0.01`), expanded into trajectories by `p_B`
//!   ([`Phase::Buffer`]).
//!
//! So the student's gradient mix is 50 % on-policy, 50 % replay, and the replay holds teacher
//! samples refreshed every 4 iterations. **Every iteration** the teacher takes one TB step on
//! the student's trajectories of that iteration (re-scored under the teacher's policy), with
//! `log R_T` built from the residuals just computed.
//!
//! **Reward threshold** (A1.1 table, diffusion row): the `q`-quantile (`q = 0.9`) of `log R`
//! over the first student batch is computed once; samples with `log R` below it get
//! `ℓ = 10⁻¹²` and are dropped from the teacher's loss and from the buffer refresh.
//! `q = 0` disables the filter.
//!
//! Composition (as [`super::discrete`] composes two GFlowNet trainers): the student's
//! iteration is its trainer's batch, TB gradient and optimiser step on the batch the phase
//! chooses ([`train::step_on`]), with the trainer's reward-ranked buffer. The teacher is a
//! second trainer whose loss is the loop's own: TB towards `log R_T` over the kept
//! trajectories, with coefficients `2δ_b/K` for the `K` kept and `0` for the dropped ones,
//! through [`tb::backprop_log_pf`] (the path of [`tb::backward`]; the teacher's loss has its
//! own finite-difference test), stepped by its trainer's optimiser. Not implemented from
//! the reference: the `--ls` (MALA local search) variant.
//!
//! [`tb::residuals`]: crate::samplers::diffusion::tb::residuals
//! [`tb::backprop_log_pf`]: crate::samplers::diffusion::tb::backprop_log_pf
//! [`tb::backward`]: crate::samplers::diffusion::tb::backward
//!
//! Shape: [`Config`] + [`Layout`] + [`Views`] (carved on each call from two caller-owned
//! arenas: the student's region, the teacher's, then `3B` `f32` of the loop) + the small
//! `Copy` [`State`] (the two trainers' states and the reward threshold) + [`Info`] +
//! [`init`] + [`step`]. No allocation.
//!
//! | file | concept |
//! |---|---|
//! | [`config`] | [`Config`], [`Layout`], [`Views`] |
//! | `parts` | teacher rewards, buffer refresh, reward threshold, the teacher's loss |

pub mod config;
mod parts;
#[cfg(test)]
mod tests;

pub use config::{Config, Layout, RANK_WEIGHT, TEACHER_CLIP, Views};

use crate::error::{Error, check_len};
use crate::rng::Rng;
use crate::samplers::diffusion::train::{self, Batch};
use crate::targets::LogDensity;

/// What the student trained on in an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Phase {
    /// Its own on-policy trajectories (even iterations).
    Student,
    /// Buffer entries, after refreshing the buffer with teacher samples (`it mod 4 = 1`).
    TeacherRefresh,
    /// Buffer entries only (`it mod 4 = 3`).
    Buffer,
}

/// The phase of iteration `it` (see the [module docs](self)).
pub const fn phase(it: u32) -> Phase {
    match it % 4 {
        1 => Phase::TeacherRefresh,
        3 => Phase::Buffer,
        _ => Phase::Student,
    }
}

/// The two trainers' states and the reward threshold: with the arenas, all a checkpoint
/// needs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// The student (its iteration count is the loop's; its cursor is the shared replay
    /// buffer's).
    pub student: train::State,
    /// The teacher (its iteration count follows the loop's, so that its learning-rate
    /// schedule does too, also on iterations where it keeps no trajectory).
    pub teacher: train::State,
    /// The reward threshold (after the first iteration; `None` before or when disabled).
    pub threshold: Option<f32>,
}

impl State {
    /// Iterations done.
    pub fn iteration(&self) -> u32 {
        self.student.iteration
    }
}

/// What one [`step`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Info {
    /// The iteration just done (0-based).
    pub iteration: u32,
    /// What the student trained on.
    pub phase: Phase,
    /// Student TB loss `mean d²` of the batch (before its step).
    pub student_loss: f32,
    /// Teacher TB loss over the kept trajectories (before its step; 0 if none kept).
    pub teacher_loss: f32,
    /// Trajectories kept in the teacher's loss (above the reward threshold).
    pub teacher_kept: usize,
    /// Mean teacher reward `log R_T` over the kept trajectories (NaN if none).
    pub mean_log_rt: f32,
    /// Fraction of the batch with `δ_S > 0` (under-sampled by the student).
    pub under_sampled: f32,
    /// Teacher samples inserted into the buffer this iteration.
    pub refreshed: usize,
    /// Entries in the buffer after the step.
    pub buffer_len: usize,
    /// Student `log Z` after the step.
    pub log_z: f32,
    /// Teacher `log Z` after the step.
    pub teacher_log_z: f32,
    /// Pre-clip gradient norm of the student's policy.
    pub grad_norm: f32,
    /// Whether an optimiser skipped its update (a non-finite gradient norm).
    pub skipped: bool,
}

/// Initialises the student, then the teacher ([`train::init`]: the untrained policy is the
/// reference process, `log Z = 0`) and zeroes the loop's buffers.
///
/// # Errors
/// [`Error::InvalidConfig`] if `layout` or `views` do not belong to `cfg`; shape errors.
pub fn init<R: Rng + ?Sized>(
    cfg: &Config,
    layout: &Layout,
    views: &mut Views<'_>,
    rng: &mut R,
) -> Result<State, Error> {
    if Layout::new(cfg, layout.student.dim)? != *layout {
        return Err(Error::InvalidConfig(
            "the layout was computed for another configuration",
        ));
    }
    views.check(cfg)?;
    for b in [&mut *views.residuals, &mut *views.log_rt, &mut *views.keep] {
        b.fill(0.0);
    }
    Ok(State {
        student: train::init(&cfg.student, &layout.student, &mut views.student, rng)?,
        teacher: train::init(&cfg.teacher, &layout.teacher, &mut views.teacher, rng)?,
        threshold: None,
    })
}

/// One teacher–student iteration (see the [module docs](self)).
///
/// Failure policy: the student's (a non-finite `log R` is zero reward and masked out of
/// its loss; a non-finite gradient skips an update, [`Info::skipped`]); such trajectories
/// get no teacher reward and are dropped from the teacher's loss and the buffer.
///
/// # Errors
/// As [`Config::validate`]; [`Error::InvalidConfig`] for views of another configuration;
/// [`Error::Degenerate`] from a batch without a finite residual or from the buffer; shape
/// errors.
pub fn step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<Info, Error> {
    views.check(cfg)?;
    let it = state.iteration();
    let mut ph = phase(it);
    if ph == Phase::Buffer && state.student.buffer.len == 0 {
        ph = Phase::Student;
    }
    let mut refreshed = 0;
    if ph == Phase::TeacherRefresh {
        refreshed = parts::refresh(cfg, state, views, target, rng)?;
        if state.student.buffer.len == 0 {
            ph = Phase::Student;
        }
    }
    let batch = if ph == Phase::Student {
        Batch::OnPolicy
    } else {
        Batch::Buffer
    };
    let (sc, v) = (&cfg.student, &mut *views);
    let si = train::step_on(sc, &mut state.student, &mut v.student, batch, target, rng)?;
    v.residuals.copy_from_slice(v.student.tb.delta);
    let log_r = &*v.student.batch.log_r;
    // the reward threshold, once, from the first student batch
    if state.threshold.is_none() && ph == Phase::Student && cfg.reward_quantile > 0.0 {
        state.threshold = parts::quantile(log_r, cfg.reward_quantile, v.keep);
    }
    // teacher rewards from the student's residuals (before its step)
    let under = v.residuals.iter().filter(|&&r| r < 0.0).count();
    let (thr, resid) = (state.threshold, &*v.residuals);
    let kept = parts::teacher_rewards(&cfg.reward, thr, resid, log_r, v.log_rt, v.keep);
    let (mut teacher_loss, mut mean_log_rt, mut skipped) = (0.0, f32::NAN, si.skipped);
    if kept > 0 {
        (teacher_loss, mean_log_rt) = parts::teacher_gradient(&cfg.teacher, v, target, kept)?;
        skipped |= parts::teacher_update(&cfg.teacher, &mut state.teacher, &mut v.teacher)?;
    }
    state.teacher.iteration = state.student.iteration;
    if it == 0 && ph == Phase::Student {
        // the first on-policy batch seeds the buffer with its teacher rewards
        let x = v.student.traj.terminal();
        check_len("student samples", v.student.batch.x_t.len(), x.len())?;
        v.student.batch.x_t.copy_from_slice(x);
        refreshed += parts::insert_kept(&mut state.student.buffer, v)?;
    }
    let b = cfg.student.batch;
    Ok(Info {
        iteration: it,
        phase: ph,
        student_loss: si.tb_loss,
        teacher_loss,
        teacher_kept: kept,
        mean_log_rt,
        under_sampled: under as f32 / b as f32,
        refreshed,
        buffer_len: state.student.buffer.len,
        log_z: si.log_z,
        teacher_log_z: v.teacher.log_z(),
        grad_norm: si.grad_norm,
        skipped,
    })
}

/// The teacher reward `log R_T` that `B` states `xs` (`[B, d]`) would get under the current
/// student, each from one backward trajectory (as in the buffer refresh, but without the
/// reward threshold), into `out` (`B`). Clobbers the batch scratch of `views` (call between
/// steps). A diagnostic: large where the student under-samples the target.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `xs` is `B·d` and `out` is `B` long; as [`step`].
pub fn teacher_rewards_at<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    views: &mut Views<'_>,
    target: &T,
    xs: &[f32],
    out: &mut [f32],
    rng: &mut R,
) -> Result<(), Error> {
    views.check(cfg)?;
    check_len("teacher states", views.student.batch.x_t.len(), xs.len())?;
    check_len("teacher rewards", views.keep.len(), out.len())?;
    views.student.batch.x_t.copy_from_slice(xs);
    parts::student_residuals_at(&cfg.student, views, target, rng)?;
    let (resid, log_r) = (&*views.residuals, &*views.student.batch.log_r);
    parts::teacher_rewards(&cfg.reward, None, resid, log_r, out, views.keep);
    Ok(())
}
