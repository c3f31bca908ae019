//! Discrete Reinforced SMC (Choi et al. 2025, arXiv 2510.11711; `rsmc.md` §1.2–1.5 and §3):
//! SMC over partial objects with the learnt forward policy as proposal and the learnt state
//! flow as twist, feeding an importance-weighted replay buffer that trains the GFlowNet.
//!
//! **SMC** ([`run`]), `N` = the trainer's batch particles, chunk length `L`, depth
//! `T = max_steps` (`L` must divide `T`):
//! - every particle starts at `s₀` with `log W̄ = −log N` and twist `log F(s₀) = 0` (the
//!   initial state is fixed, so no `Z` factor enters SMC, as `F₀ = p₀` in the continuous
//!   case);
//! - each step moves every particle by `P_F` (no ε-exploration);
//! - at every chunk end `e = kL` the incremental weight is
//!   `log w = log F(s_e) + Σ_{j<e, j≥s} (log P_B − log P_F) − log F(s_s)`, with
//!   `log F(x) = log R(x)` for a done (terminal) state and the network's flow head
//!   otherwise; `ℓ = log W̄ + log w`, `log Ẑ += logsumexp ℓ`;
//! - unless `e = T`, if `ESS(ℓ)/N < resample_threshold` the particles are resampled
//!   (systematic) from the adaptively tempered weights `w^λ`
//!   ([`crate::smc::temper`], target ESS `target_ess`) and carry the residual
//!   `ℓ ← (1 − λ) ℓ[aᵢ]`; then `log W̄ = log_softmax(ℓ)`;
//! - output: the terminal objects with the **Z-scaled** weights `log W̄ᵢ + log Ẑ + log N`
//!   (`(1/N) Σ wᵢ = Ẑ`), on the same scale as on-policy weights `log R + Σ log P_B − Σ log P_F`
//!   so both share one buffer.
//!
//! The sequence MDP has a fixed depth, so all particles are always at the same depth. On a
//! variable-depth environment (the hypergrid) a particle that has stopped is padded with the
//! identity move (`P_F = P_B = 1`, twist `log R(x)`), which keeps SMC synchronous and the
//! estimator unchanged. `E[Ẑ] = Z` for any policy and any finite twist (tested by exact
//! enumeration).
//!
//! **Training loop** ([`step`], `rsmc.md` §1.5): iteration `i` is on-policy when
//! `i mod (r + 1) = 0` (`r` = replay ratio): `B` trajectories from `P_F` (with the trainer's
//! ε), inserted into the buffer with `log w = log R + Σ log P_B − Σ log P_F`, one gradient
//! step. Otherwise: one SMC run whose particles go into the buffer with their Z-scaled
//! weights, then `B` terminal objects drawn from the buffer by global adaptive tempering and
//! systematic resampling ([`Priority::ImportanceWeight`]), re-expanded by `P_B`, one gradient
//! step. The loss is TB + SubTB ([`LossKind::TbSubTb`]): TB trains the policy and `log Z`,
//! SubTB the flows used as twists. [`prefill`] fills the buffer with SMC runs of the
//! untrained model first. SMC samples reach training only through the buffer.
//!
//! Budget: every iteration (and every prefill run) asks for the rewards of `B` new terminal
//! objects, on-policy or SMC; replayed objects reuse their stored `log R`.
//!
//! Memory: the trainer's arenas hold the particles; [`SmcWorkspace`] (`5N` `f32`,
//! `N(1 + state_len)` `u32`) holds weights and resampling scratch.

use super::env::{DiscreteEnv, MAX_ACTIONS, count_legal};
use super::policy::{masked_log_softmax, sample_action};
use super::train::{LossKind, Trainer};
use crate::buffer::Priority;
use crate::error::{Error, check_len};
use crate::math;
use crate::rng::{Rng, uniform_f64};
use crate::smc::resample::{Scheme, resample};
use crate::smc::temper;

