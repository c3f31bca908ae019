//! Ctrl-C (SIGINT) during training: the first signal sets a flag that the training loop
//! polls once per iteration; the loop then stops after the current iteration, and the
//! command writes its checkpoint, summary and metrics (each atomically: a temporary file,
//! then a rename) and the process exits with [`EXIT_INTERRUPTED`] (130, the shell
//! convention for SIGINT). A second Ctrl-C exits at once with 130: every file is either
//! its previous complete version or the new complete one, never a truncated mix.
//!
//! Only commands that call [`install`] (every trainer, through [`crate::run_loop::run`]) or
//! [`install_forwarding`] (the experiments that run trainers in resumable pieces: they pass
//! each Ctrl-C on to the running `train`, wait for it to write its checkpoint, launch
//! nothing more, write their table and exit with 130) catch the signal; every other command
//! keeps the default behaviour (terminate immediately).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Exit code of an interrupted run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// How many SIGINTs this process has received (counted by [`install_forwarding`]).
static RECEIVED: AtomicU32 = AtomicU32::new(0);

/// Installs the SIGINT handler (idempotent; a failure to install is reported on stderr and
/// leaves the default behaviour).
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let res = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                // second Ctrl-C: give up waiting for the iteration to finish
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
            eprintln!(
                "\namortise: interrupted: finishing the current iteration, then writing the checkpoint (Ctrl-C again to quit now)"
            );
        });
        warn_if_uncaught(res);
    });
}

/// The handler of a process that runs trainers as children in their own process group (so
/// a terminal's Ctrl-C reaches only this process): it marks the process interrupted and
/// counts the signals, and the caller passes each one on to the child
/// ([`received`]), so the child sees one Ctrl-C per Ctrl-C as if it had been in front.
/// It never exits by itself: the child decides when to stop, the caller then returns.
/// Installs nothing if [`install`] ran first (only one handler per process).
pub fn install_forwarding() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let res = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            RECEIVED.fetch_add(1, Ordering::SeqCst);
        });
        warn_if_uncaught(res);
    });
}

/// The number of SIGINTs counted by [`install_forwarding`]'s handler.
pub fn received() -> u32 {
    RECEIVED.load(Ordering::SeqCst)
}

fn warn_if_uncaught(res: Result<(), ctrlc::Error>) {
    if let Err(e) = res {
        eprintln!(
            "amortise: warning: cannot catch Ctrl-C ({e}); an interrupted run keeps only its last metrics line"
        );
    }
}

/// Whether Ctrl-C was pressed since the start (or [`set_interrupted`] was called).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Records an interruption that reached a child process rather than this one (a `train`
/// run of an experiment that exited with [`EXIT_INTERRUPTED`]), so this process stops
/// launching work and exits with 130 too.
pub fn set_interrupted() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}
