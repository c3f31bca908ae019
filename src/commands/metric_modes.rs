//! `amortise metric modes`: how two sample sets sit on a mixture target's modes.
//!
//! Every sample is assigned to its nearest mode centre (as EMC assigns it), and for each set
//! the command reports how evenly the modes are filled (EMC; Pearson's χ² of the counts
//! against the equal weights these mixtures have, with `K − 1` degrees of freedom; the
//! smallest and largest share) and how tightly the samples sit on them: the **spread**, the
//! mean squared distance to the nearest centre per coordinate (about 1 for exact samples of
//! a unit-variance mixture such as GMM40, the component's variance in general), the median
//! and range of the per-mode spreads, and quantiles of the distance. `--b` is meant to be an
//! exact set, so that every number has its exact counterpart beside it.

use amortise_kernel::metrics::coverage::{emc_from_counts, nearest_modes};
use amortise_kernel::metrics::marginal::quantile_sorted;

use super::json_num;
use super::metric::MetricArgs;
use crate::csv::Samples;
use crate::error::{CliError, CliResult};

/// One sample set's numbers.
#[derive(Debug, serde::Serialize)]
pub struct ModeStats {
    /// Number of samples.
    pub n: usize,
    /// Entropic mode coverage (1: all modes equally filled).
    pub emc: f64,
    /// Pearson's χ² of the mode counts against equal weights.
    pub chi2: f64,
    /// Smallest and largest share of the samples in one mode.
    pub share: [f64; 2],
    /// Modes no sample is nearest to.
    pub empty: usize,
    /// Mean squared distance to the nearest centre, per coordinate.
    pub spread: f64,
    /// Median, smallest and largest per-mode spread (modes with samples).
    pub spread_per_mode: [f64; 3],
    /// Quantiles 0.5, 0.9 and 0.99 of the distance to the nearest centre.
    pub distance_quantiles: [f64; 3],
}

