//! Command-line grammar (clap derive). Every command and flag has `--help` text.

use amortise_settings::discrete;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Amortised samplers: train, sample, evaluate and benchmark from the command line.
#[derive(Debug, Parser)]
#[command(name = "amortise", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Parses the command line as [`Parser::parse`] does (exiting on a usage error), and notes
/// in each [`ResumeArgs::given`] the flags given explicitly, so that `--resume` can refuse
/// the others by name.
pub fn parse() -> Cli {
    let cmd = Cli::command();
    let m = cmd.clone().get_matches();
    let mut cli = Cli::from_arg_matches(&m).unwrap_or_else(|e| e.format(&mut cmd.clone()).exit());
    let Some((name, sub)) = m.subcommand() else {
        return cli;
    };
    let Some(sc) = cmd.find_subcommand(name) else {
        return cli;
    };
    let given: Vec<String> = sc
        .get_arguments()
        .filter(|a| sub.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    match &mut cli.command {
        Command::Train(a) => a.run.resume.given = given,
        Command::TrainDiscrete(a) => a.run.resume.given = given,
        Command::TrainVgs(a) => a.resume.given = given,
        Command::Ebm(a) => a.resume.given = given,
        _ => {}
    }
    cli
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in targets, continuous and discrete (the environments of
    /// `train-discrete`): name, kind, dimensions, whether log Z is known (analytic, or exact by
    /// enumeration for the discrete ones) and `sample-target` has an exact sampler, and the
    /// `train --method` values each accepts.
    Targets {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a target's unnormalised log density and its gradient at one point.
    Logp {
        /// Target name (see `amortise targets`).
        #[arg(long)]
        target: String,
        /// Dimension, for targets that take one (defaults to the target's default).
        #[arg(long)]
        dim: Option<usize>,
        /// The point, comma-separated, e.g. `--point 0,0` (quote negative values: `--point=-1,2`).
        #[arg(long, allow_hyphen_values = true)]
        point: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Draw exact ground-truth samples from a target that has an exact sampler.
    SampleTarget {
        /// Target name (see `amortise targets`).
        #[arg(long)]
        target: String,
        /// Dimension, for targets that take one.
        #[arg(long)]
        dim: Option<usize>,
        /// Number of samples.
        #[arg(long)]
        n: usize,
        /// Random seed (the same seed gives the same file on every platform).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Clip every coordinate to [−B, B] after drawing (B > 0). `--target funnel --clip 30`
        /// writes the rows of the evaluation's ground truth, which clips the funnel's samples
        /// as the RSMC JAX code's `Funnel.sample` does; without it the samples are exact.
        #[arg(long, allow_negative_numbers = true)]
        clip: Option<f32>,
        /// Output CSV file (header x1..xd, one sample per row).
        #[arg(long)]
        out: String,
    },
    /// Train a sampler (tb, tb-buffer, rsmc, rsmc-nobuffer, vgs) or run the annealed SMC baseline (smc), evaluate
    /// it and write metrics.jsonl, summary.json, samples.csv, samples.svg and a checkpoint; on
    /// a discrete environment (sequence, grid, deceptive-grid, ising) train tb, db, subtb, rsmc
    /// or teacher as `train-discrete` does.
    Train(Box<TrainArgs>),
    /// Train a GFlowNet on a discrete environment (grid, deceptive-grid, sequence, ising) with
    /// tb, db, subtb, rsmc or teacher; evaluate against the exact target and write
    /// metrics.jsonl, summary.json, samples.csv and a checkpoint (`train --target ENV` does
    /// the same).
    TrainDiscrete(Box<TrainDiscreteArgs>),
    /// Draw samples from a trained checkpoint.
    Sample(SampleArgs),
    /// Run a whole experiment and write its markdown table.
    Experiment {
        /// Which experiment.
        #[arg(value_enum)]
        name: ExperimentName,
        /// Seeds per cell (default 3, or 1 with --quick).
        #[arg(long)]
        seeds: Option<u64>,
        /// Training iterations per run (--quick: 200).
        #[arg(long)]
        iters: Option<u32>,
        /// A short smoke-test budget (200 iterations, 1 seed unless --seeds is given).
        #[arg(long)]
        quick: bool,
        /// Runs in parallel (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Output folder.
        #[arg(long, default_value = "out/experiments")]
        out: String,
        /// rsmc-table and paper-table: run just these row groups, comma-separated (GMM40-2d,
        /// GMM40-5d, Funnel-10, ManyWell-32; rsmc-table also ManyWell-32-LP).
        #[arg(long, value_delimiter = ',')]
        rows: Option<Vec<String>>,
        /// paper-table and aldp-table: run just these methods, comma-separated (paper-table:
        /// tb, tb-buffer, rsmc-nobuffer, rsmc, smc-hmc, smc-rwm; aldp-table: rsmc, tb-buffer,
        /// tb, smc).
        #[arg(long, value_delimiter = ',')]
        methods: Option<Vec<String>>,
        /// paper-table and aldp-table: end every trained run of this invocation after
        /// iteration K (a piece of the run; the next invocation resumes with the same bits); 0
        /// only collects the table. rsmc-table takes only 0 (collect from --out).
        #[arg(long)]
        stop_at: Option<u32>,
        /// paper-table only: threads of each run (the results do not depend on it).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// aldp-table only: rows of each finished trained run's importance-weighted final
        /// comparison (default 1,000,000; 0: none).
        #[arg(long)]
        weighted_samples: Option<u64>,
        /// Extra flags for every `amortise train` run, after `--`.
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Benchmark the reference workload (the PyTorch CPU peer's TB training, eval, step).
    Bench {
        /// Which benchmark.
        #[arg(value_enum)]
        kind: BenchKind,
        /// Batch (tb, step: 300) or samples (eval: 2000).
        #[arg(long)]
        batch: Option<usize>,
        /// Euler–Maruyama steps T.
        #[arg(long, default_value_t = 100)]
        steps: usize,
        /// Policy hidden width (the reference workload: 64; the RSMC paper's shape: 256).
        #[arg(long, default_value_t = 64)]
        hidden: usize,
        /// Time-embedding harmonics of the policy (the reference's default 64).
        #[arg(long, default_value_t = 64)]
        harmonics: usize,
        /// Threads for `tb` (more than 1 uses the chunked runner: results depend on
        /// --grad-chunks, never on the thread count).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Fixed gradient chunks of the batch for `tb` (default: the single-batch kernel step
        /// with 1 thread, 8 chunks with more).
        #[arg(long)]
        grad_chunks: Option<usize>,
        /// Fixed policy variance (network output 2 instead of 4): the policy the browser
        /// playground trains, for comparing with `benches/wasm_tb.mjs`.
        #[arg(long)]
        fixed_variance: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Train the Value Gradient Sampler (VGS) on a target (9gmm, funnel, dw4, lj13 presets)
    /// and write metrics.jsonl, summary.json, samples.csv, samples.svg and checkpoint.json.
    TrainVgs(Box<TrainVgsArgs>),
    /// Train an energy-based model on 2-D synthetic data by contrastive divergence with VGS
    /// negatives; writes density.svg, samples.svg, metrics.jsonl and summary.json.
    Ebm(Box<EbmArgs>),
    /// Make reference samples for dw4 / lj13 with long independent MALA chains.
    VgsReference(Box<VgsReferenceArgs>),
    /// Compare two sample files with a divergence.
    Metric(Box<crate::commands::metric::MetricArgs>),
    /// Run independent MALA or HMC chains on a target from the rows of a sample file (or
    /// Gaussian starts) and write their states; prints acceptance and an energy (ALDP: basin
    /// population) trace.
    Mcmc(Box<crate::commands::mcmc::McmcArgs>),
}

/// Arguments of `amortise train`: what to train, then the argument groups (the groups of
/// `train-discrete` are shared; the discrete ones apply when `--target` is a discrete
/// environment).
/// `amortise sample`.
#[derive(Debug, Clone, clap::Args)]
pub struct SampleArgs {
    /// The checkpoint file, a resume snapshot (snapshot.gz), or the output folder of a run
    /// (its checkpoint.json, else its snapshot.gz).
    #[arg(long)]
    pub checkpoint: String,
    /// Number of samples.
    #[arg(long)]
    pub n: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output CSV file.
    #[arg(long)]
    pub out: String,
    /// Draw the samples by twisted SMC instead of the policy alone (diffusion checkpoints):
    /// the policy proposes, the learnt flows twist (rsmc; the geometric annealing path for
    /// a model without flows), with the run's chunk length and resampling rule; the rows
    /// are resampled from the final weights, so they are equally weighted.
    #[arg(long)]
    pub smc: bool,
    /// Particles per SMC pass (with --smc; default 10,000): --n rows come from
    /// ⌈n / particles⌉ independent passes.
    #[arg(long)]
    pub particles: Option<usize>,
    /// Also write each row's importance log weight `log R(x) + log p_B(τ | x) − log p_F(τ)`
    /// to FILE (one `log_w` column, the rows of --out in order; the rows themselves do not
    /// change). Diffusion and teacher checkpoints, not with --smc (its rows are equally
    /// weighted). `metric ramachandran --a-log-weights FILE` reweights with them.
    #[arg(long, value_name = "FILE")]
    pub log_weights: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Target name (see `amortise targets`), or a discrete environment: sequence, grid,
    /// deceptive-grid, ising (methods tb, db, subtb, rsmc, teacher; same as `train-discrete`).
    /// Required unless --resume.
    #[arg(
        long,
        required_unless_present = "resume",
        default_value = "",
        hide_default_value = true
    )]
    pub target: String,
    /// Method: tb, tb-buffer, rsmc (trained), rsmc-nobuffer (the paper's "TB + SMC" row: rsmc
    /// without buffer or prefill, each off-policy iteration training on the particles of its
    /// own SMC pass; --particles defaults to and must equal --batch), teacher (adaptive teacher: a student diffusion
    /// sampler trained on its own, teacher and buffer samples, and a teacher diffusion sampler
    /// trained towards the student's TB loss; Kim et al. 2025), smc (annealed SMC baseline, no
    /// training) or vgs (the Value Gradient Sampler; same trainer and outputs as `train-vgs`,
    /// using --iters, --steps, --batch, --hidden, --lr, --seed, --out, --eval-every,
    /// --eval-samples).
    #[arg(long, default_value = "rsmc")]
    pub method: String,
    /// A named setting that flags given with it override: paper (the RSMC paper's networks,
    /// batch, particles, buffer, steps, iterations and evaluation cadence; the gradient-based
    /// LP variant on GMM40-50d, ManyWell-64 and MoS; docs/results.md) or aldp (--target
    /// aldp at about two hours a run: tb, tb-buffer, rsmc, smc; docs/aldp.md).
    #[arg(long)]
    pub preset: Option<String>,
    /// Iterations, seed, output and evaluation.
    #[command(flatten)]
    pub run: RunArgs,
    /// Batch, networks and learning rate.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Replay buffer and SMC prefill.
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// Diffusion samplers and SMC on continuous targets.
    #[command(flatten)]
    pub diffusion: DiffusionArgs,
    /// The annealed SMC baseline (--method smc).
    #[command(flatten)]
    pub smc: SmcArgs,
    /// Discrete environments and GFlowNet trainers.
    #[command(flatten)]
    pub discrete: DiscreteArgs,
}

/// The annealed SMC baseline's choices (`train --method smc`; docs/cli.md).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Annealed SMC baseline (--method smc)")]
pub struct SmcArgs {
    /// Temperatures: adaptive (the next beta keeps the conditional ESS at 0.5; the default)
    /// or geometric (K fixed temperatures beta_k = k/(K-1), resampling below ESS/N = 0.3 at
    /// every one, the last included: the seeds' SMC baseline). --preset paper: geometric.
    #[arg(long)]
    pub smc_schedule: Option<String>,
    /// K of --smc-schedule geometric, both ends included (default 128, the seeds' num_temps).
    #[arg(long)]
    pub temperatures: Option<u32>,
    /// Markov move after each reweighting: mala (5 MALA steps, step size adapted towards
    /// acceptance 0.574; the default), hmc (the seeds': one transition of 10 leapfrog steps)
    /// or rwm (the seeds': 10 random-walk Metropolis transitions). --preset paper: hmc.
    #[arg(long)]
    pub smc_move: Option<String>,
    /// hmc and rwm: step sizes A,B at beta = 0 and from beta = 0.5 on, linear in between (one
    /// value: both), instead of the target's (GMM40 0.2,0.2; Funnel 0.001,0.1; others
    /// 0.1,0.1; docs/cli.md).
    #[arg(long, value_name = "A,B")]
    pub smc_step_sizes: Option<String>,
    /// Resampling scheme: systematic (the default) or multinomial (the seeds). --preset
    /// paper: multinomial.
    #[arg(long)]
    pub smc_resample: Option<String>,
    /// The evaluated samples: resampled (eval-samples equally weighted draws from the final
    /// weighted particles; the default) or particles (the first eval-samples final particles
    /// as they are, weights ignored, as the seeds evaluate). --preset paper: particles.
    #[arg(long)]
    pub smc_samples: Option<String>,
}

impl SmcArgs {
    /// The first flag given, for the methods and targets that do not use them.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.smc_schedule.is_some(), "--smc-schedule"),
            (self.temperatures.is_some(), "--temperatures"),
            (self.smc_move.is_some(), "--smc-move"),
            (self.smc_step_sizes.is_some(), "--smc-step-sizes"),
            (self.smc_resample.is_some(), "--smc-resample"),
            (self.smc_samples.is_some(), "--smc-samples"),
        ]
        .into_iter()
        .find_map(|(set, flag)| set.then_some(flag))
    }
}

/// Arguments of `amortise train-discrete`: the environment and method, then the groups it
/// shares with `train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainDiscreteArgs {
    /// Environment: grid, deceptive-grid, sequence or ising.
    #[arg(long, default_value = "sequence")]
    pub env: String,
    /// Method: tb, db, subtb, rsmc (discrete Reinforced SMC: TB + SubTB, SMC with learnt-flow
    /// twists into an importance-weighted buffer) or teacher (adaptive teacher, Kim et al.
    /// 2025).
    #[arg(long, default_value = "tb")]
    pub method: String,
    /// Iterations, seed, output and evaluation.
    #[command(flatten)]
    pub run: RunArgs,
    /// Batch, networks and learning rate.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Replay buffer and SMC prefill.
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// Discrete environments and GFlowNet trainers.
    #[command(flatten)]
    pub discrete: DiscreteArgs,
}

/// The run: dimension, length, seed, output folder and evaluation (`train`,
/// `train-discrete`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Run")]
pub struct RunArgs {
    /// Dimension, for targets that take one (discrete grid: d, default 2).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Training iterations (default 2000; --preset paper: 20000, LP targets 40000).
    #[arg(long)]
    pub iters: Option<u32>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (default out/TARGET-METHOD-sSEED; train-discrete: out/ENV-METHOD-sSEED).
    #[arg(long)]
    pub out: Option<String>,
    /// Evaluate every this many iterations (default iters/10).
    #[arg(long)]
    pub eval_every: Option<u32>,
    /// Samples per evaluation (model and ground truth; default 2000; discrete: 20000 in the
    /// final evaluation, at most 4096 in the others).
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// Resume snapshots and --resume.
    #[command(flatten)]
    pub resume: ResumeArgs,
}

/// Resume snapshots (`train`, `train-discrete`, `train-vgs`, `ebm`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ResumeArgs {
    /// Continue the run in this output folder from its resume snapshot (DIR/snapshot.gz),
    /// with the same bits as if it had never stopped: its settings come from the snapshot,
    /// so only --iters (to extend the run), --threads (runs with gradient chunks),
    /// --checkpoint-every, --stop-at and, for continuous diffusion runs, --eval-reference
    /// (the evaluations' target samples from then on; training keeps its bits) may be given
    /// with it.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<String>,
    /// Write the resume snapshot (OUT/snapshot.gz) every this many iterations (default 100;
    /// 0: only at the end and on Ctrl-C). A killed run loses at most the work since the
    /// last snapshot.
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u32>,
    /// End this invocation after iteration K (before --iters), writing the resume snapshot
    /// as the run's end would: a piece of a long run, continued by --resume with the same
    /// bits (unlike a shorter --iters, which moves the learning-rate drops).
    #[arg(long, value_name = "K")]
    pub stop_at: Option<u32>,
    /// The flags given on the command line (filled by [`parse`]; empty otherwise).
    #[arg(skip)]
    pub given: Vec<String>,
}

/// The batch, the networks and the learning rate (`train`, `train-discrete`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Model and optimiser")]
pub struct ModelArgs {
    /// Training batch size (default 300; vgs: per-target preset; discrete: trajectories per
    /// iteration, default 16).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Policy hidden width (default 64; --preset paper: 256, LP targets 64).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Flow network hidden width (rsmc; discrete rsmc: the separate state-flow network, the
    /// SMC twist; 0 = a head of the policy network, which db and subtb always use; default
    /// 64; --preset paper: 64, LP targets 256).
    #[arg(long)]
    pub flow_hidden: Option<usize>,
    /// Policy (and flow) learning rate (default 1e-3; vgs: per-target preset; discrete: log Z
    /// uses 1e-1).
    #[arg(long)]
    pub lr: Option<f32>,
}

/// The replay buffer and the SMC runs that fill it (`train`, `train-discrete`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Replay buffer and SMC")]
pub struct ReplayArgs {
    /// Replay buffer capacity (continuous tb-buffer, rsmc: default 30000; discrete: 0 = no
    /// buffer, odd iterations replay from it; rsmc default 100 x batch, and at least one SMC
    /// batch).
    #[arg(long)]
    pub buffer: Option<usize>,
    /// How the buffer is sampled: iw (importance weights, tempered; RSMC), reward (rank-based
    /// reward priority, gfn-diffusion / PRT) or uniform (default iw; discrete non-rsmc: reward;
    /// discrete rsmc accepts only iw).
    #[arg(long)]
    pub buffer_priority: Option<String>,
    /// rsmc: the log weight on-policy samples enter the buffer with: corrected (with
    /// -log p0(x0), an unbiased estimate of Z like the SMC weights; the default, as the seeds'
    /// submitted JAX code) or seed (their later JAX RSMC trainer, which omits -log p0(x0);
    /// docs/results.md measures both).
    #[arg(long)]
    pub buffer_weights: Option<String>,
    /// SMC runs that prefill the buffer before training (rsmc; default 20, discrete 4; each
    /// discrete run costs one batch of reward calls).
    #[arg(long)]
    pub prefill: Option<u32>,
    /// Chunk length L: SMC reweighting interval and SubTB chunk (rsmc; default 4; discrete:
    /// must divide the trajectory depth (sequence: len + 1), default 3 if it does, else 1).
    #[arg(long)]
    pub chunk: Option<usize>,
}

/// The diffusion samplers and the SMC baseline on continuous targets (`train`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Continuous targets")]
pub struct DiffusionArgs {
    /// SMC particles (default 300 for rsmc, 2000 for smc).
    #[arg(long)]
    pub particles: Option<usize>,
    /// Diffusion steps T (default 64; vgs: per-target preset 20, 30, 30, 100).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Reference process: ou (RSMC) or pinned (gfn-diffusion's pinned Brownian motion).
    #[arg(long, default_value = "ou")]
    pub reference: String,
    /// Scale of the reference: OU sigma, or sqrt(t_scale) for pinned (default per target).
    #[arg(long)]
    pub sigma: Option<f32>,
    /// Fourier harmonics of the time embedding (default 64; --preset paper: the policy
    /// width).
    #[arg(long)]
    pub harmonics: Option<usize>,
    /// The networks' form: pis (ours, the default) or jax (the RSMC JAX code's PISGRADNet:
    /// a head of two layers instead of three, Flax's LeCun-normal initialisation with zero
    /// biases, the flow network's time embedding at --flow-hidden harmonics, and one
    /// gradient clip over all parameters instead of one per group; docs/cli.md).
    #[arg(long)]
    pub net: Option<String>,
    /// The target samples every evaluation compares with (EUBO, MMD, Sinkhorn): exact (drawn
    /// with seed 0 by our sampler, the default) or paper (the RSMC seeds' own ground-truth
    /// set of 2000, gmm40-jax with --dim 2 or 5 only; --preset paper's choice there).
    #[arg(long)]
    pub eval_reference: Option<String>,
    /// Learn a per-coordinate variance correction.
    #[arg(long)]
    pub learned_variance: bool,
    /// Langevin-preconditioned drift (LP): add s(t) * clip(grad log R(x), +-100) with a
    /// learnt time-only scale network.
    #[arg(long)]
    pub langevin: bool,
    /// rsmc: start the learnt log Z at the mean log Z-hat of the prefill SMC runs (as the
    /// PyTorch RSMC code does) instead of 0 (the JAX code).
    #[arg(long)]
    pub init_log_z_smc: bool,
    /// tb, tb-buffer, rsmc: start the learnt log Z at the mean log importance weight of one
    /// on-policy batch (the log Z minimising that batch's TB loss) instead of 0.
    #[arg(long)]
    pub init_log_z_batch: bool,
    /// tb, tb-buffer, rsmc: start the learnt log Z at the log-mean-exp of the log importance
    /// weights of one on-policy batch (the importance-weighted estimate, as the RSMC PyTorch
    /// code's `--init_log_Z iw_elbo`; robust where a few untrained samples hit an energy cut).
    #[arg(long)]
    pub init_log_z_iw: bool,
    /// aldp only: reference samples of the target (CSV of 60-d sampler-space rows x, optional
    /// header, .gz allowed): KL divergences of phi, psi and the Ramachandran histogram against
    /// them, their basin populations, and eval-samples evenly spaced rows as the target
    /// samples of EUBO, MMD and Sinkhorn.
    #[arg(long)]
    pub aldp_reference: Option<String>,
    /// aldp only: the sampler's per-coordinate scale, none (the seeds' coordinates x; the
    /// default) or md (the sampler works in y = x / s with s the MD reference's spread over
    /// sigma 0.5; the aldp preset's choice). Sample files are in x either way (docs/aldp.md).
    #[arg(long)]
    pub aldp_scale: Option<String>,
    /// aldp only: where the circular tanh map's seams sit, seeds (the default) or md (the aldp
    /// preset's choice: phi,
    /// psi and the two dihedrals moving with phi get their seams at the MD reference's
    /// emptiest angles; --aldp-scale md then uses the spread in those coordinates). The same
    /// target after a change of variables; sample files are in x either way (docs/aldp.md).
    #[arg(long)]
    pub aldp_seams: Option<String>,
    /// Exploration standard deviation added when sampling on-policy trajectories.
    #[arg(long, default_value_t = 0.0)]
    pub exploration: f32,
    /// Let --exploration fall linearly to 0 over this many iterations (gfn-diffusion's
    /// --exploration_wd is 5000; default: constant).
    #[arg(long, value_name = "N")]
    pub exploration_decay: Option<u32>,
    /// Training log R below this floor counts as zero reward: the trajectory leaves the
    /// TB/SubTB loss and an on-policy sample enters the buffer with weight 0 (for targets
    /// with an energy cut, e.g. --log-r-floor=-1000 on aldp; default: off). SMC weights and
    /// evaluations use the target as it is.
    #[arg(long, value_name = "LOGR", allow_negative_numbers = true)]
    pub log_r_floor: Option<f32>,
    /// Training log R below this floor is raised to it: the residual stays, bounded (the
    /// seeds' loss always clamps at -1e5; e.g. --log-r-clamp=-1000 on aldp; default: off).
    #[arg(long, value_name = "LOGR", allow_negative_numbers = true)]
    pub log_r_clamp: Option<f32>,
    /// Reward annealing: train on R^beta, beta rising linearly from this value in (0, 1] to
    /// 1 over --anneal-reward-iters iterations (e.g. 0.5: the target at twice its
    /// temperature first; default: off). Evaluations use the target itself.
    #[arg(long, value_name = "BETA")]
    pub anneal_reward: Option<f32>,
    /// Iterations over which --anneal-reward's power rises to 1.
    #[arg(long, value_name = "N")]
    pub anneal_reward_iters: Option<u32>,
    /// MCMC augmentation of the replay buffer (tb-buffer, rsmc), as the RSMC ALDP script's
    /// "+ MCMC" runs: every N iterations, walkers drawn from the buffer run MALA and every
    /// --buffer-mcmc-thin-th state enters the buffer with its walker's weight (default: off;
    /// 0 turns off the augmentation of `--preset aldp`'s rsmc).
    #[arg(long, value_name = "N")]
    pub buffer_mcmc_every: Option<u32>,
    /// Walkers per augmentation, at most the batch (default 200, or the batch if smaller).
    #[arg(long, value_name = "W")]
    pub buffer_mcmc_walkers: Option<u32>,
    /// MALA transitions per walker (default 500).
    #[arg(long, value_name = "S")]
    pub buffer_mcmc_steps: Option<u32>,
    /// Store every K-th transition's states (default 50).
    #[arg(long, value_name = "K")]
    pub buffer_mcmc_thin: Option<u32>,
    /// MALA step size h (default 0.001).
    #[arg(long, value_name = "H")]
    pub buffer_mcmc_step: Option<f32>,
    /// Log weight of the stored states: inherit (the entry the walker started from, the
    /// seeds' rule; default) or resampled (that weight divided by the entry's chance of
    /// being drawn, properly weighted; these states are then left out of
    /// --buffer-reweight-every; not in the papers).
    #[arg(long, value_name = "RULE")]
    pub buffer_mcmc_weights: Option<String>,
    /// Recompute every buffer entry's log weight under the current policy every N
    /// iterations (tb-buffer, rsmc; one backward trajectory per entry; not in the papers;
    /// default: never).
    #[arg(long, value_name = "N")]
    pub buffer_reweight_every: Option<u32>,
    /// Learning rate of the learnt log Z (default 0.1, the RSMC paper's; the seeds' ALDP
    /// script uses 0.05). Adam moves log Z by about this much an iteration at most.
    #[arg(long, value_name = "LR")]
    pub lr_log_z: Option<f32>,
    /// Threads for --method tb, tb-buffer and rsmc (more than 1 uses the chunked runner).
    /// Results depend on --grad-chunks, never on the thread count.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Split each batch (and rsmc's SMC particles) into this many fixed chunks, each with
    /// its own random stream (default: the single-batch kernel step with 1 thread, 8 chunks
    /// with more).
    #[arg(long)]
    pub grad_chunks: Option<usize>,
}

/// The discrete environments and the GFlowNet trainers (`train --target ENV`,
/// `train-discrete`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Discrete targets")]
pub struct DiscreteArgs {
    /// Grid side H (default 16) or Ising lattice side (default 3).
    #[arg(long)]
    pub side: Option<usize>,
    /// Sequence length.
    #[arg(long, default_value_t = discrete::LEN)]
    pub len: usize,
    /// Sequence alphabet size.
    #[arg(long, default_value_t = discrete::ALPHABET)]
    pub alphabet: usize,
    /// Planted modes of the sequence reward.
    #[arg(long, default_value_t = discrete::MODES)]
    pub modes: usize,
    /// Temperature of the sequence reward.
    #[arg(long, default_value_t = discrete::TEMPERATURE)]
    pub temperature: f32,
    /// Reward floor of the sequence reward.
    #[arg(long, default_value_t = discrete::FLOOR)]
    pub floor: f32,
    /// Seed of the planted sequence modes.
    #[arg(long, default_value_t = 0)]
    pub env_seed: u64,
    /// Ising coupling J.
    #[arg(long, default_value_t = discrete::COUPLING, allow_hyphen_values = true)]
    pub coupling: f32,
    /// Ising field h.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub field: f32,
    /// Epsilon-uniform exploration of the on-policy sampler.
    #[arg(long, default_value_t = 0.0)]
    pub epsilon: f32,
    /// Learn the backward policy (default: uniform over parents).
    #[arg(long)]
    pub learn_pb: bool,
    /// Method teacher: exponent alpha of R(x)^alpha in the teacher reward.
    #[arg(long, default_value_t = 0.0)]
    pub teacher_alpha: f32,
    /// rsmc: off-policy (SMC + buffer) iterations per on-policy iteration (default 2).
    #[arg(long)]
    pub replay_ratio: Option<u32>,
    /// iw buffer priority: target ESS fraction of the global buffer tempering (RSMC
    /// `buffer.target_ess`; default 0.05).
    #[arg(long)]
    pub buffer_ess: Option<f64>,
    /// rsmc: resample when the SMC ESS fraction falls below this (`smc.resample_threshold`;
    /// default 0.2).
    #[arg(long)]
    pub resample_threshold: Option<f64>,
    /// rsmc: weight of the SubTB (flow) term of the TB + SubTB loss (`subtb_weight`;
    /// default 1).
    #[arg(long)]
    pub subtb_weight: Option<f32>,
}

/// Experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExperimentName {
    /// tb, tb-buffer, rsmc and smc on GMM40-2d, GMM40-5d, Funnel-10 and ManyWell-32.
    RsmcTable,
    /// tb vs the adaptive teacher on the deceptive 2-D grid (H = 16): modes found and
    /// visited states until all modes are found.
    TeacherGrid,
    /// VGS on 9gmm (T = 5, 10, 20), funnel (T = 10, 30), dw4 (T = 10, 30) and lj13 (T = 10, 30,
    /// 100): quality against the number of steps.
    VgsTable,
    /// tb, db, subtb, rsmc and teacher on the sequence target and the hypergrid at an equal
    /// number of reward calls: TV, JSD, log Z error and modes found (mean ± std over seeds).
    DiscreteTable,
    /// The RSMC paper's continuous table at `--preset paper` (TB, TB + IW-buffer, TB + SMC,
    /// RSMC, SMC-HMC, SMC-RWM on GMM40-2d/5d, Funnel-10, ManyWell-32), run in resumable
    /// pieces (`--stop-at`) and collected with the published numbers.
    PaperTable,
    /// Alanine dipeptide at `--preset aldp` (RSMC, TB + IW-buffer, TB, annealed SMC), run in
    /// resumable pieces (`--stop-at`), with the final 100,000-sample comparison of each
    /// finished run against the reference.
    AldpTable,
}

/// Benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchKind {
    /// On-policy TB training iterations (T = 100, batch 300).
    Tb,
    /// A no-grad rollout of 2000 samples.
    Eval,
    /// One forward + backward + Adam step of the policy at batch 300.
    Step,
    /// This core's attainable multiply-add rate (every bench reports a fraction of it).
    Peak,
}

/// Arguments of `amortise train-vgs`.
#[derive(Debug, clap::Args)]
pub struct TrainVgsArgs {
    /// Target name: 9gmm, funnel, dw4, lj13 (paper presets) or any other target (9gmm
    /// settings). Required unless --resume.
    #[arg(
        long,
        required_unless_present = "resume",
        default_value = "",
        hide_default_value = true
    )]
    pub target: String,
    /// Training iterations (behaviour batch + TD update each).
    #[arg(long, default_value_t = amortise_settings::vgs::ITERS)]
    pub iters: u32,
    /// Steps T (default per target: 20, 30, 30, 100).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Batch B (default per target).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Hidden width of the value network (default 128).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Value learning rate (default per target).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (default `out/TARGET-vgs-T{steps}-s{seed}`).
    #[arg(long)]
    pub out: Option<String>,
    /// Evaluate every this many iterations (default iters/10).
    #[arg(long)]
    pub eval_every: Option<u32>,
    /// Samples per evaluation.
    #[arg(long, default_value_t = 2000)]
    pub eval_samples: usize,
    /// Noise scale nu at evaluation (default 1.0; 0.9 for lj13 as the paper's notebook).
    #[arg(long)]
    pub eval_noise: Option<f32>,
    /// Reference sample CSV for targets without an exact sampler (default data/TARGET-ref.csv).
    #[arg(long)]
    pub reference: Option<String>,
    /// Resume snapshots and --resume.
    #[command(flatten)]
    pub resume: ResumeArgs,
}

