//! The playground's form of a [`RunConfig`]: `key=value` pairs joined by `&` (the page's
//! URL query), and the `amortise train` command line of the same run.

use crate::error::SettingError;
use crate::rules::Limits;
use crate::run::RunConfig;
use crate::targets;

/// At most this many characters of a bad value are quoted back.
const QUOTE: usize = 20;

pub(crate) fn quote(v: &str) -> String {
    v.chars().take(QUOTE).collect()
}

pub(crate) fn whole<T: core::str::FromStr>(key: &'static str, v: &str) -> Result<T, SettingError> {
    v.trim()
        .parse::<T>()
        .map_err(|_| SettingError::new(key, format!("must be a whole number, not “{}”", quote(v))))
}

pub(crate) fn real(key: &'static str, v: &str) -> Result<f32, SettingError> {
    match v.trim().parse::<f32>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(SettingError::new(
            key,
            format!("must be a number, not “{}”", quote(v)),
        )),
    }
}

fn flag(key: &'static str, v: &str) -> Result<bool, SettingError> {
    match v.trim() {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        other => Err(SettingError::new(
            key,
            format!("must be 1 or 0, not “{}”", quote(other)),
        )),
    }
}

/// Sets one `key` of `r` from its text `v`.
fn set(r: &mut RunConfig, key: &str, v: &str) -> Result<(), SettingError> {
    match key {
        "target" => r.target = v.trim().to_string(),
        "method" => r.method = v.trim().to_string(),
        "reference" => r.reference = v.trim().to_string(),
        "buffer_priority" => r.buffer_priority = v.trim().to_string(),
        "buffer_weights" => r.buffer_weights = v.trim().to_string(),
        "net" => r.net = v.trim().to_string(),
        "seed" => r.seed = u64::from(whole::<u32>("seed", v)?),
        "iters" => r.iters = whole("iters", v)?,
        "batch" => r.batch = whole("batch", v)?,
        "particles" => r.particles = whole("particles", v)?,
        "steps" => r.steps = whole("steps", v)?,
        "hidden" => r.hidden = whole("hidden", v)?,
        "flow_hidden" => r.flow_hidden = whole("flow_hidden", v)?,
        "harmonics" => r.harmonics = whole("harmonics", v)?,
        "buffer" => r.buffer = whole("buffer", v)?,
        "prefill" => r.prefill = whole("prefill", v)?,
        "chunk" => r.chunk = whole("chunk", v)?,
        "eval_samples" => r.eval_samples = whole("eval_samples", v)?,
        "sigma" => r.sigma = real("sigma", v)?,
        "lr" => r.lr = real("lr", v)?,
        "lr_log_z" => r.lr_log_z = Some(real("lr_log_z", v)?),
        "exploration" => r.exploration = real("exploration", v)?,
        "exploration_decay" => r.exploration_decay = whole("exploration_decay", v)?,
        "log_r_floor" => r.log_r_floor = Some(real("log_r_floor", v)?),
        "log_r_clamp" => r.log_r_clamp = Some(real("log_r_clamp", v)?),
        "anneal_reward" => r.anneal_reward = Some(real("anneal_reward", v)?),
        "anneal_reward_iters" => r.anneal_reward_iters = Some(whole("anneal_reward_iters", v)?),
        "buffer_mcmc_every" => r.buffer_mcmc_every = Some(whole("buffer_mcmc_every", v)?),
        "buffer_mcmc_walkers" => r.buffer_mcmc_walkers = Some(whole("buffer_mcmc_walkers", v)?),
        "buffer_mcmc_steps" => r.buffer_mcmc_steps = Some(whole("buffer_mcmc_steps", v)?),
        "buffer_mcmc_thin" => r.buffer_mcmc_thin = Some(whole("buffer_mcmc_thin", v)?),
        "buffer_mcmc_step" => r.buffer_mcmc_step = Some(real("buffer_mcmc_step", v)?),
        "buffer_mcmc_weights" => r.buffer_mcmc_weights = Some(v.trim().to_string()),
        "buffer_reweight_every" => r.buffer_reweight_every = whole("buffer_reweight_every", v)?,
        "langevin" => r.langevin = flag("langevin", v)?,
        "learned_variance" => r.learned_variance = flag("learned_variance", v)?,
        other => return Err(unknown(other)),
    }
    Ok(())
}

