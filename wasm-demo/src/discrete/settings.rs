//! The settings of a discrete playground run: the `amortise train-discrete` flags the page
//! exposes, parsed from `key=value&…` and resolved into the kernel's trainer configuration
//! as the CLI resolves them (`src/commands/discrete.rs`).

use crate::error::{PlaygroundError, bad, int, query_pairs, unknown_setting};
use amortise_kernel::samplers::gflownet::train::Config as TrainConfig;
use amortise_settings::discrete;

/// Which environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvKind {
    /// 2-D hypergrid, standard reward (`grid`).
    Grid,
    /// 2-D hypergrid, deceptive reward (`deceptive-grid`).
    DeceptiveGrid,
    /// Prepend/append sequences (`sequence`).
    Sequence,
}

/// Which learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learn {
    /// Trajectory balance.
    Tb,
    /// Detailed balance.
    Db,
    /// Sub-trajectory balance.
    SubTb,
    /// TB student with an adaptive teacher (Kim et al. 2025).
    Teacher,
}

/// The settings of one run; the keys are the `amortise train-discrete` flags with `_` for
/// `-` (and the page's URL keys), plus `eval_every` / `eval_samples` for the page's
/// evaluations.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscreteSettings {
    /// `--env`.
    pub env: EnvKind,
    /// `--method`.
    pub method: Learn,
    /// `--seed`.
    pub seed: u32,
    /// `--iters`.
    pub iters: u32,
    /// `--batch`.
    pub batch: usize,
    /// `--hidden`.
    pub hidden: usize,
    /// `--lr`.
    pub lr: f32,
    /// `--epsilon`: ε-uniform exploration of on-policy sampling.
    pub epsilon: f32,
    /// `--buffer`: replay capacity (0 = none; reward-rank priority, the CLI default).
    pub buffer: usize,
    /// `--side` of the 2-D grid.
    pub side: usize,
    /// `--len` of the sequences.
    pub len: usize,
    /// `--alphabet` size.
    pub alphabet: usize,
    /// `--modes`: planted sequence modes.
    pub modes: usize,
    /// `--temperature` of the sequence reward.
    pub temperature: f32,
    /// `--env-seed`: seed of the planted sequence modes.
    pub env_seed: u32,
    /// `--teacher-alpha`: exponent of `R(x)` mixed into the teacher's reward.
    pub teacher_alpha: f32,
    /// Iterations between evaluations (the page's TV/JSD trace).
    pub eval_every: u32,
    /// Samples per evaluation.
    pub eval_samples: usize,
}

impl Default for DiscreteSettings {
    /// The CLI's defaults (`grid` with side 16 as the page's first view), evaluated every
    /// 100 iterations with 2048 samples.
    fn default() -> Self {
        DiscreteSettings {
            env: EnvKind::Grid,
            method: Learn::Tb,
            seed: 1,
            iters: discrete::ITERS,
            batch: discrete::BATCH,
            hidden: discrete::HIDDEN,
            lr: discrete::LR,
            epsilon: 0.0,
            buffer: discrete::default_buffer("tb", discrete::BATCH),
            side: discrete::GRID_SIDE,
            len: discrete::LEN,
            alphabet: discrete::ALPHABET,
            modes: discrete::MODES,
            temperature: discrete::TEMPERATURE,
            env_seed: 0,
            teacher_alpha: 0.0,
            eval_every: 100,
            eval_samples: 2048,
        }
    }
}

fn real(field: &'static str, v: &str, lo: f32, hi: f32) -> Result<f32, PlaygroundError> {
    match v.trim().parse::<f32>() {
        Ok(x) if x.is_finite() && x >= lo && x <= hi => Ok(x),
        Ok(_) => Err(bad(field, format!("must be in [{lo}, {hi}]"))),
        Err(_) => Err(bad(
            field,
            format!(
                "must be a number, not “{}”",
                v.chars().take(20).collect::<String>()
            ),
        )),
    }
}

