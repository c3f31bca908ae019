//! Evaluation of a trained sampler, following `rsmc.md` §5: 2000 model samples from forward
//! trajectories (ELBO, importance-sampling log Z, ESS), 2000 exact target samples drawn once
//! with seed 0 (the funnel's clipped to `[−30, 30]` as the reference code's) run backward
//! through `p_B` (EUBO), sample divergences between the two sets
//! (median-heuristic MMD; the debiased Sinkhorn divergence in the paper's convention, ott-jax
//! defaults with ε = 0.05 × mean cost, at every evaluation, and in the converged one,
//! ε = 1e-3, at the final evaluation), and the entropic mode coverage where the target is a
//! mixture with known centres. On `aldp` (no exact sampler), the target samples of EUBO, MMD
//! and Sinkhorn come from the reference file of `train --aldp-reference`, and every
//! evaluation adds the φ/ψ metrics of [`crate::aldp`].

use amortise_kernel::Error;
use amortise_kernel::metrics::sinkhorn::SinkhornConvention;
use amortise_kernel::metrics::{bounds, coverage, mmd, sinkhorn, weights};
use amortise_kernel::rng::{self, Xoshiro256PlusPlus};
use amortise_kernel::samplers::diffusion::net::PisNet;
use amortise_kernel::samplers::diffusion::policy::{self, Policy, PolicyConfig, Rollout};
use amortise_kernel::samplers::diffusion::reference::{Process, Schedule};
use amortise_kernel::targets::{self, Density, Funnel, Gmm40Jax, LogDensity, Target};
use serde::Serialize;

use crate::error::{CliError, CliResult};

/// Seed of the ground-truth samples (the reference code uses `PRNGKey(0)`).
pub const GROUND_TRUTH_SEED: u64 = 0;

/// What stays fixed across evaluations of one run.
pub struct EvalSet {
    /// Exact target samples `[n, d]`, if the target has a sampler.
    pub ground_truth: Option<Vec<f32>>,
    /// Mode centres `[k, d]` for the entropic mode coverage, if defined.
    pub modes: Option<Vec<f32>>,
    /// Samples per evaluation.
    pub n: usize,
    /// On `aldp`: the target and its optional reference sample.
    pub aldp: Option<crate::aldp::AldpEval>,
}

/// `n` exact samples of `target` drawn with `seed`, as the evaluation draws its ground truth
/// (the funnel's clipped to `[−30, 30]`, see [`EvalSet::new`]).
///
/// # Errors
/// The target has no sampler, or its sampler fails.
pub fn exact_samples(target: &Target, n: usize, seed: u64) -> CliResult<Vec<f32>> {
    let mut out =
        draw_exact(target, n, seed, None).map_err(|e| CliError::kernel("exact samples", e))?;
    if matches!(target.density(), Density::Funnel(_)) {
        Funnel::clip_to_bounds(&mut out);
    }
    Ok(out)
}

/// `n` exact samples of `target` drawn with `seed`, every coordinate then clipped to
/// `[−clip, clip]` if given (NaN stays NaN); `amortise sample-target` writes these.
///
/// # Errors
/// The target has no sampler, or its sampler fails.
pub fn draw_exact(
    target: &Target,
    n: usize,
    seed: u64,
    clip: Option<f32>,
) -> Result<Vec<f32>, Error> {
    let d = target.dim();
    let mut out = vec![0.0f32; n * d];
    let mut r = rng::seeded(seed);
    for row in out.chunks_exact_mut(d) {
        target.sample(&mut r, row)?;
    }
    if let Some(b) = clip {
        targets::clip_coordinates(&mut out, b);
    }
    Ok(out)
}

impl EvalSet {
    /// Draws the ground truth (seed [`GROUND_TRUTH_SEED`]) and collects mode centres.
    ///
    /// The funnel's samples are clipped to `[−30, 30]` (`Funnel::SAMPLE_BOUND`) as the
    /// RSMC JAX code's `Funnel.sample` clips them to its `sample_bounds`: its evaluation set
    /// (`target.sample(PRNGKey(0), (eval_samples,))`) is clipped, for the EUBO's backward
    /// trajectories and the MMD and Sinkhorn reference alike.
    pub fn new(target: &Target, n: usize) -> CliResult<Self> {
        let ground_truth = if target.has_sampler() {
            Some(exact_samples(target, n, GROUND_TRUTH_SEED)?)
        } else {
            None
        };
        let aldp = match target.density() {
            Density::Aldp(a) => Some(crate::aldp::AldpEval {
                aldp: *a,
                reference: None,
            }),
            _ => None,
        };
        Ok(EvalSet {
            ground_truth,
            modes: mode_centres(target),
            n,
            aldp,
        })
    }

