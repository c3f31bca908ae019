//! Samplers: diffusion samplers (continuous targets) and the Value Gradient Sampler.

pub mod diffusion;
pub mod vgs;
