//! Optimisation kernels over caller-owned flat `f32` slices.
//!
//! | file | concept |
//! |---|---|
//! | [`adam`] | Adam with torch's bias correction and L2 weight decay; parameter groups with their own learning rates |
//! | [`clip`] | gradient clipping by global norm (torch's `clip_grad_norm_`) |
//! | [`schedule`] | learning-rate schedules (constant, step, multi-step) |
//! | [`model`] | the one optimiser step of every trainer: a [`Model`]'s buffers, per-group clipping, the non-finite policy, Adam under a schedule |
//!
//! A training step is: [`Model::zero_grads`], accumulate the gradients with the `nn`
//! backward passes, then [`Optimiser::step`] (clipping, the non-finite policy and Adam with
//! per-group rates under the schedule). Every trainer takes its step through it.

pub mod adam;
pub mod clip;
pub mod model;
pub mod schedule;

pub use adam::{AdamConfig, AdamInfo, AdamState, ParamGroup};
pub use clip::{clip_global_norm, global_norm};
pub use model::{Group, MAX_GROUPS, Model, OptimInfo, OptimState, Optimiser};
pub use schedule::{LrSchedule, NO_MILESTONE};
