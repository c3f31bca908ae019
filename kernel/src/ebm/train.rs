//! The EBM trainer (report B1.4, `train_ebm.py`): an MLP energy trained by contrastive
//! divergence ([`super::cd`]) with a Value Gradient Sampler trained against the current
//! energy as the negative sampler. It composes one VGS trainer: its [`vgs::Views`] are
//! carved from the EBM's arenas after the energy's buffers, and its [`vgs::State`] lives in
//! the EBM's [`State`].
//!
//! One [`step`] at iteration `k`, all draws from one `rng`, in order:
//! 1. one VGS iteration ([`vgs::step`], `n_update` TD epochs) against `log p̃ = −E_θ`;
//! 2. `B` negatives from the VGS sampler ([`vgs::sample`], `ν = 1`, with final noise);
//! 3. `B` positives drawn uniformly with replacement from the data rows;
//! 4. the CD loss and its gradient, then one optimiser step ([`Optimiser::step`]: the energy
//!    one group, clipped at `max_grad_norm`; a non-finite gradient skips the step).

use super::cd::{Batch, CdWork, cd_loss};
use super::energy::EnergyFn;
use crate::arena::{Carve, carved_by, same_layout};
use crate::error::{Error, check_len};
use crate::nn::{Activation, LastLayerInit, Mlp};
use crate::optim::{Group, Model, OptimState, Optimiser};
use crate::rng::{Rng, uniform_f64};
use crate::samplers::vgs::{self, Draw};

/// EBM settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Hidden width of the energy MLP. Default `128` (paper's MVTec model: 1024).
    pub hidden: usize,
    /// Hidden layers (1 … 6). Default `3` (paper's encoder: 3).
    pub depth: usize,
    /// Hidden activation (smooth, since VGS uses `∇ₓE`). Default SiLU.
    pub activation: Activation,
    /// Weight `γ` of the squared-energy regulariser. Default `1` (paper: 1).
    pub gamma: f32,
    /// Adam learning rate. Default `1e-3` (paper: 1e-4 on a pretrained model).
    pub lr: f32,
    /// Global-norm clip of `∇θL` (`+∞` = off). Default `10` (not in the paper; a guard).
    pub max_grad_norm: f32,
    /// Rows per batch of positives and of negatives. Default `256` (report B1.4).
    pub batch: usize,
    /// The negative sampler. Default the VGS defaults with `B = 256` and 3 TD epochs per
    /// iteration (report B1.4: 3).
    pub vgs: vgs::Config,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hidden: 128,
            depth: 3,
            activation: Activation::Silu,
            gamma: 1.0,
            lr: 1e-3,
            max_grad_norm: 10.0,
            batch: 256,
            vgs: vgs::Config {
                batch: 256,
                n_update: 3,
                ..vgs::Config::default()
            },
        }
    }
}

impl Config {
    /// The energy MLP `[dim, hidden × depth, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `depth` outside `1 ..= 6` or a zero width.
    pub fn net(&self, dim: usize) -> Result<Mlp, Error> {
        if self.depth == 0 || self.depth > 6 {
            return Err(Error::InvalidConfig("ebm depth must be in 1..=6"));
        }
        let mut w = [self.hidden; 8];
        w[0] = dim;
        w[self.depth + 1] = 1;
        Mlp::new(&w[..self.depth + 2], self.activation)
    }

    /// Checks every field (the VGS settings with [`vgs::Config::validate`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.depth == 0 || self.depth > 6 {
            return Err(Error::InvalidConfig("ebm depth must be in 1..=6"));
        }
        if self.batch == 0 || self.hidden == 0 {
            return Err(Error::InvalidConfig("ebm batch and hidden must be >= 1"));
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(Error::InvalidConfig("ebm gamma must be finite and >= 0"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::InvalidConfig("ebm lr must be finite and > 0"));
        }
        if !(self.max_grad_norm > 0.0) {
            return Err(Error::InvalidConfig("ebm max_grad_norm must be > 0"));
        }
        self.vgs.validate()
    }
}

