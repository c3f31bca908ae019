//! Build automation for amortise: `cargo xtask <command>`.
//!
//! - `cargo xtask test`: everything CI checks, installing what is missing first (Rust
//!   targets). This is the README's test command and what `.ci/run` calls.
//! - `cargo xtask serve [--port P] [--no-build]`: builds the browser playground into `www/pkg/`
//!   (installing `wasm-bindgen-cli` and the npm tools if missing) and serves `www/` on
//!   127.0.0.1, printing the URL.
//! - `cargo xtask bench-web [--no-build] [--smoke] [--workers 1,2 --chunks C --rounds R]`:
//!   builds `www/pkg/` and times the TB training iteration of `benches/wasm_tb.mjs` in
//!   Chromium, in a Web Worker of `www/bench.html`; prints one JSON line (with `--workers`,
//!   the chunked iteration in one worker and in two, alternating rounds, and their ratio;
//!   not part of `test`, which runs only the one-iteration smokes).
//! - `cargo xtask embedded`: builds the firmware of `embedded/` for `thumbv7em-none-eabihf`,
//!   reports its flash and RAM, runs it under `qemu-system-arm` (installed with apt if
//!   missing) and requires its report to equal the native run's, bit for bit.
//! - `cargo xtask fuzz [--seconds S] [--smoke] [TARGET...]`: libFuzzer on the checkpoint,
//!   CSV, command-line and playground-settings targets for `S` seconds each (nightly +
//!   cargo-fuzz), or the stable smoke run of the same functions without nightly.
//! - `cargo xtask check-kernel`: only the `no_std` proofs (builds for the bare-metal and wasm
//!   targets, and the source rules that keep the kernel portable) and the layer rule (lower
//!   layers of the kernel never use higher ones, see `layers.rs`).
//!
//! Every step prints its name, the command and how long it took; the first failure stops the
//! run with a non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod embedded;
mod fuzz;
mod layers;
mod serve;
mod web;

/// `RUSTFLAGS` of a portable host build (replacing `.cargo/config.toml`'s
/// `-C target-cpu=native`).
const PORTABLE_RUSTFLAGS: &str = if cfg!(target_arch = "x86_64") {
    "-C target-cpu=x86-64"
} else {
    "-C target-cpu=generic"
};

