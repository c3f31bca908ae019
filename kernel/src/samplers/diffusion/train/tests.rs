#![cfg(test)]
//! Unit tests of the diffusion trainer.

extern crate std;
use super::super::reference::Process;
use super::*;
use crate::arena::Carried;
use crate::rng;
use crate::targets::Target;
use std::vec;

fn small(method: Method) -> Config {
    Config {
        method,
        process: Process::OrnsteinUhlenbeck { init_std: 3.0 },
        steps: 16,
        batch: 64,
        hidden: 16,
        harmonics: 8,
        flow_hidden: 16,
        particles: 64,
        buffer_capacity: 2000,
        prefill: 4,
        iterations: 300,
        ..Config::default()
    }
}

/// Runs `f` on a fresh 2-D trainer of `cfg` (its views, state and `rng::seeded(seed)`),
/// for the buffer passes' tests.
pub(super) fn with_trainer<T>(
    cfg: &Config,
    seed: u64,
    f: impl FnOnce(&mut Views<'_>, &mut State, &mut rng::Xoshiro256PlusPlus) -> T,
) -> T {
    let layout = Layout::new(cfg, 2).unwrap();
    let (mut fa, mut ua) = (vec![0.0f32; layout.f32_len], vec![0u32; layout.u32_len]);
    let mut r = rng::seeded(seed);
    let mut v = views(&layout, &mut fa, &mut ua);
    let mut st = init(cfg, &layout, &mut v, &mut r).unwrap();
    f(&mut v, &mut st, &mut r)
}

/// Stores one 2-D entry in the trainer's buffer.
pub(super) fn store(v: &mut Views<'_>, st: &mut State, x: &[f32; 2], log_w: f32, log_r: f32) {
    let b = &mut v.buffer;
    let mut buf =
        crate::buffer::ReplayBuffer::from_parts(2, b.states, b.log_w, b.log_r, st.buffer).unwrap();
    buf.insert(x, &[log_w], &[log_r]).unwrap();
    st.buffer = buf.cursor();
}

fn views<'a>(layout: &Layout, fa: &'a mut [f32], ua: &'a mut [u32]) -> Views<'a> {
    Views::new(layout, fa, ua).unwrap()
}

fn train(method: Method, iters: u32, seed: u64) -> (f32, f32, f32) {
    let target = Target::from_name("9gmm", None).unwrap();
    let cfg = small(method);
    let layout = Layout::new(&cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(seed);
    let mut st = init(&cfg, &layout, &mut views(&layout, &mut fa, &mut ua), &mut r).unwrap();
    let mut last = step(
        &cfg,
        &mut st,
        &mut views(&layout, &mut fa, &mut ua),
        &target,
        &mut r,
    )
    .unwrap();
    let mut early = 0.0;
    for i in 1..iters {
        // views carved anew on every call, as owners do
        let mut v = views(&layout, &mut fa, &mut ua);
        last = step(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
        if i < 20 {
            early += last.tb_loss / 19.0;
        }
    }
    assert_eq!(st.iteration, iters);
    (early, last.tb_loss, last.log_z)
}

#[test]
fn every_method_trains_and_is_reproducible() {
    for method in [
        Method::Tb,
        Method::TbBuffer,
        Method::Rsmc,
        Method::RsmcNoBuffer,
    ] {
        let (early, late, log_z) = train(method, 60, 1);
        assert!(late.is_finite() && log_z.is_finite(), "{method:?}");
        assert!(
            late < early,
            "{method:?}: TB loss should fall: {early} -> {late}"
        );
        assert_eq!(
            train(method, 10, 7),
            train(method, 10, 7),
            "{method:?}: same seed, same numbers"
        );
    }
}

#[test]
fn log_z_can_start_at_the_prefill_smc_estimate() {
    // ManyWell-2 has log Z = 10.29…: far from the default start at 0.
    let target = Target::from_name("manywell", Some(2)).unwrap();
    let true_log_z = target.log_z().unwrap() as f32;
    let run = |from_smc: bool| {
        let cfg = Config {
            init_log_z_from_smc: from_smc,
            particles: 256,
            ..small(Method::Rsmc)
        };
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(3);
        let mut v = views(&layout, &mut fa, &mut ua);
        let mut st = init(&cfg, &layout, &mut v, &mut r).unwrap();
        assert_eq!(prefill(&cfg, &mut st, &mut v, &target, &mut r).unwrap(), 4);
        assert_eq!(
            prefill(&cfg, &mut st, &mut v, &target, &mut r).unwrap(),
            0,
            "once"
        );
        (v.log_z(), buffer_contents(&st, &v).1.to_vec())
    };
    let (zero, buf0) = run(false);
    let (est, buf1) = run(true);
    assert_eq!(zero, 0.0);
    assert!(
        (est - true_log_z).abs() < 1.0,
        "prefill SMC estimate {est} vs log Z {true_log_z}"
    );
    // the same SMC runs: only the starting log Z differs
    assert_eq!(buf0, buf1);
}

/// With a zero-drift policy the OU chain from `N(0, σ²I)` is the reference itself, so
/// the mean log weight is `E_{N(0,σ²I)}[log N(x; 0, I) − log N(x; 0, σ²I)]
/// = d·(ln σ − (σ² − 1)/2)`, which is where the batch initialisation must put `log Z`.
#[test]
fn log_z_can_start_at_the_mean_log_weight_of_a_batch() {
    let target = Target::from_name("gaussian", Some(2)).unwrap();
    let sigma = 3.0f32;
    let expect = 2.0 * (f64::from(sigma).ln() - (f64::from(sigma * sigma) - 1.0) / 2.0);
    for method in [Method::Tb, Method::TbBuffer, Method::Rsmc] {
        let cfg = Config {
            init_log_z_from_batch: true,
            batch: 4000,
            ..small(method)
        };
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(11);
        let mut v = views(&layout, &mut fa, &mut ua);
        let mut st = init(&cfg, &layout, &mut v, &mut r).unwrap();
        assert_eq!(v.log_z(), 0.0);
        prefill(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
        // the per-sample log weight has std 8 here (standard error 0.13 at batch 4000)
        let got = f64::from(v.log_z());
        assert!((got - expect).abs() < 0.5, "{method:?}: {got} vs {expect}");
    }
    let both = Config {
        init_log_z_from_batch: true,
        init_log_z_from_smc: true,
        ..small(Method::Rsmc)
    };
    assert!(matches!(both.validate(), Err(Error::InvalidConfig(_))));
}

/// The same zero-drift chain: the weights `N(x; 0, I)/N(x; 0, σ²I)` have mean 1 (the
/// target is normalised), so their log-mean-exp, the importance-weighted initialisation, is
/// near `log Z = 0` (E[w²] = (σ/√(2 − 1/σ²))² = 4.77 at σ = 3, d = 2: the mean of 4000 has
/// standard error 0.031), far from the mean log weight (−7.8).
#[test]
fn log_z_can_start_at_the_importance_weighted_estimate_of_a_batch() {
    let target = Target::from_name("gaussian", Some(2)).unwrap();
    for method in [Method::Tb, Method::TbBuffer, Method::Rsmc] {
        let cfg = Config {
            init_log_z_from_batch: true,
            init_log_z_iw: true,
            batch: 4000,
            ..small(method)
        };
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(11);
        let mut v = views(&layout, &mut fa, &mut ua);
        let mut st = init(&cfg, &layout, &mut v, &mut r).unwrap();
        prefill(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
        let got = f64::from(v.log_z());
        assert!(got.abs() < 0.15, "{method:?}: {got}");
    }
    let alone = Config {
        init_log_z_iw: true,
        ..small(Method::Tb)
    };
    assert!(matches!(alone.validate(), Err(Error::InvalidConfig(_))));
}

#[test]
fn bad_configs_are_rejected() {
    let bad = Config {
        batch: 0,
        ..small(Method::Tb)
    };
    assert!(matches!(Layout::new(&bad, 2), Err(Error::InvalidConfig(_))));
    let bad = Config {
        lr_policy: f32::NAN,
        ..small(Method::Tb)
    };
    assert!(Layout::new(&bad, 2).is_err());
    let bad = Config {
        steps: 18,
        ..small(Method::Rsmc)
    };
    assert!(Layout::new(&bad, 2).is_err(), "chunk 4 does not divide 18");
    let cfg = small(Method::Tb);
    let layout = Layout::new(&cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len - 1];
    let mut ua = vec![0u32; layout.u32_len];
    assert!(matches!(
        Views::new(&layout, &mut fa, &mut ua),
        Err(Error::ShapeMismatch { .. })
    ));
    // a layout of another configuration is refused by init
    let other = Layout::new(&small(Method::TbBuffer), 2).unwrap();
    let mut fa = vec![0.0f32; other.f32_len];
    let mut ua = vec![0u32; other.u32_len];
    let mut v = views(&other, &mut fa, &mut ua);
    assert!(matches!(
        init(&cfg, &other, &mut v, &mut rng::seeded(0)),
        Err(Error::InvalidConfig(_))
    ));
}

/// [`step_on`] is [`step`]'s batch, gradient and optimiser step without the buffer insert:
/// on-policy TB gives the same bits as [`step`]; buffer batches need a filled buffer and
/// leave it as it is.
#[test]
fn step_on_is_step_without_the_insert() {
    let target = Target::from_name("9gmm", None).unwrap();
    let run = |on: bool| {
        let cfg = small(Method::Tb);
        let layout = Layout::new(&cfg, 2).unwrap();
        let (mut fa, mut ua) = (vec![0.0f32; layout.f32_len], vec![0u32; layout.u32_len]);
        let mut r = rng::seeded(2);
        let mut st = init(&cfg, &layout, &mut views(&layout, &mut fa, &mut ua), &mut r).unwrap();
        let mut infos = vec![];
        for _ in 0..5 {
            let mut v = views(&layout, &mut fa, &mut ua);
            infos.push(if on {
                step_on(&cfg, &mut st, &mut v, Batch::OnPolicy, &target, &mut r).unwrap()
            } else {
                step(&cfg, &mut st, &mut v, &target, &mut r).unwrap()
            });
        }
        // `step` also marks the (empty) prefill as done; `Info` holds NaNs (no SMC)
        (
            std::format!("{infos:?}"),
            fa,
            State {
                prefilled: true,
                ..st
            },
        )
    };
    assert_eq!(run(true), run(false));

    let cfg = small(Method::TbBuffer);
    let layout = Layout::new(&cfg, 2).unwrap();
    let (mut fa, mut ua) = (vec![0.0f32; layout.f32_len], vec![0u32; layout.u32_len]);
    let mut r = rng::seeded(3);
    let mut v = views(&layout, &mut fa, &mut ua);
    let mut st = init(&cfg, &layout, &mut v, &mut r).unwrap();
    assert!(matches!(
        step_on(&cfg, &mut st, &mut v, Batch::Buffer, &target, &mut r),
        Err(Error::Degenerate(_))
    ));
    step_on(&cfg, &mut st, &mut v, Batch::OnPolicy, &target, &mut r).unwrap();
    assert_eq!((st.buffer.len, st.iteration), (0, 1), "nothing stored");
    step(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
    let cursor = st.buffer;
    assert_eq!(cursor.len, 64);
    let info = step_on(&cfg, &mut st, &mut v, Batch::Buffer, &target, &mut r).unwrap();
    assert!(!info.on_policy && info.tb_loss.is_finite() && info.buffer_lambda <= 1.0);
    assert_eq!((st.buffer, st.iteration), (cursor, 3));
}

/// `Views::carried` is all of the arenas a step needs: a copy of those buffers into arenas
/// whose other `f32` values are NaN, with the `State` and the random stream, continues with
/// the same bits as the original.
#[test]
fn the_carried_buffers_resume_a_run_exactly() {
    let target = Target::from_name("9gmm", None).unwrap();
    for method in [
        Method::Tb,
        Method::TbBuffer,
        Method::Rsmc,
        Method::RsmcNoBuffer,
    ] {
        let cfg = small(method);
        let layout = Layout::new(&cfg, 2).unwrap();
        let (mut fa, mut ua) = (vec![0.0f32; layout.f32_len], vec![0u32; layout.u32_len]);
        let mut r = rng::seeded(3);
        let mut st = init(&cfg, &layout, &mut views(&layout, &mut fa, &mut ua), &mut r).unwrap();
        let go = |st: &mut State, fa: &mut [f32], ua: &mut [u32], r: &mut _, n: usize| {
            let mut last = None;
            for _ in 0..n {
                let mut v = views(&layout, fa, ua);
                last = Some(step(&cfg, st, &mut v, &target, r).unwrap());
            }
            last
        };
        go(&mut st, &mut fa, &mut ua, &mut r, 5);
        let (mut fb, mut ub) = (vec![f32::NAN; layout.f32_len], vec![0u32; layout.u32_len]);
        let mut saved: std::vec::Vec<std::vec::Vec<f32>> = std::vec::Vec::new();
        views(&layout, &mut fa, &mut ua).carried(&mut |c| match c {
            Carried::F32(s) => saved.push(s.to_vec()),
            Carried::U32(_) => unreachable!("no u32 buffer carries over"),
        });
        let mut i = 0;
        views(&layout, &mut fb, &mut ub).carried(&mut |c| {
            if let Carried::F32(s) = c {
                s.copy_from_slice(&saved[i]);
                i += 1;
            }
        });
        let (mut st2, mut r2) = (st, r.clone());
        let a = go(&mut st, &mut fa, &mut ua, &mut r, 5).unwrap();
        let b = go(&mut st2, &mut fb, &mut ub, &mut r2, 5).unwrap();
        assert_eq!(st, st2, "{method:?}");
        assert_eq!(a.tb_loss.to_bits(), b.tb_loss.to_bits(), "{method:?}");
        let bits = |f: &[f32]| f.iter().map(|x| x.to_bits()).collect::<std::vec::Vec<_>>();
        assert_eq!(
            bits(layout.params(&fa)),
            bits(layout.params(&fb)),
            "{method:?}"
        );
    }
}

#[test]
fn seed_buffer_weights_omit_log_p0_of_on_policy_samples_only() {
    let target = Target::from_name("9gmm", None).unwrap();
    let run = |weights: BufferWeights| {
        let cfg = Config {
            buffer_weights: weights,
            ..small(Method::Rsmc)
        };
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(3);
        let mut st = init(&cfg, &layout, &mut views(&layout, &mut fa, &mut ua), &mut r).unwrap();
        // Iteration 0 is on-policy: the prefill's SMC particles, then the batch, go in.
        let info = step(
            &cfg,
            &mut st,
            &mut views(&layout, &mut fa, &mut ua),
            &target,
            &mut r,
        );
        assert!(info.unwrap().on_policy);
        let v = views(&layout, &mut fa, &mut ua);
        let sched = Schedule::view(cfg.process, cfg.steps, &*v.table).unwrap();
        let log_p0: vec::Vec<f32> = v.traj.state(0).chunks(2).map(|x| sched.log_p0(x)).collect();
        (v.buffer.log_w[..st.buffer.len].to_vec(), log_p0)
    };
    let (corrected, log_p0) = run(BufferWeights::Corrected);
    let (seed, _) = run(BufferWeights::Seed);
    let smc = 4 * 64; // prefill runs × particles
    assert_eq!(corrected.len(), smc + 64);
    assert_eq!(corrected[..smc], seed[..smc], "SMC weights are the same");
    for ((c, s), p0) in corrected[smc..].iter().zip(&seed[smc..]).zip(&log_p0) {
        assert!(*p0 < -4.0, "log p0 of N(0, 9 I) in 2-d is below -4: {p0}");
        assert_eq!(*s, *c + *p0);
    }
    // Only rsmc with the OU reference takes the seeds' rule.
    let bad = Config {
        buffer_weights: BufferWeights::Seed,
        ..small(Method::TbBuffer)
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidConfig(_))));
}

/// "TB + SMC" without a buffer: no prefill and no buffer; on-policy every third iteration;
/// each other iteration runs one SMC pass and trains on exactly its final particles.
#[test]
fn rsmc_without_a_buffer_trains_on_the_particles_of_its_own_smc_pass() {
    let target = Target::from_name("9gmm", None).unwrap();
    let cfg = small(Method::RsmcNoBuffer);
    let layout = Layout::new(&cfg, 2).unwrap();
    assert_eq!(layout.particles, 64);
    let (mut fa, mut ua) = (vec![0.0f32; layout.f32_len], vec![0u32; layout.u32_len]);
    let mut r = rng::seeded(5);
    let mut st = init(&cfg, &layout, &mut views(&layout, &mut fa, &mut ua), &mut r).unwrap();
    for it in 0..6u32 {
        let mut v = views(&layout, &mut fa, &mut ua);
        let info = step(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
        assert_eq!(info.on_policy, it % 3 == 0, "iteration {it}");
        assert_eq!(info.smc_log_z.is_finite(), !info.on_policy);
        assert!(info.tb_loss.is_finite() && info.subtb_loss > 0.0);
        assert_eq!((st.buffer.len, info.buffer_len), (0, 0));
        if !info.on_policy {
            assert_eq!(v.traj.terminal(), v.smc_traj.terminal(), "iteration {it}");
        }
    }
    assert!(st.prefilled);
    assert_eq!(
        st.smc_runs, 4,
        "one pass per off-policy iteration, no prefill"
    );
    let bad = Config {
        particles: 32,
        ..cfg
    };
    assert!(matches!(Layout::new(&bad, 2), Err(Error::InvalidConfig(_))));
}

#[test]
fn exploration_decays_linearly_to_zero() {
    let mut c = small(Method::Tb);
    c.policy.exploration_std = 0.4;
    c.exploration_decay = 100;
    assert_eq!(c.at_iteration(0).policy.exploration_std, 0.4);
    assert_eq!(c.at_iteration(50).policy.exploration_std, 0.2);
    assert_eq!(c.at_iteration(100).policy.exploration_std, 0.0);
    assert_eq!(c.at_iteration(250).policy.exploration_std, 0.0);
    c.exploration_decay = 0;
    assert_eq!(c.at_iteration(250), c);
}

/// Parameters after `iters` tb steps from seed 3, the first with `first` and the rest
/// with `rest`.
fn tb_params(first: &Config, rest: &Config, iters: u32) -> std::vec::Vec<f32> {
    let target = Target::from_name("9gmm", None).unwrap();
    let layout = Layout::new(first, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(3);
    let mut st = init(
        first,
        &layout,
        &mut views(&layout, &mut fa, &mut ua),
        &mut r,
    )
    .unwrap();
    for i in 0..iters {
        let cfg = if i == 0 { first } else { rest };
        let mut v = views(&layout, &mut fa, &mut ua);
        step(cfg, &mut st, &mut v, &target, &mut r).unwrap();
    }
    views(&layout, &mut fa, &mut ua).model.params.to_vec()
}

#[test]
fn the_step_samples_with_the_decayed_exploration() {
    let plain = small(Method::Tb);
    let mut constant = plain;
    constant.policy.exploration_std = 0.5;
    let decayed = Config {
        exploration_decay: 1,
        ..constant
    };
    // iteration 0 explores with 0.5 in both; from iteration 1 on the decayed run samples
    // as one without exploration, the constant one does not
    let a = tb_params(&constant, &decayed, 3);
    let b = tb_params(&constant, &plain, 3);
    let c = tb_params(&constant, &constant, 3);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// One step of `cfg` from seed 5 on the 9-component grid: its info, the batch's `log R`
/// as the loss saw it, the buffer's log weights and the parameters after the step.
fn one_step(
    cfg: &Config,
) -> (
    Info,
    std::vec::Vec<f32>,
    std::vec::Vec<f32>,
    std::vec::Vec<f32>,
) {
    let target = Target::from_name("9gmm", None).unwrap();
    let layout = Layout::new(cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(5);
    let mut st = init(cfg, &layout, &mut views(&layout, &mut fa, &mut ua), &mut r).unwrap();
    let mut v = views(&layout, &mut fa, &mut ua);
    let info = step(cfg, &mut st, &mut v, &target, &mut r).unwrap();
    let log_w = buffer_contents(&st, &v).1.to_vec();
    (info, v.batch.log_r.to_vec(), log_w, v.model.params.to_vec())
}

#[test]
fn rewards_below_the_floor_are_masked_or_clamped() {
    let plain = Config {
        prefill: 0,
        ..small(Method::TbBuffer)
    };
    let (info, log_r, log_w, params) = one_step(&plain);
    assert_eq!(info.masked, 0);
    let mut sorted = log_r.clone();
    sorted.sort_by(f32::total_cmp);
    let floor = sorted[sorted.len() / 2];
    let below = log_r.iter().filter(|&&v| v < floor).count();
    assert!(below > 0);
    let floored = Config {
        low_reward: LowReward::Mask(floor),
        ..plain
    };
    let (fi, flog_r, flog_w, fparams) = one_step(&floored);
    assert_eq!(fi.masked as usize, below);
    for ((&a, &b), (&wa, &wb)) in log_r.iter().zip(&flog_r).zip(log_w.iter().zip(&flog_w)) {
        if a < floor {
            assert_eq!((b, wb), (f32::NEG_INFINITY, f32::NEG_INFINITY));
        } else {
            assert_eq!((a, wa), (b, wb));
        }
    }
    assert_ne!(params, fparams);
    // clamped: the same rows raised to the floor, none masked
    let clamped = Config {
        low_reward: LowReward::Clamp(floor),
        ..plain
    };
    let (ci, clog_r, clog_w, cparams) = one_step(&clamped);
    assert_eq!(ci.masked, 0);
    for (&a, &c) in log_r.iter().zip(&clog_r) {
        assert_eq!(c, a.max(floor));
    }
    assert!(clog_w.iter().all(|w| w.is_finite()));
    assert_ne!(cparams, params);
    assert_ne!(cparams, fparams);
    // a floor below every reward changes no bit
    for rule in [LowReward::Mask, LowReward::Clamp] {
        let low = Config {
            low_reward: rule(sorted[0] - 1.0),
            ..plain
        };
        assert_eq!(one_step(&low).3, params);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let c = Config {
                low_reward: rule(bad),
                ..plain
            };
            assert!(matches!(c.validate(), Err(Error::InvalidConfig(_))));
        }
    }
}

#[test]
fn the_reward_power_rises_linearly_to_one() {
    let mut c = small(Method::Rsmc);
    assert_eq!((c.reward_beta(0), c.reward_beta(9)), (1.0, 1.0));
    c.reward_anneal = RewardAnneal {
        start: 0.5,
        iters: 100,
    };
    assert_eq!(c.reward_beta(0), 0.5);
    assert_eq!(c.reward_beta(50), 0.75);
    assert_eq!((c.reward_beta(100), c.reward_beta(1000)), (1.0, 1.0));
    for (start, iters) in [(0.0, 10), (1.5, 10), (f32::NAN, 10), (0.5, 0)] {
        c.reward_anneal = RewardAnneal { start, iters };
        assert!(c.validate().is_err(), "{start} over {iters}");
    }
    c.reward_anneal = RewardAnneal {
        start: 1.0,
        iters: 0,
    };
    assert!(c.validate().is_ok());
}

/// The prefill's SMC estimate of `log Z` is of the tempered target `N(x; 0, I)^β` while the
/// power is below 1: `log ∫ N(x; 0, I)^{1/2} dx = ln 2 + ½ ln 2π ≈ 1.612` in 2-D, against
/// `log Z = 0` untempered.
#[test]
fn the_prefill_estimates_the_log_z_of_the_tempered_target() {
    let target = Target::from_name("gaussian", Some(2)).unwrap();
    let run = |anneal: RewardAnneal| {
        let cfg = Config {
            init_log_z_from_smc: true,
            particles: 256,
            reward_anneal: anneal,
            ..small(Method::Rsmc)
        };
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(5);
        let mut v = views(&layout, &mut fa, &mut ua);
        let mut st = init(&cfg, &layout, &mut v, &mut r).unwrap();
        prefill(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
        v.log_z()
    };
    let plain = run(RewardAnneal::OFF);
    let half = run(RewardAnneal {
        start: 0.5,
        iters: 100,
    });
    let expected = (2.0f64.ln() + 0.5 * (2.0 * core::f64::consts::PI).ln()) as f32;
    assert!(plain.abs() < 0.2, "untempered {plain}");
    assert!(
        (half - expected).abs() < 0.2,
        "tempered {half} vs {expected}"
    );
    // a power of 1 over any rise is the untempered run, bit for bit
    let one = run(RewardAnneal {
        start: 1.0,
        iters: 100,
    });
    assert_eq!(one.to_bits(), plain.to_bits());
}
