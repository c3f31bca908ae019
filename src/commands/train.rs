//! `amortise train`: trains a sampler (or runs the SMC baseline), evaluates it and writes
//! `metrics.jsonl`, `summary.json`, `samples.csv`, `checkpoint.json` and `samples.svg` into
//! the output folder.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use amortise_kernel::rng::{self, uniform_f64};
use amortise_kernel::samplers::diffusion::train::{self, Layout, Method, Views};
use amortise_kernel::smc::annealed;
use amortise_kernel::smc::resample::{Scheme, resample};
use amortise_kernel::targets::{LogDensity, Target};
use serde_json::json;

use super::{build_target, json_num};
use crate::checkpoint::Checkpoint;
use crate::cli::{TrainArgs, TrainDiscreteArgs};
use crate::csv::{self, write_atomic};
use crate::error::{CliError, CliResult};
use crate::eval::{self, EvalSet, Evaluation};
use crate::plot;
use crate::run_config::{METHODS, RunConfig, default_sigma};

/// Largest accepted batch, particle count or buffer (memory guard against typos).
pub const MAX_BATCH: usize = 100_000;
/// Largest accepted replay buffer.
pub const MAX_BUFFER: usize = 5_000_000;
/// Largest training arena, in 4-byte numbers (2 GiB).
pub const MAX_ARENA: usize = 1 << 29;

/// Resolves the arguments into a [`RunConfig`], validating each flag.
pub fn resolve(a: &TrainArgs, dim: usize) -> CliResult<RunConfig> {
    if !METHODS.contains(&a.method.as_str()) {
        return Err(CliError::flag(
            "--method",
            format!(
                "unknown method `{}` (known: {})",
                a.method,
                METHODS.join(", ")
            ),
        ));
    }
    if a.eval_every == Some(0) {
        return Err(CliError::flag("--eval-every", "must be at least 1"));
    }
    let smc = a.method == "smc";
    let check = |v: usize, flag: &'static str, max: usize| -> CliResult<usize> {
        if v == 0 {
            Err(CliError::flag(flag, "must be at least 1"))
        } else if v > max {
            Err(CliError::flag(flag, format!("at most {max}")))
        } else {
            Ok(v)
        }
    };
    let batch = check(a.batch.unwrap_or(300), "--batch", MAX_BATCH)?;
    let particles = check(
        a.particles.unwrap_or(if smc { 2000 } else { 300 }),
        "--particles",
        MAX_BATCH,
    )?;
    let steps = check(a.steps.unwrap_or(64), "--steps", 10_000)?;
    let eval_samples = check(a.eval_samples.unwrap_or(2000), "--eval-samples", MAX_BATCH)?;
    let buffer = check(a.buffer.unwrap_or(30_000), "--buffer", MAX_BUFFER)?;
    let chunk = a.chunk.unwrap_or(4);
    for (set, flag) in [
        (a.side.is_some(), "--side"),
        (a.replay_ratio.is_some(), "--replay-ratio"),
        (a.buffer_ess.is_some(), "--buffer-ess"),
        (a.resample_threshold.is_some(), "--resample-threshold"),
        (a.subtb_weight.is_some(), "--subtb-weight"),
    ] {
        if set {
            return Err(CliError::flag(
                flag,
                "only used by the discrete targets (sequence, grid, deceptive-grid, ising)",
            ));
        }
    }
    let sigma = a.sigma.unwrap_or_else(|| default_sigma(&a.target));
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(CliError::flag("--sigma", "must be a finite number > 0"));
    }
    let lr = a.lr.unwrap_or(1e-3);
    if !(lr.is_finite() && lr > 0.0) {
        return Err(CliError::flag("--lr", "must be a finite number > 0"));
    }
    if !(a.exploration.is_finite() && a.exploration >= 0.0) {
        return Err(CliError::flag(
            "--exploration",
            "must be a finite number >= 0",
        ));
    }
    if a.reference != "ou" && a.reference != "pinned" {
        return Err(CliError::flag(
            "--reference",
            format!("unknown reference `{}` (ou or pinned)", a.reference),
        ));
    }
    if a.reference == "ou" && steps < 15 {
        return Err(CliError::flag(
            "--steps",
            "the OU reference needs at least 15 steps",
        ));
    }
    if a.init_log_z_smc && (a.method != "rsmc" || a.prefill == Some(0)) {
        return Err(CliError::flag(
            "--init-log-z-smc",
            "needs --method rsmc with at least one --prefill SMC run",
        ));
    }
    if a.init_log_z_batch && !matches!(a.method.as_str(), "tb" | "tb-buffer" | "rsmc") {
        return Err(CliError::flag(
            "--init-log-z-batch",
            "needs a trained diffusion method: tb, tb-buffer or rsmc",
        ));
    }
    if a.init_log_z_batch && a.init_log_z_smc {
        return Err(CliError::flag(
            "--init-log-z-batch",
            "choose one of --init-log-z-batch and --init-log-z-smc",
        ));
    }
    if a.method == "rsmc" && (chunk == 0 || steps % chunk != 0 || steps / chunk < 2) {
        return Err(CliError::flag(
            "--chunk",
            format!("must divide --steps ({steps}) into at least two chunks"),
        ));
    }
    Ok(RunConfig {
        target: a.target.clone(),
        dim,
        method: a.method.clone(),
        seed: a.seed,
        iters: a.iters,
        batch,
        particles,
        steps,
        reference: a.reference.clone(),
        sigma,
        hidden: check(a.hidden, "--hidden", 4096)?,
        flow_hidden: check(a.flow_hidden, "--flow-hidden", 4096)?,
        harmonics: check(a.harmonics, "--harmonics", 1024)?,
        learned_variance: a.learned_variance,
        langevin: a.langevin,
        init_log_z_smc: a.init_log_z_smc,
        init_log_z_batch: a.init_log_z_batch,
        exploration: a.exploration,
        lr,
        buffer,
        prefill: a.prefill.unwrap_or(20),
        chunk,
        eval_samples,
        buffer_priority: a.buffer_priority.clone().unwrap_or_else(|| "iw".into()),
    })
}

