//! The diffusion trainer's settings: [`Method`], [`Config`] and its optimiser groups.

use super::super::flow::Flows;
use super::super::net::{NetForm, PisNet};
use super::super::policy::PolicyConfig;
use super::super::reference::Process;
use super::super::smc::SmcConfig;
use super::augment::BufferMcmc;
use crate::buffer::Priority;
use crate::error::Error;
use crate::optim::{Group, LrSchedule, Optimiser};

/// Which training loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// On-policy trajectory balance.
    Tb,
    /// TB with the importance-weighted replay buffer of on-policy samples.
    TbBuffer,
    /// Reinforced SMC: TB + SubTB-trained flows, SMC behaviour policy, IW buffer.
    Rsmc,
    /// "TB + SMC" without a buffer (the seeds' `gfn_subtb_smc_nobuffer` trainer): the model
    /// and on-policy iterations of [`Method::Rsmc`], but every off-policy iteration trains
    /// directly on the `N = B` final particles of its own SMC pass (their weights ignored,
    /// backward trajectories by `p_B`); no buffer, no prefill.
    RsmcNoBuffer,
}

impl Method {
    /// Whether the method learns flows.
    pub const fn has_flows(self) -> bool {
        self.has_smc()
    }
    /// Whether the method uses the replay buffer.
    pub const fn has_buffer(self) -> bool {
        matches!(self, Method::TbBuffer | Method::Rsmc)
    }
    /// Whether the method runs SMC with the learnt model.
    pub const fn has_smc(self) -> bool {
        matches!(self, Method::Rsmc | Method::RsmcNoBuffer)
    }
    /// Whether the method has off-policy iterations (`r` of every `r + 1`).
    pub const fn has_off_policy(self) -> bool {
        self.has_buffer() || self.has_smc()
    }
}

/// The log importance weight an on-policy sample of the RSMC trainer is stored with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BufferWeights {
    /// `log R(x_T) + Σ log p_B − log p₀(x₀) − Σ log p_F`: an unbiased estimate of `Z` on the
    /// same scale as the SMC particles' `Z`-scaled weights (and what the PyTorch RSMC code
    /// stores). The default.
    #[default]
    Corrected,
    /// The seeds' JAX RSMC trainer (`gfn_subtb_smc_trainer.py`) from commit 0409da1 on (its
    /// submitted version, 6b54686, stored `Corrected`): the same without `−log p₀(x₀)`, so
    /// on-policy samples are understated by the factor `p₀(x₀)` against the SMC samples
    /// (`rsmc.md` §1.4). Only [`Method::Rsmc`] with the OU reference (the JAX TB +
    /// IW-buffer trainer stores corrected weights, and the pinned reference has `p₀ = 1`).
    Seed,
}

