//! Multi-layer perceptrons: a `Copy` shape description plus forward and backward passes over
//! caller-owned parameter, gradient, cache and scratch slices.
//!
//! An [`Mlp`] with widths `[w₀, w₁, …, w_L]` is `L` [`Linear`] layers with the hidden
//! activation `f` between them and a linear output:
//!
//! ```text
//! a₀ = x            (or a₀ = f(x) with `with_input_activation`)
//! zₗ = aₗ₋₁·Wₗ₋₁ + bₗ₋₁,  aₗ = f(zₗ)     for l = 1 … L−1
//! y  = a_{L−1}·W_{L−1} + b_{L−1}
//! ```
//!
//! Backward, given `dy = ∂L/∂y`: `δ_L = dy`, then for `l = L−1 … 0`:
//! `dWₗ += aₗᵀ·δₗ₊₁`, `dbₗ += 1ᵀ·δₗ₊₁`, `δₗ = (δₗ₊₁·Wₗᵀ) ⊙ f'(zₗ)` (for `l ≥ 1`; at `l = 0`
//! the input gradient `δ₀·W₀ᵀ`, times `f'(x)` with an input activation).
//!
//! The forward pass evaluates `f` and `f'` together (GELU shares one erf between them) and
//! caches `f'(zₗ)` instead of `zₗ`, so the backward pass only multiplies: the values are the
//! same bits as evaluating `f'(zₗ)` in the backward pass, at about half the activation cost.
//!
//! **Parameter layout** (and gradient layout): the layers in order, each in the
//! [`linear`] layout `[W (w_l × w_{l+1}, row-major) | b (w_{l+1})]`.
//!
//! **Cache layout** (written by [`Mlp::forward`], read by [`Mlp::backward`]), for batch `B`:
//! `[f'(x) (B·w₀) if input activation] [a₀ (B·w₀)] [f'(z₁) a₁ (B·w₁ each)] …
//! [f'(z_{L−1}) a_{L−1}]`. The output `y` is not cached.
//!
//! **Scratch** for [`Mlp::backward`] and [`Mlp::predict`]: two ping-pong buffers of
//! `B·max(w₁, …, w_{L−1})` each (`w₀` joins the max with an input activation); see
//! [`Mlp::scratch_len`].

use super::act::Activation;
use super::linear::{self, Linear};
use super::{Grads, Tape};
use crate::error::{Error, check_len, check_min_len};

/// Maximum number of layers (linear maps) of an [`Mlp`].
pub const MAX_LAYERS: usize = 8;

/// Number of parameters of an MLP with these widths: `Σₗ (w_l·w_{l+1} + w_{l+1})`.
///
/// Usable in `const` items, e.g. to size a parameter array:
/// `const P: usize = mlp_param_count(&[2, 64, 64, 1]);` (4,417). Returns `0` for widths that
/// [`Mlp::new`] rejects (fewer than two entries, more than `MAX_LAYERS + 1`, or a zero).
pub const fn mlp_param_count(widths: &[usize]) -> usize {
    if !widths_valid(widths) {
        return 0;
    }
    let mut total = 0usize;
    let mut l = 0;
    while l + 1 < widths.len() {
        total = total.saturating_add(linear::param_count(widths[l], widths[l + 1]));
        l += 1;
    }
    total
}

