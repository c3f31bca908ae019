//! # amortise-wasm
//!
//! The in-browser playground of amortise: one `#[wasm_bindgen]` handle per playground,
//! owning its buffers, state and RNG (the rustwasm book's game-of-life pattern).
//!
//! - [`SmcPlayground`]: annealed SMC with adaptive tempering and MALA moves
//!   ([`amortise_kernel::smc::annealed`]), the no-learning baseline.
//! - [`TrainPlayground`]: the trained continuous samplers (on-policy TB, TB + IW buffer,
//!   Reinforced SMC) of [`amortise_kernel::samplers::diffusion::train`], with policy samples
//!   and histories as views and the parameter checksum of the CLI's checkpoints.
//! - [`DiscretePlayground`]: GFlowNets (TB, DB, SubTB, adaptive teacher) on the 2-D
//!   hypergrid, the deceptive grid and the sequence target
//!   ([`amortise_kernel::samplers::gflownet`], [`amortise_kernel::teacher`]), with the exact
//!   and empirical distributions as views.
//! - [`VgsPlayground`]: the Value Gradient Sampler ([`amortise_kernel::samplers::vgs`]) on
//!   the 2-D mixtures, with its TD-loss history and samples as views.
//! - [`random_seed`]: a seed from `crypto.getRandomValues` (getrandom's `wasm_js` backend).
//! - [`target_list`]: every target as JSON with what the page offers on it: the page's
//!   target menu.
//!
//! ## The JavaScript side
//! `step(k)` runs `k` temperatures per call; scalar getters (`beta`, `log_z`, `ess`, …) read
//! the state; `*_ptr()` / `*_len()` pairs give zero-copy views into wasm memory:
//! `new Float32Array(wasm.memory.buffer, h.particles_ptr(), h.particles_len())`. Re-create
//! the views after every call that may allocate (a step or a grid fill), since a memory
//! growth detaches the old `ArrayBuffer`.
//!
//! Every input is validated; an invalid one is a thrown `Error` whose message is
//! `"{control}: {reason}"` (see [`PlaygroundError`]). No call panics on user input; should a
//! bug trap anyway, [`last_panic`] returns the panic message so the page can show it.
//!
//! The logic lives in plain Rust ([`SmcCore`], [`DensityGrid`]) so host tests cover it;
//! this file is only the binding layer.

pub mod discrete;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzz;
pub mod grid;
pub mod smc;
pub mod targets;
pub mod train;
pub mod vgs;

use std::sync::Mutex;

use wasm_bindgen::prelude::*;

pub use discrete::{DiscreteCore, DiscreteSettings};
pub use error::PlaygroundError;
pub use grid::{DensityGrid, GridSpec};
pub use smc::{SmcCore, SmcSettings};
pub use train::{TrainCore, TrainSettings};
pub use vgs::{VgsCore, VgsSettings};

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn js_err(e: PlaygroundError) -> JsError {
    JsError::new(&e.to_string())
}

/// Installs a panic hook that records the message for [`last_panic`]; runs at module start.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut slot) = LAST_PANIC.lock() {
            *slot = Some(info.to_string());
        }
    }));
}

/// The message of the last panic (a wasm trap), or an empty string.
#[wasm_bindgen]
pub fn last_panic() -> String {
    LAST_PANIC
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .unwrap_or_default()
}

/// Panics on purpose, so tests can check that the page catches and shows a trap.
#[wasm_bindgen]
pub fn trap_for_tests() {
    panic!("deliberate trap from trap_for_tests()");
}

/// A random `u32` seed from the platform (`crypto.getRandomValues` in browsers and Node).
///
/// # Errors
/// When the platform has no random source.
#[wasm_bindgen]
pub fn random_seed() -> Result<u32, JsError> {
    getrandom::u32().map_err(|e| JsError::new(&format!("seed: no random source ({e})")))
}

/// Every target, continuous (the kernel's registry) and discrete, as a JSON array with
/// the settings layer's default σ and what the page offers on each: the page's target
/// menu ([`targets::list_json`] gives the fields).
#[wasm_bindgen]
pub fn target_list() -> String {
    targets::list_json()
}

/// Annealed SMC (adaptive tempering + MALA) over buffers owned by this handle.
#[wasm_bindgen]
pub struct SmcPlayground {
    core: SmcCore,
}

