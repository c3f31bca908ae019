//! Stage 2: a GFlowNet trained with trajectory balance on a 2-D hypergrid of side 8 with the
//! standard reward, then scored against the exact target distribution.
//!
//! Training is the kernel's GFlowNet trainer (`amortise_kernel::samplers::gflownet::train`)
//! with the TB loss (Malkin et al. 2022), on-policy batches with ε-uniform exploration, the
//! uniform backward policy and no replay buffer. After [`ITERATIONS`] iterations the
//! learnt policy draws [`EVAL_SAMPLES`] terminal cells (ε = 0); their histogram is compared
//! with `π(x) = R(x)/Z` from exact enumeration of the 64 cells (total variation and
//! Jensen–Shannon divergence), and the learnt `log Z` with the exact one.
//!
//! Every number is printed with its bit pattern, so a text comparison of two runs is a
//! bit-for-bit comparison.

use crate::checksum::fnv1a_f32;
use crate::error::{RunError, check_arena};
use crate::{f32_field, f64_field};
use amortise_kernel::Error;
use amortise_kernel::metrics::histogram::total_variation;
use amortise_kernel::rng;
use amortise_kernel::samplers::gflownet::env::DiscreteEnv;
use amortise_kernel::samplers::gflownet::exact;
use amortise_kernel::samplers::gflownet::grid::{GridReward, Hypergrid};
use amortise_kernel::samplers::gflownet::train::{self, Config, Layout, LossKind, Views};
use core::fmt::Write;

/// Seed of the pinned PRNG (`amortise_kernel::rng::seeded`), the diffusion stage's.
pub const SEED: u64 = 9;
/// Dimension of the hypergrid.
pub const DIM: usize = 2;
/// Side of the hypergrid (`8² = 64` terminal cells, 4 modes).
pub const SIDE: usize = 8;
/// Training iterations. The tiny model needs more than the diffusion stage's 300 (measured
/// natively with this configuration, 1024 samples): TV to the target 0.53–0.54 after 400
/// iterations (seeds 9, 10), 0.11–0.36 after 1000 and 0.07–0.08 after 2000 (seeds 9–11).
pub const ITERATIONS: u32 = 2000;
/// A progress line every this many iterations, with the window's mean loss.
pub const LOG_EVERY: u32 = 250;
/// Terminal cells drawn from the learnt policy for the empirical distribution (a multiple
/// of the batch).
pub const EVAL_SAMPLES: usize = 1024;

/// The environment: the 2-D hypergrid of side 8 with the standard reward of Bengio et al.
/// 2021 (`R0 = 10⁻³`, `R1 = 0.5`, `R2 = 2`).
///
/// # Errors
/// None for these constants (the kernel validates them).
pub fn env() -> Result<Hypergrid, Error> {
    Hypergrid::new(DIM, SIDE, GridReward::Standard)
}

/// The tiny configuration: TB, batch 4, one hidden layer of width 16, network learning rate
/// `10⁻²` (the kernel's default `10⁻³` is too slow for a budget of a few thousand
/// iterations), ε = 0.1 exploration, no replay buffer. Everything else is the kernel's
/// default (`log Z` learning rate `10⁻¹`, clip `1.0`, uniform `P_B`).
pub fn config() -> Config {
    Config {
        loss: LossKind::Tb,
        batch: 4,
        hidden: 16,
        layers: 1,
        lr: 1e-2,
        epsilon: 0.1,
        buffer_capacity: 0,
        ..Config::default()
    }
}

/// Arena lengths `(f32, u32)` this stage needs: the trainer's arenas ([`Layout`]) plus the
/// sample counts, or the exact and empirical distributions after the trainer is dropped.
///
/// # Errors
/// Configuration errors from the kernel.
pub fn needs() -> Result<(usize, usize), Error> {
    let env = env()?;
    let layout = Layout::new(&env, &config())?;
    let n = env.n_terminal();
    Ok(((layout.f32_len + n).max(2 * n), layout.u32_len))
}

