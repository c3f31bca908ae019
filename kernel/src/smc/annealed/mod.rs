//! Annealed SMC with adaptive tempering and MALA moves (the default), or with the SMC
//! baselines' fixed geometric schedule and HMC or random-walk moves: the no-learning
//! baseline.
//!
//! The sampler a statistician would try first (Del Moral, Doucet & Jasra 2006; Neal's AIS
//! with resampling; the `smc` baselines of the RSMC paper, `rsmc.md` §2.3). Particles start
//! from the base `p₀ = N(0, σ² I)` and follow the geometric path
//! `π_β(x) ∝ p₀(x)^{1−β} R(x)^β` from `β = 0` to `β = 1`:
//!
//! 1. **Adaptive temperature** (Jasra et al. 2011; Zhou, Johansen & Aston 2016): the next
//!    `β'` is the largest value in `(β, 1]` whose incremental weights
//!    `uᵢ = exp((β' − β)(log R(xᵢ) − log p₀(xᵢ)))` keep the conditional ESS
//!    `(Σ Wᵢ uᵢ)² / Σ Wᵢ uᵢ²` at `target_cess` (bisection on `β'`; `W` the normalised
//!    current weights).
//! 2. **Reweight** `log wᵢ += (β' − β)(log R(xᵢ) − log p₀(xᵢ))` and accumulate
//!    `log Ẑ += log Σ Wᵢ uᵢ`.
//! 3. **Resample** (systematic) when `ESS/N < resample_threshold` and `β' < 1`.
//! 4. **Move** every particle by `mala_steps` MALA steps targeting `π_β'`, with the step
//!    size adapted after each temperature toward acceptance 0.574 (Roberts & Rosenthal 1998).
//!
//! **The RSMC paper's SMC baselines** (the seeds' `algorithms/smc`, from
//! annealed_flow_transport; `rsmc.md` §2.3) differ in three choices, each a [`Config`] field:
//! - [`Schedule::Geometric`]: `K` fixed temperatures `β_k = k/(K − 1)`, `k = 0 … K − 1`
//!   (both ends included, so `K − 1` steps; the seeds' `GeometricAnnealingSchedule` with
//!   `num_temps = 128`), and resampling whenever `ESS/N < resample_threshold`, at the last
//!   temperature too;
//! - [`Move::Hmc`] or [`Move::Rwm`] ([`super::moves`]): the seeds' HMC (10 leapfrog steps,
//!   one transition per temperature) or RWM (10 transitions), with per-target step sizes
//!   interpolated over `β`;
//! - [`Config::resample`]: the seeds resample multinomially (`jax.random.categorical`).
//!
//! The seeds' `log Ẑ` is the same sum of `log Σ Wᵢ uᵢ`; their "ELBO" is the sum of the
//! weighted mean log increments `Σ Wᵢ log uᵢ` ([`Info::mean_log_increment`]).
//!
//! `Ẑ = exp(log Ẑ)` is an unbiased estimator of `Z` (tested on a Gaussian target with known
//! `Z`, for every move). Bounded work: every [`step`] does one temperature, `init` none; the run ends when
//! [`State::beta`] reaches 1 (adaptive: at most `max_temperatures` steps, after which `step`
//! forces `β' = 1`; geometric: exactly `K − 1` steps).

use crate::error::{Error, check_len};
use crate::math;
use crate::rng::{Rng, fill_standard_normal, uniform_f64};

mod sweep;
use crate::smc::moves::{Hmc, Rwm, Tempered};
use crate::smc::resample::{self, Scheme};
use crate::targets::LogDensity;

/// How the temperatures are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// The next `β` keeps the conditional ESS at [`Config::target_cess`]. The default.
    #[default]
    Adaptive,
    /// `temperatures` fixed values `β_k = k/(K − 1)`, `k = 0 … K − 1` (`K ≥ 2`); resampling
    /// is checked at every step, the last included (the seeds' SMC: `K = 128`).
    Geometric {
        /// `K`, both ends included.
        temperatures: u32,
    },
}

/// The Markov move after each reweighting.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Move {
    /// [`Config::mala_steps`] MALA steps of size [`State::step_size`] (adapted if
    /// [`Config::adapt_step_size`]). The default.
    #[default]
    Mala,
    /// Hamiltonian Monte Carlo ([`crate::smc::moves::hmc`]).
    Hmc(Hmc),
    /// Random-walk Metropolis ([`crate::smc::moves::rwm`]).
    Rwm(Rwm),
}

