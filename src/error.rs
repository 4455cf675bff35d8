//! The one error type of the crate and its mapping onto Python exceptions.
//!
//! Kernels never fail (their inputs are validated first); validation in the bindings produces an
//! [`Error`], which `From<Error> for PyErr` turns into the Python exception named by the variant.

use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::PyErr;
use std::fmt;

/// A user-facing error. The message always names the offending parameter and value or shapes.
#[derive(Debug)]
pub enum Error {
    /// Wrong kind of object or dtype (`TypeError`).
    Type(String),
    /// Bad shape, value or keyword (`ValueError`).
    Value(String),
    /// A class target outside `[0, C)` that is not `ignore_index` (`IndexError`).
    Index(String),
    /// An exception raised by Python itself while converting a result; passed through as is.
    Python(PyErr),
}

/// Result alias used throughout the bindings.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Type(m) | Error::Value(m) | Error::Index(m) => f.write_str(m),
            Error::Python(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Type(m) => PyTypeError::new_err(m),
            Error::Value(m) => PyValueError::new_err(m),
            Error::Index(m) => PyIndexError::new_err(m),
            Error::Python(e) => e,
        }
    }
}

/// Formats a shape the way NumPy prints it: `(3,)`, `(2, 5)`, `()`.
#[must_use]
pub fn shape_str(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_owned(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(ToString::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shape_str;

    #[test]
    fn shapes_print_like_numpy() {
        assert_eq!(shape_str(&[]), "()");
        assert_eq!(shape_str(&[3]), "(3,)");
        assert_eq!(shape_str(&[2, 5, 7]), "(2, 5, 7)");
    }
}
