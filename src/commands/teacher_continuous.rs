//! `amortise train --target T --method teacher` on a continuous target: the adaptive teacher
//! of Kim et al. (ICLR 2025) with the diffusion sampler (kernel
//! `amortise_kernel::teacher::continuous`). Same outputs as the other trained methods
//! (`metrics.jsonl`, `summary.json`, `samples.csv`, `samples.svg`, `checkpoint.json` of the
//! student, loadable by `amortise sample`), plus `teacher_samples.csv`.

use std::time::Instant;

use amortise_kernel::metrics::coverage;
use amortise_kernel::rng;
use amortise_kernel::targets::LogDensity;
use amortise_kernel::teacher::continuous::{self, Config, Layout, Phase};
use serde_json::json;

use super::train::{Progress, resolve, summary, write_outputs};
use super::{build_target, json_num};
use crate::checkpoint::Checkpoint;
use crate::cli::TrainArgs;
use crate::csv;
use crate::error::{CliError, CliResult};
use crate::eval::{self, EvalSet};

/// Modes "covered" by `samples`: mode centres that are the nearest centre of at least 10 %
/// of their fair share `n/K` of the samples. `None` for targets without mode centres.
pub fn modes_covered(
    set: &EvalSet,
    samples: &[f32],
    d: usize,
) -> CliResult<Option<(usize, usize)>> {
    let Some(modes) = &set.modes else {
        return Ok(None);
    };
    let k = modes.len() / d;
    let n = samples.len() / d;
    let mut counts = vec![0u32; k];
    coverage::nearest_mode_counts(samples, d, modes, &mut counts)
        .map_err(|e| CliError::kernel("mode coverage", e))?;
    let min = (0.1 * n as f64 / k as f64).max(1.0);
    Ok(Some((
        counts.iter().filter(|&&c| c as f64 >= min).count(),
        k,
    )))
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Student => "student",
        Phase::TeacherRefresh => "teacher-refresh",
        Phase::Buffer => "buffer",
    }
}

