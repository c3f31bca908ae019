//! The one pinned PRNG and the few distributions the kernel draws from.
//!
//! The generator is [`Xoshiro256PlusPlus`] (Blackman & Vigna 2018) from `rand_xoshiro`,
//! seeded from a `u64` through SplitMix64 ([`seeded`]). It is pinned: the same seed gives
//! the same stream on every platform, and the reference vectors in this module's tests fail
//! if a dependency update ever changes it. Kernels take `rng: &mut R` with
//! `R: rand_core::Rng` as their last argument; primitives such as resampling take pre-drawn
//! uniforms instead, so they are deterministic functions of their inputs.
//!
//! Conversions (all portable, bit-exact):
//! - [`uniform_f32`]: the top 24 bits of `next_u32`, times 2⁻²⁴, in `[0, 1)`;
//! - [`uniform_f64`]: the top 53 bits of `next_u64`, times 2⁻⁵³, in `[0, 1)`;
//! - [`uniform_open_f64`]: `(k + ½)·2⁻⁵³`, in `(0, 1)` (safe to take a logarithm of);
//! - [`standard_normal`]: Box–Muller on one `next_u64` (two 32-bit halves), computed in `f64`
//!   through [`crate::math`]; tails reach about 6.7 standard deviations;
//! - [`fill_standard_normal`]: Box–Muller using both the cosine and the sine output, so one
//!   `next_u64` per two normals.

pub use rand_core::{Rng, SeedableRng};
pub use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::Error;
use crate::math;

/// The generator seeded from `seed` through SplitMix64 (`rand_core`'s `seed_from_u64`).
#[inline]
pub fn seeded(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// Uniform on `[0, 1)` with 24 random bits (every `f32` multiple of 2⁻²⁴).
#[inline]
pub fn uniform_f32<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform on `[0, 1)` with 53 random bits.
#[inline]
pub fn uniform_f64<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Uniform on the open interval `(0, 1)`: never 0, never 1.
#[inline]
pub fn uniform_open_f64<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / 9_007_199_254_740_992.0)
}

const TWO_POW_M32: f64 = 1.0 / 4_294_967_296.0;

#[inline]
fn box_muller_pair(bits: u64) -> (f64, f64) {
    let u1 = ((bits >> 32) as f64 + 0.5) * TWO_POW_M32; // (0, 1)
    let u2 = (bits & 0xffff_ffff) as f64 * TWO_POW_M32; // [0, 1)
    let r = math::sqrt(-2.0 * math::ln(u1));
    let theta = 2.0 * math::PI * u2;
    (r * math::cos(theta), r * math::sin(theta))
}

/// One standard normal draw (Box–Muller, cosine branch), in `f64`.
#[inline]
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    box_muller_pair(rng.next_u64()).0
}

/// Fills `out` with independent standard normals, two per `next_u64` (cosine then sine).
/// An odd final element uses the cosine branch of one more draw.
pub fn fill_standard_normal<R: Rng + ?Sized>(rng: &mut R, out: &mut [f32]) {
    let mut chunks = out.chunks_exact_mut(2);
    for pair in &mut chunks {
        let (a, b) = box_muller_pair(rng.next_u64());
        pair[0] = a as f32;
        pair[1] = b as f32;
    }
    if let [last] = chunks.into_remainder() {
        *last = standard_normal(rng) as f32;
    }
}

/// Index drawn from `softmax(logits)` by the inverse CDF at the pre-drawn uniform `u ∈ [0, 1)`.
///
/// NaN logits count as `-inf` (zero probability). The cumulative sum is accumulated in `f64`;
/// if rounding leaves it below `u·total`, the last index with positive mass is returned.
///
/// # Errors
/// [`Error::Degenerate`] if `logits` is empty or every entry is `-inf`/NaN;
/// [`Error::NonFinite`] if an entry is `+inf`.
pub fn categorical_from_logits(logits: &[f32], u: f64) -> Result<usize, Error> {
    let mut m = f32::NEG_INFINITY;
    for &l in logits {
        if l == f32::INFINITY {
            return Err(Error::NonFinite("categorical logit is +inf"));
        }
        if l > m {
            m = l;
        }
    }
    if m == f32::NEG_INFINITY {
        return Err(Error::Degenerate(
            "categorical: no entry has positive probability",
        ));
    }
    let mut total = 0.0f64;
    for &l in logits {
        if l > f32::NEG_INFINITY {
            total += math::exp((l - m) as f64);
        }
    }
    let target = u * total;
    let mut acc = 0.0f64;
    let mut last = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > f32::NEG_INFINITY {
            acc += math::exp((l - m) as f64);
            last = i;
            if acc > target {
                return Ok(i);
            }
        }
    }
    Ok(last)
}

