//! Checkpoints: a JSON file holding the run configuration, the iteration and every trainable
//! parameter (floats written in shortest round-trip form, so loading restores the exact
//! bits), protected by an FNV-1a checksum of the parameter bits. Written atomically
//! (temporary file, then rename), so an interrupted write never leaves a corrupt file.

use serde::{Deserialize, Serialize};

use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};
use crate::run_config::RunConfig;

/// File-format tag.
pub const FORMAT: &str = "amortise-checkpoint";
/// Format version.
pub const VERSION: u32 = 1;

/// A saved model.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The run that produced it.
    pub config: RunConfig,
    /// Iterations trained.
    pub iteration: u32,
    /// Number of policy parameters at the start of `params`.
    pub policy_params: usize,
    /// Number of flow parameters after them.
    pub flow_params: usize,
    /// All trainable parameters `[policy | flows | log Z]`.
    pub params: Vec<f32>,
    /// FNV-1a 64 of the parameters' bits, hex.
    pub checksum: String,
}

/// FNV-1a 64 over the little-endian bits of `params`.
pub fn checksum(params: &[f32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in params {
        for byte in p.to_bits().to_le_bytes() {
            h ^= byte as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl Checkpoint {
    /// A checkpoint of `params`.
    pub fn new(
        config: RunConfig,
        iteration: u32,
        policy_params: usize,
        flow_params: usize,
        params: &[f32],
    ) -> Self {
        Checkpoint {
            format: FORMAT.into(),
            version: VERSION,
            config,
            iteration,
            policy_params,
            flow_params,
            params: params.to_vec(),
            checksum: checksum(params),
        }
    }

    /// Writes `DIR/checkpoint.json` atomically.
    pub fn save(&self, path: &str) -> CliResult<()> {
        let text = serde_json::to_string(self)
            .map_err(|e| CliError::file(path, format!("cannot encode checkpoint: {e}")))?;
        write_atomic(path, text.as_bytes())
    }

    /// Loads and verifies a checkpoint file (see [`Checkpoint::parse`]).
    pub fn load(path: &str) -> CliResult<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::file(path, format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parses and verifies checkpoint text (`path` only names the file in messages): format
    /// and version, the parameter checksum, the parameter counts, finite parameters, and a
    /// run configuration that `amortise train` itself would accept (the checksum covers
    /// only the parameters, so the configuration is validated like flags).
    pub fn parse(path: &str, text: &str) -> CliResult<Self> {
        let c: Checkpoint = serde_json::from_str(text)
            .map_err(|e| CliError::file(path, format!("not a valid checkpoint ({e})")))?;
        if c.format != FORMAT || c.version != VERSION {
            return Err(CliError::file(
                path,
                format!(
                    "unsupported checkpoint format `{}` version {}",
                    c.format, c.version
                ),
            ));
        }
        if checksum(&c.params) != c.checksum {
            return Err(CliError::file(
                path,
                "checkpoint is corrupt (parameter checksum mismatch)",
            ));
        }
        if c.policy_params
            .checked_add(c.flow_params)
            .and_then(|n| n.checked_add(1))
            != Some(c.params.len())
        {
            return Err(CliError::file(
                path,
                "checkpoint is corrupt (parameter counts disagree)",
            ));
        }
        if c.params.iter().any(|p| !p.is_finite()) {
            return Err(CliError::file(
                path,
                "checkpoint holds non-finite parameters",
            ));
        }
        crate::commands::train::validate_config(&c.config).map_err(|e| {
            CliError::file(path, format!("checkpoint configuration is invalid ({e})"))
        })?;
        Ok(c)
    }
}
