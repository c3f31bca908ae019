//! Criterion benches of the kernel's hot paths on the PIS policy network (the PyTorch
//! reference workload, `pytorch-tb/README.md`): forward + backward at batch 300 and 2000,
//! one Adam step over its 21,252 parameters, and GELU over a `300 × 64` activation; the
//! dense layer's products alone at `64 → 64` (B 300 and 2000) and at the RSMC paper's
//! `256 → 256`, B 2000 (`linear256`).
//!
//! Run with `cargo bench --bench mlp -- --quick`. Matmul FLOPs per forward + backward step
//! are `51,200·B + 73,728` (the reference count); criterion reports them as elements
//! (`Throughput::Elements`), so "elem/s" reads as FLOP/s.

use std::hint::black_box;

use amortise_kernel::nn::Grads;
use amortise_kernel::nn::{Activation, LastLayerInit, Linear};
use amortise_kernel::optim::adam::{self, AdamConfig, AdamState};
use amortise_kernel::rng::{fill_standard_normal, seeded};
use amortise_kernel::samplers::diffusion::net::{NetGrads, NetInput, PisNet};
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
                let input = NetInput::new(black_box(&x), batch, 0.37);
                net.forward(
                    black_box(&params),
                    input,
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
                let input = NetInput::new(black_box(&x), batch, 0.37);
                net.forward(
                    black_box(&params),
                    input,
                    &mut cache,
                    &mut scratch,
                    &mut out,
                )
                .expect("forward");
                let g = NetGrads {
                    dout: black_box(&dout),
                    params: &mut grads,
                    dx: None,
                };
                net.backward(&params, input, &cache, g, &mut scratch)
                    .expect("backward");
                black_box(&grads);
            })
        });
    }
    g.finish();
}

/// The weights `W` (`inp × out`) of a dense layer with its shape, for the old loops.
#[derive(Clone, Copy)]
struct Dense<'a> {
    w: &'a [f32],
    inp: usize,
    out: usize,
}

/// The pre-blocking `Linear` forward (i-k-j axpy loops), kept here as the in-run baseline.
fn old_forward(layer: Dense<'_>, bias: &[f32], x: &[f32], y: &mut [f32]) {
    let Dense { w, inp, out } = layer;
    for (xr, yr) in x.chunks_exact(inp).zip(y.chunks_exact_mut(out)) {
        yr.copy_from_slice(bias);
        for (&xk, wr) in xr.iter().zip(w.chunks_exact(out)) {
            for (yj, &wkj) in yr.iter_mut().zip(wr) {
                *yj += xk * wkj;
            }
        }
    }
}

/// The pre-blocking `Linear` backward (axpy weight gradient, 8-lane dot input gradient).
fn old_backward(layer: Dense<'_>, x: &[f32], dy: &[f32], grads: &mut [f32], dx: &mut [f32]) {
    let Dense { w, inp, out } = layer;
    let (gw, gb) = grads.split_at_mut(inp * out);
    for (xr, dyr) in x.chunks_exact(inp).zip(dy.chunks_exact(out)) {
        for (gbj, &d) in gb.iter_mut().zip(dyr) {
            *gbj += d;
        }
        for (&xk, gwr) in xr.iter().zip(gw.chunks_exact_mut(out)) {
            for (g, &d) in gwr.iter_mut().zip(dyr) {
                *g += xk * d;
            }
        }
    }
    for (dxr, dyr) in dx.chunks_exact_mut(inp).zip(dy.chunks_exact(out)) {
        for (dxk, wr) in dxr.iter_mut().zip(w.chunks_exact(out)) {
            *dxk = old_dot(wr, dyr);
        }
    }
}

