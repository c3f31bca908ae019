//! The shared run loop (`src/run_loop.rs`) and the one checkpoint format
//! (`src/checkpoint.rs`), through real processes: for every trained method (train tb,
//! with and without threads, tb-buffer, rsmc, teacher, vgs; train-vgs; ebm; the discrete
//! GFlowNet tb and rsmc and the discrete teacher) a short run writes a checkpoint of its
//! kind that `amortise sample --checkpoint` loads (finite samples of the right
//! dimension), and Ctrl-C (SIGINT after the first metrics line) ends the run with exit
//! code 130, a summary that says so and a loadable checkpoint. Version-1 checkpoints
//! still load. A discrete checkpoint restores the exact policy, and `sample` draws from
//! it.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{amortise, assert_fails, stderr, tmp};

/// (name, checkpoint kind, dimension of the samples, arguments without `--out`,
/// `--iters` and `--eval-every`). Small sizes: each short run takes well under a second.
/// The columns of a discrete sample are its terminal index and the state's words (grid
/// d = 2: 3 columns; sequence of length 4: 6).
const METHODS: &[(&str, &str, usize, &str)] = &[
    (
        "tb",
        "diffusion",
        2,
        "train --target gaussian --method tb --batch 8 --steps 16 --hidden 8 --harmonics 4 --eval-samples 20",
    ),
    (
        "tb-threads",
        "diffusion",
        2,
        "train --target gaussian --method tb --threads 2 --grad-chunks 2 --batch 8 --steps 16 --hidden 8 --harmonics 4 --eval-samples 20",
    ),
    (
        "tb-buffer",
        "diffusion",
        2,
        "train --target gaussian --method tb-buffer --batch 8 --steps 16 --hidden 8 --harmonics 4 --buffer 64 --eval-samples 20",
    ),
    (
        "rsmc",
        "diffusion",
        2,
        "train --target 9gmm --method rsmc --batch 8 --particles 16 --prefill 1 --steps 16 --hidden 8 --flow-hidden 8 --harmonics 4 --buffer 64 --eval-samples 20",
    ),
    (
        "teacher",
        "teacher",
        2,
        "train --target 25gmm --method teacher --batch 8 --steps 16 --hidden 8 --harmonics 4 --eval-samples 20",
    ),
    (
        "train-vgs",
        "vgs",
        2,
        "train-vgs --target 9gmm --steps 4 --batch 16 --hidden 8 --eval-samples 20",
    ),
    (
        "method-vgs",
        "vgs",
        2,
        "train --target 9gmm --method vgs --steps 4 --batch 16 --hidden 8 --eval-samples 20",
    ),
    (
        "ebm",
        "ebm",
        2,
        "ebm --data moons --batch 16 --hidden 8 --vgs-hidden 8 --steps 4 --n-update 1 --eval-samples 20",
    ),
    (
        "discrete-tb",
        "discrete",
        3,
        "train --target grid --side 4 --method tb --batch 8 --hidden 8 --eval-samples 64",
    ),
    (
        "discrete-rsmc",
        "discrete",
        6,
        "train-discrete --env sequence --len 4 --alphabet 2 --method rsmc --chunk 1 --batch 8 --hidden 8 --flow-hidden 8 --prefill 1 --eval-samples 64",
    ),
    (
        "discrete-teacher",
        "discrete",
        3,
        "train-discrete --env grid --side 4 --method teacher --buffer 32 --batch 8 --hidden 8 --eval-samples 64",
    ),
];

