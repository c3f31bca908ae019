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
//! Shape: [`Config`] (the trainer's settings, the SMC sampler, the replay ratio and the
//! prefill) + [`Layout`] + [`Views`] + the trainer's [`State`] + [`Info`] + [`init`] +
//! [`step`]. Memory: the trainer's arenas hold the particles; after them, `5N` `f32`
//! (weights, twists, increments, scratch) and `N(1 + state_len)` `u32` (ancestors,
//! resampling scratch).

use super::batch::{Batch, sample};
use super::env::{DiscreteEnv, MAX_ACTIONS, count_legal};
use super::policy::{masked_log_softmax, sample_action};
use super::replay::{insert, insert_scored, load_from_buffer};
use super::score::{loss_and_grad, predict};
use super::train::{self, LossKind, State, check, optimise};
use crate::arena::{Carve, carve_arenas};
use crate::buffer::Priority;
use crate::error::Error;
use crate::math;
use crate::rng::{Rng, uniform_f64};
use crate::smc::twist;

pub use crate::smc::SmcInfo;
/// SMC settings: the twisted-SMC settings shared with the diffusion sampler.
pub use crate::smc::twist::Config as SmcConfig;

/// Settings of the discrete RSMC training loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// The trainer. Defaults to the CLI's RSMC trainer: TB + SubTB, `B = 16`, a separate
    /// flow network of width `64` (`H_f`, RSMC), an importance-weighted buffer of `100·B`
    /// entries tempered to ESS `0.05` (`buffer.target_ess`); the rest as
    /// [`train::Config::default`].
    pub train: train::Config,
    /// The SMC sampler.
    pub smc: SmcConfig,
    /// Off-policy (SMC + buffer) iterations per on-policy iteration `r`. Defaults to `2`
    /// (`bwd_to_fwd_ratio`, RSMC).
    pub replay_ratio: u32,
    /// SMC runs that fill the buffer before training. Defaults to `0` here; the CLI uses
    /// `4` (paper: 100 runs of 2000 particles).
    pub prefill: u32,
}

impl Default for Config {
    fn default() -> Self {
        let batch = train::Config::default().batch;
        Config {
            train: train::Config {
                loss: LossKind::TbSubTb,
                flow_hidden: 64,
                buffer_capacity: 100 * batch,
                buffer_priority: Priority::ImportanceWeight { target_ess: 0.05 },
                ..train::Config::default()
            },
            smc: SmcConfig {
                chunk: 3,
                ..SmcConfig::default()
            },
            replay_ratio: 2,
            prefill: 0,
        }
    }
}

impl Config {
    /// Checks the settings against the environment's depth `T = max_steps`.
    ///
    /// # Errors
    /// As [`train::Config::validate`]; [`Error::InvalidConfig`] if the chunk does not
    /// divide the depth, the replay ratio is above 1000, the trainer has no
    /// importance-weighted buffer, its buffer cannot hold one SMC batch (capacity below the
    /// particle count), or its loss does not train the flows used as twists (TB alone).
    pub fn validate(&self, depth: usize) -> Result<(), Error> {
        self.train.validate()?;
        self.smc.validate(depth)?;
        if self.replay_ratio > 1000 {
            return Err(Error::InvalidConfig("replay ratio must be at most 1000"));
        }
        if self.train.buffer_capacity < self.train.batch {
            return Err(Error::InvalidConfig(
                "RSMC buffer capacity must hold at least one SMC batch (capacity >= particles)",
            ));
        }
        if !matches!(
            self.train.buffer_priority,
            Priority::ImportanceWeight { .. }
        ) {
            return Err(Error::InvalidConfig(
                "RSMC needs the importance-weighted buffer priority",
            ));
        }
        if self.train.loss == LossKind::Tb {
            return Err(Error::InvalidConfig(
                "RSMC twists are the learnt flows: use a loss that trains them (TB + SubTB, SubTB or DB)",
            ));
        }
        Ok(())
    }
}

/// The trainer's arenas followed by the SMC scratch for `N = B` particles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// The trainer (its arenas come first).
    pub train: train::Layout,
    /// Length of the `f32` arena: the trainer's plus `5N`.
    pub f32_len: usize,
    /// Length of the `u32` arena: the trainer's plus `N(1 + state_len)`.
    pub u32_len: usize,
}

