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
    let exe = super::own_exe()?;
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
            let v = run_summary(&exe, &args, &out)?;
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

/// One environment of the discrete table: label and the `train` flags that select it.
struct DiscreteTask {
    label: &'static str,
    flags: &'static [&'static str],
}

const DISCRETE_TASKS: [DiscreteTask; 3] = [
    DiscreteTask {
        label: "sequence (defaults: L = 8, A = 4, 4 planted modes, τ = 0.5, floor 1e-3; 65,536 objects)",
        flags: &["--target", "sequence"],
    },
    DiscreteTask {
        label: "sequence, sharp (L = 8, A = 4, 8 planted modes, τ = 0.3, floor 1e-5)",
        flags: &[
            "--target",
            "sequence",
            "--modes",
            "8",
            "--temperature",
            "0.3",
            "--floor",
            "1e-5",
        ],
    },
    DiscreteTask {
        label: "hypergrid (d = 2, H = 16, standard reward; 256 objects)",
        flags: &["--target", "grid", "--side", "16"],
    },
];

const DISCRETE_METHODS: [&str; 5] = ["tb", "db", "subtb", "rsmc", "teacher"];

/// RSMC prefill runs in the table; each costs one batch of reward calls, so rsmc trains
/// `iters − PREFILL` iterations and every method makes `iters × batch` reward calls.
const PREFILL: u32 = 4;

fn mean_std_f(v: &[f64], digits: usize) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    format!("{m:.digits$} ± {sd:.digits$}")
}

/// Runs the discrete-table experiment: every method of `DISCRETE_METHODS` on the sequence
/// target and the hypergrid, `s.seeds` seeds each, at an equal number of reward calls
/// (`iters × 16`; rsmc spends `PREFILL` of its iterations' worth on the SMC prefill).
/// Each run is a child `amortise train --target ENV` process; `extra` flags go to every run.
pub fn discrete_table(s: &Settings) -> CliResult<()> {
    let exe = super::own_exe()?;
    std::fs::create_dir_all(&s.out)
        .map_err(|e| CliError::file(&s.out, format!("cannot create output folder: {e}")))?;
    if s.iters <= PREFILL {
        return Err(CliError::flag(
            "--iters",
            format!("must exceed the rsmc prefill ({PREFILL})"),
        ));
    }
    let mut table = format!(
        "Budget: {} reward calls per run ({} iterations × batch 16; rsmc: {PREFILL} prefill SMC \
         runs + {} iterations), {} seeds, mean ± std over seeds; log Z error = |IS estimate (20,000 samples) − exact|.\n\
         TV/JSD (policy, exact): the sampler's exact terminal distribution (dynamic programming \
         over the DAG) against π; TV (20k samples): empirical, with the TV of 20,000 exact \
         samples from π as its noise floor.\n",
        16 * s.iters as u64,
        s.iters,
        s.iters - PREFILL,
        s.seeds
    );
    for task in &DISCRETE_TASKS {
        let _ = write!(
            table,
            "\n**{}**\n\n| method | TV (policy, exact) | JSD (policy, exact) | TV (20k samples) | log Z error | modes found | distinct objects visited | reward calls | seconds |\n\
             |---|---|---|---|---|---|---|---|---|\n",
            task.label
        );
        for method in DISCRETE_METHODS {
            let (mut tv, mut jsd, mut tvs, mut dz, mut modes, mut distinct, mut secs) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            let mut floor = f64::NAN;
            let (mut calls, mut total) = (0u64, 0u64);
            for seed in 0..s.seeds {
                let env_name = if task.flags.len() > 2 && task.flags[1] == "sequence" {
                    "sequence-sharp"
                } else {
                    task.flags[1]
                };
                let out = format!("{}/{env_name}-{method}-s{seed}", s.out);
                let iters = if method == "rsmc" {
                    s.iters - PREFILL
                } else {
                    s.iters
                }
                .to_string();
                let seed_s = seed.to_string();
                let prefill = PREFILL.to_string();
                let mut args: Vec<&str> = vec!["train"];
                args.extend_from_slice(task.flags);
                args.extend([
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
                ]);
                if method == "rsmc" {
                    args.extend(["--prefill", &prefill]);
                }
                args.extend(s.extra.iter().map(String::as_str));
                let v = run_summary(&exe, &args, &out)?;
                let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
                tv.push(f("tv_policy"));
                jsd.push(f("jsd_policy"));
                tvs.push(f("tv"));
                floor = f("tv_exact_sample_floor");
                dz.push(f("log_z_error"));
                modes.push(f("modes_found"));
                distinct.push(f("distinct_visited"));
                secs.push(f("seconds"));
                calls = v["reward_calls"].as_u64().unwrap_or(0);
                total = v["modes_total"].as_u64().unwrap_or(0);
                eprintln!(
                    "{env_name} {method} seed {seed}: tv_policy {:.4} reward calls {calls}",
                    f("tv_policy")
                );
            }
            let _ = writeln!(
                table,
                "| {method} | {} | {} | {} (floor {floor:.3}) | {} | {} / {total} | {} | {calls} | {} |",
                mean_std_f(&tv, 3),
                mean_std_f(&jsd, 3),
                mean_std_f(&tvs, 3),
                mean_std_f(&dz, 3),
                mean_std_f(&modes, 1),
                mean_std_f(&distinct, 0),
                mean_std_f(&secs, 1),
            );
        }
    }
    let path = format!("{}/discrete-table.md", s.out);
    write_atomic(&path, table.as_bytes())?;
    println!("{table}");
    eprintln!("wrote {path}");
    Ok(())
}

/// Runs one `amortise` child with `args` and reads the `summary.json` it wrote into `out`.
///
/// # Errors
/// The child cannot start or fails (its stderr is quoted), or the summary is unreadable.
fn run_summary(exe: &std::path::Path, args: &[&str], out: &str) -> CliResult<serde_json::Value> {
    let o = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| CliError::file("amortise", format!("cannot run: {e}")))?;
    if !o.status.success() {
        return Err(CliError::file(
            out,
            format!("run failed: {}", String::from_utf8_lossy(&o.stderr)),
        ));
    }
    let txt = std::fs::read_to_string(format!("{out}/summary.json"))
        .map_err(|e| CliError::file(out, e.to_string()))?;
    serde_json::from_str(&txt).map_err(|e| CliError::file(out, e.to_string()))
}
