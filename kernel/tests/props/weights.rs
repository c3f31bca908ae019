//! `metrics::weights`: normalisation and ESS for any mix of finite, `-inf`, `+inf` and NaN.

use amortise_kernel::Error;
use amortise_kernel::metrics::weights::{
    ess, ess_fraction, log_normalize_in_place, normalize_log_weights,
};
use proptest::prelude::*;

use super::{CASES, config, log_weight, log_weight_no_pos_inf};

/// What the module policy says the outcome must be: `+inf` wins, then "no mass".
fn expected_error(lw: &[f32]) -> Option<&'static str> {
    if lw.contains(&f32::INFINITY) {
        Some("NonFinite")
    } else if lw.iter().all(|x| x.is_nan() || *x == f32::NEG_INFINITY) {
        Some("Degenerate")
    } else {
        None
    }
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::NonFinite(_) => "NonFinite",
        Error::Degenerate(_) => "Degenerate",
        Error::ShapeMismatch { .. } => "ShapeMismatch",
        _ => "other",
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn normalize_sums_to_one_or_gives_the_documented_error(lw in prop::collection::vec(log_weight(), 0..40)) {
        let mut out = vec![f32::NAN; lw.len()];
        match (normalize_log_weights(&lw, &mut out), expected_error(&lw)) {
            (Ok(log_z), None) => {
                prop_assert!(log_z.is_finite(), "log Z = {log_z}");
                let sum: f64 = out.iter().map(|&w| w as f64).sum();
                prop_assert!((sum - 1.0).abs() < 1e-5, "weights sum to {sum}");
                for (&w, &l) in out.iter().zip(&lw) {
                    prop_assert!((0.0..=1.0).contains(&w), "weight {w}");
                    if l.is_nan() || l == f32::NEG_INFINITY {
                        prop_assert_eq!(w, 0.0);
                    }
                }
                // the maximum log-weight always keeps a positive weight
                let imax = (0..lw.len()).filter(|&i| !lw[i].is_nan()).max_by(|&a, &b| lw[a].total_cmp(&lw[b])).unwrap();
                prop_assert!(out[imax] > 0.0);
            }
            (Err(e), Some(k)) => prop_assert_eq!(kind(&e), k),
            (got, want) => prop_assert!(false, "got {got:?}, expected error {want:?}"),
        }
    }

    #[test]
    fn normalize_rejects_a_wrong_output_length(lw in prop::collection::vec(log_weight(), 1..20), extra in 1usize..3) {
        let mut out = vec![0.0f32; lw.len() + extra];
        prop_assert!(matches!(normalize_log_weights(&lw, &mut out), Err(Error::ShapeMismatch { .. })), "wrong outcome");
    }

    #[test]
    fn log_normalize_in_place_agrees_with_normalize(lw in prop::collection::vec(log_weight(), 0..40)) {
        let mut inplace = lw.clone();
        let mut out = vec![0.0f32; lw.len()];
        let a = normalize_log_weights(&lw, &mut out);
        let b = log_normalize_in_place(&mut inplace);
        match (a, b) {
            (Ok(za), Ok(zb)) => {
                prop_assert_eq!(za.to_bits(), zb.to_bits());
                let mut sum = 0.0f64;
                for ((&l, &w), &orig) in inplace.iter().zip(&out).zip(&lw) {
                    prop_assert!(!l.is_nan() && l <= 0.0, "normalised log-weight {l}");
                    if orig.is_nan() || orig == f32::NEG_INFINITY {
                        prop_assert_eq!(l, f32::NEG_INFINITY);
                    }
                    let e = (l as f64).exp();
                    // each weight agrees with the linear-space version to f32 rounding
                    prop_assert!((e - w as f64).abs() <= 1e-6 + 1e-5 * e, "exp {e} vs {w}");
                    sum += e;
                }
                prop_assert!((sum - 1.0).abs() < 1e-4, "sum exp = {sum}");
            }
            (Err(ea), Err(eb)) => {
                prop_assert_eq!(kind(&ea), kind(&eb));
                // the slice is unchanged on error (bitwise: NaN stays NaN)
                prop_assert!(inplace.iter().zip(&lw).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
            (a, b) => prop_assert!(false, "normalize {a:?} vs in place {b:?}"),
        }
    }

    #[test]
    fn ess_lies_in_one_to_n(lw in prop::collection::vec(log_weight(), 0..60)) {
        match (ess(&lw), expected_error(&lw)) {
            (Ok(e), None) => {
                let n = lw.len() as f64;
                prop_assert!((1.0..=n).contains(&e), "ESS {e} outside [1, {n}]");
                let f = ess_fraction(&lw).unwrap();
                prop_assert!(f >= 1.0 / n && f <= 1.0, "ESS fraction {f}");
                // at most the number of particles with mass
                let alive = lw.iter().filter(|x| !x.is_nan() && **x > f32::NEG_INFINITY).count() as f64;
                prop_assert!(e <= alive * (1.0 + 1e-9), "ESS {e} > {alive} live particles");
            }
            (Err(err), Some(k)) => prop_assert_eq!(kind(&err), k),
            (got, want) => prop_assert!(false, "got {got:?}, expected error {want:?}"),
        }
    }

    #[test]
    fn ess_of_equal_weights_is_n_and_shift_invariant(n in 1usize..200, level in -1e6f32..1e6, lw in prop::collection::vec(-20.0f32..20.0, 1..50), shift in -100.0f32..100.0) {
        let flat = vec![level; n];
        prop_assert!((ess(&flat).unwrap() - n as f64).abs() < 1e-9 * n as f64);
        let shifted: Vec<f32> = lw.iter().map(|&l| l + shift).collect();
        let (a, b) = (ess(&lw).unwrap(), ess(&shifted).unwrap());
        // f32 rounding of l + shift moves each log-weight by up to ~1e-5
        prop_assert!((a - b).abs() <= 1e-3 * a, "ESS {a} vs shifted {b}");
    }

    #[test]
    fn nan_is_exactly_minus_infinity(lw in prop::collection::vec(log_weight_no_pos_inf(), 1..40)) {
        let as_neg_inf: Vec<f32> = lw.iter().map(|&x| if x.is_nan() { f32::NEG_INFINITY } else { x }).collect();
        match (ess(&lw), ess(&as_neg_inf)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a.to_bits(), b.to_bits()),
            (Err(a), Err(b)) => prop_assert_eq!(kind(&a), kind(&b)),
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
    }
}
