//! `amortise ebm`: trains an energy-based model on a 2-D synthetic data set by contrastive
//! divergence with the Value Gradient Sampler as the negative sampler (Yoon et al. 2025,
//! report B1.4; kernel `ebm`). Each iteration: one VGS TD iteration against the current
//! energy (`n_update` epochs), `B` VGS negatives (`ν = 1`), one CD step on `B` data rows and
//! the negatives.
//!
//! Writes `metrics.jsonl` (one line per evaluation), `summary.json`, `density.svg` (the
//! learnt `exp(−E)` on a grid, normalised by its maximum) and `samples.svg` (VGS samples
//! over held-out data). Quality: the MMD (Gaussian kernel, fixed bandwidth
//! [`MMD_BANDWIDTH`]) between VGS samples and held-out data, next to the same MMD between
//! two independent held-out sets (the noise floor).

use std::time::Instant;

use amortise_kernel::ebm::{self, EnergyFn, Toy, Views};
use amortise_kernel::metrics::mmd;
use amortise_kernel::rng;
use amortise_kernel::samplers::vgs::{self, Draw};
use plotters::prelude::*;
use serde_json::json;

use super::json_num;
use crate::cli::EbmArgs;
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};

/// Bandwidth `h` of the evaluation MMD kernel `exp(−‖x − y‖²/(2h²))`.
pub const MMD_BANDWIDTH: f64 = 0.5;
/// Training-set size.
const N_TRAIN: usize = 20_000;
/// Largest energy + VGS arena, in 4-byte numbers (1 GiB).
pub const MAX_ARENA: usize = 1 << 28;
/// Plot window `[−LIM, LIM]²`.
const LIM: f64 = 4.5;

struct Eval {
    mmd: f64,
    samples: Vec<f32>,
}

/// The run's arenas, carved into the trainer's views on each call.
struct Arenas {
    layout: ebm::Layout,
    f32: Vec<f32>,
    u32: Vec<u32>,
}

impl Arenas {
    fn views(&mut self) -> CliResult<Views<'_>> {
        Views::new(&self.layout, &mut self.f32, &mut self.u32)
            .map_err(|k| CliError::kernel("ebm arenas", k))
    }
}

/// `n` VGS samples (`ν = 1`, final noise) against the current energy.
fn sample(
    cfg: &ebm::Config,
    a: &mut Arenas,
    n: usize,
    r: &mut rng::Xoshiro256PlusPlus,
) -> CliResult<Vec<f32>> {
    let mut out = vec![0.0f32; 2 * n];
    let mut lw = vec![0.0f32; n];
    let layout = a.layout;
    let v = a.views()?;
    let ef = ebm::energy_fn(&layout, v.model.params).map_err(|k| CliError::kernel("ebm", k))?;
    let draw = Draw {
        nu: 1.0,
        final_noise: true,
        out: &mut out,
        log_w: &mut lw,
    };
    let mut vv = v.vgs;
    vgs::sample(&cfg.vgs, &mut vv, &ef, draw, r)
        .map_err(|k| CliError::kernel("vgs sampling", k))?;
    Ok(out)
}

fn evaluate(
    cfg: &ebm::Config,
    a: &mut Arenas,
    held: &[f32],
    r: &mut rng::Xoshiro256PlusPlus,
) -> CliResult<Eval> {
    let s = sample(cfg, a, held.len() / 2, r)?;
    let (m, _) = mmd::mmd_with_bandwidth(&s, held, 2, MMD_BANDWIDTH)
        .map_err(|k| CliError::kernel("mmd", k))?;
    Ok(Eval { mmd: m, samples: s })
}

/// The validated settings of `amortise ebm`: data set, trainer configuration (the VGS
/// negative sampler's inside) and its arena layout.
pub struct Settings {
    /// The data set.
    pub toy: Toy,
    /// Trainer configuration.
    pub cfg: ebm::Config,
    /// Arena layout.
    pub layout: ebm::Layout,
}

