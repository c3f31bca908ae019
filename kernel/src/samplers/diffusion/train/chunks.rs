//! The pieces of a **chunked** training iteration, for runners that split the batch over
//! threads (the CLI's `--threads`) or Web Workers (the playground's `workers=2`) and must
//! give the same bits however the chunks are scheduled.
//!
//! The batch of `B` rows is split into `C` fixed chunks ([`chunk_rows`]: rows
//! `⌊cB/C⌋ .. ⌊(c+1)B/C⌋`); every iteration draws one seed per chunk from the run's RNG
//! in chunk order ([`draw_seeds`]); each chunk builds its trajectories with its own
//! generator and accumulates its share of the TB (and SubTB) gradient into its own buffers
//! ([`ChunkJob::run`] over a [`ChunkBufs`] arena); the runner then adds the chunk results
//! **in chunk order** ([`Reduction`]) and takes one clipped Adam step
//! ([`super::apply_gradient`]). A chunk's result depends only on the parameters, its rows
//! and its seed, so which thread or worker computed it does not change the bits.

use core::ops::Range;

use super::super::flow::{self, SubTbTerms, SubTbWorkspace, Twist};
use super::super::policy::{self, Policy, Rollout};
use super::super::reference::Schedule;
use super::super::tb::{self, ChunkViews, TbChunkSums};
use super::{Config, ExternalGradient, Layout, policy_at};
use crate::arena::Carve;
use crate::error::Error;
use crate::rng::{self, Rng};
use crate::targets::LogDensity;

/// Rows `⌊cB/C⌋ .. ⌊(c+1)B/C⌋` of chunk `c` of `chunks` over a batch of `batch` rows
/// (empty for `c ≥ chunks`).
pub fn chunk_rows(batch: usize, chunks: usize, c: usize) -> Range<usize> {
    if c >= chunks {
        return batch..batch;
    }
    c * batch / chunks..(c + 1) * batch / chunks
}

/// Checks a chunk count: `1 ≤ chunks ≤ batch`.
///
/// # Errors
/// [`Error::InvalidConfig`] otherwise.
pub fn check_chunks(batch: usize, chunks: usize) -> Result<(), Error> {
    if chunks == 0 || chunks > batch {
        return Err(Error::InvalidConfig("gradient chunks must be in 1..=batch"));
    }
    Ok(())
}

/// Draws one seed per chunk from the run's RNG, in chunk order.
pub fn draw_seeds<R: Rng + ?Sized>(seeds: &mut [u64], rng: &mut R) {
    for s in seeds {
        *s = rng.next_u64();
    }
}

/// A chunk's share of the batch sums.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChunkSums {
    /// The TB sums ([`tb::chunk_gradient`]).
    pub tb: TbChunkSums,
    /// SubTB: sum of the per-trajectory losses (0 without flows).
    pub subtb_loss: f64,
    /// SubTB: the usable rows (0 without flows).
    pub subtb_kept: u32,
}

/// The buffers of one chunk of `rows` rows, carved from one caller-owned arena
/// ([`ChunkBufs::arena_len`]) on each call.
#[derive(Debug)]
pub struct ChunkBufs<'a> {
    /// The chunk's trajectories (with caches) and policy workspace ([`Rollout`]).
    pub rollout: &'a mut [f32],
    /// `[rows]`: `log R(x_T)` (output).
    pub log_r: &'a mut [f32],
    /// `[rows]`: log importance weights of an on-policy batch of a buffer method (output).
    pub log_w: &'a mut [f32],
    /// The chunk's policy gradient (output).
    pub grads: &'a mut [f32],
    /// The chunk's flow gradient ([`Layout::flow_params`] values; output).
    pub flow_grads: &'a mut [f32],
    delta: &'a mut [f32],
    coef: &'a mut [f32],
    dout: &'a mut [f32],
    /// SubTB workspace ([`SubTbWorkspace::lens`]; empty slices without flows).
    subtb: [&'a mut [f32]; 7],
}

impl<'a> ChunkBufs<'a> {
    fn lens(lay: &Layout, rows: usize) -> [usize; 15] {
        let net = &lay.net;
        let s = lay.flows.map_or([0; 7], |f| SubTbWorkspace::lens(&f, rows));
        [
            Rollout::arena_len(net, rows, lay.steps, true),
            rows,
            rows,
            net.param_count(),
            lay.flow_params,
            rows,
            rows,
            rows * net.out(),
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            s[6],
        ]
    }

