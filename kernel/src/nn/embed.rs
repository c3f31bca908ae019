//! The Fourier time embedding of the PIS policy network (Zhang & Chen 2022, PIS; used by
//! gfn-diffusion's `TimeEncodingPIS` and by RSMC's `PISGRADNet`).
//!
//! With `H` harmonics, fixed frequencies `w = linspace(0.1, 100, H)` and a learnt phase
//! `φ ∈ ℝ^H` (the layer's only parameters), a scalar time `t` maps to `2H` features
//!
//! ```text
//! aⱼ = t·wⱼ + φⱼ,      e(t) = [ sin a₀, …, sin a_{H−1} | cos a₀, …, cos a_{H−1} ]
//! ```
//!
//! (sines first, as `torch.cat([a.sin(), a.cos()], -1)`). Derivatives, given
//! `g = ∂L/∂e = [gˢ | gᶜ]`:
//!
//! ```text
//! ∂L/∂φⱼ = gˢⱼ cos aⱼ − gᶜⱼ sin aⱼ,        ∂L/∂t = Σⱼ wⱼ (gˢⱼ cos aⱼ − gᶜⱼ sin aⱼ)
//! ```
//!
//! The backward pass reads `sin aⱼ` and `cos aⱼ` back from the forward output, so it needs no
//! transcendental function and no cache beyond `e(t)` itself.
//!
//! The frequencies follow the formula of PyTorch's CPU `linspace` kernel in `f32`: with
//! `s = (100 − 0.1)/(H − 1)`, `wⱼ = 0.1 + s·j` for `j < H/2` and `wⱼ = 100 − s·(H − 1 − j)`
//! otherwise (`w₀ = 0.1` when `H = 1`).

use crate::error::{Error, check_len};
use crate::math;
use crate::rng::{Rng, standard_normal};

/// Default number of harmonics `H` (the reference PIS network uses 64, giving 128 features).
pub const DEFAULT_HARMONICS: usize = 64;

const W_START: f32 = 0.1;
const W_END: f32 = 100.0;

/// Shape of a Fourier time embedding with `H` harmonics: `H` phase parameters, `2H` outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourierEmbedding {
    harmonics: usize,
}

impl Default for FourierEmbedding {
    /// [`DEFAULT_HARMONICS`] harmonics.
    fn default() -> Self {
        Self {
            harmonics: DEFAULT_HARMONICS,
        }
    }
}

impl FourierEmbedding {
    /// An embedding with `harmonics` frequencies.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `harmonics == 0`.
    pub const fn new(harmonics: usize) -> Result<Self, Error> {
        if harmonics == 0 {
            return Err(Error::InvalidConfig(
                "Fourier embedding needs at least one harmonic",
            ));
        }
        Ok(Self { harmonics })
    }

    /// Number of harmonics `H`.
    #[inline]
    pub const fn harmonics(&self) -> usize {
        self.harmonics
    }

    /// Number of parameters (the phases), `H`.
    #[inline]
    pub const fn param_count(&self) -> usize {
        self.harmonics
    }

    /// Output width, `2H`.
    #[inline]
    pub const fn out_len(&self) -> usize {
        self.harmonics.saturating_mul(2)
    }

    /// Frequency `wⱼ` of `linspace(0.1, 100, H)`, computed as `torch.linspace` does in `f32`
    /// (see the [module docs](self)); an index `j ≥ H` extrapolates the same grid.
    #[inline]
    pub fn frequency(&self, j: usize) -> f32 {
        let h = self.harmonics;
        if h <= 1 {
            return W_START;
        }
        let step = (W_END - W_START) / (h - 1) as f32;
        if j < h / 2 {
            W_START + step * j as f32
        } else if j < h {
            W_END - step * (h - 1 - j) as f32
        } else {
            W_END + step * (j - (h - 1)) as f32
        }
    }

    /// Sets every phase to zero (RSMC's `PISGRADNet` initialisation).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != H`.
    pub fn init_zero(&self, params: &mut [f32]) -> Result<(), Error> {
        check_len("embedding params", self.harmonics, params.len())?;
        params.fill(0.0);
        Ok(())
    }

    /// Draws every phase from `N(0, 1)` in index order, one [`standard_normal`] each
    /// (the PyTorch reference's `torch.randn` initialisation, with this crate's generator).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != H`.
    pub fn init_normal<R: Rng + ?Sized>(
        &self,
        params: &mut [f32],
        rng: &mut R,
    ) -> Result<(), Error> {
        check_len("embedding params", self.harmonics, params.len())?;
        for p in params.iter_mut() {
            *p = standard_normal(rng) as f32;
        }
        Ok(())
    }

