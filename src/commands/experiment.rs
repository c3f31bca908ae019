//! `amortise experiment rsmc-table`: the main comparison of the RSMC paper at a CPU budget.
//!
//! Trains `tb`, `tb-buffer` and `rsmc` and runs the `smc` baseline on GMM40-2d, GMM40-5d,
//! Funnel-10 and ManyWell-32, for several seeds, each run a child process of this binary
//! (`amortise train ...`, so every run is reproducible on its own from the command recorded
//! in the table), `--jobs` at a time. Then it writes a markdown table of mean ± std over
//! seeds next to the published numbers of Choi et al. 2025 (`rsmc.md` §6.1). With
//! `--stop-at 0` it trains nothing and writes the table from the runs already in `--out`.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};

/// One row group of the table: label, target, dimension, methods, and extra `train` flags.
struct Task {
    label: &'static str,
    target: &'static str,
    dim: usize,
    methods: &'static [&'static str],
    extra: &'static [&'static str],
    /// Flags for one method only: `(method, flag)`.
    method_extra: &'static [(&'static str, &'static str)],
}

impl Task {
    /// The `train` flags this row group adds for `method`: its own, then the method's.
    fn flags<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'static str> + 'a {
        self.extra.iter().copied().chain(
            self.method_extra
                .iter()
                .filter(move |(m, _)| *m == method)
                .map(|(_, f)| *f),
        )
    }
}

const ALL_METHODS: &[&str] = &["tb", "tb-buffer", "rsmc", "smc"];

/// The paper's four gradient-free tasks (`rsmc.md` §2.3), then ManyWell-32 again with the
/// Langevin-preconditioned drift (LP, the paper's gradient-based setting, which it uses for
/// ManyWell-64 with the same width 64 as here). Without LP, 600 iterations at batch 300 do
/// not train the policy on ManyWell-32 (README, "ManyWell-32"); the SMC baseline does not
/// use a policy, so it is not repeated there. Each method starts its learnt `log Z` at an
/// estimate there instead of 0: RSMC at the prefill SMC `log Ẑ` (`--init-log-z-smc`, the
/// PyTorch RSMC code's choice), tb and tb-buffer at the mean log weight of a first batch
/// (`--init-log-z-batch`). From 0, with `lr_log_z = 0.1`, `log Z` cannot reach 164.7 within
/// the budget, and the large TB residual this leaves on every batch stalls the policy.
const TASKS: [Task; 5] = [
    Task {
        label: "GMM40-2d",
        target: "gmm40",
        dim: 2,
        methods: ALL_METHODS,
        extra: &[],
        method_extra: &[],
    },
    Task {
        label: "GMM40-5d",
        target: "gmm40",
        dim: 5,
        methods: ALL_METHODS,
        extra: &[],
        method_extra: &[],
    },
    Task {
        label: "Funnel-10",
        target: "funnel",
        dim: 10,
        methods: ALL_METHODS,
        extra: &[],
        method_extra: &[],
    },
    Task {
        label: "ManyWell-32",
        target: "manywell",
        dim: 32,
        methods: ALL_METHODS,
        extra: &[],
        method_extra: &[],
    },
    Task {
        label: "ManyWell-32-LP",
        target: "manywell",
        dim: 32,
        methods: &["tb", "tb-buffer", "rsmc"],
        extra: &["--langevin"],
        method_extra: &[
            ("tb", "--init-log-z-batch"),
            ("tb-buffer", "--init-log-z-batch"),
            ("rsmc", "--init-log-z-smc"),
        ],
    },
];

/// The row-group labels, for `--rows` errors and help.
pub fn row_labels() -> Vec<&'static str> {
    TASKS.iter().map(|t| t.label).collect()
}

