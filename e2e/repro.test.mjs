// Reproducibility: the browser bundle (www/pkg, simd128 + wasm-opt -O3) trains exactly as
// the native CLI. Run by `cargo xtask test`, which runs `amortise train` for each case and
// passes REPRO_CASES = [{dir, query}]: the CLI's output folder and the same settings as
// TrainPlayground's `key=value&…` string.
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

for (const { dir, query } of CASES) {
  test(`wasm reproduces the native CLI bit for bit: ${query.slice(0, 40)}…`, async () => {
    const { TrainPlayground } = await load();
    const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
    const sm = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const h = new TrainPlayground(query);
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
