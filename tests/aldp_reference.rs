//! The committed ALDP reference samples (`results/aldp/`, written by
//! `python3 scripts/aldp/reference_md.py`) against the kernel:
//!
//! - the script's numpy `x_from_positions` (the 60-d sampler space) agrees with
//!   [`Aldp::x_from_positions`] on every stored Cartesian frame to 1e-6 (the `x` file is written
//!   with 9 significant digits, so the bound is the rounding, not the transform);
//! - the stored potential energy (OpenMM's CPU platform, mixed precision, at the unrounded
//!   positions) agrees with the kernel's Cartesian energy of the stored frame (rounded to
//!   10⁻⁶ nm) to 0.05 kJ/mol: the samples come from the target's own force field;
//! - the stored importance log-weight (target density over sampled density, see
//!   `docs/aldp.md`) is `−U (1/kT_target − 1/kT_md) − 2 ln b₁ − ln b₂ − ln sin a` of the row to
//!   1e-6;
//! - no sample reaches the energy cut: every `E(x)` is below 10³ kT, except the samples that
//!   trip the seeds' chirality test on the raw `x` (`x₁₇ − x₂₆` far from its mean). Those are
//!   L-alanine all the same (the signed volume at Cα has the sign of every other sample's and
//!   of the reference structure's): the test's false positives, counted as `reference.json`'s
//!   `chirality_penalised_samples`, which the target penalises by `2·cut`;
//! - the playground's reference asset (`www/aldp-reference.json`) is what
//!   `cargo run --example aldp_page_asset` writes now, its φ/ψ (the kernel's, through `x`)
//!   agree with the script's mdtraj-convention angles of the Cartesian rows, and its basin
//!   populations with `reference.json`'s.

use amortise::aldp::{PAGE_ASSET, PAGE_ASSET_DECIMALS, PageAsset, Reference};
use amortise_kernel::targets::aldp::{self, Aldp, Positions};
use std::io::Read as _;

