//! The Value Gradient Sampler playground as a plain Rust struct: the kernel's VGS trainer
//! ([`amortise_kernel::samplers::vgs`]: a value network trained by temporal differences, whose input gradient is the drift of a
//! few-step sampler; Yoon et al. 2025) on the 2-D mixtures, with the TD-loss history and an
//! owned buffer of samples.
//!
//! [`VgsSettings`] is the settings layer's [`VgsRunConfig`], which `amortise train-vgs`
//! resolves too (the target's VGS settings with `--steps`, `--batch`, `--hidden`, `--lr`
//! over them), and the training stream is seeded the same way, so the
//! same settings and seed train the same network as the CLI. Samples are drawn with noise
//! scale `ν = 1` from a stream seeded by the seed and the iteration (see [`VgsCore::sample`]).
//!
//! Memory: the handle owns its two arenas (`Box<[f32]>`, `Box<[u32]>`) and the trainer's
//! [`State`]; the kernel's [`Views`] are carved from them on each call.

use crate::error::end_run;
use amortise_kernel::rng::{Xoshiro256PlusPlus, seeded};
use amortise_kernel::samplers::vgs::{self, Config, Draw, Layout, State, Views};
use amortise_kernel::targets::{LogDensity, Target};
use amortise_settings::{Limits, VgsRunConfig, targets};

use crate::error::PlaygroundError;
use crate::grid::{DensityGrid, GridSpec};
use crate::train::{Arenas, check_samples, check_step, covered, target_2d};

/// The targets the VGS playground accepts (2-D): the settings layer's (`Page::vgs`).
pub fn vgs_targets() -> Vec<&'static str> {
    targets::on_page(|p| p.vgs)
}
/// Most iterations per `step` call (the same cap as training runs).
pub use crate::train::MAX_STEPS_PER_CALL;

/// The settings of one run: the settings layer's [`VgsRunConfig`] (keys: the `amortise
/// train-vgs` flags), so its per-target defaults, ranges and kernel configuration are the
/// CLI's.
pub use amortise_settings::VgsRunConfig as VgsSettings;

/// Parses the page's `key=value&…` query over the playground's defaults
/// ([`VgsRunConfig::playground`]) with the page's limits ([`Limits::PAGE`]).
///
/// # Errors
/// An unknown key, a value that does not parse or a rejected setting, naming the control.
pub fn parse_settings(query: &str) -> Result<VgsSettings, PlaygroundError> {
    Ok(VgsRunConfig::from_query(
        query,
        &VgsRunConfig::playground(),
        &Limits::PAGE,
    )?)
}

/// A VGS run over owned arenas.
#[derive(Debug)]
pub struct VgsCore {
    settings: VgsSettings,
    cfg: Config,
    target: Box<Target>,
    layout: Layout,
    arenas: Arenas,
    state: State,
    init_sigma: f32,
    rng: Xoshiro256PlusPlus,
    loss: Vec<f32>,
    sigma: Vec<f32>,
    xy: Vec<f32>,
    log_w: Vec<f32>,
    non_finite: u32,
    failed: Option<String>,
    grid: DensityGrid,
}

impl VgsCore {
    /// Validates the settings, carves the arenas and initialises the value network.
    ///
    /// # Errors
    /// A [`PlaygroundError`] naming the control.
    pub fn new(s: &VgsSettings) -> Result<VgsCore, PlaygroundError> {
        let target = target_2d(
            &s.target,
            &vgs_targets(),
            "vgs runs on the 2-D mixtures here",
        )?;
        let cfg = s.config(&Limits::PAGE)?;
        let d = target.dim();
        let layout = Layout::new(&cfg, d).map_err(|e| PlaygroundError::kernel("run", e))?;
        let lens = [layout.f32_len, layout.u32_len];
        let mut arenas = Arenas::new(lens, "the batch, steps or hidden width")?;
        let mut rng = seeded(s.seed);
        let kernel = |e| PlaygroundError::kernel("run", e);
        let mut views = Views::new(&layout, &mut arenas.f32s, &mut arenas.u32s).map_err(kernel)?;
        let state = vgs::init(&cfg, &layout, &mut views, &mut rng).map_err(kernel)?;
        let init_sigma = views.init_sigma();
        Ok(VgsCore {
            settings: s.clone(),
            cfg,
            target: Box::new(target),
            layout,
            arenas,
            init_sigma,
            state,
            rng,
            loss: Vec::new(),
            sigma: Vec::new(),
            xy: Vec::new(),
            log_w: Vec::new(),
            non_finite: 0,
            failed: None,
            grid: DensityGrid::default(),
        })
    }

