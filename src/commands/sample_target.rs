//! `amortise sample-target`: exact ground-truth samples to CSV.

use amortise_kernel::rng;
use amortise_kernel::targets::LogDensity;

use super::build_target;
use crate::csv;
use crate::error::{CliError, CliResult};

/// Largest `--n` accepted (100 M values of memory at most for d = 1; a guard against typos).
pub const MAX_SAMPLES: usize = 10_000_000;

/// Runs the command.
pub fn run(name: &str, dim: Option<usize>, n: usize, seed: u64, out: &str) -> CliResult<()> {
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
