//! Bindings of nll_loss and its backward pass.

use super::args;
use super::array::{borrow, borrow_opt, contiguous, dispatch, Float};
use super::output::{output, OutArg, Output};
use super::targets::{
    check_loss_out, run_loss, weight_sum, ClassAxis, ClassData, GradArg, GradOutput,
};
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
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, reduction=Reduction::Mean, axis=None, out=None))]
fn nll_loss<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::ignore_index)] ignore_index: i64,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    #[pyo3(from_py_with = args::optional_axis)] axis: Option<isize>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    check_loss_out(reduction, out)?;
    let out = OutArg::new(out);
    let [input, target] = out.separate_all([input, target])?;
    let weight = out.separate_opt(weight)?;
    let target = borrow::<i64>(&target, "target")?;
    Ok(dispatch!(FloatArray::extract(&input, "input")?, x => {
        let weight = borrow_opt(weight.as_ref(), "weight")?;
        forward_t(&x, &target, weight.as_ref(), ignore_index, reduction, axis, out.get())
    })?)
}

fn forward_t<'py, T: Float>(
    x: &PyReadonlyArrayDyn<'py, T>,
    target: &PyReadonlyArrayDyn<'py, i64>,
    weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    ignore_index: i64,
    reduction: crate::kernels::Reduction,
    axis: Option<isize>,
    out: Option<&Bound<'py, PyAny>>,
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
        out,
        |losses| nll::forward(xs, &targets, ax.layout, losses),
    )
}

/// `nll_loss_backward(grad_output, input, target, weight, ignore_index, reduction, axis)`.
#[pyfunction]
#[pyo3(signature = (grad_output, input, target, weight=None, ignore_index=-100, reduction=Reduction::Mean, axis=None, out=None))]
fn nll_loss_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::ignore_index)] ignore_index: i64,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    #[pyo3(from_py_with = args::optional_axis)] axis: Option<isize>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let out = OutArg::new(out);
    let [grad_output, input, target] = out.separate_all([grad_output, input, target])?;
    let weight = out.separate_opt(weight)?;
    let target = borrow::<i64>(&target, "target")?;
    Ok(dispatch!(FloatArray::extract(&input, "input")?, x => {
        let go = GradArg::extract(&grad_output)?;
        let weight = borrow_opt(weight.as_ref(), "weight")?;
        backward_t(&go, &x, &target, weight.as_ref(), ignore_index, reduction, axis, out.get())
    })?)
}

fn backward_t<'py, T: Float>(
    go: &GradArg<'py, T>,
    x: &PyReadonlyArrayDyn<'py, T>,
    target: &PyReadonlyArrayDyn<'py, i64>,
    weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    ignore_index: i64,
    reduction: crate::kernels::Reduction,
    axis: Option<isize>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let ax = ClassAxis::new(x.shape(), axis)?;
    let data = ClassData::new(&ax, x.shape(), target, weight, ignore_index)?;
    let checked = data.targets(py, ax.layout.classes)?;
    let go = GradOutput::new(go, reduction, &ax.loss_shape)?;
    let scale = go.scale(reduction, || weight_sum(py, &checked));
    // The kernel writes only the target entries: a new array comes zeroed, `out` is zeroed here.
    let zero_first = out.is_some();
    let grad = if zero_first {
        output::<T>(py, out, x.shape())?
    } else {
        Output::<T>::zeros(py, x.shape())
    };
    let work = if zero_first {
        x.len()
    } else {
        ax.layout.rows()
    };
    grad.fill(work, |g| {
        if zero_first {
            g.fill(T::ZERO);
        }
        nll::backward(&checked.targets, ax.layout, scale, g);
    })?;
    Ok(grad.into_any())
}
