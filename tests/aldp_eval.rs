//! ALDP evaluation: the kernel's φ/ψ against mdtraj 1.11.1 on the configurations of
//! `tests/fixtures/aldp_phi_psi.json` (written by `python3 scripts/aldp/phi_psi_fixture.py`),
//! the PDB writer's columns against the PDB specification and RSMC's `aldp.pdb`, the φ/ψ
//! metrics, and the aldp outputs of `amortise train`.

use amortise::aldp::{self, AldpEval, AngleStats, PDB_MODELS, Reference, pdb_text};
use amortise_kernel::targets::Aldp;
use amortise_kernel::targets::aldp::{Basin, DIM, Positions, params::X_REF, phi_psi};
use serde_json::Value;

mod common;
use common::{amortise, stderr, tmp};

const PI: f64 = std::f64::consts::PI;

fn positions(v: &Value) -> Positions {
    let mut p = [[0.0; 3]; 22];
    for (o, r) in p.iter_mut().zip(v.as_array().expect("rows")) {
        for (c, x) in o.iter_mut().zip(r.as_array().expect("3 columns")) {
            *c = x.as_f64().expect("a number");
        }
    }
    p
}

/// `|a − b|` on the circle.
fn angle_diff(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(2.0 * PI);
    d.min(2.0 * PI - d)
}

#[test]
fn phi_psi_match_mdtraj() {
    let text = include_str!("fixtures/aldp_phi_psi.json");
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["phi_atoms"], serde_json::json!([4, 6, 8, 14]));
    assert_eq!(v["psi_atoms"], serde_json::json!([6, 8, 14, 16]));
    let aldp = Aldp::new();
    let confs = v["configurations"].as_array().unwrap();
    assert_eq!(confs.len(), 13);
    let (mut worst_md, mut worst_x) = (0.0f64, 0.0f64);
    for c in confs {
        let name = c["name"].as_str().unwrap();
        let x = positions(&c["positions"]);
        let [phi, psi] = phi_psi(&x);
        let want = |k: &str| c[k].as_f64().unwrap();
        // mdtraj works in float32: agreement to 1e-6 rad
        let e_md = angle_diff(phi, want("phi_mdtraj")).max(angle_diff(psi, want("psi_mdtraj")));
        assert!(e_md < 1e-6, "{name}: {phi} {psi} vs mdtraj, error {e_md}");
        // the same formula in float64 (numpy): agreement to round-off
        let e64 = angle_diff(phi, want("phi_f64")).max(angle_diff(psi, want("psi_f64")));
        assert!(e64 < 1e-12, "{name}: error {e64} against numpy float64");
        // through the sampler space: X → x → X, φ/ψ unchanged
        let [phi_x, psi_x] = aldp.phi_psi(&aldp.x_from_positions(&x));
        let e_x = angle_diff(phi_x, want("phi_mdtraj")).max(angle_diff(psi_x, want("psi_mdtraj")));
        assert!(e_x < 1e-6, "{name}: via x, error {e_x}");
        worst_md = worst_md.max(e_md);
        worst_x = worst_x.max(e_x);
    }
    println!("worst |Δ| against mdtraj: from X {worst_md:.2e} rad, from x {worst_x:.2e} rad");
}

#[test]
fn kl_divergences_match_fabs_numpy_formulas() {
    let v: Value = serde_json::from_str(include_str!("fixtures/aldp_phi_psi.json")).unwrap();
    let ex = &v["kl_example"];
    let pairs = |k: &str| -> Vec<[f64; 2]> {
        ex[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect()
    };
    let reference = AngleStats::new(&pairs("reference")).unwrap();
    let model = AngleStats::new(&pairs("model")).unwrap();
    assert_eq!(reference.phi.iter().sum::<u32>(), 400);
    assert_eq!(model.rama.iter().sum::<u32>(), 300);
    let got = aldp::kl_divergences(&reference, &model);
    for (g, k) in got.iter().zip(["kl_phi", "kl_psi", "kl_ramachandran"]) {
        let want = ex[k].as_f64().unwrap();
        let g = g.unwrap();
        assert!(
            (g - want).abs() <= 1e-12 * want.abs(),
            "{k}: {g} vs numpy {want}"
        );
    }
}

/// The fields of one ATOM/HETATM line by the PDB columns (1-based, inclusive).
fn col(line: &str, a: usize, b: usize) -> &str {
    &line[a - 1..b]
}

fn atom_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("ATOM") || l.starts_with("HETATM"))
        .collect()
}

