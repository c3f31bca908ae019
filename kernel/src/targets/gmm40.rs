//! GMM40: 40 equal-weight unit-variance Gaussians with means in `[−40, 40]^d` (RSMC).

use super::{LogDensity, check_len, finite_grad, guarded, guarded_grad};
use crate::error::Error;
use crate::math::{self, LN_2PI, sq_dist};
use crate::rng::{self, Rng, fill_standard_normal, uniform_f64};

/// Number of mixture components.
const N_COMPONENTS: usize = 40;
/// Largest supported dimension (the means live in a fixed `[f32; 40 · 64]` array).
const MAX_DIM: usize = 64;
/// Half-width of the box the means are drawn from: `Uniform([−40, 40]^d)`.
const MEAN_SCALE: f64 = 40.0;

/// The 40 two-dimensional means used by RSMC's PyTorch code (`energies/data/gmm40-2d_locs.npy`
/// × 40) and by the PyTorch reference in `reference/pytorch-tb/`: `(rand(40, 2)·2 − 1)·40`
/// from `torch.Generator().manual_seed(0)`, stored as `f32` (these literals are the shortest
/// decimals that round-trip to exactly the `f32` values in `gmm40_means_seed0.csv`).
const MEANS_2D: [[f32; 2]; N_COMPONENTS] = [
    [-0.2994728, 21.457745],
    [-32.921806, -29.437561],
    [-15.406175, 10.7262945],
    [-0.7925272, 31.71558],
    [-3.5497618, 10.584502],
    [-12.088523, -7.8626156],
    [-38.21394, -26.491283],
    [-16.488924, 1.4817429],
    [15.813408, 24.000912],
    [-27.117643, -17.418514],
    [14.528685, 33.21552],
    [-8.232007, 29.93247],
    [-6.4473343, 4.232564],
    [36.219048, -37.106815],
    [-25.181519, -10.12661],
    [-15.591998, 34.56003],
    [-25.927185, -18.413315],
    [-27.945618, -37.46244],
    [-23.349619, 34.383923],
    [17.848736, 19.386902],
    [2.1036625, -20.50734],
    [6.7673874, -37.34779],
    [-28.902649, -20.6212],
    [25.237518, 23.45285],
    [-17.739801, -1.4432955],
    [25.582428, 39.765324],
    [15.875287, 5.403714],
    [26.819454, -23.552094],
    [7.453761, -31.01222],
    [-27.723446, -20.663342],
    [18.098923, 16.086416],
    [-23.6941, 12.084284],
    [21.958881, -5.0486946],
    [1.5272617, 9.268188],
    [24.815063, 38.407764],
    [-30.824944, -14.65879],
    [15.720396, 33.141975],
    [34.808292, 35.29427],
    [7.960582, -34.783306],
    [3.6797, -25.024214],
];

/// GMM40: an equal-weight mixture of 40 unit-variance Gaussians in `d` dimensions,
/// normalised (`log Z = 0`). Source: Choi et al. 2025 (RSMC), `nolerk/gfn-smc-jax`
/// `targets/gmm40.py`; `hyeok9855/gfn-smc-torch` `energies/gmm40.py`.
///
/// ```text
/// log p(x) = LSE_k [ −½ ‖x − m_k‖² ] − ln 40 − (d/2) ln 2π
/// ∇ log p(x) = Σ_k w_k (m_k − x),   w_k = softmax_k(−½ ‖x − m_k‖²)
/// ```
///
/// The log-sum-exp over components is taken in `f64` with the max trick.
///
/// **Means.** In `d = 2`, [`Gmm40::new`] uses [`Gmm40::MEANS_2D`], the exact means of the PyTorch
/// code (check values `log p(0, 0) = −35.2681`, `log p(10, −5) = −76.2748`). In any other
/// dimension (and in `d = 2` through [`Gmm40::with_seed`]) the means are drawn from
/// [`crate::rng::seeded`]`(seed)` (seed 0 for `new`) in component-major order:
/// for `k` in `0..40`, for `j` in `0..d`: `m_kj = (2u − 1)·40` with `u =`
/// [`crate::rng::uniform_f64`], rounded to `f32`. These differ from the paper's means, which
/// the JAX code draws from `PRNGKey(0)` (also in `d = 2`: the PyTorch set is another draw,
/// no mean in common): [`super::Gmm40Jax`] (registry `gmm40-jax`) has the JAX means for
/// `d = 2, 5, 50`.
///
/// **Sampler** (ancestral, exact): `k = ⌊40u⌋`, then `x = m_k + z`, `z ~ N(0, I)`.
///
/// The struct holds a `[f32; 2560]` array (10 KiB) and is deliberately not `Copy`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gmm40 {
    dim: usize,
    /// Row-major `[40, dim]` in the first `40·dim` entries.
    means: [f32; N_COMPONENTS * MAX_DIM],
    log_norm: f64,
}

