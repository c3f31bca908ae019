//! `amortise metric sinkhorn|mmd`: divergences between two sample files.

use amortise_kernel::metrics::mmd::{mmd_median, mmd_workspace_len};
use amortise_kernel::metrics::sinkhorn::{MIN_EPSILON, SinkhornConfig};

use super::json_num;
use crate::cli::MetricKind;
use crate::csv;
use crate::error::{CliError, CliResult};

/// Largest pooled sample count for MMD (its exact median needs (n+m)²/2 floats).
pub const MAX_MMD_POINTS: usize = 20_000;

/// Checks `--epsilon` (finite, at least the kernel's `MIN_EPSILON`).
pub fn check_epsilon(epsilon: f64) -> CliResult<()> {
    if !(epsilon.is_finite() && epsilon >= MIN_EPSILON) {
        return Err(CliError::flag(
            "--epsilon",
            format!("must be a finite number >= {MIN_EPSILON:e}"),
        ));
    }
    Ok(())
}

/// Runs the command.
pub fn run(
    kind: MetricKind,
    a_path: &str,
    b_path: &str,
    epsilon: f64,
    json: bool,
) -> CliResult<()> {
    check_epsilon(epsilon)?;
    let a = csv::read(a_path)?;
    let b = csv::read(b_path)?;
    if a.dim != b.dim {
        return Err(CliError::file(
            b_path,
            format!("has {} columns but {a_path} has {}", b.dim, a.dim),
        ));
    }
    let value = match kind {
        MetricKind::Sinkhorn => {
            let cfg = SinkhornConfig {
                epsilon,
                ..SinkhornConfig::default()
            };
            let info = crate::eval::sinkhorn_divergence(&a.data, &b.data, a.dim, &cfg)?;
            if json {
                let v = serde_json::json!({
                    "metric": "sinkhorn",
                    "value": json_num(info.divergence),
                    "epsilon": epsilon,
                    "iterations": info.iterations,
                    "converged": info.converged,
                    "final_error": json_num(info.final_error),
                    "n_a": a.n(), "n_b": b.n(), "dim": a.dim,
                });
                println!("{v}");
                return Ok(());
            }
            if !info.converged {
                eprintln!(
                    "warning: Sinkhorn stopped at its iteration cap ({} iterations, marginal error {:.3e})",
                    info.iterations, info.final_error
                );
            }
            info.divergence
        }
        MetricKind::Mmd => {
            let n = a.n() + b.n();
            if n > MAX_MMD_POINTS {
                return Err(CliError::file(
                    b_path,
                    format!("MMD supports at most {MAX_MMD_POINTS} pooled samples, got {n}"),
                ));
            }
            let mut ws = vec![0.0f32; mmd_workspace_len(a.n(), b.n())];
            let info = mmd_median(&a.data, &b.data, a.dim, &mut ws)
                .map_err(|e| CliError::kernel("mmd", e))?;
            if json {
                let v = serde_json::json!({
                    "metric": "mmd",
                    "value": json_num(info.mmd),
                    "bandwidth": json_num(info.bandwidth),
                    "n_a": a.n(), "n_b": b.n(), "dim": a.dim,
                });
                println!("{v}");
                return Ok(());
            }
            info.mmd
        }
    };
    println!("{value}");
    Ok(())
}
