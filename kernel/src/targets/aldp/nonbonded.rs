//! The NonbondedForce without cutoff: Coulomb and Lennard-Jones over every pair except the
//! 98 exceptions, plus the 41 one-four exceptions with their own scaled parameters.
//!
//! ```text
//! E_C  = Σ K_NB qᵢqⱼ / r                     (qq for a one-four pair)
//! E_LJ = Σ 4ε[(σ/r)¹² − (σ/r)⁶],  σ = (σᵢ + σⱼ)/2,  ε = √(εᵢεⱼ)   (the pair's own σ, ε for one-four)
//! ```

use super::params::{CHARGE, EPSILON, EXCLUSIONS, K_NB, N_ATOMS, PAIRS14, SIGMA};
use super::{Frame, norm, sqrt};

/// Bit `j` of `EXCEPTED[i]` is set when the pair `(i, j)` is an exception (an exclusion or a
/// one-four pair): the plain pair sum skips it.
const EXCEPTED: [u32; N_ATOMS] = excepted();

const fn excepted() -> [u32; N_ATOMS] {
    let mut m = [0u32; N_ATOMS];
    let mut k = 0;
    while k < EXCLUSIONS.len() {
        let [i, j] = EXCLUSIONS[k];
        m[i as usize] |= 1 << j;
        m[j as usize] |= 1 << i;
        k += 1;
    }
    let mut k = 0;
    while k < PAIRS14.len() {
        let (i, j) = (PAIRS14[k].i, PAIRS14[k].j);
        m[i as usize] |= 1 << j;
        m[j as usize] |= 1 << i;
        k += 1;
    }
    m
}

/// One pair at distance `r`: `(E_C, E_LJ, (∂E/∂r)/r)` for the charge product `qq` (e²;
/// `K_NB` is applied here) and the LJ `σ` and `ε`.
#[inline]
fn pair(r: f64, qq: f64, sigma: f64, eps: f64) -> (f64, f64, f64) {
    let inv = 1.0 / r;
    let ec = K_NB * qq * inv;
    let s2 = sigma * inv * (sigma * inv);
    let s6 = s2 * s2 * s2;
    let elj = 4.0 * eps * (s6 * s6 - s6);
    let de = -(ec + 4.0 * eps * (12.0 * s6 * s6 - 6.0 * s6)) * inv;
    (ec, elj, de * inv)
}

/// `(E_Coulomb, E_LJ)` in kJ/mol; adds `∂E/∂X` into `grad` when given.
pub(super) fn coulomb_lj(x: &Frame, mut grad: Option<&mut Frame>) -> (f64, f64) {
    let (mut ec, mut elj) = (0.0, 0.0);
    let mut add = |i: usize, j: usize, qq: f64, sigma: f64, eps: f64| {
        let d = x[i] - x[j];
        let (c, l, de) = pair(norm(&d), qq, sigma, eps);
        ec += c;
        elj += l;
        if let Some(g) = grad.as_deref_mut() {
            let f = d * de;
            g[i] += f;
            g[j] -= f;
        }
    };
    for i in 0..N_ATOMS {
        for j in i + 1..N_ATOMS {
            if EXCEPTED[i] >> j & 1 == 0 {
                let sigma = 0.5 * (SIGMA[i] + SIGMA[j]);
                let eps = sqrt(EPSILON[i] * EPSILON[j]);
                add(i, j, CHARGE[i] * CHARGE[j], sigma, eps);
            }
        }
    }
    for p in &PAIRS14 {
        add(p.i as usize, p.j as usize, p.qq, p.sigma, p.eps);
    }
    (ec, elj)
}
