//! Evaluation metrics for amortised samplers (Reinforced SMC, Choi et al. 2025, §5; adaptive
//! teachers, Kim et al. 2025, A4; VGS, Yoon et al. 2025, B4).
//!
//! | file | concept |
//! |---|---|
//! | [`weights`] | log-weight normalisation, log-softmax, ESS and ESS/N; the NaN / `±inf` policy |
//! | [`bounds`] | ELBO, EUBO and the importance-sampling `log Ẑ` |
//! | [`sinkhorn`] | the debiased Sinkhorn divergence: converged (ε = 1e-3, ε-scaling) and the paper's (ott-jax defaults) |
//! | [`mmd`] | MMD with a Gaussian kernel and the median-heuristic bandwidth |
//! | [`coverage`] | entropic mode coverage (EMC) from nearest-mode histograms; each sample's nearest mode and distance |
//! | [`histogram`] | total variation, mean L1 over states, 1-D and 2-D histograms, FAB's histogram KL divergence |
//! | [`weighted_histogram`] | weighted 1-D and 2-D histograms and the histogram KL divergence between weighted ones |
//! | [`marginal`] | quantiles of a sorted 1-D sample and the exact 1-Wasserstein distance between two |
//! | [`w2`] | the exact 2-Wasserstein distance between equal-size clouds (Hungarian algorithm) |
//!
//! Inputs are `f32` (samples row-major `[n, dim]` flat slices); reductions accumulate in
//! `f64`. Every work buffer comes from the caller, sized by the `*_workspace_len` helpers.
//! Log-weights follow one policy everywhere: NaN counts as `-inf` (zero weight), `+inf` is
//! [`Error::NonFinite`](crate::Error::NonFinite), no mass is
//! [`Error::Degenerate`](crate::Error::Degenerate).

pub mod bounds;
pub mod coverage;
pub mod histogram;
pub mod marginal;
pub mod mmd;
pub mod sinkhorn;
pub mod w2;
pub mod weighted_histogram;
pub mod weights;
