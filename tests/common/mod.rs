//! Helpers shared by the integration tests that run the `amortise` binary. Each test file
//! uses a subset, hence `dead_code` is allowed here.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the binary under test with `args` and collects its output.
pub fn amortise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amortise"))
        .args(args)
        .output()
        .expect("binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `name` inside a folder of its own for this test process (created if missing).
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("amortise-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `amortise metric KIND --a A --b B [extra]`, whatever its outcome.
pub fn metric_run(kind: &str, a: &std::path::Path, b: &std::path::Path, extra: &[&str]) -> Output {
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let mut args = vec!["metric", kind, "--a", a, "--b", b];
    args.extend_from_slice(extra);
    amortise(&args)
}

/// `amortise metric KIND --a A --b B [extra] --json`, asserted to succeed, parsed.
pub fn metric_json(
    kind: &str,
    a: &std::path::Path,
    b: &std::path::Path,
    extra: &[&str],
) -> serde_json::Value {
    let extra: Vec<&str> = extra.iter().copied().chain(["--json"]).collect();
    let o = metric_run(kind, a, b, &extra);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Asserts a clean failure: the expected exit code, no panic, and stderr mentioning `needle`.
pub fn assert_fails(o: &Output, code: i32, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
}

/// Waits (at most 60 s) until `metrics` has its first line, failing if `child` exits first,
/// then sends it SIGINT and returns its output: how the Ctrl-C tests stop a running trainer.
#[cfg(unix)]
pub fn interrupt_after_first_metrics(
    name: &str,
    mut child: std::process::Child,
    metrics: &std::path::Path,
) -> Output {
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    while std::fs::read_to_string(metrics).map_or(true, |s| s.lines().count() < 1) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{name}: no metrics line after 60 s"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{name} exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}

/// A small rsmc run on `9gmm` (8 iterations, seed 3) that the tests of training flags vary.
pub const SMALL_RSMC: &str = "train --target 9gmm --method rsmc --iters 8 --batch 32 \
                              --steps 16 --hidden 16 --flow-hidden 16 --harmonics 8 \
                              --eval-samples 100 --particles 32 --prefill 2 --buffer 500 \
                              --seed 3";

/// Runs `BASE EXTRA --out tmp(dir)` (`base` starts with the subcommand), which must
/// succeed; returns the folder.
pub fn run_in(base: &str, extra: &str, dir: &str) -> PathBuf {
    let out = tmp(dir);
    let cmd = format!("{base} {extra} --out {}", out.display());
    let o = amortise(&cmd.split_whitespace().collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

/// A run folder's `checkpoint.json` (or any JSON file `file` in it), parsed.
pub fn json_in(dir: &std::path::Path, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

/// The parameter checksum of a run folder's checkpoint.
pub fn checksum(dir: &std::path::Path) -> String {
    json_in(dir, "checkpoint.json")["checksum"]
        .as_str()
        .unwrap()
        .to_string()
}

/// For a training flag set `flags` (on `base`, with `--grad-chunks 3`): the chunked runner
/// gives the same bits on 1 and 2 threads, bits that differ from the chunked run without
/// the flags, and a run stopped at iteration 4 and resumed ends with them too. Folders are
/// named `{name}-…`.
pub fn assert_chunked_and_resumed_alike(base: &str, flags: &str, name: &str) {
    let chunked = format!("{flags} --grad-chunks 3");
    let one = checksum(&run_in(
        base,
        &format!("{chunked} --threads 1"),
        &format!("{name}-t1"),
    ));
    let two = checksum(&run_in(
        base,
        &format!("{chunked} --threads 2"),
        &format!("{name}-t2"),
    ));
    assert_eq!(one, two, "{name}: the thread count changed the run");
    let plain = run_in(
        base,
        "--grad-chunks 3 --threads 2",
        &format!("{name}-plain"),
    );
    assert_ne!(
        one,
        checksum(&plain),
        "{name}: the chunked runner ignored `{flags}`"
    );
    let part = run_in(
        base,
        &format!("{chunked} --threads 2 --stop-at 4"),
        &format!("{name}-part"),
    );
    let o = amortise(&["train", "--resume", part.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checksum(&part), one, "{name}: the resumed run differs");
}
