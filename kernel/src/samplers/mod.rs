//! Samplers: diffusion samplers (continuous targets) and GFlowNets (discrete targets).

pub mod diffusion;
pub mod gflownet;
