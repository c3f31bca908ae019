//! MCMC augmentation of the replay buffer: every `every` iterations, `walkers` states drawn
//! from the buffer by its priority rule run `steps` MALA transitions on the target, and
//! every `thin`-th transition all walkers' states enter the buffer.
//!
//! This is the RSMC PyTorch trainer's `perform_mcmc` (`hyeok9855/ReinforcedSMC-Torch`,
//! `trainer.py`; `rsmc.md` §2.4), which its alanine-dipeptide script turns on for the
//! "+ MCMC" variants (`--mcmc_freq 100 --mcmc_batch_size 200 --mcmc_n_steps 500
//! --mcmc_thinning 50 --mcmc_burn_in 0`): the new states are written in step-major order
//! (every walker's first kept state, then every walker's second ...) and **inherit the log
//! weight of the buffer entry their walker started from**, with their own `log R`. Two
//! differences, both documented in `docs/aldp.md`:
//! - the move is MALA in the sampler's own coordinates with a fixed step size (a Markov
//!   kernel that leaves the target invariant), where the script runs underdamped Langevin
//!   dynamics on the molecule's Cartesian positions (1 fs steps, friction 2.5/ps, no
//!   Metropolis test); the seeds' own MALA option returns a flat list of accepted states
//!   that their `perform_mcmc` cannot reshape, so it is not a usable reference;
//! - the seeds keep only L-form states of the molecule; here the target's chirality penalty
//!   is in the density MALA samples, and no state is dropped.
//!
//! Walkers start from the buffer's stored states; their `log R` is the target's at the
//! iteration's power, then [`Config::apply_low_reward`], as an on-policy batch is stored.

use super::{Config, State, Views, parts};
use crate::buffer::{Priority, ReplayBuffer};
use crate::error::{Error, check_min_len};
use crate::math;
use crate::rng::{Rng, fill_standard_normal, uniform_f64};
use crate::targets::LogDensity;

/// Settings of the buffer's MCMC augmentation ([`Config::buffer_mcmc`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BufferMcmc {
    /// Iterations `k` with `k mod every = 0` augment the buffer after their batch.
    pub every: u32,
    /// States drawn from the buffer to start the chains (at most the batch size).
    pub walkers: u32,
    /// MALA transitions of each chain.
    pub steps: u32,
    /// Every `thin`-th transition's states are stored (`steps / thin` per walker).
    pub thin: u32,
    /// MALA's step size `h` (proposal `x + h ∇log R + √(2h) ξ`).
    pub step_size: f32,
    /// The log weight each stored state gets.
    pub weights: McmcWeights,
}

/// The log weight of a state the augmentation stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum McmcWeights {
    /// The log weight of the entry its walker started from (the seeds' rule). Walkers are
    /// drawn by the buffer's priority, which already favours large weights, so a state's
    /// weight counts twice: under importance-weight priority with exponent `λ` the stored
    /// states are replayed as if drawn from `∝ q·w^(1+λ)`, not the target `q·w`.
    #[default]
    Inherit,
    /// The walker's entry weight divided by its chance of being drawn:
    /// `log w_e − log(n·π_e)` over the `n` stored entries, with `π_e` the draw's
    /// probability of slot `e` (under importance-weight priority,
    /// `(1−λ)·log w_e + log Σ_j w_j^λ − log n`; under uniform priority, `log w_e`). A
    /// state so weighted is properly weighted for the target (a MALA chain leaves it
    /// invariant), on the scale of the on-policy entries. The stored states are then left
    /// out of [`super::reweight_buffer`], whose `log R − log q` would count them twice
    /// again (they are not the policy's draws). Not in the papers.
    Resampled,
}

impl BufferMcmc {
    /// The seeds' ALDP script's sizes (every 100 iterations, 200 walkers, 500 steps, every
    /// 50th kept) with MALA step `step_size`.
    pub fn seeds(step_size: f32) -> Self {
        BufferMcmc {
            every: 100,
            walkers: 200,
            steps: 500,
            thin: 50,
            step_size,
            weights: McmcWeights::Inherit,
        }
    }

