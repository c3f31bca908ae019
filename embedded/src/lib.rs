//! # amortise-embedded
//!
//! The embedded proof of amortise: the `no_std` kernel trains a sampler on a Cortex-M4F
//! (`thumbv7em-none-eabihf`, run under `qemu-system-arm -machine mps2-an386`) with static
//! memory only, and prints numbers that a native run of the same code reproduces bit for bit.
//!
//! - [`run`] is the whole program: it runs each stage in turn over one pair of static arenas
//!   ([`Arenas`]) and writes a text report to any [`core::fmt::Write`].
//! - The firmware binary (`src/main.rs`, `target_os = "none"`) takes the arenas from a
//!   `static` and writes to semihosting; on the host the same binary writes to stdout. The
//!   xtask (`cargo xtask embedded`) runs both and compares the reports line by line.
//! - Stages, in order: [`diffusion`] (RSMC training, then SMC with learnt twists),
//!   [`gflownet`] (TB on a 2-D hypergrid, then TV/JSD against exact enumeration), then
//!   [`aldp`] (the alanine-dipeptide energy and gradient, `f64` inside, at fixed points). A
//!   stage is one function `run(f32s, u32s, out) -> Result<u64, RunError>` returning its
//!   checksum (of the trained parameters, or of the ALDP outputs), plus `needs()` for its
//!   arena sizes; a new stage is one more module and one more line in [`run`] and
//!   [`needs`].
//!
//! No allocation and no `unsafe`: memory is two fixed-size arrays whose lengths
//! ([`F32_ARENA`], [`U32_ARENA`]) are checked against the configuration at start-up; a too
//! small arena is a printed error ([`RunError::ArenaTooSmall`]), not a panic.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use amortise_kernel::checksum;
pub mod aldp;
pub mod diffusion;
pub mod error;
pub mod gflownet;

pub use error::RunError;

use checksum::{FNV_OFFSET, fnv1a_bytes};
use core::fmt::Write;

/// Length of the `f32` arena (values). Sized by hand from [`needs`] for the tiny
/// configuration (the diffusion stage needs the most); the `native` test checks it.
pub const F32_ARENA: usize = 11520;
/// Length of the `u32` arena (values; the GFlowNet stage's trajectory states and actions
/// need the most).
pub const U32_ARENA: usize = 320;

// The RAM budget at compile time: `memory.x` gives `.data` + `.bss` 48 KiB next to a 16 KiB
// stack; the arenas may take 47 KiB of it (the rest, a few bytes today, is the runtime's
// and the cell's).
const _: () = assert!(
    4 * (F32_ARENA + U32_ARENA) <= 47 * 1024,
    "the arenas exceed the 64 KiB RAM budget (see memory.x)"
);

/// The two static arenas every stage carves its buffers from (one stage at a time).
#[derive(Debug)]
pub struct Arenas {
    /// `f32` storage: parameters, gradients, Adam moments, trajectories, particles, log
    /// weights, the replay buffer.
    pub f32s: [f32; F32_ARENA],
    /// `u32` storage: ancestor indices, buffer orders and draws.
    pub u32s: [u32; U32_ARENA],
}

impl Arenas {
    /// Zeroed arenas (a `const fn`, so a `static` of it lives in `.bss`).
    pub const fn new() -> Self {
        Arenas {
            f32s: [0.0; F32_ARENA],
            u32s: [0; U32_ARENA],
        }
    }
}

impl Default for Arenas {
    fn default() -> Self {
        Self::new()
    }
}

/// Arena lengths `(f32, u32)` the stages need: the maximum over stages (they run one after
/// the other over the same arenas).
///
/// # Errors
/// Configuration errors from the kernel.
pub fn needs() -> Result<(usize, usize), amortise_kernel::Error> {
    let (df, du) = diffusion::needs()?;
    let (gf, gu) = gflownet::needs()?;
    let (af, au) = aldp::needs()?;
    Ok((df.max(gf).max(af), du.max(gu).max(au)))
}

/// Writes ` name=value (0xbits)` for an `f32` (the value, and its bits for the comparison).
pub(crate) fn f32_field<W: Write>(out: &mut W, name: &str, x: f32) -> core::fmt::Result {
    write!(out, " {name}={x} (0x{:08x})", x.to_bits())
}

/// Writes ` name=value (0xbits)` for an `f64`.
pub(crate) fn f64_field<W: Write>(out: &mut W, name: &str, x: f64) -> core::fmt::Result {
    write!(out, " {name}={x} (0x{:016x})", x.to_bits())
}

/// Runs every stage and writes the report. The report is the same text on every platform
/// for the same code: it holds no timings and no platform names.
///
/// # Errors
/// The first stage error (see [`RunError`]).
pub fn run<W: Write>(arenas: &mut Arenas, out: &mut W) -> Result<(), RunError> {
    writeln!(out, "amortise-embedded {}", env!("CARGO_PKG_VERSION"))?;
    let diffusion = diffusion::run(&mut arenas.f32s, &mut arenas.u32s, out)?;
    let gflownet = gflownet::run(&mut arenas.f32s, &mut arenas.u32s, out)?;
    let aldp = aldp::run(&mut arenas.f32s, &mut arenas.u32s, out)?;
    let all = [diffusion, gflownet, aldp]
        .iter()
        .fold(FNV_OFFSET, |h, c| fnv1a_bytes(h, &c.to_le_bytes()));
    writeln!(out, "checksum: fnv1a64={all:016x}")?;
    writeln!(out, "done")?;
    Ok(())
}
