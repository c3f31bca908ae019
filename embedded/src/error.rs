//! What can stop a firmware run: a kernel error, an arena too small for the configuration,
//! or a failed write to the output.

use amortise_kernel::Error;
use core::fmt;

/// Why a run stopped. Printed with `Display` by the firmware before it exits with failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The kernel rejected a configuration or hit a numeric problem.
    Kernel(Error),
    /// A static arena is smaller than the configuration needs.
    ArenaTooSmall {
        /// Which arena.
        what: &'static str,
        /// Values the configuration needs.
        need: usize,
        /// Values the arena holds.
        have: usize,
    },
    /// Writing to the output failed (semihosting or stdout).
    Output,
}

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        RunError::Kernel(e)
    }
}

impl From<fmt::Error> for RunError {
    fn from(_: fmt::Error) -> Self {
        RunError::Output
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RunError::Kernel(e) => write!(f, "kernel: {e}"),
            RunError::ArenaTooSmall { what, need, have } => write!(
                f,
                "the {what} arena holds {have} values but the configuration needs {need}: \
                 raise the constant in embedded/src/lib.rs (and check the RAM budget)"
            ),
            RunError::Output => write!(f, "could not write the output"),
        }
    }
}

/// Checks that an arena of `have` values can hold `need`.
///
/// # Errors
/// [`RunError::ArenaTooSmall`] otherwise.
pub fn check_arena(what: &'static str, need: usize, have: usize) -> Result<(), RunError> {
    if need <= have {
        Ok(())
    } else {
        Err(RunError::ArenaTooSmall { what, need, have })
    }
}
