//! The heat-map of a target: `log p̃` on a grid over coordinates 0 and 1.
//!
//! For a target of dimension `d > 2` (Funnel, ManyWell, GMM40 in higher `d`) the map is the
//! **2-D slice** through the point whose other coordinates are all `0`:
//! `(x₀, x₁) ↦ log p̃(x₀, x₁, 0, …, 0)`. That is the slice the playground documents in its
//! explanation panel; particles are drawn by their first two coordinates, so for `d > 2`
//! they are a projection and need not sit on the slice's bright regions.

use amortise_kernel::targets::LogDensity;

use crate::error::PlaygroundError;

/// Most cells per side.
pub const MAX_SIDE: usize = 1024;

/// The rectangle and resolution of a heat-map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridSpec {
    /// Left edge (coordinate 0).
    pub xmin: f64,
    /// Right edge.
    pub xmax: f64,
    /// Bottom edge (coordinate 1).
    pub ymin: f64,
    /// Top edge.
    pub ymax: f64,
    /// Columns, `1..=MAX_SIDE`.
    pub nx: usize,
    /// Rows, `1..=MAX_SIDE`.
    pub ny: usize,
}

impl GridSpec {
    /// The grid a page handle's `density_grid([xmin, xmax, ymin, ymax], nx, ny)` asks for
    /// (not yet validated: the cores call [`GridSpec::validate`]).
    ///
    /// # Errors
    /// `bounds` not four values (`grid`).
    pub fn from_js(bounds: &[f64], nx: u32, ny: u32) -> Result<GridSpec, PlaygroundError> {
        let &[xmin, xmax, ymin, ymax] = bounds else {
            return Err(PlaygroundError::new(
                "grid",
                "bounds must be [xmin, xmax, ymin, ymax]",
            ));
        };
        Ok(GridSpec {
            xmin,
            xmax,
            ymin,
            ymax,
            nx: nx as usize,
            ny: ny as usize,
        })
    }

    /// Checks bounds and sizes.
    ///
    /// # Errors
    /// `grid` errors for non-finite or empty ranges and sizes outside `1..=MAX_SIDE`.
    pub fn validate(&self) -> Result<(), PlaygroundError> {
        let finite = [self.xmin, self.xmax, self.ymin, self.ymax]
            .iter()
            .all(|v| v.is_finite());
        if !finite || !(self.xmin < self.xmax) || !(self.ymin < self.ymax) {
            return Err(PlaygroundError::new(
                "grid",
                "grid bounds must be finite with xmin < xmax and ymin < ymax",
            ));
        }
        if !(1..=MAX_SIDE).contains(&self.nx) || !(1..=MAX_SIDE).contains(&self.ny) {
            return Err(PlaygroundError::new(
                "grid",
                format!("grid sides must be in 1..={MAX_SIDE}"),
            ));
        }
        Ok(())
    }
}

/// An owned grid buffer, reused between calls.
#[derive(Clone, Debug, Default)]
pub struct DensityGrid {
    values: Vec<f32>,
    point: Vec<f32>,
}

impl DensityGrid {
    /// Fills the grid with `log p̃` at cell centres: row `j` (top to bottom) is at
    /// `y = ymax − (j + ½)·Δy`, column `i` at `x = xmin + (i + ½)·Δx`. `-inf` stays `-inf`.
    /// Returns the number of cells, `nx · ny`.
    ///
    /// # Errors
    /// As [`GridSpec::validate`].
    pub fn fill<T: LogDensity + ?Sized>(
        &mut self,
        target: &T,
        spec: &GridSpec,
    ) -> Result<usize, PlaygroundError> {
        spec.validate()?;
        let d = target.dim();
        if d < 2 {
            return Err(PlaygroundError::new("grid", "the heat-map needs dim >= 2"));
        }
        self.point.clear();
        self.point.resize(d, 0.0);
        self.values.clear();
        self.values.resize(spec.nx * spec.ny, 0.0);
        let dx = (spec.xmax - spec.xmin) / spec.nx as f64;
        let dy = (spec.ymax - spec.ymin) / spec.ny as f64;
        for (j, row) in self.values.chunks_exact_mut(spec.nx).enumerate() {
            self.point[1] = (spec.ymax - (j as f64 + 0.5) * dy) as f32;
            for (i, v) in row.iter_mut().enumerate() {
                self.point[0] = (spec.xmin + (i as f64 + 0.5) * dx) as f32;
                *v = target.log_density(&self.point);
            }
        }
        Ok(self.values.len())
    }

    /// The last filled values (empty before the first fill).
    pub fn values(&self) -> &[f32] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amortise_kernel::targets::Target;

    fn spec(nx: usize, ny: usize) -> GridSpec {
        GridSpec {
            xmin: -8.0,
            xmax: 8.0,
            ymin: -8.0,
            ymax: 8.0,
            nx,
            ny,
        }
    }

    #[test]
    fn grid_peaks_on_the_modes_of_9gmm() {
        let t = Target::from_name("9gmm", None).unwrap();
        let mut g = DensityGrid::default();
        // 16 cells of width 1 over [-8, 8]: centres at -7.5, ..., 7.5; a mode sits at (5, 5)
        assert_eq!(g.fill(&t, &spec(16, 16)).unwrap(), 256);
        let v = g.values();
        // row 2 is y = 8 - 2.5 = 5.5, column 12 is x = -8 + 12.5 = 4.5: next to the (5, 5) mode
        let near = v[2 * 16 + 12];
        let far = v[8 * 16 + 10]; // (2.5, -0.5): between modes
        assert!(near > far + 1.0, "{near} vs {far}");
        // the map is symmetric under x -> -x: column i mirrors column 15 - i
        assert!((v[2 * 16 + 12] - v[2 * 16 + 3]).abs() < 1e-4);
    }

    #[test]
    fn slice_of_a_higher_dimensional_target_has_the_other_coordinates_at_zero() {
        let t = Target::from_name("manywell", None).unwrap();
        let mut g = DensityGrid::default();
        g.fill(&t, &spec(4, 3)).unwrap();
        let mut x = vec![0.0f32; 32];
        x[0] = -8.0 + 0.5 * 4.0;
        x[1] = 8.0 - 0.5 * 16.0 / 3.0;
        assert_eq!(g.values()[0], t.log_density(&x));
    }

    #[test]
    fn bad_specs_are_errors() {
        let t = Target::from_name("gaussian", None).unwrap();
        let mut g = DensityGrid::default();
        for s in [
            spec(0, 4),
            spec(4, MAX_SIDE + 1),
            GridSpec {
                xmin: 1.0,
                ..spec(4, 4)
            }
            .with_xmax(1.0),
            GridSpec {
                ymin: f64::NAN,
                ..spec(4, 4)
            },
        ] {
            assert_eq!(g.fill(&t, &s).unwrap_err().field, "grid");
        }
    }

    impl GridSpec {
        fn with_xmax(mut self, v: f64) -> Self {
            self.xmax = v;
            self
        }
    }
}
