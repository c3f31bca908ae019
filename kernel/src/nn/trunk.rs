//! The time-conditioned trunk of the PIS policy ([`crate::samplers::diffusion`]) and of the
//! VGS value network ([`crate::samplers::vgs`]): one forward and backward pass for both, and
//! one initialisation ([`super::init::init_trunk`]).
//!
//! ```text
//! time:  τ = Linear(E, H) → f → Linear(H, H)                  (N rows, one per step)
//! state: s = Linear(d, H)                                      (B rows)
//! head:  y = f → Linear(H, H) → f → Linear(H, H) → f → Linear(H, out)   of (s + τ[step of the row])
//! ```
//!
//! [`Trunk::with_head_layers`] changes the head's depth (the RSMC JAX network's head is
//! `f → Linear(H, H) → f → Linear(H, out)`).
//!
//! The step embedding `e` (`N × E`) belongs to the caller (a learnt Fourier embedding for
//! PIS, a fixed sinusoidal table for VGS): it writes `e` at the start of the cache before
//! [`Trunk::forward`] and gets `∂L/∂e` from [`Trunk::backward`] if it asks. Each row reads
//! the `τ` of its step ([`Rows::steps`]); the backward pass adds the rows' `∂L/∂τ` into their
//! steps in row order before the time MLP's backward pass.
//!
//! **Parameter layout**: `[time MLP | state Linear | head MLP]`.
//! **Cache layout** (batch `B`): `[e (N·E) | time-MLP cache (N rows) | τ (N·H) | head cache
//! (B rows)]`. **Scratch**: `[z (B·H) | ∂L/∂τ (N·H) | the MLPs' scratch]`.
//!
//! The central-difference tests of the backward pass are the two networks': the PIS
//! policy's reaches `∂L/∂e` through the learnt phase, the value network's the per-row steps.

use super::{Activation, Grads, Linear, Mlp, Tape};
use crate::error::{Error, check_len, check_min_len};

/// The rows of one pass: `batch` rows of `x` (`B × d`) and the step of each row.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// Inputs `x`, `B × d`.
    pub x: &'a [f32],
    /// Rows `B`.
    pub batch: usize,
    /// The step of each row (`B` values `< N`); `None` puts every row at step 0.
    pub steps: Option<&'a [u32]>,
}

/// What a [`Trunk::forward`] pass leaves for its backward pass: the rows it read and the
/// cache it wrote.
#[derive(Clone, Copy, Debug)]
pub struct TrunkTape<'a> {
    /// The rows of the forward pass.
    pub rows: Rows<'a>,
    /// Its cache.
    pub cache: &'a [f32],
}

/// The gradients of one [`Trunk::backward`]: `∂L/∂y` in, the parameter, input and
/// embedding gradients out.
#[derive(Debug)]
pub struct TrunkGrads<'a> {
    /// `∂L/∂y` (`B × out`).
    pub dout: &'a [f32],
    /// Parameter gradients, **accumulated**.
    pub params: &'a mut [f32],
    /// Input gradient `∂L/∂x` (`B × d`), **written** when given.
    pub dx: Option<&'a mut [f32]>,
    /// Embedding gradient `∂L/∂e` (`N × E`), **written** when given.
    pub demb: Option<&'a mut [f32]>,
}

/// The caller's buffers of one forward pass.
#[derive(Debug)]
pub struct Pass<'a> {
    /// The cache ([`Trunk::cache_len`]), whose first `N·E` values hold the embedding.
    pub cache: &'a mut [f32],
    /// Scratch ([`Trunk::scratch_len`]).
    pub scratch: &'a mut [f32],
    /// Output `y` (`B × out`).
    pub out: &'a mut [f32],
}

/// Shape of a trunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trunk {
    n_times: usize,
    time_mlp: Mlp,
    state: Linear,
    head: Mlp,
}

