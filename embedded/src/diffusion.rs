//! Stage 1: a tiny diffusion sampler trained by Reinforced SMC on 9GMM, then one SMC pass
//! with the learnt proposal and the learnt twists.
//!
//! Training is [`Method::Rsmc`] of the kernel (`amortise_kernel::samplers::diffusion::train`):
//! on-policy iterations take a TB + SubTB step, off-policy iterations run SMC with the
//! learnt policy as proposal and the learnt flows as twists and train on an
//! importance-weighted replay-buffer draw (Choi et al. 2025, arXiv 2510.11711, §3). After
//! [`ITERATIONS`] iterations the trainer is dropped, its arena is re-carved, and one
//! SMC pass with [`EVAL_PARTICLES`] particles estimates `log Z` and the final ESS.
//!
//! Every number is printed with its bit pattern, so a text comparison of two runs is a
//! bit-for-bit comparison.

use crate::checksum::fnv1a_f32;
use crate::error::{RunError, check_arena};
use crate::{f32_field, f64_field};
use amortise_kernel::rng;
use amortise_kernel::samplers::diffusion::policy::Rollout;
use amortise_kernel::samplers::diffusion::reference::{Process, Schedule};
use amortise_kernel::samplers::diffusion::smc::{self, SmcConfig, SmcWorkspace};
use amortise_kernel::samplers::diffusion::train::{
    self, Config as TrainConfig, Layout, Method, Views,
};
use amortise_kernel::targets::{GridGmm, LogDensity};
use amortise_kernel::{Error, buffer::Priority};
use core::fmt::Write;

/// Seed of the pinned PRNG (`amortise_kernel::rng::seeded`).
pub const SEED: u64 = 9;
/// Dimension of the target (9GMM is 2-D).
pub const DIM: usize = 2;
/// Training iterations.
pub const ITERATIONS: u32 = 300;
/// A progress line every this many iterations, with the window's mean losses.
pub const LOG_EVERY: u32 = 50;
/// Particles of the final SMC pass.
pub const EVAL_PARTICLES: usize = 48;

/// The tiny configuration: 2-D, `T = 8` pinned-Brownian steps (`σ² = 5`, gfn-diffusion's
/// value for the grid mixtures), two SMC chunks of 4 steps, batch 8, 16 SMC particles,
/// hidden width 8 (policy and flow networks), 2 Fourier harmonics, a 128-entry replay
/// buffer prefilled by 2 SMC runs.
/// Everything else is the kernel's default (learning rates, clipping, `r = 2`).
pub fn config() -> TrainConfig {
    TrainConfig {
        method: Method::Rsmc,
        process: Process::PinnedBrownian { t_scale: 5.0 },
        steps: 8,
        batch: 8,
        hidden: 8,
        harmonics: 2,
        flow_hidden: 8,
        smc: SmcConfig {
            chunk: 4,
            ..SmcConfig::default()
        },
        particles: 16,
        buffer_capacity: 128,
        buffer_priority: Priority::ImportanceWeight { target_ess: 0.05 },
        prefill: 2,
        iterations: ITERATIONS,
        ..TrainConfig::default()
    }
}

/// The target, 9GMM (means `{−5, 0, 5}²`, variance 0.3): a concrete 2-D type of a few
/// words, rather than the registry's `Target` enum whose largest variant is ~10 KiB.
pub fn target() -> GridGmm {
    GridGmm::nine()
}

/// Arena lengths `(f32, u32)` of the final SMC pass.
fn eval_lens(cfg: &TrainConfig) -> Result<(usize, usize), Error> {
    let net = cfg.policy_net(DIM)?;
    let flows = cfg.flows(DIM)?;
    let n = EVAL_PARTICLES;
    let w = SmcWorkspace::lens(n, DIM, cfg.steps, Some(&flows));
    let (wf, wu) = SmcWorkspace::arena_lens(&w);
    let f = Schedule::table_len(cfg.steps) + Rollout::arena_len(&net, n, cfg.steps, false) + wf;
    Ok((f, wu))
}

/// Arena lengths `(f32, u32)` this stage needs: the trained parameters, then the larger of
/// the trainer's arenas ([`Layout`]) and the final SMC pass's.
///
/// # Errors
/// Configuration errors from the kernel.
pub fn needs() -> Result<(usize, usize), Error> {
    let cfg = config();
    let layout = Layout::new(&cfg, DIM)?;
    let (ef, eu) = eval_lens(&cfg)?;
    Ok((
        layout.n_params + layout.f32_len.max(ef),
        layout.u32_len.max(eu),
    ))
}

/// Carves consecutive slices off the front of an arena.
struct Carve<'a> {
    rest: &'a mut [f32],
}

impl<'a> Carve<'a> {
    fn take(&mut self, n: usize) -> Result<&'a mut [f32], RunError> {
        check_arena("f32 (final SMC pass)", n, self.rest.len())?;
        let (a, b) = core::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = b;
        Ok(a)
    }
}

