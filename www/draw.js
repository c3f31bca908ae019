// Canvas 2D drawing: the target heat-map, the particles and the small trace charts.

/** A perceptual dark-to-bright colour map (approximately viridis), t in [0, 1]. */
const STOPS = [
  [0.0, [13, 8, 35]], [0.15, [40, 35, 95]], [0.35, [45, 90, 140]],
  [0.55, [35, 140, 135]], [0.75, [95, 190, 95]], [0.9, [200, 220, 50]], [1.0, [250, 235, 120]],
];

function colour(t) {
  if (!(t > 0)) return STOPS[0][1];
  if (t >= 1) return STOPS[STOPS.length - 1][1];
  for (let i = 1; i < STOPS.length; i++) {
    if (t <= STOPS[i][0]) {
      const [t0, c0] = STOPS[i - 1];
      const [t1, c1] = STOPS[i];
      const a = (t - t0) / (t1 - t0);
      return [0, 1, 2].map((k) => Math.round(c0[k] + a * (c1[k] - c0[k])));
    }
  }
  return STOPS[STOPS.length - 1][1];
}

/**
 * Turns log-density values (row-major, top row first) into an offscreen canvas. The colour
 * is the log density relative to its maximum over the grid, clipped `range` nats below it,
 * so every mode is visible; `-inf` cells are the darkest colour.
 */
export function heatmapImage(values, nx, ny, range = 14) {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  const img = new ImageData(nx, ny);
  for (let i = 0; i < values.length; i++) {
    const t = Number.isFinite(max) ? 1 + (values[i] - max) / range : 0;
    const [r, g, b] = colour(t);
    img.data[4 * i] = r;
    img.data[4 * i + 1] = g;
    img.data[4 * i + 2] = b;
    img.data[4 * i + 3] = 255;
  }
  const c = document.createElement('canvas');
  c.width = nx;
  c.height = ny;
  c.getContext('2d').putImageData(img, 0, 0);
  return c;
}

/**
 * Draws the heat-map and the particles. Particles are coloured by weight relative to the
 * largest weight: pale and transparent for negligible weight, bright orange for the
 * heaviest. `flash` outlines the plot when the last temperature resampled.
 */
