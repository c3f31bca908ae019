//! The 60-dimensional ALDP target of RSMC (`energies/aldp.py` at 705bc0e).

use super::internal::{self, DIM, IND_CIRC, STD};
use super::params::{N_ATOMS, X_REF};
use super::{Frame, Positions, V3, frame, terms, unframe};
use crate::error::Error;
use crate::math::{self, PI};
use crate::rng::Rng;
use crate::targets::{LogDensity, all_finite, finish_lp, finite_grad, outside};

/// `π + 10⁻⁴`: the range of the tanh map on the circular dihedrals.
const PI_PLUS_EPS: f64 = PI + 1e-4;
/// `k_B T` in kJ/mol: boltzgen's `R = 8.314e-3` times 300 K.
const KT: f64 = 8.314e-3 * 300.0;

/// Alanine dipeptide in implicit solvent at 300 K on `ℝ⁶⁰`, exactly as the RSMC seeds define
/// it (Choi et al. 2025, `energies/aldp.py`, with boltzgen's transform and FAB's z-matrix).
///
/// ```text
/// x ∈ ℝ⁶⁰ ──tanh on IND_CIRC──▶ z ──denormalise, NeRF──▶ X ∈ ℝ²²ˣ³ (nm) ──force field──▶ U
/// z_c = (π + 10⁻⁴) tanh(x_c) for c ∈ IND_CIRC, z_k = x_k otherwise
/// E(x) = u_reg(U(X)/kT) − log|det ∂X/∂z| − Σ_c [ln(π + 10⁻⁴) − 2 ln cosh x_c] + penalty(x)
/// log p̃(x) = −E(x),   kT = 8.314e-3 · 300 kJ/mol
/// ```
///
/// - **Internal coordinates** ([`Z_MATRIX`](super::Z_MATRIX), [`IND_CIRC`], [`STD`]):
///   `z = (q − μ)/σ` with `μ` the raw internal coordinates of the reference structure
///   [`X_REF`] (dihedral means as `atan2(sin, cos)`, as boltzgen averages them), so
///   `z(X_ref) = 0`; `log|det ∂X/∂z| = Σ log σ + log q₁ + Σ_rows (2 log|r| + log|sin θ|)`,
///   the gauge-fixed determinant boltzgen uses (`−245.482110378` at `z = 0`).
/// - **Energy cut** (boltzgen's `regularize_energy`, cut `10⁵` as RSMC sets it, max `10²⁰`):
///   `u_reg = min(u, 10²⁰)`, then `ln(u_reg − 10⁵ + 1) + 10⁵` when `u_reg ≥ 10⁵`. A
///   non-finite `u` (coincident atoms, a degenerate NeRF frame) or a NaN anywhere makes
///   `E = 2·10⁵` with a zero gradient (RSMC's `energy[energy.isnan()] = 2 * energy_cut`).
/// - **Chirality penalty** on the raw `x` (not the tanh-mapped angles): with
///   `d = x₁₇ − x₂₆` moved by `±2π` to the smallest magnitude, `E += 2·10⁵` when
///   `|d + 0.043| ≥ 0.8`. Piecewise constant: no gradient.
/// - **Seams and scale of the sampler's coordinates** ([`Aldp::with_seams`],
///   [`Aldp::with_scale`]): the same target after a change of variables, for samplers; the
///   `f64` API ([`Aldp::energy`]) always takes the seeds' `x`.
/// - `ln cosh` is evaluated stably (RSMC's `log(cosh(x))` overflows for `|x| > 710`).
///
/// `E(0) = 162.513345644`, so `log p̃(0) = −162.513345644`. `log Z` is unknown and there is
/// no exact sampler. [`Aldp::energy`] and [`Aldp::energy_grad`] give the same in `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aldp {
    /// Raw internal coordinates of [`X_REF`] (the normalisation means).
    mean: [f64; DIM],
    /// `Σ log σ` over the 60 coordinates.
    log_std: f64,
    /// The sampler's per-coordinate scale, `x = scale ⊙ y` ([`Aldp::with_scale`]; ones by
    /// default).
    pub(super) scale: [f32; DIM],
    /// `Σ ln scaleᵢ`, added to the log density.
    log_scale: f64,
    /// Where the circular map's seams sit, as shifts of `tanh` in units of `π + 10⁻⁴`, one
    /// per [`IND_CIRC`] entry ([`Aldp::with_seams`]; zeros, the seeds' seams, by default).
    pub(super) seam_shift: [f64; N_CIRC],
}

