//! Adaptive teacher for GFlowNets on a discrete environment (Kim et al., ICLR 2025;
//! `teachers-and-vgs.md` A1.1, A1.2 and A3, `grid/trainer.py`).
//!
//! Two GFlowNet trainers ([`train`]) share the environment and the fixed uniform backward
//! policy:
//! - the **student** `P_F^S` (with `log Z^S`) targets the reward `R(x)`;
//! - the **teacher** `P_F^T` (with `log Z^T`) is trained with TB on
//!   `log R_T(τ) = log log(1 + ε + (1 + C·𝟙[δ_S(τ) > 0])·δ_S²) + α·log R(x)`
//!   ([`teacher_log_reward`], see the [parent module](super)), with the student's residual
//!   `δ_S` computed before the student's optimiser step. Defaults (grid, A1.1 table):
//!   `C = 19`, `ε = 10⁻³`, `α = 0`.
//!
//! Behaviour (A1.2, `grid/trainer.py`), iteration `i` from `0` ([`source`]):
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
//! Shape: [`Config`] + [`Layout`] + [`Views`] + [`State`] + [`Info`] + [`init`] + [`step`],
//! composing two trainers: each has its own [`train::Views`] over its own region of the
//! arenas (student, then teacher, then `2B` `f32` for the residuals and the teacher
//! rewards) and its own [`train::State`] inside [`State`].

use super::{Config as RewardConfig, teacher_log_reward};
use crate::arena::carve_arenas;
use crate::error::{Error, check_len};
use crate::rng::Rng;
use crate::samplers::gflownet::env::DiscreteEnv;
use crate::samplers::gflownet::train::{self, check, copy_batch, insert_scored};
use crate::samplers::gflownet::train::{load_from_buffer, loss_and_grad, optimise};

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

/// Settings of the discrete teacher loop: the teacher reward and the two trainers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// The teacher reward. Defaults to `C = 19`, `ε = 1e-3`, `α = 0` (grid column).
    pub reward: RewardConfig,
    /// The student (its buffer, if any, is the shared replay buffer). Defaults to
    /// [`train::Config::default`] (TB).
    pub student: train::Config,
    /// The teacher: TB, the student's batch size, no buffer. Defaults to the student's
    /// settings without buffer and without ε ([`Config::new`]).
    pub teacher: train::Config,
}

impl Default for Config {
    fn default() -> Self {
        Config::new(RewardConfig::default(), train::Config::default())
    }
}

impl Config {
    /// The teacher reward and the student, with a teacher of the student's shape and
    /// learning rates but no buffer and no ε (as the reference loop and the CLI).
    pub fn new(reward: RewardConfig, student: train::Config) -> Self {
        Config {
            reward,
            student,
            teacher: train::Config {
                buffer_capacity: 0,
                epsilon: 0.0,
                ..student
            },
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// As [`RewardConfig::validate`] and [`train::Config::validate`];
    /// [`Error::InvalidConfig`] if the trainers differ in batch size or the teacher has a
    /// buffer.
    pub fn validate(&self) -> Result<(), Error> {
        self.reward.validate()?;
        self.student.validate()?;
        self.teacher.validate()?;
        if self.student.batch != self.teacher.batch {
            return Err(Error::InvalidConfig(
                "student and teacher batch sizes differ",
            ));
        }
        if self.teacher.buffer_capacity != 0 {
            return Err(Error::InvalidConfig("the teacher has no replay buffer"));
        }
        Ok(())
    }
}

/// The two trainers' arenas one after the other, then the teacher's `2B` `f32`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// The student (its region comes first).
    pub student: train::Layout,
    /// The teacher.
    pub teacher: train::Layout,
    /// Length of the `f32` arena.
    pub f32_len: usize,
    /// Length of the `u32` arena.
    pub u32_len: usize,
}

impl Layout {
    /// Sizes for `env` and `cfg`.
    ///
    /// # Errors
    /// As [`Config::validate`] and [`train::Layout::new`].
    pub fn new<E: DiscreteEnv + ?Sized>(env: &E, cfg: &Config) -> Result<Self, Error> {
        cfg.validate()?;
        let student = train::Layout::new(env, &cfg.student)?;
        let teacher = train::Layout::new(env, &cfg.teacher)?;
        Ok(Layout {
            student,
            teacher,
            f32_len: student.f32_len + teacher.f32_len + 2 * cfg.student.batch,
            u32_len: student.u32_len + teacher.u32_len,
        })
    }

