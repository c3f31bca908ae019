//! Adaptive teacher for a continuous target with the diffusion sampler (Kim et al., ICLR
//! 2025; `teachers-and-vgs.md` A1.1 and A1.3, `diffusion/train.py --teacher`).
//!
//! Two diffusion samplers share the reference process (and so the fixed backward kernel
//! `p_B`), the network shape and the number of steps:
//! - the **student** (policy `p_F^S`, learnt `log Z^S`) targets `R(x)`;
//! - the **teacher** (policy `p_F^T`, learnt `log Z^T`) is trained with TB towards
//!
//!   `log R_T(τ) = log log(1 + ε + (1 + C·𝟙[δ_S(τ) > 0])·ℓ(τ)) + α·log R(x)`,
//!   `ℓ = ½δ_S²` (the diffusion code's halved loss),
//!
//!   where `δ_S(τ)` is the student's signed TB residual on the trajectory `τ`, computed
//!   **before** the student's optimiser step. `δ_S > 0` means the student under-samples
//!   `x` along `τ`; those trajectories get weight `1 + C = 20`. [`super::teacher_log_reward`]
//!   computes the reward from the kernel residual `d = −δ_S` ([`tb::residuals`]); it is called
//!   with `d/√2`, so that its `d²` is `ℓ = ½δ_S²`. Defaults (diffusion column of A1.1):
//!   `C = 19`, `ε = 10⁻³`, `α = 0.5`.
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
//! No new gradient code: the student uses [`tb::backward`]; the teacher's masked TB uses
//! [`tb::residuals`] and [`tb::backprop_log_pf`] with per-trajectory coefficients
//! `2δ_b/K` for the `K` kept trajectories and `0` for the dropped ones (the same path as
//! [`tb::backward`], whose finite-difference tests cover it).
//!
//! Not implemented from the reference: the `--ls` (MALA local search) variant.
//!
//! Memory: two caller-owned arenas (`f32`, `u32`) whose sizes [`Layout::new`] computes; no
//! allocation. Both samplers step through the shared optimiser ([`crate::optim::model`]),
//! with the diffusion trainer's schedule ([`TrainConfig::optimiser`]).

use super::{Config as RewardConfig, teacher_log_reward};
use crate::arena::Carve;
use crate::buffer::{Cursor, Priority, ReplayBuffer};
use crate::error::{Error, check_len};
use crate::nn::LastLayerInit;
use crate::optim::{Group, Model, OptimState};
use crate::rng::{Rng, uniform_f64};
use crate::samplers::diffusion::net::PisNet;
use crate::samplers::diffusion::policy::{self, Policy, Trajectories, batch_views};
use crate::samplers::diffusion::reference::Schedule;
use crate::samplers::diffusion::tb::{self, TbWorkspace};
use crate::samplers::diffusion::train::Config as TrainConfig;
use crate::targets::LogDensity;

/// `ℓ` given to samples below the reward threshold (the reference's `1e-12`), as a residual.
const DROPPED_RESIDUAL: f32 = 1e-6;

/// Settings of the continuous teacher loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Shared settings of both samplers (process, steps, batch `B`, network widths, policy,
    /// Langevin drift, buffer capacity, learning rates, student clip, iterations, lr decay).
    /// `method`, `flow_hidden`, `smc`, `particles`, `prefill`, `replay_ratio` and
    /// `buffer_priority` are not used.
    pub train: TrainConfig,
    /// The teacher reward. Defaults to `C = 19`, `ε = 1e-3`, `α = 0.5` (diffusion code).
    pub reward: RewardConfig,
    /// Global-norm gradient clip of the teacher. Defaults to `0.1` (reference).
    pub teacher_clip: f32,
    /// Quantile `q` of the first student batch's `log R` below which samples are dropped
    /// from the teacher's loss and the buffer refresh. Defaults to `0.9`; `0` disables it.
    pub reward_quantile: f32,
    /// `k` of the buffer's rank weights `1/(k·n + rank)`. Defaults to `0.01`.
    pub rank_weight: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            train: TrainConfig::default(),
            reward: RewardConfig {
                alpha: 0.5,
                ..RewardConfig::default()
            },
            teacher_clip: 0.1,
            reward_quantile: 0.9,
            rank_weight: 0.01,
        }
    }
}

