#![cfg(test)]
//! Unit tests of the paper convention (ott-jax 0.4.6 defaults). The full comparison with ott,
//! in float32 and float64 on larger clouds, is `tests/ott_sinkhorn.rs`.

extern crate std;
use super::*;
use crate::rng::{fill_standard_normal, seeded};
use std::vec;
use std::vec::Vec;

fn run_with(x: &[f32], y: &[f32], dim: usize, cfg: PaperConfig) -> Result<SinkhornInfo, Error> {
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(x.len() / dim, y.len() / dim)];
    divergence(x, y, dim, &SinkhornConvention::Paper(cfg), &mut ws, None)
}

fn run(x: &[f32], y: &[f32], dim: usize) -> SinkhornInfo {
    run_with(x, y, dim, PaperConfig::default()).unwrap()
}

fn normal_cloud(seed: u64, n: usize, dim: usize, scale: f32, shift: f32) -> Vec<f32> {
    let mut v = vec![0.0f32; n * dim];
    fill_standard_normal(&mut seeded(seed), &mut v);
    v.iter_mut().for_each(|x| *x = scale * *x + shift);
    v
}

/// The `tiny_2d` case of `tests/fixtures/ott_sinkhorn.json`: ott-jax 0.4.6 with x64 gives
/// divergence 1.9322547729516242, ε = 0.27375, reg_ot_costs (2.3417092606458727,
/// 0.4394266703178741, 0.3794823050706231) after 30 + 10 + 10 iterations.
#[test]
fn tiny_case_matches_ott_float64() {
    let x = [0.0f32, 0.0, 1.0, 0.5, 2.0, -1.0, -1.5, 0.5, 0.5, 2.0];
    let y = [0.5f32, 0.0, 3.0, 1.0, -1.0, -1.0, 1.0, 1.5];
    let info = run(&x, &y, 2);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * b.abs();
    assert!(close(info.divergence, 1.932_254_772_951_624_2), "{info:?}");
    assert!(close(info.epsilon, 0.273_75), "{info:?}");
    assert!(close(info.ot_xy, 2.341_709_260_645_872_7), "{info:?}");
    assert!(close(info.ot_xx, 0.439_426_670_317_874_1), "{info:?}");
    assert!(close(info.ot_yy, 0.379_482_305_070_623_1), "{info:?}");
    assert_eq!(info.iterations, 50);
    assert!(info.converged);
}

#[test]
fn epsilon_is_five_percent_of_the_mean_cross_cost() {
    let x = normal_cloud(1, 37, 3, 2.0, 10.0);
    let y = normal_cloud(2, 23, 3, 0.5, -4.0);
    let mut brute = 0.0f64;
    for p in x.chunks_exact(3) {
        for q in y.chunks_exact(3) {
            brute += p
                .iter()
                .zip(q)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum::<f64>();
        }
    }
    brute /= (37 * 23) as f64;
    let mc = mean_cost(&x, &y, 3).unwrap();
    assert!((mc - brute).abs() < 1e-12 * brute, "{mc} vs {brute}");
    let info = run(&x, &y, 3);
    assert!((info.epsilon - 0.05 * mc).abs() < 1e-15 * mc, "{info:?}");
}

#[test]
fn stops_only_after_whole_blocks_and_rounds_the_cap_up() {
    let x = normal_cloud(3, 40, 2, 1.0, 0.0);
    let y = normal_cloud(4, 30, 2, 1.5, 0.7);
    let info = run(&x, &y, 2);
    assert!(info.converged && info.final_error < 1e-3, "{info:?}");
    assert_eq!(info.iterations % 10, 0, "{info:?}");
    // an unreachable threshold: each solve runs to the cap, 15 rounded up to 20
    let capped = PaperConfig {
        threshold: 1e-300,
        max_iterations: 15,
        ..PaperConfig::default()
    };
    let info = run_with(&x, &y, 2, capped).unwrap();
    assert_eq!(info.iterations, 60, "{info:?}");
    assert!(!info.converged && info.final_error > 0.0, "{info:?}");
    // checking every iteration can only stop earlier, never later
    let every = PaperConfig {
        inner_iterations: 1,
        ..PaperConfig::default()
    };
    let early = run_with(&x, &y, 2, every).unwrap();
    assert!(early.converged, "{early:?}");
    assert!(early.iterations < run(&x, &y, 2).iterations, "{early:?}");
}

