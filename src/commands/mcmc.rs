//! `amortise mcmc`: independent MALA or HMC chains on a target with the kernel's own moves
//! ([`amortise_kernel::smc::moves`] at β = 1), started at the rows of a sample file or at
//! Gaussian draws. It checks a reference sample set against the target (chains started at
//! the reference must stay where they are, in every statistic that mixes) and measures how
//! far plain MCMC gets from one start (`docs/cli.md`, "mcmc").
//!
//! - **Chains:** chain `c` draws from its own generator, seeded by the `c`-th number of the
//!   `--seed` generator, so the output does not depend on `--threads`.
//! - **Burn-in:** the first `--burn-in` transitions (default half of `--steps`) adapt the
//!   chain's step size every 50 transitions (×1.1 when more than the target acceptance were
//!   accepted, ×0.9 otherwise: 0.574 for MALA, 0.65 for HMC) and are discarded; then the
//!   step size is frozen, so the kept part is a Markov chain with a fixed kernel.
//! - **Kept states:** `--per-chain` states per chain, evenly spaced over the kept part, the
//!   last at the final transition; written sample-major (every chain's first kept state,
//!   then every chain's second ...), so a prefix of the file spreads over all chains.
//! - **Trace:** at `--trace` evenly spaced transitions (the last is the final one) the mean
//!   energy `−log p̃` over the chains and, on `aldp`, the basin populations of the chains'
//!   states: how far the chains moved, and whether they settled.

use std::time::Instant;

use amortise_kernel::rng::{self, Rng};
use amortise_kernel::smc::moves::{Tempered, hmc, hmc_scratch_len, mala, mala_scratch_len};
use amortise_kernel::targets::{Density, LogDensity, Target};
use clap::ValueEnum;
use serde_json::json;

use super::json_num;
use crate::error::{CliError, CliResult};

/// Arguments of `amortise mcmc`.
#[derive(Debug, clap::Args)]
pub struct McmcArgs {
    /// Target name (see `amortise targets`).
    #[arg(long)]
    pub target: String,
    /// Dimension, for targets that take one.
    #[arg(long)]
    pub dim: Option<usize>,
    /// Start the chains at rows of this sample file (CSV, `.gz` read transparently; the
    /// target's number of columns): chain `c` of `C` starts at row `⌊c·n/C⌋`.
    #[arg(long)]
    pub init: Option<String>,
    /// Without `--init`: start every chain at a draw of `N(0, s² I)`; 0 starts them all at
    /// the origin.
    #[arg(long, default_value_t = 0.0)]
    pub init_scale: f32,
    /// Independent chains.
    #[arg(long, default_value_t = 100)]
    pub chains: usize,
    /// Transitions per chain (MALA: two target gradients each; HMC: `--leapfrog` + 1).
    #[arg(long, default_value_t = 10_000)]
    pub steps: usize,
    /// Transitions that adapt the step size and are discarded (default `--steps` / 2).
    #[arg(long)]
    pub burn_in: Option<usize>,
    /// The Markov move.
    #[arg(long = "move", value_enum, default_value_t = Move::Mala)]
    pub mv: Move,
    /// Initial step size (MALA's `h`, HMC's leapfrog `ε`).
    #[arg(long, default_value_t = 1e-3)]
    pub step_size: f32,
    /// Leapfrog steps of one HMC transition.
    #[arg(long, default_value_t = 10)]
    pub leapfrog: u32,
    /// States kept per chain, evenly spaced over the kept part, the last at the final
    /// transition.
    #[arg(long, default_value_t = 1)]
    pub per_chain: usize,
    /// Points of the printed trace (evenly spaced transitions, the last the final one).
    #[arg(long, default_value_t = 10)]
    pub trace: usize,
    /// Threads (the output does not depend on it).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output CSV of the kept states (gzip-compressed when the name ends in `.gz`).
    #[arg(long)]
    pub out: String,
}

/// The Markov move of `amortise mcmc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Move {
    /// Metropolis-adjusted Langevin (one proposal per transition).
    Mala,
    /// Hamiltonian Monte Carlo (`--leapfrog` steps per transition).
    Hmc,
}

impl Move {
    /// The acceptance rate the burn-in adapts towards.
    fn target_acceptance(self) -> f64 {
        match self {
            Move::Mala => 0.574,
            Move::Hmc => 0.65,
        }
    }
}

/// Transitions per step-size adaptation window.
const WINDOW: usize = 50;
/// Most values `--chains × --per-chain × dim` may hold.
const MAX_KEPT_VALUES: usize = 1 << 28;