/// Runs the stage over the caller's arenas, printing its report to `out`; returns the
/// checksum of the trained parameters (network, then `log Z`).
///
/// # Errors
/// [`RunError::ArenaTooSmall`] if the arenas are shorter than [`needs`]; kernel errors
/// (a step the optimiser skips for a non-finite gradient is an error here); output errors.
pub fn run<W: Write>(f32s: &mut [f32], u32s: &mut [u32], out: &mut W) -> Result<u64, RunError> {
    let env = env()?;
    let cfg = config();
    let layout = Layout::new(&env, &cfg)?;
    let (need_f, need_u) = needs()?;
    check_arena("f32", need_f, f32s.len())?;
    check_arena("u32", need_u, u32s.len())?;
    let np = layout.n_params;
    writeln!(
        out,
        "gflownet: env=hypergrid dim={DIM} side={SIDE} reward=standard loss=tb batch={} \
         hidden={} layers={} params={np} seed={SEED}",
        cfg.batch, cfg.hidden, cfg.layers
    )?;
    writeln!(
        out,
        "gflownet: arena f32 {need_f}/{} u32 {need_u}/{}",
        f32s.len(),
        u32s.len()
    )?;
    let n_term = env.n_terminal();
    let mut rng = rng::seeded(SEED);
    let (learnt_log_z, last_loss, sum) = {
        let (work, rest) = f32s.split_at_mut(layout.f32_len);
        let counts = &mut rest[..n_term];
        counts.fill(0.0);
        let u32s = &mut u32s[..layout.u32_len];
        let mut state = train::init(&env, &cfg, work, u32s, &mut rng)?;
        let mut views = Views::new(&layout, work, u32s)?;
        writeln!(out, "train: start buffer={}", state.cursor.len)?;
        let (mut loss_sum, mut window, mut last) = (0.0f32, 0u32, f32::NAN);
        for i in 0..ITERATIONS {
            let info = train::step(&env, &cfg, &mut views, &mut state, &mut rng)?;
            if info.skipped {
                return Err(Error::NonFinite("GFlowNet gradient norm").into());
            }
            loss_sum += info.loss;
            window += 1;
            last = info.loss;
            if (i + 1) % LOG_EVERY == 0 {
                write!(out, "train: iter={}", i + 1)?;
                f32_field(out, "mean_tb_loss", loss_sum / window as f32)?;
                f32_field(out, "log_z", views.log_z())?;
                writeln!(out)?;
                (loss_sum, window) = (0.0, 0);
            }
        }
        // The learnt policy's samples (ε = 0), counted per cell (exact in f32 up to 2²⁴).
        for _ in 0..EVAL_SAMPLES / cfg.batch {
            train::sample_forward(&env, &cfg, &mut views, 0.0, &mut rng)?;
            for b in 0..cfg.batch {
                let i = env.terminal_index(views.terminal(b));
                if let Some(c) = counts.get_mut(i) {
                    *c += 1.0;
                }
            }
        }
        (views.log_z(), last, fnv1a_f32(views.params()))
    };
    write!(out, "train: done iterations={ITERATIONS}")?;
    f32_field(out, "tb_loss", last_loss)?;
    f32_field(out, "log_z", learnt_log_z)?;
    writeln!(out)?;

    // The counts move to the front of the (now free) arena and become frequencies; the
    // exact distribution goes next to them.
    let tl = layout.f32_len;
    f32s.copy_within(tl..tl + n_term, 0);
    let (q, rest) = f32s.split_at_mut(n_term);
    let p = &mut rest[..n_term];
    let drawn: f64 = q.iter().map(|&c| f64::from(c)).sum();
    let mut modes = 0usize;
    let mut s = [0u32; DIM + 1];
    for (i, qi) in q.iter_mut().enumerate() {
        env.terminal_from_index(i, &mut s);
        if *qi > 0.0 && env.is_mode(&s) {
            modes += 1;
        }
        *qi = (f64::from(*qi) / drawn) as f32;
    }
    let exact_log_z = exact::distribution(&env, p)?;
    let tv = total_variation(p, q)?;
    let jsd = exact::jensen_shannon(p, q)?;
    let all_modes = exact::mode_count(&env)?;
    write!(out, "eval: samples={EVAL_SAMPLES}")?;
    f64_field(out, "exact_log_z", exact_log_z)?;
    f64_field(out, "log_z_error", f64::from(learnt_log_z) - exact_log_z)?;
    f64_field(out, "tv", tv)?;
    f64_field(out, "jsd", jsd)?;
    writeln!(out, " modes_visited={modes}/{all_modes}")?;
    // A reference point for TV: the uniform distribution over the cells.
    let uniform_tv = {
        q.fill(1.0 / n_term as f32);
        total_variation(p, q)?
    };
    write!(out, "eval: reference")?;
    f64_field(out, "uniform_tv", uniform_tv)?;
    writeln!(out)?;
    writeln!(out, "gflownet: params={np} fnv1a64={sum:016x}")?;
    Ok(sum)
}
