//! The [`Target`] enum (run-time choice of target by name) and the [`TARGETS`] table.

use super::{CorrGaussian2, Dw4, Funnel, Gaussian, Gmm40, GridGmm, Lj13, LogDensity, ManyWell};
use crate::error::Error;
use crate::rng::Rng;

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

/// Every registered target, in listing order.
pub static TARGETS: &[TargetInfo] = &[
    TargetInfo {
        name: "gaussian",
        description: "isotropic Gaussian N(0, I) (sanity check)",
        default_dim: 2,
        dims: "≥ 1",
        log_z_known: true,
        has_sampler: true,
    },
    TargetInfo {
        name: "corr-gaussian",
        description: "2-D Gaussian, stds 1 and 2, correlation 0.9 (nalgebra Cholesky)",
        default_dim: 2,
        dims: "2",
        log_z_known: true,
        has_sampler: true,
    },
    TargetInfo {
        name: "gmm40",
        description: "40 unit-variance Gaussians, means in [-40, 40]^d (RSMC, Choi et al. 2025)",
        default_dim: 2,
        dims: "1..=64",
        log_z_known: true,
        has_sampler: true,
    },
    TargetInfo {
        name: "9gmm",
        description: "9 Gaussians on {-5, 0, 5}^2, variance 0.3 (VGS \"grid\")",
        default_dim: 2,
        dims: "2",
        log_z_known: true,
        has_sampler: true,
    },
    TargetInfo {
        name: "25gmm",
        description: "25 Gaussians on {-10, ..., 10}^2, variance 0.3 (gfn-diffusion)",
        default_dim: 2,
        dims: "2",
        log_z_known: true,
        has_sampler: true,
    },
    TargetInfo {
        name: "funnel",
        description: "Neal's funnel, x0 ~ N(0, 9), x_i | x0 ~ N(0, e^x0)",
        default_dim: 10,
        dims: "≥ 2",
        log_z_known: true,
        has_sampler: true,
    },
    TargetInfo {
        name: "manywell",
        description: "d/2 double wells -a^4 + 6a^2 + a/2 - b^2/2 (gfn-diffusion)",
        default_dim: 32,
        dims: "even ≥ 2",
        log_z_known: true,
        has_sampler: true,
    },
    TargetInfo {
        name: "dw4",
        description: "4 particles in 2-D, double-well pair potential (DEM / VGS)",
        default_dim: 8,
        dims: "8",
        log_z_known: false,
        has_sampler: false,
    },
    TargetInfo {
        name: "lj13",
        description: "13 Lennard-Jones particles in 3-D with harmonic tether (DEM / VGS)",
        default_dim: 39,
        dims: "39",
        log_z_known: false,
        has_sampler: false,
    },
];

/// Every concrete target behind one type, dispatching [`LogDensity`] by `match`.
///
/// Built by name with [`Target::from_name`], or directly from a concrete value with the
/// variant constructors. The `Gmm40` variant holds 10 KiB of means inline, so a `Target`
/// is about that size: keep it in a `static`, a `Box` on the host, or a long-lived stack
/// slot, rather than moving it around.
// The kernel has no allocator, so the 10 KiB `Gmm40` cannot be boxed; the size is documented.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Target {
    /// [`Gaussian`] (`gaussian`).
    Gaussian(Gaussian),
    /// [`CorrGaussian2`] (`corr-gaussian`).
    CorrGaussian(CorrGaussian2),
    /// [`Gmm40`] (`gmm40`).
    Gmm40(Gmm40),
    /// [`GridGmm`] (`9gmm`, `25gmm`).
    GridGmm(GridGmm),
    /// [`Funnel`] (`funnel`).
    Funnel(Funnel),
    /// [`ManyWell`] (`manywell`).
    ManyWell(ManyWell),
    /// [`Dw4`] (`dw4`).
    Dw4(Dw4),
    /// [`Lj13`] (`lj13`).
    Lj13(Lj13),
}

