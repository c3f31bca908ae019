//! `--resume DIR` (`src/commands/resume.rs`, `src/snapshot.rs`), through real processes: for
//! every trained method a run stopped part-way and resumed from its snapshot writes the same
//! bits as the run that never stopped: byte-identical `samples.csv` and `checkpoint.json`,
//! and the same `metrics.jsonl` lines but for their `seconds`. Runs are stopped four ways:
//! `--stop-at K` (in one or more pieces), `--iters K` then `--resume --iters N` (the methods
//! whose learning rate does not follow `--iters`), Ctrl-C, and kill -9 between snapshots
//! (`--checkpoint-every 2`). Bad snapshots and flags that cannot be combined with
//! `--resume` are clean errors. Small sizes and short runs: each test takes a few seconds.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use amortise::checkpoint::Checkpoint;
use common::{assert_fails, stderr, tmp};

/// How a method's run is stopped before it is resumed.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// `--iters K`, then `--resume --iters N`.
    Iters(u32),
    /// `--stop-at K1`, then `--resume --stop-at K2` …, then `--resume`.
    At(&'static [u32]),
}

/// (name, arguments without `--out`, `--iters` and `--eval-every`, the command that
/// resumes it, how it is stopped, extra arguments of the resume). Small sizes: each run
/// takes well under a second.
const METHODS: &[(&str, &str, &str, Stop, &str)] = &[
    (
        "tb",
        "train --target gaussian --method tb --batch 8 --steps 16 --hidden 8 --harmonics 4 --eval-samples 20",
        "train",
        Stop::At(&[4]),
        "",
    ),
    (
        "tb-threads",
        "train --target gaussian --method tb --threads 2 --grad-chunks 3 --batch 9 --steps 16 --hidden 8 --harmonics 4 --eval-samples 20",
        "train",
        Stop::At(&[4]),
        "--threads 1",
    ),
    (
        "tb-buffer",
        "train --target gaussian --method tb-buffer --batch 8 --steps 16 --hidden 8 --harmonics 4 --buffer 24 --eval-samples 20",
        "train",
        Stop::At(&[4]),
        "",
    ),
    (
        "rsmc",
        "train --target 9gmm --method rsmc --batch 8 --particles 16 --prefill 1 --steps 16 --hidden 8 --flow-hidden 8 --harmonics 4 --buffer 40 --eval-samples 20 --init-log-z-smc",
        "train",
        Stop::At(&[3, 7]),
        "",
    ),
    (
        "rsmc-nobuffer",
        "train --target 9gmm --method rsmc-nobuffer --batch 8 --steps 16 --hidden 8 --flow-hidden 8 --harmonics 4 --eval-samples 20",
        "train",
        Stop::At(&[3, 7]),
        "",
    ),
    (
        "rsmc-nobuffer-threads",
        "train --target 9gmm --method rsmc-nobuffer --threads 2 --grad-chunks 3 --batch 9 --steps 16 --hidden 8 --flow-hidden 8 --harmonics 4 --eval-samples 20",
        "train",
        Stop::At(&[4]),
        "--threads 1",
    ),
    (
        "teacher",
        "train --target 25gmm --method teacher --batch 8 --steps 16 --hidden 8 --harmonics 4 --buffer 40 --eval-samples 20",
        "train",
        Stop::At(&[4]),
        "",
    ),
    (
        "train-vgs",
        "train-vgs --target 9gmm --steps 4 --batch 16 --hidden 8 --eval-samples 20",
        "train-vgs",
        Stop::Iters(4),
        "",
    ),
    (
        "method-vgs",
        "train --target 9gmm --method vgs --steps 4 --batch 16 --hidden 8 --eval-samples 20",
        "train",
        Stop::Iters(3),
        "",
    ),
    (
        "ebm",
        "ebm --data moons --batch 16 --hidden 8 --vgs-hidden 8 --steps 4 --n-update 1 --eval-samples 20",
        "ebm",
        Stop::Iters(4),
        "",
    ),
    (
        "discrete-tb",
        "train --target grid --side 4 --method tb --buffer 16 --batch 8 --hidden 8 --eval-samples 64",
        "train",
        Stop::Iters(5),
        "",
    ),
    (
        "discrete-db",
        "train-discrete --env grid --side 4 --method db --learn-pb --batch 8 --hidden 8 --eval-samples 64",
        "train-discrete",
        Stop::Iters(3),
        "",
    ),
    (
        "discrete-subtb",
        "train-discrete --env sequence --len 4 --alphabet 2 --method subtb --buffer 16 --batch 8 --hidden 8 --eval-samples 64",
        "train-discrete",
        Stop::Iters(4),
        "",
    ),
    (
        "discrete-rsmc",
        "train-discrete --env sequence --len 4 --alphabet 2 --method rsmc --chunk 1 --batch 8 --hidden 8 --flow-hidden 8 --prefill 1 --eval-samples 64",
        "train-discrete",
        Stop::Iters(4),
        "",
    ),
    (
        "discrete-teacher",
        "train-discrete --env grid --side 4 --method teacher --buffer 32 --batch 8 --hidden 8 --eval-samples 64",
        "train",
        Stop::Iters(3),
        "",
    ),
];

