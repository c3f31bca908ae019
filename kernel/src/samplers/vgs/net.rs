//! The VGS value network `V_φ(x, t)`: a scalar function of the (feature-mapped) state and the
//! integer step `t` (Yoon et al. 2025, `FCNet_temb`, `vgs/models/modules_temb.py`; report B3).
//!
//! ```text
//! time:  e(t) = [sin(t·ω_k), cos(t·ω_k)]_k,  ω_k = 10000^{−k/(E/2−1)}   (fixed, Fairseq)
//!        τ(t) = Linear(E, H) → f → Linear(H, H)
//! state: s(x) = Linear(F, H)
//! head:  V = f → Linear(H, H) → f → Linear(H, H) → f → Linear(H, 1)   of (s(x) + τ(t))
//! ```
//!
//! `FCNet_temb` concatenates `Linear(x)` and `τ(t)` and applies a linear layer; a sum of two
//! linear maps is the same function class, which is how it is written here (as the PIS
//! network of [`crate::samplers::diffusion`]; both are a [`crate::nn::trunk`]). The activation `f` is a parameter (the paper
//! uses ReLU; SiLU is the default here, smooth so that the drift `∇V` is continuous).
//!
//! Steps are integers `0 ≤ t < n_times`, one per row. The time branch runs once on all
//! `n_times` steps per forward pass (a small table), rows gather their `τ(t)`, and the
//! backward pass scatters the rows' gradients back into the table before the time MLP's
//! backward pass: mixed-step minibatches (the shuffled TD update) cost one pass.
//!
//! **Parameter layout**: `[time MLP | state Linear | head MLP]`.
//! **Cache layout** (batch `B`, `N = n_times`): `[e table (N·E) | time-MLP cache (N rows) |
//! τ table (N·H) | head cache (B rows)]`.

use crate::error::{Error, check_min_len};
use crate::math;
use crate::nn::init::init_trunk;
use crate::nn::trunk::{Pass, Rows, Trunk, TrunkGrads, TrunkTape};
use crate::nn::{Activation, LastLayerInit};
use crate::rng::Rng;

/// Shape of a value network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueNet {
    inp: usize,
    hidden: usize,
    emb: usize,
    n_times: usize,
    trunk: Trunk,
}

/// The rows a [`ValueNet`] pass reads: features `x` (`B × inp`) and steps `t` (`B`).
#[derive(Clone, Copy, Debug)]
pub struct ValueInput<'a> {
    /// Features, `B × inp`.
    pub x: &'a [f32],
    /// Step of each row, `< n_times`.
    pub t: &'a [u32],
}

impl<'a> ValueInput<'a> {
    /// The rows of the trunk: row `b` at step `t_b`.
    const fn rows(&self) -> Rows<'a> {
        Rows {
            x: self.x,
            batch: self.t.len(),
            steps: Some(self.t),
        }
    }
}

/// The gradients of one [`ValueNet::backward`]: the upstream gradient in, the parameter and
/// (optionally) input gradients out (as the diffusion policy's `NetGrads`).
#[derive(Debug)]
pub struct ValueGrads<'a> {
    /// `∂L/∂out` (`B`).
    pub dout: &'a [f32],
    /// Parameter gradients, **accumulated**.
    pub params: &'a mut [f32],
    /// Input gradient `∂L/∂x` (`B × inp`), **written** when given.
    pub dx: Option<&'a mut [f32]>,
}

impl ValueNet {
    /// A value network on `inp` features with `hidden` units, a `emb`-wide sinusoidal step
    /// embedding (even, `≥ 2`), steps `0 … n_times − 1` and hidden activation `act`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if a size is zero or `emb` is odd.
    pub fn new(
        inp: usize,
        hidden: usize,
        emb: usize,
        n_times: usize,
        act: Activation,
    ) -> Result<Self, Error> {
        if inp == 0 || hidden == 0 || n_times == 0 {
            return Err(Error::InvalidConfig("value network sizes must be >= 1"));
        }
        if emb < 2 || !emb.is_multiple_of(2) {
            return Err(Error::InvalidConfig(
                "value network step embedding must be even and >= 2",
            ));
        }
        Ok(ValueNet {
            inp,
            hidden,
            emb,
            n_times,
            trunk: Trunk::new(inp, emb, hidden, 1, n_times, act)?,
        })
    }

    /// Input (feature) width.
    pub const fn inp(&self) -> usize {
        self.inp
    }
    /// Hidden width.
    pub const fn hidden(&self) -> usize {
        self.hidden
    }
    /// Number of steps the network is defined on.
    pub const fn n_times(&self) -> usize {
        self.n_times
    }

    /// Number of parameters.
    pub const fn param_count(&self) -> usize {
        self.trunk.param_count()
    }

    /// Cache length for a batch of `batch` rows.
    pub const fn cache_len(&self, batch: usize) -> usize {
        self.trunk.cache_len(batch)
    }

    /// Scratch length for [`forward`](Self::forward) and [`backward`](Self::backward).
    pub const fn scratch_len(&self, batch: usize) -> usize {
        self.trunk.scratch_len(batch)
    }

    /// PyTorch-default initialisation; the head's last layer follows `last`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != param_count()`.
    pub fn init<R: Rng + ?Sized>(
        &self,
        params: &mut [f32],
        last: LastLayerInit,
        rng: &mut R,
    ) -> Result<(), Error> {
        init_trunk(&self.trunk, params, last, rng)
    }

    fn embed_row(&self, t: usize, out: &mut [f32]) {
        let half = self.emb / 2;
        let denom = if half > 1 { (half - 1) as f64 } else { 1.0 };
        let (s, c) = out.split_at_mut(half);
        for (k, (sv, cv)) in s.iter_mut().zip(c.iter_mut()).enumerate() {
            let w = math::exp(-math::ln(10_000.0f64) * k as f64 / denom);
            let a = t as f64 * w;
            *sv = math::sin(a) as f32;
            *cv = math::cos(a) as f32;
        }
    }

