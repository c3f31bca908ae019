//! The hypergrid environment with the standard and the deceptive reward.
//!
//! States are `s ∈ {0..H−1}^d` starting at the origin; forward actions increment one
//! coordinate (illegal at `H−1`) or stop; every cell is terminal (Bengio et al. 2021, §4.1;
//! torchgfn's `HyperGrid`). The backward policy's parents are the cells one step lower in a
//! non-zero coordinate. Features: one-hot per coordinate (`d·H`).
//!
//! The adaptive-teacher code (`teachers-and-vgs.md` A2.1) additionally ends an episode when
//! a coordinate reaches `H−1`; here those cells stay ordinary (stop is still chosen), which
//! keeps every cell terminal and the enumeration simple. The goal cells of both rewards have
//! no coordinate at `H−1`, so the mode counts are the same.
//!
//! Rewards, with `a_i = |s_i/(H−1) − 0.5|` and `x_i = 2 s_i/(H−1) − 1`, computed in `f64`
//! exactly as the reference code does:
//! - **standard** (Bengio et al. 2021, eq. 11): `R = R0 + R1·Π 1[a_i > 0.25] +
//!   R2·Π 1[0.3 < a_i < 0.4]` with `R0 = 10⁻³, R1 = 0.5, R2 = 2`; modes are the cells of the
//!   `R2` boxes;
//! - **deceptive** (Kim et al. 2025, adaptive teachers, the *code's* definition,
//!   `grid/env.py`; torchgfn's `DeceptiveReward` notes the paper's eq. 9 is wrong):
//!   `R = 10⁻⁵ + 0.1 − 0.1·Π 1[|x_i| > 0.2] + 2·Π 1[0.6 < |x_i| < 0.8]`; modes are the cells
//!   of the `+2` boxes. **Float-boundary quirk**: the strict inequalities on `f64` make
//!   `2·12/15 − 1 = 0.6000000000000001 > 0.6`, so for `H = 16` the mode coordinates are
//!   `{2, 12, 13}` and there are 9 goal cells in 2-D, not 4 (A2.1 table). We reproduce the
//!   code (and its table) rather than torchgfn's `EPS = 1e-12` fix.

use super::env::{DiscreteEnv, MAX_TERMINAL};
use crate::error::Error;
use crate::math;

/// Which hypergrid reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GridReward {
    /// The standard reward of Bengio et al. 2021 (`R0 = 1e-3`, `R1 = 0.5`, `R2 = 2`).
    #[default]
    Standard,
    /// The deceptive reward of the adaptive-teacher code.
    Deceptive,
}

/// Largest supported dimension.
pub const MAX_GRID_DIM: usize = 8;

/// A `d`-dimensional hypergrid of side `H`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hypergrid {
    dim: usize,
    side: usize,
    reward: GridReward,
    n_terminal: usize,
}

impl Hypergrid {
    /// A hypergrid of dimension `dim` and side `side`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `1 ≤ dim ≤ 8`, `side ≥ 2` and `side^dim ≤ 2^20`.
    pub fn new(dim: usize, side: usize, reward: GridReward) -> Result<Self, Error> {
        if dim == 0 || dim > MAX_GRID_DIM {
            return Err(Error::InvalidConfig("grid dimension must be in 1..=8"));
        }
        if side < 2 {
            return Err(Error::InvalidConfig("grid side must be at least 2"));
        }
        let mut n = 1usize;
        for _ in 0..dim {
            n = n.saturating_mul(side);
            if n > MAX_TERMINAL {
                return Err(Error::InvalidConfig(
                    "grid has more than 2^20 cells (side^dim too large to enumerate)",
                ));
            }
        }
        Ok(Hypergrid {
            dim,
            side,
            reward,
            n_terminal: n,
        })
    }
    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The side `H`.
    pub fn side(&self) -> usize {
        self.side
    }

    fn reward_of(&self, s: &[u32]) -> f64 {
        let h1 = (self.side - 1) as f64;
        match self.reward {
            GridReward::Standard => {
                let (mut outer, mut band) = (true, true);
                for &c in &s[..self.dim] {
                    let a = (c as f64 / h1 - 0.5).abs();
                    outer &= a > 0.25;
                    band &= 0.3 < a && a < 0.4;
                }
                1e-3 + 0.5 * f64::from(u8::from(outer)) + 2.0 * f64::from(u8::from(band))
            }
            GridReward::Deceptive => {
                let (mut outer, mut band) = (true, true);
                for &c in &s[..self.dim] {
                    let x = (2.0 * c as f64 / h1 - 1.0).abs();
                    outer &= x > 0.2;
                    band &= 0.6 < x && x < 0.8;
                }
                1e-5 + 0.1 - 0.1 * f64::from(u8::from(outer)) + 2.0 * f64::from(u8::from(band))
            }
        }
    }
}