/// Training settings. Defaults follow RSMC's gradient-free setting scaled to a CPU budget
/// (documented per field, with the paper's value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
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
    /// The networks' form. Defaults to [`NetForm::Pis`]; [`NetForm::Jax`] (the RSMC JAX
    /// code's) also gives the flow network `flow_hidden` harmonics, as its own time
    /// embedding has, and clips the gradient once over every group together
    /// ([`Config::optimiser`]) instead of per group.
    pub net: NetForm,
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
    /// Per-group global-norm clip (one global clip for [`NetForm::Jax`]). Defaults to `1.0`.
    pub clip: f32,
    /// Total iterations, for the learning-rate schedule. Defaults to `2000` (paper: 20,000).
    pub iterations: u32,
    /// Learning-rate multiplier at 50 % and 75 % of the iterations. Defaults to `0.3`.
    pub lr_gamma: f32,
    /// RSMC only: after [`super::prefill`], set the learnt `log Z` to the mean of the
    /// prefill SMC runs' `log Ẑ` instead of leaving it at 0. Defaults to `false` (the JAX
    /// code of the paper starts at 0, with this initialisation commented out; the PyTorch
    /// version starts from an estimate, `--init_log_Z iw_elbo`, `rsmc.md` section 1.5). It
    /// matters when `log Z` is far from 0 and the budget is short: with `lr_log_z = 0.1`
    /// Adam moves `log Z` by at most about 0.1 per iteration, so reaching ManyWell-32's
    /// 164.7 from 0 alone takes over 1600 iterations, during which every TB residual carries
    /// the offset.
    pub init_log_z_from_smc: bool,
    /// tb and tb-buffer: in [`super::prefill`], draw one on-policy batch and set the
    /// learnt `log Z` to the mean of its log importance weights
    /// `log R(x_T) + Σ log p_B − log p₀ − Σ log p_F` (an ELBO estimate: the `log Z` that
    /// minimises that batch's TB loss), instead of 0. Defaults to `false`. Same reason as
    /// [`Config::init_log_z_from_smc`]: from 0 the residual of every on-policy batch
    /// carries the offset `log Z − ELBO` (about 86 for an untrained policy on ManyWell-32),
    /// and TB's policy gradient `mean(r_i ∇log p_F(τ_i))` is then dominated by the
    /// zero-mean noise term `offset · mean(∇log p_F)` until `log Z` catches up.
    pub init_log_z_from_batch: bool,
    /// With [`Config::init_log_z_from_batch`]: the log-mean-exp of the batch's finite log
    /// weights (the importance-weighted estimate of `log Z`, the RSMC PyTorch code's
    /// `--init_log_Z iw_elbo`) instead of their mean. Defaults to `false`. Where a few
    /// samples of an untrained policy sit at a target's energy cut (alanine dipeptide), the
    /// mean is dragged far below `log Z` and the learnt `log Z` cannot climb back at its
    /// learning rate; the log-mean-exp is dominated by the best samples.
    pub init_log_z_iw: bool,
    /// The weight on-policy samples enter the RSMC buffer with. Defaults to
    /// [`BufferWeights::Corrected`].
    pub buffer_weights: BufferWeights,
    /// Iterations over which the policy's exploration noise
    /// ([`PolicyConfig::exploration_std`]) falls linearly to 0: iteration `k` samples its
    /// on-policy trajectories with `exploration_std · max(0, 1 − k/N)`
    /// ([`Config::at_iteration`]; gfn-diffusion's `--exploration_wd` is `N = 5000`).
    /// Defaults to `0`: the noise stays constant.
    pub exploration_decay: u32,
    /// What a training batch's terminal `log R` below a floor becomes ([`LowReward`],
    /// [`Config::apply_low_reward`]). Defaults to [`LowReward::Keep`]: no bits change.
    pub low_reward: LowReward,
    /// Training on the flattened target `R^β` first ([`RewardAnneal`],
    /// [`Config::reward_beta`]). Defaults to [`RewardAnneal::OFF`]: `β = 1` throughout, no
    /// bits change. Not in the three papers (none anneals the reward); a temperature
    /// curriculum in the spirit of the annealed SMC baseline's geometric path, measured on
    /// alanine dipeptide in `docs/aldp.md`.
    pub reward_anneal: RewardAnneal,
    /// MCMC augmentation of the replay buffer ([`BufferMcmc`], [`super::augment_buffer`]),
    /// as the RSMC PyTorch trainer's "+ MCMC" variants. Defaults to `None`: no bits change.
    pub buffer_mcmc: Option<BufferMcmc>,
    /// Every this many iterations (`k mod N = 0`, `k > 0`), recompute every buffer entry's
    /// log weight under the current policy ([`super::reweight_buffer`]; not in the papers).
    /// Defaults to `0`: off, no bits change.
    pub buffer_reweight_every: u32,
}

