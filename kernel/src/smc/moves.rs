//! Markov moves of annealed SMC at a fixed temperature: Hamiltonian Monte Carlo and
//! random-walk Metropolis, as the SMC baselines of the RSMC paper run them (the seeds'
//! `algorithms/common/markov_kernel.py`, from annealed_flow_transport; `rsmc.md` §2.3).
//!
//! Every move targets the tempered density of [`Tempered`],
//! `log π_β(x) = (1 − β) log p₀(x) + β log R(x)` with `p₀ = N(0, σ² I)`, and leaves it
//! invariant (Metropolis-corrected). The step size follows [`StepSchedule`]: piecewise
//! linear in `β` between two knots and constant outside them (`jnp.interp` of the seeds'
//! `hmc_step_times` / `hmc_step_sizes`, `rwm_step_times` / `rwm_step_sizes`).
//!
//! - [`hmc`]: one HMC transition (Neal 2011): momentum `p ~ N(0, I)`, `L` leapfrog steps of
//!   size `ε` ([`leapfrog`]: half momentum step, `L − 1` full position-and-momentum steps, a
//!   last position step and half momentum step), accepted with probability
//!   `min(1, exp(−H(x', p') + H(x, p)))`, `H = −log π_β(x) + |p|²/2`.
//! - [`mala`]: one Metropolis-adjusted Langevin transition (the default move of
//!   [`super::annealed`]).
//! - [`rwm`]: one random-walk Metropolis transition, proposal `x' = x + s ξ`, `ξ ~ N(0, I)`,
//!   accepted with probability `min(1, π_β(x')/π_β(x))`.
//!
//! A proposal with a non-finite position or density is rejected (the particle stays).

use crate::error::Error;
use crate::math;
use crate::rng::{Rng, fill_standard_normal, uniform_f64};
use crate::targets::LogDensity;

/// A step size as a function of the inverse temperature `β`: `sizes[0]` for
/// `β ≤ times[0]`, `sizes[1]` for `β ≥ times[1]`, linear in between.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepSchedule {
    /// The knots in `β`, increasing. The seeds use `[0, 0.5]`.
    pub times: [f32; 2],
    /// The step sizes at the knots (per target in the seeds' configs, e.g. `[0.2, 0.2]`
    /// for GMM40, `[0.001, 0.1]` for Funnel).
    pub sizes: [f32; 2],
}

impl StepSchedule {
    /// The same step size `s` at every temperature.
    pub const fn constant(s: f32) -> Self {
        StepSchedule {
            times: [0.0, 0.5],
            sizes: [s, s],
        }
    }

    /// The seeds' knots `[0, 0.5]` with step sizes `sizes`.
    pub const fn seeds(sizes: [f32; 2]) -> Self {
        StepSchedule {
            times: [0.0, 0.5],
            sizes,
        }
    }

    /// The step size at `β`.
    pub fn at(&self, beta: f64) -> f32 {
        let (t0, t1) = (self.times[0] as f64, self.times[1] as f64);
        if beta <= t0 {
            self.sizes[0]
        } else if beta >= t1 {
            self.sizes[1]
        } else {
            let f = (beta - t0) / (t1 - t0);
            (self.sizes[0] as f64 + f * (self.sizes[1] as f64 - self.sizes[0] as f64)) as f32
        }
    }

    /// Checks the knots and sizes.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]: a step size not finite and `> 0`, knots not finite and
    /// increasing.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.sizes.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(Error::InvalidConfig(
                "move step sizes must be finite and > 0",
            ));
        }
        let [t0, t1] = self.times;
        if !(t0.is_finite() && t1.is_finite() && t0 < t1) {
            return Err(Error::InvalidConfig(
                "move step-size knots must be finite and increasing",
            ));
        }
        Ok(())
    }
}

/// Hamiltonian Monte Carlo settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hmc {
    /// Leapfrog steps per transition `L`. The seeds: `10` (`hmc_num_leapfrog_steps`).
    pub leapfrog: u32,
    /// Transitions per temperature. The seeds: `1` (`hmc_steps_per_iter`).
    pub steps: u32,
    /// Leapfrog step size `ε` over `β`.
    pub step: StepSchedule,
}

