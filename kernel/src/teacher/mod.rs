//! Adaptive teachers for amortised samplers (Kim et al., ICLR 2025, arXiv 2410.01432;
//! `teachers-and-vgs.md` part A), discrete (GFlowNet) version.
//!
//! The continuous version (diffusion sampler, 25GMM / ManyWell) is [`continuous`]; it shares
//! [`Config`] and [`teacher_log_reward`].
//!
//! Two GFlowNets share the environment and the fixed uniform backward policy:
//! - the **student** `P_F^S` (with `log Z^S`) targets the reward `R(x)`;
//! - the **teacher** `P_F^T` (with `log Z^T`) is a behaviour policy trained with TB on the
//!   trajectory-dependent reward (A1.1)
//!
//!   `log R_T(τ) = log log(1 + ε + (1 + C·𝟙[δ_S(τ) > 0])·ℓ(τ)) + α·log R(x)`, `ℓ = δ_S²`,
//!
//!   where `δ_S(τ) = log R(x) + Σ log P_B − log Z^S − Σ log P_F^S` is the student's signed TB
//!   residual on `τ`, computed **before** the student's optimiser step. `δ_S > 0` means the
//!   student under-samples `x` along `τ`; those trajectories get weight `1 + C = 20`, the
//!   others `1`. [`loss::tb`](crate::samplers::gflownet::loss::tb) returns `−δ_S` (its
//!   residual is `log Z + Σ log P_F − Σ log P_B − log R`); [`teacher_log_reward`] takes that
//!   residual and flips the sign. The inner `log(1 + ε + ·) ≥ log(1.001) > 0`, so the outer
//!   log is finite. Defaults (grid, A1.1 table): `C = 19`, `ε = 10⁻³`, `α = 0`.
//!
//! Behaviour (A1.2, `grid/trainer.py`), iteration `i` from `0`:
//! - without a buffer: student if `(i / 2) % 2 == 0`, else teacher: `S, S, T, T, …`
//!   (50 % / 50 %);
//! - with the student's replay buffer: odd `i` trains on `B` terminal objects from the buffer
//!   re-expanded by uniform `P_B`; even `i` alternate student / teacher: `S, B, T, B, …`
//!   (25 % / 25 % / 50 %). Freshly sampled batches are inserted into the buffer.
//!
//! Every iteration the student takes one TB step (Adam, clip) on the batch, and the teacher
//! one TB step on the **same** trajectories with `log R_T` in place of `log R`. The teacher
//! reward enters the teacher's loss as a constant target, so no new gradient code exists:
//! the path is the trainer's gradchecked reward override (tested below by finite
//! differences through the override).
//!
//! Memory: the two [`Trainer`]s own their caller-provided arenas; the step needs three
//! `B`-long caller-owned slices ([`Workspace`]).

pub mod continuous;

use crate::error::{Error, check_len};
use crate::math;
use crate::rng::Rng;
use crate::samplers::gflownet::env::DiscreteEnv;
use crate::samplers::gflownet::train::Trainer;

/// Teacher-reward settings (Kim et al. 2025, A1.1; defaults: the grid column).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Extra weight `C` of under-sampled trajectories (`δ_S > 0` gets `1 + C`). Defaults to
    /// `19` (×20).
    pub c: f32,
    /// `ε` inside `log(1 + ε + w·ℓ)`. Defaults to `1e-3`.
    pub epsilon: f32,
    /// Exponent `α` of the mixed-in target reward `R(x)^α`. Defaults to `0` (grid; the
    /// diffusion and discovery code use `0.5`).
    pub alpha: f32,
    /// Use the `log(1 + ε + w·ℓ)` transform (`--log`, default `true`); with `false` the
    /// reward is `R_T = (ε + w·ℓ)·R^α` (the reference's `--no_log`, floored at `ε` here so
    /// that `δ = 0` stays finite).
    pub log_transform: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            c: 19.0,
            epsilon: 1e-3,
            alpha: 0.0,
            log_transform: true,
        }
    }
}

impl Config {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a negative or non-finite `C`, a non-positive `ε` or a
    /// non-finite `α`.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.c.is_finite() && self.c >= 0.0) {
            return Err(Error::InvalidConfig("teacher C must be finite and >= 0"));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::InvalidConfig(
                "teacher epsilon must be finite and > 0",
            ));
        }
        if !self.alpha.is_finite() {
            return Err(Error::InvalidConfig("teacher alpha must be finite"));
        }
        Ok(())
    }
}

