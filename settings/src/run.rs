//! [`RunConfig`]: a continuous run with every default resolved, and the kernel
//! configurations it stands for.

use amortise_kernel::buffer::Priority;
use amortise_kernel::samplers::diffusion::net::NetForm;
use amortise_kernel::samplers::diffusion::policy::PolicyConfig;
use amortise_kernel::samplers::diffusion::reference::Process;
use amortise_kernel::samplers::diffusion::smc::SmcConfig;
use amortise_kernel::samplers::diffusion::train::{
    BufferMcmc, BufferWeights, Config as TrainConfig, LowReward, McmcWeights, Method, RewardAnneal,
};
use amortise_kernel::smc::annealed::{self, Move, Schedule};
use amortise_kernel::smc::moves::{Hmc, Rwm};
use amortise_kernel::smc::resample::Scheme;

use crate::defaults;
use crate::error::SettingError;
use crate::targets;

/// A continuous run with every default resolved: what the CLI writes into checkpoints and
/// summaries (field names are its flags), and what the playground runs.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RunConfig {
    /// Target name.
    pub target: String,
    /// Target dimension.
    pub dim: usize,
    /// `tb`, `tb-buffer`, `rsmc`, `rsmc-nobuffer`, `smc` or `teacher`.
    pub method: String,
    /// Seed of the run.
    pub seed: u64,
    /// Training iterations.
    pub iters: u32,
    /// Training batch.
    pub batch: usize,
    /// SMC particles.
    pub particles: usize,
    /// Diffusion steps T.
    pub steps: usize,
    /// `ou` or `pinned`.
    pub reference: String,
    /// OU sigma, or sqrt(t_scale) for the pinned process.
    pub sigma: f32,
    /// Policy hidden width.
    pub hidden: usize,
    /// Flow hidden width.
    pub flow_hidden: usize,
    /// Fourier harmonics.
    pub harmonics: usize,
    /// The networks' form: `pis` (ours, the default) or `jax` (the RSMC JAX code's,
    /// [`NetForm`]); left out of the stored settings when `pis`.
    #[cfg_attr(
        feature = "serde",
        serde(default = "default_net", skip_serializing_if = "is_pis")
    )]
    pub net: String,
    /// Learnt variance.
    pub learned_variance: bool,
    /// Langevin-preconditioned drift.
    #[cfg_attr(feature = "serde", serde(default))]
    pub langevin: bool,
    /// rsmc: learnt `log Z` starts at the prefill SMC estimate.
    #[cfg_attr(feature = "serde", serde(default))]
    pub init_log_z_smc: bool,
    /// Learnt `log Z` starts at the mean log weight of one on-policy batch.
    #[cfg_attr(feature = "serde", serde(default))]
    pub init_log_z_batch: bool,
    /// Learnt `log Z` starts at the log-mean-exp of the log weights of one on-policy batch
    /// (the importance-weighted estimate; the RSMC PyTorch code's `--init_log_Z iw_elbo`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub init_log_z_iw: bool,
    /// Exploration standard deviation.
    pub exploration: f32,
    /// Iterations over which the exploration noise falls linearly to 0 (0: constant).
    #[cfg_attr(feature = "serde", serde(default))]
    pub exploration_decay: u32,
    /// Training `log R` below this floor counts as zero reward (left out of the loss,
    /// weight 0 in the buffer); `None`: off.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub log_r_floor: Option<f32>,
    /// Training `log R` below this floor is raised to it (the seeds clamp at `-1e5`);
    /// `None`: off.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub log_r_clamp: Option<f32>,
    /// Reward annealing: the first iteration trains on `R^β₀` with this `β₀ ∈ (0, 1]`,
    /// rising linearly to 1 over `anneal_reward_iters`; `None`: off.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub anneal_reward: Option<f32>,
    /// Iterations over which the reward's power rises to 1 (with `anneal_reward`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub anneal_reward_iters: Option<u32>,
    /// MCMC augmentation of the buffer every this many iterations (`None`: off); the other
    /// `buffer_mcmc_*` settings apply with it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub buffer_mcmc_every: Option<u32>,
    /// Walkers drawn from the buffer per augmentation (default 200, the seeds', or the batch
    /// if smaller).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub buffer_mcmc_walkers: Option<u32>,
    /// MALA transitions per walker (default 500).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub buffer_mcmc_steps: Option<u32>,
    /// Every this-many-th transition's states are stored (default 50).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub buffer_mcmc_thin: Option<u32>,
    /// MALA's step size (default 0.001, the seeds' `--mcmc_step_size`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub buffer_mcmc_step: Option<f32>,
    /// The stored states' log weights: `inherit` (the seeds'; the default) or `resampled`
    /// ([`McmcWeights`]).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub buffer_mcmc_weights: Option<String>,
    /// Recompute the buffer's log weights under the current policy every this many
    /// iterations (0: never).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub buffer_reweight_every: u32,
    /// Policy learning rate.
    pub lr: f32,
    /// Learning rate of the learnt `log Z`; `None`: the trainer's default, 0.1.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub lr_log_z: Option<f32>,
    /// Replay buffer capacity.
    pub buffer: usize,
    /// SMC runs that prefill the buffer (rsmc).
    pub prefill: u32,
    /// SMC chunk length L.
    pub chunk: usize,
    /// Samples per evaluation.
    pub eval_samples: usize,
    /// The target samples evaluations compare with: `exact` (drawn with seed 0 by our
    /// sampler, the default) or `paper` (the seeds' own ground-truth set, gmm40-jax in 2 and
    /// 5 dimensions); left out of the stored settings when `exact`.
    #[cfg_attr(
        feature = "serde",
        serde(default = "default_eval_reference", skip_serializing_if = "is_exact")
    )]
    pub eval_reference: String,
    /// Buffer priority: `iw` (importance weights, RSMC), `reward` (rank-based), `uniform`.
    #[cfg_attr(feature = "serde", serde(default = "default_priority"))]
    pub buffer_priority: String,
    /// rsmc: the log weight on-policy samples enter the buffer with: `corrected` (with
    /// `−log p₀`, the default) or `seed` (the seeds' JAX trainer, without it).
    #[cfg_attr(feature = "serde", serde(default = "default_weights"))]
    pub buffer_weights: String,
    /// smc: `adaptive` (conditional-ESS tempering, the default) or `geometric` (the seeds'
    /// fixed schedule of [`RunConfig::temperatures`]).
    #[cfg_attr(feature = "serde", serde(default = "default_schedule"))]
    pub smc_schedule: String,
    /// smc with the geometric schedule: temperatures `K`, both ends included (default 128,
    /// the seeds' `num_temps`).
    #[cfg_attr(feature = "serde", serde(default = "default_temperatures"))]
    pub temperatures: u32,
    /// smc: the Markov move, `mala` (adapted MALA, the default), `hmc` or `rwm` (the seeds'
    /// kernels, step sizes per target).
    #[cfg_attr(feature = "serde", serde(default = "default_move"))]
    pub smc_move: String,
    /// smc with hmc or rwm: the step sizes at `β = 0` and from `β = 0.5` on (`None`: the
    /// target's row in [`crate::targets`]).
    #[cfg_attr(feature = "serde", serde(default))]
    pub smc_step_sizes: Option<[f32; 2]>,
    /// smc: the resampling scheme, `systematic` (the default) or `multinomial` (the seeds).
    #[cfg_attr(feature = "serde", serde(default = "default_resample"))]
    pub smc_resample: String,
    /// smc: the evaluated samples, `resampled` (`eval_samples` equally weighted draws from
    /// the final weighted particles by systematic resampling, the default) or `particles`
    /// (the first `eval_samples` final particles as they are, their weights ignored: how the
    /// seeds evaluate their SMC baseline).
    #[cfg_attr(feature = "serde", serde(default = "default_samples"))]
    pub smc_samples: String,
    /// aldp only: the sampler's per-coordinate scale, `none` (the seeds' coordinates, the
    /// default) or `md` (`y = x / MD_SCALE`, the MD reference's spread over σ = 0.5; the
    /// `aldp` preset's choice). Sample files stay in the seeds' coordinates either way.
    #[cfg_attr(feature = "serde", serde(default = "default_aldp_scale"))]
    pub aldp_scale: String,
    /// aldp only: where the circular map's seams sit, `seeds` (the seeds' map, the default)
    /// or `md` (`Aldp::MD_SEAMS`, the `aldp` preset's choice: φ's, ψ's and the two dihedrals
    /// moving with φ at the MD reference's emptiest angles; with `aldp_scale` `md` the scale is then
    /// `MD_SEAMS_SCALE`). Sample files stay in the seeds' coordinates either way.
    #[cfg_attr(feature = "serde", serde(default = "default_aldp_seams"))]
    pub aldp_seams: String,
}

