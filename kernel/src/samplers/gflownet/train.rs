//! The GFlowNet trainer over caller-owned arenas: on-policy sampling with ε-exploration,
//! backward trajectories from stored terminal objects (replay), batched scoring, TB / DB /
//! SubTB steps with the shared optimiser, and a prioritised replay buffer.
//!
//! Model: one MLP on the state features with `A + B + 1` outputs (forward logits,
//! backward logits, `log F(s)`; see [`policy`](super::policy)) and a learnt scalar `log Z`
//! stored after the network parameters. Hidden layers use ReLU (the teacher code uses
//! LeakyReLU, which `nn` does not provide). Optimiser (teachers A3, grid): Adam, policy
//! `lr = 1e-3`, `log Z` `lr = 1e-1`, global-norm clip `1.0` over the network gradient
//! ([`crate::optim::model`]: a non-finite gradient norm skips the update and
//! [`Info::skipped`] says so).
//!
//! The backward policy is uniform over parents (`P_B(s|s') = 1/#legal backward actions`),
//! or learnt (the backward-logit head) when [`Config::learn_pb`] is set. Backward
//! trajectories used for replay are always drawn with the uniform `P_B` and then scored
//! under the current model (any behaviour distribution is valid for these off-policy
//! losses).
//!
//! Replay (teachers A1.2 "with buffer"): every `replay_every`-th iteration (when the buffer
//! is non-empty) trains on `B` terminal objects drawn from the buffer by
//! [`Priority`] (reward-rank: PRT; importance weight: RSMC's IW buffer), re-expanded into
//! trajectories by uniform `P_B`; other iterations sample on-policy and insert their
//! terminal objects (stored as `f32` words of the state) with `log w = log R + Σ log P_B −
//! Σ log P_F` and `log R`.
//!
//! Shape: [`Config`] + [`Layout`] + [`Views`] + [`State`] + [`Info`] + [`init`] + [`step`].
//! [`Layout::new`] computes the two arena lengths (`f32`, `u32`) from the environment and
//! the configuration; [`Views::new`] carves the named buffers out of them on each call, so
//! an owner keeps plain buffers plus the small `Copy` [`State`]. Nothing allocates. The
//! parts live next to their buffers: the trajectory batch (`batch.rs`: [`sample_forward`],
//! [`load_backward`]), scoring and the gradient (`score.rs`: [`log_weights`]) and the
//! replay buffer (`replay.rs`).

use super::batch::Batch;
use super::env::{DiscreteEnv, MAX_ACTIONS};
use super::replay::{self, Replay};
use super::score::{self, Net, Scores};
use crate::arena::carve_arenas;
use crate::buffer::{Cursor, Priority};
use crate::error::{Error, check_len};
use crate::nn::{Activation, LastLayerInit, Mlp};
use crate::optim::model::{Group, Model, OptimInfo, OptimState, Optimiser};
use crate::rng::Rng;

pub(crate) use super::batch::copy_batch;
pub use super::batch::{load_backward, sample_forward};
pub(crate) use super::replay::{insert_scored, load_from_buffer};
pub use super::score::log_weights;
pub(crate) use super::score::loss_and_grad;

/// Largest batch (and SMC particle count): pre-drawn uniforms live on the stack.
pub const MAX_BATCH: usize = 1024;

/// Which balance loss trains the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LossKind {
    /// Trajectory balance.
    #[default]
    Tb,
    /// Detailed balance.
    Db,
    /// Sub-trajectory balance with weight `λ^{j−i}`.
    SubTb,
    /// TB for the policy and `log Z` plus `w·SubTB(λ)` for the state flows, with RSMC's
    /// stop-gradient routing ([`loss::tb_subtb`](super::loss::tb_subtb)); the loss of
    /// discrete RSMC, whose SMC twists are the learnt flows.
    TbSubTb,
}