fn old_dot(a: &[f32], b: &[f32]) -> f32 {
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// One hidden `64 → 64` layer on `B` rows: the matmul part alone (`2·B·64·64` FLOPs forward,
/// twice that backward with the input gradient).
fn linear_64(c: &mut Criterion) {
    let l = Linear::new(64, 64).expect("valid sizes");
    let mut g = c.benchmark_group("linear64");
    for batch in [300usize, 2000] {
        let mut rng = seeded(11);
        let mut params = vec![0.0f32; l.param_count()];
        fill_standard_normal(&mut rng, &mut params);
        let mut x = vec![0.0f32; batch * 64];
        fill_standard_normal(&mut rng, &mut x);
        let mut dy = vec![0.0f32; batch * 64];
        fill_standard_normal(&mut rng, &mut dy);
        let mut y = vec![0.0f32; batch * 64];
        let mut dx = vec![0.0f32; batch * 64];
        let mut grads = vec![0.0f32; l.param_count()];
        let flops = 2 * batch as u64 * 64 * 64;
        g.throughput(Throughput::Elements(flops));
        g.bench_function(format!("forward/{batch}"), |b| {
            b.iter(|| {
                l.forward(black_box(&params), black_box(&x), batch, &mut y)
                    .expect("forward");
                black_box(&y);
            })
        });
        let (w, bias) = params.split_at(64 * 64);
        let dense = Dense {
            w,
            inp: 64,
            out: 64,
        };
        g.bench_function(format!("forward_old/{batch}"), |b| {
            b.iter(|| {
                let layer = Dense {
                    w: black_box(w),
                    ..dense
                };
                old_forward(layer, bias, black_box(&x), &mut y);
                black_box(&y);
            })
        });
        g.throughput(Throughput::Elements(2 * flops));
        g.bench_function(format!("backward_old/{batch}"), |b| {
            b.iter(|| {
                old_backward(dense, black_box(&x), black_box(&dy), &mut grads, &mut dx);
                black_box(&dx);
            })
        });
        g.bench_function(format!("backward/{batch}"), |b| {
            b.iter(|| {
                l.backward(
                    black_box(&params),
                    black_box(&x),
                    batch,
                    black_box(&dy),
                    Grads {
                        params: &mut grads,
                        input: Some(&mut dx),
                    },
                )
                .expect("backward");
                black_box(&dx);
            })
        });
    }
    g.finish();
}

/// One hidden `256 → 256` layer at the RSMC paper's shape (policy width 256, batch 2000):
/// the forward product (`2·B·256²` FLOPs), the weight gradient alone (`backward` without
/// the input gradient, plus the bias gradient's `B·256` adds) and the whole backward pass.
fn linear_256(c: &mut Criterion) {
    const W: usize = 256;
    const B: usize = 2000;
    let l = Linear::new(W, W).expect("valid sizes");
    let mut g = c.benchmark_group("linear256");
    let mut rng = seeded(13);
    let mut params = vec![0.0f32; l.param_count()];
    fill_standard_normal(&mut rng, &mut params);
    let mut x = vec![0.0f32; B * W];
    fill_standard_normal(&mut rng, &mut x);
    let mut dy = vec![0.0f32; B * W];
    fill_standard_normal(&mut rng, &mut dy);
    let mut y = vec![0.0f32; B * W];
    let mut dx = vec![0.0f32; B * W];
    let mut grads = vec![0.0f32; l.param_count()];
    let flops = 2 * (B * W * W) as u64;
    g.throughput(Throughput::Elements(flops));
    g.bench_function(format!("forward/{B}"), |b| {
        b.iter(|| {
            l.forward(black_box(&params), black_box(&x), B, &mut y)
                .expect("forward");
            black_box(&y);
        })
    });
    g.bench_function(format!("weight_grad/{B}"), |b| {
        b.iter(|| {
            let out = Grads {
                params: &mut grads,
                input: None,
            };
            l.backward(black_box(&params), black_box(&x), B, black_box(&dy), out)
                .expect("backward");
            black_box(&grads);
        })
    });
    g.throughput(Throughput::Elements(2 * flops));
    g.bench_function(format!("backward/{B}"), |b| {
        b.iter(|| {
            let out = Grads {
                params: &mut grads,
                input: Some(&mut dx),
            };
            l.backward(black_box(&params), black_box(&x), B, black_box(&dy), out)
                .expect("backward");
            black_box(&dx);
        })
    });
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

criterion_group!(benches, pis_fwd_bwd, linear_64, linear_256, adam_step, gelu);
criterion_main!(benches);