/// The checked settings of a run.
struct Plan {
    mv: Move,
    steps: usize,
    burn_in: usize,
    step_size: f32,
    leapfrog: u32,
    per_chain: usize,
    /// Transition indices (0-based) after which the trace records the chains' states.
    marks: Vec<usize>,
}

impl Plan {
    /// The kept-state slot of transition `s`, if it is one.
    fn kept_slot(&self, s: usize) -> Option<usize> {
        let kept_len = self.steps - self.burn_in;
        let thin = kept_len / self.per_chain;
        if s + 1 == self.steps {
            return Some(self.per_chain - 1);
        }
        let since = (s + 1).checked_sub(self.burn_in)?;
        (since > 0 && since.is_multiple_of(thin) && since / thin < self.per_chain)
            .then(|| since / thin - 1)
    }
}

/// What one chain returns.
struct ChainOut {
    kept: Vec<f32>,
    marks: Vec<f32>,
    accepted: u64,
    step_size: f32,
}

/// Runs one chain from `x` (its start, overwritten).
fn run_chain<T: LogDensity + ?Sized>(
    target: &T,
    plan: &Plan,
    x: &mut [f32],
    rng: &mut rng::Xoshiro256PlusPlus,
) -> CliResult<ChainOut> {
    let d = x.len();
    let pi = Tempered {
        target,
        beta: 1.0,
        var: 1.0,
    };
    let mut scratch = vec![0.0f32; mala_scratch_len(d).max(hmc_scratch_len(d))];
    let mut h = plan.step_size;
    let mut out = ChainOut {
        kept: vec![0.0; plan.per_chain * d],
        marks: Vec::with_capacity(plan.marks.len() * d),
        accepted: 0,
        step_size: h,
    };
    let mut lp = target.log_density(x);
    let mut window = 0usize;
    let kerr = |e| CliError::kernel("mcmc", e);
    for s in 0..plan.steps {
        let moved = match plan.mv {
            Move::Mala => mala(&pi, h, x, &mut scratch, rng).map_err(kerr)?,
            Move::Hmc => hmc(&pi, (h, plan.leapfrog), x, lp, &mut scratch, rng).map_err(kerr)?,
        };
        if moved {
            if plan.mv == Move::Hmc {
                lp = target.log_density(x);
            }
            window += 1;
        }
        if s < plan.burn_in {
            if (s + 1) % WINDOW == 0 {
                let rate = window as f64 / WINDOW as f64;
                h *= if rate > plan.mv.target_acceptance() {
                    1.1
                } else {
                    0.9
                };
                window = 0;
            }
        } else if moved {
            out.accepted += 1;
        }
        if let Some(j) = plan.kept_slot(s) {
            out.kept[j * d..(j + 1) * d].copy_from_slice(x);
        }
        if plan.marks.binary_search(&s).is_ok() {
            out.marks.extend_from_slice(x);
        }
    }
    out.step_size = h;
    Ok(out)
}

/// The chains' starting points, `chains × dim`.
fn starts(a: &McmcArgs, d: usize, r: &mut rng::Xoshiro256PlusPlus) -> CliResult<Vec<f32>> {
    let mut x = vec![0.0f32; a.chains * d];
    let Some(path) = &a.init else {
        rng::fill_standard_normal(r, &mut x);
        x.iter_mut().for_each(|v| *v *= a.init_scale);
        return Ok(x);
    };
    let s = crate::csv::read(path)?;
    if s.dim != d {
        return Err(CliError::file(
            path,
            format!("has {} columns; the target has {d} dimensions", s.dim),
        ));
    }
    let n = s.n();
    if n == 0 {
        return Err(CliError::file(path, "has no rows"));
    }
    for (c, row) in x.chunks_exact_mut(d).enumerate() {
        let k = c * n / a.chains;
        row.copy_from_slice(&s.data[k * d..(k + 1) * d]);
    }
    Ok(x)
}