impl Layout {
    /// Sizes for `env` and `cfg`.
    ///
    /// # Errors
    /// As [`Config::validate`] and [`train::Layout::new`].
    pub fn new<E: DiscreteEnv + ?Sized>(env: &E, cfg: &Config) -> Result<Self, Error> {
        cfg.validate(env.max_steps())?;
        let train = train::Layout::new(env, &cfg.train)?;
        let n = cfg.train.batch;
        Ok(Layout {
            train,
            f32_len: train.f32_len + 5 * n,
            u32_len: train.u32_len + n + n * env.state_len(),
        })
    }
}

/// The arenas cut into the trainer's region and the SMC scratch.
type Regions<'a> = ([&'a mut [f32]; 2], [&'a mut [u32]; 2]);

fn regions<'a>(
    lay: &Layout,
    f32_arena: &'a mut [f32],
    u32_arena: &'a mut [u32],
) -> Result<Regions<'a>, Error> {
    let what = ["RSMC f32 arena", "RSMC u32 arena"];
    let (mut f, mut u) = carve_arenas(what, [lay.f32_len, lay.u32_len], f32_arena, u32_arena)?;
    let (tf, tu) = (f.take(lay.train.f32_len)?, u.take(lay.train.u32_len)?);
    Ok(([tf, f.rest()], [tu, u.rest()]))
}

/// SMC scratch for `N` particles.
#[derive(Debug)]
struct Particles<'a> {
    /// `[N]`: on return from [`run`], the Z-scaled final log-weights.
    log_w: &'a mut [f32],
    log_f: &'a mut [f32],
    log_f_new: &'a mut [f32],
    acc: &'a mut [f32],
    tmp: &'a mut [f32],
    ancestors: &'a mut [u32],
    perm: &'a mut [u32],
}

/// The trainer's views and the SMC scratch, carved on each call ([`Views::new`]).
#[derive(Debug)]
pub struct Views<'a> {
    /// The trainer (its batch holds the particles).
    pub train: train::Views<'a>,
    smc: Particles<'a>,
}

impl<'a> Views<'a> {
    /// Carves the arenas (lengths from [`Layout::new`]); their contents are kept.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for arenas of the wrong length.
    pub fn new(
        lay: &Layout,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        let ([tf, sf], [tu, su]) = regions(lay, f32_arena, u32_arena)?;
        let n = lay.train.batch;
        let mut f = Carve::new("RSMC f32 arena", sf);
        let mut u = Carve::new("RSMC u32 arena", su);
        Ok(Views {
            train: train::Views::new(&lay.train, tf, tu)?,
            smc: Particles {
                log_w: f.take(n)?,
                log_f: f.take(n)?,
                log_f_new: f.take(n)?,
                acc: f.take(n)?,
                tmp: f.take(n)?,
                ancestors: u.take(n)?,
                perm: u.take(n * lay.train.state_len)?,
            },
        })
    }

    /// The Z-scaled log-weights of the last [`run`] (`N` values).
    pub fn smc_log_weights(&self) -> &[f32] {
        self.smc.log_w
    }

    /// The buffers that carry over from one step to the next: the trainer's
    /// ([`train::Views::carried`]: the model and the importance-weighted buffer); every SMC
    /// pass starts its particles afresh.
    pub fn carried(&mut self, f: &mut dyn FnMut(crate::arena::Carried<'_>)) {
        self.train.carried(f);
    }
}

/// Checks `cfg` and that `v` was carved for `env` and `cfg` (the SMC scratch was carved
/// with the trainer's views, from the same layout).
fn check_all<E: DiscreteEnv + ?Sized>(env: &E, cfg: &Config, v: &Views<'_>) -> Result<(), Error> {
    cfg.validate(env.max_steps())?;
    check(env, &cfg.train, &v.train)
}

/// Zeroes the arenas and initialises the trainer ([`train::init`]).
///
/// # Errors
/// As [`Layout::new`]; [`Error::ShapeMismatch`] for arenas of the wrong length (nothing is
/// written then).
pub fn init<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    f32_arena: &mut [f32],
    u32_arena: &mut [u32],
    rng: &mut R,
) -> Result<State, Error> {
    let lay = Layout::new(env, cfg)?;
    let ([tf, sf], [tu, su]) = regions(&lay, f32_arena, u32_arena)?;
    sf.fill(0.0);
    su.fill(0);
    train::init(env, &cfg.train, tf, tu, rng)
}

