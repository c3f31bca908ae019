//! Training loops of the continuous amortised samplers: on-policy TB, TB with the
//! importance-weighted replay buffer, and Reinforced SMC.
//!
//! All three share one model (a [`PisNet`](super::net::PisNet) policy, a learnt scalar `log Z` and, for RSMC,
//! learnt [`Flows`](super::flow::Flows)) and one Adam optimiser with per-group learning rates and per-group
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
//! - [`Method::RsmcNoBuffer`]: "TB + SMC" (the seeds' `gfn_subtb_smc_nobuffer_trainer.py`):
//!   the same model, losses and on-policy iterations as RSMC, no buffer and no prefill; every
//!   off-policy iteration runs SMC and trains on its `N = B` final particles directly
//!   (unweighted, backward trajectories by `p_B`).
//!
//! Stored weights include `− log p₀(x₀)` for on-policy samples by default, as the authors'
//! JAX RSMC trainer did up to its submitted version (6b54686) and omits from commit 0409da1
//! on (`rsmc.md` §1.4, code issue 1; `BufferWeights::Seed` reproduces the omission): with
//! it, SMC and on-policy weights are on the same `Z` scale, as the paper's derivation
//! requires.
//!
//! The shape (STYLE habit 2): [`Config`] → [`Layout::new`] sizes two caller-owned arenas
//! (`f32`, `u32`) → [`Views::new`] carves them into named buffers **on each call** →
//! [`init`] returns the small `Copy` [`State`] → [`step`] (which runs [`prefill`] first if
//! it has not run) returns an [`Info`]. The owner keeps plain buffers plus `State`; a
//! checkpoint is the parameter slice plus `State`. No allocation, so the same loop runs
//! natively, in wasm and on a microcontroller.
//!
//! | file | concept |
//! |---|---|
//! | [`chunks`] | the pieces of a chunked iteration for multi-threaded and multi-worker runners |
//! | [`config`] | [`Method`], [`Config`], the optimiser and its parameter groups |
//! | [`layout`] | [`Layout`] and the per-call [`Views`] |
//! | `parts` | the pieces of an iteration: SMC pass, buffer insert and draw, gradients |
//!
//! # Example
//!
//! A complete (tiny) RSMC run on the built-in 9-component grid mixture, with the sizes of
//! the Cortex-M firmware: 600 parameters, 44 KB of arenas.
//! `kernel/examples/rsmc_static.rs` does the same on a target of its own, in `static`
//! memory, and samples from the trained policy.
//!
//! ```
//! use amortise_kernel::rng;
//! use amortise_kernel::samplers::diffusion::reference::Process;
//! use amortise_kernel::samplers::diffusion::train::{self, Config, Layout, Method, Views};
//! use amortise_kernel::targets::GridGmm;
//!
//! let cfg = Config {
//!     method: Method::Rsmc,
//!     process: Process::PinnedBrownian { t_scale: 5.0 },
//!     steps: 8, // two SMC chunks of the default length 4
//!     batch: 8,
//!     hidden: 8,
//!     harmonics: 2,
//!     flow_hidden: 8,
//!     particles: 16,
//!     buffer_capacity: 128,
//!     prefill: 2,
//!     iterations: 20,
//!     ..Config::default()
//! };
//! let target = GridGmm::nine();
//! let layout = Layout::new(&cfg, 2)?;
//! // The caller owns the memory: two arenas of exactly the layout's lengths, here on the
//! // stack (a `static` on a microcontroller, a `Box<[f32]>` in a wasm handle).
//! let mut f32s = [0.0f32; 10_867];
//! let mut u32s = [0u32; 152];
//! assert_eq!((layout.f32_len, layout.u32_len), (f32s.len(), u32s.len()));
//! let mut rng = rng::seeded(0);
//!
//! // Views are carved from the arenas on every call; between calls there is only the
//! // small `Copy` state.
//! let mut views = Views::new(&layout, &mut f32s, &mut u32s)?;
//! let mut state = train::init(&cfg, &layout, &mut views, &mut rng)?;
//! for _ in 0..cfg.iterations {
//!     let mut views = Views::new(&layout, &mut f32s, &mut u32s)?;
//!     let info = train::step(&cfg, &mut state, &mut views, &target, &mut rng)?;
//!     assert!(info.tb_loss.is_finite());
//! }
//! assert_eq!(state.iteration, 20);
//! assert!(state.prefilled && state.smc_runs >= 2);
//!
//! // A checkpoint is the parameters (the front of the f32 arena) plus `state`.
//! let params = layout.params(&f32s);
//! assert_eq!(params.len(), layout.n_params);
//! assert!(layout.log_z(params).is_finite());
//! # Ok::<(), amortise_kernel::Error>(())
//! ```