#[cfg(feature = "serde")]
fn default_aldp_seams() -> String {
    "seeds".into()
}

#[cfg(feature = "serde")]
fn default_aldp_scale() -> String {
    "none".into()
}

#[cfg(feature = "serde")]
fn default_samples() -> String {
    "resampled".into()
}

#[cfg(feature = "serde")]
fn default_schedule() -> String {
    "adaptive".into()
}

#[cfg(feature = "serde")]
fn default_temperatures() -> u32 {
    defaults::TEMPERATURES
}

#[cfg(feature = "serde")]
fn default_move() -> String {
    "mala".into()
}

#[cfg(feature = "serde")]
fn default_resample() -> String {
    "systematic".into()
}

#[cfg(feature = "serde")]
fn default_priority() -> String {
    "iw".into()
}

#[cfg(feature = "serde")]
fn default_weights() -> String {
    "corrected".into()
}

#[cfg(feature = "serde")]
fn default_eval_reference() -> String {
    "exact".into()
}

#[cfg(feature = "serde")]
fn is_exact(r: &String) -> bool {
    r == "exact"
}

#[cfg(feature = "serde")]
fn default_net() -> String {
    "pis".into()
}

#[cfg(feature = "serde")]
fn is_pis(net: &String) -> bool {
    net == "pis"
}

