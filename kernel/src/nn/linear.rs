//! The dense (fully connected) layer over caller-owned flat slices.
//!
//! A layer with `inp` inputs and `out` outputs owns [`param_count(inp, out)`](param_count)
//! parameters, laid out as
//!
//! ```text
//! params = [ W[0][0..out], W[1][0..out], …, W[inp-1][0..out] | b[0..out] ]
//! ```
//!
//! i.e. the weight matrix `W ∈ ℝ^{inp×out}` row-major (row `k` holds the weights leaving input
//! `k`, so `y[b, :] += x[b, k]·W[k, :]` reads contiguous memory), then the bias. This is the
//! transpose of PyTorch's `nn.Linear.weight` (`[out][inp]`). Batches are row-major too:
//! `X ∈ ℝ^{B×inp}` with row `b` at `x[b·inp .. (b+1)·inp]`.
//!
//! Forward: `Y = X·W + 1·bᵀ`. Backward, given `dY = ∂L/∂Y`:
//! `dW += Xᵀ·dY`, `db += 1ᵀ·dY` (accumulated), and `dX = dY·Wᵀ` (written).
//!
//! The products are register-blocked (`R × C` tiles of accumulators that LLVM keeps in
//! vector registers). Every output element is nevertheless a plain sequential sum in a
//! fixed order (bias or old gradient or zero first, then increasing `k`, `b` or `j`), as in
//! the naive triple loop, so results are deterministic, independent of how a batch is split
//! and identical on every target.

use super::Grads;
use super::gemm;
use crate::error::{Error, check_len};

/// Number of parameters of a dense layer: `inp·out + out` (saturating, so an absurd size
/// never wraps around and always fails a later length check).
#[inline]
pub const fn param_count(inp: usize, out: usize) -> usize {
    inp.saturating_mul(out).saturating_add(out)
}

/// A dense layer's shape (`inp → out`); the parameters live in a caller-owned slice.
///
/// Both widths are at least 1 (checked by [`Linear::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Linear {
    inp: usize,
    out: usize,
}

impl Linear {
    /// A layer mapping `inp` features to `out` features.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if either width is zero.
    pub const fn new(inp: usize, out: usize) -> Result<Self, Error> {
        if inp == 0 || out == 0 {
            return Err(Error::InvalidConfig("linear layer widths must be >= 1"));
        }
        Ok(Self { inp, out })
    }

    /// A layer from widths the caller has already checked to be non-zero.
    #[inline]
    pub(crate) const fn from_widths_unchecked(inp: usize, out: usize) -> Self {
        debug_assert!(inp > 0 && out > 0);
        Self { inp, out }
    }

    /// Input width.
    #[inline]
    pub const fn inp(&self) -> usize {
        self.inp
    }

    /// Output width.
    #[inline]
    pub const fn out(&self) -> usize {
        self.out
    }

    /// Number of parameters, [`param_count`]`(inp, out)`.
    #[inline]
    pub const fn param_count(&self) -> usize {
        param_count(self.inp, self.out)
    }

