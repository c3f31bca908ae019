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
use crate::buffer::ReplayBuffer;
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
    for (lw, &slot) in views.batch.log_w[..w]
        .iter_mut()
        .zip(&views.batch.draw[..w])
    {
        *lw = views.buffer.log_w[slot as usize];
    }
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
        }
        info.inserted += m.walkers;
    }
    Ok(info)
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
    use super::super::{Layout, Method, init};
    use super::*;
    use crate::rng;
    use crate::targets::Target;
    use std::vec;
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
        };
        let cfg = cfg(m);
        let target = Target::from_name("corr-gaussian", None).unwrap();
        let layout = Layout::new(&cfg, 2).unwrap();
        let (mut fa, mut ua) = (vec![0.0f32; layout.f32_len], vec![0u32; layout.u32_len]);
        let mut r = rng::seeded(3);
        let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
        let mut st = init(&cfg, &layout, &mut v, &mut r).unwrap();
        for i in 0..10 {
            let b = &mut v.buffer;
            let mut buf =
                ReplayBuffer::from_parts(2, b.states, b.log_w, b.log_r, st.buffer).unwrap();
            let x = [4.0 + 0.1 * i as f32, -4.0];
            buf.insert(&x, &[-0.1 * i as f32], &[target.log_density(&x)])
                .unwrap();
            st.buffer = buf.cursor();
        }
        // not due: nothing happens
        let none = augment_buffer(&cfg, 3, &mut st, &mut v, &target, &mut r).unwrap();
        assert_eq!((none.inserted, st.buffer.len), (0, 10));
        let info = augment_buffer(&cfg, 5, &mut st, &mut v, &target, &mut r).unwrap();
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
