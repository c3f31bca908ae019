//! Criterion benches of the alanine-dipeptide target (`kernel::targets::aldp`): the Cartesian
//! energy (22 atoms, 231 pairs, OBC1 GB) alone and with its gradient at the reference
//! structure, and the 60-d target `Aldp` (internal coordinates, NeRF, log-determinant, energy)
//! with and without its gradient at `x = 0.25·1` (a point away from the minimum).
//!
//! `cargo bench --bench aldp` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use amortise_kernel::targets::Aldp;
use amortise_kernel::targets::aldp::{self, params::X_REF};
use criterion::{Criterion, criterion_group, criterion_main};

fn cartesian(c: &mut Criterion) {
    let mut g = c.benchmark_group("aldp_cartesian");
    g.bench_function("energy", |b| {
        b.iter(|| aldp::energy(black_box(&X_REF)).total())
    });
    let mut grad = [[0.0; 3]; 22];
    g.bench_function("energy_grad", |b| {
        b.iter(|| aldp::energy_grad(black_box(&X_REF), &mut grad).total())
    });
    g.finish();
}

fn target(c: &mut Criterion) {
    let t = Aldp::new();
    let x = [0.25f64; 60];
    let mut g = c.benchmark_group("aldp_target");
    g.bench_function("energy", |b| b.iter(|| t.energy(black_box(&x))));
    let mut grad = [0.0; 60];
    g.bench_function("energy_grad", |b| {
        b.iter(|| t.energy_grad(black_box(&x), &mut grad))
    });
    g.finish();
}

criterion_group!(benches, cartesian, target);
criterion_main!(benches);