impl Gmm40 {
    /// Number of mixture components (40).
    pub const N_COMPONENTS: usize = N_COMPONENTS;
    /// Largest supported dimension (64): the means live in a fixed `[f32; 40 · 64]` array.
    pub const MAX_DIM: usize = MAX_DIM;
    /// Half-width of the box the seeded means are drawn from: `Uniform([−40, 40]^d)`.
    pub const MEAN_SCALE: f64 = MEAN_SCALE;
    /// The exact 2-D means of the PyTorch reference (see the type documentation).
    pub const MEANS_2D: [[f32; 2]; N_COMPONENTS] = MEANS_2D;

    /// GMM40 in `dim` dimensions: [`Gmm40::MEANS_2D`] when `dim == 2`, otherwise seeded means
    /// (seed 0) as documented on the type.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `1 ≤ dim ≤ 64`.
    pub fn new(dim: usize) -> Result<Self, Error> {
        if dim == 2 {
            let mut t = Self::empty(2)?;
            for (row, m) in t.means.chunks_exact_mut(2).zip(MEANS_2D.iter()) {
                row.copy_from_slice(m);
            }
            Ok(t)
        } else {
            Self::with_seed(dim, 0)
        }
    }

    /// GMM40 in `dim` dimensions with means drawn from `crate::rng::seeded(seed)` as
    /// documented on the type (also in `d = 2`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] unless `1 ≤ dim ≤ 64`.
    pub fn with_seed(dim: usize, seed: u64) -> Result<Self, Error> {
        let mut t = Self::empty(dim)?;
        let mut g = rng::seeded(seed);
        for m in t.means.iter_mut().take(N_COMPONENTS * dim) {
            *m = ((2.0 * uniform_f64(&mut g) - 1.0) * MEAN_SCALE) as f32;
        }
        Ok(t)
    }

    fn empty(dim: usize) -> Result<Self, Error> {
        if dim == 0 || dim > MAX_DIM {
            return Err(Error::InvalidConfig("gmm40: dim must be in 1..=64"));
        }
        Ok(Self {
            dim,
            means: [0.0; N_COMPONENTS * MAX_DIM],
            log_norm: math::ln(N_COMPONENTS as f64) + 0.5 * dim as f64 * LN_2PI,
        })
    }

    /// The mean `m_k` (length `dim`), or `None` when `k ≥ 40`.
    pub fn mean(&self, k: usize) -> Option<&[f32]> {
        if k >= N_COMPONENTS {
            return None;
        }
        self.means.get(k * self.dim..(k + 1) * self.dim)
    }

    /// The component with the largest posterior responsibility for `x` (the nearest mean,
    /// ties to the lowest index); used for mode coverage. Compares the first
    /// `min(x.len(), dim)` coordinates.
    pub fn nearest_component(&self, x: &[f32]) -> usize {
        nearest_row(self.used(), self.dim, x)
    }

    /// The first `40·dim` entries of `means`: the row-major `[40, dim]` table.
    fn used(&self) -> &[f32] {
        &self.means[..N_COMPONENTS * self.dim]
    }
}

