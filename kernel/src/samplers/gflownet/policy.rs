//! Masked softmax policies over actions, forward and backward.
//!
//! The network maps a state's features to `A + B + 1` outputs per state (the adaptive
//! teacher grid network, `teachers-and-vgs.md` A3: forward logits including stop, backward
//! logits, and one more output `log F(s)` for DB/SubTB/RSMC):
//! `[forward logits (A) | backward logits (B) | log F(s)]`.
//!
//! Masked log-softmax: `log π(a) = ℓ_a − log Σ_{a' legal} e^{ℓ_{a'}}` for legal `a`, `-inf`
//! otherwise. Its backward pass, for an upstream gradient `g_a = ∂L/∂log π(a)`, is
//! `∂L/∂ℓ_j = g_j − π(j) Σ_{a legal} g_a` for legal `j` and `0` for illegal `j`.
//!
//! ε-exploration (Bengio et al. 2021; teachers A1.2, ε = 0.01 for the "TB+ε" baseline):
//! the *behaviour* policy samples from `(1 − ε) π + ε·Uniform(legal)`; losses always score
//! the trajectory under `π` itself (off-policy TB is valid for any behaviour policy).

use crate::error::{Error, check_len};
use crate::math;

/// Writes the masked log-softmax of `logits` into `out` (`-inf` for illegal actions) and
/// returns the log-normaliser.
///
/// # Errors
/// [`Error::ShapeMismatch`] for unequal lengths; [`Error::Degenerate`] if no action is
/// legal; [`Error::NonFinite`] if a legal logit is NaN or infinite.
pub fn masked_log_softmax(logits: &[f32], mask: &[bool], out: &mut [f32]) -> Result<f32, Error> {
    check_len("mask", logits.len(), mask.len())?;
    check_len("log-softmax out", logits.len(), out.len())?;
    let mut m = f32::NEG_INFINITY;
    for (&l, &ok) in logits.iter().zip(mask) {
        if ok {
            if !l.is_finite() {
                return Err(Error::NonFinite("policy logit"));
            }
            m = m.max(l);
        }
    }
    if m == f32::NEG_INFINITY {
        return Err(Error::Degenerate("no legal action"));
    }
    let mut s = 0.0f64;
    for (&l, &ok) in logits.iter().zip(mask) {
        if ok {
            s += math::exp((l - m) as f64);
        }
    }
    let lse = m + math::ln(s) as f32;
    for ((o, &l), &ok) in out.iter_mut().zip(logits).zip(mask) {
        *o = if ok { l - lse } else { f32::NEG_INFINITY };
    }
    Ok(lse)
}

/// Backward pass of [`masked_log_softmax`]: **accumulates** `∂L/∂ℓ_j = g_j − π(j) Σ g` (legal
/// `j`) into `dlogits`, from the log-probabilities `logp` it produced and the upstream
/// gradient `g` (entries at illegal actions are ignored).
///
/// # Errors
/// [`Error::ShapeMismatch`] for unequal lengths.
pub fn masked_log_softmax_backward(
    logp: &[f32],
    mask: &[bool],
    g: &[f32],
    dlogits: &mut [f32],
) -> Result<(), Error> {
    let n = logp.len();
    check_len("mask", n, mask.len())?;
    check_len("upstream gradient", n, g.len())?;
    check_len("dlogits", n, dlogits.len())?;
    let total: f32 = g
        .iter()
        .zip(mask)
        .filter(|(_, ok)| **ok)
        .map(|(x, _)| *x)
        .sum();
    for i in 0..n {
        if mask[i] {
            dlogits[i] += g[i] - math::exp(logp[i]) * total;
        }
    }
    Ok(())
}

/// Log-probability of one action under the ε-mixed behaviour policy
/// `(1 − ε) π + ε/|legal|` (for diagnostics), from the log-probabilities of `π`.
pub fn behaviour_log_prob(logp: &[f32], mask: &[bool], a: usize, eps: f32) -> f32 {
    let legal = mask.iter().filter(|&&m| m).count().max(1) as f64;
    let p = logp.get(a).map_or(0.0, |&l| math::exp(l as f64));
    math::ln((1.0 - eps as f64) * p + eps as f64 / legal) as f32
}

/// Draws an action from `(1 − ε)·softmax(logp) + ε·Uniform(legal)` with two pre-drawn
/// uniforms `u_mix, u ∈ [0, 1)`.
///
/// # Errors
/// [`Error::Degenerate`] if no action is legal.
pub fn sample_action(
    logp: &[f32],
    mask: &[bool],
    eps: f32,
    u_mix: f64,
    u: f64,
) -> Result<usize, Error> {
    let legal = mask.iter().filter(|&&m| m).count();
    if legal == 0 {
        return Err(Error::Degenerate("no legal action"));
    }
    if u_mix < eps as f64 {
        let k = ((u * legal as f64) as usize).min(legal - 1);
        return mask
            .iter()
            .enumerate()
            .filter(|(_, m)| **m)
            .nth(k)
            .map(|(i, _)| i)
            .ok_or(Error::Degenerate("no legal action"));
    }
    crate::rng::categorical_from_logits(logp, u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_log_softmax_values() {
        let mut out = [0.0f32; 3];
        let lse = masked_log_softmax(&[1.0, 5.0, 1.0], &[true, false, true], &mut out).unwrap();
        assert!((lse - (1.0 + math::ln(2.0f32))).abs() < 1e-6);
        assert!((out[0] - math::ln(0.5f32)).abs() < 1e-6);
        assert_eq!(out[1], f32::NEG_INFINITY);
        assert!(masked_log_softmax(&[1.0, 2.0], &[false, false], &mut out[..2]).is_err());
        assert!(sample_action(&out, &[true, false, true], 0.0, 0.5, 0.7).unwrap() == 2);
        assert!(sample_action(&out, &[true, false, true], 1.0, 0.5, 0.1).unwrap() == 0);
    }

    #[test]
    fn masked_log_softmax_gradcheck() {
        // L = Σ_a c_a log π(a) over legal a; central differences in f64 on the logits.
        let logits = [0.3f32, -1.2, 0.7, 2.0, -0.1];
        let mask = [true, true, false, true, true];
        let c = [0.5f32, -1.5, 9.0, 0.25, 2.0];
        let loss = |l: &[f32]| -> f64 {
            let mut o = [0.0f32; 5];
            masked_log_softmax(l, &mask, &mut o).unwrap();
            (0..5)
                .filter(|&i| mask[i])
                .map(|i| (c[i] * o[i]) as f64)
                .sum()
        };
        let mut o = [0.0f32; 5];
        masked_log_softmax(&logits, &mask, &mut o).unwrap();
        let mut d = [0.0f32; 5];
        masked_log_softmax_backward(&o, &mask, &c, &mut d).unwrap();
        let h = 1e-3f32;
        for j in 0..5 {
            let (mut p, mut m) = (logits, logits);
            p[j] += h;
            m[j] -= h;
            let fd = (loss(&p) - loss(&m)) / (2.0 * h as f64);
            assert!(
                (fd - d[j] as f64).abs() < 2e-3,
                "j={j}: fd {fd} vs {}",
                d[j]
            );
        }
        assert_eq!(d[2], 0.0);
    }
}
