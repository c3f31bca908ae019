//! The annealed-SMC playground as a plain Rust struct: buffers, state and RNG in one place.
//!
//! [`SmcCore`] owns everything [`amortise_kernel::smc::annealed`] needs (particles,
//! log-weights, scratch), the pinned RNG and the per-temperature traces the page plots. It
//! has no wasm-bindgen types, so host tests exercise exactly the code the browser runs;
//! [`crate::SmcPlayground`] is a thin `#[wasm_bindgen]` wrapper around it.
//!
//! Every input is validated in [`SmcCore::new`]; afterwards [`SmcCore::step`] can only fail
//! with the kernel's own errors (for example every particle losing its weight), which are
//! returned, never panicked on.

use amortise_kernel::metrics::weights::normalize_log_weights;
use amortise_kernel::rng::{Xoshiro256PlusPlus, seeded};
use amortise_kernel::smc::annealed::{self, Config, Particles, State, Workspace};
use amortise_kernel::targets::{LogDensity, Target};

use crate::error::{PlaygroundError, bad, end_run, int, query_pairs, unknown_setting};
use crate::grid::{DensityGrid, GridSpec};

/// Most particles a playground accepts (the page shows a message above this).
pub const MAX_PARTICLES: usize = 200_000;
/// Most `n_particles × dim` floats per position buffer (16 MB as `f32`; two such buffers
/// are held, positions and the resampling copy).
pub const MAX_FLOATS: usize = 4_000_000;
/// Most temperatures [`SmcCore::step`] runs per call.
pub const MAX_STEPS_PER_CALL: u32 = 10_000;

/// What the page's controls set. `dim = 0` means the target's default dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmcSettings {
    /// Dimension of the target (`0` = the registry default). The page shows coordinates 0
    /// and 1, so at least 2.
    pub dim: usize,
    /// Number of particles, `1..=MAX_PARTICLES`.
    pub n_particles: usize,
    /// Seed of the pinned xoshiro256++ stream (a `u32` so JavaScript passes a plain number).
    pub seed: u32,
    /// Standard deviation of the base `N(0, σ² I)`.
    pub base_std: f32,
    /// Conditional-ESS fraction kept per temperature, in `(0, 1)`.
    pub target_cess: f64,
    /// MALA steps per temperature, `0..=100`.
    pub mala_steps: u32,
}

impl Default for SmcSettings {
    fn default() -> Self {
        let k = Config::default();
        SmcSettings {
            dim: 0,
            n_particles: 2000,
            seed: 1,
            base_std: k.base_std,
            target_cess: k.target_cess,
            mala_steps: k.mala_steps,
        }
    }
}

impl SmcSettings {
    /// Parses the page's `key=value&…` query (`target`, `dim`, `n`, `seed`, `base_std`,
    /// `cess`, `mala`) over the defaults; returns the target's name and the settings. The
    /// ranges are checked by [`SmcCore::new`].
    ///
    /// # Errors
    /// An unknown key or a value that does not parse, naming the control.
    pub fn parse(query: &str) -> Result<(String, SmcSettings), PlaygroundError> {
        let mut s = SmcSettings::default();
        let mut target = String::from("gmm40");
        for (k, v) in query_pairs(query) {
            match k {
                "target" => target = v.trim().to_string(),
                "dim" => s.dim = int("dim", v, 0, usize::MAX)?,
                "n" => s.n_particles = int("particles", v, 0, usize::MAX)?,
                "seed" => s.seed = int("seed", v, 0, u32::MAX)?,
                "base_std" => s.base_std = number("base_std", v)? as f32,
                "cess" => s.target_cess = number("cess", v)?,
                "mala" => s.mala_steps = int("mala_steps", v, 0, u32::MAX)?,
                other => return Err(unknown_setting(other)),
            }
        }
        Ok((target, s))
    }
}

