//! Unit tests of the ALDP energy, its gradient and the 60-d target. The comparison with
//! OpenMM itself is the integration test `tests/aldp_openmm.rs`.
#![cfg(test)]

extern crate std;

use std::vec;
use std::vec::Vec;

use super::internal::{self, BUILD_ORDER, Kind};
use super::params::{GB_OR, GB_SR, X_REF};
use super::target::{penalty, reduce};
use super::*;
use crate::rng::{seeded, standard_normal};
use crate::targets::LogDensity;

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

#[test]
fn layout_matches_boltzgen() {
    // every row is built after its references (the gauge atoms exist from the start)
    let mut built = [false; N_ATOMS];
    for g in GAUGE {
        built[usize::from(g)] = true;
    }
    for &r in &BUILD_ORDER {
        let (a, refs) = Z_MATRIX[usize::from(r)];
        assert!(refs.iter().all(|&p| built[usize::from(p)]), "row {r}");
        assert!(!built[usize::from(a)]);
        built[usize::from(a)] = true;
    }
    assert!(built.iter().all(|&b| b));
    // IND_CIRC: boltzgen's ind_circ_dih over the build order, mapped to z-matrix rows
    let circ: Vec<u8> = [0, 1, 2, 3, 4, 5, 8, 9, 10, 13, 15, 16]
        .map(|k| 5 + 3 * BUILD_ORDER[k])
        .to_vec();
    assert_eq!(circ, IND_CIRC.to_vec());
    let sum: f64 = STD.iter().map(|&s| s.ln()).sum();
    assert!((sum + 160.4731297823).abs() < 1e-9, "{sum}");
    assert_eq!(STD[17], 1.0);
    assert_eq!(
        (STD[0], STD[2], STD[3], STD[4], STD[14]),
        (0.005, 0.15, 0.005, 0.15, 0.2)
    );
    assert_eq!(internal::kind(59), Kind::Dihedral);
}

/// Largest change of a pairwise distance between two configurations.
fn distance_change(a: &Positions, b: &Positions) -> f64 {
    let (fa, fb) = (frame(a), frame(b));
    let mut m: f64 = 0.0;
    for i in 0..N_ATOMS {
        for j in i + 1..N_ATOMS {
            m = m.max((norm(&(fa[i] - fa[j])) - norm(&(fb[i] - fb[j]))).abs());
        }
    }
    m
}

#[test]
fn transform_round_trips() {
    let t = Aldp::new();
    let z0 = t.z_from_positions(&X_REF);
    assert!(z0.iter().all(|v| v.abs() < 1e-14), "{z0:?}");
    for (name, x) in configurations().into_iter().take(4) {
        let z = t.z_from_positions(&x);
        let (y, _) = t.positions_from_z(&z);
        let d = distance_change(&x, &y);
        assert!(d < 1e-14, "{name}: pairwise distances change by {d:e}");
    }
    // z → X → z, dihedrals beyond ±π included (they come back wrapped)
    let mut rng = seeded(7);
    let mut z = [0.0; DIM];
    for v in &mut z {
        *v = 0.5 * standard_normal(&mut rng);
    }
    z[47] = 2.5;
    z[20] = -3.0;
    let (x, _) = t.positions_from_z(&z);
    let back = t.z_from_positions(&x);
    for k in 0..DIM {
        assert!(
            (back[k] - z[k]).abs() < 1e-10,
            "z[{k}]: {} vs {}",
            back[k],
            z[k]
        );
    }
    // the tanh map and its inverse
    let xs = Aldp::x_from_z(&z);
    let (z2, _) = Aldp::z_from_x(&xs);
    assert!(z.iter().zip(z2).all(|(a, b)| (a - b).abs() < 1e-13));
    let xr = t.x_from_positions(&x);
    assert!(xr.iter().zip(xs).all(|(a, b)| (a - b).abs() < 1e-9));
}

/// `log|det|` of a square matrix by LU with partial pivoting.
fn log_abs_det(mut m: Vec<Vec<f64>>) -> f64 {
    let n = m.len();
    let mut ld = 0.0;
    for k in 0..n {
        let p = (k..n)
            .max_by(|&a, &b| m[a][k].abs().total_cmp(&m[b][k].abs()))
            .unwrap();
        m.swap(k, p);
        let piv = m[k][k];
        ld += piv.abs().ln();
        for i in k + 1..n {
            let f = m[i][k] / piv;
            for j in k..n {
                m[i][j] -= f * m[k][j];
            }
        }
    }
    ld
}

/// The 60 gauge-fixed Cartesian coordinates: x₆, x₁₄, y₁₄ and the 57 of the built atoms.
fn gauge_fixed(x: &Positions) -> Vec<f64> {
    let mut v = vec![x[6][0], x[14][0], x[14][1]];
    for &(a, _) in &Z_MATRIX {
        v.extend_from_slice(&x[usize::from(a)]);
    }
    v
}

