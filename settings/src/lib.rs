//! # amortise-settings
//!
//! One layer between the people-facing names of a run (the CLI's `--flags`, the
//! playground's `key=value` query string) and the kernel's configurations. Every default,
//! every per-target choice and every rule that crosses fields is stated here once; the CLI
//! (`amortise train`) and the playground (`amortise-wasm`) both call it, so the same
//! settings give the same kernel configuration, and so the same bits, in both.
//!
//! | module | what it holds |
//! |---|---|
//! | [`error`] | [`SettingError`]: the setting (query key) that is wrong and why |
//! | [`defaults`] | the defaults of a continuous run |
//! | [`discrete`] | the discrete targets, the defaults and rules of a discrete run |
//! | [`targets`] | the per-target choices: reference σ, VGS settings, what the playground offers |
//! | [`run`] | [`RunConfig`]: a continuous run with every default resolved, and its kernel configurations |
//! | [`presets`] | named presets of a continuous run (`--preset paper`: the RSMC paper's setting) |
//! | [`aldp_preset`] | `--preset aldp`: alanine dipeptide at a two-hour budget |
//! | [`rules`] | [`Limits`] and [`RunConfig::validate`]: ranges and cross-field rules |
//! | [`vgs`] | [`VgsRunConfig`]: a VGS run, its per-target defaults and ranges |
//! | [`query`] | the page's `key=value&…` form of a [`RunConfig`], and the equivalent command line |
//!
//! Names: a setting's key is the page's query key (`flow_hidden`); the CLI's flag is the
//! same word with dashes (`--flow-hidden`, [`SettingError::flag`]).

pub mod aldp_preset;
pub mod defaults;
pub mod discrete;
pub mod error;
pub mod presets;
pub mod query;
pub mod rules;
pub mod run;
pub mod targets;
pub mod vgs;

pub use error::SettingError;
pub use rules::Limits;
pub use run::RunConfig;
pub use vgs::VgsRunConfig;
