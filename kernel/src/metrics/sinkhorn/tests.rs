#![cfg(test)]
//! Unit tests of the Sinkhorn divergence (both conventions).

extern crate std;
use super::*;
use crate::rng::{fill_standard_normal, seeded, uniform_f32};
use std::vec;
use std::vec::Vec;

#[test]
fn the_cost_cache_gives_the_same_bits() {
    let mut r = seeded(17);
    for &(n, m, dim) in &[
        (7usize, 5usize, 1usize),
        (40, 33, 2),
        (25, 31, 5),
        (30, 20, 32),
    ] {
        let mut x = vec![0.0f32; n * dim];
        let mut y = vec![0.0f32; m * dim];
        fill_standard_normal(&mut r, &mut x);
        fill_standard_normal(&mut r, &mut y);
        y.iter_mut().for_each(|v| *v = 0.7 * *v + 0.5);
        let cfg = SinkhornConfig {
            epsilon: 1e-2,
            ..SinkhornConfig::default()
        };
        let mut ws = vec![0.0f64; sinkhorn_workspace_len(n, m)];
        let plain = sinkhorn_divergence(&x, &y, dim, &cfg, &mut ws).unwrap();
        let mut cache = vec![f64::NAN; sinkhorn_cost_cache_len(n, m)];
        let cached = sinkhorn_divergence_cached(&x, &y, dim, &cfg, &mut ws, &mut cache).unwrap();
        assert_eq!(
            plain.divergence.to_bits(),
            cached.divergence.to_bits(),
            "{n} {m} {dim}"
        );
        assert_eq!(plain.ot_xy.to_bits(), cached.ot_xy.to_bits());
        assert_eq!(plain.ot_xx.to_bits(), cached.ot_xx.to_bits());
        assert_eq!(plain.ot_yy.to_bits(), cached.ot_yy.to_bits());
        assert_eq!(plain.iterations, cached.iterations);
        assert!(
            plain.iterations > 3,
            "the solves must iterate for this to test anything"
        );
        let mut short = vec![0.0f64; sinkhorn_cost_cache_len(n, m) - 1];
        assert!(matches!(
            sinkhorn_divergence_cached(&x, &y, dim, &cfg, &mut ws, &mut short),
            Err(Error::ShapeMismatch { .. })
        ));
    }
    assert_eq!(sinkhorn_cost_cache_len(3, 10), 100);
    assert_eq!(sinkhorn_cost_cache_len(10, 8), 160);
    assert_eq!(sinkhorn_cost_cache_len(usize::MAX, 2), usize::MAX);
}

fn run(x: &[f32], y: &[f32], dim: usize, cfg: &SinkhornConfig) -> SinkhornInfo {
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(x.len() / dim, y.len() / dim)];
    sinkhorn_divergence(x, y, dim, cfg, &mut ws).unwrap()
}

fn uniform_cloud(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut rng = seeded(seed);
    (0..len).map(|_| scale * uniform_f32(&mut rng)).collect()
}

#[test]
fn identical_clouds_give_zero() {
    let x = uniform_cloud(1, 2 * 100, 1.0);
    let info = run(&x, &x, 2, &SinkhornConfig::default());
    assert!(info.converged, "{info:?}");
    assert!(info.divergence.abs() < 1e-5, "{info:?}");
}

#[test]
fn translation_gives_squared_shift_exactly() {
    // OT_ε(X, X + v) = OT_ε(X, X) + ‖v‖² for every ε (the cross term is separable), so
    // S_ε = ‖v‖² exactly, whatever ε.
    let x = uniform_cloud(2, 2 * 150, 1.0);
    let v = [0.3f32, -0.2];
    let y: Vec<f32> = x
        .chunks_exact(2)
        .flat_map(|p| [p[0] + v[0], p[1] + v[1]])
        .collect();
    let want = (v[0] as f64).powi(2) + (v[1] as f64).powi(2);
    for eps in [1e-3, 1e-2, 1.0] {
        let cfg = SinkhornConfig {
            epsilon: eps,
            tolerance: 1e-4,
            max_iterations: 50_000,
            ..SinkhornConfig::default()
        };
        let info = run(&x, &y, 2, &cfg);
        assert!(info.converged, "{info:?}");
        assert!(
            (info.divergence - want).abs() < 2e-4,
            "eps {eps}: {} vs {want}",
            info.divergence
        );
    }
}

#[test]
fn one_dimensional_limit_is_sorted_matching() {
    let n = 60;
    let mut x = uniform_cloud(5, n, 1.0);
    let mut y: Vec<f32> = uniform_cloud(6, n, 1.0).iter().map(|v| v * v).collect();
    let cfg = SinkhornConfig {
        tolerance: 1e-4,
        max_iterations: 50_000,
        ..SinkhornConfig::default()
    };
    let info = run(&x, &y, 1, &cfg);
    x.sort_by(f32::total_cmp);
    y.sort_by(f32::total_cmp);
    let w2: f64 = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        / n as f64;
    assert!(info.converged, "{info:?}");
    assert!(
        (info.divergence - w2).abs() < 0.05 * w2,
        "S = {}, W2² = {w2}",
        info.divergence
    );
}

