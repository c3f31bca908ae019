//! Energy-based models trained by contrastive divergence with the Value Gradient Sampler as
//! the negative sampler (Yoon et al. 2025, `train_ebm.py`; report B1.4).
//!
//! - [`data`]: seeded 2-D synthetic data sets (two moons, 8 Gaussians, checkerboard,
//!   concentric rings);
//! - [`energy`]: an MLP energy `E_θ(x)` as a [`LogDensity`](crate::targets::LogDensity)
//!   (`log p̃ = −E`) so a VGS sampler can be trained against it;
//! - [`cd`]: the energy loss `E⁺/D − E⁻/D + γ((E⁺/D)² + (E⁻/D)²)`, its gradient through
//!   [`Mlp::backward`](crate::nn::Mlp::backward), and the `Config`/`State`/`Info`/`init`/`step`
//!   training kernel.
//!
//! One CD iteration (driven by the caller, who owns both samplers): `Vgs::step` against the
//! current energy (`n_update` TD epochs), `Vgs::sample` for `B` negatives, [`cd::Ebm::step`]
//! on a data batch and the negatives.

pub mod cd;
pub mod data;
pub mod energy;

pub use cd::{Config, Ebm, Info, Layout, State, cd_loss};
pub use data::Toy;
pub use energy::EnergyFn;
