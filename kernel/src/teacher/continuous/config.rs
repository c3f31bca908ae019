//! The continuous teacher's settings and memory: [`Config`] (the teacher reward, the reward
//! threshold and the two trainers' settings), [`Layout`] (the two trainers' arenas one
//! after the other, then the loop's `3B` values) and the per-call [`Views`].

use super::super::Config as RewardConfig;
use crate::arena::Carve;
use crate::buffer::Priority;
use crate::error::{Error, check_len};
use crate::samplers::diffusion::train::{self, Method};

/// `k` of the buffer's rank weights `1/(k·n + rank)` (reference: `0.01`).
pub const RANK_WEIGHT: f64 = 0.01;

/// Global-norm gradient clip of the teacher (reference: `0.1`).
pub const TEACHER_CLIP: f32 = 0.1;

/// Settings of the continuous teacher loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// The teacher reward. Defaults to `C = 19`, `ε = 1e-3`, `α = 0.5` (diffusion code);
    /// the log transform is required.
    pub reward: RewardConfig,
    /// Quantile `q` of the first student batch's `log R` below which samples are dropped
    /// from the teacher's loss and the buffer refresh. Defaults to `0.9`; `0` disables it.
    pub reward_quantile: f32,
    /// The student: [`Method::TbBuffer`] with the buffer ranked by the stored teacher
    /// reward ([`Priority::RewardRank`], `k =` [`RANK_WEIGHT`]). The loop chooses its
    /// batches ([`super::phase`]), so `replay_ratio`, the SMC, flow and prefill settings and
    /// the `log Z` initialisations are not used.
    pub student: train::Config,
    /// The teacher: [`Method::Tb`] with the student's process, steps and batch (it is
    /// trained on the student's trajectories), clipped at [`TEACHER_CLIP`]; no buffer.
    pub teacher: train::Config,
}

impl Default for Config {
    fn default() -> Self {
        Config::new(train::Config::default())
    }
}

impl Config {
    /// The loop of the reference (`diffusion/train.py --teacher`) over one set of diffusion
    /// settings `t` (process, steps, batch `B`, network widths, policy, Langevin drift,
    /// buffer capacity, learning rates, student clip, iterations, lr decay): the student
    /// and the teacher as documented on [`Config::student`] and [`Config::teacher`].
    pub fn new(t: train::Config) -> Self {
        let shared = train::Config {
            init_log_z_from_smc: false,
            init_log_z_from_batch: false,
            init_log_z_iw: false,
            ..t
        };
        Config {
            reward: RewardConfig {
                alpha: 0.5,
                ..RewardConfig::default()
            },
            reward_quantile: 0.9,
            student: train::Config {
                method: Method::TbBuffer,
                buffer_priority: Priority::RewardRank {
                    rank_weight: RANK_WEIGHT,
                },
                ..shared
            },
            teacher: train::Config {
                method: Method::Tb,
                buffer_capacity: 0,
                clip: TEACHER_CLIP,
                ..shared
            },
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// As [`RewardConfig::validate`] and [`train::Config::validate`];
    /// [`Error::InvalidConfig`] without the log transform, for a quantile outside `[0, 1)`,
    /// a student that is not a reward-ranked [`Method::TbBuffer`], a teacher that is not
    /// [`Method::Tb`], or trainers that differ in process, steps or batch.
    pub fn validate(&self) -> Result<(), Error> {
        self.reward.validate()?;
        if !self.reward.log_transform {
            return Err(Error::InvalidConfig(
                "the continuous teacher uses the log transform of the teacher reward",
            ));
        }
        if !(self.reward_quantile >= 0.0 && self.reward_quantile < 1.0) {
            return Err(Error::InvalidConfig(
                "teacher reward quantile must be in [0, 1)",
            ));
        }
        let (s, t) = (&self.student, &self.teacher);
        s.validate()?;
        t.validate()?;
        if s.method != Method::TbBuffer || !matches!(s.buffer_priority, Priority::RewardRank { .. })
        {
            return Err(Error::InvalidConfig(
                "the student is tb-buffer with a reward-ranked buffer",
            ));
        }
        if t.method != Method::Tb {
            return Err(Error::InvalidConfig("the teacher is trained with tb"));
        }
        if s.process != t.process || s.steps != t.steps || s.batch != t.batch {
            return Err(Error::InvalidConfig(
                "student and teacher differ in process, steps or batch",
            ));
        }
        Ok(())
    }
}

/// The two trainers' arenas one after the other, then `3B` `f32` of the loop.
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
    /// Sizes for `cfg` on a `dim`-dimensional target.
    ///
    /// # Errors
    /// As [`Config::validate`] and [`train::Layout::new`].
    pub fn new(cfg: &Config, dim: usize) -> Result<Self, Error> {
        cfg.validate()?;
        let student = train::Layout::new(&cfg.student, dim)?;
        let teacher = train::Layout::new(&cfg.teacher, dim)?;
        let f = cfg.student.batch.checked_mul(3);
        let f = f.and_then(|v| v.checked_add(student.f32_len));
        let f = f.and_then(|v| v.checked_add(teacher.f32_len));
        let u = student.u32_len.checked_add(teacher.u32_len);
        let (Some(f32_len), Some(u32_len)) = (f, u) else {
            return Err(Error::CapacityExceeded {
                what: "teacher arena",
                capacity: usize::MAX,
            });
        };
        Ok(Layout {
            student,
            teacher,
            f32_len,
            u32_len,
        })
    }

    /// The student's parameters `[policy | log Z]` inside an `f32` arena of this layout
    /// (the layout of a TB trainer's parameters; empty if the arena is shorter).
    pub fn student_params<'p>(&self, f32_arena: &'p [f32]) -> &'p [f32] {
        self.student.params(f32_arena)
    }

    /// The teacher's parameters `[policy | log Z]` inside an `f32` arena of this layout.
    pub fn teacher_params<'p>(&self, f32_arena: &'p [f32]) -> &'p [f32] {
        let rest = f32_arena.get(self.student.f32_len..).unwrap_or(&[]);
        self.teacher.params(rest)
    }
}

