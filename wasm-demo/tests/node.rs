//! The wasm-bindgen layer, run inside wasm under Node by `wasm-bindgen-test-runner`
//! (`cargo xtask test` sets it as the wasm32 runner). On the host this file is empty: the
//! same logic is covered by the unit tests of `SmcCore` and `DensityGrid`.
#![cfg(target_arch = "wasm32")]

use amortise_kernel::targets::Aldp;
use amortise_wasm::aldp::{RAMP_ANGLE_BITS, angles_and_positions, ramp_point};
use amortise_wasm::{
    AldpPlayground, DiscretePlayground, SmcPlayground, TrainPlayground, VgsPlayground, random_seed,
    target_list,
};
use wasm_bindgen_test::wasm_bindgen_test;

fn handle(target: &str, n: u32) -> SmcPlayground {
    match SmcPlayground::new(&format!(
        "target={target}&n={n}&seed=1&base_std=5&cess=0.5&mala=5"
    )) {
        Ok(h) => h,
        Err(_) => panic!("constructing {target} failed"),
    }
}

#[wasm_bindgen_test]
fn steps_to_beta_one_with_a_finite_log_z() {
    let mut h = handle("9gmm", 1000);
    assert_eq!(h.trace_len(), 1);
    assert_eq!(h.beta(), 0.0);
    let mut total = 0;
    while !h.done() {
        total += h.step(2).map_err(|_| "step failed").unwrap();
    }
    assert_eq!(h.beta(), 1.0);
    assert_eq!(h.temperatures(), total);
    assert!(h.log_z().is_finite());
    assert!((h.log_z() - h.log_z_true()).abs() < 0.5, "{}", h.log_z());
    assert!(h.ess() >= 1.0 && h.ess() <= 1000.0);
    assert_eq!(h.particles_len(), 2000);
    assert_eq!(h.weights_len(), 1000);
    assert_eq!(h.trace_len(), total + 1);
    assert!(!h.particles_ptr().is_null());
}

#[wasm_bindgen_test]
fn density_grid_fills_the_owned_buffer() {
    let mut h = handle("25gmm", 10);
    let n = h
        .density_grid(&[-12.0, 12.0, -12.0, 12.0], 64, 48)
        .map_err(|_| "grid failed")
        .unwrap();
    assert_eq!(n, 64 * 48);
    assert_eq!(h.grid_len(), n);
    assert!(h.density_grid(&[1.0, 1.0, 0.0, 1.0], 4, 4).is_err());
    assert!(h.density_grid(&[0.0, 1.0, 0.0, 1.0], 0, 4).is_err());
}

#[wasm_bindgen_test]
fn bad_input_is_an_error_not_a_trap() {
    for q in [
        "target=nope&n=100",
        "target=gmm40&n=0",
        "target=gmm40&n=4000000000",
        "target=gmm40&dim=64&n=200000",
        "target=gmm40&n=100&base_std=NaN",
        "target=gmm40&n=100&cess=1.5",
        "target=9gmm&dim=3&n=100",
        "target=gmm40&n=abc",
        "target=gmm40&colour=red",
    ] {
        assert!(SmcPlayground::new(q).is_err(), "{q}");
    }
    let mut g = handle("9gmm", 10);
    assert!(
        g.density_grid(&[0.0, 1.0, 0.0], 4, 4).is_err(),
        "three bounds"
    );
    let mut h = handle("gaussian", 10);
    assert!(h.step(u32::MAX).is_err());
}

#[wasm_bindgen_test]
fn seeds_and_targets_cross_the_boundary() {
    let a = random_seed().map_err(|_| "no random source").unwrap();
    let b = random_seed().map_err(|_| "no random source").unwrap();
    let c = random_seed().map_err(|_| "no random source").unwrap();
    assert!(a != b || b != c);
    let list = target_list();
    assert!(list.contains("\"gmm40\"") && list.contains("\"manywell\""));
}

#[wasm_bindgen_test]
fn train_playground_steps_samples_and_rejects_bad_settings() {
    let q = "target=9gmm&method=rsmc&iters=4&batch=16&particles=16&steps=16&hidden=8&\
             flow_hidden=8&harmonics=4&buffer=200&prefill=1";
    let mut h = TrainPlayground::new(q).map_err(|_| "new").unwrap();
    assert_eq!(h.step(10).map_err(|_| "step").unwrap(), 4);
    assert!(h.done());
    assert_eq!(h.hist_len(), 4);
    assert!(h.loss().is_finite());
    assert_eq!(h.sample(100).map_err(|_| "sample").unwrap(), 100);
    assert_eq!(h.samples_len(), 200);
    assert!(h.is_log_z().is_finite());
    assert_eq!(h.param_checksum().len(), 16);
    assert_eq!(h.modes_total(), 9);
    assert!(TrainPlayground::new("target=gaussian").is_err());
    assert!(TrainPlayground::new("batch=0").is_err());
    assert!(TrainPlayground::new("steps=10").is_err());
    assert!(TrainPlayground::new("batch=4096&steps=256&hidden=512").is_err());
    assert!(h.sample(0).is_err());
}

