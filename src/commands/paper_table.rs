//! `amortise experiment paper-table`: the RSMC paper's continuous table (`rsmc.md` §6.1) at
//! `--preset paper`, run in resumable pieces and collected into markdown.
//!
//! Each run is a child `amortise train` in `OUT/<row>-<method>-s<seed>/`. A run that has a
//! resume snapshot is continued (`train --resume DIR`), one without is started
//! (`train ... --preset paper --grad-chunks 8`); `--stop-at K` ends every run of this
//! invocation after iteration K, so a 20,000-iteration table is built in pieces of any size
//! and every piece is the same bits as one uninterrupted run (the chunk count is fixed at
//! 8, so `--threads` changes the speed and never the numbers). The SMC baselines are one
//! pass each. `--stop-at 0` only collects.
//!
//! The tables report what the paper reports: per seed the mean of the last five evaluations
//! (`summary.json`'s `last5`; fewer while a run has had fewer), then mean ± std over seeds
//! (the population std, as the seeds' report notebook computes it; over the finished seeds
//! once a cell has one, so a seed started later does not mix a short budget into them),
//! 2000 model samples against the row's reference (the seeds' own ground-truth set on
//! GMM40-2d and GMM40-5d, [`presets::paper_reference`]; elsewhere the 2000 exact samples of
//! seed 0, the funnel's clipped), and the paper's Sinkhorn convention; a run started before
//! the preset took the seeds' set is resumed with `--eval-reference` and takes it up from its
//! next evaluation, and a cell evaluated against another set than its row's says so; a second table gives the converged Sinkhorn of each
//! run's latest evaluation beside the floor of independent exact sample sets in both
//! conventions (`OUT/floors.json`, computed once per seed list).

mod goals;
mod table;

use std::process::Command;

use amortise_kernel::metrics::sinkhorn::{PaperConfig, SinkhornConfig, SinkhornConvention};
use amortise_settings::presets;
use serde_json::{Value, json};

use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};
use crate::eval::{GROUND_TRUTH_SEED, exact_samples, sinkhorn};
pub(super) use table::fmt_wall;

/// The gradient-chunk count of every trained run (results depend on it, never on threads).
pub const CHUNKS: usize = 8;
/// Exact-sample seeds the paper-convention floor compares with the evaluation's ground truth
/// (seed 0): ten draws, since one draw's floor scatters by several percent (Funnel-10:
/// 112–126 over six).
const FLOOR_SEEDS: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
/// Seeds of the converged-convention floor: two, as its solves take about a minute each.
const CONVERGED_FLOOR_SEEDS: [u64; 2] = [1, 2];
/// Samples per set, as the paper's evaluation.
const SAMPLES: usize = 2000;

/// One row of the table: label, folder prefix, target and dimension.
struct Row {
    label: &'static str,
    slug: &'static str,
    target: &'static str,
    dim: usize,
}

const ROWS: [Row; 4] = [
    Row {
        label: "GMM40-2d",
        slug: "gmm40-jax-2",
        target: "gmm40-jax",
        dim: 2,
    },
    Row {
        label: "GMM40-5d",
        slug: "gmm40-jax-5",
        target: "gmm40-jax",
        dim: 5,
    },
    Row {
        label: "Funnel-10",
        slug: "funnel-10",
        target: "funnel",
        dim: 10,
    },
    Row {
        label: "ManyWell-32",
        slug: "manywell-32",
        target: "manywell",
        dim: 32,
    },
];

/// One method column: the paper's name, folder suffix, `train` flags, and whether it trains.
struct Method {
    name: &'static str,
    slug: &'static str,
    flags: &'static [&'static str],
    trained: bool,
}

const METHODS: [Method; 6] = [
    Method {
        name: "TB",
        slug: "tb",
        flags: &["--method", "tb"],
        trained: true,
    },
    Method {
        name: "TB + IW-buffer",
        slug: "tb-buffer",
        flags: &["--method", "tb-buffer"],
        trained: true,
    },
    Method {
        name: "TB + SMC",
        slug: "rsmc-nobuffer",
        flags: &["--method", "rsmc-nobuffer"],
        trained: true,
    },
    Method {
        name: "RSMC",
        slug: "rsmc",
        flags: &["--method", "rsmc"],
        trained: true,
    },
    Method {
        name: "SMC-HMC",
        slug: "smc-hmc",
        flags: &["--method", "smc"],
        trained: false,
    },
    Method {
        name: "SMC-RWM",
        slug: "smc-rwm",
        flags: &["--method", "smc", "--smc-move", "rwm"],
        trained: false,
    },
];

