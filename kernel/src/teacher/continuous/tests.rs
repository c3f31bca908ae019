#![cfg(test)]
//! Unit tests of the continuous teacher.

extern crate std;
use super::super::Config as RewardConfig;
use super::*;
use crate::math;
use crate::rng::seeded;
use crate::samplers::diffusion::reference::Process;
use crate::samplers::diffusion::train::Method;
use crate::targets::Target;
use std::vec;
use std::vec::Vec;

fn small() -> Config {
    Config::new(train::Config {
        process: Process::OrnsteinUhlenbeck { init_std: 1.0 },
        steps: 16,
        batch: 32,
        hidden: 16,
        harmonics: 8,
        buffer_capacity: 500,
        iterations: 200,
        ..train::Config::default()
    })
}

/// `½N(0, I) + ½N((6, 0), 0.25 I)` in 2-D, normalised: the untrained student (the OU
/// reference, marginal `N(0, I)`) over-samples the first component and misses the second.
struct TwoBumps;
impl LogDensity for TwoBumps {
    fn dim(&self) -> usize {
        2
    }
    fn log_density(&self, x: &[f32]) -> f32 {
        let (a, b) = (x[0] as f64, x[1] as f64);
        let l2pi = math::LN_2PI;
        let c0 = -l2pi - 0.5 * (a * a + b * b);
        let v = 0.25;
        let c1 = -l2pi - math::ln(v) - 0.5 * ((a - 6.0) * (a - 6.0) + b * b) / v;
        let m = c0.max(c1);
        (m + math::ln(0.5 * math::exp(c0 - m) + 0.5 * math::exp(c1 - m))) as f32
    }
    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        self.log_density(x)
    }
    fn log_z(&self) -> Option<f64> {
        Some(0.0)
    }
    fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
        Err(Error::InvalidConfig("not used"))
    }
}

/// The arenas of `cfg` on a 2-D target, initialised with `seed`.
struct Run {
    cfg: Config,
    layout: Layout,
    fa: Vec<f32>,
    ua: Vec<u32>,
    state: State,
}

impl Run {
    fn new(cfg: Config, r: &mut impl Rng) -> Self {
        let layout = Layout::new(&cfg, 2).unwrap();
        let (mut fa, mut ua) = (vec![0.0; layout.f32_len], vec![0; layout.u32_len]);
        let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
        let state = init(&cfg, &layout, &mut v, r).unwrap();
        Run {
            cfg,
            layout,
            fa,
            ua,
            state,
        }
    }
    fn views(&mut self) -> Views<'_> {
        Views::new(&self.layout, &mut self.fa, &mut self.ua).unwrap()
    }
    fn step<T: LogDensity + ?Sized>(&mut self, target: &T, r: &mut impl Rng) -> Info {
        let (cfg, mut st) = (self.cfg, self.state);
        let info = step(&cfg, &mut st, &mut self.views(), target, r).unwrap();
        self.state = st;
        info
    }
}

#[test]
fn teacher_reward_is_large_where_the_student_is_wrong() {
    let mut r = seeded(3);
    let mut run = Run::new(small(), &mut r);
    let cfg = run.cfg;
    let b = cfg.student.batch;
    let mut mean_at = |c: [f32; 2], r: &mut _| {
        let mut xs = vec![0.0f32; 2 * b];
        for row in xs.chunks_exact_mut(2) {
            row.copy_from_slice(&c);
        }
        let mut out = vec![0.0f32; b];
        teacher_rewards_at(&cfg, &mut run.views(), &TwoBumps, &xs, &mut out, r).unwrap();
        out.iter().map(|&v| v as f64).sum::<f64>() / b as f64
    };
    // the missed mode: δ_S ≈ 17 > 0, weight 20: log log(1 + 20·ℓ) ≈ log log(2900) ≈ 2.1
    let missed = mean_at([6.0, 0.0], &mut r);
    // over-sampled point: δ_S ≈ −log 2 < 0, weight 1: log log(1.24) ≈ −1.5
    let over = mean_at([0.0, 0.0], &mut r);
    // α·log R favours the sharper bump a little (log R(6,0) − log R(0,0) ≈ 0.7), so the
    // gap must come from the residual
    assert!(missed > 1.5, "missed mode: {missed}");
    assert!(over < 0.0, "over-sampled point: {over}");
    assert!(missed - over > 2.5, "{missed} vs {over}");
    let mut bad = vec![0.0f32; b - 1];
    let xs = vec![0.0; 2 * b];
    assert!(matches!(
        teacher_rewards_at(&cfg, &mut run.views(), &TwoBumps, &xs, &mut bad, &mut r),
        Err(Error::ShapeMismatch { .. })
    ));
}

