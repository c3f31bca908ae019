//! `amortise train-discrete`: trains a GFlowNet on a discrete environment, evaluates it
//! against the exact (enumerated) target and writes `metrics.jsonl`, `summary.json` and
//! `samples.csv` into the output folder.

use std::fmt::Write as _;
use std::time::Instant;

use amortise_kernel::buffer::Priority;
use amortise_kernel::rng;
use amortise_kernel::samplers::gflownet::env::DiscreteEnv;
use amortise_kernel::samplers::gflownet::grid::{GridReward, Hypergrid};
use amortise_kernel::samplers::gflownet::ising::Ising;
use amortise_kernel::samplers::gflownet::rsmc::{self, SmcConfig};
use amortise_kernel::samplers::gflownet::sequence::{SequenceConfig, SequenceEnv};
use amortise_kernel::samplers::gflownet::train::{self, Config as TrainConfig};
use amortise_kernel::teacher::{self, discrete as discrete_teacher};
use amortise_settings::discrete as settings;
use serde_json::json;

use super::discrete_eval::{ExactTarget, evaluate};
use super::json_num;
use crate::cli::TrainDiscreteArgs;
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};

pub use amortise_settings::discrete::{ENVS, METHODS};

/// One of the kernel's environments, chosen at run time.
// Built once per run; the size difference (the planted-mode table) does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub enum AnyEnv {
    /// Hypergrid (standard or deceptive reward).
    Grid(Hypergrid),
    /// Prepend/append sequences.
    Sequence(SequenceEnv),
    /// Ising lattice.
    Ising(Ising),
}

macro_rules! delegate {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            AnyEnv::Grid($e) => $body,
            AnyEnv::Sequence($e) => $body,
            AnyEnv::Ising($e) => $body,
        }
    };
}

impl DiscreteEnv for AnyEnv {
    fn state_len(&self) -> usize {
        delegate!(self, e => e.state_len())
    }
    fn feature_len(&self) -> usize {
        delegate!(self, e => e.feature_len())
    }
    fn n_actions(&self) -> usize {
        delegate!(self, e => e.n_actions())
    }
    fn n_back_actions(&self) -> usize {
        delegate!(self, e => e.n_back_actions())
    }
    fn max_steps(&self) -> usize {
        delegate!(self, e => e.max_steps())
    }
    fn n_terminal(&self) -> usize {
        delegate!(self, e => e.n_terminal())
    }
    fn reset(&self, s: &mut [u32]) {
        delegate!(self, e => e.reset(s))
    }
    fn features(&self, s: &[u32], out: &mut [f32]) {
        delegate!(self, e => e.features(s, out))
    }
    fn forward_mask(&self, s: &[u32], mask: &mut [bool]) {
        delegate!(self, e => e.forward_mask(s, mask))
    }
    fn step(&self, s: &mut [u32], a: usize) {
        delegate!(self, e => e.step(s, a))
    }
    fn backward_mask(&self, s: &[u32], mask: &mut [bool]) {
        delegate!(self, e => e.backward_mask(s, mask))
    }
    fn step_back(&self, s: &mut [u32], b: usize) {
        delegate!(self, e => e.step_back(s, b))
    }
    fn back_action_of(&self, parent: &[u32], a: usize) -> usize {
        delegate!(self, e => e.back_action_of(parent, a))
    }
    fn forward_action_of(&self, child: &[u32], b: usize) -> usize {
        delegate!(self, e => e.forward_action_of(child, b))
    }
    fn log_reward(&self, s: &[u32]) -> f32 {
        delegate!(self, e => e.log_reward(s))
    }
    fn is_mode(&self, s: &[u32]) -> bool {
        delegate!(self, e => e.is_mode(s))
    }
    fn terminal_index(&self, s: &[u32]) -> usize {
        delegate!(self, e => e.terminal_index(s))
    }
    fn terminal_from_index(&self, i: usize, s: &mut [u32]) {
        delegate!(self, e => e.terminal_from_index(i, s))
    }
}

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

    /// The configuration and views of the trainer that is evaluated (the student).
    fn student(&mut self) -> Result<(TrainConfig, train::Views<'_>), amortise_kernel::Error> {
        let (fa, ua) = (&mut self.f32s[..], &mut self.u32s[..]);
        Ok(match &self.kind {
            Kind::Plain(c, l, _) => (*c, train::Views::new(l, fa, ua)?),
            Kind::Teacher(c, l, _) => (c.student, discrete_teacher::Views::new(l, fa, ua)?.student),
            Kind::Rsmc(c, l, _) => (c.train, rsmc::Views::new(l, fa, ua)?.train),
        })
    }
}

