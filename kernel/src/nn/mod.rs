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
//! | [`trunk`] | the time-conditioned trunk of the PIS policy and the VGS value network |
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
pub mod trunk;

/// Where a backward pass writes: the parameter gradient (**accumulated**, `+=`) and, if
/// asked for, the gradient with respect to the input (**overwritten**).
#[derive(Debug)]
pub struct Grads<'a> {
    /// `∂L/∂θ`, in the parameter layout, accumulated.
    pub params: &'a mut [f32],
    /// `∂L/∂x` (`B × input width`), written; `None` when not needed.
    pub input: Option<&'a mut [f32]>,
}

impl<'a> Grads<'a> {
    /// Parameter gradients only.
    pub fn params(params: &'a mut [f32]) -> Self {
        Grads {
            params,
            input: None,
        }
    }
    /// Parameter and input gradients.
    pub fn with_input(params: &'a mut [f32], input: &'a mut [f32]) -> Self {
        Grads {
            params,
            input: Some(input),
        }
    }
}

/// What a forward pass left for its backward pass: the activation cache of a batch of
/// `batch` rows.
#[derive(Clone, Copy, Debug)]
pub struct Tape<'a> {
    /// The cache the forward pass wrote.
    pub cache: &'a [f32],
    /// Rows of the batch.
    pub batch: usize,
}

pub use act::Activation;
pub use embed::{DEFAULT_HARMONICS, FourierEmbedding};
pub use init::LastLayerInit;
pub use linear::Linear;
pub use mlp::{MAX_LAYERS, Mlp, mlp_param_count};

#[cfg(test)]
pub(crate) mod testutil {
    //! Test helpers shared by the layers' tests.
    extern crate std;
    use crate::rng::{seeded, standard_normal};
    use std::vec::Vec;

    /// `n` standard normal values from the generator seeded with `seed`.
    pub(crate) fn randn(n: usize, seed: u64) -> Vec<f32> {
        let mut r = seeded(seed);
        (0..n).map(|_| standard_normal(&mut r) as f32).collect()
    }
}
