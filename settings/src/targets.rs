//! The per-target choices of the settings layer, one row per registered target
//! ([`amortise_kernel::targets::TARGETS`]) whose choices differ from [`FALLBACK`] or are
//! pinned to a published configuration (aldp): the
//! diffusion samplers' reference scale, the VGS settings, and what the playground offers on
//! it. The CLI's defaults, the playground's menus and its `target_list` all read this table,
//! so a new target that needs no choices of its own is a kernel file and a kernel registry
//! row only (`docs/design.md`, "Adding a target").

use amortise_kernel::samplers::vgs;
use amortise_kernel::targets::{self as kernel_targets, Dw4, Gmm40, GridGmm, Lj13};

/// What the playground offers on a target (all at `d = 2`, drawn as they are, or the 2-D
/// slice through coordinates 0 and 1 in higher dimensions).
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// Half-width of the square `[−half, half]²` the page draws.
    pub half: f32,
    /// Standard deviation of annealed SMC's start `N(0, σ² I)` (the page's "base std").
    pub smc_base_std: f32,
    /// The trained diffusion methods (tb, tb-buffer, rsmc) run on it.
    pub train: bool,
    /// VGS runs on it.
    pub vgs: bool,
    /// The page's mode counter at `d = 2`: the mode centres and the radius within which a
    /// sample counts as having found one; no centres for a target without separated modes
    /// (shown as "n/a").
    pub modes: fn() -> (Vec<[f32; 2]>, f32),
}

/// No separated modes.
fn no_modes() -> (Vec<[f32; 2]>, f32) {
    (Vec::new(), 0.0)
}

/// GMM40's 2-D means, radius 2 (two standard deviations).
fn gmm40_modes() -> (Vec<[f32; 2]>, f32) {
    (Gmm40::MEANS_2D.to_vec(), 2.0)
}

/// A grid mixture's means, radius two standard deviations.
fn grid_modes(g: GridGmm) -> (Vec<[f32; 2]>, f32) {
    let m = (0..g.n_components())
        .filter_map(|k| g.mean(k))
        .map(|[a, b]| [a as f32, b as f32])
        .collect();
    (m, 2.0 * g.var().sqrt() as f32)
}

/// ManyWell-2: `log p̃ = −a⁴ + 6a² + 0.5a − b²/2` has its two modes where
/// `−4a³ + 12a + 0.5 = 0` and `b = 0`, at `a ≈ −1.711` and `a ≈ 1.753`; `b` has unit
/// standard deviation, so the radius is 2 (the wells are 3.46 apart, so the two disks
/// overlap only at their rims, far out in `a` where the well has almost no mass).
fn manywell_modes() -> (Vec<[f32; 2]>, f32) {
    (vec![[-1.711, 0.0], [1.753, 0.0]], 2.0)
}

/// The choices of one target.
#[derive(Clone, Copy, Debug)]
pub struct TargetDefaults {
    /// Scale of the diffusion samplers' reference process (`--sigma`: the OU `σ`, or
    /// `√t_scale` of pinned Brownian motion): RSMC's `init_std` where the paper gives one
    /// (`rsmc.md` §2.1: 20 for GMM40), otherwise about the target's spread.
    pub sigma: f32,
    /// `(dimension, σ)` pairs that replace [`TargetDefaults::sigma`] at that dimension (RSMC's
    /// `init_std` differs by dimension on GMM40: 40 at `d = 50`); see
    /// [`TargetDefaults::sigma_at`].
    pub sigma_by_dim: &'static [(usize, f32)],
    /// The VGS settings before the flags (`train-vgs`, the page's VGS runs): report B3's
    /// settings of the target, or the 9-GMM ones.
    pub vgs: fn() -> vgs::Config,
    /// Noise scale `ν` of VGS's evaluation samples (`train-vgs --eval-noise`; LJ-13: 0.9 as
    /// the paper's notebook).
    pub vgs_eval_noise: f32,
    /// A particle system: `(particles, spatial dimension)`, for the centred-sample metrics
    /// and `vgs-reference`.
    pub particles: Option<(usize, usize)>,
    /// `vgs-reference --min-start-distance`: smallest pair distance of a chain's start.
    pub min_start_distance: f32,
    /// What the playground offers on it; `None`: not in its menu.
    pub page: Option<Page>,
    /// The annealed SMC baseline's HMC leapfrog step sizes at `β = 0` and `β ≥ 0.5`
    /// (`--smc-move hmc`; the seeds' `target.hmc.hmc_step_size`, the same at every
    /// dimension of a target).
    pub smc_hmc_step: [f32; 2],
    /// The annealed SMC baseline's random-walk proposal scales at `β = 0` and `β ≥ 0.5`
    /// (`--smc-move rwm`; the seeds' `target.mh.rwm_step_size`, given only for GMM40-2d/5d,
    /// Funnel and ManyWell-32; other targets take the fallback).
    pub smc_rwm_step: [f32; 2],
    /// `(dimension, σ)` pairs of the seeds' SMC base `N(0, σ² I)` (`target.smc.init_std`)
    /// where it differs from the reference scale [`TargetDefaults::sigma_at`]; used by
    /// `--preset paper --method smc` ([`TargetDefaults::smc_std_at`]).
    pub smc_std_by_dim: &'static [(usize, f32)],
}

