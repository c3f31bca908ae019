//! `amortise train-discrete` (and `train --target ENV`): trains a GFlowNet on a discrete
//! environment through the shared run loop ([`crate::run_loop`]), evaluates it against the
//! exact (enumerated) target and writes `metrics.jsonl`, `summary.json`, `samples.csv` and
//! a `discrete` checkpoint into the output folder.
//!
//! One random stream drives the training and the evaluations (evaluation draws come from it
//! between iterations), so the evaluation cadence is part of a run's bits.

use std::collections::BTreeMap;

use amortise_kernel::rng;
use amortise_kernel::samplers::gflownet::env::DiscreteEnv;
use amortise_kernel::samplers::gflownet::rsmc;
use amortise_kernel::samplers::gflownet::train::{self, Config as TrainConfig};
use amortise_kernel::teacher::{self, discrete as discrete_teacher};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::discrete::{AnyEnv, DiscreteSettings, build_env, resolve, samples_csv, trainer_groups};
use super::discrete_eval::{ExactTarget, evaluate};
use super::json_num;
use super::resume::Then;
use crate::checkpoint::{Checkpoint, Group, RunSettings, TrainerState};
use crate::cli::TrainDiscreteArgs;
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};
use crate::run_loop::{self, At, Metrics, Outcome, Run, opt};
use crate::snapshot::{self, Buffers, Snapshot};

/// The training loop of a run: a plain trainer, the adaptive-teacher pair, or discrete
/// RSMC (a trainer driven by SMC into its importance-weighted buffer), with its arenas.
struct Learner {
    kind: Kind,
    f32s: Vec<f32>,
    u32s: Vec<u32>,
}

// One per run: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Plain(TrainConfig, train::Layout, train::State),
    Teacher(
        discrete_teacher::Config,
        discrete_teacher::Layout,
        discrete_teacher::State,
    ),
    Rsmc(rsmc::Config, rsmc::Layout, train::State),
}

/// What one iteration reports to the loop.
struct Stepped {
    loss: f32,
    log_z: f32,
    /// Whether the batch is fresh (sampled, not replayed) and not yet counted as visits.
    fresh: bool,
    /// Terminal objects whose reward was requested.
    reward_calls: usize,
    smc: Option<rsmc::SmcInfo>,
}

impl Learner {
    /// Sizes the arenas of `method` and initialises its trainer(s) with `r`: the trainer
    /// `rc.train` (the student of `teacher`, with the teacher reward `reward`), driven by
    /// the rest of `rc` for `rsmc`.
    fn new<R: rng::Rng>(
        env: &AnyEnv,
        method: &str,
        rc: &rsmc::Config,
        reward: teacher::Config,
        r: &mut R,
    ) -> Result<Self, amortise_kernel::Error> {
        let cfg = rc.train;
        let (kind, f32_len, u32_len) = match method {
            "teacher" => {
                let c = discrete_teacher::Config::new(reward, cfg);
                let l = discrete_teacher::Layout::new(env, &c)?;
                (
                    Kind::Teacher(c, l, discrete_teacher::State::default()),
                    l.f32_len,
                    l.u32_len,
                )
            }
            "rsmc" => {
                let l = rsmc::Layout::new(env, rc)?;
                (
                    Kind::Rsmc(*rc, l, train::State::default()),
                    l.f32_len,
                    l.u32_len,
                )
            }
            _ => {
                let l = train::Layout::new(env, &cfg)?;
                (
                    Kind::Plain(cfg, l, train::State::default()),
                    l.f32_len,
                    l.u32_len,
                )
            }
        };
        let mut me = Learner {
            kind,
            f32s: vec![0.0; f32_len],
            u32s: vec![0; u32_len],
        };
        let (fa, ua) = (&mut me.f32s[..], &mut me.u32s[..]);
        match &mut me.kind {
            Kind::Plain(c, _, st) => *st = train::init(env, c, fa, ua, r)?,
            Kind::Teacher(c, _, st) => *st = discrete_teacher::init(env, c, fa, ua, r)?,
            Kind::Rsmc(c, _, st) => *st = rsmc::init(env, c, fa, ua, r)?,
        }
        Ok(me)
    }

