//! The discrete environments and settings of `amortise train-discrete` (and `train --target
//! ENV`): the run-time environment [`AnyEnv`], the resolved settings [`DiscreteSettings`]
//! (what a `discrete` checkpoint stores), their checks ([`build_env`], [`resolve`]), and the
//! samples of a discrete checkpoint. The training run itself is
//! [`super::discrete_run`].

use std::fmt::Write as _;

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
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::cli::TrainDiscreteArgs;
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

/// The resolved settings of a discrete run (every flag but `--out` and `--eval-every`), as
/// a `discrete` checkpoint stores them: enough to rebuild the environment ([`build_env`])
/// and the kernel configuration ([`resolve`]). `None` means the method's default
/// (`--side`: grid 16, Ising 3; `--buffer`, `--buffer-priority`, `--chunk`: see
/// [`resolve`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscreteSettings {
    /// Environment: grid, deceptive-grid, sequence or ising.
    pub env: String,
    /// Method: tb, db, subtb, rsmc or teacher.
    pub method: String,
    /// Grid dimension d.
    pub dim: usize,
    /// Grid or Ising lattice side.
    pub side: Option<usize>,
    /// Sequence length.
    pub len: usize,
    /// Sequence alphabet size.
    pub alphabet: usize,
    /// Planted modes of the sequence reward.
    pub modes: usize,
    /// Temperature of the sequence reward.
    pub temperature: f32,
    /// Reward floor of the sequence reward.
    pub floor: f32,
    /// Seed of the planted sequence modes.
    pub env_seed: u64,
    /// Ising coupling J.
    pub coupling: f32,
    /// Ising field h.
    pub field: f32,
    /// Training iterations.
    pub iters: u32,
    /// Trajectories per iteration.
    pub batch: usize,
    /// Hidden width of the policy network.
    pub hidden: usize,
    /// Learning rate of the network.
    pub lr: f32,
    /// Epsilon-uniform exploration.
    pub epsilon: f32,
    /// Learn the backward policy.
    pub learn_pb: bool,
    /// Replay buffer capacity.
    pub buffer: Option<usize>,
    /// Buffer priority: reward, iw or uniform.
    pub buffer_priority: Option<String>,
    /// rsmc: prefill SMC runs.
    pub prefill: u32,
    /// rsmc: chunk length L.
    pub chunk: Option<usize>,
    /// rsmc: off-policy iterations per on-policy iteration.
    pub replay_ratio: u32,
    /// iw buffer priority: target ESS fraction.
    pub buffer_ess: f64,
    /// rsmc: SMC resampling threshold.
    pub resample_threshold: f64,
    /// rsmc: weight of the SubTB term.
    pub subtb_weight: f32,
    /// rsmc: hidden width of the state-flow network (0 = a head of the policy network).
    pub flow_hidden: usize,
    /// Random seed.
    pub seed: u64,
    /// teacher: exponent alpha of R(x)^alpha in the teacher reward.
    pub teacher_alpha: f32,
    /// Samples of the final evaluation.
    pub eval_samples: usize,
}