/// Arena sizes of an EBM trainer (its VGS trainer's included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// Data dimension `D`.
    pub dim: usize,
    /// Rows `B` per batch of positives and of negatives.
    pub batch: usize,
    /// The energy MLP's shape.
    pub net: Mlp,
    /// Energy parameters.
    pub n_params: usize,
    /// The VGS trainer's layout (the tail of both arenas).
    pub vgs: vgs::Layout,
    /// Length of the `f32` arena: the energy model (parameters, gradient, two Adam
    /// moments), cache, scratch, energies and their gradients, positives, negatives and
    /// their log-weights, then the VGS arena.
    pub f32_len: usize,
    /// Length of the `u32` arena (the VGS trainer's).
    pub u32_len: usize,
}

impl Layout {
    /// Sizes for `cfg` on `dim`-dimensional data.
    ///
    /// # Errors
    /// As [`Config::validate`] and [`vgs::Layout::new`]; [`Error::CapacityExceeded`] for a
    /// width above [`super::energy::MAX_WIDTH`] or on overflow.
    pub fn new(cfg: &Config, dim: usize) -> Result<Self, Error> {
        cfg.validate()?;
        let net = cfg.net(dim)?;
        EnergyFn::check_net(&net)?;
        let vgs = vgs::Layout::new(&cfg.vgs, dim)?;
        let np = net.param_count();
        let b = cfg.batch;
        let over = Error::CapacityExceeded {
            what: "ebm arena",
            capacity: usize::MAX,
        };
        let bd = b.checked_mul(dim).ok_or(over)?;
        let parts = [
            np.checked_mul(4).ok_or(over)?,
            net.cache_len(b),
            net.scratch_len(b),
            b.checked_mul(3).ok_or(over)?,
            bd.checked_mul(2).ok_or(over)?,
            vgs.f32_len,
        ];
        let mut f32_len = 0usize;
        for p in parts {
            f32_len = f32_len.checked_add(p).ok_or(over)?;
        }
        Ok(Layout {
            dim,
            batch: b,
            net,
            n_params: np,
            vgs,
            f32_len,
            u32_len: vgs.u32_len,
        })
    }

    /// Checks that `cfg` is the configuration this layout was made from.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if [`Layout::new`]`(cfg, dim)` differs from `self`.
    pub fn check(&self, cfg: &Config) -> Result<(), Error> {
        same_layout(&Layout::new(cfg, self.dim)?, self)
    }
}

/// The named buffers of an EBM trainer, carved from the caller's arenas on each call.
#[derive(Debug)]
pub struct Views<'a> {
    /// The layout the arenas were carved with.
    pub layout: Layout,
    /// The energy `E_θ`: parameters, gradients, Adam moments.
    pub model: Model<'a>,
    /// The loss's workspace.
    pub work: CdWork<'a>,
    /// The last positives, `B × D`.
    pub pos: &'a mut [f32],
    /// The last negatives, `B × D`.
    pub neg: &'a mut [f32],
    /// The negatives' path log-weights, `B`.
    pub neg_log_w: &'a mut [f32],
    /// The negative sampler's views.
    pub vgs: vgs::Views<'a>,
}

impl Views<'_> {
    /// The buffers that carry over from one step to the next: the energy's parameters and
    /// Adam moments ([`Model::carried`]), then the negative sampler's
    /// ([`vgs::Views::carried`]); the positives, negatives and loss workspace are rewritten
    /// by every step.
    pub fn carried(&mut self, f: &mut dyn FnMut(crate::arena::Carried<'_>)) {
        self.model.carried(f);
        self.vgs.carried(f);
    }
}

impl<'a> Views<'a> {
    /// Carves arenas of exactly [`Layout::f32_len`] and [`Layout::u32_len`] elements.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for an arena of another length.
    pub fn new(
        layout: &Layout,
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        let l = *layout;
        check_len("ebm f32 arena", l.f32_len, f32_arena.len())?;
        let (b, bd) = (l.batch, l.batch * l.dim);
        let mut c = Carve::new("ebm arena", f32_arena);
        let model = Model::carve(l.n_params, &mut c)?;
        let cache = c.take(l.net.cache_len(b))?;
        let scratch = c.take(l.net.scratch_len(b))?;
        let (e, de) = (c.take(b)?, c.take(b)?);
        let (pos, neg, neg_log_w) = (c.take(bd)?, c.take(bd)?, c.take(b)?);
        let vgs = vgs::Views::new(&l.vgs, c.take(l.vgs.f32_len)?, u32_arena)?;
        Ok(Views {
            layout: l,
            model,
            work: CdWork {
                cache,
                scratch,
                e,
                de,
            },
            pos,
            neg,
            neg_log_w,
            vgs,
        })
    }
}

