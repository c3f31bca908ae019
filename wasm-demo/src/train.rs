//! The trained-sampler playground as a plain Rust struct: the kernel's diffusion trainer
//! ([`train`]: on-policy TB, TB + IW buffer, Reinforced SMC) over owned arenas, the RNGs, the
//! per-iteration histories and an owned buffer of samples from the current policy.
//!
//! [`TrainSettings`] is the settings layer's `RunConfig`, the CLI's own run description:
//! the same defaults, rules and kernel configuration, so the same settings and seed give the
//! same parameters here, in the browser and in the native CLI (bit for bit: the
//! reproducibility check of `cargo xtask test` compares `param_checksum()` with the CLI's
//! `checkpoint.json`).
//!
//! ## Memory
//! A [`TrainCore`] owns its two arenas (`Box<[f32]>`, `Box<[u32]>`, sized by the kernel's
//! [`Layout`]) and the trainer's small `Copy` [`State`]; it carves the kernel's [`Views`]
//! from them on each call, so dropping a core frees everything (a page can start any number
//! of runs in one worker without growing memory).

use crate::chunks::ChunkSet;
use crate::error::{bad, end_run};

use amortise_kernel::checksum::fnv1a_f32;
use amortise_kernel::math::log_sum_exp_f64;
use amortise_kernel::rng::{Xoshiro256PlusPlus, seeded, uniform_f64};
use amortise_kernel::samplers::diffusion::policy::{self, Rollout};
use amortise_kernel::samplers::diffusion::reference::Schedule;
use amortise_kernel::samplers::diffusion::train::{
    self, Config as TrainConfig, Info as TrainInfo, Layout, State, Views,
};
use amortise_kernel::targets::{LogDensity, Target};
use amortise_settings::{Limits, RunConfig};

use crate::error::PlaygroundError;
use crate::grid::{DensityGrid, GridSpec};

/// Most `f32` + `u32` arena elements a run may use (64 Mi, 256 MB).
pub const MAX_ARENA: usize = 64 << 20;
/// Most policy samples per [`TrainCore::sample`] call.
pub const MAX_SAMPLES: usize = 20_000;

/// Checks a sample count against `1..=MAX_SAMPLES` (error on `samples`).
pub(crate) fn check_samples(n: usize) -> Result<(), PlaygroundError> {
    if n == 0 || n > MAX_SAMPLES {
        return Err(bad(
            "samples",
            format!("draw between 1 and {MAX_SAMPLES} samples"),
        ));
    }
    Ok(())
}
/// Most iterations per [`TrainCore::step`] call.
pub const MAX_STEPS_PER_CALL: u32 = 10_000;
/// The targets the training playground accepts, all at `d = 2` (drawn as they are): the
/// settings layer's (`Page::train`: the three 2-D mixtures, the 2-D funnel and the 2-D
/// ManyWell, one double well with two modes).
pub fn train_targets() -> Vec<&'static str> {
    amortise_settings::targets::on_page(|p| p.train)
}

/// The 2-D target `name` of a playground that runs on `allowed` only; `what` starts the
/// message naming them.
///
/// # Errors
/// A target outside `allowed` (`target`).
pub fn target_2d(name: &str, allowed: &[&str], what: &str) -> Result<Target, PlaygroundError> {
    let name = name.trim();
    if !allowed.contains(&name) {
        return Err(bad(
            "target",
            format!("{what} ({}); “{name}” is not one", allowed.join(", ")),
        ));
    }
    Target::from_name(name, Some(2)).map_err(|e| PlaygroundError::kernel("target", e))
}

/// The page's memory check for one run: fails on the `batch` control unless `total` numbers
/// fit in [`MAX_ARENA`]; `reduce` names the controls that shrink the run.
///
/// # Errors
/// A [`PlaygroundError`] when `total > MAX_ARENA`.
pub fn check_arena(total: usize, reduce: &str) -> Result<(), PlaygroundError> {
    if total > MAX_ARENA {
        return Err(bad(
            "batch",
            format!(
                "these settings need {total} numbers of memory (limit {MAX_ARENA}); reduce {reduce}"
            ),
        ));
    }
    Ok(())
}

