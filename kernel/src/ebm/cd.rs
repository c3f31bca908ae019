//! Contrastive-divergence training of an MLP energy (report B1.4, `train_ebm.py`).
//!
//! With positives `x⁺` (data) and negatives `x⁻` (sampler output), `n` rows each, data
//! dimension `D`, the loss is
//!
//! ```text
//! L(θ) = mean(E⁺)/D − mean(E⁻)/D + γ·(mean((E⁺/D)²) + mean((E⁻/D)²)),   E^± = E_θ(x^±)
//! ```
//!
//! (`γ = 1` in the paper; the squared terms keep the energies bounded). Its gradient
//! `∂L/∂E⁺ᵢ = (1/D + 2γE⁺ᵢ/D²)/n`, `∂L/∂E⁻ᵢ = (−1/D + 2γE⁻ᵢ/D²)/n` goes through
//! [`Mlp::backward`] into `∇θ`; the negatives are treated as constants (no gradient through
//! the sampler), as in CD. One Adam step per iteration.

use super::energy::EnergyFn;
use crate::error::{Error, check_len, check_min_len};
use crate::nn::{Activation, LastLayerInit, Mlp};
use crate::optim::adam::{self, AdamConfig, AdamState};
use crate::optim::clip::clip_global_norm;
use crate::rng::Rng;

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
    /// Global-norm clip of `∇θL` (`+∞` = off). Default `10`.
    pub max_grad_norm: f32,
    /// Rows per batch of positives and of negatives. Default `256`.
    pub batch: usize,
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

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the bad field.
    pub fn validate(&self, dim: usize) -> Result<(), Error> {
        self.net(dim)?;
        if self.batch == 0 {
            return Err(Error::InvalidConfig("ebm batch must be >= 1"));
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
        Ok(())
    }
}

/// Arena size of an [`Ebm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Data dimension `D`.
    pub dim: usize,
    /// Energy parameters.
    pub n_params: usize,
    /// Length of the `f32` arena: parameters, gradient, two Adam moments, cache, scratch,
    /// energies and their gradients.
    pub f32_len: usize,
}

impl Layout {
    /// Sizes for `cfg` on `dim`-dimensional data.
    ///
    /// # Errors
    /// As [`Config::validate`]; [`Error::CapacityExceeded`] on overflow.
    pub fn new(cfg: &Config, dim: usize) -> Result<Self, Error> {
        cfg.validate(dim)?;
        let net = cfg.net(dim)?;
        let np = net.param_count();
        let b = cfg.batch;
        let f32_len = np
            .checked_mul(4)
            .and_then(|v| v.checked_add(net.cache_len(b)))
            .and_then(|v| v.checked_add(net.scratch_len(b)))
            .and_then(|v| v.checked_add(2 * b))
            .ok_or(Error::CapacityExceeded {
                what: "ebm arena",
                capacity: usize::MAX,
            })?;
        Ok(Layout {
            dim,
            n_params: np,
            f32_len,
        })
    }
}

/// Loss terms of one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Info {
    /// The iteration just done (0-based); `0` from [`cd_loss`].
    pub iteration: u32,
    /// `L(θ)` before the step.
    pub loss: f64,
    /// `mean(E⁺)`.
    pub e_pos: f64,
    /// `mean(E⁻)`.
    pub e_neg: f64,
    /// Pre-clip norm of `∇θL` (NaN from [`cd_loss`]).
    pub grad_norm: f32,
}

/// Workspace of [`cd_loss`].
#[derive(Debug)]
pub struct CdWork<'w> {
    /// At least `net.cache_len(n)`.
    pub cache: &'w mut [f32],
    /// At least `net.scratch_len(n)`.
    pub scratch: &'w mut [f32],
    /// `n` energies.
    pub e: &'w mut [f32],
    /// `n` energy gradients.
    pub de: &'w mut [f32],
}

/// The loss of the [module docs](self) on `n = pos.len()/D` positive and negative rows;
/// **accumulates** `∇θL` into `grads`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `pos` and `neg` differ in length, are not `n·D`, or a
/// buffer is short; [`Error::Degenerate`] for `n = 0`.
pub fn cd_loss(
    net: &Mlp,
    params: &[f32],
    pos: &[f32],
    neg: &[f32],
    gamma: f32,
    grads: &mut [f32],
    work: &mut CdWork<'_>,
) -> Result<Info, Error> {
    let d = net.input_dim();
    check_len("ebm negatives", pos.len(), neg.len())?;
    if !pos.len().is_multiple_of(d) {
        return Err(Error::ShapeMismatch {
            what: "ebm positives",
            expected: (pos.len() / d + 1) * d,
            got: pos.len(),
        });
    }
    let n = pos.len() / d;
    if n == 0 {
        return Err(Error::Degenerate("ebm loss needs at least one row"));
    }
    check_min_len("ebm energies", n, work.e.len().min(work.de.len()))?;
    let (df, nf, g) = (d as f64, n as f64, gamma as f64);
    let mut loss = 0.0f64;
    let mut means = [0.0f64; 2];
    for (k, (x, sign)) in [(pos, 1.0f64), (neg, -1.0f64)].into_iter().enumerate() {
        let e = &mut work.e[..n];
        net.forward(params, x, n, work.cache, e)?;
        let de = &mut work.de[..n];
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        for (dv, &ev) in de.iter_mut().zip(e.iter()) {
            let ev = ev as f64;
            s += ev;
            s2 += (ev / df) * (ev / df);
            *dv = ((sign / df + 2.0 * g * ev / (df * df)) / nf) as f32;
        }
        means[k] = s / nf;
        loss += sign * s / (nf * df) + g * s2 / nf;
        net.backward(params, work.cache, n, de, grads, None, work.scratch)?;
    }
    Ok(Info {
        iteration: 0,
        loss,
        e_pos: means[0],
        e_neg: means[1],
        grad_norm: f32::NAN,
    })
}

