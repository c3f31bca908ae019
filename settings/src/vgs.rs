//! [`VgsRunConfig`]: a Value Gradient Sampler run (`amortise train-vgs`, `train --method
//! vgs`, the playground's VGS runs) as its flags, resolved into the kernel's
//! [`vgs::Config`]: the target's VGS settings ([`crate::targets`]) with the given flags
//! over them, checked against [`Limits`].

use amortise_kernel::samplers::vgs;

use crate::error::SettingError;
use crate::query::{pairs, quote, real, unknown, whole};
use crate::rules::{Limits, count, positive};
use crate::targets;

/// `train-vgs --iters`.
pub const ITERS: u32 = 1000;
/// `train-vgs --eval-samples`.
pub const EVAL_SAMPLES: usize = 2000;

/// A VGS run: the `train-vgs` flags (query keys with `_`); `None` takes the target's value.
#[derive(Clone, Debug, PartialEq)]
pub struct VgsRunConfig {
    /// Target name.
    pub target: String,
    /// Seed of the run.
    pub seed: u64,
    /// Training iterations (behaviour batch and TD update each).
    pub iters: u32,
    /// Steps `T`.
    pub steps: Option<usize>,
    /// Batch `B`.
    pub batch: Option<usize>,
    /// Hidden width of the value network.
    pub hidden: Option<usize>,
    /// Value learning rate.
    pub lr: Option<f32>,
    /// Samples per evaluation.
    pub eval_samples: usize,
    /// Noise scale `ν` of the evaluation samples.
    pub eval_noise: Option<f32>,
}

impl VgsRunConfig {
    /// The defaults on `target`: seed 0, [`ITERS`], [`EVAL_SAMPLES`], the rest the target's.
    pub fn new(target: &str) -> Self {
        VgsRunConfig {
            target: target.into(),
            seed: 0,
            iters: ITERS,
            steps: None,
            batch: None,
            hidden: None,
            lr: None,
            eval_samples: EVAL_SAMPLES,
            eval_noise: None,
        }
    }

    /// The playground's defaults: 9gmm, seed 1.
    pub fn playground() -> Self {
        VgsRunConfig {
            seed: 1,
            ..VgsRunConfig::new("9gmm")
        }
    }

    /// The kernel configuration: the target's VGS settings with the given flags over them.
    ///
    /// # Errors
    /// The first setting outside `limits` (see [`VgsRunConfig::validate`]).
    pub fn config(&self, limits: &Limits) -> Result<vgs::Config, SettingError> {
        let c = self.resolve();
        count("steps", c.steps, limits.max_vgs_steps)?;
        count("batch", c.batch, limits.max_batch)?;
        count("hidden", c.hidden, limits.max_width)?;
        positive("lr", c.lr, limits.max_lr)?;
        self.validate(limits)?;
        Ok(c)
    }

    /// The target's VGS settings with the given flags over them, unchecked.
    fn resolve(&self) -> vgs::Config {
        let mut c = (targets::of(&self.target).vgs)();
        c.steps = self.steps.unwrap_or(c.steps);
        c.batch = self.batch.unwrap_or(c.batch);
        c.hidden = self.hidden.unwrap_or(c.hidden);
        c.lr = self.lr.unwrap_or(c.lr);
        c
    }

    /// Checks the settings that are not part of the kernel configuration: the iterations,
    /// the evaluation samples and `ν`.
    ///
    /// # Errors
    /// The first rejected setting, by key.
    pub fn validate(&self, limits: &Limits) -> Result<(), SettingError> {
        if self.iters < limits.min_iters || self.iters > limits.max_iters {
            return Err(SettingError::new(
                "iters",
                format!("must be in {}..={}", limits.min_iters, limits.max_iters),
            ));
        }
        count("eval_samples", self.eval_samples, limits.max_batch)?;
        positive("eval_noise", self.eval_noise(), f32::MAX)
    }

    /// `ν` of the evaluation samples: the flag, or the target's.
    pub fn eval_noise(&self) -> f32 {
        self.eval_noise
            .unwrap_or(targets::of(&self.target).vgs_eval_noise)
    }

