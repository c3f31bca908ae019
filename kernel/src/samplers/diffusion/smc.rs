//! Twisted SMC with the learnt diffusion policy as proposal and learnt flows as twists.
//!
//! Choi et al. 2025 (arXiv 2510.11711, §3; `rsmc.md` §1.2, `batch_simulate_fwd_subtrajectories`).
//! `N` particles start at `x₀ ~ p₀` with `log W̄ = −log N`; the trajectory is cut into
//! chunks of `L` steps and, for each chunk `s → e = s + L`:
//!
//! 1. propagate every particle `L` steps with `p_F`;
//! 2. incremental weight `log w = log F_e(x_e) + Σ log p_B − log F_s(x_s) − Σ log p_F`, with
//!    `F_0 = p₀` (no `Z` inside SMC) and `F_T = R`;
//! 3. `ℓ = log W̄ + log w`, `log Ẑ += logsumexp ℓ`;
//! 4. unless this is the last chunk, if `ESS(ℓ)/N < 0.2`, resample (systematic) with
//!    adaptively tempered weights `w^λ` ([`crate::smc::temper`], target ESS 0.05) and carry the
//!    residual `ℓ ← (1 − λ) ℓ[aᵢ]`;
//! 5. `log W̄ = log_softmax(ℓ)`.
//!
//! Output: terminal particles and their **Z-scaled** log-weights `log W̄ᵢ + log Ẑ + log N`,
//! so that `(1/N) Σ wᵢ = Ẑ`; these are on the same scale as on-policy importance weights
//! and can share one replay buffer ([`crate::buffer`]).
//!
//! Twists: with learnt flows, `log F_n` is [`super::flow::Twist::log_flow`]; without, the
//! twist is the geometric annealing path ([`super::flow::AnnealingPath`]) `(1 − n/T) log p_ref,n + (n/T) log R` (the learnt
//! flows at initialisation), so the same code is annealed SMC with the policy as proposal.

use super::flow::{AnnealingPath, Boundary, Flows, Twist};
use super::policy::{self, Policy, Trajectories};
use super::reference::gaussian_log_pdf;
use crate::arena::Carve;
use crate::error::{Error, check_len, check_min_len};
use crate::rng::Rng;
use crate::smc::twist;
use crate::targets::LogDensity;

/// SMC settings: the twisted-SMC settings shared with the discrete RSMC.
pub use crate::smc::twist::Config as SmcConfig;

pub use crate::smc::SmcInfo;

/// Caller-owned scratch for [`run`] with `N` particles.
#[derive(Debug)]
pub struct SmcWorkspace<'a> {
    /// `[N]`: on return, the Z-scaled final log-weights.
    pub log_w: &'a mut [f32],
    /// `[N]`: current `log F_s` per particle.
    pub log_f: &'a mut [f32],
    /// `[N]`: `log F_e` of the chunk end.
    pub log_f_new: &'a mut [f32],
    /// `[N]`: `log R` at the current boundary states (on return, at `x_T`).
    pub log_r: &'a mut [f32],
    /// `[N]`: resampling weights / permutation scratch.
    pub tmp: &'a mut [f32],
    /// `[N]`: ancestor indices.
    pub ancestors: &'a mut [u32],
    /// `[N·d]`: state permutation scratch.
    pub perm: &'a mut [f32],
    /// `[T + 1]`: β schedule.
    pub betas: &'a mut [f32],
    /// `[flow.cache_len(N)]` (empty without learnt flows).
    pub flow_cache: &'a mut [f32],
    /// `[flow.scratch_len(N)]` (empty without learnt flows).
    pub flow_scratch: &'a mut [f32],
}

impl<'a> SmcWorkspace<'a> {
    /// Lengths of the fields in declaration order for `n` particles.
    pub fn lens(n: usize, dim: usize, steps: usize, flows: Option<&Flows>) -> [usize; 10] {
        let (fc, fs) = flows.map_or((0, 0), |f| (f.net().cache_len(n), f.net().scratch_len(n)));
        [n, n, n, n, n, n, n * dim, steps + 1, fc, fs]
    }

