// Reproducibility: the browser bundle (www/pkg, simd128 + wasm-opt -O3) trains exactly as
// the native CLI. Run by `cargo xtask test`, which runs `amortise train` for each case and
// passes REPRO_CASES = [{dir, query, kind}]: the CLI's output folder and the same settings as
// the playground handle's `key=value&…` string; `kind` is absent for `amortise train`
// (TrainPlayground; with `grad_chunks`, the chunked iteration of `amortise train --threads 2
// --grad-chunks C`, `set_chunks(C)`), `aldp` for `amortise train --target aldp` (AldpPlayground), `discrete`
// for `amortise train-discrete` (DiscretePlayground) and `vgs` for `amortise train-vgs`
// (VgsPlayground).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

const PKG = process.env.WASM_PKG || 'www/pkg';
const CASES = JSON.parse(process.env.REPRO_CASES || '[]');

/** Loads the web-target bundle in Node (copied to .mjs: www/ has no package.json). */
async function load() {
  const tmp = mkdtempSync(join(tmpdir(), 'amortise-repro-'));
  const js = join(tmp, 'amortise_wasm.mjs');
  writeFileSync(js, readFileSync(join(PKG, 'amortise_wasm.js')));
  const m = await import(pathToFileURL(js).href);
  m.initSync({ module: readFileSync(join(PKG, 'amortise_wasm_bg.wasm')) });
  return m;
}

test('the cases are given', () => {
  assert.ok(CASES.length > 0, 'REPRO_CASES is empty: run this through `cargo xtask test`');
});

/** FNV-1a 64 over the little-endian bytes of the f32 parameters (the CLI's checksum). */
function checksum(params) {
  const bytes = new Uint8Array(Float32Array.from(params).buffer);
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

for (const { dir, query, kind } of CASES.filter((c) => c.kind === 'discrete')) {
  test(`wasm reproduces amortise train-discrete: ${query.slice(0, 40)}…`, async () => {
    const { DiscretePlayground } = await load();
    const sm = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    // evaluate only at the end, as the CLI does with --eval-every = iters
    const h = new DiscretePlayground(`${query}&eval_every=100000`);
    let ran = 0;
    while (!h.done) ran += h.step(7);
    assert.equal(ran, sm.iters);
    const got = { loss: h.loss, log_z_learned: h.log_z, log_z_true: h.log_z_true, modes_total: h.modes_total };
    const want = { loss: sm.loss, log_z_learned: sm.log_z_learned, log_z_true: sm.log_z_true, modes_total: sm.modes_total };
    console.log(`wasm   ${JSON.stringify(got)}\nnative ${JSON.stringify(want)}\nflags  ${h.cli_args()} (${kind})`);
    assert.deepEqual(got, want);
    h.free();
  });
}

for (const { dir, query } of CASES.filter((c) => c.kind === 'vgs')) {
  test(`wasm reproduces amortise train-vgs: ${query.slice(0, 40)}…`, async () => {
    const { VgsPlayground } = await load();
    const sm = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
    const h = new VgsPlayground(query);
    let ran = 0;
    while (!h.done) ran += h.step(3);
    assert.equal(ran, sm.iters);
    const got = { checksum: h.param_checksum(), init_sigma: h.init_sigma, td_loss: h.loss };
    // the checkpoint's first group is the value network (then its target copy and log σ_init)
    const value = ck.params.slice(0, ck.groups[0].len);
    assert.equal(ck.groups[0].name, 'value');
    const want = { checksum: checksum(value), init_sigma: sm.init_sigma, td_loss: Math.fround(sm.final_td_loss) };
    console.log(`wasm   ${JSON.stringify(got)}\nnative ${JSON.stringify(want)}\nflags  ${h.cli_args()}`);
    assert.deepEqual(got, want);
    h.free();
  });
}

for (const { dir, query, kind, grad_chunks: chunks } of CASES.filter((c) => !c.kind || c.kind === 'aldp')) {
  test(`wasm reproduces the native CLI bit for bit: ${query.slice(0, 40)}…`, async () => {
    const { TrainPlayground, AldpPlayground } = await load();
    const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
    const sm = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const h = kind === 'aldp' ? new AldpPlayground(query) : new TrainPlayground(query);
    if (chunks) h.set_chunks(chunks);
    let ran = 0;
    while (!h.done) ran += h.step(1);
    assert.equal(ran, h.iters);
    assert.equal(ck.iteration ?? ran, ran);
    const got = { checksum: h.param_checksum(), final_tb_loss: h.loss, log_z_learnt: h.log_z };
    const want = { checksum: ck.checksum, final_tb_loss: sm.final_tb_loss, log_z_learnt: sm.log_z_learnt };
    console.log(`wasm   ${JSON.stringify(got)}\nnative ${JSON.stringify(want)}\nflags  ${h.cli_args()}`);
    assert.deepEqual(got, want);
    h.free();
  });
}
