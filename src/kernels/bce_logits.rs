//! Binary cross-entropy on logits, with per-element weights and positive-class weights.
//!
//! Formula, elementwise: `l = -w (pw y logsig(x) + (1 - y) logsig(-x))` with the stable
//! `logsig(±x) = min(±x, 0) - ln(1 + exp(-|x|))`, whose exponent is never positive.
//! A term whose coefficient is exactly 0 is 0 even when its logsig is -inf, so infinite logits give
//! the mathematical limit (0 when the target agrees, inf when it does not) where PyTorch gives NaN.
//! mean divides the sum by the element count.
//!
//! Gradient: `gx = s w ((1 + (pw - 1) y) sigmoid(x) - pw y)`, `s` being `go_i`, `go` or `go / n`,
//! with `sigmoid(x) = 1 / (1 + e)` for `x >= 0` and `e / (1 + e)` otherwise (`e = exp(-|x|)`).

use super::pointwise::{self, div_near_one, ln_1p_parts, Inputs, PointLoss, Step, Want};
use super::{GradScale, LossSum, Real};
use crate::simd::Lanes;

/// Binary cross-entropy on logits.
#[derive(Clone, Copy, Debug)]
pub struct BceLogits;

impl PointLoss for BceLogits {
    /// Logits beyond `±TINY_EXP_ARG` (or NaN): `e = exp(-|x|)` is tiny, and the loss and the
    /// gradient divide it and take products of it that may be subnormal. (Subnormal logits
    /// themselves still meet assists inside the exp.) Every other step has `-|x|` within
    /// [`Lanes::exp_in_range`]'s domain, so its exp skips the clamp and the subnormal results.
    #[inline(always)]
    fn tiny<T: Real, V: Lanes<T>>(self, s: Step<V>) -> bool {
        s.x.abs().any_above(V::splat(T::TINY_EXP_ARG))
    }

    #[inline(always)]
    fn loss<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> V {
        loss_from::<T, V, TINY>(s, exp_neg_abs::<T, V, TINY>(s.x))
    }

    #[inline(always)]
    fn grad<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> V {
        grad_from::<T, V, TINY>(s, exp_neg_abs::<T, V, TINY>(s.x))
    }

    #[inline(always)]
    fn both<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> (V, V) {
        let e = exp_neg_abs::<T, V, TINY>(s.x);
        (loss_from::<T, V, TINY>(s, e), grad_from::<T, V, TINY>(s, e))
    }
}

/// `e = exp(-|x|)`, which the loss and the gradient share; without `TINY`, `|x| <= TINY_EXP_ARG`
/// (below `-EXP_IN_RANGE_LO`) or NaN in every lane.
#[inline(always)]
fn exp_neg_abs<T: Real, V: Lanes<T>, const TINY: bool>(x: V) -> V {
    let a = V::splat(T::ZERO).sub(x.abs());
    if TINY {
        a.exp()
    } else {
        a.exp_in_range()
    }
}

/// The loss lanes, given `e`.
#[inline(always)]
fn loss_from<T: Real, V: Lanes<T>, const TINY: bool>(s: Step<V>, e: V) -> V {
    let (zero, one) = (V::splat(T::ZERO), V::splat(T::ONE));
    // `ln(1 + e)` with `1 + e` in [1, 2], or NaN with `x`, where the correction is NaN and
    // keeps the sum NaN: `ln_normal` suffices (see `pointwise::ln_1p`).
    let (a, correction) = ln_1p_parts::<T, V, TINY>(e);
    let soft = a.ln_normal().add(correction);
    let pos_coef = s.pw.mul_if::<TINY>(s.y);
    let neg_coef = one.sub(s.y);
    let pos = pos_coef
        .mul_if::<TINY>(s.x.min(zero).sub(soft))
        .zero_where_zero(pos_coef);
    let neg = neg_coef
        .mul_if::<TINY>(zero.sub(s.x).min(zero).sub(soft))
        .zero_where_zero(neg_coef);
    zero.sub(s.w.mul_if::<TINY>(pos.add(neg)))
}

/// The gradient lanes for grad_output 1, given `e`.
#[inline(always)]
fn grad_from<T: Real, V: Lanes<T>, const TINY: bool>(s: Step<V>, e: V) -> V {
    let one = V::splat(T::ONE);
    // One division: the numerator is chosen first (the same bits as dividing each).
    let sig = div_near_one::<T, V, TINY>(s.x.select_nonneg(one, e), one.add(e));
    let coef = one.add(s.pw.sub(one).mul_if::<TINY>(s.y));
    s.w.mul_if::<TINY>(coef.mul_if::<TINY>(sig).sub(s.pw.mul_if::<TINY>(s.y)))
}

/// Losses (into `losses` when it has one slot per element) and their sum.
pub fn forward<T: Real>(
    x: &[T],
    y: &[T],
    weight: Option<&[T]>,
    pos_weight: Option<&[T]>,
    losses: &mut [T],
) -> LossSum {
    pointwise::run(
        BceLogits,
        Want::Loss,
        Inputs {
            x,
            y,
            weight,
            pos_weight,
        },
        losses,
        &mut [],
        GradScale::Uniform(0.0),
    )
    .sum
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
    pointwise::run(
        BceLogits,
        Want::Grad,
        Inputs {
            x,
            y,
            weight,
            pos_weight,
        },
        &mut [],
        grad,
        scale,
    );
}

/// Losses, their sum and the gradient (times `scale`) in one pass.
pub fn with_grad<T: Real>(
    x: &[T],
    y: &[T],
    weight: Option<&[T]>,
    pos_weight: Option<&[T]>,
    losses: &mut [T],
    grad: &mut [T],
    scale: GradScale<'_, T>,
) -> LossSum {
    pointwise::run(
        BceLogits,
        Want::Both,
        Inputs {
            x,
            y,
            weight,
            pos_weight,
        },
        losses,
        grad,
        scale,
    )
    .sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(x: f64, y: f64, w: f64, pw: f64) -> f64 {
        let mut l = [0.0];
        forward(&[x], &[y], Some(&[w]), Some(&[pw]), &mut l);
        l[0]
    }

    #[test]
    fn infinite_logits_give_the_limit() {
        let inf = f64::INFINITY;
        assert_eq!(one(inf, 1.0, 1.0, 1.0), 0.0);
        assert_eq!(one(-inf, 0.0, 1.0, 1.0), 0.0);
        assert_eq!(one(inf, 0.0, 1.0, 1.0), inf);
        assert_eq!(one(-inf, 1.0, 1.0, 3.0), inf);
    }

    #[test]
    fn matches_the_naive_formula_where_it_is_safe() {
        for &(x, y, pw) in &[(0.3, 0.2, 1.0), (-2.0, 1.0, 2.5), (4.0, 0.7, 0.5)] {
            let s = 1.0 / (1.0 + f64::exp(-x));
            let naive = -(pw * y * s.ln() + (1.0 - y) * (1.0 - s).ln());
            assert!((one(x, y, 1.0, pw) - naive).abs() < 1e-14);
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
        let fd = (one(x + 1e-6, y, w, pw) - one(x - 1e-6, y, w, pw)) / 2e-6;
        assert!((g[0] - fd).abs() < 1e-8);
    }
}
