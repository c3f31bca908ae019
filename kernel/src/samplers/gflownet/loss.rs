//! Trajectory balance (TB), detailed balance (DB) and sub-trajectory balance (SubTB) on one
//! scored trajectory, with hand-written gradients.
//!
//! A trajectory `s₀ → s₁ → … → s_n = x` (the last transition is stop) is scored as
//! `lpf[t] = log P_F(s_{t+1}|s_t)`, `lpb[t] = log P_B(s_t|s_{t+1})` for `t < n`, and the log
//! flows `lf[t] = log F(s_t)` for `t ≤ n`, with the boundary conventions
//! `lf[0] = log Z` (the learnt scalar) and `lf[n] = log R(x)` (fixed). Each loss returns its
//! value and **overwrites** `glpf`, `glpb` (length `n`) and `glf` (length `n + 1`; `glf[0]`
//! is `∂L/∂log Z`, `glf[n]` is left `0`).
//!
//! - **TB** (Malkin et al. 2022, eq. 14): `δ = lf[0] + Σ lpf − Σ lpb − lf[n]`, `L = δ²`.
//!   The adaptive-teacher code's residual is `−δ` (teachers A1.1: its `δ > 0` means the
//!   student under-samples `x`); [`tb`] returns our `δ`.
//! - **DB** (Bengio et al. 2023, "GFlowNet foundations", eq. 44; teachers A1.1 DB variant):
//!   `d_t = lf[t] + lpf[t] − lf[t+1] − lpb[t]`, `L = (1/n) Σ_t d_t²`.
//! - **SubTB(λ)** (Madan et al. 2023, eq. 8): for every pair `i < j`,
//!   `d_ij = lf[i] + Σ_{t=i}^{j−1} (lpf[t] − lpb[t]) − lf[j]`,
//!   `L = Σ_{i<j} λ^{j−i} d_ij² / Σ_{i<j} λ^{j−i}`.
//! - **TB + SubTB** (RSMC, Choi et al. 2025; `rsmc.md` §1.3 "gradient routing"):
//!   `L = δ² + w·L_SubTB(λ)` where the policy terms (`lpf`, `lpb`) and `log Z` receive only the
//!   TB gradient and the intermediate flows `lf[1..n]` only the SubTB gradient (policy terms
//!   and `log Z` are stop-gradient inside SubTB). This is a stop-gradient objective, so its
//!   "gradient" is checked part by part against the two losses it routes.

use crate::error::{Error, check_len};

/// One trajectory of `n` transitions: `log P_F` and `log P_B` of each transition (`n`
/// values each) and the log flows of its `n + 1` states (`lf[n] = log R(x)`).
#[derive(Clone, Copy, Debug)]
pub struct Path<'a> {
    /// `log P_F(s_{t+1} | s_t)`, `t < n`.
    pub lpf: &'a [f32],
    /// `log P_B(s_t | s_{t+1})`, `t < n`.
    pub lpb: &'a [f32],
    /// `log F(s_t)`, `t ≤ n` (`log F(s_0) = log Z`, `log F(s_n) = log R`).
    pub lf: &'a [f32],
}

/// The gradients of a loss with respect to a [`Path`]'s values (written, not accumulated).
#[derive(Debug)]
pub struct PathGrads<'a> {
    /// `∂L/∂log P_F` (`n`).
    pub lpf: &'a mut [f32],
    /// `∂L/∂log P_B` (`n`).
    pub lpb: &'a mut [f32],
    /// `∂L/∂log F` (`n + 1`).
    pub lf: &'a mut [f32],
}

fn check(p: &Path<'_>, g: &PathGrads<'_>) -> Result<usize, Error> {
    let Path { lpf, lpb, lf } = *p;
    let (glpf, glpb, glf) = (&*g.lpf, &*g.lpb, &*g.lf);
    let n = lpf.len();
    if n == 0 {
        return Err(Error::Degenerate("trajectory has no transition"));
    }
    check_len("lpb", n, lpb.len())?;
    check_len("lf", n + 1, lf.len())?;
    check_len("glpf", n, glpf.len())?;
    check_len("glpb", n, glpb.len())?;
    check_len("glf", n + 1, glf.len())?;
    Ok(n)
}

fn finite(loss: f64, what: &'static str) -> Result<f32, Error> {
    if loss.is_finite() {
        Ok(loss as f32)
    } else {
        Err(Error::NonFinite(what))
    }
}

