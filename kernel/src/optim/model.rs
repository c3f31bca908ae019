//! The one optimiser step every trainer takes: per-group global-norm clipping, one
//! non-finite policy, then Adam with per-group learning rates under a schedule.
//!
//! A trained model is one flat parameter vector cut into consecutive [`Group`]s (for the
//! diffusion sampler: policy, flow network, β logits, `log Z`, `rsmc.md` §2.3). Its caller-owned
//! buffers are a [`Model`] (parameters, gradients and Adam's two moments, all the same
//! length), carved from the trainer's arena on each call. [`Optimiser::step`] then does, at
//! iteration `it`:
//!
//! 1. for each group in order: `normₖ = clip_global_norm(gradsₖ, clipₖ)` (torch's
//!    `clip_grad_norm_`; a group without a clip only has its norm measured);
//! 2. **non-finite policy**: if any `normₖ` is NaN or infinite, no parameter and no moment
//!    changes, [`OptimState::skipped`] counts the step and [`OptimInfo::skipped`] says so
//!    (clipping has already zeroed that group's gradients, so nothing poisons the next step);
//! 3. with [`Optimiser::global_clip`], one more clip of every group's gradient together to
//!    that global norm (the norms reported stay the groups' own);
//! 4. otherwise one Adam step ([`adam::step_groups`]) with base learning rate
//!    `lr₀ × schedule.factor(it)`, where `lr₀` is the first group's rate and group `k` runs
//!    at `lrₖ / lr₀` times the base (torch's parameter groups under one scheduler).
//!
//! Groups of length zero are skipped (a method without flows keeps the same group table).

use super::adam::{self, AdamConfig, AdamState, ParamGroup};
use super::clip::{clip_global_norm, global_norm};
use super::schedule::LrSchedule;
use crate::arena::{Carried, Carve};
use crate::error::{Error, check_len};

/// Most parameter groups one model has.
pub const MAX_GROUPS: usize = 4;

/// The next `len` parameters of a model, with their learning rate and optional clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Group {
    /// Number of parameters in the group (may be 0: the group is skipped).
    pub len: usize,
    /// Learning rate before the schedule; finite and `> 0`.
    pub lr: f32,
    /// Global-norm clip of this group's gradient (`None`: the norm is only measured).
    pub clip: Option<f32>,
}

impl Group {
    /// A group of `len` parameters at learning rate `lr`, clipped at `clip`.
    pub const fn new(len: usize, lr: f32, clip: Option<f32>) -> Self {
        Group { len, lr, clip }
    }
}

/// A model's caller-owned buffers, all of the same length: parameters, gradients and
/// Adam's first and second moments.
#[derive(Debug)]
pub struct Model<'a> {
    /// Parameters `θ`.
    pub params: &'a mut [f32],
    /// Gradients `∂L/∂θ` (backward passes accumulate into them).
    pub grads: &'a mut [f32],
    /// Adam's first moments.
    pub m: &'a mut [f32],
    /// Adam's second moments.
    pub v: &'a mut [f32],
}

impl<'a> Model<'a> {
    /// Length of the `f32` arena a model of `n` parameters takes.
    pub const fn arena_len(n: usize) -> usize {
        4 * n
    }

    /// Splits `arena` (at least [`Model::arena_len`]`(n)` long) into a model of `n`
    /// parameters, in the order parameters, gradients, `m`, `v`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `arena` is too short.
    pub fn from_arena(n: usize, arena: &'a mut [f32]) -> Result<Self, Error> {
        let mut c = Carve::new("model arena", arena);
        Self::carve(n, &mut c)
    }

    /// The next [`Model::arena_len`]`(n)` elements of a carver, as a model.
    pub(crate) fn carve(n: usize, c: &mut Carve<'a, f32>) -> Result<Self, Error> {
        Ok(Model {
            params: c.take(n)?,
            grads: c.take(n)?,
            m: c.take(n)?,
            v: c.take(n)?,
        })
    }

    /// Zeroes the gradients (before a backward pass accumulates into them).
    pub fn zero_grads(&mut self) {
        self.grads.fill(0.0);
    }

