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
//! Storage ([`Trajectories`]) is caller-owned: states `[(T+1), B, d]` (step-major), per-step
//! `log p_F` and `log p_B` `[T, B]`, network outputs `[T, B, out]`, and optionally the
//! per-step network caches `[T, cache_len(B)]` needed by [`super::tb`] to back-propagate.

use super::net::PisNet;
use super::reference::Schedule;
use crate::error::{Error, check_len, check_min_len};
use crate::math;
use crate::rng::{Rng, fill_standard_normal};
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

    fn validate(&self, net: &PisNet, need_cache: bool) -> Result<(), Error> {
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

    fn validate(&self, net: &PisNet, batch: usize) -> Result<(), Error> {
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

/// Mean and log-variance correction of `p_F` for one coordinate from the raw outputs.
#[inline]
fn kernel_params(
    cfg: &PolicyConfig,
    a: f32,
    c: f32,
    x: f32,
    g_raw: f32,
    r_raw: Option<f32>,
) -> (f32, f32) {
    let g = g_raw.clamp(-cfg.output_clip, cfg.output_clip);
    let s = match r_raw {
        Some(r) => cfg.log_var_range * math::tanh(r.clamp(-cfg.output_clip, cfg.output_clip)),
        None => 0.0,
    };
    (a * x + c * g, s)
}

/// `e^s`, the variance factor of `p_F`: `1` without a learnt variance (`s = 0`, and libm's
/// `e^0` is exactly 1, so skipping the call keeps the bits).
#[inline]
fn var_factor(cfg: &PolicyConfig, s: f32) -> f32 {
    if cfg.learned_variance {
        math::exp(s)
    } else {
        1.0
    }
}

/// `ln(2π) + ln v`, the per-step constant of [`log_normal`] (hoisted out of the batch loop;
/// the sum is rounded as it was inside the expression).
#[inline]
fn log_normal_const(v: f32) -> f32 {
    math::LN_2PI as f32 + math::ln(v)
}

/// `log N(y; μ, var)` for one coordinate with `var = v e^s` and `k = ln(2π) + ln v`
/// ([`log_normal_const`]).
#[inline]
fn log_normal(y: f32, mean: f32, var: f32, s: f32, k: f32) -> f32 {
    let d = y - mean;
    -0.5 * (k + s + d * d / var)
}

/// Computes `log p_F` of one step for the whole batch from stored outputs.
fn step_log_pf(
    cfg: &PolicyConfig,
    sched: &Schedule<'_>,
    n: usize,
    dim: usize,
    x: &[f32],
    y: &[f32],
    out: &[f32],
    log_pf: &mut [f32],
) {
    let (a, c, v) = (sched.a(n), sched.c(n), sched.v(n));
    let k = log_normal_const(v);
    let ow = cfg.net_out(dim);
    for (((xr, yr), orow), lp) in x
        .chunks_exact(dim)
        .zip(y.chunks_exact(dim))
        .zip(out.chunks_exact(ow))
        .zip(log_pf.iter_mut())
    {
        let mut acc = 0.0f32;
        for j in 0..dim {
            let r = cfg.learned_variance.then(|| orow[dim + j]);
            let (mean, s) = kernel_params(cfg, a, c, xr[j], orow[j], r);
            acc += log_normal(yr[j], mean, v * var_factor(cfg, s), s, k);
        }
        *lp = acc;
    }
}

/// Fills `lgrad` with `clip(∇log R(x), ±c)` for every row when the network has a
/// Langevin branch; returns the slice to pass to [`PisNet::forward_lp`].
fn langevin_input<'w, T: LogDensity + ?Sized>(
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

/// `log p_B(x_n | x_{n+1})` of one step for the whole batch (`x` at step `n`, `y` at `n+1`).
fn step_log_pb(sched: &Schedule<'_>, n: usize, d: usize, x: &[f32], y: &[f32], log_pb: &mut [f32]) {
    for ((xr, yr), lpb) in x
        .chunks_exact(d)
        .zip(y.chunks_exact(d))
        .zip(log_pb.iter_mut())
    {
        *lpb = sched.log_pb(n, xr, yr);
    }
}

/// Draws `x₀` into `states[0]` from the initial law (0 for the pinned process, `N(0, σ²I)`
/// for OU).
fn draw_initial<R: Rng + ?Sized>(sched: &Schedule<'_>, x0: &mut [f32], rng: &mut R) {
    match sched.process() {
        super::reference::Process::PinnedBrownian { .. } => x0.iter_mut().for_each(|v| *v = 0.0),
        super::reference::Process::OrnsteinUhlenbeck { init_std } => {
            fill_standard_normal(rng, x0);
            x0.iter_mut().for_each(|v| *v *= init_std);
        }
    }
}

/// The batch's [`Trajectories`] and [`Workspace`] views over a trainer's fields named
/// `t_states`, `t_lpf`, `t_lpb`, `t_out`, `t_cache` and `p_scratch`, `p_cache`, `p_noise`,
/// `p_lgrad` (the diffusion trainer and the continuous teacher both carve these). A macro,
/// not a method, so that the borrows stay per field and the owner's other fields (its
/// parameters, its schedule table) remain usable beside the views.
macro_rules! batch_views {
    ($t:ident, $batch:expr, $dim:expr, $steps:expr) => {
        (
            $crate::samplers::diffusion::policy::Trajectories {
                batch: $batch,
                dim: $dim,
                steps: $steps,
                states: $t.t_states,
                log_pf: $t.t_lpf,
                log_pb: $t.t_lpb,
                outputs: $t.t_out,
                cache: $t.t_cache,
            },
            $crate::samplers::diffusion::policy::Workspace {
                net_scratch: $t.p_scratch,
                step_cache: $t.p_cache,
                noise: $t.p_noise,
                lgrad: $t.p_lgrad,
            },
        )
    };
}
pub(crate) use batch_views;

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

/// On-policy rollout: draws `x₀`, then `T` steps of `p_F`, filling states, outputs,
/// `log p_F`, `log p_B` and (if `keep_cache`) the per-step network caches.
///
/// # Errors
/// [`Error::ShapeMismatch`]/[`Error::InvalidConfig`] for inconsistent buffers or settings.
pub fn sample_forward<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &PolicyConfig,
    sched: &Schedule<'_>,
    net: &PisNet,
    params: &[f32],
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    keep_cache: bool,
    rng: &mut R,
) -> Result<(), Error> {
    let steps = traj.steps;
    sample_forward_range(
        cfg, sched, net, params, target, traj, ws, keep_cache, 0, steps, rng,
    )
}

/// As [`sample_forward`] but only steps `start..end` (the states at `start` must already be
/// in place; `start = 0` draws `x₀`). Used by SMC to propagate chunk by chunk.
///
/// # Errors
/// As [`sample_forward`], and [`Error::InvalidConfig`] for an empty or out-of-range interval.
pub fn sample_forward_range<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &PolicyConfig,
    sched: &Schedule<'_>,
    net: &PisNet,
    params: &[f32],
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    keep_cache: bool,
    start: usize,
    end: usize,
    rng: &mut R,
) -> Result<(), Error> {
    cfg.validate()?;
    traj.validate(net, keep_cache)?;
    ws.validate(net, traj.batch)?;
    if sched.steps() != traj.steps {
        return Err(Error::ShapeMismatch {
            what: "schedule steps",
            expected: traj.steps,
            got: sched.steps(),
        });
    }
    if net.out() != cfg.net_out(net.dim()) {
        return Err(Error::ShapeMismatch {
            what: "policy net outputs",
            expected: cfg.net_out(net.dim()),
            got: net.out(),
        });
    }
    if start >= end || end > traj.steps {
        return Err(Error::InvalidConfig(
            "rollout step range must satisfy start < end <= T",
        ));
    }
    let (b, d, t) = (traj.batch, traj.dim, traj.steps);
    let w = b * d;
    let ow = net.out();
    let cl = net.cache_len(b);
    if start == 0 {
        draw_initial(sched, &mut traj.states[..w], rng);
    }
    let explore2 = cfg.exploration_std * cfg.exploration_std;
    for n in start..end {
        let (before, after) = traj.states.split_at_mut((n + 1) * w);
        let x = &before[n * w..];
        let y = &mut after[..w];
        let out = &mut traj.outputs[n * b * ow..(n + 1) * b * ow];
        let cache: &mut [f32] = if keep_cache {
            &mut traj.cache[n * cl..(n + 1) * cl]
        } else {
            &mut ws.step_cache[..cl]
        };
        let lgrad = langevin_input(cfg, net, target, x, ws.lgrad);
        // without kept caches nothing is back-propagated: skip the activation derivatives
        let forward = if keep_cache {
            PisNet::forward_lp
        } else {
            PisNet::forward_no_grad_lp
        };
        forward(
            net,
            params,
            x,
            b,
            n as f32 / t as f32,
            lgrad,
            cache,
            ws.net_scratch,
            out,
        )?;
        fill_standard_normal(rng, &mut ws.noise[..w]);
        let (a, c, v) = (sched.a(n), sched.c(n), sched.v(n));
        let k = log_normal_const(v);
        // the step and its `log p_F` in one pass (the same operations as `step_log_pf`,
        // without evaluating tanh and exp twice)
        for ((((xr, yr), orow), er), lp) in x
            .chunks_exact(d)
            .zip(y.chunks_exact_mut(d))
            .zip(out.chunks_exact(ow))
            .zip(ws.noise.chunks_exact(d))
            .zip(traj.log_pf[n * b..(n + 1) * b].iter_mut())
        {
            let mut acc = 0.0f32;
            for j in 0..d {
                let r = cfg.learned_variance.then(|| orow[d + j]);
                let (mean, s) = kernel_params(cfg, a, c, xr[j], orow[j], r);
                let mut e = er[j];
                if cfg.noise_clip > 0.0 {
                    e = e.clamp(-cfg.noise_clip, cfg.noise_clip);
                }
                let var = v * var_factor(cfg, s);
                let sd = math::sqrt(var + explore2);
                let yj = mean + sd * e;
                yr[j] = yj;
                acc += log_normal(yj, mean, var, s, k);
            }
            *lp = acc;
        }
        step_log_pb(sched, n, d, x, y, &mut traj.log_pb[n * b..(n + 1) * b]);
    }
    Ok(())
}