fn read_gz_csv(path: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let f = std::fs::File::open(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{full}: {e}"));
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("a header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(|v| v.parse().expect("a number")).collect())
        .collect();
    (header, rows)
}

/// OpenMM's thermostat `kT` at 300 K (its `R = 8.31446261815324e-3`; the target's is 8.314e-3).
const KT_MD: f64 = 0.008_314_462_618_153_24 * 300.0;

/// `log w = −U (1/kT_target − 1/kT_md) − 2 ln b₁ − ln b₂ − ln sin a` with `b₁ = |X₆ − X₈|`,
/// `b₂ = |X₁₄ − X₈|`, `a = ∠(6, 8, 14)`: the full gauge Jacobian `b₁² b₂² sin a` of the MD
/// density against the target's `b₂`, and the two gas constants.
fn log_weight(p: &Positions, u: f64) -> f64 {
    let d = |i: usize| -> [f64; 3] { core::array::from_fn(|k| p[i][k] - p[8][k]) };
    let (v1, v2) = (d(6), d(14));
    let dot = |a: &[f64; 3], b: &[f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let (b1, b2) = (dot(&v1, &v1).sqrt(), dot(&v2, &v2).sqrt());
    let sin_a = (1.0 - (dot(&v1, &v2) / (b1 * b2)).powi(2)).sqrt();
    -u * (1.0 / Aldp::KT - 1.0 / KT_MD) - 2.0 * b1.ln() - b2.ln() - sin_a.ln()
}

#[test]
fn reference_samples_match_the_kernel_transform_and_energy() {
    let (ch, cart) = read_gz_csv("results/aldp/reference-cart.csv.gz");
    let (xh, xs) = read_gz_csv("results/aldp/reference-x.csv.gz");
    assert_eq!(
        ch[..6],
        ["t_ps", "replica", "energy_kj", "phi", "psi", "log_w"]
    );
    assert_eq!(ch.len(), 6 + 66);
    assert_eq!(xh.len(), 60);
    assert_eq!(xh[0], "x1");
    assert_eq!(cart.len(), xs.len());
    assert!(cart.len() >= 100, "only {} samples", cart.len());
    let target = Aldp::new();
    let (mut dx, mut du, mut dw, mut emax) = (0.0_f64, 0.0_f64, 0.0_f64, f64::NEG_INFINITY);
    let mut flagged = Vec::new();
    assert!(
        ca_volume(&aldp::params::X_REF) > 0.0,
        "the sign of the reference structure"
    );
    for (row, x) in cart.iter().zip(&xs) {
        assert_eq!(row.len(), 72);
        assert_eq!(x.len(), 60);
        let mut p: Positions = [[0.0; 3]; 22];
        for (a, o) in p.iter_mut().enumerate() {
            o.copy_from_slice(&row[6 + 3 * a..9 + 3 * a]);
        }
        dw = dw.max((log_weight(&p, row[2]) - row[5]).abs());
        let k = target.x_from_positions(&p);
        for (a, b) in k.iter().zip(x) {
            dx = dx.max((a - b).abs());
        }
        du = du.max((aldp::energy(&p).total() - row[2]).abs());
        let e = target.energy(&k);
        if chirality_test_fails(&k) {
            assert!(
                e >= 2.0 * Aldp::ENERGY_CUT,
                "a flagged sample is penalised: {e}"
            );
            assert!(
                ca_volume(&p) > 0.0,
                "a flagged sample is L-alanine all the same"
            );
            flagged.push(row[0]);
        } else {
            assert!(ca_volume(&p) > 0.0, "every sample is L-alanine");
            emax = emax.max(e);
        }
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/results/aldp/reference.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        Some(flagged.len() as u64),
        json["chirality_penalised_samples"].as_u64()
    );
    println!("chirality test's false positives (t_ps): {flagged:?}");
    println!(
        "{} samples: max |Δx| {dx:.1e}, max |ΔU| {du:.1e} kJ/mol, max |Δlog w| {dw:.1e}, \
         max E(x) {emax:.1} kT",
        cart.len()
    );
    assert!(dw <= 1e-6, "max |Δlog w| = {dw}");
    assert!(dx <= 1e-6, "max |Δx| = {dx}");
    assert!(du <= 0.05, "max |ΔU| = {du} kJ/mol");
    assert!(emax < 1e3, "max E(x) = {emax}");
}

/// The seeds' L-form test on the raw `x` fails: `x₁₇ − x₂₆`, moved by ±2π to its smallest
/// magnitude, is 0.8 or more from its mean (the kernel's `penalty`, restated).
fn chirality_test_fails(x: &[f64; 60]) -> bool {
    let [a, b] = Aldp::CHIRALITY_IND;
    let d = x[a] - x[b];
    let tau = 2.0 * core::f64::consts::PI;
    let best = [d, d + tau, d - tau]
        .into_iter()
        .fold(d, |m, c| if c.abs() < m.abs() { c } else { m });
    (best - Aldp::CHIRALITY_MEAN_DIFF).abs() >= Aldp::CHIRALITY_THRESHOLD
}

/// The signed volume `(N − Cα) · ((C − Cα) × (Cβ − Cα))` at Cα (atoms 6, 14, 10 around 8):
/// positive for L-alanine in this topology (the reference structure's sign).
fn ca_volume(p: &Positions) -> f64 {
    let d = |i: usize| -> [f64; 3] { core::array::from_fn(|k| p[i][k] - p[8][k]) };
    let (n, c, b) = (d(6), d(14), d(10));
    let cross = [
        c[1] * b[2] - c[2] * b[1],
        c[2] * b[0] - c[0] * b[2],
        c[0] * b[1] - c[1] * b[0],
    ];
    n[0] * cross[0] + n[1] * cross[1] + n[2] * cross[2]
}

/// `|a − b|` of two angles, across the ±π seam.
fn angle_gap(a: f64, b: f64) -> f64 {
    let d = (a - b).abs() % (2.0 * core::f64::consts::PI);
    d.min(2.0 * core::f64::consts::PI - d)
}

#[test]
fn the_playground_asset_is_fresh_and_agrees_with_the_md_angles_and_populations() {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = "results/aldp/reference-x.csv.gz";
    let r = Reference::load(&Aldp::new(), &format!("{root}/{source}"), 0).unwrap();
    let asset = PageAsset::new(&r, source);
    let committed = std::fs::read_to_string(format!("{root}/{PAGE_ASSET}")).unwrap();
    assert!(
        committed == asset.json().unwrap(),
        "{PAGE_ASSET} is stale: run `cargo run --example aldp_page_asset`"
    );
    // the angles against the script's columns (mdtraj's convention, from the positions)
    let (ch, cart) = read_gz_csv("results/aldp/reference-cart.csv.gz");
    assert_eq!(ch[3..5], ["phi", "psi"]);
    assert_eq!((asset.rows, asset.phi.len()), (cart.len(), cart.len()));
    let mut worst = 0.0_f64;
    for (k, row) in cart.iter().enumerate() {
        worst = worst.max(angle_gap(asset.phi[k], row[3]));
        worst = worst.max(angle_gap(asset.psi[k], row[4]));
    }
    println!("page asset: max |Δφ|, |Δψ| against the Cartesian rows {worst:.1e} rad");
    // rounding to 10⁻⁴ rad, plus the 9 significant digits of the x file
    assert!(
        worst <= 0.5 * 10f64.powi(-PAGE_ASSET_DECIMALS) + 1e-6,
        "{worst}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/results/aldp/reference.json")).unwrap(),
    )
    .unwrap();
    let p = &json["populations"];
    let pop = |k: &str| p[k]["population"].as_f64().unwrap();
    let a = asset.populations;
    assert_eq!(a.n as usize, cart.len());
    for (ours, theirs) in [
        (a.beta_c7eq, pop("beta_C7eq")),
        (a.alpha_r, pop("alpha_R")),
        (a.alpha_l, pop("alpha_L")),
    ] {
        assert!((ours - theirs).abs() < 1e-12, "{ours} vs {theirs}");
    }
    assert_eq!(a.unclassified, 0.0);
}

/// The target samples of EUBO, MMD and Sinkhorn skip rows the target cuts: the reference's
/// one chirality-test false positive falls on an evenly spaced row at n = 2000 and is
/// replaced by the next row; a file of only cut rows is a flag error. The angles and
/// populations keep every row.
#[test]
fn reference_target_samples_skip_rows_the_target_cuts() {
    let root = env!("CARGO_MANIFEST_DIR");
    let target = Aldp::new();
    let full = format!("{root}/results/aldp/reference-x.csv.gz");
    let r = Reference::load(&target, &full, 2000).unwrap();
    assert_eq!((r.eubo_rows(), r.cut_rows_replaced), (2000, 1));
    assert_eq!(r.angles.len(), r.rows);
    for x in r.subsample.chunks_exact(60) {
        let x: [f64; 60] = core::array::from_fn(|k| f64::from(x[k]));
        assert!(target.energy(&x) < Aldp::ENERGY_CUT);
    }
    // x = 0 (the reference structure) and a point that fails the chirality test
    let dir = std::env::temp_dir().join(format!("amortise-cut-rows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let row = |x17: f32, x26: f32| {
        let mut v = vec!["0".to_string(); 60];
        (v[17], v[26]) = (x17.to_string(), x26.to_string());
        v.join(",")
    };
    let mixed = dir.join("mixed.csv");
    std::fs::write(&mixed, format!("{}\n{}\n", row(1.0, -1.0), row(0.0, 0.0))).unwrap();
    let r = Reference::load(&target, mixed.to_str().unwrap(), 1).unwrap();
    assert_eq!((r.eubo_rows(), r.cut_rows_replaced), (1, 1));
    assert!(r.subsample.iter().all(|&v| v == 0.0), "the uncut row");
    let cut = dir.join("cut.csv");
    std::fs::write(&cut, format!("{}\n", row(1.0, -1.0))).unwrap();
    let e = Reference::load(&target, cut.to_str().unwrap(), 5).unwrap_err();
    assert!(e.to_string().contains("cuts every row"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
