//! `train --aldp-seams md`: the circular map's seams of φ, ψ and the two dihedrals moving with
//! φ sit at the MD reference's emptiest angles, and everything a run writes stays in the seeds'
//! coordinates `x` (docs/aldp.md, "Moving the seams").

use amortise_kernel::targets::Aldp;
use amortise_kernel::targets::aldp::{DIM, IND_CIRC};
use serde_json::Value;

mod common;
use common::{amortise, assert_fails, stderr, tmp};

const REFERENCE: &str = "results/aldp/reference-x.csv.gz";

fn rows(path: &str) -> Vec<f32> {
    amortise::csv::read(path).expect("a sample file").data
}

fn train(out: &str, extra: &[&str]) -> std::process::Output {
    let small = "train --target aldp --method tb-buffer --iters 3 --batch 8 --steps 16 \
                 --hidden 8 --harmonics 4 --eval-samples 16 --seed 3";
    let mut args: Vec<&str> = small.split_whitespace().collect();
    args.extend_from_slice(&["--out", out]);
    args.extend_from_slice(extra);
    amortise(&args)
}

fn sample(checkpoint: &str, out: &str) {
    let o = amortise(&[
        "sample",
        "--checkpoint",
        checkpoint,
        "--n",
        "12",
        "--seed",
        "5",
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_run_with_moved_seams_samples_in_u_and_writes_x() {
    let dir = tmp("aldp-seams").display().to_string();
    let md = format!("{dir}/md");
    let o = train(&md, &["--aldp-seams", "md"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{md}/summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["config"]["aldp_seams"], "md");

    // the same checkpoint told to keep the seeds' seams samples the same trajectories in u
    let seeds = format!("{dir}/seeds");
    std::fs::create_dir_all(&seeds).unwrap();
    let text = std::fs::read_to_string(format!("{md}/checkpoint.json")).unwrap();
    let edited = text.replace("\"aldp_seams\":\"md\"", "\"aldp_seams\":\"seeds\"");
    assert_ne!(text, edited, "the checkpoint records the seams");
    std::fs::write(format!("{seeds}/checkpoint.json"), edited).unwrap();
    let (xf, uf) = (format!("{dir}/x.csv"), format!("{dir}/u.csv"));
    sample(&md, &xf);
    sample(&seeds, &uf);
    let (x, mut u) = (rows(&xf), rows(&uf));
    assert_eq!(x.len(), 12 * DIM);
    let moved = Aldp::new().with_seams(&Aldp::MD_SEAMS).unwrap();
    let same = u.clone();
    moved.to_seeds(&mut u);
    for (k, ((a, b), v)) in x.iter().zip(&u).zip(&same).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{k}");
        if ![17, 26, 29, 44].contains(&(k % DIM)) {
            assert_eq!(a.to_bits(), v.to_bits(), "{k}: only the moved seams change");
        }
    }
    assert_ne!(x, same);
}

#[test]
fn the_seams_are_refused_where_they_mean_nothing() {
    let dir = tmp("aldp-seams-bad").display().to_string();
    let out = format!("{dir}/x");
    assert_fails(&train(&out, &["--aldp-seams", "wide"]), 2, "--aldp-seams");
    for extra in [
        ["--target", "gmm40", "--method", "tb"],
        ["--target", "aldp", "--method", "vgs"],
        ["--target", "grid", "--method", "tb"],
    ] {
        let mut args = vec!["train", "--aldp-seams", "md", "--iters", "1", "--out", &out];
        args.extend_from_slice(&extra);
        assert_fails(&amortise(&args), 2, "--aldp-seams");
    }
}

/// The angle offsets (degrees, from the reference structure's angle) of one circular
/// coordinate of every reference row: `(π + 10⁻⁴)·tanh x`.
fn offsets(data: &[f32], k: usize) -> Vec<f64> {
    let p = std::f64::consts::PI + 1e-4;
    data.chunks_exact(DIM)
        .map(|r| (p * f64::from(r[k]).tanh()).to_degrees())
        .collect()
}

/// The rule of `Aldp::MD_SEAMS` for one coordinate's offsets.
fn seam(a: &[f64]) -> f64 {
    let count = |theta: f64| {
        a.iter()
            .filter(|&&v| ((v - theta + 180.0).rem_euclid(360.0) - 180.0).abs() <= 15.0)
            .count()
    };
    let n: Vec<usize> = (0..360).map(|g| count(f64::from(g) - 180.0)).collect();
    let lo = *n.iter().min().unwrap();
    if lo * 10 >= n[0] {
        return 180.0;
    }
    let ok = |g: usize| n[g % 360] == lo;
    let (mut best_len, mut best_start) = (0, 0);
    for start in (0..360).filter(|&g| ok(g) && !ok(g + 359)) {
        let len = (0..360).take_while(|&l| ok(start + l)).count();
        if len > best_len {
            (best_len, best_start) = (len, start);
        }
    }
    ((best_start + (best_len - 1) / 2) % 360) as f64 - 180.0
}

/// `Aldp::MD_SEAMS` and `Aldp::MD_SEAMS_SCALE` are what their documentation says, recomputed
/// from the reference's 12,975 rows.
#[test]
fn md_seams_and_their_scale_are_the_references() {
    let s = amortise::commands::vgs::read_samples(REFERENCE).unwrap();
    assert_eq!((s.dim, s.n()), (DIM, 12_975));
    for (i, &c) in IND_CIRC.iter().enumerate() {
        let got = seam(&offsets(&s.data, usize::from(c)));
        assert_eq!(got, Aldp::MD_SEAMS[i], "x{c}");
    }
    let mut u = s.data.clone();
    Aldp::new()
        .with_seams(&Aldp::MD_SEAMS)
        .unwrap()
        .to_sampler(&mut u);
    for (k, want) in Aldp::MD_SEAMS_SCALE.iter().enumerate() {
        let col: Vec<f64> = u.chunks_exact(DIM).map(|r| f64::from(r[k])).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
        let got = var.sqrt() / 0.5;
        assert!(
            (got - f64::from(*want)).abs() <= 5e-4 + 1e-6,
            "{k}: {got} against {want}"
        );
    }
}
