//! Criterion benches of the kernel's hot paths on the PIS policy network (the PyTorch
//! reference workload, `pytorch-tb/README.md`): forward + backward at batch 300 and 2000,
//! one Adam step over its 21,252 parameters, and GELU over a `300 × 64` activation.
//!
//! Run with `cargo bench --bench mlp -- --quick`. Matmul FLOPs per forward + backward step
//! are `51,200·B + 73,728` (the reference count); criterion reports them as elements
//! (`Throughput::Elements`), so "elem/s" reads as FLOP/s.

use std::hint::black_box;

use amortise_kernel::nn::{Activation, LastLayerInit};
use amortise_kernel::optim::adam::{self, AdamConfig, AdamState};
use amortise_kernel::rng::{fill_standard_normal, seeded};
use amortise_kernel::samplers::diffusion::net::PisNet;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Reference matmul FLOPs of one forward + backward step of the PIS policy on `b` rows.
fn step_flops(b: usize) -> u64 {
    51_200 * b as u64 + 73_728
}

fn pis_fwd_bwd(c: &mut Criterion) {
    let net = PisNet::new(2, 64, 64, 4).expect("valid sizes");
    let mut g = c.benchmark_group("pis");
    for batch in [300usize, 2000] {
        let mut rng = seeded(7);
        let mut params = vec![0.0f32; net.param_count()];
        // default (non-zero) last layer so every product does real work
        net.init(&mut params, LastLayerInit::Default, &mut rng)
            .expect("init");
        let mut x = vec![0.0f32; batch * net.dim()];
        fill_standard_normal(&mut rng, &mut x);
        let mut dout = vec![0.0f32; batch * net.out()];
        fill_standard_normal(&mut rng, &mut dout);
        let mut cache = vec![0.0f32; net.cache_len(batch)];
        let mut scratch = vec![0.0f32; net.scratch_len(batch)];
        let mut out = vec![0.0f32; batch * net.out()];
        let mut grads = vec![0.0f32; net.param_count()];
        g.throughput(Throughput::Elements(net.forward_matmul_flops(batch)));
        g.bench_function(format!("forward/{batch}"), |bch| {
            bch.iter(|| {
                net.forward(
                    black_box(&params),
                    black_box(&x),
                    batch,
                    0.37,
                    &mut cache,
                    &mut scratch,
                    &mut out,
                )
                .expect("forward");
                black_box(&out);
            })
        });
        g.throughput(Throughput::Elements(step_flops(batch)));
        g.bench_function(format!("fwd_bwd/{batch}"), |bch| {
            bch.iter(|| {
                net.forward(
                    black_box(&params),
                    black_box(&x),
                    batch,
                    0.37,
                    &mut cache,
                    &mut scratch,
                    &mut out,
                )
                .expect("forward");
                net.backward(
                    &params,
                    &x,
                    batch,
                    &cache,
                    black_box(&dout),
                    &mut grads,
                    None,
                    &mut scratch,
                )
                .expect("backward");
                black_box(&grads);
            })
        });
    }
    g.finish();
}

fn adam_step(c: &mut Criterion) {
    let n = 21_252;
    let mut rng = seeded(3);
    let mut params = vec![0.0f32; n];
    let mut grads = vec![0.0f32; n];
    fill_standard_normal(&mut rng, &mut params);
    fill_standard_normal(&mut rng, &mut grads);
    let mut m = vec![0.0f32; n];
    let mut v = vec![0.0f32; n];
    let cfg = AdamConfig::default();
    let mut state = AdamState::default();
    let mut g = c.benchmark_group("adam");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("step/21252", |bch| {
        bch.iter(|| {
            if state.t > 1_000_000 {
                state = AdamState::default();
            }
            adam::step(
                &cfg,
                &mut state,
                &mut params,
                black_box(&grads),
                &mut m,
                &mut v,
            )
            .expect("adam");
        })
    });
    g.finish();
}

fn gelu(c: &mut Criterion) {
    let n = 300 * 64;
    let mut rng = seeded(5);
    let mut z = vec![0.0f32; n];
    fill_standard_normal(&mut rng, &mut z);
    for v in z.iter_mut() {
        *v *= 2.0;
    }
    let dy = z.clone();
    let mut out = vec![0.0f32; n];
    let mut g = c.benchmark_group("gelu");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("forward_slice/19200", |b| {
        b.iter(|| {
            Activation::Gelu
                .apply(black_box(&z), &mut out)
                .expect("len");
            black_box(&out);
        })
    });
    g.bench_function("forward_libm/19200", |b| {
        b.iter(|| {
            for (o, &zi) in out.iter_mut().zip(black_box(&z)) {
                *o = Activation::Gelu.eval(zi);
            }
            black_box(&out);
        })
    });
    g.bench_function("backward_slice/19200", |b| {
        b.iter(|| {
            Activation::Gelu
                .backward(black_box(&z), black_box(&dy), &mut out)
                .expect("len");
            black_box(&out);
        })
    });
    g.bench_function("backward_libm/19200", |b| {
        b.iter(|| {
            for ((o, &zi), &d) in out.iter_mut().zip(black_box(&z)).zip(black_box(&dy)) {
                *o = d * Activation::Gelu.derivative(zi);
            }
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, pis_fwd_bwd, adam_step, gelu);
criterion_main!(benches);