/// Settings of annealed SMC.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Standard deviation `σ` of the base `N(0, σ² I)`. Defaults to `1.0`; RSMC's targets use
    /// the same `init_std` as their diffusion reference (20 for GMM40, `rsmc.md` §2.1).
    pub base_std: f32,
    /// Conditional-ESS fraction kept per temperature step. Defaults to `0.5`.
    pub target_cess: f64,
    /// Resample when `ESS/N` falls below this. Defaults to `0.3` (annealed_flow_transport,
    /// `rsmc.md` §2.3).
    pub resample_threshold: f64,
    /// MALA steps per temperature. Defaults to `5`.
    pub mala_steps: u32,
    /// Initial MALA step size `h` (proposal `x + h∇log π + √(2h) ξ`). Defaults to `0.05`.
    pub step_size: f32,
    /// Adapt `h` toward acceptance 0.574 after each temperature. Defaults to `true`.
    pub adapt_step_size: bool,
    /// Cap on the number of temperatures; the last forced step jumps to `β = 1`.
    /// Defaults to `1000`. Not used by [`Schedule::Geometric`].
    pub max_temperatures: u32,
    /// The temperatures. Defaults to [`Schedule::Adaptive`].
    pub schedule: Schedule,
    /// The Markov move. Defaults to [`Move::Mala`].
    pub moves: Move,
    /// The resampling scheme. Defaults to [`Scheme::Systematic`]; the seeds' SMC baseline
    /// resamples multinomially.
    pub resample: Scheme,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_std: 1.0,
            target_cess: 0.5,
            resample_threshold: 0.3,
            mala_steps: 5,
            step_size: 0.05,
            adapt_step_size: true,
            max_temperatures: 1000,
            schedule: Schedule::Adaptive,
            moves: Move::Mala,
            resample: Scheme::Systematic,
        }
    }
}

impl Config {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.base_std.is_finite() && self.base_std > 0.0) {
            return Err(Error::InvalidConfig("base_std must be finite and > 0"));
        }
        if !(self.target_cess > 0.0 && self.target_cess < 1.0) {
            return Err(Error::InvalidConfig("target_cess must be in (0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.resample_threshold) {
            return Err(Error::InvalidConfig("resample_threshold must be in [0, 1]"));
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(Error::InvalidConfig("step_size must be finite and > 0"));
        }
        if self.max_temperatures == 0 {
            return Err(Error::InvalidConfig("max_temperatures must be >= 1"));
        }
        if let Schedule::Geometric { temperatures } = self.schedule
            && !(2..=1_000_000).contains(&temperatures)
        {
            return Err(Error::InvalidConfig(
                "geometric temperatures must be in 2..=1000000",
            ));
        }
        match self.moves {
            Move::Mala => Ok(()),
            Move::Hmc(h) => h.validate(),
            Move::Rwm(r) => r.validate(),
        }
    }
}

/// Carried between steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct State {
    /// Current inverse temperature `β ∈ [0, 1]`.
    pub beta: f64,
    /// Running `log Ẑ` (the estimate of `log Z` once `β = 1`).
    pub log_z: f64,
    /// Temperatures done.
    pub temperatures: u32,
    /// Current MALA step size (with HMC or RWM: the step size of the last temperature's
    /// moves).
    pub step_size: f32,
    /// Resampling events so far.
    pub resamples: u32,
}

impl State {
    /// `true` once `β = 1`.
    pub fn done(&self) -> bool {
        self.beta >= 1.0
    }
}

/// Diagnostics of one temperature step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Info {
    /// The new `β`.
    pub beta: f64,
    /// `log Ẑ` increment of this step.
    pub delta_log_z: f64,
    /// `ESS/N` after reweighting (before any resampling).
    pub ess_fraction: f64,
    /// Whether this step resampled.
    pub resampled: bool,
    /// Mean acceptance rate of this step's moves.
    pub acceptance: f64,
    /// `Σ Wᵢ log uᵢ`: the weighted mean log incremental weight (`W` the normalised weights
    /// before reweighting, `uᵢ` the increments); its sum over the steps is the seeds' "ELBO"
    /// of annealed SMC.
    pub mean_log_increment: f64,
}

