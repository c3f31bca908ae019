//! Evaluation of samplers on alanine dipeptide (`--target aldp`): the backbone dihedrals φ/ψ
//! of the 60-d samples, basin populations, FAB's histogram KL divergences against a
//! reference sample file, and the `samples.pdb` of sampled conformations.
//!
//! - **Angles**: φ (atoms 4-6-8-14) and ψ (6-8-14-16) of each 60-d row `x`, through the
//!   target's own reconstruction `x → z → X` ([`Aldp::phi_psi`], mdtraj's dihedral
//!   convention). A row whose angles are not finite (only possible for non-finite `x`) is
//!   counted as `unclassified` and left out of the histograms, as FAB drops NaN angles.
//! - **Basins** ([`Basin`]): β/C7eq, αR (`φ ≤ 0°`, `−120° ≤ ψ < 50°`), αL (`φ > 0°`);
//!   populations are fractions of all rows (with the unclassified fraction they sum to 1).
//!   `alpha_l_wells` is the part of αL with `φ ≤ 120°` (the αL and C7ax wells, as opposed
//!   to the extended region's continuation across `φ = ±180°`).
//! - **KL divergences** (FAB's `evaluate_aldp`): φ and ψ histograms with 200 bins on
//!   `[−π, π]`, the Ramachandran histogram with 64 × 64 bins on `[−π, π]²`; densities with
//!   `ε = 10⁻¹⁰` added, `KL(reference ‖ model) = cell · Σ p ln((p + ε)/(q + ε))`
//!   ([`kl_density_histograms`]).
//! - **Reference file** (`train --aldp-reference FILE`): 60-d sampler-space rows `x`, comma
//!   separated, an optional header line, gzip-compressed if the name ends in `.gz` (the
//!   sample CSV format of `amortise`, [`crate::csv`]). [`Reference::eubo_rows`] evenly
//!   spaced rows serve as the target samples of EUBO, MMD and Sinkhorn, except that a row
//!   the target cuts (`E(x) ≥` [`Aldp::ENERGY_CUT`]: the seeds' chirality test fails, or
//!   the energy is beyond the cut) is not a sample of the target (its density is below
//!   `e^{−10⁵}` of the rest) and is replaced by the next row that is; one such row among
//!   the target samples would put `−10⁵/n` into EUBO. The angles, populations and
//!   histograms use every row: they describe the MD ensemble the file holds.
//! - **`samples.pdb`**: the first [`PDB_MODELS`] samples as models of one PDB file
//!   ([`pdb_text`]), coordinates in Å of the gauge-fixed reconstruction.

use std::fmt::Write as _;

use amortise_kernel::metrics::histogram::{
    Bins, FAB_KL_EPS, histogram_1d_f64, histogram_2d, kl_density_histograms,
};
use amortise_kernel::targets::Aldp;
use amortise_kernel::targets::aldp::{Basin, DIM, N_ATOMS, Positions, params::NAMES};
use serde::Serialize;

use crate::error::{CliError, CliResult};

mod weighted;
pub use weighted::{
    WeightedHistograms, WeightedPopulations, kl_divergences_weighted, weighted_populations,
};

/// Bins of the φ and ψ histograms (FAB: 200).
pub const PHI_PSI_BINS: usize = 200;
/// Bins per axis of the Ramachandran histogram (FAB: 64).
pub const RAMA_BINS: usize = 64;
/// Number of sampled conformations written to `samples.pdb`.
pub const PDB_MODELS: usize = 100;
/// Largest φ (radians, 120°) counted in [`Populations::alpha_l_wells`].
pub const ALPHA_L_WELLS_MAX_PHI: f64 = 2.0 * core::f64::consts::FRAC_PI_3;
/// The flag that names the reference file.
pub const REFERENCE_FLAG: &str = "--aldp-reference";

/// The angle range `[−π, π]` with `n` bins.
pub(crate) fn angle_bins(n: usize) -> Bins {
    Bins {
        lo: -core::f64::consts::PI,
        hi: core::f64::consts::PI,
        n,
    }
}

/// `[φ, ψ]` of every 60-d row of `samples` (rows of another length are ignored).
pub fn angles(aldp: &Aldp, samples: &[f32]) -> Vec<[f64; 2]> {
    samples
        .chunks_exact(DIM)
        .map(|row| {
            let mut x = [0.0f64; DIM];
            for (o, &v) in x.iter_mut().zip(row) {
                *o = f64::from(v);
            }
            aldp.phi_psi(&x)
        })
        .collect()
}

