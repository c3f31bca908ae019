//! `amortise train`: trains a sampler (or runs the SMC baseline), evaluates it and writes
//! `metrics.jsonl`, `summary.json`, `samples.csv`, `checkpoint.json` and `samples.svg` into
//! the output folder. The trained diffusion methods (tb, tb-buffer, rsmc, rsmc-nobuffer) are
//! a [`crate::run_loop::Run`]; `--method teacher` and `--method vgs` hand over to their own
//! command files, which use the same loop.
//!
//! `config` resolves and checks the flags, `diffusion` is the trained methods' run, `smc`
//! the annealed baseline's single pass and `output` the files every method writes.

mod config;
mod diffusion;
mod output;
mod smc;

use amortise_kernel::targets::LogDensity;
use amortise_settings::defaults;

use super::{build_target, run_target};
use crate::cli::TrainArgs;
use crate::error::{CliError, CliResult};
use crate::run_config::Limits;
use config::discrete_args;
pub use config::{eval_every, resolve, validate_config};
pub(crate) use diffusion::resume;
use diffusion::run_trained;
pub(crate) use output::{eval_set, mark_reference, summary, write_outputs, write_samples};
use smc::run_smc;

/// Largest accepted batch, particle count or evaluation sample count (memory guard against
/// typos; [`Limits::CLI`]).
pub const MAX_BATCH: usize = Limits::CLI.max_batch;
/// Largest training arena, in 4-byte numbers (2 GiB).
pub const MAX_ARENA: usize = 1 << 29;

/// Runs the command.
pub fn run(a: &TrainArgs) -> CliResult<()> {
    if let Some(dir) = &a.run.resume.resume {
        let ch = super::resume::Changes {
            iters: a.run.iters.unwrap_or(0),
            threads: a.diffusion.threads,
            eval_reference: a.diffusion.eval_reference.clone(),
        };
        return super::resume::run(dir, &a.run.resume, ch, super::resume::Command::Train);
    }
    if super::discrete::ENVS.contains(&a.target.as_str()) {
        return super::discrete_run::run(&discrete_args(a)?);
    }
    if a.method != "smc"
        && let Some(flag) = a.smc.first_given()
    {
        return Err(CliError::flag(flag, "only used by --method smc"));
    }
    if matches!(a.method.as_str(), "vgs" | "teacher" | "smc")
        && let Some(flag) = trained_sampler_flag(a)
    {
        return Err(CliError::flag(
            flag,
            "only used by the trained samplers tb, tb-buffer, rsmc and rsmc-nobuffer",
        ));
    }
    if a.method == "vgs" {
        return run_vgs(a);
    }
    if a.method == "teacher" {
        return super::teacher_continuous::run(a);
    }
    let rc = resolve(a, build_target(&a.target, a.run.dim)?.dim())?;
    let target = run_target(&rc)?;
    if rc.method != "smc" {
        validate_config(&rc)?;
    } else if let Some(flag) = snapshot_flag(&a.run.resume) {
        return Err(CliError::flag(
            flag,
            "--method smc is one annealed SMC pass, not a training loop: it writes no resume \
             snapshot",
        ));
    }
    let out = a
        .run
        .out
        .clone()
        .unwrap_or_else(|| format!("out/{}-{}-s{}", rc.target, rc.method, rc.seed));
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::file(&out, format!("cannot create output folder: {e}")))?;
    if rc.method != "smc" {
        return run_trained(&rc, a, &target, &out).map(|_| ());
    }
    let result = run_smc(&rc, a, &target, &out)?;
    eprintln!("wrote {out}/summary.json, metrics.jsonl, samples.csv, samples.svg");
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    Ok(())
}

/// The first flag given that only the trained diffusion samplers (tb, tb-buffer, rsmc,
/// rsmc-nobuffer) use.
fn trained_sampler_flag(a: &TrainArgs) -> Option<&'static str> {
    let d = &a.diffusion;
    [
        (d.exploration != 0.0, "--exploration"),
        (d.exploration_decay.is_some(), "--exploration-decay"),
        (d.log_r_floor.is_some(), "--log-r-floor"),
        (d.log_r_clamp.is_some(), "--log-r-clamp"),
        (d.lr_log_z.is_some(), "--lr-log-z"),
        (d.anneal_reward.is_some(), "--anneal-reward"),
        (d.anneal_reward_iters.is_some(), "--anneal-reward-iters"),
        (d.buffer_mcmc_every.is_some(), "--buffer-mcmc-every"),
        (d.buffer_mcmc_walkers.is_some(), "--buffer-mcmc-walkers"),
        (d.buffer_mcmc_steps.is_some(), "--buffer-mcmc-steps"),
        (d.buffer_mcmc_thin.is_some(), "--buffer-mcmc-thin"),
        (d.buffer_mcmc_step.is_some(), "--buffer-mcmc-step"),
        (d.buffer_mcmc_weights.is_some(), "--buffer-mcmc-weights"),
        (d.buffer_reweight_every.is_some(), "--buffer-reweight-every"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

/// The first resume-snapshot flag given (`--checkpoint-every`, `--stop-at`), for the
/// methods without a training loop to refuse.
fn snapshot_flag(r: &crate::cli::ResumeArgs) -> Option<&'static str> {
    if r.checkpoint_every.is_some() {
        Some("--checkpoint-every")
    } else if r.stop_at.is_some() {
        Some("--stop-at")
    } else {
        None
    }
}

/// `--method vgs`: the VGS trainer of `train-vgs` (report B1), with the flags it shares.
fn run_vgs(a: &TrainArgs) -> CliResult<()> {
    if a.run.dim.is_some() {
        return Err(CliError::flag("--dim", "not used by --method vgs"));
    }
    if a.preset.is_some() {
        return Err(CliError::flag(
            "--preset",
            "not used by --method vgs (train-vgs has per-target presets)",
        ));
    }
    for (given, flag) in [
        (a.diffusion.aldp_reference.is_some(), "--aldp-reference"),
        (a.diffusion.aldp_scale.is_some(), "--aldp-scale"),
        (a.diffusion.aldp_seams.is_some(), "--aldp-seams"),
    ] {
        if given {
            return Err(CliError::flag(flag, "not used by --method vgs"));
        }
    }
    super::vgs::run_train(&vgs_args(a))
}

/// The `train-vgs` arguments that `train --method vgs` stands for.
pub fn vgs_args(a: &TrainArgs) -> crate::cli::TrainVgsArgs {
    crate::cli::TrainVgsArgs {
        target: a.target.clone(),
        iters: a.run.iters.unwrap_or(amortise_settings::vgs::ITERS),
        resume: a.run.resume.clone(),
        steps: a.diffusion.steps,
        batch: a.model.batch,
        hidden: Some(a.model.hidden.unwrap_or(defaults::WIDTH)),
        lr: a.model.lr,
        seed: a.run.seed,
        out: a.run.out.clone(),
        eval_every: a.run.eval_every,
        eval_samples: a
            .run
            .eval_samples
            .unwrap_or(amortise_settings::vgs::EVAL_SAMPLES),
        eval_noise: None,
        reference: None,
    }
}
