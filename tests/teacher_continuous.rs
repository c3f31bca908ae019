//! The adaptive teacher on a continuous target (kernel `teacher::continuous` and
//! `amortise train --method teacher`): a short run must improve the student, the outputs
//! must be complete and bad flags must be clean errors.

use amortise_kernel::rng::{self, Rng};
use amortise_kernel::samplers::diffusion::policy::{self, Trajectories, Workspace};
use amortise_kernel::samplers::diffusion::reference::{Process, Schedule};
use amortise_kernel::samplers::diffusion::train::Config as TrainConfig;
use amortise_kernel::targets::{LogDensity, Target};
use amortise_kernel::teacher::continuous::{self, Config, Layout, Views};

mod common;
use common::amortise;

/// ELBO (mean log importance weight) and the fraction of samples within 3 standard
/// deviations (0.3 variance) of a 9GMM centre, from `n` forward samples of the student, and
/// the EUBO from `n` exact samples.
fn student_quality<R: Rng>(
    (cfg, layout, fa): (&Config, &Layout, &[f32]),
    target: &Target,
    n: usize,
    rng: &mut R,
) -> (f64, f64, f64) {
    let cfg = cfg.student;
    let net = &layout.student.net;
    let mut table = vec![0.0f32; Schedule::table_len(cfg.steps)];
    let sched = Schedule::new(cfg.process, cfg.steps, &mut table).unwrap();
    let (s, l, o, _) = Trajectories::lens(net, n, cfg.steps, false);
    let (mut xs, mut lpf, mut lpb, mut out) =
        (vec![0.0; s], vec![0.0; l], vec![0.0; l], vec![0.0; o]);
    let mut traj = Trajectories {
        batch: n,
        dim: 2,
        steps: cfg.steps,
        states: &mut xs,
        log_pf: &mut lpf,
        log_pb: &mut lpb,
        outputs: &mut out,
        cache: &mut [],
    };
    let (a, b, c) = Workspace::lens(net, n);
    let (mut sa, mut sb, mut sc) = (vec![0.0; a], vec![0.0; b], vec![0.0; c]);
    let mut lg = vec![0.0; Workspace::lgrad_len(net, n)];
    let mut ws = Workspace {
        net_scratch: &mut sa,
        step_cache: &mut sb,
        noise: &mut sc,
        lgrad: &mut lg,
    };
    let student = policy::Policy {
        cfg: &cfg.policy,
        sched: &sched,
        net,
        params: layout.student.policy(layout.student_params(fa)),
    };
    policy::sample_forward(student, target, &mut traj, &mut ws, false, rng).unwrap();
    let log_r: Vec<f32> = traj
        .terminal()
        .chunks_exact(2)
        .map(|x| target.log_density(x))
        .collect();
    let near = traj
        .terminal()
        .chunks_exact(2)
        .filter(|x| {
            let r = |v: f32| (v / 5.0).round().clamp(-1.0, 1.0) * 5.0;
            let (dx, dy) = (x[0] - r(x[0]), x[1] - r(x[1]));
            (dx * dx + dy * dy).sqrt() < 3.0 * 0.3f32.sqrt()
        })
        .count();
    let mut lw = vec![0.0f32; n];
    policy::log_weights(&sched, &traj, &log_r, &mut lw).unwrap();
    let elbo = lw.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    // EUBO: backward trajectories from exact samples (mass-covering)
    let mut gt = vec![0.0f32; 2 * n];
    for row in gt.chunks_exact_mut(2) {
        target.sample(rng, row).unwrap();
    }
    let log_r: Vec<f32> = gt.chunks_exact(2).map(|x| target.log_density(x)).collect();
    policy::sample_backward(&sched, &gt, &mut traj, ws.noise, rng).unwrap();
    policy::score(student, target, &mut traj, &mut ws, false).unwrap();
    policy::log_weights(&sched, &traj, &log_r, &mut lw).unwrap();
    let eubo = lw.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    (elbo, near as f64 / n as f64, eubo)
}

