//! OBC1 generalised Born solvation with the ACE surface term: OpenMM's
//! `customgbforces.py::GBSAOBC1Force` (a CustomGBForce, no cutoff, no exclusions), whose
//! expressions `scripts/aldp/openmm_export.py` asserts verbatim.
//!
//! ```text
//! Iᵢ  = Σ_{j≠i} [r + srⱼ − orᵢ ≥ 0] · ½[1/L − 1/U + ¼(r − srⱼ²/r)(1/U² − 1/L²) + ½ ln(L/U)/r],
//!       U = r + srⱼ,  L = max(orᵢ, |r − srⱼ|)
//! Bᵢ  = 1 / (1/orᵢ − tanh(αψ + γψ³)/ρᵢ),  ψ = Iᵢ·orᵢ,  ρᵢ = orᵢ + 0.009
//! E   = Σᵢ −½A qᵢ²/Bᵢ  +  Σᵢ c(ρᵢ + 0.14)²(ρᵢ/Bᵢ)⁶  +  Σ_{i<j} −A qᵢqⱼ/fᵢⱼ,
//!       fᵢⱼ = √(r² + BᵢBⱼ e^{−r²/(4BᵢBⱼ)}),  A = K_GB (1/ε_solute − 1/ε_solvent)
//! ```
//!
//! The gradient takes two passes over the pairs after the Born radii: the first
//! accumulates the pair term's direct force and every `∂E/∂Bᵢ`, the second carries
//! `∂E/∂Iᵢ = ∂E/∂Bᵢ · dBᵢ/dIᵢ` through `∂Iᵢ/∂r` (piecewise: `L` is a max and the step cuts
//! pairs with `r + srⱼ < orᵢ`).

use super::params::{
    ACE_PROBE, ACE_TENSION, CHARGE, GB_OFFSET, GB_OR, GB_SR, K_GB, N_ATOMS, OBC_ALPHA, OBC_GAMMA,
    SOLUTE_DIELECTRIC, SOLVENT_DIELECTRIC,
};
use super::{Frame, norm, sqrt};
use crate::math;

/// The three GB energies (kJ/mol).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GbTerms {
    /// `Σᵢ −½A qᵢ²/Bᵢ`.
    pub self_energy: f64,
    /// The ACE surface term `Σᵢ c(ρᵢ + 0.14)²(ρᵢ/Bᵢ)⁶`.
    pub ace: f64,
    /// `Σ_{i<j} −A qᵢqⱼ/fᵢⱼ`.
    pub pair: f64,
}

/// The Born-integral term of atom `i` (offset radius `or`) from atom `j` (scaled radius `sr`)
/// at distance `r`, and its derivative in `r`.
#[inline]
pub(super) fn born_term(r: f64, or: f64, sr: f64) -> (f64, f64) {
    if r + sr - or < 0.0 {
        return (0.0, 0.0);
    }
    let u = r + sr;
    let dist = (r - sr).abs();
    // L = max(or, |r − sr|) and dL/dr
    let (l, dl) = if or >= dist {
        (or, 0.0)
    } else if r > sr {
        (dist, 1.0)
    } else {
        (dist, -1.0)
    };
    let (il, iu) = (1.0 / l, 1.0 / u);
    let (il2, iu2) = (il * il, iu * iu);
    let s2r = sr * sr / r;
    let lnlu = math::ln(l / u);
    let t = 0.5 * (il - iu + 0.25 * (r - s2r) * (iu2 - il2) + 0.5 * lnlu / r);
    let dt = 0.5
        * (-dl * il2
            + iu2
            + 0.25 * (1.0 + s2r / r) * (iu2 - il2)
            + 0.5 * (r - s2r) * (dl * il2 * il - iu2 * iu)
            + 0.5 * ((dl * il - iu) / r - lnlu / (r * r)));
    (t, dt)
}

/// `x⁶` as Lepton's integer power evaluates it, `x²·(x²)²`.
#[inline]
fn pow6(x: f64) -> f64 {
    let x2 = x * x;
    x2 * (x2 * x2)
}