    /// Lengths `(f32, u32)` of the arenas [`SmcWorkspace::carve`] takes for the field
    /// lengths `lens`: every field but the ancestors, and the ancestors.
    pub fn arena_lens(lens: &[usize; 10]) -> (usize, usize) {
        (lens.iter().sum::<usize>() - lens[5], lens[5])
    }

    /// Carves a workspace with the field lengths `lens` ([`SmcWorkspace::lens`]) from the
    /// front of an `f32` arena (the fields in declaration order, but the ancestors) and a
    /// `u32` arena (the ancestors).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if an arena is too short.
    pub fn carve(
        lens: &[usize; 10],
        f32_arena: &'a mut [f32],
        u32_arena: &'a mut [u32],
    ) -> Result<Self, Error> {
        let mut c = Carve::new("smc f32 arena", f32_arena);
        let mut cu = Carve::new("smc u32 arena", u32_arena);
        Self::carve_from(&mut c, &mut cu, lens)
    }

    /// As [`SmcWorkspace::carve`], from a trainer's carvers.
    pub(crate) fn carve_from(
        c: &mut Carve<'a, f32>,
        cu: &mut Carve<'a, u32>,
        lens: &[usize; 10],
    ) -> Result<Self, Error> {
        Ok(SmcWorkspace {
            log_w: c.take(lens[0])?,
            log_f: c.take(lens[1])?,
            log_f_new: c.take(lens[2])?,
            log_r: c.take(lens[3])?,
            tmp: c.take(lens[4])?,
            ancestors: cu.take(lens[5])?,
            perm: c.take(lens[6])?,
            betas: c.take(lens[7])?,
            flow_cache: c.take(lens[8])?,
            flow_scratch: c.take(lens[9])?,
        })
    }
}

/// A twisted SMC sampler: its settings, the proposal (the learnt policy) and the twist (the
/// learnt flows, or `None` for the annealing path).
#[derive(Clone, Copy, Debug)]
pub struct Sampler<'a> {
    /// SMC settings.
    pub cfg: &'a SmcConfig,
    /// The proposal `p_F`.
    pub proposal: Policy<'a>,
    /// Learnt flows as twists, or `None` for the annealing twist.
    pub twist: Option<Twist<'a>>,
}

/// Runs one full SMC pass of `smc` over `traj` (batch `N`, no caches needed). On return
/// `traj.terminal()` holds the particles, `ws.log_w` their Z-scaled log-weights and
/// `ws.log_r` their `log R`.
///
/// The pass is [`start`], then per chunk of steps [`segment`] (propagation and weighting,
/// row by row) and [`boundary`] (the resampling of the population), then
/// [`twist::finish`]; a runner that splits the particles into fixed groups (possibly on
/// several threads) calls the same pieces.
///
/// # Errors
/// [`Error::InvalidConfig`] for a chunk length that does not divide `T` or bad thresholds;
/// [`Error::Degenerate`] if every particle gets zero weight; shape errors otherwise.
pub fn run<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    smc: Sampler<'_>,
    target: &T,
    traj: &mut Trajectories<'_>,
    pws: &mut policy::Workspace<'_>,
    ws: &mut SmcWorkspace<'_>,
    rng: &mut R,
) -> Result<SmcInfo, Error> {
    let (n, d, t) = (traj.batch, traj.dim, traj.steps);
    let mut info = start(smc, (n, d, t), ws)?;
    let w = n * d;
    for k in 0..t / smc.cfg.chunk {
        let mut seg = Segment {
            traj: &mut *traj,
            pws: &mut *pws,
            log_w: &mut *ws.log_w,
            log_f: &mut *ws.log_f,
            log_f_new: &mut *ws.log_f_new,
            log_r: &mut *ws.log_r,
            betas: &*ws.betas,
            flow_cache: &mut *ws.flow_cache,
            flow_scratch: &mut *ws.flow_scratch,
        };
        segment(smc, target, k, &mut seg, rng)?;
        let e = (k + 1) * smc.cfg.chunk;
        let xe = &mut traj.states[e * w..(e + 1) * w];
        boundary(smc.cfg, e == t, xe, ws, &mut info, rng)?;
    }
    twist::finish(ws.log_w, &mut info)?;
    Ok(info)
}

