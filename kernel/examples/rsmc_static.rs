//! The kernel as a library: **your own target**, trained with Reinforced SMC in static memory.
//!
//! ```sh
//! cargo run -p amortise-kernel --release --example rsmc_static
//! ```
//!
//! 1. [`Banana`] implements the kernel's [`LogDensity`] trait: a 2-D twisted Gaussian with an
//!    analytic gradient, a known `log Z` and an exact sampler (so the output can be checked).
//! 2. [`train_and_sample`] trains the diffusion sampler with Reinforced SMC (Choi et al.
//!    2025, arXiv 2510.11711; [`Method::Rsmc`]) in the kernel's one algorithm shape:
//!    [`Config`] → [`Layout::new`] → [`Views::new`] carved from the caller's arenas on every
//!    call → [`train::init`] → [`train::step`]. Then it draws [`SAMPLES`] forward
//!    trajectories of the learnt policy ([`policy::sample_forward`]) and scores them.
//! 3. No allocation: every buffer lives in one `static` [`Arenas`] value (in `.bss`, behind a
//!    `std::sync::Mutex`, so no `unsafe` and no `static mut`). The arena lengths are `const`s
//!    ([`F32_ARENA`], [`U32_ARENA`], [`SAMPLE_ARENA`]), checked against [`Layout`] at run time
//!    ([`RunError::ArenaTooSmall`] names the constant to raise). On a microcontroller the same
//!    code runs over a `static` handed out by `static_cell` (see `embedded/`); the `Mutex` and
//!    the printing are the only `std` parts here.
//!
//! The sizes are small on purpose (hidden width 32, `T = 16`, batch 64, 64 SMC particles, a
//! 1024-entry buffer, 500 iterations; about 1.9 MB of arenas in all, printed at start-up),
//! so it trains in a few seconds in release. At the trainer's default sizes
//! (`Config::default()`) the training arena is about 40 MB: keep it in a `static` (as here) or
//! on the heap, never in a stack array (a thread's stack is 2 to 8 MB).
//!
//! `cargo test` runs the tests at the bottom of this file (among them a 150-iteration run),
//! because `kernel/Cargo.toml` declares this example with `test = true`.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use amortise_kernel::Error;
use amortise_kernel::math;
use amortise_kernel::metrics::{bounds, weights};
use amortise_kernel::rng::{self, Rng};
use amortise_kernel::samplers::diffusion::net::PisNet;
use amortise_kernel::samplers::diffusion::policy::{self, Trajectories};
use amortise_kernel::samplers::diffusion::reference::{Process, Schedule};
use amortise_kernel::samplers::diffusion::train::{self, Config, Info, Layout, Method, Views};
use amortise_kernel::targets::LogDensity;

// ---------------------------------------------------------------------------------------
// 1. The target
// ---------------------------------------------------------------------------------------

/// A 2-D "banana" (the twisted Gaussian of Haario, Saksman & Tamminen 2001):
/// `x₀ ~ N(0, s²)`, `x₁ | x₀ ~ N(b (x₀² − s²), 1)`, so
///
/// `log p̃(x) = −x₀² / (2 s²) − (x₁ − b (x₀² − s²))² / 2`,
///
/// with `Z = 2π s` (the two Gaussian integrals, `√(2π) s · √(2π)`) and mean `(0, 0)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Banana {
    /// Standard deviation `s` of `x₀`.
    pub s: f32,
    /// Curvature `b`.
    pub b: f32,
}

impl Banana {
    /// The target of the example: `s = 2`, `b = 0.5` (the arms reach `x₁ ≈ 6`).
    pub const DEFAULT: Banana = Banana { s: 2.0, b: 0.5 };

    /// `(x₀, residual r = x₁ − b (x₀² − s²))` in `f64`, or `None` off the support (a
    /// non-finite coordinate or a wrong length).
    fn parts(&self, x: &[f32]) -> Option<(f64, f64)> {
        debug_assert_eq!(x.len(), 2, "Banana is 2-D");
        let [x0, x1] = *x else { return None };
        if !(x0.is_finite() && x1.is_finite()) {
            return None;
        }
        let (x0, x1) = (f64::from(x0), f64::from(x1));
        let (s, b) = (f64::from(self.s), f64::from(self.b));
        Some((x0, x1 - b * (x0 * x0 - s * s)))
    }
}

/// The `LogDensity` contract: never NaN (NaN becomes `-inf`), finite gradient entries.
fn finite_log_density(v: f64) -> f32 {
    if v.is_nan() {
        f32::NEG_INFINITY
    } else {
        v as f32
    }
}