/// Trainer settings (defaults: teachers A3, grid, with smaller networks for a CPU budget).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// The loss. Defaults to TB.
    pub loss: LossKind,
    /// Trajectories per iteration `B`. Defaults to `16` (teachers A3).
    pub batch: usize,
    /// Hidden width. Defaults to `64` (teachers: 256).
    pub hidden: usize,
    /// Hidden layers. Defaults to `2` (teachers: 2).
    pub layers: usize,
    /// Network learning rate. Defaults to `1e-3`.
    pub lr: f32,
    /// `log Z` learning rate. Defaults to `1e-1`.
    pub lr_log_z: f32,
    /// Global-norm clip of the network gradient. Defaults to `1.0`.
    pub clip: f32,
    /// ε of the on-policy behaviour policy. Defaults to `0` (teachers' "TB+ε": `0.01`).
    pub epsilon: f32,
    /// Learn the backward policy. Defaults to `false` (uniform `P_B`, as in every reference
    /// loop).
    pub learn_pb: bool,
    /// SubTB `λ`. Defaults to `0.9`.
    pub subtb_lambda: f32,
    /// Weight `w` of the SubTB term of [`LossKind::TbSubTb`]. Defaults to `1.0`
    /// (`subtb_weight`, RSMC).
    pub subtb_weight: f32,
    /// Hidden width of a separate state-flow network (`0`: `log F` is the policy network's
    /// last output). Defaults to `0`. RSMC uses a separate flow network
    /// (`share_embeddings: False`, `H_f = 64`), so that the SubTB gradient of the flows does
    /// not move the policy's features.
    pub flow_hidden: usize,
    /// Replay buffer capacity (`0` = no buffer). Defaults to `0`.
    pub buffer_capacity: usize,
    /// How the buffer is sampled. Defaults to reward rank with `k = 0.01` (PRT).
    pub buffer_priority: Priority,
    /// Every `replay_every`-th iteration trains on the buffer. Defaults to `2` (teachers
    /// A1.2: odd iterations from the buffer).
    pub replay_every: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            loss: LossKind::Tb,
            batch: 16,
            hidden: 64,
            layers: 2,
            lr: 1e-3,
            lr_log_z: 1e-1,
            clip: 1.0,
            epsilon: 0.0,
            learn_pb: false,
            subtb_lambda: 0.9,
            subtb_weight: 1.0,
            flow_hidden: 0,
            buffer_capacity: 0,
            buffer_priority: Priority::RewardRank { rank_weight: 0.01 },
            replay_every: 2,
        }
    }
}

impl Config {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(Error::InvalidConfig("batch must be in 1..=1024"));
        }
        if self.flow_hidden > 4096 {
            return Err(Error::InvalidConfig(
                "flow hidden width must be in 0..=4096",
            ));
        }
        if self.hidden == 0 || self.hidden > 4096 {
            return Err(Error::InvalidConfig("hidden width must be in 1..=4096"));
        }
        if self.layers == 0 || self.layers > 6 {
            return Err(Error::InvalidConfig("hidden layers must be in 1..=6"));
        }
        for (v, what) in [
            (self.lr, "learning rate must be finite and > 0"),
            (self.lr_log_z, "log Z learning rate must be finite and > 0"),
            (self.clip, "gradient clip must be finite and > 0"),
            (self.subtb_lambda, "SubTB lambda must be finite and > 0"),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::InvalidConfig(what));
            }
        }
        if !(self.subtb_weight.is_finite() && self.subtb_weight >= 0.0) {
            return Err(Error::InvalidConfig("SubTB weight must be finite and >= 0"));
        }
        if !(0.0..=1.0).contains(&self.epsilon) {
            return Err(Error::InvalidConfig("epsilon must be in [0, 1]"));
        }
        if self.replay_every < 2 && self.buffer_capacity > 0 {
            return Err(Error::InvalidConfig("replay_every must be at least 2"));
        }
        Ok(())
    }
}