export function drawScene(canvas, heat, view, frame, flash) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  ctx.imageSmoothingEnabled = true;
  ctx.fillStyle = '#0d0823';
  ctx.fillRect(0, 0, W, H);
  if (heat) ctx.drawImage(heat, 0, 0, W, H);
  if (frame && frame.bxy && frame.bxy.length) {
    // replay-buffer states resampled by importance weight: small cyan dots under the samples
    const sx = W / (view.xmax - view.xmin);
    const sy = H / (view.ymax - view.ymin);
    ctx.fillStyle = 'rgba(80,230,255,0.9)';
    for (let i = 0; i < frame.bxy.length; i += 2) {
      const px = (frame.bxy[i] - view.xmin) * sx;
      const py = (view.ymax - frame.bxy[i + 1]) * sy;
      ctx.beginPath();
      ctx.arc(px, py, 2.2, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  if (frame) {
    const { xy, weights } = frame;
    const n = weights.length;
    const sx = W / (view.xmax - view.xmin);
    const sy = H / (view.ymax - view.ymin);
    const size = n > 20000 ? 1.5 : n > 3000 ? 2.5 : 3.5;
    const outline = n <= 20000;
    // Weight classes on a log scale relative to the uniform weight 1/N: class 0 is
    // w·N ≤ 0.1 (negligible), the middle class w·N ≈ 1, the top class w·N ≥ 10. Light
    // classes are drawn first so heavy particles stay on top.
    const classes = 9;
    const cls = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const t = (Math.log10(Math.max(weights[i] * n, 1e-12)) + 1) / 2;
      cls[i] = Math.max(0, Math.min(classes - 1, Math.round(t * (classes - 1))));
    }
    for (let c = 0; c < classes; c++) {
      ctx.fillStyle = weightColour(c / (classes - 1));
      for (let i = 0; i < n; i++) {
        if (cls[i] !== c) continue;
        const px = (xy[2 * i] - view.xmin) * sx;
        const py = (view.ymax - xy[2 * i + 1]) * sy;
        if (px < -4 || py < -4 || px > W + 4 || py > H + 4) continue;
        if (outline) {
          const f = ctx.fillStyle;
          ctx.fillStyle = 'rgba(0,0,0,0.55)';
          ctx.fillRect(px - size / 2 - 0.75, py - size / 2 - 0.75, size + 1.5, size + 1.5);
          ctx.fillStyle = f;
        }
        ctx.fillRect(px - size / 2, py - size / 2, size, size);
      }
    }
  }
  if (flash) {
    ctx.strokeStyle = '#ff5a5a';
    ctx.lineWidth = 4;
    ctx.strokeRect(2, 2, W - 4, H - 4);
    ctx.fillStyle = '#ff5a5a';
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText('resampled', 10, 20);
  }
  // axes labels
  ctx.fillStyle = 'rgba(255,255,255,0.8)';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(`x0 ∈ [${view.xmin}, ${view.xmax}]`, W - 130, H - 8);
  ctx.save();
  ctx.translate(12, H - 8);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(`x1 ∈ [${view.ymin}, ${view.ymax}]`, 0, 0);
  ctx.restore();
}

/** Particle colour for a weight class t ∈ [0, 1]: pale (negligible) → orange (≈ 1/N) → red (heavy). */
export function weightColour(t) {
  const lerp = (a, b, u) => Math.round(a + (b - a) * u);
  const [c0, c1, c2] = [[225, 228, 240], [255, 150, 40], [235, 30, 30]];
  const [a, b, u] = t < 0.5 ? [c0, c1, t / 0.5] : [c1, c2, (t - 0.5) / 0.5];
  const alpha = 0.55 + 0.45 * Math.min(1, t / 0.5);
  return `rgba(${lerp(a[0], b[0], u)},${lerp(a[1], b[1], u)},${lerp(a[2], b[2], u)},${alpha})`;
}

/**
 * A small line chart. `series`: [{values, colour, label}]; `hline`: {y, colour, label};
 * `markers`: indices drawn as vertical ticks; `yRange`: [lo, hi] or null for automatic;
 * `xMax`: the label of the right end (default: the last index).
 */
export function lineChart(canvas, { title, series, hline = null, hlines = null, markers = [], yRange = null, empty = '', xMax = null }) {
  const refs = (hlines || (hline ? [hline] : [])).filter((h) => Number.isFinite(h.y));
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const pad = { l: 44, r: 8, t: 20, b: 18 };
  ctx.fillStyle = '#fbfbfd';
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(title, pad.l, 13);
  const n = Math.max(0, ...series.map((s) => s.values.length));
  if (n === 0 || empty) {
    ctx.fillStyle = '#888';
    ctx.fillText(empty || 'no data yet', 8, H / 2);
    return;
  }
  let lo = Infinity;
  let hi = -Infinity;
  if (yRange) {
    [lo, hi] = yRange;
  } else {
    for (const s of series) for (const v of s.values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    for (const h of refs) { lo = Math.min(lo, h.y); hi = Math.max(hi, h.y); }
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
    const m = 0.08 * (hi - lo);
    lo -= m;
    hi += m;
  }
  const X = (i) => pad.l + (n <= 1 ? 0 : (i / (n - 1)) * (W - pad.l - pad.r));
  const Y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  // frame and ticks
  ctx.strokeStyle = '#ccc';
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
  ctx.fillStyle = '#555';
  ctx.font = '10px system-ui, sans-serif';
  for (const v of [lo, (lo + hi) / 2, hi]) ctx.fillText(fmt(v), 2, Y(v) + 3);
  const xLabel = `${xMax === null ? n - 1 : xMax}`;
  ctx.fillText(xLabel, W - pad.r - ctx.measureText(xLabel).width, H - 5);
  ctx.fillText('0', pad.l, H - 5);
  for (const i of markers) {
    ctx.strokeStyle = 'rgba(220,60,60,0.55)';
    ctx.beginPath();
    ctx.moveTo(X(i), pad.t);
    ctx.lineTo(X(i), H - pad.b);
    ctx.stroke();
  }
  for (const h of refs) {
    ctx.strokeStyle = h.colour;
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    ctx.moveTo(pad.l, Y(h.y));
    ctx.lineTo(W - pad.r, Y(h.y));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = h.colour;
    const tw = ctx.measureText(h.label).width;
    ctx.fillText(h.label, W - pad.r - tw - 4, Y(h.y) - 3);
  }
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 1.8;
    ctx.beginPath();
    let started = false;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      if (started) ctx.lineTo(X(i), Y(v));
      else { ctx.moveTo(X(i), Y(v)); started = true; }
    });
    ctx.stroke();
    if (n === 1 && started) {
      ctx.fillStyle = s.colour;
      ctx.fillRect(X(0) - 2, Y(s.values[0]) - 2, 4, 4);
    }
  }
}

