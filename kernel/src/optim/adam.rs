//! Adam (Kingma & Ba 2015, Algorithm 1) over caller-owned parameters, gradients and moment
//! buffers, with the update order and bias correction of `torch.optim.Adam`
//! (single-tensor path, `amsgrad=False`, `maximize=False`).
//!
//! One step, at step count `t` (starting at 1), for every parameter `θ` with gradient `g`:
//!
//! ```text
//! g ← g + λ·θ                           (weight decay λ, L2 added to the gradient)
//! m ← m + (1 − β₁)·(g − m)              (= β₁m + (1 − β₁)g, as torch's lerp)
//! v ← β₂·v + (1 − β₂)·g²
//! θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! which is `θ ← θ − lr·m̂/(√v̂ + ε)` with `m̂ = m/(1 − β₁ᵗ)`, `v̂ = v/(1 − β₂ᵗ)`. The bias
//! corrections are computed in `f64`, the per-element update in `f32`. The caller's gradient
//! buffer is not modified (the weight-decay term is added on the fly).
//!
//! **Parameter groups.** [`step_groups`] updates several disjoint contiguous ranges of one
//! flat parameter vector, each with its own learning rate `cfg.lr × lr_scale`, sharing one
//! step counter `t` (torch's param groups: e.g. the policy at `1e-3` and `log Z` at `1e-1`
//! is `cfg.lr = 1e-3` and scales `1` and `100`). A learning-rate schedule therefore scales
//! every group together by changing `cfg.lr`, as torch's schedulers do.

use crate::error::{Error, check_len};
use crate::math;

/// Adam hyper-parameters. Defaults are `torch.optim.Adam`'s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate; default `1e-3`. Must be finite and `> 0`.
    pub lr: f32,
    /// First-moment decay `β₁ ∈ [0, 1)`; default `0.9`.
    pub beta1: f32,
    /// Second-moment decay `β₂ ∈ [0, 1)`; default `0.999`.
    pub beta2: f32,
    /// Denominator floor `ε > 0`; default `1e-8`.
    pub eps: f32,
    /// L2 weight decay `λ ≥ 0`, added to the gradient as `g + λθ` (torch's `Adam`, not
    /// `AdamW`); default `0`.
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// Checks every field against its documented range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::InvalidConfig("Adam lr must be finite and > 0"));
        }
        if !(self.beta1 >= 0.0 && self.beta1 < 1.0) {
            return Err(Error::InvalidConfig("Adam beta1 must be in [0, 1)"));
        }
        if !(self.beta2 >= 0.0 && self.beta2 < 1.0) {
            return Err(Error::InvalidConfig("Adam beta2 must be in [0, 1)"));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::InvalidConfig("Adam eps must be finite and > 0"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::InvalidConfig(
                "Adam weight_decay must be finite and >= 0",
            ));
        }
        Ok(())
    }
}

/// Adam's state besides the moment buffers: the number of steps taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdamState {
    /// Steps taken so far (`0` before the first step; the step being taken uses `t + 1`).
    pub t: u32,
}

/// Adam's moment buffers, each as long as the parameters: the first moments `m` (the
/// gradients' running mean) and the second moments `v` (their running uncentred variance).
#[derive(Debug)]
pub struct Moments<'a> {
    /// First moments `m`.
    pub m: &'a mut [f32],
    /// Second moments `v`.
    pub v: &'a mut [f32],
}

/// What one Adam step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamInfo {
    /// The step count used for the bias correction (the new `state.t`).
    pub t: u32,
    /// Euclidean norm of the applied update `‖Δθ‖₂` over every updated parameter
    /// (accumulated in `f64`).
    pub update_norm: f32,
}

/// A contiguous range `params[start .. start + len]` updated with learning rate
/// `cfg.lr × lr_scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamGroup {
    /// First index of the range.
    pub start: usize,
    /// Length of the range.
    pub len: usize,
    /// Multiplier of [`AdamConfig::lr`] for this range; finite and `> 0`.
    pub lr_scale: f32,
}