/// Settings of one invocation.
pub struct Settings {
    /// Seeds each selected cell runs (0..N−1); the table collects every seed in `out`.
    pub seeds: u64,
    /// End every trained run of this invocation after this iteration (`None`: run to the end;
    /// `Some(0)`: run nothing, only collect).
    pub stop_at: Option<u32>,
    /// `--threads` of each run.
    pub threads: usize,
    /// Output folder (the runs and `paper-table.md`).
    pub out: String,
    /// Only these rows (labels); `None` for all.
    pub rows: Option<Vec<String>>,
    /// Only these methods (slugs); `None` for all.
    pub methods: Option<Vec<String>>,
}

fn pick<'a, T>(
    all: &'a [T],
    want: Option<&Vec<String>>,
    key: fn(&T) -> &str,
    flag: &str,
) -> CliResult<Vec<&'a T>> {
    let Some(want) = want else {
        return Ok(all.iter().collect());
    };
    want.iter()
        .map(|w| {
            all.iter().find(|t| key(t) == w.as_str()).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(key).collect();
                CliError::flag(flag, format!("unknown '{w}' (known: {})", known.join(", ")))
            })
        })
        .collect()
}

/// What to do with one run.
#[derive(Debug, PartialEq)]
pub(super) enum Action {
    Skip,
    Start(Option<u32>),
    Resume(Option<u32>),
}

/// The action for a run whose snapshot is at `at` (`None`: no snapshot) of `planned`
/// iterations, or that has a summary (`done`, the SMC passes), under `--stop-at`.
pub(super) fn action(
    trained: bool,
    at: Option<u32>,
    done: bool,
    planned: u32,
    stop_at: Option<u32>,
) -> Action {
    if stop_at == Some(0) || (!trained && done) {
        return Action::Skip;
    }
    if !trained {
        return Action::Start(None);
    }
    let end = stop_at.map_or(planned, |k| k.min(planned));
    let stop = (end < planned).then_some(end);
    match at {
        Some(i) if i >= end => Action::Skip,
        Some(_) => Action::Resume(stop),
        None => Action::Start(stop),
    }
}

/// Where the run in `dir` stands: its snapshot's iteration and the iterations the run
/// itself plans (its stored `--iters`, which flags after `--` may have set), or no
/// snapshot and the preset's `preset` iterations.
///
/// # Errors
/// A snapshot that does not load.
pub(super) fn standing(dir: &str, preset: u32) -> CliResult<(Option<u32>, u32)> {
    let snap = format!("{dir}/{}", crate::snapshot::FILE);
    if !std::path::Path::new(&snap).exists() {
        return Ok((None, preset));
    }
    let sn = crate::snapshot::Snapshot::load(&snap)?;
    Ok((Some(sn.iteration), sn.settings.iters()))
}

fn run_dir(s: &Settings, r: &Row, m: &Method, seed: u64) -> String {
    format!("{}/{}-{}-s{seed}", s.out, r.slug, m.slug)
}

/// The seeds of a cell whose folder in OUT has a `summary.json`, sorted, whatever `--seeds`
/// this invocation has: a piece of seed 0 must not drop a seed 1 from the table.
fn seeds_on_disk(s: &Settings, r: &Row, m: &Method) -> Vec<u64> {
    let prefix = format!("{}-{}-s", r.slug, m.slug);
    let Ok(entries) = std::fs::read_dir(&s.out) else {
        return Vec::new();
    };
    let mut seeds: Vec<u64> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&prefix)?;
            // only the canonical name: `-s01` or `-s+1` beside `-s1` is not a second seed 1
            let seed = rest.parse::<u64>().ok().filter(|n| n.to_string() == rest)?;
            let summary = format!("{}/summary.json", run_dir(s, r, m, seed));
            std::path::Path::new(&summary).exists().then_some(seed)
        })
        .collect();
    seeds.sort_unstable();
    seeds
}

