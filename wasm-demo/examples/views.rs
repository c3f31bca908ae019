//! The "What the other views reach" rows of docs/playground.md, natively with the page's
//! cores: `cargo run -p amortise-wasm --release --example views -- 'QUERY'`, where QUERY is
//! a page query (`?` left out).
//!
//! - `target=grid|deceptive-grid|sequence&…` ([`DiscreteCore`]): every evaluation's TV, JSD
//!   and importance-sampling `log Ẑ`, then the modes found, the learnt and exact `log Z`.
//! - `method=vgs&…` ([`VgsCore`]): the modes reached by 500 samples before training and every
//!   30 iterations, and the TD-loss medians of the first and last 20 iterations.
//! - anything else ([`TrainCore`]): the loss medians of the first and last 30 iterations, and
//!   the importance-sampling `log Ẑ` and the modes reached (0/0 where the target has none to
//!   count) of 500 samples drawn at the end.
//!
//! The medians' windows are the end-to-end test's (`e2e/playground.test.mjs`). Each view
//! ends with its wall time.
use amortise_wasm::discrete::{DiscreteCore, DiscreteSettings};
use amortise_wasm::vgs::{self, VgsCore};
use amortise_wasm::{PlaygroundError, TrainCore, train};
use std::time::Instant;

/// Iterations per `step` call.
const CHUNK: u32 = 10;
/// Samples per draw, as the page's.
const SAMPLES: usize = 500;

fn main() {
    let q = std::env::args().nth(1).unwrap_or_default();
    let t0 = Instant::now();
    let r = if q.split('&').any(|kv| kv == "method=vgs") {
        vgs_view(&q)
    } else if ["grid", "deceptive-grid", "sequence"]
        .iter()
        .any(|t| q.split('&').any(|kv| kv == format!("target={t}")))
    {
        discrete_view(&q)
    } else {
        train_view(&q)
    };
    match r {
        Ok(()) => println!("{:.1} s", t0.elapsed().as_secs_f64()),
        Err(e) => eprintln!("{e}"),
    }
}

/// Median of the finite values (the upper one of an even count, as the test's).
fn median(v: &[f32]) -> f32 {
    let mut b: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
    b.sort_by(f32::total_cmp);
    b.get(b.len() / 2).copied().unwrap_or(f32::NAN)
}

/// Medians of the first and of the last `w` values.
fn first_last(v: &[f32], w: usize) -> (f32, f32) {
    let w = w.min(v.len());
    (median(&v[..w]), median(&v[v.len() - w..]))
}

fn discrete_view(q: &str) -> Result<(), PlaygroundError> {
    let mut c = DiscreteCore::new(&DiscreteSettings::parse(q)?)?;
    while c.step(CHUNK)? > 0 {}
    for (((it, tv), jsd), lz) in c
        .eval_iter()
        .iter()
        .zip(c.eval_tv())
        .zip(c.eval_jsd())
        .zip(c.eval_log_z())
    {
        println!("it {it:>5}  TV {tv:.3}  JSD {jsd:.3}  IS log Z {lz:.3}");
    }
    println!(
        "modes {}/{}  learnt log Z {:.3}  exact {:.3}",
        c.modes_found(),
        c.n_modes(),
        c.log_z(),
        c.log_z_true()
    );
    Ok(())
}

fn vgs_view(q: &str) -> Result<(), PlaygroundError> {
    let mut c = VgsCore::new(&vgs::parse_settings(q)?)?;
    let mut reached = Vec::new();
    loop {
        c.sample(SAMPLES)?;
        reached.push((c.iteration(), c.modes_covered().0));
        if c.step(30)? == 0 {
            break;
        }
    }
    let (first, last) = first_last(c.hist_loss(), 20);
    let total = c.modes_covered().1;
    let line: Vec<String> = reached.iter().map(|(i, m)| format!("{i}:{m}")).collect();
    println!("modes of {total} by iteration: {}", line.join(" "));
    println!("TD-loss median {first:.3} -> {last:.3}");
    Ok(())
}

fn train_view(q: &str) -> Result<(), PlaygroundError> {
    let mut c = TrainCore::new(&train::parse_settings(q)?)?;
    while c.step(CHUNK)? > 0 {}
    c.sample(SAMPLES)?;
    let (first, last) = first_last(c.hist_loss(), 30);
    let (hit, all) = c.modes_covered();
    println!(
        "loss median {first:.3} -> {last:.3}  IS log Z {:.3} (true {:.3})  modes {hit}/{all}",
        c.is_log_z(),
        c.log_z_true()
    );
    Ok(())
}