/// SMC settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmcConfig {
    /// Chunk length `L` (reweighting every `L` steps); must divide the depth `T`. Defaults
    /// to `3` (divides the depth `9` of the default length-8 sequences; paper: 4 of 64).
    pub chunk: usize,
    /// Resample when `ESS/N` falls below this. Defaults to `0.2` (`smc.resample_threshold`).
    pub resample_threshold: f64,
    /// Target ESS fraction of the adaptive weight tempering. Defaults to `0.05`
    /// (`smc.target_ess`).
    pub target_ess: f64,
}

impl Default for SmcConfig {
    fn default() -> Self {
        SmcConfig {
            chunk: 3,
            resample_threshold: 0.2,
            target_ess: 0.05,
        }
    }
}

impl SmcConfig {
    /// Checks the settings against the depth `T` of the environment.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `chunk` is zero or does not divide `depth`, or a
    /// threshold is out of range.
    pub fn validate(&self, depth: usize) -> Result<(), Error> {
        if self.chunk == 0 || !depth.is_multiple_of(self.chunk) {
            return Err(Error::InvalidConfig(
                "SMC chunk length must be >= 1 and divide the trajectory depth (max_steps)",
            ));
        }
        if !(0.0..=1.0).contains(&self.resample_threshold) {
            return Err(Error::InvalidConfig("resample threshold must be in [0, 1]"));
        }
        if !(self.target_ess > 0.0 && self.target_ess <= 1.0) {
            return Err(Error::InvalidConfig("SMC target ESS must be in (0, 1]"));
        }
        Ok(())
    }
}

pub use crate::smc::SmcInfo;

/// Caller-owned scratch of [`run`] for `N` particles.
#[derive(Debug)]
pub struct SmcWorkspace<'a> {
    /// `[N]`: on return from [`run`], the Z-scaled final log-weights.
    pub log_w: &'a mut [f32],
    log_f: &'a mut [f32],
    log_f_new: &'a mut [f32],
    acc: &'a mut [f32],
    tmp: &'a mut [f32],
    ancestors: &'a mut [u32],
    perm: &'a mut [u32],
}

impl<'a> SmcWorkspace<'a> {
    /// `f32` arena length for `n` particles.
    pub const fn f32_len(n: usize) -> usize {
        5 * n
    }
    /// `u32` arena length for `n` particles of `state_len` words.
    pub const fn u32_len(n: usize, state_len: usize) -> usize {
        n + n * state_len
    }
    /// Carves the workspace out of two arenas of the lengths above.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for arenas of the wrong length.
    pub fn new(
        n: usize,
        state_len: usize,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        check_len("SMC f32 arena", Self::f32_len(n), f32_arena.len())?;
        check_len(
            "SMC u32 arena",
            Self::u32_len(n, state_len),
            u32_arena.len(),
        )?;
        let (log_w, r) = f32_arena.split_at_mut(n);
        let (log_f, r) = r.split_at_mut(n);
        let (log_f_new, r) = r.split_at_mut(n);
        let (acc, tmp) = r.split_at_mut(n);
        let (ancestors, perm) = u32_arena.split_at_mut(n);
        Ok(SmcWorkspace {
            log_w,
            log_f,
            log_f_new,
            acc,
            tmp,
            ancestors,
            perm,
        })
    }
}

fn permute(v: &mut [f32], ancestors: &[u32], tmp: &mut [f32]) {
    for (t, &a) in tmp.iter_mut().zip(ancestors) {
        *t = v[a as usize];
    }
    v.copy_from_slice(tmp);
}

