//! The VGS sampler and its TD training loop (Yoon et al. 2025, `vgs/models/vgsampler.py`:
//! `sample`, `value_update_step_TD`, `update_init_sigma`; report B1.1–B1.2).
//!
//! **Sampling** (B1.1). `x_0 ∼ N(0, (ν σ_init)² I)`, then for `t = 0 … T−1`, with
//! `y = α_t x_t`:
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
//! **TD update** (B1.2), after each behaviour batch (`ν` = `train_noise`): the `T·B` tuples
//! `(x_t, t, μ_t)` are shuffled into minibatches of `B` (`n_update` epochs); for each,
//! `x' = α_t x_t − μ_t + σ_t ε` (fresh noise, `ν = 1`),
//! `c_t = ‖μ_t‖²/(2 s_t² α_t²) − D log α_t`,
//! `y_t = [t = T−1]·min(E(x'), E_clip) + [t < T−1]·V̄(x', t+1) + τ c_t`, and one Adam step
//! on `ℓ(V_φ(x_t, t)/D, y_t/D)` ([`super::loss`]) with optional global-norm clipping. Then
//! the target network moves by EMA, `V̄ ← m V̄ + (1 − m) V_φ`, and, if `init_lr > 0`, the
//! initial scale takes one Adam step on `(E_z[V̄(σ z, 0)] − τ D log σ)/D` through the
//! reparameterised `z`: `∂/∂log σ = (E[∇V̄(σz, 0)·σz] − τ D)/D`.
//!
//! **Log weights** (report B4, "a natural estimator"): with `ν` and noise at every step,
//! `log w = −E(x_T)/τ + Σ_t log q̃(x_t | x_{t+1}) − log π_0(x_0) − Σ_t log π(x_{t+1} | x_t)`,
//! `q̃(x_t | x_{t+1}) = N(x_t; x_{t+1}/α_t, s_t² I)`; `E[log w]` is an ELBO on `log Z`
//! (for `τ = 1`). Without final noise the path density is degenerate and `log w` is NaN.
//!
//! **Robustness** (documented behaviour, never NaN samples): non-finite energies count as
//! `E_clip` in TD targets; energy gradients are clamped entry-wise to `±grad_clip` and
//! non-finite entries set to 0; any non-finite coordinate of a new state is set to 0 and
//! counted in [`Info::non_finite`] / [`SampleInfo::non_finite`].
//!
//! Memory: two caller-owned arenas (`f32`, `u32`) sized by [`Layout::new`]; no allocation.

use super::features::Features;
use super::loss::{TdBatch, TdLoss, td_minibatch};
use super::net::ValueNet;
use super::schedule::{AlphaKind, NoiseKind, Schedule};
use crate::arena::Carve;
use crate::error::{Error, check_len};
use crate::math;
use crate::nn::{Activation, LastLayerInit};
use crate::optim::adam::{self, AdamConfig, AdamState};
use crate::optim::clip::clip_global_norm;
use crate::rng::{Rng, fill_standard_normal, uniform_f64};
use crate::targets::LogDensity;