    /// Checks the fields against a trainer of batch size `batch`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self, batch: usize) -> Result<(), Error> {
        if self.every == 0 {
            return Err(Error::InvalidConfig("buffer MCMC: every must be >= 1"));
        }
        if self.walkers == 0 || self.walkers as usize > batch {
            return Err(Error::InvalidConfig(
                "buffer MCMC: walkers must be between 1 and the batch size",
            ));
        }
        if self.thin == 0 || self.thin > self.steps {
            return Err(Error::InvalidConfig(
                "buffer MCMC: thin must be between 1 and the steps",
            ));
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(Error::InvalidConfig(
                "buffer MCMC: the step size must be positive and finite",
            ));
        }
        Ok(())
    }
}

/// What one augmentation did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AugmentInfo {
    /// States stored in the buffer (0 when the iteration does not augment).
    pub inserted: u32,
    /// MALA proposals accepted.
    pub accepted: u64,
    /// MALA proposals made.
    pub proposals: u64,
}

/// Runs the augmentation if iteration `it` is due ([`BufferMcmc::every`]) and the buffer
/// holds anything; otherwise does nothing. Uses the batch views as scratch (`draw`, `x_t`,
/// `log_w`, `log_r` for the walkers; the trajectories' states for the walkers' gradients
/// and MALA's proposal), so call it after the iteration's batch has been used.
///
/// # Errors
/// [`Error::InvalidConfig`] for bad settings; [`Error::ShapeMismatch`] for a batch too
/// small for the scratch (fewer than 3 rows); the buffer's errors.
// Not inlined: inlined into `step`, its frame overflowed the Cortex-M firmware's 16 KiB
// stack (`cargo xtask embedded` hung in the first training step).
#[inline(never)]
pub fn augment_buffer<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    it: u32,
    state: &mut State,
    views: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<AugmentInfo, Error> {
    let mut info = AugmentInfo::default();
    let Some(m) = cfg.buffer_mcmc else {
        return Ok(info);
    };
    if !it.is_multiple_of(m.every) || state.buffer.len == 0 || !cfg.method.has_buffer() {
        return Ok(info);
    }
    m.validate(cfg.batch)?;
    let d = views.layout.dim;
    let w = m.walkers as usize;
    parts::draw_n(cfg, state.buffer, views, w, rng)?;
    walker_weights(cfg, m.weights, state.buffer.len, views, w);
    check_min_len("buffer MCMC scratch", (w + 3) * d, views.traj.states.len())?;
    let (grads, rest) = views.traj.states.split_at_mut(w * d);
    let (prop, rest) = rest.split_at_mut(d);
    let (pgrad, rest) = rest.split_at_mut(d);
    let mut sc = Scratch {
        prop,
        pgrad,
        noise: &mut rest[..d],
    };
    let xs = &mut views.batch.x_t[..w * d];
    let lps = &mut views.batch.log_r[..w];
    for ((x, g), lp) in xs
        .chunks_exact(d)
        .zip(grads.chunks_exact_mut(d))
        .zip(lps.iter_mut())
    {
        *lp = target.log_density_grad(x, g);
    }
    let mut stored = [0.0f32; 1];
    for s in 1..=m.steps {
        let chains = xs.chunks_exact_mut(d).zip(grads.chunks_exact_mut(d));
        for ((x, grad), lp) in chains.zip(lps.iter_mut()) {
            let chain = Chain { x, grad, lp };
            info.accepted += u64::from(mala_step(target, m.step_size, chain, &mut sc, rng));
        }
        info.proposals += w as u64;
        if !s.is_multiple_of(m.thin) {
            continue;
        }
        for (i, row) in xs.chunks_exact(d).enumerate() {
            stored[0] = if lps[i].is_finite() {
                lps[i]
            } else {
                f32::NEG_INFINITY
            };
            cfg.apply_low_reward(&mut stored);
            let b = &mut views.buffer;
            let mut buf = ReplayBuffer::from_parts(d, b.states, b.log_w, b.log_r, state.buffer)?;
            buf.insert(row, &views.batch.log_w[i..=i], &stored)?;
            state.buffer = buf.cursor();
            // marks the state as the augmentation's (`origin` is empty unless tracked)
            if let Some(o) = buf.newest_slot().and_then(|e| b.origin.get_mut(e)) {
                *o = 1;
            }
        }
        info.inserted += m.walkers;
    }
    Ok(info)
}