/// Checks the flags and derives the run's settings.
fn plan(a: &McmcArgs, d: usize) -> CliResult<Plan> {
    let bad = |flag: &str, msg: &str| Err(CliError::flag(flag, msg));
    if a.chains == 0 || a.chains > 1_000_000 {
        return bad("--chains", "must be in 1..=1000000");
    }
    if a.steps < 2 || a.steps > 1_000_000_000 {
        return bad("--steps", "must be in 2..=1000000000");
    }
    let burn_in = a.burn_in.unwrap_or(a.steps / 2);
    if burn_in >= a.steps {
        return bad("--burn-in", "must be below --steps");
    }
    if a.per_chain == 0 || a.per_chain > a.steps - burn_in {
        return bad(
            "--per-chain",
            "must be in 1..=(--steps − --burn-in), one kept state per thinning interval",
        );
    }
    if a.chains.saturating_mul(a.per_chain).saturating_mul(d) > MAX_KEPT_VALUES {
        return bad(
            "--per-chain",
            "--chains × --per-chain × dim is above 2^28 kept values",
        );
    }
    if !(a.step_size.is_finite() && a.step_size > 0.0) {
        return bad("--step-size", "must be a finite number > 0");
    }
    if a.leapfrog == 0 || a.leapfrog > 1000 {
        return bad("--leapfrog", "must be in 1..=1000");
    }
    if !(a.init_scale.is_finite() && a.init_scale >= 0.0) {
        return bad("--init-scale", "must be a finite number ≥ 0");
    }
    if a.init.is_some() && a.init_scale != 0.0 {
        return bad("--init-scale", "applies without --init only");
    }
    if a.trace == 0 || a.trace > 1000 || a.trace > a.steps {
        return bad("--trace", "must be in 1..=min(1000, --steps)");
    }
    if a.threads == 0 || a.threads > 256 {
        return bad("--threads", "must be in 1..=256");
    }
    let marks = (1..=a.trace).map(|k| k * a.steps / a.trace - 1).collect();
    Ok(Plan {
        mv: a.mv,
        steps: a.steps,
        burn_in,
        step_size: a.step_size,
        leapfrog: a.leapfrog,
        per_chain: a.per_chain,
        marks,
    })
}