/// Cross targets the kernel must build for (the `no_std` proof).
const KERNEL_TARGETS: [&str; 2] = ["thumbv7em-none-eabihf", "wasm32-unknown-unknown"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("help");
    let result = match cmd {
        "test" => test(),
        "test-web" => web::test(),
        "serve" => web::serve_cmd(&args[1..]),
        "bench-web" => web::bench_cmd(&args[1..]),
        "check-kernel" => check_kernel(),
        "embedded" => embedded::embedded_cmd(&args[1..]),
        "fuzz" => fuzz::fuzz_cmd(&args[1..]),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => Err(format!(
            "unknown xtask command `{other}` (try `cargo xtask help`)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "cargo xtask <command>\n\n\
         commands:\n  \
         test          install missing tools, then fmt, clippy, host tests, no_std builds, docs,\n                \
         the web bundle, wasm-bindgen tests under Node and the browser end-to-end test\n  \
         test-web      only the web steps of `test` (bundle, Node tests, reproducibility, Chromium e2e,\n                one-iteration bench-web smoke)\n  \
         serve         build the playground and serve www/ on 127.0.0.1 [--port P] [--no-build]\n  \
         bench-web     the wasm TB iteration in Chromium (in a Worker), one JSON line [--no-build] [--smoke]\n                [--workers 1,2 --chunks C --rounds R]: one worker against two\n  \
         embedded      build the Cortex-M4F firmware, run it under qemu, compare with the native run\n  \
         fuzz          libFuzzer on checkpoint, csv, cli_args, wasm_settings [--seconds S] [--smoke]\n                \
         (falls back to the stable smoke run without a nightly toolchain)\n  \
         check-kernel  only the kernel's no_std builds, source rules and layer rules\n"
    );
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs one step in the repository root, echoing it and its wall time; fails on a non-zero
/// exit.
pub(crate) fn run(
    name: &str,
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Result<(), String> {
    run_in(name, &root(), program, args, envs)
}

/// [`run`] in the folder `dir`.
pub(crate) fn run_in(
    name: &str,
    dir: &Path,
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Result<(), String> {
    println!("==> {name}: {program} {}", args.join(" "));
    let t0 = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .status()
        .map_err(|e| format!("{name}: could not start `{program}`: {e}"))?;
    let secs = t0.elapsed().as_secs_f64();
    if status.success() {
        println!("    {name}: ok ({secs:.1} s)");
        Ok(())
    } else {
        Err(format!("{name} failed ({status}) after {secs:.1} s"))
    }
}

pub(crate) fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ensure_rust_targets() -> Result<(), String> {
    let installed = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    let missing: Vec<&str> = KERNEL_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        println!(
            "==> rust targets: {} already installed",
            KERNEL_TARGETS.join(", ")
        );
        return Ok(());
    }
    let mut args = vec!["target", "add"];
    args.extend(missing.iter().copied());
    run("install rust targets", "rustup", &args, &[])
}

/// Most lines of a kernel file before its test module (files that fit in a head); files whose
/// module doc says `GENERATED by` (parameter tables written by a script) are exempt.
const MAX_KERNEL_FILE_LINES: usize = 600;

/// Source rules that keep the kernel portable and reproducible, checked textually:
/// no `alloc`, no `unsafe`, `libm` called only from `math/mod.rs` (the chokepoint), and no
/// non-test file over [`MAX_KERNEL_FILE_LINES`] lines.
fn kernel_source_rules() -> Result<(), String> {
    println!("==> kernel source rules");
    let src = root().join("kernel/src");
    let mut problems = Vec::new();
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    for f in &files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        let rel = f.strip_prefix(root()).unwrap_or(f).display().to_string();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("extern crate alloc") {
                problems.push(format!("{rel}:{}: uses alloc", i + 1));
            }
            if code.contains("unsafe ") || code.contains("unsafe{") {
                problems.push(format!("{rel}:{}: unsafe code", i + 1));
            }
            if code.contains("libm::") && !rel.ends_with("kernel/src/math/mod.rs") {
                problems.push(format!("{rel}:{}: libm called outside math/mod.rs", i + 1));
            }
        }
        let lines = non_test_lines(&text);
        let test_file = f.file_name().is_some_and(|n| n == "tests.rs")
            || f.components().any(|c| c.as_os_str() == "tests");
        if lines > MAX_KERNEL_FILE_LINES && !test_file && !text.contains("GENERATED by") {
            problems.push(format!(
                "{rel}: {lines} lines before its tests (at most {MAX_KERNEL_FILE_LINES}): split it"
            ));
        }
    }
    if problems.is_empty() {
        println!("    kernel source rules: ok ({} files)", files.len());
        Ok(())
    } else {
        Err(format!(
            "kernel source rules broken:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// Lines of a file before its first top-level `#[cfg(test)]` (a test-only file, `#![cfg(test)]`
/// at its top, counts as the lines before that attribute).
fn non_test_lines(text: &str) -> usize {
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]") && !l.starts_with("#![cfg(test)]"))
        .count()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                collect_rs(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
}

fn check_kernel() -> Result<(), String> {
    ensure_rust_targets()?;
    kernel_source_rules()?;
    layers::layer_rules()?;
    for t in KERNEL_TARGETS {
        run(
            &format!("kernel builds for {t} (no_std, no alloc)"),
            "cargo",
            &["build", "--release", "-p", "amortise-kernel", "--target", t],
            &[],
        )?;
    }
    Ok(())
}

fn test() -> Result<(), String> {
    let t0 = Instant::now();
    ensure_rust_targets()?;
    run("format", "cargo", &["fmt", "--all", "--check"], &[])?;
    kernel_source_rules()?;
    layers::layer_rules()?;
    run(
        "clippy (warnings denied)",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run("host tests", "cargo", &["test", "--workspace"], &[])?;
    // Host builds use this CPU's vector width (.cargo/config.toml); the same recorded bits
    // must come out of the x86-64 baseline build that a portable binary is made with.
    run(
        "bit identity of the portable (x86-64 baseline) build",
        "cargo",
        &[
            "test",
            "--test",
            "bit_identity",
            "--target-dir",
            "target/portable",
        ],
        &[("RUSTFLAGS", PORTABLE_RUSTFLAGS)],
    )?;
    // Criterion in test mode: every bench function runs once (no timing); a few seconds.
    run(
        "benches compile and run once (criterion test mode)",
        "cargo",
        &["test", "-p", "amortise", "--bench", "*"],
        &[],
    )?;
    fuzz::smoke(fuzz::TEST_SMOKE_SECONDS)?;
    for t in KERNEL_TARGETS {
        run(
            &format!("kernel builds for {t} (no_std, no alloc)"),
            "cargo",
            &["build", "--release", "-p", "amortise-kernel", "--target", t],
            &[],
        )?;
    }
    embedded::test()?;
    // The kernel as a crate for embedders: it packages and its packaged copy builds alone.
    run(
        "the kernel crate packages (cargo package)",
        "cargo",
        &["package", "-p", "amortise-kernel", "--allow-dirty"],
        &[],
    )?;
    run(
        "rustdoc (warnings denied)",
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    web::test()?;
    println!(
        "==> all checks passed in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::non_test_lines;

    #[test]
    fn file_length_counts_the_lines_before_the_test_module() {
        assert_eq!(non_test_lines("fn a() {}\n\nfn b() {}\n"), 3);
        assert_eq!(
            non_test_lines("fn a() {}\n#[cfg(test)]\nmod tests {\n}\n"),
            1
        );
        assert_eq!(non_test_lines("//! doc\n#![cfg(test)]\nfn t() {}\n"), 1);
        // An indented attribute (inside an item) does not end the count.
        assert_eq!(
            non_test_lines("mod m {\n    #[cfg(test)]\n    fn t() {}\n}\n"),
            4
        );
    }
}