/// `log R_T` from the kernel's TB residual `d = log Z + Σ log P_F − Σ log P_B − log R`
/// (so the teachers' `δ_S = −d`) and `log R(x)`: `log log(1 + ε + (1 + C·𝟙[d < 0])·d²) +
/// α·log R` (or `log(ε + w·d²) + α·log R` without the log transform). A NaN residual gives
/// `−∞`.
pub fn teacher_log_reward(cfg: &Config, residual: f32, log_r: f32) -> f32 {
    let d = residual as f64;
    if d.is_nan() {
        return f32::NEG_INFINITY;
    }
    let w = if d < 0.0 { 1.0 + cfg.c as f64 } else { 1.0 };
    let ell = d * d;
    let base = if cfg.log_transform {
        math::ln(math::ln(1.0 + cfg.epsilon as f64 + w * ell))
    } else {
        math::ln(cfg.epsilon as f64 + w * ell)
    };
    let mix = if cfg.alpha == 0.0 {
        0.0
    } else {
        cfg.alpha as f64 * log_r as f64
    };
    (base + mix) as f32
}

/// Where an iteration's trajectories came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// On-policy student samples.
    Student,
    /// Teacher samples.
    Teacher,
    /// Student's replay buffer, re-expanded by uniform `P_B`.
    Buffer,
}

/// The behaviour source of iteration `i` (see the [module docs](self)).
pub const fn source(i: u32, has_buffer: bool) -> Source {
    if has_buffer && i % 2 == 1 {
        Source::Buffer
    } else if (i / 2).is_multiple_of(2) {
        Source::Student
    } else {
        Source::Teacher
    }
}

/// Student and teacher trainers plus the iteration counter.
#[derive(Debug)]
pub struct State<'a, E: DiscreteEnv> {
    /// The student (its buffer, if any, is the shared replay buffer).
    pub student: Trainer<'a, E>,
    /// The teacher (no buffer).
    pub teacher: Trainer<'a, E>,
    iteration: u32,
}

impl<E: DiscreteEnv> State<'_, E> {
    /// Iterations taken.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
}

/// Caller-owned scratch, each `B` long.
#[derive(Debug)]
pub struct Workspace<'a> {
    /// The student's TB residuals of the batch.
    pub residuals: &'a mut [f32],
    /// The teacher rewards `log R_T` of the batch.
    pub log_rt: &'a mut [f32],
    /// Log importance weights of a fresh batch (buffer insertion).
    pub log_w: &'a mut [f32],
}

/// What one [`step`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Info {
    /// Where the batch came from.
    pub source: Source,
    /// The student's mean loss (before its step).
    pub student_loss: f32,
    /// The teacher's mean TB loss (before its step).
    pub teacher_loss: f32,
    /// Mean teacher reward `log R_T` of the batch.
    pub mean_log_rt: f32,
    /// Fraction of the batch with `δ_S > 0` (under-sampled by the student).
    pub under_sampled: f32,
}

/// Composes the two trainers.
///
/// # Errors
/// As [`Config::validate`]; [`Error::InvalidConfig`] if the trainers differ in batch size
/// or the teacher has a buffer.
pub fn init<'a, E: DiscreteEnv>(
    cfg: &Config,
    student: Trainer<'a, E>,
    teacher: Trainer<'a, E>,
) -> Result<State<'a, E>, Error> {
    cfg.validate()?;
    if student.batch() != teacher.batch() {
        return Err(Error::InvalidConfig(
            "student and teacher batch sizes differ",
        ));
    }
    if teacher.config().buffer_capacity != 0 {
        return Err(Error::InvalidConfig("the teacher has no replay buffer"));
    }
    Ok(State {
        student,
        teacher,
        iteration: 0,
    })
}

