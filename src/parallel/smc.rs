//! RSMC's SMC pass split over fixed particle chunks.
//!
//! The `N` particles are split into the same `C` fixed chunks as the batch (particles
//! `⌊cN/C⌋ .. ⌊(c+1)N/C⌋`). At the start of a pass every chunk gets a seed from the run's RNG
//! (in chunk order) and keeps its generator for the whole pass. Between two resampling
//! points each chunk propagates its particles and computes their incremental weights
//! ([`smc::segment`], on the threads); the boundary — `log Ẑ`, ESS, tempering and the
//! systematic resampling over **all** particles, with its one uniform from the run's RNG —
//! is serial ([`smc::boundary`]), and the resampled rows go back to the chunks. The final
//! particles and their Z-scaled weights go to the buffer ([`train::store_smc`]); without a
//! buffer ([`train::Method::RsmcNoBuffer`]) they stay in the views for the batch.

use amortise_kernel::Error;
use amortise_kernel::rng::{self, Rng, Xoshiro256PlusPlus};
use amortise_kernel::samplers::diffusion::policy::Rollout;
use amortise_kernel::samplers::diffusion::reference::Schedule;
use amortise_kernel::samplers::diffusion::smc::{self, Sampler, Segment, SmcInfo};
use amortise_kernel::samplers::diffusion::train::{self, Config, Layout, State, Views};
use amortise_kernel::smc::twist;
use amortise_kernel::targets::LogDensity;

use super::for_each_chunk;

/// One chunk of particles (owned buffers, allocated once).
struct Particles {
    first: usize,
    rows: usize,
    /// Trajectories (no caches) and policy workspace ([`Rollout`]).
    rollout: Vec<f32>,
    log_w: Vec<f32>,
    log_f: Vec<f32>,
    log_f_new: Vec<f32>,
    log_r: Vec<f32>,
    flow_cache: Vec<f32>,
    flow_scratch: Vec<f32>,
    rng: Xoshiro256PlusPlus,
    result: Option<Result<(), Error>>,
}

/// The particle chunks of the SMC pass.
pub(super) struct ParticleChunks {
    chunks: Vec<Particles>,
}

/// What a pass shares with its chunks.
pub(super) struct PassJob<'a, T: ?Sized> {
    pub cfg: &'a Config,
    pub sched: &'a Schedule<'a>,
    pub target: &'a T,
    pub threads: usize,
}

impl ParticleChunks {
    /// Buffers for `n_chunks` chunks of the particles of `layout`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `n_chunks` is 0 or larger than the particles.
    pub(super) fn new(layout: &Layout, n_chunks: usize) -> Result<Self, Error> {
        let n = layout.particles;
        if n_chunks == 0 || n_chunks > n {
            return Err(Error::InvalidConfig(
                "gradient chunks must be in 1..=particles for rsmc",
            ));
        }
        let net = &layout.net;
        let chunks = (0..n_chunks)
            .map(|c| {
                let (first, end) = (c * n / n_chunks, (c + 1) * n / n_chunks);
                let rows = end - first;
                let (fc, fs) = layout.flows.map_or((0, 0), |f| {
                    (f.net().cache_len(rows), f.net().scratch_len(rows))
                });
                Particles {
                    first,
                    rows,
                    rollout: vec![0.0; Rollout::arena_len(net, rows, layout.steps, false)],
                    log_w: vec![0.0; rows],
                    log_f: vec![0.0; rows],
                    log_f_new: vec![0.0; rows],
                    log_r: vec![0.0; rows],
                    flow_cache: vec![0.0; fc],
                    flow_scratch: vec![0.0; fs],
                    rng: rng::seeded(0),
                    result: None,
                }
            })
            .collect();
        Ok(ParticleChunks { chunks })
    }

