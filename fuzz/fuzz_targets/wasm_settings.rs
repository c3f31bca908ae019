//! libFuzzer target: `amortise_wasm::fuzz::settings` (the playground cores' constructors).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    amortise_wasm::fuzz::settings(data);
});