/// The current energy as a log density (`log p̃ = −E_θ`) over `params` (the energy
/// model's parameters, [`Views::model`]).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `params` is not [`Layout::n_params`] long.
pub fn energy_fn<'p>(layout: &Layout, params: &'p [f32]) -> Result<EnergyFn<'p>, Error> {
    EnergyFn::new(layout.net, params)
}

/// Training state: the energy's and the negative sampler's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// Iterations done.
    pub iteration: u32,
    /// The energy's optimiser state.
    pub optim: OptimState,
    /// The VGS trainer's state.
    pub vgs: vgs::State,
}

/// Diagnostics of one iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Info {
    /// The iteration just done (0-based).
    pub iteration: u32,
    /// `L(θ)` before the step.
    pub loss: f64,
    /// `mean(E⁺)`.
    pub e_pos: f64,
    /// `mean(E⁻)`.
    pub e_neg: f64,
    /// Pre-clip norm of `∇θL`.
    pub grad_norm: f32,
    /// Whether the energy step was skipped (a non-finite gradient).
    pub skipped: bool,
    /// The VGS iteration's diagnostics.
    pub vgs: vgs::Info,
}

/// Initialises the energy MLP (PyTorch default; last layer zero, so `E ≡ 0` at the start)
/// and its moments, then the VGS trainer ([`vgs::init`]).
///
/// # Errors
/// [`Error::InvalidConfig`] if `layout` is not `cfg`'s or `views` were carved with another
/// layout.
pub fn init<R: Rng + ?Sized>(
    cfg: &Config,
    layout: &Layout,
    views: &mut Views<'_>,
    rng: &mut R,
) -> Result<State, Error> {
    layout.check(cfg)?;
    carved_by(&views.layout, layout)?;
    layout
        .net
        .init(views.model.params, LastLayerInit::Zero, rng)?;
    views.model.zero_grads();
    views.model.reset_moments();
    let vgs = vgs::init(&cfg.vgs, &layout.vgs, &mut views.vgs, rng)?;
    Ok(State {
        vgs,
        ..State::default()
    })
}

/// One EBM iteration on the data rows `data` (`N × D`, `N ≥ 1`; see the
/// [module docs](self)).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `data` is empty or not a multiple of `D`;
/// [`Error::InvalidConfig`] if `cfg` is not the layout's; the VGS trainer's errors.
pub fn step<R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    data: &[f32],
    rng: &mut R,
) -> Result<Info, Error> {
    views.layout.check(cfg)?;
    let d = views.layout.dim;
    let n_data = data.len() / d;
    if n_data == 0 || !data.len().is_multiple_of(d) {
        return Err(Error::ShapeMismatch {
            what: "ebm data rows",
            expected: (n_data.max(1)) * d,
            got: data.len(),
        });
    }
    let vi = {
        let ef = EnergyFn::new(views.layout.net, views.model.params)?;
        let vi = vgs::step(&cfg.vgs, &mut state.vgs, &mut views.vgs, &ef, rng)?;
        let draw = Draw {
            nu: 1.0,
            final_noise: true,
            out: views.neg,
            log_w: views.neg_log_w,
        };
        vgs::sample(&cfg.vgs, &mut views.vgs, &ef, draw, rng)?;
        vi
    };
    for row in views.pos.chunks_exact_mut(d) {
        let i = ((uniform_f64(rng) * n_data as f64) as usize).min(n_data - 1);
        row.copy_from_slice(&data[d * i..d * i + d]);
    }
    cd_update(cfg, state, views, vi)
}