fn finite_grad(g: f64) -> f32 {
    if g.is_nan() {
        0.0
    } else {
        (g as f32).clamp(-f32::MAX, f32::MAX)
    }
}

impl LogDensity for Banana {
    fn dim(&self) -> usize {
        2
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        let Some((x0, r)) = self.parts(x) else {
            return f32::NEG_INFINITY;
        };
        let s2 = f64::from(self.s) * f64::from(self.s);
        finite_log_density(-x0 * x0 / (2.0 * s2) - 0.5 * r * r)
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        debug_assert_eq!(grad.len(), 2, "Banana is 2-D");
        let Some((x0, r)) = self.parts(x) else {
            grad.fill(0.0);
            return f32::NEG_INFINITY;
        };
        let s2 = f64::from(self.s) * f64::from(self.s);
        let b = f64::from(self.b);
        // ∂/∂x₀ = −x₀/s² + 2 b x₀ r,  ∂/∂x₁ = −r
        if let [g0, g1] = grad {
            *g0 = finite_grad(-x0 / s2 + 2.0 * b * x0 * r);
            *g1 = finite_grad(-r);
        }
        finite_log_density(-x0 * x0 / (2.0 * s2) - 0.5 * r * r)
    }

    fn log_z(&self) -> Option<f64> {
        Some(math::ln(2.0 * core::f64::consts::PI * f64::from(self.s)))
    }

