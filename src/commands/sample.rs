//! `amortise sample`: draws samples from a trained checkpoint of any kind: `diffusion` and
//! `teacher` (the policy, as `train` evaluates it), `vgs` (the Value Gradient Sampler, as
//! `train-vgs` draws its final samples), `ebm` (the VGS negative sampler against the learnt
//! energy) and `discrete` (terminal objects of the GFlowNet's forward policy without
//! exploration, written as the run's `samples.csv`: `index,s1,…`).

use amortise_kernel::rng;

use crate::checkpoint::{Checkpoint, RunSettings};
use crate::cli::SampleArgs;
use crate::csv::{self, write_atomic};
use crate::error::{CliError, CliResult};
use crate::eval;
use crate::run_config::RunConfig;

/// Checks `--n`.
pub fn check_n(n: usize) -> CliResult<()> {
    if n == 0 {
        return Err(CliError::flag("--n", "must be at least 1"));
    }
    if n > super::train::MAX_BATCH * 10 {
        return Err(CliError::flag(
            "--n",
            format!("at most {}", super::train::MAX_BATCH * 10),
        ));
    }
    Ok(())
}

/// Checks that `n` samples of dimension `dim` fit the memory bound.
pub fn check_values(n: usize, dim: usize) -> CliResult<()> {
    let max = super::sample_target::MAX_VALUES;
    if n.checked_mul(dim).is_none_or(|v| v > max) {
        return Err(CliError::flag(
            "--n",
            format!("--n × dimension must be at most {max} values (dimension {dim})"),
        ));
    }
    Ok(())
}

/// Checks the flags that need no checkpoint: `--n`, and `--particles` (only with `--smc`,
/// at least 1 and at most `--n`'s bound).
pub fn check_args(a: &SampleArgs) -> CliResult<()> {
    check_n(a.n)?;
    if a.smc && a.log_weights.is_some() {
        return Err(CliError::flag(
            "--log-weights",
            "not with --smc (its rows are resampled, so equally weighted)",
        ));
    }
    match a.particles {
        Some(_) if !a.smc => Err(CliError::flag("--particles", "needs --smc")),
        Some(p) => check_n(p).map_err(|_| {
            CliError::flag(
                "--particles",
                format!("must be in 1..={}", super::train::MAX_BATCH * 10),
            )
        }),
        None => Ok(()),
    }
}

/// Runs the command.
pub fn run(a: &SampleArgs) -> CliResult<()> {
    check_args(a)?;
    let (n, seed, out) = (a.n, a.seed, a.out.as_str());
    let (ck, path) = load(&a.checkpoint)?;
    if a.smc {
        let particles = a.particles.unwrap_or(super::sample_smc::DEFAULT_PARTICLES);
        let (all, dim) = super::sample_smc::sample(&ck, &path, (n, particles), seed)?;
        csv::write(out, &all, dim)?;
    } else if let RunSettings::Discrete(s) = &ck.settings {
        let (env, idx) = super::discrete::sample_checkpoint(s, &ck, n, seed)?;
        write_atomic(out, super::discrete::samples_csv(&env, &idx).as_bytes())?;
    } else if let Some(wpath) = &a.log_weights {
        let (RunSettings::Diffusion(rc) | RunSettings::Teacher(rc)) = &ck.settings else {
            return Err(CliError::flag(
                "--log-weights",
                format!(
                    "needs a diffusion or teacher checkpoint, {path} is a {} checkpoint",
                    ck.kind()
                ),
            ));
        };
        let (all, lw) = sample_policy(&ck, rc, &path, n, seed)?;
        check_finite(&path, &all)?;
        if let Some(i) = lw.iter().position(|v| !v.is_finite()) {
            return Err(CliError::file(
                &path,
                format!("the log weight of row {} is not finite ({})", i + 1, lw[i]),
            ));
        }
        csv::write(out, &all, rc.dim)?;
        csv::write_column(wpath, "log_w", &lw)?;
    } else {
        let (all, dim) = sample_checkpoint(&ck, &path, n, seed)?;
        csv::write(out, &all, dim)?;
    }
    let (what, on) = match &ck.settings {
        RunSettings::Diffusion(rc) | RunSettings::Teacher(rc) => (rc.method.clone(), &rc.target),
        RunSettings::Vgs(s) => ("vgs".to_string(), &s.target),
        RunSettings::Ebm(s) => ("ebm".to_string(), &s.data),
        RunSettings::Discrete(s) => (s.method.clone(), &s.env),
    };
    let by = if a.smc { " by twisted SMC" } else { "" };
    eprintln!(
        "wrote {n} samples{by} of the `{what}` model ({} checkpoint) on `{on}` to {out}",
        ck.kind()
    );
    Ok(())
}