impl Config {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        self.train.validate()?;
        self.reward.validate()?;
        if !self.reward.log_transform {
            return Err(Error::InvalidConfig(
                "the continuous teacher uses the log transform of the teacher reward",
            ));
        }
        if !(self.teacher_clip.is_finite() && self.teacher_clip > 0.0) {
            return Err(Error::InvalidConfig("teacher clip must be finite and > 0"));
        }
        if !(self.reward_quantile >= 0.0 && self.reward_quantile < 1.0) {
            return Err(Error::InvalidConfig(
                "teacher reward quantile must be in [0, 1)",
            ));
        }
        if !(self.rank_weight.is_finite() && self.rank_weight > 0.0) {
            return Err(Error::InvalidConfig(
                "buffer rank weight must be finite and > 0",
            ));
        }
        if self.train.buffer_capacity == 0 {
            return Err(Error::InvalidConfig("buffer capacity must be >= 1"));
        }
        Ok(())
    }
}

/// What the student trained on in an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Arena sizes for a configuration and target dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    dim: usize,
    policy_params: usize,
    /// Parameters of one sampler: `[policy | log Z]`.
    pub n_params: usize,
    traj: (usize, usize, usize, usize),
    pws: (usize, usize, usize, usize),
    /// Length of the `f32` arena.
    pub f32_len: usize,
    /// Length of the `u32` arena.
    pub u32_len: usize,
}

impl Layout {
    /// Computes the layout.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration or `dim = 0`;
    /// [`Error::CapacityExceeded`] if the sizes overflow.
    pub fn new(cfg: &Config, dim: usize) -> Result<Self, Error> {
        cfg.validate()?;
        if dim == 0 {
            return Err(Error::InvalidConfig("target dimension must be >= 1"));
        }
        let net = cfg.train.policy_net(dim)?;
        let b = cfg.train.batch;
        let policy_params = net.param_count();
        let n_params = policy_params + 1;
        let traj = Trajectories::lens(&net, b, cfg.train.steps, true);
        let (p0, p1, p2) = policy::Workspace::lens(&net, b);
        let pws = (p0, p1, p2, policy::Workspace::lgrad_len(&net, b));
        let cap = cfg.train.buffer_capacity;
        let big = |x: Option<usize>| {
            x.ok_or(Error::CapacityExceeded {
                what: "teacher arena",
                capacity: usize::MAX,
            })
        };
        let mut f = 8usize.checked_mul(n_params);
        f = f.and_then(|v| v.checked_add(Schedule::table_len(cfg.train.steps)));
        f = f.and_then(|v| v.checked_add(traj.0 + 2 * traj.1 + traj.2 + traj.3));
        f = f.and_then(|v| v.checked_add(pws.0 + pws.1 + pws.2 + pws.3));
        // delta, coef, log_r, resid, log_rt, sort (B each); dout (B·out); x_t (B·d)
        f = f.and_then(|v| v.checked_add(6 * b + b * net.out() + b * dim));
        // buffer: states, log_w, log_r, weights
        f = f.and_then(|v| cap.checked_mul(dim + 3).and_then(|c| v.checked_add(c)));
        let f32_len = big(f)?;
        let u32_len = big(cap.checked_add(b))?;
        Ok(Layout {
            dim,
            policy_params,
            n_params,
            traj,
            pws,
            f32_len,
            u32_len,
        })
    }
}

/// One sampler's model `[policy | log Z]` and its optimiser state.
#[derive(Debug)]
struct Sampler<'a> {
    model: Model<'a>,
    optim: OptimState,
}

impl Sampler<'_> {
    /// The shared optimiser step ([`crate::optim::model`]): policy at `lr_policy`, `log Z`
    /// at `lr_log_z`, both groups clipped at `clip`, ×`lr_gamma` at 50 % and 75 % of the
    /// iterations, the step skipped on a non-finite gradient. Returns the pre-clip policy
    /// gradient norm (not finite when the step was skipped).
    fn apply(&mut self, t: &TrainConfig, clip: f32, it: u32) -> Result<f32, Error> {
        let pp = self.model.params.len() - 1;
        let groups = [
            Group::new(pp, t.lr_policy, Some(clip)),
            Group::new(1, t.lr_log_z, Some(clip)),
        ];
        let info = t
            .optimiser()?
            .step(&groups, &mut self.model, &mut self.optim, it)?;
        Ok(info.reported_norm())
    }
}