/// The 40 log-terms `−½ ‖x − m_k‖²` over the rows of `means` (row-major `[40, dim]`) and
/// their maximum.
#[inline]
fn terms(means: &[f32], dim: usize, x: &[f32], t: &mut [f64; N_COMPONENTS]) -> f64 {
    let mut mx = f64::NEG_INFINITY;
    for (tk, m) in t.iter_mut().zip(means.chunks_exact(dim)) {
        *tk = -0.5 * sq_dist(x, m);
        if *tk > mx {
            mx = *tk;
        }
    }
    mx
}

/// `log p(x)` of the equal-weight unit-variance mixture with the rows of `means`
/// (row-major `[40, dim]`) and normaliser `log_norm = ln 40 + (d/2) ln 2π`: the arithmetic
/// of [`Gmm40`], shared with [`super::Gmm40Jax`].
#[inline]
pub(crate) fn unit_mixture_lp(means: &[f32], dim: usize, log_norm: f64, x: &[f32]) -> f64 {
    let mut t = [0.0f64; N_COMPONENTS];
    let mx = terms(means, dim, x, &mut t);
    let s: f64 = t.iter().map(|&v| math::exp(v - mx)).sum();
    mx + math::ln(s) - log_norm
}

/// [`unit_mixture_lp`] and its gradient `Σ_k w_k m_k − x` (written to `grad`).
#[inline]
pub(crate) fn unit_mixture_lp_grad(
    means: &[f32],
    dim: usize,
    log_norm: f64,
    x: &[f32],
    grad: &mut [f32],
) -> f64 {
    let mut t = [0.0f64; N_COMPONENTS];
    let mx = terms(means, dim, x, &mut t);
    let mut s = 0.0f64;
    for v in t.iter_mut() {
        *v = math::exp(*v - mx);
        s += *v;
    }
    // ∇ = Σ_k w_k m_k − x, accumulated in f64 (f64 scratch of MAX_DIM on the stack)
    let mut acc = [0.0f64; MAX_DIM];
    for (&wk, m) in t.iter().zip(means.chunks_exact(dim)) {
        for (a, &mj) in acc.iter_mut().zip(m) {
            *a += wk * mj as f64;
        }
    }
    for ((g, &a), &xj) in grad.iter_mut().zip(acc.iter()).zip(x) {
        *g = finite_grad(a / s - xj as f64);
    }
    mx + math::ln(s) - log_norm
}

/// The row of `means` nearest to `x` (ties to the lowest index).
pub(crate) fn nearest_row(means: &[f32], dim: usize, x: &[f32]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (k, m) in means.chunks_exact(dim).enumerate() {
        let d2 = sq_dist(x, m);
        if d2 < best.1 {
            best = (k, d2);
        }
    }
    best.0
}

/// Ancestral sampling from the equal-weight unit-variance mixture with the rows of `means`:
/// `k = ⌊40u⌋`, then `x = m_k + z`, `z ~ N(0, I)`.
pub(crate) fn unit_mixture_sample<R: Rng + ?Sized>(
    means: &[f32],
    dim: usize,
    rng: &mut R,
    out: &mut [f32],
) -> Result<(), Error> {
    check_len("out", dim, out.len())?;
    let k = ((uniform_f64(rng) * N_COMPONENTS as f64) as usize).min(N_COMPONENTS - 1);
    fill_standard_normal(rng, out);
    if let Some(m) = means.get(k * dim..(k + 1) * dim) {
        for (o, &mj) in out.iter_mut().zip(m) {
            *o += mj;
        }
    }
    Ok(())
}

