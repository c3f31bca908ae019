// The TB training iteration of benches/wasm_tb.mjs in Chromium: www/bench.html runs the
// playground bundle (simd128) in a module Worker, as the playground does, with the settings
// and timing scheme of benches/tb_settings.mjs, and this script prints the same JSON line as
// wasm_tb.mjs (with `browser` and `thread` instead of `node`).
//
// CPU time: the user + system time of Chromium's renderer processes (the page's process,
// whose worker thread runs the wasm; /proc/<pid>/stat of the descendants of this process
// started with --type=renderer) over the timed blocks, as process.cpuUsage() covers the
// whole Node process in wasm_tb.mjs. Linux only.
//
// Run by `cargo xtask bench-web` (which builds www/pkg, serves www/ and sets BENCH_URL and
// CHROMIUM); `--smoke` runs one iteration without warm-up (a check that it works, no
// timing worth reading; `cargo xtask test-web` runs it).
//
// Workers: `--workers 1,2 --chunks C [--rounds R]` times the chunked iteration (C gradient
// chunks, www/chunks.js) in one worker and split over two, alternating for R rounds (a fresh
// page each run), prints one line per run and then the medians, the ratio and whether
// every run ended with the same parameter checksum (it must: a mismatch fails).
import { readFileSync, readdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { TB_SETTINGS, WARMUP, BLOCKS, PER_BLOCK, WORKLOAD, median } from '../benches/tb_settings.mjs';

const BASE = process.env.BENCH_URL || 'http://127.0.0.1:8000/';
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const smoke = process.argv.includes('--smoke');
const [warmup, blocks, per] = smoke ? [0, 1, 1] : [WARMUP, BLOCKS, PER_BLOCK];
const TICK = 100; // clock ticks per second of /proc/<pid>/stat (USER_HZ on Linux)

/** `[pid, ppid, user + system ticks]` of every process in /proc. */
function processes() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // fields after the command name, which is in parentheses and may hold spaces
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push([Number(name), Number(f[1]), Number(f[11]) + Number(f[12])]);
    } catch { /* the process ended meanwhile */ }
  }
  return out;
}

/** The pids of the renderer processes among this process's descendants. */
function rendererPids() {
  const procs = processes();
  const children = new Map();
  for (const [pid, ppid] of procs) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const mine = new Set();
  const todo = [process.pid];
  while (todo.length) {
    for (const c of children.get(todo.pop()) || []) {
      mine.add(c);
      todo.push(c);
    }
  }
  const pids = [];
  for (const [pid] of procs) {
    if (!mine.has(pid)) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes('--type=renderer')) pids.push(pid);
  }
  if (pids.length === 0) throw new Error('no Chromium renderer process found under this process');
  return pids;
}

