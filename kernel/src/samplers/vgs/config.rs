//! The settings of the VGS trainer (Yoon et al. 2025, report B3): [`Config`] (the 9-GMM
//! settings), report B3's settings of the other targets and the checks.

use super::features::Features;
use super::loss::TdLoss;
use super::net::ValueNet;
use super::schedule::{AlphaKind, NoiseKind, Schedule};
use crate::error::Error;
use crate::nn::Activation;

/// VGS settings. Defaults are the 9-GMM config of report B3, with a smaller network
/// (`hidden = 128`, paper 1024) and a larger learning rate (`1e-3`, paper `1e-4`) for a CPU
/// budget; [`Config::funnel`], [`Config::dw4`] and [`Config::lj13`] give the other targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Steps `T`. Default `20` (paper: 9-GMM 20, Funnel 30, DW-4 30, LJ-13 100).
    pub steps: usize,
    /// Interpolation of `s_t²`. Default quad (report B3: quad; LJ-13 exp).
    pub noise: NoiseKind,
    /// `α_t`. Default vp (report B3: 9-GMM vp; Funnel, DW-4, LJ-13 ve).
    pub alpha: AlphaKind,
    /// `s_0²`. Default `0.2` (report B3: 9-GMM 0.2, Funnel 0.5, DW-4 0.1, LJ-13 0.05).
    pub s2_start: f32,
    /// `s_{T−1}²`. Default `0.1` (report B3: 9-GMM 0.1, Funnel 5e-4, DW-4 and LJ-13 1e-4).
    pub s2_end: f32,
    /// Behaviour batch `B` (also the TD minibatch). Default `128` (paper: 128).
    pub batch: usize,
    /// Hidden width of the value network. Default `128` (paper: 1024).
    pub hidden: usize,
    /// Width of the sinusoidal step embedding (even). Default `32` (paper: 1024).
    pub embed: usize,
    /// Hidden activation. Default SiLU (paper: ReLU).
    pub activation: Activation,
    /// Input features (identity or n-body distances). Default identity (report B3: sorted
    /// pairwise distances for DW-4 and LJ-13).
    pub features: Features,
    /// Entropy weight `τ > 0`. Default `1` (paper: 1).
    pub tau: f32,
    /// Noise inflation `ν` of the behaviour policy. Default `1.2` (paper: 1.2; Funnel 1.1).
    pub train_noise: f32,
    /// Whether the last step adds noise. Default `true` (paper: particles: false).
    pub final_noise: bool,
    /// TD epochs over each behaviour batch. Default `1` (paper: GMM 1, others 3).
    pub n_update: u32,
    /// EMA factor `m ∈ [0, 1)` of the target network (`0` = hard copy). Default `0.9`
    /// (report B3: 9-GMM and LJ-13 0.9, Funnel 0.95, DW-4 0).
    pub ema: f32,
    /// Value-network learning rate. Default `1e-3` (paper: 1e-4).
    pub lr: f32,
    /// Learning rate of `log σ_init` (`0` = fixed). Default `1e-3` (paper: 1e-3).
    pub init_lr: f32,
    /// TD loss. Default l2 (report B1.2: l2; DW-4 and LJ-13 smooth-L1).
    pub loss: TdLoss,
    /// Energy clip `E_clip` in TD targets. Default `1e4` (paper: Funnel, LJ-13: 100).
    pub energy_clip: f32,
    /// Entry-wise clamp of the last-step energy gradient. Default `1e3` (report B1.1: the
    /// energy gradient is clamped entry-wise).
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
    /// Report B3's Funnel settings (`scale_with_D`, energy clip 100, VE noise `0.5 → 5e-4`,
    /// `T = 30`) with the drift clip `κ = 3` of issue 6 and a learning rate raised for the
    /// smaller network. The settings layer picks it for the target `funnel`.
    pub fn funnel() -> Config {
        Config {
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
            ..Config::default()
        }
    }

    /// Report B3's DW-4 settings (pairwise-distance features, no final noise, smooth-L1 TD
    /// loss, hard target copy, VE noise `0.1 → 1e-4`, `T = 30`). The settings layer picks it
    /// for the target `dw4`.
    pub fn dw4() -> Config {
        Config {
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
            ..Config::default()
        }
    }

    /// Report B3's LJ-13 settings (pairwise-distance features, exponential noise
    /// `0.05 → 1e-4`, no final noise, smooth-L1 TD loss, energy clip 100, gradient-norm clip
    /// 1, `T = 100`). The settings layer picks it for the target `lj13`.
    pub fn lj13() -> Config {
        Config {
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
            ..Config::default()
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

    /// Checks every field (the features against the state dimension are checked by
    /// [`Layout::new`](super::Layout::new)).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        self.schedule().validate()?;
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
