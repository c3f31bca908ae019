#![cfg(test)]
//! Unit tests of the VGS training kernel.

extern crate std;
use super::*;
use crate::nn::LastLayerInit;
use crate::rng::{Xoshiro256PlusPlus, fill_standard_normal, seeded};
use crate::samplers::vgs::rollout::{Draw, Rows, SampleInfo, sample, value, value_grad};
use crate::samplers::vgs::{Features, TdLoss, ValueNet};
use crate::targets::{Dw4, GridGmm, Lj13};
use std::vec;
use std::vec::Vec;

/// A test owner, as the CLI keeps one: plain buffers and a [`State`], [`Views`] carved
/// on each call.
struct Owner {
    cfg: Config,
    layout: Layout,
    fa: Vec<f32>,
    ua: Vec<u32>,
    state: State,
}

impl Owner {
    fn init<R: Rng + ?Sized>(cfg: &Config, dim: usize, rng: &mut R) -> Result<Owner, Error> {
        let layout = Layout::new(cfg, dim)?;
        let mut o = Owner {
            cfg: *cfg,
            layout,
            fa: vec![0.0; layout.f32_len],
            ua: vec![0; layout.u32_len],
            state: State::default(),
        };
        o.state = init(cfg, &layout, &mut o.views(), rng)?;
        Ok(o)
    }
    fn views(&mut self) -> Views<'_> {
        Views::new(&self.layout, &mut self.fa, &mut self.ua).unwrap()
    }
    fn ctx(&self) -> Ctx {
        Ctx::new(&self.cfg, &self.layout).unwrap()
    }
    fn net(&self) -> ValueNet {
        self.layout.net
    }
    fn restore(&mut self, p: &[f32], t: &[f32], log_sigma: f32) -> Result<(), Error> {
        restore(&mut self.views(), p, t, log_sigma)
    }
    fn value(&mut self, x: &[f32], step: u32, out: &mut [f32]) -> Result<(), Error> {
        let cfg = self.cfg;
        value(&cfg, &mut self.views(), x, step, out)
    }
    fn value_grad(&mut self, x: &[f32], step: u32, out: &mut [f32]) -> Result<(), Error> {
        let cfg = self.cfg;
        value_grad(&cfg, &mut self.views(), x, step, out)
    }
    fn step<T: LogDensity + ?Sized>(
        &mut self,
        t: &T,
        r: &mut Xoshiro256PlusPlus,
    ) -> Result<Info, Error> {
        let (cfg, l) = (self.cfg, self.layout);
        let mut v = Views::new(&l, &mut self.fa, &mut self.ua)?;
        step(&cfg, &mut self.state, &mut v, t, r)
    }
    fn sample<T: LogDensity + ?Sized>(
        &mut self,
        t: &T,
        draw: Draw<'_>,
        r: &mut Xoshiro256PlusPlus,
    ) -> Result<SampleInfo, Error> {
        let cfg = self.cfg;
        sample(&cfg, &mut self.views(), t, draw, r)
    }
    fn params(&mut self) -> Vec<f32> {
        self.views().model.params.to_vec()
    }
    fn target_params(&mut self) -> Vec<f32> {
        self.views().target.to_vec()
    }
    fn init_sigma(&mut self) -> f32 {
        self.views().init_sigma()
    }
}

fn draw<'b>(nu: f32, final_noise: bool, out: &'b mut [f32], log_w: &'b mut [f32]) -> Draw<'b> {
    Draw {
        nu,
        final_noise,
        out,
        log_w,
    }
}

/// Rotates every particle by the orthogonal `rot` (`k × k`, row-major), permutes the
/// particles by `perm` and translates by `shift`.
fn transform(x: &[f32], k: usize, rot: &[f64], perm: &[usize], shift: &[f32]) -> Vec<f32> {
    let n = x.len() / k;
    let mut out = vec![0.0f32; x.len()];
    for i in 0..n {
        let src = &x[perm[i] * k..(perm[i] + 1) * k];
        for a in 0..k {
            let mut s = 0.0f64;
            for b in 0..k {
                s += rot[a * k + b] * src[b] as f64;
            }
            out[i * k + a] = s as f32 + shift[a];
        }
    }
    out
}