    /// The RSMC prefill (no reward calls for the other methods).
    fn prefill<R: rng::Rng>(
        &mut self,
        env: &AnyEnv,
        visit: impl FnMut(&[u32]),
        r: &mut R,
    ) -> Result<usize, amortise_kernel::Error> {
        let Kind::Rsmc(c, l, st) = &mut self.kind else {
            return Ok(0);
        };
        let mut v = rsmc::Views::new(l, &mut self.f32s, &mut self.u32s)?;
        rsmc::prefill(env, c, &mut v, st, visit, r)
    }

    /// One iteration; `visit` sees the new terminal objects of RSMC (the others report a
    /// fresh batch instead).
    fn step<R: rng::Rng>(
        &mut self,
        env: &AnyEnv,
        visit: impl FnMut(&[u32]),
        r: &mut R,
    ) -> Result<Stepped, amortise_kernel::Error> {
        let (fa, ua) = (&mut self.f32s[..], &mut self.u32s[..]);
        Ok(match &mut self.kind {
            Kind::Plain(c, l, st) => {
                let i = train::step(env, c, &mut train::Views::new(l, fa, ua)?, st, r)?;
                Stepped {
                    loss: i.loss,
                    log_z: i.log_z,
                    fresh: !i.from_buffer,
                    reward_calls: if i.from_buffer { 0 } else { c.batch },
                    smc: None,
                }
            }
            Kind::Teacher(c, l, st) => {
                let mut v = discrete_teacher::Views::new(l, fa, ua)?;
                let i = discrete_teacher::step(env, c, &mut v, st, r)?;
                let fresh = i.source != discrete_teacher::Source::Buffer;
                Stepped {
                    loss: i.student_loss,
                    log_z: v.student.log_z(),
                    fresh,
                    reward_calls: if fresh { c.student.batch } else { 0 },
                    smc: None,
                }
            }
            Kind::Rsmc(c, l, st) => {
                let i = rsmc::step(env, c, &mut rsmc::Views::new(l, fa, ua)?, st, visit, r)?;
                // visits were counted by the callback
                Stepped {
                    loss: i.loss,
                    log_z: i.log_z,
                    fresh: false,
                    reward_calls: i.reward_calls,
                    smc: i.smc,
                }
            }
        })
    }

    /// The trainer states and the carried arena buffers, for the resume snapshot.
    fn save(&mut self) -> Result<(States, Buffers), amortise_kernel::Error> {
        let (fa, ua) = (&mut self.f32s[..], &mut self.u32s[..]);
        Ok(match &self.kind {
            Kind::Plain(_, l, st) => {
                let mut v = train::Views::new(l, fa, ua)?;
                (States::Plain(*st), Buffers::save(|f| v.carried(f)))
            }
            Kind::Teacher(_, l, st) => {
                let mut v = discrete_teacher::Views::new(l, fa, ua)?;
                (States::Teacher(*st), Buffers::save(|f| v.carried(f)))
            }
            Kind::Rsmc(_, l, st) => {
                let mut v = rsmc::Views::new(l, fa, ua)?;
                (States::Rsmc(*st), Buffers::save(|f| v.carried(f)))
            }
        })
    }

