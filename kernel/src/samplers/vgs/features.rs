//! Input features of the value network, and the symmetry of n-body systems
//! (Yoon et al. 2025, `invariant_wrapper`; report B1.3).
//!
//! - [`Features::Identity`]: the value network sees `x` itself.
//! - [`Features::NBody`]: `x` holds `n` particles in `k` dimensions (`x = [x₁ … x_n]`,
//!   `xᵢ ∈ ℝᵏ`). The network sees the `P = n(n−1)/2` pairwise distances
//!   `r_ij = ‖xᵢ − x_j‖`, **sorted in descending order** (permutation invariance) and
//!   transformed by `φ(r) = √(r² + 1)` (DW-4) or `φ(r) = 1/√(r² + 1)` (LJ-13,
//!   `dis_reciprocal`). Distances are invariant under rotations, reflections and
//!   translations, so `V(x) = f(φ(sort(r(x))))` is E(k)- and permutation-invariant and its
//!   gradient `∇ₓV` is equivariant (it rotates and permutes with `x`), and sums to zero over
//!   the particles (no centre-of-mass drift).
//!
//! **Backward.** With `g_k = ∂L/∂feature_k` and feature `k` coming from pair `(i, j)`:
//! `∂L/∂xᵢ += g_k·ψ(r²)·(xᵢ − x_j)` and `∂L/∂x_j −= …`, with `ψ = φ'(r)/r`:
//! `ψ = (r² + 1)^{−1/2}` for `√(r²+1)` and `ψ = −(r² + 1)^{−3/2}` for the reciprocal. `ψ` is
//! finite at `r = 0`, so coincident particles (a degenerate LJ-13 configuration) give finite
//! features and gradients. The sort is a fixed permutation between ties, so the map is
//! continuous and differentiable almost everywhere.
//!
//! **Centre of mass.** The n-body targets are translation invariant; samples live in the
//! `(n−1)·k`-dimensional subspace `Σᵢ xᵢ = 0` ([`Features::project`]). That subspace's
//! dimension is the *effective dimension* `D` used in the control cost and log-densities
//! ([`Features::effective_dim`]).

use crate::error::{Error, check_len};
use crate::math;

/// Largest number of pairs (`n(n−1)/2`) of an n-body feature map: 16 particles.
pub const MAX_PAIRS: usize = 120;

/// The distance transform `φ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistanceTransform {
    /// `φ(r) = √(r² + 1)` (DW-4).
    SqrtPlusOne,
    /// `φ(r) = 1/√(r² + 1)` (LJ-13).
    Reciprocal,
}

impl DistanceTransform {
    /// `(φ(r), ψ(r²) = φ'(r)/r)` from `r²`.
    #[inline]
    fn eval(self, r2: f32) -> (f32, f32) {
        let q = math::sqrt(r2 as f64 + 1.0);
        match self {
            DistanceTransform::SqrtPlusOne => (q as f32, (1.0 / q) as f32),
            DistanceTransform::Reciprocal => ((1.0 / q) as f32, (-1.0 / (q * q * q)) as f32),
        }
    }
}

/// The feature map; `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Features {
    /// `x` itself.
    Identity,
    /// Sorted transformed pairwise distances of `particles` particles in `spatial`
    /// dimensions (see the [module docs](self)).
    NBody {
        /// Number of particles `n ≥ 2`.
        particles: usize,
        /// Spatial dimension `k ≥ 1`.
        spatial: usize,
        /// The transform `φ`.
        transform: DistanceTransform,
    },
}

impl Features {
    /// The DW-4 map: 4 particles in 2-D, `√(r² + 1)`.
    pub const DW4: Features = Features::NBody {
        particles: 4,
        spatial: 2,
        transform: DistanceTransform::SqrtPlusOne,
    };
    /// The LJ-13 map: 13 particles in 3-D, `1/√(r² + 1)`.
    pub const LJ13: Features = Features::NBody {
        particles: 13,
        spatial: 3,
        transform: DistanceTransform::Reciprocal,
    };

    /// Checks the map against the state dimension `dim`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `dim == 0`, or for n-body maps if `n < 2`, `k == 0`,
    /// `n·k ≠ dim` or `n(n−1)/2 > MAX_PAIRS`.
    pub fn validate(&self, dim: usize) -> Result<(), Error> {
        if dim == 0 {
            return Err(Error::InvalidConfig("state dimension must be >= 1"));
        }
        if let Features::NBody {
            particles, spatial, ..
        } = *self
        {
            if particles < 2 || spatial == 0 {
                return Err(Error::InvalidConfig(
                    "n-body features need >= 2 particles and spatial dim >= 1",
                ));
            }
            if particles.checked_mul(spatial) != Some(dim) {
                return Err(Error::InvalidConfig(
                    "n-body features: particles x spatial dim must equal the state dim",
                ));
            }
            if particles * (particles - 1) / 2 > MAX_PAIRS {
                return Err(Error::InvalidConfig(
                    "n-body features support at most 16 particles",
                ));
            }
        }
        Ok(())
    }

