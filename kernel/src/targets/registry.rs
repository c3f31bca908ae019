//! The registry: one row per named target, from which `registry!` generates the
//! [`TARGETS`] table (with its rustdoc table), the [`Density`] enum, name lookup
//! ([`Target::from_name`]) and the [`LogDensity`] dispatch of [`Target`].
//!
//! Adding a target: write its type in a file of its own under `targets/` (with `mod` and
//! `pub use` lines in `targets/mod.rs`), then add one row below (`docs/design.md`, "Adding a
//! target", lists the optional steps outside the kernel). A row is the type and, for
//! each registry name built from it, the [`TargetInfo`] fields plus `source` (for the
//! rustdoc table) and `new`: a function from the dimension (`--dim`, or `default_dim`) to
//! the value, rejecting dimensions the target does not accept with [`Error::InvalidConfig`].

// every target type of `targets/` (re-exported there), `LogDensity`, `Error` and `Rng`
use super::*;

/// One row of the target listing: what a command-line `targets` command prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetInfo {
    /// Registry name accepted by [`Target::from_name`] (matched ASCII-case-insensitively).
    pub name: &'static str,
    /// One-line description with the source.
    pub description: &'static str,
    /// Dimension used when [`Target::from_name`] gets `dim = None`.
    pub default_dim: usize,
    /// Accepted dimensions, as text (for example `"2"`, `"even ≥ 2"`, `"1..=64"`).
    pub dims: &'static str,
    /// Whether [`LogDensity::log_z`] returns `Some`.
    pub log_z_known: bool,
    /// Whether [`LogDensity::sample`] draws exact samples.
    pub has_sampler: bool,
}

/// `Ok(())` when `dim` equals the fixed dimension `want`, else `InvalidConfig(msg)`.
fn fixed(dim: usize, want: usize, msg: &'static str) -> Result<(), Error> {
    if dim == want {
        Ok(())
    } else {
        Err(Error::InvalidConfig(msg))
    }
}

/// `concat!` of the names, comma-separated, for the unknown-name message.
macro_rules! name_list {
    ($first:literal $(, $rest:literal)*) => {
        concat!($first $(, ", ", $rest)*)
    };
}

/// Generates [`TARGETS`], [`Density`], [`Target::from_name`] and the [`LogDensity`]
/// dispatch from the rows (see the module documentation).
macro_rules! registry {
    ($(
        $ty:ident [$({
            name: $name:literal,
            description: $description:literal,
            default_dim: $default_dim:literal,
            dims: $dims:literal,
            log_z_known: $log_z_known:literal,
            has_sampler: $has_sampler:literal,
            source: $source:literal,
            new: $new:expr $(,)?
        }),+ $(,)?]
    )+) => {
        /// Every registered target, in listing order.
        ///
        /// | name | type | default dim | dims | `log Z` known | exact sampler | source |
        /// |---|---|---|---|---|---|---|
        $($(
        #[doc = concat!(
            "| `", $name, "` | [`", stringify!($ty), "`] | ", $default_dim, " | ", $dims,
            " | ", $log_z_known, " | ", $has_sampler, " | ", $source, " |"
        )]
        )+)+
        pub static TARGETS: &[TargetInfo] = &[$($(
            TargetInfo {
                name: $name,
                description: $description,
                default_dim: $default_dim,
                dims: $dims,
                log_z_known: $log_z_known,
                has_sampler: $has_sampler,
            },
        )+)+];

        /// The constructors of the [`TARGETS`] rows, in the same order.
        static NEW: &[fn(usize) -> Result<Density, Error>] = &[$($(
            |dim| {
                let new: fn(usize) -> Result<$ty, Error> = $new;
                new(dim).map(Density::$ty)
            },
        )+)+];

        /// The message of an unknown name.
        const UNKNOWN: &str =
            concat!("unknown target; expected one of ", name_list!($($($name),+),+));

        /// The concrete target inside a [`Target`], one variant per registered type.
        ///
        /// The `Gmm40` variant holds 10 KiB of means inline, so a `Density` (and a
        /// [`Target`]) is about that size: keep it in a `static`, a `Box` on the host, or a
        /// long-lived stack slot, rather than moving it around.
        // The kernel has no allocator, so the 10 KiB `Gmm40` cannot be boxed; the size is
        // documented.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Density {
            $(
                #[doc = concat!("[`", stringify!($ty), "`]")]
                $ty($ty),
            )+
        }

        impl LogDensity for Density {
            fn dim(&self) -> usize {
                match self { $(Density::$ty(t) => t.dim(),)+ }
            }

            fn log_density(&self, x: &[f32]) -> f32 {
                match self { $(Density::$ty(t) => t.log_density(x),)+ }
            }

            fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
                match self { $(Density::$ty(t) => t.log_density_grad(x, grad),)+ }
            }

            fn log_z(&self) -> Option<f64> {
                match self { $(Density::$ty(t) => t.log_z(),)+ }
            }

            fn has_sampler(&self) -> bool {
                match self { $(Density::$ty(t) => t.has_sampler(),)+ }
            }

            fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
                match self { $(Density::$ty(t) => t.sample(rng, out),)+ }
            }
        }
    };
}