    /// Arena length for a chunk of `rows` rows of the trainer `lay`.
    pub fn arena_len(lay: &Layout, rows: usize) -> usize {
        Self::lens(lay, rows).iter().sum()
    }

    /// Carves `arena` (at least [`ChunkBufs::arena_len`] values) into a chunk's buffers.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `arena` is too short.
    pub fn carve(lay: &Layout, rows: usize, arena: &'a mut [f32]) -> Result<Self, Error> {
        let l = Self::lens(lay, rows);
        let mut c = Carve::new("chunk arena", arena);
        Ok(ChunkBufs {
            rollout: c.take(l[0])?,
            log_r: c.take(l[1])?,
            log_w: c.take(l[2])?,
            grads: c.take(l[3])?,
            flow_grads: c.take(l[4])?,
            delta: c.take(l[5])?,
            coef: c.take(l[6])?,
            dout: c.take(l[7])?,
            subtb: [
                c.take(l[8])?,
                c.take(l[9])?,
                c.take(l[10])?,
                c.take(l[11])?,
                c.take(l[12])?,
                c.take(l[13])?,
                c.take(l[14])?,
            ],
        })
    }

    /// Rows of the chunk.
    pub fn rows(&self) -> usize {
        self.log_r.len()
    }
}

/// Where the chunks' trajectories come from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// Rollouts of `p_F`; `log_w`: also the log importance weights (for the buffer).
    OnPolicy {
        /// Whether to compute the log weights.
        log_w: bool,
    },
    /// Backward trajectories of `p_B` from the buffer draw's terminal states (`B × d`).
    Buffer(&'a [f32]),
}

/// What every chunk of one iteration shares: the model at the iteration's parameters, the
/// target and where the trajectories come from.
pub struct ChunkJob<'a, T: ?Sized> {
    policy: Policy<'a>,
    twist: Option<Twist<'a>>,
    log_z: f32,
    target: &'a T,
    total: usize,
    subtb_weight: f32,
    cfg: &'a Config,
    source: Source<'a>,
}

impl<'a, T: LogDensity + ?Sized> ChunkJob<'a, T> {
    /// The job of one iteration of the trainer (`cfg`, `lay`, `sched`) at the model
    /// parameters `params` ([`Layout::params`]) over a batch of [`Layout::batch`] rows.
    pub fn new(
        (cfg, lay): (&'a Config, &'a Layout),
        sched: &'a Schedule<'a>,
        params: &'a [f32],
        target: &'a T,
        source: Source<'a>,
    ) -> Self {
        ChunkJob {
            policy: policy_at(cfg, lay, sched, params),
            twist: lay.flows.as_ref().map(|flows| Twist {
                flows,
                params: lay.flow(params),
            }),
            log_z: lay.log_z(params),
            target,
            total: lay.batch,
            subtb_weight: cfg.subtb_weight,
            cfg,
            source,
        }
    }

