// The training worker: owns the wasm module and one playground handle, runs steps in
// batches between setTimeout(0) yields, and posts frames (scalars + copies of the arrays
// as transferable Float32Arrays). The page never calls wasm itself, so it never freezes.
// A TB run with `workers: 2` starts a second worker (www/chunks.js, www/chunk-worker.js)
// that computes half of every iteration's gradient chunks.
//
// Messages in:  {type: 'config', settings, view}  {type: 'start', speed}  {type: 'pause'}
//               {type: 'step'}  {type: 'speed', speed}  {type: 'random-seed'}  {type: 'csv'}
//               {type: 'trap'} (test hook: a deliberate wasm trap)
// Messages out: {type: 'ready', targets}  {type: 'grid', ...}  {type: 'frame', ...} (SMC)
//               {type: 'tframe', stats, xy, weights, hist, isTrace} (training)
//               {type: 'dgrid', exact, topExact, mask, labels, side, ...} and
//               {type: 'dframe', stats, hist, empirical, topEmpirical} (discrete)
//               {type: 'aldp-init', elements, bonds, cli} and
//               {type: 'aframe', stats, angles, positions, logR, hist} (the ALDP view)
//               {type: 'seed', seed}  {type: 'csv', text}  {type: 'state', running}
//               {type: 'error', field, message}  {type: 'fatal', message}

import { ChunkHelper } from './chunks.js';
import init, { SmcPlayground, TrainPlayground, DiscretePlayground, VgsPlayground, AldpPlayground, random_seed, target_list, last_panic, trap_for_tests } from './pkg/amortise_wasm.js';

let wasm = null;     // the module's exports (for `memory`)
let handle = null;   // the current SmcPlayground or TrainPlayground
let kind = 'smc';    // 'smc', 'train', 'discrete', 'vgs' or 'aldp'
let isTrace = [];    // [iteration, IS log Z, IS ESS/n] at every sample draw
let framesSinceSample = 0;
let running = false;
let speed = 'normal';
let dead = false;    // after a trap the module is not trusted any more
let timer = null;
let helperReady = null; // resolves to the second worker of a two-worker TB run (www/chunks.js)
let inFlight = null;    // the two-worker batch waiting for the second worker (a token)

// Temperatures per second for each speed; `max` runs batches of ~25 ms back to back.
const RATE = { slow: 2, normal: 8, fast: 30 };
// Training: milliseconds of work per batch for each speed (the rest of 100 ms is idle).
const TRAIN_BUDGET = { slow: 10, normal: 40, fast: 80, max: 100 };
const SAMPLES = 500;          // policy samples drawn for the picture
const SAMPLE_EVERY = 3;       // frames between draws

const post = (msg, transfer = []) => self.postMessage(msg, transfer);

/** Splits a wasm-bindgen error "field: message" into its parts. */
function splitError(e) {
  const text = String(e && e.message !== undefined ? e.message : e);
  const m = /^([a-z_]+): (.*)$/s.exec(text);
  return m ? { field: m[1], message: m[2] } : { field: 'run', message: text };
}

/** Runs `f`; a thrown JsError becomes an `error` message, a trap a `fatal` one. */
function guarded(f) {
  if (dead) {
    post({ type: 'fatal', message: 'the wasm module trapped earlier; reload the page' });
    return undefined;
  }
  try {
    return f();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      dead = true;
      stop();
      let panic = '';
      try { panic = last_panic(); } catch (_) { /* the module may be unusable */ }
      post({ type: 'fatal', message: `wasm trap: ${e.message}${panic ? ` (${panic})` : ''}` });
    } else {
      const { field, message } = splitError(e);
      post({ type: 'error', field, message });
      if (field === 'run') stop();
    }
    return undefined;
  }
}

function view(ptr, len) {
  return new Float32Array(wasm.memory.buffer, ptr, len);
}

