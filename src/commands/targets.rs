//! `amortise targets`: the table of built-in targets.

use amortise_kernel::targets::TARGETS;

use crate::error::CliResult;

/// Prints the table (or JSON).
pub fn run(json: bool) -> CliResult<()> {
    if json {
        let rows: Vec<serde_json::Value> = TARGETS
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "description": t.description,
                    "default_dim": t.default_dim,
                    "dims": t.dims,
                    "log_z_known": t.log_z_known,
                    "exact_sampler": t.has_sampler,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!(
        "{:<10} {:>7}  {:<14} {:<7} {:<7} description",
        "name", "dim", "dims", "log Z", "sampler"
    );
    for t in TARGETS {
        println!(
            "{:<14} {:>4}  {:<12} {:<6} {:<7} {}",
            t.name,
            t.default_dim,
            t.dims,
            if t.log_z_known { "known" } else { "-" },
            if t.has_sampler { "exact" } else { "-" },
            t.description
        );
    }
    Ok(())
}
