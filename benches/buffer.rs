//! Criterion benches of the replay buffer (`kernel::buffer::ReplayBuffer`) at the paper's
//! capacity of 200,000 two-dimensional states (`rsmc.md` §2.1: 100 batches of 2000), filled
//! before timing: drawing one batch of 300 slot indices (the CLI's batch) by each priority
//! rule, and inserting one batch of 300 (the CLI's SMC particle count; the ring overwrites
//! the oldest entries). The rules: the RSMC importance-weight rule (temper all 200,000
//! stored log-weights to ESS 0.05, then systematic resampling; `λ < 1` here, checked), what
//! `tb-buffer` and `rsmc` draw with; the reward-ranked rule of gfn-diffusion (a sort of the
//! 200,000 rewards); uniform.
//!
//! Stored: states `20·N(0, 1)` (seed 1), log-weights and log-rewards `3·N(0, 1)` (seeds 3,
//! 2). Inserted: seeds 4 (states), 5 and 6; uniforms seed 7. Throughput is in batch entries
//! (`elem/s`).
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

    // The importance-weight draw tempers (λ < 1), as the RSMC buffer does with real weights.
    let info = buf
        .sample(
            Priority::ImportanceWeight { target_ess: 0.05 },
            &u,
            &mut weights,
            &mut order,
            &mut out,
        )
        .expect("sample");
    assert!(info.lambda < 1.0, "{info:?}");

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