/// `Ok(())` when `dim` is `None` or equals the fixed dimension.
fn fixed_dim(dim: Option<usize>, want: usize, msg: &'static str) -> Result<(), Error> {
    match dim {
        Some(d) if d != want => Err(Error::InvalidConfig(msg)),
        _ => Ok(()),
    }
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
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("gaussian") {
            Gaussian::new(dim.unwrap_or(2), 0.0, 1.0)
                .map(Target::Gaussian)
                .map_err(|_| Error::InvalidConfig("gaussian: dim must be >= 1"))
        } else if is("corr-gaussian") {
            fixed_dim(dim, 2, "corr-gaussian: dim must be 2")?;
            Ok(Target::CorrGaussian(CorrGaussian2::default()))
        } else if is("gmm40") {
            Gmm40::new(dim.unwrap_or(2)).map(Target::Gmm40)
        } else if is("9gmm") {
            fixed_dim(dim, 2, "9gmm: dim must be 2")?;
            Ok(Target::GridGmm(GridGmm::nine()))
        } else if is("25gmm") {
            fixed_dim(dim, 2, "25gmm: dim must be 2")?;
            Ok(Target::GridGmm(GridGmm::twenty_five()))
        } else if is("funnel") {
            Funnel::new(dim.unwrap_or(10)).map(Target::Funnel)
        } else if is("manywell") {
            ManyWell::new(dim.unwrap_or(32)).map(Target::ManyWell)
        } else if is("dw4") {
            fixed_dim(dim, 8, "dw4: dim must be 8 (4 particles in 2-D)")?;
            Ok(Target::Dw4(Dw4))
        } else if is("lj13") {
            fixed_dim(dim, 39, "lj13: dim must be 39 (13 particles in 3-D)")?;
            Ok(Target::Lj13(Lj13))
        } else {
            Err(Error::InvalidConfig(
                "unknown target; expected one of gaussian, corr-gaussian, gmm40, 9gmm, 25gmm, \
                 funnel, manywell, dw4, lj13",
            ))
        }
    }

    /// The registry name of this target (`9gmm` or `25gmm` for a [`GridGmm`] with 3 or 5
    /// grid points per side, `gridgmm` for any other grid).
    pub fn name(&self) -> &'static str {
        match self {
            Target::Gaussian(_) => "gaussian",
            Target::CorrGaussian(_) => "corr-gaussian",
            Target::Gmm40(_) => "gmm40",
            Target::GridGmm(g) => match g.n_side() {
                3 => "9gmm",
                5 => "25gmm",
                _ => "gridgmm",
            },
            Target::Funnel(_) => "funnel",
            Target::ManyWell(_) => "manywell",
            Target::Dw4(_) => "dw4",
            Target::Lj13(_) => "lj13",
        }
    }

    /// The [`TARGETS`] row for [`Target::name`], if registered.
    pub fn info(&self) -> Option<&'static TargetInfo> {
        let n = self.name();
        TARGETS.iter().find(|i| i.name == n)
    }
}

/// Dispatches a `LogDensity` method to the wrapped target.
macro_rules! dispatch {
    ($self:expr, $t:ident => $e:expr) => {
        match $self {
            Target::Gaussian($t) => $e,
            Target::CorrGaussian($t) => $e,
            Target::Gmm40($t) => $e,
            Target::GridGmm($t) => $e,
            Target::Funnel($t) => $e,
            Target::ManyWell($t) => $e,
            Target::Dw4($t) => $e,
            Target::Lj13($t) => $e,
        }
    };
}

impl LogDensity for Target {
    fn dim(&self) -> usize {
        dispatch!(self, t => t.dim())
    }

    fn log_density(&self, x: &[f32]) -> f32 {
        dispatch!(self, t => t.log_density(x))
    }

    fn log_density_grad(&self, x: &[f32], grad: &mut [f32]) -> f32 {
        dispatch!(self, t => t.log_density_grad(x, grad))
    }

    fn log_z(&self) -> Option<f64> {
        dispatch!(self, t => t.log_z())
    }

    fn has_sampler(&self) -> bool {
        dispatch!(self, t => t.has_sampler())
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) -> Result<(), Error> {
        dispatch!(self, t => t.sample(rng, out))
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
        for info in TARGETS {
            let t = Target::from_name(info.name, None).unwrap();
            assert_eq!(t.name(), info.name);
            assert_eq!(t.info(), Some(info));
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
        }
        let mut names: std::vec::Vec<_> = TARGETS.iter().map(|i| i.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TARGETS.len());
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
        assert_eq!(Target::from_name("funnel", Some(2)).unwrap().dim(), 2);
        assert_eq!(Target::from_name("manywell", Some(64)).unwrap().dim(), 64);
        let mw = Target::from_name("manywell", None).unwrap();
        assert!((mw.log_z().unwrap() - 164.695_675_32).abs() < 1e-6);
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
            Err(Error::InvalidConfig(msg)) => assert!(msg.contains("manywell")),
            _ => unreachable!(),
        }
        match Target::from_name("manywell", Some(3)) {
            Err(Error::InvalidConfig(msg)) => assert!(msg.contains("even")),
            _ => unreachable!(),
        }
    }
}