/// Off-policy trajectories: puts `x_T` (`B × d`) at the end and runs the backward kernel
/// `p_B` down to `x₀`, filling states and `log p_B` (the pinned process ends exactly at 0).
/// Call [`score`] afterwards for `log p_F` under the current policy.
///
/// # Errors
/// [`Error::ShapeMismatch`] for inconsistent lengths.
pub fn sample_backward<R: Rng + ?Sized>(
    sched: &Schedule<'_>,
    x_t: &[f32],
    traj: &mut Trajectories<'_>,
    noise: &mut [f32],
    rng: &mut R,
) -> Result<(), Error> {
    let (b, d, t) = (traj.batch, traj.dim, traj.steps);
    let w = b * d;
    check_len("terminal states", w, x_t.len())?;
    check_len("trajectory states", (t + 1) * w, traj.states.len())?;
    check_len("trajectory log_pb", t * b, traj.log_pb.len())?;
    check_min_len("backward noise", w, noise.len())?;
    if sched.steps() != t {
        return Err(Error::ShapeMismatch {
            what: "schedule steps",
            expected: t,
            got: sched.steps(),
        });
    }
    traj.states[t * w..].copy_from_slice(x_t);
    for n in (0..t).rev() {
        let (before, after) = traj.states.split_at_mut((n + 1) * w);
        let xn = &mut before[n * w..];
        let xp = &after[..w];
        let (bn, wn) = (sched.b(n), sched.w(n));
        if wn == 0.0 {
            xn.iter_mut().for_each(|v| *v = 0.0);
        } else {
            fill_standard_normal(rng, &mut noise[..w]);
            let sd = math::sqrt(wn);
            for ((v, &p), &e) in xn.iter_mut().zip(xp).zip(noise.iter()) {
                *v = bn * p + sd * e;
            }
        }
        step_log_pb(sched, n, d, xn, xp, &mut traj.log_pb[n * b..(n + 1) * b]);
    }
    Ok(())
}