/// Reward annealing: iteration `k` trains on `R(x)^β` (the target's log density times `β`,
/// [`crate::targets::Tempered`]) with `β = start + (1 − start) · min(1, k / iters)`, rising
/// linearly from `start` to 1 over `iters` iterations and 1 after. Every use of the target
/// in training sees the power (on-policy and SMC log weights, the flows' boundaries, TB and
/// SubTB, the Langevin drift, the log Z initialisations); the buffer keeps the values it
/// stored, so during the rise it replays `log R` and weights of slightly smaller powers.
/// Evaluations use the target itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RewardAnneal {
    /// The first iteration's power, in `(0, 1]`.
    pub start: f32,
    /// Iterations over which the power reaches 1 (at least 1 when `start < 1`).
    pub iters: u32,
}

impl RewardAnneal {
    /// No annealing: `β = 1` from the first iteration.
    pub const OFF: RewardAnneal = RewardAnneal {
        start: 1.0,
        iters: 0,
    };
}

/// What the training loss does with a terminal `log R` below a floor: for targets with an
/// energy cut (alanine dipeptide: `log R ≈ −10⁵` at the cut), where a few residuals of order
/// `10⁵` would otherwise take each batch's clipped step. Only the training batch's loss and
/// the buffer insert of an on-policy batch see it: SMC weights, inner SubTB boundaries and
/// evaluations use the target as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum LowReward {
    /// `log R` as the target gives it (the default).
    #[default]
    Keep,
    /// Below the floor is zero reward (`-inf`): the trajectory leaves the TB and SubTB
    /// losses as a non-finite reward does (counted in [`super::Info::masked`]), and an
    /// on-policy sample enters the buffer with weight 0 (the seeds' buffer drops entries with
    /// `log R ≤ −10⁵`, `--logr_lb`).
    Mask(f32),
    /// Below the floor is raised to the floor: the residual stays, bounded (the seeds' loss
    /// always clamps `log R` at `−10⁵`, `logr_clip`; ours does only with this).
    Clamp(f32),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            method: Method::Rsmc,
            process: Process::OrnsteinUhlenbeck { init_std: 1.0 },
            steps: 64,
            batch: 300,
            hidden: 64,
            harmonics: 64,
            flow_hidden: 64,
            net: NetForm::Pis,
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
            init_log_z_iw: false,
            buffer_weights: BufferWeights::Corrected,
            exploration_decay: 0,
            low_reward: LowReward::Keep,
            reward_anneal: RewardAnneal::OFF,
            buffer_mcmc: None,
            buffer_reweight_every: 0,
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

impl Config {
    /// The settings iteration `k` trains with: the exploration noise decayed by
    /// [`Config::exploration_decay`] (`self` unchanged when that is 0).
    pub fn at_iteration(&self, k: u32) -> Config {
        let mut c = *self;
        if self.exploration_decay > 0 {
            let left = 1.0 - k as f32 / self.exploration_decay as f32;
            c.policy.exploration_std = self.policy.exploration_std * left.max(0.0);
        }
        c
    }

    /// The power `β` iteration `k` raises the target to ([`Config::reward_anneal`]): exactly
    /// 1 once the rise is over or without annealing.
    pub fn reward_beta(&self, k: u32) -> f32 {
        let RewardAnneal { start, iters } = self.reward_anneal;
        if k >= iters {
            return 1.0;
        }
        start + (1.0 - start) * (k as f32 / iters as f32)
    }

