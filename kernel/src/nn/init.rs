//! Parameter initialisation, drawn from an explicit generator in a documented order.
//!
//! **PyTorch's default for `nn.Linear`**: `kaiming_uniform_(W, a=√5)` gives the bound
//! `gain·√(3/fan_in)` with `gain = √(2/(1+a²)) = √(1/3)`, i.e. exactly `1/√fan_in`, and the
//! bias is drawn from the same `U(−1/√fan_in, 1/√fan_in)`. Here `fan_in = inp`.
//!
//! **Draw order** (the contract that makes a seed reproducible): parameters are drawn in
//! storage order, i.e. layer by layer, within a layer every weight in the row-major
//! `[inp][out]` layout of [`linear`](super::linear), then every bias; each value is
//! `bound·(2u − 1)` with `u =` [`uniform_f64`] (one `next_u64` per parameter), rounded to
//! `f32`. The streams are not PyTorch's (a different generator and a transposed layout);
//! only the distribution matches.
//!
//! [`LastLayerInit`] replaces the draw for the output layer; a replaced layer consumes no
//! randomness, so the hidden layers get the same values whichever option is chosen.
//!
//! **Flax's default for `nn.Dense`** ([`init_linear_lecun`], [`init_trunk_flax`],
//! [`Mlp::init_flax`]; the RSMC JAX network): LeCun normal weights, a normal truncated to
//! `±2` standard units and rescaled by `1/0.87962566` so that the variance is exactly
//! `1/fan_in`, and zero biases. Draw order: weights in storage order, each one standard
//! normal ([`standard_normal`]) redrawn until `|z| < 2`; biases draw nothing.

use super::linear::Linear;
use super::mlp::Mlp;
use super::trunk::Trunk;
use crate::error::{Error, check_len};
use crate::math;
use crate::rng::{Rng, standard_normal, uniform_f64};

/// How to initialise the last (output) layer of an [`Mlp`].
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum LastLayerInit {
    /// PyTorch's default, like every other layer.
    #[default]
    Default,
    /// Weights and bias zero: the network outputs exactly zero at initialisation (the
    /// PyTorch TB reference's `zero_init` head).
    Zero,
    /// Every weight `weight`, every bias `bias` (RSMC's `PISGRADNet`: kernel `1e-8`, bias `0`,
    /// or bias `0.1` for the Langevin scale net; the TB reference's Langevin net: weight `0`,
    /// bias `0.01`).
    Constant {
        /// Value of every weight.
        weight: f32,
        /// Value of every bias.
        bias: f32,
    },
}

/// Bound `1/√inp` of PyTorch's default `nn.Linear` initialisation.
#[inline]
pub fn default_bound(inp: usize) -> f32 {
    (1.0 / math::sqrt(inp as f64)) as f32
}

/// Draws a dense layer's parameters from PyTorch's default, `W, b ~ U(−1/√inp, 1/√inp)`,
/// weights then biases in storage order (see the [module docs](self)).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `params.len() != layer.param_count()`.
pub fn init_linear<R: Rng + ?Sized>(
    layer: &Linear,
    params: &mut [f32],
    rng: &mut R,
) -> Result<(), Error> {
    check_len("linear params", layer.param_count(), params.len())?;
    let bound = 1.0 / math::sqrt(layer.inp() as f64);
    for p in params.iter_mut() {
        *p = (bound * (2.0 * uniform_f64(rng) - 1.0)) as f32;
    }
    Ok(())
}

/// Sets a dense layer's weights to `weight` and biases to `bias`; draws nothing.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `params.len() != layer.param_count()`.
pub fn init_linear_constant(
    layer: &Linear,
    params: &mut [f32],
    weight: f32,
    bias: f32,
) -> Result<(), Error> {
    check_len("linear params", layer.param_count(), params.len())?;
    let (w, b) = params.split_at_mut(layer.inp() * layer.out());
    w.fill(weight);
    b.fill(bias);
    Ok(())
}