/** Posts the current state: scalars, x0/x1 of every particle, weights, traces. */
function postFrame() {
  const h = handle;
  const n = h.n_particles;
  const d = h.dim;
  const x = view(h.particles_ptr(), h.particles_len());
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    xy[2 * i] = x[i * d];
    xy[2 * i + 1] = x[i * d + 1];
  }
  const weights = view(h.weights_ptr(), h.weights_len()).slice();
  const tl = h.trace_len();
  const traces = {
    beta: view(h.trace_beta_ptr(), tl).slice(),
    logZ: view(h.trace_log_z_ptr(), tl).slice(),
    ess: view(h.trace_ess_ptr(), tl).slice(),
    resampled: view(h.trace_resampled_ptr(), tl).slice(),
  };
  const stats = {
    beta: h.beta, logZ: h.log_z, logZTrue: h.log_z_true, ess: h.ess,
    essFraction: h.ess_fraction, acceptance: h.acceptance, stepSize: h.step_size,
    temperatures: h.temperatures, resamples: h.resamples, done: h.done, n, dim: d,
    target: h.target, running,
  };
  post({ type: 'frame', stats, xy, weights, traces },
    [xy.buffer, weights.buffer, traces.beta.buffer, traces.logZ.buffer,
      traces.ess.buffer, traces.resampled.buffer]);
}

function stop() {
  running = false;
  if (timer !== null) clearTimeout(timer);
  timer = null;
  post({ type: 'state', running: false });
}

function tick() {
  timer = null;
  if (!running || !handle) return;
  if (kind === 'train') { trainTick(); return; }
  if (kind === 'discrete') { discreteTick(); return; }
  if (kind === 'vgs') { vgsTick(); return; }
  if (kind === 'aldp') { aldpTick(); return; }
  const t0 = performance.now();
  let ok = true;
  if (speed === 'max') {
    do {
      ok = guarded(() => handle.step(1)) !== undefined;
    } while (ok && !handle.done && performance.now() - t0 < 25);
  } else {
    ok = guarded(() => handle.step(1)) !== undefined;
  }
  if (!ok) return;
  guarded(postFrame);
  if (handle.done) {
    stop();
    return;
  }
  const delay = speed === 'max' ? 0 : Math.max(0, 1000 / (RATE[speed] || 8) - (performance.now() - t0));
  timer = setTimeout(tick, delay);
}

/** Draws policy samples and records the importance-sampling log Z. */
function drawSamples() {
  handle.sample(SAMPLES);
  handle.sample_buffer(SAMPLES);
  isTrace.push([handle.iteration, handle.is_log_z, handle.is_ess / SAMPLES]);
  framesSinceSample = 0;
}

/** Posts the training state: scalars, samples with normalised IS weights, histories. */
function postTrainFrame() {
  const h = handle;
  const xy = view(h.samples_ptr(), h.samples_len()).slice();
  const bxy = view(h.buffer_samples_ptr(), h.buffer_samples_len()).slice();
  const n = xy.length / 2;
  const lw = view(h.sample_log_w_ptr(), n);
  let max = -Infinity;
  for (const v of lw) if (v > max) max = v;
  const weights = new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) { weights[i] = Number.isFinite(max) ? Math.exp(lw[i] - max) : 1; sum += weights[i]; }
  for (let i = 0; i < n; i++) weights[i] /= sum || 1;
  const len = h.hist_len();
  const hist = {
    loss: view(h.hist_loss_ptr(), len).slice(),
    subtb: view(h.hist_subtb_ptr(), len).slice(),
    logZ: view(h.hist_log_z_ptr(), len).slice(),
    smcLogZ: view(h.hist_smc_log_z_ptr(), len).slice(),
    smcEss: view(h.hist_smc_ess_ptr(), len).slice(),
    buffer: view(h.hist_buffer_ptr(), len).slice(),
  };
  const stats = {
    iteration: h.iteration, iters: h.iters, done: h.done, loss: h.loss, subtb: h.subtb_loss,
    logZ: h.log_z, smcLogZ: h.smc_log_z, smcEss: h.smc_ess, buffer: h.buffer_len,
    lambda: h.buffer_lambda, isLogZ: h.is_log_z, isEss: h.is_ess, logZTrue: h.log_z_true,
    onPolicy: h.on_policy, checksum: h.param_checksum(), n, running,
    modesHit: h.modes_hit, modesTotal: h.modes_total, bufferModesHit: h.buffer_modes_hit, bufferN: bxy.length / 2,
    seconds: (performance.now() - trainStart) / 1000,
  };
  post({ type: 'tframe', stats, xy, bxy, weights, hist, isTrace: isTrace.slice() },
    [xy.buffer, bxy.buffer, weights.buffer, ...Object.values(hist).map((a) => a.buffer)]);
}

