//! The replay buffer's passes through the CLI: `train --buffer-mcmc-every N` (MCMC
//! augmentation, the kernel's `train::augment_buffer`) and `train --buffer-reweight-every N`
//! (log weights recomputed under the current policy, `train::reweight_buffer`). Each changes
//! the run and is stored in the checkpoint; the chunked runner runs it as the kernel step
//! does (the same bits on 1 and 2 threads); a resumed run is the uninterrupted one; the
//! target evaluations count the MALA gradients; bad values are flag errors.

mod common;

use std::path::Path;

use common::{
    SMALL_RSMC as BASE, amortise, assert_chunked_and_resumed_alike, assert_fails, checksum,
    json_in, run_in, tmp,
};

const MCMC: &str = "--buffer-mcmc-every 3 --buffer-mcmc-walkers 16 --buffer-mcmc-steps 20 \
                    --buffer-mcmc-thin 5 --buffer-mcmc-step 0.01";

fn config(dir: &Path) -> serde_json::Value {
    json_in(dir, "checkpoint.json")["config"].clone()
}

#[test]
fn augmentation_changes_the_run_counts_its_gradients_and_is_stored() {
    let plain = run_in(BASE, "", "bm-plain");
    let aug = run_in(BASE, MCMC, "bm-aug");
    assert_ne!(checksum(&plain), checksum(&aug));
    let cfg = config(&aug);
    assert_eq!(cfg["buffer_mcmc_every"].as_u64(), Some(3), "{cfg}");
    assert_eq!(cfg["buffer_mcmc_walkers"].as_u64(), Some(16), "{cfg}");
    assert!(config(&plain).get("buffer_mcmc_every").is_none());
    // iterations 0, 3 and 6 augment: 3 × 16 walkers × 20 transitions, one gradient each,
    // plus one per walker at its start
    let grads = |d: &Path| {
        json_in(d, "summary.json")["target_evals"]["gradient"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(grads(&aug) - grads(&plain), 3 * 16 * 21);
    let last = std::fs::read_to_string(aug.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    let acc = last["buffer_mcmc_acceptance"].as_f64().unwrap();
    assert!(acc > 0.0 && acc <= 1.0, "acceptance {acc}");
}

#[test]
fn reweighting_changes_the_run_and_is_stored() {
    let plain = run_in(BASE, "", "rw-plain");
    let rw = run_in(BASE, "--buffer-reweight-every 3", "rw-3");
    assert_ne!(checksum(&plain), checksum(&rw));
    assert_eq!(config(&rw)["buffer_reweight_every"].as_u64(), Some(3));
    assert!(config(&plain).get("buffer_reweight_every").is_none());
}

#[test]
fn the_chunked_runner_runs_both_and_resumed_runs_are_the_same() {
    assert_chunked_and_resumed_alike(BASE, MCMC, "bm");
    assert_chunked_and_resumed_alike(BASE, "--buffer-reweight-every 3", "rw");
}

/// `--buffer-mcmc-weights resampled` changes the augmented run (with or without
/// reweighting) and is stored; its runs (whose checkpoints carry the entries' origin)
/// resume and run chunked with the same bits.
#[test]
fn resampled_weights_change_the_run_and_resume_alike() {
    let both = format!("{MCMC} --buffer-reweight-every 4");
    let inherit = run_in(BASE, &both, "bw-inherit");
    let explicit = run_in(
        BASE,
        &format!("{both} --buffer-mcmc-weights inherit"),
        "bw-inh2",
    );
    assert_eq!(checksum(&inherit), checksum(&explicit));
    let resampled = format!("{both} --buffer-mcmc-weights resampled");
    let res = run_in(BASE, &resampled, "bw-res");
    assert_ne!(checksum(&inherit), checksum(&res));
    assert_eq!(
        config(&res)["buffer_mcmc_weights"].as_str(),
        Some("resampled")
    );
    let alone = run_in(
        BASE,
        &format!("{MCMC} --buffer-mcmc-weights resampled"),
        "bw-alone",
    );
    assert_ne!(checksum(&alone), checksum(&run_in(BASE, MCMC, "bw-mcmc")));
    assert_chunked_and_resumed_alike(BASE, &resampled, "bw");
}

#[test]
fn bad_flags_are_errors_that_name_the_flag() {
    let out = tmp("bp-never");
    let fails = |base: &str, extra: &str, flag: &str| {
        let cmd = format!("{base} {extra} --out {}", out.display());
        assert_fails(
            &amortise(&cmd.split_whitespace().collect::<Vec<_>>()),
            2,
            flag,
        );
    };
    let tb = BASE.replace("rsmc", "tb");
    for (base, extra, flag) in [
        (
            BASE,
            "--buffer-mcmc-every 3 --buffer-mcmc-walkers 33",
            "--buffer-mcmc-walkers",
        ),
        (
            BASE,
            "--buffer-mcmc-every 3 --buffer-mcmc-walkers 0",
            "--buffer-mcmc-walkers",
        ),
        (
            BASE,
            "--buffer-mcmc-every 3 --buffer-mcmc-steps 0",
            "--buffer-mcmc-steps",
        ),
        (
            BASE,
            "--buffer-mcmc-every 3 --buffer-mcmc-thin 600",
            "--buffer-mcmc-thin",
        ),
        (
            BASE,
            "--buffer-mcmc-every 3 --buffer-mcmc-step 0",
            "--buffer-mcmc-step",
        ),
        (
            BASE,
            "--buffer-mcmc-every 3 --buffer-mcmc-step NaN",
            "--buffer-mcmc-step",
        ),
        (BASE, "--buffer-mcmc-thin 5", "--buffer-mcmc-thin"),
        (
            BASE,
            "--buffer-mcmc-every 3 --buffer-mcmc-weights own",
            "--buffer-mcmc-weights",
        ),
        (
            BASE,
            "--buffer-mcmc-weights resampled",
            "--buffer-mcmc-weights",
        ),
        (&tb, "--buffer-mcmc-every 3", "--buffer-mcmc-every"),
        (&tb, "--buffer-mcmc-every 0", "--buffer-mcmc-every"),
        (&tb, "--buffer-reweight-every 3", "--buffer-reweight-every"),
    ] {
        fails(base, extra, flag);
    }
    assert!(!out.exists());
}

/// `--buffer-mcmc-every 0` is no augmentation: the plain run's bits, and the augmentation
/// `--preset aldp` gives rsmc turned off (the preset's other settings kept).
#[test]
fn zero_turns_the_augmentation_off_even_under_the_aldp_preset() {
    let off = run_in(BASE, "--buffer-mcmc-every 0", "bm-off");
    assert_eq!(checksum(&off), checksum(&run_in(BASE, "", "bm-off-plain")));
    assert!(config(&off).get("buffer_mcmc_every").is_none());
    let dir = tmp("bm-aldp-off");
    let cmd = format!(
        "train --target aldp --method rsmc --preset aldp --buffer-mcmc-every 0 --iters 1 \
         --hidden 8 --flow-hidden 8 --batch 4 --particles 4 --eval-samples 4 --prefill 1 \
         --out {}",
        dir.display()
    );
    let run = amortise(&cmd.split_whitespace().collect::<Vec<_>>());
    assert!(run.status.success(), "{}", common::stderr(&run));
    let cfg = config(&dir);
    assert!(cfg.get("buffer_mcmc_every").is_none(), "{cfg}");
    assert_eq!(cfg["buffer_reweight_every"].as_u64(), Some(500), "{cfg}");
    assert_eq!(cfg["buffer"].as_u64(), Some(400_000), "{cfg}");
}