    /// One chunk whose rows start at row `first` of the batch: zeroes its gradients, builds
    /// its trajectories with the generator seeded by `seed` (an on-policy rollout, or the
    /// backward trajectories of its rows of the buffer draw), computes `log R` (with
    /// [`Config::low_reward`] applied), its share of
    /// the TB gradient ([`tb::chunk_gradient`]), for an on-policy batch of a buffer method
    /// the log weights, and with flows its share of the SubTB gradient
    /// ([`flow::subtb_backward`] with [`SubTbTerms::batch`]).
    ///
    /// # Errors
    /// As the kernels it calls; shape errors.
    pub fn run(&self, first: usize, ch: &mut ChunkBufs<'_>, seed: u64) -> Result<ChunkSums, Error> {
        ch.grads.fill(0.0);
        ch.flow_grads.fill(0.0);
        let rows = ch.rows();
        let (policy, log_z, target, total) = (self.policy, self.log_z, self.target, self.total);
        let (net, sched) = (policy.net, policy.sched);
        let Rollout { mut traj, mut ws } =
            Rollout::carve(net, rows, sched.steps(), true, ch.rollout)?;
        let mut r = rng::seeded(seed);
        match self.source {
            Source::OnPolicy { .. } => {
                policy::sample_forward(policy, target, &mut traj, &mut ws, true, &mut r)?;
            }
            Source::Buffer(x_t) => {
                let d = traj.dim;
                let rows = x_t
                    .get(first * d..(first + rows) * d)
                    .ok_or(Error::ShapeMismatch {
                        what: "buffer batch rows of a chunk",
                        expected: (first + rows) * d,
                        got: x_t.len(),
                    })?;
                policy::sample_backward(sched, rows, &mut traj, ws.noise, &mut r)?;
                policy::score(policy, target, &mut traj, &mut ws, true)?;
            }
        }
        let mut views = ChunkViews {
            traj,
            ws,
            log_r: ch.log_r,
            delta: ch.delta,
            coef: ch.coef,
            dout: ch.dout,
            grads: ch.grads,
        };
        policy::fill_log_r(target, views.traj.terminal(), views.traj.dim, views.log_r);
        self.cfg.apply_low_reward(views.log_r);
        let tb = tb::chunk_gradient(policy, log_z, total, &mut views)?;
        // the same trajectories, carved again now that the chunk views are done
        let traj = Rollout::carve(net, rows, sched.steps(), true, ch.rollout)?.traj;
        if let Source::OnPolicy { log_w: true } = self.source {
            policy::log_weights(sched, &traj, ch.log_r, ch.log_w)?;
        }
        let mut sums = ChunkSums {
            tb,
            subtb_loss: 0.0,
            subtb_kept: 0,
        };
        if let Some(twist) = self.twist {
            let [b0, b1, b2, b3, b4, b5, b6] = &mut ch.subtb;
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
                log_r: ch.log_r,
                log_z,
                weight: self.subtb_weight,
                batch: total,
            };
            let si = flow::subtb_backward(twist, sched, &traj, terms, ch.flow_grads, &mut sws)?;
            sums.subtb_loss = si.sum_loss;
            sums.subtb_kept = si.kept;
        }
        Ok(sums)
    }
}

/// The ordered reduction of the chunk results: [`Reduction::add`] each chunk **in chunk
/// order**, then [`Reduction::finish`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Reduction {
    sum_delta: f64,
    sum_delta2: f64,
    subtb_loss: f64,
    subtb_kept: u32,
    masked: u32,
    added: usize,
}

impl Reduction {
    /// Zeroes the batch gradients `grads` and `flow_grads` and returns an empty reduction.
    pub fn start(grads: &mut [f32], flow_grads: &mut [f32]) -> Self {
        grads.fill(0.0);
        flow_grads.fill(0.0);
        Reduction::default()
    }

    /// Adds the next chunk's sums and gradients (`chunk`: policy, flow) into the batch's
    /// (`grads`: policy, flow).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the gradient lengths differ.
    pub fn add(
        &mut self,
        sums: &ChunkSums,
        chunk: (&[f32], &[f32]),
        grads: (&mut [f32], &mut [f32]),
    ) -> Result<(), Error> {
        for (what, a, b) in [
            ("chunk policy gradient", chunk.0.len(), grads.0.len()),
            ("chunk flow gradient", chunk.1.len(), grads.1.len()),
        ] {
            if a != b {
                return Err(Error::ShapeMismatch {
                    what,
                    expected: b,
                    got: a,
                });
            }
        }
        self.sum_delta += sums.tb.sum_delta;
        self.sum_delta2 += sums.tb.sum_delta2;
        self.masked += sums.tb.masked;
        self.subtb_loss += sums.subtb_loss;
        self.subtb_kept += sums.subtb_kept;
        for (g, &c) in grads.0.iter_mut().zip(chunk.0) {
            *g += c;
        }
        for (g, &c) in grads.1.iter_mut().zip(chunk.1) {
            *g += c;
        }
        self.added += 1;
        Ok(())
    }

    /// Chunks added so far.
    pub fn added(&self) -> usize {
        self.added
    }