#[test]
fn log_det_matches_finite_difference_determinant() {
    let t = Aldp::new();
    let (_, ld0) = t.positions_from_z(&[0.0; DIM]);
    assert!((ld0 + 245.482110378).abs() < 1e-9, "{ld0}");
    let mut rng = seeded(8);
    let mut z1 = [0.0; DIM];
    for v in &mut z1 {
        *v = 0.7 * standard_normal(&mut rng);
    }
    for z in [[0.0; DIM], z1] {
        let (_, ld) = t.positions_from_z(&z);
        let h = 1e-5;
        let mut jac = vec![vec![0.0; DIM]; DIM];
        for k in 0..DIM {
            let (mut zp, mut zm) = (z, z);
            zp[k] += h;
            zm[k] -= h;
            let (xp, xm) = (t.positions_from_z(&zp).0, t.positions_from_z(&zm).0);
            let (gp, gm) = (gauge_fixed(&xp), gauge_fixed(&xm));
            for r in 0..DIM {
                jac[r][k] = (gp[r] - gm[r]) / (2.0 * h);
            }
        }
        let fd = log_abs_det(jac);
        assert!(
            (fd - ld).abs() < 1e-8,
            "analytic {ld}, finite differences {fd}"
        );
    }
}

#[test]
fn energy_at_the_origin_is_the_seeds_value() {
    let t = Aldp::new();
    let e = t.energy(&[0.0; DIM]);
    assert!((e - 162.513345644).abs() < 1e-9, "{e}");
    assert_eq!(t.log_density(&[0.0; DIM]), -162.513345644f64 as f32);
    let mut g = [0.0f32; DIM];
    assert_eq!(
        t.log_density_grad(&[0.0; DIM], &mut g),
        -162.513345644f64 as f32
    );
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|&v| v != 0.0));
    assert_eq!(t.dim(), 60);
    assert!(t.log_z().is_none() && !t.has_sampler());
    assert!(t.sample(&mut seeded(0), &mut [0.0; DIM]).is_err());
}

/// `E(x)` rebuilt from the public pieces, without the penalty.
fn energy_by_hand(t: &Aldp, x: &[f64; DIM]) -> f64 {
    let (z, ld_tanh) = Aldp::z_from_x(x);
    let (pos, ld) = t.positions_from_z(&z);
    reduce(energy(&pos).total() / Aldp::KT).0 - ld - ld_tanh
}

#[test]
fn cut_cap_and_penalty_behave_as_specified() {
    let t = Aldp::new();
    assert_eq!(reduce(5.0), (5.0, 1.0));
    let (v, dv) = reduce(1e5 + 9.0);
    assert_eq!(v, 10f64.ln() + 1e5);
    assert_eq!(dv, 0.1);
    assert_eq!(reduce(1e30), ((1e20 - 1e5 + 1.0f64).ln() + 1e5, 0.0));
    // H1's bond stretched by 1.5 nm: U/kT ≈ 1.3e5, above the cut
    let mut x = [0.0; DIM];
    x[3] = 300.0;
    let (pos, _) = t.positions_from_z(&Aldp::z_from_x(&x).0);
    let u = energy(&pos).total() / Aldp::KT;
    assert!(u > 1.2e5 && u < 1.4e5, "{u}");
    let e = t.energy(&x);
    assert_eq!(e, energy_by_hand(&t, &x));
    assert!(e > 1e5 && e < 1e5 + 300.0, "{e}");
    // the chirality test on the raw x17 − x26 (moved by ±2π to the smallest magnitude)
    for (d, pen) in [(0.75, false), (0.76, true), (-0.84, false), (-0.85, true)] {
        let mut x = [0.0; DIM];
        x[17] = d;
        assert_eq!(penalty(&x) > 0.0, pen, "d = {d}");
    }
    let mut x = [0.0; DIM];
    x[17] = 3.0;
    x[26] = 3.0 - 2.0 * core::f64::consts::PI + 0.1; // d = 2π − 0.1 ≡ −0.1
    assert_eq!(penalty(&x), 0.0);
    x[26] = 2.0; // d = 1
    assert_eq!(penalty(&x), 2e5);
    let e = t.energy(&x);
    assert!((e - energy_by_hand(&t, &x) - 2e5).abs() < 1e-9, "{e}");
    let mut g = [0.0; DIM];
    assert_eq!(t.energy_grad(&x, &mut g), e);
    // a negative CA–C bond (q₁ < 0): log q₁ is NaN, so E = 2·cut with a zero gradient
    let mut x = [0.0; DIM];
    x[1] = -100.0;
    let mut g = [1.0; DIM];
    assert_eq!(t.energy_grad(&x, &mut g), 2e5);
    assert!(g.iter().all(|&v| v == 0.0));
    let mut x32 = [0.0f32; DIM];
    x32[1] = -100.0;
    assert_eq!(t.log_density(&x32), -2e5);
}

