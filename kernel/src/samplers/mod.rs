//! Samplers: diffusion samplers (continuous targets).

pub mod diffusion;
