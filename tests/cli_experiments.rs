//! End-to-end tests of `amortise experiment` (the RSMC, paper, TB and ALDP tables) and of
//! `--preset paper` and the SMC baseline's flags: real processes, real files, runs in
//! pieces, Ctrl-C at a checkpoint.

mod common;
use common::{amortise, assert_fails, stderr, tmp};

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
    assert!(table.contains(" -- --batch 4 --particles 4"), "{table}");
    let summary = |m: &str| out.join(format!("ManyWell-32-LP-{m}-s0/summary.json"));
    for m in ["tb", "tb-buffer", "rsmc"] {
        let s = std::fs::read_to_string(summary(m)).unwrap();
        assert!(s.contains("\"manywell\""), "{s}");
    }
    // --stop-at 0 rewrites the table from the runs' summaries and trains nothing
    let modified = || {
        std::fs::metadata(summary("rsmc"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = modified();
    let collect = |seeds: &str| {
        amortise(&[
            "experiment",
            "rsmc-table",
            "--rows",
            "ManyWell-32-LP",
            "--seeds",
            seeds,
            "--stop-at",
            "0",
            "--out",
            o,
        ])
    };
    let r = collect("1");
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(modified(), before, "collecting must not train");
    let collected = std::fs::read_to_string(out.join("rsmc-table.md")).unwrap();
    assert!(
        collected.starts_with(
            "Collected by `amortise experiment rsmc-table --seeds 1 --rows ManyWell-32-LP --stop-at 0` from the 3 runs' `summary.json` (2 iterations each"
        ),
        "{collected}"
    );
    assert!(collected.contains("from 16 policy samples"), "{collected}");
    let body = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&collected), body(&table));
    // a seed that never ran: named, and the table is left as it was
    let r = collect("2");
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let err = stderr(&r);
    assert!(
        err.contains("--out: 3 of the 6 runs that --rows and --seeds pick have no summary.json")
            && err.contains("ManyWell-32-LP-rsmc-s1"),
        "{err}"
    );
    let after = std::fs::read_to_string(out.join("rsmc-table.md")).unwrap();
    assert_eq!(
        after, collected,
        "a refused collect must not rewrite the table"
    );
}