#[wasm_bindgen]
impl SmcPlayground {
    /// A new run from `key=value&…` settings: `target`, `dim` (0 or absent: the target's
    /// default dimension), `n` particles, `seed`, `base_std`, `cess` (the conditional-ESS
    /// fraction kept per temperature) and `mala` steps; missing keys take the defaults.
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting, with the kernel's text where the
    /// kernel rejected it.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: &str) -> Result<SmcPlayground, JsError> {
        SmcSettings::parse(settings)
            .and_then(|(target, s)| SmcCore::new(&target, &s))
            .map(|core| SmcPlayground { core })
            .map_err(js_err)
    }

    /// Runs up to `k` temperatures; returns how many ran (0 once `β = 1`).
    ///
    /// # Errors
    /// `k` above the per-call cap, or the kernel's error ending the run.
    pub fn step(&mut self, k: u32) -> Result<u32, JsError> {
        self.core.step(k).map_err(js_err)
    }

    /// Fills the owned heat-map buffer with `log p̃` over coordinates 0 and 1 (other
    /// coordinates 0) over `bounds = [xmin, xmax, ymin, ymax]`; returns `nx · ny`. Read it with `grid_ptr` / `grid_len`.
    ///
    /// # Errors
    /// Non-finite or empty bounds, sides outside `1..=1024`.
    pub fn density_grid(&mut self, bounds: &[f64], nx: u32, ny: u32) -> Result<u32, JsError> {
        GridSpec::from_js(bounds, nx, ny)
            .and_then(|g| self.core.density_grid(&g))
            .map(|n| n as u32)
            .map_err(js_err)
    }

    /// Current inverse temperature `β`.
    #[wasm_bindgen(getter)]
    pub fn beta(&self) -> f64 {
        self.core.beta()
    }
    /// Running `log Ẑ` (the estimate of `log Z` once `β = 1`).
    #[wasm_bindgen(getter)]
    pub fn log_z(&self) -> f64 {
        self.core.log_z()
    }
    /// The target's known `log Z`, or `NaN` when unknown.
    #[wasm_bindgen(getter)]
    pub fn log_z_true(&self) -> f64 {
        self.core.log_z_true()
    }
    /// ESS after reweighting at the last temperature (before any resampling).
    #[wasm_bindgen(getter)]
    pub fn ess(&self) -> f64 {
        self.core.ess_fraction() * self.core.n_particles() as f64
    }
    /// `ESS / N` after reweighting at the last temperature.
    #[wasm_bindgen(getter)]
    pub fn ess_fraction(&self) -> f64 {
        self.core.ess_fraction()
    }
    /// Mean MALA acceptance at the last temperature.
    #[wasm_bindgen(getter)]
    pub fn acceptance(&self) -> f64 {
        self.core.acceptance()
    }
    /// Current (adapted) MALA step size.
    #[wasm_bindgen(getter)]
    pub fn step_size(&self) -> f32 {
        self.core.step_size()
    }
    /// Temperatures done.
    #[wasm_bindgen(getter)]
    pub fn temperatures(&self) -> u32 {
        self.core.temperatures()
    }
    /// Resampling events so far.
    #[wasm_bindgen(getter)]
    pub fn resamples(&self) -> u32 {
        self.core.resamples()
    }
    /// `true` once `β = 1`.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.core.done()
    }
    /// Number of particles.
    #[wasm_bindgen(getter)]
    pub fn n_particles(&self) -> u32 {
        self.core.n_particles() as u32
    }
    /// Dimension of the target.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> u32 {
        self.core.dim() as u32
    }
    /// Registry name of the target.
    #[wasm_bindgen(getter)]
    pub fn target(&self) -> String {
        self.core.target_name().to_string()
    }

    /// Address of the positions `[n, dim]` (row-major `f32`) in wasm memory.
    pub fn particles_ptr(&self) -> *const f32 {
        self.core.particles().as_ptr()
    }
    /// Number of `f32` in the positions (`n · dim`).
    pub fn particles_len(&self) -> u32 {
        self.core.particles().len() as u32
    }
    /// Address of the normalised weights `[n]` (sum 1).
    pub fn weights_ptr(&self) -> *const f32 {
        self.core.weights().as_ptr()
    }
    /// Number of weights (`n`).
    pub fn weights_len(&self) -> u32 {
        self.core.weights().len() as u32
    }
    /// Address of the heat-map values (see `density_grid`).
    pub fn grid_ptr(&self) -> *const f32 {
        self.core.grid().as_ptr()
    }
    /// Number of heat-map values.
    pub fn grid_len(&self) -> u32 {
        self.core.grid().len() as u32
    }
    /// Address of the `β` trace (one entry per temperature, plus the start).
    pub fn trace_beta_ptr(&self) -> *const f32 {
        self.core.trace_beta().as_ptr()
    }
    /// Address of the running `log Ẑ` trace.
    pub fn trace_log_z_ptr(&self) -> *const f32 {
        self.core.trace_log_z().as_ptr()
    }
    /// Address of the `ESS / N` trace.
    pub fn trace_ess_ptr(&self) -> *const f32 {
        self.core.trace_ess().as_ptr()
    }
    /// Address of the resampling-event trace (`1` where that temperature resampled).
    pub fn trace_resampled_ptr(&self) -> *const f32 {
        self.core.trace_resampled().as_ptr()
    }
    /// Length of every trace.
    pub fn trace_len(&self) -> u32 {
        self.core.trace_beta().len() as u32
    }
}