let trainStart = 0;

/**
 * One batch of a trained handle's iterations within the speed's time budget, then a frame:
 * `draw` (if any) refreshes the samples every SAMPLE_EVERY frames, `frame` posts the state
 * (the training, VGS and discrete playgrounds differ only in these two).
 */
function sampledTick(draw, frame, every = SAMPLE_EVERY) {
  const t0 = performance.now();
  const budget = TRAIN_BUDGET[speed] || 40;
  let ok = true;
  do {
    ok = guarded(() => handle.step(1)) !== undefined;
  } while (ok && !handle.done && performance.now() - t0 < budget);
  if (!ok) return;
  afterBatch(draw, frame, every, t0);
}

/** After a batch of iterations: samples every `every` frames, a frame, the next tick. */
function afterBatch(draw, frame, every, t0) {
  framesSinceSample += 1;
  if (draw && (framesSinceSample >= every || handle.done)) {
    if (guarded(draw) === undefined && dead) return;
  }
  guarded(frame);
  if (handle.done) {
    stop();
    return;
  }
  const delay = speed === 'max' ? 0 : Math.max(0, 100 - (performance.now() - t0));
  timer = setTimeout(tick, delay);
}

function trainTick() {
  if (helperReady) twoWorkerTick();
  else sampledTick(drawSamples, postTrainFrame);
}

/** As sampledTick for a two-worker TB run: each iteration waits for the second worker. */
async function twoWorkerTick() {
  if (inFlight) return; // the batch in flight schedules the next tick
  const token = {};
  inFlight = token;
  try {
    await twoWorkerBatch();
  } finally {
    if (inFlight === token) inFlight = null;
  }
}

async function twoWorkerBatch() {
  const t0 = performance.now();
  const budget = TRAIN_BUDGET[speed] || 40;
  const [h, ready] = [handle, helperReady];
  try {
    const hp = await ready;
    if (handle !== h) return;
    do {
      await hp.step(h);
      if (handle !== h) return; // reconfigured meanwhile
    } while (running && !h.done && performance.now() - t0 < budget);
  } catch (e) {
    if (handle === h) guarded(() => { throw e; });
    return;
  }
  if (!running && !h.done) {
    guarded(postTrainFrame);
    return;
  }
  afterBatch(drawSamples, postTrainFrame, SAMPLE_EVERY, t0);
}

/** Posts the heat map of a new 2-D handle `h`, then its first samples and frame. */
function startSampled(h, s, v, draw, frame) {
  const cells = guarded(() => h.density_grid([v.xmin, v.xmax, v.ymin, v.ymax], v.nx, v.ny));
  if (cells === undefined) return;
  const values = view(h.grid_ptr(), h.grid_len()).slice();
  post({ type: 'grid', nx: v.nx, ny: v.ny, view: v, values, target: s.target }, [values.buffer]);
  if (guarded(draw) === undefined && dead) return;
  guarded(frame);
}

function configureTrain(s, v) {
  const h = guarded(() => new TrainPlayground(s.query));
  if (!h) return;
  if (s.gradChunks > 0 && !guarded(() => { h.set_chunks(s.gradChunks); return true; })) {
    h.free();
    return;
  }
  if (s.workers === 2) {
    helperReady = ChunkHelper.start(s.query, s.gradChunks);
    helperReady.catch((e) => post({ type: 'error', field: 'workers', message: e.message }));
  }
  handle = h;
  kind = 'train';
  isTrace = [];
  startSampled(h, s, v, drawSamples, postTrainFrame);
}