/// Training state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct State {
    /// Iterations done.
    pub iteration: u32,
    /// Adam state.
    pub adam: AdamState,
}

/// An MLP energy under CD training, over a caller-owned arena.
#[derive(Debug)]
pub struct Ebm<'a> {
    cfg: Config,
    net: Mlp,
    params: &'a mut [f32],
    grads: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    work: CdWork<'a>,
    state: State,
}

impl<'a> Ebm<'a> {
    /// Carves the arena (length [`Layout::f32_len`]) and initialises the energy MLP
    /// (PyTorch default; last layer zero, so `E ≡ 0` at the start).
    ///
    /// # Errors
    /// Configuration errors; [`Error::ShapeMismatch`] for a wrong arena length;
    /// [`Error::CapacityExceeded`] if a width exceeds [`super::energy::MAX_WIDTH`].
    pub fn init<R: Rng + ?Sized>(
        cfg: &Config,
        dim: usize,
        arena: &'a mut [f32],
        rng: &mut R,
    ) -> Result<Self, Error> {
        let layout = Layout::new(cfg, dim)?;
        check_len("ebm arena", layout.f32_len, arena.len())?;
        let net = cfg.net(dim)?;
        let np = layout.n_params;
        let b = cfg.batch;
        let (params, r) = arena.split_at_mut(np);
        let (grads, r) = r.split_at_mut(np);
        let (m, r) = r.split_at_mut(np);
        let (v, r) = r.split_at_mut(np);
        let (cache, r) = r.split_at_mut(net.cache_len(b));
        let (scratch, r) = r.split_at_mut(net.scratch_len(b));
        let (e, de) = r.split_at_mut(b);
        net.init(params, LastLayerInit::Zero, rng)?;
        EnergyFn::new(net, params)?;
        m.fill(0.0);
        v.fill(0.0);
        Ok(Ebm {
            cfg: *cfg,
            net,
            params,
            grads,
            m,
            v,
            work: CdWork {
                cache,
                scratch,
                e,
                de,
            },
            state: State::default(),
        })
    }

