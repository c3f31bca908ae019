//! The PIS network: the policy (drift) and flow architecture of the diffusion samplers.
//!
//! The architecture of gfn-diffusion's `--pis_architectures` policy (Sendera et al. 2024,
//! after PIS, Zhang & Chen 2022), which is also the PyTorch CPU reference workload
//! (`pytorch-tb/README.md`):
//!
//! ```text
//! time:  e(t) = [sin(t·w + φ), cos(t·w + φ)]   (H_t harmonics, learnt phase φ)
//!        τ = Linear(2H_t, H) → GELU → Linear(H, H)          (one row per step)
//! state: s = Linear(d, H)                                    (B rows)
//! head:  y = GELU → Linear(H, H) → GELU → Linear(H, H) → GELU → Linear(H, out) of (s + τ)
//! ```
//!
//! `t` is one number per Euler step, so the time branch runs on **one row** and is broadcast
//! over the batch; its backward pass sums the batch's gradient once. With `d = 2`, `H = 64`,
//! `H_t = 64` and `out = 4` (drift and log-variance correction) the network has 21,252
//! parameters, as the reference. The same class with `out = 1` is the RSMC flow network
//! `h_φ(x, t)` (its last layer initialised to a tiny constant, `rsmc.md` §2.2).
//!
//! **Parameter layout**: `[φ (H_t) | time MLP | state Linear | head MLP]`, each in the
//! layouts of [`crate::nn`]; time MLP, state and head are a [`crate::nn::trunk`] on one step.
//!
//! **Per-step cache** ([`PisNet::cache_len`]): `[e(t) (2H_t) | time-MLP cache | τ (H) |
//! head cache]`. One forward pass fills one cache; [`PisNet::backward`] reads it.

use crate::error::{Error, check_len, check_min_len};
use crate::nn::init::{init_trunk, init_trunk_flax};
use crate::nn::trunk::{Pass, Rows, Trunk, TrunkGrads, TrunkTape};
use crate::nn::{Activation, FourierEmbedding, Grads, LastLayerInit, Mlp, Tape};
use crate::rng::Rng;

/// The input of one forward pass: `batch` rows of states at one time.
#[derive(Clone, Copy, Debug)]
pub struct NetInput<'a> {
    /// States `x` (`B × d`).
    pub x: &'a [f32],
    /// Rows `B`.
    pub batch: usize,
    /// Time `t ∈ [0, 1]` (`n/T` at Euler step `n`), shared by the rows.
    pub t: f32,
    /// The clipped target gradient `clip(∇log R(x), ±c)` (`B × d`) for a network with a
    /// Langevin branch ([`PisNet::with_langevin`]); `None` for one without.
    pub lgrad: Option<&'a [f32]>,
}

impl<'a> NetInput<'a> {
    /// `batch` rows of `x` at time `t`, without a target gradient.
    pub const fn new(x: &'a [f32], batch: usize, t: f32) -> Self {
        NetInput {
            x,
            batch,
            t,
            lgrad: None,
        }
    }

    /// The same input with the target gradient `lgrad` for the Langevin branch.
    pub const fn with_lgrad(self, lgrad: Option<&'a [f32]>) -> Self {
        NetInput { lgrad, ..self }
    }

    /// The rows of the trunk: every row at its one time step.
    const fn rows(&self) -> Rows<'a> {
        Rows {
            x: self.x,
            batch: self.batch,
            steps: None,
        }
    }
}

/// The gradients of one backward pass ([`PisNet::backward`]): the upstream gradient in, the
/// parameter and (optionally) input gradients out.
#[derive(Debug)]
pub struct NetGrads<'a> {
    /// `∂L/∂out` (`B × out`).
    pub dout: &'a [f32],
    /// Parameter gradients (`param_count()` values), **accumulated**.
    pub params: &'a mut [f32],
    /// Input gradient `∂L/∂x` (`B × d`), **written** when given.
    pub dx: Option<&'a mut [f32]>,
}

