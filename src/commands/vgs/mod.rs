//! `amortise train-vgs`: trains the Value Gradient Sampler (Yoon et al. 2025) on a target,
//! evaluates it and writes `metrics.jsonl`, `summary.json`, `samples.csv`, `samples.svg`
//! and `checkpoint.json` (the same files as `amortise train`); and
//! `amortise vgs-reference`: long MALA runs that make the DW-4 / LJ-13 reference samples.
//!
//! `eval` scores a sampler's draws, `run` is the trainer the run loop drives, `reference`
//! the `vgs-reference` command and `table` `amortise experiment vgs-table`; this file holds
//! the settings and the checkpoint's shape.

mod eval;
mod reference;
mod run;
mod table;

use amortise_kernel::rng;
use amortise_kernel::samplers::vgs::{self, Config, Draw, Layout, Views};
use amortise_kernel::targets::{LogDensity, Target};
use amortise_settings::{Limits, VgsRunConfig};

use super::build_target;
use super::resume::Then;
use crate::checkpoint::{Checkpoint, Group};
use crate::cli::TrainVgsArgs;
use crate::error::{CliError, CliResult};
use crate::snapshot::Snapshot;
pub use eval::{VgsEval, evaluate, reference};
pub use reference::run_reference;
use run::start;
pub use table::vgs_table;

/// The settings layer's form of the flags.
pub fn run_config(a: &TrainVgsArgs) -> VgsRunConfig {
    VgsRunConfig {
        target: a.target.clone(),
        seed: a.seed,
        iters: a.iters,
        steps: a.steps,
        batch: a.batch,
        hidden: a.hidden,
        lr: a.lr,
        eval_samples: a.eval_samples,
        eval_noise: a.eval_noise,
    }
}

/// Resolves the flags into a kernel configuration (the settings layer's, with the CLI's
/// limits).
pub fn config(a: &TrainVgsArgs) -> CliResult<Config> {
    Ok(run_config(a).config(&Limits::CLI)?)
}

/// The trainer's views over the run's arenas (carved on each call).
fn views<'a>(layout: &Layout, fa: &'a mut [f32], ua: &'a mut [u32]) -> CliResult<Views<'a>> {
    Views::new(layout, fa, ua).map_err(|e| CliError::kernel("vgs arenas", e))
}

/// Largest VGS arena a checkpoint may ask for, in 4-byte numbers (2 GiB).
pub const MAX_ARENA: usize = 1 << 29;

/// The resolved settings of a `train-vgs` run, as a checkpoint stores them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VgsSettings {
    /// Target name.
    pub target: String,
    /// Training iterations.
    pub iters: u32,
    /// Random seed.
    pub seed: u64,
    /// Steps `T`.
    pub steps: usize,
    /// Batch `B`.
    pub batch: usize,
    /// Hidden width of the value network.
    pub hidden: usize,
    /// Value learning rate.
    pub lr: f32,
    /// Noise scale `ν` of the evaluation samples (and of `amortise sample`).
    pub eval_noise: f32,
    /// Samples per evaluation.
    pub eval_samples: usize,
}

impl VgsSettings {
    /// The `train-vgs` arguments these settings stand for.
    pub fn args(&self) -> TrainVgsArgs {
        TrainVgsArgs {
            target: self.target.clone(),
            iters: self.iters,
            steps: Some(self.steps),
            batch: Some(self.batch),
            hidden: Some(self.hidden),
            lr: Some(self.lr),
            seed: self.seed,
            out: None,
            eval_every: None,
            eval_samples: self.eval_samples,
            eval_noise: Some(self.eval_noise),
            reference: None,
            resume: Default::default(),
        }
    }
}

/// Everything `run_train` checks before working: the target, the kernel configuration,
/// `--eval-samples` and the evaluation noise `ν`.
fn check(a: &TrainVgsArgs) -> CliResult<(Target, Config, Layout, f32)> {
    let target = build_target(&a.target, None)?;
    let rc = run_config(a);
    let cfg = rc.config(&Limits::CLI)?;
    let layout =
        Layout::new(&cfg, target.dim()).map_err(|e| CliError::kernel("vgs configuration", e))?;
    Ok((target, cfg, layout, rc.eval_noise()))
}