    /// The student's parameters (network, then `log Z`) inside an `f32` arena of this
    /// layout (see [`train::Layout::params`]).
    pub fn student_params<'a>(&self, f32_arena: &'a [f32]) -> &'a [f32] {
        self.student.params(f32_arena)
    }
}

/// Both trainers' views and the teacher's per-trajectory buffers, carved on each call.
#[derive(Debug)]
pub struct Views<'a> {
    /// The student. On return from [`step`] its batch holds the iteration's trajectories.
    pub student: train::Views<'a>,
    /// The teacher.
    pub teacher: train::Views<'a>,
    /// `[B]` the student's TB residuals of the batch.
    residuals: &'a mut [f32],
    /// `[B]` the teacher rewards `log R_T` of the batch.
    log_rt: &'a mut [f32],
}

/// The arenas cut into the student's, the teacher's and the rest.
type Regions<'a> = ([&'a mut [f32]; 3], [&'a mut [u32]; 2]);

fn regions<'a>(
    lay: &Layout,
    f32_arena: &'a mut [f32],
    u32_arena: &'a mut [u32],
) -> Result<Regions<'a>, Error> {
    let what = ["teacher f32 arena", "teacher u32 arena"];
    let (mut f, mut u) = carve_arenas(what, [lay.f32_len, lay.u32_len], f32_arena, u32_arena)?;
    let (sf, tf) = (f.take(lay.student.f32_len)?, f.take(lay.teacher.f32_len)?);
    let su = u.take(lay.student.u32_len)?;
    Ok(([sf, tf, f.rest()], [su, u.rest()]))
}

impl<'a> Views<'a> {
    /// Carves the arenas (lengths from [`Layout::new`]); their contents are kept.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for arenas of the wrong length.
    pub fn new(
        lay: &Layout,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        let ([sf, tf, rest], [su, tu]) = regions(lay, f32_arena, u32_arena)?;
        let (residuals, log_rt) = rest.split_at_mut(rest.len() / 2);
        Ok(Views {
            student: train::Views::new(&lay.student, sf, su)?,
            teacher: train::Views::new(&lay.teacher, tf, tu)?,
            residuals,
            log_rt,
        })
    }

    /// The buffers that carry over from one step to the next: the student's
    /// ([`train::Views::carried`], with the shared replay buffer), then the teacher's.
    pub fn carried(&mut self, f: &mut dyn FnMut(crate::arena::Carried<'_>)) {
        self.student.carried(f);
        self.teacher.carried(f);
    }
}

/// The two trainers' states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// The student (its cursor is the shared replay buffer's; its iteration count is the
    /// loop's).
    pub student: train::State,
    /// The teacher.
    pub teacher: train::State,
}

impl State {
    /// Iterations taken.
    pub fn iteration(&self) -> u32 {
        self.student.iteration
    }
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
    /// Whether an optimiser skipped its update (a non-finite gradient norm).
    pub skipped: bool,
}

/// Zeroes the arenas and initialises the student, then the teacher ([`train::init`]).
///
/// # Errors
/// As [`Layout::new`]; [`Error::ShapeMismatch`] for arenas of the wrong length (nothing is
/// written then).
pub fn init<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    f32_arena: &mut [f32],
    u32_arena: &mut [u32],
    rng: &mut R,
) -> Result<State, Error> {
    let lay = Layout::new(env, cfg)?;
    let ([sf, tf, rest], [su, tu]) = regions(&lay, f32_arena, u32_arena)?;
    rest.fill(0.0);
    Ok(State {
        student: train::init(env, &cfg.student, sf, su, rng)?,
        teacher: train::init(env, &cfg.teacher, tf, tu, rng)?,
    })
}