/// Which form of the PIS network: ours, or the RSMC JAX code's `PISGRADNet`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetForm {
    /// The gfn-diffusion / PyTorch PIS network above: a head of three layers, PyTorch's
    /// default initialisation. The default.
    #[default]
    Pis,
    /// The RSMC JAX network (`pisgrad_net.py` of the seeds' submitted code): the head
    /// `GELU → Linear(H, H) → GELU → Linear(H, out)` (its `state_time_net` of two
    /// `Dense + GELU` on `concat(x, τ)`, whose first Dense is our `s + τ`), and Flax's
    /// initialisation ([`crate::nn::init::init_trunk_flax`]: LeCun normal, zero biases).
    /// What stays ours: the exact (erf) GELU where Flax uses the tanh approximation, one
    /// time-branch matrix where JAX has two in a row (`τ`'s last layer stands for the
    /// product of its time coder's last kernel and the concatenated kernel's time block),
    /// and the Langevin branch's own phase where JAX shares the policy's.
    Jax,
}

/// Shape of a PIS network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PisNet {
    dim: usize,
    hidden: usize,
    out: usize,
    embed: FourierEmbedding,
    trunk: Trunk,
    langevin: Option<Mlp>,
    form: NetForm,
}

impl PisNet {
    /// A network on `dim`-dimensional states with `hidden` units, `harmonics` Fourier
    /// harmonics and `out` outputs.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if any size is zero.
    pub const fn new(
        dim: usize,
        hidden: usize,
        harmonics: usize,
        out: usize,
    ) -> Result<Self, Error> {
        if dim == 0 || hidden == 0 || harmonics == 0 || out == 0 {
            return Err(Error::InvalidConfig("PIS network sizes must all be >= 1"));
        }
        let embed = match FourierEmbedding::new(harmonics) {
            Ok(e) => e,
            Err(e) => return Err(e),
        };
        let trunk = match Trunk::new(dim, 2 * harmonics, hidden, out, 1, Activation::Gelu) {
            Ok(t) => t,
            Err(e) => return Err(e),
        };
        Ok(PisNet {
            dim,
            hidden,
            out,
            embed,
            trunk,
            langevin: None,
            form: NetForm::Pis,
        })
    }

    /// The same network in form `form` ([`NetForm`]): [`NetForm::Jax`] has a head of two
    /// layers and Flax's initialisation.
    ///
    /// # Errors
    /// None in practice (the head depth is in range); typed for the trunk's check.
    pub const fn with_form(mut self, form: NetForm) -> Result<Self, Error> {
        let layers = match form {
            NetForm::Pis => 3,
            NetForm::Jax => 2,
        };
        self.trunk = match self.trunk.with_head_layers(layers) {
            Ok(t) => t,
            Err(e) => return Err(e),
        };
        self.form = form;
        Ok(self)
    }

    /// The network's form.
    pub const fn form(&self) -> NetForm {
        self.form
    }