#[test]
fn symmetric_and_non_negative() {
    let mut rng = seeded(9);
    let mut x = vec![0.0f32; 2 * 80];
    let mut y = vec![0.0f32; 2 * 70];
    fill_standard_normal(&mut rng, &mut x);
    fill_standard_normal(&mut rng, &mut y);
    for v in y.iter_mut() {
        *v = 1.5 * *v + 0.5;
    }
    let cfg = SinkhornConfig {
        tolerance: 1e-4,
        max_iterations: 50_000,
        ..SinkhornConfig::default()
    };
    let ab = run(&x, &y, 2, &cfg);
    let ba = run(&y, &x, 2, &cfg);
    assert!(ab.converged && ba.converged);
    assert!(ab.divergence > 0.1, "{ab:?}");
    assert!((ab.divergence - ba.divergence).abs() < 1e-4 * ab.divergence.abs().max(1.0));
    assert!((ab.ot_xx - ba.ot_yy).abs() < 1e-6);
}

#[test]
fn large_costs_small_epsilon_stay_finite() {
    // GMM40-like coordinates in [-45, 45]: costs up to ~1.6e4 with ε = 1e-3.
    let x = uniform_cloud(7, 3 * 50, 90.0);
    let x: Vec<f32> = x.iter().map(|v| v - 45.0).collect();
    let y: Vec<f32> = x.iter().map(|v| v + 1.0).collect();
    let info = run(&x, &y, 3, &SinkhornConfig::default());
    assert!(info.divergence.is_finite());
    assert!((info.divergence - 3.0).abs() < 1e-2, "{info:?}");
}

fn target_cloud<T: crate::targets::LogDensity>(t: &T, seed: u64, n: usize) -> Vec<f32> {
    let d = t.dim();
    let mut rng = seeded(seed);
    let mut v = vec![0.0f32; n * d];
    for c in v.chunks_exact_mut(d) {
        t.sample(&mut rng, c).unwrap();
    }
    v
}

#[test]
fn gmm40_small_epsilon_converges_with_defaults() {
    // 200 + 200 GMM40-2d samples at ε = 1e-3: the old one-iteration-per-level schedule
    // stalled here (L1 error 0.06 after 2·10⁵ iterations, S = 55.80); the annealed solver
    // converges, and a tighter tolerance gives the same value.
    let g = crate::targets::Gmm40::new(2).unwrap();
    let x = target_cloud(&g, 1, 200);
    let y = target_cloud(&g, 2, 200);
    let info = run(&x, &y, 2, &SinkhornConfig::default());
    assert!(info.converged, "{info:?}");
    assert!(info.iterations < 2000, "{info:?}");
    let tight = SinkhornConfig {
        tolerance: 1e-6,
        ..SinkhornConfig::default()
    };
    let info2 = run(&x, &y, 2, &tight);
    assert!(info2.converged, "{info2:?}");
    assert!((info.divergence - 60.1222).abs() < 1e-3, "{info:?}");
    assert!(
        (info.divergence - info2.divergence).abs() < 1e-4,
        "{info2:?}"
    );
    // Self terms at ε → 0: the identity plan, KL = ln n.
    assert!((info.ot_xx - 1e-3 * (200f64).ln()).abs() < 1e-6, "{info:?}");
}

#[test]
fn matches_previous_implementation_where_it_converged() {
    // Reference: the previous solver (ε halved every iteration, then plain Sinkhorn) run to
    // L1 error 1e-5 on these clouds: S = 0.1167988253.
    let mut rng = seeded(4);
    let mut x = vec![0.0f32; 2 * 200];
    fill_standard_normal(&mut rng, &mut x);
    let mut rng = seeded(5);
    let mut y = vec![0.0f32; 2 * 200];
    fill_standard_normal(&mut rng, &mut y);
    let info = run(&x, &y, 2, &SinkhornConfig::default());
    assert!(info.converged, "{info:?}");
    assert!((info.divergence - 0.116_798_825_3).abs() < 1e-5, "{info:?}");
}

#[test]
fn cap_is_reported_not_an_error() {
    let x = uniform_cloud(3, 40, 1.0);
    let y = uniform_cloud(4, 40, 1.0);
    let cfg = SinkhornConfig {
        max_iterations: 3,
        ..SinkhornConfig::default()
    };
    let info = run(&x, &y, 2, &cfg);
    assert!(!info.converged);
    assert_eq!(info.iterations, 9);
}