fn number(field: &'static str, v: &str) -> Result<f64, PlaygroundError> {
    v.trim().parse::<f64>().map_err(|_| {
        bad(
            field,
            format!(
                "must be a number, not “{}”",
                v.chars().take(20).collect::<String>()
            ),
        )
    })
}

/// The kernel's particle arrays and scratch, owned.
#[derive(Debug)]
struct Buffers {
    x: Vec<f32>,
    log_w: Vec<f32>,
    log_r: Vec<f32>,
    x_tmp: Vec<f32>,
    w_tmp: Vec<f32>,
    ancestors: Vec<u32>,
    log_r_tmp: Vec<f32>,
    vec: Vec<f32>,
}

impl Buffers {
    fn new(n: usize, dim: usize) -> Self {
        Buffers {
            x: vec![0.0; n * dim],
            log_w: vec![0.0; n],
            log_r: vec![0.0; n],
            x_tmp: vec![0.0; n * dim],
            w_tmp: vec![0.0; n],
            ancestors: vec![0; n],
            log_r_tmp: vec![0.0; n],
            vec: vec![0.0; Workspace::vec_len(dim)],
        }
    }

    fn split(&mut self) -> (Particles<'_>, Workspace<'_>) {
        (
            Particles {
                x: &mut self.x,
                log_w: &mut self.log_w,
                log_r: &mut self.log_r,
            },
            Workspace {
                x_tmp: &mut self.x_tmp,
                w: &mut self.w_tmp,
                ancestors: &mut self.ancestors,
                log_r_tmp: &mut self.log_r_tmp,
                vec: &mut self.vec,
            },
        )
    }
}

/// Annealed SMC over owned buffers, with traces for the page.
#[derive(Debug)]
pub struct SmcCore {
    target: Box<Target>,
    cfg: Config,
    state: State,
    rng: Xoshiro256PlusPlus,
    dim: usize,
    bufs: Buffers,
    /// Normalised weights (sum 1), refreshed after every step.
    weights: Vec<f32>,
    trace_beta: Vec<f32>,
    trace_log_z: Vec<f32>,
    trace_ess: Vec<f32>,
    trace_resampled: Vec<f32>,
    last_ess_fraction: f64,
    last_acceptance: f64,
    failed: Option<String>,
    grid: DensityGrid,
}

