//! Cross-entropy of a few short contiguous rows without transposing them, rounded exactly as
//! lanes of [`super::cross_entropy_tile`]: for calls with too few short rows to fill a tile,
//! where a tile's per-class vectors would be mostly idle lanes and its transposes pure overhead.
//!
//! Each row's vectors run along its classes. Everything a tile lane sums in f64 in class order
//! (the exps, and `w_c (x_c - m)`, `q_c (x_c - m)`, `w_c y_c`) is formed with the same element
//! operations, stored, and summed in class order. The rows then fill the lanes of one tile's
//! [`Found`] (row `l` in lane `l`, in place: lane stride C), whose losses and gradient factors
//! come from the tile's own [`lane_results`]; each row's gradient `g_c = e_c a - s_i q_c` takes
//! the same operations per element as the tile's.

use super::cross_entropy::{smoothed_weight, Ctx, Target};
use super::cross_entropy_tile::{fix_lane, lane_results, Found, LaneGrad, TileIo};
use super::rowops::{extent, from_array, ld, mul_opt, st, st_raw, Factor};
use super::tiles::{class_order_sum, LaneSum, Tile, SHORT_ROW};
use super::{LossSum, Real};
use crate::simd::Lanes;

/// The losses (and, when `io.g` is not empty, the gradients) of the chunk's first `rows` rows,
/// which have fewer than [`SHORT_ROW`] classes, in groups of one vector of rows as the tiles
/// take them; returns their loss and weight sums.
#[inline(always)]
pub(super) fn rows<T: Real, V: Lanes<T>, W: Lanes<f64>>(
    ctx: &Ctx<'_, T>,
    io: &mut TileIo<'_, '_, T>,
    rows: usize,
) -> LossSum {
    debug_assert!(ctx.layout.classes < SHORT_ROW);
    let classes = ctx.layout.classes.min(SHORT_ROW);
    let mut sum = LossSum::default();
    let mut r0 = 0;
    while r0 < rows {
        let t = Tile {
            base: r0 * classes,
            lanes: V::N.min(16).min(rows - r0),
            lane_stride: classes,
            class_stride: 1,
        };
        sum = sum + group::<T, V, W>(ctx, io, t, r0);
        r0 += t.lanes;
    }
    sum
}

/// The rows of tile `t` (chunk-local first row `r0`), one per lane, in place.
#[inline(always)]
fn group<T: Real, V: Lanes<T>, W: Lanes<f64>>(
    ctx: &Ctx<'_, T>,
    io: &mut TileIo<'_, '_, T>,
    t: Tile,
    r0: usize,
) -> LossSum {
    let classes = t.lane_stride;
    let (mut m, mut lo) = ([T::NEG_INFINITY; 16], [T::INFINITY; 16]);
    let (mut s, mut shifted, mut wy) = ([0.0f64; 16], [0.0f64; 16], [0.0f64; 16]);
    for l in 0..t.lanes.min(16) {
        let span = t.at(l, 0)..t.at(l, classes);
        let Some(x) = io.x.get(span.clone()) else {
            continue;
        };
        let ext = extent::<T, V>(x);
        (m[l], lo[l]) = (ext.max, ext.min);
        let y = io.y.get(span.clone()).unwrap_or_default();
        (s[l], shifted[l], wy[l]) = first_pass::<T, V>(ctx, x, y, ext.max, io.g.get_mut(span));
    }
    let found = Found {
        m: from_array::<T, V>(&m),
        lo: from_array::<T, V>(&lo),
        in_range: false,
        s: LaneSum::from_totals(s),
        shifted,
        wy,
    };
    let mut grad = LaneGrad::default();
    let sum = lane_results::<T, V, W>(ctx, io, &found, t, r0, &mut grad);
    if !io.g.is_empty() {
        for l in 0..t.lanes.min(16) {
            let span = t.at(l, 0)..t.at(l, classes);
            let y = io.y.get(span.clone()).unwrap_or_default();
            if let Some(g) = io.g.get_mut(span) {
                let a = Factor::<V>::splat(grad.a[l], lo[l] - m[l]);
                write_grad::<T, V>(ctx, y, g, a, T::from_f64(grad.row_scale[l]));
            }
            fix_lane(ctx, io.g, t, l, &grad);
        }
    }
    sum
}

