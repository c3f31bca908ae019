//! `smc::resample`: ancestors and offspring counts for every scheme and weight vector.

use amortise_kernel::Error;
use amortise_kernel::smc::resample::{Scheme, offspring_counts, resample};
use proptest::prelude::*;

use super::{CASES, config};

/// A non-negative finite weight, zeros and extreme magnitudes included.
fn weight() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => 0.0f32..1.0,
        2 => Just(0.0f32),
        1 => prop::num::f32::POSITIVE | prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL,
        1 => Just(f32::MAX),
        1 => Just(f32::MIN_POSITIVE),
    ]
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Systematic),
        Just(Scheme::Stratified),
        Just(Scheme::Multinomial)
    ]
}

/// `[0, 1)` uniforms, including the end points `0` and `1 − 2⁻⁵³`.
fn uniform() -> impl Strategy<Value = f64> {
    prop_oneof![4 => 0.0f64..1.0, 1 => Just(0.0), 1 => Just(1.0 - f64::EPSILON / 2.0)]
}

fn with_mass(w: &[f32]) -> bool {
    w.iter().any(|&x| x > 0.0)
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn ancestors_are_sorted_live_indices_and_counts_sum_to_m(
        w in prop::collection::vec(weight(), 1..40).prop_filter("some mass", |w| with_mass(w)),
        m in 0usize..80,
        scheme in scheme(),
        u in prop::collection::vec(uniform(), 80),
    ) {
        let mut anc = vec![u32::MAX; m];
        resample(scheme, &w, &u, &mut anc).unwrap();
        for pair in anc.windows(2) {
            prop_assert!(pair[0] <= pair[1], "ancestors not sorted: {anc:?}");
        }
        for &a in &anc {
            prop_assert!((a as usize) < w.len());
            prop_assert!(w[a as usize] > 0.0, "drew index {a} of zero weight");
        }
        let mut counts = vec![0u32; w.len()];
        offspring_counts(&anc, &mut counts).unwrap();
        prop_assert_eq!(counts.iter().map(|&c| c as usize).sum::<usize>(), m);
    }

    #[test]
    fn systematic_counts_are_floor_or_ceil_of_m_w(
        w in prop::collection::vec(weight(), 1..40).prop_filter("some mass", |w| with_mass(w)),
        m in 1usize..200,
        u in uniform(),
    ) {
        let mut anc = vec![0u32; m];
        resample(Scheme::Systematic, &w, &[u], &mut anc).unwrap();
        let mut counts = vec![0u32; w.len()];
        offspring_counts(&anc, &mut counts).unwrap();
        let total: f64 = w.iter().map(|&x| x as f64).sum();
        for (i, (&c, &wi)) in counts.iter().zip(&w).enumerate() {
            let expect = m as f64 * wi as f64 / total;
            // exact arithmetic gives floor or ceil; allow f64 rounding at integer boundaries
            let (lo, hi) = ((expect - 1e-9).floor(), (expect + 1e-9).ceil());
            prop_assert!(
                (c as f64) >= lo && (c as f64) <= hi,
                "particle {i}: {c} offspring, M·w = {expect}"
            );
        }
    }

    #[test]
    fn stratified_counts_are_within_two_of_m_w(
        w in prop::collection::vec(weight(), 1..30).prop_filter("some mass", |w| with_mass(w)),
        u in prop::collection::vec(uniform(), 100),
        m in 1usize..100,
    ) {
        let mut anc = vec![0u32; m];
        resample(Scheme::Stratified, &w, &u, &mut anc).unwrap();
        let mut counts = vec![0u32; w.len()];
        offspring_counts(&anc, &mut counts).unwrap();
        let total: f64 = w.iter().map(|&x| x as f64).sum();
        for (&c, &wi) in counts.iter().zip(&w) {
            let expect = m as f64 * wi as f64 / total;
            prop_assert!((c as f64 - expect).abs() < 2.0 + 1e-9, "{c} vs {expect}");
        }
    }

    #[test]
    fn bad_weights_and_uniforms_are_typed_errors(
        w in prop::collection::vec(prop_oneof![weight(), Just(-1.0f32), Just(f32::NAN), Just(f32::INFINITY), Just(-0.0f32)], 0..20),
        scheme in scheme(),
        m in 0usize..10,
        u in prop::collection::vec(prop_oneof![uniform(), Just(1.0f64), Just(-0.5), Just(f64::NAN)], 0..12),
    ) {
        let mut anc = vec![0u32; m];
        let res = resample(scheme, &w, &u, &mut anc);
        let bad_w = w.iter().any(|&x| !(x >= 0.0) || x == f32::INFINITY);
        let needed = scheme.uniforms_needed(m);
        match res {
            Ok(()) => {
                prop_assert!(!bad_w && with_mass(&w));
                prop_assert!(u.len() >= needed && u[..needed].iter().all(|x| (0.0..1.0).contains(x)));
            }
            Err(Error::NonFinite(_)) => prop_assert!(bad_w),
            Err(Error::Degenerate(_)) => prop_assert!(!bad_w && !with_mass(&w)),
            Err(Error::ShapeMismatch { .. }) => prop_assert!(u.len() < needed),
            Err(Error::InvalidConfig(_)) => prop_assert!(u[..needed].iter().any(|x| !(0.0..1.0).contains(x))),
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    #[test]
    fn offspring_counts_reject_out_of_range_ancestors(anc in prop::collection::vec(0u32..12, 0..30), n in 0usize..12) {
        let mut counts = vec![7u32; n];
        match offspring_counts(&anc, &mut counts) {
            Ok(()) => {
                prop_assert!(anc.iter().all(|&a| (a as usize) < n));
                prop_assert_eq!(counts.iter().sum::<u32>() as usize, anc.len());
            }
            Err(Error::ShapeMismatch { .. }) => prop_assert!(anc.iter().any(|&a| a as usize >= n)),
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