/// Arena lengths, the network and the sizes of a trainer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// The policy network (and the flow head when there is no separate flow network).
    pub mlp: Mlp,
    /// The separate state-flow network, if [`Config::flow_hidden`] `> 0`.
    pub flow: Option<Mlp>,
    /// Parameters of the policy network (they come first).
    pub policy_params: usize,
    /// Network parameters (policy, then flow) plus one (`log Z`).
    pub n_params: usize,
    /// Maximal rows of a batch (`B · max_steps`).
    pub rows: usize,
    /// Outputs per state `A + B + 1`.
    pub out_width: usize,
    /// Length of the `f32` arena.
    pub f32_len: usize,
    /// Length of the `u32` arena.
    pub u32_len: usize,
    /// Trajectories per batch `B`.
    pub(super) batch: usize,
    /// Depth `T` (the environment's `max_steps`).
    pub(super) depth: usize,
    /// Words per state.
    pub(super) state_len: usize,
    /// Features per state.
    pub(super) feature_len: usize,
    /// Replay buffer capacity.
    pub(super) capacity: usize,
}

impl Layout {
    /// Sizes for `env` and `cfg`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad `cfg`; [`Error::CapacityExceeded`] if the
    /// environment has more than [`MAX_ACTIONS`] actions.
    pub fn new<E: DiscreteEnv + ?Sized>(env: &E, cfg: &Config) -> Result<Self, Error> {
        cfg.validate()?;
        if env.n_actions() > MAX_ACTIONS || env.n_back_actions() > MAX_ACTIONS {
            return Err(Error::CapacityExceeded {
                what: "environment actions",
                capacity: MAX_ACTIONS,
            });
        }
        let out_width = env.n_actions() + env.n_back_actions() + 1;
        let mlp = relu_mlp(env.feature_len(), cfg.hidden, cfg.layers, out_width)?;
        let flow = if cfg.flow_hidden > 0 {
            Some(relu_mlp(env.feature_len(), cfg.flow_hidden, cfg.layers, 1)?)
        } else {
            None
        };
        let n_params = mlp.param_count() + flow.map_or(0, |f| f.param_count()) + 1;
        let mut lay = Layout {
            mlp,
            flow,
            policy_params: mlp.param_count(),
            n_params,
            rows: cfg.batch * env.max_steps(),
            out_width,
            f32_len: 0,
            u32_len: 0,
            batch: cfg.batch,
            depth: env.max_steps(),
            state_len: env.state_len(),
            feature_len: env.feature_len(),
            capacity: cfg.buffer_capacity,
        };
        lay.f32_len = Model::arena_len(n_params)
            + Batch::f32_len(&lay)
            + Net::f32_len(&lay)
            + Scores::f32_len(&lay)
            + Replay::f32_len(&lay);
        lay.u32_len = Batch::u32_len(&lay) + Replay::u32_len(&lay);
        Ok(lay)
    }

    /// The parameters (network, then `log Z`) inside an `f32` arena of this layout: its
    /// first [`Layout::n_params`] values (empty if the arena is shorter). For owners that
    /// read the model without carving [`Views`] (checksums, checkpoints).
    pub fn params<'a>(&self, f32_arena: &'a [f32]) -> &'a [f32] {
        f32_arena.get(..self.n_params).unwrap_or(&[])
    }
}

/// `[input, hidden × layers, output]` with ReLU.
fn relu_mlp(input: usize, hidden: usize, layers: usize, output: usize) -> Result<Mlp, Error> {
    let mut widths = [hidden; 8];
    widths[0] = input;
    widths[layers + 1] = output;
    Mlp::new(&widths[..layers + 2], Activation::Relu)
}

/// The trainer's buffers, carved from its two arenas on each call ([`Views::new`]).
#[derive(Debug)]
pub struct Views<'a> {
    pub(super) lay: Layout,
    /// Parameters (policy network, flow network, `log Z`), gradients and Adam moments.
    pub(super) model: Model<'a>,
    /// The current batch of trajectories.
    pub(super) batch: Batch<'a>,
    /// Network inputs, caches, outputs and scratch.
    pub(super) net: Net<'a>,
    /// Per-transition scores and per-trajectory log-weights.
    pub(super) scores: Scores<'a>,
    /// The replay buffer's storage and draws.
    pub(super) replay: Replay<'a>,
}

