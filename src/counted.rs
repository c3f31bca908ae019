//! Counting the target evaluations a method spends: [`Counted`] wraps a target and counts
//! its log-density and gradient calls, so that runs of different methods can be compared
//! at the same number of target evaluations (RSMC's ALDP table compares methods at equal
//! NFE). Training and SMC passes go through the wrapper; evaluations do not (they are the
//! measurement, not the method's cost).

use std::sync::atomic::{AtomicU64, Ordering};

use amortise_kernel::Error;
use amortise_kernel::rng::Rng;
use amortise_kernel::targets::LogDensity;
use serde::{Deserialize, Serialize};

/// Target evaluations spent so far: `density` calls of `log p̃(x)` alone and `gradient`
/// calls of `log p̃(x)` with `∇ log p̃(x)` (one energy evaluation each, the gradient's
/// costing about one more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evals {
    /// Log-density calls without a gradient.
    pub density: u64,
    /// Log-density calls with a gradient.
    pub gradient: u64,
}

impl Evals {
    /// All calls, with or without a gradient: the number of energy evaluations.
    pub fn total(&self) -> u64 {
        self.density + self.gradient
    }

    /// The JSON of `metrics.jsonl` and `summary.json`: both counts and their total.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "total": self.total(),
            "density": self.density,
            "gradient": self.gradient,
        })
    }
}

impl std::ops::Add for Evals {
    type Output = Evals;

    /// Both counts added, saturating.
    fn add(self, other: Evals) -> Evals {
        Evals {
            density: self.density.saturating_add(other.density),
            gradient: self.gradient.saturating_add(other.gradient),
        }
    }
}

/// `inner` with every log-density and gradient call counted (thread-safe: the chunked
/// runners call it from several threads; the count does not depend on the thread count).
pub struct Counted<'t, T: ?Sized> {
    inner: &'t T,
    density: AtomicU64,
    gradient: AtomicU64,
}

impl<'t, T: LogDensity + ?Sized> Counted<'t, T> {
    /// A counter at zero around `inner`.
    pub fn new(inner: &'t T) -> Self {
        Counted {
            inner,
            density: AtomicU64::new(0),
            gradient: AtomicU64::new(0),
        }
    }

    /// The calls counted so far.
    pub fn evals(&self) -> Evals {
        Evals {
            density: self.density.load(Ordering::Relaxed),
            gradient: self.gradient.load(Ordering::Relaxed),
        }
    }
}

impl<T: LogDensity + ?Sized> LogDensity for Counted<'_, T> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        self.density.fetch_add(1, Ordering::Relaxed);
        self.inner.log_density(x)
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        self.gradient.fetch_add(1, Ordering::Relaxed);
        self.inner.log_density_grad(x, grad)
    }

    fn log_z(&self) -> Option<f64> {
        self.inner.log_z()
    }

    fn has_sampler(&self) -> bool {
        self.inner.has_sampler()
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        self.inner.sample(rng, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amortise_kernel::targets::{Target, grad_batch, log_density_batch};

    #[test]
    fn counts_every_call_and_passes_values_through() {
        let t = Target::from_name("gmm40", Some(2)).unwrap();
        let c = Counted::new(&t);
        let xs = [0.5f32, -1.0, 3.0, 2.0, -4.0, 0.25];
        let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
        log_density_batch(&c, &xs, &mut a).unwrap();
        log_density_batch(&t, &xs, &mut b).unwrap();
        assert_eq!(a, b);
        let (mut g, mut h) = ([0.0f32; 6], [0.0f32; 6]);
        grad_batch(&c, &xs, &mut g, &mut a).unwrap();
        grad_batch(&c, &xs[..2], &mut h[..2], &mut b[..1]).unwrap();
        assert_eq!(
            c.evals(),
            Evals {
                density: 3,
                gradient: 4
            }
        );
        assert_eq!(c.evals().total(), 7);
        assert_eq!(c.log_z(), t.log_z());
        let sum = c.evals()
            + (Evals {
                density: 1,
                gradient: u64::MAX,
            });
        assert_eq!((sum.density, sum.gradient), (4, u64::MAX));
    }

    #[test]
    fn counts_calls_from_several_threads() {
        let t = Target::from_name("funnel", Some(10)).unwrap();
        let c = Counted::new(&t);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.log_density(&[0.1; 10]);
                    }
                });
            }
        });
        assert_eq!(c.evals().density, 2000);
    }
}
