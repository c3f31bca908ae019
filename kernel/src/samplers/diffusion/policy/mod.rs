//! The learnt forward policy `p_F` of a diffusion sampler: rollouts, re-scoring of given
//! trajectories, and log-importance weights.
//!
//! With the reference coefficients `a_n, c_n, v_n` of [`super::reference`] and the network
//! output `(g, r) = net(x_n, n/T)`, the forward kernel is
//!
//! ```text
//! p_F(x_{n+1} | x_n) = N(a_n x_n + c_n g,  v_n e^{s} I),   s = L·tanh(r)  (learnt variance)
//!                                                             s = 0         (fixed variance)
//! ```
//!
//! (gfn-diffusion's `--learned_variance` with `log_var_range` `L = 4`; RSMC's `p_F` with a
//! fixed variance). Network outputs are clipped to `±output_clip` (1e4 in both codes; the
//! gradient is zero where clipped). Sampling may add exploration noise (the state is drawn
//! with variance `v e^s + σ_explore²` while `log p_F` keeps the policy's variance) and may
//! truncate the standard normal noise to `±noise_clip` (RSMC clips to ±4); `log p_F` is the
//! untruncated density in both cases, as in the reference codes.
//!
//! **States carry no gradient** (Choi et al. 2025, `rsmc.md` §1.3): losses differentiate only
//! the log-densities of the transitions, so a trajectory, once drawn, is data, whether it
//! came from `p_F` (on-policy), from `p_B` run backward from a buffer sample (off-policy), or
//! from SMC.
//!
//! The network, its parameters, the settings and the reference schedule travel together as
//! one [`Policy`]. The code is in two files, re-exported here: `rollout.rs` draws
//! trajectories ([`sample_forward`] under `p_F`, [`sample_backward`] under `p_B`),
//! `density.rs` evaluates the kernels' log-densities ([`score`], [`log_weights`], the
//! upstream gradient of `log p_F`).
//!
//! Storage ([`Trajectories`]) is caller-owned: states `[(T+1), B, d]` (step-major), per-step
//! `log p_F` and `log p_B` `[T, B]`, network outputs `[T, B, out]`, and optionally the
//! per-step network caches `[T, cache_len(B)]` needed by [`super::tb`] to back-propagate.

mod density;
mod rollout;

pub(crate) use density::{Transition, log_pf_output_grad};
pub use density::{log_weights, score};
pub use rollout::{sample_backward, sample_forward, sample_forward_range};

use super::net::PisNet;
use super::reference::Schedule;
use crate::arena::Carve;
use crate::error::{Error, check_len, check_min_len};
use crate::targets::LogDensity;

/// Policy settings beyond the network shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicyConfig {
    /// Learn a per-coordinate log-variance correction (network output `2d`). Defaults to
    /// `false` (gfn-diffusion default; RSMC uses a fixed variance).
    pub learned_variance: bool,
    /// `L` in `s = L·tanh(r)`. Defaults to `4.0` (gfn-diffusion `log_var_range`).
    pub log_var_range: f32,
    /// Clip of the network output. Defaults to `1e4`.
    pub output_clip: f32,
    /// Truncation of the sampling noise in standard deviations (0 = none). Defaults to `0`
    /// (RSMC uses 4).
    pub noise_clip: f32,
    /// Extra exploration standard deviation when sampling (0 = none). Defaults to `0`.
    pub exploration_std: f32,
    /// Clip of the target gradient fed to the Langevin branch of the network (if it has
    /// one). Defaults to `100` (gfn-diffusion and RSMC `clip(∇log R, ±100)`).
    pub langevin_clip: f32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            learned_variance: false,
            log_var_range: 4.0,
            output_clip: 1e4,
            noise_clip: 0.0,
            exploration_std: 0.0,
            langevin_clip: 100.0,
        }
    }
}

impl PolicyConfig {
    /// Network output width for state dimension `dim`.
    pub const fn net_out(&self, dim: usize) -> usize {
        if self.learned_variance { 2 * dim } else { dim }
    }

    /// Checks the fields.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.log_var_range.is_finite() && self.log_var_range >= 0.0) {
            return Err(Error::InvalidConfig(
                "log_var_range must be finite and >= 0",
            ));
        }
        if !(self.output_clip > 0.0) {
            return Err(Error::InvalidConfig("output_clip must be > 0"));
        }
        if !(self.noise_clip.is_finite() && self.noise_clip >= 0.0) {
            return Err(Error::InvalidConfig("noise_clip must be finite and >= 0"));
        }
        if !(self.langevin_clip > 0.0) {
            return Err(Error::InvalidConfig("langevin_clip must be > 0"));
        }
        if !(self.exploration_std.is_finite() && self.exploration_std >= 0.0) {
            return Err(Error::InvalidConfig(
                "exploration_std must be finite and >= 0",
            ));
        }
        Ok(())
    }
}

