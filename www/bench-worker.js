// The benchmark worker of bench.html: loads the playground bundle (www/pkg, the simd128
// build), builds one TrainPlayground and times its TB iterations with performance.now().
// With `chunks` > 0 the iterations are the chunked ones (`set_chunks`), computed here
// (`workers` 1) or split with a second worker as the playground does (`workers` 2,
// www/chunks.js).
//
// Messages in:  {type: 'start', settings, warmup, workers, chunks}  {type: 'go', blocks, per}
// Messages out: {type: 'warm', warmup, warmupSeconds}
//               {type: 'done', blocks: [seconds per iteration of each block], loss, iterations,
//                checksum}
//               {type: 'error', message}

import init, { TrainPlayground } from './pkg/amortise_wasm.js';
import { ChunkHelper } from './chunks.js';

let handle = null;
let helper = null;
let iterations = 0;

/** One iteration: in this worker, or split with the second worker. */
async function step() {
  if (helper) await helper.step(handle);
  else handle.step(1);
}

function fail(e) {
  self.postMessage({ type: 'error', message: String(e && e.message !== undefined ? e.message : e) });
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'start') {
      await init();
      handle = new TrainPlayground(data.settings);
      if (data.chunks > 0) handle.set_chunks(data.chunks);
      if (data.workers === 2) helper = await ChunkHelper.start(data.settings, data.chunks);
      const t0 = performance.now();
      for (let i = 0; i < data.warmup; i++) await step();
      iterations += data.warmup;
      self.postMessage({ type: 'warm', warmup: data.warmup, warmupSeconds: (performance.now() - t0) / 1e3 });
    } else if (data.type === 'go') {
      const blocks = [];
      for (let b = 0; b < data.blocks; b++) {
        const t0 = performance.now();
        for (let i = 0; i < data.per; i++) await step();
        blocks.push((performance.now() - t0) / 1e3 / data.per);
      }
      iterations += data.blocks * data.per;
      self.postMessage({ type: 'done', blocks, loss: handle.loss, iterations, checksum: handle.param_checksum() });
    }
  } catch (e) {
    fail(e);
  }
};
