//! The one training loop of the CLI, shared by every trained method (`train --method tb |
//! tb-buffer | rsmc | teacher | vgs`, `train-vgs`, `ebm`, and the discrete trainers of
//! `train-discrete` / `train --target ENV`).
//!
//! A method is a struct that owns its plain buffers and the kernel's small `State` (carving
//! the kernel's `Views` from the buffers on each call) and implements [`Run`]; [`run`] then
//! does the rest the same way for all of them:
//!
//! - the progress line on stderr ([`Progress`]: redrawn in place on a terminal, a line
//!   every 5 s otherwise, the first one at once);
//! - the evaluation cadence: [`Run::evaluate`] after every `eval_every`-th iteration and
//!   after the last (or interrupted) one; each evaluation is a line of `metrics.jsonl`,
//!   rewritten atomically (temporary file, then rename) after each line;
//! - Ctrl-C ([`crate::signal`]): the loop finishes the current iteration, evaluates it,
//!   then writes the checkpoint, the final outputs and `summary.json` (with
//!   `"interrupted": true` and `iterations_completed`), and the process exits with 130;
//! - `checkpoint.json` ([`crate::checkpoint`], one format for every kind), written before
//!   the final evaluation, so that a second Ctrl-C during it (which exits at once) still
//!   leaves a complete checkpoint;
//! - the resume snapshot `snapshot.gz` ([`crate::snapshot`]: [`Run::save`] plus the
//!   settings and the metrics so far) every `checkpoint_every` iterations, at the end and
//!   on Ctrl-C, right after the step and before that iteration's evaluation; a run
//!   resumed from it ([`Settings::resume`]) first evaluates that iteration (if due) and
//!   then continues, with the same bits as a run that never stopped;
//! - `summary.json`: the method's summary ([`Run::finish`]) plus `iterations_completed`,
//!   `interrupted` (Ctrl-C) and `stopped` (`--stop-at` ended this piece of the run before
//!   its `--iters`), printed on stdout as well.
//!
//! Plugging in another method: write a struct holding its arenas, kernel state and
//! evaluation set, implement [`Run`] (`step` = one kernel step; `evaluate` = its metrics
//! line; `checkpoint` = a
//! [`Checkpoint`] with a new [`crate::checkpoint::RunSettings`] variant, its groups and a
//! validation arm in `Checkpoint::validate`; `save` / `restore` = everything else that
//! carries over between steps; `finish` = the final evaluation and the
//! method's extra files), and call [`run`] from the command with the output folder and
//! the cadence. `amortise sample` then needs an arm for the new kind (or reports that the
//! kind cannot be sampled), and `--resume` an arm in [`crate::commands::resume`].

use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::checkpoint::{Checkpoint, RunSettings};
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};
use crate::snapshot::{self, Launch, Snapshot};

/// Where an evaluation happens.
#[derive(Clone, Copy, Debug)]
pub struct At {
    /// Iterations done (1-based: the evaluation after iteration `it - 1`).
    pub iteration: u32,
    /// Seconds since the loop started.
    pub seconds: f64,
    /// Whether this is the last iteration of the loop (the run's last, or interrupted).
    pub done: bool,
}

/// How a loop ended.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Iterations completed.
    pub completed: u32,
    /// Whether Ctrl-C stopped the loop early.
    pub interrupted: bool,
    /// Seconds the training loop took (without the final evaluation).
    pub seconds: f64,
}

/// One trained method, as the loop drives it.
pub trait Run {
    /// One training iteration (`it` is 0-based).
    ///
    /// # Errors
    /// The kernel's error, with context.
    fn step(&mut self, it: u32) -> CliResult<()>;

    /// The method's part of the progress line (loss, log Z, …) after the last step.
    fn status(&self) -> String;

    /// One evaluation: the `metrics.jsonl` line.
    ///
    /// # Errors
    /// A kernel or evaluation error.
    fn evaluate(&mut self, at: At) -> CliResult<serde_json::Value>;