    /// Reads the aldp reference sample `path` (`--aldp-reference`): its φ/ψ histograms for
    /// the KL divergences, and `n` evenly spaced rows as the target samples (EUBO, MMD,
    /// Sinkhorn).
    ///
    /// # Errors
    /// A flag error if the target is not aldp or the file is unreadable or not 60-d.
    pub fn with_aldp_reference(mut self, path: &str) -> CliResult<Self> {
        let Some(ev) = self.aldp.as_mut() else {
            return Err(CliError::flag(
                crate::aldp::REFERENCE_FLAG,
                "only used by --target aldp",
            ));
        };
        let r = crate::aldp::Reference::load(&ev.aldp, path, self.n)?;
        self.ground_truth = Some(r.subsample.clone());
        ev.reference = Some(r);
        Ok(self)
    }
}

/// Mode centres of mixture targets (GMM40, GMM40 with the JAX means, 9GMM, 25GMM),
/// row-major. None for the mixture of Student-t: the JAX code assigns a sample to the
/// component of largest Student-t density, which is not the nearest location.
pub fn mode_centres(target: &Target) -> Option<Vec<f32>> {
    match target.density() {
        Density::Gmm40(g) => {
            let mut out = Vec::new();
            for k in 0.. {
                match g.mean(k) {
                    Some(m) => out.extend_from_slice(m),
                    None => break,
                }
            }
            Some(out)
        }
        Density::Gmm40Jax(g) => {
            let mut out = Vec::new();
            for k in 0..Gmm40Jax::N_COMPONENTS {
                out.extend_from_slice(g.mean(k)?);
            }
            Some(out)
        }
        Density::GridGmm(g) => {
            let mut out = Vec::new();
            for k in 0..g.n_components() {
                let m = g.mean(k)?;
                out.push(m[0] as f32);
                out.push(m[1] as f32);
            }
            Some(out)
        }
        _ => None,
    }
}

/// One evaluation's numbers (JSON field names as in `summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Mean log importance weight of forward trajectories (lower bound on log Z).
    pub elbo: f64,
    /// Mean log weight of backward trajectories from exact samples (upper bound).
    pub eubo: Option<f64>,
    /// log-mean-exp of forward log weights: the importance-sampling estimate of log Z.
    pub log_z_is: f64,
    /// ESS / n of the forward importance weights.
    pub ess: f64,
    /// MMD (median-heuristic Gaussian kernel) to the exact samples.
    pub mmd: Option<f64>,
    /// Debiased Sinkhorn divergence (ε = 1e-3) to the exact samples.
    pub sinkhorn: Option<f64>,
    /// Whether Sinkhorn reached its tolerance.
    pub sinkhorn_converged: Option<bool>,
    /// Debiased Sinkhorn divergence to the exact samples in the paper's convention (ott-jax
    /// 0.4.6 defaults, ε = 0.05 × mean cost: the scale of the Reinforced SMC tables).
    pub sinkhorn_paper: Option<f64>,
    /// Entropic mode coverage in [0, 1].
    pub emc: Option<f64>,
    /// The φ/ψ metrics on aldp.
    pub aldp: Option<crate::aldp::AldpMetrics>,
    /// Model samples `[n, d]` (not serialised).
    #[serde(skip)]
    pub samples: Vec<f32>,
}

/// A trained policy as the CLI evaluates it: its settings, the reference process and number
/// of steps (the schedule is built from them on each call), the network and its parameters.
#[derive(Clone, Copy, Debug)]
pub struct TrainedPolicy<'a> {
    /// Policy settings.
    pub cfg: &'a PolicyConfig,
    /// The reference process.
    pub process: Process,
    /// Euler steps `T`.
    pub steps: usize,
    /// The network's shape.
    pub net: &'a PisNet,
    /// The network's parameters.
    pub params: &'a [f32],
}

/// Where the trajectories of [`weighted_rollout`] come from.
#[derive(Clone, Copy)]
enum Start<'x> {
    /// `n` forward trajectories of the policy.
    Policy(usize),
    /// Backward trajectories (under `p_B`) from these terminal states, scored by the policy.
    Terminal(&'x [f32]),
}

