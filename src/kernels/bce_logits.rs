//! Binary cross-entropy on logits, with per-element weights and positive-class weights.
//!
//! Formula, elementwise: `l = -w (pw y logsig(x) + (1 - y) logsig(-x))` with the stable
//! `logsig(x) = min(x, 0) - ln(1 + exp(-|x|))`, whose exponent is never positive.
//! A term whose coefficient is exactly 0 is 0 even when its logsig is -inf, so infinite logits give
//! the mathematical limit (0 when the target agrees, inf when it does not) where PyTorch gives NaN.
//! Losses are summed in `f64`; mean divides by the element count.
//!
//! Gradient: `gx = s w ((1 + (pw - 1) y) sigmoid(x) - pw y)`, `s` being `go_i`, `go` or `go / n`,
//! with `sigmoid` evaluated from the side where its exponent is not positive.

use super::{GradScale, LossSum, Real};
use crate::parallel;

#[inline]
fn at<T: Real>(v: Option<&[T]>, i: usize) -> f64 {
    v.and_then(|v| v.get(i)).map_or(1.0, |a| a.to_f64())
}

/// `ln(sigmoid(x))`, stable for every x.
#[inline]
#[must_use]
pub fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + exp(-x))`, stable for every x.
#[inline]
#[must_use]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `a * b`, but 0 when `a` is 0 (so `0 * -inf = 0`).
#[inline]
fn coef_times(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        a * b
    }
}

#[inline]
fn loss(x: f64, y: f64, w: f64, pw: f64) -> f64 {
    -w * (coef_times(pw * y, log_sigmoid(x)) + coef_times(1.0 - y, log_sigmoid(-x)))
}

/// Elementwise losses into `losses` when it has one slot per element; their sum either way.
/// `weight` and `pos_weight`, when given, have the input's length.
pub fn forward<T: Real>(
    x: &[T],
    y: &[T],
    weight: Option<&[T]>,
    pos_weight: Option<&[T]>,
    losses: &mut [T],
) -> LossSum {
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
                let l = loss(
                    x[i].to_f64(),
                    y[i].to_f64(),
                    at(weight, i),
                    at(pos_weight, i),
                );
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
    pos_weight: Option<&[T]>,
    scale: GradScale<'_, T>,
    grad: &mut [T],
) {
    parallel::map_chunks(x.len(), 1, grad, 1, &mut [] as &mut [u8], 0, |r, out, _| {
        for (o, i) in out.iter_mut().zip(r) {
            let (xi, yi, pw) = (x[i].to_f64(), y[i].to_f64(), at(pos_weight, i));
            let d = (1.0 + (pw - 1.0) * yi) * sigmoid(xi) - pw * yi;
            *o = T::from_f64(scale.at(i) * at(weight, i) * d);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_logits_give_the_limit() {
        let inf = f64::INFINITY;
        assert_eq!(loss(inf, 1.0, 1.0, 1.0), 0.0);
        assert_eq!(loss(-inf, 0.0, 1.0, 1.0), 0.0);
        assert_eq!(loss(inf, 0.0, 1.0, 1.0), inf);
        assert_eq!(loss(-inf, 1.0, 1.0, 3.0), inf);
    }

    #[test]
    fn matches_the_naive_formula_where_it_is_safe() {
        for &(x, y, pw) in &[(0.3, 0.2, 1.0), (-2.0, 1.0, 2.5), (4.0, 0.7, 0.5)] {
            let s = 1.0 / (1.0 + f64::exp(-x));
            let naive = -(pw * y * s.ln() + (1.0 - y) * (1.0 - s).ln());
            assert!((loss(x, y, 1.0, pw) - naive).abs() < 1e-14);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y, w, pw) = (0.7, 0.3, 1.5, 2.0);
        let mut g = [0.0f64];
        backward(
            &[x],
            &[y],
            Some(&[w]),
            Some(&[pw]),
            GradScale::Uniform(1.0),
            &mut g,
        );
        let fd = (loss(x + 1e-6, y, w, pw) - loss(x - 1e-6, y, w, pw)) / 2e-6;
        assert!((g[0] - fd).abs() < 1e-8);
    }
}