/// Histograms and basin counts of one set of angles.
#[derive(Clone, Debug)]
pub struct AngleStats {
    /// φ counts, [`PHI_PSI_BINS`].
    pub phi: Vec<u32>,
    /// ψ counts, [`PHI_PSI_BINS`].
    pub psi: Vec<u32>,
    /// Ramachandran counts, `[φ bin][ψ bin]`, [`RAMA_BINS`]².
    pub rama: Vec<u32>,
    /// Rows per basin, in the order of [`Basin::ALL`].
    pub basins: [u64; 3],
    /// Rows of αL with `φ ≤ 120°`: the αL and C7ax wells ([`Populations::alpha_l_wells`]).
    pub alpha_l_wells: u64,
    /// Rows with a non-finite angle.
    pub unclassified: u64,
}

impl AngleStats {
    /// Bins and classifies `angles`.
    pub fn new(angles: &[[f64; 2]]) -> CliResult<Self> {
        let finite: Vec<[f64; 2]> = angles
            .iter()
            .copied()
            .filter(|a| a[0].is_finite() && a[1].is_finite())
            .collect();
        let (phi_v, psi_v): (Vec<f64>, Vec<f64>) = finite.iter().map(|a| (a[0], a[1])).unzip();
        let k = |e| CliError::kernel("aldp histograms", e);
        let mut phi = vec![0u32; PHI_PSI_BINS];
        let mut psi = vec![0u32; PHI_PSI_BINS];
        let mut rama = vec![0u32; RAMA_BINS * RAMA_BINS];
        histogram_1d_f64(&phi_v, angle_bins(PHI_PSI_BINS), &mut phi).map_err(k)?;
        histogram_1d_f64(&psi_v, angle_bins(PHI_PSI_BINS), &mut psi).map_err(k)?;
        let rb = angle_bins(RAMA_BINS);
        histogram_2d(&phi_v, &psi_v, rb, rb, &mut rama).map_err(k)?;
        let mut basins = [0u64; 3];
        let mut unclassified = 0u64;
        let mut alpha_l_wells = 0u64;
        for &a in angles {
            match Basin::of(a[0], a[1]) {
                Some(b) => basins[b.index()] += 1,
                None => unclassified += 1,
            }
            if in_alpha_l_wells(a) {
                alpha_l_wells += 1;
            }
        }
        Ok(Self {
            phi,
            psi,
            rama,
            basins,
            alpha_l_wells,
            unclassified,
        })
    }

    /// Basin populations as fractions of all rows.
    pub fn populations(&self) -> Populations {
        let n = self.basins.iter().sum::<u64>() + self.unclassified;
        let f = |c: u64| if n == 0 { 0.0 } else { c as f64 / n as f64 };
        Populations {
            n,
            beta_c7eq: f(self.basins[0]),
            alpha_r: f(self.basins[1]),
            alpha_l: f(self.basins[2]),
            alpha_l_wells: f(self.alpha_l_wells),
            unclassified: f(self.unclassified),
        }
    }
}

/// Whether `[φ, ψ]` lies in the αL and C7ax wells (`0° < φ ≤ 120°`).
pub(crate) fn in_alpha_l_wells(a: [f64; 2]) -> bool {
    a[0] > 0.0 && a[0] <= ALPHA_L_WELLS_MAX_PHI
}

/// Basin populations (fractions of `n`; the four sum to 1).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Populations {
    /// Number of samples.
    pub n: u64,
    /// β/C7eq: `φ ≤ 0°` and `ψ ≥ 50°` or `ψ < −120°`.
    pub beta_c7eq: f64,
    /// αR: `φ ≤ 0°` and `−120° ≤ ψ < 50°`.
    pub alpha_r: f64,
    /// αL (and C7ax): `φ > 0°`.
    pub alpha_l: f64,
    /// The part of `alpha_l` with `0° < φ ≤ 120°`: the αL and C7ax wells themselves. The
    /// rest of αL, `φ > 120°`, continues the extended (β) region across `φ = ±180°`; a
    /// sampler that blurs β over that edge scores αL there without reaching the wells.
    pub alpha_l_wells: f64,
    /// Samples with a non-finite angle.
    pub unclassified: f64,
}