/// The student, the teacher, the shared replay buffer and the scratch, over the arenas.
#[derive(Debug)]
pub struct State<'a> {
    cfg: Config,
    layout: Layout,
    net: PisNet,
    student: Sampler<'a>,
    teacher: Sampler<'a>,
    table: &'a mut [f32],
    t_states: &'a mut [f32],
    t_lpf: &'a mut [f32],
    t_lpb: &'a mut [f32],
    t_out: &'a mut [f32],
    t_cache: &'a mut [f32],
    p_scratch: &'a mut [f32],
    p_cache: &'a mut [f32],
    p_noise: &'a mut [f32],
    p_lgrad: &'a mut [f32],
    delta: &'a mut [f32],
    coef: &'a mut [f32],
    dout: &'a mut [f32],
    log_r: &'a mut [f32],
    resid: &'a mut [f32],
    log_rt: &'a mut [f32],
    sort: &'a mut [f32],
    x_t: &'a mut [f32],
    buf_states: &'a mut [f32],
    buf_log_w: &'a mut [f32],
    buf_log_r: &'a mut [f32],
    buf_weights: &'a mut [f32],
    buf_order: &'a mut [u32],
    draw: &'a mut [u32],
    buf_cursor: Cursor,
    threshold: Option<f32>,
    iteration: u32,
}

/// What one [`step`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
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
}

/// Builds the loop over the arenas (lengths from [`Layout::new`]) and initialises both
/// samplers as the trainer does: policy last layer zero (the untrained policy is the
/// reference process), `log Z = 0`.
///
/// # Errors
/// Configuration and shape errors.
pub fn init<'a, R: Rng + ?Sized>(
    cfg: &Config,
    dim: usize,
    f32_arena: &'a mut [f32],
    u32_arena: &'a mut [u32],
    rng: &mut R,
) -> Result<State<'a>, Error> {
    let layout = Layout::new(cfg, dim)?;
    check_len("f32 arena", layout.f32_len, f32_arena.len())?;
    check_len("u32 arena", layout.u32_len, u32_arena.len())?;
    let net = cfg.train.policy_net(dim)?;
    let np = layout.n_params;
    let b = cfg.train.batch;
    let cap = cfg.train.buffer_capacity;
    let mut c = Carve::new("teacher arena", f32_arena);
    let model = |c: &mut Carve<'a, f32>| -> Result<Sampler<'a>, Error> {
        Ok(Sampler {
            model: Model::carve(np, c)?,
            optim: OptimState::default(),
        })
    };
    let student = model(&mut c)?;
    let teacher = model(&mut c)?;
    let table = c.take(Schedule::table_len(cfg.train.steps))?;
    let tr = layout.traj;
    let t_states = c.take(tr.0)?;
    let t_lpf = c.take(tr.1)?;
    let t_lpb = c.take(tr.1)?;
    let t_out = c.take(tr.2)?;
    let t_cache = c.take(tr.3)?;
    let pw = layout.pws;
    let p_scratch = c.take(pw.0)?;
    let p_cache = c.take(pw.1)?;
    let p_noise = c.take(pw.2)?;
    let p_lgrad = c.take(pw.3)?;
    let delta = c.take(b)?;
    let coef = c.take(b)?;
    let dout = c.take(b * net.out())?;
    let log_r = c.take(b)?;
    let resid = c.take(b)?;
    let log_rt = c.take(b)?;
    let sort = c.take(b)?;
    let x_t = c.take(b * dim)?;
    let buf_states = c.take(cap * dim)?;
    let buf_log_w = c.take(cap)?;
    let buf_log_r = c.take(cap)?;
    let buf_weights = c.take(cap)?;
    let mut cu = Carve::new("teacher arena", u32_arena);
    let buf_order = cu.take(cap)?;
    let draw = cu.take(b)?;
    Schedule::new(cfg.train.process, cfg.train.steps, table)?;
    let mut st = State {
        cfg: *cfg,
        layout,
        net,
        student,
        teacher,
        table,
        t_states,
        t_lpf,
        t_lpb,
        t_out,
        t_cache,
        p_scratch,
        p_cache,
        p_noise,
        p_lgrad,
        delta,
        coef,
        dout,
        log_r,
        resid,
        log_rt,
        sort,
        x_t,
        buf_states,
        buf_log_w,
        buf_log_r,
        buf_weights,
        buf_order,
        draw,
        buf_cursor: Cursor::default(),
        threshold: None,
        iteration: 0,
    };
    for m in [&mut st.student, &mut st.teacher] {
        let (pp, lz) = m.model.params.split_at_mut(layout.policy_params);
        st.net.init(pp, LastLayerInit::Zero, rng)?;
        lz.iter_mut().for_each(|x| *x = 0.0);
        m.model.reset_moments();
    }
    Ok(st)
}