/// Initialises a [`Trunk`]: PyTorch-default layers in the order time MLP, state, head,
/// the head's last layer following `last`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `params.len() != trunk.param_count()`.
pub fn init_trunk<R: Rng + ?Sized>(
    trunk: &Trunk,
    params: &mut [f32],
    last: LastLayerInit,
    rng: &mut R,
) -> Result<(), Error> {
    init_trunk_as(trunk, params, last, false, rng)
}

/// Standard deviation of a standard normal truncated to `[−2, 2]` (`jax.nn.initializers`'
/// correction constant).
const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

/// Draws a dense layer's weights from Flax's LeCun normal with `fan_in` (a normal truncated
/// to two standard deviations, variance `1/fan_in`) and sets its biases to zero (see the
/// [module docs](self) for the draw order). `fan_in` is `layer.inp()` for a plain layer;
/// the trunk passes the width of the JAX network's concatenated input.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `params.len() != layer.param_count()`;
/// [`Error::InvalidConfig`] if `fan_in == 0`.
pub fn init_linear_lecun<R: Rng + ?Sized>(
    layer: &Linear,
    params: &mut [f32],
    fan_in: usize,
    rng: &mut R,
) -> Result<(), Error> {
    check_len("linear params", layer.param_count(), params.len())?;
    if fan_in == 0 {
        return Err(Error::InvalidConfig("LeCun init needs fan_in >= 1"));
    }
    let sd = 1.0 / math::sqrt(fan_in as f64) / TRUNCATED_STD;
    let (w, b) = params.split_at_mut(layer.inp() * layer.out());
    for p in w.iter_mut() {
        let z = loop {
            let z = standard_normal(rng);
            if z.abs() < 2.0 {
                break z;
            }
        };
        *p = (sd * z) as f32;
    }
    b.fill(0.0);
    Ok(())
}

/// Initialises a [`Trunk`] as Flax initialises the RSMC JAX network it stands for
/// (`concat(x, τ) → Dense(H)`, whose state and time blocks both have fan-in `d + H`):
/// [`init_linear_lecun`] in the order time MLP, state, head. The time MLP's last layer
/// stands for the product of the JAX time coder's last kernel (fan-in `H`) and the time
/// block of the concatenated kernel (fan-in `d + H`), whose entries have variance
/// `H · 1/H · 1/(d + H)`, so it is drawn with fan-in `d + H`; the state layer likewise. The
/// head's last layer follows `last`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `params.len() != trunk.param_count()`.
pub fn init_trunk_flax<R: Rng + ?Sized>(
    trunk: &Trunk,
    params: &mut [f32],
    last: LastLayerInit,
    rng: &mut R,
) -> Result<(), Error> {
    init_trunk_as(trunk, params, last, true, rng)
}

/// [`init_trunk`] (`flax` false) and [`init_trunk_flax`] (`flax` true).
fn init_trunk_as<R: Rng + ?Sized>(
    trunk: &Trunk,
    params: &mut [f32],
    last: LastLayerInit,
    flax: bool,
    rng: &mut R,
) -> Result<(), Error> {
    check_len("trunk params", trunk.param_count(), params.len())?;
    let concat = trunk.state().inp() + trunk.state().out();
    let (time, state, head) = trunk.split_mut(params);
    let (t, h) = if flax {
        (last_as(concat), Last::Flax(last, None))
    } else {
        (Last::Torch(LastLayerInit::Default), Last::Torch(last))
    };
    trunk.time_mlp().init_layers(time, t, rng)?;
    if flax {
        init_linear_lecun(trunk.state(), state, concat, rng)?;
    } else {
        init_linear(trunk.state(), state, rng)?;
    }
    trunk.head().init_layers(head, h, rng)
}

/// How [`Mlp::init_layers`] initialises the last layer: as `last` (an [`LastLayerInit`]) with
/// PyTorch's default or LeCun normal at a given fan-in.
#[derive(Clone, Copy, Debug)]
enum Last {
    Torch(LastLayerInit),
    Flax(LastLayerInit, Option<usize>),
}

/// A Flax last layer of LeCun normal with fan-in `fan_in`.
const fn last_as(fan_in: usize) -> Last {
    Last::Flax(LastLayerInit::Default, Some(fan_in))
}

