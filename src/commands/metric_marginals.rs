//! `amortise metric marginals`: the two files' one-dimensional marginals, coordinate by
//! coordinate.
//!
//! For each coordinate: mean, standard deviation, the fraction of values below 0 (the
//! balance between the wells of a double-well coordinate such as ManyWell's, or of a
//! symmetric one), the 0.01, 0.5 and 0.99 quantiles, and the exact 1-Wasserstein distance
//! between the two marginals (`kernel::metrics::marginal`). A Sinkhorn value in many
//! dimensions says how far two sets are; these say along which coordinates and whether in
//! the bulk, in the tails or in the balance of the wells.

use amortise_kernel::metrics::marginal::w1_sorted;

use super::json_num;
use super::metric::MetricArgs;
use super::metric_modes::quantile;
use crate::csv::Samples;
use crate::error::{CliError, CliResult};

/// One coordinate of one file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Marginal {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (population, `1/n`).
    pub std: f64,
    /// Fraction of values below 0.
    pub below_zero: f64,
    /// Quantiles 0.01, 0.5 and 0.99.
    pub quantiles: [f64; 3],
}

/// The marginal of column `j` of `s`, and the column sorted.
pub fn marginal(s: &Samples, j: usize) -> (Marginal, Vec<f64>) {
    let mut v: Vec<f64> = s
        .data
        .iter()
        .skip(j)
        .step_by(s.dim)
        .map(|&x| f64::from(x))
        .collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let below = v.partition_point(|&x| x < 0.0) as f64 / n;
    let m = Marginal {
        mean,
        std: var.sqrt(),
        below_zero: below,
        quantiles: [0.01, 0.5, 0.99].map(|q| quantile(&v, q)),
    };
    (m, v)
}

/// Runs `metric marginals` on `--a` and `--b` (same width, checked by the caller; the CSV
/// reader refuses empty files and non-finite values).
pub fn run(a: &MetricArgs, sets: [&Samples; 2]) -> CliResult<()> {
    let dim = sets[0].dim;
    let mut rows = Vec::with_capacity(dim);
    for j in 0..dim {
        let (ma, va) = marginal(sets[0], j);
        let (mb, vb) = marginal(sets[1], j);
        let w1 = w1_sorted(&va, &vb).map_err(|e| CliError::kernel("marginals", e))?;
        rows.push((ma, mb, w1));
    }
    let w1_mean = rows.iter().map(|r| r.2).sum::<f64>() / dim as f64;
    let w1_max = rows.iter().map(|r| r.2).fold(0.0f64, f64::max);
    if a.json {
        let pair = |x: f64, y: f64| serde_json::json!([json_num(x), json_num(y)]);
        let coords: Vec<serde_json::Value> = rows
            .iter()
            .map(|(x, y, w1)| {
                serde_json::json!({
                    "mean": pair(x.mean, y.mean), "std": pair(x.std, y.std),
                    "below_zero": pair(x.below_zero, y.below_zero),
                    "q01": pair(x.quantiles[0], y.quantiles[0]),
                    "q50": pair(x.quantiles[1], y.quantiles[1]),
                    "q99": pair(x.quantiles[2], y.quantiles[2]),
                    "w1": json_num(*w1),
                })
            })
            .collect();
        let v = serde_json::json!({
            "metric": "marginals", "dim": dim, "n_a": sets[0].n(), "n_b": sets[1].n(),
            "coordinates": coords, "w1_mean": json_num(w1_mean), "w1_max": json_num(w1_max),
        });
        println!("{v}");
        return Ok(());
    }
    println!("each column: a / b; W1 the exact 1-Wasserstein distance between the marginals");
    println!(
        "{:>5} {:>17} {:>15} {:>15} {:>17} {:>17} {:>17} {:>7}",
        "coord", "mean", "std", "P(x < 0)", "q01", "q50", "q99", "W1"
    );
    let ab = |x: f64, y: f64, p: usize| format!("{x:.p$} / {y:.p$}");
    for (j, (x, y, w1)) in rows.iter().enumerate() {
        println!(
            "{:>5} {:>17} {:>15} {:>15} {:>17} {:>17} {:>17} {:>7.4}",
            j + 1,
            ab(x.mean, y.mean, 3),
            ab(x.std, y.std, 3),
            ab(x.below_zero, y.below_zero, 4),
            ab(x.quantiles[0], y.quantiles[0], 3),
            ab(x.quantiles[1], y.quantiles[1], 3),
            ab(x.quantiles[2], y.quantiles[2], 3),
            w1
        );
    }
    println!("W1 mean over coordinates {w1_mean:.4}, largest {w1_max:.4}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marginal_of_a_column() {
        // columns (−2, −1, 0, 3) and (10, 10, 10, 10)
        let s = Samples {
            dim: 2,
            data: vec![0.0, 10.0, -1.0, 10.0, 3.0, 10.0, -2.0, 10.0],
        };
        let (m, v) = marginal(&s, 0);
        assert_eq!(v, [-2.0, -1.0, 0.0, 3.0]);
        assert_eq!(m.mean, 0.0);
        assert_eq!(m.std, (14.0f64 / 4.0).sqrt());
        assert_eq!(m.below_zero, 0.5);
        assert_eq!(m.quantiles[1], -0.5);
        let (m2, _) = marginal(&s, 1);
        assert_eq!((m2.mean, m2.std, m2.below_zero), (10.0, 0.0, 0.0));
    }
}
