//! `amortise experiment aldp-table`: the alanine-dipeptide comparison of `docs/aldp.md`
//! ("What it reaches"): tb, tb-buffer, rsmc and the annealed SMC baseline at `--preset
//! aldp`, run in resumable pieces and collected into markdown.
//!
//! Each run is a child `amortise train --target aldp --method M --preset aldp
//! --aldp-reference REF --seed S` in `OUT/<method>-s<seed>/` (flags after `--` are added
//! when a run starts, and may name another `--aldp-reference`). A run with a resume snapshot
//! is continued (`train --resume DIR`); `--stop-at K` ends every trained run of this
//! invocation after iteration K, so a table is built in pieces of any size with the bits of
//! uninterrupted runs. When a trained run has finished, its checkpoint (`checkpoint.json`,
//! or the one its snapshot holds, as in a clone) draws the final 100,000
//! samples (`amortise sample --n 100000 --seed 1`, the RSMC code's final size),
//! compared with the reference into `final-ramachandran.json` (`metric ramachandran`), and
//! 1,000,000 samples (`--weighted-samples`) with their importance log weights (`sample --n
//! 1000000 --seed 2 --log-weights`), compared with their weights into
//! `final-weighted-ramachandran.json` (`metric ramachandran --a-log-weights`); the sample
//! files are then deleted (about 70 and 700 MB). `--stop-at 0` only collects.

use std::fmt::Write as _;

use amortise_settings::presets;
use serde_json::Value;

use super::experiment::field;
use super::paper_table::{Action, action, finish, fmt_wall, read_json, spawn, standing};
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};

/// The reference file runs are started with unless the flags after `--` name another.
pub const DEFAULT_REFERENCE: &str = "results/aldp/reference-x.csv.gz";
/// The final comparisons of a finished trained run: the file written, the samples, the
/// seed that draws them, and whether the rows are importance-weighted.
struct Final {
    file: &'static str,
    samples: u64,
    seed: &'static str,
    weighted: bool,
}

/// Samples of the unweighted final comparison (the RSMC code's final size).
pub const FINAL_SAMPLES: u64 = 100_000;
/// Default samples of the weighted one (ten times more: the weights leave an effective
/// sample size of about 1–2 % of the rows).
pub const WEIGHTED_SAMPLES: u64 = 1_000_000;

/// The final comparisons of `s`: the unweighted one, and the weighted one unless
/// `s.weighted_samples` is 0.
fn finals(s: &Settings) -> Vec<Final> {
    let mut f = vec![Final {
        file: "final-ramachandran.json",
        samples: FINAL_SAMPLES,
        seed: "1",
        weighted: false,
    }];
    if s.weighted_samples > 0 {
        f.push(Final {
            file: "final-weighted-ramachandran.json",
            samples: s.weighted_samples,
            seed: "2",
            weighted: true,
        });
    }
    f
}

/// The methods, in table order: `(name in the table, --method, trained)`.
const METHODS: [(&str, &str, bool); 4] = [
    ("RSMC", "rsmc", true),
    ("TB + IW-buffer", "tb-buffer", true),
    ("TB (on-policy)", "tb", true),
    ("annealed SMC", "smc", false),
];

/// Settings of one invocation.
pub struct Settings {
    /// Seeds per method (0, 1, …).
    pub seeds: u64,
    /// End every trained run after this iteration (`Some(0)`: only collect).
    pub stop_at: Option<u32>,
    /// Output folder (the runs and `aldp-table.md`).
    pub out: String,
    /// Only these methods (`--method` values); `None` for all.
    pub methods: Option<Vec<String>>,
    /// Flags added to every run when it starts.
    pub extra: Vec<String>,
    /// Rows of the importance-weighted final comparison (0: none).
    pub weighted_samples: u64,
}

/// The selected methods.
fn methods(s: &Settings) -> CliResult<Vec<(&'static str, &'static str, bool)>> {
    let Some(want) = &s.methods else {
        return Ok(METHODS.to_vec());
    };
    want.iter()
        .map(|w| {
            METHODS
                .iter()
                .find(|m| m.1 == w.as_str())
                .copied()
                .ok_or_else(|| {
                    CliError::flag(
                        "--methods",
                        format!("unknown '{w}' (known: rsmc, tb-buffer, tb, smc)"),
                    )
                })
        })
        .collect()
}

