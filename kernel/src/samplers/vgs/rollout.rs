//! Sampling with a VGS value network (Yoon et al. 2025, `vgsampler.py`: `sample`; report
//! B1.1) and its log weights (report B4).
//!
//! `x_0 ∼ N(0, (ν σ_init)² I)`, then for `t = 0 … T−1`, with `y = α_t x_t`:
//!
//! ```text
//! μ_t = (s_t² α_t² / τ) · ∇_y V̄(y, t+1)     (t < T−1; the target network's input gradient)
//! μ_t = (s_t² α_t² / τ) · ∇_y E(y)           (t = T−1; E = −log p̃, each entry clamped)
//! μ_t = (s_t² α_t² / τ) · ∇_y min(E(y), E_clip)   (t = T−1 with `drift_energy_clip`)
//! μ_t ← μ_t · min(1, κ σ_t √D / ‖μ_t‖)     (each row, with `drift_clip` κ < ∞)
//! x_{t+1} = y − μ_t + ν σ_t ε_t,  σ_t = α_t s_t
//! ```
//!
//! For n-body targets every noise draw is projected onto the centre-of-mass-free subspace
//! and `D` is the effective dimension `(n−1)·k`; `final_noise = false` drops the last
//! step's noise (the particle configs).
//!
//! **Log weights** ("a natural estimator"): with `ν` and noise at every step,
//! `log w = −E(x_T)/τ + Σ_t log q̃(x_t | x_{t+1}) − log π_0(x_0) − Σ_t log π(x_{t+1} | x_t)`,
//! `q̃(x_t | x_{t+1}) = N(x_t; x_{t+1}/α_t, s_t² I)`; `E[log w]` is an ELBO on `log Z`
//! (for `τ = 1`). Without final noise the path density is degenerate and `log w` is NaN.
//!
//! **Robustness**: energy gradients are clamped entry-wise to `±grad_clip` and non-finite
//! entries set to 0; any non-finite coordinate of a new state is set to 0; both are counted
//! in [`SampleInfo::non_finite`].

use super::config::Config;
use super::net::{ValueGrads, ValueInput};
use super::schedule::Schedule;
use super::views::{Layout, Views, Work};
use crate::error::{Error, check_len};
use crate::math;
use crate::rng::{Rng, fill_standard_normal};
use crate::targets::LogDensity;

/// What [`sample`] reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleInfo {
    /// Non-finite values replaced (states set to 0, drift entries set to 0).
    pub non_finite: u32,
}

/// One draw of [`sample`]: the noise scale, the final-noise rule and the output buffers.
#[derive(Debug)]
pub struct Draw<'b> {
    /// Noise scale `ν` (finite, `> 0`).
    pub nu: f32,
    /// Whether the last step adds noise.
    pub final_noise: bool,
    /// Samples, `n × d`.
    pub out: &'b mut [f32],
    /// Their path log-weights, `n` (NaN without final noise).
    pub log_w: &'b mut [f32],
}

/// Fixed pieces every helper needs: the configuration, its schedule and the layout.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ctx {
    pub(super) cfg: Config,
    pub(super) sched: Schedule,
    pub(super) l: Layout,
}

/// What one rollout does: `n ≤ B` chains at noise scale `nu`, with or without final noise
/// and path log-weights.
#[derive(Clone, Copy, Debug)]
pub(super) struct Roll {
    pub(super) n: usize,
    pub(super) nu: f32,
    pub(super) final_noise: bool,
    pub(super) with_log_w: bool,
}

/// The rows `y` a drift is evaluated at and the drift `μ` written for them.
#[derive(Debug)]
pub(super) struct Rows<'r> {
    pub(super) y: &'r [f32],
    pub(super) mu: &'r mut [f32],
}

impl Ctx {
    /// The context of `cfg` over `layout`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `cfg` is not the layout's configuration.
    pub(super) fn new(cfg: &Config, layout: &Layout) -> Result<Self, Error> {
        layout.check(cfg)?;
        Ok(Ctx {
            cfg: *cfg,
            sched: cfg.schedule(),
            l: *layout,
        })
    }

    /// Features of the rows of `x` into `feat`/`order`.
    pub(super) fn features(
        &self,
        x: &[f32],
        feat: &mut [f32],
        order: &mut [u32],
    ) -> Result<(), Error> {
        let (d, nf) = (self.l.dim, self.l.nf);
        for ((xr, fr), or) in x
            .chunks_exact(d)
            .zip(feat.chunks_exact_mut(nf))
            .zip(order.chunks_exact_mut(nf))
        {
            self.cfg.features.forward_row(xr, fr, or)?;
        }
        Ok(())
    }

