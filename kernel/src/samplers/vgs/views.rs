//! The memory of a VGS trainer: [`Layout`] sizes two caller-owned arenas (`f32`, `u32`)
//! and [`Views`] carves them into named buffers on each call (STYLE.md habit 2), so no
//! struct borrows the arenas between calls.
//!
//! `f32` arena, in order: the value network as an optimiser [`Model`] (parameters,
//! gradients, Adam's two moments), the EMA target network, a gradient sink, `log σ_init` as
//! a one-parameter [`Model`], the behaviour rollout's states `(T+1)·B·d` and drifts
//! `T·B·d`, then the [`Work`] buffers. `u32` arena: the TD shuffle `T·B`, two step-index
//! rows `B` and the feature order `B·F`.

use super::config::Config;
use super::net::ValueNet;
use crate::arena::{carve_arenas, same_layout};
use crate::error::Error;
use crate::optim::Model;

/// Arena sizes and shapes of a VGS trainer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// State dimension `d`.
    pub dim: usize,
    /// Effective dimension `D` (`(n−1)·k` for n-body targets, else `d`).
    pub deff: usize,
    /// Feature width `F` of one state.
    pub nf: usize,
    /// Behaviour batch `B`.
    pub batch: usize,
    /// Steps `T`.
    pub steps: usize,
    /// The value network's shape.
    pub net: ValueNet,
    /// Value-network parameters.
    pub n_params: usize,
    /// Length of the `f32` arena.
    pub f32_len: usize,
    /// Length of the `u32` arena.
    pub u32_len: usize,
}

impl Layout {
    /// Sizes for `cfg` on a `dim`-dimensional target.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration or features that do not fit `dim`;
    /// [`Error::CapacityExceeded`] if the sizes overflow.
    pub fn new(cfg: &Config, dim: usize) -> Result<Self, Error> {
        cfg.validate()?;
        cfg.features.validate(dim)?;
        let net = cfg.net(dim)?;
        let (b, t, nf) = (cfg.batch, cfg.steps, cfg.features.out_dim(dim));
        let np = net.param_count();
        let over = Error::CapacityExceeded {
            what: "vgs arena",
            capacity: usize::MAX,
        };
        let bd = b.checked_mul(dim).ok_or(over)?;
        let states = bd.checked_mul(t + 1).ok_or(over)?;
        let bf = b.checked_mul(nf).ok_or(over)?;
        let times = |n: usize, k: usize| n.checked_mul(k).ok_or(over);
        // value model (4), target, sink; log σ model; states, drifts; Work
        let parts = [
            times(np, 6)?,
            Model::arena_len(1),
            states,
            states - bd,
            times(bd, 4)?,
            times(bf, 2)?,
            times(b, 4)?,
            net.cache_len(b),
            net.scratch_len(b),
            dim,
        ];
        let mut f32_len = 0usize;
        for p in parts {
            f32_len = f32_len.checked_add(p).ok_or(over)?;
        }
        let u32_len = b
            .checked_mul(t)
            .and_then(|v| v.checked_add(2 * b))
            .and_then(|v| v.checked_add(bf))
            .ok_or(over)?;
        Ok(Layout {
            dim,
            deff: cfg.features.effective_dim(dim),
            nf,
            batch: b,
            steps: t,
            net,
            n_params: np,
            f32_len,
            u32_len,
        })
    }

    /// Elements of one batch of states, `B·d` (no overflow after [`Layout::new`]).
    pub const fn rows_len(&self) -> usize {
        self.batch * self.dim
    }

    /// Elements of a rollout's states, `(T+1)·B·d`.
    pub const fn states_len(&self) -> usize {
        (self.steps + 1) * self.rows_len()
    }

    /// Elements of a rollout's drifts, `T·B·d`.
    pub const fn drifts_len(&self) -> usize {
        self.steps * self.rows_len()
    }

    /// Checks that `cfg` is the configuration this layout was made from.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if [`Layout::new`]`(cfg, dim)` differs from `self`.
    pub fn check(&self, cfg: &Config) -> Result<(), Error> {
        same_layout(&Layout::new(cfg, self.dim)?, self)
    }
}

