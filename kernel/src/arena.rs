//! Carving caller-owned arenas into consecutive buffers.
//!
//! Trainers take one `&mut [f32]` and one `&mut [u32]` arena, sized by their `Layout`, and
//! split them into their buffers once at `init`; [`Carve`] does the splitting with a typed
//! error instead of a panic when the arena is too short.

use crate::error::Error;

/// Hands out consecutive sub-slices of an arena, front to back.
#[derive(Debug)]
pub(crate) struct Carve<'a, T> {
    what: &'static str,
    rest: &'a mut [T],
}

impl<'a, T> Carve<'a, T> {
    /// Carves from `arena`; `what` names the arena in errors.
    pub(crate) fn new(what: &'static str, arena: &'a mut [T]) -> Self {
        Carve { what, rest: arena }
    }

    /// The next `n` elements.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if fewer than `n` are left.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a mut [T], Error> {
        if n > self.rest.len() {
            return Err(Error::ShapeMismatch {
                what: self.what,
                expected: n,
                got: self.rest.len(),
            });
        }
        let (a, b) = core::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = b;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carves_in_order_and_reports_a_short_arena() {
        let mut a = [0u32, 1, 2, 3, 4];
        let mut c = Carve::new("test arena", &mut a);
        assert_eq!(c.take(2).unwrap(), &[0, 1]);
        assert_eq!(c.take(0).unwrap(), &[] as &[u32]);
        assert_eq!(c.take(3).unwrap(), &[2, 3, 4]);
        assert_eq!(
            c.take(1).unwrap_err(),
            Error::ShapeMismatch {
                what: "test arena",
                expected: 1,
                got: 0
            }
        );
    }
}