/// Starts an SMC pass of `smc` over `N` particles in `d` dimensions with `T` steps
/// (`dims`): checks the settings and the workspace, fills `ws.betas` (the learnt flows' β,
/// or `n/T`) and the uniform weights ([`twist::start`]).
///
/// # Errors
/// As [`run`].
pub fn start(
    smc: Sampler<'_>,
    dims: (usize, usize, usize),
    ws: &mut SmcWorkspace<'_>,
) -> Result<SmcInfo, Error> {
    let Sampler { cfg, twist, .. } = smc;
    let (n, d, t) = dims;
    if cfg.chunk == 0 || !t.is_multiple_of(cfg.chunk) {
        return Err(Error::InvalidConfig(
            "SMC chunk length must divide the number of steps",
        ));
    }
    if !(0.0..=1.0).contains(&cfg.resample_threshold) {
        return Err(Error::InvalidConfig("resample_threshold must be in [0, 1]"));
    }
    if let Some(tw) = twist {
        if tw.flows.chunk() != cfg.chunk {
            return Err(Error::InvalidConfig(
                "flow chunk length differs from the SMC chunk length",
            ));
        }
        check_len("flow params", tw.flows.param_count(), tw.params.len())?;
    }
    let lens = SmcWorkspace::lens(n, d, t, twist.map(|tw| tw.flows));
    check_len("smc log_w", lens[0], ws.log_w.len())?;
    check_len("smc log_f", lens[1], ws.log_f.len())?;
    check_len("smc log_f_new", lens[2], ws.log_f_new.len())?;
    check_len("smc log_r", lens[3], ws.log_r.len())?;
    check_len("smc tmp", lens[4], ws.tmp.len())?;
    check_len("smc ancestors", lens[5], ws.ancestors.len())?;
    check_len("smc perm", lens[6], ws.perm.len())?;
    check_len("smc betas", lens[7], ws.betas.len())?;
    check_min_len("smc flow_cache", lens[8], ws.flow_cache.len())?;
    check_min_len("smc flow_scratch", lens[9], ws.flow_scratch.len())?;
    match twist {
        Some(tw) => tw.flows.betas(tw.params, ws.betas)?,
        None => {
            for (i, b) in ws.betas.iter_mut().enumerate() {
                *b = i as f32 / t as f32;
            }
        }
    }
    Ok(twist::start(ws.log_w))
}

/// The particles one [`segment`] call works on: all `N` of a pass ([`run`]) or a fixed
/// group of them (a runner's particle chunk), each row with its trajectory, normalised
/// log-weight and twists.
#[derive(Debug)]
pub struct Segment<'s, 'a, 'b> {
    /// The rows' trajectories (no caches); the states at the segment's start in place.
    pub traj: &'s mut Trajectories<'a>,
    /// Rollout scratch for the rows.
    pub pws: &'s mut policy::Workspace<'b>,
    /// `[rows]`: in `log W̄`, out `ℓ = log W̄ + ` the incremental weight.
    pub log_w: &'s mut [f32],
    /// `[rows]`: `log F_s` (written at the first segment: `log p₀(x₀)`).
    pub log_f: &'s mut [f32],
    /// `[rows]`: out `log F_e`.
    pub log_f_new: &'s mut [f32],
    /// `[rows]`: out `log R(x_e)` (non-finite is `-inf`).
    pub log_r: &'s mut [f32],
    /// `[T + 1]`: the β schedule ([`start`]).
    pub betas: &'s [f32],
    /// Flow network cache for the rows (empty without learnt flows).
    pub flow_cache: &'s mut [f32],
    /// Flow network scratch for the rows (empty without learnt flows).
    pub flow_scratch: &'s mut [f32],
}