/// `train --target ENV` for a discrete environment: the `train-discrete` arguments, with
/// the continuous-only flags rejected by name.
fn discrete_args(a: &TrainArgs) -> CliResult<TrainDiscreteArgs> {
    for (set, flag) in [
        (a.steps.is_some(), "--steps"),
        (a.particles.is_some(), "--particles"),
        (a.sigma.is_some(), "--sigma"),
        (a.langevin, "--langevin"),
        (a.init_log_z_smc, "--init-log-z-smc"),
        (a.init_log_z_batch, "--init-log-z-batch"),
        (a.learned_variance, "--learned-variance"),
        (a.exploration != 0.0, "--exploration"),
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
        dim: a.dim.unwrap_or(2),
        side: a.side,
        len: a.len,
        alphabet: a.alphabet,
        modes: a.modes,
        temperature: a.temperature,
        floor: a.floor,
        env_seed: a.env_seed,
        coupling: a.coupling,
        field: a.field,
        iters: a.iters,
        batch: a.batch.unwrap_or(16),
        hidden: a.hidden,
        lr: a.lr.unwrap_or(1e-3),
        epsilon: a.epsilon,
        learn_pb: a.learn_pb,
        buffer: a.buffer,
        buffer_priority: a.buffer_priority.clone(),
        prefill: a.prefill.unwrap_or(4),
        chunk: a.chunk,
        replay_ratio: a.replay_ratio.unwrap_or(2),
        buffer_ess: a.buffer_ess.unwrap_or(0.05),
        resample_threshold: a.resample_threshold.unwrap_or(0.2),
        subtb_weight: a.subtb_weight.unwrap_or(1.0),
        flow_hidden: a.flow_hidden,
        seed: a.seed,
        out: a.out.clone(),
        eval_every: a.eval_every,
        teacher_alpha: a.teacher_alpha,
        eval_samples: a.eval_samples.unwrap_or(20_000),
    })
}

