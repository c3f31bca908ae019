//! The ranges and cross-field rules of a [`RunConfig`], checked by [`RunConfig::validate`]
//! for both front ends. [`Limits`] holds the ranges, which differ only in size: the CLI
//! guards against typos, the page against a browser tab's memory.

use crate::defaults::{self, OU_MIN_STEPS};
use crate::error::SettingError;
use crate::run::RunConfig;

/// Upper bounds (and a few lower ones) of the settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Methods accepted.
    pub methods: &'static [&'static str],
    /// Fewest iterations.
    pub min_iters: u32,
    /// Most iterations.
    pub max_iters: u32,
    /// Most batch rows, particles or evaluation samples.
    pub max_batch: usize,
    /// Most diffusion steps.
    pub max_steps: usize,
    /// Most VGS steps.
    pub max_vgs_steps: usize,
    /// Most hidden units of the policy or flow network.
    pub max_width: usize,
    /// Most Fourier harmonics.
    pub max_harmonics: usize,
    /// Most replay buffer entries.
    pub max_buffer: usize,
    /// Most prefill SMC runs.
    pub max_prefill: u32,
    /// Largest σ.
    pub max_sigma: f32,
    /// Largest learning rate.
    pub max_lr: f32,
    /// Largest exploration standard deviation.
    pub max_exploration: f32,
}

impl Limits {
    /// `amortise train`: bounds against typos (a batch of 100,000, 10,000 steps, a buffer of
    /// five million); the product of the sizes is bounded separately by the arena check.
    pub const CLI: Limits = Limits {
        methods: &defaults::METHODS,
        min_iters: 0,
        max_iters: u32::MAX,
        max_batch: 100_000,
        max_steps: 10_000,
        max_vgs_steps: 1000,
        max_width: 4096,
        max_harmonics: 1024,
        max_buffer: 5_000_000,
        max_prefill: u32::MAX,
        max_sigma: f32::MAX,
        max_lr: f32::MAX,
        max_exploration: f32::MAX,
    };

    /// The playground: sizes a browser tab trains at interactively.
    pub const PAGE: Limits = Limits {
        methods: &defaults::TRAINED,
        min_iters: 1,
        max_iters: 100_000,
        max_batch: 4096,
        max_steps: 256,
        max_vgs_steps: 200,
        max_width: 512,
        max_harmonics: 256,
        max_buffer: 1_000_000,
        max_prefill: 1000,
        max_sigma: 1e4,
        max_lr: 1.0,
        max_exploration: 100.0,
    };
}