impl RunConfig {
    /// The defaults of [`crate::defaults`] for `method` on `target` of dimension `dim`
    /// (`sigma` from [`crate::targets`], at `dim`).
    pub fn new(target: &str, dim: usize, method: &str) -> Self {
        RunConfig {
            target: target.into(),
            dim,
            method: method.into(),
            seed: 0,
            iters: defaults::ITERS,
            batch: defaults::BATCH,
            particles: defaults::particles(method),
            steps: defaults::STEPS,
            reference: "ou".into(),
            sigma: targets::of(target).sigma_at(dim),
            hidden: defaults::WIDTH,
            flow_hidden: defaults::WIDTH,
            harmonics: defaults::WIDTH,
            net: "pis".into(),
            learned_variance: false,
            langevin: false,
            init_log_z_smc: false,
            init_log_z_batch: false,
            init_log_z_iw: false,
            exploration: 0.0,
            exploration_decay: 0,
            log_r_floor: None,
            log_r_clamp: None,
            anneal_reward: None,
            anneal_reward_iters: None,
            buffer_mcmc_every: None,
            buffer_mcmc_walkers: None,
            buffer_mcmc_steps: None,
            buffer_mcmc_thin: None,
            buffer_mcmc_step: None,
            buffer_mcmc_weights: None,
            buffer_reweight_every: 0,
            lr: defaults::LR,
            lr_log_z: None,
            buffer: defaults::BUFFER,
            prefill: defaults::PREFILL,
            chunk: defaults::CHUNK,
            eval_samples: defaults::EVAL_SAMPLES,
            eval_reference: "exact".into(),
            buffer_priority: "iw".into(),
            buffer_weights: "corrected".into(),
            smc_schedule: "adaptive".into(),
            temperatures: defaults::TEMPERATURES,
            smc_move: "mala".into(),
            smc_step_sizes: None,
            smc_resample: "systematic".into(),
            smc_samples: "resampled".into(),
            aldp_scale: "none".into(),
            aldp_seams: "seeds".into(),
        }
    }

    /// The playground's defaults: RSMC on GMM40 at a browser-sized budget (T = 32 with the
    /// OU reference, B = N = 128, width 32, 16 harmonics, learning rate 3·10⁻³ rather than
    /// 10⁻³, Langevin drift on, seed 1; `docs/playground.md` gives the measurements behind
    /// them).
    pub fn playground() -> Self {
        RunConfig {
            seed: 1,
            batch: 128,
            particles: 128,
            steps: 32,
            hidden: 32,
            flow_hidden: 32,
            harmonics: 16,
            lr: 3e-3,
            langevin: true,
            ..RunConfig::new("gmm40", 2, "rsmc")
        }
    }