/// The number of circular dihedrals.
pub(super) const N_CIRC: usize = IND_CIRC.len();
/// No seam moved.
const SEEDS_SEAMS: [f64; N_CIRC] = [0.0; N_CIRC];

impl Default for Aldp {
    fn default() -> Self {
        Self::new()
    }
}

impl Aldp {
    /// Energy cut (in kT) above which the energy is logarithmic.
    pub const ENERGY_CUT: f64 = 1e5;
    /// Cap on the reduced energy before the cut.
    pub const ENERGY_MAX: f64 = 1e20;
    /// `k_B T` (kJ/mol).
    pub const KT: f64 = KT;
    /// The two raw coordinates of the chirality test (φ and the C–N–CA–HA dihedral).
    pub const CHIRALITY_IND: [usize; 2] = [17, 26];
    /// Mean of their difference in the L form.
    pub const CHIRALITY_MEAN_DIFF: f64 = -0.043;
    /// The penalty applies from this deviation on.
    pub const CHIRALITY_THRESHOLD: f64 = 0.8;

    /// The target, normalised on [`X_REF`].
    pub fn new() -> Self {
        let mut mean = internal::raw_internal(&frame(&X_REF));
        for (k, m) in mean.iter_mut().enumerate() {
            if internal::kind(k) == internal::Kind::Dihedral {
                *m = math::atan2(math::sin(*m), math::cos(*m));
            }
        }
        let log_std = STD.iter().map(|&s| math::ln(s)).sum();
        Self {
            mean,
            log_std,
            scale: [1.0; DIM],
            log_scale: 0.0,
            seam_shift: SEEDS_SEAMS,
        }
    }

    /// This target with `scale` and its `Σ ln scaleᵢ` (checked by [`Aldp::with_scale`]).
    pub(super) fn scaled_by(self, scale: [f32; DIM], log_scale: f64) -> Self {
        Self {
            scale,
            log_scale,
            ..self
        }
    }

    /// The map's input `u = scale ⊙ y` of a sampler point, widened to `f64` (the seeds' `x`
    /// unless a seam is moved).
    fn seeds_point(&self, y: &[f32]) -> [f64; DIM] {
        let mut w = [0.0; DIM];
        for ((o, v), s) in w.iter_mut().zip(y).zip(self.scale) {
            *o = f64::from(*v * s);
        }
        w
    }

    /// `log p̃(x)` plus the scale's log-determinant (nothing is added without a scale, so
    /// the unscaled target's bits are untouched).
    fn finish_scaled(&self, lp: f64) -> f32 {
        if self.log_scale == 0.0 {
            finish_lp(lp)
        } else {
            finish_lp(lp + self.log_scale)
        }
    }

    /// Normalised internal coordinates `z(X)` of Cartesian positions (nm): the forward
    /// transform, `z(X_ref) = 0`.
    pub fn z_from_positions(&self, x: &Positions) -> [f64; DIM] {
        internal::normalise(&internal::raw_internal(&frame(x)), &self.mean)
    }

    /// Cartesian positions `X(z)` (nm, gauge-fixed: atom 8 at the origin, atom 6 on the x
    /// axis, atom 14 in the xy plane) and `log|det ∂X/∂z|`.
    pub fn positions_from_z(&self, z: &[f64; DIM]) -> (Positions, f64) {
        let q = internal::denormalise(z, &self.mean);
        let mut x = [V3::zeros(); N_ATOMS];
        internal::place(&q, &mut x);
        (unframe(&x), self.log_std + internal::log_det(&q, None))
    }

    /// The tanh map `x → z` on [`IND_CIRC`] and its log-determinant
    /// `Σ_c [ln(π + 10⁻⁴) − 2 ln cosh x_c]`.
    pub fn z_from_x(x: &[f64; DIM]) -> ([f64; DIM], f64) {
        z_from_u(x, &SEEDS_SEAMS)
    }

