// The TB training iteration timed by `benches/wasm_tb.mjs` (Node) and by
// `e2e/bench-wasm.mjs` (Chromium, `cargo xtask bench-web`): the playground's TrainPlayground
// settings and the timing scheme, in one place so that both benches time the same work.
//
// GMM40-2d, pinned Brownian reference (t_scale 5), T = 100, batch 300, hidden 64, 64
// harmonics, fixed variance (the playground's policy); the native twin is
// `amortise bench tb --fixed-variance`. Timing as the native bench: 1 + 3 warm-up
// iterations, then the median of 7 blocks of 5.

/**
 * TrainPlayground settings (a query string, the page's URL parameters). Every key that
 * matters for `method=tb` is explicit: the page's defaults change (since the playground
 * turned the Langevin drift on by default, leaving `langevin` out timed a network with the
 * Langevin branch, 22 % slower, against a native bench without it).
 */
export const TB_SETTINGS = 'target=gmm40&method=tb&seed=0&iters=1000&batch=300&steps=100&' +
  `reference=pinned&sigma=${Math.sqrt(5)}&hidden=64&harmonics=64&lr=0.001&exploration=0&` +
  'langevin=0';
/** Untimed iterations before the first block. */
export const WARMUP = 4;
/** Timed blocks; the rate is the median block's. */
export const BLOCKS = 7;
/** Iterations per timed block. */
export const PER_BLOCK = 5;
/** What the JSON line reports about the workload. */
export const WORKLOAD = { batch: 300, steps: 100, learned_variance: false };

/** The median of a list of seconds per iteration (middle element, upper for even lengths). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
