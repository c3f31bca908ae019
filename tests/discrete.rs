//! End-to-end tests of `amortise train-discrete`: output files, summary fields, and clean
//! errors (exit code 2, the flag named, no panic) for invalid environment settings.

mod common;
use common::{amortise, assert_fails};

#[test]
fn train_discrete_writes_outputs_with_exact_metrics() {
    let dir = std::env::temp_dir().join(format!("amortise-discrete-{}", std::process::id()));
    for (env, method, extra) in [
        ("sequence", "tb", vec!["--len", "4", "--alphabet", "3"]),
        ("deceptive-grid", "db", vec!["--side", "6"]),
        ("ising", "subtb", vec!["--side", "2"]),
        (
            "deceptive-grid",
            "teacher",
            vec!["--side", "6", "--buffer", "64"],
        ),
        ("grid", "teacher", vec!["--side", "5"]),
        (
            "sequence",
            "rsmc",
            vec!["--len", "4", "--alphabet", "3", "--chunk", "1"],
        ),
        ("grid", "rsmc", vec!["--side", "4", "--prefill", "2"]),
    ] {
        let out = dir.join(format!("{env}-{method}"));
        let mut args = vec![
            "train-discrete",
            "--env",
            env,
            "--method",
            method,
            "--iters",
            "20",
            "--batch",
            "8",
            "--hidden",
            "16",
            "--eval-samples",
            "256",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = amortise(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        for k in [
            "tv",
            "jsd",
            "modes_found",
            "log_z_estimate",
            "log_z_true",
            "elbo",
            "eubo",
            "tv_policy",
            "jsd_policy",
            "reward_calls",
            "log_z_error",
        ] {
            assert!(s.get(k).is_some(), "{k} missing from {s}");
        }
        let tv = s["tv"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&tv));
        assert!(
            std::fs::read_to_string(out.join("metrics.jsonl"))
                .unwrap()
                .lines()
                .count()
                >= 1
        );
        let csv = std::fs::read_to_string(out.join("samples.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 256);
    }
}

/// `train --target ENV` is the same run as `train-discrete --env ENV` (same seed, same
/// summary numbers), and continuous-only flags are rejected by name.
#[test]
fn train_accepts_discrete_targets() {
    let dir = std::env::temp_dir().join(format!("amortise-discrete-train-{}", std::process::id()));
    let common = [
        "--method",
        "rsmc",
        "--len",
        "3",
        "--alphabet",
        "2",
        "--modes",
        "1",
        "--chunk",
        "2",
        "--iters",
        "12",
        "--batch",
        "8",
        "--hidden",
        "8",
        "--eval-samples",
        "64",
    ];
    let mut outs = vec![];
    for (cmd, flag) in [("train", "--target"), ("train-discrete", "--env")] {
        let out = dir.join(cmd);
        let mut args = vec![cmd, flag, "sequence", "--out", out.to_str().unwrap()];
        args.extend(common);
        let o = amortise(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["reward_calls"].as_u64(), Some(8 * (12 + 4)));
        outs.push((
            s["tv"].clone(),
            s["tv_policy"].clone(),
            s["log_z_learned"].clone(),
        ));
    }
    assert_eq!(outs[0], outs[1]);
    let o = amortise(&[
        "train",
        "--target",
        "sequence",
        "--steps",
        "10",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_fails(&o, 2, "--steps");
    // Every continuous-only flag is refused by name, never silently ignored.
    for (flag, value) in [
        ("--threads", "2"),
        ("--grad-chunks", "4"),
        ("--reference", "pinned"),
        ("--harmonics", "8"),
        ("--buffer-weights", "seed"),
    ] {
        let o = amortise(&[
            "train",
            "--target",
            "sequence",
            flag,
            value,
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_fails(&o, 2, flag);
    }
}

#[test]
fn invalid_settings_give_clear_errors() {
    let base = ["train-discrete", "--iters", "1", "--out"];
    let out = std::env::temp_dir().join("amortise-discrete-bad");
    let o = out.to_str().unwrap();
    let run = |more: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.push(o);
        a.extend_from_slice(more);
        amortise(&a)
    };
    assert_fails(&run(&["--env", "maze"]), 2, "--env");
    assert_fails(&run(&["--env", "grid", "--side", "1"]), 2, "side");
    assert_fails(
        &run(&["--env", "grid", "--dim", "4", "--side", "64"]),
        2,
        "2^20",
    );
    assert_fails(&run(&["--env", "sequence", "--len", "0"]), 2, "length");
    assert_fails(
        &run(&["--env", "sequence", "--temperature", "0"]),
        2,
        "temperature",
    );
    assert_fails(&run(&["--env", "ising", "--side", "9"]), 2, "Ising side");
    assert_fails(&run(&["--method", "ppo"]), 2, "--method");
    assert_fails(&run(&["--method", "rsmc", "--buffer", "4"]), 2, "--buffer");
    assert_fails(&run(&["--batch", "0"]), 2, "--batch");
    assert_fails(&run(&["--env", "grid", "--side", "0"]), 2, "side");
    // rsmc: chunk must divide the depth (length 8: 9 steps), buffer must hold a batch, iw only
    assert_fails(&run(&["--method", "rsmc", "--chunk", "4"]), 2, "--chunk");
    assert_fails(&run(&["--method", "rsmc", "--chunk", "0"]), 2, "--chunk");
    assert_fails(
        &run(&["--method", "rsmc", "--resample-threshold", "2"]),
        2,
        "--resample-threshold",
    );
    assert_fails(
        &run(&["--method", "rsmc", "--buffer-ess", "0"]),
        2,
        "--buffer-ess",
    );
    assert_fails(
        &run(&["--method", "rsmc", "--buffer", "8", "--batch", "16"]),
        2,
        "at least one SMC batch",
    );
    assert_fails(
        &run(&["--method", "rsmc", "--buffer-priority", "reward"]),
        2,
        "--buffer-priority",
    );
    assert_fails(&run(&["--epsilon", "3"]), 2, "--epsilon");
}
