//! A closed stdout is not a panic.

use std::process::{Command, Stdio};

/// A reader that closes the pipe early (`amortise bench eval | head -1`) ends the run
/// quietly with 141 (128 + SIGPIPE), not with a "failed printing to stdout" panic. The read
/// end is closed right after the spawn; `bench step` computes for about half a second before
/// its first line, so that line meets a closed pipe. (A command that prints at once, such as
/// `targets`, can fill the pipe before the read end is closed and then exits 0.)
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amortise"))
        .args(["bench", "step", "--batch", "32"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}
