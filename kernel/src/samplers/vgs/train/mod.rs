//! The VGS training kernel (Yoon et al. 2025, `vgs/models/vgsampler.py`:
//! `value_update_step_TD`, `update_init_sigma`; report B1.2): [`State`], [`Info`], [`init`]
//! and [`step`] over the [`Views`] of caller-owned arenas.
//!
//! **TD update**, after each behaviour batch ([`rollout`](super::rollout) with
//! `ν = train_noise`): the `T·B` tuples `(x_t, t, μ_t)` are shuffled into minibatches of `B`
//! (`n_update` epochs); for each, `x' = α_t x_t − μ_t + σ_t ε` (fresh noise, `ν = 1`),
//! `c_t = ‖μ_t‖²/(2 s_t² α_t²) − D log α_t`,
//! `y_t = [t = T−1]·min(E(x'), E_clip) + [t < T−1]·V̄(x', t+1) + τ c_t`, and one optimiser
//! step ([`Optimiser::step`], the value network one group clipped at `max_grad_norm`) on
//! `ℓ(V_φ(x_t, t)/D, y_t/D)` ([`super::loss`]). Then the target network moves by EMA,
//! `V̄ ← m V̄ + (1 − m) V_φ`, and, if `init_lr > 0`, the initial scale takes one optimiser
//! step on `(E_z[V̄(σ z, 0)] − τ D log σ)/D` through the reparameterised `z`:
//! `∂/∂log σ = (E[∇V̄(σz, 0)·σz] − τ D)/D`, then is clamped to `[−10, 10]`.
//!
//! **Robustness** (documented behaviour, never NaN samples): non-finite energies count as
//! `E_clip` in TD targets; non-finite states and TD targets are replaced and counted in
//! [`Info::non_finite`]; a non-finite gradient skips that optimiser step (counted in
//! [`crate::optim::OptimState::skipped`]).

use super::config::Config;
use super::loss::{TdBatch, TdInputs, TdSpec, td_minibatch};
use super::net::ValueInput;
use super::rollout::{Ctx, Roll};
use super::views::{Layout, Views};
use crate::arena::carved_by;
use crate::error::{Error, check_len};
use crate::math;
use crate::nn::LastLayerInit;
use crate::optim::{Group, OptimState, Optimiser};
use crate::rng::{Rng, uniform_f64};
use crate::targets::LogDensity;

/// State of a VGS trainer between steps (`log σ_init` is a parameter, in [`Views::sigma`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// Iterations done.
    pub iteration: u32,
    /// The value network's optimiser state.
    pub optim: OptimState,
    /// The optimiser state of `log σ_init`.
    pub sigma_optim: OptimState,
}

/// Diagnostics of one training iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Info {
    /// The iteration just done (0-based).
    pub iteration: u32,
    /// Mean TD loss over the iteration's minibatches.
    pub td_loss: f64,
    /// Pre-clip gradient norm of the last minibatch.
    pub grad_norm: f32,
    /// `σ_init` after the step.
    pub init_sigma: f32,
    /// Mean energy `E(x_T)` of the behaviour batch (finite values only; NaN if none).
    pub energy: f64,
    /// Non-finite values replaced during the behaviour rollout and the TD targets.
    pub non_finite: u32,
}

/// The value network's parameter group: all of it at `lr`, clipped at `max_grad_norm`.
fn value_groups(cfg: &Config, l: &Layout) -> [Group; 1] {
    [Group::new(l.n_params, cfg.lr, Some(cfg.max_grad_norm))]
}

/// Initialises the value network (PyTorch default; last layer zero, so `V ≡ 0` and the
/// untrained sampler is the reference process plus the last energy-gradient step), the
/// target network as a copy, `σ_init` from the schedule and both optimisers' moments.
///
/// # Errors
/// [`Error::InvalidConfig`] if `layout` is not `cfg`'s or `views` were carved with another
/// layout.
pub fn init<R: Rng + ?Sized>(
    cfg: &Config,
    layout: &Layout,
    views: &mut Views<'_>,
    rng: &mut R,
) -> Result<State, Error> {
    layout.check(cfg)?;
    carved_by(&views.layout, layout)?;
    layout
        .net
        .init(views.model.params, LastLayerInit::Zero, rng)?;
    views.target.copy_from_slice(views.model.params);
    views.model.zero_grads();
    views.model.reset_moments();
    views
        .sigma
        .params
        .fill(math::ln(cfg.schedule().init_sigma()));
    views.sigma.zero_grads();
    views.sigma.reset_moments();
    Ok(State::default())
}

