//! `amortise train-discrete`: trains a GFlowNet on a discrete environment, evaluates it
//! against the exact (enumerated) target and writes `metrics.jsonl`, `summary.json` and
//! `samples.csv` into the output folder.

use std::fmt::Write as _;
use std::time::Instant;

use amortise_kernel::buffer::Priority;
use amortise_kernel::metrics::{bounds, histogram};
use amortise_kernel::rng::{self, uniform_f64};
use amortise_kernel::samplers::gflownet::env::DiscreteEnv;
use amortise_kernel::samplers::gflownet::exact;
use amortise_kernel::samplers::gflownet::grid::{GridReward, Hypergrid};
use amortise_kernel::samplers::gflownet::ising::Ising;
use amortise_kernel::samplers::gflownet::rsmc::{self, RsmcConfig, SmcConfig, SmcWorkspace};
use amortise_kernel::samplers::gflownet::sequence::{SequenceConfig, SequenceEnv};
use amortise_kernel::samplers::gflownet::train::{Layout, LossKind, TrainConfig, Trainer};
use amortise_kernel::teacher;
use serde_json::json;

use super::json_num;
use crate::cli::TrainDiscreteArgs;
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};

/// The environment names `--env` accepts.
pub const ENVS: [&str; 4] = ["grid", "deceptive-grid", "sequence", "ising"];
/// The methods `--method` accepts.
pub const METHODS: [&str; 5] = ["tb", "db", "subtb", "rsmc", "teacher"];

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
/// RSMC (a trainer driven by SMC into its importance-weighted buffer).
// One per run; the teacher variant is boxed, the plain one is the size of one trainer.
#[allow(clippy::large_enum_variant)]
enum Learner<'a> {
    Plain(Trainer<'a, AnyEnv>),
    Teacher(Box<teacher::State<'a, AnyEnv>>),
    Rsmc(Trainer<'a, AnyEnv>, RsmcConfig, SmcWorkspace<'a>),
}

impl<'a> Learner<'a> {
    /// The trainer that is evaluated (the student).
    fn student(&mut self) -> &mut Trainer<'a, AnyEnv> {
        match self {
            Learner::Plain(t) | Learner::Rsmc(t, ..) => t,
            Learner::Teacher(s) => &mut s.student,
        }
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
            Hypergrid::new(a.dim, a.side.unwrap_or(16), reward)
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
        "ising" => Ising::new(a.side.unwrap_or(3), a.coupling, a.field)
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

/// Resolves and validates the flags into the kernel configuration (and, for `rsmc`, the
/// SMC configuration).
pub fn resolve(a: &TrainDiscreteArgs, env: &AnyEnv) -> CliResult<(TrainConfig, RsmcConfig)> {
    let is_rsmc = a.method == "rsmc";
    let loss = match a.method.as_str() {
        "tb" | "teacher" => LossKind::Tb,
        "db" => LossKind::Db,
        "subtb" => LossKind::SubTb,
        "rsmc" => LossKind::TbSubTb,
        other => {
            return Err(CliError::flag(
                "--method",
                format!("unknown method `{other}` (known: {})", METHODS.join(", ")),
            ));
        }
    };
    let prio = a
        .buffer_priority
        .as_deref()
        .unwrap_or(if is_rsmc { "iw" } else { "reward" });
    let buffer_priority = match prio {
        "reward" => Priority::RewardRank { rank_weight: 0.01 },
        "iw" => {
            if !(a.buffer_ess > 0.0 && a.buffer_ess <= 1.0) {
                return Err(CliError::flag("--buffer-ess", "must be in (0, 1]"));
            }
            Priority::ImportanceWeight {
                target_ess: a.buffer_ess,
            }
        }
        "uniform" => Priority::Uniform,
        other => {
            return Err(CliError::flag(
                "--buffer-priority",
                format!("unknown priority `{other}` (reward, iw or uniform)"),
            ));
        }
    };
    if a.eval_samples == 0 || a.eval_samples > 1_000_000 {
        return Err(CliError::flag("--eval-samples", "must be in 1..=1000000"));
    }
    if is_rsmc && !matches!(buffer_priority, Priority::ImportanceWeight { .. }) {
        return Err(CliError::flag(
            "--buffer-priority",
            "rsmc samples its buffer by importance weight (iw)",
        ));
    }
    let buffer = a.buffer.unwrap_or(if is_rsmc { 100 * a.batch } else { 0 });
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
        chunk: a
            .chunk
            .unwrap_or(if depth.is_multiple_of(3) { 3 } else { 1 }),
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
    let rc = RsmcConfig {
        smc,
        replay_ratio: a.replay_ratio,
        prefill: a.prefill,
    };
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
    Ok((cfg, rc))
}

/// Exact reference quantities of an environment.
pub struct ExactTarget {
    /// `π(x)` indexed by terminal index.
    pub p: Vec<f32>,
    /// `log Z`.
    pub log_z: f64,
    /// Number of modes.
    pub modes: usize,
    /// Mode flag per terminal index.
    pub is_mode: Vec<bool>,
}

impl ExactTarget {
    /// TV between `π` and the empirical distribution of `n` exact samples from `π` (seeded):
    /// the sampling-noise floor of the sample-based `tv` at `n` samples.
    pub fn sample_floor(&self, n: usize, seed: u64) -> CliResult<f64> {
        let mut r = rng::seeded(seed ^ 0x5eed_f100);
        let mut cdf = Vec::with_capacity(self.p.len());
        let mut acc = 0.0f64;
        for &p in &self.p {
            acc += p as f64;
            cdf.push(acc);
        }
        let mut counts = vec![0u32; self.p.len()];
        for _ in 0..n {
            let u = uniform_f64(&mut r) * acc;
            counts[cdf.partition_point(|&c| c <= u).min(self.p.len() - 1)] += 1;
        }
        let mut q = vec![0.0f32; self.p.len()];
        let kerr = |e| CliError::kernel("sample floor", e);
        histogram::normalize_counts(&counts, &mut q).map_err(kerr)?;
        histogram::total_variation(&self.p, &q).map_err(kerr)
    }

    /// Enumerates `env`.
    pub fn new(env: &AnyEnv) -> CliResult<Self> {
        let mut p = vec![0.0f32; env.n_terminal()];
        let log_z =
            exact::distribution(env, &mut p).map_err(|e| CliError::kernel("enumeration", e))?;
        let mut s = vec![0u32; env.state_len()];
        let is_mode: Vec<bool> = (0..env.n_terminal())
            .map(|i| {
                env.terminal_from_index(i, &mut s);
                env.is_mode(&s)
            })
            .collect();
        let modes = is_mode.iter().filter(|&&m| m).count();
        Ok(ExactTarget {
            p,
            log_z,
            modes,
            is_mode,
        })
    }
}

/// The exact terminal distribution of the trainer's forward policy (no ε), by dynamic
/// programming over the DAG layer by layer: `P(s') = Σ_s P(s) P_F(s'|s)`, done states
/// collected into `q` (indexed by terminal index). Every non-terminal state is evaluated
/// once (87,381 for the default sequence target), so TV and JSD of the *sampler* to `π`
/// carry no sampling noise. Ordered maps keep the summation order, hence the numbers,
/// deterministic.
pub fn policy_distribution(tr: &Trainer<'_, AnyEnv>) -> CliResult<Vec<f64>> {
    use std::collections::BTreeMap;
    let kerr = |e| CliError::kernel("exact policy distribution", e);
    let env = *tr.env();
    let lay = Layout::new(&env, tr.config()).map_err(kerr)?;
    let params = &tr.params()[..lay.policy_params];
    let (fl, na, ow) = (env.feature_len(), env.n_actions(), lay.out_width);
    const ROWS: usize = 1024;
    let mut feats = vec![0.0f32; ROWS * fl];
    let mut out = vec![0.0f32; ROWS * ow];
    let mut scratch = vec![0.0f32; lay.mlp.scratch_len(ROWS)];
    let mut mask = vec![false; na];
    let mut logp = vec![0.0f32; na];
    let mut q = vec![0.0f64; env.n_terminal()];
    let mut s0 = vec![0u32; env.state_len()];
    env.reset(&mut s0);
    let mut layer: BTreeMap<Vec<u32>, f64> = BTreeMap::from([(s0, 1.0)]);
    for _ in 0..env.max_steps() {
        if layer.is_empty() {
            break;
        }
        let states: Vec<(Vec<u32>, f64)> = std::mem::take(&mut layer).into_iter().collect();
        for chunk in states.chunks(ROWS) {
            for (k, (st, _)) in chunk.iter().enumerate() {
                env.features(st, &mut feats[k * fl..(k + 1) * fl]);
            }
            let n = chunk.len();
            lay.mlp
                .predict(
                    params,
                    &feats[..n * fl],
                    n,
                    &mut scratch,
                    &mut out[..n * ow],
                )
                .map_err(kerr)?;
            for (k, (st, p)) in chunk.iter().enumerate() {
                env.forward_mask(st, &mut mask);
                amortise_kernel::samplers::gflownet::policy::masked_log_softmax(
                    &out[k * ow..k * ow + na],
                    &mask,
                    &mut logp,
                )
                .map_err(kerr)?;
                for a in (0..na).filter(|&a| mask[a]) {
                    let mut child = st.clone();
                    env.step(&mut child, a);
                    let pc = p * (logp[a] as f64).exp();
                    if env.is_done(&child) {
                        q[env.terminal_index(&child)] += pc;
                    } else {
                        *layer.entry(child).or_insert(0.0) += pc;
                    }
                }
            }
        }
    }
    Ok(q)
}

struct Eval {
    tv_policy: f64,
    jsd_policy: f64,
    tv: f64,
    l1: f64,
    jsd: f64,
    log_z_is: f64,
    elbo: f64,
    eubo: f64,
    sample_idx: Vec<usize>,
}

fn evaluate<R: amortise_kernel::rng::Rng>(
    tr: &mut Trainer<'_, AnyEnv>,
    ex: &ExactTarget,
    n: usize,
    r: &mut R,
) -> CliResult<Eval> {
    let kerr = |e| CliError::kernel("evaluation", e);
    let env = *tr.env();
    let b = tr.batch();
    let rounds = n.div_ceil(b);
    let mut counts = vec![0u32; env.n_terminal()];
    let mut lw_all = Vec::with_capacity(rounds * b);
    let mut lw = vec![0.0f32; b];
    let mut sample_idx = Vec::with_capacity(rounds * b);
    for _ in 0..rounds {
        tr.sample_forward(0.0, r).map_err(kerr)?;
        tr.log_weights(&mut lw).map_err(kerr)?;
        for (k, &w) in lw.iter().enumerate() {
            let i = env.terminal_index(tr.terminal(k));
            counts[i] += 1;
            sample_idx.push(i);
            lw_all.push(w);
        }
    }
    let mut q = vec![0.0f32; env.n_terminal()];
    histogram::normalize_counts(&counts, &mut q).map_err(kerr)?;
    let tv = histogram::total_variation(&ex.p, &q).map_err(kerr)?;
    let l1 = histogram::l1_mean(&ex.p, &q).map_err(kerr)?;
    let jsd = exact::jensen_shannon(&ex.p, &q).map_err(kerr)?;
    let log_z_is = bounds::log_z_is(&lw_all).map_err(kerr)?;
    let elbo = bounds::elbo(&lw_all).map_err(kerr)?;
    // EUBO: backward trajectories from exact samples x ~ π
    let s = env.state_len();
    let mut cdf = Vec::with_capacity(ex.p.len());
    let mut acc = 0.0f64;
    for &p in &ex.p {
        acc += p as f64;
        cdf.push(acc);
    }
    let mut xs = vec![0u32; b * s];
    let mut eubo_w = Vec::with_capacity(rounds * b);
    for _ in 0..rounds.min(64) {
        for k in 0..b {
            let u = uniform_f64(r) * acc;
            let i = cdf.partition_point(|&c| c <= u).min(ex.p.len() - 1);
            env.terminal_from_index(i, &mut xs[k * s..(k + 1) * s]);
        }
        tr.load_backward(&xs, r).map_err(kerr)?;
        tr.log_weights(&mut lw).map_err(kerr)?;
        eubo_w.extend_from_slice(&lw);
    }
    let eubo = bounds::eubo(&eubo_w).map_err(kerr)?;
    let qp = policy_distribution(tr)?;
    let tv_policy = 0.5
        * qp.iter()
            .zip(&ex.p)
            .map(|(&a, &b)| (a - b as f64).abs())
            .sum::<f64>();
    let q32: Vec<f32> = qp.iter().map(|&x| x as f32).collect();
    let jsd_policy = exact::jensen_shannon(&ex.p, &q32).map_err(kerr)?;
    Ok(Eval {
        tv_policy,
        jsd_policy,
        tv,
        l1,
        jsd,
        log_z_is,
        elbo,
        eubo,
        sample_idx,
    })
}

/// Runs `amortise train-discrete`.
pub fn run(a: &TrainDiscreteArgs) -> CliResult<()> {
    let env = build_env(a)?;
    let (cfg, rsmc_cfg) = resolve(a, &env)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| format!("out/{}-{}-s{}", a.env, a.method, a.seed));
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::file(&out, format!("cannot create output folder: {e}")))?;
    let ex = ExactTarget::new(&env)?;
    let layout = Layout::new(&env, &cfg).map_err(|e| CliError::kernel("configuration", e))?;
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(a.seed);
    let kerr = |e| CliError::kernel("training", e);
    let tr = Trainer::new(&env, cfg, &mut fa, &mut ua, &mut r).map_err(kerr)?;
    // teacher: a second trainer (same network shape, no buffer) and the teacher loop
    let tcfg = TrainConfig {
        buffer_capacity: 0,
        epsilon: 0.0,
        ..cfg
    };
    let teacher_cfg = teacher::Config {
        alpha: a.teacher_alpha,
        ..teacher::Config::default()
    };
    let tlay = Layout::new(&env, &tcfg).map_err(|e| CliError::kernel("configuration", e))?;
    let is_teacher = a.method == "teacher";
    let (mut tfa, mut tua) = if is_teacher {
        (vec![0.0f32; tlay.f32_len], vec![0u32; tlay.u32_len])
    } else {
        (Vec::new(), Vec::new())
    };
    let sl = env.state_len();
    let mut sfa = vec![0.0f32; SmcWorkspace::f32_len(cfg.batch)];
    let mut sua = vec![0u32; SmcWorkspace::u32_len(cfg.batch, sl)];
    let mut visits = Visits {
        visited: vec![false; env.n_terminal()],
        n: 0,
        distinct: 0,
        modes_found: 0,
        to_all_modes: None,
    };
    let mut reward_calls = 0u64;
    let mut learner = if is_teacher {
        let te = Trainer::new(&env, tcfg, &mut tfa, &mut tua, &mut r).map_err(kerr)?;
        Learner::Teacher(Box::new(teacher::init(&teacher_cfg, tr, te).map_err(kerr)?))
    } else if a.method == "rsmc" {
        let mut tr = tr;
        let mut ws = SmcWorkspace::new(cfg.batch, sl, &mut sfa, &mut sua).map_err(kerr)?;
        let calls = rsmc::prefill(
            &rsmc_cfg,
            &mut tr,
            &mut ws,
            |x| visits.add(env.terminal_index(x), &ex),
            &mut r,
        )
        .map_err(kerr)?;
        reward_calls += calls as u64;
        Learner::Rsmc(tr, rsmc_cfg, ws)
    } else {
        Learner::Plain(tr)
    };
    let mut last_smc_log_z = None;
    let (mut smc_runs, mut smc_resamples, mut smc_min_ess) = (0u64, 0u64, 1.0f64);
    let bsz = cfg.batch;
    let (mut w1, mut w2, mut w3) = (vec![0.0f32; bsz], vec![0.0f32; bsz], vec![0.0f32; bsz]);
    let eval_every = a.eval_every.unwrap_or((a.iters / 10).max(1)).max(1);
    let mut metrics = String::new();
    let t0 = Instant::now();
    let mut last_loss = f32::NAN;
    for it in 1..=a.iters {
        let (loss, log_z, fresh) = match &mut learner {
            Learner::Plain(tr) => {
                let i = tr.step(&mut r).map_err(kerr)?;
                (i.loss, i.log_z, !i.from_buffer)
            }
            Learner::Teacher(st) => {
                let mut ws = teacher::Workspace {
                    residuals: &mut w1,
                    log_rt: &mut w2,
                    log_w: &mut w3,
                };
                let i = teacher::step(&teacher_cfg, st, &mut ws, &mut r).map_err(kerr)?;
                (
                    i.student_loss,
                    st.student.log_z(),
                    i.source != teacher::Source::Buffer,
                )
            }
            Learner::Rsmc(tr, rc, ws) => {
                let i = rsmc::step(
                    rc,
                    tr,
                    ws,
                    |x| visits.add(env.terminal_index(x), &ex),
                    &mut r,
                )
                .map_err(kerr)?;
                reward_calls += i.reward_calls as u64;
                if let Some(s) = i.smc {
                    last_smc_log_z = Some(s.log_z);
                    smc_runs += 1;
                    smc_resamples += s.resamples as u64;
                    smc_min_ess = smc_min_ess.min(s.min_ess_fraction);
                }
                // visits were counted by the callback
                (i.loss, i.log_z, false)
            }
        };
        let tr = learner.student();
        last_loss = loss;
        if fresh {
            reward_calls += tr.batch() as u64;
            for k in 0..tr.batch() {
                visits.add(env.terminal_index(tr.terminal(k)), &ex);
            }
        }
        if it % eval_every == 0 || it == a.iters {
            let ev = evaluate(tr, &ex, a.eval_samples.min(4096), &mut r)?;
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
    let tr = learner.student();
    let ev = evaluate(tr, &ex, a.eval_samples, &mut r)?;
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
        "log_z_estimate": json_num(ev.log_z_is), "log_z_learned": json_num(tr.log_z() as f64),
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