/// A training run (tb, tb-buffer, rsmc) over buffers owned by this handle.
#[wasm_bindgen]
pub struct TrainPlayground {
    core: TrainCore,
}

#[wasm_bindgen]
impl TrainPlayground {
    /// A new run from `key=value&…` settings (the `amortise train` flag names with `_` for
    /// `-`: `target`, `method`, `seed`, `iters`, `batch`, `particles`, `steps`, `reference`,
    /// `sigma`, `hidden`, `flow_hidden`, `harmonics`, `lr`, `buffer`, `prefill`, `chunk`,
    /// `exploration`, and `langevin` = 1 or 0 for the `--langevin` switch); missing keys
    /// take the page defaults.
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: &str) -> Result<TrainPlayground, JsError> {
        train::parse_settings(settings)
            .and_then(|s| TrainCore::new(&s))
            .map(|core| TrainPlayground { core })
            .map_err(js_err)
    }

    /// Runs up to `k` iterations (the RSMC prefill first); returns how many ran.
    ///
    /// # Errors
    /// `k` above the per-call cap, or the kernel's error ending the run.
    pub fn step(&mut self, k: u32) -> Result<u32, JsError> {
        self.core.step(k).map_err(js_err)
    }

    /// Draws `n` samples from the current policy into the owned sample buffer
    /// (`samples_ptr` / `samples_len`, `[n, 2]`), and updates `is_log_z` / `is_ess`.
    ///
    /// # Errors
    /// `n` outside `1..=20000`, or a kernel error.
    pub fn sample(&mut self, n: u32) -> Result<u32, JsError> {
        self.core
            .sample(n as usize)
            .map(|n| n as u32)
            .map_err(js_err)
    }

    /// Fills the owned heat-map buffer with `log p̃`; returns `nx · ny`.
    ///
    /// # Errors
    /// Non-finite or empty bounds, sides outside `1..=1024`.
    pub fn density_grid(&mut self, bounds: &[f64], nx: u32, ny: u32) -> Result<u32, JsError> {
        GridSpec::from_js(bounds, nx, ny)
            .and_then(|g| self.core.density_grid(&g))
            .map(|n| n as u32)
            .map_err(js_err)
    }

    /// Draws `n` replay-buffer states by importance weight into the buffer-sample view
    /// (`buffer_samples_ptr` / `buffer_samples_len`); returns how many (0 if empty).
    ///
    /// # Errors
    /// `n` outside `1..=20000`.
    pub fn sample_buffer(&mut self, n: u32) -> Result<u32, JsError> {
        self.core
            .sample_buffer(n as usize)
            .map(|n| n as u32)
            .map_err(js_err)
    }
    /// Address of the buffer samples `[n, 2]`.
    pub fn buffer_samples_ptr(&self) -> *const f32 {
        self.core.buffer_samples().as_ptr()
    }
    /// Number of `f32` in the buffer samples.
    pub fn buffer_samples_len(&self) -> u32 {
        self.core.buffer_samples().len() as u32
    }
    /// Modes with a buffer sample within two standard deviations.
    #[wasm_bindgen(getter)]
    pub fn buffer_modes_hit(&self) -> u32 {
        self.core.buffer_modes_covered().0 as u32
    }

    /// Iterations done.
    #[wasm_bindgen(getter)]
    pub fn iteration(&self) -> u32 {
        self.core.iteration()
    }
    /// Iterations of the whole run.
    #[wasm_bindgen(getter)]
    pub fn iters(&self) -> u32 {
        self.core.settings().iters
    }
    /// `true` once every iteration ran.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.core.done()
    }
    /// TB loss of the last iteration.
    #[wasm_bindgen(getter)]
    pub fn loss(&self) -> f32 {
        self.core.loss()
    }
    /// SubTB loss of the last iteration.
    #[wasm_bindgen(getter)]
    pub fn subtb_loss(&self) -> f32 {
        self.core.subtb_loss()
    }
    /// Whether the last iteration was on-policy.
    #[wasm_bindgen(getter)]
    pub fn on_policy(&self) -> bool {
        self.core.on_policy()
    }
    /// The learnt `log Z`.
    #[wasm_bindgen(getter)]
    pub fn log_z(&self) -> f32 {
        self.core.log_z()
    }
    /// `log Ẑ` of the last SMC run (NaN if none).
    #[wasm_bindgen(getter)]
    pub fn smc_log_z(&self) -> f64 {
        self.core.smc_log_z()
    }
    /// `ESS/N` of the last SMC run (NaN if none).
    #[wasm_bindgen(getter)]
    pub fn smc_ess(&self) -> f64 {
        self.core.smc_ess()
    }
    /// Entries in the replay buffer.
    #[wasm_bindgen(getter)]
    pub fn buffer_len(&self) -> u32 {
        self.core.buffer_len() as u32
    }
    /// Tempering exponent λ of the last buffer draw.
    #[wasm_bindgen(getter)]
    pub fn buffer_lambda(&self) -> f64 {
        self.core.buffer_lambda()
    }
    /// Importance-sampling `log Z` of the last `sample` call.
    #[wasm_bindgen(getter)]
    pub fn is_log_z(&self) -> f64 {
        self.core.is_log_z()
    }
    /// ESS of the last `sample` call's importance weights.
    #[wasm_bindgen(getter)]
    pub fn is_ess(&self) -> f64 {
        self.core.is_ess()
    }
    /// The target's known `log Z`, or NaN.
    #[wasm_bindgen(getter)]
    pub fn log_z_true(&self) -> f64 {
        self.core.log_z_true()
    }
    /// Modes of the target with a drawn sample within two standard deviations.
    #[wasm_bindgen(getter)]
    pub fn modes_hit(&self) -> u32 {
        self.core.modes_covered().0 as u32
    }
    /// Number of modes of the target.
    #[wasm_bindgen(getter)]
    pub fn modes_total(&self) -> u32 {
        self.core.modes_covered().1 as u32
    }
    /// Arena elements (`f32` + `u32`) of this run.
    #[wasm_bindgen(getter)]
    pub fn arena_len(&self) -> u32 {
        self.core.arena_len() as u32
    }
    /// The equivalent `amortise train` flags.
    pub fn cli_args(&self) -> String {
        self.core.settings().cli_args()
    }
    /// FNV-1a 64 of all parameters as 16 hex digits (the CLI's `checkpoint.json` checksum).
    pub fn param_checksum(&self) -> String {
        self.core.param_checksum()
    }

    /// Address of the samples `[n, 2]`.
    pub fn samples_ptr(&self) -> *const f32 {
        self.core.samples().as_ptr()
    }
    /// Number of `f32` in the samples.
    pub fn samples_len(&self) -> u32 {
        self.core.samples().len() as u32
    }
    /// Address of the samples' log importance weights.
    pub fn sample_log_w_ptr(&self) -> *const f32 {
        self.core.sample_log_w().as_ptr()
    }
    /// Address of the heat-map values.
    pub fn grid_ptr(&self) -> *const f32 {
        self.core.grid().as_ptr()
    }
    /// Number of heat-map values.
    pub fn grid_len(&self) -> u32 {
        self.core.grid().len() as u32
    }
    /// Address of the TB-loss history.
    pub fn hist_loss_ptr(&self) -> *const f32 {
        self.core.hist_loss().as_ptr()
    }
    /// Address of the SubTB-loss history.
    pub fn hist_subtb_ptr(&self) -> *const f32 {
        self.core.hist_subtb().as_ptr()
    }
    /// Address of the learnt-`log Z` history.
    pub fn hist_log_z_ptr(&self) -> *const f32 {
        self.core.hist_log_z().as_ptr()
    }
    /// Address of the SMC `log Ẑ` history.
    pub fn hist_smc_log_z_ptr(&self) -> *const f32 {
        self.core.hist_smc_log_z().as_ptr()
    }
    /// Address of the SMC `ESS/N` history.
    pub fn hist_smc_ess_ptr(&self) -> *const f32 {
        self.core.hist_smc_ess().as_ptr()
    }
    /// Address of the buffer-size history.
    pub fn hist_buffer_ptr(&self) -> *const f32 {
        self.core.hist_buffer().as_ptr()
    }
    /// Length of every history (iterations done).
    pub fn hist_len(&self) -> u32 {
        self.core.hist_loss().len() as u32
    }
}