/// Arguments of `amortise ebm`.
#[derive(Debug, clap::Args)]
pub struct EbmArgs {
    /// Data set: moons, 8gaussians, checkerboard, rings (generated from the seed). Required
    /// unless --resume.
    #[arg(
        long,
        required_unless_present = "resume",
        default_value = "",
        hide_default_value = true
    )]
    pub data: String,
    /// Output folder. Required unless --resume.
    #[arg(
        long,
        required_unless_present = "resume",
        default_value = "",
        hide_default_value = true
    )]
    pub out: String,
    /// CD iterations (one VGS TD iteration, B negatives and one energy step each).
    #[arg(long, default_value_t = 1000)]
    pub iters: u32,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Batch B of data rows, negatives and VGS rollouts.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Hidden width of the energy MLP (3 hidden layers).
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Energy learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Weight gamma of the squared-energy regulariser (paper: 1 at D = 272; with D = 2 that
    /// caps the energy range near ±2, so the default here is 0.05).
    #[arg(long, default_value_t = 0.05)]
    pub gamma: f32,
    /// Learning rate of the VGS initial scale sigma_init.
    #[arg(long, default_value_t = 1e-2)]
    pub init_lr: f32,
    /// VGS steps T.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Hidden width of the VGS value network.
    #[arg(long, default_value_t = 64)]
    pub vgs_hidden: usize,
    /// VGS TD epochs per iteration (paper B1.4: 3).
    #[arg(long, default_value_t = 3)]
    pub n_update: u32,
    /// Evaluate every this many iterations (default iters/10).
    #[arg(long)]
    pub eval_every: Option<u32>,
    /// VGS samples and held-out data points per evaluation.
    #[arg(long, default_value_t = 1000)]
    pub eval_samples: usize,
    /// Resume snapshots and --resume.
    #[command(flatten)]
    pub resume: ResumeArgs,
}