impl DiscreteSettings {
    /// Parses `key=value` pairs separated by `&`, starting from the defaults.
    ///
    /// # Errors
    /// An unknown key, or a value out of range, naming the control.
    pub fn parse(query: &str) -> Result<DiscreteSettings, PlaygroundError> {
        let mut s = DiscreteSettings::default();
        for (k, v) in query_pairs(query) {
            match k {
                "env" | "target" => {
                    s.env = match v.trim() {
                        "grid" => EnvKind::Grid,
                        "deceptive-grid" => EnvKind::DeceptiveGrid,
                        "sequence" => EnvKind::Sequence,
                        other => {
                            return Err(bad(
                                "target",
                                format!(
                                    "unknown discrete target “{}” (grid, deceptive-grid or sequence)",
                                    other.chars().take(30).collect::<String>()
                                ),
                            ));
                        }
                    }
                }
                "method" => {
                    s.method = match v.trim() {
                        "tb" => Learn::Tb,
                        "db" => Learn::Db,
                        "subtb" => Learn::SubTb,
                        "teacher" => Learn::Teacher,
                        other => {
                            return Err(bad(
                                "method",
                                format!(
                                    "“{}” does not train discrete targets (tb, db, subtb or teacher)",
                                    other.chars().take(30).collect::<String>()
                                ),
                            ));
                        }
                    }
                }
                "seed" => s.seed = int("seed", v, 0, u32::MAX)?,
                "iters" => s.iters = int("iters", v, 1, 100_000)?,
                "batch" => s.batch = int("batch", v, 1, 1024)?,
                "hidden" => s.hidden = int("hidden", v, 1, 512)?,
                "lr" => {
                    s.lr = real("lr", v, 1e-7, 1.0)?;
                }
                "epsilon" => s.epsilon = real("epsilon", v, 0.0, 1.0)?,
                "buffer" => s.buffer = int("buffer", v, 0, 1_000_000)?,
                "side" => s.side = int("side", v, 2, 64)?,
                "len" => s.len = int("len", v, 1, 20)?,
                "alphabet" => s.alphabet = int("alphabet", v, 2, 26)?,
                "modes" => s.modes = int("modes", v, 1, 16)?,
                "temperature" => s.temperature = real("temperature", v, 1e-3, 100.0)?,
                "env_seed" => s.env_seed = int("env_seed", v, 0, u32::MAX)?,
                "teacher_alpha" => s.teacher_alpha = real("teacher_alpha", v, 0.0, 10.0)?,
                "eval_every" => s.eval_every = int("eval_every", v, 1, 100_000)?,
                "eval_samples" => s.eval_samples = int("eval_samples", v, 16, 100_000)?,
                other => return Err(unknown_setting(other)),
            }
        }
        Ok(s)
    }

    /// The environment's CLI name.
    pub fn env_name(&self) -> &'static str {
        match self.env {
            EnvKind::Grid => "grid",
            EnvKind::DeceptiveGrid => "deceptive-grid",
            EnvKind::Sequence => "sequence",
        }
    }

    /// The method's CLI name.
    pub fn method_name(&self) -> &'static str {
        match self.method {
            Learn::Tb => "tb",
            Learn::Db => "db",
            Learn::SubTb => "subtb",
            Learn::Teacher => "teacher",
        }
    }

    /// The trainer configuration, resolved as the CLI's `train-discrete` resolves its flags
    /// (the settings layer's loss and buffer priority of the method, every other field the
    /// kernel default).
    ///
    /// # Errors
    /// The kernel's validation, naming the control.
    pub fn train_config(&self) -> Result<TrainConfig, PlaygroundError> {
        let method = self.method_name();
        let cfg = TrainConfig {
            loss: discrete::loss(method)?,
            batch: self.batch,
            hidden: self.hidden,
            lr: self.lr,
            epsilon: self.epsilon,
            learn_pb: false,
            buffer_capacity: self.buffer,
            buffer_priority: discrete::priority(
                discrete::default_priority(method),
                discrete::BUFFER_ESS,
            )?,
            ..TrainConfig::default()
        };
        cfg.validate()
            .map_err(|e| PlaygroundError::kernel("run", e))?;
        Ok(cfg)
    }

    /// The equivalent `amortise train-discrete` flags (every flag that matters explicit).
    pub fn cli_args(&self) -> String {
        let env = match self.env {
            EnvKind::Grid | EnvKind::DeceptiveGrid => format!("--dim 2 --side {}", self.side),
            EnvKind::Sequence => format!(
                "--len {} --alphabet {} --modes {} --temperature {} --env-seed {}",
                self.len, self.alphabet, self.modes, self.temperature, self.env_seed
            ),
        };
        format!(
            "--env {} {env} --method {} --seed {} --iters {} --batch {} --hidden {} --lr {} \
             --epsilon {} --buffer {} --teacher-alpha {}",
            self.env_name(),
            self.method_name(),
            self.seed,
            self.iters,
            self.batch,
            self.hidden,
            self.lr,
            self.epsilon,
            self.buffer,
            self.teacher_alpha
        )
    }
}