/// Caller-owned particle arrays (`n` particles of dimension `dim`).
#[derive(Debug)]
pub struct Particles<'a> {
    /// Positions, row-major `[n, dim]`.
    pub x: &'a mut [f32],
    /// Log-weights (unnormalised), `[n]`.
    pub log_w: &'a mut [f32],
    /// `log R(xᵢ)` at the current positions, `[n]`.
    pub log_r: &'a mut [f32],
}

/// Caller-owned scratch; contents are meaningless between calls.
#[derive(Debug)]
pub struct Workspace<'a> {
    /// `[n, dim]`: copy buffer for resampling.
    pub x_tmp: &'a mut [f32],
    /// `[n]`: normalised weights / resampling weights.
    pub w: &'a mut [f32],
    /// `[n]`: ancestor indices.
    pub ancestors: &'a mut [u32],
    /// `[n]`: log R copy for resampling.
    pub log_r_tmp: &'a mut [f32],
    /// `[4·dim]`: gradient, proposal, proposal gradient, noise (MALA); proposal, momentum,
    /// gradient (HMC); proposal (RWM).
    pub vec: &'a mut [f32],
}

impl Workspace<'_> {
    /// Length of `vec` for dimension `dim`.
    pub const fn vec_len(dim: usize) -> usize {
        4 * dim
    }
}

fn check_shapes(dim: usize, ps: &Particles<'_>, ws: &Workspace<'_>) -> Result<usize, Error> {
    let n = ps.log_w.len();
    if n == 0 {
        return Err(Error::InvalidConfig(
            "annealed SMC needs at least one particle",
        ));
    }
    if dim == 0 {
        return Err(Error::InvalidConfig("target dimension must be >= 1"));
    }
    let nd = n.checked_mul(dim).ok_or(Error::CapacityExceeded {
        what: "particles",
        capacity: usize::MAX,
    })?;
    check_len("particles x", nd, ps.x.len())?;
    check_len("particles log_r", n, ps.log_r.len())?;
    check_len("workspace x_tmp", nd, ws.x_tmp.len())?;
    check_len("workspace w", n, ws.w.len())?;
    check_len("workspace ancestors", n, ws.ancestors.len())?;
    check_len("workspace log_r_tmp", n, ws.log_r_tmp.len())?;
    check_len("workspace vec", Workspace::vec_len(dim), ws.vec.len())?;
    Ok(n)
}

fn log_p0(x: &[f32], var: f32) -> f32 {
    math::gaussian_log_pdf(x, var)
}

/// Draws the particles from the base, evaluates `log R`, sets uniform weights.
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad config or no particles; [`Error::ShapeMismatch`] for
/// a buffer of the wrong length.
pub fn init<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    ps: &mut Particles<'_>,
    ws: &mut Workspace<'_>,
    target: &T,
    rng: &mut R,
) -> Result<State, Error> {
    cfg.validate()?;
    let dim = target.dim();
    check_shapes(dim, ps, ws)?;
    fill_standard_normal(rng, ps.x);
    for v in ps.x.iter_mut() {
        *v *= cfg.base_std;
    }
    for (row, lr) in ps.x.chunks_exact(dim).zip(ps.log_r.iter_mut()) {
        *lr = target.log_density(row);
    }
    ps.log_w.iter_mut().for_each(|w| *w = 0.0);
    Ok(State {
        beta: 0.0,
        log_z: 0.0,
        temperatures: 0,
        step_size: cfg.step_size,
        resamples: 0,
    })
}

/// Incremental log-weight of particle `i` per unit of `β`: `log R(xᵢ) − log p₀(xᵢ)`.
fn slope(x: &[f32], log_r: f32, var: f32) -> f64 {
    if log_r == f32::NEG_INFINITY {
        f64::NEG_INFINITY
    } else {
        log_r as f64 - log_p0(x, var) as f64
    }
}

