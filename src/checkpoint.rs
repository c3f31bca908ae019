//! Checkpoints: one JSON file format for every trained method.
//!
//! Version 2 (written by every trainer):
//!
//! ```json
//! { "format": "amortise-checkpoint", "version": 2,
//!   "kind": "diffusion" | "teacher" | "vgs" | "ebm" | "discrete",
//!   "config": { …the kind's run settings… },
//!   "iteration": 120,
//!   "state": { "iteration": 120, "optim_steps": 120, "skipped_steps": 0, "counters": {…} },
//!   "groups": [ { "name": "policy", "len": 104 }, { "name": "log_z", "len": 1 } ],
//!   "params": [ …every group, in order… ],
//!   "checksum": "…FNV-1a 64 of the parameters' bits, hex…" }
//! ```
//!
//! The settings per kind: `diffusion` and `teacher` hold the [`RunConfig`] of
//! `amortise train`; `vgs` the resolved `train-vgs` settings
//! ([`crate::commands::vgs::VgsSettings`]); `ebm` the `amortise ebm` settings
//! ([`crate::commands::ebm::EbmSettings`]); `discrete` the resolved `train-discrete`
//! settings ([`crate::commands::discrete::DiscreteSettings`]: environment, method and
//! trainer flags). The groups per kind: diffusion `policy, flows, log_z`; teacher
//! `policy, log_z` (the student); vgs `value, value_target, log_sigma`; ebm
//! `energy, value, value_target, log_sigma` (the energy and its VGS negative sampler);
//! discrete `policy, flows, log_z` (the GFlowNet; `flows` is empty unless rsmc has a
//! separate flow network), and for the discrete teacher also `teacher_policy,
//! teacher_flows, teacher_log_z`. Another kind adds a variant of [`RunSettings`], its
//! groups and its checks in [`Checkpoint::parse`].
//!
//! Version 1 (diffusion only, before the run loop was shared: `config`, `iteration`,
//! `policy_params`, `flow_params`, `params`, `checksum`) still loads, as a `diffusion` (or,
//! for `"method": "teacher"`, a `teacher`) checkpoint without trainer state.
//!
//! Floats are written in shortest round-trip form, so loading restores the exact bits;
//! files are written atomically (temporary file, then rename), so an interrupted write
//! never leaves a corrupt file. Loading checks everything: format and version, the
//! checksum, group lengths against the parameters and against the settings, finite
//! parameters, and settings accepted by the same rules as the command's flags (the
//! checksum covers only the parameters).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::commands::{discrete::DiscreteSettings, ebm::EbmSettings, vgs::VgsSettings};
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};
use crate::run_config::RunConfig;

/// File-format tag.
pub const FORMAT: &str = "amortise-checkpoint";
/// Format version written.
pub const VERSION: u32 = 2;
/// The format `train-vgs` wrote before version 2 (rejected with a message that says so).
pub const OLD_VGS_FORMAT: &str = "amortise-vgs-checkpoint-1";

/// A named run of parameters inside [`Checkpoint::params`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Name (`policy`, `log_z`, `value`, …).
    pub name: String,
    /// Number of parameters.
    pub len: usize,
}

impl Group {
    /// A group.
    pub fn new(name: &str, len: usize) -> Self {
        Group {
            name: name.into(),
            len,
        }
    }
}

/// The trainer state that matters for resuming (the kernel `State`'s counters).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Iterations done.
    pub iteration: u32,
    /// Optimiser steps taken (Adam's `t` of the main parameters).
    pub optim_steps: u32,
    /// Optimiser steps skipped (non-finite gradient norm).
    pub skipped_steps: u32,
    /// Further counters of the kind (e.g. `smc_runs`, `buffer_len`, `sigma_optim_steps`).
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
}

/// The run settings of a checkpoint, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum RunSettings {
    /// `amortise train --method tb | tb-buffer | rsmc`.
    Diffusion(RunConfig),
    /// `amortise train --method teacher` on a continuous target (the student is saved).
    Teacher(RunConfig),
    /// `amortise train-vgs` / `train --method vgs`.
    Vgs(VgsSettings),
    /// `amortise ebm`.
    Ebm(EbmSettings),
    /// `amortise train-discrete` / `train --target ENV` (a GFlowNet, or the discrete
    /// teacher's student and teacher).
    Discrete(DiscreteSettings),
}

