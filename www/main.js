// The playground page: controls (validated, mirrored in the URL), the worker that owns the
// wasm module, and drawing of the frames it posts. No framework, no bundler.

import { heatmapImage, drawScene, lineChart, fmt } from './draw.js';

/** Per-target view box (coordinates 0 and 1) and suggested base std σ. */
const PRESETS = {
  'gaussian': { half: 4, baseStd: 2 },
  'corr-gaussian': { half: 6, baseStd: 3 },
  'gmm40': { half: 50, baseStd: 20 },
  '9gmm': { half: 8, baseStd: 5 },
  '25gmm': { half: 14, baseStd: 8 },
  'funnel': { half: 10, baseStd: 3 },
  'manywell': { half: 3.5, baseStd: 2 },
};
const GRID = 160;           // heat-map cells per side
const MAX_PARTICLES = 200000;
const MAX_FLOATS = 4000000; // particles × dim, as in the wasm crate
const CONTROL_OF = { target: 'target', method: 'method', particles: 'n', dim: 'dim', base_std: 'base_std', cess: 'cess', mala_steps: 'mala', seed: 'seed' };

const $ = (id) => document.getElementById(id);
const ui = {
  target: $('target'), method: $('method'), n: $('n'), dim: $('dim'), baseStd: $('base_std'),
  cess: $('cess'), mala: $('mala'), seed: $('seed'), speed: $('speed'),
  start: $('start'), step: $('step'), reset: $('reset'), csv: $('csv'), randomSeed: $('random-seed'),
  scene: $('scene'), status: $('status'), fatal: $('fatal'), explain: $('explain'),
  chartLogZ: $('chart-logz'), chartEss: $('chart-ess'), chartBeta: $('chart-beta'), chartLoss: $('chart-loss'),
};

const app = {
  worker: null, ready: false, running: false, targets: [], heat: null, view: null,
  frame: null, frames: 0, lastResampledAt: -1, configured: false,
};
window.playground = app; // for the end-to-end test and curious learners

// ---------------------------------------------------------------- validation and URL

function setMsg(field, text) {
  const el = $(`msg-${field}`);
  if (el) el.textContent = text;
  const control = $(CONTROL_OF[field] || '');
  if (control) control.setAttribute('aria-invalid', text ? 'true' : 'false');
}

function clearMsgs() {
  for (const f of [...Object.keys(CONTROL_OF), 'run']) setMsg(f, '');
}

/** Parses an integer in [lo, hi]; returns [value, message]. */
function int(text, lo, hi, what) {
  const t = text.trim();
  if (t === '') return [null, `${what} is required`];
  if (!/^[+-]?\d+$/.test(t)) return [null, `${what} must be a whole number, not “${t.slice(0, 20)}”`];
  const v = Number(t);
  if (v < lo || v > hi) return [null, `${what} must be between ${lo} and ${hi}`];
  return [v, ''];
}

function num(text, ok, what, range) {
  const t = text.trim();
  if (t === '') return [null, `${what} is required`];
  const v = Number(t);
  if (!Number.isFinite(v)) return [null, `${what} must be a number, not “${t.slice(0, 20)}”`];
  if (!ok(v)) return [null, `${what} must be ${range}`];
  return [v, ''];
}

/** Reads and validates every control; shows messages; returns settings or null. */
function readSettings() {
  clearMsgs();
  let ok = true;
  const check = (field, [v, msg]) => { if (msg) { setMsg(field, msg); ok = false; } return v; };
  const target = ui.target.value;
  if (!PRESETS[target]) { setMsg('target', 'choose a target from the list'); ok = false; }
  if (ui.method.value !== 'smc') { setMsg('method', 'only annealed SMC is available so far'); ok = false; }
  const n = check('particles', int(ui.n.value, 1, MAX_PARTICLES, 'particles'));
  let dim = 0;
  if (ui.dim.value.trim() !== '') dim = check('dim', int(ui.dim.value, 2, 4096, 'dimension'));
  const info = app.targets.find((t) => t.name === target);
  const d = dim || (info ? info.default_dim : 2);
  if (ok && n * d > MAX_FLOATS) {
    setMsg('particles', `too many for memory: ${n} particles × ${d} dimensions = ${n * d} numbers (limit ${MAX_FLOATS})`);
    ok = false;
  }
  const baseStd = check('base_std', num(ui.baseStd.value, (v) => v > 0 && v <= 1e4, 'base std', 'in (0, 10000]'));
  const cess = check('cess', num(ui.cess.value, (v) => v > 0 && v < 1, 'target ESS', 'strictly between 0 and 1'));
  const mala = check('mala_steps', int(ui.mala.value, 0, 100, 'MALA steps'));
  const seed = check('seed', int(ui.seed.value, 0, 4294967295, 'seed'));
  return ok ? { target, method: 'smc', n, dim, baseStd, cess, mala, seed } : null;
}

