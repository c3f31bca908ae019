//! The diffusion trainer's memory: [`Layout`] sizes the two caller-owned arenas (`f32` and
//! `u32`) from the configuration, and [`Views`] carves them into named buffers on each call,
//! so no struct holds them between calls.

use super::super::flow::{Flows, SubTbWorkspace, Twist};
use super::super::net::PisNet;
use super::super::policy::{self, Trajectories};
use super::super::reference::Schedule;
use super::super::smc::{self, SmcWorkspace};
use super::config::Config;
use super::parts::policy_at;
use crate::arena::{Carried, carve_arenas, same_layout};
use crate::error::Error;
use crate::optim::Model;

/// Sizes of every buffer of the trainer, computed once from the configuration, and the
/// network descriptors they follow from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// State dimension `d`.
    pub dim: usize,
    /// The policy network.
    pub net: PisNet,
    /// The flow model (RSMC only).
    pub flows: Option<Flows>,
    /// Policy parameters (the first group).
    pub policy_params: usize,
    /// Flow parameters, network and β logits (0 without flows).
    pub flow_params: usize,
    /// Diffusion steps `T`.
    pub steps: usize,
    /// Training batch `B`.
    pub batch: usize,
    /// SMC particles `N` (0 without SMC).
    pub particles: usize,
    /// Length of the schedule table.
    pub table_len: usize,
    /// Total trainable parameters (policy, flow net, β logits, `log Z`).
    pub n_params: usize,
    sizes: Sizes,
    /// Length of the `f32` arena.
    pub f32_len: usize,
    /// Length of the `u32` arena.
    pub u32_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sizes {
    pws: (usize, usize, usize, usize),
    smc_ws: [usize; 10],
    subtb: [usize; 7],
    buffer: usize,
    /// Buffer entries whose origin is tracked (the capacity under
    /// [`super::McmcWeights::Resampled`] augmentation, else 0).
    origin: usize,
}

fn sum4(t: (usize, usize, usize, usize)) -> usize {
    t.0 + 2 * t.1 + t.2 + t.3
}

impl Layout {
    /// Computes the layout for `cfg` on a `dim`-dimensional target.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration; [`Error::CapacityExceeded`] if the
    /// sizes overflow.
    pub fn new(cfg: &Config, dim: usize) -> Result<Self, Error> {
        cfg.validate()?;
        if dim == 0 {
            return Err(Error::InvalidConfig("target dimension must be >= 1"));
        }
        let net = cfg.policy_net(dim)?;
        let flows = if cfg.method.has_flows() {
            Some(cfg.flows(dim)?)
        } else {
            None
        };
        let policy_params = net.param_count();
        let flow_params = flows.map_or(0, |f| f.param_count());
        let n_params = policy_params + flow_params + 1;
        let b = cfg.batch;
        let n = if cfg.method.has_smc() {
            cfg.particles
        } else {
            0
        };
        let traj = Trajectories::lens(&net, b, cfg.steps, true);
        let smc_traj = if n > 0 {
            Trajectories::lens(&net, n, cfg.steps, false)
        } else {
            (0, 0, 0, 0)
        };
        let (p0, p1, p2) = policy::Workspace::lens(&net, b.max(n));
        let pws = (p0, p1, p2, policy::Workspace::lgrad_len(&net, b.max(n)));
        let smc_ws = if n > 0 {
            SmcWorkspace::lens(n, dim, cfg.steps, flows.as_ref())
        } else {
            [0; 10]
        };
        let subtb = flows.map_or([0; 7], |f| SubTbWorkspace::lens(&f, b));
        let buffer = if cfg.method.has_buffer() {
            cfg.buffer_capacity
        } else {
            0
        };
        let resampled = cfg
            .buffer_mcmc
            .is_some_and(|m| m.weights == super::McmcWeights::Resampled);
        let origin = if resampled { buffer } else { 0 };
        let sizes = Sizes {
            pws,
            smc_ws,
            subtb,
            buffer,
            origin,
        };
        let big = |x: Option<usize>| {
            x.ok_or(Error::CapacityExceeded {
                what: "training arena",
                capacity: usize::MAX,
            })
        };
        let mut f = 4usize.checked_mul(n_params);
        f = f.and_then(|v| v.checked_add(Schedule::table_len(cfg.steps)));
        f = f.and_then(|v| v.checked_add(sum4(traj) + sum4(smc_traj)));
        f = f.and_then(|v| v.checked_add(pws.0 + pws.1 + pws.2 + pws.3));
        f = f.and_then(|v| v.checked_add(smc_ws.iter().sum::<usize>() - smc_ws[5]));
        f = f.and_then(|v| v.checked_add(subtb.iter().sum::<usize>()));
        // tb workspace: delta, coef, dout; log_r, log_w, x_t gather
        f = f.and_then(|v| v.checked_add(2 * b + b * net.out() + 2 * b + b * dim));
        // buffer: states, log_w, log_r, weights
        f = f.and_then(|v| buffer.checked_mul(dim + 3).and_then(|bb| v.checked_add(bb)));
        let f32_len = big(f)?;
        let u32_len = big(smc_ws[5]
            .checked_add(buffer)
            .and_then(|v| v.checked_add(b))
            .and_then(|v| v.checked_add(origin)))?;
        Ok(Layout {
            dim,
            net,
            flows,
            policy_params,
            flow_params,
            steps: cfg.steps,
            batch: b,
            particles: n,
            table_len: Schedule::table_len(cfg.steps),
            n_params,
            sizes,
            f32_len,
            u32_len,
        })
    }
}

