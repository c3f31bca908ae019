#![cfg(test)]
//! Unit tests of the annealed SMC sampler.

extern crate std;
use super::*;
use crate::rng;
use std::vec;
use std::vec::Vec;

/// `R(x) = c · N(x; μ, s² I)`: log Z = ln c exactly.
struct ScaledGaussian {
    dim: usize,
    mu: f32,
    var: f32,
    log_c: f32,
}

impl LogDensity for ScaledGaussian {
    fn dim(&self) -> usize {
        self.dim
    }
    fn log_density(&self, x: &[f32]) -> f32 {
        let ss: f32 = x.iter().map(|v| (v - self.mu) * (v - self.mu)).sum();
        self.log_c
            - 0.5 * (self.dim as f32 * (math::LN_2PI as f32 + math::ln(self.var)) + ss / self.var)
    }
    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        for (g, &v) in grad.iter_mut().zip(x) {
            *g = -(v - self.mu) / self.var;
        }
        self.log_density(x)
    }
    fn log_z(&self) -> Option<f64> {
        Some(self.log_c as f64)
    }
    fn sample<R2: Rng + ?Sized>(&self, _: &mut R2, _: &mut [f32]) -> Result<(), Error> {
        Err(Error::Unsupported("test target"))
    }
}

struct Buffers {
    x: Vec<f32>,
    lw: Vec<f32>,
    lr: Vec<f32>,
    xt: Vec<f32>,
    w: Vec<f32>,
    a: Vec<u32>,
    lrt: Vec<f32>,
    v: Vec<f32>,
}

impl Buffers {
    fn new(n: usize, d: usize) -> Self {
        Buffers {
            x: vec![0.0; n * d],
            lw: vec![0.0; n],
            lr: vec![0.0; n],
            xt: vec![0.0; n * d],
            w: vec![0.0; n],
            a: vec![0; n],
            lrt: vec![0.0; n],
            v: vec![0.0; 4 * d],
        }
    }
    fn run<T: LogDensity>(&mut self, cfg: &Config, t: &T, seed: u64) -> State {
        let mut ps = Particles {
            x: &mut self.x,
            log_w: &mut self.lw,
            log_r: &mut self.lr,
        };
        let mut ws = Workspace {
            x_tmp: &mut self.xt,
            w: &mut self.w,
            ancestors: &mut self.a,
            log_r_tmp: &mut self.lrt,
            vec: &mut self.v,
        };
        run(cfg, &mut ps, &mut ws, t, &mut rng::seeded(seed)).unwrap()
    }
}

#[test]
fn log_z_is_unbiased_on_a_gaussian_target() {
    // Z-hat is unbiased for Z: the mean of Z-hat / Z over independent runs must be 1
    // within 3 standard errors.
    let t = ScaledGaussian {
        dim: 2,
        mu: 2.0,
        var: 0.25,
        log_c: 1.5,
    };
    let cfg = Config {
        base_std: 2.0,
        ..Config::default()
    };
    let reps = 60;
    let mut ratios = Vec::new();
    let mut b = Buffers::new(200, 2);
    for seed in 0..reps {
        let s = b.run(&cfg, &t, seed);
        assert_eq!(s.beta, 1.0);
        ratios.push(math::exp(s.log_z - 1.5));
    }
    let mean = ratios.iter().sum::<f64>() / reps as f64;
    let var = ratios.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (reps - 1) as f64;
    let se = (var / reps as f64).sqrt();
    assert!(
        (mean - 1.0).abs() < 3.0 * se + 1e-3,
        "mean Z-hat/Z {mean} ± {se}"
    );
    assert!(se < 0.1, "estimator too noisy: se {se}");
    // particles end near the target mean
    let mean_x: f64 = b.x.iter().map(|&v| v as f64).sum::<f64>() / b.x.len() as f64;
    assert!((mean_x - 2.0).abs() < 0.2, "{mean_x}");
}

/// `Ẑ/Z` over `reps` independent runs of `cfg`: mean within 3 standard errors of 1 (the
/// tolerance from the runs' own spread), the standard error below `max_se`.
fn assert_unbiased(cfg: &Config, n: usize, reps: u64, max_se: f64) -> Buffers {
    let t = ScaledGaussian {
        dim: 2,
        mu: 2.0,
        var: 0.25,
        log_c: 1.5,
    };
    let mut ratios = Vec::new();
    let mut b = Buffers::new(n, 2);
    for seed in 0..reps {
        let s = b.run(cfg, &t, seed);
        assert_eq!(s.beta, 1.0);
        ratios.push(math::exp(s.log_z - 1.5));
    }
    let mean = ratios.iter().sum::<f64>() / reps as f64;
    let var = ratios.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (reps - 1) as f64;
    let se = (var / reps as f64).sqrt();
    assert!(
        (mean - 1.0).abs() < 3.0 * se + 1e-3,
        "{:?}: mean Z-hat/Z {mean} ± {se}",
        cfg.moves
    );
    assert!(se < max_se, "{:?}: estimator too noisy: se {se}", cfg.moves);
    b
}

