//! `cargo xtask fuzz [--seconds S] [--smoke] [TARGET...]`: fuzz the parsers and entry points
//! that take outside bytes (checkpoint, csv, cli_args, snapshot, wasm_settings).
//!
//! - With a nightly toolchain and `cargo-fuzz` (installed with `cargo install cargo-fuzz` when
//!   nightly is present but cargo-fuzz is missing; 145 s cold on the 2-core dev machine),
//!   each target runs under libFuzzer for `S` seconds (default 60):
//!   `cargo +nightly fuzz run -O TARGET fuzz/corpus-work/TARGET fuzz/corpus/TARGET`. New
//!   inputs go to the git-ignored `fuzz/corpus-work/`; a crash leaves its reproducer in
//!   `fuzz/artifacts/TARGET/` and fails the command (copy it into `fuzz/corpus/TARGET/` and
//!   add a regression test).
//! - Otherwise (or with `--smoke`), the stable smoke run: `tests/robustness_fuzz.rs` replays
//!   the committed corpus and then seeded mutations of it through the same functions for `S`
//!   seconds per target.
//!
//! `cargo xtask test` runs the smoke mode for 5 s per target: installing cargo-fuzz and
//! building the libFuzzer binaries cold (about 7 minutes on the dev machine) does not fit
//! its budget.

use crate::{output_of, root, run, run_in};

/// The fuzz targets (folders of `fuzz/corpus/`, binaries of `fuzz/`).
pub const TARGETS: [&str; 5] = ["checkpoint", "csv", "cli_args", "snapshot", "wasm_settings"];

/// Seconds per target of the smoke run inside `cargo xtask test`.
pub const TEST_SMOKE_SECONDS: u64 = 5;

struct Options {
    seconds: u64,
    smoke: bool,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        seconds: 60,
        smoke: false,
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                o.seconds =
                    v.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                        format!("--seconds: `{v}` is not a positive whole number")
                    })?;
            }
            "--smoke" => o.smoke = true,
            t if TARGETS.contains(&t) => o.targets.push(t.to_string()),
            other => {
                return Err(format!(
                    "fuzz: unknown argument `{other}` (--seconds S, --smoke, or targets: {})",
                    TARGETS.join(", ")
                ));
            }
        }
    }
    if o.targets.is_empty() {
        o.targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    Ok(o)
}

/// `cargo xtask fuzz ...`.
pub fn fuzz_cmd(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    if !o.smoke && libfuzzer_available()? {
        return libfuzzer(&o);
    }
    if !o.smoke {
        println!("==> fuzz: no nightly toolchain, so the stable smoke run instead of libFuzzer");
    }
    smoke(o.seconds)
}

/// Whether `cargo +nightly fuzz` can run; installs cargo-fuzz when only it is missing.
fn libfuzzer_available() -> Result<bool, String> {
    let toolchains = output_of("rustup", &["toolchain", "list"]).unwrap_or_default();
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        return Ok(false);
    }
    if output_of("cargo", &["fuzz", "--version"]).is_none() {
        run(
            "install cargo-fuzz",
            "cargo",
            &["install", "cargo-fuzz"],
            &[],
        )?;
    }
    Ok(true)
}

fn libfuzzer(o: &Options) -> Result<(), String> {
    let dir = root().join("fuzz");
    let max_time = format!("-max_total_time={}", o.seconds);
    for t in &o.targets {
        let work = format!("corpus-work/{t}");
        std::fs::create_dir_all(dir.join(&work)).map_err(|e| format!("{work}: {e}"))?;
        let seeds = format!("corpus/{t}");
        run_in(
            &format!("libFuzzer {t} ({} s)", o.seconds),
            &dir,
            "cargo",
            &[
                "+nightly",
                "fuzz",
                "run",
                "-O",
                t,
                &work,
                &seeds,
                "--",
                &max_time,
                "-rss_limit_mb=2048",
                "-timeout=10",
            ],
            // every playground handle owns and frees its memory, so LeakSanitizer stays on
            &[],
        )?;
    }
    Ok(())
}

/// The stable smoke run: `seconds` per target.
pub fn smoke(seconds: u64) -> Result<(), String> {
    let s = seconds.to_string();
    run(
        &format!("fuzz smoke (corpus + {s} s of seeded mutations per target)"),
        "cargo",
        &[
            "test",
            "-p",
            "amortise",
            "--test",
            "robustness_fuzz",
            "--",
            "--nocapture",
        ],
        &[("AMORTISE_FUZZ_SECONDS", &s)],
    )
}