fn check_invariance(cfg: Config, dim: usize, k: usize, rot: &[f64], perm: &[usize]) {
    let mut r = seeded(5);
    let mut vgs = Owner::init(&cfg, dim, &mut r).unwrap();
    let net = vgs.net();
    let mut p = vec![0.0f32; net.param_count()];
    net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
    vgs.restore(&p, &p, 0.0).unwrap();
    let mut x = vec![0.0f32; 2 * dim];
    fill_standard_normal(&mut r, &mut x);
    x.iter_mut().for_each(|v| *v *= 1.5);
    let shift: Vec<f32> = (0..k).map(|a| 0.3 * a as f32 - 0.7).collect();
    let y: Vec<f32> = x
        .chunks_exact(dim)
        .flat_map(|row| transform(row, k, rot, perm, &shift))
        .collect();
    for step in [0u32, 2] {
        let (mut vx, mut vy) = ([0.0f32; 2], [0.0f32; 2]);
        vgs.value(&x, step, &mut vx).unwrap();
        vgs.value(&y, step, &mut vy).unwrap();
        for (a, b) in vx.iter().zip(&vy) {
            assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "value {a} vs {b}");
        }
        let (mut gx, mut gy) = (vec![0.0f32; 2 * dim], vec![0.0f32; 2 * dim]);
        vgs.value_grad(&x, step, &mut gx).unwrap();
        vgs.value_grad(&y, step, &mut gy).unwrap();
        let zero = vec![0.0f32; k];
        let g_rot: Vec<f32> = gx
            .chunks_exact(dim)
            .flat_map(|row| transform(row, k, rot, perm, &zero))
            .collect();
        let scale = gx.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        assert!(scale > 1e-4, "trivial gradient");
        for (a, b) in g_rot.iter().zip(&gy) {
            assert!((a - b).abs() < 2e-3 * scale, "drift {a} vs {b}");
        }
    }
}

#[test]
fn nbody_value_is_invariant_and_drift_equivariant() {
    let th = 0.7f64;
    let rot2 = [th.cos(), -th.sin(), th.sin(), th.cos()];
    let cfg = Config {
        batch: 4,
        hidden: 16,
        steps: 4,
        ..Config::dw4()
    };
    check_invariance(cfg, 8, 2, &rot2, &[2, 0, 3, 1]);
    // a reflection too
    check_invariance(cfg, 8, 2, &[1.0, 0.0, 0.0, -1.0], &[1, 0, 2, 3]);
    // LJ-13: rotation about a tilted axis (Rodrigues), a 13-cycle permutation
    let (ax, ang) = ([1.0f64 / 3f64.sqrt(); 3], 1.1f64);
    let (c, s) = (ang.cos(), ang.sin());
    let mut rot3 = [0.0f64; 9];
    for a in 0..3 {
        for b in 0..3 {
            let cross = match (a, b) {
                (0, 1) => -ax[2],
                (0, 2) => ax[1],
                (1, 0) => ax[2],
                (1, 2) => -ax[0],
                (2, 0) => -ax[1],
                (2, 1) => ax[0],
                _ => 0.0,
            };
            let id = if a == b { 1.0 } else { 0.0 };
            rot3[a * 3 + b] = c * id + s * cross + (1.0 - c) * ax[a] * ax[b];
        }
    }
    let perm: Vec<usize> = (0..13).map(|i| (i + 5) % 13).collect();
    let cfg = Config {
        batch: 4,
        hidden: 16,
        steps: 4,
        ..Config::lj13()
    };
    check_invariance(cfg, 39, 3, &rot3, &perm);
}

