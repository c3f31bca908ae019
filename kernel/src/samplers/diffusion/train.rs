//! Training loops of the continuous amortised samplers: on-policy TB, TB with the
//! importance-weighted replay buffer, and Reinforced SMC.
//!
//! All three share one model (a [`PisNet`] policy, a learnt scalar `log Z` and, for RSMC,
//! learnt [`Flows`]) and one Adam optimiser with per-group learning rates and per-group
//! global-norm clipping (`rsmc.md` §2.3: policy and flow `1e-3`, `log Z` and β logits `1e-1`,
//! clipping at 1.0, ×0.3 at 50 % and 75 % of the iterations).
//!
//! - [`Method::Tb`]: every iteration draws `B` on-policy trajectories and takes a TB step
//!   (the on-policy baseline; mode-seeking).
//! - [`Method::TbBuffer`]: "TB + IW-Buffer". Iterations with `it mod (r+1) = 0` are on-policy
//!   and store their terminal states with their importance weights; the other `r` draw `B`
//!   states from the buffer by global adaptive tempering and systematic resampling, build
//!   backward trajectories with `p_B`, and take a TB step on them.
//! - [`Method::Rsmc`]: the full method (`rsmc.md` §1.5): the buffer is prefilled with
//!   `prefill` SMC runs of the untrained model; on-policy iterations as above (loss TB +
//!   SubTB); off-policy iterations first run SMC (learnt policy proposals, learnt flow
//!   twists) and store all final particles with their Z-scaled weights, then train on a
//!   buffer draw. SMC samples reach training only through the buffer.
//!
//! Stored weights always include `− log p₀(x₀)` for on-policy samples, which the authors'
//! RSMC trainer omits (`rsmc.md` §1.4, code issue 1): with it, SMC and on-policy weights are
//! on the same `Z` scale, as the paper's derivation requires.
//!
//! Memory: everything lives in two caller-owned arenas (`f32` and `u32`) whose sizes
//! [`Layout::new`] computes from the configuration; [`Trainer::new`] carves them. No
//! allocation, so the same loop runs natively, in wasm and on a microcontroller.

use super::flow::{self, Flows, SubTbWorkspace};
use super::net::PisNet;
use super::policy::{self, PolicyConfig, Trajectories, batch_views};
use super::reference::{Process, Schedule};
use super::smc::{self, SmcConfig, SmcWorkspace};
use super::tb::{self, TbWorkspace};
use crate::arena::Carve;
use crate::buffer::{Cursor, Priority, ReplayBuffer};
use crate::error::Error;
use crate::nn::LastLayerInit;
use crate::optim::adam::{self, AdamConfig, AdamState, ParamGroup};
use crate::optim::clip::clip_global_norm;
use crate::optim::schedule::LrSchedule;
use crate::rng::{Rng, uniform_f64};
use crate::targets::LogDensity;

/// Which training loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// On-policy trajectory balance.
    Tb,
    /// TB with the importance-weighted replay buffer of on-policy samples.
    TbBuffer,
    /// Reinforced SMC: TB + SubTB-trained flows, SMC behaviour policy, IW buffer.
    Rsmc,
}

impl Method {
    /// Whether the method learns flows.
    pub const fn has_flows(self) -> bool {
        matches!(self, Method::Rsmc)
    }
    /// Whether the method uses the replay buffer.
    pub const fn has_buffer(self) -> bool {
        !matches!(self, Method::Tb)
    }
}