/// Published (ELBO, EUBO, Sinkhorn), each as (mean, std over 5 seeds), from `rsmc.md` §6.1
/// (20k iterations, batch 2000; GMM40 with the JAX code's means; Sinkhorn in the paper's
/// convention). `rsmc-nobuffer` is the table's "TB + SMC". `None` where the paper's table has
/// no such row.
pub(crate) fn published(label: &str, method: &str) -> Option<[(f64, f64); 3]> {
    Some(match (label, method) {
        ("GMM40-2d", "tb") => [(-2.29, 0.07), (273.10, 45.62), (607.31, 12.05)],
        ("GMM40-2d", "tb-buffer") => [(-2.37, 0.11), (0.88, 0.01), (6.50, 0.11)],
        ("GMM40-2d", "rsmc-nobuffer") => [(-1.62, 0.07), (1.06, 0.01), (39.99, 9.49)],
        ("GMM40-2d", "rsmc") => [(-2.44, 0.10), (0.89, 0.03), (6.46, 0.40)],
        ("GMM40-5d", "tb") => [(-5.19, 0.01), (3156.69, 305.53), (3110.16, 121.35)],
        ("GMM40-5d", "tb-buffer") => [(-4.48, 0.01), (1183.34, 54.71), (2813.90, 133.10)],
        ("GMM40-5d", "rsmc-nobuffer") => [(-10.56, 2.57), (30.12, 18.63), (330.91, 184.98)],
        ("GMM40-5d", "rsmc") => [(-11.46, 0.59), (2.34, 0.05), (83.31, 10.11)],
        ("Funnel-10", "tb") => [(-0.50, 0.01), (8.33, 0.69), (137.35, 0.84)],
        ("Funnel-10", "tb-buffer") => [(-0.70, 0.04), (1.53, 0.37), (115.28, 3.45)],
        ("Funnel-10", "rsmc-nobuffer") => [(-0.56, 0.01), (41.54, 15.75), (138.79, 2.75)],
        ("Funnel-10", "rsmc") => [(-0.69, 0.01), (3.64, 2.17), (116.23, 3.37)],
        ("ManyWell-32", "tb") => [(160.69, 0.02), (252.37, 6.00), (29.57, 0.02)],
        ("ManyWell-32", "tb-buffer") => [(162.84, 0.04), (166.30, 0.02), (22.97, 0.02)],
        ("ManyWell-32", "rsmc-nobuffer") => [(162.48, 0.05), (166.83, 0.11), (21.91, 0.06)],
        ("ManyWell-32", "rsmc") => [(162.81, 0.03), (166.30, 0.01), (22.97, 0.04)],
        _ => return None,
    })
}

/// The evaluation's sample count over `sums` (each run's `summary.json`): model samples
/// and exact samples are both `config.eval_samples`. One value, or the range when the runs
/// differ; `"–"` without any.
pub(crate) fn sample_counts(sums: &[&Value]) -> String {
    config_range(sums, "eval_samples")
}

/// `config.KEY` over `sums` (each run's `summary.json`): one value, or the range when the
/// runs differ; `"–"` without any.
fn config_range(sums: &[&Value], key: &str) -> String {
    let n: Vec<u64> = sums
        .iter()
        .filter_map(|v| v.get("config")?.get(key)?.as_u64())
        .collect();
    match (n.iter().min(), n.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "–".into(),
    }
}

/// Settings of one invocation.
pub struct Settings {
    /// Seeds per cell.
    pub seeds: u64,
    /// Training iterations.
    pub iters: u32,
    /// Parallel child processes.
    pub jobs: usize,
    /// Output folder.
    pub out: String,
    /// Extra flags passed to every `train`.
    pub extra: Vec<String>,
    /// Only these row groups (labels, e.g. `ManyWell-32-LP`); `None` for all.
    pub rows: Option<Vec<String>>,
    /// Only collect the table from the runs already in `out` (`--stop-at 0`; rsmc-table).
    pub collect: bool,
}

/// Mean and population standard deviation (divisor n, numpy's default), as the seeds'
/// report notebook aggregates the paper's seeds; `None` without a finite value.
pub(crate) fn mean_pstd(v: &[f64]) -> Option<(f64, f64)> {
    let n = v.iter().filter(|x| x.is_finite()).count() as f64;
    mean_std(v).map(|(m, s)| {
        (
            m,
            if n > 1.0 {
                s * ((n - 1.0) / n).sqrt()
            } else {
                0.0
            },
        )
    })
}

