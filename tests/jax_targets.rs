//! The paper's targets against the RSMC JAX code itself: every point of
//! `tests/fixtures/jax_targets.json` (written by `scripts/jax_targets_dump.py`: GMM40 with the
//! JAX means at d = 2, 5, 50 through distrax, the mixture of Student-t through numpyro, and the
//! ManyWell-64 energy of `targets/many_well.py`, log densities in float32 as the paper ran and
//! in float64, float64 gradients by `jax.grad`) is recomputed by the kernel's registry targets
//! `gmm40-jax`, `mos` and `manywell`. The kernel's parameter tables come from the same script,
//! its densities and gradients are written independently (`kernel/src/targets/`).

use amortise_kernel::targets::{LogDensity, Target};
use serde_json::Value;

/// Relative error of the kernel's f32 log density against JAX's float64 value: the rounding
/// to f32 alone is up to 6e-8 (measured largest 5.2e-8, `docs/targets.md`).
const TOL_LP_F64: f64 = 2e-7;
/// Against JAX's float32 value, which has its own rounding (the bar is 1e-5;
/// measured largest 2.2e-7).
const TOL_LP_F32: f64 = 1e-6;
/// Gradient error, relative to the largest |entry| of the JAX float64 gradient at the point
/// (measured largest 5.9e-8).
const TOL_GRAD: f64 = 2e-7;

/// A fixture number, read from its decimal text (a float32 written as its shortest
/// round-tripping decimal reads back exactly).
fn f32_of(v: &Value) -> f32 {
    v.to_string().parse().unwrap()
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn rows<T>(v: &Value, f: fn(&Value) -> T) -> Vec<Vec<T>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(f).collect())
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-30)
}

#[test]
fn kernel_targets_reproduce_the_jax_log_densities_and_gradients() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jax_targets.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["targets"].as_array().unwrap();
    let names: Vec<(&str, u64)> = cases
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["dim"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("gmm40-jax", 2),
            ("gmm40-jax", 5),
            ("gmm40-jax", 50),
            ("mos", 50),
            ("manywell", 64)
        ]
    );
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let dim = c["dim"].as_u64().unwrap() as usize;
        let t = Target::from_name(name, Some(dim)).unwrap();
        let xs = rows(&c["points"], f32_of);
        let lp32: Vec<f64> = c["log_prob_f32"]
            .as_array()
            .unwrap()
            .iter()
            .map(f64_of)
            .collect();
        let lp64: Vec<f64> = c["log_prob_f64"]
            .as_array()
            .unwrap()
            .iter()
            .map(f64_of)
            .collect();
        let g64 = rows(&c["grad_f64"], f64_of);
        assert!(xs.len() >= 20, "{name}-{dim}: {} points", xs.len());
        let (mut e64, mut e32, mut eg) = (0.0f64, 0.0f64, 0.0f64);
        for (i, x) in xs.iter().enumerate() {
            assert_eq!(x.len(), dim);
            let mut g = vec![0.0f32; dim];
            let lp = t.log_density_grad(x, &mut g) as f64;
            assert_eq!(lp, t.log_density(x) as f64);
            e64 = e64.max(rel(lp, lp64[i]));
            e32 = e32.max(rel(lp, lp32[i]));
            let scale = g64[i].iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
            for (a, b) in g.iter().zip(&g64[i]) {
                eg = eg.max((*a as f64 - b).abs() / scale);
            }
        }
        println!(
            "{name}-{dim}: max rel. error vs JAX f64 {e64:.2e}, vs JAX f32 {e32:.2e}, grad {eg:.2e}"
        );
        assert!(
            e64 <= TOL_LP_F64,
            "{name}-{dim}: log density vs f64 {e64:e}"
        );
        assert!(
            e32 <= TOL_LP_F32,
            "{name}-{dim}: log density vs f32 {e32:e}"
        );
        assert!(eg <= TOL_GRAD, "{name}-{dim}: gradient {eg:e}");
    }
}

/// The JAX code's `Funnel.sample` clips to `sample_bounds` = [−30, 30], so the paper's
/// evaluation set is clipped; amortise's is too, and only the funnel's.
#[test]
fn the_evaluation_set_clips_the_funnel_as_the_jax_code() {
    use amortise::eval::{EvalSet, GROUND_TRUTH_SEED};
    use amortise_kernel::rng::seeded;
    use amortise_kernel::targets::sample_batch;
    for (name, clipped) in [("funnel", true), ("gaussian", false), ("manywell", false)] {
        let t = Target::from_name(name, None).unwrap();
        let gt = EvalSet::new(&t, 2000).unwrap().ground_truth.unwrap();
        let mut raw = vec![0.0f32; gt.len()];
        sample_batch(&t, &mut seeded(GROUND_TRUTH_SEED), &mut raw).unwrap();
        let outside = raw.iter().filter(|v| v.abs() > 30.0).count();
        if clipped {
            // x₀ ~ N(0, 9) makes e^{x₀/2} z exceed 30 now and then: the clip is exercised
            assert!(outside > 0, "no funnel sample outside [-30, 30]");
            for (g, r) in gt.iter().zip(&raw) {
                assert_eq!(*g, r.clamp(-30.0, 30.0));
            }
        } else {
            assert_eq!(gt, raw, "{name}");
        }
    }
}