pub(crate) fn count(key: &'static str, v: usize, max: usize) -> Result<(), SettingError> {
    if v == 0 || v > max {
        Err(SettingError::new(
            key,
            format!("must be between 1 and {max}"),
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn positive(key: &'static str, v: f32, max: f32) -> Result<(), SettingError> {
    if !(v.is_finite() && v > 0.0) {
        Err(SettingError::new(key, "must be a finite number > 0"))
    } else if v > max {
        Err(SettingError::new(key, format!("at most {max}")))
    } else {
        Ok(())
    }
}

impl RunConfig {
    /// Checks every setting against `limits` and the rules that cross settings: the OU
    /// reference needs at least [`OU_MIN_STEPS`] steps; rsmc's chunk length must divide
    /// the steps into at least two chunks; one `log Z` initialisation at most, each with
    /// the methods it serves.
    ///
    /// # Errors
    /// The first rejected setting, by key.
    pub fn validate(&self, limits: &Limits) -> Result<(), SettingError> {
        if !limits.methods.contains(&self.method.as_str()) {
            return Err(SettingError::new(
                "method",
                format!(
                    "unknown method `{}` (known: {})",
                    self.method,
                    limits.methods.join(", ")
                ),
            ));
        }
        if self.iters < limits.min_iters || self.iters > limits.max_iters {
            return Err(SettingError::new(
                "iters",
                format!("must be in {}..={}", limits.min_iters, limits.max_iters),
            ));
        }
        count("batch", self.batch, limits.max_batch)?;
        count("particles", self.particles, limits.max_batch)?;
        count("steps", self.steps, limits.max_steps)?;
        count("eval_samples", self.eval_samples, limits.max_batch)?;
        count("buffer", self.buffer, limits.max_buffer)?;
        count("hidden", self.hidden, limits.max_width)?;
        count("flow_hidden", self.flow_hidden, limits.max_width)?;
        count("harmonics", self.harmonics, limits.max_harmonics)?;
        if self.prefill > limits.max_prefill {
            return Err(SettingError::new(
                "prefill",
                format!("at most {}", limits.max_prefill),
            ));
        }
        positive("sigma", self.sigma, limits.max_sigma)?;
        positive("lr", self.lr, limits.max_lr)?;
        if let Some(v) = self.lr_log_z {
            positive("lr_log_z", v, limits.max_lr)?;
        }
        if !(self.exploration.is_finite() && self.exploration >= 0.0) {
            return Err(SettingError::new(
                "exploration",
                "must be a finite number >= 0",
            ));
        }
        if self.exploration > limits.max_exploration {
            return Err(SettingError::new(
                "exploration",
                format!("at most {}", limits.max_exploration),
            ));
        }
        if self.exploration_decay > 0 && self.exploration == 0.0 {
            return Err(SettingError::new(
                "exploration_decay",
                "decays the exploration noise: give --exploration > 0 with it",
            ));
        }
        if self.log_r_floor.is_some_and(|f| !f.is_finite()) {
            return Err(SettingError::new("log_r_floor", "must be a finite number"));
        }
        if self.log_r_clamp.is_some_and(|f| !f.is_finite()) {
            return Err(SettingError::new("log_r_clamp", "must be a finite number"));
        }
        match (self.anneal_reward, self.anneal_reward_iters) {
            (Some(b), _) if !(b > 0.0 && b <= 1.0) => {
                return Err(SettingError::new("anneal_reward", "must be in (0, 1]"));
            }
            (Some(_), None | Some(0)) => {
                return Err(SettingError::new(
                    "anneal_reward_iters",
                    "give the iterations of the rise to 1 (at least 1) with --anneal-reward",
                ));
            }
            (None, Some(_)) => {
                return Err(SettingError::new(
                    "anneal_reward_iters",
                    "is the rise of --anneal-reward: give --anneal-reward with it",
                ));
            }
            _ => {}
        }
        self.check_buffer_passes()?;
        if self.log_r_floor.is_some() && self.log_r_clamp.is_some() {
            return Err(SettingError::new(
                "log_r_clamp",
                "give either --log-r-floor (mask) or --log-r-clamp, not both",
            ));
        }
        self.process()?;
        self.priority()?;
        self.buffer_weights()?;
        self.net_form()?;
        self.smc_rules()?;
        self.cross_rules()
    }

    /// The annealed SMC baseline's settings: valid for `--method smc`, at their defaults
    /// for every other method.
    fn smc_rules(&self) -> Result<(), SettingError> {
        if self.method == "smc" {
            self.annealed_config()?;
            match self.smc_samples.as_str() {
                "resampled" => {}
                "particles" if self.eval_samples <= self.particles => {}
                "particles" => {
                    return Err(SettingError::new(
                        "eval_samples",
                        format!(
                            "--smc-samples particles evaluates at most the {} particles",
                            self.particles
                        ),
                    ));
                }
                other => {
                    return Err(SettingError::new(
                        "smc_samples",
                        format!("unknown choice `{other}` (resampled or particles)"),
                    ));
                }
            }
            if self.smc_move == "mala" && self.smc_step_sizes.is_some() {
                return Err(SettingError::new(
                    "smc_step_sizes",
                    "only used by the hmc and rwm moves (MALA adapts its own step size)",
                ));
            }
            return Ok(());
        }
        let base = RunConfig::new(&self.target, self.dim, "smc");
        for (key, default) in [
            ("smc_schedule", self.smc_schedule == base.smc_schedule),
            ("temperatures", self.temperatures == base.temperatures),
            ("smc_move", self.smc_move == base.smc_move),
            ("smc_step_sizes", self.smc_step_sizes.is_none()),
            ("smc_resample", self.smc_resample == base.smc_resample),
            ("smc_samples", self.smc_samples == base.smc_samples),
        ] {
            if !default {
                return Err(SettingError::new(key, "only used by --method smc"));
            }
        }
        Ok(())
    }

    /// The buffer passes: reweighting needs a method with a buffer; every `buffer_mcmc_*`
    /// setting needs `buffer_mcmc_every`, which needs a method with a buffer.
    fn check_buffer_passes(&self) -> Result<(), SettingError> {
        if self.buffer_reweight_every > 0 && !self.kernel_method().is_some_and(|k| k.has_buffer()) {
            return Err(SettingError::new(
                "buffer_reweight_every",
                "reweights a replay buffer: needs --method tb-buffer or rsmc",
            ));
        }
        let given = [
            (self.buffer_mcmc_walkers.is_some(), "buffer_mcmc_walkers"),
            (self.buffer_mcmc_steps.is_some(), "buffer_mcmc_steps"),
            (self.buffer_mcmc_thin.is_some(), "buffer_mcmc_thin"),
            (self.buffer_mcmc_step.is_some(), "buffer_mcmc_step"),
            (self.buffer_mcmc_weights.is_some(), "buffer_mcmc_weights"),
        ];
        let Some(m) = self.buffer_mcmc() else {
            if let Some((_, key)) = given.iter().find(|(g, _)| *g) {
                return Err(SettingError::new(
                    key,
                    "sets the buffer's MCMC augmentation: give --buffer-mcmc-every with it",
                ));
            }
            return Ok(());
        };
        if !self.kernel_method().is_some_and(|k| k.has_buffer()) {
            return Err(SettingError::new(
                "buffer_mcmc_every",
                "augments a replay buffer: needs --method tb-buffer or rsmc",
            ));
        }
        if m.every == 0 {
            return Err(SettingError::new("buffer_mcmc_every", "must be >= 1"));
        }
        if m.walkers == 0 || m.walkers as usize > self.batch {
            return Err(SettingError::new(
                "buffer_mcmc_walkers",
                format!("must be between 1 and the batch size ({})", self.batch),
            ));
        }
        if m.steps == 0 || m.steps > 100_000 {
            return Err(SettingError::new(
                "buffer_mcmc_steps",
                "must be in 1..=100000",
            ));
        }
        if m.thin == 0 || m.thin > m.steps {
            return Err(SettingError::new(
                "buffer_mcmc_thin",
                format!("must be between 1 and the steps ({})", m.steps),
            ));
        }
        if !(m.step_size.is_finite() && m.step_size > 0.0) {
            return Err(SettingError::new(
                "buffer_mcmc_step",
                "must be a positive number",
            ));
        }
        if let Some(w) = self.buffer_mcmc_weights.as_deref()
            && w != "inherit"
            && w != "resampled"
        {
            return Err(SettingError::new(
                "buffer_mcmc_weights",
                format!("unknown rule {w:?}: inherit or resampled"),
            ));
        }
        Ok(())
    }

    fn cross_rules(&self) -> Result<(), SettingError> {
        let (steps, chunk) = (self.steps, self.chunk);
        let aldp = self.target.eq_ignore_ascii_case("aldp");
        aldp_choice("aldp_scale", &self.aldp_scale, "none", aldp)?;
        aldp_choice("aldp_seams", &self.aldp_seams, "seeds", aldp)?;
        if self.reference == "ou" && steps < OU_MIN_STEPS {
            return Err(SettingError::new(
                "steps",
                format!("the OU reference needs at least {OU_MIN_STEPS} steps"),
            ));
        }
        if self.init_log_z_smc && (self.method != "rsmc" || self.prefill == 0) {
            return Err(SettingError::new(
                "init_log_z_smc",
                "needs --method rsmc with at least one --prefill SMC run",
            ));
        }
        let trained =
            defaults::TRAINED.contains(&self.method.as_str()) || self.method == "rsmc-nobuffer";
        if self.init_log_z_batch && !trained {
            return Err(SettingError::new(
                "init_log_z_batch",
                "needs a trained diffusion method: tb, tb-buffer, rsmc or rsmc-nobuffer",
            ));
        }
        if self.init_log_z_iw && !trained {
            return Err(SettingError::new(
                "init_log_z_iw",
                "needs a trained diffusion method: tb, tb-buffer, rsmc or rsmc-nobuffer",
            ));
        }
        if self.init_log_z_iw && (self.init_log_z_batch || self.init_log_z_smc) {
            return Err(SettingError::new(
                "init_log_z_iw",
                "choose one of --init-log-z-iw, --init-log-z-batch and --init-log-z-smc",
            ));
        }
        if self.init_log_z_batch && self.init_log_z_smc {
            return Err(SettingError::new(
                "init_log_z_batch",
                "choose one of --init-log-z-batch and --init-log-z-smc",
            ));
        }
        let smc = self.method == "rsmc" || self.method == "rsmc-nobuffer";
        if smc && (chunk == 0 || steps % chunk != 0 || steps / chunk < 2) {
            return Err(SettingError::new(
                "chunk",
                format!("must divide the steps ({steps}) into at least two chunks"),
            ));
        }
        if self.net != "pis" && !trained {
            return Err(SettingError::new(
                "net",
                "only used by the trained methods (tb, tb-buffer, rsmc, rsmc-nobuffer)",
            ));
        }
        self.eval_reference_rules()?;
        if self.method == "rsmc-nobuffer" && self.particles != self.batch {
            return Err(SettingError::new(
                "particles",
                format!(
                    "rsmc-nobuffer trains on its SMC particles: --particles must equal --batch ({})",
                    self.batch
                ),
            ));
        }
        Ok(())
    }
}

impl RunConfig {
    /// `eval_reference`: `exact` anywhere; `paper` on the JAX GMM40 in 2 or 5 dimensions,
    /// whose paper ground truth is a set of [`PAPER_TRUTH_ROWS`] points, so with as many
    /// evaluation samples.
    fn eval_reference_rules(&self) -> Result<(), SettingError> {
        match self.eval_reference.as_str() {
            "exact" => Ok(()),
            "paper" if !(self.target == "gmm40-jax" && matches!(self.dim, 2 | 5)) => {
                Err(SettingError::new(
                    "eval_reference",
                    "paper exists for --target gmm40-jax with --dim 2 or 5 only (the seeds' \
                     ground-truth sets; docs/targets.md)",
                ))
            }
            "paper" if self.eval_samples != PAPER_TRUTH_ROWS => Err(SettingError::new(
                "eval_samples",
                format!(
                    "must be {PAPER_TRUTH_ROWS} with --eval-reference paper (the size of the \
                     seeds' ground-truth set)"
                ),
            )),
            "paper" => Ok(()),
            other => Err(SettingError::new(
                "eval_reference",
                format!("unknown reference `{other}` (exact or paper)"),
            )),
        }
    }
}

/// Rows of the seeds' ground-truth sets (`--eval-reference paper`).
pub const PAPER_TRUTH_ROWS: usize = 2000;

/// An aldp-only choice `key` of the sampler's coordinates: `default` anywhere, `md` on aldp
/// only.
fn aldp_choice(
    key: &'static str,
    value: &str,
    default: &str,
    aldp: bool,
) -> Result<(), SettingError> {
    match value {
        v if v == default => Ok(()),
        "md" if aldp => Ok(()),
        "md" => Err(SettingError::new(key, "only used by --target aldp")),
        other => Err(SettingError::new(
            key,
            format!("unknown choice `{other}` ({default} or md)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amortise_kernel::samplers::diffusion::train::Method;

    fn key(r: &RunConfig, l: &Limits) -> &'static str {
        r.validate(l).unwrap_err().key
    }

    #[test]
    fn defaults_pass_both_limits() {
        RunConfig::new("gmm40", 2, "rsmc")
            .validate(&Limits::CLI)
            .unwrap();
        RunConfig::playground().validate(&Limits::PAGE).unwrap();
    }

    #[test]
    fn each_rule_names_its_setting() {
        let base = RunConfig::new("gmm40", 2, "rsmc");
        let l = Limits::CLI;
        let with = |f: &dyn Fn(&mut RunConfig)| {
            let mut r = base.clone();
            f(&mut r);
            r
        };
        assert_eq!(key(&with(&|r| r.steps = 10), &l), "steps");
        assert_eq!(key(&with(&|r| r.steps = 18), &l), "chunk");
        assert_eq!(key(&with(&|r| r.batch = 0), &l), "batch");
        assert_eq!(key(&with(&|r| r.batch = 100_001), &l), "batch");
        assert_eq!(key(&with(&|r| r.sigma = f32::NAN), &l), "sigma");
        assert_eq!(key(&with(&|r| r.lr = 0.0), &l), "lr");
        assert_eq!(key(&with(&|r| r.exploration = -1.0), &l), "exploration");
        assert_eq!(key(&with(&|r| r.reference = "vp".into()), &l), "reference");
        assert_eq!(key(&with(&|r| r.method = "mcmc".into()), &l), "method");
        assert_eq!(
            key(&with(&|r| r.buffer_priority = "x".into()), &l),
            "buffer_priority"
        );
        let both = with(&|r| {
            r.init_log_z_batch = true;
            r.init_log_z_smc = true;
        });
        assert_eq!(key(&both, &l), "init_log_z_batch");
        let iw_and_batch = with(&|r| {
            r.init_log_z_batch = true;
            r.init_log_z_iw = true;
        });
        assert_eq!(key(&iw_and_batch, &l), "init_log_z_iw");
        let iw_smc = with(&|r| {
            r.method = "smc".into();
            r.init_log_z_iw = true;
        });
        assert_eq!(key(&iw_smc, &l), "init_log_z_iw");
        let iw = with(&|r| r.init_log_z_iw = true);
        let c = iw.train_config().unwrap();
        assert!(c.init_log_z_from_batch && c.init_log_z_iw);
        c.validate().unwrap();
        let smc_init = with(&|r| {
            r.method = "tb".into();
            r.init_log_z_smc = true;
        });
        assert_eq!(key(&smc_init, &l), "init_log_z_smc");
        // pinned Brownian motion has no step minimum
        with(&|r| {
            r.reference = "pinned".into();
            r.steps = 8;
            r.chunk = 4;
        })
        .validate(&l)
        .unwrap();
        // the annealed SMC settings: only for --method smc, and valid there
        assert_eq!(key(&with(&|r| r.smc_move = "hmc".into()), &l), "smc_move");
        assert_eq!(key(&with(&|r| r.temperatures = 64), &l), "temperatures");
        let smc = |f: &dyn Fn(&mut RunConfig)| {
            with(&|r| {
                r.method = "smc".into();
                f(r)
            })
        };
        smc(&|_| {}).validate(&l).unwrap();
        assert_eq!(
            key(&smc(&|r| r.smc_schedule = "cosine".into()), &l),
            "smc_schedule"
        );
        assert_eq!(
            key(&smc(&|r| r.smc_step_sizes = Some([0.1, 0.1])), &l),
            "smc_step_sizes"
        );
        assert_eq!(
            key(&smc(&|r| r.smc_samples = "all".into()), &l),
            "smc_samples"
        );
        let few = smc(&|r| {
            r.smc_samples = "particles".into();
            r.particles = 100;
        });
        assert_eq!(key(&few, &l), "eval_samples");
        smc(&|r| {
            r.smc_move = "hmc".into();
            r.smc_step_sizes = Some([0.1, 0.1]);
        })
        .validate(&l)
        .unwrap();
        // rsmc-nobuffer trains on its particles
        let nb = with(&|r| {
            r.method = "rsmc-nobuffer".into();
            r.particles = 200;
        });
        assert_eq!(key(&nb, &l), "particles");
        let nb = with(&|r| r.method = "rsmc-nobuffer".into());
        nb.validate(&l).unwrap();
        assert_eq!(nb.train_config().unwrap().method, Method::RsmcNoBuffer);
        assert_eq!(
            key(
                &with(&|r| {
                    r.method = "rsmc-nobuffer".into();
                    r.steps = 18;
                }),
                &l
            ),
            "chunk"
        );
        // the page is smaller
        assert_eq!(key(&with(&|r| r.hidden = 1000), &Limits::PAGE), "hidden");
        assert_eq!(
            key(&with(&|r| r.method = "smc".into()), &Limits::PAGE),
            "method"
        );
    }
}
