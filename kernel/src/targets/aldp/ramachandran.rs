//! The backbone dihedrals φ and ψ of alanine dipeptide and its three conformational basins.
//!
//! - **Dihedral** ([`dihedral`]): the IUPAC/IUB angle of four points, as mdtraj computes it
//!   (`mdtraj.geometry.dihedral._dihedral`): with `b₁ = p₁ − p₀`, `b₂ = p₂ − p₁`,
//!   `b₃ = p₃ − p₂`, `φ = atan2(|b₂| b₁·(b₂×b₃), (b₁×b₂)·(b₂×b₃))` in `[−π, π]`. Viewed
//!   along `b₂`, a clockwise turn from `p₀` to `p₃` is positive; cis is 0, trans is ±π.
//!   boltzgen's internal coordinates store the negated angle (`internal::neg_dihedral`).
//! - **φ and ψ** ([`PHI_ATOMS`], [`PSI_ATOMS`], 0-based in the atom order of
//!   [`NAMES`](super::params::NAMES)): φ = C(ACE 4)–N(6)–CA(8)–C(14), ψ = N(6)–CA(8)–C(14)–
//!   N(NME 16), the atoms mdtraj's `compute_phi` / `compute_psi` pick. (The RSMC seeds plot
//!   "φ" from atoms 1-6-8-14, the ACE methyl carbon: that is not φ.)
//! - **Basins** ([`Basin::of`]): a partition of the (φ, ψ) torus into three regions, after
//!   wrapping both angles to `[−180°, 180°)`:
//!   - `αL`: `0° < φ < 180°` (the whole right half-plane: αL proper and C7ax, the basins
//!     reached only by rotating φ through its high barrier);
//!   - `αR`: `φ ≤ 0°` and `−120° ≤ ψ < 50°`;
//!   - `β/C7eq`: `φ ≤ 0°` and (`ψ ≥ 50°` or `ψ < −120°`): the extended β/C5 and PII
//!     conformations and C7eq, joined across `ψ = ±180°`.
//!
//!   The ψ boundaries are a conventional choice on the ridges between αR (ψ ≈ −40°) and
//!   C7eq/β (ψ ≈ 70° to 180°), not fitted to this force field; a NaN angle has no basin.

use super::params::N_ATOMS;
use super::target::Aldp;
use super::{Positions, V3, internal::DIM, norm};
use crate::math::{self, PI};

/// Atoms of φ: C (ACE), N, CA, C (ALA).
pub const PHI_ATOMS: [usize; 4] = [4, 6, 8, 14];
/// Atoms of ψ: N, CA, C (ALA), N (NME).
pub const PSI_ATOMS: [usize; 4] = [6, 8, 14, 16];

/// The IUPAC dihedral angle `p₀–p₁–p₂–p₃` in radians, `[−π, π]`, with mdtraj's formula and
/// sign (see the module documentation). Degenerate input (coincident or collinear points)
/// gives `atan2(0, 0) = 0`; NaN input gives NaN.
pub fn dihedral(p: &[[f64; 3]; 4]) -> f64 {
    let [a, b, c, d] = p.map(V3::from);
    let (b1, b2, b3) = (b - a, c - b, d - c);
    let c1 = b2.cross(&b3);
    let c2 = b1.cross(&b2);
    math::atan2(b1.dot(&c1) * norm(&b2), c1.dot(&c2))
}

/// The four positions of `atoms`.
fn pick(x: &Positions, atoms: [usize; 4]) -> [[f64; 3]; 4] {
    atoms.map(|i| x[i % N_ATOMS])
}

/// `[φ, ψ]` (radians, `[−π, π]`) of Cartesian positions.
pub fn phi_psi(x: &Positions) -> [f64; 2] {
    [dihedral(&pick(x, PHI_ATOMS)), dihedral(&pick(x, PSI_ATOMS))]
}

impl Aldp {
    /// `[φ, ψ]` (radians) of the sampler-space point `x`: the target's own reconstruction
    /// `x → z → X` ([`Aldp::z_from_x`], [`Aldp::positions_from_z`]), then [`phi_psi`].
    pub fn phi_psi(&self, x: &[f64; DIM]) -> [f64; 2] {
        let (z, _) = Self::z_from_x(x);
        let (pos, _) = self.positions_from_z(&z);
        phi_psi(&pos)
    }
}