/// The `k`-th chunk of steps `s = kL → e = s + L` for the rows of `seg`: propagates them
/// `L` steps with `p_F` (drawing from `rng`), evaluates `log R` and `log F_e` at `x_e` and
/// writes `ℓ` (steps 1–3 of the [module docs](self), without the `log Ẑ` update). Each row
/// depends only on itself and `rng`.
///
/// # Errors
/// Shape errors (the per-row buffers must have `seg.traj.batch` entries).
pub fn segment<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    smc: Sampler<'_>,
    target: &T,
    k: usize,
    seg: &mut Segment<'_, '_, '_>,
    rng: &mut R,
) -> Result<(), Error> {
    let Sampler {
        cfg,
        proposal,
        twist,
    } = smc;
    let sched = proposal.sched;
    let traj = &mut *seg.traj;
    let (n, d, t) = (traj.batch, traj.dim, traj.steps);
    check_len("smc segment log_w", n, seg.log_w.len())?;
    check_len("smc segment log_f", n, seg.log_f.len())?;
    check_len("smc segment log_f_new", n, seg.log_f_new.len())?;
    check_len("smc segment log_r", n, seg.log_r.len())?;
    check_len("smc betas", t + 1, seg.betas.len())?;
    let (s, e) = (k * cfg.chunk, (k + 1) * cfg.chunk);
    policy::sample_forward_range(proposal, target, traj, seg.pws, s..e, rng)?;
    let w = n * d;
    if k == 0 {
        let x0 = &traj.states[..w];
        for (lf, row) in seg.log_f.iter_mut().zip(x0.chunks_exact(d)) {
            *lf = sched.log_p0(row);
        }
    }
    // log F_e and log R at the chunk end
    let xe = &traj.states[e * w..(e + 1) * w];
    // a non-finite log R (a target breaking its contract) is zero reward: weight 0
    policy::fill_log_r(target, xe, d, seg.log_r);
    if e == t {
        seg.log_f_new.copy_from_slice(seg.log_r);
    } else {
        let path = AnnealingPath {
            process: sched.process(),
            betas: seg.betas,
        };
        match twist {
            Some(tw) => {
                let at = Boundary {
                    n: e,
                    x: xe,
                    log_r: seg.log_r,
                };
                let (cache, scratch) = (&mut *seg.flow_cache, &mut *seg.flow_scratch);
                tw.log_flow(path, at, cache, scratch, seg.log_f_new)?
            }
            None => {
                let beta = path.betas[e];
                let var = path.process.marginal_var(e, t);
                for ((o, row), &lr) in seg
                    .log_f_new
                    .iter_mut()
                    .zip(xe.chunks_exact(d))
                    .zip(seg.log_r.iter())
                {
                    *o = (1.0 - beta) * gaussian_log_pdf(row, var) + beta * lr;
                }
            }
        }
    }
    // ℓ = log W̄ + incremental weight
    for i in 0..n {
        let mut inc = seg.log_f_new[i] as f64 - seg.log_f[i] as f64;
        for step in s..e {
            inc += traj.log_pb[step * n + i] as f64 - traj.log_pf[step * n + i] as f64;
        }
        seg.log_w[i] = twist::stored_log_weight(seg.log_w[i] as f64 + inc);
    }
    Ok(())
}

