//! The kernel's one error type.
//!
//! Every fallible kernel function returns [`Result<T, Error>`](Result). The enum is small,
//! `Copy` and carries only static text and integers, so it costs nothing on a
//! microcontroller and formats the same everywhere (no float formatting).

use core::fmt;

/// Everything that can go wrong inside the kernel.
///
/// Validation happens once, in constructors and `init` functions; hot loops after that are
/// infallible. The variants are `#[non_exhaustive]`: match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A caller-owned buffer or an input has the wrong length.
    ShapeMismatch {
        /// What the buffer is (for example `"params"`).
        what: &'static str,
        /// The length the kernel needs.
        expected: usize,
        /// The length it was given.
        got: usize,
    },
    /// A hyper-parameter or setting is out of its documented range; the text names it.
    InvalidConfig(&'static str),
    /// A fixed-capacity store is full, or a requested size exceeds a compile-time capacity.
    CapacityExceeded {
        /// What overflowed.
        what: &'static str,
        /// The capacity.
        capacity: usize,
    },
    /// No usable mass: every weight is `-inf` or NaN, or a set is empty.
    Degenerate(&'static str),
    /// A value that must be finite is NaN or infinite; the text names it.
    NonFinite(&'static str),
    /// The object does not provide this operation (for example an exact sampler).
    Unsupported(&'static str),
    /// An iterative method stopped at its iteration cap before reaching its tolerance.
    NotConverged {
        /// Which method.
        what: &'static str,
        /// Iterations run.
        iterations: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::ShapeMismatch {
                what,
                expected,
                got,
            } => {
                write!(
                    f,
                    "shape mismatch in `{what}`: expected length {expected}, got {got}"
                )
            }
            Error::InvalidConfig(what) => write!(f, "invalid setting: {what}"),
            Error::CapacityExceeded { what, capacity } => {
                write!(f, "capacity exceeded for `{what}` (capacity {capacity})")
            }
            Error::Degenerate(what) => write!(f, "degenerate input: {what}"),
            Error::NonFinite(what) => write!(f, "non-finite value: {what}"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::NotConverged { what, iterations } => {
                write!(f, "{what} did not converge within {iterations} iterations")
            }
        }
    }
}

impl core::error::Error for Error {}

/// Checks that a buffer has exactly the length a kernel needs.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `what` when `got != expected`.
#[inline]
pub fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected,
            got,
        })
    }
}

/// Checks that a buffer is at least `expected` long (scratch space may be larger).
///
/// # Errors
/// [`Error::ShapeMismatch`] naming `what` when `got < expected`.
#[inline]
pub fn check_min_len(what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    if got >= expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn display_names_the_problem() {
        let e = Error::ShapeMismatch {
            what: "params",
            expected: 3,
            got: 2,
        };
        assert_eq!(
            e.to_string(),
            "shape mismatch in `params`: expected length 3, got 2"
        );
        assert_eq!(
            Error::InvalidConfig("lr must be > 0").to_string(),
            "invalid setting: lr must be > 0"
        );
        assert!(check_len("x", 2, 2).is_ok());
        assert_eq!(
            check_len("x", 2, 3),
            Err(Error::ShapeMismatch {
                what: "x",
                expected: 2,
                got: 3
            })
        );
        assert!(check_min_len("ws", 2, 3).is_ok());
        assert!(check_min_len("ws", 4, 3).is_err());
    }
}