/// Runs one SMC pass with the trainer's current model (see the [module docs](self)). On
/// return `tr.terminal(i)` is particle `i`'s terminal object, `tr.log_rewards()` its
/// `log R` and `ws.log_w[i]` its Z-scaled log-weight. Only the final states of the batch
/// are meaningful afterwards (resampling copies boundary states, not histories): reload
/// the batch before scoring it.
///
/// # Errors
/// As [`SmcConfig::validate`] with the environment's depth; [`Error::ShapeMismatch`] for a
/// workspace of another particle count; [`Error::Degenerate`] if every particle gets zero
/// weight; [`Error::InvalidConfig`] if a particle is not done after `max_steps`; network
/// errors.
pub fn run<E: DiscreteEnv, R: Rng + ?Sized>(
    cfg: &SmcConfig,
    tr: &mut Trainer<'_, E>,
    ws: &mut SmcWorkspace<'_>,
    rng: &mut R,
) -> Result<SmcInfo, Error> {
    let env = tr.env;
    let (n, sl, tt) = (tr.cfg.batch, env.state_len(), env.max_steps());
    cfg.validate(tt)?;
    check_len("SMC particles (workspace)", n, ws.log_w.len())?;
    check_len("SMC state scratch", n * sl, ws.perm.len())?;
    let (na, nb, ow) = (env.n_actions(), env.n_back_actions(), tr.lay.out_width);
    let learn_pb = tr.cfg.learn_pb;
    let tcfg = temper::Config {
        target_ess: cfg.target_ess,
        ..temper::Config::default()
    };
    for b in 0..n {
        let o = b * (tt + 1) * sl;
        env.reset(&mut tr.states[o..o + sl]);
        tr.lens[b] = 0;
    }
    let inv_n = -math::ln(n as f64) as f32;
    ws.log_w.fill(inv_n);
    ws.log_f.fill(0.0);
    ws.acc.fill(0.0);
    let mut info = SmcInfo {
        log_z: 0.0,
        resamples: 0,
        min_ess_fraction: 1.0,
        final_ess_fraction: 1.0,
        min_lambda: 1.0,
    };
    let mut mask = [false; MAX_ACTIONS];
    let mut logp = [0.0f32; MAX_ACTIONS];
    let slot = |b: usize, t: usize| (b * (tt + 1) + t) * sl;
    for t in 0..=tt {
        if t < tt {
            tr.predict_current(n, t)?;
            // learnt P_B of transition t − 1, evaluated at the (non-done) child s_t
            if learn_pb && t > 0 {
                for b in 0..n {
                    let st = &tr.states[slot(b, t)..slot(b, t) + sl];
                    if tr.lens[b] as usize == t && !env.is_done(st) {
                        env.backward_mask(st, &mut mask[..nb]);
                        let lo = b * ow + na;
                        masked_log_softmax(&tr.f[6][lo..lo + nb], &mask[..nb], &mut logp[..nb])?;
                        let ba = (tr.back[b * tt + t - 1] as usize).min(nb - 1);
                        ws.acc[b] += logp[ba];
                    }
                }
            }
        }
        if t > 0 && t % cfg.chunk == 0 {
            // twist at the chunk end and the incremental weights
            for b in 0..n {
                let st = &tr.states[slot(b, t)..slot(b, t) + sl];
                ws.log_f_new[b] = if env.is_done(st) {
                    env.log_reward(st)
                } else if t == tt {
                    return Err(Error::InvalidConfig(
                        "SMC particle not done after max_steps transitions",
                    ));
                } else {
                    tr.f[6][b * ow + na + nb]
                };
                let l = ws.log_w[b] as f64 + ws.log_f_new[b] as f64 - ws.log_f[b] as f64
                    + ws.acc[b] as f64;
                ws.log_w[b] = if l.is_nan() {
                    f32::NEG_INFINITY
                } else {
                    l as f32
                };
            }
            ws.acc.fill(0.0);
            let lse = math::log_sum_exp_f64(ws.log_w);
            if !lse.is_finite() {
                return Err(Error::Degenerate("SMC: every particle has zero weight"));
            }
            info.log_z += lse;
            core::mem::swap(&mut ws.log_f, &mut ws.log_f_new);
            let ess = temper::ess_fraction_tempered(ws.log_w, 1.0)?;
            info.min_ess_fraction = info.min_ess_fraction.min(ess);
            if t < tt && ess < cfg.resample_threshold {
                let lambda = temper::tempering_exponent(&tcfg, ws.log_w)?.lambda;
                info.min_lambda = info.min_lambda.min(lambda);
                let m = ws.log_w.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                for (wt, &l) in ws.tmp.iter_mut().zip(ws.log_w.iter()) {
                    *wt = if l > f32::NEG_INFINITY {
                        math::exp(lambda * (l as f64 - m)) as f32
                    } else {
                        0.0
                    };
                }
                resample(
                    Scheme::Systematic,
                    ws.tmp,
                    &[uniform_f64(rng)],
                    ws.ancestors,
                )?;
                for (i, &a) in ws.ancestors.iter().enumerate() {
                    let a = a as usize;
                    ws.perm[i * sl..(i + 1) * sl]
                        .copy_from_slice(&tr.states[slot(a, t)..slot(a, t) + sl]);
                }
                for i in 0..n {
                    tr.states[slot(i, t)..slot(i, t) + sl]
                        .copy_from_slice(&ws.perm[i * sl..(i + 1) * sl]);
                }
                for (i, &a) in ws.ancestors.iter().enumerate() {
                    ws.perm[i] = tr.lens[a as usize];
                }
                tr.lens.copy_from_slice(&ws.perm[..n]);
                permute(ws.log_w, ws.ancestors, ws.tmp);
                for l in ws.log_w.iter_mut() {
                    *l = ((1.0 - lambda) * *l as f64) as f32;
                }
                permute(ws.log_f, ws.ancestors, ws.tmp);
                info.resamples += 1;
                tr.predict_current(n, t)?;
            }
            let lse = math::log_sum_exp_f64(ws.log_w);
            for l in ws.log_w.iter_mut() {
                *l = (*l as f64 - lse) as f32;
            }
        }
        if t == tt {
            break;
        }
        // move every particle one step with P_F
        for b in 0..n {
            let o = slot(b, t);
            let (cur, next) = tr.states[o..o + 2 * sl].split_at_mut(sl);
            next.copy_from_slice(cur);
            if env.is_done(cur) {
                continue;
            }
            env.forward_mask(cur, &mut mask[..na]);
            masked_log_softmax(&tr.f[6][b * ow..b * ow + na], &mask[..na], &mut logp[..na])?;
            let a = sample_action(&logp[..na], &mask[..na], 0.0, 1.0, uniform_f64(rng))?;
            ws.acc[b] -= logp[a];
            env.step(next, a);
            tr.actions[b * tt + t] = a as u32;
            tr.back[b * tt + t] = env.back_action_of(cur, a) as u32;
            tr.lens[b] = (t + 1) as u32;
            if !learn_pb {
                env.backward_mask(next, &mut mask[..nb]);
                ws.acc[b] -= math::ln(count_legal(&mask[..nb]).max(1) as f32);
            }
        }
    }
    info.final_ess_fraction = temper::ess_fraction_tempered(ws.log_w, 1.0)?;
    let shift = (info.log_z - inv_n as f64) as f32;
    for l in ws.log_w.iter_mut() {
        *l += shift;
    }
    // the terminal objects sit in the last slot (stopped particles were padded)
    tr.lens.fill(tt as u32);
    tr.finish_batch()?;
    Ok(info)
}