impl State<'_> {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// The arena layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// Iterations done.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// The student's optimiser state (steps taken and skipped), for checkpoints.
    pub fn student_optim(&self) -> OptimState {
        self.student.optim
    }
    /// The (shared) policy network shape.
    pub fn net(&self) -> &PisNet {
        &self.net
    }
    /// Student parameters `[policy | log Z]` (the layout of a TB trainer's parameters).
    pub fn student_params(&self) -> &[f32] {
        self.student.model.params
    }
    /// Mutable student parameters (to restore a checkpoint).
    pub fn student_params_mut(&mut self) -> &mut [f32] {
        self.student.model.params
    }
    /// Student policy parameters.
    pub fn student_policy_params(&self) -> &[f32] {
        &self.student.model.params[..self.layout.policy_params]
    }
    /// Teacher parameters `[policy | log Z]`.
    pub fn teacher_params(&self) -> &[f32] {
        self.teacher.model.params
    }
    /// Teacher policy parameters.
    pub fn teacher_policy_params(&self) -> &[f32] {
        &self.teacher.model.params[..self.layout.policy_params]
    }
    /// Student `log Z`.
    pub fn log_z(&self) -> f32 {
        self.student.model.params[self.layout.n_params - 1]
    }
    /// Teacher `log Z`.
    pub fn teacher_log_z(&self) -> f32 {
        self.teacher.model.params[self.layout.n_params - 1]
    }
    /// The reward threshold (after the first iteration; `None` before or when disabled).
    pub fn threshold(&self) -> Option<f32> {
        self.threshold
    }
    /// Entries in the buffer.
    pub fn buffer_len(&self) -> usize {
        self.buf_cursor.len
    }
    /// Buffer states `[len, d]` (slot order) and their stored `log R_T` priorities.
    pub fn buffer_contents(&self) -> (&[f32], &[f32]) {
        let n = self.buf_cursor.len;
        (
            &self.buf_states[..n * self.layout.dim],
            &self.buf_log_r[..n],
        )
    }

    /// Inserts the kept rows of `x_t` (`mask = 1`, the mask lives in `sort`) with `log R` and `log R_T`, compacting the
    /// scratch in place. Returns the number inserted.
    fn insert_kept(&mut self) -> Result<usize, Error> {
        let d = self.layout.dim;
        let mut k = 0;
        for i in 0..self.cfg.train.batch {
            if self.sort[i] > 0.0 {
                if k != i {
                    self.x_t.copy_within(i * d..(i + 1) * d, k * d);
                    self.log_r[k] = self.log_r[i];
                    self.log_rt[k] = self.log_rt[i];
                }
                k += 1;
            }
        }
        if k == 0 {
            return Ok(0);
        }
        let mut buf = ReplayBuffer::from_parts(
            d,
            self.buf_states,
            self.buf_log_w,
            self.buf_log_r,
            self.buf_cursor,
        )?;
        // stored: log w slot = log R(x), priority slot = log R_T
        buf.insert(&self.x_t[..k * d], &self.log_r[..k], &self.log_rt[..k])?;
        self.buf_cursor = buf.cursor();
        Ok(k)
    }
}