#[test]
fn short_training_is_finite_and_deterministic() {
    let cfg = Config {
        batch: 16,
        hidden: 16,
        steps: 5,
        ..Config::default()
    };
    let run = || {
        let mut r = seeded(1);
        let g = GridGmm::nine();
        let mut vgs = Owner::init(&cfg, 2, &mut r).unwrap();
        let mut last = None;
        for _ in 0..3 {
            let info = vgs.step(&g, &mut r).unwrap();
            assert!(info.td_loss.is_finite() && info.init_sigma.is_finite());
            last = Some(info);
        }
        let mut out = vec![0.0f32; 40];
        let mut lw = vec![0.0f32; 20];
        vgs.sample(&g, draw(1.0, true, &mut out, &mut lw), &mut r)
            .unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        assert!(lw.iter().all(|v| v.is_finite()));
        (last.unwrap().td_loss, out)
    };
    assert_eq!(run(), run());
}

#[test]
fn degenerate_lj13_starts_stay_finite() {
    // A tiny initial scale puts all 13 particles nearly on top of each other: energies
    // are astronomically large, gradients clamp, TD targets clip; no NaN anywhere.
    let cfg = Config {
        batch: 4,
        hidden: 8,
        steps: 3,
        init_lr: 0.0,
        ..Config::lj13()
    };
    let mut r = seeded(2);
    let mut vgs = Owner::init(&cfg, 39, &mut r).unwrap();
    let p = vgs.params();
    vgs.restore(&p, &p, -30.0).unwrap();
    let info = vgs.step(&Lj13, &mut r).unwrap();
    assert!(info.td_loss.is_finite());
    let mut out = vec![0.0f32; 39 * 5];
    let mut lw = vec![0.0f32; 5];
    vgs.sample(&Lj13, draw(0.9, false, &mut out, &mut lw), &mut r)
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(
        lw.iter().all(|v| v.is_nan()),
        "no final noise: log w undefined"
    );
    assert!(vgs.params().iter().all(|v| v.is_finite()));
}

/// A target that breaks the `LogDensity` contract on purpose: NaN, `+inf` and `−inf`
/// log densities and NaN / ±inf / huge gradient entries, depending on the region.
struct Hostile;

impl LogDensity for Hostile {
    fn dim(&self) -> usize {
        2
    }
    fn log_density(&self, x: &[f32]) -> f32 {
        match (x[0] > 0.0, x[1] > 0.0) {
            (true, true) => f32::NAN,
            (true, false) => f32::INFINITY,
            (false, true) => f32::NEG_INFINITY,
            (false, false) => -0.5 * (x[0] * x[0] + x[1] * x[1]),
        }
    }
    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        match (x[0] > 0.0, x[1] > 0.0) {
            (true, true) => grad.copy_from_slice(&[f32::NAN, f32::NAN]),
            (true, false) => grad.copy_from_slice(&[f32::INFINITY, f32::NEG_INFINITY]),
            (false, true) => grad.copy_from_slice(&[f32::MAX, -f32::MAX]),
            (false, false) => grad.copy_from_slice(&[-x[0], -x[1]]),
        }
        self.log_density(x)
    }
    fn log_z(&self) -> Option<f64> {
        None
    }
    fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
        Err(Error::Unsupported("hostile"))
    }
}