impl LogDensity for Gmm40 {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        guarded(x, self.dim, || {
            unit_mixture_lp(self.used(), self.dim, self.log_norm, x)
        })
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        guarded_grad(x, grad, self.dim, |grad| {
            unit_mixture_lp_grad(self.used(), self.dim, self.log_norm, x, grad)
        })
    }

    fn log_z(&self) -> Option<f64> {
        Some(0.0)
    }

    fn has_sampler(&self) -> bool {
        true
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        unit_mixture_sample(self.used(), self.dim, rng, out)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;
    use crate::targets::testutil::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn check_values_of_the_pytorch_reference() {
        let t = Gmm40::new(2).unwrap();
        let a = t.log_density(&[0.0, 0.0]) as f64;
        let b = t.log_density(&[10.0, -5.0]) as f64;
        assert!((a - -35.2681).abs() < 1e-4, "log p(0,0) = {a}");
        assert!((b - -76.2748).abs() < 1e-4, "log p(10,-5) = {b}");
        assert_eq!(t.mean(0), Some(&[-0.299_472_8f32, 21.457_745][..]));
        assert_eq!(t.mean(39), Some(&[3.6797f32, -25.024214][..]));
        assert_eq!(t.mean(40), None);
    }

    #[test]
    fn seeded_means_are_reproducible_and_in_the_box() {
        let a = Gmm40::new(5).unwrap();
        let b = Gmm40::with_seed(5, 0).unwrap();
        assert_eq!(a, b);
        let c = Gmm40::with_seed(5, 1).unwrap();
        assert_ne!(a, c);
        // the documented order: component-major draws from seeded(0)
        let mut g = seeded(0);
        let first: Vec<f32> = (0..5)
            .map(|_| ((2.0 * uniform_f64(&mut g) - 1.0) * 40.0) as f32)
            .collect();
        assert_eq!(a.mean(0).unwrap(), &first[..]);
        for k in 0..40 {
            assert!(a.mean(k).unwrap().iter().all(|v| v.abs() <= 40.0));
        }
        let d64 = Gmm40::new(64).unwrap();
        assert_eq!(d64.mean(39).unwrap().len(), 64);
        assert!(matches!(Gmm40::new(0), Err(Error::InvalidConfig(_))));
        assert!(matches!(Gmm40::new(65), Err(Error::InvalidConfig(_))));
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = seeded(10);
        for dim in [2usize, 5] {
            let t = Gmm40::new(dim).unwrap();
            for k in [0usize, 7, 23] {
                // near a mean (well-conditioned softmax), and between two means
                let m = t.mean(k).unwrap();
                let m2 = t.mean(k + 1).unwrap();
                let mut x: Vec<f32> = m.iter().map(|&v| v + 0.7).collect();
                check_grad(&t, &x, 1e-2, 1e-2, 1e-3);
                for j in 0..dim {
                    x[j] = 0.5 * (m[j] + m2[j]) + (uniform_f64(&mut rng) - 0.5) as f32;
                }
                check_grad(&t, &x, 1e-2, 1e-2, 1e-3);
            }
        }
    }

    #[test]
    fn normaliser_by_quadrature_in_2d() {
        let t = Gmm40::new(2).unwrap();
        // all means lie in [−40, 40]²; unit variance ⇒ ±48 holds all mass but e^{−32}
        let lz = log_integral_2d(&t, -48.0, 48.0, 481);
        assert!(lz.abs() < 1e-4, "log Z {lz}");
    }

    #[test]
    fn sampler_moments() {
        let t = Gmm40::new(2).unwrap();
        let n = 50_000;
        let mut xs = vec![0.0f32; 2 * n];
        crate::targets::sample_batch(&t, &mut seeded(6), &mut xs).unwrap();
        for j in 0..2 {
            // mixture: mean = avg m_k, var = 1 + var(m_k); 4th central moment of the mixture
            let ms: Vec<f64> = (0..40).map(|k| t.mean(k).unwrap()[j] as f64).collect();
            let mu = ms.iter().sum::<f64>() / 40.0;
            let var = 1.0 + ms.iter().map(|m| (m - mu).powi(2)).sum::<f64>() / 40.0;
            let mu4 = ms
                .iter()
                .map(|m| {
                    let c = m - mu;
                    c.powi(4) + 6.0 * c * c + 3.0
                })
                .sum::<f64>()
                / 40.0;
            assert_moments("gmm40", column_moments(&xs, 2, j), mu, var, mu4, n);
        }
        // every component is visited, with frequency ≈ 1/40
        let mut counts = [0usize; 40];
        for r in xs.chunks_exact(2) {
            counts[t.nearest_component(r)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    }
}