/// A reference sample of the target, read from [`REFERENCE_FLAG`].
#[derive(Clone, Debug)]
pub struct Reference {
    /// The file.
    pub path: String,
    /// Rows in the file.
    pub rows: usize,
    /// `[φ, ψ]` of every row.
    pub angles: Vec<[f64; 2]>,
    /// Their histograms and basins.
    pub stats: AngleStats,
    /// `n` evenly spaced rows (all if the file has fewer), each the first row from its
    /// place on that the target does not cut: the target samples of EUBO, MMD and Sinkhorn.
    pub subsample: Vec<f32>,
    /// How many of the evenly spaced rows were cut by the target and replaced by a later
    /// row (or dropped, when none was left before the next place).
    pub cut_rows_replaced: usize,
}

impl Reference {
    /// Reads `path` (see the module documentation for the format) and keeps `n` evenly
    /// spaced rows as the target samples: for `k < n` the first row from `⌊k·rows/n⌋` on
    /// (and before the next place) whose energy is below the target's cut.
    ///
    /// # Errors
    /// A flag error for an unreadable file, rows that are not 60-d, or a file whose every
    /// row the target cuts.
    pub fn load(aldp: &Aldp, path: &str, n: usize) -> CliResult<Self> {
        let s =
            crate::csv::read(path).map_err(|e| CliError::flag(REFERENCE_FLAG, e.to_string()))?;
        if s.dim != DIM {
            return Err(CliError::flag(
                REFERENCE_FLAG,
                format!("`{path}` has {} columns; aldp samples have {DIM}", s.dim),
            ));
        }
        let rows = s.n();
        let angles = angles(aldp, &s.data);
        let stats = AngleStats::new(&angles)?;
        let m = n.min(rows);
        let mut subsample = Vec::with_capacity(m * DIM);
        let mut cut_rows_replaced = 0;
        let row = |r: usize| &s.data[r * DIM..(r + 1) * DIM];
        for k in 0..m {
            let (from, to) = (k * rows / m, (k + 1) * rows / m);
            if let Some(r) = (from..to).find(|&r| !cut_by_target(aldp, row(r))) {
                subsample.extend_from_slice(row(r));
                cut_rows_replaced += usize::from(r != from);
            } else {
                cut_rows_replaced += 1;
            }
        }
        if m > 0 && subsample.is_empty() {
            return Err(CliError::flag(
                REFERENCE_FLAG,
                format!("`{path}`: the target cuts every row (energy at or above its cut)"),
            ));
        }
        Ok(Self {
            path: path.to_string(),
            rows,
            angles,
            stats,
            subsample,
            cut_rows_replaced,
        })
    }

    /// Number of rows used as target samples.
    pub fn eubo_rows(&self) -> usize {
        self.subsample.len() / DIM
    }
}

/// Whether the target's energy of the seeds'-coordinates row `x` is at or above its cut
/// (the chirality penalty, a clash beyond the cut, or a non-finite row).
fn cut_by_target(aldp: &Aldp, x: &[f32]) -> bool {
    let x: [f64; DIM] = core::array::from_fn(|k| f64::from(x[k]));
    let e = aldp.energy(&x);
    !(e < Aldp::ENERGY_CUT)
}

/// Where the playground's ALDP view reads its reference (`www/`, written by
/// `cargo run --example aldp_page_asset`).
pub const PAGE_ASSET: &str = "www/aldp-reference.json";
/// Decimals of the angles in [`PAGE_ASSET`] (10⁻⁴ rad: under a hundredth of a degree, far
/// below a pixel of the page's plot).
pub const PAGE_ASSET_DECIMALS: i32 = 4;

/// The playground's reference asset: what the ALDP view draws under the model's samples.
#[derive(Clone, Debug, Serialize)]
pub struct PageAsset {
    /// The reference file it was made from (relative to the repository).
    pub source: String,
    /// Its rows.
    pub rows: usize,
    /// Basin populations of all rows (from the unrounded angles).
    pub populations: Populations,
    /// The ψ range of αR in radians (`Basin::ALPHA_R_PSI`), for the plot's boundaries.
    pub alpha_r_psi: [f64; 2],
    /// φ of every row, radians, [`PAGE_ASSET_DECIMALS`] decimals.
    pub phi: Vec<f64>,
    /// ψ of every row, the same.
    pub psi: Vec<f64>,
}