fn fill_log_r<T: LogDensity + ?Sized>(target: &T, xs: &[f32], d: usize, out: &mut [f32]) {
    for (lr, row) in out.iter_mut().zip(xs.chunks_exact(d)) {
        *lr = target.log_density(row);
    }
}

/// Student residuals `resid` (kernel sign, `−δ_S`) and `log R` (`log_r`) of the states in
/// `x_t`, each on one backward trajectory of `p_B` scored under the student's policy. A state
/// with `log R = −∞` gets a non-finite residual (dropped by the caller).
fn student_residuals_at<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    st: &mut State<'_>,
    target: &T,
    rng: &mut R,
) -> Result<(), Error> {
    let d = st.layout.dim;
    let steps = st.cfg.train.steps;
    let pp = st.layout.policy_params;
    let sched = Schedule::view(st.cfg.train.process, steps, &*st.table)?;
    let (mut traj, mut pws) = batch_views!(st, st.cfg.train.batch, d, steps);
    fill_log_r(target, st.x_t, d, st.log_r);
    policy::sample_backward(&sched, st.x_t, &mut traj, pws.noise, rng)?;
    let student = Policy {
        cfg: &st.cfg.train.policy,
        sched: &sched,
        net: &st.net,
        params: &st.student.model.params[..pp],
    };
    policy::score(student, target, &mut traj, &mut pws, false)?;
    policy::log_weights(&sched, &traj, st.log_r, st.resid)?;
    let lz = st.student.model.params[pp];
    st.resid.iter_mut().for_each(|r| *r = lz - *r);
    Ok(())
}

/// The teacher reward `log R_T` that `B` states `xs` (`[B, d]`) would get under the current
/// student, each from one backward trajectory (as in the buffer refresh, but without the
/// reward threshold), into `out` (`B`). Clobbers the loop's batch scratch (call between
/// steps). A diagnostic: large where the student under-samples the target.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `xs` is `B·d` and `out` is `B` long; rollout errors.
pub fn teacher_rewards_at<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    st: &mut State<'_>,
    target: &T,
    xs: &[f32],
    out: &mut [f32],
    rng: &mut R,
) -> Result<(), Error> {
    let b = st.cfg.train.batch;
    check_len("teacher states", b * st.layout.dim, xs.len())?;
    check_len("teacher rewards", b, out.len())?;
    st.x_t.copy_from_slice(xs);
    student_residuals_at(st, target, rng)?;
    teacher_rewards(&st.cfg.reward, None, st.resid, st.log_r, out, st.sort);
    Ok(())
}

