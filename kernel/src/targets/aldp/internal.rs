//! boltzgen's complete internal-coordinate transform for ALDP, as FAB and RSMC configure it
//! (`boltzgen/internal.py::CompleteInternalCoordinateTransform` at 2b177fc): the z-matrix,
//! the 60-d layout, normalisation, the NeRF reconstruction `z → X`, its log-determinant and
//! the hand-written backward pass of both.
//!
//! Layout of the *raw* internal coordinates `q ∈ ℝ⁶⁰` (nm and rad):
//! `q₀ = |X₆ − X₈|`, `q₁ = |X₁₄ − X₈|`, `q₂ = ∠(6, 8, 14)`, and for z-matrix row `r`
//! (`(a, [p, q, s])`): `q[3+3r] = |Xₐ − X_p|`, `q[3+3r+1] = ∠(q, p, a)`,
//! `q[3+3r+2] = −φ_IUPAC(s, q, p, a)`. Normalised: `z = (q − μ)/σ`, the dihedrals wrapped to
//! `[−π, π)` before dividing; `μ` are X_ref's own values ([`super::Aldp`]).

use super::params::N_ATOMS;
use super::{Frame, V3, norm};
use crate::math::{self, PI};

/// Dimension of the internal-coordinate space (66 Cartesian coordinates minus 6 for the
/// rigid-body gauge).
pub const DIM: usize = 60;

/// The z-matrix: rows `(a, [p, q, s])`: atom `a` is bonded to `p`, its angle is at `p` (with
/// `q`) and its dihedral uses `s`. FAB's and RSMC's ALDP z-matrix, in their row order (which
/// is the order of the 60-vector).
pub const Z_MATRIX: [(u8, [u8; 3]); 19] = [
    (0, [1, 4, 6]),
    (1, [4, 6, 8]),
    (2, [1, 4, 0]),
    (3, [1, 4, 0]),
    (4, [6, 8, 14]),
    (5, [4, 6, 8]),
    (7, [6, 8, 4]),
    (9, [8, 6, 4]),
    (10, [8, 6, 4]),
    (11, [10, 8, 6]),
    (12, [10, 8, 11]),
    (13, [10, 8, 11]),
    (15, [14, 8, 16]),
    (16, [14, 8, 6]),
    (17, [16, 14, 15]),
    (18, [16, 14, 8]),
    (19, [18, 16, 14]),
    (20, [18, 16, 19]),
    (21, [18, 16, 19]),
];

/// The three gauge atoms `[8, 6, 14]` (CA, N, C): `X₈ = 0`, `X₆ = (q₀, 0, 0)`,
/// `X₁₄ = (q₁ cos q₂, q₁ sin q₂, 0)`.
pub const GAUGE: [u8; 3] = [8, 6, 14];

/// z-matrix rows in boltzgen's build order (layers of its topological sort: every row's
/// references exist when it is built).
pub(super) const BUILD_ORDER: [u8; 19] = [
    4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 16, 17, 18, 1, 12, 14, 0, 2, 3,
];

/// Indices in the 60-vector of the twelve circular dihedrals (RSMC's `ind_circ`: boltzgen's
/// `ind_circ_dih = [0,1,2,3,4,5,8,9,10,13,15,16]` of the sorted dihedrals, i.e. the
/// dihedrals of atoms 4, 5, 7, 9, 10, 11, 16, 18, 19, 1, 17, 0). φ is at 17, ψ at 44.
pub const IND_CIRC: [u8; 12] = [17, 20, 23, 26, 29, 32, 44, 50, 53, 8, 47, 5];

/// Kind of a coordinate of the 60-vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Bond,
    Angle,
    Dihedral,
}

/// The kind of coordinate `k`.
pub(super) const fn kind(k: usize) -> Kind {
    match k {
        0 | 1 => Kind::Bond,
        2 => Kind::Angle,
        _ => match (k - 3) % 3 {
            0 => Kind::Bond,
            1 => Kind::Angle,
            _ => Kind::Dihedral,
        },
    }
}

/// Standard deviations of the normalisation: boltzgen's defaults for a one-sample fit,
/// bonds 0.005 nm, angles 0.15 rad, dihedrals 0.2 rad, the circular dihedrals 1.
pub const STD: [f64; DIM] = stds();

const fn stds() -> [f64; DIM] {
    let mut s = [0.0; DIM];
    let mut k = 0;
    while k < DIM {
        s[k] = match kind(k) {
            Kind::Bond => 0.005,
            Kind::Angle => 0.15,
            Kind::Dihedral => 0.2,
        };
        k += 1;
    }
    let mut c = 0;
    while c < IND_CIRC.len() {
        s[IND_CIRC[c] as usize] = 1.0;
        c += 1;
    }
    s
}

