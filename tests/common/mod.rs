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

/// Asserts a clean failure: the expected exit code, no panic, and stderr mentioning `needle`.
pub fn assert_fails(o: &Output, code: i32, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
}
