//! Fuzz entry points: the parsers and validators that take outside bytes, as plain
//! functions over `&[u8]`.
//!
//! Each function must return normally for every input: bad input is a [`CliError`] (or
//! a clap error for a malformed command line), never a panic, an abort, a hang or a NaN
//! written to a file. They are driven two ways with the same code:
//! - coverage-guided, by libFuzzer: `fuzz/fuzz_targets/*.rs` (`cargo xtask fuzz` with a
//!   nightly toolchain and `cargo-fuzz`);
//! - a stable smoke run, `tests/robustness_fuzz.rs`: the committed corpus `fuzz/corpus/*`
//!   plus seeded random mutations of it (`cargo test`, and `cargo xtask fuzz` without
//!   nightly).
//!
//! Inputs are bounded by the functions themselves (work that grows with a size read from the
//! input is skipped above a small cap), so each call is fast.

use amortise_kernel::targets::LogDensity;
use clap::Parser;

use crate::checkpoint::{Checkpoint, RunSettings};
use crate::cli::{Cli, Command, TrainArgs};
use crate::commands::{self, build_target};
use crate::error::{CliError, CliResult};

/// The fuzz targets by name (also the folder names under `fuzz/corpus/`).
pub const TARGETS: [&str; 4] = ["checkpoint", "csv", "cli_args", "snapshot"];

/// Runs the named target on `data`; `false` for an unknown name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "checkpoint" => checkpoint(data),
        "csv" => csv(data),
        "cli_args" => cli_args(data),
        "snapshot" => snapshot(data),
        _ => return false,
    }
    true
}

/// Checkpoint loading: parse and verify the bytes as `checkpoint.json` (what
/// `amortise sample --checkpoint` reads, any kind and either version); for an accepted
/// checkpoint of a small model, draw two samples from it, which must be finite.
///
/// # Panics
/// Only on a bug: an accepted checkpoint whose samples are not finite.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // `read_to_string` rejects it with a file error before parsing
    };
    let Ok(ck) = Checkpoint::parse("fuzz/checkpoint.json", text) else {
        return;
    };
    let small = match &ck.settings {
        RunSettings::Diffusion(rc) | RunSettings::Teacher(rc) => {
            rc.dim <= 16 && rc.steps <= 64 && rc.hidden <= 64 && rc.harmonics <= 64
        }
        RunSettings::Vgs(s) => s.steps <= 64 && s.hidden <= 64 && s.batch <= 256,
        RunSettings::Ebm(s) => {
            s.steps <= 64 && s.hidden <= 64 && s.vgs_hidden <= 64 && s.batch <= 256
        }
        RunSettings::Discrete(s) => {
            s.hidden <= 64 && s.flow_hidden <= 64 && s.batch <= 256 && s.buffer <= Some(4096)
        }
    };
    if !small {
        return;
    }
    if let Ok((x, dim)) = commands::sample::sample_checkpoint(&ck, "fuzz/checkpoint.json", 2, 7) {
        assert!(dim <= 64, "dimension {dim}");
        assert_eq!(x.len(), 2 * dim, "sample count");
        assert!(x.iter().all(|v| v.is_finite()), "non-finite samples: {x:?}");
    }
}

/// Resume snapshot loading (`--resume DIR` reads `DIR/snapshot.gz`): parse the bytes as a
/// decompressed snapshot (the gzip layer and its CRC are flate2's) with every check of
/// [`crate::snapshot::Snapshot::parse`]; an accepted snapshot, written back, must parse to
/// the same snapshot (its wall-clock `seconds` to within rounding: serde_json's default
/// float parser may be an ulp off on long digit strings, and the seconds change no bits).
///
/// # Panics
/// Only on a bug: an accepted snapshot that does not survive the round trip.
pub fn snapshot(data: &[u8]) {
    use crate::snapshot::Snapshot;
    let Ok(s) = Snapshot::parse("fuzz/snapshot.gz", data) else {
        return;
    };
    let bytes = s.bytes().expect("an accepted snapshot encodes");
    let b = Snapshot::parse("fuzz/snapshot.gz", &bytes).expect("a written snapshot reads back");
    assert_eq!(b.settings, s.settings, "settings changed");
    assert_eq!(
        (b.iteration, &b.launch),
        (s.iteration, &s.launch),
        "header changed"
    );
    let tol = 1e-12 * s.seconds.max(1.0);
    assert!((b.seconds - s.seconds).abs() <= tol, "seconds changed");
    assert!(
        b.metrics == s.metrics && b.body == s.body,
        "contents changed"
    );
}