/** Posts the discrete state: scalars, exact and empirical distributions, histories. */
function postDiscreteFrame() {
  const h = handle;
  const v = (p, l) => view(p, l).slice();
  const hist = {
    loss: v(h.hist_loss_ptr(), h.hist_len()),
    teacherLoss: v(h.hist_teacher_loss_ptr(), h.hist_teacher_loss_len()),
    logZ: v(h.hist_log_z_ptr(), h.hist_log_z_len()),
    modes: v(h.hist_modes_ptr(), h.hist_modes_len()),
    visited: v(h.hist_visited_ptr(), h.hist_visited_len()),
    evalIter: v(h.eval_iter_ptr(), h.eval_len()),
    tv: v(h.eval_tv_ptr(), h.eval_tv_len()),
    jsd: v(h.eval_jsd_ptr(), h.eval_jsd_len()),
    isLogZ: v(h.eval_log_z_ptr(), h.eval_log_z_len()),
  };
  const empirical = v(h.empirical_ptr(), h.empirical_len());
  const topEmpirical = v(h.top_empirical_ptr(), h.top_empirical_len());
  const stats = {
    iteration: h.iteration, iters: h.iters, done: h.done, loss: h.loss, logZ: h.log_z,
    logZTrue: h.log_z_true, tv: h.tv, jsd: h.jsd, isLogZ: h.is_log_z, modesFound: h.modes_found,
    modesTotal: h.modes_total, visits: h.visits, distinct: h.distinct, buffer: h.buffer_len,
    fromBuffer: h.from_buffer, nTerminal: h.n_terminal, side: h.grid_side, running,
    checksum: h.param_checksum(), seconds: (performance.now() - trainStart) / 1000,
  };
  post({ type: 'dframe', stats, hist, empirical, topEmpirical },
    [empirical.buffer, topEmpirical.buffer, ...Object.values(hist).map((a) => a.buffer)]);
}

/** One batch of discrete iterations within the speed's time budget, then a frame. */
function discreteTick() {
  sampledTick(null, postDiscreteFrame);
}

let vgsModes = [];   // [iteration, modes reached] at every sample draw

/** Draws VGS samples and records the modes they reach. */
function drawVgsSamples() {
  handle.sample(SAMPLES);
  vgsModes.push([handle.iteration, handle.modes_hit]);
  framesSinceSample = 0;
}

/** Posts the VGS state: scalars, samples (uniform weights), histories. */
function postVgsFrame() {
  const h = handle;
  const xy = view(h.samples_ptr(), h.samples_len()).slice();
  const n = xy.length / 2;
  const weights = new Float32Array(n).fill(n ? 1 / n : 0);
  const len = h.hist_len();
  const hist = { loss: view(h.hist_loss_ptr(), len).slice(), sigma: view(h.hist_sigma_ptr(), len).slice() };
  const stats = {
    iteration: h.iteration, iters: h.iters, done: h.done, loss: h.loss, sigma: h.init_sigma, steps: h.steps,
    modesHit: h.modes_hit, modesTotal: h.modes_total, nonFinite: h.non_finite, n, running,
    checksum: h.param_checksum(), seconds: (performance.now() - trainStart) / 1000,
  };
  post({ type: 'vframe', stats, xy, weights, hist, modesTrace: vgsModes.slice() },
    [xy.buffer, weights.buffer, hist.loss.buffer, hist.sigma.buffer]);
}

function vgsTick() {
  sampledTick(drawVgsSamples, postVgsFrame);
}

function configureVgs(s, v) {
  const h = guarded(() => new VgsPlayground(s.query));
  if (!h) return;
  handle = h;
  kind = 'vgs';
  vgsModes = [];
  startSampled(h, s, v, drawVgsSamples, postVgsFrame);
}

// The ALDP view draws fewer samples, less often: a 60-d sample costs a policy rollout, the
// energy and the reconstruction (256 samples take about as long as one default iteration).
const ALDP_SAMPLES = 256;     // policy samples drawn for the ALDP view
const ALDP_SAMPLE_EVERY = 8;  // frames between draws

/** Draws ALDP samples: their angles, positions and populations are computed in wasm. */
function drawAldpSamples() {
  handle.sample(ALDP_SAMPLES);
  framesSinceSample = 0;
}

