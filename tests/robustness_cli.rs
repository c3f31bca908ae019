//! Robustness of the `amortise` binary: regression tests for inputs that used to panic or
//! produce NaN, checkpoints whose configuration was tampered with (the checksum covers only
//! the parameters), and Ctrl-C during training. Every row of `docs/robustness.md` that
//! concerns the CLI names a test here, in `tests/cli.rs` or in `tests/robustness_fuzz.rs`.

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{amortise, assert_fails, metric_json, stderr, tmp};

/// Used to panic with "attempt to multiply with overflow" (`n × dim`).
#[test]
fn huge_dim_is_a_flag_error() {
    let out = tmp("never.csv");
    let o = amortise(&[
        "sample-target",
        "--target",
        "gaussian",
        "--dim",
        "100000000000000",
        "--n",
        "10000000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 2, "--dim");
    let o = amortise(&[
        "sample-target",
        "--target",
        "gaussian",
        "--dim",
        "100000",
        "--n",
        "10000000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 2, "--n");
    let o = amortise(&[
        "logp",
        "--target",
        "gaussian",
        "--dim",
        "18446744073709551615",
        "--point",
        "0",
    ]);
    assert_fails(&o, 2, "--dim");
    assert!(!out.exists());
}

/// Used to panic with a division by zero in the evaluation schedule.
#[test]
fn eval_every_zero_is_a_flag_error() {
    let o = amortise(&[
        "train",
        "--target",
        "gaussian",
        "--iters",
        "2",
        "--eval-every",
        "0",
    ]);
    assert_fails(&o, 2, "--eval-every");
}

/// Used to abort on allocation failure (the arenas were allocated before any size check).
#[test]
fn ebm_with_huge_sizes_is_a_flag_error() {
    let out = tmp("ebm-never");
    for args in [
        ["--batch", "1000000000000"],
        ["--batch", "100000000"],
        ["--hidden", "100000000"],
        ["--vgs-hidden", "100000000"],
        // overflowed the VGS parameter count (a panic in debug builds)
        ["--vgs-hidden", "1000000000004"],
    ] {
        let mut all = vec![
            "ebm",
            "--data",
            "moons",
            "--iters",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        all.extend(args);
        let o = amortise(&all);
        assert_fails(&o, 2, "--");
        assert!(!stderr(&o).contains("memory allocation"), "{}", stderr(&o));
    }
    assert!(!out.exists());
}

/// Used to write a checkpoint with `"field": null` (JSON has no infinity) that did not load
/// back: an infinite real setting is a flag error even where the environment ignores it.
#[test]
fn discrete_infinite_settings_are_flag_errors() {
    let out = tmp("discrete-inf-never");
    for (flag, value) in [("--field", "1e309"), ("--teacher-alpha", "inf")] {
        let o = amortise(&[
            "train-discrete",
            "--env",
            "grid",
            "--side",
            "3",
            "--iters",
            "1",
            flag,
            value,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_fails(&o, 2, &format!("{flag}: must be finite"));
    }
    assert!(!out.exists());
}

/// Used to abort on allocation failure (1.5 TB): every flag within its bound, their product not.
#[test]
fn train_with_a_huge_arena_is_a_flag_error() {
    for method in ["tb", "teacher"] {
        let out = tmp("train-never");
        let o = amortise(&[
            "train",
            "--target",
            "gaussian",
            "--method",
            method,
            "--batch",
            "100000",
            "--steps",
            "10000",
            "--iters",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_fails(&o, 2, "--batch");
        assert!(!out.exists(), "{method}");
    }
}

/// Used to abort on allocation failure (`chains × dim` floats allocated unchecked).
#[test]
fn vgs_reference_with_huge_chains_is_a_flag_error() {
    let out = tmp("vgs-ref-never.csv");
    let o = amortise(&[
        "vgs-reference",
        "--target",
        "dw4",
        "--chains",
        "10000000000000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 2, "--chains");
    assert!(!out.exists());
}

/// Far-apart points at the default ε used to give a NaN Sinkhorn divergence (the
/// log-sum-exp skipped its own maximum once the scores passed 2^58).
#[test]
fn sinkhorn_of_far_apart_files_is_finite() {
    let (a, b) = (tmp("far-a.csv"), tmp("far-b.csv"));
    std::fs::write(&a, "x\n0\n").unwrap();
    std::fs::write(&b, "x\n1000000000\n").unwrap();
    let v = metric_json("sinkhorn", &a, &b, &[]);
    let s = v["value"].as_f64().expect("a finite number");
    assert!((s - 1e18).abs() < 1e12, "S = {s}");
    let o = amortise(&[
        "metric",
        "sinkhorn",
        "--a",
        a.to_str().unwrap(),
        "--b",
        b.to_str().unwrap(),
        "--epsilon",
        "1e-40",
    ]);
    assert_fails(&o, 2, "--epsilon");
}

/// A small trained run to tamper with.
fn small_checkpoint(dir: &Path) -> serde_json::Value {
    let o = amortise(&[
        "train",
        "--target",
        "gaussian",
        "--method",
        "tb",
        "--iters",
        "2",
        "--batch",
        "4",
        "--steps",
        "16",
        "--hidden",
        "4",
        "--flow-hidden",
        "4",
        "--harmonics",
        "2",
        "--eval-samples",
        "10",
        "--buffer",
        "16",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap()
}

/// The checksum covers the parameters only; every configuration field is validated like
/// the flags of `amortise train`, and the counts cannot overflow.
#[test]
fn tampered_checkpoint_configurations_are_file_errors() {
    let dir = tmp("tamper-run");
    let ck = small_checkpoint(&dir);
    let samples = tmp("tamper-samples.csv");
    let o = amortise(&[
        "sample",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--n",
        "3",
        "--out",
        samples.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "the untampered checkpoint loads: {}",
        stderr(&o)
    );
    let cases: [(&str, serde_json::Value, &str); 8] = [
        (
            "/config/dim",
            1_000_000_000u64.into(),
            "configuration is invalid",
        ),
        ("/config/steps", 0.into(), "configuration is invalid"),
        ("/config/sigma", (-1.0).into(), "configuration is invalid"),
        ("/config/hidden", 5.into(), "policy size does not match"),
        ("/config/method", "smc".into(), "configuration is invalid"),
        ("/config/target", "nope".into(), "configuration is invalid"),
        (
            "/groups/0/len",
            u64::MAX.into(),
            "parameter counts disagree",
        ),
        (
            "/groups/1/len",
            u64::MAX.into(),
            "parameter counts disagree",
        ),
    ];
    for (i, (ptr, value, needle)) in cases.into_iter().enumerate() {
        let mut bad = ck.clone();
        *bad.pointer_mut(ptr).unwrap() = value;
        let path = tmp(&format!("tampered-{i}.json"));
        std::fs::write(&path, bad.to_string()).unwrap();
        let o = amortise(&[
            "sample",
            "--checkpoint",
            path.to_str().unwrap(),
            "--n",
            "3",
            "--out",
            samples.to_str().unwrap(),
        ]);
        assert_fails(&o, 1, needle);
    }
}

/// Ctrl-C during `amortise train`: the run finishes its iteration, writes a checkpoint that
/// `amortise sample` loads, keeps every metrics line intact, and exits with 130.
#[cfg(unix)]
#[test]
fn sigint_leaves_a_usable_checkpoint_and_intact_metrics() {
    let dir = tmp("sigint-run");
    let _ = std::fs::remove_dir_all(&dir);
    let child = Command::new(env!("CARGO_BIN_EXE_amortise"))
        .args([
            "train",
            "--target",
            "gaussian",
            "--method",
            "tb",
            "--iters",
            "1000000",
            "--eval-every",
            "1",
            "--batch",
            "8",
            "--steps",
            "16",
            "--hidden",
            "8",
            "--harmonics",
            "4",
            "--eval-samples",
            "20",
            "--buffer",
            "16",
            "--out",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = dir.join("metrics.jsonl");
    let out = common::interrupt_after_first_metrics("train", child, &metrics);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // every metrics line is complete JSON, iterations increasing
    let text = std::fs::read_to_string(&metrics).unwrap();
    let mut last = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let it = v["iteration"].as_u64().unwrap();
        assert!(it > last);
        last = it;
    }
    assert!(text.ends_with('\n'));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["iterations_completed"].as_u64(), Some(last));
    let ck: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
    assert_eq!(ck["iteration"].as_u64(), Some(last));
    assert!(!dir.join("checkpoint.json.tmp").exists() && !dir.join("metrics.jsonl.tmp").exists());
    let samples = tmp("sigint-samples.csv");
    let o = amortise(&[
        "sample",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--n",
        "5",
        "--out",
        samples.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&samples).unwrap().lines().count(),
        6
    );
}
