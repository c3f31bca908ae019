// The playground page: controls (validated, mirrored in the URL), the worker that owns the
// wasm module, and drawing of the frames it posts. No framework, no bundler.

import {
  heatmapImage, drawScene, lineChart, fmt, gridPair, barChart, ramachandranImage, ramachandranPlot, drawMolecule,
} from './draw.js';

const TRAINED = ['tb', 'tb-buffer', 'rsmc'];
/** Discrete settings: wasm field name → control id (messages go to `msg-d-<field>`). */
const DCONTROL = {
  iters: 'd_iters', batch: 'd_batch', hidden: 'd_hidden', lr: 'd_lr', epsilon: 'd_epsilon', buffer: 'd_buffer',
  side: 'd_side', len: 'd_len', alphabet: 'd_alphabet', modes: 'd_modes', teacher_alpha: 'd_alpha',
  eval_every: 'd_eval_every', eval_samples: 'd_eval_samples',
};
/**
 * The targets come from wasm (`target_list`: the kernel's registry and the discrete
 * environments, with the settings layer's σ and what the page offers on each, `page`); the
 * page repeats no target list.
 */
const targetInfo = (t) => app.targets.find((x) => x.name === t);
const isDiscreteTarget = (t) => targetInfo(t)?.kind === 'discrete';
/** Whether `t` has a view of its own (`page.view`: aldp's) rather than the 2-D one. */
const isAldpTarget = (t) => targetInfo(t)?.page?.view === 'aldp';
/** The targets of `kind` the page offers in its 2-D views, with `method` if given. */
const pageTargets = (kind, method) => app.targets
  .filter((t) => t.kind === kind && t.page && !t.page.view && (!method || t.page.methods.includes(method))).map((t) => t.name);
/** `a, b or c`. */
const orList = (xs) => (xs.length > 1 ? `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}` : xs.join(''));
/** The methods the page runs on targets of `kind`. */
const pageMethods = (kind) => [...new Set(app.targets.filter((t) => t.kind === kind && t.page).flatMap((t) => t.page.methods))];
/** VGS settings (wasm field → control id; messages in `msg-v-<field>`). */
const VCONTROL = { iters: 'v_iters', steps: 'v_steps', batch: 'v_batch', hidden: 'v_hidden', lr: 'v_lr' };
const GRID = 160;           // heat-map cells per side
const MAX_PARTICLES = 200000;
const MAX_FLOATS = 4000000; // particles × dim, as in the wasm crate
const CONTROL_OF = {
  target: 'target', method: 'method', particles: 'n', dim: 'dim', base_std: 'base_std', cess: 'cess',
  mala_steps: 'mala', seed: 'seed', iters: 'iters', batch: 'batch', steps: 'steps', reference: 'reference',
  sigma: 'sigma', hidden: 'hidden', lr: 'lr', buffer: 'buffer', prefill: 'prefill', chunk: 'chunk',
  langevin: 'lp', workers: 'workers', grad_chunks: 'grad_chunks',
};

const $ = (id) => document.getElementById(id);
const ui = {
  molecule: $('molecule'), nextSample: $('next-sample'), basins: $('basins'),
  target: $('target'), method: $('method'), n: $('n'), dim: $('dim'), baseStd: $('base_std'),
  cess: $('cess'), mala: $('mala'), seed: $('seed'), speed: $('speed'),
  iters: $('iters'), batch: $('batch'), steps: $('steps'), reference: $('reference'), sigma: $('sigma'),
  hidden: $('hidden'), lr: $('lr'), buffer: $('buffer'), prefill: $('prefill'), chunk: $('chunk'),
  lp: $('lp'), workers: $('workers'), gradChunks: $('grad_chunks'), start: $('start'), step: $('step'), reset: $('reset'), csv: $('csv'), randomSeed: $('random-seed'),
  scene: $('scene'), status: $('status'), fatal: $('fatal'), explain: $('explain'),
  chartLogZ: $('chart-logz'), chartEss: $('chart-ess'), chartBeta: $('chart-beta'), chartLoss: $('chart-loss'),
};

const app = {
  worker: null, ready: false, running: false, targets: [], heat: null, view: null,
  frame: null, frames: 0, lastResampledAt: -1, configured: false,
  tframe: null, trainedInWorker: false, kind: 'smc', dgrid: null, dframe: null, vframe: null,
  aframe: null, aldpInit: null, aldpRef: null, aldpHeat: null, rot: { yaw: 0.6, pitch: 0.3 }, pick: 0,
};
window.playground = app; // for the end-to-end test and curious learners

// ---------------------------------------------------------------- validation and URL

function setMsg(field, text) {
  const discrete = isDiscreteTarget(ui.target.value) && DCONTROL[field];
  const vgs = !discrete && ui.method.value === 'vgs' && VCONTROL[field];
  const el = $(discrete ? `msg-d-${field}` : vgs ? `msg-v-${field}` : `msg-${field}`);
  if (el) el.textContent = text;
  const control = $((discrete ? DCONTROL[field] : vgs ? VCONTROL[field] : CONTROL_OF[field]) || '');
  if (control) control.setAttribute('aria-invalid', text ? 'true' : 'false');
}

function clearMsgs() {
  for (const f of [...Object.keys(CONTROL_OF), 'run']) {
    const el = $(`msg-${f}`);
    if (el) el.textContent = '';
    const c = $(CONTROL_OF[f] || '');
    if (c) c.setAttribute('aria-invalid', 'false');
  }
  for (const [f, id] of Object.entries(DCONTROL)) {
    $(`msg-d-${f}`).textContent = '';
    $(id).setAttribute('aria-invalid', 'false');
  }
  for (const [f, id] of Object.entries(VCONTROL)) {
    $(`msg-v-${f}`).textContent = '';
    $(id).setAttribute('aria-invalid', 'false');
  }
}

/**
 * The VGS settings: the controls' text as VgsPlayground's `key=value&…` query. As for the
 * trained methods, wasm checks every value (the settings layer's ranges) and its message
 * comes back for the control.
 */
function readVgsSettings(target, okSoFar) {
  if (!pageTargets('continuous', 'vgs').includes(target)) {
    setMsg('target', `vgs runs on the 2-D mixtures here: ${pageTargets('continuous', 'vgs').join(', ')}`);
    return null;
  }
  if (!okSoFar) return null;
  const v = (id) => $(id).value.trim();
  const query = new URLSearchParams({ target, method: 'vgs', seed: ui.seed.value.trim(), iters: v('v_iters'),
    steps: v('v_steps'), batch: v('v_batch'), hidden: v('v_hidden'), lr: v('v_lr') }).toString();
  return { kind: 'vgs', target, method: 'vgs', query };
}

/** The discrete settings; `query` is DiscretePlayground's `key=value&…` string. */
function readDiscreteSettings(target, method, check, okSoFar) {
  let ok = okSoFar;
  if (!pageMethods('discrete').includes(method)) {
    setMsg('method', `the discrete targets train GFlowNets: ${orList(pageMethods('discrete'))} (not ${method})`);
    ok = false;
  }
  const c = (field, r) => { const v = check(field, r); if (r[1]) ok = false; return v; };
  const d = (id) => $(id).value;
  const s = {
    kind: 'discrete', target, method,
    seed: c('seed', int(ui.seed.value, 0, 4294967295, 'seed')),
    iters: c('iters', int(d('d_iters'), 1, 100000, 'iterations')),
    batch: c('batch', int(d('d_batch'), 1, 1024, 'batch')),
    hidden: c('hidden', int(d('d_hidden'), 1, 512, 'hidden width')),
    lr: c('lr', num(d('d_lr'), (v) => v >= 1e-7 && v <= 1, 'learning rate', 'in [1e-7, 1]')),
    epsilon: c('epsilon', num(d('d_epsilon'), (v) => v >= 0 && v <= 1, 'ε', 'in [0, 1]')),
    buffer: c('buffer', int(d('d_buffer'), 0, 1000000, 'buffer capacity')),
    teacher_alpha: method === 'teacher' ? c('teacher_alpha', num(d('d_alpha'), (v) => v >= 0 && v <= 10, 'α', 'in [0, 10]')) : 0,
    eval_every: c('eval_every', int(d('d_eval_every'), 1, 100000, 'evaluation interval')),
    eval_samples: c('eval_samples', int(d('d_eval_samples'), 16, 100000, 'samples per evaluation')),
  };
  if (target === 'sequence') {
    s.len = c('len', int(d('d_len'), 1, 20, 'length'));
    s.alphabet = c('alphabet', int(d('d_alphabet'), 2, 26, 'alphabet size'));
    s.modes = c('modes', int(d('d_modes'), 1, 16, 'modes'));
    if (ok && s.alphabet ** s.len > 65536) {
      setMsg('len', `${s.alphabet}^${s.len} sequences are too many to enumerate and draw here (at most 65536)`);
      ok = false;
    }
  } else {
    s.side = c('side', int(d('d_side'), 2, 64, 'side'));
  }
  if (!ok) return null;
  const q = { target, method, seed: s.seed, iters: s.iters, batch: s.batch, hidden: s.hidden, lr: s.lr,
    epsilon: s.epsilon, buffer: s.buffer, eval_every: s.eval_every, eval_samples: s.eval_samples };
  if (method === 'teacher') q.teacher_alpha = s.teacher_alpha;
  if (target === 'sequence') Object.assign(q, { len: s.len, alphabet: s.alphabet, modes: s.modes });
  else q.side = s.side;
  s.query = new URLSearchParams(q).toString();
  return s;
}

