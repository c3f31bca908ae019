//! The trainer's replay buffer (teachers A1.2 "with buffer"; RSMC's importance-weighted
//! buffer, `rsmc.md` §1.4): terminal states stored as `f32` words with `log w` and
//! `log R` in a [`ReplayBuffer`] over the views' storage, re-opened on each call with the
//! [`Cursor`] kept in the trainer's [`State`](super::train::State); draws re-expanded into
//! trajectories by the uniform `P_B` ([`walk_back`]).

use super::batch::{Batch, Terminals, walk_back};
use super::env::{DiscreteEnv, MAX_STATE_LEN};
use super::score::score_log_weights;
use super::train::{Config, Layout, MAX_BATCH, Views};
use crate::arena::Carve;
use crate::buffer::{Cursor, Priority, ReplayBuffer};
use crate::error::{Error, check_len};
use crate::rng::{Rng, uniform_f64};

/// The buffer's storage, its sampling scratch and the slots of the last draw.
#[derive(Debug)]
pub(super) struct Replay<'a> {
    /// `[capacity, state_len]` stored terminal states.
    states: &'a mut [f32],
    /// `[capacity]` stored `log w`.
    log_w: &'a mut [f32],
    /// `[capacity]` stored `log R`.
    log_r: &'a mut [f32],
    /// `[capacity]` rank-order scratch.
    order: &'a mut [u32],
    /// `[B]` slots of the last draw.
    pub(super) draws: &'a mut [u32],
}

impl<'a> Replay<'a> {
    /// Lengths in carving order: `f32` states, `log w`, `log R`; `u32` order, draws.
    fn lens(lay: &Layout) -> ([usize; 3], [usize; 2]) {
        let cap = lay.capacity;
        ([cap * lay.state_len, cap, cap], [cap, lay.batch])
    }
    /// `f32` values of the buffer.
    pub(super) fn f32_len(lay: &Layout) -> usize {
        Self::lens(lay).0.iter().sum()
    }
    /// `u32` values of the buffer.
    pub(super) fn u32_len(lay: &Layout) -> usize {
        Self::lens(lay).1.iter().sum()
    }
    /// The next buffers of the arenas, as replay storage.
    pub(super) fn carve(
        lay: &Layout,
        f: &mut Carve<'a, f32>,
        u: &mut Carve<'a, u32>,
    ) -> Result<Self, Error> {
        let ([states, log_w, log_r], [order, draws]) = Self::lens(lay);
        Ok(Replay {
            states: f.take(states)?,
            log_w: f.take(log_w)?,
            log_r: f.take(log_r)?,
            order: u.take(order)?,
            draws: u.take(draws)?,
        })
    }

    /// The stored states, `log w` and `log R` (the rank order and the draws are rewritten
    /// by every draw).
    pub(super) fn carried(&mut self, f: &mut dyn FnMut(crate::arena::Carried<'_>)) {
        f(crate::arena::Carried::F32(self.states));
        f(crate::arena::Carried::F32(self.log_w));
        f(crate::arena::Carried::F32(self.log_r));
    }

    /// The buffer at `cursor` (`None` without a buffer).
    fn open(&mut self, dim: usize, cursor: Cursor) -> Result<Option<ReplayBuffer<'_>>, Error> {
        if self.log_w.is_empty() {
            return Ok(None);
        }
        let (states, log_w, log_r) = (&mut *self.states, &mut *self.log_w, &mut *self.log_r);
        ReplayBuffer::from_parts(dim, states, log_w, log_r, cursor).map(Some)
    }
}