impl Trunk {
    /// A trunk on `inp` inputs and an `emb`-wide embedding of `n_times` steps, with `hidden`
    /// units, `out` outputs and hidden activation `act`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if a size is zero.
    pub const fn new(
        inp: usize,
        emb: usize,
        hidden: usize,
        out: usize,
        n_times: usize,
        act: Activation,
    ) -> Result<Self, Error> {
        if n_times == 0 {
            return Err(Error::InvalidConfig("trunk needs at least one step"));
        }
        let time_mlp = match Mlp::new(&[emb, hidden, hidden], act) {
            Ok(m) => m,
            Err(e) => return Err(e),
        };
        let state = match Linear::new(inp, hidden) {
            Ok(l) => l,
            Err(e) => return Err(e),
        };
        let head = match Mlp::new(&[hidden, hidden, hidden, out], act) {
            Ok(m) => m.with_input_activation(),
            Err(e) => return Err(e),
        };
        Ok(Trunk {
            n_times,
            time_mlp,
            state,
            head,
        })
    }

    /// The same trunk with `layers` linear layers in its head (`layers − 1` hidden layers of
    /// `H` after the sum, then the output layer; [`Trunk::new`] gives 3). The RSMC JAX
    /// network's `state_time_net` has 2.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `layers` is 0 or above [`super::MAX_LAYERS`].
    pub const fn with_head_layers(mut self, layers: usize) -> Result<Self, Error> {
        if layers == 0 || layers > super::MAX_LAYERS {
            return Err(Error::InvalidConfig(
                "trunk head needs 1 to MAX_LAYERS layers",
            ));
        }
        let (h, out) = (self.hidden(), self.head.output_dim());
        let mut widths = [h; super::MAX_LAYERS + 1];
        widths[layers] = out;
        self.head = match Mlp::new(widths.split_at(layers + 1).0, self.head.hidden_act()) {
            Ok(m) => m.with_input_activation(),
            Err(e) => return Err(e),
        };
        Ok(self)
    }

    const fn hidden(&self) -> usize {
        self.state.out()
    }

    /// The time MLP.
    pub const fn time_mlp(&self) -> &Mlp {
        &self.time_mlp
    }
    /// The state layer.
    pub const fn state(&self) -> &Linear {
        &self.state
    }
    /// The head MLP.
    pub const fn head(&self) -> &Mlp {
        &self.head
    }

    /// Length of the embedding `e` at the start of the cache: `N·E`.
    pub const fn emb_len(&self) -> usize {
        self.n_times * self.time_mlp.input_dim()
    }

    /// Number of parameters.
    pub const fn param_count(&self) -> usize {
        self.time_mlp.param_count() + self.state.param_count() + self.head.param_count()
    }

    /// Cache length for a batch of `batch` rows.
    pub const fn cache_len(&self, batch: usize) -> usize {
        self.emb_len()
            + self.time_mlp.cache_len(self.n_times)
            + self.n_times * self.hidden()
            + self.head.cache_len(batch)
    }

    /// Scratch length of the MLPs alone at `batch` rows (the tail of the scratch).
    pub const fn inner_scratch_len(&self, batch: usize) -> usize {
        let a = self.head.scratch_len(batch);
        let b = self.time_mlp.scratch_len(self.n_times);
        if a > b { a } else { b }
    }

    /// Scratch length for [`forward`](Self::forward) and [`backward`](Self::backward).
    pub const fn scratch_len(&self, batch: usize) -> usize {
        (batch + self.n_times) * self.hidden() + self.inner_scratch_len(batch)
    }

