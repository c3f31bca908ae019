//! Deterministic multi-threaded training iterations of the diffusion trainer (`--method tb`,
//! `tb-buffer` and `rsmc`; std threads, the kernel itself stays single-threaded).
//!
//! The batch of `B` rows is split into `C` **fixed** chunks (`--grad-chunks`, rows
//! `⌊cB/C⌋ .. ⌊(c+1)B/C⌋`), a number that never depends on the thread count. Every
//! iteration draws one seed per chunk from the run's RNG (in chunk order); each chunk builds
//! its trajectories with its own generator (an on-policy rollout, or for a buffer batch the
//! backward trajectories `x_T → x_0` of its rows of the serial buffer draw), computes its
//! residuals and accumulates its share of the TB (and, for RSMC, SubTB) gradient into its
//! own buffers ([`tb::chunk_gradient`], [`flow::subtb_backward`] with
//! [`SubTbTerms::batch`]). The threads take chunks from a shared counter, so which thread
//! computes a chunk varies, but a chunk's result depends only on the parameters, its rows
//! and its seed. The chunk gradients and sums are then added in chunk order and the trainer
//! takes one clipped Adam step ([`train::apply_gradient`]); an on-policy batch of a buffer
//! method is then stored in row order ([`train::store_batch`]). RSMC's SMC pass is chunked
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
use amortise_kernel::rng::{self, Rng, Xoshiro256PlusPlus};
use amortise_kernel::samplers::diffusion::flow::{self, SubTbTerms, SubTbWorkspace, Twist};
use amortise_kernel::samplers::diffusion::policy::{self, Policy, Rollout};
use amortise_kernel::samplers::diffusion::reference::Schedule;
use amortise_kernel::samplers::diffusion::tb::{self, ChunkViews, TbChunkSums};
use amortise_kernel::samplers::diffusion::train::{
    self, Config, ExternalGradient, Info, Layout, Method, State, Views,
};
use amortise_kernel::targets::LogDensity;

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

/// A chunk's share of the batch sums.
#[derive(Clone, Copy, Debug)]
struct ChunkSums {
    tb: TbChunkSums,
    /// SubTB: sum of the per-trajectory losses and the usable rows.
    subtb: (f64, u32),
}

/// The SubTB workspace of one chunk (owned; [`SubTbWorkspace::lens`]).
struct SubTbBufs([Vec<f32>; 7]);