    /// The inverse of [`Aldp::z_from_x`]: `x_c = atanh(z_c/(π + 10⁻⁴))` (`±∞` at
    /// `|z_c| = π + 10⁻⁴`, NaN beyond).
    pub fn x_from_z(z: &[f64; DIM]) -> [f64; DIM] {
        let mut x = *z;
        for &c in &IND_CIRC {
            let y = z[usize::from(c)] / PI_PLUS_EPS;
            x[usize::from(c)] = 0.5 * math::ln((1.0 + y) / (1.0 - y));
        }
        x
    }

    /// The sampler-space point `x` of Cartesian positions (nm).
    pub fn x_from_positions(&self, x: &Positions) -> [f64; DIM] {
        Self::x_from_z(&self.z_from_positions(x))
    }

    /// The energy `E(x)` in units of kT (see the type documentation).
    pub fn energy(&self, x: &[f64; DIM]) -> f64 {
        self.eval(x, &SEEDS_SEAMS, None)
    }

    /// `E(x)` and `∂E/∂x` (`grad` overwritten; all zeros where `E` is capped for a
    /// non-finite energy).
    pub fn energy_grad(&self, x: &[f64; DIM], grad: &mut [f64; DIM]) -> f64 {
        self.eval(x, &SEEDS_SEAMS, Some(grad))
    }

    /// The shared forward (and, with `grad`, backward) pass of the energy in the map's input
    /// `w` with the seams `shift` (`w` is the seeds' `x` when no seam is moved).
    fn eval(&self, w: &[f64; DIM], shift: &[f64; N_CIRC], grad: Option<&mut [f64; DIM]>) -> f64 {
        let cut = Self::ENERGY_CUT;
        let (z, ld_tanh) = z_from_u(w, shift);
        let q = internal::denormalise(&z, &self.mean);
        let mut pos = [V3::zeros(); N_ATOMS];
        internal::place(&q, &mut pos);
        let mut gx = [V3::zeros(); N_ATOMS];
        let want = grad.is_some();
        let u = terms(&pos, want.then_some(&mut gx)).total() / KT;
        let mut gld = [0.0; DIM];
        let ld = self.log_std + internal::log_det(&q, want.then_some(&mut gld));
        let (ur, dur) = reduce(u);
        let e = ur - ld - ld_tanh + penalty(&seeds_x(w, shift));
        let capped = !u.is_finite() || e.is_nan();
        let e = if capped { 2.0 * cut } else { e };
        let Some(g) = grad else { return e };
        g.fill(0.0);
        if capped || !e.is_finite() {
            return e;
        }
        backward(&q, &pos, gx, dur / KT, g);
        for (gk, l) in g.iter_mut().zip(gld) {
            *gk -= l;
        }
        for (gk, s) in g.iter_mut().zip(STD) {
            *gk *= s;
        }
        for &c in &IND_CIRC {
            let t = math::tanh(w[usize::from(c)]);
            let gc = &mut g[usize::from(c)];
            *gc = *gc * PI_PLUS_EPS * (1.0 - t * t) + 2.0 * t;
        }
        e
    }
}

/// The circular map with seams `shift` and its log-determinant: `z_c = (π + 10⁻⁴)·t_c` with
/// `t_c = tanh(u_c) + shift_c` wrapped into `[−1, 1)` (a rotation of the circle of length
/// `2(π + 10⁻⁴)`, so `∂z_c/∂u_c` and the log-determinant `Σ_c [ln(π + 10⁻⁴) − 2 ln cosh u_c]`
/// are the seeds' at every shift). A zero shift is the seeds' map, bit for bit.
fn z_from_u(u: &[f64; DIM], shift: &[f64; N_CIRC]) -> ([f64; DIM], f64) {
    let mut z = *u;
    let mut ld = 0.0;
    for (&c, &d) in IND_CIRC.iter().zip(shift) {
        let v = u[usize::from(c)];
        z[usize::from(c)] = PI_PLUS_EPS * shifted_tanh(v, d);
        ld += math::ln(PI_PLUS_EPS) - 2.0 * ln_cosh(v);
    }
    (z, ld)
}

/// `tanh(v) + d` wrapped into `[−1, 1)` (`tanh(v)` itself when `d = 0`).
pub(super) fn shifted_tanh(v: f64, d: f64) -> f64 {
    let t = math::tanh(v);
    if d == 0.0 {
        return t;
    }
    wrap_unit(t + d)
}