/// Training settings. Defaults follow RSMC's gradient-free setting scaled to a CPU budget
/// (documented per field, with the paper's value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// The loop. Defaults to [`Method::Rsmc`].
    pub method: Method,
    /// Reference process. Defaults to OU with `σ = 1` (per target: 20 for GMM40).
    pub process: Process,
    /// Diffusion steps `T`. Defaults to `64` (paper: 64).
    pub steps: usize,
    /// Training batch `B`. Defaults to `300` (paper: 2000).
    pub batch: usize,
    /// Policy hidden width. Defaults to `64` (paper: 256).
    pub hidden: usize,
    /// Fourier harmonics of the time embedding. Defaults to `64`.
    pub harmonics: usize,
    /// Flow hidden width. Defaults to `64` (paper: 64).
    pub flow_hidden: usize,
    /// Policy details (learnt variance, clipping, exploration).
    pub policy: PolicyConfig,
    /// Langevin-preconditioned drift (LP): the policy network gets the time-only scale
    /// branch fed with `clip(∇log R)` ([`PisNet::with_langevin`]). Defaults to `false` (the
    /// gradient-free setting of the RSMC tables).
    pub langevin: bool,
    /// SMC settings (chunk length `L` = SubTB chunk length) (paper: L = 4).
    pub smc: SmcConfig,
    /// SMC particles `N` per run. Defaults to `300` (paper: 2000).
    pub particles: usize,
    /// Replay buffer capacity. Defaults to `30_000` (paper: 200,000 = 100 batches).
    pub buffer_capacity: usize,
    /// How buffer entries are drawn. Defaults to the RSMC rule, importance weights tempered
    /// globally to ESS fraction `0.05` ("IW-Buffer"); [`Priority::RewardRank`] gives the
    /// reward-prioritised buffer of gfn-diffusion (`rank_weight = 0.01`), and
    /// [`Priority::Uniform`] the uniform buffer.
    pub buffer_priority: Priority,
    /// Off-policy steps per on-policy step `r`. Defaults to `2` (paper: 2).
    pub replay_ratio: u32,
    /// SMC runs that prefill the buffer before training (RSMC). Defaults to `20` (paper: 100).
    pub prefill: u32,
    /// Weight of the SubTB loss. Defaults to `1.0` (paper: 1.0).
    pub subtb_weight: f32,
    /// Policy learning rate. Defaults to `1e-3`.
    pub lr_policy: f32,
    /// Flow-network learning rate. Defaults to `1e-3`.
    pub lr_flow: f32,
    /// β-logit learning rate. Defaults to `1e-1`.
    pub lr_beta: f32,
    /// `log Z` learning rate. Defaults to `1e-1`.
    pub lr_log_z: f32,
    /// Per-group global-norm clip. Defaults to `1.0`.
    pub clip: f32,
    /// Total iterations, for the learning-rate schedule. Defaults to `2000` (paper: 20,000).
    pub iterations: u32,
    /// Learning-rate multiplier at 50 % and 75 % of the iterations. Defaults to `0.3`.
    pub lr_gamma: f32,
    /// RSMC only: after [`Trainer::prefill`], set the learnt `log Z` to the mean of the
    /// prefill SMC runs' `log Ẑ` instead of leaving it at 0. Defaults to `false` (the JAX
    /// code of the paper starts at 0, with this initialisation commented out; the PyTorch
    /// version starts from an estimate, `--init_log_Z iw_elbo`, `rsmc.md` section 1.5). It
    /// matters when `log Z` is far from 0 and the budget is short: with `lr_log_z = 0.1`
    /// Adam moves `log Z` by at most about 0.1 per iteration, so reaching ManyWell-32's
    /// 164.7 from 0 alone takes over 1600 iterations, during which every TB residual carries
    /// the offset.
    pub init_log_z_from_smc: bool,
    /// tb and tb-buffer: in [`Trainer::prefill`], draw one on-policy batch and set the
    /// learnt `log Z` to the mean of its log importance weights
    /// `log R(x_T) + Σ log p_B − log p₀ − Σ log p_F` (an ELBO estimate: the `log Z` that
    /// minimises that batch's TB loss), instead of 0. Defaults to `false`. Same reason as
    /// [`TrainConfig::init_log_z_from_smc`]: from 0 the residual of every on-policy batch
    /// carries the offset `log Z − ELBO` (about 86 for an untrained policy on ManyWell-32),
    /// and TB's policy gradient `mean(r_i ∇log p_F(τ_i))` is then dominated by the
    /// zero-mean noise term `offset · mean(∇log p_F)` until `log Z` catches up.
    pub init_log_z_from_batch: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            method: Method::Rsmc,
            process: Process::OrnsteinUhlenbeck { init_std: 1.0 },
            steps: 64,
            batch: 300,
            hidden: 64,
            harmonics: 64,
            flow_hidden: 64,
            policy: PolicyConfig::default(),
            langevin: false,
            smc: SmcConfig::default(),
            particles: 300,
            buffer_capacity: 30_000,
            buffer_priority: Priority::ImportanceWeight { target_ess: 0.05 },
            replay_ratio: 2,
            prefill: 20,
            subtb_weight: 1.0,
            lr_policy: 1e-3,
            lr_flow: 1e-3,
            lr_beta: 1e-1,
            lr_log_z: 1e-1,
            clip: 1.0,
            iterations: 2000,
            lr_gamma: 0.3,
            init_log_z_from_smc: false,
            init_log_z_from_batch: false,
        }
    }
}

fn positive(x: f32, what: &'static str) -> Result<(), Error> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidConfig(what))
    }
}

impl TrainConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        self.process.validate()?;
        self.policy.validate()?;
        if self.steps == 0 {
            return Err(Error::InvalidConfig("steps must be >= 1"));
        }
        if self.batch == 0 {
            return Err(Error::InvalidConfig("batch must be >= 1"));
        }
        if self.hidden == 0 || self.harmonics == 0 || self.flow_hidden == 0 {
            return Err(Error::InvalidConfig("network widths must be >= 1"));
        }
        if self.method == Method::Rsmc {
            if self.smc.chunk == 0
                || !self.steps.is_multiple_of(self.smc.chunk)
                || self.steps / self.smc.chunk < 2
            {
                return Err(Error::InvalidConfig(
                    "the chunk length must divide steps into at least two chunks",
                ));
            }
            if self.particles == 0 {
                return Err(Error::InvalidConfig("particles must be >= 1"));
            }
        }
        if self.method.has_buffer() && self.buffer_capacity == 0 {
            return Err(Error::InvalidConfig("buffer capacity must be >= 1"));
        }
        if self.replay_ratio > 1000 {
            return Err(Error::InvalidConfig("replay ratio must be at most 1000"));
        }
        match self.buffer_priority {
            Priority::ImportanceWeight { target_ess }
                if !(target_ess > 0.0 && target_ess <= 1.0) =>
            {
                return Err(Error::InvalidConfig("buffer target ESS must be in (0, 1]"));
            }
            Priority::RewardRank { rank_weight }
                if !(rank_weight.is_finite() && rank_weight > 0.0) =>
            {
                return Err(Error::InvalidConfig(
                    "buffer rank weight must be finite and > 0",
                ));
            }
            _ => {}
        }
        if !(self.subtb_weight.is_finite() && self.subtb_weight >= 0.0) {
            return Err(Error::InvalidConfig("subtb weight must be finite and >= 0"));
        }
        positive(
            self.lr_policy,
            "policy learning rate must be finite and > 0",
        )?;
        positive(self.lr_flow, "flow learning rate must be finite and > 0")?;
        positive(self.lr_beta, "beta learning rate must be finite and > 0")?;
        positive(self.lr_log_z, "log Z learning rate must be finite and > 0")?;
        positive(self.clip, "clip must be finite and > 0")?;
        positive(self.lr_gamma, "lr gamma must be finite and > 0")?;
        if self.init_log_z_from_smc && self.init_log_z_from_batch {
            return Err(Error::InvalidConfig(
                "choose one log Z initialisation: from the prefill SMC runs or from a batch",
            ));
        }
        if self.iterations == 0 {
            return Err(Error::InvalidConfig("iterations must be >= 1"));
        }
        Ok(())
    }

    /// The policy network for state dimension `dim`.
    ///
    /// # Errors
    /// As [`PisNet::new`].
    pub fn policy_net(&self, dim: usize) -> Result<PisNet, Error> {
        let net = PisNet::new(dim, self.hidden, self.harmonics, self.policy.net_out(dim))?;
        if self.langevin {
            net.with_langevin()
        } else {
            Ok(net)
        }
    }

    /// The flow model (RSMC) for state dimension `dim`.
    ///
    /// # Errors
    /// As [`PisNet::new`] and [`Flows::new`].
    pub fn flows(&self, dim: usize) -> Result<Flows, Error> {
        Flows::new(
            PisNet::new(dim, self.flow_hidden, self.harmonics, 1)?,
            self.steps,
            self.smc.chunk,
        )
    }
}

