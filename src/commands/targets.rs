//! `amortise targets`: the table of built-in targets, continuous and discrete, with the
//! `train --method` values each accepts.

use amortise_kernel::targets::TARGETS;
use amortise_settings::discrete as settings;

use crate::error::CliResult;
use crate::run_config;

/// One printed row.
struct Row {
    name: &'static str,
    kind: &'static str,
    default_dim: Option<usize>,
    dims: &'static str,
    /// Continuous: analytic `log Z`; discrete: exact by enumeration.
    log_z_known: bool,
    /// `amortise sample-target` draws exact samples.
    exact_sampler: bool,
    methods: &'static [&'static str],
    description: &'static str,
}

fn rows() -> Vec<Row> {
    let continuous = TARGETS.iter().map(|t| Row {
        name: t.name,
        kind: "continuous",
        default_dim: Some(t.default_dim),
        dims: t.dims,
        log_z_known: t.log_z_known,
        exact_sampler: t.has_sampler,
        methods: &run_config::METHODS,
        description: t.description,
    });
    let discrete = settings::TARGETS.iter().map(|t| Row {
        name: t.name,
        kind: "discrete",
        default_dim: t.default_dim,
        dims: t.dims,
        log_z_known: true,
        exact_sampler: false,
        methods: &settings::METHODS,
        description: t.description,
    });
    continuous.chain(discrete).collect()
}

/// Prints the table (or JSON).
pub fn run(json: bool) -> CliResult<()> {
    let rows = rows();
    if json {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "kind": t.kind,
                    "description": t.description,
                    "default_dim": t.default_dim,
                    "dims": t.dims,
                    "log_z_known": t.log_z_known,
                    "exact_sampler": t.exact_sampler,
                    "methods": t.methods,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    let methods_width = rows
        .iter()
        .map(|t| t.methods.join(",").len())
        .max()
        .unwrap_or(0);
    println!(
        "{:<14} {:<10} {:>3}  {:<9} {:<5} {:<7} {:<methods_width$}  description",
        "name", "kind", "dim", "dims", "log Z", "sampler", "methods (train --method)"
    );
    for t in &rows {
        println!(
            "{:<14} {:<10} {:>3}  {:<9} {:<5} {:<7} {:<methods_width$}  {}",
            t.name,
            t.kind,
            t.default_dim.map_or("-".to_string(), |d| d.to_string()),
            t.dims,
            if t.log_z_known { "known" } else { "-" },
            if t.exact_sampler { "exact" } else { "-" },
            t.methods.join(","),
            t.description
        );
    }
    Ok(())
}
