//! Alanine dipeptide (ALDP, 22 atoms) at 300 K: the molecular target of the RSMC paper.
//!
//! Two layers, both in `f64` with analytic gradients:
//!
//! - **The Cartesian energy** [`energy`] / [`energy_grad`] of AMBER ff96 with OBC1 implicit
//!   solvent, term by term as OpenMM 8.6.1 computes the System of
//!   `openmmtools.testsystems.AlanineDipeptideImplicit(constraints=None)` (no cutoff, no
//!   constraints): harmonic bonds and angles, periodic proper and improper torsions, Coulomb
//!   and Lennard-Jones over all pairs except 57 exclusions, 41 scaled one-four pairs, and the
//!   OBC1 generalised Born force with the ACE surface term ([`gb_energy_grad`]). The
//!   parameters are `const` tables generated from the live OpenMM System by
//!   `scripts/aldp/openmm_export.py` ([`params`]); positions in nm, energies in kJ/mol.
//! - **The 60-dimensional target** [`Aldp`]: the RSMC sampler's space (Choi et al. 2025,
//!   `energies/aldp.py`), built on boltzgen's internal coordinates (FAB, Midgley et al. 2023).
//!   See [`Aldp`] for the whole chain `x → z → X → E`.
//! - **Evaluation**: the backbone dihedrals [`phi_psi`] (mdtraj's [`dihedral`], atoms
//!   [`PHI_ATOMS`] and [`PSI_ATOMS`]; [`Aldp::phi_psi`] from the 60-d `x`) and the three
//!   basins [`Basin`] (β/C7eq, αR, αL). The histogram KL divergences over φ, ψ and the
//!   Ramachandran plane are generic: [`crate::metrics::histogram`].
//!
//! A point where two atoms coincide has no finite energy (the Coulomb and GB terms divide by
//! the distance): [`energy`] is then NaN or infinite, which [`Aldp`] maps to its documented
//! cap.

use nalgebra::Vector3;

mod bonded;
mod gb;
mod internal;
mod nonbonded;
#[rustfmt::skip]
pub mod params;
mod ramachandran;
mod scale;
mod seams;
mod target;
#[cfg(test)]
mod tests;

pub use gb::GbTerms;
pub use internal::{DIM, GAUGE, IND_CIRC, STD, Z_MATRIX};
pub use params::N_ATOMS;
pub use ramachandran::{Basin, PHI_ATOMS, PSI_ATOMS, dihedral, phi_psi, wrap_angle};
pub use target::Aldp;

/// Cartesian positions (or gradients) of the 22 atoms, `[atom][x, y, z]`, in nm (kJ mol⁻¹
/// nm⁻¹), atoms in the PDB order of [`params::NAMES`].
pub type Positions = [[f64; 3]; N_ATOMS];

/// A 3-vector.
type V3 = Vector3<f64>;
/// Positions as 3-vectors.
type Frame = [V3; N_ATOMS];

/// `√x` through the kernel's math chokepoint, never inlined. On x86-64 `libm`'s square root
/// is inline assembly in the legacy SSE encoding, which stalls when it runs inside AVX code
/// (the compiler clears the upper vector state before a call, not before inline assembly);
/// behind a call the ALDP gradient runs 2–3× faster on an AVX-512 host. Same bits either way.
#[inline(never)]
fn sqrt(x: f64) -> f64 {
    crate::math::sqrt(x)
}

/// `|v|`.
#[inline]
fn norm(v: &V3) -> f64 {
    sqrt(v.norm_squared())
}

fn frame(p: &Positions) -> Frame {
    p.map(|[a, b, c]| V3::new(a, b, c))
}

fn unframe(f: &Frame) -> Positions {
    f.map(|v| [v.x, v.y, v.z])
}

/// Every atom index of the generated tables is below [`N_ATOMS`] (checked at compile time, so
/// the loops over them cannot index out of bounds).
const fn indices_in_range() -> bool {
    use params::{ANGLES, BONDS, EXCLUSIONS, PAIRS14, TORSIONS};
    let n = N_ATOMS as u8;
    let mut k = 0;
    while k < BONDS.len() {
        if BONDS[k].i >= n || BONDS[k].j >= n {
            return false;
        }
        k += 1;
    }
    k = 0;
    while k < ANGLES.len() {
        if ANGLES[k].i >= n || ANGLES[k].j >= n || ANGLES[k].k >= n {
            return false;
        }
        k += 1;
    }
    k = 0;
    while k < TORSIONS.len() {
        let [a, b, c, d] = TORSIONS[k].atoms;
        if a >= n || b >= n || c >= n || d >= n {
            return false;
        }
        k += 1;
    }
    k = 0;
    while k < PAIRS14.len() {
        if PAIRS14[k].i >= n || PAIRS14[k].j >= n {
            return false;
        }
        k += 1;
    }
    k = 0;
    while k < EXCLUSIONS.len() {
        if EXCLUSIONS[k][0] >= n || EXCLUSIONS[k][1] >= n {
            return false;
        }
        k += 1;
    }
    true
}
const _: () = assert!(indices_in_range());

/// The energy of one configuration, term by term (kJ/mol).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Terms {
    /// Harmonic bonds `Σ ½k(r − r₀)²`.
    pub bond: f64,
    /// Harmonic angles `Σ ½k(θ − θ₀)²`.
    pub angle: f64,
    /// Periodic torsions `Σ k(1 + cos(nφ − δ))`, proper and improper.
    pub torsion: f64,
    /// Coulomb, including the scaled one-four pairs.
    pub coulomb: f64,
    /// Lennard-Jones, including the scaled one-four pairs.
    pub lj: f64,
    /// The three generalised-Born terms.
    pub gb: GbTerms,
}

impl Terms {
    /// The total potential energy: the sum of every term, in the order of the fields.
    pub fn total(&self) -> f64 {
        self.bond
            + self.angle
            + self.torsion
            + self.coulomb
            + self.lj
            + self.gb.self_energy
            + self.gb.ace
            + self.gb.pair
    }
}

/// All terms at `x`; when given, `grad` (a zeroed frame) receives `∂E/∂X`.
fn terms(x: &Frame, mut grad: Option<&mut Frame>) -> Terms {
    let bond = bonded::bonds(x, grad.as_deref_mut());
    let angle = bonded::angles(x, grad.as_deref_mut());
    let torsion = bonded::torsions(x, grad.as_deref_mut());
    let (coulomb, lj) = nonbonded::coulomb_lj(x, grad.as_deref_mut());
    let gb = gb::gb(x, grad);
    Terms {
        bond,
        angle,
        torsion,
        coulomb,
        lj,
        gb,
    }
}

/// The potential energy of the Cartesian positions `x` (nm), term by term (kJ/mol).
pub fn energy(x: &Positions) -> Terms {
    terms(&frame(x), None)
}

/// [`energy`] and its gradient: `grad` is overwritten with `∂E/∂X` (kJ mol⁻¹ nm⁻¹, minus
/// the forces).
pub fn energy_grad(x: &Positions, grad: &mut Positions) -> Terms {
    let mut g = [V3::zeros(); N_ATOMS];
    let t = terms(&frame(x), Some(&mut g));
    *grad = unframe(&g);
    t
}

/// The generalised-Born terms alone and their gradient (`grad` overwritten with `∂E_GB/∂X`).
pub fn gb_energy_grad(x: &Positions, grad: &mut Positions) -> GbTerms {
    let mut g = [V3::zeros(); N_ATOMS];
    let t = gb::gb(&frame(x), Some(&mut g));
    *grad = unframe(&g);
    t
}