registry! {
    Gaussian [{
        name: "gaussian",
        description: "isotropic Gaussian N(0, I) (sanity check)",
        default_dim: 2,
        dims: "≥ 1",
        log_z_known: true,
        has_sampler: true,
        source: "sanity check",
        new: |d| {
            Gaussian::new(d, 0.0, 1.0)
                .map_err(|_| Error::InvalidConfig("gaussian: dim must be >= 1"))
        },
    }]
    CorrGaussian2 [{
        name: "corr-gaussian",
        description: "2-D Gaussian, stds 1 and 2, correlation 0.9 (nalgebra Cholesky)",
        default_dim: 2,
        dims: "2",
        log_z_known: true,
        has_sampler: true,
        source: "sanity check (full covariance, `nalgebra`)",
        new: |d| fixed(d, 2, "corr-gaussian: dim must be 2").map(|()| CorrGaussian2::default()),
    }]
    Gmm40 [{
        name: "gmm40",
        description: "40 unit-variance Gaussians, means in [-40, 40]^d (RSMC, Choi et al. 2025)",
        default_dim: 2,
        dims: "1..=64",
        log_z_known: true,
        has_sampler: true,
        source: "RSMC (Choi et al. 2025), `targets/gmm40.py`",
        new: Gmm40::new,
    }]
    Gmm40Jax [{
        name: "gmm40-jax",
        description: "GMM40 with the means of RSMC's JAX code (PRNGKey(0)): the paper's GMM40-2d/5d/50d",
        default_dim: 2,
        dims: "2, 5, 50",
        log_z_known: true,
        has_sampler: true,
        source: "RSMC `nolerk/gfn-smc-jax` `targets/gmm40.py` (means by `scripts/jax_targets_dump.py`)",
        new: Gmm40Jax::new,
    }]
    StudentTMixture [{
        name: "mos",
        description: "10 Student-t (df 2) components, locations in [-10, 10]^50 (RSMC's MoS-50)",
        default_dim: 50,
        dims: "50",
        log_z_known: true,
        has_sampler: true,
        source: "RSMC `nolerk/gfn-smc-jax` `targets/student_t_mixture.py` (locations by `scripts/jax_targets_dump.py`)",
        new: |d| fixed(d, 50, "mos: dim must be 50").map(|()| StudentTMixture::new()),
    }]
    GridGmm [{
        name: "9gmm",
        description: "9 Gaussians on {-5, 0, 5}^2, variance 0.3 (VGS \"grid\")",
        default_dim: 2,
        dims: "2",
        log_z_known: true,
        has_sampler: true,
        source: "VGS \"grid\" (Yoon et al. 2025), `vgs/energy/gauss.py`",
        new: |d| fixed(d, 2, "9gmm: dim must be 2").map(|()| GridGmm::nine()),
    }, {
        name: "25gmm",
        description: "25 Gaussians on {-10, ..., 10}^2, variance 0.3 (gfn-diffusion)",
        default_dim: 2,
        dims: "2",
        log_z_known: true,
        has_sampler: true,
        source: "gfn-diffusion (Sendera et al. 2024), `twenty_five_gmm.py`",
        new: |d| fixed(d, 2, "25gmm: dim must be 2").map(|()| GridGmm::twenty_five()),
    }]
    Funnel [{
        name: "funnel",
        description: "Neal's funnel, x0 ~ N(0, 9), x_i | x0 ~ N(0, e^x0)",
        default_dim: 10,
        dims: "≥ 2",
        log_z_known: true,
        has_sampler: true,
        source: "Neal (2003); RSMC `targets/funnel.py`",
        new: Funnel::new,
    }]
    ManyWell [{
        name: "manywell",
        description: "d/2 double wells -a^4 + 6a^2 + a/2 - b^2/2 (gfn-diffusion)",
        default_dim: 32,
        dims: "even ≥ 2",
        log_z_known: true,
        has_sampler: true,
        source: "gfn-diffusion `many_well.py` (exact sampler by rejection)",
        new: ManyWell::new,
    }]
    Dw4 [{
        name: "dw4",
        description: "4 particles in 2-D, double-well pair potential (DEM / VGS)",
        default_dim: 8,
        dims: "8",
        log_z_known: false,
        has_sampler: false,
        source: "DEM / bgflow; VGS `vgs/energy/DW4.py`",
        new: |d| fixed(d, 8, "dw4: dim must be 8 (4 particles in 2-D)").map(|()| Dw4),
    }]
    Lj13 [{
        name: "lj13",
        description: "13 Lennard-Jones particles in 3-D with harmonic tether (DEM / VGS)",
        default_dim: 39,
        dims: "39",
        log_z_known: false,
        has_sampler: false,
        source: "DEM; VGS `vgs/energy/LJ13.py`",
        new: |d| fixed(d, 39, "lj13: dim must be 39 (13 particles in 3-D)").map(|()| Lj13),
    }]
    Aldp [{
        name: "aldp",
        description: "alanine dipeptide at 300 K (AMBER ff96 + OBC1 GB, OpenMM-exact) in RSMC's 60-d internal coordinates",
        default_dim: 60,
        dims: "60",
        log_z_known: false,
        has_sampler: false,
        source: "RSMC `energies/aldp.py` (boltzgen internal coordinates); OpenMM `AlanineDipeptideImplicit`",
        new: |d| fixed(d, 60, "aldp: dim must be 60 (internal coordinates)").map(|()| Aldp::new()),
    }]
}

