//! The paper's Sinkhorn convention against ott-jax 0.4.6 itself: every case of
//! `tests/fixtures/ott_sinkhorn.json` (written by `scripts/ott_sinkhorn_fixture.py`: point sets
//! and ott's `sinkhorn_divergence(PointCloud, x, y)` in float32, ott's default and what the
//! paper's code ran, and in float64) is recomputed by the kernel and by
//! `amortise metric sinkhorn --convention paper`.

use amortise_kernel::metrics::sinkhorn::{
    PaperConfig, SinkhornConvention, SinkhornInfo, divergence, sinkhorn_cost_cache_len,
    sinkhorn_workspace_len,
};
use serde_json::Value;

mod common;
use common::{amortise, assert_fails, stderr, stdout, tmp};

/// Largest relative error accepted against ott's float32 values (the bar is 1 %;
/// measured: 2.2e-5, on the near-identical clouds whose divergence is 8e-4).
const TOL_F32: f64 = 1e-4;
/// Against ott's float64 values: the same algorithm, so only rounding differs.
const TOL_F64: f64 = 1e-9;

struct Case {
    name: String,
    dim: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    ott32: Value,
    ott64: Value,
    /// ott's float64 values with non-default `threshold` and `max_iterations`, if recorded.
    capped: Option<Value>,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ott_sinkhorn.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pts = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap() as f32)
            .collect()
    };
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            dim: c["dim"].as_u64().unwrap() as usize,
            x: pts(&c["x"]),
            y: pts(&c["y"]),
            ott32: c["float32"].clone(),
            ott64: c["float64"].clone(),
            capped: c.get("capped").cloned(),
        })
        .collect()
}

fn paper(c: &Case, cached: bool) -> SinkhornInfo {
    paper_with(c, cached, PaperConfig::default())
}

fn paper_with(c: &Case, cached: bool, cfg: PaperConfig) -> SinkhornInfo {
    let (n, m) = (c.x.len() / c.dim, c.y.len() / c.dim);
    let mut ws = vec![0.0f64; sinkhorn_workspace_len(n, m)];
    let mut cache = vec![0.0f64; sinkhorn_cost_cache_len(n, m)];
    let conv = SinkhornConvention::Paper(cfg);
    let cache = cached.then_some(cache.as_mut_slice());
    divergence(&c.x, &c.y, c.dim, &conv, &mut ws, cache).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn the_kernel_reproduces_ott() {
    let cases = cases();
    assert!(cases.len() >= 6);
    let mut worst = (0.0f64, String::new());
    let mut checked_capped = false;
    for c in &cases {
        let info = paper(c, false);
        let cached = paper(c, true);
        assert_eq!(
            info.divergence.to_bits(),
            cached.divergence.to_bits(),
            "{}",
            c.name
        );
        let d32 = c.ott32["divergence"].as_f64().unwrap();
        let d64 = c.ott64["divergence"].as_f64().unwrap();
        let e32 = rel(info.divergence, d32);
        println!(
            "{:28} ours {:.9e}  ott f32 {:.9e} (rel {:.1e})  ott f64 {:.9e} (rel {:.1e})  iters {}",
            c.name,
            info.divergence,
            d32,
            e32,
            d64,
            rel(info.divergence, d64),
            info.iterations
        );
        if e32 > worst.0 {
            worst = (e32, c.name.clone());
        }
        assert!(e32 < TOL_F32, "{}: {info:?} vs ott f32 {d32}", c.name);
        matches_f64(&info, &c.ott64, &c.name);
        assert!(info.converged, "{}", c.name);
        if let Some(capped) = &c.capped {
            let cfg = PaperConfig {
                threshold: capped["threshold"].as_f64().unwrap(),
                max_iterations: capped["max_iterations"].as_u64().unwrap() as u32,
                ..PaperConfig::default()
            };
            let info = paper_with(c, false, cfg);
            matches_f64(&info, &capped["float64"], &c.name);
            assert!(!info.converged, "{}: {info:?}", c.name);
            checked_capped = true;
        }
    }
    assert!(checked_capped, "the fixture has a capped case");
    println!(
        "largest relative error against ott float32: {:.2e} ({})",
        worst.0, worst.1
    );
}

/// `info` agrees with ott's float64 result `ott`: the divergence to [`TOL_F64`], the same ε,
/// the same three `reg_ot_cost`s and the same total iterations (the same stopping points).
fn matches_f64(info: &SinkhornInfo, ott: &Value, name: &str) {
    let d64 = ott["divergence"].as_f64().unwrap();
    assert!(
        rel(info.divergence, d64) < TOL_F64,
        "{name}: {info:?} vs ott f64 {d64}"
    );
    let eps = ott["epsilon"].as_f64().unwrap();
    assert!(
        rel(info.epsilon, eps) < 1e-12,
        "{name}: ε {} vs {eps}",
        info.epsilon
    );
    let terms: Vec<f64> = ott["reg_ot_cost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (ours, theirs) in [info.ot_xy, info.ot_xx, info.ot_yy].iter().zip(&terms) {
        assert!(
            (ours - theirs).abs() < 1e-9 * theirs.abs().max(eps),
            "{name}: {info:?} vs {terms:?}"
        );
    }
    let iters: u64 = ott["n_iters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(u64::from(info.iterations), iters, "{name}");
}

#[test]
fn the_cli_reproduces_ott() {
    let dir = tmp("ott-sinkhorn");
    std::fs::create_dir_all(&dir).unwrap();
    for c in cases()
        .iter()
        .filter(|c| c.name.starts_with("gmm40") || c.dim > 2)
    {
        let write = |name: &str, pts: &[f32]| {
            let path = dir.join(format!("{}-{name}.csv", c.name));
            std::fs::write(&path, amortise::csv::format(pts, c.dim)).unwrap();
            path.to_str().unwrap().to_string()
        };
        let (a, b) = (write("x", &c.x), write("y", &c.y));
        let paper = |more: &[&str]| {
            let mut args = vec!["metric", "sinkhorn", "--a", &a, "--b", &b];
            args.extend_from_slice(&["--convention", "paper"]);
            args.extend_from_slice(more);
            amortise(&args)
        };
        let o = paper(&["--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        let d32 = c.ott32["divergence"].as_f64().unwrap();
        let ours = v["value"].as_f64().unwrap();
        assert!(rel(ours, d32) < TOL_F32, "{}: {v} vs ott f32 {d32}", c.name);
        assert_eq!(v["convention"], "paper");
        assert!(
            rel(
                v["epsilon"].as_f64().unwrap(),
                c.ott64["epsilon"].as_f64().unwrap()
            ) < 1e-12
        );
        // the paper's ε is relative to the data: an absolute one is refused
        assert_fails(&paper(&["--epsilon", "0.001"]), 2, "--epsilon");
    }
}