/// The error of a key no setting has.
pub(crate) fn unknown(key: &str) -> SettingError {
    SettingError::new("run", format!("unknown setting “{}”", quote(key)))
}

/// The `key=value` pairs of a query (`&`-separated; a pair without `=` has an empty value),
/// keys trimmed.
pub fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|p| !p.trim().is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k.trim(), v)
    })
}

impl RunConfig {
    /// Parses `key=value` pairs separated by `&` over `base`; `sigma` defaults per target
    /// ([`crate::targets`]) when the query does not give it; then [`RunConfig::validate`]
    /// with `limits`. The seed is a `u32` (what crosses the JS boundary as a number).
    ///
    /// # Errors
    /// An unknown key (`run`), a value that does not parse, or a rejected setting.
    pub fn from_query(
        query: &str,
        base: &RunConfig,
        limits: &Limits,
    ) -> Result<Self, SettingError> {
        let mut r = base.clone();
        let mut sigma_given = false;
        for (k, v) in pairs(query) {
            sigma_given |= k == "sigma";
            set(&mut r, k, v)?;
        }
        if !sigma_given {
            r.sigma = targets::of(&r.target).sigma_at(r.dim);
        }
        r.validate(limits)?;
        Ok(r)
    }

    /// The `amortise train` arguments of this run, every setting explicit (the CLI's
    /// defaults for evaluation).
    pub fn cli_args(&self) -> String {
        let mut s = format!(
            "--target {} --method {} --seed {} --iters {} --batch {} --particles {} --steps {} \
             --reference {} --sigma {} --hidden {} --flow-hidden {} --harmonics {} --lr {} \
             --buffer {} --prefill {} --chunk {} --exploration {}",
            self.target,
            self.method,
            self.seed,
            self.iters,
            self.batch,
            self.particles,
            self.steps,
            self.reference,
            self.sigma,
            self.hidden,
            self.flow_hidden,
            self.harmonics,
            self.lr,
            self.buffer,
            self.prefill,
            self.chunk,
            self.exploration
        );
        for (on, f) in [
            (self.langevin, " --langevin"),
            (self.learned_variance, " --learned-variance"),
            (self.init_log_z_smc, " --init-log-z-smc"),
            (self.init_log_z_batch, " --init-log-z-batch"),
            (self.init_log_z_iw, " --init-log-z-iw"),
        ] {
            if on {
                s.push_str(f);
            }
        }
        if self.buffer_priority != "iw" {
            s.push_str(&format!(" --buffer-priority {}", self.buffer_priority));
        }
        if self.eval_reference != "exact" {
            s.push_str(&format!(" --eval-reference {}", self.eval_reference));
        }
        if self.net != "pis" {
            s.push_str(&format!(" --net {}", self.net));
        }
        if self.buffer_weights != "corrected" {
            s.push_str(&format!(" --buffer-weights {}", self.buffer_weights));
        }
        if self.exploration_decay > 0 {
            s.push_str(&format!(" --exploration-decay {}", self.exploration_decay));
        }
        if let Some(f) = self.log_r_floor {
            s.push_str(&format!(" --log-r-floor={f}"));
        }
        if let Some(f) = self.log_r_clamp {
            s.push_str(&format!(" --log-r-clamp={f}"));
        }
        if let Some(v) = self.lr_log_z {
            s.push_str(&format!(" --lr-log-z {v}"));
        }
        if let Some(v) = self.anneal_reward {
            s.push_str(&format!(" --anneal-reward {v}"));
        }
        if let Some(v) = self.anneal_reward_iters {
            s.push_str(&format!(" --anneal-reward-iters {v}"));
        }
        let mcmc = [
            (self.buffer_mcmc_every.map(|v| v.to_string()), "every"),
            (self.buffer_mcmc_walkers.map(|v| v.to_string()), "walkers"),
            (self.buffer_mcmc_steps.map(|v| v.to_string()), "steps"),
            (self.buffer_mcmc_thin.map(|v| v.to_string()), "thin"),
            (self.buffer_mcmc_step.map(|v| v.to_string()), "step"),
            (self.buffer_mcmc_weights.clone(), "weights"),
        ];
        if self.buffer_reweight_every > 0 {
            s.push_str(&format!(
                " --buffer-reweight-every {}",
                self.buffer_reweight_every
            ));
        }
        for (v, name) in mcmc {
            if let Some(v) = v {
                s.push_str(&format!(" --buffer-mcmc-{name} {v}"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_sets_keys_over_the_base_and_defaults_sigma_by_target() {
        let base = RunConfig::playground();
        let r =
            RunConfig::from_query("target=9gmm&method=tb&batch=64", &base, &Limits::PAGE).unwrap();
        assert_eq!((r.method.as_str(), r.batch, r.sigma), ("tb", 64, 5.0));
        let r = RunConfig::from_query("target=9gmm&sigma=2", &base, &Limits::PAGE).unwrap();
        assert_eq!(r.sigma, 2.0);
        assert_eq!(
            RunConfig::from_query("", &base, &Limits::PAGE).unwrap(),
            base
        );
    }

    #[test]
    fn bad_queries_name_the_setting() {
        let base = RunConfig::playground();
        let err = |q: &str| RunConfig::from_query(q, &base, &Limits::PAGE).unwrap_err();
        assert_eq!(err("batch=abc").key, "batch");
        assert!(err("batch=abc").message.contains("whole number"));
        assert_eq!(err("batch=0").key, "batch");
        assert_eq!(err("steps=10").key, "steps");
        assert_eq!(err("steps=30&chunk=4").key, "chunk");
        assert_eq!(err("langevin=maybe").key, "langevin");
        assert_eq!(err("colour=red").key, "run");
        assert_eq!(err("seed=-1").key, "seed");
        assert_eq!(err("method=smc").key, "method");
        assert_eq!(err("net=tanh").key, "net");
        assert_eq!(err("eval_reference=paper").key, "run");
    }

    #[test]
    fn the_command_line_names_every_setting() {
        let a = RunConfig::playground().cli_args();
        assert!(a.starts_with("--target gmm40 --method rsmc --seed 1 --iters 2000"));
        assert!(a.ends_with("--exploration 0 --langevin"));
        let base = RunConfig::playground();
        let r = RunConfig::from_query("net=jax", &base, &Limits::PAGE).unwrap();
        assert!(
            r.cli_args().ends_with("--langevin --net jax"),
            "{}",
            r.cli_args()
        );
        let r = RunConfig::from_query("log_r_floor=-1000", &base, &Limits::PAGE).unwrap();
        assert_eq!(r.log_r_floor, Some(-1000.0));
        assert!(r.cli_args().ends_with("--langevin --log-r-floor=-1000"));
        let err = RunConfig::from_query("log_r_floor=nan", &base, &Limits::PAGE).unwrap_err();
        assert_eq!(err.key, "log_r_floor");
        let r = RunConfig::from_query("log_r_clamp=-1e5", &base, &Limits::PAGE).unwrap();
        assert!(r.cli_args().ends_with("--langevin --log-r-clamp=-100000"));
        let both = "log_r_clamp=-1&log_r_floor=-2";
        let err = RunConfig::from_query(both, &base, &Limits::PAGE).unwrap_err();
        assert_eq!(err.key, "log_r_clamp");
        let q = "anneal_reward=0.5&anneal_reward_iters=300";
        let r = RunConfig::from_query(q, &base, &Limits::PAGE).unwrap();
        assert!(
            r.cli_args()
                .ends_with("--anneal-reward 0.5 --anneal-reward-iters 300")
        );
        let err = RunConfig::from_query(
            "anneal_reward=2&anneal_reward_iters=3",
            &base,
            &Limits::PAGE,
        )
        .unwrap_err();
        assert_eq!(err.key, "anneal_reward");
        let err = RunConfig::from_query("anneal_reward_iters=3", &base, &Limits::PAGE).unwrap_err();
        assert_eq!(err.key, "anneal_reward_iters");
        let q =
            "buffer_mcmc_every=100&buffer_mcmc_steps=50&buffer_mcmc_thin=10&buffer_mcmc_step=0.002";
        let r = RunConfig::from_query(q, &base, &Limits::PAGE).unwrap();
        assert!(r.cli_args().ends_with(
            "--buffer-mcmc-every 100 --buffer-mcmc-steps 50 --buffer-mcmc-thin 10 \
             --buffer-mcmc-step 0.002"
        ));
        let m = r.buffer_mcmc().unwrap();
        assert_eq!((m.walkers, m.steps, m.thin), (base.batch as u32, 50, 10));
        let err = RunConfig::from_query("buffer_mcmc_thin=10", &base, &Limits::PAGE).unwrap_err();
        assert_eq!(err.key, "buffer_mcmc_thin");
    }
}
