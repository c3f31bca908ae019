//! The ALDP view as a plain Rust struct: the diffusion trainer of [`TrainCore`] (tb,
//! tb-buffer, rsmc) on the 60-d alanine-dipeptide target ([`Aldp`]), and what the page draws
//! from the policy's samples: their backbone dihedrals φ/ψ, their basin populations over
//! the run, and their Cartesian conformations.
//!
//! Every number comes from the kernel: the angles are [`aldp::phi_psi`] of the target's own
//! reconstruction `x → z → X` ([`Aldp::z_from_x`], [`Aldp::positions_from_z`]), the same
//! computation as [`Aldp::phi_psi`] and the CLI's `summary.json`, bit for bit; the basins are
//! [`Basin::of`]. The run itself is the CLI's `amortise train --target aldp` with the same
//! flags ([`AldpCore::cli_args`]), so the parameters are the CLI's too.
//!
//! A sample with a non-finite coordinate (a diverging policy) gets NaN angles and positions,
//! counts as `unclassified` and is counted in [`AldpCore::non_finite`]; the page says so
//! instead of drawing it. Nothing here panics on such values.
//!
//! ## The page's defaults
//! [`page_defaults`]: tb-buffer, B = 64, T = 32 OU steps with σ = 0.1, width 64, 16
//! harmonics, learning rate 3·10⁻³, no Langevin drift, 400 iterations. σ is not RSMC's
//! `init_std` = 1 (the CLI's default): at σ = 1 almost every sample of the untrained policy
//! breaks the chirality test or a bond and sits at the energy cap, and at this budget the
//! policy does not leave it; at σ = 0.1 the reference process starts near `x = 0`, the
//! minimum-energy structure `X_ref`, and the policy spreads from there. The Langevin drift
//! costs a 60-d energy gradient per sample and step, about ten times the iteration. The
//! measurements are in `docs/playground.md`.

use amortise_kernel::targets::aldp::{self, Basin, DIM, N_ATOMS, params};
use amortise_kernel::targets::{Aldp, Target};
use amortise_settings::{Limits, RunConfig, defaults};

use crate::error::{PlaygroundError, bad, query_pairs};
use crate::train::{TrainCore, TrainSettings};

/// The registry name of the target of this view.
pub const TARGET: &str = "aldp";
/// Coordinates of one conformation: 22 atoms × (x, y, z), nm.
pub const POSITION_LEN: usize = 3 * N_ATOMS;
/// The page's default reference scale σ (see the module documentation).
pub const PAGE_SIGMA: f32 = 0.1;

/// The page's defaults for ALDP (see the module documentation): the settings layer's run
/// description, so `cli_args` is the equivalent `amortise train` command.
pub fn page_defaults() -> RunConfig {
    RunConfig {
        seed: 1,
        iters: 400,
        batch: 64,
        particles: 64,
        steps: 32,
        sigma: PAGE_SIGMA,
        hidden: 64,
        flow_hidden: 64,
        harmonics: 16,
        lr: 3e-3,
        langevin: false,
        prefill: 5,
        ..RunConfig::new(TARGET, DIM, "tb-buffer")
    }
}

/// Parses the page's `key=value&…` query (the `amortise train` flags with `_` for `-`, as
/// [`crate::train::parse_settings`]) over [`page_defaults`] with the page's limits; without
/// `sigma` the page's [`PAGE_SIGMA`]; `target`, if given, must be `aldp`.
///
/// # Errors
/// An unknown key, a value that does not parse, a rejected setting or another target,
/// naming the control.
pub fn parse_settings(query: &str) -> Result<TrainSettings, PlaygroundError> {
    let mut s = RunConfig::from_query(query, &page_defaults(), &Limits::PAGE)?;
    if !s.target.eq_ignore_ascii_case(TARGET) {
        return Err(bad(
            "target",
            format!("the ALDP view trains on aldp only, not “{}”", s.target),
        ));
    }
    s.target = TARGET.into();
    if !query_pairs(query).any(|(k, _)| k == "sigma") {
        s.sigma = PAGE_SIGMA;
    }
    Ok(s)
}

/// The basin populations of one set of samples: fractions of β/C7eq, αR, αL (the order of
/// [`Basin::ALL`]) and unclassified (non-finite angles); the four sum to 1 (all 0 for no
/// samples).
pub fn populations(angles: &[f32]) -> [f64; 4] {
    let mut counts = [0usize; 4];
    for a in angles.chunks_exact(2) {
        let k = Basin::of(f64::from(a[0]), f64::from(a[1])).map_or(3, Basin::index);
        counts[k] += 1;
    }
    let n = angles.len() / 2;
    counts.map(|c| if n == 0 { 0.0 } else { c as f64 / n as f64 })
}