/// One teacher–student iteration (see the [module docs](self)). On return the student's
/// batch ([`Trainer::terminal`]) holds the iteration's trajectories.
///
/// # Errors
/// [`Error::ShapeMismatch`] for workspace slices not `B` long; any trainer error.
pub fn step<E: DiscreteEnv, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State<'_, E>,
    ws: &mut Workspace<'_>,
    rng: &mut R,
) -> Result<Info, Error> {
    let bn = state.student.batch();
    check_len("teacher residuals", bn, ws.residuals.len())?;
    check_len("teacher rewards", bn, ws.log_rt.len())?;
    check_len("teacher log weights", bn, ws.log_w.len())?;
    let has_buffer = state.student.config().buffer_capacity > 0;
    let mut src = source(state.iteration, has_buffer);
    if src == Source::Buffer && !state.student.load_from_buffer(rng)? {
        src = Source::Student;
    }
    match src {
        Source::Student => {
            let eps = state.student.config().epsilon;
            state.student.sample_forward(eps, rng)?;
        }
        Source::Teacher => {
            let eps = state.teacher.config().epsilon;
            state.teacher.sample_forward(eps, rng)?;
            state.student.load_batch_from(&state.teacher)?;
        }
        Source::Buffer => {}
    }
    if src != Source::Buffer && has_buffer {
        state.student.log_weights(ws.log_w)?;
        state.student.insert_batch(ws.log_w)?;
    }
    // student: residuals before its step
    let student_loss = state.student.loss_and_grad(None, Some(ws.residuals))?;
    state.student.apply_gradient()?;
    let mut sum_rt = 0.0f64;
    let mut under = 0usize;
    for ((rt, &d), &lr) in ws
        .log_rt
        .iter_mut()
        .zip(ws.residuals.iter())
        .zip(state.student.log_rewards())
    {
        *rt = teacher_log_reward(cfg, d, lr);
        sum_rt += *rt as f64;
        under += usize::from(d < 0.0);
    }
    state.teacher.load_batch_from(&state.student)?;
    let teacher_loss = state.teacher.loss_and_grad(Some(ws.log_rt), None)?;
    state.teacher.apply_gradient()?;
    state.iteration = state.iteration.saturating_add(1);
    Ok(Info {
        source: src,
        student_loss,
        teacher_loss,
        mean_log_rt: (sum_rt / bn as f64) as f32,
        under_sampled: under as f32 / bn as f32,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;
    use crate::samplers::gflownet::grid::{GridReward, Hypergrid};
    use crate::samplers::gflownet::train::{Layout, TrainConfig};
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn teacher_reward_literal_values() {
        let c = Config::default();
        // under-sampled (kernel residual < 0): weight 20
        let v = teacher_log_reward(&c, -0.5, -3.0) as f64;
        let want = ((1.001f64 + 20.0 * 0.25).ln()).ln();
        assert!((v - want).abs() < 1e-6, "{v} vs {want}");
        // over-sampled: weight 1
        let v = teacher_log_reward(&c, 0.5, -3.0) as f64;
        let want = ((1.001f64 + 0.25).ln()).ln();
        assert!((v - want).abs() < 1e-6);
        // zero residual: log log 1.001, finite
        let v = teacher_log_reward(&c, 0.0, 0.0) as f64;
        assert!((v - 1.001f64.ln().ln()).abs() < 1e-4);
        // alpha mixes in log R
        let a = Config { alpha: 0.5, ..c };
        let d = teacher_log_reward(&a, 0.5, -3.0) - teacher_log_reward(&c, 0.5, -3.0);
        assert!((d + 1.5).abs() < 1e-6);
        let nl = Config {
            log_transform: false,
            ..c
        };
        let v = teacher_log_reward(&nl, -1.0, 0.0) as f64;
        assert!((v - (1e-3f64 + 20.0).ln()).abs() < 1e-5);
        assert_eq!(teacher_log_reward(&c, f32::NAN, 0.0), f32::NEG_INFINITY);
        assert!(Config { c: -1.0, ..c }.validate().is_err());
        assert!(Config { epsilon: 0.0, ..c }.validate().is_err());
    }

    #[test]
    fn behaviour_schedule_matches_the_reference_loop() {
        use Source::*;
        let no: Vec<Source> = (0..8).map(|i| source(i, false)).collect();
        assert_eq!(
            no,
            [
                Student, Student, Teacher, Teacher, Student, Student, Teacher, Teacher
            ]
        );
        let with: Vec<Source> = (0..8).map(|i| source(i, true)).collect();
        assert_eq!(
            with,
            [
                Student, Buffer, Teacher, Buffer, Student, Buffer, Teacher, Buffer
            ]
        );
    }

    fn arenas(env: &Hypergrid, cfg: &TrainConfig) -> (Vec<f32>, Vec<u32>) {
        let l = Layout::new(env, cfg).unwrap();
        (vec![0.0; l.f32_len], vec![0; l.u32_len])
    }

    /// The teacher's loss with the reward override `log R_T` (a constant target) has the
    /// gradient of `mean (log Z^T + Σ log P_F^T − Σ log P_B − log R_T)²`: finite differences
    /// through the whole teacher-reward path.
    #[test]
    fn teacher_reward_path_gradcheck() {
        let env = Hypergrid::new(2, 4, GridReward::Deceptive).unwrap();
        let cfg = TrainConfig {
            batch: 4,
            hidden: 8,
            ..TrainConfig::default()
        };
        let (mut fs, mut us) = arenas(&env, &cfg);
        let (mut ft, mut ut) = arenas(&env, &cfg);
        let mut rng = seeded(5);
        let mut st = Trainer::new(&env, cfg, &mut fs, &mut us, &mut rng).unwrap();
        let mut te = Trainer::new(&env, cfg, &mut ft, &mut ut, &mut rng).unwrap();
        for (i, p) in te.params_mut().iter_mut().enumerate() {
            *p += 0.05 * ((i * 7919 % 13) as f32 / 13.0 - 0.5);
        }
        let np = te.params().len();
        te.params_mut()[np - 1] = 0.4;
        st.sample_forward(0.3, &mut rng).unwrap();
        let mut d = [0.0f32; 4];
        st.loss_and_grad(None, Some(&mut d)).unwrap();
        let c = Config::default();
        let rt: Vec<f32> = d
            .iter()
            .zip(st.log_rewards())
            .map(|(&d, &lr)| teacher_log_reward(&c, d, lr))
            .collect();
        te.load_batch_from(&st).unwrap();
        te.loss_and_grad(Some(&rt), None).unwrap();
        let g = te.gradient().to_vec();
        let h = 1e-2f32;
        for i in (0..np).step_by(np / 30 + 1).chain([np - 1, np - 2]) {
            let p0 = te.params()[i];
            te.params_mut()[i] = p0 + h;
            let lp = te.loss_and_grad(Some(&rt), None).unwrap() as f64;
            te.params_mut()[i] = p0 - h;
            let lm = te.loss_and_grad(Some(&rt), None).unwrap() as f64;
            te.params_mut()[i] = p0;
            let fd = (lp - lm) / (2.0 * h as f64);
            assert!(
                (fd - g[i] as f64).abs() < 1e-2 * (1.0 + fd.abs()),
                "param {i}: fd {fd} vs {}",
                g[i]
            );
        }
    }

    /// Short run on the deceptive 2-D grid: the schedule is followed, both models train and
    /// every step is finite; the student's batch holds the iteration's trajectories.
    #[test]
    fn teacher_loop_runs_with_and_without_buffer() {
        let env = Hypergrid::new(2, 6, GridReward::Deceptive).unwrap();
        for buffer in [0usize, 64] {
            let scfg = TrainConfig {
                batch: 8,
                hidden: 16,
                buffer_capacity: buffer,
                ..TrainConfig::default()
            };
            let tcfg = TrainConfig {
                buffer_capacity: 0,
                ..scfg
            };
            let (mut fs, mut us) = arenas(&env, &scfg);
            let (mut ft, mut ut) = arenas(&env, &tcfg);
            let mut rng = seeded(9);
            let st = Trainer::new(&env, scfg, &mut fs, &mut us, &mut rng).unwrap();
            let te = Trainer::new(&env, tcfg, &mut ft, &mut ut, &mut rng).unwrap();
            let cfg = Config::default();
            let mut state = init(&cfg, st, te).unwrap();
            let (mut a, mut b, mut c) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
            let mut ws = Workspace {
                residuals: &mut a,
                log_rt: &mut b,
                log_w: &mut c,
            };
            let mut seen = [0usize; 3];
            for i in 0..40 {
                let info = step(&cfg, &mut state, &mut ws, &mut rng).unwrap();
                assert_eq!(info.source, source(i, buffer > 0));
                assert!(info.student_loss.is_finite() && info.teacher_loss.is_finite());
                assert!(info.mean_log_rt.is_finite());
                seen[info.source as usize] += 1;
                for k in 0..8 {
                    assert!(env.is_done(state.student.terminal(k)));
                }
            }
            if buffer == 0 {
                assert_eq!(seen, [20, 20, 0]);
            } else {
                assert_eq!(seen, [10, 10, 20]);
                assert!(state.student.buffer_len() > 0);
            }
            assert_eq!(state.iteration(), 40);
            assert!(state.teacher.log_z() != 0.0);
        }
    }

    #[test]
    fn mismatched_trainers_are_errors() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let a = TrainConfig {
            batch: 4,
            hidden: 8,
            ..TrainConfig::default()
        };
        let b = TrainConfig { batch: 5, ..a };
        let (mut f1, mut u1) = arenas(&env, &a);
        let (mut f2, mut u2) = arenas(&env, &b);
        let mut rng = seeded(1);
        let s = Trainer::new(&env, a, &mut f1, &mut u1, &mut rng).unwrap();
        let t = Trainer::new(&env, b, &mut f2, &mut u2, &mut rng).unwrap();
        assert!(init(&Config::default(), s, t).is_err());
    }
}