/// The two kernel arenas of a run, owned by its handle and allocated (zeroed) once the
/// page's memory cap is checked.
#[derive(Debug)]
pub(crate) struct Arenas {
    pub(crate) f32s: Box<[f32]>,
    pub(crate) u32s: Box<[u32]>,
}

impl Arenas {
    /// Arenas of `f32_len` and `u32_len` values; `reduce` names the controls that shrink the
    /// run ([`check_arena`]).
    ///
    /// # Errors
    /// As [`check_arena`].
    pub(crate) fn new(
        [f32_len, u32_len]: [usize; 2],
        reduce: &str,
    ) -> Result<Self, PlaygroundError> {
        check_arena(f32_len.saturating_add(u32_len), reduce)?;
        Ok(Arenas {
            f32s: vec![0.0; f32_len].into_boxed_slice(),
            u32s: vec![0; u32_len].into_boxed_slice(),
        })
    }

    /// Values in both arenas.
    pub(crate) fn len(&self) -> usize {
        self.f32s.len() + self.u32s.len()
    }
}

/// What every core's `step(k)` checks first: `k` within [`MAX_STEPS_PER_CALL`] (else an
/// error on `field`), and no earlier kernel error (repeated on `run`).
///
/// # Errors
/// A [`PlaygroundError`] for either.
pub fn check_step(
    k: u32,
    failed: &Option<String>,
    field: &'static str,
) -> Result<(), PlaygroundError> {
    if k > MAX_STEPS_PER_CALL {
        return Err(bad(
            field,
            format!("at most {MAX_STEPS_PER_CALL} iterations per call"),
        ));
    }
    if let Some(m) = failed {
        return Err(bad("run", m.clone()));
    }
    Ok(())
}

/// The settings of one run: the settings layer's [`RunConfig`] (field names are the
/// `amortise train` flags), so its defaults, rules and kernel configuration are the CLI's.
pub use amortise_settings::RunConfig as TrainSettings;

/// Parses the page's `key=value&…` query over the playground's defaults
/// ([`RunConfig::playground`]) with the page's limits ([`Limits::PAGE`]); `sigma` defaults
/// per target.
///
/// # Errors
/// An unknown key, a value that does not parse or a rejected setting, naming the control.
pub fn parse_settings(query: &str) -> Result<TrainSettings, PlaygroundError> {
    Ok(RunConfig::from_query(
        query,
        &RunConfig::playground(),
        &Limits::PAGE,
    )?)
}

/// The mode centres of a target at `d = 2` and the radius (in units of the target) within
/// which a sample counts as having found a mode: the settings layer's (`Page::modes`); none
/// for a target without separated modes (the funnel) or not on the page, which the page
/// shows as "n/a".
pub fn modes(target: &str) -> (Vec<[f32; 2]>, f32) {
    amortise_settings::targets::of(target)
        .page
        .map_or((Vec::new(), 0.0), |p| (p.modes)())
}

/// How many of `target`'s modes (see [`modes`]) have a point of `xy` (`[n, 2]`) within the
/// radius, and how many modes there are.
pub fn covered(target: &str, xy: &[f32]) -> (usize, usize) {
    TrainCore::covered(target, xy)
}

/// FNV-1a 64 over the parameters' `to_bits()` little-endian bytes, as 16 hex digits (the
/// CLI's `checkpoint::checksum`).
pub fn checksum(params: &[f32]) -> String {
    format!("{:016x}", fnv1a_f32(params))
}

/// The kernel configuration of the settings `s` and the trainer's layout on `target`.
///
/// # Errors
/// A rejected setting, or the kernel's (`run`).
pub(crate) fn model(
    s: &TrainSettings,
    target: &Target,
) -> Result<(TrainConfig, Layout), PlaygroundError> {
    let cfg = s.train_config()?;
    let layout = Layout::new(&cfg, target.dim()).map_err(|e| PlaygroundError::kernel("run", e))?;
    Ok((cfg, layout))
}

/// Owned buffers for drawing from the current policy.
#[derive(Debug, Default)]
struct SampleBufs {
    table: Vec<f32>,
    /// The sampling rollout's trajectories and workspace ([`Rollout`]).
    rollout: Vec<f32>,
    log_r: Vec<f32>,
    log_w: Vec<f32>,
    xy: Vec<f32>,
    buffer_xy: Vec<f32>,
    cdf: Vec<f64>,
}