/// Coordinates (Å) of the atom lines.
fn coords(lines: &[&str]) -> Vec<[f64; 3]> {
    lines
        .iter()
        .map(|l| [(31, 38), (39, 46), (47, 54)].map(|(a, b)| col(l, a, b).trim().parse().unwrap()))
        .collect()
}

fn max_distance_error(a: &[[f64; 3]], b: &[[f64; 3]]) -> f64 {
    let d = |p: &[f64; 3], q: &[f64; 3]| {
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
    };
    let mut worst = 0.0f64;
    for i in 0..a.len() {
        for j in 0..i {
            worst = worst.max((d(&a[i], &a[j]) - d(&b[i], &b[j])).abs());
        }
    }
    worst
}

#[test]
fn pdb_columns_follow_the_spec_and_aldp_pdb() {
    let reference = include_str!("fixtures/aldp.pdb");
    let ref_lines = atom_lines(reference);
    assert_eq!(ref_lines.len(), 22);
    let text = pdb_text(&[X_REF, X_REF]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("MODEL ")).count(), 2);
    assert_eq!(lines.iter().filter(|l| **l == "ENDMDL").count(), 2);
    assert_eq!(lines.last(), Some(&"END"));
    assert_eq!(lines[1], "MODEL        1");
    let atoms = atom_lines(&text);
    assert_eq!(atoms.len(), 44);
    // an exact line: atom 9 (CA of ALA 2) of X_ref
    let ca = format!(
        "ATOM      9  CA  ALA A   2    {:8.3}{:8.3}{:8.3}  1.00  0.00           C  ",
        10.0 * X_REF[8][0],
        10.0 * X_REF[8][1],
        10.0 * X_REF[8][2]
    );
    assert_eq!(atoms[8], ca);
    for (i, (l, r)) in atoms[..22].iter().zip(&ref_lines).enumerate() {
        assert_eq!(l.len(), 80, "{l:?}");
        // record, serial, name, residue name, chain, residue number, element: as aldp.pdb
        for (a, b) in [
            (1, 6),
            (7, 11),
            (13, 16),
            (18, 20),
            (22, 22),
            (23, 26),
            (77, 78),
        ] {
            assert_eq!(col(l, a, b), col(r, a, b), "atom {i}, columns {a}-{b}");
        }
        assert_eq!(col(l, 55, 60), "  1.00");
        assert_eq!(col(l, 61, 66), "  0.00");
    }
    // coordinates: Å = 10 × nm, rounded to 1e-3
    for (k, p) in coords(&atoms[..22]).iter().enumerate() {
        for c in 0..3 {
            assert!((p[c] - 10.0 * X_REF[k][c]).abs() <= 5e-4 + 1e-12);
        }
    }
    // the second model repeats the serial numbers
    assert_eq!(col(atoms[22], 7, 11), "    1");
}

#[test]
fn pdb_round_trip_through_x() {
    let aldp = Aldp::new();
    // X_ref → x → X: the gauge-fixed frame moves the molecule rigidly, so every pairwise
    // distance stays (to the PDB's 1e-3 Å rounding)
    let x = aldp.x_from_positions(&X_REF);
    let (z, _) = Aldp::z_from_x(&x);
    let (back, _) = aldp.positions_from_z(&z);
    let atoms_text = pdb_text(&[back]);
    let got = coords(&atom_lines(&atoms_text));
    let want: Vec<[f64; 3]> = X_REF.iter().map(|p| p.map(|c| 10.0 * c)).collect();
    assert!(max_distance_error(&got, &want) < 2e-3);
    // aldp.pdb's own conformation (Å): read, → x → X, written: the same molecule
    let ref_coords = coords(&atom_lines(include_str!("fixtures/aldp.pdb")));
    let mut pos = [[0.0; 3]; 22];
    for (o, p) in pos.iter_mut().zip(&ref_coords) {
        *o = p.map(|c| c / 10.0);
    }
    let (z, _) = Aldp::z_from_x(&aldp.x_from_positions(&pos));
    let (back, _) = aldp.positions_from_z(&z);
    let got = coords(&atom_lines(&pdb_text(&[back])));
    let err = max_distance_error(&got, &ref_coords);
    assert!(err < 2e-3, "{err}");
    // and the writer of those positions reproduces aldp.pdb's coordinate columns exactly
    let direct = pdb_text(&[pos]);
    for (l, r) in atom_lines(&direct)
        .iter()
        .zip(atom_lines(include_str!("fixtures/aldp.pdb")))
    {
        assert_eq!(col(l, 31, 54), col(r, 31, 54));
    }
}