/// The `train` arguments of one run under `act` (`None`: nothing to run).
fn train_args(s: &Settings, method: &str, seed: u64, act: &Action) -> Option<Vec<String>> {
    let dir = format!("{}/{method}-s{seed}", s.out);
    let mut a: Vec<String> = match act {
        Action::Skip => return None,
        Action::Resume(_) => vec!["train".into(), "--resume".into(), dir],
        Action::Start(_) => {
            let mut a: Vec<String> = ["train", "--target", "aldp", "--method", method]
                .map(String::from)
                .to_vec();
            a.extend(["--preset", "aldp", "--seed"].map(String::from));
            a.push(seed.to_string());
            if !s.extra.iter().any(|f| f == "--aldp-reference") {
                a.extend(["--aldp-reference", DEFAULT_REFERENCE].map(String::from));
            }
            a.extend(s.extra.iter().cloned());
            a.extend(["--out".into(), dir]);
            a
        }
    };
    if let Action::Start(Some(k)) | Action::Resume(Some(k)) = act {
        a.extend(["--stop-at".into(), k.to_string()]);
    }
    Some(a)
}

/// The final comparison `f` of a finished trained run, unless its file exists (an existing
/// file is kept, whatever `--weighted-samples` now says; delete it to redo it).
fn final_comparison(dir: &str, summary: &Value, f: &Final) -> CliResult<bool> {
    let out = format!("{dir}/{}", f.file);
    if std::path::Path::new(&out).exists() {
        return Ok(true);
    }
    let Some(reference) = summary["aldp"]["reference"]["file"].as_str() else {
        return Ok(false);
    };
    let samples = format!("{dir}/final.csv");
    let log_w = format!("{dir}/final-logw.csv");
    let mut sample: Vec<String> = ["sample", "--checkpoint"].map(String::from).to_vec();
    // the folder: its checkpoint.json, else its snapshot (a clone has only the snapshot)
    sample.push(dir.to_string());
    sample.extend(["--n".to_string(), f.samples.to_string()]);
    sample.extend(["--seed", f.seed].map(String::from));
    sample.extend(["--out".to_string(), samples.clone()]);
    let mut metric: Vec<String> = ["metric", "ramachandran", "--a", &samples, "--b", reference]
        .map(String::from)
        .to_vec();
    if f.weighted {
        sample.extend(["--log-weights".to_string(), log_w.clone()]);
        metric.extend(["--a-log-weights".to_string(), log_w.clone()]);
    }
    let exe = super::own_exe()?;
    let written = spawn(&sample, dir);
    let o = match written {
        Ok(true) => Some(
            std::process::Command::new(exe)
                .args(&metric)
                .arg("--json")
                .output()
                .map_err(|e| CliError::file(dir, format!("cannot run metric: {e}"))),
        ),
        _ => None,
    };
    // the samples go whatever happened (about 70 or 700 MB)
    let _ = std::fs::remove_file(&samples);
    let _ = std::fs::remove_file(&log_w);
    written?;
    match o.transpose()? {
        Some(o) if o.status.success() => {
            write_atomic(&out, &o.stdout)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Runs (or continues) every selected run, makes the final comparisons of the finished
/// ones, and writes `OUT/aldp-table.md`.
///
/// # Errors
/// Bad flags, unwritable folders, or runs that failed (the table is still written).
pub fn aldp_table(s: &Settings) -> CliResult<()> {
    if s.seeds == 0 {
        return Err(CliError::flag("--seeds", "must be at least 1"));
    }
    let methods = methods(s)?;
    if s.weighted_samples > 0 {
        let n = usize::try_from(s.weighted_samples).unwrap_or(usize::MAX);
        let dim = amortise_kernel::targets::aldp::DIM;
        if super::sample::check_n(n)
            .and_then(|()| super::sample::check_values(n, dim))
            .is_err()
        {
            return Err(CliError::flag(
                "--weighted-samples",
                format!(
                    "at most {} (what `sample --n` draws)",
                    super::train::MAX_BATCH * 10
                ),
            ));
        }
    }
    std::fs::create_dir_all(&s.out)
        .map_err(|e| CliError::file(&s.out, format!("cannot create: {e}")))?;
    crate::signal::install_forwarding();
    let mut failures = Vec::new();
    'runs: for &(name, method, trained) in &methods {
        for seed in 0..s.seeds {
            if crate::signal::interrupted() {
                break 'runs;
            }
            let dir = format!("{}/{method}-s{seed}", s.out);
            let summary = read_json(&format!("{dir}/summary.json"));
            let preset = presets::preset("aldp", "aldp", 60, method)?.run.iters;
            let (at, planned) = standing(&dir, preset)?;
            let act = action(trained, at, summary.is_some(), planned, s.stop_at);
            if let Some(args) = train_args(s, method, seed, &act)
                && !spawn(&args, &dir)?
            {
                if crate::signal::interrupted() {
                    break 'runs;
                }
                failures.push(format!("{name} seed {seed} (log: {dir}.log)"));
                continue;
            }
            let summary = read_json(&format!("{dir}/summary.json"));
            let Some(sum) = summary.filter(|v| trained && finished(v) && s.stop_at != Some(0))
            else {
                continue;
            };
            for f in &finals(s) {
                if !final_comparison(&dir, &sum, f)? {
                    if crate::signal::interrupted() {
                        break 'runs;
                    }
                    failures.push(format!(
                        "{name} seed {seed}: final samples, {} (log: {dir}.log)",
                        f.file
                    ));
                }
            }
        }
    }
    // every method, not only the selected ones: a piece of one row keeps the others
    finish(&s.out, "aldp-table.md", &table(s, &METHODS), &failures)
}

/// Whether a trained run's summary is of its last iteration.
fn finished(sum: &Value) -> bool {
    let done = field(sum, "iterations_completed");
    done.is_finite() && done == field(sum, "iters")
}

/// The sampler's coordinates of a run (`config.aldp_scale` and `config.aldp_seams`; runs
/// from before the options sampled the seeds' `x`).
fn coordinates(config: &Value) -> String {
    let seams = config["aldp_seams"].as_str().unwrap_or("seeds");
    let base = match config["aldp_scale"].as_str().unwrap_or("none") {
        "none" => "x (`--aldp-scale none`)".to_string(),
        other => format!("x / s (`--aldp-scale {other}`)"),
    };
    if seams == "seeds" {
        base
    } else {
        format!("{base}, seams moved (`--aldp-seams {seams}`)")
    }
}

/// `a / b / c (d)` of a populations object, with the αL wells in brackets (αL, the rare
/// basin, with four decimals).
fn populations(p: &Value) -> String {
    if p.is_null() {
        return "–".into();
    }
    let wells = field(p, "alpha_l_wells");
    format!(
        "{:.3} / {:.3} / {:.4} ({})",
        field(p, "beta_c7eq"),
        field(p, "alpha_r"),
        field(p, "alpha_l"),
        if wells.is_finite() {
            format!("{wells:.4}")
        } else {
            "–".into()
        }
    )
}

/// `φ / ψ / Rama` KLs of an object with `kl_phi`, `kl_psi`, `kl_ramachandran`.
fn kls(v: &Value) -> String {
    if v.is_null() {
        return "–".into();
    }
    format!(
        "{:.2} / {:.2} / {:.2}",
        field(v, "kl_phi"),
        field(v, "kl_psi"),
        field(v, "kl_ramachandran")
    )
}

/// The weighted populations of a `--a-log-weights` comparison, with the ESS.
fn weighted_populations(w: &Value) -> String {
    if w["populations_a_weighted"].is_null() {
        return "–".into();
    }
    format!(
        "{} ({:.0})",
        populations(&w["populations_a_weighted"]),
        field(w, "ess_a_weighted")
    )
}

/// The weighted KLs of a `--a-log-weights` comparison.
fn weighted_kls(w: &Value) -> String {
    if w["kl_ramachandran_a_weighted"].is_null() {
        return "–".into();
    }
    format!(
        "{:.2} / {:.2} / {:.2}",
        field(w, "kl_phi_a_weighted"),
        field(w, "kl_psi_a_weighted"),
        field(w, "kl_ramachandran_a_weighted")
    )
}

/// Target evaluations: millions with one decimal from 10⁵ on, the count below.
fn fmt_evals(n: f64) -> String {
    if !n.is_finite() {
        "–".into()
    } else if n >= 1e5 {
        format!("{:.1} M", n / 1e6)
    } else {
        format!("{n:.0}")
    }
}

/// A number with two decimals (three significant digits from 10⁶ on), or `–`.
fn num(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 1e6 {
        format!("{v:.3e}")
    } else {
        format!("{v:.2}")
    }
}

fn table(s: &Settings, methods: &[(&str, &str, bool)]) -> String {
    let mut t = String::new();
    let mut reference = None;
    let _ = writeln!(
        t,
        "Collected by `amortise experiment aldp-table --seeds {} --out {}{}` (`--preset aldp`, \
         `docs/aldp.md`; \"coordinates\": where the sampler works). \"eval\": the run's final evaluation (`summary.json`, \
         `--eval-samples` samples, 2000 at the preset); \"100k\": {FINAL_SAMPLES} samples of the final checkpoint (seed 1) against the \
         reference (`final-ramachandran.json`); \"weighted\": the samples (seed 2) of \
         `--weighted-samples` with their importance weights (`final-weighted-ramachandran.json`; \
         populations n: the rows, ESS: Kish's effective sample size). Populations β/C7eq / αR / αL (αL wells, \
         0° < φ ≤ 120°); KL(reference ‖ model) of the φ, ψ and 64 × 64 Ramachandran \
         histograms.\n",
        s.seeds,
        s.out,
        if s.extra.is_empty() {
            String::new()
        } else {
            format!(" -- {}", s.extra.join(" "))
        },
    );
    t.push_str(
        "| method | seed | iterations | target evaluations | wall | ELBO | EUBO | IS log Ẑ (learnt) \
         | populations, eval | KL φ / ψ / Rama, eval | populations, 100k | KL φ / ψ / Rama, 100k \
         | populations, weighted (ESS) | KL φ / ψ / Rama, weighted | coordinates |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &(name, method, trained) in methods {
        for seed in 0..s.seeds {
            let dir = format!("{}/{method}-s{seed}", s.out);
            let Some(sum) = read_json(&format!("{dir}/summary.json")) else {
                let _ = writeln!(t, "| {name} | {seed} | not run | | | | | | | | | | | | |");
                continue;
            };
            reference = reference.or_else(|| Some(sum["aldp"]["reference"].clone()));
            let iters = if trained {
                format!(
                    "{} of {}",
                    field(&sum, "iterations_completed"),
                    field(&sum, "iters")
                )
            } else {
                "one pass".into()
            };
            let evals = field(&sum["target_evals"], "total");
            let log_z = if trained {
                format!(
                    "{} ({})",
                    num(field(&sum, "log_z_estimate")),
                    num(field(&sum, "log_z_learnt"))
                )
            } else {
                format!("{} (SMC)", num(field(&sum, "log_z_estimate")))
            };
            let fin = read_json(&format!("{dir}/final-ramachandran.json")).unwrap_or(Value::Null);
            let w = read_json(&format!("{dir}/final-weighted-ramachandran.json"))
                .unwrap_or(Value::Null);
            let _ = writeln!(
                t,
                "| {name} | {seed} | {iters} | {} | {} | {} | {} | {log_z} | {} | {} | {} | {} | {} | {} | {} |",
                fmt_evals(evals),
                fmt_wall(field(&sum, "seconds")),
                num(field(&sum, "elbo")),
                num(field(&sum, "eubo")),
                populations(&sum["aldp"]["populations"]),
                kls(&sum["aldp"]),
                populations(&fin["populations_a"]),
                kls(&fin),
                weighted_populations(&w),
                weighted_kls(&w),
                coordinates(&sum["config"]),
            );
        }
    }
    if let Some(r) = reference.filter(|r| !r.is_null()) {
        let file = r["file"].as_str().unwrap_or("?");
        let cwd = std::env::current_dir().unwrap_or_default();
        let shown = std::path::Path::new(file)
            .strip_prefix(&cwd)
            .map_or(file.to_string(), |p| p.display().to_string());
        let _ = writeln!(
            t,
            "\nReference: `{shown}`, {} samples, populations {}.",
            r["rows"],
            populations(&r["populations"])
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[&str]) -> Settings {
        Settings {
            seeds: 1,
            stop_at: None,
            out: "o".into(),
            methods: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            weighted_samples: WEIGHTED_SAMPLES,
        }
    }

    #[test]
    fn runs_start_with_the_preset_and_the_default_reference_unless_named() {
        let a = train_args(&settings(&[]), "rsmc", 2, &Action::Start(Some(300))).unwrap();
        let want = "train --target aldp --method rsmc --preset aldp --seed 2 \
                    --aldp-reference results/aldp/reference-x.csv.gz --out o/rsmc-s2 --stop-at 300";
        assert_eq!(a.join(" "), want);
        let own = settings(&["--aldp-reference", "r.csv"]);
        let a = train_args(&own, "tb", 0, &Action::Start(None)).unwrap();
        assert_eq!(a.iter().filter(|f| *f == "--aldp-reference").count(), 1);
        assert!(a.join(" ").contains("--aldp-reference r.csv --out o/tb-s0"));
        let a = train_args(&own, "tb", 0, &Action::Resume(Some(9))).unwrap();
        assert_eq!(a.join(" "), "train --resume o/tb-s0 --stop-at 9");
        assert!(train_args(&own, "tb", 0, &Action::Skip).is_none());
    }

    #[test]
    fn a_run_is_finished_at_its_last_iteration_only() {
        let v = |done: u32| serde_json::json!({"iterations_completed": done, "iters": 6000});
        assert!(finished(&v(6000)));
        assert!(!finished(&v(300)));
        assert!(!finished(&serde_json::json!({"iters": 1})));
    }

    #[test]
    fn unknown_methods_are_named() {
        let mut s = settings(&[]);
        s.methods = Some(vec!["vgs".into()]);
        let e = methods(&s).unwrap_err().to_string();
        assert!(e.contains("--methods") && e.contains("vgs"), "{e}");
    }
}