/// Terminal objects whose reward was requested: visits, distinct objects, modes found.
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

/// Builds the environment from the flags.
pub fn build_env(a: &TrainDiscreteArgs) -> CliResult<AnyEnv> {
    let env = match a.env.as_str() {
        "grid" | "deceptive-grid" => {
            let reward = if a.env == "grid" {
                GridReward::Standard
            } else {
                GridReward::Deceptive
            };
            Hypergrid::new(a.dim, a.side.unwrap_or(settings::GRID_SIDE), reward)
                .map(AnyEnv::Grid)
                .map_err(|e| CliError::flag("--dim/--side", e.to_string()))?
        }
        "sequence" => SequenceEnv::new(SequenceConfig {
            len: a.len,
            alphabet: a.alphabet,
            modes: a.modes,
            temperature: a.temperature,
            floor: a.floor,
            seed: a.env_seed,
        })
        .map(AnyEnv::Sequence)
        .map_err(|e| {
            CliError::flag(
                "--len/--alphabet/--modes/--temperature/--floor",
                e.to_string(),
            )
        })?,
        "ising" => Ising::new(a.side.unwrap_or(settings::ISING_SIDE), a.coupling, a.field)
            .map(AnyEnv::Ising)
            .map_err(|e| CliError::flag("--side/--coupling/--field", e.to_string()))?,
        other => {
            return Err(CliError::flag(
                "--env",
                format!("unknown environment `{other}` (known: {})", ENVS.join(", ")),
            ));
        }
    };
    Ok(env)
}