/// A registered target chosen by name at run time: its [`TARGETS`] row and the concrete
/// [`Density`], dispatching [`LogDensity`] by `match`.
///
/// Built by [`Target::from_name`]. About the size of a [`Density`] (10 KiB, see there).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    info: &'static TargetInfo,
    density: Density,
}

impl Target {
    /// Builds the target registered as `name` (see [`TARGETS`]; ASCII-case-insensitive) in
    /// dimension `dim`, or its `default_dim` when `dim` is `None`. Non-dimension settings
    /// take the defaults documented on each type.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an unknown name (the message lists the valid names) or a
    /// dimension the target does not accept (the message states the accepted range).
    pub fn from_name(name: &str, dim: Option<usize>) -> Result<Target, Error> {
        let (info, new) = TARGETS
            .iter()
            .zip(NEW)
            .find(|(i, _)| name.eq_ignore_ascii_case(i.name))
            .ok_or(Error::InvalidConfig(UNKNOWN))?;
        let density = new(dim.unwrap_or(info.default_dim))?;
        Ok(Target { info, density })
    }

    /// The registry name this target was built from.
    pub fn name(&self) -> &'static str {
        self.info.name
    }

    /// The [`TARGETS`] row this target was built from.
    pub fn info(&self) -> &'static TargetInfo {
        self.info
    }

    /// The concrete target (for code that needs the type's own methods, such as the
    /// component means of a mixture).
    pub fn density(&self) -> &Density {
        &self.density
    }

    /// Gives aldp the sampler coordinates `y = x / scale` ([`Aldp::with_scale`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for any other target; the errors of [`Aldp::with_scale`].
    pub fn set_aldp_scale(&mut self, scale: &[f32]) -> Result<(), Error> {
        match &mut self.density {
            Density::Aldp(a) => {
                *a = a.with_scale(scale)?;
                Ok(())
            }
            _ => Err(Error::Unsupported(
                "a coordinate scale is only defined for aldp",
            )),
        }
    }

    /// Gives aldp the circular map's seams `seams` ([`Aldp::with_seams`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for any other target; the errors of [`Aldp::with_seams`].
    pub fn set_aldp_seams(&mut self, seams: &[f64; 12]) -> Result<(), Error> {
        match &mut self.density {
            Density::Aldp(a) => {
                *a = a.with_seams(seams)?;
                Ok(())
            }
            _ => Err(Error::Unsupported("moved seams are only defined for aldp")),
        }
    }

    /// Rows in the sampler's coordinates to the target's own (those of sample files and
    /// reference data), in place. Only a scaled aldp changes them.
    pub fn to_target_coords(&self, rows: &mut [f32]) {
        if let Density::Aldp(a) = &self.density {
            a.to_seeds(rows);
        }
    }

    /// Rows in the target's own coordinates to the sampler's, in place (the inverse of
    /// [`Target::to_target_coords`]).
    pub fn to_sampler_coords(&self, rows: &mut [f32]) {
        if let Density::Aldp(a) = &self.density {
            a.to_sampler(rows);
        }
    }
}

