//! The stable fuzz smoke run: every fuzz target (`amortise::fuzz_targets` and the
//! playground's `amortise_wasm::fuzz::settings`) on the committed corpus `fuzz/corpus/*`
//! (which includes every crash reproducer found so far), then on seeded random mutations of
//! it. A panic is reported with the input, escaped, and the input is written to
//! `target/fuzz-crashes/` for `cargo xtask fuzz` or a regression test.
//!
//! Budget: `AMORTISE_FUZZ_SECONDS` per target (a time budget), else
//! `AMORTISE_FUZZ_ITERS` mutations per target (default 300, about a second in all).
//! `AMORTISE_FUZZ_SEED` changes the mutation stream (default 0; same seed, same inputs).
//! Coverage-guided fuzzing with libFuzzer runs the same functions: `cargo xtask fuzz`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WASM: &str = "wasm_settings";

fn targets() -> Vec<&'static str> {
    let mut t = amortise::fuzz_targets::TARGETS.to_vec();
    t.push(WASM);
    t
}

fn call(target: &str, data: &[u8]) {
    if target == WASM {
        amortise_wasm::fuzz::settings(data);
    } else {
        assert!(
            amortise::fuzz_targets::run(target, data),
            "unknown target {target}"
        );
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// xorshift64*: the mutation stream (not the kernel's RNG, so the kernel's streams stay
/// untouched).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that tend to matter to these parsers.
const TOKENS: [&str; 34] = [
    "0",
    "-1",
    "1e309",
    "-1e309",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e-45",
    "3.4028235e38",
    "18446744073709551615",
    "4294967296",
    "100000000000",
    ",",
    "\n",
    "&",
    "=",
    "\"",
    "{",
    "}",
    "[",
    "]",
    "--dim",
    "--n",
    "--steps",
    "--batch",
    "--eval-every",
    "--chunk",
    "--sigma",
    "--epsilon",
    "train",
    "sample-target",
    "\0",
    "null",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = if seeds.is_empty() {
        Vec::new()
    } else {
        seeds[rng.below(seeds.len())].clone()
    };
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(7) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.insert(at, rng.next() as u8),
            2 if !d.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(d.len());
                d.drain(at.min(end)..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                d.splice(at..at, t.iter().copied());
            }
            4 if !d.is_empty() => {
                // overwrite a number-like run with a token
                let t = TOKENS[rng.below(12)].as_bytes();
                let end = (at + t.len()).min(d.len());
                d.splice(at.min(end)..end, t.iter().copied());
            }
            5 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                let to = (from + rng.below(32)).min(other.len());
                d.splice(at..at, other[from..to].iter().copied());
            }
            _ => {
                let n = rng.below(16);
                d.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
    d.truncate(1 << 16);
    d
}

fn escaped(data: &[u8]) -> String {
    data.escape_ascii().to_string()
}

fn run_one(target: &str, data: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| call(target, data))).map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{target}-{:016x}", fnv(data)));
        let _ = std::fs::write(&file, data);
        format!(
            "{target} panicked ({msg}) on b\"{}\" (saved to {})",
            escaped(data),
            file.display()
        )
    })
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn corpus_replays_without_panics() {
    let mut failures = Vec::new();
    for t in targets() {
        let seeds = corpus(t);
        assert!(!seeds.is_empty(), "empty corpus for {t}");
        for s in &seeds {
            if let Err(e) = run_one(t, s) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seeded_mutations_do_not_panic() {
    let seconds = env_u64("AMORTISE_FUZZ_SECONDS");
    let iters = env_u64("AMORTISE_FUZZ_ITERS").unwrap_or(300);
    let seed = env_u64("AMORTISE_FUZZ_SEED").unwrap_or(0);
    // quiet: the default panic hook would print every caught panic
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for (k, t) in targets().into_iter().enumerate() {
        let seeds = corpus(t);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15
            ^ seed
                .wrapping_add(k as u64 + 1)
                .wrapping_mul(0xff51_afd7_ed55_8ccd));
        let t0 = Instant::now();
        let mut n = 0u64;
        loop {
            let done = match seconds {
                Some(s) => t0.elapsed() >= Duration::from_secs(s),
                None => n >= iters,
            };
            if done || failures.len() >= 5 {
                break;
            }
            let input = mutate(&mut rng, &seeds);
            if let Err(e) = run_one(t, &input) {
                failures.push(e);
            }
            n += 1;
        }
        report.push(format!(
            "{t}: {n} inputs in {:.1} s",
            t0.elapsed().as_secs_f64()
        ));
    }
    std::panic::set_hook(hook);
    eprintln!("fuzz smoke: {}", report.join(", "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