    /// Feature width: `dim` or `n(n−1)/2`.
    pub const fn out_dim(&self, dim: usize) -> usize {
        match *self {
            Features::Identity => dim,
            Features::NBody { particles, .. } => particles * particles.saturating_sub(1) / 2,
        }
    }

    /// Effective dimension `D`: `dim`, or `(n−1)·k` without the centre of mass.
    pub const fn effective_dim(&self, dim: usize) -> usize {
        match *self {
            Features::Identity => dim,
            Features::NBody {
                particles, spatial, ..
            } => particles.saturating_sub(1) * spatial,
        }
    }

    /// Whether the map is invariant to translations (and so samples are centred).
    pub const fn is_nbody(&self) -> bool {
        matches!(self, Features::NBody { .. })
    }

    /// Removes the centre of mass of every row of `x` (`rows × dim`), in place: `xᵢ ← xᵢ − x̄`.
    /// No-op for [`Features::Identity`]. Rows with non-finite entries are left as they are.
    pub fn project(&self, x: &mut [f32], dim: usize) {
        let Features::NBody {
            particles, spatial, ..
        } = *self
        else {
            return;
        };
        if dim == 0 || particles * spatial != dim {
            return;
        }
        for row in x.chunks_exact_mut(dim) {
            for c in 0..spatial {
                let mut m = 0.0f64;
                for p in 0..particles {
                    m += row[p * spatial + c] as f64;
                }
                let m = (m / particles as f64) as f32;
                for p in 0..particles {
                    row[p * spatial + c] -= m;
                }
            }
        }
    }

    /// Features of one state `x` (`dim`) into `out` ([`out_dim`](Self::out_dim)); `order`
    /// (same length) receives the pair index of each sorted feature, for
    /// [`backward_row`](Self::backward_row). Pairs are numbered `(0,1), (0,2), …, (n−2, n−1)`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for wrong lengths (call [`validate`](Self::validate) first).
    pub fn forward_row(&self, x: &[f32], out: &mut [f32], order: &mut [u32]) -> Result<(), Error> {
        let dim = x.len();
        check_len("feature out", self.out_dim(dim), out.len())?;
        check_len("feature order", self.out_dim(dim), order.len())?;
        let Features::NBody {
            particles,
            spatial,
            transform,
        } = *self
        else {
            out.copy_from_slice(x);
            return Ok(());
        };
        check_len("n-body state", particles * spatial, dim)?;
        let np = out.len();
        if np > MAX_PAIRS {
            return Err(Error::CapacityExceeded {
                what: "n-body pairs",
                capacity: MAX_PAIRS,
            });
        }
        let mut r2 = [0.0f32; MAX_PAIRS];
        let mut p = 0;
        for i in 0..particles {
            for j in i + 1..particles {
                let mut s = 0.0f64;
                for c in 0..spatial {
                    let d = (x[i * spatial + c] - x[j * spatial + c]) as f64;
                    s += d * d;
                }
                // NaN distances sort last and give NaN features; callers project non-finite
                // states away before they reach the network.
                r2[p] = s as f32;
                p += 1;
            }
        }
        for (k, o) in order.iter_mut().enumerate() {
            *o = k as u32;
        }
        // insertion sort by r² descending, ties by pair index (stable)
        for a in 1..np {
            let cur = order[a];
            let key = r2[cur as usize];
            let mut b = a;
            while b > 0 && r2[order[b - 1] as usize] < key {
                order[b] = order[b - 1];
                b -= 1;
            }
            order[b] = cur;
        }
        for (o, &k) in out.iter_mut().zip(order.iter()) {
            *o = transform.eval(r2[k as usize]).0;
        }
        Ok(())
    }