    /// Adds the Langevin-preconditioning branch (gfn-diffusion `--langevin`, RSMC `use_lp`):
    /// the first `dim` outputs become `NN(x, t) + s(t) ⊙ clip(∇log R(x))` with a time-only
    /// scale network `s(t) = Linear(2H_t, H) → [GELU → Linear(H, H)] × 2 → GELU →
    /// Linear(H, d)` on its own Fourier embedding. The clipped target gradient is supplied
    /// by the caller ([`NetInput::lgrad`]) and carries no gradient.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `out < dim` (the drift must be among the outputs).
    pub const fn with_langevin(mut self) -> Result<Self, Error> {
        if self.out < self.dim {
            return Err(Error::InvalidConfig(
                "the Langevin branch needs at least `dim` outputs",
            ));
        }
        let h = self.hidden;
        match Mlp::new(
            &[2 * self.embed.harmonics(), h, h, h, self.dim],
            Activation::Gelu,
        ) {
            Ok(m) => {
                self.langevin = Some(m);
                Ok(self)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the Langevin branch is present.
    pub const fn has_langevin(&self) -> bool {
        self.langevin.is_some()
    }

    const fn lp_params(&self) -> usize {
        match &self.langevin {
            Some(m) => self.embed.param_count() + m.param_count(),
            None => 0,
        }
    }

    const fn lp_cache(&self, batch: usize) -> usize {
        match &self.langevin {
            Some(m) => self.embed.out_len() + m.cache_len(1) + self.dim + batch * self.dim,
            None => 0,
        }
    }

    const fn base_params(&self) -> usize {
        self.n_phase() + self.trunk.param_count()
    }

    /// State dimension `d`.
    pub const fn dim(&self) -> usize {
        self.dim
    }
    /// Hidden width `H`.
    pub const fn hidden(&self) -> usize {
        self.hidden
    }
    /// Number of outputs.
    pub const fn out(&self) -> usize {
        self.out
    }

    const fn n_phase(&self) -> usize {
        self.embed.param_count()
    }

    /// Total number of parameters.
    pub const fn param_count(&self) -> usize {
        self.base_params() + self.lp_params()
    }

    /// Per-step cache length for a batch of `batch` rows.
    pub const fn cache_len(&self, batch: usize) -> usize {
        self.trunk.cache_len(batch) + self.lp_cache(batch)
    }

    const fn ds_len(&self) -> usize {
        if self.langevin.is_some() { self.dim } else { 0 }
    }

    /// Scratch length for [`PisNet::forward`] and [`PisNet::backward`] at `batch` rows.
    pub const fn scratch_len(&self, batch: usize) -> usize {
        let inner = self.trunk.inner_scratch_len(batch);
        let c = match &self.langevin {
            Some(m) => m.scratch_len(1),
            None => 0,
        };
        let inner = if inner > c { inner } else { c };
        batch * self.hidden + self.hidden + self.embed.out_len() + self.ds_len() + inner
    }

    /// FLOPs of the matrix products of one forward pass on `batch` rows (`2mnk` per
    /// product; the time branch counted once), the count used by the PyTorch reference.
    pub const fn forward_matmul_flops(&self, batch: usize) -> u64 {
        let h = self.hidden as u64;
        let inner = self.trunk.head().n_layers() as u64 - 1;
        let per_row = 2 * (self.dim as u64 * h + inner * h * h + h * self.out as u64);
        let time = 2 * (2 * self.embed.harmonics() as u64 * h + h * h);
        per_row * batch as u64 + time
    }

    /// Splits a parameter (or gradient) slice into `(φ, trunk, Langevin branch)`.
    fn split<'p>(&self, p: &'p [f32]) -> (&'p [f32], &'p [f32], &'p [f32]) {
        let (phase, r) = p.split_at(self.n_phase());
        let (trunk, lp) = r.split_at(self.trunk.param_count());
        (phase, trunk, lp)
    }

    fn split_mut<'p>(&self, p: &'p mut [f32]) -> (&'p mut [f32], &'p mut [f32], &'p mut [f32]) {
        let (phase, r) = p.split_at_mut(self.n_phase());
        let (trunk, lp) = r.split_at_mut(self.trunk.param_count());
        (phase, trunk, lp)
    }

    /// Splits the scratch into `(∂L/∂e, ∂L/∂s, the trunk's and the Langevin net's scratch)`.
    fn split_scratch<'s>(
        &self,
        scratch: &'s mut [f32],
    ) -> (&'s mut [f32], &'s mut [f32], &'s mut [f32]) {
        let (demb, rest) = scratch.split_at_mut(self.embed.out_len());
        let (ds, inner) = rest.split_at_mut(self.ds_len());
        (demb, ds, inner)
    }

    /// Initialises the parameters: zero phase, PyTorch-default layers (Flax's for
    /// [`NetForm::Jax`]), and the head's last layer as `last` (zero for the reference policy, a tiny constant for RSMC's nets).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != param_count()`.
    pub fn init<R: Rng + ?Sized>(
        &self,
        params: &mut [f32],
        last: LastLayerInit,
        rng: &mut R,
    ) -> Result<(), Error> {
        check_len("pis params", self.param_count(), params.len())?;
        let (phase, trunk, lp) = self.split_mut(params);
        self.embed.init_zero(phase)?;
        let flax = self.form == NetForm::Jax;
        if flax {
            init_trunk_flax(&self.trunk, trunk, last, rng)?;
        } else {
            init_trunk(&self.trunk, trunk, last, rng)?;
        }
        if let Some(m) = &self.langevin {
            let (phase, mlp) = lp.split_at_mut(self.n_phase());
            self.embed.init_zero(phase)?;
            // RSMC's LP scale net: last kernel 1e-8, bias 0.1 (`rsmc.md` §2.2)
            let scale = LastLayerInit::Constant {
                weight: 1e-8,
                bias: 0.1,
            };
            if flax {
                m.init_flax(mlp, scale, rng)?;
            } else {
                m.init(mlp, scale, rng)?;
            }
        }
        Ok(())
    }