/// Runs `metric modes` on `--a` and `--b`.
pub fn run(a: &MetricArgs, sets: [&Samples; 2]) -> CliResult<()> {
    let name = a.target.as_deref().ok_or_else(|| {
        CliError::flag(
            "--target",
            "modes needs the mixture target whose modes to use",
        )
    })?;
    let target = super::build_target(name, a.dim)?;
    let centres = crate::eval::mode_centres(&target).ok_or_else(|| {
        CliError::flag(
            "--target",
            format!("`{name}` has no mode centres (gmm40, gmm40-jax, 9gmm and 25gmm have)"),
        )
    })?;
    let dim = amortise_kernel::targets::LogDensity::dim(&target);
    let mut stats = Vec::new();
    for (path, s) in [&a.a, &a.b].into_iter().zip(sets) {
        if s.dim != dim {
            return Err(CliError::file(
                path,
                format!("has {} columns; {name} has {dim} dimensions", s.dim),
            ));
        }
        stats.push(mode_stats(s, &centres)?);
    }
    let k = centres.len() / dim;
    if a.json {
        let v = serde_json::json!({
            "metric": "modes", "target": name, "dim": dim, "modes": k,
            "a": to_json(&stats[0]), "b": to_json(&stats[1]),
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "{name}, {k} modes in {dim} dimensions; spread = mean squared distance to the nearest centre per coordinate"
    );
    println!(
        "   {:>7} {:>7} {:>14} {:>15} {:>5} {:>7} {:>24} {:>20}",
        "n",
        "EMC",
        format!("χ² ({} dof)", k - 1),
        "share min–max",
        "empty",
        "spread",
        "per mode median (min–max)",
        "distance q50 q90 q99"
    );
    for (label, s) in ["a", "b"].into_iter().zip(&stats) {
        let [med, lo, hi] = s.spread_per_mode;
        let [q50, q90, q99] = s.distance_quantiles;
        println!(
            "{label}  {:>7} {:>7.4} {:>14.1} {:>15} {:>5} {:>7.3} {:>24} {:>20}",
            s.n,
            s.emc,
            s.chi2,
            format!("{:.4}–{:.4}", s.share[0], s.share[1]),
            s.empty,
            s.spread,
            format!("{med:.3} ({lo:.3}–{hi:.3})"),
            format!("{q50:.2} {q90:.2} {q99:.2}"),
        );
    }
    Ok(())
}

fn to_json(s: &ModeStats) -> serde_json::Value {
    let nums = |v: &[f64]| v.iter().map(|&x| json_num(x)).collect::<Vec<_>>();
    serde_json::json!({
        "n": s.n, "emc": json_num(s.emc), "chi2": json_num(s.chi2),
        "share_min": json_num(s.share[0]), "share_max": json_num(s.share[1]),
        "empty": s.empty, "spread": json_num(s.spread),
        "spread_per_mode_median_min_max": nums(&s.spread_per_mode),
        "distance_q50_q90_q99": nums(&s.distance_quantiles),
    })
}

/// The numbers of one set against the mode `centres` (`[K, dim]`, `dim` = the set's).
///
/// # Errors
/// A kernel error (an empty set, a non-finite coordinate).
pub fn mode_stats(s: &Samples, centres: &[f32]) -> CliResult<ModeStats> {
    let (n, dim) = (s.n(), s.dim);
    let k = centres.len() / dim;
    let (mut mode, mut d2) = (vec![0u32; n], vec![0.0f64; n]);
    nearest_modes(&s.data, dim, centres, &mut mode, &mut d2)
        .map_err(|e| CliError::kernel("modes", e))?;
    let (mut counts, mut sums) = (vec![0u32; k], vec![0.0f64; k]);
    for (&m, &d) in mode.iter().zip(&d2) {
        let j = m as usize;
        counts[j] = counts[j].saturating_add(1);
        sums[j] += d;
    }
    let emc = emc_from_counts(&counts).map_err(|e| CliError::kernel("modes", e))?;
    let expected = n as f64 / k as f64;
    let chi2 = counts
        .iter()
        .map(|&c| (f64::from(c) - expected).powi(2) / expected)
        .sum();
    let share = |c: Option<&u32>| c.map_or(0.0, |&c| f64::from(c) / n as f64);
    let mut per_mode: Vec<f64> = (counts.iter().zip(&sums))
        .filter(|(c, _)| **c > 0)
        .map(|(&c, &s)| s / (f64::from(c) * dim as f64))
        .collect();
    per_mode.sort_by(f64::total_cmp);
    let mut dist: Vec<f64> = d2.iter().map(|v| v.sqrt()).collect();
    dist.sort_by(f64::total_cmp);
    Ok(ModeStats {
        n,
        emc,
        chi2,
        share: [share(counts.iter().min()), share(counts.iter().max())],
        empty: k - per_mode.len(),
        spread: d2.iter().sum::<f64>() / (n * dim) as f64,
        spread_per_mode: [
            quantile(&per_mode, 0.5),
            per_mode.first().copied().unwrap_or(f64::NAN),
            per_mode.last().copied().unwrap_or(f64::NAN),
        ],
        distance_quantiles: [0.5, 0.9, 0.99].map(|q| quantile(&dist, q)),
    })
}

/// The `q`-quantile of sorted, finite, non-empty `v` (numpy's linear interpolation).
pub fn quantile(v: &[f64], q: f64) -> f64 {
    quantile_sorted(v, q).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_case() {
        // Two modes at ±(10, 0); three samples at distance 1 of the first, one at distance
        // 2 of the second.
        let centres = [-10.0f32, 0.0, 10.0, 0.0];
        let s = Samples {
            dim: 2,
            data: vec![-9.0, 0.0, -10.0, 1.0, -11.0, 0.0, 10.0, 2.0],
        };
        let m = mode_stats(&s, &centres).unwrap();
        assert_eq!(m.n, 4);
        assert_eq!(m.share, [0.25, 0.75]);
        // χ² = (3 − 2)²/2 + (1 − 2)²/2
        assert_eq!(m.chi2, 1.0);
        assert_eq!(m.empty, 0);
        // squared distances 1, 1, 1, 4 over 4 samples × 2 coordinates
        assert_eq!(m.spread, 7.0 / 8.0);
        assert_eq!(m.spread_per_mode, [1.25, 0.5, 2.0]);
        // distances 1, 1, 1, 2: median 1, q90 at 2.7 of 3 → 1.7
        assert_eq!(m.distance_quantiles[0], 1.0);
        assert!((m.distance_quantiles[1] - 1.7).abs() < 1e-12);
        let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln()) / 2f64.ln();
        assert!((m.emc - h).abs() < 1e-12);
    }

    #[test]
    fn empty_modes_are_counted() {
        let centres = [0.0f32, 100.0, 200.0];
        let s = Samples {
            dim: 1,
            data: vec![1.0, -1.0],
        };
        let m = mode_stats(&s, &centres).unwrap();
        assert_eq!(m.empty, 2);
        assert_eq!(m.share, [0.0, 1.0]);
        assert_eq!(m.spread_per_mode, [1.0, 1.0, 1.0]);
    }
}