/// The walkers' log weights into `views.batch.log_w[..w]` by `rule`, from the slots of the
/// draw just made over the `len` stored entries (its sampling weights in
/// `views.buffer.weights` under a non-uniform priority).
fn walker_weights(cfg: &Config, rule: McmcWeights, len: usize, views: &mut Views<'_>, w: usize) {
    let b = &views.buffer;
    let uniform = cfg.buffer_priority == Priority::Uniform;
    // log(Σ_j s_j / n): the draw's π_e = s_e / Σ_j s_j
    let log_mean = if rule == McmcWeights::Resampled && !uniform {
        let sum: f64 = b.weights[..len].iter().map(|&v| v as f64).sum();
        math::ln(sum) - math::ln(len as f64)
    } else {
        0.0
    };
    for (lw, &slot) in views.batch.log_w[..w]
        .iter_mut()
        .zip(&views.batch.draw[..w])
    {
        let e = slot as usize;
        *lw = b.log_w[e];
        if rule == McmcWeights::Resampled && !uniform {
            let s = b.weights[e] as f64;
            *lw = if s > 0.0 {
                (*lw as f64 - math::ln(s) + log_mean) as f32
            } else {
                f32::NEG_INFINITY
            };
        }
    }
}

/// One chain: its state, the target's gradient there and its log density.
struct Chain<'c> {
    x: &'c mut [f32],
    grad: &'c mut [f32],
    lp: &'c mut f32,
}

/// MALA's per-proposal scratch (each of length `d`).
struct Scratch<'s> {
    prop: &'s mut [f32],
    pgrad: &'s mut [f32],
    noise: &'s mut [f32],
}

