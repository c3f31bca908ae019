//! `amortise metric sinkhorn|mmd|ramachandran|modes|marginals`: comparisons of two sample files.

use amortise_kernel::metrics::mmd::{mmd_median, mmd_workspace_len};
use amortise_kernel::metrics::sinkhorn::{
    MIN_EPSILON, PaperConfig, SinkhornConfig, SinkhornConvention,
};
use clap::ValueEnum;

use super::json_num;
use crate::error::{CliError, CliResult};

/// Largest pooled sample count for MMD (its exact median needs (n+m)²/2 floats).
pub const MAX_MMD_POINTS: usize = 20_000;

/// Arguments of `amortise metric`.
#[derive(Debug, clap::Args)]
pub struct MetricArgs {
    /// Which divergence.
    #[arg(value_enum)]
    pub kind: MetricKind,
    /// First sample file (CSV).
    #[arg(long)]
    pub a: String,
    /// Second sample file (CSV, same number of columns).
    #[arg(long)]
    pub b: String,
    /// Sinkhorn convention: `converged` (ε = --epsilon, annealed and solved to an L1 marginal
    /// error of 1e-3; approaches the exact W2² as ε → 0) or `paper` (ott-jax 0.4.6's
    /// `sinkhorn_divergence(PointCloud, a, b)` defaults: ε = 0.05 × the mean a–b cost,
    /// threshold 1e-3 checked every 10 iterations; the scale of the Reinforced SMC tables).
    #[arg(long, value_enum, default_value_t = Convention::Converged)]
    pub convention: Convention,
    /// Entropic regularisation of `--convention converged` (squared-Euclidean cost; default
    /// 1e-3). The paper convention's ε is relative to the data and cannot be set.
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Importance log weights of `--a`'s rows (one column, e.g. `amortise sample
    /// --log-weights`), for `ramachandran` only: adds the self-normalised importance-weighted
    /// populations of `--a`, their standard errors, Kish's effective sample size and the KL
    /// divergences of the reference from `--a`'s weighted histograms.
    #[arg(long, value_name = "FILE")]
    pub a_log_weights: Option<String>,
    /// The mixture target whose mode centres `modes` uses (gmm40, gmm40-jax, 9gmm, 25gmm);
    /// `modes` only.
    #[arg(long)]
    pub target: Option<String>,
    /// The target's dimension (`--target gmm40-jax --dim 5`); `modes` only.
    #[arg(long)]
    pub dim: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Sample-set divergences.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MetricKind {
    /// Debiased Sinkhorn divergence (squared-Euclidean cost), as in ott-jax.
    Sinkhorn,
    /// Maximum mean discrepancy, Gaussian kernel with the median-distance bandwidth.
    Mmd,
    /// Alanine dipeptide: FAB's KL(b ‖ a) of the φ, ψ and 64 × 64 Ramachandran histograms
    /// and the basin populations of both, `--b` the reference (60-d `aldp` rows).
    Ramachandran,
    /// Mixture targets (`--target`): each set's mode counts (EMC, χ² against equal weights)
    /// and its spread around the nearest mode centre, `--b` meant as an exact set.
    Modes,
    /// Coordinate by coordinate: mean, standard deviation, fraction below 0, 0.01 / 0.5 /
    /// 0.99 quantiles of both files and the 1-Wasserstein distance between the marginals.
    Marginals,
}

/// The two Sinkhorn conventions (`kernel::metrics::sinkhorn::SinkhornConvention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Convention {
    /// Absolute ε, solved to convergence.
    Converged,
    /// ott-jax 0.4.6 defaults, as the Reinforced SMC tables.
    Paper,
}

impl Convention {
    /// The name `--convention` takes and JSON output prints.
    pub fn name(self) -> &'static str {
        match self {
            Convention::Converged => "converged",
            Convention::Paper => "paper",
        }
    }
}

/// Checks `--epsilon` (finite, at least the kernel's `MIN_EPSILON`).
pub fn check_epsilon(epsilon: f64) -> CliResult<()> {
    if !(epsilon.is_finite() && epsilon >= MIN_EPSILON) {
        return Err(CliError::flag(
            "--epsilon",
            format!("must be a finite number >= {MIN_EPSILON:e}"),
        ));
    }
    Ok(())
}

