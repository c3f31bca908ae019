//! Sequential Monte Carlo building blocks: resampling and adaptive weight tempering.
//!
//! [`annealed`] is the no-learning baseline (adaptive tempering + MALA). The SMC samplers themselves (twisted SMC with learnt flows, annealed SMC baselines)
//! compose these kernels; see Choi et al. 2025 (arXiv 2510.11711) §3 and `rsmc.md` §1.2.

pub mod annealed;
pub mod resample;
pub mod temper;
