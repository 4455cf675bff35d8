//! Binary cross-entropy on probabilities, with PyTorch's clamp of each log at -100.
//!
//! Formula, elementwise: `l = -w (y max(ln x, -100) + (1 - y) max(ln(1 - x), -100))`, with
//! `ln(1 - x)` computed as `ln_1p(-x)`. The clamp applies to each log before the products, so
//! `x = 0, y = 1` gives exactly 100 and no `0 * -inf` can occur. Inputs and targets must lie in
//! `[0, 1]` (checked by [`first_out_of_range`] before anything is written). Losses are summed in
//! `f64`; mean divides by the element count (weights are not normalised).
//!
//! Gradient (PyTorch's, not the derivative of the clamped forward):
//! `gx = s w (x - y) / max(x (1 - x), 1e-12)`, the floor being `1e-12` rounded to f32 for both
//! dtypes; `s` is `go_i`, `go`, or `go / n` for mean.

use super::{GradScale, LossSum, Real};
use crate::parallel;

/// The index of the first element outside `[0, 1]` (NaN included).
#[must_use]
pub fn first_out_of_range<T: Real>(v: &[T]) -> Option<usize> {
    v.iter().position(|&a| !(a >= T::ZERO && a <= T::ONE))
}

#[inline]
fn weight_at<T: Real>(w: Option<&[T]>, i: usize) -> f64 {
    w.and_then(|w| w.get(i)).map_or(1.0, |v| v.to_f64())
}

#[inline]
fn loss<T: Real>(x: T, y: T, w: f64) -> f64 {
    let floor = T::LOG_FLOOR;
    let log_x = x.ln().max_ignore_nan(floor).to_f64();
    let log_1mx = (-x).ln_1p().max_ignore_nan(floor).to_f64();
    let y = y.to_f64();
    -w * (y * log_x + (1.0 - y) * log_1mx)
}

/// Elementwise losses into `losses` when it has one slot per element; their sum either way.
/// `x`, `y` and `weight` (when given) have the same length.
pub fn forward<T: Real>(x: &[T], y: &[T], weight: Option<&[T]>, losses: &mut [T]) -> LossSum {
    let per = usize::from(!losses.is_empty());
    let parts = parallel::map_chunks(
        x.len(),
        1,
        losses,
        per,
        &mut [] as &mut [u8],
        0,
        |r, out, _| {
            let mut sum = 0.0;
            for (n, i) in r.enumerate() {
                let l = loss(x[i], y[i], weight_at(weight, i));
                if let Some(slot) = out.get_mut(n) {
                    *slot = T::from_f64(l);
                }
                sum += l;
            }
            LossSum {
                loss: sum,
                weight: 0.0,
            }
        },
    );
    LossSum {
        weight: x.len() as f64,
        ..LossSum::total(parts)
    }
}

/// The gradient with respect to `x`, scaled per element by `scale`, into `grad`.
pub fn backward<T: Real>(
    x: &[T],
    y: &[T],
    weight: Option<&[T]>,
    scale: GradScale<'_, T>,
    grad: &mut [T],
) {
    let eps = T::BCE_GRAD_EPS.to_f64();
    parallel::map_chunks(x.len(), 1, grad, 1, &mut [] as &mut [u8], 0, |r, out, _| {
        for (o, i) in out.iter_mut().zip(r) {
            let (xi, yi) = (x[i].to_f64(), y[i].to_f64());
            let denom = (xi * (1.0 - xi)).max(eps);
            *o = T::from_f64(scale.at(i) * weight_at(weight, i) * (xi - yi) / denom);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_gives_exact_hundreds() {
        let x = [0.0f64, 1.0, 0.5];
        let y = [1.0f64, 0.2, 0.5];
        let mut l = [0.0; 3];
        let s = forward(&x, &y, None, &mut l);
        assert_eq!(l[0], 100.0);
        assert!((l[1] - 80.0).abs() < 1e-12);
        assert!((l[2] - std::f64::consts::LN_2).abs() < 1e-15);
        assert!((s.loss - (180.0 + std::f64::consts::LN_2)).abs() < 1e-12);
    }

    #[test]
    fn range_check_finds_nan_and_outliers() {
        assert_eq!(first_out_of_range(&[0.0f32, 1.0, 0.5]), None);
        assert_eq!(first_out_of_range(&[0.0f32, f32::NAN]), Some(1));
        assert_eq!(first_out_of_range(&[1.5f64]), Some(0));
    }

    #[test]
    fn gradient_uses_the_floor() {
        let mut g = [0.0f64; 2];
        backward(
            &[0.0, 0.25],
            &[1.0, 0.0],
            None,
            GradScale::Uniform(1.0),
            &mut g,
        );
        assert_eq!(g[0], -1.0 / f64::from(1e-12f32));
        assert!((g[1] - 0.25 / (0.25 * 0.75)).abs() < 1e-15);
    }
}