/// `alpha_l_wells` counts `0 < φ ≤ 120°` inside αL; φ > 120° is αL but not the wells.
#[test]
fn the_alpha_l_wells_are_the_part_of_alpha_l_up_to_120_degrees() {
    let deg = |d: f64| d.to_radians();
    let ang = [
        [deg(40.0), deg(60.0)],
        [deg(120.0), 0.0],
        [deg(150.0), deg(170.0)],
        [deg(-60.0), deg(-40.0)],
        [0.0, deg(100.0)],
    ];
    let pop = AngleStats::new(&ang).unwrap().populations();
    assert_eq!((pop.alpha_l, pop.alpha_l_wells), (0.6, 0.4));
    assert_eq!((pop.alpha_r, pop.beta_c7eq), (0.2, 0.2));
}

/// The importance-weighted populations on rows whose answer is known by hand: one row per
/// basin with weights 1, 2, 3.
#[test]
fn weighted_populations_reweight_the_rows() {
    let deg = |d: f64| d.to_radians();
    // β/C7eq, αR, and the αL wells
    let ang = [
        [deg(-60.0), deg(140.0)],
        [deg(-60.0), deg(-40.0)],
        [deg(60.0), deg(40.0)],
    ];
    let (l2, l3) = (2f64.ln(), 3f64.ln());
    let w = aldp::weighted_populations(&ang, &[0.0, l2, l3]).unwrap();
    let (p, e) = (w.populations, w.standard_errors);
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} against {b}");
    close(p.beta_c7eq, 1.0 / 6.0);
    close(p.alpha_r, 2.0 / 6.0);
    close(p.alpha_l, 3.0 / 6.0);
    close(p.alpha_l_wells, 3.0 / 6.0);
    close(p.unclassified, 0.0);
    assert_eq!((p.n, e.n), (3, 3));
    // Kish: 1 / Σ w̃² = 36 / 14; delta method: Σ w̃² (1_B − p̂)²
    close(w.ess, 36.0 / 14.0);
    close(e.alpha_l, (14.0f64 / 36.0 * 0.25).sqrt());
    close(e.beta_c7eq, (38.0f64 / 1296.0).sqrt());
    // a constant added to every log weight changes nothing, however large
    let s = aldp::weighted_populations(&ang, &[1e4, 1e4 + l2, 1e4 + l3]).unwrap();
    close(s.populations.alpha_l, 0.5);
    close(s.ess, w.ess);
    // a zero weight (−∞) drops its row
    let z = aldp::weighted_populations(&ang, &[f64::NEG_INFINITY, 0.0, 0.0]).unwrap();
    close(z.populations.beta_c7eq, 0.0);
    close(z.populations.alpha_r, 0.5);
    // equal weights give the counts, the binomial standard error and ESS n
    let u = aldp::weighted_populations(&ang, &[0.0; 3]).unwrap();
    assert_eq!(u.populations, AngleStats::new(&ang).unwrap().populations());
    close(u.ess, 3.0);
    close(
        u.standard_errors.alpha_r,
        (1.0f64 / 3.0 * 2.0 / 3.0 / 3.0).sqrt(),
    );
    // bad weights are refused by the flag's name
    for bad in [
        vec![0.0, 0.0],
        vec![0.0, f64::NAN, 0.0],
        vec![0.0, f64::INFINITY, 0.0],
        vec![f64::NEG_INFINITY; 3],
    ] {
        let err = aldp::weighted_populations(&ang, &bad).unwrap_err();
        assert!(err.to_string().contains("--a-log-weights"), "{err}");
    }
}

