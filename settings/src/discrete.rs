//! The discrete targets (GFlowNet environments) and the defaults and rules of a discrete
//! run (`amortise train-discrete`, `train --target ENV`, the playground's discrete runs),
//! stated once for the CLI's flags and the page's query.

use amortise_kernel::buffer::Priority;
use amortise_kernel::samplers::gflownet::train::LossKind;

use crate::error::SettingError;

/// One discrete environment as `--env` (or `train --target`) names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscreteTarget {
    /// The name.
    pub name: &'static str,
    /// One-line description with the source and the flags that shape it.
    pub description: &'static str,
    /// `--dim` default, for the environments that take it.
    pub default_dim: Option<usize>,
    /// Accepted `--dim`, as text.
    pub dims: &'static str,
    /// Whether the playground offers it.
    pub page: bool,
}

/// The environments, in listing order.
pub const TARGETS: [DiscreteTarget; 4] = [
    DiscreteTarget {
        name: "grid",
        description: "hypergrid {0..H-1}^d, --side H (16), standard reward (Bengio et al. 2021)",
        default_dim: Some(GRID_DIM),
        dims: "1..=8",
        page: true,
    },
    DiscreteTarget {
        name: "deceptive-grid",
        description: "hypergrid, deceptive reward (adaptive teachers, Kim et al. 2025)",
        default_dim: Some(GRID_DIM),
        dims: "1..=8",
        page: true,
    },
    DiscreteTarget {
        name: "sequence",
        description: "prepend/append sequences, --len 8, --alphabet 4, --modes 4 planted modes",
        default_dim: None,
        dims: "-",
        page: true,
    },
    DiscreteTarget {
        name: "ising",
        description: "Ising spins on a periodic n x n lattice, --side n (2..=4, 3), site by site",
        default_dim: None,
        dims: "-",
        page: false,
    },
];

/// The environment names `--env` accepts.
pub const ENVS: [&str; 4] = [
    TARGETS[0].name,
    TARGETS[1].name,
    TARGETS[2].name,
    TARGETS[3].name,
];
/// The methods `--method` accepts.
pub const METHODS: [&str; 5] = ["tb", "db", "subtb", "rsmc", "teacher"];
/// The methods the playground offers (all but rsmc).
pub const PAGE_METHODS: [&str; 4] = ["tb", "db", "subtb", "teacher"];

/// `--iters`.
pub const ITERS: u32 = 2000;
/// `--batch`: trajectories per iteration.
pub const BATCH: usize = 16;
/// `--hidden` of the policy network (and `--flow-hidden` of rsmc's flow network).
pub const HIDDEN: usize = 64;
/// `--lr` of the network (`log Z` uses 1e-1).
pub const LR: f32 = 1e-3;
/// `--dim` of the hypergrid.
pub const GRID_DIM: usize = 2;
/// `--side` of the hypergrid.
pub const GRID_SIDE: usize = 16;
/// `--side` of the Ising lattice.
pub const ISING_SIDE: usize = 3;
/// `--len` of the sequences.
pub const LEN: usize = 8;
/// `--alphabet` size.
pub const ALPHABET: usize = 4;
/// `--modes`: planted sequence modes.
pub const MODES: usize = 4;
/// `--temperature` of the sequence reward.
pub const TEMPERATURE: f32 = 0.5;
/// `--floor` of the sequence reward.
pub const FLOOR: f32 = 1e-3;
/// Ising `--coupling` J.
pub const COUPLING: f32 = 0.2;
/// `--prefill`: SMC runs of the untrained model that fill rsmc's buffer first.
pub const PREFILL: u32 = 4;
/// `--replay-ratio`: rsmc's off-policy iterations per on-policy iteration.
pub const REPLAY_RATIO: u32 = 2;
/// `--buffer-ess`: target ESS fraction of the importance-weight buffer's tempering.
pub const BUFFER_ESS: f64 = 0.05;
/// `--resample-threshold` of rsmc's SMC.
pub const RESAMPLE_THRESHOLD: f64 = 0.2;
/// `--subtb-weight` of rsmc's TB + SubTB loss.
pub const SUBTB_WEIGHT: f32 = 1.0;
/// `--eval-samples` of the final evaluation.
pub const EVAL_SAMPLES: usize = 20_000;
/// rsmc's default buffer holds this many batches (the paper's 100).
pub const RSMC_BUFFER_BATCHES: usize = 100;
/// Rank weight of the reward-rank buffer priority (PRT).
pub const RANK_WEIGHT: f64 = 0.01;

