//! Bindings of softmax, log_softmax and their backward passes.

use super::args;
use super::array::{borrow, contiguous, dispatch, normalize_axis, same_shape, Float};
use super::output::{output, OutArg};
use super::FloatArray;
use crate::error::Result;
use crate::kernels::softmax::{forward as forward_kernel, Kind};
use crate::kernels::softmax_backward::backward as backward_kernel;
use crate::kernels::Layout;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(softmax, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax_backward, m)?)?;
    Ok(())
}

/// `softmax(input, axis=-1, out=None)`: float32/float64 `input` in any layout.
#[pyfunction]
#[pyo3(signature = (input, axis=-1, out=None))]
fn softmax<'py>(
    input: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = args::axis)] axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(forward(Kind::Softmax, input, axis, out)?)
}

/// `log_softmax(input, axis=-1, out=None)`.
#[pyfunction]
#[pyo3(signature = (input, axis=-1, out=None))]
fn log_softmax<'py>(
    input: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = args::axis)] axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(forward(Kind::LogSoftmax, input, axis, out)?)
}

/// `softmax_backward(grad_output, output, axis=-1, out=None)`.
#[pyfunction]
#[pyo3(signature = (grad_output, output, axis=-1, out=None))]
fn softmax_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    output: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = args::axis)] axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(backward(Kind::Softmax, grad_output, output, axis, out)?)
}

/// `log_softmax_backward(grad_output, output, axis=-1, out=None)`.
#[pyfunction]
#[pyo3(signature = (grad_output, output, axis=-1, out=None))]
fn log_softmax_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    output: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = args::axis)] axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(backward(Kind::LogSoftmax, grad_output, output, axis, out)?)
}

fn forward<'py>(
    kind: Kind,
    input: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let out = OutArg::new(out);
    let input = out.separate(input)?;
    dispatch!(FloatArray::extract(&input, "input")?, x => forward_t(kind, &x, axis, out.get()))
}

fn forward_t<'py, T: Float>(
    kind: Kind,
    x: &PyReadonlyArrayDyn<'py, T>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let shape = x.shape();
    let lay = Layout::new(shape, normalize_axis(axis, shape.len())?);
    let result = output::<T>(py, out, shape)?;
    let xc = contiguous(x);
    let xs: &[T] = &xc;
    result.fill(xs.len(), |o| forward_kernel(kind, xs, o, lay))?;
    Ok(result.into_any())
}

fn backward<'py>(
    kind: Kind,
    grad_output: &Bound<'py, PyAny>,
    output: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let out = OutArg::new(out);
    let (output, grad_output) = (out.separate(output)?, out.separate(grad_output)?);
    dispatch!(FloatArray::extract(&output, "output")?, y => {
        let go = borrow(&grad_output, "grad_output")?;
        backward_t(kind, &go, &y, axis, out.get())
    })
}

fn backward_t<'py, T: Float>(
    kind: Kind,
    go: &PyReadonlyArrayDyn<'py, T>,
    y: &PyReadonlyArrayDyn<'py, T>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let py = y.py();
    let shape = y.shape();
    same_shape(shape, "output", go.shape(), "grad_output")?;
    let lay = Layout::new(shape, normalize_axis(axis, shape.len())?);
    let result = output::<T>(py, out, shape)?;
    let (gc, yc) = (contiguous(go), contiguous(y));
    let (gs, ys): (&[T], &[T]) = (&gc, &yc);
    result.fill(3 * ys.len(), |o| backward_kernel(kind, gs, ys, o, lay))?;
    Ok(result.into_any())
}
