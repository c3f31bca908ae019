// The TB training iteration of `amortise bench tb --fixed-variance` in wasm under Node: the
// browser bundle's TrainPlayground (simd128 build) on GMM40-2d, pinned Brownian reference
// (t_scale 5), T = 100, batch 300, hidden 64, 64 harmonics, fixed variance (the playground's
// policy). `langevin=0`: the playground turns the Langevin branch on by default, which
// the native bench does not run (a per-row target gradient and a second time network every
// step: about 20 % more work). Timing as the native bench: 1 + 3 warm-up iterations, then the median of 7
// blocks of 5; the CPU-time rate uses process.cpuUsage() over the timed blocks.
//
//   node benches/wasm_tb.mjs [path/to/pkg]      (pkg = wasm-bindgen --target web output)
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

const PKG = process.argv[2] || 'www/pkg';
const tmp = mkdtempSync(join(tmpdir(), 'amortise-wasm-bench-'));
const js = join(tmp, 'amortise_wasm.mjs');
writeFileSync(js, readFileSync(join(PKG, 'amortise_wasm.js')));
const m = await import(pathToFileURL(js).href);
m.initSync({ module: readFileSync(join(PKG, 'amortise_wasm_bg.wasm')) });

const query = 'target=gmm40&method=tb&seed=0&iters=1000&batch=300&steps=100&reference=pinned&' +
  `sigma=${Math.sqrt(5)}&hidden=64&harmonics=64&lr=0.001&exploration=0&langevin=0`;
const h = new m.TrainPlayground(query);
for (let i = 0; i < 4; i++) h.step(1);
const blocks = [];
const cpu0 = process.cpuUsage();
for (let b = 0; b < 7; b++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 5; i++) h.step(1);
  blocks.push(Number(process.hrtime.bigint() - t0) / 1e9 / 5);
}
const cpu = process.cpuUsage(cpu0);
blocks.sort((a, b) => a - b);
const secs = blocks[3];
const cpuPerIter = (cpu.user + cpu.system) / 1e6 / 35;
console.log(JSON.stringify({
  bench: 'wasm_tb_train', rate: 1 / secs, unit: 'iters/s', rate_per_cpu_second: 1 / cpuPerIter,
  cpu_seconds_per_call: cpuPerIter, batch: 300, steps: 100, learned_variance: false,
  loss: h.loss, node: process.version,
}));
h.free();
