//! The chunk boundary of twisted SMC, shared by the diffusion sampler's SMC
//! (`samplers::diffusion::smc`) and the discrete RSMC (`samplers::gflownet::rsmc`): what
//! happens to the particle population once the incremental weights of a chunk are in
//! (Choi et al. 2025, arXiv 2510.11711, §3; `rsmc.md` §1.2).
//!
//! The caller writes each particle's unnormalised log-weight `ℓᵢ = log W̄ᵢ + log F_e(xᵢ) −
//! log F_s(xᵢ) + Σ (log p_B − log p_F)` into `log_w` (through [`stored_log_weight`], so a NaN
//! from a broken target is zero weight) and the twist at the boundary into `log_f_new`.
//! [`boundary`] then:
//! 1. adds `log Σ exp ℓ` to `log Ẑ` ([`Error::Degenerate`] if every weight is zero);
//! 2. makes the new twist the current one (`log_f ← log_f_new`);
//! 3. measures `ESS/N`; unless this is the last boundary and if it is below the threshold,
//!    tempers the weights to the target ESS (exponent λ, [`super::temper`]), resamples
//!    systematically, lets the caller permute its own particle rows by the ancestors, and
//!    permutes `log_w` (scaled by `1 − λ`, the untempered remainder) and `log_f`;
//! 4. normalises `log_w` to `log W̄` (log-softmax).
//!
//! Generic over the particle row: a diffusion particle is a `d`-vector (and its `log R`), a
//! GFlowNet particle a partial object with its length and cached policy outputs; the caller's
//! `permute_rows` moves whatever its rows are.

use super::SmcInfo;
use super::resample::{Scheme, resample};
use super::temper;
use crate::error::{Error, check_len};
use crate::math;
use crate::rng::{Rng, uniform_f64};

/// Starts a twisted-SMC run: uniform log-weights `log W̄ᵢ = −ln N` in `log_w` (`N` values),
/// and the diagnostics before the first boundary (`log Ẑ = 0`, no resampling, `ESS/N` and λ
/// of 1).
pub fn start(log_w: &mut [f32]) -> SmcInfo {
    let inv_n = -math::ln(log_w.len() as f64) as f32;
    log_w.fill(inv_n);
    SmcInfo {
        log_z: 0.0,
        resamples: 0,
        min_ess_fraction: 1.0,
        final_ess_fraction: 1.0,
        min_lambda: 1.0,
    }
}

/// Ends a twisted-SMC run after its last boundary: records the final `ESS/N` in `info` and
/// scales the normalised log-weights `log_w` by `N·Ẑ` (`log W̄ᵢ + log Ẑ + ln N`), the
/// Z-scaled weights the replay buffer stores.
///
/// # Errors
/// [`Error::Degenerate`] if `log_w` has no finite entry (as
/// [`temper::ess_fraction_tempered`]).
pub fn finish(log_w: &mut [f32], info: &mut SmcInfo) -> Result<(), Error> {
    info.final_ess_fraction = temper::ess_fraction_tempered(log_w, 1.0)?;
    let inv_n = -math::ln(log_w.len() as f64) as f32;
    let shift = (info.log_z - inv_n as f64) as f32;
    for l in log_w.iter_mut() {
        *l += shift;
    }
    Ok(())
}

/// Settings of a twisted SMC sampler, diffusion or discrete (`rsmc.md` §2.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Chunk length `L` (reweighting every `L` steps); must divide the depth `T`. Defaults
    /// to `4` (paper: 4 of 64 steps); the discrete RSMC starts at `3`, which divides the
    /// depth `9` of its default length-8 sequences.
    pub chunk: usize,
    /// Resample when `ESS/N` falls below this. Defaults to `0.2` (`smc.resample_threshold`).
    pub resample_threshold: f64,
    /// Target ESS fraction of the adaptive weight tempering. Defaults to `0.05`
    /// (`smc.target_ess`).
    pub target_ess: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            chunk: 4,
            resample_threshold: 0.2,
            target_ess: 0.05,
        }
    }
}

impl Config {
    /// Checks the settings against the depth `T` (steps or transitions) of a run.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `chunk` is zero or does not divide `depth`, or a
    /// threshold is out of range.
    pub fn validate(&self, depth: usize) -> Result<(), Error> {
        if self.chunk == 0 || !depth.is_multiple_of(self.chunk) {
            return Err(Error::InvalidConfig(
                "SMC chunk length must be >= 1 and divide the trajectory depth",
            ));
        }
        if !(0.0..=1.0).contains(&self.resample_threshold) {
            return Err(Error::InvalidConfig("resample threshold must be in [0, 1]"));
        }
        if !(self.target_ess > 0.0 && self.target_ess <= 1.0) {
            return Err(Error::InvalidConfig("SMC target ESS must be in (0, 1]"));
        }
        Ok(())
    }

