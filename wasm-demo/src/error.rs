//! The playground's error: which control is wrong, and why.

use core::fmt;

/// A rejected input or a failed run. `field` names the page control the message belongs
/// next to (`target`, `dim`, `particles`, `base_std`, `cess`, `mala_steps`, `grid`, `steps`,
/// or `run` for a failure during a run); `message` is shown to the learner.
///
/// Across the wasm boundary it becomes a `JsError` whose message is `"{field}: {message}"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaygroundError {
    /// The control (or `run`).
    pub field: &'static str,
    /// Human-readable reason.
    pub message: String,
}

impl PlaygroundError {
    /// An error about `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        PlaygroundError {
            field,
            message: message.into(),
        }
    }

    /// Wraps a kernel error, keeping the kernel's text.
    pub fn kernel(field: &'static str, e: amortise_kernel::Error) -> Self {
        PlaygroundError::new(field, e.to_string())
    }
}

impl From<amortise_settings::SettingError> for PlaygroundError {
    /// A rejected setting belongs next to its control (the setting's key).
    fn from(e: amortise_settings::SettingError) -> Self {
        PlaygroundError::new(e.key, e.message)
    }
}

impl fmt::Display for PlaygroundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for PlaygroundError {}

/// An error about `field` (shorthand for the settings parsers).
pub(crate) fn bad(field: &'static str, msg: impl Into<String>) -> PlaygroundError {
    PlaygroundError::new(field, msg)
}

/// Ends a run: records `message` in `failed`, the error every later call repeats, and
/// returns it on the `run` control.
pub(crate) fn end_run(failed: &mut Option<String>, message: String) -> PlaygroundError {
    *failed = Some(message.clone());
    bad("run", message)
}

/// The `key=value` pairs of a page query (`&`-separated; a pair without `=` has an empty
/// value), keys trimmed: the settings layer's query reader, which the SMC and discrete
/// handles use too.
pub(crate) use amortise_settings::query::pairs as query_pairs;

/// The error for a key no setting has (quoting at most 30 characters of it).
pub(crate) fn unknown_setting(key: &str) -> PlaygroundError {
    bad(
        "run",
        format!(
            "unknown setting “{}”",
            key.chars().take(30).collect::<String>()
        ),
    )
}

/// Parses a whole number in `lo..=hi` for `field`; the message quotes at most 20 characters
/// of a bad value.
pub(crate) fn int<T: core::str::FromStr + PartialOrd + core::fmt::Display + Copy>(
    field: &'static str,
    v: &str,
    lo: T,
    hi: T,
) -> Result<T, PlaygroundError> {
    match v.trim().parse::<T>() {
        Ok(x) if x >= lo && x <= hi => Ok(x),
        Ok(_) => Err(bad(field, format!("must be between {lo} and {hi}"))),
        Err(_) => Err(bad(
            field,
            format!(
                "must be a whole number, not “{}”",
                v.chars().take(20).collect::<String>()
            ),
        )),
    }
}
