//! Failure behaviour of the diffusion trainer (tb, tb-buffer, rsmc) on targets that break
//! the `LogDensity` contract on part of the space: NaN or `+inf` log densities, and log
//! densities so large that the gradient overflows. The policy (module docs of
//! `amortise_kernel::samplers::diffusion::train`, and `docs/robustness.md`):
//! - a sample whose `log R` is not finite gets `log R = -inf`: zero weight in SMC and in the
//!   replay buffer, and no term in the TB/SubTB losses; counted in `Info::masked`;
//! - a step whose gradient is not finite is skipped (parameters and Adam moments unchanged)
//!   and counted in `Info::skipped` / `OptimState::skipped`;
//! - a batch with no finite `log R` at all is `Error::Degenerate` (the CLI names the step).

use amortise_kernel::Error;
use amortise_kernel::rng::{self, Rng};
use amortise_kernel::samplers::diffusion::train::{
    self, Config as TrainConfig, Layout, Method, Views,
};
use amortise_kernel::targets::LogDensity;

/// A standard 2-D Gaussian, except on `x₀ > edge`, where it returns `bad`.
struct Broken {
    edge: f32,
    bad: f32,
}

impl LogDensity for Broken {
    fn dim(&self) -> usize {
        2
    }
    fn log_density(&self, x: &[f32]) -> f32 {
        if x[0] > self.edge {
            self.bad
        } else {
            -0.5 * (x[0] * x[0] + x[1] * x[1])
        }
    }
    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        grad[0] = -x[0];
        grad[1] = -x[1];
        self.log_density(x)
    }
    fn log_z(&self) -> Option<f64> {
        None
    }
    fn sample<R: Rng + ?Sized>(&self, _: &mut R, _: &mut [f32]) -> Result<(), Error> {
        Err(Error::Unsupported("no sampler"))
    }
}

fn config(method: Method) -> TrainConfig {
    TrainConfig {
        method,
        steps: 16,
        batch: 32,
        hidden: 8,
        harmonics: 4,
        flow_hidden: 8,
        particles: 32,
        buffer_capacity: 256,
        prefill: 2,
        iterations: 30,
        ..TrainConfig::default()
    }
}

struct Outcome {
    masked: u64,
    skipped: u32,
    error: Option<(u32, Error)>,
    params_finite: bool,
    log_z: f32,
}

fn train(method: Method, target: &Broken, iters: u32) -> Outcome {
    let cfg = config(method);
    let layout = Layout::new(&cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(7);
    let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
    let mut st = train::init(&cfg, &layout, &mut v, &mut r).unwrap();
    let mut out = Outcome {
        masked: 0,
        skipped: 0,
        error: None,
        params_finite: true,
        log_z: f32::NAN,
    };
    if let Err(e) = train::prefill(&cfg, &mut st, &mut v, target, &mut r) {
        out.error = Some((0, e));
        return out;
    }
    for it in 0..iters {
        match train::step(&cfg, &mut st, &mut v, target, &mut r) {
            Ok(info) => {
                out.masked += info.masked as u64;
                out.skipped += info.skipped as u32;
            }
            Err(e) => {
                out.error = Some((it, e));
                break;
            }
        }
    }
    assert_eq!(st.optim.skipped, out.skipped);
    out.params_finite = v.model.params.iter().all(|p| p.is_finite());
    out.log_z = v.log_z();
    out
}

const METHODS: [Method; 3] = [Method::Tb, Method::TbBuffer, Method::Rsmc];

#[test]
fn nan_and_infinite_regions_are_masked_not_fatal() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let target = Broken { edge: 1.0, bad };
        for m in METHODS {
            let o = train(m, &target, 30);
            assert!(
                o.error.is_none(),
                "{m:?} with {bad} in x0 > 1: {:?}",
                o.error
            );
            assert!(o.masked > 0, "{m:?} with {bad}: no sample was masked");
            assert!(
                o.params_finite && o.log_z.is_finite(),
                "{m:?} with {bad}: poisoned"
            );
        }
    }
}

#[test]
fn masked_training_matches_a_clean_target_where_nothing_is_masked() {
    // far out of reach: nothing masked, so the run is bit-identical to the clean target's
    let (far, clean) = (
        Broken {
            edge: 1e30,
            bad: f32::NAN,
        },
        Broken {
            edge: f32::INFINITY,
            bad: 0.0,
        },
    );
    for m in METHODS {
        let (a, b) = (train(m, &far, 10), train(m, &clean, 10));
        assert_eq!(a.masked, 0);
        assert_eq!(a.log_z.to_bits(), b.log_z.to_bits(), "{m:?}");
    }
}

#[test]
fn exploding_gradients_skip_the_step() {
    // log R = -f32::MAX on half the space: residuals are finite but their gradient overflows
    let target = Broken {
        edge: 0.0,
        bad: -f32::MAX,
    };
    for m in METHODS {
        let o = train(m, &target, 20);
        assert!(o.error.is_none(), "{m:?}: {:?}", o.error);
        assert!(
            o.params_finite && o.log_z.is_finite(),
            "{m:?}: poisoned parameters"
        );
        assert!(o.skipped > 0, "{m:?}: expected skipped steps");
    }
}

#[test]
fn a_batch_without_any_finite_log_reward_is_a_typed_error() {
    let target = Broken {
        edge: f32::NEG_INFINITY,
        bad: f32::NAN,
    };
    for m in METHODS {
        let o = train(m, &target, 5);
        match o.error {
            Some((_, Error::Degenerate(_))) => {}
            other => panic!("{m:?}: expected Degenerate, got {other:?}"),
        }
        assert!(o.params_finite);
    }
}