fn nine_gmm() -> Config {
    let s = small();
    Config::new(train::Config {
        process: Process::OrnsteinUhlenbeck { init_std: 3.0 },
        ..s.student
    })
}

fn run(iters: u32, seed: u64) -> (Vec<Info>, Run) {
    let target = Target::from_name("9gmm", None).unwrap();
    let mut r = seeded(seed);
    let mut run = Run::new(nine_gmm(), &mut r);
    let infos = (0..iters).map(|_| run.step(&target, &mut r)).collect();
    (infos, run)
}

#[test]
fn phases_buffer_and_reproducibility() {
    let (infos, run12) = run(12, 5);
    let params = run12.layout.student_params(&run12.fa).to_vec();
    let phases: Vec<Phase> = infos.iter().map(|i| i.phase).collect();
    assert_eq!(
        &phases[..4],
        &[
            Phase::Student,
            Phase::TeacherRefresh,
            Phase::Student,
            Phase::Buffer
        ]
    );
    // the first batch seeds the buffer with the top (1 − q) of its rewards
    assert!(infos[0].refreshed >= 1 && infos[0].buffer_len == infos[0].refreshed);
    assert!(infos[1].buffer_len >= infos[0].buffer_len);
    for i in &infos {
        assert!(i.student_loss.is_finite() && i.teacher_loss.is_finite());
        assert!(i.teacher_kept >= 1 && i.teacher_kept <= 32, "{i:?}");
        assert!(!i.skipped);
    }
    let st = run12.state;
    assert_eq!((st.iteration(), st.teacher.iteration), (12, 12));
    assert!(st.teacher.optim.adam.t >= 1 && st.threshold.is_some());
    assert_eq!(st.student.buffer.len, infos[11].buffer_len);
    assert!(params.iter().all(|p| p.is_finite()));
    let teacher = run12.layout.teacher_params(&run12.fa);
    assert_eq!(teacher.len(), params.len());
    assert_ne!(teacher, &params[..]);
    let (_, again) = run(12, 5);
    assert_eq!(again.fa, run12.fa, "same seed, same numbers");
    let (_, other) = run(12, 6);
    assert_ne!(other.layout.student_params(&other.fa), &params[..]);
}

/// The owner keeps plain arenas plus the `Copy` state: a copy of both, continued, gives
/// the same bits as the original continued (a checkpoint of the whole loop).
#[test]
fn arenas_and_state_are_the_whole_loop() {
    let target = Target::from_name("9gmm", None).unwrap();
    let mut r = seeded(8);
    let mut a = Run::new(nine_gmm(), &mut r);
    for _ in 0..6 {
        a.step(&target, &mut r);
    }
    let mut b = Run {
        fa: a.fa.clone(),
        ua: a.ua.clone(),
        ..Run::new(nine_gmm(), &mut seeded(0))
    };
    b.state = a.state;
    let mut rb = r.clone();
    for _ in 0..6 {
        let (ia, ib) = (a.step(&target, &mut r), b.step(&target, &mut rb));
        assert_eq!(std::format!("{ia:?}"), std::format!("{ib:?}"));
    }
    assert_eq!(a.fa, b.fa);
    assert_eq!(a.state, b.state);
}

