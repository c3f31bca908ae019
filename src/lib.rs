//! The library behind the `amortise` binary: command-line grammar, commands, files
//! (CSV samples, checkpoints) and evaluation, over the `no_std` kernel (`amortise-kernel`).
//!
//! `src/main.rs` only parses the command line and calls [`commands::run`]. The modules are
//! public so that the fuzz targets (`fuzz/`, and the stable smoke run of
//! `tests/robustness_fuzz.rs`) call the same code as the binary, through
//! [`fuzz_targets`].

pub mod aldp;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod counted;
pub mod csv;
pub mod error;
pub mod eval;
pub mod fuzz_targets;
pub mod paper_truth;
pub mod parallel;
pub mod plot;
pub mod run_config;
pub mod run_loop;
pub mod signal;
pub mod snapshot;