function writeUrl(s) {
  const p = new URLSearchParams();
  p.set('target', s.target);
  p.set('method', s.method);
  p.set('n', String(s.n));
  if (s.dim) p.set('dim', String(s.dim));
  p.set('base_std', String(s.baseStd));
  p.set('cess', String(s.cess));
  p.set('mala', String(s.mala));
  p.set('seed', String(s.seed));
  p.set('speed', ui.speed.value);
  history.replaceState(null, '', `?${p}`);
}

function readUrl() {
  const p = new URLSearchParams(location.search);
  const set = (el, key) => { if (p.has(key)) el.value = p.get(key); };
  if (p.has('target')) ui.target.value = p.get('target');
  if (!PRESETS[ui.target.value]) ui.target.value = 'gmm40';
  ui.baseStd.value = String(PRESETS[ui.target.value].baseStd);
  set(ui.n, 'n'); set(ui.dim, 'dim'); set(ui.baseStd, 'base_std'); set(ui.cess, 'cess');
  set(ui.mala, 'mala'); set(ui.seed, 'seed');
  if (p.has('method') && [...ui.method.options].some((o) => o.value === p.get('method'))) ui.method.value = p.get('method');
  if (p.has('speed') && [...ui.speed.options].some((o) => o.value === p.get('speed'))) ui.speed.value = p.get('speed');
}

// ---------------------------------------------------------------- worker

function showFatal(message) {
  ui.fatal.hidden = false;
  ui.fatal.textContent = `Something went wrong inside the sampler: ${message}\nA fresh worker was started with the same settings; changing a setting, Start or Reset hides this message.`;
  ui.status.dataset.state = 'error';
  setRunning(false);
  startWorker(); // a trapped module is not trusted: start a fresh one
}

function startWorker() {
  if (app.worker) app.worker.terminate();
  app.ready = false;
  app.configured = false;
  setButtons();
  const w = new Worker('./worker.js', { type: 'module' });
  app.worker = w;
  w.onmessage = (ev) => onMessage(ev.data);
  w.onerror = (ev) => {
    ev.preventDefault();
    if (w === app.worker) {
      ui.fatal.hidden = false;
      ui.fatal.textContent = `The worker failed to start: ${ev.message || 'unknown error'} (is www/pkg built? run \`cargo xtask serve\`)`;
      ui.status.dataset.state = 'error';
    }
  };
}

function onMessage(m) {
  switch (m.type) {
    case 'ready':
      app.ready = true;
      app.targets = m.targets;
      fillTargetDescriptions();
      configure();
      break;
    case 'grid':
      app.heat = heatmapImage(m.values, m.nx, m.ny);
      app.view = m.view;
      app.frame = null;
      app.configured = true;
      setButtons();
      break;
    case 'frame':
      app.frame = m;
      app.frames += 1;
      render();
      break;
    case 'state':
      setRunning(m.running);
      break;
    case 'seed':
      ui.seed.value = String(m.seed);
      configure();
      break;
    case 'csv':
      download(`${m.target}-particles.csv`, m.text);
      break;
    case 'error':
      if (CONTROL_OF[m.field] || m.field === 'run') setMsg(m.field, m.message);
      else setMsg('run', `${m.field}: ${m.message}`);
      if (m.field !== 'run') { app.configured = false; setButtons(); markStale(); }
      ui.status.dataset.state = 'error';
      break;
    case 'fatal':
      showFatal(m.message);
      break;
    default:
      break;
  }
}

function configure() {
  if (!app.ready) return;
  const s = readSettings();
  app.configured = false;
  setButtons();
  if (!s) {
    markStale();
    ui.status.dataset.state = 'invalid';
    return;
  }
  ui.scene.classList.remove('stale');
  writeUrl(s);
  const half = PRESETS[s.target].half;
  const view = { xmin: -half, xmax: half, ymin: -half, ymax: half, nx: GRID, ny: GRID };
  app.lastResampledAt = -1;
  app.worker.postMessage({ type: 'config', settings: s, view });
  renderExplain();
}

/** Greys out the views: they show the last valid run, not the current settings. */
function markStale() {
  ui.scene.classList.add('stale');
  ui.status.textContent = 'The settings need fixing: see the message next to the highlighted control.\nThe picture shows the last valid run.';
}

