//! A binary lattice (Ising) target built site by site.
//!
//! Terminal objects are spin configurations `σ ∈ {−1, +1}^{n×n}` on a periodic square
//! lattice with `log R(σ) = J Σ_{⟨ij⟩} σ_i σ_j + h Σ_i σ_i` (nearest neighbours, each bond
//! once; the inverse temperature is folded into `J` and `h`). The MDP follows the Ising
//! GFlowNet of Zhang et al. 2022 ("Generative flow networks for discrete probabilistic
//! modeling", §4): a state is a partial assignment, a forward action sets one unset site to
//! `±1`, and stop is legal only (and forced) once every site is set, so every trajectory has
//! exactly `n² + 1` transitions. Parents unset one set site; the uniform `P_B` is
//! `1/#set sites`. Features: two indicators per site (`2n²`).
//!
//! Modes: the two aligned configurations (all `+1`, all `−1`), the ground states for
//! `J > 0`, `h = 0`.

use super::env::{DiscreteEnv, MAX_TERMINAL};
use crate::error::Error;

/// An `n × n` periodic Ising lattice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ising {
    side: usize,
    coupling: f32,
    field: f32,
}

impl Ising {
    /// The lattice of side `side` with coupling `J` and field `h`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `2 ≤ side` and `2^{side²} ≤ 2^20` (side ≤ 4), and
    /// `J`, `h` are finite.
    pub fn new(side: usize, coupling: f32, field: f32) -> Result<Self, Error> {
        if side < 2 || side * side > 20 || (1usize << (side * side)) > MAX_TERMINAL {
            return Err(Error::InvalidConfig(
                "Ising side must be in 2..=4 (2^(side^2) configurations are enumerated)",
            ));
        }
        if !(coupling.is_finite() && field.is_finite()) {
            return Err(Error::InvalidConfig(
                "Ising coupling and field must be finite",
            ));
        }
        Ok(Ising {
            side,
            coupling,
            field,
        })
    }
    fn sites(&self) -> usize {
        self.side * self.side
    }
    fn spin(v: u32) -> f64 {
        if v == 2 { 1.0 } else { -1.0 }
    }
}

impl DiscreteEnv for Ising {
    /// `[site values (0 unset, 1 → −1, 2 → +1), done]`.
    fn state_len(&self) -> usize {
        self.sites() + 1
    }
    fn feature_len(&self) -> usize {
        2 * self.sites()
    }
    fn n_actions(&self) -> usize {
        1 + 2 * self.sites()
    }
    fn n_back_actions(&self) -> usize {
        1 + self.sites()
    }
    fn max_steps(&self) -> usize {
        self.sites() + 1
    }
    fn n_terminal(&self) -> usize {
        1 << self.sites()
    }
    fn reset(&self, s: &mut [u32]) {
        s.fill(0);
    }
    fn features(&self, s: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        for (i, &v) in s.iter().take(self.sites()).enumerate() {
            if v > 0
                && let Some(o) = out.get_mut(2 * i + v as usize - 1)
            {
                *o = 1.0;
            }
        }
    }
    fn forward_mask(&self, s: &[u32], mask: &mut [bool]) {
        let n = self.sites();
        let done = self.is_done(s);
        let full = s[..n].iter().all(|&v| v > 0);
        mask[0] = !done && full;
        for i in 0..n {
            let free = !done && s[i] == 0;
            mask[1 + 2 * i] = free;
            mask[2 + 2 * i] = free;
        }
    }
    fn step(&self, s: &mut [u32], a: usize) {
        if a == 0 {
            s[self.sites()] = 1;
        } else {
            s[(a - 1) / 2] = ((a - 1) % 2) as u32 + 1;
        }
    }
    fn backward_mask(&self, s: &[u32], mask: &mut [bool]) {
        let done = self.is_done(s);
        mask[0] = done;
        for i in 0..self.sites() {
            mask[1 + i] = !done && s[i] > 0;
        }
    }
    fn step_back(&self, s: &mut [u32], b: usize) {
        if b == 0 {
            s[self.sites()] = 0;
        } else {
            s[b - 1] = 0;
        }
    }
    fn back_action_of(&self, _parent: &[u32], a: usize) -> usize {
        if a == 0 { 0 } else { 1 + (a - 1) / 2 }
    }
    fn forward_action_of(&self, child: &[u32], b: usize) -> usize {
        if b == 0 {
            0
        } else {
            let i = b - 1;
            1 + 2 * i + (child[i].max(1) as usize - 1)
        }
    }
    fn log_reward(&self, s: &[u32]) -> f32 {
        let n = self.side;
        let (mut bonds, mut mag) = (0.0f64, 0.0f64);
        for r in 0..n {
            for c in 0..n {
                let x = Self::spin(s[r * n + c]);
                mag += x;
                bonds += x * Self::spin(s[r * n + (c + 1) % n]);
                bonds += x * Self::spin(s[((r + 1) % n) * n + c]);
            }
        }
        (self.coupling as f64 * bonds + self.field as f64 * mag) as f32
    }
    fn is_mode(&self, s: &[u32]) -> bool {
        let n = self.sites();
        s[..n].iter().all(|&v| v == s[0])
    }
    fn terminal_index(&self, s: &[u32]) -> usize {
        s[..self.sites()]
            .iter()
            .rev()
            .fold(0usize, |acc, &v| 2 * acc + usize::from(v == 2))
    }
    fn terminal_from_index(&self, i: usize, s: &mut [u32]) {
        let n = self.sites();
        for (k, v) in s[..n].iter_mut().enumerate() {
            *v = 1 + ((i >> k) & 1) as u32;
        }
        s[n] = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math;
    use crate::samplers::gflownet::exact;

    #[test]
    fn two_by_two_log_z_by_hand() {
        // 2×2 periodic: every pair is a neighbour twice (left and right), so the bond sum
        // is 2·(s0s1 + s2s3 + s0s2 + s1s3).
        let e = Ising::new(2, 0.3, 0.0).unwrap();
        let mut s = [0u32; 5];
        let mut z = 0.0f64;
        for i in 0..16 {
            e.terminal_from_index(i, &mut s);
            assert_eq!(e.terminal_index(&s), i);
            let sp: [f64; 4] = core::array::from_fn(|k| if s[k] == 2 { 1.0 } else { -1.0 });
            let b = 2.0 * (sp[0] * sp[1] + sp[2] * sp[3] + sp[0] * sp[2] + sp[1] * sp[3]);
            z += math::exp(0.3 * b);
        }
        let lz = exact::log_z(&e).unwrap();
        assert!((lz - math::ln(z)).abs() < 1e-6, "{lz} vs {}", math::ln(z));
        // all aligned: 8 satisfied bonds (with double counting on a 2-periodic lattice)
        e.terminal_from_index(0, &mut s);
        assert!(e.is_mode(&s));
        assert!((e.log_reward(&s) - 0.3 * 8.0).abs() < 1e-6);
    }

    #[test]
    fn invalid_settings_are_errors() {
        assert!(Ising::new(1, 0.1, 0.0).is_err());
        assert!(Ising::new(5, 0.1, 0.0).is_err());
        assert!(Ising::new(3, f32::INFINITY, 0.0).is_err());
    }
}
