//! The native side of the embedded proof: the firmware's program run on the host.
//!
//! `cargo xtask embedded` compares the firmware's report under qemu with the host binary's,
//! line by line; these tests pin what the comparison relies on: the static arenas fit the
//! configuration, the report is complete and deterministic, and training did something.

use amortise_embedded::{Arenas, F32_ARENA, U32_ARENA, needs, run};

fn report() -> String {
    let mut arenas = Box::new(Arenas::new());
    let mut out = String::new();
    run(&mut arenas, &mut out).expect("the tiny configuration runs");
    out
}

fn field(line: &str, name: &str) -> f64 {
    let v = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no `{name}=` in `{line}`"));
    v.parse()
        .unwrap_or_else(|_| panic!("bad {name} in `{line}`"))
}

#[test]
fn arenas_fit_the_configuration() {
    let (f, u) = needs().expect("valid configuration");
    assert!(f <= F32_ARENA, "F32_ARENA {F32_ARENA} < needed {f}");
    assert!(u <= U32_ARENA, "U32_ARENA {U32_ARENA} < needed {u}");
    // Sized by hand for the tiny configuration: little slack, so the RAM figure is honest.
    assert!(
        F32_ARENA - f < 1024 && U32_ARENA - u < 256,
        "arenas much larger than needed ({F32_ARENA} vs {f}, {U32_ARENA} vs {u}): shrink them"
    );
}

#[test]
fn report_is_complete_deterministic_and_sane() {
    let a = report();
    print!("{a}");
    assert_eq!(a, report(), "same seed, same report");
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines.last(), Some(&"done"));
    let progress: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("train: iter="))
        .collect();
    assert!(progress.len() >= 2, "progress lines");
    let done = lines
        .iter()
        .find(|l| l.starts_with("train: done"))
        .expect("a training summary");
    let smc = lines
        .iter()
        .find(|l| l.starts_with("smc:"))
        .expect("an SMC line");
    assert_eq!(field(done, "skipped"), 0.0);
    // The tiny model's batch-8 losses are noisy (on-policy and buffer batches alternate), so
    // this checks sanity, not convergence: finite losses, a learnt log Z that moved from its
    // initial 0, and an SMC estimate near the truth.
    for l in &progress {
        assert!(field(l, "mean_tb_loss").is_finite(), "{l}");
        assert!(field(l, "mean_subtb_loss").is_finite(), "{l}");
    }
    let learnt = field(done, "log_z");
    assert!(learnt.is_finite() && learnt != 0.0, "learnt log Z {learnt}");
    let (z, truth, ess) = (
        field(smc, "log_z"),
        field(smc, "true_log_z"),
        field(smc, "ess"),
    );
    assert!((z - truth).abs() < 3.0, "SMC log Z {z} vs {truth}");
    assert!(ess > 0.0 && ess <= 1.0, "ESS fraction {ess}");
    assert!(lines.iter().any(|l| l.starts_with("checksum: fnv1a64=")));
}

#[test]
fn a_small_arena_is_a_clear_error_not_a_panic() {
    let (f, u) = needs().expect("valid configuration");
    let mut f32s = vec![0.0f32; f - 1];
    let mut u32s = vec![0u32; u];
    let mut out = String::new();
    let e = amortise_embedded::diffusion::run(&mut f32s, &mut u32s, &mut out)
        .expect_err("one value short");
    assert_eq!(
        e,
        amortise_embedded::RunError::ArenaTooSmall {
            what: "f32",
            need: f,
            have: f - 1
        }
    );
    assert!(e.to_string().contains("raise the constant"), "{e}");
    assert!(out.is_empty(), "nothing runs before the check: {out}");
}
