//! `amortise sample-target`: exact ground-truth samples to CSV.

use amortise_kernel::rng;
use amortise_kernel::targets::{LogDensity, Target};

use super::build_target;
use crate::csv;
use crate::error::{CliError, CliResult};

/// Largest `--n` accepted (100 M values of memory at most for d = 1; a guard against typos).
pub const MAX_SAMPLES: usize = 10_000_000;
/// Largest `--n × dim` accepted (400 MB of `f32`).
pub const MAX_VALUES: usize = 100_000_000;

/// Checks the flags and builds the target (everything but the sampling and the file).
pub fn validate(name: &str, dim: Option<usize>, n: usize) -> CliResult<Target> {
    let target = build_target(name, dim)?;
    if n == 0 {
        return Err(CliError::flag("--n", "must be at least 1"));
    }
    if n > MAX_SAMPLES {
        return Err(CliError::flag(
            "--n",
            format!("at most {MAX_SAMPLES} samples"),
        ));
    }
    if !target.has_sampler() {
        return Err(CliError::flag(
            "--target",
            format!("`{name}` has no exact sampler (see `amortise targets`)"),
        ));
    }
    if n.checked_mul(target.dim()).is_none_or(|v| v > MAX_VALUES) {
        return Err(CliError::flag(
            "--n",
            format!(
                "--n × dimension must be at most {MAX_VALUES} values (dimension {})",
                target.dim()
            ),
        ));
    }
    Ok(target)
}

/// Runs the command.
pub fn run(name: &str, dim: Option<usize>, n: usize, seed: u64, out: &str) -> CliResult<()> {
    let target = validate(name, dim, n)?;
    let d = target.dim();
    let mut data = vec![0.0f32; n * d];
    let mut r = rng::seeded(seed);
    for row in data.chunks_exact_mut(d) {
        target
            .sample(&mut r, row)
            .map_err(|e| CliError::kernel(format!("sampling `{name}`"), e))?;
    }
    csv::write(out, &data, d)?;
    eprintln!("wrote {n} samples of `{name}` (dim {d}, seed {seed}) to {out}");
    Ok(())
}