    /// Whether the loop evaluates after its last iteration too (`false` when
    /// [`Run::finish`] writes the last metrics line itself).
    fn evaluates_last(&self) -> bool {
        true
    }

    /// The checkpoint of the current parameters and state.
    ///
    /// # Errors
    /// A kernel error carving the views.
    fn checkpoint(&mut self) -> CliResult<Checkpoint>;

    /// The run's settings (as [`Run::checkpoint`] stores them).
    fn settings(&self) -> RunSettings;

    /// Everything besides the settings that the run carries from one step to the next:
    /// the kernel `State`, the random streams, the arena buffers of the trainer's
    /// `Views::carried`, the loop's counters and the last step's diagnostics (the body of
    /// the resume snapshot, [`crate::snapshot::encode`]).
    ///
    /// # Errors
    /// A kernel error carving the views.
    fn save(&mut self) -> CliResult<Vec<u8>>;

    /// Restores what [`Run::save`] wrote into a run built afresh from the same settings
    /// (without its prefill or first evaluation).
    ///
    /// # Errors
    /// A body that does not decode or does not fit the arenas.
    fn restore(&mut self, body: &[u8]) -> CliResult<()>;

    /// The final evaluation and the method's own output files (samples, plots); returns
    /// the summary. May append a last line to `metrics`.
    ///
    /// # Errors
    /// A kernel, evaluation or file error.
    fn finish(&mut self, outcome: &Outcome, metrics: &mut Metrics) -> CliResult<serde_json::Value>;
}

/// `metrics.jsonl`: the lines so far, rewritten atomically after each new line.
pub struct Metrics {
    path: String,
    text: String,
    cadence: Cadence,
}

/// When a run evaluates on schedule: every `every` iterations and at its last, `iters`. A
/// run stopped (`--stop-at`) or interrupted also evaluates where it stopped; that line is
/// off the schedule and dropped when the run resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// Evaluate every this many iterations (≥ 1).
    pub every: u32,
    /// The run's last iteration.
    pub iters: u32,
}

impl Cadence {
    /// Whether an evaluation at `iteration` is on the schedule.
    pub fn on(&self, iteration: u64) -> bool {
        iteration.is_multiple_of(u64::from(self.every.max(1))) || iteration == u64::from(self.iters)
    }
}

impl Metrics {
    /// An empty `metrics.jsonl` in `out` (nothing written until the first line) of a run
    /// evaluating at `cadence`.
    pub fn new(out: &str, cadence: Cadence) -> Self {
        Metrics {
            path: format!("{out}/metrics.jsonl"),
            text: String::new(),
            cadence,
        }
    }

