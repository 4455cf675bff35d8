//! Binary cross-entropy on probabilities, with PyTorch's clamp of each log at -100.
//!
//! Formula, elementwise: `l = -w (y max(ln x, -100) + (1 - y) max(ln(1 - x), -100))`, with
//! `ln(1 - x)` computed as `ln_1p(-x)`. The clamp applies to each log before the products, so
//! `x = 0, y = 1` gives exactly 100 and no `0 * -inf` can occur. Inputs and targets must lie in
//! `[0, 1]`: the pass itself checks every element ([`pointwise::Outcome::in_range`], which the
//! bindings turn into an error and a discarded result); [`first_out_of_range`] finds the first
//! culprit for the message. The functions below return the sum only, for callers that checked.
//! mean divides the sum by the element count (weights are not normalised).
//!
//! A vector of hard labels (every `y` 0 or 1, as in most binary classification) takes one log
//! per lane, of `x` or of `1 - x` as `y` selects, with the same bits as the two-log form.
//!
//! Gradient (PyTorch's, not the derivative of the clamped forward):
//! `gx = s w (x - y) / max(x (1 - x), 1e-12)`, the floor being `1e-12` rounded to f32 for both
//! dtypes; `s` is `go_i`, `go`, or `go / n` for mean.

use super::pointwise::{self, ln_1p, ln_1p_parts, Inputs, PointLoss, Step, Want};
use super::{GradScale, LossSum, Real};
use crate::parallel;
use crate::simd::Lanes;

/// The index of the first element outside `[0, 1]` (NaN included), searched in parallel chunks.
#[must_use]
pub fn first_out_of_range<T: Real>(v: &[T]) -> Option<usize> {
    let none: &mut [u8] = &mut [];
    let found = parallel::map_chunks(v.len(), 1, none, 0, &mut [] as &mut [u8], 0, |r, _, _| {
        let start = r.start;
        v.get(r).and_then(first_in).map(|i| start + i)
    });
    found.into_iter().flatten().next()
}

/// [`first_out_of_range`] on one chunk.
fn first_in<T: Real>(v: &[T]) -> Option<usize> {
    // Whole vectors of 64 first (no early exit, so the compiler vectorises), then the position.
    let bad = |a: &T| !(*a >= T::ZERO && *a <= T::ONE);
    let chunk = v
        .chunks(64)
        .position(|c| c.iter().fold(false, |acc, a| acc | bad(a)))?;
    let start = chunk * 64;
    v[start..].iter().position(bad).map(|i| start + i)
}

/// Binary cross-entropy on probabilities.
#[derive(Clone, Copy, Debug)]
pub struct Bce;

impl PointLoss for Bce {
    const UNIT_INTERVAL: bool = true;
    /// Two logs per element make it bound by throughput, not latency: pairs measured 0.97-1.03x
    /// the time in float32 and 1.01-1.10x in float64 on Zen 4.
    const PAIRED: bool = false;

    /// Probabilities in `(0, TINY_E_MAX)`: `ln_1p(-x)`'s correction divides a subnormal `x`,
    /// and `x`, `x (1 - x)` and the small logs are factors of products that may be subnormal.
    #[inline(always)]
    fn tiny<T: Real, V: Lanes<T>>(self, s: Step<V>) -> bool {
        s.x.assist_free_pays(V::splat(T::ZERO), V::splat(T::TINY_E_MAX))
    }

    #[inline(always)]
    fn loss<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> V {
        let floor = V::splat(T::LOG_FLOOR);
        let one = V::splat(T::ONE);
        let zero = V::splat(T::ZERO);
        if s.y.all_zero_or_one() {
            // Hard labels: one log per lane, of `x` where `y = 1` and of `1 - x` (with
            // `ln_1p`'s correction) where `y = 0`, in one vector. The same bits as the two-log
            // form below: there the other log's product is a signed zero, which leaves the sum
            // unchanged since neither clamped log is -0 (ln 1 = +0).
            let (a, correction) = ln_1p_parts::<T, V, TINY>(zero.sub(s.x));
            let hot = s.y.sub(one); // 0 where y = 1, -1 where y = 0
            let log = hot
                .select_nonneg(s.x, a)
                .ln_finite()
                .add(hot.select_nonneg(zero, correction))
                .max(floor);
            return zero.sub(s.w.mul_if::<TINY>(log));
        }
        // `ln_finite`: a lane outside [0, 1] fails the pass's range check, which discards it.
        let log_x = s.x.ln_finite().max(floor);
        let log_1mx = ln_1p::<T, V, true, TINY>(zero.sub(s.x)).max(floor);
        let pos = s.y.mul_if::<TINY>(log_x);
        let neg = one.sub(s.y).mul_if::<TINY>(log_1mx);
        zero.sub(s.w.mul_if::<TINY>(pos.add(neg)))
    }