/// Restores a checkpoint: online and target parameters and `log σ_init` (the optimiser
/// moments are left as they are).
///
/// # Errors
/// [`Error::ShapeMismatch`] for wrong lengths; [`Error::NonFinite`] for a non-finite
/// parameter or `log σ`.
pub fn restore(
    views: &mut Views<'_>,
    params: &[f32],
    target: &[f32],
    log_sigma: f32,
) -> Result<(), Error> {
    check_len("vgs params", views.model.params.len(), params.len())?;
    check_len("vgs target params", views.target.len(), target.len())?;
    if !log_sigma.is_finite() || params.iter().chain(target).any(|v| !v.is_finite()) {
        return Err(Error::NonFinite("vgs checkpoint"));
    }
    views.model.params.copy_from_slice(params);
    views.target.copy_from_slice(target);
    views.sigma.params.fill(log_sigma);
    Ok(())
}

/// One training iteration: a behaviour batch with `ν = train_noise`, the TD update over
/// shuffled minibatches, the EMA of the target network and the `σ_init` step (see the
/// [module docs](self)).
///
/// # Errors
/// [`Error::InvalidConfig`] if `cfg` is not the configuration the views were carved for;
/// shape errors (none after a successful [`init`]).
pub fn step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    target: &T,
    rng: &mut R,
) -> Result<Info, Error> {
    let ctx = Ctx::new(cfg, &views.layout)?;
    let (b, d, steps) = (cfg.batch, ctx.l.dim, cfg.steps);
    let roll = Roll {
        n: b,
        nu: cfg.train_noise,
        final_noise: cfg.final_noise,
        with_log_w: false,
    };
    let mut bad = ctx.rollout(views, target, roll, rng)?;
    let (mut esum, mut en) = (0.0f64, 0u32);
    for xr in views.states[steps * b * d..].chunks_exact(d) {
        let e = -(target.log_density(xr) as f64);
        if e.is_finite() {
            esum += e;
            en += 1;
        }
    }
    // TD update
    let n_items = b * steps;
    for (i, p) in views.perm.iter_mut().enumerate() {
        *p = i as u32;
    }
    let (mut loss_sum, mut n_mb, mut gnorm) = (0.0f64, 0u32, 0.0f32);
    let opt = Optimiser::default();
    let groups = value_groups(cfg, &ctx.l);
    for _ in 0..cfg.n_update {
        for i in (1..n_items).rev() {
            let j = (uniform_f64(rng) * (i + 1) as f64) as usize;
            views.perm.swap(i, j.min(i));
        }
        let mut start = 0;
        while start < n_items {
            let m = b.min(n_items - start);
            let (l, replaced) = td_gradient(&ctx, views, target, start..start + m, rng)?;
            bad += replaced;
            loss_sum += l;
            n_mb += 1;
            let oi = opt.step(&groups, &mut views.model, &mut state.optim, state.iteration)?;
            gnorm = oi.norms[0];
            start += m;
        }
    }
    // EMA of the target network
    let ema = cfg.ema;
    for (tv, &pv) in views.target.iter_mut().zip(views.model.params.iter()) {
        *tv = ema * *tv + (1.0 - ema) * pv;
    }
    if cfg.init_lr > 0.0 {
        sigma_step(&ctx, state, views, rng)?;
    }
    let info = Info {
        iteration: state.iteration,
        td_loss: loss_sum / n_mb.max(1) as f64,
        grad_norm: gnorm,
        init_sigma: views.init_sigma(),
        energy: if en > 0 { esum / en as f64 } else { f64::NAN },
        non_finite: bad,
    };
    state.iteration = state.iteration.saturating_add(1);
    Ok(info)
}

