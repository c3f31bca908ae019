//! libFuzzer target: `amortise::fuzz_targets::snapshot` (see that function for the contract).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    amortise::fuzz_targets::snapshot(data);
});
