//! `amortise train`: trains a sampler (or runs the SMC baseline), evaluates it and writes
//! `metrics.jsonl`, `summary.json`, `samples.csv`, `checkpoint.json` and `samples.svg` into
//! the output folder. The trained diffusion methods (tb, tb-buffer, rsmc, rsmc-nobuffer) are a
//! [`Run`] of [`crate::run_loop`]; `--method teacher` and `--method vgs` hand over to their
//! own command files, which use the same loop.

use std::time::Instant;

use amortise_kernel::rng::{self, uniform_f64};
use amortise_kernel::samplers::diffusion::train::{self, Layout, Views};
use amortise_kernel::smc::annealed;
use amortise_kernel::smc::resample::{Scheme, resample};
use amortise_kernel::targets::{LogDensity, Target};
use amortise_settings::{defaults, presets};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{build_target, json_num, run_target};
use crate::checkpoint::{Checkpoint, Group, RunSettings, TrainerState};
use crate::cli::{TrainArgs, TrainDiscreteArgs};
use crate::counted::{Counted, Evals};
use crate::csv::{self, write_atomic};
use crate::error::{CliError, CliResult};
use crate::eval::{self, EvalSet, Evaluation};
use crate::plot;
use crate::run_config::{Limits, RunConfig};
use crate::run_loop::{self, At, Metrics, Outcome, Run, opt};
use crate::snapshot::{self, Buffers, Launch, Snapshot};