export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.01 || a >= 1e5)) return v.toExponential(2);
  return v.toFixed(a < 10 ? 3 : 1);
}

/**
 * The 2-D hypergrid view: the exact target π (left) and the learner's empirical distribution
 * (right) as two heat-maps on the same colour scale (log probability, `range` nats below the
 * largest cell of π), with the modes outlined in white. Cells with no sample are the darkest
 * colour. `p`, `q`: probabilities by index `x0 + side · x1`; `mask`: 1 at modes.
 */
export function gridPair(canvas, { p, q, side, mask, samples, range = 9 }) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  ctx.fillStyle = '#0d0823';
  ctx.fillRect(0, 0, W, H);
  const gap = 16;
  const size = Math.floor((W - 3 * gap) / 2);
  const top = 40;
  let max = 0;
  for (const v of p) if (v > max) max = v;
  const lmax = Math.log(max);
  const cell = size / side;
  const panels = [[p, 'target π (exact, by enumeration)'], [q, `learnt: ${samples} samples of the sampler`]];
  panels.forEach(([vals, title], k) => {
    const x0 = gap + k * (size + gap);
    ctx.fillStyle = 'rgba(255,255,255,0.9)';
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText(title, x0, top - 10);
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++) {
        const v = vals[i + side * j];
        const t = v > 0 ? 1 + (Math.log(v) - lmax) / range : 0;
        const [r, g, b] = colour(t);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        // x0 to the right, x1 upward
        ctx.fillRect(x0 + i * cell, top + (side - 1 - j) * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    ctx.strokeStyle = 'rgba(255,255,255,0.85)';
    ctx.lineWidth = 1.2;
    for (let idx = 0; idx < mask.length; idx++) {
      if (!mask[idx]) continue;
      const i = idx % side;
      const j = Math.floor(idx / side);
      ctx.strokeRect(x0 + i * cell + 0.6, top + (side - 1 - j) * cell + 0.6, cell - 1.2, cell - 1.2);
    }
  });
  ctx.fillStyle = 'rgba(255,255,255,0.8)';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(`x0 → (0 … ${side - 1}), x1 ↑; colour: log probability (${range} nats below the largest); white squares: modes`, gap, top + size + 22);
}

/**
 * The sequence view: bars of the exact probability (green) and the empirical frequency
 * (orange) of the `labels.length` most likely sequences.
 */
export function barChart(canvas, { labels, exact, empirical, title }) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  ctx.fillStyle = '#fbfbfd';
  ctx.fillRect(0, 0, W, H);
  const pad = { l: 50, r: 10, t: 44, b: 90 };
  ctx.fillStyle = '#222';
  ctx.font = '13px system-ui, sans-serif';
  ctx.fillText(title, pad.l, 18);
  ctx.fillStyle = '#2a9d3a';
  ctx.fillRect(pad.l, 26, 10, 10);
  ctx.fillStyle = '#222';
  ctx.fillText('exact π(x)', pad.l + 14, 35);
  ctx.fillStyle = '#d9641e';
  ctx.fillRect(pad.l + 100, 26, 10, 10);
  ctx.fillStyle = '#222';
  ctx.fillText('empirical frequency of the sampler', pad.l + 114, 35);
  const n = labels.length;
  if (n === 0) return;
  let hi = 0;
  for (let i = 0; i < n; i++) hi = Math.max(hi, exact[i], empirical[i] || 0);
  hi = hi > 0 ? hi * 1.1 : 1;
  const ph = H - pad.t - pad.b;
  const slot = (W - pad.l - pad.r) / n;
  const bw = Math.max(2, slot * 0.38);
  const Y = (v) => pad.t + (1 - v / hi) * ph;
  ctx.strokeStyle = '#ccc';
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, ph);
  ctx.fillStyle = '#555';
  ctx.font = '10px system-ui, sans-serif';
  for (const v of [0, hi / 2, hi]) ctx.fillText(fmt(v), 4, Y(v) + 3);
  for (let i = 0; i < n; i++) {
    const x = pad.l + i * slot + slot * 0.1;
    ctx.fillStyle = '#2a9d3a';
    ctx.fillRect(x, Y(exact[i]), bw, pad.t + ph - Y(exact[i]));
    ctx.fillStyle = '#d9641e';
    const e = empirical[i] || 0;
    ctx.fillRect(x + bw, Y(e), bw, pad.t + ph - Y(e));
    ctx.save();
    ctx.translate(x + bw, pad.t + ph + 8);
    ctx.rotate(Math.PI / 3);
    ctx.fillStyle = '#222';
    ctx.font = '11px ui-monospace, monospace';
    ctx.fillText(labels[i], 0, 0);
    ctx.restore();
  }
}