impl Hmc {
    /// The seeds' HMC (`configs/algorithm/mcmc/hmc.yaml`): 10 leapfrog steps, one transition
    /// per temperature, knots `[0, 0.5]` with the target's `sizes`.
    pub const fn seeds(sizes: [f32; 2]) -> Self {
        Hmc {
            leapfrog: 10,
            steps: 1,
            step: StepSchedule::seeds(sizes),
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.leapfrog == 0 || self.leapfrog > 10_000 {
            return Err(Error::InvalidConfig(
                "HMC leapfrog steps must be in 1..=10000",
            ));
        }
        if self.steps > 10_000 {
            return Err(Error::InvalidConfig("HMC steps must be at most 10000"));
        }
        self.step.validate()
    }
}

/// Random-walk Metropolis settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rwm {
    /// Transitions per temperature. The seeds: `10` (`rwm_steps_per_iter`).
    pub steps: u32,
    /// Proposal standard deviation `s` over `β`.
    pub step: StepSchedule,
}

impl Rwm {
    /// The seeds' RWM (`configs/algorithm/mcmc/mh.yaml`): 10 transitions per temperature,
    /// knots `[0, 0.5]` with the target's `sizes`.
    pub const fn seeds(sizes: [f32; 2]) -> Self {
        Rwm {
            steps: 10,
            step: StepSchedule::seeds(sizes),
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.steps > 10_000 {
            return Err(Error::InvalidConfig("RWM steps must be at most 10000"));
        }
        self.step.validate()
    }
}

/// The tempered density `log π_β = (1 − β) log N(x; 0, var I) + β log R(x)`.
#[derive(Clone, Copy, Debug)]
pub struct Tempered<'a, T: LogDensity + ?Sized> {
    /// The target `R`.
    pub target: &'a T,
    /// Inverse temperature `β`.
    pub beta: f32,
    /// Variance of the base `p₀`.
    pub var: f32,
}

impl<T: LogDensity + ?Sized> Tempered<'_, T> {
    /// `log π_β(x)`, and its gradient into `grad` (length `x.len()`); `-inf` where
    /// `log R(x) = -inf`.
    pub fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        let (beta, var) = (self.beta, self.var);
        let lr = self.target.log_density_grad(x, grad);
        let mut ss = 0.0f32;
        for (g, &xi) in grad.iter_mut().zip(x) {
            *g = beta * *g - (1.0 - beta) * xi / var;
            ss += xi * xi;
        }
        let lp0 = -0.5 * (x.len() as f32 * (math::LN_2PI as f32 + math::ln(var)) + ss / var);
        if lr == f32::NEG_INFINITY {
            f32::NEG_INFINITY
        } else {
            (1.0 - beta) * lp0 + beta * lr
        }
    }

    /// `log π_β(x)` without the gradient.
    pub fn log_density(&self, x: &[f32]) -> f32 {
        let lr = self.target.log_density(x);
        if lr == f32::NEG_INFINITY {
            return f32::NEG_INFINITY;
        }
        let lp0 = math::gaussian_log_pdf(x, self.var);
        (1.0 - self.beta) * lp0 + self.beta * lr
    }
}

/// `L` leapfrog steps of size `eps` from `(x, p)` in place, with `grad` (length `d`) as
/// scratch: `p += ε/2 ∇`, then `L − 1` times `x += ε p; p += ε ∇`, then `x += ε p;
/// p += ε/2 ∇` (the seeds' `hmc_step`). Returns `log π_β` at the final `x`. Volume
/// preserving and reversible: negating `p` and running again returns to the start (up to
/// rounding).
pub fn leapfrog<T: LogDensity + ?Sized>(
    pi: &Tempered<'_, T>,
    eps: f32,
    steps: u32,
    x: &mut [f32],
    p: &mut [f32],
    grad: &mut [f32],
) -> f32 {
    pi.log_density_grad(x, grad);
    for (pj, &g) in p.iter_mut().zip(grad.iter()) {
        *pj += 0.5 * eps * g;
    }
    let mut lp = f32::NEG_INFINITY;
    for k in 0..steps {
        for (xj, &pj) in x.iter_mut().zip(p.iter()) {
            *xj += eps * pj;
        }
        lp = pi.log_density_grad(x, grad);
        let c = if k + 1 == steps { 0.5 * eps } else { eps };
        for (pj, &g) in p.iter_mut().zip(grad.iter()) {
            *pj += c * g;
        }
    }
    lp
}