/// `log Σ Wᵢ e^{Δβ sᵢ}` and the conditional ESS fraction, with `W` from `log_w`.
fn increment_stats(
    log_w: &[f32],
    x: &[f32],
    log_r: &[f32],
    dim: usize,
    var: f32,
    dbeta: f64,
) -> (f64, f64) {
    let m = log_w.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut m2 = f64::NEG_INFINITY;
    for ((&lw, row), &lr) in log_w.iter().zip(x.chunks_exact(dim)).zip(log_r) {
        let a = lw as f64 + dbeta * slope(row, lr, var);
        if a > m2 {
            m2 = a;
        }
    }
    if m2 == f64::NEG_INFINITY {
        return (f64::NEG_INFINITY, 0.0);
    }
    let (mut sw, mut swu, mut swu2) = (0.0f64, 0.0f64, 0.0f64);
    for ((&lw, row), &lr) in log_w.iter().zip(x.chunks_exact(dim)).zip(log_r) {
        let wi = math::exp(lw as f64 - m);
        sw += wi;
        let s = slope(row, lr, var);
        if s > f64::NEG_INFINITY {
            // u relative to its max to avoid overflow: e^{a - m2} = W e^{Δβ s} e^{m - m2}
            let a = math::exp(lw as f64 + dbeta * s - m2);
            swu += a;
            swu2 += a * a / wi.max(f64::MIN_POSITIVE);
        }
    }
    let log_inc = math::ln(swu) + m2 - m - math::ln(sw);
    let cess = if swu2 > 0.0 {
        swu * swu / (sw * swu2)
    } else {
        0.0
    };
    (log_inc, cess)
}

/// `Σ Wᵢ Δβ sᵢ` over the particles of positive weight (`W` normalised from `log_w`).
fn mean_log_increment(
    log_w: &[f32],
    x: &[f32],
    log_r: &[f32],
    dim: usize,
    var: f32,
    dbeta: f64,
) -> f64 {
    let m = log_w.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let (mut sw, mut swl) = (0.0f64, 0.0f64);
    for ((&lw, row), &lr) in log_w.iter().zip(x.chunks_exact(dim)).zip(log_r) {
        let wi = math::exp(lw as f64 - m);
        if wi > 0.0 {
            sw += wi;
            swl += wi * dbeta * slope(row, lr, var);
        }
    }
    swl / sw
}

/// The next inverse temperature after `state` (adaptive: bisection on the conditional ESS).
fn next_beta(cfg: &Config, state: &State, ps: &Particles<'_>, dim: usize, var: f32) -> f64 {
    if let Schedule::Geometric { temperatures } = cfg.schedule {
        let k = state.temperatures + 1;
        let last = temperatures - 1;
        return if k >= last {
            1.0
        } else {
            f64::from(k) / f64::from(last)
        };
    }
    let remaining = 1.0 - state.beta;
    let forced = state.temperatures + 1 >= cfg.max_temperatures;
    let (_, cess_full) = increment_stats(ps.log_w, ps.x, ps.log_r, dim, var, remaining);
    let dbeta = if forced || cess_full >= cfg.target_cess {
        remaining
    } else {
        let (mut lo, mut hi) = (0.0f64, remaining);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            let (_, c) = increment_stats(ps.log_w, ps.x, ps.log_r, dim, var, mid);
            if c >= cfg.target_cess {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo.max(remaining * 1e-12)
    };
    if dbeta >= remaining {
        1.0
    } else {
        state.beta + dbeta
    }
}

/// One temperature: choose `β'`, reweight, maybe resample, move. See the module doc.
///
/// # Errors
/// [`Error::Degenerate`] if every particle has zero weight; shape and config errors as
/// [`init`]. Calling `step` when `state.done()` returns an `Info` with no change.
pub fn step<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    ps: &mut Particles<'_>,
    ws: &mut Workspace<'_>,
    target: &T,
    rng: &mut R,
) -> Result<Info, Error> {
    cfg.validate()?;
    let dim = target.dim();
    let n = check_shapes(dim, ps, ws)?;
    if state.done() {
        return Ok(Info {
            beta: 1.0,
            delta_log_z: 0.0,
            ess_fraction: 1.0,
            resampled: false,
            acceptance: 0.0,
            mean_log_increment: 0.0,
        });
    }
    let var = cfg.base_std * cfg.base_std;
    // 1. next temperature
    let new_beta = next_beta(cfg, state, ps, dim, var);
    let dbeta = new_beta - state.beta;
    // 2. reweight and accumulate log Z
    let (log_inc, _) = increment_stats(ps.log_w, ps.x, ps.log_r, dim, var, dbeta);
    if log_inc == f64::NEG_INFINITY || log_inc.is_nan() {
        return Err(Error::Degenerate(
            "annealed SMC: every particle has zero weight",
        ));
    }
    let mean_inc = mean_log_increment(ps.log_w, ps.x, ps.log_r, dim, var, dbeta);
    for ((lw, row), &lr) in ps
        .log_w
        .iter_mut()
        .zip(ps.x.chunks_exact(dim))
        .zip(ps.log_r.iter())
    {
        let s = slope(row, lr, var);
        *lw = if s == f64::NEG_INFINITY {
            f32::NEG_INFINITY
        } else {
            (*lw as f64 + dbeta * s) as f32
        };
    }
    state.log_z += log_inc;
    state.beta = new_beta;
    state.temperatures += 1;
    // normalise (log-softmax) for numerical range, ESS
    let m = ps.log_w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for lw in ps.log_w.iter_mut() {
        *lw -= m;
        let e = math::exp(*lw as f64);
        s1 += e;
        s2 += e * e;
    }
    let ess_fraction = s1 * s1 / (s2 * n as f64);
    // 3. resample (adaptive: not at β = 1; geometric: at every step, as the seeds)
    let geometric = matches!(cfg.schedule, Schedule::Geometric { .. });
    let mut resampled = false;
    if ess_fraction < cfg.resample_threshold && (state.beta < 1.0 || geometric) {
        resample_particles(cfg.resample, ps, ws, dim, rng)?;
        state.resamples += 1;
        resampled = true;
    }
    // 4. moves at the new temperature
    let pi = Tempered {
        target,
        beta: state.beta as f32,
        var,
    };
    let acceptance = sweep::sweep(cfg, state, ps, ws.vec, &pi, rng)?;
    Ok(Info {
        beta: state.beta,
        delta_log_z: log_inc,
        ess_fraction,
        resampled,
        acceptance,
        mean_log_increment: mean_inc,
    })
}

