// The TB training iteration of `amortise bench tb --fixed-variance` in wasm under Node: the
// browser bundle's TrainPlayground (simd128 build) with the settings and timing scheme of
// `benches/tb_settings.mjs` (GMM40-2d, T = 100, batch 300; 1 + 3 warm-up iterations, then
// the median of 7 blocks of 5). The CPU-time rate uses process.cpuUsage() over the timed
// blocks. `cargo xtask bench-web` times the same iteration in Chromium.
//
//   node benches/wasm_tb.mjs [path/to/pkg]      (pkg = wasm-bindgen --target web output)
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { TB_SETTINGS, WARMUP, BLOCKS, PER_BLOCK, WORKLOAD, median } from './tb_settings.mjs';

const PKG = process.argv[2] || 'www/pkg';
const tmp = mkdtempSync(join(tmpdir(), 'amortise-wasm-bench-'));
const js = join(tmp, 'amortise_wasm.mjs');
writeFileSync(js, readFileSync(join(PKG, 'amortise_wasm.js')));
const m = await import(pathToFileURL(js).href);
m.initSync({ module: readFileSync(join(PKG, 'amortise_wasm_bg.wasm')) });

const h = new m.TrainPlayground(TB_SETTINGS);
for (let i = 0; i < WARMUP; i++) h.step(1);
const blocks = [];
const cpu0 = process.cpuUsage();
for (let b = 0; b < BLOCKS; b++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < PER_BLOCK; i++) h.step(1);
  blocks.push(Number(process.hrtime.bigint() - t0) / 1e9 / PER_BLOCK);
}
const cpu = process.cpuUsage(cpu0);
const secs = median(blocks);
const cpuPerIter = (cpu.user + cpu.system) / 1e6 / (BLOCKS * PER_BLOCK);
console.log(JSON.stringify({
  bench: 'wasm_tb_train', rate: 1 / secs, unit: 'iters/s', rate_per_cpu_second: 1 / cpuPerIter,
  cpu_seconds_per_call: cpuPerIter, ...WORKLOAD, loss: h.loss, node: process.version,
}));
h.free();