/// Scratch length of [`hmc`] for dimension `dim`.
pub const fn hmc_scratch_len(dim: usize) -> usize {
    3 * dim
}

/// One HMC transition of `x` (log density `lp` under `pi`) with step size `eps`:
/// `scratch` holds at least [`hmc_scratch_len`] values. Returns whether it moved.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `scratch` is too short.
pub fn hmc<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    pi: &Tempered<'_, T>,
    (eps, leapfrog_steps): (f32, u32),
    x: &mut [f32],
    lp: f32,
    scratch: &mut [f32],
    rng: &mut R,
) -> Result<bool, Error> {
    let d = x.len();
    crate::error::check_min_len("HMC scratch", hmc_scratch_len(d), scratch.len())?;
    let (prop, rest) = scratch.split_at_mut(d);
    let (p, rest) = rest.split_at_mut(d);
    let grad = &mut rest[..d];
    fill_standard_normal(rng, p);
    let k0: f32 = p.iter().map(|v| v * v).sum::<f32>() * 0.5;
    prop.copy_from_slice(x);
    let lp_new = leapfrog(pi, eps, leapfrog_steps, prop, p, grad);
    let k1: f32 = p.iter().map(|v| v * v).sum::<f32>() * 0.5;
    let log_alpha = (lp_new as f64 - k1 as f64) - (lp as f64 - k0 as f64);
    let u = uniform_f64(rng);
    if log_alpha.is_nan() || log_alpha == f64::NEG_INFINITY || !prop.iter().all(|v| v.is_finite()) {
        return Ok(false);
    }
    if log_alpha >= 0.0 || math::ln(u) < log_alpha {
        x.copy_from_slice(prop);
        return Ok(true);
    }
    Ok(false)
}

/// Scratch length of [`mala`] for dimension `dim`.
pub const fn mala_scratch_len(dim: usize) -> usize {
    4 * dim
}

/// One MALA transition of `x` with step size `h` (Roberts & Tweedie 1996): proposal
/// `y = x + h ∇log π_β(x) + √(2h) ξ`, accepted with probability
/// `min(1, π_β(y) q(x | y) / (π_β(x) q(y | x)))`, `q(b | a) = N(b; a + h ∇log π_β(a), 2h I)`.
/// `scratch` holds at least [`mala_scratch_len`] values. Returns whether it moved.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `scratch` is too short.
pub fn mala<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    pi: &Tempered<'_, T>,
    h: f32,
    x: &mut [f32],
    scratch: &mut [f32],
    rng: &mut R,
) -> Result<bool, Error> {
    let dim = x.len();
    crate::error::check_min_len("MALA scratch", mala_scratch_len(dim), scratch.len())?;
    let (grad, rest) = scratch.split_at_mut(dim);
    let (prop, rest) = rest.split_at_mut(dim);
    let (pgrad, rest) = rest.split_at_mut(dim);
    let noise = &mut rest[..dim];
    let lp = pi.log_density_grad(x, grad);
    fill_standard_normal(rng, noise);
    let sd = math::sqrt(2.0 * h);
    for j in 0..dim {
        prop[j] = x[j] + h * grad[j] + sd * noise[j];
    }
    let lp_prop = pi.log_density_grad(prop, pgrad);
    if lp_prop == f32::NEG_INFINITY || !prop.iter().all(|v| v.is_finite()) {
        return Ok(false);
    }
    // log q(x | y) - log q(y | x)
    let (mut fwd, mut bwd) = (0.0f32, 0.0f32);
    for j in 0..dim {
        let d1 = prop[j] - x[j] - h * grad[j];
        let d2 = x[j] - prop[j] - h * pgrad[j];
        fwd += d1 * d1;
        bwd += d2 * d2;
    }
    let log_alpha = (lp_prop - lp) as f64 + ((fwd - bwd) / (4.0 * h)) as f64;
    if log_alpha >= 0.0 || math::ln(uniform_f64(rng)) < log_alpha {
        x.copy_from_slice(prop);
        return Ok(true);
    }
    Ok(false)
}

