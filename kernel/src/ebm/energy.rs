//! An MLP energy `E_θ : ℝ^d → ℝ` viewed as the unnormalised density `p̃ = exp(−E_θ)`.
//!
//! [`EnergyFn`] borrows an [`Mlp`] shape (output width 1) and its parameters and implements
//! [`LogDensity`] with `log p̃(x) = −E_θ(x)` and `∇ₓ log p̃ = −∇ₓE_θ`, so the VGS sampler can
//! be trained against the current energy. Evaluation is one row at a time on the stack
//! (no allocation, no shared scratch): widths are capped at [`MAX_WIDTH`]. The input
//! gradient is the reverse pass of the [`mlp`](crate::nn::mlp) module docs without the
//! parameter terms: `δ_L = 1`, `δₗ = (δₗ₊₁·Wₗᵀ) ⊙ f'(zₗ)`, `∇ₓE = δ₁·W₀ᵀ`.

use crate::error::Error;
use crate::nn::{Linear, MAX_LAYERS, Mlp};
use crate::rng::Rng;
use crate::targets::LogDensity;

/// Largest layer width an [`EnergyFn`] evaluates (stack buffers of this size per layer).
pub const MAX_WIDTH: usize = 256;

/// `log p̃ = −E_θ` for an MLP energy; see the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub struct EnergyFn<'a> {
    net: Mlp,
    params: &'a [f32],
}

impl<'a> EnergyFn<'a> {
    /// The energy with shape `net` and parameters `params`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the output width is not 1 or the net has an input
    /// activation; [`Error::CapacityExceeded`] if a width exceeds [`MAX_WIDTH`];
    /// [`Error::ShapeMismatch`] if `params` is not `net.param_count()` long.
    pub fn new(net: Mlp, params: &'a [f32]) -> Result<Self, Error> {
        Self::check_net(&net)?;
        crate::error::check_len("energy params", net.param_count(), params.len())?;
        Ok(EnergyFn { net, params })
    }

    /// Checks that `net` can be an energy: one output, no input activation, widths at most
    /// [`MAX_WIDTH`].
    ///
    /// # Errors
    /// As [`EnergyFn::new`], except the parameter length.
    pub fn check_net(net: &Mlp) -> Result<(), Error> {
        if net.output_dim() != 1 || net.has_input_activation() {
            return Err(Error::InvalidConfig(
                "an energy MLP has one output and no input activation",
            ));
        }
        if net.widths().iter().any(|&w| w > MAX_WIDTH) {
            return Err(Error::CapacityExceeded {
                what: "energy MLP width",
                capacity: MAX_WIDTH,
            });
        }
        Ok(())
    }

    /// `E_θ(x)`, and `∇ₓE_θ(x)` into `grad` if given. `x` (and `grad`) have length `d`,
    /// checked by `debug_assert!` (the [`LogDensity`] contract).
    pub fn energy(&self, x: &[f32], grad: Option<&mut [f32]>) -> f32 {
        let net = self.net;
        let nl = net.n_layers();
        let act = net.hidden_act();
        debug_assert_eq!(x.len(), net.input_dim());
        // z[l] = pre-activation output of layer l (l < L − 1); a = activations ping-pong
        let mut z = [[0.0f32; MAX_WIDTH]; MAX_LAYERS];
        let mut a = [[0.0f32; MAX_WIDTH]; 2];
        let d = net.input_dim();
        a[0][..d].copy_from_slice(x);
        let mut e = [0.0f32; 1];
        let mut off = 0;
        for l in 0..nl {
            let lin = self.layer(l);
            let p = &self.params[off..off + lin.param_count()];
            off += lin.param_count();
            let (cur, nxt) = a.split_at_mut(1);
            let (src, dst) = if l.is_multiple_of(2) {
                (&cur[0][..lin.inp()], &mut nxt[0][..lin.out()])
            } else {
                (&nxt[0][..lin.inp()], &mut cur[0][..lin.out()])
            };
            if l + 1 == nl {
                // lengths match by construction
                let _ = lin.forward(p, src, 1, &mut e);
            } else {
                let zl = &mut z[l][..lin.out()];
                let _ = lin.forward(p, src, 1, zl);
                for (o, &v) in dst.iter_mut().zip(zl.iter()) {
                    *o = act.eval(v);
                }
            }
        }
        if let Some(g) = grad {
            debug_assert_eq!(g.len(), d);
            // δ over the output of layer l, starting at δ_L = 1
            let mut delta = [[0.0f32; MAX_WIDTH]; 2];
            delta[0][0] = 1.0;
            let mut off = self.params.len();
            for l in (0..nl).rev() {
                let lin = self.layer(l);
                off -= lin.param_count();
                let w = &self.params[off..off + lin.inp() * lin.out()];
                let (c0, c1) = delta.split_at_mut(1);
                let (dy, dx) = if (nl - 1 - l).is_multiple_of(2) {
                    (&c0[0][..lin.out()], &mut c1[0][..lin.inp()])
                } else {
                    (&c1[0][..lin.out()], &mut c0[0][..lin.inp()])
                };
                for (k, o) in dx.iter_mut().enumerate() {
                    let row = &w[k * lin.out()..(k + 1) * lin.out()];
                    *o = row.iter().zip(dy.iter()).map(|(&wv, &dv)| wv * dv).sum();
                }
                if l > 0 {
                    for (o, &zv) in dx.iter_mut().zip(z[l - 1].iter()) {
                        *o *= act.derivative(zv);
                    }
                } else {
                    g.copy_from_slice(dx);
                }
            }
        }
        e[0]
    }