/** user + system ticks of `/proc/<path>/stat`, or 0 if it is gone. */
function ticksOf(path) {
  try {
    const stat = readFileSync(`/proc/${path}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of the renderer processes, in total and per thread (`Map` tid → seconds; the
 * workers are threads of the page's renderer).
 */
function rendererCpu() {
  let total = 0;
  const threads = new Map();
  for (const pid of rendererPids()) {
    total += ticksOf(pid);
    for (const tid of readdirSync(`/proc/${pid}/task`)) threads.set(tid, ticksOf(`${pid}/task/${tid}`) / TICK);
  }
  return { total: total / TICK, threads };
}

/** The value after `--name` on the command line, or `def`. */
function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const WORKERS = arg('workers', '1').split(',').map(Number);
const CHUNKS = Number(arg('chunks', '0'));
const ROUNDS = Number(arg('rounds', '1'));
if (WORKERS.some((w) => w !== 1 && w !== 2) || !(CHUNKS >= 0) || !(ROUNDS >= 1)) {
  throw new Error('usage: bench-wasm.mjs [--smoke] [--workers 1,2] [--chunks C] [--rounds R]');
}
if (WORKERS.includes(2) && CHUNKS < 2) throw new Error('--workers 2 needs --chunks C >= 2');

/** One page: warm up, time the blocks; `{secs, cpuPerIter, loss, checksum}`. */
async function runOnce(browser, workers) {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  const q = new URLSearchParams({
    settings: TB_SETTINGS, warmup: String(warmup), workers: String(workers), chunks: String(CHUNKS),
  });
  await page.goto(`${BASE}bench.html?${q}`);
  const state = () => page.waitForFunction(
    () => ['warm', 'done', 'error'].includes(window.bench && window.bench.state) && window.bench.state,
    null, { timeout: 600_000, polling: 100 }).then((h) => h.jsonValue());
  let s = await state();
  if (s !== 'warm') throw new Error(`bench page: ${await page.evaluate(() => window.bench.error)}`);
  const cpu0 = rendererCpu();
  await page.evaluate(([b, p]) => window.bench.go(b, p), [blocks, per]);
  s = await state();
  const cpu1 = rendererCpu();
  // the busiest threads over the timed blocks: the worker(s)
  const busiest = [...cpu1.threads].map(([tid, t]) => t - (cpu0.threads.get(tid) || 0))
    .sort((a, b) => b - a).slice(0, 2).map((t) => t / (blocks * per));
  if (s !== 'done') throw new Error(`bench page: ${await page.evaluate(() => window.bench.error)}`);
  const r = await page.evaluate(() => window.bench.result);
  await page.close();
  if (problems.length) throw new Error(`console errors: ${problems.join(' | ')}`);
  if (!Number.isFinite(r.loss)) throw new Error(`non-finite loss ${r.loss}`);
  return {
    secs: median(r.blocks), cpuPerIter: (cpu1.total - cpu0.total) / (blocks * per), busiest, loss: r.loss,
    checksum: r.checksum,
  };
}

const browser = await chromium.launch({ executablePath: EXE, args: ARGS });
let code = 0;
try {
  const runs = new Map(WORKERS.map((w) => [w, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const workers of WORKERS) {
      const r = await runOnce(browser, workers);
      runs.get(workers).push(r);
      console.log(JSON.stringify({
        bench: 'wasm_tb_train', rate: 1 / r.secs, unit: 'iters/s',
        rate_per_cpu_second: r.cpuPerIter > 0 ? 1 / r.cpuPerIter : null, cpu_seconds_per_call: r.cpuPerIter,
        ...WORKLOAD, loss: r.loss, browser: `Chromium ${browser.version()}`, thread: 'worker',
        workers, grad_chunks: CHUNKS, round, checksum: r.checksum, busiest_threads_cpu_seconds_per_call: r.busiest,
        ...(smoke ? { smoke: true } : {}),
      }));
    }
  }
  if (WORKERS.length > 1 || ROUNDS > 1) {
    // medians over the rounds; every run did the same iterations, so one checksum
    const rates = Object.fromEntries(WORKERS.map((w) => [w, 1 / median(runs.get(w).map((r) => r.secs))]));
    const sums = new Set([...runs.values()].flat().map((r) => r.checksum));
    // With busy cores the second worker cannot run in parallel and the wall clock shows
    // no gain; the CPU-time bound of two free cores: one worker's CPU time per iteration
    // over the busier thread's in the two-worker run (its critical path).
    const cpu = (w, f) => median(runs.get(w).map(f));
    const bound = runs.has(1) && runs.has(2)
      ? cpu(1, (r) => r.cpuPerIter) / cpu(2, (r) => r.busiest[0]) : null;
    console.log(JSON.stringify({
      bench: 'wasm_tb_train_workers', median_rate: rates, grad_chunks: CHUNKS, rounds: ROUNDS,
      ...(rates[1] && rates[2] ? { speedup_2_over_1: rates[2] / rates[1], cpu_time_bound_2_over_1: bound } : {}),
      checksums: [...sums], same_bits: sums.size === 1,
    }));
    if (sums.size !== 1) throw new Error(`workers gave different parameters: ${[...sums].join(', ')}`);
  }
} catch (e) {
  console.error(`bench-wasm: ${e.message || e}`);
  code = 1;
} finally {
  await browser.close();
}
process.exitCode = code;
