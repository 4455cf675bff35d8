//! Bindings of binary_cross_entropy and binary_cross_entropy_with_logits, forward and backward.
//!
//! `weight` and `pos_weight` arrive already broadcast to the input's shape by the Python layer
//! (which rejects broadcasts that would enlarge the output); here they must match it exactly.

use super::array::{
    borrow, borrow_opt, contiguous, dispatch, fill, new_array, parse_reduction, same_shape, slice,
    Float,
};
use super::targets::{run_loss, GradOutput};
use super::FloatArray;
use crate::error::{Error, Result};
use crate::kernels::{bce, bce_logits, Reduction};
use numpy::ndarray::{CowArray, IxDyn};
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(binary_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(binary_cross_entropy_backward, m)?)?;
    m.add_function(wrap_pyfunction!(binary_cross_entropy_with_logits, m)?)?;
    m.add_function(wrap_pyfunction!(
        binary_cross_entropy_with_logits_backward,
        m
    )?)?;
    Ok(())
}

/// The borrowed, checked arguments of one BCE call.
struct Args<'a, T: Float> {
    x: CowArray<'a, T, IxDyn>,
    y: CowArray<'a, T, IxDyn>,
    weight: Option<CowArray<'a, T, IxDyn>>,
    pos_weight: Option<CowArray<'a, T, IxDyn>>,
}

impl<'a, T: Float> Args<'a, T> {
    fn new(
        x: &'a PyReadonlyArrayDyn<'_, T>,
        y: &'a PyReadonlyArrayDyn<'_, T>,
        weight: Option<&'a PyReadonlyArrayDyn<'_, T>>,
        pos_weight: Option<&'a PyReadonlyArrayDyn<'_, T>>,
    ) -> Result<Self> {
        same_shape(x.shape(), "input", y.shape(), "target")?;
        for (w, name) in [(weight, "weight"), (pos_weight, "pos_weight")] {
            if let Some(w) = w {
                same_shape(x.shape(), "input", w.shape(), name)?;
            }
        }
        Ok(Args {
            x: contiguous(x),
            y: contiguous(y),
            weight: weight.map(contiguous),
            pos_weight: pos_weight.map(contiguous),
        })
    }

    fn slices(&self) -> Result<Slices<'_, T>> {
        Ok(Slices {
            x: slice(&self.x)?,
            y: slice(&self.y)?,
            weight: self.weight.as_ref().map(slice).transpose()?,
            pos_weight: self.pos_weight.as_ref().map(slice).transpose()?,
        })
    }
}

/// The element slices of [`Args`].
struct Slices<'a, T> {
    x: &'a [T],
    y: &'a [T],
    weight: Option<&'a [T]>,
    pos_weight: Option<&'a [T]>,
}

/// BCE on probabilities requires input and target in [0, 1].
fn check_probabilities<T: Float>(x: &[T], y: &[T]) -> Result<()> {
    for (v, name) in [(x, "input"), (y, "target")] {
        if let Some(i) = bce::first_out_of_range(v) {
            let bad = v.get(i).map_or(f64::NAN, |a| a.to_f64());
            return Err(Error::Value(format!(
                "binary_cross_entropy: every {name} value must be in [0, 1], got {bad} at flat index {i}"
            )));
        }
    }
    Ok(())
}

/// Which loss: on probabilities (`logits == false`) or on logits.
fn forward<'py, T: Float>(
    logits: bool,
    x: &PyReadonlyArrayDyn<'py, T>,
    y: &PyReadonlyArrayDyn<'py, T>,
    weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    pos_weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    reduction: Reduction,
) -> Result<Bound<'py, PyAny>> {
    let args = Args::new(x, y, weight, pos_weight)?;
    let Slices {
        x: xs,
        y: ys,
        weight: ws,
        pos_weight: pws,
    } = args.slices()?;
    if !logits {
        check_probabilities(xs, ys)?;
    }
    run_loss(x.py(), reduction, x.shape(), |losses| {
        if logits {
            bce_logits::forward(xs, ys, ws, pws, losses)
        } else {
            bce::forward(xs, ys, ws, losses)
        }
    })
}

fn backward<'py, T: Float>(
    logits: bool,
    go: &PyReadonlyArrayDyn<'py, T>,
    x: &PyReadonlyArrayDyn<'py, T>,
    y: &PyReadonlyArrayDyn<'py, T>,
    weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    pos_weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    reduction: Reduction,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let args = Args::new(x, y, weight, pos_weight)?;
    let Slices {
        x: xs,
        y: ys,
        weight: ws,
        pos_weight: pws,
    } = args.slices()?;
    if !logits {
        check_probabilities(xs, ys)?;
    }
    let go = GradOutput::new(go, reduction, x.shape())?;
    let scale = go.scale(reduction, xs.len() as f64)?;
    let grad = new_array::<T>(py, x.shape());
    fill(py, &grad, |g| {
        if logits {
            bce_logits::backward(xs, ys, ws, pws, scale, g);
        } else {
            bce::backward(xs, ys, ws, scale, g);
        }
    })?;
    Ok(grad.into_any())
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, reduction="mean"))]
fn binary_cross_entropy<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    reduction: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let reduction = parse_reduction(reduction)?;
    Ok(dispatch!(FloatArray::extract(input, "input")?, x => {
        let (y, w) = (borrow(target, "target")?, borrow_opt(weight, "weight")?);
        forward(false, &x, &y, w.as_ref(), None, reduction)
    })?)
}

#[pyfunction]
#[pyo3(signature = (grad_output, input, target, weight=None, reduction="mean"))]
fn binary_cross_entropy_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    reduction: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let reduction = parse_reduction(reduction)?;
    Ok(dispatch!(FloatArray::extract(input, "input")?, x => {
        let (go, y, w) = (borrow(grad_output, "grad_output")?, borrow(target, "target")?, borrow_opt(weight, "weight")?);
        backward(false, &go, &x, &y, w.as_ref(), None, reduction)
    })?)
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, pos_weight=None, reduction="mean"))]
fn binary_cross_entropy_with_logits<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    reduction: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let reduction = parse_reduction(reduction)?;
    Ok(dispatch!(FloatArray::extract(input, "input")?, x => {
        let (y, w, pw) = (borrow(target, "target")?, borrow_opt(weight, "weight")?, borrow_opt(pos_weight, "pos_weight")?);
        forward(true, &x, &y, w.as_ref(), pw.as_ref(), reduction)
    })?)
}

#[pyfunction]
#[pyo3(signature = (grad_output, input, target, weight=None, pos_weight=None, reduction="mean"))]
fn binary_cross_entropy_with_logits_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    reduction: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let reduction = parse_reduction(reduction)?;
    Ok(dispatch!(FloatArray::extract(input, "input")?, x => {
        let go = borrow(grad_output, "grad_output")?;
        let (y, w, pw) = (borrow(target, "target")?, borrow_opt(weight, "weight")?, borrow_opt(pos_weight, "pos_weight")?);
        backward(true, &go, &x, &y, w.as_ref(), pw.as_ref(), reduction)
    })?)
}