/// Runs the stage over the caller's arenas, printing its report to `out`; returns the
/// checksum of the trained parameters.
///
/// # Errors
/// [`RunError::ArenaTooSmall`] if the arenas are shorter than [`needs`]; kernel errors
/// other than a skipped non-finite step; output errors.
pub fn run<W: Write>(f32s: &mut [f32], u32s: &mut [u32], out: &mut W) -> Result<u64, RunError> {
    let cfg = config();
    let target = target();
    let layout = Layout::new(&cfg, DIM)?;
    let (need_f, need_u) = needs()?;
    check_arena("f32", need_f, f32s.len())?;
    check_arena("u32", need_u, u32s.len())?;
    writeln!(
        out,
        "diffusion: target=9gmm dim={DIM} method=rsmc process=pinned-brownian steps={} \
         batch={} particles={} hidden={} params={} seed={SEED}",
        cfg.steps, cfg.batch, cfg.particles, cfg.hidden, layout.n_params
    )?;
    writeln!(
        out,
        "diffusion: arena f32 {need_f}/{} u32 {need_u}/{}",
        f32s.len(),
        u32s.len()
    )?;
    let np = layout.n_params;
    let (params, work) = f32s.split_at_mut(np);
    let mut rng = rng::seeded(SEED);
    let mut skipped = 0u32;
    let mut last = None;
    let (mut tb_sum, mut subtb_sum, mut window) = (0.0f32, 0.0f32, 0u32);
    {
        let mut views = Views::new(
            &layout,
            &mut work[..layout.f32_len],
            &mut u32s[..layout.u32_len],
        )?;
        let mut st = train::init(&cfg, &layout, &mut views, &mut rng)?;
        let prefilled = train::prefill(&cfg, &mut st, &mut views, &target, &mut rng)?;
        writeln!(
            out,
            "train: start prefill={prefilled} buffer={}",
            st.buffer.len
        )?;
        for i in 0..ITERATIONS {
            match train::step(&cfg, &mut st, &mut views, &target, &mut rng) {
                Ok(info) => {
                    tb_sum += info.tb_loss;
                    subtb_sum += info.subtb_loss;
                    window += 1;
                    last = Some(info);
                }
                Err(Error::NonFinite(_)) => skipped += 1,
                Err(e) => return Err(e.into()),
            }
            if (i + 1) % LOG_EVERY == 0 {
                let k = window.max(1) as f32;
                write!(out, "train: iter={}", i + 1)?;
                f32_field(out, "mean_tb_loss", tb_sum / k)?;
                f32_field(out, "mean_subtb_loss", subtb_sum / k)?;
                f32_field(out, "log_z", views.log_z())?;
                writeln!(out)?;
                (tb_sum, subtb_sum, window) = (0.0, 0.0, 0);
            }
        }
        params.copy_from_slice(views.model.params);
    }
    let info = last.ok_or(RunError::Kernel(Error::Degenerate(
        "every step was skipped",
    )))?;
    write!(out, "train: done iterations={ITERATIONS} skipped={skipped}")?;
    f32_field(out, "tb_loss", info.tb_loss)?;
    f32_field(out, "log_z", params[np - 1])?;
    writeln!(out)?;

    // The final SMC pass, over the trainer's re-carved arena.
    let net = cfg.policy_net(DIM)?;
    let flows = cfg.flows(DIM)?;
    let n = EVAL_PARTICLES;
    let w = SmcWorkspace::lens(n, DIM, cfg.steps, Some(&flows));
    let (wf, wu) = SmcWorkspace::arena_lens(&w);
    let mut c = Carve { rest: work };
    let sched = Schedule::new(
        cfg.process,
        cfg.steps,
        c.take(Schedule::table_len(cfg.steps))?,
    )?;
    let rollout = c.take(Rollout::arena_len(&net, n, cfg.steps, false))?;
    let Rollout {
        mut traj,
        ws: mut pws,
    } = Rollout::carve(&net, n, cfg.steps, false, rollout)?;
    let mut ws = SmcWorkspace::carve(&w, c.take(wf)?, &mut u32s[..wu])?;
    let sampler = layout.sampler(&cfg, &sched, params);
    let si = smc::run(sampler, &target, &mut traj, &mut pws, &mut ws, &mut rng)?;
    write!(out, "smc: particles={n} resamples={}", si.resamples)?;
    f64_field(out, "log_z", si.log_z)?;
    f64_field(out, "ess", si.final_ess_fraction)?;
    if let Some(z) = target.log_z() {
        write!(out, " true_log_z={z}")?;
    }
    writeln!(out)?;
    let sum = fnv1a_f32(params);
    writeln!(out, "diffusion: params={np} fnv1a64={sum:016x}")?;
    Ok(sum)
}
