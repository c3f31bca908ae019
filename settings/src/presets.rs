//! Named presets of a continuous run (`amortise train --preset NAME`): a [`RunConfig`] and an
//! evaluation cadence that stand for a published setting. Flags given with the preset
//! override it field by field.
//!
//! `paper` is the RSMC paper's own setting (`rsmc.md` §2.2–2.3, read from the seeds' JAX
//! configuration), in two variants chosen by the target:
//!
//! | | gradient-free (GMM40-2d/5d, Funnel, ManyWell-32, every other target) | LP (GMM40-50d, ManyWell-64, MoS-50) |
//! |---|---|---|
//! | policy width H, Fourier harmonics | 256 | 64 |
//! | flow width H_f | 64 | 256 |
//! | Langevin drift (`--langevin`) | off | on |
//! | steps T | 64 | 128 |
//! | iterations (milestones ×0.3 at 50 %, 75 %) | 20,000 | 40,000 |
//! | evaluation every | 200 | 400 |
//!
//! and in both: batch 2000, SMC particles 2000, chunk L = 4, replay buffer 100 batches
//! (200,000), prefill 100 SMC runs, replay ratio 2, learning rates 1e-3 (policy, flows) and
//! 1e-1 (β, log Z), clip 1, `log Z` starting at 0, the OU reference with the paper's σ
//! (the settings row's, per dimension: GMM40-50d 40 instead of the 2-d/5-d 20), 2000 evaluation samples, evaluated against the
//! seeds' own ground-truth set on GMM40-2d and GMM40-5d ([`paper_reference`],
//! `--eval-reference paper`) and against our exact set (seed 0) elsewhere. What the paper
//! reports from such a run is the mean of its last five evaluations (`summary.json`'s
//! `last5`).
//!
//! With `--method smc`, `paper` is the seeds' SMC baseline (`configs/algorithm/smc.yaml`,
//! "SMC-HMC"): 2000 particles, the geometric schedule of 128 temperatures, multinomial
//! resampling below ESS/N = 0.3, one HMC transition of 10 leapfrog steps per temperature
//! with the target row's step sizes, and the base `N(0, σ² I)` with the seeds'
//! `target.smc.init_std` ([`crate::targets::TargetDefaults::smc_std_at`]: GMM40-2d 40, not
//! the diffusion reference's 20), evaluated on the final particles as they are (their
//! weights ignored, as the seeds' `eval_fn(samples, …)` does). `--smc-move rwm` with it gives their "SMC-RWM"
//! (`smc_mh.yaml`).

use crate::error::SettingError;
use crate::run::RunConfig;

/// Preset names, for `--help` and errors.
pub const NAMES: [&str; 2] = ["paper", "aldp"];

/// A preset: the run and its evaluation cadence.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// The run, every field set.
    pub run: RunConfig,
    /// Evaluate every this many iterations.
    pub eval_every: u32,
}

/// Whether RSMC's tables run `target` at `dim` in the gradient-based (LP) setting.
pub fn paper_uses_lp(target: &str, dim: usize) -> bool {
    let t = target.to_ascii_lowercase();
    (t.starts_with("gmm40") && dim == 50) || (t == "manywell" && dim == 64) || t.starts_with("mos")
}

/// The evaluation reference of `paper` on `target` at `dim`: the seeds' own ground-truth set
/// where we have it (GMM40 with the JAX means in 2 and 5 dimensions), our exact set elsewhere.
pub fn paper_reference(target: &str, dim: usize) -> &'static str {
    if target == "gmm40-jax" && matches!(dim, 2 | 5) {
        "paper"
    } else {
        "exact"
    }
}

/// The preset `name` for `method` on `target` of dimension `dim`.
///
/// # Errors
/// An unknown name (key `preset`), or a method the preset does not cover (`teacher`, `vgs`).
pub fn preset(name: &str, target: &str, dim: usize, method: &str) -> Result<Preset, SettingError> {
    match name {
        "paper" => paper(target, dim, method),
        "aldp" => crate::aldp_preset::aldp(target, method),
        _ => Err(SettingError::new(
            "preset",
            format!("unknown preset `{name}` (known: {})", NAMES.join(", ")),
        )),
    }
}

