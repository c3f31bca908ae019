//! Importance-weighted evaluation of alanine-dipeptide samples (`metric ramachandran
//! --a-log-weights`): rows carrying the log weights of `amortise sample --log-weights`
//! estimate the target's basin populations by self-normalised importance sampling.

use amortise_kernel::targets::aldp::Basin;
use serde::Serialize;

use amortise_kernel::metrics::histogram::FAB_KL_EPS;
use amortise_kernel::metrics::weighted_histogram::{
    histogram_1d_weighted, histogram_2d_weighted, kl_density_masses,
};

use super::{AngleStats, PHI_PSI_BINS, Populations, RAMA_BINS, angle_bins, in_alpha_l_wells};
use crate::error::{CliError, CliResult};

/// Self-normalised importance-weighted basin populations of a weighted sample set
/// ([`weighted_populations`]).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct WeightedPopulations {
    /// The populations `p̂_B = Σ w̃ᵢ 1_B(xᵢ)` (`n`: rows).
    pub populations: Populations,
    /// Their delta-method standard errors `(Σ w̃ᵢ² (1_B(xᵢ) − p̂_B)²)^½` (`n`: rows).
    pub standard_errors: Populations,
    /// Kish's effective sample size `1 / Σ w̃ᵢ²`.
    pub ess: f64,
}

/// Populations of the rows behind `angles` reweighted by the importance log weights
/// `log_w` (one per row, e.g. `amortise sample --log-weights`): the self-normalised
/// importance-sampling estimate of the target's populations, `w̃ᵢ = e^{log wᵢ} / Σⱼ e^{log wⱼ}`,
/// with the delta-method standard error of each and Kish's effective sample size. A row
/// with non-finite angles counts as unclassified, as in [`AngleStats`](super::AngleStats).
///
/// # Errors
/// `log_w` of another length than `angles`, no rows, or a log weight that is NaN or `+∞`
/// (`−∞`, a zero weight, is allowed unless every weight is zero).
pub fn weighted_populations(angles: &[[f64; 2]], log_w: &[f64]) -> CliResult<WeightedPopulations> {
    let w = relative_weights(angles.len(), log_w)?;
    let total: f64 = w.iter().sum();
    // indicator columns: the three basins, unclassified, the αL wells
    let classes = |a: [f64; 2]| -> [bool; 5] {
        let b = Basin::of(a[0], a[1]).map(Basin::index);
        [
            b == Some(0),
            b == Some(1),
            b == Some(2),
            b.is_none(),
            in_alpha_l_wells(a),
        ]
    };
    let mut p = [0.0f64; 5];
    let mut sum_sq = 0.0f64;
    for (&a, &wi) in angles.iter().zip(&w) {
        let wn = wi / total;
        sum_sq += wn * wn;
        for (pk, ck) in p.iter_mut().zip(classes(a)) {
            if ck {
                *pk += wn;
            }
        }
    }
    let mut var = [0.0f64; 5];
    for (&a, &wi) in angles.iter().zip(&w) {
        let wn = wi / total;
        for ((vk, ck), pk) in var.iter_mut().zip(classes(a)).zip(p) {
            let d = f64::from(u8::from(ck)) - pk;
            *vk += wn * wn * d * d;
        }
    }
    let pops = |v: [f64; 5]| Populations {
        n: angles.len() as u64,
        beta_c7eq: v[0],
        alpha_r: v[1],
        alpha_l: v[2],
        alpha_l_wells: v[4],
        unclassified: v[3],
    };
    Ok(WeightedPopulations {
        populations: pops(p),
        standard_errors: pops(var.map(f64::sqrt)),
        ess: 1.0 / sum_sq,
    })
}