/// `[φ, ψ]` (radians) and the positions (nm, `[atom][x, y, z]`) of one 60-d sample, through
/// the target's reconstruction; NaN for a sample with a non-finite coordinate.
pub fn angles_and_positions(target: &Aldp, row: &[f32]) -> ([f64; 2], aldp::Positions) {
    let mut x = [0.0f64; DIM];
    for (o, &v) in x.iter_mut().zip(row) {
        *o = f64::from(v);
    }
    if row.len() != DIM || !x.iter().all(|v| v.is_finite()) {
        return ([f64::NAN; 2], [[f64::NAN; 3]; N_ATOMS]);
    }
    let (z, _) = Aldp::z_from_x(&x);
    let (pos, _) = target.positions_from_z(&z);
    (aldp::phi_psi(&pos), pos)
}

/// The element of each atom (the first letter of its PDB name), comma separated:
/// `H,C,H,H,C,O,N,…`.
pub fn elements() -> String {
    let e: Vec<&str> = params::NAMES
        .iter()
        .map(|n| n.get(..1).unwrap_or(""))
        .collect();
    e.join(",")
}

/// The bonds of the topology (the force field's 21 harmonic bonds) as atom-index pairs,
/// flattened: `[i₀, j₀, i₁, j₁, …]`.
pub fn bonds() -> Vec<u32> {
    params::BONDS
        .iter()
        .flat_map(|b| [u32::from(b.i), u32::from(b.j)])
        .collect()
}

/// A fixed 60-d point, `x_k = 0.01 (k − 30)` in `f32` (exact arithmetic, the same on every
/// platform).
pub fn ramp_point() -> [f32; DIM] {
    core::array::from_fn(|k| 0.01 * (k as f32 - 30.0))
}

/// `[φ, ψ]` bits of [`angles_and_positions`] at [`ramp_point`], natively; the
/// wasm-bindgen test (`tests/node.rs`) requires the same bits inside wasm.
/// (φ = −2.1388211943318094, ψ = 2.185525454742584: β/C7eq.)
pub const RAMP_ANGLE_BITS: [u64; 2] = [13835370652821695644, 4612103784611811126];

/// A training run on ALDP and the angles, populations and conformations of its samples.
#[derive(Debug)]
pub struct AldpCore {
    train: TrainCore,
    target: Aldp,
    /// `[φ, ψ]` of the last draw, `[n, 2]`.
    angles: Vec<f32>,
    /// Positions of the last draw, `[n, 66]`.
    positions: Vec<f32>,
    /// Samples of the last draw with a non-finite coordinate.
    non_finite: usize,
    /// One row per draw: iteration, then the four populations of [`populations`].
    hist_pop: Vec<f32>,
}

impl AldpCore {
    /// Validates the settings, carves the arenas and initialises the model.
    ///
    /// # Errors
    /// A [`PlaygroundError`] naming the control.
    pub fn new(s: &TrainSettings) -> Result<AldpCore, PlaygroundError> {
        if !s.target.eq_ignore_ascii_case(TARGET) {
            return Err(bad("target", "the ALDP view trains on aldp only"));
        }
        let target =
            Target::from_name(TARGET, None).map_err(|e| PlaygroundError::kernel("target", e))?;
        Ok(AldpCore {
            train: TrainCore::with_target(s, target)?,
            target: Aldp::new(),
            angles: Vec::new(),
            positions: Vec::new(),
            non_finite: 0,
            hist_pop: Vec::new(),
        })
    }

    /// Runs up to `k` iterations ([`TrainCore::step`]).
    ///
    /// # Errors
    /// As [`TrainCore::step`].
    pub fn step(&mut self, k: u32) -> Result<u32, PlaygroundError> {
        self.train.step(k)
    }

    /// Draws `n` samples of the current policy ([`TrainCore::sample`]), computes their
    /// angles and positions, and appends their populations to the history. Returns `n`.
    ///
    /// # Errors
    /// As [`TrainCore::sample`].
    pub fn sample(&mut self, n: usize) -> Result<usize, PlaygroundError> {
        self.train.sample(n)?;
        self.angles.clear();
        self.positions.clear();
        self.non_finite = 0;
        for row in self.train.samples().chunks_exact(DIM) {
            if !row.iter().all(|v| v.is_finite()) {
                self.non_finite += 1;
            }
            let (a, pos) = angles_and_positions(&self.target, row);
            self.angles.extend(a.map(|v| v as f32));
            self.positions
                .extend(pos.iter().flatten().map(|&v| v as f32));
        }
        let pop = populations(&self.angles);
        self.hist_pop.push(self.train.iteration() as f32);
        self.hist_pop.extend(pop.map(|p| p as f32));
        Ok(n)
    }

    /// The populations of the last draw (see [`populations`]).
    pub fn populations(&self) -> [f64; 4] {
        populations(&self.angles)
    }