/// Settings of the discrete RSMC training loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RsmcConfig {
    /// The SMC sampler.
    pub smc: SmcConfig,
    /// Off-policy (SMC + buffer) iterations per on-policy iteration `r`. Defaults to `2`
    /// (`bwd_to_fwd_ratio`, RSMC).
    pub replay_ratio: u32,
    /// SMC runs that fill the buffer before training. Defaults to `0` here; the CLI uses
    /// `4` (paper: 100 runs of 2000 particles).
    pub prefill: u32,
}

impl Default for RsmcConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl RsmcConfig {
    /// The documented defaults (`replay_ratio = 2`, no prefill).
    pub fn new() -> Self {
        RsmcConfig {
            smc: SmcConfig::default(),
            replay_ratio: 2,
            prefill: 0,
        }
    }

    /// Checks the settings and the trainer they will drive.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the chunk does not divide the depth, the replay ratio is
    /// above 1000, the trainer has no importance-weighted buffer, its buffer cannot hold one
    /// SMC batch (capacity below the particle count), or its loss does not train the flows
    /// used as twists (TB alone).
    pub fn validate<E: DiscreteEnv>(&self, tr: &Trainer<'_, E>) -> Result<(), Error> {
        self.smc.validate(tr.env.max_steps())?;
        if self.replay_ratio > 1000 {
            return Err(Error::InvalidConfig("replay ratio must be at most 1000"));
        }
        if tr.cfg.buffer_capacity < tr.cfg.batch {
            return Err(Error::InvalidConfig(
                "RSMC buffer capacity must hold at least one SMC batch (capacity >= particles)",
            ));
        }
        if !matches!(tr.cfg.buffer_priority, Priority::ImportanceWeight { .. }) {
            return Err(Error::InvalidConfig(
                "RSMC needs the importance-weighted buffer priority",
            ));
        }
        if tr.cfg.loss == LossKind::Tb {
            return Err(Error::InvalidConfig(
                "RSMC twists are the learnt flows: use a loss that trains them (TB + SubTB, SubTB or DB)",
            ));
        }
        Ok(())
    }
}