    /// The boundary rule of this sampler (`last`: the final boundary).
    pub fn rule(&self, last: bool) -> Rule {
        Rule {
            resample_threshold: self.resample_threshold,
            temper: temper::Config {
                target_ess: self.target_ess,
                ..temper::Config::default()
            },
            last,
        }
    }
}

/// A particle's unnormalised log-weight as stored: a NaN (a target breaking its contract)
/// is zero weight, `-inf`.
pub fn stored_log_weight(l: f64) -> f32 {
    if l.is_nan() {
        f32::NEG_INFINITY
    } else {
        l as f32
    }
}

/// The per-particle weights and twists at a boundary, and its scratch (all `[N]`).
#[derive(Debug)]
pub struct Weights<'a> {
    /// In: `ℓ`; out: `log W̄` (normalised).
    pub log_w: &'a mut [f32],
    /// Out: the twist at this boundary (copied from `log_f_new`, permuted with the
    /// particles).
    pub log_f: &'a mut [f32],
    /// In: the twist at this boundary.
    pub log_f_new: &'a [f32],
    /// Scratch: the tempered weights, then the permutation buffer.
    pub tmp: &'a mut [f32],
    /// Out: the ancestors of the last resampling.
    pub ancestors: &'a mut [u32],
}

/// When to resample at a boundary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// Resample when `ESS/N` falls below this (RSMC: 0.3).
    pub resample_threshold: f64,
    /// The tempering applied before resampling (target ESS).
    pub temper: temper::Config,
    /// The final boundary never resamples.
    pub last: bool,
}

/// Moves `v` to the order of `ancestors` through `tmp` (`v[i] ← v[ancestors[i]]`).
pub fn permute(v: &mut [f32], ancestors: &[u32], tmp: &mut [f32]) {
    for (t, &a) in tmp.iter_mut().zip(ancestors) {
        *t = v.get(a as usize).copied().unwrap_or(f32::NEG_INFINITY);
    }
    let n = v.len().min(tmp.len());
    v[..n].copy_from_slice(&tmp[..n]);
}