impl DiscreteSettings {
    /// The settings of these arguments, with the discrete defaults of the flags that
    /// `train` shares with other targets: `--dim 2`, `--batch 16`, `--lr 1e-3`,
    /// `--prefill 4`, `--replay-ratio 2`, `--buffer-ess 0.05`, `--resample-threshold 0.2`,
    /// `--subtb-weight 1`, `--eval-samples 20000`.
    pub fn of(a: &TrainDiscreteArgs) -> Self {
        let (run, model, replay, d) = (&a.run, &a.model, &a.replay, &a.discrete);
        DiscreteSettings {
            env: a.env.clone(),
            method: a.method.clone(),
            dim: run.dim.unwrap_or(settings::GRID_DIM),
            side: d.side,
            len: d.len,
            alphabet: d.alphabet,
            modes: d.modes,
            temperature: d.temperature,
            floor: d.floor,
            env_seed: d.env_seed,
            coupling: d.coupling,
            field: d.field,
            iters: run.iters.unwrap_or(amortise_settings::defaults::ITERS),
            batch: model.batch.unwrap_or(settings::BATCH),
            hidden: model.hidden.unwrap_or(amortise_settings::defaults::WIDTH),
            lr: model.lr.unwrap_or(settings::LR),
            epsilon: d.epsilon,
            learn_pb: d.learn_pb,
            buffer: replay.buffer,
            buffer_priority: replay.buffer_priority.clone(),
            prefill: replay.prefill.unwrap_or(settings::PREFILL),
            chunk: replay.chunk,
            replay_ratio: d.replay_ratio.unwrap_or(settings::REPLAY_RATIO),
            buffer_ess: d.buffer_ess.unwrap_or(settings::BUFFER_ESS),
            resample_threshold: d.resample_threshold.unwrap_or(settings::RESAMPLE_THRESHOLD),
            subtb_weight: d.subtb_weight.unwrap_or(settings::SUBTB_WEIGHT),
            flow_hidden: model
                .flow_hidden
                .unwrap_or(amortise_settings::defaults::WIDTH),
            seed: run.seed,
            teacher_alpha: d.teacher_alpha,
            eval_samples: run.eval_samples.unwrap_or(settings::EVAL_SAMPLES),
        }
    }

    /// The teacher reward of `--method teacher` (`alpha` from `--teacher-alpha`).
    pub fn teacher_reward(&self) -> teacher::Config {
        teacher::Config {
            alpha: self.teacher_alpha,
            ..teacher::Config::default()
        }
    }
}

