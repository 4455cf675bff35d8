//! Validation and conversion shared by the loss bindings: the class axis, target shapes and
//! values, class weights, `grad_output`, and turning a [`LossSum`] into the Python result.

use super::array::{borrow, contiguous, detached, normalize_axis, Float};
use super::output::output;
use crate::error::{shape_str, Error, Result};
use crate::kernels::nll::{CheckedTargets, ClassTargets};
use crate::kernels::{scalar_grad_scale, GradScale, Layout, LossSum, Reduction};
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyFloat;
use std::borrow::Cow;

/// The class axis and layout of a loss input, and the shape its targets / per-element losses have.
pub struct ClassAxis {
    /// `(outer, classes, inner)` around the class axis.
    pub layout: Layout,
    /// The class axis, normalised.
    pub axis: usize,
    /// The input's shape without the class axis.
    pub loss_shape: Vec<usize>,
}

impl ClassAxis {
    /// PyTorch's convention for `axis=None` (1, or 0 for a 1-D input); an int selects the axis.
    pub fn new(input_shape: &[usize], axis: Option<isize>) -> Result<Self> {
        let ndim = input_shape.len();
        if ndim == 0 {
            return Err(Error::Value(
                "input must have at least 1 dimension (the class axis), got a 0-d array".to_owned(),
            ));
        }
        let axis = match axis {
            None => usize::from(ndim >= 2),
            Some(a) => normalize_axis(a, ndim)?,
        };
        let mut loss_shape = input_shape.to_vec();
        loss_shape.remove(axis);
        Ok(ClassAxis {
            layout: Layout::new(input_shape, axis),
            axis,
            loss_shape,
        })
    }

    /// Checks the shape of class targets (or of a per-element `grad_output`).
    pub fn check_loss_shape(&self, got: &[usize], name: &str, input_shape: &[usize]) -> Result<()> {
        if got == self.loss_shape.as_slice() {
            return Ok(());
        }
        Err(Error::Value(format!(
            "{name} shape {} does not match input shape {}: expected {} (the input without its class axis {})",
            shape_str(got),
            shape_str(input_shape),
            shape_str(&self.loss_shape),
            self.axis
        )))
    }
}

/// Checks that class weights are 1-D of length `classes`.
pub fn check_class_weight(shape: &[usize], classes: usize) -> Result<()> {
    if shape == [classes] {
        Ok(())
    } else {
        Err(Error::Value(format!(
            "weight must be a 1-D array with one entry per class ({classes}), got shape {}",
            shape_str(shape)
        )))
    }
}

/// Checks every class target against `[0, classes)` (ignored values pass), in one pass with
/// the GIL released when there are many.
fn check_targets<'a, T: Float>(
    py: Python<'_>,
    t: ClassTargets<'a, T>,
    classes: usize,
) -> Result<CheckedTargets<'a, T>> {
    detached(py, t.target.len(), || t.check(classes)).map_err(|v| {
        Error::Index(format!(
            "target {v} is out of bounds: class targets must lie in [0, {classes}) or equal ignore_index ({})",
            t.ignore_index
        ))
    })
}

/// `W` for the gradient of a mean, with the GIL released when a weighted sum runs over many
/// targets (without weights it is the check's count).
pub fn weight_sum<T: Float>(py: Python<'_>, c: &CheckedTargets<'_, T>) -> f64 {
    detached(py, c.targets.target.len(), || c.weight_sum())
}

/// Borrowed, C-contiguous class targets and weights.
pub struct ClassData<'a, T: Float> {
    target: Cow<'a, [i64]>,
    weight: Option<Cow<'a, [T]>>,
    ignore_index: i64,
}

impl<'a, T: Float> ClassData<'a, T> {
    /// Validates `target` (shape) and `weight` (shape) against the input's class axis.
    pub fn new(
        axis: &ClassAxis,
        input_shape: &[usize],
        target: &'a PyReadonlyArrayDyn<'_, i64>,
        weight: Option<&'a PyReadonlyArrayDyn<'_, T>>,
        ignore_index: i64,
    ) -> Result<Self> {
        axis.check_loss_shape(target.shape(), "target", input_shape)?;
        if let Some(w) = weight {
            check_class_weight(w.shape(), axis.layout.classes)?;
        }
        Ok(ClassData {
            target: contiguous(target),
            weight: weight.map(contiguous),
            ignore_index,
        })
    }

