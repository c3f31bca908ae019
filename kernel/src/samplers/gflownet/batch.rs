//! The trainer's batch of `B` trajectories, each of at most `T = max_steps` transitions:
//! on-policy sampling with ε-uniform exploration ([`sample_forward`]) and backward walks
//! under the uniform `P_B` from given terminal states ([`load_backward`]; replay uses the
//! same walk from buffer slots).
//!
//! Storage (caller-owned, carved by [`Views::new`](super::train::Views::new)): states
//! `[B, T + 1, state_len]` (slot `t` of trajectory `b` is `s_t`; a trajectory of `n`
//! transitions ends at slot `n`, its terminal state), forward and backward actions
//! `[B, T]`, lengths `[B]` and `log R` of the terminal states `[B]`.

use super::env::{DiscreteEnv, MAX_ACTIONS, MAX_STATE_LEN, count_legal};
use super::policy::{masked_log_softmax, sample_action};
use super::score::predict;
use super::train::{Config, Layout, Views, check};
use crate::arena::Carve;
use crate::error::{Error, check_len};
use crate::rng::{Rng, uniform_f64};

/// The trajectory batch (see the [module docs](self)).
#[derive(Debug)]
pub(super) struct Batch<'a> {
    /// `[B, T + 1, state_len]` states.
    pub(super) states: &'a mut [u32],
    /// `[B, T]` forward actions.
    pub(super) actions: &'a mut [u32],
    /// `[B, T]` backward actions (the ones undoing `actions`).
    pub(super) back: &'a mut [u32],
    /// `[B]` transitions per trajectory.
    pub(super) lens: &'a mut [u32],
    /// `[B]` `log R` of the terminal states (or the reward override of the last loss).
    pub(super) log_r: &'a mut [f32],
    state_len: usize,
    depth: usize,
}

impl<'a> Batch<'a> {
    /// `u32` lengths in carving order: states, actions, backward actions, lengths (the
    /// one `f32` buffer, `log R`, is `B` long).
    fn lens(lay: &Layout) -> [usize; 4] {
        let (b, t) = (lay.batch, lay.depth);
        [b * (t + 1) * lay.state_len, b * t, b * t, b]
    }
    /// `f32` values of the batch.
    pub(super) fn f32_len(lay: &Layout) -> usize {
        lay.batch
    }
    /// `u32` values of the batch.
    pub(super) fn u32_len(lay: &Layout) -> usize {
        Self::lens(lay).iter().sum()
    }
    /// The next buffers of the arenas, as a batch.
    pub(super) fn carve(
        lay: &Layout,
        f: &mut Carve<'a, f32>,
        u: &mut Carve<'a, u32>,
    ) -> Result<Self, Error> {
        let [states, actions, back, lens] = Self::lens(lay);
        Ok(Batch {
            states: u.take(states)?,
            actions: u.take(actions)?,
            back: u.take(back)?,
            lens: u.take(lens)?,
            log_r: f.take(Self::f32_len(lay))?,
            state_len: lay.state_len,
            depth: lay.depth,
        })
    }

    /// Offset of state `s_t` of trajectory `b` in `states`.
    pub(super) fn at(&self, b: usize, t: usize) -> usize {
        (b * (self.depth + 1) + t) * self.state_len
    }
    /// State `s_t` of trajectory `b`.
    pub(super) fn state(&self, b: usize, t: usize) -> &[u32] {
        let o = self.at(b, t);
        &self.states[o..o + self.state_len]
    }
    /// Terminal (done) state of trajectory `b` (empty if `b ≥ B`).
    pub(super) fn terminal(&self, b: usize) -> &[u32] {
        let n = self.lens.get(b).map_or(0, |&n| n as usize);
        let o = self.at(b, n);
        self.states.get(o..o + self.state_len).unwrap_or(&[])
    }

    /// Sets `log R` of every trajectory from its terminal state.
    pub(super) fn finish<E: DiscreteEnv + ?Sized>(&mut self, env: &E) {
        for b in 0..self.lens.len() {
            let lr = env.log_reward(self.terminal(b));
            self.log_r[b] = lr;
        }
    }
}

/// Samples a batch of `B` trajectories from the current forward policy mixed with
/// ε-uniform exploration (`eps`), filling the batch.
///
/// # Errors
/// [`Error::InvalidConfig`] if `v` was carved for another environment or configuration;
/// network and policy errors (non-finite logits).
pub fn sample_forward<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    eps: f32,
    rng: &mut R,
) -> Result<(), Error> {
    check(env, cfg, v)?;
    sample(env, cfg, v, eps, rng)
}

