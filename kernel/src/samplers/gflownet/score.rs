//! Scoring the trainer's batch under the current model, and the gradient of its loss.
//!
//! - [`predict`]: the `A + B + 1` outputs of the `B` states at one depth (sampling, SMC);
//! - `score`: one batched forward pass over every non-terminal state of the batch, giving
//!   per transition `log P_F`, `log P_B` (uniform over parents, or the learnt head) and
//!   `log F` (with `log F(s₀) = log Z` and `log F(x) = log R(x)`);
//! - [`log_weights`]: `log w = log R(x) + Σ log P_B − Σ log P_F` per trajectory;
//! - [`loss_and_grad`]: the mean TB / DB / SubTB / TB+SubTB loss ([`super::loss`]) and its
//!   gradient, back-propagated through the masked softmaxes into the policy network, the
//!   flow network (if separate) and `log Z`.

use super::batch::Batch;
use super::env::{DiscreteEnv, MAX_ACTIONS, count_legal};
use super::loss::{self, Path, PathGrads};
use super::policy::{masked_log_softmax, masked_log_softmax_backward};
use super::train::{Config, Layout, LossKind, Views, check};
use crate::arena::Carve;
use crate::error::{Error, check_len};
use crate::math;
use crate::nn::{Grads, Tape};

/// Network inputs, caches, outputs and scratch for up to `rows = B·T` states.
#[derive(Debug)]
pub(super) struct Net<'a> {
    /// `[rows, feature_len]` inputs.
    feats: &'a mut [f32],
    /// Policy network cache.
    cache: &'a mut [f32],
    /// `[rows, A + B + 1]` outputs (the flow column from the flow network, if separate).
    pub(super) out: &'a mut [f32],
    /// `[rows, A + B + 1]` output gradients.
    dout: &'a mut [f32],
    /// Scratch of both networks.
    scratch: &'a mut [f32],
    /// Flow network cache (empty without one).
    flow_cache: &'a mut [f32],
    /// `[rows]` flow network outputs.
    flow_out: &'a mut [f32],
    /// `[rows]` flow network output gradients.
    flow_dout: &'a mut [f32],
}

impl<'a> Net<'a> {
    /// Lengths in carving order: inputs, cache, outputs, output gradients, scratch, flow
    /// cache, flow outputs, flow output gradients.
    fn lens(lay: &Layout) -> [usize; 8] {
        let (rows, ow) = (lay.rows, lay.out_width);
        let scratch = lay
            .mlp
            .scratch_len(rows)
            .max(lay.flow.map_or(0, |f| f.scratch_len(rows)));
        let flow_cache = lay.flow.map_or(0, |f| f.cache_len(rows));
        let flow_rows = if lay.flow.is_some() { rows } else { 0 };
        let cache = lay.mlp.cache_len(rows);
        let feats = rows * lay.feature_len;
        [
            feats,
            cache,
            rows * ow,
            rows * ow,
            scratch,
            flow_cache,
            flow_rows,
            flow_rows,
        ]
    }
    /// `f32` values of the network buffers.
    pub(super) fn f32_len(lay: &Layout) -> usize {
        Self::lens(lay).iter().sum()
    }
    /// The next buffers of `f`, as network buffers.
    pub(super) fn carve(lay: &Layout, f: &mut Carve<'a, f32>) -> Result<Self, Error> {
        let [
            feats,
            cache,
            out,
            dout,
            scratch,
            flow_cache,
            flow_out,
            flow_dout,
        ] = Self::lens(lay);
        Ok(Net {
            feats: f.take(feats)?,
            cache: f.take(cache)?,
            out: f.take(out)?,
            dout: f.take(dout)?,
            scratch: f.take(scratch)?,
            flow_cache: f.take(flow_cache)?,
            flow_out: f.take(flow_out)?,
            flow_dout: f.take(flow_dout)?,
        })
    }
}

/// Per-transition scores of the batch and per-trajectory log-weights.
#[derive(Debug)]
pub(super) struct Scores<'a> {
    /// `[B, T]` `log P_F` per transition.
    lpf: &'a mut [f32],
    /// `[B, T]` `log P_B` per transition.
    lpb: &'a mut [f32],
    /// `[B, T + 1]` `log F` per state.
    lf: &'a mut [f32],
    /// `4(T + 1)` per-trajectory loss gradients and prefix sums.
    grad: &'a mut [f32],
    /// `max(capacity, B)`: the batch's log importance weights (first `B`), reused as the
    /// buffer's sampling-weight scratch when drawing from it.
    pub(super) log_w: &'a mut [f32],
}