#[test]
fn non_finite_energies_and_gradients_never_give_nan() {
    // NaN and ±inf energies count as E_clip in TD targets; NaN/inf gradient entries are
    // clamped to ±grad_clip (NaN: dropped to 0 and counted); samples, log weights of
    // finite paths, the TD loss and the parameters stay finite.
    for loss in [TdLoss::L2, TdLoss::SmoothL1] {
        let cfg = Config {
            batch: 32,
            hidden: 16,
            steps: 4,
            loss,
            energy_clip: 100.0,
            ..Config::default()
        };
        let mut r = seeded(7);
        let mut vgs = Owner::init(&cfg, 2, &mut r).unwrap();
        let mut replaced = 0u32;
        for _ in 0..5 {
            let info = vgs.step(&Hostile, &mut r).unwrap();
            assert!(info.td_loss.is_finite(), "{info:?}");
            assert!(info.grad_norm.is_finite() && info.init_sigma.is_finite());
            replaced += info.non_finite;
        }
        assert!(vgs.params().iter().all(|v| v.is_finite()));
        assert!(vgs.target_params().iter().all(|v| v.is_finite()));
        let (mut out, mut lw) = (vec![0.0f32; 2 * 200], vec![0.0f32; 200]);
        let si = vgs
            .sample(&Hostile, draw(1.0, true, &mut out, &mut lw), &mut r)
            .unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        // NaN gradients on the first quadrant are replaced (and counted)
        assert!(si.non_finite + replaced > 0);
        // every region is visited, so the hostile branches really ran
        for q in [(true, true), (true, false), (false, true), (false, false)] {
            assert!(
                out.chunks_exact(2).any(|x| (x[0] > 0.0, x[1] > 0.0) == q),
                "quadrant {q:?} never visited"
            );
        }
    }
}

#[test]
fn coincident_lj13_particles_through_a_sampling_step() {
    // σ_init = e^−104 underflows to 0 in f32: every start has all 13 particles exactly on
    // top of each other (r_ij = 0 for all 78 pairs). T = 1: the only step is the energy
    // gradient step at the coincident configuration; T = 3: value-gradient steps first.
    for steps in [1usize, 3] {
        let cfg = Config {
            batch: 4,
            hidden: 8,
            steps,
            init_lr: 0.0,
            ..Config::lj13()
        };
        let mut r = seeded(3);
        let mut vgs = Owner::init(&cfg, 39, &mut r).unwrap();
        let net = vgs.net();
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Default, &mut r).unwrap();
        vgs.restore(&p, &p, -104.0).unwrap();
        assert_eq!(vgs.init_sigma(), 0.0);
        // the value gradient at the coincident configuration is finite (and zero: all
        // pair differences vanish)
        let x0 = [0.25f32; 39];
        let mut g = [1.0f32; 39];
        vgs.value_grad(&x0, 0, &mut g).unwrap();
        assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
        let info = vgs.step(&Lj13, &mut r).unwrap();
        assert!(info.td_loss.is_finite(), "{info:?}");
        assert!(vgs.params().iter().all(|v| v.is_finite()));
        let (mut out, mut lw) = (vec![0.0f32; 39 * 6], vec![0.0f32; 6]);
        vgs.sample(&Lj13, draw(0.9, false, &mut out, &mut lw), &mut r)
            .unwrap();
        assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
        for row in out.chunks_exact(39) {
            let lp = Lj13.log_density(row);
            assert!(!lp.is_nan());
            if steps == 1 {
                // no noise on the last (only) step and a zero energy gradient below the
                // distance floor: the particles stay coincident, at a huge finite energy
                assert!(row.iter().all(|&v| v == 0.0));
                assert!(lp.is_finite() && lp < -1e25, "{lp}");
            }
        }
    }
}