#[test]
fn run_to_convergence_it_agrees_with_the_converged_convention_at_the_same_epsilon() {
    // Both conventions solve the same problem at the same ε; only the stopping rule differs.
    let x = normal_cloud(5, 60, 2, 1.0, 0.0);
    let y = normal_cloud(6, 50, 2, 2.0, 1.0);
    let tight = PaperConfig {
        threshold: 1e-10,
        max_iterations: 100_000,
        ..PaperConfig::default()
    };
    let p = run_with(&x, &y, 2, tight).unwrap();
    assert!(p.converged, "{p:?}");
    let cfg = SinkhornConfig {
        epsilon: p.epsilon,
        tolerance: 1e-10,
        max_iterations: 100_000,
        ..SinkhornConfig::default()
    };
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(60, 50)];
    let c = sinkhorn_divergence(&x, &y, 2, &cfg, &mut ws).unwrap();
    assert!(c.converged, "{c:?}");
    assert!((p.divergence - c.divergence).abs() < 1e-8, "{p:?} vs {c:?}");
    // and ott's default threshold stops close to it
    let d = run(&x, &y, 2);
    assert!(
        (d.divergence - p.divergence).abs() < 1e-2 * p.divergence,
        "{d:?} vs {p:?}"
    );
}

#[test]
fn identical_clouds_give_almost_zero() {
    let x = normal_cloud(7, 80, 2, 3.0, 0.0);
    let info = run(&x, &x, 2);
    assert!(info.converged, "{info:?}");
    // the cross and self solves stop at different iterates, within the threshold of each
    assert!(info.divergence.abs() < 1e-3 * info.epsilon, "{info:?}");
}

#[test]
fn the_cost_cache_gives_the_same_bits() {
    let x = normal_cloud(8, 33, 4, 1.0, 0.0);
    let y = normal_cloud(9, 41, 4, 0.8, 0.3);
    let conv = SinkhornConvention::paper();
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(33, 41)];
    let plain = divergence(&x, &y, 4, &conv, &mut ws, None).unwrap();
    let mut cache = vec![f64::NAN; sinkhorn_cost_cache_len(33, 41)];
    let cached = divergence(&x, &y, 4, &conv, &mut ws, Some(&mut cache)).unwrap();
    assert_eq!(plain, cached);
}

#[test]
fn validation() {
    let x = [0.0f32, 1.0, 2.0, 3.0];
    let bad = |cfg: PaperConfig| matches!(run_with(&x, &x, 2, cfg), Err(Error::InvalidConfig(_)));
    let d = PaperConfig::default();
    assert!(bad(PaperConfig {
        relative_epsilon: 0.0,
        ..d
    }));
    assert!(bad(PaperConfig {
        relative_epsilon: f64::INFINITY,
        ..d
    }));
    assert!(bad(PaperConfig {
        threshold: f64::NAN,
        ..d
    }));
    assert!(bad(PaperConfig {
        inner_iterations: 0,
        ..d
    }));
    assert!(bad(PaperConfig {
        max_iterations: 0,
        ..d
    }));
    // one repeated point on both sides: zero mean cost, so ε would be zero
    let same = [1.5f32, -2.0, 1.5, -2.0];
    assert!(matches!(
        run_with(&same, &same[..2], 2, d),
        Err(Error::Degenerate(_))
    ));
    let mut short = [0.0f64; 3];
    let conv = SinkhornConvention::paper();
    assert!(matches!(
        divergence(&x, &x, 2, &conv, &mut short, None),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        divergence(&x, &x[..3], 2, &conv, &mut [0.0; 64], None),
        Err(Error::ShapeMismatch { .. })
    ));
    assert_eq!(
        SinkhornConvention::default(),
        SinkhornConvention::converged()
    );
    assert!(SinkhornConvention::paper().validate().is_ok());
}

/// Timing of the paper convention on 2000 + 2000 exact GMM40-2d samples, uncached and with
/// the cost cache the CLI uses:
/// `cargo test --release -p amortise-kernel paper_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn paper_timing_2000x2000_gmm40_2d() {
    let g = crate::targets::Gmm40::new(2).unwrap();
    let n = 2000;
    let mut x = vec![0.0f32; 2 * n];
    let mut y = vec![0.0f32; 2 * n];
    crate::targets::sample_batch(&g, &mut seeded(1), &mut x).unwrap();
    crate::targets::sample_batch(&g, &mut seeded(2), &mut y).unwrap();
    let conv = SinkhornConvention::paper();
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(n, n)];
    let mut cache = vec![0.0f64; sinkhorn_cost_cache_len(n, n)];
    for cached in [false, true] {
        let t = std::time::Instant::now();
        let c = cached.then_some(cache.as_mut_slice());
        let info = divergence(&x, &y, 2, &conv, &mut ws, c).unwrap();
        std::println!("cached {cached}: {info:?} in {:?}", t.elapsed());
    }
}