    /// Zeroes both Adam moments (a fresh optimiser).
    pub fn reset_moments(&mut self) {
        self.m.fill(0.0);
        self.v.fill(0.0);
    }

    /// The buffers that carry over between steps, in order: the parameters and Adam's two
    /// moments (not the gradients, which every step zeroes before it accumulates).
    pub fn carried(&mut self, f: &mut dyn FnMut(Carried<'_>)) {
        f(Carried::F32(self.params));
        f(Carried::F32(self.m));
        f(Carried::F32(self.v));
    }
}

/// The optimiser's state between steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OptimState {
    /// Adam's step counter (steps actually taken).
    pub adam: AdamState,
    /// Steps skipped because a gradient norm was not finite.
    pub skipped: u32,
}

/// What one [`Optimiser::step`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimInfo {
    /// Pre-clip gradient norm of each group, in group order (0 for empty groups and past
    /// the last group; groups after a non-finite one are not measured).
    pub norms: [f32; MAX_GROUPS],
    /// Whether the update was skipped (a non-finite gradient norm).
    pub skipped: bool,
}

impl OptimInfo {
    /// The norm a trainer reports: the first group's, or, for a skipped step, the norm that
    /// was not finite.
    pub fn reported_norm(&self) -> f32 {
        if self.skipped {
            let bad = self.norms.iter().copied().find(|n| !n.is_finite());
            bad.unwrap_or(f32::NAN)
        } else {
            self.norms[0]
        }
    }
}

/// Adam's constants and the learning-rate schedule of one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimiser {
    /// β₁, β₂, ε and weight decay (its `lr` is ignored: the groups carry the rates).
    pub adam: AdamConfig,
    /// Multiplier of every group's rate by iteration.
    pub schedule: LrSchedule,
    /// One global-norm clip over every group together (optax's `clip_by_global_norm`
    /// before its per-group optimisers, as the RSMC JAX trainer), applied after the
    /// groups' own clips; `None`: none.
    pub global_clip: Option<f32>,
}

impl Default for Optimiser {
    /// torch's Adam defaults at a constant rate.
    fn default() -> Self {
        Optimiser {
            adam: AdamConfig::default(),
            schedule: LrSchedule::Constant,
            global_clip: None,
        }
    }
}

impl Optimiser {
    /// torch's Adam defaults under `schedule`.
    pub fn with_schedule(schedule: LrSchedule) -> Self {
        Optimiser {
            schedule,
            ..Optimiser::default()
        }
    }

