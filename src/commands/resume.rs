//! `--resume DIR` (of `train`, `train-discrete`, `train-vgs` and `ebm`): continues the run
//! in `DIR` from its resume snapshot ([`crate::snapshot`]) with the same bits as a run that
//! never stopped.
//!
//! The run is rebuilt from the settings the snapshot stores, so the only flags allowed with
//! `--resume` are those that do not change what the run is: `--iters` (run to another
//! iteration count than the stored one; must be beyond the snapshot), `--checkpoint-every`,
//! `--stop-at` (end this piece of the run early), for runs with gradient chunks,
//! `--threads`, and, for continuous diffusion runs, `--eval-reference` (the evaluations'
//! target samples: training keeps its bits, the evaluations from the resumed iteration on
//! are against the new set, and each of their `metrics.jsonl` lines names it). Any other
//! flag is an error naming it.
//! `amortise train --resume` resumes every kind of run; `train-discrete`, `train-vgs` and
//! `ebm` only their own.

use amortise_kernel::optim::LrSchedule;

use crate::checkpoint::{Checkpoint, RunSettings};
use crate::cli::ResumeArgs;
use crate::error::{CliError, CliResult};
use crate::run_loop::{self, Run};
use crate::snapshot::{self, Snapshot};

/// The command `--resume` was given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `train` (every kind).
    Train,
    /// `train-discrete` (discrete runs).
    TrainDiscrete,
    /// `train-vgs` (vgs runs).
    TrainVgs,
    /// `ebm` (ebm runs).
    Ebm,
}

/// The flags `--resume` may be given with.
const ALLOWED: [&str; 6] = [
    "--resume",
    "--iters",
    "--threads",
    "--checkpoint-every",
    "--stop-at",
    "--eval-reference",
];

/// The flag values that may change on resume (`iters` and `threads` count only when their
/// flag is in `ResumeArgs::given`).
#[derive(Clone, Debug)]
pub struct Changes {
    /// `--iters`.
    pub iters: u32,
    /// `--threads` (1 for commands without it).
    pub threads: usize,
    /// `--eval-reference` (`train` only).
    pub eval_reference: Option<String>,
}

/// Resumes the run in `dir` (see the module docs).
///
/// # Errors
/// A flag that cannot be combined with `--resume`, a missing or bad snapshot, a run of
/// another command, an `--iters` not beyond the snapshot; then the run's own errors.
pub fn run(dir: &str, ra: &ResumeArgs, ch: Changes, cmd: Command) -> CliResult<()> {
    let given = |f: &str| ra.given.iter().any(|g| g == f);
    if let Some(f) = ra.given.iter().find(|g| !ALLOWED.contains(&g.as_str())) {
        return Err(CliError::flag(
            f.clone(),
            "cannot be combined with --resume: a resumed run keeps the settings stored in its \
             snapshot (only --iters, --threads, --checkpoint-every, --stop-at and --eval-reference may be given)",
        ));
    }
    let mut sn = Snapshot::load(&format!("{dir}/{}", snapshot::FILE))?;
    let kind = sn.settings.kind();
    let own = match cmd {
        Command::Train => None,
        Command::TrainDiscrete => Some(("discrete", "train-discrete")),
        Command::TrainVgs => Some(("vgs", "train-vgs")),
        Command::Ebm => Some(("ebm", "ebm")),
    };
    if let Some((k, name)) = own
        && k != kind
    {
        return Err(CliError::flag(
            "--resume",
            format!(
                "{dir} holds a {kind} run (`{name} --resume` resumes {k} runs); resume it \
                 with `amortise train --resume {dir}`"
            ),
        ));
    }
    let stored = sn.settings.iters();
    let k = sn.iteration;
    if given("--iters") {
        if ch.iters <= k {
            return Err(CliError::flag(
                "--iters",
                format!("the snapshot in {dir} is at iteration {k}; give more iterations"),
            ));
        }
        sn.settings.set_iters(ch.iters);
        sn.settings.validate()?;
        schedule_note(&sn.settings, stored, k);
    } else if k >= stored {
        return Err(CliError::flag(
            "--resume",
            format!(
                "the run in {dir} is complete ({k} of {stored} iterations); give --iters N \
                 (N > {k}) to continue it"
            ),
        ));
    }
    if given("--threads") {
        if sn.launch.grad_chunks.is_none() {
            return Err(CliError::flag(
                "--threads",
                "this run used the single-batch step (no --grad-chunks and one thread, or a method without \
                 chunks); more threads would change its results",
            ));
        }
        crate::parallel::chunk_plan(ch.threads, sn.launch.grad_chunks)?;
        sn.launch.threads = ch.threads;
    }
    if let Some(r) = ch
        .eval_reference
        .as_ref()
        .filter(|_| given("--eval-reference"))
    {
        let (RunSettings::Diffusion(rc) | RunSettings::Teacher(rc)) = &mut sn.settings else {
            return Err(CliError::flag(
                "--eval-reference",
                format!("{dir} holds a {kind} run; only continuous diffusion runs have one"),
            ));
        };
        rc.eval_reference = r.clone();
        sn.settings.validate()?;
    }
    if let Some(every) = ra.checkpoint_every {
        sn.launch.checkpoint_every = every;
    }
    sn.launch.stop_at = ra.stop_at;
    eprintln!(
        "amortise: resuming the {kind} run in {dir} at iteration {k} of {}",
        sn.settings.iters()
    );
    restored(&sn, dir, &mut |r, s| run_loop::run(r, s).map(|_| ()))
}

