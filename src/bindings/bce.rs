//! Bindings of binary_cross_entropy and binary_cross_entropy_with_logits, forward and backward.
//!
//! `weight` and `pos_weight` arrive already broadcast to the input's shape by the Python layer
//! (which rejects broadcasts that would enlarge the output); here they must match it exactly.

use super::args;
use super::array::{borrow, borrow_opt, contiguous, detached, dispatch, same_shape, Float};
use super::output::{output, OutArg};
use super::targets::{check_loss_out, run_loss, GradArg, GradOutput};
use super::FloatArray;
use crate::error::{Error, Result};
use crate::kernels::bce::Bce;
use crate::kernels::bce_logits::BceLogits;
use crate::kernels::pointwise::{self, Inputs, Want};
use crate::kernels::{bce, scalar_grad_scale, GradScale, LossSum, Reduction};
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(binary_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(binary_cross_entropy_backward, m)?)?;
    m.add_function(wrap_pyfunction!(binary_cross_entropy_with_grad, m)?)?;
    m.add_function(wrap_pyfunction!(binary_cross_entropy_with_logits, m)?)?;
    m.add_function(wrap_pyfunction!(
        binary_cross_entropy_with_logits_backward,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        binary_cross_entropy_with_logits_with_grad,
        m
    )?)?;
    Ok(())
}

/// The borrowed, checked arguments of one BCE call.
struct Args<'a, T: Float> {
    x: Cow<'a, [T]>,
    y: Cow<'a, [T]>,
    weight: Option<Cow<'a, [T]>>,
    pos_weight: Option<Cow<'a, [T]>>,
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

    fn slices(&self) -> Slices<'_, T> {
        Slices {
            x: &self.x,
            y: &self.y,
            weight: self.weight.as_deref(),
            pos_weight: self.pos_weight.as_deref(),
        }
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
fn check_probabilities<T: Float>(py: Python<'_>, x: &[T], y: &[T]) -> Result<()> {
    for (v, name) in [(x, "input"), (y, "target")] {
        if let Some(i) = detached(py, v.len(), || bce::first_out_of_range(v)) {
            let bad = v.get(i).map_or(f64::NAN, |a| a.to_f64());
            return Err(Error::Value(format!(
                "binary_cross_entropy: every {name} value must be in [0, 1], got {bad} at flat index {i}"
            )));
        }
    }
    Ok(())
}

/// What a call asks for: the loss, the gradient for a grad_output, or both for grad_output 1.
enum Ask<'a, 'py, T: Float> {
    Loss,
    Grad(&'a GradArg<'py, T>),
    Both,
}

/// The settings of one BCE call.
#[derive(Clone, Copy)]
struct Call<'a, 'py> {
    /// `binary_cross_entropy_with_logits` (else on probabilities).
    logits: bool,
    reduction: Reduction,
    /// The caller's `out=`, if any (already separated from the inputs).
    out: Option<&'a Bound<'py, PyAny>>,
}

/// One BCE call on probabilities or on logits.
fn compute<'py, T: Float>(
    call: Call<'_, 'py>,
    ask: &Ask<'_, 'py, T>,
    x: &PyReadonlyArrayDyn<'py, T>,
    y: &PyReadonlyArrayDyn<'py, T>,
    weight: Option<&PyReadonlyArrayDyn<'py, T>>,
    pos_weight: Option<&PyReadonlyArrayDyn<'py, T>>,
) -> Result<Bound<'py, PyAny>> {
    let (py, logits) = (x.py(), call.logits);
    let args = Args::new(x, y, weight, pos_weight)?;
    let Slices {
        x: xs,
        y: ys,
        weight,
        pos_weight,
    } = args.slices();
    let inputs = Inputs {
        x: xs,
        y: ys,
        weight,
        pos_weight,
    };
    let n = xs.len();
    // The kernel checks the [0, 1] range of probabilities in its one pass; on a violation a new
    // result is dropped and the error names the first culprit. The caller's `out` must not change
    // on an error, so with one the range is checked first, in a pass of its own.
    if !logits && call.out.is_some() {
        check_probabilities(py, xs, ys)?;
    }
    let in_range = AtomicBool::new(true);
    let run = |want: Want, losses: &mut [T], grad: &mut [T], scale: GradScale<'_, T>| {
        let outcome = if logits {
            pointwise::run(BceLogits, want, inputs, losses, grad, scale)
        } else {
            pointwise::run(Bce, want, inputs, losses, grad, scale)
        };
        if !outcome.in_range {
            in_range.store(false, Ordering::Relaxed);
        }
        outcome.sum
    };
    let result = run_ask(py, ask, x.shape(), call, n, run)?;
    if !in_range.load(Ordering::Relaxed) {
        check_probabilities(py, xs, ys)?;
        return Err(Error::Value(
            "binary_cross_entropy: input and target must be in [0, 1]".to_owned(),
        ));
    }
    Ok(result)
}

