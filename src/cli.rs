//! Command-line grammar (clap derive). Every command and flag has `--help` text.

use clap::{Parser, Subcommand, ValueEnum};

/// Amortised samplers: train, sample, evaluate and benchmark from the command line.
#[derive(Debug, Parser)]
#[command(name = "amortise", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in targets: name, dimensions, whether log Z and an exact sampler are known.
    Targets {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a target's unnormalised log density and its gradient at one point.
    Logp {
        /// Target name (see `amortise targets`).
        #[arg(long)]
        target: String,
        /// Dimension, for targets that take one (defaults to the target's default).
        #[arg(long)]
        dim: Option<usize>,
        /// The point, comma-separated, e.g. `--point 0,0` (quote negative values: `--point=-1,2`).
        #[arg(long, allow_hyphen_values = true)]
        point: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Draw exact ground-truth samples from a target that has an exact sampler.
    SampleTarget {
        /// Target name (see `amortise targets`).
        #[arg(long)]
        target: String,
        /// Dimension, for targets that take one.
        #[arg(long)]
        dim: Option<usize>,
        /// Number of samples.
        #[arg(long)]
        n: usize,
        /// Random seed (the same seed gives the same file on every platform).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output CSV file (header x1..xd, one sample per row).
        #[arg(long)]
        out: String,
    },
    /// Compare two sample files with a divergence.
    Metric {
        /// Which divergence.
        #[arg(value_enum)]
        kind: MetricKind,
        /// First sample file (CSV).
        #[arg(long)]
        a: String,
        /// Second sample file (CSV, same number of columns).
        #[arg(long)]
        b: String,
        /// Entropic regularisation for Sinkhorn (squared-Euclidean cost).
        #[arg(long, default_value_t = 1e-3)]
        epsilon: f64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Sample-set divergences.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MetricKind {
    /// Debiased Sinkhorn divergence (squared-Euclidean cost), as in ott-jax.
    Sinkhorn,
    /// Maximum mean discrepancy, Gaussian kernel with the median-distance bandwidth.
    Mmd,
}
