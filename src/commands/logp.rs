//! `amortise logp`: log density and gradient of a target at one point.

use amortise_kernel::targets::{LogDensity, Target};

use super::{build_target, json_num};
use crate::error::{CliError, CliResult};

/// Parses `--point` as comma-separated finite numbers.
pub fn parse_point(text: &str) -> CliResult<Vec<f32>> {
    let mut out = Vec::new();
    for (i, field) in text.split(',').enumerate() {
        let field = field.trim();
        let v: f32 = field.parse().map_err(|_| {
            CliError::flag(
                "--point",
                format!("coordinate {} (`{field}`) is not a number", i + 1),
            )
        })?;
        if !v.is_finite() {
            return Err(CliError::flag(
                "--point",
                format!("coordinate {} is not finite", i + 1),
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// Parses the point and builds the target, checking that their dimensions agree.
pub fn prepare(name: &str, dim: Option<usize>, point: &str) -> CliResult<(Target, Vec<f32>)> {
    let x = parse_point(point)?;
    let dim = dim.or(Some(x.len()));
    let target = build_target(name, dim)?;
    if x.len() != target.dim() {
        return Err(CliError::flag(
            "--point",
            format!(
                "has {} coordinates but target `{name}` has dimension {}",
                x.len(),
                target.dim()
            ),
        ));
    }
    Ok((target, x))
}

/// Runs the command.
pub fn run(name: &str, dim: Option<usize>, point: &str, json: bool) -> CliResult<()> {
    let (target, x) = prepare(name, dim, point)?;
    let mut grad = vec![0.0f32; target.dim()];
    let logp = target.log_density_grad(&x, &mut grad);
    let log_z = target.log_z();
    if json {
        let v = serde_json::json!({
            "target": name,
            "dim": target.dim(),
            "point": x.iter().map(|&v| json_num(v as f64)).collect::<Vec<_>>(),
            "log_density": json_num(logp as f64),
            "gradient": grad.iter().map(|&v| json_num(v as f64)).collect::<Vec<_>>(),
            "log_z": log_z.map(json_num),
        });
        println!("{v}");
    } else {
        println!("target       {name} (dim {})", target.dim());
        println!("log density  {logp}");
        let g: Vec<String> = grad.iter().map(|v| v.to_string()).collect();
        println!("gradient     {}", g.join(","));
        match log_z {
            Some(z) => println!("log Z        {z}"),
            None => println!("log Z        unknown"),
        }
    }
    Ok(())
}
