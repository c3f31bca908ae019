//! Ctrl-C (SIGINT) during training: the first signal sets a flag that the training loop
//! polls once per iteration; the loop then stops after the current iteration, and the
//! command writes its checkpoint, summary and metrics (each atomically: a temporary file,
//! then a rename) and the process exits with [`EXIT_INTERRUPTED`] (130, the shell
//! convention for SIGINT). A second Ctrl-C exits at once with 130: every file is either
//! its previous complete version or the new complete one, never a truncated mix.
//!
//! Only commands that call [`install`] (every trainer, through [`crate::run_loop::run`])
//! catch the signal; every other command keeps the default behaviour (terminate
//! immediately).

use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code of an interrupted run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

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
        if let Err(e) = res {
            eprintln!("amortise: warning: cannot catch Ctrl-C ({e}); an interrupted run keeps only its last metrics line");
        }
    });
}

/// Whether Ctrl-C was pressed since the start.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
