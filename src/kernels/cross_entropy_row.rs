//! The vectorised cross-entropy row (class axis last): loss and gradient in one visit.
//!
//! Formulas as in [`super::cross_entropy`]. Passes over one row `x` (which stays in cache):
//! max; `e_c = exp(x_c - m)` summed (and stored into the gradient row when one is wanted); for
//! smoothing or probability targets one more reduction (`sum w_c (x_c - m)` or
//! `sum q_c (x_c - m)`); then the gradient `g_c = e_c (s_i Q / s) - s_i q_c` in place, with the
//! target's `-s_i (1 - eps) w_t` added as one scalar fix-up. The loss is assembled in f64 from the
//! row sums, with `ln(s)` from the scalar reference so that every path gives the same bits.

use super::cross_entropy::{Ctx, Target};
use super::rowops::{ld, max, reduce, st, update};
use super::{LossSum, Real};
use crate::simd::math::ln_f64;
use crate::simd::Lanes;

/// Row `k`: the contiguous logits `x`, which start at element `start` of the whole input. Writes
/// the gradient (times `scale`) into `g` when it is non-empty.
#[inline(always)]
pub(super) fn contiguous_row<T: Real, V: Lanes<T>>(
    ctx: &Ctx<'_, T>,
    x: &[T],
    g: &mut [T],
    start: usize,
    k: usize,
    scale: f64,
) -> LossSum {
    let classes = x.len();
    let class = match ctx.target {
        Target::Class(t) => {
            let Some(c) = t.class_of(k, classes) else {
                update::<T, V>(g, |_| V::splat(T::ZERO));
                return LossSum::default();
            };
            Some(c)
        }
        Target::Prob { .. } => None,
    };
    let (eps, weights) = (ctx.eps, ctx.weights());
    let smooth = eps / classes as f64;
    let m = max::<T, V>(x);
    let mv = V::splat(m);
    let store = !g.is_empty();
    let s = reduce::<T, V>(classes, |i, len| {
        let e = ld::<T, V>(x, i, len, T::NEG_INFINITY).sub(mv).exp();
        if store {
            st(e, g, i, len);
        }
        e
    });
    let (log_s, mf) = (ln_f64(s), m.to_f64());
    // `sum_c w_c (x_c - m)` (x padded with m, so padded lanes add 0).
    let shifted_sum = |w: Option<&[T]>| {
        reduce::<T, V>(classes, |i, len| {
            let d = ld::<T, V>(x, i, len, m).sub(mv);
            w.map_or(d, |w| d.mul(ld(w, i, len, T::ZERO)))
        })
    };
    let (loss, weight, q_total) = match (class, ctx.target) {
        (Some(t), _) => {
            let w_t = ctx.weight(t);
            let mut loss = -(1.0 - eps) * w_t * ((x[t].to_f64() - mf) - log_s);
            if eps > 0.0 {
                loss -= smooth * (shifted_sum(weights) - log_s * ctx.weight_total);
            }
            (loss, w_t, (1.0 - eps) * w_t + smooth * ctx.weight_total)
        }
        (None, Target::Prob { y, .. }) => {
            let y = &y[start..start + classes];
            return prob_target::<T, V>(ctx, x, y, g, Pass { m, s, log_s, scale });
        }
        (None, Target::Class(_)) => return LossSum::default(),
    };
    if store {
        let a = V::splat(T::from_f64(scale * q_total / s));
        let b = scale * smooth;
        match (weights, b == 0.0) {
            (_, true) => update::<T, V>(g, |e| e.mul(a)),
            (None, false) => {
                let bv = V::splat(T::from_f64(b));
                update::<T, V>(g, |e| e.mul(a).sub(bv));
            }
            (Some(w), false) => {
                let bv = V::splat(T::from_f64(b));
                let mut i = 0;
                while i < classes {
                    let len = V::N.min(classes - i);
                    let e = ld::<T, V>(g, i, len, T::ZERO);
                    st(
                        e.mul(a).sub(ld::<T, V>(w, i, len, T::ZERO).mul(bv)),
                        g,
                        i,
                        len,
                    );
                    i += len;
                }
            }
        }
        if let (Some(t), Some(gt)) = (class, class.and_then(|t| g.get(t).copied())) {
            g[t] = T::from_f64(gt.to_f64() - scale * (1.0 - eps) * ctx.weight(t));
        }
    }
    LossSum { loss, weight }
}

/// What the first passes over a row found.
#[derive(Clone, Copy)]
struct Pass<T> {
    m: T,
    s: f64,
    log_s: f64,
    scale: f64,
}

/// The rest of a row with probability targets `y`: `q_c = w_c ((1 - eps) y_c + eps / C)`,
/// `loss = ln(s) sum q_c - sum q_c (x_c - m)`, gradient `e_c (s_i Q / s) - s_i q_c` over `g`, which
/// holds the `e_c` when it is non-empty.
#[inline(always)]
fn prob_target<T: Real, V: Lanes<T>>(
    ctx: &Ctx<'_, T>,
    x: &[T],
    y: &[T],
    g: &mut [T],
    p: Pass<T>,
) -> LossSum {
    let (classes, eps, weights) = (x.len(), ctx.eps, ctx.weights());
    let smooth = eps / classes as f64;
    let (keep, add) = (
        V::splat(T::from_f64(1.0 - eps)),
        V::splat(T::from_f64(smooth)),
    );
    let q = |i: usize, len: usize| {
        let q = ld::<T, V>(y, i, len, T::ZERO).mul(keep).add(add);
        weights.map_or(q, |w| q.mul(ld(w, i, len, T::ZERO)))
    };
    let weighted_y = reduce::<T, V>(classes, |i, len| {
        let y = ld::<T, V>(y, i, len, T::ZERO);
        weights.map_or(y, |w| y.mul(ld(w, i, len, T::ZERO)))
    });
    let q_total = (1.0 - eps) * weighted_y + smooth * ctx.weight_total;
    let mv = V::splat(p.m);
    let qx = reduce::<T, V>(classes, |i, len| {
        q(i, len).mul(ld::<T, V>(x, i, len, p.m).sub(mv))
    });
    if !g.is_empty() {
        let a = V::splat(T::from_f64(p.scale * q_total / p.s));
        let sv = V::splat(T::from_f64(p.scale));
        let mut i = 0;
        while i < classes {
            let len = V::N.min(classes - i);
            let e = ld::<T, V>(g, i, len, T::ZERO);
            st(e.mul(a).sub(q(i, len).mul(sv)), g, i, len);
            i += len;
        }
    }
    LossSum {
        loss: p.log_s * q_total - qx,
        weight: 1.0,
    }
}