impl PageAsset {
    /// The asset of `reference`, read from `source`.
    pub fn new(reference: &Reference, source: &str) -> Self {
        let scale = 10f64.powi(PAGE_ASSET_DECIMALS);
        let round = |v: f64| (v * scale).round() / scale;
        Self {
            source: source.to_string(),
            rows: reference.rows,
            populations: reference.stats.populations(),
            alpha_r_psi: Basin::ALPHA_R_PSI,
            phi: reference.angles.iter().map(|a| round(a[0])).collect(),
            psi: reference.angles.iter().map(|a| round(a[1])).collect(),
        }
    }

    /// The JSON text of the asset (one line, then a newline).
    ///
    /// # Errors
    /// A non-finite number (JSON has none).
    pub fn json(&self) -> CliResult<String> {
        let all = self.phi.iter().chain(&self.psi);
        if !all.into_iter().all(|v| v.is_finite()) {
            return Err(CliError::file(
                &self.source,
                "has rows without finite angles",
            ));
        }
        serde_json::to_string(self)
            .map(|t| t + "\n")
            .map_err(|e| CliError::file(&self.source, e.to_string()))
    }
}

/// What an evaluation on aldp carries: the target and the optional reference.
#[derive(Clone, Debug)]
pub struct AldpEval {
    /// The target (its reconstruction gives the angles).
    pub aldp: Aldp,
    /// The reference sample, if given.
    pub reference: Option<Reference>,
}

/// The reference part of [`AldpMetrics`].
#[derive(Clone, Debug, Serialize)]
pub struct ReferenceSummary {
    /// The file.
    pub file: String,
    /// Its rows.
    pub rows: usize,
    /// Rows used as the target samples of EUBO, MMD and Sinkhorn.
    pub eubo_rows: usize,
    /// Of the evenly spaced rows, how many the target cuts (replaced by the next row it
    /// does not cut; see the module documentation).
    pub cut_rows_replaced: usize,
    /// Its basin populations.
    pub populations: Populations,
}

/// The φ/ψ metrics of one evaluation (`summary.json` field `aldp`).
#[derive(Clone, Debug, Serialize)]
pub struct AldpMetrics {
    /// Basin populations of the model samples.
    pub populations: Populations,
    /// The reference, if given.
    pub reference: Option<ReferenceSummary>,
    /// `KL(reference ‖ model)` of the φ histograms (200 bins); `null` without a reference
    /// or without a finite model angle.
    pub kl_phi: Option<f64>,
    /// The same for ψ.
    pub kl_psi: Option<f64>,
    /// The same for the 64 × 64 Ramachandran histogram.
    pub kl_ramachandran: Option<f64>,
    /// How EUBO was computed, or why it is missing.
    pub eubo_note: &'static str,
}

/// FAB's `[KL_φ, KL_ψ, KL_Ramachandran]` of `KL(reference ‖ model)` (see the module
/// documentation); `None` where a histogram is empty.
pub fn kl_divergences(reference: &AngleStats, model: &AngleStats) -> [Option<f64>; 3] {
    let w1 = angle_bins(PHI_PSI_BINS).width();
    let w2 = angle_bins(RAMA_BINS).width();
    let kl = |p: &[u32], q: &[u32], cell: f64| kl_density_histograms(p, q, cell, FAB_KL_EPS).ok();
    [
        kl(&reference.phi, &model.phi, w1),
        kl(&reference.psi, &model.psi, w1),
        kl(&reference.rama, &model.rama, w2 * w2),
    ]
}

/// The metrics of `samples` (60-d rows).
pub fn metrics(ev: &AldpEval, samples: &[f32]) -> CliResult<AldpMetrics> {
    let stats = AngleStats::new(&angles(&ev.aldp, samples))?;
    let populations = stats.populations();
    let Some(r) = &ev.reference else {
        return Ok(AldpMetrics {
            populations,
            reference: None,
            kl_phi: None,
            kl_psi: None,
            kl_ramachandran: None,
            eubo_note: "omitted: aldp has no exact sampler; pass --aldp-reference FILE",
        });
    };
    let [kl_phi, kl_psi, kl_ramachandran] = kl_divergences(&r.stats, &stats);
    Ok(AldpMetrics {
        populations,
        reference: Some(ReferenceSummary {
            file: r.path.clone(),
            rows: r.rows,
            eubo_rows: r.eubo_rows(),
            cut_rows_replaced: r.cut_rows_replaced,
            populations: r.stats.populations(),
        }),
        kl_phi,
        kl_psi,
        kl_ramachandran,
        eubo_note: "backward trajectories from the evenly spaced reference rows",
    })
}