/// One chunk's buffers (owned; allocated once).
struct Chunk {
    /// First row of the chunk in the batch, and its rows.
    first: usize,
    rows: usize,
    /// The chunk's trajectories (with caches) and policy workspace ([`Rollout`]).
    rollout: Vec<f32>,
    log_r: Vec<f32>,
    log_w: Vec<f32>,
    delta: Vec<f32>,
    coef: Vec<f32>,
    dout: Vec<f32>,
    grads: Vec<f32>,
    flow_grads: Vec<f32>,
    subtb: Option<SubTbBufs>,
    seed: u64,
    result: Option<Result<ChunkSums, Error>>,
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
        if n_chunks == 0 || n_chunks > b {
            return Err(Error::InvalidConfig("gradient chunks must be in 1..=batch"));
        }
        if threads == 0 {
            return Err(Error::InvalidConfig("threads must be >= 1"));
        }
        let net = &layout.net;
        let np = net.param_count();
        let steps = cfg.steps;
        let chunks = (0..n_chunks)
            .map(|c| {
                let (first, end) = (c * b / n_chunks, (c + 1) * b / n_chunks);
                let rows = end - first;
                let subtb = layout
                    .flows
                    .map(|f| SubTbBufs(SubTbWorkspace::lens(&f, rows).map(|n| vec![0.0; n])));
                Chunk {
                    first,
                    rows,
                    rollout: vec![0.0; Rollout::arena_len(net, rows, steps, true)],
                    log_r: vec![0.0; rows],
                    log_w: vec![0.0; rows],
                    delta: vec![0.0; rows],
                    coef: vec![0.0; rows],
                    dout: vec![0.0; rows * net.out()],
                    grads: vec![0.0; np],
                    flow_grads: vec![0.0; layout.flow_params],
                    subtb,
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
        let mut table = vec![0.0f32; Schedule::table_len(steps)];
        Schedule::new(cfg.process, steps, &mut table)?;
        Ok(ChunkedTb {
            chunks,
            particles,
            threads,
            table,
            grads: vec![0.0; np],
            flow_grads: vec![0.0; layout.flow_params],
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
        self.prefill(cfg, state, views, target, rng)?;
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
        for ch in &mut self.chunks {
            ch.seed = rng.next_u64();
            ch.result = None;
        }
        {
            let lay = &views.layout;
            let sched = Schedule::view(cfg.process, cfg.steps, &self.table)?;
            let params = &*views.model.params;
            let job = Job {
                policy: train::policy_at(cfg, lay, &sched, params),
                twist: lay.flows.as_ref().map(|flows| Twist {
                    flows,
                    params: lay.flow(params),
                }),
                log_z: lay.log_z(params),
                target,
                total: self.batch,
                subtb_weight: cfg.subtb_weight,
                source: if on_policy {
                    Source::OnPolicy {
                        log_w: cfg.method.has_buffer(),
                    }
                } else {
                    Source::Buffer(&*views.batch.x_t)
                },
            };
            for_each_chunk(self.threads, &mut self.chunks, |ch| job.run(ch));
        }
        let mut grad = self.reduce()?;
        grad.on_policy = on_policy;
        if on_policy && cfg.method.has_buffer() {
            self.gather_batch(views)?;
            train::store_batch(cfg, state, views)?;
        }
        let grad = ExternalGradient {
            policy: &self.grads,
            flow: &self.flow_grads,
            ..grad
        };
        let mut info = train::apply_gradient(cfg, state, views, &grad)?;
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
        let sched = Schedule::view(cfg.process, cfg.steps, &self.table)?;
        let job = smc::PassJob {
            cfg,
            sched: &sched,
            target,
            threads: self.threads,
        };
        let mut sum = 0.0f64;
        for _ in 0..cfg.prefill {
            sum += p.pass(&job, state, views, rng)?.log_z;
        }
        train::init_log_z_from_smc(cfg, views, sum)?;
        Ok(cfg.prefill)
    }

    /// Adds the chunk gradients and sums in chunk order into the runner's gradients, and
    /// applies the failure policy of the kernel's losses: non-finite rows are masked and
    /// the means run over the finite ones (no rescaling, so no change, when none is
    /// masked). The returned gradient's slices are empty (the caller points them at
    /// `self.grads`, `self.flow_grads`).
    fn reduce(&mut self) -> Result<ExternalGradient<'static>, Error> {
        self.grads.iter_mut().for_each(|g| *g = 0.0);
        self.flow_grads.iter_mut().for_each(|g| *g = 0.0);
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        let (mut sub, mut sub_kept) = (0.0f64, 0u32);
        let mut masked = 0u32;
        for ch in &mut self.chunks {
            let sums = match ch.result.take() {
                Some(r) => r?,
                None => return Err(Error::InvalidConfig("a gradient chunk was not computed")),
            };
            s += sums.tb.sum_delta;
            s2 += sums.tb.sum_delta2;
            masked += sums.tb.masked;
            sub += sums.subtb.0;
            sub_kept += sums.subtb.1;
            for (g, &c) in self.grads.iter_mut().zip(&ch.grads) {
                *g += c;
            }
            for (g, &c) in self.flow_grads.iter_mut().zip(&ch.flow_grads) {
                *g += c;
            }
        }
        let kept = self.batch - masked as usize;
        if kept == 0 {
            return Err(Error::Degenerate(
                "trajectory balance: no trajectory has a finite residual (is log R finite anywhere?)",
            ));
        }
        if masked > 0 {
            let scale = self.batch as f32 / kept as f32;
            self.grads.iter_mut().for_each(|g| *g *= scale);
        }
        let mut subtb_loss = 0.0;
        if !self.flow_grads.is_empty() {
            if sub_kept == 0 {
                return Err(Error::Degenerate(
                    "sub-trajectory balance: no trajectory has finite log R and flows",
                ));
            }
            if (sub_kept as usize) < self.batch {
                let scale = self.batch as f32 / sub_kept as f32;
                self.flow_grads.iter_mut().for_each(|g| *g *= scale);
            }
            subtb_loss = (sub / f64::from(sub_kept)) as f32;
        }
        let bf = kept as f64;
        Ok(ExternalGradient {
            policy: &[],
            flow: &[],
            log_z: (2.0 * s / bf) as f32,
            tb_loss: (s2 / bf) as f32,
            subtb_loss,
            masked,
            on_policy: true,
        })
    }

    /// Copies the chunks' on-policy rows (first and last states, `log R`, log weights) into
    /// the trainer's batch views, in row order, for [`train::store_batch`].
    fn gather_batch(&mut self, views: &mut Views<'_>) -> Result<(), Error> {
        let lay = views.layout;
        let (d, t, b) = (lay.dim, lay.steps, self.batch);
        for ch in &mut self.chunks {
            let ro = Rollout::carve(&lay.net, ch.rows, t, true, &mut ch.rollout)?;
            let rows = ch.first * d..(ch.first + ch.rows) * d;
            for n in [0, t] {
                views.traj.states[n * b * d..(n + 1) * b * d][rows.clone()]
                    .copy_from_slice(ro.traj.state(n));
            }
            let r = ch.first..ch.first + ch.rows;
            views.batch.log_r[r.clone()].copy_from_slice(&ch.log_r);
            views.batch.log_w[r].copy_from_slice(&ch.log_w);
        }
        Ok(())
    }
}

/// Where the chunks' trajectories come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Rollouts of `p_F`; `log_w`: also the log importance weights (for the buffer).
    OnPolicy { log_w: bool },
    /// Backward trajectories of `p_B` from the buffer draw's terminal states (`B × d`).
    Buffer(&'a [f32]),
}

/// What every chunk of one iteration shares.
struct Job<'a, T: ?Sized> {
    policy: Policy<'a>,
    twist: Option<Twist<'a>>,
    log_z: f32,
    target: &'a T,
    total: usize,
    subtb_weight: f32,
    source: Source<'a>,
}

impl<T: LogDensity + ?Sized> Job<'_, T> {
    fn run(&self, ch: &mut Chunk) {
        ch.result = Some(self.chunk(ch));
    }

    fn chunk(&self, ch: &mut Chunk) -> Result<ChunkSums, Error> {
        ch.grads.iter_mut().for_each(|g| *g = 0.0);
        ch.flow_grads.iter_mut().for_each(|g| *g = 0.0);
        let (policy, log_z, target, total) = (self.policy, self.log_z, self.target, self.total);
        let (net, sched) = (policy.net, policy.sched);
        let Rollout { mut traj, mut ws } =
            Rollout::carve(net, ch.rows, sched.steps(), true, &mut ch.rollout)?;
        let mut r = rng::seeded(ch.seed);
        match self.source {
            Source::OnPolicy { .. } => {
                policy::sample_forward(policy, target, &mut traj, &mut ws, true, &mut r)?;
            }
            Source::Buffer(x_t) => {
                let d = traj.dim;
                let rows = &x_t[ch.first * d..(ch.first + ch.rows) * d];
                policy::sample_backward(sched, rows, &mut traj, ws.noise, &mut r)?;
                policy::score(policy, target, &mut traj, &mut ws, true)?;
            }
        }
        let mut views = ChunkViews {
            traj,
            ws,
            log_r: &mut ch.log_r,
            delta: &mut ch.delta,
            coef: &mut ch.coef,
            dout: &mut ch.dout,
            grads: &mut ch.grads,
        };
        let tb = tb::chunk_gradient(policy, log_z, target, total, &mut views)?;
        // the same trajectories, carved again now that the chunk views are done
        let traj = Rollout::carve(net, ch.rows, sched.steps(), true, &mut ch.rollout)?.traj;
        if let Source::OnPolicy { log_w: true } = self.source {
            policy::log_weights(sched, &traj, &ch.log_r, &mut ch.log_w)?;
        }
        let mut subtb = (0.0, 0);
        if let (Some(twist), Some(SubTbBufs(bufs))) = (self.twist, ch.subtb.as_mut()) {
            let [b0, b1, b2, b3, b4, b5, b6] = bufs;
            flow::fill_boundary_log_r(twist.flows, &traj, target, b0)?;
            let mut sws = SubTbWorkspace {
                boundary_log_r: b0,
                boundary_log_f: b1,
                cache: b2,
                betas: b3,
                dout: b4,
                per_traj: b5,
                net_scratch: b6,
            };
            let terms = SubTbTerms {
                log_r: &ch.log_r,
                log_z,
                weight: self.subtb_weight,
                batch: total,
            };
            let si =
                flow::subtb_backward(twist, sched, &traj, terms, &mut ch.flow_grads, &mut sws)?;
            subtb = (si.sum_loss, si.kept);
        }
        Ok(ChunkSums { tb, subtb })
    }
}

#[cfg(test)]
mod tests;
