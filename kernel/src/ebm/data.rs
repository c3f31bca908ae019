//! Seeded 2-D synthetic data sets (the FFJORD / score-matching toy suite).
//!
//! Each point is drawn independently with the caller's RNG:
//!
//! - **moons**: with probability ½ the upper moon `(cos θ, sin θ)`, else the lower
//!   `(1 − cos θ, ½ − sin θ)`, `θ ∼ U[0, π]`, plus `N(0, 0.1²)` noise per coordinate
//!   (scikit-learn's `make_moons(noise = 0.1)`), then mapped by `x ↦ 2x − (1, 0.2)`;
//! - **8gaussians**: centre `4·(cos kπ/4, sin kπ/4)`, `k ∼ U{0…7}`, plus `N(0, 0.5²)` noise,
//!   all divided by `1.414` (FFJORD);
//! - **checkerboard**: `x₁ ∼ U[−2, 2)`, `x₂ = u − 2c + (⌊x₁⌋ mod 2)`, `u ∼ U[0, 1)`,
//!   `c ∼ U{0, 1}`, all times 2 (FFJORD): eight squares of side 2 in `[−4, 4]²`;
//! - **rings**: radius `r ∈ {0.75, 1.5, 2.25, 3}` uniformly, angle `U[0, 2π)`, plus
//!   `N(0, 0.08²)` noise per coordinate (FFJORD's four concentric circles, drawn at random).

use crate::error::Error;
use crate::math;
use crate::rng::{Rng, fill_standard_normal, uniform_f64};

/// A 2-D synthetic data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Toy {
    /// Two interleaved half circles.
    Moons,
    /// Eight Gaussians on a circle of radius `4/1.414`.
    EightGaussians,
    /// Eight squares of a checkerboard.
    Checkerboard,
    /// Four concentric rings.
    Rings,
}

/// Every data set, in CLI order.
pub const TOYS: [Toy; 4] = [
    Toy::Moons,
    Toy::EightGaussians,
    Toy::Checkerboard,
    Toy::Rings,
];

impl Toy {
    /// The CLI name: `moons`, `8gaussians`, `checkerboard`, `rings`.
    pub const fn name(self) -> &'static str {
        match self {
            Toy::Moons => "moons",
            Toy::EightGaussians => "8gaussians",
            Toy::Checkerboard => "checkerboard",
            Toy::Rings => "rings",
        }
    }

    /// The data set called `name` (see [`Toy::name`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an unknown name.
    pub fn from_name(name: &str) -> Result<Toy, Error> {
        TOYS.iter()
            .copied()
            .find(|t| t.name() == name)
            .ok_or(Error::InvalidConfig(
                "unknown data set (moons, 8gaussians, checkerboard, rings)",
            ))
    }

    /// Fills `out` (`n × 2`, row-major) with `n` independent points.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `out.len()` is odd.
    pub fn fill<R: Rng + ?Sized>(self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        if !out.len().is_multiple_of(2) {
            return Err(Error::ShapeMismatch {
                what: "toy data",
                expected: out.len() + 1,
                got: out.len(),
            });
        }
        for p in out.chunks_exact_mut(2) {
            let (a, b) = self.point(rng);
            p[0] = a as f32;
            p[1] = b as f32;
        }
        Ok(())
    }

    fn point<R: Rng + ?Sized>(self, rng: &mut R) -> (f64, f64) {
        let mut z = [0.0f32; 2];
        match self {
            Toy::Moons => {
                let th = core::f64::consts::PI * uniform_f64(rng);
                let upper = uniform_f64(rng) < 0.5;
                fill_standard_normal(rng, &mut z);
                let (c, s) = (math::cos(th), math::sin(th));
                let (x, y) = if upper { (c, s) } else { (1.0 - c, 0.5 - s) };
                let x = x + 0.1 * z[0] as f64;
                let y = y + 0.1 * z[1] as f64;
                (2.0 * x - 1.0, 2.0 * y - 0.2)
            }
            Toy::EightGaussians => {
                let k = ((uniform_f64(rng) * 8.0) as u32).min(7);
                let th = core::f64::consts::FRAC_PI_4 * k as f64;
                fill_standard_normal(rng, &mut z);
                let x = 4.0 * math::cos(th) + 0.5 * z[0] as f64;
                let y = 4.0 * math::sin(th) + 0.5 * z[1] as f64;
                (x / 1.414, y / 1.414)
            }
            Toy::Checkerboard => {
                let x1 = 4.0 * uniform_f64(rng) - 2.0;
                let u = uniform_f64(rng);
                let c = if uniform_f64(rng) < 0.5 { 0.0 } else { 1.0 };
                let f = math::floor(x1);
                let parity = f - 2.0 * math::floor(0.5 * f);
                (2.0 * x1, 2.0 * (u - 2.0 * c + parity))
            }
            Toy::Rings => {
                let k = ((uniform_f64(rng) * 4.0) as u32).min(3);
                let r = 0.75 * (k + 1) as f64;
                let th = 2.0 * core::f64::consts::PI * uniform_f64(rng);
                fill_standard_normal(rng, &mut z);
                (
                    r * math::cos(th) + 0.08 * z[0] as f64,
                    r * math::sin(th) + 0.08 * z[1] as f64,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn names_round_trip() {
        for t in TOYS {
            assert_eq!(Toy::from_name(t.name()), Ok(t));
        }
        assert!(Toy::from_name("spirals").is_err());
    }

    #[test]
    fn supports_are_as_documented() {
        let mut rng = seeded(3);
        let mut x = [0.0f32; 2 * 500];
        for t in TOYS {
            t.fill(&mut rng, &mut x).unwrap();
            for p in x.chunks_exact(2) {
                let (a, b) = (p[0] as f64, p[1] as f64);
                let r = math::sqrt(a * a + b * b);
                match t {
                    Toy::Checkerboard => {
                        assert!((-4.0..4.0).contains(&a) && (-4.0..4.0).contains(&b));
                        // the cell parity: ⌊a/2⌋ + ⌊b/2⌋ is even
                        let s = math::floor(a / 2.0) + math::floor(b / 2.0);
                        assert_eq!(s.rem_euclid(2.0), 0.0, "{a} {b}");
                    }
                    Toy::Rings => {
                        let k = (r / 0.75).round();
                        assert!((1.0..=4.0).contains(&k));
                        assert!((r - 0.75 * k).abs() < 0.5, "{r}");
                    }
                    Toy::EightGaussians => assert!((r - 4.0 / 1.414).abs() < 2.5, "{r}"),
                    Toy::Moons => assert!(a.abs() < 4.0 && b.abs() < 4.0),
                }
            }
        }
        assert!(Toy::Moons.fill(&mut rng, &mut [0.0; 3]).is_err());
    }
}