mod augment;
pub mod chunks;
pub mod config;
pub mod layout;
mod parts;
mod reweight;
#[cfg(test)]
mod tests;

pub use augment::{AugmentInfo, BufferMcmc, McmcWeights, augment_buffer};
pub use config::{BufferWeights, Config, LowReward, Method, RewardAnneal};
pub use layout::{BatchScratch, BufferViews, Layout, TbScratch, Views};
pub use parts::policy_at;
pub use reweight::reweight_buffer;

use super::reference::Schedule;
use crate::arena::carved_by;
use crate::buffer::Cursor;
use crate::error::{Error, check_len};
use crate::nn::LastLayerInit;
use crate::optim::OptimState;
use crate::rng::Rng;
use crate::targets::{LogDensity, Tempered};

/// Training state carried between steps (with the parameters, all a checkpoint needs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// Iterations done.
    pub iteration: u32,
    /// The optimiser's step counter and skipped steps (a non-finite gradient, see [`step`]).
    pub optim: OptimState,
    /// SMC runs done (prefill included).
    pub smc_runs: u32,
    /// The replay buffer's cursor.
    pub buffer: Cursor,
    /// Whether [`prefill`] has run.
    pub prefilled: bool,
}

/// Diagnostics of one training iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Info {
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
    /// finite (mostly a target returning NaN or `±inf`; see [`step`]).
    pub masked: u32,
    /// Whether the update was skipped because the gradient was not finite.
    pub skipped: bool,
    /// States the buffer's MCMC augmentation stored this iteration ([`augment_buffer`]).
    /// Not serialised (nor the next field): resume snapshots written before the field
    /// existed keep decoding.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub mcmc_inserted: u32,
    /// Its MALA acceptance rate (NaN when it did not run).
    #[cfg_attr(feature = "serde", serde(skip, default = "nan"))]
    pub mcmc_acceptance: f32,
}

#[cfg(feature = "serde")]
fn nan() -> f32 {
    f32::NAN
}

impl Info {
    fn new(iteration: u32, on_policy: bool, buffer_len: usize) -> Self {
        Info {
            iteration,
            on_policy,
            tb_loss: 0.0,
            subtb_loss: 0.0,
            log_z: 0.0,
            grad_norm: 0.0,
            smc_log_z: f64::NAN,
            smc_ess: f64::NAN,
            buffer_len,
            buffer_lambda: 1.0,
            masked: 0,
            skipped: false,
            mcmc_inserted: 0,
            mcmc_acceptance: f32::NAN,
        }
    }

    /// Records a buffer augmentation ([`augment_buffer`]; nothing if it stored nothing).
    pub fn set_mcmc(&mut self, aug: AugmentInfo) {
        if aug.inserted > 0 {
            self.mcmc_inserted = aug.inserted;
            self.mcmc_acceptance = (aug.accepted as f64 / aug.proposals.max(1) as f64) as f32;
        }
    }
}

/// Initialises the model in `views`: the schedule table, the policy with a zero last layer
/// (`g ≈ 0`: the untrained policy is the reference process), flows with a `1e-8` last layer
/// and linear β, `log Z = 0`, zero Adam moments. Returns the state of a run that has done
/// nothing yet.
///
/// # Errors
/// [`Error::InvalidConfig`] if `layout` or `views` do not belong to `cfg`; shape errors.
pub fn init<R: Rng + ?Sized>(
    cfg: &Config,
    layout: &Layout,
    views: &mut Views<'_>,
    rng: &mut R,
) -> Result<State, Error> {
    layout.check(cfg)?;
    carved_by(&views.layout, layout)?;
    Schedule::new(cfg.process, cfg.steps, views.table)?;
    let (pp, rest) = views.model.params.split_at_mut(layout.policy_params);
    layout.net.init(pp, LastLayerInit::Zero, rng)?;
    let (fp, lz) = rest.split_at_mut(layout.flow_params);
    if let Some(f) = &layout.flows {
        f.init(fp, rng)?;
    }
    lz.fill(0.0);
    views.model.reset_moments();
    Ok(State::default())
}

