//! `train --aldp-scale md`: the sampler works in `y = x / Aldp::MD_SCALE`, and everything a
//! run writes stays in the seeds' coordinates `x` (docs/aldp.md, "A per-coordinate scale").

use amortise_kernel::targets::Aldp;
use amortise_kernel::targets::aldp::DIM;
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

#[test]
fn a_scaled_run_samples_in_y_and_writes_x() {
    let dir = tmp("aldp-scale").display().to_string();
    std::fs::create_dir_all(&dir).unwrap();
    let reference = format!("{dir}/ref.csv");
    let mut r = vec![0.0f32; 2 * DIM];
    r[DIM + 44] = 0.3;
    amortise::csv::write(&reference, &r, DIM).unwrap();
    let md = format!("{dir}/md");
    let o = train(&md, &["--aldp-scale", "md", "--aldp-reference", &reference]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{md}/summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["config"]["aldp_scale"], "md");
    assert!(
        s["eubo"].as_f64().is_some_and(f64::is_finite),
        "EUBO from x rows"
    );

    // the same checkpoint told it has no scale samples the same trajectories in y
    let none = format!("{dir}/none");
    std::fs::create_dir_all(&none).unwrap();
    let text = std::fs::read_to_string(format!("{md}/checkpoint.json")).unwrap();
    let edited = text.replace("\"aldp_scale\":\"md\"", "\"aldp_scale\":\"none\"");
    assert_ne!(text, edited, "the checkpoint records the scale");
    std::fs::write(format!("{none}/checkpoint.json"), edited).unwrap();
    for (ck, out) in [(&md, "x.csv"), (&none, "y.csv")] {
        let out = format!("{dir}/{out}");
        let o = amortise(&[
            "sample",
            "--checkpoint",
            ck,
            "--n",
            "12",
            "--seed",
            "5",
            "--out",
            &out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (x, y) = (rows(&format!("{dir}/x.csv")), rows(&format!("{dir}/y.csv")));
    assert_eq!(x.len(), 12 * DIM);
    assert_ne!(x, y);
    for (k, (a, b)) in x.iter().zip(&y).enumerate() {
        assert_eq!(a.to_bits(), (b * Aldp::MD_SCALE[k % DIM]).to_bits(), "{k}");
    }
}

#[test]
fn the_scale_is_refused_where_it_means_nothing() {
    let dir = tmp("aldp-scale-bad").display().to_string();
    let out = format!("{dir}/x");
    assert_fails(&train(&out, &["--aldp-scale", "wide"]), 2, "--aldp-scale");
    for extra in [
        ["--target", "gmm40", "--method", "tb"],
        ["--target", "aldp", "--method", "vgs"],
        ["--target", "grid", "--method", "tb"],
    ] {
        let mut args = vec!["train", "--aldp-scale", "md", "--iters", "1", "--out", &out];
        args.extend_from_slice(&extra);
        assert_fails(&amortise(&args), 2, "--aldp-scale");
    }
}

/// `Aldp::MD_SCALE` is what its documentation says: the population standard deviation of
/// each column of `results/aldp/reference-x-1675.csv.gz` (1675 rows) over σ = 0.5, to three
/// decimals.
#[test]
fn md_scale_is_the_reference_spread_over_the_preset_sigma() {
    let s = amortise::commands::vgs::read_samples("results/aldp/reference-x-1675.csv.gz").unwrap();
    assert_eq!((s.dim, s.n()), (DIM, 1675));
    for (k, want) in Aldp::MD_SCALE.iter().enumerate() {
        let col: Vec<f64> = s.data.chunks_exact(DIM).map(|r| f64::from(r[k])).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
        let got = var.sqrt() / 0.5;
        assert!(
            (got - f64::from(*want)).abs() <= 5e-4 + 1e-6,
            "{k}: {got} against {want}"
        );
    }
}