impl<'a> Views<'a> {
    /// Carves the arenas (lengths from [`Layout::new`]); their contents are kept.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for arenas of the wrong length.
    pub fn new(
        lay: &Layout,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        let lens = [lay.f32_len, lay.u32_len];
        let (mut f, mut u) = carve_arenas(["f32 arena", "u32 arena"], lens, f32_arena, u32_arena)?;
        Ok(Views {
            lay: *lay,
            model: Model::carve(lay.n_params, &mut f)?,
            batch: Batch::carve(lay, &mut f, &mut u)?,
            net: Net::carve(lay, &mut f)?,
            scores: Scores::carve(lay, &mut f)?,
            replay: Replay::carve(lay, &mut f, &mut u)?,
        })
    }

    /// The layout the views were carved with.
    pub fn layout(&self) -> &Layout {
        &self.lay
    }
    /// The buffers that carry over from one step to the next, in order: the parameters
    /// and Adam moments ([`Model::carried`]) and the replay buffer's states, `log w` and
    /// `log R`. The batch, the network workspace and the scores are rewritten by every
    /// step, so these, the [`State`] and the random stream resume a run exactly.
    pub fn carried(&mut self, f: &mut dyn FnMut(crate::arena::Carried<'_>)) {
        self.model.carried(f);
        self.replay.carried(f);
    }
    /// All parameters (network, then `log Z`).
    pub fn params(&self) -> &[f32] {
        self.model.params
    }
    /// Mutable parameters (for checkpoints and gradient checks).
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.model.params
    }
    /// The gradient of the last loss evaluation (network, then `log Z`).
    pub fn gradient(&self) -> &[f32] {
        self.model.grads
    }
    /// The learnt `log Z`.
    pub fn log_z(&self) -> f32 {
        self.model.params.last().copied().unwrap_or(0.0)
    }
    /// Terminal (done) state of trajectory `b` of the current batch (empty if `b ≥ B`).
    pub fn terminal(&self, b: usize) -> &[u32] {
        self.batch.terminal(b)
    }
    /// `log R` of the trajectories of the current batch.
    pub fn log_rewards(&self) -> &[f32] {
        self.batch.log_r
    }
}

/// Checks that `v` was carved for `env` and `cfg` (the public entry points call it once;
/// the parts they call rely on it).
///
/// # Errors
/// As [`Layout::new`]; [`Error::InvalidConfig`] if the layouts differ.
pub(crate) fn check<E: DiscreteEnv + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &Views<'_>,
) -> Result<(), Error> {
    if Layout::new(env, cfg)? != v.lay {
        return Err(Error::InvalidConfig(
            "the views were carved for another environment or configuration",
        ));
    }
    Ok(())
}

/// What the trainer carries between steps (the arenas hold the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// The optimiser's step counter and skipped steps.
    pub optim: OptimState,
    /// Where the replay buffer stands (empty without a buffer).
    pub cursor: Cursor,
    /// Iterations taken.
    pub iteration: u32,
}

/// What one training step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Info {
    /// Mean loss over the batch.
    pub loss: f32,
    /// `log Z` after the step.
    pub log_z: f32,
    /// Whether the batch came from the replay buffer.
    pub from_buffer: bool,
    /// Mean `log R` of the batch.
    pub mean_log_r: f32,
    /// Whether the optimiser skipped the update (a non-finite gradient norm).
    pub skipped: bool,
}