    /// Restores what [`Learner::save`] returned (scratch cleared, [`snapshot::clear`]).
    fn restore(&mut self, states: States, b: &Buffers, out: &str) -> CliResult<()> {
        snapshot::clear(&mut self.f32s, &mut self.u32s);
        let (fa, ua) = (&mut self.f32s[..], &mut self.u32s[..]);
        let k = |e| CliError::kernel("views", e);
        match (&mut self.kind, states) {
            (Kind::Plain(_, l, st), States::Plain(s)) => {
                let mut v = train::Views::new(l, fa, ua).map_err(k)?;
                b.restore(out, |f| v.carried(f))?;
                *st = s;
            }
            (Kind::Teacher(_, l, st), States::Teacher(s)) => {
                let mut v = discrete_teacher::Views::new(l, fa, ua).map_err(k)?;
                b.restore(out, |f| v.carried(f))?;
                *st = s;
            }
            (Kind::Rsmc(_, l, st), States::Rsmc(s)) => {
                let mut v = rsmc::Views::new(l, fa, ua).map_err(k)?;
                b.restore(out, |f| v.carried(f))?;
                *st = s;
            }
            _ => {
                return Err(CliError::file(
                    format!("{out}/{}", snapshot::FILE),
                    "the saved trainer state is of another method",
                ));
            }
        }
        Ok(())
    }

    /// The configuration and views of the trainer that is evaluated (the student).
    fn student(&mut self) -> Result<(TrainConfig, train::Views<'_>), amortise_kernel::Error> {
        let (fa, ua) = (&mut self.f32s[..], &mut self.u32s[..]);
        Ok(match &self.kind {
            Kind::Plain(c, l, _) => (*c, train::Views::new(l, fa, ua)?),
            Kind::Teacher(c, l, _) => (c.student, discrete_teacher::Views::new(l, fa, ua)?.student),
            Kind::Rsmc(c, l, _) => (c.train, rsmc::Views::new(l, fa, ua)?.train),
        })
    }

    /// The trainers' states and parameters as checkpoint pieces: the counters of the
    /// evaluated trainer (the student), its groups and parameters, then the teacher's.
    fn saved(&self) -> (TrainerState, Vec<Group>, Vec<f32>) {
        let (main, teacher) = match &self.kind {
            Kind::Plain(_, l, st) => ((l, st), None),
            Kind::Rsmc(_, l, st) => ((&l.train, st), None),
            Kind::Teacher(_, l, st) => ((&l.student, &st.student), Some((l, &st.teacher))),
        };
        let ((lay, st), fa) = (main, &self.f32s[..]);
        let mut counters = BTreeMap::new();
        counters.insert("buffer_len".to_string(), st.cursor.len as u64);
        counters.insert("buffer_head".to_string(), st.cursor.head as u64);
        counters.insert("buffer_inserted".to_string(), st.cursor.inserted);
        let mut groups: Vec<Group> = trainer_groups(lay, "")
            .iter()
            .map(|(n, len)| Group::new(n, *len))
            .collect();
        let mut params = lay.params(fa).to_vec();
        if let Some((l, t)) = teacher {
            counters.insert("teacher_optim_steps".to_string(), t.optim.adam.t as u64);
            counters.insert("teacher_skipped_steps".to_string(), t.optim.skipped as u64);
            groups.extend(
                trainer_groups(&l.teacher, "teacher_")
                    .iter()
                    .map(|(n, len)| Group::new(n, *len)),
            );
            let teacher_arena = fa.get(l.student.f32_len..).unwrap_or_default();
            params.extend_from_slice(l.teacher.params(teacher_arena));
        }
        let state = TrainerState {
            iteration: st.iteration,
            optim_steps: st.optim.adam.t,
            skipped_steps: st.optim.skipped,
            counters,
        };
        (state, groups, params)
    }
}

/// The trainer states of a [`Learner`], as its resume snapshot stores them.
#[derive(Serialize, Deserialize)]
enum States {
    Plain(train::State),
    Teacher(discrete_teacher::State),
    Rsmc(train::State),
}

/// Terminal objects whose reward was requested: visits, distinct objects, modes found.
#[derive(Clone, Serialize, Deserialize)]
struct Visits {
    visited: Vec<bool>,
    n: u64,
    distinct: usize,
    modes_found: usize,
    to_all_modes: Option<u64>,
}