pub(super) fn read_json(path: &str) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Runs one child `train`; its stderr goes to `DIR.log` (appended). Whether it succeeded.
///
/// The child runs in its own process group, so a terminal's Ctrl-C reaches only this
/// process, which passes each one on ([`crate::signal::install_forwarding`]): the first makes
/// the child finish its iteration and write its checkpoint, a second makes it quit at once,
/// as for a `train` in front. A child that exits with 130 marks this process interrupted
/// ([`crate::signal::interrupted`]), which the callers check before counting a failure.
pub(super) fn spawn(args: &[String], dir: &str) -> CliResult<bool> {
    let exe = super::own_exe()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{dir}.log"))
        .map_err(|e| CliError::file(format!("{dir}.log"), format!("cannot open: {e}")))?;
    eprintln!("amortise {}", args.join(" "));
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::file(dir, format!("cannot start train: {e}")))?;
    let mut passed = crate::signal::received();
    let st = loop {
        if let Some(st) = child
            .try_wait()
            .map_err(|e| CliError::file(dir, format!("cannot wait for train: {e}")))?
        {
            break st;
        }
        while passed < crate::signal::received() {
            passed += 1;
            interrupt(&child);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if st.code() == Some(i32::from(crate::signal::EXIT_INTERRUPTED)) {
        crate::signal::set_interrupted();
    }
    Ok(st.success())
}

/// Sends SIGINT to a child (with `kill`, as the crate has no `unsafe`; a failure leaves
/// the child running, and a second Ctrl-C tries again).
fn interrupt(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    if !sent.is_ok_and(|s| s.success()) {
        eprintln!(
            "amortise: warning: could not pass Ctrl-C on to train {}",
            child.id()
        );
    }
}

fn train_args(s: &Settings, r: &Row, m: &Method, seed: u64, act: &Action) -> Option<Vec<String>> {
    let dir = run_dir(s, r, m, seed);
    let threads = s.threads.to_string();
    let mut a: Vec<String> = match act {
        Action::Skip => return None,
        // the preset's reference, which a run started before the preset took it takes up
        // from its next evaluation on
        Action::Resume(_) => [
            "train",
            "--resume",
            &dir,
            "--threads",
            &threads,
            "--eval-reference",
            presets::paper_reference(r.target, r.dim),
        ]
        .map(String::from)
        .to_vec(),
        Action::Start(_) => {
            let mut a: Vec<String> = ["train", "--target", r.target, "--dim"]
                .map(String::from)
                .to_vec();
            a.push(r.dim.to_string());
            a.extend(m.flags.iter().map(|f| f.to_string()));
            a.extend(["--preset", "paper", "--seed"].map(String::from));
            a.push(seed.to_string());
            if m.trained {
                a.extend([
                    "--threads".into(),
                    threads,
                    "--grad-chunks".into(),
                    CHUNKS.to_string(),
                ]);
            }
            a.extend(["--out".into(), dir]);
            a
        }
    };
    if let Action::Start(Some(k)) | Action::Resume(Some(k)) = act {
        a.extend(["--stop-at".into(), k.to_string()]);
    }
    Some(a)
}

/// Runs (or continues) every selected run, computes missing floors, and writes
/// `OUT/paper-table.md`.
///
/// # Errors
/// Bad flags, unwritable folders, or runs that failed (the table is still written).
pub fn paper_table(s: &Settings) -> CliResult<()> {
    if s.seeds == 0 {
        return Err(CliError::flag("--seeds", "must be at least 1"));
    }
    if s.threads == 0 {
        return Err(CliError::flag("--threads", "must be at least 1"));
    }
    let rows = pick(&ROWS, s.rows.as_ref(), |r| r.label, "--rows")?;
    let methods = pick(&METHODS, s.methods.as_ref(), |m| m.slug, "--methods")?;
    std::fs::create_dir_all(&s.out)
        .map_err(|e| CliError::file(&s.out, format!("cannot create: {e}")))?;
    crate::signal::install_forwarding();
    let mut failures = Vec::new();
    'runs: for r in &rows {
        for m in &methods {
            for seed in 0..s.seeds {
                if crate::signal::interrupted() {
                    break 'runs;
                }
                let dir = run_dir(s, r, m, seed);
                let done = std::path::Path::new(&format!("{dir}/summary.json")).exists();
                let preset = presets::preset("paper", r.target, r.dim, m.flags[1])?;
                let (at, planned) = standing(&dir, preset.run.iters)?;
                let act = action(m.trained, at, done, planned, s.stop_at);
                if let Some(args) = train_args(s, r, m, seed, &act)
                    && !spawn(&args, &dir)?
                {
                    if crate::signal::interrupted() {
                        break 'runs;
                    }
                    failures.push(format!(
                        "{} {} seed {seed} (log: {dir}.log)",
                        r.label, m.name
                    ));
                }
            }
        }
    }
    // The table collects every run in OUT, not only this invocation's selection (rows,
    // methods, seeds): a piece of one cell must not drop the others from the file. A folder
    // that cannot be listed is an error, not an empty table.
    std::fs::read_dir(&s.out)
        .map_err(|e| CliError::file(&s.out, format!("cannot list the runs: {e}")))?;
    let all_methods: Vec<&Method> = METHODS.iter().collect();
    let ran: Vec<&Row> = ROWS
        .iter()
        .filter(|r| {
            all_methods
                .iter()
                .any(|m| !seeds_on_disk(s, r, m).is_empty())
        })
        .collect();
    let floors = floors(s, &ran)?;
    let text = table::table(s, &ran, &all_methods, &floors);
    finish(&s.out, "paper-table.md", &text, &failures)
}

