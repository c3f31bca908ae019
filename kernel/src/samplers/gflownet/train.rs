//! The GFlowNet trainer over caller-owned arenas: on-policy sampling with ε-exploration,
//! backward trajectories from stored terminal objects (replay), batched scoring, TB / DB /
//! SubTB steps with Adam and global-norm clipping, and a prioritised replay buffer.
//!
//! Model: one MLP on the state features with `A + B + 1` outputs (forward logits,
//! backward logits, `log F(s)`; see [`policy`](super::policy)) and a learnt scalar `log Z`
//! stored after the network parameters. Hidden layers use ReLU (the teacher code uses
//! LeakyReLU, which `nn` does not provide). Optimiser (teachers A3, grid): Adam, policy
//! `lr = 1e-3`, `log Z` `lr = 1e-1`, global-norm clip `1.0` over the network gradient.
//!
//! The backward policy is uniform over parents (`P_B(s|s') = 1/#legal backward actions`),
//! or learnt (the backward-logit head) when [`TrainConfig::learn_pb`] is set. Backward
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
//! Memory: [`Layout::new`] computes the two arena lengths (`f32`, `u32`) from the
//! environment and the configuration; [`Trainer::new`] carves them. Nothing allocates.

use super::env::{DiscreteEnv, MAX_ACTIONS, count_legal};
use super::loss;
use super::policy::{masked_log_softmax, masked_log_softmax_backward, sample_action};
use crate::buffer::{Cursor, Priority, ReplayBuffer};
use crate::error::{Error, check_len};
use crate::math;
use crate::nn::{Activation, LastLayerInit, Mlp};
use crate::optim::adam::{self, AdamConfig, AdamState, ParamGroup};
use crate::optim::clip::clip_global_norm;
use crate::rng::{Rng, uniform_f64};

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
    /// stop-gradient routing ([`loss::tb_subtb`]); the loss of discrete RSMC, whose SMC
    /// twists are the learnt flows.
    TbSubTb,
}

/// Trainer settings (defaults: teachers A3, grid, with smaller networks for a CPU budget).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
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

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
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

impl TrainConfig {
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

/// Arena lengths and the network of a trainer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// The policy network (and the flow head when there is no separate flow network).
    pub mlp: Mlp,
    /// The separate state-flow network, if [`TrainConfig::flow_hidden`] `> 0`.
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
    parts_f: [usize; F_NAMES],
    parts_u: [usize; 8],
}

const F_NAMES: usize = 17;

impl Layout {
    /// Sizes for `env` and `cfg`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad `cfg`; [`Error::CapacityExceeded`] if the
    /// environment has more than [`MAX_ACTIONS`] actions.
    pub fn new<E: DiscreteEnv + ?Sized>(env: &E, cfg: &TrainConfig) -> Result<Self, Error> {
        cfg.validate()?;
        if env.n_actions() > MAX_ACTIONS || env.n_back_actions() > MAX_ACTIONS {
            return Err(Error::CapacityExceeded {
                what: "environment actions",
                capacity: MAX_ACTIONS,
            });
        }
        let out_width = env.n_actions() + env.n_back_actions() + 1;
        let mut widths = [0usize; 8];
        widths[0] = env.feature_len();
        for w in widths[1..=cfg.layers].iter_mut() {
            *w = cfg.hidden;
        }
        widths[cfg.layers + 1] = out_width;
        let mlp = Mlp::new(&widths[..cfg.layers + 2], Activation::Relu)?;
        let flow = if cfg.flow_hidden > 0 {
            let mut fw = [0usize; 8];
            fw[0] = env.feature_len();
            for w in fw[1..=cfg.layers].iter_mut() {
                *w = cfg.flow_hidden;
            }
            fw[cfg.layers + 1] = 1;
            Some(Mlp::new(&fw[..cfg.layers + 2], Activation::Relu)?)
        } else {
            None
        };
        let b = cfg.batch;
        let t = env.max_steps();
        let rows = b * t;
        let nfp = flow.map_or(0, |f| f.param_count());
        let np = mlp.param_count() + nfp + 1;
        let flow_len = flow.map_or(0, |f| f.cache_len(rows) + 2 * rows);
        let scratch = mlp
            .scratch_len(rows)
            .max(flow.map_or(0, |f| f.scratch_len(rows)));
        let cap = cfg.buffer_capacity;
        let s = env.state_len();
        let parts_f = [
            np,                       // 0 params
            np,                       // 1 grads
            np,                       // 2 adam m
            np,                       // 3 adam v
            rows * env.feature_len(), // 4 features
            mlp.cache_len(rows),      // 5 cache
            rows * out_width,         // 6 outputs
            rows * out_width,         // 7 dout
            scratch,                  // 8 scratch (policy and flow networks)
            b * t,                    // 9 lpf
            b * t,                    // 10 lpb
            b * (t + 1),              // 11 lf
            b,                        // 12 log_r
            4 * (t + 1),              // 13 per-trajectory loss scratch
            cap * s + 2 * cap,        // 14 buffer states, log w, log R
            cap.max(b),               // 15 buffer weights scratch
            flow_len,                 // 16 flow network: cache, outputs, dout
        ];
        let parts_u = [
            b * (t + 1) * s, // 0 states
            b * t,           // 1 actions
            b * t,           // 2 backward actions
            b,               // 3 lengths
            cap,             // 4 buffer order scratch
            b,               // 5 buffer draws
            0,
            0,
        ];
        Ok(Layout {
            mlp,
            flow,
            policy_params: mlp.param_count(),
            n_params: np,
            rows,
            out_width,
            f32_len: parts_f.iter().sum(),
            u32_len: parts_u.iter().sum(),
            parts_f,
            parts_u,
        })
    }
}

