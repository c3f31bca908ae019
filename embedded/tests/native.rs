//! The native side of the embedded proof: the firmware's program run on the host.
//!
//! `cargo xtask embedded` compares the firmware's report under qemu with the host binary's,
//! line by line; these tests run the same program (both stages, the same seeds and
//! configurations) natively and pin what the comparison relies on: the static arenas fit
//! the configuration, the report is complete and deterministic, each stage is independent
//! of what ran before it in the shared arenas, and training did something (the GFlowNet
//! stage against exact enumeration of the hypergrid).

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

/// The lines of one stage: from its first line (`stage: ...`) to its checksum line
/// (`stage: params=... fnv1a64=...`, or `stage: outputs fnv1a64=...`), both included.
fn section<'r>(report: &'r str, stage: &str) -> Vec<&'r str> {
    let head = format!("{stage}:");
    let lines: Vec<&str> = report.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("no {stage} section"));
    let end = lines
        .iter()
        .position(|l| l.starts_with(&head) && l.contains(" fnv1a64="))
        .unwrap_or_else(|| panic!("no {stage} checksum line"));
    lines[start..=end].to_vec()
}

fn line<'r>(lines: &[&'r str], prefix: &str) -> &'r str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line"))
}

#[test]
fn report_is_complete_deterministic_and_sane() {
    let a = report();
    print!("{a}");
    assert_eq!(a, report(), "same seed, same report");
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines.last(), Some(&"done"));
    assert!(lines.iter().any(|l| l.starts_with("checksum: fnv1a64=")));
    // The stages run in order, each over the whole arenas.
    let d = section(&a, "diffusion");
    let g = section(&a, "gflownet");
    let al = section(&a, "aldp");
    let pos = |l: &&str| lines.iter().position(|x| x == l).unwrap();
    assert!(pos(d.last().unwrap()) < pos(&g[0]), "diffusion runs first");
    assert!(
        pos(g.last().unwrap()) < pos(&al[0]),
        "then gflownet, then aldp"
    );

    let progress: Vec<&&str> = d.iter().filter(|l| l.starts_with("train: iter=")).collect();
    assert!(progress.len() >= 2, "progress lines");
    let done = line(&d, "train: done");
    let smc = line(&d, "smc:");
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
}

#[test]
fn gflownet_stage_learns_the_hypergrid() {
    let a = report();
    let g = section(&a, "gflownet");
    let progress: Vec<&&str> = g.iter().filter(|l| l.starts_with("train: iter=")).collect();
    assert_eq!(
        progress.len() as u32,
        amortise_embedded::gflownet::ITERATIONS / amortise_embedded::gflownet::LOG_EVERY
    );
    for l in &progress {
        assert!(field(l, "mean_tb_loss").is_finite(), "{l}");
    }
    let done = line(&g, "train: done");
    let eval = line(&g, "eval: samples=");
    let reference = line(&g, "eval: reference");
    let learnt = field(done, "log_z");
    let exact = field(eval, "exact_log_z");
    // Exact log Z of the 8×8 standard grid by hand: 4 cells of R0+R1+R2, 12 of R0+R1, 48 of
    // R0 (Bengio et al. 2021, eq. 11).
    let by_hand = (4.0 * 2.501f64 + 12.0 * 0.501 + 48.0 * 0.001).ln();
    assert!(
        (exact - by_hand).abs() < 1e-6,
        "exact log Z {exact} vs {by_hand}"
    );
    assert!(
        (field(eval, "log_z_error") - (learnt - exact)).abs() < 1e-6,
        "{eval}"
    );
    // Regression bounds for the tiny configuration (measured: |Δ log Z| 0.080, TV 0.084 vs
    // 0.747 for the uniform distribution, JSD 0.0086, all 4 modes): the policy covers the
    // modes and its distribution is much closer to the target than uniform.
    assert!(
        (learnt - exact).abs() < 0.3,
        "learnt log Z {learnt} vs {exact}"
    );
    let (tv, jsd, uniform) = (
        field(eval, "tv"),
        field(eval, "jsd"),
        field(reference, "uniform_tv"),
    );
    assert!(
        tv < 0.2 && tv < 0.5 * uniform,
        "TV {tv} (uniform {uniform})"
    );
    assert!((0.0..0.05).contains(&jsd), "JSD {jsd}");
    assert!(eval.ends_with("modes_visited=4/4"), "{eval}");
}

/// The value of ` name=value (0xbits)`, checked against its bits (8 hex digits: an `f32`,
/// 16: an `f64`).
fn field_bits(line: &str, name: &str) -> f64 {
    let v = field(line, name);
    let hex = line
        .split(&format!(" {name}="))
        .nth(1)
        .and_then(|r| r.split_once("(0x"))
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(h, _)| h)
        .unwrap_or_else(|| panic!("no bits for {name} in `{line}`"));
    let bits = u64::from_str_radix(hex, 16).expect("hex bits");
    // The printed value is the shortest decimal that reads back as the same float.
    match hex.len() {
        8 => {
            assert_eq!((v as f32).to_bits(), bits as u32, "{name} in `{line}`");
            f64::from(v as f32)
        }
        16 => {
            assert_eq!(v.to_bits(), bits, "{name} in `{line}`");
            v
        }
        n => panic!("{n} hex digits for {name} in `{line}`"),
    }
}