/// The weights `e^{log wᵢ − max log w}` of `rows` rows (each at most 1, the largest 1).
///
/// # Errors
/// `log_w` of another length than `rows`, no rows, or a log weight that is NaN or `+∞`
/// (`−∞`, a zero weight, is allowed unless every weight is zero).
fn relative_weights(rows: usize, log_w: &[f64]) -> CliResult<Vec<f64>> {
    let bad = |m: String| CliError::flag("--a-log-weights", m);
    if log_w.len() != rows {
        return Err(bad(format!(
            "has {} log weights for {rows} samples",
            log_w.len()
        )));
    }
    if let Some(i) = log_w.iter().position(|v| v.is_nan() || *v == f64::INFINITY) {
        return Err(bad(format!("log weight {} is {}", i + 1, log_w[i])));
    }
    let top = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return Err(bad("has no row with a positive weight".into()));
    }
    Ok(log_w.iter().map(|&l| (l - top).exp()).collect())
}

/// The φ, ψ and Ramachandran histograms of a weighted sample set, as cell masses (the bins
/// and layout of [`AngleStats`]): each row adds its importance weight, so that the
/// histograms estimate the target's by self-normalised importance sampling. Rows with a
/// non-finite angle are left out, as in [`AngleStats`].
#[derive(Clone, Debug)]
pub struct WeightedHistograms {
    /// φ masses, [`PHI_PSI_BINS`].
    pub phi: Vec<f64>,
    /// ψ masses, [`PHI_PSI_BINS`].
    pub psi: Vec<f64>,
    /// Ramachandran masses, `[φ bin][ψ bin]`, [`RAMA_BINS`]².
    pub rama: Vec<f64>,
}

impl WeightedHistograms {
    /// Bins `angles`, row `i` with weight `e^{log_w[i]}` (up to one common factor).
    ///
    /// # Errors
    /// As [`weighted_populations`].
    pub fn new(angles: &[[f64; 2]], log_w: &[f64]) -> CliResult<Self> {
        let w = relative_weights(angles.len(), log_w)?;
        let mut phi_v = Vec::with_capacity(angles.len());
        let mut psi_v = Vec::with_capacity(angles.len());
        let mut w_v = Vec::with_capacity(angles.len());
        for (a, &wi) in angles.iter().zip(&w) {
            if a[0].is_finite() && a[1].is_finite() {
                phi_v.push(a[0]);
                psi_v.push(a[1]);
                w_v.push(wi);
            }
        }
        let k = |e| CliError::kernel("aldp weighted histograms", e);
        let mut phi = vec![0.0f64; PHI_PSI_BINS];
        let mut psi = vec![0.0f64; PHI_PSI_BINS];
        let mut rama = vec![0.0f64; RAMA_BINS * RAMA_BINS];
        let (b1, b2) = (angle_bins(PHI_PSI_BINS), angle_bins(RAMA_BINS));
        histogram_1d_weighted(&phi_v, &w_v, b1, &mut phi).map_err(k)?;
        histogram_1d_weighted(&psi_v, &w_v, b1, &mut psi).map_err(k)?;
        histogram_2d_weighted([&phi_v, &psi_v], &w_v, b2, b2, &mut rama).map_err(k)?;
        Ok(Self { phi, psi, rama })
    }
}

/// [`kl_divergences`](super::kl_divergences) with the model's histograms weighted:
/// `[KL_φ, KL_ψ, KL_Ramachandran]` of `KL(reference ‖ weighted model)`; `None` where a
/// histogram has no mass.
pub fn kl_divergences_weighted(
    reference: &AngleStats,
    model: &WeightedHistograms,
) -> [Option<f64>; 3] {
    let w1 = angle_bins(PHI_PSI_BINS).width();
    let w2 = angle_bins(RAMA_BINS).width();
    let kl = |p: &[u32], q: &[f64], cell: f64| {
        let pm: Vec<f64> = p.iter().map(|&c| f64::from(c)).collect();
        kl_density_masses(&pm, q, cell, FAB_KL_EPS).ok()
    };
    [
        kl(&reference.phi, &model.phi, w1),
        kl(&reference.psi, &model.psi, w1),
        kl(&reference.rama, &model.rama, w2 * w2),
    ]
}