    /// The value scale: `D` with `scale_with_d`, else 1.
    pub(super) fn scale(&self) -> f32 {
        if self.cfg.scale_with_d {
            self.l.deff as f32
        } else {
            1.0
        }
    }

    /// `out = ∇ₓ V(x, step)` for the `n = x.len()/d` rows of `x` (value scale included).
    pub(super) fn value_grad(
        &self,
        params: &[f32],
        x: &[f32],
        step: u32,
        w: &mut Work<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let (d, nf, net) = (self.l.dim, self.l.nf, self.l.net);
        let n = x.len() / d;
        let (feat, order) = (&mut w.feat[..n * nf], &mut w.order[..n * nf]);
        self.features(x, feat, order)?;
        let t = &mut w.tidx[..n];
        t.fill(step);
        net.forward(
            params,
            ValueInput { x: feat, t },
            w.cache,
            w.scratch,
            &mut w.vout[..n],
        )?;
        w.dout[..n].fill(self.scale());
        w.sink.fill(0.0);
        let dfeat = &mut w.dfeat[..n * nf];
        net.backward(
            params,
            ValueInput { x: feat, t },
            w.cache,
            ValueGrads {
                dout: &w.dout[..n],
                params: w.sink,
                dx: Some(&mut *dfeat),
            },
            w.scratch,
        )?;
        for (((xr, or), dr), gr) in x
            .chunks_exact(d)
            .zip(order.chunks_exact(nf))
            .zip(dfeat.chunks_exact(nf))
            .zip(out.chunks_exact_mut(d))
        {
            self.cfg.features.backward_row(xr, or, dr, gr)?;
        }
        Ok(())
    }

    /// Drift `μ_t` at `rows.y = α_t x_t` into `rows.mu`; returns replaced entries.
    pub(super) fn drift<T: LogDensity + ?Sized>(
        &self,
        params: &[f32],
        target: &T,
        t: usize,
        rows: Rows<'_>,
        w: &mut Work<'_>,
    ) -> Result<u32, Error> {
        let Rows { y, mu } = rows;
        let (cfg, d) = (&self.cfg, self.l.dim);
        let s2 = self.sched.s2(t);
        let a = self.sched.alpha(t);
        let coef = s2 * a * a / cfg.tau;
        let mut bad = 0u32;
        if t + 1 < cfg.steps {
            self.value_grad(params, y, (t + 1) as u32, w, mu)?;
        } else {
            let g = &mut *w.egrad;
            let c = cfg.grad_clip;
            for (yr, mr) in y.chunks_exact(d).zip(mu.chunks_exact_mut(d)) {
                let lp = target.log_density_grad(yr, g);
                if cfg.drift_energy_clip && !(-lp <= cfg.energy_clip) {
                    // ∇ min(E, E_clip) = 0 where the clip is active (E > E_clip, or not finite)
                    mr.fill(0.0);
                    continue;
                }
                for (m, &gv) in mr.iter_mut().zip(g.iter()) {
                    // ∇E = −∇ log p̃
                    *m = (-gv).clamp(-c, c);
                }
            }
        }
        for m in mu.iter_mut() {
            *m *= coef;
            if !m.is_finite() {
                *m = 0.0;
                bad += 1;
            }
        }
        if cfg.drift_clip.is_finite() {
            let cap =
                (cfg.drift_clip * self.sched.sigma(t)) as f64 * math::sqrt(self.l.deff as f64);
            for mr in mu.chunks_exact_mut(d) {
                let n = math::sqrt(mr.iter().map(|&v| v as f64 * v as f64).sum::<f64>());
                if n > cap {
                    let k = (cap / n) as f32;
                    mr.iter_mut().for_each(|v| *v *= k);
                }
            }
        }
        Ok(bad)
    }

    /// Standard normal noise in `eps`, projected for n-body targets.
    pub(super) fn noise<R: Rng + ?Sized>(&self, eps: &mut [f32], rng: &mut R) {
        fill_standard_normal(rng, eps);
        self.cfg.features.project(eps, self.l.dim);
    }