/// Iterations of the runs compared.
const N: u32 = 10;
/// Iterations of a run stopped by Ctrl-C or kill -9: long enough that the signal lands
/// before its end.
const N_LONG: u32 = 150;

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn args(base: &str, iters: u32, every: u32, out: &Path) -> Vec<String> {
    let mut v = split(base);
    v.extend(split(&format!(
        "--iters {iters} --eval-every {every} --out"
    )));
    v.push(out.to_string_lossy().into_owned());
    v
}

fn run(name: &str, args: &[String]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_amortise"))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{name}: {args:?}: {}", stderr(&o));
    o
}

fn resume(name: &str, cmd: &str, dir: &Path, extra: &str) -> Output {
    let mut a = vec![cmd.to_string(), "--resume".into()];
    a.push(dir.to_string_lossy().into_owned());
    a.extend(split(extra));
    let o = run(name, &a);
    assert!(stderr(&o).contains("resuming"), "{name}: {}", stderr(&o));
    o
}

fn fresh(name: &str) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The `metrics.jsonl` lines without their `seconds`.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

/// A summary without its wall-clock fields and command line.
fn summary(dir: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for k in ["seconds", "sample_seconds", "command"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

/// `b` has exactly the outputs of `a`: the same sample files and checkpoint, byte for
/// byte, and the same metrics lines and summary but for their wall-clock fields.
fn assert_same(name: &str, a: &Path, b: &Path) {
    let files = ["samples.csv", "teacher_samples.csv", "checkpoint.json"];
    for f in files.iter().filter(|f| a.join(f).exists()) {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{name}: {f} differs after resuming");
    }
    let (ma, mb) = (metrics(a), metrics(b));
    assert_eq!(ma.len(), mb.len(), "{name}: metrics lines");
    for (x, y) in ma.iter().zip(&mb) {
        assert_eq!(x, y, "{name}: metrics differ after resuming");
    }
    assert_eq!(summary(a), summary(b), "{name}: summary");
}

fn spawn(args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_amortise"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Iterations a stopped run had completed, from its summary.
fn completed(dir: &Path) -> u64 {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    s["iterations_completed"].as_u64().unwrap()
}

/// The method `name` of [`METHODS`], stopped and resumed, against the run that never
/// stopped.
fn resumes_with_the_same_bits(name: &str) {
    let &(_, base, cmd, stop, extra) = METHODS.iter().find(|m| m.0 == name).unwrap();
    let (whole, parts) = (
        fresh(&format!("whole-{name}")),
        fresh(&format!("parts-{name}")),
    );
    run(name, &args(base, N, 2, &whole));
    match stop {
        Stop::Iters(k) => {
            run(name, &args(base, k, 2, &parts));
            assert!(parts.join("snapshot.gz").exists(), "{name}");
            resume(name, cmd, &parts, &format!("--iters {N} {extra}"));
        }
        Stop::At(ks) => {
            let mut a = args(base, N, 2, &parts);
            a.extend(split(&format!("--stop-at {}", ks[0])));
            run(name, &a);
            assert_eq!(completed(&parts), u64::from(ks[0]), "{name}");
            for k in &ks[1..] {
                resume(name, cmd, &parts, &format!("--stop-at {k} {extra}"));
                assert_eq!(completed(&parts), u64::from(*k), "{name}");
            }
            resume(name, cmd, &parts, extra);
        }
    }
    assert_same(name, &whole, &parts);
    assert!(!parts.join("snapshot.gz.tmp").exists(), "{name}");
    samples_from_the_snapshot(name, &parts);
}

/// The final snapshot of the finished run in `dir` holds the checkpoint written beside it,
/// and `amortise sample` on the folder draws the same samples with or without that
/// `checkpoint.json`.
fn samples_from_the_snapshot(name: &str, dir: &Path) {
    let (json, snap) = (dir.join("checkpoint.json"), dir.join("snapshot.gz"));
    let written = Checkpoint::load(json.to_str().unwrap()).unwrap();
    let rebuilt = amortise::commands::resume::checkpoint_of(snap.to_str().unwrap()).unwrap();
    assert_eq!(written, rebuilt, "{name}: the snapshot's checkpoint");
    let sample = |out: &str| {
        let csv = dir.join(out);
        let mut a = split("sample --n 7 --seed 5 --checkpoint");
        a.push(dir.to_string_lossy().into_owned());
        a.push("--out".into());
        a.push(csv.to_string_lossy().into_owned());
        let said = stderr(&run(name, &a));
        (std::fs::read(csv).ok(), said)
    };
    let (from_json, said) = sample("from-json.csv");
    assert!(!said.contains("snapshot"), "{name}: {said}");
    std::fs::remove_file(&json).unwrap();
    let (from_snapshot, said) = sample("from-snapshot.csv");
    assert!(said.contains("from the resume snapshot"), "{name}: {said}");
    assert!(
        from_json.is_some() && from_json == from_snapshot,
        "{name}: samples differ"
    );
}

#[test]
fn diffusion_tb_resumes_with_the_same_bits() {
    resumes_with_the_same_bits("tb");
    resumes_with_the_same_bits("tb-threads");
}

#[test]
fn diffusion_tb_buffer_resumes_with_the_same_bits() {
    resumes_with_the_same_bits("tb-buffer");
}

#[test]
fn diffusion_rsmc_resumes_in_pieces_with_the_same_bits() {
    resumes_with_the_same_bits("rsmc");
}

#[test]
fn diffusion_rsmc_without_a_buffer_resumes_with_the_same_bits() {
    resumes_with_the_same_bits("rsmc-nobuffer");
    resumes_with_the_same_bits("rsmc-nobuffer-threads");
}

#[test]
fn continuous_teacher_resumes_with_the_same_bits() {
    resumes_with_the_same_bits("teacher");
}

#[test]
fn vgs_and_ebm_resume_with_the_same_bits() {
    for name in ["train-vgs", "method-vgs", "ebm"] {
        resumes_with_the_same_bits(name);
    }
}

#[test]
fn discrete_methods_resume_with_the_same_bits() {
    for name in [
        "discrete-tb",
        "discrete-db",
        "discrete-subtb",
        "discrete-rsmc",
        "discrete-teacher",
    ] {
        resumes_with_the_same_bits(name);
    }
}

/// Ctrl-C writes the snapshot; `--resume` then ends with the uninterrupted run's bits.
#[cfg(unix)]
#[test]
fn ctrl_c_then_resume_gives_the_same_bits() {
    let (name, base) = (METHODS[0].0, METHODS[0].1);
    let (whole, parts) = (fresh("ctrl-c-whole"), fresh("ctrl-c-parts"));
    run(name, &args(base, N_LONG, 1, &whole));
    let child = spawn(&args(base, N_LONG, 1, &parts));
    let metrics = parts.join("metrics.jsonl");
    let out = common::interrupt_after_first_metrics(name, child, &metrics);
    assert_eq!(out.status.code(), Some(130), "{name}: {}", stderr(&out));
    let k = completed(&parts);
    assert!(
        (1..u64::from(N_LONG)).contains(&k),
        "{name}: stopped at {k}"
    );
    resume(name, "train", &parts, "");
    assert_same(name, &whole, &parts);
}

/// kill -9 between two snapshots (`--checkpoint-every 2`): the resumed run redoes the
/// iterations after the last snapshot (dropping their metrics lines) and ends with the
/// uninterrupted run's bits.
#[cfg(unix)]
#[test]
fn kill_9_between_snapshots_loses_nothing_but_time() {
    let (name, base) = (METHODS[3].0, METHODS[3].1);
    let (whole, parts) = (fresh("kill-whole"), fresh("kill-parts"));
    let n = N_LONG;
    run(name, &args(base, n, 1, &whole));
    let mut a = args(base, n, 1, &parts);
    a.extend(split("--checkpoint-every 2"));
    let mut child = spawn(&a);
    let (metrics, snap) = (parts.join("metrics.jsonl"), parts.join("snapshot.gz"));
    let t0 = Instant::now();
    // a snapshot, then a few more iterations (one metrics line each)
    while !snap.exists() || std::fs::read_to_string(&metrics).map_or(0, |s| s.lines().count()) < 5 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed: {status}");
    assert!(
        !parts.join("summary.json").exists(),
        "the run finished before kill -9"
    );
    resume(name, "train", &parts, "");
    assert_same("kill -9", &whole, &parts);
}

/// Decompresses, edits and recompresses a snapshot.
fn edit_snapshot(path: &Path, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&f(raw)).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

/// Replaces the first `from` of the snapshot's header line by `to`.
fn edit_header(path: &Path, from: &str, to: &str) {
    edit_snapshot(path, |raw| {
        let nl = raw.iter().position(|&b| b == b'\n').unwrap();
        let head = String::from_utf8(raw[..nl].to_vec()).unwrap();
        assert!(head.contains(from), "{head}");
        let mut out = head.replacen(from, to, 1).into_bytes();
        out.extend_from_slice(&raw[nl..]);
        out
    });
}

/// The checkpoint in a snapshot does not depend on the launch's threads or reference file:
/// rebuilding it uses one thread and loads no reference (a resume would refuse a reference
/// on a target other than aldp, and a VGS run would read it).
#[test]
fn a_snapshots_checkpoint_needs_neither_its_threads_nor_its_reference() {
    let with_reference = |name: &str, base: &str, threads: &str| {
        let dir = fresh(&format!("launch-{name}"));
        run(name, &args(base, 3, 2, &dir));
        let snap = dir.join("snapshot.gz");
        let to = format!("{threads},\"reference\":\"/nonexistent/ref.csv\"");
        edit_header(&snap, threads, &to);
        let written = Checkpoint::load(dir.join("checkpoint.json").to_str().unwrap()).unwrap();
        let rebuilt = amortise::commands::resume::checkpoint_of(snap.to_str().unwrap()).unwrap();
        assert_eq!(written, rebuilt, "{name}");
        // away from the repository's data/, where dw4's default reference lies
        let o = Command::new(env!("CARGO_BIN_EXE_amortise"))
            .args(split("sample --n 3 --checkpoint snapshot.gz --out s.csv"))
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("note"), "{name}: {}", stderr(&o));
    };
    let &(_, tb, ..) = METHODS.iter().find(|m| m.0 == "tb-threads").unwrap();
    with_reference("tb-threads", tb, "\"threads\":2");
    // dw4 has no exact sampler: a VGS run reads reference samples from a file
    let vgs = "train-vgs --target dw4 --steps 4 --batch 16 --hidden 8 --eval-samples 20";
    with_reference("vgs-dw4", vgs, "\"threads\":1");
}

/// `sample --checkpoint DIR` names the folder when it holds neither file, and a
/// `snapshot.gz` in the current directory rebuilds there.
#[test]
fn sample_finds_the_snapshot_or_says_what_is_missing() {
    let empty = fresh("sample-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut a = split("sample --n 3 --out x.csv --checkpoint");
    a.push(empty.to_string_lossy().into_owned());
    let o = Command::new(env!("CARGO_BIN_EXE_amortise"))
        .args(&a)
        .output()
        .unwrap();
    assert_fails(&o, 2, "holds neither checkpoint.json nor snapshot.gz");
    let dir = fresh("sample-cwd");
    let &(_, base, ..) = METHODS.iter().find(|m| m.0 == "rsmc").unwrap();
    run("rsmc", &args(base, 3, 2, &dir));
    let o = Command::new(env!("CARGO_BIN_EXE_amortise"))
        .args(split(
            "sample --n 3 --smc --particles 4 --checkpoint snapshot.gz --out s.csv",
        ))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("from the resume snapshot snapshot.gz"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("s.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
}

#[test]
fn bad_snapshots_and_flags_are_clean_errors() {
    let base = METHODS[0].1;
    let dir = fresh("bad-snap");
    run("tb", &args(base, 4, 2, &dir));
    let d = dir.to_string_lossy().into_owned();
    let am = |a: &[&str]| common::amortise(a);
    // flags that would change the run, a complete run, another command, too few iterations
    assert_fails(
        &am(&["train", "--resume", &d, "--batch", "4"]),
        2,
        "--batch",
    );
    assert_fails(
        &am(&["train", "--resume", &d, "--target", "gmm40"]),
        2,
        "--target",
    );
    assert_fails(&am(&["train", "--resume", &d]), 2, "complete (4 of 4");
    assert_fails(
        &am(&["train", "--resume", &d, "--iters", "4"]),
        2,
        "--iters",
    );
    assert_fails(&am(&["ebm", "--resume", &d]), 2, "holds a diffusion run");
    assert_fails(
        &am(&["train-discrete", "--resume", &d]),
        2,
        "holds a diffusion",
    );
    assert_fails(
        &am(&["train", "--resume", &d, "--iters", "6", "--threads", "2"]),
        2,
        "--threads",
    );
    assert_fails(
        &am(&["train", "--resume", &d, "--iters", "6", "--stop-at", "4"]),
        2,
        "--stop-at: must be beyond the run's iteration (4)",
    );
    assert_fails(
        &am(&["train", "--resume", &d, "--out", "elsewhere"]),
        2,
        "--out",
    );
    assert_fails(
        &am(&["train", "--resume", "/nonexistent/run"]),
        1,
        "no resume snapshot",
    );
    let snap = dir.join("snapshot.gz");
    let good = std::fs::read(&snap).unwrap();
    let restore = || std::fs::write(&snap, &good).unwrap();
    let resumes = |needle: &str| {
        assert_fails(&am(&["train", "--resume", &d, "--iters", "6"]), 1, needle);
        restore();
    };
    // not gzip; truncated; another version; settings that build other arenas; a body
    // that is too short; an iteration the trainer does not stand at
    std::fs::write(&snap, b"garbage").unwrap();
    resumes("snapshot.gz: not a readable resume snapshot");
    std::fs::write(&snap, &good[..good.len() / 2]).unwrap();
    resumes("snapshot.gz: not a readable resume snapshot");
    edit_header(&snap, "\"version\":1", "\"version\":7");
    resumes("version 7");
    edit_header(&snap, "\"hidden\":8", "\"hidden\":9");
    resumes("do not fit the arenas");
    edit_header(&snap, "\"hidden\":8", "\"hidden\":0");
    resumes("snapshot settings are invalid");
    edit_snapshot(&snap, |mut raw| {
        raw.pop();
        raw
    });
    resumes("corrupt");
    edit_header(&snap, "\"iteration\":4", "\"iteration\":3");
    resumes("inconsistent");
    // the good one still resumes; its learning-rate drops moved with --iters, which it notes
    let o = resume("tb", "train", &dir, "--iters 6");
    assert!(
        stderr(&o).contains("note: the learning rate"),
        "{}",
        stderr(&o)
    );
}

/// A snapshot written by an earlier build (`tests/fixtures/resume-v1`: the rsmc run below
/// stopped at iteration 4 by `--stop-at 4`, by the build of commit faf50cc) still decodes,
/// and resuming it ends with the bits that build and this one write without stopping. A
/// change to what a snapshot stores must keep older snapshots readable: long runs in
/// `results/` resume from them.
#[test]
fn a_snapshot_of_an_earlier_build_resumes_with_the_same_bits() {
    let dir = fresh("resume-v1");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["snapshot.gz", "metrics.jsonl"] {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/resume-v1")
            .join(f);
        std::fs::copy(from, dir.join(f)).unwrap();
    }
    let o = common::amortise(&["train", "--resume", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(common::checksum(&dir), "8ccc6a1ad72cc929");
    let whole = common::run_in(common::SMALL_RSMC, "", "resume-v1-whole");
    assert_eq!(common::checksum(&whole), "8ccc6a1ad72cc929");
}
