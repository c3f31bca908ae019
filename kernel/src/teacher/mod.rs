//! Adaptive teachers for amortised samplers (Kim et al., ICLR 2025, arXiv 2410.01432;
//! `teachers-and-vgs.md` part A).
//!
//! A **student** sampler targets the reward `R(x)`; a **teacher** is a behaviour policy
//! trained with TB on the trajectory-dependent reward (A1.1)
//!
//! `log R_T(τ) = log log(1 + ε + (1 + C·𝟙[δ_S(τ) > 0])·ℓ(τ)) + α·log R(x)`,
//!
//! where `δ_S(τ)` is the student's signed TB residual on `τ`, computed **before** the
//! student's optimiser step and `ℓ` its square (halved by the diffusion code). `δ_S > 0`
//! means the student under-samples `x` along `τ`; those trajectories get weight `1 + C`,
//! the others `1`. The kernel's TB residual is `d = log Z + Σ log P_F − Σ log P_B − log R
//! = −δ_S`; [`teacher_log_reward`] takes that residual and flips the sign. The inner
//! `log(1 + ε + ·) ≥ log(1.001) > 0`, so the outer log is finite.
//!
//! Two versions share [`Config`] and [`teacher_log_reward`]:
//! - [`discrete`]: two GFlowNet trainers ([`crate::samplers::gflownet::train`]) on a
//!   discrete environment, the teacher trained on the student's trajectories;
//! - [`continuous`]: two diffusion trainers ([`crate::samplers::diffusion::train`]) on a
//!   continuous target (25GMM, ManyWell), the teacher trained on the student's trajectories.

pub mod continuous;
pub mod discrete;

use crate::error::Error;
use crate::math;

/// Teacher-reward settings (Kim et al. 2025, A1.1; defaults: the grid column).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Extra weight `C` of under-sampled trajectories (`δ_S > 0` gets `1 + C`). Defaults to
    /// `19` (×20).
    pub c: f32,
    /// `ε` inside `log(1 + ε + w·ℓ)`. Defaults to `1e-3`.
    pub epsilon: f32,
    /// Exponent `α` of the mixed-in target reward `R(x)^α`. Defaults to `0` (grid; the
    /// diffusion and discovery code use `0.5`).
    pub alpha: f32,
    /// Use the `log(1 + ε + w·ℓ)` transform (`--log`, default `true`); with `false` the
    /// reward is `R_T = (ε + w·ℓ)·R^α` (the reference's `--no_log`, floored at `ε` here so
    /// that `δ = 0` stays finite).
    pub log_transform: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            c: 19.0,
            epsilon: 1e-3,
            alpha: 0.0,
            log_transform: true,
        }
    }
}

impl Config {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a negative or non-finite `C`, a non-positive `ε` or a
    /// non-finite `α`.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.c.is_finite() && self.c >= 0.0) {
            return Err(Error::InvalidConfig("teacher C must be finite and >= 0"));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::InvalidConfig(
                "teacher epsilon must be finite and > 0",
            ));
        }
        if !self.alpha.is_finite() {
            return Err(Error::InvalidConfig("teacher alpha must be finite"));
        }
        Ok(())
    }
}

/// `log R_T` from the kernel's TB residual `d = log Z + Σ log P_F − Σ log P_B − log R`
/// (so the teachers' `δ_S = −d`) and `log R(x)`: `log log(1 + ε + (1 + C·𝟙[d < 0])·d²) +
/// α·log R` (or `log(ε + w·d²) + α·log R` without the log transform). A NaN residual gives
/// `−∞`.
pub fn teacher_log_reward(cfg: &Config, residual: f32, log_r: f32) -> f32 {
    let d = residual as f64;
    if d.is_nan() {
        return f32::NEG_INFINITY;
    }
    let w = if d < 0.0 { 1.0 + cfg.c as f64 } else { 1.0 };
    let ell = d * d;
    let base = if cfg.log_transform {
        math::ln(math::ln(1.0 + cfg.epsilon as f64 + w * ell))
    } else {
        math::ln(cfg.epsilon as f64 + w * ell)
    };
    let mix = if cfg.alpha == 0.0 {
        0.0
    } else {
        cfg.alpha as f64 * log_r as f64
    };
    (base + mix) as f32
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn teacher_reward_literal_values() {
        let c = Config::default();
        // under-sampled (kernel residual < 0): weight 20
        let v = teacher_log_reward(&c, -0.5, -3.0) as f64;
        let want = ((1.001f64 + 20.0 * 0.25).ln()).ln();
        assert!((v - want).abs() < 1e-6, "{v} vs {want}");
        // over-sampled: weight 1
        let v = teacher_log_reward(&c, 0.5, -3.0) as f64;
        let want = ((1.001f64 + 0.25).ln()).ln();
        assert!((v - want).abs() < 1e-6);
        // zero residual: log log 1.001, finite
        let v = teacher_log_reward(&c, 0.0, 0.0) as f64;
        assert!((v - 1.001f64.ln().ln()).abs() < 1e-4);
        // alpha mixes in log R
        let a = Config { alpha: 0.5, ..c };
        let d = teacher_log_reward(&a, 0.5, -3.0) - teacher_log_reward(&c, 0.5, -3.0);
        assert!((d + 1.5).abs() < 1e-6);
        let nl = Config {
            log_transform: false,
            ..c
        };
        let v = teacher_log_reward(&nl, -1.0, 0.0) as f64;
        assert!((v - (1e-3f64 + 20.0).ln()).abs() < 1e-5);
        assert_eq!(teacher_log_reward(&c, f32::NAN, 0.0), f32::NEG_INFINITY);
        assert!(Config { c: -1.0, ..c }.validate().is_err());
        assert!(Config { epsilon: 0.0, ..c }.validate().is_err());
    }
}
