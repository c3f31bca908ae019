//! `--net jax` (the RSMC JAX network) and `--eval-reference paper` (the seeds' own
//! ground-truth set) through the CLI.

mod common;

use common::{
    SMALL_RSMC, amortise, assert_chunked_and_resumed_alike, assert_fails, checksum, json_in,
    metric_json, run_in,
};

/// The JAX form changes the run, gives the same bits on 1 and 2 threads and after a resume,
/// and is stored in the run's settings (the PIS form is left out of them, so the settings of
/// earlier runs read back unchanged).
#[test]
fn the_jax_form_is_a_run_of_its_own_and_resumes() {
    assert_chunked_and_resumed_alike(SMALL_RSMC, "--net jax", "nj");
    let cfg = &json_in(&common::tmp("nj-t1"), "summary.json")["config"];
    assert_eq!(cfg["net"], "jax");
    let plain = &json_in(&common::tmp("nj-plain"), "summary.json")["config"];
    assert!(plain.get("net").is_none(), "{plain}");
}

#[test]
fn bad_forms_and_references_name_their_flag() {
    let dir = common::tmp("nj-bad");
    let run = |more: &str| {
        let cmd = format!("{SMALL_RSMC} {more} --out {}", dir.display());
        amortise(&cmd.split_whitespace().collect::<Vec<_>>())
    };
    assert_fails(&run("--net tanh"), 2, "--net");
    assert_fails(&run("--eval-reference paper"), 2, "--eval-reference");
    assert_fails(&run("--eval-reference truth"), 2, "--eval-reference");
    let smc = format!(
        "train --target 9gmm --method smc --particles 64 --net jax --out {}",
        dir.display()
    );
    assert_fails(
        &amortise(&smc.split_whitespace().collect::<Vec<_>>()),
        2,
        "--net",
    );
    let few = format!(
        "train --target gmm40-jax --dim 2 --method tb --iters 2 --eval-samples 100 \
         --eval-reference paper --out {}",
        dir.display()
    );
    assert_fails(
        &amortise(&few.split_whitespace().collect::<Vec<_>>()),
        2,
        "--eval-samples",
    );
}

/// With the paper's reference a run trains the same bits, and its final paper Sinkhorn is
/// the one `metric sinkhorn --convention paper` gives between its samples and the committed
/// set. The reference is taken up on resume: a run started against our exact set and resumed
/// with `--eval-reference paper` ends with the bits of one that never stopped, its later
/// evaluation lines name the new reference, and its settings record it.
#[test]
fn the_paper_reference_changes_the_evaluation_only() {
    let base = "train --target gmm40-jax --dim 2 --method tb-buffer --iters 4 --batch 32 \
                --steps 16 --hidden 16 --harmonics 8 --eval-samples 2000 --prefill 1 \
                --buffer 500 --seed 5 --eval-every 2";
    // side by side: each spends most of its time in the final converged Sinkhorn
    let other = std::thread::spawn(move || run_in(base, "", "er-exact"));
    // stopped after the evaluation at 2 (the one it makes at 3 is dropped on resume)
    let paper = run_in(base, "--stop-at 3", "er-paper");
    let dir = paper.to_str().unwrap();
    let o = amortise(&["train", "--resume", dir, "--eval-reference", "paper"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let ours = other.join().unwrap();
    assert_eq!(checksum(&ours), checksum(&paper));
    let s = json_in(&paper, "summary.json");
    assert_eq!(s["config"]["eval_reference"], "paper");
    // last5 counts only the evaluations against the run's current reference
    assert_eq!(s["last5"]["evaluations"], 1);
    assert_eq!(s["last5"]["from_iteration"], 4);
    assert!(
        json_in(&ours, "summary.json")["config"]
            .get("eval_reference")
            .is_none()
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(paper.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let named: Vec<_> = lines
        .iter()
        .map(|l| (l["iteration"].as_u64(), l.get("eval_reference").cloned()))
        .collect();
    assert_eq!(
        named,
        [(Some(2), None), (Some(4), Some(serde_json::json!("paper")))]
    );
    let truth =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/gmm40-jax-paper-gt-d2.csv");
    let m = metric_json(
        "sinkhorn",
        &paper.join("samples.csv"),
        &truth,
        &["--convention", "paper"],
    );
    let (got, want) = (
        s["sinkhorn_paper"].as_f64().unwrap(),
        m["value"].as_f64().unwrap(),
    );
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} vs {want}");
    assert_ne!(
        json_in(&ours, "summary.json")["sinkhorn_paper"],
        s["sinkhorn_paper"]
    );
    // only continuous runs have a reference; a bad one is refused before anything runs
    let o = amortise(&[
        "train",
        "--resume",
        dir,
        "--iters",
        "6",
        "--eval-reference",
        "truth",
    ]);
    assert_fails(&o, 2, "--eval-reference");
}
