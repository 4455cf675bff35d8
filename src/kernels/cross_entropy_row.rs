//! The vectorised cross-entropy row (class axis last): loss and gradient in one visit.
//!
//! Formulas as in [`super::cross_entropy`]. Passes over one row `x` (which stays in cache):
//! max (with the min: [`super::rowops::Extent`]); `e_c = exp(x_c - m)` (the in-range exp when the
//! row's spread allows) summed (and stored into the gradient row when one is wanted); for
//! smoothing or probability targets one more reduction (`sum w_c (x_c - m)` or
//! `sum q_c (x_c - m)`); then the gradient `g_c = e_c (s_i Q / s) - s_i q_c` in place, with the
//! target's `-s_i (1 - eps) w_t` added as one scalar fix-up. The loss is assembled in f64 from the
//! row sums, with `ln(s)` from the scalar reference so that every path gives the same bits.

use super::cross_entropy::{Ctx, Target};
use super::rowops::{exp_sum_ahead, extent, ld, mul_opt, reduce, st, update, Extent, Factor};
use super::{GradScale, LossSum, Real};
use crate::simd::math::ln_f64;
use crate::simd::Lanes;

/// The rows of one chunk, in order: `x` holds whole rows of `classes` logits, the first of them
/// row `k0` of the input; `g` is empty or as long as `x`, and `losses` is empty or holds one
/// slot per row. Returns the loss and weight sums, adding rows in order. Each row's max is found
/// while the row before it computes its exps ([`exp_sum_ahead`]).
#[inline(always)]
pub(super) fn contiguous_rows<T: Real, V: Lanes<T>>(
    ctx: &Ctx<'_, T>,
    x: &[T],
    g: &mut [T],
    losses: &mut [T],
    k0: usize,
    scale: GradScale<'_, T>,
) -> LossSum {
    let classes = ctx.layout.classes;
    let mut sum = LossSum::default();
    let mut ext = extent::<T, V>(x.get(..classes).unwrap_or_default());
    for (r, row) in x.chunks_exact(classes).enumerate() {
        let k = k0 + r;
        let span = r * classes..(r + 1) * classes;
        let next = x.get(span.end..span.end + classes).unwrap_or_default();
        let g = g.get_mut(span).unwrap_or_default();
        let (part, next_ext) =
            contiguous_row::<T, V>(ctx, row, ext, next, g, k * classes, k, scale.at(k));
        ext = next_ext;
        if let Some(slot) = losses.get_mut(r) {
            *slot = T::from_f64(part.loss);
        }
        sum = sum + part;
    }
    sum
}

/// Row `k` with extent `ext`: the contiguous logits `x`, which start at element `start` of the
/// whole input. Writes the gradient (times `scale`) into `g` when it is non-empty. Returns the
/// row's loss and weight, and the [`Extent`] of `next` (the following row, or empty).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn contiguous_row<T: Real, V: Lanes<T>>(
    ctx: &Ctx<'_, T>,
    x: &[T],
    ext: Extent<T>,
    next: &[T],
    g: &mut [T],
    start: usize,
    k: usize,
    scale: f64,
) -> (LossSum, Extent<T>) {
    let m = ext.max;
    let classes = x.len();
    let class = match ctx.target {
        Target::Class(t) => {
            let Some(c) = t.class_of(k, classes) else {
                update::<T, V>(g, |_| V::splat(T::ZERO));
                return (LossSum::default(), extent::<T, V>(next));
            };
            Some(c)
        }
        Target::Prob { .. } => None,
    };
    let (eps, weights) = (ctx.eps, ctx.weights());
    let smooth = eps / classes as f64;
    let mv = V::splat(m);
    let store = !g.is_empty();
    let (s, next_ext) = exp_sum_ahead::<T, V>(x, m, ext, next, g);
    let (log_s, mf) = (ln_f64(s), m.to_f64());
    // `sum_c w_c (x_c - m)` (x padded with m, so padded lanes add 0).
    let shifted_sum = |w: Option<&[T]>| {
        reduce::<T, V>(
            classes,
            #[inline(always)]
            |i, len| {
                let d = ld::<T, V>(x, i, len, m).sub(mv);
                mul_opt(d, w, i, len)
            },
        )
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
            let part = prob_target::<T, V>(
                ctx,
                x,
                y,
                g,
                Pass {
                    m,
                    lo: ext.min,
                    s,
                    log_s,
                    scale,
                },
            );
            return (part, next_ext);
        }
        (None, Target::Class(_)) => return (LossSum::default(), next_ext),
    };
    if store {
        let a = Factor::<V>::splat(T::from_f64(scale * q_total / s), ext.min - m);
        let b = scale * smooth;
        match (weights, b == 0.0) {
            (_, true) => update::<T, V>(g, |e| a.of(e)),
            (None, false) => {
                let bv = V::splat(T::from_f64(b));
                update::<T, V>(g, |e| a.of(e).sub(bv));
            }
            (Some(w), false) => {
                let bv = V::splat(T::from_f64(b));
                let mut i = 0;
                while i < classes {
                    let len = V::N.min(classes - i);
                    let e = ld::<T, V>(g, i, len, T::ZERO);
                    st(
                        a.of(e).sub(ld::<T, V>(w, i, len, T::ZERO).mul(bv)),
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
    (LossSum { loss, weight }, next_ext)
}

/// What the first passes over a row found.
#[derive(Clone, Copy)]
struct Pass<T> {
    m: T,
    /// The row's smallest logit.
    lo: T,
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
    let weighted_y = reduce::<T, V>(
        classes,
        #[inline(always)]
        |i, len| {
            let y = ld::<T, V>(y, i, len, T::ZERO);
            mul_opt(y, weights, i, len)
        },
    );
    let q_total = (1.0 - eps) * weighted_y + smooth * ctx.weight_total;
    let mv = V::splat(p.m);
    let qx = reduce::<T, V>(
        classes,
        #[inline(always)]
        |i, len| {
            q_lanes::<T, V>(y, weights, keep, add, i, len).mul(ld::<T, V>(x, i, len, p.m).sub(mv))
        },
    );
    if !g.is_empty() {
        let a = Factor::<V>::splat(T::from_f64(p.scale * q_total / p.s), p.lo - p.m);
        let sv = V::splat(T::from_f64(p.scale));
        let mut i = 0;
        while i < classes {
            let len = V::N.min(classes - i);
            let e = ld::<T, V>(g, i, len, T::ZERO);
            st(
                a.of(e)
                    .sub(q_lanes::<T, V>(y, weights, keep, add, i, len).mul(sv)),
                g,
                i,
                len,
            );
            i += len;
        }
    }
    LossSum {
        loss: p.log_s * q_total - qx,
        weight: 1.0,
    }
}

/// `q_c = w_c ((1 - eps) y_c + eps / C)` for classes `i..i + len` (a function, not a closure,
/// so that it compiles with the caller's target features).
#[inline(always)]
fn q_lanes<T: Real, V: Lanes<T>>(
    y: &[T],
    weights: Option<&[T]>,
    keep: V,
    add: V,
    i: usize,
    len: usize,
) -> V {
    let q = ld::<T, V>(y, i, len, T::ZERO).mul(keep).add(add);
    mul_opt(q, weights, i, len)
}
