//! Carving caller-owned arenas into consecutive buffers.
//!
//! Trainers take one `&mut [f32]` and one `&mut [u32]` arena, sized by their `Layout`, and
//! split them into their buffers once at `init`; [`Carve`] does the splitting with a typed
//! error instead of a panic when the arena is too short.
//!
//! Most of an arena is scratch that every step writes before it reads it. The rest, the
//! buffers a trainer's `Views::carried` lists as [`Carried`] (parameters, Adam moments,
//! replay storage, schedule tables), carries over from one step to the next: with the
//! trainer's `State` and its random stream, they are everything a resumed run needs.

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

/// One buffer of an arena that carries over from one training step to the next (see the
/// module docs); a trainer's `Views::carried` hands them out in a fixed order.
#[derive(Debug)]
pub enum Carried<'a> {
    /// An `f32` buffer.
    F32(&'a mut [f32]),
    /// A `u32` buffer.
    U32(&'a mut [u32]),
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