/// Runs `train --method teacher` on a continuous target.
pub fn run(a: &TrainArgs) -> CliResult<()> {
    for (set, flag, why) in [
        (
            a.teacher_alpha != 0.0,
            "--teacher-alpha",
            "only used by the discrete targets; the continuous teacher uses alpha = 0.5 \
             (the reference diffusion code)",
        ),
        (
            a.buffer_priority.is_some(),
            "--buffer-priority",
            "not used by the continuous teacher (its buffer is ranked by the teacher reward)",
        ),
        (
            a.prefill.is_some(),
            "--prefill",
            "not used by the continuous teacher",
        ),
        (
            a.particles.is_some(),
            "--particles",
            "not used by the continuous teacher",
        ),
        (
            a.chunk.is_some(),
            "--chunk",
            "not used by the continuous teacher",
        ),
    ] {
        if set {
            return Err(CliError::flag(flag, why));
        }
    }
    let target = build_target(&a.target, a.dim)?;
    let d = target.dim();
    let rc = resolve(a, d)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| format!("out/{}-{}-s{}", rc.target, rc.method, rc.seed));
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::file(&out, format!("cannot create output folder: {e}")))?;
    let cfg = Config {
        train: rc.train_config()?,
        ..Config::default()
    };
    let layout = Layout::new(&cfg, d).map_err(|e| CliError::kernel("teacher configuration", e))?;
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(rc.seed);
    let mut st = continuous::init(&cfg, d, &mut fa, &mut ua, &mut r)
        .map_err(|e| CliError::kernel("building the teacher loop", e))?;
    let set = EvalSet::new(&target, rc.eval_samples)?;
    let eval_every = a.eval_every.unwrap_or((rc.iters / 10).max(1));
    let mut eval_rng = rng::seeded(rc.seed ^ 0x5eed_e7a1);
    let metrics_path = format!("{out}/metrics.jsonl");
    let mut metrics = String::new();
    let t0 = Instant::now();
    let mut progress = Progress::new();
    let pcfg = cfg.train.policy;
    let (process, steps) = (cfg.train.process, cfg.train.steps);
    let mut last_loss = f32::NAN;
    let mut last_ess = f64::NAN;
    for it in 0..rc.iters {
        let info = continuous::step(&mut st, &target, &mut r)
            .map_err(|e| CliError::kernel(format!("training step {it}"), e))?;
        last_loss = info.student_loss;
        let done = it + 1 == rc.iters;
        if (it + 1) % eval_every == 0 || done {
            let student = eval::TrainedPolicy {
                cfg: &pcfg,
                process,
                steps,
                net: st.net(),
                params: st.student_policy_params(),
            };
            let ev = eval::evaluate(student, &target, &set, false, &mut eval_rng)?;
            last_ess = ev.ess;
            let modes = modes_covered(&set, &ev.samples, d)?;
            let line = json!({
                "iteration": it + 1,
                "seconds": t0.elapsed().as_secs_f64(),
                "phase": phase_name(info.phase),
                "tb_loss": json_num(info.student_loss as f64),
                "teacher_loss": json_num(info.teacher_loss as f64),
                "teacher_kept": info.teacher_kept,
                "mean_log_rt": json_num(info.mean_log_rt as f64),
                "under_sampled": json_num(info.under_sampled as f64),
                "log_z_learnt": json_num(st.log_z() as f64),
                "teacher_log_z": json_num(st.teacher_log_z() as f64),
                "log_z_is": json_num(ev.log_z_is),
                "elbo": json_num(ev.elbo),
                "eubo": ev.eubo.map(json_num),
                "ess": json_num(ev.ess),
                "mmd": ev.mmd.map(json_num),
                "emc": ev.emc.map(json_num),
                "modes_covered": modes.map(|m| m.0),
                "buffer": info.buffer_len,
            });
            metrics.push_str(&line.to_string());
            metrics.push('\n');
            csv::write_atomic(&metrics_path, metrics.as_bytes())?;
        }
        let rate = (it + 1) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        progress.show(
            &format!(
                "[{:>5.1}%] it {}/{}  loss {:.4}  log Z {:.3}  ess {:.3}  {:.1} it/s",
                100.0 * (it + 1) as f64 / rc.iters as f64,
                it + 1,
                rc.iters,
                last_loss,
                st.log_z(),
                last_ess,
                rate
            ),
            done,
        );
    }
    progress.done();
    let train_seconds = t0.elapsed().as_secs_f64();
    let student = eval::TrainedPolicy {
        cfg: &pcfg,
        process,
        steps,
        net: st.net(),
        params: st.student_policy_params(),
    };
    let ev = eval::evaluate(student, &target, &set, true, &mut eval_rng)?;
    let modes = modes_covered(&set, &ev.samples, d)?;
    let (teacher_x, _) = eval::sample_policy(
        eval::TrainedPolicy {
            params: st.teacher_policy_params(),
            ..student
        },
        &target,
        rc.eval_samples,
        &mut eval_rng,
    )?;
    let teacher_modes = modes_covered(&set, &teacher_x, d)?;
    csv::write(&format!("{out}/teacher_samples.csv"), &teacher_x, d)?;
    let ck = Checkpoint::new(
        rc.clone(),
        st.iteration(),
        st.student_policy_params().len(),
        0,
        st.student_params(),
    );
    ck.save(&format!("{out}/checkpoint.json"))?;
    let c = st.config();
    let s = summary(
        &rc,
        &target,
        train_seconds,
        &ev,
        json!({
            "log_z_learnt": json_num(st.log_z() as f64),
            "teacher_log_z": json_num(st.teacher_log_z() as f64),
            "final_tb_loss": json_num(last_loss as f64),
            "modes_covered": modes.map(|m| m.0),
            "modes_total": modes.map(|m| m.1),
            "teacher_modes_covered": teacher_modes.map(|m| m.0),
            "teacher": {
                "c": c.reward.c,
                "epsilon": c.reward.epsilon,
                "alpha": c.reward.alpha,
                "teacher_clip": c.teacher_clip,
                "reward_quantile": c.reward_quantile,
                "reward_threshold": st.threshold().map(|t| json_num(t as f64)),
                "rank_weight": c.rank_weight,
                "buffer_len": st.buffer_len(),
            },
        }),
    );
    write_outputs(&out, &rc, &target, &s, &ev.samples)?;
    eprintln!(
        "wrote {out}/summary.json, metrics.jsonl, samples.csv, samples.svg, teacher_samples.csv, \
         checkpoint.json"
    );
    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    Ok(())
}