/// Runs one SMC pass with the trainer's current model (see the [module docs](self)). On
/// return the trainer's batch holds particle `i`'s terminal object
/// ([`train::Views::terminal`]) and its `log R`, and [`Views::smc_log_weights`] its
/// Z-scaled log-weight. Only the final states of the batch are meaningful afterwards
/// (resampling copies boundary states, not histories): reload the batch before scoring it.
///
/// # Errors
/// As [`Config::validate`] with the environment's depth; [`Error::InvalidConfig`] if `v`
/// was carved for another environment or configuration, or a particle is not done after
/// `max_steps`; [`Error::Degenerate`] if every particle gets zero weight; network errors.
pub fn run<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    rng: &mut R,
) -> Result<SmcInfo, Error> {
    check_all(env, cfg, v)?;
    smc(env, cfg, v, rng)
}

/// [`run`] for checked views.
fn smc<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    rng: &mut R,
) -> Result<SmcInfo, Error> {
    let (n, sl, tt) = (cfg.train.batch, env.state_len(), env.max_steps());
    let (na, nb, ow) = (env.n_actions(), env.n_back_actions(), v.train.lay.out_width);
    let (chunk, learn_pb) = (cfg.smc.chunk, cfg.train.learn_pb);
    let tr = &mut v.train;
    let ws = &mut v.smc;
    for b in 0..n {
        let o = tr.batch.at(b, 0);
        env.reset(&mut tr.batch.states[o..o + sl]);
        tr.batch.lens[b] = 0;
    }
    let mut info = twist::start(ws.log_w);
    ws.log_f.fill(0.0);
    ws.acc.fill(0.0);
    let mut mask = [false; MAX_ACTIONS];
    let mut logp = [0.0f32; MAX_ACTIONS];
    for t in 0..=tt {
        if t < tt {
            predict(env, tr, n, t)?;
            // learnt P_B of transition t − 1, evaluated at the (non-done) child s_t
            if learn_pb && t > 0 {
                for b in 0..n {
                    let st = tr.batch.state(b, t);
                    if tr.batch.lens[b] as usize == t && !env.is_done(st) {
                        env.backward_mask(st, &mut mask[..nb]);
                        let lo = b * ow + na;
                        masked_log_softmax(&tr.net.out[lo..lo + nb], &mask[..nb], &mut logp[..nb])?;
                        let ba = (tr.batch.back[b * tt + t - 1] as usize).min(nb - 1);
                        ws.acc[b] += logp[ba];
                    }
                }
            }
        }
        if t > 0 && t % chunk == 0 {
            // twist at the chunk end and the incremental weights
            for b in 0..n {
                let st = tr.batch.state(b, t);
                ws.log_f_new[b] = if env.is_done(st) {
                    env.log_reward(st)
                } else if t == tt {
                    return Err(Error::InvalidConfig(
                        "SMC particle not done after max_steps transitions",
                    ));
                } else {
                    tr.net.out[b * ow + na + nb]
                };
                let l = ws.log_w[b] as f64 + ws.log_f_new[b] as f64 - ws.log_f[b] as f64
                    + ws.acc[b] as f64;
                ws.log_w[b] = twist::stored_log_weight(l);
            }
            ws.acc.fill(0.0);
            let rule = cfg.smc.rule(t == tt);
            let Particles {
                log_w,
                log_f,
                log_f_new,
                tmp,
                ancestors,
                perm,
                ..
            } = ws;
            let mut weights = twist::Weights {
                log_w,
                log_f,
                log_f_new,
                tmp,
                ancestors,
            };
            // a particle's row: its state at depth t and its length; then new predictions
            let rows = |anc: &[u32], _: &mut [f32]| {
                permute_rows(&mut tr.batch, perm, anc, t, sl);
                predict(env, tr, n, t)
            };
            twist::boundary(&rule, &mut weights, &mut info, rows, rng)?;
        }
        if t == tt {
            break;
        }
        // move every particle one step with P_F
        for b in 0..n {
            let o = tr.batch.at(b, t);
            let (cur, next) = tr.batch.states[o..o + 2 * sl].split_at_mut(sl);
            next.copy_from_slice(cur);
            if env.is_done(cur) {
                continue;
            }
            env.forward_mask(cur, &mut mask[..na]);
            masked_log_softmax(
                &tr.net.out[b * ow..b * ow + na],
                &mask[..na],
                &mut logp[..na],
            )?;
            let a = sample_action(&logp[..na], &mask[..na], 0.0, 1.0, uniform_f64(rng))?;
            ws.acc[b] -= logp[a];
            env.step(next, a);
            tr.batch.actions[b * tt + t] = a as u32;
            tr.batch.back[b * tt + t] = env.back_action_of(cur, a) as u32;
            tr.batch.lens[b] = (t + 1) as u32;
            if !learn_pb {
                env.backward_mask(next, &mut mask[..nb]);
                ws.acc[b] -= math::ln(count_legal(&mask[..nb]).max(1) as f32);
            }
        }
    }
    twist::finish(ws.log_w, &mut info)?;
    // the terminal objects sit in the last slot (stopped particles were padded)
    tr.batch.lens.fill(tt as u32);
    tr.batch.finish(env);
    Ok(info)
}