/// Runs every chain (`threads` at a time, each thread a contiguous block of chains).
fn run_chains(
    target: &Target,
    plan: &Plan,
    x: &mut [f32],
    seeds: &[u64],
    threads: usize,
) -> CliResult<Vec<ChainOut>> {
    let d = target.dim();
    let chains = seeds.len();
    let block = chains.div_ceil(threads.min(chains));
    let results: Vec<CliResult<Vec<ChainOut>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = x
            .chunks_mut(block * d)
            .zip(seeds.chunks(block))
            .map(|(xs, ss)| {
                sc.spawn(move || {
                    xs.chunks_exact_mut(d)
                        .zip(ss)
                        .map(|(xc, &seed)| run_chain(target, plan, xc, &mut rng::seeded(seed)))
                        .collect::<CliResult<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CliError::flag("--threads", "a chain thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(chains);
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The checks `amortise mcmc` makes before reading files or running chains.
///
/// # Errors
/// The flag at fault.
pub fn validate(a: &McmcArgs) -> CliResult<()> {
    let target = super::build_target(&a.target, a.dim)?;
    plan(a, target.dim()).map(|_| ())
}

/// Runs `amortise mcmc`.
pub fn run(a: &McmcArgs) -> CliResult<()> {
    let target = super::build_target(&a.target, a.dim)?;
    let d = target.dim();
    let plan = plan(a, d)?;
    let mut r = rng::seeded(a.seed);
    let mut x = starts(a, d, &mut r)?;
    for (c, row) in x.chunks_exact(d).enumerate() {
        if !target.log_density(row).is_finite() {
            return Err(CliError::flag(
                if a.init.is_some() {
                    "--init"
                } else {
                    "--init-scale"
                },
                format!("chain {c} starts where the log density is not finite"),
            ));
        }
    }
    let seeds: Vec<u64> = (0..a.chains).map(|_| r.next_u64()).collect();
    let start = trace_point(&target, 0, &x)?;
    let t0 = Instant::now();
    let outs = run_chains(&target, &plan, &mut x, &seeds, a.threads)?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut kept = vec![0.0f32; a.chains * a.per_chain * d];
    for (c, o) in outs.iter().enumerate() {
        for (j, row) in o.kept.chunks_exact(d).enumerate() {
            let at = (j * a.chains + c) * d;
            kept[at..at + d].copy_from_slice(row);
        }
    }
    let text = crate::csv::format(&kept, d);
    let bytes = if a.out.ends_with(".gz") {
        crate::csv::gzip(text.as_bytes())
            .map_err(|e| CliError::file(&a.out, format!("gzip: {e}")))?
    } else {
        text.into_bytes()
    };
    crate::csv::write_atomic(&a.out, &bytes)?;
    let report = report(a, &target, &plan, (start, &outs), seconds)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    Ok(())
}

/// One point of the trace: the mean energy of `states` (rows) and, on `aldp`, their basin
/// populations.
fn trace_point(target: &Target, transition: usize, states: &[f32]) -> CliResult<serde_json::Value> {
    let d = target.dim();
    let n = states.len() / d;
    let energy = states
        .chunks_exact(d)
        .map(|row| -f64::from(target.log_density(row)))
        .sum::<f64>()
        / n as f64;
    let mut point = json!({ "transition": transition, "mean_energy": json_num(energy) });
    if let Density::Aldp(p) = target.density() {
        let stats = crate::aldp::AngleStats::new(&crate::aldp::angles(p, states))?;
        point["populations"] = json!(stats.populations());
    }
    Ok(point)
}

/// The printed diagnostics: acceptance, step sizes, the trace from the starts (transition
/// 0) on.
fn report(
    a: &McmcArgs,
    target: &Target,
    plan: &Plan,
    (start, outs): (serde_json::Value, &[ChainOut]),
    seconds: f64,
) -> CliResult<serde_json::Value> {
    let d = target.dim();
    let kept_len = (plan.steps - plan.burn_in) as f64;
    let accepted: u64 = outs.iter().map(|o| o.accepted).sum();
    let mut h: Vec<f32> = outs.iter().map(|o| o.step_size).collect();
    h.sort_by(f32::total_cmp);
    let mut trace = vec![start];
    for (m, &s) in plan.marks.iter().enumerate() {
        let states: Vec<f32> = outs
            .iter()
            .flat_map(|o| o.marks[m * d..(m + 1) * d].iter().copied())
            .collect();
        trace.push(trace_point(target, s + 1, &states)?);
    }
    Ok(json!({
        "target": target.name(), "dim": d, "move": format!("{:?}", a.mv).to_lowercase(),
        "chains": a.chains, "steps": plan.steps, "burn_in": plan.burn_in,
        "leapfrog": (plan.mv == Move::Hmc).then_some(plan.leapfrog),
        "per_chain": plan.per_chain, "samples": a.chains * plan.per_chain, "seed": a.seed,
        "init": a.init.clone().map_or_else(|| json!({ "scale": a.init_scale }), |f| json!(f)),
        "acceptance": json_num(accepted as f64 / (kept_len * outs.len() as f64)),
        "step_size": { "min": h[0], "median": h[h.len() / 2], "max": h[h.len() - 1] },
        "trace": trace, "seconds": json_num(seconds), "threads": a.threads,
        "out": a.out,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_for(steps: usize, burn_in: usize, per_chain: usize) -> Plan {
        Plan {
            mv: Move::Mala,
            steps,
            burn_in,
            step_size: 0.1,
            leapfrog: 10,
            per_chain,
            marks: vec![steps - 1],
        }
    }

    #[test]
    fn kept_states_are_evenly_spaced_and_end_at_the_last_transition() {
        let p = plan_for(100, 50, 5);
        let slots: Vec<(usize, usize)> = (0..100)
            .filter_map(|s| p.kept_slot(s).map(|j| (s, j)))
            .collect();
        assert_eq!(slots, vec![(59, 0), (69, 1), (79, 2), (89, 3), (99, 4)]);
        let p = plan_for(10, 0, 1);
        let slots: Vec<usize> = (0..10).filter_map(|s| p.kept_slot(s)).collect();
        assert_eq!(slots, vec![0]);
    }

    /// MALA and HMC chains on N(0, I) in 2-D keep its first two moments.
    #[test]
    fn chains_on_a_standard_normal_have_its_moments() {
        let target = super::super::build_target("gaussian", Some(2)).unwrap();
        for mv in [Move::Mala, Move::Hmc] {
            let mut p = plan_for(400, 200, 20);
            p.mv = mv;
            p.step_size = 0.5;
            let seeds: Vec<u64> = (0..200).collect();
            let mut x = vec![3.0f32; 200 * 2];
            let outs = run_chains(&target, &p, &mut x, &seeds, 2).unwrap();
            let v: Vec<f32> = outs.iter().flat_map(|o| o.kept.iter().copied()).collect();
            let n = v.len() as f64;
            let mean = v.iter().map(|&t| f64::from(t)).sum::<f64>() / n;
            let var = v.iter().map(|&t| f64::from(t).powi(2)).sum::<f64>() / n - mean * mean;
            // 4000 states of 200 chains: standard errors about 0.03 (mean) and 0.04 (var)
            assert!(mean.abs() < 0.1, "{mv:?} mean {mean}");
            assert!((var - 1.0).abs() < 0.15, "{mv:?} var {var}");
        }
    }

    #[test]
    fn the_output_does_not_depend_on_the_threads() {
        let target = super::super::build_target("gmm40", Some(2)).unwrap();
        let p = plan_for(60, 30, 3);
        let seeds: Vec<u64> = (10..17).collect();
        let run = |threads| {
            let mut x = vec![0.5f32; 7 * 2];
            let outs = run_chains(&target, &p, &mut x, &seeds, threads).unwrap();
            outs.iter()
                .flat_map(|o| o.kept.iter().map(|v| v.to_bits()))
                .collect::<Vec<u32>>()
        };
        assert_eq!(run(1), run(3));
        assert_eq!(run(1), run(7));
    }
}