    /// One SMC pass with the current model into the buffer (as the kernel's pass, with the
    /// particles' random streams per chunk).
    ///
    /// # Errors
    /// As the kernel's [`smc::run`]; the first chunk error in chunk order.
    pub(super) fn pass<T: LogDensity + Sync + ?Sized>(
        &mut self,
        job: &PassJob<'_, T>,
        state: &mut State,
        views: &mut Views<'_>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<SmcInfo, Error> {
        let lay = views.layout;
        let (n, d, t) = (lay.particles, lay.dim, lay.steps);
        let w = n * d;
        let l = job.cfg.smc.chunk;
        let smc = lay.sampler(job.cfg, job.sched, &*views.model.params);
        let mut info = smc::start(smc, (n, d, t), &mut views.smc)?;
        for p in &mut self.chunks {
            p.rng = rng::seeded(rng.next_u64());
        }
        for k in 0..t / l {
            let (s, e) = (k * l, (k + 1) * l);
            // the population's weights and (after the first segment) states to the chunks
            for p in &mut self.chunks {
                let r = p.first..p.first + p.rows;
                p.log_w.copy_from_slice(&views.smc.log_w[r.clone()]);
                p.log_f.copy_from_slice(&views.smc.log_f[r]);
                if k > 0 {
                    let ro = Rollout::carve(&lay.net, p.rows, t, false, &mut p.rollout)?;
                    let src = &views.smc_traj.states[s * w..(s + 1) * w];
                    ro.traj.states[s * p.rows * d..(s + 1) * p.rows * d]
                        .copy_from_slice(&src[p.first * d..(p.first + p.rows) * d]);
                }
                p.result = None;
            }
            let betas = &*views.smc.betas;
            let target = job.target;
            for_each_chunk(job.threads, &mut self.chunks, |p| {
                p.result = Some(segment(smc, target, (k, betas), p));
            });
            // ... and back, for the serial boundary over all particles
            for p in &mut self.chunks {
                match p.result.take() {
                    Some(r) => r?,
                    None => return Err(Error::InvalidConfig("an SMC chunk was not computed")),
                }
                let r = p.first..p.first + p.rows;
                let ws = &mut views.smc;
                ws.log_w[r.clone()].copy_from_slice(&p.log_w);
                ws.log_f[r.clone()].copy_from_slice(&p.log_f);
                ws.log_f_new[r.clone()].copy_from_slice(&p.log_f_new);
                ws.log_r[r].copy_from_slice(&p.log_r);
                let ro = Rollout::carve(&lay.net, p.rows, t, false, &mut p.rollout)?;
                let dst = &mut views.smc_traj.states[e * w..(e + 1) * w];
                dst[p.first * d..(p.first + p.rows) * d].copy_from_slice(ro.traj.state(e));
            }
            let xe = &mut views.smc_traj.states[e * w..(e + 1) * w];
            smc::boundary(&job.cfg.smc, e == t, xe, &mut views.smc, &mut info, rng)?;
        }
        twist::finish(views.smc.log_w, &mut info)?;
        if job.cfg.method.has_buffer() {
            train::store_smc(state, views)?;
        } else {
            state.smc_runs += 1;
        }
        Ok(info)
    }
}

/// The `k`-th segment of one particle chunk (`seg = (k, betas)`).
fn segment<T: LogDensity + ?Sized>(
    smc: Sampler<'_>,
    target: &T,
    (k, betas): (usize, &[f32]),
    p: &mut Particles,
) -> Result<(), Error> {
    let (net, t) = (smc.proposal.net, smc.proposal.sched.steps());
    let Rollout { mut traj, mut ws } = Rollout::carve(net, p.rows, t, false, &mut p.rollout)?;
    let mut seg = Segment {
        traj: &mut traj,
        pws: &mut ws,
        log_w: &mut p.log_w,
        log_f: &mut p.log_f,
        log_f_new: &mut p.log_f_new,
        log_r: &mut p.log_r,
        betas,
        flow_cache: &mut p.flow_cache,
        flow_scratch: &mut p.flow_scratch,
    };
    smc::segment(smc, target, k, &mut seg, &mut p.rng)
}