/// Resamples the particles (`ps.log_w` normalised so that its maximum is 0) with `scheme`
/// and sets uniform weights. Multinomial draws one uniform per particle and finds each by
/// bisection in the cumulative weights (kept in `ws.w`), so it needs no extra buffer.
fn resample_particles<R: Rng + ?Sized>(
    scheme: Scheme,
    ps: &mut Particles<'_>,
    ws: &mut Workspace<'_>,
    dim: usize,
    rng: &mut R,
) -> Result<(), Error> {
    for (w, &lw) in ws.w.iter_mut().zip(ps.log_w.iter()) {
        *w = math::exp(lw);
    }
    if scheme == Scheme::Multinomial {
        let mut cum = 0.0f64;
        for w in ws.w.iter_mut() {
            cum += *w as f64;
            *w = cum as f32;
        }
        let total = ws.w.last().copied().unwrap_or(0.0);
        if !(total > 0.0 && total.is_finite()) {
            return Err(Error::Degenerate("resampling: all weights are zero"));
        }
        // the last particle of positive weight: where the cumulative weight reaches its total
        let last = ws.w.partition_point(|&c| c < total);
        for a in ws.ancestors.iter_mut() {
            let u = (uniform_f64(rng) * total as f64) as f32;
            // the first index whose cumulative weight exceeds u (never a zero-weight one;
            // a u rounded up to the total takes the last positive one)
            *a = ws.w.partition_point(|&c| c <= u).min(last) as u32;
        }
    } else {
        let u = [uniform_f64(rng)];
        resample::resample(scheme, ws.w, &u, ws.ancestors)?;
    }
    for (i, &a) in ws.ancestors.iter().enumerate() {
        let a = a as usize;
        ws.x_tmp[i * dim..(i + 1) * dim].copy_from_slice(&ps.x[a * dim..(a + 1) * dim]);
        ws.log_r_tmp[i] = ps.log_r[a];
    }
    ps.x.copy_from_slice(ws.x_tmp);
    ps.log_r.copy_from_slice(ws.log_r_tmp);
    ps.log_w.iter_mut().for_each(|w| *w = 0.0);
    Ok(())
}

/// Runs [`init`] then [`step`] until `β = 1`; returns the final state.
///
/// # Errors
/// As [`init`] and [`step`].
pub fn run<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    ps: &mut Particles<'_>,
    ws: &mut Workspace<'_>,
    target: &T,
    rng: &mut R,
) -> Result<State, Error> {
    let mut state = init(cfg, ps, ws, target, rng)?;
    while !state.done() {
        step(cfg, &mut state, ps, ws, target, rng)?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests;