impl ParamGroup {
    /// The group `[start, start + len)` with learning-rate multiplier `lr_scale`.
    pub const fn new(start: usize, len: usize, lr_scale: f32) -> Self {
        Self {
            start,
            len,
            lr_scale,
        }
    }
}

/// One Adam step on every parameter with `cfg.lr` (see the [module docs](self) for the
/// update); increments `state.t`.
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad `cfg` or when `state.t` would overflow;
/// [`Error::ShapeMismatch`] if `grads`, `m` or `v` is not as long as `params`. Nothing is
/// modified on error.
pub fn step(
    cfg: &AdamConfig,
    state: &mut AdamState,
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) -> Result<AdamInfo, Error> {
    let all = [ParamGroup::new(0, params.len(), 1.0)];
    step_groups(cfg, state, &all, params, grads, Moments { m, v })
}

/// One Adam step on each of `groups`, group `k` with learning rate `cfg.lr ×
/// groups[k].lr_scale`, all sharing the bias correction of one step count; increments
/// `state.t` once. Parameters outside every group, and their moments, are left untouched.
///
/// `groups` must be sorted by `start` and disjoint.
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad `cfg`, a non-finite or non-positive `lr_scale`,
/// overlapping or unsorted groups, or when `state.t` would overflow;
/// [`Error::ShapeMismatch`] if `grads`, `moments.m` or `moments.v` is not as long as
/// `params`, or a group ends beyond `params`. Nothing is modified on error.
pub fn step_groups(
    cfg: &AdamConfig,
    state: &mut AdamState,
    groups: &[ParamGroup],
    params: &mut [f32],
    grads: &[f32],
    moments: Moments<'_>,
) -> Result<AdamInfo, Error> {
    let Moments { m, v } = moments;
    cfg.validate()?;
    let n = params.len();
    check_len("adam grads", n, grads.len())?;
    check_len("adam m", n, m.len())?;
    check_len("adam v", n, v.len())?;
    let mut prev_end = 0usize;
    for g in groups {
        if !(g.lr_scale.is_finite() && g.lr_scale > 0.0) {
            return Err(Error::InvalidConfig(
                "Adam group lr_scale must be finite and > 0",
            ));
        }
        if g.start < prev_end {
            return Err(Error::InvalidConfig(
                "Adam groups must be sorted and disjoint",
            ));
        }
        let end = g.start.saturating_add(g.len);
        if end > n {
            return Err(Error::ShapeMismatch {
                what: "adam group end",
                expected: n,
                got: end,
            });
        }
        prev_end = end;
    }
    let t = state
        .t
        .checked_add(1)
        .ok_or(Error::InvalidConfig("Adam step counter overflow"))?;

    let b1 = cfg.beta1 as f64;
    let b2 = cfg.beta2 as f64;
    let bias1 = 1.0 - math::powf(b1, t as f64);
    let bias2_sqrt = math::sqrt(1.0 - math::powf(b2, t as f64));
    let one_minus_b1 = 1.0 - cfg.beta1;
    let one_minus_b2 = 1.0 - cfg.beta2;
    let (beta2, eps, wd) = (cfg.beta2, cfg.eps, cfg.weight_decay);
    let bias2_sqrt = bias2_sqrt as f32;

    let mut sq = 0.0f64;
    for grp in groups {
        let step_size = (cfg.lr as f64 * grp.lr_scale as f64 / bias1) as f32;
        let r = grp.start..grp.start + grp.len;
        let it = params[r.clone()]
            .iter_mut()
            .zip(&grads[r.clone()])
            .zip(m[r.clone()].iter_mut().zip(v[r].iter_mut()));
        for ((p, &g0), (mi, vi)) in it {
            let g = if wd != 0.0 { g0 + wd * *p } else { g0 };
            *mi += one_minus_b1 * (g - *mi);
            *vi = *vi * beta2 + one_minus_b2 * g * g;
            let denom = math::sqrt(*vi) / bias2_sqrt + eps;
            let delta = -step_size * (*mi / denom);
            *p += delta;
            sq += (delta as f64) * (delta as f64);
        }
    }
    state.t = t;
    Ok(AdamInfo {
        t,
        update_norm: math::sqrt(sq) as f32,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// Two steps on two parameters, expected values written out from the formula in f64.
    #[test]
    fn two_steps_by_hand_with_weight_decay() {
        let cfg = AdamConfig {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.5,
        };
        let mut st = AdamState::default();
        let mut p = [1.0f32, -2.0];
        let mut m = [0.0f32; 2];
        let mut v = [0.0f32; 2];

        // step 1: g = [0.2, 0.4]; g' = g + 0.5 p = [0.7, -0.6]
        // m = 0.1 g' = [0.07, -0.06]; v = 0.001 g'^2 = [0.00049, 0.00036]
        // m̂ = m / 0.1 = g'; v̂ = v / 0.001 = g'^2; Δ = -0.1 * g'/(|g'| + 1e-8) ≈ -0.1 sign(g')
        let info = step(&cfg, &mut st, &mut p, &[0.2, 0.4], &mut m, &mut v).unwrap();
        assert_eq!(info.t, 1);
        assert_eq!(st.t, 1);
        let exp1 = [
            1.0 - 0.1 * 0.7 / (0.7 + 1e-8),
            -2.0 - 0.1 * -0.6 / (0.6 + 1e-8),
        ];
        for i in 0..2 {
            assert!((p[i] as f64 - exp1[i]).abs() < 1e-6, "{i}: {}", p[i]);
        }
        assert!((m[0] as f64 - 0.07).abs() < 1e-7 && (m[1] as f64 + 0.06).abs() < 1e-7);
        // (1 − β₂ in f32 is 0.00099998713, hence the relative tolerance)
        assert!((v[0] as f64 / 0.00049 - 1.0).abs() < 1e-4);
        assert!((v[1] as f64 / 0.00036 - 1.0).abs() < 1e-4);
        assert!((info.update_norm as f64 - (0.02f64).sqrt()).abs() < 1e-6);

        // step 2: p = [0.9, -1.9], g = [-0.1, 0.3]; g' = g + 0.5 p = [0.35, -0.65]
        let g2 = [-0.1f32, 0.3];
        step(&cfg, &mut st, &mut p, &g2, &mut m, &mut v).unwrap();
        assert_eq!(st.t, 2);
        let gp = [0.35f64, -0.65];
        let m1 = [0.07f64, -0.06];
        let v1 = [0.00049f64, 0.00036];
        for i in 0..2 {
            let m2 = 0.9 * m1[i] + 0.1 * gp[i];
            let v2 = 0.999 * v1[i] + 0.001 * gp[i] * gp[i];
            let mhat = m2 / (1.0 - 0.81);
            let vhat = v2 / (1.0 - 0.998_001);
            let want = exp1[i] - 0.1 * mhat / (vhat.sqrt() + 1e-8);
            assert!((m[i] as f64 - m2).abs() < 1e-7);
            assert!((v[i] as f64 / v2 - 1.0).abs() < 1e-4);
            assert!((p[i] as f64 - want).abs() < 1e-5, "{i}: {} vs {want}", p[i]);
        }
        // explicit numbers for parameter 0: m2 = 0.098, v2 = 0.00061201,
        // m̂ = 0.098/0.19 = 0.5157895, v̂ = 0.00061201/0.001999 = 0.3061581,
        // Δ = -0.1·0.5157895/0.5533155 = -0.0932180
        assert!((p[0] as f64 - (0.9 - 0.093_218_0)).abs() < 1e-5);
    }

    #[test]
    fn groups_share_t_and_scale_lr() {
        let cfg = AdamConfig {
            lr: 0.01,
            ..AdamConfig::default()
        };
        let grads = [1.0f32, 1.0, 1.0, 1.0];
        let mut p = [0.0f32; 4];
        let (mut m, mut v) = ([0.0f32; 4], [0.0f32; 4]);
        let mut st = AdamState::default();
        let groups = [ParamGroup::new(0, 2, 1.0), ParamGroup::new(3, 1, 100.0)];
        step_groups(
            &cfg,
            &mut st,
            &groups,
            &mut p,
            &grads,
            Moments {
                m: &mut m,
                v: &mut v,
            },
        )
        .unwrap();
        assert_eq!(st.t, 1);
        // first step moves each parameter by lr_group·g/(|g| + eps) ≈ lr_group
        assert!((p[0] + 0.01).abs() < 1e-7 && (p[1] + 0.01).abs() < 1e-7);
        assert_eq!((p[2], m[2], v[2]), (0.0, 0.0, 0.0)); // outside every group
        assert!((p[3] + 1.0).abs() < 1e-6);

        let bad = [ParamGroup::new(0, 3, 1.0), ParamGroup::new(2, 1, 1.0)];
        assert!(matches!(
            step_groups(
                &cfg,
                &mut st,
                &bad,
                &mut p,
                &grads,
                Moments {
                    m: &mut m,
                    v: &mut v
                }
            ),
            Err(Error::InvalidConfig(_))
        ));
        let beyond = [ParamGroup::new(2, 3, 1.0)];
        assert!(matches!(
            step_groups(
                &cfg,
                &mut st,
                &beyond,
                &mut p,
                &grads,
                Moments {
                    m: &mut m,
                    v: &mut v
                }
            ),
            Err(Error::ShapeMismatch { .. })
        ));
        let zero = [ParamGroup::new(0, 1, 0.0)];
        assert!(
            step_groups(
                &cfg,
                &mut st,
                &zero,
                &mut p,
                &grads,
                Moments {
                    m: &mut m,
                    v: &mut v
                }
            )
            .is_err()
        );
        assert_eq!(st.t, 1); // untouched on error
    }

    #[test]
    fn validation_and_shapes() {
        let mut st = AdamState::default();
        let mut p = [0.0f32; 3];
        let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 3]);
        let g = [0.1f32; 3];
        for bad in [
            AdamConfig {
                lr: 0.0,
                ..Default::default()
            },
            AdamConfig {
                lr: f32::NAN,
                ..Default::default()
            },
            AdamConfig {
                lr: f32::INFINITY,
                ..Default::default()
            },
            AdamConfig {
                beta1: 1.0,
                ..Default::default()
            },
            AdamConfig {
                beta2: -0.1,
                ..Default::default()
            },
            AdamConfig {
                eps: 0.0,
                ..Default::default()
            },
            AdamConfig {
                weight_decay: -1.0,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                step(&bad, &mut st, &mut p, &g, &mut m, &mut v),
                Err(Error::InvalidConfig(_))
            ));
        }
        let cfg = AdamConfig::default();
        assert!(matches!(
            step(&cfg, &mut st, &mut p, &g[..2], &mut m, &mut v),
            Err(Error::ShapeMismatch {
                what: "adam grads",
                ..
            })
        ));
        assert!(matches!(
            step(&cfg, &mut st, &mut p, &g, &mut m[..2], &mut v),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            step(&cfg, &mut st, &mut p, &g, &mut m, &mut v[..1]),
            Err(Error::ShapeMismatch { .. })
        ));
        let mut full = AdamState { t: u32::MAX };
        assert!(matches!(
            step(&cfg, &mut full, &mut p, &g, &mut m, &mut v),
            Err(Error::InvalidConfig(_))
        ));
        assert_eq!(p, [0.0; 3]);
        assert_eq!(st.t, 0);
    }
}
