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
//! - [`AldpPlayground`]: the ALDP view: the trained samplers on the 60-d alanine-dipeptide
//!   target ([`aldp::AldpCore`]) with the samples' backbone dihedrals φ/ψ, basin populations
//!   and conformations as views.
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

pub mod aldp;
pub mod chunks;
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

pub use aldp::AldpCore;
pub use discrete::{DiscreteCore, DiscreteSettings};
pub use error::PlaygroundError;
pub use grid::{DensityGrid, GridSpec};
pub use smc::{SmcCore, SmcSettings};
pub use train::{TrainCore, TrainSettings};
pub use vgs::{VgsCore, VgsSettings};

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

pub(crate) fn js_err(e: PlaygroundError) -> JsError {
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

/// A `#[wasm_bindgen]` handle owning one run core: the constructor from `key=value&…`
/// settings (`new`: settings text to core), `step(k)`, scalar getters (each an expression
/// over the core, bound to the name given after `getters`), methods returning other values,
/// and `*_ptr` / `*_len` zero-copy views of the core's `f32` slices (a view listed without
/// a `_len` shares the length of another). `wasm_bindgen` methods cannot be generic, so the
/// methods every handle shares are written once here.
macro_rules! handle {
    (
        $(#[$hm:meta])* $handle:ident($core:ty);
        $(#[$nm:meta])* new = $new:expr;
        getters($c:ident) { $($(#[$gm:meta])* $g:ident: $gt:ty = $ge:expr;)* }
        methods { $($(#[$mm:meta])* $m:ident -> $mt:ty = $me:expr;)* }
        views { $($(#[$vm:meta])* $ptr:ident $(, $len:ident)? => $get:ident;)* }
    ) => {
        $(#[$hm])*
        #[wasm_bindgen]
        pub struct $handle {
            core: $core,
        }

        #[wasm_bindgen]
        impl $handle {
            $(#[$nm])*
            #[wasm_bindgen(constructor)]
            pub fn new(settings: &str) -> Result<$handle, JsError> {
                let new: fn(&str) -> Result<$core, PlaygroundError> = $new;
                new(settings).map(|core| $handle { core }).map_err(js_err)
            }

            /// Runs up to `k` steps of the run (temperatures, iterations); returns how many
            /// ran (0 once done).
            ///
            /// # Errors
            /// `k` above the per-call cap, or the kernel's error ending the run.
            pub fn step(&mut self, k: u32) -> Result<u32, JsError> {
                self.core.step(k).map_err(js_err)
            }
            $(
                $(#[$gm])*
                #[wasm_bindgen(getter)]
                pub fn $g(&self) -> $gt {
                    let $c = &self.core;
                    $ge
                }
            )*
            $(
                $(#[$mm])*
                pub fn $m(&self) -> $mt {
                    let $c = &self.core;
                    $me
                }
            )*
            $(
                $(#[$vm])*
                pub fn $ptr(&self) -> *const f32 {
                    self.core.$get().as_ptr()
                }
                $(
                    /// Number of `f32` in that view.
                    pub fn $len(&self) -> u32 {
                        self.core.$get().len() as u32
                    }
                )?
            )*
        }
    };
}

/// `density_grid` for handles whose core draws the target's heat map.
macro_rules! density_grid {
    ($($handle:ident)*) => {$(
        #[wasm_bindgen]
        impl $handle {
            /// Fills the owned heat-map buffer with `log p̃` over coordinates 0 and 1 (other
            /// coordinates 0) over `bounds = [xmin, xmax, ymin, ymax]`; returns `nx · ny`.
            /// Read it with `grid_ptr` / `grid_len`.
            ///
            /// # Errors
            /// Non-finite or empty bounds, sides outside `1..=1024`.
            pub fn density_grid(&mut self, bounds: &[f64], nx: u32, ny: u32) -> Result<u32, JsError> {
                GridSpec::from_js(bounds, nx, ny)
                    .and_then(|g| self.core.density_grid(&g))
                    .map(|n| n as u32)
                    .map_err(js_err)
            }
        }
    )*};
}

/// `sample(n)` for handles whose core draws samples from its trained sampler.
macro_rules! sample {
    ($($handle:ident)*) => {$(
        #[wasm_bindgen]
        impl $handle {
            /// Draws `n` samples into the owned sample buffer (`samples_ptr` /
            /// `samples_len`, `[n, 2]`); returns how many.
            ///
            /// # Errors
            /// `n` outside `1..=20000`, or a kernel error.
            pub fn sample(&mut self, n: u32) -> Result<u32, JsError> {
                self.core
                    .sample(n as usize)
                    .map(|n| n as u32)
                    .map_err(js_err)
            }
        }
    )*};
}

handle! {
    /// Annealed SMC (adaptive tempering + MALA) over buffers owned by this handle.
    SmcPlayground(SmcCore);
    /// A new run from `key=value&…` settings: `target`, `dim` (0 or absent: the target's
    /// default dimension), `n` particles, `seed`, `base_std`, `cess` (the conditional-ESS
    /// fraction kept per temperature) and `mala` steps; missing keys take the defaults.
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting, with the kernel's text where the
    /// kernel rejected it.
    new = |s| SmcSettings::parse(s).and_then(|(target, s)| SmcCore::new(&target, &s));
    getters(c) {
        /// Current inverse temperature `β`.
        beta: f64 = c.beta();
        /// Running `log Ẑ` (the estimate of `log Z` once `β = 1`).
        log_z: f64 = c.log_z();
        /// The target's known `log Z`, or `NaN` when unknown.
        log_z_true: f64 = c.log_z_true();
        /// ESS after reweighting at the last temperature (before any resampling).
        ess: f64 = c.ess_fraction() * c.n_particles() as f64;
        /// `ESS / N` after reweighting at the last temperature.
        ess_fraction: f64 = c.ess_fraction();
        /// Mean MALA acceptance at the last temperature.
        acceptance: f64 = c.acceptance();
        /// Current (adapted) MALA step size.
        step_size: f32 = c.step_size();
        /// Temperatures done.
        temperatures: u32 = c.temperatures();
        /// Resampling events so far.
        resamples: u32 = c.resamples();
        /// `true` once `β = 1`.
        done: bool = c.done();
        /// Number of particles.
        n_particles: u32 = c.n_particles() as u32;
        /// Dimension of the target.
        dim: u32 = c.dim() as u32;
        /// Registry name of the target.
        target: String = c.target_name().to_string();
    }
    methods {}
    views {
        /// Address of the positions `[n, dim]` (row-major `f32`) in wasm memory.
        particles_ptr, particles_len => particles;
        /// Address of the normalised weights `[n]` (sum 1).
        weights_ptr, weights_len => weights;
        /// Address of the heat-map values (see `density_grid`).
        grid_ptr, grid_len => grid;
        /// Address of the `β` trace (one entry per temperature, plus the start).
        trace_beta_ptr, trace_len => trace_beta;
        /// Address of the running `log Ẑ` trace.
        trace_log_z_ptr => trace_log_z;
        /// Address of the `ESS / N` trace.
        trace_ess_ptr => trace_ess;
        /// Address of the resampling-event trace (`1` where that temperature resampled).
        trace_resampled_ptr => trace_resampled;
    }
}

handle! {
    /// A training run (tb, tb-buffer, rsmc) over buffers owned by this handle.
    TrainPlayground(TrainCore);
    /// A new run from `key=value&…` settings (the `amortise train` flag names with `_` for
    /// `-`: `target`, `method`, `seed`, `iters`, `batch`, `particles`, `steps`, `reference`,
    /// `sigma`, `hidden`, `flow_hidden`, `harmonics`, `lr`, `buffer`, `prefill`, `chunk`,
    /// `exploration`, and `langevin` = 1 or 0 for the `--langevin` switch); missing keys
    /// take the page defaults.
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting.
    new = |s| train::parse_settings(s).and_then(|s| TrainCore::new(&s));
    getters(c) {
        /// Modes with a buffer sample within two standard deviations.
        buffer_modes_hit: u32 = c.buffer_modes_covered().0 as u32;
        /// Iterations done.
        iteration: u32 = c.iteration();
        /// Iterations of the whole run.
        iters: u32 = c.settings().iters;
        /// `true` once every iteration ran.
        done: bool = c.done();
        /// TB loss of the last iteration.
        loss: f32 = c.loss();
        /// SubTB loss of the last iteration.
        subtb_loss: f32 = c.subtb_loss();
        /// Whether the last iteration was on-policy.
        on_policy: bool = c.on_policy();
        /// The learnt `log Z`.
        log_z: f32 = c.log_z();
        /// `log Ẑ` of the last SMC run (NaN if none).
        smc_log_z: f64 = c.smc_log_z();
        /// `ESS/N` of the last SMC run (NaN if none).
        smc_ess: f64 = c.smc_ess();
        /// Entries in the replay buffer.
        buffer_len: u32 = c.buffer_len() as u32;
        /// Tempering exponent λ of the last buffer draw.
        buffer_lambda: f64 = c.buffer_lambda();
        /// Importance-sampling `log Z` of the last `sample` call.
        is_log_z: f64 = c.is_log_z();
        /// ESS of the last `sample` call's importance weights.
        is_ess: f64 = c.is_ess();
        /// The target's known `log Z`, or NaN.
        log_z_true: f64 = c.log_z_true();
        /// Modes of the target with a drawn sample within two standard deviations.
        modes_hit: u32 = c.modes_covered().0 as u32;
        /// Number of modes of the target.
        modes_total: u32 = c.modes_covered().1 as u32;
        /// Arena elements (`f32` + `u32`) of this run.
        arena_len: u32 = c.arena_len() as u32;
    }
    methods {
        /// The equivalent `amortise train` flags.
        cli_args -> String = c.settings().cli_args();
        /// FNV-1a 64 of all parameters as 16 hex digits (the CLI's `checkpoint.json`
        /// checksum).
        param_checksum -> String = c.param_checksum();
    }
    views {
        /// Address of the samples `[n, 2]` (`sample` also updates `is_log_z` / `is_ess`).
        samples_ptr, samples_len => samples;
        /// Address of the samples' log importance weights.
        sample_log_w_ptr => sample_log_w;
        /// Address of the heat-map values.
        grid_ptr, grid_len => grid;
        /// Address of the buffer samples `[n, 2]` (see `sample_buffer`).
        buffer_samples_ptr, buffer_samples_len => buffer_samples;
        /// Address of the TB-loss history.
        hist_loss_ptr, hist_len => hist_loss;
        /// Address of the SubTB-loss history.
        hist_subtb_ptr => hist_subtb;
        /// Address of the learnt-`log Z` history.
        hist_log_z_ptr => hist_log_z;
        /// Address of the SMC `log Ẑ` history.
        hist_smc_log_z_ptr => hist_smc_log_z;
        /// Address of the SMC `ESS/N` history.
        hist_smc_ess_ptr => hist_smc_ess;
        /// Address of the buffer-size history.
        hist_buffer_ptr => hist_buffer;
    }
}

#[wasm_bindgen]
impl TrainPlayground {
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
}

handle! {
    /// A discrete GFlowNet run (tb, db, subtb, teacher on the 2-D hypergrid, the deceptive
    /// grid or the sequence target) over buffers owned by this handle.
    DiscretePlayground(DiscreteCore);
    /// A new run from `key=value&…` settings (the `amortise train-discrete` flag names with
    /// `_` for `-`: `target` (= `--env`), `method`, `seed`, `iters`, `batch`, `hidden`,
    /// `lr`, `epsilon`, `buffer`, `side`, `len`, `alphabet`, `modes`, `temperature`,
    /// `env_seed`, `teacher_alpha`; and `eval_every`, `eval_samples`).
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting.
    new = |s| DiscreteSettings::parse(s).and_then(|s| DiscreteCore::new(&s));
    getters(c) {
        /// Iterations done.
        iteration: u32 = c.iteration();
        /// Iterations of the run.
        iters: u32 = c.settings().iters;
        /// `true` once every iteration ran.
        done: bool = c.done();
        /// Student loss of the last iteration.
        loss: f32 = c.loss();
        /// Whether the last iteration replayed buffer objects.
        from_buffer: bool = c.from_buffer();
        /// The learnt `log Z`.
        log_z: f32 = c.log_z();
        /// The exact `log Z`.
        log_z_true: f64 = c.log_z_true();
        /// Last evaluation's total variation distance.
        tv: f32 = c.tv();
        /// Last evaluation's Jensen–Shannon divergence.
        jsd: f32 = c.jsd();
        /// Last evaluation's importance-sampling `log Z`.
        is_log_z: f32 = c.is_log_z();
        /// Modes found by training samples.
        modes_found: u32 = c.modes_found() as u32;
        /// Modes of the target.
        modes_total: u32 = c.n_modes() as u32;
        /// Training trajectories sampled so far.
        visits: f64 = c.visits() as f64;
        /// Distinct objects visited so far.
        distinct: u32 = c.distinct() as u32;
        /// Entries of the replay buffer.
        buffer_len: u32 = c.buffer_len() as u32;
        /// Number of objects.
        n_terminal: u32 = c.n_terminal() as u32;
        /// Side of the 2-D grid (0 for sequences).
        grid_side: u32 = c.grid_side() as u32;
        /// Arena elements of this run.
        arena_len: u32 = c.arena_len() as u32;
    }
    methods {
        /// Labels of the top objects, comma-separated.
        top_labels -> String = c.top_labels();
        /// `1` where an object is a mode (a fresh array).
        mode_mask -> Vec<f32> = c.mode_mask();
        /// The equivalent `amortise train-discrete` flags.
        cli_args -> String = c.settings().cli_args();
        /// FNV-1a 64 of the student's parameters.
        param_checksum -> String = c.param_checksum();
    }
    views {
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
}

#[wasm_bindgen]
impl DiscretePlayground {
    /// Evaluates now (empirical distribution, TV, JSD, IS `log Z`).
    ///
    /// # Errors
    /// A kernel error.
    pub fn evaluate(&mut self) -> Result<(), JsError> {
        self.core.evaluate().map_err(js_err)
    }
}

handle! {
    /// A Value Gradient Sampler run (9gmm, 25gmm, gmm40) over buffers owned by this handle.
    VgsPlayground(VgsCore);
    /// A new run from `key=value&…` settings (`target`, `seed`, `iters`, `steps`, `batch`,
    /// `hidden`, `lr`: the `amortise train-vgs` flags; absent = the target's preset).
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting.
    new = |s| vgs::parse_settings(s).and_then(|s| VgsCore::new(&s));
    getters(c) {
        /// Iterations done.
        iteration: u32 = c.iteration();
        /// Iterations of the run.
        iters: u32 = c.settings().iters;
        /// `true` once every iteration ran.
        done: bool = c.done();
        /// TD loss of the last iteration.
        loss: f32 = c.loss();
        /// The learnt initial scale `σ_init`.
        init_sigma: f32 = c.init_sigma();
        /// Sampling steps `T` of the run.
        steps: u32 = c.config().steps as u32;
        /// Modes with a drawn sample within two standard deviations.
        modes_hit: u32 = c.modes_covered().0 as u32;
        /// Number of modes.
        modes_total: u32 = c.modes_covered().1 as u32;
        /// Non-finite coordinates reset in the last draw.
        non_finite: u32 = c.non_finite();
    }
    methods {
        /// The equivalent `amortise train-vgs` flags.
        cli_args -> String = c.settings().cli_args();
        /// FNV-1a 64 of the value network's parameters.
        param_checksum -> String = c.param_checksum();
    }
    views {
        /// Address of the samples `[n, 2]`.
        samples_ptr, samples_len => samples;
        /// Address of the heat-map values.
        grid_ptr, grid_len => grid;
        /// Address of the TD-loss history.
        hist_loss_ptr, hist_len => hist_loss;
        /// Address of the `σ_init` history.
        hist_sigma_ptr => hist_sigma;
    }
}

handle! {
    /// A training run (tb, tb-buffer, rsmc) on alanine dipeptide (aldp, 60-d) with the
    /// samples' φ/ψ, basin populations and conformations, over buffers owned by this handle.
    AldpPlayground(AldpCore);
    /// A new run from `key=value&…` settings: the keys of `TrainPlayground` over the ALDP
    /// view's defaults (`aldp::page_defaults`; σ = 0.1 unless given).
    ///
    /// # Errors
    /// `"{control}: {reason}"` for any invalid setting.
    new = |s| aldp::parse_settings(s).and_then(|s| AldpCore::new(&s));
    getters(c) {
        /// Iterations done.
        iteration: u32 = c.train().iteration();
        /// Iterations of the whole run.
        iters: u32 = c.train().settings().iters;
        /// `true` once every iteration ran.
        done: bool = c.train().done();
        /// TB loss of the last iteration.
        loss: f32 = c.train().loss();
        /// The learnt `log Z`.
        log_z: f32 = c.train().log_z();
        /// `log Ẑ` of the last SMC run (NaN if none).
        smc_log_z: f64 = c.train().smc_log_z();
        /// Entries in the replay buffer.
        buffer_len: u32 = c.train().buffer_len() as u32;
        /// Importance-sampling `log Z` of the last `sample` call.
        is_log_z: f64 = c.train().is_log_z();
        /// ESS of the last `sample` call's importance weights.
        is_ess: f64 = c.train().is_ess();
        /// Whether the last iteration was on-policy.
        on_policy: bool = c.train().on_policy();
        /// Samples of the last draw with a non-finite coordinate.
        non_finite: u32 = c.non_finite() as u32;
        /// Population of β/C7eq in the last draw.
        pop_beta: f64 = c.populations()[0];
        /// Population of αR in the last draw.
        pop_alpha_r: f64 = c.populations()[1];
        /// Population of αL (and C7ax) in the last draw.
        pop_alpha_l: f64 = c.populations()[2];
        /// Fraction of the last draw without finite angles.
        pop_unclassified: f64 = c.populations()[3];
        /// Index of the last draw's sample with the largest finite `log p̃`.
        best: u32 = c.best() as u32;
        /// Arena elements (`f32` + `u32`) of this run.
        arena_len: u32 = c.train().arena_len() as u32;
    }
    methods {
        /// The equivalent `amortise train` flags.
        cli_args -> String = c.cli_args();
        /// FNV-1a 64 of all parameters as 16 hex digits (the CLI's `checkpoint.json`
        /// checksum).
        param_checksum -> String = c.train().param_checksum();
    }
    views {
        /// Address of the samples' `[φ, ψ]` (radians, `[n, 2]`; NaN for a non-finite sample).
        angles_ptr, angles_len => angles;
        /// Address of the samples' positions (nm, `[n, 22 · 3]`).
        positions_ptr, positions_len => positions;
        /// Address of the samples' `log p̃`.
        sample_log_r_ptr, sample_log_r_len => sample_log_r;
        /// Address of the population history: rows of (iteration, β/C7eq, αR, αL,
        /// unclassified), one per draw.
        hist_pop_ptr, hist_pop_len => hist_pop;
    }
}

#[wasm_bindgen]
impl AldpPlayground {
    /// Address of the TB-loss history (`hist_len` entries).
    pub fn hist_loss_ptr(&self) -> *const f32 {
        self.core.train().hist_loss().as_ptr()
    }
    /// Address of the learnt-`log Z` history.
    pub fn hist_log_z_ptr(&self) -> *const f32 {
        self.core.train().hist_log_z().as_ptr()
    }
    /// Iterations in the histories.
    pub fn hist_len(&self) -> u32 {
        self.core.train().hist_loss().len() as u32
    }
    /// The element of each of the 22 atoms, comma separated (`H,C,H,H,C,O,…`).
    pub fn elements(&self) -> String {
        aldp::elements()
    }
    /// The topology's bonds as flattened atom-index pairs (a fresh array).
    pub fn bonds(&self) -> Vec<u32> {
        aldp::bonds()
    }
}

density_grid!(SmcPlayground TrainPlayground VgsPlayground);
sample!(TrainPlayground VgsPlayground AldpPlayground);

#[cfg(test)]
mod tests {
    #[test]
    fn random_seeds_differ() {
        let a: Vec<u32> = (0..4).filter_map(|_| getrandom::u32().ok()).collect();
        assert_eq!(a.len(), 4);
        assert!(a.windows(2).any(|w| w[0] != w[1]));
    }
}
