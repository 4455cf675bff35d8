//! Bindings of cross_entropy, its backward pass and the fused loss-and-gradient call.

use super::args;
use super::array::{borrow, borrow_opt, contiguous, dispatch, same_shape, Float};
use super::output::{output, OutArg};
use super::targets::{
    check_loss_out, run_loss, weight_sum, ClassAxis, ClassData, GradArg, GradOutput,
};
use super::FloatArray;
use crate::error::{Error, Result};
use crate::kernels::cross_entropy::{forward_backward, Target};
use crate::kernels::{scalar_grad_scale, GradScale, Reduction};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::borrow::Cow;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy_backward, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy_with_grad, m)?)?;
    Ok(())
}

/// The keyword arguments every cross-entropy entry point shares.
#[derive(Clone, Copy)]
struct Options {
    ignore_index: i64,
    reduction: Reduction,
    label_smoothing: f64,
    axis: Option<isize>,
}

impl Options {
    fn new(
        ignore_index: i64,
        reduction: Reduction,
        label_smoothing: f64,
        axis: Option<isize>,
    ) -> Result<Self> {
        if !(0.0..=1.0).contains(&label_smoothing) {
            return Err(Error::Value(format!(
                "label_smoothing must be in [0, 1], got {label_smoothing}"
            )));
        }
        Ok(Options {
            ignore_index,
            reduction,
            label_smoothing,
            axis,
        })
    }
}

/// What the caller asked for: the loss, the gradient for a given grad_output, or both (go = 1).
enum Want<'a, 'py, T: Float> {
    Loss,
    Grad(&'a GradArg<'py, T>),
    Both,
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, reduction=Reduction::Mean, label_smoothing=0.0, axis=None, out=None))]
fn cross_entropy<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::ignore_index)] ignore_index: i64,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    #[pyo3(from_py_with = args::label_smoothing)] label_smoothing: f64,
    #[pyo3(from_py_with = args::optional_axis)] axis: Option<isize>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options::new(ignore_index, reduction, label_smoothing, axis)?;
    check_loss_out(reduction, out)?;
    let out = OutArg::new(out);
    let [input, target] = out.separate_all([input, target])?;
    let weight = out.separate_opt(weight)?;
    Ok(dispatch!(FloatArray::extract(&input, "input")?, x => {
        run(&x, &target, weight.as_ref(), opts, &Want::Loss, out.get())
    })?)
}

#[pyfunction]
#[pyo3(signature = (grad_output, input, target, weight=None, ignore_index=-100, reduction=Reduction::Mean, label_smoothing=0.0, axis=None, out=None))]
fn cross_entropy_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::ignore_index)] ignore_index: i64,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    #[pyo3(from_py_with = args::label_smoothing)] label_smoothing: f64,
    #[pyo3(from_py_with = args::optional_axis)] axis: Option<isize>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options::new(ignore_index, reduction, label_smoothing, axis)?;
    let out = OutArg::new(out);
    let [grad_output, input, target] = out.separate_all([grad_output, input, target])?;
    let weight = out.separate_opt(weight)?;
    Ok(dispatch!(FloatArray::extract(&input, "input")?, x => {
        let go = GradArg::extract(&grad_output)?;
        run(&x, &target, weight.as_ref(), opts, &Want::Grad(&go), out.get())
    })?)
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, reduction=Reduction::Mean, label_smoothing=0.0, axis=None, out=None))]
fn cross_entropy_with_grad<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::ignore_index)] ignore_index: i64,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    #[pyo3(from_py_with = args::label_smoothing)] label_smoothing: f64,
    #[pyo3(from_py_with = args::optional_axis)] axis: Option<isize>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = Options::new(ignore_index, reduction, label_smoothing, axis)?;
    let out = OutArg::new(out);
    let [input, target] = out.separate_all([input, target])?;
    let weight = out.separate_opt(weight)?;
    Ok(dispatch!(FloatArray::extract(&input, "input")?, x => {
        run(&x, &target, weight.as_ref(), opts, &Want::Both, out.get())
    })?)
}

