//! `amortise ebm`: trains an energy-based model on a 2-D synthetic data set by contrastive
//! divergence with the Value Gradient Sampler as the negative sampler (Yoon et al. 2025,
//! report B1.4; kernel `ebm`). Each iteration: one VGS TD iteration against the current
//! energy (`n_update` epochs), `B` VGS negatives (`ν = 1`), one CD step on `B` data rows and
//! the negatives.
//!
//! Writes `metrics.jsonl` (one line per evaluation), `summary.json`, `density.svg` (the
//! learnt `exp(−E)` on a grid, normalised by its maximum), `samples.svg` (VGS samples
//! over held-out data) and `checkpoint.json` (the energy and its VGS sampler; `amortise
//! sample` draws from the sampler). The loop, Ctrl-C included, is [`crate::run_loop`].
//!
//! Quality: the MMD (Gaussian kernel, fixed bandwidth [`MMD_BANDWIDTH`]) between VGS
//! samples and held-out data, next to the same MMD between two independent held-out sets
//! (the noise floor).

use amortise_kernel::ebm::{self, EnergyFn, Toy, Views};
use amortise_kernel::metrics::mmd;
use amortise_kernel::rng;
use amortise_kernel::samplers::vgs::{self, Draw};
use plotters::prelude::*;
use serde_json::json;

use super::json_num;
use super::resume::Then;
use crate::checkpoint::{Checkpoint, Group, RunSettings, TrainerState};
use crate::cli::EbmArgs;
use crate::error::{CliError, CliResult};
use crate::run_loop::{self, At, Metrics, Outcome, Run, opt};
use crate::snapshot::{self, Buffers, Snapshot};

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
    // the VGS width of `train-vgs --hidden`, bounded by the same rule (an unbounded width
    // overflowed the parameter count: found by the snapshot fuzz target)
    let max_width = amortise_settings::Limits::CLI.max_width;
    if a.vgs_hidden == 0 || a.vgs_hidden > max_width {
        return Err(CliError::flag(
            "--vgs-hidden",
            format!("must be between 1 and {max_width}"),
        ));
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

/// The settings of an `amortise ebm` run, as a checkpoint stores them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EbmSettings {
    /// Data set.
    pub data: String,
    /// CD iterations.
    pub iters: u32,
    /// Random seed.
    pub seed: u64,
    /// Batch `B`.
    pub batch: usize,
    /// Hidden width of the energy MLP.
    pub hidden: usize,
    /// Energy learning rate.
    pub lr: f32,
    /// Weight of the squared-energy regulariser.
    pub gamma: f32,
    /// Learning rate of the VGS `σ_init`.
    pub init_lr: f32,
    /// VGS steps `T`.
    pub steps: usize,
    /// Hidden width of the VGS value network.
    pub vgs_hidden: usize,
    /// VGS TD epochs per iteration.
    pub n_update: u32,
    /// VGS samples and held-out points per evaluation.
    pub eval_samples: usize,
}

impl EbmSettings {
    /// The settings of these arguments.
    pub fn of(a: &EbmArgs) -> Self {
        EbmSettings {
            data: a.data.clone(),
            iters: a.iters,
            seed: a.seed,
            batch: a.batch,
            hidden: a.hidden,
            lr: a.lr,
            gamma: a.gamma,
            init_lr: a.init_lr,
            steps: a.steps,
            vgs_hidden: a.vgs_hidden,
            n_update: a.n_update,
            eval_samples: a.eval_samples,
        }
    }

    /// The `amortise ebm` arguments these settings stand for (no output folder).
    pub fn args(&self) -> EbmArgs {
        EbmArgs {
            data: self.data.clone(),
            out: String::new(),
            iters: self.iters,
            seed: self.seed,
            batch: self.batch,
            hidden: self.hidden,
            lr: self.lr,
            gamma: self.gamma,
            init_lr: self.init_lr,
            steps: self.steps,
            vgs_hidden: self.vgs_hidden,
            n_update: self.n_update,
            eval_every: None,
            eval_samples: self.eval_samples,
            resume: Default::default(),
        }
    }
}

/// The checkpoint groups of an EBM run with these settings (`energy`, and the negative
/// sampler's `value`, `value_target`, `log_sigma`), after checking the settings by the
/// flags' rules ([`settings`]).
///
/// # Errors
/// The flag error `amortise ebm` would give.
pub fn checkpoint_groups(s: &EbmSettings) -> CliResult<Vec<(&'static str, usize)>> {
    let Settings { layout, .. } = settings(&s.args())?;
    let n = layout.vgs.n_params;
    Ok(vec![
        ("energy", layout.n_params),
        ("value", n),
        ("value_target", n),
        ("log_sigma", 1),
    ])
}

