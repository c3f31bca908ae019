//! The trained diffusion methods (tb, tb-buffer, rsmc, rsmc-nobuffer) as a [`Run`] of
//! [`crate::run_loop`].

use amortise_kernel::rng::{self};
use amortise_kernel::samplers::diffusion::train::{self, Layout, Views};
use amortise_kernel::targets::{LogDensity, Target};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::{json_num, run_target};
use super::{eval_every, eval_set, summary, write_samples};
use crate::checkpoint::{Checkpoint, Group, RunSettings, TrainerState};
use crate::cli::TrainArgs;
use crate::commands::resume::Then;
use crate::counted::{Counted, Evals};
use crate::error::{CliError, CliResult};
use crate::eval::{self, EvalSet, Evaluation};
use crate::run_config::RunConfig;
use crate::run_loop::{self, At, Metrics, Outcome, Run, opt};
use crate::snapshot::{self, Buffers, Launch, Snapshot};

/// `train --method tb | tb-buffer | rsmc`: the diffusion trainer, driven by
/// [`crate::run_loop`]. Owns the arenas and the kernel's `State`; the views are carved
/// on each call.
struct DiffusionRun<'t> {
    rc: RunConfig,
    cfg: train::Config,
    layout: Layout,
    fa: Vec<f32>,
    ua: Vec<u32>,
    st: train::State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    set: EvalSet,
    target: &'t Target,
    chunked: Option<crate::parallel::ChunkedTb>,
    out: String,
    last: Option<train::Info>,
    last_smc: (f64, f64),
    last_ess: f64,
    masked: u64,
    evals: EvalCount,
    /// The last buffer augmentation's MALA acceptance (NaN before one; not in snapshots).
    last_mcmc: f32,
}

/// The target evaluations a trained run has spent in training (prefill, steps; not the
/// evaluations), counted from iteration `from` (0, or the iteration a run written before
/// the count existed was resumed at).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct EvalCount {
    evals: Evals,
    from: u32,
}

impl EvalCount {
    fn json(&self) -> serde_json::Value {
        let mut v = self.evals.json();
        if let Some(o) = v.as_object_mut() {
            o.insert("from_iteration".into(), json!(self.from));
        }
        v
    }
}

impl<'t> DiffusionRun<'t> {
    /// Builds the trainer (initialised), its evaluation set and (for `launch.grad_chunks`)
    /// the chunked runner; a new run then calls [`DiffusionRun::prefill`], a resumed one
    /// [`Run::restore`].
    fn new(rc: &RunConfig, launch: &Launch, target: &'t Target, out: &str) -> CliResult<Self> {
        let cfg = rc.train_config()?;
        let d = target.dim();
        let layout =
            Layout::new(&cfg, d).map_err(|e| CliError::kernel("training configuration", e))?;
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(rc.seed);
        let st = {
            let mut v = Views::new(&layout, &mut fa, &mut ua)
                .map_err(|e| CliError::kernel("building the trainer", e))?;
            train::init(&cfg, &layout, &mut v, &mut r)
                .map_err(|e| CliError::kernel("building the trainer", e))?
        };
        let set = eval_set(target, rc, launch.reference.as_deref())?;
        let eval_rng = rng::seeded(rc.seed ^ 0x5eed_e7a1);
        let chunked = match launch.grad_chunks {
            Some(chunks) => Some(
                crate::parallel::ChunkedTb::new(&cfg, &layout, chunks, launch.threads)
                    .map_err(|e| CliError::kernel("--threads/--grad-chunks", e))?,
            ),
            None => None,
        };
        Ok(DiffusionRun {
            rc: rc.clone(),
            cfg,
            layout,
            fa,
            ua,
            st,
            r,
            eval_rng,
            set,
            target,
            chunked,
            out: out.to_string(),
            last: None,
            last_smc: (f64::NAN, f64::NAN),
            last_ess: f64::NAN,
            masked: 0,
            evals: EvalCount::default(),
            last_mcmc: f32::NAN,
        })
    }

    /// The first phase of a new run: the rsmc prefill and the `log Z` initialisations.
    fn prefill(&mut self) -> CliResult<()> {
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        let target = Counted::new(self.target);
        let done = match self.chunked.as_mut() {
            Some(c) => c.prefill(&self.cfg, &mut self.st, &mut v, &target, &mut self.r),
            None => train::prefill(&self.cfg, &mut self.st, &mut v, &target, &mut self.r),
        };
        self.evals.evals = self.evals.evals + target.evals();
        done.map_err(|e| CliError::kernel("prefilling the buffer", e))?;
        Ok(())
    }

    fn log_z(&self) -> f32 {
        self.layout.log_z(self.layout.params(&self.fa))
    }

    fn last_loss(&self) -> f32 {
        self.last.map_or(f32::NAN, |i| i.tb_loss)
    }

