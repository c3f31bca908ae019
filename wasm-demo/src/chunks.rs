//! The playground's chunked TB iteration, for a page that computes the chunks of one
//! iteration in two Web Workers: the kernel's pieces
//! ([`amortise_kernel::samplers::diffusion::train::chunks`], which the CLI's `--threads`
//! runner uses too) over owned buffers.
//!
//! The coordinating worker's [`crate::train::TrainCore`] draws one seed per chunk from the
//! run's RNG ([`ChunkSet::begin`]), computes some chunks itself ([`ChunkSet::compute`]),
//! takes the others' results from the second worker's [`ChunkSet`] ([`ChunkSet::packed`] →
//! [`ChunkSet::put`]) and adds them **in chunk order** before the Adam step
//! ([`ChunkSet::finish`]). A chunk depends only on the parameters, its rows and its seed,
//! so one worker and two give the same bits, and the native CLI with
//! `--grad-chunks C` (any `--threads`) gives them too.
//!
//! Covered: `method=tb` (on-policy batches). The buffer methods would also need the buffer
//! draw's rows sent out and the on-policy rows gathered back for the insert.

use amortise_kernel::rng::Xoshiro256PlusPlus;
use amortise_kernel::samplers::diffusion::reference::Schedule;
use amortise_kernel::samplers::diffusion::tb::TbChunkSums;
use amortise_kernel::samplers::diffusion::train::chunks::{
    self, ChunkBufs, ChunkJob, ChunkSums, Reduction, Source,
};
use amortise_kernel::samplers::diffusion::train::{
    self, Config, ExternalGradient, Info, Layout, Method, State, Views,
};
use amortise_kernel::targets::{LogDensity, Target};
use wasm_bindgen::prelude::*;

use crate::error::{PlaygroundError, bad};
use crate::train::{model, parse_settings, target_2d, train_targets};
use crate::{TrainPlayground, js_err};

/// Values per chunk in [`ChunkSet::packed`]'s sums: `Σδ`, `Σδ²`, masked rows, SubTB loss
/// sum, SubTB rows kept (the counts are exact in `f64`).
pub const SUMS_PER_CHUNK: usize = 5;

/// Most gradient chunks of a run.
pub const MAX_CHUNKS: usize = 64;

fn kernel(e: amortise_kernel::Error) -> PlaygroundError {
    PlaygroundError::kernel("run", e)
}

/// The buffers, seeds and results of the `C` chunks of one run.
#[derive(Debug)]
pub struct ChunkSet {
    layout: Layout,
    table: Vec<f32>,
    arenas: Vec<Vec<f32>>,
    seeds: Vec<u64>,
    sums: Vec<Option<ChunkSums>>,
    grads: Vec<f32>,
    flow_grads: Vec<f32>,
}

impl ChunkSet {
    /// Buffers for `chunks` chunks of a run of the trainer (`cfg`, `layout`).
    ///
    /// # Errors
    /// A method other than `tb`, or `chunks` outside `1..=min(batch, MAX_CHUNKS)` (on
    /// `workers`).
    pub fn new(cfg: &Config, layout: &Layout, chunks: usize) -> Result<Self, PlaygroundError> {
        if cfg.method != Method::Tb {
            return Err(bad(
                "workers",
                "the chunked (two-worker) runner covers method tb only",
            ));
        }
        if chunks > MAX_CHUNKS || chunks::check_chunks(cfg.batch, chunks).is_err() {
            return Err(bad(
                "workers",
                format!(
                    "gradient chunks must be in 1..={}",
                    cfg.batch.min(MAX_CHUNKS)
                ),
            ));
        }
        let mut table = vec![0.0f32; Schedule::table_len(cfg.steps)];
        Schedule::new(cfg.process, cfg.steps, &mut table).map_err(kernel)?;
        let arenas = (0..chunks)
            .map(|c| {
                let rows = chunks::chunk_rows(cfg.batch, chunks, c).len();
                vec![0.0; ChunkBufs::arena_len(layout, rows)]
            })
            .collect();
        Ok(ChunkSet {
            layout: *layout,
            table,
            arenas,
            seeds: vec![0; chunks],
            sums: vec![None; chunks],
            grads: vec![0.0; layout.net.param_count()],
            flow_grads: vec![0.0; layout.flow_params],
        })
    }

