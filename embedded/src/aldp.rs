//! Stage 3: the alanine-dipeptide energy and its analytic gradient (`f64` inside), evaluated
//! at fixed points.
//!
//! - The Cartesian energy of AMBER ff96 + OBC1 (`amortise_kernel::targets::aldp::energy_grad`)
//!   at the reference structure `X_REF`: every term, the total and a checksum of the gradient.
//! - The 60-dimensional target [`Aldp`] (internal coordinates, `tanh` on the dihedrals,
//!   NeRF, energy cut, chirality penalty) at `x = 0` and at [`PERTURBATIONS`] deterministic
//!   Gaussian perturbations `x = σ·ξ`, `ξ ~ N(0, I)` from the kernel's pinned PRNG (seed
//!   [`SEED`]): the `f64` energy `E(x)` (kT) and gradient through `Aldp::energy_grad`, and
//!   the `f32` log density and gradient through the `LogDensity` interface the samplers use.
//!
//! Every number is printed with its bit pattern and every gradient is summarised by an
//! FNV-1a 64 checksum of its bits, so a text comparison of two runs is a bit-for-bit
//! comparison of all 66 + 4·60 gradient values. The stage's checksum chains them all.

use crate::checksum::{FNV_OFFSET, fnv1a_bytes, fnv1a_f32};
use crate::error::{RunError, check_arena};
use crate::{f32_field, f64_field};
use amortise_kernel::rng;
use amortise_kernel::targets::LogDensity;
use amortise_kernel::targets::aldp::{self, Aldp, DIM, N_ATOMS, Positions, params::X_REF};
use core::fmt::Write;

/// Seed of the pinned PRNG for the perturbations (the other stages' seed).
pub const SEED: u64 = 9;
/// Standard deviations `σ` of the perturbed points, one point each (after `x = 0`). The
/// larger one moves the dihedrals well into the `tanh` map and the energy far from its
/// minimum.
pub const PERTURBATIONS: [f64; 2] = [0.1, 0.5];

/// Arena lengths `(f32, u32)` this stage needs: the `f32` point and gradient of the
/// `LogDensity` interface. The `f64` work (a few KiB) is on the stack.
///
/// # Errors
/// None; a `Result` like the other stages'.
pub fn needs() -> Result<(usize, usize), amortise_kernel::Error> {
    Ok((2 * DIM, 0))
}

/// FNV-1a 64 of `f64` bits, continuing from `h`.
fn fnv1a_f64(h: u64, xs: &[f64]) -> u64 {
    xs.iter()
        .fold(h, |h, x| fnv1a_bytes(h, &x.to_bits().to_le_bytes()))
}

/// Runs the stage, printing its report to `out`; returns the checksum of every energy and
/// gradient it printed.
///
/// # Errors
/// [`RunError::ArenaTooSmall`] if the `f32` arena is shorter than [`needs`]; output errors.
pub fn run<W: Write>(f32s: &mut [f32], u32s: &mut [u32], out: &mut W) -> Result<u64, RunError> {
    let (need_f, need_u) = needs()?;
    check_arena("f32", need_f, f32s.len())?;
    check_arena("u32", need_u, u32s.len())?;
    writeln!(
        out,
        "aldp: atoms={N_ATOMS} dim={DIM} points={} seed={SEED}",
        1 + PERTURBATIONS.len()
    )?;
    let mut all = FNV_OFFSET;

    // The Cartesian force field at the reference structure.
    let mut gx: Positions = [[0.0; 3]; N_ATOMS];
    let t = aldp::energy_grad(&X_REF, &mut gx);
    let gsum = fnv1a_f64(FNV_OFFSET, gx.as_flattened());
    write!(out, "cartesian: x_ref")?;
    f64_field(out, "bond", t.bond)?;
    f64_field(out, "angle", t.angle)?;
    f64_field(out, "torsion", t.torsion)?;
    f64_field(out, "coulomb", t.coulomb)?;
    f64_field(out, "lj", t.lj)?;
    f64_field(out, "gb_self", t.gb.self_energy)?;
    f64_field(out, "ace", t.gb.ace)?;
    f64_field(out, "gb_pair", t.gb.pair)?;
    f64_field(out, "total", t.total())?;
    writeln!(out, " grad_fnv1a64={gsum:016x}")?;
    all = fnv1a_f64(all, &[t.total()]);
    all = fnv1a_bytes(all, &gsum.to_le_bytes());

    // The 60-d target at x = 0 and at the perturbations.
    let target = Aldp::new();
    let mut rng = rng::seeded(SEED);
    let (x32, g32) = f32s[..2 * DIM].split_at_mut(DIM);
    for k in 0..=PERTURBATIONS.len() {
        let sigma = if k == 0 { 0.0 } else { PERTURBATIONS[k - 1] };
        // Draw in f32 (the samplers' precision), so the f64 and the f32 interfaces see the
        // same point.
        if k == 0 {
            x32.fill(0.0);
        } else {
            rng::fill_standard_normal(&mut rng, x32);
        }
        let mut x = [0.0f64; DIM];
        for (xi, v) in x.iter_mut().zip(x32.iter_mut()) {
            *v = (sigma * f64::from(*v)) as f32;
            *xi = f64::from(*v);
        }
        let mut g = [0.0f64; DIM];
        let e = target.energy_grad(&x, &mut g);
        let gsum = fnv1a_f64(FNV_OFFSET, &g);
        let lp = target.log_density_grad(x32, g32);
        let gsum32 = fnv1a_f32(g32);
        write!(out, "target: point={k}")?;
        f64_field(out, "sigma", sigma)?;
        f64_field(out, "energy", e)?;
        writeln!(out, " grad_fnv1a64={gsum:016x}")?;
        write!(out, "target: point={k}")?;
        f32_field(out, "log_density", lp)?;
        f32_field(out, "grad0", g32[0])?;
        writeln!(out, " grad_f32_fnv1a64={gsum32:016x}")?;
        all = fnv1a_f64(all, &[e]);
        all = fnv1a_bytes(all, &gsum.to_le_bytes());
        all = fnv1a_bytes(all, &lp.to_bits().to_le_bytes());
        all = fnv1a_bytes(all, &gsum32.to_le_bytes());
    }
    writeln!(out, "aldp: outputs fnv1a64={all:016x}")?;
    Ok(all)
}