/// `t` moved by `±2` into `[−1, 1)` (`t` within `(−3, 3)`).
pub(super) fn wrap_unit(t: f64) -> f64 {
    if t >= 1.0 {
        t - 2.0
    } else if t < -1.0 {
        t + 2.0
    } else {
        t
    }
}

/// `atanh t` for `t` in `[−1, 1]` (`±∞` at the ends).
pub(super) fn atanh(t: f64) -> f64 {
    0.5 * (math::log1p(t) - math::log1p(-t))
}

/// The seeds' `x` of the map's input `u` with seams `shift`: `x_c = atanh(t_c)` where a seam
/// is moved, `u` elsewhere (the chirality test and sample files read `x`).
pub(super) fn seeds_x(u: &[f64; DIM], shift: &[f64; N_CIRC]) -> [f64; DIM] {
    let mut x = *u;
    for (&c, &d) in IND_CIRC.iter().zip(shift) {
        if d != 0.0 {
            let k = usize::from(c);
            x[k] = atanh(shifted_tanh(u[k], d));
        }
    }
    x
}

/// `∂(du·U(X(q)))/∂q` given `gx = ∂U/∂X` at `pos = X(q)`, written into `g` (zeroed). `du = 0`
/// above the energy cap: the energy term then contributes nothing (not `0·∞`).
fn backward(q: &[f64; DIM], pos: &Frame, mut gx: Frame, du: f64, g: &mut [f64; DIM]) {
    if du != 0.0 {
        for v in gx.iter_mut() {
            *v *= du;
        }
        internal::place_backward(q, pos, &mut gx, g);
    }
}

/// boltzgen's `regularize_energy` of a reduced energy `u` and its derivative:
/// `(u_reg, du_reg/du)`.
pub(super) fn reduce(u: f64) -> (f64, f64) {
    let (cut, max) = (Aldp::ENERGY_CUT, Aldp::ENERGY_MAX);
    let (v, dv) = if u < max { (u, 1.0) } else { (max, 0.0) };
    if v < cut {
        (v, dv)
    } else {
        (math::ln(v - cut + 1.0) + cut, dv / (v - cut + 1.0))
    }
}

/// RSMC's chirality penalty on the raw `x`: `2·cut` unless the L-form test passes.
pub(super) fn penalty(x: &[f64; DIM]) -> f64 {
    let [a, b] = Aldp::CHIRALITY_IND;
    let d = x[a] - x[b];
    let mut best = d;
    for c in [d + 2.0 * PI, d - 2.0 * PI] {
        if c.abs() < best.abs() {
            best = c;
        }
    }
    let l_form = (best - Aldp::CHIRALITY_MEAN_DIFF).abs() < Aldp::CHIRALITY_THRESHOLD;
    if l_form { 0.0 } else { 2.0 * Aldp::ENERGY_CUT }
}

/// `ln cosh v = |v| + ln(1 + e^{−2|v|}) − ln 2`, finite for every finite `v`.
fn ln_cosh(v: f64) -> f64 {
    let a = v.abs();
    a + math::log1p(math::exp(-2.0 * a)) - core::f64::consts::LN_2
}

impl LogDensity for Aldp {
    fn dim(&self) -> usize {
        DIM
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        debug_assert_eq!(x.len(), DIM);
        if !all_finite(x) {
            return f32::NEG_INFINITY;
        }
        self.finish_scaled(-self.eval(&self.seeds_point(x), &self.seam_shift, None))
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        debug_assert_eq!(x.len(), DIM);
        debug_assert_eq!(grad.len(), DIM);
        if !all_finite(x) {
            return outside(grad);
        }
        let mut g = [0.0; DIM];
        let e = self.eval(&self.seeds_point(x), &self.seam_shift, Some(&mut g));
        for ((o, v), s) in grad.iter_mut().zip(g).zip(self.scale) {
            *o = finite_grad(-v * f64::from(s));
        }
        self.finish_scaled(-e)
    }

    fn log_z(&self) -> Option<f64> {
        None
    }

    fn sample<R: Rng + ?Sized>(&self, _rng: &mut R, _out: &mut [f32]) -> Result<(), Error> {
        Err(Error::Unsupported("aldp has no exact sampler"))
    }
}