/// Arguments of `amortise vgs-reference`.
#[derive(Debug, clap::Args)]
pub struct VgsReferenceArgs {
    /// dw4 or lj13.
    #[arg(long)]
    pub target: String,
    /// Independent chains (one sample each).
    #[arg(long, default_value_t = 2000)]
    pub chains: usize,
    /// MALA steps per chain (the first half adapts the step size and is discarded).
    #[arg(long, default_value_t = 20_000)]
    pub steps: usize,
    /// Initial MALA step size.
    #[arg(long, default_value_t = 1e-3)]
    pub step_size: f32,
    /// Standard deviation of the random starts.
    #[arg(long, default_value_t = 2.0)]
    pub init_scale: f32,
    /// Samples kept per chain, evenly spaced over the second (non-adapting) half, the last at
    /// the final step (thinning interval = half the steps / this). Rows are written
    /// sample-major (every chain's first kept state, then every chain's second, ...), so any
    /// prefix of the file spreads over all chains.
    #[arg(long, default_value_t = 1)]
    pub per_chain: usize,
    /// Smallest pair distance of a start: each particle is redrawn until it is at least this
    /// far from the ones before it (default: lj13 0.8, dw4 0 = plain Gaussian starts).
    #[arg(long)]
    pub min_start_distance: Option<f32>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output CSV; a name ending in `.gz` is written gzip-compressed (and read back
    /// transparently by `train-vgs --reference`).
    #[arg(long)]
    pub out: String,
}
