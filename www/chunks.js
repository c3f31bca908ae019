// The two-worker TB iteration (wasm-demo/src/chunks.rs): the worker that owns the
// TrainPlayground (the coordinator) draws one seed per gradient chunk, sends the parameters
// and the seeds of the upper chunks to a second worker (www/chunk-worker.js), computes the
// lower chunks itself meanwhile, takes the second worker's gradients and sums, and adds all
// chunks in chunk order before the Adam step. A chunk depends only on the parameters, its
// rows and its seed, so one worker and two give the same bits (and the native CLI with
// `--grad-chunks C` gives them too).
//
// Used by www/worker.js (the playground) and www/bench-worker.js (`cargo xtask bench-web`).

/** A second worker computing chunks `split..chunks` of every iteration. */
export class ChunkHelper {
  /**
   * Starts the second worker for a run of `settings` (TrainPlayground's query) in `chunks`
   * gradient chunks; resolves once its wasm module and ChunkWorker are ready.
   */
  static start(settings, chunks) {
    const h = new ChunkHelper(chunks);
    return h.request({ type: 'init', settings, chunks }).then(() => h);
  }

  constructor(chunks) {
    this.chunks = chunks;
    // the coordinator also reduces and steps, so the second worker takes the larger half
    this.split = Math.floor(chunks / 2);
    this.worker = new Worker(new URL('./chunk-worker.js', import.meta.url), { type: 'module' });
    this.pending = null;
    this.closed = false;
    this.worker.onmessage = ({ data }) => {
      const p = this.pending;
      this.pending = null;
      if (!p) return;
      if (data.type === 'error') p.reject(new Error(data.message));
      else p.resolve(data);
    };
    this.worker.onerror = (e) => {
      const p = this.pending;
      this.pending = null;
      if (p) p.reject(new Error(`chunk worker: ${e.message || 'failed to load'}`));
    };
  }

  /** Posts `msg` (transferring `transfer`) and resolves with the worker's reply. */
  request(msg, transfer = []) {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(msg, transfer);
    });
  }

  /**
   * One iteration of the TrainPlayground `h` (set to this helper's chunks): resolves with 1,
   * or 0 once the run is complete. A wasm error rejects with the handle's message.
   */
  async step(h) {
    const seeds = h.chunk_begin();
    if (seeds.length === 0) return 0;
    const params = h.params();
    const reply = this.request({ type: 'compute', params, seeds, lo: this.split, hi: this.chunks },
      [params.buffer]);
    let local = null;
    try {
      h.chunk_compute(0, this.split);
    } catch (e) {
      local = e;
    }
    // the second worker answers either way: take its answer before the next request
    const r = await reply;
    if (local) throw local;
    if (this.closed) return 0;
    h.chunk_put(this.split, this.chunks, r.grads, r.sums);
    return h.chunk_finish();
  }

  /** Stops the second worker; an iteration waiting for it never resumes. */
  terminate() {
    this.closed = true;
    this.worker.terminate();
  }
}
