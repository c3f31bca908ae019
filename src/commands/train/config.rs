//! The flags of `amortise train` resolved into a [`RunConfig`] and checked.

use amortise_kernel::samplers::diffusion::train::Layout;
use amortise_kernel::targets::LogDensity;
use amortise_settings::presets;
use amortise_settings::rules::PAPER_TRUTH_ROWS;

use super::super::run_target;
use super::{MAX_ARENA, trained_sampler_flag};
use crate::cli::{TrainArgs, TrainDiscreteArgs};
use crate::error::{CliError, CliResult};
use crate::run_config::{Limits, RunConfig};
use crate::run_loop;

/// Resolves the arguments into a [`RunConfig`]: the settings layer's defaults
/// ([`RunConfig::new`]) overridden by the flags given, then its rules
/// ([`RunConfig::validate`] with [`Limits::CLI`]); the flags of other target kinds are
/// rejected by name.
pub fn resolve(a: &TrainArgs, dim: usize) -> CliResult<RunConfig> {
    if a.run.eval_every == Some(0) {
        return Err(CliError::flag("--eval-every", "must be at least 1"));
    }
    for (set, flag) in [
        (a.discrete.side.is_some(), "--side"),
        (a.discrete.replay_ratio.is_some(), "--replay-ratio"),
        (a.discrete.buffer_ess.is_some(), "--buffer-ess"),
        (
            a.discrete.resample_threshold.is_some(),
            "--resample-threshold",
        ),
        (a.discrete.subtb_weight.is_some(), "--subtb-weight"),
    ] {
        if set {
            return Err(CliError::flag(
                flag,
                "only used by the discrete targets (sequence, grid, deceptive-grid, ising)",
            ));
        }
    }
    if a.method != "smc"
        && let Some(flag) = a.smc.first_given()
    {
        return Err(CliError::flag(flag, "only used by --method smc"));
    }
    let d = match &a.preset {
        Some(name) => presets::preset(name, &a.target, dim, &a.method)?.run,
        None => RunConfig::new(&a.target, dim, &a.method),
    };
    let own_init =
        a.diffusion.init_log_z_smc || a.diffusion.init_log_z_batch || a.diffusion.init_log_z_iw;
    let smc_step_sizes = match &a.smc.smc_step_sizes {
        Some(text) => Some(step_sizes(text)?),
        None => d.smc_step_sizes,
    };
    let smc_schedule = a.smc.smc_schedule.clone().unwrap_or(d.smc_schedule.clone());
    if a.smc.temperatures.is_some() && smc_schedule != "geometric" {
        return Err(CliError::flag(
            "--temperatures",
            "only used by --smc-schedule geometric",
        ));
    }
    let rc = RunConfig {
        seed: a.run.seed,
        iters: a.run.iters.unwrap_or(d.iters),
        batch: a.model.batch.unwrap_or(d.batch),
        // rsmc-nobuffer trains on its particles: by default as many as the batch
        particles: a
            .diffusion
            .particles
            .unwrap_or(if a.method == "rsmc-nobuffer" {
                a.model.batch.unwrap_or(d.batch)
            } else {
                d.particles
            }),
        steps: a.diffusion.steps.unwrap_or(d.steps),
        reference: a.diffusion.reference.clone(),
        sigma: a.diffusion.sigma.unwrap_or(d.sigma),
        hidden: a.model.hidden.unwrap_or(d.hidden),
        flow_hidden: a.model.flow_hidden.unwrap_or(d.flow_hidden),
        harmonics: a.diffusion.harmonics.unwrap_or(d.harmonics),
        net: a.diffusion.net.clone().unwrap_or(d.net.clone()),
        learned_variance: a.diffusion.learned_variance,
        langevin: a.diffusion.langevin || d.langevin,
        // a log Z initialisation flag replaces the preset's (they exclude each other)
        init_log_z_smc: if own_init {
            a.diffusion.init_log_z_smc
        } else {
            d.init_log_z_smc
        },
        init_log_z_batch: if own_init {
            a.diffusion.init_log_z_batch
        } else {
            d.init_log_z_batch
        },
        init_log_z_iw: if own_init {
            a.diffusion.init_log_z_iw
        } else {
            d.init_log_z_iw
        },
        exploration: a.diffusion.exploration,
        exploration_decay: a.diffusion.exploration_decay.unwrap_or(d.exploration_decay),
        log_r_floor: a.diffusion.log_r_floor.or(d.log_r_floor),
        log_r_clamp: a.diffusion.log_r_clamp.or(d.log_r_clamp),
        lr_log_z: a.diffusion.lr_log_z.or(d.lr_log_z),
        anneal_reward: a.diffusion.anneal_reward.or(d.anneal_reward),
        anneal_reward_iters: a.diffusion.anneal_reward_iters.or(d.anneal_reward_iters),
        // 0 turns off an augmentation (a preset's); on a method without a buffer the rules
        // refuse it, as any value
        buffer_mcmc_every: match a.diffusion.buffer_mcmc_every {
            Some(0) if matches!(a.method.as_str(), "tb-buffer" | "rsmc") => None,
            given => given.or(d.buffer_mcmc_every),
        },
        buffer_mcmc_walkers: a.diffusion.buffer_mcmc_walkers.or(d.buffer_mcmc_walkers),
        buffer_mcmc_steps: a.diffusion.buffer_mcmc_steps.or(d.buffer_mcmc_steps),
        buffer_mcmc_thin: a.diffusion.buffer_mcmc_thin.or(d.buffer_mcmc_thin),
        buffer_mcmc_step: a.diffusion.buffer_mcmc_step.or(d.buffer_mcmc_step),
        buffer_mcmc_weights: a
            .diffusion
            .buffer_mcmc_weights
            .clone()
            .or(d.buffer_mcmc_weights.clone()),
        buffer_reweight_every: a
            .diffusion
            .buffer_reweight_every
            .unwrap_or(d.buffer_reweight_every),
        lr: a.model.lr.unwrap_or(d.lr),
        buffer: a.replay.buffer.unwrap_or(d.buffer),
        prefill: a.replay.prefill.unwrap_or(d.prefill),
        chunk: a.replay.chunk.unwrap_or(d.chunk),
        eval_samples: a.run.eval_samples.unwrap_or(d.eval_samples),
        eval_reference: preset_reference(a, &d),
        buffer_priority: a
            .replay
            .buffer_priority
            .clone()
            .unwrap_or(d.buffer_priority.clone()),
        buffer_weights: a
            .replay
            .buffer_weights
            .clone()
            .unwrap_or(d.buffer_weights.clone()),
        smc_schedule,
        temperatures: a.smc.temperatures.unwrap_or(d.temperatures),
        smc_move: a.smc.smc_move.clone().unwrap_or(d.smc_move.clone()),
        smc_step_sizes,
        smc_resample: a.smc.smc_resample.clone().unwrap_or(d.smc_resample.clone()),
        smc_samples: a.smc.smc_samples.clone().unwrap_or(d.smc_samples.clone()),
        aldp_scale: a
            .diffusion
            .aldp_scale
            .clone()
            .unwrap_or(d.aldp_scale.clone()),
        aldp_seams: a
            .diffusion
            .aldp_seams
            .clone()
            .unwrap_or(d.aldp_seams.clone()),
        ..d
    };
    rc.validate(&Limits::CLI)?;
    Ok(rc)
}

