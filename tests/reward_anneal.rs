//! `train --anneal-reward B --anneal-reward-iters N` (reward annealing, the kernel's
//! `train::Config::reward_anneal`), through the CLI: a power of 1 changes no bit, a smaller
//! one changes the run; the chunked runner anneals as the kernel step does (the same bits on
//! 1 and 2 threads), a resumed annealed run is the uninterrupted one, the settings are
//! stored in the checkpoint, and bad values are flag errors.

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
fn a_power_of_one_changes_nothing_and_a_smaller_one_changes_the_run() {
    let plain = checksum(&run("", "ar-plain"));
    let one = checksum(&run("--anneal-reward 1 --anneal-reward-iters 5", "ar-one"));
    assert_eq!(plain, one);
    let half = run("--anneal-reward 0.5 --anneal-reward-iters 5", "ar-half");
    assert_ne!(checksum(&half), plain);
    let cfg = &checkpoint(&half)["config"];
    assert_eq!(cfg["anneal_reward"].as_f64(), Some(0.5), "{cfg}");
    assert_eq!(cfg["anneal_reward_iters"].as_u64(), Some(5), "{cfg}");
    // a run without annealing stores neither field
    let cfg = &checkpoint(&tmp("ar-plain"))["config"];
    assert!(cfg.get("anneal_reward").is_none(), "{cfg}");
}

#[test]
fn the_chunked_runner_anneals_and_a_resumed_run_is_the_same() {
    let anneal = "--anneal-reward 0.5 --anneal-reward-iters 6 --grad-chunks 3";
    let one = checksum(&run(&format!("{anneal} --threads 1"), "ar-t1"));
    let two = checksum(&run(&format!("{anneal} --threads 2"), "ar-t2"));
    assert_eq!(one, two, "the thread count changed an annealed run");
    let plain = checksum(&run("--grad-chunks 3 --threads 2", "ar-t2-plain"));
    assert_ne!(one, plain, "the chunked runner ignored --anneal-reward");
    let part = run(&format!("{anneal} --threads 2 --stop-at 3"), "ar-part");
    let o = amortise(&["train", "--resume", part.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checksum(&part), one, "a resumed annealed run differs");
}

#[test]
fn bad_annealing_flags_are_errors_that_name_the_flag() {
    let out = tmp("ar-never");
    let fails = |extra: &str, flag: &str| {
        let cmd = format!("{BASE} {extra} --out {}", out.display());
        assert_fails(
            &amortise(&cmd.split_whitespace().collect::<Vec<_>>()),
            2,
            flag,
        );
    };
    fails(
        "--anneal-reward 0 --anneal-reward-iters 5",
        "--anneal-reward",
    );
    fails(
        "--anneal-reward 1.5 --anneal-reward-iters 5",
        "--anneal-reward",
    );
    fails("--anneal-reward 0.5", "--anneal-reward-iters");
    fails(
        "--anneal-reward 0.5 --anneal-reward-iters 0",
        "--anneal-reward-iters",
    );
    fails("--anneal-reward-iters 5", "--anneal-reward-iters");
    let o = amortise(&[
        "train",
        "--target",
        "9gmm",
        "--method",
        "smc",
        "--anneal-reward",
        "0.5",
        "--anneal-reward-iters",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 2, "--anneal-reward");
    assert!(!out.exists());
}