    /// One rollout of `roll.n ≤ B` chains with the target network: writes the first
    /// `(T+1)·n·d` states and `T·n·d` drifts of `v` and, if `roll.with_log_w`,
    /// `v.work.log_w[..n]`. Returns replaced values.
    pub(super) fn rollout<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &self,
        v: &mut Views<'_>,
        target: &T,
        roll: Roll,
        rng: &mut R,
    ) -> Result<u32, Error> {
        let (d, steps, n) = (self.l.dim, self.cfg.steps, roll.n);
        let nd = n * d;
        let deff = self.l.deff as f64;
        let sd0 = roll.nu * math::exp(v.log_sigma());
        let Views {
            target: params,
            states,
            drifts,
            work: w,
            ..
        } = v;
        let params: &[f32] = params;
        let states = &mut states[..(steps + 1) * nd];
        let mut bad = 0u32;
        {
            let x0 = &mut states[..nd];
            self.noise(x0, rng);
            for xv in x0.iter_mut() {
                *xv *= sd0;
            }
            if roll.with_log_w {
                let v0 = (sd0 as f64) * (sd0 as f64);
                for (lw, xr) in w.log_w[..n].iter_mut().zip(x0.chunks_exact(d)) {
                    let q: f64 = xr.iter().map(|v| (*v as f64) * (*v as f64)).sum();
                    *lw = (q / (2.0 * v0) + 0.5 * deff * math::ln(2.0 * math::PI * v0)) as f32;
                }
            }
        }
        let mut lw_ok = roll.with_log_w;
        for t in 0..steps {
            let a = self.sched.alpha(t);
            let last = t + 1 == steps;
            let sd = if last && !roll.final_noise {
                0.0
            } else {
                roll.nu * self.sched.sigma(t)
            };
            let (head, tail) = states.split_at_mut((t + 1) * nd);
            let xt = &head[t * nd..];
            let xn = &mut tail[..nd];
            let ya = core::mem::take(&mut w.xa);
            let mu = core::mem::take(&mut w.mu);
            for (yv, &xv) in ya[..nd].iter_mut().zip(xt) {
                *yv = a * xv;
            }
            let rows = Rows {
                y: &ya[..nd],
                mu: &mut mu[..nd],
            };
            let out = self.drift(params, target, t, rows, w).map(|b| {
                bad += b;
            });
            if out.is_ok() {
                let eps = &mut w.eps[..nd];
                self.noise(eps, rng);
                for (((xv, &yv), &mv), &ev) in xn
                    .iter_mut()
                    .zip(ya[..nd].iter())
                    .zip(mu[..nd].iter())
                    .zip(eps.iter())
                {
                    let v = yv - mv + sd * ev;
                    *xv = if v.is_finite() {
                        v
                    } else {
                        bad += 1;
                        0.0
                    };
                }
                drifts[t * nd..(t + 1) * nd].copy_from_slice(&mu[..nd]);
            }
            w.mu = mu;
            w.xa = ya;
            out?;
            if lw_ok {
                if sd > 0.0 {
                    self.log_w_step(t, sd, StepRows { xt, xn }, w);
                } else {
                    lw_ok = false;
                }
            }
        }
        if roll.with_log_w {
            let xt = &states[steps * nd..(steps + 1) * nd];
            for (lw, xr) in w.log_w[..n].iter_mut().zip(xt.chunks_exact(d)) {
                *lw = if lw_ok {
                    *lw + target.log_density(xr) / self.cfg.tau
                } else {
                    f32::NAN
                };
            }
        }
        Ok(bad)
    }

    /// Adds step `t`'s `log q̃(x_t | x_{t+1}) − log π(x_{t+1} | x_t)` (noise scale `sd`, the
    /// noise in `w.eps`) to each row's `w.log_w`.
    fn log_w_step(&self, t: usize, sd: f32, rows: StepRows<'_>, w: &mut Work<'_>) {
        let d = self.l.dim;
        let deff = self.l.deff as f64;
        let (a, s2) = (self.sched.alpha(t), self.sched.s2(t) as f64);
        let ln2pi = math::LN_2PI;
        let sdv = (sd as f64) * (sd as f64);
        let n = rows.xt.len() / d;
        for (k, lw) in w.log_w[..n].iter_mut().enumerate() {
            let (er, xr, nr) = (
                &w.eps[k * d..(k + 1) * d],
                &rows.xt[k * d..(k + 1) * d],
                &rows.xn[k * d..(k + 1) * d],
            );
            let qe: f64 = er.iter().map(|v| (*v as f64) * (*v as f64)).sum();
            let qb: f64 = xr
                .iter()
                .zip(nr)
                .map(|(&x0, &x1)| {
                    let r = x0 as f64 - x1 as f64 / a as f64;
                    r * r
                })
                .sum();
            let inc = 0.5 * qe + 0.5 * deff * (ln2pi + math::ln(sdv))
                - qb / (2.0 * s2)
                - 0.5 * deff * (ln2pi + math::ln(s2));
            *lw += inc as f32;
        }
    }
}