/// VGS settings. Defaults are the 9-GMM config of report B3, with a smaller network
/// (`hidden = 128`, paper 1024) and a larger learning rate (`1e-3`, paper `1e-4`) for a CPU
/// budget; [`Config::preset`] gives the other targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Steps `T`. Default `20` (paper: 9-GMM 20, Funnel 30, DW-4 30, LJ-13 100).
    pub steps: usize,
    /// Interpolation of `s_t²`. Default quad.
    pub noise: NoiseKind,
    /// `α_t`. Default vp (9-GMM); ve for the others.
    pub alpha: AlphaKind,
    /// `s_0²`. Default `0.2`.
    pub s2_start: f32,
    /// `s_{T−1}²`. Default `0.1`.
    pub s2_end: f32,
    /// Behaviour batch `B` (also the TD minibatch). Default `128` (paper: 128).
    pub batch: usize,
    /// Hidden width of the value network. Default `128` (paper: 1024).
    pub hidden: usize,
    /// Width of the sinusoidal step embedding (even). Default `32` (paper: 1024).
    pub embed: usize,
    /// Hidden activation. Default SiLU (paper: ReLU).
    pub activation: Activation,
    /// Input features (identity or n-body distances). Default identity.
    pub features: Features,
    /// Entropy weight `τ > 0`. Default `1` (paper: 1).
    pub tau: f32,
    /// Noise inflation `ν` of the behaviour policy. Default `1.2` (paper: 1.2; Funnel 1.1).
    pub train_noise: f32,
    /// Whether the last step adds noise. Default `true` (paper: particles: false).
    pub final_noise: bool,
    /// TD epochs over each behaviour batch. Default `1` (paper: GMM 1, others 3).
    pub n_update: u32,
    /// EMA factor `m ∈ [0, 1)` of the target network (`0` = hard copy). Default `0.9`.
    pub ema: f32,
    /// Value-network learning rate. Default `1e-3` (paper: 1e-4).
    pub lr: f32,
    /// Learning rate of `log σ_init` (`0` = fixed). Default `1e-3` (paper: 1e-3).
    pub init_lr: f32,
    /// TD loss. Default l2.
    pub loss: TdLoss,
    /// Energy clip `E_clip` in TD targets. Default `1e4` (paper: Funnel, LJ-13: 100).
    pub energy_clip: f32,
    /// Entry-wise clamp of the last-step energy gradient. Default `1e3`.
    pub grad_clip: f32,
    /// Whether the last-step drift follows `∇ min(E, E_clip)` instead of `∇E`: zero where
    /// `E(y) > E_clip` (or is not finite), as the paper's `sample()` does whenever
    /// `clip_energy` is set and `clip_grad` is not (its Funnel config). Default `false`, also
    /// in the Funnel preset: at our budget it strands chains on the flat region above the clip
    /// (README, VGS section, issue 6: Funnel T = 30 ELBO −72 with it and `drift_clip` 3,
    /// −7.0 with `drift_clip` alone).
    pub drift_energy_clip: bool,
    /// Drift clip `κ`: each row's drift is rescaled (direction kept) so that
    /// `‖μ_t‖ ≤ κ σ_t √D`, which caps the per-step control cost `‖μ_t‖²/(2 s_t² α_t²)` (the
    /// KL between the policy step and the reference step) at `κ² D / 2`. This breaks the
    /// feedback loop in which a steep value gives a large drift whose control cost makes the
    /// next TD target steeper still. The TD update uses the stored (clipped) drift, so its
    /// targets are the Bellman backup of the clipped policy; a well-trained Funnel sampler
    /// needs `‖μ_t‖ ≲ σ_t √D` (one step's noise), so `κ = 3` only cuts runaway drifts.
    /// `+∞` = off. Default off (the paper has none; Funnel preset: 3, issue 6).
    pub drift_clip: f32,
    /// Global-norm clip of the value gradient (`+∞` = off). Default off (paper: LJ-13: 1).
    pub max_grad_norm: f32,
    /// `V = D · net` (`scale_with_D`). Default `false` (paper: Funnel: true).
    pub scale_with_d: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            steps: 20,
            noise: NoiseKind::Quad,
            alpha: AlphaKind::Vp,
            s2_start: 0.2,
            s2_end: 0.1,
            batch: 128,
            hidden: 128,
            embed: 32,
            activation: Activation::Silu,
            features: Features::Identity,
            tau: 1.0,
            train_noise: 1.2,
            final_noise: true,
            n_update: 1,
            ema: 0.9,
            lr: 1e-3,
            init_lr: 1e-3,
            loss: TdLoss::L2,
            energy_clip: 1e4,
            grad_clip: 1e3,
            drift_energy_clip: false,
            drift_clip: f32::INFINITY,
            max_grad_norm: f32::INFINITY,
            scale_with_d: false,
        }
    }
}

impl Config {
    /// The settings of report B3 for `9gmm`, `funnel`, `dw4` or `lj13` (networks scaled
    /// down as documented per field; learning rates raised accordingly), `None` otherwise.
    pub fn preset(target: &str) -> Option<Config> {
        let d = Config::default();
        match target {
            "9gmm" => Some(d),
            "funnel" => Some(Config {
                steps: 30,
                alpha: AlphaKind::Ve,
                s2_start: 0.5,
                s2_end: 5e-4,
                batch: 256,
                train_noise: 1.1,
                n_update: 3,
                ema: 0.95,
                lr: 3e-4,
                init_lr: 1e-2,
                energy_clip: 100.0,
                drift_energy_clip: false,
                drift_clip: 3.0,
                scale_with_d: true,
                ..d
            }),
            "dw4" => Some(Config {
                steps: 30,
                alpha: AlphaKind::Ve,
                s2_start: 0.1,
                s2_end: 1e-4,
                batch: 256,
                features: Features::DW4,
                final_noise: false,
                n_update: 3,
                ema: 0.0,
                lr: 1e-4,
                init_lr: 1e-3,
                loss: TdLoss::SmoothL1,
                ..d
            }),
            "lj13" => Some(Config {
                steps: 100,
                noise: NoiseKind::Exp,
                alpha: AlphaKind::Ve,
                s2_start: 0.05,
                s2_end: 1e-4,
                batch: 256,
                features: Features::LJ13,
                final_noise: false,
                n_update: 3,
                ema: 0.9,
                lr: 1e-4,
                init_lr: 1e-4,
                loss: TdLoss::SmoothL1,
                energy_clip: 100.0,
                max_grad_norm: 1.0,
                ..d
            }),
            _ => None,
        }
    }

