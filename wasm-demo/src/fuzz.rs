//! Fuzz entry point for the playground's settings validation, natively (the
//! `#[wasm_bindgen]` handles are thin wrappers over these plain-Rust cores). Driven by
//! `fuzz/fuzz_targets/wasm_settings.rs` (libFuzzer) and by the stable smoke run of the root
//! package (`tests/robustness_fuzz.rs`). Not compiled for wasm32.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::grid::GridSpec;
use crate::smc::{SmcCore, SmcSettings};
use crate::train::{TrainCore, parse_settings};

/// Training cores one process builds at most (building and stepping one is the slow part
/// of an input, see [`settings`]).
pub const MAX_TRAIN_CORES: usize = 64;

static BUILT: AtomicUsize = AtomicUsize::new(0);

/// Targets the SMC playground is tried with (plus whatever name the input spells).
const SMC_TARGETS: [&str; 6] = ["gmm40", "9gmm", "funnel", "many-well", "gaussian", "lj13"];

fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = data.len().min(N);
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

/// Builds a playground core from fuzz bytes and, when it is accepted and small, runs one
/// step and a density grid.
///
/// Byte 0 chooses the playground. Even: the rest is the `TrainPlayground` settings query
/// (`key=value&…`, lossy UTF-8) given to `train::parse_settings` and `TrainCore::new`. Odd:
/// the rest is `SmcPlayground::new`'s arguments (target index or name, dim, particles,
/// seed, base std, target CESS, MALA steps) in little-endian bytes, and four grid bounds.
///
/// At most [`MAX_TRAIN_CORES`] training cores are built per process, to keep inputs fast.
///
/// # Panics
/// Only on a bug: a panic inside a constructor or step, or an accepted run reporting a NaN.
pub fn settings(data: &[u8]) {
    let Some((&which, mut rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let query = String::from_utf8_lossy(rest);
        let Ok(s) = parse_settings(&query) else {
            return;
        };
        // Building and stepping a core is the slow part of an input, so in one fuzzing
        // process only the first `MAX_TRAIN_CORES` accepted settings build a core; every
        // later input runs the same validation (`train_config` and the arena layout)
        // without building one.
        let Ok(cfg) = s.train_config() else {
            return;
        };
        let _ = amortise_kernel::samplers::diffusion::train::Layout::new(&cfg, 2);
        if BUILT.fetch_add(1, Ordering::Relaxed) >= MAX_TRAIN_CORES {
            return;
        }
        let Ok(mut core) = TrainCore::new(&s) else {
            return;
        };
        let small = s.batch * s.steps * s.hidden <= 20_000 && s.particles * s.steps <= 20_000;
        if small && core.step(1).is_ok() {
            assert!(!core.loss().is_nan() || core.iteration() == 0, "NaN loss");
        }
        return;
    }
    let [t] = take::<1>(&mut rest);
    let name_len = (t / 8) as usize;
    let target = if name_len == 0 {
        SMC_TARGETS[t as usize % SMC_TARGETS.len()].to_string()
    } else {
        let n = name_len.min(rest.len());
        let name = String::from_utf8_lossy(&rest[..n]).into_owned();
        rest = &rest[n..];
        name
    };
    let s = SmcSettings {
        dim: u16::from_le_bytes(take(&mut rest)) as usize,
        n_particles: u32::from_le_bytes(take(&mut rest)) as usize,
        seed: u32::from_le_bytes(take(&mut rest)),
        base_std: f32::from_le_bytes(take(&mut rest)),
        target_cess: f64::from_le_bytes(take(&mut rest)),
        mala_steps: u8::from_le_bytes(take(&mut rest)) as u32,
    };
    let Ok(mut core) = SmcCore::new(&target, &s) else {
        return;
    };
    if core.n_particles() * core.dim() <= 4_000 && core.step(1).is_ok() && core.failure().is_none()
    {
        assert!(!core.log_z().is_nan(), "NaN log Z with {s:?}");
        assert!(!core.beta().is_nan(), "NaN beta with {s:?}");
    }
    let b = [0; 4].map(|_| f64::from_le_bytes(take(&mut rest)));
    let side = u8::from_le_bytes(take(&mut rest)) as usize % 64;
    let spec = GridSpec {
        xmin: b[0],
        xmax: b[1],
        ymin: b[2],
        ymax: b[3],
        nx: side,
        ny: side,
    };
    if let Ok(n) = core.density_grid(&spec) {
        assert_eq!(n, side * side);
    }
}