#[test]
fn aldp_stage_reproduces_the_known_energies() {
    let a = report();
    let s = section(&a, "aldp");
    let npoints = 1 + amortise_embedded::aldp::PERTURBATIONS.len();
    assert_eq!(s.len(), 3 + 2 * npoints, "{s:#?}");
    // The Cartesian energy at X_ref (OpenMM's Reference platform gives the same total,
    // tests/aldp_openmm.rs; the kernel pins it at 1e-9) and E(0) of the 60-d target.
    let cart = line(&s, "cartesian: x_ref");
    assert!(
        (field_bits(cart, "total") + 172.677516925).abs() < 1e-8,
        "{cart}"
    );
    let terms = [
        "bond", "angle", "torsion", "coulomb", "lj", "gb_self", "ace", "gb_pair",
    ];
    let sum: f64 = terms.iter().map(|t| field_bits(cart, t)).sum();
    assert!((sum - field(cart, "total")).abs() < 1e-9, "{cart}");
    let e0 = line(&s, "target: point=0 sigma");
    assert!(
        (field_bits(e0, "energy") - 162.513345644).abs() < 1e-9,
        "{e0}"
    );
    let lp0 = line(&s, "target: point=0 log_density");
    assert_eq!(
        field_bits(lp0, "log_density"),
        f64::from(-162.513345644f64 as f32)
    );
    // The perturbed points: finite, higher energies than the minimum's, log p̃ = −E in f32.
    for k in 1..npoints {
        let e = line(&s, &format!("target: point={k} sigma"));
        let lp = line(&s, &format!("target: point={k} log_density"));
        let (ek, lpk) = (field_bits(e, "energy"), field_bits(lp, "log_density"));
        assert!(ek.is_finite() && ek > field(e0, "energy"), "{e}");
        assert_eq!(lpk, f64::from(-ek as f32), "{lp}");
        assert!(field_bits(lp, "grad0").is_finite(), "{lp}");
    }
}

#[test]
fn a_stage_does_not_depend_on_what_ran_before_it() {
    // The GFlowNet stage alone, on fresh zeroed arenas, prints what it prints after the
    // diffusion stage has used (and left garbage in) the same arenas.
    let (f, u) = amortise_embedded::gflownet::needs().expect("valid configuration");
    let (mut f32s, mut u32s) = (vec![0.0f32; f], vec![0u32; u]);
    let mut alone = String::new();
    let sum =
        amortise_embedded::gflownet::run(&mut f32s, &mut u32s, &mut alone).expect("the stage runs");
    let full = report();
    let in_full = section(&full, "gflownet");
    let alone: Vec<&str> = alone.lines().collect();
    // Only the arena line differs (sizes of the arenas handed in).
    assert_eq!(alone.len(), in_full.len());
    for (x, y) in alone.iter().zip(&in_full) {
        if !x.starts_with("gflownet: arena") {
            assert_eq!(x, y);
        }
    }
    assert!(alone.last().unwrap().ends_with(&format!("{sum:016x}")));
    // The ALDP stage alone (its f32 arena holds the point and the gradient; it has no
    // arena line), likewise after both training stages.
    let (f, u) = amortise_embedded::aldp::needs().expect("no configuration");
    let (mut f32s, mut u32s) = (vec![0.0f32; f], vec![0u32; u]);
    let mut alone = String::new();
    let sum =
        amortise_embedded::aldp::run(&mut f32s, &mut u32s, &mut alone).expect("the stage runs");
    assert_eq!(alone.lines().collect::<Vec<_>>(), section(&full, "aldp"));
    assert!(alone.trim_end().ends_with(&format!("{sum:016x}")));
}

#[test]
fn a_small_arena_is_a_clear_error_not_a_panic() {
    let (f, u) = amortise_embedded::diffusion::needs().expect("valid configuration");
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

#[test]
fn a_small_u32_arena_stops_the_gflownet_stage_before_it_prints() {
    let (f, u) = amortise_embedded::gflownet::needs().expect("valid configuration");
    let mut f32s = vec![0.0f32; f];
    let mut u32s = vec![0u32; u - 1];
    let mut out = String::new();
    let e = amortise_embedded::gflownet::run(&mut f32s, &mut u32s, &mut out)
        .expect_err("one value short");
    assert_eq!(
        e,
        amortise_embedded::RunError::ArenaTooSmall {
            what: "u32",
            need: u,
            have: u - 1
        }
    );
    assert!(out.is_empty(), "nothing runs before the check: {out}");
}