    /// The noise schedule.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            kind: self.noise,
            alpha: self.alpha,
            start: self.s2_start,
            end: self.s2_end,
            steps: self.steps,
        }
    }

    /// Checks every field against state dimension `dim`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self, dim: usize) -> Result<(), Error> {
        self.schedule().validate()?;
        self.features.validate(dim)?;
        if self.steps > 100_000 {
            return Err(Error::InvalidConfig("vgs steps must be <= 100000"));
        }
        if self.batch == 0 || self.hidden == 0 {
            return Err(Error::InvalidConfig("vgs batch and hidden must be >= 1"));
        }
        if self.embed < 2 || !self.embed.is_multiple_of(2) {
            return Err(Error::InvalidConfig("vgs embed must be even and >= 2"));
        }
        let pos = |v: f32| v.is_finite() && v > 0.0;
        if !pos(self.tau) {
            return Err(Error::InvalidConfig("vgs tau must be finite and > 0"));
        }
        if !pos(self.train_noise) {
            return Err(Error::InvalidConfig(
                "vgs train noise must be finite and > 0",
            ));
        }
        if self.n_update == 0 {
            return Err(Error::InvalidConfig("vgs n_update must be >= 1"));
        }
        if !(self.ema >= 0.0 && self.ema < 1.0) {
            return Err(Error::InvalidConfig("vgs ema must be in [0, 1)"));
        }
        if !pos(self.lr) {
            return Err(Error::InvalidConfig("vgs lr must be finite and > 0"));
        }
        if !(self.init_lr.is_finite() && self.init_lr >= 0.0) {
            return Err(Error::InvalidConfig("vgs init_lr must be finite and >= 0"));
        }
        if !pos(self.energy_clip) || !pos(self.grad_clip) {
            return Err(Error::InvalidConfig(
                "vgs energy and gradient clips must be finite and > 0",
            ));
        }
        if !(self.max_grad_norm > 0.0) {
            return Err(Error::InvalidConfig("vgs max_grad_norm must be > 0"));
        }
        if !(self.drift_clip > 0.0) {
            return Err(Error::InvalidConfig("vgs drift_clip must be > 0"));
        }
        Ok(())
    }

    /// The value network for state dimension `dim` (steps `0 … T−1`).
    ///
    /// # Errors
    /// As [`ValueNet::new`].
    pub fn net(&self, dim: usize) -> Result<ValueNet, Error> {
        ValueNet::new(
            self.features.out_dim(dim),
            self.hidden,
            self.embed,
            self.steps,
            self.activation,
        )
    }
}

/// Arena sizes of a [`Vgs`] sampler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// State dimension.
    pub dim: usize,
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
    /// [`Error::InvalidConfig`] for a bad configuration; [`Error::CapacityExceeded`] if the
    /// sizes overflow.
    pub fn new(cfg: &Config, dim: usize) -> Result<Self, Error> {
        cfg.validate(dim)?;
        let net = cfg.net(dim)?;
        let (b, t, f) = (cfg.batch, cfg.steps, cfg.features.out_dim(dim));
        let np = net.param_count();
        let over = Error::CapacityExceeded {
            what: "vgs arena",
            capacity: usize::MAX,
        };
        let bd = b.checked_mul(dim).ok_or(over)?;
        let states = bd.checked_mul(t + 1).ok_or(over)?;
        let parts = [
            6 * np,
            states,
            states - bd,
            4 * bd,
            2 * b * f,
            4 * b,
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
            .and_then(|v| v.checked_add(2 * b + b * f))
            .ok_or(over)?;
        Ok(Layout {
            dim,
            n_params: np,
            f32_len,
            u32_len,
        })
    }
}

/// Diagnostics of one training iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// Non-finite values replaced during the behaviour rollout.
    pub non_finite: u32,
}

/// What [`Vgs::sample`] reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleInfo {
    /// Non-finite values replaced (states set to 0, drift entries set to 0).
    pub non_finite: u32,
}

/// Work buffers shared by rollouts and TD updates.
#[derive(Debug)]
struct Work<'a> {
    xa: &'a mut [f32],
    xb: &'a mut [f32],
    mu: &'a mut [f32],
    eps: &'a mut [f32],
    feat: &'a mut [f32],
    dfeat: &'a mut [f32],
    vout: &'a mut [f32],
    dout: &'a mut [f32],
    ytgt: &'a mut [f32],
    log_w: &'a mut [f32],
    cache: &'a mut [f32],
    scratch: &'a mut [f32],
    egrad: &'a mut [f32],
    sink: &'a mut [f32],
    tidx: &'a mut [u32],
    tnext: &'a mut [u32],
    order: &'a mut [u32],
}

/// Fixed pieces every helper needs.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    cfg: Config,
    sched: Schedule,
    net: ValueNet,
    dim: usize,
    deff: usize,
    nf: usize,
}

impl Ctx {
    /// Features of `rows` states in `x` into `feat`/`order`.
    fn features(&self, x: &[f32], feat: &mut [f32], order: &mut [u32]) -> Result<(), Error> {
        for ((xr, fr), or) in x
            .chunks_exact(self.dim)
            .zip(feat.chunks_exact_mut(self.nf))
            .zip(order.chunks_exact_mut(self.nf))
        {
            self.cfg.features.forward_row(xr, fr, or)?;
        }
        Ok(())
    }

    /// `out = ∇ₓ V(x, step)` for the `n = x.len()/dim` rows of `x` (value scale included).
    fn value_grad(
        &self,
        params: &[f32],
        x: &[f32],
        step: u32,
        w: &mut Work<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = x.len() / self.dim;
        let (feat, order) = (&mut w.feat[..n * self.nf], &mut w.order[..n * self.nf]);
        self.features(x, feat, order)?;
        let t = &mut w.tidx[..n];
        t.fill(step);
        self.net
            .forward(params, feat, t, w.cache, w.scratch, &mut w.vout[..n])?;
        let scale = if self.cfg.scale_with_d {
            self.deff as f32
        } else {
            1.0
        };
        w.dout[..n].fill(scale);
        w.sink.fill(0.0);
        let dfeat = &mut w.dfeat[..n * self.nf];
        self.net.backward(
            params,
            feat,
            t,
            w.cache,
            &w.dout[..n],
            w.sink,
            Some(&mut *dfeat),
            w.scratch,
        )?;
        for (((xr, or), dr), gr) in x
            .chunks_exact(self.dim)
            .zip(order.chunks_exact(self.nf))
            .zip(dfeat.chunks_exact(self.nf))
            .zip(out.chunks_exact_mut(self.dim))
        {
            self.cfg.features.backward_row(xr, or, dr, gr)?;
        }
        Ok(())
    }

