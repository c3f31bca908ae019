//! `amortise sample --smc` (`src/commands/sample_smc.rs`): twisted SMC draws from a trained
//! diffusion checkpoint. The known answer: on `corr-gaussian` (stds 1 and 2, correlation
//! 0.9) a barely trained policy is far from the target, and its SMC draws have the target's
//! moments anyway, for rsmc (learnt flows as twists) and tb (the annealing path). Plus
//! reproducibility and the flag errors.

mod common;

use std::path::{Path, PathBuf};

use common::{amortise, assert_fails, stderr, tmp};

/// Trains `method` on corr-gaussian for 2 iterations into the fresh folder `name`.
fn barely_trained(method: &str, name: &str) -> PathBuf {
    let dir = tmp(name);
    let cmd = format!(
        "train --target corr-gaussian --method {method} --iters 2 --batch 32 --steps 16 \
         --hidden 16 --flow-hidden 16 --harmonics 8 --eval-samples 100 --seed 1 --out {}",
        dir.display()
    );
    let cmd = if method == "rsmc" {
        format!("{cmd} --particles 32 --prefill 1 --buffer 500")
    } else {
        cmd
    };
    let o = amortise(&cmd.split_whitespace().collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

/// `amortise sample --checkpoint DIR --n N --seed 7 --out FILE EXTRA…`; returns the file.
fn sample(dir: &Path, n: &str, extra: &[&str], name: &str) -> PathBuf {
    let out = tmp(name);
    let mut args = vec![
        "sample",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--n",
        n,
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = amortise(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

/// Means, standard deviations and correlation of a 2-column sample file.
fn moments(path: &Path) -> ([f64; 2], [f64; 2], f64) {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<[f64; 2]> = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut it = l.split(',').map(|v| v.parse::<f64>().unwrap());
            [it.next().unwrap(), it.next().unwrap()]
        })
        .collect();
    let n = rows.len() as f64;
    let m = [0, 1].map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / n);
    let c = |a: usize, b: usize| {
        rows.iter()
            .map(|r| (r[a] - m[a]) * (r[b] - m[b]))
            .sum::<f64>()
            / n
    };
    let s = [c(0, 0).sqrt(), c(1, 1).sqrt()];
    (m, s, c(0, 1) / (s[0] * s[1]))
}

#[test]
fn smc_draws_have_the_targets_moments_where_the_policy_does_not() {
    for method in ["rsmc", "tb"] {
        let dir = barely_trained(method, &format!("smc-moments-{method}"));
        let (pm, ps, pr) = moments(&sample(&dir, "20000", &[], &format!("{method}-pol.csv")));
        let smc = ["--smc", "--particles", "5000"];
        let (m, s, r) = moments(&sample(&dir, "20000", &smc, &format!("{method}-smc.csv")));
        eprintln!("{method}: policy {pm:?} {ps:?} {pr}; smc {m:?} {s:?} {r}");
        // the policy alone: nearly uncorrelated (the target's correlation is 0.9)
        assert!(
            pr < 0.5,
            "{method}: policy corr {pr}, stds {ps:?}, means {pm:?}"
        );
        assert!(m.iter().all(|v| v.abs() < 0.1), "{method}: means {m:?}");
        assert!(
            (s[0] - 1.0).abs() < 0.05 && ps[0] > 1.5,
            "{method}: std {s:?}"
        );
        assert!((s[1] - 2.0).abs() < 0.2, "{method}: std {s:?}");
        assert!((r - 0.9).abs() < 0.02, "{method}: corr {r}");
    }
}

#[test]
fn smc_sampling_is_reproducible_and_checks_its_flags() {
    let dir = barely_trained("rsmc", "smc-repro");
    let a = sample(&dir, "300", &["--smc", "--particles", "128"], "smc-a.csv");
    let b = sample(&dir, "300", &["--smc", "--particles", "128"], "smc-b.csv");
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    // 300 rows from passes of 128, 128 and 44
    assert_eq!(text.lines().count(), 301);
    let c = sample(&dir, "300", &["--smc", "--particles", "300"], "smc-c.csv");
    assert_ne!(text, std::fs::read_to_string(&c).unwrap());
    let out = tmp("smc-never.csv");
    let run = |extra: &[&str]| {
        let mut args = vec!["sample", "--checkpoint", dir.to_str().unwrap(), "--n", "10"];
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        amortise(&args)
    };
    assert_fails(&run(&["--particles", "5"]), 2, "--particles");
    assert_fails(&run(&["--smc", "--particles", "0"]), 2, "--particles");
    let grid = tmp("smc-grid");
    let o = amortise(&[
        "train",
        "--target",
        "grid",
        "--method",
        "tb",
        "--iters",
        "2",
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = amortise(&[
        "sample",
        "--checkpoint",
        grid.to_str().unwrap(),
        "--n",
        "5",
        "--smc",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, 2, "diffusion checkpoint");
    assert!(!out.exists());
}
