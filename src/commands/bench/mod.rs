//! `amortise bench tb|eval|step`: the PyTorch CPU reference workload
//! (`shared/reference/pytorch-tb/README.md`), measured the same way.
//!
//! - `tb`: on-policy TB training iterations of the PIS policy (21,252 parameters: hidden 64,
//!   64 harmonics, drift and log-variance outputs) on GMM40-2d, pinned Brownian reference
//!   with `t_scale` 5, `T` = 100 Euler–Maruyama steps, batch 300, Adam.
//! - `eval`: one no-grad rollout of 2000 samples; then its matrix products and its GELUs
//!   timed alone (`eval_parts`), the floor of the pass with these kernels.
//! - `step`: one forward + backward + Adam step of the policy on a `[B, 2]` batch at one `t`.
//! - `peak`: this core's attainable multiply-add rate (`bench/peak.rs`), which every other bench
//!   also measures first and reports its `fraction_of_peak` against.
//!
//! Timing: the median of 7 timed blocks after warm-up, as the reference scripts (tb: 1 + 3
//! warm-up iterations, blocks of 5; eval: 1 warm-up, single passes; step: 100 warm-up steps,
//! blocks of 200). FLOPs are the reference's analytic matmul count:
//! `(51,200·B + 73,728)` per fwd+bwd step, `17,152·B + 24,576` per forward step.

use std::time::Instant;

use amortise_kernel::nn::LastLayerInit;
use amortise_kernel::optim::adam::{self, AdamConfig, AdamState};
use amortise_kernel::rng::{self, fill_standard_normal};
use amortise_kernel::samplers::diffusion::net::{NetGrads, NetInput};
use amortise_kernel::samplers::diffusion::policy::PolicyConfig;
use amortise_kernel::samplers::diffusion::reference::Process;
use amortise_kernel::samplers::diffusion::train::{
    self, Config as TrainConfig, Layout, Method, Views,
};
use amortise_kernel::targets::Target;
use serde_json::json;

use crate::cli::BenchKind;
use crate::error::{CliError, CliResult};
use crate::eval;

mod peak;

/// The policy's size in `bench`: hidden width and time harmonics (the reference workload: 64
/// and 64; the RSMC paper's shape: 256 wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Hidden width `h`.
    pub hidden: usize,
    /// Time-embedding harmonics `H`.
    pub harmonics: usize,
}

impl Shape {
    /// The PyTorch reference's policy: `h = 64`, `H = 64` (21,252 parameters).
    pub const REFERENCE: Shape = Shape {
        hidden: 64,
        harmonics: 64,
    };

    /// Matmul FLOPs per row and for the time branch of one forward step, in the reference's
    /// count (`pytorch-tb/sampler.py` `policy_matmul_flops`, PIS: `d = 2`, output `2d`).
    const fn forward_parts(self) -> (u64, u64) {
        let (h, t) = (self.hidden as u64, self.harmonics as u64);
        (2 * (2 * h + 2 * h * h + h * 4), 2 * (2 * t * h + h * h))
    }
}

/// Matmul FLOPs of one fwd+bwd policy step on `b` rows (reference formula: the backward adds
/// the weight gradient of every product and the input gradient of every product whose input
/// carries one, i.e. all but the state embedding; `51,200·B + 73,728` at the reference shape).
pub const fn step_flops(b: u64, shape: Shape) -> u64 {
    let (h, t) = (shape.hidden as u64, shape.harmonics as u64);
    let per_row = 2 * (2 * 2 * h + 3 * 2 * h * h + 3 * h * 4);
    let time = 3 * 2 * (2 * t * h + h * h);
    per_row * b + time
}

