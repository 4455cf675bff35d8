//! The only code that touches pyo3/numpy. Each function is extract → validate → detach → convert:
//! borrow the arrays, check every shape, dtype and value (nothing is written before that), run
//! the kernel with the GIL released through [`detached`], and hand back a NumPy array or scalar.
//!
//! The Python layer (`python/softloss/functional.py`) has already normalised dtypes (float16 →
//! float32, integer targets → int64, non-native byte order → native), so arrays arrive here as
//! `float32`/`float64` in any memory layout.

mod args;
mod array;
mod bce;
mod cross_entropy;
mod nll;
mod output;
mod softmax;
mod targets;

use numpy::{PyArrayDescr, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyFloat;

pub use array::FloatArray;

/// Adds every native function to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    softmax::register(m)?;
    nll::register(m)?;
    cross_entropy::register(m)?;
    bce::register(m)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(simd_path, m)?)?;
    m.add_function(wrap_pyfunction!(simd_paths, m)?)?;
    m.add_function(wrap_pyfunction!(streaming_stores, m)?)?;
    m.add_function(wrap_pyfunction!(finish, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Sets the number of threads of softloss's private pool (rebuilt on the next parallel call).
#[pyfunction]
fn set_num_threads(#[pyo3(from_py_with = args::thread_count)] n: i64) -> PyResult<()> {
    let ok = usize::try_from(n).is_ok_and(crate::parallel::set_num_threads);
    if ok {
        Ok(())
    } else {
        Err(crate::error::Error::Value(format!(
            "set_num_threads: n must be between 1 and {}, got {n}",
            crate::parallel::MAX_THREADS
        ))
        .into())
    }
}

/// The number of threads softloss's kernels use.
#[pyfunction]
fn get_num_threads() -> usize {
    crate::parallel::num_threads()
}

/// The instruction-set path the kernels run on in this process.
#[pyfunction]
fn simd_path() -> &'static str {
    crate::simd::active().name()
}

/// Every instruction-set path this CPU supports, lowest first.
#[pyfunction]
fn simd_paths() -> Vec<&'static str> {
    crate::simd::supported()
        .into_iter()
        .map(crate::simd::Path::name)
        .collect()
}

/// Whether outputs far larger than the last-level cache are written with non-temporal stores.
#[pyfunction]
fn streaming_stores() -> bool {
    crate::simd::streaming_stores()
}

/// A native result as the public functions return it, for the common cases: a loss's float64
/// sum (an exact `float`) becomes a NumPy scalar of `dtype` when that is float32 (rounded once:
/// to nearest, ties to even, ±inf beyond the range, NaN kept) or float64; an array already of
/// `dtype` is returned as it is. Anything else (float16 results, arrays to convert) is handed to
/// `softloss._prep.finish_other`. `np.float32(value)` in Python costs several times as much, which
/// shows on microsecond calls.
#[pyfunction]
fn finish<'py>(
    result: &Bound<'py, PyAny>,
    dtype: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = result.py();
    let (f32_dtype, f64_dtype) = (numpy::dtype::<f32>(py), numpy::dtype::<f64>(py));
    if let Ok(v) = result.cast_exact::<PyFloat>() {
        // NumPy's built-in native-order descriptors are singletons, so identity is the test.
        if dtype.is(&f32_dtype) {
            #[allow(clippy::cast_possible_truncation)] // the rounding is the point
            return scalar(py, v.value() as f32, &f32_dtype);
        }
        if dtype.is(&f64_dtype) {
            return scalar(py, v.value(), &f64_dtype);
        }
    } else if let Ok(a) = result.cast_exact::<PyUntypedArray>() {
        if a.dtype().is(dtype) {
            return Ok(result.clone());
        }
    }
    py.import("softloss._prep")?
        .getattr("finish_other")?
        .call1((result, dtype))
}

/// A NumPy scalar of `descr` (which must describe `T`) holding `v`.
fn scalar<'py, T: numpy::Element>(
    py: Python<'py>,
    mut v: T,
    descr: &Bound<'py, PyArrayDescr>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `v` is a `T` matching the descriptor; `PyArray_Scalar` copies it into a new scalar
    // and neither keeps nor steals `descr`; a null `base` is allowed for numeric dtypes.
    unsafe {
        let scalar = numpy::npyffi::PY_ARRAY_API.PyArray_Scalar(
            py,
            std::ptr::addr_of_mut!(v).cast(),
            descr.as_ptr().cast(),
            std::ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(py, scalar)
    }
}
