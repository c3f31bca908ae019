//! `smc::temper`: the tempering bisection always terminates with `λ ∈ (0, 1]`.

use amortise_kernel::Error;
use amortise_kernel::smc::temper::{
    Config, MAX_DECADES, ess_fraction_tempered, tempering_exponent,
};
use proptest::prelude::*;

use super::{CASES, config, log_weight};

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn bisection_terminates_with_lambda_in_range(
        lw in prop::collection::vec(log_weight(), 0..60),
        target_ess in prop_oneof![4 => 1e-6f64..=1.0, 1 => Just(1.0), 1 => Just(f64::MIN_POSITIVE)],
        tolerance in prop_oneof![3 => 1e-6f64..0.5, 1 => Just(1e-300), 1 => Just(f64::MAX)],
        max_iterations in 0u32..300,
    ) {
        let cfg = Config { target_ess, tolerance, max_iterations };
        match tempering_exponent(&cfg, &lw) {
            Ok(info) => {
                prop_assert!(info.lambda > 0.0 && info.lambda <= 1.0, "lambda {}", info.lambda);
                prop_assert!(info.ess_fraction.is_finite() && info.ess_fraction > 0.0 && info.ess_fraction <= 1.0 + 1e-12,
                    "ESS fraction {}", info.ess_fraction);
                prop_assert!(info.iterations <= MAX_DECADES + max_iterations);
                if info.converged && info.lambda < 1.0 {
                    prop_assert!((info.ess_fraction - target_ess).abs() < tolerance);
                }
                if info.lambda == 1.0 && info.converged {
                    prop_assert!(info.ess_fraction_untempered >= target_ess || (info.ess_fraction - target_ess).abs() < tolerance);
                }
                // tempering never lowers the ESS
                prop_assert!(info.ess_fraction >= info.ess_fraction_untempered * (1.0 - 1e-9));
            }
            Err(Error::NonFinite(_)) => prop_assert!(lw.contains(&f32::INFINITY)),
            Err(Error::Degenerate(_)) => prop_assert!(lw.iter().all(|x| x.is_nan() || *x == f32::NEG_INFINITY)),
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    #[test]
    fn bad_settings_are_invalid_config(
        lw in prop::collection::vec(-10.0f32..10.0, 1..10),
        target_ess in prop_oneof![Just(0.0f64), Just(-0.1), Just(1.5), Just(f64::NAN), Just(f64::INFINITY)],
        tolerance in prop_oneof![Just(0.0f64), Just(-1.0), Just(f64::NAN), Just(1e-3)],
    ) {
        let cfg = Config { target_ess, tolerance, max_iterations: 10 };
        prop_assert!(matches!(tempering_exponent(&cfg, &lw), Err(Error::InvalidConfig(_))), "wrong outcome");
        let cfg = Config { target_ess: 0.5, tolerance, max_iterations: 10 };
        if !(tolerance > 0.0) {
            prop_assert!(matches!(tempering_exponent(&cfg, &lw), Err(Error::InvalidConfig(_))), "wrong outcome");
        }
    }

    #[test]
    fn tempered_ess_decreases_in_lambda(
        lw in prop::collection::vec(log_weight(), 1..40).prop_filter("has mass, no +inf", |lw|
            !lw.contains(&f32::INFINITY) && lw.iter().any(|x| x.is_finite())),
        a in 0.0f64..=1.0,
        b in 0.0f64..=1.0,
    ) {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let (e_lo, e_hi) = (ess_fraction_tempered(&lw, lo).unwrap(), ess_fraction_tempered(&lw, hi).unwrap());
        prop_assert!(e_lo.is_finite() && e_hi.is_finite());
        prop_assert!(e_lo >= e_hi * (1.0 - 1e-9), "ESS({lo}) = {e_lo} < ESS({hi}) = {e_hi}");
    }
}
