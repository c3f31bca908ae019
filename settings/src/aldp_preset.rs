//! `--preset aldp`: alanine dipeptide at a budget of about two hours of a 2-core machine
//! per run, for tb, tb-buffer, rsmc and the annealed SMC baseline (`docs/aldp.md`,
//! "Training", has the runs behind each choice and what they reach).
//!
//! | | tb, tb-buffer | rsmc | smc |
//! |---|---|---|---|
//! | reference, σ | OU, 0.5 | OU, 0.5 | base N(0, 0.5² I) |
//! | steps T | 32 | 32 | [`SMC_TEMPERATURES`] geometric temperatures, 5 MALA steps each |
//! | policy width, harmonics / flow width | 256, 16 / – | 256, 16 / 64 | – |
//! | batch / particles | 200 / – | 200 / 200 | – / [`SMC_PARTICLES`] |
//! | iterations (evaluation every) | [`TB_ITERS`] (900) | [`RSMC_ITERS`] ([`RSMC_EVAL_EVERY`]) | one pass |
//! | buffer | 200 batches (40,000) | [`RSMC_BUFFER`], MCMC-augmented every 100 iterations, reweighted every 500 | – |
//!
//! and for the trained methods: learning rate 1e-3, `log Z` initialised at the log-mean-exp
//! of a first batch's log weights (`--init-log-z-iw`, the RSMC PyTorch ALDP script's
//! `iw_elbo`), prefill 10, SubTB chunk L = 4, 2000 evaluation
//! samples (the seeds' 2000 during training; their final 100,000 is `amortise sample --n
//! 100000` on the checkpoint). Every method samples the circular map with the MD
//! reference's seams, scaled by the reference's spread (`aldp_seams` and `aldp_scale` `md`:
//! the same target after a change of variables, files in the seeds' coordinates).
//!
//! Why σ = 0.5, not the seeds' 1.0: the normalised internal coordinates of the reference
//! samples have standard deviations 0.05–0.87 (most 0.4–0.6), and σ is where the policy
//! starts. Measured in `docs/aldp.md` ("Training"): at σ = 0.1, tb-buffer and rsmc stayed in
//! β/C7eq (αR 0); at σ = 0.5 tb-buffer reaches all three basins within 1000 iterations; σ = 1
//! is compared there too.
//!
//! Why rsmc runs fewer iterations than tb (10,000 against 18,000): its SMC passes spend
//! about 13 target evaluations per trajectory against tb's one, its MCMC augmentation five
//! more, and it is about 1.6× slower per iteration without the buffer passes; the seeds'
//! ALDP script likewise gives the SMC variants 10,000 epochs against 30,000.
//!
//! Why rsmc's buffer is augmented by MCMC and reweighted (`--buffer-mcmc-every 100
//! --buffer-reweight-every 500`, the seeds' ALDP augmentation with its weights recomputed
//! under the current policy) in a buffer of 400,000, for 10,000 iterations: without them it
//! loses the αL wells it finds early (αL 0.5× the reference's, Ramachandran KL 0.59 on
//! 100,000 samples at 6000 iterations); with them, on seeds 0 and 1, its importance-weighted
//! samples hold all three basins within a factor 1.5 of the reference and a Ramachandran KL
//! of 0.11–0.12 (1,000,000 samples; `docs/aldp.md`).

use crate::error::SettingError;
use crate::presets::Preset;
use crate::run::RunConfig;

/// Iterations of tb and tb-buffer.
pub const TB_ITERS: u32 = 18_000;

/// Iterations of rsmc.
pub const RSMC_ITERS: u32 = 10_000;

/// Iterations between rsmc's evaluations (kept from the 6000-iteration preset, so that the
/// 10,000-iteration runs made before this preset are its runs bit for bit).
pub const RSMC_EVAL_EVERY: u32 = 300;

/// rsmc's buffer capacity (2000 batches): the MCMC augmentation adds 2000 states every 100
/// iterations, which a 40,000 buffer would push out within two augmentations.
pub const RSMC_BUFFER: usize = 400_000;

/// Particles of the annealed SMC baseline.
pub const SMC_PARTICLES: usize = 2_000;

/// Temperatures of the annealed SMC baseline (geometric, both ends included): with
/// [`SMC_PARTICLES`] it spends about the target evaluations of an rsmc run at this preset
/// (about 25,700 a temperature against rsmc's 3670 an iteration, its MCMC augmentation's
/// gradients included; `target_evals` of both summaries, `docs/aldp.md`).
pub const SMC_TEMPERATURES: u32 = 1430;