    /// Chunks of the run (at least 1).
    pub fn count(&self) -> usize {
        self.seeds.len()
    }

    /// Starts an iteration: one seed per chunk from the run's RNG, in chunk order.
    pub fn begin(&mut self, rng: &mut Xoshiro256PlusPlus) -> &[u64] {
        chunks::draw_seeds(&mut self.seeds, rng);
        self.sums.iter_mut().for_each(|s| *s = None);
        &self.seeds
    }

    /// Sets the iteration's seeds (a second worker's copy of the coordinator's).
    ///
    /// # Errors
    /// Not one seed per chunk (`run`).
    pub fn set_seeds(&mut self, seeds: &[u64]) -> Result<(), PlaygroundError> {
        if seeds.len() != self.seeds.len() {
            return Err(bad("run", "one seed per gradient chunk"));
        }
        self.seeds.copy_from_slice(seeds);
        self.sums.iter_mut().for_each(|s| *s = None);
        Ok(())
    }

    /// Computes chunks `lo..hi` at the model parameters `params` ([`Layout::params`]).
    ///
    /// # Errors
    /// A range outside the chunks, wrong parameters, or the kernel's error (`run`).
    pub fn compute<T: LogDensity + ?Sized>(
        &mut self,
        cfg: &Config,
        params: &[f32],
        target: &T,
        (lo, hi): (usize, usize),
    ) -> Result<(), PlaygroundError> {
        self.check_range(lo, hi)?;
        if params.len() != self.layout.n_params {
            return Err(bad("run", "the parameters are not this run's"));
        }
        let lay = &self.layout;
        let sched = Schedule::view(cfg.process, cfg.steps, &self.table).map_err(kernel)?;
        let source = Source::OnPolicy { log_w: false };
        let job = ChunkJob::new((cfg, lay), &sched, params, target, source);
        let n = self.seeds.len();
        for c in lo..hi {
            let rows = chunks::chunk_rows(cfg.batch, n, c);
            let mut b = ChunkBufs::carve(lay, rows.len(), &mut self.arenas[c]).map_err(kernel)?;
            let sums = job.run(rows.start, &mut b, self.seeds[c]).map_err(kernel)?;
            self.sums[c] = Some(sums);
        }
        Ok(())
    }

    fn check_range(&self, lo: usize, hi: usize) -> Result<(), PlaygroundError> {
        if lo > hi || hi > self.seeds.len() {
            return Err(bad("run", format!("chunks {lo}..{hi} of {}", self.count())));
        }
        Ok(())
    }

    /// The results of chunks `lo..hi` for another worker: their policy and flow gradients
    /// one chunk after the other, and [`SUMS_PER_CHUNK`] sums per chunk.
    ///
    /// # Errors
    /// A chunk of the range not computed (`run`).
    pub fn packed(
        &mut self,
        lo: usize,
        hi: usize,
    ) -> Result<(Vec<f32>, Vec<f64>), PlaygroundError> {
        self.check_range(lo, hi)?;
        let (mut g, mut s) = (Vec::new(), Vec::new());
        for c in lo..hi {
            let sums =
                self.sums[c].ok_or_else(|| bad("run", "a gradient chunk was not computed"))?;
            let rows = self.chunk_len(c);
            let b = ChunkBufs::carve(&self.layout, rows, &mut self.arenas[c]).map_err(kernel)?;
            g.extend_from_slice(b.grads);
            g.extend_from_slice(b.flow_grads);
            s.extend_from_slice(&[
                sums.tb.sum_delta,
                sums.tb.sum_delta2,
                f64::from(sums.tb.masked),
                sums.subtb_loss,
                f64::from(sums.subtb_kept),
            ]);
        }
        Ok((g, s))
    }

