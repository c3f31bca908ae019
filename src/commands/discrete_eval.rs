//! Evaluation of a discrete run against the exact target: the enumerated distribution,
//! the exact distribution of the learnt forward policy, sample-based TV / L1 / JSD, and the
//! ELBO, EUBO and importance-sampling `log Z` from the trainer's log-weights.

use amortise_kernel::metrics::{bounds, histogram};
use amortise_kernel::rng::{self, uniform_f64};
use amortise_kernel::samplers::gflownet::env::DiscreteEnv;
use amortise_kernel::samplers::gflownet::exact;
use amortise_kernel::samplers::gflownet::train::{self, Config as TrainConfig, Layout, Views};

use super::discrete::AnyEnv;
use crate::error::{CliError, CliResult};

/// Exact reference quantities of an environment.
pub struct ExactTarget {
    /// `π(x)` indexed by terminal index.
    pub p: Vec<f32>,
    /// `log Z`.
    pub log_z: f64,
    /// Number of modes.
    pub modes: usize,
    /// Mode flag per terminal index.
    pub is_mode: Vec<bool>,
}

impl ExactTarget {
    /// TV between `π` and the empirical distribution of `n` exact samples from `π` (seeded):
    /// the sampling-noise floor of the sample-based `tv` at `n` samples.
    pub fn sample_floor(&self, n: usize, seed: u64) -> CliResult<f64> {
        let mut r = rng::seeded(seed ^ 0x5eed_f100);
        let mut cdf = Vec::with_capacity(self.p.len());
        let mut acc = 0.0f64;
        for &p in &self.p {
            acc += p as f64;
            cdf.push(acc);
        }
        let mut counts = vec![0u32; self.p.len()];
        for _ in 0..n {
            let u = uniform_f64(&mut r) * acc;
            counts[cdf.partition_point(|&c| c <= u).min(self.p.len() - 1)] += 1;
        }
        let mut q = vec![0.0f32; self.p.len()];
        let kerr = |e| CliError::kernel("sample floor", e);
        histogram::normalize_counts(&counts, &mut q).map_err(kerr)?;
        histogram::total_variation(&self.p, &q).map_err(kerr)
    }

    /// Enumerates `env`.
    pub fn new(env: &AnyEnv) -> CliResult<Self> {
        let mut p = vec![0.0f32; env.n_terminal()];
        let log_z =
            exact::distribution(env, &mut p).map_err(|e| CliError::kernel("enumeration", e))?;
        let mut s = vec![0u32; env.state_len()];
        let is_mode: Vec<bool> = (0..env.n_terminal())
            .map(|i| {
                env.terminal_from_index(i, &mut s);
                env.is_mode(&s)
            })
            .collect();
        let modes = is_mode.iter().filter(|&&m| m).count();
        Ok(ExactTarget {
            p,
            log_z,
            modes,
            is_mode,
        })
    }
}

/// The exact terminal distribution of the forward policy with `params` (no ε), by dynamic
/// programming over the DAG layer by layer: `P(s') = Σ_s P(s) P_F(s'|s)`, done states
/// collected into `q` (indexed by terminal index). Every non-terminal state is evaluated
/// once (87,381 for the default sequence target), so TV and JSD of the *sampler* to `π`
/// carry no sampling noise. Ordered maps keep the summation order, hence the numbers,
/// deterministic.
pub fn policy_distribution(env: &AnyEnv, lay: &Layout, params: &[f32]) -> CliResult<Vec<f64>> {
    use std::collections::BTreeMap;
    let kerr = |e| CliError::kernel("exact policy distribution", e);
    let params = params.get(..lay.policy_params).ok_or_else(|| {
        CliError::kernel(
            "exact policy distribution",
            amortise_kernel::Error::ShapeMismatch {
                what: "policy parameters",
                expected: lay.policy_params,
                got: params.len(),
            },
        )
    })?;
    let (fl, na, ow) = (env.feature_len(), env.n_actions(), lay.out_width);
    const ROWS: usize = 1024;
    let mut feats = vec![0.0f32; ROWS * fl];
    let mut out = vec![0.0f32; ROWS * ow];
    let mut scratch = vec![0.0f32; lay.mlp.scratch_len(ROWS)];
    let mut mask = vec![false; na];
    let mut logp = vec![0.0f32; na];
    let mut q = vec![0.0f64; env.n_terminal()];
    let mut s0 = vec![0u32; env.state_len()];
    env.reset(&mut s0);
    let mut layer: BTreeMap<Vec<u32>, f64> = BTreeMap::from([(s0, 1.0)]);
    for _ in 0..env.max_steps() {
        if layer.is_empty() {
            break;
        }
        let states: Vec<(Vec<u32>, f64)> = std::mem::take(&mut layer).into_iter().collect();
        for chunk in states.chunks(ROWS) {
            for (k, (st, _)) in chunk.iter().enumerate() {
                env.features(st, &mut feats[k * fl..(k + 1) * fl]);
            }
            let n = chunk.len();
            lay.mlp
                .predict(
                    params,
                    &feats[..n * fl],
                    n,
                    &mut scratch,
                    &mut out[..n * ow],
                )
                .map_err(kerr)?;
            for (k, (st, p)) in chunk.iter().enumerate() {
                env.forward_mask(st, &mut mask);
                amortise_kernel::samplers::gflownet::policy::masked_log_softmax(
                    &out[k * ow..k * ow + na],
                    &mask,
                    &mut logp,
                )
                .map_err(kerr)?;
                for a in (0..na).filter(|&a| mask[a]) {
                    let mut child = st.clone();
                    env.step(&mut child, a);
                    let pc = p * (logp[a] as f64).exp();
                    if env.is_done(&child) {
                        q[env.terminal_index(&child)] += pc;
                    } else {
                        *layer.entry(child).or_insert(0.0) += pc;
                    }
                }
            }
        }
    }
    Ok(q)
}