impl<'a> Scores<'a> {
    /// Lengths in carving order: `log P_F`, `log P_B`, `log F`, loss scratch, `log w`.
    fn lens(lay: &Layout) -> [usize; 5] {
        let (b, t) = (lay.batch, lay.depth);
        [b * t, b * t, b * (t + 1), 4 * (t + 1), lay.capacity.max(b)]
    }
    /// `f32` values of the scores.
    pub(super) fn f32_len(lay: &Layout) -> usize {
        Self::lens(lay).iter().sum()
    }
    /// The next buffers of `f`, as scores.
    pub(super) fn carve(lay: &Layout, f: &mut Carve<'a, f32>) -> Result<Self, Error> {
        let [lpf, lpb, lf, grad, log_w] = Self::lens(lay);
        Ok(Scores {
            lpf: f.take(lpf)?,
            lpb: f.take(lpb)?,
            lf: f.take(lf)?,
            grad: f.take(grad)?,
            log_w: f.take(log_w)?,
        })
    }
}

/// Predicts the `A + B + 1` outputs of the states `s_t` of trajectories `0..n` into the
/// first `n` rows of the outputs, without a cache.
pub(super) fn predict<E: DiscreteEnv + ?Sized>(
    env: &E,
    v: &mut Views<'_>,
    n: usize,
    t: usize,
) -> Result<(), Error> {
    let fl = env.feature_len();
    let net = &mut v.net;
    for b in 0..n {
        env.features(v.batch.state(b, t), &mut net.feats[b * fl..(b + 1) * fl]);
    }
    let lay = &v.lay;
    let (npp, np, ow) = (lay.policy_params, lay.n_params, lay.out_width);
    let p = &*v.model.params;
    let feats = &net.feats[..n * fl];
    lay.mlp
        .predict(&p[..npp], feats, n, net.scratch, &mut net.out[..n * ow])?;
    if let Some(fm) = lay.flow {
        let fout = &mut net.flow_out[..n];
        fm.predict(&p[npp..np - 1], feats, n, net.scratch, fout)?;
        for (row, &f) in net.out.chunks_exact_mut(ow).zip(fout.iter()) {
            row[ow - 1] = f;
        }
    }
    Ok(())
}

/// Scores the batch under the current model (see the [module docs](self)), keeping the
/// network cache for the backward pass. Returns the number of rows evaluated.
fn score<E: DiscreteEnv + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
) -> Result<usize, Error> {
    let (s, tt) = (env.state_len(), env.max_steps());
    let (na, nb, fl) = (env.n_actions(), env.n_back_actions(), env.feature_len());
    let lay = &v.lay;
    let (npp, np, ow) = (lay.policy_params, lay.n_params, lay.out_width);
    let (batch, net, sc) = (&v.batch, &mut v.net, &mut v.scores);
    // rows: the non-terminal states s_0..s_{n-1} of every trajectory, packed
    let mut rows = 0;
    for (b, &n) in batch.lens.iter().enumerate() {
        let n = n as usize;
        for t in 0..n {
            let o = batch.at(b, t);
            env.features(
                &batch.states[o..o + s],
                &mut net.feats[(rows + t) * fl..(rows + t + 1) * fl],
            );
        }
        rows += n;
    }
    let p = &*v.model.params;
    let feats = &net.feats[..rows * fl];
    lay.mlp
        .forward(&p[..npp], feats, rows, net.cache, &mut net.out[..rows * ow])?;
    if let Some(fm) = lay.flow {
        let fout = &mut net.flow_out[..rows];
        let fcache = &mut net.flow_cache[..fm.cache_len(rows)];
        fm.forward(&p[npp..np - 1], feats, rows, fcache, fout)?;
        for (row, &f) in net.out.chunks_exact_mut(ow).zip(fout.iter()) {
            row[ow - 1] = f;
        }
    }
    let log_z = p[np - 1];
    let out = &*net.out;
    let mut mask = [false; MAX_ACTIONS];
    let mut logp = [0.0f32; MAX_ACTIONS];
    let mut row = 0;
    for (b, &n) in batch.lens.iter().enumerate() {
        let n = n as usize;
        for t in 0..n {
            let r = row + t;
            env.forward_mask(batch.state(b, t), &mut mask[..na]);
            masked_log_softmax(&out[r * ow..r * ow + na], &mask[..na], &mut logp[..na])?;
            let a = batch.actions[b * tt + t] as usize;
            sc.lpf[b * tt + t] = logp[a.min(na - 1)];
            sc.lf[b * (tt + 1) + t] = if t == 0 { log_z } else { out[r * ow + na + nb] };
            // P_B of this transition is evaluated at s_{t+1}
            sc.lpb[b * tt + t] = if t + 1 == n {
                0.0
            } else {
                env.backward_mask(batch.state(b, t + 1), &mut mask[..nb]);
                if cfg.learn_pb {
                    let out2 = &out[(r + 1) * ow..(r + 2) * ow];
                    masked_log_softmax(&out2[na..na + nb], &mask[..nb], &mut logp[..nb])?;
                    logp[(batch.back[b * tt + t] as usize).min(nb - 1)]
                } else {
                    -math::ln(count_legal(&mask[..nb]).max(1) as f32)
                }
            };
        }
        sc.lf[b * (tt + 1) + n] = batch.log_r[b];
        row += n;
    }
    Ok(rows)
}

