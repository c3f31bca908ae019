//! SVG plots of samples (plotters, SVG backend only: no fonts or bitmaps needed).
//!
//! Two-dimensional targets: the target's log density as a heat-map under a scatter of the
//! samples. Higher dimensions: histograms of the first (up to four) coordinates' marginals.

use amortise_kernel::targets::{LogDensity, Target};
use plotters::prelude::*;

use crate::error::{CliError, CliResult};

fn bounds(samples: &[f32], d: usize, j: usize) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for row in samples.chunks_exact(d) {
        let v = row[j] as f64;
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (-1.0, 1.0);
    }
    let pad = 0.08 * (hi - lo).max(1e-3);
    (lo - pad, hi + pad)
}

/// Writes the plot to `path`.
pub fn samples_svg(path: &str, target: &Target, samples: &[f32], title: &str) -> CliResult<()> {
    let d = target.dim();
    let err = |e: String| CliError::file(path, format!("cannot draw plot: {e}"));
    if d == 2 {
        draw_2d(path, target, samples, title).map_err(|e| err(e.to_string()))
    } else {
        draw_marginals(path, d, samples, title).map_err(|e| err(e.to_string()))
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_2d(path: &str, target: &Target, samples: &[f32], title: &str) -> DrawResult {
    let root = SVGBackend::new(path, (640, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (x0, x1) = bounds(samples, 2, 0);
    let (y0, y1) = bounds(samples, 2, 1);
    // square-ish view covering the samples
    let half = 0.5 * (x1 - x0).max(y1 - y0);
    let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
    let (x0, x1, y0, y1) = (cx - half, cx + half, cy - half, cy + half);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart.configure_mesh().disable_mesh().draw()?;
    let n = 120usize;
    let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
    let mut grid = vec![f32::NEG_INFINITY; n * n];
    let mut max = f32::NEG_INFINITY;
    for i in 0..n {
        for j in 0..n {
            let p = [
                (x0 + (i as f64 + 0.5) * dx) as f32,
                (y0 + (j as f64 + 0.5) * dy) as f32,
            ];
            let v = target.log_density(&p);
            grid[i * n + j] = v;
            max = max.max(v);
        }
    }
    let cells = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| {
            let v = grid[i * n + j];
            // shade by density relative to the maximum, on a log scale clipped at e^-12
            let t = if v.is_finite() && max.is_finite() {
                ((v - max) as f64 / 12.0 + 1.0).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let c = RGBColor((255.0 - 150.0 * t) as u8, (255.0 - 110.0 * t) as u8, 255);
            let (ax, ay) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
            Rectangle::new([(ax, ay), (ax + dx, ay + dy)], c.filled())
        });
    chart.draw_series(cells)?;
    chart.draw_series(
        samples
            .chunks_exact(2)
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .map(|p| {
                Circle::new(
                    (p[0] as f64, p[1] as f64),
                    2,
                    RGBColor(200, 40, 40).mix(0.6).filled(),
                )
            }),
    )?;
    root.present()?;
    Ok(())
}

fn draw_marginals(path: &str, d: usize, samples: &[f32], title: &str) -> DrawResult {
    let k = d.min(4);
    let root = SVGBackend::new(path, (320 * k as u32, 320)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, k));
    for (j, area) in areas.iter().enumerate() {
        let (lo, hi) = bounds(samples, d, j);
        let bins = 40usize;
        let mut counts = vec![0u32; bins];
        for row in samples.chunks_exact(d) {
            let v = row[j] as f64;
            if v.is_finite() {
                let b = (((v - lo) / (hi - lo)) * bins as f64) as usize;
                counts[b.min(bins - 1)] += 1;
            }
        }
        let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let cap = if j == 0 {
            format!("{title}: x{}", j + 1)
        } else {
            format!("x{}", j + 1)
        };
        let mut chart = ChartBuilder::on(area)
            .caption(cap, ("sans-serif", 14))
            .margin(10)
            .x_label_area_size(25)
            .y_label_area_size(30)
            .build_cartesian_2d(lo..hi, 0.0..top * 1.05)?;
        chart.configure_mesh().disable_mesh().draw()?;
        let w = (hi - lo) / bins as f64;
        chart.draw_series(counts.iter().enumerate().map(|(b, &c)| {
            let a = lo + b as f64 * w;
            Rectangle::new(
                [(a, 0.0), (a + w, c as f64)],
                RGBColor(90, 120, 200).filled(),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}

/// Writes the Ramachandran plot of `angles` (`[φ, ψ]` in radians) to `path`: a 64 × 64
/// histogram over `[−180°, 180°]²`, shaded on a log scale from one sample per cell (light)
/// to the fullest cell (dark), with the basin boundaries (`φ = 0°`; `ψ = −120°` and `50°` for `φ ≤ 0°`)
/// and labels; with `reference`, a second panel shows the reference the same way.
pub fn ramachandran_svg(
    path: &str,
    angles: &[[f64; 2]],
    reference: Option<&[[f64; 2]]>,
    title: &str,
) -> CliResult<()> {
    draw_ramachandran(path, angles, reference, title)
        .map_err(|e| CliError::file(path, format!("cannot draw plot: {e}")))
}

fn draw_ramachandran(
    path: &str,
    angles: &[[f64; 2]],
    reference: Option<&[[f64; 2]]>,
    title: &str,
) -> DrawResult {
    let panels: Vec<(&[[f64; 2]], String)> = match reference {
        Some(r) => vec![
            (angles, format!("{title}: model")),
            (r, "reference".to_string()),
        ],
        None => vec![(angles, title.to_string())],
    };
    let k = panels.len() as u32;
    let root = SVGBackend::new(path, (520 * k, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, (pts, cap)) in root.split_evenly((1, k as usize)).iter().zip(&panels) {
        rama_panel(area, pts, cap)?;
    }
    root.present()?;
    Ok(())
}

fn rama_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    pts: &[[f64; 2]],
    cap: &str,
) -> DrawResult {
    const N: usize = 64;
    let deg = 180.0 / std::f64::consts::PI;
    let mut counts = vec![0u32; N * N];
    for p in pts {
        let (a, b) = (p[0] * deg, p[1] * deg);
        if (-180.0..=180.0).contains(&a) && (-180.0..=180.0).contains(&b) {
            let i = (((a + 180.0) / 360.0 * N as f64) as usize).min(N - 1);
            let j = (((b + 180.0) / 360.0 * N as f64) as usize).min(N - 1);
            counts[i * N + j] += 1;
        }
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(cap, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(-180.0..180.0, -180.0..180.0)?;
    let fmt = |v: &f64| format!("{v:.0}");
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .x_desc("φ (degrees)")
        .y_desc("ψ (degrees)")
        .draw()?;
    let w = 360.0 / N as f64;
    chart.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(k, &c)| {
                // one sample is still clearly visible: shade from 0.25 to 1
                let t = 0.25
                    + 0.75
                        * if top > 1.0 {
                            (c as f64).ln() / top.ln()
                        } else {
                            1.0
                        };
                let col = RGBColor(
                    (235.0 - 205.0 * t) as u8,
                    (240.0 - 180.0 * t) as u8,
                    (255.0 - 95.0 * t) as u8,
                );
                let (a, b) = (-180.0 + (k / N) as f64 * w, -180.0 + (k % N) as f64 * w);
                Rectangle::new([(a, b), (a + w, b + w)], col.filled())
            }),
    )?;
    let line = RGBColor(120, 120, 120);
    chart.draw_series(LineSeries::new([(0.0, -180.0), (0.0, 180.0)], line))?;
    for psi in [-120.0, 50.0] {
        chart.draw_series(LineSeries::new([(-180.0, psi), (0.0, psi)], line))?;
    }
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    for (label, at) in [
        ("β/C7eq", (-170.0, 170.0)),
        ("αR", (-170.0, 40.0)),
        ("β/C7eq", (-170.0, -130.0)),
        ("αL", (10.0, 170.0)),
    ] {
        chart.draw_series(std::iter::once(Text::new(label, at, font.clone())))?;
    }
    Ok(())
}