    fn chunk_len(&self, c: usize) -> usize {
        chunks::chunk_rows(self.layout.batch, self.seeds.len(), c).len()
    }

    /// Takes another worker's results of chunks `lo..hi` ([`ChunkSet::packed`]).
    ///
    /// # Errors
    /// Lengths that do not match the range (`run`).
    pub fn put(
        &mut self,
        (lo, hi): (usize, usize),
        grads: &[f32],
        sums: &[f64],
    ) -> Result<(), PlaygroundError> {
        self.check_range(lo, hi)?;
        let per = self.grads.len() + self.flow_grads.len();
        if grads.len() != (hi - lo) * per || sums.len() != (hi - lo) * SUMS_PER_CHUNK {
            return Err(bad("run", "chunk results of the wrong length"));
        }
        let count = |v: f64| {
            if (0.0..=f64::from(u32::MAX)).contains(&v) {
                v as u32
            } else {
                u32::MAX
            }
        };
        for (i, c) in (lo..hi).enumerate() {
            let rows = self.chunk_len(c);
            let b = ChunkBufs::carve(&self.layout, rows, &mut self.arenas[c]).map_err(kernel)?;
            let g = &grads[i * per..(i + 1) * per];
            let (gp, gf) = g.split_at(b.grads.len());
            b.grads.copy_from_slice(gp);
            b.flow_grads.copy_from_slice(gf);
            let s = &sums[i * SUMS_PER_CHUNK..(i + 1) * SUMS_PER_CHUNK];
            self.sums[c] = Some(ChunkSums {
                tb: TbChunkSums {
                    sum_delta: s[0],
                    sum_delta2: s[1],
                    masked: count(s[2]),
                },
                subtb_loss: s[3],
                subtb_kept: count(s[4]),
            });
        }
        Ok(())
    }

    /// Ends the iteration: adds every chunk's result in chunk order and takes the trainer's
    /// clipped Adam step ([`train::apply_gradient`]).
    ///
    /// # Errors
    /// A chunk not computed, or the kernel's error (`run`).
    pub fn finish(
        &mut self,
        cfg: &Config,
        state: &mut State,
        views: &mut Views<'_>,
    ) -> Result<Info, PlaygroundError> {
        let (grads, flow) = (&mut self.grads, &mut self.flow_grads);
        let mut red = Reduction::start(grads, flow);
        let n = self.seeds.len();
        for (c, arena) in self.arenas.iter_mut().enumerate() {
            let sums =
                self.sums[c].ok_or_else(|| bad("run", "a gradient chunk was not computed"))?;
            let rows = chunks::chunk_rows(self.layout.batch, n, c).len();
            let b = ChunkBufs::carve(&self.layout, rows, arena).map_err(kernel)?;
            red.add(&sums, (b.grads, b.flow_grads), (grads, flow))
                .map_err(kernel)?;
        }
        let grad = red
            .finish(self.layout.batch, (grads, flow))
            .map_err(kernel)?;
        let grad = ExternalGradient {
            policy: grads,
            flow,
            ..grad
        };
        let info = train::apply_gradient(cfg, state, views, &grad).map_err(kernel)?;
        self.sums.iter_mut().for_each(|s| *s = None);
        Ok(info)
    }
}

/// The chunked iteration of a [`crate::TrainPlayground`] (the coordinating worker).
#[wasm_bindgen]
impl TrainPlayground {
    /// Switches the run to the chunked iteration with `chunks` gradient chunks (the native
    /// `--grad-chunks`), before the first iteration; `step(k)` then computes every chunk
    /// here, and `chunk_begin` … `chunk_finish` split an iteration with a [`ChunkWorker`].
    ///
    /// # Errors
    /// `"workers: …"` for a method other than tb, a count outside `1..=min(batch, 64)`, or
    /// after the first iteration.
    pub fn set_chunks(&mut self, chunks: u32) -> Result<(), JsError> {
        self.core.set_chunks(chunks as usize).map_err(js_err)
    }