/// One TD minibatch over `perm[items]`: targets, loss and the gradient (zeroed first) in
/// `views.model.grads`. Returns `(loss, replaced non-finite values)`.
fn td_gradient<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    ctx: &Ctx,
    views: &mut Views<'_>,
    target: &T,
    items: core::ops::Range<usize>,
    rng: &mut R,
) -> Result<(f64, u32), Error> {
    let cfg = &ctx.cfg;
    let (b, d, steps, nf) = (cfg.batch, ctx.l.dim, cfg.steps, ctx.l.nf);
    let deff = ctx.l.deff as f32;
    let Views {
        model,
        target: tnet,
        states,
        drifts,
        perm,
        work: w,
        ..
    } = views;
    let m = items.len();
    let md = m * d;
    let mut bad = 0u32;
    for (k, &item) in perm[items].iter().enumerate() {
        let item = item as usize;
        let (t, row) = (item / b, item % b);
        let src = (t * b + row) * d;
        w.xa[k * d..(k + 1) * d].copy_from_slice(&states[src..src + d]);
        w.mu[k * d..(k + 1) * d].copy_from_slice(&drifts[src..src + d]);
        w.tidx[k] = t as u32;
        w.tnext[k] = (t + 1).min(steps - 1) as u32;
    }
    ctx.noise(&mut w.eps[..md], rng);
    // x' = α x − μ + σ ε (ν = 1); c_t
    for k in 0..m {
        let t = w.tidx[k] as usize;
        let (a, s2, sg) = (ctx.sched.alpha(t), ctx.sched.s2(t), ctx.sched.sigma(t));
        let mut q = 0.0f64;
        for j in k * d..(k + 1) * d {
            let v = a * w.xa[j] - w.mu[j] + sg * w.eps[j];
            w.xb[j] = if v.is_finite() {
                v
            } else {
                bad += 1;
                0.0
            };
            q += (w.mu[j] as f64) * (w.mu[j] as f64);
        }
        let c = q / (2.0 * s2 as f64 * (a as f64) * (a as f64)) - deff as f64 * math::ln(a as f64);
        w.ytgt[k] = cfg.tau * c as f32;
    }
    // bootstrap values V̄(x', t+1)
    if w.tidx[..m].iter().any(|&t| (t as usize) + 1 < steps) {
        ctx.features(&w.xb[..md], &mut w.feat[..m * nf], &mut w.order[..m * nf])?;
        ctx.l.net.forward(
            tnet,
            ValueInput {
                x: &w.feat[..m * nf],
                t: &w.tnext[..m],
            },
            w.cache,
            w.scratch,
            &mut w.vout[..m],
        )?;
    }
    let scale = ctx.scale();
    for k in 0..m {
        let t = w.tidx[k] as usize;
        let v = if t + 1 == steps {
            let e = -target.log_density(&w.xb[k * d..(k + 1) * d]);
            if e.is_finite() {
                e.min(cfg.energy_clip)
            } else {
                cfg.energy_clip
            }
        } else {
            w.vout[k] * scale
        };
        let y = w.ytgt[k] + v;
        w.ytgt[k] = if y.is_finite() {
            y
        } else {
            bad += 1;
            cfg.energy_clip
        };
    }
    ctx.features(&w.xa[..md], &mut w.feat[..m * nf], &mut w.order[..m * nf])?;
    model.zero_grads();
    let mut tb = TdBatch {
        cache: w.cache,
        scratch: w.scratch,
        out: &mut w.vout[..m],
        dout: &mut w.dout[..m],
    };
    let inputs = TdInputs {
        feat: &w.feat[..m * nf],
        t: &w.tidx[..m],
        y: &w.ytgt[..m],
    };
    let spec = TdSpec {
        loss: cfg.loss,
        d_eff: ctx.l.deff,
        scale_with_d: cfg.scale_with_d,
    };
    let loss = td_minibatch(
        &ctx.l.net,
        model.params,
        &inputs,
        spec,
        model.grads,
        &mut tb,
    )?;
    Ok((loss, bad))
}

/// One optimiser step on `log σ_init` (module docs).
fn sigma_step<R: Rng + ?Sized>(
    ctx: &Ctx,
    state: &mut State,
    views: &mut Views<'_>,
    rng: &mut R,
) -> Result<(), Error> {
    let (b, d) = (ctx.cfg.batch, ctx.l.dim);
    let bd = b * d;
    let sig = views.init_sigma();
    let w = &mut views.work;
    let z = core::mem::take(&mut w.xa);
    let g = core::mem::take(&mut w.xb);
    ctx.noise(&mut z[..bd], rng);
    z[..bd].iter_mut().for_each(|v| *v *= sig);
    let r = ctx.value_grad(views.target, &z[..bd], 0, w, &mut g[..bd]);
    let dot: f64 = z[..bd]
        .iter()
        .zip(g[..bd].iter())
        .map(|(&a, &c)| a as f64 * c as f64)
        .sum();
    w.xa = z;
    w.xb = g;
    r?;
    let deff = ctx.l.deff as f64;
    let grad = ((dot / b as f64 - ctx.cfg.tau as f64 * deff) / deff) as f32;
    views.sigma.grads.fill(grad);
    let groups = [Group::new(1, ctx.cfg.init_lr, None)];
    let info = Optimiser::default().step(
        &groups,
        &mut views.sigma,
        &mut state.sigma_optim,
        state.iteration,
    )?;
    if !info.skipped {
        // keep σ_init in a sane range: e^{±10}
        for p in views.sigma.params.iter_mut() {
            *p = p.clamp(-10.0, 10.0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