/// The first phase of a run, which needs the target: fills the buffer with `prefill` SMC
/// runs of the untrained model (RSMC only) and initialises the learnt `log Z` if asked
/// (with [`Config::init_log_z_from_smc`] to the prefill runs' mean `log Ẑ`, with
/// [`Config::init_log_z_from_batch`] to the mean log importance weight of one on-policy
/// batch). [`step`] calls it when it has not run; runners that compute gradients outside
/// [`step`] ([`apply_gradient`]) call it themselves. Like [`step`] it raises the target to
/// the iteration's power ([`Config::reward_beta`]) itself. Returns the SMC runs done (0 once
/// prefilled).
///
/// # Errors
/// As [`step`]; [`Error::NonFinite`] if the chosen estimate is not finite.
pub fn prefill<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<u32, Error> {
    let tempered = Tempered::new(target, cfg.reward_beta(state.iteration));
    prefill_with(cfg, state, views, &tempered, rng)
}

/// [`prefill`] on a target already raised to the iteration's power.
fn prefill_with<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<u32, Error> {
    if state.prefilled {
        return Ok(0);
    }
    if cfg.init_log_z_from_batch {
        parts::init_log_z_from_batch(cfg, views, target, rng)?;
    }
    state.prefilled = true;
    if cfg.method != Method::Rsmc {
        return Ok(0);
    }
    let mut sum = 0.0f64;
    for _ in 0..cfg.prefill {
        sum += parts::smc_pass(cfg, state, views, target, rng)?.log_z;
    }
    init_log_z_from_smc(cfg, views, sum)?;
    Ok(cfg.prefill)
}

/// The end of [`prefill`] for RSMC: with [`Config::init_log_z_from_smc`] (and prefill runs),
/// sets the learnt `log Z` to `sum_log_z / prefill`, the mean `log Ẑ` of the prefill SMC
/// runs; otherwise does nothing. For runners that run the prefill passes themselves (after
/// [`prefill`] with `prefill: 0` for the rest of the phase).
///
/// # Errors
/// [`Error::NonFinite`] if the mean is not finite.
pub fn init_log_z_from_smc(
    cfg: &Config,
    views: &mut Views<'_>,
    sum_log_z: f64,
) -> Result<(), Error> {
    if cfg.init_log_z_from_smc && cfg.prefill > 0 {
        let mean = sum_log_z / f64::from(cfg.prefill);
        if !mean.is_finite() {
            return Err(Error::NonFinite("prefill SMC log Z estimate"));
        }
        if let Some(lz) = views.model.params.last_mut() {
            *lz = mean as f32;
        }
    }
    Ok(())
}

/// One training iteration (see the module doc for what each method does).
///
/// **Failure policy** (for targets that break the [`LogDensity`] contract on part of the
/// space, and for exploding gradients):
/// - a terminal state whose `log R` is NaN or `±inf` gets `log R = -inf` (zero reward):
///   weight 0 in SMC and in the replay buffer, and its TB/SubTB term is masked out of the
///   loss ([`super::tb`]); the count is [`Info::masked`];
/// - if a gradient group's norm is not finite, the update is skipped (parameters and Adam
///   moments unchanged, the iteration still counts): [`Info::skipped`],
///   [`OptimState::skipped`] ([`crate::optim::model`]);
/// - a batch without any finite residual is [`Error::Degenerate`] (the CLI names the
///   iteration).
///
/// # Errors
/// [`Error::Degenerate`] if SMC, the buffer or the batch has no usable mass;
/// [`Error::NonFinite`] for a non-finite state entering the buffer; shape errors.
pub fn step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<Info, Error> {
    let cfg = &cfg.at_iteration(state.iteration);
    let tempered = Tempered::new(target, cfg.reward_beta(state.iteration));
    let target = &tempered;
    prefill_with(cfg, state, views, target, rng)?;
    let it = state.iteration;
    let on_policy = is_on_policy(cfg, state);
    let mut info = Info::new(it, on_policy, state.buffer.len);
    if !on_policy && cfg.method.has_smc() {
        let si = parts::smc_pass(cfg, state, views, target, rng)?;
        info.smc_log_z = si.log_z;
        info.smc_ess = si.final_ess_fraction;
    }
    if !on_policy && cfg.method == Method::RsmcNoBuffer {
        parts::particles_to_batch(views)?;
        parts::backward_batch(cfg, views, target, rng)?;
        parts::gradients(cfg, views, target, &mut info)?;
    } else {
        batch_and_gradients(cfg, state, views, target, &mut info, rng)?;
    }
    if on_policy && cfg.method.has_buffer() {
        if cfg.buffer_weights == BufferWeights::Seed {
            parts::seed_weights(cfg, views)?;
        }
        parts::insert(&mut state.buffer, views, false)?;
    }
    let aug = augment_buffer(cfg, it, state, views, target, rng)?;
    info.set_mcmc(aug);
    reweight_buffer(cfg, it, state, views, target, rng)?;
    optimise(cfg, state, views, info)
}