/// One teacher–student iteration (see the [module docs](self)).
///
/// # Errors
/// [`Error::NonFinite`] if a student residual or gradient is not finite (for example
/// `log R = −∞` at a sample; parameters are then unchanged for that sampler);
/// [`Error::Degenerate`] from the buffer; shape errors.
pub fn step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    st: &mut State<'_>,
    target: &T,
    rng: &mut R,
) -> Result<Info, Error> {
    let it = st.iteration;
    let mut ph = phase(it);
    if ph == Phase::Buffer && st.buf_cursor.len == 0 {
        ph = Phase::Student;
    }
    let d = st.layout.dim;
    let b = st.cfg.train.batch;
    let steps = st.cfg.train.steps;
    let pp = st.layout.policy_params;
    let pcfg = st.cfg.train.policy;
    let mut refreshed = 0;

    if ph == Phase::TeacherRefresh {
        {
            let sched = Schedule::view(st.cfg.train.process, steps, &*st.table)?;
            let (mut traj, mut pws) = batch_views!(st, b, d, steps);
            let teacher = Policy {
                cfg: &pcfg,
                sched: &sched,
                net: &st.net,
                params: &st.teacher.model.params[..pp],
            };
            policy::sample_forward(teacher, target, &mut traj, &mut pws, false, rng)?;
            st.x_t.copy_from_slice(traj.terminal());
        }
        student_residuals_at(st, target, rng)?;
        teacher_rewards(
            &st.cfg.reward,
            st.threshold,
            st.resid,
            st.log_r,
            st.log_rt,
            st.sort,
        );
        refreshed = st.insert_kept()?;
        if st.buf_cursor.len == 0 {
            ph = Phase::Student;
        }
    }

    let sched = Schedule::view(st.cfg.train.process, steps, &*st.table)?;
    let (mut traj, mut pws) = batch_views!(st, b, d, steps);
    let student = Policy {
        cfg: &pcfg,
        sched: &sched,
        net: &st.net,
        params: &st.student.model.params[..pp],
    };
    if ph == Phase::Student {
        policy::sample_forward(student, target, &mut traj, &mut pws, true, rng)?;
        st.x_t.copy_from_slice(traj.terminal());
    } else {
        let buf =
            ReplayBuffer::from_parts(d, st.buf_states, st.buf_log_w, st.buf_log_r, st.buf_cursor)?;
        buf.sample(
            Priority::RewardRank {
                rank_weight: st.cfg.rank_weight,
            },
            &[uniform_f64(rng)],
            st.buf_weights,
            st.buf_order,
            st.draw,
        )?;
        for (row, &slot) in st.x_t.chunks_exact_mut(d).zip(st.draw.iter()) {
            let s = buf
                .state(slot as usize)
                .ok_or(Error::Degenerate("replay buffer returned an empty slot"))?;
            row.copy_from_slice(s);
        }
        policy::sample_backward(&sched, st.x_t, &mut traj, pws.noise, rng)?;
        policy::score(student, target, &mut traj, &mut pws, true)?;
    }
    fill_log_r(target, st.x_t, d, st.log_r);

    // student TB step; residuals kept from before the step
    st.student.model.grads.iter_mut().for_each(|g| *g = 0.0);
    let (sg, sgz) = st.student.model.grads.split_at_mut(pp);
    let ti = {
        let mut tws = TbWorkspace {
            delta: st.delta,
            coef: st.coef,
            dout: st.dout,
            net_scratch: pws.net_scratch,
        };
        let log_z = st.student.model.params[pp];
        tb::backward(student, &traj, st.log_r, log_z, sg, &mut tws)?
    };
    sgz[0] = ti.log_z_grad;
    st.resid.copy_from_slice(st.delta);
    let grad_norm = st.student.apply(&st.cfg.train, st.cfg.train.clip, it)?;

    // the reward threshold, once, from the first student batch
    if st.threshold.is_none() && ph == Phase::Student && st.cfg.reward_quantile > 0.0 {
        st.sort.copy_from_slice(st.log_r);
        st.sort.sort_unstable_by(|a, b| a.total_cmp(b));
        let k = ((st.cfg.reward_quantile as f64) * (b - 1) as f64) as usize;
        st.threshold = st.sort.get(k.min(b - 1)).copied();
    }

    // teacher rewards from the student's residuals (before its step); keep mask in `sort`
    let under = st.resid.iter().filter(|&&r| r < 0.0).count();
    let kept = teacher_rewards(
        &st.cfg.reward,
        st.threshold,
        st.resid,
        st.log_r,
        st.log_rt,
        st.sort,
    );
    // teacher TB on the same trajectories, re-scored under the teacher's policy
    let mut teacher_loss = 0.0f32;
    let mut mean_log_rt = f32::NAN;
    if kept > 0 {
        let teacher = Policy {
            cfg: &pcfg,
            sched: &sched,
            net: &st.net,
            params: &st.teacher.model.params[..pp],
        };
        policy::score(teacher, target, &mut traj, &mut pws, true)?;
        let lzt = st.teacher.model.params[pp];
        tb::residuals(&sched, &traj, st.log_rt, lzt, st.delta)?;
        let k2 = 2.0 / kept as f32;
        let (mut loss, mut gz, mut srt) = (0.0f64, 0.0f64, 0.0f64);
        for (((c, &dl), &rt), &keep) in st
            .coef
            .iter_mut()
            .zip(st.delta.iter())
            .zip(st.log_rt.iter())
            .zip(st.sort.iter())
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
        teacher_loss = (loss / kept as f64) as f32;
        mean_log_rt = (srt / kept as f64) as f32;
        st.teacher.model.grads.iter_mut().for_each(|g| *g = 0.0);
        let (tg, tgz) = st.teacher.model.grads.split_at_mut(pp);
        tb::backprop_log_pf(teacher, &traj, st.coef, tg, st.dout, pws.net_scratch)?;
        tgz[0] = gz as f32;
        st.teacher.apply(&st.cfg.train, st.cfg.teacher_clip, it)?;
    }
    if it == 0 && ph == Phase::Student {
        // the first on-policy batch seeds the buffer with its teacher rewards
        refreshed += st.insert_kept()?;
    }
    st.iteration = it.saturating_add(1);
    Ok(Info {
        iteration: it,
        phase: ph,
        student_loss: ti.loss,
        teacher_loss,
        teacher_kept: kept,
        mean_log_rt,
        under_sampled: under as f32 / b as f32,
        refreshed,
        buffer_len: st.buf_cursor.len,
        log_z: st.student.model.params[pp],
        teacher_log_z: st.teacher.model.params[pp],
        grad_norm,
    })
}

