//! `amortise`: train, sample, evaluate and benchmark amortised samplers from the command line.
//!
//! The binary is a thin layer over the `no_std` kernel (`amortise-kernel`): it parses
//! arguments, owns the buffers, reads and writes files, and turns every failure into one
//! clear line on stderr naming the flag or file at fault (exit code 1 for bad input, 2 for
//! malformed command lines), never a panic.

mod checkpoint;
mod cli;
mod commands;
mod csv;
mod error;
mod eval;
mod parallel;
mod plot;
mod run_config;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amortise: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