/// Inserts the terminal states of the batch with their `log R` and the given log
/// importance weights (`B` values), advancing `cursor`. Nothing happens without a buffer.
fn put<E: DiscreteEnv + ?Sized>(
    env: &E,
    batch: &Batch<'_>,
    replay: &mut Replay<'_>,
    log_w: &[f32],
    cursor: &mut Cursor,
) -> Result<(), Error> {
    check_len("log weights", batch.lens.len(), log_w.len())?;
    let s = env.state_len();
    let mut x = [0.0f32; MAX_STATE_LEN];
    let Some(mut buf) = replay.open(s, *cursor)? else {
        return Ok(());
    };
    for (b, &lw) in log_w.iter().enumerate() {
        for (xi, &w) in x[..s].iter_mut().zip(batch.terminal(b)) {
            *xi = w as f32;
        }
        buf.insert(&x[..s], &[lw], &batch.log_r[b..b + 1])?;
        *cursor = buf.cursor();
    }
    Ok(())
}

/// Inserts the terminal states of the batch into the buffer with the given log importance
/// weights (`B` values; RSMC's Z-scaled SMC weights). The views must match `(env, cfg)`.
///
/// # Errors
/// Shape errors; none when the buffer is disabled.
pub(crate) fn insert<E: DiscreteEnv + ?Sized>(
    env: &E,
    v: &mut Views<'_>,
    log_w: &[f32],
    cursor: &mut Cursor,
) -> Result<(), Error> {
    put(env, &v.batch, &mut v.replay, log_w, cursor)
}

/// Scores the batch and inserts its terminal states with their own log importance weights
/// `log R + Σ log P_B − Σ log P_F` (a fresh on-policy batch). The views must match
/// `(env, cfg)`.
///
/// # Errors
/// Network, buffer and shape errors; none from the buffer when it is disabled.
pub(crate) fn insert_scored<E: DiscreteEnv + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    cursor: &mut Cursor,
) -> Result<(), Error> {
    score_log_weights(env, cfg, v)?;
    let log_w = &v.scores.log_w[..cfg.batch];
    put(env, &v.batch, &mut v.replay, log_w, cursor)
}

/// Draws `B` terminal states from the buffer at `cursor` by [`Config::buffer_priority`]
/// and loads their backward trajectories. Returns `false` (and loads nothing) if the buffer
/// is disabled or empty. The views must match `(env, cfg)`.
///
/// # Errors
/// Buffer and shape errors.
pub(crate) fn load_from_buffer<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    cursor: Cursor,
    rng: &mut R,
) -> Result<bool, Error> {
    if cursor.len == 0 {
        return Ok(false);
    }
    let bn = cfg.batch;
    let prio = cfg.buffer_priority;
    let Replay {
        states,
        log_w,
        log_r,
        order,
        draws,
    } = &mut v.replay;
    if log_w.is_empty() {
        return Ok(false);
    }
    let buf = ReplayBuffer::from_parts(env.state_len(), states, log_w, log_r, cursor)?;
    let weights = &mut *v.scores.log_w;
    if prio == Priority::Uniform {
        sample_stratified(&buf, bn, weights, order, draws, rng)?;
    } else {
        // The systematic rules read one uniform. `B` are drawn all the same (the other
        // `B − 1` dropped), so the stream is that of the stratified rule and of earlier
        // versions, without a `B`-sized array on the stack.
        let u0 = uniform_f64(rng);
        for _ in 1..bn {
            uniform_f64(rng);
        }
        buf.sample(prio, &[u0], weights, order, draws)?;
    }
    let src = Terminals::Slots {
        store: &*v.replay.states,
        slots: &*v.replay.draws,
    };
    walk_back(env, &mut v.batch, src, rng)?;
    Ok(true)
}