/// Sizes of every buffer of a [`Trainer`], computed once from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    dim: usize,
    policy_params: usize,
    flow_params: usize,
    /// Total trainable parameters (policy, flow net, β logits, `log Z`).
    pub n_params: usize,
    sizes: Sizes,
    /// Length of the `f32` arena.
    pub f32_len: usize,
    /// Length of the `u32` arena.
    pub u32_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sizes {
    traj: (usize, usize, usize, usize),
    smc_traj: (usize, usize, usize, usize),
    pws: (usize, usize, usize, usize),
    smc_ws: [usize; 10],
    subtb: [usize; 7],
    buffer: usize,
}

fn sum4(t: (usize, usize, usize, usize)) -> usize {
    t.0 + 2 * t.1 + t.2 + t.3
}

impl Layout {
    /// Computes the layout for `cfg` on a `dim`-dimensional target.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration; [`Error::CapacityExceeded`] if the
    /// sizes overflow.
    pub fn new(cfg: &TrainConfig, dim: usize) -> Result<Self, Error> {
        cfg.validate()?;
        if dim == 0 {
            return Err(Error::InvalidConfig("target dimension must be >= 1"));
        }
        let net = cfg.policy_net(dim)?;
        let flows = if cfg.method.has_flows() {
            Some(cfg.flows(dim)?)
        } else {
            None
        };
        let policy_params = net.param_count();
        let flow_params = flows.map_or(0, |f| f.param_count());
        let n_params = policy_params + flow_params + 1;
        let b = cfg.batch;
        let n = if cfg.method == Method::Rsmc {
            cfg.particles
        } else {
            0
        };
        let traj = Trajectories::lens(&net, b, cfg.steps, true);
        let smc_traj = if n > 0 {
            Trajectories::lens(&net, n, cfg.steps, false)
        } else {
            (0, 0, 0, 0)
        };
        let (p0, p1, p2) = policy::Workspace::lens(&net, b.max(n));
        let pws = (p0, p1, p2, policy::Workspace::lgrad_len(&net, b.max(n)));
        let smc_ws = if n > 0 {
            SmcWorkspace::lens(n, dim, cfg.steps, flows.as_ref())
        } else {
            [0; 10]
        };
        let subtb = flows.map_or([0; 7], |f| SubTbWorkspace::lens(&f, b));
        let buffer = if cfg.method.has_buffer() {
            cfg.buffer_capacity
        } else {
            0
        };
        let sizes = Sizes {
            traj,
            smc_traj,
            pws,
            smc_ws,
            subtb,
            buffer,
        };
        let big = |x: Option<usize>| {
            x.ok_or(Error::CapacityExceeded {
                what: "training arena",
                capacity: usize::MAX,
            })
        };
        let mut f = 4usize.checked_mul(n_params);
        f = f.and_then(|v| v.checked_add(Schedule::table_len(cfg.steps)));
        f = f.and_then(|v| v.checked_add(sum4(traj) + sum4(smc_traj)));
        f = f.and_then(|v| v.checked_add(pws.0 + pws.1 + pws.2 + pws.3));
        f = f.and_then(|v| v.checked_add(smc_ws.iter().sum::<usize>() - smc_ws[5]));
        f = f.and_then(|v| v.checked_add(subtb.iter().sum::<usize>()));
        // tb workspace: delta, coef, dout; log_r, log_w, x_t gather
        f = f.and_then(|v| v.checked_add(2 * b + b * net.out() + 2 * b + b * dim));
        // buffer: states, log_w, log_r, weights
        f = f.and_then(|v| buffer.checked_mul(dim + 3).and_then(|bb| v.checked_add(bb)));
        let f32_len = big(f)?;
        let u32_len = big(smc_ws[5].checked_add(buffer).and_then(|v| v.checked_add(b)))?;
        Ok(Layout {
            dim,
            policy_params,
            flow_params,
            n_params,
            sizes,
            f32_len,
            u32_len,
        })
    }
}

/// Training state carried between steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainState {
    /// Iterations done.
    pub iteration: u32,
    /// Adam step counter.
    pub adam: AdamState,
    /// SMC runs done (prefill included).
    pub smc_runs: u32,
    /// Iterations whose gradient was not finite, so no parameter was updated (see
    /// [`Trainer::step`]).
    pub skipped_steps: u32,
}

/// Diagnostics of one training iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainInfo {
    /// The iteration just done (0-based).
    pub iteration: u32,
    /// Whether it trained on on-policy samples.
    pub on_policy: bool,
    /// TB loss of the batch.
    pub tb_loss: f32,
    /// SubTB loss (0 without flows).
    pub subtb_loss: f32,
    /// The learnt `log Z` after the step.
    pub log_z: f32,
    /// Pre-clip gradient norm of the policy group.
    pub grad_norm: f32,
    /// `log Ẑ` of the SMC run of this iteration (NaN if none).
    pub smc_log_z: f64,
    /// Final `ESS/N` of that SMC run (NaN if none).
    pub smc_ess: f64,
    /// Entries in the replay buffer.
    pub buffer_len: usize,
    /// Tempering exponent of the buffer draw (1 if none).
    pub buffer_lambda: f64,
    /// Trajectories of the batch left out of the TB loss because their residual was not
    /// finite (mostly a target returning NaN or `±inf`; see [`Trainer::step`]).
    pub masked: u32,
    /// Whether the update was skipped because the gradient was not finite.
    pub skipped: bool,
}