#[test]
fn a_short_teacher_run_improves_the_student_on_9gmm() {
    let target = Target::from_name("9gmm", None).unwrap();
    let cfg = Config::new(TrainConfig {
        process: Process::OrnsteinUhlenbeck { init_std: 2.0 },
        steps: 16,
        batch: 64,
        hidden: 32,
        harmonics: 8,
        buffer_capacity: 2000,
        iterations: 200,
        lr_policy: 5e-3,
        ..TrainConfig::default()
    });
    let layout = Layout::new(&cfg, 2).unwrap();
    let mut fa = vec![0.0f32; layout.f32_len];
    let mut ua = vec![0u32; layout.u32_len];
    let mut r = rng::seeded(11);
    let mut views = Views::new(&layout, &mut fa, &mut ua).unwrap();
    let mut st = continuous::init(&cfg, &layout, &mut views, &mut r).unwrap();
    let mut er = rng::seeded(99);
    let (elbo0, near0, eubo0) = student_quality((&cfg, &layout, &fa), &target, 1000, &mut er);
    let mut refreshed = 0;
    for _ in 0..200 {
        // views carved anew on every call, as owners do
        let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
        let info = continuous::step(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
        refreshed += info.refreshed;
        assert!(info.student_loss.is_finite() && info.teacher_loss.is_finite());
    }
    let (elbo1, near1, eubo1) = student_quality((&cfg, &layout, &fa), &target, 1000, &mut er);
    eprintln!(
        "ELBO {elbo0:.3} -> {elbo1:.3}, EUBO {eubo0:.3} -> {eubo1:.3}, near a mode {near0:.3} -> {near1:.3}"
    );
    assert!(
        refreshed > 64,
        "teacher samples reached the buffer: {refreshed}"
    );
    // the teacher makes the student mass-covering: the EUBO (backward trajectories from
    // exact samples) falls. (Measured with this seed: 3.65 -> 3.20; plain TB with the same
    // settings goes 3.65 -> 3.70, and its ELBO rises while the teacher's falls.)
    assert!(eubo1 < eubo0 - 0.2, "EUBO {eubo0} -> {eubo1}");
    assert!(elbo1.is_finite() && near1 > 0.0 && near0 > 0.0);
}

#[test]
fn train_method_teacher_writes_outputs_and_rejects_bad_flags() {
    let dir = std::env::temp_dir().join(format!("amortise-cteach-{}", std::process::id()));
    let out = dir.join("run");
    let out_s = out.to_str().unwrap();
    let small = [
        "train",
        "--target",
        "9gmm",
        "--method",
        "teacher",
        "--iters",
        "8",
        "--steps",
        "16",
        "--batch",
        "32",
        "--hidden",
        "16",
        "--harmonics",
        "8",
        "--eval-samples",
        "200",
        "--eval-every",
        "4",
        "--sigma",
        "3",
    ];
    let mut args = small.to_vec();
    args.extend(["--out", out_s]);
    let o = amortise(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "summary.json",
        "metrics.jsonl",
        "samples.csv",
        "samples.svg",
        "teacher_samples.csv",
        "checkpoint.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["method"], "teacher");
    assert_eq!(s["modes_total"], 9);
    assert!(s["modes_covered"].as_u64().unwrap() <= 9);
    assert!(s["emc"].as_f64().is_some() && s["eubo"].as_f64().is_some());
    assert_eq!(s["teacher"]["alpha"], 0.5);
    assert!(s["teacher"]["reward_threshold"].as_f64().is_some());
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    // the student's checkpoint loads with `amortise sample`
    let csv = dir.join("drawn.csv");
    let o = amortise(&[
        "sample",
        "--checkpoint",
        out_s,
        "--n",
        "50",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&csv).unwrap().lines().count() >= 50);
    // continuous-only misuse: clear flag errors, exit 2
    for (extra, flag) in [
        (vec!["--teacher-alpha", "0.3"], "--teacher-alpha"),
        (vec!["--buffer-priority", "iw"], "--buffer-priority"),
        (vec!["--particles", "10"], "--particles"),
        (vec!["--batch", "0"], "--batch"),
    ] {
        let mut full: Vec<&str> = small.to_vec();
        full.extend(["--out", out_s]);
        // replace or append the flag
        if let Some(i) = full.iter().position(|a| *a == extra[0]) {
            full[i + 1] = extra[1];
        } else {
            full.extend(extra.iter().copied());
        }
        let o = amortise(&full);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag}: {e}");
        assert!(e.contains(flag) && !e.contains("panicked"), "{flag}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