/// Scores the batch and writes each trajectory's log importance weight
/// `log w = log R(x) + Σ log P_B − Σ log P_F` into `out` (`B` values): over forward
/// trajectories their mean is the ELBO and their log-mean-exp the IS estimate of `log Z`;
/// over backward trajectories from exact samples their mean is the EUBO.
///
/// # Errors
/// [`Error::InvalidConfig`] if `v` was carved for another environment or configuration;
/// [`Error::ShapeMismatch`] unless `out.len() == B`; network errors.
pub fn log_weights<E: DiscreteEnv + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    out: &mut [f32],
) -> Result<(), Error> {
    check(env, cfg, v)?;
    check_len("log weights", cfg.batch, out.len())?;
    score(env, cfg, v)?;
    let sc = &v.scores;
    sum_weights(env.max_steps(), &v.batch, sc.lpf, sc.lpb, out);
    Ok(())
}

/// [`log_weights`] into the first `B` values of the scores' `log_w`, for views already
/// checked.
pub(super) fn score_log_weights<E: DiscreteEnv + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
) -> Result<(), Error> {
    score(env, cfg, v)?;
    let sc = &mut v.scores;
    let out = &mut sc.log_w[..cfg.batch];
    sum_weights(env.max_steps(), &v.batch, sc.lpf, sc.lpb, out);
    Ok(())
}

/// `log R + Σ (log P_B − log P_F)` of each trajectory (in `f64`) into `out`.
fn sum_weights(tt: usize, batch: &Batch<'_>, lpf: &[f32], lpb: &[f32], out: &mut [f32]) {
    for (b, (o, &n)) in out.iter_mut().zip(batch.lens.iter()).enumerate() {
        let mut w = batch.log_r[b] as f64;
        for t in 0..n as usize {
            w += lpb[b * tt + t] as f64 - lpf[b * tt + t] as f64;
        }
        *o = w as f32;
    }
}