    /// `metrics.jsonl` of a resumed run: `prefix` (the lines written before its snapshot),
    /// written at once so that lines written after the snapshot are dropped.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn resumed(out: &str, prefix: &str, cadence: Cadence) -> CliResult<Self> {
        let m = Metrics {
            path: format!("{out}/metrics.jsonl"),
            text: prefix.to_string(),
            cadence,
        };
        write_atomic(&m.path, m.text.as_bytes())?;
        Ok(m)
    }

    /// The lines so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Appends a line and rewrites the file.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn append(&mut self, line: &serde_json::Value) -> CliResult<()> {
        self.text.push_str(&line.to_string());
        self.text.push('\n');
        write_atomic(&self.path, self.text.as_bytes())
    }

    /// The mean of each of `keys` over the last `n` lines on the schedule ([`Cadence`]: a
    /// stopped run's extra line at its stop is left out) that carry `keys[0]` as a number
    /// (what the RSMC paper's tables report: the mean of the last five evaluations), with
    /// the iterations those lines cover: `{"evaluations": k, "from_iteration": i, key: mean,
    /// …}`; a key that is not a number in one of those lines is `null`. `null` when no line
    /// carries `keys[0]`.
    pub fn mean_of_last(&self, n: usize, keys: &[&str]) -> serde_json::Value {
        self.mean_of_last_where(n, keys, &|_| true)
    }

    /// [`Metrics::mean_of_last`] over the evaluation lines for which `keep` holds (a run
    /// resumed with another evaluation reference counts only the lines against it).
    pub fn mean_of_last_where(
        &self,
        n: usize,
        keys: &[&str],
        keep: &dyn Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let lines: Vec<serde_json::Value> = self
            .text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &serde_json::Value| keys.first().is_some_and(|k| v[*k].as_f64().is_some()))
            .filter(|v| v["iteration"].as_u64().is_some_and(|i| self.cadence.on(i)))
            .filter(|v| keep(v))
            .collect();
        let last = &lines[lines.len().saturating_sub(n)..];
        let Some(first) = last.first() else {
            return serde_json::Value::Null;
        };
        let mut obj = serde_json::Map::new();
        obj.insert("evaluations".into(), last.len().into());
        obj.insert("from_iteration".into(), first["iteration"].clone());
        for k in keys {
            let vals: Option<Vec<f64>> = last.iter().map(|v| v[*k].as_f64()).collect();
            let mean = vals.map(|v| v.iter().sum::<f64>() / v.len() as f64);
            obj.insert(
                (*k).into(),
                mean.map_or(serde_json::Value::Null, |m| m.into()),
            );
        }
        serde_json::Value::Object(obj)
    }
}

/// The loop's settings.
#[derive(Clone, Debug)]
pub struct Settings<'a> {
    /// Output folder (exists).
    pub out: &'a str,
    /// Iterations to run.
    pub iters: u32,
    /// The evaluation cadence (`launch.eval_every`, ≥ 1), the snapshot cadence
    /// (`launch.checkpoint_every`; 0: only at the end and on Ctrl-C) and what else the
    /// snapshot needs to rebuild the run.
    pub launch: Launch,
    /// The method's files besides summary.json, metrics.jsonl and checkpoint.json, for the
    /// closing message (e.g. `"samples.csv, samples.svg"`).
    pub files: &'a str,
    /// The snapshot a resumed run continues from (its [`Run`] already restored from the
    /// body); `None` for a new run.
    pub resume: Option<&'a Snapshot>,
}

impl<'a> Settings<'a> {
    /// A new run's loop: `--eval-every` (`eval_every`) and `--checkpoint-every` (of
    /// `resume`) resolved by their defaults, and `--stop-at`.
    pub fn new(
        out: &'a str,
        iters: u32,
        eval_every: Option<u32>,
        resume: &crate::cli::ResumeArgs,
        files: &'a str,
    ) -> Self {
        let every = resume.checkpoint_every.unwrap_or(snapshot::DEFAULT_EVERY);
        let mut launch = Launch::every(self::eval_every(eval_every, iters), every);
        launch.stop_at = resume.stop_at;
        Settings {
            out,
            iters,
            launch,
            files,
            resume: None,
        }
    }
}

impl<'a> Settings<'a> {
    /// The loop of a run resumed from `sn` (its settings give the iterations to run to, its
    /// launch the cadences).
    pub fn resuming(out: &'a str, sn: &'a Snapshot, files: &'a str) -> Self {
        Settings {
            out,
            iters: sn.settings.iters(),
            launch: sn.launch.clone(),
            files,
            resume: Some(sn),
        }
    }
}

/// The default cadence: `--eval-every`, else a tenth of the run (at least 1).
pub fn eval_every(flag: Option<u32>, iters: u32) -> u32 {
    flag.unwrap_or((iters / 10).max(1)).max(1)
}

