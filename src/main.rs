//! `amortise`: train, sample, evaluate and benchmark amortised samplers from the command line.
//!
//! The binary is a thin layer over the `no_std` kernel (`amortise-kernel`): it parses
//! arguments, owns the buffers, reads and writes files, and turns every failure into one
//! clear line on stderr naming the flag or file at fault (exit code 1 for bad input, 2 for
//! malformed command lines), never a panic. A training run interrupted with Ctrl-C (SIGINT)
//! finishes its current iteration, writes its checkpoint and summary, and exits with 130.

use std::process::ExitCode;

use amortise::{cli, commands, signal};
use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) if signal::interrupted() => ExitCode::from(signal::EXIT_INTERRUPTED),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amortise: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
