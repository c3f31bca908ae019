//! The prepend/append sequence MDP with a synthetic, seeded, enumerable reward.
//!
//! A state is a string over an alphabet of `A` letters, grown from the empty string by
//! prepending or appending one letter; stop is legal only (and then forced) at the fixed
//! length `L`, so **every complete trajectory has exactly `L + 1` transitions** and SMC over
//! partial strings stays synchronous (`rsmc.md` §3, gfn-is `seqpamdp.py`: forward actions
//! `Stop`, `PrependChar(c)`, `AppendChar(c)`; backward `UnStop`, `DelFirst`, `DelLast`;
//! uniform `P_B` over *unique* parents). Prepending and appending `c` give the same child
//! exactly when the string is empty or constant `c`; then `AppendChar(c)` is masked, and
//! `DelLast` is masked at constant strings, so every edge has one action each way.
//!
//! Features: the left-aligned one-hot of the string, zero-padded to `L·A` (gfn-is
//! featurisation).
//!
//! Reward (synthetic, ours): `K` planted modes `m_k` and weights `w_k ∈ [0.5, 1]` drawn from
//! a seed, and `R(x) = ε + Σ_k w_k exp(−d_H(x, m_k)/τ)` with the Hamming distance `d_H`, the
//! temperature `τ` and the floor `ε`. The modes are the planted strings. All `A^L` strings
//! are enumerable (65,536 for `L = 8`, `A = 4`), so `log Z` and the target are exact.

use super::env::{DiscreteEnv, MAX_TERMINAL};
use crate::error::Error;
use crate::math;
use crate::rng::{self, Rng};

/// Largest number of planted modes.
pub const MAX_MODES: usize = 16;
/// Largest sequence length.
pub const MAX_LEN: usize = 20;

/// Settings of the sequence environment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequenceConfig {
    /// Sequence length `L`. Defaults to `8` (TFBind8's length).
    pub len: usize,
    /// Alphabet size `A`. Defaults to `4`.
    pub alphabet: usize,
    /// Planted modes `K`. Defaults to `4`.
    pub modes: usize,
    /// Temperature `τ`. Defaults to `0.5`.
    pub temperature: f32,
    /// Reward floor `ε`. Defaults to `1e-3`.
    pub floor: f32,
    /// Seed of the planted modes and weights. Defaults to `0`.
    pub seed: u64,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig {
            len: 8,
            alphabet: 4,
            modes: 4,
            temperature: 0.5,
            floor: 1e-3,
            seed: 0,
        }
    }
}

/// The prepend/append sequence environment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequenceEnv {
    cfg: SequenceConfig,
    n_terminal: usize,
    planted: [[u8; MAX_LEN]; MAX_MODES],
    weights: [f32; MAX_MODES],
}

impl SequenceEnv {
    /// Builds the environment and plants the modes from `cfg.seed` (distinct strings).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `1 ≤ len ≤ 20`, `2 ≤ alphabet ≤ 26`, `alphabet^len ≤ 2^20`,
    /// `1 ≤ modes ≤ min(16, alphabet^len)`, `temperature > 0` and `floor > 0` (finite).
    pub fn new(cfg: SequenceConfig) -> Result<Self, Error> {
        if cfg.len == 0 || cfg.len > MAX_LEN {
            return Err(Error::InvalidConfig("sequence length must be in 1..=20"));
        }
        if cfg.alphabet < 2 || cfg.alphabet > 26 {
            return Err(Error::InvalidConfig("alphabet size must be in 2..=26"));
        }
        let mut n = 1usize;
        for _ in 0..cfg.len {
            n = n.saturating_mul(cfg.alphabet);
            if n > MAX_TERMINAL {
                return Err(Error::InvalidConfig(
                    "alphabet^length exceeds 2^20 sequences (too large to enumerate)",
                ));
            }
        }
        if cfg.modes == 0 || cfg.modes > MAX_MODES || cfg.modes > n {
            return Err(Error::InvalidConfig(
                "number of planted modes must be in 1..=16 and at most alphabet^length",
            ));
        }
        if !(cfg.temperature.is_finite() && cfg.temperature > 0.0) {
            return Err(Error::InvalidConfig("temperature must be finite and > 0"));
        }
        if !(cfg.floor.is_finite() && cfg.floor > 0.0) {
            return Err(Error::InvalidConfig("reward floor must be finite and > 0"));
        }
        let mut env = SequenceEnv {
            cfg,
            n_terminal: n,
            planted: [[0; MAX_LEN]; MAX_MODES],
            weights: [0.0; MAX_MODES],
        };
        let mut r = rng::seeded(cfg.seed);
        let mut k = 0;
        while k < cfg.modes {
            let mut m = [0u8; MAX_LEN];
            for c in m[..cfg.len].iter_mut() {
                *c = (r.next_u32() % cfg.alphabet as u32) as u8;
            }
            if env.planted[..k]
                .iter()
                .all(|p| p[..cfg.len] != m[..cfg.len])
            {
                env.planted[k] = m;
                env.weights[k] = (0.5 + 0.5 * rng::uniform_f64(&mut r)) as f32;
                k += 1;
            }
        }
        Ok(env)
    }
    /// The configuration.
    pub fn config(&self) -> &SequenceConfig {
        &self.cfg
    }
    /// The `k`-th planted mode (letters), `k < modes`.
    pub fn planted(&self, k: usize) -> Option<&[u8]> {
        (k < self.cfg.modes).then(|| &self.planted[k][..self.cfg.len])
    }
    fn letters<'s>(&self, s: &'s [u32]) -> &'s [u32] {
        let n = (s[0] as usize).min(self.cfg.len);
        &s[1..1 + n]
    }
    fn is_constant(&self, s: &[u32], c: Option<u32>) -> bool {
        let l = self.letters(s);
        match (l.first(), c) {
            (None, _) => true,
            (Some(&f), Some(c)) => f == c && l.iter().all(|&x| x == f),
            (Some(&f), None) => l.iter().all(|&x| x == f),
        }
    }
    fn done_index(&self) -> usize {
        self.cfg.len + 1
    }
}