    /// The kernel method (`teacher` trains a TB student: its checkpoints have the same
    /// parameter layout `[policy | log Z]`); `None` for `smc` and `vgs`.
    pub fn kernel_method(&self) -> Option<Method> {
        match self.method.as_str() {
            "tb" | "teacher" => Some(Method::Tb),
            "tb-buffer" => Some(Method::TbBuffer),
            "rsmc" => Some(Method::Rsmc),
            "rsmc-nobuffer" => Some(Method::RsmcNoBuffer),
            _ => None,
        }
    }

    /// The reference process: OU with `σ = sigma`, or pinned Brownian motion with
    /// `t_scale = sigma²`.
    ///
    /// # Errors
    /// An unknown `reference`.
    pub fn process(&self) -> Result<Process, SettingError> {
        match self.reference.as_str() {
            "ou" => Ok(Process::OrnsteinUhlenbeck {
                init_std: self.sigma,
            }),
            "pinned" => Ok(Process::PinnedBrownian {
                t_scale: self.sigma * self.sigma,
            }),
            other => Err(SettingError::new(
                "reference",
                format!("unknown reference `{other}` (ou or pinned)"),
            )),
        }
    }

    /// The policy settings (noise clipped at 4 standard deviations with the OU reference,
    /// as RSMC does).
    pub fn policy(&self) -> PolicyConfig {
        PolicyConfig {
            learned_variance: self.learned_variance,
            exploration_std: self.exploration,
            noise_clip: if self.reference == "ou" { 4.0 } else { 0.0 },
            ..PolicyConfig::default()
        }
    }

    /// The replay buffer's rule: `iw` (importance weights tempered to ESS 0.05, RSMC),
    /// `reward` (rank weight 0.01, gfn-diffusion) or `uniform`.
    ///
    /// # Errors
    /// An unknown priority.
    pub fn priority(&self) -> Result<Priority, SettingError> {
        match self.buffer_priority.as_str() {
            "iw" => Ok(Priority::ImportanceWeight { target_ess: 0.05 }),
            "reward" => Ok(Priority::RewardRank { rank_weight: 0.01 }),
            "uniform" => Ok(Priority::Uniform),
            other => Err(SettingError::new(
                "buffer_priority",
                format!("unknown priority `{other}` (iw, reward or uniform)"),
            )),
        }
    }

    /// The networks' form: `pis` or `jax` ([`NetForm`]).
    ///
    /// # Errors
    /// An unknown name.
    pub fn net_form(&self) -> Result<NetForm, SettingError> {
        match self.net.as_str() {
            "pis" => Ok(NetForm::Pis),
            "jax" => Ok(NetForm::Jax),
            other => Err(SettingError::new(
                "net",
                format!("unknown network form `{other}` (pis or jax)"),
            )),
        }
    }

    /// The on-policy buffer weights of rsmc: `corrected` or `seed` ([`BufferWeights`]).
    ///
    /// # Errors
    /// An unknown name, or `seed` for another method or the pinned reference.
    pub fn buffer_weights(&self) -> Result<BufferWeights, SettingError> {
        match self.buffer_weights.as_str() {
            "corrected" => Ok(BufferWeights::Corrected),
            "seed" if self.method == "rsmc" && self.reference == "ou" => Ok(BufferWeights::Seed),
            "seed" => Err(SettingError::new(
                "buffer_weights",
                "seed applies to --method rsmc with the ou reference only (the seeds' TB + \
                 IW-buffer trainer stores corrected weights)",
            )),
            other => Err(SettingError::new(
                "buffer_weights",
                format!("unknown buffer weights `{other}` (corrected or seed)"),
            )),
        }
    }