impl SmcCore {
    /// Validates every setting, allocates the buffers and draws the initial particles.
    ///
    /// # Errors
    /// A [`PlaygroundError`] naming the setting (`target`, `dim`, `particles`, `base_std`,
    /// `cess`, `mala_steps`) with the kernel's message where the kernel rejected it.
    pub fn new(target: &str, s: &SmcSettings) -> Result<SmcCore, PlaygroundError> {
        let name = target.trim();
        if name.is_empty() {
            return Err(PlaygroundError::new("target", "choose a target"));
        }
        let dim_arg = (s.dim != 0).then_some(s.dim);
        let target = Target::from_name(name, dim_arg).map_err(|e| {
            let field = if Target::from_name(name, None).is_err() {
                "target"
            } else {
                "dim"
            };
            PlaygroundError::kernel(field, e)
        })?;
        let dim = target.dim();
        if dim < 2 {
            return Err(PlaygroundError::new(
                "dim",
                "the playground draws coordinates 0 and 1: dim must be at least 2",
            ));
        }
        let n = s.n_particles;
        if n == 0 {
            return Err(PlaygroundError::new(
                "particles",
                "need at least 1 particle",
            ));
        }
        if n > MAX_PARTICLES {
            return Err(PlaygroundError::new(
                "particles",
                format!("at most {MAX_PARTICLES} particles (memory); got {n}"),
            ));
        }
        let nd = n.saturating_mul(dim);
        if nd > MAX_FLOATS {
            return Err(PlaygroundError::new(
                "particles",
                format!(
                    "particles × dim = {n} × {dim} = {nd} is more than {MAX_FLOATS} numbers \
                     (memory); use fewer particles"
                ),
            ));
        }
        if !(s.base_std.is_finite() && s.base_std > 0.0 && s.base_std <= 1e4) {
            return Err(PlaygroundError::new(
                "base_std",
                "base std must be a number in (0, 10000]",
            ));
        }
        if !(s.target_cess > 0.0 && s.target_cess < 1.0) {
            return Err(PlaygroundError::new(
                "cess",
                "target conditional ESS must be strictly between 0 and 1",
            ));
        }
        if s.mala_steps > 100 {
            return Err(PlaygroundError::new(
                "mala_steps",
                "MALA steps per temperature must be in 0..=100",
            ));
        }
        let cfg = Config {
            base_std: s.base_std,
            target_cess: s.target_cess,
            mala_steps: s.mala_steps,
            ..Config::default()
        };
        cfg.validate()
            .map_err(|e| PlaygroundError::kernel("config", e))?;
        let cap = cfg.max_temperatures as usize + 1;
        let mut core = SmcCore {
            target: Box::new(target),
            cfg,
            state: State {
                beta: 0.0,
                log_z: 0.0,
                temperatures: 0,
                step_size: cfg.step_size,
                resamples: 0,
            },
            rng: seeded(u64::from(s.seed)),
            dim,
            bufs: Buffers::new(n, dim),
            weights: vec![1.0 / n as f32; n],
            trace_beta: Vec::with_capacity(cap),
            trace_log_z: Vec::with_capacity(cap),
            trace_ess: Vec::with_capacity(cap),
            trace_resampled: Vec::with_capacity(cap),
            last_ess_fraction: 1.0,
            last_acceptance: 0.0,
            failed: None,
            grid: DensityGrid::default(),
        };
        let (mut ps, mut ws) = core.bufs.split();
        let state = annealed::init(&cfg, &mut ps, &mut ws, &*core.target, &mut core.rng)
            .map_err(|e| PlaygroundError::kernel("config", e))?;
        core.state = state;
        core.record(1.0, false);
        Ok(core)
    }

    /// Runs up to `k` temperatures (fewer if `β` reaches 1); returns how many ran.
    ///
    /// # Errors
    /// `k > MAX_STEPS_PER_CALL`, or a kernel error (for example [`Error::Degenerate`] when
    /// every particle has zero weight). After a kernel error the run is over: further calls
    /// return the same message.
    ///
    /// [`Error::Degenerate`]: amortise_kernel::Error::Degenerate
    pub fn step(&mut self, k: u32) -> Result<u32, PlaygroundError> {
        if k > MAX_STEPS_PER_CALL {
            return Err(PlaygroundError::new(
                "steps",
                format!("at most {MAX_STEPS_PER_CALL} temperatures per call"),
            ));
        }
        if let Some(msg) = &self.failed {
            return Err(PlaygroundError::new("run", msg.clone()));
        }
        let mut done = 0;
        while done < k && !self.state.done() {
            let cfg = self.cfg;
            let mut state = self.state;
            let (mut ps, mut ws) = self.bufs.split();
            let r = annealed::step(
                &cfg,
                &mut state,
                &mut ps,
                &mut ws,
                &*self.target,
                &mut self.rng,
            );
            match r {
                Ok(info) => {
                    self.state = state;
                    self.last_acceptance = info.acceptance;
                    self.record(info.ess_fraction, info.resampled);
                    done += 1;
                }
                Err(e) => return Err(end_run(&mut self.failed, e.to_string())),
            }
        }
        Ok(done)
    }

