//! End-to-end tests of the threaded (chunked) training runner through the `amortise` binary:
//! results independent of `--threads`, flags that reach the runner and survive a resume, and
//! their bad values refused by name.

mod common;
use common::{amortise, assert_fails, stderr, tmp};

/// `train --method tb --threads K --grad-chunks C`: the parameters depend on C, not on K;
/// bad thread settings are flag errors.
#[test]
fn threaded_tb_training_does_not_depend_on_the_thread_count() {
    let run = |threads: &str, dir: &str| {
        let out = tmp(dir);
        let o = amortise(&[
            "train",
            "--target",
            "gmm40",
            "--method",
            "tb",
            "--iters",
            "4",
            "--batch",
            "30",
            "--steps",
            "16",
            "--hidden",
            "16",
            "--harmonics",
            "8",
            "--eval-samples",
            "100",
            "--threads",
            threads,
            "--grad-chunks",
            "3",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint.json")).unwrap())
                .unwrap();
        c["checksum"].as_str().unwrap().to_string()
    };
    assert_eq!(run("1", "threads-1"), run("2", "threads-2"));
    let o = amortise(&["bench", "tb", "--threads", "0"]);
    assert_fails(&o, 2, "--threads");
    let o = amortise(&["bench", "eval", "--grad-chunks", "2"]);
    assert_fails(&o, 2, "--threads");
}

/// `train --method tb-buffer|rsmc --threads K --grad-chunks C`: the checkpoint depends on C,
/// not on K (four iterations: on-policy and buffer batches, and rsmc's SMC passes).
#[test]
fn threaded_buffer_methods_do_not_depend_on_the_thread_count() {
    let run = |method: &str, threads: &str| {
        let out = tmp(&format!("threads-{method}-{threads}"));
        // rsmc-nobuffer trains on its particles: as many as the batch
        let particles = if method == "rsmc-nobuffer" {
            "20"
        } else {
            "24"
        };
        let o = amortise(&[
            "train",
            "--target",
            "gmm40",
            "--method",
            method,
            "--iters",
            "4",
            "--batch",
            "20",
            "--particles",
            particles,
            "--prefill",
            "1",
            "--buffer",
            "500",
            "--steps",
            "16",
            "--hidden",
            "16",
            "--flow-hidden",
            "8",
            "--harmonics",
            "8",
            "--eval-samples",
            "100",
            "--threads",
            threads,
            "--grad-chunks",
            "3",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint.json")).unwrap())
                .unwrap();
        c["checksum"].as_str().unwrap().to_string()
    };
    for method in ["tb-buffer", "rsmc", "rsmc-nobuffer"] {
        assert_eq!(run(method, "1"), run(method, "2"), "{method}");
    }
}

/// Runs `amortise {base} {extra} --out tmp(dir)`, which must succeed; returns the folder.
fn train_into(base: &str, extra: &str, dir: &str) -> std::path::PathBuf {
    let out = tmp(dir);
    let cmd = format!("{base} {extra} --out {}", out.display());
    let o = amortise(&cmd.split_whitespace().collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

#[test]
fn exploration_decay_reaches_the_threaded_runner_and_survives_a_resume() {
    let base = "train --target gmm40 --method tb --iters 4 --batch 30 --steps 16 --hidden 16 \
                --harmonics 8 --eval-samples 100 --threads 2 --grad-chunks 3 --seed 3 \
                --exploration 0.5";
    let run = |extra: &str, dir: &str| train_into(base, extra, dir);
    let checksum = |dir: &std::path::Path| {
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap())
                .unwrap();
        c["checksum"].as_str().unwrap().to_string()
    };
    let decayed = checksum(&run("--exploration-decay 2", "xd-decayed"));
    let constant = checksum(&run("", "xd-constant"));
    assert_ne!(
        decayed, constant,
        "the chunked runner ignored --exploration-decay"
    );
    let part = run("--exploration-decay 2 --stop-at 2", "xd-part");
    let o = amortise(&["train", "--resume", part.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checksum(&part), decayed, "a resumed decayed run differs");
    let o = amortise(&[
        "train",
        "--target",
        "gmm40",
        "--iters",
        "2",
        "--exploration-decay",
        "10",
    ]);
    assert_fails(&o, 2, "--exploration-decay");
}

#[test]
fn log_r_floor_masks_samples_in_the_threaded_runner_and_survives_a_resume() {
    let base = "train --target gmm40 --method tb-buffer --iters 4 --batch 30 --steps 16 \
                --hidden 16 --harmonics 8 --eval-samples 100 --threads 2 --grad-chunks 3 \
                --seed 3";
    let run = |extra: &str, dir: &str| train_into(base, extra, dir);
    let read = |dir: &std::path::Path, file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
    };
    let floored = run("--log-r-floor=-60", "lrf-floored");
    let plain = run("", "lrf-plain");
    let masked = |d: &std::path::Path| read(d, "summary.json")["masked_samples"].as_u64();
    assert_eq!(masked(&plain), Some(0));
    assert!(
        masked(&floored).unwrap() > 0,
        "no sample fell below the floor"
    );
    let checksum = |d: &std::path::Path| read(d, "checkpoint.json")["checksum"].clone();
    assert_ne!(checksum(&floored), checksum(&plain));
    let part = run("--log-r-floor=-60 --stop-at 2", "lrf-part");
    let o = amortise(&["train", "--resume", part.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        checksum(&part),
        checksum(&floored),
        "a resumed floored run differs"
    );
    let clamped = run("--log-r-clamp=-60", "lrf-clamped");
    assert_eq!(masked(&clamped), Some(0));
    assert_ne!(checksum(&clamped), checksum(&plain));
    assert_ne!(checksum(&clamped), checksum(&floored));
    assert_train_flag_errors(&[
        ("--log-r-floor=nan", "--log-r-floor"),
        ("--log-r-clamp=inf", "--log-r-clamp"),
        ("--log-r-floor=-1 --log-r-clamp=-2", "--log-r-clamp"),
        ("--method vgs --log-r-floor=-1", "--log-r-floor"),
        ("--method smc --log-r-clamp=-1", "--log-r-clamp"),
        ("--method teacher --exploration 0.1", "--exploration"),
    ]);
}

/// `train --target gmm40 --iters 2 EXTRA` fails with exit code 2 naming `flag`, for each
/// `(extra, flag)`.
fn assert_train_flag_errors(cases: &[(&str, &str)]) {
    for (bad, flag) in cases {
        let mut args = vec!["train", "--target", "gmm40", "--iters", "2"];
        args.extend(bad.split_whitespace());
        assert_fails(&amortise(&args), 2, flag);
    }
}

#[test]
fn lr_log_z_sets_the_log_z_step_and_is_checked() {
    let base = "train --target gmm40 --method tb --iters 3 --batch 30 --steps 16 --hidden 16 \
                --harmonics 8 --eval-samples 100 --seed 3";
    let log_z = |dir: &std::path::Path| -> f64 {
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        s["log_z_learnt"].as_f64().unwrap()
    };
    // from log Z = 0, Adam moves it by at most about the learning rate an iteration
    let default = log_z(&train_into(base, "", "lz-default"));
    let fast = log_z(&train_into(base, "--lr-log-z 1", "lz-fast"));
    assert!(default.abs() <= 0.3 + 1e-3, "{default}");
    assert!(fast.abs() > 5.0 * default.abs(), "{fast} vs {default}");
    assert_train_flag_errors(&[
        ("--lr-log-z 0", "--lr-log-z"),
        ("--lr-log-z nan", "--lr-log-z"),
        ("--method smc --lr-log-z 0.5", "--lr-log-z"),
    ]);
}
