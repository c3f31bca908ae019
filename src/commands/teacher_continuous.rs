//! `amortise train --target T --method teacher` on a continuous target: the adaptive teacher
//! of Kim et al. (ICLR 2025) with the diffusion sampler (kernel
//! `amortise_kernel::teacher::continuous`). Same outputs as the other trained methods
//! (`metrics.jsonl`, `summary.json`, `samples.csv`, `samples.svg`, `checkpoint.json` of the
//! student, loadable by `amortise sample`), plus `teacher_samples.csv`.

use amortise_kernel::buffer::Priority;
use amortise_kernel::metrics::coverage;
use amortise_kernel::rng;
use amortise_kernel::targets::{LogDensity, Target};
use amortise_kernel::teacher::continuous::{self, Config, Layout, Phase, State, Views};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::resume::Then;
use super::train::{MAX_ARENA, eval_set, resolve, summary, write_samples};
use super::{build_target, json_num};
use crate::checkpoint::{Checkpoint, Group, RunSettings, TrainerState};
use crate::cli::TrainArgs;
use crate::csv;
use crate::error::{CliError, CliResult};
use crate::eval::{self, EvalSet, Evaluation};
use crate::run_config::RunConfig;
use crate::run_loop::{self, At, Metrics, Outcome, Run};
use crate::snapshot::{self, Buffers, Launch, Snapshot};

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
            a.discrete.teacher_alpha != 0.0,
            "--teacher-alpha",
            "only used by the discrete targets; the continuous teacher uses alpha = 0.5 \
             (the reference diffusion code)",
        ),
        (
            a.replay.buffer_priority.is_some(),
            "--buffer-priority",
            "not used by the continuous teacher (its buffer is ranked by the teacher reward)",
        ),
        (
            a.replay.prefill.is_some(),
            "--prefill",
            "not used by the continuous teacher",
        ),
        (
            a.diffusion.particles.is_some(),
            "--particles",
            "not used by the continuous teacher",
        ),
        (
            a.replay.chunk.is_some(),
            "--chunk",
            "not used by the continuous teacher",
        ),
        (
            a.diffusion.aldp_scale.is_some(),
            "--aldp-scale",
            "not used by the continuous teacher",
        ),
        (
            a.diffusion.aldp_seams.is_some(),
            "--aldp-seams",
            "not used by the continuous teacher",
        ),
    ] {
        if set {
            return Err(CliError::flag(flag, why));
        }
    }
    let target = build_target(&a.target, a.run.dim)?;
    let rc = resolve(a, target.dim())?;
    let out = a
        .run
        .out
        .clone()
        .unwrap_or_else(|| format!("out/{}-{}-s{}", rc.target, rc.method, rc.seed));
    let mut s = run_loop::Settings::new(&out, rc.iters, a.run.eval_every, &a.run.resume, FILES);
    s.launch.reference = a.diffusion.aldp_reference.clone();
    let mut run = TeacherRun::new(&rc, &s.launch, &target, &out)?;
    run_loop::run(&mut run, &s).map(|_| ())
}

/// The files the continuous teacher writes besides the loop's.
const FILES: &str = "samples.csv, samples.svg, teacher_samples.csv";

/// Rebuilds a continuous teacher run (settings `rc`, iterations to run included) in `out`,
/// restores it from its snapshot `sn` and hands it to `f`.
pub(super) fn resume<T>(rc: &RunConfig, sn: &Snapshot, out: &str, f: Then<'_, T>) -> CliResult<T> {
    let target = build_target(&rc.target, Some(rc.dim))?;
    let s = run_loop::Settings::resuming(out, sn, FILES);
    let mut r = TeacherRun::new(rc, &s.launch, &target, out)?;
    super::resume::restore(&mut r, sn)?;
    f(&mut r, &s)
}

