//! `nn::Mlp`: shapes at the edges (width 1, batch 1, one layer, the maximum depth).

use amortise_kernel::Error;
use amortise_kernel::nn::{Activation, MAX_LAYERS, Mlp, mlp_param_count};
use proptest::prelude::*;

use super::{CASES, config};
use amortise_kernel::nn::{Grads, Tape};

/// Widths with every entry in `1..=4` (so width 1 is common), 2 to `MAX_LAYERS + 1` of them.
fn widths() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![2 => Just(1usize), 3 => 1usize..=4],
        2..=MAX_LAYERS + 1,
    )
}

fn activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(Activation::ALL.to_vec())
}

struct Run {
    out: Vec<f32>,
    cache: Vec<f32>,
}

fn forward(net: &Mlp, p: &[f32], x: &[f32], batch: usize) -> Run {
    let mut cache = vec![0.0f32; net.cache_len(batch)];
    let mut out = vec![0.0f32; batch * net.output_dim()];
    net.forward(p, x, batch, &mut cache, &mut out).unwrap();
    Run { out, cache }
}

/// `L = Σ c·y` in f64.
fn loss(net: &Mlp, p: &[f32], x: &[f32], batch: usize, c: &[f32]) -> f64 {
    forward(net, p, x, batch)
        .out
        .iter()
        .zip(c)
        .map(|(&y, &c)| y as f64 * c as f64)
        .sum()
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn forward_predict_backward_at_edge_shapes(
        w in widths(),
        act in activation(),
        input_act in any::<bool>(),
        batch in prop_oneof![2 => Just(1usize), 1 => 1usize..4],
        seed in any::<u64>(),
    ) {
        let mut net = Mlp::new(&w, act).unwrap();
        if input_act {
            net = net.with_input_activation();
        }
        prop_assert_eq!(net.param_count(), mlp_param_count(&w));
        let mut r = amortise_kernel::rng::seeded(seed);
        let mut rnd = |n: usize| -> Vec<f32> { (0..n).map(|_| 2.0 * amortise_kernel::rng::uniform_f32(&mut r) - 1.0).collect() };
        let p = rnd(net.param_count());
        let x = rnd(batch * net.input_dim());
        let c = rnd(batch * net.output_dim());
        let run = forward(&net, &p, &x, batch);
        prop_assert!(run.out.iter().all(|v| v.is_finite()));
        // predict is bit-identical to forward
        let mut scratch = vec![0.0f32; net.scratch_len(batch)];
        let mut out2 = vec![f32::NAN; run.out.len()];
        net.predict(&p, &x, batch, &mut scratch, &mut out2).unwrap();
        prop_assert!(run.out.iter().zip(&out2).all(|(a, b)| a.to_bits() == b.to_bits()), "{:?} vs {:?}", run.out, out2);
        // backward: parameter gradients accumulate, the input gradient is written
        let mut grads = vec![0.0f32; net.param_count()];
        let mut dx = vec![f32::NAN; x.len()];
        let tape = Tape { cache: &run.cache, batch };
        net.backward(&p, tape, &c, Grads::with_input(&mut grads, &mut dx), &mut scratch).unwrap();
        prop_assert!(grads.iter().chain(&dx).all(|v| v.is_finite()));
        let once = grads.clone();
        net.backward(&p, tape, &c, Grads::params(&mut grads), &mut scratch).unwrap();
        for (g2, g1) in grads.iter().zip(&once) {
            prop_assert!((g2 - 2.0 * g1).abs() <= 1e-5 * (1.0 + g1.abs()), "accumulate: {g2} vs 2·{g1}");
        }
        // central differences on a few coordinates (smooth activations only: ReLU has kinks)
        if act != Activation::Relu {
            let h = 1e-2f32;
            let check = |analytic: f32, plus: f64, minus: f64| {
                let fd = (plus - minus) / (2.0 * h as f64);
                (fd - analytic as f64).abs() <= 2e-2 * (1.0 + fd.abs())
            };
            for k in [0, net.param_count() / 2, net.param_count() - 1] {
                let (mut pp, mut pm) = (p.clone(), p.clone());
                pp[k] += h;
                pm[k] -= h;
                let (lp, lm) = (loss(&net, &pp, &x, batch, &c), loss(&net, &pm, &x, batch, &c));
                prop_assert!(check(once[k], lp, lm), "dparam {k}: {} vs fd {}", once[k], (lp - lm) / (2.0 * h as f64));
            }
            for k in [0, x.len() - 1] {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[k] += h;
                xm[k] -= h;
                let (lp, lm) = (loss(&net, &p, &xp, batch, &c), loss(&net, &p, &xm, batch, &c));
                prop_assert!(check(dx[k], lp, lm), "dx {k}: {} vs fd {}", dx[k], (lp - lm) / (2.0 * h as f64));
            }
        }
    }

    #[test]
    fn wrong_buffer_sizes_are_shape_errors(w in widths(), batch in 1usize..4, which in 0usize..4) {
        let net = Mlp::new(&w, Activation::Tanh).unwrap();
        let mut p = vec![0.1f32; net.param_count()];
        let mut x = vec![0.5f32; batch * net.input_dim()];
        let mut cache = vec![0.0f32; net.cache_len(batch)];
        let mut out = vec![0.0f32; batch * net.output_dim()];
        match which {
            0 => { p.push(0.0); }
            1 => { x.pop(); }
            2 => { out.push(0.0); }
            _ => { if cache.pop().is_none() { return Ok(()); } }
        }
        prop_assert!(matches!(net.forward(&p, &x, batch, &mut cache, &mut out), Err(Error::ShapeMismatch { .. })), "wrong outcome");
        let mut scratch = vec![0.0f32; net.scratch_len(batch)];
        if which < 3 {
            prop_assert!(matches!(net.predict(&p, &x, batch, &mut scratch, &mut out), Err(Error::ShapeMismatch { .. })), "wrong outcome");
        }
    }

    #[test]
    fn invalid_widths_are_invalid_config(w in prop::collection::vec(0usize..3, 0..MAX_LAYERS + 3)) {
        let valid = w.len() >= 2 && w.len() <= MAX_LAYERS + 1 && !w.contains(&0);
        match Mlp::new(&w, Activation::Gelu) {
            Ok(_) => prop_assert!(valid),
            Err(Error::InvalidConfig(_)) => { prop_assert!(!valid); prop_assert_eq!(mlp_param_count(&w), 0); }
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

#[test]
fn huge_widths_do_not_overflow() {
    // parameter counts saturate instead of overflowing; buffers then cannot match
    let net = Mlp::new(&[usize::MAX / 2, 3, 1], Activation::Relu).unwrap();
    assert_eq!(net.param_count(), usize::MAX);
    let mut out = [0.0f32; 1];
    let r = net.forward(&[0.0; 4], &[0.0; 1], 1, &mut [0.0; 8], &mut out);
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
}
