//! Reference (noising) processes and their Gaussian transition kernels.
//!
//! A diffusion sampler runs a chain `x₀ → x₁ → … → x_T` with learnt forward kernels
//! `p_F(x_{n+1} | x_n) = N(a_n x_n + c_n g_θ(x_n, n/T), v_n e^{s_θ} I)` and fixed backward
//! kernels `p_B(x_n | x_{n+1}) = N(b_n x_{n+1}, w_n I)` of a reference process. Two
//! references are provided, the two used by the papers this crate implements:
//!
//! - [`Process::PinnedBrownian`] (gfn-diffusion, Sendera et al. 2024; PIS, Zhang & Chen
//!   2022): `x₀ = 0`, Euler–Maruyama with `dt = 1/T` and `σ² = t_scale`:
//!   `a_n = 1`, `c_n = dt`, `v_n = σ² dt`; the backward kernel is the Brownian bridge pinned
//!   at 0, `b_n = n/(n+1)`, `w_n = σ² dt n/(n+1)` for `n ≥ 1`, and the last backward step to
//!   `x₀ = 0` is deterministic (it contributes 0 to `log p_B`). Marginal at step `n`:
//!   `N(0, σ² (n/T) I)`.
//! - [`Process::OrnsteinUhlenbeck`] (the DDS discretisation used by RSMC, Choi et al. 2025,
//!   `rsmc.md` §1.1 and §2.1): `x₀ ~ N(0, σ² I)`, `a_n = √(1 − α_n)`, `c_n = α_n`,
//!   `v_n = α_n σ²`, and the exact OU backward kernel `b_n = √(1 − α_n)`, `w_n = α_n σ²`,
//!   which is reversible with respect to its stationary law `N(0, σ² I)`. The step sizes
//!   follow the cos⁴ schedule `α_n = 6 c_n / Σ_{k=0}^{T} c_k`,
//!   `c_k = cos⁴(((k/T + 0.008)/1.008)·π/2)`, so `Σ α_n = 6` (`cos_sq_fn_step_scheme`).
//!
//! Coefficients are computed once into a caller-owned [`Schedule`] table (`4T` values),
//! then every step reads them.

use crate::error::{Error, check_len};
use crate::math;

/// Which reference process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Process {
    /// Pinned Brownian motion from 0 with variance `t_scale` per unit time (gfn-diffusion).
    PinnedBrownian {
        /// `σ²` of the Brownian motion. gfn-diffusion defaults to 5.0 (1.0 for ManyWell).
        t_scale: f32,
    },
    /// Ornstein–Uhlenbeck / DDS reference with stationary law `N(0, σ² I)` and the cos⁴
    /// step schedule (RSMC).
    OrnsteinUhlenbeck {
        /// `σ` (`init_std`): 20 for GMM40 in 2-D/5-D, 1 for Funnel and ManyWell (`rsmc.md` §2.1).
        init_std: f32,
    },
}

impl Process {
    /// Checks the parameter is finite and positive.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] otherwise.
    pub fn validate(&self) -> Result<(), Error> {
        let v = match *self {
            Process::PinnedBrownian { t_scale } => t_scale,
            Process::OrnsteinUhlenbeck { init_std } => init_std,
        };
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidConfig(
                "reference process scale (t_scale or init_std) must be finite and > 0",
            ))
        }
    }

    /// Variance of the reference marginal at step `n` of `T` (`p_ref` of the RSMC flow bias):
    /// `σ² n/T` (pinned Brownian; 0 at `n = 0`) or `σ²` (OU, stationary).
    pub fn marginal_var(&self, n: usize, steps: usize) -> f32 {
        match *self {
            Process::PinnedBrownian { t_scale } => t_scale * n as f32 / steps.max(1) as f32,
            Process::OrnsteinUhlenbeck { init_std } => init_std * init_std,
        }
    }

    /// `true` if `x₀` is random (OU), `false` if it is pinned at 0.
    pub fn random_start(&self) -> bool {
        matches!(self, Process::OrnsteinUhlenbeck { .. })
    }
}

/// Per-step coefficients of the forward and backward kernels (`a_n`, `c_n`, `v_n`, `b_n`,
/// four blocks of `T` values) over a caller-owned table of [`Schedule::table_len`] floats.
#[derive(Debug)]
pub struct Schedule<'a> {
    steps: usize,
    process: Process,
    table: &'a [f32],
}

/// Offsets of the four coefficient blocks in the table.
const A: usize = 0;
const C: usize = 1;
const V: usize = 2;
const B: usize = 3;

impl<'a> Schedule<'a> {
    /// Table length for `steps` steps.
    pub const fn table_len(steps: usize) -> usize {
        4 * steps
    }