/** The settings layer's default reference σ of a target the trained methods run on, or null. */
function defaultSigma(target) {
  return pageTargets('continuous', TRAINED[0]).includes(target) ? targetInfo(target).sigma : null;
}

/**
 * The trained methods' settings: the controls' text as TrainPlayground's `key=value&…`
 * query. The page repeats none of the settings' rules: wasm checks every value (ranges,
 * the OU step minimum, the chunk rule, memory) and its message comes back for the control.
 */
function readTrainSettings(target, method, check, okSoFar) {
  if (!pageTargets('continuous', method).includes(target)) {
    setMsg('target', `${method} trains on the 2-D targets: ${pageTargets('continuous', method).join(', ')}`);
    return null;
  }
  const workers = Number(ui.workers.value);
  let gradChunks = workers === 2 ? DEFAULT_CHUNKS : 0;
  if (ui.gradChunks.value.trim() !== '') gradChunks = check('grad_chunks', int(ui.gradChunks.value, 1, 64, 'gradient chunks'));
  if (!okSoFar || gradChunks === null) return null;
  return { target, method, query: trainQuery(target, method), workers, gradChunks };
}

/** Gradient chunks of a two-worker run when the control is blank (the CLI's `--threads` default). */
const DEFAULT_CHUNKS = 8;

/**
 * The trained methods' controls as the query of TrainPlayground and AldpPlayground (wasm
 * checks every value). A blank σ takes the target's (or the view's) default; controls a
 * method does not show keep the playground's defaults.
 */
function trainQuery(target, method) {
  const v = (el) => el.value.trim();
  const q = {
    target, method, seed: v(ui.seed), iters: v(ui.iters), batch: v(ui.batch), steps: v(ui.steps),
    reference: ui.reference.value, sigma: v(ui.sigma), hidden: v(ui.hidden), flow_hidden: v(ui.hidden),
    harmonics: 16, lr: v(ui.lr), exploration: 0, langevin: ui.lp.checked ? 1 : 0,
  };
  if (q.sigma === '') delete q.sigma;
  if (method !== 'tb') q.buffer = v(ui.buffer);
  if (method === 'rsmc') Object.assign(q, { particles: v(ui.n), prefill: v(ui.prefill), chunk: v(ui.chunk) });
  return new URLSearchParams(q).toString();
}

/**
 * The ALDP view's settings: the trained methods' controls as AldpPlayground's query (wasm
 * checks every value, as for the 2-D targets).
 */
function readAldpSettings(target, method, okSoFar) {
  const methods = targetInfo(target).page.methods;
  if (!methods.includes(method)) {
    setMsg('method', `aldp trains with ${orList(methods)} here (not ${method})`);
    return null;
  }
  if (!okSoFar) return null;
  return { kind: 'aldp', target, method, query: trainQuery(target, method) };
}

/** Puts the ALDP view's defaults (from wasm's `target_list`) into the trained methods' controls. */
function applyAldpDefaults() {
  const d = targetInfo('aldp').page.defaults;
  ui.method.value = d.method;
  for (const k of ['iters', 'batch', 'steps', 'sigma', 'hidden', 'lr', 'buffer', 'prefill', 'chunk']) ui[k].value = String(d[k]);
  ui.n.value = String(d.particles);
  ui.lp.checked = d.langevin === 1;
}

/** The HTML's own values of the trained methods' controls, restored when leaving the ALDP view. */
const HTML_DEFAULTS = Object.fromEntries(['iters', 'batch', 'steps', 'sigma', 'hidden', 'lr', 'buffer', 'prefill', 'chunk']
  .map((k) => [k, ui[k].value]));
const HTML_LP = ui.lp.checked;

