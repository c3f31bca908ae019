//! `amortise sample`: draws samples from a trained checkpoint.

use amortise_kernel::rng;

use crate::checkpoint::Checkpoint;
use crate::csv;
use crate::error::{CliError, CliResult};
use crate::eval;

use super::build_target;

/// Checks `--n`.
pub fn check_n(n: usize) -> CliResult<()> {
    if n == 0 {
        return Err(CliError::flag("--n", "must be at least 1"));
    }
    if n > super::train::MAX_BATCH * 10 {
        return Err(CliError::flag(
            "--n",
            format!("at most {}", super::train::MAX_BATCH * 10),
        ));
    }
    Ok(())
}

/// Runs the command.
pub fn run(checkpoint: &str, n: usize, seed: u64, out: &str) -> CliResult<()> {
    check_n(n)?;
    let path = if std::path::Path::new(checkpoint).is_dir() {
        format!("{checkpoint}/checkpoint.json")
    } else {
        checkpoint.to_string()
    };
    let ck = Checkpoint::load(&path)?;
    let all = sample_checkpoint(&ck, &path, n, seed)?;
    let rc = &ck.config;
    csv::write(out, &all, rc.dim)?;
    eprintln!(
        "wrote {n} samples of the `{}` model on `{}` to {out}",
        rc.method, rc.target
    );
    Ok(())
}

/// Draws `n` samples from a loaded checkpoint (`path` names it in messages).
///
/// # Errors
/// A configuration that does not rebuild the checkpoint's network, a kernel error, or
/// samples that are not finite (a model whose parameters overflow).
pub fn sample_checkpoint(ck: &Checkpoint, path: &str, n: usize, seed: u64) -> CliResult<Vec<f32>> {
    let rc = &ck.config;
    let max = super::sample_target::MAX_VALUES;
    if n.checked_mul(rc.dim).is_none_or(|v| v > max) {
        return Err(CliError::flag(
            "--n",
            format!(
                "--n × dimension must be at most {max} values (dimension {})",
                rc.dim
            ),
        ));
    }
    let target = build_target(&rc.target, Some(rc.dim))?;
    let cfg = rc.train_config()?;
    let net = cfg
        .policy_net(rc.dim)
        .map_err(|e| CliError::kernel("checkpoint network", e))?;
    if net.param_count() != ck.policy_params {
        return Err(CliError::file(
            path,
            "checkpoint is corrupt (policy size does not match its configuration)",
        ));
    }
    let mut r = rng::seeded(seed);
    // sample in chunks to bound memory
    let chunk = 10_000usize;
    let mut all = Vec::with_capacity(n * rc.dim);
    let mut left = n;
    while left > 0 {
        let m = left.min(chunk);
        let (x, _) = eval::sample_policy(
            eval::TrainedPolicy {
                cfg: &cfg.policy,
                process: cfg.process,
                steps: cfg.steps,
                net: &net,
                params: &ck.params[..ck.policy_params],
            },
            &target,
            m,
            &mut r,
        )?;
        all.extend_from_slice(&x);
        left -= m;
    }
    if all.iter().any(|v| !v.is_finite()) {
        return Err(CliError::file(
            path,
            "the checkpoint's model produced non-finite samples",
        ));
    }
    Ok(all)
}