/// Central differences (step 10⁻²) of the `f32` log density of a scaled or re-seamed target
/// at the sampler point `y` against its gradient, within 1 % of the largest component.
pub(super) fn assert_log_density_fd(t: &Aldp, y: &[f32; DIM]) {
    let mut g = [0.0f32; DIM];
    t.log_density_grad(y, &mut g);
    let big = g.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let h = 1e-2f32;
    for k in 0..DIM {
        let (mut yp, mut ym) = (*y, *y);
        yp[k] += h;
        ym[k] -= h;
        let fd = (t.log_density(&yp) - t.log_density(&ym)) / (yp[k] - ym[k]);
        assert!((g[k] - fd).abs() < 1e-2 * big, "{k}: {} against {fd}", g[k]);
    }
}

/// Central differences of `E(x)` (f64) against `energy_grad`: `max|g − fd|/max(max|g|, 1)`.
fn target_fd_error(t: &Aldp, x: &[f64; DIM], h: f64) -> f64 {
    let mut g = [0.0; DIM];
    let e = t.energy_grad(x, &mut g);
    assert_eq!(e, t.energy(x));
    let (mut err, mut scale) = (0.0f64, 1.0f64);
    for k in 0..DIM {
        let (mut xp, mut xm) = (*x, *x);
        xp[k] += h;
        xm[k] -= h;
        let fd = (t.energy(&xp) - t.energy(&xm)) / (xp[k] - xm[k]);
        err = err.max((g[k] - fd).abs());
        scale = scale.max(g[k].abs());
    }
    err / scale
}

#[test]
fn target_gradient_matches_finite_differences() {
    let t = Aldp::new();
    let mut rng = seeded(9);
    let mut points = vec![[0.0; DIM]];
    for sigma in [0.3, 1.0] {
        let mut x = [0.0; DIM];
        for v in &mut x {
            *v = sigma * standard_normal(&mut rng);
        }
        x[26] = x[17]; // stay in the L form
        points.push(x);
    }
    let mut tails = [0.0; DIM];
    tails[17] = 1.5; // φ, ψ and a methyl rotor far into the tanh tails
    tails[26] = 1.5;
    tails[44] = -2.0;
    tails[29] = 2.5;
    points.push(tails);
    let mut wide = [0.0; DIM];
    for &c in &IND_CIRC {
        wide[usize::from(c)] = 2.0; // every circular dihedral: a clash above the cut
    }
    points.push(wide);
    let mut above = [0.0; DIM];
    above[3] = 300.0; // H1 pulled 1.5 nm out: above the cut
    points.push(above);
    for x in &points {
        // the step is in z units (σ·h nm for a bond); at E ≈ 1e5 round-off needs a larger one
        let e = t.energy(x);
        let h = if e > 1e4 { 1e-4 } else { 1e-5 };
        let err = target_fd_error(&t, x, h);
        assert!(err < 5e-7, "E = {e}: relative FD error {err:.2e}");
    }
}

#[test]
fn log_density_policy() {
    let t = Aldp::new();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = [0.0f32; DIM];
        x[30] = bad;
        let mut g = [7.0f32; DIM];
        assert_eq!(t.log_density_grad(&x, &mut g), f32::NEG_INFINITY);
        assert!(g.iter().all(|&v| v == 0.0));
        assert_eq!(t.log_density(&x), f32::NEG_INFINITY);
    }
    for big in [1e30f32, -1e30, 3e38, -3e38, 1e-30, 40.0, -40.0] {
        let x = [big; DIM];
        let mut g = [0.0f32; DIM];
        let lp = t.log_density_grad(&x, &mut g);
        assert!(!lp.is_nan() && lp == t.log_density(&x), "{big}: {lp}");
        assert!(g.iter().all(|v| v.is_finite()), "{big}: {g:?}");
    }
    // f32 in and out agree with the f64 interface
    let mut rng = seeded(10);
    let x32: Vec<f32> = (0..DIM)
        .map(|_| 0.2 * standard_normal(&mut rng) as f32)
        .collect();
    let mut x = [0.0; DIM];
    for (o, v) in x.iter_mut().zip(&x32) {
        *o = f64::from(*v);
    }
    let mut g = [0.0; DIM];
    let e = t.energy_grad(&x, &mut g);
    let mut g32 = [0.0f32; DIM];
    assert_eq!(t.log_density_grad(&x32, &mut g32), -e as f32);
    assert!(g32.iter().zip(g).all(|(a, b)| *a == -b as f32));
}