impl<'a> TeacherRun<'a> {
    /// The initialised teacher loop of `rc` on `target` (creates the output folder `out`);
    /// `launch.reference` is the aldp reference file.
    fn new(rc: &RunConfig, launch: &Launch, target: &'a Target, out: &str) -> CliResult<Self> {
        let d = target.dim();
        let cfg = Config::new(rc.train_config()?);
        let layout =
            Layout::new(&cfg, d).map_err(|e| CliError::kernel("teacher configuration", e))?;
        // two trainers' arenas: refuse sizes that would abort on allocation failure
        let total = layout.f32_len.saturating_add(layout.u32_len);
        if total > MAX_ARENA {
            return Err(CliError::flag(
                "--batch",
                format!(
                    "these settings need {total} numbers of training memory (limit {MAX_ARENA}); reduce --batch, --steps, --hidden or --buffer"
                ),
            ));
        }
        std::fs::create_dir_all(out)
            .map_err(|e| CliError::file(out, format!("cannot create output folder: {e}")))?;
        let mut fa = vec![0.0f32; layout.f32_len].into_boxed_slice();
        let mut ua = vec![0u32; layout.u32_len].into_boxed_slice();
        let mut r = rng::seeded(rc.seed);
        let st = Views::new(&layout, &mut fa, &mut ua)
            .and_then(|mut v| continuous::init(&cfg, &layout, &mut v, &mut r))
            .map_err(|e| CliError::kernel("building the teacher loop", e))?;
        let set = eval_set(target, rc, launch.reference.as_deref())?;
        Ok(TeacherRun {
            rc: rc.clone(),
            cfg,
            layout,
            fa,
            ua,
            st,
            r,
            eval_rng: rng::seeded(rc.seed ^ 0x5eed_e7a1),
            set,
            target,
            out: out.to_string(),
            last: None,
            last_ess: f64::NAN,
        })
    }
}

/// The teacher loop, driven by [`crate::run_loop`]: owns the arenas and the kernel's
/// `State` (the views are carved on each call), the evaluation set and the random streams.
struct TeacherRun<'a> {
    rc: RunConfig,
    cfg: Config,
    layout: Layout,
    fa: Box<[f32]>,
    ua: Box<[u32]>,
    st: State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    set: EvalSet,
    target: &'a Target,
    out: String,
    last: Option<continuous::Info>,
    last_ess: f64,
}

/// The student's (or the teacher's) trained policy in the arena `fa`, for evaluation and
/// sampling.
fn trained_policy<'p>(
    cfg: &'p Config,
    layout: &'p Layout,
    fa: &'p [f32],
    teacher: bool,
) -> eval::TrainedPolicy<'p> {
    let (t, lay, params) = if teacher {
        (&cfg.teacher, &layout.teacher, layout.teacher_params(fa))
    } else {
        (&cfg.student, &layout.student, layout.student_params(fa))
    };
    eval::TrainedPolicy {
        cfg: &t.policy,
        process: t.process,
        steps: t.steps,
        net: &lay.net,
        params: lay.policy(params),
    }
}

impl TeacherRun<'_> {
    fn eval(&mut self, full: bool) -> CliResult<Evaluation> {
        let tp = trained_policy(&self.cfg, &self.layout, &self.fa, false);
        eval::evaluate(tp, self.target, &self.set, full, &mut self.eval_rng)
    }

    fn log_z(&self) -> f32 {
        self.layout
            .student
            .log_z(self.layout.student_params(&self.fa))
    }

    fn teacher_log_z(&self) -> f32 {
        self.layout
            .teacher
            .log_z(self.layout.teacher_params(&self.fa))
    }

    fn last_loss(&self) -> f32 {
        self.last.map_or(f32::NAN, |i| i.student_loss)
    }
}

/// What the teacher loop carries from one step to the next (the body of its resume
/// snapshot).
#[derive(Serialize, Deserialize)]
struct Saved {
    st: State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    buffers: Buffers,
    last: Option<continuous::Info>,
    last_ess: f64,
}

