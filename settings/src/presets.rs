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
//! (the settings row's, per dimension: GMM40-50d 40 instead of the 2-d/5-d 20), 2000 evaluation samples. The annealed SMC
//! baseline (`--method smc`) gets the 2000 particles. What the paper reports from such a run
//! is the mean of its last five evaluations (`summary.json`'s `last5`).

use crate::error::SettingError;
use crate::run::RunConfig;

/// Preset names, for `--help` and errors.
pub const NAMES: [&str; 1] = ["paper"];

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

/// The preset `name` for `method` on `target` of dimension `dim`.
///
/// # Errors
/// An unknown name (key `preset`), or a method the preset does not cover (`teacher`, `vgs`).
pub fn preset(name: &str, target: &str, dim: usize, method: &str) -> Result<Preset, SettingError> {
    if name != "paper" {
        return Err(SettingError::new(
            "preset",
            format!("unknown preset `{name}` (known: {})", NAMES.join(", ")),
        ));
    }
    if !matches!(method, "tb" | "tb-buffer" | "rsmc" | "smc") {
        return Err(SettingError::new(
            "preset",
            format!("paper covers tb, tb-buffer, rsmc and smc, not {method}"),
        ));
    }
    let lp = paper_uses_lp(target, dim);
    let base = RunConfig::new(target, dim, method);
    let (width, flow, steps, iters) = if lp {
        (64, 256, 128, 40_000)
    } else {
        (256, 64, 64, 20_000)
    };
    let run = RunConfig {
        iters,
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
        ..base
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
        let p = preset("paper", "gmm40", 2, "rsmc").unwrap();
        let r = &p.run;
        assert_eq!((r.hidden, r.flow_hidden, r.harmonics), (256, 64, 256));
        assert_eq!((r.steps, r.iters, p.eval_every), (64, 20_000, 200));
        assert_eq!(
            (r.batch, r.particles, r.buffer, r.prefill),
            (2000, 2000, 200_000, 100)
        );
        assert_eq!((r.sigma, r.langevin), (20.0, false));
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
    fn unknown_names_and_uncovered_methods_are_errors() {
        assert_eq!(
            preset("fast", "gmm40", 2, "rsmc").unwrap_err().key,
            "preset"
        );
        assert_eq!(
            preset("paper", "gmm40", 2, "teacher").unwrap_err().key,
            "preset"
        );
    }
}
