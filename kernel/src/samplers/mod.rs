//! Samplers: diffusion samplers (continuous targets), GFlowNets (discrete targets) and the
//! Value Gradient Sampler.

pub mod diffusion;
pub mod gflownet;
pub mod vgs;
