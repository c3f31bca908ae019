//! The Value Gradient Sampler (VGS; Yoon, Hwang, Kim, Park, "Value Gradient Sampler:
//! Sampling as Sequential Decision Making", 2025): a discrete-time sampler whose drift is the
//! input gradient of a learnt scalar value function `V(x, t)`, trained by temporal-difference
//! learning with an EMA target network (report `teachers-and-vgs.md`, part B).
//!
//! | file | concept |
//! |---|---|
//! | [`schedule`] | `s_t²` (quad, exp) and `α_t` (ve, vp) schedules, `σ_init` |
//! | [`features`] | identity or sorted pairwise-distance features; centre-of-mass removal |
//! | [`net`] | the value network `V_φ(x, t)` with its input-gradient backward pass |
//! | [`loss`] | the TD regression loss (l2, smooth-L1) and its gradient |
//! | [`train`] | sampling (drift from `∇V̄`), the TD update, EMA target, learnt `σ_init` |

pub mod features;
pub mod loss;
pub mod net;
pub mod schedule;
pub mod train;

pub use features::{DistanceTransform, Features};
pub use loss::TdLoss;
pub use net::ValueNet;
pub use schedule::{AlphaKind, NoiseKind, Schedule};
pub use train::{Config, Info, Layout, SampleInfo, State, Vgs};
