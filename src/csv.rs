//! Sample files: comma-separated values, one sample per row, `dim` columns.
//!
//! Writing: a header `x1,x2,...,xd`, then one row per sample with every `f32` printed in its
//! shortest round-trip form (so reading the file back gives the same bits). Reading: an
//! optional header line (any first line that does not parse as numbers), blank lines
//! skipped, every row must have the same number of columns and finite values; errors name
//! the file and the line. A name ending in `.gz` is read (and, by [`gzip`], written)
//! gzip-compressed.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::error::{CliError, CliResult};

/// Row-major samples `[n, dim]` read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Number of columns.
    pub dim: usize,
    /// `n * dim` values, row-major.
    pub data: Vec<f32>,
}

impl Samples {
    /// Number of rows.
    pub fn n(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }
}

/// Parses CSV text (see the module doc). `path` is only used in messages.
pub fn parse(path: &str, text: &str) -> CliResult<Samples> {
    let mut dim = 0usize;
    let mut data = Vec::new();
    let mut rows = 0usize;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: Result<Vec<f32>, _> = fields.iter().map(|f| f.parse::<f32>()).collect();
        let values = match parsed {
            Ok(v) => v,
            Err(_) if rows == 0 && data.is_empty() && i == first_nonblank(text) => continue, // header
            Err(_) => {
                let bad = fields
                    .iter()
                    .find(|f| f.parse::<f32>().is_err())
                    .copied()
                    .unwrap_or("");
                return Err(CliError::file(
                    path,
                    format!("line {}: `{bad}` is not a number", i + 1),
                ));
            }
        };
        if let Some(j) = values.iter().position(|v| !v.is_finite()) {
            return Err(CliError::file(
                path,
                format!("line {}: column {} is not finite", i + 1, j + 1),
            ));
        }
        if rows == 0 {
            dim = values.len();
        } else if values.len() != dim {
            return Err(CliError::file(
                path,
                format!(
                    "line {}: {} columns, but earlier rows have {dim}",
                    i + 1,
                    values.len()
                ),
            ));
        }
        data.extend_from_slice(&values);
        rows += 1;
    }
    if rows == 0 {
        return Err(CliError::file(
            path,
            "no samples (the file has no numeric rows)",
        ));
    }
    Ok(Samples { dim, data })
}

fn first_nonblank(text: &str) -> usize {
    text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0)
}

/// Reads and parses a sample file, gunzipping it first if its name ends in `.gz`.
pub fn read(path: &str) -> CliResult<Samples> {
    if !path.ends_with(".gz") {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::file(path, format!("cannot read: {e}")))?;
        return parse(path, &text);
    }
    use std::io::Read as _;
    let f =
        std::fs::File::open(path).map_err(|e| CliError::file(path, format!("cannot read: {e}")))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut text)
        .map_err(|e| CliError::file(path, format!("cannot decompress: {e}")))?;
    parse(path, &text)
}

/// Gzip-compresses `bytes` (best compression).
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    enc.finish()
}

/// Formats samples as CSV text with an `x1..xd` header.
pub fn format(data: &[f32], dim: usize) -> String {
    let mut s = String::with_capacity(data.len() * 12 + 16);
    for j in 0..dim {
        if j > 0 {
            s.push(',');
        }
        let _ = write!(s, "x{}", j + 1);
    }
    s.push('\n');
    if dim == 0 {
        return s;
    }
    for row in data.chunks_exact(dim) {
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(s, "{v}");
        }
        s.push('\n');
    }
    s
}

/// Writes samples atomically: to `path.tmp`, then renamed over `path`, so an interrupted
/// write never leaves a truncated file behind.
pub fn write(path: &str, data: &[f32], dim: usize) -> CliResult<()> {
    write_atomic(path, format(data, dim).as_bytes())
}

/// Writes one column of values under the header `name`, atomically (as [`write()`]).
pub fn write_column(path: &str, name: &str, values: &[f32]) -> CliResult<()> {
    let mut s = String::with_capacity(values.len() * 12 + name.len() + 1);
    s.push_str(name);
    s.push('\n');
    for v in values {
        let _ = writeln!(s, "{v}");
    }
    write_atomic(path, s.as_bytes())
}

/// Writes bytes to `path` through a temporary file and a rename.
pub fn write_atomic(path: &str, bytes: &[u8]) -> CliResult<()> {
    let tmp = format!("{path}.tmp");
    let res = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::file(path, format!("cannot write: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact() {
        let data = [0.1f32, -2.5e-8, 3.0, f32::MAX, 1.0 / 3.0, -0.0];
        let text = format(&data, 2);
        assert!(text.starts_with("x1,x2\n"));
        let back = parse("t.csv", &text).unwrap();
        assert_eq!(back.dim, 2);
        assert_eq!(back.n(), 3);
        for (a, b) in data.iter().zip(&back.data) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn headerless_and_blank_lines() {
        let s = parse("t.csv", "\n1,2\n\n3,4\n").unwrap();
        assert_eq!(s.data, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("a.csv", "x,y\n1,2\n3\n").unwrap_err().to_string();
        assert_eq!(e, "a.csv: line 3: 1 columns, but earlier rows have 2");
        let e = parse("a.csv", "x,y\n1,2\n3,zz\n").unwrap_err().to_string();
        assert_eq!(e, "a.csv: line 3: `zz` is not a number");
        let e = parse("a.csv", "x,y\n1,NaN\n").unwrap_err().to_string();
        assert_eq!(e, "a.csv: line 2: column 2 is not finite");
        let e = parse("a.csv", "x,y\n").unwrap_err().to_string();
        assert!(e.contains("no samples"));
        let e = parse("a.csv", "").unwrap_err().to_string();
        assert!(e.contains("no samples"));
    }
}