/// Self-normalised importance sampling against a known answer: uniform draws over the
/// plane reweighted to a density 4 times higher at φ > 0, where the target's αL mass is
/// 4/5.
#[test]
fn weighted_populations_estimate_a_known_target() {
    use amortise_kernel::rng::{seeded, uniform_f64};
    let mut r = seeded(17);
    let pi = core::f64::consts::PI;
    let ang: Vec<[f64; 2]> = (0..4000)
        .map(|_| {
            let phi = (2.0 * uniform_f64(&mut r) - 1.0) * pi;
            let psi = (2.0 * uniform_f64(&mut r) - 1.0) * pi;
            [phi, psi]
        })
        .collect();
    let lw: Vec<f64> = ang
        .iter()
        .map(|a| if a[0] > 0.0 { 4f64.ln() } else { 0.0 })
        .collect();
    let w = aldp::weighted_populations(&ang, &lw).unwrap();
    let (p, e) = (w.populations.alpha_l, w.standard_errors.alpha_l);
    assert!((p - 0.8).abs() < 4.0 * e, "{p} ± {e}");
    // asymptotically sd² = E_q[w² (1_αL − p)²] / (E_q w)² / n = 0.64 / 6.25 / 4000
    // (sd 0.0051), and ESS = n (E_q w)² / E_q w² = 4000 · 6.25 / 8.5 (2941)
    assert!(e > 0.0045 && e < 0.0057, "{e}");
    assert!(w.ess > 2800.0 && w.ess < 3100.0, "{}", w.ess);
}

/// The weighted histograms on rows whose answer is known: equal weights are the counts
/// (the same KL bits), a weight of 2 is a row drawn twice, a non-finite row is left out.
#[test]
fn weighted_histograms_reweight_the_rows() {
    let deg = |d: f64| d.to_radians();
    let ang = [
        [deg(-60.0), deg(140.0)],
        [deg(-60.0), deg(-40.0)],
        [deg(60.0), deg(40.0)],
        [f64::NAN, deg(40.0)],
    ];
    let reference = AngleStats::new(&ang[..3]).unwrap();
    let counts = AngleStats::new(&ang).unwrap();
    let equal = aldp::WeightedHistograms::new(&ang, &[0.0; 4]).unwrap();
    let masses = |c: &[u32]| c.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
    assert_eq!(equal.rama, masses(&counts.rama));
    assert_eq!(equal.phi.iter().sum::<f64>(), 3.0);
    let bits = |k: [Option<f64>; 3]| k.map(|v| v.map(f64::to_bits));
    assert_eq!(
        bits(aldp::kl_divergences_weighted(&reference, &equal)),
        bits(aldp::kl_divergences(&reference, &counts))
    );
    // weights 1, 2, 1 against the rows 0, 1, 1, 2; the same up to the sum's rounding
    let l2 = 2f64.ln();
    let w = aldp::WeightedHistograms::new(&ang[..3], &[0.0, l2, 0.0]).unwrap();
    let dup = AngleStats::new(&[ang[0], ang[1], ang[1], ang[2]]).unwrap();
    let (kw, kd) = (
        aldp::kl_divergences_weighted(&reference, &w),
        aldp::kl_divergences(&reference, &dup),
    );
    for (a, b) in kw.iter().zip(&kd) {
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!((a - b).abs() < 1e-12 && a > 0.01, "{a} against {b}");
    }
    for bad in [vec![0.0; 3], vec![f64::NAN, 0.0, 0.0, 0.0]] {
        let err = aldp::WeightedHistograms::new(&ang, &bad).unwrap_err();
        assert!(err.to_string().contains("--a-log-weights"), "{err}");
    }
}