/// Matmul FLOPs of one forward policy step on `b` rows (reference formula;
/// `17,152·B + 24,576` at the reference shape).
pub const fn forward_flops(b: u64, shape: Shape) -> u64 {
    let (per_row, time) = shape.forward_parts();
    per_row * b + time
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn reference_config(batch: usize, steps: usize, shape: Shape) -> TrainConfig {
    reference_config_lv(batch, steps, shape, true)
}

fn reference_config_lv(
    batch: usize,
    steps: usize,
    shape: Shape,
    learned_variance: bool,
) -> TrainConfig {
    TrainConfig {
        method: Method::Tb,
        process: Process::PinnedBrownian { t_scale: 5.0 },
        steps,
        batch,
        hidden: shape.hidden,
        harmonics: shape.harmonics,
        policy: PolicyConfig {
            learned_variance,
            ..PolicyConfig::default()
        },
        ..TrainConfig::default()
    }
}

/// The workload of `amortise bench` (its command-line flags): size, steps and how the TB
/// iteration is run.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Batch (tb, step: 300) or samples (eval: 2000).
    pub batch: Option<usize>,
    /// Euler–Maruyama steps `T`.
    pub steps: usize,
    /// The policy's width and harmonics.
    pub shape: Shape,
    /// Threads for `tb`.
    pub threads: usize,
    /// Fixed gradient chunks of the batch for `tb`.
    pub grad_chunks: Option<usize>,
    /// Fixed policy variance (`tb` only).
    pub fixed_variance: bool,
}