    /// The energy MLP's shape.
    pub fn net(&self) -> &Mlp {
        &self.net
    }
    /// The parameters `θ`.
    pub fn params(&self) -> &[f32] {
        self.params
    }
    /// The state.
    pub fn state(&self) -> State {
        self.state
    }
    /// The current energy as a log density (`log p̃ = −E_θ`).
    pub fn energy(&self) -> EnergyFn<'_> {
        // shape, widths and length validated by `EnergyFn::new` in `init`
        EnergyFn::new_unchecked(self.net, self.params)
    }

    /// One CD iteration: the loss and its gradient on `B` positives and `B` negatives
    /// (`B × D` each), global-norm clipping, one Adam step.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] unless both are `B·D` long.
    pub fn step(&mut self, pos: &[f32], neg: &[f32]) -> Result<Info, Error> {
        let bd = self.cfg.batch * self.net.input_dim();
        check_len("ebm positives", bd, pos.len())?;
        check_len("ebm negatives", bd, neg.len())?;
        self.grads.fill(0.0);
        let mut info = cd_loss(
            &self.net,
            self.params,
            pos,
            neg,
            self.cfg.gamma,
            self.grads,
            &mut self.work,
        )?;
        info.grad_norm = clip_global_norm(self.grads, self.cfg.max_grad_norm);
        if info.grad_norm.is_finite() {
            let acfg = AdamConfig {
                lr: self.cfg.lr,
                ..AdamConfig::default()
            };
            adam::step(
                &acfg,
                &mut self.state.adam,
                self.params,
                self.grads,
                self.m,
                self.v,
            )?;
        }
        info.iteration = self.state.iteration;
        self.state.iteration = self.state.iteration.saturating_add(1);
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::ebm::Toy;
    use crate::rng::{fill_standard_normal, seeded};
    use std::vec;

    fn work(net: &Mlp, n: usize) -> (vec::Vec<f32>, vec::Vec<f32>, vec::Vec<f32>, vec::Vec<f32>) {
        (
            vec![0.0; net.cache_len(n)],
            vec![0.0; net.scratch_len(n)],
            vec![0.0; n],
            vec![0.0; n],
        )
    }

    /// Gradcheck of the energy loss against central differences in `θ` (f64 sums).
    #[test]
    fn cd_loss_gradcheck() {
        let cfg = Config {
            hidden: 8,
            depth: 2,
            ..Config::default()
        };
        let net = cfg.net(2).unwrap();
        let mut rng = seeded(11);
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut rng).unwrap();
        let n = 6;
        let mut pos = vec![0.0f32; 2 * n];
        let mut neg = vec![0.0f32; 2 * n];
        Toy::Moons.fill(&mut rng, &mut pos).unwrap();
        fill_standard_normal(&mut rng, &mut neg);
        let (mut c, mut s, mut e, mut de) = work(&net, n);
        let mut w = CdWork {
            cache: &mut c,
            scratch: &mut s,
            e: &mut e,
            de: &mut de,
        };
        let mut g = vec![0.0f32; p.len()];
        let gamma = 0.7;
        let base = cd_loss(&net, &p, &pos, &neg, gamma, &mut g, &mut w).unwrap();
        // the loss value from its definition
        let mut sink = vec![0.0f32; p.len()];
        let ef = EnergyFn::new(net, &p).unwrap();
        let ep: vec::Vec<f64> = pos.chunks(2).map(|x| ef.energy(x, None) as f64).collect();
        let en: vec::Vec<f64> = neg.chunks(2).map(|x| ef.energy(x, None) as f64).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let sq = |v: &[f64]| v.iter().map(|e| (e / 2.0) * (e / 2.0)).sum::<f64>() / v.len() as f64;
        let want = mean(&ep) / 2.0 - mean(&en) / 2.0 + gamma as f64 * (sq(&ep) + sq(&en));
        assert!(
            (base.loss - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{} {want}",
            base.loss
        );
        let h = 1e-2f32;
        let mut worst = 0.0f64;
        for i in 0..p.len() {
            let mut pp = p.clone();
            pp[i] += h;
            let lp = cd_loss(&net, &pp, &pos, &neg, gamma, &mut sink, &mut w)
                .unwrap()
                .loss;
            pp[i] = p[i] - h;
            let lm = cd_loss(&net, &pp, &pos, &neg, gamma, &mut sink, &mut w)
                .unwrap()
                .loss;
            let fd = (lp - lm) / (2.0 * h as f64);
            let err = (fd - g[i] as f64).abs() / (1e-2 + fd.abs());
            worst = worst.max(err);
        }
        assert!(worst < 2e-2, "worst relative error {worst}");
        // the gradient is accumulated
        let g0 = g.clone();
        cd_loss(&net, &p, &pos, &neg, gamma, &mut g, &mut w).unwrap();
        for (a, b) in g.iter().zip(&g0) {
            assert!((a - 2.0 * b).abs() <= 1e-6 * (1.0 + b.abs()));
        }
    }

    #[test]
    fn shapes_and_configs_are_checked() {
        let cfg = Config::default();
        assert!(Config { depth: 0, ..cfg }.validate(2).is_err());
        assert!(Config { batch: 0, ..cfg }.validate(2).is_err());
        assert!(Config { gamma: -1.0, ..cfg }.validate(2).is_err());
        assert!(
            Config {
                lr: f32::NAN,
                ..cfg
            }
            .validate(2)
            .is_err()
        );
        let small = Config {
            hidden: 4,
            batch: 3,
            ..cfg
        };
        let l = Layout::new(&small, 2).unwrap();
        let mut rng = seeded(1);
        let mut a = vec![0.0f32; l.f32_len - 1];
        assert!(Ebm::init(&small, 2, &mut a, &mut rng).is_err());
        let mut a = vec![0.0f32; l.f32_len];
        let mut ebm = Ebm::init(&small, 2, &mut a, &mut rng).unwrap();
        assert_eq!(ebm.energy().energy(&[0.3, 0.1], None), 0.0);
        assert!(ebm.step(&[0.0; 6], &[0.0; 4]).is_err());
        // with E ≡ 0 at the start the loss is 0
        let info = ebm.step(&[0.5; 6], &[0.1; 6]).unwrap();
        assert_eq!(info.loss, 0.0);
        assert_eq!(ebm.state().iteration, 1);
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
            ..Config::default()
        };
        let l = Layout::new(&cfg, 2).unwrap();
        let mut a = vec![0.0f32; l.f32_len];
        let mut rng = seeded(5);
        let mut ebm = Ebm::init(&cfg, 2, &mut a, &mut rng).unwrap();
        let mut pos = vec![0.0f32; 128];
        let mut neg = vec![0.0f32; 128];
        let mut last = None;
        for _ in 0..200 {
            fill_standard_normal(&mut rng, &mut pos);
            pos.iter_mut().for_each(|v| *v *= 0.3);
            fill_standard_normal(&mut rng, &mut neg);
            neg.iter_mut().for_each(|v| *v *= 3.0);
            last = Some(ebm.step(&pos, &neg).unwrap());
        }
        let info = last.unwrap();
        assert!(info.e_pos + 0.5 < info.e_neg, "{info:?}");
    }
}