/// The CD loss on `views.pos` and `views.neg` and one optimiser step of the energy.
fn cd_update(
    cfg: &Config,
    state: &mut State,
    views: &mut Views<'_>,
    vi: vgs::Info,
) -> Result<Info, Error> {
    let Views {
        layout,
        model,
        work,
        pos,
        neg,
        ..
    } = views;
    model.zero_grads();
    let batch = Batch { pos, neg };
    let terms = cd_loss(
        &layout.net,
        model.params,
        batch,
        cfg.gamma,
        model.grads,
        work,
    )?;
    let groups = [Group::new(layout.n_params, cfg.lr, Some(cfg.max_grad_norm))];
    let oi = Optimiser::default().step(&groups, model, &mut state.optim, state.iteration)?;
    let info = Info {
        iteration: state.iteration,
        loss: terms.loss,
        e_pos: terms.e_pos,
        e_neg: terms.e_neg,
        grad_norm: oi.norms[0],
        skipped: oi.skipped,
        vgs: vi,
    };
    state.iteration = state.iteration.saturating_add(1);
    Ok(info)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{fill_standard_normal, seeded};
    use std::vec;

    fn small() -> Config {
        Config {
            hidden: 4,
            batch: 3,
            vgs: vgs::Config {
                batch: 3,
                hidden: 4,
                steps: 2,
                ..vgs::Config::default()
            },
            ..Config::default()
        }
    }

    #[test]
    fn shapes_and_configs_are_checked() {
        let cfg = Config::default();
        assert!(Config { depth: 0, ..cfg }.validate().is_err());
        assert!(Config { batch: 0, ..cfg }.validate().is_err());
        assert!(Config { gamma: -1.0, ..cfg }.validate().is_err());
        assert!(
            Config {
                lr: f32::NAN,
                ..cfg
            }
            .validate()
            .is_err()
        );
        assert!(matches!(
            Layout::new(&Config { hidden: 300, ..cfg }, 2),
            Err(Error::CapacityExceeded { .. })
        ));
        let small = small();
        let l = Layout::new(&small, 2).unwrap();
        let mut rng = seeded(1);
        let (mut a, mut u) = (vec![0.0f32; l.f32_len - 1], vec![0u32; l.u32_len]);
        assert!(Views::new(&l, &mut a, &mut u).is_err());
        let mut a = vec![0.0f32; l.f32_len];
        let mut v = Views::new(&l, &mut a, &mut u).unwrap();
        let mut st = init(&small, &l, &mut v, &mut rng).unwrap();
        let ef = energy_fn(&l, v.model.params).unwrap();
        assert_eq!(ef.energy(&[0.3, 0.1], None), 0.0);
        assert!(step(&small, &mut st, &mut v, &[0.5; 3], &mut rng).is_err());
        assert!(step(&small, &mut st, &mut v, &[], &mut rng).is_err());
        let other = Config {
            gamma: 0.5,
            ..small
        };
        let other_layout = Config { hidden: 5, ..small };
        assert!(step(&other_layout, &mut st, &mut v, &[0.5; 6], &mut rng).is_err());
        // with E ≡ 0 at the start the loss is 0
        let info = step(&other, &mut st, &mut v, &[0.5; 6], &mut rng).unwrap();
        assert_eq!(info.loss, 0.0);
        assert_eq!(st.iteration, 1);
        assert_eq!(st.vgs.iteration, 1);
    }

    /// Positives from one Gaussian, negatives from a wider one: after CD steps the data
    /// has lower energy than the negatives.
    #[test]
    fn cd_lowers_the_data_energy() {
        let cfg = Config {
            hidden: 16,
            depth: 2,
            batch: 64,
            lr: 1e-2,
            vgs: vgs::Config {
                batch: 4,
                hidden: 4,
                steps: 2,
                ..vgs::Config::default()
            },
            ..Config::default()
        };
        let l = Layout::new(&cfg, 2).unwrap();
        let (mut a, mut u) = (vec![0.0f32; l.f32_len], vec![0u32; l.u32_len]);
        let mut rng = seeded(5);
        let mut v = Views::new(&l, &mut a, &mut u).unwrap();
        let mut st = init(&cfg, &l, &mut v, &mut rng).unwrap();
        let mut last = None;
        for _ in 0..200 {
            fill_standard_normal(&mut rng, v.pos);
            v.pos.iter_mut().for_each(|x| *x *= 0.3);
            fill_standard_normal(&mut rng, v.neg);
            v.neg.iter_mut().for_each(|x| *x *= 3.0);
            let vi = vgs::Info {
                iteration: 0,
                td_loss: 0.0,
                grad_norm: 0.0,
                init_sigma: 1.0,
                energy: 0.0,
                non_finite: 0,
            };
            last = Some(cd_update(&cfg, &mut st, &mut v, vi).unwrap());
        }
        let info = last.unwrap();
        assert!(info.e_pos + 0.5 < info.e_neg, "{info:?}");
    }
}