/// Builds the environment from the settings, after checking that every real-valued
/// setting is finite, also those the environment or method does not use: a checkpoint or
/// resume snapshot stores them all, and JSON has no infinities (an infinite `--field` of a
/// grid run wrote a `null` that did not load back; found by the snapshot fuzz target).
pub fn build_env(a: &DiscreteSettings) -> CliResult<AnyEnv> {
    let reals = [
        ("--temperature", f64::from(a.temperature)),
        ("--floor", f64::from(a.floor)),
        ("--coupling", f64::from(a.coupling)),
        ("--field", f64::from(a.field)),
        ("--lr", f64::from(a.lr)),
        ("--epsilon", f64::from(a.epsilon)),
        ("--buffer-ess", a.buffer_ess),
        ("--resample-threshold", a.resample_threshold),
        ("--subtb-weight", f64::from(a.subtb_weight)),
        ("--teacher-alpha", f64::from(a.teacher_alpha)),
    ];
    if let Some((flag, _)) = reals.iter().find(|(_, v)| !v.is_finite()) {
        return Err(CliError::flag(*flag, "must be finite"));
    }
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
pub fn resolve(a: &DiscreteSettings, env: &AnyEnv) -> CliResult<rsmc::Config> {
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

/// Largest training arena a discrete checkpoint may ask for, in 4-byte numbers (2 GiB).
pub const MAX_ARENA: usize = 1 << 29;

/// The trainer layouts of a run with these settings: the student (every method's
/// evaluated trainer) and, for `teacher`, the teacher; after checking the settings by the
/// flags' rules and the memory they need.
///
/// # Errors
/// The flag error the command would give, or settings whose arena is too large.
pub fn layouts(
    s: &DiscreteSettings,
    env: &AnyEnv,
) -> CliResult<(rsmc::Config, train::Layout, Option<train::Layout>)> {
    let rc = resolve(s, env)?;
    let kerr = |e| CliError::kernel("configuration", e);
    let (student, teacher, total) = match s.method.as_str() {
        "teacher" => {
            let c = discrete_teacher::Config::new(s.teacher_reward(), rc.train);
            let l = discrete_teacher::Layout::new(env, &c).map_err(kerr)?;
            (
                l.student,
                Some(l.teacher),
                l.f32_len.saturating_add(l.u32_len),
            )
        }
        "rsmc" => {
            let l = rsmc::Layout::new(env, &rc).map_err(kerr)?;
            (l.train, None, l.f32_len.saturating_add(l.u32_len))
        }
        _ => {
            let l = train::Layout::new(env, &rc.train).map_err(kerr)?;
            (l, None, l.f32_len.saturating_add(l.u32_len))
        }
    };
    if total > MAX_ARENA {
        return Err(CliError::flag(
            "--batch",
            format!("these settings need {total} numbers of training memory (limit {MAX_ARENA})"),
        ));
    }
    Ok((rc, student, teacher))
}

/// The checkpoint groups of one trainer (`prefix` names the teacher's): the policy
/// network, the separate flow network (empty without one) and `log Z`.
pub fn trainer_groups(l: &train::Layout, prefix: &str) -> [(String, usize); 3] {
    [
        (format!("{prefix}policy"), l.policy_params),
        (format!("{prefix}flows"), l.n_params - l.policy_params - 1),
        (format!("{prefix}log_z"), 1),
    ]
}

/// The checkpoint groups of a discrete run with these settings: `policy, flows, log_z`
/// (the student), then for `teacher` `teacher_policy, teacher_flows, teacher_log_z`,
/// after checking the settings by the flags' rules ([`layouts`]).
///
/// # Errors
/// The flag error the command would give.
pub fn checkpoint_groups(s: &DiscreteSettings) -> CliResult<Vec<(String, usize)>> {
    let env = build_env(s)?;
    let (_, student, teacher) = layouts(s, &env)?;
    let mut g = trainer_groups(&student, "").to_vec();
    if let Some(t) = teacher {
        g.extend(trainer_groups(&t, "teacher_"));
    }
    Ok(g)
}

/// Draws `n` terminal objects from a discrete checkpoint's student policy (no
/// exploration, as the evaluations draw them); returns the environment and their terminal
/// indices.
///
/// # Errors
/// Settings or groups that do not rebuild the model (checked when loading), kernel errors.
pub fn sample_checkpoint(
    s: &DiscreteSettings,
    ck: &Checkpoint,
    n: usize,
    seed: u64,
) -> CliResult<(AnyEnv, Vec<usize>)> {
    let env = build_env(s)?;
    super::sample::check_values(n, env.state_len())?;
    let (rc, lay, _) = layouts(s, &env)?;
    let mut params = Vec::with_capacity(lay.n_params);
    for (name, _) in trainer_groups(&lay, "") {
        params.extend_from_slice(ck.group(&name).unwrap_or_default());
    }
    if params.len() != lay.n_params {
        return Err(CliError::file(
            "checkpoint",
            "checkpoint is corrupt (policy size does not match its configuration)",
        ));
    }
    let kerr = |e| CliError::kernel("sampling", e);
    let (mut fa, mut ua) = (vec![0.0f32; lay.f32_len], vec![0u32; lay.u32_len]);
    let mut v = train::Views::new(&lay, &mut fa, &mut ua).map_err(kerr)?;
    v.params_mut().copy_from_slice(&params);
    let mut r = rng::seeded(seed);
    let mut idx = Vec::with_capacity(n);
    while idx.len() < n {
        train::sample_forward(&env, &rc.train, &mut v, 0.0, &mut r).map_err(kerr)?;
        for k in 0..rc.train.batch.min(n - idx.len()) {
            idx.push(env.terminal_index(v.terminal(k)));
        }
    }
    Ok((env, idx))
}

/// The sample file of discrete objects (`samples.csv` of a run, `amortise sample` of a
/// discrete checkpoint): a header `index,s1,…`, then per object its terminal index and the
/// words of its state without the last (the done flag).
pub fn samples_csv(env: &AnyEnv, idx: &[usize]) -> String {
    let s = env.state_len();
    let mut csv = String::from("index");
    for k in 0..s - 1 {
        let _ = write!(csv, ",s{}", k + 1);
    }
    csv.push('\n');
    let mut st = vec![0u32; s];
    for &i in idx {
        env.terminal_from_index(i, &mut st);
        let _ = write!(csv, "{i}");
        for w in &st[..s - 1] {
            let _ = write!(csv, ",{w}");
        }
        csv.push('\n');
    }
    csv
}
