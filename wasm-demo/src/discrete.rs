//! The discrete (GFlowNet) playground as a plain Rust struct: the kernel's GFlowNet trainer
//! (TB, DB, SubTB) or the adaptive-teacher pair (`run.rs`) on the 2-D hypergrid (standard
//! or deceptive reward) or the prepend/append sequence target, the exact target
//! distribution by enumeration, the learner's empirical distribution, and the
//! per-iteration and per-evaluation histories.
//!
//! [`DiscreteSettings`] mirrors the flags of `amortise train-discrete` and resolves them as
//! the CLI does (`src/commands/discrete.rs`): the same settings and seed give the same
//! training run as `amortise train-discrete … --eval-every <iters>` (the CLI's evaluations
//! share the training RNG, so only a run that evaluates once, at the end, is comparable;
//! here evaluations use their own RNG stream and never change the training run).
//!
//! Memory: a run owns its environment, its two arenas (`Box<[f32]>`, `Box<[u32]>`) and the
//! trainers' small `Copy` states; the kernel's views are carved from the arenas on each
//! call, so nothing is leaked and dropping the core frees everything.

mod run;
mod settings;

use run::{Exact, Run};
pub use settings::{DiscreteSettings, EnvKind, Learn};

use crate::error::end_run;
use amortise_kernel::metrics::{bounds, histogram};
use amortise_kernel::rng::{Xoshiro256PlusPlus, seeded};
use amortise_kernel::samplers::gflownet::exact;
use amortise_kernel::samplers::gflownet::grid::{GridReward, Hypergrid};
use amortise_kernel::samplers::gflownet::sequence::{SequenceConfig, SequenceEnv};

use crate::error::PlaygroundError;
use crate::train::check_step;

/// Most iterations per `step` call (the same cap as training runs).
pub use crate::train::MAX_STEPS_PER_CALL;
/// How many of the most likely sequences the sequence view compares.
pub const TOP_K: usize = 16;
/// Most terminal objects the page enumerates (the exact and empirical distributions are
/// copied to the page at every frame).
pub const MAX_TERMINAL_PAGE: usize = 1 << 16;

/// The two environment types of the page.
// One per core: the size difference (the planted-mode table) does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum AnyRun {
    Grid(Run<Hypergrid>),
    Seq(Run<SequenceEnv>),
}

macro_rules! with_run {
    ($self:expr, $r:ident => $body:expr) => {
        match $self {
            AnyRun::Grid($r) => $body,
            AnyRun::Seq($r) => $body,
        }
    };
}

/// Per-iteration and per-evaluation histories (`f32` for zero-copy views).
#[derive(Debug, Default)]
struct History {
    loss: Vec<f32>,
    teacher_loss: Vec<f32>,
    log_z: Vec<f32>,
    modes: Vec<f32>,
    visited: Vec<f32>,
    distinct: Vec<f32>,
    eval_iter: Vec<f32>,
    eval_tv: Vec<f32>,
    eval_jsd: Vec<f32>,
    eval_log_z: Vec<f32>,
}

/// A discrete training run over owned arenas.
#[derive(Debug)]
pub struct DiscreteCore {
    settings: DiscreteSettings,
    run: AnyRun,
    exact: Exact,
    n_modes: usize,
    rng: Xoshiro256PlusPlus,
    eval_rng: Xoshiro256PlusPlus,
    fresh: Vec<usize>,
    visited: Vec<bool>,
    n_visits: u64,
    distinct: usize,
    modes_found: usize,
    last: Option<(f32, f32, bool)>,
    hist: History,
    counts: Vec<u32>,
    q: Vec<f32>,
    eval_idx: Vec<usize>,
    eval_lw: Vec<f32>,
    lw: Vec<f32>,
    top: Vec<usize>,
    top_p: Vec<f32>,
    top_q: Vec<f32>,
    failed: Option<String>,
    arena_len: usize,
}