/** Posts the ALDP state: scalars, the samples' φ/ψ, positions and log p̃, histories. */
function postAldpFrame() {
  const h = handle;
  const v = (p, l) => view(p, l).slice();
  const angles = v(h.angles_ptr(), h.angles_len());
  const positions = v(h.positions_ptr(), h.positions_len());
  const logR = v(h.sample_log_r_ptr(), h.sample_log_r_len());
  const len = h.hist_len();
  const hist = {
    loss: v(h.hist_loss_ptr(), len), logZ: v(h.hist_log_z_ptr(), len), pop: v(h.hist_pop_ptr(), h.hist_pop_len()),
  };
  const stats = {
    iteration: h.iteration, iters: h.iters, done: h.done, loss: h.loss, logZ: h.log_z, smcLogZ: h.smc_log_z,
    isLogZ: h.is_log_z, isEss: h.is_ess, buffer: h.buffer_len, onPolicy: h.on_policy, nonFinite: h.non_finite,
    pop: [h.pop_beta, h.pop_alpha_r, h.pop_alpha_l, h.pop_unclassified], best: h.best, n: logR.length, running,
    checksum: h.param_checksum(), seconds: (performance.now() - trainStart) / 1000,
  };
  post({ type: 'aframe', stats, angles, positions, logR, hist },
    [angles.buffer, positions.buffer, logR.buffer, hist.loss.buffer, hist.logZ.buffer, hist.pop.buffer]);
}

function aldpTick() {
  sampledTick(drawAldpSamples, postAldpFrame, ALDP_SAMPLE_EVERY);
}

function configureAldp(s) {
  const h = guarded(() => new AldpPlayground(s.query));
  if (!h) return;
  handle = h;
  kind = 'aldp';
  post({ type: 'aldp-init', elements: h.elements().split(','), bonds: Array.from(h.bonds()), cli: h.cli_args() });
  if (guarded(drawAldpSamples) === undefined && dead) return;
  guarded(postAldpFrame);
}

/** The ALDP CSV: φ, ψ (radians) and log p̃ of the drawn samples. */
function aldpCsv() {
  const h = handle;
  const a = view(h.angles_ptr(), h.angles_len());
  const lr = view(h.sample_log_r_ptr(), h.sample_log_r_len());
  const lines = ['phi,psi,log_p'];
  for (let i = 0; i < lr.length; i++) lines.push(`${a[2 * i]},${a[2 * i + 1]},${lr[i]}`);
  return lines.join('\n') + '\n';
}

function configureDiscrete(s) {
  const h = guarded(() => new DiscretePlayground(s.query));
  if (!h) return;
  handle = h;
  kind = 'discrete';
  const exact = view(h.exact_ptr(), h.exact_len()).slice();
  const topExact = view(h.top_exact_ptr(), h.top_len()).slice();
  const mask = Float32Array.from(h.mode_mask());
  post({
    type: 'dgrid', target: s.target, exact, topExact, mask, labels: h.top_labels().split(','),
    side: h.grid_side, nTerminal: h.n_terminal, cli: h.cli_args(),
  }, [exact.buffer, topExact.buffer, mask.buffer]);
  guarded(postDiscreteFrame);
}

function configure(s, v) {
  stop();
  inFlight = null; // a batch of the old run never resumes (its second worker is stopped)
  if (helperReady) {
    const ready = helperReady;
    helperReady = null;
    ready.then((hp) => hp.terminate(), () => {});
  }
  if (handle) {
    guarded(() => handle.free());
    handle = null;
  }
  if (s.kind === 'discrete') {
    configureDiscrete(s);
    return;
  }
  if (s.kind === 'vgs') {
    configureVgs(s, v);
    return;
  }
  if (s.kind === 'aldp') {
    configureAldp(s);
    return;
  }
  if (s.method !== 'smc') {
    configureTrain(s, v);
    return;
  }
  kind = 'smc';
  const q = new URLSearchParams({
    target: s.target, dim: s.dim, n: s.n, seed: s.seed, base_std: s.baseStd, cess: s.cess, mala: s.mala,
  });
  const h = guarded(() => new SmcPlayground(q.toString()));
  if (!h) return;
  handle = h;
  const cells = guarded(() => h.density_grid([v.xmin, v.xmax, v.ymin, v.ymax], v.nx, v.ny));
  if (cells === undefined) return;
  const values = view(h.grid_ptr(), h.grid_len()).slice();
  post({ type: 'grid', nx: v.nx, ny: v.ny, view: v, values, target: s.target }, [values.buffer]);
  guarded(postFrame);
}