/// Loss and gradient of the batch, with an optional per-trajectory reward override
/// `log_r` (the teacher's `log R_T`; it replaces the batch's `log R`) and optional
/// per-trajectory TB residuals out (`deltas`, `B` values, [`loss::tb`]'s `δ`, filled
/// whatever the loss). Zeroes the gradient, then accumulates `∂(mean loss)/∂θ` and
/// `∂/∂log Z`. The views must match `(env, cfg)` (the callers check).
///
/// # Errors
/// Shape errors for `log_r`/`deltas` not `B` long; loss and network errors.
pub(crate) fn loss_and_grad<E: DiscreteEnv + ?Sized>(
    env: &E,
    cfg: &Config,
    v: &mut Views<'_>,
    log_r: Option<&[f32]>,
    mut deltas: Option<&mut [f32]>,
) -> Result<f32, Error> {
    let (bn, tt) = (cfg.batch, env.max_steps());
    if let Some(l) = log_r {
        check_len("reward override", bn, l.len())?;
        v.batch.log_r.copy_from_slice(l);
    }
    if let Some(d) = deltas.as_deref() {
        check_len("deltas", bn, d.len())?;
    }
    let rows = score(env, cfg, v)?;
    let (na, nb, ow) = (env.n_actions(), env.n_back_actions(), v.lay.out_width);
    let np = v.lay.n_params;
    v.model.zero_grads();
    v.net.dout[..rows * ow].fill(0.0);
    let inv_b = 1.0 / bn as f32;
    let mut total = 0.0f64;
    let mut mask = [false; MAX_ACTIONS];
    let mut logp = [0.0f32; MAX_ACTIONS];
    let mut up = [0.0f32; MAX_ACTIONS];
    let (batch, sc) = (&v.batch, &mut v.scores);
    let (out, dout) = (&*v.net.out, &mut *v.net.dout);
    let mut row = 0;
    for b in 0..bn {
        let n = batch.lens[b] as usize;
        let lpf = &sc.lpf[b * tt..b * tt + n];
        let lpb = &sc.lpb[b * tt..b * tt + n];
        let lf = &sc.lf[b * (tt + 1)..b * (tt + 1) + n + 1];
        let (g, rest) = sc.grad.split_at_mut(tt + 1);
        let (gb, rest) = rest.split_at_mut(tt + 1);
        let (gf, pre_all) = rest.split_at_mut(tt + 1);
        let path = Path { lpf, lpb, lf };
        let mut grads = PathGrads {
            lpf: &mut g[..n],
            lpb: &mut gb[..n],
            lf: &mut gf[..n + 1],
        };
        let (_, delta) = loss::tb(&path, &mut grads)?;
        if let Some(d) = deltas.as_deref_mut() {
            d[b] = delta;
        }
        let l = match cfg.loss {
            LossKind::Tb => delta * delta,
            LossKind::Db => loss::db(&path, &mut grads)?,
            LossKind::SubTb => {
                let pre = &mut pre_all[..n + 1];
                loss::subtb(cfg.subtb_lambda, &path, &mut grads, pre)?
            }
            LossKind::TbSubTb => {
                let (lambda, w) = (cfg.subtb_lambda, cfg.subtb_weight);
                let pre = &mut pre_all[..n + 1];
                loss::tb_subtb(lambda, w, &path, &mut grads, pre)?.0
            }
        };
        total += l as f64;
        let (glpf, glpb, glf) = (&*grads.lpf, &*grads.lpb, &*grads.lf);
        // back-propagate into the outputs of each row
        for t in 0..n {
            let r = row + t;
            env.forward_mask(batch.state(b, t), &mut mask[..na]);
            masked_log_softmax(&out[r * ow..r * ow + na], &mask[..na], &mut logp[..na])?;
            up[..na].fill(0.0);
            up[(batch.actions[b * tt + t] as usize).min(na - 1)] = glpf[t] * inv_b;
            masked_log_softmax_backward(
                &logp[..na],
                &mask[..na],
                &up[..na],
                &mut dout[r * ow..r * ow + na],
            )?;
            if t > 0 {
                dout[r * ow + na + nb] += glf[t] * inv_b;
            }
            if cfg.learn_pb && t + 1 < n {
                env.backward_mask(batch.state(b, t + 1), &mut mask[..nb]);
                let lo = (r + 1) * ow + na;
                masked_log_softmax(&out[lo..lo + nb], &mask[..nb], &mut logp[..nb])?;
                up[..nb].fill(0.0);
                up[(batch.back[b * tt + t] as usize).min(nb - 1)] = glpb[t] * inv_b;
                masked_log_softmax_backward(
                    &logp[..nb],
                    &mask[..nb],
                    &up[..nb],
                    &mut dout[lo..lo + nb],
                )?;
            }
        }
        v.model.grads[np - 1] += glf[0] * inv_b;
        row += n;
    }
    backward(v, rows)?;
    Ok((total / bn as f64) as f32)
}

