//! softloss: PyTorch-exact softmax-family kernels and losses for NumPy, computed in Rust.
//!
//! Layout: [`kernels`] holds the pure numerics, [`parallel`] the private thread pool, `bindings`
//! the only code that touches Python, [`error`] the one error type.

pub mod error;
pub mod kernels;
pub mod parallel;
pub mod simd;

mod bindings;

use pyo3::prelude::*;

/// The native module `softloss._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bindings::register(m)
}