    /// Runs up to `k` TD iterations; returns how many ran.
    ///
    /// # Errors
    /// `k` above the per-call cap (`run`), or the kernel's error ending the run.
    pub fn step(&mut self, k: u32) -> Result<u32, PlaygroundError> {
        check_step(k, &self.failed, "run")?;
        let mut ran = 0;
        while ran < k && !self.done() {
            let r = Views::new(&self.layout, &mut self.arenas.f32s, &mut self.arenas.u32s)
                .and_then(|mut v| {
                    vgs::step(
                        &self.cfg,
                        &mut self.state,
                        &mut v,
                        &*self.target,
                        &mut self.rng,
                    )
                });
            match r {
                Ok(info) => {
                    self.loss.push(info.td_loss as f32);
                    self.sigma.push(info.init_sigma);
                    self.init_sigma = info.init_sigma;
                    ran += 1;
                }
                Err(e) => {
                    let m = format!("iteration {}: {e}", self.iteration() + 1);
                    return Err(end_run(&mut self.failed, m));
                }
            }
        }
        Ok(ran)
    }

    /// Draws `n` samples (`ν = 1`, the preset's final-noise rule) into the owned buffer. The
    /// sampling stream is seeded from the seed and the iteration (`(seed ^ 0x5eed_e7a1) +
    /// iteration · 2³²`), so a draw at a given iteration is the same however often the page
    /// drew before, and drawing never changes the training run.
    ///
    /// # Errors
    /// `n` outside `1..=MAX_SAMPLES` (`samples`), or a kernel error (`run`).
    pub fn sample(&mut self, n: usize) -> Result<usize, PlaygroundError> {
        check_samples(n)?;
        self.xy.resize(2 * n, 0.0);
        self.log_w.resize(n, 0.0);
        let mut rng = seeded(
            (self.settings.seed ^ 0x5eed_e7a1).wrapping_add(u64::from(self.iteration()) << 32),
        );
        let draw = Draw {
            nu: 1.0,
            final_noise: self.cfg.final_noise,
            out: &mut self.xy,
            log_w: &mut self.log_w,
        };
        let info = Views::new(&self.layout, &mut self.arenas.f32s, &mut self.arenas.u32s)
            .and_then(|mut v| vgs::sample(&self.cfg, &mut v, &*self.target, draw, &mut rng))
            .map_err(|e| PlaygroundError::kernel("run", e))?;
        self.non_finite = info.non_finite;
        Ok(n)
    }

    /// Fills the heat-map buffer with the target's `log p̃`.
    ///
    /// # Errors
    /// As [`GridSpec::validate`].
    pub fn density_grid(&mut self, spec: &GridSpec) -> Result<usize, PlaygroundError> {
        self.grid.fill(&*self.target, spec)
    }