/// A discrete GFlowNet run (tb, db, subtb, teacher on the 2-D hypergrid, the deceptive
/// grid or the sequence target) over buffers owned by this handle.
#[wasm_bindgen]
pub struct DiscretePlayground {
    core: DiscreteCore,
}

macro_rules! views {
    ($($(#[$m:meta])* $ptr:ident, $len:ident => $get:ident;)*) => {
        #[wasm_bindgen]
        impl DiscretePlayground {
            $(
                $(#[$m])*
                pub fn $ptr(&self) -> *const f32 {
                    self.core.$get().as_ptr()
                }
                /// Number of `f32` in that view.
                pub fn $len(&self) -> u32 {
                    self.core.$get().len() as u32
                }
            )*
        }
    };
}

views! {
    /// Address of the exact target `π` by object index (grid: `x0 + side · x1`).
    exact_ptr, exact_len => exact_p;
    /// Address of the last evaluation's empirical distribution.
    empirical_ptr, empirical_len => empirical;
    /// Address of the top objects' exact probabilities.
    top_exact_ptr, top_len => top_exact;
    /// Address of the top objects' empirical frequencies.
    top_empirical_ptr, top_empirical_len => top_empirical;
    /// Address of the student-loss history.
    hist_loss_ptr, hist_len => hist_loss;
    /// Address of the teacher-loss history (NaN without a teacher).
    hist_teacher_loss_ptr, hist_teacher_loss_len => hist_teacher_loss;
    /// Address of the learnt-`log Z` history.
    hist_log_z_ptr, hist_log_z_len => hist_log_z;
    /// Address of the modes-found history.
    hist_modes_ptr, hist_modes_len => hist_modes;
    /// Address of the sampled-trajectories history.
    hist_visited_ptr, hist_visited_len => hist_visited;
    /// Address of the distinct-objects history.
    hist_distinct_ptr, hist_distinct_len => hist_distinct;
    /// Address of the evaluation iterations.
    eval_iter_ptr, eval_len => eval_iter;
    /// Address of the evaluations' TV.
    eval_tv_ptr, eval_tv_len => eval_tv;
    /// Address of the evaluations' JSD.
    eval_jsd_ptr, eval_jsd_len => eval_jsd;
    /// Address of the evaluations' importance-sampling `log Z`.
    eval_log_z_ptr, eval_log_z_len => eval_log_z;
}

#[wasm_bindgen]
impl DiscretePlayground {
    /// A new run from `key=value&…` settings (the `amortise train-discrete` flag names with
    /// `_` for `-`: `target` (= `--env`), `method`, `seed`, `iters`, `batch`, `hidden`,
    /// `lr`, `epsilon`, `buffer`, `side`, `len`, `alphabet`, `modes`, `temperature`,
    /// `env_seed`, `teacher_alpha`; and `eval_every`, `eval_samples`).
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: &str) -> Result<DiscretePlayground, JsError> {
        DiscreteSettings::parse(settings)
            .and_then(|s| DiscreteCore::new(&s))
            .map(|core| DiscretePlayground { core })
            .map_err(js_err)
    }
    /// Runs up to `k` iterations (evaluating on schedule); returns how many ran.
    ///
    /// # Errors
    /// `k` above the per-call cap, or the kernel's error ending the run.
    pub fn step(&mut self, k: u32) -> Result<u32, JsError> {
        self.core.step(k).map_err(js_err)
    }
    /// Evaluates now (empirical distribution, TV, JSD, IS `log Z`).
    ///
    /// # Errors
    /// A kernel error.
    pub fn evaluate(&mut self) -> Result<(), JsError> {
        self.core.evaluate().map_err(js_err)
    }
    /// Iterations done.
    #[wasm_bindgen(getter)]
    pub fn iteration(&self) -> u32 {
        self.core.iteration()
    }
    /// Iterations of the run.
    #[wasm_bindgen(getter)]
    pub fn iters(&self) -> u32 {
        self.core.settings().iters
    }
    /// `true` once every iteration ran.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.core.done()
    }
    /// Student loss of the last iteration.
    #[wasm_bindgen(getter)]
    pub fn loss(&self) -> f32 {
        self.core.loss()
    }
    /// Whether the last iteration replayed buffer objects.
    #[wasm_bindgen(getter)]
    pub fn from_buffer(&self) -> bool {
        self.core.from_buffer()
    }
    /// The learnt `log Z`.
    #[wasm_bindgen(getter)]
    pub fn log_z(&self) -> f32 {
        self.core.log_z()
    }
    /// The exact `log Z`.
    #[wasm_bindgen(getter)]
    pub fn log_z_true(&self) -> f64 {
        self.core.log_z_true()
    }
    /// Last evaluation's total variation distance.
    #[wasm_bindgen(getter)]
    pub fn tv(&self) -> f32 {
        self.core.tv()
    }
    /// Last evaluation's Jensen–Shannon divergence.
    #[wasm_bindgen(getter)]
    pub fn jsd(&self) -> f32 {
        self.core.jsd()
    }
    /// Last evaluation's importance-sampling `log Z`.
    #[wasm_bindgen(getter)]
    pub fn is_log_z(&self) -> f32 {
        self.core.is_log_z()
    }
    /// Modes found by training samples.
    #[wasm_bindgen(getter)]
    pub fn modes_found(&self) -> u32 {
        self.core.modes_found() as u32
    }
    /// Modes of the target.
    #[wasm_bindgen(getter)]
    pub fn modes_total(&self) -> u32 {
        self.core.n_modes() as u32
    }
    /// Training trajectories sampled so far.
    #[wasm_bindgen(getter)]
    pub fn visits(&self) -> f64 {
        self.core.visits() as f64
    }
    /// Distinct objects visited so far.
    #[wasm_bindgen(getter)]
    pub fn distinct(&self) -> u32 {
        self.core.distinct() as u32
    }
    /// Entries of the replay buffer.
    #[wasm_bindgen(getter)]
    pub fn buffer_len(&self) -> u32 {
        self.core.buffer_len() as u32
    }
    /// Number of objects.
    #[wasm_bindgen(getter)]
    pub fn n_terminal(&self) -> u32 {
        self.core.n_terminal() as u32
    }
    /// Side of the 2-D grid (0 for sequences).
    #[wasm_bindgen(getter)]
    pub fn grid_side(&self) -> u32 {
        self.core.grid_side() as u32
    }
    /// Arena elements of this run.
    #[wasm_bindgen(getter)]
    pub fn arena_len(&self) -> u32 {
        self.core.arena_len() as u32
    }
    /// Labels of the top objects, comma-separated.
    pub fn top_labels(&self) -> String {
        self.core.top_labels()
    }
    /// `1` where an object is a mode (a fresh array).
    pub fn mode_mask(&self) -> Vec<f32> {
        self.core.mode_mask()
    }
    /// The equivalent `amortise train-discrete` flags.
    pub fn cli_args(&self) -> String {
        self.core.settings().cli_args()
    }
    /// FNV-1a 64 of the student's parameters.
    pub fn param_checksum(&self) -> String {
        self.core.param_checksum()
    }
}

/// A Value Gradient Sampler run (9gmm, 25gmm, gmm40) over buffers owned by this handle.
#[wasm_bindgen]
pub struct VgsPlayground {
    core: VgsCore,
}

#[wasm_bindgen]
impl VgsPlayground {
    /// A new run from `key=value&…` settings (`target`, `seed`, `iters`, `steps`, `batch`,
    /// `hidden`, `lr`: the `amortise train-vgs` flags; absent = the target's preset).
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: &str) -> Result<VgsPlayground, JsError> {
        vgs::parse_settings(settings)
            .and_then(|s| VgsCore::new(&s))
            .map(|core| VgsPlayground { core })
            .map_err(js_err)
    }
    /// Runs up to `k` TD iterations; returns how many ran.
    ///
    /// # Errors
    /// `k` above the per-call cap, or the kernel's error ending the run.
    pub fn step(&mut self, k: u32) -> Result<u32, JsError> {
        self.core.step(k).map_err(js_err)
    }
    /// Draws `n` samples into the owned buffer (`samples_ptr` / `samples_len`).
    ///
    /// # Errors
    /// `n` outside `1..=20000`, or a kernel error.
    pub fn sample(&mut self, n: u32) -> Result<u32, JsError> {
        self.core
            .sample(n as usize)
            .map(|n| n as u32)
            .map_err(js_err)
    }
    /// Fills the owned heat-map buffer with `log p̃`; returns `nx · ny`.
    ///
    /// # Errors
    /// Non-finite or empty bounds, sides outside `1..=1024`.
    pub fn density_grid(&mut self, bounds: &[f64], nx: u32, ny: u32) -> Result<u32, JsError> {
        GridSpec::from_js(bounds, nx, ny)
            .and_then(|g| self.core.density_grid(&g))
            .map(|n| n as u32)
            .map_err(js_err)
    }
    /// Iterations done.
    #[wasm_bindgen(getter)]
    pub fn iteration(&self) -> u32 {
        self.core.iteration()
    }
    /// Iterations of the run.
    #[wasm_bindgen(getter)]
    pub fn iters(&self) -> u32 {
        self.core.settings().iters
    }
    /// `true` once every iteration ran.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.core.done()
    }
    /// TD loss of the last iteration.
    #[wasm_bindgen(getter)]
    pub fn loss(&self) -> f32 {
        self.core.loss()
    }
    /// The learnt initial scale `σ_init`.
    #[wasm_bindgen(getter)]
    pub fn init_sigma(&self) -> f32 {
        self.core.init_sigma()
    }
    /// Sampling steps `T` of the run.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> u32 {
        self.core.config().steps as u32
    }
    /// Modes with a drawn sample within two standard deviations.
    #[wasm_bindgen(getter)]
    pub fn modes_hit(&self) -> u32 {
        self.core.modes_covered().0 as u32
    }
    /// Number of modes.
    #[wasm_bindgen(getter)]
    pub fn modes_total(&self) -> u32 {
        self.core.modes_covered().1 as u32
    }
    /// Non-finite coordinates reset in the last draw.
    #[wasm_bindgen(getter)]
    pub fn non_finite(&self) -> u32 {
        self.core.non_finite()
    }
    /// The equivalent `amortise train-vgs` flags.
    pub fn cli_args(&self) -> String {
        self.core.settings().cli_args()
    }
    /// FNV-1a 64 of the value network's parameters.
    pub fn param_checksum(&self) -> String {
        self.core.param_checksum()
    }
    /// Address of the samples `[n, 2]`.
    pub fn samples_ptr(&self) -> *const f32 {
        self.core.samples().as_ptr()
    }
    /// Number of `f32` in the samples.
    pub fn samples_len(&self) -> u32 {
        self.core.samples().len() as u32
    }
    /// Address of the heat-map values.
    pub fn grid_ptr(&self) -> *const f32 {
        self.core.grid().as_ptr()
    }
    /// Number of heat-map values.
    pub fn grid_len(&self) -> u32 {
        self.core.grid().len() as u32
    }
    /// Address of the TD-loss history.
    pub fn hist_loss_ptr(&self) -> *const f32 {
        self.core.hist_loss().as_ptr()
    }
    /// Address of the `σ_init` history.
    pub fn hist_sigma_ptr(&self) -> *const f32 {
        self.core.hist_sigma().as_ptr()
    }
    /// Length of both histories.
    pub fn hist_len(&self) -> u32 {
        self.core.hist_loss().len() as u32
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_seeds_differ() {
        let a: Vec<u32> = (0..4).filter_map(|_| getrandom::u32().ok()).collect();
        assert_eq!(a.len(), 4);
        assert!(a.windows(2).any(|w| w[0] != w[1]));
    }
}