    /// Forward pass on `input` (`batch` rows of `x` (`B × d`) at time `t`, and the clipped
    /// target gradient `lgrad` for the Langevin branch), writing `out` (`B × out`) and the
    /// step cache. `scratch` needs [`PisNet::scratch_len`]`(batch)` values. `lgrad` (`B × d`,
    /// `clip(∇log R(x), ±c)`) is required if and only if the network has a Langevin branch;
    /// it is copied into the cache.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for any buffer of the wrong length; [`Error::InvalidConfig`]
    /// if `lgrad` is given to a network without a Langevin branch or missing for one with it.
    pub fn forward(
        &self,
        params: &[f32],
        input: NetInput<'_>,
        cache: &mut [f32],
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let pass = Pass {
            cache,
            scratch,
            out,
        };
        self.forward_impl(params, input, pass, true)
    }

    /// As [`PisNet::forward`] for sampling only: the same output bits, but the head's
    /// activation cache (and the activations' derivatives) are not written, so the result
    /// cannot be back-propagated. `cache` still needs [`PisNet::cache_len`] values.
    ///
    /// # Errors
    /// As [`PisNet::forward`].
    pub fn forward_no_grad(
        &self,
        params: &[f32],
        input: NetInput<'_>,
        cache: &mut [f32],
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.forward_impl(
            params,
            input,
            Pass {
                cache,
                scratch,
                out,
            },
            false,
        )
    }

    /// The forward pass; `grad` says whether the head keeps its activation cache for
    /// [`PisNet::backward`] (one function for both, not two copies: the firmware's flash is
    /// tight).
    fn forward_impl(
        &self,
        params: &[f32],
        input: NetInput<'_>,
        pass: Pass<'_>,
        grad: bool,
    ) -> Result<(), Error> {
        let NetInput {
            batch, t, lgrad, ..
        } = input;
        let Pass {
            cache,
            scratch,
            out,
        } = pass;
        if lgrad.is_some() != self.langevin.is_some() {
            return Err(Error::InvalidConfig(
                "the target gradient is needed exactly when the network has a Langevin branch",
            ));
        }
        check_len("pis params", self.param_count(), params.len())?;
        check_len("pis out", batch * self.out, out.len())?;
        check_min_len("pis cache", self.cache_len(batch), cache.len())?;
        check_min_len("pis scratch", self.scratch_len(batch), scratch.len())?;
        let (phase, trunk, lp) = self.split(params);
        let (base_cache, lp_cache) = cache.split_at_mut(self.trunk.cache_len(batch));
        self.embed
            .forward(phase, t, &mut base_cache[..self.embed.out_len()])?;
        let (_, _, inner) = self.split_scratch(scratch);
        let pass = Pass {
            cache: base_cache,
            scratch: inner,
            out: &mut *out,
        };
        self.trunk.forward(trunk, input.rows(), pass, grad)?;
        if let (Some(m), Some(g)) = (&self.langevin, lgrad) {
            check_len("pis lgrad", batch * self.dim, g.len())?;
            let (lphase, lmlp) = lp.split_at(self.n_phase());
            let (lemb, rest) = lp_cache.split_at_mut(self.embed.out_len());
            let (lmc, rest) = rest.split_at_mut(m.cache_len(1));
            let (sv, gcopy) = rest.split_at_mut(self.dim);
            self.embed.forward(lphase, t, lemb)?;
            m.forward(lmlp, lemb, 1, lmc, sv)?;
            gcopy[..batch * self.dim].copy_from_slice(g);
            for (orow, grow) in out.chunks_exact_mut(self.out).zip(g.chunks_exact(self.dim)) {
                for ((o, &gv), &s) in orow.iter_mut().zip(grow).zip(sv.iter()) {
                    *o += s * gv;
                }
            }
        }
        Ok(())
    }