    fn eval(&mut self, full: bool) -> CliResult<Evaluation> {
        let tp = eval::TrainedPolicy {
            cfg: &self.cfg.policy,
            process: self.cfg.process,
            steps: self.cfg.steps,
            net: &self.layout.net,
            params: self.layout.policy(self.layout.params(&self.fa)),
        };
        eval::evaluate(tp, self.target, &self.set, full, &mut self.eval_rng)
    }
}

/// What a diffusion run carries from one step to the next (the body of its resume
/// snapshot).
#[derive(Serialize, Deserialize)]
struct Saved {
    st: train::State,
    r: rng::Xoshiro256PlusPlus,
    eval_rng: rng::Xoshiro256PlusPlus,
    buffers: Buffers,
    last: Option<train::Info>,
    last_smc: (f64, f64),
    last_ess: f64,
    masked: u64,
}

impl Run for DiffusionRun<'_> {
    fn step(&mut self, it: u32) -> CliResult<()> {
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        let (cfg, st, r) = (&self.cfg, &mut self.st, &mut self.r);
        let target = Counted::new(self.target);
        let info = match self.chunked.as_mut() {
            Some(c) => c.step(cfg, st, &mut v, &target, r),
            None => train::step(cfg, st, &mut v, &target, r),
        };
        self.evals.evals = self.evals.evals + target.evals();
        let info = info.map_err(|e| CliError::kernel(format!("training step {it}"), e))?;
        self.masked += info.masked as u64;
        if info.mcmc_inserted > 0 {
            self.last_mcmc = info.mcmc_acceptance;
        }
        if info.smc_log_z.is_finite() {
            self.last_smc = (info.smc_log_z, info.smc_ess);
        }
        self.last = Some(info);
        Ok(())
    }

    fn status(&self) -> String {
        // ESS: of the last evaluation ("–" before the first); rsmc adds its last SMC pass.
        let smc = if self.last_smc.0.is_finite() {
            format!(
                "  smc log Ẑ {} ess {}",
                opt(self.last_smc.0, 2),
                opt(self.last_smc.1, 3)
            )
        } else {
            String::new()
        };
        let mcmc = if self.last_mcmc.is_finite() {
            format!("  mcmc acc {:.3}", self.last_mcmc)
        } else {
            String::new()
        };
        format!(
            "loss {:.4}  log Z {:.3}  ess {}{smc}{mcmc}",
            self.last_loss(),
            self.log_z(),
            opt(self.last_ess, 3)
        )
    }

    fn evaluate(&mut self, at: At) -> CliResult<serde_json::Value> {
        let ev = self.eval(false)?;
        self.last_ess = ev.ess;
        let (tb, subtb, buffer) = self.last.map_or((f32::NAN, f32::NAN, 0), |i| {
            (i.tb_loss, i.subtb_loss, i.buffer_len)
        });
        let mut v = json!({
            "iteration": at.iteration,
            "seconds": at.seconds,
            "tb_loss": json_num(tb as f64),
            "subtb_loss": json_num(subtb as f64),
            "log_z_learnt": json_num(self.log_z() as f64),
            "log_z_is": json_num(ev.log_z_is),
            "elbo": json_num(ev.elbo),
            "eubo": ev.eubo.map(json_num),
            "ess": json_num(ev.ess),
            "mmd": ev.mmd.map(json_num),
            "sinkhorn_paper": ev.sinkhorn_paper.map(json_num),
            "emc": ev.emc.map(json_num),
            "smc_log_z": json_num(self.last_smc.0),
            "smc_ess": json_num(self.last_smc.1),
            "buffer": buffer,
            "masked_samples": self.masked,
            "skipped_steps": self.st.optim.skipped,
            "target_evals": self.evals.json(),
        });
        if let (Some(o), Some(a)) = (v.as_object_mut(), &ev.aldp) {
            o.insert("aldp".into(), json!(a));
        }
        super::output::mark_reference(&mut v, &self.rc);
        if let (Some(o), true) = (v.as_object_mut(), self.last_mcmc.is_finite()) {
            o.insert(
                "buffer_mcmc_acceptance".into(),
                json_num(self.last_mcmc as f64),
            );
        }
        Ok(v)
    }

    fn checkpoint(&mut self) -> CliResult<Checkpoint> {
        let l = &self.layout;
        let st = &self.st;
        let mut counters = std::collections::BTreeMap::new();
        counters.insert("smc_runs".to_string(), st.smc_runs as u64);
        counters.insert("buffer_len".to_string(), st.buffer.len as u64);
        Ok(Checkpoint::new(
            RunSettings::Diffusion(self.rc.clone()),
            TrainerState {
                iteration: st.iteration,
                optim_steps: st.optim.adam.t,
                skipped_steps: st.optim.skipped,
                counters,
            },
            vec![
                Group::new("policy", l.policy_params),
                Group::new("flows", l.flow_params),
                Group::new("log_z", 1),
            ],
            l.params(&self.fa).to_vec(),
        ))
    }

    fn settings(&self) -> RunSettings {
        RunSettings::Diffusion(self.rc.clone())
    }

    fn save(&mut self) -> CliResult<Vec<u8>> {
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        // the count follows the state, so that snapshots written before it existed
        // (a `Saved` alone) still decode
        let mut body = snapshot::encode(&Saved {
            st: self.st,
            r: self.r.clone(),
            eval_rng: self.eval_rng.clone(),
            buffers: Buffers::save(|f| v.carried(f)),
            last: self.last,
            last_smc: self.last_smc,
            last_ess: self.last_ess,
            masked: self.masked,
        })?;
        body.extend(snapshot::encode(&self.evals)?);
        Ok(body)
    }

    fn restore(&mut self, body: &[u8]) -> CliResult<()> {
        let (s, rest): (Saved, _) = snapshot::decode_prefix(&self.out, body)?;
        self.evals = if rest.is_empty() {
            EvalCount {
                evals: Evals::default(),
                from: s.st.iteration,
            }
        } else {
            snapshot::decode(&self.out, rest)?
        };
        snapshot::clear(&mut self.fa, &mut self.ua);
        let mut v = Views::new(&self.layout, &mut self.fa, &mut self.ua)
            .map_err(|e| CliError::kernel("views", e))?;
        s.buffers.restore(&self.out, |f| v.carried(f))?;
        (self.st, self.r, self.eval_rng) = (s.st, s.r, s.eval_rng);
        (self.last, self.last_smc) = (s.last, s.last_smc);
        (self.last_ess, self.masked) = (s.last_ess, s.masked);
        Ok(())
    }

    fn finish(&mut self, o: &Outcome, metrics: &mut Metrics) -> CliResult<serde_json::Value> {
        let ev = self.eval(true)?;
        // only the evaluations against the run's current reference (`--eval-reference` on
        // resume; lines without the key are against the exact set)
        let reference = self.rc.eval_reference.as_str();
        let same = |v: &serde_json::Value| {
            v.get("eval_reference")
                .and_then(|r| r.as_str())
                .unwrap_or("exact")
                == reference
        };
        let last5 = metrics.mean_of_last_where(5, &LAST5_KEYS, &same);
        let s = summary(
            &self.rc,
            self.target,
            o.seconds,
            &ev,
            json!({
                "log_z_learnt": json_num(self.log_z() as f64),
                "log_z_smc": json_num(self.last_smc.0),
                "final_tb_loss": json_num(self.last_loss() as f64),
                "iterations_completed": o.completed,
                "masked_samples": self.masked,
                "skipped_steps": self.st.optim.skipped,
                "target_evals": self.evals.json(),
                "interrupted": o.interrupted,
                "last5": last5,
            }),
        );
        write_samples(&self.out, &self.rc, self.target, &self.set, &ev.samples)?;
        Ok(s)
    }
}