/// A training handle owns its arenas: a hundred runs started and dropped one after another in
/// one instance leave the wasm memory where the first few left it.
#[wasm_bindgen_test]
fn a_hundred_training_runs_do_not_grow_memory() {
    let q = "target=25gmm&method=rsmc&iters=2&batch=64&particles=64&steps=16&hidden=32&\
             flow_hidden=16&harmonics=8&buffer=20000&prefill=1";
    let run = || {
        let mut h = TrainPlayground::new(q).map_err(|_| "new").unwrap();
        assert_eq!(h.step(2).map_err(|_| "step").unwrap(), 2);
        assert_eq!(h.sample(100).map_err(|_| "sample").unwrap(), 100);
    };
    for _ in 0..3 {
        run();
    }
    let pages = core::arch::wasm32::memory_size::<0>();
    for _ in 0..100 {
        run();
    }
    assert_eq!(
        core::arch::wasm32::memory_size::<0>(),
        pages,
        "wasm pages grew"
    );
}

#[wasm_bindgen_test]
fn discrete_playground_trains_evaluates_and_rejects_bad_settings() {
    let q = "target=grid&method=teacher&side=6&iters=10&eval_every=5&eval_samples=64&hidden=8";
    let mut h = DiscretePlayground::new(q).map_err(|_| "new").unwrap();
    assert_eq!(h.step(100).map_err(|_| "step").unwrap(), 10);
    assert!(h.done());
    assert_eq!(h.hist_len(), 10);
    assert_eq!(h.eval_len(), 2);
    assert_eq!(h.exact_len(), 36);
    assert_eq!(h.empirical_len(), 36);
    assert_eq!(h.grid_side(), 6);
    assert!(h.loss().is_finite() && h.tv() >= 0.0 && h.tv() <= 1.0);
    assert!(h.modes_total() > 0);
    assert_eq!(h.top_labels().split(',').count(), 16);
    assert!(DiscretePlayground::new("target=grid&side=1").is_err());
    assert!(DiscretePlayground::new("target=sequence&method=rsmc").is_err());
    assert!(DiscretePlayground::new("target=sequence&len=10").is_err());
}

#[wasm_bindgen_test]
fn vgs_playground_trains_samples_and_rejects_bad_settings() {
    let q = "target=9gmm&iters=3&steps=4&batch=16&hidden=8";
    let mut h = VgsPlayground::new(q).map_err(|_| "new").unwrap();
    assert_eq!(h.step(10).map_err(|_| "step").unwrap(), 3);
    assert!(h.done());
    assert_eq!(h.hist_len(), 3);
    assert_eq!(h.steps(), 4);
    assert!(h.loss().is_finite());
    assert_eq!(h.sample(100).map_err(|_| "sample").unwrap(), 100);
    assert_eq!(h.samples_len(), 200);
    assert_eq!(h.modes_total(), 9);
    assert!(VgsPlayground::new("target=funnel").is_err());
    assert!(VgsPlayground::new("steps=0").is_err());
}

#[wasm_bindgen_test]
fn aldp_angles_are_the_native_bits() {
    let (a, pos) = angles_and_positions(&Aldp::new(), &ramp_point());
    assert_eq!(a.map(f64::to_bits), RAMP_ANGLE_BITS);
    assert!(pos.iter().flatten().all(|v| v.is_finite()));
}

#[wasm_bindgen_test]
fn aldp_playground_trains_draws_and_rejects_bad_settings() {
    let q = "method=tb-buffer&iters=2&batch=8&steps=16&hidden=8&flow_hidden=8&harmonics=4&\
             buffer=100";
    let mut h = AldpPlayground::new(q).map_err(|_| "new").unwrap();
    assert_eq!(h.sample(16).map_err(|_| "sample").unwrap(), 16);
    assert_eq!(h.step(10).map_err(|_| "step").unwrap(), 2);
    assert!(h.done());
    assert_eq!(h.hist_len(), 2);
    assert!(h.loss().is_finite());
    assert_eq!(h.sample(32).map_err(|_| "sample").unwrap(), 32);
    assert_eq!(h.angles_len(), 64);
    assert_eq!(h.positions_len(), 32 * 66);
    assert_eq!(h.sample_log_r_len(), 32);
    assert_eq!(h.hist_pop_len(), 10);
    let pops = [
        h.pop_beta(),
        h.pop_alpha_r(),
        h.pop_alpha_l(),
        h.pop_unclassified(),
    ];
    assert!(pops.iter().all(|p| p.is_finite() && *p >= 0.0));
    assert!((pops.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert_eq!(h.non_finite(), 0);
    assert!(h.best() < 32);
    assert_eq!(h.elements().split(',').count(), 22);
    assert_eq!(h.bonds().len(), 42);
    assert!(h.cli_args().starts_with("--target aldp --method tb-buffer"));
    assert!(target_list().contains("\"view\":\"aldp\""));
    for bad in [
        "target=gmm40",
        "steps=10",
        "sigma=-1",
        "method=vgs",
        "batch=0",
    ] {
        assert!(AldpPlayground::new(bad).is_err(), "{bad}");
    }
    assert!(h.sample(0).is_err());
}