/// The loss of `method`.
///
/// # Errors
/// An unknown method.
pub fn loss(method: &str) -> Result<LossKind, SettingError> {
    match method {
        "tb" | "teacher" => Ok(LossKind::Tb),
        "db" => Ok(LossKind::Db),
        "subtb" => Ok(LossKind::SubTb),
        "rsmc" => Ok(LossKind::TbSubTb),
        other => Err(SettingError::new(
            "method",
            format!("unknown method `{other}` (known: {})", METHODS.join(", ")),
        )),
    }
}

/// `--buffer-priority` by method: rsmc samples its buffer by importance weight (`iw`), the
/// others by reward rank (`reward`).
pub fn default_priority(method: &str) -> &'static str {
    if method == "rsmc" { "iw" } else { "reward" }
}

/// `--buffer` by method: [`RSMC_BUFFER_BATCHES`] batches for rsmc, none for the others.
pub fn default_buffer(method: &str, batch: usize) -> usize {
    if method == "rsmc" {
        RSMC_BUFFER_BATCHES * batch
    } else {
        0
    }
}

/// `--chunk` by trajectory depth: 3 where it divides the depth, else 1.
pub fn default_chunk(depth: usize) -> usize {
    if depth.is_multiple_of(3) { 3 } else { 1 }
}

/// The buffer priority named `name` (`reward`, `iw` with target ESS fraction `buffer_ess`,
/// or `uniform`).
///
/// # Errors
/// An unknown name (`buffer_priority`) or `buffer_ess` outside `(0, 1]` (`buffer_ess`).
pub fn priority(name: &str, buffer_ess: f64) -> Result<Priority, SettingError> {
    match name {
        "reward" => Ok(Priority::RewardRank {
            rank_weight: RANK_WEIGHT,
        }),
        "iw" if buffer_ess > 0.0 && buffer_ess <= 1.0 => Ok(Priority::ImportanceWeight {
            target_ess: buffer_ess,
        }),
        "iw" => Err(SettingError::new("buffer_ess", "must be in (0, 1]")),
        "uniform" => Ok(Priority::Uniform),
        other => Err(SettingError::new(
            "buffer_priority",
            format!("unknown priority `{other}` (reward, iw or uniform)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_method() {
        assert_eq!(loss("teacher").unwrap(), LossKind::Tb);
        assert_eq!(loss("rsmc").unwrap(), LossKind::TbSubTb);
        assert_eq!(loss("mcmc").unwrap_err().key, "method");
        assert_eq!(default_priority("rsmc"), "iw");
        assert_eq!(default_priority("db"), "reward");
        assert_eq!(
            (default_buffer("rsmc", 16), default_buffer("tb", 16)),
            (1600, 0)
        );
        assert_eq!((default_chunk(9), default_chunk(8)), (3, 1));
        assert_eq!(
            priority("reward", BUFFER_ESS).unwrap(),
            Priority::RewardRank { rank_weight: 0.01 }
        );
        assert_eq!(priority("iw", 0.0).unwrap_err().key, "buffer_ess");
        assert_eq!(priority("best", 0.5).unwrap_err().key, "buffer_priority");
        assert_eq!(ENVS, ["grid", "deceptive-grid", "sequence", "ising"]);
    }
}