    /// Forward for one time `t`: `out = e(t)`, `2H` values (overwritten).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != H` or `out.len() != 2H`.
    pub fn forward(&self, params: &[f32], t: f32, out: &mut [f32]) -> Result<(), Error> {
        check_len("embedding params", self.harmonics, params.len())?;
        check_len("embedding out", self.out_len(), out.len())?;
        self.forward_raw(params, t, out);
        Ok(())
    }

    /// Forward for a batch of times: row `b` of `out` (`2H` values) is `e(t[b])`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `params.len() != H` or `out.len() != t.len()·2H`.
    pub fn forward_batch(&self, params: &[f32], t: &[f32], out: &mut [f32]) -> Result<(), Error> {
        check_len("embedding params", self.harmonics, params.len())?;
        check_len(
            "embedding out",
            t.len().saturating_mul(self.out_len()),
            out.len(),
        )?;
        for (&tb, row) in t.iter().zip(out.chunks_exact_mut(self.out_len())) {
            self.forward_raw(params, tb, row);
        }
        Ok(())
    }

    fn forward_raw(&self, params: &[f32], t: f32, out: &mut [f32]) {
        let (sin_part, cos_part) = out.split_at_mut(self.harmonics);
        for (j, ((s, c), &phi)) in sin_part.iter_mut().zip(cos_part).zip(params).enumerate() {
            let a = t * self.frequency(j) + phi;
            *s = math::sin(a);
            *c = math::cos(a);
        }
    }

    /// Backward for one time, given the forward output `out = e(t)` and `dout = ∂L/∂e`:
    /// **accumulates** `grads[j] += ∂L/∂φⱼ` and returns `∂L/∂t`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `out` or `dout` is not `2H` long or `grads` not `H`.
    pub fn backward(&self, out: &[f32], dout: &[f32], grads: &mut [f32]) -> Result<f32, Error> {
        check_len("embedding out", self.out_len(), out.len())?;
        check_len("embedding dout", self.out_len(), dout.len())?;
        check_len("embedding grads", self.harmonics, grads.len())?;
        Ok(self.backward_raw(out, dout, grads))
    }

    /// Backward for a batch of times (rows of `2H` in `out` and `dout`, one per time):
    /// **accumulates** the phase gradient summed over the batch into `grads`, and, if `dt` is
    /// given, **writes** `dt[b] = ∂L/∂t[b]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `out` or `dout` is not `batch·2H` long, `grads` not `H`,
    /// or `dt` not `batch`.
    pub fn backward_batch(
        &self,
        out: &[f32],
        dout: &[f32],
        batch: usize,
        grads: &mut [f32],
        dt: Option<&mut [f32]>,
    ) -> Result<(), Error> {
        let n = batch.saturating_mul(self.out_len());
        check_len("embedding out", n, out.len())?;
        check_len("embedding dout", n, dout.len())?;
        check_len("embedding grads", self.harmonics, grads.len())?;
        let rows = out
            .chunks_exact(self.out_len())
            .zip(dout.chunks_exact(self.out_len()));
        match dt {
            Some(dt) => {
                check_len("embedding dt", batch, dt.len())?;
                for ((o, d), dtb) in rows.zip(dt.iter_mut()) {
                    *dtb = self.backward_raw(o, d, grads);
                }
            }
            None => {
                for (o, d) in rows {
                    self.backward_raw(o, d, grads);
                }
            }
        }
        Ok(())
    }

    fn backward_raw(&self, out: &[f32], dout: &[f32], grads: &mut [f32]) -> f32 {
        let h = self.harmonics;
        let (sin_a, cos_a) = out.split_at(h);
        let (gs, gc) = dout.split_at(h);
        let mut dt = 0.0f32;
        for (j, (((g, &s), &c), (&ds, &dc))) in grads
            .iter_mut()
            .zip(sin_a)
            .zip(cos_a)
            .zip(gs.iter().zip(gc))
            .enumerate()
        {
            let da = ds * c - dc * s;
            *g += da;
            dt += self.frequency(j) * da;
        }
        dt
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::testutil::randn;
    use crate::rng::seeded;
    use std::vec;

    #[test]
    fn frequencies_are_torch_linspace() {
        let e = FourierEmbedding::default();
        assert_eq!(e.harmonics(), 64);
        assert_eq!(e.out_len(), 128);
        assert_eq!(e.frequency(0), 0.1);
        assert_eq!(e.frequency(63), 100.0);
        // symmetric construction: both halves step from their own end point
        let step32 = (100.0f32 - 0.1) / 63.0;
        assert_eq!(e.frequency(1), 0.1 + step32);
        assert_eq!(e.frequency(62), 100.0 - step32);
        assert_eq!(e.frequency(64), 100.0 + step32);
        let step = (100.0f64 - 0.1) / 63.0;
        for j in 0..64 {
            assert!((e.frequency(j) as f64 - (0.1 + step * j as f64)).abs() < 1e-5);
        }
        assert_eq!(FourierEmbedding::new(1).unwrap().frequency(0), 0.1);
        assert!(matches!(
            FourierEmbedding::new(0),
            Err(Error::InvalidConfig(_))
        ));
    }

    #[test]
    fn forward_values_and_init() {
        let e = FourierEmbedding::new(3).unwrap();
        let mut p = [9.0f32; 3];
        e.init_zero(&mut p).unwrap();
        assert_eq!(p, [0.0; 3]);
        let mut out = [0.0; 6];
        e.forward(&p, 0.0, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let p = [0.5f32, -0.25, 1.0];
        e.forward(&p, 0.3, &mut out).unwrap();
        for j in 0..3 {
            let a = 0.3f64 * e.frequency(j) as f64 + p[j] as f64;
            assert!((out[j] as f64 - a.sin()).abs() < 1e-5);
            assert!((out[3 + j] as f64 - a.cos()).abs() < 1e-5);
        }
        let mut a = [0.0f32; 3];
        let mut b = [0.0f32; 3];
        e.init_normal(&mut a, &mut seeded(7)).unwrap();
        e.init_normal(&mut b, &mut seeded(7)).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|v| *v != 0.0));
    }

