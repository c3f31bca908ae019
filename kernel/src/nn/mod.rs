//! Neural-network building blocks with hand-written backward passes over caller-owned flat
//! `f32` slices: no allocation, no autograd, forward and derivative side by side.
//!
//! | file | concept |
//! |---|---|
//! | [`act`] | element-wise activations `f` and `f'` (exact GELU, SiLU, ReLU, tanh, softplus, identity) |
//! | [`linear`] | the dense layer `Y = X·W + b`, weights stored `[inp][out]` |
//! | `gemm` (private) | the register-blocked products behind [`linear`] |
//! | [`embed`] | the PIS Fourier time embedding `[sin(t·w + φ), cos(t·w + φ)]` |
//! | [`mlp`] | multi-layer perceptrons: shape, forward with activation cache, backward |
//! | [`init`] | PyTorch-default initialisation and last-layer options |
//!
//! Conventions shared by every backward pass: parameter gradients are **accumulated**
//! (`+=`; zero them before each batch), input gradients are **written**. Batches are
//! row-major with contiguous rows. Every backward pass has a central-difference test.

pub mod act;
pub mod embed;
mod gemm;
pub mod init;
pub mod linear;
pub mod mlp;

pub use act::Activation;
pub use embed::{DEFAULT_HARMONICS, FourierEmbedding};
pub use init::LastLayerInit;
pub use linear::Linear;
pub use mlp::{MAX_LAYERS, Mlp, mlp_param_count};
