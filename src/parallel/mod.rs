//! Deterministic multi-threaded training iterations of the diffusion trainer (`--method tb`,
//! `tb-buffer` and `rsmc`; std threads, the kernel itself stays single-threaded).
//!
//! The batch of `B` rows is split into `C` **fixed** chunks (`--grad-chunks`), a number
//! that never depends on the thread count; the pieces are the kernel's
//! ([`amortise_kernel::samplers::diffusion::train::chunks`], shared with the playground's
//! two-worker runner): the chunk rows, one seed per chunk drawn from the run's RNG in chunk
//! order, each chunk's trajectories and gradient in its own buffers ([`ChunkJob::run`]: an
//! on-policy rollout, or for a buffer batch the backward trajectories `x_T → x_0` of its
//! rows of the serial buffer draw; TB and, for RSMC, SubTB), and the reduction in chunk
//! order ([`Reduction`]). The threads take chunks from a shared counter, so which thread
//! computes a chunk varies, but a chunk's result depends only on the parameters, its rows
//! and its seed. After the reduction the trainer takes one clipped Adam step
//! ([`train::apply_gradient`]); an on-policy batch of a buffer method is then stored in row
//! order ([`train::store_batch`]). RSMC's SMC pass is chunked
//! the same way over its particles (`parallel/smc.rs`). So 1 thread and K threads give bit-identical
//! parameters for the same `C` and seed; a different `C` is a different (equally valid)
//! random stream and summation order.
//!
//! Serial parts: the buffer draw ([`train::draw_buffer`]), the SMC resampling, the chunk
//! reductions, the buffer inserts, the optimiser step, and the prefill SMC runs of RSMC
//! (the kernel's [`train::prefill`], before the first iteration).
//!
//! The time branch of the PIS network runs once per step **per chunk** (one row, 73,728
//! FLOPs forward + backward per step), which the reference FLOP count does not include.

mod smc;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use amortise_kernel::Error;
use amortise_kernel::rng::Xoshiro256PlusPlus;
use amortise_kernel::samplers::diffusion::policy::Rollout;
use amortise_kernel::samplers::diffusion::reference::Schedule;
use amortise_kernel::samplers::diffusion::train::chunks::{
    self, ChunkBufs, ChunkJob, ChunkSums, Reduction, Source,
};
use amortise_kernel::samplers::diffusion::train::{
    self, Config, ExternalGradient, Info, Layout, Method, State, Views,
};
use amortise_kernel::targets::{LogDensity, Tempered};

use crate::error::{CliError, CliResult};

/// Default number of gradient chunks of the chunked runner.
pub const DEFAULT_CHUNKS: usize = 8;

/// Which runner the `--threads` / `--grad-chunks` flags ask for: `None` = the kernel's
/// single-batch step (1 thread, no chunks given), `Some(C)` = the chunked runner with `C`
/// chunks ([`DEFAULT_CHUNKS`] unless given).
///
/// # Errors
/// A flag error for 0 threads or 0 chunks.
pub fn chunk_plan(threads: usize, chunks: Option<usize>) -> CliResult<Option<usize>> {
    if threads == 0 || threads > 256 {
        return Err(CliError::flag("--threads", "must be in 1..=256"));
    }
    match chunks {
        Some(0) => Err(CliError::flag("--grad-chunks", "must be >= 1")),
        Some(c) => Ok(Some(c)),
        None if threads > 1 => Ok(Some(DEFAULT_CHUNKS)),
        None => Ok(None),
    }
}

/// Runs `work` on every item, on up to `threads` threads taking items from a shared
/// counter (each item is taken by exactly one thread; the order of work varies, the
/// results do not when `work` depends only on its item).
fn for_each_chunk<C: Send>(threads: usize, items: &mut [C], work: impl Fn(&mut C) + Sync) {
    let threads = threads.min(items.len());
    if threads <= 1 {
        items.iter_mut().for_each(work);
        return;
    }
    let cells: Vec<Mutex<&mut C>> = items.iter_mut().map(Mutex::new).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cell) = cells.get(i) else { break };
                    if let Ok(mut item) = cell.lock() {
                        work(&mut item);
                    }
                }
            });
        }
    });
}

/// One chunk: its rows, its buffers ([`ChunkBufs`], owned and allocated once), its seed
/// and its result.
struct Chunk {
    /// First row of the chunk in the batch, and its rows.
    first: usize,
    rows: usize,
    arena: Vec<f32>,
    seed: u64,
    result: Option<Result<ChunkSums, Error>>,
}