/// TB loss `δ²`; returns `(loss, δ)`. See the [module docs](self).
///
/// # Errors
/// [`Error::ShapeMismatch`] for inconsistent lengths; [`Error::Degenerate`] for `n = 0`;
/// [`Error::NonFinite`] if the residual is not finite.
pub fn tb(p: &Path<'_>, g: &mut PathGrads<'_>) -> Result<(f32, f32), Error> {
    let n = check(p, g)?;
    let Path { lpf, lpb, lf } = *p;
    let (glpf, glpb, glf) = (&mut *g.lpf, &mut *g.lpb, &mut *g.lf);
    let mut d = lf[0] as f64 - lf[n] as f64;
    for t in 0..n {
        d += lpf[t] as f64 - lpb[t] as f64;
    }
    let loss = finite(d * d, "trajectory-balance residual")?;
    let g = (2.0 * d) as f32;
    glpf.fill(g);
    glpb.fill(-g);
    glf.fill(0.0);
    glf[0] = g;
    Ok((loss, d as f32))
}

/// DB loss `(1/n) Σ d_t²`. See the [module docs](self).
///
/// # Errors
/// As [`tb`].
pub fn db(p: &Path<'_>, g: &mut PathGrads<'_>) -> Result<f32, Error> {
    let n = check(p, g)?;
    let Path { lpf, lpb, lf } = *p;
    let (glpf, glpb, glf) = (&mut *g.lpf, &mut *g.lpb, &mut *g.lf);
    glf.fill(0.0);
    let inv = 1.0 / n as f64;
    let mut loss = 0.0f64;
    for t in 0..n {
        let d = lf[t] as f64 + lpf[t] as f64 - lf[t + 1] as f64 - lpb[t] as f64;
        loss += d * d * inv;
        let g = (2.0 * d * inv) as f32;
        glpf[t] = g;
        glpb[t] = -g;
        glf[t] += g;
        glf[t + 1] -= g;
    }
    glf[n] = 0.0;
    finite(loss, "detailed-balance residual")
}

/// SubTB(λ) loss. See the [module docs](self). `O(n²)` time; `prefix` is scratch of length
/// `n + 1` (reused for the prefix sums of `lpf − lpb` and then for the gradient's difference
/// array).
///
/// # Errors
/// As [`tb`]; [`Error::InvalidConfig`] unless `λ > 0` is finite;
/// [`Error::ShapeMismatch`] if `prefix.len() != n + 1`.
pub fn subtb(
    lambda: f32,
    p: &Path<'_>,
    g: &mut PathGrads<'_>,
    prefix: &mut [f32],
) -> Result<f32, Error> {
    let n = check(p, g)?;
    let Path { lpf, lpb, lf } = *p;
    let (glpf, glpb, glf) = (&mut *g.lpf, &mut *g.lpb, &mut *g.lf);
    check_len("subtb prefix", n + 1, prefix.len())?;
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(Error::InvalidConfig("SubTB lambda must be finite and > 0"));
    }
    let lam = lambda as f64;
    prefix[0] = 0.0;
    for t in 0..n {
        prefix[t + 1] = prefix[t] + (lpf[t] - lpb[t]);
    }
    let mut norm = 0.0f64;
    for i in 0..n {
        let mut w = 1.0f64;
        for _ in i + 1..=n {
            w *= lam;
            norm += w;
        }
    }
    glf.fill(0.0);
    let mut loss = 0.0f64;
    // diff[k] for k ≤ n: gradient coefficient of (lpf − lpb) at t is Σ_{k ≤ t} diff[k];
    // written into glpf first, as glpf is free until the end.
    glpf.fill(0.0);
    for i in 0..n {
        let mut w = 1.0f64;
        for j in i + 1..=n {
            w *= lam;
            let d = lf[i] as f64 + prefix[j] as f64 - prefix[i] as f64 - lf[j] as f64;
            loss += w * d * d / norm;
            let g = 2.0 * w * d / norm;
            glf[i] += g as f32;
            glf[j] -= g as f32;
            glpf[i] += g as f32;
            if j < n {
                glpf[j] -= g as f32;
            }
        }
    }
    let mut run = 0.0f32;
    for t in 0..n {
        run += glpf[t];
        glpf[t] = run;
        glpb[t] = -run;
    }
    glf[n] = 0.0;
    finite(loss, "sub-trajectory-balance residual")
}

