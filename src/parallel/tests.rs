use super::*;
use amortise_kernel::rng::{self, Rng};
use amortise_kernel::samplers::diffusion::reference::Process;
use amortise_kernel::samplers::diffusion::train::LowReward;
use amortise_kernel::targets::Target;

fn cfg() -> Config {
    Config {
        method: Method::Tb,
        process: Process::PinnedBrownian { t_scale: 5.0 },
        steps: 12,
        batch: 37,
        hidden: 16,
        harmonics: 8,
        iterations: 100,
        ..Config::default()
    }
}

/// Parameters after `iters` chunked iterations on `threads` threads.
fn run(threads: usize, chunks: usize, iters: usize) -> (Vec<f32>, Vec<f32>) {
    let target = Target::from_name("gmm40", Some(2)).unwrap();
    let cfg = cfg();
    let layout = Layout::new(&cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(11);
    let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
    let mut st = train::init(&cfg, &layout, &mut v, &mut r).unwrap();
    let mut runner = ChunkedTb::new(&cfg, &layout, chunks, threads).unwrap();
    let mut losses = Vec::new();
    for _ in 0..iters {
        let info = runner.step(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
        losses.push(info.tb_loss);
    }
    assert_eq!(st.iteration as usize, iters);
    (v.model.params.to_vec(), losses)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn one_and_several_threads_give_identical_parameters() {
    let (p1, l1) = run(1, 5, 4);
    let (p2, l2) = run(2, 5, 4);
    let (p3, l3) = run(3, 5, 4);
    assert_eq!(bits(&p1), bits(&p2));
    assert_eq!(bits(&p1), bits(&p3));
    assert_eq!(bits(&l1), bits(&l2));
    assert_eq!(bits(&l1), bits(&l3));
    // training moved the parameters, and the loss is finite
    let (p0, _) = run(1, 5, 0);
    assert_ne!(bits(&p0), bits(&p1));
    assert!(l1.iter().all(|l| l.is_finite()));
}

#[test]
fn one_chunk_is_the_kernel_step_on_the_chunk_seed() {
    // one chunk = the kernel's single-batch TB step with the generator seeded by the
    // chunk seed: same gradient, same clipping and Adam, so the same parameter bits
    let iters = 3;
    let (p_chunked, l_chunked) = run(2, 1, iters);
    let target = Target::from_name("gmm40", Some(2)).unwrap();
    let cfg = cfg();
    let layout = Layout::new(&cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(11);
    let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
    let mut st = train::init(&cfg, &layout, &mut v, &mut r).unwrap();
    let mut losses = Vec::new();
    for _ in 0..iters {
        let mut chunk_rng = rng::seeded(r.next_u64());
        let info = train::step(&cfg, &mut st, &mut v, &target, &mut chunk_rng).unwrap();
        losses.push(info.tb_loss);
    }
    assert_eq!(bits(&losses), bits(&l_chunked));
    assert_eq!(bits(v.model.params), bits(&p_chunked));
}

#[test]
fn bad_settings_are_errors() {
    let cfg = cfg();
    let layout = Layout::new(&cfg, 2).unwrap();
    assert!(ChunkedTb::new(&cfg, &layout, 0, 1).is_err());
    assert!(ChunkedTb::new(&cfg, &layout, 38, 1).is_err());
    assert!(ChunkedTb::new(&cfg, &layout, 4, 0).is_err());
    // rsmc: the particles are chunked too
    let rs = small(Method::Rsmc);
    let layout = Layout::new(&rs, 2).unwrap();
    assert!(ChunkedTb::new(&rs, &layout, rs.batch, 2).is_ok());
    let rs = Config { batch: 40, ..rs };
    let layout = Layout::new(&rs, 2).unwrap();
    assert!(ChunkedTb::new(&rs, &layout, rs.particles, 2).is_ok());
    assert!(ChunkedTb::new(&rs, &layout, rs.particles + 1, 2).is_err());
    // a layout of another configuration
    assert!(ChunkedTb::new(&cfg, &layout, 2, 2).is_err());
}

/// A small tb-buffer or rsmc configuration: four SMC segments, on- and off-policy
/// iterations alternating (replay ratio 1).
fn small(method: Method) -> Config {
    Config {
        method,
        process: Process::OrnsteinUhlenbeck { init_std: 1.0 },
        steps: 16,
        batch: 13,
        hidden: 8,
        harmonics: 4,
        flow_hidden: 8,
        particles: 17,
        buffer_capacity: 200,
        prefill: 2,
        replay_ratio: 1,
        init_log_z_from_smc: true,
        iterations: 100,
        ..Config::default()
    }
}

/// A run's results: parameters, per-iteration infos, buffer states and log-weights.
struct Outcome {
    params: Vec<f32>,
    infos: Vec<Info>,
    buffer: (Vec<f32>, Vec<f32>),
}

/// `iters` iterations of `cfg` on gmm40 (2-D); `runner` = `(threads, chunks)` for the
/// chunked runner (and its prefill, unless `kernel_prefill`), `None` for the kernel's step
/// with the generator of [`KernelRng`].
fn run_with(
    cfg: &Config,
    runner: Option<(usize, usize)>,
    iters: usize,
    kernel_prefill: bool,
) -> Outcome {
    let target = Target::from_name("gmm40", Some(2)).unwrap();
    let layout = Layout::new(cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(5);
    let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
    let mut st = train::init(cfg, &layout, &mut v, &mut r).unwrap();
    let mut chunked = runner.map(|(k, c)| ChunkedTb::new(cfg, &layout, c, k).unwrap());
    match chunked.as_mut().filter(|_| !kernel_prefill) {
        Some(c) => c.prefill(cfg, &mut st, &mut v, &target, &mut r),
        None => train::prefill(cfg, &mut st, &mut v, &target, &mut r),
    }
    .unwrap();
    let mut infos = Vec::new();
    for _ in 0..iters {
        let info = match chunked.as_mut() {
            Some(c) => c.step(cfg, &mut st, &mut v, &target, &mut r).unwrap(),
            None => {
                // the run's RNG serves the buffer draw of an off-policy iteration (one
                // uniform), then the chunk seed starts the generator of the batch
                let off = !st.iteration.is_multiple_of(cfg.replay_ratio + 1);
                let mut kr = KernelRng::new(&mut r, usize::from(off));
                train::step(cfg, &mut st, &mut v, &target, &mut kr).unwrap()
            }
        };
        infos.push(info);
    }
    let (states, log_w) = train::buffer_contents(&st, &v);
    Outcome {
        params: v.model.params.to_vec(),
        infos,
        buffer: (states.to_vec(), log_w.to_vec()),
    }
}

fn run_buffer(cfg: &Config, runner: Option<(usize, usize)>, iters: usize) -> Outcome {
    run_with(cfg, runner, iters, false)
}

/// The random stream of a one-chunk iteration for the kernel's step: the first `direct`
/// draws come from the run's generator, then a generator seeded from its next value (the
/// chunk seed) takes over. (The kernel's `Rng` is implemented through `DerefMut`.)
struct KernelRng<'r> {
    run: &'r mut Xoshiro256PlusPlus,
    chunk: Option<Xoshiro256PlusPlus>,
    direct: usize,
}

impl<'r> KernelRng<'r> {
    fn new(run: &'r mut Xoshiro256PlusPlus, direct: usize) -> Self {
        KernelRng {
            run,
            chunk: None,
            direct,
        }
    }
}

impl std::ops::Deref for KernelRng<'_> {
    type Target = Xoshiro256PlusPlus;
    fn deref(&self) -> &Xoshiro256PlusPlus {
        self.chunk.as_ref().unwrap_or(self.run)
    }
}

impl std::ops::DerefMut for KernelRng<'_> {
    fn deref_mut(&mut self) -> &mut Xoshiro256PlusPlus {
        if self.direct > 0 {
            self.direct -= 1;
            return self.run;
        }
        let run = &mut *self.run;
        self.chunk
            .get_or_insert_with(|| rng::seeded(run.next_u64()))
    }
}

#[test]
fn buffer_methods_give_identical_results_on_one_and_two_threads() {
    for method in [Method::TbBuffer, Method::Rsmc] {
        let cfg = small(method);
        let a = run_buffer(&cfg, Some((1, 3)), 4);
        let b = run_buffer(&cfg, Some((2, 3)), 4);
        assert_eq!(bits(&a.params), bits(&b.params), "{method:?}");
        assert_eq!(bits(&a.buffer.0), bits(&b.buffer.0), "{method:?}");
        assert_eq!(bits(&a.buffer.1), bits(&b.buffer.1), "{method:?}");
        let loss = |o: &Outcome| -> Vec<u32> {
            o.infos
                .iter()
                .flat_map(|i| [i.tb_loss.to_bits(), i.subtb_loss.to_bits()])
                .collect()
        };
        assert_eq!(loss(&a), loss(&b), "{method:?}");
        // both kinds of iteration ran; rsmc ran SMC passes on the off-policy ones
        let on: Vec<bool> = a.infos.iter().map(|i| i.on_policy).collect();
        assert_eq!(on, [true, false, true, false], "{method:?}");
        for i in &a.infos {
            assert!(i.tb_loss.is_finite());
            let smc = method == Method::Rsmc && !i.on_policy;
            assert_eq!(i.smc_log_z.is_finite(), smc, "{method:?}");
            assert_eq!(i.subtb_loss > 0.0, method == Method::Rsmc, "{method:?}");
        }
        // the buffer grew by the on-policy batches (and the SMC particles)
        let per_pass = if method == Method::Rsmc { 2 * 17 } else { 0 };
        let prefill = if method == Method::Rsmc { 2 * 17 } else { 0 };
        assert_eq!(a.buffer.1.len(), prefill + 2 * 13 + per_pass, "{method:?}");
        // and a different chunk count is a different random stream
        let c = run_buffer(&cfg, Some((2, 2)), 4);
        assert_ne!(bits(&a.params), bits(&c.params), "{method:?}");
    }
}

#[test]
fn one_chunk_tb_buffer_is_the_kernel_step() {
    // with one chunk, an on-policy iteration is the kernel's step with the generator
    // seeded by the chunk seed, and an off-policy one the kernel's step with the buffer
    // draw from the run's generator and the backward trajectories from the chunk seed's:
    // the same gradients, inserts, clipping and Adam, so the same bits
    let cfg = small(Method::TbBuffer);
    let a = run_buffer(&cfg, Some((2, 1)), 4);
    let k = run_buffer(&cfg, None, 4);
    assert_eq!(bits(&a.params), bits(&k.params));
    assert_eq!(bits(&a.buffer.0), bits(&k.buffer.0));
    assert_eq!(bits(&a.buffer.1), bits(&k.buffer.1));
    for (x, y) in a.infos.iter().zip(&k.infos) {
        assert_eq!(x.tb_loss.to_bits(), y.tb_loss.to_bits());
        assert_eq!(x.buffer_lambda.to_bits(), y.buffer_lambda.to_bits());
    }
}

#[test]
fn the_log_r_floor_masks_the_same_rows_in_the_chunked_runner_as_in_the_kernel_step() {
    let plain = small(Method::TbBuffer);
    let before = run_buffer(&plain, None, 1);
    // the median log R of the first on-policy batch (the buffer's first 13 entries)
    let target = Target::from_name("gmm40", Some(2)).unwrap();
    let mut log_r: Vec<f32> = before.buffer.0[..2 * 13]
        .chunks_exact(2)
        .map(|x| target.log_density(x))
        .collect();
    log_r.sort_by(f32::total_cmp);
    let cfg = Config {
        low_reward: LowReward::Mask(log_r[6]),
        ..plain
    };
    let a = run_buffer(&cfg, Some((2, 1)), 4);
    let k = run_buffer(&cfg, None, 4);
    assert_eq!(a.infos[0].masked, 6);
    assert_eq!(bits(&a.buffer.1[..13]), bits(&k.buffer.1[..13]));
    for (x, y) in a.infos.iter().zip(&k.infos) {
        assert_eq!(x.masked, y.masked);
    }
    // with masked rows the runner rescales the summed gradient by B/B' where the kernel
    // divides by B' at once: the same step up to rounding, not the same bits
    for (x, y) in a.params.iter().zip(&k.params) {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
    }
    assert_eq!(
        bits(&a.params),
        bits(&run_buffer(&cfg, Some((1, 1)), 4).params)
    );
    assert_eq!(
        a.buffer.1[..13].iter().filter(|w| w.is_infinite()).count(),
        6
    );
    assert_ne!(
        bits(&a.params),
        bits(&run_buffer(&plain, Some((2, 1)), 4).params)
    );
}

#[test]
fn one_chunk_rsmc_on_policy_iteration_is_the_kernel_step() {
    // TB + SubTB of an on-policy batch and its buffer insert; the SMC pass of the
    // off-policy iterations draws its particles from per-chunk streams, so those differ
    let cfg = small(Method::Rsmc);
    let a = run_with(&cfg, Some((2, 1)), 1, true);
    let k = run_buffer(&cfg, None, 1);
    assert_eq!(bits(&a.params), bits(&k.params));
    assert_eq!(bits(&a.buffer.1), bits(&k.buffer.1));
    assert_eq!(
        a.infos[0].subtb_loss.to_bits(),
        k.infos[0].subtb_loss.to_bits()
    );
    assert!(a.infos[0].subtb_loss > 0.0);
}

#[test]
fn chunked_smc_particles_enter_the_buffer_with_z_scaled_weights() {
    // (1/N) Σ w_i = Ẑ for the particles of the pass, as for the kernel's SMC
    let cfg = small(Method::Rsmc);
    let a = run_buffer(&cfg, Some((2, 3)), 2);
    let z = a.infos[1].smc_log_z;
    let lw = &a.buffer.1[a.buffer.1.len() - cfg.particles..];
    let m = lw.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let s: f64 = lw.iter().map(|&l| (l as f64 - m).exp()).sum();
    let lme = m + (s / cfg.particles as f64).ln();
    assert!((lme - z).abs() < 1e-4, "{lme} vs {z}");
}

#[test]
fn rsmc_without_a_buffer_gives_identical_results_on_one_and_two_threads() {
    let cfg = Config {
        particles: 13,
        init_log_z_from_smc: false,
        ..small(Method::RsmcNoBuffer)
    };
    let a = run_buffer(&cfg, Some((1, 3)), 4);
    let b = run_buffer(&cfg, Some((2, 3)), 4);
    assert_eq!(bits(&a.params), bits(&b.params));
    let trace = |o: &Outcome| -> Vec<u64> {
        o.infos
            .iter()
            .flat_map(|i| {
                [
                    u64::from(i.tb_loss.to_bits()),
                    u64::from(i.subtb_loss.to_bits()),
                    i.smc_log_z.to_bits(),
                ]
            })
            .collect()
    };
    assert_eq!(trace(&a), trace(&b));
    let on: Vec<bool> = a.infos.iter().map(|i| i.on_policy).collect();
    assert_eq!(on, [true, false, true, false]);
    for i in &a.infos {
        assert!(i.tb_loss.is_finite() && i.subtb_loss > 0.0);
        assert_eq!(i.smc_log_z.is_finite(), !i.on_policy);
        assert_eq!(i.buffer_len, 0);
    }
    assert!(a.buffer.1.is_empty(), "no buffer");
    // a different chunk count is a different random stream
    let c = run_buffer(&cfg, Some((2, 2)), 4);
    assert_ne!(bits(&a.params), bits(&c.params));
}