    /// Fills the coefficient table for `steps` steps of `process`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `steps == 0`, a bad process scale, or an OU schedule
    /// with fewer than 15 steps (then `α₀ ≥ 1` and the kernel is undefined);
    /// [`Error::ShapeMismatch`] if `table.len() != 4·steps`.
    pub fn new(process: Process, steps: usize, table: &'a mut [f32]) -> Result<Self, Error> {
        if steps == 0 {
            return Err(Error::InvalidConfig(
                "number of diffusion steps must be >= 1",
            ));
        }
        process.validate()?;
        check_len("schedule table", Self::table_len(steps), table.len())?;
        let t = steps;
        match process {
            Process::PinnedBrownian { t_scale } => {
                let dt = 1.0 / t as f64;
                for n in 0..t {
                    table[A * t + n] = 1.0;
                    table[C * t + n] = dt as f32;
                    table[V * t + n] = (t_scale as f64 * dt) as f32;
                    table[B * t + n] = (n as f64 / (n as f64 + 1.0)) as f32;
                }
            }
            Process::OrnsteinUhlenbeck { init_std } => {
                let var = init_std as f64 * init_std as f64;
                let ck = |k: usize| {
                    let c = math::cos(((k as f64 / t as f64 + 0.008) / 1.008) * math::PI / 2.0);
                    c * c * c * c
                };
                let total: f64 = (0..=t).map(ck).sum();
                if 6.0 * ck(0) / total >= 1.0 {
                    return Err(Error::InvalidConfig(
                        "the OU cos^4 schedule needs at least 15 steps (alpha_0 = 6 c_0 / sum c must be < 1)",
                    ));
                }
                for n in 0..t {
                    let alpha = 6.0 * ck(n) / total;
                    let a = math::sqrt(1.0 - alpha);
                    table[A * t + n] = a as f32;
                    table[C * t + n] = alpha as f32;
                    table[V * t + n] = (alpha * var) as f32;
                    table[B * t + n] = a as f32;
                }
            }
        }
        Ok(Schedule {
            steps,
            process,
            table,
        })
    }

    /// A view over a table already filled by [`Schedule::new`] for the same `process` and
    /// `steps` (no recomputation).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `table.len() != 4·steps`; [`Error::InvalidConfig`] for
    /// `steps == 0`.
    pub fn view(process: Process, steps: usize, table: &'a [f32]) -> Result<Self, Error> {
        if steps == 0 {
            return Err(Error::InvalidConfig(
                "number of diffusion steps must be >= 1",
            ));
        }
        check_len("schedule table", Self::table_len(steps), table.len())?;
        Ok(Schedule {
            steps,
            process,
            table,
        })
    }

    /// Number of steps `T`.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// The reference process.
    pub fn process(&self) -> Process {
        self.process
    }
    /// Forward mean scale `a_n`.
    #[inline]
    pub fn a(&self, n: usize) -> f32 {
        self.table[A * self.steps + n]
    }
    /// Forward drift scale `c_n`.
    #[inline]
    pub fn c(&self, n: usize) -> f32 {
        self.table[C * self.steps + n]
    }
    /// Forward base variance `v_n` (before any learnt correction).
    #[inline]
    pub fn v(&self, n: usize) -> f32 {
        self.table[V * self.steps + n]
    }
    /// Backward mean scale `b_n` (`x_n ≈ b_n x_{n+1}`).
    #[inline]
    pub fn b(&self, n: usize) -> f32 {
        self.table[B * self.steps + n]
    }
    /// Backward variance `w_n`; 0 marks the deterministic last backward step of the pinned
    /// process (`n = 0`).
    #[inline]
    pub fn w(&self, n: usize) -> f32 {
        match self.process {
            Process::PinnedBrownian { .. } => self.v(n) * self.b(n),
            Process::OrnsteinUhlenbeck { .. } => self.v(n),
        }
    }

    /// `log p_B(x_n | x_{n+1})` for one `d`-dimensional row: `Σ_j log N(x_n,j; b x_{n+1,j}, w)`,
    /// and 0 for the deterministic pinned step (`w = 0`).
    pub fn log_pb(&self, n: usize, x_n: &[f32], x_next: &[f32]) -> f32 {
        let w = self.w(n);
        if w == 0.0 {
            return 0.0;
        }
        let b = self.b(n);
        let mut ss = 0.0f32;
        for (&xn, &xp) in x_n.iter().zip(x_next) {
            let d = xn - b * xp;
            ss += d * d;
        }
        let d = x_n.len() as f32;
        -0.5 * (d * (math::LN_2PI as f32 + math::ln(w)) + ss / w)
    }

    /// `log p₀(x₀)` of the initial law: `log N(x₀; 0, σ² I)` (OU) or 0 (pinned at 0; the
    /// initial state is a point mass and contributes nothing to trajectory weights).
    pub fn log_p0(&self, x0: &[f32]) -> f32 {
        match self.process {
            Process::PinnedBrownian { .. } => 0.0,
            Process::OrnsteinUhlenbeck { init_std } => gaussian_log_pdf(x0, init_std * init_std),
        }
    }
}