/// Trajectories from `start`, their terminal states and log importance weights. Terminal
/// states in and out are in the target's own coordinates (those of sample files and
/// reference data: [`Target::to_target_coords`]), the trajectories in the sampler's.
fn weighted_rollout(
    tp: TrainedPolicy<'_>,
    target: &Target,
    start: Start<'_>,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(Vec<f32>, Vec<f32>), Error> {
    let TrainedPolicy {
        cfg,
        process,
        steps,
        net,
        params,
    } = tp;
    let mut table = vec![0.0f32; Schedule::table_len(steps)];
    let sched = Schedule::new(process, steps, &mut table)?;
    let d = net.dim();
    let n = match start {
        Start::Policy(n) => n,
        Start::Terminal(x_t) => x_t.len() / d,
    };
    let mut arena = vec![0.0f32; Rollout::arena_len(net, n, steps, false)];
    let Rollout { mut traj, mut ws } = Rollout::carve(net, n, steps, false, &mut arena)?;
    let pol = Policy {
        cfg,
        sched: &sched,
        net,
        params,
    };
    match start {
        Start::Policy(_) => policy::sample_forward(pol, target, &mut traj, &mut ws, false, rng)?,
        Start::Terminal(x_t) => {
            let mut y_t = x_t.to_vec();
            target.to_sampler_coords(&mut y_t);
            policy::sample_backward(&sched, &y_t, &mut traj, ws.noise, rng)?;
            policy::score(pol, target, &mut traj, &mut ws, false)?;
        }
    }
    let mut xt = traj.terminal().to_vec();
    let log_r: Vec<f32> = xt.chunks_exact(d).map(|x| target.log_density(x)).collect();
    let mut lw = vec![0.0f32; n];
    policy::log_weights(&sched, &traj, &log_r, &mut lw)?;
    target.to_target_coords(&mut xt);
    Ok((xt, lw))
}

/// Samples `n` forward trajectories of the policy and returns `(x_T, log w)`.
pub fn sample_policy(
    tp: TrainedPolicy<'_>,
    target: &Target,
    n: usize,
    rng: &mut Xoshiro256PlusPlus,
) -> CliResult<(Vec<f32>, Vec<f32>)> {
    weighted_rollout(tp, target, Start::Policy(n), rng)
        .map_err(|e| CliError::kernel("sampling the policy", e))
}

/// Log weights of backward trajectories from `x_t` under the policy (EUBO terms).
pub fn backward_log_weights(
    tp: TrainedPolicy<'_>,
    target: &Target,
    x_t: &[f32],
    rng: &mut Xoshiro256PlusPlus,
) -> CliResult<Vec<f32>> {
    weighted_rollout(tp, target, Start::Terminal(x_t), rng)
        .map(|(_, lw)| lw)
        .map_err(|e| CliError::kernel("scoring backward trajectories", e))
}

/// Divergences of a sample set from the ground truth, and its mode coverage.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleMetrics {
    /// MMD to the exact samples.
    pub mmd: Option<f64>,
    /// Sinkhorn divergence to the exact samples.
    pub sinkhorn: Option<f64>,
    /// Whether Sinkhorn converged.
    pub sinkhorn_converged: Option<bool>,
    /// Sinkhorn divergence to the exact samples in the paper's convention.
    pub sinkhorn_paper: Option<f64>,
    /// Entropic mode coverage.
    pub emc: Option<f64>,
}

/// Sample-set metrics of `samples` against the evaluation set: the converged Sinkhorn
/// divergence only `with_sinkhorn`, the paper's always.
pub fn sample_metrics(
    set: &EvalSet,
    samples: &[f32],
    d: usize,
    with_sinkhorn: bool,
) -> CliResult<SampleMetrics> {
    let (mut mmd_v, mut sk, mut skc, mut emc) = (None, None, None, None);
    let mut sk_paper = None;
    if let Some(gt) = &set.ground_truth {
        let mut work = vec![0.0f32; mmd::mmd_workspace_len(samples.len() / d, gt.len() / d)];
        mmd_v = Some(
            mmd::mmd_median(samples, gt, d, &mut work)
                .map_err(|e| CliError::kernel("mmd", e))?
                .mmd,
        );
        sk_paper = Some(sinkhorn(samples, gt, d, &SinkhornConvention::paper())?.divergence);
        if with_sinkhorn {
            let info = sinkhorn_divergence(samples, gt, d, &sinkhorn::SinkhornConfig::default())?;
            sk = Some(info.divergence);
            skc = Some(info.converged);
        }
    }
    if let Some(modes) = &set.modes {
        let mut counts = vec![0u32; modes.len() / d];
        emc = Some(
            coverage::entropic_mode_coverage(samples, d, modes, &mut counts)
                .map_err(|e| CliError::kernel("emc", e))?,
        );
    }
    Ok(SampleMetrics {
        mmd: mmd_v,
        sinkhorn: sk,
        sinkhorn_converged: skc,
        sinkhorn_paper: sk_paper,
        emc,
    })
}

/// Largest cost cache [`sinkhorn_divergence`] allocates: 2^26 `f64`s (512 MiB), enough for
/// two clouds of 5000 points. Larger problems recompute the costs at every iteration.
const SINKHORN_CACHE_MAX: usize = 1 << 26;