/// `t` (radians) wrapped to `[−π, π)`; a `t` already in that range is returned unchanged
/// (bit for bit).
pub fn wrap_angle(t: f64) -> f64 {
    if (-PI..PI).contains(&t) {
        return t;
    }
    let u = t + PI;
    let w = u - 2.0 * PI * math::floor(u / (2.0 * PI)) - PI;
    // rounding can land exactly on π: that is −π
    if w >= PI { w - 2.0 * PI } else { w }
}

/// The three conformational basins of alanine dipeptide (see the module documentation for
/// their boundaries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basin {
    /// `φ ≤ 0`, `ψ ≥ 50°` or `ψ < −120°`: extended (β/C5, PII) and C7eq.
    BetaC7eq,
    /// `φ ≤ 0`, `−120° ≤ ψ < 50°`: the right-handed helix.
    AlphaR,
    /// `φ > 0`: αL and C7ax.
    AlphaL,
}

impl Basin {
    /// All basins, in the order of [`Basin::index`].
    pub const ALL: [Basin; 3] = [Basin::BetaC7eq, Basin::AlphaR, Basin::AlphaL];
    /// ψ boundaries of αR in radians, `[−120°, 50°)`: the lower one belongs to αR, the upper
    /// one to β/C7eq.
    pub const ALPHA_R_PSI: [f64; 2] = [-120.0 * PI / 180.0, 50.0 * PI / 180.0];

    /// The basin of `(φ, ψ)` in radians (any range: both are wrapped to `[−π, π)` first);
    /// `None` if either is NaN or infinite.
    pub fn of(phi: f64, psi: f64) -> Option<Basin> {
        if !(phi.is_finite() && psi.is_finite()) {
            return None;
        }
        let (phi, psi) = (wrap_angle(phi), wrap_angle(psi));
        let [lo, hi] = Self::ALPHA_R_PSI;
        Some(if phi > 0.0 {
            Basin::AlphaL
        } else if (lo..hi).contains(&psi) {
            Basin::AlphaR
        } else {
            Basin::BetaC7eq
        })
    }

    /// Index in [`Basin::ALL`].
    pub fn index(self) -> usize {
        match self {
            Basin::BetaC7eq => 0,
            Basin::AlphaR => 1,
            Basin::AlphaL => 2,
        }
    }

    /// Short name (`"beta_c7eq"`, `"alpha_r"`, `"alpha_l"`), as in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Basin::BetaC7eq => "beta_c7eq",
            Basin::AlphaR => "alpha_r",
            Basin::AlphaL => "alpha_l",
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::targets::aldp::params::X_REF;