    /// Parses `key=value` pairs separated by `&` over `base` (`method` may only be `vgs`),
    /// then checks them with `limits`. The seed is a `u32` (what crosses the JS boundary as
    /// a number).
    ///
    /// # Errors
    /// An unknown key (`run`), a value that does not parse, or a rejected setting.
    pub fn from_query(
        query: &str,
        base: &VgsRunConfig,
        limits: &Limits,
    ) -> Result<Self, SettingError> {
        let mut r = base.clone();
        for (k, v) in pairs(query) {
            match k {
                "target" => r.target = v.trim().to_string(),
                "method" if v.trim() == "vgs" => {}
                "method" => {
                    return Err(SettingError::new(
                        "method",
                        format!("a VGS run has method vgs, not “{}”", quote(v.trim())),
                    ));
                }
                "seed" => r.seed = u64::from(whole::<u32>("seed", v)?),
                "iters" => r.iters = whole("iters", v)?,
                "steps" => r.steps = Some(whole("steps", v)?),
                "batch" => r.batch = Some(whole("batch", v)?),
                "hidden" => r.hidden = Some(whole("hidden", v)?),
                "lr" => r.lr = Some(real("lr", v)?),
                "eval_samples" => r.eval_samples = whole("eval_samples", v)?,
                "eval_noise" => r.eval_noise = Some(real("eval_noise", v)?),
                other => return Err(unknown(other)),
            }
        }
        r.config(limits)?;
        Ok(r)
    }

    /// The `amortise train-vgs` arguments of this run, the kernel configuration's values
    /// explicit.
    pub fn cli_args(&self) -> String {
        let c = self.resolve();
        format!(
            "--target {} --seed {} --iters {} --steps {} --batch {} --hidden {} --lr {}",
            self.target, self.seed, self.iters, c.steps, c.batch, c.hidden, c.lr
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_gives_the_defaults_and_flags_override_them() {
        let r = VgsRunConfig::new("funnel");
        let c = r.config(&Limits::CLI).unwrap();
        assert_eq!(c, vgs::Config::funnel());
        assert_eq!(r.eval_noise(), 1.0);
        assert_eq!(VgsRunConfig::new("lj13").eval_noise(), 0.9);
        assert_eq!(
            VgsRunConfig::new("gmm40").config(&Limits::CLI).unwrap(),
            vgs::Config::default()
        );
        let r = VgsRunConfig {
            steps: Some(5),
            lr: Some(3e-3),
            ..VgsRunConfig::new("dw4")
        };
        let c = r.config(&Limits::CLI).unwrap();
        assert_eq!((c.steps, c.lr, c.batch), (5, 3e-3, 256));
    }

    #[test]
    fn each_range_names_its_setting() {
        let key = |r: VgsRunConfig, l: &Limits| r.config(l).unwrap_err().key;
        let base = VgsRunConfig::new("9gmm");
        let l = Limits::CLI;
        assert_eq!(
            key(
                VgsRunConfig {
                    steps: Some(0),
                    ..base.clone()
                },
                &l
            ),
            "steps"
        );
        assert_eq!(
            key(
                VgsRunConfig {
                    steps: Some(1001),
                    ..base.clone()
                },
                &l
            ),
            "steps"
        );
        assert_eq!(
            key(
                VgsRunConfig {
                    lr: Some(f32::NAN),
                    ..base.clone()
                },
                &l
            ),
            "lr"
        );
        assert_eq!(
            key(
                VgsRunConfig {
                    eval_noise: Some(0.0),
                    ..base.clone()
                },
                &l
            ),
            "eval_noise"
        );
        assert_eq!(
            key(
                VgsRunConfig {
                    eval_samples: 0,
                    ..base.clone()
                },
                &l
            ),
            "eval_samples"
        );
        // the page is smaller
        let big = VgsRunConfig {
            steps: Some(201),
            ..base.clone()
        };
        big.config(&l).unwrap();
        assert_eq!(key(big, &Limits::PAGE), "steps");
        assert_eq!(
            key(
                VgsRunConfig {
                    hidden: Some(513),
                    ..base
                },
                &Limits::PAGE
            ),
            "hidden"
        );
    }

    #[test]
    fn a_query_sets_keys_over_the_base() {
        let base = VgsRunConfig::playground();
        let page = |q: &str| VgsRunConfig::from_query(q, &base, &Limits::PAGE);
        let r = page("target=25gmm&method=vgs&steps=5&hidden=16&seed=3").unwrap();
        assert_eq!((r.target.as_str(), r.seed, r.steps), ("25gmm", 3, Some(5)));
        assert_eq!(
            r.cli_args(),
            "--target 25gmm --seed 3 --iters 1000 --steps 5 --batch 128 --hidden 16 --lr 0.001"
        );
        assert_eq!(page("").unwrap(), base);
        for (q, key) in [
            ("steps=0", "steps"),
            ("steps=x", "steps"),
            ("batch=0", "batch"),
            ("lr=0", "lr"),
            ("iters=0", "iters"),
            ("seed=-1", "seed"),
            ("method=rsmc", "method"),
            ("foo=1", "run"),
        ] {
            assert_eq!(page(q).unwrap_err().key, key, "{q}");
        }
    }
}