/// Zeroes the arenas (lengths from [`Layout::new`]) and initialises the network (PyTorch
/// default, last layer zero: uniform policies, `log F = 0`) with `log Z = 0`.
///
/// # Errors
/// As [`Layout::new`]; [`Error::ShapeMismatch`] for arenas of the wrong length (nothing is
/// written then).
pub fn init<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    f32_arena: &mut [f32],
    u32_arena: &mut [u32],
    rng: &mut R,
) -> Result<State, Error> {
    let lay = Layout::new(env, cfg)?;
    check_len("f32 arena", lay.f32_len, f32_arena.len())?;
    check_len("u32 arena", lay.u32_len, u32_arena.len())?;
    f32_arena.fill(0.0);
    u32_arena.fill(0);
    let v = Views::new(&lay, f32_arena, u32_arena)?;
    let (npp, np) = (lay.policy_params, lay.n_params);
    lay.mlp
        .init(&mut v.model.params[..npp], LastLayerInit::Zero, rng)?;
    if let Some(fm) = lay.flow {
        fm.init(&mut v.model.params[npp..np - 1], LastLayerInit::Zero, rng)?;
    }
    Ok(State::default())
}

/// One training iteration: a buffer batch every `replay_every`-th iteration when the
/// buffer is non-empty, otherwise an on-policy batch (ε-exploration) whose terminal states
/// are inserted into the buffer; then one loss/gradient/optimiser step.
///
/// # Errors
/// [`Error::InvalidConfig`] if `v` was carved for another environment or configuration;
/// any error of the parts.
pub fn step<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    state: &mut State,
    rng: &mut R,
) -> Result<Info, Error> {
    check(env, cfg, v)?;
    let replay = cfg.buffer_capacity > 0
        && state.iteration % cfg.replay_every == cfg.replay_every - 1
        && replay::load_from_buffer(env, cfg, v, state.cursor, rng)?;
    if !replay {
        super::batch::sample(env, cfg, v, cfg.epsilon, rng)?;
        if cfg.buffer_capacity > 0 {
            replay::insert_scored(env, cfg, v, &mut state.cursor)?;
        }
    }
    let loss = score::loss_and_grad(env, cfg, v, None, None)?;
    let opt = optimise(cfg, v, state)?;
    state.iteration = state.iteration.saturating_add(1);
    let log_r = &*v.batch.log_r;
    let mean_log_r = log_r.iter().map(|&x| x as f64).sum::<f64>() / cfg.batch as f64;
    Ok(Info {
        loss,
        log_z: v.log_z(),
        from_buffer: replay,
        mean_log_r: mean_log_r as f32,
        skipped: opt.skipped,
    })
}

