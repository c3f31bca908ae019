//! The markdown of `paper-table.md`: the reproduction's targets (`goals.rs`), the paper's
//! table (mean of the last five evaluations, mean ± std over seeds, the finished ones once a
//! cell has one, beside the published
//! mean ± std), the same cells' final evaluation in both Sinkhorn conventions beside the
//! exact-sample floors, where each run is heading, and the command that starts each cell.

use std::fmt::Write as _;

use amortise_settings::presets;
use serde_json::Value;

use super::goals::goals;
use super::{Action, Method, Row, Settings, read_json, run_dir, seeds_on_disk, train_args};
use crate::commands::experiment::{field, fmt_ms, mean_pstd, mean_std, published, sample_counts};
use crate::run_loop::Cadence;

/// A floor list (`"paper"` or `"converged"`) for the table: `mean ± std (min–max)` of ten
/// draws, `min–max` of two; marked, as the model cells are, where solves stopped at their
/// iteration cap (`"converged": false`).
pub(super) fn floor_range(floors: &Value, label: &str, key: &str) -> String {
    let draws: &[Value] = floors
        .get(label)
        .and_then(|f| f.get(key))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let v: Vec<f64> = draws.iter().map(|e| field(e, "value")).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let capped = draws
        .iter()
        .filter(|e| e.get("converged").and_then(Value::as_bool) == Some(false))
        .count();
    let capped = match capped {
        0 => String::new(),
        c if c == draws.len() => " (capped)".into(),
        c => format!(" ({c} of {} capped)", draws.len()),
    };
    match mean_std(&v) {
        None => "–".into(),
        Some((m, sd)) if v.iter().filter(|x| x.is_finite()).count() > 2 => {
            format!("{m:.2} ± {sd:.2} ({lo:.2}–{hi:.2}){capped}")
        }
        Some(_) => format!("{lo:.2}–{hi:.2}{capped}"),
    }
}

/// The value of one seed's summary for the table: `last5` of a trained run, the summary of an
/// SMC pass.
pub(super) fn cell(sum: &Value, trained: bool, key: &str) -> f64 {
    if trained {
        sum.get("last5").map_or(f64::NAN, |l| field(l, key))
    } else {
        match key {
            "log_z_is" => field(sum, "log_z_estimate"),
            k => field(sum, k),
        }
    }
}