impl Run for TeacherRun<'_> {
    fn step(&mut self, it: u32) -> CliResult<()> {
        let info = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .and_then(|mut v| {
                continuous::step(&self.cfg, &mut self.st, &mut v, self.target, &mut self.r)
            })
            .map_err(|e| CliError::kernel(format!("training step {it}"), e))?;
        self.last = Some(info);
        Ok(())
    }

    fn status(&self) -> String {
        format!(
            "loss {:.4}  log Z {:.3}  ess {:.3}",
            self.last_loss(),
            self.log_z(),
            self.last_ess
        )
    }

    fn evaluate(&mut self, at: At) -> CliResult<serde_json::Value> {
        let ev = self.eval(false)?;
        self.last_ess = ev.ess;
        let d = self.target.dim();
        let modes = modes_covered(&self.set, &ev.samples, d)?;
        let Some(info) = self.last else {
            return Err(CliError::flag("--iters", "must be at least 1"));
        };
        let mut v = json!({
            "iteration": at.iteration,
            "seconds": at.seconds,
            "phase": phase_name(info.phase),
            "tb_loss": json_num(info.student_loss as f64),
            "teacher_loss": json_num(info.teacher_loss as f64),
            "teacher_kept": info.teacher_kept,
            "mean_log_rt": json_num(info.mean_log_rt as f64),
            "under_sampled": json_num(info.under_sampled as f64),
            "log_z_learnt": json_num(self.log_z() as f64),
            "teacher_log_z": json_num(self.teacher_log_z() as f64),
            "log_z_is": json_num(ev.log_z_is),
            "elbo": json_num(ev.elbo),
            "eubo": ev.eubo.map(json_num),
            "ess": json_num(ev.ess),
            "mmd": ev.mmd.map(json_num),
            "sinkhorn_paper": ev.sinkhorn_paper.map(json_num),
            "emc": ev.emc.map(json_num),
            "modes_covered": modes.map(|m| m.0),
            "buffer": info.buffer_len,
        });
        if let (Some(o), Some(a)) = (v.as_object_mut(), &ev.aldp) {
            o.insert("aldp".into(), json!(a));
        }
        super::train::mark_reference(&mut v, &self.rc);
        Ok(v)
    }

    fn checkpoint(&mut self) -> CliResult<Checkpoint> {
        let st = &self.st.student;
        let mut counters = std::collections::BTreeMap::new();
        counters.insert("buffer_len".to_string(), st.buffer.len as u64);
        let np = self.layout.student.policy_params;
        let params = self.layout.student_params(&self.fa);
        Ok(Checkpoint::new(
            RunSettings::Teacher(self.rc.clone()),
            TrainerState {
                iteration: st.iteration,
                optim_steps: st.optim.adam.t,
                skipped_steps: st.optim.skipped,
                counters,
            },
            vec![
                Group::new("policy", np),
                Group::new("log_z", params.len() - np),
            ],
            params.to_vec(),
        ))
    }

    fn settings(&self) -> RunSettings {
        RunSettings::Teacher(self.rc.clone())
    }

    fn save(&mut self) -> CliResult<Vec<u8>> {
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        snapshot::encode(&Saved {
            st: self.st,
            r: self.r.clone(),
            eval_rng: self.eval_rng.clone(),
            buffers: Buffers::save(|f| v.carried(f)),
            last: self.last,
            last_ess: self.last_ess,
        })
    }

    fn restore(&mut self, body: &[u8]) -> CliResult<()> {
        let s: Saved = snapshot::decode(&self.out, body)?;
        snapshot::clear(&mut self.fa, &mut self.ua);
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        s.buffers.restore(&self.out, |f| v.carried(f))?;
        (self.st, self.r, self.eval_rng) = (s.st, s.r, s.eval_rng);
        (self.last, self.last_ess) = (s.last, s.last_ess);
        Ok(())
    }

    fn finish(&mut self, o: &Outcome, _: &mut Metrics) -> CliResult<serde_json::Value> {
        let d = self.target.dim();
        let ev = self.eval(true)?;
        let modes = modes_covered(&self.set, &ev.samples, d)?;
        let tp = trained_policy(&self.cfg, &self.layout, &self.fa, true);
        let n = self.rc.eval_samples;
        let (teacher_x, _) = eval::sample_policy(tp, self.target, n, &mut self.eval_rng)?;
        let teacher_modes = modes_covered(&self.set, &teacher_x, d)?;
        csv::write(&format!("{}/teacher_samples.csv", self.out), &teacher_x, d)?;
        let (st, c) = (&self.st, &self.cfg);
        let rank_weight = match c.student.buffer_priority {
            Priority::RewardRank { rank_weight } => rank_weight,
            _ => f64::NAN,
        };
        let s = summary(
            &self.rc,
            self.target,
            o.seconds,
            &ev,
            json!({
                "log_z_learnt": json_num(self.log_z() as f64),
                "teacher_log_z": json_num(self.teacher_log_z() as f64),
                "final_tb_loss": json_num(self.last_loss() as f64),
                "modes_covered": modes.map(|m| m.0),
                "modes_total": modes.map(|m| m.1),
                "teacher_modes_covered": teacher_modes.map(|m| m.0),
                "teacher": {
                    "c": c.reward.c,
                    "epsilon": c.reward.epsilon,
                    "alpha": c.reward.alpha,
                    "teacher_clip": c.teacher.clip,
                    "reward_quantile": c.reward_quantile,
                    "reward_threshold": st.threshold.map(|t| json_num(t as f64)),
                    "rank_weight": rank_weight,
                    "buffer_len": st.student.buffer.len,
                },
            }),
        );
        write_samples(&self.out, &self.rc, self.target, &self.set, &ev.samples)?;
        Ok(s)
    }
}