// ---------------------------------------------------------------- ALDP

const DEG = 180 / Math.PI;
/** Margins of the Ramachandran plot inside its canvas (room for the axes). */
const RAMA_PAD = { l: 46, r: 12, t: 28, b: 40 };

/**
 * The reference's Ramachandran density as an offscreen canvas: a `bins` × `bins` histogram
 * of (φ, ψ) on [−π, π]², coloured by log count (empty cells darkest), φ to the right and ψ
 * upward.
 */
export function ramachandranImage(phi, psi, bins = 72) {
  const counts = new Float64Array(bins * bins);
  const bin = (a) => Math.min(bins - 1, Math.max(0, Math.floor(((a + Math.PI) / (2 * Math.PI)) * bins)));
  for (let k = 0; k < phi.length; k++) {
    if (!Number.isFinite(phi[k]) || !Number.isFinite(psi[k])) continue;
    counts[(bins - 1 - bin(psi[k])) * bins + bin(phi[k])] += 1;
  }
  let max = 0;
  for (const c of counts) max = Math.max(max, c);
  const values = Array.from(counts, (c) => (c > 0 ? Math.log(c) : -Infinity));
  return heatmapImage(values, bins, bins, Math.log(Math.max(max, 1)) + 1);
}

/**
 * The Ramachandran plot: the reference density `heat` (from `ramachandranImage`), the basin
 * boundaries (φ = 0; ψ = `alphaRPsi` on the φ ≤ 0 side) and the model's samples `angles`
 * (`[φ, ψ]` pairs in radians) as points. Non-finite pairs are skipped; returns how many
 * points were drawn.
 */
export function ramachandranPlot(canvas, { heat, angles, alphaRPsi, title }) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  const p = RAMA_PAD;
  const w = W - p.l - p.r;
  const h = H - p.t - p.b;
  const X = (phi) => p.l + ((phi + Math.PI) / (2 * Math.PI)) * w;
  const Y = (psi) => p.t + (1 - (psi + Math.PI) / (2 * Math.PI)) * h;
  ctx.fillStyle = '#fbfbfd';
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#0d0823';
  ctx.fillRect(p.l, p.t, w, h);
  ctx.imageSmoothingEnabled = false;
  if (heat) ctx.drawImage(heat, p.l, p.t, w, h);
  // basin boundaries and names
  ctx.strokeStyle = 'rgba(255,255,255,0.7)';
  ctx.lineWidth = 1.2;
  ctx.setLineDash([6, 4]);
  ctx.beginPath();
  ctx.moveTo(X(0), p.t);
  ctx.lineTo(X(0), p.t + h);
  for (const psi of alphaRPsi || []) {
    ctx.moveTo(X(-Math.PI), Y(psi));
    ctx.lineTo(X(0), Y(psi));
  }
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = 'rgba(255,255,255,0.9)';
  ctx.font = '13px system-ui, sans-serif';
  ctx.fillText('β / C7eq', X(-2.9), Y(2.9));
  ctx.fillText('αR', X(-2.9), Y(-0.3));
  ctx.fillText('αL, C7ax (φ > 0)', X(0.15), Y(2.9));
  // model samples
  let drawn = 0;
  const size = 4;
  for (let i = 0; i + 1 < angles.length; i += 2) {
    const [phi, psi] = [angles[i], angles[i + 1]];
    if (!Number.isFinite(phi) || !Number.isFinite(psi)) continue;
    const [px, py] = [X(phi), Y(psi)];
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(px - size / 2 - 0.75, py - size / 2 - 0.75, size + 1.5, size + 1.5);
    ctx.fillStyle = 'rgb(255,120,40)';
    ctx.fillRect(px - size / 2, py - size / 2, size, size);
    drawn += 1;
  }
  // axes
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(title, p.l, 18);
  ctx.fillStyle = '#555';
  ctx.font = '11px system-ui, sans-serif';
  for (const deg of [-180, -90, 0, 90, 180]) {
    const a = deg / DEG;
    const label = `${deg}°`;
    ctx.fillText(label, X(a) - ctx.measureText(label).width / 2, p.t + h + 14);
    ctx.fillText(label, p.l - 6 - ctx.measureText(label).width, Y(a) + 4);
  }
  ctx.fillText('φ (C–N–CA–C)', p.l + w / 2 - 36, H - 6);
  ctx.save();
  ctx.translate(12, p.t + h / 2 + 40);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('ψ (N–CA–C–N)', 0, 0);
  ctx.restore();
  return drawn;
}