/// Writes the resume snapshot of `r` after `completed` iterations.
fn write_snapshot<R: Run + ?Sized>(
    r: &mut R,
    s: &Settings<'_>,
    completed: u32,
    seconds: f64,
    metrics: &Metrics,
) -> CliResult<()> {
    Snapshot {
        settings: r.settings(),
        iteration: completed,
        seconds,
        launch: s.launch.clone(),
        metrics: metrics.text().to_string(),
        body: r.save()?,
    }
    .save(&format!("{}/{}", s.out, snapshot::FILE))
}

/// Runs `run` for `s.iters` iterations and writes every output (see the module docs);
/// returns the summary (also printed on stdout).
///
/// # Errors
/// The first error of the method or of a file; files written before it stay complete.
pub fn run<R: Run + ?Sized>(r: &mut R, s: &Settings<'_>) -> CliResult<serde_json::Value> {
    crate::signal::install();
    let eval_every = s.launch.eval_every.max(1);
    let (start, before) = s.resume.map_or((0, 0.0), |sn| (sn.iteration, sn.seconds));
    let stop_at = s.launch.stop_at;
    if let Some(k) = stop_at
        && k <= start
    {
        return Err(CliError::flag(
            "--stop-at",
            format!("must be beyond the run's iteration ({start})"),
        ));
    }
    let cadence = Cadence {
        every: eval_every,
        iters: s.iters,
    };
    let mut metrics = match s.resume {
        Some(sn) => Metrics::resumed(s.out, &sn.metrics, cadence)?,
        None => Metrics::new(s.out, cadence),
    };
    let mut progress = Progress::new();
    let t0 = Instant::now();
    let clock = |t0: Instant| before + t0.elapsed().as_secs_f64();
    let mut completed = start;
    let mut interrupted = false;
    if s.resume.is_some() && start < s.iters && start.is_multiple_of(eval_every) {
        // the snapshot was taken before this iteration's evaluation
        let at = At {
            iteration: start,
            seconds: clock(t0),
            done: false,
        };
        let line = r.evaluate(at)?;
        metrics.append(&line)?;
    }
    for it in start..s.iters {
        r.step(it)?;
        completed = it + 1;
        interrupted = crate::signal::interrupted();
        let stopped = stop_at == Some(completed) && completed < s.iters;
        let done = completed == s.iters || interrupted || stopped;
        let every = s.launch.checkpoint_every;
        if done || (every > 0 && completed.is_multiple_of(every)) {
            write_snapshot(r, s, completed, clock(t0), &metrics)?;
        }
        let due = completed.is_multiple_of(eval_every) || done;
        if due && (!done || r.evaluates_last()) {
            let at = At {
                iteration: completed,
                seconds: clock(t0),
                done,
            };
            let line = r.evaluate(at)?;
            metrics.append(&line)?;
        }
        let rate = (completed - start) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        progress.show(
            &format!(
                "[{:>5.1}%] it {completed}/{}  {}  {rate:.1} it/s",
                100.0 * completed as f64 / s.iters as f64,
                s.iters,
                r.status(),
            ),
            done,
        );
        if interrupted || stopped {
            break;
        }
    }
    progress.done();
    let stopped = completed < s.iters && !interrupted;
    let outcome = Outcome {
        completed,
        interrupted,
        seconds: clock(t0),
    };
    // The checkpoint first: after Ctrl-C it is what must survive (a second Ctrl-C during
    // the final evaluation exits at once, leaving it complete).
    let ck_path = format!("{}/checkpoint.json", s.out);
    r.checkpoint()?.save(&ck_path)?;
    if interrupted {
        eprintln!(
            "amortise: interrupted after {completed} of {} iterations: wrote {ck_path}, {} and metrics.jsonl (continue with --resume {}); evaluating for summary.json",
            s.iters,
            snapshot::FILE,
            s.out
        );
    }
    if stopped {
        eprintln!(
            "amortise: stopped after {completed} of {} iterations (--stop-at): wrote {ck_path}, {} and metrics.jsonl (continue with --resume {}); evaluating for summary.json",
            s.iters,
            snapshot::FILE,
            s.out
        );
    }
    let mut summary = r.finish(&outcome, &mut metrics)?;
    if let Some(obj) = summary.as_object_mut() {
        obj.insert("iterations_completed".into(), completed.into());
        obj.insert("interrupted".into(), interrupted.into());
        obj.insert("stopped".into(), stopped.into());
    }
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    write_atomic(&format!("{}/summary.json", s.out), text.as_bytes())?;
    let sep = if s.files.is_empty() { "" } else { ", " };
    eprintln!(
        "wrote {}/summary.json, metrics.jsonl, {}{sep}checkpoint.json",
        s.out, s.files
    );
    println!("{text}");
    Ok(summary)
}

