//! The CLI's error: one line for the user, and an exit code.

use std::fmt;

/// A failure the user can act on. `Display` is the whole message (no backtrace, no debug
/// formatting); it names the flag or file at fault.
#[derive(Debug)]
pub enum CliError {
    /// A flag's value is invalid (exit code 2, like a usage error).
    Flag { flag: String, msg: String },
    /// A file could not be read, written or parsed (exit code 1).
    File { path: String, msg: String },
    /// The kernel refused the input or failed (exit code 1).
    Kernel {
        context: String,
        err: amortise_kernel::Error,
    },
}

impl CliError {
    /// Shorthand for a bad flag value.
    pub fn flag(flag: impl Into<String>, msg: impl Into<String>) -> Self {
        CliError::Flag {
            flag: flag.into(),
            msg: msg.into(),
        }
    }
    /// Shorthand for a file problem.
    pub fn file(path: impl Into<String>, msg: impl Into<String>) -> Self {
        CliError::File {
            path: path.into(),
            msg: msg.into(),
        }
    }
    /// Shorthand for a kernel error with context.
    pub fn kernel(context: impl Into<String>, err: amortise_kernel::Error) -> Self {
        CliError::Kernel {
            context: context.into(),
            err,
        }
    }
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Flag { .. } => 2,
            CliError::File { .. } | CliError::Kernel { .. } => 1,
        }
    }
}

impl From<amortise_settings::SettingError> for CliError {
    /// A rejected setting is a bad value of its flag.
    fn from(e: amortise_settings::SettingError) -> Self {
        CliError::flag(e.flag(), e.message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Flag { flag, msg } => write!(f, "{flag}: {msg}"),
            CliError::File { path, msg } => write!(f, "{path}: {msg}"),
            CliError::Kernel { context, err } => write!(f, "{context}: {err}"),
        }
    }
}

impl std::error::Error for CliError {}

/// Result alias for CLI code.
pub type CliResult<T> = Result<T, CliError>;