#[test]
fn the_paper_preset_sets_the_run_and_flags_override_it() {
    let dir = std::env::temp_dir().join(format!("amortise-preset-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    // Everything heavy is overridden; steps, sigma and the cadence come from the preset.
    let o = amortise(&[
        "train",
        "--target",
        "gmm40-jax",
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
    // the paper's GMM40 is the JAX code's: the PyTorch means are refused, naming the target
    assert_fails(
        &amortise(&["train", "--target", "gmm40", "--preset", "paper"]),
        2,
        "gmm40-jax",
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
        "gmm40-jax",
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
        &amortise(&["experiment", "paper-table", "--jobs", "2", "--out", o]),
        2,
        "--jobs: paper-table runs --preset paper as it is",
    );
    assert_fails(
        &amortise(&[
            "experiment",
            "paper-table",
            "--out",
            o,
            "--",
            "--batch",
            "4",
        ]),
        2,
        "--batch: paper-table runs --preset paper as it is",
    );
    for name in ["teacher-grid", "discrete-table"] {
        assert_fails(
            &amortise(&["experiment", name, "--jobs", "2", "--out", o]),
            2,
            "--jobs: teacher-grid and discrete-table run their cells one at a time",
        );
    }
    assert_fails(
        &amortise(&["experiment", "rsmc-table", "--stop-at", "5", "--out", o]),
        2,
        "--stop-at: rsmc-table runs its cells whole: only --stop-at 0",
    );
    assert_fails(
        &amortise(&["experiment", "vgs-table", "--stop-at", "0", "--out", o]),
        2,
        "--stop-at: only used by paper-table and aldp-table, and as 0 (collect) by rsmc-table",
    );
    for (flag, value) in [
        ("--iters", "9"),
        ("--quick", ""),
        ("--jobs", "2"),
        ("--", "--batch"),
    ] {
        let mut args = vec![
            "experiment",
            "rsmc-table",
            "--stop-at",
            "0",
            "--out",
            o,
            flag,
        ];
        if !value.is_empty() {
            args.push(value);
        }
        let named = if flag == "--" { value } else { flag };
        assert_fails(
            &amortise(&args),
            2,
            &format!("{named}: rsmc-table --stop-at 0 only collects"),
        );
    }
    assert_fails(
        &amortise(&["experiment", "rsmc-table", "--stop-at", "0", "--out", o]),
        2,
        "is not a folder of runs to collect",
    );
    assert!(!out.exists(), "a refused flag must fail before any output");
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
            "sinkhorn": 2.0 * sd, "sinkhorn_converged": false, "sinkhorn_paper": sd,
            "config": {"eval_samples": 2000,
                       "eval_reference": if run == "rsmc" { "paper" } else { "exact" }}});
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
        // an evaluation every 200 iterations, then the stop's, off that schedule
        let line = |it: u32| {
            format!("{{\"iteration\":{it},\"elbo\":-40,\"eubo\":{eubo},\"sinkhorn_paper\":{sd}}}\n")
        };
        let lines: String = (1..=its / 200)
            .map(|k| line(200 * k))
            .chain([line(its)])
            .collect();
        std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    }
    let paper: Vec<_> = (0..10)
        .map(|i| serde_json::json!({"value": if i % 2 == 0 { 6.5 } else { 8.5 }}))
        .collect();
    let floors = serde_json::json!({"GMM40-2d": {"against": "paper",
        "seeds": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "paper": paper,
        "converged_seeds": [1, 2], "converged": [{"value": 15.0}, {"value": 18.0}]}});
    std::fs::write(out.join("floors.json"), floors.to_string()).unwrap();
    let r = amortise(&[
        "experiment",
        "paper-table",
        "--rows",
        "GMM40-2d",
        "--methods",
        "rsmc",
        "--stop-at",
        "0",
        "--out",
        o,
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let table = std::fs::read_to_string(out.join("paper-table.md")).unwrap();
    // the default `--seeds 1` runs seed 0 only, but the table collects every seed in OUT
    assert!(table.contains("paper-table --out"), "{table}");
    // the header's sample counts are the runs' own
    assert!(
        table.contains("2000 model samples against the row's reference"),
        "{table}"
    );
    // the table keeps every run in OUT, not only the --methods selection
    assert!(
        table.contains("| GMM40-2d | TB + IW-buffer | 1 | 200 of 20000 ‡ |"),
        "{table}"
    );
    // population std over seeds, as the seeds' report notebook: EUBO 2 and 4: 3 ± 1;
    // Sinkhorn 90 and 50: 70 ± 20; wall 1 h and 2 h
    assert!(
        table.contains(
            "| GMM40-2d | RSMC | 2 | 100–300 of 20000 | -40.00 ± 0.00 | 3.00 ± 1.00 | 0.50 ± 0.00 (0.00) | 70.00 ± 20.00 | 0.10 ± 0.00 | 0.90 ± 0.00 | 1.50 h | -2.44 ± 0.10 / 0.89 ± 0.03 / 6.46 ± 0.40 |"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "| GMM40-2d | RSMC | 2 | 100–300 | 70.00 ± 20.00 | 140.00 ± 40.00 (2 of 2 capped) | 7.50 ± 1.05 (6.50–8.50) | 15.00–18.00 |"
        ),
        "{table}"
    );
    // where each run is heading: its last5 on the schedule, the stop's line left out
    assert!(table.contains("| GMM40-2d | RSMC | 0 | – |"), "{table}");
    assert!(
        table.contains("| GMM40-2d | RSMC | 1 | 200: 4.00 / 50.00 |"),
        "{table}"
    );
    // the reproduction's targets, checked against the RSMC cells' mean last5
    assert!(
        table.contains(
            "| GMM40-2d RSMC, paper Sinkhorn ≤ 8 | 70.00 ± 20.00 | 2 | 100–300 of 20000 | 6.46 ± 0.40 | no |"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "| ManyWell-32 RSMC, EUBO within 0.5 of the published | – | 0 | not run | – | – |"
        ),
        "{table}"
    );
    // each cell's command
    assert!(
        table.contains(
            "| GMM40-2d | RSMC | `amortise train --target gmm40-jax --dim 2 --method rsmc --preset paper --seed 0 "
        ),
        "{table}"
    );
    assert!(
        !out.join("gmm40-jax-2-tb-s0").exists(),
        "--stop-at 0 runs nothing"
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
    assert_fails(
        &amortise(&[
            "experiment",
            "paper-table",
            "--weighted-samples",
            "9",
            "--out",
            o,
        ]),
        2,
        "--weighted-samples: only used by aldp-table",
    );
    assert_fails(
        &amortise(&[
            "experiment",
            "aldp-table",
            "--weighted-samples",
            "2000000",
            "--out",
            o,
        ]),
        2,
        "--weighted-samples: at most 1000000",
    );
    let run = amortise(&[
        "experiment",
        "aldp-table",
        "--methods",
        "tb",
        "--weighted-samples",
        "2000",
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
    let w: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("final-weighted-ramachandran.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(w["populations_a"]["n"], 2000);
    let ess = w["ess_a_weighted"].as_f64().unwrap();
    assert!(ess > 1.0 && ess <= 2000.0, "{w}");
    assert!(
        w["kl_ramachandran_a_weighted"].as_f64().unwrap() > 0.0,
        "{w}"
    );
    assert!(
        !dir.join("final-logw.csv").exists(),
        "the log weights are deleted"
    );
    // as in a clone (no checkpoint.json is committed): the comparison is redone from the
    // run's snapshot, with the same result
    std::fs::remove_file(dir.join("checkpoint.json")).unwrap();
    std::fs::remove_file(dir.join("final-ramachandran.json")).unwrap();
    let redo = amortise(&["experiment", "aldp-table", "--methods", "tb", "--out", o]);
    assert!(redo.status.success(), "{}", stderr(&redo));
    let again: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("final-ramachandran.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(again, fin);
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