    /// The sample of the last draw with the largest finite `log p̃` (the most plausible
    /// conformation), or 0.
    pub fn best(&self) -> usize {
        let mut best = (0, f32::NEG_INFINITY);
        for (i, &v) in self.train.sample_log_r().iter().enumerate() {
            if v.is_finite() && v > best.1 {
                best = (i, v);
            }
        }
        best.0
    }

    /// The training run.
    pub fn train(&self) -> &TrainCore {
        &self.train
    }
    /// `[φ, ψ]` of the last draw, `[n, 2]` (radians).
    pub fn angles(&self) -> &[f32] {
        &self.angles
    }
    /// Positions of the last draw, `[n, 66]` (nm).
    pub fn positions(&self) -> &[f32] {
        &self.positions
    }
    /// `log p̃` of the last draw.
    pub fn sample_log_r(&self) -> &[f32] {
        self.train.sample_log_r()
    }
    /// Samples of the last draw with a non-finite coordinate.
    pub fn non_finite(&self) -> usize {
        self.non_finite
    }
    /// Population history: rows of (iteration, β/C7eq, αR, αL, unclassified).
    pub fn hist_pop(&self) -> &[f32] {
        &self.hist_pop
    }
    /// The equivalent `amortise train` flags.
    pub fn cli_args(&self) -> String {
        self.train.settings().cli_args()
    }
}

