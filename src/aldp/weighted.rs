//! Importance-weighted evaluation of alanine-dipeptide samples (`metric ramachandran
//! --a-log-weights`): rows carrying the log weights of `amortise sample --log-weights`
//! estimate the target's basin populations by self-normalised importance sampling.

use amortise_kernel::targets::aldp::Basin;
use serde::Serialize;

use super::{Populations, in_alpha_l_wells};
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
    let bad = |m: String| CliError::flag("--a-log-weights", m);
    if log_w.len() != angles.len() {
        return Err(bad(format!(
            "has {} log weights for {} samples",
            log_w.len(),
            angles.len()
        )));
    }
    if let Some(i) = log_w.iter().position(|v| v.is_nan() || *v == f64::INFINITY) {
        return Err(bad(format!("log weight {} is {}", i + 1, log_w[i])));
    }
    let top = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return Err(bad("has no row with a positive weight".into()));
    }
    let w: Vec<f64> = log_w.iter().map(|&l| (l - top).exp()).collect();
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