/// Moves the particles' states (`sl` values each) at depth `t` and their lengths to the order of `ancestors`
/// (the rows of [`twist::boundary`]), through `perm`.
fn permute_rows(batch: &mut Batch<'_>, perm: &mut [u32], ancestors: &[u32], t: usize, sl: usize) {
    let n = ancestors.len();
    for (i, &a) in ancestors.iter().enumerate() {
        perm[i * sl..(i + 1) * sl].copy_from_slice(batch.state(a as usize, t));
    }
    for i in 0..n {
        let o = batch.at(i, t);
        batch.states[o..o + sl].copy_from_slice(&perm[i * sl..(i + 1) * sl]);
    }
    for (i, &a) in ancestors.iter().enumerate() {
        perm[i] = batch.lens[a as usize];
    }
    batch.lens.copy_from_slice(&perm[..n]);
}

/// What one RSMC iteration did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Info {
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
    /// Whether the optimiser skipped the update (a non-finite gradient norm).
    pub skipped: bool,
}

fn visit_batch(tr: &train::Views<'_>, visit: &mut impl FnMut(&[u32])) {
    for b in 0..tr.batch.lens.len() {
        visit(tr.terminal(b));
    }
}

/// Fills the buffer with `cfg.prefill` SMC runs of the current model; returns the reward
/// calls made. `visit` sees every new terminal object (for visit and mode counts).
///
/// # Errors
/// As [`run`].
pub fn prefill<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    state: &mut State,
    mut visit: impl FnMut(&[u32]),
    rng: &mut R,
) -> Result<usize, Error> {
    check_all(env, cfg, v)?;
    for _ in 0..cfg.prefill {
        smc(env, cfg, v, rng)?;
        visit_batch(&v.train, &mut visit);
        insert(env, &mut v.train, v.smc.log_w, &mut state.cursor)?;
    }
    Ok(cfg.prefill as usize * cfg.train.batch)
}

