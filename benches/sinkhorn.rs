//! Criterion bench of the debiased Sinkhorn divergence (`kernel::metrics::sinkhorn`) between
//! two clouds of exact GMM40-2d samples (seeds 1 and 2) at the evaluation's `ε = 1e-3`.
//!
//! A converged solve at `ε = 1e-3` takes hundreds to thousands of iterations (up to the
//! default cap of 2000 per solve), which at 2000 × 2000 points is minutes: too slow for a
//! bench. So each solve is capped at [`ITERS`] iterations (`max_iterations`) with a
//! tolerance that is never reached: half of them ε-annealing from the squared diameter,
//! half at the target ε. The time is that of `3 · ITERS` iterations: `ITERS` of the cross
//! solve (two log-sum-exp passes over the `n × m` costs each, computed on the fly) and
//! `ITERS` of each symmetric solve (one pass each), `4 · ITERS` passes in all. A converged
//! evaluation costs about (its passes / `4 · ITERS`) times as much. Sizes: 500 × 500 and 2000 × 2000
//! (the evaluation's sample count).
//!
//! The paper's convention (ott-jax 0.4.6 defaults, `ε = 0.05 × mean cost`) runs to its own
//! stopping rule, as every evaluation does: 120 iterations over the three solves on these
//! 2000 × 2000 clouds, without the cost cache.
//!
//! `cargo bench --bench sinkhorn` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use amortise_kernel::metrics::sinkhorn::{
    SinkhornConfig, SinkhornConvention, divergence, sinkhorn_divergence, sinkhorn_workspace_len,
};
use amortise_kernel::rng::seeded;
use amortise_kernel::targets::{Gmm40, sample_batch};
use criterion::{Criterion, criterion_group, criterion_main};

/// Iterations per solve (three solves per divergence).
const ITERS: u32 = 6;

fn sinkhorn(c: &mut Criterion) {
    let target = Gmm40::new(2).expect("gmm40-2d");
    let cfg = SinkhornConfig {
        epsilon: 1e-3,
        tolerance: 1e-12,
        max_iterations: ITERS,
        ..SinkhornConfig::default()
    };
    let mut g = c.benchmark_group("sinkhorn");
    g.sample_size(10);
    for n in [500usize, 2000] {
        let mut x = vec![0.0f32; 2 * n];
        let mut y = vec![0.0f32; 2 * n];
        sample_batch(&target, &mut seeded(1), &mut x).expect("exact samples");
        sample_batch(&target, &mut seeded(2), &mut y).expect("exact samples");
        let mut ws = vec![0.0f64; sinkhorn_workspace_len(n, n)];
        // The capped run does exactly the iterations the name says.
        let info = sinkhorn_divergence(&x, &y, 2, &cfg, &mut ws).expect("valid clouds");
        assert_eq!(info.iterations, 3 * ITERS, "{info:?}");
        assert!(info.divergence.is_finite(), "{info:?}");
        g.bench_function(format!("eps1e-3/{n}x{n}/{ITERS}_iters_per_solve"), |b| {
            b.iter(|| {
                black_box(
                    sinkhorn_divergence(black_box(&x), black_box(&y), 2, &cfg, &mut ws)
                        .expect("valid clouds"),
                )
            })
        });
        if n == 2000 {
            let paper = SinkhornConvention::paper();
            let info = divergence(&x, &y, 2, &paper, &mut ws, None).expect("valid clouds");
            assert!(info.converged, "{info:?}");
            g.bench_function(format!("paper/{n}x{n}/{}_iters", info.iterations), |b| {
                b.iter(|| {
                    black_box(
                        divergence(black_box(&x), black_box(&y), 2, &paper, &mut ws, None)
                            .expect("valid clouds"),
                    )
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, sinkhorn);
criterion_main!(benches);
