//! Criterion benches of resampling (`kernel::smc::resample`) and of the adaptive weight
//! tempering that precedes it in SMC and in the replay buffer (`kernel::smc::temper`).
//!
//! `N` particles, `M = N` draws, for `N = 300` (the CLI's SMC particles and batch) and
//! `N = 2000` (the paper's). The weights are `exp(ℓ − max ℓ)` of log-weights `ℓ ~ 5·N(0, 1)`
//! (seed 1), so that a few particles carry most of the mass, as at an SMC resampling event
//! (the untempered ESS fraction is below the tempering target 0.05 at both sizes, so the
//! tempering benches bisect; checked); the uniforms are pre-drawn (seed 2): a bench times
//! the deterministic kernel only.
//! Throughput is in particles (`elem/s`).
//!
//! `cargo bench --bench resample` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use amortise_kernel::math;
use amortise_kernel::rng::{fill_standard_normal, seeded, uniform_f64};
use amortise_kernel::smc::resample::{Scheme, resample};
use amortise_kernel::smc::temper::{self, tempering_exponent};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SIZES: [usize; 2] = [300, 2000];

/// Log-weights `5·N(0, 1)` of `n` particles (seed 1).
fn log_weights(n: usize) -> Vec<f32> {
    let mut lw = vec![0.0f32; n];
    fill_standard_normal(&mut seeded(1), &mut lw);
    lw.iter_mut().for_each(|l| *l *= 5.0);
    lw
}

/// `exp(ℓ − max ℓ)`: positive weights with the largest equal to 1.
fn weights(lw: &[f32]) -> Vec<f32> {
    let m = lw.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    lw.iter().map(|&l| math::exp(l as f64 - m) as f32).collect()
}

fn schemes(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    for n in SIZES {
        let w = weights(&log_weights(n));
        let mut rng = seeded(2);
        let u: Vec<f64> = (0..n).map(|_| uniform_f64(&mut rng)).collect();
        let mut ancestors = vec![0u32; n];
        g.throughput(Throughput::Elements(n as u64));
        for (name, scheme) in [
            ("systematic", Scheme::Systematic),
            ("stratified", Scheme::Stratified),
            ("multinomial", Scheme::Multinomial),
        ] {
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| {
                    resample(scheme, black_box(&w), black_box(&u), &mut ancestors)
                        .expect("valid weights and uniforms");
                    black_box(&ancestors);
                })
            });
        }
    }
    g.finish();
}

/// The resampling event of the diffusion SMC (`samplers::diffusion::smc::run`) and of the
/// importance-weighted buffer draw: the tempering exponent `λ` for ESS fraction 0.05
/// (bisection), the tempered weights `exp(λ(ℓ − max ℓ))`, then systematic resampling.
fn temper_then_resample(c: &mut Criterion) {
    let mut g = c.benchmark_group("temper_resample");
    let cfg = temper::Config {
        target_ess: 0.05,
        ..temper::Config::default()
    };
    for n in SIZES {
        let lw = log_weights(n);
        let mut w = vec![0.0f32; n];
        let mut ancestors = vec![0u32; n];
        let u = [uniform_f64(&mut seeded(2))];
        let info = tempering_exponent(&cfg, &lw).expect("finite");
        assert!(
            info.ess_fraction_untempered < cfg.target_ess && info.iterations > 0 && info.converged,
            "the tempering bench must bisect: {info:?}"
        );
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("tempering_exponent/{n}"), |b| {
            b.iter(|| black_box(tempering_exponent(&cfg, black_box(&lw)).expect("finite")))
        });
        g.bench_function(format!("systematic/{n}"), |b| {
            b.iter(|| {
                let lambda = tempering_exponent(&cfg, black_box(&lw))
                    .expect("finite")
                    .lambda;
                let m = lw.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                for (wi, &l) in w.iter_mut().zip(&lw) {
                    *wi = math::exp(lambda * (l as f64 - m)) as f32;
                }
                resample(Scheme::Systematic, &w, &u, &mut ancestors).expect("valid");
                black_box(&ancestors);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, schemes, temper_then_resample);
criterion_main!(benches);
