//! Property tests (proptest) over the kernel's public functions: inputs drawn from the whole
//! range a caller can pass (finite, `-inf`, `+inf`, NaN, duplicates, edge sizes), checked
//! against the documented contract: a typed error or a well-defined result, never a panic,
//! hang or NaN. Case counts are modest (`PROPTEST_CASES` overrides them) so the suite stays
//! fast; a failing input is shrunk and printed by proptest, then kept as a regression test.
//! The seed is fixed (reproducible CI); `PROPTEST_RNG_SEED=<n>` explores other inputs.

mod buffer;
mod mlp;
mod resample;
mod sinkhorn;
mod temper;
mod weights;

use proptest::prelude::*;

/// Cases per property unless `PROPTEST_CASES` is set.
pub const CASES: u32 = 256;

/// The proptest settings of this suite: [`CASES`] cases, a fixed seed so that CI runs are
/// reproducible (set `PROPTEST_RNG_SEED` to explore other inputs), and no failure
/// persistence files (the regressions found are written out as ordinary tests instead).
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    let default = ProptestConfig::default(); // reads PROPTEST_RNG_SEED
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        default.rng_seed
    } else {
        proptest::test_runner::RngSeed::Fixed(0x616d_6f72_7469_7365)
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed,
        ..default
    }
}

/// A log-weight: mostly finite (ordinary and extreme magnitudes), sometimes `-inf`, `+inf`
/// or NaN.
pub fn log_weight() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -50.0f32..50.0,
        2 => prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO,
        1 => Just(f32::MAX),
        1 => Just(-f32::MAX),
        2 => Just(f32::NEG_INFINITY),
        2 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
    ]
}

/// A log-weight that is never `+inf` (finite, `-inf` or NaN).
pub fn log_weight_no_pos_inf() -> impl Strategy<Value = f32> {
    log_weight().prop_map(|x| if x == f32::INFINITY { f32::NAN } else { x })
}