/// Re-scores stored trajectories under the current policy: runs the network at every step
/// (keeping caches if `keep_cache`), filling outputs and `log p_F`.
///
/// # Errors
/// As [`sample_forward`].
pub fn score<T: LogDensity + ?Sized>(
    cfg: &PolicyConfig,
    sched: &Schedule<'_>,
    net: &PisNet,
    params: &[f32],
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    keep_cache: bool,
) -> Result<(), Error> {
    cfg.validate()?;
    traj.validate(net, keep_cache)?;
    ws.validate(net, traj.batch)?;
    let (b, d, t) = (traj.batch, traj.dim, traj.steps);
    let w = b * d;
    let ow = net.out();
    let cl = net.cache_len(b);
    for n in 0..t {
        let x = &traj.states[n * w..(n + 1) * w];
        let y = &traj.states[(n + 1) * w..(n + 2) * w];
        let out = &mut traj.outputs[n * b * ow..(n + 1) * b * ow];
        let cache: &mut [f32] = if keep_cache {
            &mut traj.cache[n * cl..(n + 1) * cl]
        } else {
            &mut ws.step_cache[..cl]
        };
        let lgrad = langevin_input(cfg, net, target, x, ws.lgrad);
        // without kept caches nothing is back-propagated: skip the activation derivatives
        let forward = if keep_cache {
            PisNet::forward_lp
        } else {
            PisNet::forward_no_grad_lp
        };
        forward(
            net,
            params,
            x,
            b,
            n as f32 / t as f32,
            lgrad,
            cache,
            ws.net_scratch,
            out,
        )?;
        step_log_pf(
            cfg,
            sched,
            n,
            d,
            x,
            y,
            out,
            &mut traj.log_pf[n * b..(n + 1) * b],
        );
    }
    Ok(())
}