    /// The settings.
    pub fn settings(&self) -> &VgsSettings {
        &self.settings
    }
    /// The resolved kernel configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// Iterations done.
    pub fn iteration(&self) -> u32 {
        self.loss.len() as u32
    }
    /// Whether every iteration ran (or the run failed).
    pub fn done(&self) -> bool {
        self.failed.is_some() || self.iteration() >= self.settings.iters
    }
    /// TD loss of the last iteration (NaN before the first).
    pub fn loss(&self) -> f32 {
        self.loss.last().copied().unwrap_or(f32::NAN)
    }
    /// The learnt initial scale `σ_init`.
    pub fn init_sigma(&self) -> f32 {
        self.init_sigma
    }
    /// TD loss per iteration.
    pub fn hist_loss(&self) -> &[f32] {
        &self.loss
    }
    /// `σ_init` per iteration.
    pub fn hist_sigma(&self) -> &[f32] {
        &self.sigma
    }
    /// The last samples, `[n, 2]`.
    pub fn samples(&self) -> &[f32] {
        &self.xy
    }
    /// Their log importance weights (NaN without final noise).
    pub fn sample_log_w(&self) -> &[f32] {
        &self.log_w
    }
    /// Non-finite coordinates reset to 0 in the last draw.
    pub fn non_finite(&self) -> u32 {
        self.non_finite
    }
    /// Modes with a drawn sample within two standard deviations, and how many modes.
    pub fn modes_covered(&self) -> (usize, usize) {
        covered(self.target.name(), &self.xy)
    }
    /// The target's known `log Z`, or NaN.
    pub fn log_z_true(&self) -> f64 {
        self.target.log_z().unwrap_or(f64::NAN)
    }
    /// The heat-map values.
    pub fn grid(&self) -> &[f32] {
        self.grid.values()
    }
    /// Arena elements of the run.
    pub fn arena_len(&self) -> usize {
        self.arenas.len()
    }
    /// FNV-1a 64 of the value network's parameters.
    pub fn param_checksum(&self) -> String {
        // the value network's parameters open the f32 arena (vgs::views)
        crate::train::checksum(
            self.arenas
                .f32s
                .get(..self.layout.n_params)
                .unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_targets_name_the_control() {
        for (q, field) in [
            ("steps=0", "steps"),
            ("steps=x", "steps"),
            ("batch=0", "batch"),
            ("lr=0", "lr"),
            ("method=rsmc", "method"),
            ("foo=1", "run"),
        ] {
            assert_eq!(parse_settings(q).unwrap_err().field, field, "{q}");
        }
        let e = VgsCore::new(&parse_settings("target=funnel").unwrap()).unwrap_err();
        assert_eq!(e.field, "target");
        let s = parse_settings("target=25gmm&steps=5&hidden=16").unwrap();
        assert_eq!(s.config(&Limits::PAGE).unwrap().steps, 5);
        assert!(s.cli_args().contains("--steps 5 --batch 128 --hidden 16"));
        let mut c = VgsCore::new(&s).unwrap();
        let e = c.step(MAX_STEPS_PER_CALL + 1).unwrap_err();
        assert_eq!(e.field, "run");
        assert!(
            e.to_string().contains("at most 10000 iterations per call"),
            "{e}"
        );
    }

    #[test]
    fn trains_and_samples_on_every_target() {
        for t in vgs_targets() {
            let s =
                parse_settings(&format!("target={t}&iters=4&steps=5&batch=16&hidden=16")).unwrap();
            let mut c = VgsCore::new(&s).unwrap();
            assert_eq!(c.step(3).unwrap(), 3);
            assert_eq!(c.step(10).unwrap(), 1);
            assert!(c.done());
            assert!(c.loss().is_finite(), "{t}");
            assert_eq!(c.sample(100).unwrap(), 100);
            assert_eq!(c.samples().len(), 200);
            assert!(c.samples().iter().all(|v| v.is_finite()));
            assert!(c.modes_covered().1 > 0);
            assert!(c.init_sigma() > 0.0);
        }
    }

    #[test]
    fn sampling_does_not_change_training() {
        let s = parse_settings("iters=6&steps=5&batch=16&hidden=16").unwrap();
        let mut a = VgsCore::new(&s).unwrap();
        let mut b = VgsCore::new(&s).unwrap();
        a.step(3).unwrap();
        a.sample(50).unwrap();
        a.sample(50).unwrap();
        a.step(3).unwrap();
        b.step(6).unwrap();
        assert_eq!(a.param_checksum(), b.param_checksum());
        // a draw depends on the iteration only, not on earlier draws
        a.sample(50).unwrap();
        b.sample(50).unwrap();
        assert_eq!(a.samples(), b.samples());
    }
}