/// Per-iteration histories (one entry per iteration, `f32` for zero-copy views).
#[derive(Debug, Default)]
struct History {
    loss: Vec<f32>,
    subtb: Vec<f32>,
    log_z: Vec<f32>,
    smc_log_z: Vec<f32>,
    smc_ess: Vec<f32>,
    buffer: Vec<f32>,
}

/// A training run over owned arenas (see the module doc).
#[derive(Debug)]
pub struct TrainCore {
    settings: TrainSettings,
    cfg: TrainConfig,
    target: Box<Target>,
    layout: Layout,
    arenas: Arenas,
    state: State,
    rng: Xoshiro256PlusPlus,
    sample_rng: Xoshiro256PlusPlus,
    prefilled: bool,
    last: Option<TrainInfo>,
    last_smc: (f64, f64),
    hist: History,
    bufs: SampleBufs,
    is_log_z: f64,
    is_ess: f64,
    failed: Option<String>,
    grid: DensityGrid,
    chunks: Option<ChunkSet>,
}

impl TrainCore {
    /// Validates the settings, carves the arenas and initialises the model (the buffer
    /// prefill of RSMC runs at the first [`TrainCore::step`]).
    ///
    /// # Errors
    /// A [`PlaygroundError`] naming the control.
    pub fn new(s: &TrainSettings) -> Result<TrainCore, PlaygroundError> {
        let target = target_2d(
            &s.target,
            &train_targets(),
            "training runs on the 2-D targets only",
        )?;
        Self::with_target(s, target)
    }

    /// As [`TrainCore::new`] on a target the caller built and checked (the ALDP view's
    /// 60-d target, [`crate::aldp::AldpCore`]); the samples are then `[n, d]`.
    ///
    /// # Errors
    /// A [`PlaygroundError`] naming the control.
    pub(crate) fn with_target(
        s: &TrainSettings,
        target: Target,
    ) -> Result<TrainCore, PlaygroundError> {
        let (cfg, layout) = model(s, &target)?;
        let lens = [layout.f32_len, layout.u32_len];
        let reduce = "the batch, particles, steps, hidden width or buffer";
        let mut arenas = Arenas::new(lens, reduce)?;
        let mut rng = seeded(s.seed);
        let kernel = |e| PlaygroundError::kernel("run", e);
        let mut views = Views::new(&layout, &mut arenas.f32s, &mut arenas.u32s).map_err(kernel)?;
        let state = train::init(&cfg, &layout, &mut views, &mut rng).map_err(kernel)?;
        Ok(TrainCore {
            settings: s.clone(),
            cfg,
            target: Box::new(target),
            layout,
            arenas,
            state,
            rng,
            sample_rng: seeded(s.seed ^ 0x5a3d_91e5),
            prefilled: false,
            last: None,
            last_smc: (f64::NAN, f64::NAN),
            hist: History::default(),
            bufs: SampleBufs::default(),
            is_log_z: f64::NAN,
            is_ess: f64::NAN,
            failed: None,
            grid: DensityGrid::default(),
            chunks: None,
        })
    }

    /// Runs up to `k` iterations (the RSMC prefill first, at the first call); returns how
    /// many ran (0 once the run is complete). With [`TrainCore::set_chunks`], each
    /// iteration is the chunked one, all chunks computed here.
    ///
    /// # Errors
    /// `k` above [`MAX_STEPS_PER_CALL`] (`steps`), or the kernel's error ending the run
    /// (`run`; later calls repeat it).
    pub fn step(&mut self, k: u32) -> Result<u32, PlaygroundError> {
        check_step(k, &self.failed, "steps")?;
        self.prefill()?;
        let mut ran = 0;
        while ran < k && !self.done() {
            let r = match self.chunks.as_ref().map(ChunkSet::count) {
                Some(n) => {
                    self.chunk_begin();
                    self.chunk_compute(0, n)
                        .and_then(|()| self.chunk_finish().map(|_| ()))
                }
                None => self.kernel_step(),
            };
            r?;
            ran += 1;
        }
        Ok(ran)
    }