    /// Appends the trace point of the current state and refreshes the normalised weights.
    fn record(&mut self, ess_fraction: f64, resampled: bool) {
        self.last_ess_fraction = ess_fraction;
        if normalize_log_weights(&self.bufs.log_w, &mut self.weights).is_err() {
            // No mass: the next step reports the kernel's Degenerate error; show zeros.
            self.weights.iter_mut().for_each(|w| *w = 0.0);
        }
        if self.trace_beta.len() < self.trace_beta.capacity() {
            self.trace_beta.push(self.state.beta as f32);
            self.trace_log_z.push(self.state.log_z as f32);
            self.trace_ess.push(ess_fraction as f32);
            self.trace_resampled.push(if resampled { 1.0 } else { 0.0 });
        }
    }

    /// Fills the owned grid with `log p̃` on coordinates 0 and 1 (other coordinates at the
    /// slice point, see [`crate::grid`]); returns the number of cells.
    ///
    /// # Errors
    /// A bad grid specification (`grid` field).
    pub fn density_grid(&mut self, spec: &GridSpec) -> Result<usize, PlaygroundError> {
        self.grid.fill(&*self.target, spec)
    }

    /// The grid values (row-major, `ny` rows from top `y = ymax` to bottom, `nx` columns).
    pub fn grid(&self) -> &[f32] {
        self.grid.values()
    }