/// Where [`Trainer::load_backward_from`] reads the terminal states.
#[derive(Clone, Copy)]
enum Terminals<'t> {
    /// `B × state_len` words from the caller.
    Slice(&'t [u32]),
    /// The buffer slots in `draws`.
    Buffer,
}

/// What one training step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainInfo {
    /// Mean loss over the batch.
    pub loss: f32,
    /// `log Z` after the step.
    pub log_z: f32,
    /// Whether the batch came from the replay buffer.
    pub from_buffer: bool,
    /// Mean `log R` of the batch.
    pub mean_log_r: f32,
}

/// The GFlowNet trainer (see the [module docs](self)).
#[derive(Debug)]
pub struct Trainer<'a, E: DiscreteEnv> {
    pub(super) env: &'a E,
    pub(super) cfg: TrainConfig,
    pub(super) lay: Layout,
    pub(super) f: [&'a mut [f32]; F_NAMES],
    pub(super) states: &'a mut [u32],
    pub(super) actions: &'a mut [u32],
    pub(super) back: &'a mut [u32],
    pub(super) lens: &'a mut [u32],
    order: &'a mut [u32],
    draws: &'a mut [u32],
    adam: AdamState,
    cursor: Cursor,
    iteration: u32,
}

fn carve<'a, T, const N: usize>(mut arena: &'a mut [T], lens: &[usize; N]) -> [&'a mut [T]; N] {
    core::array::from_fn(|i| {
        let (a, b) = core::mem::take(&mut arena).split_at_mut(lens[i]);
        arena = b;
        a
    })
}