    /// Drift `μ_t` at `y = α_t x_t` (rows of `y`) into `mu`; returns replaced entries.
    fn drift<T: LogDensity + ?Sized>(
        &self,
        params: &[f32],
        target: &T,
        t: usize,
        y: &[f32],
        w: &mut Work<'_>,
        mu: &mut [f32],
    ) -> Result<u32, Error> {
        let s2 = self.sched.s2(t);
        let a = self.sched.alpha(t);
        let coef = s2 * a * a / self.cfg.tau;
        let mut bad = 0u32;
        if t + 1 < self.cfg.steps {
            self.value_grad(params, y, (t + 1) as u32, w, mu)?;
        } else {
            let g = &mut *w.egrad;
            let c = self.cfg.grad_clip;
            for (yr, mr) in y.chunks_exact(self.dim).zip(mu.chunks_exact_mut(self.dim)) {
                let lp = target.log_density_grad(yr, g);
                if self.cfg.drift_energy_clip && !(-lp <= self.cfg.energy_clip) {
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
        if self.cfg.drift_clip.is_finite() {
            let cap =
                (self.cfg.drift_clip * self.sched.sigma(t)) as f64 * math::sqrt(self.deff as f64);
            for mr in mu.chunks_exact_mut(self.dim) {
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
    fn noise<R: Rng + ?Sized>(&self, eps: &mut [f32], rng: &mut R) {
        fill_standard_normal(rng, eps);
        self.cfg.features.project(eps, self.dim);
    }

    /// One rollout of `n ≤ B` chains with noise scale `nu`: writes `states` (`(T+1)·n·d`),
    /// `drifts` (`T·n·d`) and, if `with_log_w`, `w.log_w[..n]`. Returns replaced values.
    fn rollout<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &self,
        params: &[f32],
        log_sigma: f32,
        target: &T,
        n: usize,
        nu: f32,
        final_noise: bool,
        states: &mut [f32],
        drifts: &mut [f32],
        with_log_w: bool,
        w: &mut Work<'_>,
        rng: &mut R,
    ) -> Result<u32, Error> {
        let (d, steps) = (self.dim, self.cfg.steps);
        let nd = n * d;
        let deff = self.deff as f64;
        let ln2pi = math::LN_2PI;
        let sd0 = nu * math::exp(log_sigma);
        let mut bad = 0u32;
        {
            let x0 = &mut states[..nd];
            self.noise(x0, rng);
            for v in x0.iter_mut() {
                *v *= sd0;
            }
            if with_log_w {
                let v0 = (sd0 as f64) * (sd0 as f64);
                for (lw, xr) in w.log_w[..n].iter_mut().zip(x0.chunks_exact(d)) {
                    let q: f64 = xr.iter().map(|v| (*v as f64) * (*v as f64)).sum();
                    *lw = (q / (2.0 * v0) + 0.5 * deff * math::ln(2.0 * math::PI * v0)) as f32;
                }
            }
        }
        let mut lw_ok = with_log_w;
        for t in 0..steps {
            let a = self.sched.alpha(t);
            let s2 = self.sched.s2(t);
            let last = t + 1 == steps;
            let sd = if last && !final_noise {
                0.0
            } else {
                nu * self.sched.sigma(t)
            };
            let (head, tail) = states.split_at_mut((t + 1) * nd);
            let xt = &head[t * nd..];
            let xn = &mut tail[..nd];
            let ya = core::mem::take(&mut w.xa);
            let mu = core::mem::take(&mut w.mu);
            for (yv, &xv) in ya[..nd].iter_mut().zip(xt) {
                *yv = a * xv;
            }
            let mu_n = &mut mu[..nd];
            let r = self.drift(params, target, t, &ya[..nd], w, mu_n);
            let out = r.map(|b| {
                bad += b;
            });
            if out.is_ok() {
                let eps = &mut w.eps[..nd];
                self.noise(eps, rng);
                for (((xv, &yv), &mv), &ev) in xn
                    .iter_mut()
                    .zip(ya[..nd].iter())
                    .zip(mu_n.iter())
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
                drifts[t * nd..(t + 1) * nd].copy_from_slice(mu_n);
            }
            w.mu = mu;
            w.xa = ya;
            out?;
            if lw_ok {
                if sd > 0.0 {
                    let sdv = (sd as f64) * (sd as f64);
                    let s2 = s2 as f64;
                    for (k, lw) in w.log_w[..n].iter_mut().enumerate() {
                        let (er, xr, nr) = (
                            &w.eps[k * d..(k + 1) * d],
                            &xt[k * d..(k + 1) * d],
                            &xn[k * d..(k + 1) * d],
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
                } else {
                    lw_ok = false;
                }
            }
        }
        if with_log_w {
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
}

/// State of a VGS sampler under training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct State {
    /// Iterations done.
    pub iteration: u32,
    /// Adam state of the value network.
    pub adam: AdamState,
    /// Adam state of `log σ_init`.
    pub adam_sigma: AdamState,
    /// `log σ_init`.
    pub log_sigma: f32,
}

/// A VGS sampler (value network, EMA target network, `σ_init`) over caller-owned arenas.
#[derive(Debug)]
pub struct Vgs<'a> {
    ctx: Ctx,
    layout: Layout,
    params: &'a mut [f32],
    target: &'a mut [f32],
    grads: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    states: &'a mut [f32],
    drifts: &'a mut [f32],
    perm: &'a mut [u32],
    w: Work<'a>,
    sig_mv: [f32; 2],
    state: State,
}

impl<'a> Vgs<'a> {
    /// Builds the sampler over arenas of the lengths in [`Layout::new`] and initialises
    /// the value network (PyTorch default; last layer zero, so `V ≡ 0` and the untrained
    /// sampler is the reference process plus the last energy-gradient step), the target
    /// network as a copy, and `σ_init` from the schedule.
    ///
    /// # Errors
    /// Configuration and shape errors.
    pub fn init<R: Rng + ?Sized>(
        cfg: &Config,
        dim: usize,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
        rng: &mut R,
    ) -> Result<Self, Error> {
        let layout = Layout::new(cfg, dim)?;
        check_len("vgs f32 arena", layout.f32_len, f32_arena.len())?;
        check_len("vgs u32 arena", layout.u32_len, u32_arena.len())?;
        let net = cfg.net(dim)?;
        let sched = cfg.schedule();
        let (b, t, nf, np) = (
            cfg.batch,
            cfg.steps,
            cfg.features.out_dim(dim),
            layout.n_params,
        );
        let mut c = Carve::new("vgs arena", f32_arena);
        let params = c.take(np)?;
        let target = c.take(np)?;
        let grads = c.take(np)?;
        let m = c.take(np)?;
        let v = c.take(np)?;
        let sink = c.take(np)?;
        let states = c.take((t + 1) * b * dim)?;
        let drifts = c.take(t * b * dim)?;
        let xa = c.take(b * dim)?;
        let xb = c.take(b * dim)?;
        let mu = c.take(b * dim)?;
        let eps = c.take(b * dim)?;
        let feat = c.take(b * nf)?;
        let dfeat = c.take(b * nf)?;
        let vout = c.take(b)?;
        let dout = c.take(b)?;
        let ytgt = c.take(b)?;
        let log_w = c.take(b)?;
        let cache = c.take(net.cache_len(b))?;
        let scratch = c.take(net.scratch_len(b))?;
        let egrad = c.take(dim)?;
        let mut cu = Carve::new("vgs arena", u32_arena);
        let perm = cu.take(b * t)?;
        let tidx = cu.take(b)?;
        let tnext = cu.take(b)?;
        let order = cu.take(b * nf)?;
        net.init(params, LastLayerInit::Zero, rng)?;
        target.copy_from_slice(params);
        m.fill(0.0);
        v.fill(0.0);
        let log_sigma = math::ln(sched.init_sigma());
        Ok(Vgs {
            ctx: Ctx {
                cfg: *cfg,
                sched,
                net,
                dim,
                deff: cfg.features.effective_dim(dim),
                nf,
            },
            layout,
            params,
            target,
            grads,
            m,
            v,
            states,
            drifts,
            perm,
            w: Work {
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
            sig_mv: [0.0; 2],
            state: State {
                iteration: 0,
                adam: AdamState::default(),
                adam_sigma: AdamState::default(),
                log_sigma,
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.ctx.cfg
    }
    /// The arena layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The value network's shape.
    pub fn net(&self) -> &ValueNet {
        &self.ctx.net
    }
    /// The state.
    pub fn state(&self) -> State {
        self.state
    }
    /// `σ_init`.
    pub fn init_sigma(&self) -> f32 {
        math::exp(self.state.log_sigma)
    }
    /// Online value-network parameters.
    pub fn params(&self) -> &[f32] {
        self.params
    }
    /// Target (EMA) value-network parameters, used for sampling.
    pub fn target_params(&self) -> &[f32] {
        self.target
    }
    /// Restores a checkpoint: online and target parameters and `log σ_init`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for wrong lengths; [`Error::NonFinite`] for a non-finite
    /// parameter or `log σ`.
    pub fn restore(&mut self, params: &[f32], target: &[f32], log_sigma: f32) -> Result<(), Error> {
        check_len("vgs params", self.params.len(), params.len())?;
        check_len("vgs target params", self.target.len(), target.len())?;
        if !log_sigma.is_finite() || params.iter().chain(target).any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("vgs checkpoint"));
        }
        self.params.copy_from_slice(params);
        self.target.copy_from_slice(target);
        self.state.log_sigma = log_sigma;
        Ok(())
    }

    /// `∇ₓ V(x, step)` of the **target** network for the rows of `x` (`n ≤ B` rows) into
    /// `out` (same length): the drift direction, exposed for tests of equivariance.
    ///
    /// # Errors
    /// Shape errors; [`Error::InvalidConfig`] for `step ≥ T`.
    pub fn value_grad(&mut self, x: &[f32], step: u32, out: &mut [f32]) -> Result<(), Error> {
        let d = self.ctx.dim;
        check_len("vgs value_grad out", x.len(), out.len())?;
        if !x.len().is_multiple_of(d) || x.len() / d > self.ctx.cfg.batch {
            return Err(Error::ShapeMismatch {
                what: "vgs value_grad x",
                expected: self.ctx.cfg.batch * d,
                got: x.len(),
            });
        }
        self.ctx.value_grad(self.target, x, step, &mut self.w, out)
    }

    /// `V̄(x, step)` of the target network for the rows of `x` (`n ≤ B` rows) into `out`.
    ///
    /// # Errors
    /// As [`Vgs::value_grad`].
    pub fn value(&mut self, x: &[f32], step: u32, out: &mut [f32]) -> Result<(), Error> {
        let (d, nf) = (self.ctx.dim, self.ctx.nf);
        let n = x.len() / d.max(1);
        if !x.len().is_multiple_of(d) || n > self.ctx.cfg.batch {
            return Err(Error::ShapeMismatch {
                what: "vgs value x",
                expected: self.ctx.cfg.batch * d,
                got: x.len(),
            });
        }
        check_len("vgs value out", n, out.len())?;
        let w = &mut self.w;
        self.ctx
            .features(x, &mut w.feat[..n * nf], &mut w.order[..n * nf])?;
        let t = &mut w.tidx[..n];
        t.fill(step);
        self.ctx
            .net
            .forward(self.target, &w.feat[..n * nf], t, w.cache, w.scratch, out)?;
        if self.ctx.cfg.scale_with_d {
            out.iter_mut().for_each(|v| *v *= self.ctx.deff as f32);
        }
        Ok(())
    }

    /// One training iteration: a behaviour batch with `ν = train_noise`, the TD update over
    /// shuffled minibatches, the EMA of the target network and the `σ_init` step.
    ///
    /// # Errors
    /// Shape or configuration errors (none after a successful [`Vgs::init`]).
    pub fn step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &mut self,
        target: &T,
        rng: &mut R,
    ) -> Result<Info, Error> {
        let ctx = self.ctx;
        let cfg = ctx.cfg;
        let (b, d, steps) = (cfg.batch, ctx.dim, cfg.steps);
        let mut bad = ctx.rollout(
            self.target,
            self.state.log_sigma,
            target,
            b,
            cfg.train_noise,
            cfg.final_noise,
            self.states,
            self.drifts,
            false,
            &mut self.w,
            rng,
        )?;
        let (mut esum, mut en) = (0.0f64, 0u32);
        for xr in self.states[steps * b * d..].chunks_exact(d) {
            let e = -(target.log_density(xr) as f64);
            if e.is_finite() {
                esum += e;
                en += 1;
            }
        }
        // TD update
        let n_items = b * steps;
        for (i, p) in self.perm.iter_mut().enumerate() {
            *p = i as u32;
        }
        let (mut loss_sum, mut n_mb, mut gnorm) = (0.0f64, 0u32, 0.0f32);
        let groups = [adam::ParamGroup::new(0, self.params.len(), 1.0)];
        let acfg = AdamConfig {
            lr: cfg.lr,
            ..AdamConfig::default()
        };
        for _ in 0..cfg.n_update {
            for i in (1..n_items).rev() {
                let j = (uniform_f64(rng) * (i + 1) as f64) as usize;
                self.perm.swap(i, j.min(i));
            }
            let mut start = 0;
            while start < n_items {
                let m = b.min(n_items - start);
                let (l, g) = self.td_minibatch(target, start, m, &mut bad, rng)?;
                loss_sum += l;
                n_mb += 1;
                gnorm = g;
                let w = &self.w;
                let _ = w;
                adam::step_groups(
                    &acfg,
                    &mut self.state.adam,
                    &groups,
                    self.params,
                    self.grads,
                    adam::Moments {
                        m: self.m,
                        v: self.v,
                    },
                )?;
                start += m;
            }
        }
        // EMA of the target network
        let ema = cfg.ema;
        for (tv, &pv) in self.target.iter_mut().zip(self.params.iter()) {
            *tv = ema * *tv + (1.0 - ema) * pv;
        }
        if cfg.init_lr > 0.0 {
            self.sigma_step(rng)?;
        }
        let info = Info {
            iteration: self.state.iteration,
            td_loss: loss_sum / n_mb.max(1) as f64,
            grad_norm: gnorm,
            init_sigma: self.init_sigma(),
            energy: if en > 0 { esum / en as f64 } else { f64::NAN },
            non_finite: bad,
        };
        self.state.iteration = self.state.iteration.saturating_add(1);
        Ok(info)
    }

    /// One TD minibatch over `perm[start .. start + m]`: targets, loss and gradient
    /// (clipped) in `self.grads`. Returns `(loss, pre-clip norm)`.
    fn td_minibatch<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &mut self,
        target: &T,
        start: usize,
        m: usize,
        bad: &mut u32,
        rng: &mut R,
    ) -> Result<(f64, f32), Error> {
        let ctx = self.ctx;
        let cfg = ctx.cfg;
        let (b, d, steps, nf) = (cfg.batch, ctx.dim, cfg.steps, ctx.nf);
        let deff = ctx.deff as f32;
        let w = &mut self.w;
        let md = m * d;
        for (k, &item) in self.perm[start..start + m].iter().enumerate() {
            let item = item as usize;
            let (t, row) = (item / b, item % b);
            let src = (t * b + row) * d;
            w.xa[k * d..(k + 1) * d].copy_from_slice(&self.states[src..src + d]);
            w.mu[k * d..(k + 1) * d].copy_from_slice(&self.drifts[src..src + d]);
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
                    *bad += 1;
                    0.0
                };
                q += (w.mu[j] as f64) * (w.mu[j] as f64);
            }
            let c =
                q / (2.0 * s2 as f64 * (a as f64) * (a as f64)) - deff as f64 * math::ln(a as f64);
            w.ytgt[k] = cfg.tau * c as f32;
        }
        // bootstrap values V̄(x', t+1)
        if w.tidx[..m].iter().any(|&t| (t as usize) + 1 < steps) {
            ctx.features(&w.xb[..md], &mut w.feat[..m * nf], &mut w.order[..m * nf])?;
            ctx.net.forward(
                self.target,
                &w.feat[..m * nf],
                &w.tnext[..m],
                w.cache,
                w.scratch,
                &mut w.vout[..m],
            )?;
        }
        let scale = if cfg.scale_with_d { deff } else { 1.0 };
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
                *bad += 1;
                cfg.energy_clip
            };
        }
        ctx.features(&w.xa[..md], &mut w.feat[..m * nf], &mut w.order[..m * nf])?;
        self.grads.fill(0.0);
        let mut tb = TdBatch {
            cache: w.cache,
            scratch: w.scratch,
            out: &mut w.vout[..m],
            dout: &mut w.dout[..m],
        };
        let loss = td_minibatch(
            &ctx.net,
            self.params,
            &w.feat[..m * nf],
            &w.tidx[..m],
            &w.ytgt[..m],
            cfg.loss,
            ctx.deff,
            cfg.scale_with_d,
            self.grads,
            &mut tb,
        )?;
        let norm = clip_global_norm(self.grads, cfg.max_grad_norm);
        Ok((loss, norm))
    }

    /// One Adam step on `log σ_init` (module docs).
    fn sigma_step<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<(), Error> {
        let ctx = self.ctx;
        let (b, d) = (ctx.cfg.batch, ctx.dim);
        let bd = b * d;
        let sig = math::exp(self.state.log_sigma);
        let z = core::mem::take(&mut self.w.xa);
        let g = core::mem::take(&mut self.w.xb);
        ctx.noise(&mut z[..bd], rng);
        z[..bd].iter_mut().for_each(|v| *v *= sig);
        let r = ctx.value_grad(self.target, &z[..bd], 0, &mut self.w, &mut g[..bd]);
        let dot: f64 = z[..bd]
            .iter()
            .zip(g[..bd].iter())
            .map(|(&a, &c)| a as f64 * c as f64)
            .sum();
        self.w.xa = z;
        self.w.xb = g;
        r?;
        let deff = ctx.deff as f64;
        let grad = ((dot / b as f64 - ctx.cfg.tau as f64 * deff) / deff) as f32;
        if !grad.is_finite() {
            return Ok(());
        }
        let acfg = AdamConfig {
            lr: ctx.cfg.init_lr,
            ..AdamConfig::default()
        };
        let mut p = [self.state.log_sigma];
        let [mut m0, mut v0] = self.sig_mv;
        let (mut mm, mut vv) = ([m0], [v0]);
        adam::step(
            &acfg,
            &mut self.state.adam_sigma,
            &mut p,
            &[grad],
            &mut mm,
            &mut vv,
        )?;
        m0 = mm[0];
        v0 = vv[0];
        self.sig_mv = [m0, v0];
        // keep σ_init in a sane range: e^{±10}
        self.state.log_sigma = p[0].clamp(-10.0, 10.0);
        Ok(())
    }

    /// Draws `n = out.len()/d` samples with the target network, noise scale `nu` and the
    /// given final-noise rule, in chunks of `B`; writes `out` (`n × d`) and `log_w` (`n`;
    /// NaN without final noise, see the module docs).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `out` is not a multiple of `d` or `log_w` is not `n`
    /// long; [`Error::InvalidConfig`] if `nu` is not finite and positive.
    pub fn sample<T: LogDensity + ?Sized, R: Rng + ?Sized>(
        &mut self,
        target: &T,
        nu: f32,
        final_noise: bool,
        out: &mut [f32],
        log_w: &mut [f32],
        rng: &mut R,
    ) -> Result<SampleInfo, Error> {
        let ctx = self.ctx;
        let (b, d, steps) = (ctx.cfg.batch, ctx.dim, ctx.cfg.steps);
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
            let st = &mut self.states[..(steps + 1) * k * d];
            let dr = &mut self.drifts[..steps * k * d];
            bad += ctx.rollout(
                self.target,
                self.state.log_sigma,
                target,
                k,
                nu,
                final_noise,
                st,
                dr,
                true,
                &mut self.w,
                rng,
            )?;
            oc.copy_from_slice(&st[steps * k * d..]);
            lc.copy_from_slice(&self.w.log_w[..k]);
        }
        Ok(SampleInfo { non_finite: bad })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;
    use crate::targets::{Dw4, GridGmm, Lj13};
    use std::vec;
    use std::vec::Vec;

    fn arenas(cfg: &Config, dim: usize) -> (Vec<f32>, Vec<u32>) {
        let l = Layout::new(cfg, dim).unwrap();
        (vec![0.0; l.f32_len], vec![0; l.u32_len])
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
        let (mut fa, mut ua) = arenas(&cfg, dim);
        let mut r = seeded(5);
        let mut vgs = Vgs::init(&cfg, dim, &mut fa, &mut ua, &mut r).unwrap();
        let net = *vgs.net();
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
            ..Config::preset("dw4").unwrap()
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
            ..Config::preset("lj13").unwrap()
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
            let (mut fa, mut ua) = arenas(&cfg, 2);
            let mut r = seeded(1);
            let g = GridGmm::nine();
            let mut vgs = Vgs::init(&cfg, 2, &mut fa, &mut ua, &mut r).unwrap();
            let mut last = None;
            for _ in 0..3 {
                let info = vgs.step(&g, &mut r).unwrap();
                assert!(info.td_loss.is_finite() && info.init_sigma.is_finite());
                last = Some(info);
            }
            let mut out = vec![0.0f32; 40];
            let mut lw = vec![0.0f32; 20];
            vgs.sample(&g, 1.0, true, &mut out, &mut lw, &mut r)
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
            ..Config::preset("lj13").unwrap()
        };
        let (mut fa, mut ua) = arenas(&cfg, 39);
        let mut r = seeded(2);
        let mut vgs = Vgs::init(&cfg, 39, &mut fa, &mut ua, &mut r).unwrap();
        let p = vgs.params().to_vec();
        vgs.restore(&p, &p, -30.0).unwrap();
        let info = vgs.step(&Lj13, &mut r).unwrap();
        assert!(info.td_loss.is_finite());
        let mut out = vec![0.0f32; 39 * 5];
        let mut lw = vec![0.0f32; 5];
        vgs.sample(&Lj13, 0.9, false, &mut out, &mut lw, &mut r)
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
            let (mut fa, mut ua) = arenas(&cfg, 2);
            let mut r = seeded(7);
            let mut vgs = Vgs::init(&cfg, 2, &mut fa, &mut ua, &mut r).unwrap();
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
                .sample(&Hostile, 1.0, true, &mut out, &mut lw, &mut r)
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
                ..Config::preset("lj13").unwrap()
            };
            let (mut fa, mut ua) = arenas(&cfg, 39);
            let mut r = seeded(3);
            let mut vgs = Vgs::init(&cfg, 39, &mut fa, &mut ua, &mut r).unwrap();
            let net = *vgs.net();
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
            vgs.sample(&Lj13, 0.9, false, &mut out, &mut lw, &mut r)
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
                ..Config::preset("funnel").unwrap()
            };
            let (mut fa, mut ua) = arenas(&cfg, 10);
            let mut r = seeded(3);
            let mut vgs = Vgs::init(&cfg, 10, &mut fa, &mut ua, &mut r).unwrap();
            let ctx = vgs.ctx;
            let mut mu = vec![0.0f32; 20];
            let bad = ctx
                .drift(vgs.target, &f, 0, &y, &mut vgs.w, &mut mu)
                .unwrap();
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
        let preset = Config::preset("funnel").unwrap();
        assert_eq!(preset.drift_clip, 3.0);
        let drift = |kappa: f32| {
            let cfg = Config {
                batch: 2,
                hidden: 8,
                steps: 30,
                drift_clip: kappa,
                ..preset
            };
            let (mut fa, mut ua) = arenas(&cfg, 10);
            let mut r = seeded(3);
            let mut vgs = Vgs::init(&cfg, 10, &mut fa, &mut ua, &mut r).unwrap();
            let ctx = vgs.ctx;
            let mut mu = vec![0.0f32; 20];
            ctx.drift(vgs.target, &f, 29, &y, &mut vgs.w, &mut mu)
                .unwrap();
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
            ..Config::preset("funnel").unwrap()
        };
        let f = crate::targets::Funnel::new(10).unwrap();
        let (mut fa, mut ua) = arenas(&cfg, 10);
        let mut r = seeded(5);
        let mut vgs = Vgs::init(&cfg, 10, &mut fa, &mut ua, &mut r).unwrap();
        for _ in 0..2 {
            let info = vgs.step(&f, &mut r).unwrap();
            assert!(info.td_loss.is_finite());
        }
        let mut clipped = 0;
        for (i, row) in vgs.drifts.chunks_exact(10).enumerate() {
            let t = i / cfg.batch;
            let cap = 3.0 * vgs.ctx.sched.sigma(t) * 10f32.sqrt();
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
        let (mut fa, mut ua) = arenas(&d, 2);
        let mut r = seeded(0);
        assert!(Vgs::init(&d, 2, &mut fa[1..], &mut ua, &mut r).is_err());
        let mut vgs = Vgs::init(&d, 2, &mut fa, &mut ua, &mut r).unwrap();
        let mut out = [0.0f32; 3];
        let mut lw = [0.0f32; 1];
        let g = GridGmm::nine();
        assert!(
            vgs.sample(&g, 1.0, true, &mut out, &mut lw, &mut r)
                .is_err()
        );
        assert!(
            vgs.sample(&g, 0.0, true, &mut out[..2], &mut lw, &mut r)
                .is_err()
        );
        assert!(vgs.restore(&[0.0; 3], &[0.0; 3], 0.0).is_err());
        let _ = Dw4;
    }
}