    /// The gradient chunks (0 for the kernel's one-batch iteration).
    #[wasm_bindgen(getter)]
    pub fn chunks(&self) -> u32 {
        self.core.chunk_count() as u32
    }

    /// Starts a chunked iteration: one seed per chunk from the run's RNG (empty once the
    /// run is complete).
    ///
    /// # Errors
    /// The prefill's error, or an earlier one of the run.
    pub fn chunk_begin(&mut self) -> Result<Vec<u64>, JsError> {
        self.core.step(0).map_err(js_err)?;
        Ok(self.core.chunk_begin())
    }

    /// A copy of the model parameters (for the [`ChunkWorker`]).
    pub fn params(&self) -> Vec<f32> {
        self.core.params().to_vec()
    }

    /// Computes chunks `lo..hi` of the started iteration in this worker.
    ///
    /// # Errors
    /// A bad range, or the kernel's error ending the run.
    pub fn chunk_compute(&mut self, lo: u32, hi: u32) -> Result<(), JsError> {
        self.core
            .chunk_compute(lo as usize, hi as usize)
            .map_err(js_err)
    }

    /// Takes a [`ChunkWorker`]'s results of chunks `lo..hi` (`grads`, `sums`).
    ///
    /// # Errors
    /// A bad range or lengths.
    pub fn chunk_put(
        &mut self,
        lo: u32,
        hi: u32,
        grads: &[f32],
        sums: &[f64],
    ) -> Result<(), JsError> {
        self.core
            .chunk_put((lo as usize, hi as usize), grads, sums)
            .map_err(js_err)
    }

    /// Ends the chunked iteration: every chunk's result added in chunk order, then the
    /// Adam step; returns 1.
    ///
    /// # Errors
    /// A chunk not computed, or the kernel's error ending the run.
    pub fn chunk_finish(&mut self) -> Result<u32, JsError> {
        self.core.chunk_finish().map_err(js_err)
    }
}

/// The second worker's side of a chunked TB run: the same settings as the coordinator's
/// [`crate::TrainPlayground`], no model of its own; computes the chunks it is given at the
/// parameters it is sent.
#[wasm_bindgen]
pub struct ChunkWorker {
    cfg: Config,
    target: Target,
    set: ChunkSet,
    grads: Vec<f32>,
    sums: Vec<f64>,
}

