//! The sampler's coordinates of aldp: `train --aldp-scale md` samples `y = x / s`, and
//! `--aldp-seams md` moves the circular map's seams of φ, ψ and the two dihedrals moving with
//! φ to the MD reference's emptiest angles. Everything a run writes stays in the seeds'
//! coordinates `x` (docs/aldp.md, "A per-coordinate scale" and "Moving the seams").

use amortise_kernel::targets::Aldp;
use amortise_kernel::targets::aldp::{DIM, IND_CIRC};
use serde_json::Value;

mod common;
use common::{amortise, assert_fails, stderr, tmp};

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

/// Trains in `DIR/md` with `flag md`, checks the summary records it, and samples 12 rows
/// from that checkpoint and from a copy whose `key` says `plain` instead: the rows a run
/// writes and the rows of the sampler's own coordinates, from the same trajectories.
fn written_and_sampler_rows(
    name: &str,
    flag: &str,
    key: &str,
    plain: &str,
) -> (Vec<f32>, Vec<f32>) {
    let dir = tmp(name).display().to_string();
    std::fs::create_dir_all(&dir).unwrap();
    let reference = format!("{dir}/ref.csv");
    let mut r = vec![0.0f32; 2 * DIM];
    r[DIM + 44] = 0.3;
    amortise::csv::write(&reference, &r, DIM).unwrap();
    let md = format!("{dir}/md");
    let o = train(&md, &[flag, "md", "--aldp-reference", &reference]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{md}/summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["config"][key], "md");
    assert!(
        s["eubo"].as_f64().is_some_and(f64::is_finite),
        "EUBO from x rows"
    );
    let other = format!("{dir}/{plain}");
    std::fs::create_dir_all(&other).unwrap();
    let text = std::fs::read_to_string(format!("{md}/checkpoint.json")).unwrap();
    let edited = text.replace(
        &format!("\"{key}\":\"md\""),
        &format!("\"{key}\":\"{plain}\""),
    );
    assert_ne!(text, edited, "the checkpoint records {key}");
    std::fs::write(format!("{other}/checkpoint.json"), edited).unwrap();
    let mut out = [String::new(), String::new()];
    for (ck, o) in [&md, &other].into_iter().zip(&mut out) {
        *o = format!("{ck}.csv");
        let args = [
            "sample",
            "--checkpoint",
            ck,
            "--n",
            "12",
            "--seed",
            "5",
            "--out",
            o,
        ];
        let run = amortise(&args);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let (x, y) = (rows(&out[0]), rows(&out[1]));
    assert_eq!(x.len(), 12 * DIM);
    assert_ne!(x, y);
    (x, y)
}

#[test]
fn a_scaled_run_samples_in_y_and_writes_x() {
    let (x, y) = written_and_sampler_rows("aldp-scale", "--aldp-scale", "aldp_scale", "none");
    for (k, (a, b)) in x.iter().zip(&y).enumerate() {
        assert_eq!(a.to_bits(), (b * Aldp::MD_SCALE[k % DIM]).to_bits(), "{k}");
    }
}

#[test]
fn a_run_with_moved_seams_samples_in_u_and_writes_x() {
    let (x, u) = written_and_sampler_rows("aldp-seams", "--aldp-seams", "aldp_seams", "seeds");
    let mut mapped = u.clone();
    let moved = Aldp::new().with_seams(&Aldp::MD_SEAMS).unwrap();
    moved.to_seeds(&mut mapped);
    for (k, ((a, b), v)) in x.iter().zip(&mapped).zip(&u).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{k}");
        if ![17, 26, 29, 44].contains(&(k % DIM)) {
            assert_eq!(a.to_bits(), v.to_bits(), "{k}: only the moved seams change");
        }
    }
}

#[test]
fn the_coordinates_are_refused_where_they_mean_nothing() {
    let dir = tmp("aldp-coordinates-bad").display().to_string();
    let out = format!("{dir}/x");
    for flag in ["--aldp-scale", "--aldp-seams"] {
        assert_fails(&train(&out, &[flag, "wide"]), 2, flag);
        for extra in [
            ["--target", "gmm40", "--method", "tb"],
            ["--target", "aldp", "--method", "vgs"],
            ["--target", "grid", "--method", "tb"],
        ] {
            let mut args = vec!["train", flag, "md", "--iters", "1", "--out", &out];
            args.extend_from_slice(&extra);
            assert_fails(&amortise(&args), 2, flag);
        }
    }
}

/// The population standard deviation of column `k` of `rows` over σ = 0.5.
fn spread(rows: &[f32], k: usize) -> f64 {
    let col: Vec<f64> = rows.chunks_exact(DIM).map(|r| f64::from(r[k])).collect();
    let mean = col.iter().sum::<f64>() / col.len() as f64;
    let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
    var.sqrt() / 0.5
}

/// `scale` is the spread of `rows` to three decimals.
fn assert_spread(rows: &[f32], scale: &[f32; DIM]) {
    for (k, want) in scale.iter().enumerate() {
        let got = spread(rows, k);
        assert!(
            (got - f64::from(*want)).abs() <= 5e-4 + 1e-6,
            "{k}: {got} against {want}"
        );
    }
}

/// `Aldp::MD_SCALE` is what its documentation says: the population standard deviation of
/// each column of `results/aldp/reference-x-1675.csv.gz` (1675 rows) over σ = 0.5, to three
/// decimals.
#[test]
fn md_scale_is_the_reference_spread_over_the_preset_sigma() {
    let s = amortise::csv::read("results/aldp/reference-x-1675.csv.gz").unwrap();
    assert_eq!((s.dim, s.n()), (DIM, 1675));
    assert_spread(&s.data, &Aldp::MD_SCALE);
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
    let s = amortise::csv::read("results/aldp/reference-x.csv.gz").unwrap();
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
    assert_spread(&u, &Aldp::MD_SEAMS_SCALE);
}
