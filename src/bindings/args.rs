//! Scalar keyword arguments, converted with errors that name the parameter.
//!
//! PyO3's own conversions raise `'float' object cannot be interpreted as an integer` or an
//! `OverflowError` that does not say which argument was wrong (it only attaches a note). These
//! converters, used through `#[pyo3(from_py_with = ...)]`, raise `TypeError` for the wrong kind of
//! object and `ValueError` for an integer or float out of range, with the parameter in the message.

use super::array::parse_reduction;
use crate::kernels::Reduction;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

/// An integer (anything with `__index__`, as in NumPy), or a `TypeError` / `ValueError` naming `name`.
fn integer(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    match obj.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Err(PyValueError::new_err(
            format!("{name} is out of range: {obj}"),
        )),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{name} must be an integer, got {}",
            type_name(obj)
        ))),
    }
}

/// `axis` of the softmax family.
pub fn axis(obj: &Bound<'_, PyAny>) -> PyResult<isize> {
    let v = integer(obj, "axis")?;
    isize::try_from(v).map_err(|_| PyValueError::new_err(format!("axis is out of range: {v}")))
}

/// `axis` of the losses (`None`: PyTorch's class axis).
pub fn optional_axis(obj: &Bound<'_, PyAny>) -> PyResult<Option<isize>> {
    if obj.is_none() {
        Ok(None)
    } else {
        axis(obj).map(Some)
    }
}

/// `ignore_index`.
pub fn ignore_index(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    integer(obj, "ignore_index")
}

/// `n` of `set_num_threads`.
pub fn thread_count(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    integer(obj, "n")
}

/// `reduction`: `'none'`, `'mean'` or `'sum'`.
pub fn reduction(obj: &Bound<'_, PyAny>) -> PyResult<Reduction> {
    let s = obj.extract::<String>().map_err(|_| {
        PyTypeError::new_err(format!(
            "reduction must be a string ('none', 'mean' or 'sum'), got {}",
            type_name(obj)
        ))
    })?;
    Ok(parse_reduction(&s)?)
}

/// `label_smoothing` (its range is checked with the other options).
pub fn label_smoothing(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    if obj.is_instance_of::<pyo3::types::PyString>() || obj.is_none() {
        return Err(PyTypeError::new_err(format!(
            "label_smoothing must be a number, got {}",
            type_name(obj)
        )));
    }
    match obj.extract::<f64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Err(PyValueError::new_err(
            format!("label_smoothing must be in [0, 1], got {obj}"),
        )),
        Err(_) => Err(PyTypeError::new_err(format!(
            "label_smoothing must be a number, got {}",
            type_name(obj)
        ))),
    }
}
