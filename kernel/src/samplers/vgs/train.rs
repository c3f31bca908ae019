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
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::LastLayerInit;
    use crate::rng::{Xoshiro256PlusPlus, fill_standard_normal, seeded};
    use crate::samplers::vgs::rollout::{Draw, Rows, SampleInfo, sample, value, value_grad};
    use crate::samplers::vgs::{Features, TdLoss, ValueNet};
    use crate::targets::{Dw4, GridGmm, Lj13};
    use std::vec;
    use std::vec::Vec;

    /// A test owner, as the CLI keeps one: plain buffers and a [`State`], [`Views`] carved
    /// on each call.
    struct Owner {
        cfg: Config,
        layout: Layout,
        fa: Vec<f32>,
        ua: Vec<u32>,
        state: State,
    }

    impl Owner {
        fn init<R: Rng + ?Sized>(cfg: &Config, dim: usize, rng: &mut R) -> Result<Owner, Error> {
            let layout = Layout::new(cfg, dim)?;
            let mut o = Owner {
                cfg: *cfg,
                layout,
                fa: vec![0.0; layout.f32_len],
                ua: vec![0; layout.u32_len],
                state: State::default(),
            };
            o.state = init(cfg, &layout, &mut o.views(), rng)?;
            Ok(o)
        }
        fn views(&mut self) -> Views<'_> {
            Views::new(&self.layout, &mut self.fa, &mut self.ua).unwrap()
        }
        fn ctx(&self) -> Ctx {
            Ctx::new(&self.cfg, &self.layout).unwrap()
        }
        fn net(&self) -> ValueNet {
            self.layout.net
        }
        fn restore(&mut self, p: &[f32], t: &[f32], log_sigma: f32) -> Result<(), Error> {
            restore(&mut self.views(), p, t, log_sigma)
        }
        fn value(&mut self, x: &[f32], step: u32, out: &mut [f32]) -> Result<(), Error> {
            let cfg = self.cfg;
            value(&cfg, &mut self.views(), x, step, out)
        }
        fn value_grad(&mut self, x: &[f32], step: u32, out: &mut [f32]) -> Result<(), Error> {
            let cfg = self.cfg;
            value_grad(&cfg, &mut self.views(), x, step, out)
        }
        fn step<T: LogDensity + ?Sized>(
            &mut self,
            t: &T,
            r: &mut Xoshiro256PlusPlus,
        ) -> Result<Info, Error> {
            let (cfg, l) = (self.cfg, self.layout);
            let mut v = Views::new(&l, &mut self.fa, &mut self.ua)?;
            step(&cfg, &mut self.state, &mut v, t, r)
        }
        fn sample<T: LogDensity + ?Sized>(
            &mut self,
            t: &T,
            draw: Draw<'_>,
            r: &mut Xoshiro256PlusPlus,
        ) -> Result<SampleInfo, Error> {
            let cfg = self.cfg;
            sample(&cfg, &mut self.views(), t, draw, r)
        }
        fn params(&mut self) -> Vec<f32> {
            self.views().model.params.to_vec()
        }
        fn target_params(&mut self) -> Vec<f32> {
            self.views().target.to_vec()
        }
        fn init_sigma(&mut self) -> f32 {
            self.views().init_sigma()
        }
    }

    fn draw<'b>(nu: f32, final_noise: bool, out: &'b mut [f32], log_w: &'b mut [f32]) -> Draw<'b> {
        Draw {
            nu,
            final_noise,
            out,
            log_w,
        }
    }

    /// Rotates every particle by the orthogonal `rot` (`k × k`, row-major), permutes the
    /// particles by `perm` and translates by `shift`.
    fn transform(x: &[f32], k: usize, rot: &[f64], perm: &[usize], shift: &[f32]) -> Vec<f32> {
        let n = x.len() / k;
        let mut out = vec![0.0f32; x.len()];
        for i in 0..n {
            let src = &x[perm[i] * k..(perm[i] + 1) * k];
            for a in 0..k {
                let mut s = 0.0f64;
                for b in 0..k {
                    s += rot[a * k + b] * src[b] as f64;
                }
                out[i * k + a] = s as f32 + shift[a];
            }
        }
        out
    }

    fn check_invariance(cfg: Config, dim: usize, k: usize, rot: &[f64], perm: &[usize]) {
        let mut r = seeded(5);
        let mut vgs = Owner::init(&cfg, dim, &mut r).unwrap();
        let net = vgs.net();
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
        vgs.restore(&p, &p, 0.0).unwrap();
        let mut x = vec![0.0f32; 2 * dim];
        fill_standard_normal(&mut r, &mut x);
        x.iter_mut().for_each(|v| *v *= 1.5);
        let shift: Vec<f32> = (0..k).map(|a| 0.3 * a as f32 - 0.7).collect();
        let y: Vec<f32> = x
            .chunks_exact(dim)
            .flat_map(|row| transform(row, k, rot, perm, &shift))
            .collect();
        for step in [0u32, 2] {
            let (mut vx, mut vy) = ([0.0f32; 2], [0.0f32; 2]);
            vgs.value(&x, step, &mut vx).unwrap();
            vgs.value(&y, step, &mut vy).unwrap();
            for (a, b) in vx.iter().zip(&vy) {
                assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "value {a} vs {b}");
            }
            let (mut gx, mut gy) = (vec![0.0f32; 2 * dim], vec![0.0f32; 2 * dim]);
            vgs.value_grad(&x, step, &mut gx).unwrap();
            vgs.value_grad(&y, step, &mut gy).unwrap();
            let zero = vec![0.0f32; k];
            let g_rot: Vec<f32> = gx
                .chunks_exact(dim)
                .flat_map(|row| transform(row, k, rot, perm, &zero))
                .collect();
            let scale = gx.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
            assert!(scale > 1e-4, "trivial gradient");
            for (a, b) in g_rot.iter().zip(&gy) {
                assert!((a - b).abs() < 2e-3 * scale, "drift {a} vs {b}");
            }
        }
    }

    #[test]
    fn nbody_value_is_invariant_and_drift_equivariant() {
        let th = 0.7f64;
        let rot2 = [th.cos(), -th.sin(), th.sin(), th.cos()];
        let cfg = Config {
            batch: 4,
            hidden: 16,
            steps: 4,
            ..Config::dw4()
        };
        check_invariance(cfg, 8, 2, &rot2, &[2, 0, 3, 1]);
        // a reflection too
        check_invariance(cfg, 8, 2, &[1.0, 0.0, 0.0, -1.0], &[1, 0, 2, 3]);
        // LJ-13: rotation about a tilted axis (Rodrigues), a 13-cycle permutation
        let (ax, ang) = ([1.0f64 / 3f64.sqrt(); 3], 1.1f64);
        let (c, s) = (ang.cos(), ang.sin());
        let mut rot3 = [0.0f64; 9];
        for a in 0..3 {
            for b in 0..3 {
                let cross = match (a, b) {
                    (0, 1) => -ax[2],
                    (0, 2) => ax[1],
                    (1, 0) => ax[2],
                    (1, 2) => -ax[0],
                    (2, 0) => -ax[1],
                    (2, 1) => ax[0],
                    _ => 0.0,
                };
                let id = if a == b { 1.0 } else { 0.0 };
                rot3[a * 3 + b] = c * id + s * cross + (1.0 - c) * ax[a] * ax[b];
            }
        }
        let perm: Vec<usize> = (0..13).map(|i| (i + 5) % 13).collect();
        let cfg = Config {
            batch: 4,
            hidden: 16,
            steps: 4,
            ..Config::lj13()
        };
        check_invariance(cfg, 39, 3, &rot3, &perm);
    }

    #[test]
    fn short_training_is_finite_and_deterministic() {
        let cfg = Config {
            batch: 16,
            hidden: 16,
            steps: 5,
            ..Config::default()
        };
        let run = || {
            let mut r = seeded(1);
            let g = GridGmm::nine();
            let mut vgs = Owner::init(&cfg, 2, &mut r).unwrap();
            let mut last = None;
            for _ in 0..3 {
                let info = vgs.step(&g, &mut r).unwrap();
                assert!(info.td_loss.is_finite() && info.init_sigma.is_finite());
                last = Some(info);
            }
            let mut out = vec![0.0f32; 40];
            let mut lw = vec![0.0f32; 20];
            vgs.sample(&g, draw(1.0, true, &mut out, &mut lw), &mut r)
                .unwrap();
            assert!(out.iter().all(|v| v.is_finite()));
            assert!(lw.iter().all(|v| v.is_finite()));
            (last.unwrap().td_loss, out)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn degenerate_lj13_starts_stay_finite() {
        // A tiny initial scale puts all 13 particles nearly on top of each other: energies
        // are astronomically large, gradients clamp, TD targets clip; no NaN anywhere.
        let cfg = Config {
            batch: 4,
            hidden: 8,
            steps: 3,
            init_lr: 0.0,
            ..Config::lj13()
        };
        let mut r = seeded(2);
        let mut vgs = Owner::init(&cfg, 39, &mut r).unwrap();
        let p = vgs.params();
        vgs.restore(&p, &p, -30.0).unwrap();
        let info = vgs.step(&Lj13, &mut r).unwrap();
        assert!(info.td_loss.is_finite());
        let mut out = vec![0.0f32; 39 * 5];
        let mut lw = vec![0.0f32; 5];
        vgs.sample(&Lj13, draw(0.9, false, &mut out, &mut lw), &mut r)
            .unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        assert!(
            lw.iter().all(|v| v.is_nan()),
            "no final noise: log w undefined"
        );
        assert!(vgs.params().iter().all(|v| v.is_finite()));
    }

    /// A target that breaks the `LogDensity` contract on purpose: NaN, `+inf` and `−inf`
    /// log densities and NaN / ±inf / huge gradient entries, depending on the region.
    struct Hostile;

    impl LogDensity for Hostile {
        fn dim(&self) -> usize {
            2
        }
        fn log_density(&self, x: &[f32]) -> f32 {
            match (x[0] > 0.0, x[1] > 0.0) {
                (true, true) => f32::NAN,
                (true, false) => f32::INFINITY,
                (false, true) => f32::NEG_INFINITY,
                (false, false) => -0.5 * (x[0] * x[0] + x[1] * x[1]),
            }
        }
        fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
            match (x[0] > 0.0, x[1] > 0.0) {
                (true, true) => grad.copy_from_slice(&[f32::NAN, f32::NAN]),
                (true, false) => grad.copy_from_slice(&[f32::INFINITY, f32::NEG_INFINITY]),
                (false, true) => grad.copy_from_slice(&[f32::MAX, -f32::MAX]),
                (false, false) => grad.copy_from_slice(&[-x[0], -x[1]]),
            }
            self.log_density(x)
        }
        fn log_z(&self) -> Option<f64> {
            None
        }
        fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
            Err(Error::Unsupported("hostile"))
        }
    }

    #[test]
    fn non_finite_energies_and_gradients_never_give_nan() {
        // NaN and ±inf energies count as E_clip in TD targets; NaN/inf gradient entries are
        // clamped to ±grad_clip (NaN: dropped to 0 and counted); samples, log weights of
        // finite paths, the TD loss and the parameters stay finite.
        for loss in [TdLoss::L2, TdLoss::SmoothL1] {
            let cfg = Config {
                batch: 32,
                hidden: 16,
                steps: 4,
                loss,
                energy_clip: 100.0,
                ..Config::default()
            };
            let mut r = seeded(7);
            let mut vgs = Owner::init(&cfg, 2, &mut r).unwrap();
            let mut replaced = 0u32;
            for _ in 0..5 {
                let info = vgs.step(&Hostile, &mut r).unwrap();
                assert!(info.td_loss.is_finite(), "{info:?}");
                assert!(info.grad_norm.is_finite() && info.init_sigma.is_finite());
                replaced += info.non_finite;
            }
            assert!(vgs.params().iter().all(|v| v.is_finite()));
            assert!(vgs.target_params().iter().all(|v| v.is_finite()));
            let (mut out, mut lw) = (vec![0.0f32; 2 * 200], vec![0.0f32; 200]);
            let si = vgs
                .sample(&Hostile, draw(1.0, true, &mut out, &mut lw), &mut r)
                .unwrap();
            assert!(out.iter().all(|v| v.is_finite()));
            // NaN gradients on the first quadrant are replaced (and counted)
            assert!(si.non_finite + replaced > 0);
            // every region is visited, so the hostile branches really ran
            for q in [(true, true), (true, false), (false, true), (false, false)] {
                assert!(
                    out.chunks_exact(2).any(|x| (x[0] > 0.0, x[1] > 0.0) == q),
                    "quadrant {q:?} never visited"
                );
            }
        }
    }

    #[test]
    fn coincident_lj13_particles_through_a_sampling_step() {
        // σ_init = e^−104 underflows to 0 in f32: every start has all 13 particles exactly on
        // top of each other (r_ij = 0 for all 78 pairs). T = 1: the only step is the energy
        // gradient step at the coincident configuration; T = 3: value-gradient steps first.
        for steps in [1usize, 3] {
            let cfg = Config {
                batch: 4,
                hidden: 8,
                steps,
                init_lr: 0.0,
                ..Config::lj13()
            };
            let mut r = seeded(3);
            let mut vgs = Owner::init(&cfg, 39, &mut r).unwrap();
            let net = vgs.net();
            let mut p = vec![0.0f32; net.param_count()];
            net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
            vgs.restore(&p, &p, -104.0).unwrap();
            assert_eq!(vgs.init_sigma(), 0.0);
            // the value gradient at the coincident configuration is finite (and zero: all
            // pair differences vanish)
            let x0 = [0.25f32; 39];
            let mut g = [1.0f32; 39];
            vgs.value_grad(&x0, 0, &mut g).unwrap();
            assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
            let info = vgs.step(&Lj13, &mut r).unwrap();
            assert!(info.td_loss.is_finite(), "{info:?}");
            assert!(vgs.params().iter().all(|v| v.is_finite()));
            let (mut out, mut lw) = (vec![0.0f32; 39 * 6], vec![0.0f32; 6]);
            vgs.sample(&Lj13, draw(0.9, false, &mut out, &mut lw), &mut r)
                .unwrap();
            assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
            for row in out.chunks_exact(39) {
                let lp = Lj13.log_density(row);
                assert!(!lp.is_nan());
                if steps == 1 {
                    // no noise on the last (only) step and a zero energy gradient below the
                    // distance floor: the particles stay coincident, at a huge finite energy
                    assert!(row.iter().all(|&v| v == 0.0));
                    assert!(lp.is_finite() && lp < -1e25, "{lp}");
                }
            }
        }
    }

    #[test]
    fn funnel_last_step_drift_follows_the_clipped_energy() {
        // With `drift_energy_clip` (the paper's `sample()` on Funnel), the last-step drift is `s²·∇min(E, E_clip)`: zero up the funnel's neck where
        // E ≫ E_clip, the plain (clamped) energy gradient below the clip. Without it the
        // neck state gets a drift of `s²·grad_clip` per entry and a control cost of
        // thousands in every TD target of the last step.
        let f = crate::targets::Funnel::new(10).unwrap();
        let mut y = vec![0.5f32; 20];
        y[0] = -8.0; // E ≈ 9·e^8·0.125 ≈ 3.4e3 > 100
        y[10] = 0.0; // E ≈ 9·0.125 + 9.2 (normaliser-free part) < 100
        let e = |r: &[f32]| -f.log_density(r);
        assert!(e(&y[..10]) > 1e3 && e(&y[10..]) < 100.0);
        let drift = |clip: bool| {
            let cfg = Config {
                batch: 2,
                hidden: 8,
                steps: 1,
                drift_energy_clip: clip,
                drift_clip: f32::INFINITY,
                ..Config::funnel()
            };
            let mut r = seeded(3);
            let mut vgs = Owner::init(&cfg, 10, &mut r).unwrap();
            let ctx = vgs.ctx();
            let mut mu = vec![0.0f32; 20];
            let v = vgs.views();
            let rows = Rows { y: &y, mu: &mut mu };
            let mut w = v.work;
            let bad = ctx.drift(v.target, &f, 0, rows, &mut w).unwrap();
            assert_eq!(bad, 0);
            (mu, ctx.sched.s2(0))
        };
        let (on, s2) = drift(true);
        let (off, _) = drift(false);
        assert!(on[..10].iter().all(|&m| m == 0.0), "{on:?}");
        assert!(off[..10].iter().any(|&m| m.abs() > 0.1), "{off:?}");
        // below the clip both agree with s²·∇E
        let mut g = vec![0.0f32; 10];
        f.log_density_grad(&y[10..], &mut g);
        for ((&a, &b), &gv) in on[10..].iter().zip(&off[10..]).zip(&g) {
            assert_eq!(a, b);
            assert!(
                (a + s2 * gv).abs() <= 1e-6 * (1.0 + gv.abs()),
                "{a} vs {}",
                -s2 * gv
            );
        }
        assert!(on[10..].iter().any(|&m| m != 0.0));
    }

    #[test]
    fn funnel_drift_is_clipped_to_kappa_sigma_sqrt_d() {
        // Issue 6: the funnel preset caps each drift row at κ σ_t √D (κ = 3), so the
        // per-step control cost in the TD targets is at most κ² D / 2 = 45. Up the neck
        // (x₀ = −8) the raw last-step drift is s²·grad_clip = 0.5 per entry (cost ≈ 2250);
        // below the cap the drift is untouched. Without the clip, T = 30 at lr 1e-4 ran
        // the TD loss to 10²² (README, VGS section).
        let f = crate::targets::Funnel::new(10).unwrap();
        let mut y = vec![0.5f32; 20];
        y[0] = -8.0;
        y[10] = 0.0;
        let preset = Config::funnel();
        assert_eq!(preset.drift_clip, 3.0);
        let drift = |kappa: f32| {
            let cfg = Config {
                batch: 2,
                hidden: 8,
                steps: 30,
                drift_clip: kappa,
                ..preset
            };
            let mut r = seeded(3);
            let mut vgs = Owner::init(&cfg, 10, &mut r).unwrap();
            let ctx = vgs.ctx();
            let mut mu = vec![0.0f32; 20];
            let v = vgs.views();
            let rows = Rows { y: &y, mu: &mut mu };
            let mut w = v.work;
            ctx.drift(v.target, &f, 29, rows, &mut w).unwrap();
            (mu, ctx.sched.sigma(29))
        };
        let norm = |v: &[f32]| v.iter().map(|&x| x * x).sum::<f32>().sqrt();
        let (raw, sigma) = drift(f32::INFINITY);
        let (clipped, _) = drift(preset.drift_clip);
        let cap = 3.0 * sigma * 10f32.sqrt();
        assert!(norm(&raw[..10]) > 2.0 * cap, "{raw:?}");
        assert!((norm(&clipped[..10]) - cap).abs() <= 1e-4 * cap);
        // same direction
        let k = norm(&clipped[..10]) / norm(&raw[..10]);
        for (&c, &r) in clipped[..10].iter().zip(&raw[..10]) {
            assert!((c - k * r).abs() <= 1e-5 * (1.0 + r.abs()));
        }
        // control cost ‖μ‖²/(2 s²) ≤ κ² D / 2
        let s2 = sigma * sigma;
        assert!(norm(&clipped[..10]).powi(2) / (2.0 * s2) <= 45.0 * (1.0 + 1e-4));
        assert!(norm(&raw[..10]).powi(2) / (2.0 * s2) > 1000.0);
        // below the cap: unchanged
        assert!(norm(&raw[10..]) < cap);
        assert_eq!(&raw[10..], &clipped[10..]);
    }

    #[test]
    fn funnel_training_stores_clipped_drifts() {
        // Every drift the TD update sees (stored from the behaviour rollout) obeys the cap.
        let cfg = Config {
            batch: 16,
            hidden: 8,
            steps: 30,
            ..Config::funnel()
        };
        let f = crate::targets::Funnel::new(10).unwrap();
        let mut r = seeded(5);
        let mut vgs = Owner::init(&cfg, 10, &mut r).unwrap();
        for _ in 0..2 {
            let info = vgs.step(&f, &mut r).unwrap();
            assert!(info.td_loss.is_finite());
        }
        let mut clipped = 0;
        let ctx = vgs.ctx();
        for (i, row) in vgs.views().drifts.chunks_exact(10).enumerate() {
            let t = i / cfg.batch;
            let cap = 3.0 * ctx.sched.sigma(t) * 10f32.sqrt();
            let n = row.iter().map(|&x| x * x).sum::<f32>().sqrt();
            assert!(n <= cap * (1.0 + 1e-5), "step {t}: {n} > {cap}");
            if n >= cap * (1.0 - 1e-5) {
                clipped += 1;
            }
        }
        // the untrained sampler's last step pushes hard up the neck: the clip is active
        assert!(clipped > 0);
    }

    #[test]
    fn bad_settings_are_errors() {
        let d = Config::default();
        for bad in [
            Config { steps: 0, ..d },
            Config { batch: 0, ..d },
            Config { embed: 3, ..d },
            Config { ema: 1.0, ..d },
            Config { tau: 0.0, ..d },
            Config { lr: f32::NAN, ..d },
            Config { s2_start: 1.5, ..d },
            Config {
                train_noise: -1.0,
                ..d
            },
            Config {
                energy_clip: f32::INFINITY,
                ..d
            },
            Config {
                drift_clip: 0.0,
                ..d
            },
            Config {
                drift_clip: f32::NAN,
                ..d
            },
            Config {
                features: Features::DW4,
                ..d
            },
        ] {
            assert!(
                matches!(Layout::new(&bad, 2), Err(Error::InvalidConfig(_))),
                "{bad:?}"
            );
        }
        let mut r = seeded(0);
        let l = Layout::new(&d, 2).unwrap();
        let (mut fa, mut ua) = (vec![0.0f32; l.f32_len], vec![0u32; l.u32_len]);
        assert!(Views::new(&l, &mut fa[1..], &mut ua).is_err());
        // a configuration that is not the layout's is refused
        let other = Config { batch: 7, ..d };
        let mut v = Views::new(&l, &mut fa, &mut ua).unwrap();
        assert!(init(&other, &l, &mut v, &mut r).is_err());
        let mut st = init(&d, &l, &mut v, &mut r).unwrap();
        assert!(matches!(
            step(&other, &mut st, &mut v, &GridGmm::nine(), &mut r),
            Err(Error::InvalidConfig(_))
        ));
        let mut vgs = Owner::init(&d, 2, &mut r).unwrap();
        let mut out = [0.0f32; 3];
        let mut lw = [0.0f32; 1];
        let g = GridGmm::nine();
        assert!(
            vgs.sample(&g, draw(1.0, true, &mut out, &mut lw), &mut r)
                .is_err()
        );
        assert!(
            vgs.sample(&g, draw(0.0, true, &mut out[..2], &mut lw), &mut r)
                .is_err()
        );
        assert!(vgs.restore(&[0.0; 3], &[0.0; 3], 0.0).is_err());
        let _ = Dw4;
    }
}