/// Checks the flags (everything `run` checks before working).
pub fn settings(a: &EbmArgs) -> CliResult<Settings> {
    let toy = Toy::from_name(&a.data).map_err(|e| CliError::flag("--data", e.to_string()))?;
    if a.iters == 0 {
        return Err(CliError::flag("--iters", "must be >= 1"));
    }
    if a.eval_samples < 2 || a.eval_samples > 20_000 {
        return Err(CliError::flag("--eval-samples", "must be in 2..=20000"));
    }
    let vcfg = vgs::Config {
        steps: a.steps,
        batch: a.batch,
        hidden: a.vgs_hidden,
        n_update: a.n_update,
        init_lr: a.init_lr,
        ..vgs::Config::default()
    };
    let cfg = ebm::Config {
        hidden: a.hidden,
        batch: a.batch,
        lr: a.lr,
        gamma: a.gamma,
        vgs: vcfg,
        ..ebm::Config::default()
    };
    vgs::Layout::new(&vcfg, 2).map_err(|e| CliError::flag("--steps", e.to_string()))?;
    let layout =
        ebm::Layout::new(&cfg, 2).map_err(|e| CliError::flag("--hidden", e.to_string()))?;
    // `--batch 100000000` or `--hidden 100000000` used to abort on allocation failure
    // (tests/robustness_cli.rs): bound the arenas before allocating them.
    let total = layout.f32_len.saturating_add(layout.u32_len);
    if total > MAX_ARENA {
        return Err(CliError::flag(
            "--batch",
            format!(
                "these settings need {total} numbers of memory (limit {MAX_ARENA}); reduce --batch, --hidden, --vgs-hidden or --steps"
            ),
        ));
    }
    Ok(Settings { toy, cfg, layout })
}

