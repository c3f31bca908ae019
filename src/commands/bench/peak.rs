//! This core's attainable multiply-add rate, measured at start-up: the denominator of every
//! bench's `fraction_of_peak` (a stated constant would describe some other machine).
//!
//! Two measurements, the larger of which is the peak:
//! - `loop`: a multiply then an add (`acc = acc·m + c`, two FLOPs a value, never fused: rustc
//!   does not contract, and a fused product would break bit-identity with wasm) over blocks of
//!   independent accumulators wide enough to hide the latency of both operations;
//! - `tile`: the kernel's own best matrix product over three linear forwards,
//!   `[240 × 64]·[64 × 64]` and `[300 × 64]·[64 × 64]` (the reference policy's hidden layer)
//!   and `[96 × 256]·[256 × 256]` (the paper's width), the rate the policy's products could
//!   reach if nothing else ran.
//!
//! Each is the fastest of 7 blocks of a few ms after a warm-up, so a busy machine
//! inflates it least.

use std::hint::black_box;
use std::time::Instant;

use amortise_kernel::nn::Linear;
use amortise_kernel::rng::{self, fill_standard_normal};

/// The measured peak: the two rates in GFLOP/s.
#[derive(Clone, Copy, Debug)]
pub struct Peak {
    /// Independent multiply-adds over registers.
    pub loop_gflops: f64,
    /// The kernel's best cache-resident product.
    pub tile_gflops: f64,
}

impl Peak {
    /// The denominator of `fraction_of_peak`: the larger of the two.
    pub fn gflops(&self) -> f64 {
        self.loop_gflops.max(self.tile_gflops)
    }
}

/// Measures both rates (about 0.2 s).
pub fn measure() -> Peak {
    Peak {
        // the best count fills the vector registers without spilling: 12 vectors of the
        // build's width (48 values with 128-bit vectors, 96 with AVX2's 256-bit, 192 with
        // AVX-512) keep two multiply and two add pipes busy at a latency of 3 + 3 cycles
        loop_gflops: [
            loop_rate::<48>(),
            loop_rate::<64>(),
            loop_rate::<96>(),
            loop_rate::<128>(),
            loop_rate::<192>(),
            loop_rate::<256>(),
        ]
        .into_iter()
        .fold(0.0, f64::max),
        tile_gflops: [(240, 64), (300, 64), (96, 256)]
            .into_iter()
            .map(|(rows, width)| tile_rate(rows, width))
            .fold(0.0, f64::max),
    }
}

/// Seconds of the fastest of 7 calls after one warm-up call.
fn fastest(f: &mut dyn FnMut()) -> f64 {
    f();
    (0..7)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// GFLOP/s of `acc = acc·m + c` over `W` independent accumulators.
fn loop_rate<const W: usize>() -> f64 {
    const VALUES: usize = 1 << 22;
    let reps = VALUES / W;
    // |m| < 1 keeps the accumulators bounded away from overflow and subnormals
    let (m, c) = (black_box(0.999_9f32), black_box(1e-3f32));
    let secs = fastest(&mut || {
        let mut acc = black_box([0.5f32; W]);
        for _ in 0..reps {
            for a in &mut acc {
                *a = *a * m + c;
            }
        }
        black_box(acc);
    });
    2.0 * (reps * W) as f64 / secs / 1e9
}

/// GFLOP/s of the kernel's linear forward `[rows × width]·[width × width]`.
fn tile_rate(rows: usize, width: usize) -> f64 {
    let reps = (1 << 22) / (rows * width);
    let Ok(layer) = Linear::new(width, width) else {
        return 0.0;
    };
    let mut r = rng::seeded(3);
    let mut p = vec![0.0f32; layer.param_count()];
    let mut x = vec![0.0f32; rows * width];
    fill_standard_normal(&mut r, &mut p);
    fill_standard_normal(&mut r, &mut x);
    let mut y = vec![0.0f32; rows * width];
    let secs = fastest(&mut || {
        for _ in 0..reps {
            // lengths are right by construction
            let _ = layer.forward(&p, black_box(&x), rows, &mut y);
            black_box(&y);
        }
    });
    (2 * rows * width * width * reps) as f64 / secs / 1e9
}
