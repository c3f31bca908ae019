//! Criterion bench of one SMC pass of the diffusion sampler as the RSMC trainer runs it
//! (`samplers::diffusion::smc::run`, called by `train::prefill` and by every off-policy
//! RSMC iteration): `N = 300` particles on GMM40-2d, `T = 64` Euler–Maruyama steps of the
//! OU reference with `σ = 20` (the CLI's defaults for `--target gmm40 --method rsmc`),
//! the PIS policy (hidden 64, 64 harmonics, fixed variance) as proposal, the learnt flows
//! (hidden 64) as twists, reweighting every `L = 4` steps, adaptive tempering to ESS 0.05 and
//! systematic resampling when `ESS/N < 0.2`. The parameters are the trainer's
//! initialisation (seed 0; zero last policy layer), so the pass does the work of the
//! buffer-prefill passes.
//!
//! Each measured pass restarts from the same generator state (seed 9), so every pass does
//! the same work (the same number of resampling events). All buffers are allocated once,
//! outside the timed loop.
//!
//! `cargo bench --bench smc` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use amortise_kernel::nn::LastLayerInit;
use amortise_kernel::rng::seeded;
use amortise_kernel::samplers::diffusion::flow::Twist;
use amortise_kernel::samplers::diffusion::policy::{Policy, Rollout};
use amortise_kernel::samplers::diffusion::reference::{Process, Schedule};
use amortise_kernel::samplers::diffusion::smc::{self, SmcWorkspace};
use amortise_kernel::samplers::diffusion::train::{Config as TrainConfig, Method};
use amortise_kernel::targets::Gmm40;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn smc_pass(c: &mut Criterion) {
    let (n, t) = (300usize, 64usize);
    let cfg = TrainConfig {
        method: Method::Rsmc,
        process: Process::OrnsteinUhlenbeck { init_std: 20.0 },
        steps: t,
        particles: n,
        ..TrainConfig::default()
    };
    cfg.validate().expect("valid config");
    let target = Gmm40::new(2).expect("gmm40-2d");
    let d = 2;
    let net = cfg.policy_net(d).expect("policy net");
    let flows = cfg.flows(d).expect("flows");
    let mut init_rng = seeded(0);
    let mut params = vec![0.0f32; net.param_count()];
    net.init(&mut params, LastLayerInit::Zero, &mut init_rng)
        .expect("policy init");
    let mut flow_params = vec![0.0f32; flows.param_count()];
    flows
        .init(&mut flow_params, &mut init_rng)
        .expect("flow init");
    let mut table = vec![0.0f32; Schedule::table_len(t)];
    let sched = Schedule::new(cfg.process, t, &mut table).expect("schedule");

    let mut rollout = vec![0.0f32; Rollout::arena_len(&net, n, t, false)];
    let Rollout {
        mut traj,
        ws: mut pws,
    } = Rollout::carve(&net, n, t, false, &mut rollout).expect("rollout arena");
    let lens = SmcWorkspace::lens(n, d, t, Some(&flows));
    let (wf, wu) = SmcWorkspace::arena_lens(&lens);
    let (mut wf, mut wu) = (vec![0.0f32; wf], vec![0u32; wu]);
    let mut ws = SmcWorkspace::carve(&lens, &mut wf, &mut wu).expect("smc arenas");
    let mut pass = || {
        let mut rng = seeded(9);
        let sampler = smc::Sampler {
            cfg: &cfg.smc,
            proposal: Policy {
                cfg: &cfg.policy,
                sched: &sched,
                net: &net,
                params: black_box(&params),
            },
            twist: Some(Twist {
                flows: &flows,
                params: &flow_params,
            }),
        };
        smc::run(sampler, &target, &mut traj, &mut pws, &mut ws, &mut rng).expect("SMC pass")
    };
    // The pass must do the work this bench is about: resampling at least once.
    let info = pass();
    assert!(
        info.resamples > 0 && info.log_z.is_finite(),
        "SMC pass without resampling or with a non-finite log Z: {info:?}"
    );

    let mut g = c.benchmark_group("smc");
    g.sample_size(20);
    // particle-steps per pass
    g.throughput(Throughput::Elements((n * t) as u64));
    g.bench_function("rsmc_pass/gmm40-2d/N300/T64", |b| {
        b.iter(|| black_box(pass()))
    });
    g.finish();
}

criterion_group!(benches, smc_pass);
criterion_main!(benches);