    /// The prefill phase, once (the kernel's [`train::prefill`]).
    fn prefill(&mut self) -> Result<(), PlaygroundError> {
        if self.prefilled {
            return Ok(());
        }
        self.prefilled = true;
        let mut views = Views::new(&self.layout, &mut self.arenas.f32s, &mut self.arenas.u32s)
            .map_err(|e| PlaygroundError::kernel("run", e))?;
        let (cfg, st) = (&self.cfg, &mut self.state);
        if let Err(e) = train::prefill(cfg, st, &mut views, &*self.target, &mut self.rng) {
            let m = format!("prefilling the buffer: {e}");
            return Err(end_run(&mut self.failed, m));
        }
        Ok(())
    }

    /// One iteration of the kernel's trainer ([`train::step`]).
    fn kernel_step(&mut self) -> Result<(), PlaygroundError> {
        let mut views = Views::new(&self.layout, &mut self.arenas.f32s, &mut self.arenas.u32s)
            .map_err(|e| PlaygroundError::kernel("run", e))?;
        let (cfg, st) = (&self.cfg, &mut self.state);
        match train::step(cfg, st, &mut views, &*self.target, &mut self.rng) {
            Ok(info) => {
                self.record(info);
                Ok(())
            }
            Err(e) => Err(self.fail(&e.to_string())),
        }
    }

    /// Ends the run at the next iteration with `message`.
    fn fail(&mut self, message: &str) -> PlaygroundError {
        let m = format!("iteration {}: {message}", self.state.iteration + 1);
        end_run(&mut self.failed, m)
    }

    /// Appends an iteration's numbers to the histories.
    fn record(&mut self, info: TrainInfo) {
        if info.smc_log_z.is_finite() {
            self.last_smc = (info.smc_log_z, info.smc_ess);
        }
        let h = &mut self.hist;
        h.loss.push(info.tb_loss);
        h.subtb.push(info.subtb_loss);
        h.log_z.push(info.log_z);
        h.smc_log_z.push(self.last_smc.0 as f32);
        h.smc_ess.push(self.last_smc.1 as f32);
        h.buffer.push(info.buffer_len as f32);
        self.last = Some(info);
    }

    /// Switches the run to the chunked iteration with `chunks` gradient chunks (the
    /// native `--grad-chunks`), before its first iteration.
    ///
    /// # Errors
    /// After the first iteration, or as [`ChunkSet::new`] (`workers`).
    pub fn set_chunks(&mut self, chunks: usize) -> Result<(), PlaygroundError> {
        if self.state.iteration > 0 {
            return Err(bad(
                "workers",
                "set the gradient chunks before the first iteration",
            ));
        }
        self.chunks = Some(ChunkSet::new(&self.cfg, &self.layout, chunks)?);
        Ok(())
    }

    /// The gradient chunks (0 without [`TrainCore::set_chunks`]).
    pub fn chunk_count(&self) -> usize {
        self.chunks.as_ref().map_or(0, ChunkSet::count)
    }

    /// Starts a chunked iteration: the prefill (once), then one seed per chunk from the
    /// run's RNG; returns the seeds (none once the run is complete or without chunks).
    ///
    /// # Errors
    /// An earlier error of the run, or the prefill's (`run`).
    pub fn chunk_begin(&mut self) -> Vec<u64> {
        if self.done() {
            return Vec::new();
        }
        match self.chunks.as_mut() {
            Some(c) => c.begin(&mut self.rng).to_vec(),
            None => Vec::new(),
        }
    }

    /// The model parameters ([`Layout::params`]) a second worker computes its chunks at.
    pub fn params(&self) -> &[f32] {
        self.layout.params(&self.arenas.f32s)
    }

    /// Computes chunks `lo..hi` of the started iteration here.
    ///
    /// # Errors
    /// Without chunks; as [`ChunkSet::compute`] (ending the run on a kernel error).
    pub fn chunk_compute(&mut self, lo: usize, hi: usize) -> Result<(), PlaygroundError> {
        let Some(c) = self.chunks.as_mut() else {
            return Err(bad("workers", "no gradient chunks set"));
        };
        let params = self.layout.params(&self.arenas.f32s);
        if let Err(e) = c.compute(&self.cfg, params, &*self.target, (lo, hi)) {
            return Err(self.fail(&e.message));
        }
        Ok(())
    }