    /// Current inverse temperature.
    pub fn beta(&self) -> f64 {
        self.state.beta
    }
    /// Running `log Ẑ`.
    pub fn log_z(&self) -> f64 {
        self.state.log_z
    }
    /// The target's known `log Z`, or NaN.
    pub fn log_z_true(&self) -> f64 {
        self.target.log_z().unwrap_or(f64::NAN)
    }
    /// `ESS / N` after reweighting at the last temperature (before any resampling).
    pub fn ess_fraction(&self) -> f64 {
        self.last_ess_fraction
    }
    /// Mean MALA acceptance of the last temperature.
    pub fn acceptance(&self) -> f64 {
        self.last_acceptance
    }
    /// Current MALA step size.
    pub fn step_size(&self) -> f32 {
        self.state.step_size
    }
    /// Temperatures done.
    pub fn temperatures(&self) -> u32 {
        self.state.temperatures
    }
    /// Resampling events so far.
    pub fn resamples(&self) -> u32 {
        self.state.resamples
    }
    /// `β = 1` reached.
    pub fn done(&self) -> bool {
        self.state.done()
    }
    /// The kernel error that ended the run, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }
    /// Number of particles.
    pub fn n_particles(&self) -> usize {
        self.bufs.log_w.len()
    }
    /// Dimension of the target.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Registry name of the target.
    pub fn target_name(&self) -> &'static str {
        self.target.name()
    }
    /// Positions, row-major `[n, dim]`.
    pub fn particles(&self) -> &[f32] {
        &self.bufs.x
    }
    /// Normalised weights (sum 1).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
    /// `β` per recorded temperature (index 0 is the start, `β = 0`).
    pub fn trace_beta(&self) -> &[f32] {
        &self.trace_beta
    }
    /// Running `log Ẑ` per recorded temperature.
    pub fn trace_log_z(&self) -> &[f32] {
        &self.trace_log_z
    }
    /// `ESS / N` after reweighting, per recorded temperature.
    pub fn trace_ess(&self) -> &[f32] {
        &self.trace_ess
    }
    /// `1` where that temperature resampled, else `0`.
    pub fn trace_resampled(&self) -> &[f32] {
        &self.trace_resampled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(n: usize, seed: u32, base_std: f32) -> SmcSettings {
        SmcSettings {
            n_particles: n,
            seed,
            base_std,
            ..SmcSettings::default()
        }
    }

    #[test]
    fn runs_to_beta_one_with_a_good_log_z_on_9gmm() {
        let mut c = SmcCore::new("9gmm", &settings(2000, 1, 5.0)).unwrap();
        assert_eq!(c.trace_beta(), &[0.0]);
        let mut total = 0;
        while !c.done() {
            total += c.step(3).unwrap();
        }
        assert_eq!(c.beta(), 1.0);
        assert_eq!(total, c.temperatures());
        assert_eq!(c.trace_beta().len(), total as usize + 1);
        assert_eq!(c.trace_log_z().len(), c.trace_ess().len());
        assert_eq!(c.log_z_true(), 0.0);
        assert!((c.log_z() - c.log_z_true()).abs() < 0.3, "{}", c.log_z());
        let s: f64 = c.weights().iter().map(|&w| f64::from(w)).sum();
        assert!((s - 1.0).abs() < 1e-3);
        assert_eq!(c.particles().len(), 2000 * 2);
        assert!(c.particles().iter().all(|v| v.is_finite()));
        // stepping after the end does nothing
        assert_eq!(c.step(5).unwrap(), 0);
    }

    #[test]
    fn same_seed_same_run() {
        let run = |seed| {
            let mut c = SmcCore::new("gmm40", &settings(300, seed, 20.0)).unwrap();
            c.step(1000).unwrap();
            (c.log_z(), c.particles().to_vec())
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7).1, run(8).1);
    }

    #[test]
    fn higher_dimensional_targets_run() {
        let mut c = SmcCore::new("manywell", &settings(256, 3, 1.0)).unwrap();
        assert_eq!(c.dim(), 32);
        c.step(MAX_STEPS_PER_CALL).unwrap();
        assert!(c.done());
        assert!(c.log_z().is_finite());
        let mut f = SmcCore::new(
            "funnel",
            &SmcSettings {
                dim: 5,
                ..settings(200, 0, 3.0)
            },
        )
        .unwrap();
        assert_eq!(f.dim(), 5);
        f.step(1000).unwrap();
        assert!(f.done());
    }

    #[test]
    fn bad_settings_name_the_control() {
        let field = |t: &str, s: SmcSettings| SmcCore::new(t, &s).unwrap_err().field;
        let d = SmcSettings::default();
        assert_eq!(field("", d), "target");
        assert_eq!(field("nope", d), "target");
        assert_eq!(field("gmm40", SmcSettings { dim: 65, ..d }), "dim");
        assert_eq!(field("gmm40", SmcSettings { dim: 1, ..d }), "dim");
        assert_eq!(field("9gmm", SmcSettings { dim: 3, ..d }), "dim");
        assert_eq!(
            field(
                "gmm40",
                SmcSettings {
                    n_particles: 0,
                    ..d
                }
            ),
            "particles"
        );
        let too_many = SmcSettings {
            n_particles: MAX_PARTICLES + 1,
            ..d
        };
        assert_eq!(field("gmm40", too_many), "particles");
        let too_big = SmcSettings {
            dim: 64,
            n_particles: MAX_PARTICLES,
            ..d
        };
        assert_eq!(field("gmm40", too_big), "particles");
        for b in [0.0, -1.0, f32::NAN, f32::INFINITY, 1e9] {
            assert_eq!(field("gmm40", SmcSettings { base_std: b, ..d }), "base_std");
        }
        for c in [0.0, 1.0, f64::NAN, -0.5] {
            assert_eq!(
                field(
                    "gmm40",
                    SmcSettings {
                        target_cess: c,
                        ..d
                    }
                ),
                "cess"
            );
        }
        assert_eq!(
            field(
                "gmm40",
                SmcSettings {
                    mala_steps: 101,
                    ..d
                }
            ),
            "mala_steps"
        );
        let e = SmcCore::new("nope", &d).unwrap_err();
        assert!(e.message.contains("unknown target"), "{}", e.message);
        let mut c = SmcCore::new("gaussian", &d).unwrap();
        assert_eq!(c.step(MAX_STEPS_PER_CALL + 1).unwrap_err().field, "steps");
    }

    #[test]
    fn unknown_log_z_is_nan() {
        let c = SmcCore::new("dw4", &settings(10, 0, 1.0)).unwrap();
        assert!(c.log_z_true().is_nan());
        assert_eq!(c.target_name(), "dw4");
        assert!(c.failure().is_none());
    }
}
