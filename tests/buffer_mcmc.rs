//! `train --buffer-mcmc-every N` (the MCMC augmentation of the replay buffer, the kernel's
//! `train::augment_buffer`), through the CLI: it changes the run and is stored in the
//! checkpoint; the chunked runner augments as the kernel step does (the same bits on 1 and
//! 2 threads); a resumed augmented run is the uninterrupted one; the target evaluations
//! count the MALA gradients; bad values are flag errors.

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

fn json(dir: &Path, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

fn checksum(dir: &Path) -> String {
    json(dir, "checkpoint.json")["checksum"]
        .as_str()
        .unwrap()
        .to_string()
}

const MCMC: &str = "--buffer-mcmc-every 3 --buffer-mcmc-walkers 16 --buffer-mcmc-steps 20 \
                    --buffer-mcmc-thin 5 --buffer-mcmc-step 0.01";

#[test]
fn augmentation_changes_the_run_counts_its_gradients_and_is_stored() {
    let plain = run("", "bm-plain");
    let aug = run(MCMC, "bm-aug");
    assert_ne!(checksum(&plain), checksum(&aug));
    let cfg = &json(&aug, "checkpoint.json")["config"];
    assert_eq!(cfg["buffer_mcmc_every"].as_u64(), Some(3), "{cfg}");
    assert_eq!(cfg["buffer_mcmc_walkers"].as_u64(), Some(16), "{cfg}");
    assert!(
        json(&plain, "checkpoint.json")["config"]
            .get("buffer_mcmc_every")
            .is_none()
    );
    // iterations 0, 3 and 6 augment: 3 × 16 walkers × 20 transitions, one gradient each,
    // plus one per walker at its start
    let grads = |d: &Path| {
        json(d, "summary.json")["target_evals"]["gradient"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(grads(&aug) - grads(&plain), 3 * 16 * 21);
    let last = std::fs::read_to_string(aug.join("metrics.jsonl")).unwrap();
    let acc = serde_json::from_str::<serde_json::Value>(last.lines().last().unwrap()).unwrap()
        ["buffer_mcmc_acceptance"]
        .as_f64()
        .unwrap();
    assert!(acc > 0.0 && acc <= 1.0, "acceptance {acc}");
}

#[test]
fn the_chunked_runner_augments_and_a_resumed_run_is_the_same() {
    let chunked = format!("{MCMC} --grad-chunks 3");
    let one = checksum(&run(&format!("{chunked} --threads 1"), "bm-t1"));
    let two = checksum(&run(&format!("{chunked} --threads 2"), "bm-t2"));
    assert_eq!(one, two, "the thread count changed an augmented run");
    let plain = checksum(&run("--grad-chunks 3 --threads 2", "bm-t2-plain"));
    assert_ne!(one, plain, "the chunked runner ignored --buffer-mcmc-every");
    let part = run(&format!("{chunked} --threads 2 --stop-at 4"), "bm-part");
    let o = amortise(&["train", "--resume", part.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checksum(&part), one, "a resumed augmented run differs");
}

#[test]
fn bad_augmentation_flags_are_errors_that_name_the_flag() {
    let out = tmp("bm-never");
    let fails = |extra: &str, flag: &str| {
        let cmd = format!("{BASE} {extra} --out {}", out.display());
        assert_fails(
            &amortise(&cmd.split_whitespace().collect::<Vec<_>>()),
            2,
            flag,
        );
    };
    fails("--buffer-mcmc-every 0", "--buffer-mcmc-every");
    fails(
        "--buffer-mcmc-every 3 --buffer-mcmc-walkers 33",
        "--buffer-mcmc-walkers",
    );
    fails(
        "--buffer-mcmc-every 3 --buffer-mcmc-walkers 0",
        "--buffer-mcmc-walkers",
    );
    fails(
        "--buffer-mcmc-every 3 --buffer-mcmc-steps 0",
        "--buffer-mcmc-steps",
    );
    fails(
        "--buffer-mcmc-every 3 --buffer-mcmc-thin 600",
        "--buffer-mcmc-thin",
    );
    fails(
        "--buffer-mcmc-every 3 --buffer-mcmc-step 0",
        "--buffer-mcmc-step",
    );
    fails("--buffer-mcmc-thin 5", "--buffer-mcmc-thin");
    let cmd = format!(
        "{} --buffer-mcmc-every 3 --out {}",
        BASE.replace("rsmc", "tb"),
        out.display()
    );
    assert_fails(
        &amortise(&cmd.split_whitespace().collect::<Vec<_>>()),
        2,
        "--buffer-mcmc-every",
    );
    assert!(!out.exists());
}