#[test]
fn the_seeds_smc_is_unbiased_with_hmc_and_rwm_moves() {
    use crate::smc::moves::StepSchedule;
    let geometric = Config {
        base_std: 2.0,
        schedule: Schedule::Geometric { temperatures: 16 },
        resample: Scheme::Multinomial,
        ..Config::default()
    };
    let hmc = Hmc {
        leapfrog: 5,
        steps: 1,
        step: StepSchedule::seeds([0.3, 0.1]),
    };
    for moves in [Move::Hmc(hmc), Move::Rwm(Rwm::seeds([0.5, 0.2]))] {
        let cfg = Config { moves, ..geometric };
        let b = assert_unbiased(&cfg, 100, 60, 0.1);
        // the particles end near the target mean
        let mean_x: f64 = b.x.iter().map(|&v| v as f64).sum::<f64>() / b.x.len() as f64;
        assert!((mean_x - 2.0).abs() < 0.2, "{moves:?}: {mean_x}");
    }
    // systematic resampling, the default scheme, with the geometric schedule and MALA
    let cfg = Config {
        resample: Scheme::Systematic,
        ..geometric
    };
    assert_unbiased(&cfg, 100, 60, 0.1);
}

#[test]
fn the_geometric_schedule_takes_k_minus_one_equal_steps() {
    let t = ScaledGaussian {
        dim: 2,
        mu: 0.0,
        var: 1.0,
        log_c: 0.0,
    };
    let cfg = Config {
        schedule: Schedule::Geometric { temperatures: 5 },
        moves: Move::Rwm(Rwm::seeds([0.3, 0.3])),
        ..Config::default()
    };
    let mut b = Buffers::new(30, 2);
    let mut ps = Particles {
        x: &mut b.x,
        log_w: &mut b.lw,
        log_r: &mut b.lr,
    };
    let mut ws = Workspace {
        x_tmp: &mut b.xt,
        w: &mut b.w,
        ancestors: &mut b.a,
        log_r_tmp: &mut b.lrt,
        vec: &mut b.v,
    };
    let mut r = rng::seeded(3);
    let mut st = init(&cfg, &mut ps, &mut ws, &t, &mut r).unwrap();
    let mut betas = Vec::new();
    let mut elbo = 0.0;
    while !st.done() {
        let i = step(&cfg, &mut st, &mut ps, &mut ws, &t, &mut r).unwrap();
        betas.push(i.beta);
        elbo += i.mean_log_increment;
        assert_eq!(st.step_size, 0.3);
    }
    assert_eq!(betas, [0.25, 0.5, 0.75, 1.0]);
    assert_eq!(st.temperatures, 4);
    // Jensen: the weighted mean log increment sums to at most log Ẑ
    assert!(
        elbo.is_finite() && elbo <= st.log_z + 1e-9,
        "{elbo} {}",
        st.log_z
    );
}

#[test]
fn same_seed_same_result_and_forced_end() {
    let t = ScaledGaussian {
        dim: 3,
        mu: -1.0,
        var: 1.0,
        log_c: 0.0,
    };
    let cfg = Config::default();
    let mut b1 = Buffers::new(50, 3);
    let mut b2 = Buffers::new(50, 3);
    assert_eq!(b1.run(&cfg, &t, 9), b2.run(&cfg, &t, 9));
    assert_eq!(b1.x, b2.x);
    let capped = Config {
        max_temperatures: 2,
        ..Config::default()
    };
    let s = b1.run(&capped, &t, 9);
    assert_eq!(s.beta, 1.0);
    assert!(s.temperatures <= 2);
}

#[test]
fn bad_config_and_shapes_are_errors() {
    let t = ScaledGaussian {
        dim: 2,
        mu: 0.0,
        var: 1.0,
        log_c: 0.0,
    };
    let mut b = Buffers::new(10, 2);
    let mut ps = Particles {
        x: &mut b.x,
        log_w: &mut b.lw,
        log_r: &mut b.lr,
    };
    let mut short = [0.0f32; 3];
    let mut ws = Workspace {
        x_tmp: &mut b.xt,
        w: &mut b.w,
        ancestors: &mut b.a,
        log_r_tmp: &mut b.lrt,
        vec: &mut short,
    };
    let r = init(
        &Config::default(),
        &mut ps,
        &mut ws,
        &t,
        &mut rng::seeded(0),
    );
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
    let bad = Config {
        target_cess: 1.5,
        ..Config::default()
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidConfig(_))));
    let bad = Config {
        step_size: f32::NAN,
        ..Config::default()
    };
    assert!(bad.validate().is_err());
    let bad = Config {
        schedule: Schedule::Geometric { temperatures: 1 },
        ..Config::default()
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidConfig(_))));
    let bad = Config {
        moves: Move::Hmc(Hmc {
            leapfrog: 0,
            ..Hmc::seeds([0.2, 0.2])
        }),
        ..Config::default()
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidConfig(_))));
    let bad = Config {
        moves: Move::Rwm(Rwm::seeds([0.2, -1.0])),
        ..Config::default()
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidConfig(_))));
    let ok = Config {
        schedule: Schedule::Geometric { temperatures: 128 },
        moves: Move::Hmc(Hmc::seeds([0.2, 0.2])),
        resample: Scheme::Multinomial,
        ..Config::default()
    };
    assert!(ok.validate().is_ok());
}