/// `(t + π) mod 2π − π` (torch's floored remainder).
#[inline]
fn wrap(t: f64) -> f64 {
    let u = t + PI;
    u - 2.0 * PI * math::floor(u / (2.0 * PI)) - PI
}

/// `unit(a) · unit(b)` clamped to `[−1, 1]`, then `acos` (boltzgen's `calc_angles`; the clamp
/// keeps rounding from producing NaN at 0 and π).
fn angle(a: &V3, b: &V3) -> f64 {
    let c = (a / norm(a)).dot(&(b / norm(b)));
    math::acos(c.clamp(-1.0, 1.0))
}

/// `−φ_IUPAC(a, b, c, d)`, boltzgen's `calc_dihedrals`.
fn neg_dihedral(a: &V3, b: &V3, c: &V3, d: &V3) -> f64 {
    let b0 = a - b;
    let b1 = c - b;
    let b1 = b1 / norm(&b1);
    let b2 = d - c;
    let v = b0 - b1 * b0.dot(&b1);
    let w = b2 - b1 * b2.dot(&b1);
    -math::atan2(b1.cross(&v).dot(&w), v.dot(&w))
}

/// The raw internal coordinates `q(X)` (see the module documentation).
pub(super) fn raw_internal(x: &Frame) -> [f64; DIM] {
    let mut q = [0.0; DIM];
    let (p21, p31) = (x[6] - x[8], x[14] - x[8]);
    q[0] = norm(&p21);
    q[1] = norm(&p31);
    q[2] = angle(&p21, &p31);
    for (r, &(a, [p, qq, s])) in Z_MATRIX.iter().enumerate() {
        let [a, p, qq, s] = [a, p, qq, s].map(usize::from);
        q[3 + 3 * r] = norm(&(x[a] - x[p]));
        q[4 + 3 * r] = angle(&(x[qq] - x[p]), &(x[a] - x[p]));
        q[5 + 3 * r] = neg_dihedral(&x[s], &x[qq], &x[p], &x[a]);
    }
    q
}

/// `z = (q − μ)/σ`, dihedral differences wrapped to `[−π, π)` first.
pub(super) fn normalise(q: &[f64; DIM], mean: &[f64; DIM]) -> [f64; DIM] {
    let mut z = [0.0; DIM];
    for k in 0..DIM {
        let d = q[k] - mean[k];
        let d = if kind(k) == Kind::Dihedral {
            wrap(d)
        } else {
            d
        };
        z[k] = d / STD[k];
    }
    z
}

/// `q = z·σ + μ`; dihedrals then shifted as boltzgen's inverse does (`+2π` below π, then
/// `−2π` above π: the value modulo 2π is unchanged, so `∂q/∂z = σ`).
pub(super) fn denormalise(z: &[f64; DIM], mean: &[f64; DIM]) -> [f64; DIM] {
    let mut q = [0.0; DIM];
    for k in 0..DIM {
        let v = z[k] * STD[k] + mean[k];
        q[k] = if kind(k) == Kind::Dihedral {
            let v = if v < PI { v + 2.0 * PI } else { v };
            if v > PI { v - 2.0 * PI } else { v }
        } else {
            v
        };
    }
    q
}

/// The NeRF frame of one built atom from its references `p1 = X_p`, `p2 = X_q`, `p3 = X_s`.
struct Nerf {
    v1: V3,
    v2: V3,
    /// `|v₁|`, `|v₁ × v₂|`, `|v₁ × n|`, `|n sin φ + m cos φ|`
    lens: [f64; 4],
    n: V3,
    m: V3,
    /// `unit(n sin φ + m cos φ)`
    w: V3,
    u1: V3,
    /// `sin θ, cos θ, sin φ, cos φ`
    trig: [f64; 4],
}

impl Nerf {
    fn new(p1: &V3, p2: &V3, p3: &V3, angle: f64, dih: f64) -> Self {
        let v1 = p1 - p2;
        let v2 = p1 - p3;
        let nr = v1.cross(&v2);
        let ln = norm(&nr);
        let n = nr / ln;
        let mr = v1.cross(&n);
        let lm = norm(&mr);
        let m = mr / lm;
        let trig = [
            math::sin(angle),
            math::cos(angle),
            math::sin(dih),
            math::cos(dih),
        ];
        let wr = n * trig[2] + m * trig[3];
        let lw = norm(&wr);
        let l1 = norm(&v1);
        Self {
            v1,
            v2,
            lens: [l1, ln, lm, lw],
            n,
            m,
            w: wr / lw,
            u1: v1 / l1,
            trig,
        }
    }
}

/// `∂/∂a` of `unit(a)` applied to the upstream gradient `g`: `(g − u(u·g))/|a|`.
#[inline]
fn unit_back(u: &V3, len: f64, g: &V3) -> V3 {
    (g - u * u.dot(g)) / len
}