    /// Takes another worker's results of chunks `lo..hi` ([`ChunkSet::put`]).
    ///
    /// # Errors
    /// Without chunks; as [`ChunkSet::put`].
    pub fn chunk_put(
        &mut self,
        range: (usize, usize),
        grads: &[f32],
        sums: &[f64],
    ) -> Result<(), PlaygroundError> {
        match self.chunks.as_mut() {
            Some(c) => c.put(range, grads, sums),
            None => Err(bad("workers", "no gradient chunks set")),
        }
    }

    /// Ends a chunked iteration: the ordered reduction and the Adam step
    /// ([`ChunkSet::finish`]).
    ///
    /// # Errors
    /// Without chunks; as [`ChunkSet::finish`] (ending the run).
    pub fn chunk_finish(&mut self) -> Result<u32, PlaygroundError> {
        let Some(c) = self.chunks.as_mut() else {
            return Err(bad("workers", "no gradient chunks set"));
        };
        let mut views = Views::new(&self.layout, &mut self.arenas.f32s, &mut self.arenas.u32s)
            .map_err(|e| PlaygroundError::kernel("run", e))?;
        match c.finish(&self.cfg, &mut self.state, &mut views) {
            Ok(mut info) => {
                info.buffer_lambda = 1.0;
                self.record(info);
                Ok(1)
            }
            Err(e) => Err(self.fail(&e.message)),
        }
    }

    /// Draws `n` samples from the current policy into the owned sample buffer (with a
    /// separate RNG stream, so drawing never changes the training run), and computes the
    /// importance-sampling `log Z` estimate `log (1/n Σ w)` and its ESS.
    ///
    /// # Errors
    /// `n` outside `1..=MAX_SAMPLES` (`samples`), or a kernel error (`run`).
    pub fn sample(&mut self, n: usize) -> Result<usize, PlaygroundError> {
        check_samples(n)?;
        let cfg = &self.cfg;
        let net = &self.layout.net;
        let d = net.dim();
        let b = &mut self.bufs;
        let kernel = |e| PlaygroundError::kernel("run", e);
        b.table.resize(Schedule::table_len(cfg.steps), 0.0);
        let sched = Schedule::new(cfg.process, cfg.steps, &mut b.table).map_err(kernel)?;
        b.rollout
            .resize(Rollout::arena_len(net, n, cfg.steps, false), 0.0);
        let Rollout { mut traj, mut ws } =
            Rollout::carve(net, n, cfg.steps, false, &mut b.rollout).map_err(kernel)?;
        let pol = policy::Policy {
            cfg: &cfg.policy,
            sched: &sched,
            net,
            params: self.layout.policy(self.layout.params(&self.arenas.f32s)),
        };
        let target = &*self.target;
        policy::sample_forward(pol, target, &mut traj, &mut ws, false, &mut self.sample_rng)
            .map_err(kernel)?;
        b.xy.clear();
        b.xy.extend_from_slice(traj.terminal());
        b.log_r.clear();
        b.log_r
            .extend(b.xy.chunks_exact(d).map(|x| self.target.log_density(x)));
        b.log_w.resize(n, 0.0);
        policy::log_weights(&sched, &traj, &b.log_r, &mut b.log_w).map_err(kernel)?;
        let lse = log_sum_exp_f64(&b.log_w);
        self.is_log_z = lse - (n as f64).ln();
        // ESS = (Σw)² / Σw² = exp(2 lse(lw) − lse(2 lw)).
        let two: f64 = {
            let m = b
                .log_w
                .iter()
                .fold(f64::NEG_INFINITY, |a, &x| a.max(2.0 * x as f64));
            if m.is_finite() {
                m + b
                    .log_w
                    .iter()
                    .map(|&x| (2.0 * x as f64 - m).exp())
                    .sum::<f64>()
                    .ln()
            } else {
                f64::NAN
            }
        };
        self.is_ess = (2.0 * lse - two).exp();
        Ok(n)
    }