/// Whether the iteration `state.iteration` of [`step`] is on-policy: every iteration of
/// [`Method::Tb`], one in `replay_ratio + 1` of the others, and any while the buffer of a
/// buffer method is empty.
pub fn is_on_policy(cfg: &Config, state: &State) -> bool {
    !cfg.method.has_off_policy()
        || state.iteration.is_multiple_of(cfg.replay_ratio + 1)
        || (cfg.method.has_buffer() && state.buffer.len == 0)
}

/// For runners that run SMC outside [`step`] ([`Method::RsmcNoBuffer`]): the terminal
/// states of `views.smc_traj` become the batch's `x_T` (`views.batch.x_t`), as [`step`]'s
/// off-policy iterations of that method use them.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the particles are not the batch's size.
pub fn particles_to_batch(views: &mut Views<'_>) -> Result<(), Error> {
    parts::particles_to_batch(views)
}

/// Where the batch of [`step_on`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// `B` on-policy trajectories.
    OnPolicy,
    /// `B` buffer entries (drawn by [`Config::buffer_priority`]), expanded into
    /// trajectories by `p_B`.
    Buffer,
}

/// One TB iteration on a batch whose source the caller chooses, with no SMC pass and
/// nothing stored in the buffer: for runners with a behaviour schedule and a buffer rule of
/// their own (the continuous teacher). The batch, gradients and optimiser step are those of
/// [`step`]; on return `views.traj` holds the batch's trajectories, `views.batch.log_r`
/// their `log R` and `views.tb.delta` their TB residuals from before the step (0 where
/// masked). Does not run [`prefill`].
///
/// # Errors
/// [`Error::Degenerate`] for [`Batch::Buffer`] with an empty buffer (or a method without
/// one); otherwise as [`step`].
pub fn step_on<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    batch: Batch,
    target: &T,
    rng: &mut R,
) -> Result<Info, Error> {
    let cfg = &cfg.at_iteration(state.iteration);
    let tempered = Tempered::new(target, cfg.reward_beta(state.iteration));
    let target = &tempered;
    let on_policy = batch == Batch::OnPolicy;
    if !on_policy && state.buffer.len == 0 {
        return Err(Error::Degenerate("a buffer batch from an empty buffer"));
    }
    let mut info = Info::new(state.iteration, on_policy, state.buffer.len);
    batch_and_gradients(cfg, state, views, target, &mut info, rng)?;
    optimise(cfg, state, views, info)
}

/// The training batch ([`Info::on_policy`]: on-policy, else from the buffer) and its
/// TB (+ SubTB) gradients.
fn batch_and_gradients<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &State,
    views: &mut Views<'_>,
    target: &T,
    info: &mut Info,
    rng: &mut R,
) -> Result<(), Error> {
    if info.on_policy {
        parts::on_policy_batch(cfg, views, target, rng)?;
    } else {
        info.buffer_lambda = parts::buffer_batch(cfg, state.buffer, views, target, rng)?;
    }
    parts::gradients(cfg, views, target, info)
}

/// A gradient computed outside [`step`], by a runner that splits the batch into chunks
/// ([`super::tb::chunk_gradient`], [`super::flow::subtb_backward`] with
/// [`SubTbTerms::batch`](super::flow::SubTbTerms::batch)), possibly on several threads.
#[derive(Clone, Copy, Debug)]
pub struct ExternalGradient<'g> {
    /// `∂L/∂θ` of the policy.
    pub policy: &'g [f32],
    /// `∂L/∂(φ, b)` of the flows ([`Layout::flow_params`] values; empty without flows).
    pub flow: &'g [f32],
    /// `∂L/∂log Z`.
    pub log_z: f32,
    /// The batch's TB loss.
    pub tb_loss: f32,
    /// The batch's SubTB loss (0 without flows).
    pub subtb_loss: f32,
    /// Rows the runner left out of the loss (reported in [`Info::masked`]).
    pub masked: u32,
    /// Whether the batch was on-policy ([`Info::on_policy`]).
    pub on_policy: bool,
}

