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
mod softmax;
mod targets;

use pyo3::prelude::*;

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
    m.add_function(wrap_pyfunction!(to_float32, m)?)?;
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

/// `value` rounded once to float32 (to nearest, ties to even; beyond float32's range ±inf, NaN
/// stays NaN) as a NumPy scalar: the float32 result of a loss's float64 sum. `np.float32(value)`
/// costs several times as much, which shows on microsecond calls.
#[pyfunction]
fn to_float32(py: Python<'_>, value: f64) -> PyResult<Bound<'_, PyAny>> {
    #[allow(clippy::cast_possible_truncation)] // the rounding is the point
    let mut v = value as f32;
    let descr = numpy::dtype::<f32>(py);
    // SAFETY: `v` is a float32 matching the descriptor; `PyArray_Scalar` copies it into a new
    // scalar and neither keeps nor steals `descr`; a null `base` is allowed for numeric dtypes.
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
