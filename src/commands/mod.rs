//! One file per subcommand; `run` dispatches.

mod aldp_table;
pub mod bench;
pub mod discrete;
pub mod discrete_eval;
pub mod discrete_experiment;
pub mod discrete_run;
pub mod ebm;
mod experiment;
pub mod logp;
pub mod mcmc;
pub mod metric;
pub mod metric_marginals;
pub mod metric_modes;
mod paper_table;
pub mod resume;
pub mod sample;
pub mod sample_smc;
pub mod sample_target;
mod targets;
mod teacher_continuous;
pub mod train;
pub mod vgs;

use crate::cli::{Cli, Command};
use crate::error::{CliError, CliResult};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Targets { json } => targets::run(json),
        Command::Logp {
            target,
            dim,
            point,
            json,
        } => logp::run(&target, dim, &point, json),
        Command::SampleTarget {
            target,
            dim,
            n,
            seed,
            clip,
            out,
        } => sample_target::run(&sample_target::Request {
            name: &target,
            dim,
            n,
            seed,
            clip,
            out: &out,
        }),
        Command::Train(args) => train::run(&args),
        Command::TrainDiscrete(args) => discrete_run::run(&args),
        Command::TrainVgs(args) => vgs::run_train(&args),
        Command::Ebm(args) => ebm::run(&args),
        Command::VgsReference(args) => vgs::run_reference(&args),
        Command::Mcmc(args) => mcmc::run(&args),
        Command::Sample(args) => sample::run(&args),
        Command::Experiment {
            name,
            seeds,
            iters,
            quick,
            jobs,
            out,
            rows,
            methods,
            stop_at,
            threads,
            weighted_samples,
            extra,
        } => {
            use crate::cli::ExperimentName as E;
            if rows.is_some() && !matches!(name, E::RsmcTable | E::PaperTable) {
                return Err(CliError::flag(
                    "--rows",
                    "only rsmc-table and paper-table have row groups to pick from",
                ));
            }
            if weighted_samples.is_some() && name != E::AldpTable {
                return Err(CliError::flag(
                    "--weighted-samples",
                    "only used by aldp-table",
                ));
            }
            let collect = name == E::RsmcTable && stop_at.is_some();
            if collect {
                rsmc_collect_flags(stop_at, iters.is_some(), quick, jobs.is_some(), &extra)?;
            }
            if !matches!(name, E::PaperTable | E::AldpTable) {
                const PIECES: &str = "only used by paper-table and aldp-table";
                for (given, flag, why) in [
                    (methods.is_some(), "--methods", PIECES),
                    (
                        stop_at.is_some() && !collect,
                        "--stop-at",
                        "only used by paper-table and aldp-table, and as 0 (collect) by rsmc-table",
                    ),
                    (threads != 1, "--threads", PIECES),
                ] {
                    if given {
                        return Err(CliError::flag(flag, why));
                    }
                }
            } else if name == E::PaperTable {
                let given = [
                    (iters.is_some(), "--iters"),
                    (quick, "--quick"),
                    (jobs.is_some(), "--jobs"),
                    (
                        !extra.is_empty(),
                        extra.first().map_or("--", String::as_str),
                    ),
                ];
                if let Some((_, flag)) = given.iter().find(|g| g.0) {
                    return Err(CliError::flag(
                        *flag,
                        "paper-table runs --preset paper as it is: use --stop-at for pieces (not --iters, --quick, --jobs or extra flags)",
                    ));
                }
            }
            if jobs.is_some() && matches!(name, E::TeacherGrid | E::DiscreteTable) {
                return Err(CliError::flag(
                    "--jobs",
                    "teacher-grid and discrete-table run their cells one at a time",
                ));
            }
            match name {
                E::AldpTable => {
                    let given = [
                        (quick, "--quick"),
                        (iters.is_some(), "--iters"),
                        (jobs.is_some(), "--jobs"),
                        (threads != 1, "--threads"),
                    ];
                    if let Some((_, flag)) = given.iter().find(|g| g.0) {
                        return Err(CliError::flag(
                            *flag,
                            "aldp-table runs --preset aldp, one thread a run: use --stop-at for pieces",
                        ));
                    }
                    aldp_table::aldp_table(&aldp_table::Settings {
                        seeds: seeds.unwrap_or(1),
                        stop_at,
                        out,
                        methods,
                        extra,
                        weighted_samples: weighted_samples.unwrap_or(aldp_table::WEIGHTED_SAMPLES),
                    })
                }
                E::PaperTable => paper_table::paper_table(&paper_table::Settings {
                    seeds: seeds.unwrap_or(1),
                    stop_at,
                    threads,
                    out,
                    rows,
                    methods,
                }),
                crate::cli::ExperimentName::TeacherGrid
                | crate::cli::ExperimentName::DiscreteTable => {
                    let s = experiment::Settings {
                        seeds: seeds.unwrap_or(if quick { 1 } else { 3 }),
                        iters: iters.unwrap_or(if quick { 200 } else { 2000 }),
                        jobs: 1,
                        out,
                        extra,
                        rows: None,
                        collect: false,
                    };
                    if name == crate::cli::ExperimentName::TeacherGrid {
                        discrete_experiment::teacher_grid(&s)
                    } else {
                        discrete_experiment::discrete_table(&s)
                    }
                }
                crate::cli::ExperimentName::RsmcTable => {
                    experiment::rsmc_table(&experiment::Settings {
                        seeds: seeds.unwrap_or(if quick { 1 } else { 3 }),
                        iters: iters.unwrap_or(if quick { 200 } else { 2000 }),
                        jobs: jobs.unwrap_or_else(|| {
                            std::thread::available_parallelism().map_or(1, |n| n.get())
                        }),
                        out,
                        extra,
                        rows,
                        collect,
                    })
                }
                crate::cli::ExperimentName::VgsTable => vgs::vgs_table(&experiment::Settings {
                    seeds: seeds.unwrap_or(1),
                    iters: iters.unwrap_or(if quick { 50 } else { 1500 }),
                    jobs: jobs.unwrap_or(1),
                    out,
                    extra,
                    rows: None,
                    collect: false,
                }),
            }
        }
        Command::Bench {
            kind,
            batch,
            steps,
            hidden,
            harmonics,
            threads,
            grad_chunks,
            fixed_variance,
            json,
        } => {
            let work = bench::Workload {
                batch,
                steps,
                shape: bench::Shape { hidden, harmonics },
                threads,
                grad_chunks,
                fixed_variance,
            };
            bench::run(kind, work, json)
        }
        Command::Metric(args) => metric::run(&args),
    }
}