/// The weighted histograms against a known target: uniform draws reweighted by 4 at φ > 0
/// estimate a density with 4/5 of its mass there. Against a reference drawn from that
/// density, the φ KL of the weighted draws is at the two samples' noise floor (about
/// 199/2 · (1/20000 + 1/29400) = 0.008), that of the unweighted draws the true
/// `KL = 0.8 ln 1.6 + 0.2 ln 0.4 = 0.193` above it.
#[test]
fn weighted_histograms_estimate_a_known_target() {
    use amortise_kernel::rng::{seeded, uniform_f64};
    let mut r = seeded(23);
    let mut draw = |half: Option<bool>| {
        let u = uniform_f64(&mut r) * PI;
        let phi = match half {
            Some(true) => u,
            Some(false) => -u,
            None => (2.0 * uniform_f64(&mut r) - 1.0) * PI,
        };
        [phi, (2.0 * uniform_f64(&mut r) - 1.0) * PI]
    };
    let model: Vec<[f64; 2]> = (0..40_000).map(|_| draw(None)).collect();
    let mut r2 = seeded(29);
    let target: Vec<[f64; 2]> = (0..20_000)
        .map(|_| {
            let right = uniform_f64(&mut r2) < 0.8;
            draw(Some(right))
        })
        .collect();
    let lw: Vec<f64> = model
        .iter()
        .map(|a| if a[0] > 0.0 { 4f64.ln() } else { 0.0 })
        .collect();
    let reference = AngleStats::new(&target).unwrap();
    let weighted = aldp::WeightedHistograms::new(&model, &lw).unwrap();
    let plain = AngleStats::new(&model).unwrap();
    let kw = aldp::kl_divergences_weighted(&reference, &weighted)[0].unwrap();
    let ku = aldp::kl_divergences(&reference, &plain)[0].unwrap();
    assert!(kw > 0.002 && kw < 0.02, "weighted KL_phi {kw}");
    assert!(ku > 0.18 && ku < 0.22, "unweighted KL_phi {ku}");
}

#[test]
fn metrics_against_a_reference() {
    let aldp = Aldp::new();
    // x = 0 (X_ref, β) and x₁₇ = 1.5 (φ rotated by ≈ 2.8 rad from X_ref's −146°: into φ > 0)
    let mut rows = vec![0.0f32; 4 * DIM];
    rows[DIM + 17] = 1.5;
    rows[2 * DIM + 44] = -1.0; // ψ moved
    rows[3 * DIM] = f32::NAN;
    let ang = aldp::angles(&aldp, &rows);
    let basins: Vec<Option<Basin>> = ang.iter().map(|a| Basin::of(a[0], a[1])).collect();
    assert_eq!(basins[0], Some(Basin::BetaC7eq));
    assert_eq!(basins[1], Some(Basin::AlphaL), "{:?}", ang[1]);
    assert_eq!(basins[3], None);
    let stats = AngleStats::new(&ang).unwrap();
    let pop = stats.populations();
    assert_eq!(pop.n, 4);
    assert_eq!(pop.unclassified, 0.25);
    let sum = pop.beta_c7eq + pop.alpha_r + pop.alpha_l + pop.unclassified;
    assert!((sum - 1.0).abs() < 1e-15);
    assert_eq!(stats.phi.iter().sum::<u32>(), 3);
    assert_eq!(stats.rama.iter().sum::<u32>(), 3);

    // the model equal to the reference: every KL is 0
    let dir = tmp("aldp-metrics").display().to_string();
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("{dir}/ref.csv");
    let good = &rows[..3 * DIM];
    amortise::csv::write(&path, good, DIM).unwrap();
    let r = Reference::load(&aldp, &path, 2).unwrap();
    assert_eq!((r.rows, r.eubo_rows()), (3, 2));
    assert_eq!(&r.subsample[..DIM], &good[..DIM]);
    // row ⌊1·3/2⌋ = 1 moves x₁₇ without x₂₆, which fails the seeds' chirality test: the
    // target cuts it, so the next row stands in for it as a target sample
    assert_eq!(&r.subsample[DIM..], &good[2 * DIM..3 * DIM]);
    assert_eq!(r.cut_rows_replaced, 1);
    let ev = AldpEval {
        aldp,
        reference: Some(r),
    };
    let m = aldp::metrics(&ev, good).unwrap();
    assert_eq!(m.kl_phi, Some(0.0));
    assert_eq!(m.kl_psi, Some(0.0));
    assert_eq!(m.kl_ramachandran, Some(0.0));
    // a model stuck in the first row's cell: KL(ref ‖ model) counts the two missed cells
    let stuck: Vec<f32> = good[..DIM].repeat(3);
    let m = aldp::metrics(&ev, &stuck).unwrap();
    assert!(m.kl_phi.unwrap() > 1.0 && m.kl_ramachandran.unwrap() > 1.0);
    assert_eq!(m.populations.beta_c7eq, 1.0);
    assert_eq!(m.reference.as_ref().unwrap().populations.n, 3);

    // a file of the wrong width names the flag
    amortise::csv::write(&path, &rows[..8], 2).unwrap();
    let e = Reference::load(&ev.aldp, &path, 2).unwrap_err().to_string();
    assert!(e.contains("--aldp-reference") && e.contains("60"), "{e}");
}

