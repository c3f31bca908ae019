//! The Value Gradient Sampler (VGS; Yoon, Hwang, Kim, Park, "Value Gradient Sampler:
//! Sampling as Sequential Decision Making", 2025): a discrete-time sampler whose drift is the
//! input gradient of a learnt scalar value function `V(x, t)`, trained by temporal-difference
//! learning with an EMA target network (report `teachers-and-vgs.md`, part B).
//!
//! | file | concept |
//! |---|---|
//! | [`config`] | the settings ([`Config`], with report B3's settings per target), checks |
//! | [`schedule`] | `s_t²` (quad, exp) and `α_t` (ve, vp) schedules, `σ_init` |
//! | [`features`] | identity or sorted pairwise-distance features; centre-of-mass removal |
//! | [`net`] | the value network `V_φ(x, t)` with its input-gradient backward pass |
//! | [`loss`] | the TD regression loss (l2, smooth-L1) and its gradient |
//! | [`views`] | the arenas: [`Layout`] sizes them, [`Views`] carves them per call |
//! | [`rollout`] | sampling (drift from `∇V̄`), path log-weights, value read-outs |
//! | [`train`] | [`State`], [`Info`], [`init`], [`step`]: the TD update, EMA target, learnt `σ_init` |
//!
//! An owner keeps two plain buffers (`f32`, `u32`, sized by [`Layout::new`]) and a
//! [`State`]; each call carves [`Views::new`] and runs [`init`], [`step`] or [`sample`].

pub mod config;
pub mod features;
pub mod loss;
pub mod net;
pub mod rollout;
pub mod schedule;
pub mod train;
pub mod views;

pub use config::Config;
pub use features::{DistanceTransform, Features};
pub use loss::TdLoss;
pub use net::ValueNet;
pub use rollout::{Draw, SampleInfo, sample, value, value_grad};
pub use schedule::{AlphaKind, NoiseKind, Schedule};
pub use train::{Info, State, init, restore, step};
pub use views::{Layout, Views, Work};