    fn layer(&self, l: usize) -> Linear {
        // l < n_layers by the callers' loops; widths are non-zero (checked by `Mlp::new`)
        let w = self.net.widths();
        Linear::from_widths_unchecked(w[l], w[l + 1])
    }
}

impl LogDensity for EnergyFn<'_> {
    fn dim(&self) -> usize {
        self.net.input_dim()
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        let e = self.energy(x, None);
        if e.is_nan() { f32::NEG_INFINITY } else { -e }
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        let e = self.energy(x, Some(&mut *grad));
        for g in grad.iter_mut() {
            *g = if g.is_finite() { -*g } else { 0.0 };
        }
        if e.is_nan() { f32::NEG_INFINITY } else { -e }
    }

    fn log_z(&self) -> Option<f64> {
        None
    }

    fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
        Err(Error::Unsupported("an energy model has no exact sampler"))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::{Activation, Grads, LastLayerInit, Tape};
    use crate::rng::{fill_standard_normal, seeded};
    use std::vec;

    #[test]
    fn matches_mlp_forward_and_backward() {
        for (widths, act) in [
            (&[2usize, 16, 16, 1][..], Activation::Silu),
            (&[3, 8, 1][..], Activation::Tanh),
            (&[2, 1][..], Activation::Silu),
        ] {
            let net = Mlp::new(widths, act).unwrap();
            let mut rng = seeded(7);
            let mut p = vec![0.0f32; net.param_count()];
            net.init(&mut p, LastLayerInit::Default, &mut rng).unwrap();
            let ef = EnergyFn::new(net, &p).unwrap();
            let d = widths[0];
            let mut x = vec![0.0f32; d];
            fill_standard_normal(&mut rng, &mut x);
            let mut cache = vec![0.0f32; net.cache_len(1)];
            let mut scratch = vec![0.0f32; net.scratch_len(1)];
            let mut out = [0.0f32];
            net.forward(&p, &x, 1, &mut cache, &mut out).unwrap();
            let mut g = vec![0.0f32; d];
            let e = ef.energy(&x, Some(&mut g));
            assert!(
                (e - out[0]).abs() <= 1e-5 * (1.0 + e.abs()),
                "{e} {}",
                out[0]
            );
            let mut sink = vec![0.0f32; p.len()];
            let mut gi = vec![0.0f32; d];
            net.backward(
                &p,
                Tape {
                    cache: &cache,
                    batch: 1,
                },
                &[1.0],
                Grads {
                    params: &mut sink,
                    input: Some(&mut gi),
                },
                &mut scratch,
            )
            .unwrap();
            for (a, b) in g.iter().zip(&gi) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} {b}");
            }
            // log density is −E, and its gradient is −∇E (finite differences)
            let mut lg = vec![0.0f32; d];
            assert_eq!(ef.log_density_grad(&x, &mut lg), -e);
            let h = 1e-2f32;
            for j in 0..d {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[j] += h;
                xm[j] -= h;
                let fd =
                    (ef.log_density(&xp) as f64 - ef.log_density(&xm) as f64) / (2.0 * h as f64);
                assert!(
                    (fd - lg[j] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                    "{fd} {}",
                    lg[j]
                );
            }
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let net = Mlp::new(&[2, 4, 2], Activation::Silu).unwrap();
        assert!(EnergyFn::new(net, &[0.0; 22]).is_err());
        let net = Mlp::new(&[2, 300, 1], Activation::Silu).unwrap();
        let p = vec![0.0; net.param_count()];
        assert!(matches!(
            EnergyFn::new(net, &p),
            Err(Error::CapacityExceeded { .. })
        ));
        let net = Mlp::new(&[2, 4, 1], Activation::Silu).unwrap();
        assert!(EnergyFn::new(net, &[0.0; 3]).is_err());
        let p = [0.0f32; 17];
        let ef = EnergyFn::new(net, &p).unwrap();
        assert!(ef.sample(&mut seeded(0), &mut [0.0; 2]).is_err());
        assert_eq!(ef.log_density(&[1.0, 2.0]), 0.0);
    }
}
