//! End-to-end tests of VGS: the `train-vgs` (and `train --method vgs`), `ebm` and
//! `vgs-reference` commands (files, exit codes, clean errors, a short EBM run) and, behind
//! `#[ignore]`, the statistical 9-GMM check of issue #6.

use amortise_kernel::metrics::coverage::nearest_mode_counts;
use amortise_kernel::rng::seeded;
use amortise_kernel::samplers::vgs::{self, Config, Draw, Layout, Views};
use amortise_kernel::targets::GridGmm;

mod common;
use common::{amortise, assert_fails, tmp};

#[test]
fn train_vgs_writes_the_train_outputs() {
    let out = tmp("9gmm");
    let o = amortise(&[
        "train-vgs",
        "--target",
        "9gmm",
        "--iters",
        "2",
        "--steps",
        "4",
        "--batch",
        "16",
        "--hidden",
        "8",
        "--eval-samples",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "metrics.jsonl",
        "summary.json",
        "samples.csv",
        "samples.svg",
        "checkpoint.json",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["method"], "vgs");
    assert_eq!(s["eval"]["mode_mass"].as_array().unwrap().len(), 9);
    assert!(s["eval"]["elbo"].as_f64().unwrap().is_finite());
}

#[test]
fn train_method_vgs_dispatches_to_the_vgs_trainer() {
    let out = tmp("9gmm-method");
    let o = amortise(&[
        "train",
        "--target",
        "9gmm",
        "--method",
        "vgs",
        "--iters",
        "2",
        "--steps",
        "4",
        "--batch",
        "16",
        "--hidden",
        "8",
        "--eval-samples",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["method"], "vgs");
    assert_eq!(s["eval"]["mode_mass"].as_array().unwrap().len(), 9);
    assert!(out.join("checkpoint.json").exists());
    let o = amortise(&[
        "train", "--target", "9gmm", "--method", "vgs", "--steps", "0",
    ]);
    assert_fails(&o, 2, "--steps");
    let o = amortise(&["train", "--target", "9gmm", "--method", "vgs", "--dim", "3"]);
    assert_fails(&o, 2, "--dim");
}

/// A short CD run with VGS negatives on 8 Gaussians: the MMD (bandwidth 0.5) between VGS
/// samples and held-out data falls by at least 15 % (measured in release builds, seeds 1
/// and 2: 0.221 → 0.168, a 24 % fall; the data-vs-data floor is 0.07–0.08).
#[test]
fn ebm_with_vgs_negatives_moves_towards_the_data() {
    let out = tmp("ebm-8g");
    let o = amortise(&[
        "ebm",
        "--data",
        "8gaussians",
        "--iters",
        "200",
        "--batch",
        "64",
        "--steps",
        "10",
        "--eval-samples",
        "400",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "metrics.jsonl",
        "summary.json",
        "density.svg",
        "samples.svg",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let (m0, m1) = (
        s["mmd_initial"].as_f64().unwrap(),
        s["mmd_final"].as_f64().unwrap(),
    );
    assert!(m1 < 0.85 * m0, "MMD {m0} -> {m1}");
    assert!(s["final_loss"].as_f64().unwrap().is_finite());
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 10);
}

#[test]
fn ebm_bad_settings_are_clean_errors() {
    let o = amortise(&["ebm", "--data", "spirals", "--out", "x"]);
    assert_fails(&o, 2, "--data");
    let o = amortise(&["ebm", "--data", "moons", "--out", "x", "--iters", "0"]);
    assert_fails(&o, 2, "--iters");
}

#[test]
fn bad_settings_are_clean_errors() {
    let o = amortise(&["train-vgs", "--target", "9gmm", "--steps", "0"]);
    assert_fails(&o, 2, "--steps");
    let o = amortise(&["train-vgs", "--target", "nope"]);
    assert_fails(&o, 2, "--target");
    let o = amortise(&["train-vgs", "--target", "9gmm", "--lr=-1"]);
    assert_fails(&o, 2, "--lr");
    let o = amortise(&["train-vgs", "--target", "9gmm", "--eval-noise=-1"]);
    assert_fails(&o, 2, "--eval-noise");
    let o = amortise(&["vgs-reference", "--target", "9gmm", "--out", "x.csv"]);
    assert_fails(&o, 2, "--target");
}

#[test]
fn particle_runs_never_produce_nan_samples() {
    // LJ-13 with a tiny untrained budget: many near-coincident configurations; samples must
    // stay finite, and a missing reference file only skips the sample metrics.
    let out = tmp("lj13");
    let o = amortise(&[
        "train-vgs",
        "--target",
        "lj13",
        "--iters",
        "1",
        "--steps",
        "3",
        "--batch",
        "8",
        "--hidden",
        "8",
        "--eval-samples",
        "20",
        "--reference",
        "/nonexistent.csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"));
}

#[test]
fn reference_generator_reports_diagnostics() {
    let out = tmp("dw4-ref.csv");
    let o = amortise(&[
        "vgs-reference",
        "--target",
        "dw4",
        "--chains",
        "8",
        "--steps",
        "400",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["split_rhat_energy"].as_f64().unwrap().is_finite());
    let text = std::fs::read_to_string(out).unwrap();
    assert_eq!(text.lines().count(), 9);
}

#[test]
fn reference_flags_are_checked_by_name() {
    let out = tmp("bad-ref.csv");
    let o = out.to_str().unwrap();
    let base = ["vgs-reference", "--target", "lj13", "--out", o];
    for (extra, flag) in [
        (&["--chains", "1"][..], "--chains"),
        (&["--steps", "99"][..], "--steps"),
        (&["--step-size", "0"][..], "--step-size"),
        (&["--step-size", "NaN"][..], "--step-size"),
        (&["--init-scale=-2"][..], "--init-scale"),
        (&["--steps", "200", "--per-chain", "0"][..], "--per-chain"),
        (&["--steps", "200", "--per-chain", "101"][..], "--per-chain"),
        (&["--min-start-distance", "inf"][..], "--min-start-distance"),
        (
            &["--min-start-distance", "1.9", "--init-scale", "0.3"][..],
            "--min-start-distance",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        assert_fails(&amortise(&args), 2, flag);
    }
    assert!(!out.exists(), "no file is written for bad flags");
}

#[test]
fn train_vgs_bad_values_name_the_flag() {
    for (extra, flag) in [
        (&["--batch", "0"][..], "--batch"),
        (&["--hidden", "0"][..], "--hidden"),
        (&["--lr", "NaN"][..], "--lr"),
        (&["--lr", "inf"][..], "--lr"),
        (&["--steps", "1001"][..], "--steps"),
        (&["--eval-samples", "0"][..], "--eval-samples"),
        (&["--eval-noise", "NaN"][..], "--eval-noise"),
    ] {
        let mut args = vec!["train-vgs", "--target", "lj13"];
        args.extend_from_slice(extra);
        assert_fails(&amortise(&args), 2, flag);
        let mut args = vec!["train", "--method", "vgs", "--target", "funnel"];
        args.extend_from_slice(extra);
        if flag != "--eval-noise" {
            assert_fails(&amortise(&args), 2, flag);
        }
    }
    // a reference file with the wrong number of columns is a file error naming the file
    let bad = tmp("bad-cols.csv");
    std::fs::write(&bad, "x1,x2\n0,1\n").unwrap();
    let o = amortise(&[
        "train-vgs",
        "--target",
        "dw4",
        "--iters",
        "1",
        "--reference",
        bad.to_str().unwrap(),
        "--out",
        tmp("bad-cols-out").to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "bad-cols.csv");
}

/// An LJ-13 reference written gzip-compressed is read back transparently: the particle
/// metrics (W2, TVD-E, TVD-D) are computed against it, and the samples are finite.
#[test]
fn gzip_reference_round_trip_and_lj13_metrics() {
    let gz = tmp("lj13-ref.csv.gz");
    let o = amortise(&[
        "vgs-reference",
        "--target",
        "lj13",
        "--chains",
        "6",
        "--steps",
        "400",
        "--per-chain",
        "2",
        "--out",
        gz.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["samples"], 12);
    assert_eq!(v["thinning_interval"], 100);
    assert!(v["kept_min_pair_distance"].as_f64().unwrap() > 0.5);
    let bytes = std::fs::read(&gz).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let out = tmp("lj13-gz-run");
    let o = amortise(&[
        "train-vgs",
        "--target",
        "lj13",
        "--iters",
        "1",
        "--steps",
        "3",
        "--batch",
        "8",
        "--hidden",
        "8",
        "--eval-samples",
        "12",
        "--reference",
        gz.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let w2 = s["eval"]["w2"].as_f64().unwrap();
    assert!(w2.is_finite() && w2 > 0.0, "{w2}");
    let text = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"));
    // a corrupt .gz is a file error, not a panic
    let bad = tmp("corrupt.csv.gz");
    std::fs::write(&bad, b"not gzip at all").unwrap();
    let o = amortise(&[
        "train-vgs",
        "--target",
        "lj13",
        "--iters",
        "1",
        "--reference",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "corrupt.csv.gz");
}

/// Issue #6: on 9GMM all 9 modes are covered with per-mode mass within 0.03 of 1/9 using
/// T ≤ 20 steps. A few minutes in release: `cargo test --release -- --ignored nine_gmm`.
#[test]
#[ignore]
fn nine_gmm_modes_have_correct_weights() {
    let cfg = Config {
        hidden: 64,
        ..Config::default()
    };
    let l = Layout::new(&cfg, 2).unwrap();
    let (mut fa, mut ua) = (vec![0.0f32; l.f32_len], vec![0u32; l.u32_len]);
    let mut r = seeded(0);
    let g = GridGmm::nine();
    let mut v = Views::new(&l, &mut fa, &mut ua).unwrap();
    let mut state = vgs::init(&cfg, &l, &mut v, &mut r).unwrap();
    for _ in 0..2000 {
        vgs::step(&cfg, &mut state, &mut v, &g, &mut r).unwrap();
    }
    let n = 20_000;
    let (mut xs, mut lw) = (vec![0.0f32; 2 * n], vec![0.0f32; n]);
    let draw = Draw {
        nu: 1.0,
        final_noise: true,
        out: &mut xs,
        log_w: &mut lw,
    };
    vgs::sample(&cfg, &mut v, &g, draw, &mut r).unwrap();
    let mut centres = Vec::new();
    for k in 0..9 {
        let m = g.mean(k).unwrap();
        centres.extend([m[0] as f32, m[1] as f32]);
    }
    let mut counts = [0u32; 9];
    nearest_mode_counts(&xs, 2, &centres, &mut counts).unwrap();
    for c in counts {
        let mass = c as f64 / n as f64;
        assert!(
            (mass - 1.0 / 9.0).abs() < 0.03,
            "mode mass {mass} ({counts:?})"
        );
    }
}
