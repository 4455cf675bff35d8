//! Bindings of nll_loss and its backward pass.

use super::args;
use super::array::{borrow, borrow_opt, contiguous, dispatch, Float, Output};
use super::targets::{run_loss, weight_sum, ClassAxis, ClassData, GradOutput};
use super::FloatArray;
use crate::error::Result;
use crate::kernels::nll;
use crate::kernels::Reduction;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(nll_loss, m)?)?;
    m.add_function(wrap_pyfunction!(nll_loss_backward, m)?)?;
    Ok(())
}

/// `nll_loss(input, target, weight, ignore_index, reduction, axis)`; `target` is int64.
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, reduction=Reduction::Mean, axis=None))]
fn nll_loss<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::ignore_index)] ignore_index: i64,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    #[pyo3(from_py_with = args::optional_axis)] axis: Option<isize>,
) -> PyResult<Bound<'py, PyAny>> {
    let target = borrow::<i64>(target, "target")?;
    Ok(dispatch!(FloatArray::extract(input, "input")?, x => {
        let weight = borrow_opt(weight, "weight")?;
        forward_t(&x, &target, weight.as_ref(), ignore_index, reduction, axis)
    })?)
}

fn forward_t<'py, T: Float>(
    x: &PyReadonlyArrayDyn<'py, T>,
    target: &PyReadonlyArrayDyn<'py, i64>,
    weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    ignore_index: i64,
    reduction: crate::kernels::Reduction,
    axis: Option<isize>,
) -> Result<Bound<'py, PyAny>> {
    let ax = ClassAxis::new(x.shape(), axis)?;
    let data = ClassData::new(&ax, x.shape(), target, weight, ignore_index)?;
    let targets = data.targets(x.py(), ax.layout.classes)?.targets;
    let xc = contiguous(x);
    let xs: &[T] = &xc;
    run_loss(
        x.py(),
        reduction,
        &ax.loss_shape,
        ax.layout.rows(),
        |losses| nll::forward(xs, &targets, ax.layout, losses),
    )
}

/// `nll_loss_backward(grad_output, input, target, weight, ignore_index, reduction, axis)`.
#[pyfunction]
#[pyo3(signature = (grad_output, input, target, weight=None, ignore_index=-100, reduction=Reduction::Mean, axis=None))]
fn nll_loss_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::ignore_index)] ignore_index: i64,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    #[pyo3(from_py_with = args::optional_axis)] axis: Option<isize>,
) -> PyResult<Bound<'py, PyAny>> {
    let target = borrow::<i64>(target, "target")?;
    Ok(dispatch!(FloatArray::extract(input, "input")?, x => {
        let go = borrow(grad_output, "grad_output")?;
        let weight = borrow_opt(weight, "weight")?;
        backward_t(&go, &x, &target, weight.as_ref(), ignore_index, reduction, axis)
    })?)
}

fn backward_t<'py, T: Float>(
    go: &PyReadonlyArrayDyn<'py, T>,
    x: &PyReadonlyArrayDyn<'py, T>,
    target: &PyReadonlyArrayDyn<'py, i64>,
    weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    ignore_index: i64,
    reduction: crate::kernels::Reduction,
    axis: Option<isize>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let ax = ClassAxis::new(x.shape(), axis)?;
    let data = ClassData::new(&ax, x.shape(), target, weight, ignore_index)?;
    let checked = data.targets(py, ax.layout.classes)?;
    let go = GradOutput::new(go, reduction, &ax.loss_shape)?;
    let scale = go.scale(reduction, || weight_sum(py, &checked));
    let grad = Output::<T>::zeros(py, x.shape());
    grad.fill(ax.layout.rows(), |g| {
        nll::backward(&checked.targets, ax.layout, scale, g);
    })?;
    Ok(grad.into_any())
}