    /// The annealed SMC baseline's configuration (`--method smc`): base `N(0, sigma² I)`,
    /// the schedule, the move (HMC and RWM as the seeds run them, [`Hmc::seeds`],
    /// [`Rwm::seeds`], with [`RunConfig::smc_step_sizes`] or the target's row) and the
    /// resampling scheme; the other fields at their defaults.
    ///
    /// # Errors
    /// An unknown schedule, move or scheme; a bad value the kernel refuses, by its setting.
    pub fn annealed_config(&self) -> Result<annealed::Config, SettingError> {
        let schedule = match self.smc_schedule.as_str() {
            "adaptive" => Schedule::Adaptive,
            "geometric" => Schedule::Geometric {
                temperatures: self.temperatures,
            },
            other => {
                return Err(SettingError::new(
                    "smc_schedule",
                    format!("unknown schedule `{other}` (adaptive or geometric)"),
                ));
            }
        };
        let row = targets::of(&self.target);
        let moves = match self.smc_move.as_str() {
            "mala" => Move::Mala,
            "hmc" => Move::Hmc(Hmc::seeds(self.smc_step_sizes.unwrap_or(row.smc_hmc_step))),
            "rwm" => Move::Rwm(Rwm::seeds(self.smc_step_sizes.unwrap_or(row.smc_rwm_step))),
            other => {
                return Err(SettingError::new(
                    "smc_move",
                    format!("unknown move `{other}` (mala, hmc or rwm)"),
                ));
            }
        };
        let resample = match self.smc_resample.as_str() {
            "systematic" => Scheme::Systematic,
            "multinomial" => Scheme::Multinomial,
            other => {
                return Err(SettingError::new(
                    "smc_resample",
                    format!("unknown scheme `{other}` (systematic or multinomial)"),
                ));
            }
        };
        let cfg = annealed::Config {
            base_std: self.sigma,
            schedule,
            moves,
            resample,
            ..annealed::Config::default()
        };
        let probe = annealed::Config {
            moves: Move::Mala,
            ..cfg
        };
        let msg = |e: amortise_kernel::Error| e.to_string();
        probe
            .validate()
            .map_err(|e| SettingError::new("temperatures", msg(e)))?;
        cfg.validate()
            .map_err(|e| SettingError::new("smc_step_sizes", msg(e)))?;
        Ok(cfg)
    }

    /// The buffer's MCMC augmentation (`None` without `buffer_mcmc_every`): the seeds' ALDP
    /// sizes ([`BufferMcmc::seeds`]; walkers at most the batch) where a `buffer_mcmc_*`
    /// setting is not given.
    pub fn buffer_mcmc(&self) -> Option<BufferMcmc> {
        let every = self.buffer_mcmc_every?;
        let s = BufferMcmc::seeds(self.buffer_mcmc_step.unwrap_or(defaults::BUFFER_MCMC_STEP));
        Some(BufferMcmc {
            every,
            walkers: self
                .buffer_mcmc_walkers
                .unwrap_or(s.walkers.min(u32::try_from(self.batch).unwrap_or(u32::MAX))),
            steps: self.buffer_mcmc_steps.unwrap_or(s.steps),
            thin: self.buffer_mcmc_thin.unwrap_or(s.thin),
            step_size: s.step_size,
            weights: match self.buffer_mcmc_weights.as_deref() {
                Some("resampled") => McmcWeights::Resampled,
                _ => McmcWeights::Inherit,
            },
        })
    }

    /// The kernel's training configuration (for the trained methods): `lr` for policy and
    /// flows, the schedule over `iters`.
    ///
    /// # Errors
    /// A method that is not trained, an unknown reference or priority.
    pub fn train_config(&self) -> Result<TrainConfig, SettingError> {
        let method = self.kernel_method().ok_or_else(|| {
            SettingError::new(
                "method",
                format!("`{}` is not a trained method", self.method),
            )
        })?;
        Ok(TrainConfig {
            method,
            process: self.process()?,
            steps: self.steps,
            batch: self.batch,
            hidden: self.hidden,
            harmonics: self.harmonics,
            flow_hidden: self.flow_hidden,
            net: self.net_form()?,
            policy: self.policy(),
            langevin: self.langevin,
            init_log_z_from_smc: self.init_log_z_smc,
            init_log_z_from_batch: self.init_log_z_batch || self.init_log_z_iw,
            init_log_z_iw: self.init_log_z_iw,
            smc: SmcConfig {
                chunk: self.chunk,
                ..SmcConfig::default()
            },
            particles: self.particles,
            buffer_capacity: self.buffer,
            buffer_priority: self.priority()?,
            buffer_weights: self.buffer_weights()?,
            exploration_decay: self.exploration_decay,
            low_reward: match (self.log_r_floor, self.log_r_clamp) {
                (Some(f), _) => LowReward::Mask(f),
                (None, Some(f)) => LowReward::Clamp(f),
                (None, None) => LowReward::Keep,
            },
            reward_anneal: match (self.anneal_reward, self.anneal_reward_iters) {
                (Some(start), Some(iters)) => RewardAnneal { start, iters },
                _ => RewardAnneal::OFF,
            },
            buffer_mcmc: self.buffer_mcmc(),
            buffer_reweight_every: self.buffer_reweight_every,
            prefill: self.prefill,
            lr_policy: self.lr,
            lr_flow: self.lr,
            lr_log_z: self.lr_log_z.unwrap_or(TrainConfig::default().lr_log_z),
            iterations: self.iters.max(1),
            ..TrainConfig::default()
        })
    }
}