/// The learnt forward policy at its current parameters: the settings, the reference
/// schedule, the network and its parameters, the four values that every rollout, re-scoring
/// and policy gradient needs. `Copy`; built per call from the owner's fields.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// Policy settings (variance, clips, exploration).
    pub cfg: &'a PolicyConfig,
    /// The reference process's per-step coefficients.
    pub sched: &'a Schedule<'a>,
    /// The network's shape.
    pub net: &'a PisNet,
    /// The network's parameters ([`PisNet::param_count`] values).
    pub params: &'a [f32],
}

impl Policy<'_> {
    /// Checks the settings, the buffers and that the schedule and network fit the batch
    /// (`keep_cache`: the trajectories must hold the per-step caches).
    fn validate(
        &self,
        traj: &Trajectories<'_>,
        ws: &Workspace<'_>,
        keep_cache: bool,
    ) -> Result<(), Error> {
        self.cfg.validate()?;
        traj.validate(self.net, keep_cache)?;
        ws.validate(self.net, traj.batch)
    }
}

/// Caller-owned trajectory storage for a batch of `batch` chains of `steps` steps.
#[derive(Debug)]
pub struct Trajectories<'a> {
    /// Batch size `B`.
    pub batch: usize,
    /// State dimension `d`.
    pub dim: usize,
    /// Steps `T`.
    pub steps: usize,
    /// `[(T+1), B, d]`: `states[n]` is the batch at step `n`.
    pub states: &'a mut [f32],
    /// `[T, B]`: `log p_F(x_{n+1} | x_n)`.
    pub log_pf: &'a mut [f32],
    /// `[T, B]`: `log p_B(x_n | x_{n+1})`.
    pub log_pb: &'a mut [f32],
    /// `[T, B, out]`: raw network outputs (before clipping) at each step.
    pub outputs: &'a mut [f32],
    /// `[T, cache_len(B)]` network caches, or empty when only sampling.
    pub cache: &'a mut [f32],
}

impl Trajectories<'_> {
    /// Lengths `(states, log_pf/log_pb, outputs, cache)` for a network and policy.
    pub const fn lens(
        net: &PisNet,
        batch: usize,
        steps: usize,
        with_cache: bool,
    ) -> (usize, usize, usize, usize) {
        let cache = if with_cache {
            steps * net.cache_len(batch)
        } else {
            0
        };
        (
            (steps + 1) * batch * net.dim(),
            steps * batch,
            steps * batch * net.out(),
            cache,
        )
    }

    /// Carves storage for `batch` chains of `steps` steps (with the per-step network caches
    /// if `with_cache`) from `c`, in the order of [`Trajectories::lens`].
    pub(crate) fn carve<'a>(
        c: &mut Carve<'a, f32>,
        net: &PisNet,
        (batch, steps): (usize, usize),
        with_cache: bool,
    ) -> Result<Trajectories<'a>, Error> {
        let (s, l, o, ca) = Self::lens(net, batch, steps, with_cache);
        Ok(Trajectories {
            batch,
            dim: net.dim(),
            steps,
            states: c.take(s)?,
            log_pf: c.take(l)?,
            log_pb: c.take(l)?,
            outputs: c.take(o)?,
            cache: c.take(ca)?,
        })
    }

    pub(crate) fn validate(&self, net: &PisNet, need_cache: bool) -> Result<(), Error> {
        if self.batch == 0 || self.steps == 0 {
            return Err(Error::InvalidConfig(
                "trajectory batch and steps must be >= 1",
            ));
        }
        if self.dim != net.dim() {
            return Err(Error::ShapeMismatch {
                what: "trajectory dim",
                expected: net.dim(),
                got: self.dim,
            });
        }
        let (s, l, o, c) = Self::lens(net, self.batch, self.steps, need_cache);
        check_len("trajectory states", s, self.states.len())?;
        check_len("trajectory log_pf", l, self.log_pf.len())?;
        check_len("trajectory log_pb", l, self.log_pb.len())?;
        check_len("trajectory outputs", o, self.outputs.len())?;
        if need_cache {
            check_len("trajectory cache", c, self.cache.len())?;
        }
        Ok(())
    }

    /// The batch at step `n` (`B × d`).
    pub fn state(&self, n: usize) -> &[f32] {
        let w = self.batch * self.dim;
        &self.states[n * w..(n + 1) * w]
    }

    /// Terminal states `x_T` (`B × d`).
    pub fn terminal(&self) -> &[f32] {
        self.state(self.steps)
    }
}

/// Scratch for rollouts and scoring.
#[derive(Debug)]
pub struct Workspace<'a> {
    /// `[net.scratch_len(B)]`.
    pub net_scratch: &'a mut [f32],
    /// `[net.cache_len(B)]`: the one-step cache used when trajectories keep no caches.
    pub step_cache: &'a mut [f32],
    /// `[B·d]`: noise.
    pub noise: &'a mut [f32],
    /// `[B·d]`: clipped target gradients for a network with a Langevin branch (may be empty
    /// otherwise).
    pub lgrad: &'a mut [f32],
}