/// `--eval-reference`, else the preset's, except that a preset's `paper` (a set of 2000)
/// gives way to our exact set when `--eval-samples` asks for another count.
fn preset_reference(a: &TrainArgs, d: &RunConfig) -> String {
    if let Some(r) = &a.diffusion.eval_reference {
        return r.clone();
    }
    match a.run.eval_samples {
        Some(n) if d.eval_reference == "paper" && n != PAPER_TRUTH_ROWS => {
            eprintln!(
                "amortise: note: --eval-samples {n}: evaluating against our exact set (the \
                 seeds' set that --preset evaluates against has {PAPER_TRUTH_ROWS} points)"
            );
            "exact".into()
        }
        _ => d.eval_reference.clone(),
    }
}

/// `--smc-step-sizes A,B` (or one value for both).
fn step_sizes(text: &str) -> CliResult<[f32; 2]> {
    let bad = || {
        CliError::flag(
            "--smc-step-sizes",
            format!("expected two numbers A,B (or one), got `{text}`"),
        )
    };
    let v: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>().map_err(|_| bad()))
        .collect::<CliResult<_>>()?;
    match v[..] {
        [a] => Ok([a, a]),
        [a, b] => Ok([a, b]),
        _ => Err(bad()),
    }
}

/// The evaluation cadence: `--eval-every`, else the preset's, else a tenth of the run.
pub fn eval_every(a: &TrainArgs, rc: &RunConfig) -> CliResult<u32> {
    let preset = match &a.preset {
        Some(name) => Some(presets::preset(name, &rc.target, rc.dim, &rc.method)?.eval_every),
        None => None,
    };
    Ok(run_loop::eval_every(a.run.eval_every.or(preset), rc.iters))
}