    /// Draws `n` states from the replay buffer in proportion to their stored importance
    /// weights (systematic resampling, untempered, with the sampling RNG) into the owned
    /// buffer-sample view: what the buffer says the target looks like. Returns how many were
    /// drawn (0 while the buffer is empty).
    ///
    /// # Errors
    /// `n` outside `1..=MAX_SAMPLES` (`samples`).
    pub fn sample_buffer(&mut self, n: usize) -> Result<usize, PlaygroundError> {
        check_samples(n)?;
        let views = Views::new(&self.layout, &mut self.arenas.f32s, &mut self.arenas.u32s)
            .map_err(|e| PlaygroundError::kernel("run", e))?;
        let (states, log_w) = train::buffer_contents(&self.state, &views);
        let b = &mut self.bufs;
        b.buffer_xy.clear();
        let max = log_w.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x));
        if log_w.is_empty() || !max.is_finite() {
            return Ok(0);
        }
        b.cdf.clear();
        let mut acc = 0.0f64;
        for &lw in log_w {
            acc += f64::from(lw - max).exp();
            b.cdf.push(acc);
        }
        let u0 = uniform_f64(&mut self.sample_rng);
        let d = self.target.dim();
        let mut k = 0;
        for i in 0..n {
            let u = (u0 + i as f64) / n as f64 * acc;
            while k + 1 < b.cdf.len() && b.cdf[k] < u {
                k += 1;
            }
            b.buffer_xy.extend_from_slice(&states[k * d..k * d + 2]);
        }
        Ok(n)
    }

    /// The states of the last [`TrainCore::sample_buffer`] call, `[n, 2]`.
    pub fn buffer_samples(&self) -> &[f32] {
        &self.bufs.buffer_xy
    }

    /// How many of the target's modes have at least one of the last drawn policy samples
    /// within two standard deviations of their centre, and how many modes there are.
    pub fn modes_covered(&self) -> (usize, usize) {
        Self::covered(self.target.name(), &self.bufs.xy)
    }

    /// As [`TrainCore::modes_covered`] for the last buffer draw.
    pub fn buffer_modes_covered(&self) -> (usize, usize) {
        Self::covered(self.target.name(), &self.bufs.buffer_xy)
    }

    fn covered(target: &str, xy: &[f32]) -> (usize, usize) {
        let (m, r) = modes(target);
        let hit = m
            .iter()
            .filter(|c| {
                xy.chunks_exact(2).any(|x| {
                    let (a, b) = (x[0] - c[0], x[1] - c[1]);
                    a * a + b * b <= r * r
                })
            })
            .count();
        (hit, m.len())
    }

    /// Fills the heat-map buffer with the target's `log p̃` (see [`DensityGrid::fill`]).
    ///
    /// # Errors
    /// As [`GridSpec::validate`].
    pub fn density_grid(&mut self, spec: &GridSpec) -> Result<usize, PlaygroundError> {
        self.grid.fill(&*self.target, spec)
    }

    /// The settings of the run.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }
    /// Arena elements (`f32` + `u32`) of the run.
    pub fn arena_len(&self) -> usize {
        self.arenas.len()
    }
    /// Iterations done.
    pub fn iteration(&self) -> u32 {
        self.state.iteration
    }
    /// Whether all `iters` iterations ran (or the run failed).
    pub fn done(&self) -> bool {
        self.failed.is_some() || self.iteration() >= self.settings.iters
    }
    /// TB loss of the last iteration (NaN before the first).
    pub fn loss(&self) -> f32 {
        self.last.map_or(f32::NAN, |i| i.tb_loss)
    }
    /// SubTB loss of the last iteration (0 without flows, NaN before the first).
    pub fn subtb_loss(&self) -> f32 {
        self.last.map_or(f32::NAN, |i| i.subtb_loss)
    }
    /// Whether the last iteration trained on on-policy samples.
    pub fn on_policy(&self) -> bool {
        self.last.is_some_and(|i| i.on_policy)
    }
    /// The learnt `log Z` parameter.
    pub fn log_z(&self) -> f32 {
        self.layout.log_z(self.layout.params(&self.arenas.f32s))
    }
    /// `log Ẑ` of the last SMC run (NaN if none yet).
    pub fn smc_log_z(&self) -> f64 {
        self.last_smc.0
    }
    /// Final `ESS/N` of the last SMC run (NaN if none yet).
    pub fn smc_ess(&self) -> f64 {
        self.last_smc.1
    }
    /// Entries in the replay buffer.
    pub fn buffer_len(&self) -> usize {
        self.state.buffer.len
    }
    /// Tempering exponent λ of the last buffer draw (NaN before the first iteration).
    pub fn buffer_lambda(&self) -> f64 {
        self.last.map_or(f64::NAN, |i| i.buffer_lambda)
    }
    /// The importance-sampling `log Z` of the last [`TrainCore::sample`] call.
    pub fn is_log_z(&self) -> f64 {
        self.is_log_z
    }
    /// ESS of the importance weights of the last [`TrainCore::sample`] call.
    pub fn is_ess(&self) -> f64 {
        self.is_ess
    }
    /// The target's known `log Z`, or NaN.
    pub fn log_z_true(&self) -> f64 {
        self.target.log_z().unwrap_or(f64::NAN)
    }
    /// FNV-1a 64 of all trainable parameters (the CLI's checkpoint checksum).
    pub fn param_checksum(&self) -> String {
        checksum(self.layout.params(&self.arenas.f32s))
    }
    /// The samples of the last [`TrainCore::sample`] call, `[n, 2]` row-major.
    pub fn samples(&self) -> &[f32] {
        &self.bufs.xy
    }
    /// Their log importance weights.
    pub fn sample_log_w(&self) -> &[f32] {
        &self.bufs.log_w
    }
    /// Their target log densities `log p̃(x)`.
    pub fn sample_log_r(&self) -> &[f32] {
        &self.bufs.log_r
    }
    /// The heat-map values.
    pub fn grid(&self) -> &[f32] {
        self.grid.values()
    }
    /// TB loss per iteration.
    pub fn hist_loss(&self) -> &[f32] {
        &self.hist.loss
    }
    /// SubTB loss per iteration.
    pub fn hist_subtb(&self) -> &[f32] {
        &self.hist.subtb
    }
    /// Learnt `log Z` per iteration.
    pub fn hist_log_z(&self) -> &[f32] {
        &self.hist.log_z
    }
    /// Latest SMC `log Ẑ` per iteration (NaN before the first SMC run).
    pub fn hist_smc_log_z(&self) -> &[f32] {
        &self.hist.smc_log_z
    }
    /// Latest SMC `ESS/N` per iteration.
    pub fn hist_smc_ess(&self) -> &[f32] {
        &self.hist.smc_ess
    }
    /// Buffer size per iteration.
    pub fn hist_buffer(&self) -> &[f32] {
        &self.hist.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(method: &str) -> TrainSettings {
        parse_settings(&format!(
            "target=9gmm&method={method}&seed=3&iters=6&batch=16&particles=16&steps=16&hidden=8&\
             flow_hidden=8&harmonics=4&buffer=500&prefill=2&chunk=4"
        ))
        .unwrap()
    }

    #[test]
    fn parse_reads_every_key_and_rejects_bad_values() {
        let s = small("rsmc");
        assert_eq!(s.sigma, 5.0);
        assert_eq!(s.batch, 16);
        assert_eq!(s.method, "rsmc");
        for (q, field) in [
            ("batch=0", "batch"),
            ("batch=x", "batch"),
            ("particles=99999", "particles"),
            ("steps=1", "steps"),
            ("sigma=-1", "sigma"),
            ("sigma=nan", "sigma"),
            ("hidden=100000", "hidden"),
            ("method=smc", "method"),
            ("reference=bm", "reference"),
            ("iters=0", "iters"),
            ("bogus=1", "run"),
            ("langevin=yes", "langevin"),
            // the cross-field rules of the settings layer
            ("steps=10", "steps"),
            ("steps=30&chunk=4", "chunk"),
        ] {
            assert_eq!(parse_settings(q).unwrap_err().field, field, "{q}");
        }
        assert!(parse_settings("").unwrap().langevin);
        let off = parse_settings("langevin=0").unwrap();
        assert!(!off.langevin && !off.cli_args().contains("--langevin"));
        let on = parse_settings("langevin=1").unwrap();
        assert!(on.train_config().unwrap().langevin && on.cli_args().ends_with(" --langevin"));
    }

    #[test]
    fn targets_and_memory_cap_name_the_control() {
        let e = |q: &str| {
            TrainCore::new(&parse_settings(q).unwrap())
                .unwrap_err()
                .field
        };
        assert_eq!(e("target=gaussian"), "target");
        assert_eq!(e("target=lj13"), "target");
        assert_eq!(e("batch=4096&steps=256&hidden=512"), "batch");
        let msg = TrainCore::new(&parse_settings("batch=4096&steps=256&hidden=512").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("numbers of memory (limit 67108864); reduce the batch, particles"),
            "{msg}"
        );
        let mut c = TrainCore::new(&small("tb")).unwrap();
        assert_eq!(c.step(MAX_STEPS_PER_CALL + 1).unwrap_err().field, "steps");
        assert!(check_arena(MAX_ARENA, "x").is_ok());
        assert!(check_arena(MAX_ARENA + 1, "x").is_err());
    }

    #[test]
    fn every_method_trains_and_samples() {
        for m in ["tb", "tb-buffer", "rsmc"] {
            let mut c = TrainCore::new(&small(m)).unwrap();
            assert_eq!(c.step(4).unwrap(), 4);
            assert_eq!(c.step(100).unwrap(), 2);
            assert!(c.done());
            assert_eq!(c.step(1).unwrap(), 0);
            assert_eq!(c.hist_loss().len(), 6);
            assert!(c.loss().is_finite(), "{m}");
            assert_eq!(c.sample(50).unwrap(), 50);
            assert_eq!(c.samples().len(), 100);
            assert!(c.is_log_z().is_finite(), "{m}");
            assert!(
                c.is_ess() >= 1.0 - 1e-9 && c.is_ess() <= 50.0 + 1e-9,
                "{m} {}",
                c.is_ess()
            );
            assert_eq!(c.param_checksum().len(), 16);
            let (hit, all) = c.modes_covered();
            assert_eq!(all, 9);
            assert!(hit <= all);
            if m == "tb" {
                assert_eq!(c.sample_buffer(100).unwrap(), 0);
            } else {
                assert_eq!(c.sample_buffer(100).unwrap(), 100);
                assert_eq!(c.buffer_samples().len(), 200);
                assert!(c.buffer_modes_covered().0 >= 1, "{m}");
            }
            if m == "tb" {
                assert_eq!(c.buffer_len(), 0);
            } else {
                assert!(c.buffer_len() > 0, "{m}");
            }
        }
    }

    #[test]
    fn manywell_and_funnel_train_at_dim_two() {
        for (t, modes_total) in [("manywell", 2), ("funnel", 0)] {
            let s = parse_settings(&format!(
                "target={t}&method=rsmc&seed=2&iters=4&batch=16&particles=16&steps=16&hidden=8&\
                 flow_hidden=8&harmonics=4&buffer=500&prefill=2&chunk=4"
            ))
            .unwrap();
            assert_eq!(s.sigma, 1.0, "{t}: the CLI's default σ");
            let mut c = TrainCore::new(&s).unwrap();
            assert_eq!(c.step(4).unwrap(), 4);
            assert!(c.loss().is_finite(), "{t}");
            c.sample(200).unwrap();
            assert!(c.samples().iter().all(|v| v.is_finite()), "{t}");
            assert_eq!(c.modes_covered().1, modes_total, "{t}");
        }
        assert_eq!(
            TrainCore::covered("manywell", &[1.7, 0.3, 1.6, -0.5]),
            (1, 2)
        );
        assert_eq!(
            TrainCore::covered("manywell", &[1.7, 0.3, -1.8, 1.0]),
            (2, 2)
        );
    }

    #[test]
    fn sampling_does_not_change_the_training_run() {
        let mut a = TrainCore::new(&small("rsmc")).unwrap();
        let mut b = TrainCore::new(&small("rsmc")).unwrap();
        a.step(3).unwrap();
        a.sample(200).unwrap();
        a.step(3).unwrap();
        b.step(6).unwrap();
        assert_eq!(a.param_checksum(), b.param_checksum());
        assert_eq!(a.loss().to_bits(), b.loss().to_bits());
    }

    #[test]
    fn checksum_matches_a_literal() {
        // FNV-1a 64 of the empty input is the offset basis.
        assert_eq!(checksum(&[]), "cbf29ce484222325");
        assert_ne!(checksum(&[0.0]), checksum(&[-0.0]));
    }
}
