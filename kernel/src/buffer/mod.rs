//! Fixed-capacity replay buffers of terminal states.
//!
//! The importance-weighted buffer of Reinforced SMC (Choi et al. 2025, arXiv 2510.11711,
//! "IW-Buf"; `rsmc.md` §1.4) stores terminal states `x` with a log-weight `log w` that is an
//! unbiased estimate of `Z` on one common scale, whatever produced the sample:
//! - SMC particles: `log w = log W̄ⁱ + log Ẑ + log N` (the Z-scaled SMC weight);
//! - on-policy samples: `log w = log R(x_T) + Σ log p_B − log p₀(x₀) − Σ log p_F`.
//!
//! The authors' RSMC trainer stores on-policy samples *without* the `− log p₀(x₀)` term,
//! which understates them by the factor `p₀(x₀)` relative to SMC samples (`rsmc.md` §1.4,
//! code issue 1). This buffer is agnostic, but the samplers of this crate always store the
//! full weight including `− log p₀(x₀)`: that is the fix, documented where weights are made.
//!
//! Storage is a ring over caller-owned slices ([`ReplayBuffer`]) or owned fixed-size arrays
//! ([`ReplayStorage`]): insertion overwrites the oldest entry once full, and a batch larger
//! than the capacity keeps its newest `capacity` entries, so the newest entry is never lost
//! and nothing panics (STYLE habit 3; heapless).
//!
//! Sampling ([`ReplayBuffer::sample`]) supports the RSMC rule (global adaptive tempering of
//! all stored log-weights to a target ESS, then systematic resampling), the reward-ranked
//! rule of gfn-diffusion (weight `∝ 1/(k·n + rank)` by decreasing reward; Sendera et al.
//! 2024) and uniform sampling.

use crate::error::{Error, check_len, check_min_len};
use crate::smc::resample::{self, Scheme};
use crate::smc::temper;

/// How entries are drawn from the buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Priority {
    /// RSMC "piw": temper all stored log-weights to ESS fraction `target_ess`, then
    /// systematic resampling. Default `target_ess = 0.05` (`buffer.target_ess`).
    ImportanceWeight {
        /// Target ESS fraction of the tempered weights.
        target_ess: f64,
    },
    /// Rank-based reward prioritisation: weight `1/(rank_weight·n + rank)`, rank 0 = highest
    /// `log R`. gfn-diffusion uses `rank_weight = 0.01`.
    RewardRank {
        /// The `k` in `1/(k·n + rank)`.
        rank_weight: f64,
    },
    /// Every stored entry equally likely.
    Uniform,
}

impl Default for Priority {
    fn default() -> Self {
        Priority::ImportanceWeight { target_ess: 0.05 }
    }
}

/// Diagnostics of one draw from the buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleInfo {
    /// The tempering exponent applied (1 when not tempered or not applicable).
    pub lambda: f64,
    /// ESS fraction of the sampling weights over the stored entries.
    pub ess_fraction: f64,
    /// Entries the draw was made from.
    pub len: usize,
}

/// Where a ring buffer stands: entries held, the next slot to write, and entries ever
/// inserted. The one `Copy` value an owner keeps between calls to re-open its storage with
/// [`ReplayBuffer::from_parts`] (every trainer's `State` carries one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Cursor {
    /// Entries currently stored (`≤ capacity`).
    pub len: usize,
    /// Slot the next insertion writes (`< capacity`).
    pub head: usize,
    /// Entries inserted since the buffer was created.
    pub inserted: u64,
}

/// A ring buffer of `(x, log w, log R)` over caller-owned slices.
///
/// Invariants (established by [`ReplayBuffer::new`]): `states.len() == capacity·dim`,
/// `log_w.len() == log_r.len() == capacity`, `capacity ≥ 1`, `dim ≥ 1`.
#[derive(Debug)]
pub struct ReplayBuffer<'a> {
    dim: usize,
    capacity: usize,
    states: &'a mut [f32],
    log_w: &'a mut [f32],
    log_r: &'a mut [f32],
    len: usize,
    head: usize,
    inserted: u64,
}

