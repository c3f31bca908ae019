//! End-to-end tests of the `amortise` binary: real processes, real files, exit codes and
//! messages. A panic would exit with code 101; every bad input here must exit 1 or 2 with a
//! one-line message naming the flag or file.

use std::process::Output;

mod common;
use common::{amortise, assert_fails, metric_json, stderr, stdout, tmp};

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
fn rsmc_table_runs_the_picked_row_groups_with_their_flags() {
    let out = tmp("rsmc-table-rows");
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap();
    assert_fails(
        &amortise(&["experiment", "rsmc-table", "--rows", "Nope", "--out", o]),
        2,
        "--rows: unknown row group 'Nope' (known: GMM40-2d",
    );
    assert!(!out.exists(), "a bad --rows must fail before any output");
    assert_fails(
        &amortise(&["experiment", "vgs-table", "--rows", "GMM40-2d", "--out", o]),
        2,
        "--rows: only rsmc-table",
    );
    let r = amortise(&[
        "experiment",
        "rsmc-table",
        "--rows",
        "ManyWell-32-LP",
        "--seeds",
        "1",
        "--iters",
        "2",
        "--jobs",
        "2",
        "--out",
        o,
        "--",
        "--batch",
        "4",
        "--particles",
        "4",
        "--steps",
        "16",
        "--prefill",
        "1",
        "--buffer",
        "64",
        "--eval-samples",
        "16",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let table = std::fs::read_to_string(out.join("rsmc-table.md")).unwrap();
    assert!(table.contains("--rows ManyWell-32-LP"), "{table}");
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| ManyWell-32-LP"))
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        rows[0].contains("| tb --langevin --init-log-z-batch |"),
        "{table}"
    );
    assert!(
        rows[2].contains("| rsmc --langevin --init-log-z-smc |"),
        "{table}"
    );
    assert!(!table.contains("GMM40"), "{table}");
    for m in ["tb", "tb-buffer", "rsmc"] {
        let s = std::fs::read_to_string(out.join(format!("ManyWell-32-LP-{m}-s0/summary.json")))
            .unwrap();
        assert!(s.contains("\"manywell\""), "{s}");
    }
}

#[test]
fn the_paper_preset_sets_the_run_and_flags_override_it() {
    let dir = std::env::temp_dir().join(format!("amortise-preset-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    // Everything heavy is overridden; steps, sigma and the cadence come from the preset.
    let o = amortise(&[
        "train",
        "--target",
        "gmm40",
        "--preset",
        "paper",
        "--iters",
        "4",
        "--batch",
        "8",
        "--particles",
        "8",
        "--prefill",
        "1",
        "--buffer",
        "64",
        "--eval-samples",
        "16",
        "--hidden",
        "8",
        "--flow-hidden",
        "8",
        "--harmonics",
        "4",
        "--eval-every",
        "2",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ck: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap())
            .unwrap();
    let c = &ck["config"];
    assert_eq!(
        (c["steps"].as_u64(), c["sigma"].as_f64()),
        (Some(64), Some(20.0))
    );
    assert_eq!(
        (c["iters"].as_u64(), c["hidden"].as_u64()),
        (Some(4), Some(8))
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["last5"]["evaluations"].as_u64(), Some(2));
    assert!(s["last5"]["elbo"].is_f64() && s["last5"]["sinkhorn_paper"].is_f64());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_fails(
        &amortise(&["train", "--target", "gmm40", "--preset", "fast"]),
        2,
        "--preset",
    );
    assert_fails(
        &amortise(&[
            "train", "--target", "gmm40", "--preset", "paper", "--method", "teacher",
        ]),
        2,
        "--preset",
    );
    assert_fails(
        &amortise(&["train", "--target", "grid", "--preset", "paper"]),
        2,
        "--preset",
    );
    // --preset aldp sets the log Z initialisation; an initialisation flag replaces it
    for (flag, iw, batch) in [
        (None, true, false),
        (Some("--init-log-z-batch"), false, true),
    ] {
        let dir = tmp("preset-aldp");
        let mut a = vec![
            "train",
            "--target",
            "aldp",
            "--method",
            "tb",
            "--preset",
            "aldp",
            "--iters",
            "2",
            "--batch",
            "8",
            "--hidden",
            "8",
            "--eval-samples",
            "20",
            "--out",
        ];
        a.push(dir.to_str().unwrap());
        a.extend(flag);
        let o = amortise(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        let c = &s["config"];
        assert_eq!(
            (
                c["init_log_z_iw"].as_bool(),
                c["init_log_z_batch"].as_bool()
            ),
            (Some(iw), Some(batch))
        );
        assert_eq!(
            (
                c["sigma"].as_f64(),
                c["steps"].as_u64(),
                c["hidden"].as_u64()
            ),
            (Some(0.5), Some(32), Some(8))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // aldp's preset is alanine dipeptide's alone
    assert_fails(
        &amortise(&["train", "--target", "gmm40", "--preset", "aldp"]),
        2,
        "--target aldp",
    );
}

#[test]
fn the_smc_baseline_flags_run_the_seeds_smc_and_refuse_bad_values_by_name() {
    let dir = tmp("smc-seeds");
    let out = dir.to_str().unwrap();
    // --preset paper --method smc: geometric 128, HMC, multinomial, the particles as they
    // are; fewer particles here so that it stays fast
    let o = amortise(&[
        "train",
        "--target",
        "gmm40",
        "--method",
        "smc",
        "--preset",
        "paper",
        "--particles",
        "64",
        "--temperatures",
        "16",
        "--eval-samples",
        "50",
        "--seed",
        "2",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let c = &s["config"];
    assert_eq!(c["smc_schedule"], "geometric");
    assert_eq!(c["smc_move"], "hmc");
    assert_eq!(c["smc_resample"], "multinomial");
    assert_eq!(c["smc_samples"], "particles");
    assert_eq!(
        (c["sigma"].as_f64(), c["temperatures"].as_u64()),
        (Some(40.0), Some(16))
    );
    assert_eq!(s["temperatures"].as_u64(), Some(15));
    assert!(s["log_z_estimate"].as_f64().unwrap().is_finite());
    assert!(s["smc_elbo"].as_f64().unwrap() <= s["log_z_estimate"].as_f64().unwrap());
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 15);
    assert!(metrics.contains("\"step_size\":0.2"), "{metrics}");
    // RWM with explicit step sizes, the adaptive schedule
    let o = amortise(&[
        "train",
        "--target",
        "funnel",
        "--method",
        "smc",
        "--smc-move",
        "rwm",
        "--smc-step-sizes",
        "0.01,0.2",
        "--particles",
        "64",
        "--eval-samples",
        "50",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let smc = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "--target",
            "gmm40",
            "--method",
            "smc",
            "--particles",
            "32",
            "--out",
            out,
        ];
        a.extend_from_slice(extra);
        amortise(&a)
    };
    for (args, flag) in [
        (&["--smc-schedule", "cosine"][..], "--smc-schedule"),
        (
            &["--smc-schedule", "geometric", "--temperatures", "1"],
            "--temperatures",
        ),
        (&["--temperatures", "64"], "--temperatures"),
        (&["--smc-move", "nuts"], "--smc-move"),
        (
            &["--smc-move", "hmc", "--smc-step-sizes", "0.1,abc"],
            "--smc-step-sizes",
        ),
        (
            &["--smc-move", "hmc", "--smc-step-sizes", "0.1,0.2,0.3"],
            "--smc-step-sizes",
        ),
        (
            &["--smc-move", "hmc", "--smc-step-sizes", "0,0.1"],
            "--smc-step-sizes",
        ),
        (
            &["--smc-move", "rwm", "--smc-step-sizes", "NaN"],
            "--smc-step-sizes",
        ),
        (&["--smc-step-sizes", "0.1"], "--smc-step-sizes"),
        (&["--smc-resample", "residual"], "--smc-resample"),
        (&["--smc-samples", "all"], "--smc-samples"),
        (
            &["--smc-samples", "particles", "--eval-samples", "100"],
            "--eval-samples",
        ),
    ] {
        assert_fails(&smc(args), 2, flag);
    }
    // the flags belong to --method smc
    for method in ["rsmc", "tb", "vgs"] {
        assert_fails(
            &amortise(&[
                "train",
                "--target",
                "9gmm",
                "--method",
                method,
                "--smc-move",
                "hmc",
                "--out",
                out,
            ]),
            2,
            "--smc-move",
        );
    }
    assert_fails(
        &amortise(&[
            "train",
            "--target",
            "grid",
            "--temperatures",
            "8",
            "--out",
            out,
        ]),
        2,
        "--temperatures",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn paper_table_collects_last5_over_seeds_and_refuses_foreign_flags() {
    let out = tmp("paper-table-collect");
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap();
    assert_fails(
        &amortise(&["experiment", "paper-table", "--iters", "5", "--out", o]),
        2,
        "--iters: paper-table runs --preset paper as it is",
    );
    assert_fails(
        &amortise(&["experiment", "rsmc-table", "--stop-at", "5", "--out", o]),
        2,
        "--stop-at: only used by paper-table and aldp-table",
    );
    assert_fails(
        &amortise(&["experiment", "paper-table", "--methods", "nope", "--out", o]),
        2,
        "--methods: unknown 'nope' (known: tb, tb-buffer, rsmc-nobuffer, rsmc",
    );
    // two seeds' summaries as a piece of a run leaves them, one of another method, and the
    // floors already computed
    for (run, seed, its, eubo, sd) in [
        ("rsmc", 0, 100, 2.0, 90.0),
        ("rsmc", 1, 300, 4.0, 50.0),
        ("tb-buffer", 0, 200, 3.0, 60.0),
    ] {
        let dir = out.join(format!("gmm40-jax-2-{run}-s{seed}"));
        std::fs::create_dir_all(&dir).unwrap();
        let last5 = serde_json::json!({"elbo": -40.0, "eubo": eubo, "log_z_is": 0.5,
            "sinkhorn_paper": sd, "mmd": 0.1, "emc": 0.9, "evaluations": 1});
        let summary = serde_json::json!({"iterations_completed": its, "iters": 20000,
            "last5": last5, "log_z_true": 0.0, "seconds": 3600.0 * f64::from(seed + 1),
            "sinkhorn": 2.0 * sd, "sinkhorn_converged": false, "sinkhorn_paper": sd});
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
        let lines = format!("{{\"iteration\":{its},\"eubo\":{eubo},\"sinkhorn_paper\":{sd}}}\n");
        std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    }
    let floors = serde_json::json!({"GMM40-2d": {
        "paper": [{"value": 6.5}, {"value": 8.5}],
        "converged": [{"value": 15.0}, {"value": 18.0}]}});
    std::fs::write(out.join("floors.json"), floors.to_string()).unwrap();
    let r = amortise(&[
        "experiment",
        "paper-table",
        "--rows",
        "GMM40-2d",
        "--methods",
        "rsmc",
        "--seeds",
        "2",
        "--stop-at",
        "0",
        "--out",
        o,
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let table = std::fs::read_to_string(out.join("paper-table.md")).unwrap();
    assert!(table.contains("paper-table --seeds 2 --out"), "{table}");
    // the table keeps every run in OUT, not only the --methods selection
    assert!(
        table.contains("| GMM40-2d | TB + IW-buffer | 1 | 200 of 20000 |"),
        "{table}"
    );
    // EUBO 2 and 4: 3 ± √2; Sinkhorn 90 and 50: 70 ± 28.28; wall 1 h and 2 h
    assert!(
        table.contains(
            "| GMM40-2d | RSMC | 2 | 100–300 of 20000 | -40.00 ± 0.00 | 3.00 ± 1.41 | 0.50 ± 0.00 (0.00) | 70.00 ± 28.28 | 0.10 ± 0.00 | 0.90 ± 0.00 | 1.50 h | -2.44 / 0.89 / 6.46 |"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "| GMM40-2d | RSMC | 1 | 300 | 50.00 | 100.00 (capped) | 6.50–8.50 | 15.00–18.00 |"
        ),
        "{table}"
    );
    assert!(
        table.contains("| GMM40-2d | RSMC | 0 | 100: 2.00 / 90.0 |"),
        "{table}"
    );
    assert!(
        !out.join("gmm40-jax-2-tb-s0").exists(),
        "--stop-at 0 runs nothing"
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

/// `EXE experiment aldp-table --methods tb --seeds 2 --out OUT FLAGS -- …` with small runs
/// (width 16, evaluations of 100 samples, the committed reference) and `train_flags`,
/// stdout and stderr piped.
#[cfg(unix)]
fn tb_table_command(
    exe: &std::path::Path,
    out: &std::path::Path,
    flags: &[&str],
    train_flags: &[&str],
) -> std::process::Command {
    let refx = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/results/aldp/reference-x.csv.gz"
    );
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "experiment",
        "aldp-table",
        "--methods",
        "tb",
        "--seeds",
        "2",
    ])
    .args(flags)
    .args(["--out", out.to_str().unwrap(), "--"])
    .args([
        "--aldp-reference",
        refx,
        "--hidden",
        "16",
        "--eval-samples",
        "100",
    ])
    .args(train_flags)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    cmd
}

/// An experiment runs its children with the binary it started from, even when that file is
/// deleted (or rebuilt) while it runs: the second seed's run still starts (pieces of one
/// iteration, so no final comparison).
#[cfg(target_os = "linux")]
#[test]
fn an_experiment_outlives_its_binary_file() {
    let out = tmp("aldp-table-deleted-exe");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let copy = out.join("amortise-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_amortise"), &copy).unwrap();
    let child = tb_table_command(&copy, &out, &["--stop-at", "1"], &["--iters", "2"])
        .spawn()
        .unwrap();
    // spawn returns once the new process runs the copy: delete it before any child starts
    std::fs::remove_file(&copy).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for seed in 0..2 {
        let dir = out.join(format!("tb-s{seed}"));
        assert!(dir.join("summary.json").exists(), "seed {seed}");
    }
}

/// Ctrl-C at the terminal (SIGINT to the experiment's process group) during a piece of
/// `experiment aldp-table`: the running `train` (in its own group) gets it passed on, writes
/// its checkpoint and exits; the experiment starts no other run, writes its table with the
/// stopped row, says how to go on, and exits with 130 rather than reporting a failure.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_an_experiment_at_its_checkpoint() {
    use std::os::unix::process::CommandExt as _;
    let out = tmp("aldp-table-sigint");
    let _ = std::fs::remove_dir_all(&out);
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_amortise"));
    let mut cmd = tb_table_command(exe, &out, &[], &["--iters", "1000000", "--eval-every", "2"]);
    cmd.process_group(0);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let metrics = out.join("tb-s0/metrics.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&metrics).map_or(true, |s| s.lines().count() < 2) {
        assert!(t0.elapsed().as_secs() < 60, "no metrics after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // as a terminal does: the signal goes to the whole foreground group
    let kill = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("the same command resumes it"), "{err}");
    assert!(
        !err.contains("failed") && !err.contains("panicked"),
        "{err}"
    );
    assert!(
        !out.join("tb-s1").exists(),
        "no run after the interrupted one"
    );
    let log = std::fs::read_to_string(out.join("tb-s0.log")).unwrap();
    assert!(log.contains("writing the checkpoint"), "{log}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tb-s0/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["interrupted"], true);
    let done = summary["iterations_completed"].as_u64().unwrap();
    assert!((2..1_000_000).contains(&done), "{done}");
    let table = std::fs::read_to_string(out.join("aldp-table.md")).unwrap();
    assert!(
        table.contains(&format!("| TB (on-policy) | 0 | {done} of 1000000 |")),
        "{table}"
    );
}

/// `experiment aldp-table` starts a run with the preset and the flags after `--`, makes the
/// final 100,000-sample comparison once the run has finished (deleting the samples file),
/// collects without running anything at `--stop-at 0`, and refuses flags it does not use.
#[test]
fn aldp_table_runs_finishes_and_collects() {
    let out = tmp("aldp-table");
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap();
    let refx = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/results/aldp/reference-x.csv.gz"
    );
    assert_fails(
        &amortise(&["experiment", "aldp-table", "--threads", "2", "--out", o]),
        2,
        "--threads: aldp-table runs --preset aldp",
    );
    assert_fails(
        &amortise(&["experiment", "aldp-table", "--methods", "vgs", "--out", o]),
        2,
        "--methods: unknown 'vgs'",
    );
    let run = amortise(&[
        "experiment",
        "aldp-table",
        "--methods",
        "tb",
        "--out",
        o,
        "--",
        "--aldp-reference",
        refx,
        "--iters",
        "3",
        "--hidden",
        "16",
        "--eval-samples",
        "100",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let dir = out.join("tb-s0");
    let fin: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("final-ramachandran.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(fin["populations_a"]["n"], 100_000);
    assert_eq!(fin["populations_b"]["n"], 12_975);
    assert!(
        !dir.join("final.csv").exists(),
        "the 100k samples are deleted"
    );
    let table = std::fs::read_to_string(out.join("aldp-table.md")).unwrap();
    assert!(
        table.contains("| RSMC | 0 | not run |"),
        "every method: {table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("| TB (on-policy) | 0 |"))
        .unwrap();
    // 3 iterations of 200 and the first batch that initialises log Z
    assert!(row.contains("| 3 of 3 | 800 |"), "{row}");
    // collecting every method runs nothing and writes the same row
    let again = amortise(&["experiment", "aldp-table", "--stop-at", "0", "--out", o]);
    assert!(again.status.success(), "{}", stderr(&again));
    let collected = std::fs::read_to_string(out.join("aldp-table.md")).unwrap();
    assert!(collected.contains("| RSMC | 0 | not run |"), "{collected}");
    assert!(!out.join("rsmc-s0").exists());
    assert_eq!(
        collected
            .lines()
            .find(|l| l.starts_with("| TB (on-policy) | 0 |")),
        Some(row),
        "{collected}"
    );
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
