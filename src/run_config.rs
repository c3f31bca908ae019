//! The serialisable description of a training run: what the CLI was asked for, with every
//! default resolved. It is written into checkpoints and summaries so a run can be rebuilt
//! and reproduced exactly (`amortise sample`, `amortise train --seed`).

use amortise_kernel::buffer::Priority;
use amortise_kernel::samplers::diffusion::policy::PolicyConfig;
use amortise_kernel::samplers::diffusion::reference::Process;
use amortise_kernel::samplers::diffusion::smc::SmcConfig;
use amortise_kernel::samplers::diffusion::train::{Config as TrainConfig, Method};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// Method names accepted by `--method`.
pub const METHODS: [&str; 6] = ["tb", "tb-buffer", "rsmc", "smc", "vgs", "teacher"];

/// A resolved run description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Target name.
    pub target: String,
    /// Target dimension.
    pub dim: usize,
    /// `tb`, `tb-buffer`, `rsmc`, `smc` or `teacher`.
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
    /// Learnt variance.
    pub learned_variance: bool,
    /// Langevin-preconditioned drift.
    #[serde(default)]
    pub langevin: bool,
    /// rsmc: learnt `log Z` starts at the prefill SMC estimate.
    #[serde(default)]
    pub init_log_z_smc: bool,
    /// Learnt `log Z` starts at the mean log weight of one on-policy batch.
    #[serde(default)]
    pub init_log_z_batch: bool,
    /// Exploration standard deviation.
    pub exploration: f32,
    /// Policy learning rate.
    pub lr: f32,
    /// Replay buffer capacity.
    pub buffer: usize,
    /// SMC runs that prefill the buffer (rsmc).
    pub prefill: u32,
    /// SMC chunk length L.
    pub chunk: usize,
    /// Samples per evaluation.
    pub eval_samples: usize,
    /// Buffer priority: `iw` (importance weights, RSMC), `reward` (rank-based), `uniform`.
    #[serde(default = "default_priority")]
    pub buffer_priority: String,
}

fn default_priority() -> String {
    "iw".into()
}

/// Default sigma of the reference process per target (RSMC's `init_std` where the paper
/// gives one, `rsmc.md` §2.1; otherwise about the target's spread).
pub fn default_sigma(target: &str) -> f32 {
    match target {
        "gmm40" => 20.0,
        "25gmm" => 10.0,
        "9gmm" => 5.0,
        "corr-gaussian" => 2.0,
        "dw4" => 2.0,
        _ => 1.0,
    }
}

impl RunConfig {
    /// The kernel method.
    pub fn kernel_method(&self) -> Option<Method> {
        match self.method.as_str() {
            "tb" => Some(Method::Tb),
            "tb-buffer" => Some(Method::TbBuffer),
            "rsmc" => Some(Method::Rsmc),
            // the continuous teacher's student is a TB policy with the same parameter layout
            // `[policy | log Z]` (checkpoints load with `amortise sample`)
            "teacher" => Some(Method::Tb),
            _ => None,
        }
    }

    /// The reference process.
    pub fn process(&self) -> CliResult<Process> {
        match self.reference.as_str() {
            "ou" => Ok(Process::OrnsteinUhlenbeck {
                init_std: self.sigma,
            }),
            "pinned" => Ok(Process::PinnedBrownian {
                t_scale: self.sigma * self.sigma,
            }),
            other => Err(CliError::flag(
                "--reference",
                format!("unknown reference `{other}` (ou or pinned)"),
            )),
        }
    }

    /// The policy settings.
    pub fn policy(&self) -> PolicyConfig {
        PolicyConfig {
            learned_variance: self.learned_variance,
            exploration_std: self.exploration,
            noise_clip: if self.reference == "ou" { 4.0 } else { 0.0 },
            ..PolicyConfig::default()
        }
    }

    /// The kernel training configuration (for the trained methods).
    pub fn train_config(&self) -> CliResult<TrainConfig> {
        let method = self.kernel_method().ok_or_else(|| {
            CliError::flag(
                "--method",
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
            policy: self.policy(),
            langevin: self.langevin,
            init_log_z_from_smc: self.init_log_z_smc,
            init_log_z_from_batch: self.init_log_z_batch,
            smc: SmcConfig {
                chunk: self.chunk,
                ..SmcConfig::default()
            },
            particles: self.particles,
            buffer_capacity: self.buffer,
            buffer_priority: match self.buffer_priority.as_str() {
                "iw" => Priority::ImportanceWeight { target_ess: 0.05 },
                "reward" => Priority::RewardRank { rank_weight: 0.01 },
                "uniform" => Priority::Uniform,
                other => {
                    return Err(CliError::flag(
                        "--buffer-priority",
                        format!("unknown priority `{other}` (iw, reward or uniform)"),
                    ));
                }
            },
            prefill: self.prefill,
            lr_policy: self.lr,
            lr_flow: self.lr,
            iterations: self.iters.max(1),
            ..TrainConfig::default()
        })
    }
}
