//! `amortise vgs-reference`: long MALA runs that make the DW-4 / LJ-13 reference samples.

use std::time::Instant;

use amortise_kernel::rng::{self, fill_standard_normal, uniform_f64};
use amortise_kernel::targets::LogDensity;
use amortise_settings::targets;
use serde_json::json;

use super::build_target;
use super::eval::{centre, distances, particle_shape};
use crate::cli::VgsReferenceArgs;
use crate::csv::{gzip, write_atomic};
use crate::error::{CliError, CliResult};

/// Runs `amortise vgs-reference`: `chains` independent MALA chains of `steps` steps from
/// broad random starts (for LJ-13 with a minimum pair distance, see `--min-start-distance`),
/// centre of mass removed; step sizes adapted per chain towards 57 % acceptance during the
/// first half (burn-in, discarded), then frozen; `per_chain` states kept from each chain's
/// second half (evenly spaced, the last at the final step). Writes the samples (3 decimals;
/// gzip if `--out` ends in `.gz`) and prints diagnostics: split-R̂ of the energy over the
/// chains' second halves, acceptance, and the mean energy at ten checkpoints (the trace).
pub fn run_reference(a: &VgsReferenceArgs) -> CliResult<()> {
    let target = build_target(&a.target, None)?;
    let name = target.name();
    let Some((np, k)) = particle_shape(name) else {
        return Err(CliError::flag(
            "--target",
            "reference samples are made for particle systems (dw4, lj13)",
        ));
    };
    if a.chains < 2 || a.chains > 1_000_000 {
        return Err(CliError::flag("--chains", "must be in 2..=1000000"));
    }
    if a.steps < 100 || a.steps > 100_000_000 {
        return Err(CliError::flag("--steps", "must be in 100..=100000000"));
    }
    if !(a.step_size.is_finite() && a.step_size > 0.0) {
        return Err(CliError::flag("--step-size", "must be a finite number > 0"));
    }
    if !(a.init_scale.is_finite() && a.init_scale > 0.0) {
        return Err(CliError::flag(
            "--init-scale",
            "must be a finite number > 0",
        ));
    }
    let n_keep = a.steps / 2;
    if a.per_chain == 0 || a.per_chain > a.steps - n_keep {
        return Err(CliError::flag(
            "--per-chain",
            "must be in 1..=steps/2 (one kept state per thinning interval)",
        ));
    }
    let min_dist = a
        .min_start_distance
        .unwrap_or(targets::of(name).min_start_distance);
    if !(min_dist.is_finite() && min_dist >= 0.0 && min_dist <= a.init_scale) {
        return Err(CliError::flag(
            "--min-start-distance",
            "must be a finite number in [0, --init-scale]",
        ));
    }
    // `--chains 10000000000000` used to abort on allocation failure (tests/robustness_cli.rs)
    if a.chains > 1_000_000 {
        return Err(CliError::flag("--chains", "at most 1000000"));
    }
    let d = target.dim();
    let mut r = rng::seeded(a.seed);
    let mut x = vec![0.0f32; a.chains * d];
    if min_dist == 0.0 {
        fill_standard_normal(&mut r, &mut x);
        x.iter_mut().for_each(|v| *v *= a.init_scale);
    } else {
        // random sequential addition: redraw particle p until it keeps `min_dist` from 0..p
        let mut p3 = vec![0.0f32; k];
        for row in x.chunks_exact_mut(d) {
            for p in 0..np {
                let mut tries = 0u32;
                loop {
                    fill_standard_normal(&mut r, &mut p3);
                    p3.iter_mut().for_each(|v| *v *= a.init_scale);
                    let ok = (0..p).all(|q| {
                        let s: f32 = (0..k).map(|c| (row[q * k + c] - p3[c]).powi(2)).sum();
                        s >= min_dist * min_dist
                    });
                    if ok {
                        break;
                    }
                    tries += 1;
                    if tries > 10_000 {
                        return Err(CliError::flag(
                            "--min-start-distance",
                            "no start found in 10000 draws: lower it or raise --init-scale",
                        ));
                    }
                }
                row[p * k..(p + 1) * k].copy_from_slice(&p3);
            }
        }
    }
    centre(&mut x, np, k);
    let mut h = vec![a.step_size; a.chains];
    let kept_len = a.steps - n_keep;
    let thin = kept_len / a.per_chain;
    let mut kept = vec![0.0f32; a.per_chain * a.chains * d];
    let marks = 10usize;
    let mut trace = vec![0.0f64; marks];
    // energies of the second half, per chain: running sums for split R-hat (two halves)
    let mut sums = vec![[0.0f64; 4]; a.chains]; // Σ first half of keep, Σ², Σ second, Σ²
    let (mut g, mut gp, mut prop, mut noise) = (
        vec![0.0f32; d],
        vec![0.0f32; d],
        vec![0.0f32; d],
        vec![0.0f32; d],
    );
    let mut accepted = 0u64;
    let t0 = Instant::now();
    for (c, xr) in x.chunks_exact_mut(d).enumerate() {
        let mut lp = target.log_density_grad(xr, &mut g);
        let mut acc_window = 0u32;
        for s in 0..a.steps {
            let hc = h[c];
            fill_standard_normal(&mut r, &mut noise);
            for j in 0..d {
                prop[j] = xr[j] + hc * g[j] + (2.0 * hc).sqrt() * noise[j];
            }
            centre(&mut prop, np, k);
            let lpp = target.log_density_grad(&prop, &mut gp);
            // log q(x | x') − log q(x' | x)
            let mut q = 0.0f64;
            for j in 0..d {
                let f = (xr[j] - prop[j] - hc * gp[j]) as f64;
                let b = (prop[j] - xr[j] - hc * g[j]) as f64;
                q += -(f * f) / (4.0 * hc as f64) + (b * b) / (4.0 * hc as f64);
            }
            let log_a = (lpp - lp) as f64 + q;
            let ok = lpp.is_finite() && log_a.is_finite() && uniform_f64(&mut r).ln() < log_a;
            if ok {
                xr.copy_from_slice(&prop);
                g.copy_from_slice(&gp);
                lp = lpp;
                acc_window += 1;
            }
            if s < n_keep {
                if (s + 1) % 50 == 0 {
                    let rate = acc_window as f64 / 50.0;
                    h[c] *= if rate > 0.57 { 1.1 } else { 0.9 };
                    acc_window = 0;
                }
            } else {
                if ok {
                    accepted += 1;
                }
                let e = -(lp as f64);
                let half = if s < n_keep + kept_len / 2 { 0 } else { 2 };
                sums[c][half] += e;
                sums[c][half + 1] += e * e;
                // kept states: steps n_keep + thin·j − 1 … , the last one at the final step
                let since = s + 1 - n_keep;
                let j = if s + 1 == a.steps {
                    Some(a.per_chain - 1)
                } else if since.is_multiple_of(thin) && since / thin < a.per_chain {
                    Some(since / thin - 1)
                } else {
                    None
                };
                if let Some(j) = j {
                    let row = (j * a.chains + c) * d;
                    kept[row..row + d].copy_from_slice(xr);
                }
            }
            if (s + 1) % (a.steps / marks).max(1) == 0 {
                let m = ((s + 1) / (a.steps / marks).max(1)).min(marks) - 1;
                trace[m] += -(lp as f64) / a.chains as f64;
            }
        }
    }
    // split R-hat over 2·chains half-chains of length L
    let l = (kept_len / 2) as f64;
    let mut means = Vec::new();
    let mut vars = Vec::new();
    for s in &sums {
        for (half, len) in [(0, l), (2, (kept_len - kept_len / 2) as f64)] {
            let m = s[half] / len;
            means.push(m);
            vars.push((s[half + 1] / len - m * m) * len / (len - 1.0));
        }
    }
    let mm = means.len() as f64;
    let grand = means.iter().sum::<f64>() / mm;
    let b = l * means.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (mm - 1.0);
    let w = vars.iter().sum::<f64>() / mm;
    let rhat = (((l - 1.0) / l * w + b / l) / w).sqrt();
    let acc = accepted as f64 / (a.chains as f64 * kept_len as f64);
    let kept_energy: Vec<f64> = kept
        .chunks_exact(d)
        .map(|row| -(target.log_density(row) as f64))
        .collect();
    let ke_mean = kept_energy.iter().sum::<f64>() / kept_energy.len() as f64;
    let ke_sd = (kept_energy
        .iter()
        .map(|e| (e - ke_mean).powi(2))
        .sum::<f64>()
        / (kept_energy.len() as f64 - 1.0).max(1.0))
    .sqrt();
    let min_pair = distances(&kept, np, k)
        .into_iter()
        .fold(f32::INFINITY, f32::min);
    let mut text = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        text,
        "{}",
        (1..=d)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for row in kept.chunks_exact(d) {
        let _ = writeln!(
            text,
            "{}",
            row.iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let bytes = if a.out.ends_with(".gz") {
        gzip(text.as_bytes()).map_err(|e| CliError::file(&a.out, format!("gzip: {e}")))?
    } else {
        text.into_bytes()
    };
    write_atomic(&a.out, &bytes)?;
    let diag = json!({
        "target": name, "chains": a.chains, "steps": a.steps, "seed": a.seed,
        "init_scale": a.init_scale, "min_start_distance": min_dist,
        "burn_in_steps": n_keep, "per_chain": a.per_chain, "thinning_interval": thin,
        "samples": a.chains * a.per_chain, "file_bytes": bytes.len(),
        "split_rhat_energy": rhat, "acceptance": acc,
        "mean_energy": grand, "kept_energy_mean": ke_mean, "kept_energy_sd": ke_sd,
        "kept_min_pair_distance": min_pair,
        "energy_trace": trace, "seconds": t0.elapsed().as_secs_f64(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&diag).unwrap_or_default()
    );
    Ok(())
}
