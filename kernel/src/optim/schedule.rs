//! Learning-rate schedules: a multiplicative factor of the base learning rate as a function
//! of the iteration (0-based), with the semantics of torch's `StepLR` and `MultiStepLR`.
//!
//! | schedule | `factor(i)` |
//! |---|---|
//! | `Constant` | `1` |
//! | `Step { every, gamma }` | `γ^⌊i / every⌋` |
//! | `MultiStep { milestones, gamma }` | `γ^{#{k : milestoneₖ ≤ i}}` |
//!
//! RSMC (Choi et al. 2025, §2 of the reproduction notes) uses `MultiStep` with `γ = 0.3` at
//! 50 % and 75 % of the iterations: [`LrSchedule::multi_step_at_fractions`].

use crate::error::Error;
use crate::math;

/// Unused milestone slot of [`LrSchedule::MultiStep`].
pub const NO_MILESTONE: u32 = u32::MAX;

/// A learning-rate schedule; multiply the base learning rate by [`factor`](Self::factor).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum LrSchedule {
    /// Factor `1` throughout (the default).
    #[default]
    Constant,
    /// Decay by `gamma` every `every` iterations: `γ^⌊i / every⌋` (torch `StepLR`).
    /// `every = 0` is rejected by [`validate`](Self::validate) and acts as `Constant`.
    Step {
        /// Period in iterations, `≥ 1`.
        every: u32,
        /// Decay factor, finite and `> 0`.
        gamma: f32,
    },
    /// Decay by `gamma` at each milestone reached: `γ^{#{k : milestoneₖ ≤ i}}` (torch
    /// `MultiStepLR`). Unused slots hold [`NO_MILESTONE`] (`u32::MAX`, never reached).
    MultiStep {
        /// Iterations at which the factor is multiplied by `gamma`, in any order.
        milestones: [u32; 4],
        /// Decay factor, finite and `> 0`.
        gamma: f32,
    },
}

impl LrSchedule {
    /// The factor at 0-based iteration `iteration` (table in the [module docs](self)).
    pub fn factor(&self, iteration: u32) -> f32 {
        let (gamma, k) = match *self {
            LrSchedule::Constant => return 1.0,
            LrSchedule::Step { every, gamma } => {
                if every == 0 {
                    return 1.0;
                }
                (gamma, iteration / every)
            }
            LrSchedule::MultiStep { milestones, gamma } => {
                let k = milestones
                    .iter()
                    .filter(|&&m| m != NO_MILESTONE && m <= iteration)
                    .count();
                (gamma, k as u32)
            }
        };
        if k == 0 {
            1.0
        } else {
            math::powf(gamma as f64, k as f64) as f32
        }
    }

    /// `MultiStep` with milestones at `⌊fᵢ·total⌋` for each fraction `fᵢ` (at most four),
    /// e.g. `multi_step_at_fractions(20_000, &[0.5, 0.75], 0.3)` decays ×0.3 at iterations
    /// 10,000 and 15,000.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if there are more than four fractions, a fraction is outside
    /// `[0, 1]`, or `gamma` is not finite and `> 0`.
    pub fn multi_step_at_fractions(
        total: u32,
        fractions: &[f32],
        gamma: f32,
    ) -> Result<Self, Error> {
        if fractions.len() > 4 {
            return Err(Error::InvalidConfig("at most four LR milestones"));
        }
        let mut milestones = [NO_MILESTONE; 4];
        for (slot, &f) in milestones.iter_mut().zip(fractions) {
            if !(0.0..=1.0).contains(&f) {
                return Err(Error::InvalidConfig(
                    "LR milestone fraction must be in [0, 1]",
                ));
            }
            *slot = math::floor(f as f64 * total as f64) as u32;
        }
        let s = LrSchedule::MultiStep { milestones, gamma };
        s.validate()?;
        Ok(s)
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `gamma` is not finite and `> 0`, or `every == 0`.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { every, gamma } => {
                if every == 0 {
                    return Err(Error::InvalidConfig("StepLR period must be >= 1"));
                }
                check_gamma(gamma)
            }
            LrSchedule::MultiStep { gamma, .. } => check_gamma(gamma),
        }
    }
}

fn check_gamma(gamma: f32) -> Result<(), Error> {
    if gamma.is_finite() && gamma > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidConfig("LR gamma must be finite and > 0"))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn factors() {
        assert_eq!(LrSchedule::default().factor(123_456), 1.0);
        let s = LrSchedule::Step {
            every: 10,
            gamma: 0.5,
        };
        assert_eq!(s.factor(0), 1.0);
        assert_eq!(s.factor(9), 1.0);
        assert_eq!(s.factor(10), 0.5);
        assert_eq!(s.factor(25), 0.25);
        assert_eq!(s.factor(30), 0.125);
        let m = LrSchedule::MultiStep {
            milestones: [15, 10, NO_MILESTONE, NO_MILESTONE],
            gamma: 0.3,
        };
        assert_eq!(m.factor(9), 1.0);
        assert_eq!(m.factor(10), 0.3);
        assert_eq!(m.factor(14), 0.3);
        assert!((m.factor(15) - 0.09).abs() < 1e-8);
        assert!((m.factor(u32::MAX) - 0.09).abs() < 1e-8);
        let r = LrSchedule::multi_step_at_fractions(20_000, &[0.5, 0.75], 0.3).unwrap();
        assert_eq!(
            r,
            LrSchedule::MultiStep {
                milestones: [10_000, 15_000, NO_MILESTONE, NO_MILESTONE],
                gamma: 0.3
            }
        );
        assert_eq!(r.factor(9_999), 1.0);
        assert_eq!(r.factor(10_000), 0.3);
        assert!((r.factor(15_000) - 0.09).abs() < 1e-8);
    }

    #[test]
    fn validation() {
        assert!(
            LrSchedule::Step {
                every: 0,
                gamma: 0.5
            }
            .validate()
            .is_err()
        );
        assert_eq!(
            LrSchedule::Step {
                every: 0,
                gamma: 0.5
            }
            .factor(100),
            1.0
        );
        assert!(
            LrSchedule::Step {
                every: 5,
                gamma: 0.0
            }
            .validate()
            .is_err()
        );
        assert!(
            LrSchedule::MultiStep {
                milestones: [1; 4],
                gamma: f32::NAN
            }
            .validate()
            .is_err()
        );
        assert!(LrSchedule::multi_step_at_fractions(10, &[0.1; 5], 0.3).is_err());
        assert!(LrSchedule::multi_step_at_fractions(10, &[1.5], 0.3).is_err());
        assert!(LrSchedule::multi_step_at_fractions(10, &[0.5], -1.0).is_err());
        assert!(LrSchedule::Constant.validate().is_ok());
    }
}
