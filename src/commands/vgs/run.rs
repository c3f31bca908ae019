//! The VGS trainer driven by [`crate::run_loop`], and the start of a new or resumed run.

use std::time::Instant;

use amortise_kernel::rng;
use amortise_kernel::samplers::vgs::{self, Config, Draw, Layout};
use amortise_kernel::targets::{LogDensity, Target};
use serde_json::json;

use super::super::json_num;
use super::{VgsEval, VgsSettings, check, evaluate, groups, reference, views};
use crate::checkpoint::{Checkpoint, RunSettings, TrainerState};
use crate::cli::TrainVgsArgs;
use crate::commands::resume::Then;
use crate::csv;
use crate::error::{CliError, CliResult};
use crate::plot;
use crate::run_loop::{self, At, Metrics, Outcome, Run, opt};
use crate::snapshot::{self, Buffers, Snapshot};

/// The files a VGS run writes besides the loop's.
const FILES: &str = "samples.csv, samples.svg";

/// A new run of `a`.
pub(super) fn start(a: &TrainVgsArgs) -> CliResult<()> {
    built(a, None, true, |run, out| {
        let mut s = run_loop::Settings::new(out, a.iters, a.eval_every, &a.resume, FILES);
        s.launch.reference = a.reference.clone();
        run_loop::run(run, &s).map(|_| ())
    })
}

/// Rebuilds the run of the snapshot `sn` (settings `a`) in its folder `out`, restores it
/// and hands it to `f`.
pub(super) fn resumed<T>(
    a: &TrainVgsArgs,
    sn: &Snapshot,
    out: &str,
    f: Then<'_, T>,
) -> CliResult<T> {
    built(a, Some(out), !sn.launch.rebuild_only, |run, out| {
        crate::commands::resume::restore(run, sn)?;
        f(run, &run_loop::Settings::resuming(out, sn, FILES))
    })
}

/// The initialised run of `a` in the folder `out` (default: named after the target, the
/// steps and the seed; created), handed to `f` with that folder; without its reference
/// samples unless `evaluates`.
fn built<T>(
    a: &TrainVgsArgs,
    out: Option<&str>,
    evaluates: bool,
    f: impl FnOnce(&mut VgsRun<'_>, &str) -> CliResult<T>,
) -> CliResult<T> {
    let (target, cfg, layout, nu) = check(a)?;
    let name = target.name();
    let out = match (out, a.out.as_deref()) {
        (Some(dir), _) | (None, Some(dir)) => dir.to_string(),
        (None, None) => format!("out/{}-vgs-T{}-s{}", name, cfg.steps, a.seed),
    };
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::file(&out, format!("cannot create output folder: {e}")))?;
    let reference = match evaluates {
        true => reference(&target, a.eval_samples, a.reference.as_deref())?,
        false => None,
    };
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(a.seed);
    let state = vgs::init(
        &cfg,
        &layout,
        &mut views(&layout, &mut fa, &mut ua)?,
        &mut r,
    )
    .map_err(|e| CliError::kernel("building the sampler", e))?;
    let settings = VgsSettings {
        target: name.to_string(),
        iters: a.iters,
        seed: a.seed,
        steps: cfg.steps,
        batch: cfg.batch,
        hidden: cfg.hidden,
        lr: cfg.lr,
        eval_noise: nu,
        eval_samples: a.eval_samples,
    };
    let mut run = VgsRun {
        settings,
        cfg,
        layout,
        fa,
        ua,
        state,
        r,
        eval_rng: rng::seeded(a.seed ^ 0x5eed_e7a1),
        target: &target,
        reference,
        out: out.clone(),
        last: None,
        last_eval: None,
    };
    f(&mut run, &out)
}

/// The VGS trainer, driven by [`crate::run_loop`]: arenas, kernel state, the reference
/// samples and the random streams.
struct VgsRun<'a> {
    settings: VgsSettings,
    cfg: Config,
    layout: Layout,
    fa: Vec<f32>,
    ua: Vec<u32>,
    state: vgs::State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    target: &'a Target,
    reference: Option<Vec<f32>>,
    out: String,
    last: Option<vgs::Info>,
    last_eval: Option<VgsEval>,
}

impl VgsRun<'_> {
    /// `n` = `eval_samples` samples at `ν` with the configuration's final noise.
    fn draw(&mut self) -> CliResult<(Vec<f32>, Vec<f32>, u32)> {
        let (n, d) = (self.settings.eval_samples, self.target.dim());
        let (mut xs, mut lw) = (vec![0.0f32; n * d], vec![0.0f32; n]);
        let draw = Draw {
            nu: self.settings.eval_noise,
            final_noise: self.cfg.final_noise,
            out: &mut xs,
            log_w: &mut lw,
        };
        let mut v = views(&self.layout, &mut self.fa, &mut self.ua)?;
        let si = vgs::sample(&self.cfg, &mut v, self.target, draw, &mut self.eval_rng)
            .map_err(|e| CliError::kernel("sampling", e))?;
        Ok((xs, lw, si.non_finite))
    }

    /// Draws the evaluation samples and evaluates them (`full`: every metric, for the final
    /// line); returns the samples, the evaluation and the seconds the draw took.
    fn draw_evaluated(&mut self, full: bool) -> CliResult<(Vec<f32>, VgsEval, f64)> {
        let ts = Instant::now();
        let (mut xs, lw, non_finite) = self.draw()?;
        let seconds = ts.elapsed().as_secs_f64();
        let reference = self.reference.as_deref();
        let mut ev = evaluate(
            self.target.name(),
            self.target,
            &mut xs,
            &lw,
            reference,
            full,
        )?;
        ev.non_finite = non_finite;
        Ok((xs, ev, seconds))
    }

    fn last_loss(&self) -> f64 {
        self.last.map_or(f64::NAN, |i| i.td_loss)
    }
}