/// One chunk boundary (see the [module docs](self)); updates `info` (`log_z`,
/// `min_ess_fraction`, `min_lambda`, `resamples`). `permute_rows(ancestors, scratch)` is
/// called after a resampling to move the caller's particle rows; `scratch` is `[N]` free
/// `f32` space.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the buffers differ in length; [`Error::Degenerate`] if every
/// particle has zero weight; the tempering's, resampling's and `permute_rows`' errors.
pub fn boundary<R, F>(
    rule: &Rule,
    w: &mut Weights<'_>,
    info: &mut SmcInfo,
    mut permute_rows: F,
    rng: &mut R,
) -> Result<(), Error>
where
    R: Rng + ?Sized,
    F: FnMut(&[u32], &mut [f32]) -> Result<(), Error>,
{
    let n = w.log_w.len();
    check_len("twist log_f", n, w.log_f.len())?;
    check_len("twist log_f_new", n, w.log_f_new.len())?;
    check_len("twist tmp", n, w.tmp.len())?;
    check_len("twist ancestors", n, w.ancestors.len())?;
    let lse = math::log_sum_exp_f64(w.log_w);
    if !lse.is_finite() {
        return Err(Error::Degenerate("SMC: every particle has zero weight"));
    }
    info.log_z += lse;
    w.log_f.copy_from_slice(w.log_f_new);
    let ess = temper::ess_fraction_tempered(w.log_w, 1.0)?;
    info.min_ess_fraction = info.min_ess_fraction.min(ess);
    if !rule.last && ess < rule.resample_threshold {
        let lambda = temper::tempering_exponent(&rule.temper, w.log_w)?.lambda;
        info.min_lambda = info.min_lambda.min(lambda);
        let m = w.log_w.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        for (wt, &l) in w.tmp.iter_mut().zip(w.log_w.iter()) {
            *wt = if l > f32::NEG_INFINITY {
                math::exp(lambda * (l as f64 - m)) as f32
            } else {
                0.0
            };
        }
        resample(Scheme::Systematic, w.tmp, &[uniform_f64(rng)], w.ancestors)?;
        permute_rows(w.ancestors, w.tmp)?;
        permute(w.log_w, w.ancestors, w.tmp);
        for l in w.log_w.iter_mut() {
            *l = ((1.0 - lambda) * *l as f64) as f32;
        }
        permute(w.log_f, w.ancestors, w.tmp);
        info.resamples += 1;
    }
    let lse = math::log_sum_exp_f64(w.log_w);
    for l in w.log_w.iter_mut() {
        *l = (*l as f64 - lse) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng;
    use std::vec::Vec;

    fn info() -> SmcInfo {
        start(&mut [0.0; 4])
    }

    fn rule(threshold: f64, last: bool) -> Rule {
        Rule {
            resample_threshold: threshold,
            temper: temper::Config::default(),
            last,
        }
    }

    #[test]
    fn without_resampling_it_adds_log_z_and_normalises() {
        let mut lw = [0.0f32, 1.0, 2.0, f32::NEG_INFINITY];
        let (mut lf, lfn) = ([0.0f32; 4], [5.0f32, 6.0, 7.0, 8.0]);
        let (mut tmp, mut anc) = ([0.0f32; 4], [9u32; 4]);
        let mut w = Weights {
            log_w: &mut lw,
            log_f: &mut lf,
            log_f_new: &lfn,
            tmp: &mut tmp,
            ancestors: &mut anc,
        };
        let mut i = info();
        let mut called = false;
        let r = boundary(
            &rule(0.0, false),
            &mut w,
            &mut i,
            |_, _| {
                called = true;
                Ok(())
            },
            &mut rng::seeded(0),
        );
        r.unwrap();
        let expect = (1.0f64 + 1f64.exp() + 2f64.exp()).ln();
        assert!((i.log_z - expect).abs() < 1e-6);
        assert!(!called && i.resamples == 0);
        assert_eq!(lf, lfn);
        let total: f64 = lw.iter().map(|&l| f64::from(l).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{lw:?}");
        assert_eq!(lw[3], f32::NEG_INFINITY);
    }

    #[test]
    fn resampling_moves_rows_weights_and_twists_together() {
        // one dominant particle: ESS ≈ 1/4, below 0.5
        let mut lw = [0.0f32, 0.0, 0.0, 6.0];
        let (mut lf, lfn) = ([0.0f32; 4], [10.0f32, 11.0, 12.0, 13.0]);
        let (mut tmp, mut anc) = ([0.0f32; 4], [0u32; 4]);
        let mut rows = [100.0f32, 101.0, 102.0, 103.0];
        let mut w = Weights {
            log_w: &mut lw,
            log_f: &mut lf,
            log_f_new: &lfn,
            tmp: &mut tmp,
            ancestors: &mut anc,
        };
        let mut i = info();
        boundary(
            &rule(0.5, false),
            &mut w,
            &mut i,
            |a, scratch| {
                permute(&mut rows, a, scratch);
                Ok(())
            },
            &mut rng::seeded(3),
        )
        .unwrap();
        assert_eq!(i.resamples, 1);
        assert!(i.min_ess_fraction < 0.5 && i.min_lambda <= 1.0);
        for k in 0..4 {
            let a = anc[k] as usize;
            assert_eq!(rows[k], 100.0 + a as f32, "row {k} follows its ancestor");
            assert_eq!(lf[k], 10.0 + a as f32, "twist {k} follows its ancestor");
        }
        assert!(anc.iter().filter(|&&a| a == 3).count() >= 2);
        let total: f64 = lw.iter().map(|&l| f64::from(l).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        // the last boundary never resamples
        let mut lw = [0.0f32, 0.0, 0.0, 6.0];
        let mut w = Weights {
            log_w: &mut lw,
            log_f: &mut lf,
            log_f_new: &lfn,
            tmp: &mut tmp,
            ancestors: &mut anc,
        };
        let mut i = info();
        boundary(
            &rule(0.5, true),
            &mut w,
            &mut i,
            |_, _| Ok(()),
            &mut rng::seeded(3),
        )
        .unwrap();
        assert_eq!(i.resamples, 0);
    }

    #[test]
    fn zero_mass_and_short_buffers_are_errors() {
        let mut lw = [f32::NEG_INFINITY; 3];
        let (mut lf, lfn) = ([0.0f32; 3], [0.0f32; 3]);
        let (mut tmp, mut anc) = ([0.0f32; 3], [0u32; 3]);
        let mut w = Weights {
            log_w: &mut lw,
            log_f: &mut lf,
            log_f_new: &lfn,
            tmp: &mut tmp,
            ancestors: &mut anc,
        };
        let e = boundary(
            &rule(0.5, false),
            &mut w,
            &mut info(),
            |_, _| Ok(()),
            &mut rng::seeded(0),
        );
        assert!(matches!(e, Err(Error::Degenerate(_))));
        let mut short = [0u32; 2];
        w.ancestors = &mut short;
        let e = boundary(
            &rule(0.5, false),
            &mut w,
            &mut info(),
            |_, _| Ok(()),
            &mut rng::seeded(0),
        );
        assert!(matches!(e, Err(Error::ShapeMismatch { .. })));
        assert_eq!(stored_log_weight(f64::NAN), f32::NEG_INFINITY);
        let v: Vec<f32> = [1.5f64, -2.0]
            .iter()
            .map(|&x| stored_log_weight(x))
            .collect();
        assert_eq!(v, [1.5, -2.0]);
    }
}