impl<'a> ReplayBuffer<'a> {
    /// An empty buffer over the given storage.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `dim == 0` or zero capacity; [`Error::ShapeMismatch`]
    /// if the slices disagree with `capacity = log_w.len()`.
    pub fn new(
        dim: usize,
        states: &'a mut [f32],
        log_w: &'a mut [f32],
        log_r: &'a mut [f32],
    ) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::InvalidConfig("replay buffer dim must be >= 1"));
        }
        let capacity = log_w.len();
        if capacity == 0 {
            return Err(Error::InvalidConfig("replay buffer capacity must be >= 1"));
        }
        check_len("replay states", capacity.saturating_mul(dim), states.len())?;
        check_len("replay log_r", capacity, log_r.len())?;
        Ok(ReplayBuffer {
            dim,
            capacity,
            states,
            log_w,
            log_r,
            len: 0,
            head: 0,
            inserted: 0,
        })
    }

    /// Re-opens a buffer over storage that already holds entries, with the [`Cursor`]
    /// returned by [`ReplayBuffer::cursor`] (for owners that keep the storage between calls).
    ///
    /// # Errors
    /// As [`ReplayBuffer::new`], and [`Error::InvalidConfig`] if `cursor.len > capacity` or
    /// `cursor.head >= capacity`.
    pub fn from_parts(
        dim: usize,
        states: &'a mut [f32],
        log_w: &'a mut [f32],
        log_r: &'a mut [f32],
        cursor: Cursor,
    ) -> Result<Self, Error> {
        let mut b = Self::new(dim, states, log_w, log_r)?;
        if cursor.len > b.capacity || cursor.head >= b.capacity {
            return Err(Error::InvalidConfig("replay buffer cursor out of range"));
        }
        b.len = cursor.len;
        b.head = cursor.head;
        b.inserted = cursor.inserted;
        Ok(b)
    }

    /// The cursor to pass to [`ReplayBuffer::from_parts`].
    pub fn cursor(&self) -> Cursor {
        Cursor {
            len: self.len,
            head: self.head,
            inserted: self.inserted,
        }
    }

    /// State dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Entries currently stored.
    pub fn len(&self) -> usize {
        self.len
    }
    /// `true` when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Total entries ever inserted (including overwritten ones).
    pub fn inserted(&self) -> u64 {
        self.inserted
    }
    /// Slot index of the most recently inserted entry, if any.
    pub fn newest_slot(&self) -> Option<usize> {
        (self.len > 0).then(|| (self.head + self.capacity - 1) % self.capacity)
    }
    /// The state stored in `slot` (`slot < len`).
    pub fn state(&self, slot: usize) -> Option<&[f32]> {
        (slot < self.len).then(|| &self.states[slot * self.dim..(slot + 1) * self.dim])
    }
    /// Stored log-weights of the occupied slots `0..len` (slot order, not age order).
    pub fn log_weights(&self) -> &[f32] {
        &self.log_w[..self.len]
    }
    /// Stored log-rewards of the occupied slots.
    pub fn log_rewards(&self) -> &[f32] {
        &self.log_r[..self.len]
    }
    /// Occupied states, row-major `[len, dim]`, slot order.
    pub fn states(&self) -> &[f32] {
        &self.states[..self.len * self.dim]
    }

    /// Forgets every entry (storage is kept).
    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }

    /// Inserts a batch: `xs` is row-major `[n, dim]`, `log_w` and `log_r` have `n` entries.
    /// The oldest entries are overwritten once the buffer is full; if `n > capacity` only
    /// the newest `capacity` rows are kept. NaN log-weights are stored as `-inf` (never drawn
    /// under importance weighting).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the lengths disagree; [`Error::NonFinite`] if a state
    /// coordinate is not finite (nothing is inserted then).
    pub fn insert(&mut self, xs: &[f32], log_w: &[f32], log_r: &[f32]) -> Result<(), Error> {
        let n = log_w.len();
        check_len("inserted states", n.saturating_mul(self.dim), xs.len())?;
        check_len("inserted log_r", n, log_r.len())?;
        if xs.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("replay buffer state"));
        }
        let skip = n.saturating_sub(self.capacity);
        for i in skip..n {
            let slot = self.head;
            self.states[slot * self.dim..(slot + 1) * self.dim]
                .copy_from_slice(&xs[i * self.dim..(i + 1) * self.dim]);
            self.log_w[slot] = if log_w[i].is_nan() {
                f32::NEG_INFINITY
            } else {
                log_w[i]
            };
            self.log_r[slot] = if log_r[i].is_nan() {
                f32::NEG_INFINITY
            } else {
                log_r[i]
            };
            self.head = (self.head + 1) % self.capacity;
            self.len = (self.len + 1).min(self.capacity);
        }
        self.inserted += n as u64;
        Ok(())
    }

    /// Scratch length [`ReplayBuffer::sample`] needs for a buffer of `capacity` entries:
    /// `weights` (`f32`) and `order` (`u32`, used by [`Priority::RewardRank`] only) must
    /// each hold this many elements.
    pub const fn scratch_len(capacity: usize) -> usize {
        capacity
    }

    /// Draws `out.len()` slot indices by `priority`, using the pre-drawn uniforms `u`
    /// (one for the systematic importance-weight and rank rules, `out.len()` for uniform).
    /// `weights` and `order` are scratch of at least `len()` entries.
    ///
    /// # Errors
    /// [`Error::Degenerate`] if the buffer is empty or every stored log-weight is `-inf`;
    /// [`Error::ShapeMismatch`] for short scratch or uniforms; [`Error::InvalidConfig`] for
    /// a bad priority parameter.
    pub fn sample(
        &self,
        priority: Priority,
        u: &[f64],
        weights: &mut [f32],
        order: &mut [u32],
        out: &mut [u32],
    ) -> Result<SampleInfo, Error> {
        let n = self.len;
        if n == 0 {
            return Err(Error::Degenerate("replay buffer is empty"));
        }
        check_min_len("buffer weight scratch", n, weights.len())?;
        let w = &mut weights[..n];
        let mut lambda = 1.0;
        match priority {
            Priority::ImportanceWeight { target_ess } => {
                let cfg = temper::Config {
                    target_ess,
                    ..temper::Config::default()
                };
                let info = temper::tempering_exponent(&cfg, &self.log_w[..n])?;
                lambda = info.lambda;
                let m = self.log_w[..n]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max) as f64;
                for (wi, &l) in w.iter_mut().zip(&self.log_w[..n]) {
                    *wi = if l > f32::NEG_INFINITY {
                        crate::math::exp(lambda * (l as f64 - m)) as f32
                    } else {
                        0.0
                    };
                }
                resample::resample(Scheme::Systematic, w, u, out)?;
            }
            Priority::RewardRank { rank_weight } => {
                if !(rank_weight > 0.0) || !rank_weight.is_finite() {
                    return Err(Error::InvalidConfig(
                        "rank_weight must be a positive finite number",
                    ));
                }
                check_min_len("buffer order scratch", n, order.len())?;
                let ord = &mut order[..n];
                for (i, o) in ord.iter_mut().enumerate() {
                    *o = i as u32;
                }
                let lr = &self.log_r[..n];
                // descending reward; NaN never stored (mapped to -inf on insert)
                ord.sort_unstable_by(|&a, &b| lr[b as usize].total_cmp(&lr[a as usize]));
                // 1/(k + rank) rescaled by k, i.e. 1/(1 + rank/k): the same distribution, but
                // in (0, 1] for every positive finite k (the unscaled 1/(k + rank) overflowed
                // f32 for k below ~3e-39 and made sampling fail with NonFinite; found by the
                // property tests).
                let k = rank_weight * n as f64;
                for (rank, &slot) in ord.iter().enumerate() {
                    w[slot as usize] = (1.0 / (1.0 + rank as f64 / k)) as f32;
                }
                resample::resample(Scheme::Systematic, w, u, out)?;
            }
            Priority::Uniform => {
                w.iter_mut().for_each(|x| *x = 1.0);
                resample::resample(Scheme::Stratified, w, u, out)?;
            }
        }
        let ess_fraction = weights_ess_fraction(&weights[..n]);
        Ok(SampleInfo {
            lambda,
            ess_fraction,
            len: n,
        })
    }
}

