//! The log-densities of the policy's kernels: `p_F` of one coordinate, a step's `log p_F` and
//! `log p_B` over a batch, re-scoring stored trajectories under the current policy, the
//! log-importance weights, and the upstream gradient of `log p_F` with respect to the
//! network outputs (see the [parent module](super) for the kernel).

use super::super::net::{NetInput, PisNet};
use super::super::reference::Schedule;
use super::{Policy, PolicyConfig, Trajectories, Workspace, langevin_input};
use crate::error::{Error, check_len};
use crate::math;
use crate::targets::LogDensity;

/// One step `n` of a batch: the states `x` at `n` and `y` at `n + 1` (`B × d` each) and the
/// network outputs at `n` (`B × out`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transition<'a> {
    /// Step `n`.
    pub n: usize,
    /// State dimension `d`.
    pub dim: usize,
    /// States at step `n`.
    pub x: &'a [f32],
    /// States at step `n + 1`.
    pub y: &'a [f32],
    /// Raw network outputs at step `n`.
    pub out: &'a [f32],
}

impl<'a> Transition<'a> {
    /// Step `n` of the trajectories whose states and outputs are `states` and `outputs`
    /// ([`Trajectories`]), of `B` rows of dimension `d` and `out` network outputs
    /// (`(b, d, out)`).
    pub(crate) fn new(
        states: &'a [f32],
        outputs: &'a [f32],
        (b, d, out): (usize, usize, usize),
        n: usize,
    ) -> Self {
        let (w, ow) = (b * d, b * out);
        Transition {
            n,
            dim: d,
            x: &states[n * w..(n + 1) * w],
            y: &states[(n + 1) * w..(n + 2) * w],
            out: &outputs[n * ow..(n + 1) * ow],
        }
    }
}

/// The policy network at step `n` of `traj`: input `x_n` at time `n/T` (with the clipped
/// target gradient when the network has a Langevin branch), writing the step's outputs and
/// its network cache, kept in `traj.cache` for back-propagation if `keep_cache`, otherwise in
/// the workspace's one-step cache with the activation derivatives skipped.
///
/// # Errors
/// The network's shape errors.
pub(super) fn net_step<T: LogDensity + ?Sized>(
    policy: Policy<'_>,
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    (n, keep_cache): (usize, bool),
) -> Result<(), Error> {
    let Policy {
        cfg, net, params, ..
    } = policy;
    let (b, t) = (traj.batch, traj.steps);
    let (w, ow, cl) = (b * traj.dim, b * net.out(), net.cache_len(b));
    let x = &traj.states[n * w..(n + 1) * w];
    let out = &mut traj.outputs[n * ow..(n + 1) * ow];
    let cache: &mut [f32] = if keep_cache {
        &mut traj.cache[n * cl..(n + 1) * cl]
    } else {
        &mut ws.step_cache[..cl]
    };
    let lgrad = langevin_input(cfg, net, target, x, ws.lgrad);
    // without kept caches nothing is back-propagated: skip the activation derivatives
    let forward = if keep_cache {
        PisNet::forward
    } else {
        PisNet::forward_no_grad
    };
    let input = NetInput::new(x, b, n as f32 / t as f32).with_lgrad(lgrad);
    forward(net, params, input, cache, ws.net_scratch, out)
}

/// Mean and log-variance correction of `p_F` for one coordinate from the raw outputs.
#[inline]
pub(super) fn kernel_params(
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
pub(super) fn var_factor(cfg: &PolicyConfig, s: f32) -> f32 {
    if cfg.learned_variance {
        math::exp(s)
    } else {
        1.0
    }
}

/// `ln(2π) + ln v`, the per-step constant of [`log_normal`] (hoisted out of the batch loop;
/// the sum is rounded as it was inside the expression).
#[inline]
pub(super) fn log_normal_const(v: f32) -> f32 {
    math::LN_2PI as f32 + math::ln(v)
}

/// `log N(y; μ, var)` for one coordinate with `var = v e^s` and `k = ln(2π) + ln v`
/// ([`log_normal_const`]).
#[inline]
pub(super) fn log_normal(y: f32, mean: f32, var: f32, s: f32, k: f32) -> f32 {
    let d = y - mean;
    -0.5 * (k + s + d * d / var)
}

/// Computes `log p_F` of one step for the whole batch from stored outputs.
fn step_log_pf(cfg: &PolicyConfig, sched: &Schedule<'_>, step: Transition<'_>, log_pf: &mut [f32]) {
    let Transition { n, dim, x, y, out } = step;
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

/// `log p_B(x_n | x_{n+1})` of one step for the whole batch (`x` at step `n`, `y` at `n+1`).
pub(super) fn step_log_pb(
    sched: &Schedule<'_>,
    n: usize,
    d: usize,
    x: &[f32],
    y: &[f32],
    log_pb: &mut [f32],
) {
    for ((xr, yr), lpb) in x
        .chunks_exact(d)
        .zip(y.chunks_exact(d))
        .zip(log_pb.iter_mut())
    {
        *lpb = sched.log_pb(n, xr, yr);
    }
}

/// Re-scores stored trajectories under the current policy: runs the network at every step
/// (keeping caches if `keep_cache`), filling outputs and `log p_F`.
///
/// # Errors
/// As [`sample_forward`](super::sample_forward).
pub fn score<T: LogDensity + ?Sized>(
    policy: Policy<'_>,
    target: &T,
    traj: &mut Trajectories<'_>,
    ws: &mut Workspace<'_>,
    keep_cache: bool,
) -> Result<(), Error> {
    policy.validate(traj, ws, keep_cache)?;
    let shape = (traj.batch, traj.dim, policy.net.out());
    for n in 0..traj.steps {
        net_step(policy, target, traj, ws, (n, keep_cache))?;
        let step = Transition::new(traj.states, traj.outputs, shape, n);
        let b = traj.batch;
        step_log_pf(
            policy.cfg,
            policy.sched,
            step,
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
/// network outputs at step `n` of `step` (zero where the output was clipped).
pub(crate) fn log_pf_output_grad(
    cfg: &PolicyConfig,
    sched: &Schedule<'_>,
    step: Transition<'_>,
    coef: &[f32],
    dout: &mut [f32],
) {
    let Transition { n, dim, x, y, out } = step;
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