function vgsOrTrainCsv() {
  const h = handle;
  const xy = view(h.samples_ptr(), h.samples_len());
  if (kind === 'vgs') {
    const lines = ['x0,x1'];
    for (let i = 0; i < xy.length / 2; i++) lines.push(`${xy[2 * i]},${xy[2 * i + 1]}`);
    return lines.join('\n') + '\n';
  }
  const lw = view(h.sample_log_w_ptr(), xy.length / 2);
  const lines = ['x0,x1,log_weight'];
  for (let i = 0; i < lw.length; i++) lines.push(`${xy[2 * i]},${xy[2 * i + 1]},${lw[i]}`);
  return lines.join('\n') + '\n';
}

/** The discrete CSV: every object's index, label-free coordinates, exact and empirical probability. */
function discreteCsv() {
  const h = handle;
  const p = view(h.exact_ptr(), h.exact_len());
  const q = view(h.empirical_ptr(), h.empirical_len());
  const side = h.grid_side;
  const lines = [side ? 'index,x0,x1,exact,empirical' : 'index,exact,empirical'];
  for (let i = 0; i < p.length; i++) {
    lines.push(side ? `${i},${i % side},${Math.floor(i / side)},${p[i]},${q[i]}` : `${i},${p[i]},${q[i]}`);
  }
  return lines.join('\n') + '\n';
}

function csv() {
  if (kind === 'aldp') return aldpCsv();
  if (kind === 'train' || kind === 'vgs') return vgsOrTrainCsv();
  if (kind === 'discrete') return discreteCsv();
  const h = handle;
  const n = h.n_particles;
  const d = h.dim;
  const x = view(h.particles_ptr(), h.particles_len());
  const w = view(h.weights_ptr(), h.weights_len());
  const head = [];
  for (let j = 0; j < d; j++) head.push(`x${j}`);
  head.push('weight');
  const lines = [head.join(',')];
  for (let i = 0; i < n; i++) {
    const row = [];
    for (let j = 0; j < d; j++) row.push(x[i * d + j]);
    row.push(w[i]);
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

self.onmessage = (ev) => {
  const m = ev.data;
  switch (m.type) {
    case 'config': configure(m.settings, m.view); break;
    case 'start':
      speed = m.speed || speed;
      if (handle && !running && !handle.done) {
        running = true;
        if (kind !== 'smc' && handle.iteration === 0) trainStart = performance.now();
        post({ type: 'state', running: true });
        tick();
      } else if (handle && handle.done) {
        const frame = { train: postTrainFrame, discrete: postDiscreteFrame, vgs: postVgsFrame, aldp: postAldpFrame }[kind];
        guarded(frame || postFrame);
      }
      break;
    case 'pause': stop(); break;
    case 'step':
      if (handle && !running && !inFlight) {
        if (guarded(() => handle.step(1)) !== undefined) {
          if (kind === 'train') {
            if (guarded(drawSamples) === undefined && dead) break;
            guarded(postTrainFrame);
          } else if (kind === 'discrete') {
            guarded(postDiscreteFrame);
          } else if (kind === 'vgs') {
            if (guarded(drawVgsSamples) === undefined && dead) break;
            guarded(postVgsFrame);
          } else if (kind === 'aldp') {
            if (guarded(drawAldpSamples) === undefined && dead) break;
            guarded(postAldpFrame);
          } else {
            guarded(postFrame);
          }
        }
      }
      break;
    case 'speed': speed = m.speed; break;
    case 'random-seed': {
      const seed = guarded(() => random_seed());
      if (seed !== undefined) post({ type: 'seed', seed });
      break;
    }
    case 'csv':
      if (handle) {
        const text = guarded(csv);
        const name = { discrete: 'discrete', vgs: 'vgs', aldp: 'aldp' }[kind] || handle.target;
        if (text !== undefined) post({ type: 'csv', text, target: name });
      }
      break;
    case 'trap': guarded(() => trap_for_tests()); break;
    default: break;
  }
};

self.addEventListener('unhandledrejection', (ev) => {
  post({ type: 'fatal', message: `worker: ${ev.reason}` });
});

try {
  wasm = await init();
  post({ type: 'ready', targets: JSON.parse(target_list()) });
} catch (e) {
  post({ type: 'fatal', message: `could not load the wasm module: ${e}` });
}