function setRunning(r) {
  app.running = r;
  ui.start.textContent = r ? 'Pause' : 'Start';
  setButtons();
}

function setButtons() {
  const ok = app.ready && app.configured;
  const done = app.frame && app.frame.stats.done;
  ui.start.disabled = !ok || (!app.running && done);
  ui.step.disabled = !ok || app.running || done;
  ui.reset.disabled = !app.ready;
  ui.csv.disabled = !ok;
  ui.randomSeed.disabled = !app.ready;
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------- drawing

function render() {
  const f = app.frame;
  if (!f || !app.view) return;
  const s = f.stats;
  const t = f.traces;
  const last = t.resampled.length - 1;
  const flash = last > 0 && t.resampled[last] === 1;
  drawScene(ui.scene, app.heat, app.view, f, flash);
  const markers = [];
  t.resampled.forEach((v, i) => { if (v === 1) markers.push(i); });
  lineChart(ui.chartLogZ, {
    title: 'log Ẑ (running estimate) vs temperature step',
    series: [{ values: Array.from(t.logZ), colour: '#1f6fb2' }],
    hline: { y: s.logZTrue, colour: '#2a9d3a', label: `true log Z = ${fmt(s.logZTrue)}` },
  });
  lineChart(ui.chartEss, {
    title: 'ESS / N after reweighting (red: resampled)',
    series: [{ values: Array.from(t.ess), colour: '#d9641e' }],
    hline: { y: 0.3, colour: '#999', label: 'resample below 0.3' },
    markers, yRange: [0, 1.05],
  });
  lineChart(ui.chartBeta, {
    title: 'inverse temperature β',
    series: [{ values: Array.from(t.beta), colour: '#7b3fb5' }],
    yRange: [0, 1.05],
  });
  lineChart(ui.chartLoss, {
    title: 'training loss', series: [],
    empty: 'none: annealed SMC does not train (learnt samplers will)',
  });
  const state = s.done ? 'done' : app.running ? 'running' : 'paused';
  ui.status.dataset.state = state;
  ui.status.dataset.beta = String(s.beta);
  ui.status.dataset.logz = String(s.logZ);
  const truth = Number.isFinite(s.logZTrue) ? ` (true ${fmt(s.logZTrue)}, error ${fmt(s.logZ - s.logZTrue)})` : ' (true value unknown)';
  ui.status.textContent =
    `${state}: ${s.target}, d = ${s.dim}, N = ${s.n}\n` +
    `β = ${fmt(s.beta)}   temperatures ${s.temperatures}   resamples ${s.resamples}\n` +
    `log Ẑ = ${fmt(s.logZ)}${truth}\n` +
    `ESS = ${s.ess.toFixed(0)} (${(100 * s.essFraction).toFixed(0)}%)   MALA acceptance ${(100 * s.acceptance).toFixed(0)}%   step ${fmt(s.stepSize)}`;
  setButtons();
}

// ---------------------------------------------------------------- explanation

function fillTargetDescriptions() {
  for (const o of ui.target.options) {
    const info = app.targets.find((t) => t.name === o.value);
    if (info) o.title = info.description;
  }
}

function renderExplain() {
  const info = app.targets.find((t) => t.name === ui.target.value);
  const targetLine = info
    ? `<p><b>${info.name}</b>: ${escapeHtml(info.description)} (default dimension ${info.default_dim}; accepted: ${escapeHtml(info.dims)}).</p>`
    : '';
  ui.explain.innerHTML = `
<h2>What you are looking at: annealed SMC</h2>
<p>We want samples from a density <i>p(x) = R(x) / Z</i> known only up to its normalising constant <i>Z</i>.
Annealed sequential Monte Carlo starts <i>N</i> particles from an easy base <i>N(0, σ² I)</i> and moves them along
the path <i>π<sub>β</sub>(x) ∝ p<sub>0</sub>(x)<sup>1−β</sup> R(x)<sup>β</sup></i> from β = 0 (the base) to β = 1 (the target).
Each temperature step has four parts:</p>
<ol>
<li><b>Choose the next β</b> as large as possible while the conditional effective sample size stays at the target fraction (bisection).</li>
<li><b>Reweight</b> every particle by <i>(β′ − β)(log R − log p<sub>0</sub>)</i> and add the log of the mean weight to the running estimate log Ẑ.
Its exponential Ẑ is an unbiased estimate of <i>Z</i>: the top chart compares it with the true value.</li>
<li><b>Resample</b> (systematic) when ESS/N falls below 0.3: heavy particles are copied, light ones dropped (red ticks, red frame).</li>
<li><b>Move</b> every particle with a few MALA steps (Langevin proposal + Metropolis test) that leave π<sub>β′</sub> invariant; the step size adapts toward 57% acceptance.</li>
</ol>
<p>The picture is the target's log density over coordinates <i>x0</i> and <i>x1</i>, bright = likely. For targets of higher dimension
(manywell, funnel, gmm40 with dim &gt; 2) it is the 2-D slice with every other coordinate at 0, and the particles are
projected onto <i>(x0, x1)</i>, so they need not sit exactly on the bright regions of the slice.
Particles are coloured by their normalised weight <i>w</i> relative to the uniform 1/N: pale = negligible (w·N ≤ 0.1), orange = average (w·N ≈ 1), red = heavy (w·N ≥ 10).</p>
${targetLine}
<h3>The controls</h3>
<dl>
<dt>Particles N</dt><dd>More particles: a less noisy log Ẑ and better mode coverage, slower steps (at most 200 000, and N × dim ≤ 4 000 000).</dd>
<dt>Base std σ</dt><dd>Width of the starting Gaussian. It must cover the target's modes (20 for gmm40, whose means lie in [−40, 40]²) or whole modes are never found.</dd>
<dt>Target conditional ESS</dt><dd>How much weight degeneracy one temperature step may cause. Higher: more, smaller steps.</dd>
<dt>MALA steps</dt><dd>Moves per temperature. 0 gives importance sampling with resampling only; particles then never leave their starting points.</dd>
<dt>Seed</dt><dd>Fixes the random stream (xoshiro256++): the same settings and seed give the same run on every machine.</dd>
<dt>Speed</dt><dd>Temperatures per second; the work runs in a Web Worker so the page stays responsive.</dd>
</dl>
<h3>Read more</h3>
<ul>
<li>Del Moral, Doucet &amp; Jasra (2006), <i>Sequential Monte Carlo samplers</i>.</li>
<li>Neal (2001), <i>Annealed importance sampling</i>.</li>
<li>Jasra, Stephens, Doucet &amp; Tsagaris (2011), <i>Inference for Lévy-driven stochastic volatility models via adaptive SMC</i>; Zhou, Johansen &amp; Aston (2016), <i>Toward automatic model comparison: an adaptive SMC approach</i>.</li>
<li>Roberts &amp; Rosenthal (1998), <i>Optimal scaling of discrete approximations to Langevin diffusions</i>.</li>
<li>Coming here next, the learnt samplers: Choi et al. (2025), <i>Reinforced Sequential Monte Carlo</i>; Malkin et al. (2022), <i>Trajectory balance</i>; Sendera et al. (2024), <i>Improved off-policy training of diffusion samplers</i>; Kim et al. (ICLR 2025), <i>Adaptive teachers for amortized samplers</i>; Yoon et al. (2025), <i>Value Gradient Sampler</i>.</li>
</ul>`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

// ---------------------------------------------------------------- wiring

for (const name of Object.keys(PRESETS)) {
  const o = document.createElement('option');
  o.value = name;
  o.textContent = name;
  ui.target.appendChild(o);
}
readUrl();

ui.target.addEventListener('change', () => {
  ui.fatal.hidden = true;
  ui.baseStd.value = String(PRESETS[ui.target.value]?.baseStd ?? 1);
  ui.dim.value = '';
  configure();
});
for (const el of [ui.method, ui.n, ui.dim, ui.baseStd, ui.cess, ui.mala, ui.seed]) {
  el.addEventListener('change', () => { ui.fatal.hidden = true; configure(); });
}
ui.speed.addEventListener('change', () => {
  app.worker.postMessage({ type: 'speed', speed: ui.speed.value });
  const s = readSettings();
  if (s) writeUrl(s);
});
ui.start.addEventListener('click', () => {
  ui.fatal.hidden = true;
  if (app.running) app.worker.postMessage({ type: 'pause' });
  else app.worker.postMessage({ type: 'start', speed: ui.speed.value });
});
ui.step.addEventListener('click', () => app.worker.postMessage({ type: 'step' }));
ui.reset.addEventListener('click', () => {
  ui.fatal.hidden = true;
  configure();
});
ui.randomSeed.addEventListener('click', () => app.worker.postMessage({ type: 'random-seed' }));
ui.csv.addEventListener('click', () => app.worker.postMessage({ type: 'csv' }));
$('controls').addEventListener('submit', (e) => e.preventDefault());

app.debugTrap = () => app.worker.postMessage({ type: 'trap' });
renderExplain();
startWorker();