pub(crate) fn mean_std(v: &[f64]) -> Option<(f64, f64)> {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let s = if v.len() > 1 {
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some((m, s))
}

pub(crate) fn fmt_ms(v: Option<(f64, f64)>) -> String {
    match v {
        Some((m, s)) if m.abs() >= 1000.0 => format!("{m:.0} ± {s:.0}"),
        Some((m, s)) => format!("{m:.2} ± {s:.2}"),
        None => "–".into(),
    }
}

pub(crate) fn field(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// One run of a cell: its row group, method, seed and folder.
struct Run {
    task: &'static Task,
    method: &'static str,
    seed: u64,
    dir: String,
}

/// Runs the experiment (or, with `collect`, only reads its runs) and writes
/// `OUT/rsmc-table.md`.
pub fn rsmc_table(s: &Settings) -> CliResult<()> {
    if s.seeds == 0 {
        return Err(CliError::flag("--seeds", "must be at least 1"));
    }
    if s.jobs == 0 {
        return Err(CliError::flag("--jobs", "must be at least 1"));
    }
    let tasks = pick_tasks(s.rows.as_deref())?;
    let runs: Vec<Run> = tasks
        .iter()
        .flat_map(|t| t.methods.iter().map(move |&m| (t, m)))
        .flat_map(|(t, m)| {
            (0..s.seeds).map(move |seed| Run {
                task: t,
                method: m,
                seed,
                dir: format!("{}/{}-{}-s{}", s.out, t.label, m, seed),
            })
        })
        .collect();
    let t0 = Instant::now();
    let failures = if s.collect {
        check_collectable(&s.out, &runs)?;
        Vec::new()
    } else {
        std::fs::create_dir_all(&s.out)
            .map_err(|e| CliError::file(&s.out, format!("cannot create: {e}")))?;
        train_all(s, &runs)?
    };
    let (md, sums) = table_rows(s, &tasks);
    let text = format!(
        "{}{md}",
        header(s, &sums, runs.len(), t0.elapsed().as_secs_f64())
    );
    write_atomic(&format!("{}/rsmc-table.md", s.out), text.as_bytes())?;
    println!("{text}");
    if !failures.is_empty() {
        return Err(CliError::file(
            &s.out,
            format!("{} runs failed: {}", failures.len(), failures.join("; ")),
        ));
    }
    Ok(())
}

/// The row groups `--rows` names, in its order; all of them without it.
fn pick_tasks(rows: Option<&[String]>) -> CliResult<Vec<&'static Task>> {
    let Some(rows) = rows else {
        return Ok(TASKS.iter().collect());
    };
    rows.iter()
        .map(|r| {
            TASKS.iter().find(|t| t.label == r.as_str()).ok_or_else(|| {
                CliError::flag(
                    "--rows",
                    format!(
                        "unknown row group '{r}' (known: {})",
                        row_labels().join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// Collecting needs every picked run's `summary.json`: a table with silent gaps would
/// replace a complete one. Names every missing run.
fn check_collectable(out: &str, runs: &[Run]) -> CliResult<()> {
    if !std::path::Path::new(out).is_dir() {
        return Err(CliError::flag(
            "--out",
            format!("'{out}' is not a folder of runs to collect"),
        ));
    }
    let missing: Vec<&str> = runs
        .iter()
        .filter(|r| !std::path::Path::new(&format!("{}/summary.json", r.dir)).is_file())
        .map(|r| r.dir.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(CliError::flag(
        "--out",
        format!(
            "{} of the {} runs that --rows and --seeds pick have no summary.json, so nothing was written: {}",
            missing.len(),
            runs.len(),
            missing.join(", ")
        ),
    ))
}

/// Trains every run as a child `amortise train`, `s.jobs` at a time; the failed ones.
fn train_all(s: &Settings, runs: &[Run]) -> CliResult<Vec<String>> {
    let exe = super::own_exe()?;
    let args = |r: &Run| -> Vec<String> {
        let mut a: Vec<String> = [
            "train",
            "--target",
            r.task.target,
            "--dim",
            &r.task.dim.to_string(),
            "--method",
            r.method,
            "--iters",
            &s.iters.to_string(),
            "--seed",
            &r.seed.to_string(),
            "--out",
            &r.dir,
        ]
        .map(str::to_string)
        .to_vec();
        a.extend(r.task.flags(r.method).map(str::to_string));
        a.extend(s.extra.iter().cloned());
        a
    };
    let t0 = Instant::now();
    let mut done = 0usize;
    let mut failures = Vec::new();
    for batch in runs.chunks(s.jobs) {
        let children: Vec<_> = batch
            .iter()
            .map(|r| {
                let log = std::fs::File::create(format!("{}.log", r.dir)).ok();
                let mut c = Command::new(&exe);
                c.args(args(r)).stdout(std::process::Stdio::null());
                if let Some(f) = log {
                    c.stderr(f);
                }
                let _ = std::fs::create_dir_all(&r.dir);
                c.spawn()
            })
            .collect();
        for (r, child) in batch.iter().zip(children) {
            let ok = child
                .and_then(|mut c| c.wait())
                .map(|st| st.success())
                .unwrap_or(false);
            done += 1;
            eprintln!(
                "[{done}/{}] {} {} seed {}: {} ({:.0} s elapsed)",
                runs.len(),
                r.task.label,
                r.method,
                r.seed,
                if ok { "ok" } else { "FAILED" },
                t0.elapsed().as_secs_f64()
            );
            if !ok {
                failures.push(format!(
                    "{} {} seed {} (log: {}.log)",
                    r.task.label, r.method, r.seed, r.dir
                ));
            }
        }
    }
    Ok(failures)
}

/// The table's lines (mean ± std over the seeds' `summary.json`) and the summaries read.
fn table_rows(s: &Settings, tasks: &[&Task]) -> (String, Vec<Value>) {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| target | method | ELBO | EUBO | log Ẑ (true) | Sinkhorn | MMD | EMC | s/run | paper ELBO / EUBO / Sinkhorn |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    let mut all_sums: Vec<Value> = Vec::new();
    for t in tasks {
        for &m in t.methods {
            let sums: Vec<Value> = (0..s.seeds)
                .filter_map(|seed| {
                    std::fs::read_to_string(format!(
                        "{}/{}-{}-s{}/summary.json",
                        s.out, t.label, m, seed
                    ))
                    .ok()
                })
                .filter_map(|text| serde_json::from_str(&text).ok())
                .collect();
            let col = |k: &str| mean_std(&sums.iter().map(|v| field(v, k)).collect::<Vec<_>>());
            let log_z_true = sums
                .first()
                .map(|v| field(v, "log_z_true"))
                .unwrap_or(f64::NAN);
            let paper = published(t.label, m).map_or("–".to_string(), |p| {
                format!("{} / {} / {}", p[0].0, p[1].0, p[2].0)
            });
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} ({:.3}) | {} | {} | {} | {} | {} |",
                t.label,
                core::iter::once(m)
                    .chain(t.flags(m))
                    .collect::<Vec<_>>()
                    .join(" "),
                fmt_ms(col("elbo")),
                fmt_ms(col("eubo")),
                fmt_ms(col("log_z_estimate")),
                log_z_true,
                fmt_ms(col("sinkhorn")),
                fmt_ms(col("mmd")),
                fmt_ms(col("emc")),
                col("seconds").map_or("–".into(), |(mm, _)| format!("{mm:.0}")),
                paper
            );
            all_sums.extend(sums);
        }
    }
    (md, all_sums)
}

/// The table's first line: the command that measured it (or collected it, then the runs'
/// own iteration counts) and the sample counts the runs record.
fn header(s: &Settings, sums: &[Value], runs: usize, seconds: f64) -> String {
    let sum_refs: Vec<&Value> = sums.iter().collect();
    let n = sample_counts(&sum_refs);
    let rows = s
        .rows
        .as_ref()
        .map_or(String::new(), |r| format!(" --rows {}", r.join(",")));
    let provenance = if s.collect {
        format!(
            "Collected by `amortise experiment rsmc-table --seeds {}{rows} --stop-at 0` from the {} runs' `summary.json` ({} iterations each; each run's `train` flags are its `config`, its wall time is s/run)",
            s.seeds,
            sums.len(),
            config_range(&sum_refs, "iters"),
        )
    } else {
        format!(
            "Measured by `amortise experiment rsmc-table --seeds {} --iters {}{rows}{}{}` ({runs} runs, {seconds:.0} s wall with {} jobs)",
            s.seeds,
            s.iters,
            if s.extra.is_empty() { "" } else { " -- " },
            s.extra.join(" "),
            s.jobs
        )
    };
    format!(
        "{provenance}. Mean ± std over seeds; log Ẑ is the importance-sampling estimate from {n} policy samples (SMC's own estimate for `smc`); Sinkhorn is the debiased divergence with ε = 1e-3 between {n} model and {n} exact samples.\n\n"
    )
}