impl Chunk {
    fn bufs<'a>(&'a mut self, lay: &Layout) -> Result<ChunkBufs<'a>, Error> {
        ChunkBufs::carve(lay, self.rows, &mut self.arena)
    }
}

/// The chunked, optionally multi-threaded runner of [`Method::Tb`], [`Method::TbBuffer`],
/// [`Method::Rsmc`] and [`Method::RsmcNoBuffer`] iterations.
pub struct ChunkedTb {
    chunks: Vec<Chunk>,
    particles: Option<smc::ParticleChunks>,
    threads: usize,
    table: Vec<f32>,
    grads: Vec<f32>,
    flow_grads: Vec<f32>,
    seeds: Vec<u64>,
    layout: Layout,
    batch: usize,
}

impl ChunkedTb {
    /// Buffers for `n_chunks` chunks of the batch (and, for RSMC, of the SMC particles) of a
    /// trainer (`cfg`, `layout`), run on `threads` threads.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `n_chunks` is 0 or larger than the batch (or the
    /// particles), or `threads` is 0.
    pub fn new(
        cfg: &Config,
        layout: &Layout,
        n_chunks: usize,
        threads: usize,
    ) -> Result<Self, Error> {
        layout.check(cfg)?;
        let b = cfg.batch;
        chunks::check_chunks(b, n_chunks)?;
        if threads == 0 {
            return Err(Error::InvalidConfig("threads must be >= 1"));
        }
        let np = layout.net.param_count();
        let chunks = (0..n_chunks)
            .map(|c| {
                let r = chunks::chunk_rows(b, n_chunks, c);
                Chunk {
                    first: r.start,
                    rows: r.len(),
                    arena: vec![0.0; ChunkBufs::arena_len(layout, r.len())],
                    seed: 0,
                    result: None,
                }
            })
            .collect();
        let particles = if cfg.method.has_smc() {
            Some(smc::ParticleChunks::new(layout, n_chunks)?)
        } else {
            None
        };
        let mut table = vec![0.0f32; Schedule::table_len(cfg.steps)];
        Schedule::new(cfg.process, cfg.steps, &mut table)?;
        Ok(ChunkedTb {
            chunks,
            particles,
            threads,
            table,
            grads: vec![0.0; np],
            flow_grads: vec![0.0; layout.flow_params],
            seeds: vec![0; n_chunks],
            layout: *layout,
            batch: b,
        })
    }