#[wasm_bindgen]
impl ChunkWorker {
    /// A chunk worker for the run of `settings` (the `TrainPlayground` keys) split into
    /// `chunks` gradient chunks.
    ///
    /// # Errors
    /// As `TrainPlayground`'s constructor and `set_chunks`.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: &str, chunks: u32) -> Result<ChunkWorker, JsError> {
        let s = parse_settings(settings).map_err(js_err)?;
        let target = target_2d(
            &s.target,
            &train_targets(),
            "training runs on the 2-D targets only",
        )
        .map_err(js_err)?;
        let (cfg, layout) = model(&s, &target).map_err(js_err)?;
        let set = ChunkSet::new(&cfg, &layout, chunks as usize).map_err(js_err)?;
        Ok(ChunkWorker {
            cfg,
            target,
            set,
            grads: Vec::new(),
            sums: Vec::new(),
        })
    }

    /// Computes chunks `lo..hi` with the iteration's `seeds` (one per chunk) at the model
    /// parameters `params`; the results are then in `grads()` and `sums()`.
    ///
    /// # Errors
    /// Wrong lengths or range, or the kernel's error.
    pub fn compute(
        &mut self,
        params: &[f32],
        seeds: &[u64],
        lo: u32,
        hi: u32,
    ) -> Result<(), JsError> {
        let range = (lo as usize, hi as usize);
        self.set.set_seeds(seeds).map_err(js_err)?;
        self.set
            .compute(&self.cfg, params, &self.target, range)
            .map_err(js_err)?;
        (self.grads, self.sums) = self.set.packed(range.0, range.1).map_err(js_err)?;
        Ok(())
    }

    /// The last `compute`'s gradients, one chunk after the other (a copy).
    pub fn grads(&self) -> Vec<f32> {
        self.grads.clone()
    }

    /// The last `compute`'s sums, [`SUMS_PER_CHUNK`] per chunk (a copy).
    pub fn sums(&self) -> Vec<f64> {
        self.sums.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::TrainCore;

    const SETTINGS: &str = "target=9gmm&method=tb&seed=3&iters=5&batch=24&steps=16&hidden=8&\
                            harmonics=4&langevin=0";

    fn core(chunks: Option<usize>) -> TrainCore {
        let mut c = TrainCore::new(&parse_settings(SETTINGS).unwrap()).unwrap();
        if let Some(n) = chunks {
            c.set_chunks(n).unwrap();
        }
        c
    }

    #[test]
    fn two_workers_give_the_bits_of_one() {
        let mut one = core(Some(4));
        assert_eq!(one.step(10).unwrap(), 5);
        // the coordinator computes chunks 0..1, a second set (the other worker) 1..4
        let mut two = core(Some(4));
        let s = parse_settings(SETTINGS).unwrap();
        let target = target_2d(&s.target, &train_targets(), "").unwrap();
        let (cfg, layout) = model(&s, &target).unwrap();
        let mut other = ChunkSet::new(&cfg, &layout, 4).unwrap();
        for _ in 0..5 {
            let seeds = two.chunk_begin();
            assert_eq!(seeds.len(), 4);
            let params = two.params().to_vec();
            other.set_seeds(&seeds).unwrap();
            other.compute(&cfg, &params, &target, (1, 4)).unwrap();
            let (g, sums) = other.packed(1, 4).unwrap();
            assert_eq!(sums.len(), 3 * SUMS_PER_CHUNK);
            two.chunk_compute(0, 1).unwrap();
            two.chunk_put((1, 4), &g, &sums).unwrap();
            assert_eq!(two.chunk_finish().unwrap(), 1);
        }
        assert!(two.done() && two.chunk_begin().is_empty());
        assert_eq!(one.param_checksum(), two.param_checksum());
        assert_eq!(one.hist_loss(), two.hist_loss());
        // a different split of the batch is a different (valid) run
        let mut kernel = core(None);
        kernel.step(10).unwrap();
        assert_ne!(kernel.param_checksum(), one.param_checksum());
        assert!(one.loss().is_finite());
    }

    #[test]
    fn bad_chunk_settings_name_the_workers_control() {
        let s = parse_settings(&SETTINGS.replace("method=tb", "method=rsmc")).unwrap();
        let mut rsmc = TrainCore::new(&s).unwrap();
        assert_eq!(rsmc.set_chunks(2).unwrap_err().field, "workers");
        for n in [0, 25, 65] {
            assert_eq!(
                core(None).set_chunks(n).unwrap_err().field,
                "workers",
                "{n}"
            );
        }
        let mut c = core(Some(2));
        c.step(1).unwrap();
        assert_eq!(c.set_chunks(3).unwrap_err().field, "workers");
        assert!(c.chunk_put((0, 1), &[0.0], &[0.0; 5]).is_err());
        assert!(c.chunk_compute(1, 3).is_err());
        // an iteration cannot finish before every chunk is computed
        c.chunk_begin();
        c.chunk_compute(0, 1).unwrap();
        assert!(c.chunk_finish().is_err());
        assert!(core(None).chunk_compute(0, 1).is_err());
    }
}
