//! libFuzzer target: `amortise::fuzz_targets::cli_args` (see that function for the contract).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    amortise::fuzz_targets::cli_args(data);
});