    /// One iteration, as the kernel's [`train::step`] schedules it: on-policy or from the
    /// buffer (RSMC: after an SMC pass into the buffer; RSMC without a buffer: the particles
    /// of an SMC pass), the chunk trajectories and
    /// gradients (on the threads), the ordered reduction, the trainer's optimiser step and,
    /// for an on-policy batch of a buffer method, the buffer insert.
    ///
    /// # Errors
    /// The first chunk error in chunk order (the parameters are then unchanged), or the
    /// kernel's (SMC, buffer draw, optimiser).
    pub fn step<T: LogDensity + Sync + ?Sized>(
        &mut self,
        cfg: &Config,
        state: &mut State,
        views: &mut Views<'_>,
        target: &T,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Info, Error> {
        let cfg = &cfg.at_iteration(state.iteration);
        self.prefill(cfg, state, views, target, rng)?;
        // the iteration's power of the target, as the kernel's step ([`Config::reward_beta`])
        let tempered = Tempered::new(target, cfg.reward_beta(state.iteration));
        let target = &tempered;
        let on_policy = train::is_on_policy(cfg, state);
        let mut smc_info = None;
        let mut lambda = 1.0;
        if !on_policy {
            if let Some(p) = self.particles.as_mut() {
                let sched = Schedule::view(cfg.process, cfg.steps, &self.table)?;
                let run = smc::PassJob {
                    cfg,
                    sched: &sched,
                    target,
                    threads: self.threads,
                };
                smc_info = Some(p.pass(&run, state, views, rng)?);
            }
            if cfg.method == Method::RsmcNoBuffer {
                train::particles_to_batch(views)?;
            } else {
                lambda = train::draw_buffer(cfg, state, views, rng)?;
            }
        }
        chunks::draw_seeds(&mut self.seeds, rng);
        for (ch, &seed) in self.chunks.iter_mut().zip(&self.seeds) {
            ch.seed = seed;
            ch.result = None;
        }
        {
            let lay = &self.layout;
            let sched = Schedule::view(cfg.process, cfg.steps, &self.table)?;
            let source = if on_policy {
                Source::OnPolicy {
                    log_w: cfg.method.has_buffer(),
                }
            } else {
                Source::Buffer(&*views.batch.x_t)
            };
            let job = ChunkJob::new((cfg, lay), &sched, &*views.model.params, target, source);
            for_each_chunk(self.threads, &mut self.chunks, |ch| {
                let (first, seed) = (ch.first, ch.seed);
                ch.result = Some(ch.bufs(lay).and_then(|mut b| job.run(first, &mut b, seed)));
            });
        }
        let mut grad = self.reduce()?;
        grad.on_policy = on_policy;
        if on_policy && cfg.method.has_buffer() {
            self.gather_batch(views)?;
            train::store_batch(cfg, state, views)?;
        }
        let aug = train::augment_buffer(cfg, state.iteration, state, views, target, rng)?;
        train::reweight_buffer(cfg, state.iteration, state, views, target, rng)?;
        let grad = ExternalGradient {
            policy: &self.grads,
            flow: &self.flow_grads,
            ..grad
        };
        let mut info = train::apply_gradient(cfg, state, views, &grad)?;
        info.set_mcmc(aug);
        info.buffer_lambda = lambda;
        if let Some(si) = smc_info {
            info.smc_log_z = si.log_z;
            info.smc_ess = si.final_ess_fraction;
        }
        Ok(info)
    }

    /// The kernel's [`train::prefill`], with RSMC's prefill SMC passes chunked over the
    /// particles as in [`ChunkedTb::step`] (a no-op once prefilled). Returns the SMC runs
    /// done.
    ///
    /// # Errors
    /// As [`train::prefill`].
    pub fn prefill<T: LogDensity + Sync + ?Sized>(
        &mut self,
        cfg: &Config,
        state: &mut State,
        views: &mut Views<'_>,
        target: &T,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<u32, Error> {
        let Some(p) = self.particles.as_mut().filter(|_| !state.prefilled) else {
            return train::prefill(cfg, state, views, target, rng);
        };
        // the rest of the phase (the batch initialisation of log Z, if asked), then the passes
        let rest = Config {
            prefill: 0,
            init_log_z_from_smc: false,
            ..*cfg
        };
        train::prefill(&rest, state, views, target, rng)?;
        // the kernel's prefill raised the target to the iteration's power itself; the passes
        // here do it as the kernel's do
        let tempered = Tempered::new(target, cfg.reward_beta(state.iteration));
        let sched = Schedule::view(cfg.process, cfg.steps, &self.table)?;
        let job = smc::PassJob {
            cfg,
            sched: &sched,
            target: &tempered,
            threads: self.threads,
        };
        let mut sum = 0.0f64;
        for _ in 0..cfg.prefill {
            sum += p.pass(&job, state, views, rng)?.log_z;
        }
        train::init_log_z_from_smc(cfg, views, sum)?;
        Ok(cfg.prefill)
    }

    /// Adds the chunk gradients and sums in chunk order into the runner's gradients
    /// ([`Reduction`]). The returned gradient's slices are empty (the caller points them at
    /// `self.grads`, `self.flow_grads`).
    fn reduce(&mut self) -> Result<ExternalGradient<'static>, Error> {
        let (grads, flow) = (&mut self.grads, &mut self.flow_grads);
        let mut red = Reduction::start(grads, flow);
        for ch in &mut self.chunks {
            let sums = match ch.result.take() {
                Some(r) => r?,
                None => return Err(Error::InvalidConfig("a gradient chunk was not computed")),
            };
            let b = ch.bufs(&self.layout)?;
            red.add(&sums, (b.grads, b.flow_grads), (grads, flow))?;
        }
        red.finish(self.batch, (grads, flow))
    }

    /// Copies the chunks' on-policy rows (first and last states, `log R`, log weights) into
    /// the trainer's batch views, in row order, for [`train::store_batch`].
    fn gather_batch(&mut self, views: &mut Views<'_>) -> Result<(), Error> {
        let lay = views.layout;
        let (d, t, b) = (lay.dim, lay.steps, self.batch);
        for ch in &mut self.chunks {
            let (first, n) = (ch.first, ch.rows);
            let bufs = ch.bufs(&self.layout)?;
            let ro = Rollout::carve(&lay.net, n, t, true, bufs.rollout)?;
            let rows = first * d..(first + n) * d;
            for n in [0, t] {
                views.traj.states[n * b * d..(n + 1) * b * d][rows.clone()]
                    .copy_from_slice(ro.traj.state(n));
            }
            let r = first..first + n;
            views.batch.log_r[r.clone()].copy_from_slice(bufs.log_r);
            views.batch.log_w[r].copy_from_slice(bufs.log_w);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