/// What one RSMC iteration did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RsmcInfo {
    /// Mean loss of the gradient step.
    pub loss: f32,
    /// `log Z` after the step.
    pub log_z: f32,
    /// Whether the batch was on-policy (else SMC into the buffer, then a buffer draw).
    pub on_policy: bool,
    /// The SMC run of an off-policy iteration.
    pub smc: Option<SmcInfo>,
    /// Terminal objects whose reward was requested this iteration (`B`).
    pub reward_calls: usize,
}

fn visit_batch<E: DiscreteEnv>(tr: &Trainer<'_, E>, visit: &mut impl FnMut(&[u32])) {
    for b in 0..tr.cfg.batch {
        visit(tr.terminal(b));
    }
}

/// Fills the buffer with `cfg.prefill` SMC runs of the current model; returns the reward
/// calls made. `visit` sees every new terminal object (for visit and mode counts).
///
/// # Errors
/// As [`RsmcConfig::validate`] and [`run`].
pub fn prefill<E: DiscreteEnv, R: Rng + ?Sized>(
    cfg: &RsmcConfig,
    tr: &mut Trainer<'_, E>,
    ws: &mut SmcWorkspace<'_>,
    mut visit: impl FnMut(&[u32]),
    rng: &mut R,
) -> Result<usize, Error> {
    cfg.validate(tr)?;
    for _ in 0..cfg.prefill {
        run(&cfg.smc, tr, ws, rng)?;
        visit_batch(tr, &mut visit);
        tr.insert_batch(ws.log_w)?;
    }
    Ok(cfg.prefill as usize * tr.cfg.batch)
}