impl Workspace<'_> {
    /// Lengths `(net_scratch, step_cache, noise)`.
    pub const fn lens(net: &PisNet, batch: usize) -> (usize, usize, usize) {
        (
            net.scratch_len(batch),
            net.cache_len(batch),
            batch * net.dim(),
        )
    }

    /// Length of [`Workspace::lgrad`] (0 without a Langevin branch).
    pub const fn lgrad_len(net: &PisNet, batch: usize) -> usize {
        if net.has_langevin() {
            batch * net.dim()
        } else {
            0
        }
    }

    pub(crate) fn validate(&self, net: &PisNet, batch: usize) -> Result<(), Error> {
        let (a, b, c) = Self::lens(net, batch);
        check_min_len("policy net_scratch", a, self.net_scratch.len())?;
        check_min_len("policy step_cache", b, self.step_cache.len())?;
        check_min_len("policy noise", c, self.noise.len())?;
        check_min_len(
            "policy lgrad",
            Self::lgrad_len(net, batch),
            self.lgrad.len(),
        )?;
        Ok(())
    }
}

/// A batch's [`Trajectories`] and the [`Workspace`] for them, carved from one caller arena
/// of [`Rollout::arena_len`] values: how code outside a trainer (evaluation, the
/// playground, the multi-threaded TB runner) owns the buffers of a rollout.
#[derive(Debug)]
pub struct Rollout<'a> {
    /// The trajectories.
    pub traj: Trajectories<'a>,
    /// The workspace, with the Langevin gradient buffer when the network needs one.
    pub ws: Workspace<'a>,
}

impl<'a> Rollout<'a> {
    /// Arena length for `batch` chains of `steps` steps; `with_cache` keeps the per-step
    /// network caches that a TB backward pass needs ([`super::tb`]).
    pub const fn arena_len(net: &PisNet, batch: usize, steps: usize, with_cache: bool) -> usize {
        let (s, l, o, c) = Trajectories::lens(net, batch, steps, with_cache);
        let (a, b, n) = Workspace::lens(net, batch);
        s + 2 * l + o + c + a + b + n + Workspace::lgrad_len(net, batch)
    }

    /// Carves `arena` (at least [`Rollout::arena_len`] values; the rest is unused) into the
    /// trajectories and workspace of `batch` chains of `steps` steps.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `arena` is too short.
    pub fn carve(
        net: &PisNet,
        batch: usize,
        steps: usize,
        with_cache: bool,
        arena: &'a mut [f32],
    ) -> Result<Self, Error> {
        let mut c = Carve::new("rollout arena", arena);
        let traj = Trajectories::carve(&mut c, net, (batch, steps), with_cache)?;
        let (a, b, n) = Workspace::lens(net, batch);
        let ws = Workspace {
            net_scratch: c.take(a)?,
            step_cache: c.take(b)?,
            noise: c.take(n)?,
            lgrad: c.take(Workspace::lgrad_len(net, batch))?,
        };
        Ok(Rollout { traj, ws })
    }
}

/// Fills `lgrad` with `clip(∇log R(x), ±c)` for every row when the network has a
/// Langevin branch; returns the slice for [`NetInput::lgrad`](super::net::NetInput::lgrad).
pub(crate) fn langevin_input<'w, T: LogDensity + ?Sized>(
    cfg: &PolicyConfig,
    net: &PisNet,
    target: &T,
    x: &[f32],
    lgrad: &'w mut [f32],
) -> Option<&'w [f32]> {
    if !net.has_langevin() {
        return None;
    }
    let d = net.dim();
    let g = &mut lgrad[..x.len()];
    for (row, grow) in x.chunks_exact(d).zip(g.chunks_exact_mut(d)) {
        target.log_density_grad(row, grow);
        for v in grow.iter_mut() {
            *v = v.clamp(-cfg.langevin_clip, cfg.langevin_clip);
        }
    }
    Some(g)
}

/// `log R` of each `d`-dimensional row of `states` into `log_r`, with the samplers' failure
/// policy: a non-finite value (a target breaking the [`LogDensity`] contract) becomes `-inf`,
/// zero reward, so it gets weight 0 in SMC and in the buffer and is masked out of TB/SubTB.
pub(crate) fn fill_log_r<T: LogDensity + ?Sized>(
    target: &T,
    states: &[f32],
    d: usize,
    log_r: &mut [f32],
) {
    for (lr, row) in log_r.iter_mut().zip(states.chunks_exact(d)) {
        let v = target.log_density(row);
        *lr = if v.is_finite() { v } else { f32::NEG_INFINITY };
    }
}
