//! Pure-Rust numerics: slices in, slices out. Nothing here knows about Python or NumPy.
//!
//! Every array is seen as C-contiguous `(outer, classes, inner)` around its class axis (see
//! [`Layout`]); a "row" is the `classes` elements `x[o, :, j]`, strided by `inner`. Kernels are
//! generic over [`Real`] (`f32`, `f64`), compute whole rows inside one task and reduce losses in
//! `f64` over a chunking that does not depend on the thread count, so results are deterministic.

pub mod bce;
pub mod bce_logits;
pub mod cross_entropy;
mod cross_entropy_columns;
mod cross_entropy_row;
mod cross_entropy_short;
mod cross_entropy_tile;
mod float;
pub mod nll;
pub mod pointwise;
pub mod rowops;
pub mod softmax;
pub mod softmax_backward;
mod softmax_streamed;
mod softmax_tile;
pub mod tiles;

pub use float::Real;

/// Outputs at least this large (in bytes) are written with non-temporal stores where a kernel
/// writes each element once and that was measured to help (softmax and log_softmax rows), on
/// CPUs where they pay ([`crate::simd::streaming_stores`]): far larger than a last-level cache
/// (32 MiB on the development machines), a plain store would first read every line it writes
/// and evict the input; glibc's `memcpy` (the `x.copy()` baseline) switches to non-temporal
/// stores at a similar size on Intel CPUs. The softmax backward passes measured 3x slower with
/// them on an AMD EPYC, so they keep plain stores.
pub const STREAM_MIN_BYTES: usize = 32 * 1024 * 1024;

/// Whether to write `out` with non-temporal stores (see [`STREAM_MIN_BYTES`]).
#[must_use]
pub fn streams<T>(out: &[T]) -> bool {
    std::mem::size_of_val(out) >= STREAM_MIN_BYTES && crate::simd::streaming_stores()
}

/// An array viewed as `(outer, classes, inner)`, C-contiguous, around its class axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Product of the dimensions before the class axis.
    pub outer: usize,
    /// Length of the class axis.
    pub classes: usize,
    /// Product of the dimensions after the class axis.
    pub inner: usize,
}

impl Layout {
    /// The layout of `shape` around `axis` (which must be `< shape.len()`, or 0 for a 0-d array).
    #[must_use]
    pub fn new(shape: &[usize], axis: usize) -> Self {
        let split = axis.min(shape.len());
        let outer = shape[..split].iter().product();
        let classes = shape.get(split).copied().unwrap_or(1);
        let inner = shape.get(split + 1..).map_or(1, |s| s.iter().product());
        Layout {
            outer,
            classes,
            inner,
        }
    }

    /// Elements in one `(classes, inner)` block.
    #[must_use]
    pub fn block_len(&self) -> usize {
        self.classes * self.inner
    }

    /// Number of rows (one per target element): `outer * inner`.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.outer * self.inner
    }

    /// Total number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.outer * self.classes * self.inner
    }

    /// True when there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// One loss per element, shaped like the target.
    None,
    /// Sum of the losses divided by the weight sum (or the count).
    Mean,
    /// Sum of the losses.
    Sum,
}

impl Reduction {
    /// Parses `"none" | "mean" | "sum"`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Reduction::None),
            "mean" => Some(Reduction::Mean),
            "sum" => Some(Reduction::Sum),
            _ => None,
        }
    }
}

/// A sum of losses and of the weights that normalise them, accumulated in `f64`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSum {
    /// Sum of the per-element losses.
    pub loss: f64,
    /// Sum of the per-element weights (the denominator of `mean`).
    pub weight: f64,
}

impl std::ops::Add for LossSum {
    type Output = LossSum;

    fn add(self, other: LossSum) -> LossSum {
        LossSum {
            loss: self.loss + other.loss,
            weight: self.weight + other.weight,
        }
    }
}

impl LossSum {
    /// Sums partials in the given (fixed) order.
    pub fn total(parts: impl IntoIterator<Item = LossSum>) -> LossSum {
        parts.into_iter().fold(LossSum::default(), |a, b| a + b)
    }

    /// The reduced value: `loss / weight` for mean, `loss` for sum; a NaN is the canonical
    /// quiet NaN, whatever the order its terms met in.
    #[must_use]
    pub fn reduce(self, reduction: Reduction) -> f64 {
        let v = match reduction {
            Reduction::Mean => self.loss / self.weight,
            Reduction::Sum | Reduction::None => self.loss,
        };
        if v.is_nan() {
            f64::NAN
        } else {
            v
        }
    }
}

/// The factor a per-element gradient is multiplied by for a scalar `grad_output`:
/// `go / W` for mean, `go` for sum (none uses the per-element grad_output instead). `weight_sum`
/// gives `W`; it is called for mean only (for class targets it is a pass over the targets).
#[must_use]
pub fn scalar_grad_scale(
    reduction: Reduction,
    grad_output: f64,
    weight_sum: impl FnOnce() -> f64,
) -> f64 {
    match reduction {
        Reduction::Mean => grad_output / weight_sum(),
        Reduction::Sum | Reduction::None => grad_output,
    }
}

/// Where the per-element gradient scale comes from.
#[derive(Clone, Copy, Debug)]
pub enum GradScale<'a, T> {
    /// One factor for every element (mean and sum).
    Uniform(f64),
    /// One factor per element (reduction none): the caller's grad_output, laid out like the loss.
    PerElement(&'a [T]),
}

impl<T: Real> GradScale<'_, T> {
    /// The factor for element `k`.
    #[inline]
    #[must_use]
    pub fn at(&self, k: usize) -> f64 {
        match self {
            GradScale::Uniform(s) => *s,
            GradScale::PerElement(go) => go.get(k).map_or(f64::NAN, |v| v.to_f64()),
        }
    }

    /// The factors for elements `k..k + 16` (per element: NaN past the end of grad_output).
    #[inline(always)]
    #[must_use]
    pub fn lanes(&self, k: usize) -> [f64; 16] {
        match self {
            GradScale::Uniform(s) => [*s; 16],
            GradScale::PerElement(_) => std::array::from_fn(|l| self.at(k + l)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Layout, LossSum, Reduction};

    #[test]
    fn layout_splits_around_the_axis() {
        assert_eq!(
            Layout::new(&[2, 3, 4, 5], 1),
            Layout {
                outer: 2,
                classes: 3,
                inner: 20
            }
        );
        assert_eq!(
            Layout::new(&[2, 3], 1),
            Layout {
                outer: 2,
                classes: 3,
                inner: 1
            }
        );
        assert_eq!(
            Layout::new(&[7], 0),
            Layout {
                outer: 1,
                classes: 7,
                inner: 1
            }
        );
        assert_eq!(
            Layout::new(&[], 0),
            Layout {
                outer: 1,
                classes: 1,
                inner: 1
            }
        );
        assert_eq!(Layout::new(&[0, 4], 1).len(), 0);
    }

    #[test]
    fn reductions_parse_and_reduce() {
        assert_eq!(Reduction::parse("mean"), Some(Reduction::Mean));
        assert_eq!(Reduction::parse("Mean"), None);
        let s = LossSum {
            loss: 6.0,
            weight: 4.0,
        };
        assert!((s.reduce(Reduction::Mean) - 1.5).abs() < 1e-15);
        assert!((s.reduce(Reduction::Sum) - 6.0).abs() < 1e-15);
        assert!(LossSum::default().reduce(Reduction::Mean).is_nan());
    }
}
