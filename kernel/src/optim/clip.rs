//! Gradient clipping by global norm, with the semantics of
//! `torch.nn.utils.clip_grad_norm_` (`norm_type = 2`).
//!
//! With `‖g‖₂` accumulated in `f64`: if `‖g‖₂ > max_norm`, every gradient is multiplied by
//! `max_norm / (‖g‖₂ + 10⁻⁶)` (the factor computed in `f32`, as torch does); otherwise the
//! gradients are left unchanged.
//!
//! **Non-finite norm** (a NaN or infinite gradient, or an `f64` overflow): the gradients are
//! **zeroed** and the non-finite norm is returned, so one bad batch cannot poison the
//! parameters and the caller can see it (and skip the optimiser step, whose momentum would
//! still move the parameters). torch, with `error_if_nonfinite=False`, would instead fill
//! the gradients with NaN.

use crate::math;

/// Global Euclidean norm `√(Σ gᵢ²)`, accumulated in `f64`.
pub fn global_norm(grads: &[f32]) -> f64 {
    let mut s = 0.0f64;
    for &g in grads {
        let g = g as f64;
        s += g * g;
    }
    math::sqrt(s)
}

/// Clips `grads` in place to global norm `max_norm` (see the [module docs](self)) and
/// returns the norm **before** clipping.
///
/// `max_norm = +inf` (or NaN) never clips; a negative `max_norm` counts as `0`, which zeroes
/// every non-zero gradient. An empty slice has norm `0`.
pub fn clip_global_norm(grads: &mut [f32], max_norm: f32) -> f32 {
    let norm = global_norm(grads);
    if !norm.is_finite() {
        grads.fill(0.0);
        return norm as f32;
    }
    let max_norm = if max_norm < 0.0 { 0.0 } else { max_norm };
    let norm32 = norm as f32;
    if norm > max_norm as f64 {
        let coef = max_norm / (norm32 + 1e-6);
        for g in grads.iter_mut() {
            *g *= coef;
        }
    }
    norm32
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn clips_to_max_norm() {
        let mut g = [3.0f32, 4.0];
        let n = clip_global_norm(&mut g, 1.0);
        assert_eq!(n, 5.0);
        let coef = 1.0f32 / (5.0 + 1e-6);
        assert_eq!(g, [3.0 * coef, 4.0 * coef]);
        assert!((global_norm(&g) - 1.0).abs() < 1e-6);
        // below the threshold: untouched
        let mut g = [0.3f32, -0.4];
        assert_eq!(clip_global_norm(&mut g, 1.0), 0.5);
        assert_eq!(g, [0.3, -0.4]);
        // exactly at the threshold: untouched (strict >)
        let mut g = [3.0f32, 4.0];
        assert_eq!(clip_global_norm(&mut g, 5.0), 5.0);
        assert_eq!(g, [3.0, 4.0]);
        let mut g = [1e3f32; 4];
        assert_eq!(clip_global_norm(&mut g, f32::INFINITY), 2000.0);
        assert_eq!(g, [1e3; 4]);
        let mut empty: [f32; 0] = [];
        assert_eq!(clip_global_norm(&mut empty, 1.0), 0.0);
        let mut g = [1.0f32, 1.0];
        clip_global_norm(&mut g, -3.0);
        assert_eq!(g, [0.0, 0.0]);
    }

    #[test]
    fn f64_accumulation_does_not_overflow() {
        // 3e20² overflows f32 but not f64
        let mut g = [3e20f32, 4e20];
        let n = clip_global_norm(&mut g, 10.0);
        assert!((n / 5e20 - 1.0).abs() < 1e-6);
        assert!((global_norm(&g) - 10.0).abs() < 1e-4);
    }

    #[test]
    fn non_finite_norm_zeroes_gradients() {
        let mut g = [1.0f32, f32::NAN, 2.0];
        assert!(clip_global_norm(&mut g, 1.0).is_nan());
        assert_eq!(g, [0.0; 3]);
        let mut g = [1.0f32, f32::NEG_INFINITY];
        assert_eq!(clip_global_norm(&mut g, 1.0), f32::INFINITY);
        assert_eq!(g, [0.0; 2]);
        // even with clipping disabled
        let mut g = [f32::INFINITY];
        assert_eq!(clip_global_norm(&mut g, f32::INFINITY), f32::INFINITY);
        assert_eq!(g, [0.0]);
    }
}