    fn has_sampler(&self) -> bool {
        true
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        let [o0, o1] = out else {
            return Err(Error::ShapeMismatch {
                what: "out",
                expected: 2,
                got: out.len(),
            });
        };
        let (s, b) = (f64::from(self.s), f64::from(self.b));
        let x0 = s * rng::standard_normal(rng);
        *o0 = x0 as f32;
        *o1 = (b * (x0 * x0 - s * s) + rng::standard_normal(rng)) as f32;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// 2. The sizes, as constants
// ---------------------------------------------------------------------------------------

/// State dimension.
pub const DIM: usize = 2;
/// Diffusion steps `T` (four SMC chunks of 4).
pub const STEPS: usize = 16;
/// Policy hidden width.
pub const HIDDEN: usize = 32;
/// Fourier harmonics of the time embedding.
pub const HARMONICS: usize = 8;
/// Trajectories drawn from the trained policy.
pub const SAMPLES: usize = 500;
/// Training iterations of `main`.
pub const ITERATIONS: u32 = 500;

/// The training settings: RSMC with the kernel's defaults except the sizes and the
/// reference process (pinned Brownian motion with `σ² = 5`, gfn-diffusion's value, which
/// covers the banana's arms). `iterations` only sets the learning-rate schedule; it does not
/// change the [`Layout`].
pub fn config(iterations: u32) -> Config {
    Config {
        method: Method::Rsmc,
        process: Process::PinnedBrownian { t_scale: 5.0 },
        steps: STEPS,
        batch: 64,
        hidden: HIDDEN,
        harmonics: HARMONICS,
        flow_hidden: 16,
        particles: 64,
        buffer_capacity: 1024,
        prefill: 4,
        iterations,
        ..Config::default()
    }
}

/// `f32` elements of the training arena: [`Layout::f32_len`] of [`config`] on [`DIM`]
/// (`Layout::new` is not a `const fn`, so this is the value it returns, checked at run time).
pub const F32_ARENA: usize = 287_915;
/// `u32` elements of the training arena ([`Layout::u32_len`]).
pub const U32_ARENA: usize = 1152;

/// The policy network, as [`Config::policy_net`] builds it (fixed variance: `DIM` outputs).
const NET: PisNet = match PisNet::new(DIM, HIDDEN, HARMONICS, DIM) {
    Ok(net) => net,
    Err(_) => panic!("network sizes must be >= 1"),
};
const TRAJ: (usize, usize, usize, usize) = Trajectories::lens(&NET, SAMPLES, STEPS, false);
const PWS: (usize, usize, usize) = policy::Workspace::lens(&NET, SAMPLES);
/// `f32` elements of the sampling arena, computed by the kernel's `const fn`s: schedule
/// table, trajectories without caches, policy workspace, then `log R` and `log w`.
pub const SAMPLE_ARENA: usize = Schedule::table_len(STEPS)
    + TRAJ.0
    + 2 * TRAJ.1
    + TRAJ.2
    + PWS.0
    + PWS.1
    + PWS.2
    + policy::Workspace::lgrad_len(&NET, SAMPLES)
    + 2 * SAMPLES;

/// All the memory of a run, zero-initialised `.bss` in a `static` ([`Arenas::zeroed`] is a
/// `const fn`). No `Default`: a 1.9 MB value returned on the stack is what to avoid.
pub struct Arenas {
    /// The trainer's `f32` arena (parameters first, see [`Layout::params`]).
    pub train_f32: [f32; F32_ARENA],
    /// The trainer's `u32` arena.
    pub train_u32: [u32; U32_ARENA],
    /// The sampling pass's `f32` arena.
    pub sample_f32: [f32; SAMPLE_ARENA],
}

impl Arenas {
    /// Zeroed arenas, for a `static` initialiser (evaluated at compile time).
    pub const fn zeroed() -> Self {
        Arenas {
            train_f32: [0.0; F32_ARENA],
            train_u32: [0; U32_ARENA],
            sample_f32: [0.0; SAMPLE_ARENA],
        }
    }
}

/// The one copy of the arenas. The `Mutex` is what makes a mutable `static` safe; runs
/// take turns.
pub static ARENAS: Mutex<Arenas> = Mutex::new(Arenas::zeroed());

// ---------------------------------------------------------------------------------------
// 3. Training and sampling
// ---------------------------------------------------------------------------------------

/// What can stop a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunError {
    /// A static arena is shorter than the layout needs.
    ArenaTooSmall {
        /// Which constant to raise.
        constant: &'static str,
        /// Elements the layout needs.
        need: usize,
        /// Elements the constant gives.
        have: usize,
    },
    /// A kernel error.
    Kernel(Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RunError::ArenaTooSmall {
                constant,
                need,
                have,
            } => write!(
                f,
                "the static arena {constant} holds {have} elements but the layout needs \
                 {need}: set {constant} = {need} in kernel/examples/rsmc_static.rs"
            ),
            RunError::Kernel(e) => write!(f, "kernel: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        RunError::Kernel(e)
    }
}

fn fits(constant: &'static str, need: usize, have: usize) -> Result<(), RunError> {
    if need <= have {
        Ok(())
    } else {
        Err(RunError::ArenaTooSmall {
            constant,
            need,
            have,
        })
    }
}

/// The layout of [`config`], checked against the static arenas.
///
/// # Errors
/// [`RunError::ArenaTooSmall`] naming the constant to raise; kernel configuration errors.
pub fn checked_layout(cfg: &Config) -> Result<Layout, RunError> {
    let layout = Layout::new(cfg, DIM)?;
    fits("F32_ARENA", layout.f32_len, F32_ARENA)?;
    fits("U32_ARENA", layout.u32_len, U32_ARENA)?;
    if layout.net != NET {
        return Err(RunError::Kernel(Error::InvalidConfig(
            "the configuration's policy network is not the one SAMPLE_ARENA was sized for",
        )));
    }
    Ok(layout)
}

/// What a run reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Iterations run.
    pub iterations: u32,
    /// The last iteration's diagnostics.
    pub last: Info,
    /// Updates skipped for a non-finite gradient.
    pub skipped: u32,
    /// The learnt `log Z` parameter.
    pub learnt_log_z: f32,
    /// The target's true `log Z`.
    pub true_log_z: f64,
    /// Importance-sampling `log Ẑ = log mean w` over the [`SAMPLES`] trajectories.
    pub is_log_z: f64,
    /// ELBO `= mean log w` (a lower bound on `log Z`).
    pub elbo: f64,
    /// `ESS / N` of the importance weights, in `[1/N, 1]`.
    pub ess_fraction: f64,
    /// Mean of the (unweighted) samples `x_T`; the target's mean is `(0, 0)`.
    pub sample_mean: [f64; DIM],
    /// Self-normalised importance-weighted mean of the samples (corrects the policy's bias).
    pub weighted_mean: [f64; DIM],
    /// Mean of `x₀²` over the samples; the target's is `s²`.
    pub sample_x0_sq: f64,
}

/// Takes the next `n` elements of `rest`.
fn take<'a>(rest: &mut &'a mut [f32], n: usize) -> Result<&'a mut [f32], RunError> {
    fits("SAMPLE_ARENA", n, rest.len())?;
    let (head, tail) = core::mem::take(rest).split_at_mut(n);
    *rest = tail;
    Ok(head)
}

