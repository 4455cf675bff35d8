//! Extraction, validation and conversion helpers shared by every binding.

use crate::error::{shape_str, Error, Result};
use crate::kernels::{Real, Reduction};
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::borrow::Cow;

/// A float array of either native dtype, borrowed read-only.
pub enum FloatArray<'py> {
    /// `float32`.
    F32(PyReadonlyArrayDyn<'py, f32>),
    /// `float64`.
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl<'py> FloatArray<'py> {
    /// Borrows `obj` as a float32 or float64 array; a TypeError names `name` otherwise.
    pub fn extract(obj: &Bound<'py, PyAny>, name: &str) -> Result<Self> {
        // A cheap type check first: building the error message of a failed float32 borrow would
        // cost a float64 caller several Python calls.
        if obj.cast::<PyArrayDyn<f32>>().is_ok() {
            return borrow::<f32>(obj, name).map(FloatArray::F32);
        }
        borrow::<f64>(obj, name).map(FloatArray::F64)
    }
}

pub(super) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(a) = obj.cast::<numpy::PyUntypedArray>() {
        if let Ok(d) = a.dtype().str() {
            return format!("an array of dtype {d}");
        }
    }
    obj.get_type()
        .name()
        .map_or_else(|_| "an unknown object".to_owned(), |n| n.to_string())
}

/// Borrows `obj` as an array of `T` (any layout), or a TypeError naming `name`.
pub fn borrow<'py, T: Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> Result<PyReadonlyArrayDyn<'py, T>> {
    let arr = obj.cast::<PyArrayDyn<T>>().map_err(|_| {
        let want = numpy::dtype::<T>(obj.py())
            .str()
            .map_or_else(|_| "?".to_owned(), |s| s.to_string());
        Error::Type(format!(
            "{name} must be a numpy array of dtype {want}, got {}",
            type_name(obj)
        ))
    })?;
    arr.try_readonly()
        .map_err(|e| Error::Value(format!("{name} cannot be read: {e}")))
}

/// Borrows an optional array argument.
pub fn borrow_opt<'py, T: Element>(
    obj: Option<&Bound<'py, PyAny>>,
    name: &str,
) -> Result<Option<PyReadonlyArrayDyn<'py, T>>> {
    obj.filter(|o| !o.is_none())
        .map(|o| borrow::<T>(o, name))
        .transpose()
}

/// The elements of `a` in C order: borrowed when it is C-contiguous (and aligned), else copied.
/// A slice straight from NumPy's buffer: building an `ndarray` view first cost more than the
/// whole kernel on a 10-element row.
pub fn contiguous<'a, T: Element + Clone>(a: &'a PyReadonlyArrayDyn<'_, T>) -> Cow<'a, [T]> {
    // `as_slice` also accepts Fortran order, which is not the order the kernels read.
    if a.is_c_contiguous() {
        if let Ok(s) = a.as_slice() {
            return Cow::Borrowed(s);
        }
    }
    Cow::Owned(a.as_array().iter().cloned().collect())
}

/// Resolves a possibly negative `axis` for an array of `ndim` dimensions (0-d arrays take 0/-1).
pub fn normalize_axis(axis: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    if (-n..n).contains(&axis) {
        Ok(axis.rem_euclid(n) as usize)
    } else {
        Err(Error::Value(format!(
            "axis {axis} is out of bounds for an array of dimension {ndim}"
        )))
    }
}

/// Parses the `reduction` keyword.
pub fn parse_reduction(s: &str) -> Result<Reduction> {
    Reduction::parse(s).ok_or_else(|| {
        Error::Value(format!(
            "reduction must be 'none', 'mean' or 'sum', got '{s}'"
        ))
    })
}

/// Checks that two shapes are equal, naming both parameters.
pub fn same_shape(a: &[usize], a_name: &str, b: &[usize], b_name: &str) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::Value(format!(
            "{b_name} shape {} does not match {a_name} shape {}",
            shape_str(b),
            shape_str(a)
        )))
    }
}

/// Below this much work (elements touched) a call keeps the GIL: releasing and re-taking it costs
/// more than the work, and microsecond calls are part of the contract.
pub const DETACH_MIN_WORK: usize = 32 * 1024;

/// The one place array work runs: with the GIL released unless the work is tiny.
pub fn detached<R: Send>(py: Python<'_>, work: usize, f: impl Send + FnOnce() -> R) -> R {
    if work < DETACH_MIN_WORK {
        f()
    } else {
        py.detach(f)
    }
}

/// Marker trait for the element types kernels run on.
pub trait Float: Real + Element {}
impl Float for f32 {}
impl Float for f64 {}

/// Runs a generic expression on whichever dtype a [`FloatArray`] holds.
macro_rules! dispatch {
    ($arr:expr, $a:ident => $body:expr) => {
        match $arr {
            $crate::bindings::FloatArray::F32($a) => $body,
            $crate::bindings::FloatArray::F64($a) => $body,
        }
    };
}
pub(crate) use dispatch;
