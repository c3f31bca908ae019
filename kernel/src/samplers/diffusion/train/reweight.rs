//! Recomputing the replay buffer's log weights under the current policy
//! ([`Config::buffer_reweight_every`]; not in the three papers).
//!
//! An entry's stored log weight estimates `log R(x) − log q(x)` with the policy `q` **of the
//! iteration that stored it**. Once the policy has moved, the weights are stale: a region the
//! early, broad policy over-sampled (and so stored with small weights) keeps those small
//! weights after the policy has stopped visiting it, so the importance-weighted draw never
//! replays it and nothing brings the policy back. Every `N` iterations this pass gives every
//! stored entry a fresh estimate under the current policy, from one backward trajectory
//! `τ ~ p_B(· | x)`:
//!
//! `log w = log R(x) + Σ log p_B(τ | x) − log p₀(x₀) − Σ log p_F(τ)`
//!
//! (the on-policy weight formula, [`super::super::policy::log_weights`]; without
//! `− log p₀(x₀)` under [`super::BufferWeights::Seed`]), with the `log R` the buffer stored.
//! `exp(−(Σ log p_B − Σ log p_F − log p₀))` is an unbiased estimate of `q(x)`, so by Jensen
//! the log weight is an upward-biased estimate of `log R(x) − log q(x)` with the variance of
//! one trajectory: enough to rank where the policy has fallen behind the target. SMC particles
//! lose their Z-scaled SMC weights and get the same per-entry estimate (the draw tempers all
//! weights to its target ESS together, so they must share one scale).
//!
//! The cost is a forward pass of the policy network per step of one backward trajectory per
//! entry (no gradients); a gradient-free policy spends no target evaluations (the Langevin
//! policy spends one target gradient per step and entry).

use super::super::policy;
use super::super::reference::Schedule;
use super::{BufferWeights, Config, State, Views, parts};
use crate::error::Error;
use crate::rng::Rng;
use crate::targets::LogDensity;

/// Recomputes every stored entry's log weight under the current policy if iteration `it` is
/// due (`it mod N = 0` with `N = cfg.buffer_reweight_every > 0`, iteration 0 left out) and
/// the method has a buffer; otherwise does nothing. Entries are processed `B` at a time in
/// slot order through the batch views and trajectories (the last group padded with copies
/// of its first entry, whose results are dropped), so call it after the iteration's batch
/// has been used. Entries the MCMC augmentation stored under
/// [`super::McmcWeights::Resampled`] keep their weights. Returns the entries reweighted.
///
/// # Errors
/// The policy's errors (shapes, a non-finite network output).
// Not inlined: inlined into `step`, its frame overflowed the Cortex-M firmware's 16 KiB
// stack (`cargo xtask embedded` hung in the first training step).
#[inline(never)]
pub fn reweight_buffer<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    it: u32,
    state: &State,
    views: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<u32, Error> {
    let every = cfg.buffer_reweight_every;
    if every == 0 || it == 0 || !it.is_multiple_of(every) || !cfg.method.has_buffer() {
        return Ok(0);
    }
    let (d, b, len) = (views.layout.dim, cfg.batch, state.buffer.len);
    let lay = views.layout;
    let (mut first, mut done) = (0, 0u32);
    while first < len {
        let n = b.min(len - first);
        for i in 0..b {
            let slot = first + if i < n { i } else { 0 };
            views.batch.x_t[i * d..(i + 1) * d]
                .copy_from_slice(&views.buffer.states[slot * d..(slot + 1) * d]);
            views.batch.log_r[i] = views.buffer.log_r[slot];
        }
        let sched = Schedule::view(cfg.process, cfg.steps, &*views.table)?;
        policy::sample_backward(
            &sched,
            views.batch.x_t,
            &mut views.traj,
            views.pws.noise,
            rng,
        )?;
        let pol = parts::policy_at(cfg, &lay, &sched, views.model.params);
        policy::score(pol, target, &mut views.traj, &mut views.pws, false)?;
        policy::log_weights(&sched, &views.traj, views.batch.log_r, views.batch.log_w)?;
        if cfg.buffer_weights == BufferWeights::Seed {
            parts::seed_weights(cfg, views)?;
        }
        let b = &mut views.buffer;
        for (i, &lw) in views.batch.log_w[..n].iter().enumerate() {
            // the augmentation's states keep their weights (McmcWeights::Resampled)
            if b.origin.get(first + i) != Some(&1) {
                b.log_w[first + i] = lw;
                done += 1;
            }
        }
        first += n;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::super::reference::{Process, gaussian_log_pdf};
    use super::super::tests::{store, with_trainer};
    use super::super::{BufferMcmc, McmcWeights, Method};
    use super::*;
    use crate::targets::Target;

    /// The untrained policy is the OU reference process itself, whose backward kernel is its
    /// exact posterior: every backward trajectory then gives exactly `log R(x) − log q(x)`
    /// with `q = N(0, σ² I)`, the process's marginal. 100 entries over a batch of 64 (a
    /// padded second group); entries keep their states and `log R`.
    #[test]
    fn an_untrained_policy_reweights_to_the_exact_ratio() {
        reweights_all_but(None);
    }

    /// Under resampled augmentation weights, the augmentation's states (here slots 10–19,
    /// marked by hand) keep their weights; every other entry is reweighted as before.
    #[test]
    fn the_augmentations_resampled_states_keep_their_weights() {
        reweights_all_but(Some(10..20));
    }

    fn reweights_all_but(marked: Option<core::ops::Range<usize>>) {
        let sigma = 1.5f32;
        let mcmc = BufferMcmc {
            walkers: 64,
            weights: McmcWeights::Resampled,
            ..BufferMcmc::seeds(0.001)
        };
        let cfg = Config {
            buffer_mcmc: marked.as_ref().map(|_| mcmc),
            method: Method::TbBuffer,
            process: Process::OrnsteinUhlenbeck { init_std: sigma },
            steps: 16,
            batch: 64,
            hidden: 8,
            harmonics: 2,
            buffer_capacity: 500,
            buffer_reweight_every: 5,
            ..Config::default()
        };
        let target = Target::from_name("9gmm", None).unwrap();
        with_trainer(&cfg, 5, |v, st, r| {
            for i in 0..100 {
                let x = [-4.0 + 0.08 * i as f32, 3.0 - 0.05 * i as f32];
                store(v, st, &x, 7.0, target.log_density(&x));
            }
            let keep = marked.unwrap_or(0..0);
            v.buffer.origin.get_mut(keep.clone()).unwrap().fill(1);
            for it in [0, 3] {
                assert_eq!(reweight_buffer(&cfg, it, st, v, &target, r), Ok(0));
                assert!(v.buffer.log_w[..100].iter().all(|&w| w == 7.0));
            }
            assert_eq!(
                reweight_buffer(&cfg, 5, st, v, &target, r),
                Ok(100 - keep.len() as u32)
            );
            for i in 0..100 {
                let x = [-4.0 + 0.08 * i as f32, 3.0 - 0.05 * i as f32];
                assert_eq!(&v.buffer.states[2 * i..2 * i + 2], &x);
                let lr = v.buffer.log_r[i];
                assert_eq!(lr, target.log_density(&x));
                let want = if keep.contains(&i) {
                    7.0
                } else {
                    lr - gaussian_log_pdf(&x, sigma * sigma)
                };
                let got = v.buffer.log_w[i];
                assert!(
                    (got - want).abs() < 2e-3 * want.abs().max(1.0),
                    "{i}: {got} vs {want}"
                );
            }
        })
    }
}