    /// The kernel's view, with every target value checked.
    pub fn targets(&self, py: Python<'_>, classes: usize) -> Result<CheckedTargets<'_, T>> {
        let t = ClassTargets {
            target: &self.target,
            weight: self.weight.as_deref(),
            ignore_index: self.ignore_index,
        };
        check_targets(py, t, classes)
    }
}

/// `grad_output` as the caller passed it: an array of the input's dtype, or a Python float (the
/// common `1.0`), taken without building an array for it.
pub enum GradArg<'py, T: Float> {
    /// An array (0-d for a scalar).
    Array(PyReadonlyArrayDyn<'py, T>),
    /// A Python float, already rounded to the input's dtype (as an array of it would be).
    Float(T),
}

impl<'py, T: Float> GradArg<'py, T> {
    /// Takes a Python float as it is, anything else as an array of `T`.
    pub fn extract(obj: &Bound<'py, PyAny>) -> Result<Self> {
        if let Ok(v) = obj.cast_exact::<PyFloat>() {
            return Ok(GradArg::Float(T::from_f64(v.value())));
        }
        borrow::<T>(obj, "grad_output").map(GradArg::Array)
    }
}

/// A checked `grad_output`: one scalar (mean, sum) or one value per loss element (none).
pub enum GradOutput<'a, T: Float> {
    /// The scalar grad_output of a mean or sum.
    Scalar(f64),
    /// Per-element grad_output, C-contiguous, shaped like the unreduced loss.
    PerElement(Cow<'a, [T]>),
}

impl<'a, T: Float> GradOutput<'a, T> {
    /// Checks `go` against the reduction: 0-d for mean/sum, `loss_shape` for none.
    pub fn new(go: &'a GradArg<'_, T>, reduction: Reduction, loss_shape: &[usize]) -> Result<Self> {
        let (shape, first) = match go {
            // Through `contiguous`: an ndarray view of a 0-d array costs more than a tiny call.
            GradArg::Array(a) => (a.shape(), contiguous(a).first().copied()),
            GradArg::Float(v) => (&[][..], Some(*v)),
        };
        if reduction == Reduction::None {
            if shape != loss_shape {
                return Err(Error::Value(format!(
                    "grad_output shape {} does not match the loss shape {} (reduction='none')",
                    shape_str(shape),
                    shape_str(loss_shape)
                )));
            }
            return Ok(GradOutput::PerElement(match go {
                GradArg::Array(a) => contiguous(a),
                GradArg::Float(v) => Cow::Owned(vec![*v]),
            }));
        }
        match (shape.len(), first) {
            (0, Some(v)) => Ok(GradOutput::Scalar(v.to_f64())),
            _ => Err(Error::Value(format!(
                "grad_output must be a scalar for reduction='{}', got shape {}",
                if reduction == Reduction::Mean {
                    "mean"
                } else {
                    "sum"
                },
                shape_str(shape)
            ))),
        }
    }

    /// The per-element scale, dividing a scalar by `denominator()` for mean (not called
    /// otherwise).
    pub fn scale(
        &self,
        reduction: Reduction,
        denominator: impl FnOnce() -> f64,
    ) -> GradScale<'_, T> {
        match self {
            GradOutput::Scalar(g) => {
                GradScale::Uniform(scalar_grad_scale(reduction, *g, denominator))
            }
            GradOutput::PerElement(a) => GradScale::PerElement(a),
        }
    }
}

/// Refuses `out=` for a loss that is a scalar (`mean`, `sum`): `out` takes per-element losses.
pub fn check_loss_out(reduction: Reduction, out: Option<&Bound<'_, PyAny>>) -> Result<()> {
    if out.is_none() || reduction == Reduction::None {
        return Ok(());
    }
    let name = if reduction == Reduction::Mean {
        "mean"
    } else {
        "sum"
    };
    Err(Error::Value(format!(
        "out= takes the per-element losses of reduction='none'; reduction='{name}' gives a scalar"
    )))
}

/// Runs a loss kernel and converts its result: an array shaped `loss_shape` for none (`out`, or
/// a new one; the kernel gets one slot per element), otherwise a Python float (the caller rounds
/// it to the dtype). `out` must have passed [`check_loss_out`].
pub fn run_loss<'py, T: Float>(
    py: Python<'py>,
    reduction: Reduction,
    loss_shape: &[usize],
    work: usize,
    out: Option<&Bound<'py, PyAny>>,
    kernel: impl Send + FnOnce(&mut [T]) -> LossSum,
) -> Result<Bound<'py, PyAny>> {
    if reduction == Reduction::None {
        let losses = output::<T>(py, out, loss_shape)?;
        losses.fill(work, kernel)?;
        Ok(losses.into_any())
    } else {
        let sum = detached(py, work, || kernel(&mut []));
        Ok(PyFloat::new(py, sum.reduce(reduction)).into_any())
    }
}