/// Runs a benchmark and prints `name value unit` lines (or JSON).
pub fn run(kind: BenchKind, work: Workload, json_out: bool) -> CliResult<()> {
    let Workload {
        batch,
        steps,
        shape,
        threads,
        grad_chunks,
        fixed_variance,
    } = work;
    if steps == 0 || steps > 10_000 {
        return Err(CliError::flag("--steps", "must be in 1..=10000"));
    }
    if shape.hidden == 0 || shape.hidden > 4096 {
        return Err(CliError::flag("--hidden", "must be in 1..=4096"));
    }
    if shape.harmonics == 0 || shape.harmonics > 4096 {
        return Err(CliError::flag("--harmonics", "must be in 1..=4096"));
    }
    let plan = crate::parallel::chunk_plan(threads, grad_chunks)?;
    if fixed_variance && kind != BenchKind::Tb {
        return Err(CliError::flag(
            "--fixed-variance",
            "applies to `bench tb` only",
        ));
    }
    if plan.is_some() && kind != BenchKind::Tb {
        return Err(CliError::flag(
            "--threads",
            "more than one thread (and --grad-chunks) apply to `bench tb` only",
        ));
    }
    let peak = peak::measure();
    let target = Target::from_name("gmm40", Some(2)).map_err(|e| CliError::kernel("gmm40", e))?;
    let kernel = |what: &'static str| move |e| CliError::kernel(what, e);
    let (name, per_sec, unit, flops, extra, cpu) = match kind {
        BenchKind::Peak => return print_peak(peak, json_out),
        BenchKind::Tb => {
            let b = batch.unwrap_or(300);
            check_batch(b)?;
            let cfg = reference_config_lv(b, steps, shape, !fixed_variance);
            let layout = Layout::new(&cfg, 2).map_err(kernel("bench config"))?;
            let mut fa = vec![0.0f32; layout.f32_len];
            let mut ua = vec![0u32; layout.u32_len];
            let mut r = rng::seeded(0);
            let mut v = Views::new(&layout, &mut fa, &mut ua).map_err(kernel("trainer"))?;
            let mut st = train::init(&cfg, &layout, &mut v, &mut r).map_err(kernel("trainer"))?;
            let expected = if fixed_variance { 21_122 } else { 21_252 };
            if shape == Shape::REFERENCE && layout.net.param_count() != expected {
                return Err(CliError::kernel(
                    "bench",
                    amortise_kernel::Error::InvalidConfig("PIS net size"),
                ));
            }
            let mut chunked = match plan {
                Some(c) => Some(
                    crate::parallel::ChunkedTb::new(&cfg, &layout, c, threads)
                        .map_err(|e| CliError::kernel("--grad-chunks", e))?,
                ),
                None => None,
            };
            // the views stay carved across the timed iterations (carving is not the workload)
            let mut one = |r: &mut _| match chunked.as_mut() {
                Some(c) => c.step(&cfg, &mut st, &mut v, &target, r),
                None => train::step(&cfg, &mut st, &mut v, &target, r),
            };
            for _ in 0..4 {
                one(&mut r).map_err(kernel("tb step"))?;
            }
            let cpu0 = process_cpu_seconds();
            let mut blocks = Vec::new();
            for _ in 0..7 {
                let t0 = Instant::now();
                for _ in 0..5 {
                    one(&mut r).map_err(kernel("tb step"))?;
                }
                blocks.push(t0.elapsed().as_secs_f64() / 5.0);
            }
            let secs = median(blocks);
            let cpu = cpu_per_call(cpu0, 35.0);
            (
                "tb_train",
                1.0 / secs,
                "iters/s",
                step_flops(b as u64, shape) * steps as u64,
                json!({"batch": b, "steps": steps, "hidden": shape.hidden,
                    "harmonics": shape.harmonics, "grad_chunks": plan.unwrap_or(1),
                    "learned_variance": !fixed_variance,
                    "arena_bytes": 4 * (layout.f32_len + layout.u32_len)}),
                cpu,
            )
        }
        BenchKind::Eval => {
            let n = batch.unwrap_or(2000);
            check_batch(n)?;
            let cfg = reference_config(300, steps, shape);
            let net = cfg.policy_net(2).map_err(kernel("net"))?;
            let mut p = vec![0.0f32; net.param_count()];
            let mut r = rng::seeded(0);
            net.init(&mut p, LastLayerInit::Default, &mut r)
                .map_err(kernel("init"))?;
            let policy = eval::TrainedPolicy {
                cfg: &cfg.policy,
                process: cfg.process,
                steps,
                net: &net,
                params: &p,
            };
            eval::sample_policy(policy, &target, n, &mut r)?;
            let cpu0 = process_cpu_seconds();
            let mut blocks = Vec::new();
            for _ in 0..7 {
                let t0 = Instant::now();
                eval::sample_policy(policy, &target, n, &mut r)?;
                blocks.push(t0.elapsed().as_secs_f64());
            }
            let secs = median(blocks);
            let cpu = cpu_per_call(cpu0, 7.0);
            let (prod, gelu) = eval_parts(n, steps, shape.hidden);
            if !json_out {
                println!(
                    "eval_parts products_only {:.3} ms, gelu_only {:.3} ms per pass (fastest \
                     of 7; their sum is a floor for the pass with these kernels)",
                    prod * 1e3,
                    gelu * 1e3
                );
            }
            (
                "eval",
                1.0 / secs,
                "passes/s",
                forward_flops(n as u64, shape) * steps as u64,
                json!({"samples": n, "steps": steps, "hidden": shape.hidden,
                       "harmonics": shape.harmonics, "ms": secs * 1e3,
                       "products_only_ms": prod * 1e3, "gelu_only_ms": gelu * 1e3}),
                cpu,
            )
        }
        BenchKind::Step => {
            let b = batch.unwrap_or(300);
            check_batch(b)?;
            let cfg = reference_config(b, steps, shape);
            let net = cfg.policy_net(2).map_err(kernel("net"))?;
            let np = net.param_count();
            let mut r = rng::seeded(0);
            let (mut p, mut g, mut m, mut v) = (
                vec![0.0f32; np],
                vec![0.0f32; np],
                vec![0.0f32; np],
                vec![0.0f32; np],
            );
            net.init(&mut p, LastLayerInit::Default, &mut r)
                .map_err(kernel("init"))?;
            let mut x = vec![0.0f32; b * 2];
            fill_standard_normal(&mut r, &mut x);
            let mut dout = vec![0.0f32; b * net.out()];
            fill_standard_normal(&mut r, &mut dout);
            let (mut cache, mut scratch, mut out) = (
                vec![0.0f32; net.cache_len(b)],
                vec![0.0f32; net.scratch_len(b)],
                vec![0.0f32; b * net.out()],
            );
            let acfg = AdamConfig::default();
            let mut st = AdamState::default();
            let mut one =
                |p: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32]| -> CliResult<()> {
                    let input = NetInput::new(&x, b, 0.5);
                    net.forward(p, input, &mut cache, &mut scratch, &mut out)
                        .map_err(kernel("forward"))?;
                    g.iter_mut().for_each(|q| *q = 0.0);
                    let grads = NetGrads {
                        dout: &dout,
                        params: g,
                        dx: None,
                    };
                    net.backward(p, input, &cache, grads, &mut scratch)
                        .map_err(kernel("backward"))?;
                    adam::step(&acfg, &mut st, p, g, m, v).map_err(kernel("adam"))?;
                    Ok(())
                };
            for _ in 0..100 {
                one(&mut p, &mut g, &mut m, &mut v)?;
            }
            let cpu0 = process_cpu_seconds();
            let mut blocks = Vec::new();
            for _ in 0..7 {
                let t0 = Instant::now();
                for _ in 0..200 {
                    one(&mut p, &mut g, &mut m, &mut v)?;
                }
                blocks.push(t0.elapsed().as_secs_f64() / 200.0);
            }
            let secs = median(blocks);
            let cpu = cpu_per_call(cpu0, 1400.0);
            (
                "step",
                1.0 / secs,
                "steps/s",
                step_flops(b as u64, shape),
                json!({"batch": b, "hidden": shape.hidden, "harmonics": shape.harmonics}),
                cpu,
            )
        }
    };
    let gflops = flops as f64 * per_sec / 1e9;
    let frac = gflops / peak.gflops();
    if json_out {
        let mut v = json!({
            "bench": name, "rate": per_sec, "unit": unit, "gflop_per_call": flops as f64 / 1e9,
            "gflops": gflops, "peak_gflops": peak.gflops(), "fraction_of_peak": frac, "threads": threads,
            "cpu": cpu_model(), "simd": SIMD,
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
            o.insert("cpu_seconds_per_call".into(), json!(cpu));
            o.insert("rate_per_cpu_second".into(), json!(cpu.map(|c| 1.0 / c)));
        }
        println!("{v}");
    } else {
        println!(
            "{name} {per_sec:.3} {unit} ({threads} thread(s), {SIMD}, {})",
            cpu_model()
        );
        if let Some(c) = cpu {
            println!(
                "{name}_per_cpu_second {:.3} {unit} (process CPU time, all threads: {:.3} ms per call)",
                1.0 / c,
                c * 1e3
            );
        }
        if let Some(bytes) = extra.get("arena_bytes") {
            println!(
                "{name}_kernel_working_set {bytes} bytes (the trainer's two caller-owned arenas: \
                 parameters, gradients, Adam moments, trajectories and caches; the kernel itself \
                 allocates nothing)"
            );
        }
        println!("{name}_gflop_per_call {:.4} GFLOP", flops as f64 / 1e9);
        println!("{name}_gflops {gflops:.2} GFLOP/s");
        println!(
            "{name}_fraction_of_peak {:.2} % (of {:.1} GFLOP/s, this core's measured peak: `amortise bench peak`)",
            100.0 * frac,
            peak.gflops()
        );
    }
    Ok(())
}