/// Writes `text` to `OUT/name` and prints it; an error listing `failures` if there are any.
/// After Ctrl-C it says how to go on (the process then exits with 130).
pub(super) fn finish(out: &str, name: &str, text: &str, failures: &[String]) -> CliResult<()> {
    write_atomic(&format!("{out}/{name}"), text.as_bytes())?;
    println!("{text}");
    if crate::signal::interrupted() {
        eprintln!(
            "amortise: interrupted: the run in progress stopped at its checkpoint and no other \
             was started; the same command resumes it"
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::file(
            out,
            format!("{} runs failed: {}", failures.len(), failures.join("; ")),
        ))
    }
}

/// Each convention's floor list in `floors.json`: key, seed-list key, seeds.
const CONVENTIONS: [(&str, &str, &[u64]); 2] = [
    ("paper", "seeds", &FLOOR_SEEDS),
    ("converged", "converged_seeds", &CONVERGED_FLOOR_SEEDS),
];

/// The floors of every selected row, from `OUT/floors.json`, computing what is missing: the
/// paper-convention Sinkhorn between the row's evaluation reference (the seeds' own set on
/// GMM40-2d and GMM40-5d, `"against": "paper"`; elsewhere our exact samples of seed 0,
/// `"against_seed": 0`) and the independent exact sets of [`FLOOR_SEEDS`], and the converged
/// one for [`CONVERGED_FLOOR_SEEDS`]. A stored list drawn with other seeds is recomputed, the
/// other convention's list kept; a row whose stored floors are against another reference
/// has both recomputed.
fn floors(s: &Settings, rows: &[&Row]) -> CliResult<Value> {
    let path = format!("{}/floors.json", s.out);
    let mut all = read_json(&path)
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut changed = false;
    for r in rows {
        let mut entry = all.get(r.label).cloned().unwrap_or_else(|| json!({}));
        let against = presets::paper_reference(r.target, r.dim);
        if entry
            .get("against")
            .and_then(Value::as_str)
            .unwrap_or("exact")
            != against
        {
            // floors against another reference: all of them are recomputed
            entry = json!({});
        }
        let stale = stale_floors(&mut entry);
        if stale.is_empty() {
            continue;
        }
        for (key, seeds_key, seeds) in stale {
            entry[key] = Value::Array(floor_values(r, key, seeds)?);
            entry[seeds_key] = json!(seeds);
        }
        eprintln!("floor {}: computed", r.label);
        if against == "exact" {
            entry["against_seed"] = json!(GROUND_TRUTH_SEED);
        } else {
            entry["against"] = json!(against);
        }
        entry["n"] = json!(SAMPLES);
        all[r.label] = entry;
        changed = true;
    }
    if changed {
        let text = serde_json::to_string_pretty(&all).unwrap_or_default();
        write_atomic(&path, text.as_bytes())?;
    }
    Ok(all)
}

/// The conventions of `entry` (a row of `floors.json`; anything but an object is replaced by
/// an empty one) whose floor must be computed. Each current one first gets its seed list
/// under its own key, since computing the paper floor rewrites `"seeds"`, which entries
/// written before the converged floor had its own list share by both.
fn stale_floors(entry: &mut Value) -> Vec<(&'static str, &'static str, &'static [u64])> {
    if !entry.is_object() {
        *entry = json!({});
    }
    let (stale, current): (Vec<_>, Vec<_>) = CONVENTIONS
        .into_iter()
        .partition(|&(key, seeds_key, seeds)| !floor_is_current(entry, key, seeds_key, seeds));
    for (_, seeds_key, seeds) in current {
        entry[seeds_key] = json!(seeds);
    }
    stale
}