fn args<'a>(base: &'a str, iters: &'a str, every: &'a str, out: &'a Path) -> Vec<String> {
    let mut v: Vec<String> = base.split_whitespace().map(str::to_string).collect();
    for a in ["--iters", iters, "--eval-every", every, "--out"] {
        v.push(a.to_string());
    }
    v.push(out.to_string_lossy().into_owned());
    v
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// `amortise sample --checkpoint DIR --n 7`: exit 0, 7 finite rows of `dim` columns.
fn assert_samples(name: &str, dir: &Path, dim: usize) {
    let out = tmp(&format!("{name}-sampled.csv"));
    let o = amortise(&[
        "sample",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--n",
        "7",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 7, "{name}: {text}");
    for row in rows {
        let vals: Vec<f32> = row.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(vals.len(), dim, "{name}: {row}");
        assert!(vals.iter().all(|v| v.is_finite()), "{name}: {row}");
    }
}

fn assert_checkpoint(name: &str, dir: &Path, kind: &str, iteration: u64) {
    let ck = read_json(&dir.join("checkpoint.json"));
    assert_eq!(ck["format"], "amortise-checkpoint", "{name}");
    assert_eq!(ck["version"], 2, "{name}");
    assert_eq!(ck["kind"], kind, "{name}");
    assert_eq!(ck["iteration"].as_u64(), Some(iteration), "{name}");
    assert_eq!(ck["state"]["iteration"].as_u64(), Some(iteration), "{name}");
    // at least one optimiser step per iteration (VGS takes one per TD minibatch)
    assert!(
        ck["state"]["optim_steps"].as_u64().unwrap() >= iteration,
        "{name}: {ck}"
    );
    let total: u64 = ck["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["len"].as_u64().unwrap())
        .sum();
    assert_eq!(
        total as usize,
        ck["params"].as_array().unwrap().len(),
        "{name}"
    );
}

#[test]
fn every_method_writes_a_checkpoint_that_sample_loads() {
    for &(name, kind, dim, base) in METHODS {
        let dir = tmp(&format!("short-{name}"));
        let o = Command::new(env!("CARGO_BIN_EXE_amortise"))
            .args(args(base, "3", "2", &dir))
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_checkpoint(name, &dir, kind, 3);
        let summary = read_json(&dir.join("summary.json"));
        assert_eq!(summary["interrupted"], false, "{name}");
        assert_eq!(summary["iterations_completed"].as_u64(), Some(3), "{name}");
        let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        assert_eq!(metrics.lines().count(), 2, "{name}: evaluations at 2 and 3");
        assert_samples(name, &dir, dim);
    }
}

/// SIGINT once the first metrics line is written: exit code 130, `"interrupted": true`,
/// the checkpoint at the last completed iteration, loadable; no temporary file left.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_every_method_with_a_loadable_checkpoint() {
    for &(name, kind, dim, base) in METHODS {
        let dir = tmp(&format!("sigint-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        let child = Command::new(env!("CARGO_BIN_EXE_amortise"))
            .args(args(base, "1000000", "1", &dir))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let metrics = dir.join("metrics.jsonl");
        let out = common::interrupt_after_first_metrics(name, child, &metrics);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{name}: {err}");
        assert!(
            err.contains("interrupted") && !err.contains("panicked"),
            "{err}"
        );
        let summary = read_json(&dir.join("summary.json"));
        assert_eq!(summary["interrupted"], true, "{name}");
        let done = summary["iterations_completed"].as_u64().unwrap();
        assert!((1..1_000_000).contains(&done), "{name}: {done}");
        assert_checkpoint(name, &dir, kind, done);
        for line in std::fs::read_to_string(&metrics).unwrap().lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
        }
        assert!(!dir.join("checkpoint.json.tmp").exists());
        assert!(!dir.join("metrics.jsonl.tmp").exists());
        assert_samples(&format!("{name}-int"), &dir, dim);
    }
}

/// Version-1 diffusion checkpoints (the fuzz corpus holds two, written before version 2)
/// still load and sample.
#[test]
fn version_1_checkpoints_still_load() {
    for file in ["tb-gaussian.json", "rsmc-9gmm-pinned.json"] {
        let path = format!(
            "{}/fuzz/corpus/checkpoint/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v1 = read_json(Path::new(&path));
        assert_eq!(v1["version"], 1, "{file}");
        let dir = tmp(&format!("v1-{file}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&path, dir.join("checkpoint.json")).unwrap();
        assert_samples(file, &dir, v1["config"]["dim"].as_u64().unwrap() as usize);
    }
}

/// Checkpoints of the other kinds are checked like flags too, and unknown kinds or the old
/// VGS format are clean file errors.
#[test]
fn bad_checkpoints_of_every_kind_are_file_errors() {
    let run = |name: &str, base: &str| {
        let dir = tmp(&format!("bad-{name}"));
        let o = Command::new(env!("CARGO_BIN_EXE_amortise"))
            .args(args(base, "1", "1", &dir))
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        read_json(&dir.join("checkpoint.json"))
    };
    let method = |name: &str| METHODS.iter().find(|m| m.0 == name).unwrap().3;
    let vgs = run("vgs", method("train-vgs"));
    let ebm = run("ebm", method("ebm"));
    let discrete = run("discrete", method("discrete-teacher"));
    let cases: Vec<(serde_json::Value, &str, serde_json::Value, &str)> = vec![
        (
            vgs.clone(),
            "/kind",
            "gflownet".into(),
            "unknown checkpoint kind",
        ),
        (vgs.clone(), "/config/steps", 0.into(), "--steps"),
        (vgs.clone(), "/config/target", "nope".into(), "--target"),
        (vgs.clone(), "/config/hidden", 9.into(), "do not match"),
        (vgs.clone(), "/config/lr", (-1.0).into(), "--lr"),
        (
            vgs.clone(),
            "/groups/2/len",
            u64::MAX.into(),
            "counts disagree",
        ),
        (ebm.clone(), "/config/data", "nope".into(), "--data"),
        (ebm.clone(), "/config/hidden", 9.into(), "do not match"),
        (ebm.clone(), "/kind", "vgs".into(), "of a vgs checkpoint"),
        (discrete.clone(), "/config/env", "maze".into(), "--env"),
        (discrete.clone(), "/config/hidden", 9.into(), "do not match"),
        (
            discrete.clone(),
            "/config/method",
            "tb".into(),
            "do not match",
        ),
        (discrete.clone(), "/config/batch", 0.into(), "--batch"),
        (discrete.clone(), "/config/lr", (-1.0).into(), "--lr"),
        (
            discrete.clone(),
            "/groups/3/name",
            "x".into(),
            "do not match",
        ),
        (
            vgs.clone(),
            "/format",
            "amortise-vgs-checkpoint-1".into(),
            "unsupported",
        ),
    ];
    let samples = tmp("bad-kinds.csv");
    for (i, (ck, ptr, value, needle)) in cases.into_iter().enumerate() {
        let mut bad = ck;
        *bad.pointer_mut(ptr).unwrap() = value;
        let path = tmp(&format!("bad-kind-{i}.json"));
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
    // the format train-vgs wrote before version 2
    let path = tmp("old-vgs.json");
    std::fs::write(
        &path,
        r#"{"format":"amortise-vgs-checkpoint-1","target":"9gmm","params":[0.5]}"#,
    )
    .unwrap();
    let o = amortise(&[
        "sample",
        "--checkpoint",
        path.to_str().unwrap(),
        "--n",
        "3",
        "--out",
        samples.to_str().unwrap(),
    ]);
    assert_fails(&o, 1, "old format");
}

/// A discrete checkpoint round trip: the checkpoint restores the policy exactly (its exact
/// terminal distribution is as far from π as the run's summary says), and
/// `amortise sample` draws from that policy: the same file for the same seed, the run's
/// `samples.csv` header, rows whose index names their state, and an empirical
/// distribution close to the exact one.
#[test]
fn a_discrete_checkpoint_samples_its_policy() {
    use amortise::checkpoint::{Checkpoint, RunSettings};
    use amortise::commands::discrete::{build_env, layouts};
    use amortise::commands::discrete_eval::{ExactTarget, policy_distribution};
    use amortise_kernel::samplers::gflownet::env::DiscreteEnv;

    for (name, base) in [
        (
            "rt-tb",
            "train --target grid --side 4 --method tb --batch 16 --hidden 16 --lr 0.01 --eval-samples 64",
        ),
        (
            "rt-teacher",
            "train-discrete --env deceptive-grid --side 4 --method teacher --batch 8 --hidden 8 --eval-samples 64",
        ),
    ] {
        let dir = tmp(name);
        let o = Command::new(env!("CARGO_BIN_EXE_amortise"))
            .args(args(base, "40", "40", &dir))
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let summary = read_json(&dir.join("summary.json"));
        let ck = Checkpoint::load(dir.join("checkpoint.json").to_str().unwrap()).unwrap();
        let RunSettings::Discrete(s) = &ck.settings else {
            panic!("{name}: kind {}", ck.kind());
        };
        let env = build_env(s).unwrap();
        let (_, lay, _) = layouts(s, &env).unwrap();
        let ex = ExactTarget::new(&env).unwrap();
        let q = policy_distribution(&env, &lay, ck.group("policy").unwrap()).unwrap();
        let tv: f64 = 0.5
            * q.iter()
                .zip(&ex.p)
                .map(|(&a, &b)| (a - b as f64).abs())
                .sum::<f64>();
        // the same number (serde_json reads floats back to within an ulp)
        let want = summary["tv_policy"].as_f64().unwrap();
        assert!((tv - want).abs() <= 1e-15, "{name}: {tv} vs {want}");

        let n = 20_000;
        let draw = |file: &str| {
            let out = tmp(file);
            let o = amortise(&[
                "sample",
                "--checkpoint",
                dir.to_str().unwrap(),
                "--n",
                &n.to_string(),
                "--seed",
                "5",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{name}: {}", stderr(&o));
            std::fs::read_to_string(out).unwrap()
        };
        let text = draw(&format!("{name}-a.csv"));
        assert_eq!(
            text,
            draw(&format!("{name}-b.csv")),
            "{name}: same seed, same file"
        );
        let trained = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
        assert_eq!(
            text.lines().next(),
            trained.lines().next(),
            "{name}: header"
        );
        let mut counts = vec![0usize; env.n_terminal()];
        let mut st = vec![0u32; env.state_len()];
        for row in text.lines().skip(1) {
            let v: Vec<u32> = row.split(',').map(|x| x.parse().unwrap()).collect();
            env.terminal_from_index(v[0] as usize, &mut st);
            assert_eq!(&v[1..], &st[..st.len() - 1], "{name}: {row}");
            counts[v[0] as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<usize>(), n, "{name}");
        let tv_emp: f64 = 0.5
            * counts
                .iter()
                .zip(&q)
                .map(|(&c, &p)| (c as f64 / n as f64 - p).abs())
                .sum::<f64>();
        // 16 states, 20,000 draws: the sampling noise of the TV is about 0.01
        assert!(
            tv_emp < 0.04,
            "{name}: TV of the samples to the policy {tv_emp}"
        );
    }
}