/// One RSMC training iteration (see the [module docs](self)). `visit` sees every new
/// terminal object (the on-policy batch or the SMC particles), not the replayed ones.
///
/// # Errors
/// As [`run`] and the trainer's parts.
pub fn step<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    state: &mut State,
    mut visit: impl FnMut(&[u32]),
    rng: &mut R,
) -> Result<Info, Error> {
    check_all(env, cfg, v)?;
    let tc = &cfg.train;
    let on_policy = state.iteration.is_multiple_of(cfg.replay_ratio + 1);
    let mut smc_info = None;
    if on_policy {
        sample(env, tc, &mut v.train, tc.epsilon, rng)?;
        visit_batch(&v.train, &mut visit);
        insert_scored(env, tc, &mut v.train, &mut state.cursor)?;
    } else {
        smc_info = Some(smc(env, cfg, v, rng)?);
        visit_batch(&v.train, &mut visit);
        insert(env, &mut v.train, v.smc.log_w, &mut state.cursor)?;
        load_from_buffer(env, tc, &mut v.train, state.cursor, rng)?;
    }
    let loss = loss_and_grad(env, tc, &mut v.train, None, None)?;
    let opt = optimise(tc, &mut v.train, state)?;
    state.iteration = state.iteration.saturating_add(1);
    Ok(Info {
        loss,
        log_z: v.train.log_z(),
        on_policy,
        smc: smc_info,
        reward_calls: tc.batch,
        skipped: opt.skipped,
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
    use crate::samplers::gflownet::train::sample_forward;
    use std::vec;
    use std::vec::Vec;

    fn cfg(batch: usize, learn_pb: bool, chunk: usize) -> Config {
        Config {
            train: train::Config {
                loss: LossKind::TbSubTb,
                batch,
                hidden: 16,
                learn_pb,
                buffer_capacity: 4 * batch,
                buffer_priority: Priority::ImportanceWeight { target_ess: 0.05 },
                ..train::Config::default()
            },
            smc: SmcConfig {
                chunk,
                ..SmcConfig::default()
            },
            ..Config::default()
        }
    }

    fn arenas<E: DiscreteEnv>(env: &E, c: &Config) -> (Vec<f32>, Vec<u32>) {
        let lay = Layout::new(env, c).unwrap();
        (vec![0.0f32; lay.f32_len], vec![0u32; lay.u32_len])
    }

    /// Mean and standard error of `Ẑ/Z` over `reps` SMC runs with a randomly perturbed
    /// model (non-uniform policy, non-trivial twists).
    fn z_ratio<E: DiscreteEnv>(env: &E, learn_pb: bool, chunk: usize, reps: u64) -> (f64, f64) {
        let mut c = cfg(32, learn_pb, chunk);
        c.smc.resample_threshold = 0.95;
        let (mut fa, mut ua) = arenas(env, &c);
        let mut r = seeded(5);
        init(env, &c, &mut fa, &mut ua, &mut r).unwrap();
        let lay = Layout::new(env, &c).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        for (i, p) in v.train.params_mut().iter_mut().enumerate() {
            *p += 0.8 * ((i * 7919 % 17) as f32 / 17.0 - 0.5);
        }
        let lz = exact::log_z(env).unwrap();
        let mut resamples = 0;
        let z: Vec<f64> = (0..reps)
            .map(|_| {
                let i = run(env, &c, &mut v, &mut r).unwrap();
                resamples += i.resamples;
                // Z-scaled weights average to Ẑ
                let lme = math::log_mean_exp(v.smc_log_weights()) as f64;
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
        let ok = cfg(8, false, 2);
        for c in [
            cfg(8, false, 3), // 3 ∤ 4
            cfg(8, false, 0),
            Config {
                replay_ratio: 1001,
                ..ok
            },
        ] {
            assert!(matches!(
                Layout::new(&env, &c),
                Err(Error::InvalidConfig(_))
            ));
        }
        for tc in [
            train::Config {
                buffer_capacity: 4,
                ..ok.train
            },
            train::Config {
                loss: LossKind::Tb,
                ..ok.train
            },
            train::Config {
                buffer_priority: Priority::Uniform,
                ..ok.train
            },
        ] {
            let c = Config { train: tc, ..ok };
            assert!(matches!(
                Layout::new(&env, &c),
                Err(Error::InvalidConfig(_))
            ));
        }
        // a valid configuration, but views and arenas of another shape
        let (mut fa, mut ua) = arenas(&env, &ok);
        let mut r = seeded(1);
        let mut st = init(&env, &ok, &mut fa, &mut ua, &mut r).unwrap();
        let lay = Layout::new(&env, &ok).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        let other = Config {
            train: train::Config {
                hidden: 8,
                ..ok.train
            },
            ..ok
        };
        assert!(step(&env, &other, &mut v, &mut st, |_| {}, &mut r).is_err());
        assert!(step(&env, &ok, &mut v, &mut st, |_| {}, &mut r).is_ok());
        let (mut sf, mut su) = (vec![0.0f32; lay.f32_len - 1], vec![0u32; lay.u32_len]);
        assert!(Views::new(&lay, &mut sf, &mut su).is_err());
        assert!(init(&env, &ok, &mut sf, &mut su, &mut r).is_err());
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
        let mut c = cfg(32, false, 1);
        c.train.hidden = 32;
        c.prefill = 2;
        let (mut fa, mut ua) = arenas(&env, &c);
        let mut r = seeded(11);
        let mut st = init(&env, &c, &mut fa, &mut ua, &mut r).unwrap();
        let lay = Layout::new(&env, &c).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        assert_eq!(
            prefill(&env, &c, &mut v, &mut st, |_| {}, &mut r).unwrap(),
            64
        );
        let mut saw_smc = false;
        for _ in 0..400 {
            let i = step(&env, &c, &mut v, &mut st, |_| {}, &mut r).unwrap();
            saw_smc |= i.smc.is_some();
        }
        assert!(saw_smc);
        let mut p = vec![0.0f32; env.n_terminal()];
        let lz = exact::distribution(&env, &mut p).unwrap();
        let mut counts = vec![0u32; env.n_terminal()];
        for _ in 0..100 {
            sample_forward(&env, &c.train, &mut v.train, 0.0, &mut r).unwrap();
            for b in 0..32 {
                counts[env.terminal_index(v.train.terminal(b))] += 1;
            }
        }
        let mut q = vec![0.0f32; env.n_terminal()];
        crate::metrics::histogram::normalize_counts(&counts, &mut q).unwrap();
        let tv = crate::metrics::histogram::total_variation(&p, &q).unwrap();
        assert!(tv < 0.1, "tv {tv}");
        let log_z = v.train.log_z() as f64;
        assert!((log_z - lz).abs() < 0.2, "log Z {log_z} vs {lz}");
    }
}