impl Visits {
    fn add(&mut self, i: usize, ex: &ExactTarget) {
        self.n += 1;
        if !self.visited[i] {
            self.visited[i] = true;
            self.distinct += 1;
            if ex.is_mode[i] {
                self.modes_found += 1;
                if self.modes_found == ex.modes && self.to_all_modes.is_none() {
                    self.to_all_modes = Some(self.n);
                }
            }
        }
    }
}

/// The SMC passes of an rsmc run: count, resamples, smallest ESS fraction, last log Ẑ.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct SmcTally {
    runs: u64,
    resamples: u64,
    min_ess: f64,
    last_log_z: Option<f64>,
}

/// A discrete training run, driven by [`crate::run_loop`]: the environment and its exact
/// target, the trainer(s) over their arenas, the random stream and the run's counters.
struct DiscreteRun {
    s: DiscreteSettings,
    env: AnyEnv,
    ex: ExactTarget,
    learner: Learner,
    r: rng::Xoshiro256PlusPlus,
    visits: Visits,
    reward_calls: u64,
    smc: SmcTally,
    last_loss: f32,
    last_log_z: f32,
    /// `tv` and `tv_policy` of the last evaluation.
    last_tv: (f64, f64),
    out: String,
}

impl DiscreteRun {
    /// Builds the environment, its exact target and the initialised trainer(s); a new run
    /// then calls [`DiscreteRun::prefill`], a resumed one [`Run::restore`].
    fn new(s: &DiscreteSettings, out: &str) -> CliResult<Self> {
        let env = build_env(s)?;
        let rc = resolve(s, &env)?;
        let ex = ExactTarget::new(&env)?;
        let mut r = rng::seeded(s.seed);
        let learner = Learner::new(&env, &s.method, &rc, s.teacher_reward(), &mut r)
            .map_err(|e| CliError::kernel("configuration", e))?;
        let visits = Visits {
            visited: vec![false; env.n_terminal()],
            n: 0,
            distinct: 0,
            modes_found: 0,
            to_all_modes: None,
        };
        Ok(DiscreteRun {
            s: s.clone(),
            env,
            ex,
            learner,
            r,
            visits,
            reward_calls: 0,
            smc: SmcTally {
                runs: 0,
                resamples: 0,
                min_ess: 1.0,
                last_log_z: None,
            },
            last_loss: f32::NAN,
            last_log_z: f32::NAN,
            last_tv: (f64::NAN, f64::NAN),
            out: out.to_string(),
        })
    }
}

impl DiscreteRun {
    /// The rsmc prefill (its reward calls and visits count).
    fn prefill(&mut self) -> CliResult<()> {
        let (env, ex, visits) = (&self.env, &self.ex, &mut self.visits);
        let calls = self
            .learner
            .prefill(env, |x| visits.add(env.terminal_index(x), ex), &mut self.r)
            .map_err(|e| CliError::kernel("training", e))?;
        self.reward_calls += calls as u64;
        Ok(())
    }
}

/// What a discrete run carries from one step to the next (the body of its resume
/// snapshot).
#[derive(Serialize, Deserialize)]
struct Saved {
    states: States,
    buffers: Buffers,
    r: rng::Xoshiro256PlusPlus,
    visits: Visits,
    reward_calls: u64,
    smc: SmcTally,
    last_loss: f32,
    last_log_z: f32,
    last_tv: (f64, f64),
}