/// The checkpoint that `--checkpoint` names, and its path for messages: a `checkpoint.json`
/// file, a resume snapshot (`snapshot.gz`, told apart by its gzip magic), or a run folder:
/// its `checkpoint.json`, else its `snapshot.gz` (a committed run keeps only the snapshot;
/// [`super::resume::checkpoint_of`] rebuilds the same checkpoint from it).
///
/// # Errors
/// A missing or bad file, naming it.
pub fn load(checkpoint: &str) -> CliResult<(Checkpoint, String)> {
    let p = std::path::Path::new(checkpoint);
    let path = if p.is_dir() {
        let (json, snap) = (p.join("checkpoint.json"), p.join(crate::snapshot::FILE));
        match (json.exists(), snap.exists()) {
            (false, true) => snap,
            (false, false) => {
                return Err(CliError::flag(
                    "--checkpoint",
                    format!(
                        "{checkpoint} holds neither checkpoint.json nor {} (the files a run \
                         writes)",
                        crate::snapshot::FILE
                    ),
                ));
            }
            _ => json,
        }
        .to_string_lossy()
        .into_owned()
    } else {
        checkpoint.to_string()
    };
    // read once: the path may be a pipe
    let raw =
        std::fs::read(&path).map_err(|e| CliError::file(&path, format!("cannot read: {e}")))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        let text = String::from_utf8(raw)
            .map_err(|_| CliError::file(&path, "not a valid checkpoint (not UTF-8 text)"))?;
        return Ok((Checkpoint::parse(&path, &text)?, path));
    }
    let sn = crate::snapshot::Snapshot::decode(&path, raw.as_slice())?;
    let ck = super::resume::checkpoint_in(&path, sn)?;
    eprintln!(
        "amortise: rebuilt the checkpoint of iteration {} from the resume snapshot {path}",
        ck.iteration
    );
    Ok((ck, path))
}

/// Draws `n` samples from a loaded checkpoint (`path` names it in messages); returns them
/// and their dimension. A discrete sample is the row of its `samples.csv` as numbers: the
/// terminal index, then the state's words.
///
/// # Errors
/// A configuration that does not rebuild the checkpoint's model, a kernel error, or
/// samples that are not finite (a model whose parameters overflow).
pub fn sample_checkpoint(
    ck: &Checkpoint,
    path: &str,
    n: usize,
    seed: u64,
) -> CliResult<(Vec<f32>, usize)> {
    let (all, dim) = match &ck.settings {
        RunSettings::Diffusion(rc) | RunSettings::Teacher(rc) => {
            (sample_policy(ck, rc, path, n, seed)?.0, rc.dim)
        }
        RunSettings::Vgs(s) => super::vgs::sample_checkpoint(s, ck, n, seed)?,
        RunSettings::Ebm(s) => super::ebm::sample_checkpoint(s, ck, n, seed)?,
        RunSettings::Discrete(s) => {
            use amortise_kernel::samplers::gflownet::env::DiscreteEnv;
            let (env, idx) = super::discrete::sample_checkpoint(s, ck, n, seed)?;
            let w = env.state_len();
            let mut st = vec![0u32; w];
            let mut rows = Vec::with_capacity(n * w);
            for &i in &idx {
                env.terminal_from_index(i, &mut st);
                rows.push(i as f32);
                rows.extend(st[..w - 1].iter().map(|&x| x as f32));
            }
            (rows, w)
        }
    };
    check_finite(path, &all)?;
    Ok((all, dim))
}

/// Refuses non-finite samples (a model whose parameters overflow).
fn check_finite(path: &str, all: &[f32]) -> CliResult<()> {
    if all.iter().any(|v| !v.is_finite()) {
        return Err(CliError::file(
            path,
            "the checkpoint's model produced non-finite samples",
        ));
    }
    Ok(())
}

/// `n` samples of the diffusion policy of a `diffusion` or `teacher` checkpoint and their
/// importance log weights.
fn sample_policy(
    ck: &Checkpoint,
    rc: &RunConfig,
    path: &str,
    n: usize,
    seed: u64,
) -> CliResult<(Vec<f32>, Vec<f32>)> {
    check_values(n, rc.dim)?;
    let target = super::run_target(rc)?;
    let cfg = rc.train_config()?;
    let net = cfg
        .policy_net(rc.dim)
        .map_err(|e| CliError::kernel("checkpoint network", e))?;
    let policy = ck.group("policy").unwrap_or_default();
    if net.param_count() != policy.len() {
        return Err(CliError::file(
            path,
            "checkpoint is corrupt (policy size does not match its configuration)",
        ));
    }
    let mut r = rng::seeded(seed);
    // sample in chunks to bound memory
    let chunk = 10_000usize;
    let mut all = Vec::with_capacity(n * rc.dim);
    let mut log_w = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let m = left.min(chunk);
        let (x, lw) = eval::sample_policy(
            eval::TrainedPolicy {
                cfg: &cfg.policy,
                process: cfg.process,
                steps: cfg.steps,
                net: &net,
                params: policy,
            },
            &target,
            m,
            &mut r,
        )?;
        all.extend_from_slice(&x);
        log_w.extend_from_slice(&lw);
        left -= m;
    }
    Ok((all, log_w))
}