/// TB + SubTB(λ) with RSMC's gradient routing (see the [module docs](self)): returns
/// `(δ² + w·L_SubTB, δ)`; `glpf`, `glpb` and `glf[0]` are TB's, `glf[1..n]` are `w` times
/// SubTB's. `prefix` is scratch of length `n + 1`.
///
/// # Errors
/// As [`subtb`]; [`Error::InvalidConfig`] unless `w ≥ 0` is finite.
pub fn tb_subtb(
    lambda: f32,
    weight: f32,
    p: &Path<'_>,
    g: &mut PathGrads<'_>,
    prefix: &mut [f32],
) -> Result<(f32, f32), Error> {
    if !(weight.is_finite() && weight >= 0.0) {
        return Err(Error::InvalidConfig("SubTB weight must be finite and >= 0"));
    }
    let sub = subtb(lambda, p, g, prefix)?;
    // keep SubTB's flow gradient, then let TB overwrite the policy and log Z parts
    prefix.copy_from_slice(g.lf);
    let (t, d) = tb(p, g)?;
    let n = p.lpf.len();
    for (g, &s) in g.lf[1..n].iter_mut().zip(&prefix[1..n]) {
        *g = weight * s;
    }
    let loss = finite(t as f64 + weight as f64 * sub as f64, "TB + SubTB loss")?;
    Ok((loss, d))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// One path's `(log p_F, log p_B, log F)`.
    type Logs<'x> = (&'x [f32], &'x [f32], &'x [f32]);

    /// Gradient buffers (`a`, `b`, `c` for `log p_F`, `log p_B`, `log F`) and the prefix
    /// scratch `p` of paths of `n` transitions, and the four losses over them.
    struct Run {
        a: Vec<f32>,
        b: Vec<f32>,
        c: Vec<f32>,
        p: Vec<f32>,
    }

    impl Run {
        fn new(n: usize) -> Self {
            Run {
                a: vec![0.0; n],
                b: vec![0.0; n],
                c: vec![0.0; n + 1],
                p: vec![0.0; n + 1],
            }
        }

        fn split<'r>(&'r mut self, x: Logs<'r>) -> (Path<'r>, PathGrads<'r>, &'r mut [f32]) {
            let (lpf, lpb, lf) = x;
            let g = PathGrads {
                lpf: &mut self.a,
                lpb: &mut self.b,
                lf: &mut self.c,
            };
            (Path { lpf, lpb, lf }, g, &mut self.p)
        }

        fn tb(&mut self, x: Logs<'_>) -> Result<(f32, f32), Error> {
            let (path, mut g, _) = self.split(x);
            tb(&path, &mut g)
        }

        fn db(&mut self, x: Logs<'_>) -> Result<f32, Error> {
            let (path, mut g, _) = self.split(x);
            db(&path, &mut g)
        }

        fn subtb(&mut self, lambda: f32, x: Logs<'_>) -> Result<f32, Error> {
            let (path, mut g, p) = self.split(x);
            subtb(lambda, &path, &mut g, p)
        }

        fn tb_subtb(&mut self, weight: f32, x: Logs<'_>) -> Result<(f32, f32), Error> {
            let (path, mut g, p) = self.split(x);
            tb_subtb(0.9, weight, &path, &mut g, p)
        }
    }

    /// Central differences of `loss` against the gradients it writes into its [`Run`].
    fn gradcheck(loss: fn(&mut Run, Logs<'_>) -> f32) {
        let n = 5;
        let lpf: Vec<f32> = (0..n).map(|t| -0.3 - 0.2 * t as f32).collect();
        let lpb: Vec<f32> = (0..n).map(|t| -0.7 + 0.1 * t as f32).collect();
        let lf: Vec<f32> = (0..=n)
            .map(|t| 1.5 - 0.4 * t as f32 + 0.05 * (t * t) as f32)
            .collect();
        let mut run = Run::new(n);
        loss(&mut run, (&lpf, &lpb, &lf));
        let eval = |x: Logs<'_>| -> f64 { loss(&mut Run::new(n), x) as f64 };
        let h = 1e-2f32;
        let close = |fd: f64, g: f32, what: &str| {
            assert!(
                (fd - g as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                "{what}: fd {fd} vs analytic {g}"
            );
        };
        for t in 0..n {
            let (mut p, mut m) = (lpf.clone(), lpf.clone());
            p[t] += h;
            m[t] -= h;
            let fd = (eval((&p, &lpb, &lf)) - eval((&m, &lpb, &lf))) / (2.0 * h as f64);
            close(fd, run.a[t], "lpf");
            let (mut p, mut m) = (lpb.clone(), lpb.clone());
            p[t] += h;
            m[t] -= h;
            let fd = (eval((&lpf, &p, &lf)) - eval((&lpf, &m, &lf))) / (2.0 * h as f64);
            close(fd, run.b[t], "lpb");
        }
        for t in 0..n {
            // lf[n] = log R is fixed: its gradient is reported as 0.
            let (mut p, mut m) = (lf.clone(), lf.clone());
            p[t] += h;
            m[t] -= h;
            let fd = (eval((&lpf, &lpb, &p)) - eval((&lpf, &lpb, &m))) / (2.0 * h as f64);
            close(fd, run.c[t], "lf");
        }
        assert_eq!(run.c[n], 0.0);
    }

    #[test]
    fn tb_gradcheck() {
        gradcheck(|r, x| r.tb(x).unwrap().0);
    }
    #[test]
    fn db_gradcheck() {
        gradcheck(|r, x| r.db(x).unwrap());
    }
    #[test]
    fn subtb_gradcheck() {
        gradcheck(|r, x| r.subtb(0.9, x).unwrap());
    }

    #[test]
    fn tb_subtb_routes_each_gradient_to_its_loss() {
        // policy terms and log Z: TB's gradient; intermediate flows: w × SubTB's gradient.
        let n = 4;
        let lpf = [-0.3f32, -0.9, -0.2, -1.1];
        let lpb = [-0.7f32, 0.0, -0.4, -0.1];
        let lf = [0.5f32, 1.2, -0.3, 0.8, 2.0];
        let w = 0.7f32;
        let mut run = Run::new(n);
        let (l, d) = run.tb_subtb(w, (&lpf, &lpb, &lf)).unwrap();
        let tbl = |x: Logs<'_>| -> f64 { Run::new(n).tb(x).unwrap().0 as f64 };
        let sub = |lf: &[f32]| -> f64 {
            w as f64 * Run::new(n).subtb(0.9, (&lpf, &lpb, lf)).unwrap() as f64
        };
        let tb0 = tbl((&lpf, &lpb, &lf));
        assert!((l as f64 - tb0 - sub(&lf)).abs() < 1e-5);
        assert!((d * d - tb0 as f32).abs() < 1e-5);
        let h = 1e-2f32;
        let close = |fd: f64, g: f32, what: &str| {
            assert!(
                (fd - g as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                "{what}: fd {fd} vs {g}"
            );
        };
        for t in 0..n {
            let (mut pp, mut mm) = (lpf, lpf);
            pp[t] += h;
            mm[t] -= h;
            let fd = (tbl((&pp, &lpb, &lf)) - tbl((&mm, &lpb, &lf))) / (2.0 * h as f64);
            close(fd, run.a[t], "lpf");
            let (mut pp, mut mm) = (lpb, lpb);
            pp[t] += h;
            mm[t] -= h;
            let fd = (tbl((&lpf, &pp, &lf)) - tbl((&lpf, &mm, &lf))) / (2.0 * h as f64);
            close(fd, run.b[t], "lpb");
        }
        let (mut pp, mut mm) = (lf, lf);
        pp[0] += h;
        mm[0] -= h;
        let fd = (tbl((&lpf, &lpb, &pp)) - tbl((&lpf, &lpb, &mm))) / (2.0 * h as f64);
        close(fd, run.c[0], "log Z");
        for t in 1..n {
            let (mut pp, mut mm) = (lf, lf);
            pp[t] += h;
            mm[t] -= h;
            close((sub(&pp) - sub(&mm)) / (2.0 * h as f64), run.c[t], "flow");
        }
        assert_eq!(run.c[n], 0.0);
        assert!(run.tb_subtb(-1.0, (&lpf, &lpb, &lf)).is_err());
    }

    #[test]
    fn known_values_and_consistency() {
        // A balanced trajectory has zero loss for all three.
        let lpf = [-1.0f32, -0.5];
        let lpb = [0.0f32, -0.25];
        // choose flows so that every DB residual is zero: lf[t+1] = lf[t] + lpf − lpb
        let lf = [2.0f32, 1.0, 0.75];
        let mut run = Run::new(2);
        assert_eq!(run.tb((&lpf, &lpb, &lf)).unwrap().0, 0.0);
        assert_eq!(run.db((&lpf, &lpb, &lf)).unwrap(), 0.0);
        assert!(run.subtb(0.9, (&lpf, &lpb, &lf)).unwrap() < 1e-12);
        // TB: δ = 2 − 1.5 + 0.25 − 0 = 0.75 with log R = 0
        let lf = [2.0f32, 7.0, 0.0];
        let (l, d) = run.tb((&lpf, &lpb, &lf)).unwrap();
        assert!((d - 0.75).abs() < 1e-6 && (l - 0.5625).abs() < 1e-6);
        // SubTB with one transition equals DB equals TB
        let (lpf, lpb, lf) = ([-0.3f32], [0.0f32], [0.4f32, -0.2]);
        let mut run = Run::new(1);
        let t = run.tb((&lpf, &lpb, &lf)).unwrap().0;
        let s = run.subtb(0.5, (&lpf, &lpb, &lf)).unwrap();
        assert!((t - s).abs() < 1e-7);
        assert!(run.subtb(0.0, (&lpf, &lpb, &lf)).is_err());
        assert!(Run::new(0).tb((&[], &[], &[0.0])).is_err());
    }
}
