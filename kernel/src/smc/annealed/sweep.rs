//! One temperature's Markov moves over the particles of [`super`]: MALA with its step-size
//! adaptation, HMC or RWM with the step size of the current `β` ([`crate::smc::moves`]).

use super::{Config, Move, Particles, State};
use crate::error::Error;
use crate::math;
use crate::rng::Rng;
use crate::smc::moves::{self, Tempered};
use crate::targets::LogDensity;

/// Moves every particle of positive weight by `cfg.moves` targeting `pi` (updating its
/// `log R`); records the step size used in `state`. Returns the acceptance rate.
pub(super) fn sweep<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    ps: &mut Particles<'_>,
    vec: &mut [f32],
    pi: &Tempered<'_, T>,
    rng: &mut R,
) -> Result<f64, Error> {
    let dim = pi.target.dim();
    let target = pi.target;
    Ok(match cfg.moves {
        Move::Mala => mala_moves(cfg, state, ps, vec, pi, rng)?,
        Move::Hmc(h) => {
            let eps = h.step.at(state.beta);
            state.step_size = eps;
            let mut acc = Acceptance::default();
            for (row, lr) in ps.x.chunks_exact_mut(dim).zip(ps.log_r.iter_mut()) {
                if *lr == f32::NEG_INFINITY {
                    continue;
                }
                for _ in 0..h.steps {
                    let lp = pi.log_density(row);
                    let moved = moves::hmc(pi, (eps, h.leapfrog), row, lp, vec, rng)?;
                    acc.count(moved);
                    if moved {
                        *lr = target.log_density(row);
                    }
                }
            }
            acc.rate()
        }
        Move::Rwm(r) => {
            let s = r.step.at(state.beta);
            state.step_size = s;
            let mut acc = Acceptance::default();
            let prop = &mut vec[..dim];
            for (row, lr) in ps.x.chunks_exact_mut(dim).zip(ps.log_r.iter_mut()) {
                if *lr == f32::NEG_INFINITY {
                    continue;
                }
                let mut lp = pi.log_density(row);
                for _ in 0..r.steps {
                    let moved = moves::rwm(pi, s, row, lp, prop, rng);
                    acc.count(moved.is_some());
                    if let Some(l) = moved {
                        lp = l;
                        *lr = target.log_density(row);
                    }
                }
            }
            acc.rate()
        }
    })
}

/// Accepted and proposed moves.
#[derive(Default)]
struct Acceptance {
    accepted: u64,
    proposed: u64,
}

impl Acceptance {
    fn count(&mut self, accepted: bool) {
        self.proposed += 1;
        self.accepted += u64::from(accepted);
    }
    fn rate(&self) -> f64 {
        if self.proposed > 0 {
            self.accepted as f64 / self.proposed as f64
        } else {
            0.0
        }
    }
}

/// [`Config::mala_steps`] MALA steps ([`moves::mala`]) of every particle of positive
/// weight targeting `pi`, then the step-size adaptation. Returns the acceptance rate.
fn mala_moves<T: LogDensity + ?Sized, R: Rng + ?Sized>(
    cfg: &Config,
    state: &mut State,
    ps: &mut Particles<'_>,
    vec: &mut [f32],
    pi: &Tempered<'_, T>,
    rng: &mut R,
) -> Result<f64, Error> {
    let dim = pi.target.dim();
    let h = state.step_size;
    let mut acc = Acceptance::default();
    for (row, lr) in ps.x.chunks_exact_mut(dim).zip(ps.log_r.iter_mut()) {
        if *lr == f32::NEG_INFINITY {
            continue; // zero-weight particle; moving it is wasted work
        }
        for _ in 0..cfg.mala_steps {
            let moved = moves::mala(pi, h, row, vec, rng)?;
            acc.count(moved);
            if moved {
                *lr = pi.target.log_density(row);
            }
        }
    }
    let acceptance = acc.rate();
    if cfg.adapt_step_size && acc.proposed > 0 {
        let f = math::exp(2.0 * (acceptance - 0.574)) as f32;
        state.step_size = (state.step_size * f).clamp(1e-6, 1e3);
    }
    Ok(acceptance)
}