/// Back-propagates the output gradients of the first `rows` rows into the parameter
/// gradients: the flow column into the flow network (if separate), the rest into the
/// policy network.
fn backward(v: &mut Views<'_>, rows: usize) -> Result<(), Error> {
    let lay = &v.lay;
    let (npp, np, ow) = (lay.policy_params, lay.n_params, lay.out_width);
    let (p, grads) = (&*v.model.params, &mut *v.model.grads);
    let net = &mut v.net;
    if let Some(fm) = lay.flow {
        // the flow column goes to the flow network, not to the policy's last layer
        let fd = &mut net.flow_dout[..rows];
        for (d, row) in fd.iter_mut().zip(net.dout.chunks_exact_mut(ow)) {
            *d = row[ow - 1];
            row[ow - 1] = 0.0;
        }
        fm.backward(
            &p[npp..np - 1],
            Tape {
                cache: &net.flow_cache[..fm.cache_len(rows)],
                batch: rows,
            },
            fd,
            Grads {
                params: &mut grads[npp..np - 1],
                input: None,
            },
            net.scratch,
        )?;
    }
    lay.mlp.backward(
        &p[..npp],
        Tape {
            cache: net.cache,
            batch: rows,
        },
        &net.dout[..rows * ow],
        Grads {
            params: &mut grads[..npp],
            input: None,
        },
        net.scratch,
    )
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::train::{init, sample_forward};
    use super::*;
    use crate::rng::seeded;
    use crate::samplers::gflownet::grid::{GridReward, Hypergrid};
    use std::vec;

    fn gradcheck_with_flow(loss: LossKind, learn_pb: bool, flow_hidden: usize) {
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let cfg = Config {
            loss,
            learn_pb,
            batch: 3,
            hidden: 8,
            flow_hidden,
            ..Config::default()
        };
        let lay = Layout::new(&env, &cfg).unwrap();
        let (mut fa, mut ua) = (vec![0.0; lay.f32_len], vec![0; lay.u32_len]);
        let mut rng = seeded(7);
        init(&env, &cfg, &mut fa, &mut ua, &mut rng).unwrap();
        let mut v = Views::new(&lay, &mut fa, &mut ua).unwrap();
        // non-zero last layer so every head matters
        let np = v.params().len();
        for (i, p) in v.params_mut().iter_mut().enumerate() {
            *p += 0.05 * ((i * 7919 % 13) as f32 / 13.0 - 0.5);
        }
        v.params_mut()[np - 1] = 0.3;
        sample_forward(&env, &cfg, &mut v, 0.2, &mut rng).unwrap();
        loss_and_grad(&env, &cfg, &mut v, None, None).unwrap();
        let g: std::vec::Vec<f32> = v.gradient().to_vec();
        let h = 1e-2f32;
        let mut checked = 0;
        for i in (0..np).step_by(np / 40 + 1).chain([np - 1, np - 2, np - 3]) {
            let p0 = v.params()[i];
            v.params_mut()[i] = p0 + h;
            let lp = loss_and_grad(&env, &cfg, &mut v, None, None).unwrap() as f64;
            v.params_mut()[i] = p0 - h;
            let lm = loss_and_grad(&env, &cfg, &mut v, None, None).unwrap() as f64;
            v.params_mut()[i] = p0;
            let fd = (lp - lm) / (2.0 * h as f64);
            assert!(
                (fd - g[i] as f64).abs() < 1e-2 * (1.0 + fd.abs()),
                "{loss:?} pb={learn_pb} param {i}: fd {fd} vs {}",
                g[i]
            );
            checked += 1;
        }
        assert!(checked > 10);
    }

    #[test]
    fn tb_gradcheck_through_network() {
        gradcheck_with_flow(LossKind::Tb, false, 0);
        gradcheck_with_flow(LossKind::Tb, true, 0);
    }
    #[test]
    fn db_gradcheck_through_network() {
        gradcheck_with_flow(LossKind::Db, true, 0);
    }
    #[test]
    fn subtb_gradcheck_through_network() {
        gradcheck_with_flow(LossKind::SubTb, false, 0);
    }
    #[test]
    fn separate_flow_network_gradcheck() {
        // SubTB and DB are plain losses: the whole gradient (policy, flow network, log Z)
        // is checked by finite differences.
        gradcheck_with_flow(LossKind::SubTb, false, 6);
        gradcheck_with_flow(LossKind::Db, true, 6);
        let env = Hypergrid::new(2, 4, GridReward::Standard).unwrap();
        let l = Layout::new(
            &env,
            &Config {
                flow_hidden: 6,
                ..Config::default()
            },
        )
        .unwrap();
        assert!(l.flow.is_some() && l.n_params > l.policy_params + 1);
    }
}
