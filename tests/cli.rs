//! End-to-end tests of the `amortise` binary: real processes, real files, exit codes and
//! messages. A panic would exit with code 101; every bad input here must exit 1 or 2 with a
//! one-line message naming the flag or file.

use std::process::Output;

mod common;
use common::{amortise, assert_fails, metric_json, metric_run, stderr, stdout, tmp};

#[test]
fn targets_lists_every_target() {
    let o = amortise(&["targets"]);
    assert!(o.status.success());
    let s = stdout(&o);
    for name in [
        "gaussian",
        "gmm40",
        "gmm40-jax",
        "mos",
        "9gmm",
        "25gmm",
        "funnel",
        "manywell",
        "dw4",
        "lj13",
    ] {
        assert!(
            s.lines().any(|l| l.starts_with(name)),
            "{name} missing from:\n{s}"
        );
    }
    let o = amortise(&["targets", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 8);
}

#[test]
fn targets_lists_the_discrete_targets_with_their_methods() {
    use amortise::commands::discrete::{ENVS, METHODS as DISCRETE_METHODS};
    use amortise::run_config::METHODS;
    let o = amortise(&["targets"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    let header = s.lines().next().unwrap();
    assert!(
        header.contains("kind") && header.contains("methods"),
        "{header}"
    );
    let row = |name: &str| {
        s.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{s}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for env in ENVS {
        let cells = row(env);
        assert_eq!(cells[1], "discrete", "{cells:?}");
        assert!(cells.contains(&DISCRETE_METHODS.join(",")), "{cells:?}");
    }
    for target in ["gmm40", "funnel", "dw4"] {
        let cells = row(target);
        assert_eq!(cells[1], "continuous", "{cells:?}");
        assert!(cells.contains(&METHODS.join(",")), "{cells:?}");
    }

    let o = amortise(&["targets", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v.as_array().unwrap();
    let discrete: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["kind"] == "discrete").collect();
    let names: Vec<&str> = discrete
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ENVS);
    for r in &discrete {
        assert_eq!(r["methods"], serde_json::json!(DISCRETE_METHODS), "{r}");
        assert_eq!(r["log_z_known"], true, "{r}");
    }
    let gmm = rows.iter().find(|r| r["name"] == "gmm40").unwrap();
    assert_eq!(gmm["kind"], "continuous");
    assert_eq!(gmm["methods"], serde_json::json!(METHODS));
    assert_eq!(gmm["default_dim"], 2);
}

#[test]
fn logp_gmm40_matches_reference_check_values() {
    // check values from the PyTorch reference README: log p(0, 0) = -35.2681, log p(10, -5) = -76.2748
    let o = amortise(&["logp", "--target", "gmm40", "--point", "0,0", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lp = v["log_density"].as_f64().unwrap();
    assert!((lp + 35.2681).abs() < 1e-3, "{lp}");
    assert_eq!(v["dim"], 2);
    assert_eq!(v["gradient"].as_array().unwrap().len(), 2);
    assert_eq!(v["log_z"].as_f64(), Some(0.0));
    let o = amortise(&["logp", "--target", "gmm40", "--point=10,-5", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((v["log_density"].as_f64().unwrap() + 76.2748).abs() < 1e-3);
    // text form
    let o = amortise(&["logp", "--target", "gmm40", "--point", "0,0"]);
    assert!(stdout(&o).contains("log density  -35.26"));
}

#[test]
fn logp_manywell_reports_log_z() {
    let point = vec!["0"; 32].join(",");
    let o = amortise(&["logp", "--target", "manywell", "--point", &point, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((v["log_z"].as_f64().unwrap() - 164.69567532).abs() < 1e-4);
    assert_eq!(v["log_density"].as_f64(), Some(0.0));
}

#[test]
fn bad_input_gives_clear_errors_not_panics() {
    assert_fails(
        &amortise(&["logp", "--target", "nope", "--point", "0,0"]),
        2,
        "--target: unknown target `nope`",
    );
    assert_fails(
        &amortise(&["logp", "--target", "gmm40", "--point", "0,abc"]),
        2,
        "--point: coordinate 2",
    );
    assert_fails(
        &amortise(&["logp", "--target", "gmm40", "--point", "0,NaN"]),
        2,
        "--point",
    );
    assert_fails(
        &amortise(&[
            "logp", "--target", "gmm40", "--point", "0,0,0", "--dim", "2",
        ]),
        2,
        "--point",
    );
    assert_fails(
        &amortise(&["logp", "--target", "manywell", "--point", "0,0,0"]),
        2,
        "--dim",
    );
    assert_fails(
        &amortise(&[
            "sample-target",
            "--target",
            "dw4",
            "--n",
            "3",
            "--out",
            "x.csv",
        ]),
        2,
        "no exact sampler",
    );
    assert_fails(
        &amortise(&[
            "sample-target",
            "--target",
            "gmm40",
            "--n",
            "0",
            "--out",
            "x.csv",
        ]),
        2,
        "--n",
    );
    let missing = tmp("does-not-exist.csv");
    let o = amortise(&[
        "metric",
        "sinkhorn",
        "--a",
        missing.to_str().unwrap(),
        "--b",
        missing.to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "cannot read");
    // clap's own usage errors exit 2
    assert_fails(&amortise(&["logp", "--target", "gmm40"]), 2, "--point");
    assert_fails(&amortise(&["frobnicate"]), 2, "frobnicate");
}

/// `--clip B` clips every coordinate of the exact samples to [−B, B] and nothing else; a
/// bound that is not a finite positive number is an error naming the flag.
#[test]
fn sample_target_clip_bounds_every_coordinate() {
    let draw = |name: &str, clip: &[&str]| {
        let p = tmp(name);
        let mut args = vec!["sample-target", "--target", "funnel", "--n", "300", "--out"];
        args.push(p.to_str().unwrap());
        args.extend_from_slice(clip);
        let o = amortise(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(&p).unwrap();
        let v: Vec<f32> = text
            .lines()
            .skip(1)
            .flat_map(|l| l.split(',').map(|x| x.parse::<f32>().unwrap()))
            .collect();
        v
    };
    let exact = draw("funnel-exact.csv", &[]);
    let clipped = draw("funnel-clip20.csv", &["--clip", "20"]);
    assert_eq!(exact.len(), 3000);
    assert!(exact.iter().any(|v| v.abs() > 20.0), "nothing to clip");
    for (e, c) in exact.iter().zip(&clipped) {
        assert_eq!(*c, e.clamp(-20.0, 20.0));
    }
    for bad in ["0", "-1", "nan", "inf"] {
        let o = amortise(&[
            "sample-target",
            "--target",
            "funnel",
            "--n",
            "3",
            "--clip",
            bad,
            "--out",
            tmp("never.csv").to_str().unwrap(),
        ]);
        assert_fails(&o, 2, "--clip: must be a finite bound above 0");
    }
}

#[test]
fn sample_target_is_reproducible_and_metrics_read_it() {
    let a = tmp("a.csv");
    let b = tmp("b.csv");
    let c = tmp("c.csv");
    for (p, seed) in [(&a, "1"), (&b, "1"), (&c, "2")] {
        let o = amortise(&[
            "sample-target",
            "--target",
            "9gmm",
            "--n",
            "300",
            "--seed",
            seed,
            "--out",
            p.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let ta = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        ta,
        std::fs::read_to_string(&b).unwrap(),
        "same seed, same file"
    );
    assert_ne!(ta, std::fs::read_to_string(&c).unwrap());
    assert_eq!(ta.lines().count(), 301);
    assert!(ta.starts_with("x1,x2\n"));

    // identical files: divergence ~ 0; different seeds of the same target: small but positive
    let v = metric_json("sinkhorn", &a, &b, &[]);
    assert!(v["value"].as_f64().unwrap().abs() < 1e-2, "{v}");
    let v = metric_json("mmd", &a, &c, &[]);
    let m = v["value"].as_f64().unwrap();
    assert!(m > 0.0 && m < 0.3, "{v}");

    // dimension mismatch between files is a clear error
    let d3 = tmp("d3.csv");
    std::fs::write(&d3, "x1,x2,x3\n1,2,3\n").unwrap();
    let o = amortise(&[
        "metric",
        "mmd",
        "--a",
        a.to_str().unwrap(),
        "--b",
        d3.to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "columns");
}

fn small_train(method: &str, out: &std::path::Path, seed: &str) -> Output {
    amortise(&[
        "train",
        "--target",
        "9gmm",
        "--method",
        method,
        "--iters",
        "12",
        "--batch",
        "32",
        "--steps",
        "16",
        "--hidden",
        "16",
        "--flow-hidden",
        "16",
        "--harmonics",
        "8",
        "--eval-samples",
        "200",
        "--particles",
        "32",
        "--prefill",
        "2",
        "--buffer",
        "500",
        "--eval-every",
        "6",
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn train_writes_every_output_and_sample_reads_the_checkpoint() {
    for method in ["tb", "tb-buffer", "rsmc", "rsmc-nobuffer", "smc"] {
        let dir = tmp(&format!("train-{method}"));
        let o = small_train(method, &dir, "3");
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        for key in [
            "target",
            "dim",
            "method",
            "seed",
            "iters",
            "seconds",
            "log_z_estimate",
            "log_z_true",
            "elbo",
            "eubo",
            "sinkhorn",
            "sinkhorn_paper",
            "mmd",
            "ess",
            "emc",
        ] {
            assert!(
                summary.get(key).is_some(),
                "{method}: summary lacks {key}: {summary}"
            );
        }
        assert_eq!(summary["log_z_true"].as_f64(), Some(0.0));
        assert!(summary["log_z_estimate"].as_f64().unwrap().is_finite());
        // the training's target evaluations (not the evaluations'): TB evaluates log R once
        // per trajectory, so 12 iterations of 32 (the buffer replays stored values); the
        // SMC methods spend more
        let evals = &summary["target_evals"];
        let total = evals["total"].as_u64().unwrap();
        assert_eq!(
            total,
            evals["density"].as_u64().unwrap() + evals["gradient"].as_u64().unwrap()
        );
        match method {
            "tb" | "tb-buffer" => {
                assert_eq!((total, evals["gradient"].as_u64()), (12 * 32, Some(0)))
            }
            _ => assert!(total > 12 * 32, "{method}: {evals}"),
        }
        assert!(summary["sinkhorn"].as_f64().unwrap() >= 0.0);
        // the paper's convention (ε = 0.05 × mean cost) is on a smaller scale than ε = 1e-3
        let paper = summary["sinkhorn_paper"].as_f64().unwrap();
        assert!(
            paper > 0.0 && paper < summary["sinkhorn"].as_f64().unwrap(),
            "{summary}"
        );
        let emc = summary["emc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&emc));
        let samples = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
        assert_eq!(samples.lines().count(), 201);
        assert!(
            std::fs::read_to_string(dir.join("samples.svg"))
                .unwrap()
                .contains("<svg")
        );
        assert!(
            !std::fs::read_to_string(dir.join("metrics.jsonl"))
                .unwrap()
                .is_empty()
        );
        if method != "smc" {
            assert_eq!(summary["elbo"].as_f64().map(f64::is_finite), Some(true));
            let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
            assert_eq!(lines.lines().count(), 2, "evaluations at 6 and 12");
            for line in lines.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(
                    v["sinkhorn_paper"].as_f64().unwrap() > 0.0,
                    "{method}: {line}"
                );
            }
            let last: serde_json::Value =
                serde_json::from_str(lines.lines().last().unwrap()).unwrap();
            assert_eq!(last["target_evals"], summary["target_evals"], "{method}");
            let out = tmp(&format!("sampled-{method}.csv"));
            let s = amortise(&[
                "sample",
                "--checkpoint",
                dir.to_str().unwrap(),
                "--n",
                "50",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(s.status.success(), "{}", stderr(&s));
            assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 51);
        }
    }
}

#[test]
fn the_langevin_policy_counts_a_target_gradient_per_step() {
    let dir = tmp("evals-langevin");
    let o = amortise(&[
        "train",
        "--target",
        "9gmm",
        "--method",
        "tb",
        "--langevin",
        "--iters",
        "5",
        "--batch",
        "8",
        "--steps",
        "16",
        "--hidden",
        "8",
        "--harmonics",
        "4",
        "--eval-samples",
        "50",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    // log R at each final state; ∇ log R at every step's state, for the drift
    let e = &s["target_evals"];
    assert_eq!(e["density"].as_u64(), Some(5 * 8));
    assert_eq!(e["gradient"].as_u64(), Some(5 * 8 * 16));
    assert_eq!(e["from_iteration"].as_u64(), Some(0));
}

#[test]
fn training_is_reproducible_for_a_seed() {
    let a = tmp("repro-a");
    let b = tmp("repro-b");
    assert!(small_train("rsmc", &a, "11").status.success());
    assert!(small_train("rsmc", &b, "11").status.success());
    assert_eq!(
        std::fs::read_to_string(a.join("samples.csv")).unwrap(),
        std::fs::read_to_string(b.join("samples.csv")).unwrap()
    );
    let ca: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("checkpoint.json")).unwrap()).unwrap();
    let cb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("checkpoint.json")).unwrap()).unwrap();
    assert_eq!(ca["checksum"], cb["checksum"]);
}

#[test]
fn train_and_sample_reject_bad_input() {
    let d = tmp("bad");
    let ds = d.to_str().unwrap();
    assert_fails(
        &amortise(&["train", "--target", "nope", "--out", ds]),
        2,
        "--target",
    );
    assert_fails(
        &amortise(&[
            "train", "--target", "9gmm", "--method", "magic", "--out", ds,
        ]),
        2,
        "--method",
    );
    assert_fails(
        &amortise(&["train", "--target", "9gmm", "--batch", "0", "--out", ds]),
        2,
        "--batch",
    );
    assert_fails(
        &amortise(&["train", "--target", "9gmm", "--lr", "NaN", "--out", ds]),
        2,
        "--lr",
    );
    assert_fails(
        &amortise(&["train", "--target", "9gmm", "--steps", "8", "--out", ds]),
        2,
        "--steps",
    );
    assert_fails(
        &amortise(&[
            "train",
            "--target",
            "9gmm",
            "--method",
            "smc",
            "--init-log-z-batch",
            "--out",
            ds,
        ]),
        2,
        "--init-log-z-batch: needs a trained diffusion method",
    );
    assert_fails(
        &amortise(&[
            "train",
            "--target",
            "9gmm",
            "--init-log-z-batch",
            "--init-log-z-smc",
            "--out",
            ds,
        ]),
        2,
        "--init-log-z-batch: choose one",
    );
    assert_fails(
        &amortise(&["train", "--target", "9gmm", "--steps", "18", "--out", ds]),
        2,
        "--chunk",
    );
    assert_fails(
        &amortise(&["train", "--target", "manywell", "--dim", "3", "--out", ds]),
        2,
        "--dim",
    );
    // corrupt checkpoints
    let good = tmp("ck-good");
    assert!(small_train("tb", &good, "1").status.success());
    let text = std::fs::read_to_string(good.join("checkpoint.json")).unwrap();
    let bad = tmp("ck-bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("checkpoint.json"),
        text.replacen("\"params\":[", "\"params\":[1.5,", 1),
    )
    .unwrap();
    let out = tmp("never.csv");
    let o = amortise(&[
        "sample",
        "--checkpoint",
        bad.to_str().unwrap(),
        "--n",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "corrupt");
    std::fs::write(bad.join("checkpoint.json"), &text[..text.len() / 2]).unwrap();
    let o = amortise(&[
        "sample",
        "--checkpoint",
        bad.to_str().unwrap(),
        "--n",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "not a valid checkpoint");
    let o = amortise(&[
        "sample",
        "--checkpoint",
        "/nonexistent/dir",
        "--n",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "cannot read");
    assert!(!out.exists());
}

#[test]
fn bench_peak_measures_both_rates_and_benches_divide_by_it() {
    let o = amortise(&["bench", "peak", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (l, t, p) = (
        v["loop_gflops"].as_f64().unwrap(),
        v["tile_gflops"].as_f64().unwrap(),
        v["peak_gflops"].as_f64().unwrap(),
    );
    assert!(l > 0.0 && t > 0.0 && l.is_finite() && t.is_finite(), "{v}");
    assert_eq!(p, l.max(t), "{v}");
    let o = amortise(&["bench", "step", "--batch", "8", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let frac = v["gflops"].as_f64().unwrap() / v["peak_gflops"].as_f64().unwrap();
    assert!(
        (v["fraction_of_peak"].as_f64().unwrap() - frac).abs() < 1e-12,
        "{v}"
    );
}

#[test]
fn sample_writes_the_log_weights_of_the_same_rows() {
    let dir = tmp("sample-log-w");
    assert!(small_train("tb", &dir, "5").status.success());
    let ck = dir.to_str().unwrap();
    let (a, b, w) = (dir.join("a.csv"), dir.join("b.csv"), dir.join("w.csv"));
    let sample = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["sample", "--checkpoint", ck, "--n", "50", "--seed", "2"];
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(extra);
        amortise(&args)
    };
    assert!(sample(&a, &[]).status.success());
    let o = sample(&b, &["--log-weights", w.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let text = std::fs::read_to_string(&w).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!((lines[0], lines.len()), ("log_w", 51));
    let lw: Vec<f32> = lines[1..].iter().map(|l| l.parse().unwrap()).collect();
    assert!(lw.iter().all(|v| v.is_finite()), "{lw:?}");
    assert!(lw.iter().any(|&v| v != lw[0]), "{lw:?}");
    assert_fails(
        &sample(&b, &["--smc", "--log-weights", w.to_str().unwrap()]),
        2,
        "--log-weights: not with --smc",
    );
}

#[test]
fn metric_ramachandran_compares_aldp_sample_files() {
    let reference = "results/aldp/reference-x.csv.gz";
    let r = std::path::Path::new(reference);
    let v = metric_json("ramachandran", r, r, &[]);
    for k in ["kl_phi", "kl_psi", "kl_ramachandran"] {
        assert_eq!(v[k].as_f64(), Some(0.0), "{v}");
    }
    assert_eq!(v["populations_a"], v["populations_b"], "{v}");
    assert_eq!(v["populations_a"]["n"].as_u64(), Some(12_975), "{v}");
    assert!(v.get("populations_a_weighted").is_none(), "{v}");
    assert!(v.get("kl_ramachandran_a_weighted").is_none(), "{v}");
    // the odd rows against the even rows: same populations within a few per cent, KL > 0
    let text = String::from_utf8(
        std::process::Command::new("gzip")
            .args(["-dc", reference])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let dir = tmp("metric-rama");
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (name, parity) in [("odd.csv", 1), ("even.csv", 0)] {
        let body: Vec<&str> = std::iter::once(lines[0])
            .chain(
                lines[1..]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 2 == parity)
                    .map(|(_, l)| *l),
            )
            .collect();
        std::fs::write(dir.join(name), body.join("\n") + "\n").unwrap();
    }
    let (a, b) = (dir.join("odd.csv"), dir.join("even.csv"));
    let v = metric_json("ramachandran", &a, &b, &[]);
    assert!(v["kl_ramachandran"].as_f64().unwrap() > 0.5, "{v}");
    let pa = v["populations_a"]["beta_c7eq"].as_f64().unwrap();
    assert!((pa - 0.880).abs() < 0.01, "{v}");
    // equal log weights reweight nothing; weights of the wrong shape name the flag or file
    let lw = dir.join("lw.csv");
    let lw_odd = "log_w\n".to_string() + &"1.5\n".repeat(a_rows(&a));
    std::fs::write(&lw, lw_odd).unwrap();
    let v = metric_json(
        "ramachandran",
        &a,
        &b,
        &["--a-log-weights", lw.to_str().unwrap()],
    );
    let (pw, pa) = (&v["populations_a_weighted"], &v["populations_a"]);
    for k in ["beta_c7eq", "alpha_r", "alpha_l"] {
        let (x, y) = (pw[k].as_f64().unwrap(), pa[k].as_f64().unwrap());
        assert!((x - y).abs() < 1e-9, "{k}: {v}");
    }
    assert!((v["ess_a_weighted"].as_f64().unwrap() - a_rows(&a) as f64).abs() < 1e-6);
    assert!(v["standard_errors_a_weighted"]["alpha_r"].as_f64().unwrap() > 0.0);
    for k in ["kl_phi", "kl_psi", "kl_ramachandran"] {
        let w = format!("{k}_a_weighted");
        assert_eq!(v[k], v[w.as_str()], "equal weights: {k}: {v}");
    }
    let short = dir.join("short.csv");
    std::fs::write(&short, "log_w\n0\n1\n").unwrap();
    let rama_w = |w: &std::path::Path, kind: &str| {
        amortise(&[
            "metric",
            kind,
            "--a",
            a.to_str().unwrap(),
            "--b",
            b.to_str().unwrap(),
            "--a-log-weights",
            w.to_str().unwrap(),
        ])
    };
    assert_fails(
        &rama_w(&short, "ramachandran"),
        2,
        "--a-log-weights: has 2 log weights for",
    );
    assert_fails(
        &rama_w(&a, "ramachandran"),
        1,
        "has 60 columns; log weights have one",
    );
    assert_fails(
        &rama_w(&lw, "mmd"),
        2,
        "--a-log-weights: applies to ramachandran only",
    );
    // bad input names the file or the flag
    let g = dir.join("g.csv");
    std::fs::write(&g, "x1,x2\n0,0\n").unwrap();
    assert_fails(
        &amortise(&[
            "metric",
            "ramachandran",
            "--a",
            g.to_str().unwrap(),
            "--b",
            g.to_str().unwrap(),
        ]),
        1,
        "has 2 columns; aldp samples have 60",
    );
    assert_fails(
        &amortise(&[
            "metric",
            "ramachandran",
            "--a",
            reference,
            "--b",
            reference,
            "--epsilon",
            "0.1",
        ]),
        2,
        "--epsilon: applies to sinkhorn only",
    );
}

/// Rows of a sample file with a header line.
fn a_rows(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count() - 1
}

#[test]
fn metric_modes_reports_counts_and_spread() {
    let dir = tmp("modes");
    std::fs::create_dir_all(&dir).unwrap();
    let (g1, g2) = (dir.join("g1.csv"), dir.join("g2.csv"));
    for (seed, path) in [("1", &g1), ("2", &g2)] {
        let o = amortise(&[
            "sample-target",
            "--target",
            "gmm40-jax",
            "--dim",
            "2",
            "--n",
            "4000",
            "--seed",
            seed,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let flags = ["--target", "gmm40-jax", "--dim", "2"];
    let v = metric_json("modes", &g1, &g2, &flags);
    assert_eq!(v["modes"], 40);
    for set in ["a", "b"] {
        // exact unit-variance samples: spread 1 (sd of the mean about 0.016), every mode
        // filled, EMC near 1
        let s = &v[set];
        let spread = s["spread"].as_f64().unwrap();
        assert!((0.93..1.05).contains(&spread), "{set}: {v}");
        assert_eq!(s["empty"], 0);
        assert!(s["emc"].as_f64().unwrap() > 0.99, "{v}");
        assert_eq!(s["n"], 4000);
    }
    // two points one unit either side of the first mean (35.813362, 38.286392): squared
    // distances 1 and 1 over 2 coordinates each, one mode filled
    let h = dir.join("h.csv");
    std::fs::write(&h, "x1,x2\n36.813362,38.286392\n35.813362,37.286392\n").unwrap();
    let v = metric_json("modes", &h, &g1, &flags);
    let a = &v["a"];
    assert!((a["spread"].as_f64().unwrap() - 0.5).abs() < 1e-5, "{v}");
    assert_eq!(a["empty"], 39);
    assert_eq!(a["share_max"], 1.0);
    assert!((a["chi2"].as_f64().unwrap() - 78.0).abs() < 1e-9, "{v}");
    assert_eq!(a["emc"], 0.0);
    let run = |extra: &[&str], kind: &str| metric_run(kind, &h, &g1, extra);
    assert_fails(
        &run(&[], "modes"),
        2,
        "--target: modes needs the mixture target",
    );
    assert_fails(
        &run(&["--target", "funnel"], "modes"),
        2,
        "--target: `funnel` has no mode centres",
    );
    assert_fails(
        &run(&["--target", "gmm40-jax", "--dim", "5"], "modes"),
        1,
        "has 2 columns; gmm40-jax has 5 dimensions",
    );
    assert_fails(
        &run(&["--target", "gmm40-jax"], "sinkhorn"),
        2,
        "--target: applies to modes only",
    );
    assert_fails(
        &run(&["--target", "gmm40-jax", "--convention", "paper"], "modes"),
        2,
        "--convention: applies to sinkhorn only",
    );
}

#[test]
fn metric_marginals_per_coordinate() {
    let dir = tmp("marginals");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    // column 1: {−1, 0, 1, 2} against itself shifted by 1; column 2: {0, 0, 0, 4} against
    // {0, 0, 0, 0}
    std::fs::write(&a, "x1,x2\n-1,0\n0,0\n1,0\n2,4\n").unwrap();
    std::fs::write(&b, "x1,x2\n0,0\n1,0\n2,0\n3,0\n").unwrap();
    let v = metric_json("marginals", &a, &b, &[]);
    assert_eq!(v["dim"], 2);
    let c = &v["coordinates"];
    assert_eq!(c[0]["w1"], 1.0);
    assert_eq!(c[0]["mean"], serde_json::json!([0.5, 1.5]));
    assert_eq!(c[0]["below_zero"], serde_json::json!([0.25, 0.0]));
    assert_eq!(c[0]["q50"], serde_json::json!([0.5, 1.5]));
    assert_eq!(c[1]["w1"], 1.0);
    assert_eq!(c[1]["std"], serde_json::json!([3.0f64.sqrt(), 0.0]));
    assert_eq!(v["w1_mean"], 1.0);
    let o = metric_run("marginals", &a, &b, &["--epsilon", "0.1"]);
    assert_fails(&o, 2, "--epsilon: applies to sinkhorn only");
    let o = metric_run("marginals", &a, &b, &["--target", "gmm40"]);
    assert_fails(&o, 2, "--target: applies to modes only");
    // the metric's own flags are checked before the Sinkhorn settings
    let flagged = |kind: &str, extra: &[&str]| metric_run(kind, &a, &b, extra);
    let e = "applies to sinkhorn only";
    assert_fails(&flagged("marginals", &["--convention", "paper"]), 2, e);
    assert_fails(&flagged("modes", &["--epsilon", "1e-9"]), 2, e);
    assert_fails(&flagged("mmd", &["--convention", "paper"]), 2, e);
    assert_fails(
        &flagged("sinkhorn", &["--dim", "2"]),
        2,
        "--dim: applies to modes only",
    );
}
