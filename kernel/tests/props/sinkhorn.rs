//! `metrics::sinkhorn`: duplicate points, identical clouds and degenerate ε.

use amortise_kernel::Error;
use amortise_kernel::metrics::sinkhorn::{
    MIN_EPSILON, SinkhornConfig, sinkhorn_divergence, sinkhorn_workspace_len,
};
use proptest::prelude::*;

use super::config;

/// A cloud of `n` points in `dim` dimensions drawn from a few distinct points (so that
/// duplicates are common), with coordinates of any moderate or large magnitude.
fn cloud(dim: usize) -> impl Strategy<Value = Vec<f32>> {
    (
        prop::collection::vec(
            prop_oneof![3 => -5.0f32..5.0, 1 => Just(0.0f32), 1 => -1e6f32..1e6],
            dim * 3,
        ),
        prop::collection::vec(0usize..3, 1..12),
    )
        .prop_map(move |(points, picks)| {
            picks
                .iter()
                .flat_map(|&k| points[k * dim..(k + 1) * dim].to_vec())
                .collect()
        })
}

fn run(
    x: &[f32],
    y: &[f32],
    dim: usize,
    cfg: &SinkhornConfig,
) -> Result<amortise_kernel::metrics::sinkhorn::SinkhornInfo, Error> {
    let d = dim.max(1);
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(x.len() / d, y.len() / d)];
    sinkhorn_divergence(x, y, dim, cfg, &mut ws)
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn duplicates_and_tiny_epsilon_give_finite_values(
        (dim, x, y) in (1usize..3).prop_flat_map(|d| (Just(d), cloud(d), cloud(d))),
        epsilon in prop_oneof![1e-3f64..10.0, Just(f64::MIN_POSITIVE), Just(1e-300), Just(MIN_EPSILON), Just(1e-20), Just(1e300)],
        max_iterations in 1u32..200,
    ) {
        let cfg = SinkhornConfig { epsilon, max_iterations, ..SinkhornConfig::default() };
        let res = run(&x, &y, dim, &cfg);
        if epsilon < MIN_EPSILON {
            prop_assert!(matches!(res, Err(Error::InvalidConfig(_))), "wrong outcome");
            return Ok(());
        }
        let info = res.unwrap();
        prop_assert!(info.divergence.is_finite(), "divergence {info:?}");
        prop_assert!(info.ot_xy.is_finite() && info.ot_xx.is_finite() && info.ot_yy.is_finite(), "{info:?}");
        prop_assert!(!info.final_error.is_nan());
        prop_assert!(info.iterations <= 3 * max_iterations);
    }

    #[test]
    fn a_cloud_against_itself_is_zero(
        (dim, x) in (1usize..3).prop_flat_map(|d| (Just(d), cloud(d))),
        epsilon in prop_oneof![Just(1e-3f64), 1e-2f64..1.0],
    ) {
        let cfg = SinkhornConfig { epsilon, ..SinkhornConfig::default() };
        let info = run(&x, &x, dim, &cfg).unwrap();
        prop_assert!(info.divergence.is_finite());
        if info.converged {
            // identical clouds: S_ε(a, a) = 0 up to the solver tolerance (relative to the scale)
            let scale: f64 = x.iter().map(|&v| (v as f64).abs()).fold(1.0, f64::max);
            prop_assert!(info.divergence.abs() <= 1e-2 * scale * scale * epsilon.max(1e-3) / 1e-3 * 1e-3 + 1e-3,
                "S(x, x) = {} for {info:?}", info.divergence);
        }
    }

    #[test]
    fn zero_negative_or_nan_epsilon_is_a_typed_error(
        epsilon in prop_oneof![Just(0.0f64), Just(-0.0), Just(-1e-3), Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
        x in cloud(2),
    ) {
        let cfg = SinkhornConfig { epsilon, ..SinkhornConfig::default() };
        prop_assert!(matches!(run(&x, &x, 2, &cfg), Err(Error::InvalidConfig(_))), "wrong outcome");
    }

    #[test]
    fn bad_clouds_are_typed_errors(
        x in cloud(2),
        bad in prop_oneof![Just(f32::NAN), Just(f32::INFINITY)],
        at in 0usize..24,
    ) {
        let cfg = SinkhornConfig { max_iterations: 20, ..SinkhornConfig::default() };
        let mut y = x.clone();
        let i = at % y.len();
        y[i] = bad;
        prop_assert!(matches!(run(&x, &y, 2, &cfg), Err(Error::NonFinite(_))), "wrong outcome");
        prop_assert!(matches!(run(&x, &[], 2, &cfg), Err(Error::Degenerate(_))), "wrong outcome");
        prop_assert!(matches!(run(&x[..x.len() - 1], &x, 2, &cfg), Err(Error::ShapeMismatch { .. })), "wrong outcome");
        prop_assert!(matches!(run(&x, &x, 0, &cfg), Err(Error::InvalidConfig(_))), "wrong outcome");
        let mut short = vec![0.0f64; 1];
        prop_assert!(matches!(sinkhorn_divergence(&x, &x, 2, &cfg, &mut short), Err(Error::ShapeMismatch { .. })), "wrong outcome");
    }
}