/// The Sinkhorn settings the flags ask for.
///
/// # Errors
/// A bad `--epsilon`, or `--epsilon` with `--convention paper`.
pub fn convention(a: &MetricArgs) -> CliResult<SinkhornConvention> {
    match (a.convention, a.epsilon) {
        (Convention::Paper, Some(_)) => Err(CliError::flag(
            "--epsilon",
            "applies to --convention converged; the paper convention's ε is 0.05 × the mean cost",
        )),
        (Convention::Paper, None) => Ok(SinkhornConvention::Paper(PaperConfig::default())),
        (Convention::Converged, eps) => {
            let epsilon = eps.unwrap_or(SinkhornConfig::default().epsilon);
            check_epsilon(epsilon)?;
            Ok(SinkhornConvention::Converged(SinkhornConfig {
                epsilon,
                ..SinkhornConfig::default()
            }))
        }
    }
}

/// Checks the flags that belong to one metric only (`--a-log-weights`, `--target`, `--dim`,
/// `--convention`, `--epsilon`) against the metric asked for.
///
/// # Errors
/// A flag given with a metric it does not apply to, named.
pub fn check_flags(a: &MetricArgs) -> CliResult<()> {
    if a.a_log_weights.is_some() && !matches!(a.kind, MetricKind::Ramachandran) {
        return Err(CliError::flag(
            "--a-log-weights",
            "applies to ramachandran only",
        ));
    }
    if (a.target.is_some() || a.dim.is_some()) && !matches!(a.kind, MetricKind::Modes) {
        let flag = if a.target.is_some() {
            "--target"
        } else {
            "--dim"
        };
        return Err(CliError::flag(flag, "applies to modes only"));
    }
    if !matches!(a.kind, MetricKind::Sinkhorn)
        && (a.epsilon.is_some() || a.convention != Convention::Converged)
    {
        let flag = if a.epsilon.is_some() {
            "--epsilon"
        } else {
            "--convention"
        };
        return Err(CliError::flag(flag, "applies to sinkhorn only"));
    }
    Ok(())
}

/// Runs the command.
pub fn run(a: &MetricArgs) -> CliResult<()> {
    check_flags(a)?;
    let conv = convention(a)?;
    let x = crate::csv::read(&a.a)?;
    let y = crate::csv::read(&a.b)?;
    if x.dim != y.dim {
        return Err(CliError::file(
            &a.b,
            format!("has {} columns but {} has {}", y.dim, a.a, x.dim),
        ));
    }
    let value = match a.kind {
        MetricKind::Ramachandran => return ramachandran(a, [&x, &y]),
        MetricKind::Modes => return super::metric_modes::run(a, [&x, &y]),
        MetricKind::Marginals => return super::metric_marginals::run(a, [&x, &y]),
        MetricKind::Sinkhorn => {
            let info = crate::eval::sinkhorn(&x.data, &y.data, x.dim, &conv)?;
            if a.json {
                let v = serde_json::json!({
                    "metric": "sinkhorn",
                    "convention": a.convention.name(),
                    "value": json_num(info.divergence),
                    "epsilon": json_num(info.epsilon),
                    "iterations": info.iterations,
                    "converged": info.converged,
                    "final_error": json_num(info.final_error),
                    "n_a": x.n(), "n_b": y.n(), "dim": x.dim,
                });
                println!("{v}");
                return Ok(());
            }
            if !info.converged {
                eprintln!(
                    "warning: Sinkhorn stopped at its iteration cap ({} iterations, marginal error {:.3e})",
                    info.iterations, info.final_error
                );
            }
            info.divergence
        }
        MetricKind::Mmd => {
            let n = x.n() + y.n();
            if n > MAX_MMD_POINTS {
                return Err(CliError::file(
                    &a.b,
                    format!("MMD supports at most {MAX_MMD_POINTS} pooled samples, got {n}"),
                ));
            }
            let mut ws = vec![0.0f32; mmd_workspace_len(x.n(), y.n())];
            let info = mmd_median(&x.data, &y.data, x.dim, &mut ws)
                .map_err(|e| CliError::kernel("mmd", e))?;
            if a.json {
                let v = serde_json::json!({
                    "metric": "mmd",
                    "value": json_num(info.mmd),
                    "bandwidth": json_num(info.bandwidth),
                    "n_a": x.n(), "n_b": y.n(), "dim": x.dim,
                });
                println!("{v}");
                return Ok(());
            }
            info.mmd
        }
    };
    println!("{value}");
    Ok(())
}