/// CSV sample loading (`amortise metric --a/--b`, `--reference`): parse the bytes; an
/// accepted file must hold finite values in a rectangle, and writing it back and reading
/// it again must give the same bits.
///
/// # Panics
/// Only on a bug: an accepted file that breaks those rules.
pub fn csv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = crate::csv::parse("fuzz.csv", text) else {
        return;
    };
    assert!(s.dim > 0 && s.data.len() % s.dim == 0, "ragged: {s:?}");
    assert!(s.data.iter().all(|v| v.is_finite()), "non-finite: {s:?}");
    let again = crate::csv::parse("fuzz.csv", &crate::csv::format(&s.data, s.dim))
        .expect("written samples read back");
    assert_eq!(again.dim, s.dim);
    assert!(
        again
            .data
            .iter()
            .zip(&s.data)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "round trip changed the values"
    );
}

/// The arguments encoded in fuzz bytes: split on newlines and NULs (lossy UTF-8), after
/// the program name.
pub fn args_from_bytes(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    std::iter::once("amortise".to_string())
        .chain(text.split(['\n', '\0']).map(str::to_string))
        .take(64)
        .collect()
}

/// Command-line parsing and validation: parse the arguments with clap, then run every
/// check the command makes before it starts working (without training, sampling or
/// writing files). A malformed command line is a clap error; a bad value a [`CliError`].
pub fn cli_args(data: &[u8]) {
    let Ok(cli) = Cli::try_parse_from(args_from_bytes(data)) else {
        return;
    };
    if let Err(e) = validate(&cli) {
        // every error renders as one line naming its flag or file
        let msg = e.to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "message: {msg:?}");
    }
}

/// The checks a command makes before doing any work (the same functions the command
/// calls), for the fuzz target [`cli_args`].
///
/// # Errors
/// The error the command itself would report.
pub fn validate(cli: &Cli) -> CliResult<()> {
    use commands::{bench, discrete, logp, metric, sample, sample_target, vgs};
    match &cli.command {
        Command::Targets { .. } | Command::Experiment { .. } => Ok(()),
        Command::Logp {
            target, dim, point, ..
        } => logp::prepare(target, *dim, point).map(|_| ()),
        Command::SampleTarget {
            target,
            dim,
            n,
            clip,
            ..
        } => sample_target::validate(target, *dim, *n, *clip).map(|_| ()),
        Command::Train(a) => validate_train(a),
        Command::TrainDiscrete(a) => {
            let s = discrete::DiscreteSettings::of(a);
            let env = discrete::build_env(&s)?;
            discrete::resolve(&s, &env).map(|_| ())
        }
        Command::TrainVgs(a) => {
            build_target(&a.target, None)?;
            vgs::config(a).map(|_| ())
        }
        Command::Sample(a) => sample::check_args(a),
        Command::Metric(a) => {
            metric::check_flags(a).and_then(|()| metric::convention(a).map(|_| ()))
        }
        Command::Bench { batch, .. } => bench::check_batch(batch.unwrap_or(300)),
        Command::Ebm(a) => commands::ebm::settings(a).map(|_| ()),
        Command::VgsReference(_) => Ok(()),
        Command::Mcmc(a) => commands::mcmc::validate(a),
    }
}

fn validate_train(a: &TrainArgs) -> CliResult<()> {
    if a.method == "vgs" {
        if a.run.dim.is_some() {
            return Err(CliError::flag("--dim", "not used by --method vgs"));
        }
        build_target(&a.target, None)?;
        return commands::vgs::config(&commands::train::vgs_args(a)).map(|_| ());
    }
    let target = build_target(&a.target, a.run.dim)?;
    let rc = commands::train::resolve(a, target.dim())?;
    if rc.method != "smc" {
        commands::train::validate_config(&rc)?;
    }
    Ok(())
}