const fn widths_valid(widths: &[usize]) -> bool {
    if widths.len() < 2 || widths.len() > MAX_LAYERS + 1 {
        return false;
    }
    let mut i = 0;
    while i < widths.len() {
        if widths[i] == 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// Shape of a multi-layer perceptron: layer widths, hidden activation and whether the
/// activation is also applied to the input. `Copy`; the parameters live in caller slices.
///
/// Build one with [`Mlp::new`] (a `const fn`, so it also works in `const` items):
///
/// ```
/// use amortise_kernel::nn::{Activation, Mlp, mlp_param_count};
/// const NET: Mlp = match Mlp::new(&[2, 64, 64, 1], Activation::Gelu) {
///     Ok(net) => net,
///     Err(_) => panic!("bad widths"),
/// };
/// const P: usize = NET.param_count();
/// assert_eq!(P, mlp_param_count(&[2, 64, 64, 1]));
/// let params = [0.0f32; P];
/// # let _ = params;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mlp {
    widths: [usize; MAX_LAYERS + 1],
    n_layers: usize,
    hidden_act: Activation,
    input_act: bool,
}

impl Mlp {
    /// An MLP with the given widths `[w₀ (input), w₁, …, w_L (output)]`: `L = widths.len() − 1`
    /// linear layers, `hidden_act` after every layer but the last.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if there are fewer than two widths, more than
    /// `MAX_LAYERS + 1`, or a width is zero.
    pub const fn new(widths: &[usize], hidden_act: Activation) -> Result<Self, Error> {
        if widths.len() < 2 {
            return Err(Error::InvalidConfig("an MLP needs at least two widths"));
        }
        if widths.len() > MAX_LAYERS + 1 {
            return Err(Error::InvalidConfig("an MLP has at most MAX_LAYERS layers"));
        }
        if !widths_valid(widths) {
            return Err(Error::InvalidConfig("MLP widths must be >= 1"));
        }
        let mut w = [0usize; MAX_LAYERS + 1];
        let mut i = 0;
        while i < widths.len() {
            w[i] = widths[i];
            i += 1;
        }
        Ok(Self {
            widths: w,
            n_layers: widths.len() - 1,
            hidden_act,
            input_act: false,
        })
    }

    /// The same MLP with `hidden_act` applied to the input too, `a₀ = f(x)` (the PIS head,
    /// `GELU → Linear → … `, applied to the sum of the state and time embeddings).
    pub const fn with_input_activation(mut self) -> Self {
        self.input_act = true;
        self
    }

    /// The widths `[w₀, …, w_L]`.
    #[inline]
    pub fn widths(&self) -> &[usize] {
        &self.widths[..=self.n_layers]
    }

    /// Number of linear layers `L`.
    #[inline]
    pub const fn n_layers(&self) -> usize {
        self.n_layers
    }

    /// The hidden activation `f`.
    #[inline]
    pub const fn hidden_act(&self) -> Activation {
        self.hidden_act
    }

    /// Whether `f` is applied to the input.
    #[inline]
    pub const fn has_input_activation(&self) -> bool {
        self.input_act
    }

    /// Input width `w₀`.
    #[inline]
    pub const fn input_dim(&self) -> usize {
        self.widths[0]
    }

    /// Output width `w_L`.
    #[inline]
    pub const fn output_dim(&self) -> usize {
        self.widths[self.n_layers]
    }

    /// Layer `l` (`w_l → w_{l+1}`), or `None` if `l ≥ L`.
    #[inline]
    pub fn layer(&self, l: usize) -> Option<Linear> {
        if l < self.n_layers {
            Linear::new(self.widths[l], self.widths[l + 1]).ok()
        } else {
            None
        }
    }

    /// Offset of layer `l`'s parameters in the flat parameter vector,
    /// `Σ_{i<l} (wᵢ·wᵢ₊₁ + wᵢ₊₁)`; `param_offset(L) = param_count()`.
    pub const fn param_offset(&self, l: usize) -> usize {
        let mut total = 0usize;
        let mut i = 0;
        while i < l && i < self.n_layers {
            total = total.saturating_add(linear::param_count(self.widths[i], self.widths[i + 1]));
            i += 1;
        }
        total
    }

    /// Total number of parameters, `Σₗ (w_l·w_{l+1} + w_{l+1})`.
    #[inline]
    pub const fn param_count(&self) -> usize {
        self.param_offset(self.n_layers)
    }

    /// Length of the activation cache for a batch of `batch` rows:
    /// `B·(w₀·(1 + [input activation]) + 2·Σ_{l=1}^{L−1} w_l)`.
    pub const fn cache_len(&self, batch: usize) -> usize {
        let mut per_row = self.widths[0];
        if self.input_act {
            per_row = per_row.saturating_mul(2);
        }
        let mut l = 1;
        while l < self.n_layers {
            per_row = per_row.saturating_add(self.widths[l].saturating_mul(2));
            l += 1;
        }
        per_row.saturating_mul(batch)
    }

    /// Width of each scratch buffer per batch row: `max(w₁, …, w_{L−1})`, and `w₀` too with
    /// an input activation (0 for a single layer without one).
    pub const fn buf_width(&self) -> usize {
        let mut m = if self.input_act { self.widths[0] } else { 0 };
        let mut l = 1;
        while l < self.n_layers {
            if self.widths[l] > m {
                m = self.widths[l];
            }
            l += 1;
        }
        m
    }

    /// Length of the scratch space [`Mlp::backward`] and [`Mlp::predict`] need:
    /// `2·B·`[`buf_width`](Self::buf_width)`()`, i.e. `2·B·max(w₁, …, w_{L−1})`, with `w₀`
    /// joining the max when the input is activated.
    pub const fn scratch_len(&self, batch: usize) -> usize {
        self.buf_width().saturating_mul(batch).saturating_mul(2)
    }

    /// Forward pass on `batch` rows of `x` (`B × w₀`, row-major), writing `out`
    /// (`B × w_L`) and the activation cache that [`Mlp::backward`] reads (layout in the
    /// [module docs](self)).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params` is not [`param_count`](Self::param_count) long,
    /// `x` not `B·w₀`, `out` not `B·w_L`, or `cache` shorter than
    /// [`cache_len(B)`](Self::cache_len) (a longer cache is fine; the tail is untouched).
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        batch: usize,
        cache: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        check_len("mlp params", self.param_count(), params.len())?;
        check_len("mlp x", batch.saturating_mul(self.input_dim()), x.len())?;
        check_len(
            "mlp out",
            batch.saturating_mul(self.output_dim()),
            out.len(),
        )?;
        check_min_len("mlp cache", self.cache_len(batch), cache.len())?;
        let act = self.hidden_act;
        let n0 = batch * self.input_dim();
        let mut rest: &mut [f32] = cache;
        let mut d0: &mut [f32] = &mut [];
        if self.input_act {
            let (d, r) = core::mem::take(&mut rest).split_at_mut(n0);
            d0 = d;
            rest = r;
        }
        let (a0, r) = core::mem::take(&mut rest).split_at_mut(n0);
        if self.input_act {
            act.forward_with_derivative_from_raw(x, a0, d0);
        } else {
            a0.copy_from_slice(x);
        }
        rest = r;
        let mut a_prev: &[f32] = a0;
        let mut p_rest = params;
        for l in 0..self.n_layers {
            let lin = self.layer_unchecked(l);
            let (p, pr) = p_rest.split_at(lin.param_count());
            p_rest = pr;
            if l + 1 == self.n_layers {
                lin.forward_raw(p, a_prev, out);
            } else {
                let n = batch * lin.out();
                let (d, r) = core::mem::take(&mut rest).split_at_mut(n);
                let (a, r) = r.split_at_mut(n);
                rest = r;
                // z into `a`, then a = f(z), d = f'(z) in one pass
                lin.forward_raw(p, a_prev, a);
                act.forward_with_derivative_raw(a, d);
                a_prev = a;
            }
        }
        Ok(())
    }

    /// Inference-only forward pass: as [`Mlp::forward`] but without a cache, using
    /// `scratch` (at least [`scratch_len(B)`](Self::scratch_len)) for the hidden layers.
    /// Gives bit-identical outputs to [`Mlp::forward`].
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] as [`Mlp::forward`], or if `scratch` is too short.
    pub fn predict(
        &self,
        params: &[f32],
        x: &[f32],
        batch: usize,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        check_len("mlp params", self.param_count(), params.len())?;
        check_len("mlp x", batch.saturating_mul(self.input_dim()), x.len())?;
        check_len(
            "mlp out",
            batch.saturating_mul(self.output_dim()),
            out.len(),
        )?;
        check_min_len("mlp scratch", self.scratch_len(batch), scratch.len())?;
        let half = batch * self.buf_width();
        let (s0, s1) = scratch.split_at_mut(half);
        let mut bufs = [s0, &mut s1[..half]];
        let act = self.hidden_act;
        // `cur` = index of the buffer holding the current layer input; `None` while it is `x`.
        let mut cur: Option<usize> = None;
        if self.input_act {
            let n0 = batch * self.input_dim();
            act.apply_raw(x, &mut bufs[0][..n0]);
            cur = Some(0);
        }
        let mut p_rest = params;
        for l in 0..self.n_layers {
            let lin = self.layer_unchecked(l);
            let (p, pr) = p_rest.split_at(lin.param_count());
            p_rest = pr;
            let [b0, b1] = &mut bufs;
            let (src, dst): (&[f32], &mut [f32]) = match cur {
                Some(0) => (&**b0, &mut **b1),
                _ => (&**b1, &mut **b0),
            };
            let input: &[f32] = match cur {
                None => x,
                Some(_) => &src[..batch * lin.inp()],
            };
            if l + 1 == self.n_layers {
                lin.forward_raw(p, input, out);
            } else {
                let z = &mut dst[..batch * lin.out()];
                lin.forward_raw(p, input, z);
                act.apply_in_place(z);
                cur = Some(match cur {
                    Some(0) => 1,
                    _ => 0,
                });
            }
        }
        Ok(())
    }

    /// Backward pass from `dout = ∂L/∂y` (`B × w_L`) through the `tape` (the cache and
    /// batch `B`) of the matching [`Mlp::forward`] call (same `params`).
    ///
    /// - **Accumulates** (`+=`) the parameter gradient into `out.params` (parameter layout);
    /// - if `out.input` is given, **writes** (overwrites) the input gradient `∂L/∂x`
    ///   (`B × w₀`), as needed for Langevin terms and VGS drifts.
    ///
    /// `scratch` needs at least [`scratch_len(B)`](Self::scratch_len) values; its contents
    /// on entry are ignored and on exit unspecified. The cache is not modified, so several
    /// backward passes (different `dout`) may follow one forward pass.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params` or `grads` is not `param_count` long, `dout`
    /// not `B·w_L`, `dinput` not `B·w₀`, or `cache`/`scratch` too short.
    pub fn backward(
        &self,
        params: &[f32],
        tape: Tape<'_>,
        dout: &[f32],
        out: Grads<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let Tape { cache, batch } = tape;
        let Grads {
            params: grads,
            input: mut dinput,
        } = out;
        check_len("mlp params", self.param_count(), params.len())?;
        check_len("mlp grads", self.param_count(), grads.len())?;
        check_len(
            "mlp dout",
            batch.saturating_mul(self.output_dim()),
            dout.len(),
        )?;
        if let Some(d) = dinput.as_deref() {
            check_len(
                "mlp dinput",
                batch.saturating_mul(self.input_dim()),
                d.len(),
            )?;
        }
        check_min_len("mlp cache", self.cache_len(batch), cache.len())?;
        check_min_len("mlp scratch", self.scratch_len(batch), scratch.len())?;

        // Cache offsets: a_l at a_off[l], f'(z_l) at z_off[l] (l ≥ 1, or l = 0 with input act).
        let mut a_off = [0usize; MAX_LAYERS];
        let mut z_off = [0usize; MAX_LAYERS];
        let n0 = batch * self.input_dim();
        let mut off = 0;
        if self.input_act {
            z_off[0] = 0;
            off = n0;
        }
        a_off[0] = off;
        off += n0;
        for l in 1..self.n_layers {
            let n = batch * self.widths[l];
            z_off[l] = off;
            a_off[l] = off + n;
            off += 2 * n;
        }

        let half = batch * self.buf_width();
        let (s0, s1) = scratch.split_at_mut(half);
        let mut bufs = [s0, &mut s1[..half]];
        // `cur` = index of the buffer holding δ_{l+1}; `None` while δ is `dout`.
        let mut cur: Option<usize> = None;
        for l in (0..self.n_layers).rev() {
            let lin = self.layer_unchecked(l);
            let po = self.param_offset(l);
            let pn = lin.param_count();
            let p = &params[po..po + pn];
            let g = &mut grads[po..po + pn];
            let n_in = batch * lin.inp();
            let a = &cache[a_off[l]..a_off[l] + n_in];
            let [b0, b1] = &mut bufs;
            let (src, dst): (&[f32], &mut [f32]) = match cur {
                Some(0) => (b0, b1),
                _ => (b1, b0),
            };
            let delta: &[f32] = match cur {
                None => dout,
                Some(_) => &src[..batch * lin.out()],
            };
            if l > 0 {
                let fp = &cache[z_off[l]..z_off[l] + n_in];
                let next = &mut dst[..n_in];
                lin.backward_raw(p, a, delta, g, Some(&mut *next));
                mul_in_place(next, fp);
                cur = Some(match cur {
                    Some(0) => 1,
                    _ => 0,
                });
            } else {
                match dinput.as_deref_mut() {
                    Some(d) => {
                        lin.backward_raw(p, a, delta, g, Some(&mut *d));
                        if self.input_act {
                            mul_in_place(d, &cache[z_off[0]..z_off[0] + n_in]);
                        }
                    }
                    None => lin.backward_raw(p, a, delta, g, None),
                }
            }
        }
        Ok(())
    }

    /// Layer `l` for `l < L` (widths are validated non-zero at construction).
    #[inline]
    fn layer_unchecked(&self, l: usize) -> Linear {
        Linear::from_widths_unchecked(self.widths[l], self.widths[l + 1])
    }
}