/// The buffer's uniform (stratified) rule, which reads `B` uniforms: kept out of line so
/// that its `MAX_BATCH`-long array (8 KiB) is on the stack only when
/// [`Priority::Uniform`] is chosen.
#[inline(never)]
fn sample_stratified<R: Rng + ?Sized>(
    buf: &ReplayBuffer<'_>,
    bn: usize,
    weights: &mut [f32],
    order: &mut [u32],
    out: &mut [u32],
    rng: &mut R,
) -> Result<(), Error> {
    let mut u = [0.0f64; MAX_BATCH];
    let u = u
        .get_mut(..bn)
        .ok_or(Error::InvalidConfig("batch must be in 1..=1024"))?;
    for x in u.iter_mut() {
        *x = uniform_f64(rng);
    }
    buf.sample(Priority::Uniform, u, weights, order, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::train::{init, load_backward, sample_forward};
    use super::*;
    use crate::rng::seeded;
    use crate::samplers::gflownet::grid::{GridReward, Hypergrid};
    use std::vec;

    /// Replay draws `B` uniforms under every rule; the systematic ones read only the first.
    /// The drawn slots and the walks that follow equal those of sampling with all `B`
    /// uniforms and then loading the same terminal states (the stream is unchanged).
    #[test]
    fn replay_draws_and_stream_match_sampling_with_all_uniforms() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        for prio in [
            Priority::RewardRank { rank_weight: 0.01 },
            Priority::ImportanceWeight { target_ess: 0.5 },
            Priority::Uniform,
        ] {
            let cfg = Config {
                batch: 5,
                hidden: 8,
                buffer_capacity: 12,
                buffer_priority: prio,
                ..Config::default()
            };
            let lay = Layout::new(&env, &cfg).unwrap();
            let (mut fa, mut ua) = (vec![0.0; lay.f32_len], vec![0; lay.u32_len]);
            let mut rng = seeded(5);
            let mut st = init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
            let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
            for _ in 0..3 {
                sample_forward(&env, &cfg, &mut v, 0.5, &mut rng).unwrap();
                insert_scored(&env, &cfg, &mut v, &mut st.cursor).unwrap();
            }
            assert_eq!(st.cursor.len, 12);
            assert_eq!(st.cursor.inserted, 15);
            let mut r2 = rng.clone();
            let u: std::vec::Vec<f64> = (0..5).map(|_| uniform_f64(&mut r2)).collect();
            let mut want = [0u32; 5];
            let s = env.state_len();
            let mut xs = vec![0u32; 5 * s];
            {
                let buf = v.replay.open(s, st.cursor).unwrap().unwrap();
                let (mut w, mut o) = (vec![0.0f32; 12], vec![0u32; 12]);
                buf.sample(prio, &u, &mut w, &mut o, &mut want).unwrap();
                for (b, &slot) in want.iter().enumerate() {
                    for (d, &x) in xs[b * s..(b + 1) * s]
                        .iter_mut()
                        .zip(buf.state(slot as usize).unwrap())
                    {
                        *d = x as u32;
                    }
                }
            }
            assert!(load_from_buffer(&env, &cfg, &mut v, st.cursor, &mut rng).unwrap());
            assert_eq!(&v.replay.draws[..], &want[..], "{prio:?}");
            let (states, lens) = (v.batch.states.to_vec(), v.batch.lens.to_vec());
            load_backward(&env, &cfg, &mut v, &xs, &mut r2).unwrap();
            assert_eq!(&v.batch.states[..], &states[..], "{prio:?}");
            assert_eq!(&v.batch.lens[..], &lens[..], "{prio:?}");
        }
    }

    #[test]
    fn without_a_buffer_nothing_is_stored_or_drawn() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let cfg = Config {
            batch: 3,
            hidden: 8,
            ..Config::default()
        };
        let lay = Layout::new(&env, &cfg).unwrap();
        let (mut fa, mut ua) = (vec![0.0; lay.f32_len], vec![0; lay.u32_len]);
        let mut rng = seeded(1);
        let mut st = init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        sample_forward(&env, &cfg, &mut v, 0.0, &mut rng).unwrap();
        insert_scored(&env, &cfg, &mut v, &mut st.cursor).unwrap();
        assert_eq!(st.cursor, Cursor::default());
        let full = Cursor {
            len: 1,
            ..Cursor::default()
        };
        assert!(!load_from_buffer(&env, &cfg, &mut v, full, &mut rng).unwrap());
    }
}