/** The 2-D defaults back in the controls (the method stays; trained methods take 128 particles, as from a URL). */
function restoreHtmlDefaults() {
  for (const [k, v] of Object.entries(HTML_DEFAULTS)) ui[k].value = v;
  ui.lp.checked = HTML_LP;
  ui.n.value = TRAINED.includes(ui.method.value) ? '128' : '2000';
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
  const method = ui.method.value;
  if (isDiscreteTarget(target)) return readDiscreteSettings(target, method, check, ok);
  if (isAldpTarget(target)) return readAldpSettings(target, method, ok);
  if (!targetInfo(target)?.page) { setMsg('target', 'choose a target from the list'); ok = false; }
  if (method === 'vgs') return readVgsSettings(target, ok);
  if (!pageMethods('continuous').includes(method)) {
    setMsg('method', `${method} trains GFlowNets on the discrete targets: ${pageTargets('discrete').join(', ')}`);
    return null;
  }
  if (TRAINED.includes(method)) return readTrainSettings(target, method, check, ok);
  if (method !== 'smc') { setMsg('method', 'not available yet'); ok = false; }
  const n = check('particles', int(ui.n.value, 1, MAX_PARTICLES, 'particles'));
  let dim = 0;
  if (ui.dim.value.trim() !== '') dim = check('dim', int(ui.dim.value, 2, 4096, 'dimension'));
  const info = targetInfo(target);
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
  if (s.kind === 'discrete' || s.kind === 'vgs') {
    const p = new URLSearchParams(s.query);
    p.set('speed', ui.speed.value);
    history.replaceState(null, '', `?${p}`);
    return;
  }
  if (s.query) {
    const p = new URLSearchParams(s.query);
    for (const k of ['flow_hidden', 'harmonics', 'exploration']) p.delete(k);
    if (p.has('particles')) p.set('n', p.get('particles'));
    p.delete('particles');
    if (s.workers === 2) p.set('workers', '2');
    if ('workers' in s && ui.gradChunks.value.trim() !== '') p.set('grad_chunks', ui.gradChunks.value.trim());
    p.set('speed', ui.speed.value);
    history.replaceState(null, '', `?${p}`);
    return;
  }
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
  if (!targetInfo(ui.target.value)?.page) ui.target.value = 'gmm40';
  if (isDiscreteTarget(ui.target.value)) {
    for (const [k, id] of Object.entries(DCONTROL)) if (p.has(k)) $(id).value = p.get(k);
    set(ui.seed, 'seed');
    if (p.has('method') && pageMethods('discrete').includes(p.get('method'))) ui.method.value = p.get('method');
    else ui.method.value = 'tb';
    if (p.has('speed') && [...ui.speed.options].some((o) => o.value === p.get('speed'))) ui.speed.value = p.get('speed');
    return;
  }
  if (isAldpTarget(ui.target.value)) applyAldpDefaults();
  else ui.baseStd.value = String(targetInfo(ui.target.value).page.base_std);
  if (p.get('method') === 'vgs') for (const [k, id] of Object.entries(VCONTROL)) if (p.has(k)) $(id).value = p.get(k);
  set(ui.n, 'n'); set(ui.dim, 'dim'); set(ui.baseStd, 'base_std'); set(ui.cess, 'cess');
  set(ui.mala, 'mala'); set(ui.seed, 'seed');
  app.urlSigma = p.has('sigma');
  for (const k of ['iters', 'batch', 'steps', 'sigma', 'hidden', 'lr', 'buffer', 'prefill', 'chunk']) set(ui[k], k);
  if (p.has('reference') && ['ou', 'pinned'].includes(p.get('reference'))) ui.reference.value = p.get('reference');
  if (p.has('langevin')) ui.lp.checked = p.get('langevin') !== '0';
  if (['1', '2'].includes(p.get('workers'))) ui.workers.value = p.get('workers');
  set(ui.gradChunks, 'grad_chunks');
  if (TRAINED.includes(p.get('method')) && !p.has('n') && !isAldpTarget(ui.target.value)) ui.n.value = '128';
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
  app.trainedInWorker = false;
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

/** The renderer of each frame message type (SMC, training, discrete, VGS). */
const RENDER = { frame: render, tframe: renderTrain, dframe: renderDiscrete, vframe: renderVgs, aframe: renderAldp };

function onMessage(m) {
  switch (m.type) {
    case 'ready':
      app.ready = true;
      if (!app.targets.length) {
        // the first worker's list builds the menu; the URL then picks from it
        app.targets = m.targets;
        fillTargetMenu();
        readUrl();
        lastTarget = ui.target.value;
        syncKind();
      }
      // the σ control shows the settings layer's default unless the URL gave one
      if (!app.urlSigma && defaultSigma(ui.target.value) !== null) ui.sigma.value = String(defaultSigma(ui.target.value));
      configure();
      break;
    case 'grid':
      app.heat = heatmapImage(m.values, m.nx, m.ny);
      app.view = m.view;
      app.frame = null;
      app.tframe = null;
      app.configured = true;
      setButtons();
      break;
    case 'frame':
    case 'tframe':
    case 'dframe':
    case 'vframe':
    case 'aframe':
      // a playground's frame: kept under its type's name and drawn by its renderer
      app[m.type] = m;
      app.frames += 1;
      RENDER[m.type]();
      break;
    case 'aldp-init':
      app.aldpInit = m;
      app.aframe = null;
      app.pick = 0;
      app.configured = true;
      setButtons();
      break;
    case 'dgrid':
      app.dgrid = m;
      app.dframe = null;
      app.configured = true;
      setButtons();
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
      if (CONTROL_OF[m.field] || DCONTROL[m.field] || VCONTROL[m.field] || m.field === 'run') setMsg(m.field, m.message);
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
  if (app.trainedInWorker) {
    // Every handle owns and frees its memory (wasm-demo's Node test starts 100 runs in one
    // instance without growing it); a fresh worker per training run still keeps runs apart,
    // so a trapped module never carries over into the next run.
    startWorker();
    return;
  }
  app.kind = ['discrete', 'vgs', 'aldp'].includes(s.kind) ? s.kind : s.query ? 'train' : 'smc';
  syncKind();
  if (s.query) app.trainedInWorker = true;
  ui.scene.classList.remove('stale');
  writeUrl(s);
  if (app.kind === 'discrete' || app.kind === 'aldp') {
    if (app.kind === 'aldp') loadAldpReference();
    app.worker.postMessage({ type: 'config', settings: s, view: null });
    renderExplain();
    return;
  }
  const half = targetInfo(s.target).page.half;
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
  const cur = { train: app.tframe, discrete: app.dframe, vgs: app.vframe, aldp: app.aframe }[app.kind] || app.frame;
  const done = cur && cur.stats.done;
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

/** Every k-th value, so long histories draw quickly. */
function thin(values, max = 1500) {
  const a = Array.from(values);
  if (a.length <= max) return a;
  const k = Math.ceil(a.length / max);
  return a.filter((_, i) => i % k === 0 || i === a.length - 1);
}

/** Running median of log10(values) over a trailing window: the trend under the on-policy spikes. */
function movingMedianLog10(values) {
  const n = values.length;
  const w = Math.max(9, Math.min(101, Math.floor(n / 20) | 1));
  const out = new Array(n).fill(NaN);
  const step = Math.max(1, Math.floor(n / 1500));
  for (let i = w - 1; i < n; i += step) {
    const win = [];
    for (let j = i - w + 1; j <= i; j++) if (values[j] > 0) win.push(Math.log10(values[j]));
    win.sort((a, b) => a - b);
    if (win.length) out[i] = win[win.length >> 1];
  }
  return out;
}

/** log10 of the thinned `values` (NaN where not positive), for the loss charts. */
function logLoss(values) {
  return thin(values).map((v) => (v > 0 ? Math.log10(v) : NaN));
}

/** The loss chart's series: `loss` (red), optionally `under` it (grey), and the loss's median (black). */
function lossSeries(loss, under) {
  const series = [{ values: logLoss(loss), colour: 'rgba(179,38,30,0.45)' }];
  if (under) series.unshift({ values: logLoss(under), colour: 'rgba(150,150,150,0.5)' });
  series.push({ values: thin(movingMedianLog10(loss)), colour: '#1d1d28' });
  return series;
}

/**
 * Writes the status fields every trained playground reports (state, iteration, loss,
 * parameter checksum, and the playground's `extra` fields); returns the run state and the
 * iterations-per-second text.
 */
function runStatus(s, extra) {
  const state = s.done ? 'done' : app.running ? 'running' : 'paused';
  const common = { state, iteration: String(s.iteration), loss: String(s.loss), checksum: s.checksum };
  Object.assign(ui.status.dataset, common, extra);
  const rate = s.seconds > 0 && s.iteration > 0 ? ` · ${(s.iteration / s.seconds).toFixed(0)} it/s · ${s.seconds.toFixed(0)} s` : '';
  return { state, rate };
}

function renderTrain() {
  const f = app.tframe;
  if (!f || !app.view) return;
  const s = f.stats;
  const h = f.hist;
  drawScene(ui.scene, app.heat, app.view, f, false);
  const len = h.loss.length;
  const isSeries = new Float32Array(len).fill(NaN);
  const isEss = new Float32Array(len).fill(NaN);
  for (const [it, lz, ess] of f.isTrace) {
    if (it >= 1 && it <= len) { isSeries[it - 1] = lz; isEss[it - 1] = ess; }
  }
  const method = ui.method.value;
  const series = [{ values: thin(h.logZ), colour: '#1f6fb2' }];
  if (method === 'rsmc') series.push({ values: thin(h.smcLogZ), colour: '#7b3fb5' });
  series.push({ values: thin(isSeries), colour: '#d9641e' });
  lineChart(ui.chartLogZ, {
    title: method === 'rsmc' ? 'log Z: learnt (blue), SMC log Ẑ (purple), IS (orange)' : 'log Z: learnt (blue), importance sampling (orange)',
    series, xMax: len,
    hline: { y: s.logZTrue, colour: '#2a9d3a', label: `true ${fmt(s.logZTrue)}` },
  });
  const essSeries = [{ values: thin(isEss), colour: '#d9641e' }];
  if (method === 'rsmc') essSeries.unshift({ values: thin(h.smcEss), colour: '#7b3fb5' });
  lineChart(ui.chartEss, {
    title: method === 'rsmc' ? 'ESS / N: SMC final (purple), policy IS (orange)' : 'ESS / n of the policy samples (IS)',
    series: essSeries, yRange: [0, 1.05], xMax: len,
  });
  lineChart(ui.chartBeta, method === 'tb'
    ? { title: 'replay buffer', series: [], empty: 'none: on-policy TB keeps no buffer' }
    : { title: `replay buffer entries (capacity ${ui.buffer.value})`, series: [{ values: thin(h.buffer), colour: '#2a7d6f' }],
      yRange: [0, 1.05 * Number(ui.buffer.value)], xMax: len });
  lineChart(ui.chartLoss, {
    title: method === 'rsmc' ? 'log10 loss: TB (red), median (black), SubTB (grey)' : 'log10 TB loss (red) and its median (black)',
    series: lossSeries(h.loss, method === 'rsmc' && h.subtb), xMax: len,
  });
  const { state, rate } = runStatus(s, {
    logz: String(s.logZ), modes: s.modesTotal > 0 ? String(s.modesHit) : 'n/a', bufferModes: String(s.bufferModesHit),
  });
  ui.status.textContent =
    `${state}: ${method} on ${ui.target.value}, iteration ${s.iteration}/${s.iters}${rate}\n` +
    `TB loss ${fmt(s.loss)}${method === 'rsmc' ? `  SubTB ${fmt(s.subtb)}` : ''}   ` +
    `${s.onPolicy ? 'on-policy' : 'off-policy (buffer)'} step\n` +
    `log Z: learnt ${fmt(s.logZ)}${method === 'rsmc' ? `  SMC ${fmt(s.smcLogZ)}` : ''}  IS ${fmt(s.isLogZ)}  (true ${fmt(s.logZTrue)})\n` +
    `${method !== 'tb' ? `buffer ${s.buffer}  λ ${fmt(s.lambda)}   ` : ''}` +
    (s.modesTotal > 0
      ? `modes reached (a sample within 2 std): policy ${s.modesHit}/${s.modesTotal}` +
        `${s.bufferN ? `, buffer ${s.bufferModesHit}/${s.modesTotal}` : ''}`
      : 'modes reached: n/a (the funnel has one connected mode, no separated ones)') +
    `   params ${s.checksum}`;
  setButtons();
}

/** `values[i]` sampled at x = `xs[i]` (non-decreasing), as a step function on `n` even points of [0, max x]. */
function resampleOn(xs, values, n = 400) {
  const out = [];
  const top = xs.length ? xs[xs.length - 1] : 0;
  let j = 0;
  for (let k = 0; k < n; k++) {
    const x = (k / (n - 1)) * top;
    while (j + 1 < xs.length && xs[j + 1] <= x) j++;
    out.push(xs.length && xs[0] <= x ? values[j] : 0);
  }
  return out;
}

function renderDiscrete() {
  const f = app.dframe;
  const g = app.dgrid;
  if (!f || !g) return;
  const s = f.stats;
  const h = f.hist;
  const samples = Number($('d_eval_samples').value) || 0;
  if (g.side > 0) {
    gridPair(ui.scene, { p: g.exact, q: f.empirical, side: g.side, mask: g.mask, samples: h.evalIter.length ? samples : 0 });
  } else {
    barChart(ui.scene, {
      labels: g.labels, exact: g.topExact, empirical: f.topEmpirical,
      title: `the ${g.labels.length} most likely of ${g.nTerminal} sequences${h.evalIter.length ? `, after ${s.iteration} iterations` : ' (no evaluation yet)'}`,
    });
  }
  const len = h.loss.length;
  const isSeries = new Float32Array(len).fill(NaN);
  h.evalIter.forEach((it, k) => { if (it >= 1 && it <= len) isSeries[it - 1] = h.isLogZ[k]; });
  // carry the IS estimate forward so it reads as a line
  let lastIs = NaN;
  for (let i = 0; i < len; i++) { if (Number.isFinite(isSeries[i])) lastIs = isSeries[i]; else isSeries[i] = lastIs; }
  lineChart(ui.chartLogZ, {
    title: 'log Z: learnt (blue), importance sampling (orange) vs exact',
    series: [{ values: thin(h.logZ), colour: '#1f6fb2' }, { values: thin(isSeries), colour: '#d9641e' }],
    xMax: len, hline: { y: s.logZTrue, colour: '#2a9d3a', label: `exact ${fmt(s.logZTrue)}` },
  });
  lineChart(ui.chartEss, {
    title: `TV (red) and JSD (purple) to the exact target, every ${$('d_eval_every').value} iterations`,
    series: [{ values: Array.from(h.tv), colour: '#b3261e' }, { values: Array.from(h.jsd), colour: '#7b3fb5' }],
    yRange: [0, 1.05], xMax: h.evalIter.length ? h.evalIter[h.evalIter.length - 1] : 0,
    empty: h.tv.length ? '' : 'no evaluation yet',
  });
  lineChart(ui.chartBeta, {
    title: `modes found (of ${s.modesTotal}) vs training trajectories sampled`,
    series: [{ values: resampleOn(Array.from(h.visited), Array.from(h.modes)), colour: '#2a7d6f' }],
    yRange: [0, Math.max(1, s.modesTotal) * 1.05], xMax: s.visits,
    hline: { y: s.modesTotal, colour: '#2a9d3a', label: 'all modes' },
  });
  const lossName = { tb: 'TB', db: 'DB', subtb: 'SubTB', teacher: 'student TB' }[ui.method.value] || 'loss';
  lineChart(ui.chartLoss, {
    title: `log10 ${lossName} loss (red), median (black)${ui.method.value === 'teacher' ? ', teacher (grey)' : ''}`,
    series: lossSeries(h.loss, ui.method.value === 'teacher' && h.teacherLoss), xMax: len,
  });
  const { state, rate } = runStatus(s, { logz: String(s.logZ), tv: String(s.tv), modes: String(s.modesFound) });
  ui.status.textContent =
    `${state}: ${ui.method.value} on ${ui.target.value} (${s.nTerminal} objects), iteration ${s.iteration}/${s.iters}${rate}\n` +
    `${lossName} loss ${fmt(s.loss)}   ${s.fromBuffer ? 'replayed (buffer)' : 'freshly sampled'} batch${s.buffer ? `   buffer ${s.buffer}` : ''}\n` +
    `log Z: learnt ${fmt(s.logZ)}  IS ${fmt(s.isLogZ)}  (exact ${fmt(s.logZTrue)})   TV ${fmt(s.tv)}  JSD ${fmt(s.jsd)}\n` +
    `modes found ${s.modesFound}/${s.modesTotal}   distinct objects visited ${s.distinct} of ${s.nTerminal} in ${s.visits} trajectories   params ${s.checksum}`;
  setButtons();
}

function renderVgs() {
  const f = app.vframe;
  if (!f || !app.view) return;
  const s = f.stats;
  const h = f.hist;
  drawScene(ui.scene, app.heat, app.view, f, false);
  const len = h.loss.length;
  lineChart(ui.chartLoss, { title: 'log10 TD loss (red) and its median (black)', series: lossSeries(h.loss), xMax: len });
  lineChart(ui.chartLogZ, {
    title: 'learnt initial scale σ_init', series: [{ values: thin(h.sigma), colour: '#1f6fb2' }], xMax: len,
  });
  const modes = new Float32Array(len).fill(NaN);
  let lastM = NaN;
  const at = new Map(f.modesTrace.map(([it, m]) => [it, m]));
  for (let i = 0; i < len; i++) { if (at.has(i + 1)) lastM = at.get(i + 1); modes[i] = lastM; }
  lineChart(ui.chartEss, {
    title: `modes reached by 500 samples (of ${s.modesTotal})`, series: [{ values: thin(modes), colour: '#2a7d6f' }],
    yRange: [0, 1.05 * s.modesTotal], xMax: len, hline: { y: s.modesTotal, colour: '#2a9d3a', label: 'all modes' },
  });
  lineChart(ui.chartBeta, { title: 'replay buffer / temperature', series: [], empty: 'none: VGS trains on its own fresh rollouts' });
  const { state, rate } = runStatus(s, { modes: String(s.modesHit) });
  ui.status.textContent =
    `${state}: vgs on ${ui.target.value}, T = ${s.steps} steps, iteration ${s.iteration}/${s.iters}${rate}\n` +
    `TD loss ${fmt(s.loss)}   σ_init ${fmt(s.sigma)}${s.nonFinite ? `   ${s.nonFinite} non-finite coordinates reset` : ''}\n` +
    `modes reached (a sample within 2 std): ${s.modesHit}/${s.modesTotal}   params ${s.checksum}`;
  setButtons();
}

// ---------------------------------------------------------------- the ALDP view

const BASINS = ['beta', 'alpha_r', 'alpha_l', 'unclassified'];
const BASIN_COLOURS = ['#1f6fb2', '#d9641e', '#2a9d3a'];
const BASIN_NAMES = ['β/C7eq', 'αR', 'αL'];

/** Fetches the reference asset (`aldp-reference.json`) once; a failure is shown, never thrown. */
function loadAldpReference() {
  if (app.aldpRef || app.aldpRefLoading) return;
  app.aldpRefLoading = true;
  fetch('aldp-reference.json')
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((ref) => {
      app.aldpRef = ref;
      app.aldpHeat = ramachandranImage(ref.phi, ref.psi);
      if (app.kind === 'aldp') renderAldp();
    })
    .catch((e) => {
      app.aldpRefError = `the reference samples (aldp-reference.json) could not be loaded: ${e.message || e}`;
      if (app.kind === 'aldp') renderAldp();
    })
    .finally(() => { app.aldpRefLoading = false; });
}

/** The index of the drawn conformation: the most plausible sample, then on with "another sample". */
function pickedSample(f) {
  const n = f.stats.n;
  return n > 0 ? (f.stats.best + app.pick) % n : 0;
}

function renderMolecule(f = app.aframe) {
  const init = app.aldpInit;
  if (!init) return;
  if (!f || f.stats.n === 0) {
    drawMolecule(ui.molecule, { pos: null, elements: init.elements, bonds: init.bonds, rot: app.rot, title: 'a sampled conformation' });
    return;
  }
  const k = pickedSample(f);
  const len = 3 * init.elements.length;
  const pos = f.positions.subarray(k * len, (k + 1) * len);
  const [phi, psi] = [f.angles[2 * k], f.angles[2 * k + 1]].map((a) => a * 180 / Math.PI);
  const angles = Number.isFinite(phi) && Number.isFinite(psi) ? `φ ${phi.toFixed(0)}°, ψ ${psi.toFixed(0)}°` : 'no finite φ/ψ';
  const title = `sample ${k + 1} of ${f.stats.n}${app.pick === 0 ? ' (highest log p̃)' : ''}: ${angles}, log p̃ ${fmt(f.logR[k])}`;
  const drawn = drawMolecule(ui.molecule, { pos, elements: init.elements, bonds: init.bonds, rot: app.rot, title });
  ui.molecule.dataset.drawn = String(drawn);
}

/** Writes the basin table; `model` and `ref` are [β, αR, αL, unclassified] fractions (or null). */
function basinTable(model, ref) {
  const pct = (v) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '–');
  BASINS.forEach((b, i) => {
    ui.basins.querySelector(`[data-basin="${b}"]`).textContent = model ? pct(model[i]) : '–';
    ui.basins.querySelector(`[data-ref="${b}"]`).textContent = ref ? pct(ref[i]) : '–';
  });
}

/** Draws an ALDP frame: `frame` defaults to the last one the worker posted. */
function renderAldp(frame = app.aframe) {
  const f = frame;
  if (!f || !app.aldpInit) return;
  const ref = app.aldpRef;
  const refPop = ref ? [ref.populations.beta_c7eq, ref.populations.alpha_r, ref.populations.alpha_l, ref.populations.unclassified] : null;
  const s = f.stats;
  const drawnPoints = ramachandranPlot(ui.scene, {
    heat: app.aldpHeat, angles: f.angles, alphaRPsi: ref ? ref.alpha_r_psi : [],
    title: `φ/ψ of ${s.n} policy samples (orange) over ${ref ? ref.rows : '…'} MD samples at 300 K (density)`,
  });
  renderMolecule(f);
  basinTable(s.pop, refPop);
  // populations over the run: one row (iteration, β, αR, αL, unclassified) per draw
  const rows = [];
  for (let i = 0; i + 4 < f.hist.pop.length; i += 5) rows.push(Array.from(f.hist.pop.subarray(i, i + 5)));
  const its = rows.map((r) => r[0]);
  lineChart(ui.chartLogZ, {
    title: 'basins: β/C7eq blue, αR orange, αL green; dashed: MD',
    series: BASIN_NAMES.map((_, b) => ({ values: resampleOn(its, rows.map((r) => r[b + 1])), colour: BASIN_COLOURS[b] })),
    hlines: refPop ? BASIN_NAMES.map((name, b) => ({ y: refPop[b], colour: BASIN_COLOURS[b], label: b === 0 ? `${name} ${fmt(refPop[b])}` : '' })) : [],
    yRange: [0, 1.05], xMax: its.length ? its[its.length - 1] : 0,
  });
  lineChart(ui.chartLoss, { title: 'log10 TB loss (red) and its median (black)', series: lossSeries(f.hist.loss), xMax: f.hist.loss.length });
  const { state, rate } = runStatus(s, {
    popBeta: String(s.pop[0]), popAlphaR: String(s.pop[1]), popAlphaL: String(s.pop[2]), popUnclassified: String(s.pop[3]),
    ramaPoints: String(drawnPoints), nonFinite: String(s.nonFinite), logz: String(s.logZ),
  });
  const warn = [];
  if (s.nonFinite > 0) warn.push(`${s.nonFinite} of ${s.n} samples have non-finite coordinates: not drawn, counted as unclassified`);
  if (!Number.isFinite(s.loss) && s.iteration > 0) warn.push(`the loss is ${s.loss}: the run is diverging (try a smaller learning rate)`);
  if (app.aldpRefError) warn.push(app.aldpRefError);
  ui.status.textContent =
    `${state}: ${ui.method.value} on aldp (60-d), iteration ${s.iteration}/${s.iters}${rate}\n` +
    `TB loss ${fmt(s.loss)}   ${s.onPolicy ? 'on-policy' : 'off-policy (buffer)'} step   learnt log Z ${fmt(s.logZ)}   IS log Ẑ ${fmt(s.isLogZ)}\n` +
    `basins of ${s.n} samples: β/C7eq ${fmt(s.pop[0])}  αR ${fmt(s.pop[1])}  αL ${fmt(s.pop[2])}` +
    `${refPop ? `   (reference ${fmt(refPop[0])}, ${fmt(refPop[1])}, ${fmt(refPop[2])})` : ''}   params ${s.checksum}` +
    (warn.length ? `\n${warn.join('\n')}` : '');
  ui.status.dataset.warning = warn.length ? 'true' : 'false';
  setButtons();
}

function renderAldpExplain(method, targetLine) {
  const d = targetInfo('aldp').page.defaults;
  return `<h2>What you are looking at: a diffusion sampler on alanine dipeptide</h2>
<p>The target is the molecule of the RSMC paper: <b>alanine dipeptide</b> (22 atoms, AMBER ff96 with implicit solvent, 300 K), sampled in
RSMC's 60-dimensional space of normalised internal coordinates (bond lengths, angles and dihedrals; <i>x = 0</i> is the minimum-energy
structure). Its density is the Boltzmann factor <i>exp(−U/kT)</i> with the Jacobian of the coordinates. The same ${method} sampler as on the 2-D targets
(a diffusion policy over T steps, trained with trajectory balance${method === 'tb' ? '' : ' and a replay buffer'}${method === 'rsmc' ? ' of SMC particles' : ''}) learns to produce conformations.</p>
<p><b>The Ramachandran plot</b> (left) shows the two backbone dihedrals φ (C–N–CA–C) and ψ (N–CA–C–N) of every sample (orange) over the
density of ${app.aldpRef ? app.aldpRef.rows : '12,975'} reference conformations from parallel-tempering molecular dynamics at 300 K (the heat map).
The dashed lines are the basin boundaries: <b>β/C7eq</b> (extended, φ ≤ 0 and ψ ≥ 50° or ψ &lt; −120°), <b>αR</b> (right-handed helix,
φ ≤ 0, −120° ≤ ψ &lt; 50°) and <b>αL</b> (everything behind the high φ = 0 barrier, which the reference visits in 0.1 % of its samples).
The top chart follows the <b>basin populations</b> of the policy's samples over the run against the reference's (dashed);
the table gives the current numbers. <b>The molecule</b> is one sample, drawn from its 22 atoms with the force field's bonds
(drag to rotate; "another sample" steps through the draw). Samples are redrawn every few frames; every number is computed in wasm by the same
kernel code as <code>amortise train --target aldp</code>.</p>
${targetLine}
<p><b>Defaults</b> (sized so that an iteration takes a fraction of a second in a browser): ${d.method}, B = ${d.batch}, T = ${d.steps} OU steps
with σ = ${d.sigma}, width ${d.hidden}, learning rate ${d.lr}, no Langevin drift, ${d.iters} iterations. The paper's σ = 1 starts from samples that
break the molecule's chirality or bonds; σ = ${d.sigma} starts near the minimum-energy structure, in the β/C7eq basin, and the policy spreads from there.
The Langevin drift needs the energy's gradient at every step and makes an iteration about ten times slower. A short run is far from the paper's
(batch 2000 … 20 000 iterations): expect the populations to move, not to match.</p>
<h3>Read more</h3>
<ul>
<li>Choi et al. (2025), <i>Reinforced Sequential Monte Carlo for amortised sampling</i> (the 60-d target).</li>
<li>Midgley et al. (2023), <i>Flow annealed importance sampling bootstrap</i> (the internal coordinates and the evaluation).</li>
</ul>`;
}

function renderVgsExplain(targetLine) {
  return `<h2>What you are looking at: the Value Gradient Sampler (VGS)</h2>
<p>VGS (Yoon et al. 2025) treats sampling as <b>control</b>: a sampler moves x in only <i>T</i> steps (here 20 by default; try 5), and each step follows
the <b>gradient of a learnt value function</b> V(x, t) — the expected remaining cost of reaching the target from x at step t — plus Gaussian noise:
<i>x<sub>t+1</sub> = α<sub>t</sub>x<sub>t</sub> − (s<sub>t</sub>²α<sub>t</sub>²/τ) ∇V̄(α<sub>t</sub>x<sub>t</sub>, t+1) + α<sub>t</sub>s<sub>t</sub> ε</i>; the last step uses the energy E = −log p̃ itself.
The value network is trained by <b>temporal differences</b>, as in reinforcement learning: V(x<sub>t</sub>, t) should equal the cost of one step (a
kinetic term ‖μ‖²/(2s²α²) and a volume term) plus V̄ at the next state, or the energy at the end. V̄ is a slowly moving copy (EMA) of V, the
<b>target network</b>. The start x<sub>0</sub> ~ N(0, σ<sub>init</sub>²) and σ<sub>init</sub> is learnt too (top chart).</p>
<p>The picture: the target's log density with 500 samples of the current sampler, redrawn every few frames. The charts: the TD loss (falls as the value
function becomes consistent), σ<sub>init</sub>, and how many modes the samples reach.</p>
${targetLine}
<h3>The controls</h3>
<dl>
<dt>Sampling steps T</dt><dd>Few steps is VGS's point (paper: 20 on 9-GMM). Fewer steps: cheaper samples, larger moves per step.</dd>
<dt>Iterations, batch B, hidden width, learning rate</dt><dd>One behaviour rollout of B samples and one TD update per iteration; the kernel's 9-GMM preset
(width 128, Adam 10<sup>−3</sup>; paper: 1024 and 10<sup>−4</sup>) is used for every mixture, as in <code>amortise train-vgs</code>.</dd>
<dt>Seed</dt><dd>The same settings and seed train the same network as <code>amortise train-vgs</code> with the flags of the URL.</dd>
</dl>
<h3>Read more</h3>
<ul><li>Yoon et al. (2025), <i>Value Gradient Sampler: sampling as sequential decision making</i>.</li></ul>`;
}

// ---------------------------------------------------------------- explanation

/** The target menu: the targets the page offers, continuous then discrete, with their descriptions. */
function fillTargetMenu() {
  const views = app.targets.filter((t) => t.page?.view).map((t) => t.name);
  for (const [label, names] of [['continuous', pageTargets('continuous')], ['molecule (own view)', views],
    ['discrete (GFlowNets)', pageTargets('discrete')]]) {
    const g = document.createElement('optgroup');
    g.label = label;
    for (const name of names) {
      const o = document.createElement('option');
      o.value = name;
      o.textContent = name;
      o.title = targetInfo(name).description;
      g.appendChild(o);
    }
    ui.target.appendChild(g);
  }
}

const TRAIN_TEXT = {
  tb: `<h2>What you are looking at: a diffusion sampler trained by trajectory balance (TB)</h2>
<p>A <b>diffusion sampler</b> turns noise into samples in <i>T</i> small steps. The <b>reference process</b> (here an
Ornstein–Uhlenbeck process with scale σ, or pinned Brownian motion) is a simple process whose end point we know; a small
neural network (the <b>policy</b>) learns a drift that bends the reference toward the target <i>p(x) = R(x)/Z</i>.
Every step is Gaussian, so the probability <i>p<sub>F</sub>(τ)</i> of a whole trajectory τ = (x<sub>0</sub> … x<sub>T</sub>) is known,
and so is the probability <i>p<sub>B</sub>(τ | x<sub>T</sub>)</i> of walking it backward under the reference.</p>
<p><b>Trajectory balance</b> (Malkin et al. 2022) asks, for every trajectory, that
<i>log Z + log p<sub>F</sub>(τ) = log R(x<sub>T</sub>) + log p<sub>B</sub>(τ | x<sub>T</sub>)</i>, with <i>log Z</i> a learnt scalar.
The loss is the squared difference averaged over a batch of <i>B</i> trajectories drawn from the policy itself
(<b>on-policy</b>). When it is zero everywhere the policy samples the target exactly and the learnt log Z is the true one.
On-policy TB is <b>mode-seeking</b>: modes the policy never visits send no gradient, so it can settle on a few modes; watch the
orange samples on multi-modal targets.</p>`,
  'tb-buffer': `<h2>What you are looking at: TB with an importance-weighted replay buffer</h2>
<p>The same diffusion sampler and TB loss as plain TB, but trained <b>off-policy</b> too. Every third iteration is
on-policy: its terminal samples go into a <b>replay buffer</b> with their importance weights
<i>w = R(x<sub>T</sub>) p<sub>B</sub>(τ|x<sub>T</sub>) / p<sub>F</sub>(τ)</i> (how much more the target likes the sample than the policy
expected). The other two iterations draw <i>B</i> states from the buffer in proportion to <i>w<sup>λ</sup></i>, with the
tempering exponent λ ∈ [0, 1] chosen so the draw keeps an effective sample size of 5 % (λ, shown in the status, is 1 when the weights are
tame), walk backward from them with the reference, and take a TB step on those trajectories. Samples from under-covered
modes carry big weights and are replayed often, which counters mode collapse (Sendera et al. 2024; Choi et al. 2025, "IW-Buffer").</p>`,
  rsmc: `<h2>What you are looking at: Reinforced Sequential Monte Carlo (RSMC)</h2>
<p>RSMC (Choi et al. 2025) trains the diffusion sampler with samples from <b>sequential Monte Carlo</b> that uses the sampler itself.
An SMC run moves <i>N</i> particles through the <i>T</i> policy steps; every <i>L</i> steps (the <b>chunk</b>) it reweights the particles by how
much better they look under a <b>twist</b>: a learnt <b>flow</b> <i>log F<sub>n</sub>(x)</i> that estimates, at step <i>n</i>, the log of the
target mass reachable from <i>x</i>. The flows are <b>tempered</b> with learnt exponents β<sub>n</sub> (0 at the start, 1 at the end), so early twists are gentle.
When the effective sample size drops below 20 % the particles are <b>resampled</b>. The product of the average weights is
an unbiased estimate <i>Ẑ</i> of <i>Z</i> (purple curve), and the final particles, weighted, approximate the target even when the policy does not yet.</p>
<p>Training: the buffer is first <b>prefilled</b> with SMC runs of the untrained model. Then every third iteration is on-policy TB
(plus SubTB, which fits the flows chunk by chunk); the other two run SMC, store all its final particles in the
<b>importance-weighted buffer</b> with Z-scaled weights, and take a TB + SubTB step on a tempered draw from the buffer.
SMC is the behaviour policy: it finds modes the policy has not learnt yet, and the policy learns them from the buffer.</p>`,
};

const DISCRETE_TEXT = {
  tb: `<p><b>Trajectory balance (TB)</b> (Malkin et al. 2022): for every complete trajectory τ = (s<sub>0</sub> → … → x),
<i>log Z + Σ log P<sub>F</sub>(s′|s) = log R(x) + Σ log P<sub>B</sub>(s|s′)</i>, with a learnt scalar log Z. The loss is the squared
difference, averaged over a batch of <i>B</i> trajectories. When it is zero for every trajectory the sampler draws x with probability R(x)/Z.</p>`,
  db: `<p><b>Detailed balance (DB)</b> (Bengio et al. 2021/2023): one constraint per transition,
<i>F(s) P<sub>F</sub>(s′|s) = F(s′) P<sub>B</sub>(s|s′)</i>, with a learnt state flow F (the network's extra output) and
F(x) = R(x) at the end. Credit travels one step per update, so it is slower than TB on long trajectories but has lower variance.
The log Z shown is the flow of the start state, F(s<sub>0</sub>).</p>`,
  subtb: `<p><b>Sub-trajectory balance (SubTB)</b> (Madan et al. 2023): the balance condition on every sub-trajectory
s<sub>i</sub> → … → s<sub>j</sub>, with the learnt flows F at both ends, weighted by λ<sup>j−i</sup> (λ = 0.9). It interpolates between DB (single steps)
and TB (the whole trajectory).</p>`,
  teacher: `<p><b>Adaptive teacher</b> (Kim et al., ICLR 2025): the student is trained with TB, but half of its batches are drawn by a
second GFlowNet, the <b>teacher</b>, whose reward is the student's error: <i>log R<sub>T</sub>(τ) = log log(1 + ε + (1 + C·[δ > 0]) δ²) + α log R(x)</i>,
with δ the student's TB residual on τ and C = 19. Trajectories the student <b>under-samples</b> (δ > 0) weigh 20 times more, so the teacher learns to
go where the student is wrong, and the student gets training data from the modes it has missed. α mixes the target reward back in.
Without a buffer the iterations go student, student, teacher, teacher; with one, student, buffer, teacher, buffer.
The grey curve is the teacher's own TB loss.</p>`,
};

const DISCRETE_TARGET_TEXT = {
  grid: `<p><b>Hypergrid</b> (Bengio et al. 2021), here 2-D with side H: start at the corner (0, 0); each action adds 1 to one coordinate or stops.
The reward is R(x) = R<sub>0</sub> + R<sub>1</sub>·[all |x<sub>i</sub>/(H−1) − ½| ∈ (0.25, 0.5]] + R<sub>2</sub>·[all ∈ (0.3, 0.4)] with R<sub>0</sub> = 10<sup>−3</sup>, R<sub>1</sub> = 0.5, R<sub>2</sub> = 2:
a faint floor, four plateaus toward the corners and a small bright box of modes inside each (white squares). The plateaus are separated by
the floor, and three of them lie far from the start: a sampler that has found one has little signal pulling it to the others.</p>`,
  'deceptive-grid': `<p><b>Deceptive hypergrid</b> (Kim et al. 2025, the adaptive-teachers code): the same grid and moves, but with x<sub>i</sub> = 2 s<sub>i</sub>/(H−1) − 1 the reward is
R = 10<sup>−5</sup> + 0.1·[some |x<sub>i</sub>| ≤ 0.2] + 2·[all 0.6 &lt; |x<sub>i</sub>| &lt; 0.8]: a broad <b>cross</b> of reward 0.1 through the middle,
a floor of 10<sup>−5</sup> elsewhere, and the modes (white squares) as small boxes inside that floor. The cross holds much of the reward mass and is easy to find,
so a sampler is drawn to it; the modes are reached only by crossing near-zero reward. (With H = 16 the kernel reproduces the reference code's
floating-point boundary, which gives 9 mode cells rather than 4.)</p>`,
  sequence: `<p><b>Sequence target</b> (synthetic, ours): strings of length L over A letters, grown from the empty string by prepending or appending one letter,
so most strings have two parents and P<sub>B</sub> matters. The reward is <i>R(x) = ε + Σ<sub>k</sub> w<sub>k</sub> exp(−d<sub>H</sub>(x, m<sub>k</sub>)/τ)</i>, with K planted mode
strings m<sub>k</sub> and Hamming distance d<sub>H</sub> (τ = 0.5, ε = 10<sup>−3</sup>). All A<sup>L</sup> strings are enumerated, so the bar chart compares the
exact probability of the most likely strings with how often the sampler draws them.</p>`,
};

function renderDiscreteExplain(method, target) {
  return `<h2>What you are looking at: a GFlowNet on a discrete target</h2>
<p>A <b>GFlowNet</b> builds an object x step by step (here: a grid cell or a string) with a learnt forward policy P<sub>F</sub>(s′|s), so that
x is drawn with probability proportional to a reward R(x). P<sub>B</sub>, the backward policy, is uniform over each state's parents.
The targets here are small enough to <b>enumerate</b>: the exact distribution π(x) = R(x)/Z and the exact log Z are known, so we can
measure how far the sampler is from them.</p>
${DISCRETE_TEXT[method] || ''}
${DISCRETE_TARGET_TEXT[target] || ''}
<p><b>The views.</b> ${target === 'sequence' ? 'The bar chart: exact probability (green) and empirical frequency among the evaluation samples (orange) of the 16 most likely strings.' : 'Left, the exact target π; right, the empirical distribution of the sampler\'s evaluation samples, on the same log colour scale (dark = never drawn).'}
Every <i>evaluate every</i> iterations the sampler draws <i>samples per evaluation</i> objects (its own random stream: evaluating never changes the training run);
from them come the <b>TV</b> distance ½ Σ |π − q| and the <b>Jensen–Shannon divergence</b> to the exact target (both 0 for a perfect sampler; TV of a
finite sample stays above 0 even then, more so the more objects there are), and the importance-sampling estimate of log Z.
<b>Modes found</b> counts the distinct modes among all freshly sampled training trajectories, against how many trajectories it took.</p>
<h3>The controls</h3>
<dl>
<dt>Grid side H / length L, alphabet A, modes K</dt><dd>The size of the target (the page enumerates at most 65 536 objects).</dd>
<dt>Iterations, batch B, hidden width, learning rate</dt><dd>One gradient step per iteration on B trajectories; a 2-layer MLP policy (CLI defaults: B = 16, width 64, Adam 10<sup>−3</sup>, log Z at 0.1).</dd>
<dt>Exploration ε</dt><dd>On-policy trajectories take a uniformly random legal action with probability ε (TB+ε of the teachers paper uses 0.01).</dd>
<dt>Replay buffer</dt><dd>Capacity of a reward-prioritised buffer; every other iteration replays B stored objects, walked back to the start with P<sub>B</sub>.</dd>
${method === 'teacher' ? '<dt>Teacher α</dt><dd>Exponent of R(x) mixed into the teacher\'s reward (0 on the grid in the paper).</dd>' : ''}
<dt>Seed</dt><dd>The same settings and seed train the same parameters as <code>amortise train-discrete</code> with the flags of the URL and <code>--eval-every</code> equal to the iterations.</dd>
</dl>
<h3>Read more</h3>
<ul>
<li>Bengio et al. (2021), <i>Flow network based generative models for non-iterative diverse candidate generation</i>; Bengio et al. (2023), <i>GFlowNet foundations</i>.</li>
<li>Malkin et al. (2022), <i>Trajectory balance</i>; Madan et al. (2023), <i>Learning GFlowNets from partial episodes</i> (SubTB).</li>
<li>Kim et al. (ICLR 2025), <i>Adaptive teachers for amortized samplers</i>.</li>
</ul>`;
}

function renderTrainExplain(method, targetLine) {
  return `${TRAIN_TEXT[method]}
<p>The picture is the target's log density (bright = likely) with <b>500 samples of the current policy</b> (squares), redrawn every few
frames and coloured by their importance weight relative to the average (pale = the policy over-samples that place, red = under-samples it)${method === 'tb' ? '' : `,
and <b>500 states of the replay buffer drawn in proportion to their importance weights</b> (cyan dots): what the buffer, and so the
training signal, says the target looks like${method === 'rsmc' ? '. With RSMC the buffer holds SMC particles, which reach every mode long before the policy does' : ''}`}.
The status line counts the modes with at least one sample within two standard deviations of their centre.
Charts: learnt log Z${method === 'rsmc' ? ', the last SMC log Ẑ' : ''} and the importance-sampling estimate
<i>log (1/n Σ w)</i> over the drawn samples against the truth (green); the ESS of those weights${method === 'rsmc' ? ' and of the last SMC run' : ''};
the buffer size; the loss on a log scale (on-policy steps are the spikes: trajectories between modes have very negative log R).</p>
${targetLine}
<h3>The controls and the paper's notions</h3>
<dl>
<dt>Iterations</dt><dd>Training steps; also sets the learning-rate schedule (×0.3 at 50 % and 75 %).</dd>
<dt>Batch B</dt><dd>Trajectories per TB step (paper: 2000, CLI default 300).</dd>
<dt>Diffusion steps T</dt><dd>Policy steps from noise to sample (paper: 64). The OU reference needs at least 15.</dd>
<dt>Reference process, σ</dt><dd>The process the policy corrects: OU with stationary std σ (RSMC's <code>init_std</code>; the box starts at the target's default, the CLI's) or pinned Brownian motion with variance σ² at the end.</dd>
<dt>Hidden width</dt><dd>Width of the policy${method === 'rsmc' ? ' and flow' : ''} networks (paper: 256 and 64). 16 Fourier harmonics embed the time.</dd>
<dt>Learning rate</dt><dd>Adam step of the policy${method === 'rsmc' ? ' and flows' : ''} (log Z and β use 0.1), with gradient clipping at 1.</dd>
<dt>Langevin drift (LP)</dt><dd>The paper's gradient-based setting (Choi et al. 2025, Table 2; Zhang and Chen 2022): the policy's drift is
<i>f(x, t) + s(t) · clip(∇ log R(x), ±100)</i> with a learnt time-only scale <i>s</i>, so the target's gradient pulls samples onto the modes
from the first iteration and the network learns a correction. Off, the policy has to discover the modes' shape from rewards alone
(the gradient-free setting): on gmm40 at this budget its samples stay blurred between the modes.</dd>
${method !== 'tb' ? '<dt>Buffer capacity</dt><dd>Stored samples; the oldest are overwritten (paper: 200 000).</dd>' : ''}
${method === 'rsmc' ? `<dt>Particles N</dt><dd>SMC particles per run (paper: 2000).</dd>
<dt>Prefill</dt><dd>SMC runs of the untrained model filling the buffer before training (paper: 100).</dd>
<dt>Chunk length L</dt><dd>Steps between SMC reweightings, and the SubTB chunk (paper: 4); must divide T into at least two chunks.</dd>` : ''}
<dt>Seed</dt><dd>The same settings and seed give the same parameters, bit for bit, here and in the native CLI
(<code>amortise train</code> with the flags of the URL; <code>cargo xtask test</code> checks it).</dd>
</dl>
<p><b>Defaults</b> (sized for a laptop browser; the CLI's are T = 64, B = N = 300, width 64, 64 harmonics): T = 32 OU steps,
B = 128, N = 128, width 32, 16 harmonics, learning rate 10<sup>−3</sup>, Langevin drift on, buffer 30 000, 20 prefill runs, L = 4,
2000 iterations. With them RSMC's policy samples on gmm40 sit on all 40 modes within about a minute (natively, 2000 iterations:
40/40 modes and 37 % of samples within two standard deviations of a centre, against 8 % without LP).</p>
<h3>Read more</h3>
<ul>
<li>Choi et al. (2025), <i>Reinforced Sequential Monte Carlo for amortised sampling</i>.</li>
<li>Malkin et al. (2022), <i>Trajectory balance: improved credit assignment in GFlowNets</i>; Zhang et al. (2023), <i>Diffusion generative flow samplers</i> (SubTB for diffusion samplers).</li>
<li>Sendera et al. (2024), <i>Improved off-policy training of diffusion samplers</i>.</li>
<li>Del Moral, Doucet &amp; Jasra (2006), <i>Sequential Monte Carlo samplers</i>; Zhang &amp; Chen (2022), <i>Path integral sampler</i>.</li>
</ul>`;
}

function renderExplain() {
  const info = targetInfo(ui.target.value);
  const targetLine = info
    ? `<p><b>${info.name}</b>: ${escapeHtml(info.description)} (default dimension ${info.default_dim}; accepted: ${escapeHtml(info.dims)}).</p>`
    : '';
  if (isDiscreteTarget(ui.target.value)) {
    ui.explain.innerHTML = renderDiscreteExplain(ui.method.value, ui.target.value);
    return;
  }
  if (isAldpTarget(ui.target.value)) {
    ui.explain.innerHTML = renderAldpExplain(ui.method.value, targetLine);
    return;
  }
  if (ui.method.value === 'vgs') {
    ui.explain.innerHTML = renderVgsExplain(targetLine);
    return;
  }
  if (TRAINED.includes(ui.method.value)) {
    ui.explain.innerHTML = renderTrainExplain(ui.method.value, targetLine);
    return;
  }
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


/** Shows the controls of the chosen method (CSS keys off these attributes). */
function syncKind() {
  const discrete = isDiscreteTarget(ui.target.value);
  document.body.dataset.kind = discrete ? 'discrete' : isAldpTarget(ui.target.value) ? 'aldp'
    : ui.method.value === 'vgs' ? 'vgs' : TRAINED.includes(ui.method.value) ? 'train' : 'smc';
  document.body.dataset.method = ui.method.value;
  document.body.dataset.dtarget = discrete ? ui.target.value : '';
}

ui.method.addEventListener('change', () => {
  const trained = TRAINED.includes(ui.method.value);
  if (trained && Number(ui.n.value) > 4096) ui.n.value = '128';
  if (!trained && ui.n.value === '128') ui.n.value = '2000';
  syncKind();
});
let lastTarget = null;
ui.target.addEventListener('change', () => {
  ui.fatal.hidden = true;
  // the ALDP view has its own defaults; leaving it restores the 2-D ones
  if (isAldpTarget(ui.target.value)) applyAldpDefaults();
  else if (lastTarget !== null && isAldpTarget(lastTarget)) restoreHtmlDefaults();
  lastTarget = ui.target.value;
  // a method the new kind of target cannot use switches to its nearest counterpart
  const kind = isDiscreteTarget(ui.target.value) ? 'discrete' : 'continuous';
  if (!pageMethods(kind).includes(ui.method.value)) ui.method.value = kind === 'discrete' ? 'tb' : 'smc';
  syncKind();
  ui.baseStd.value = String(targetInfo(ui.target.value)?.page?.base_std ?? 1);
  if (defaultSigma(ui.target.value) !== null) ui.sigma.value = String(defaultSigma(ui.target.value));
  ui.dim.value = '';
  configure();
});
for (const el of [ui.method, ui.n, ui.dim, ui.baseStd, ui.cess, ui.mala, ui.seed, ui.iters, ui.batch,
  ui.steps, ui.reference, ui.sigma, ui.hidden, ui.lr, ui.lp, ui.workers, ui.gradChunks, ui.buffer, ui.prefill, ui.chunk,
  ...Object.values(DCONTROL).map($), ...Object.values(VCONTROL).map($)]) {
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
app.renderAldp = renderAldp; // the end-to-end test draws a frame of non-finite samples with it
ui.nextSample.addEventListener('click', () => { app.pick += 1; renderMolecule(); });
{
  // drag on the molecule to rotate it
  let drag = null;
  ui.molecule.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY }; ui.molecule.setPointerCapture(e.pointerId); });
  ui.molecule.addEventListener('pointermove', (e) => {
    if (!drag) return;
    app.rot.yaw += 0.01 * (e.clientX - drag.x);
    app.rot.pitch += 0.01 * (e.clientY - drag.y);
    drag = { x: e.clientX, y: e.clientY };
    renderMolecule();
  });
  const end = () => { drag = null; };
  ui.molecule.addEventListener('pointerup', end);
  ui.molecule.addEventListener('pointercancel', end);
}
renderExplain();
startWorker();