impl Run for DiscreteRun {
    fn step(&mut self, _it: u32) -> CliResult<()> {
        let kerr = |e| CliError::kernel("training", e);
        let (env, ex, visits) = (&self.env, &self.ex, &mut self.visits);
        let i = self
            .learner
            .step(env, |x| visits.add(env.terminal_index(x), ex), &mut self.r)
            .map_err(kerr)?;
        if let Some(s) = i.smc {
            self.smc.last_log_z = Some(s.log_z);
            self.smc.runs += 1;
            self.smc.resamples += s.resamples as u64;
            self.smc.min_ess = self.smc.min_ess.min(s.min_ess_fraction);
        }
        self.last_loss = i.loss;
        self.last_log_z = i.log_z;
        self.reward_calls += i.reward_calls as u64;
        if i.fresh {
            let (scfg, v) = self.learner.student().map_err(kerr)?;
            for k in 0..scfg.batch {
                visits.add(env.terminal_index(v.terminal(k)), ex);
            }
        }
        Ok(())
    }

    fn status(&self) -> String {
        format!(
            "loss {:.4}  log Z {:.3}  tv {} (policy {})  modes {}/{}  visited {}",
            self.last_loss,
            self.last_log_z,
            opt(self.last_tv.0, 4),
            opt(self.last_tv.1, 4),
            self.visits.modes_found,
            self.ex.modes,
            self.visits.n
        )
    }

    fn evaluate(&mut self, at: At) -> CliResult<serde_json::Value> {
        let (scfg, mut v) = self
            .learner
            .student()
            .map_err(|e| CliError::kernel("evaluation", e))?;
        let n = self.s.eval_samples.min(4096);
        let ev = evaluate(&self.env, &scfg, &mut v, &self.ex, n, &mut self.r)?;
        self.last_tv = (ev.tv, ev.tv_policy);
        let vi = &self.visits;
        Ok(json!({
            "iter": at.iteration, "loss": json_num(self.last_loss as f64),
            "log_z": json_num(self.last_log_z as f64),
            "tv": json_num(ev.tv), "jsd": json_num(ev.jsd), "elbo": json_num(ev.elbo),
            "tv_policy": json_num(ev.tv_policy), "jsd_policy": json_num(ev.jsd_policy),
            "log_z_estimate": json_num(ev.log_z_is), "modes_found": vi.modes_found,
            "visited": vi.n, "distinct_visited": vi.distinct,
            "reward_calls": self.reward_calls,
        }))
    }

    fn checkpoint(&mut self) -> CliResult<Checkpoint> {
        let (mut state, groups, params) = self.learner.saved();
        let vi = &self.visits;
        for (k, v) in [
            ("reward_calls", self.reward_calls),
            ("visited", vi.n),
            ("distinct_visited", vi.distinct as u64),
            ("modes_found", vi.modes_found as u64),
            ("smc_runs", self.smc.runs),
        ] {
            state.counters.insert(k.to_string(), v);
        }
        Ok(Checkpoint::new(
            RunSettings::Discrete(self.s.clone()),
            state,
            groups,
            params,
        ))
    }

    fn settings(&self) -> RunSettings {
        RunSettings::Discrete(self.s.clone())
    }

    fn save(&mut self) -> CliResult<Vec<u8>> {
        let (states, buffers) = self
            .learner
            .save()
            .map_err(|e| CliError::kernel("views", e))?;
        snapshot::encode(&Saved {
            states,
            buffers,
            r: self.r.clone(),
            visits: self.visits.clone(),
            reward_calls: self.reward_calls,
            smc: self.smc,
            last_loss: self.last_loss,
            last_log_z: self.last_log_z,
            last_tv: self.last_tv,
        })
    }

    fn restore(&mut self, body: &[u8]) -> CliResult<()> {
        let s: Saved = snapshot::decode(&self.out, body)?;
        if s.visits.visited.len() != self.visits.visited.len() {
            return Err(CliError::file(
                format!("{}/{}", self.out, snapshot::FILE),
                "the saved visits do not fit the environment",
            ));
        }
        self.learner.restore(s.states, &s.buffers, &self.out)?;
        (self.r, self.visits, self.reward_calls) = (s.r, s.visits, s.reward_calls);
        (self.smc, self.last_loss, self.last_log_z) = (s.smc, s.last_loss, s.last_log_z);
        self.last_tv = s.last_tv;
        Ok(())
    }

