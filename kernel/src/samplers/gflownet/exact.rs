//! Exact enumeration of an environment's terminal objects: `log Z`, the target
//! distribution `π(x) = R(x)/Z`, the mode count, and exact distances between an empirical
//! distribution and `π` (TV, L1 mean, Jensen–Shannon).
//!
//! Every environment of this crate has at most [`MAX_TERMINAL`](super::env::MAX_TERMINAL)
//! terminal objects, so these are exact numbers, not estimates (teachers A4 "empirical L1",
//! gfn-is `trainers.py:evaluate` for TFBind8 by enumeration).

use super::env::{DiscreteEnv, MAX_STATE_LEN};
use crate::error::{Error, check_len};
use crate::math;

fn scratch<E: DiscreteEnv + ?Sized>(env: &E) -> Result<[u32; MAX_STATE_LEN], Error> {
    if env.state_len() > MAX_STATE_LEN {
        return Err(Error::CapacityExceeded {
            what: "environment state length",
            capacity: MAX_STATE_LEN,
        });
    }
    Ok([0; MAX_STATE_LEN])
}

/// `log Z = log Σ_x R(x)` by enumeration, accumulated in `f64` with a running max.
///
/// # Errors
/// [`Error::Degenerate`] if every reward is zero; [`Error::NonFinite`] for a `+inf` or NaN
/// log-reward; [`Error::CapacityExceeded`] for a state longer than `MAX_STATE_LEN`.
pub fn log_z<E: DiscreteEnv + ?Sized>(env: &E) -> Result<f64, Error> {
    let mut buf = scratch(env)?;
    let s = &mut buf[..env.state_len()];
    let (mut m, mut acc) = (f64::NEG_INFINITY, 0.0f64);
    for i in 0..env.n_terminal() {
        env.terminal_from_index(i, s);
        let l = env.log_reward(s) as f64;
        if l.is_nan() || l == f64::INFINITY {
            return Err(Error::NonFinite("log-reward of a terminal object"));
        }
        if l > m {
            acc = acc * math::exp(m - l) + 1.0;
            m = l;
        } else if l > f64::NEG_INFINITY {
            acc += math::exp(l - m);
        }
    }
    if m == f64::NEG_INFINITY {
        return Err(Error::Degenerate("every terminal reward is zero"));
    }
    Ok(m + math::ln(acc))
}

/// Writes `π(x_i) = R(x_i)/Z` into `p` (indexed by
/// [`terminal_index`](DiscreteEnv::terminal_index)) and returns `log Z`.
///
/// # Errors
/// As [`log_z`]; [`Error::ShapeMismatch`] unless `p.len() == n_terminal()`.
pub fn distribution<E: DiscreteEnv + ?Sized>(env: &E, p: &mut [f32]) -> Result<f64, Error> {
    check_len("exact distribution", env.n_terminal(), p.len())?;
    let lz = log_z(env)?;
    let mut buf = scratch(env)?;
    let s = &mut buf[..env.state_len()];
    for (i, pi) in p.iter_mut().enumerate() {
        env.terminal_from_index(i, s);
        *pi = math::exp(env.log_reward(s) as f64 - lz) as f32;
    }
    Ok(lz)
}

/// Number of terminal objects that are modes ([`DiscreteEnv::is_mode`]).
///
/// # Errors
/// [`Error::CapacityExceeded`] for a state longer than `MAX_STATE_LEN`.
pub fn mode_count<E: DiscreteEnv + ?Sized>(env: &E) -> Result<usize, Error> {
    let mut buf = scratch(env)?;
    let s = &mut buf[..env.state_len()];
    Ok((0..env.n_terminal())
        .filter(|&i| {
            env.terminal_from_index(i, s);
            env.is_mode(s)
        })
        .count())
}

/// Jensen–Shannon divergence (natural log) between distributions `p` and `q` over the same
/// support: `JSD = ½ KL(p ‖ m) + ½ KL(q ‖ m)`, `m = (p + q)/2`, in `[0, ln 2]`. Inputs are
/// renormalised (sums in `f64`); `0·log 0 = 0`.
///
/// # Errors
/// [`Error::ShapeMismatch`] for different lengths; [`Error::Degenerate`] if either has no
/// mass; [`Error::NonFinite`] for a negative or non-finite entry.
pub fn jensen_shannon(p: &[f32], q: &[f32]) -> Result<f64, Error> {
    check_len("jsd q", p.len(), q.len())?;
    let total = |v: &[f32]| -> Result<f64, Error> {
        let mut t = 0.0f64;
        for &x in v {
            if !(x >= 0.0 && x.is_finite()) {
                return Err(Error::NonFinite("probability must be finite and >= 0"));
            }
            t += x as f64;
        }
        if t > 0.0 {
            Ok(t)
        } else {
            Err(Error::Degenerate("distribution has no mass"))
        }
    };
    let (tp, tq) = (total(p)?, total(q)?);
    let mut js = 0.0f64;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a as f64 / tp, b as f64 / tq);
        let m = 0.5 * (a + b);
        if a > 0.0 {
            js += 0.5 * a * math::ln(a / m);
        }
        if b > 0.0 {
            js += 0.5 * b * math::ln(b / m);
        }
    }
    Ok(js.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsd_known_values() {
        assert_eq!(jensen_shannon(&[0.5, 0.5], &[0.5, 0.5]).unwrap(), 0.0);
        let d = jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]).unwrap();
        assert!((d - math::ln(2.0f64)).abs() < 1e-12);
        // p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4);
        // ½[½ln(2/3) + ½ln 2] + ½ ln(4/3)
        let want =
            0.25 * math::ln(2.0f64 / 3.0) + 0.25 * math::ln(2.0f64) + 0.5 * math::ln(4.0f64 / 3.0);
        let d = jensen_shannon(&[0.5, 0.5], &[1.0, 0.0]).unwrap();
        assert!((d - want).abs() < 1e-12);
        assert!(jensen_shannon(&[0.0, 0.0], &[1.0, 0.0]).is_err());
        assert!(jensen_shannon(&[1.0], &[1.0, 0.0]).is_err());
    }
}