#[test]
fn validation() {
    let x = [0.0f32; 6];
    let mut ws = [0.0f64; 64];
    let c = SinkhornConfig::default();
    assert!(matches!(
        sinkhorn_divergence(&x, &x[..5], 2, &c, &mut ws),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        sinkhorn_divergence(&x, &x, 0, &c, &mut ws),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        sinkhorn_divergence(&x, &[], 2, &c, &mut ws),
        Err(Error::Degenerate(_))
    ));
    assert!(matches!(
        sinkhorn_divergence(&x, &x, 2, &c, &mut ws[..5]),
        Err(Error::ShapeMismatch { .. })
    ));
    let bad = SinkhornConfig { epsilon: 0.0, ..c };
    assert!(matches!(
        sinkhorn_divergence(&x, &x, 2, &bad, &mut ws),
        Err(Error::InvalidConfig(_))
    ));
    let bad = SinkhornConfig {
        level_tolerance: f64::NAN,
        ..c
    };
    assert!(matches!(
        sinkhorn_divergence(&x, &x, 2, &bad, &mut ws),
        Err(Error::InvalidConfig(_))
    ));
    let nan = [0.0f32, f32::NAN];
    assert!(matches!(
        sinkhorn_divergence(&nan, &x, 2, &c, &mut ws),
        Err(Error::NonFinite(_))
    ));
    assert_eq!(sinkhorn_workspace_len(3, 5), 26);
}

/// Regressions (property tests): huge scores `(g − C)/ε` (tiny ε or far-apart points)
/// gave a NaN divergence; a ragged cloud shorter than one point was called empty.
#[test]
fn tiny_epsilon_is_rejected_and_ragged_clouds_are_shape_errors() {
    let (x, y) = ([0.0f32], [-1.953_856_8f32]);
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(1, 1)];
    for eps in [f64::MIN_POSITIVE, 1e-300, 9.9e-31] {
        let c = SinkhornConfig {
            epsilon: eps,
            ..SinkhornConfig::default()
        };
        assert!(matches!(
            sinkhorn_divergence(&x, &y, 1, &c, &mut ws),
            Err(Error::InvalidConfig(_))
        ));
    }
    let c = SinkhornConfig {
        epsilon: MIN_EPSILON,
        max_iterations: 200,
        ..SinkhornConfig::default()
    };
    let info = sinkhorn_divergence(&x, &y, 1, &c, &mut ws).unwrap();
    assert!(info.divergence.is_finite(), "{info:?}");
    // scores beyond 2^58 at the default ε: the log-sum-exp used to skip its own maximum
    let far = [1e9f32];
    let info = sinkhorn_divergence(&x, &far, 1, &SinkhornConfig::default(), &mut ws).unwrap();
    assert!(info.divergence.is_finite(), "{info:?}");
    assert!((info.divergence - 1e18).abs() < 1e18 * 1e-6, "{info:?}");
    assert!(matches!(
        sinkhorn_divergence(&[0.0], &[0.0, 1.0], 2, &c, &mut ws),
        Err(Error::ShapeMismatch { .. })
    ));
}

/// Timing: `cargo test --release -p amortise-kernel sinkhorn_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn sinkhorn_timing_2000x2000_2d() {
    let n = 2000;
    let mut rng = seeded(42);
    let mut x = vec![0.0f32; 2 * n];
    let mut y = vec![0.0f32; 2 * n];
    fill_standard_normal(&mut rng, &mut x);
    fill_standard_normal(&mut rng, &mut y);
    // Spread like GMM40 (modes in [-40, 40]).
    for (i, v) in x.iter_mut().enumerate() {
        *v += ((i * 7919) % 81) as f32 - 40.0;
    }
    for (i, v) in y.iter_mut().enumerate() {
        *v += ((i * 104_729) % 81) as f32 - 40.0;
    }
    let t = std::time::Instant::now();
    let info = run(&x, &y, 2, &SinkhornConfig::default());
    std::println!("gmm-like: {:?} in {:?}", info, t.elapsed());
    let mut g1 = vec![0.0f32; 2 * n];
    let mut g2 = vec![0.0f32; 2 * n];
    fill_standard_normal(&mut rng, &mut g1);
    fill_standard_normal(&mut rng, &mut g2);
    let t = std::time::Instant::now();
    let info = run(&g1, &g2, 2, &SinkhornConfig::default());
    std::println!("gaussians: {:?} in {:?}", info, t.elapsed());
    let gm = crate::targets::Gmm40::new(2).unwrap();
    let (a, b) = (target_cloud(&gm, 1, n), target_cloud(&gm, 2, n));
    let t = std::time::Instant::now();
    let info = run(&a, &b, 2, &SinkhornConfig::default());
    std::println!("gmm40 gt/gt: {:?} in {:?}", info, t.elapsed());
    let mw = crate::targets::ManyWell::new(32).unwrap();
    let (a, b) = (target_cloud(&mw, 6, n), target_cloud(&mw, 7, n));
    let t = std::time::Instant::now();
    let info = run(&a, &b, 32, &SinkhornConfig::default());
    std::println!("manywell32 gt/gt: {:?} in {:?}", info, t.elapsed());
}