impl Layout {
    /// Checks that `cfg` is the configuration this layout was made from.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if [`Layout::new`]`(cfg, dim)` differs from `self`.
    pub fn check(&self, cfg: &Config) -> Result<(), Error> {
        same_layout(&Layout::new(cfg, self.dim)?, self)
    }

    /// The parameters in an `f32` arena carved by this layout: its first
    /// [`Layout::n_params`] elements (empty if the arena is shorter), so an owner can read
    /// them without carving [`Views`].
    pub fn params<'p>(&self, f32_arena: &'p [f32]) -> &'p [f32] {
        f32_arena.get(..self.n_params).unwrap_or(&[])
    }
    /// The policy parameters of `params` (a slice of [`Layout::n_params`]).
    pub fn policy<'p>(&self, params: &'p [f32]) -> &'p [f32] {
        &params[..self.policy_params.min(params.len())]
    }
    /// The flow parameters of `params` (empty without flows).
    pub fn flow<'p>(&self, params: &'p [f32]) -> &'p [f32] {
        let a = self.policy_params.min(params.len());
        let b = (self.policy_params + self.flow_params).min(params.len());
        &params[a..b]
    }
    /// The twisted SMC sampler of the model with parameters `params` ([`Layout::n_params`]
    /// values): its policy as proposal under `cfg`'s settings and the schedule `sched`, its
    /// learnt flows (if it has them) as twists.
    pub fn sampler<'a>(
        &'a self,
        cfg: &'a Config,
        sched: &'a Schedule<'a>,
        params: &'a [f32],
    ) -> smc::Sampler<'a> {
        smc::Sampler {
            cfg: &cfg.smc,
            proposal: policy_at(cfg, self, sched, params),
            twist: self.flows.as_ref().map(|flows| Twist {
                flows,
                params: self.flow(params),
            }),
        }
    }
    /// The learnt `log Z`, the last parameter (NaN for an empty slice).
    pub fn log_z(&self, params: &[f32]) -> f32 {
        params.last().copied().unwrap_or(f32::NAN)
    }
}

/// The scratch of one TB step: `δ` and coefficients per trajectory, `∂L/∂out`.
#[derive(Debug)]
pub struct TbScratch<'a> {
    /// `[B]`.
    pub delta: &'a mut [f32],
    /// `[B]`.
    pub coef: &'a mut [f32],
    /// `[B, out]`.
    pub dout: &'a mut [f32],
}

/// Per-batch scratch: terminal `log R`, log weights, the buffer draw.
#[derive(Debug)]
pub struct BatchScratch<'a> {
    /// `[B]`: `log R(x_T)` of the batch.
    pub log_r: &'a mut [f32],
    /// `[B]`: log importance weights of an on-policy batch.
    pub log_w: &'a mut [f32],
    /// `[B, d]`: terminal states drawn from the buffer.
    pub x_t: &'a mut [f32],
    /// `[B]`: the buffer slots drawn.
    pub draw: &'a mut [u32],
}

/// The replay buffer's storage and sampling scratch.
#[derive(Debug)]
pub struct BufferViews<'a> {
    /// `[capacity, d]`.
    pub states: &'a mut [f32],
    /// `[capacity]`: log weights.
    pub log_w: &'a mut [f32],
    /// `[capacity]`: `log R`.
    pub log_r: &'a mut [f32],
    /// `[capacity]`: sampling weights.
    pub weights: &'a mut [f32],
    /// `[capacity]`: sort order.
    pub order: &'a mut [u32],
    /// `[capacity]` under [`super::McmcWeights::Resampled`] augmentation, else empty: 1
    /// where the entry was stored by the augmentation, 0 where by the policy or SMC.
    pub origin: &'a mut [u32],
}