impl LogDensity for Target {
    fn dim(&self) -> usize {
        self.density.dim()
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        self.density.log_density(x)
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        self.density.log_density_grad(x, grad)
    }

    fn log_z(&self) -> Option<f64> {
        self.density.log_z()
    }

    fn has_sampler(&self) -> bool {
        self.density.has_sampler()
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        self.density.sample(rng, out)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn table_matches_the_targets() {
        let mut rng = seeded(0);
        assert_eq!(NEW.len(), TARGETS.len());
        for info in TARGETS {
            let t = Target::from_name(info.name, None).unwrap();
            assert_eq!(t.name(), info.name);
            assert_eq!(t.info(), info);
            assert_eq!(t.dim(), info.default_dim, "{}", info.name);
            assert_eq!(t.log_z().is_some(), info.log_z_known, "{}", info.name);
            assert_eq!(t.has_sampler(), info.has_sampler, "{}", info.name);
            let mut out = [0.0f32; 64];
            let r = t.sample(&mut rng, &mut out[..t.dim()]);
            assert_eq!(r.is_ok(), info.has_sampler, "{}", info.name);
            if r.is_ok() {
                assert!(t.log_density(&out[..t.dim()]).is_finite());
            }
            // explicit default dim is accepted, case-insensitive name too
            let upper = std::string::String::from(info.name).to_uppercase();
            assert_eq!(
                Target::from_name(&upper, Some(info.default_dim)).unwrap(),
                t
            );
            assert!(UNKNOWN.contains(info.name), "{}", info.name);
        }
        let mut names: std::vec::Vec<_> = TARGETS.iter().map(|i| i.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TARGETS.len());
    }

    #[test]
    fn rows_of_one_type_build_different_targets() {
        let nine = Target::from_name("9gmm", None).unwrap();
        let twenty_five = Target::from_name("25gmm", None).unwrap();
        assert!(matches!(nine.density(), Density::GridGmm(g) if g.n_side() == 3));
        assert!(matches!(twenty_five.density(), Density::GridGmm(g) if g.n_side() == 5));
        assert_ne!(nine, twenty_five);
    }

    #[test]
    fn samplers_are_reproducible_for_a_fixed_seed() {
        for info in TARGETS.iter().filter(|i| i.has_sampler) {
            let t = Target::from_name(info.name, None).unwrap();
            let d = t.dim();
            let (mut a, mut b) = ([0.0f32; 64], [0.0f32; 64]);
            let (mut ra, mut rb) = (seeded(99), seeded(99));
            for _ in 0..3 {
                t.sample(&mut ra, &mut a[..d]).unwrap();
                t.sample(&mut rb, &mut b[..d]).unwrap();
                assert_eq!(a, b, "{}", info.name);
            }
            t.sample(&mut seeded(100), &mut b[..d]).unwrap();
            assert_ne!(a, b, "{}", info.name);
        }
    }

    #[test]
    fn dims_are_honoured() {
        assert_eq!(Target::from_name("gaussian", Some(7)).unwrap().dim(), 7);
        assert_eq!(Target::from_name("gmm40", Some(5)).unwrap().dim(), 5);
        assert_eq!(Target::from_name("gmm40", Some(64)).unwrap().dim(), 64);
        for d in [2, 5, 50] {
            assert_eq!(Target::from_name("gmm40-jax", Some(d)).unwrap().dim(), d);
        }
        assert_eq!(Target::from_name("funnel", Some(2)).unwrap().dim(), 2);
        assert_eq!(Target::from_name("manywell", Some(64)).unwrap().dim(), 64);
        let mw = Target::from_name("manywell", None).unwrap();
        assert!((mw.log_z().unwrap() - 164.695_675_32).abs() < 1e-6);
        // RSMC's ManyWell-64 (`many_well_64d.yaml`): 32 wells, log Z = 32 (ln 11784.50927 + ½ ln 2π)
        let mw64 = Target::from_name("manywell", Some(64)).unwrap();
        assert!((mw64.log_z().unwrap() - 329.391_350_64).abs() < 1e-6);
    }

    #[test]
    fn from_name_errors() {
        let bad: &[(&str, Option<usize>)] = &[
            ("nope", None),
            ("", None),
            ("gmm", Some(2)),
            ("gaussian", Some(0)),
            ("corr-gaussian", Some(3)),
            ("gmm40", Some(0)),
            ("gmm40", Some(65)),
            ("gmm40-jax", Some(3)),
            ("gmm40-jax", Some(64)),
            ("mos", Some(2)),
            ("9gmm", Some(3)),
            ("25gmm", Some(1)),
            ("funnel", Some(1)),
            ("funnel", Some(0)),
            ("manywell", Some(31)),
            ("manywell", Some(0)),
            ("dw4", Some(9)),
            ("lj13", Some(38)),
        ];
        for &(name, dim) in bad {
            match Target::from_name(name, dim) {
                Err(Error::InvalidConfig(msg)) => assert!(!msg.is_empty()),
                other => panic!("{name} {dim:?}: expected InvalidConfig, got {other:?}"),
            }
        }
        match Target::from_name("nope", None) {
            Err(Error::InvalidConfig(msg)) => assert_eq!(
                msg,
                "unknown target; expected one of gaussian, corr-gaussian, gmm40, gmm40-jax, mos, \
                 9gmm, 25gmm, funnel, manywell, dw4, lj13, aldp"
            ),
            _ => unreachable!(),
        }
        match Target::from_name("manywell", Some(3)) {
            Err(Error::InvalidConfig(msg)) => assert!(msg.contains("even")),
            _ => unreachable!(),
        }
        match Target::from_name("9gmm", Some(3)) {
            Err(Error::InvalidConfig(msg)) => assert_eq!(msg, "9gmm: dim must be 2"),
            _ => unreachable!(),
        }
    }
}