/// The progress line on stderr.
pub struct Progress {
    tty: bool,
    last: Option<Instant>,
}

impl Progress {
    /// A progress line on stderr: redrawn in place on a terminal (at most every 0.2 s), a
    /// line every 5 s otherwise; the first line is shown at once.
    pub fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    /// Shows `line` if the interval has passed (or `force`).
    pub fn show(&mut self, line: &str, force: bool) {
        let every = if self.tty { 0.2 } else { 5.0 };
        if !force && self.last.is_some_and(|t| t.elapsed().as_secs_f64() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let mut e = std::io::stderr();
        if self.tty {
            let _ = write!(e, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(e, "{line}");
        }
        let _ = e.flush();
    }

    /// Ends the line on a terminal.
    pub fn done(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// A number for the progress line: `prec` decimals, or `–` when not finite.
pub fn opt(v: f64, prec: usize) -> String {
    if v.is_finite() {
        format!("{v:.prec$}")
    } else {
        "–".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{Cadence, Metrics};
    use serde_json::json;

    #[test]
    fn mean_of_last_averages_the_last_evaluation_lines() {
        let dir = std::env::temp_dir().join(format!("amortise-last5-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cadence = Cadence { every: 1, iters: 7 };
        let mut m = Metrics::new(dir.to_str().unwrap(), cadence);
        assert_eq!(m.mean_of_last(5, &["elbo"]), serde_json::Value::Null);
        for it in 1..=7u32 {
            // a line without the first key (a progress line) is not an evaluation
            m.append(&json!({"iteration": it, "loss": 1.0})).unwrap();
            let eubo = if it == 7 {
                serde_json::Value::Null
            } else {
                json!(it)
            };
            m.append(&json!({"iteration": it, "elbo": it as f64 * 2.0, "eubo": eubo}))
                .unwrap();
        }
        let v = m.mean_of_last(5, &["elbo", "eubo"]);
        assert_eq!(v["evaluations"], 5);
        assert_eq!(v["from_iteration"], 3);
        assert_eq!(v["elbo"], (6.0 + 8.0 + 10.0 + 12.0 + 14.0) / 5.0);
        assert_eq!(
            v["eubo"],
            serde_json::Value::Null,
            "one missing value: no mean"
        );
        let v = m.mean_of_last(50, &["elbo"]);
        assert_eq!(
            (v["evaluations"].as_u64(), v["elbo"].as_f64()),
            (Some(7), Some(8.0))
        );
        // every 4 of a 10-iteration run stopped at 5: the lines at 4 and 8, then 5 (the
        // stop's), then the end 10 (off the multiple, on the schedule)
        let cadence = Cadence {
            every: 4,
            iters: 10,
        };
        let mut m = Metrics::new(dir.to_str().unwrap(), cadence);
        for it in [4u32, 8, 9, 10] {
            m.append(&json!({"iteration": it, "elbo": it})).unwrap();
        }
        let v = m.mean_of_last(5, &["elbo"]);
        assert_eq!(
            (v["evaluations"].as_u64(), v["elbo"].as_f64()),
            (Some(3), Some(22.0 / 3.0))
        );
        assert!(cadence.on(0) && cadence.on(8) && cadence.on(10) && !cadence.on(9));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