    /// Backward of [`forward_row`](Self::forward_row): **writes** `dx = (∂features/∂x)ᵀ·dfeat`
    /// (module docs), given the same `x` and the `order` it wrote.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for wrong lengths; [`Error::InvalidConfig`] for an `order`
    /// entry out of range.
    pub fn backward_row(
        &self,
        x: &[f32],
        order: &[u32],
        dfeat: &[f32],
        dx: &mut [f32],
    ) -> Result<(), Error> {
        let dim = x.len();
        check_len("feature grad", self.out_dim(dim), dfeat.len())?;
        check_len("feature order", self.out_dim(dim), order.len())?;
        check_len("feature dx", dim, dx.len())?;
        let Features::NBody {
            particles,
            spatial,
            transform,
        } = *self
        else {
            dx.copy_from_slice(dfeat);
            return Ok(());
        };
        check_len("n-body state", particles * spatial, dim)?;
        let mut pairs = [(0u8, 0u8); MAX_PAIRS];
        let mut p = 0;
        for i in 0..particles {
            for j in i + 1..particles {
                if p < MAX_PAIRS {
                    pairs[p] = (i as u8, j as u8);
                }
                p += 1;
            }
        }
        dx.fill(0.0);
        for (&k, &g) in order.iter().zip(dfeat) {
            let Some(&(i, j)) = pairs.get(k as usize).filter(|_| (k as usize) < p) else {
                return Err(Error::InvalidConfig("feature order index out of range"));
            };
            let (i, j) = (i as usize * spatial, j as usize * spatial);
            let mut r2 = 0.0f64;
            for c in 0..spatial {
                let d = (x[i + c] - x[j + c]) as f64;
                r2 += d * d;
            }
            let psi = transform.eval(r2 as f32).1;
            for c in 0..spatial {
                let v = g * psi * (x[i + c] - x[j + c]);
                dx[i + c] += v;
                dx[j + c] -= v;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::{fill_standard_normal, seeded};
    use std::vec;

    #[test]
    fn distances_sorted_and_transformed() {
        // 3 particles on a line at 0, 1, 3: distances 1 (0,1), 3 (0,2), 2 (1,2)
        let f = Features::NBody {
            particles: 3,
            spatial: 1,
            transform: DistanceTransform::SqrtPlusOne,
        };
        f.validate(3).unwrap();
        let (mut out, mut ord) = ([0.0f32; 3], [0u32; 3]);
        f.forward_row(&[0.0, 1.0, 3.0], &mut out, &mut ord).unwrap();
        assert_eq!(ord, [1, 2, 0]);
        let want = [10f32.sqrt(), 5f32.sqrt(), 2f32.sqrt()];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(Features::LJ13.out_dim(39), 78);
        assert_eq!(Features::LJ13.effective_dim(39), 36);
        assert_eq!(Features::DW4.effective_dim(8), 6);
        assert!(Features::DW4.validate(9).is_err());
        assert!(
            Features::NBody {
                particles: 17,
                spatial: 1,
                transform: DistanceTransform::Reciprocal
            }
            .validate(17)
            .is_err()
        );
    }

    #[test]
    fn backward_matches_central_differences() {
        for f in [Features::DW4, Features::LJ13] {
            let dim = match f {
                Features::NBody {
                    particles, spatial, ..
                } => particles * spatial,
                Features::Identity => 0,
            };
            let np = f.out_dim(dim);
            let mut r = seeded(3);
            let mut x = vec![0.0f32; dim];
            fill_standard_normal(&mut r, &mut x);
            let mut g = vec![0.0f32; np];
            fill_standard_normal(&mut r, &mut g);
            let (mut out, mut ord) = (vec![0.0f32; np], vec![0u32; np]);
            f.forward_row(&x, &mut out, &mut ord).unwrap();
            let mut dx = vec![0.0f32; dim];
            f.backward_row(&x, &ord, &g, &mut dx).unwrap();
            // (loss, sort order): the map is differentiable where the order does not change
            let loss = |x: &[f32]| -> (f64, std::vec::Vec<u32>) {
                let (mut o, mut od) = (vec![0.0f32; np], vec![0u32; np]);
                f.forward_row(x, &mut o, &mut od).unwrap();
                (
                    o.iter().zip(&g).map(|(a, b)| *a as f64 * *b as f64).sum(),
                    od,
                )
            };
            let mut checked = 0;
            let h = 1e-3f32;
            for i in 0..dim {
                let mut xp = x.clone();
                xp[i] += h;
                let mut xm = x.clone();
                xm[i] -= h;
                let ((lp, op), (lm, om)) = (loss(&xp), loss(&xm));
                if op != ord || om != ord {
                    continue;
                }
                checked += 1;
                let fd = (lp - lm) / (2.0 * h as f64);
                assert!(
                    (fd - dx[i] as f64).abs() < 2e-2 * (1.0 + fd.abs()),
                    "coord {i}: fd {fd} vs {}",
                    dx[i]
                );
            }
            assert!(
                checked >= dim / 2,
                "too few coordinates away from sort ties"
            );
            // translation invariance: gradient sums to zero per spatial coordinate
            if let Features::NBody { spatial, .. } = f {
                for c in 0..spatial {
                    let s: f64 = dx.iter().skip(c).step_by(spatial).map(|v| *v as f64).sum();
                    assert!(s.abs() < 1e-4, "gradient sum {s}");
                }
            }
        }
    }

    #[test]
    fn coincident_particles_are_finite() {
        let x = [0.0f32; 39];
        let (mut out, mut ord) = ([0.0f32; 78], [0u32; 78]);
        Features::LJ13.forward_row(&x, &mut out, &mut ord).unwrap();
        assert!(out.iter().all(|v| *v == 1.0));
        let mut dx = [1.0f32; 39];
        Features::LJ13
            .backward_row(&x, &ord, &[1.0; 78], &mut dx)
            .unwrap();
        assert!(dx.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn projection_removes_the_centre_of_mass() {
        let mut x = [1.0f32, 2.0, 3.0, 6.0, 5.0, 10.0, 3.0, 2.0];
        Features::DW4.project(&mut x, 8);
        let (mx, my) = (x[0] + x[2] + x[4] + x[6], x[1] + x[3] + x[5] + x[7]);
        assert!(mx.abs() < 1e-5 && my.abs() < 1e-5);
        let mut y = [1.0f32, 2.0];
        Features::Identity.project(&mut y, 2);
        assert_eq!(y, [1.0, 2.0]);
    }
}
