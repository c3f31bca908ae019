//! `train --buffer-reweight-every N` (recomputing the buffer's log weights under the
//! current policy, the kernel's `train::reweight_buffer`), through the CLI: it changes the
//! run and is stored in the checkpoint; the chunked runner reweights as the kernel step
//! does (the same bits on 1 and 2 threads); a resumed run is the uninterrupted one; bad
//! values are flag errors.

mod common;

use std::path::{Path, PathBuf};

use common::{amortise, assert_fails, stderr, tmp};

const BASE: &str = "train --target 9gmm --method rsmc --iters 8 --batch 32 --steps 16 \
                    --hidden 16 --flow-hidden 16 --harmonics 8 --eval-samples 100 \
                    --particles 32 --prefill 2 --buffer 500 --seed 3";

/// Runs `BASE EXTRA --out tmp(dir)`, which must succeed; returns the folder.
fn run(extra: &str, dir: &str) -> PathBuf {
    let out = tmp(dir);
    let cmd = format!("{BASE} {extra} --out {}", out.display());
    let o = amortise(&cmd.split_whitespace().collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

fn checkpoint(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap()).unwrap()
}

fn checksum(dir: &Path) -> String {
    checkpoint(dir)["checksum"].as_str().unwrap().to_string()
}

#[test]
fn reweighting_changes_the_run_is_stored_and_resumes_with_the_same_bits() {
    let plain = run("", "rw-plain");
    let rw = run("--buffer-reweight-every 3", "rw-3");
    assert_ne!(checksum(&plain), checksum(&rw));
    assert_eq!(
        checkpoint(&rw)["config"]["buffer_reweight_every"].as_u64(),
        Some(3)
    );
    assert!(
        checkpoint(&plain)["config"]
            .get("buffer_reweight_every")
            .is_none()
    );
    let chunked = "--buffer-reweight-every 3 --grad-chunks 3";
    let one = checksum(&run(&format!("{chunked} --threads 1"), "rw-t1"));
    let two = checksum(&run(&format!("{chunked} --threads 2"), "rw-t2"));
    assert_eq!(one, two, "the thread count changed a reweighted run");
    let unweighted = checksum(&run("--grad-chunks 3 --threads 2", "rw-t2-plain"));
    assert_ne!(
        one, unweighted,
        "the chunked runner ignored --buffer-reweight-every"
    );
    let part = run(&format!("{chunked} --threads 2 --stop-at 4"), "rw-part");
    let o = amortise(&["train", "--resume", part.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checksum(&part), one, "a resumed reweighted run differs");
}

#[test]
fn reweighting_without_a_buffer_is_an_error_that_names_the_flag() {
    let out = tmp("rw-never");
    let base = BASE.replace("rsmc", "tb");
    let cmd = format!("{base} --buffer-reweight-every 3 --out {}", out.display());
    assert_fails(
        &amortise(&cmd.split_whitespace().collect::<Vec<_>>()),
        2,
        "--buffer-reweight-every",
    );
    assert!(!out.exists());
}