/// `d[i] *= fp[i]`: the activation's derivative, cached by the forward pass, applied to an
/// upstream gradient.
#[inline]
fn mul_in_place(d: &mut [f32], fp: &[f32]) {
    for (di, &f) in d.iter_mut().zip(fp) {
        *di *= f;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::LastLayerInit;
    use crate::nn::testutil::randn;
    use crate::rng::seeded;
    use std::vec;

    #[test]
    fn counts_and_const_use() {
        const NET: Mlp = match Mlp::new(&[2, 64, 64, 1], Activation::Gelu) {
            Ok(n) => n,
            Err(_) => panic!("bad widths"),
        };
        const P: usize = NET.param_count();
        assert_eq!(P, 2 * 64 + 64 + 64 * 64 + 64 + 64 + 1);
        assert_eq!(mlp_param_count(&[2, 64, 64, 1]), P);
        // the PIS policy's pieces: t-net 128→64→64, head 64→64→64→4, x-net 2→64
        assert_eq!(
            mlp_param_count(&[128, 64, 64])
                + mlp_param_count(&[64, 64, 64, 4])
                + mlp_param_count(&[2, 64])
                + 64,
            21_252
        );
        assert_eq!(mlp_param_count(&[3]), 0);
        assert_eq!(mlp_param_count(&[3, 0, 1]), 0);
        let net = Mlp::new(&[3, 5, 4, 2], Activation::Tanh).unwrap();
        assert_eq!(net.widths(), &[3, 5, 4, 2]);
        assert_eq!(net.n_layers(), 3);
        assert_eq!((net.input_dim(), net.output_dim()), (3, 2));
        assert_eq!(net.cache_len(7), 7 * (3 + 2 * 5 + 2 * 4));
        assert_eq!(net.scratch_len(7), 2 * 7 * 5);
        let ia = net.with_input_activation();
        assert_eq!(ia.cache_len(7), 7 * (6 + 2 * 5 + 2 * 4));
        let wide_in = Mlp::new(&[9, 5, 2], Activation::Relu).unwrap();
        assert_eq!(wide_in.scratch_len(1), 10);
        assert_eq!(wide_in.with_input_activation().scratch_len(1), 18);
        assert_eq!(net.param_offset(1), 3 * 5 + 5);
        assert!(net.layer(3).is_none());
    }

    #[test]
    fn construction_errors() {
        assert!(matches!(
            Mlp::new(&[3], Activation::Relu),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Mlp::new(&[3, 0, 2], Activation::Relu),
            Err(Error::InvalidConfig(_))
        ));
        let too_deep = [2usize; MAX_LAYERS + 2];
        assert!(matches!(
            Mlp::new(&too_deep, Activation::Relu),
            Err(Error::InvalidConfig(_))
        ));
        assert!(Mlp::new(&[2usize; MAX_LAYERS + 1], Activation::Relu).is_ok());
    }

    /// Loss `L = Σ c ⊙ y` in f64, so `∂L/∂y = c`.
    fn loss(net: &Mlp, p: &[f32], x: &[f32], batch: usize, c: &[f32]) -> f64 {
        let mut cache = vec![0.0; net.cache_len(batch)];
        let mut out = vec![0.0; batch * net.output_dim()];
        net.forward(p, x, batch, &mut cache, &mut out).unwrap();
        out.iter().zip(c).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    fn gradcheck(net: &Mlp, seed: u64) {
        let batch = 3;
        let mut p = vec![0.0; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut seeded(seed))
            .unwrap();
        // larger weights than the default so the nonlinearities matter
        for v in p.iter_mut() {
            *v *= 2.0;
        }
        let x = randn(batch * net.input_dim(), seed + 1);
        let c = randn(batch * net.output_dim(), seed + 2);
        let mut cache = vec![0.0; net.cache_len(batch)];
        let mut out = vec![0.0; batch * net.output_dim()];
        net.forward(&p, &x, batch, &mut cache, &mut out).unwrap();
        let mut g = vec![0.0f32; net.param_count()];
        let mut dx = vec![f32::NAN; x.len()];
        let mut scratch = vec![f32::NAN; net.scratch_len(batch)];
        net.backward(
            &p,
            Tape {
                cache: &cache,
                batch,
            },
            &c,
            Grads {
                params: &mut g,
                input: Some(&mut dx),
            },
            &mut scratch,
        )
        .unwrap();
        let h = 1e-2f32;
        let check = |num: f64, ana: f64, what: &str, i: usize| {
            let tol = 3e-3 * num.abs().max(ana.abs()) + 1e-3;
            assert!(
                (num - ana).abs() <= tol,
                "{:?} input-act {} {what}[{i}]: numeric {num}, analytic {ana}",
                net.hidden_act(),
                net.has_input_activation()
            );
        };
        for i in 0..p.len() {
            let mut pp = p.clone();
            pp[i] = p[i] + h;
            let lp = loss(net, &pp, &x, batch, &c);
            pp[i] = p[i] - h;
            let lm = loss(net, &pp, &x, batch, &c);
            check(
                (lp - lm) / ((p[i] + h) as f64 - (p[i] - h) as f64),
                g[i] as f64,
                "param",
                i,
            );
        }
        for i in 0..x.len() {
            let mut xx = x.clone();
            xx[i] = x[i] + h;
            let lp = loss(net, &p, &xx, batch, &c);
            xx[i] = x[i] - h;
            let lm = loss(net, &p, &xx, batch, &c);
            check(
                (lp - lm) / ((x[i] + h) as f64 - (x[i] - h) as f64),
                dx[i] as f64,
                "input",
                i,
            );
        }
        // accumulation: a second backward doubles the gradient; None skips dx
        let g1 = g.clone();
        net.backward(
            &p,
            Tape {
                cache: &cache,
                batch,
            },
            &c,
            Grads {
                params: &mut g,
                input: None,
            },
            &mut scratch,
        )
        .unwrap();
        for (a, b) in g.iter().zip(&g1) {
            assert!((a - 2.0 * b).abs() <= 1e-5 * (1.0 + b.abs()));
        }
        // predict agrees bit for bit with forward
        let mut out2 = vec![0.0; out.len()];
        net.predict(&p, &x, batch, &mut scratch, &mut out2).unwrap();
        assert_eq!(out, out2);
    }

    #[test]
    fn gradcheck_every_activation() {
        for (k, act) in Activation::ALL.into_iter().enumerate() {
            let net = Mlp::new(&[3, 5, 4, 2], act).unwrap();
            gradcheck(&net, 10 + k as u64);
            gradcheck(&net.with_input_activation(), 20 + k as u64);
        }
        // single layer, and a deep narrow one
        gradcheck(&Mlp::new(&[4, 3], Activation::Gelu).unwrap(), 31);
        gradcheck(
            &Mlp::new(&[4, 3], Activation::Gelu)
                .unwrap()
                .with_input_activation(),
            32,
        );
        gradcheck(
            &Mlp::new(&[2, 6, 3, 7, 2, 1], Activation::Silu).unwrap(),
            33,
        );
    }

    #[test]
    fn shape_errors() {
        let net = Mlp::new(&[3, 5, 2], Activation::Gelu).unwrap();
        let b = 2;
        let p = vec![0.0; net.param_count()];
        let x = vec![0.0; b * 3];
        let mut cache = vec![0.0; net.cache_len(b)];
        let mut out = vec![0.0; b * 2];
        let mut g = vec![0.0; net.param_count()];
        let mut s = vec![0.0; net.scratch_len(b)];
        let sm = |r: Result<(), Error>| matches!(r, Err(Error::ShapeMismatch { .. }));
        assert!(sm(net.forward(&p[1..], &x, b, &mut cache, &mut out)));
        assert!(sm(net.forward(&p, &x[1..], b, &mut cache, &mut out)));
        assert!(sm(net.forward(&p, &x, b, &mut cache[1..], &mut out)));
        assert!(sm(net.forward(&p, &x, b, &mut cache, &mut out[1..])));
        assert!(sm(net.forward(&p, &x, usize::MAX, &mut cache, &mut out)));
        // a longer cache is fine
        let mut big = vec![0.0; net.cache_len(b) + 5];
        net.forward(&p, &x, b, &mut big, &mut out).unwrap();
        net.forward(&p, &x, b, &mut cache, &mut out).unwrap();
        assert!(sm(net.backward(
            &p,
            Tape {
                cache: &cache,
                batch: b
            },
            &out[1..],
            Grads {
                params: &mut g,
                input: None
            },
            &mut s
        )));
        assert!(sm(net.backward(
            &p,
            Tape {
                cache: &cache,
                batch: b
            },
            &out,
            Grads {
                params: &mut g[1..],
                input: None
            },
            &mut s
        )));
        assert!(sm(net.backward(
            &p,
            Tape {
                cache: &cache[1..],
                batch: b
            },
            &out,
            Grads {
                params: &mut g,
                input: None
            },
            &mut s
        )));
        assert!(sm(net.backward(
            &p,
            Tape {
                cache: &cache,
                batch: b
            },
            &out,
            Grads {
                params: &mut g,
                input: None
            },
            &mut s[1..]
        )));
        let mut dx = vec![0.0; 5];
        assert!(sm(net.backward(
            &p,
            Tape {
                cache: &cache,
                batch: b
            },
            &out,
            Grads {
                params: &mut g,
                input: Some(&mut dx)
            },
            &mut s
        )));
        assert!(sm(net.predict(&p, &x, b, &mut s[1..], &mut out)));
        // empty batch is a no-op
        net.forward(&p, &[], 0, &mut [], &mut []).unwrap();
        net.backward(
            &p,
            Tape {
                cache: &[],
                batch: 0,
            },
            &[],
            Grads {
                params: &mut g,
                input: None,
            },
            &mut [],
        )
        .unwrap();
    }
}