impl<'a, E: DiscreteEnv> Trainer<'a, E> {
    /// A trainer over the arenas (lengths from [`Layout::new`]), with the network
    /// initialised (PyTorch default, last layer zero: uniform policies, `log F = 0`) and
    /// `log Z = 0`.
    ///
    /// # Errors
    /// As [`Layout::new`]; [`Error::ShapeMismatch`] for arenas of the wrong length.
    pub fn new<R: Rng + ?Sized>(
        env: &'a E,
        cfg: TrainConfig,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
        rng: &mut R,
    ) -> Result<Self, Error> {
        let lay = Layout::new(env, &cfg)?;
        check_len("f32 arena", lay.f32_len, f32_arena.len())?;
        check_len("u32 arena", lay.u32_len, u32_arena.len())?;
        f32_arena.fill(0.0);
        u32_arena.fill(0);
        let f = carve(f32_arena, &lay.parts_f);
        let [states, actions, back, lens, order, draws, _, _] = carve(u32_arena, &lay.parts_u);
        let t = Trainer {
            env,
            cfg,
            lay,
            f,
            states,
            actions,
            back,
            lens,
            order,
            draws,
            adam: AdamState::default(),
            cursor: Cursor::default(),
            iteration: 0,
        };
        let npp = t.lay.policy_params;
        let np = t.lay.n_params;
        t.lay
            .mlp
            .init(&mut t.f[0][..npp], LastLayerInit::Zero, rng)?;
        if let Some(fm) = t.lay.flow {
            fm.init(&mut t.f[0][npp..np - 1], LastLayerInit::Zero, rng)?;
        }
        Ok(t)
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }
    /// The environment.
    pub fn env(&self) -> &E {
        self.env
    }
    /// All parameters (network, then `log Z`).
    pub fn params(&self) -> &[f32] {
        &self.f[0][..]
    }
    /// Mutable parameters (for checkpoints and gradient checks).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.f[0][..]
    }
    /// The gradient of the last [`Trainer::loss_and_grad`] (network, then `log Z`).
    pub fn gradient(&self) -> &[f32] {
        &self.f[1][..]
    }
    /// The learnt `log Z`.
    pub fn log_z(&self) -> f32 {
        self.f[0][self.lay.n_params - 1]
    }
    /// Iterations taken.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// Counts one iteration taken by an outer loop (discrete RSMC) that drives the
    /// trainer's parts itself.
    pub(super) fn count_iteration(&mut self) {
        self.iteration = self.iteration.saturating_add(1);
    }
    /// Entries in the replay buffer.
    pub fn buffer_len(&self) -> usize {
        self.cursor.len
    }
    /// Number of trajectories in the current batch.
    pub fn batch(&self) -> usize {
        self.cfg.batch
    }
    /// Terminal (done) state of trajectory `b` of the current batch.
    pub fn terminal(&self, b: usize) -> &[u32] {
        let s = self.env.state_len();
        let t = self.env.max_steps();
        let n = self.lens.get(b).map_or(0, |&n| n as usize);
        let o = (b * (t + 1) + n) * s;
        self.states.get(o..o + s).unwrap_or(&[])
    }
    /// `log R` of the trajectories of the current batch.
    pub fn log_rewards(&self) -> &[f32] {
        &self.f[12][..]
    }

    /// Copies the current batch of `other` (states, actions, lengths and `log R`) into this
    /// trainer, so that two models can be trained on the same trajectories (the adaptive
    /// teacher trains on the student's batch, Kim et al. 2025, teachers A1.1).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the two trainers differ in batch size or environment
    /// shape.
    pub fn load_batch_from(&mut self, other: &Trainer<'_, E>) -> Result<(), Error> {
        check_len("batch", self.cfg.batch, other.cfg.batch)?;
        check_len("state words", self.states.len(), other.states.len())?;
        check_len("actions", self.actions.len(), other.actions.len())?;
        self.states.copy_from_slice(other.states);
        self.actions.copy_from_slice(other.actions);
        self.back.copy_from_slice(other.back);
        self.lens.copy_from_slice(other.lens);
        self.f[12].copy_from_slice(other.f[12]);
        Ok(())
    }

    pub(super) fn state_at(&self, b: usize, t: usize) -> &[u32] {
        let s = self.env.state_len();
        let o = (b * (self.env.max_steps() + 1) + t) * s;
        &self.states[o..o + s]
    }

    /// Predicts the `A + B + 1` outputs of the states `rows` (given by `(b, t)`), into the
    /// outputs arena region (row-major), without a cache.
    pub(super) fn predict_current(&mut self, b_count: usize, t: usize) -> Result<(), Error> {
        let fl = self.env.feature_len();
        let s = self.env.state_len();
        let tt = self.env.max_steps();
        for b in 0..b_count {
            let o = (b * (tt + 1) + t) * s;
            self.env
                .features(&self.states[o..o + s], &mut self.f[4][b * fl..(b + 1) * fl]);
        }
        let (npp, np) = (self.lay.policy_params, self.lay.n_params);
        let ow = self.lay.out_width;
        let [p, _, _, _, feats, _, out, _, scratch, .., fbuf] = &mut self.f;
        self.lay.mlp.predict(
            &p[..npp],
            &feats[..b_count * fl],
            b_count,
            scratch,
            &mut out[..b_count * ow],
        )?;
        if let Some(fm) = self.lay.flow {
            let fout = &mut fbuf[fm.cache_len(self.lay.rows)..][..b_count];
            fm.predict(
                &p[npp..np - 1],
                &feats[..b_count * fl],
                b_count,
                scratch,
                fout,
            )?;
            for (row, &v) in out.chunks_exact_mut(ow).zip(fout.iter()) {
                row[ow - 1] = v;
            }
        }
        Ok(())
    }

    /// Samples a batch of `B` trajectories from the current forward policy mixed with
    /// ε-uniform exploration (`eps`), filling the batch storage.
    ///
    /// # Errors
    /// Propagates network and policy errors (non-finite logits).
    pub fn sample_forward<R: Rng + ?Sized>(&mut self, eps: f32, rng: &mut R) -> Result<(), Error> {
        let (bn, s, tt) = (self.cfg.batch, self.env.state_len(), self.env.max_steps());
        let na = self.env.n_actions();
        let ow = self.lay.out_width;
        for b in 0..bn {
            let o = b * (tt + 1) * s;
            self.env.reset(&mut self.states[o..o + s]);
            self.lens[b] = 0;
        }
        let mut mask = [false; MAX_ACTIONS];
        let mut logp = [0.0f32; MAX_ACTIONS];
        for t in 0..tt {
            self.predict_current(bn, t)?;
            let mut active = 0;
            for b in 0..bn {
                let o = (b * (tt + 1) + t) * s;
                let (cur, next) = self.states[o..o + 2 * s].split_at_mut(s);
                next.copy_from_slice(cur);
                if self.env.is_done(cur) {
                    continue;
                }
                active += 1;
                self.env.forward_mask(cur, &mut mask[..na]);
                masked_log_softmax(
                    &self.f[6][b * ow..b * ow + na],
                    &mask[..na],
                    &mut logp[..na],
                )?;
                let a = sample_action(
                    &logp[..na],
                    &mask[..na],
                    eps,
                    uniform_f64(rng),
                    uniform_f64(rng),
                )?;
                self.env.step(next, a);
                self.actions[b * tt + t] = a as u32;
                self.back[b * tt + t] = self.env.back_action_of(cur, a) as u32;
                self.lens[b] = (t + 1) as u32;
            }
            if active == 0 {
                break;
            }
        }
        self.finish_batch()
    }

    pub(super) fn finish_batch(&mut self) -> Result<(), Error> {
        for b in 0..self.cfg.batch {
            let n = self.lens[b] as usize;
            let lr = self.env.log_reward(self.state_at(b, n));
            self.f[12][b] = lr;
        }
        Ok(())
    }

    /// Fills the batch with backward trajectories from the given done terminal states
    /// (`B × state_len` words), drawn with the uniform `P_B`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `terminals` is not `B · state_len` long;
    /// [`Error::InvalidConfig`] if a state is not done or a backward walk exceeds
    /// `max_steps`.
    pub fn load_backward<R: Rng + ?Sized>(
        &mut self,
        terminals: &[u32],
        rng: &mut R,
    ) -> Result<(), Error> {
        let (bn, s) = (self.cfg.batch, self.env.state_len());
        check_len("terminal states", bn * s, terminals.len())?;
        self.load_backward_from(Terminals::Slice(terminals), rng)
    }

    /// [`Trainer::load_backward`] reading the terminal states either from a caller slice or
    /// (for replay) directly from the buffer slots drawn into `draws`, so that no batch-sized
    /// copy lives on the stack.
    fn load_backward_from<R: Rng + ?Sized>(
        &mut self,
        src: Terminals<'_>,
        rng: &mut R,
    ) -> Result<(), Error> {
        let (bn, s, tt) = (self.cfg.batch, self.env.state_len(), self.env.max_steps());
        let nb = self.env.n_back_actions();
        let mut mask = [false; MAX_ACTIONS];
        let mut tmp = [0u32; super::env::MAX_STATE_LEN];
        let mut rev = [0u32; super::env::MAX_STATE_LEN];
        for b in 0..bn {
            let cur = &mut tmp[..s];
            match src {
                Terminals::Slice(t) => cur.copy_from_slice(&t[b * s..(b + 1) * s]),
                Terminals::Buffer => {
                    let slot = self.draws[b] as usize;
                    let words = self.f[14]
                        .get(slot * s..(slot + 1) * s)
                        .ok_or(Error::InvalidConfig("replay slot out of range"))?;
                    for (d, &v) in cur.iter_mut().zip(words) {
                        *d = v as u32;
                    }
                }
            }
            if !self.env.is_done(cur) {
                return Err(Error::InvalidConfig("replayed state is not terminal"));
            }
            // walk backwards into the slots from the end, then shift to start at 0
            let mut k = 0usize; // transitions so far
            let base = b * (tt + 1) * s;
            // store reversed: slot k holds the state after k backward steps
            self.states[base..base + s].copy_from_slice(cur);
            loop {
                self.env.backward_mask(cur, &mut mask[..nb]);
                let legal = count_legal(&mask[..nb]);
                if legal == 0 {
                    break;
                }
                if k >= tt {
                    return Err(Error::InvalidConfig("backward walk longer than max_steps"));
                }
                let pick = ((uniform_f64(rng) * legal as f64) as usize).min(legal - 1);
                let bact = (0..nb).filter(|&i| mask[i]).nth(pick).unwrap_or(0);
                let a = self.env.forward_action_of(cur, bact);
                self.env.step_back(cur, bact);
                k += 1;
                // transition index in forward order is assigned after the walk: store
                // reversed for now
                self.actions[b * tt + k - 1] = a as u32;
                self.back[b * tt + k - 1] = bact as u32;
                let o = base + k * s;
                self.states[o..o + s].copy_from_slice(cur);
            }
            // reverse states 0..=k and actions 0..k in place
            for i in 0..k.div_ceil(2) {
                let j = k - i;
                let (oi, oj) = (base + i * s, base + j * s);
                rev[..s].copy_from_slice(&self.states[oi..oi + s]);
                self.states.copy_within(oj..oj + s, oi);
                self.states[oj..oj + s].copy_from_slice(&rev[..s]);
            }
            self.actions[b * tt..b * tt + k].reverse();
            self.back[b * tt..b * tt + k].reverse();
            self.lens[b] = k as u32;
        }
        self.finish_batch()
    }

    /// Scores the current batch under the current model: fills `log P_F`, `log P_B` and
    /// `log F` per transition (with `log F(s₀) = log Z`, `log F(x) = log R(x)`), keeping the
    /// network cache for [`Trainer::backward`]. Returns the number of rows evaluated.
    fn score(&mut self) -> Result<usize, Error> {
        let (bn, s, tt) = (self.cfg.batch, self.env.state_len(), self.env.max_steps());
        let (na, nb, fl, ow) = (
            self.env.n_actions(),
            self.env.n_back_actions(),
            self.env.feature_len(),
            self.lay.out_width,
        );
        // rows: the non-terminal states s_0..s_{n-1} of every trajectory, packed
        let mut rows = 0;
        for b in 0..bn {
            let n = self.lens[b] as usize;
            for t in 0..n {
                let o = (b * (tt + 1) + t) * s;
                self.env.features(
                    &self.states[o..o + s],
                    &mut self.f[4][(rows + t) * fl..(rows + t + 1) * fl],
                );
            }
            rows += n;
        }
        let (npp, np) = (self.lay.policy_params, self.lay.n_params);
        {
            let [p, _, _, _, feats, cache, out, .., fbuf] = &mut self.f;
            self.lay.mlp.forward(
                &p[..npp],
                &feats[..rows * fl],
                rows,
                cache,
                &mut out[..rows * ow],
            )?;
            if let Some(fm) = self.lay.flow {
                let (fcache, rest) = fbuf.split_at_mut(fm.cache_len(self.lay.rows));
                let fout = &mut rest[..rows];
                fm.forward(
                    &p[npp..np - 1],
                    &feats[..rows * fl],
                    rows,
                    &mut fcache[..fm.cache_len(rows)],
                    fout,
                )?;
                for (row, &v) in out.chunks_exact_mut(ow).zip(fout.iter()) {
                    row[ow - 1] = v;
                }
            }
        }
        let log_z = self.log_z();
        let mut mask = [false; MAX_ACTIONS];
        let mut logp = [0.0f32; MAX_ACTIONS];
        let mut row = 0;
        for b in 0..bn {
            let n = self.lens[b] as usize;
            for t in 0..n {
                let r = row + t;
                let sa = self.state_at(b, t);
                self.env.forward_mask(sa, &mut mask[..na]);
                masked_log_softmax(
                    &self.f[6][r * ow..r * ow + na],
                    &mask[..na],
                    &mut logp[..na],
                )?;
                let a = self.actions[b * tt + t] as usize;
                let lf_out = self.f[6][r * ow + na + nb];
                self.f[9][b * tt + t] = logp[a.min(na - 1)];
                self.f[11][b * (tt + 1) + t] = if t == 0 { log_z } else { lf_out };
                // P_B of this transition is evaluated at s_{t+1}
                let lpb = if t + 1 == n {
                    0.0
                } else {
                    let sb = self.state_at(b, t + 1);
                    self.env.backward_mask(sb, &mut mask[..nb]);
                    if self.cfg.learn_pb {
                        let out2 = &self.f[6][(r + 1) * ow..(r + 2) * ow];
                        masked_log_softmax(&out2[na..na + nb], &mask[..nb], &mut logp[..nb])?;
                        logp[(self.back[b * tt + t] as usize).min(nb - 1)]
                    } else {
                        -math::ln(count_legal(&mask[..nb]).max(1) as f32)
                    }
                };
                self.f[10][b * tt + t] = lpb;
            }
            self.f[11][b * (tt + 1) + n] = self.f[12][b];
            row += n;
        }
        Ok(rows)
    }

    /// Scores the current batch and writes each trajectory's log importance weight
    /// `log w = log R(x) + Σ log P_B − Σ log P_F` into `out` (`B` values): over forward
    /// trajectories its mean is the ELBO and its log-mean-exp the IS estimate of `log Z`;
    /// over backward trajectories from exact samples its mean is the EUBO.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless `out.len() == B`; network errors.
    pub fn log_weights(&mut self, out: &mut [f32]) -> Result<(), Error> {
        check_len("log weights", self.cfg.batch, out.len())?;
        self.score()?;
        let tt = self.env.max_steps();
        for (b, o) in out.iter_mut().enumerate() {
            let n = self.lens[b] as usize;
            let mut w = self.f[12][b] as f64;
            for t in 0..n {
                w += self.f[10][b * tt + t] as f64 - self.f[9][b * tt + t] as f64;
            }
            *o = w as f32;
        }
        Ok(())
    }

    /// Loss and gradient of the current batch, with optional per-trajectory reward
    /// override `log_r` (the teacher's `log R_T`) and optional per-trajectory TB residuals
    /// out (`deltas`, `B` values, [`loss::tb`]'s `δ`, filled whatever the loss). Zeroes the
    /// gradient, then accumulates `∂(mean loss)/∂θ` and `∂/∂log Z`.
    ///
    /// # Errors
    /// Shape errors for `log_r`/`deltas` not `B` long; loss and network errors.
    pub fn loss_and_grad(
        &mut self,
        log_r: Option<&[f32]>,
        mut deltas: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let (bn, tt) = (self.cfg.batch, self.env.max_steps());
        if let Some(l) = log_r {
            check_len("reward override", bn, l.len())?;
            self.f[12].copy_from_slice(l);
        }
        if let Some(d) = deltas.as_deref() {
            check_len("deltas", bn, d.len())?;
        }
        let rows = self.score()?;
        let rows_max = self.lay.rows;
        let (na, nb, ow) = (
            self.env.n_actions(),
            self.env.n_back_actions(),
            self.lay.out_width,
        );
        self.f[1].fill(0.0);
        self.f[7][..rows * ow].fill(0.0);
        let inv_b = 1.0 / bn as f32;
        let mut total = 0.0f64;
        let mut mask = [false; MAX_ACTIONS];
        let mut logp = [0.0f32; MAX_ACTIONS];
        let mut up = [0.0f32; MAX_ACTIONS];
        let np = self.lay.n_params;
        let env = self.env;
        let states = &*self.states;
        let (actions, back, lens) = (&*self.actions, &*self.back, &*self.lens);
        let (learn_pb, kind, lambda) = (self.cfg.learn_pb, self.cfg.loss, self.cfg.subtb_lambda);
        let sub_w = self.cfg.subtb_weight;
        let sl = env.state_len();
        let st = |b: usize, t: usize| &states[(b * (tt + 1) + t) * sl..(b * (tt + 1) + t + 1) * sl];
        let [
            _,
            grads,
            _,
            _,
            _,
            _,
            out,
            dout,
            _,
            lpf_a,
            lpb_a,
            lf_a,
            _,
            gscr,
            ..,
        ] = &mut self.f;
        let mut row = 0;
        for b in 0..bn {
            let n = lens[b] as usize;
            let lpf = &lpf_a[b * tt..b * tt + n];
            let lpb = &lpb_a[b * tt..b * tt + n];
            let lf = &lf_a[b * (tt + 1)..b * (tt + 1) + n + 1];
            let (g, rest) = gscr.split_at_mut(tt + 1);
            let (gb, rest) = rest.split_at_mut(tt + 1);
            let (gf, pre_all) = rest.split_at_mut(tt + 1);
            let (glpf, glpb, glf) = (&mut g[..n], &mut gb[..n], &mut gf[..n + 1]);
            let (_, delta) = loss::tb(lpf, lpb, lf, glpf, glpb, glf)?;
            if let Some(d) = deltas.as_deref_mut() {
                d[b] = delta;
            }
            let l = match kind {
                LossKind::Tb => delta * delta,
                LossKind::Db => loss::db(lpf, lpb, lf, glpf, glpb, glf)?,
                LossKind::SubTb => {
                    let pre = &mut pre_all[..n + 1];
                    loss::subtb(lambda, lpf, lpb, lf, glpf, glpb, glf, pre)?
                }
                LossKind::TbSubTb => {
                    let pre = &mut pre_all[..n + 1];
                    loss::tb_subtb(lambda, sub_w, lpf, lpb, lf, glpf, glpb, glf, pre)?.0
                }
            };
            total += l as f64;
            // back-propagate into the outputs of each row
            for t in 0..n {
                let r = row + t;
                env.forward_mask(st(b, t), &mut mask[..na]);
                masked_log_softmax(&out[r * ow..r * ow + na], &mask[..na], &mut logp[..na])?;
                up[..na].fill(0.0);
                up[(actions[b * tt + t] as usize).min(na - 1)] = glpf[t] * inv_b;
                masked_log_softmax_backward(
                    &logp[..na],
                    &mask[..na],
                    &up[..na],
                    &mut dout[r * ow..r * ow + na],
                )?;
                if t > 0 {
                    dout[r * ow + na + nb] += glf[t] * inv_b;
                }
                if learn_pb && t + 1 < n {
                    env.backward_mask(st(b, t + 1), &mut mask[..nb]);
                    let r2 = r + 1;
                    let lo = r2 * ow + na;
                    masked_log_softmax(&out[lo..lo + nb], &mask[..nb], &mut logp[..nb])?;
                    up[..nb].fill(0.0);
                    up[(back[b * tt + t] as usize).min(nb - 1)] = glpb[t] * inv_b;
                    masked_log_softmax_backward(
                        &logp[..nb],
                        &mask[..nb],
                        &up[..nb],
                        &mut dout[lo..lo + nb],
                    )?;
                }
            }
            grads[np - 1] += glf[0] * inv_b;
            row += n;
        }
        let npp = self.lay.policy_params;
        let [p, grads, _, _, _, cache, _, dout, scratch, .., fbuf] = &mut self.f;
        if let Some(fm) = self.lay.flow {
            // the flow column goes to the flow network, not to the policy's last layer
            let (fcache, rest) = fbuf.split_at_mut(fm.cache_len(self.lay.rows));
            let fd = &mut rest[rows_max..rows_max + rows];
            for (d, row) in fd.iter_mut().zip(dout.chunks_exact_mut(ow)) {
                *d = row[ow - 1];
                row[ow - 1] = 0.0;
            }
            fm.backward(
                &p[npp..np - 1],
                &fcache[..fm.cache_len(rows)],
                rows,
                fd,
                &mut grads[npp..np - 1],
                None,
                scratch,
            )?;
        }
        self.lay.mlp.backward(
            &p[..npp],
            cache,
            rows,
            &dout[..rows * ow],
            &mut grads[..npp],
            None,
            scratch,
        )?;
        Ok((total / bn as f64) as f32)
    }

    /// Clips the network gradient and takes one Adam step (network at `lr`, `log Z` at
    /// `lr_log_z`).
    ///
    /// # Errors
    /// Optimiser errors.
    pub fn apply_gradient(&mut self) -> Result<(), Error> {
        let np = self.lay.n_params;
        clip_global_norm(&mut self.f[1][..np - 1], self.cfg.clip);
        let cfg = AdamConfig {
            lr: self.cfg.lr,
            ..AdamConfig::default()
        };
        let groups = [
            ParamGroup::new(0, np - 1, 1.0),
            ParamGroup::new(np - 1, 1, self.cfg.lr_log_z / self.cfg.lr),
        ];
        let [p, g, m, v, ..] = &mut self.f;
        adam::step_groups(&cfg, &mut self.adam, &groups, p, g, adam::Moments { m, v })?;
        Ok(())
    }

    fn buffer(&mut self) -> Result<Option<ReplayBuffer<'_>>, Error> {
        let cap = self.cfg.buffer_capacity;
        if cap == 0 {
            return Ok(None);
        }
        let s = self.env.state_len();
        let (states, rest) = self.f[14].split_at_mut(cap * s);
        let (lw, lr) = rest.split_at_mut(cap);
        ReplayBuffer::from_parts(s, states, lw, lr, self.cursor).map(Some)
    }

    /// Inserts the terminal states of the current batch into the buffer with their log
    /// importance weights (computed by [`Trainer::log_weights`] on the caller's `log_w`).
    ///
    /// # Errors
    /// Shape errors; none when the buffer is disabled.
    pub fn insert_batch(&mut self, log_w: &[f32]) -> Result<(), Error> {
        let bn = self.cfg.batch;
        check_len("log weights", bn, log_w.len())?;
        let s = self.env.state_len();
        let mut x = [0.0f32; super::env::MAX_STATE_LEN];
        let mut lr = [0.0f32; 1];
        for b in 0..bn {
            for (xi, &w) in x[..s].iter_mut().zip(self.terminal(b)) {
                *xi = w as f32;
            }
            lr[0] = self.f[12][b];
            let lw = [log_w[b]];
            let mut buf = match self.buffer()? {
                Some(buf) => buf,
                None => return Ok(()),
            };
            buf.insert(&x[..s], &lw, &lr)?;
            let c = buf.cursor();
            self.cursor = c;
        }
        Ok(())
    }

    /// Draws `B` terminal states from the buffer and loads their backward trajectories.
    /// Returns `false` (and loads nothing) if the buffer is disabled or empty.
    ///
    /// # Errors
    /// Buffer and shape errors.
    pub fn load_from_buffer<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<bool, Error> {
        if self.cursor.len == 0 {
            return Ok(false);
        }
        let bn = self.cfg.batch;
        let s = self.env.state_len();
        let prio = self.cfg.buffer_priority;
        let cap = self.cfg.buffer_capacity;
        let cursor = self.cursor;
        {
            let [.., store, wscr, _] = &mut self.f;
            let (states, rest) = store.split_at_mut(cap * s);
            let (lw, lr) = rest.split_at_mut(cap);
            let buf = ReplayBuffer::from_parts(s, states, lw, lr, cursor)?;
            if prio == Priority::Uniform {
                sample_stratified(&buf, bn, wscr, self.order, self.draws, rng)?;
            } else {
                // The systematic rules read one uniform. `B` are drawn all the same (the
                // other `B − 1` dropped), so the stream is that of the stratified rule and
                // of earlier versions, without a `B`-sized array on the stack.
                let u0 = uniform_f64(rng);
                for _ in 1..bn {
                    uniform_f64(rng);
                }
                buf.sample(prio, &[u0], wscr, self.order, self.draws)?;
            }
        }
        self.load_backward_from(Terminals::Buffer, rng)?;
        Ok(true)
    }

    /// One training iteration: a buffer batch every `replay_every`-th iteration when the
    /// buffer is non-empty, otherwise an on-policy batch (ε-exploration) whose terminal
    /// states are inserted into the buffer; then one loss/gradient/Adam step.
    ///
    /// # Errors
    /// Any error of the parts.
    pub fn step<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<TrainInfo, Error> {
        let replay = self.cfg.buffer_capacity > 0
            && self.iteration % self.cfg.replay_every == self.cfg.replay_every - 1
            && self.load_from_buffer(rng)?;
        if !replay {
            self.sample_forward(self.cfg.epsilon, rng)?;
            if self.cfg.buffer_capacity > 0 {
                // the buffer-weight scratch (part 15, at least B long) is free here
                let bn = self.cfg.batch;
                let lw = core::mem::take(&mut self.f[15]);
                let r = self
                    .log_weights(&mut lw[..bn])
                    .and_then(|()| self.insert_batch(&lw[..bn]));
                self.f[15] = lw;
                r?;
            }
        }
        let l = self.loss_and_grad(None, None)?;
        self.apply_gradient()?;
        self.iteration = self.iteration.saturating_add(1);
        let mean_log_r = self.f[12].iter().map(|&x| x as f64).sum::<f64>() / self.cfg.batch as f64;
        Ok(TrainInfo {
            loss: l,
            log_z: self.log_z(),
            from_buffer: replay,
            mean_log_r: mean_log_r as f32,
        })
    }
}

