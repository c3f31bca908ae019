//! Diffusion samplers: a learnt forward SDE discretisation over a fixed reference process.
//!
//! See [`mod@reference`] for the two reference processes (pinned Brownian motion of
//! gfn-diffusion, OU/DDS of RSMC).

pub mod flow;
pub mod net;
pub mod policy;
pub mod reference;
pub mod smc;
pub mod tb;
pub mod train;