    /// Applies the failure policy of the kernel's losses to the summed gradients (`grads`:
    /// policy, flow) of a batch of `batch` rows: non-finite rows are masked and the means
    /// run over the finite ones (no rescaling, so no change, when none is masked). The
    /// returned gradient's slices are empty: the caller points them at `grads`.
    ///
    /// # Errors
    /// [`Error::Degenerate`] when no row (TB) or no trajectory (SubTB, with flows) is usable.
    pub fn finish(
        &self,
        batch: usize,
        grads: (&mut [f32], &mut [f32]),
    ) -> Result<ExternalGradient<'static>, Error> {
        let kept = batch.saturating_sub(self.masked as usize);
        if kept == 0 {
            return Err(Error::Degenerate(
                "trajectory balance: no trajectory has a finite residual (is log R finite anywhere?)",
            ));
        }
        if self.masked > 0 {
            let scale = batch as f32 / kept as f32;
            grads.0.iter_mut().for_each(|g| *g *= scale);
        }
        let mut subtb_loss = 0.0;
        if !grads.1.is_empty() {
            let sub_kept = self.subtb_kept;
            if sub_kept == 0 {
                return Err(Error::Degenerate(
                    "sub-trajectory balance: no trajectory has finite log R and flows",
                ));
            }
            if (sub_kept as usize) < batch {
                let scale = batch as f32 / sub_kept as f32;
                grads.1.iter_mut().for_each(|g| *g *= scale);
            }
            subtb_loss = (self.subtb_loss / f64::from(sub_kept)) as f32;
        }
        let bf = kept as f64;
        Ok(ExternalGradient {
            policy: &[],
            flow: &[],
            log_z: (2.0 * self.sum_delta / bf) as f32,
            tb_loss: (self.sum_delta2 / bf) as f32,
            subtb_loss,
            masked: self.masked,
            on_policy: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_rows_cover_the_batch_in_order() {
        for (b, c) in [(300, 8), (7, 7), (10, 3), (5, 1)] {
            let mut next = 0;
            for i in 0..c {
                let r = chunk_rows(b, c, i);
                assert_eq!(r.start, next);
                assert!(r.end > r.start, "{b} {c} {i}");
                next = r.end;
            }
            assert_eq!(next, b);
            assert!(chunk_rows(b, c, c).is_empty());
        }
        assert_eq!(chunk_rows(10, 3, 1), 3..6);
        assert!(check_chunks(4, 5).is_err() && check_chunks(4, 0).is_err());
        assert!(check_chunks(4, 4).is_ok());
    }

    #[test]
    fn seeds_are_the_rng_stream_in_chunk_order() {
        let mut a = rng::seeded(9);
        let mut seeds = [0u64; 3];
        draw_seeds(&mut seeds, &mut a);
        let mut b = rng::seeded(9);
        assert_eq!(seeds, [b.next_u64(), b.next_u64(), b.next_u64()]);
    }

    #[test]
    fn the_reduction_adds_in_order_and_masks_rows() {
        let sums = |d: f64, m: u32| ChunkSums {
            tb: TbChunkSums {
                sum_delta: d,
                sum_delta2: d * d,
                masked: m,
            },
            subtb_loss: 0.0,
            subtb_kept: 0,
        };
        let (mut g, mut f) = ([9.0f32; 2], [0.0f32; 0]);
        let mut red = Reduction::start(&mut g, &mut f);
        red.add(&sums(1.0, 0), (&[1.0, 2.0], &[]), (&mut g, &mut f))
            .unwrap();
        red.add(&sums(3.0, 1), (&[0.5, 0.25], &[]), (&mut g, &mut f))
            .unwrap();
        assert_eq!(red.added(), 2);
        // batch of 4 with one masked row: means over 3, gradient scaled by 4/3
        let e = red.finish(4, (&mut g, &mut f)).unwrap();
        assert_eq!(e.masked, 1);
        assert_eq!(e.log_z, (2.0 * 4.0 / 3.0f64) as f32);
        assert_eq!(e.tb_loss, (10.0 / 3.0f64) as f32);
        assert_eq!(g, [1.5 * (4.0 / 3.0f32), 2.25 * (4.0 / 3.0f32)]);
        let bad = red.add(&sums(0.0, 0), (&[1.0], &[]), (&mut g, &mut f));
        assert!(matches!(bad, Err(Error::ShapeMismatch { .. })));
        let all = Reduction::default();
        let mut none = Reduction::start(&mut g, &mut f);
        none.add(&sums(0.0, 2), (&[0.0, 0.0], &[]), (&mut g, &mut f))
            .unwrap();
        assert!(matches!(
            none.finish(2, (&mut g, &mut f)),
            Err(Error::Degenerate(_))
        ));
        assert_eq!(all.added(), 0);
    }
}