/// Checks a stored run configuration (from a checkpoint) by the same rules as the flags:
/// the target must exist with this dimension, [`resolve`] must accept the settings and
/// give back the same configuration, and the method must be a trained one.
pub fn validate_config(rc: &RunConfig) -> CliResult<()> {
    let target = build_target(&rc.target, Some(rc.dim))?;
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
    args.dim = Some(rc.dim);
    args.method = rc.method.clone();
    args.iters = rc.iters;
    args.batch = Some(rc.batch);
    args.particles = Some(rc.particles);
    args.steps = Some(rc.steps);
    args.seed = rc.seed;
    args.eval_samples = Some(rc.eval_samples);
    args.reference = rc.reference.clone();
    args.sigma = Some(rc.sigma);
    args.hidden = rc.hidden;
    args.flow_hidden = rc.flow_hidden;
    args.harmonics = rc.harmonics;
    args.learned_variance = rc.learned_variance;
    args.langevin = rc.langevin;
    args.init_log_z_smc = rc.init_log_z_smc;
    args.init_log_z_batch = rc.init_log_z_batch;
    args.exploration = rc.exploration;
    args.lr = Some(rc.lr);
    args.buffer = Some(rc.buffer);
    args.buffer_priority = Some(rc.buffer_priority.clone());
    args.prefill = Some(rc.prefill);
    args.chunk = Some(rc.chunk);
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
    if super::discrete::ENVS.contains(&a.target.as_str()) {
        return super::discrete::run(&discrete_args(a)?);
    }
    if a.method == "vgs" {
        return run_vgs(a);
    }
    if a.method == "teacher" {
        return super::teacher_continuous::run(a);
    }
    let target = build_target(&a.target, a.dim)?;
    let rc = resolve(a, target.dim())?;
    if rc.method != "smc" {
        validate_config(&rc)?;
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| format!("out/{}-{}-s{}", rc.target, rc.method, rc.seed));
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::file(&out, format!("cannot create output folder: {e}")))?;
    let result = if rc.method == "smc" {
        run_smc(&rc, &target, &out)
    } else {
        run_trained(&rc, a, &target, &out)
    }?;
    eprintln!(
        "wrote {out}/summary.json, metrics.jsonl, samples.csv, samples.svg{}",
        if rc.method == "smc" {
            ""
        } else {
            ", checkpoint.json"
        }
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    Ok(())
}

/// `--method vgs`: the VGS trainer of `train-vgs` (report B1), with the flags it shares.
fn run_vgs(a: &TrainArgs) -> CliResult<()> {
    if a.dim.is_some() {
        return Err(CliError::flag("--dim", "not used by --method vgs"));
    }
    super::vgs::run_train(&vgs_args(a))
}

/// The `train-vgs` arguments that `train --method vgs` stands for.
pub fn vgs_args(a: &TrainArgs) -> crate::cli::TrainVgsArgs {
    crate::cli::TrainVgsArgs {
        target: a.target.clone(),
        iters: a.iters,
        steps: a.steps,
        batch: a.batch,
        hidden: Some(a.hidden),
        lr: a.lr,
        seed: a.seed,
        out: a.out.clone(),
        eval_every: a.eval_every,
        eval_samples: a.eval_samples.unwrap_or(2000),
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
        "mmd": ev.mmd.map(json_num),
        "ess": json_num(ev.ess),
        "emc": ev.emc.map(json_num),
        "config": rc,
    });
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
    csv::write(&format!("{out}/samples.csv"), samples, rc.dim)?;
    plot::samples_svg(
        &format!("{out}/samples.svg"),
        target,
        samples,
        &format!("{} on {} (seed {})", rc.method, rc.target, rc.seed),
    )
}

pub(super) struct Progress {
    tty: bool,
    last: Instant,
}