/// The files a trained diffusion run writes besides the loop's.
const FILES: &str = "samples.csv, samples.svg";

/// The metrics of `summary.json`'s `last5`: their means over the last five periodic
/// evaluations (against the run's current reference), as the RSMC paper's tables report
/// them.
const LAST5_KEYS: [&str; 7] = [
    "elbo",
    "eubo",
    "log_z_is",
    "ess",
    "mmd",
    "sinkhorn_paper",
    "emc",
];

/// Starts a trained diffusion run in `out` (prefill, then the loop); returns the summary.
pub(super) fn run_trained(
    rc: &RunConfig,
    a: &TrainArgs,
    target: &Target,
    out: &str,
) -> CliResult<serde_json::Value> {
    let mut s = run_loop::Settings::new(
        out,
        rc.iters,
        Some(eval_every(a, rc)?),
        &a.run.resume,
        FILES,
    );
    s.launch.grad_chunks =
        crate::parallel::chunk_plan(a.diffusion.threads, a.diffusion.grad_chunks)?;
    s.launch.threads = a.diffusion.threads;
    s.launch.reference = a.diffusion.aldp_reference.clone();
    let mut r = DiffusionRun::new(rc, &s.launch, target, out)?;
    r.prefill()?;
    run_loop::run(&mut r, &s)
}

/// Rebuilds a trained diffusion run (settings `rc`, iterations to run included) in `out`,
/// restores it from its snapshot `sn` and hands it to `f` (which resumes it, or takes its
/// checkpoint).
pub(crate) fn resume<T>(rc: &RunConfig, sn: &Snapshot, out: &str, f: Then<'_, T>) -> CliResult<T> {
    let target = run_target(rc)?;
    let s = run_loop::Settings::resuming(out, sn, FILES);
    let mut r = DiffusionRun::new(rc, &s.launch, &target, out)?;
    crate::commands::resume::restore(&mut r, sn)?;
    f(&mut r, &s)
}
