//! The reproduction's own targets, checked against the table's cells: the first part of
//! `paper-table.md`, so the docs quote them from the collected file, not by hand.

use std::fmt::Write as _;

use super::table::{Cell, cell, fmt_seeds};
use crate::commands::experiment::{field, mean_pstd, published};

/// What a target asks of the cell's mean over seeds.
#[derive(Clone, Copy)]
enum Test {
    /// At most this value.
    AtMost(f64),
    /// Within `by` of the published value (`published` index) or, without one, of the
    /// target's true log Z.
    Within { by: f64 },
}

/// One target: the cell, the `last5` key, the test and the published column it is read
/// against (`None`: the true log Z).
struct Goal {
    name: &'static str,
    row: &'static str,
    method: &'static str,
    key: &'static str,
    test: Test,
    published: Option<usize>,
}

/// The targets the reproduction set itself (`rsmc.md` §6.1, the paper's RSMC row).
const GOALS: [Goal; 4] = [
    Goal {
        name: "GMM40-2d RSMC, paper Sinkhorn ≤ 8",
        row: "GMM40-2d",
        method: "rsmc",
        key: "sinkhorn_paper",
        test: Test::AtMost(8.0),
        published: Some(2),
    },
    Goal {
        name: "GMM40-2d RSMC, EUBO ≤ 1.0",
        row: "GMM40-2d",
        method: "rsmc",
        key: "eubo",
        test: Test::AtMost(1.0),
        published: Some(1),
    },
    Goal {
        name: "ManyWell-32 RSMC, EUBO within 0.5 of the published",
        row: "ManyWell-32",
        method: "rsmc",
        key: "eubo",
        test: Test::Within { by: 0.5 },
        published: Some(1),
    },
    Goal {
        name: "ManyWell-32 RSMC, IS log Ẑ within 0.5 of the true log Z",
        row: "ManyWell-32",
        method: "rsmc",
        key: "log_z_is",
        test: Test::Within { by: 0.5 },
        published: None,
    },
];

/// Whether `ours` meets `goal`, against `reference` (the published mean or the true log Z).
fn met(test: Test, ours: f64, reference: f64) -> &'static str {
    let ok = match test {
        Test::AtMost(limit) => ours <= limit,
        Test::Within { by } => (ours - reference).abs() <= by,
    };
    match (ours.is_finite(), ok) {
        (false, _) => "–",
        (true, true) => "yes",
        (true, false) => "no",
    }
}

/// One target's line; a cell that has not run gives a line that says so.
fn line(goal: &Goal, cells: &[Cell]) -> String {
    let found = cells
        .iter()
        .find(|c| c.row.label == goal.row && c.method.slug == goal.method);
    let Some(c) = found else {
        return format!("| {} | – | 0 | not run | – | – |", goal.name);
    };
    let sums = &c.sums;
    let values: Vec<f64> = sums.iter().map(|(_, v)| cell(v, true, goal.key)).collect();
    let ours = mean_pstd(&values).map_or(f64::NAN, |(m, _)| m);
    let true_log_z = sums
        .first()
        .map_or(f64::NAN, |(_, v)| field(v, "log_z_true"));
    let (reference, shown) = match goal
        .published
        .and_then(|i| published(goal.row, goal.method).map(|p| p[i]))
    {
        Some((m, sd)) => (m, format!("{m:.2} ± {sd:.2}")),
        None => (true_log_z, format!("{true_log_z:.2} (true)")),
    };
    format!(
        "| {} | {} | {} | {} | {shown} | {} |",
        goal.name,
        fmt_seeds(mean_pstd(&values), sums.len()),
        c.seeds(),
        c.iterations(),
        met(goal.test, ours, reference)
    )
}

/// The targets' part of `paper-table.md`.
pub(super) fn goals(cells: &[Cell]) -> String {
    let mut out = String::from(
        "The targets this reproduction set itself, read from the cells below (per seed `last5`, then the mean over seeds: over the finished seeds once a cell has one); published: the paper's mean ± std over 5 seeds at 20,000 iterations.\n\n| target | ours | seeds | iterations | published | met |\n|---|---|---|---|---|---|\n",
    );
    for goal in &GOALS {
        let _ = writeln!(out, "{}", line(goal, cells));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::paper_table::{METHODS, ROWS};
    use serde_json::{Value, json};

    fn run(iterations: u64, key: &str, value: f64) -> Value {
        json!({"iterations_completed": iterations, "iters": 20000, "log_z_true": 164.696,
               "last5": {key: value}})
    }

    /// `v` evaluated against the seeds' set, as a GMM40 run at the preset is.
    fn paper(mut v: Value) -> Value {
        v["config"] = json!({"eval_reference": "paper"});
        v
    }

    #[test]
    fn each_target_is_met_or_not_by_the_cells_mean() {
        assert_eq!(met(Test::AtMost(8.0), 7.99, f64::NAN), "yes");
        assert_eq!(met(Test::AtMost(8.0), 8.01, f64::NAN), "no");
        assert_eq!(met(Test::Within { by: 0.5 }, 166.79, 166.30), "yes");
        assert_eq!(met(Test::Within { by: 0.5 }, 166.81, 166.30), "no");
        assert_eq!(met(Test::Within { by: 0.5 }, 164.19, 164.696), "no");
        assert_eq!(met(Test::AtMost(8.0), f64::NAN, f64::NAN), "–");
        let gmm = &ROWS[0];
        let rsmc = &METHODS[3];
        let cells = vec![Cell::new(
            gmm,
            rsmc,
            vec![
                (0, paper(run(13138, "sinkhorn_paper", 6.0))),
                (1, run(12000, "sinkhorn_paper", 11.0)),
            ],
        )];
        // seed 1 against our exact set, where the row's reference is the seeds' set: ‡
        assert_eq!(
            line(&GOALS[0], &cells),
            "| GMM40-2d RSMC, paper Sinkhorn ≤ 8 | 8.50 ± 2.50 | 2 | 12000–13138 of 20000 ‡ | 6.46 ± 0.40 | no |"
        );
        let many = &ROWS[3];
        // a finished seed leaves the unfinished ones out of the mean
        let cells = vec![Cell::new(
            gmm,
            rsmc,
            vec![
                (0, paper(run(20000, "sinkhorn_paper", 7.5))),
                (1, run(4200, "sinkhorn_paper", 30.0)),
                (2, paper(run(20000, "sinkhorn_paper", 8.7))),
                (3, run(1000, "sinkhorn_paper", 90.0)),
            ],
        )];
        assert_eq!(
            line(&GOALS[0], &cells),
            "| GMM40-2d RSMC, paper Sinkhorn ≤ 8 | 8.10 ± 0.60 | 2 (+2 at 1000–4200) | 20000 of 20000 | 6.46 ± 0.40 | no |"
        );
        let cells = vec![Cell::new(
            many,
            rsmc,
            vec![(0, run(11000, "log_z_is", 164.77))],
        )];
        assert_eq!(
            line(&GOALS[3], &cells),
            "| ManyWell-32 RSMC, IS log Ẑ within 0.5 of the true log Z | 164.77 | 1 | 11000 of 20000 | 164.70 (true) | yes |"
        );
        assert_eq!(
            line(&GOALS[2], &cells),
            "| ManyWell-32 RSMC, EUBO within 0.5 of the published | – | 1 | 11000 of 20000 | 166.30 ± 0.01 | – |"
        );
        assert!(line(&GOALS[0], &cells).contains("not run"));
    }
}