    /// [`Config::low_reward`] applied to a batch's terminal `log R`.
    pub fn apply_low_reward(&self, log_r: &mut [f32]) {
        let (floor, to) = match self.low_reward {
            LowReward::Keep => return,
            LowReward::Mask(f) => (f, f32::NEG_INFINITY),
            LowReward::Clamp(f) => (f, f),
        };
        for v in log_r.iter_mut().filter(|v| **v < floor) {
            *v = to;
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        self.process.validate()?;
        if let LowReward::Mask(f) | LowReward::Clamp(f) = self.low_reward
            && !f.is_finite()
        {
            return Err(Error::InvalidConfig("the log R floor must be finite"));
        }
        let RewardAnneal { start, iters } = self.reward_anneal;
        if !(start > 0.0 && start <= 1.0) || (start < 1.0 && iters == 0) {
            return Err(Error::InvalidConfig(
                "reward annealing must start in (0, 1] and rise over at least 1 iteration",
            ));
        }
        if self.buffer_reweight_every > 0 && !self.method.has_buffer() {
            return Err(Error::InvalidConfig(
                "buffer reweighting needs a method with a buffer",
            ));
        }
        if let Some(m) = self.buffer_mcmc {
            if !self.method.has_buffer() {
                return Err(Error::InvalidConfig(
                    "buffer MCMC needs a method with a buffer",
                ));
            }
            m.validate(self.batch)?;
        }
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
        if self.method.has_smc() {
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
        if self.method == Method::RsmcNoBuffer && self.particles != self.batch {
            return Err(Error::InvalidConfig(
                "rsmc without a buffer trains on its SMC particles: particles must equal batch",
            ));
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
        if self.init_log_z_iw && !self.init_log_z_from_batch {
            return Err(Error::InvalidConfig(
                "the importance-weighted log Z initialisation needs init_log_z_from_batch",
            ));
        }
        if self.iterations == 0 {
            return Err(Error::InvalidConfig("iterations must be >= 1"));
        }
        let ou = matches!(self.process, Process::OrnsteinUhlenbeck { .. });
        if self.buffer_weights == BufferWeights::Seed && !(self.method == Method::Rsmc && ou) {
            return Err(Error::InvalidConfig(
                "seed buffer weights apply to rsmc with the OU reference only",
            ));
        }
        Ok(())
    }

    /// The policy network for state dimension `dim`.
    ///
    /// # Errors
    /// As [`PisNet::new`].
    pub fn policy_net(&self, dim: usize) -> Result<PisNet, Error> {
        let net = PisNet::new(dim, self.hidden, self.harmonics, self.policy.net_out(dim))?
            .with_form(self.net)?;
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
            PisNet::new(dim, self.flow_hidden, self.flow_harmonics(), 1)?.with_form(self.net)?,
            self.steps,
            self.smc.chunk,
        )
    }
}

impl Config {
    /// The optimiser: torch's Adam under ×`lr_gamma` at 50 % and 75 % of
    /// [`Config::iterations`] (`rsmc.md` §2.3).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad `lr_gamma`.
    pub fn optimiser(&self) -> Result<Optimiser, Error> {
        let s = LrSchedule::multi_step_at_fractions(self.iterations, &[0.5, 0.75], self.lr_gamma)?;
        Ok(Optimiser {
            global_clip: (self.net == NetForm::Jax).then_some(self.clip),
            ..Optimiser::with_schedule(s)
        })
    }

    /// Harmonics of the flow network's time embedding: the policy's, or `flow_hidden` for
    /// [`NetForm::Jax`].
    pub const fn flow_harmonics(&self) -> usize {
        match self.net {
            NetForm::Pis => self.harmonics,
            NetForm::Jax => self.flow_hidden,
        }
    }

    /// The parameter groups `[policy | flow net | β logits | log Z]`, each clipped at
    /// [`Config::clip`] (`rsmc.md` §2.3; for [`NetForm::Jax`] none is, the optimiser
    /// clipping them together); `flows` gives the flow and β lengths (`None`: both empty).
    pub fn groups(&self, policy_params: usize, flows: Option<&Flows>) -> [Group; 4] {
        let (fnet, fbeta) = flows.map_or((0, 0), |f| {
            (f.beta_offset(), f.param_count() - f.beta_offset())
        });
        let c = (self.net == NetForm::Pis).then_some(self.clip);
        [
            Group::new(policy_params, self.lr_policy, c),
            Group::new(fnet, self.lr_flow, c),
            Group::new(fbeta, self.lr_beta, c),
            Group::new(1, self.lr_log_z, c),
        ]
    }
}