    /// Forward pass: `out[b] = V(x_b, t_b)` for the `B` rows of `input` (features `x`,
    /// `B × inp`, and steps `t`, `B`), writing the cache that [`backward`](Self::backward)
    /// reads.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a buffer of the wrong length; [`Error::InvalidConfig`]
    /// for a step `t_b ≥ n_times`.
    pub fn forward(
        &self,
        params: &[f32],
        input: ValueInput<'_>,
        cache: &mut [f32],
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        check_min_len("value cache", self.cache_len(input.t.len()), cache.len())?;
        let etab = &mut cache[..self.trunk.emb_len()];
        for (s, row) in etab.chunks_exact_mut(self.emb).enumerate() {
            self.embed_row(s, row);
        }
        let pass = Pass {
            cache,
            scratch,
            out,
        };
        self.trunk.forward(params, input.rows(), pass, true)
    }

    /// Backward pass for the forward pass whose cache is `cache` (same `input`):
    /// **accumulates** parameter gradients into `g.params` and, if `g.dx` is given,
    /// **writes** the input gradient `∂L/∂x` (`B × inp`). `g.dout = ∂L/∂out` (`B`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a buffer of the wrong length; [`Error::InvalidConfig`]
    /// for a step out of range.
    pub fn backward(
        &self,
        params: &[f32],
        input: ValueInput<'_>,
        cache: &[f32],
        g: ValueGrads<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let tg = TrunkGrads {
            dout: g.dout,
            params: g.params,
            dx: g.dx,
            demb: None,
        };
        let tape = TrunkTape {
            rows: input.rows(),
            cache,
        };
        self.trunk.backward(params, tape, tg, scratch)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{fill_standard_normal, seeded};
    use std::vec;
    use std::vec::Vec;

    fn setup() -> (ValueNet, Vec<f32>, Vec<f32>, Vec<u32>) {
        let net = ValueNet::new(3, 8, 6, 4, Activation::Silu).unwrap();
        let mut r = seeded(1);
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
        let mut x = vec![0.0f32; 5 * 3];
        fill_standard_normal(&mut r, &mut x);
        (net, p, x, vec![0, 3, 1, 3, 2])
    }

    fn value_sum(net: &ValueNet, p: &[f32], x: &[f32], t: &[u32], w: &[f32]) -> f64 {
        let mut c = vec![0.0f32; net.cache_len(t.len())];
        let mut s = vec![0.0f32; net.scratch_len(t.len())];
        let mut o = vec![0.0f32; t.len()];
        net.forward(p, ValueInput { x, t }, &mut c, &mut s, &mut o)
            .unwrap();
        o.iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    #[test]
    fn input_and_parameter_gradients_match_central_differences() {
        let (net, p, x, t) = setup();
        let w = [0.3f32, -1.0, 0.7, 1.2, -0.4];
        let b = t.len();
        let mut c = vec![0.0f32; net.cache_len(b)];
        let mut s = vec![0.0f32; net.scratch_len(b)];
        let mut o = vec![0.0f32; b];
        net.forward(&p, ValueInput { x: &x, t: &t }, &mut c, &mut s, &mut o)
            .unwrap();
        let mut g = vec![0.0f32; p.len()];
        let mut dx = vec![0.0f32; x.len()];
        net.backward(
            &p,
            ValueInput { x: &x, t: &t },
            &c,
            ValueGrads {
                dout: &w,
                params: &mut g,
                dx: Some(&mut dx),
            },
            &mut s,
        )
        .unwrap();
        let h = 1e-2f32;
        for i in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (value_sum(&net, &p, &xp, &t, &w) - value_sum(&net, &p, &xm, &t, &w))
                / (2.0 * h as f64);
            assert!(
                (fd - dx[i] as f64).abs() < 1e-3 + 1e-2 * fd.abs(),
                "x{i}: {fd} vs {}",
                dx[i]
            );
        }
        for i in (0..p.len()).step_by(7) {
            let (mut pp, mut pm) = (p.clone(), p.clone());
            pp[i] += h;
            pm[i] -= h;
            let fd = (value_sum(&net, &pp, &x, &t, &w) - value_sum(&net, &pm, &x, &t, &w))
                / (2.0 * h as f64);
            assert!(
                (fd - g[i] as f64).abs() < 1e-3 + 1e-2 * fd.abs(),
                "p{i}: {fd} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn steps_are_checked_and_rows_independent() {
        let (net, p, x, _) = setup();
        let mut c = vec![0.0f32; net.cache_len(1)];
        let mut s = vec![0.0f32; net.scratch_len(1)];
        let mut o = [0.0f32; 1];
        assert!(
            net.forward(
                &p,
                ValueInput {
                    x: &x[..3],
                    t: &[4]
                },
                &mut c,
                &mut s,
                &mut o
            )
            .is_err()
        );
        net.forward(
            &p,
            ValueInput {
                x: &x[..3],
                t: &[2],
            },
            &mut c,
            &mut s,
            &mut o,
        )
        .unwrap();
        let one = o[0];
        let mut c5 = vec![0.0f32; net.cache_len(2)];
        let mut s5 = vec![0.0f32; net.scratch_len(2)];
        let mut o5 = [0.0f32; 2];
        net.forward(
            &p,
            ValueInput {
                x: &x[..6],
                t: &[2, 0],
            },
            &mut c5,
            &mut s5,
            &mut o5,
        )
        .unwrap();
        assert_eq!(o5[0], one);
        assert!(ValueNet::new(3, 8, 5, 4, Activation::Silu).is_err());
    }
}
