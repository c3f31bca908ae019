//! `train --method smc`: one annealed SMC pass (the baseline).

use std::time::Instant;

use amortise_kernel::rng::{self, uniform_f64};
use amortise_kernel::smc::annealed;
use amortise_kernel::smc::resample::{Scheme, resample};
use amortise_kernel::targets::{LogDensity, Target};
use serde_json::json;

use super::super::json_num;
use super::{eval_set, summary, write_outputs};
use crate::cli::TrainArgs;
use crate::counted::Counted;
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};
use crate::eval::{self, Evaluation};
use crate::run_config::RunConfig;

/// Runs the annealed SMC baseline once, evaluates its particles and writes the outputs;
/// returns the summary.
pub(super) fn run_smc(
    rc: &RunConfig,
    a: &TrainArgs,
    target: &Target,
    out: &str,
) -> CliResult<serde_json::Value> {
    let d = target.dim();
    let n = rc.particles;
    let cfg = rc.annealed_config()?;
    let (mut x, mut lw, mut lr) = (vec![0.0f32; n * d], vec![0.0f32; n], vec![0.0f32; n]);
    let (mut xt, mut w, mut anc, mut lrt, mut vecs) = (
        vec![0.0f32; n * d],
        vec![0.0f32; n],
        vec![0u32; n],
        vec![0.0f32; n],
        vec![0.0f32; annealed::Workspace::vec_len(d)],
    );
    let mut ps = annealed::Particles {
        x: &mut x,
        log_w: &mut lw,
        log_r: &mut lr,
    };
    let mut ws = annealed::Workspace {
        x_tmp: &mut xt,
        w: &mut w,
        ancestors: &mut anc,
        log_r_tmp: &mut lrt,
        vec: &mut vecs,
    };
    let mut r = rng::seeded(rc.seed);
    let t0 = Instant::now();
    let k = |e| CliError::kernel("annealed SMC", e);
    let counted = Counted::new(target);
    let mut state = annealed::init(&cfg, &mut ps, &mut ws, &counted, &mut r).map_err(k)?;
    let mut metrics = String::new();
    let mut elbo = 0.0f64;
    while !state.done() {
        let info =
            annealed::step(&cfg, &mut state, &mut ps, &mut ws, &counted, &mut r).map_err(k)?;
        elbo += info.mean_log_increment;
        let line = json!({
            "temperature": state.temperatures, "beta": info.beta, "log_z": json_num(state.log_z),
            "ess": json_num(info.ess_fraction), "resampled": info.resampled, "acceptance": json_num(info.acceptance),
            "step_size": json_num(state.step_size as f64),
        });
        metrics.push_str(&line.to_string());
        metrics.push('\n');
    }
    let seconds = t0.elapsed().as_secs_f64();
    write_atomic(&format!("{out}/metrics.jsonl"), metrics.as_bytes())?;
    let ess = amortise_kernel::metrics::weights::ess_fraction(ps.log_w).unwrap_or(0.0);
    let m = rc.eval_samples;
    let mut samples = if rc.smc_samples == "particles" {
        // the seeds' evaluation: the final particles as they are, weights ignored
        ps.x[..m * d].to_vec()
    } else {
        // equally weighted samples by systematic resampling of the final weighted particles
        let mut weights = vec![0.0f32; n];
        amortise_kernel::metrics::weights::normalize_log_weights(ps.log_w, &mut weights)
            .map_err(k)?;
        let mut idx = vec![0u32; m];
        resample(
            Scheme::Systematic,
            &weights,
            &[uniform_f64(&mut r)],
            &mut idx,
        )
        .map_err(k)?;
        let mut samples = Vec::with_capacity(m * d);
        for &i in &idx {
            samples.extend_from_slice(&ps.x[i as usize * d..(i as usize + 1) * d]);
        }
        samples
    };
    target.to_target_coords(&mut samples);
    let set = eval_set(target, rc, a.diffusion.aldp_reference.as_deref())?;
    let m = eval::sample_metrics(&set, &samples, d, true)?;
    let aldp = set
        .aldp
        .as_ref()
        .map(|a| crate::aldp::metrics(a, &samples))
        .transpose()?
        .map(|a| crate::aldp::AldpMetrics {
            eubo_note: "not defined for smc (no backward process)",
            ..a
        });
    let ev = Evaluation {
        elbo: f64::NAN,
        eubo: None,
        log_z_is: state.log_z,
        ess,
        mmd: m.mmd,
        sinkhorn: m.sinkhorn,
        sinkhorn_converged: m.sinkhorn_converged,
        sinkhorn_paper: m.sinkhorn_paper,
        emc: m.emc,
        aldp,
        samples,
    };
    let mut s = summary(
        rc,
        target,
        seconds,
        &ev,
        json!({
            "temperatures": state.temperatures,
            "resamples": state.resamples,
            "target_evals": counted.evals().json(),
            // the seeds' "ELBO" of SMC: the summed weighted mean log increments
            "smc_elbo": json_num(elbo),
        }),
    );
    if let Some(obj) = s.as_object_mut() {
        obj.insert("elbo".into(), serde_json::Value::Null);
    }
    write_outputs(out, rc, target, &set, &s, &ev.samples)?;
    Ok(s)
}
