//! Criterion benches of the replay buffer (`kernel::buffer::ReplayBuffer`) at the paper's
//! capacity of 200,000 states of GMM40-2d (`rsmc.md` §2.1: 100 batches of 2000), filled
//! before timing: inserting one batch of 300 (the CLI's batch and SMC particle count; the
//! ring overwrites the oldest entries) and drawing one batch of 300 slot indices by each
//! priority rule — the RSMC importance-weight rule (tempering all 200,000 stored
//! log-weights to ESS 0.05, then systematic resampling; what `tb-buffer` and `rsmc` draw
//! with), the reward-ranked rule of gfn-diffusion (a sort of the 200,000 rewards) and
//! uniform.
//!
//! The stored states are `N(0, 20²)` points (seed 1), log-rewards and log-weights
//! `3·N(0, 1)` (seeds 2, 3); the inserted batch and the uniforms are fixed (seeds 4, 5).
//! Throughput is in batch entries (`elem/s`).
//!
//! `cargo bench --bench buffer` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use amortise_kernel::buffer::{Priority, ReplayBuffer};
use amortise_kernel::rng::{fill_standard_normal, seeded, uniform_f64};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CAPACITY: usize = 200_000;
const DIM: usize = 2;
const BATCH: usize = 300;

fn normal(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    let mut v = vec![0.0f32; n];
    fill_standard_normal(&mut seeded(seed), &mut v);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

fn buffer(c: &mut Criterion) {
    let mut states = vec![0.0f32; CAPACITY * DIM];
    let mut log_w = vec![0.0f32; CAPACITY];
    let mut log_r = vec![0.0f32; CAPACITY];
    let mut buf = ReplayBuffer::new(DIM, &mut states, &mut log_w, &mut log_r).expect("buffer");
    buf.insert(
        &normal(CAPACITY * DIM, 20.0, 1),
        &normal(CAPACITY, 3.0, 3),
        &normal(CAPACITY, 3.0, 2),
    )
    .expect("fill");
    assert_eq!(buf.len(), CAPACITY);

    let xs = normal(BATCH * DIM, 20.0, 4);
    let (bw, br) = (normal(BATCH, 3.0, 5), normal(BATCH, 3.0, 6));
    let mut rng = seeded(7);
    let u: Vec<f64> = (0..BATCH).map(|_| uniform_f64(&mut rng)).collect();
    let mut weights = vec![0.0f32; ReplayBuffer::scratch_len(CAPACITY)];
    let mut order = vec![0u32; ReplayBuffer::scratch_len(CAPACITY)];
    let mut out = vec![0u32; BATCH];

    let mut g = c.benchmark_group("buffer");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, priority) in [
        ("sample_iw", Priority::ImportanceWeight { target_ess: 0.05 }),
        ("sample_rank", Priority::RewardRank { rank_weight: 0.01 }),
        ("sample_uniform", Priority::Uniform),
    ] {
        g.bench_function(format!("{name}/{BATCH}/cap{CAPACITY}"), |b| {
            b.iter(|| {
                black_box(
                    buf.sample(priority, black_box(&u), &mut weights, &mut order, &mut out)
                        .expect("sample"),
                );
                black_box(&out);
            })
        });
    }
    // Last: the repeated inserts fill the ring with copies of one batch, which would change
    // what the draws above work on.
    g.bench_function(format!("insert/{BATCH}/cap{CAPACITY}"), |b| {
        b.iter(|| {
            buf.insert(black_box(&xs), black_box(&bw), black_box(&br))
                .expect("insert");
        })
    });
    g.finish();
}

criterion_group!(benches, buffer);
criterion_main!(benches);