/// [`sample_forward`] for views already checked.
pub(super) fn sample<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    eps: f32,
    rng: &mut R,
) -> Result<(), Error> {
    let (bn, s, tt) = (cfg.batch, env.state_len(), env.max_steps());
    let na = env.n_actions();
    let ow = v.lay.out_width;
    for b in 0..bn {
        let o = v.batch.at(b, 0);
        env.reset(&mut v.batch.states[o..o + s]);
        v.batch.lens[b] = 0;
    }
    let mut mask = [false; MAX_ACTIONS];
    let mut logp = [0.0f32; MAX_ACTIONS];
    for t in 0..tt {
        predict(env, v, bn, t)?;
        let batch = &mut v.batch;
        let mut active = 0;
        for b in 0..bn {
            let o = batch.at(b, t);
            let (cur, next) = batch.states[o..o + 2 * s].split_at_mut(s);
            next.copy_from_slice(cur);
            if env.is_done(cur) {
                continue;
            }
            active += 1;
            env.forward_mask(cur, &mut mask[..na]);
            masked_log_softmax(
                &v.net.out[b * ow..b * ow + na],
                &mask[..na],
                &mut logp[..na],
            )?;
            let a = sample_action(
                &logp[..na],
                &mask[..na],
                eps,
                uniform_f64(rng),
                uniform_f64(rng),
            )?;
            env.step(next, a);
            batch.actions[b * tt + t] = a as u32;
            batch.back[b * tt + t] = env.back_action_of(cur, a) as u32;
            batch.lens[b] = (t + 1) as u32;
        }
        if active == 0 {
            break;
        }
    }
    v.batch.finish(env);
    Ok(())
}

/// Fills the batch with backward trajectories from the given done terminal states
/// (`B × state_len` words), drawn with the uniform `P_B`.
///
/// # Errors
/// [`Error::InvalidConfig`] if `v` was carved for another environment or configuration, a
/// state is not done or a backward walk exceeds `max_steps`; [`Error::ShapeMismatch`] if
/// `terminals` is not `B · state_len` long.
pub fn load_backward<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    terminals: &[u32],
    rng: &mut R,
) -> Result<(), Error> {
    check(env, cfg, v)?;
    check_len(
        "terminal states",
        cfg.batch * env.state_len(),
        terminals.len(),
    )?;
    walk_back(env, &mut v.batch, Terminals::Slice(terminals), rng)
}

/// Where [`walk_back`] reads the terminal states.
#[derive(Clone, Copy)]
pub(super) enum Terminals<'t> {
    /// `B × state_len` words from the caller.
    Slice(&'t [u32]),
    /// Buffer slots: `slots[b]` indexes `store` (`[capacity, state_len]` `f32` words).
    Slots {
        /// The buffer's stored states.
        store: &'t [f32],
        /// The drawn slots, `B` of them.
        slots: &'t [u32],
    },
}