/// One MALA transition of `c` with step `h`, reusing the gradient at the current state
/// (one target gradient per transition; the same kernel as
/// [`crate::smc::moves::mala`]). A proposal with `-inf` density or a non-finite entry is
/// rejected. Returns whether it moved.
fn mala_step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    target: &T,
    h: f32,
    c: Chain<'_>,
    sc: &mut Scratch<'_>,
    rng: &mut R,
) -> bool {
    fill_standard_normal(rng, sc.noise);
    let sd = math::sqrt(2.0 * h);
    for j in 0..c.x.len() {
        sc.prop[j] = c.x[j] + h * c.grad[j] + sd * sc.noise[j];
    }
    let lp_prop = target.log_density_grad(sc.prop, sc.pgrad);
    let u = uniform_f64(rng);
    if lp_prop == f32::NEG_INFINITY || !sc.prop.iter().all(|v| v.is_finite()) {
        return false;
    }
    // log q(x | y) - log q(y | x)
    let (mut fwd, mut bwd) = (0.0f32, 0.0f32);
    for j in 0..c.x.len() {
        let d1 = sc.prop[j] - c.x[j] - h * c.grad[j];
        let d2 = c.x[j] - sc.prop[j] - h * sc.pgrad[j];
        fwd += d1 * d1;
        bwd += d2 * d2;
    }
    let log_alpha = (lp_prop - *c.lp) as f64 + ((fwd - bwd) / (4.0 * h)) as f64;
    if log_alpha >= 0.0 || math::ln(u) < log_alpha {
        c.x.copy_from_slice(sc.prop);
        c.grad.copy_from_slice(sc.pgrad);
        *c.lp = lp_prop;
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::super::reference::Process;
    use super::super::Method;
    use super::super::tests::{store, with_trainer};
    use super::*;
    use crate::targets::Target;
    use std::vec::Vec;

    fn cfg(mcmc: BufferMcmc) -> Config {
        Config {
            method: Method::TbBuffer,
            process: Process::OrnsteinUhlenbeck { init_std: 1.0 },
            steps: 16,
            batch: 64,
            hidden: 8,
            harmonics: 2,
            buffer_capacity: 2000,
            buffer_mcmc: Some(mcmc),
            ..Config::default()
        }
    }

    /// Walkers started from ten buffer entries far out in the tails of the correlated
    /// Gaussian (stds 1 and 2, correlation 0.9) store states with the target's moments, each
    /// with the log weight of the entry its walker started from.
    #[test]
    fn stored_states_follow_the_target_and_inherit_their_walkers_weights() {
        let m = BufferMcmc {
            every: 5,
            walkers: 32,
            steps: 4000,
            thin: 100,
            step_size: 0.15,
            weights: McmcWeights::Inherit,
        };
        let cfg = cfg(m);
        let target = Target::from_name("corr-gaussian", None).unwrap();
        with_trainer(&cfg, 3, |v, st, r| {
            for i in 0..10 {
                let x = [4.0 + 0.1 * i as f32, -4.0];
                store(v, st, &x, -0.1 * i as f32, target.log_density(&x));
            }
            // not due: nothing happens
            let none = augment_buffer(&cfg, 3, st, v, &target, r).unwrap();
            assert_eq!((none.inserted, st.buffer.len), (0, 10));
            let info = augment_buffer(&cfg, 5, st, v, &target, r).unwrap();
            assert_eq!(info.inserted, 32 * 40);
            assert_eq!(st.buffer.len, 10 + 32 * 40);
            let acc = info.accepted as f64 / info.proposals as f64;
            assert!(acc > 0.3 && acc < 0.95, "acceptance {acc}");
            let slots: Vec<u32> = v.batch.draw[..32].to_vec();
            let (mut sum, mut sq, mut cross) = ([0.0f64; 2], [0.0f64; 2], 0.0f64);
            let n = (32 * 40) as f64;
            for k in 0..32 * 40 {
                let e = 10 + k;
                assert_eq!(v.buffer.log_w[e], v.buffer.log_w[slots[k % 32] as usize]);
                let x = &v.buffer.states[2 * e..2 * e + 2];
                assert_eq!(v.buffer.log_r[e], target.log_density(x));
                for j in 0..2 {
                    sum[j] += x[j] as f64;
                    sq[j] += (x[j] as f64).powi(2);
                }
                cross += x[0] as f64 * x[1] as f64;
            }
            let mean = [sum[0] / n, sum[1] / n];
            let sd = [0, 1].map(|j| (sq[j] / n - mean[j] * mean[j]).sqrt());
            let corr = (cross / n - mean[0] * mean[1]) / (sd[0] * sd[1]);
            assert!(mean[0].abs() < 0.15 && mean[1].abs() < 0.3, "mean {mean:?}");
            assert!(
                (sd[0] - 1.0).abs() < 0.15 && (sd[1] - 2.0).abs() < 0.3,
                "sd {sd:?}"
            );
            assert!((corr - 0.9).abs() < 0.05, "correlation {corr}");
        })
    }

    /// The mean of `x²` per coordinate under the weights the augmentation stored, for the
    /// target `N(0, I)` (1 from states properly weighted); checks the entries' origin marks.
    fn stored_second_moment(rule: McmcWeights, target_ess: f64) -> f64 {
        let m = BufferMcmc {
            every: 1,
            walkers: 512,
            steps: 1,
            thin: 1,
            step_size: 1e-4,
            weights: rule,
        };
        let cfg = Config {
            batch: 512,
            buffer_capacity: 3000,
            buffer_priority: Priority::ImportanceWeight { target_ess },
            ..cfg(m)
        };
        let target = Target::from_name("gaussian", None).unwrap();
        with_trainer(&cfg, 11, |v, st, r| {
            // 2000 draws of q = N(0, 2² I), each with its exact weight log p − log q
            let mut x = [0.0f32; 2];
            for _ in 0..2000 {
                fill_standard_normal(r, &mut x);
                x.iter_mut().for_each(|v| *v *= 2.0);
                let log_q = -0.125 * (x[0] * x[0] + x[1] * x[1])
                    - math::ln(8.0 * core::f64::consts::PI) as f32;
                let log_p = target.log_density(&x);
                store(v, st, &x, log_p - log_q, log_p);
            }
            let info = augment_buffer(&cfg, 1, st, v, &target, r).unwrap();
            assert_eq!((info.inserted, st.buffer.len), (512, 2512));
            let lw = &v.buffer.log_w[2000..2512];
            let top = lw.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let (mut sw, mut swx) = (0.0f64, 0.0f64);
            for (k, &l) in lw.iter().enumerate() {
                let w = math::exp(l as f64 - top);
                let x = &v.buffer.states[2 * (2000 + k)..2 * (2000 + k) + 2];
                sw += w;
                swx += w * 0.5 * (x[0] as f64 * x[0] as f64 + x[1] as f64 * x[1] as f64);
            }
            let tracked = rule == McmcWeights::Resampled;
            assert_eq!(v.buffer.origin.len(), if tracked { 3000 } else { 0 });
            if tracked {
                assert!(v.buffer.origin[..2000].iter().all(|&o| o == 0));
                assert!(v.buffer.origin[2000..2512].iter().all(|&o| o == 1));
                // the policy's inserts take the slots back (six batches wrap the ring)
                for _ in 0..6 {
                    super::super::parts::insert(&mut st.buffer, v, false).unwrap();
                }
                assert!(v.buffer.origin.iter().all(|&o| o == 0));
            }
            swx / sw
        })
    }

    /// Walkers drawn by importance weight start from the target (one short MALA step keeps
    /// each state by its walker's start, so the weights decide the outcome); weighted again by their
    /// entries' weights (the seeds' rule) their states describe `∝ p²/q`, too narrow
    /// (`N(0, I)` drawn through `q = N(0, 4I)`: variance 1/(2 − 1/4) = 0.57).
    /// Divided by the draw's probability, they are properly weighted: fully tempered
    /// (`λ = 1`, equal stored weights) and partly (`λ < 1` at a 90 % target ESS).
    #[test]
    fn resampled_weights_are_proper_where_inherited_ones_count_twice() {
        let inherit = stored_second_moment(McmcWeights::Inherit, 0.05);
        std::println!("E[x^2] per coordinate, inherited weights: {inherit:.4}");
        assert!(inherit < 0.75, "inherited: {inherit}");
        for ess in [0.05, 0.9] {
            let proper = stored_second_moment(McmcWeights::Resampled, ess);
            std::println!("E[x^2] per coordinate, resampled weights at ESS {ess}: {proper:.4}");
            assert!(
                (proper - 1.0).abs() < 0.2,
                "resampled at ESS {ess}: {proper}"
            );
        }
    }

    /// Under `λ = 1` every resampled walker's weight is the entries' mean weight.
    #[test]
    fn fully_tempered_walkers_get_the_mean_weight() {
        let m = BufferMcmc {
            every: 1,
            walkers: 8,
            steps: 1,
            thin: 1,
            step_size: 0.01,
            weights: McmcWeights::Resampled,
        };
        let cfg = cfg(m);
        let target = Target::from_name("corr-gaussian", None).unwrap();
        with_trainer(&cfg, 4, |v, st, r| {
            let log_w = [0.0f32, 0.5, -0.3, 1.0, 0.2];
            for (i, &l) in log_w.iter().enumerate() {
                let x = [0.1 * i as f32, -0.2];
                store(v, st, &x, l, target.log_density(&x));
            }
            augment_buffer(&cfg, 1, st, v, &target, r).unwrap();
            let mean: f64 = log_w.iter().map(|&l| math::exp(l as f64)).sum::<f64>() / 5.0;
            for &l in &v.buffer.log_w[5..13] {
                assert!(
                    (l as f64 - math::ln(mean)).abs() < 1e-5,
                    "{l} vs {}",
                    math::ln(mean)
                );
            }
        })
    }

    #[test]
    fn bad_settings_are_rejected() {
        let ok = BufferMcmc {
            walkers: 64,
            ..BufferMcmc::seeds(0.001)
        };
        assert!(cfg(ok).validate().is_ok());
        let bad = [
            BufferMcmc { every: 0, ..ok },
            BufferMcmc { walkers: 0, ..ok },
            BufferMcmc { walkers: 65, ..ok },
            BufferMcmc { thin: 0, ..ok },
            BufferMcmc { thin: 501, ..ok },
            BufferMcmc {
                step_size: 0.0,
                ..ok
            },
            BufferMcmc {
                step_size: f32::NAN,
                ..ok
            },
        ];
        for m in bad {
            let c = Config {
                batch: 64,
                ..cfg(m)
            };
            assert!(c.validate().is_err(), "{m:?}");
        }
        let on_policy = Config {
            method: Method::Tb,
            ..cfg(ok)
        };
        assert!(on_policy.validate().is_err());
    }
}