impl Mlp {
    /// Initialises every layer as Flax's default `nn.Dense` ([`init_linear_lecun`], fan-in
    /// the layer's input width), except the last, which follows `last`.
    ///
    /// # Errors
    /// As [`Mlp::init`].
    pub fn init_flax<R: Rng + ?Sized>(
        &self,
        params: &mut [f32],
        last: LastLayerInit,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.init_layers(params, Last::Flax(last, None), rng)
    }

    /// Initialises every layer with PyTorch's default (see the [module docs](super::init) for
    /// the draw order), except the last, which follows `last`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != param_count()`;
    /// [`Error::InvalidConfig`] if a [`LastLayerInit::Constant`] value is not finite.
    pub fn init<R: Rng + ?Sized>(
        &self,
        params: &mut [f32],
        last: LastLayerInit,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.init_layers(params, Last::Torch(last), rng)
    }

    /// [`Mlp::init`] and [`Mlp::init_flax`]: the hidden layers by the rule of `last`, the
    /// last layer as it says.
    fn init_layers<R: Rng + ?Sized>(
        &self,
        params: &mut [f32],
        rule: Last,
        rng: &mut R,
    ) -> Result<(), Error> {
        check_len("mlp params", self.param_count(), params.len())?;
        let (last, flax, last_fan_in) = match rule {
            Last::Torch(l) => (l, false, None),
            Last::Flax(l, f) => (l, true, f),
        };
        if let LastLayerInit::Constant { weight, bias } = last
            && (!weight.is_finite() || !bias.is_finite())
        {
            return Err(Error::InvalidConfig(
                "constant last-layer init must be finite",
            ));
        }
        let mut rest: &mut [f32] = params;
        for l in 0..self.n_layers() {
            let Some(layer) = self.layer(l) else {
                break;
            };
            let (p, r) = core::mem::take(&mut rest).split_at_mut(layer.param_count());
            rest = r;
            let is_last = l + 1 == self.n_layers();
            match (is_last, last) {
                (true, LastLayerInit::Zero) => init_linear_constant(&layer, p, 0.0, 0.0)?,
                (true, LastLayerInit::Constant { weight, bias }) => {
                    init_linear_constant(&layer, p, weight, bias)?
                }
                (true, _) if flax => {
                    init_linear_lecun(&layer, p, last_fan_in.unwrap_or(layer.inp()), rng)?
                }
                _ if flax => init_linear_lecun(&layer, p, layer.inp(), rng)?,
                _ => init_linear(&layer, p, rng)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::Activation;
    use crate::rng::seeded;
    use std::vec;

    #[test]
    fn bounds_and_determinism() {
        let net = Mlp::new(&[3, 16, 4, 2], Activation::Gelu).unwrap();
        let mut a = vec![0.0f32; net.param_count()];
        let mut b = vec![0.0f32; net.param_count()];
        net.init(&mut a, LastLayerInit::Default, &mut seeded(42))
            .unwrap();
        net.init(&mut b, LastLayerInit::Default, &mut seeded(42))
            .unwrap();
        assert_eq!(a, b);
        let mut c = vec![0.0f32; net.param_count()];
        net.init(&mut c, LastLayerInit::Default, &mut seeded(43))
            .unwrap();
        assert_ne!(a, c);
        for l in 0..net.n_layers() {
            let layer = net.layer(l).unwrap();
            let bound = default_bound(layer.inp());
            let p = &a[net.param_offset(l)..net.param_offset(l + 1)];
            assert!(p.iter().all(|v| v.abs() <= bound));
            // spread: some value beyond half the bound on each side
            assert!(p.iter().any(|v| *v > 0.5 * bound));
            assert!(p.iter().any(|v| *v < -0.5 * bound));
        }
        assert_eq!(default_bound(4), 0.5);
        // first value: the first uniform of seed 42, scaled
        let mut r = seeded(42);
        let u = uniform_f64(&mut r);
        assert_eq!(a[0], ((2.0 * u - 1.0) / 3.0f64.sqrt()) as f32);
    }

    #[test]
    fn flax_lecun_normal() {
        let layer = Linear::new(256, 300).unwrap();
        let mut p = vec![1.0f32; layer.param_count()];
        init_linear_lecun(&layer, &mut p, 256, &mut seeded(5)).unwrap();
        let (w, b) = p.split_at(256 * 300);
        assert!(b.iter().all(|&v| v == 0.0));
        let sd = 1.0 / 16.0 / TRUNCATED_STD;
        assert!(w.iter().all(|&v| f64::from(v).abs() < 2.0 * sd));
        // variance 1/fan_in = 1/256 (76,800 draws: the sample variance is within 2 %)
        let var = w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var * 256.0 - 1.0).abs() < 0.02, "{var}");
        // the first weight is the first standard normal within ±2 of the same generator
        let mut r = seeded(5);
        let z = loop {
            let z = standard_normal(&mut r);
            if z.abs() < 2.0 {
                break z;
            }
        };
        assert_eq!(w[0], (sd * z) as f32);
        assert!(matches!(
            init_linear_lecun(&layer, &mut p, 0, &mut seeded(5)),
            Err(Error::InvalidConfig(_))
        ));
        // an MLP: the hidden layers as LeCun normal, the last as asked, biases zero
        let net = Mlp::new(&[3, 8, 2], Activation::Gelu).unwrap();
        let mut q = vec![1.0f32; net.param_count()];
        let cst = LastLayerInit::Constant {
            weight: 1e-8,
            bias: 0.1,
        };
        net.init_flax(&mut q, cst, &mut seeded(2)).unwrap();
        let mut first = vec![0.0f32; 3 * 8 + 8];
        init_linear_lecun(&net.layer(0).unwrap(), &mut first, 3, &mut seeded(2)).unwrap();
        assert_eq!(q[..32], first[..]);
        assert!(q[32..48].iter().all(|&v| v == 1e-8));
        assert!(q[48..].iter().all(|&v| v == 0.1));
    }

    #[test]
    fn last_layer_options() {
        let net = Mlp::new(&[3, 8, 2], Activation::Silu).unwrap();
        let n = net.param_count();
        let mut d = vec![0.0f32; n];
        let mut z = vec![1.0f32; n];
        let mut k = vec![1.0f32; n];
        net.init(&mut d, LastLayerInit::Default, &mut seeded(1))
            .unwrap();
        net.init(&mut z, LastLayerInit::Zero, &mut seeded(1))
            .unwrap();
        let cst = LastLayerInit::Constant {
            weight: 1e-8,
            bias: 0.1,
        };
        net.init(&mut k, cst, &mut seeded(1)).unwrap();
        let split = net.param_offset(1);
        // hidden layers identical whatever the last-layer option
        assert_eq!(d[..split], z[..split]);
        assert_eq!(d[..split], k[..split]);
        assert!(z[split..].iter().all(|v| *v == 0.0));
        let last = net.layer(1).unwrap();
        let wn = last.inp() * last.out();
        assert!(k[split..split + wn].iter().all(|v| *v == 1e-8));
        assert!(k[split + wn..].iter().all(|v| *v == 0.1));

        // zero last layer gives exactly zero output
        let batch = 4;
        let x: std::vec::Vec<f32> = (0..batch * 3).map(|i| i as f32 * 0.37 - 2.0).collect();
        let mut cache = vec![0.0; net.cache_len(batch)];
        let mut out = vec![1.0; batch * 2];
        net.forward(&z, &x, batch, &mut cache, &mut out).unwrap();
        assert!(out.iter().all(|v| *v == 0.0));

        assert!(matches!(
            net.init(&mut d[..n - 1], LastLayerInit::Zero, &mut seeded(1)),
            Err(Error::ShapeMismatch { .. })
        ));
        let bad = LastLayerInit::Constant {
            weight: f32::NAN,
            bias: 0.0,
        };
        assert!(matches!(
            net.init(&mut d, bad, &mut seeded(1)),
            Err(Error::InvalidConfig(_))
        ));
    }
}