    fn finish(&mut self, o: &Outcome, _: &mut Metrics) -> CliResult<serde_json::Value> {
        let (s, ex, vi) = (&self.s, &self.ex, &self.visits);
        let (scfg, mut v) = self
            .learner
            .student()
            .map_err(|e| CliError::kernel("evaluation", e))?;
        let ev = evaluate(&self.env, &scfg, &mut v, ex, s.eval_samples, &mut self.r)?;
        let log_z_learned = v.log_z();
        let summary = json!({
            "env": s.env, "method": s.method, "seed": s.seed, "iters": s.iters,
            "batch": s.batch, "seconds": o.seconds, "loss": json_num(self.last_loss as f64),
            "tv": json_num(ev.tv), "l1_mean": json_num(ev.l1), "jsd": json_num(ev.jsd),
            "tv_policy": json_num(ev.tv_policy), "jsd_policy": json_num(ev.jsd_policy),
            "tv_exact_sample_floor": json_num(ex.sample_floor(ev.sample_idx.len(), s.seed)?),
            "modes_found": vi.modes_found, "modes_total": ex.modes,
            "visited": vi.n, "distinct_visited": vi.distinct,
            "visits_to_all_modes": vi.to_all_modes, "reward_calls": self.reward_calls,
            "log_z_error": json_num((ev.log_z_is - ex.log_z).abs()),
            "smc_log_z_last": self.smc.last_log_z.map(json_num),
            "smc_runs": self.smc.runs, "smc_resamples": self.smc.resamples,
            "smc_min_ess_fraction": json_num(self.smc.min_ess),
            "target": s.env,
            "log_z_estimate": json_num(ev.log_z_is),
            "log_z_learned": json_num(log_z_learned as f64),
            "log_z_true": json_num(ex.log_z), "elbo": json_num(ev.elbo),
            "eubo": json_num(ev.eubo),
            "n_terminal": self.env.n_terminal(), "eval_samples": ev.sample_idx.len(),
        });
        let csv = samples_csv(&self.env, &ev.sample_idx);
        write_atomic(&format!("{}/samples.csv", self.out), csv.as_bytes())?;
        Ok(summary)
    }
}

/// The files a discrete run writes besides the loop's.
const FILES: &str = "samples.csv";

/// Rebuilds a discrete run (settings `s`, iterations to run included) in `out`, restores
/// it from its snapshot `sn` and hands it to `f`.
pub(super) fn resume<T>(
    s: &DiscreteSettings,
    sn: &Snapshot,
    out: &str,
    f: Then<'_, T>,
) -> CliResult<T> {
    let mut run = DiscreteRun::new(s, out)?;
    super::resume::restore(&mut run, sn)?;
    f(&mut run, &run_loop::Settings::resuming(out, sn, FILES))
}

/// Runs `amortise train-discrete`.
pub fn run(a: &TrainDiscreteArgs) -> CliResult<()> {
    if let Some(dir) = &a.run.resume.resume {
        let ch = super::resume::Changes {
            iters: a.run.iters.unwrap_or(0),
            threads: 1,
            eval_reference: None,
        };
        return super::resume::run(
            dir,
            &a.run.resume,
            ch,
            super::resume::Command::TrainDiscrete,
        );
    }
    let s = DiscreteSettings::of(a);
    let out = a
        .run
        .out
        .clone()
        .unwrap_or_else(|| format!("out/{}-{}-s{}", s.env, s.method, s.seed));
    // the settings are checked before the output folder is created
    resolve(&s, &build_env(&s)?)?;
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::file(&out, format!("cannot create output folder: {e}")))?;
    let mut run = DiscreteRun::new(&s, &out)?;
    run.prefill()?;
    let ls = run_loop::Settings::new(&out, s.iters, a.run.eval_every, &a.run.resume, FILES);
    run_loop::run(&mut run, &ls).map(|_| ())
}