    /// Backward pass for the forward pass on `input` whose cache is `cache` (only `input.x`
    /// and `input.batch` are read: `t` and `lgrad` live in the cache): with `grads.dout =
    /// ∂L/∂out`, **accumulates** parameter gradients into `grads.params` and, if `grads.dx`
    /// is given, **writes** the input gradient `∂L/∂x` (`B × d`) into it.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for any buffer of the wrong length.
    pub fn backward(
        &self,
        params: &[f32],
        input: NetInput<'_>,
        cache: &[f32],
        grads: NetGrads<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let NetGrads {
            dout,
            params: grads,
            dx,
        } = grads;
        let batch = input.batch;
        check_len("pis params", self.param_count(), params.len())?;
        check_len("pis grads", self.param_count(), grads.len())?;
        check_len("pis dout", batch * self.out, dout.len())?;
        check_min_len("pis cache", self.cache_len(batch), cache.len())?;
        check_min_len("pis scratch", self.scratch_len(batch), scratch.len())?;
        let (_, trunk, lp) = self.split(params);
        let (g_phase, g_trunk, g_lp) = self.split_mut(grads);
        let (base_cache, lp_cache) = cache.split_at(self.trunk.cache_len(batch));
        let (demb, ds, inner) = self.split_scratch(scratch);
        let tape = TrunkTape {
            rows: input.rows(),
            cache: base_cache,
        };
        let tg = TrunkGrads {
            dout,
            params: g_trunk,
            dx,
            demb: Some(&mut *demb),
        };
        self.trunk.backward(trunk, tape, tg, &mut *inner)?;
        self.embed
            .backward(&base_cache[..self.embed.out_len()], demb, g_phase)?;
        if let Some(m) = &self.langevin {
            // ∂L/∂s_j = Σ_b dout[b, j] · lgrad[b, j]; then through the time-only network
            let (_, lmlp) = lp.split_at(self.n_phase());
            let (glphase, glmlp) = g_lp.split_at_mut(self.n_phase());
            let (lemb, rest) = lp_cache.split_at(self.embed.out_len());
            let (lmc, rest) = rest.split_at(m.cache_len(1));
            let gcopy = &rest[self.dim..self.dim + batch * self.dim];
            ds.iter_mut().for_each(|v| *v = 0.0);
            for (drow, grow) in dout
                .chunks_exact(self.out)
                .zip(gcopy.chunks_exact(self.dim))
            {
                for ((d, &dv), &gv) in ds.iter_mut().zip(drow).zip(grow) {
                    *d += dv * gv;
                }
            }
            let tape = Tape {
                cache: lmc,
                batch: 1,
            };
            m.backward(lmlp, tape, ds, Grads::with_input(glmlp, demb), inner)?;
            self.embed.backward(lemb, demb, glphase)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{self, fill_standard_normal};
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn reference_parameter_count_and_flops() {
        // pytorch-tb/README.md: 21,252 parameters; 17,152 forward matmul FLOPs per row plus
        // 24,576 once per step for the time branch.
        let net = PisNet::new(2, 64, 64, 4).unwrap();
        assert_eq!(net.param_count(), 21_252);
        assert_eq!(
            net.forward_matmul_flops(1) - net.forward_matmul_flops(0),
            17_152
        );
        assert_eq!(net.forward_matmul_flops(0), 24_576);
        assert!(PisNet::new(0, 64, 64, 4).is_err());
    }

    fn loss(net: &PisNet, p: &[f32], input: NetInput<'_>, c: &[f32]) -> f64 {
        let b = input.batch;
        let mut cache = vec![0.0; net.cache_len(b)];
        let mut scratch = vec![0.0; net.scratch_len(b)];
        let mut out = vec![0.0; b * net.out()];
        net.forward(p, input, &mut cache, &mut scratch, &mut out)
            .unwrap();
        out.iter()
            .zip(c)
            .map(|(&o, &ci)| o as f64 * ci as f64)
            .sum()
    }

    fn gradcheck(langevin: bool, dim: usize, hidden: usize) {
        gradcheck_form(langevin, dim, hidden, NetForm::Pis);
    }

    fn gradcheck_form(langevin: bool, dim: usize, hidden: usize, form: NetForm) {
        let mut net = PisNet::new(dim, hidden, 4, 2 * dim)
            .unwrap()
            .with_form(form)
            .unwrap();
        if langevin {
            net = net.with_langevin().unwrap();
        }
        let b = 3;
        let mut r = rng::seeded(17);
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
        // non-zero phases and a non-trivial Langevin head so every path is exercised
        for v in p[..4].iter_mut() {
            *v = 0.3;
        }
        if langevin {
            let base = net.base_params();
            let mut tail = vec![0.0f32; p.len() - base - 4];
            fill_standard_normal(&mut r, &mut tail);
            for (v, &n) in p[base + 4..].iter_mut().zip(&tail) {
                *v = 0.3 * n;
            }
            for v in p[base..base + 4].iter_mut() {
                *v = -0.2;
            }
        }
        let mut x = vec![0.0f32; b * dim];
        fill_standard_normal(&mut r, &mut x);
        let mut lg = vec![0.0f32; b * dim];
        fill_standard_normal(&mut r, &mut lg);
        let g = langevin.then_some(&lg[..]);
        let mut c = vec![0.0f32; b * net.out()];
        fill_standard_normal(&mut r, &mut c);
        let t = 0.37;
        let mut cache = vec![0.0; net.cache_len(b)];
        let mut scratch = vec![0.0; net.scratch_len(b)];
        let mut out = vec![0.0; b * net.out()];
        let input = NetInput::new(&x, b, t).with_lgrad(g);
        net.forward(&p, input, &mut cache, &mut scratch, &mut out)
            .unwrap();
        let mut grads = vec![0.0f32; net.param_count()];
        let mut dx = vec![0.0f32; b * dim];
        let ng = NetGrads {
            dout: &c,
            params: &mut grads,
            dx: Some(&mut dx),
        };
        net.backward(&p, input, &cache, ng, &mut scratch).unwrap();
        let h = 1e-2f32;
        for i in 0..p.len() {
            let mut pp = p.clone();
            pp[i] += h;
            let lp = loss(&net, &pp, input, &c);
            pp[i] -= 2.0 * h;
            let lm = loss(&net, &pp, input, &c);
            let fd = (lp - lm) / (2.0 * h as f64);
            let err = (fd - grads[i] as f64).abs() / (1e-2 + fd.abs().max(grads[i].abs() as f64));
            assert!(
                err < 2e-2,
                "langevin {langevin} param {i}: fd {fd} vs {}",
                grads[i]
            );
        }
        for i in 0..x.len() {
            let mut xx = x.clone();
            xx[i] += h;
            let lp = loss(&net, &p, NetInput { x: &xx, ..input }, &c);
            xx[i] -= 2.0 * h;
            let lm = loss(&net, &p, NetInput { x: &xx, ..input }, &c);
            let fd = (lp - lm) / (2.0 * h as f64);
            assert!(
                (fd - dx[i] as f64).abs() < 2e-2 * (1e-2 + fd.abs()),
                "x {i}: fd {fd} vs {}",
                dx[i]
            );
        }
    }

    #[test]
    fn gradcheck_parameters_and_input() {
        gradcheck(false, 3, 5);
    }

    #[test]
    fn jax_form_gradcheck_shape_and_init() {
        gradcheck_form(false, 3, 5, NetForm::Jax);
        gradcheck_form(true, 3, 5, NetForm::Jax);
        // one H × H layer fewer than the PIS form, the same for the flops
        let (pis, jax) = (
            PisNet::new(2, 64, 64, 2).unwrap(),
            PisNet::new(2, 64, 64, 2)
                .unwrap()
                .with_form(NetForm::Jax)
                .unwrap(),
        );
        assert_eq!(pis.param_count() - jax.param_count(), 64 * 64 + 64);
        assert_eq!(
            pis.forward_matmul_flops(1) - jax.forward_matmul_flops(1),
            2 * 64 * 64
        );
        assert_eq!(jax.form(), NetForm::Jax);
        // Flax: every bias zero, the state layer LeCun normal with fan-in d + H = 66
        let mut p = vec![1.0f32; jax.param_count()];
        jax.init(&mut p, LastLayerInit::Zero, &mut rng::seeded(3))
            .unwrap();
        let state = jax.trunk.state();
        let off = jax.n_phase() + jax.trunk.time_mlp().param_count();
        let w = &p[off..off + 2 * 64];
        let b = &p[off + 2 * 64..off + state.param_count()];
        assert!(b.iter().all(|&v| v == 0.0));
        let bound = 2.0 / (66.0f32.sqrt() * 0.879_625_7);
        assert!(w.iter().all(|&v| v.abs() < bound));
        assert!(w.iter().any(|&v| v.abs() > 0.5 * bound));
    }

    #[test]
    fn gradcheck_with_langevin_branch() {
        gradcheck(true, 3, 5);
        gradcheck(true, 7, 2); // dim > hidden
        let net = PisNet::new(2, 4, 3, 2).unwrap().with_langevin().unwrap();
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Zero, &mut rng::seeded(0))
            .unwrap();
        let mut cache = vec![0.0; net.cache_len(1)];
        let mut scratch = vec![0.0; net.scratch_len(1)];
        let mut out = vec![0.0; 2];
        // the untrained scale is ~0.1, so the output is 0.1 * the clipped gradient
        let input = NetInput::new(&[0.0, 0.0], 1, 0.5);
        net.forward(
            &p,
            input.with_lgrad(Some(&[3.0, -2.0])),
            &mut cache,
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert!(
            (out[0] - 0.3).abs() < 1e-5 && (out[1] + 0.2).abs() < 1e-5,
            "{out:?}"
        );
        assert!(
            net.forward(&p, input, &mut cache, &mut scratch, &mut out)
                .is_err()
        );
        assert!(PisNet::new(3, 4, 3, 2).unwrap().with_langevin().is_err());
    }

    #[test]
    fn no_grad_forward_gives_the_same_bits() {
        for langevin in [false, true] {
            let mut net = PisNet::new(2, 16, 4, 4).unwrap();
            if langevin {
                net = net.with_langevin().unwrap();
            }
            let mut r = rng::seeded(4);
            let mut p = vec![0.0f32; net.param_count()];
            net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
            let b = 7;
            let mut x = vec![0.0f32; b * 2];
            fill_standard_normal(&mut r, &mut x);
            let g = vec![0.5f32; b * 2];
            let lg = langevin.then_some(&g[..]);
            let mut cache = vec![0.0; net.cache_len(b)];
            let mut scratch = vec![0.0; net.scratch_len(b)];
            let (mut o1, mut o2) = (vec![0.0; b * 4], vec![1.0; b * 4]);
            let input = NetInput::new(&x, b, 0.3).with_lgrad(lg);
            net.forward(&p, input, &mut cache, &mut scratch, &mut o1)
                .unwrap();
            net.forward_no_grad(&p, input, &mut cache, &mut scratch, &mut o2)
                .unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&o1), bits(&o2));
        }
    }

    #[test]
    fn zero_last_layer_outputs_zero_and_time_matters() {
        let net = PisNet::new(2, 8, 4, 3).unwrap();
        let mut r = rng::seeded(1);
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Zero, &mut r).unwrap();
        let x: Vec<f32> = vec![0.5, -1.0, 2.0, 0.1];
        let mut cache = vec![0.0; net.cache_len(2)];
        let mut scratch = vec![0.0; net.scratch_len(2)];
        let mut out = vec![1.0; 6];
        let (at3, at9) = (NetInput::new(&x, 2, 0.3), NetInput::new(&x, 2, 0.9));
        net.forward(&p, at3, &mut cache, &mut scratch, &mut out)
            .unwrap();
        assert!(out.iter().all(|&o| o == 0.0));
        net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
        let mut out2 = vec![0.0; 6];
        net.forward(&p, at3, &mut cache, &mut scratch, &mut out)
            .unwrap();
        net.forward(&p, at9, &mut cache, &mut scratch, &mut out2)
            .unwrap();
        assert_ne!(out, out2);
        let mut short = vec![0.0; 3];
        assert!(
            net.forward(&p, at3, &mut cache, &mut scratch, &mut short)
                .is_err()
        );
    }
}
