//! Optimisation kernels over caller-owned flat `f32` slices.
//!
//! | file | concept |
//! |---|---|
//! | [`adam`] | Adam with torch's bias correction and L2 weight decay; parameter groups with their own learning rates |
//! | [`clip`] | gradient clipping by global norm (torch's `clip_grad_norm_`) |
//! | [`schedule`] | learning-rate schedules (constant, step, multi-step) |
//!
//! A training step is: zero the gradients, accumulate them with the `nn` backward passes,
//! [`clip_global_norm`], then [`adam::step`] (or [`adam::step_groups`]) with
//! `cfg.lr = base_lr × schedule.factor(iteration)`.

pub mod adam;
pub mod clip;
pub mod schedule;

pub use adam::{AdamConfig, AdamInfo, AdamState, ParamGroup};
pub use clip::{clip_global_norm, global_norm};
pub use schedule::{LrSchedule, NO_MILESTONE};