/// `train --target ENV` for a discrete environment: the `train-discrete` arguments, with
/// the continuous-only flags rejected by name.
pub(super) fn discrete_args(a: &TrainArgs) -> CliResult<TrainDiscreteArgs> {
    let smc_flag = a.smc.first_given();
    let trained = trained_sampler_flag(a);
    for (set, flag) in [
        (a.diffusion.steps.is_some(), "--steps"),
        (a.diffusion.particles.is_some(), "--particles"),
        (a.diffusion.sigma.is_some(), "--sigma"),
        (a.diffusion.langevin, "--langevin"),
        (a.diffusion.init_log_z_smc, "--init-log-z-smc"),
        (a.diffusion.init_log_z_batch, "--init-log-z-batch"),
        (a.diffusion.init_log_z_iw, "--init-log-z-iw"),
        (a.diffusion.learned_variance, "--learned-variance"),
        (trained.is_some(), trained.unwrap_or_default()),
        (a.diffusion.reference != "ou", "--reference"),
        (a.diffusion.harmonics.is_some(), "--harmonics"),
        (a.diffusion.net.is_some(), "--net"),
        (a.diffusion.eval_reference.is_some(), "--eval-reference"),
        (a.preset.is_some(), "--preset"),
        (a.diffusion.threads != 1, "--threads"),
        (a.diffusion.grad_chunks.is_some(), "--grad-chunks"),
        (a.replay.buffer_weights.is_some(), "--buffer-weights"),
        (a.diffusion.aldp_reference.is_some(), "--aldp-reference"),
        (a.diffusion.aldp_scale.is_some(), "--aldp-scale"),
        (a.diffusion.aldp_seams.is_some(), "--aldp-seams"),
        (smc_flag.is_some(), smc_flag.unwrap_or_default()),
    ] {
        if set {
            return Err(CliError::flag(
                flag,
                format!(
                    "not used by the discrete target `{}` (discrete rsmc uses --batch particles; \
                     exploration is --epsilon)",
                    a.target
                ),
            ));
        }
    }
    Ok(TrainDiscreteArgs {
        env: a.target.clone(),
        method: a.method.clone(),
        run: a.run.clone(),
        model: a.model.clone(),
        replay: a.replay.clone(),
        discrete: a.discrete.clone(),
    })
}

