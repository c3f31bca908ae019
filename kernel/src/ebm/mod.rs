//! Energy-based models trained by contrastive divergence with the Value Gradient Sampler as
//! the negative sampler (Yoon et al. 2025, `train_ebm.py`; report B1.4).
//!
//! - [`data`]: seeded 2-D synthetic data sets (two moons, 8 Gaussians, checkerboard,
//!   concentric rings);
//! - [`energy`]: an MLP energy `E_θ(x)` as a [`LogDensity`](crate::targets::LogDensity)
//!   (`log p̃ = −E`) so a VGS sampler can be trained against it;
//! - [`cd`]: the energy loss `E⁺/D − E⁻/D + γ((E⁺/D)² + (E⁻/D)²)` and its gradient through
//!   [`Mlp::backward`](crate::nn::Mlp::backward);
//! - [`train`]: the `Config`/`Layout`/`Views`/`State`/`Info`/`init`/`step` trainer, which
//!   composes a VGS trainer: each [`step`] runs one VGS iteration against the current
//!   energy, draws `B` negatives from it and takes one CD step on `B` data rows.

pub mod cd;
pub mod data;
pub mod energy;
pub mod train;

pub use cd::{Batch, CdWork, Terms, cd_loss};
pub use data::Toy;
pub use energy::EnergyFn;
pub use train::{Config, Info, Layout, State, Views, energy_fn, init, step};