/// One optimiser step on the gradient of the last [`loss_and_grad`]: the network at `lr`
/// with its global norm clipped at `clip`, `log Z` at `lr_log_z` unclipped (teachers A3).
///
/// # Errors
/// Optimiser errors.
pub(crate) fn optimise(
    cfg: &Config,
    v: &mut Views<'_>,
    state: &mut State,
) -> Result<OptimInfo, Error> {
    let np = v.lay.n_params;
    let groups = [
        Group::new(np - 1, cfg.lr, Some(cfg.clip)),
        Group::new(1, cfg.lr_log_z, None),
    ];
    Optimiser::default().step(&groups, &mut v.model, &mut state.optim, state.iteration)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;
    use crate::samplers::gflownet::exact;
    use crate::samplers::gflownet::grid::{GridReward, Hypergrid};
    use crate::samplers::gflownet::sequence::{SequenceConfig, SequenceEnv};
    use std::vec;
    use std::vec::Vec;

    /// Zeroed arenas for `env` and `cfg`.
    pub(crate) fn arenas<E: DiscreteEnv>(env: &E, cfg: &Config) -> (Vec<f32>, Vec<u32>) {
        let l = Layout::new(env, cfg).unwrap();
        (vec![0.0; l.f32_len], vec![0; l.u32_len])
    }

    /// Short end-to-end run: TB on a 16-string sequence target reaches the exact log Z and
    /// a small TV distance.
    fn train_small(loss: LossKind, buffer: usize) -> (f64, f64) {
        let env = SequenceEnv::new(SequenceConfig {
            len: 4,
            alphabet: 2,
            modes: 2,
            temperature: 1.0,
            ..Default::default()
        })
        .unwrap();
        let cfg = Config {
            loss,
            batch: 32,
            hidden: 32,
            buffer_capacity: buffer,
            ..Config::default()
        };
        let (mut fa, mut ua) = arenas(&env, &cfg);
        let mut rng = seeded(11);
        let mut st = init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
        let lay = Layout::new(&env, &cfg).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        for _ in 0..400 {
            let i = step(&env, &cfg, &mut v, &mut st, &mut rng).unwrap();
            assert!(!i.skipped);
        }
        assert_eq!(st.iteration, 400);
        let mut p = vec![0.0f32; env.n_terminal()];
        let lz = exact::distribution(&env, &mut p).unwrap();
        let mut counts = vec![0u32; env.n_terminal()];
        for _ in 0..100 {
            sample_forward(&env, &cfg, &mut v, 0.0, &mut rng).unwrap();
            for b in 0..32 {
                counts[env.terminal_index(v.terminal(b))] += 1;
            }
        }
        let mut q = vec![0.0f32; env.n_terminal()];
        crate::metrics::histogram::normalize_counts(&counts, &mut q).unwrap();
        let tv = crate::metrics::histogram::total_variation(&p, &q).unwrap();
        (tv, (v.log_z() as f64 - lz).abs())
    }

    #[test]
    fn short_training_runs_reach_the_exact_target() {
        for (loss, buf) in [
            (LossKind::Tb, 0),
            (LossKind::Db, 0),
            (LossKind::SubTb, 0),
            (LossKind::Tb, 256),
        ] {
            let (tv, dz) = train_small(loss, buf);
            assert!(tv < 0.1, "{loss:?} buffer {buf}: tv {tv}");
            if loss == LossKind::Tb {
                assert!(dz < 0.15, "{loss:?}: |log Z error| {dz}");
            }
        }
    }

    #[test]
    fn invalid_configs_are_errors() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        for cfg in [
            Config {
                batch: 0,
                ..Default::default()
            },
            Config {
                lr: -1.0,
                ..Default::default()
            },
            Config {
                epsilon: 2.0,
                ..Default::default()
            },
            Config {
                subtb_lambda: f32::NAN,
                ..Default::default()
            },
            Config {
                buffer_capacity: 10,
                replay_every: 1,
                ..Default::default()
            },
        ] {
            assert!(Layout::new(&env, &cfg).is_err());
        }
        let cfg = Config::default();
        let l = Layout::new(&env, &cfg).unwrap();
        let (mut fa, mut ua) = (vec![1.0; l.f32_len - 1], vec![0; l.u32_len]);
        assert!(init(&env, &cfg, &mut fa, &mut ua, &mut seeded(0)).is_err());
        assert!(fa.iter().all(|&x| x == 1.0), "nothing written on error");
        assert!(Views::new(&l, &mut fa, &mut ua).is_err());
    }

    /// Views carved for one configuration or environment are refused by another's step.
    #[test]
    fn views_of_another_layout_are_refused() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let cfg = Config {
            batch: 4,
            hidden: 8,
            ..Config::default()
        };
        let (mut fa, mut ua) = arenas(&env, &cfg);
        let mut rng = seeded(2);
        let mut st = init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
        let lay = Layout::new(&env, &cfg).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        let other = Config { batch: 5, ..cfg };
        assert!(matches!(
            step(&env, &other, &mut v, &mut st, &mut rng),
            Err(Error::InvalidConfig(_))
        ));
        let bigger = Hypergrid::new(2, 5, GridReward::Standard).unwrap();
        assert!(sample_forward(&bigger, &cfg, &mut v, 0.0, &mut rng).is_err());
        // the learning rate does not change the memory: accepted
        let lr = Config { lr: 0.5, ..cfg };
        assert!(step(&env, &lr, &mut v, &mut st, &mut rng).is_ok());
        let p = v.params().to_vec();
        assert_eq!(lay.params(&fa), &p[..]);
    }
}