/// Whether a count setting is 0 (serde: such settings are left out of the JSON).
#[cfg(feature = "serde")]
fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_target_and_method() {
        let r = RunConfig::new("gmm40", 2, "smc");
        assert_eq!(r.sigma, 20.0);
        assert_eq!(r.particles, defaults::SMC_PARTICLES);
        let r = RunConfig::new("manywell", 32, "rsmc");
        assert_eq!((r.sigma, r.particles), (1.0, defaults::PARTICLES));
        assert_eq!(RunConfig::new("gmm40-jax", 5, "rsmc").sigma, 20.0);
        assert_eq!(RunConfig::new("gmm40-jax", 50, "rsmc").sigma, 40.0);
        assert!(RunConfig::new("gmm40", 2, "smc").train_config().is_err());
    }

    #[test]
    fn the_annealed_configuration_follows_the_settings_and_the_target_row() {
        let mut r = RunConfig::new("funnel", 10, "smc");
        let c = r.annealed_config().unwrap();
        assert_eq!(c, annealed::Config::default());
        r.smc_schedule = "geometric".into();
        r.smc_move = "hmc".into();
        r.smc_resample = "multinomial".into();
        let c = r.annealed_config().unwrap();
        assert_eq!(c.schedule, Schedule::Geometric { temperatures: 128 });
        assert_eq!(c.moves, Move::Hmc(Hmc::seeds([0.001, 0.1])));
        assert_eq!(c.resample, Scheme::Multinomial);
        r.smc_move = "rwm".into();
        r.smc_step_sizes = Some([0.5, 0.25]);
        assert_eq!(
            r.annealed_config().unwrap().moves,
            Move::Rwm(Rwm::seeds([0.5, 0.25]))
        );
        r.smc_step_sizes = Some([0.5, -1.0]);
        assert_eq!(r.annealed_config().unwrap_err().key, "smc_step_sizes");
        r.smc_step_sizes = None;
        r.temperatures = 1;
        assert_eq!(r.annealed_config().unwrap_err().key, "temperatures");
        r.temperatures = 128;
        for (key, bad) in [
            ("smc_schedule", "linear"),
            ("smc_move", "nuts"),
            ("smc_resample", "residual"),
        ] {
            let mut b = r.clone();
            match key {
                "smc_schedule" => b.smc_schedule = bad.into(),
                "smc_move" => b.smc_move = bad.into(),
                _ => b.smc_resample = bad.into(),
            }
            assert_eq!(b.annealed_config().unwrap_err().key, key);
        }
    }

    #[test]
    fn the_kernel_configuration_follows_the_settings() {
        let mut r = RunConfig::playground();
        let c = r.train_config().unwrap();
        assert_eq!(c.method, Method::Rsmc);
        assert_eq!(c.process, Process::OrnsteinUhlenbeck { init_std: 20.0 });
        assert_eq!((c.lr_policy, c.lr_flow, c.iterations), (3e-3, 3e-3, 2000));
        assert_eq!(c.policy.noise_clip, 4.0);
        r.reference = "pinned".into();
        r.sigma = 2.0;
        let c = r.train_config().unwrap();
        assert_eq!(c.process, Process::PinnedBrownian { t_scale: 4.0 });
        assert_eq!(c.policy.noise_clip, 0.0);
        r.buffer_priority = "best".into();
        assert_eq!(r.train_config().unwrap_err().key, "buffer_priority");
        r.buffer_priority = "iw".into();
        r.buffer_weights = "seed".into();
        assert_eq!(r.train_config().unwrap_err().key, "buffer_weights");
        r.reference = "ou".into();
        let c = r.train_config().unwrap();
        assert_eq!(c.buffer_weights, BufferWeights::Seed);
        r.method = "tb-buffer".into();
        assert_eq!(r.train_config().unwrap_err().key, "buffer_weights");
        r.buffer_weights = "raw".into();
        assert_eq!(r.train_config().unwrap_err().key, "buffer_weights");
    }
}