/// Backward walks from the terminal states of `src` into `batch` (see [`load_backward`]),
/// reading buffer slots in place so that no batch-sized copy lives on the stack.
pub(super) fn walk_back<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    batch: &mut Batch<'_>,
    src: Terminals<'_>,
    rng: &mut R,
) -> Result<(), Error> {
    let (s, tt) = (env.state_len(), env.max_steps());
    let nb = env.n_back_actions();
    let mut mask = [false; MAX_ACTIONS];
    let mut tmp = [0u32; MAX_STATE_LEN];
    let mut rev = [0u32; MAX_STATE_LEN];
    for b in 0..batch.lens.len() {
        let cur = &mut tmp[..s];
        match src {
            Terminals::Slice(t) => cur.copy_from_slice(&t[b * s..(b + 1) * s]),
            Terminals::Slots { store, slots } => {
                let slot = slots[b] as usize;
                let words = store
                    .get(slot * s..(slot + 1) * s)
                    .ok_or(Error::InvalidConfig("replay slot out of range"))?;
                for (d, &w) in cur.iter_mut().zip(words) {
                    *d = w as u32;
                }
            }
        }
        if !env.is_done(cur) {
            return Err(Error::InvalidConfig("replayed state is not terminal"));
        }
        // walk backwards storing reversed (slot k holds the state after k backward steps),
        // then reverse states 0..=k and transitions 0..k in place
        let mut k = 0usize;
        let base = batch.at(b, 0);
        batch.states[base..base + s].copy_from_slice(cur);
        loop {
            env.backward_mask(cur, &mut mask[..nb]);
            let legal = count_legal(&mask[..nb]);
            if legal == 0 {
                break;
            }
            if k >= tt {
                return Err(Error::InvalidConfig("backward walk longer than max_steps"));
            }
            let pick = ((uniform_f64(rng) * legal as f64) as usize).min(legal - 1);
            let bact = (0..nb).filter(|&i| mask[i]).nth(pick).unwrap_or(0);
            let a = env.forward_action_of(cur, bact);
            env.step_back(cur, bact);
            k += 1;
            batch.actions[b * tt + k - 1] = a as u32;
            batch.back[b * tt + k - 1] = bact as u32;
            let o = base + k * s;
            batch.states[o..o + s].copy_from_slice(cur);
        }
        for i in 0..k.div_ceil(2) {
            let j = k - i;
            let (oi, oj) = (base + i * s, base + j * s);
            rev[..s].copy_from_slice(&batch.states[oi..oi + s]);
            batch.states.copy_within(oj..oj + s, oi);
            batch.states[oj..oj + s].copy_from_slice(&rev[..s]);
        }
        batch.actions[b * tt..b * tt + k].reverse();
        batch.back[b * tt..b * tt + k].reverse();
        batch.lens[b] = k as u32;
    }
    batch.finish(env);
    Ok(())
}

/// Copies the batch of `src` (states, actions, lengths and `log R`) into `dst`, so that two
/// models train on the same trajectories (the adaptive teacher trains on the student's
/// batch, Kim et al. 2025, teachers A1.1).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the two batches differ in size or environment shape.
pub(crate) fn copy_batch(dst: &mut Views<'_>, src: &Views<'_>) -> Result<(), Error> {
    let (d, s) = (&mut dst.batch, &src.batch);
    check_len("batch", d.lens.len(), s.lens.len())?;
    check_len("state words", d.states.len(), s.states.len())?;
    check_len("actions", d.actions.len(), s.actions.len())?;
    d.states.copy_from_slice(s.states);
    d.actions.copy_from_slice(s.actions);
    d.back.copy_from_slice(s.back);
    d.lens.copy_from_slice(s.lens);
    d.log_r.copy_from_slice(s.log_r);
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::train::{init, log_weights};
    use super::*;
    use crate::rng::seeded;
    use crate::samplers::gflownet::sequence::{SequenceConfig, SequenceEnv};
    use std::vec;

    #[test]
    fn backward_trajectories_are_valid_and_score_finitely() {
        let env = SequenceEnv::new(SequenceConfig {
            len: 4,
            alphabet: 3,
            modes: 2,
            ..Default::default()
        })
        .unwrap();
        let cfg = Config {
            batch: 4,
            hidden: 8,
            ..Config::default()
        };
        let lay = Layout::new(&env, &cfg).unwrap();
        let (mut fa, mut ua) = (vec![0.0; lay.f32_len], vec![0; lay.u32_len]);
        let mut rng = seeded(3);
        init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        let s = env.state_len();
        let mut xs = vec![0u32; 4 * s];
        for b in 0..4 {
            env.terminal_from_index(7 * b + 1, &mut xs[b * s..(b + 1) * s]);
        }
        load_backward(&env, &cfg, &mut v, &xs, &mut rng).unwrap();
        for b in 0..4 {
            assert_eq!(v.terminal(b), &xs[b * s..(b + 1) * s]);
            assert_eq!(v.batch.lens[b], 5);
        }
        let mut lw = [0.0f32; 4];
        log_weights(&env, &cfg, &mut v, &mut lw).unwrap();
        assert!(lw.iter().all(|w| w.is_finite()));
        assert!(log_weights(&env, &cfg, &mut v, &mut lw[..3]).is_err());
        assert!(v.terminal(4).is_empty());
        // a non-terminal replay state is rejected, and so is a short slice
        xs[s - 1] = 0;
        assert!(load_backward(&env, &cfg, &mut v, &xs, &mut rng).is_err());
        assert!(load_backward(&env, &cfg, &mut v, &xs[1..], &mut rng).is_err());
    }
}