/// The GB energies; adds `∂E/∂X` into `grad` when given.
pub(super) fn gb(x: &Frame, grad: Option<&mut Frame>) -> GbTerms {
    let mut integral = [0.0f64; N_ATOMS];
    // (∂Iᵢ/∂r)/r of every ordered pair, kept for the second gradient pass
    let mut di_dr = [[0.0f64; N_ATOMS]; N_ATOMS];
    for i in 0..N_ATOMS {
        for j in i + 1..N_ATOMS {
            let r = norm(&(x[i] - x[j]));
            let (tij, dij) = born_term(r, GB_OR[i], GB_SR[j]);
            let (tji, dji) = born_term(r, GB_OR[j], GB_SR[i]);
            integral[i] += tij;
            integral[j] += tji;
            di_dr[i][j] = dij / r;
            di_dr[j][i] = dji / r;
        }
    }
    let a = K_GB * (1.0 / SOLUTE_DIELECTRIC - 1.0 / SOLVENT_DIELECTRIC);
    let mut born = [0.0f64; N_ATOMS];
    let mut db_di = [0.0f64; N_ATOMS];
    // ∂E/∂Bᵢ, then (after the pair pass) ∂E/∂Iᵢ
    let mut de = [0.0f64; N_ATOMS];
    let mut terms = GbTerms::default();
    for i in 0..N_ATOMS {
        let or = GB_OR[i];
        let rho = or + GB_OFFSET;
        let psi = integral[i] * or;
        let th = math::tanh(OBC_ALPHA * psi + OBC_GAMMA * (psi * (psi * psi)));
        let b = 1.0 / (1.0 / or - th / rho);
        born[i] = b;
        let q = CHARGE[i];
        let es = -0.5 * a * (q * q) / b;
        let ra = rho + ACE_PROBE;
        let ea = ACE_TENSION * (ra * ra) * pow6(rho / b);
        terms.self_energy += es;
        terms.ace += ea;
        // ∂(−½Aq²/B)/∂B = −es/B and ∂(c(ρ/B)⁶)/∂B = −6·ea/B
        de[i] = -(es + 6.0 * ea) / b;
        db_di[i] = b * b * (1.0 - th * th) * (OBC_ALPHA + 3.0 * OBC_GAMMA * psi * psi) * or / rho;
    }
    let Some(g) = grad else {
        for i in 0..N_ATOMS {
            for j in i + 1..N_ATOMS {
                let r2 = (x[i] - x[j]).norm_squared();
                let bb = born[i] * born[j];
                let f = sqrt(r2 + bb * math::exp(-r2 / (4.0 * bb)));
                terms.pair += -a * CHARGE[i] * CHARGE[j] / f;
            }
        }
        return terms;
    };
    for i in 0..N_ATOMS {
        for j in i + 1..N_ATOMS {
            let d = x[i] - x[j];
            let r2 = d.norm_squared();
            let bb = born[i] * born[j];
            let dd = r2 / (4.0 * bb);
            let ex = math::exp(-dd);
            let f = sqrt(r2 + bb * ex);
            let e = -a * CHARGE[i] * CHARGE[j] / f;
            terms.pair += e;
            let de_df = -e / f;
            // ∂f/∂Bᵢ = Bⱼ e^{−D}(1 + D)/(2f)
            let dfb = de_df * ex * (1.0 + dd) / (2.0 * f);
            de[i] += dfb * born[j];
            de[j] += dfb * born[i];
            // ∂f/∂r = r(1 − e^{−D}/4)/f, applied along d/r
            let fv = d * (de_df * (1.0 - 0.25 * ex) / f);
            g[i] += fv;
            g[j] -= fv;
        }
    }
    for (d, db) in de.iter_mut().zip(db_di) {
        *d *= db;
    }
    for i in 0..N_ATOMS {
        for j in i + 1..N_ATOMS {
            let fv = (x[i] - x[j]) * (de[i] * di_dr[i][j] + de[j] * di_dr[j][i]);
            g[i] += fv;
            g[j] -= fv;
        }
    }
    terms
}