/// Where a run was heading: at up to `k` evenly spaced evaluations on `cadence`'s schedule
/// (a stop's off-schedule line is left out) among the lines carrying an ELBO, the mean of
/// the last five against the same ground-truth set as the one there (a run resumed with
/// another `--eval-reference` starts its means again at the switch), `summary.json`'s
/// `last5` as it stood then: `iteration: EUBO / Sinkhorn`.
fn curve(dir: &str, k: usize, cadence: Cadence) -> String {
    let evals: Vec<Eval> = std::fs::read_to_string(format!("{dir}/metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["elbo"].is_number())
        .filter(|l| l["iteration"].as_u64().is_some_and(|i| cadence.on(i)))
        .map(|l| Eval {
            iteration: field(&l, "iteration"),
            eubo: field(&l, "eubo"),
            sinkhorn: field(&l, "sinkhorn_paper"),
            reference: l["eval_reference"].as_str().unwrap_or("exact").to_string(),
        })
        .collect();
    let n = evals.len();
    if n == 0 {
        return "–".into();
    }
    let picks: Vec<usize> = if n <= k {
        (0..n).collect()
    } else {
        (0..k).map(|i| i * (n - 1) / (k - 1)).collect()
    };
    picks
        .iter()
        .map(|&i| {
            let last5: Vec<&Eval> = evals[..=i]
                .iter()
                .rev()
                .filter(|e| e.reference == evals[i].reference)
                .take(5)
                .collect();
            let mean =
                |f: fn(&Eval) -> f64| last5.iter().map(|e| f(e)).sum::<f64>() / last5.len() as f64;
            format!(
                "{}: {:.2} / {:.2}",
                evals[i].iteration,
                mean(|e| e.eubo),
                mean(|e| e.sinkhorn)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One periodic evaluation of a run, as [`curve`] reads it.
struct Eval {
    iteration: f64,
    eubo: f64,
    sinkhorn: f64,
    /// `"exact"` for a line without `eval_reference`
    reference: String,
}

/// Mean ± std over seeds, or the value alone for one seed.
pub(super) fn fmt_seeds(v: Option<(f64, f64)>, n: usize) -> String {
    match v {
        Some((m, _)) if n == 1 && m.abs() >= 1000.0 => format!("{m:.0}"),
        Some((m, _)) if n == 1 => format!("{m:.2}"),
        v => fmt_ms(v),
    }
}

/// Wall time: seconds below ten minutes, hours above.
pub(in crate::commands) fn fmt_wall(seconds: f64) -> String {
    if !seconds.is_finite() {
        "–".into()
    } else if seconds < 600.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{:.2} h", seconds / 3600.0)
    }
}

/// The published mean ± std of a cell as `ELBO / EUBO / Sinkhorn`, or `–`.
fn fmt_published(label: &str, method: &str) -> String {
    published(label, method).map_or("–".into(), |p| {
        p.map(|(m, s)| format!("{m:.2} ± {s:.2}")).join(" / ")
    })
}

/// `lo of planned`, `lo–hi of planned` over the seeds' iterations, or `one pass`.
pub(super) fn iterations(sums: &[(u64, Value)], trained: bool) -> String {
    if !trained {
        return "one pass".into();
    }
    let its: Vec<f64> = sums
        .iter()
        .map(|(_, v)| field(v, "iterations_completed"))
        .collect();
    let planned = sums.first().map_or(f64::NAN, |(_, v)| field(v, "iters"));
    let lo = its.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = its.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo == hi {
        format!("{lo} of {planned}")
    } else {
        format!("{lo}–{hi} of {planned}")
    }
}

/// The seeds of a cell that have a `summary.json` in OUT, with it, in seed order.
fn summaries(s: &Settings, r: &Row, m: &Method) -> Vec<(u64, Value)> {
    seeds_on_disk(s, r, m)
        .into_iter()
        .filter_map(|seed| {
            read_json(&format!("{}/summary.json", run_dir(s, r, m, seed))).map(|v| (seed, v))
        })
        .collect()
}

/// The file's opening paragraph and its four tables, filled row by row.
struct Parts {
    intro: String,
    main: String,
    conv: String,
    curves: String,
    commands: String,
}

impl Parts {
    /// The parts' headers; `n` is the evaluation's sample count over every run.
    fn new(s: &Settings, n: &str) -> Self {
        let mut p = Self {
            intro: String::new(),
            main: String::new(),
            conv: String::new(),
            curves: String::new(),
            commands: String::new(),
        };
        let _ = writeln!(
            p.intro,
            "Collected by `amortise experiment paper-table --out {} --stop-at 0` from the `summary.json` of every run in the folder, whatever `--seeds` the pieces ran with. Per seed the mean of the last five evaluations (every 200 iterations; fewer while a run is short of them), then mean ± std over the seeds that have run (the population std, numpy's default, as the seeds' report notebook aggregates the paper's seeds; once a seed of a cell has run all its iterations, the cell's means in every table are over its finished seeds only: a seeds column such as `1 (+1 at 4200)` counts the seeds left out and their iterations, and each still has its line in the \"where each run is heading\" table); {n} model samples against the row's reference: the seeds' own ground-truth set of 2000 on GMM40-2d and GMM40-5d (`--eval-reference paper`, docs/targets.md), elsewhere {n} exact samples (seed 0; the funnel's clipped to [−30, 30]), and ‡ after a cell's iterations where a seed's evaluations are against another set than its row's (a run that finished before the preset took the seeds' set: our exact set of seed 0); Sinkhorn in the paper's convention (ε = 0.05 × mean cost). The SMC rows are one pass: their final particles, SMC's own log Ẑ. Published: Choi et al. 2025 (`rsmc.md` §6.1), mean ± std over 5 seeds, 20,000 iterations. Each cell's command is at the end.\n",
            s.out
        );
        let _ = writeln!(
            p.main,
            "| target | method | seeds | iterations | ELBO | EUBO | IS log Ẑ (true) | Sinkhorn (paper) | MMD | EMC | wall per seed | published ELBO / EUBO / Sinkhorn |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            p.conv,
            "\nThe same cells in both Sinkhorn conventions: each seed's final evaluation (for a trained run, its `summary.json`: a draw of {n} samples at the iteration shown, separate from the periodic evaluation that `metrics.jsonl` has there; the converged solve is too slow to run at every evaluation), mean ± std over the seeds, beside the floor: independent sets of {n} exact samples against the row's reference, mean ± std (min–max) of ten (seeds 1–10) in the paper's convention, min–max of two (seeds 1, 2) in the converged one. The converged convention (ε = 1e-3, ε-annealing) approaches W2²; \"capped\" counts the solves (a cell's seeds, a floor's exact sets) that stopped at their iteration cap. ELBO, EUBO, log Ẑ and MMD do not depend on the convention: they are the first table's.\n"
        );
        let _ = writeln!(
            p.conv,
            "| target | method | seeds | iteration | Sinkhorn (paper) | Sinkhorn (converged) | floor (paper) | floor (converged) |\n|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            p.curves,
            "\nWhere each run is heading: EUBO / Sinkhorn (paper) as the first table reports them, the mean of the last five evaluations against the same set (a run resumed with another `--eval-reference` starts its means again where it switched), at up to eight roughly evenly spaced evaluations of `metrics.jsonl` (the last is the run's `last5` in `summary.json`).\n\n| target | method | seed | iteration: EUBO / Sinkhorn (`last5`) |\n|---|---|---|---|"
        );
        let _ = writeln!(
            p.commands,
            "\nEach cell's first piece (seed 0; seed S changes `--seed` and the folder's `-s0`). `--stop-at K` ends a piece after iteration K; `amortise train --resume DIR --stop-at K` continues it with the same bits, whatever `--threads` is. The experiment's own `--rows`, `--methods` and `--stop-at` run the same commands.\n\n| target | method | command |\n|---|---|---|"
        );
        p
    }

    /// One cell's lines in every part.
    fn add(&mut self, s: &Settings, c: &Cell, floors: &Value) {
        let (r, m, sums) = (c.row, c.method, c.sums.as_slice());
        let n = sums.len();
        let seeds = c.seeds();
        let col = |f: &dyn Fn(&Value) -> f64| {
            fmt_seeds(
                mean_pstd(&sums.iter().map(|(_, v)| f(v)).collect::<Vec<_>>()),
                n,
            )
        };
        let last5 = |k: &'static str| col(&|v| cell(v, m.trained, k));
        let log_z_true = sums
            .first()
            .map_or(f64::NAN, |(_, v)| field(v, "log_z_true"));
        let wall = mean_std(
            &sums
                .iter()
                .map(|(_, v)| field(v, "seconds"))
                .collect::<Vec<_>>(),
        );
        let its = c.iterations();
        let mark = if c.foreign_reference() { " ‡" } else { "" };
        let _ = writeln!(
            self.main,
            "| {} | {} | {seeds} | {its} | {} | {} | {} ({log_z_true:.2}) | {} | {} | {} | {} | {} |",
            r.label,
            m.name,
            last5("elbo"),
            last5("eubo"),
            last5("log_z_is"),
            last5("sinkhorn_paper"),
            last5("mmd"),
            last5("emc"),
            fmt_wall(wall.map_or(f64::NAN, |(w, _)| w)),
            fmt_published(r.label, m.slug)
        );
        let capped = sums
            .iter()
            .filter(|(_, v)| v.get("sinkhorn_converged").and_then(Value::as_bool) == Some(false))
            .count();
        let capped = match capped {
            0 => String::new(),
            c if c == n && n == 1 => " (capped)".into(),
            c => format!(" ({c} of {n} capped)"),
        };
        let _ = writeln!(
            self.conv,
            "| {} | {} | {seeds} | {} | {} | {}{capped} | {} | {} |",
            r.label,
            m.name,
            iterations(sums, m.trained)
                .split(" of ")
                .next()
                .unwrap_or_default()
                .to_string()
                + mark,
            col(&|v| field(v, "sinkhorn_paper")),
            col(&|v| field(v, "sinkhorn")),
            floor_range(floors, r.label, "paper"),
            floor_range(floors, r.label, "converged")
        );
        let cadence = presets::preset("paper", r.target, r.dim, m.flags[1]).map(|p| Cadence {
            every: p.eval_every,
            iters: p.run.iters,
        });
        if let (true, Ok(cadence)) = (m.trained, cadence) {
            let mut all: Vec<u64> = sums.iter().chain(&c.behind).map(|(k, _)| *k).collect();
            all.sort_unstable();
            for seed in &all {
                let _ = writeln!(
                    self.curves,
                    "| {} | {} | {seed} | {} |",
                    r.label,
                    m.name,
                    curve(&run_dir(s, r, m, *seed), 8, cadence)
                );
            }
        }
        if let Some(a) = train_args(s, r, m, 0, &Action::Start(None)) {
            let _ = writeln!(
                self.commands,
                "| {} | {} | `amortise {}` |",
                r.label,
                m.name,
                a.join(" ")
            );
        }
    }
}

/// A cell of the table: the seeds its means are over and the seeds left out of them.
pub(super) struct Cell<'a> {
    pub row: &'a Row,
    pub method: &'a Method,
    /// The seeds the cell's means are over, with their summaries.
    pub sums: Vec<(u64, Value)>,
    /// Unfinished seeds of a cell that has a finished one: in the heading table only.
    pub behind: Vec<(u64, Value)>,
}

impl<'a> Cell<'a> {
    /// Splits a cell's seeds: once one has run its whole budget, the means are over the
    /// finished seeds, since averaging in a seed still under way would mix budgets; until
    /// then over every seed (pieces advance the seeds together).
    pub fn new(row: &'a Row, method: &'a Method, all: Vec<(u64, Value)>) -> Self {
        let done = |v: &Value| field(v, "iterations_completed") >= field(v, "iters");
        let (sums, behind) = if all.iter().any(|(_, v)| done(v)) {
            all.into_iter().partition(|(_, v)| done(v))
        } else {
            (all, Vec::new())
        };
        Self {
            row,
            method,
            sums,
            behind,
        }
    }

    /// Whether a seed the cell's means are over was evaluated against another set than its
    /// row's reference (a run that finished before the preset took the seeds' set).
    pub fn foreign_reference(&self) -> bool {
        let row = presets::paper_reference(self.row.target, self.row.dim);
        self.sums
            .iter()
            .any(|(_, v)| v["config"]["eval_reference"].as_str().unwrap_or("exact") != row)
    }

    /// The iterations column, with ‡ after it for a cell of [`Cell::foreign_reference`].
    pub fn iterations(&self) -> String {
        let mark = if self.foreign_reference() { " ‡" } else { "" };
        iterations(&self.sums, self.method.trained) + mark
    }

    /// The seeds column: how many the means are over, then `(+k at I)` for the seeds left
    /// out, `I` their iterations.
    pub fn seeds(&self) -> String {
        let n = self.sums.len();
        if self.behind.is_empty() {
            return n.to_string();
        }
        let its = iterations(&self.behind, true);
        let at = its.split(" of ").next().unwrap_or_default();
        format!("{n} (+{} at {at})", self.behind.len())
    }
}

/// The whole `paper-table.md` for the cells of `rows` × `methods` that have run.
pub(super) fn table(s: &Settings, rows: &[&Row], methods: &[&Method], floors: &Value) -> String {
    let cells: Vec<Cell> = rows
        .iter()
        .flat_map(|r| methods.iter().map(move |m| (*r, *m)))
        .map(|(r, m)| Cell::new(r, m, summaries(s, r, m)))
        .filter(|c| !c.sums.is_empty())
        .collect();
    let all: Vec<&Value> = cells
        .iter()
        .flat_map(|c| c.sums.iter().chain(&c.behind).map(|(_, v)| v))
        .collect();
    let mut p = Parts::new(s, &sample_counts(&all));
    for c in &cells {
        p.add(s, c, floors);
    }
    format!(
        "{}{}{}{}{}{}",
        p.intro,
        goals(&cells),
        p.main,
        p.conv,
        p.curves,
        p.commands
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_curve_is_the_rolling_last5_on_schedule_and_ends_at_the_summarys() {
        let dir = std::env::temp_dir().join(format!("amortise-paper-curve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let d = dir.to_string_lossy().to_string();
        let mut lines: String = (1..=10)
            .map(|i| {
                format!(
                    "{{\"iteration\":{},\"elbo\":-1,\"eubo\":{i},\"sinkhorn_paper\":{}}}\n{{\"iteration\":{},\"loss\":1}}\n",
                    200 * i,
                    10 * i,
                    200 * i + 100
                )
            })
            .collect();
        // a progress line on the schedule, without an ELBO, is no evaluation
        lines.push_str("{\"iteration\":400,\"loss\":1,\"eubo\":999}\n");
        // a stop's evaluation, off the schedule: not part of the curve or of `last5`
        lines.push_str("{\"iteration\":2050,\"elbo\":-1,\"eubo\":999,\"sinkhorn_paper\":999}\n");
        let cadence = Cadence {
            every: 200,
            iters: 4000,
        };
        let m = crate::run_loop::Metrics::resumed(&d, &lines, cadence)
            .unwrap_or_else(|e| panic!("{e}"));
        let last5 = m.mean_of_last(5, &["elbo", "eubo", "sinkhorn_paper"]);
        let c = curve(&d, 4, cadence);
        assert_eq!(
            c,
            "200: 1.00 / 10.00 · 800: 2.50 / 25.00 · 1400: 5.00 / 50.00 · 2000: 8.00 / 80.00"
        );
        assert!(
            c.ends_with(&format!(
                "{}: {:.2} / {:.2}",
                last5["from_iteration"].as_u64().unwrap_or(0) + 800,
                field(&last5, "eubo"),
                field(&last5, "sinkhorn_paper")
            )),
            "{c} against {last5}"
        );
        assert_eq!(curve(&format!("{d}/none"), 4, cadence), "–");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_curve_does_not_mix_two_references() {
        let dir = std::env::temp_dir().join(format!("amortise-paper-ref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let d = dir.to_string_lossy().to_string();
        // six evaluations against the exact set, then three against the seeds' set
        let lines: String = (1..=9)
            .map(|i| {
                let mark = if i > 6 {
                    ",\"eval_reference\":\"paper\""
                } else {
                    ""
                };
                format!(
                    "{{\"iteration\":{},\"elbo\":-1,\"eubo\":{i},\"sinkhorn_paper\":{}{mark}}}\n",
                    200 * i,
                    10 * i
                )
            })
            .collect();
        let cadence = Cadence {
            every: 200,
            iters: 4000,
        };
        let m = crate::run_loop::Metrics::resumed(&d, &lines, cadence)
            .unwrap_or_else(|e| panic!("{e}"));
        let paper = |v: &Value| v["eval_reference"].as_str() == Some("paper");
        let last5 = m.mean_of_last_where(5, &["eubo", "sinkhorn_paper"], &paper);
        // at 1200 the exact set's 2..6; at 1800 the seeds' set's three alone, as `last5`
        assert_eq!(
            curve(&d, 9, cadence),
            "200: 1.00 / 10.00 · 400: 1.50 / 15.00 · 600: 2.00 / 20.00 · 800: 2.50 / 25.00 · \
             1000: 3.00 / 30.00 · 1200: 4.00 / 40.00 · 1400: 7.00 / 70.00 · 1600: 7.50 / 75.00 · \
             1800: 8.00 / 80.00"
        );
        assert_eq!(field(&last5, "eubo"), 8.0);
        assert_eq!(field(&last5, "sinkhorn_paper"), 80.0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cell_averages_its_finished_seeds_once_it_has_one() {
        use crate::commands::paper_table::{METHODS, ROWS};
        let run = |its: u64| json!({"iterations_completed": its, "iters": 20000});
        let (gmm, rsmc, smc) = (&ROWS[0], &METHODS[3], &METHODS[4]);
        // pieces advance seeds together: all of them count until one finishes
        let c = Cell::new(gmm, rsmc, vec![(0, run(13138)), (1, run(12000))]);
        assert_eq!((c.sums.len(), c.seeds()), (2, "2".to_string()));
        let c = Cell::new(gmm, rsmc, vec![(0, run(20000)), (1, run(4200))]);
        assert_eq!(c.seeds(), "1 (+1 at 4200)");
        assert_eq!((c.sums[0].0, c.behind[0].0), (0, 1));
        // an SMC pass has no iterations: every seed counts
        let pass = json!({"iters": 0});
        let c = Cell::new(gmm, smc, vec![(0, pass.clone()), (1, pass)]);
        assert_eq!(c.seeds(), "2");
    }

    #[test]
    fn a_seed_left_out_is_counted_in_every_table_and_keeps_its_curve() {
        use crate::commands::paper_table::{METHODS, ROWS};
        let dir = std::env::temp_dir().join(format!("amortise-paper-seeds-{}", std::process::id()));
        // collected with `--seeds 1`: seed 1 is in the folder, so it is in the table
        let s = Settings {
            seeds: 1,
            stop_at: Some(0),
            threads: 1,
            out: dir.to_string_lossy().to_string(),
            rows: None,
            methods: None,
        };
        let (gmm, rsmc) = (&ROWS[0], &METHODS[3]);
        for (seed, its, sinkhorn) in [(0, 20000, 7.5), (1, 4200, 30.0)] {
            let d = run_dir(&s, gmm, rsmc, seed);
            std::fs::create_dir_all(&d).unwrap_or_default();
            let sum = json!({"iterations_completed": its, "iters": 20000, "log_z_true": 0.0,
                             "last5": {"sinkhorn_paper": sinkhorn},
                             "config": {"eval_reference": "paper"}});
            std::fs::write(format!("{d}/summary.json"), sum.to_string()).unwrap_or_default();
            let line = json!({"iteration": 200, "elbo": -1, "eubo": 1, "sinkhorn_paper": sinkhorn});
            std::fs::write(format!("{d}/metrics.jsonl"), format!("{line}\n")).unwrap_or_default();
        }
        // not seeds of the cell: a folder without a summary, a run's log (`DIR.log`), another
        // cell whose name starts alike, a second spelling of seed 1
        std::fs::create_dir_all(run_dir(&s, gmm, rsmc, 2)).unwrap_or_default();
        std::fs::write(format!("{}.log", run_dir(&s, gmm, rsmc, 1)), "").unwrap_or_default();
        let d = run_dir(&s, gmm, rsmc, 0);
        for other in [d.replace("-rsmc-s0", "-rsmc-nobuffer-s0"), format!("{d}1")] {
            std::fs::create_dir_all(&other).unwrap_or_default();
            std::fs::write(format!("{other}/summary.json"), "{}").unwrap_or_default();
        }
        let text = table(&s, &[gmm], &[rsmc], &json!({}));
        let _ = std::fs::remove_dir_all(&dir);
        for row in [
            "| GMM40-2d RSMC, paper Sinkhorn ≤ 8 | 7.50 | 1 (+1 at 4200) | 20000 of 20000 |",
            "| GMM40-2d | RSMC | 1 (+1 at 4200) | 20000 of 20000 | – | – | – (0.00) | 7.50 |",
            "| GMM40-2d | RSMC | 1 (+1 at 4200) | 20000 | – |",
            "| GMM40-2d | RSMC | 0 | 200: 1.00 / 7.50 |",
            "| GMM40-2d | RSMC | 1 | 200: 1.00 / 30.00 |",
        ] {
            assert!(text.contains(row), "{row} not in\n{text}");
        }
        assert!(!text.contains("| GMM40-2d | RSMC | 2 |"), "{text}");
    }

    #[test]
    fn floors_print_as_a_spread_of_ten_or_a_range_of_two() {
        let two = json!([{"value": 6.5}, {"value": 8.5}]);
        let ten = serde_json::Value::Array(vec![json!({"value": 7.0}); 10]);
        let all = json!({"X": {"paper": ten}, "Y": {"converged": two}});
        assert_eq!(floor_range(&all, "X", "paper"), "7.00 ± 0.00 (7.00–7.00)");
        assert_eq!(floor_range(&all, "Y", "converged"), "6.50–8.50");
        assert_eq!(floor_range(&all, "Z", "paper"), "–");
        let stopped = |c: bool| json!({"value": 15.0, "converged": c});
        let one = json!({"Y": {"converged": [stopped(false), stopped(true)]}});
        assert_eq!(
            floor_range(&one, "Y", "converged"),
            "15.00–15.00 (1 of 2 capped)"
        );
        let both = json!({"Y": {"converged": [stopped(false), stopped(false)]}});
        assert_eq!(floor_range(&both, "Y", "converged"), "15.00–15.00 (capped)");
    }

    #[test]
    fn published_cells_carry_their_spread_and_sample_counts_come_from_the_runs() {
        assert_eq!(
            fmt_published("GMM40-2d", "rsmc"),
            "-2.44 ± 0.10 / 0.89 ± 0.03 / 6.46 ± 0.40"
        );
        assert_eq!(fmt_published("GMM40-2d", "smc-hmc"), "–");
        let a = json!({"config": {"eval_samples": 2000}});
        let b = json!({"config": {"eval_samples": 1000}});
        assert_eq!(sample_counts(&[&a, &a]), "2000");
        assert_eq!(sample_counts(&[&a, &b]), "1000–2000");
        assert_eq!(sample_counts(&[]), "–");
    }
}