/// The checkpoint groups of a VGS run with these settings (`value`, `value_target`,
/// `log_sigma`), after checking the settings by the flags' rules.
///
/// # Errors
/// The flag error `train-vgs` would give, or settings whose arena is too large.
pub fn checkpoint_groups(s: &VgsSettings) -> CliResult<Vec<(&'static str, usize)>> {
    let (_, cfg, layout, _) = check(&s.args())?;
    if (cfg.steps, cfg.batch, cfg.hidden, cfg.lr.to_bits())
        != (s.steps, s.batch, s.hidden, s.lr.to_bits())
    {
        return Err(CliError::flag("--steps", "settings do not round-trip"));
    }
    let total = layout.f32_len.saturating_add(layout.u32_len);
    if total > MAX_ARENA {
        return Err(CliError::flag(
            "--batch",
            format!("these settings need {total} numbers of memory (limit {MAX_ARENA})"),
        ));
    }
    let n = layout.n_params;
    Ok(vec![("value", n), ("value_target", n), ("log_sigma", 1)])
}

/// Draws `n` samples (`ν` = the run's evaluation noise, the configuration's final noise, as
/// `train-vgs` draws its final samples) from a VGS checkpoint; returns them and the
/// dimension.
///
/// # Errors
/// Settings or groups that do not rebuild the sampler (checked when loading), kernel errors.
pub fn sample_checkpoint(
    s: &VgsSettings,
    ck: &Checkpoint,
    n: usize,
    seed: u64,
) -> CliResult<(Vec<f32>, usize)> {
    let (target, cfg, layout, nu) = check(&s.args())?;
    let d = target.dim();
    super::sample::check_values(n, d)?;
    let (mut fa, mut ua) = (vec![0.0f32; layout.f32_len], vec![0u32; layout.u32_len]);
    let mut v = views(&layout, &mut fa, &mut ua)?;
    restore(&mut v, ck, "value", "value_target")?;
    let (mut xs, mut lw) = (vec![0.0f32; n * d], vec![0.0f32; n]);
    let draw = Draw {
        nu,
        final_noise: cfg.final_noise,
        out: &mut xs,
        log_w: &mut lw,
    };
    let mut r = rng::seeded(seed);
    vgs::sample(&cfg, &mut v, &target, draw, &mut r)
        .map_err(|e| CliError::kernel("sampling", e))?;
    Ok((xs, d))
}

/// Restores the value network, its EMA target and `log σ_init` from the checkpoint groups
/// `value`, `target` and `log_sigma`.
pub fn restore(v: &mut Views<'_>, ck: &Checkpoint, value: &str, target: &str) -> CliResult<()> {
    let missing = |g: &str| CliError::file("checkpoint", format!("no `{g}` parameter group"));
    let p = ck.group(value).ok_or_else(|| missing(value))?;
    let t = ck.group(target).ok_or_else(|| missing(target))?;
    let ls = ck
        .group("log_sigma")
        .and_then(|g| g.first().copied())
        .ok_or_else(|| missing("log_sigma"))?;
    vgs::restore(v, p, t, ls).map_err(|e| CliError::kernel("restoring the checkpoint", e))
}

/// The value network, its EMA target and `log σ_init`, as checkpoint groups and parameters.
pub fn groups(v: &Views<'_>, value: &str, target: &str) -> (Vec<Group>, Vec<f32>) {
    let mut params = v.model.params.to_vec();
    params.extend_from_slice(v.target);
    params.push(v.log_sigma());
    let n = v.model.params.len();
    (
        vec![
            Group::new(value, n),
            Group::new(target, v.target.len()),
            Group::new("log_sigma", 1),
        ],
        params,
    )
}

/// Runs `amortise train-vgs` (and `train --method vgs`) through [`crate::run_loop`].
pub fn run_train(a: &TrainVgsArgs) -> CliResult<()> {
    if let Some(dir) = &a.resume.resume {
        let ch = super::resume::Changes {
            iters: a.iters,
            threads: 1,
            eval_reference: None,
        };
        return super::resume::run(dir, &a.resume, ch, super::resume::Command::TrainVgs);
    }
    start(a)
}

/// Rebuilds a VGS run (settings `s`, iterations to run included) in `out`, restores it from
/// its snapshot `sn` and hands it to `f`.
pub(super) fn resume<T>(s: &VgsSettings, sn: &Snapshot, out: &str, f: Then<'_, T>) -> CliResult<T> {
    let mut a = s.args();
    a.reference = sn.launch.reference.clone();
    run::resumed(&a, sn, out, f)
}
