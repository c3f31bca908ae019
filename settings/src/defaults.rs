//! The defaults of a continuous run (RSMC's gradient-free setting scaled to a CPU budget;
//! the paper's values are in the kernel's `train::Config` docs); the per-target choices are
//! in [`crate::targets`].
//! The CLI's `--help` shows these constants; the playground starts from
//! [`crate::RunConfig::playground`].

/// Methods of `amortise train` on a continuous target.
pub const METHODS: [&str; 7] = [
    "tb",
    "tb-buffer",
    "rsmc",
    "rsmc-nobuffer",
    "smc",
    "vgs",
    "teacher",
];
/// The trained diffusion methods (the playground's `method` values).
pub const TRAINED: [&str; 3] = ["tb", "tb-buffer", "rsmc"];
/// Iterations.
pub const ITERS: u32 = 2000;
/// Training batch `B` (paper: 2000).
pub const BATCH: usize = 300;
/// SMC particles `N` of rsmc (paper: 2000); rsmc-nobuffer trains on them, so they equal
/// [`BATCH`].
pub const PARTICLES: usize = 300;
/// Particles of the annealed SMC baseline (`--method smc`).
pub const SMC_PARTICLES: usize = 2000;
/// Temperatures `K` of the annealed SMC baseline's geometric schedule (`--temperatures`;
/// the seeds' `num_temps`).
pub const TEMPERATURES: u32 = 128;
/// Diffusion steps `T` (paper: 64).
pub const STEPS: usize = 64;
/// Policy and flow widths, Fourier harmonics.
pub const WIDTH: usize = 64;
/// Policy (and flow) learning rate.
pub const LR: f32 = 1e-3;
/// Replay buffer capacity (paper: 200,000).
pub const BUFFER: usize = 30_000;
/// SMC runs prefilling the buffer (paper: 100).
pub const PREFILL: u32 = 20;
/// SMC / SubTB chunk length `L` (paper: 4).
pub const CHUNK: usize = 4;
/// Model and ground-truth samples per evaluation.
pub const EVAL_SAMPLES: usize = 2000;
/// The OU reference's cos⁴ schedule needs at least this many steps (with fewer, `α₀ ≥ 1`:
/// `samplers::diffusion::reference`).
pub const OU_MIN_STEPS: usize = 15;

/// Particles by method: the annealed baseline runs [`SMC_PARTICLES`], rsmc [`PARTICLES`].
pub fn particles(method: &str) -> usize {
    if method == "smc" {
        SMC_PARTICLES
    } else {
        PARTICLES
    }
}

/// MALA step size of the buffer's MCMC augmentation (`--buffer-mcmc-step`): the seeds'
/// `--mcmc_step_size` default.
pub const BUFFER_MCMC_STEP: f32 = 0.001;