/// Draws `n` samples from an EBM checkpoint's negative sampler (VGS against the learnt
/// energy, `ν = 1`, final noise, as during training); returns them and the dimension (2).
///
/// # Errors
/// Settings or groups that do not rebuild the model (checked when loading), kernel errors.
pub fn sample_checkpoint(
    s: &EbmSettings,
    ck: &Checkpoint,
    n: usize,
    seed: u64,
) -> CliResult<(Vec<f32>, usize)> {
    super::sample::check_values(n, 2)?;
    let Settings { cfg, layout, .. } = settings(&s.args())?;
    let mut ar = Arenas {
        layout,
        f32: vec![0.0f32; layout.f32_len],
        u32: vec![0u32; layout.u32_len],
    };
    {
        let mut v = ar.views()?;
        let energy = ck
            .group("energy")
            .ok_or_else(|| CliError::file("checkpoint", "no `energy` parameter group"))?;
        if energy.len() != v.model.params.len() {
            return Err(CliError::file(
                "checkpoint",
                "energy size does not match its configuration",
            ));
        }
        v.model.params.copy_from_slice(energy);
        super::vgs::restore(&mut v.vgs, ck, "value", "value_target")?;
    }
    let mut r = rng::seeded(seed);
    Ok((sample(&cfg, &mut ar, n, &mut r)?, 2))
}

/// The EBM trainer, driven by [`crate::run_loop`].
struct EbmRun {
    settings: EbmSettings,
    toy: Toy,
    cfg: ebm::Config,
    ar: Arenas,
    state: ebm::State,
    r: rng::Xoshiro256PlusPlus,
    er: rng::Xoshiro256PlusPlus,
    train: Vec<f32>,
    held: Vec<f32>,
    floor: f64,
    mmd_initial: f64,
    best: f64,
    out: String,
    info: Option<ebm::Info>,
    last: Option<(ebm::Info, Eval)>,
}

/// What an EBM run carries from one step to the next (the body of its resume snapshot).
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    state: ebm::State,
    r: rng::Xoshiro256PlusPlus,
    er: rng::Xoshiro256PlusPlus,
    buffers: Buffers,
    info: Option<ebm::Info>,
    mmd_initial: f64,
    best: f64,
}

impl Run for EbmRun {
    fn step(&mut self, _it: u32) -> CliResult<()> {
        let info = ebm::step(
            &self.cfg,
            &mut self.state,
            &mut self.ar.views()?,
            &self.train,
            &mut self.r,
        )
        .map_err(|k| CliError::kernel("ebm step", k))?;
        self.info = Some(info);
        Ok(())
    }

    fn status(&self) -> String {
        let loss = self.info.map_or(f64::NAN, |i| i.loss);
        let mmd = self.last.as_ref().map_or(f64::NAN, |l| l.1.mmd);
        format!(
            "loss {}  mmd {} (data vs data {})",
            opt(loss, 4),
            opt(mmd, 4),
            opt(self.floor, 4)
        )
    }

    fn evaluate(&mut self, at: At) -> CliResult<serde_json::Value> {
        let Some(info) = self.info else {
            return Err(CliError::flag("--iters", "must be >= 1"));
        };
        let ev = evaluate(&self.cfg, &mut self.ar, &self.held, &mut self.er)?;
        self.best = self.best.min(ev.mmd);
        let vi = info.vgs;
        let line = json!({
            "iter": at.iteration,
            "loss": json_num(info.loss),
            "e_pos": json_num(info.e_pos),
            "e_neg": json_num(info.e_neg),
            "grad_norm": json_num(info.grad_norm as f64),
            "td_loss": json_num(vi.td_loss),
            "init_sigma": json_num(vi.init_sigma as f64),
            "mmd": json_num(ev.mmd),
            "seconds": at.seconds,
        });
        self.last = Some((info, ev));
        Ok(line)
    }

    fn checkpoint(&mut self) -> CliResult<Checkpoint> {
        let v = self.ar.views()?;
        let (vg, vp) = super::vgs::groups(&v.vgs, "value", "value_target");
        let mut groups = vec![Group::new("energy", v.model.params.len())];
        groups.extend(vg);
        let mut params = v.model.params.to_vec();
        params.extend(vp);
        let st = self.state;
        let mut counters = std::collections::BTreeMap::new();
        counters.insert("vgs_iteration".to_string(), st.vgs.iteration as u64);
        counters.insert("vgs_optim_steps".to_string(), st.vgs.optim.adam.t as u64);
        counters.insert(
            "sigma_optim_steps".to_string(),
            st.vgs.sigma_optim.adam.t as u64,
        );
        Ok(Checkpoint::new(
            RunSettings::Ebm(self.settings.clone()),
            TrainerState {
                iteration: st.iteration,
                optim_steps: st.optim.adam.t,
                skipped_steps: st.optim.skipped,
                counters,
            },
            groups,
            params,
        ))
    }

    fn settings(&self) -> RunSettings {
        RunSettings::Ebm(self.settings.clone())
    }

    fn save(&mut self) -> CliResult<Vec<u8>> {
        let mut v = self.ar.views()?;
        let buffers = Buffers::save(|f| v.carried(f));
        snapshot::encode(&Saved {
            state: self.state,
            r: self.r.clone(),
            er: self.er.clone(),
            buffers,
            info: self.info,
            mmd_initial: self.mmd_initial,
            best: self.best,
        })
    }