/** CPK-like colours and radii (in nm) by element. */
const ATOM_STYLE = {
  H: { fill: '#f2f2f2', stroke: '#8a8a8a', r: 0.022 },
  C: { fill: '#505050', stroke: '#202020', r: 0.034 },
  N: { fill: '#3050f8', stroke: '#1a2c8c', r: 0.034 },
  O: { fill: '#ff2020', stroke: '#8c1010', r: 0.034 },
};

/**
 * One conformation as ball-and-stick: `pos` holds the 22 atoms' (x, y, z) in nm,
 * `elements` their element letters, `bonds` flattened index pairs; `rot` = {yaw, pitch}
 * (radians) turns the molecule about its centroid, drawn in orthographic projection with
 * the nearer atoms on top. A conformation with a non-finite coordinate is not drawn: the
 * canvas says so. Returns whether it was drawn.
 */
export function drawMolecule(canvas, { pos, elements, bonds, rot, title }) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  const H = canvas.height;
  ctx.fillStyle = '#fbfbfd';
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(title, 8, 16);
  const n = elements.length;
  if (!pos || pos.length < 3 * n || !Array.from(pos).every(Number.isFinite)) {
    ctx.fillStyle = '#b3261e';
    ctx.fillText(pos ? 'this sample has non-finite coordinates: nothing to draw' : 'no sample yet', 8, H / 2);
    return false;
  }
  let c = [0, 0, 0];
  for (let a = 0; a < n; a++) for (let k = 0; k < 3; k++) c[k] += pos[3 * a + k] / n;
  const [cy, sy, cp, sp] = [Math.cos(rot.yaw), Math.sin(rot.yaw), Math.cos(rot.pitch), Math.sin(rot.pitch)];
  const pts = [];
  let extent = 0;
  for (let a = 0; a < n; a++) {
    const [x, y, z] = [0, 1, 2].map((k) => pos[3 * a + k] - c[k]);
    const x1 = cy * x + sy * z;
    const z1 = -sy * x + cy * z;
    const y2 = cp * y - sp * z1;
    const z2 = sp * y + cp * z1;
    pts.push({ x: x1, y: y2, z: z2, a });
    extent = Math.max(extent, Math.hypot(x1, y2));
  }
  const scale = (0.42 * Math.min(W, H - 24)) / Math.max(extent, 0.05);
  const sx = (p) => W / 2 + p.x * scale;
  const syy = (p) => 12 + (H - 12) / 2 - p.y * scale;
  ctx.lineCap = 'round';
  ctx.strokeStyle = '#9a9aa6';
  ctx.lineWidth = Math.max(2, 0.018 * scale);
  for (let b = 0; b + 1 < bonds.length; b += 2) {
    const [p, q] = [pts[bonds[b]], pts[bonds[b + 1]]];
    if (!p || !q) continue;
    ctx.beginPath();
    ctx.moveTo(sx(p), syy(p));
    ctx.lineTo(sx(q), syy(q));
    ctx.stroke();
  }
  for (const p of [...pts].sort((u, v) => u.z - v.z)) {
    const st = ATOM_STYLE[elements[p.a]] || ATOM_STYLE.C;
    ctx.beginPath();
    ctx.arc(sx(p), syy(p), Math.max(2, st.r * scale), 0, 2 * Math.PI);
    ctx.fillStyle = st.fill;
    ctx.fill();
    ctx.strokeStyle = st.stroke;
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  ctx.fillStyle = '#555';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText('drag to rotate · H white, C grey, N blue, O red', 8, H - 6);
  return true;
}