/// `experiment rsmc-table --stop-at`: only `0`, which collects the table from the runs in
/// `--out` without training, so the flags that shape training are refused beside it.
fn rsmc_collect_flags(
    stop_at: Option<u32>,
    iters: bool,
    quick: bool,
    jobs: bool,
    extra: &[String],
) -> CliResult<()> {
    if stop_at != Some(0) {
        return Err(CliError::flag(
            "--stop-at",
            "rsmc-table runs its cells whole: only --stop-at 0 (collect the table from --out without training)",
        ));
    }
    let given = [
        (iters, "--iters"),
        (quick, "--quick"),
        (jobs, "--jobs"),
        (
            !extra.is_empty(),
            extra.first().map_or("--", String::as_str),
        ),
    ];
    match given.iter().find(|g| g.0) {
        Some((_, flag)) => Err(CliError::flag(
            *flag,
            "rsmc-table --stop-at 0 only collects: it trains nothing, so it takes no training flags",
        )),
        None => Ok(()),
    }
}

/// Largest `--dim` accepted: buffers are `n × dim`, and a larger dimension is a typo
/// (`sample-target --dim 100000000000000` used to overflow `n × dim` and panic; found while
/// writing the CLI fuzz target, regression test in `tests/robustness_cli.rs`).
pub const MAX_DIM: usize = 100_000;

/// Builds a target by name, mapping kernel errors to the flag that caused them.
pub fn build_target(name: &str, dim: Option<usize>) -> CliResult<amortise_kernel::targets::Target> {
    if let Some(d) = dim.filter(|&d| d > MAX_DIM) {
        return Err(CliError::flag(
            "--dim",
            format!("{d} is above the largest supported dimension {MAX_DIM}"),
        ));
    }
    use amortise_kernel::targets::{TARGETS, Target};
    if !TARGETS.iter().any(|t| t.name == name) {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        return Err(CliError::flag(
            "--target",
            format!("unknown target `{name}` (known: {})", names.join(", ")),
        ));
    }
    Target::from_name(name, dim).map_err(|e| CliError::flag("--dim", e.to_string()))
}

/// The target of a continuous run: [`build_target`] with the run's `aldp_seams` and
/// `aldp_scale` (the sampler's coordinates; `docs/aldp.md`, "A per-coordinate scale" and
/// "Moving the seams").
pub fn run_target(
    rc: &amortise_settings::RunConfig,
) -> CliResult<amortise_kernel::targets::Target> {
    use amortise_kernel::targets::Aldp;
    let mut target = build_target(&rc.target, Some(rc.dim))?;
    let seams = rc.aldp_seams == "md";
    if seams {
        target
            .set_aldp_seams(&Aldp::MD_SEAMS)
            .map_err(|e| CliError::flag("--aldp-seams", e.to_string()))?;
    }
    if rc.aldp_scale == "md" {
        let scale = if seams {
            &Aldp::MD_SEAMS_SCALE
        } else {
            &Aldp::MD_SCALE
        };
        target
            .set_aldp_scale(scale)
            .map_err(|e| CliError::flag("--aldp-scale", e.to_string()))?;
    }
    Ok(target)
}

/// Formats an `f64` for JSON: finite numbers as numbers, non-finite as strings.
pub fn json_num(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x)
        .map(serde_json::Value::Number)
        .unwrap_or_else(|| {
            if x.is_nan() {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(format!("{x}"))
            }
        })
}

/// The program an experiment runs its child commands with: this very binary. On Linux that is
/// `/proc/self/exe`, which stays executable when the file is rebuilt or deleted while a long
/// experiment runs (`current_exe` would name the deleted path and every later child would fail
/// to start), and keeps every piece of the experiment on the binary it started with; elsewhere
/// `current_exe`.
///
/// # Errors
/// A file error if neither names the binary.
pub fn own_exe() -> CliResult<std::path::PathBuf> {
    let proc_exe = std::path::Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_exe.exists() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe()
        .map_err(|e| CliError::file("amortise", format!("cannot find own executable: {e}")))
}