impl RunSettings {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            RunSettings::Diffusion(_) => "diffusion",
            RunSettings::Teacher(_) => "teacher",
            RunSettings::Vgs(_) => "vgs",
            RunSettings::Ebm(_) => "ebm",
            RunSettings::Discrete(_) => "discrete",
        }
    }

    /// The settings to serialise as they are (not through `serde_json::Value`, which would
    /// widen every `f32` to its `f64` digits).
    pub(crate) fn as_config(&self) -> impl Serialize + '_ {
        match self {
            RunSettings::Diffusion(c) | RunSettings::Teacher(c) => ConfigRef::Run(c),
            RunSettings::Vgs(c) => ConfigRef::Vgs(c),
            RunSettings::Ebm(c) => ConfigRef::Ebm(c),
            RunSettings::Discrete(c) => ConfigRef::Discrete(c),
        }
    }

    /// The settings of a `kind` from their JSON (`config` of a file).
    pub(crate) fn from_json(kind: &str, v: serde_json::Value) -> Result<Self, String> {
        let e = |e: serde_json::Error| format!("`config` of a {kind} checkpoint: {e}");
        Ok(match kind {
            "diffusion" => RunSettings::Diffusion(serde_json::from_value(v).map_err(e)?),
            "teacher" => RunSettings::Teacher(serde_json::from_value(v).map_err(e)?),
            "vgs" => RunSettings::Vgs(serde_json::from_value(v).map_err(e)?),
            "ebm" => RunSettings::Ebm(serde_json::from_value(v).map_err(e)?),
            "discrete" => RunSettings::Discrete(serde_json::from_value(v).map_err(e)?),
            other => {
                return Err(format!(
                    "unknown checkpoint kind `{other}` (known: diffusion, teacher, vgs, ebm, discrete)"
                ));
            }
        })
    }
}

impl RunSettings {
    /// Checks the settings by the rules of the kind's command (its flags' checks and
    /// memory limits).
    ///
    /// # Errors
    /// The flag error the command would give.
    pub fn validate(&self) -> CliResult<()> {
        match self {
            RunSettings::Diffusion(rc) | RunSettings::Teacher(rc) => {
                let teacher = matches!(self, RunSettings::Teacher(_));
                if (rc.method == "teacher") != teacher {
                    return Err(CliError::flag("--method", "does not match the kind"));
                }
                crate::commands::train::validate_config(rc)
            }
            RunSettings::Vgs(s) => crate::commands::vgs::checkpoint_groups(s).map(|_| ()),
            RunSettings::Ebm(s) => crate::commands::ebm::checkpoint_groups(s).map(|_| ()),
            RunSettings::Discrete(s) => crate::commands::discrete::checkpoint_groups(s).map(|_| ()),
        }
    }

    /// Training iterations (`--iters`).
    pub fn iters(&self) -> u32 {
        match self {
            RunSettings::Diffusion(rc) | RunSettings::Teacher(rc) => rc.iters,
            RunSettings::Vgs(s) => s.iters,
            RunSettings::Ebm(s) => s.iters,
            RunSettings::Discrete(s) => s.iters,
        }
    }

    /// Sets the training iterations.
    pub fn set_iters(&mut self, n: u32) {
        match self {
            RunSettings::Diffusion(rc) | RunSettings::Teacher(rc) => rc.iters = n,
            RunSettings::Vgs(s) => s.iters = n,
            RunSettings::Ebm(s) => s.iters = n,
            RunSettings::Discrete(s) => s.iters = n,
        }
    }
}

/// A saved model.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The run that produced it.
    pub settings: RunSettings,
    /// Iterations trained.
    pub iteration: u32,
    /// The trainer's counters (`None` for a version-1 file).
    pub state: Option<TrainerState>,
    /// The parameter groups, in order; their lengths sum to `params.len()`.
    pub groups: Vec<Group>,
    /// All parameters.
    pub params: Vec<f32>,
}