    fn loss(e: &FourierEmbedding, p: &[f32], t: &[f32], c: &[f32]) -> f64 {
        let mut out = vec![0.0; t.len() * e.out_len()];
        e.forward_batch(p, t, &mut out).unwrap();
        out.iter().zip(c).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    fn assert_close(num: f64, ana: f64, what: &str) {
        let tol = 1e-2 * num.abs().max(ana.abs()) + 1e-2;
        assert!(
            (num - ana).abs() <= tol,
            "{what}: numeric {num}, analytic {ana}"
        );
    }

    #[test]
    fn gradcheck_phase_and_time() {
        let e = FourierEmbedding::new(5).unwrap();
        let batch = 3;
        let p = randn(5, 1);
        // small frequencies are fine; the high ones need a small step in t
        let t = [0.013f32, 0.41, 0.87];
        let c = randn(batch * e.out_len(), 2);
        let mut out = vec![0.0; batch * e.out_len()];
        e.forward_batch(&p, &t, &mut out).unwrap();
        let mut g = vec![0.5f32; 5];
        let mut dt = vec![f32::NAN; batch];
        e.backward_batch(&out, &c, batch, &mut g, Some(&mut dt))
            .unwrap();
        let h = 1e-2f32;
        for i in 0..5 {
            let mut pp = p.clone();
            pp[i] += h;
            let lp = loss(&e, &pp, &t, &c);
            pp[i] -= 2.0 * h;
            let lm = loss(&e, &pp, &t, &c);
            assert_close((lp - lm) / (2.0 * h as f64), g[i] as f64 - 0.5, "phase");
        }
        // w up to 100: use a step of 1e-4 in t, with the loss summed in f64
        let ht = 1e-4f32;
        for b in 0..batch {
            let (tp, tm) = (t[b] + ht, t[b] - ht);
            let mut tt = t;
            tt[b] = tp;
            let lp = loss(&e, &p, &tt, &c);
            tt[b] = tm;
            let lm = loss(&e, &p, &tt, &c);
            let num = (lp - lm) / (tp as f64 - tm as f64);
            assert_close(num, dt[b] as f64, "t");
        }
        // single-row backward agrees with the batched one
        let mut g1 = vec![0.0f32; 5];
        let mut o1 = vec![0.0; e.out_len()];
        e.forward(&p, t[1], &mut o1).unwrap();
        let d1 = e
            .backward(&o1, &c[e.out_len()..2 * e.out_len()], &mut g1)
            .unwrap();
        assert_eq!(d1, dt[1]);
    }

    #[test]
    fn shape_errors() {
        let e = FourierEmbedding::new(4).unwrap();
        let p = [0.0; 4];
        let mut out = [0.0; 8];
        assert!(matches!(
            e.forward(&p[..3], 0.5, &mut out),
            Err(Error::ShapeMismatch {
                expected: 4,
                got: 3,
                ..
            })
        ));
        assert!(matches!(
            e.forward(&p, 0.5, &mut out[..7]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            e.forward_batch(&p, &[0.1, 0.2], &mut out),
            Err(Error::ShapeMismatch {
                expected: 16,
                got: 8,
                ..
            })
        ));
        let mut g = [0.0; 4];
        assert!(matches!(
            e.backward(&out, &[0.0; 7], &mut g),
            Err(Error::ShapeMismatch { .. })
        ));
        let mut dt = [0.0; 2];
        assert!(matches!(
            e.backward_batch(&out, &out, 1, &mut g, Some(&mut dt)),
            Err(Error::ShapeMismatch {
                what: "embedding dt",
                ..
            })
        ));
        assert!(matches!(
            e.init_zero(&mut [0.0; 5]),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
