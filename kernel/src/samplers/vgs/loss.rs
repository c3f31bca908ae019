//! The TD regression loss of VGS (Yoon et al. 2025, `value_update_step_TD`; report B1.2):
//! `ℓ(V_φ(x_t, t)/D, y_t/D)` averaged over the minibatch, with `ℓ` the squared error
//! (`l2`, the default) or the smooth-L1 (Huber, β = 1; DW-4 and LJ-13). Dividing by the
//! effective dimension `D` keeps the loss scale independent of the dimension.
//!
//! ```text
//! l2:        ℓ(δ) = δ²,                       ℓ'(δ) = 2δ
//! smooth_l1: ℓ(δ) = ½δ² if |δ| < 1, |δ| − ½,   ℓ'(δ) = clamp(δ, −1, 1)
//! ```

use super::net::{ValueGrads, ValueInput, ValueNet};
use crate::error::{Error, check_len};

/// The TD regression loss `ℓ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdLoss {
    /// Squared error (`torch.nn.functional.mse_loss`).
    L2,
    /// Smooth L1 with β = 1 (`torch.nn.functional.smooth_l1_loss`).
    SmoothL1,
}

impl TdLoss {
    /// `(ℓ(δ), ℓ'(δ))`.
    #[inline]
    pub fn value_and_grad(self, d: f32) -> (f32, f32) {
        match self {
            TdLoss::L2 => (d * d, 2.0 * d),
            TdLoss::SmoothL1 => {
                if d.abs() < 1.0 {
                    (0.5 * d * d, d)
                } else {
                    (d.abs() - 0.5, d.signum())
                }
            }
        }
    }
}

/// Buffers of one TD minibatch gradient (rows `B`).
#[derive(Debug)]
pub struct TdBatch<'a> {
    /// Network cache, at least `net.cache_len(B)`.
    pub cache: &'a mut [f32],
    /// Network scratch, at least `net.scratch_len(B)`.
    pub scratch: &'a mut [f32],
    /// Network outputs (`B`), written.
    pub out: &'a mut [f32],
    /// `∂L/∂out` (`B`), written.
    pub dout: &'a mut [f32],
}

/// The inputs of one TD minibatch of `B` rows.
#[derive(Clone, Copy, Debug)]
pub struct TdInputs<'a> {
    /// Features, `B × F`.
    pub feat: &'a [f32],
    /// Step index of each row, `B`.
    pub t: &'a [u32],
    /// Fixed TD targets `y`, `B`.
    pub y: &'a [f32],
}

/// The loss settings of a TD minibatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdSpec {
    /// The regression loss `ℓ`.
    pub loss: TdLoss,
    /// Effective dimension `D ≥ 1`.
    pub d_eff: usize,
    /// Whether `V = D·net` (else `V = net`).
    pub scale_with_d: bool,
}

/// One TD minibatch: the loss `L = (1/B) Σ_b ℓ(V(x_b, t_b)/D − y_b/D)` of the value network
/// on features `inputs.feat` (`B × F`) and steps `inputs.t` against fixed targets
/// `inputs.y` (`B`), with `V = D·net` when `spec.scale_with_d` and `V = net` otherwise.
/// **Accumulates** `∂L/∂φ` into `grads` and returns `L` (in `f64`).
///
/// # Errors
/// Shape errors from the network; [`Error::ShapeMismatch`] if `y` is not `B` long;
/// [`Error::InvalidConfig`] if `d_eff == 0`.
pub fn td_minibatch(
    net: &ValueNet,
    params: &[f32],
    inputs: &TdInputs<'_>,
    spec: TdSpec,
    grads: &mut [f32],
    ws: &mut TdBatch<'_>,
) -> Result<f64, Error> {
    let TdInputs { feat, t, y } = *inputs;
    let TdSpec {
        loss,
        d_eff,
        scale_with_d,
    } = spec;
    let b = t.len();
    check_len("td targets", b, y.len())?;
    check_len("td out", b, ws.out.len())?;
    check_len("td dout", b, ws.dout.len())?;
    if d_eff == 0 || b == 0 {
        return Err(Error::InvalidConfig("td minibatch needs D >= 1 and B >= 1"));
    }
    net.forward(
        params,
        ValueInput { x: feat, t },
        ws.cache,
        ws.scratch,
        ws.out,
    )?;
    let dinv = 1.0 / d_eff as f32;
    // V/D = net (scaled) or net/D; d(V/D)/d net = 1 or 1/D
    let dpred = if scale_with_d { 1.0 } else { dinv };
    let mut total = 0.0f64;
    for ((&o, &yv), g) in ws.out.iter().zip(y).zip(ws.dout.iter_mut()) {
        let (l, dl) = loss.value_and_grad(o * dpred - yv * dinv);
        total += l as f64;
        *g = dl * dpred / b as f32;
    }
    net.backward(
        params,
        ValueInput { x: feat, t },
        ws.cache,
        ValueGrads {
            dout: ws.dout,
            params: grads,
            dx: None,
        },
        ws.scratch,
    )?;
    Ok(total / b as f64)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::{Activation, LastLayerInit};
    use crate::rng::{fill_standard_normal, seeded};
    use std::vec;

    #[test]
    fn loss_values() {
        assert_eq!(TdLoss::L2.value_and_grad(0.5), (0.25, 1.0));
        assert_eq!(TdLoss::SmoothL1.value_and_grad(0.5), (0.125, 0.5));
        assert_eq!(TdLoss::SmoothL1.value_and_grad(-3.0), (2.5, -1.0));
    }

    #[test]
    fn td_loss_gradient_matches_central_differences() {
        let net = ValueNet::new(4, 8, 4, 5, Activation::Silu).unwrap();
        let mut r = seeded(9);
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
        let b = 6;
        let mut x = vec![0.0f32; b * 4];
        fill_standard_normal(&mut r, &mut x);
        let t = [0u32, 4, 2, 2, 1, 3];
        for (loss, scale, ys) in [
            (TdLoss::L2, false, 0.3f32),
            (TdLoss::SmoothL1, true, 9.0),
            (TdLoss::SmoothL1, false, 0.2),
        ] {
            let mut y = vec![0.0f32; b];
            fill_standard_normal(&mut r, &mut y);
            y.iter_mut().for_each(|v| *v *= ys);
            let (mut c, mut s) = (
                vec![0.0f32; net.cache_len(b)],
                vec![0.0f32; net.scratch_len(b)],
            );
            let (mut o, mut d) = (vec![0.0f32; b], vec![0.0f32; b]);
            let mut run = |p: &[f32], g: &mut [f32]| {
                let mut ws = TdBatch {
                    cache: &mut c,
                    scratch: &mut s,
                    out: &mut o,
                    dout: &mut d,
                };
                let inputs = TdInputs {
                    feat: &x,
                    t: &t,
                    y: &y,
                };
                let spec = TdSpec {
                    loss,
                    d_eff: 3,
                    scale_with_d: scale,
                };
                td_minibatch(&net, p, &inputs, spec, g, &mut ws).unwrap()
            };
            let mut g = vec![0.0f32; p.len()];
            run(&p, &mut g);
            let mut sink = vec![0.0f32; p.len()];
            let h = 1e-2f32;
            for i in (0..p.len()).step_by(5) {
                let (mut pp, mut pm) = (p.clone(), p.clone());
                pp[i] += h;
                pm[i] -= h;
                let fd = (run(&pp, &mut sink) - run(&pm, &mut sink)) / (2.0 * h as f64);
                assert!(
                    (fd - g[i] as f64).abs() < 2e-4 + 2e-2 * fd.abs(),
                    "{loss:?} p{i}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }
}