/// The teacher's loss `(1/K) Σ_kept δ_T²` towards `log R_T` has the gradient the loop
/// writes (policy coefficients `2δ_T/K`, `∂/∂log Z^T = Σ 2δ_T/K`): finite differences through
/// the re-scoring of the student's trajectories under the teacher.
#[test]
fn teacher_loss_gradcheck() {
    let target = Target::from_name("9gmm", None).unwrap();
    let mut r = seeded(4);
    let mut run = Run::new(nine_gmm(), &mut r);
    for _ in 0..3 {
        run.step(&target, &mut r);
    }
    let cfg = run.cfg;
    let mut v = run.views();
    for (i, p) in v.teacher.model.params.iter_mut().enumerate() {
        *p += 0.05 * ((i * 7919 % 13) as f32 / 13.0 - 0.5);
    }
    // drop every third trajectory, keep the others with the rewards of the last step
    for (i, k) in v.keep.iter_mut().enumerate() {
        *k = if i % 3 == 0 { 0.0 } else { 1.0 };
    }
    let kept = v.keep.iter().filter(|&&k| k > 0.0).count();
    let tc = cfg.teacher;
    parts::teacher_gradient(&tc, &mut v, &target, kept).unwrap();
    let g = v.teacher.model.grads.to_vec();
    let np = g.len();
    let h = 1e-2f32;
    for i in (0..np).step_by(np / 40 + 1).chain([np - 1, np - 2]) {
        let p0 = v.teacher.model.params[i];
        v.teacher.model.params[i] = p0 + h;
        let lp = parts::teacher_gradient(&tc, &mut v, &target, kept)
            .unwrap()
            .0 as f64;
        v.teacher.model.params[i] = p0 - h;
        let lm = parts::teacher_gradient(&tc, &mut v, &target, kept)
            .unwrap()
            .0 as f64;
        v.teacher.model.params[i] = p0;
        let fd = (lp - lm) / (2.0 * h as f64);
        assert!(
            (fd - g[i] as f64).abs() < 2e-2 * (1.0 + fd.abs()),
            "param {i}: fd {fd} vs {}",
            g[i]
        );
    }
    assert!(g[np - 1] != 0.0);
}

#[test]
fn bad_configs_are_typed_errors() {
    let s = small();
    let bad = [
        Config {
            teacher: train::Config {
                clip: 0.0,
                ..s.teacher
            },
            ..s
        },
        Config {
            reward_quantile: 1.0,
            ..s
        },
        Config {
            student: train::Config {
                buffer_priority: crate::buffer::Priority::RewardRank {
                    rank_weight: f64::NAN,
                },
                ..s.student
            },
            ..s
        },
        Config {
            reward: RewardConfig {
                c: -1.0,
                ..s.reward
            },
            ..s
        },
        Config {
            reward: RewardConfig {
                log_transform: false,
                ..s.reward
            },
            ..s
        },
        Config::new(train::Config {
            buffer_capacity: 0,
            ..s.student
        }),
        Config::new(train::Config {
            batch: 0,
            ..s.student
        }),
        Config {
            student: train::Config {
                method: Method::Tb,
                ..s.student
            },
            ..s
        },
        Config {
            student: train::Config {
                buffer_priority: crate::buffer::Priority::Uniform,
                ..s.student
            },
            ..s
        },
        Config {
            teacher: train::Config {
                method: Method::TbBuffer,
                buffer_capacity: 8,
                ..s.teacher
            },
            ..s
        },
        Config {
            teacher: train::Config {
                batch: 16,
                ..s.teacher
            },
            ..s
        },
    ];
    for c in bad {
        assert!(
            matches!(Layout::new(&c, 2), Err(Error::InvalidConfig(_))),
            "{c:?}"
        );
    }
    assert!(Layout::new(&s, 0).is_err());
    let layout = Layout::new(&s, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len - 1];
    let mut ua = vec![0u32; layout.u32_len];
    assert!(matches!(
        Views::new(&layout, &mut fa, &mut ua),
        Err(Error::ShapeMismatch { .. })
    ));
    // views of one configuration are refused by another's init and step
    let mut r = seeded(0);
    let mut run = Run::new(s, &mut r);
    let wider = Config::new(train::Config {
        hidden: 17,
        ..s.student
    });
    let wl = Layout::new(&wider, 2).unwrap();
    let mut st = run.state;
    let mut v = run.views();
    assert!(init(&wider, &wl, &mut v, &mut r).is_err());
    assert!(init(&s, &wl, &mut v, &mut r).is_err());
    assert!(step(&wider, &mut st, &mut v, &TwoBumps, &mut r).is_err());
    assert!(step(&s, &mut st, &mut v, &TwoBumps, &mut r).is_ok());
}