    /// Batched forward pass `Y[B, out] = X[B, inp]·W + b`; `y` is overwritten.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != param_count`, `x.len() != batch·inp` or
    /// `y.len() != batch·out`.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        batch: usize,
        y: &mut [f32],
    ) -> Result<(), Error> {
        check_len("linear params", self.param_count(), params.len())?;
        check_len("linear x", batch.saturating_mul(self.inp), x.len())?;
        check_len("linear y", batch.saturating_mul(self.out), y.len())?;
        self.forward_raw(params, x, y);
        Ok(())
    }

    /// Batched backward pass, given the forward input `x` and `dy = ∂L/∂Y`:
    ///
    /// - `out.params[W] += Xᵀ·dY`, i.e. `dW[k][j] += Σ_b x[b,k]·dy[b,j]` (**accumulated**);
    /// - `out.params[b] += Σ_b dy[b, :]` (**accumulated**);
    /// - if `out.input` is given, `dx = dY·Wᵀ`, i.e. `dx[b,k] = Σ_j W[k][j]·dy[b,j]`
    ///   (**overwritten**, not accumulated).
    ///
    /// `grads` has the parameter layout of the [module docs](self).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params` or `grads` is not `param_count` long, `x` or `dx`
    /// not `batch·inp`, or `dy` not `batch·out`.
    pub fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        batch: usize,
        dy: &[f32],
        out: Grads<'_>,
    ) -> Result<(), Error> {
        let Grads {
            params: grads,
            input: dx,
        } = out;
        check_len("linear params", self.param_count(), params.len())?;
        check_len("linear grads", self.param_count(), grads.len())?;
        check_len("linear x", batch.saturating_mul(self.inp), x.len())?;
        check_len("linear dy", batch.saturating_mul(self.out), dy.len())?;
        if let Some(dx) = dx.as_deref() {
            check_len("linear dx", batch.saturating_mul(self.inp), dx.len())?;
        }
        self.backward_raw(params, x, dy, grads, dx);
        Ok(())
    }

    /// Forward without length checks: the caller guarantees
    /// `params.len() == param_count`, `x.len() == B·inp`, `y.len() == B·out`.
    pub(crate) fn forward_raw(&self, params: &[f32], x: &[f32], y: &mut [f32]) {
        let (inp, out) = (self.inp, self.out);
        debug_assert_eq!(params.len(), self.param_count());
        debug_assert_eq!(x.len() / inp, y.len() / out);
        let (w, bias) = params.split_at(inp * out);
        gemm::forward(x, w, bias, inp, out, y);
    }

    /// Backward without length checks (see [`Linear::backward`] for the contract).
    pub(crate) fn backward_raw(
        &self,
        params: &[f32],
        x: &[f32],
        dy: &[f32],
        grads: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        let (inp, out) = (self.inp, self.out);
        debug_assert_eq!(params.len(), self.param_count());
        debug_assert_eq!(grads.len(), self.param_count());
        debug_assert_eq!(x.len() / inp, dy.len() / out);
        let (gw, gb) = grads.split_at_mut(inp * out);
        for dyr in dy.chunks_exact(out) {
            for (gbj, &d) in gb.iter_mut().zip(dyr) {
                *gbj += d;
            }
        }
        gemm::weight_grad(x, dy, inp, out, gw);
        if let Some(dx) = dx {
            gemm::input_grad(dy, &params[..inp * out], inp, out, dx);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::testutil::randn;
    use std::vec;

    #[test]
    fn forward_by_hand() {
        // inp 2, out 3: W = [[1, 2, 3], [4, 5, 6]], b = [0.5, -1, 0]
        let l = Linear::new(2, 3).unwrap();
        let p = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, -1.0, 0.0];
        let x = [1.0, -1.0, 0.5, 2.0];
        let mut y = [0.0; 6];
        l.forward(&p, &x, 2, &mut y).unwrap();
        assert_eq!(y, [-2.5, -4.0, -3.0, 9.0, 10.0, 13.5]);
        assert_eq!(param_count(2, 3), 9);
        assert_eq!(l.param_count(), 9);
    }

    /// Loss `L = Σ c ⊙ Y` with random `c`: `∂L/∂Y = c`.
    fn loss(l: &Linear, p: &[f32], x: &[f32], batch: usize, c: &[f32]) -> f64 {
        let mut y = vec![0.0; batch * l.out()];
        l.forward(p, x, batch, &mut y).unwrap();
        y.iter().zip(c).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    fn assert_close(num: f64, ana: f64, what: &str) {
        // a linear map: central differences are exact up to f32 rounding
        let tol = 1e-3 * num.abs().max(ana.abs()) + 1e-3;
        assert!(
            (num - ana).abs() <= tol,
            "{what}: numeric {num}, analytic {ana}"
        );
    }

    #[test]
    fn gradcheck_weights_bias_and_input() {
        let (inp, out, batch) = (4, 3, 5);
        let l = Linear::new(inp, out).unwrap();
        let p = randn(l.param_count(), 3);
        let x = randn(batch * inp, 4);
        let c = randn(batch * out, 5);
        // accumulate on top of a non-zero gradient to check `+=`
        let mut g = vec![0.25f32; l.param_count()];
        let mut dx = vec![f32::NAN; batch * inp]; // overwritten, so NaN must disappear
        l.backward(
            &p,
            &x,
            batch,
            &c,
            Grads {
                params: &mut g,
                input: Some(&mut dx),
            },
        )
        .unwrap();
        let h = 1e-2f32;
        for i in 0..p.len() {
            let mut pp = p.clone();
            pp[i] += h;
            let lp = loss(&l, &pp, &x, batch, &c);
            pp[i] -= 2.0 * h;
            let lm = loss(&l, &pp, &x, batch, &c);
            assert_close((lp - lm) / (2.0 * h as f64), g[i] as f64 - 0.25, "param");
        }
        for i in 0..x.len() {
            let mut xx = x.clone();
            xx[i] += h;
            let lp = loss(&l, &p, &xx, batch, &c);
            xx[i] -= 2.0 * h;
            let lm = loss(&l, &p, &xx, batch, &c);
            assert_close((lp - lm) / (2.0 * h as f64), dx[i] as f64, "input");
        }
        // a second backward accumulates the same amount again
        let g1 = g.clone();
        l.backward(
            &p,
            &x,
            batch,
            &c,
            Grads {
                params: &mut g,
                input: None,
            },
        )
        .unwrap();
        for (a, b) in g.iter().zip(&g1) {
            assert!(((a - 0.25) - 2.0 * (b - 0.25)).abs() < 1e-4);
        }
    }

    #[test]
    fn shape_errors() {
        assert!(matches!(Linear::new(0, 3), Err(Error::InvalidConfig(_))));
        let l = Linear::new(2, 3).unwrap();
        let p = [0.0; 9];
        let mut y = [0.0; 6];
        assert!(matches!(
            l.forward(&p[..8], &[0.0; 4], 2, &mut y),
            Err(Error::ShapeMismatch {
                expected: 9,
                got: 8,
                ..
            })
        ));
        assert!(matches!(
            l.forward(&p, &[0.0; 3], 2, &mut y),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            l.forward(&p, &[0.0; 4], 2, &mut y[..5]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            l.forward(&p, &[0.0; 4], usize::MAX, &mut y),
            Err(Error::ShapeMismatch { .. })
        ));
        let mut g = [0.0; 9];
        let mut dx = [0.0; 3];
        assert!(matches!(
            l.backward(
                &p,
                &[0.0; 4],
                2,
                &[0.0; 6],
                Grads {
                    params: &mut g,
                    input: Some(&mut dx)
                }
            ),
            Err(Error::ShapeMismatch {
                what: "linear dx",
                ..
            })
        ));
        assert!(matches!(
            l.backward(
                &p,
                &[0.0; 4],
                2,
                &[0.0; 5],
                Grads {
                    params: &mut g,
                    input: None
                }
            ),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
