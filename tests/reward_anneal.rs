//! `train --anneal-reward B --anneal-reward-iters N` (reward annealing, the kernel's
//! `train::Config::reward_anneal`), through the CLI: a power of 1 changes no bit, a smaller
//! one changes the run; the chunked runner anneals as the kernel step does (the same bits on
//! 1 and 2 threads), a resumed annealed run is the uninterrupted one, the settings are
//! stored in the checkpoint, and bad values are flag errors.

mod common;

use common::{
    SMALL_RSMC as BASE, amortise, assert_chunked_and_resumed_alike, assert_fails, checksum,
    json_in, run_in, tmp,
};

fn run(extra: &str, dir: &str) -> std::path::PathBuf {
    run_in(BASE, extra, dir)
}

fn checkpoint(dir: &std::path::Path) -> serde_json::Value {
    json_in(dir, "checkpoint.json")
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
    let anneal = "--anneal-reward 0.5 --anneal-reward-iters 6";
    assert_chunked_and_resumed_alike(BASE, anneal, "ar");
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