/// One random-walk Metropolis transition of `x` (log density `lp` under `pi`) with proposal
/// standard deviation `s`; `prop` (length `x.len()`) is scratch. Returns the new log
/// density if it moved.
pub fn rwm<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    pi: &Tempered<'_, T>,
    s: f32,
    x: &mut [f32],
    lp: f32,
    prop: &mut [f32],
    rng: &mut R,
) -> Option<f32> {
    fill_standard_normal(rng, prop);
    for (q, &xi) in prop.iter_mut().zip(x.iter()) {
        *q = xi + s * *q;
    }
    let lp_new = pi.log_density(prop);
    let log_alpha = lp_new as f64 - lp as f64;
    let u = uniform_f64(rng);
    if lp_new.is_nan() || lp_new == f32::NEG_INFINITY || !prop.iter().all(|v| v.is_finite()) {
        return None;
    }
    if log_alpha >= 0.0 || math::ln(u) < log_alpha {
        x.copy_from_slice(prop);
        return Some(lp_new);
    }
    None
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng;
    use std::vec;
    use std::vec::Vec;

    /// `log R(x) = −x·A x / 2` with `A = diag(a)`: a quadratic.
    struct Quadratic(Vec<f32>);

    impl LogDensity for Quadratic {
        fn dim(&self) -> usize {
            self.0.len()
        }
        fn log_density(&self, x: &[f32]) -> f32 {
            -0.5 * x.iter().zip(&self.0).map(|(v, a)| a * v * v).sum::<f32>()
        }
        fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
            for ((g, v), a) in grad.iter_mut().zip(x).zip(&self.0) {
                *g = -a * v;
            }
            self.log_density(x)
        }
        fn log_z(&self) -> Option<f64> {
            None
        }
        fn sample<R2: Rng + ?Sized>(&self, _: &mut R2, _: &mut [f32]) -> Result<(), Error> {
            Err(Error::Unsupported("test target"))
        }
    }

    #[test]
    fn the_step_schedule_interpolates_and_clamps_like_jnp_interp() {
        let s = StepSchedule::seeds([0.001, 0.1]);
        assert_eq!(s.at(0.0), 0.001);
        assert_eq!(s.at(-1.0), 0.001);
        assert!((s.at(0.25) - 0.0505).abs() < 1e-7);
        assert_eq!(s.at(0.5), 0.1);
        assert_eq!(s.at(1.0), 0.1);
        assert_eq!(StepSchedule::constant(0.2).at(0.7), 0.2);
    }

    #[test]
    fn leapfrog_is_reversible_and_nearly_conserves_energy_on_a_quadratic() {
        let t = Quadratic(vec![1.0, 4.0, 0.25]);
        let pi = Tempered {
            target: &t,
            beta: 1.0,
            var: 1.0,
        };
        let x0 = [0.7f32, -0.3, 1.5];
        let p0 = [0.2f32, 1.1, -0.4];
        let (mut x, mut p, mut g) = (x0, p0, [0.0f32; 3]);
        let h = |x: &[f32], p: &[f32]| {
            -pi.log_density(x) as f64 + 0.5 * p.iter().map(|v| (v * v) as f64).sum::<f64>()
        };
        let h0 = h(&x0, &p0);
        let eps = 0.05;
        leapfrog(&pi, eps, 40, &mut x, &mut p, &mut g);
        // energy error of the leapfrog integrator is O(ε²) and does not drift
        assert!((h(&x, &p) - h0).abs() < 0.02, "{} vs {h0}", h(&x, &p));
        assert!(x.iter().zip(&x0).any(|(a, b)| (a - b).abs() > 0.1));
        // negate momentum, integrate again: back to the start
        p.iter_mut().for_each(|v| *v = -*v);
        leapfrog(&pi, eps, 40, &mut x, &mut p, &mut g);
        for (a, b) in x.iter().zip(&x0) {
            assert!((a - b).abs() < 1e-4, "{x:?} vs {x0:?}");
        }
        for (a, b) in p.iter().zip(&p0) {
            assert!((a + b).abs() < 1e-4, "{p:?} vs {p0:?}");
        }
        // the energy error shrinks with the step size as ε² (halving ε: about a quarter)
        let err = |eps: f32, n: u32| {
            let (mut x, mut p, mut g) = (x0, p0, [0.0f32; 3]);
            leapfrog(&pi, eps, n, &mut x, &mut p, &mut g);
            (h(&x, &p) - h0).abs()
        };
        let (e1, e2) = (err(0.2, 10), err(0.1, 20));
        assert!(e2 < 0.5 * e1, "{e1} {e2}");
    }

    /// Bin of `x` among 8 bins: `(−∞, −1.5)`, six of width 0.5 up to 1.5, `[1.5, ∞)`.
    fn bin(x: f32) -> usize {
        ((x + 2.0) / 0.5).floor().clamp(0.0, 7.0) as usize
    }

    /// Detailed balance, `π(x) K(x, dy) = π(y) K(y, dx)`: in a stationary chain the pair
    /// counts `c(i → j)` of consecutive states between bins `i` and `j` are symmetric in
    /// expectation (a kernel that only kept `π` invariant, without being reversible, would
    /// not be). Each `|c(i→j) − c(j→i)|` must stay within 5 standard deviations
    /// (`√(c(i→j) + c(j→i))`, widened for the chain's autocorrelation). The same chain
    /// reproduces the mean and variance of `π_β` (a Gaussian).
    #[test]
    fn hmc_rwm_and_mala_satisfy_detailed_balance_on_a_tempered_gaussian() {
        // π_β with β = 0.5, var = 4, R = N(0, 1/2): precision 0.5/4 + 0.5·2
        let t = Quadratic(vec![2.0]);
        let pi = Tempered {
            target: &t,
            beta: 0.5,
            var: 4.0,
        };
        let want_var = 1.0 / (0.5 / 4.0 + 0.5 * 2.0);
        for kind in ["hmc", "rwm", "mala"] {
            let mut r = rng::seeded(7);
            let mut x = [0.0f32];
            let mut lp = pi.log_density(&x);
            let mut s = [0.0f32; 4];
            let n = 200_000;
            let (mut m1, mut m2) = (0.0f64, 0.0f64);
            let mut pairs = [[0u64; 8]; 8];
            for _ in 0..n {
                let from = bin(x[0]);
                if kind == "hmc" {
                    hmc(&pi, (0.4, 3), &mut x, lp, &mut s, &mut r).unwrap();
                    lp = pi.log_density(&x);
                } else if kind == "mala" {
                    mala(&pi, 0.5, &mut x, &mut s, &mut r).unwrap();
                } else if let Some(l) = rwm(&pi, 1.0, &mut x, lp, &mut s[..1], &mut r) {
                    lp = l;
                }
                pairs[from][bin(x[0])] += 1;
                m1 += x[0] as f64;
                m2 += (x[0] as f64) * (x[0] as f64);
            }
            let mean = m1 / n as f64;
            let var = m2 / n as f64 - mean * mean;
            assert!(mean.abs() < 0.03, "{kind}: mean {mean}");
            assert!(
                (var / want_var - 1.0).abs() < 0.03,
                "{kind}: var {var} vs {want_var}"
            );
            let mut moved = 0;
            for i in 0..8 {
                for j in i + 1..8 {
                    let (a, b) = (pairs[i][j], pairs[j][i]);
                    let tol = 5.0 * ((a + b) as f64).sqrt() + 5.0;
                    assert!(
                        (a as f64 - b as f64).abs() <= tol,
                        "{kind}: bins {i}->{j}: {a}, {j}->{i}: {b}"
                    );
                    moved += a + b;
                }
            }
            assert!(moved > 10_000, "{kind}: the chain barely moves ({moved})");
        }
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        let bad = |h: Hmc| matches!(h.validate(), Err(Error::InvalidConfig(_)));
        assert!(bad(Hmc {
            leapfrog: 0,
            ..Hmc::seeds([0.1, 0.1])
        }));
        assert!(bad(Hmc::seeds([0.1, f32::NAN])));
        assert!(bad(Hmc::seeds([-0.1, 0.1])));
        assert!(bad(Hmc {
            step: StepSchedule {
                times: [0.5, 0.5],
                sizes: [0.1, 0.1]
            },
            ..Hmc::seeds([0.1, 0.1])
        }));
        assert!(Rwm::seeds([0.0, 0.1]).validate().is_err());
        assert!(Rwm::seeds([0.2, 0.2]).validate().is_ok());
        let t = Quadratic(vec![1.0, 1.0]);
        let pi = Tempered {
            target: &t,
            beta: 1.0,
            var: 1.0,
        };
        let mut short = [0.0f32; 5];
        let r = hmc(
            &pi,
            (0.1, 2),
            &mut [0.0, 0.0],
            0.0,
            &mut short,
            &mut rng::seeded(0),
        );
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
    }
}