/// Draws an index from `softmax(logits)`; see [`categorical_from_logits`].
///
/// # Errors
/// As [`categorical_from_logits`].
pub fn categorical<R: Rng + ?Sized>(rng: &mut R, logits: &[f32]) -> Result<usize, Error> {
    categorical_from_logits(logits, uniform_f64(rng))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// SplitMix64 and xoshiro256++ written out from the authors' reference C code, to check
    /// that the pinned crate still produces exactly this stream.
    fn reference_stream(seed: u64, n: usize) -> Vec<u64> {
        let mut sm = seed;
        let mut next_sm = || {
            sm = sm.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut s = [next_sm(), next_sm(), next_sm(), next_sm()];
        (0..n)
            .map(|_| {
                let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
                let t = s[1] << 17;
                s[2] ^= s[0];
                s[3] ^= s[1];
                s[1] ^= s[2];
                s[0] ^= s[3];
                s[2] ^= t;
                s[3] = s[3].rotate_left(45);
                result
            })
            .collect()
    }

    #[test]
    fn pinned_stream_matches_reference_algorithm() {
        for seed in [0u64, 1, 42, u64::MAX] {
            let mut rng = seeded(seed);
            for (i, want) in reference_stream(seed, 64).into_iter().enumerate() {
                assert_eq!(rng.next_u64(), want, "seed {seed}, draw {i}");
            }
        }
    }

    #[test]
    fn reference_vectors_seed_42() {
        // Recorded once from this implementation; a change means results are no longer
        // reproducible across versions.
        let mut rng = seeded(42);
        let got: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(got, reference_stream(42, 4));
        let mut rng = seeded(42);
        let u = uniform_f32(&mut rng);
        assert_eq!(u, (reference_stream(42, 1)[0] >> 40) as f32 / 16_777_216.0);
        let mut rng = seeded(7);
        let z = standard_normal(&mut rng);
        let bits = reference_stream(7, 1)[0];
        let u1 = ((bits >> 32) as f64 + 0.5) / 4_294_967_296.0;
        let u2 = (bits & 0xffff_ffff) as f64 / 4_294_967_296.0;
        let want = math::sqrt(-2.0 * math::ln(u1)) * math::cos(2.0 * math::PI * u2);
        assert_eq!(z, want);
    }

    #[test]
    fn uniform_ranges() {
        let mut rng = seeded(1);
        for _ in 0..10_000 {
            let a = uniform_f32(&mut rng);
            assert!((0.0..1.0).contains(&a));
            let b = uniform_f64(&mut rng);
            assert!((0.0..1.0).contains(&b));
            let c = uniform_open_f64(&mut rng);
            assert!(c > 0.0 && c < 1.0);
        }
    }

    #[test]
    fn normal_moments() {
        let n = 200_000;
        let mut rng = seeded(3);
        let mut buf = std::vec![0.0f32; n];
        fill_standard_normal(&mut rng, &mut buf);
        let mean: f64 = buf.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let var: f64 = buf.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let kurt: f64 = buf.iter().map(|&x| (x as f64 - mean).powi(4)).sum::<f64>() / n as f64;
        // standard errors: mean 1/sqrt(n) = 0.0022, var sqrt(2/n) = 0.0032, 4th moment sqrt(96/n) = 0.022
        assert!(mean.abs() < 5.0 * 0.0023, "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * 0.0032, "var {var}");
        assert!((kurt - 3.0).abs() < 5.0 * 0.022, "4th moment {kurt}");
        // the single-draw path agrees in distribution too
        let mut s = 0.0;
        let mut s2 = 0.0;
        for _ in 0..n {
            let z = standard_normal(&mut rng);
            s += z;
            s2 += z * z;
        }
        assert!((s / n as f64).abs() < 0.0115);
        assert!((s2 / n as f64 - 1.0).abs() < 0.016);
        // odd length fills every slot
        let mut odd = [f32::NAN; 5];
        fill_standard_normal(&mut rng, &mut odd);
        assert!(odd.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn categorical_frequencies_and_edges() {
        let logits = [0.0f32, (2.0f32).ln(), f32::NEG_INFINITY, (3.0f32).ln()];
        let mut counts = [0usize; 4];
        let mut rng = seeded(11);
        let n = 60_000;
        for _ in 0..n {
            counts[categorical(&mut rng, &logits).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0);
        for (i, p) in [(0, 1.0 / 6.0), (1, 2.0 / 6.0), (3, 3.0 / 6.0)] {
            let f = counts[i] as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((f - p).abs() < 5.0 * se, "index {i}: {f} vs {p}");
        }
        assert_eq!(categorical_from_logits(&logits, 0.0), Ok(0));
        assert_eq!(categorical_from_logits(&logits, 0.999_999_9), Ok(3));
        assert_eq!(categorical_from_logits(&[f32::NAN, 1.0], 0.3), Ok(1));
        assert!(matches!(
            categorical_from_logits(&[], 0.5),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            categorical_from_logits(&[f32::NEG_INFINITY, f32::NAN], 0.5),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            categorical_from_logits(&[0.0, f32::INFINITY], 0.5),
            Err(Error::NonFinite(_))
        ));
    }
}