    fn restore(&mut self, body: &[u8]) -> CliResult<()> {
        let s: Saved = snapshot::decode(&self.out, body)?;
        snapshot::clear(&mut self.ar.f32, &mut self.ar.u32);
        let mut v = self.ar.views()?;
        s.buffers.restore(&self.out, |f| v.carried(f))?;
        (self.state, self.r, self.er, self.info) = (s.state, s.r, s.er, s.info);
        (self.mmd_initial, self.best) = (s.mmd_initial, s.best);
        Ok(())
    }

    fn finish(&mut self, o: &Outcome, _: &mut Metrics) -> CliResult<serde_json::Value> {
        let Some((info, ev)) = self.last.take() else {
            return Err(CliError::flag("--iters", "must be >= 1"));
        };
        let vi = info.vgs;
        let p = |f: &str| format!("{}/{f}", self.out);
        let layout = self.ar.layout;
        {
            let v = self.ar.views()?;
            let ef =
                ebm::energy_fn(&layout, v.model.params).map_err(|k| CliError::kernel("ebm", k))?;
            density_svg(&p("density.svg"), &ef, self.toy.name())?;
        }
        samples_svg(&p("samples.svg"), &ev.samples, &self.held, self.toy.name())?;
        let (ecfg, vcfg) = (self.cfg, self.cfg.vgs);
        let s = &self.settings;
        Ok(json!({
            "command": "ebm",
            "data": self.toy.name(),
            "iters": s.iters,
            "seed": s.seed,
            "seconds": o.seconds,
            "ebm": { "hidden": ecfg.hidden, "depth": ecfg.depth, "gamma": ecfg.gamma,
                     "lr": ecfg.lr, "batch": ecfg.batch },
            "vgs": { "steps": vcfg.steps, "hidden": vcfg.hidden, "n_update": vcfg.n_update, "init_lr": vcfg.init_lr,
                     "s2_start": vcfg.s2_start, "s2_end": vcfg.s2_end, "alpha": "vp" },
            "mmd_bandwidth": MMD_BANDWIDTH,
            "eval_samples": s.eval_samples,
            "mmd_initial": json_num(self.mmd_initial),
            "mmd_final": json_num(ev.mmd),
            "mmd_best": json_num(self.best),
            "mmd_data_vs_data": json_num(self.floor),
            "final_loss": json_num(info.loss),
            "final_e_pos": json_num(info.e_pos),
            "final_e_neg": json_num(info.e_neg),
            "final_td_loss": json_num(vi.td_loss),
            "init_sigma": json_num(vi.init_sigma as f64),
        }))
    }
}

/// The files `amortise ebm` writes besides the loop's.
const FILES: &str = "density.svg, samples.svg";

/// Runs `amortise ebm` through [`crate::run_loop`].
pub fn run(a: &EbmArgs) -> CliResult<()> {
    if let Some(dir) = &a.resume.resume {
        let ch = super::resume::Changes {
            iters: a.iters,
            threads: 1,
            eval_reference: None,
        };
        return super::resume::run(dir, &a.resume, ch, super::resume::Command::Ebm);
    }
    let mut run = EbmRun::new(a)?;
    run.mmd_initial = evaluate(&run.cfg, &mut run.ar, &run.held, &mut run.er)?.mmd;
    let s = run_loop::Settings::new(&a.out, a.iters, a.eval_every, &a.resume, FILES);
    run_loop::run(&mut run, &s).map(|_| ())
}

/// Rebuilds an EBM run (settings `s`, iterations to run included) in `out`, restores it
/// from its snapshot `sn` and hands it to `f`.
pub(super) fn resume<T>(s: &EbmSettings, sn: &Snapshot, out: &str, f: Then<'_, T>) -> CliResult<T> {
    let mut a = s.args();
    a.out = out.to_string();
    let mut run = EbmRun::new(&a)?;
    super::resume::restore(&mut run, sn)?;
    f(&mut run, &run_loop::Settings::resuming(out, sn, FILES))
}

impl EbmRun {
    /// The run of `a`: its data sets (training, held-out and the noise-floor set, drawn from
    /// the seed), the initialised trainer and the evaluation stream (creates `a.out`).
    fn new(a: &EbmArgs) -> CliResult<Self> {
        let Settings { toy, cfg, layout } = settings(a)?;
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
        let state = ebm::init(&cfg, &layout, &mut ar.views()?, &mut r)
            .map_err(|k| CliError::kernel("ebm", k))?;
        Ok(EbmRun {
            settings: EbmSettings::of(a),
            toy,
            cfg,
            ar,
            state,
            r,
            er: rng::seeded(a.seed ^ 0x9e37_79b9_7f4a_7c15),
            train,
            held,
            floor,
            mmd_initial: f64::NAN,
            best: f64::INFINITY,
            out: a.out.clone(),
            info: None,
            last: None,
        })
    }
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