/// `log R_T` per sample from the kernel residuals `resid` (`= −δ_S`) and `log R`; `mask`
/// gets 1 for samples at or above the threshold with a finite reward, 0 otherwise (they get
/// `ℓ = 10⁻¹²`). Returns the number kept.
fn teacher_rewards(
    cfg: &RewardConfig,
    threshold: Option<f32>,
    resid: &[f32],
    log_r: &[f32],
    log_rt: &mut [f32],
    mask: &mut [f32],
) -> usize {
    let thr = threshold.unwrap_or(f32::NEG_INFINITY);
    let mut kept = 0;
    for (((rt, keep), &d), &lr) in log_rt
        .iter_mut()
        .zip(mask.iter_mut())
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
        let k = ok && rt.is_finite();
        *keep = if k { 1.0 } else { 0.0 };
        kept += usize::from(k);
    }
    kept
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::math;
    use crate::rng::seeded;
    use crate::samplers::diffusion::reference::Process;
    use crate::targets::Target;
    use std::vec;
    use std::vec::Vec;

    fn small() -> Config {
        Config {
            train: TrainConfig {
                process: Process::OrnsteinUhlenbeck { init_std: 1.0 },
                steps: 16,
                batch: 32,
                hidden: 16,
                harmonics: 8,
                buffer_capacity: 500,
                iterations: 200,
                ..TrainConfig::default()
            },
            ..Config::default()
        }
    }

    /// `½N(0, I) + ½N((6, 0), 0.25 I)` in 2-D, normalised: the untrained student (the OU
    /// reference, marginal `N(0, I)`) over-samples the first component and misses the second.
    struct TwoBumps;
    impl LogDensity for TwoBumps {
        fn dim(&self) -> usize {
            2
        }
        fn log_density(&self, x: &[f32]) -> f32 {
            let (a, b) = (x[0] as f64, x[1] as f64);
            let l2pi = math::LN_2PI;
            let c0 = -l2pi - 0.5 * (a * a + b * b);
            let v = 0.25;
            let c1 = -l2pi - math::ln(v) - 0.5 * ((a - 6.0) * (a - 6.0) + b * b) / v;
            let m = c0.max(c1);
            (m + math::ln(0.5 * math::exp(c0 - m) + 0.5 * math::exp(c1 - m))) as f32
        }
        fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
            grad.iter_mut().for_each(|g| *g = 0.0);
            self.log_density(x)
        }
        fn log_z(&self) -> Option<f64> {
            Some(0.0)
        }
        fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
            Err(Error::InvalidConfig("not used"))
        }
    }

    fn build(cfg: &Config, seed: u64) -> (Vec<f32>, Vec<u32>, Layout) {
        let layout = Layout::new(cfg, 2).unwrap();
        let _ = seed;
        (vec![0.0; layout.f32_len], vec![0; layout.u32_len], layout)
    }

    #[test]
    fn teacher_reward_is_large_where_the_student_is_wrong() {
        let cfg = small();
        let (mut fa, mut ua, _) = build(&cfg, 0);
        let mut r = seeded(3);
        let mut st = init(&cfg, 2, &mut fa, &mut ua, &mut r).unwrap();
        let b = cfg.train.batch;
        let mean_at = |st: &mut State<'_>, c: [f32; 2], r: &mut _| {
            let mut xs = vec![0.0f32; 2 * b];
            for row in xs.chunks_exact_mut(2) {
                row.copy_from_slice(&c);
            }
            let mut out = vec![0.0f32; b];
            teacher_rewards_at(st, &TwoBumps, &xs, &mut out, r).unwrap();
            out.iter().map(|&v| v as f64).sum::<f64>() / b as f64
        };
        // the missed mode: δ_S ≈ 17 > 0, weight 20: log log(1 + 20·ℓ) ≈ log log(2900) ≈ 2.1
        let missed = mean_at(&mut st, [6.0, 0.0], &mut r);
        // over-sampled point: δ_S ≈ −log 2 < 0, weight 1: log log(1.24) ≈ −1.5
        let over = mean_at(&mut st, [0.0, 0.0], &mut r);
        // α·log R favours the sharper bump a little (log R(6,0) − log R(0,0) ≈ 0.7), so the
        // gap must come from the residual
        assert!(missed > 1.5, "missed mode: {missed}");
        assert!(over < 0.0, "over-sampled point: {over}");
        assert!(missed - over > 2.5, "{missed} vs {over}");
        let mut bad = vec![0.0f32; b - 1];
        assert!(matches!(
            teacher_rewards_at(&mut st, &TwoBumps, &vec![0.0; 2 * b], &mut bad, &mut r),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    fn run(iters: u32, seed: u64) -> (Vec<Info>, Vec<f32>) {
        let target = Target::from_name("9gmm", None).unwrap();
        let cfg = Config {
            train: TrainConfig {
                process: Process::OrnsteinUhlenbeck { init_std: 3.0 },
                ..small().train
            },
            ..small()
        };
        let (mut fa, mut ua, _) = build(&cfg, seed);
        let mut r = seeded(seed);
        let mut st = init(&cfg, 2, &mut fa, &mut ua, &mut r).unwrap();
        let infos = (0..iters)
            .map(|_| step(&mut st, &target, &mut r).unwrap())
            .collect();
        (infos, st.student_params().to_vec())
    }

    #[test]
    fn phases_buffer_and_reproducibility() {
        let (infos, params) = run(12, 5);
        let phases: Vec<Phase> = infos.iter().map(|i| i.phase).collect();
        assert_eq!(
            &phases[..4],
            &[
                Phase::Student,
                Phase::TeacherRefresh,
                Phase::Student,
                Phase::Buffer
            ]
        );
        // the first batch seeds the buffer with the top (1 − q) of its rewards
        assert!(infos[0].refreshed >= 1 && infos[0].buffer_len == infos[0].refreshed);
        assert!(infos[1].buffer_len >= infos[0].buffer_len);
        for i in &infos {
            assert!(i.student_loss.is_finite() && i.teacher_loss.is_finite());
            assert!(i.teacher_kept >= 1 && i.teacher_kept <= 32, "{i:?}");
        }
        assert!(params.iter().all(|p| p.is_finite()));
        assert_eq!(run(12, 5).1, params, "same seed, same numbers");
        assert_ne!(run(12, 6).1, params);
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let bad = [
            Config {
                teacher_clip: 0.0,
                ..small()
            },
            Config {
                reward_quantile: 1.0,
                ..small()
            },
            Config {
                rank_weight: f64::NAN,
                ..small()
            },
            Config {
                reward: RewardConfig {
                    c: -1.0,
                    ..small().reward
                },
                ..small()
            },
            Config {
                train: TrainConfig {
                    buffer_capacity: 0,
                    ..small().train
                },
                ..small()
            },
            Config {
                train: TrainConfig {
                    batch: 0,
                    ..small().train
                },
                ..small()
            },
        ];
        for c in bad {
            assert!(
                matches!(Layout::new(&c, 2), Err(Error::InvalidConfig(_))),
                "{c:?}"
            );
        }
        assert!(Layout::new(&small(), 0).is_err());
        let cfg = small();
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len - 1];
        let mut ua = vec![0u32; layout.u32_len];
        assert!(matches!(
            init(&cfg, 2, &mut fa, &mut ua, &mut seeded(0)),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