/// `log N(x; 0, var·I)` for one row; lives in [`crate::math`] (layer 0) so that
/// `smc::annealed` can use it without reaching up into the samplers.
pub use crate::math::gaussian_log_pdf;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn cos4_schedule_matches_the_reference_numbers() {
        // rsmc.md §1.1: T = 64: alpha_0 ≈ 0.248, alpha_62 ≈ 1.4e-6, Σ alpha = 6,
        // Π(1 - alpha) ≈ 1.3e-3; T = 128: alpha_0 ≈ 0.125.
        let mut table = vec![0.0f32; Schedule::table_len(64)];
        let s =
            Schedule::new(Process::OrnsteinUhlenbeck { init_std: 1.0 }, 64, &mut table).unwrap();
        assert!((s.c(0) - 0.248_061_85).abs() < 1e-6);
        assert!((s.c(62) - 1.393_303_6e-6).abs() < 1e-10);
        let sum: f64 = (0..64).map(|n| s.c(n) as f64).sum();
        assert!((sum - 6.0).abs() < 1e-5);
        let prod: f64 = (0..64).map(|n| 1.0 - s.c(n) as f64).product();
        assert!((prod - 1.318_320_8e-3).abs() < 1e-7);
        let mut table = vec![0.0f32; Schedule::table_len(128)];
        let s = Schedule::new(
            Process::OrnsteinUhlenbeck { init_std: 2.0 },
            128,
            &mut table,
        )
        .unwrap();
        assert!((s.c(0) - 0.125_326_68).abs() < 1e-6);
        assert!((s.v(0) - 4.0 * 0.125_326_68).abs() < 1e-5);
        assert_eq!(s.a(5), s.b(5));
    }

    #[test]
    fn pinned_brownian_coefficients_and_bridge() {
        let mut table = vec![0.0f32; Schedule::table_len(4)];
        let s = Schedule::new(Process::PinnedBrownian { t_scale: 5.0 }, 4, &mut table).unwrap();
        assert_eq!(s.a(2), 1.0);
        assert_eq!(s.c(2), 0.25);
        assert_eq!(s.v(2), 1.25);
        assert_eq!(s.b(0), 0.0);
        assert_eq!(s.w(0), 0.0);
        assert!((s.b(3) - 0.75).abs() < 1e-7);
        assert!((s.w(3) - 1.25 * 0.75).abs() < 1e-6);
        assert_eq!(s.log_pb(0, &[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert_eq!(s.log_p0(&[0.0, 0.0]), 0.0);
        // bridge density by hand: x_1 | x_2 ~ N(x_2 / 2, 1.25 / 2)
        let lp = s.log_pb(1, &[0.3], &[1.0]);
        let want =
            -0.5 * ((2.0 * core::f64::consts::PI * 0.625).ln() + (0.3f64 - 0.5).powi(2) / 0.625);
        assert!((lp as f64 - want).abs() < 1e-6);
        assert!((Process::PinnedBrownian { t_scale: 5.0 }.marginal_var(2, 4) - 2.5).abs() < 1e-7);
    }

    #[test]
    fn bad_settings_are_rejected() {
        let mut table = vec![0.0f32; 8];
        assert!(Schedule::new(Process::PinnedBrownian { t_scale: 1.0 }, 0, &mut table).is_err());
        assert!(
            Schedule::new(Process::PinnedBrownian { t_scale: f32::NAN }, 2, &mut table).is_err()
        );
        assert!(
            Schedule::new(Process::OrnsteinUhlenbeck { init_std: 0.0 }, 2, &mut table).is_err()
        );
        assert!(matches!(
            Schedule::new(Process::OrnsteinUhlenbeck { init_std: 1.0 }, 3, &mut table),
            Err(Error::ShapeMismatch { .. })
        ));
        let mut table = vec![0.0f32; Schedule::table_len(14)];
        assert!(matches!(
            Schedule::new(Process::OrnsteinUhlenbeck { init_std: 1.0 }, 14, &mut table),
            Err(Error::InvalidConfig(_))
        ));
        let mut table = vec![0.0f32; Schedule::table_len(15)];
        assert!(
            Schedule::new(Process::OrnsteinUhlenbeck { init_std: 1.0 }, 15, &mut table).is_ok()
        );
    }

    #[test]
    fn ou_backward_kernel_is_reversible_for_the_stationary_law() {
        // p_ref(x_{n+1}) p_B(x_n | x_{n+1}) = p_ref(x_n) p_F0(x_{n+1} | x_n) with g = 0
        let mut table = vec![0.0f32; Schedule::table_len(16)];
        let s =
            Schedule::new(Process::OrnsteinUhlenbeck { init_std: 1.5 }, 16, &mut table).unwrap();
        let (xn, xp) = ([0.4f32, -1.0], [0.1f32, 0.7]);
        for n in 0..16 {
            let lhs = gaussian_log_pdf(&xp, 2.25) + s.log_pb(n, &xn, &xp);
            // forward kernel with zero drift: N(x_{n+1}; a x_n, v)
            let a = s.a(n);
            let v = s.v(n);
            let fwd: f32 = xn
                .iter()
                .zip(&xp)
                .map(|(&x, &y)| {
                    -0.5 * ((math::LN_2PI as f32) + math::ln(v) + (y - a * x) * (y - a * x) / v)
                })
                .sum();
            let rhs = gaussian_log_pdf(&xn, 2.25) + fwd;
            assert!(
                (lhs - rhs).abs() < 2e-3 * (1.0 + lhs.abs()),
                "n {n}: {lhs} vs {rhs}"
            );
        }
    }
}