#[test]
fn logp_on_aldp() {
    let zero = vec!["0"; DIM].join(",");
    let o = amortise(&["logp", "--target", "aldp", "--point", &zero, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let lp = v["log_density"].as_f64().unwrap();
    assert!((lp + 162.513345644).abs() < 1e-4, "{lp}");
    assert_eq!(v["dim"], 60);
    assert!(v["log_z"].is_null());
}

#[test]
fn train_writes_the_aldp_outputs() {
    let dir = tmp("aldp-train").display().to_string();
    std::fs::create_dir_all(&dir).unwrap();
    let reference = format!("{dir}/ref.csv");
    // a small reference: x = 0 and two perturbations of its circular dihedrals
    let mut rows = vec![0.0f32; 3 * DIM];
    rows[DIM + 44] = 0.3;
    rows[2 * DIM + 17] = -0.2;
    amortise::csv::write(&reference, &rows, DIM).unwrap();
    let out = format!("{dir}/run");
    let o = amortise(&[
        "train",
        "--target",
        "aldp",
        "--method",
        "tb",
        "--iters",
        "2",
        "--batch",
        "4",
        "--steps",
        "16",
        "--hidden",
        "8",
        "--eval-samples",
        "8",
        "--out",
        &out,
        "--aldp-reference",
        &reference,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/summary.json")).unwrap())
            .unwrap();
    let a = &s["aldp"];
    assert_eq!(a["populations"]["n"], 8);
    assert_eq!(a["reference"]["rows"], 3);
    assert!(a["kl_phi"].as_f64().is_some() && a["kl_ramachandran"].as_f64().is_some());
    assert!(s["eubo"].as_f64().is_some(), "EUBO from the reference rows");
    let pdb = std::fs::read_to_string(format!("{out}/samples.pdb")).unwrap();
    let models = pdb.lines().filter(|l| l.starts_with("MODEL ")).count();
    assert!((1..=PDB_MODELS.min(8)).contains(&models), "{models}");
    let svg = std::fs::read_to_string(format!("{out}/ramachandran.svg")).unwrap();
    assert!(svg.contains("reference") && svg.contains("αR"));

    // without a reference: populations only, EUBO omitted with its note
    let out2 = format!("{dir}/run2");
    let o = amortise(&[
        "train",
        "--target",
        "aldp",
        "--method",
        "tb",
        "--iters",
        "1",
        "--batch",
        "4",
        "--steps",
        "16",
        "--hidden",
        "8",
        "--eval-samples",
        "8",
        "--out",
        &out2,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out2}/summary.json")).unwrap())
            .unwrap();
    assert!(s["eubo"].is_null());
    assert!(s["aldp"]["kl_phi"].is_null());
    assert!(
        s["aldp"]["eubo_note"]
            .as_str()
            .unwrap()
            .contains("--aldp-reference")
    );

    // the flag on another target names itself
    let o = amortise(&[
        "train",
        "--target",
        "gmm40",
        "--method",
        "tb",
        "--iters",
        "1",
        "--out",
        &out2,
        "--aldp-reference",
        &reference,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--aldp-reference"));
}