impl Progress {
    /// A progress line on stderr: redrawn in place on a terminal, a line every 5 s otherwise.
    pub(super) fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }
    pub(super) fn show(&mut self, line: &str, force: bool) {
        if !force && self.last.elapsed().as_secs_f64() < if self.tty { 0.2 } else { 5.0 } {
            return;
        }
        self.last = Instant::now();
        let mut e = std::io::stderr();
        if self.tty {
            let _ = write!(e, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(e, "{line}");
        }
        let _ = e.flush();
    }
    pub(super) fn done(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

fn run_trained(
    rc: &RunConfig,
    a: &TrainArgs,
    target: &Target,
    out: &str,
) -> CliResult<serde_json::Value> {
    let cfg = rc.train_config()?;
    let d = target.dim();
    let layout = Layout::new(&cfg, d).map_err(|e| CliError::kernel("training configuration", e))?;
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(rc.seed);
    let mut st = {
        let mut v = Views::new(&layout, &mut fa, &mut ua)
            .map_err(|e| CliError::kernel("building the trainer", e))?;
        train::init(&cfg, &layout, &mut v, &mut r)
            .map_err(|e| CliError::kernel("building the trainer", e))?
    };
    let set = EvalSet::new(target, rc.eval_samples)?;
    let eval_every = a.eval_every.unwrap_or((rc.iters / 10).max(1));
    let mut eval_rng = rng::seeded(rc.seed ^ 0x5eed_e7a1);
    let metrics_path = format!("{out}/metrics.jsonl");
    let mut metrics = String::new();
    let t0 = Instant::now();
    let mut progress = Progress::new();
    train::prefill(
        &cfg,
        &mut st,
        &mut Views::new(&layout, &mut fa, &mut ua).map_err(|e| CliError::kernel("views", e))?,
        target,
        &mut r,
    )
    .map_err(|e| CliError::kernel("prefilling the buffer", e))?;
    let mut last_smc = (f64::NAN, f64::NAN);
    let mut last_loss = f32::NAN;
    let mut last_ess = f64::NAN;
    crate::signal::install();
    let mut completed = 0u32;
    let mut masked = 0u64;
    let mut chunked = match crate::parallel::chunk_plan(a.threads, a.grad_chunks)? {
        Some(_) if cfg.method != Method::Tb => {
            return Err(CliError::flag(
                "--threads",
                "more than one thread (and --grad-chunks) apply to --method tb only; \
                 tb-buffer and rsmc stay single-threaded",
            ));
        }
        Some(chunks) => Some(
            crate::parallel::ChunkedTb::new(&cfg, &layout, chunks, a.threads)
                .map_err(|e| CliError::kernel("--threads/--grad-chunks", e))?,
        ),
        None => None,
    };
    for it in 0..rc.iters {
        let mut v =
            Views::new(&layout, &mut fa, &mut ua).map_err(|e| CliError::kernel("views", e))?;
        let info = match chunked.as_mut() {
            Some(c) => c.step(&cfg, &mut st, &mut v, target, &mut r),
            None => train::step(&cfg, &mut st, &mut v, target, &mut r),
        }
        .map_err(|e| CliError::kernel(format!("training step {it}"), e))?;
        last_loss = info.tb_loss;
        masked += info.masked as u64;
        if info.smc_log_z.is_finite() {
            last_smc = (info.smc_log_z, info.smc_ess);
        }
        completed = it + 1;
        let interrupted = crate::signal::interrupted();
        let done = it + 1 == rc.iters || interrupted;
        if (it + 1) % eval_every == 0 || done {
            let ev = eval::evaluate(
                eval::TrainedPolicy {
                    cfg: &cfg.policy,
                    process: cfg.process,
                    steps: cfg.steps,
                    net: &layout.net,
                    params: layout.policy(layout.params(&fa)),
                },
                target,
                &set,
                false,
                &mut eval_rng,
            )?;
            last_ess = ev.ess;
            let line = json!({
                "iteration": it + 1,
                "seconds": t0.elapsed().as_secs_f64(),
                "tb_loss": json_num(info.tb_loss as f64),
                "subtb_loss": json_num(info.subtb_loss as f64),
                "log_z_learnt": json_num(layout.log_z(layout.params(&fa)) as f64),
                "log_z_is": json_num(ev.log_z_is),
                "elbo": json_num(ev.elbo),
                "eubo": ev.eubo.map(json_num),
                "ess": json_num(ev.ess),
                "mmd": ev.mmd.map(json_num),
                "emc": ev.emc.map(json_num),
                "smc_log_z": json_num(last_smc.0),
                "smc_ess": json_num(last_smc.1),
                "buffer": info.buffer_len,
                "masked_samples": masked,
                "skipped_steps": st.optim.skipped,
            });
            metrics.push_str(&line.to_string());
            metrics.push('\n');
            write_atomic(&metrics_path, metrics.as_bytes())?;
        }
        let rate = (it + 1) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        // ESS: of the last evaluation ("–" before the first); rsmc adds its last SMC pass.
        let opt = |v: f64, prec: usize| {
            if v.is_finite() {
                format!("{v:.prec$}")
            } else {
                "–".to_string()
            }
        };
        let smc = if last_smc.0.is_finite() {
            format!(
                "  smc log Ẑ {} ess {}",
                opt(last_smc.0, 2),
                opt(last_smc.1, 3)
            )
        } else {
            String::new()
        };
        progress.show(
            &format!(
                "[{:>5.1}%] it {}/{}  loss {:.4}  log Z {:.3}  ess {}{smc}  {:.1} it/s",
                100.0 * (it + 1) as f64 / rc.iters as f64,
                it + 1,
                rc.iters,
                last_loss,
                layout.log_z(layout.params(&fa)),
                opt(last_ess, 3),
                rate
            ),
            done,
        );
        if interrupted {
            break;
        }
    }
    progress.done();
    let train_seconds = t0.elapsed().as_secs_f64();
    // The checkpoint first: after Ctrl-C it is what must survive (a second Ctrl-C during
    // the final evaluation below exits at once, leaving it complete).
    let ck = Checkpoint::new(
        rc.clone(),
        st.iteration,
        layout.policy_params,
        layout.flow_params,
        layout.params(&fa),
    );
    ck.save(&format!("{out}/checkpoint.json"))?;
    let interrupted = completed < rc.iters;
    if interrupted {
        eprintln!(
            "amortise: interrupted after {completed} of {} iterations: wrote {out}/checkpoint.json and metrics.jsonl; evaluating for summary.json",
            rc.iters
        );
    }
    let ev = eval::evaluate(
        eval::TrainedPolicy {
            cfg: &cfg.policy,
            process: cfg.process,
            steps: cfg.steps,
            net: &layout.net,
            params: layout.policy(layout.params(&fa)),
        },
        target,
        &set,
        true,
        &mut eval_rng,
    )?;
    let s = summary(
        rc,
        target,
        train_seconds,
        &ev,
        json!({
            "log_z_learnt": json_num(layout.log_z(layout.params(&fa)) as f64),
            "log_z_smc": json_num(last_smc.0),
            "final_tb_loss": json_num(last_loss as f64),
            "iterations_completed": completed,
            "masked_samples": masked,
            "skipped_steps": st.optim.skipped,
            "interrupted": interrupted,
        }),
    );
    write_outputs(out, rc, target, &s, &ev.samples)?;
    Ok(s)
}

fn run_smc(rc: &RunConfig, target: &Target, out: &str) -> CliResult<serde_json::Value> {
    let d = target.dim();
    let n = rc.particles;
    let cfg = annealed::Config {
        base_std: rc.sigma,
        ..annealed::Config::default()
    };
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
    let mut state = annealed::init(&cfg, &mut ps, &mut ws, target, &mut r).map_err(k)?;
    let mut metrics = String::new();
    while !state.done() {
        let info = annealed::step(&cfg, &mut state, &mut ps, &mut ws, target, &mut r).map_err(k)?;
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
    // equally weighted samples by systematic resampling of the final weighted particles
    let ess = amortise_kernel::metrics::weights::ess_fraction(ps.log_w).unwrap_or(0.0);
    let mut weights = vec![0.0f32; n];
    amortise_kernel::metrics::weights::normalize_log_weights(ps.log_w, &mut weights).map_err(k)?;
    let m = rc.eval_samples;
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
    let set = EvalSet::new(target, m)?;
    let m = eval::sample_metrics(&set, &samples, d, true)?;
    let ev = Evaluation {
        elbo: f64::NAN,
        eubo: None,
        log_z_is: state.log_z,
        ess,
        mmd: m.mmd,
        sinkhorn: m.sinkhorn,
        sinkhorn_converged: m.sinkhorn_converged,
        emc: m.emc,
        samples,
    };
    let mut s = summary(
        rc,
        target,
        seconds,
        &ev,
        json!({ "temperatures": state.temperatures, "resamples": state.resamples }),
    );
    if let Some(obj) = s.as_object_mut() {
        obj.insert("elbo".into(), serde_json::Value::Null);
    }
    write_outputs(out, rc, target, &s, &ev.samples)?;
    Ok(s)
}
