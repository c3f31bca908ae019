//! Writes the playground's ALDP reference asset, `www/aldp-reference.json`: φ/ψ of every
//! row of `results/aldp/reference-x.csv.gz` (the kernel's reconstruction, rounded to 10⁻⁴
//! rad) and the basin populations of all rows ([`amortise::aldp::PageAsset`]).
//!
//! ```text
//! cargo run --example aldp_page_asset            # writes the file
//! cargo run --example aldp_page_asset -- --check # exits 1 if it differs from a fresh one
//! ```
//!
//! `cargo test --test aldp_reference` runs the same check.

use std::process::ExitCode;

use amortise::aldp::{PAGE_ASSET, PageAsset, Reference};
use amortise_kernel::targets::Aldp;

/// The reference samples the asset is made from.
const SOURCE: &str = "results/aldp/reference-x.csv.gz";

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|a| a == "--check");
    let root = env!("CARGO_MANIFEST_DIR");
    let text = Reference::load(&Aldp::new(), &format!("{root}/{SOURCE}"), 0)
        .and_then(|r| PageAsset::new(&r, SOURCE).json());
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("aldp_page_asset: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = format!("{root}/{PAGE_ASSET}");
    if check {
        let same = std::fs::read_to_string(&out).is_ok_and(|old| old == text);
        println!(
            "{PAGE_ASSET}: {}",
            if same {
                "up to date"
            } else {
                "differs from a fresh run"
            }
        );
        return if same {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match std::fs::write(&out, &text) {
        Ok(()) => {
            println!("wrote {PAGE_ASSET} ({} bytes)", text.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aldp_page_asset: writing {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