/// The choices of a target without a row: `σ = 1`, the 9-GMM VGS settings, not on the page,
/// SMC move step sizes `[0.1, 0.1]` (the seeds' untuned default: their Gaussian and
/// ManyWell rows).
pub const FALLBACK: TargetDefaults = TargetDefaults {
    sigma: 1.0,
    sigma_by_dim: &[],
    vgs: vgs::Config::default,
    vgs_eval_noise: 1.0,
    particles: None,
    min_start_distance: 0.0,
    page: None,
    smc_hmc_step: [0.1, 0.1],
    smc_rwm_step: [0.1, 0.1],
    smc_std_by_dim: &[],
};

impl TargetDefaults {
    /// The reference scale at dimension `dim`: the [`TargetDefaults::sigma_by_dim`] entry for
    /// `dim`, else [`TargetDefaults::sigma`].
    pub fn sigma_at(&self, dim: usize) -> f32 {
        self.sigma_by_dim
            .iter()
            .find(|(d, _)| *d == dim)
            .map_or(self.sigma, |&(_, s)| s)
    }

    /// The seeds' SMC base scale at dimension `dim`: the [`TargetDefaults::smc_std_by_dim`]
    /// entry for `dim`, else [`TargetDefaults::sigma_at`].
    pub fn smc_std_at(&self, dim: usize) -> f32 {
        self.smc_std_by_dim
            .iter()
            .find(|(d, _)| *d == dim)
            .map_or(self.sigma_at(dim), |&(_, s)| s)
    }
}

/// GMM40's SMC baseline settings (the seeds' `gaussian_mixture40*.yaml`): HMC and RWM step
/// sizes `[0.2, 0.2]`; SMC base scale 40 at `d = 2` and `d = 50`, 20 at `d = 5` (the
/// reference's σ elsewhere).
const GMM40_SMC: TargetDefaults = TargetDefaults {
    smc_hmc_step: [0.2, 0.2],
    smc_rwm_step: [0.2, 0.2],
    smc_std_by_dim: &[(2, 40.0), (50, 40.0)],
    ..FALLBACK
};

/// The rows, by registry name.
pub const ROWS: &[(&str, TargetDefaults)] = &[
    (
        "gaussian",
        TargetDefaults {
            page: Some(Page {
                half: 4.0,
                smc_base_std: 2.0,
                train: false,
                vgs: false,
                modes: no_modes,
            }),
            ..FALLBACK
        },
    ),
    (
        "corr-gaussian",
        TargetDefaults {
            sigma: 2.0,
            page: Some(Page {
                half: 6.0,
                smc_base_std: 3.0,
                train: false,
                vgs: false,
                modes: no_modes,
            }),
            ..FALLBACK
        },
    ),
    (
        "gmm40",
        TargetDefaults {
            sigma: 20.0,
            page: Some(Page {
                half: 50.0,
                smc_base_std: 20.0,
                train: true,
                vgs: true,
                modes: gmm40_modes,
            }),
            ..GMM40_SMC
        },
    ),
    (
        // the paper's GMM40 (`rsmc.md` §2.1: init_std 20 at d = 2 and 5, 40 at d = 50)
        "gmm40-jax",
        TargetDefaults {
            sigma: 20.0,
            sigma_by_dim: &[(50, 40.0)],
            ..GMM40_SMC
        },
    ),
    (
        // the paper's MoS-50 (`rsmc.md` §2.1: init_std 15)
        "mos",
        TargetDefaults {
            sigma: 15.0,
            ..FALLBACK
        },
    ),
    (
        "9gmm",
        TargetDefaults {
            sigma: 5.0,
            page: Some(Page {
                half: 8.0,
                smc_base_std: 5.0,
                train: true,
                vgs: true,
                modes: || grid_modes(GridGmm::nine()),
            }),
            ..FALLBACK
        },
    ),
    (
        "25gmm",
        TargetDefaults {
            sigma: 10.0,
            page: Some(Page {
                half: 14.0,
                smc_base_std: 8.0,
                train: true,
                vgs: true,
                modes: || grid_modes(GridGmm::twenty_five()),
            }),
            ..FALLBACK
        },
    ),
    (
        "funnel",
        TargetDefaults {
            vgs: vgs::Config::funnel,
            // the seeds' funnel.yaml: small steps near the base, 0.1 from β = 0.5 on
            smc_hmc_step: [0.001, 0.1],
            smc_rwm_step: [0.001, 0.1],
            page: Some(Page {
                half: 10.0,
                smc_base_std: 3.0,
                train: true,
                vgs: false,
                modes: no_modes,
            }),
            ..FALLBACK
        },
    ),
    (
        "manywell",
        TargetDefaults {
            page: Some(Page {
                half: 3.5,
                smc_base_std: 2.0,
                train: true,
                vgs: false,
                modes: manywell_modes,
            }),
            ..FALLBACK
        },
    ),
    (
        "dw4",
        TargetDefaults {
            sigma: 2.0,
            vgs: vgs::Config::dw4,
            particles: Some((Dw4::N_PARTICLES, Dw4::SPATIAL_DIM)),
            ..FALLBACK
        },
    ),
    (
        "lj13",
        TargetDefaults {
            vgs: vgs::Config::lj13,
            vgs_eval_noise: 0.9,
            particles: Some((Lj13::N_PARTICLES, Lj13::SPATIAL_DIM)),
            min_start_distance: 0.8,
            ..FALLBACK
        },
    ),
    (
        "aldp",
        TargetDefaults {
            // RSMC `scripts/aldp.sh` (705bc0e): `--reference_process ou --init_std 1.0`, the
            // OU reference of scale 1 on the normalised 60-d internal coordinates (the
            // fallback's value, stated here because it is the paper's). Not a particle
            // system in x (internal coordinates, not Cartesian positions), so no VGS
            // particle settings; 60-d, so not on the 2-D playground.
            sigma: 1.0,
            ..FALLBACK
        },
    ),
];

