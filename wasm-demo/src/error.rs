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

impl fmt::Display for PlaygroundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for PlaygroundError {}