/// Trains the sampler on `target` for `iterations` steps from `seed`, in `arenas` only,
/// then draws [`SAMPLES`] trajectories from the learnt policy and scores them.
/// `progress` sees every iteration's [`Info`].
///
/// # Errors
/// [`RunError::ArenaTooSmall`]; kernel errors. A non-finite gradient is not one: that
/// update is skipped and counted in [`Report::skipped`].
pub fn train_and_sample<T: LogDensity>(
    arenas: &mut Arenas,
    target: &T,
    iterations: u32,
    seed: u64,
    mut progress: impl FnMut(&Info),
) -> Result<Report, RunError> {
    let cfg = config(iterations);
    let layout = checked_layout(&cfg)?;
    // `Views::new` takes arenas of exactly the layout's lengths (`checked_layout` made sure
    // the statics are long enough).
    let fa = &mut arenas.train_f32[..layout.f32_len];
    let ua = &mut arenas.train_u32[..layout.u32_len];
    let mut r = rng::seeded(seed);

    // The algorithm shape: views carved on every call, a small `Copy` state in between.
    let mut state = train::init(&cfg, &layout, &mut Views::new(&layout, fa, ua)?, &mut r)?;
    let mut last = None;
    for _ in 0..iterations {
        let mut views = Views::new(&layout, fa, ua)?;
        let info = train::step(&cfg, &mut state, &mut views, target, &mut r)?;
        progress(&info);
        last = Some(info);
    }
    let last = last.ok_or(Error::InvalidConfig("iterations must be >= 1"))?;

    // Sampling: the trained parameters stay at the front of the training arena.
    let params = layout.params(&arenas.train_f32[..]);
    let mut rest = &mut arenas.sample_f32[..];
    let sched = Schedule::new(
        cfg.process,
        STEPS,
        take(&mut rest, Schedule::table_len(STEPS))?,
    )?;
    let mut traj = Trajectories {
        batch: SAMPLES,
        dim: DIM,
        steps: STEPS,
        states: take(&mut rest, TRAJ.0)?,
        log_pf: take(&mut rest, TRAJ.1)?,
        log_pb: take(&mut rest, TRAJ.1)?,
        outputs: take(&mut rest, TRAJ.2)?,
        cache: &mut [],
    };
    let mut ws = policy::Workspace {
        net_scratch: take(&mut rest, PWS.0)?,
        step_cache: take(&mut rest, PWS.1)?,
        noise: take(&mut rest, PWS.2)?,
        lgrad: take(&mut rest, policy::Workspace::lgrad_len(&NET, SAMPLES))?,
    };
    let log_r = take(&mut rest, SAMPLES)?;
    let log_w = take(&mut rest, SAMPLES)?;
    let pol = policy::Policy {
        cfg: &cfg.policy,
        sched: &sched,
        net: &layout.net,
        params: layout.policy(params),
    };
    policy::sample_forward(pol, target, &mut traj, &mut ws, false, &mut r)?;
    let x_t = traj.terminal();
    for (lr, x) in log_r.iter_mut().zip(x_t.chunks_exact(DIM)) {
        *lr = target.log_density(x);
    }
    policy::log_weights(&sched, &traj, log_r, log_w)?;
    // `log_r` is free again: it takes the normalised weights.
    let w = log_r;
    weights::normalize_log_weights(log_w, w)?;

    let (mut mean, mut weighted) = ([0.0f64; DIM], [0.0f64; DIM]);
    let mut x0_sq = 0.0f64;
    for (x, &wi) in x_t.chunks_exact(DIM).zip(w.iter()) {
        for ((m, wm), &v) in mean.iter_mut().zip(&mut weighted).zip(x) {
            *m += f64::from(v) / SAMPLES as f64;
            *wm += f64::from(wi) * f64::from(v);
        }
        x0_sq += f64::from(x[0]) * f64::from(x[0]) / SAMPLES as f64;
    }
    Ok(Report {
        iterations,
        last,
        skipped: state.optim.skipped,
        learnt_log_z: layout.log_z(params),
        true_log_z: target.log_z().unwrap_or(f64::NAN),
        is_log_z: bounds::log_z_is(log_w)?,
        elbo: bounds::elbo(log_w)?,
        ess_fraction: weights::ess_fraction(log_w)?,
        sample_mean: mean,
        weighted_mean: weighted,
        sample_x0_sq: x0_sq,
    })
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rsmc_static: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The program: prints the sizes, trains with progress lines, prints the statistics.
fn run() -> Result<(), RunError> {
    let target = Banana::DEFAULT;
    let cfg = config(ITERATIONS);
    let layout = checked_layout(&cfg)?;
    println!(
        "rsmc_static: banana s={} b={} | RSMC T={} batch={} particles={} hidden={} | \
         {} parameters",
        target.s, target.b, cfg.steps, cfg.batch, cfg.particles, cfg.hidden, layout.n_params
    );
    println!(
        "static arenas: train f32 {}/{F32_ARENA}, u32 {}/{U32_ARENA}, sample f32 \
         {SAMPLE_ARENA} ({} KiB in all, no heap allocation)",
        layout.f32_len,
        layout.u32_len,
        core::mem::size_of::<Arenas>() / 1024
    );
    let mut arenas = ARENAS.lock().unwrap_or_else(PoisonError::into_inner);
    let t0 = std::time::Instant::now();
    let report = train_and_sample(&mut arenas, &target, ITERATIONS, 0, |info| {
        if (info.iteration + 1) % 100 == 0 {
            println!(
                "  iter {:>5}  tb_loss {:>9.4}  subtb_loss {:>8.4}  log_z {:>7.4}  buffer {}",
                info.iteration + 1,
                info.tb_loss,
                info.subtb_loss,
                info.log_z,
                info.buffer_len
            );
        }
    })?;
    let secs = t0.elapsed().as_secs_f64();
    println!("trained {} iterations in {secs:.1} s", report.iterations);
    println!(
        "log Z: learnt {:.4}, importance sampling {:.4}, ELBO {:.4}, true {:.4}",
        report.learnt_log_z, report.is_log_z, report.elbo, report.true_log_z
    );
    println!(
        "importance weights over {SAMPLES} samples: ESS/N {:.3}",
        report.ess_fraction
    );
    let [m, wm] = [report.sample_mean, report.weighted_mean];
    println!(
        "sample mean ({:.3}, {:.3}), importance-weighted ({:.3}, {:.3}), target (0, 0); \
         mean x0^2 {:.3}, target {}",
        m[0],
        m[1],
        wm[0],
        wm[1],
        report.sample_x0_sq,
        target.s * target.s
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use amortise_kernel::targets::grad_checked;

    #[test]
    fn banana_gradient_matches_finite_differences() {
        let t = Banana::DEFAULT;
        let mut g = [0.0f32; 2];
        for x in [[0.3f32, -1.2], [-2.5, 1.0], [1.7, 2.2]] {
            grad_checked(&t, &x, &mut g).unwrap();
            for k in 0..2 {
                let h = 1e-3f32;
                let (mut xp, mut xm) = (x, x);
                xp[k] += h;
                xm[k] -= h;
                let fd = (f64::from(t.log_density(&xp)) - f64::from(t.log_density(&xm)))
                    / (2.0 * f64::from(h));
                assert!(
                    (fd - f64::from(g[k])).abs() < 1e-2,
                    "{x:?} {k}: {fd} vs {}",
                    g[k]
                );
            }
        }
        assert_eq!(t.log_density(&[f32::NAN, 0.0]), f32::NEG_INFINITY);
        assert_eq!(
            t.log_density_grad(&[0.0, f32::INFINITY], &mut g),
            f32::NEG_INFINITY
        );
        assert_eq!(g, [0.0, 0.0]);
    }

    /// The static arenas fit the layout with little slack (so the constants stay honest).
    #[test]
    fn the_constants_fit_the_layout() {
        let layout = checked_layout(&config(ITERATIONS)).unwrap();
        assert!(
            F32_ARENA - layout.f32_len <= F32_ARENA / 8,
            "{}",
            layout.f32_len
        );
        assert!(
            U32_ARENA - layout.u32_len <= U32_ARENA / 8,
            "{}",
            layout.u32_len
        );
    }

    /// A configuration that outgrows the statics is refused before anything runs, with a
    /// message naming the constant and the length it needs.
    #[test]
    fn a_too_small_arena_is_a_clear_error() {
        let bigger = Config {
            batch: 128,
            ..config(ITERATIONS)
        };
        let need = Layout::new(&bigger, DIM).unwrap().f32_len;
        let err = checked_layout(&bigger).unwrap_err();
        assert_eq!(
            err,
            RunError::ArenaTooSmall {
                constant: "F32_ARENA",
                need,
                have: F32_ARENA
            }
        );
        assert!(err.to_string().contains(&format!("set F32_ARENA = {need}")));
    }

    /// A short run of the example's own code: it trains in the static arenas and the
    /// learnt sampler is already a fair importance sampler of the banana.
    #[test]
    fn a_short_run_learns_the_banana() {
        let mut arenas = ARENAS.lock().unwrap_or_else(PoisonError::into_inner);
        let t = Banana::DEFAULT;
        let rep = train_and_sample(&mut arenas, &t, 150, 1, |_| {}).unwrap();
        assert_eq!(rep.iterations, 150);
        assert!(rep.ess_fraction > 0.0 && rep.ess_fraction <= 1.0);
        assert!(rep.elbo <= rep.is_log_z);
        assert!(
            (rep.is_log_z - rep.true_log_z).abs() < 1.0,
            "IS log Z {} vs {}",
            rep.is_log_z,
            rep.true_log_z
        );
    }
}