/// Both trainers' views and the loop's per-trajectory buffers, carved on each call.
#[derive(Debug)]
pub struct Views<'a> {
    /// The student, with the shared replay buffer. On return from [`super::step`] its
    /// `traj` holds the iteration's trajectories.
    pub student: train::Views<'a>,
    /// The teacher.
    pub teacher: train::Views<'a>,
    /// `[B]` the student's TB residuals of the batch (kernel sign `d = −δ_S`, before its
    /// step).
    pub residuals: &'a mut [f32],
    /// `[B]` the teacher rewards `log R_T` of the batch.
    pub log_rt: &'a mut [f32],
    /// `[B]` 1 for trajectories kept in the teacher's loss, else 0 (and the scratch of the
    /// reward threshold's sort).
    pub(super) keep: &'a mut [f32],
}

impl<'a> Views<'a> {
    /// Carves the arenas, of exactly [`Layout::f32_len`] and [`Layout::u32_len`] elements;
    /// their contents are kept.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for arenas of the wrong length.
    pub fn new(
        lay: &Layout,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        check_len("teacher f32 arena", lay.f32_len, f32_arena.len())?;
        check_len("teacher u32 arena", lay.u32_len, u32_arena.len())?;
        let (mut c, mut cu) = (
            Carve::new("teacher arena", f32_arena),
            Carve::new("teacher arena", u32_arena),
        );
        let (s, t, b) = (&lay.student, &lay.teacher, lay.student.batch);
        Ok(Views {
            student: train::Views::new(s, c.take(s.f32_len)?, cu.take(s.u32_len)?)?,
            teacher: train::Views::new(t, c.take(t.f32_len)?, cu.take(t.u32_len)?)?,
            residuals: c.take(b)?,
            log_rt: c.take(b)?,
            keep: c.take(b)?,
        })
    }

    /// The buffers that carry over from one step to the next: the student's
    /// ([`train::Views::carried`], with the shared replay buffer), then the teacher's. The
    /// residuals, teacher rewards and keep flags are rewritten by every step.
    pub fn carried(&mut self, f: &mut dyn FnMut(crate::arena::Carried<'_>)) {
        self.student.carried(f);
        self.teacher.carried(f);
    }

    /// Checks that these views were carved by the layout of `cfg`.
    ///
    /// # Errors
    /// As [`Layout::new`]; [`Error::InvalidConfig`] for views of another configuration.
    pub(super) fn check(&self, cfg: &Config) -> Result<(), Error> {
        let lay = Layout::new(cfg, self.student.layout.dim)?;
        if self.student.layout != lay.student || self.teacher.layout != lay.teacher {
            return Err(Error::InvalidConfig(
                "the views were carved for another configuration",
            ));
        }
        Ok(())
    }
}