/// One RSMC training iteration (see the [module docs](self)). `visit` sees every new
/// terminal object (the on-policy batch or the SMC particles), not the replayed ones.
///
/// # Errors
/// As [`RsmcConfig::validate`], [`run`] and the trainer's parts.
pub fn step<E: DiscreteEnv, R: Rng + ?Sized>(
    cfg: &RsmcConfig,
    tr: &mut Trainer<'_, E>,
    ws: &mut SmcWorkspace<'_>,
    mut visit: impl FnMut(&[u32]),
    rng: &mut R,
) -> Result<RsmcInfo, Error> {
    cfg.validate(tr)?;
    let it = tr.iteration();
    let on_policy = it.is_multiple_of(cfg.replay_ratio + 1);
    let mut smc = None;
    if on_policy {
        tr.sample_forward(tr.cfg.epsilon, rng)?;
        visit_batch(tr, &mut visit);
        tr.log_weights(ws.tmp)?;
        tr.insert_batch(ws.tmp)?;
    } else {
        smc = Some(run(&cfg.smc, tr, ws, rng)?);
        visit_batch(tr, &mut visit);
        tr.insert_batch(ws.log_w)?;
        tr.load_from_buffer(rng)?;
    }
    let loss = tr.loss_and_grad(None, None)?;
    tr.apply_gradient()?;
    tr.count_iteration();
    Ok(RsmcInfo {
        loss,
        log_z: tr.log_z(),
        on_policy,
        smc,
        reward_calls: tr.cfg.batch,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;
    use crate::samplers::gflownet::exact;
    use crate::samplers::gflownet::grid::{GridReward, Hypergrid};
    use crate::samplers::gflownet::sequence::{SequenceConfig, SequenceEnv};
    use crate::samplers::gflownet::train::{Layout, TrainConfig};
    use std::vec;
    use std::vec::Vec;

    fn cfg(batch: usize, learn_pb: bool) -> TrainConfig {
        TrainConfig {
            loss: LossKind::TbSubTb,
            batch,
            hidden: 16,
            learn_pb,
            buffer_capacity: 4 * batch,
            buffer_priority: Priority::ImportanceWeight { target_ess: 0.05 },
            ..TrainConfig::default()
        }
    }

    /// Mean and standard error of `Ẑ/Z` over `reps` SMC runs with a randomly perturbed
    /// model (non-uniform policy, non-trivial twists).
    fn z_ratio<E: DiscreteEnv>(env: &E, learn_pb: bool, chunk: usize, reps: u64) -> (f64, f64) {
        let tc = cfg(32, learn_pb);
        let lay = Layout::new(env, &tc).unwrap();
        let (mut fa, mut ua) = (vec![0.0f32; lay.f32_len], vec![0u32; lay.u32_len]);
        let mut r = seeded(5);
        let mut tr = Trainer::new(env, tc, &mut fa, &mut ua, &mut r).unwrap();
        for (i, p) in tr.params_mut().iter_mut().enumerate() {
            *p += 0.8 * ((i * 7919 % 17) as f32 / 17.0 - 0.5);
        }
        let (mut sf, mut su) = (
            vec![0.0f32; SmcWorkspace::f32_len(32)],
            vec![0u32; SmcWorkspace::u32_len(32, env.state_len())],
        );
        let mut ws = SmcWorkspace::new(32, env.state_len(), &mut sf, &mut su).unwrap();
        let sc = SmcConfig {
            chunk,
            resample_threshold: 0.95,
            ..SmcConfig::default()
        };
        let lz = exact::log_z(env).unwrap();
        let mut resamples = 0;
        let z: Vec<f64> = (0..reps)
            .map(|_| {
                let i = run(&sc, &mut tr, &mut ws, &mut r).unwrap();
                resamples += i.resamples;
                // Z-scaled weights average to Ẑ
                let lme = math::log_mean_exp(ws.log_w) as f64;
                assert!((lme - i.log_z).abs() < 1e-3);
                math::exp(i.log_z - lz)
            })
            .collect();
        assert!(resamples > 0, "the test must exercise resampling");

        let m = z.iter().sum::<f64>() / reps as f64;
        let v = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (reps - 1) as f64;
        (m, (v / reps as f64).sqrt())
    }

    #[test]
    fn smc_log_z_is_unbiased_on_enumerable_targets() {
        let seq = SequenceEnv::new(SequenceConfig {
            len: 3,
            alphabet: 3,
            modes: 2,
            temperature: 0.5,
            ..Default::default()
        })
        .unwrap();
        // variable depth (padding) on a small grid: depth 7, chunk 7 and 1
        let grid = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        for (m, se, what) in [
            {
                let (m, se) = z_ratio(&seq, false, 2, 300);
                (m, se, "sequence, uniform P_B, L = 2")
            },
            {
                let (m, se) = z_ratio(&seq, true, 1, 300);
                (m, se, "sequence, learnt P_B, L = 1")
            },
            {
                let (m, se) = z_ratio(&grid, false, 1, 300);
                (m, se, "grid, L = 1")
            },
        ] {
            assert!((m - 1.0).abs() < 3.0 * se, "{what}: E[Ẑ/Z] = {m} ± {se}");
            assert!(se < 0.1, "{what}: se {se}");
        }
    }

    #[test]
    fn invalid_settings_are_errors() {
        let env = SequenceEnv::new(SequenceConfig {
            len: 3,
            alphabet: 2,
            modes: 1,
            ..Default::default()
        })
        .unwrap();
        let mut r = seeded(1);
        for (tc, sc) in [
            (
                cfg(8, false),
                SmcConfig {
                    chunk: 3,
                    ..SmcConfig::default()
                },
            ), // 3 ∤ 4
            (
                cfg(8, false),
                SmcConfig {
                    chunk: 0,
                    ..SmcConfig::default()
                },
            ),
            (
                TrainConfig {
                    buffer_capacity: 4,
                    ..cfg(8, false)
                },
                SmcConfig {
                    chunk: 2,
                    ..SmcConfig::default()
                },
            ),
            (
                TrainConfig {
                    loss: LossKind::Tb,
                    ..cfg(8, false)
                },
                SmcConfig {
                    chunk: 2,
                    ..SmcConfig::default()
                },
            ),
            (
                TrainConfig {
                    buffer_priority: Priority::Uniform,
                    ..cfg(8, false)
                },
                SmcConfig {
                    chunk: 2,
                    ..SmcConfig::default()
                },
            ),
        ] {
            let lay = Layout::new(&env, &tc).unwrap();
            let (mut fa, mut ua) = (vec![0.0f32; lay.f32_len], vec![0u32; lay.u32_len]);
            let mut tr = Trainer::new(&env, tc, &mut fa, &mut ua, &mut r).unwrap();
            let (mut sf, mut su) = (vec![0.0f32; 40], vec![0u32; 8 + 8 * env.state_len()]);
            let mut ws = SmcWorkspace::new(8, env.state_len(), &mut sf, &mut su).unwrap();
            let rc = RsmcConfig {
                smc: sc,
                ..RsmcConfig::new()
            };
            assert!(matches!(
                step(&rc, &mut tr, &mut ws, |_| {}, &mut r),
                Err(Error::InvalidConfig(_))
            ));
        }
        let (mut sf, mut su) = (vec![0.0f32; 39], vec![0u32; 8 + 8 * env.state_len()]);
        assert!(SmcWorkspace::new(8, env.state_len(), &mut sf, &mut su).is_err());
    }

    #[test]
    fn short_rsmc_run_reaches_the_exact_target() {
        let env = SequenceEnv::new(SequenceConfig {
            len: 4,
            alphabet: 2,
            modes: 2,
            temperature: 1.0,
            ..Default::default()
        })
        .unwrap();
        let tc = TrainConfig {
            hidden: 32,
            ..cfg(32, false)
        };
        let lay = Layout::new(&env, &tc).unwrap();
        let (mut fa, mut ua) = (vec![0.0f32; lay.f32_len], vec![0u32; lay.u32_len]);
        let mut r = seeded(11);
        let mut tr = Trainer::new(&env, tc, &mut fa, &mut ua, &mut r).unwrap();
        let (mut sf, mut su) = (
            vec![0.0f32; SmcWorkspace::f32_len(32)],
            vec![0u32; SmcWorkspace::u32_len(32, env.state_len())],
        );
        let mut ws = SmcWorkspace::new(32, env.state_len(), &mut sf, &mut su).unwrap();
        let rc = RsmcConfig {
            smc: SmcConfig {
                chunk: 1,
                ..SmcConfig::default()
            },
            prefill: 2,
            ..RsmcConfig::new()
        };
        prefill(&rc, &mut tr, &mut ws, |_| {}, &mut r).unwrap();
        let mut saw_smc = false;
        for _ in 0..400 {
            let i = step(&rc, &mut tr, &mut ws, |_| {}, &mut r).unwrap();
            saw_smc |= i.smc.is_some();
        }
        assert!(saw_smc);
        let mut p = vec![0.0f32; env.n_terminal()];
        let lz = exact::distribution(&env, &mut p).unwrap();
        let mut counts = vec![0u32; env.n_terminal()];
        for _ in 0..100 {
            tr.sample_forward(0.0, &mut r).unwrap();
            for b in 0..32 {
                counts[env.terminal_index(tr.terminal(b))] += 1;
            }
        }
        let mut q = vec![0.0f32; env.n_terminal()];
        crate::metrics::histogram::normalize_counts(&counts, &mut q).unwrap();
        let tv = crate::metrics::histogram::total_variation(&p, &q).unwrap();
        assert!(tv < 0.1, "tv {tv}");
        assert!(
            (tr.log_z() as f64 - lz).abs() < 0.2,
            "log Z {} vs {lz}",
            tr.log_z()
        );
    }
}