/// Log importance weights `log w_b = log R(x_T) + Σ log p_B − log p₀(x₀) − Σ log p_F`, an
/// unbiased-in-expectation estimate of `log Z` per trajectory (its mean is the ELBO for
/// forward trajectories and the EUBO for backward ones, `rsmc.md` §5). `log_r` holds
/// `log R(x_T)` per trajectory; `out` receives `B` values.
///
/// # Errors
/// [`Error::ShapeMismatch`] for inconsistent lengths.
pub fn log_weights(
    sched: &Schedule<'_>,
    traj: &Trajectories<'_>,
    log_r: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    let (b, d, t) = (traj.batch, traj.dim, traj.steps);
    check_len("log_r", b, log_r.len())?;
    check_len("log weights", b, out.len())?;
    let x0 = &traj.states[..b * d];
    for (i, o) in out.iter_mut().enumerate() {
        let mut acc = log_r[i] as f64 - sched.log_p0(&x0[i * d..(i + 1) * d]) as f64;
        for n in 0..t {
            acc += traj.log_pb[n * b + i] as f64 - traj.log_pf[n * b + i] as f64;
        }
        *o = acc as f32;
    }
    Ok(())
}

/// Upstream gradient of `Σ_b coef_b · log p_F(x_{n+1}^b | x_n^b)` with respect to the raw
/// network outputs at step `n` (zero where the output was clipped).
pub(crate) fn log_pf_output_grad(
    cfg: &PolicyConfig,
    sched: &Schedule<'_>,
    n: usize,
    dim: usize,
    x: &[f32],
    y: &[f32],
    out: &[f32],
    coef: &[f32],
    dout: &mut [f32],
) {
    let (a, c, v) = (sched.a(n), sched.c(n), sched.v(n));
    let ow = cfg.net_out(dim);
    let clip = cfg.output_clip;
    for ((((xr, yr), orow), drow), &k) in x
        .chunks_exact(dim)
        .zip(y.chunks_exact(dim))
        .zip(out.chunks_exact(ow))
        .zip(dout.chunks_exact_mut(ow))
        .zip(coef)
    {
        for j in 0..dim {
            let r = cfg.learned_variance.then(|| orow[dim + j]);
            // tanh of the clipped r, once: where r is clipped its gradient is 0 anyway
            let th = r.map(|r| math::tanh(r.clamp(-clip, clip)));
            let g = orow[j].clamp(-clip, clip);
            let s = match th {
                Some(th) => cfg.log_var_range * th,
                None => 0.0,
            };
            let mean = a * xr[j] + c * g;
            let var = v * var_factor(cfg, s);
            let resid = yr[j] - mean;
            // ∂/∂g: c (y − μ)/var
            drow[j] = if orow[j].abs() > clip {
                0.0
            } else {
                k * c * resid / var
            };
            if let (Some(r), Some(th)) = (r, th) {
                // ∂/∂s = ½((y − μ)²/var − 1), ∂s/∂r = L (1 − tanh²(r))
                let ds = 0.5 * (resid * resid / var - 1.0);
                drow[dim + j] = if r.abs() > clip {
                    0.0
                } else {
                    k * ds * cfg.log_var_range * (1.0 - th * th)
                };
            }
        }
    }
}
