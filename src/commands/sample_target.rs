//! `amortise sample-target`: exact ground-truth samples to CSV.

use amortise_kernel::targets::{LogDensity, Target};

use super::build_target;
use crate::csv;
use crate::error::{CliError, CliResult};
use crate::eval::draw_exact;

/// Largest `--n` accepted (100 M values of memory at most for d = 1; a guard against typos).
pub const MAX_SAMPLES: usize = 10_000_000;
/// Largest `--n × dim` accepted (400 MB of `f32`).
pub const MAX_VALUES: usize = 100_000_000;

/// One `sample-target` invocation's flags.
pub struct Request<'a> {
    /// `--target`.
    pub name: &'a str,
    /// `--dim`.
    pub dim: Option<usize>,
    /// `--n`.
    pub n: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--clip`: the bound every coordinate is clipped to.
    pub clip: Option<f32>,
    /// `--out`.
    pub out: &'a str,
}

/// Checks the flags and builds the target (everything but the sampling and the file).
pub fn validate(name: &str, dim: Option<usize>, n: usize, clip: Option<f32>) -> CliResult<Target> {
    if let Some(b) = clip
        && !(b.is_finite() && b > 0.0)
    {
        return Err(CliError::flag(
            "--clip",
            format!("must be a finite bound above 0, got {b}"),
        ));
    }
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
pub fn run(q: &Request) -> CliResult<()> {
    let target = validate(q.name, q.dim, q.n, q.clip)?;
    let data = draw_exact(&target, q.n, q.seed, q.clip)
        .map_err(|e| CliError::kernel(format!("sampling `{}`", q.name), e))?;
    let d = target.dim();
    csv::write(q.out, &data, d)?;
    let clipped = q
        .clip
        .map_or(String::new(), |b| format!(", clipped to ±{b}"));
    eprintln!(
        "wrote {} samples of `{}` (dim {d}, seed {}{clipped}) to {}",
        q.n, q.name, q.seed, q.out
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_30_on_the_funnel_is_the_evaluations_ground_truth() {
        let funnel = build_target("funnel", None).unwrap_or_else(|e| panic!("{e}"));
        let truth = crate::eval::exact_samples(&funnel, 500, 0).unwrap_or_else(|e| panic!("{e}"));
        let clipped = draw_exact(&funnel, 500, 0, Some(30.0)).unwrap_or_else(|e| panic!("{e}"));
        let exact = draw_exact(&funnel, 500, 0, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(truth, clipped);
        let outside = exact.iter().filter(|v| v.abs() > 30.0).count();
        assert!(outside > 0, "no coordinate to clip in 500 rows");
        assert_ne!(truth, exact);
    }
}