#[test]
fn funnel_last_step_drift_follows_the_clipped_energy() {
    // With `drift_energy_clip` (the paper's `sample()` on Funnel), the last-step drift is `s²·∇min(E, E_clip)`: zero up the funnel's neck where
    // E ≫ E_clip, the plain (clamped) energy gradient below the clip. Without it the
    // neck state gets a drift of `s²·grad_clip` per entry and a control cost of
    // thousands in every TD target of the last step.
    let f = crate::targets::Funnel::new(10).unwrap();
    let mut y = vec![0.5f32; 20];
    y[0] = -8.0; // E ≈ 9·e^8·0.125 ≈ 3.4e3 > 100
    y[10] = 0.0; // E ≈ 9·0.125 + 9.2 (normaliser-free part) < 100
    let e = |r: &[f32]| -f.log_density(r);
    assert!(e(&y[..10]) > 1e3 && e(&y[10..]) < 100.0);
    let drift = |clip: bool| {
        let cfg = Config {
            batch: 2,
            hidden: 8,
            steps: 1,
            drift_energy_clip: clip,
            drift_clip: f32::INFINITY,
            ..Config::funnel()
        };
        let mut r = seeded(3);
        let mut vgs = Owner::init(&cfg, 10, &mut r).unwrap();
        let ctx = vgs.ctx();
        let mut mu = vec![0.0f32; 20];
        let v = vgs.views();
        let rows = Rows { y: &y, mu: &mut mu };
        let mut w = v.work;
        let bad = ctx.drift(v.target, &f, 0, rows, &mut w).unwrap();
        assert_eq!(bad, 0);
        (mu, ctx.sched.s2(0))
    };
    let (on, s2) = drift(true);
    let (off, _) = drift(false);
    assert!(on[..10].iter().all(|&m| m == 0.0), "{on:?}");
    assert!(off[..10].iter().any(|&m| m.abs() > 0.1), "{off:?}");
    // below the clip both agree with s²·∇E
    let mut g = vec![0.0f32; 10];
    f.log_density_grad(&y[10..], &mut g);
    for ((&a, &b), &gv) in on[10..].iter().zip(&off[10..]).zip(&g) {
        assert_eq!(a, b);
        assert!(
            (a + s2 * gv).abs() <= 1e-6 * (1.0 + gv.abs()),
            "{a} vs {}",
            -s2 * gv
        );
    }
    assert!(on[10..].iter().any(|&m| m != 0.0));
}

#[test]
fn funnel_drift_is_clipped_to_kappa_sigma_sqrt_d() {
    // Issue 6: the funnel preset caps each drift row at κ σ_t √D (κ = 3), so the
    // per-step control cost in the TD targets is at most κ² D / 2 = 45. Up the neck
    // (x₀ = −8) the raw last-step drift is s²·grad_clip = 0.5 per entry (cost ≈ 2250);
    // below the cap the drift is untouched. Without the clip, T = 30 at lr 1e-4 ran
    // the TD loss to 10²² (README, VGS section).
    let f = crate::targets::Funnel::new(10).unwrap();
    let mut y = vec![0.5f32; 20];
    y[0] = -8.0;
    y[10] = 0.0;
    let preset = Config::funnel();
    assert_eq!(preset.drift_clip, 3.0);
    let drift = |kappa: f32| {
        let cfg = Config {
            batch: 2,
            hidden: 8,
            steps: 30,
            drift_clip: kappa,
            ..preset
        };
        let mut r = seeded(3);
        let mut vgs = Owner::init(&cfg, 10, &mut r).unwrap();
        let ctx = vgs.ctx();
        let mut mu = vec![0.0f32; 20];
        let v = vgs.views();
        let rows = Rows { y: &y, mu: &mut mu };
        let mut w = v.work;
        ctx.drift(v.target, &f, 29, rows, &mut w).unwrap();
        (mu, ctx.sched.sigma(29))
    };
    let norm = |v: &[f32]| v.iter().map(|&x| x * x).sum::<f32>().sqrt();
    let (raw, sigma) = drift(f32::INFINITY);
    let (clipped, _) = drift(preset.drift_clip);
    let cap = 3.0 * sigma * 10f32.sqrt();
    assert!(norm(&raw[..10]) > 2.0 * cap, "{raw:?}");
    assert!((norm(&clipped[..10]) - cap).abs() <= 1e-4 * cap);
    // same direction
    let k = norm(&clipped[..10]) / norm(&raw[..10]);
    for (&c, &r) in clipped[..10].iter().zip(&raw[..10]) {
        assert!((c - k * r).abs() <= 1e-5 * (1.0 + r.abs()));
    }
    // control cost ‖μ‖²/(2 s²) ≤ κ² D / 2
    let s2 = sigma * sigma;
    assert!(norm(&clipped[..10]).powi(2) / (2.0 * s2) <= 45.0 * (1.0 + 1e-4));
    assert!(norm(&raw[..10]).powi(2) / (2.0 * s2) > 1000.0);
    // below the cap: unchanged
    assert!(norm(&raw[10..]) < cap);
    assert_eq!(&raw[10..], &clipped[10..]);
}