/// The target, borrowed: class indices (int64) or probabilities (the input's dtype).
enum Borrowed<'py, T: Float> {
    Class(PyReadonlyArrayDyn<'py, i64>),
    Prob(PyReadonlyArrayDyn<'py, T>),
}

fn borrow_target<'py, T: Float>(target: &Bound<'py, PyAny>) -> Result<Borrowed<'py, T>> {
    if target.cast::<PyArrayDyn<i64>>().is_ok() {
        return borrow::<i64>(target, "target").map(Borrowed::Class);
    }
    borrow::<T>(target, "target")
        .map(Borrowed::Prob)
        .map_err(|_| {
            Error::Type(
                "target must be an array of class indices (integers) or of probabilities (floats)"
                    .to_owned(),
            )
        })
}

fn run<'py, T: Float>(
    x: &PyReadonlyArrayDyn<'py, T>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    opts: Options,
    want: &Want<'_, 'py, T>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let ax = ClassAxis::new(x.shape(), opts.axis)?;
    let weight = borrow_opt::<T>(weight, "weight")?;
    let borrowed = borrow_target::<T>(target)?;
    // Validated data that the kernel's Target borrows from.
    let (class_data, prob): (Option<ClassData<'_, T>>, Option<Cow<'_, [T]>>) = match &borrowed {
        Borrowed::Class(t) => (
            Some(ClassData::new(
                &ax,
                x.shape(),
                t,
                weight.as_ref(),
                opts.ignore_index,
            )?),
            None,
        ),
        Borrowed::Prob(y) => {
            same_shape(x.shape(), "input", y.shape(), "target")?;
            if opts.ignore_index >= 0 {
                return Err(Error::Value(format!(
                    "ignore_index ({}) is not supported with probability targets",
                    opts.ignore_index
                )));
            }
            if let Some(w) = &weight {
                super::targets::check_class_weight(w.shape(), ax.layout.classes)?;
            }
            (None, Some(contiguous(y)))
        }
    };
    let weight_c = weight.as_ref().map(contiguous);
    let checked = class_data
        .as_ref()
        .map(|d| d.targets(py, ax.layout.classes))
        .transpose()?;
    let kernel_target = match (&checked, &prob) {
        (Some(c), _) => Target::Class(c.targets),
        (None, Some(y)) => Target::Prob {
            y,
            weight: weight_c.as_deref(),
        },
        (None, None) => return Err(Error::Type("target is missing".to_owned())),
    };
    let xc = contiguous(x);
    let xs: &[T] = &xc;
    let (eps, lay, red) = (opts.label_smoothing, ax.layout, opts.reduction);
    // W for mean with a gradient: known before the gradient is written (the loss's own W comes
    // with its sum).
    let denominator = || {
        checked
            .as_ref()
            .map_or(lay.rows() as f64, |c| weight_sum(py, c))
    };
    match want {
        Want::Loss => run_loss(py, red, &ax.loss_shape, xs.len(), out, |losses| {
            forward_backward(
                xs,
                kernel_target,
                eps,
                lay,
                losses,
                &mut [],
                GradScale::Uniform(0.0),
            )
        }),
        Want::Grad(go) => {
            let go = GradOutput::new(go, red, &ax.loss_shape)?;
            let scale = go.scale(red, denominator);
            let grad = output::<T>(py, out, x.shape())?;
            grad.fill(2 * xs.len(), |g| {
                forward_backward(xs, kernel_target, eps, lay, &mut [], g, scale)
            })?;
            Ok(grad.into_any())
        }
        Want::Both => {
            let grad = output::<T>(py, out, x.shape())?;
            let scale = GradScale::Uniform(scalar_grad_scale(red, 1.0, denominator));
            let loss = grad.with_slice(|g| {
                run_loss(py, red, &ax.loss_shape, 2 * xs.len(), None, |losses| {
                    forward_backward(xs, kernel_target, eps, lay, losses, g, scale)
                })
            })?;
            Ok(PyTuple::new(py, [loss, grad.into_any()])
                .map_err(Error::Python)?
                .into_any())
        }
    }
}