/// Checks a stored run configuration (from a checkpoint) by the same rules as the flags:
/// the target must exist with this dimension, [`resolve`] must accept the settings and
/// give back the same configuration, and the method must be a trained one.
pub fn validate_config(rc: &RunConfig) -> CliResult<()> {
    let target = run_target(rc)?;
    // Start from the flags' own defaults (the discrete-only flags included), then set
    // every flag the stored configuration records.
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        args: TrainArgs,
    }
    let mut args = <Flags as clap::Parser>::try_parse_from(["train", "--target", &rc.target])
        .map_err(|_| CliError::flag("--target", "cannot be parsed back"))?
        .args;
    args.run.dim = Some(rc.dim);
    args.method = rc.method.clone();
    args.run.iters = Some(rc.iters);
    args.model.batch = Some(rc.batch);
    args.diffusion.particles = Some(rc.particles);
    args.diffusion.steps = Some(rc.steps);
    args.run.seed = rc.seed;
    args.run.eval_samples = Some(rc.eval_samples);
    args.diffusion.eval_reference = Some(rc.eval_reference.clone());
    args.diffusion.reference = rc.reference.clone();
    args.diffusion.sigma = Some(rc.sigma);
    args.model.hidden = Some(rc.hidden);
    args.model.flow_hidden = Some(rc.flow_hidden);
    args.diffusion.harmonics = Some(rc.harmonics);
    args.diffusion.net = Some(rc.net.clone());
    args.diffusion.learned_variance = rc.learned_variance;
    args.diffusion.langevin = rc.langevin;
    args.diffusion.init_log_z_smc = rc.init_log_z_smc;
    args.diffusion.init_log_z_batch = rc.init_log_z_batch;
    args.diffusion.init_log_z_iw = rc.init_log_z_iw;
    args.diffusion.exploration = rc.exploration;
    args.diffusion.exploration_decay = Some(rc.exploration_decay);
    args.diffusion.log_r_floor = rc.log_r_floor;
    args.diffusion.log_r_clamp = rc.log_r_clamp;
    args.diffusion.lr_log_z = rc.lr_log_z;
    args.diffusion.anneal_reward = rc.anneal_reward;
    args.diffusion.anneal_reward_iters = rc.anneal_reward_iters;
    args.diffusion.buffer_mcmc_every = rc.buffer_mcmc_every;
    args.diffusion.buffer_mcmc_walkers = rc.buffer_mcmc_walkers;
    args.diffusion.buffer_mcmc_steps = rc.buffer_mcmc_steps;
    args.diffusion.buffer_mcmc_thin = rc.buffer_mcmc_thin;
    args.diffusion.buffer_mcmc_step = rc.buffer_mcmc_step;
    args.diffusion.buffer_mcmc_weights = rc.buffer_mcmc_weights.clone();
    args.diffusion.buffer_reweight_every = Some(rc.buffer_reweight_every);
    args.model.lr = Some(rc.lr);
    args.replay.buffer = Some(rc.buffer);
    args.replay.buffer_priority = Some(rc.buffer_priority.clone());
    args.replay.buffer_weights = Some(rc.buffer_weights.clone());
    args.diffusion.aldp_scale = Some(rc.aldp_scale.clone());
    args.diffusion.aldp_seams = Some(rc.aldp_seams.clone());
    args.replay.prefill = Some(rc.prefill);
    args.replay.chunk = Some(rc.chunk);
    let again = resolve(&args, target.dim())?;
    if &again != rc {
        return Err(CliError::flag("--dim", "does not match the target"));
    }
    let cfg = rc.train_config()?;
    let layout = Layout::new(&cfg, target.dim())
        .map_err(|e| CliError::kernel("training configuration", e))?;
    // each flag is bounded, but their product used to reach terabytes and abort on
    // allocation failure (`--batch 100000 --steps 10000`; tests/robustness_cli.rs)
    let total = layout.f32_len.saturating_add(layout.u32_len);
    if total > MAX_ARENA {
        return Err(CliError::flag(
            "--batch",
            format!(
                "these settings need {total} numbers of training memory (limit {MAX_ARENA}); reduce --batch, --particles, --steps, --hidden or --buffer"
            ),
        ));
    }
    Ok(())
}
