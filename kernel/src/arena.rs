//! Carving caller-owned arenas into consecutive buffers.
//!
//! Trainers take one `&mut [f32]` and one `&mut [u32]` arena, sized by their `Layout`, and
//! carve them into their named buffers on each call; [`Carve`] does the splitting with a
//! typed error instead of a panic when the arena is too short, [`carve_arenas`] checks the two
//! arenas' lengths first, and [`same_layout`] and [`carved_by`] are the layout checks of every
//! trainer's `init` and `step`.
//!
//! Most of an arena is scratch that every step writes before it reads it. The rest, the
//! buffers a trainer's `Views::carried` lists as [`Carried`] (parameters, Adam moments,
//! replay storage, schedule tables), carries over from one step to the next: with the
//! trainer's `State` and its random stream, they are everything a resumed run needs.

use crate::error::{Error, check_len};

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

    /// Everything not taken yet.
    pub(crate) fn rest(self) -> &'a mut [T] {
        self.rest
    }
}

/// Carvers over a trainer's two arenas (`f32`, `u32`), which must have exactly the layout's
/// lengths `lens`: the start of every `Views::new`. `what` names the two arenas in errors.
///
/// # Errors
/// [`Error::ShapeMismatch`] if an arena's length differs from the layout's.
pub(crate) fn carve_arenas<'a>(
    what: [&'static str; 2],
    lens: [usize; 2],
    f32_arena: &'a mut [f32],
    u32_arena: &'a mut [u32],
) -> Result<(Carve<'a, f32>, Carve<'a, u32>), Error> {
    check_len(what[0], lens[0], f32_arena.len())?;
    check_len(what[1], lens[1], u32_arena.len())?;
    Ok((
        Carve::new(what[0], f32_arena),
        Carve::new(what[1], u32_arena),
    ))
}

/// Checks that `layout` is `fresh`, the layout its configuration gives (`Layout::new`).
///
/// # Errors
/// [`Error::InvalidConfig`] if they differ.
pub(crate) fn same_layout<L: PartialEq>(fresh: &L, layout: &L) -> Result<(), Error> {
    same(
        fresh,
        layout,
        "the layout was computed for another configuration",
    )
}

/// Checks that views were carved (`carved`, the layout they hold) by `layout`.
///
/// # Errors
/// [`Error::InvalidConfig`] if they were carved by another layout.
pub(crate) fn carved_by<L: PartialEq>(carved: &L, layout: &L) -> Result<(), Error> {
    same(carved, layout, "the views were carved for another layout")
}

/// `Ok` if `a == b`, else [`Error::InvalidConfig`] with `why`.
fn same<L: PartialEq>(a: &L, b: &L, why: &'static str) -> Result<(), Error> {
    if a == b {
        Ok(())
    } else {
        Err(Error::InvalidConfig(why))
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
        assert_eq!(c.take(2).unwrap(), &[2, 3]);
        let mut c = Carve::new("test arena", c.rest());
        assert_eq!(c.take(1).unwrap(), &[4]);
        assert_eq!(
            c.take(1).unwrap_err(),
            Error::ShapeMismatch {
                what: "test arena",
                expected: 1,
                got: 0
            }
        );
    }

    #[test]
    fn arena_lengths_and_layouts_are_checked() {
        let (mut f, mut u) = ([0.0f32; 3], [0u32; 2]);
        let what = ["f", "u"];
        assert!(carve_arenas(what, [3, 2], &mut f, &mut u).is_ok());
        let e = carve_arenas(what, [3, 1], &mut f, &mut u).unwrap_err();
        assert_eq!(
            e,
            Error::ShapeMismatch {
                what: "u",
                expected: 1,
                got: 2
            }
        );
        assert!(same_layout(&1, &1).is_ok() && carved_by(&1, &1).is_ok());
        assert!(same_layout(&1, &2).is_err() && carved_by(&1, &2).is_err());
    }
}