/// The reference's (and the SMC base's) σ on the normalised coordinates.
pub const SIGMA: f32 = 0.5;

/// `--preset aldp` for `method` on `target` (which must be `aldp`).
///
/// # Errors
/// Another target, or a method the preset does not cover (key `preset`).
pub fn aldp(target: &str, method: &str) -> Result<Preset, SettingError> {
    if !target.eq_ignore_ascii_case("aldp") {
        return Err(SettingError::new(
            "preset",
            format!("aldp is the alanine-dipeptide setting (--target aldp), not {target}'s"),
        ));
    }
    let base = RunConfig::new(target, 60, method);
    let iters = match method {
        "tb" | "tb-buffer" => TB_ITERS,
        "rsmc" => RSMC_ITERS,
        "smc" => base.iters,
        _ => {
            return Err(SettingError::new(
                "preset",
                format!("aldp covers tb, tb-buffer, rsmc and smc, not {method}"),
            ));
        }
    };
    let run = RunConfig {
        iters,
        sigma: SIGMA,
        steps: 32,
        hidden: 256,
        harmonics: 16,
        flow_hidden: 64,
        batch: 200,
        particles: if method == "smc" { SMC_PARTICLES } else { 200 },
        lr: 1e-3,
        init_log_z_iw: method != "smc",
        buffer: if method == "rsmc" {
            RSMC_BUFFER
        } else {
            200 * 200
        },
        buffer_mcmc_every: (method == "rsmc").then_some(100),
        buffer_reweight_every: if method == "rsmc" { 500 } else { 0 },
        prefill: 10,
        chunk: 4,
        eval_samples: 2000,
        aldp_scale: "md".into(),
        aldp_seams: "md".into(),
        smc_schedule: if method == "smc" {
            "geometric".into()
        } else {
            base.smc_schedule.clone()
        },
        temperatures: if method == "smc" {
            SMC_TEMPERATURES
        } else {
            base.temperatures
        },
        ..base
    };
    let eval_every = if method == "rsmc" {
        RSMC_EVAL_EVERY
    } else {
        (iters / 20).max(1)
    };
    Ok(Preset { run, eval_every })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::preset;

    #[test]
    fn the_aldp_preset_sets_every_method_and_passes_the_rules() {
        for m in ["tb", "tb-buffer", "rsmc", "smc"] {
            let p = preset("aldp", "aldp", 60, m).unwrap();
            let r = &p.run;
            assert_eq!(
                (r.sigma, r.steps, r.hidden, r.harmonics),
                (0.5, 32, 256, 16)
            );
            let buffer = if m == "rsmc" { RSMC_BUFFER } else { 40_000 };
            assert_eq!((r.batch, r.buffer, r.prefill), (200, buffer, 10));
            assert_eq!(r.buffer_mcmc_every.is_some(), m == "rsmc");
            assert_eq!((r.aldp_scale.as_str(), r.aldp_seams.as_str()), ("md", "md"));
            r.validate(&crate::Limits::CLI).unwrap();
            if m != "smc" {
                assert!(r.init_log_z_iw);
                r.train_config().unwrap();
            }
        }
        let p = preset("aldp", "ALDP", 60, "rsmc").unwrap();
        assert_eq!(
            (p.run.iters, p.eval_every, p.run.particles),
            (10_000, 300, 200)
        );
        assert_eq!(
            (p.run.buffer_mcmc_every, p.run.buffer_reweight_every),
            (Some(100), 500)
        );
        let p = preset("aldp", "aldp", 60, "tb-buffer").unwrap();
        assert_eq!((p.run.iters, p.eval_every), (18_000, 900));
        assert_eq!(
            preset("aldp", "aldp", 60, "smc").unwrap().run.particles,
            SMC_PARTICLES
        );
    }

    #[test]
    fn the_aldp_preset_refuses_other_targets_and_methods() {
        assert_eq!(preset("aldp", "gmm40", 2, "tb").unwrap_err().key, "preset");
        assert_eq!(preset("aldp", "aldp", 60, "vgs").unwrap_err().key, "preset");
        assert_eq!(
            preset("aldp", "aldp", 60, "rsmc-nobuffer").unwrap_err().key,
            "preset"
        );
    }
}