/// The checkpoint that the resume snapshot at `path` holds: the same model, iteration and
/// counters as the `checkpoint.json` written at that iteration, checked as loading that
/// file checks it. The run is rebuilt from the snapshot's settings on one thread and
/// without its reference samples (neither changes the parameters), restored from the body,
/// and asked for its checkpoint; nothing is written.
///
/// # Errors
/// A missing or bad snapshot, or settings that no longer build the run.
pub fn checkpoint_of(path: &str) -> CliResult<Checkpoint> {
    let f =
        std::fs::File::open(path).map_err(|e| CliError::file(path, format!("cannot read: {e}")))?;
    checkpoint_in(path, Snapshot::decode(path, f)?)
}

/// [`checkpoint_of`] for the snapshot `sn` read from `path`.
///
/// # Errors
/// As [`checkpoint_of`].
pub fn checkpoint_in(path: &str, mut sn: Snapshot) -> CliResult<Checkpoint> {
    sn.launch.threads = 1;
    sn.launch.reference = None;
    sn.launch.rebuild_only = true;
    let dir = std::path::Path::new(path)
        .parent()
        .and_then(|p| p.to_str())
        .filter(|p| !p.is_empty())
        .unwrap_or(".");
    restored(&sn, dir, &mut |r, _| r.checkpoint())?.verified(path)
}

/// What a kind's `resume` hands the run it rebuilt and restored to, with the loop settings
/// of its resumption: [`run`] resumes it, [`checkpoint_of`] takes its checkpoint.
pub type Then<'f, T> = &'f mut dyn FnMut(&mut dyn Run, &run_loop::Settings<'_>) -> CliResult<T>;

/// Rebuilds the run that `sn` (in the folder `dir`) holds, restores it from the body and
/// hands it to `f` with the loop settings of its resumption.
fn restored<T>(sn: &Snapshot, dir: &str, f: Then<'_, T>) -> CliResult<T> {
    match sn.settings.clone() {
        RunSettings::Diffusion(rc) => super::train::resume(&rc, sn, dir, f),
        RunSettings::Teacher(rc) => super::teacher_continuous::resume(&rc, sn, dir, f),
        RunSettings::Vgs(s) => super::vgs::resume(&s, sn, dir, f),
        RunSettings::Ebm(s) => super::ebm::resume(&s, sn, dir, f),
        RunSettings::Discrete(s) => super::discrete_run::resume(&s, sn, dir, f),
    }
}

/// Restores `r` (built afresh from the snapshot's settings) from the snapshot's body and
/// checks that it stands where the snapshot says.
///
/// # Errors
/// A body that does not decode or fit, or a trainer at another iteration.
pub fn restore<R: Run + ?Sized>(r: &mut R, sn: &Snapshot) -> CliResult<()> {
    r.restore(&sn.body)?;
    let at = r.checkpoint()?.iteration;
    if at != sn.iteration {
        return Err(CliError::file(
            snapshot::FILE,
            format!(
                "snapshot is inconsistent (its trainer is at iteration {at}, its header says {})",
                sn.iteration
            ),
        ));
    }
    Ok(())
}

/// The diffusion trainers' learning rate drops at 50 % and 75 % of `--iters`: a note when
/// a new `--iters` moves a drop that the first `done` iterations already passed (the run
/// then differs from one started with the new `--iters`).
fn schedule_note(s: &RunSettings, stored: u32, done: u32) {
    let (RunSettings::Diffusion(rc) | RunSettings::Teacher(rc)) = s else {
        return;
    };
    let Ok(cfg) = rc.train_config() else {
        return;
    };
    let sched = |n: u32| LrSchedule::multi_step_at_fractions(n.max(1), &[0.5, 0.75], cfg.lr_gamma);
    let (Ok(old), Ok(new)) = (sched(stored), sched(rc.iters)) else {
        return;
    };
    if (0..done).any(|it| old.factor(it).to_bits() != new.factor(it).to_bits()) {
        eprintln!(
            "amortise: note: the learning rate drops at 50 % and 75 % of --iters; iterations \
             before {done} ran under --iters {stored}, so this run differs from one started with \
             --iters {}",
            rc.iters
        );
    }
}