#[test]
fn funnel_training_stores_clipped_drifts() {
    // Every drift the TD update sees (stored from the behaviour rollout) obeys the cap.
    let cfg = Config {
        batch: 16,
        hidden: 8,
        steps: 30,
        ..Config::funnel()
    };
    let f = crate::targets::Funnel::new(10).unwrap();
    let mut r = seeded(5);
    let mut vgs = Owner::init(&cfg, 10, &mut r).unwrap();
    for _ in 0..2 {
        let info = vgs.step(&f, &mut r).unwrap();
        assert!(info.td_loss.is_finite());
    }
    let mut clipped = 0;
    let ctx = vgs.ctx();
    for (i, row) in vgs.views().drifts.chunks_exact(10).enumerate() {
        let t = i / cfg.batch;
        let cap = 3.0 * ctx.sched.sigma(t) * 10f32.sqrt();
        let n = row.iter().map(|&x| x * x).sum::<f32>().sqrt();
        assert!(n <= cap * (1.0 + 1e-5), "step {t}: {n} > {cap}");
        if n >= cap * (1.0 - 1e-5) {
            clipped += 1;
        }
    }
    // the untrained sampler's last step pushes hard up the neck: the clip is active
    assert!(clipped > 0);
}

#[test]
fn bad_settings_are_errors() {
    let d = Config::default();
    for bad in [
        Config { steps: 0, ..d },
        Config { batch: 0, ..d },
        Config { embed: 3, ..d },
        Config { ema: 1.0, ..d },
        Config { tau: 0.0, ..d },
        Config { lr: f32::NAN, ..d },
        Config { s2_start: 1.5, ..d },
        Config {
            train_noise: -1.0,
            ..d
        },
        Config {
            energy_clip: f32::INFINITY,
            ..d
        },
        Config {
            drift_clip: 0.0,
            ..d
        },
        Config {
            drift_clip: f32::NAN,
            ..d
        },
        Config {
            features: Features::DW4,
            ..d
        },
    ] {
        assert!(
            matches!(Layout::new(&bad, 2), Err(Error::InvalidConfig(_))),
            "{bad:?}"
        );
    }
    let mut r = seeded(0);
    let l = Layout::new(&d, 2).unwrap();
    let (mut fa, mut ua) = (vec![0.0f32; l.f32_len], vec![0u32; l.u32_len]);
    assert!(Views::new(&l, &mut fa[1..], &mut ua).is_err());
    // a configuration that is not the layout's is refused
    let other = Config { batch: 7, ..d };
    let mut v = Views::new(&l, &mut fa, &mut ua).unwrap();
    assert!(init(&other, &l, &mut v, &mut r).is_err());
    let mut st = init(&d, &l, &mut v, &mut r).unwrap();
    assert!(matches!(
        step(&other, &mut st, &mut v, &GridGmm::nine(), &mut r),
        Err(Error::InvalidConfig(_))
    ));
    let mut vgs = Owner::init(&d, 2, &mut r).unwrap();
    let mut out = [0.0f32; 3];
    let mut lw = [0.0f32; 1];
    let g = GridGmm::nine();
    assert!(
        vgs.sample(&g, draw(1.0, true, &mut out, &mut lw), &mut r)
            .is_err()
    );
    assert!(
        vgs.sample(&g, draw(0.0, true, &mut out[..2], &mut lw), &mut r)
            .is_err()
    );
    assert!(vgs.restore(&[0.0; 3], &[0.0; 3], 0.0).is_err());
    let _ = Dw4;
}