/// Resolves and validates the flags into the kernel configuration: the trainer (`.train`,
/// for every method) and, for `rsmc`, the SMC loop around it.
pub fn resolve(a: &TrainDiscreteArgs, env: &AnyEnv) -> CliResult<rsmc::Config> {
    let is_rsmc = a.method == "rsmc";
    let loss = settings::loss(&a.method)?;
    let prio = a
        .buffer_priority
        .as_deref()
        .unwrap_or(settings::default_priority(&a.method));
    let buffer_priority = settings::priority(prio, a.buffer_ess)?;
    if a.eval_samples == 0 || a.eval_samples > 1_000_000 {
        return Err(CliError::flag("--eval-samples", "must be in 1..=1000000"));
    }
    if is_rsmc && !matches!(buffer_priority, Priority::ImportanceWeight { .. }) {
        return Err(CliError::flag(
            "--buffer-priority",
            "rsmc samples its buffer by importance weight (iw)",
        ));
    }
    let buffer = a
        .buffer
        .unwrap_or(settings::default_buffer(&a.method, a.batch));
    if buffer > 1_000_000 {
        return Err(CliError::flag("--buffer", "at most 1000000"));
    }
    if is_rsmc && buffer < a.batch {
        return Err(CliError::flag(
            "--buffer",
            format!(
                "rsmc needs a buffer that holds at least one SMC batch (--buffer >= --batch = {})",
                a.batch
            ),
        ));
    }
    let depth = env.max_steps();
    let smc = SmcConfig {
        chunk: a.chunk.unwrap_or(settings::default_chunk(depth)),
        resample_threshold: a.resample_threshold,
        ..SmcConfig::default()
    };
    if is_rsmc {
        smc.validate(depth)
            .map_err(|e| {
                let flag = if matches!(e, amortise_kernel::Error::InvalidConfig(m) if m.contains("chunk")) {
                    "--chunk"
                } else {
                    "--resample-threshold"
                };
                CliError::flag(flag, format!("{e} (depth {depth})"))
            })?;
        if a.replay_ratio > 1000 {
            return Err(CliError::flag("--replay-ratio", "at most 1000"));
        }
        if a.prefill > 10_000 {
            return Err(CliError::flag("--prefill", "at most 10000"));
        }
    }
    let cfg = TrainConfig {
        loss,
        batch: a.batch,
        hidden: a.hidden,
        lr: a.lr,
        epsilon: a.epsilon,
        learn_pb: a.learn_pb,
        buffer_capacity: buffer,
        buffer_priority,
        subtb_weight: a.subtb_weight,
        flow_hidden: if is_rsmc { a.flow_hidden } else { 0 },
        ..TrainConfig::default()
    };
    cfg.validate().map_err(|e| {
        let flag = match e {
            amortise_kernel::Error::InvalidConfig(m) if m.contains("batch") => "--batch",
            amortise_kernel::Error::InvalidConfig(m) if m.contains("hidden") => "--hidden",
            amortise_kernel::Error::InvalidConfig(m) if m.contains("epsilon") => "--epsilon",
            amortise_kernel::Error::InvalidConfig(m) if m.contains("learning") => "--lr",
            amortise_kernel::Error::InvalidConfig(m) if m.contains("flow hidden") => {
                "--flow-hidden"
            }
            amortise_kernel::Error::InvalidConfig(m) if m.contains("SubTB weight") => {
                "--subtb-weight"
            }
            _ => "--method",
        };
        CliError::flag(flag, e.to_string())
    })?;
    Ok(rsmc::Config {
        train: cfg,
        smc,
        replay_ratio: a.replay_ratio,
        prefill: a.prefill,
    })
}

