//! A target raised to a power: `p̃(x)^β`, for training on a flattened target first
//! (reward annealing, [`crate::samplers::diffusion::train::Config::reward_anneal`]).

use super::LogDensity;
use crate::error::Error;
use crate::rng::Rng;

/// `β · log p̃(x)` and `β · ∇ log p̃(x)` of `inner`, for `β ∈ (0, 1]` (the caller's
/// responsibility; the trainer's configuration checks it).
///
/// At `β = 1` every value and gradient entry is the inner target's, bit for bit
/// (`1 · v = v` in IEEE arithmetic, `−∞` included), and `log Z` and the exact sampler pass
/// through; at any other `β` both are unknown (`None`, [`Error::Unsupported`]). A finite
/// gradient entry times `β ≤ 1` stays finite, so the [`LogDensity`] contracts hold.
#[derive(Clone, Copy, Debug)]
pub struct Tempered<'t, T: ?Sized> {
    inner: &'t T,
    beta: f32,
}

impl<'t, T: LogDensity + ?Sized> Tempered<'t, T> {
    /// `inner` raised to the power `beta`.
    pub fn new(inner: &'t T, beta: f32) -> Self {
        Tempered { inner, beta }
    }

    /// The power `β`.
    pub fn beta(&self) -> f32 {
        self.beta
    }
}

impl<T: LogDensity + ?Sized> LogDensity for Tempered<'_, T> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        self.beta * self.inner.log_density(x)
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        let v = self.inner.log_density_grad(x, grad);
        for g in grad.iter_mut() {
            *g *= self.beta;
        }
        self.beta * v
    }

    fn log_z(&self) -> Option<f64> {
        if self.beta == 1.0 {
            self.inner.log_z()
        } else {
            None
        }
    }

    fn has_sampler(&self) -> bool {
        self.beta == 1.0 && self.inner.has_sampler()
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        if self.beta == 1.0 {
            self.inner.sample(rng, out)
        } else {
            Err(Error::Unsupported("exact samples of a tempered target"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;
    use crate::targets::{Gaussian, Target};

    #[test]
    fn scales_the_log_density_and_its_gradient() {
        let t = Target::from_name("gmm40", Some(2)).unwrap();
        let half = Tempered::new(&t, 0.5);
        let x = [3.0f32, -7.5];
        let (mut g, mut h) = ([0.0f32; 2], [0.0f32; 2]);
        let v = t.log_density_grad(&x, &mut g);
        let w = half.log_density_grad(&x, &mut h);
        assert_eq!(w, 0.5 * v);
        assert_eq!(half.log_density(&x), 0.5 * t.log_density(&x));
        assert_eq!(h, [0.5 * g[0], 0.5 * g[1]]);
        // the gradient of β log p̃ by central differences
        let e = 1e-2f32;
        for k in 0..2 {
            let (mut a, mut b) = (x, x);
            a[k] += e;
            b[k] -= e;
            let fd = (half.log_density(&a) as f64 - half.log_density(&b) as f64) / (2.0 * e as f64);
            assert!(
                (fd - h[k] as f64).abs() < 1e-2 * (1.0 + fd.abs()),
                "{k}: {fd} {}",
                h[k]
            );
        }
        assert_eq!(half.log_z(), None);
        assert!(!half.has_sampler());
        let mut out = [0.0f32; 2];
        assert!(half.sample(&mut rng::seeded(1), &mut out).is_err());
    }

    #[test]
    fn at_beta_one_every_bit_is_the_targets() {
        let g = Gaussian::new(3, 0.5, 2.0).unwrap();
        let one = Tempered::new(&g, 1.0);
        for x in [[0.1f32, -2.0, 7.0], [1e30, 0.0, 0.0], [f32::NAN, 0.0, 1.0]] {
            let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
            let (u, v) = (
                g.log_density_grad(&x, &mut a),
                one.log_density_grad(&x, &mut b),
            );
            assert_eq!(u.to_bits(), v.to_bits());
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
        }
        assert_eq!(one.log_z(), g.log_z());
        let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
        g.sample(&mut rng::seeded(4), &mut a).unwrap();
        one.sample(&mut rng::seeded(4), &mut b).unwrap();
        assert_eq!(a, b);
    }
}
