//! VGS noise schedules (Yoon et al. 2025, `vgs/models/vgsampler.py`; report B1.1, B3).
//!
//! Step `t = 0 … T−1` moves `x_t → x_{t+1}` with reference noise variance `s_t²`:
//!
//! - **quad**: `s_t = linspace(√start, √end, T)[t]`, then squared;
//! - **exp**: geometric interpolation `s_t² = start·(end/start)^{t/(T−1)}`.
//!
//! The scale `α_t` is `1` ("ve", variance exploding) or `(1 − s_t²)^{−1/2}` ("vp", variance
//! preserving; needs `s_t² < 1`). The policy's noise standard deviation is `σ_t = α_t·s_t`.
//! The initial standard deviation is `σ_init = √(1 + Σ_t s_t²)` (ve) or `1` (vp).

use crate::error::Error;
use crate::math;

/// How `s_t²` moves from `start` to `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseKind {
    /// Linear in `s_t` (the configs' `quad`).
    Quad,
    /// Geometric in `s_t²` (the configs' `exp`).
    Exp,
}

/// The scale `α_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlphaKind {
    /// `α_t = 1`.
    Ve,
    /// `α_t = (1 − s_t²)^{−1/2}`.
    Vp,
}

/// A noise schedule over `steps` steps; `Copy`, computed on the fly (no tables).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Interpolation of `s_t²`.
    pub kind: NoiseKind,
    /// The scale `α_t`.
    pub alpha: AlphaKind,
    /// `s_0²`, finite and `> 0`.
    pub start: f32,
    /// `s_{T−1}²`, finite and `> 0`.
    pub end: f32,
    /// Number of steps `T ≥ 1`.
    pub steps: usize,
}

impl Schedule {
    /// Checks the fields.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `steps == 0`, `start` or `end` is not finite and positive,
    /// or a vp schedule has `s_t² ≥ 1`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.steps == 0 {
            return Err(Error::InvalidConfig("vgs steps must be >= 1"));
        }
        let ok = |v: f32| v.is_finite() && v > 0.0;
        if !ok(self.start) || !ok(self.end) {
            return Err(Error::InvalidConfig(
                "vgs noise variances must be finite and > 0",
            ));
        }
        if self.alpha == AlphaKind::Vp && (self.start >= 1.0 || self.end >= 1.0) {
            return Err(Error::InvalidConfig(
                "a vp schedule needs noise variances < 1",
            ));
        }
        Ok(())
    }

    fn frac(&self, t: usize) -> f64 {
        if self.steps <= 1 {
            0.0
        } else {
            t.min(self.steps - 1) as f64 / (self.steps - 1) as f64
        }
    }

    /// `s_t²` (an index `t ≥ T` is clamped to `T − 1`).
    pub fn s2(&self, t: usize) -> f32 {
        let u = self.frac(t);
        let (a, b) = (self.start as f64, self.end as f64);
        match self.kind {
            NoiseKind::Quad => {
                let s = math::sqrt(a) + (math::sqrt(b) - math::sqrt(a)) * u;
                (s * s) as f32
            }
            NoiseKind::Exp => math::exp(math::ln(a) + (math::ln(b) - math::ln(a)) * u) as f32,
        }
    }

    /// `α_t`.
    pub fn alpha(&self, t: usize) -> f32 {
        match self.alpha {
            AlphaKind::Ve => 1.0,
            AlphaKind::Vp => (1.0 / math::sqrt(1.0 - self.s2(t) as f64)) as f32,
        }
    }

    /// `σ_t = α_t·s_t`, the policy's noise standard deviation at `ν = 1`.
    pub fn sigma(&self, t: usize) -> f32 {
        self.alpha(t) * math::sqrt(self.s2(t))
    }

    /// The initial standard deviation `σ_init`: `√(1 + Σ_t s_t²)` (ve) or `1` (vp).
    pub fn init_sigma(&self) -> f32 {
        match self.alpha {
            AlphaKind::Vp => 1.0,
            AlphaKind::Ve => {
                let mut s = 1.0f64;
                for t in 0..self.steps {
                    s += self.s2(t) as f64;
                }
                math::sqrt(s) as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quad_and_exp_endpoints_and_midpoints() {
        let q = Schedule {
            kind: NoiseKind::Quad,
            alpha: AlphaKind::Vp,
            start: 0.2,
            end: 0.1,
            steps: 3,
        };
        q.validate().unwrap();
        assert!((q.s2(0) - 0.2).abs() < 1e-7);
        assert!((q.s2(2) - 0.1).abs() < 1e-7);
        let mid = 0.5 * (0.2f64.sqrt() + 0.1f64.sqrt());
        assert!((q.s2(1) as f64 - mid * mid).abs() < 1e-7);
        assert!((q.alpha(0) as f64 - 1.0 / 0.8f64.sqrt()).abs() < 1e-6);
        assert_eq!(q.init_sigma(), 1.0);
        let e = Schedule {
            kind: NoiseKind::Exp,
            alpha: AlphaKind::Ve,
            start: 0.05,
            end: 1e-4,
            steps: 3,
        };
        assert!((e.s2(1) as f64 - (0.05f64 * 1e-4).sqrt()).abs() < 1e-7);
        assert_eq!(e.alpha(1), 1.0);
        let s = (1.0 + e.s2(0) as f64 + e.s2(1) as f64 + e.s2(2) as f64).sqrt();
        assert!((e.init_sigma() as f64 - s).abs() < 1e-6);
    }

    #[test]
    fn validation() {
        let mut s = Schedule {
            kind: NoiseKind::Quad,
            alpha: AlphaKind::Vp,
            start: 1.0,
            end: 0.1,
            steps: 5,
        };
        assert!(s.validate().is_err());
        s.alpha = AlphaKind::Ve;
        assert!(s.validate().is_ok());
        s.steps = 0;
        assert!(s.validate().is_err());
        s.steps = 1;
        s.end = f32::NAN;
        assert!(s.validate().is_err());
    }
}