/// Runs `amortise ebm`.
pub fn run(a: &EbmArgs) -> CliResult<()> {
    let Settings { toy, cfg, layout } = settings(a)?;
    let (ecfg, vcfg) = (cfg, cfg.vgs);
    std::fs::create_dir_all(&a.out).map_err(|e| CliError::file(&a.out, e.to_string()))?;

    let mut r = rng::seeded(a.seed);
    let mut train = vec![0.0f32; 2 * N_TRAIN];
    toy.fill(&mut r, &mut train)
        .map_err(|e| CliError::kernel("data", e))?;
    let n_eval = a.eval_samples;
    let mut held = vec![0.0f32; 2 * n_eval];
    let mut held2 = vec![0.0f32; 2 * n_eval];
    toy.fill(&mut r, &mut held)
        .map_err(|e| CliError::kernel("data", e))?;
    toy.fill(&mut r, &mut held2)
        .map_err(|e| CliError::kernel("data", e))?;
    let (floor, _) = mmd::mmd_with_bandwidth(&held2, &held, 2, MMD_BANDWIDTH)
        .map_err(|k| CliError::kernel("mmd", k))?;

    let mut ar = Arenas {
        layout,
        f32: vec![0.0f32; layout.f32_len],
        u32: vec![0u32; layout.u32_len],
    };
    let mut state = ebm::init(&cfg, &layout, &mut ar.views()?, &mut r)
        .map_err(|k| CliError::kernel("ebm", k))?;
    let mut er = rng::seeded(a.seed ^ 0x9e37_79b9_7f4a_7c15);
    let first = evaluate(&cfg, &mut ar, &held, &mut er)?;
    let mmd_initial = first.mmd;

    let every = a.eval_every.unwrap_or((a.iters / 10).max(1)).max(1);
    let mut lines = String::new();
    let start = Instant::now();
    let mut last = None;
    let mut best = f64::INFINITY;
    for it in 0..a.iters {
        let info = ebm::step(&cfg, &mut state, &mut ar.views()?, &train, &mut r)
            .map_err(|k| CliError::kernel("ebm step", k))?;
        let vi = info.vgs;
        if (it + 1) % every == 0 || it + 1 == a.iters {
            let ev = evaluate(&cfg, &mut ar, &held, &mut er)?;
            best = best.min(ev.mmd);
            let line = json!({
                "iter": it + 1,
                "loss": json_num(info.loss),
                "e_pos": json_num(info.e_pos),
                "e_neg": json_num(info.e_neg),
                "grad_norm": json_num(info.grad_norm as f64),
                "td_loss": json_num(vi.td_loss),
                "init_sigma": json_num(vi.init_sigma as f64),
                "mmd": json_num(ev.mmd),
                "seconds": start.elapsed().as_secs_f64(),
            });
            eprintln!("{line}");
            lines.push_str(&line.to_string());
            lines.push('\n');
            last = Some((info, vi, ev));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let Some((info, vi, ev)) = last else {
        return Err(CliError::flag("--iters", "must be >= 1"));
    };
    let p = |f: &str| format!("{}/{f}", a.out);
    write_atomic(&p("metrics.jsonl"), lines.as_bytes())?;
    {
        let v = ar.views()?;
        let ef = ebm::energy_fn(&layout, v.model.params).map_err(|k| CliError::kernel("ebm", k))?;
        density_svg(&p("density.svg"), &ef, toy.name())?;
    }
    samples_svg(&p("samples.svg"), &ev.samples, &held, toy.name())?;
    let summary = json!({
        "command": "ebm",
        "data": toy.name(),
        "iters": a.iters,
        "seed": a.seed,
        "seconds": secs,
        "ebm": { "hidden": ecfg.hidden, "depth": ecfg.depth, "gamma": ecfg.gamma,
                 "lr": ecfg.lr, "batch": ecfg.batch },
        "vgs": { "steps": vcfg.steps, "hidden": vcfg.hidden, "n_update": vcfg.n_update, "init_lr": vcfg.init_lr,
                 "s2_start": vcfg.s2_start, "s2_end": vcfg.s2_end, "alpha": "vp" },
        "mmd_bandwidth": MMD_BANDWIDTH,
        "eval_samples": n_eval,
        "mmd_initial": json_num(mmd_initial),
        "mmd_final": json_num(ev.mmd),
        "mmd_best": json_num(best),
        "mmd_data_vs_data": json_num(floor),
        "final_loss": json_num(info.loss),
        "final_e_pos": json_num(info.e_pos),
        "final_e_neg": json_num(info.e_neg),
        "final_td_loss": json_num(vi.td_loss),
        "init_sigma": json_num(vi.init_sigma as f64),
    });
    let text = serde_json::to_string_pretty(&summary)
        .map_err(|e| CliError::file(p("summary.json"), e.to_string()))?;
    write_atomic(&p("summary.json"), text.as_bytes())?;
    println!("{text}");
    Ok(())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn density_svg(path: &str, e: &EnergyFn<'_>, name: &str) -> CliResult<()> {
    draw_density(path, e, name).map_err(|x| CliError::file(path, format!("cannot draw: {x}")))
}

fn draw_density(path: &str, ef: &EnergyFn<'_>, name: &str) -> DrawResult {
    let root = SVGBackend::new(path, (560, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{name}: learnt exp(-E)"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(-LIM..LIM, -LIM..LIM)?;
    chart.configure_mesh().disable_mesh().draw()?;
    let n = 100usize;
    let dx = 2.0 * LIM / n as f64;
    let mut grid = vec![0.0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            let x = [
                (-LIM + (i as f64 + 0.5) * dx) as f32,
                (-LIM + (j as f64 + 0.5) * dx) as f32,
            ];
            grid[i * n + j] = -ef.energy(&x, None);
        }
    }
    let max = grid
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    chart.draw_series((0..n * n).map(|k| {
        let (i, j) = (k / n, k % n);
        let t = if grid[k].is_finite() {
            ((grid[k] - max) as f64).exp().clamp(0.0, 1.0)
        } else {
            0.0
        };
        let c = RGBColor(
            (255.0 - 230.0 * t) as u8,
            (255.0 - 170.0 * t) as u8,
            (255.0 - 60.0 * t) as u8,
        );
        let (ax, ay) = (-LIM + i as f64 * dx, -LIM + j as f64 * dx);
        Rectangle::new([(ax, ay), (ax + dx, ay + dx)], c.filled())
    }))?;
    root.present()?;
    Ok(())
}

fn samples_svg(path: &str, s: &[f32], data: &[f32], name: &str) -> CliResult<()> {
    draw_samples(path, s, data, name).map_err(|x| CliError::file(path, format!("cannot draw: {x}")))
}

fn draw_samples(path: &str, s: &[f32], data: &[f32], name: &str) -> DrawResult {
    let root = SVGBackend::new(path, (560, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{name}: VGS samples (red) over held-out data (grey)"),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(-LIM..LIM, -LIM..LIM)?;
    chart.configure_mesh().disable_mesh().draw()?;
    let inside = |p: &&[f32]| {
        p[0].is_finite()
            && p[1].is_finite()
            && (p[0] as f64).abs() < LIM
            && (p[1] as f64).abs() < LIM
    };
    chart.draw_series(data.chunks_exact(2).filter(inside).map(|p| {
        Circle::new(
            (p[0] as f64, p[1] as f64),
            2,
            RGBColor(120, 120, 120).mix(0.5).filled(),
        )
    }))?;
    chart.draw_series(s.chunks_exact(2).filter(inside).map(|p| {
        Circle::new(
            (p[0] as f64, p[1] as f64),
            2,
            RGBColor(200, 40, 40).mix(0.6).filled(),
        )
    }))?;
    root.present()?;
    Ok(())
}