    fn split<'p>(&self, p: &'p [f32]) -> (&'p [f32], &'p [f32], &'p [f32]) {
        let (time, r) = p.split_at(self.time_mlp.param_count());
        let (state, head) = r.split_at(self.state.param_count());
        (time, state, head)
    }

    /// Splits parameters (or gradients) into `(time MLP, state, head)`.
    pub(crate) fn split_mut<'p>(
        &self,
        p: &'p mut [f32],
    ) -> (&'p mut [f32], &'p mut [f32], &'p mut [f32]) {
        let (time, r) = p.split_at_mut(self.time_mlp.param_count());
        let (state, head) = r.split_at_mut(self.state.param_count());
        (time, state, head)
    }

    fn check_rows(&self, rows: Rows<'_>) -> Result<(), Error> {
        check_len("trunk x", rows.batch * self.state.inp(), rows.x.len())?;
        if let Some(s) = rows.steps {
            check_len("trunk steps", rows.batch, s.len())?;
            if s.iter().any(|&t| t as usize >= self.n_times) {
                return Err(Error::InvalidConfig("step out of range"));
            }
        }
        Ok(())
    }

    /// The step of row `b`.
    fn step(rows: Rows<'_>, b: usize) -> usize {
        rows.steps.map_or(0, |s| s[b] as usize)
    }

    /// Forward pass on `rows`, the embedding being at the start of `pass.cache`: writes
    /// `pass.out` and, if `grad`, the cache [`backward`](Self::backward) reads (without
    /// `grad` the head keeps no activation cache: the same output bits, sampling only).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a buffer of the wrong length; [`Error::InvalidConfig`]
    /// for a step out of range.
    pub fn forward(
        &self,
        params: &[f32],
        rows: Rows<'_>,
        pass: Pass<'_>,
        grad: bool,
    ) -> Result<(), Error> {
        let Pass {
            cache,
            scratch,
            out,
        } = pass;
        let batch = rows.batch;
        check_len("trunk params", self.param_count(), params.len())?;
        self.check_rows(rows)?;
        check_min_len("trunk cache", self.cache_len(batch), cache.len())?;
        check_min_len("trunk scratch", self.scratch_len(batch), scratch.len())?;
        let (time, state, head) = self.split(params);
        let (h, n) = (self.hidden(), self.n_times);
        let (emb, rest) = cache.split_at_mut(self.emb_len());
        let (time_cache, rest) = rest.split_at_mut(self.time_mlp.cache_len(n));
        let (tau, head_cache) = rest.split_at_mut(n * h);
        self.time_mlp.forward(time, emb, n, time_cache, tau)?;
        let (z, inner) = scratch.split_at_mut(batch * h);
        self.state.forward(state, rows.x, batch, z)?;
        for (b, row) in z.chunks_exact_mut(h).enumerate() {
            let s = Self::step(rows, b);
            for (v, &tv) in row.iter_mut().zip(&tau[s * h..(s + 1) * h]) {
                *v += tv;
            }
        }
        if grad {
            self.head.forward(head, z, batch, head_cache, out)
        } else {
            self.head.predict(head, z, batch, inner, out)
        }
    }

    /// Backward pass for the forward pass whose rows and cache are `tape`: **accumulates**
    /// parameter gradients into `g.params`, **writes** `∂L/∂x` into `g.dx` and `∂L/∂e` into
    /// `g.demb` when given.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a buffer of the wrong length; [`Error::InvalidConfig`]
    /// for a step out of range.
    pub fn backward(
        &self,
        params: &[f32],
        tape: TrunkTape<'_>,
        g: TrunkGrads<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let TrunkTape { rows, cache } = tape;
        let TrunkGrads {
            dout,
            params: grads,
            dx,
            demb,
        } = g;
        let batch = rows.batch;
        check_len("trunk params", self.param_count(), params.len())?;
        check_len("trunk grads", self.param_count(), grads.len())?;
        self.check_rows(rows)?;
        check_min_len("trunk cache", self.cache_len(batch), cache.len())?;
        check_min_len("trunk scratch", self.scratch_len(batch), scratch.len())?;
        let (time, state, head) = self.split(params);
        let (g_time, g_state, g_head) = self.split_mut(grads);
        let (h, n) = (self.hidden(), self.n_times);
        let rest = &cache[self.emb_len()..];
        let (time_cache, rest) = rest.split_at(self.time_mlp.cache_len(n));
        let head_cache = &rest[n * h..];
        let (dz, rest) = scratch.split_at_mut(batch * h);
        let (dtau, inner) = rest.split_at_mut(n * h);
        let tape = Tape {
            cache: head_cache,
            batch,
        };
        self.head
            .backward(head, tape, dout, Grads::with_input(g_head, dz), inner)?;
        let g = Grads {
            params: g_state,
            input: dx,
        };
        self.state.backward(state, rows.x, batch, dz, g)?;
        dtau.fill(0.0);
        for (b, row) in dz.chunks_exact(h).enumerate() {
            let s = Self::step(rows, b);
            for (d, &v) in dtau[s * h..(s + 1) * h].iter_mut().zip(row) {
                *d += v;
            }
        }
        let tape = Tape {
            cache: time_cache,
            batch: n,
        };
        let g = Grads {
            params: g_time,
            input: demb,
        };
        self.time_mlp.backward(time, tape, dtau, g, inner)
    }
}