/// One teacher–student iteration (see the [module docs](self)). On return the student's
/// batch ([`train::Views::terminal`]) holds the iteration's trajectories.
///
/// # Errors
/// As [`Config::validate`]; [`Error::InvalidConfig`] if `v` was carved for another
/// environment or configuration; any trainer error.
pub fn step<E: DiscreteEnv + ?Sized, R: Rng + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    state: &mut State,
    rng: &mut R,
) -> Result<Info, Error> {
    cfg.validate()?;
    let (sc, tc) = (&cfg.student, &cfg.teacher);
    check(env, sc, &v.student)?;
    check(env, tc, &v.teacher)?;
    check_len("teacher residuals", sc.batch, v.residuals.len())?;
    let has_buffer = sc.buffer_capacity > 0;
    let mut src = source(state.iteration(), has_buffer);
    if src == Source::Buffer
        && !load_from_buffer(env, sc, &mut v.student, state.student.cursor, rng)?
    {
        src = Source::Student;
    }
    match src {
        Source::Student => train::sample_forward(env, sc, &mut v.student, sc.epsilon, rng)?,
        Source::Teacher => {
            train::sample_forward(env, tc, &mut v.teacher, tc.epsilon, rng)?;
            copy_batch(&mut v.student, &v.teacher)?;
        }
        Source::Buffer => {}
    }
    if src != Source::Buffer && has_buffer {
        insert_scored(env, sc, &mut v.student, &mut state.student.cursor)?;
    }
    // student: residuals before its step
    let student_loss = loss_and_grad(env, sc, &mut v.student, None, Some(&mut *v.residuals))?;
    let s_opt = optimise(sc, &mut v.student, &mut state.student)?;
    let mut sum_rt = 0.0f64;
    let mut under = 0usize;
    for ((rt, &d), &lr) in v
        .log_rt
        .iter_mut()
        .zip(v.residuals.iter())
        .zip(v.student.log_rewards())
    {
        *rt = teacher_log_reward(&cfg.reward, d, lr);
        sum_rt += *rt as f64;
        under += usize::from(d < 0.0);
    }
    copy_batch(&mut v.teacher, &v.student)?;
    let teacher_loss = loss_and_grad(env, tc, &mut v.teacher, Some(&*v.log_rt), None)?;
    let t_opt = optimise(tc, &mut v.teacher, &mut state.teacher)?;
    for s in [&mut state.student, &mut state.teacher] {
        s.iteration = s.iteration.saturating_add(1);
    }
    let bn = sc.batch;
    Ok(Info {
        source: src,
        student_loss,
        teacher_loss,
        mean_log_rt: (sum_rt / bn as f64) as f32,
        under_sampled: under as f32 / bn as f32,
        skipped: s_opt.skipped || t_opt.skipped,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;
    use crate::samplers::gflownet::grid::{GridReward, Hypergrid};
    use std::vec;
    use std::vec::Vec;

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

    fn arenas(env: &Hypergrid, cfg: &Config) -> (Vec<f32>, Vec<u32>) {
        let l = Layout::new(env, cfg).unwrap();
        (vec![0.0; l.f32_len], vec![0; l.u32_len])
    }

    /// The teacher's loss with the reward override `log R_T` (a constant target) has the
    /// gradient of `mean (log Z^T + Σ log P_F^T − Σ log P_B − log R_T)²`: finite differences
    /// through the whole teacher-reward path.
    #[test]
    fn teacher_reward_path_gradcheck() {
        let env = Hypergrid::new(2, 4, GridReward::Deceptive).unwrap();
        let student = train::Config {
            batch: 4,
            hidden: 8,
            ..train::Config::default()
        };
        let cfg = Config {
            teacher: student,
            ..Config::new(RewardConfig::default(), student)
        };
        let (mut fa, mut ua) = arenas(&env, &cfg);
        let mut rng = seeded(5);
        init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
        let lay = Layout::new(&env, &cfg).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        let te = &mut v.teacher;
        for (i, p) in te.params_mut().iter_mut().enumerate() {
            *p += 0.05 * ((i * 7919 % 13) as f32 / 13.0 - 0.5);
        }
        let np = te.params().len();
        te.params_mut()[np - 1] = 0.4;
        train::sample_forward(&env, &cfg.student, &mut v.student, 0.3, &mut rng).unwrap();
        let mut d = [0.0f32; 4];
        loss_and_grad(&env, &cfg.student, &mut v.student, None, Some(&mut d)).unwrap();
        let rt: Vec<f32> = d
            .iter()
            .zip(v.student.log_rewards())
            .map(|(&d, &lr)| teacher_log_reward(&cfg.reward, d, lr))
            .collect();
        copy_batch(&mut v.teacher, &v.student).unwrap();
        let (tc, te) = (&cfg.teacher, &mut v.teacher);
        loss_and_grad(&env, tc, te, Some(&rt), None).unwrap();
        let g = te.gradient().to_vec();
        let h = 1e-2f32;
        for i in (0..np).step_by(np / 30 + 1).chain([np - 1, np - 2]) {
            let p0 = te.params()[i];
            te.params_mut()[i] = p0 + h;
            let lp = loss_and_grad(&env, tc, te, Some(&rt), None).unwrap() as f64;
            te.params_mut()[i] = p0 - h;
            let lm = loss_and_grad(&env, tc, te, Some(&rt), None).unwrap() as f64;
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
            let student = train::Config {
                batch: 8,
                hidden: 16,
                buffer_capacity: buffer,
                ..train::Config::default()
            };
            let cfg = Config::new(RewardConfig::default(), student);
            let (mut fa, mut ua) = arenas(&env, &cfg);
            let mut rng = seeded(9);
            let mut state = init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
            let lay = Layout::new(&env, &cfg).unwrap();
            let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
            let mut seen = [0usize; 3];
            for i in 0..40 {
                let info = step(&env, &cfg, &mut v, &mut state, &mut rng).unwrap();
                assert_eq!(info.source, source(i, buffer > 0));
                assert!(info.student_loss.is_finite() && info.teacher_loss.is_finite());
                assert!(info.mean_log_rt.is_finite() && !info.skipped);
                seen[info.source as usize] += 1;
                for k in 0..8 {
                    assert!(env.is_done(v.student.terminal(k)));
                }
            }
            if buffer == 0 {
                assert_eq!(seen, [20, 20, 0]);
            } else {
                assert_eq!(seen, [10, 10, 20]);
                assert!(state.student.cursor.len > 0);
            }
            assert_eq!(state.iteration(), 40);
            assert!(v.teacher.log_z() != 0.0);
            let p = v.student.params().to_vec();
            assert_eq!(lay.student_params(&fa), &p[..]);
        }
    }

    #[test]
    fn mismatched_trainers_are_errors() {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let a = train::Config {
            batch: 4,
            hidden: 8,
            ..train::Config::default()
        };
        let ok = Config::new(RewardConfig::default(), a);
        for bad in [
            Config {
                teacher: train::Config { batch: 5, ..a },
                ..ok
            },
            Config {
                teacher: train::Config {
                    buffer_capacity: 8,
                    ..a
                },
                ..ok
            },
        ] {
            assert!(Layout::new(&env, &bad).is_err());
        }
        // views of one configuration are refused by another's step
        let (mut fa, mut ua) = arenas(&env, &ok);
        let mut rng = seeded(1);
        let mut state = init(&env, &ok, &mut fa, &mut ua, &mut rng).unwrap();
        let lay = Layout::new(&env, &ok).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        let wider = Config::new(RewardConfig::default(), train::Config { hidden: 9, ..a });
        assert!(step(&env, &wider, &mut v, &mut state, &mut rng).is_err());
        assert!(step(&env, &ok, &mut v, &mut state, &mut rng).is_ok());
    }
}