/// Runs what `ask` asks for through `run` (want, losses, gradient, scale -> loss sum).
fn run_ask<'py, T: Float>(
    py: Python<'py>,
    ask: &Ask<'_, 'py, T>,
    shape: &[usize],
    call: Call<'_, 'py>,
    n: usize,
    run: impl Sync + Fn(Want, &mut [T], &mut [T], GradScale<'_, T>) -> LossSum,
) -> Result<Bound<'py, PyAny>> {
    let (reduction, out) = (call.reduction, call.out);
    match ask {
        Ask::Loss => run_loss(py, reduction, shape, 2 * n, out, |losses| {
            run(Want::Loss, losses, &mut [], GradScale::Uniform(0.0))
        }),
        Ask::Grad(go) => {
            let go = GradOutput::new(go, reduction, shape)?;
            let scale = go.scale(reduction, || n as f64);
            let grad = output::<T>(py, out, shape)?;
            grad.fill(3 * n, |g| run(Want::Grad, &mut [], g, scale))?;
            Ok(grad.into_any())
        }
        Ask::Both => {
            let scale = GradScale::Uniform(scalar_grad_scale(reduction, 1.0, || n as f64));
            let grad = output::<T>(py, out, shape)?;
            let loss = grad.with_slice(|g| {
                run_loss(py, reduction, shape, 3 * n, None, |losses| {
                    run(Want::Both, losses, g, scale)
                })
            })?;
            Ok(PyTuple::new(py, [loss, grad.into_any()])
                .map_err(Error::Python)?
                .into_any())
        }
    }
}

/// What a BCE entry point returns: the loss, the gradient for a `grad_output`, or both.
#[derive(Clone, Copy, PartialEq)]
enum Entry {
    Loss,
    Grad,
    Both,
}

/// Every BCE entry point: arguments separated from `out`, borrowed, and handed to [`compute`].
fn entry<'py>(
    (logits, kind): (bool, Entry),
    grad_output: Option<&Bound<'py, PyAny>>,
    [input, target]: [&Bound<'py, PyAny>; 2],
    [weight, pos_weight]: [Option<&Bound<'py, PyAny>>; 2],
    reduction: Reduction,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if kind == Entry::Loss {
        check_loss_out(reduction, out)?;
    }
    let out = OutArg::new(out);
    let [input, target] = out.separate_all([input, target])?;
    let grad_output = out.separate_opt(grad_output)?;
    let (weight, pos_weight) = (out.separate_opt(weight)?, out.separate_opt(pos_weight)?);
    let call = Call {
        logits,
        reduction,
        out: out.get(),
    };
    Ok(dispatch!(FloatArray::extract(&input, "input")?, x => {
        let go = grad_output.as_ref().map(GradArg::extract).transpose()?;
        let y = borrow(&target, "target")?;
        let w = borrow_opt(weight.as_ref(), "weight")?;
        let pw = borrow_opt(pos_weight.as_ref(), "pos_weight")?;
        let ask = match (&go, kind) {
            (Some(go), _) => Ask::Grad(go),
            (None, Entry::Loss) => Ask::Loss,
            (None, _) => Ask::Both,
        };
        compute(call, &ask, &x, &y, w.as_ref(), pw.as_ref())
    })?)
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, reduction=Reduction::Mean, out=None))]
fn binary_cross_entropy<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let arrays = [input, target];
    entry(
        (false, Entry::Loss),
        None,
        arrays,
        [weight, None],
        reduction,
        out,
    )
}

#[pyfunction]
#[pyo3(signature = (grad_output, input, target, weight=None, reduction=Reduction::Mean, out=None))]
fn binary_cross_entropy_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (arrays, go) = ([input, target], Some(grad_output));
    entry(
        (false, Entry::Grad),
        go,
        arrays,
        [weight, None],
        reduction,
        out,
    )
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, pos_weight=None, reduction=Reduction::Mean, out=None))]
fn binary_cross_entropy_with_logits<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let arrays = [input, target];
    entry(
        (true, Entry::Loss),
        None,
        arrays,
        [weight, pos_weight],
        reduction,
        out,
    )
}

#[pyfunction]
#[pyo3(signature = (grad_output, input, target, weight=None, pos_weight=None, reduction=Reduction::Mean, out=None))]
fn binary_cross_entropy_with_logits_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (arrays, go) = ([input, target], Some(grad_output));
    entry(
        (true, Entry::Grad),
        go,
        arrays,
        [weight, pos_weight],
        reduction,
        out,
    )
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, reduction=Reduction::Mean, out=None))]
fn binary_cross_entropy_with_grad<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let arrays = [input, target];
    entry(
        (false, Entry::Both),
        None,
        arrays,
        [weight, None],
        reduction,
        out,
    )
}

#[pyfunction]
#[pyo3(signature = (input, target, weight=None, pos_weight=None, reduction=Reduction::Mean, out=None))]
fn binary_cross_entropy_with_logits_with_grad<'py>(
    input: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    weight: Option<&Bound<'py, PyAny>>,
    pos_weight: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = args::reduction)] reduction: Reduction,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let arrays = [input, target];
    entry(
        (true, Entry::Both),
        None,
        arrays,
        [weight, pos_weight],
        reduction,
        out,
    )
}
