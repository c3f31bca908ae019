//! What every `amortise train` method writes: the summary, the samples and their plot.

use amortise_kernel::targets::{LogDensity, Target};
use serde_json::json;

use super::super::json_num;
use crate::csv::{self, write_atomic};
use crate::error::CliResult;
use crate::eval::{EvalSet, Evaluation};
use crate::plot;
use crate::run_config::RunConfig;

pub(crate) fn summary(
    rc: &RunConfig,
    target: &Target,
    seconds: f64,
    ev: &Evaluation,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut v = json!({
        "target": rc.target,
        "dim": rc.dim,
        "method": rc.method,
        "seed": rc.seed,
        "iters": if rc.method == "smc" { 0 } else { rc.iters },
        "seconds": seconds,
        "log_z_estimate": json_num(ev.log_z_is),
        "log_z_true": target.log_z().map(json_num),
        "elbo": json_num(ev.elbo),
        "eubo": ev.eubo.map(json_num),
        "sinkhorn": ev.sinkhorn.map(json_num),
        "sinkhorn_converged": ev.sinkhorn_converged,
        "sinkhorn_paper": ev.sinkhorn_paper.map(json_num),
        "mmd": ev.mmd.map(json_num),
        "ess": json_num(ev.ess),
        "emc": ev.emc.map(json_num),
        "config": rc,
    });
    if let (Some(obj), Some(a)) = (v.as_object_mut(), &ev.aldp) {
        obj.insert("aldp".into(), json!(a));
    }
    if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in more {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

pub(crate) fn write_outputs(
    out: &str,
    rc: &RunConfig,
    target: &Target,
    set: &EvalSet,
    summary: &serde_json::Value,
    samples: &[f32],
) -> CliResult<()> {
    let path = format!("{out}/summary.json");
    write_atomic(
        &path,
        serde_json::to_string_pretty(summary)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write_samples(out, rc, target, set, samples)
}

/// `samples.csv` and `samples.svg` of a run; on aldp also `samples.pdb` and
/// `ramachandran.svg` ([`crate::aldp::write_outputs`]).
pub(crate) fn write_samples(
    out: &str,
    rc: &RunConfig,
    target: &Target,
    set: &EvalSet,
    samples: &[f32],
) -> CliResult<()> {
    csv::write(&format!("{out}/samples.csv"), samples, rc.dim)?;
    let title = format!("{} on {} (seed {})", rc.method, rc.target, rc.seed);
    plot::samples_svg(&format!("{out}/samples.svg"), target, samples, &title)?;
    match &set.aldp {
        Some(a) => crate::aldp::write_outputs(a, out, samples, &title),
        None => Ok(()),
    }
}

/// Adds `"eval_reference"` to an evaluation line of a run whose reference is not the default
/// exact set, so that a `metrics.jsonl` whose run changed reference on resume says which line
/// is against which (lines against the exact set stay as they were before the setting).
pub(crate) fn mark_reference(line: &mut serde_json::Value, rc: &RunConfig) {
    if let (Some(o), false) = (line.as_object_mut(), rc.eval_reference == "exact") {
        o.insert("eval_reference".into(), rc.eval_reference.clone().into());
    }
}

/// The evaluation set of a run: [`EvalSet::new`], its target samples the seeds' own set
/// with `--eval-reference paper` ([`crate::paper_truth`]), with the aldp reference file of
/// `--aldp-reference` (kept in the snapshot's launch settings, so a resumed run reads it
/// again) when given.
pub(crate) fn eval_set(
    target: &Target,
    rc: &RunConfig,
    aldp_reference: Option<&str>,
) -> CliResult<EvalSet> {
    let mut set = EvalSet::new(target, rc.eval_samples)?;
    if rc.eval_reference == "paper" {
        set.ground_truth = Some(crate::paper_truth::gmm40_jax(rc.dim)?);
    }
    match aldp_reference {
        Some(path) => set.with_aldp_reference(path),
        None => Ok(set),
    }
}
