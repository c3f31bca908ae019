//! `amortise experiment teacher-grid`: plain TB against the adaptive teacher (Kim et al.,
//! ICLR 2025) on the deceptive 2-D grid, over several seeds; reports modes found and the
//! number of visited terminal states until every mode was found (mean ± std), as a
//! markdown table. Each run is a child `amortise train-discrete` process.

use std::fmt::Write as _;
use std::process::Command;

use super::experiment::Settings;
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};

fn mean_std(v: &[f64]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    format!("{m:.0} ± {:.0}", var.sqrt())
}

/// Runs the teacher-grid experiment (`extra` flags are passed to every run).
pub fn teacher_grid(s: &Settings) -> CliResult<()> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::file("amortise", format!("cannot find the binary: {e}")))?;
    std::fs::create_dir_all(&s.out)
        .map_err(|e| CliError::file(&s.out, format!("cannot create output folder: {e}")))?;
    let iters = s.iters.to_string();
    let mut table = format!(
        "Deceptive grid (d = 2, H = 16), {} iterations × batch 16, {} seeds\n\n\
         | method | modes found (of total) | seeds finding all | visited states until all modes (mean ± std over those seeds) | final TV |\n\
         |---|---|---|---|---|\n",
        s.iters, s.seeds
    );
    for method in ["tb", "teacher"] {
        let (mut found, mut visits, mut tvs) = (Vec::new(), Vec::new(), Vec::new());
        let mut total = 0u64;
        for seed in 0..s.seeds {
            let out = format!("{}/teacher-grid/{method}-s{seed}", s.out);
            let seed_s = seed.to_string();
            let mut args = vec![
                "train-discrete",
                "--env",
                "deceptive-grid",
                "--side",
                "16",
                "--method",
                method,
                "--iters",
                &iters,
                "--seed",
                &seed_s,
                "--eval-samples",
                "20000",
                "--out",
                &out,
            ];
            args.extend(s.extra.iter().map(String::as_str));
            let o = Command::new(&exe)
                .args(&args)
                .output()
                .map_err(|e| CliError::file("amortise", format!("cannot run: {e}")))?;
            if !o.status.success() {
                return Err(CliError::file(
                    &out,
                    format!("run failed: {}", String::from_utf8_lossy(&o.stderr)),
                ));
            }
            let txt = std::fs::read_to_string(format!("{out}/summary.json"))
                .map_err(|e| CliError::file(&out, e.to_string()))?;
            let v: serde_json::Value =
                serde_json::from_str(&txt).map_err(|e| CliError::file(&out, e.to_string()))?;
            found.push(v["modes_found"].as_f64().unwrap_or(f64::NAN));
            total = v["modes_total"].as_u64().unwrap_or(0);
            if let Some(x) = v["visits_to_all_modes"].as_f64() {
                visits.push(x);
            }
            tvs.push(v["tv"].as_f64().unwrap_or(f64::NAN));
            eprintln!("{method} seed {seed}: {}", v["visits_to_all_modes"]);
        }
        let mf = found.iter().sum::<f64>() / found.len().max(1) as f64;
        let tv = tvs.iter().sum::<f64>() / tvs.len().max(1) as f64;
        let _ = writeln!(
            table,
            "| {method} | {mf:.2} / {total} | {}/{} | {} | {tv:.3} |",
            visits.len(),
            s.seeds,
            mean_std(&visits)
        );
    }
    let path = format!("{}/teacher-grid.md", s.out);
    write_atomic(&path, table.as_bytes())?;
    println!("{table}");
    eprintln!("wrote {path}");
    Ok(())
}