    /// One clipped Adam step at iteration `it` (see the [module docs](self)).
    ///
    /// # Example
    ///
    /// Two parameters in one group clipped at norm 1: the gradient `(3, 4)` has norm 5
    /// (reported before clipping), and Adam's first step moves each parameter by about the
    /// learning rate against its gradient's sign (`m̂ / √v̂ = ±1`).
    ///
    /// ```
    /// use amortise_kernel::optim::{Group, Model, OptimState, Optimiser};
    ///
    /// let mut arena = [0.0f32; Model::arena_len(2)]; // params, grads, m, v
    /// let mut model = Model::from_arena(2, &mut arena)?;
    /// model.params.copy_from_slice(&[1.0, 1.0]);
    /// model.grads.copy_from_slice(&[3.0, 4.0]); // a backward pass would accumulate here
    /// let groups = [Group::new(2, 1e-2, Some(1.0))];
    /// let mut state = OptimState::default();
    /// let info = Optimiser::default().step(&groups, &mut model, &mut state, 0)?;
    /// assert_eq!(info.norms[0], 5.0);
    /// assert!(!info.skipped);
    /// for p in model.params.iter() {
    ///     assert!((p - 0.99).abs() < 1e-6);
    /// }
    /// assert_eq!(state.adam.t, 1);
    /// # Ok::<(), amortise_kernel::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for more than [`MAX_GROUPS`] groups, a bad learning rate or
    /// schedule; [`Error::ShapeMismatch`] if the groups are longer than the model or the
    /// model's buffers differ in length. Checked before anything changes.
    pub fn step(
        &self,
        groups: &[Group],
        model: &mut Model<'_>,
        state: &mut OptimState,
        it: u32,
    ) -> Result<OptimInfo, Error> {
        if groups.is_empty() || groups.len() > MAX_GROUPS {
            return Err(Error::InvalidConfig("a model has 1 to 4 parameter groups"));
        }
        self.schedule.validate()?;
        let n = model.params.len();
        check_len("model grads", n, model.grads.len())?;
        let total = groups.iter().try_fold(0usize, |a, g| a.checked_add(g.len));
        let total = total.ok_or(Error::InvalidConfig("parameter group sizes overflow"))?;
        if total > n {
            return Err(Error::ShapeMismatch {
                what: "model parameter groups",
                expected: n,
                got: total,
            });
        }
        if groups.iter().any(|g| !(g.lr.is_finite() && g.lr > 0.0)) {
            return Err(Error::InvalidConfig(
                "group learning rates must be finite and > 0",
            ));
        }
        let base = groups[0].lr;
        let cfg = AdamConfig {
            lr: base * self.schedule.factor(it),
            ..self.adam
        };
        cfg.validate()?;
        check_len("model m", n, model.m.len())?;
        check_len("model v", n, model.v.len())?;
        let mut info = OptimInfo {
            norms: [0.0; MAX_GROUPS],
            skipped: false,
        };
        let mut adam_groups = [ParamGroup::new(0, 0, 1.0); MAX_GROUPS];
        let (mut ng, mut start) = (0usize, 0usize);
        for (k, g) in groups.iter().enumerate() {
            let r = start..start + g.len;
            start += g.len;
            if g.len == 0 {
                continue;
            }
            let norm = match g.clip {
                Some(c) => clip_global_norm(&mut model.grads[r.clone()], c),
                None => global_norm(&model.grads[r.clone()]) as f32,
            };
            info.norms[k] = norm;
            if !norm.is_finite() {
                state.skipped = state.skipped.saturating_add(1);
                info.skipped = true;
                return Ok(info);
            }
            adam_groups[ng] = ParamGroup::new(r.start, g.len, g.lr / base);
            ng += 1;
        }
        if let Some(c) = self.global_clip {
            // the groups' norms are finite here, so the joint one is too
            clip_global_norm(&mut model.grads[..total], c);
        }
        adam::step_groups(
            &cfg,
            &mut state.adam,
            &adam_groups[..ng],
            model.params,
            model.grads,
            adam::Moments {
                m: model.m,
                v: model.v,
            },
        )?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn buffers<const N: usize>() -> [[f32; N]; 4] {
        [[0.0; N]; 4]
    }

    /// The same step as the hand-written sequence it replaces: clip each group, then
    /// `step_groups` with rates relative to the first group.
    #[test]
    fn equals_clip_then_step_groups_bit_for_bit() {
        let sched = LrSchedule::multi_step_at_fractions(10, &[0.5, 0.75], 0.3).unwrap();
        let opt = Optimiser::with_schedule(sched);
        let groups = [
            Group::new(3, 1e-3, Some(1.0)),
            Group::new(0, 5e-3, Some(1.0)),
            Group::new(2, 1e-1, None),
        ];
        let [mut p, mut g, mut m, mut v] = buffers::<5>();
        p.copy_from_slice(&[0.5, -1.0, 2.0, 0.1, 3.0]);
        let [mut p2, mut g2, mut m2, mut v2] = [p, g, m, v];
        let mut st = OptimState::default();
        let mut ast = AdamState::default();
        for it in 0..8u32 {
            let grad = [3.0 + it as f32, -4.0, 0.5, 7.0, -0.25 * it as f32];
            g.copy_from_slice(&grad);
            g2.copy_from_slice(&grad);
            let mut model = Model {
                params: &mut p,
                grads: &mut g,
                m: &mut m,
                v: &mut v,
            };
            let info = opt.step(&groups, &mut model, &mut st, it).unwrap();
            // by hand
            let n0 = clip_global_norm(&mut g2[..3], 1.0);
            let acfg = AdamConfig {
                lr: 1e-3 * sched.factor(it),
                ..AdamConfig::default()
            };
            let ag = [
                ParamGroup::new(0, 3, 1.0),
                ParamGroup::new(3, 2, 1e-1 / 1e-3),
            ];
            let mv = adam::Moments {
                m: &mut m2,
                v: &mut v2,
            };
            adam::step_groups(&acfg, &mut ast, &ag, &mut p2, &g2, mv).unwrap();
            assert_eq!(info.norms[0], n0);
            assert_eq!(info.norms[1], 0.0);
            assert!(!info.skipped);
            assert_eq!(p.map(f32::to_bits), p2.map(f32::to_bits), "iteration {it}");
        }
        assert_eq!(st.adam, ast);
        assert_eq!(st.skipped, 0);
    }

    #[test]
    fn a_global_clip_scales_every_group_together() {
        for (own, want) in [
            (None, [0.6, 0.0, 0.0, 0.8]),
            (Some(1.0), [0.5f32.sqrt(); 4]),
        ] {
            let [mut p, mut g, mut m, mut v] = buffers::<4>();
            g.copy_from_slice(&[3.0, 0.0, 0.0, 4.0]);
            let mut model = Model {
                params: &mut p,
                grads: &mut g,
                m: &mut m,
                v: &mut v,
            };
            let opt = Optimiser {
                global_clip: Some(1.0),
                ..Optimiser::default()
            };
            let groups = [Group::new(2, 1e-3, own), Group::new(2, 1e-2, own)];
            let info = opt
                .step(&groups, &mut model, &mut OptimState::default(), 0)
                .unwrap();
            // the reported norms are the groups' own, before the global clip
            assert_eq!(info.norms[..2], [3.0, 4.0]);
            for (k, (&got, &w)) in g.iter().zip(&want).enumerate() {
                let w = if k == 1 || k == 2 { 0.0 } else { w };
                assert!((got - w).abs() < 1e-6, "{k}: {got} vs {w}");
            }
        }
    }

    #[test]
    fn a_non_finite_gradient_skips_the_step_and_counts_it() {
        let opt = Optimiser::default();
        let groups = [Group::new(2, 1e-2, Some(1.0)), Group::new(1, 1e-1, None)];
        let [mut p, mut g, mut m, mut v] = buffers::<3>();
        p.copy_from_slice(&[1.0, 2.0, 3.0]);
        let mut st = OptimState::default();
        let mut model = Model {
            params: &mut p,
            grads: &mut g,
            m: &mut m,
            v: &mut v,
        };
        model.grads.copy_from_slice(&[0.1, 0.2, 0.3]);
        opt.step(&groups, &mut model, &mut st, 0).unwrap();
        let before = (model.params.to_vec(), model.m.to_vec(), model.v.to_vec());
        // NaN in the unclipped group: measured, so still caught
        model.grads.copy_from_slice(&[0.1, 0.2, f32::NAN]);
        let info = opt.step(&groups, &mut model, &mut st, 1).unwrap();
        assert!(info.skipped && info.norms[1].is_nan());
        assert!(info.reported_norm().is_nan());
        assert_eq!(st.skipped, 1);
        assert_eq!(st.adam.t, 1);
        let after = (model.params.to_vec(), model.m.to_vec(), model.v.to_vec());
        assert_eq!(before, after);
    }

    #[test]
    fn bad_groups_are_typed_errors() {
        let opt = Optimiser::default();
        let [mut p, mut g, mut m, mut v] = buffers::<3>();
        let mut model = Model {
            params: &mut p,
            grads: &mut g,
            m: &mut m,
            v: &mut v,
        };
        let mut st = OptimState::default();
        assert!(matches!(
            opt.step(&[Group::new(4, 1e-3, None)], &mut model, &mut st, 0),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            opt.step(&[], &mut model, &mut st, 0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            opt.step(&[Group::new(3, -1.0, None)], &mut model, &mut st, 0),
            Err(Error::InvalidConfig(_))
        ));
        assert_eq!(st, OptimState::default());
    }

    #[test]
    fn carves_a_model_from_an_arena() {
        let mut a = [7.0f32; 9];
        let mut model = Model::from_arena(2, &mut a).unwrap();
        model.zero_grads();
        model.reset_moments();
        assert_eq!(model.params, &[7.0, 7.0]);
        assert_eq!(model.grads, &[0.0, 0.0]);
        assert!(Model::from_arena(3, &mut [0.0; 11]).is_err());
        assert_eq!(Model::arena_len(3), 12);
    }
}
