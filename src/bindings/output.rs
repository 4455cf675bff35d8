//! Where results go: an array allocated by the call, or the caller's `out=`; and the inputs that
//! are copied first because they share memory with `out`.
//!
//! `out` may be an input itself (an in-place softmax, a gradient written over its logits), or
//! overlap one in any way. Every array argument of a call that takes `out=` passes through
//! [`OutArg::separate`] before it is borrowed: one that may share memory with `out` is copied, so
//! a kernel never reads what it writes, and rust-numpy's borrow check never sees `out` and an
//! input at once.

use super::array::{detached, same_shape, type_name};
use crate::error::{Error, Result};
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

/// The caller's `out=` (absent for `None`), with the bytes it spans when it is an ndarray.
pub struct OutArg<'py> {
    obj: Option<Bound<'py, PyAny>>,
    span: Option<(i128, i128)>,
}

impl<'py> OutArg<'py> {
    /// Reads `out=`. Anything but an ndarray is kept as it is, for [`output`] to refuse.
    pub fn new(out: Option<&Bound<'py, PyAny>>) -> Self {
        let obj = out.filter(|o| !o.is_none()).cloned();
        let span = obj
            .as_ref()
            .and_then(|o| o.cast::<PyUntypedArray>().ok().map(|a| byte_span(a)));
        OutArg { obj, span }
    }

    /// The `out` object, if one was given.
    pub fn get(&self) -> Option<&Bound<'py, PyAny>> {
        self.obj.as_ref()
    }

    /// `input`, or a copy of it when it may share memory with `out` (their byte spans meet, as
    /// in `np.may_share_memory`). Empty inputs are copied whenever `out` is given: they span no
    /// bytes, yet the borrow check refuses the same empty array twice. Copies cost one call's
    /// traffic and happen only for aliasing calls.
    pub fn separate(&self, input: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
        let (Some((lo, hi)), Ok(a)) = (self.span, input.cast::<PyUntypedArray>()) else {
            return Ok(input.clone());
        };
        let (a_lo, a_hi) = byte_span(a);
        if a.is_empty() || (a_lo < hi && lo < a_hi) {
            return input.call_method0("copy").map_err(Error::Python);
        }
        Ok(input.clone())
    }

    /// [`OutArg::separate`] for each of `inputs`.
    pub fn separate_all<const N: usize>(
        &self,
        inputs: [&Bound<'py, PyAny>; N],
    ) -> Result<[Bound<'py, PyAny>; N]> {
        let mut kept = inputs.map(Bound::clone);
        if self.span.is_some() {
            for k in &mut kept {
                *k = self.separate(k)?;
            }
        }
        Ok(kept)
    }

    /// [`OutArg::separate`] for an optional argument (`None` stays `None`).
    pub fn separate_opt(
        &self,
        input: Option<&Bound<'py, PyAny>>,
    ) -> Result<Option<Bound<'py, PyAny>>> {
        input
            .filter(|o| !o.is_none())
            .map(|i| self.separate(i))
            .transpose()
    }
}

/// The bytes `[start, end)` holding an array's elements (empty for an array of no elements).
fn byte_span(a: &Bound<'_, PyUntypedArray>) -> (i128, i128) {
    // SAFETY: `a` is a live ndarray, whose fields the accessor reaches; the data pointer is only
    // compared, never dereferenced.
    let data = unsafe { (*numpy::npyffi::_PyArray_GET_ITEM_DATA(a.as_array_ptr())).data };
    let data = data as usize as i128;
    if a.is_empty() {
        return (data, data);
    }
    let (mut lo, mut hi) = (data, data + a.dtype().itemsize() as i128);
    for (&dim, &stride) in a.shape().iter().zip(a.strides()) {
        let reach = (dim as i128 - 1) * stride as i128;
        if reach < 0 {
            lo += reach;
        } else {
            hi += reach;
        }
    }
    (lo, hi)
}

/// An array a result is written to: one allocated by this call, or the caller's `out=`.
pub struct Output<'py, T> {
    array: Bound<'py, PyArrayDyn<T>>,
    /// Allocated here and not yet seen by Python, so no other reference to it exists.
    fresh: bool,
}

impl<'py, T: Element + Send> Output<'py, T> {
    /// A new uninitialised C-contiguous array; the caller fills every element.
    pub fn new(py: Python<'py>, shape: &[usize]) -> Self {
        // SAFETY: f32/f64 have no invalid bit patterns, and every caller writes each element (the
        // kernels cover the whole output) before the array is returned to Python.
        let array = unsafe { PyArrayDyn::<T>::new(py, shape, false) };
        Output { array, fresh: true }
    }

    /// A new zero-filled C-contiguous array.
    pub fn zeros(py: Python<'py>, shape: &[usize]) -> Self {
        Output {
            array: PyArrayDyn::<T>::zeros(py, shape, false),
            fresh: true,
        }
    }

    /// Runs `f` on the elements (borrow conflicts on a caller's array become a ValueError).
    pub fn with_slice<R>(&self, f: impl FnOnce(&mut [T]) -> Result<R>) -> Result<R> {
        let not_contiguous = || Error::Value("out must be C-contiguous".to_owned());
        if self.fresh {
            // SAFETY: the array was allocated by this call and has not been handed to Python or
            // borrowed elsewhere, so this is the only reference to its memory.
            let s = unsafe { self.array.as_slice_mut() }.map_err(|_| not_contiguous())?;
            return f(s);
        }
        let mut rw = self
            .array
            .try_readwrite()
            .map_err(|e| Error::Value(format!("out cannot be written: {e}")))?;
        f(rw.as_slice_mut().map_err(|_| not_contiguous())?)
    }

    /// Runs `f` on the elements through [`detached`] (`work` elements touched in all).
    pub fn fill<R: Send>(&self, work: usize, f: impl Send + FnOnce(&mut [T]) -> R) -> Result<R> {
        let py = self.array.py();
        self.with_slice(|s| Ok(detached(py, work, || f(s))))
    }

    /// The array, as a Python object.
    pub fn into_any(self) -> Bound<'py, PyAny> {
        self.array.into_any()
    }
}

/// The array results are written to: the caller's `out` (checked: an ndarray of dtype `T`, the
/// expected shape, C-contiguous, writeable) or a new uninitialised one.
pub fn output<'py, T: Element + Send>(
    py: Python<'py>,
    out: Option<&Bound<'py, PyAny>>,
    shape: &[usize],
) -> Result<Output<'py, T>> {
    let Some(obj) = out.filter(|o| !o.is_none()) else {
        return Ok(Output::new(py, shape));
    };
    let arr = obj.cast::<PyArrayDyn<T>>().map_err(|_| {
        let want = numpy::dtype::<T>(py)
            .str()
            .map_or_else(|_| "?".to_owned(), |s| s.to_string());
        Error::Type(format!(
            "out must be a numpy array of dtype {want}, got {}",
            type_name(obj)
        ))
    })?;
    same_shape(shape, "result", arr.shape(), "out")?;
    if !arr.is_c_contiguous() {
        return Err(Error::Value("out must be C-contiguous".to_owned()));
    }
    // Borrowing for writing checks the WRITEABLE flag; the borrow ends here, before any work.
    if let Err(e) = arr.try_readwrite() {
        return Err(Error::Value(format!(
            "out must be a writeable array that no input overlaps: {e}"
        )));
    }
    Ok(Output {
        array: arr.clone(),
        fresh: false,
    })
}