/// `paper`: the RSMC paper's setting (the module's table).
fn paper(target: &str, dim: usize, method: &str) -> Result<Preset, SettingError> {
    if !matches!(
        method,
        "tb" | "tb-buffer" | "rsmc" | "rsmc-nobuffer" | "smc"
    ) {
        return Err(SettingError::new(
            "preset",
            format!("paper covers tb, tb-buffer, rsmc, rsmc-nobuffer and smc, not {method}"),
        ));
    }
    if target.eq_ignore_ascii_case("gmm40") {
        return Err(SettingError::new(
            "preset",
            "paper is the paper's table, whose GMM40 has the JAX code's means: use --target \
             gmm40-jax (gmm40 has the PyTorch code's means, which differ; docs/targets.md)",
        ));
    }
    let lp = paper_uses_lp(target, dim);
    let base = RunConfig::new(target, dim, method);
    let (width, flow, steps, iters) = if lp {
        (64, 256, 128, 40_000)
    } else {
        (256, 64, 64, 20_000)
    };
    let smc = method == "smc";
    let sigma = if smc {
        crate::targets::of(target).smc_std_at(dim)
    } else {
        base.sigma
    };
    let run = RunConfig {
        iters,
        sigma,
        batch: 2000,
        particles: 2000,
        steps,
        hidden: width,
        harmonics: width,
        flow_hidden: flow,
        langevin: lp,
        lr: 1e-3,
        buffer: 100 * 2000,
        prefill: 100,
        chunk: 4,
        eval_samples: 2000,
        eval_reference: paper_reference(target, dim).into(),
        ..base
    };
    let run = if smc {
        RunConfig {
            smc_schedule: "geometric".into(),
            temperatures: 128,
            smc_move: "hmc".into(),
            smc_resample: "multinomial".into(),
            smc_samples: "particles".into(),
            ..run
        }
    } else {
        run
    };
    Ok(Preset {
        run,
        eval_every: iters / 100,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_preset_follows_the_table_of_settings() {
        let p = preset("paper", "gmm40-jax", 2, "rsmc").unwrap();
        let r = &p.run;
        assert_eq!((r.hidden, r.flow_hidden, r.harmonics), (256, 64, 256));
        assert_eq!((r.steps, r.iters, p.eval_every), (64, 20_000, 200));
        assert_eq!(
            (r.batch, r.particles, r.buffer, r.prefill),
            (2000, 2000, 200_000, 100)
        );
        assert_eq!((r.sigma, r.langevin), (20.0, false));
        assert_eq!(r.eval_reference, "paper");
        assert_eq!(
            preset("paper", "gmm40-jax", 5, "smc")
                .unwrap()
                .run
                .eval_reference,
            "paper"
        );
        assert_eq!(
            preset("paper", "gmm40-jax", 50, "rsmc")
                .unwrap()
                .run
                .eval_reference,
            "exact"
        );
        assert_eq!(
            preset("paper", "funnel", 10, "tb")
                .unwrap()
                .run
                .eval_reference,
            "exact"
        );
        let p = preset("paper", "manywell", 64, "tb").unwrap();
        let r = &p.run;
        assert_eq!(
            (r.hidden, r.flow_hidden, r.steps, r.langevin),
            (64, 256, 128, true)
        );
        assert_eq!((r.iters, p.eval_every, r.sigma), (40_000, 400, 1.0));
        assert_eq!(
            preset("paper", "gmm40-jax", 50, "rsmc").unwrap().run.sigma,
            40.0
        );
        assert!(paper_uses_lp("gmm40-jax", 50) && !paper_uses_lp("gmm40-jax", 5));
        assert!(!paper_uses_lp("manywell", 32));
        assert!(paper_uses_lp("mos", 50));
        // the preset passes the CLI's rules and makes a kernel configuration
        let r = preset("paper", "funnel", 10, "rsmc").unwrap().run;
        r.validate(&crate::Limits::CLI).unwrap();
        let c = r.train_config().unwrap();
        assert_eq!(
            (c.iterations, c.lr_beta, c.lr_log_z, c.replay_ratio),
            (20_000, 0.1, 0.1, 2)
        );
    }

    #[test]
    fn the_paper_preset_of_smc_is_the_seeds_smc_hmc() {
        let r = preset("paper", "gmm40-jax", 2, "smc").unwrap().run;
        assert_eq!((r.particles, r.sigma, r.temperatures), (2000, 40.0, 128));
        assert_eq!(
            (
                r.smc_schedule.as_str(),
                r.smc_move.as_str(),
                r.smc_resample.as_str()
            ),
            ("geometric", "hmc", "multinomial")
        );
        r.validate(&crate::Limits::CLI).unwrap();
        assert_eq!(
            preset("paper", "gmm40-jax", 5, "smc").unwrap().run.sigma,
            20.0
        );
        // the trained methods keep the reference's σ and the default SMC settings
        let r = preset("paper", "gmm40-jax", 2, "rsmc").unwrap().run;
        assert_eq!((r.sigma, r.smc_move.as_str()), (20.0, "mala"));
    }

    #[test]
    fn unknown_names_and_uncovered_methods_are_errors() {
        assert_eq!(
            preset("fast", "gmm40", 2, "rsmc").unwrap_err().key,
            "preset"
        );
        assert_eq!(
            preset("paper", "gmm40", 2, "teacher").unwrap_err().key,
            "preset"
        );
        // the paper's GMM40 is the JAX code's: the PyTorch means are refused, by name
        let e = preset("paper", "gmm40", 2, "rsmc").unwrap_err();
        assert!(
            e.key == "preset" && e.to_string().contains("gmm40-jax"),
            "{e}"
        );
    }
}
