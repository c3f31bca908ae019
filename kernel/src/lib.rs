//! # amortise-kernel
//!
//! `no_std`, allocation-free, `unsafe`-free kernels for **amortised samplers**: neural
//! samplers trained like reinforcement-learning policies to draw from an unnormalised density
//! (Reinforced SMC, Choi et al. 2025, arXiv 2510.11711; adaptive teachers, Kim et al.,
//! ICLR 2025; the Value Gradient Sampler, Yoon et al. 2025). The same code builds for the
//! host, `wasm32-unknown-unknown` and `thumbv7em-none-eabihf`, and gives the same bits on all
//! three for the same seed.
//!
//! ## Layer map (lower layers never depend on higher ones)
//!
//! | layer | module | what it holds |
//! |---|---|---|
//! | 0 | [`error`] | the one `Copy` error enum |
//! | 0 | [`math`] | the only `libm` call site; stable log-space helpers |
//! | 0 | [`rng`] | the pinned PRNG (xoshiro256++) and its distributions |
//! | 0 | [`checksum`] | FNV-1a 64 of parameter bits, the checkpoints' checksum |
//! | 1 | [`nn`] | dense layers, activations, the Fourier time embedding, MLPs with hand-written backward passes over caller-owned flat slices |
//! | 1 | [`optim`] | Adam over caller-owned moments, gradient clipping, learning-rate schedules |
//! | 1 | [`targets`] | unnormalised log-densities with analytic gradients, known `log Z` and exact samplers |
//! | 1 | [`metrics`] | log-weight normalisation, ESS, ELBO/EUBO/IS `log Z`, Sinkhorn, MMD, mode coverage, TV |
//! | 2 | [`smc`] | resampling (systematic, stratified, multinomial) and adaptive weight tempering |
//! | 2 | [`buffer`] | fixed-capacity replay buffers: importance-weighted (RSMC), reward-ranked, uniform |
//! | 3 | [`samplers::diffusion`] | diffusion samplers: reference processes, the PIS policy (optionally Langevin-preconditioned), TB and chunked SubTB, twisted SMC with learnt flows, the trainer (tb, tb-buffer, RSMC) |
//! | 3 | [`samplers::gflownet`] | discrete environments (hypergrid, deceptive grid, prepend/append sequences, Ising), exact enumeration, masked-softmax policies, TB/DB/SubTB, discrete RSMC |
//! | 3 | [`samplers::vgs`] | the Value Gradient Sampler: value network, drift from its input gradient, TD training, invariant n-body features |
//! | 4 | [`teacher`] | adaptive teachers (Kim et al., ICLR 2025): a teacher trained on the student's TB residuals, for GFlowNets ([`teacher::discrete`], composing two GFlowNet trainers) and for diffusion samplers on continuous targets ([`teacher::continuous`], composing two diffusion trainers) |
//! | 4 | [`ebm`] | energy-based model training by contrastive divergence with VGS negatives |
//!
//! `cargo xtask check-kernel` (and `cargo xtask test`) checks every `crate::` path of the
//! kernel against this map, kept in `xtask/src/layers.rs` (which also places the private
//! `arena` in layer 0): a new module needs a row in both.
//!
//! ## Conventions
//! - **The caller owns memory.** Kernels take `&mut [f32]` buffers, check their lengths once
//!   (returning [`Error::ShapeMismatch`]) and never allocate. Sizes come from `const fn`
//!   helpers such as [`nn::Mlp::param_count`].
//! - **Randomness is an explicit argument**, last: `rng: &mut R` with `R: rand_core::Rng`.
//! - **Storage is `f32`**; reductions over particles accumulate in `f64`.
//! - **Weights are log-weights.** NaN log-densities count as `-inf` (zero weight).
//! - **Backward passes accumulate** (`+=`) into caller gradients; zero them per batch.
//! - Algorithms are `Config` (`Copy + Default`) + `State` + `Info` + `init` + `step`.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod arena;
pub mod buffer;
pub mod checksum;
pub mod ebm;
pub mod error;
pub mod math;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod rng;
pub mod samplers;
pub mod smc;
pub mod targets;
pub mod teacher;

pub use arena::Carried;
pub use error::Error;

/// The code sample of `kernel/README.md`, run as a doc test so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