/// The states `x_t` and `x_{t+1}` of one rollout step.
#[derive(Clone, Copy, Debug)]
struct StepRows<'r> {
    xt: &'r [f32],
    xn: &'r [f32],
}

/// Draws `n = draw.out.len()/d` samples with the target network, noise scale `draw.nu` and
/// the given final-noise rule, in chunks of `B`; writes `draw.out` (`n × d`) and
/// `draw.log_w` (`n`; NaN without final noise, see the [module docs](self)). Uses the
/// rollout and work buffers of `views`; the parameters are not changed.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `out` is not a multiple of `d` or `log_w` is not `n`
/// long; [`Error::InvalidConfig`] if `nu` is not finite and positive or `cfg` is not the
/// layout's configuration.
pub fn sample<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    views: &mut Views<'_>,
    target: &T,
    draw: Draw<'_>,
    rng: &mut R,
) -> Result<SampleInfo, Error> {
    let ctx = Ctx::new(cfg, &views.layout)?;
    let (b, d, steps) = (cfg.batch, ctx.l.dim, cfg.steps);
    let Draw {
        nu,
        final_noise,
        out,
        log_w,
    } = draw;
    if !(nu.is_finite() && nu > 0.0) {
        return Err(Error::InvalidConfig(
            "sampling noise scale must be finite and > 0",
        ));
    }
    if !out.len().is_multiple_of(d) {
        return Err(Error::ShapeMismatch {
            what: "vgs samples",
            expected: (out.len() / d + 1) * d,
            got: out.len(),
        });
    }
    let n = out.len() / d;
    check_len("vgs log_w", n, log_w.len())?;
    let mut bad = 0u32;
    for (oc, lc) in out.chunks_mut(b * d).zip(log_w.chunks_mut(b)) {
        let k = lc.len();
        let roll = Roll {
            n: k,
            nu,
            final_noise,
            with_log_w: true,
        };
        bad += ctx.rollout(views, target, roll, rng)?;
        oc.copy_from_slice(&views.states[steps * k * d..(steps + 1) * k * d]);
        lc.copy_from_slice(&views.work.log_w[..k]);
    }
    Ok(SampleInfo { non_finite: bad })
}

/// Checks that `x` holds `n ≤ B` rows of `d`; returns `n`.
fn rows_of(l: &Layout, what: &'static str, x: &[f32]) -> Result<usize, Error> {
    let d = l.dim;
    if !x.len().is_multiple_of(d) || x.len() / d > l.batch {
        return Err(Error::ShapeMismatch {
            what,
            expected: l.rows_len(),
            got: x.len(),
        });
    }
    Ok(x.len() / d)
}

/// `∇ₓ V̄(x, step)` of the **target** network for the rows of `x` (`n ≤ B` rows) into
/// `out` (same length): the drift direction, exposed for tests of equivariance. Uses the
/// work buffers of `views`.
///
/// # Errors
/// Shape errors; [`Error::InvalidConfig`] for `step ≥ T` or a configuration that is not
/// the layout's.
pub fn value_grad(
    cfg: &Config,
    views: &mut Views<'_>,
    x: &[f32],
    step: u32,
    out: &mut [f32],
) -> Result<(), Error> {
    let ctx = Ctx::new(cfg, &views.layout)?;
    check_len("vgs value_grad out", x.len(), out.len())?;
    rows_of(&ctx.l, "vgs value_grad x", x)?;
    ctx.value_grad(views.target, x, step, &mut views.work, out)
}

/// `V̄(x, step)` of the target network for the rows of `x` (`n ≤ B` rows) into `out`.
///
/// # Errors
/// As [`value_grad`].
pub fn value(
    cfg: &Config,
    views: &mut Views<'_>,
    x: &[f32],
    step: u32,
    out: &mut [f32],
) -> Result<(), Error> {
    let ctx = Ctx::new(cfg, &views.layout)?;
    let n = rows_of(&ctx.l, "vgs value x", x)?;
    check_len("vgs value out", n, out.len())?;
    let nf = ctx.l.nf;
    let w = &mut views.work;
    ctx.features(x, &mut w.feat[..n * nf], &mut w.order[..n * nf])?;
    let t = &mut w.tidx[..n];
    t.fill(step);
    ctx.l.net.forward(
        views.target,
        ValueInput {
            x: &w.feat[..n * nf],
            t,
        },
        w.cache,
        w.scratch,
        out,
    )?;
    if cfg.scale_with_d {
        out.iter_mut().for_each(|v| *v *= ctx.l.deff as f32);
    }
    Ok(())
}