/// Work buffers shared by rollouts and TD updates (rows `n ≤ B`).
#[derive(Debug)]
pub struct Work<'a> {
    /// `B·d`: `α_t x_t` in rollouts, `x_t` in TD minibatches, `σ z` in the `σ_init` step.
    pub xa: &'a mut [f32],
    /// `B·d`: `x'` in TD minibatches, `∇V̄` in the `σ_init` step.
    pub xb: &'a mut [f32],
    /// `B·d`: drifts `μ_t`.
    pub mu: &'a mut [f32],
    /// `B·d`: standard normal noise.
    pub eps: &'a mut [f32],
    /// `B·F`: features.
    pub feat: &'a mut [f32],
    /// `B·F`: feature gradients.
    pub dfeat: &'a mut [f32],
    /// `B`: network outputs.
    pub vout: &'a mut [f32],
    /// `B`: gradients of the network outputs.
    pub dout: &'a mut [f32],
    /// `B`: TD targets `y_t`.
    pub ytgt: &'a mut [f32],
    /// `B`: path log-weights of a sampling rollout.
    pub log_w: &'a mut [f32],
    /// The network's forward cache for `B` rows.
    pub cache: &'a mut [f32],
    /// The network's scratch for `B` rows.
    pub scratch: &'a mut [f32],
    /// `d`: one energy gradient.
    pub egrad: &'a mut [f32],
    /// `n_params`: parameter gradients of input-gradient passes, discarded.
    pub sink: &'a mut [f32],
    /// `B`: step index of each row.
    pub tidx: &'a mut [u32],
    /// `B`: next step index of each row.
    pub tnext: &'a mut [u32],
    /// `B·F`: feature order (sorted distances).
    pub order: &'a mut [u32],
}

/// The named buffers of a VGS trainer, carved from the caller's arenas on each call.
#[derive(Debug)]
pub struct Views<'a> {
    /// The layout the arenas were carved with.
    pub layout: Layout,
    /// The online value network `V_φ` and its gradients and Adam moments.
    pub model: Model<'a>,
    /// The EMA target network `V̄`, used for sampling and bootstrapping.
    pub target: &'a mut [f32],
    /// `log σ_init` (one parameter) and its gradient and Adam moments.
    pub sigma: Model<'a>,
    /// The last rollout's states, `(T+1)·B·d`, step-major.
    pub states: &'a mut [f32],
    /// The last rollout's drifts, `T·B·d`, step-major.
    pub drifts: &'a mut [f32],
    /// The TD shuffle of the `T·B` tuples.
    pub perm: &'a mut [u32],
    /// Work buffers.
    pub work: Work<'a>,
}

impl<'a> Views<'a> {
    /// Carves arenas of exactly [`Layout::f32_len`] and [`Layout::u32_len`] elements.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for an arena of another length.
    pub fn new(
        layout: &Layout,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        let l = *layout;
        let what = ["vgs f32 arena", "vgs u32 arena"];
        let (mut c, mut cu) = carve_arenas(what, [l.f32_len, l.u32_len], f32_arena, u32_arena)?;
        let (b, np, nf, bd) = (l.batch, l.n_params, l.nf, l.rows_len());
        let model = Model::carve(np, &mut c)?;
        let target = c.take(np)?;
        let sink = c.take(np)?;
        let sigma = Model::carve(1, &mut c)?;
        let states = c.take(l.states_len())?;
        let drifts = c.take(l.drifts_len())?;
        let (xa, xb, mu, eps) = (c.take(bd)?, c.take(bd)?, c.take(bd)?, c.take(bd)?);
        let (feat, dfeat) = (c.take(b * nf)?, c.take(b * nf)?);
        let (vout, dout, ytgt, log_w) = (c.take(b)?, c.take(b)?, c.take(b)?, c.take(b)?);
        let cache = c.take(l.net.cache_len(b))?;
        let scratch = c.take(l.net.scratch_len(b))?;
        let egrad = c.take(l.dim)?;
        let perm = cu.take(b * l.steps)?;
        let (tidx, tnext, order) = (cu.take(b)?, cu.take(b)?, cu.take(b * nf)?);
        Ok(Views {
            layout: l,
            model,
            target,
            sigma,
            states,
            drifts,
            perm,
            work: Work {
                xa,
                xb,
                mu,
                eps,
                feat,
                dfeat,
                vout,
                dout,
                ytgt,
                log_w,
                cache,
                scratch,
                egrad,
                sink,
                tidx,
                tnext,
                order,
            },
        })
    }

    /// `log σ_init`.
    pub fn log_sigma(&self) -> f32 {
        self.sigma.params.first().copied().unwrap_or(f32::NAN)
    }

    /// `σ_init = exp(log σ_init)`.
    pub fn init_sigma(&self) -> f32 {
        crate::math::exp(self.log_sigma())
    }

    /// The buffers that carry over from one step to the next, in order: the value
    /// network's parameters and Adam moments ([`Model::carried`]), the EMA target network,
    /// and `log σ_init` with its moments. The rollout, the TD shuffle and the work buffers
    /// are rewritten by every step.
    pub fn carried(&mut self, f: &mut dyn FnMut(crate::arena::Carried<'_>)) {
        self.model.carried(f);
        f(crate::arena::Carried::F32(self.target));
        self.sigma.carried(f);
    }
}