/// Largest accepted batch, particle count or evaluation sample count (memory guard against
/// typos; [`Limits::CLI`]).
pub const MAX_BATCH: usize = Limits::CLI.max_batch;
/// Largest training arena, in 4-byte numbers (2 GiB).
pub const MAX_ARENA: usize = 1 << 29;

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
        buffer_mcmc_every: a.diffusion.buffer_mcmc_every.or(d.buffer_mcmc_every),
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
fn discrete_args(a: &TrainArgs) -> CliResult<TrainDiscreteArgs> {
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
    args.diffusion.reference = rc.reference.clone();
    args.diffusion.sigma = Some(rc.sigma);
    args.model.hidden = Some(rc.hidden);
    args.model.flow_hidden = Some(rc.flow_hidden);
    args.diffusion.harmonics = Some(rc.harmonics);
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

/// Runs the command.
pub fn run(a: &TrainArgs) -> CliResult<()> {
    if let Some(dir) = &a.run.resume.resume {
        let ch = super::resume::Changes {
            iters: a.run.iters.unwrap_or(0),
            threads: a.diffusion.threads,
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

pub(super) fn summary(
    rc: &RunConfig,
    target: &Target,
    seconds: f64,
    ev: &Evaluation,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut v = json!({
        "target": rc.target,
        "dim": rc.dim,
        "method": rc.method,
        "seed": rc.seed,
        "iters": if rc.method == "smc" { 0 } else { rc.iters },
        "seconds": seconds,
        "log_z_estimate": json_num(ev.log_z_is),
        "log_z_true": target.log_z().map(json_num),
        "elbo": json_num(ev.elbo),
        "eubo": ev.eubo.map(json_num),
        "sinkhorn": ev.sinkhorn.map(json_num),
        "sinkhorn_converged": ev.sinkhorn_converged,
        "sinkhorn_paper": ev.sinkhorn_paper.map(json_num),
        "mmd": ev.mmd.map(json_num),
        "ess": json_num(ev.ess),
        "emc": ev.emc.map(json_num),
        "config": rc,
    });
    if let (Some(obj), Some(a)) = (v.as_object_mut(), &ev.aldp) {
        obj.insert("aldp".into(), json!(a));
    }
    if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in more {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

pub(super) fn write_outputs(
    out: &str,
    rc: &RunConfig,
    target: &Target,
    set: &EvalSet,
    summary: &serde_json::Value,
    samples: &[f32],
) -> CliResult<()> {
    let path = format!("{out}/summary.json");
    write_atomic(
        &path,
        serde_json::to_string_pretty(summary)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write_samples(out, rc, target, set, samples)
}

/// `samples.csv` and `samples.svg` of a run; on aldp also `samples.pdb` and
/// `ramachandran.svg` ([`crate::aldp::write_outputs`]).
pub(super) fn write_samples(
    out: &str,
    rc: &RunConfig,
    target: &Target,
    set: &EvalSet,
    samples: &[f32],
) -> CliResult<()> {
    csv::write(&format!("{out}/samples.csv"), samples, rc.dim)?;
    let title = format!("{} on {} (seed {})", rc.method, rc.target, rc.seed);
    plot::samples_svg(&format!("{out}/samples.svg"), target, samples, &title)?;
    match &set.aldp {
        Some(a) => crate::aldp::write_outputs(a, out, samples, &title),
        None => Ok(()),
    }
}

/// The evaluation set of a run: [`EvalSet::new`], with the aldp reference file of
/// `--aldp-reference` (kept in the snapshot's launch settings, so a resumed run reads it
/// again) when given.
pub(super) fn eval_set(
    target: &Target,
    rc: &RunConfig,
    aldp_reference: Option<&str>,
) -> CliResult<EvalSet> {
    let set = EvalSet::new(target, rc.eval_samples)?;
    match aldp_reference {
        Some(path) => set.with_aldp_reference(path),
        None => Ok(set),
    }
}

/// `train --method tb | tb-buffer | rsmc`: the diffusion trainer, driven by
/// [`crate::run_loop`]. Owns the arenas and the kernel's `State`; the views are carved
/// on each call.
struct DiffusionRun<'t> {
    rc: RunConfig,
    cfg: train::Config,
    layout: Layout,
    fa: Vec<f32>,
    ua: Vec<u32>,
    st: train::State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    set: EvalSet,
    target: &'t Target,
    chunked: Option<crate::parallel::ChunkedTb>,
    out: String,
    last: Option<train::Info>,
    last_smc: (f64, f64),
    last_ess: f64,
    masked: u64,
    evals: EvalCount,
    /// The last buffer augmentation's MALA acceptance (NaN before one; not in snapshots).
    last_mcmc: f32,
}

/// The target evaluations a trained run has spent in training (prefill, steps; not the
/// evaluations), counted from iteration `from` (0, or the iteration a run written before
/// the count existed was resumed at).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct EvalCount {
    evals: Evals,
    from: u32,
}

impl EvalCount {
    fn json(&self) -> serde_json::Value {
        let mut v = self.evals.json();
        if let Some(o) = v.as_object_mut() {
            o.insert("from_iteration".into(), json!(self.from));
        }
        v
    }
}

impl<'t> DiffusionRun<'t> {
    /// Builds the trainer (initialised), its evaluation set and (for `launch.grad_chunks`)
    /// the chunked runner; a new run then calls [`DiffusionRun::prefill`], a resumed one
    /// [`Run::restore`].
    fn new(rc: &RunConfig, launch: &Launch, target: &'t Target, out: &str) -> CliResult<Self> {
        let cfg = rc.train_config()?;
        let d = target.dim();
        let layout =
            Layout::new(&cfg, d).map_err(|e| CliError::kernel("training configuration", e))?;
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(rc.seed);
        let st = {
            let mut v = Views::new(&layout, &mut fa, &mut ua)
                .map_err(|e| CliError::kernel("building the trainer", e))?;
            train::init(&cfg, &layout, &mut v, &mut r)
                .map_err(|e| CliError::kernel("building the trainer", e))?
        };
        let set = eval_set(target, rc, launch.reference.as_deref())?;
        let eval_rng = rng::seeded(rc.seed ^ 0x5eed_e7a1);
        let chunked = match launch.grad_chunks {
            Some(chunks) => Some(
                crate::parallel::ChunkedTb::new(&cfg, &layout, chunks, launch.threads)
                    .map_err(|e| CliError::kernel("--threads/--grad-chunks", e))?,
            ),
            None => None,
        };
        Ok(DiffusionRun {
            rc: rc.clone(),
            cfg,
            layout,
            fa,
            ua,
            st,
            r,
            eval_rng,
            set,
            target,
            chunked,
            out: out.to_string(),
            last: None,
            last_smc: (f64::NAN, f64::NAN),
            last_ess: f64::NAN,
            masked: 0,
            evals: EvalCount::default(),
            last_mcmc: f32::NAN,
        })
    }

    /// The first phase of a new run: the rsmc prefill and the `log Z` initialisations.
    fn prefill(&mut self) -> CliResult<()> {
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        let target = Counted::new(self.target);
        let done = match self.chunked.as_mut() {
            Some(c) => c.prefill(&self.cfg, &mut self.st, &mut v, &target, &mut self.r),
            None => train::prefill(&self.cfg, &mut self.st, &mut v, &target, &mut self.r),
        };
        self.evals.evals = self.evals.evals + target.evals();
        done.map_err(|e| CliError::kernel("prefilling the buffer", e))?;
        Ok(())
    }

    fn log_z(&self) -> f32 {
        self.layout.log_z(self.layout.params(&self.fa))
    }

    fn last_loss(&self) -> f32 {
        self.last.map_or(f32::NAN, |i| i.tb_loss)
    }

    fn eval(&mut self, full: bool) -> CliResult<Evaluation> {
        let tp = eval::TrainedPolicy {
            cfg: &self.cfg.policy,
            process: self.cfg.process,
            steps: self.cfg.steps,
            net: &self.layout.net,
            params: self.layout.policy(self.layout.params(&self.fa)),
        };
        eval::evaluate(tp, self.target, &self.set, full, &mut self.eval_rng)
    }
}

/// What a diffusion run carries from one step to the next (the body of its resume
/// snapshot).
#[derive(Serialize, Deserialize)]
struct Saved {
    st: train::State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    buffers: Buffers,
    last: Option<train::Info>,
    last_smc: (f64, f64),
    last_ess: f64,
    masked: u64,
}

impl Run for DiffusionRun<'_> {
    fn step(&mut self, it: u32) -> CliResult<()> {
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        let (cfg, st, r) = (&self.cfg, &mut self.st, &mut self.r);
        let target = Counted::new(self.target);
        let info = match self.chunked.as_mut() {
            Some(c) => c.step(cfg, st, &mut v, &target, r),
            None => train::step(cfg, st, &mut v, &target, r),
        };
        self.evals.evals = self.evals.evals + target.evals();
        let info = info.map_err(|e| CliError::kernel(format!("training step {it}"), e))?;
        self.masked += info.masked as u64;
        if info.mcmc_inserted > 0 {
            self.last_mcmc = info.mcmc_acceptance;
        }
        if info.smc_log_z.is_finite() {
            self.last_smc = (info.smc_log_z, info.smc_ess);
        }
        self.last = Some(info);
        Ok(())
    }

    fn status(&self) -> String {
        // ESS: of the last evaluation ("–" before the first); rsmc adds its last SMC pass.
        let smc = if self.last_smc.0.is_finite() {
            format!(
                "  smc log Ẑ {} ess {}",
                opt(self.last_smc.0, 2),
                opt(self.last_smc.1, 3)
            )
        } else {
            String::new()
        };
        let mcmc = if self.last_mcmc.is_finite() {
            format!("  mcmc acc {:.3}", self.last_mcmc)
        } else {
            String::new()
        };
        format!(
            "loss {:.4}  log Z {:.3}  ess {}{smc}{mcmc}",
            self.last_loss(),
            self.log_z(),
            opt(self.last_ess, 3)
        )
    }

    fn evaluate(&mut self, at: At) -> CliResult<serde_json::Value> {
        let ev = self.eval(false)?;
        self.last_ess = ev.ess;
        let (tb, subtb, buffer) = self.last.map_or((f32::NAN, f32::NAN, 0), |i| {
            (i.tb_loss, i.subtb_loss, i.buffer_len)
        });
        let mut v = json!({
            "iteration": at.iteration,
            "seconds": at.seconds,
            "tb_loss": json_num(tb as f64),
            "subtb_loss": json_num(subtb as f64),
            "log_z_learnt": json_num(self.log_z() as f64),
            "log_z_is": json_num(ev.log_z_is),
            "elbo": json_num(ev.elbo),
            "eubo": ev.eubo.map(json_num),
            "ess": json_num(ev.ess),
            "mmd": ev.mmd.map(json_num),
            "sinkhorn_paper": ev.sinkhorn_paper.map(json_num),
            "emc": ev.emc.map(json_num),
            "smc_log_z": json_num(self.last_smc.0),
            "smc_ess": json_num(self.last_smc.1),
            "buffer": buffer,
            "masked_samples": self.masked,
            "skipped_steps": self.st.optim.skipped,
            "target_evals": self.evals.json(),
        });
        if let (Some(o), Some(a)) = (v.as_object_mut(), &ev.aldp) {
            o.insert("aldp".into(), json!(a));
        }
        if let (Some(o), true) = (v.as_object_mut(), self.last_mcmc.is_finite()) {
            o.insert(
                "buffer_mcmc_acceptance".into(),
                json_num(self.last_mcmc as f64),
            );
        }
        Ok(v)
    }

    fn checkpoint(&mut self) -> CliResult<Checkpoint> {
        let l = &self.layout;
        let st = &self.st;
        let mut counters = std::collections::BTreeMap::new();
        counters.insert("smc_runs".to_string(), st.smc_runs as u64);
        counters.insert("buffer_len".to_string(), st.buffer.len as u64);
        Ok(Checkpoint::new(
            RunSettings::Diffusion(self.rc.clone()),
            TrainerState {
                iteration: st.iteration,
                optim_steps: st.optim.adam.t,
                skipped_steps: st.optim.skipped,
                counters,
            },
            vec![
                Group::new("policy", l.policy_params),
                Group::new("flows", l.flow_params),
                Group::new("log_z", 1),
            ],
            l.params(&self.fa).to_vec(),
        ))
    }

    fn settings(&self) -> RunSettings {
        RunSettings::Diffusion(self.rc.clone())
    }

    fn save(&mut self) -> CliResult<Vec<u8>> {
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        // the count follows the state, so that snapshots written before it existed
        // (a `Saved` alone) still decode
        let mut body = snapshot::encode(&Saved {
            st: self.st,
            r: self.r.clone(),
            eval_rng: self.eval_rng.clone(),
            buffers: Buffers::save(|f| v.carried(f)),
            last: self.last,
            last_smc: self.last_smc,
            last_ess: self.last_ess,
            masked: self.masked,
        })?;
        body.extend(snapshot::encode(&self.evals)?);
        Ok(body)
    }

    fn restore(&mut self, body: &[u8]) -> CliResult<()> {
        let (s, rest): (Saved, _) = snapshot::decode_prefix(&self.out, body)?;
        self.evals = if rest.is_empty() {
            EvalCount {
                evals: Evals::default(),
                from: s.st.iteration,
            }
        } else {
            snapshot::decode(&self.out, rest)?
        };
        snapshot::clear(&mut self.fa, &mut self.ua);
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        s.buffers.restore(&self.out, |f| v.carried(f))?;
        (self.st, self.r, self.eval_rng) = (s.st, s.r, s.eval_rng);
        (self.last, self.last_smc) = (s.last, s.last_smc);
        (self.last_ess, self.masked) = (s.last_ess, s.masked);
        Ok(())
    }

    fn finish(&mut self, o: &Outcome, metrics: &mut Metrics) -> CliResult<serde_json::Value> {
        let ev = self.eval(true)?;
        let last5 = metrics.mean_of_last(5, &LAST5_KEYS);
        let s = summary(
            &self.rc,
            self.target,
            o.seconds,
            &ev,
            json!({
                "log_z_learnt": json_num(self.log_z() as f64),
                "log_z_smc": json_num(self.last_smc.0),
                "final_tb_loss": json_num(self.last_loss() as f64),
                "iterations_completed": o.completed,
                "masked_samples": self.masked,
                "skipped_steps": self.st.optim.skipped,
                "target_evals": self.evals.json(),
                "interrupted": o.interrupted,
                "last5": last5,
            }),
        );
        write_samples(&self.out, &self.rc, self.target, &self.set, &ev.samples)?;
        Ok(s)
    }
}

/// The files a trained diffusion run writes besides the loop's.
const FILES: &str = "samples.csv, samples.svg";

/// The metrics of `summary.json`'s `last5`: their means over the last five periodic
/// evaluations, as the RSMC paper's tables report them.
const LAST5_KEYS: [&str; 7] = [
    "elbo",
    "eubo",
    "log_z_is",
    "ess",
    "mmd",
    "sinkhorn_paper",
    "emc",
];

fn run_trained(
    rc: &RunConfig,
    a: &TrainArgs,
    target: &Target,
    out: &str,
) -> CliResult<serde_json::Value> {
    let mut s = run_loop::Settings::new(
        out,
        rc.iters,
        Some(eval_every(a, rc)?),
        &a.run.resume,
        FILES,
    );
    s.launch.grad_chunks =
        crate::parallel::chunk_plan(a.diffusion.threads, a.diffusion.grad_chunks)?;
    s.launch.threads = a.diffusion.threads;
    s.launch.reference = a.diffusion.aldp_reference.clone();
    let mut r = DiffusionRun::new(rc, &s.launch, target, out)?;
    r.prefill()?;
    run_loop::run(&mut r, &s)
}

/// Resumes a trained diffusion run (settings `rc`, iterations to run included) from its
/// snapshot `sn` in `out`.
pub(super) fn resume(rc: &RunConfig, sn: &Snapshot, out: &str) -> CliResult<()> {
    let target = run_target(rc)?;
    let s = run_loop::Settings::resuming(out, sn, FILES);
    let mut r = DiffusionRun::new(rc, &s.launch, &target, out)?;
    super::resume::restore(&mut r, sn)?;
    run_loop::run(&mut r, &s).map(|_| ())
}

fn run_smc(
    rc: &RunConfig,
    a: &TrainArgs,
    target: &Target,
    out: &str,
) -> CliResult<serde_json::Value> {
    let d = target.dim();
    let n = rc.particles;
    let cfg = rc.annealed_config()?;
    let (mut x, mut lw, mut lr) = (vec![0.0f32; n * d], vec![0.0f32; n], vec![0.0f32; n]);
    let (mut xt, mut w, mut anc, mut lrt, mut vecs) = (
        vec![0.0f32; n * d],
        vec![0.0f32; n],
        vec![0u32; n],
        vec![0.0f32; n],
        vec![0.0f32; annealed::Workspace::vec_len(d)],
    );
    let mut ps = annealed::Particles {
        x: &mut x,
        log_w: &mut lw,
        log_r: &mut lr,
    };
    let mut ws = annealed::Workspace {
        x_tmp: &mut xt,
        w: &mut w,
        ancestors: &mut anc,
        log_r_tmp: &mut lrt,
        vec: &mut vecs,
    };
    let mut r = rng::seeded(rc.seed);
    let t0 = Instant::now();
    let k = |e| CliError::kernel("annealed SMC", e);
    let counted = Counted::new(target);
    let mut state = annealed::init(&cfg, &mut ps, &mut ws, &counted, &mut r).map_err(k)?;
    let mut metrics = String::new();
    let mut elbo = 0.0f64;
    while !state.done() {
        let info =
            annealed::step(&cfg, &mut state, &mut ps, &mut ws, &counted, &mut r).map_err(k)?;
        elbo += info.mean_log_increment;
        let line = json!({
            "temperature": state.temperatures, "beta": info.beta, "log_z": json_num(state.log_z),
            "ess": json_num(info.ess_fraction), "resampled": info.resampled, "acceptance": json_num(info.acceptance),
            "step_size": json_num(state.step_size as f64),
        });
        metrics.push_str(&line.to_string());
        metrics.push('\n');
    }
    let seconds = t0.elapsed().as_secs_f64();
    write_atomic(&format!("{out}/metrics.jsonl"), metrics.as_bytes())?;
    let ess = amortise_kernel::metrics::weights::ess_fraction(ps.log_w).unwrap_or(0.0);
    let m = rc.eval_samples;
    let mut samples = if rc.smc_samples == "particles" {
        // the seeds' evaluation: the final particles as they are, weights ignored
        ps.x[..m * d].to_vec()
    } else {
        // equally weighted samples by systematic resampling of the final weighted particles
        let mut weights = vec![0.0f32; n];
        amortise_kernel::metrics::weights::normalize_log_weights(ps.log_w, &mut weights)
            .map_err(k)?;
        let mut idx = vec![0u32; m];
        resample(
            Scheme::Systematic,
            &weights,
            &[uniform_f64(&mut r)],
            &mut idx,
        )
        .map_err(k)?;
        let mut samples = Vec::with_capacity(m * d);
        for &i in &idx {
            samples.extend_from_slice(&ps.x[i as usize * d..(i as usize + 1) * d]);
        }
        samples
    };
    target.to_target_coords(&mut samples);
    let set = eval_set(target, rc, a.diffusion.aldp_reference.as_deref())?;
    let m = eval::sample_metrics(&set, &samples, d, true)?;
    let aldp = set
        .aldp
        .as_ref()
        .map(|a| crate::aldp::metrics(a, &samples))
        .transpose()?
        .map(|a| crate::aldp::AldpMetrics {
            eubo_note: "not defined for smc (no backward process)",
            ..a
        });
    let ev = Evaluation {
        elbo: f64::NAN,
        eubo: None,
        log_z_is: state.log_z,
        ess,
        mmd: m.mmd,
        sinkhorn: m.sinkhorn,
        sinkhorn_converged: m.sinkhorn_converged,
        sinkhorn_paper: m.sinkhorn_paper,
        emc: m.emc,
        aldp,
        samples,
    };
    let mut s = summary(
        rc,
        target,
        seconds,
        &ev,
        json!({
            "temperatures": state.temperatures,
            "resamples": state.resamples,
            "target_evals": counted.evals().json(),
            // the seeds' "ELBO" of SMC: the summed weighted mean log increments
            "smc_elbo": json_num(elbo),
        }),
    );
    if let Some(obj) = s.as_object_mut() {
        obj.insert("elbo".into(), serde_json::Value::Null);
    }
    write_outputs(out, rc, target, &set, &s, &ev.samples)?;
    Ok(s)
}
