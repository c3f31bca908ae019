//! `amortise sample --smc`: samples of a diffusion checkpoint drawn by twisted SMC, the way
//! RSMC trains (`kernel::samplers::diffusion::smc`): the policy proposes, the learnt flows
//! twist (the geometric annealing path for a model without flows: tb, tb-buffer), with the
//! run's chunk length, resampling threshold and weight tempering. The final weights are
//! not left to the reader: each pass's particles are resampled systematically from them,
//! so the rows written are equally weighted draws, then put in a random order.
//!
//! `n` rows come from `⌈n / P⌉` independent passes of `P` particles each (the last pass
//! resamples only the rows still needed), so memory is bounded by `P` and the SMC's bias
//! (`O(1/P)`) does not depend on `n`.

use amortise_kernel::rng::{self, Xoshiro256PlusPlus};
use amortise_kernel::samplers::diffusion::policy::Rollout;
use amortise_kernel::samplers::diffusion::reference::Schedule;
use amortise_kernel::samplers::diffusion::smc::{self, SmcInfo, SmcWorkspace};
use amortise_kernel::samplers::diffusion::train::Layout;
use amortise_kernel::smc::resample::{Scheme, resample};

use crate::checkpoint::{Checkpoint, RunSettings};
use crate::error::{CliError, CliResult};

/// Particles of one pass when `--particles` is not given.
pub const DEFAULT_PARTICLES: usize = 10_000;

/// Draws `n` equally weighted rows (`counts = (n, particles)`) of the checkpoint `ck`
/// (`path` names it in messages) by twisted SMC, in the target's coordinates; returns them
/// and their dimension, and prints each pass's `log Ẑ`, final `ESS/N` and resamplings to
/// stderr.
///
/// # Errors
/// A checkpoint that is not a diffusion policy, one whose parameters do not fit its
/// configuration, a kernel error (every particle at zero weight), or non-finite rows.
pub fn sample(
    ck: &Checkpoint,
    path: &str,
    counts: (usize, usize),
    seed: u64,
) -> CliResult<(Vec<f32>, usize)> {
    let (n, particles) = counts;
    let RunSettings::Diffusion(rc) = &ck.settings else {
        return Err(CliError::flag(
            "--smc",
            format!(
                "needs a diffusion checkpoint (tb, tb-buffer, rsmc); {path} is a `{}` checkpoint",
                ck.kind()
            ),
        ));
    };
    super::sample::check_values(n, rc.dim)?;
    let target = super::run_target(rc)?;
    let cfg = rc.train_config()?;
    let kernel = |what: &'static str| move |e| CliError::kernel(what, e);
    let layout = Layout::new(&cfg, rc.dim).map_err(kernel("checkpoint layout"))?;
    if layout.n_params != ck.params.len() {
        return Err(CliError::file(
            path,
            "checkpoint is corrupt (parameter count does not match its configuration)",
        ));
    }
    let mut table = vec![0.0f32; Schedule::table_len(cfg.steps)];
    let sched = Schedule::new(cfg.process, cfg.steps, &mut table).map_err(kernel("schedule"))?;
    let sampler = layout.sampler(&cfg, &sched, &ck.params);
    let (d, t) = (rc.dim, cfg.steps);
    let p = particles.min(n);
    let mut rollout = vec![0.0f32; Rollout::arena_len(&layout.net, p, t, false)];
    let lens = SmcWorkspace::lens(p, d, t, layout.flows.as_ref());
    let (fl, ul) = SmcWorkspace::arena_lens(&lens);
    let (mut fa, mut ua) = (vec![0.0f32; fl], vec![0u32; ul]);
    let mut r = rng::seeded(seed);
    let mut rows = Vec::with_capacity(n * d);
    let mut infos = Vec::new();
    while rows.len() < n * d {
        let Rollout {
            mut traj,
            ws: mut pws,
        } = Rollout::carve(&layout.net, p, t, false, &mut rollout).map_err(kernel("rollout"))?;
        let mut ws = SmcWorkspace::carve(&lens, &mut fa, &mut ua).map_err(kernel("smc"))?;
        let info = smc::run(sampler, &target, &mut traj, &mut pws, &mut ws, &mut r)
            .map_err(kernel("twisted SMC"))?;
        let m = (n - rows.len() / d).min(p);
        let drawn = draw(traj.terminal(), ws.log_w, m, &mut r)?;
        rows.extend_from_slice(&drawn);
        infos.push(info);
    }
    shuffle_rows(&mut rows, d, &mut r);
    target.to_target_coords(&mut rows);
    if rows.iter().any(|v| !v.is_finite()) {
        return Err(CliError::file(
            path,
            "the checkpoint's model produced non-finite samples",
        ));
    }
    report(&infos, p);
    Ok((rows, d))
}

/// `m` rows of `x` (`N × d`) resampled systematically from the log-weights `log_w` (`N`).
fn draw(x: &[f32], log_w: &[f32], m: usize, r: &mut Xoshiro256PlusPlus) -> CliResult<Vec<f32>> {
    let d = x.len() / log_w.len().max(1);
    let top = log_w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let w: Vec<f32> = log_w.iter().map(|&l| (l - top).exp()).collect();
    let mut anc = vec![0u32; m];
    resample(Scheme::Systematic, &w, &[rng::uniform_f64(r)], &mut anc)
        .map_err(|e| CliError::kernel("resampling the final particles", e))?;
    let mut out = Vec::with_capacity(m * d);
    for &a in &anc {
        let a = a as usize;
        out.extend_from_slice(&x[a * d..(a + 1) * d]);
    }
    Ok(out)
}

/// Puts the `d`-wide rows of `rows` in a uniformly random order (Fisher–Yates), so that a
/// reader taking the first rows does not get a resampled particle's copies together.
fn shuffle_rows(rows: &mut [f32], d: usize, r: &mut Xoshiro256PlusPlus) {
    let n = rows.len() / d.max(1);
    for i in (1..n).rev() {
        let j = ((rng::uniform_f64(r) * (i + 1) as f64) as usize).min(i);
        if j != i {
            for k in 0..d {
                rows.swap(i * d + k, j * d + k);
            }
        }
    }
}

fn report(infos: &[SmcInfo], p: usize) {
    let k = infos.len() as f64;
    let mean = |f: &dyn Fn(&SmcInfo) -> f64| infos.iter().map(f).sum::<f64>() / k;
    let log_z = mean(&|i| i.log_z);
    let sd = (infos.iter().map(|i| (i.log_z - log_z).powi(2)).sum::<f64>() / k).sqrt();
    eprintln!(
        "smc: {} pass(es) of {p} particles: log Z {log_z:.3} (sd {sd:.3} over passes), \
         final ESS/N {:.4}, {:.1} resamplings a pass",
        infos.len(),
        mean(&|i| i.final_ess_fraction),
        mean(&|i| i.resamples as f64),
    );
}