impl DiscreteEnv for SequenceEnv {
    /// `[length, letters (L words), done]`.
    fn state_len(&self) -> usize {
        self.cfg.len + 2
    }
    fn feature_len(&self) -> usize {
        self.cfg.len * self.cfg.alphabet
    }
    fn n_actions(&self) -> usize {
        1 + 2 * self.cfg.alphabet
    }
    fn n_back_actions(&self) -> usize {
        3
    }
    fn max_steps(&self) -> usize {
        self.cfg.len + 1
    }
    fn n_terminal(&self) -> usize {
        self.n_terminal
    }
    fn reset(&self, s: &mut [u32]) {
        s.fill(0);
    }
    fn features(&self, s: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        let a = self.cfg.alphabet;
        for (i, &c) in self.letters(s).iter().enumerate() {
            if let Some(o) = out.get_mut(i * a + c as usize) {
                *o = 1.0;
            }
        }
    }
    fn forward_mask(&self, s: &[u32], mask: &mut [bool]) {
        let done = self.is_done(s);
        let full = s[0] as usize >= self.cfg.len;
        let a = self.cfg.alphabet;
        mask[0] = !done && full;
        for c in 0..a {
            mask[1 + c] = !done && !full;
            mask[1 + a + c] = !done && !full && !self.is_constant(s, Some(c as u32));
        }
    }
    fn step(&self, s: &mut [u32], act: usize) {
        let a = self.cfg.alphabet;
        let n = s[0] as usize;
        if act == 0 {
            s[self.done_index()] = 1;
        } else if act <= a {
            for i in (0..n).rev() {
                s[2 + i] = s[1 + i];
            }
            s[1] = (act - 1) as u32;
            s[0] += 1;
        } else {
            s[1 + n] = (act - 1 - a) as u32;
            s[0] += 1;
        }
    }
    fn backward_mask(&self, s: &[u32], mask: &mut [bool]) {
        let done = self.is_done(s);
        let n = s[0];
        mask[0] = done;
        mask[1] = !done && n > 0;
        mask[2] = !done && n > 0 && !self.is_constant(s, None);
    }
    fn step_back(&self, s: &mut [u32], b: usize) {
        let n = s[0] as usize;
        match b {
            0 => s[self.done_index()] = 0,
            1 => {
                for i in 0..n.saturating_sub(1) {
                    s[1 + i] = s[2 + i];
                }
                s[n] = 0;
                s[0] -= 1;
            }
            _ => {
                s[n] = 0;
                s[0] -= 1;
            }
        }
    }
    fn back_action_of(&self, _parent: &[u32], a: usize) -> usize {
        if a == 0 {
            0
        } else if a <= self.cfg.alphabet {
            1
        } else {
            2
        }
    }
    fn forward_action_of(&self, child: &[u32], b: usize) -> usize {
        let n = child[0] as usize;
        match b {
            0 => 0,
            1 => 1 + child[1] as usize,
            _ => 1 + self.cfg.alphabet + child[n] as usize,
        }
    }
    fn log_reward(&self, s: &[u32]) -> f32 {
        let l = self.letters(s);
        let mut r = self.cfg.floor as f64;
        let inv_t = 1.0 / self.cfg.temperature as f64;
        for (m, &w) in self.planted[..self.cfg.modes].iter().zip(&self.weights) {
            let d = l.iter().zip(m).filter(|(x, y)| **x != **y as u32).count()
                + (self.cfg.len - l.len());
            r += w as f64 * math::exp(-(d as f64) * inv_t);
        }
        math::ln(r) as f32
    }
    fn is_mode(&self, s: &[u32]) -> bool {
        let l = self.letters(s);
        l.len() == self.cfg.len
            && self.planted[..self.cfg.modes]
                .iter()
                .any(|m| l.iter().zip(m).all(|(x, y)| *x == *y as u32))
    }
    fn terminal_index(&self, s: &[u32]) -> usize {
        self.letters(s)
            .iter()
            .fold(0usize, |acc, &c| acc * self.cfg.alphabet + c as usize)
    }
    fn terminal_from_index(&self, i: usize, s: &mut [u32]) {
        let mut r = i;
        let l = self.cfg.len;
        for k in (0..l).rev() {
            s[1 + k] = (r % self.cfg.alphabet) as u32;
            r /= self.cfg.alphabet;
        }
        s[0] = l as u32;
        s[l + 1] = 1;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::samplers::gflownet::env::count_legal;
    use crate::samplers::gflownet::exact;
    use std::vec;

    fn small() -> SequenceEnv {
        SequenceEnv::new(SequenceConfig {
            len: 4,
            alphabet: 3,
            modes: 2,
            ..SequenceConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn prepend_append_and_unique_parents() {
        let e = small();
        let mut s = vec![0u32; e.state_len()];
        e.reset(&mut s);
        let mut m = vec![false; e.n_actions()];
        e.forward_mask(&s, &mut m);
        // empty string: prepend c only (append c is the same child)
        assert_eq!(count_legal(&m), 3);
        e.step(&mut s, 1 + 2); // "2"
        e.step(&mut s, 1 + 3); // append 0: "20"
        e.step(&mut s, 1 + 1); // prepend 1: "120"
        assert_eq!(&s[..4], &[3, 1, 2, 0]);
        let mut bm = vec![false; 3];
        e.backward_mask(&s, &mut bm);
        assert_eq!(bm, [false, true, true]);
        let mut p = s.clone();
        e.step_back(&mut p, 2);
        assert_eq!(&p[..4], &[2, 1, 2, 0]);
        assert_eq!(e.forward_action_of(&s, 2), 1 + 3);
        assert_eq!(e.forward_action_of(&s, 1), 1 + 1);
        e.step_back(&mut s, 1);
        assert_eq!(&s[..3], &[2, 2, 0]);
        // constant strings have one parent
        let c = [2u32, 1, 1, 0, 0, 0];
        e.backward_mask(&c, &mut bm);
        assert_eq!(count_legal(&bm), 1);
    }

    #[test]
    fn every_trajectory_has_fixed_depth_and_exact_distribution_sums_to_one() {
        let e = small();
        assert_eq!(e.max_steps(), 5);
        let mut p = vec![0f32; e.n_terminal()];
        let lz = exact::distribution(&e, &mut p).unwrap();
        let s: f64 = p.iter().map(|&x| x as f64).sum();
        assert!((s - 1.0).abs() < 1e-5);
        let mut st = vec![0u32; e.state_len()];
        let mut z = 0.0f64;
        for i in 0..e.n_terminal() {
            e.terminal_from_index(i, &mut st);
            assert_eq!(e.terminal_index(&st), i);
            z += math::exp(e.log_reward(&st) as f64);
        }
        assert!((lz - math::ln(z)).abs() < 1e-6);
        let modes = (0..e.n_terminal())
            .filter(|&i| {
                e.terminal_from_index(i, &mut st);
                e.is_mode(&st)
            })
            .count();
        assert_eq!(modes, 2);
    }

    #[test]
    fn seeded_modes_are_reproducible() {
        let a = SequenceEnv::new(SequenceConfig::default()).unwrap();
        let b = SequenceEnv::new(SequenceConfig::default()).unwrap();
        assert_eq!(a.planted(0), b.planted(0));
        assert_eq!(a.n_terminal(), 65_536);
        let c = SequenceEnv::new(SequenceConfig {
            seed: 1,
            ..SequenceConfig::default()
        })
        .unwrap();
        assert_ne!(a.planted(0), c.planted(0));
    }

    #[test]
    fn invalid_settings_are_errors() {
        let bad = |f: fn(&mut SequenceConfig)| {
            let mut c = SequenceConfig::default();
            f(&mut c);
            SequenceEnv::new(c).is_err()
        };
        assert!(bad(|c| c.len = 0));
        assert!(bad(|c| c.alphabet = 1));
        assert!(bad(|c| c.len = 12));
        assert!(bad(|c| c.modes = 0));
        assert!(bad(|c| c.temperature = 0.0));
        assert!(bad(|c| c.floor = f32::NAN));
    }
}