/// The two big parts of an eval pass timed alone, in seconds per pass (the fastest of 7
/// blocks, so a busy machine inflates them least): the policy's matrix products (per step
/// `2 → h`, `h → h` twice and `h → 4` on `n` rows, with bias) and its three GELUs over
/// `n × h` values. Everything else of the pass (time branch, noise, the step, `log p_F`,
/// `log p_B`) is the difference to the full pass.
fn eval_parts(n: usize, steps: usize, h: usize) -> (f64, f64) {
    use amortise_kernel::nn::{Activation, Linear};
    let shapes = [(2usize, h), (h, h), (h, h), (h, 4)];
    let mut r = rng::seeded(1);
    let layers: Vec<(Linear, Vec<f32>)> = shapes
        .iter()
        .filter_map(|&(i, o)| {
            let l = Linear::new(i, o).ok()?;
            let mut p = vec![0.0f32; l.param_count()];
            fill_standard_normal(&mut r, &mut p);
            p.iter_mut().for_each(|v| *v *= 0.125);
            Some((l, p))
        })
        .collect();
    let mut a = vec![0.0f32; n * h];
    fill_standard_normal(&mut r, &mut a);
    let mut b = vec![0.0f32; n * h];
    let fastest = |f: &mut dyn FnMut()| {
        f();
        (0..7)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let prod = fastest(&mut || {
        for _ in 0..steps {
            for (l, p) in &layers {
                let (i, o) = (l.inp(), l.out());
                // shapes and lengths are right by construction
                let _ = l.forward(p, &a[..n * i], n, &mut b[..n * o]);
            }
        }
    });
    let gelu = fastest(&mut || {
        for _ in 0..steps {
            for _ in 0..3 {
                // from the same input each time (repeated in place, values would drift into
                // subnormals); lengths are equal by construction
                let _ = Activation::Gelu.apply(&a, &mut b);
            }
            std::hint::black_box(&b);
        }
    });
    (prod, gelu)
}

/// CPU time (user + system, all threads) this process has used so far, from `/proc/self/stat`
/// (clock ticks of 1/100 s, Linux's `USER_HZ`); `None` where unavailable.
fn process_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the parenthesised command name: state is field 3, utime 14, stime 15
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds per call over the timed blocks (`calls` calls since `cpu0`). Unlike the
/// wall-clock median it does not count time the process waited for a core, so it is the
/// better measure on a loaded machine (it still includes cache and memory contention).
fn cpu_per_call(cpu0: Option<f64>, calls: f64) -> Option<f64> {
    let c = process_cpu_seconds()? - cpu0?;
    (c > 0.0).then_some(c / calls)
}

/// The vector extension this binary was compiled for (the products' tile width follows it).
const SIMD: &str = if cfg!(target_feature = "avx512f") {
    "avx512"
} else if cfg!(target_feature = "avx2") {
    "avx2"
} else if cfg!(target_feature = "avx") {
    "avx"
} else {
    "baseline"
};

/// Prints `bench peak`: both measured rates and the peak, with the CPU and vector width.
fn print_peak(p: peak::Peak, json_out: bool) -> CliResult<()> {
    if json_out {
        println!(
            "{}",
            json!({
                "bench": "peak", "loop_gflops": p.loop_gflops, "tile_gflops": p.tile_gflops,
                "peak_gflops": p.gflops(), "cpu": cpu_model(), "simd": SIMD,
            })
        );
    } else {
        println!(
            "peak_loop_gflops {:.2} GFLOP/s (independent multiply-adds, not fused; {SIMD}, {})",
            p.loop_gflops,
            cpu_model()
        );
        println!(
            "peak_tile_gflops {:.2} GFLOP/s (the kernel's best linear forward: [240 or 300 x 64]·[64 x 64], [96 x 256]·[256 x 256])",
            p.tile_gflops
        );
        println!(
            "peak_gflops {:.2} GFLOP/s (the larger: every bench's fraction_of_peak divides by it)",
            p.gflops()
        );
    }
    Ok(())
}

/// The CPU model from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Checks `--batch`.
pub fn check_batch(b: usize) -> CliResult<()> {
    if b == 0 || b > 100_000 {
        return Err(CliError::flag("--batch", "must be in 1..=100000"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_parts_time_something() {
        let (prod, gelu) = eval_parts(16, 2, 64);
        assert!(prod.is_finite() && prod > 0.0, "{prod}");
        assert!(gelu.is_finite() && gelu > 0.0, "{gelu}");
    }

    #[test]
    fn flop_counts_match_the_reference() {
        // pytorch-tb/README.md: 1,543,372,800 per training iteration (T = 100, B = 300),
        // 15,433,728 per micro step, 3,432,857,600 per 2000-sample eval pass.
        let r = Shape::REFERENCE;
        assert_eq!(step_flops(300, r) * 100, 1_543_372_800);
        assert_eq!(step_flops(300, r), 15_433_728);
        assert_eq!(forward_flops(2000, r) * 100, 3_432_857_600);
        // and the network's own count agrees with the forward formula, at both shapes
        let net = reference_config(300, 100, r).policy_net(2).unwrap();
        assert_eq!(net.param_count(), 21_252);
        assert_eq!(net.forward_matmul_flops(2000), forward_flops(2000, r));
        let paper = Shape {
            hidden: 256,
            harmonics: 64,
        };
        let net = reference_config(2000, 64, paper).policy_net(2).unwrap();
        assert_eq!(net.forward_matmul_flops(2000), forward_flops(2000, paper));
        // `policy_matmul_flops("pis", 2000, 2, 256, 64)` of the reference script (fwd + bwd):
        // time 3·2·(128·256 + 256²) = 589,824; rows 2·(4·256 + 6·256² + 12·256)·2000
        assert_eq!(step_flops(2000, paper), 1_589_248_000 + 589_824);
    }
}