/// `metric ramachandran`: `--a` the model's samples, `--b` the reference's.
fn ramachandran(a: &MetricArgs, sets: [&crate::csv::Samples; 2]) -> CliResult<()> {
    let target = super::build_target("aldp", None)?;
    let amortise_kernel::targets::Density::Aldp(aldp) = target.density() else {
        return Err(CliError::flag("--target", "aldp is not built in"));
    };
    let mut stats = Vec::new();
    let mut weighted = None;
    for (path, s) in [&a.a, &a.b].into_iter().zip(sets) {
        if s.dim != amortise_kernel::targets::aldp::DIM {
            return Err(CliError::file(
                path,
                format!(
                    "has {} columns; aldp samples have {}",
                    s.dim,
                    amortise_kernel::targets::aldp::DIM
                ),
            ));
        }
        let angles = crate::aldp::angles(aldp, &s.data);
        if let (Some(w), true) = (&a.a_log_weights, stats.is_empty()) {
            weighted = Some(weighted_stats(w, &angles)?);
        }
        stats.push(crate::aldp::AngleStats::new(&angles)?);
    }
    let [kl_phi, kl_psi, kl_rama] = crate::aldp::kl_divergences(&stats[1], &stats[0]);
    let kl_weighted = weighted
        .as_ref()
        .map(|(_, h)| crate::aldp::kl_divergences_weighted(&stats[1], h));
    let (pa, pb) = (stats[0].populations(), stats[1].populations());
    let num = |v: Option<f64>| v.map_or(serde_json::Value::Null, json_num);
    if a.json {
        let mut v = serde_json::json!({
            "metric": "ramachandran",
            "kl_phi": num(kl_phi), "kl_psi": num(kl_psi), "kl_ramachandran": num(kl_rama),
            "populations_a": pa, "populations_b": pb,
        });
        if let (Some((w, _)), Some([p, s, r])) = (&weighted, kl_weighted) {
            v["populations_a_weighted"] = serde_json::json!(w.populations);
            v["standard_errors_a_weighted"] = serde_json::json!(w.standard_errors);
            v["ess_a_weighted"] = json_num(w.ess);
            v["kl_phi_a_weighted"] = num(p);
            v["kl_psi_a_weighted"] = num(s);
            v["kl_ramachandran_a_weighted"] = num(r);
        }
        println!("{v}");
        return Ok(());
    }
    let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
    println!(
        "KL(b ‖ a)  phi {}  psi {}  ramachandran {}",
        f(kl_phi),
        f(kl_psi),
        f(kl_rama)
    );
    for (name, p) in [("a", pa), ("b", pb)] {
        println!(
            "{name}: n {}  beta/C7eq {:.4}  alphaR {:.4}  alphaL {:.4}  unclassified {:.4}",
            p.n, p.beta_c7eq, p.alpha_r, p.alpha_l, p.unclassified
        );
    }
    if let (Some((w, _)), Some([kp, ks, kr])) = (&weighted, kl_weighted) {
        let (p, e) = (w.populations, w.standard_errors);
        println!(
            "a weighted (ESS {:.1}): beta/C7eq {:.4} ± {:.4}  alphaR {:.4} ± {:.4}  alphaL {:.4} ± {:.4}",
            w.ess, p.beta_c7eq, e.beta_c7eq, p.alpha_r, e.alpha_r, p.alpha_l, e.alpha_l
        );
        println!(
            "KL(b ‖ a weighted)  phi {}  psi {}  ramachandran {}",
            f(kp),
            f(ks),
            f(kr)
        );
    }
    Ok(())
}

/// The weighted populations and histograms of `--a` from the log weights in `path` (one
/// column, one row per sample of `--a`).
fn weighted_stats(
    path: &str,
    angles: &[[f64; 2]],
) -> CliResult<(
    crate::aldp::WeightedPopulations,
    crate::aldp::WeightedHistograms,
)> {
    let w = crate::csv::read(path)?;
    if w.dim != 1 {
        return Err(CliError::file(
            path,
            format!("has {} columns; log weights have one", w.dim),
        ));
    }
    let lw: Vec<f64> = w.data.iter().map(|&v| f64::from(v)).collect();
    Ok((
        crate::aldp::weighted_populations(angles, &lw)?,
        crate::aldp::WeightedHistograms::new(angles, &lw)?,
    ))
}