/// The kernel's Sinkhorn divergence with the converged convention's settings `cfg`; see
/// [`sinkhorn()`].
///
/// # Errors
/// The kernel's error, as a [`CliError`] naming `sinkhorn`.
pub fn sinkhorn_divergence(
    x: &[f32],
    y: &[f32],
    d: usize,
    cfg: &sinkhorn::SinkhornConfig,
) -> CliResult<sinkhorn::SinkhornInfo> {
    self::sinkhorn(x, y, d, &SinkhornConvention::Converged(*cfg))
}

/// The kernel's Sinkhorn divergence in either convention, with its cost cache when that fits
/// in 2^26 `f64`s, 512 MiB (the same bits either way; about 10× faster on 32-D clouds), so
/// every command that reports a Sinkhorn divergence goes through here.
///
/// # Errors
/// The kernel's error, as a [`CliError`] naming `sinkhorn`.
pub fn sinkhorn(
    x: &[f32],
    y: &[f32],
    d: usize,
    convention: &SinkhornConvention,
) -> CliResult<sinkhorn::SinkhornInfo> {
    let (n, m) = (x.len() / d.max(1), y.len() / d.max(1));
    let mut ws = vec![0.0f64; sinkhorn::sinkhorn_workspace_len(n, m)];
    let need = sinkhorn::sinkhorn_cost_cache_len(n, m);
    let mut cache = if need <= SINKHORN_CACHE_MAX {
        vec![0.0f64; need]
    } else {
        Vec::new()
    };
    let cache = (need <= SINKHORN_CACHE_MAX).then_some(cache.as_mut_slice());
    sinkhorn::divergence(x, y, d, convention, &mut ws, cache)
        .map_err(|e| CliError::kernel("sinkhorn", e))
}

/// Evaluates a policy (see the module doc). `with_sinkhorn` is set for the final
/// evaluation only: Sinkhorn at ε = 1e-3 on 2000 × 2000 points is the slowest metric.
pub fn evaluate(
    tp: TrainedPolicy<'_>,
    target: &Target,
    set: &EvalSet,
    with_sinkhorn: bool,
    rng: &mut Xoshiro256PlusPlus,
) -> CliResult<Evaluation> {
    let d = target.dim();
    let (samples, lw) = sample_policy(tp, target, set.n, rng)?;
    let k = |e| CliError::kernel("evaluation", e);
    let elbo = bounds::elbo(&lw).map_err(k)?;
    let log_z_is = bounds::log_z_is(&lw).map_err(k)?;
    let ess = weights::ess_fraction(&lw).unwrap_or(0.0);
    let eubo = match &set.ground_truth {
        Some(gt) => {
            let mut r = rng::seeded(GROUND_TRUTH_SEED);
            let lwb = backward_log_weights(tp, target, gt, &mut r)?;
            Some(bounds::eubo(&lwb).map_err(k)?)
        }
        None => None,
    };
    let m = sample_metrics(set, &samples, d, with_sinkhorn)?;
    let aldp = set
        .aldp
        .as_ref()
        .map(|a| crate::aldp::metrics(a, &samples))
        .transpose()?;
    Ok(Evaluation {
        elbo,
        eubo,
        log_z_is,
        ess,
        mmd: m.mmd,
        sinkhorn: m.sinkhorn,
        sinkhorn_converged: m.sinkhorn_converged,
        sinkhorn_paper: m.sinkhorn_paper,
        emc: m.emc,
        aldp,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The funnel's evaluation set is its exact draw with every coordinate clipped to
    /// `[−30, 30]`; other targets' sets are the draw itself.
    #[test]
    fn evaluation_set_clips_the_funnel_only() -> Result<(), Box<dyn std::error::Error>> {
        let funnel = Target::from_name("funnel", Some(10))?;
        let raw = draw_exact(&funnel, 2000, GROUND_TRUTH_SEED, None)?;
        let set = exact_samples(&funnel, 2000, GROUND_TRUTH_SEED)?;
        let mut clipped = 0;
        for (&r, &s) in raw.iter().zip(&set) {
            if r.abs() > Funnel::SAMPLE_BOUND {
                clipped += 1;
                assert_eq!(s, Funnel::SAMPLE_BOUND.copysign(r));
            } else {
                assert_eq!(s.to_bits(), r.to_bits());
            }
        }
        assert!(clipped > 0, "seed 0's 2000 funnel samples reach beyond ±30");
        let gmm = Target::from_name("gmm40-jax", Some(2))?;
        let raw = draw_exact(&gmm, 100, GROUND_TRUTH_SEED, None)?;
        assert_eq!(exact_samples(&gmm, 100, GROUND_TRUTH_SEED)?, raw);
        Ok(())
    }
}