impl DiscreteCore {
    /// Validates the settings, builds the environment, enumerates the exact target and
    /// initialises the learner(s) exactly as `amortise train-discrete` does.
    ///
    /// # Errors
    /// A [`PlaygroundError`] naming the control.
    pub fn new(s: &DiscreteSettings) -> Result<DiscreteCore, PlaygroundError> {
        let cfg = s.train_config()?;
        let mut rng = seeded(u64::from(s.seed));
        let (run, exact, total) = match s.env {
            EnvKind::Grid | EnvKind::DeceptiveGrid => {
                let reward = if s.env == EnvKind::Grid {
                    GridReward::Standard
                } else {
                    GridReward::Deceptive
                };
                let env = Hypergrid::new(2, s.side, reward)
                    .map_err(|e| PlaygroundError::kernel("side", e))?;
                let (r, e, t) = Run::new(env, cfg, s, &mut rng)?;
                (AnyRun::Grid(r), e, t)
            }
            EnvKind::Sequence => {
                let env = SequenceEnv::new(SequenceConfig {
                    len: s.len,
                    alphabet: s.alphabet,
                    modes: s.modes,
                    temperature: s.temperature,
                    floor: 1e-3,
                    seed: u64::from(s.env_seed),
                })
                .map_err(|e| PlaygroundError::kernel("len", e))?;
                let (r, e, t) = Run::new(env, cfg, s, &mut rng)?;
                (AnyRun::Seq(r), e, t)
            }
        };
        let n = exact.p.len();
        let n_modes = exact.is_mode.iter().filter(|&&m| m).count();
        // the most likely objects, for the sequence view (ties by index)
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| exact.p[b].total_cmp(&exact.p[a]).then(a.cmp(&b)));
        order.truncate(TOP_K);
        let top_p = order.iter().map(|&i| exact.p[i]).collect();
        Ok(DiscreteCore {
            settings: s.clone(),
            run,
            n_modes,
            rng,
            eval_rng: seeded(u64::from(s.seed) ^ 0x6a09_e667),
            fresh: Vec::with_capacity(s.batch),
            visited: vec![false; n],
            n_visits: 0,
            distinct: 0,
            modes_found: 0,
            last: None,
            hist: History::default(),
            counts: vec![0; n],
            q: vec![0.0; n],
            eval_idx: Vec::new(),
            eval_lw: Vec::new(),
            lw: vec![0.0; s.batch],
            top_q: vec![0.0; order.len()],
            top: order,
            top_p,
            exact,
            failed: None,
            arena_len: total,
        })
    }

    /// Runs up to `k` iterations, evaluating every `eval_every` iterations and at the end;
    /// returns how many ran (0 once done).
    ///
    /// # Errors
    /// `k` above [`MAX_STEPS_PER_CALL`] (`run`), or the kernel's error ending the run.
    pub fn step(&mut self, k: u32) -> Result<u32, PlaygroundError> {
        check_step(k, &self.failed, "run")?;
        let mut ran = 0;
        while ran < k && !self.done() {
            let r = with_run!(&mut self.run, r => r.step(&mut self.rng, &mut self.fresh));
            let out = match r {
                Ok(o) => o,
                Err(e) => {
                    let m = format!("iteration {}: {e}", self.iteration() + 1);
                    return Err(end_run(&mut self.failed, m));
                }
            };
            for &i in &self.fresh {
                self.n_visits += 1;
                if let Some(v) = self.visited.get_mut(i)
                    && !*v
                {
                    *v = true;
                    self.distinct += 1;
                    if self.exact.is_mode.get(i).copied().unwrap_or(false) {
                        self.modes_found += 1;
                    }
                }
            }
            let h = &mut self.hist;
            h.loss.push(out.loss);
            h.teacher_loss.push(out.teacher_loss);
            h.log_z.push(out.log_z);
            h.modes.push(self.modes_found as f32);
            h.visited.push(self.n_visits as f32);
            h.distinct.push(self.distinct as f32);
            self.last = Some((out.loss, out.log_z, out.from_buffer));
            ran += 1;
            let it = self.iteration();
            if it.is_multiple_of(self.settings.eval_every) || it == self.settings.iters {
                self.evaluate()?;
            }
        }
        Ok(ran)
    }

    /// Draws `eval_samples` objects from the student (own RNG stream: the training run is
    /// unchanged), and records the empirical distribution, TV, JSD and the importance-sampling
    /// `log Z`.
    ///
    /// # Errors
    /// A kernel error (`run`).
    pub fn evaluate(&mut self) -> Result<(), PlaygroundError> {
        let kerr = |e| PlaygroundError::kernel("run", e);
        let b = self.settings.batch;
        let rounds = self.settings.eval_samples.div_ceil(b);
        self.eval_idx.clear();
        self.eval_lw.clear();
        for _ in 0..rounds {
            with_run!(&mut self.run, r => r.sample_batch(
                &mut self.eval_rng, &mut self.lw, &mut self.eval_idx, &mut self.eval_lw))
            .map_err(kerr)?;
        }
        self.counts.fill(0);
        for &i in &self.eval_idx {
            if let Some(c) = self.counts.get_mut(i) {
                *c += 1;
            }
        }
        histogram::normalize_counts(&self.counts, &mut self.q).map_err(kerr)?;
        let tv = histogram::total_variation(&self.exact.p, &self.q).map_err(kerr)?;
        let jsd = exact::jensen_shannon(&self.exact.p, &self.q).map_err(kerr)?;
        let lz = bounds::log_z_is(&self.eval_lw).unwrap_or(f64::NAN);
        for (t, &i) in self.top_q.iter_mut().zip(&self.top) {
            *t = self.q.get(i).copied().unwrap_or(0.0);
        }
        let it = self.iteration() as f32;
        let h = &mut self.hist;
        h.eval_iter.push(it);
        h.eval_tv.push(tv as f32);
        h.eval_jsd.push(jsd as f32);
        h.eval_log_z.push(lz as f32);
        Ok(())
    }

    /// The settings.
    pub fn settings(&self) -> &DiscreteSettings {
        &self.settings
    }
    /// Iterations done.
    pub fn iteration(&self) -> u32 {
        self.hist.loss.len() as u32
    }
    /// Whether every iteration ran (or the run failed).
    pub fn done(&self) -> bool {
        self.failed.is_some() || self.iteration() >= self.settings.iters
    }
    /// Student loss of the last iteration (NaN before the first).
    pub fn loss(&self) -> f32 {
        self.last.map_or(f32::NAN, |l| l.0)
    }
    /// Whether the last iteration trained on replayed objects.
    pub fn from_buffer(&self) -> bool {
        self.last.is_some_and(|l| l.2)
    }
    /// The student's learnt `log Z`.
    pub fn log_z(&self) -> f32 {
        with_run!(&self.run, r => r.params().last().copied().unwrap_or(f32::NAN))
    }
    /// The exact `log Z` (enumeration).
    pub fn log_z_true(&self) -> f64 {
        self.exact.log_z
    }
    /// Distinct objects that are modes, found by the training samples so far.
    pub fn modes_found(&self) -> usize {
        self.modes_found
    }
    /// Modes of the target.
    pub fn n_modes(&self) -> usize {
        self.n_modes
    }
    /// Trajectories sampled for training (not replayed) so far.
    pub fn visits(&self) -> u64 {
        self.n_visits
    }
    /// Distinct objects visited so far.
    pub fn distinct(&self) -> usize {
        self.distinct
    }
    /// Entries of the student's replay buffer.
    pub fn buffer_len(&self) -> usize {
        with_run!(&self.run, r => r.buffer_len())
    }
    /// Number of terminal objects.
    pub fn n_terminal(&self) -> usize {
        self.exact.p.len()
    }
    /// Side of the 2-D grid (0 for the sequence target).
    pub fn grid_side(&self) -> usize {
        match self.settings.env {
            EnvKind::Sequence => 0,
            _ => self.settings.side,
        }
    }
    /// Arena elements of the run.
    pub fn arena_len(&self) -> usize {
        self.arena_len
    }
    /// FNV-1a 64 of the student's parameters (network, then `log Z`).
    pub fn param_checksum(&self) -> String {
        crate::train::checksum(with_run!(&self.run, r => r.params()))
    }
    /// Last evaluation's TV (NaN before the first).
    pub fn tv(&self) -> f32 {
        self.hist.eval_tv.last().copied().unwrap_or(f32::NAN)
    }
    /// Last evaluation's JSD.
    pub fn jsd(&self) -> f32 {
        self.hist.eval_jsd.last().copied().unwrap_or(f32::NAN)
    }
    /// Last evaluation's importance-sampling `log Z`.
    pub fn is_log_z(&self) -> f32 {
        self.hist.eval_log_z.last().copied().unwrap_or(f32::NAN)
    }
    /// The exact target `π(x)` by terminal index (grid: `x0 + side · x1`).
    pub fn exact_p(&self) -> &[f32] {
        &self.exact.p
    }
    /// The last evaluation's empirical distribution (zeros before the first).
    pub fn empirical(&self) -> &[f32] {
        &self.q
    }
    /// `1` where the object is a mode, else `0`.
    pub fn mode_mask(&self) -> Vec<f32> {
        self.exact
            .is_mode
            .iter()
            .map(|&m| if m { 1.0 } else { 0.0 })
            .collect()
    }
    /// The [`TOP_K`] most likely objects' exact probabilities.
    pub fn top_exact(&self) -> &[f32] {
        &self.top_p
    }
    /// Their empirical frequencies at the last evaluation.
    pub fn top_empirical(&self) -> &[f32] {
        &self.top_q
    }
    /// Their labels, comma-separated: the sequence in letters `A, B, …`, or the grid cell
    /// as `(x0 x1)`.
    pub fn top_labels(&self) -> String {
        let labels: Vec<String> = self.top.iter().map(|&i| self.label(i)).collect();
        labels.join(",")
    }
    fn label(&self, i: usize) -> String {
        let s = &self.settings;
        match s.env {
            EnvKind::Sequence => {
                let mut letters = vec![b'A'; s.len];
                let mut r = i;
                for c in letters.iter_mut().rev() {
                    *c = b'A' + (r % s.alphabet) as u8;
                    r /= s.alphabet;
                }
                String::from_utf8_lossy(&letters).into_owned()
            }
            _ => format!("({} {})", i % s.side, i / s.side),
        }
    }
    /// Student loss per iteration.
    pub fn hist_loss(&self) -> &[f32] {
        &self.hist.loss
    }
    /// Teacher loss per iteration (NaN without a teacher).
    pub fn hist_teacher_loss(&self) -> &[f32] {
        &self.hist.teacher_loss
    }
    /// Learnt `log Z` per iteration.
    pub fn hist_log_z(&self) -> &[f32] {
        &self.hist.log_z
    }
    /// Modes found per iteration.
    pub fn hist_modes(&self) -> &[f32] {
        &self.hist.modes
    }
    /// Training trajectories sampled, per iteration.
    pub fn hist_visited(&self) -> &[f32] {
        &self.hist.visited
    }
    /// Distinct objects visited, per iteration.
    pub fn hist_distinct(&self) -> &[f32] {
        &self.hist.distinct
    }
    /// Iteration of each evaluation.
    pub fn eval_iter(&self) -> &[f32] {
        &self.hist.eval_iter
    }
    /// TV of each evaluation.
    pub fn eval_tv(&self) -> &[f32] {
        &self.hist.eval_tv
    }
    /// JSD of each evaluation.
    pub fn eval_jsd(&self) -> &[f32] {
        &self.hist.eval_jsd
    }
    /// Importance-sampling `log Z` of each evaluation.
    pub fn eval_log_z(&self) -> &[f32] {
        &self.hist.eval_log_z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> DiscreteSettings {
        DiscreteSettings::parse(s).unwrap()
    }

    #[test]
    fn parse_rejects_bad_values_naming_the_control() {
        for (s, field) in [
            ("batch=0", "batch"),
            ("batch=2000", "batch"),
            ("side=1", "side"),
            ("side=x", "side"),
            ("method=rsmc", "method"),
            ("target=gmm40", "target"),
            ("lr=-1", "lr"),
            ("epsilon=2", "epsilon"),
            ("eval_samples=3", "eval_samples"),
            ("nope=1", "run"),
        ] {
            assert_eq!(DiscreteSettings::parse(s).unwrap_err().field, field, "{s}");
        }
        let s = q("target=sequence&method=teacher&len=6");
        assert_eq!(
            (s.env, s.method, s.len),
            (EnvKind::Sequence, Learn::Teacher, 6)
        );
        assert!(s.cli_args().contains("--env sequence --len 6"));
        // too many sequences to enumerate and draw: next to the target control
        let e = DiscreteCore::new(&q("target=sequence&len=10")).unwrap_err();
        assert_eq!(e.field, "target");
        // the kernel rejects 26^5 > 2^20 sequences
        assert_eq!(
            DiscreteCore::new(&q("target=sequence&len=5&alphabet=26"))
                .unwrap_err()
                .field,
            "len"
        );
    }

    #[test]
    fn every_learner_trains_on_every_target() {
        for t in ["grid", "deceptive-grid", "sequence"] {
            for m in ["tb", "db", "subtb", "teacher"] {
                let s = q(&format!(
                    "target={t}&method={m}&side=8&len=4&iters=6&eval_every=3&eval_samples=64&hidden=16&buffer=100"
                ));
                let mut c = DiscreteCore::new(&s).unwrap();
                assert_eq!(c.step(4).unwrap(), 4);
                assert_eq!(c.step(100).unwrap(), 2);
                assert!(c.done());
                assert_eq!(c.step(1).unwrap(), 0);
                assert_eq!(c.hist_loss().len(), 6);
                assert!(c.loss().is_finite(), "{t} {m}");
                assert_eq!(c.eval_tv().len(), 2, "evaluations at 3 and 6");
                assert!((0.0..=1.0).contains(&c.tv()), "{t} {m}");
                let sum: f32 = c.empirical().iter().sum();
                assert!((sum - 1.0).abs() < 1e-4);
                let psum: f64 = c.exact_p().iter().map(|&x| f64::from(x)).sum();
                assert!((psum - 1.0).abs() < 1e-4);
                assert!(c.visits() > 0 && c.distinct() > 0);
                assert!(c.n_modes() > 0, "{t}");
                assert_eq!(c.top_exact().len(), TOP_K);
                assert_eq!(c.top_labels().split(',').count(), TOP_K);
                assert!(c.top_exact().windows(2).all(|w| w[0] >= w[1]));
                if m == "teacher" {
                    assert!(c.hist_teacher_loss().iter().any(|v| v.is_finite()));
                }
            }
        }
    }

    #[test]
    fn evaluation_does_not_change_the_training_run() {
        let s = q("target=grid&side=8&iters=20&eval_every=5&eval_samples=64&hidden=16");
        let mut a = DiscreteCore::new(&s).unwrap();
        let mut b = DiscreteCore::new(&DiscreteSettings {
            eval_every: 20,
            ..s.clone()
        })
        .unwrap();
        a.step(20).unwrap();
        b.step(20).unwrap();
        assert_eq!(a.param_checksum(), b.param_checksum());
        assert_eq!(a.eval_tv().len(), 4);
    }

    #[test]
    fn grid_labels_and_sequence_labels() {
        let c = DiscreteCore::new(&q("target=grid&side=8&hidden=8")).unwrap();
        assert_eq!(c.label(8 * 3 + 2), "(2 3)");
        assert_eq!(c.grid_side(), 8);
        assert_eq!(c.n_terminal(), 64);
        let c = DiscreteCore::new(&q("target=sequence&len=3&alphabet=4&hidden=8")).unwrap();
        assert_eq!(c.label(0), "AAA");
        assert_eq!(c.label(4 * 4 * 3 + 4 + 2), "DBC");
        assert_eq!(c.grid_side(), 0);
    }
}
