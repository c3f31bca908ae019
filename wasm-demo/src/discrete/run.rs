//! One discrete run on one environment type: the environment, the learner (a plain
//! GFlowNet trainer or the adaptive-teacher pair) with its configuration, layout and
//! `Copy` state, and the two arenas the run owns; the kernel's views are carved from them
//! on each call.

use super::{DiscreteSettings, Learn, MAX_TERMINAL_PAGE};
use crate::error::{PlaygroundError, bad};
use crate::train::Arenas;
use amortise_kernel::rng::Xoshiro256PlusPlus;
use amortise_kernel::samplers::gflownet::env::DiscreteEnv;
use amortise_kernel::samplers::gflownet::exact;
use amortise_kernel::samplers::gflownet::train::{self, Config as TrainConfig};
use amortise_kernel::teacher::{self, discrete as discrete_teacher};

/// The training loop of a run: a plain trainer or the adaptive-teacher pair, with its
/// configuration, layout and state (the arenas are the run's).
// One per run: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Learner {
    Plain(TrainConfig, train::Layout, train::State),
    Teacher(
        discrete_teacher::Config,
        discrete_teacher::Layout,
        discrete_teacher::State,
    ),
}

impl Learner {
    /// The student's configuration and views over the run's arenas.
    fn student<'a>(
        &self,
        f32s: &'a mut [f32],
        u32s: &'a mut [u32],
    ) -> Result<(TrainConfig, train::Views<'a>), amortise_kernel::Error> {
        Ok(match self {
            Learner::Plain(c, l, _) => (*c, train::Views::new(l, f32s, u32s)?),
            Learner::Teacher(c, l, _) => (
                c.student,
                discrete_teacher::Views::new(l, f32s, u32s)?.student,
            ),
        })
    }
}

/// One iteration's outcome.
pub(super) struct StepOut {
    pub(super) loss: f32,
    pub(super) teacher_loss: f32,
    pub(super) log_z: f32,
    pub(super) from_buffer: bool,
}

/// Exact reference quantities of an environment.
#[derive(Debug)]
pub(super) struct Exact {
    pub(super) p: Vec<f32>,
    pub(super) log_z: f64,
    pub(super) is_mode: Vec<bool>,
}

/// A run on one environment type: the environment, the learner and the arenas it owns.
#[derive(Debug)]
pub(super) struct Run<E> {
    env: E,
    learner: Learner,
    arenas: Arenas,
}