/// The aldp entry's `page` object of `target_list`: the methods and the defaults of this
/// view as a `key=value&…` query, which the page puts into its controls.
pub fn page_json() -> String {
    let d = page_defaults();
    let methods: Vec<String> = defaults::TRAINED
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect();
    format!(
        "{{\"half\":null,\"base_std\":null,\"view\":\"aldp\",\"methods\":[{}],\
         \"defaults\":{{\"method\":\"{}\",\"iters\":{},\"batch\":{},\"particles\":{},\
         \"steps\":{},\"sigma\":{},\"hidden\":{},\"lr\":{},\"langevin\":{},\"buffer\":{},\
         \"prefill\":{},\"chunk\":{}}}}}",
        methods.join(","),
        d.method,
        d.iters,
        d.batch,
        d.particles,
        d.steps,
        d.sigma,
        d.hidden,
        d.lr,
        u8::from(d.langevin),
        d.buffer,
        d.prefill,
        d.chunk
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(method: &str) -> TrainSettings {
        parse_settings(&format!(
            "method={method}&seed=3&iters=3&batch=8&particles=8&steps=16&hidden=8&\
             flow_hidden=8&harmonics=4&buffer=200&prefill=1&chunk=4"
        ))
        .unwrap()
    }

    #[test]
    fn settings_default_to_the_page_and_name_the_control() {
        let s = parse_settings("").unwrap();
        assert_eq!((s.target.as_str(), s.dim), ("aldp", 60));
        assert_eq!(s.sigma, PAGE_SIGMA);
        assert_eq!((s.batch, s.steps, s.hidden), (64, 32, 64));
        assert!(!s.langevin);
        assert_eq!(parse_settings("sigma=1").unwrap().sigma, 1.0);
        assert_eq!(parse_settings("target=ALDP").unwrap().target, "aldp");
        for (q, field) in [
            ("target=gmm40", "target"),
            ("steps=10", "steps"),
            ("sigma=nan", "sigma"),
            ("lr=0", "lr"),
            ("method=smc", "method"),
            ("bogus=1", "run"),
        ] {
            assert_eq!(parse_settings(q).unwrap_err().field, field, "{q}");
        }
        let cli = parse_settings("").unwrap().cli_args();
        assert!(
            cli.starts_with("--target aldp --method tb-buffer --seed 1 --iters 400 --batch 64"),
            "{cli}"
        );
        assert!(
            cli.contains("--sigma 0.1 ") && !cli.contains("--langevin"),
            "{cli}"
        );
        let mut wrong = parse_settings("").unwrap();
        wrong.target = "9gmm".into();
        assert_eq!(AldpCore::new(&wrong).unwrap_err().field, "target");
    }

    #[test]
    fn angles_are_the_kernels_bit_for_bit() {
        let target = Aldp::new();
        let mut x = [0.0f32; DIM];
        for (k, v) in x.iter_mut().enumerate() {
            *v = 0.3 * ((k as f32) * 0.7).sin();
        }
        let (a, pos) = angles_and_positions(&target, &x);
        let x64 = x.map(f64::from);
        let want = target.phi_psi(&x64);
        assert_eq!(a.map(f64::to_bits), want.map(f64::to_bits));
        assert_eq!(
            aldp::phi_psi(&pos).map(f64::to_bits),
            want.map(f64::to_bits)
        );
        // x = 0 is X_ref: the kernel's reconstruction, in the β/C7eq basin
        let (a0, p0) = angles_and_positions(&target, &[0.0; DIM]);
        assert_eq!(Basin::of(a0[0], a0[1]), Some(Basin::BetaC7eq), "{a0:?}");
        assert!(p0.iter().flatten().all(|v| v.is_finite()));
    }

    fn ramp() -> [f32; DIM] {
        ramp_point()
    }

    #[test]
    fn angles_of_a_fixed_point_are_pinned() {
        let (a, _) = angles_and_positions(&Aldp::new(), &ramp());
        assert_eq!(a.map(f64::to_bits), RAMP_ANGLE_BITS);
        assert_eq!(Basin::of(a[0], a[1]), Some(Basin::BetaC7eq));
    }

    #[test]
    fn non_finite_samples_are_unclassified_not_a_panic() {
        let target = Aldp::new();
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = [0.0f32; DIM];
            x[17] = bad;
            let (a, pos) = angles_and_positions(&target, &x);
            assert!(a.iter().all(|v| v.is_nan()));
            assert!(pos.iter().flatten().all(|v| v.is_nan()));
        }
        let (a, _) = angles_and_positions(&target, &[0.0; 3]);
        assert!(a[0].is_nan(), "a row of the wrong length");
        // huge finite coordinates give finite or NaN angles, never a panic
        let (a, _) = angles_and_positions(&target, &[1e30; DIM]);
        assert!(
            a.iter()
                .all(|v| v.is_nan() || v.abs() <= core::f64::consts::PI)
        );
    }

    #[test]
    fn populations_follow_the_basins() {
        let d = |v: f32| v.to_radians();
        let angles = [
            d(-70.0),
            d(150.0), // β/C7eq
            d(-70.0),
            d(-40.0), // αR
            d(60.0),
            d(40.0), // αL
            d(-80.0),
            d(-150.0), // β/C7eq across ψ = ±180°
            f32::NAN,
            0.0, // unclassified
        ];
        assert_eq!(populations(&angles), [0.4, 0.2, 0.2, 0.2]);
        assert_eq!(populations(&[]), [0.0; 4]);
    }

    #[test]
    fn topology_tables() {
        assert_eq!(elements(), "H,C,H,H,C,O,N,H,C,H,C,H,H,H,C,O,N,H,C,H,H,H");
        let b = bonds();
        assert_eq!(b.len(), 42);
        assert!(b.iter().all(|&i| (i as usize) < N_ATOMS));
        // the backbone C(ACE)–N and CA–C bonds are there
        assert!(b.chunks_exact(2).any(|p| p == [4, 6]));
        assert!(b.chunks_exact(2).any(|p| p == [8, 14]));
    }

    #[test]
    fn every_method_trains_and_draws_conformations() {
        for m in ["tb", "tb-buffer", "rsmc"] {
            let mut c = AldpCore::new(&small(m)).unwrap();
            c.sample(20).unwrap();
            assert_eq!(c.step(5).unwrap(), 3, "{m}");
            assert!(c.train().loss().is_finite(), "{m}");
            c.sample(40).unwrap();
            assert_eq!(c.angles().len(), 80);
            assert_eq!(c.positions().len(), 40 * POSITION_LEN);
            assert_eq!(c.sample_log_r().len(), 40);
            assert_eq!(c.hist_pop().len(), 10);
            assert_eq!(c.hist_pop()[5], 3.0, "the second draw is after iteration 3");
            let p = c.populations();
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{p:?}");
            assert_eq!(c.non_finite(), 0);
            assert!(c.best() < 40);
            let lr = c.sample_log_r();
            assert!(lr.iter().all(|v| *v <= lr[c.best()] || !v.is_finite()));
            // the angles view is the kernel's φ/ψ of the samples
            let row = &c.train().samples()[..DIM];
            let want = Aldp::new().phi_psi(&core::array::from_fn(|k| f64::from(row[k])));
            assert_eq!(c.angles()[0], want[0] as f32);
        }
    }

    #[test]
    fn drawing_does_not_change_the_training_run() {
        let mut a = AldpCore::new(&small("tb-buffer")).unwrap();
        let mut b = AldpCore::new(&small("tb-buffer")).unwrap();
        a.step(1).unwrap();
        a.sample(30).unwrap();
        a.step(2).unwrap();
        b.step(3).unwrap();
        assert_eq!(a.train().param_checksum(), b.train().param_checksum());
    }

    #[test]
    fn page_json_is_the_defaults() {
        let j = page_json();
        assert!(
            j.starts_with("{\"half\":null,\"base_std\":null,\"view\":\"aldp\""),
            "{j}"
        );
        assert!(
            j.contains("\"methods\":[\"tb\",\"tb-buffer\",\"rsmc\"]"),
            "{j}"
        );
        assert!(
            j.contains("\"sigma\":0.1,\"hidden\":64,\"lr\":0.003,\"langevin\":0"),
            "{j}"
        );
    }
}
