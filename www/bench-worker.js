// The benchmark worker of bench.html: loads the playground bundle (www/pkg, the simd128
// build), builds one TrainPlayground and times its TB iterations with performance.now().
//
// Messages in:  {type: 'start', settings, warmup}  {type: 'go', blocks, per}
// Messages out: {type: 'warm', warmup, warmupSeconds}
//               {type: 'done', blocks: [seconds per iteration of each block], loss, iterations}
//               {type: 'error', message}

import init, { TrainPlayground } from './pkg/amortise_wasm.js';

let handle = null;
let iterations = 0;

function fail(e) {
  self.postMessage({ type: 'error', message: String(e && e.message !== undefined ? e.message : e) });
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'start') {
      await init();
      handle = new TrainPlayground(data.settings);
      const t0 = performance.now();
      for (let i = 0; i < data.warmup; i++) handle.step(1);
      iterations += data.warmup;
      self.postMessage({ type: 'warm', warmup: data.warmup, warmupSeconds: (performance.now() - t0) / 1e3 });
    } else if (data.type === 'go') {
      const blocks = [];
      for (let b = 0; b < data.blocks; b++) {
        const t0 = performance.now();
        for (let i = 0; i < data.per; i++) handle.step(1);
        blocks.push((performance.now() - t0) / 1e3 / data.per);
      }
      iterations += data.blocks * data.per;
      self.postMessage({ type: 'done', blocks, loss: handle.loss, iterations });
    }
  } catch (e) {
    fail(e);
  }
};