/// The choices of the target `name` (ASCII-case-insensitive, as the kernel's registry;
/// [`FALLBACK`] without a row).
pub fn of(name: &str) -> &'static TargetDefaults {
    ROWS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(&FALLBACK, |(_, d)| d)
}

/// The registered targets the playground offers with `pick` (for example `|p| p.vgs`), in
/// the registry's order.
pub fn on_page(pick: fn(&Page) -> bool) -> Vec<&'static str> {
    kernel_targets::TARGETS
        .iter()
        .map(|t| t.name)
        .filter(|n| of(n).page.as_ref().is_some_and(pick))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use amortise_kernel::targets::{LogDensity, Target};

    #[test]
    fn every_row_names_a_registered_target_once() {
        for (i, (name, d)) in ROWS.iter().enumerate() {
            let t = Target::from_name(name, None).unwrap();
            assert!(ROWS[..i].iter().all(|(n, _)| n != name), "{name} twice");
            if let Some((p, k)) = d.particles {
                assert_eq!(p * k, t.dim(), "{name}");
            }
            if d.page.is_some_and(|p| p.train || p.vgs) {
                Target::from_name(name, Some(2)).unwrap();
            }
        }
    }

    #[test]
    fn lookups_fall_back() {
        assert_eq!(of("gmm40").sigma, 20.0);
        assert_eq!(of("GMM40").sigma, 20.0);
        assert_eq!(of("manywell").sigma, 1.0);
        assert_eq!(of("nope").sigma, 1.0);
        assert_eq!(of("gmm40").sigma_at(50), 20.0);
        assert_eq!(of("gmm40-jax").sigma_at(2), 20.0);
        assert_eq!(of("gmm40-jax").sigma_at(5), 20.0);
        assert_eq!(of("gmm40-jax").sigma_at(50), 40.0);
        assert_eq!(of("mos").sigma_at(50), 15.0);
        assert_eq!(of("manywell").sigma_at(64), 1.0);
        assert_eq!(of("lj13").vgs_eval_noise, 0.9);
        assert_eq!(of("gmm40").smc_hmc_step, [0.2, 0.2]);
        assert_eq!(of("gmm40-jax").smc_rwm_step, [0.2, 0.2]);
        assert_eq!(of("funnel").smc_hmc_step, [0.001, 0.1]);
        assert_eq!(of("manywell").smc_rwm_step, [0.1, 0.1]);
        assert_eq!(of("gmm40").smc_std_at(2), 40.0);
        assert_eq!(of("gmm40-jax").smc_std_at(5), 20.0);
        assert_eq!(of("gmm40-jax").smc_std_at(50), 40.0);
        assert_eq!(of("mos").smc_std_at(50), 15.0);
        assert_eq!(of("funnel").smc_std_at(10), 1.0);
        assert_eq!(of("aldp").sigma, 1.0);
        assert!(of("aldp").page.is_none() && of("aldp").particles.is_none());
        assert_eq!((of("funnel").vgs)().steps, 30);
        assert_eq!((of("25gmm").vgs)(), vgs::Config::default());
        assert_eq!(on_page(|p| p.vgs), ["gmm40", "9gmm", "25gmm"]);
        assert_eq!(
            on_page(|p| p.train),
            ["gmm40", "9gmm", "25gmm", "funnel", "manywell"]
        );
        assert_eq!(on_page(|_| true).len(), 7);
        let modes = |t: &str| of(t).page.map(|p| (p.modes)());
        assert_eq!(modes("9gmm").unwrap().0.len(), 9);
        assert_eq!(modes("25gmm").unwrap().0.len(), 25);
        assert_eq!(modes("gmm40").unwrap().0.len(), 40);
        assert_eq!(modes("manywell").unwrap().0.len(), 2);
        assert!(modes("funnel").unwrap().0.is_empty());
        assert!(modes("lj13").is_none());
    }
}