    /// Points `p₀ = (1, 0, 0)`, `p₁ = 0`, `p₂ = (0, 0, 1)`, `p₃ = p₂ + (cos t, sin t, 0)`: the
    /// dihedral is `t` by construction (a right-handed turn about `+z`, viewed along `b₂`,
    /// is clockwise, hence positive).
    fn turned(t: f64) -> [[f64; 3]; 4] {
        [
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0],
            [math::cos(t), math::sin(t), 1.0],
        ]
    }

    #[test]
    fn dihedral_known_geometry() {
        assert_eq!(dihedral(&turned(0.0)), 0.0, "cis");
        assert!((dihedral(&turned(PI)).abs() - PI).abs() < 1e-15, "trans");
        for k in -17..=17 {
            let t = k as f64 * PI / 18.0;
            assert!((dihedral(&turned(t)) - t).abs() < 1e-14, "{k}");
        }
        // IUPAC sign on a textbook case: looking down b₂ = +z, p₀ at +x and p₃ at +y is a
        // clockwise turn of 90° (positive), p₃ at −y is −90°.
        let mut p = turned(0.0);
        p[3] = [0.0, 1.0, 1.0];
        assert!((dihedral(&p) - PI / 2.0).abs() < 1e-15);
        p[3] = [0.0, -1.0, 1.0];
        assert!((dihedral(&p) + PI / 2.0).abs() < 1e-15);
        // invariant under scaling and translating the points, and lengthening the axis
        let s = turned(1.0).map(|v| v.map(|c| 3.0 * c + 0.7));
        assert!((dihedral(&s) - 1.0).abs() < 1e-14);
        let mut l = turned(1.0);
        l[2][2] = 5.0;
        l[3][2] = 5.0;
        assert!((dihedral(&l) - 1.0).abs() < 1e-14);
        // reversing the order keeps the sign; a mirror image flips it
        let r = turned(1.0);
        assert!((dihedral(&[r[3], r[2], r[1], r[0]]) - 1.0).abs() < 1e-14);
        let m = r.map(|[a, b, c]| [a, -b, c]);
        assert!((dihedral(&m) + 1.0).abs() < 1e-14);
    }

    #[test]
    fn dihedral_degenerate_and_nan() {
        let mut p = turned(0.5);
        p[3] = p[2];
        assert_eq!(dihedral(&p), 0.0);
        p = turned(0.5);
        p[0] = [0.0, 0.0, -1.0];
        assert_eq!(dihedral(&p), 0.0, "collinear p₀ p₁ p₂");
        p[0] = [f64::NAN, 0.0, 0.0];
        assert!(dihedral(&p).is_nan());
    }

    #[test]
    fn boltzgen_stores_the_negated_dihedral() {
        // raw internal coordinate 17 is −φ (z-matrix row 4: atom 4 with [6, 8, 14])
        let q = super::super::internal::raw_internal(&super::super::frame(&X_REF));
        let [phi, psi] = phi_psi(&X_REF);
        assert!((q[17] + phi).abs() < 1e-14);
        // row 13 (atom 16 with [14, 8, 6]) is −ψ
        assert!((q[44] + psi).abs() < 1e-14);
    }

    /// Where the basins sit in the sampler's coordinates (docs/aldp.md, "Where the basins
    /// sit in x"): X_ref's angles, and `x₁₇`, `x₄₄` at the basin edges through the map
    /// `angle = angle(X_ref) − (π + 10⁻⁴)·tanh(x)`.
    #[test]
    fn the_basin_edges_in_the_circular_coordinates() {
        let a = Aldp::new();
        let [phi0, psi0] = phi_psi(&X_REF);
        assert!(
            (phi0.to_degrees() + 145.82).abs() < 0.01,
            "{}",
            phi0.to_degrees()
        );
        assert!(
            (psi0.to_degrees() - 150.26).abs() < 0.01,
            "{}",
            psi0.to_degrees()
        );
        let at = |k: usize, v: f64| {
            let mut x = [0.0; DIM];
            x[k] = v;
            let [p, q] = a.phi_psi(&x);
            [p.to_degrees(), q.to_degrees()]
        };
        // φ = ±180° at x₁₇ ≈ 0.19, the αL wells' edge φ = 120° at x₁₇ ≈ 0.58, φ = 0 at −1.13
        assert!(at(17, 0.18)[0] < -177.0 && at(17, 0.20)[0] > 178.0);
        assert!(at(17, 0.57)[0] > 120.0 && at(17, 0.59)[0] < 120.0);
        assert!(at(17, -1.12)[0] < 0.0 && at(17, -1.14)[0] > 0.0);
        // αR's ψ = −120° at x₄₄ ≈ −0.55, its centre ψ ≈ −40° at −1.78, ψ = 50° at 0.63,
        // and the map's seam ψ(X_ref) ± 180° = −29.7° inside αR
        assert!(at(44, -0.54)[1] < -120.0 && at(44, -0.56)[1] > -120.0);
        assert!((at(44, -1.78)[1] + 40.0).abs() < 0.5);
        assert!(at(44, 0.62)[1] > 50.0 && at(44, 0.64)[1] < 50.0);
        assert!((at(44, 30.0)[1] + 29.74).abs() < 0.01 && (at(44, -30.0)[1] + 29.74).abs() < 0.01);
    }

    #[test]
    fn phi_psi_from_x_matches_positions() {
        let a = Aldp::new();
        let want = phi_psi(&X_REF);
        let got = a.phi_psi(&[0.0; DIM]);
        assert!((got[0] - want[0]).abs() < 1e-12 && (got[1] - want[1]).abs() < 1e-12);
        // rotating φ by its circular coordinate: x₁₇ = atanh(z/(π+1e-4)), z₁₇ = (−φ − μ)
        let mut x = [0.0; DIM];
        x[17] = 0.3;
        let (z, _) = Aldp::z_from_x(&x);
        let got = a.phi_psi(&x);
        assert!((wrap_angle(got[0] - want[0]) + z[17]).abs() < 1e-12);
        assert!((got[1] - want[1]).abs() < 1e-12, "ψ does not move");
    }

    #[test]
    fn wrap_keeps_the_range_and_the_bits() {
        for t in [-PI, -1.0, 0.0, 1.0, PI - 1e-15] {
            assert_eq!(wrap_angle(t).to_bits(), t.to_bits());
        }
        assert_eq!(wrap_angle(PI), -PI);
        assert!((wrap_angle(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-15);
        assert!((wrap_angle(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-15);
        assert!((wrap_angle(7.0 * PI + 0.25) - (-PI + 0.25)).abs() < 1e-13);
    }

    #[test]
    fn basin_edges() {
        let d = |deg: f64| deg * PI / 180.0;
        let [lo, hi] = Basin::ALPHA_R_PSI;
        use Basin::*;
        // typical points of each basin
        assert_eq!(Basin::of(d(-80.0), d(70.0)), Some(BetaC7eq), "C7eq");
        assert_eq!(Basin::of(d(-150.0), d(150.0)), Some(BetaC7eq), "β");
        assert_eq!(
            Basin::of(d(-150.0), d(-170.0)),
            Some(BetaC7eq),
            "β across ±180"
        );
        assert_eq!(Basin::of(d(-70.0), d(-40.0)), Some(AlphaR));
        assert_eq!(Basin::of(d(60.0), d(40.0)), Some(AlphaL));
        assert_eq!(Basin::of(d(70.0), d(-70.0)), Some(AlphaL), "C7ax");
        // φ boundaries: 0 and ±180 are on the φ ≤ 0 side
        assert_eq!(Basin::of(0.0, 0.0), Some(AlphaR));
        assert_eq!(Basin::of(-0.0, 0.0), Some(AlphaR));
        assert_eq!(Basin::of(1e-300, 0.0), Some(AlphaL));
        assert_eq!(Basin::of(PI, 0.0), Some(AlphaR), "φ = 180° is φ = −180°");
        assert_eq!(Basin::of(-PI, 0.0), Some(AlphaR));
        assert_eq!(Basin::of(PI - 1e-12, 0.0), Some(AlphaL));
        // ψ boundaries: [−120°, 50°) is αR
        assert_eq!(Basin::of(-1.0, lo), Some(AlphaR));
        assert_eq!(Basin::of(-1.0, lo - 1e-12), Some(BetaC7eq));
        assert_eq!(Basin::of(-1.0, hi), Some(BetaC7eq));
        assert_eq!(Basin::of(-1.0, hi - 1e-12), Some(AlphaR));
        assert_eq!(Basin::of(-1.0, PI), Some(BetaC7eq));
        assert_eq!(Basin::of(-1.0, -PI), Some(BetaC7eq));
        // angles outside [−π, π) are wrapped first
        assert_eq!(
            Basin::of(d(-80.0) + 2.0 * PI, d(70.0) - 4.0 * PI),
            Some(BetaC7eq)
        );
        assert_eq!(Basin::of(d(60.0) - 2.0 * PI, 0.0), Some(AlphaL));
        // non-finite
        assert_eq!(Basin::of(f64::NAN, 0.0), None);
        assert_eq!(Basin::of(0.0, f64::INFINITY), None);
        for (k, b) in Basin::ALL.iter().enumerate() {
            assert_eq!(b.index(), k);
        }
        assert_eq!(
            Basin::of(phi_psi(&X_REF)[0], phi_psi(&X_REF)[1]),
            Some(BetaC7eq)
        );
    }
}