/// `samples.pdb` and `ramachandran.svg` of a run's final samples in `out`.
/// `samples.pdb` holds the first [`PDB_MODELS`] samples whose coordinates [`fits_pdb`].
pub fn write_outputs(ev: &AldpEval, out: &str, samples: &[f32], title: &str) -> CliResult<()> {
    let models: Vec<Positions> = samples
        .chunks_exact(DIM)
        .map(|row| {
            let mut x = [0.0f64; DIM];
            for (o, &v) in x.iter_mut().zip(row) {
                *o = f64::from(v);
            }
            let (z, _) = Aldp::z_from_x(&x);
            ev.aldp.positions_from_z(&z).0
        })
        .filter(fits_pdb)
        .take(PDB_MODELS)
        .collect();
    crate::csv::write_atomic(&format!("{out}/samples.pdb"), pdb_text(&models).as_bytes())?;
    let reference = ev.reference.as_ref().map(|r| r.angles.as_slice());
    crate::plot::ramachandran_svg(
        &format!("{out}/ramachandran.svg"),
        &angles(&ev.aldp, samples),
        reference,
        title,
    )
}

/// Whether every coordinate is finite and fits the PDB's `8.3f` fields in Å
/// (`|10·x| < 999.9995`, i.e. below about 100 nm; a sample with a runaway bond does not).
pub fn fits_pdb(pos: &Positions) -> bool {
    pos.iter().flatten().all(|&c| (10.0 * c).abs() < 999.9995)
}

/// Residue of each atom: `(record, residue name, residue number)`, as in RSMC's `aldp.pdb`
/// (written by OpenMM: `HETATM` for the ACE and NME caps, `ATOM` for ALA, chain A).
pub const RESIDUES: [(&str, &str, u32); N_ATOMS] = {
    const ACE: (&str, &str, u32) = ("HETATM", "ACE", 1);
    const ALA: (&str, &str, u32) = ("ATOM", "ALA", 2);
    const NME: (&str, &str, u32) = ("HETATM", "NME", 3);
    [
        ACE, ACE, ACE, ACE, ACE, ACE, ALA, ALA, ALA, ALA, ALA, ALA, ALA, ALA, ALA, ALA, NME, NME,
        NME, NME, NME, NME,
    ]
};

/// The PDB atom-name field (columns 13–16): names of fewer than four characters start in
/// column 14, as the PDB format aligns element symbols.
fn atom_name_field(name: &str) -> String {
    if name.len() >= 4 {
        name.to_string()
    } else {
        format!(" {name:<3}")
    }
}

/// A multi-model PDB file of `models` (positions in nm, written in Å = 10 × nm with three
/// decimals): per model `MODEL`, one `ATOM`/`HETATM` record per atom with the names,
/// residues and numbering of `aldp.pdb`, `TER`, `ENDMDL`; then `END`. Columns follow the
/// PDB 3.3 specification (serial 7–11, name 13–16, residue 18–20, chain 22, residue number
/// 23–26, x/y/z 31–54 as `8.3f`, occupancy 55–60, B-factor 61–66, element 77–78). The
/// caller keeps coordinates within the fields ([`fits_pdb`]).
pub fn pdb_text(models: &[Positions]) -> String {
    let mut s = String::new();
    s.push_str("REMARK   1 ALANINE DIPEPTIDE SAMPLES WRITTEN BY AMORTISE (GAUGE-FIXED FRAME)\n");
    for (m, pos) in models.iter().enumerate() {
        let _ = writeln!(s, "MODEL     {:>4}", m + 1);
        for (i, p) in pos.iter().enumerate() {
            let (record, res, resi) = RESIDUES[i];
            let name = NAMES[i];
            let element = &name[..1];
            let _ = writeln!(
                s,
                "{record:<6}{:>5} {}{:1}{res:>3} {:1}{resi:>4}{:1}   {:>8.3}{:>8.3}{:>8.3}{:>6.2}{:>6.2}          {element:>2}  ",
                i + 1,
                atom_name_field(name),
                "",
                "A",
                "",
                10.0 * p[0],
                10.0 * p[1],
                10.0 * p[2],
                1.0,
                0.0,
            );
        }
        let _ = writeln!(s, "TER   {:>5}      NME A   3", N_ATOMS + 1);
        s.push_str("ENDMDL\n");
    }
    s.push_str("END\n");
    s
}
