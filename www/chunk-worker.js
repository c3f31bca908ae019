// The second worker of a two-worker TB run (www/chunks.js): owns a ChunkWorker of the
// wasm module (the run's settings, no model of its own) and computes the gradient chunks
// it is sent at the parameters it is sent.
//
// Messages in:  {type: 'init', settings, chunks}
//               {type: 'compute', params, seeds, lo, hi}
// Messages out: {type: 'ready'}  {type: 'result', grads, sums} (transferred)
//               {type: 'error', message}

import init, { ChunkWorker } from './pkg/amortise_wasm.js';

let worker = null;

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'init') {
      await init();
      worker = new ChunkWorker(data.settings, data.chunks);
      self.postMessage({ type: 'ready' });
    } else if (data.type === 'compute') {
      worker.compute(data.params, data.seeds, data.lo, data.hi);
      const grads = worker.grads();
      const sums = worker.sums();
      self.postMessage({ type: 'result', grads, sums }, [grads.buffer, sums.buffer]);
    }
  } catch (e) {
    self.postMessage({ type: 'error', message: String(e && e.message !== undefined ? e.message : e) });
  }
};
