//! `amortise`: train, sample, evaluate and benchmark amortised samplers from the command line.
//!
//! The binary is a thin layer over the `no_std` kernel (`amortise-kernel`): it parses
//! arguments, owns the buffers, reads and writes files, and turns every failure into one
//! clear line on stderr naming the flag or file at fault (exit code 1 for bad input, 2 for
//! malformed command lines), never a panic. A training run interrupted with Ctrl-C (SIGINT)
//! finishes its current iteration, writes its checkpoint and summary, and exits with 130.

use std::process::ExitCode;

use amortise::{cli, commands, signal};

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = cli::parse();
    match commands::run(cli) {
        Ok(()) if signal::interrupted() => ExitCode::from(signal::EXIT_INTERRUPTED),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amortise: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// A reader that closes our stdout early (`amortise bench eval | head -1`) makes `println!`
/// panic with "failed printing to stdout: Broken pipe". That is not an error of ours or of
/// the input: end quietly with 141 (128 + SIGPIPE, what a shell reports for a process killed
/// by the signal), as a C tool would. Every other panic keeps the default report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
