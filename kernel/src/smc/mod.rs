//! Sequential Monte Carlo building blocks: resampling and adaptive weight tempering.
//!
//! [`annealed`] is the no-learning baseline (adaptive tempering + MALA); [`twist`] is the
//! chunk boundary of twisted SMC, one for the diffusion and the discrete samplers. The SMC samplers themselves (twisted SMC with learnt flows, annealed SMC baselines)
//! compose these kernels; see Choi et al. 2025 (arXiv 2510.11711) §3 and `rsmc.md` §1.2.

pub mod annealed;
pub mod moves;
pub mod resample;
pub mod temper;
pub mod twist;

/// Diagnostics of one twisted-SMC run, shared by the diffusion sampler's SMC
/// (`samplers::diffusion::smc`) and the discrete RSMC (`samplers::gflownet::rsmc`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmcInfo {
    /// `log Ẑ`.
    pub log_z: f64,
    /// Resampling events.
    pub resamples: u32,
    /// Smallest `ESS/N` seen at a chunk boundary (before resampling).
    pub min_ess_fraction: f64,
    /// `ESS/N` of the final weights.
    pub final_ess_fraction: f64,
    /// Smallest tempering exponent used (1 if never tempered).
    pub min_lambda: f64,
}