/// A borrowed [`RunSettings`] payload, serialised without a tag.
#[derive(Serialize)]
#[serde(untagged)]
enum ConfigRef<'a> {
    Run(&'a RunConfig),
    Vgs(&'a VgsSettings),
    Ebm(&'a EbmSettings),
    Discrete(&'a DiscreteSettings),
}

/// What the file holds (either version; fields of the other version absent). `C` is the
/// settings' type: a [`ConfigRef`] when writing, a JSON value when reading (parsed by kind).
#[derive(Serialize, Deserialize)]
struct File<C> {
    format: String,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    config: C,
    iteration: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<TrainerState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<Group>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy_params: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flow_params: Option<usize>,
    params: Vec<f32>,
    checksum: String,
}

/// Only the format tag, to name an old file format in the message.
#[derive(Deserialize)]
struct Head {
    format: String,
}

/// FNV-1a 64 over the little-endian bits of `params`, in hex
/// ([`amortise_kernel::checksum`], as the playground and the firmware print it).
pub fn checksum(params: &[f32]) -> String {
    format!("{:016x}", amortise_kernel::checksum::fnv1a_f32(params))
}

impl Checkpoint {
    /// A checkpoint of `params`, split into `groups` (their lengths must sum to
    /// `params.len()`; checked when loading).
    pub fn new(
        settings: RunSettings,
        state: TrainerState,
        groups: Vec<Group>,
        params: Vec<f32>,
    ) -> Self {
        Checkpoint {
            settings,
            iteration: state.iteration,
            state: Some(state),
            groups,
            params,
        }
    }

    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        self.settings.kind()
    }

    /// The parameters of the group `name` (`None` if there is no such group).
    pub fn group(&self, name: &str) -> Option<&[f32]> {
        let mut at = 0usize;
        for g in &self.groups {
            let end = at.checked_add(g.len)?;
            if g.name == name {
                return self.params.get(at..end);
            }
            at = end;
        }
        None
    }

    /// The group lengths, by name, in order.
    pub fn group_lens(&self) -> Vec<(&str, usize)> {
        self.groups
            .iter()
            .map(|g| (g.name.as_str(), g.len))
            .collect()
    }

    /// The file text (version 2).
    pub fn to_json(&self) -> serde_json::Result<String> {
        let f = File {
            format: FORMAT.into(),
            version: VERSION,
            kind: Some(self.kind().into()),
            config: self.settings.as_config(),
            iteration: self.iteration,
            state: self.state.clone(),
            groups: Some(self.groups.clone()),
            policy_params: None,
            flow_params: None,
            params: self.params.clone(),
            checksum: checksum(&self.params),
        };
        serde_json::to_string(&f)
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &str) -> CliResult<()> {
        let text = self
            .to_json()
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
    /// and version, the parameter checksum, the group lengths, finite parameters, and run
    /// settings that the kind's command itself would accept, with group lengths that match
    /// the model those settings build.
    pub fn parse(path: &str, text: &str) -> CliResult<Self> {
        let bad = |msg: String| CliError::file(path, msg);
        let f: File<serde_json::Value> = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                if let Ok(h) = serde_json::from_str::<Head>(text)
                    && h.format == OLD_VGS_FORMAT
                {
                    return Err(bad(format!(
                        "a VGS checkpoint in the old format `{OLD_VGS_FORMAT}`, which holds no \
                         loadable settings; rerun `amortise train-vgs` to write format \
                         `{FORMAT}` version {VERSION}"
                    )));
                }
                return Err(bad(format!("not a valid checkpoint ({e})")));
            }
        };
        if f.format != FORMAT || !(f.version == 1 || f.version == VERSION) {
            return Err(bad(format!(
                "unsupported checkpoint format `{}` version {}",
                f.format, f.version
            )));
        }
        if checksum(&f.params) != f.checksum {
            return Err(bad(
                "checkpoint is corrupt (parameter checksum mismatch)".into()
            ));
        }
        let (settings, groups, state) = if f.version == 1 {
            let rc: RunConfig = serde_json::from_value(f.config)
                .map_err(|e| bad(format!("not a valid checkpoint (config: {e})")))?;
            let (Some(p), Some(fl)) = (f.policy_params, f.flow_params) else {
                return Err(bad(
                    "not a valid checkpoint (version 1 needs policy_params and flow_params)".into(),
                ));
            };
            let groups = vec![
                Group::new("policy", p),
                Group::new("flows", fl),
                Group::new("log_z", 1),
            ];
            let settings = if rc.method == "teacher" {
                RunSettings::Teacher(rc)
            } else {
                RunSettings::Diffusion(rc)
            };
            (settings, groups, None)
        } else {
            let kind = f
                .kind
                .ok_or_else(|| bad("not a valid checkpoint (missing `kind`)".into()))?;
            let settings = RunSettings::from_json(&kind, f.config).map_err(bad)?;
            let groups = f
                .groups
                .ok_or_else(|| bad("not a valid checkpoint (missing `groups`)".into()))?;
            (settings, groups, f.state)
        };
        let total = groups
            .iter()
            .try_fold(0usize, |acc, g| acc.checked_add(g.len));
        if total != Some(f.params.len()) {
            return Err(bad(
                "checkpoint is corrupt (parameter counts disagree)".into()
            ));
        }
        Checkpoint {
            settings,
            iteration: f.iteration,
            state,
            groups,
            params: f.params,
        }
        .verified(path)
    }

    /// The checkpoint, if its parameters are finite and its settings and groups pass the
    /// kind's checks (`path` names it in messages): what loading a file checks besides its
    /// format, and what a checkpoint rebuilt from a resume snapshot must pass too.
    ///
    /// # Errors
    /// A non-finite parameter, or settings or groups the kind refuses.
    pub fn verified(self, path: &str) -> CliResult<Self> {
        let bad = |msg: String| CliError::file(path, msg);
        if self.params.iter().any(|p| !p.is_finite()) {
            return Err(bad("checkpoint holds non-finite parameters".into()));
        }
        self.validate()
            .map_err(|e| bad(format!("checkpoint configuration is invalid ({e})")))?;
        Ok(self)
    }

    /// The kind's checks of its settings (the flags' rules) and of the group names and
    /// lengths (the model those settings build).
    fn validate(&self) -> CliResult<()> {
        let expected: Vec<(&str, usize)> = match &self.settings {
            RunSettings::Diffusion(rc) => {
                if rc.method == "teacher" {
                    return Err(CliError::flag("--method", "teacher is a `teacher` kind"));
                }
                crate::commands::train::validate_config(rc)?;
                // the policy length is checked against the network when sampling
                let (p, f) = (self.groups.first(), self.groups.get(1));
                let (p, f) = (p.map_or(0, |g| g.len), f.map_or(0, |g| g.len));
                vec![("policy", p), ("flows", f), ("log_z", 1)]
            }
            RunSettings::Teacher(rc) => {
                if rc.method != "teacher" {
                    return Err(CliError::flag("--method", "must be teacher"));
                }
                crate::commands::train::validate_config(rc)?;
                let p = self.groups.first().map_or(0, |g| g.len);
                if self.groups.len() == 3 {
                    // version 1: an empty flow group
                    vec![("policy", p), ("flows", 0), ("log_z", 1)]
                } else {
                    vec![("policy", p), ("log_z", 1)]
                }
            }
            RunSettings::Vgs(s) => crate::commands::vgs::checkpoint_groups(s)?,
            RunSettings::Ebm(s) => crate::commands::ebm::checkpoint_groups(s)?,
            RunSettings::Discrete(s) => {
                let g = crate::commands::discrete::checkpoint_groups(s)?;
                return self.check_groups(g.iter().map(|(n, l)| (n.as_str(), *l)).collect());
            }
        };
        self.check_groups(expected)
    }

    /// The group names and lengths must be `expected`.
    fn check_groups(&self, expected: Vec<(&str, usize)>) -> CliResult<()> {
        if self.group_lens() != expected {
            return Err(CliError::flag(
                "--hidden",
                format!(
                    "parameter groups {:?} do not match the settings' model {expected:?}",
                    self.group_lens()
                ),
            ));
        }
        Ok(())
    }
}