/// Every buffer of the trainer, carved from the caller's two arenas on each call.
#[derive(Debug)]
pub struct Views<'a> {
    /// The layout the arenas were carved by.
    pub layout: Layout,
    /// Parameters `[policy | flow net | β logits | log Z]`, gradients, Adam moments.
    pub model: Model<'a>,
    /// The reference process's schedule table.
    pub table: &'a mut [f32],
    /// The training batch's trajectories (`B`, with per-step caches).
    pub traj: Trajectories<'a>,
    /// The SMC particles' trajectories (`N`, no caches; empty without SMC).
    pub smc_traj: Trajectories<'a>,
    /// The policy's workspace (sized for `max(B, N)`).
    pub pws: policy::Workspace<'a>,
    /// The SMC pass's workspace.
    pub smc: SmcWorkspace<'a>,
    /// The flows' SubTB workspace.
    pub subtb: SubTbWorkspace<'a>,
    /// TB scratch.
    pub tb: TbScratch<'a>,
    /// Per-batch scratch.
    pub batch: BatchScratch<'a>,
    /// The replay buffer.
    pub buffer: BufferViews<'a>,
}

impl<'a> Views<'a> {
    /// Carves the arenas, of exactly [`Layout::f32_len`] and [`Layout::u32_len`] elements
    /// (slice a longer static arena to those lengths first).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if an arena's length differs from the layout's.
    pub fn new(
        layout: &Layout,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        let lens = [layout.f32_len, layout.u32_len];
        let (mut c, mut cu) = carve_arenas(["f32 arena", "u32 arena"], lens, f32_arena, u32_arena)?;
        let s = &layout.sizes;
        let (d, b, n) = (layout.dim, layout.batch, layout.particles);
        let model = Model::carve(layout.n_params, &mut c)?;
        let table = c.take(layout.table_len)?;
        let net = &layout.net;
        let traj = Trajectories::carve(&mut c, net, (b, layout.steps), true)?;
        let smc_traj = Trajectories::carve(&mut c, net, (n, layout.steps), false)?;
        let pws = policy::Workspace {
            net_scratch: c.take(s.pws.0)?,
            step_cache: c.take(s.pws.1)?,
            noise: c.take(s.pws.2)?,
            lgrad: c.take(s.pws.3)?,
        };
        let smc = SmcWorkspace::carve_from(&mut c, &mut cu, &s.smc_ws)?;
        let u = &s.subtb;
        let subtb = SubTbWorkspace {
            boundary_log_r: c.take(u[0])?,
            boundary_log_f: c.take(u[1])?,
            cache: c.take(u[2])?,
            betas: c.take(u[3])?,
            dout: c.take(u[4])?,
            per_traj: c.take(u[5])?,
            net_scratch: c.take(u[6])?,
        };
        let tb = TbScratch {
            delta: c.take(b)?,
            coef: c.take(b)?,
            dout: c.take(b * layout.net.out())?,
        };
        let (log_r, log_w, x_t) = (c.take(b)?, c.take(b)?, c.take(b * d)?);
        let buffer = BufferViews {
            states: c.take(s.buffer * d)?,
            log_w: c.take(s.buffer)?,
            log_r: c.take(s.buffer)?,
            weights: c.take(s.buffer)?,
            order: cu.take(s.buffer)?,
            origin: cu.take(s.origin)?,
        };
        let batch = BatchScratch {
            log_r,
            log_w,
            x_t,
            draw: cu.take(b)?,
        };

        Ok(Views {
            layout: *layout,
            model,
            table,
            traj,
            smc_traj,
            pws,
            smc,
            subtb,
            tb,
            batch,
            buffer,
        })
    }

    /// The learnt `log Z`.
    pub fn log_z(&self) -> f32 {
        self.layout.log_z(self.model.params)
    }

    /// The buffers that carry over from one step to the next, in order: the parameters
    /// and Adam's moments ([`Model::carried`]), the schedule table, and the replay
    /// buffer's states, log weights and `log R` (and the entries' origin where it is
    /// tracked; its sampling weights and order are recomputed by every draw). Every other buffer is written before it is read in a
    /// step, so these, the [`super::State`] and the random stream resume a run exactly.
    pub fn carried(&mut self, f: &mut dyn FnMut(Carried<'_>)) {
        self.model.carried(f);
        f(Carried::F32(self.table));
        let b = &mut self.buffer;
        f(Carried::F32(b.states));
        f(Carried::F32(b.log_w));
        f(Carried::F32(b.log_r));
        if !b.origin.is_empty() {
            f(Carried::U32(b.origin));
        }
    }
}