/// A training run over caller-owned arenas.
#[derive(Debug)]
pub struct Trainer<'a> {
    cfg: TrainConfig,
    layout: Layout,
    net: PisNet,
    flows: Option<Flows>,
    params: &'a mut [f32],
    grads: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    table: &'a mut [f32],
    // training trajectories
    t_states: &'a mut [f32],
    t_lpf: &'a mut [f32],
    t_lpb: &'a mut [f32],
    t_out: &'a mut [f32],
    t_cache: &'a mut [f32],
    // SMC trajectories
    s_states: &'a mut [f32],
    s_lpf: &'a mut [f32],
    s_lpb: &'a mut [f32],
    s_out: &'a mut [f32],
    // policy workspace
    p_scratch: &'a mut [f32],
    p_cache: &'a mut [f32],
    p_noise: &'a mut [f32],
    p_lgrad: &'a mut [f32],
    // SMC workspace
    smc_f: [&'a mut [f32]; 9],
    smc_anc: &'a mut [u32],
    // SubTB workspace
    sub: [&'a mut [f32]; 7],
    // TB workspace and batch scratch
    delta: &'a mut [f32],
    coef: &'a mut [f32],
    dout: &'a mut [f32],
    log_r: &'a mut [f32],
    log_w: &'a mut [f32],
    x_t: &'a mut [f32],
    // replay buffer
    buf_states: &'a mut [f32],
    buf_log_w: &'a mut [f32],
    buf_log_r: &'a mut [f32],
    buf_weights: &'a mut [f32],
    buf_order: &'a mut [u32],
    buf_cursor: Cursor,
    draw: &'a mut [u32],
    state: TrainState,
}

impl<'a> Trainer<'a> {
    /// Builds a trainer over the arenas (lengths from [`Layout::new`]) and initialises the
    /// model: policy last layer zero (`g ≈ 0`: the untrained policy is the reference
    /// process), `log Z = 0`, flows with a `1e-8` last layer and linear β.
    ///
    /// # Errors
    /// Configuration and shape errors.
    pub fn new<R: Rng + ?Sized>(
        cfg: &TrainConfig,
        dim: usize,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
        rng: &mut R,
    ) -> Result<Self, Error> {
        let layout = Layout::new(cfg, dim)?;
        crate::error::check_len("f32 arena", layout.f32_len, f32_arena.len())?;
        crate::error::check_len("u32 arena", layout.u32_len, u32_arena.len())?;
        let net = cfg.policy_net(dim)?;
        let flows = if cfg.method.has_flows() {
            Some(cfg.flows(dim)?)
        } else {
            None
        };
        let s = layout.sizes;
        let mut c = Carve::new("training arena", f32_arena);
        let np = layout.n_params;
        let params = c.take(np)?;
        let grads = c.take(np)?;
        let m = c.take(np)?;
        let v = c.take(np)?;
        let table = c.take(Schedule::table_len(cfg.steps))?;
        let t_states = c.take(s.traj.0)?;
        let t_lpf = c.take(s.traj.1)?;
        let t_lpb = c.take(s.traj.1)?;
        let t_out = c.take(s.traj.2)?;
        let t_cache = c.take(s.traj.3)?;
        let s_states = c.take(s.smc_traj.0)?;
        let s_lpf = c.take(s.smc_traj.1)?;
        let s_lpb = c.take(s.smc_traj.1)?;
        let s_out = c.take(s.smc_traj.2)?;
        let _ = c.take(s.smc_traj.3)?;
        let p_scratch = c.take(s.pws.0)?;
        let p_cache = c.take(s.pws.1)?;
        let p_noise = c.take(s.pws.2)?;
        let p_lgrad = c.take(s.pws.3)?;
        let w = &s.smc_ws;
        let smc_f = [
            c.take(w[0])?,
            c.take(w[1])?,
            c.take(w[2])?,
            c.take(w[3])?,
            c.take(w[4])?,
            c.take(w[6])?,
            c.take(w[7])?,
            c.take(w[8])?,
            c.take(w[9])?,
        ];
        let u = &s.subtb;
        let sub = [
            c.take(u[0])?,
            c.take(u[1])?,
            c.take(u[2])?,
            c.take(u[3])?,
            c.take(u[4])?,
            c.take(u[5])?,
            c.take(u[6])?,
        ];
        let b = cfg.batch;
        let delta = c.take(b)?;
        let coef = c.take(b)?;
        let dout = c.take(b * net.out())?;
        let log_r = c.take(b)?;
        let log_w = c.take(b)?;
        let x_t = c.take(b * dim)?;
        let buf_states = c.take(s.buffer * dim)?;
        let buf_log_w = c.take(s.buffer)?;
        let buf_log_r = c.take(s.buffer)?;
        let buf_weights = c.take(s.buffer)?;
        let mut cu = Carve::new("training arena", u32_arena);
        let smc_anc = cu.take(w[5])?;
        let buf_order = cu.take(s.buffer)?;
        let draw = cu.take(b)?;
        Schedule::new(cfg.process, cfg.steps, table)?;
        let mut t = Trainer {
            cfg: *cfg,
            layout,
            net,
            flows,
            params,
            grads,
            m,
            v,
            table,
            t_states,
            t_lpf,
            t_lpb,
            t_out,
            t_cache,
            s_states,
            s_lpf,
            s_lpb,
            s_out,
            p_scratch,
            p_cache,
            p_noise,
            p_lgrad,
            smc_f,
            smc_anc,
            sub,
            delta,
            coef,
            dout,
            log_r,
            log_w,
            x_t,
            buf_states,
            buf_log_w,
            buf_log_r,
            buf_weights,
            buf_order,
            buf_cursor: Cursor::default(),
            draw,
            state: TrainState {
                iteration: 0,
                adam: AdamState::default(),
                smc_runs: 0,
                skipped_steps: 0,
            },
        };
        t.init_params(rng)?;
        Ok(t)
    }

    fn init_params<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<(), Error> {
        let (pp, rest) = self.params.split_at_mut(self.layout.policy_params);
        self.net.init(pp, LastLayerInit::Zero, rng)?;
        let (fp, lz) = rest.split_at_mut(self.layout.flow_params);
        if let Some(f) = &self.flows {
            f.init(fp, rng)?;
        }
        lz[0] = 0.0;
        self.m.iter_mut().for_each(|x| *x = 0.0);
        self.v.iter_mut().for_each(|x| *x = 0.0);
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }
    /// The arena layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The state.
    pub fn state(&self) -> TrainState {
        self.state
    }
    /// The policy network.
    pub fn net(&self) -> &PisNet {
        &self.net
    }
    /// The flows, if learnt.
    pub fn flows(&self) -> Option<&Flows> {
        self.flows.as_ref()
    }
    /// All trainable parameters `[policy | flow net | β logits | log Z]`.
    pub fn params(&self) -> &[f32] {
        self.params
    }
    /// Mutable parameters (to restore a checkpoint).
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.params
    }
    /// Policy parameters.
    pub fn policy_params(&self) -> &[f32] {
        &self.params[..self.layout.policy_params]
    }
    /// Flow parameters (empty without flows).
    pub fn flow_params(&self) -> &[f32] {
        &self.params[self.layout.policy_params..self.layout.policy_params + self.layout.flow_params]
    }
    /// The learnt `log Z`.
    pub fn log_z(&self) -> f32 {
        self.params[self.layout.n_params - 1]
    }
    /// Entries in the replay buffer.
    pub fn buffer_len(&self) -> usize {
        self.buf_cursor.len
    }
    /// Stored buffer states `[len, d]` (slot order) and their log-weights.
    pub fn buffer_contents(&self) -> (&[f32], &[f32]) {
        (
            &self.buf_states[..self.buf_cursor.len * self.layout.dim],
            &self.buf_log_w[..self.buf_cursor.len],
        )
    }

    fn insert(&mut self, xs_is_smc: bool) -> Result<(), Error> {
        let d = self.layout.dim;
        let (states, log_w, log_r): (&[f32], &[f32], &[f32]) = if xs_is_smc {
            let w = self.cfg.particles * d;
            let st = &self.s_states[self.cfg.steps * w..(self.cfg.steps + 1) * w];
            (st, &*self.smc_f[0], &*self.smc_f[3])
        } else {
            let w = self.cfg.batch * d;
            (
                &self.t_states[self.cfg.steps * w..(self.cfg.steps + 1) * w],
                &*self.log_w,
                &*self.log_r,
            )
        };
        let mut buf = ReplayBuffer::from_parts(
            d,
            self.buf_states,
            self.buf_log_w,
            self.buf_log_r,
            self.buf_cursor,
        )?;
        buf.insert(states, log_w, log_r)?;
        self.buf_cursor = buf.cursor();
        Ok(())
    }

    /// Runs one SMC pass with the current model and stores its particles in the buffer.
    fn smc_pass<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &mut self,
        target: &T,
        rng: &mut R,
    ) -> Result<smc::SmcInfo, Error> {
        let sched = Schedule::view(self.cfg.process, self.cfg.steps, &*self.table)?;
        let n = self.cfg.particles;
        let mut traj = Trajectories {
            batch: n,
            dim: self.layout.dim,
            steps: self.cfg.steps,
            states: self.s_states,
            log_pf: self.s_lpf,
            log_pb: self.s_lpb,
            outputs: self.s_out,
            cache: &mut [],
        };
        let mut pws = policy::Workspace {
            net_scratch: self.p_scratch,
            step_cache: self.p_cache,
            noise: self.p_noise,
            lgrad: self.p_lgrad,
        };
        let [lw, lf, lfn, lr, tmp, perm, betas, fc, fs] = &mut self.smc_f;
        let mut ws = SmcWorkspace {
            log_w: lw,
            log_f: lf,
            log_f_new: lfn,
            log_r: lr,
            tmp,
            ancestors: self.smc_anc,
            perm,
            betas,
            flow_cache: fc,
            flow_scratch: fs,
        };
        let pp = &self.params[..self.layout.policy_params];
        let fp = &self.params
            [self.layout.policy_params..self.layout.policy_params + self.layout.flow_params];
        let flows = self.flows.as_ref().map(|f| (f, fp));
        let info = smc::run(
            &self.cfg.smc,
            &self.cfg.policy,
            &sched,
            &self.net,
            pp,
            flows,
            target,
            &mut traj,
            &mut pws,
            &mut ws,
            rng,
        )?;
        self.state.smc_runs += 1;
        self.insert(true)?;
        Ok(info)
    }

    /// Fills the buffer with `prefill` SMC runs of the untrained model (RSMC only) and
    /// initialises the learnt `log Z` if asked: with [`TrainConfig::init_log_z_from_smc`]
    /// to the prefill runs' mean `log Ẑ`, with [`TrainConfig::init_log_z_from_batch`] to the
    /// mean log importance weight of one on-policy batch (any trained method). A no-op
    /// otherwise. Call once before the first [`Trainer::step`].
    ///
    /// # Errors
    /// As [`Trainer::step`]; [`Error::NonFinite`] if the chosen estimate is not finite.
    pub fn prefill<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &mut self,
        target: &T,
        rng: &mut R,
    ) -> Result<u32, Error> {
        if self.cfg.init_log_z_from_batch {
            self.init_log_z_from_batch(target, rng)?;
        }
        if self.cfg.method != Method::Rsmc {
            return Ok(0);
        }
        let mut sum = 0.0f64;
        for _ in 0..self.cfg.prefill {
            sum += self.smc_pass(target, rng)?.log_z;
        }
        if self.cfg.init_log_z_from_smc && self.cfg.prefill > 0 {
            let mean = sum / f64::from(self.cfg.prefill);
            if !mean.is_finite() {
                return Err(Error::NonFinite("prefill SMC log Z estimate"));
            }
            let np = self.layout.n_params;
            self.params[np - 1] = mean as f32;
        }
        Ok(self.cfg.prefill)
    }

    /// [`TrainConfig::init_log_z_from_batch`]: one on-policy batch (no gradient caches),
    /// `log Z ←` the mean of its finite log weights.
    fn init_log_z_from_batch<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &mut self,
        target: &T,
        rng: &mut R,
    ) -> Result<(), Error> {
        let d = self.layout.dim;
        let steps = self.cfg.steps;
        let sched = Schedule::view(self.cfg.process, steps, &*self.table)?;
        let pp_len = self.layout.policy_params;
        let (mut traj, mut pws) = batch_views!(self, self.cfg.batch, d, steps);
        policy::sample_forward(
            &self.cfg.policy,
            &sched,
            &self.net,
            &self.params[..pp_len],
            target,
            &mut traj,
            &mut pws,
            false,
            rng,
        )?;
        policy::fill_log_r(target, traj.terminal(), d, self.log_r);
        policy::log_weights(&sched, &traj, self.log_r, self.log_w)?;
        let (mut sum, mut n) = (0.0f64, 0u32);
        for &w in self.log_w.iter().filter(|w| w.is_finite()) {
            sum += f64::from(w);
            n += 1;
        }
        if n == 0 {
            return Err(Error::NonFinite(
                "log Z initialisation batch (no finite log weight)",
            ));
        }
        // a mean of finite f32 values in f64 is finite
        let mean = sum / f64::from(n);
        let np = self.layout.n_params;
        self.params[np - 1] = mean as f32;
        Ok(())
    }

    /// One training iteration (see the module doc for what each method does).
    ///
    /// **Failure policy** (for targets that break the [`LogDensity`] contract on part of the
    /// space, and for exploding gradients):
    /// - a terminal state whose `log R` is NaN or `±inf` gets `log R = -inf` (zero reward):
    ///   weight 0 in SMC and in the replay buffer, and its TB/SubTB term is masked out of the
    ///   loss ([`tb`]); the count is [`TrainInfo::masked`];
    /// - if a gradient group's norm is not finite, the update is skipped (parameters and Adam
    ///   moments unchanged, the iteration still counts): [`TrainInfo::skipped`],
    ///   [`TrainState::skipped_steps`];
    /// - a batch without any finite residual is [`Error::Degenerate`] (the CLI names the
    ///   iteration).
    ///
    /// # Errors
    /// [`Error::Degenerate`] if SMC, the buffer or the batch has no usable mass;
    /// [`Error::NonFinite`] for a non-finite state entering the buffer; shape errors.
    pub fn step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &mut self,
        target: &T,
        rng: &mut R,
    ) -> Result<TrainInfo, Error> {
        let it = self.state.iteration;
        let on_policy = !self.cfg.method.has_buffer()
            || it.is_multiple_of(self.cfg.replay_ratio + 1)
            || self.buf_cursor.len == 0;
        let mut info = TrainInfo {
            iteration: it,
            on_policy,
            tb_loss: 0.0,
            subtb_loss: 0.0,
            log_z: 0.0,
            grad_norm: 0.0,
            smc_log_z: f64::NAN,
            smc_ess: f64::NAN,
            buffer_len: self.buf_cursor.len,
            buffer_lambda: 1.0,
            masked: 0,
            skipped: false,
        };
        if !on_policy && self.cfg.method == Method::Rsmc {
            let si = self.smc_pass(target, rng)?;
            info.smc_log_z = si.log_z;
            info.smc_ess = si.final_ess_fraction;
        }
        let d = self.layout.dim;
        let b = self.cfg.batch;
        let steps = self.cfg.steps;
        let sched = Schedule::view(self.cfg.process, steps, &*self.table)?;
        let pp_len = self.layout.policy_params;
        let (mut traj, mut pws) = batch_views!(self, b, d, steps);
        if on_policy {
            policy::sample_forward(
                &self.cfg.policy,
                &sched,
                &self.net,
                &self.params[..pp_len],
                target,
                &mut traj,
                &mut pws,
                true,
                rng,
            )?;
        } else {
            let buf = ReplayBuffer::from_parts(
                d,
                self.buf_states,
                self.buf_log_w,
                self.buf_log_r,
                self.buf_cursor,
            )?;
            if self.cfg.buffer_priority == Priority::Uniform {
                // independent uniform slots (the buffer's own uniform rule would need B uniforms)
                let len = buf.len();
                for slot in self.draw.iter_mut() {
                    *slot = ((uniform_f64(rng) * len as f64) as usize).min(len - 1) as u32;
                }
            } else {
                let si = buf.sample(
                    self.cfg.buffer_priority,
                    &[uniform_f64(rng)],
                    self.buf_weights,
                    self.buf_order,
                    self.draw,
                )?;
                info.buffer_lambda = si.lambda;
            }
            for (row, &slot) in self.x_t.chunks_exact_mut(d).zip(self.draw.iter()) {
                if let Some(s) = buf.state(slot as usize) {
                    row.copy_from_slice(s);
                }
            }
            policy::sample_backward(&sched, self.x_t, &mut traj, pws.noise, rng)?;
            policy::score(
                &self.cfg.policy,
                &sched,
                &self.net,
                &self.params[..pp_len],
                target,
                &mut traj,
                &mut pws,
                true,
            )?;
        }
        // failure policy: a non-finite log R is zero reward (masked below, weight 0)
        policy::fill_log_r(target, traj.terminal(), d, self.log_r);
        if on_policy && self.cfg.method.has_buffer() {
            policy::log_weights(&sched, &traj, self.log_r, self.log_w)?;
        }
        // gradients
        self.grads.iter_mut().for_each(|g| *g = 0.0);
        let log_z = self.params[self.layout.n_params - 1];
        let (gp, grest) = self.grads.split_at_mut(pp_len);
        let mut tws = TbWorkspace {
            delta: self.delta,
            coef: self.coef,
            dout: self.dout,
            net_scratch: pws.net_scratch,
        };
        let ti = tb::backward(
            &self.cfg.policy,
            &sched,
            &self.net,
            &self.params[..pp_len],
            &traj,
            self.log_r,
            log_z,
            gp,
            &mut tws,
        )?;
        info.tb_loss = ti.loss;
        info.masked = ti.masked;
        let fl = self.layout.flow_params;
        let (gf, glz) = grest.split_at_mut(fl);
        glz[0] = ti.log_z_grad;
        if let Some(f) = &self.flows {
            let [blr, blf, cache, betas, dout, per, ns] = &mut self.sub;
            flow::fill_boundary_log_r(f, &traj, target, blr)?;
            let mut sws = SubTbWorkspace {
                boundary_log_r: blr,
                boundary_log_f: blf,
                cache,
                betas,
                dout,
                per_traj: per,
                net_scratch: ns,
            };
            let fp = &self.params[pp_len..pp_len + fl];
            let si = flow::subtb_backward(
                f,
                fp,
                &sched,
                &traj,
                self.log_r,
                log_z,
                self.cfg.subtb_weight,
                gf,
                &mut sws,
            )?;
            info.subtb_loss = si.loss;
        }
        if on_policy && self.cfg.method.has_buffer() {
            self.insert(false)?;
        }
        self.optimise(info)
    }

    /// An on-policy TB iteration whose gradient was computed outside the trainer (by a
    /// runner that splits the batch into chunks, [`super::tb::on_policy_chunk`], possibly on
    /// several threads): takes `policy_grads` (`∂L/∂θ` of the policy) and `∂L/∂log Z`,
    /// then clips and steps exactly as [`Trainer::step`] does. [`Method::Tb`] only. `masked`
    /// is the number of rows the runner left out of the loss (reported in
    /// [`TrainInfo::masked`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for another method; [`Error::ShapeMismatch`] if
    /// `policy_grads` is not the policy's length; [`Error::NonFinite`] as [`Trainer::step`].
    pub fn apply_gradient(
        &mut self,
        policy_grads: &[f32],
        log_z_grad: f32,
        tb_loss: f32,
        masked: u32,
    ) -> Result<TrainInfo, Error> {
        if self.cfg.method != Method::Tb {
            return Err(Error::InvalidConfig(
                "external (chunked) gradients are supported for on-policy TB only",
            ));
        }
        let pp_len = self.layout.policy_params;
        crate::error::check_len("policy gradient", pp_len, policy_grads.len())?;
        self.grads.iter_mut().for_each(|g| *g = 0.0);
        self.grads[..pp_len].copy_from_slice(policy_grads);
        let np = self.layout.n_params;
        self.grads[np - 1] = log_z_grad;
        let info = TrainInfo {
            iteration: self.state.iteration,
            on_policy: true,
            tb_loss,
            subtb_loss: 0.0,
            log_z: 0.0,
            grad_norm: 0.0,
            smc_log_z: f64::NAN,
            smc_ess: f64::NAN,
            buffer_len: self.buf_cursor.len,
            buffer_lambda: 1.0,
            masked,
            skipped: false,
        };
        self.optimise(info)
    }

    /// The optimiser part of an iteration, on the gradients in `self.grads`: per-group
    /// clipping, then Adam with per-group learning rates and the step schedule.
    fn optimise(&mut self, mut info: TrainInfo) -> Result<TrainInfo, Error> {
        let it = self.state.iteration;
        let pp_len = self.layout.policy_params;
        let fl = self.layout.flow_params;
        let np = self.layout.n_params;
        let fnet = self.flows.map_or(0, |f| f.beta_offset());
        let groups_spec = [
            (0usize, pp_len, self.cfg.lr_policy),
            (pp_len, fnet, self.cfg.lr_flow),
            (pp_len + fnet, fl - fnet, self.cfg.lr_beta),
            (np - 1, 1, self.cfg.lr_log_z),
        ];
        let mut groups = [ParamGroup::new(0, 0, 1.0); 4];
        let mut ng = 0;
        for &(start, len, lr) in &groups_spec {
            if len == 0 {
                continue;
            }
            let norm = clip_global_norm(&mut self.grads[start..start + len], self.cfg.clip);
            if !norm.is_finite() {
                // failure policy: skip the update, count it, carry on
                self.state.skipped_steps += 1;
                self.state.iteration += 1;
                info.skipped = true;
                info.grad_norm = norm;
                info.log_z = self.params[np - 1];
                info.buffer_len = self.buf_cursor.len;
                return Ok(info);
            }
            if start == 0 {
                info.grad_norm = norm;
            }
            groups[ng] = ParamGroup::new(start, len, lr / self.cfg.lr_policy);
            ng += 1;
        }
        let sched_lr = LrSchedule::multi_step_at_fractions(
            self.cfg.iterations,
            &[0.5, 0.75],
            self.cfg.lr_gamma,
        )?;
        let acfg = AdamConfig {
            lr: self.cfg.lr_policy * sched_lr.factor(it),
            ..AdamConfig::default()
        };
        adam::step_groups(
            &acfg,
            &mut self.state.adam,
            &groups[..ng],
            self.params,
            self.grads,
            self.m,
            self.v,
        )?;
        self.state.iteration += 1;
        info.log_z = self.params[np - 1];
        info.buffer_len = self.buf_cursor.len;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng;
    use crate::targets::Target;
    use std::vec;

    fn small(method: Method) -> TrainConfig {
        TrainConfig {
            method,
            process: Process::OrnsteinUhlenbeck { init_std: 3.0 },
            steps: 16,
            batch: 64,
            hidden: 16,
            harmonics: 8,
            flow_hidden: 16,
            particles: 64,
            buffer_capacity: 2000,
            prefill: 4,
            iterations: 300,
            ..TrainConfig::default()
        }
    }

    fn train(method: Method, iters: u32, seed: u64) -> (f32, f32, f32) {
        let target = Target::from_name("9gmm", None).unwrap();
        let cfg = small(method);
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(seed);
        let mut t = Trainer::new(&cfg, 2, &mut fa, &mut ua, &mut r).unwrap();
        t.prefill(&target, &mut r).unwrap();
        let first = t.step(&target, &mut r).unwrap();
        let mut last = first;
        let mut early = 0.0;
        for i in 1..iters {
            last = t.step(&target, &mut r).unwrap();
            if i < 20 {
                early += last.tb_loss / 19.0;
            }
        }
        assert_eq!(t.state().iteration, iters);
        (early, last.tb_loss, last.log_z)
    }

    #[test]
    fn every_method_trains_and_is_reproducible() {
        for method in [Method::Tb, Method::TbBuffer, Method::Rsmc] {
            let (early, late, log_z) = train(method, 60, 1);
            assert!(late.is_finite() && log_z.is_finite(), "{method:?}");
            assert!(
                late < early,
                "{method:?}: TB loss should fall: {early} -> {late}"
            );
            assert_eq!(
                train(method, 10, 7),
                train(method, 10, 7),
                "{method:?}: same seed, same numbers"
            );
        }
    }

    #[test]
    fn log_z_can_start_at_the_prefill_smc_estimate() {
        // ManyWell-2 has log Z = 10.29…: far from the default start at 0.
        let target = Target::from_name("manywell", Some(2)).unwrap();
        let true_log_z = target.log_z().unwrap() as f32;
        let run = |init: bool| {
            let cfg = TrainConfig {
                init_log_z_from_smc: init,
                particles: 256,
                ..small(Method::Rsmc)
            };
            let layout = Layout::new(&cfg, 2).unwrap();
            let mut fa = vec![0.0f32; layout.f32_len];
            let mut ua = vec![0u32; layout.u32_len];
            let mut r = rng::seeded(3);
            let mut t = Trainer::new(&cfg, 2, &mut fa, &mut ua, &mut r).unwrap();
            t.prefill(&target, &mut r).unwrap();
            (t.log_z(), t.buffer_contents().1.to_vec())
        };
        let (zero, buf0) = run(false);
        let (est, buf1) = run(true);
        assert_eq!(zero, 0.0);
        assert!(
            (est - true_log_z).abs() < 1.0,
            "prefill SMC estimate {est} vs log Z {true_log_z}"
        );
        // the same SMC runs: only the starting log Z differs
        assert_eq!(buf0, buf1);
    }

    /// With a zero-drift policy the OU chain from `N(0, σ²I)` is the reference itself, so
    /// the mean log weight is `E_{N(0,σ²I)}[log N(x; 0, I) − log N(x; 0, σ²I)]
    /// = d·(ln σ − (σ² − 1)/2)`, which is where the batch initialisation must put `log Z`.
    #[test]
    fn log_z_can_start_at_the_mean_log_weight_of_a_batch() {
        let target = Target::from_name("gaussian", Some(2)).unwrap();
        let sigma = 3.0f32;
        let expect = 2.0 * (f64::from(sigma).ln() - (f64::from(sigma * sigma) - 1.0) / 2.0);
        for method in [Method::Tb, Method::TbBuffer, Method::Rsmc] {
            let cfg = TrainConfig {
                init_log_z_from_batch: true,
                batch: 4000,
                ..small(method)
            };
            let layout = Layout::new(&cfg, 2).unwrap();
            let mut fa = vec![0.0f32; layout.f32_len];
            let mut ua = vec![0u32; layout.u32_len];
            let mut r = rng::seeded(11);
            let mut t = Trainer::new(&cfg, 2, &mut fa, &mut ua, &mut r).unwrap();
            assert_eq!(t.log_z(), 0.0);
            t.prefill(&target, &mut r).unwrap();
            // the per-sample log weight has std 8 here (standard error 0.13 at batch 4000)
            let got = f64::from(t.log_z());
            assert!((got - expect).abs() < 0.5, "{method:?}: {got} vs {expect}");
        }
        let both = TrainConfig {
            init_log_z_from_batch: true,
            init_log_z_from_smc: true,
            ..small(Method::Rsmc)
        };
        assert!(matches!(both.validate(), Err(Error::InvalidConfig(_))));
    }

    #[test]
    fn bad_configs_are_rejected() {
        let bad = TrainConfig {
            batch: 0,
            ..small(Method::Tb)
        };
        assert!(matches!(Layout::new(&bad, 2), Err(Error::InvalidConfig(_))));
        let bad = TrainConfig {
            lr_policy: f32::NAN,
            ..small(Method::Tb)
        };
        assert!(Layout::new(&bad, 2).is_err());
        let bad = TrainConfig {
            steps: 18,
            ..small(Method::Rsmc)
        };
        assert!(Layout::new(&bad, 2).is_err(), "chunk 4 does not divide 18");
        let cfg = small(Method::Tb);
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len - 1];
        let mut ua = vec![0u32; layout.u32_len];
        assert!(matches!(
            Trainer::new(&cfg, 2, &mut fa, &mut ua, &mut rng::seeded(0)),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