/// An iteration with a gradient computed outside the trainer: clips and steps exactly as
/// [`step`] does. Call [`prefill`] first; a runner of a buffer method stores the batch
/// itself ([`store_batch`], [`store_smc`]).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the policy or flow gradient is not its group's length.
pub fn apply_gradient(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    grad: &ExternalGradient<'_>,
) -> Result<Info, Error> {
    let (pp_len, fl_len) = (views.layout.policy_params, views.layout.flow_params);
    check_len("policy gradient", pp_len, grad.policy.len())?;
    check_len("flow gradient", fl_len, grad.flow.len())?;
    let g = &mut views.model.grads;
    g.fill(0.0);
    g[..pp_len].copy_from_slice(grad.policy);
    g[pp_len..pp_len + fl_len].copy_from_slice(grad.flow);
    if let Some(lz) = g.last_mut() {
        *lz = grad.log_z;
    }
    let mut info = Info::new(state.iteration, grad.on_policy, state.buffer.len);
    info.tb_loss = grad.tb_loss;
    info.subtb_loss = grad.subtb_loss;
    info.masked = grad.masked;
    optimise(cfg, state, views, info)
}

/// For runners that build the batch outside [`step`]: draws `B` terminal states from the
/// buffer into `views.batch.x_t` exactly as [`step`]'s buffer iterations do (the same
/// uniforms from `rng`), without building their trajectories. Returns the draw's tempering
/// exponent.
///
/// # Errors
/// [`Error::Degenerate`] for an empty buffer or one without usable mass.
pub fn draw_buffer<R: Rng + ?Sized>(
    cfg: &Config,
    state: &State,
    views: &mut Views<'_>,
    rng: &mut R,
) -> Result<f64, Error> {
    if state.buffer.len == 0 {
        return Err(Error::Degenerate("a buffer batch from an empty buffer"));
    }
    parts::draw(cfg, state.buffer, views, rng)
}

/// For runners that build the on-policy batch outside [`step`]: stores it in the buffer as
/// [`step`] does (with [`BufferWeights::Seed`], its weights gain `log p₀(x₀)` first). The
/// batch is read from `views.traj` (its first and last states) and
/// `views.batch.{log_w, log_r}`, rows in batch order.
///
/// # Errors
/// [`Error::NonFinite`] for a non-finite state; shape errors.
pub fn store_batch(cfg: &Config, state: &mut State, views: &mut Views<'_>) -> Result<(), Error> {
    if cfg.buffer_weights == BufferWeights::Seed {
        parts::seed_weights(cfg, views)?;
    }
    parts::insert(&mut state.buffer, views, false)
}

/// For runners that run SMC outside [`step`]: stores the particles of `views.smc_traj`
/// (terminal states) and `views.smc.{log_w, log_r}` in the buffer and counts the run.
///
/// # Errors
/// As [`store_batch`].
pub fn store_smc(state: &mut State, views: &mut Views<'_>) -> Result<(), Error> {
    state.smc_runs += 1;
    parts::insert(&mut state.buffer, views, true)
}

/// The optimiser part of an iteration, on the gradients in the views: per-group clipping,
/// the non-finite policy, then Adam with per-group learning rates and the step schedule.
fn optimise(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    mut info: Info,
) -> Result<Info, Error> {
    let lay = views.layout;
    let groups = cfg.groups(lay.policy_params, lay.flows.as_ref());
    let oi = cfg
        .optimiser()?
        .step(&groups, &mut views.model, &mut state.optim, state.iteration)?;
    info.skipped = oi.skipped;
    info.grad_norm = oi.reported_norm();
    state.iteration += 1;
    info.log_z = views.log_z();
    info.buffer_len = state.buffer.len;
    Ok(info)
}

/// The stored buffer states `[len, d]` (slot order) and their log-weights.
pub fn buffer_contents<'v>(state: &State, views: &'v Views<'_>) -> (&'v [f32], &'v [f32]) {
    let (len, d) = (state.buffer.len, views.layout.dim);
    (
        &views.buffer.states[..(len * d).min(views.buffer.states.len())],
        &views.buffer.log_w[..len.min(views.buffer.log_w.len())],
    )
}
