//! Networks from JSON files: `--network FILE`.
//!
//! This module owns the file format and its checks. A network file is one JSON object with the
//! four matrices as row-major nested arrays of numbers:
//!
//! ```json
//! { "x": [[1.0]], "y": [[2.0]],
//!   "w1": [[0.1, -0.1, 0.2]],
//!   "w2": [[0.2], [0.1], [-0.1]] }
//! ```
//!
//! with `x` 1xd, `w1` dxn, `w2` nxk and `y` 1xk. Every failure names the file, the field and what
//! is expected: a missing or unknown field, a row of another length than the first, shapes that do
//! not chain, or a value that is not finite (JSON has no NaN; a number too large for an f64, or for
//! float32 in a float32 run, is refused too).

use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use serde::Deserialize;

use crate::arithmetic::Float;
use crate::network::{Network, NetworkError};

/// Why a network file was refused.
#[derive(Debug, thiserror::Error)]
pub enum NetworkFileError {
    /// The file cannot be read.
    #[error("--network {path}: cannot read the file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a network object.
    #[error(
        "--network {path}: {message}; a network file is a JSON object with the fields x, y, w1 and w2, each a list of rows, such as {{\"x\": [[1.0]], \"y\": [[2.0]], \"w1\": [[0.1, -0.1, 0.2]], \"w2\": [[0.2], [0.1], [-0.1]]}}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        message: String,
    },
    /// A matrix has rows of different lengths.
    #[error(
        "--network {path}: {field} row {row} has {found} values but row 1 has {expected}; every row of a matrix needs the same length"
    )]
    Ragged {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// The offending row, from 1.
        row: usize,
        /// Its length.
        found: usize,
        /// The first row's length.
        expected: usize,
    },
    /// The matrices do not form a network.
    #[error("--network {path}: {source}")]
    Network {
        /// The file.
        path: PathBuf,
        /// The shape or value problem.
        source: NetworkError,
    },
    /// A value does not fit the run's precision.
    #[error(
        "--network {path}: {field} holds {value:e}, beyond the range of {precision}; use --precision f64 or smaller values"
    )]
    OutOfRange {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// The value.
        value: f64,
        /// The precision's name.
        precision: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    x: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    w1: Vec<Vec<f64>>,
    w2: Vec<Vec<f64>>,
}

/// Reads and checks the network file at `path`.
///
/// # Errors
/// [`NetworkFileError`] naming the file, the field and the fix.
pub fn load(path: &Path) -> Result<Network<f64>, NetworkFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| NetworkFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and checks a network file's text; `path` names it in errors.
///
/// # Errors
/// [`NetworkFileError`] naming the field and the fix.
pub fn parse(text: &str, path: &Path) -> Result<Network<f64>, NetworkFileError> {
    let raw: RawNetwork = serde_json::from_str(text).map_err(|e| NetworkFileError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let matrix =
        |field: &'static str, rows: &[Vec<f64>]| -> Result<DMatrix<f64>, NetworkFileError> {
            let cols = rows.first().map_or(0, Vec::len);
            if let Some((row, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
                return Err(NetworkFileError::Ragged {
                    path: path.to_path_buf(),
                    field,
                    row: row + 1,
                    found: r.len(),
                    expected: cols,
                });
            }
            Ok(DMatrix::from_row_iterator(
                rows.len(),
                cols,
                rows.iter().flatten().copied(),
            ))
        };
    Network::new(
        matrix("x", &raw.x)?,
        matrix("y", &raw.y)?,
        matrix("w1", &raw.w1)?,
        matrix("w2", &raw.w2)?,
    )
    .map_err(|source| NetworkFileError::Network {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks that every value of `network` stays finite when rounded to precision `T`.
///
/// # Errors
/// [`NetworkFileError::OutOfRange`] naming the first field that does not fit.
pub fn check_fits<T: Float>(network: &Network<f64>, path: &Path) -> Result<(), NetworkFileError> {
    for (field, m) in [
        ("x", network.x()),
        ("y", network.y()),
        ("w1", network.w1()),
        ("w2", network.w2()),
    ] {
        if let Some(&value) = m.iter().find(|v| !T::from_f64(**v).is_finite()) {
            return Err(NetworkFileError::OutOfRange {
                path: path.to_path_buf(),
                field,
                value,
                precision: T::PRECISION.name(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("net.json")).unwrap_err().to_string()
    }

    #[test]
    fn the_notebook_file_gives_the_notebook_network() {
        let text = r#"{"x": [[1.0]], "y": [[2.0]], "w1": [[0.1, -0.1, 0.2]], "w2": [[0.2], [0.1], [-0.1]]}"#;
        assert_eq!(
            parse(text, Path::new("n.json")).unwrap(),
            Network::notebook()
        );
    }

    #[test]
    fn every_failure_names_the_field_and_the_fix() {
        assert!(err("{").contains("a network file is a JSON object"));
        assert!(err(r#"{"x": [[1]], "y": [[1]], "w1": [[1]]}"#).contains("missing field `w2`"));
        assert!(
            err(r#"{"x": [[1]], "y": [[1]], "w1": [[1]], "w2": [[1]], "b": 1}"#)
                .contains("unknown field `b`")
        );
        let ragged = err(r#"{"x": [[1]], "y": [[1]], "w1": [[1, 2]], "w2": [[1], [2, 3]]}"#);
        assert!(
            ragged.contains("w2 row 2 has 2 values but row 1 has 1"),
            "{ragged}"
        );
        let shape = err(r#"{"x": [[1, 2]], "y": [[1]], "w1": [[1, 2]], "w2": [[1], [2]]}"#);
        assert!(shape.contains("w1 is 1x2 but must be 2x2"), "{shape}");
        assert!(
            err(r#"{"x": [[1]], "y": [[1]], "w1": [[1e999]], "w2": [[1]]}"#)
                .contains("--network net.json")
        );
        assert!(err(r#"{"x": [], "y": [[1]], "w1": [[1]], "w2": [[1]]}"#).contains("x is empty"));
        let big = parse(
            r#"{"x": [[1]], "y": [[1]], "w1": [[1e39]], "w2": [[1]]}"#,
            Path::new("n"),
        )
        .unwrap();
        let fits = check_fits::<f32>(&big, Path::new("n"))
            .unwrap_err()
            .to_string();
        assert!(
            fits.contains("w1 holds 1e39, beyond the range of f32"),
            "{fits}"
        );
        assert!(check_fits::<f64>(&big, Path::new("n")).is_ok());
    }
}