/// Whether `entry` holds one `key` value per seed of `seeds`, drawn with those seeds. Entries
/// written before the converged floor had its own seed list name theirs under `"seeds"`.
fn floor_is_current(entry: &Value, key: &str, seeds_key: &str, seeds: &[u64]) -> bool {
    let stored = entry
        .get(seeds_key)
        .or_else(|| entry.get("seeds"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect::<Vec<_>>());
    let values = entry.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    stored.as_deref() == Some(seeds) && values == seeds.len()
}

/// One row's floor in one convention (`"paper"` or `"converged"`): the divergence of each
/// seed's exact set from the evaluation's, with whether its solve converged.
fn floor_values(r: &Row, key: &str, seeds: &[u64]) -> CliResult<Vec<Value>> {
    let target = super::build_target(r.target, Some(r.dim))?;
    let truth = match presets::paper_reference(r.target, r.dim) {
        "paper" => crate::paper_truth::gmm40_jax(r.dim)?,
        _ => exact_samples(&target, SAMPLES, GROUND_TRUTH_SEED)?,
    };
    let conv = if key == "paper" {
        SinkhornConvention::Paper(PaperConfig::default())
    } else {
        SinkhornConvention::Converged(SinkhornConfig::default())
    };
    let mut out = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let other = exact_samples(&target, SAMPLES, seed)?;
        let info = sinkhorn(&other, &truth, r.dim, &conv)?;
        out.push(json!({"value": info.divergence, "converged": info.converged}));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_start_resume_skip_and_respect_stop_at() {
        assert_eq!(
            action(true, None, false, 20_000, Some(100)),
            Action::Start(Some(100))
        );
        assert_eq!(
            action(true, Some(100), true, 20_000, Some(300)),
            Action::Resume(Some(300))
        );
        assert_eq!(
            action(true, Some(300), true, 20_000, Some(300)),
            Action::Skip
        );
        assert_eq!(
            action(true, Some(300), true, 20_000, None),
            Action::Resume(None)
        );
        assert_eq!(
            action(true, Some(100), true, 20_000, Some(40_000)),
            Action::Resume(None)
        );
        assert_eq!(action(true, Some(20_000), true, 20_000, None), Action::Skip);
        assert_eq!(action(true, Some(100), true, 20_000, Some(0)), Action::Skip);
        assert_eq!(
            action(false, None, false, 20_000, Some(100)),
            Action::Start(None)
        );
        assert_eq!(action(false, None, true, 20_000, Some(100)), Action::Skip);
    }

    #[test]
    fn unknown_rows_and_methods_name_their_flag() {
        let want = Some(vec!["GMM40-3d".to_string()]);
        let e = pick(&ROWS, want.as_ref(), |r| r.label, "--rows")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("--rows") && e.contains("GMM40-2d")));
        let want = Some(vec!["rsmc".to_string(), "smc-hmc".to_string()]);
        let got = pick(&METHODS, want.as_ref(), |m| m.slug, "--methods").unwrap_or_default();
        assert_eq!(
            got.iter().map(|m| m.name).collect::<Vec<_>>(),
            ["RSMC", "SMC-HMC"]
        );
    }

    #[test]
    fn a_floor_drawn_with_other_seeds_is_recomputed_and_the_other_convention_kept() {
        let two = json!([{"value": 6.5}, {"value": 8.5}]);
        // written when both conventions used seeds 1 and 2
        let old = json!({"seeds": [1, 2], "paper": two, "converged": two});
        assert!(!floor_is_current(&old, "paper", "seeds", &FLOOR_SEEDS));
        assert!(floor_is_current(
            &old,
            "converged",
            "converged_seeds",
            &CONVERGED_FLOOR_SEEDS
        ));
        let ten = Value::Array(vec![json!({"value": 7.0}); 10]);
        let new = json!({"seeds": FLOOR_SEEDS, "paper": ten, "converged_seeds": [1, 2], "converged": two});
        assert!(floor_is_current(&new, "paper", "seeds", &FLOOR_SEEDS));
        assert!(floor_is_current(
            &new,
            "converged",
            "converged_seeds",
            &CONVERGED_FLOOR_SEEDS
        ));
        // a list shorter than its seeds (a hand-edited file) is recomputed
        let short = json!({"seeds": FLOOR_SEEDS, "paper": two});
        assert!(!floor_is_current(&short, "paper", "seeds", &FLOOR_SEEDS));
        // an entry from before the converged floor had its own seeds: only the paper floor
        // is computed, and the converged one stays current after "seeds" changes
        let mut e = old.clone();
        let stale: Vec<_> = stale_floors(&mut e).iter().map(|c| c.0).collect();
        assert_eq!(stale, ["paper"]);
        e["paper"] = ten.clone();
        e["seeds"] = json!(FLOOR_SEEDS);
        assert!(stale_floors(&mut e).is_empty(), "{e}");
        // a hand-edited row that is not an object is computed afresh, without a panic
        let mut bad = json!([1, 2]);
        assert_eq!(stale_floors(&mut bad).len(), 2);
    }
}
