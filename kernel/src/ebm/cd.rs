//! The contrastive-divergence loss of an MLP energy (report B1.4, `train_ebm.py`).
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
//! the sampler), as in CD.

use crate::error::{Error, check_len, check_min_len};
use crate::nn::Mlp;
use crate::nn::{Grads, Tape};

/// Loss terms of one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms {
    /// `L(θ)`.
    pub loss: f64,
    /// `mean(E⁺)`.
    pub e_pos: f64,
    /// `mean(E⁻)`.
    pub e_neg: f64,
}

/// One batch of positives and negatives, `n × D` each.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// Positives `x⁺` (data).
    pub pos: &'a [f32],
    /// Negatives `x⁻` (sampler output).
    pub neg: &'a [f32],
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

/// The loss of the [module docs](self) on `n = pos.len()/D` positive and negative rows of
/// `batch`; **accumulates** `∇θL` into `grads`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `pos` and `neg` differ in length, are not `n·D`, or a
/// buffer is short; [`Error::Degenerate`] for `n = 0`.
pub fn cd_loss(
    net: &Mlp,
    params: &[f32],
    batch: Batch<'_>,
    gamma: f32,
    grads: &mut [f32],
    work: &mut CdWork<'_>,
) -> Result<Terms, Error> {
    let Batch { pos, neg } = batch;
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
        net.backward(
            params,
            Tape {
                cache: work.cache,
                batch: n,
            },
            de,
            Grads {
                params: grads,
                input: None,
            },
            work.scratch,
        )?;
    }
    Ok(Terms {
        loss,
        e_pos: means[0],
        e_neg: means[1],
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::ebm::{Config, EnergyFn, Toy};
    use crate::nn::LastLayerInit;
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
        let base = cd_loss(
            &net,
            &p,
            Batch {
                pos: &pos,
                neg: &neg,
            },
            gamma,
            &mut g,
            &mut w,
        )
        .unwrap();
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
            let lp = cd_loss(
                &net,
                &pp,
                Batch {
                    pos: &pos,
                    neg: &neg,
                },
                gamma,
                &mut sink,
                &mut w,
            )
            .unwrap()
            .loss;
            pp[i] = p[i] - h;
            let lm = cd_loss(
                &net,
                &pp,
                Batch {
                    pos: &pos,
                    neg: &neg,
                },
                gamma,
                &mut sink,
                &mut w,
            )
            .unwrap()
            .loss;
            let fd = (lp - lm) / (2.0 * h as f64);
            let err = (fd - g[i] as f64).abs() / (1e-2 + fd.abs());
            worst = worst.max(err);
        }
        assert!(worst < 2e-2, "worst relative error {worst}");
        // the gradient is accumulated
        let g0 = g.clone();
        cd_loss(
            &net,
            &p,
            Batch {
                pos: &pos,
                neg: &neg,
            },
            gamma,
            &mut g,
            &mut w,
        )
        .unwrap();
        for (a, b) in g.iter().zip(&g0) {
            assert!((a - 2.0 * b).abs() <= 1e-6 * (1.0 + b.abs()));
        }
    }
}