/// What a VGS run carries from one step to the next (the body of its resume snapshot).
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    state: vgs::State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    buffers: Buffers,
    last: Option<vgs::Info>,
}

impl Run for VgsRun<'_> {
    fn step(&mut self, it: u32) -> CliResult<()> {
        let info = vgs::step(
            &self.cfg,
            &mut self.state,
            &mut views(&self.layout, &mut self.fa, &mut self.ua)?,
            self.target,
            &mut self.r,
        )
        .map_err(|e| CliError::kernel(format!("training step {it}"), e))?;
        self.last = Some(info);
        Ok(())
    }

    fn status(&self) -> String {
        let (sigma, energy) = self
            .last
            .map_or((f32::NAN, f64::NAN), |i| (i.init_sigma, i.energy));
        let ev = self.last_eval.as_ref();
        format!(
            "td {}  sigma0 {}  E {}  eval E {}  dev {}",
            opt(self.last_loss(), 4),
            opt(sigma as f64, 3),
            opt(energy, 3),
            opt(ev.map_or(f64::NAN, |e| e.energy_mean), 3),
            opt(ev.and_then(|e| e.mode_mass_max_dev).unwrap_or(f64::NAN), 3),
        )
    }

    fn evaluates_last(&self) -> bool {
        false // `finish` draws the final samples and writes the last line
    }

    fn evaluate(&mut self, at: At) -> CliResult<serde_json::Value> {
        let (_, ev, _) = self.draw_evaluated(false)?;
        let Some(info) = self.last else {
            return Err(CliError::flag("--iters", "must be at least 1"));
        };
        let line = json!({
            "iteration": at.iteration,
            "seconds": at.seconds,
            "td_loss": json_num(info.td_loss),
            "grad_norm": json_num(info.grad_norm as f64),
            "init_sigma": json_num(info.init_sigma as f64),
            "behaviour_energy": json_num(info.energy),
            "eval": ev,
        });
        self.last_eval = Some(ev);
        Ok(line)
    }

    fn checkpoint(&mut self) -> CliResult<Checkpoint> {
        let v = views(&self.layout, &mut self.fa, &mut self.ua)?;
        let (groups, params) = groups(&v, "value", "value_target");
        let st = self.state;
        let mut counters = std::collections::BTreeMap::new();
        counters.insert(
            "sigma_optim_steps".to_string(),
            st.sigma_optim.adam.t as u64,
        );
        Ok(Checkpoint::new(
            RunSettings::Vgs(self.settings.clone()),
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
        RunSettings::Vgs(self.settings.clone())
    }

    fn save(&mut self) -> CliResult<Vec<u8>> {
        let mut v = views(&self.layout, &mut self.fa, &mut self.ua)?;
        snapshot::encode(&Saved {
            state: self.state,
            r: self.r.clone(),
            eval_rng: self.eval_rng.clone(),
            buffers: Buffers::save(|f| v.carried(f)),
            last: self.last,
        })
    }

    fn restore(&mut self, body: &[u8]) -> CliResult<()> {
        let s: Saved = snapshot::decode(&self.out, body)?;
        snapshot::clear(&mut self.fa, &mut self.ua);
        let mut v = views(&self.layout, &mut self.fa, &mut self.ua)?;
        s.buffers.restore(&self.out, |f| v.carried(f))?;
        (self.state, self.r, self.eval_rng, self.last) = (s.state, s.r, s.eval_rng, s.last);
        Ok(())
    }

    fn finish(&mut self, o: &Outcome, metrics: &mut Metrics) -> CliResult<serde_json::Value> {
        let (xs, ev, sample_seconds) = self.draw_evaluated(true)?;
        let name = self.target.name();
        let last_loss = self.last_loss();
        metrics.append(&json!({
            "iteration": o.completed,
            "seconds": o.seconds,
            "td_loss": json_num(last_loss),
            "eval": ev,
        }))?;
        let s = &self.settings;
        let init_sigma = views(&self.layout, &mut self.fa, &mut self.ua)?.init_sigma();
        let summary = json!({
            "target": name,
            "dim": self.target.dim(),
            "method": "vgs",
            "seed": s.seed,
            "iters": s.iters,
            "steps": self.cfg.steps,
            "batch": self.cfg.batch,
            "hidden": self.cfg.hidden,
            "lr": self.cfg.lr,
            "eval_noise": s.eval_noise,
            "final_noise": self.cfg.final_noise,
            "seconds": o.seconds,
            "sample_seconds": sample_seconds,
            "eval_samples": s.eval_samples,
            "init_sigma": init_sigma,
            "final_td_loss": json_num(last_loss),
            "log_z_true": self.target.log_z().map(json_num),
            "eval": ev,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
        });
        csv::write(&format!("{}/samples.csv", self.out), &xs, self.target.dim())?;
        plot::samples_svg(
            &format!("{}/samples.svg", self.out),
            self.target,
            &xs,
            &format!("vgs on {name}, T = {} (seed {})", self.cfg.steps, s.seed),
        )?;
        Ok(summary)
    }
}