/// What one evaluation measured.
pub struct Eval {
    /// TV of the exact policy distribution to the target.
    pub tv_policy: f64,
    /// JSD of the exact policy distribution to the target.
    pub jsd_policy: f64,
    /// TV of the empirical sample distribution to the target.
    pub tv: f64,
    /// Mean absolute difference of the two distributions.
    pub l1: f64,
    /// JSD of the empirical sample distribution to the target.
    pub jsd: f64,
    /// Importance-sampling estimate of `log Z`.
    pub log_z_is: f64,
    /// ELBO (mean forward log-weight).
    pub elbo: f64,
    /// EUBO (mean log-weight of backward trajectories from exact samples).
    pub eubo: f64,
    /// Terminal index of every sample.
    pub sample_idx: Vec<usize>,
}

/// Evaluates the trainer behind `v` with `n` samples (rounded up to whole batches) drawn
/// with `r`.
pub fn evaluate<R: amortise_kernel::rng::Rng>(
    env: &AnyEnv,
    cfg: &TrainConfig,
    v: &mut Views<'_>,
    ex: &ExactTarget,
    n: usize,
    r: &mut R,
) -> CliResult<Eval> {
    let kerr = |e| CliError::kernel("evaluation", e);
    let b = cfg.batch;
    let rounds = n.div_ceil(b);
    let mut counts = vec![0u32; env.n_terminal()];
    let mut lw_all = Vec::with_capacity(rounds * b);
    let mut lw = vec![0.0f32; b];
    let mut sample_idx = Vec::with_capacity(rounds * b);
    for _ in 0..rounds {
        train::sample_forward(env, cfg, v, 0.0, r).map_err(kerr)?;
        train::log_weights(env, cfg, v, &mut lw).map_err(kerr)?;
        for (k, &w) in lw.iter().enumerate() {
            let i = env.terminal_index(v.terminal(k));
            counts[i] += 1;
            sample_idx.push(i);
            lw_all.push(w);
        }
    }
    let mut q = vec![0.0f32; env.n_terminal()];
    histogram::normalize_counts(&counts, &mut q).map_err(kerr)?;
    let tv = histogram::total_variation(&ex.p, &q).map_err(kerr)?;
    let l1 = histogram::l1_mean(&ex.p, &q).map_err(kerr)?;
    let jsd = exact::jensen_shannon(&ex.p, &q).map_err(kerr)?;
    let log_z_is = bounds::log_z_is(&lw_all).map_err(kerr)?;
    let elbo = bounds::elbo(&lw_all).map_err(kerr)?;
    // EUBO: backward trajectories from exact samples x ~ π
    let s = env.state_len();
    let mut cdf = Vec::with_capacity(ex.p.len());
    let mut acc = 0.0f64;
    for &p in &ex.p {
        acc += p as f64;
        cdf.push(acc);
    }
    let mut xs = vec![0u32; b * s];
    let mut eubo_w = Vec::with_capacity(rounds * b);
    for _ in 0..rounds.min(64) {
        for k in 0..b {
            let u = uniform_f64(r) * acc;
            let i = cdf.partition_point(|&c| c <= u).min(ex.p.len() - 1);
            env.terminal_from_index(i, &mut xs[k * s..(k + 1) * s]);
        }
        train::load_backward(env, cfg, v, &xs, r).map_err(kerr)?;
        train::log_weights(env, cfg, v, &mut lw).map_err(kerr)?;
        eubo_w.extend_from_slice(&lw);
    }
    let eubo = bounds::eubo(&eubo_w).map_err(kerr)?;
    let qp = policy_distribution(env, v.layout(), v.params())?;
    let tv_policy = 0.5
        * qp.iter()
            .zip(&ex.p)
            .map(|(&a, &b)| (a - b as f64).abs())
            .sum::<f64>();
    let q32: Vec<f32> = qp.iter().map(|&x| x as f32).collect();
    let jsd_policy = exact::jensen_shannon(&ex.p, &q32).map_err(kerr)?;
    Ok(Eval {
        tv_policy,
        jsd_policy,
        tv,
        l1,
        jsd,
        log_z_is,
        elbo,
        eubo,
        sample_idx,
    })
}