/// `X(q)`: the gauge atoms, then every z-matrix row in [`BUILD_ORDER`] by NeRF,
/// `Xₐ = p₁ + r sin θ · unit(n sin φ + m cos φ) − r cos θ · unit(v₁)` with `v₁ = p₁ − p₂`,
/// `n = unit(v₁ × (p₁ − p₃))`, `m = unit(v₁ × n)`. Angles and bonds are not clamped.
pub(super) fn place(q: &[f64; DIM], x: &mut Frame) {
    x[8] = V3::zeros();
    x[6] = V3::new(q[0], 0.0, 0.0);
    x[14] = V3::new(q[1] * math::cos(q[2]), q[1] * math::sin(q[2]), 0.0);
    for &r in &BUILD_ORDER {
        let r = usize::from(r);
        let (a, [p, qq, s]) = Z_MATRIX[r];
        let f = Nerf::new(
            &x[usize::from(p)],
            &x[usize::from(qq)],
            &x[usize::from(s)],
            q[4 + 3 * r],
            q[5 + 3 * r],
        );
        let bond = q[3 + 3 * r];
        x[usize::from(a)] = x[usize::from(p)] + f.w * bond * f.trig[0] - f.u1 * bond * f.trig[1];
    }
}

/// The backward pass of [`place`]: given `gx = ∂E/∂X` at `x = X(q)`, adds `∂E/∂q` into `gq`.
/// `gx` is used as scratch (the gradient flows from each built atom into its references);
/// the gauge atom 8 is fixed at the origin, so its gradient is dropped.
pub(super) fn place_backward(q: &[f64; DIM], x: &Frame, gx: &mut Frame, gq: &mut [f64; DIM]) {
    for &r in BUILD_ORDER.iter().rev() {
        let r = usize::from(r);
        let (a, [p, qq, s]) = Z_MATRIX[r];
        let [a, p, qq, s] = [a, p, qq, s].map(usize::from);
        let f = Nerf::new(&x[p], &x[qq], &x[s], q[4 + 3 * r], q[5 + 3 * r]);
        let [sa, ca, sd, cd] = f.trig;
        let [l1, ln, lm, lw] = f.lens;
        let bond = q[3 + 3 * r];
        let g = gx[a];
        gq[3 + 3 * r] += g.dot(&(f.w * sa - f.u1 * ca));
        gq[4 + 3 * r] += g.dot(&(f.w * ca + f.u1 * sa)) * bond;
        let g_w = unit_back(&f.w, lw, &(g * (bond * sa)));
        gq[5 + 3 * r] += g_w.dot(&(f.n * cd - f.m * sd));
        let g_mr = unit_back(&f.m, lm, &(g_w * cd));
        let mut g_n = g_w * sd + g_mr.cross(&f.v1);
        let mut g_v1 = f.n.cross(&g_mr);
        g_n = unit_back(&f.n, ln, &g_n);
        g_v1 += f.v2.cross(&g_n) + unit_back(&f.u1, l1, &(g * (-bond * ca)));
        let g_v2 = g_n.cross(&f.v1);
        gx[p] += g + g_v1 + g_v2;
        gx[qq] -= g_v1;
        gx[s] -= g_v2;
    }
    let (s2, c2) = (math::sin(q[2]), math::cos(q[2]));
    let g14 = gx[14];
    gq[0] += gx[6].x;
    gq[1] += g14.x * c2 + g14.y * s2;
    gq[2] += q[1] * (g14.y * c2 - g14.x * s2);
}

/// `log |det ∂X/∂z|` without the constant `Σ log σ`: `log q₁ + Σ_rows (2 log|r| + log|sin θ|)`
/// (the gauge-fixed determinant boltzgen computes); with `gq`, adds its gradient in `q`.
pub(super) fn log_det(q: &[f64; DIM], gq: Option<&mut [f64; DIM]>) -> f64 {
    let mut ld = math::ln(q[1]);
    for r in 0..Z_MATRIX.len() {
        let (b, th) = (q[3 + 3 * r], q[4 + 3 * r]);
        ld += 2.0 * math::ln(b.abs()) + math::ln(math::sin(th).abs());
    }
    if let Some(g) = gq {
        g[1] += 1.0 / q[1];
        for r in 0..Z_MATRIX.len() {
            let (b, th) = (q[3 + 3 * r], q[4 + 3 * r]);
            g[3 + 3 * r] += 2.0 / b;
            g[4 + 3 * r] += math::cos(th) / math::sin(th);
        }
    }
    ld
}

/// Number of atoms placed by [`place`]: the three gauge atoms and one per z-matrix row.
const _: () = assert!(GAUGE.len() + Z_MATRIX.len() == N_ATOMS);