/// Runs `amortise train-discrete`.
pub fn run(a: &TrainDiscreteArgs) -> CliResult<()> {
    let env = build_env(a)?;
    let rc = resolve(a, &env)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| format!("out/{}-{}-s{}", a.env, a.method, a.seed));
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::file(&out, format!("cannot create output folder: {e}")))?;
    let ex = ExactTarget::new(&env)?;
    let mut r = rng::seeded(a.seed);
    let reward = teacher::Config {
        alpha: a.teacher_alpha,
        ..teacher::Config::default()
    };
    let mut learner = Learner::new(&env, &a.method, &rc, reward, &mut r)
        .map_err(|e| CliError::kernel("configuration", e))?;
    let kerr = |e| CliError::kernel("training", e);
    let mut visits = Visits {
        visited: vec![false; env.n_terminal()],
        n: 0,
        distinct: 0,
        modes_found: 0,
        to_all_modes: None,
    };
    let calls = learner
        .prefill(&env, |x| visits.add(env.terminal_index(x), &ex), &mut r)
        .map_err(kerr)?;
    let mut reward_calls = calls as u64;
    let mut last_smc_log_z = None;
    let (mut smc_runs, mut smc_resamples, mut smc_min_ess) = (0u64, 0u64, 1.0f64);
    let eval_every = a.eval_every.unwrap_or((a.iters / 10).max(1)).max(1);
    let mut metrics = String::new();
    let t0 = Instant::now();
    let mut last_loss = f32::NAN;
    for it in 1..=a.iters {
        let i = learner
            .step(&env, |x| visits.add(env.terminal_index(x), &ex), &mut r)
            .map_err(kerr)?;
        if let Some(s) = i.smc {
            last_smc_log_z = Some(s.log_z);
            smc_runs += 1;
            smc_resamples += s.resamples as u64;
            smc_min_ess = smc_min_ess.min(s.min_ess_fraction);
        }
        let (loss, log_z) = (i.loss, i.log_z);
        last_loss = loss;
        reward_calls += i.reward_calls as u64;
        let (scfg, mut v) = learner.student().map_err(kerr)?;
        if i.fresh {
            for k in 0..scfg.batch {
                visits.add(env.terminal_index(v.terminal(k)), &ex);
            }
        }
        if it % eval_every == 0 || it == a.iters {
            let ev = evaluate(&env, &scfg, &mut v, &ex, a.eval_samples.min(4096), &mut r)?;
            let line = json!({
                "iter": it, "loss": json_num(loss as f64), "log_z": json_num(log_z as f64),
                "tv": json_num(ev.tv), "jsd": json_num(ev.jsd), "elbo": json_num(ev.elbo),
                "tv_policy": json_num(ev.tv_policy), "jsd_policy": json_num(ev.jsd_policy),
                "log_z_estimate": json_num(ev.log_z_is), "modes_found": visits.modes_found,
                "visited": visits.n, "distinct_visited": visits.distinct,
                "reward_calls": reward_calls,
            });
            let _ = writeln!(metrics, "{line}");
            eprintln!(
                "iter {it}: loss {:.4} tv {:.4} (policy, exact {:.4}) modes {}/{} visited {}",
                loss, ev.tv, ev.tv_policy, visits.modes_found, ex.modes, visits.n
            );
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let (scfg, mut v) = learner.student().map_err(kerr)?;
    let ev = evaluate(&env, &scfg, &mut v, &ex, a.eval_samples, &mut r)?;
    let log_z_learned = v.log_z();
    let summary = json!({
        "env": a.env, "method": a.method, "seed": a.seed, "iters": a.iters, "batch": a.batch,
        "seconds": seconds, "loss": json_num(last_loss as f64),
        "tv": json_num(ev.tv), "l1_mean": json_num(ev.l1), "jsd": json_num(ev.jsd),
        "tv_policy": json_num(ev.tv_policy), "jsd_policy": json_num(ev.jsd_policy),
        "tv_exact_sample_floor": json_num(ex.sample_floor(ev.sample_idx.len(), a.seed)?),
        "modes_found": visits.modes_found, "modes_total": ex.modes,
        "visited": visits.n, "distinct_visited": visits.distinct,
        "visits_to_all_modes": visits.to_all_modes, "reward_calls": reward_calls,
        "log_z_error": json_num((ev.log_z_is - ex.log_z).abs()),
        "smc_log_z_last": last_smc_log_z.map(json_num),
        "smc_runs": smc_runs, "smc_resamples": smc_resamples,
        "smc_min_ess_fraction": json_num(smc_min_ess),
        "target": a.env,
        "log_z_estimate": json_num(ev.log_z_is), "log_z_learned": json_num(log_z_learned as f64),
        "log_z_true": json_num(ex.log_z), "elbo": json_num(ev.elbo), "eubo": json_num(ev.eubo),
        "n_terminal": env.n_terminal(), "eval_samples": ev.sample_idx.len(),
    });
    write_atomic(&format!("{out}/metrics.jsonl"), metrics.as_bytes())?;
    write_atomic(
        &format!("{out}/summary.json"),
        serde_json::to_string_pretty(&summary)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let s = env.state_len();
    let mut csv = String::from("index");
    for k in 0..s - 1 {
        let _ = write!(csv, ",s{}", k + 1);
    }
    csv.push('\n');
    let mut st = vec![0u32; s];
    for &i in &ev.sample_idx {
        env.terminal_from_index(i, &mut st);
        let _ = write!(csv, "{i}");
        for w in &st[..s - 1] {
            let _ = write!(csv, ",{w}");
        }
        csv.push('\n');
    }
    write_atomic(&format!("{out}/samples.csv"), csv.as_bytes())?;
    eprintln!("wrote {out}/summary.json, metrics.jsonl, samples.csv");
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    Ok(())
}
