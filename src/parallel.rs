//! Deterministic multi-threaded on-policy TB iterations (std threads; the kernel itself stays
//! single-threaded).
//!
//! The batch of `B` rows is split into `C` **fixed** chunks (`--grad-chunks`, rows
//! `⌊cB/C⌋ .. ⌊(c+1)B/C⌋`), a number that never depends on the thread count. Every
//! iteration draws one seed per chunk from the run's RNG (in chunk order); each chunk rolls
//! out its trajectories with its own generator, computes its residuals and accumulates its
//! share of the TB gradient into its own buffer ([`tb::on_policy_chunk`]). The threads take
//! chunks from a shared counter, so which thread computes a chunk varies, but a chunk's
//! result depends only on the parameters and its seed. The chunk gradients and residual sums
//! are then added in chunk order and the trainer takes one clipped Adam step
//! ([`train::apply_gradient`]). So 1 thread and K threads give bit-identical parameters for
//! the same `C` and seed; a different `C` is a different (equally valid) random stream and
//! summation order.
//!
//! The time branch of the PIS network runs once per step **per chunk** (one row, 73,728
//! FLOPs forward + backward per step), which the reference FLOP count does not include.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use amortise_kernel::Error;
use amortise_kernel::rng::{self, Rng, Xoshiro256PlusPlus};
use amortise_kernel::samplers::diffusion::policy::{Policy, Rollout};
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

/// One chunk's buffers (owned; allocated once).
struct Chunk {
    rows: usize,
    /// The chunk's trajectories (with caches) and policy workspace ([`Rollout`]).
    rollout: Vec<f32>,
    log_r: Vec<f32>,
    delta: Vec<f32>,
    coef: Vec<f32>,
    dout: Vec<f32>,
    grads: Vec<f32>,
    seed: u64,
    result: Option<Result<TbChunkSums, Error>>,
}

/// The chunked, optionally multi-threaded runner for [`Method::Tb`] iterations.
pub struct ChunkedTb {
    chunks: Vec<Chunk>,
    threads: usize,
    table: Vec<f32>,
    grads: Vec<f32>,
    batch: usize,
}

impl ChunkedTb {
    /// Buffers for `n_chunks` chunks of the batch of a trainer (`cfg`, `layout`), run on
    /// `threads` threads.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the method is not TB, `n_chunks` is 0 or larger than the
    /// batch, or `threads` is 0.
    pub fn new(
        cfg: &Config,
        layout: &Layout,
        n_chunks: usize,
        threads: usize,
    ) -> Result<Self, Error> {
        if cfg.method != Method::Tb {
            return Err(Error::InvalidConfig(
                "the chunked multi-threaded runner supports --method tb only",
            ));
        }
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
                let rows = (c + 1) * b / n_chunks - c * b / n_chunks;
                Chunk {
                    rows,
                    rollout: vec![0.0; Rollout::arena_len(net, rows, steps, true)],
                    log_r: vec![0.0; rows],
                    delta: vec![0.0; rows],
                    coef: vec![0.0; rows],
                    dout: vec![0.0; rows * net.out()],
                    grads: vec![0.0; np],
                    seed: 0,
                    result: None,
                }
            })
            .collect();
        let mut table = vec![0.0f32; Schedule::table_len(steps)];
        Schedule::new(cfg.process, steps, &mut table)?;
        Ok(ChunkedTb {
            chunks,
            threads,
            table,
            grads: vec![0.0; np],
            batch: b,
        })
    }

    /// One TB iteration: chunk rollouts and gradients (on the threads), the ordered
    /// reduction, and the trainer's optimiser step.
    ///
    /// # Errors
    /// The first chunk error in chunk order (the parameters are then unchanged), or the
    /// optimiser's ([`train::apply_gradient`]).
    pub fn step<T: LogDensity + Sync + ?Sized>(
        &mut self,
        cfg: &Config,
        state: &mut State,
        views: &mut Views<'_>,
        target: &T,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Info, Error> {
        for ch in &mut self.chunks {
            ch.seed = rng.next_u64();
            ch.result = None;
        }
        {
            let lay = &views.layout;
            let sched = Schedule::view(cfg.process, cfg.steps, &self.table)?;
            let job = Job {
                policy: Policy {
                    cfg: &cfg.policy,
                    sched: &sched,
                    net: &lay.net,
                    params: lay.policy(views.model.params),
                },
                log_z: views.log_z(),
                target,
                total: self.batch,
                steps: cfg.steps,
            };
            let threads = self.threads.min(self.chunks.len());
            if threads <= 1 {
                for ch in &mut self.chunks {
                    job.run(ch);
                }
            } else {
                let cells: Vec<Mutex<&mut Chunk>> =
                    self.chunks.iter_mut().map(Mutex::new).collect();
                let next = AtomicUsize::new(0);
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                let Some(cell) = cells.get(i) else { break };
                                // each cell is taken by exactly one thread
                                if let Ok(mut ch) = cell.lock() {
                                    job.run(&mut ch);
                                }
                            }
                        });
                    }
                });
            }
        }
        // ordered reduction
        self.grads.iter_mut().for_each(|g| *g = 0.0);
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        let mut masked = 0u32;
        for ch in &mut self.chunks {
            let sums = match ch.result.take() {
                Some(r) => r?,
                None => return Err(Error::InvalidConfig("a gradient chunk was not computed")),
            };
            s += sums.sum_delta;
            s2 += sums.sum_delta2;
            masked += sums.masked;
            for (g, &c) in self.grads.iter_mut().zip(&ch.grads) {
                *g += c;
            }
        }
        // the failure policy of the kernel's TB loss: non-finite rows are masked and the
        // means run over the finite ones (no rescaling, so no change, when none is masked)
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
        let bf = kept as f64;
        let grad = ExternalGradient {
            policy: &self.grads,
            log_z: (2.0 * s / bf) as f32,
            tb_loss: (s2 / bf) as f32,
            masked,
        };
        train::apply_gradient(cfg, state, views, &grad)
    }
}

