//! `amortise mcmc`: the files and diagnostics it writes, that its output does not depend on
//! `--threads`, that chains started at the ALDP reference samples stay in equilibrium, and
//! clean errors for bad flags and start files.

mod common;
use common::{amortise, assert_fails, stderr, tmp};

/// Runs `amortise mcmc` with `args`, asserted to succeed; the printed JSON.
fn mcmc(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["mcmc"];
    all.extend_from_slice(args);
    let o = amortise(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn chains_write_their_kept_states_and_the_same_file_on_any_thread_count() {
    let (a, b) = (tmp("mcmc-1.csv"), tmp("mcmc-2.csv"));
    let base = [
        "--target",
        "gmm40",
        "--init-scale",
        "5",
        "--chains",
        "30",
        "--steps",
        "300",
        "--step-size",
        "0.5",
        "--per-chain",
        "4",
        "--trace",
        "5",
    ];
    for (path, threads, mv) in [(&a, "1", "hmc"), (&b, "2", "hmc")] {
        let mut args = base.to_vec();
        args.extend(["--threads", threads, "--move", mv, "--out"]);
        args.push(path.to_str().unwrap());
        let v = mcmc(&args);
        assert_eq!(v["samples"], 120);
        assert_eq!(
            v["trace"].as_array().unwrap().len(),
            6,
            "the starts and 5 points"
        );
        let acc = v["acceptance"].as_f64().unwrap();
        assert!(acc > 0.2 && acc < 1.0, "acceptance {acc}");
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        text.lines().count(),
        121,
        "header + chains × per-chain rows"
    );
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
}

/// The reference samples are a Boltzmann sample of the target, so MALA chains started at
/// them stay in equilibrium: the mean energy does not drift and the step size adapts to
/// a working acceptance. (A target that disagrees with the MD ensemble, say a wrong
/// Jacobian term, makes the energy drift; the long version is in `docs/aldp.md`.)
#[test]
fn aldp_chains_started_at_the_reference_stay_in_equilibrium() {
    let out = tmp("mcmc-aldp.csv.gz");
    let refx = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/results/aldp/reference-x.csv.gz"
    );
    let v = mcmc(&[
        "--target",
        "aldp",
        "--init",
        refx,
        "--chains",
        "40",
        "--steps",
        "400",
        "--step-size",
        "3e-4",
        "--trace",
        "2",
        "--threads",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let acc = v["acceptance"].as_f64().unwrap();
    assert!(acc > 0.4 && acc < 0.8, "acceptance {acc}");
    let trace = v["trace"].as_array().unwrap();
    let e0 = trace[0]["mean_energy"].as_f64().unwrap();
    let e1 = trace[2]["mean_energy"].as_f64().unwrap();
    // the energy of one sample has sd ≈ 5.5 kT (60 dimensions), a mean of 40 about 0.9
    assert!((e1 - e0).abs() < 4.0, "mean energy {e0} → {e1}");
    let p = &trace[2]["populations"];
    assert!(p["beta_c7eq"].as_f64().unwrap() > 0.6, "{p}");
    assert_eq!(p["unclassified"], 0.0);
}

#[test]
fn bad_flags_and_start_files_are_clean_errors() {
    let out = tmp("mcmc-never.csv");
    let o = out.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["mcmc", "--target", "gaussian", "--out", o];
        args.extend_from_slice(extra);
        amortise(&args)
    };
    assert_fails(&run(&["--chains", "0"]), 2, "--chains");
    assert_fails(&run(&["--chains", "10000000000000"]), 2, "--chains");
    assert_fails(&run(&["--steps", "10", "--burn-in", "10"]), 2, "--burn-in");
    assert_fails(&run(&["--step-size", "nan"]), 2, "--step-size");
    assert_fails(&run(&["--per-chain", "100000"]), 2, "--per-chain");
    assert_fails(&run(&["--move", "rwm"]), 2, "--move");
    assert_fails(&run(&["--threads", "0"]), 2, "--threads");
    let wide = tmp("mcmc-wide.csv");
    std::fs::write(&wide, "x1,x2,x3\n0,0,0\n").unwrap();
    let w = wide.to_str().unwrap();
    assert_fails(&run(&["--init", w]), 1, "3 columns");
    assert_fails(&run(&["--init", w, "--init-scale", "1"]), 2, "--init-scale");
    let nan = tmp("mcmc-nan.csv");
    std::fs::write(&nan, "x1,x2\n0,0\nnan,1\n").unwrap();
    let n = nan.to_str().unwrap();
    assert_fails(&run(&["--init", n, "--chains", "2"]), 1, "not finite");
    let far = tmp("mcmc-far.csv");
    std::fs::write(&far, "x1,x2\n0,0\n1e30,1\n").unwrap();
    let f = far.to_str().unwrap();
    assert_fails(&run(&["--init", f, "--chains", "2"]), 2, "--init: chain 1");
    assert!(!out.exists());
    let o3 = amortise(&["mcmc", "--target", "nope", "--out", o]);
    assert_fails(&o3, 2, "--target");
}