impl DiscreteEnv for Hypergrid {
    fn state_len(&self) -> usize {
        self.dim + 1
    }
    fn feature_len(&self) -> usize {
        self.dim * self.side
    }
    fn n_actions(&self) -> usize {
        self.dim + 1
    }
    fn n_back_actions(&self) -> usize {
        self.dim + 1
    }
    fn max_steps(&self) -> usize {
        self.dim * (self.side - 1) + 1
    }
    fn n_terminal(&self) -> usize {
        self.n_terminal
    }
    fn reset(&self, s: &mut [u32]) {
        s.fill(0);
    }
    fn features(&self, s: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        for (i, &c) in s.iter().take(self.dim).enumerate() {
            if let Some(o) = out.get_mut(i * self.side + c as usize) {
                *o = 1.0;
            }
        }
    }
    fn forward_mask(&self, s: &[u32], mask: &mut [bool]) {
        let done = self.is_done(s);
        mask[0] = !done;
        for i in 0..self.dim {
            mask[i + 1] = !done && (s[i] as usize) + 1 < self.side;
        }
    }
    fn step(&self, s: &mut [u32], a: usize) {
        if a == 0 {
            s[self.dim] = 1;
        } else {
            s[a - 1] += 1;
        }
    }
    fn backward_mask(&self, s: &[u32], mask: &mut [bool]) {
        let done = self.is_done(s);
        mask[0] = done;
        for i in 0..self.dim {
            mask[i + 1] = !done && s[i] > 0;
        }
    }
    fn step_back(&self, s: &mut [u32], b: usize) {
        if b == 0 {
            s[self.dim] = 0;
        } else {
            s[b - 1] -= 1;
        }
    }
    fn back_action_of(&self, _parent: &[u32], a: usize) -> usize {
        a
    }
    fn forward_action_of(&self, _child: &[u32], b: usize) -> usize {
        b
    }
    fn log_reward(&self, s: &[u32]) -> f32 {
        math::ln(self.reward_of(s)) as f32
    }
    fn is_mode(&self, s: &[u32]) -> bool {
        self.reward_of(s) > 2.0
    }
    fn terminal_index(&self, s: &[u32]) -> usize {
        s[..self.dim]
            .iter()
            .rev()
            .fold(0usize, |acc, &c| acc * self.side + c as usize)
    }
    fn terminal_from_index(&self, i: usize, s: &mut [u32]) {
        let mut r = i;
        for c in s[..self.dim].iter_mut() {
            *c = (r % self.side) as u32;
            r /= self.side;
        }
        s[self.dim] = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::gflownet::exact;

    #[test]
    fn deceptive_goal_cells_match_the_reference_table() {
        // teachers-and-vgs.md A2.1: (2,16) → 9, (2,32) → 36, (4,16) → 81.
        for (d, h, want) in [(2, 16, 9), (2, 32, 36), (4, 16, 81)] {
            let g = Hypergrid::new(d, h, GridReward::Deceptive).unwrap();
            let mut s = [0u32; 5];
            let s = &mut s[..d + 1];
            let n = (0..g.n_terminal())
                .filter(|&i| {
                    g.terminal_from_index(i, s);
                    g.is_mode(s)
                })
                .count();
            assert_eq!(n, want, "d={d} H={h}");
        }
    }

    #[test]
    fn reward_values_and_quirk() {
        let g = Hypergrid::new(2, 16, GridReward::Deceptive).unwrap();
        let r = |a: u32, b: u32| math::exp(g.log_reward(&[a, b, 1]) as f64);
        assert!((r(0, 0) - 1e-5).abs() < 1e-9); // corner quadrant
        assert!((r(7, 0) - 0.10001).abs() < 1e-6); // central band
        assert!((r(2, 13) - 2.00001).abs() < 1e-5); // mode box
        assert!((r(12, 12) - 2.00001).abs() < 1e-5); // the float quirk
        let s = Hypergrid::new(2, 8, GridReward::Standard).unwrap();
        let rs = |a: u32, b: u32| math::exp(s.log_reward(&[a, b, 1]) as f64);
        assert!((rs(0, 0) - 0.501).abs() < 1e-6);
        assert!((rs(3, 3) - 0.001).abs() < 1e-7);
    }

    #[test]
    fn index_round_trip_and_exact_log_z() {
        let g = Hypergrid::new(3, 4, GridReward::Standard).unwrap();
        let mut s = [0u32; 4];
        for i in 0..g.n_terminal() {
            g.terminal_from_index(i, &mut s);
            assert_eq!(g.terminal_index(&s), i);
        }
        // Z = Σ over cells by hand in f64
        let mut z = 0.0f64;
        for i in 0..64 {
            g.terminal_from_index(i, &mut s);
            z += g.reward_of(&s);
        }
        let lz = exact::log_z(&g).unwrap();
        assert!((lz - math::ln(z)).abs() < 1e-5, "{lz}");
    }

    #[test]
    fn invalid_settings_are_errors() {
        assert!(Hypergrid::new(0, 4, GridReward::Standard).is_err());
        assert!(Hypergrid::new(2, 1, GridReward::Standard).is_err());
        assert!(Hypergrid::new(9, 2, GridReward::Standard).is_err());
        assert!(Hypergrid::new(4, 64, GridReward::Standard).is_err());
    }
}