fn weights_ess_fraction(w: &[f32]) -> f64 {
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in w {
        s1 += x as f64;
        s2 += (x as f64) * (x as f64);
    }
    if s2 > 0.0 {
        s1 * s1 / (s2 * w.len() as f64)
    } else {
        0.0
    }
}

/// Owned fixed-size storage for a [`ReplayBuffer`] of `CAP` states of dimension `D`
/// (for `static` placement on a microcontroller, or boxing on the host).
#[derive(Clone, Debug)]
pub struct ReplayStorage<const CAP: usize, const D: usize> {
    states: [[f32; D]; CAP],
    log_w: [f32; CAP],
    log_r: [f32; CAP],
}

impl<const CAP: usize, const D: usize> ReplayStorage<CAP, D> {
    /// Zeroed storage (usable in `static` initialisers).
    pub const fn new() -> Self {
        ReplayStorage {
            states: [[0.0; D]; CAP],
            log_w: [0.0; CAP],
            log_r: [0.0; CAP],
        }
    }

    /// A buffer view over this storage.
    ///
    /// # Errors
    /// As [`ReplayBuffer::new`] (zero `CAP` or `D`).
    pub fn buffer(&mut self) -> Result<ReplayBuffer<'_>, Error> {
        ReplayBuffer::new(
            D,
            self.states.as_flattened_mut(),
            &mut self.log_w,
            &mut self.log_r,
        )
    }
}