/// A tile lane's f64 sums for the row `x` with max `max`: `sum e_c`, and [`Found::shifted`] and
/// [`Found::wy`] where the target needs them (else 0). Stores the exps into `g` when given.
#[inline(always)]
fn first_pass<T: Real, V: Lanes<T>>(
    ctx: &Ctx<'_, T>,
    x: &[T],
    y: &[T],
    max: T,
    mut g: Option<&mut [T]>,
) -> (f64, f64, f64) {
    let n = x.len().min(SHORT_ROW);
    let (eps, smooth) = (ctx.eps, ctx.eps / ctx.layout.classes as f64);
    let prob = matches!(ctx.target, Target::Prob { .. });
    let (keep, add) = (
        V::splat(T::from_f64(1.0 - eps)),
        V::splat(T::from_f64(smooth)),
    );
    let weights = ctx.weights();
    let m = V::splat(max);
    // Per class, what a tile lane adds to each of its f64 sums.
    let mut e = [T::ZERO; SHORT_ROW];
    let (mut shifted, mut wy) = ([T::ZERO; SHORT_ROW], [T::ZERO; SHORT_ROW]);
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        let d = ld::<T, V>(x, i, len, T::ZERO).sub(m);
        let ev = d.exp();
        st_raw(ev, &mut e, i, len);
        if let Some(g) = g.as_deref_mut() {
            // Raw: `write_grad` overwrites it through a canonicalising store.
            st_raw(ev, g, i, len);
        }
        if prob {
            let yv = ld::<T, V>(y, i, len, T::ZERO);
            let q = mul_opt::<T, V>(yv.mul(keep).add(add), weights, i, len);
            st_raw(q.mul(d), &mut shifted, i, len);
            st_raw(mul_opt::<T, V>(yv, weights, i, len), &mut wy, i, len);
        } else if eps > 0.0 {
            st_raw(mul_opt::<T, V>(d, weights, i, len), &mut shifted, i, len);
        }
        i += len;
    }
    let total = |v: &[T]| class_order_sum(&v[..n]);
    match (prob, eps > 0.0) {
        (true, _) => (total(&e), total(&shifted), total(&wy)),
        (false, true) => (total(&e), total(&shifted), 0.0),
        (false, false) => (total(&e), 0.0, 0.0),
    }
}

/// A row's gradient `g_c = e_c a - s_i q_c` over the exps stored in `g`, before the class
/// target's term ([`fix_lane`]); `sv` is the row's `s_i`.
#[inline(always)]
fn write_grad<T: Real, V: Lanes<T>>(ctx: &Ctx<'_, T>, y: &[T], g: &mut [T], a: Factor<V>, sv: T) {
    let n = g.len();
    let smooth = ctx.eps / ctx.layout.classes as f64;
    let prob = matches!(ctx.target, Target::Prob { .. });
    let (keep, add) = (
        V::splat(T::from_f64(1.0 - ctx.eps)),
        V::splat(T::from_f64(smooth)),
    );
    let sv = V::splat(sv);
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        let qc = if prob {
            let q = ld::<T, V>(y, i, len, T::ZERO).mul(keep).add(add);
            mul_opt::<T, V>(q, ctx.weights(), i, len)
        } else {
            let mut q = [T::ZERO; 16];
            for (c, v) in (i..i + len).zip(&mut q) {
                *v = T::from_f64(smoothed_weight(smooth, ctx.weight(c)));
            }
            from_array::<T, V>(&q)
        };
        let e = ld::<T, V>(g, i, len, T::ZERO);
        st(a.of(e).sub(qc.mul(sv)), g, i, len);
        i += len;
    }
}
