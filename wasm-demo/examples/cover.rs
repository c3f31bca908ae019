//! Times the page's default run (RSMC on GMM40) natively and prints mode coverage:
//! `cargo run -p amortise-wasm --release --example cover [query]`.
use amortise_wasm::TrainCore;
use amortise_wasm::train::{modes, parse_settings};
use std::time::Instant;

fn main() {
    let q = std::env::args().nth(1).unwrap_or_default();
    let s = match parse_settings(&q) {
        Ok(s) => s,
        Err(e) => return eprintln!("{e}"),
    };
    let mut c = match TrainCore::new(&s) {
        Ok(c) => c,
        Err(e) => return eprintln!("{e}"),
    };
    println!("arena {} numbers; {}", c.arena_len(), s.cli_args());
    let t0 = Instant::now();
    while !c.done() {
        if let Err(e) = c.step(50) {
            return eprintln!("{e}");
        }
        if let Err(e) = c.sample(500) {
            return eprintln!("{e}");
        }
        let (hit, all) = c.modes_covered();
        let bhit = match c.sample_buffer(500) {
            Ok(_) => c.buffer_modes_covered().0,
            Err(e) => return eprintln!("{e}"),
        };
        let (m, r) = modes(&s.target);
        let xs = c.samples();
        let near = xs
            .chunks_exact(2)
            .filter(|x| {
                m.iter()
                    .any(|c| (x[0] - c[0]).powi(2) + (x[1] - c[1]).powi(2) <= r * r)
            })
            .count() as f64
            / (xs.len() / 2) as f64;
        println!(
            "{:>6.1} s  it {:>5}  loss {:>9.3}  log Z {:>7.3}  smc {:>7.3}  is {:>7.3}  modes {hit}/{all}  near {near:.2}  buffer modes {bhit}",
            t0.elapsed().as_secs_f64(),
            c.iteration(),
            c.loss(),
            c.log_z(),
            c.smc_log_z(),
            c.is_log_z()
        );
    }
}