/// The boundary after a segment, over the whole population ([`twist::boundary`]): `ws`
/// holds every particle's `ℓ`, `log F_s`, `log F_e` and `log R`, `xe` (`N × d`) their
/// states at the boundary. May resample (one uniform from `rng`, unless `last`), moving the
/// rows of `xe` and `ws.log_r` with the particles.
///
/// # Errors
/// As [`twist::boundary`]; [`Error::ShapeMismatch`] if `xe` is not `ws.perm`'s length.
pub fn boundary<R: Rng + ?Sized>(
    cfg: &SmcConfig,
    last: bool,
    xe: &mut [f32],
    ws: &mut SmcWorkspace<'_>,
    info: &mut SmcInfo,
    rng: &mut R,
) -> Result<(), Error> {
    let n = ws.log_w.len();
    check_len("smc boundary states", ws.perm.len(), xe.len())?;
    let d = xe.len().checked_div(n).unwrap_or(0);
    let rule = cfg.rule(last);
    let mut weights = twist::Weights {
        log_w: ws.log_w,
        log_f: ws.log_f,
        log_f_new: ws.log_f_new,
        tmp: ws.tmp,
        ancestors: ws.ancestors,
    };
    // a particle's row: its boundary state and its log R
    let (perm, log_r) = (&mut *ws.perm, &mut *ws.log_r);
    let rows = |anc: &[u32], scratch: &mut [f32]| {
        for (i, &a) in anc.iter().enumerate() {
            let a = a as usize;
            perm[i * d..(i + 1) * d].copy_from_slice(&xe[a * d..(a + 1) * d]);
        }
        xe.copy_from_slice(perm);
        twist::permute(log_r, anc, scratch);
        Ok(())
    };
    twist::boundary(&rule, &mut weights, info, rows, rng)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::math;
    use crate::nn::LastLayerInit;
    use crate::rng;
    use crate::samplers::diffusion::net::PisNet;
    use crate::samplers::diffusion::policy::{PolicyConfig, Rollout};
    use crate::samplers::diffusion::reference::{Process, Schedule};
    use crate::targets::Gaussian;
    use std::vec;
    use std::vec::Vec;

    fn run_once(target: &Gaussian, seed: u64, n: usize, flows: bool) -> (SmcInfo, Vec<f32>) {
        let d = target.dim();
        let t = 16;
        let process = Process::OrnsteinUhlenbeck { init_std: 1.0 };
        let mut table = vec![0.0f32; Schedule::table_len(t)];
        let sched = Schedule::new(process, t, &mut table).unwrap();
        let pcfg = PolicyConfig::default();
        let net = PisNet::new(d, 8, 4, d).unwrap();
        let mut r = rng::seeded(seed);
        let mut p = vec![0.0f32; net.param_count()];
        net.init(&mut p, LastLayerInit::Zero, &mut r).unwrap();
        let fnet = PisNet::new(d, 8, 4, 1).unwrap();
        let fl = Flows::new(fnet, t, 4).unwrap();
        let mut fp = vec![0.0f32; fl.param_count()];
        fl.init(&mut fp, &mut r).unwrap();
        let mut arena = vec![0.0; Rollout::arena_len(&net, n, t, false)];
        let Rollout {
            mut traj,
            ws: mut pws,
        } = Rollout::carve(&net, n, t, false, &mut arena).unwrap();
        let lens = SmcWorkspace::lens(n, d, t, flows.then_some(&fl));
        let (fl_len, ul_len) = SmcWorkspace::arena_lens(&lens);
        let (mut fa, mut ua) = (vec![0.0f32; fl_len], vec![0u32; ul_len]);
        let mut ws = SmcWorkspace::carve(&lens, &mut fa, &mut ua).unwrap();
        let cfg = SmcConfig::default();
        let smc = Sampler {
            cfg: &cfg,
            proposal: Policy {
                cfg: &pcfg,
                sched: &sched,
                net: &net,
                params: &p,
            },
            twist: flows.then_some(Twist {
                flows: &fl,
                params: &fp,
            }),
        };
        let info = run(smc, target, &mut traj, &mut pws, &mut ws, &mut r).unwrap();
        (info, ws.log_w.to_vec())
    }

    #[test]
    fn log_z_is_unbiased_with_an_untrained_policy() {
        // target N(1.5, 0.5^2) in 2-D, normalised: Z = 1. E[Ẑ] = 1 for any proposal.
        let target = Gaussian::new(2, 1.5, 0.5).unwrap();
        let reps = 40;
        for flows in [false, true] {
            let z: Vec<f64> = (0..reps)
                .map(|s| math::exp(run_once(&target, s, 256, flows).0.log_z))
                .collect();
            let mean = z.iter().sum::<f64>() / reps as f64;
            let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (reps - 1) as f64;
            let se = (var / reps as f64).sqrt();
            assert!(
                (mean - 1.0).abs() < 3.0 * se + 1e-3,
                "flows {flows}: mean Ẑ {mean} ± {se}"
            );
            assert!(se < 0.1);
        }
    }

    #[test]
    fn final_weights_are_z_scaled() {
        let target = Gaussian::new(2, 1.0, 0.7).unwrap();
        let (info, lw) = run_once(&target, 3, 128, true);
        // (1/N) Σ w_i = Ẑ
        let lme = math::log_mean_exp(&lw) as f64;
        assert!((lme - info.log_z).abs() < 1e-3, "{lme} vs {}", info.log_z);
        assert!(info.final_ess_fraction > 0.0 && info.final_ess_fraction <= 1.0);
        assert!(info.min_lambda > 0.0 && info.min_lambda <= 1.0);
    }
}
