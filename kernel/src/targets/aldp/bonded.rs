//! Bonded terms: harmonic bonds and angles, periodic (proper and improper) torsions.
//!
//! Each function returns its energy (kJ/mol) and, when given `grad`, adds `∂E/∂X`
//! (kJ mol⁻¹ nm⁻¹) into it. Degenerate geometry (an angle of exactly 0 or π, a torsion
//! with three collinear atoms) has a well-defined energy but no direction: its gradient
//! contribution is left out instead of becoming NaN.

use super::params::{ANGLES, BONDS, TORSIONS};
use super::{Frame, V3, norm};
use crate::math;

/// `Σ ½k(r − r₀)²` over [`BONDS`].
pub(super) fn bonds(x: &Frame, mut grad: Option<&mut Frame>) -> f64 {
    let mut e = 0.0;
    for b in &BONDS {
        let (i, j) = (b.i as usize, b.j as usize);
        let d = x[i] - x[j];
        let r = norm(&d);
        let dr = r - b.r0;
        e += 0.5 * b.k * dr * dr;
        if let Some(g) = grad.as_deref_mut() {
            let f = d * (b.k * dr / r);
            g[i] += f;
            g[j] -= f;
        }
    }
    e
}

/// `Σ ½k(θ − θ₀)²` over [`ANGLES`], `θ = atan2(|u × v|, u · v)` with `u = Xᵢ − Xⱼ`,
/// `v = Xₖ − Xⱼ`.
///
/// `∂θ/∂u = −(v − (u·v) u/|u|²) / |u × v|` and symmetrically for `v`.
pub(super) fn angles(x: &Frame, mut grad: Option<&mut Frame>) -> f64 {
    let mut e = 0.0;
    for a in &ANGLES {
        let (i, j, k) = (a.i as usize, a.j as usize, a.k as usize);
        let u = x[i] - x[j];
        let v = x[k] - x[j];
        let c = norm(&u.cross(&v));
        let uv = u.dot(&v);
        let dth = math::atan2(c, uv) - a.theta0;
        e += 0.5 * a.kf * dth * dth;
        if let Some(g) = grad.as_deref_mut()
            && c > 0.0
        {
            let de = a.kf * dth / c;
            let gu = (u * (uv / u.norm_squared()) - v) * de;
            let gv = (v * (uv / v.norm_squared()) - u) * de;
            g[i] += gu;
            g[k] += gv;
            g[j] -= gu + gv;
        }
    }
    e
}

/// The IUPAC dihedral of `a-b-c-d` and, when the geometry is not degenerate, its gradient
/// with respect to the four positions (Blondel & Karplus, J. Comput. Chem. 17, 1132 (1996)).
///
/// With `b₁ = b − a`, `b₂ = c − b`, `b₃ = d − c`, `n₁ = b₁ × b₂`, `n₂ = b₂ × b₃`:
/// `φ = atan2(|b₂| b₁·n₂, n₁·n₂)`; `∂φ/∂a = −|b₂| n₁/|n₁|²`, `∂φ/∂d = |b₂| n₂/|n₂|²`,
/// `∂φ/∂b = −(1 + b₁·b₂/|b₂|²) ∂φ/∂a + (b₃·b₂/|b₂|²) ∂φ/∂d` and
/// `∂φ/∂c = −∂φ/∂a − ∂φ/∂b − ∂φ/∂d`.
pub(crate) fn dihedral(a: &V3, b: &V3, c: &V3, d: &V3) -> (f64, Option<[V3; 4]>) {
    let b1 = b - a;
    let b2 = c - b;
    let b3 = d - c;
    let n1 = b1.cross(&b2);
    let n2 = b2.cross(&b3);
    let l2 = norm(&b2);
    let phi = math::atan2(l2 * b1.dot(&n2), n1.dot(&n2));
    let (s1, s2) = (n1.norm_squared(), n2.norm_squared());
    if !(s1 > 0.0 && s2 > 0.0 && l2 > 0.0) {
        return (phi, None);
    }
    let ga = n1 * (-l2 / s1);
    let gd = n2 * (l2 / s2);
    let ll = l2 * l2;
    let gb = ga * (-(1.0 + b1.dot(&b2) / ll)) + gd * (b3.dot(&b2) / ll);
    let gc = -(ga + gb + gd);
    (phi, Some([ga, gb, gc, gd]))
}

/// `Σ k(1 + cos(nφ − δ))` over [`TORSIONS`] (proper and improper alike).
pub(super) fn torsions(x: &Frame, mut grad: Option<&mut Frame>) -> f64 {
    let mut e = 0.0;
    for t in &TORSIONS {
        let [i, j, k, l] = t.atoms.map(usize::from);
        let (phi, dphi) = dihedral(&x[i], &x[j], &x[k], &x[l]);
        let arg = f64::from(t.n) * phi - t.phase;
        e += t.kf * (1.0 + math::cos(arg));
        if let (Some(g), Some(dp)) = (grad.as_deref_mut(), dphi) {
            let de = -t.kf * f64::from(t.n) * math::sin(arg);
            for (atom, d) in [i, j, k, l].into_iter().zip(dp) {
                g[atom] += d * de;
            }
        }
    }
    e
}
