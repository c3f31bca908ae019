//! Unit tests of the ALDP energy, its gradient and the 60-d target. The comparison with
//! OpenMM itself is the integration test `tests/aldp_openmm.rs`.
#![cfg(test)]

extern crate std;

use std::vec;
use std::vec::Vec;

use super::params::{GB_OR, GB_SR, X_REF};
use super::*;
use crate::rng::{seeded, standard_normal};

/// A term of the Cartesian energy as the tests call it.
type TermFn = fn(&Frame, Option<&mut Frame>) -> f64;

/// X_ref with every coordinate moved by `N(0, σ²)` (seeded).
fn jitter(seed: u64, sigma: f64) -> Positions {
    let mut rng = seeded(seed);
    X_REF.map(|p| p.map(|c| c + sigma * standard_normal(&mut rng)))
}

/// X_ref with `atom` moved onto the line from `towards` to it, `dist` nm from `towards`.
fn pushed(atom: usize, towards: usize, dist: f64) -> Positions {
    let mut x = X_REF;
    let (a, t) = (V3::from(X_REF[atom]), V3::from(X_REF[towards]));
    let p = t + (a - t) * (dist / norm(&(a - t)));
    x[atom] = [p.x, p.y, p.z];
    x
}

/// Test configurations: X_ref, three perturbations, a 10⁷ kJ/mol clash (H 19 onto O 5) and
/// a hard one where GB's step cuts pairs (CB 10 at 0.03 nm from C 4).
fn configurations() -> Vec<(&'static str, Positions)> {
    vec![
        ("x_ref", X_REF),
        ("jitter 0.005", jitter(1, 0.005)),
        ("jitter 0.01", jitter(2, 0.01)),
        ("jitter 0.03", jitter(3, 0.03)),
        ("clash", pushed(19, 5, 0.08)),
        ("hard clash", pushed(10, 4, 0.03)),
    ]
}

/// Central differences (`h` nm) of `f` against its analytic gradient; returns
/// `max|g − fd| / max(max|g|, 1)`.
fn cartesian_fd_error(f: TermFn, x: &Positions, h: f64) -> f64 {
    let fx = frame(x);
    let mut g = [V3::zeros(); N_ATOMS];
    let e = f(&fx, Some(&mut g));
    assert_eq!(
        e,
        f(&fx, None),
        "the energy must not depend on whether a gradient is taken"
    );
    let (mut err, mut scale) = (0.0f64, 1.0f64);
    for a in 0..N_ATOMS {
        for c in 0..3 {
            let mut xp = fx;
            xp[a][c] += h;
            let mut xm = fx;
            xm[a][c] -= h;
            let fd = (f(&xp, None) - f(&xm, None)) / (xp[a][c] - xm[a][c]);
            err = err.max((g[a][c] - fd).abs());
            scale = scale.max(g[a][c].abs());
        }
    }
    err / scale
}

fn bonds(x: &Frame, g: Option<&mut Frame>) -> f64 {
    bonded::bonds(x, g)
}
fn angles(x: &Frame, g: Option<&mut Frame>) -> f64 {
    bonded::angles(x, g)
}
fn torsions(x: &Frame, g: Option<&mut Frame>) -> f64 {
    bonded::torsions(x, g)
}
fn nonbonded_all(x: &Frame, g: Option<&mut Frame>) -> f64 {
    let (c, l) = nonbonded::coulomb_lj(x, g);
    c + l
}
fn gb_all(x: &Frame, g: Option<&mut Frame>) -> f64 {
    let t = gb::gb(x, g);
    t.self_energy + t.ace + t.pair
}
fn total(x: &Frame, g: Option<&mut Frame>) -> f64 {
    terms(x, g).total()
}

#[test]
fn energy_at_x_ref_is_the_openmm_table() {
    // README of the reference export: OpenMM 8.6.1 Reference, kJ/mol, 9 decimals
    let t = energy(&X_REF);
    let want = [
        (t.bond, 1.836861314),
        (t.angle, 3.426386956),
        (t.torsion, 6.203758360),
        (t.coulomb, -132.211102815),
        (t.lj, 3.746842660),
        (t.gb.self_energy, -783.542568400),
        (t.gb.ace, 17.976997722),
        (t.gb.pair, 709.885307277),
        (t.total(), -172.677516925),
    ];
    for (got, want) in want {
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }
}

#[test]
fn cartesian_gradient_matches_finite_differences() {
    let terms: [(&str, TermFn); 6] = [
        ("bonds", bonds),
        ("angles", angles),
        ("torsions", torsions),
        ("nonbonded", nonbonded_all),
        ("gb", gb_all),
        ("total", total),
    ];
    for (cname, x) in configurations() {
        for (tname, f) in terms {
            let err = cartesian_fd_error(f, &x, 1e-6);
            assert!(err < 5e-7, "{cname} / {tname}: relative FD error {err:.2e}");
        }
    }
}

#[test]
fn born_term_derivative_matches_finite_differences_on_every_branch() {
    let (or, sr) = (GB_OR[4], GB_SR[10]);
    // r + sr < or (cut), L = or (|r − sr| ≤ or, both signs of r − sr), L = |r − sr|
    for r in [0.02, 0.05, 0.1, 0.2, 0.28, 0.35, 0.8, 2.0] {
        let (t, dt) = gb::born_term(r, or, sr);
        let h = 1e-7;
        let fd = (gb::born_term(r + h, or, sr).0 - gb::born_term(r - h, or, sr).0) / (2.0 * h);
        assert!(
            (dt - fd).abs() <= 1e-6 * (1.0 + fd.abs()),
            "r = {r}: {dt} vs {fd}"
        );
        if r + sr < or {
            assert_eq!((t, dt), (0.0, 0.0));
        } else {
            assert!(t > 0.0, "r = {r}: {t}");
        }
    }
}

#[test]
fn coincident_atoms_have_no_finite_energy() {
    let mut x = X_REF;
    x[19] = x[5];
    assert!(!energy(&x).total().is_finite());
}

#[test]
fn dihedral_follows_iupac() {
    // cis 0, trans ±π, and +90° when the far bond turns clockwise seen along b → c
    let (b, c) = (V3::new(0.0, 0.0, 0.0), V3::new(1.0, 0.0, 0.0));
    let a = V3::new(0.0, 1.0, 0.0);
    let phi = |d: V3| bonded::dihedral(&a, &b, &c, &d).0;
    assert!(phi(V3::new(1.0, 1.0, 0.0)).abs() < 1e-15);
    assert!((phi(V3::new(1.0, -1.0, 0.0)).abs() - core::f64::consts::PI).abs() < 1e-15);
    assert!((phi(V3::new(1.0, 0.0, 1.0)) - core::f64::consts::FRAC_PI_2).abs() < 1e-15);
    // three collinear atoms: an angle but no gradient
    assert!(
        bonded::dihedral(&a, &b, &V3::new(0.0, 2.0, 0.0), &c)
            .1
            .is_none()
    );
}