/// What every chunk of one iteration shares.
struct Job<'a, T: ?Sized> {
    policy: Policy<'a>,
    log_z: f32,
    target: &'a T,
    total: usize,
    steps: usize,
}

impl<T: LogDensity + ?Sized> Job<'_, T> {
    fn run(&self, ch: &mut Chunk) {
        ch.grads.iter_mut().for_each(|g| *g = 0.0);
        let net = self.policy.net;
        let rollout = Rollout::carve(net, ch.rows, self.steps, true, &mut ch.rollout);
        let Rollout { traj, ws } = match rollout {
            Ok(r) => r,
            Err(e) => {
                ch.result = Some(Err(e));
                return;
            }
        };
        let mut views = ChunkViews {
            traj,
            ws,
            log_r: &mut ch.log_r,
            delta: &mut ch.delta,
            coef: &mut ch.coef,
            dout: &mut ch.dout,
            grads: &mut ch.grads,
        };
        let mut r = rng::seeded(ch.seed);
        let (policy, log_z, total) = (self.policy, self.log_z, self.total);
        let chunk = tb::on_policy_chunk(policy, log_z, self.target, total, &mut views, &mut r);
        ch.result = Some(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amortise_kernel::samplers::diffusion::reference::Process;
    use amortise_kernel::targets::Target;

    fn cfg() -> Config {
        Config {
            method: Method::Tb,
            process: Process::PinnedBrownian { t_scale: 5.0 },
            steps: 12,
            batch: 37,
            hidden: 16,
            harmonics: 8,
            iterations: 100,
            ..Config::default()
        }
    }

    /// Parameters after `iters` chunked iterations on `threads` threads.
    fn run(threads: usize, chunks: usize, iters: usize) -> (Vec<f32>, Vec<f32>) {
        let target = Target::from_name("gmm40", Some(2)).unwrap();
        let cfg = cfg();
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(11);
        let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
        let mut st = train::init(&cfg, &layout, &mut v, &mut r).unwrap();
        let mut runner = ChunkedTb::new(&cfg, &layout, chunks, threads).unwrap();
        let mut losses = Vec::new();
        for _ in 0..iters {
            let info = runner.step(&cfg, &mut st, &mut v, &target, &mut r).unwrap();
            losses.push(info.tb_loss);
        }
        assert_eq!(st.iteration as usize, iters);
        (v.model.params.to_vec(), losses)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn one_and_several_threads_give_identical_parameters() {
        let (p1, l1) = run(1, 5, 4);
        let (p2, l2) = run(2, 5, 4);
        let (p3, l3) = run(3, 5, 4);
        assert_eq!(bits(&p1), bits(&p2));
        assert_eq!(bits(&p1), bits(&p3));
        assert_eq!(bits(&l1), bits(&l2));
        assert_eq!(bits(&l1), bits(&l3));
        // training moved the parameters, and the loss is finite
        let (p0, _) = run(1, 5, 0);
        assert_ne!(bits(&p0), bits(&p1));
        assert!(l1.iter().all(|l| l.is_finite()));
    }

    #[test]
    fn one_chunk_is_the_kernel_step_on_the_chunk_seed() {
        // one chunk = the kernel's single-batch TB step with the generator seeded by the
        // chunk seed: same gradient, same clipping and Adam, so the same parameter bits
        let iters = 3;
        let (p_chunked, l_chunked) = run(2, 1, iters);
        let target = Target::from_name("gmm40", Some(2)).unwrap();
        let cfg = cfg();
        let layout = Layout::new(&cfg, 2).unwrap();
        let mut fa = vec![0.0f32; layout.f32_len];
        let mut ua = vec![0u32; layout.u32_len];
        let mut r = rng::seeded(11);
        let mut v = Views::new(&layout, &mut fa, &mut ua).unwrap();
        let mut st = train::init(&cfg, &layout, &mut v, &mut r).unwrap();
        let mut losses = Vec::new();
        for _ in 0..iters {
            let mut chunk_rng = rng::seeded(r.next_u64());
            let info = train::step(&cfg, &mut st, &mut v, &target, &mut chunk_rng).unwrap();
            losses.push(info.tb_loss);
        }
        assert_eq!(bits(&losses), bits(&l_chunked));
        assert_eq!(bits(v.model.params), bits(&p_chunked));
    }

    #[test]
    fn bad_settings_are_errors() {
        let cfg = cfg();
        let layout = Layout::new(&cfg, 2).unwrap();
        assert!(ChunkedTb::new(&cfg, &layout, 0, 1).is_err());
        assert!(ChunkedTb::new(&cfg, &layout, 38, 1).is_err());
        assert!(ChunkedTb::new(&cfg, &layout, 4, 0).is_err());
        let rs = Config {
            method: Method::TbBuffer,
            buffer_capacity: 100,
            ..cfg
        };
        let layout = Layout::new(&rs, 2).unwrap();
        assert!(ChunkedTb::new(&rs, &layout, 4, 2).is_err());
    }
}