/// The buffer's uniform (stratified) rule, which reads `B` uniforms: kept out of line so
/// that its `MAX_BATCH`-long array (8 KiB) is on the stack only when
/// [`Priority::Uniform`] is chosen.
#[inline(never)]
fn sample_stratified<R: Rng + ?Sized>(
    buf: &ReplayBuffer<'_>,
    bn: usize,
    weights: &mut [f32],
    order: &mut [u32],
    out: &mut [u32],
    rng: &mut R,
) -> Result<(), Error> {
    let mut u = [0.0f64; MAX_BATCH];
    let u = u
        .get_mut(..bn)
        .ok_or(Error::InvalidConfig("batch must be in 1..=1024"))?;
    for x in u.iter_mut() {
        *x = uniform_f64(rng);
    }
    buf.sample(Priority::Uniform, u, weights, order, out)?;
    Ok(())
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

    fn arenas<E: DiscreteEnv>(
        env: &E,
        cfg: &TrainConfig,
    ) -> (std::vec::Vec<f32>, std::vec::Vec<u32>) {
        let l = Layout::new(env, cfg).unwrap();
        (vec![0.0; l.f32_len], vec![0; l.u32_len])
    }

    fn gradcheck_through_network(loss: LossKind, learn_pb: bool) {
        gradcheck_with_flow(loss, learn_pb, 0);
    }

    fn gradcheck_with_flow(loss: LossKind, learn_pb: bool, flow_hidden: usize) {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let cfg = TrainConfig {
            loss,
            learn_pb,
            batch: 3,
            hidden: 8,
            flow_hidden,
            ..TrainConfig::default()
        };
        let (mut fa, mut ua) = arenas(&env, &cfg);
        let mut rng = seeded(7);
        let mut tr = Trainer::new(&env, cfg, &mut fa, &mut ua, &mut rng).unwrap();
        // non-zero last layer so every head matters
        let np = tr.params().len();
        for (i, p) in tr.params_mut().iter_mut().enumerate() {
            *p += 0.05 * ((i * 7919 % 13) as f32 / 13.0 - 0.5);
        }
        tr.params_mut()[np - 1] = 0.3;
        tr.sample_forward(0.2, &mut rng).unwrap();
        tr.loss_and_grad(None, None).unwrap();
        let g: std::vec::Vec<f32> = tr.f[1].to_vec();
        let h = 1e-2f32;
        let mut checked = 0;
        for i in (0..np).step_by(np / 40 + 1).chain([np - 1, np - 2, np - 3]) {
            let p0 = tr.params()[i];
            tr.params_mut()[i] = p0 + h;
            let lp = tr.loss_and_grad(None, None).unwrap() as f64;
            tr.params_mut()[i] = p0 - h;
            let lm = tr.loss_and_grad(None, None).unwrap() as f64;
            tr.params_mut()[i] = p0;
            let fd = (lp - lm) / (2.0 * h as f64);
            assert!(
                (fd - g[i] as f64).abs() < 1e-2 * (1.0 + fd.abs()),
                "{loss:?} pb={learn_pb} param {i}: fd {fd} vs {}",
                g[i]
            );
            checked += 1;
        }
        assert!(checked > 10);
    }

    #[test]
    fn tb_gradcheck_through_network() {
        gradcheck_through_network(LossKind::Tb, false);
        gradcheck_through_network(LossKind::Tb, true);
    }
    #[test]
    fn db_gradcheck_through_network() {
        gradcheck_through_network(LossKind::Db, true);
    }
    #[test]
    fn subtb_gradcheck_through_network() {
        gradcheck_through_network(LossKind::SubTb, false);
    }
    #[test]
    fn separate_flow_network_gradcheck() {
        // SubTB and DB are plain losses: the whole gradient (policy, flow network, log Z)
        // is checked by finite differences.
        gradcheck_with_flow(LossKind::SubTb, false, 6);
        gradcheck_with_flow(LossKind::Db, true, 6);
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let l = Layout::new(
            &env,
            &TrainConfig {
                flow_hidden: 6,
                ..TrainConfig::default()
            },
        )
        .unwrap();
        assert!(l.flow.is_some() && l.n_params > l.policy_params + 1);
    }

    #[test]
    fn backward_trajectories_are_valid_and_score_finitely() {
        let env = SequenceEnv::new(SequenceConfig {
            len: 4,
            alphabet: 3,
            modes: 2,
            ..Default::default()
        })
        .unwrap();
        let cfg = TrainConfig {
            batch: 4,
            hidden: 8,
            ..TrainConfig::default()
        };
        let (mut fa, mut ua) = arenas(&env, &cfg);
        let mut rng = seeded(3);
        let mut tr = Trainer::new(&env, cfg, &mut fa, &mut ua, &mut rng).unwrap();
        let s = env.state_len();
        let mut xs = vec![0u32; 4 * s];
        for b in 0..4 {
            env.terminal_from_index(7 * b + 1, &mut xs[b * s..(b + 1) * s]);
        }
        tr.load_backward(&xs, &mut rng).unwrap();
        for b in 0..4 {
            assert_eq!(tr.terminal(b), &xs[b * s..(b + 1) * s]);
            assert_eq!(tr.lens[b], 5);
        }
        let mut lw = [0.0f32; 4];
        tr.log_weights(&mut lw).unwrap();
        assert!(lw.iter().all(|w| w.is_finite()));
        // a non-terminal replay state is rejected
        xs[s - 1] = 0;
        assert!(tr.load_backward(&xs, &mut rng).is_err());
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
        let cfg = TrainConfig {
            loss,
            batch: 32,
            hidden: 32,
            buffer_capacity: buffer,
            ..TrainConfig::default()
        };
        let (mut fa, mut ua) = arenas(&env, &cfg);
        let mut rng = seeded(11);
        let mut tr = Trainer::new(&env, cfg, &mut fa, &mut ua, &mut rng).unwrap();
        for _ in 0..400 {
            tr.step(&mut rng).unwrap();
        }
        let mut p = vec![0.0f32; env.n_terminal()];
        let lz = exact::distribution(&env, &mut p).unwrap();
        let mut counts = vec![0u32; env.n_terminal()];
        for _ in 0..100 {
            tr.sample_forward(0.0, &mut rng).unwrap();
            for b in 0..32 {
                counts[env.terminal_index(tr.terminal(b))] += 1;
            }
        }
        let mut q = vec![0.0f32; env.n_terminal()];
        crate::metrics::histogram::normalize_counts(&counts, &mut q).unwrap();
        let tv = crate::metrics::histogram::total_variation(&p, &q).unwrap();
        (tv, (tr.log_z() as f64 - lz).abs())
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

    /// Replay draws `B` uniforms under every rule; the systematic ones read only the first.
    /// The drawn slots and the walks that follow equal those of sampling with all `B`
    /// uniforms and then loading the same terminal states (the stream is unchanged).
    #[test]
    fn replay_draws_and_stream_match_sampling_with_all_uniforms() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        for prio in [
            Priority::RewardRank { rank_weight: 0.01 },
            Priority::ImportanceWeight { target_ess: 0.5 },
            Priority::Uniform,
        ] {
            let cfg = TrainConfig {
                batch: 5,
                hidden: 8,
                buffer_capacity: 12,
                buffer_priority: prio,
                ..TrainConfig::default()
            };
            let (mut fa, mut ua) = arenas(&env, &cfg);
            let mut rng = seeded(5);
            let mut tr = Trainer::new(&env, cfg, &mut fa, &mut ua, &mut rng).unwrap();
            let mut lw = [0.0f32; 5];
            for _ in 0..3 {
                tr.sample_forward(0.5, &mut rng).unwrap();
                tr.log_weights(&mut lw).unwrap();
                tr.insert_batch(&lw).unwrap();
            }
            let mut r2 = rng.clone();
            let u: std::vec::Vec<f64> = (0..5).map(|_| uniform_f64(&mut r2)).collect();
            let mut want = [0u32; 5];
            let s = env.state_len();
            let mut xs = vec![0u32; 5 * s];
            {
                let buf = tr.buffer().unwrap().unwrap();
                let (mut w, mut o) = (vec![0.0f32; 12], vec![0u32; 12]);
                buf.sample(prio, &u, &mut w, &mut o, &mut want).unwrap();
                for (b, &slot) in want.iter().enumerate() {
                    for (d, &v) in xs[b * s..(b + 1) * s]
                        .iter_mut()
                        .zip(buf.state(slot as usize).unwrap())
                    {
                        *d = v as u32;
                    }
                }
            }
            assert!(tr.load_from_buffer(&mut rng).unwrap());
            assert_eq!(&tr.draws[..], &want[..], "{prio:?}");
            let (states, lens) = (tr.states.to_vec(), tr.lens.to_vec());
            tr.load_backward(&xs, &mut r2).unwrap();
            assert_eq!(&tr.states[..], &states[..], "{prio:?}");
            assert_eq!(&tr.lens[..], &lens[..], "{prio:?}");
        }
    }

    #[test]
    fn invalid_configs_are_errors() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        for cfg in [
            TrainConfig {
                batch: 0,
                ..Default::default()
            },
            TrainConfig {
                lr: -1.0,
                ..Default::default()
            },
            TrainConfig {
                epsilon: 2.0,
                ..Default::default()
            },
            TrainConfig {
                subtb_lambda: f32::NAN,
                ..Default::default()
            },
            TrainConfig {
                buffer_capacity: 10,
                replay_every: 1,
                ..Default::default()
            },
        ] {
            assert!(Layout::new(&env, &cfg).is_err());
        }
        let cfg = TrainConfig::default();
        let l = Layout::new(&env, &cfg).unwrap();
        let (mut fa, mut ua) = (vec![0.0; l.f32_len - 1], vec![0; l.u32_len]);
        assert!(Trainer::new(&env, cfg, &mut fa, &mut ua, &mut seeded(0)).is_err());
    }
}
