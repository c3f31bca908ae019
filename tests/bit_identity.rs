//! Bit identity of every training method: short runs of each method (continuous tb,
//! tb-buffer, rsmc, smc, teacher, vgs; discrete tb, db, subtb, rsmc, teacher; ebm) must
//! produce exactly the outputs recorded in `tests/fixtures/checksums.tsv`.
//!
//! A refactor changes no bits: the fixture was recorded before the one-shape redesign and
//! any change to it must be a commit of its own that says why. To re-record deliberately:
//! `AMORTISE_BLESS=1 cargo test --test bit_identity`.
//!
//! What is hashed (FNV-1a, 64 bit): `samples.csv` of every run that writes one, and for the
//! EBM (which writes no samples) the numbers of its `metrics.jsonl` apart from the wall time.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// (name, arguments without `--out`). Short runs with small evaluations, each under a second
/// or two in the test profile; between them they take every trainer path that the redesign
/// touches (buffer priorities, Langevin drift, pinned reference, learnt variance, the chunked
/// multi-thread TB runner, the log Z initialisations, both discrete buffers).
const RUNS: &[(&str, &str)] = &[
    (
        "c-tb",
        "train --target gmm40 --method tb --iters 20 --batch 64 --steps 16 --eval-every 20 --eval-samples 100 --seed 1",
    ),
    (
        "c-tb-pinned-lv",
        "train --target funnel --method tb --reference pinned --learned-variance --exploration 0.1 --iters 12 --batch 32 --steps 16 --eval-every 6 --eval-samples 100 --seed 2",
    ),
    (
        "c-tb-chunked",
        "train --target funnel --method tb --threads 2 --grad-chunks 4 --iters 10 --batch 64 --steps 16 --eval-every 10 --eval-samples 100 --seed 1",
    ),
    (
        "c-tb-buffer",
        "train --target gmm40 --method tb-buffer --iters 20 --batch 64 --steps 16 --buffer 1000 --eval-every 20 --eval-samples 100 --seed 1",
    ),
    (
        "c-tb-buffer-reward",
        "train --target manywell --dim 4 --method tb-buffer --buffer-priority reward --init-log-z-batch --iters 15 --batch 32 --steps 16 --buffer 500 --eval-every 15 --eval-samples 100 --seed 3",
    ),
    (
        "c-rsmc",
        "train --target gmm40 --method rsmc --iters 20 --batch 64 --particles 64 --steps 16 --prefill 2 --buffer 1000 --eval-every 20 --eval-samples 100 --seed 1",
    ),
    (
        "c-rsmc-lp",
        "train --target manywell --dim 4 --method rsmc --langevin --init-log-z-smc --iters 15 --batch 32 --particles 48 --steps 16 --chunk 8 --prefill 3 --buffer 800 --eval-every 5 --eval-samples 100 --seed 4",
    ),
    (
        "c-smc",
        "train --target gmm40 --method smc --particles 200 --eval-samples 100 --seed 1",
    ),
    (
        "c-teacher",
        "train --target 25gmm --method teacher --iters 20 --batch 64 --steps 16 --eval-every 20 --eval-samples 100 --seed 1",
    ),
    (
        "c-vgs",
        "train --target 9gmm --method vgs --iters 10 --eval-every 10 --eval-samples 100 --seed 1",
    ),
    (
        "d-tb",
        "train --target grid --side 8 --method tb --iters 30 --batch 16 --eval-samples 500 --seed 1",
    ),
    (
        "d-db",
        "train --target grid --side 8 --method db --learn-pb --iters 30 --batch 16 --eval-samples 500 --seed 1",
    ),
    (
        "d-subtb",
        "train --target deceptive-grid --side 8 --method subtb --epsilon 0.1 --iters 30 --batch 16 --eval-samples 500 --seed 1",
    ),
    (
        "d-rsmc",
        "train --target grid --side 8 --method rsmc --iters 30 --batch 16 --eval-samples 500 --seed 1",
    ),
    (
        "d-rsmc-seq",
        "train --target sequence --len 5 --method rsmc --iters 30 --batch 16 --eval-samples 500 --seed 1",
    ),
    (
        "d-teacher",
        "train --target grid --side 8 --method teacher --teacher-alpha 0.5 --iters 30 --batch 16 --eval-samples 500 --seed 1",
    ),
    (
        "d-tb-ising",
        "train --target ising --side 3 --method tb --buffer 64 --iters 30 --batch 16 --eval-samples 500 --seed 1",
    ),
    (
        "ebm",
        "ebm --data moons --iters 20 --batch 32 --hidden 16 --vgs-hidden 16 --eval-samples 200 --seed 1",
    ),
];

const FIXTURE: &str = "tests/fixtures/checksums.tsv";

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fingerprint of one run's output folder.
fn fingerprint(dir: &Path) -> String {
    let samples = dir.join("samples.csv");
    if samples.exists() {
        let bytes = std::fs::read(&samples).expect("samples.csv readable");
        return format!("{:016x}", fnv1a(&bytes));
    }
    // EBM: every metric of every evaluation except the wall time, in file order
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("metrics.jsonl");
    let mut canon = String::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let obj = v.as_object().expect("object line");
        let sorted: BTreeMap<_, _> = obj.iter().filter(|(k, _)| *k != "seconds").collect();
        for (k, x) in sorted {
            canon.push_str(&format!("{k}={x};"));
        }
        canon.push('\n');
    }
    format!("{:016x}", fnv1a(canon.as_bytes()))
}

fn run_one(name: &str, args: &str) -> String {
    let out = common::tmp(&format!("bits-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    let mut full: Vec<&str> = args.split_whitespace().collect();
    let out_s = out.to_string_lossy().into_owned();
    full.extend(["--out", &out_s]);
    let o = common::amortise(&full);
    assert!(o.status.success(), "{name} failed: {}", common::stderr(&o));
    fingerprint(&out)
}

#[test]
fn every_method_gives_the_recorded_bits() {
    // two workers: the machine has two cores
    let next = Mutex::new(0usize);
    let got = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(&(name, args)) = RUNS.get(i) else {
                        break;
                    };
                    let fp = run_one(name, args);
                    got.lock().unwrap().insert(name, fp);
                }
            });
        }
    });
    let got = got.into_inner().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    if std::env::var_os("AMORTISE_BLESS").is_some() {
        let mut text =
            String::from("# run\tFNV-1a of samples.csv (ebm: of metrics.jsonl without seconds)\n");
        for (name, _) in RUNS {
            text.push_str(&format!("{name}\t{}\n", got[name]));
        }
        std::fs::write(&path, text).expect("write fixture");
        return;
    }
    let text = std::fs::read_to_string(&path).expect("fixture present");
    let want: BTreeMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .collect();
    let mut bad = Vec::new();
    for (name, _) in RUNS {
        match want.get(name) {
            Some(w) if *w == got[name] => {}
            Some(w) => bad.push(format!("{name}: recorded {w}, got {}", got[name])),
            None => bad.push(format!("{name}: not in {FIXTURE}")),
        }
    }
    assert!(bad.is_empty(), "bits changed:\n  {}", bad.join("\n  "));
    assert_eq!(
        want.len(),
        RUNS.len(),
        "{FIXTURE} lists runs that no longer exist"
    );
}