    #[inline(always)]
    fn grad<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> V {
        let one = V::splat(T::ONE);
        let denom =
            s.x.mul_if::<TINY>(one.sub(s.x))
                .max(V::splat(T::BCE_GRAD_EPS));
        s.w.mul_if::<TINY>(s.x.sub(s.y)).div_if::<TINY>(denom)
    }
}

/// Losses (into `losses` when it has one slot per element) and their sum.
pub fn forward<T: Real>(x: &[T], y: &[T], weight: Option<&[T]>, losses: &mut [T]) -> LossSum {
    pointwise::run(
        Bce,
        Want::Loss,
        Inputs {
            x,
            y,
            weight,
            pos_weight: None,
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
    scale: GradScale<'_, T>,
    grad: &mut [T],
) {
    pointwise::run(
        Bce,
        Want::Grad,
        Inputs {
            x,
            y,
            weight,
            pos_weight: None,
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
    losses: &mut [T],
    grad: &mut [T],
    scale: GradScale<'_, T>,
) -> LossSum {
    pointwise::run(
        Bce,
        Want::Both,
        Inputs {
            x,
            y,
            weight,
            pos_weight: None,
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
    fn range_check_reports_the_first_culprit_across_chunks() {
        let mut v = vec![0.5f64; 300_000];
        v[299_000] = -1.0;
        v[200_001] = 1.5; // in an earlier chunk than the other
        assert_eq!(first_out_of_range(&v), Some(200_001));
        v[200_001] = 0.5;
        assert_eq!(first_out_of_range(&v), Some(299_000));
    }

    #[test]
    fn range_check_finds_nan_and_outliers() {
        assert_eq!(first_out_of_range(&[0.0f32, 1.0, 0.5]), None);
        assert_eq!(first_out_of_range(&[0.0f32, f32::NAN]), Some(1));
        assert_eq!(first_out_of_range(&[1.5f64]), Some(0));
        let mut long = vec![0.5f32; 200];
        long[130] = -0.0;
        long[150] = 2.0;
        assert_eq!(first_out_of_range(&long), Some(150));
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

    /// Hard-label vectors (one log per lane) give the bits of the two-log form, which a vector
    /// takes as soon as one of its labels is soft: lane 0 of every 16 is soft in `mixed`.
    #[test]
    fn hard_labels_give_the_two_log_bits() {
        fn check<T: Real + From<f32>>(specials: &[T]) {
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let n = 16 * 64;
            let x: Vec<T> = (0..n)
                .map(|i| match next() % 4 {
                    0 => specials[i % specials.len()],
                    _ => T::from((next() >> 40) as f32 / (1u64 << 24) as f32),
                })
                .collect();
            let w: Vec<T> = (0..n).map(|i| T::from((i % 7) as f32 / 3.0)).collect();
            let hard: Vec<T> = (0..n).map(|_| T::from((next() % 2) as f32)).collect();
            let mut mixed = hard.clone();
            for v in mixed.iter_mut().step_by(16) {
                *v = T::from(0.25);
            }
            let (mut lh, mut lm) = (vec![T::ZERO; n], vec![T::ZERO; n]);
            forward(&x, &hard, Some(&w), &mut lh);
            forward(&x, &mixed, Some(&w), &mut lm);
            for i in (0..n).filter(|i| i % 16 != 0) {
                assert_eq!(
                    lh[i].to_f64().to_bits(),
                    lm[i].to_f64().to_bits(),
                    "x {:e} y {:?}",
                    x[i].to_f64(),
                    hard[i].to_f64()
                );
            }
        }
        let s32 = [
            0.0,
            1.0,
            f32::from_bits(1),
            1.0 - f32::EPSILON / 2.0,
            0.5,
            1e-30,
            1e-45,
        ];
        check::<f32>(&s32);
        let s64: Vec<f64> = s32
            .iter()
            .map(|&v| f64::from(v))
            .chain([f64::from_bits(1), 1.0 - f64::EPSILON / 2.0])
            .collect();
        check::<f64>(&s64);
    }

    #[test]
    fn fused_equals_separate() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 + 0.5) / 1000.0).collect();
        let y: Vec<f32> = (0..1000).map(|i| ((i * 7) % 10) as f32 / 9.0).collect();
        let (mut l1, mut l2, mut g1, mut g2) = (
            vec![0.0; 1000],
            vec![0.0; 1000],
            vec![0.0; 1000],
            vec![0.0; 1000],
        );
        let s1 = forward(&x, &y, None, &mut l1);
        backward(&x, &y, None, GradScale::Uniform(0.5), &mut g1);
        let s2 = with_grad(&x, &y, None, &mut l2, &mut g2, GradScale::Uniform(0.5));
        assert_eq!(s1, s2);
        assert_eq!(l1, l2);
        assert_eq!(g1, g2);
    }
}