impl<const CAP: usize, const D: usize> Default for ReplayStorage<CAP, D> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{self, uniform_f64};
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn ring_overwrites_oldest_and_keeps_newest() {
        let mut st = ReplayStorage::<4, 2>::new();
        let mut b = st.buffer().unwrap();
        b.insert(&[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], &[0.0; 3], &[0.0; 3])
            .unwrap();
        assert_eq!(b.len(), 3);
        b.insert(&[4.0, 4.0, 5.0, 5.0], &[0.0; 2], &[0.0; 2])
            .unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(
            b.state(0),
            Some(&[5.0f32, 5.0][..]),
            "slot 0 overwritten by the 5th entry"
        );
        assert_eq!(b.state(b.newest_slot().unwrap()), Some(&[5.0f32, 5.0][..]));
        // a batch larger than the capacity keeps its newest rows, newest last
        let xs: Vec<f32> = (0..20).map(|i| (i / 2) as f32).collect();
        b.insert(&xs, &[0.0; 10], &[0.0; 10]).unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(b.state(b.newest_slot().unwrap()), Some(&[9.0f32, 9.0][..]));
        let mut seen: Vec<f32> = (0..4).map(|s| b.state(s).unwrap()[0]).collect();
        seen.sort_by(f32::total_cmp);
        assert_eq!(seen, [6.0, 7.0, 8.0, 9.0]);
        assert_eq!(b.inserted(), 15);
        assert_eq!(b.state(4), None);
    }

    #[test]
    fn shape_and_value_errors() {
        let (mut s, mut w, mut r) = (vec![0.0f32; 6], vec![0.0f32; 3], vec![0.0f32; 3]);
        assert!(ReplayBuffer::new(0, &mut s, &mut w, &mut r).is_err());
        assert!(ReplayBuffer::new(3, &mut s, &mut w, &mut r).is_err());
        let mut b = ReplayBuffer::new(2, &mut s, &mut w, &mut r).unwrap();
        assert!(matches!(
            b.insert(&[1.0], &[0.0], &[0.0]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            b.insert(&[1.0, f32::NAN], &[0.0], &[0.0]),
            Err(Error::NonFinite(_))
        ));
        assert!(b.is_empty());
        let mut out = [0u32; 2];
        let (mut ws, mut ord) = ([0.0f32; 3], [0u32; 3]);
        assert!(matches!(
            b.sample(Priority::default(), &[0.5], &mut ws, &mut ord, &mut out),
            Err(Error::Degenerate(_))
        ));
        b.insert(&[1.0, 1.0], &[f32::NAN], &[0.0]).unwrap();
        assert_eq!(b.log_weights()[0], f32::NEG_INFINITY);
        assert!(matches!(
            b.sample(Priority::default(), &[0.5], &mut ws, &mut ord, &mut out),
            Err(Error::Degenerate(_))
        ));
    }

    #[test]
    fn importance_weight_sampling_follows_weights_when_ess_is_high() {
        let (mut s, mut w, mut r) = (vec![0.0f32; 4], vec![0.0f32; 4], vec![0.0f32; 4]);
        let mut b = ReplayBuffer::new(1, &mut s, &mut w, &mut r).unwrap();
        let lw: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].iter().map(|x| x.ln()).collect();
        b.insert(&[0.0, 1.0, 2.0, 3.0], &lw, &[0.0; 4]).unwrap();
        let mut rng = rng::seeded(1);
        let mut counts = [0usize; 4];
        let (mut ws, mut ord) = ([0.0f32; 4], [0u32; 4]);
        let mut out = [0u32; 10];
        for _ in 0..1000 {
            let info = b
                .sample(
                    Priority::default(),
                    &[uniform_f64(&mut rng)],
                    &mut ws,
                    &mut ord,
                    &mut out,
                )
                .unwrap();
            assert_eq!(info.lambda, 1.0);
            for &o in &out {
                counts[o as usize] += 1;
            }
        }
        for i in 0..4 {
            let f = counts[i] as f64 / 10_000.0;
            assert!((f - (i as f64 + 1.0) / 10.0).abs() < 0.01, "{i}: {f}");
        }
    }

    #[test]
    fn importance_weight_sampling_tempers_uneven_weights() {
        let n = 1000;
        let (mut s, mut w, mut r) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let mut b = ReplayBuffer::new(1, &mut s, &mut w, &mut r).unwrap();
        let mut rng = rng::seeded(2);
        let lw: Vec<f32> = (0..n)
            .map(|_| (50.0 * crate::rng::standard_normal(&mut rng)) as f32)
            .collect();
        let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
        b.insert(&xs, &lw, &lw).unwrap();
        let (mut ws, mut ord) = (vec![0.0f32; n], vec![0u32; n]);
        let mut out = vec![0u32; 300];
        let info = b
            .sample(Priority::default(), &[0.3], &mut ws, &mut ord, &mut out)
            .unwrap();
        assert!(info.lambda < 1.0);
        assert!((info.ess_fraction - 0.05).abs() < 2e-3, "{info:?}");
        let mut distinct = out.clone();
        distinct.dedup();
        assert!(
            distinct.len() > 20,
            "tempering spreads the draw: {}",
            distinct.len()
        );
    }

    #[test]
    fn reward_rank_prefers_high_reward_and_uniform_covers_all() {
        let n = 100;
        let (mut s, mut w, mut r) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let mut b = ReplayBuffer::new(1, &mut s, &mut w, &mut r).unwrap();
        let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let lr: Vec<f32> = (0..n).map(|i| i as f32).collect(); // slot 99 has the highest reward
        b.insert(&xs, &vec![0.0; n], &lr).unwrap();
        let (mut ws, mut ord) = (vec![0.0f32; n], vec![0u32; n]);
        let mut out = vec![0u32; 1000];
        b.sample(
            Priority::RewardRank { rank_weight: 0.01 },
            &[0.5],
            &mut ws,
            &mut ord,
            &mut out,
        )
        .unwrap();
        let top = out.iter().filter(|&&o| o >= 90).count();
        let bottom = out.iter().filter(|&&o| o < 10).count();
        assert!(top > 5 * bottom, "top {top} bottom {bottom}");
        assert!(
            b.sample(
                Priority::RewardRank { rank_weight: 0.0 },
                &[0.5],
                &mut ws,
                &mut ord,
                &mut out
            )
            .is_err()
        );
        let mut rng = rng::seeded(3);
        let u: Vec<f64> = (0..1000).map(|_| uniform_f64(&mut rng)).collect();
        b.sample(Priority::Uniform, &u, &mut ws, &mut ord, &mut out)
            .unwrap();
        let mut c = vec![0u32; n];
        crate::smc::resample::offspring_counts(&out, &mut c).unwrap();
        assert!(
            c.iter().all(|&k| k == 10),
            "stratified uniform draws give exactly 10 each"
        );
    }

    /// Regression (property tests): a tiny positive `rank_weight` made the unscaled weight
    /// `1/(k·n + rank)` overflow `f32` and sampling fail with `NonFinite`.
    #[test]
    fn tiny_and_huge_rank_weights_sample() {
        let mut st = ReplayStorage::<3, 1>::new();
        let mut b = st.buffer().unwrap();
        b.insert(&[1.0, 2.0, 3.0], &[0.0; 3], &[-1.0, 5.0, 2.0])
            .unwrap();
        let (mut ws, mut ord, mut out) = ([0.0f32; 3], [0u32; 3], [9u32; 4]);
        for k in [f64::MIN_POSITIVE, 1e-300, 1e-40, 1e300, f64::MAX] {
            b.sample(
                Priority::RewardRank { rank_weight: k },
                &[0.5],
                &mut ws,
                &mut ord,
                &mut out,
            )
            .unwrap();
            assert!(ws.iter().all(|w| w.is_finite() && (0.0..=1.0).contains(w)));
            if k < 1e-30 {
                // all the mass on the highest reward (slot 1)
                assert_eq!(out, [1; 4], "k = {k}");
            } else {
                // the uniform limit
                assert_eq!(out, [0, 1, 1, 2], "k = {k}");
            }
        }
    }
}