impl<E: DiscreteEnv> Run<E> {
    pub(super) fn new(
        env: E,
        cfg: TrainConfig,
        s: &DiscreteSettings,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<(Run<E>, Exact, usize), PlaygroundError> {
        let kerr = |e| PlaygroundError::kernel("run", e);
        let n = env.n_terminal();
        if n > MAX_TERMINAL_PAGE {
            return Err(bad(
                "target",
                format!(
                    "{n} objects are too many to enumerate and draw here (limit \
                     {MAX_TERMINAL_PAGE}); choose a smaller target"
                ),
            ));
        }
        let (mut learner, f32_len, u32_len) = if s.method == Learn::Teacher {
            let reward = teacher::Config {
                alpha: s.teacher_alpha,
                ..teacher::Config::default()
            };
            let c = discrete_teacher::Config::new(reward, cfg);
            let l = discrete_teacher::Layout::new(&env, &c).map_err(kerr)?;
            let st = discrete_teacher::State::default();
            (Learner::Teacher(c, l, st), l.f32_len, l.u32_len)
        } else {
            let l = train::Layout::new(&env, &cfg).map_err(kerr)?;
            (
                Learner::Plain(cfg, l, train::State::default()),
                l.f32_len,
                l.u32_len,
            )
        };
        let mut arenas = Arenas::new([f32_len, u32_len], "the batch, hidden width or buffer")?;
        let mut p = vec![0.0f32; n];
        let log_z = exact::distribution(&env, &mut p).map_err(kerr)?;
        let mut st = vec![0u32; env.state_len()];
        let is_mode = (0..n)
            .map(|i| {
                env.terminal_from_index(i, &mut st);
                env.is_mode(&st)
            })
            .collect();
        let (f32s, u32s) = (&mut arenas.f32s, &mut arenas.u32s);
        match &mut learner {
            Learner::Plain(c, _, st) => {
                *st = train::init(&env, c, f32s, u32s, rng).map_err(kerr)?;
            }
            Learner::Teacher(c, _, st) => {
                *st = discrete_teacher::init(&env, c, f32s, u32s, rng).map_err(kerr)?;
            }
        }
        let total = arenas.len();
        let run = Run {
            env,
            learner,
            arenas,
        };
        Ok((run, Exact { p, log_z, is_mode }, total))
    }

    /// One training iteration; pushes the terminal indices of freshly sampled trajectories.
    pub(super) fn step(
        &mut self,
        rng: &mut Xoshiro256PlusPlus,
        fresh: &mut Vec<usize>,
    ) -> Result<StepOut, amortise_kernel::Error> {
        let (env, fa, ua) = (
            &self.env,
            &mut self.arenas.f32s[..],
            &mut self.arenas.u32s[..],
        );
        let out = match &mut self.learner {
            Learner::Plain(c, l, st) => {
                let i = train::step(env, c, &mut train::Views::new(l, fa, ua)?, st, rng)?;
                StepOut {
                    loss: i.loss,
                    teacher_loss: f32::NAN,
                    log_z: i.log_z,
                    from_buffer: i.from_buffer,
                }
            }
            Learner::Teacher(c, l, st) => {
                let mut v = discrete_teacher::Views::new(l, fa, ua)?;
                let i = discrete_teacher::step(env, c, &mut v, st, rng)?;
                StepOut {
                    loss: i.student_loss,
                    teacher_loss: i.teacher_loss,
                    log_z: v.student.log_z(),
                    from_buffer: i.source == discrete_teacher::Source::Buffer,
                }
            }
        };
        fresh.clear();
        if !out.from_buffer {
            let (cfg, v) = self
                .learner
                .student(&mut self.arenas.f32s, &mut self.arenas.u32s)?;
            for k in 0..cfg.batch {
                fresh.push(self.env.terminal_index(v.terminal(k)));
            }
        }
        Ok(out)
    }

    /// Draws one on-policy batch from the student (no exploration): terminal indices into
    /// `idx`, log importance weights appended to `lw_all`.
    pub(super) fn sample_batch(
        &mut self,
        rng: &mut Xoshiro256PlusPlus,
        lw: &mut [f32],
        idx: &mut Vec<usize>,
        lw_all: &mut Vec<f32>,
    ) -> Result<(), amortise_kernel::Error> {
        let env = &self.env;
        let (cfg, mut v) = self
            .learner
            .student(&mut self.arenas.f32s, &mut self.arenas.u32s)?;
        train::sample_forward(env, &cfg, &mut v, 0.0, rng)?;
        train::log_weights(env, &cfg, &mut v, lw)?;
        for (k, &w) in lw.iter().enumerate() {
            idx.push(env.terminal_index(v.terminal(k)));
            lw_all.push(w);
        }
        Ok(())
    }

    /// The student's parameters (network, then `log Z`).
    pub(super) fn params(&self) -> &[f32] {
        match &self.learner {
            Learner::Plain(_, l, _) => l.params(&self.arenas.f32s),
            Learner::Teacher(_, l, _) => l.student_params(&self.arenas.f32s),
        }
    }
    /// Entries of the student's replay buffer.
    pub(super) fn buffer_len(&self) -> usize {
        match &self.learner {
            Learner::Plain(_, _, st) => st.cursor.len,
            Learner::Teacher(_, _, st) => st.student.cursor.len,
        }
    }
}
