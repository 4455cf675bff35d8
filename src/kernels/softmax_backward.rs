//! Backward passes of softmax and log_softmax, computed from the forward OUTPUT.
//!
//! With p = softmax(x), logp = log_softmax(x) and incoming gradient `go`, per row:
//! `d softmax:     gx_c = p_c * (go_c - sum_k go_k p_k)`
//! `d log_softmax: gx_c = go_c - exp(logp_c) * sum_k go_k`.
//! Both follow from the Jacobian `dp_c/dx_k = p_c ([c == k] - p_k)`. The row reductions use the
//! fixed lane order of [`super::rowops`] (f64 per column when the class axis is not last);
//! nothing can overflow since `0 <= p <= 1` and `exp(logp) <= 1`.
//!
//! Products of `p` (or `exp(logp)`), which may be tiny, go through [`Lanes::mul_tiny`], whose
//! test per vector costs as much as the product itself. Rows of contiguous classes test once
//! per block of vectors and once per row instead ([`softmax_row`], [`log_softmax_row`]): the
//! same bits, 0.67-0.88x the time on rows of a thousand classes (`benches/ab_builds.py`).

use super::rowops::{ld, map2, reduce, reduce_min, st, st_raw, Extent};
use super::softmax::Kind;
use super::tiles::{
    class_order_sum, column_tile, column_vectors, column_vectors_mut, prefetch_ahead,
    prefetch_next_group, tiles, LaneSum, ShortRows, Tile, TileBufs, GROUP, SHORT_ROW,
};
use super::{Layout, Real};
use crate::parallel;
use crate::simd::math::tree16;
use crate::simd::{self, Isa, Kernel, Lanes};

/// The gradient with respect to the forward input, given `grad_output` and the forward `output`.
pub fn backward<T: Real>(kind: Kind, go: &[T], y: &[T], out: &mut [T], layout: Layout) {
    let block = layout.block_len();
    if block == 0 || go.len() != out.len() || y.len() != out.len() {
        return;
    }
    parallel::map_chunks(
        layout.outer,
        block,
        out,
        block,
        &mut [] as &mut [u8],
        0,
        |r, o, _| {
            let span = r.start * block..r.end * block;
            simd::dispatch(Backward {
                kind,
                go: &go[span.clone()],
                y: &y[span],
                out: o,
                layout,
            });
        },
    );
}

struct Backward<'a, T> {
    kind: Kind,
    go: &'a [T],
    y: &'a [T],
    out: &'a mut [T],
    layout: Layout,
}

impl<T: Real> Kernel for Backward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self, isa: I) {
        let Backward {
            kind,
            go,
            y,
            out,
            layout,
        } = self;
        let Layout { classes, inner, .. } = layout;
        let block = classes * inner;
        if inner > 1 {
            for o in 0..go.len() / block {
                let span = o * block..(o + 1) * block;
                let (g, yb) = (&go[span.clone()], &y[span.clone()]);
                column_groups::<T, T::V<I>>(kind, g, yb, &mut out[span], classes, inner);
            }
            return;
        }
        let (n, short) = (T::V::<I>::N, SHORT.below::<T>());
        if let Some(tiles) = tiles(go.len() / block, classes, inner, n, n, short) {
            let mut bufs = TileBufs::<T, 2>::uninit();
            bufs.init(classes, [go, y]);
            let mut tiles = tiles.peekable();
            while let Some((tile, _)) = tiles.next() {
                if tile.lane_stride == 1 {
                    tile_backward::<T, T::V<I>>(kind, go, y, out, classes, tile);
                    continue;
                }
                prefetch_ahead(isa, tile, classes, [go, y, &*out]);
                let (ins, ob) =
                    bufs.next::<T::V<I>>(tile, tiles.peek().map(|p| p.0), [go, y], classes);
                let t = tile.local();
                if t.lanes == T::V::<I>::N {
                    // A whole tile: one vector of columns of the buffers.
                    whole_group::<T, T::V<I>, 1>(
                        kind,
                        ins[0],
                        ins[1],
                        ob,
                        classes,
                        t.class_stride,
                        0,
                    );
                } else {
                    tile_backward::<T, T::V<I>>(kind, ins[0], ins[1], &mut ob[..], classes, t);
                }
                tile.scatter::<T, T::V<I>>(ob, classes, out);
            }
            return;
        }
        let rows = go.chunks_exact(block).zip(y.chunks_exact(block));
        for ((gr, yr), or) in rows.zip(out.chunks_exact_mut(block)) {
            row::<T, T::V<I>>(kind, gr, yr, or);
        }
    }
}

/// [`Lanes::mul_tiny`]'s hint for the products of `p` (or `exp(logp)`), which may be tiny, by
/// factors that vary per lane: the values whose product with a factor of magnitude `2^-20` or
/// more is subnormal, `MIN_POSITIVE 2^20` (what `tiny_below` gives for `2^-20`, without its
/// division).
#[inline(always)]
fn tiny_hint<T: Real, V: Lanes<T>>() -> V {
    V::splat(T::MIN_POSITIVE * T::from_f64(1_048_576.0))
}

/// Contiguous rows with fewer classes take the tile route ([`ShortRows`]), for both kinds: with
/// no exp to share across lanes (softmax_backward) or one per element (log_softmax_backward),
/// the transposes in and out outweigh a row kernel's horizontal sum from about 9 float32 or 6
/// float64 classes on (`benches/short_rows.py`).
const SHORT: ShortRows = ShortRows { f32: 9, f64: 6 };

/// The row reduction's term: `go * p` for softmax, `go` for log_softmax.
#[inline(always)]
fn term<T: Real, V: Lanes<T>>(kind: Kind, g: V, y: V) -> V {
    match kind {
        Kind::Softmax => y.mul_tiny(g, tiny_hint::<T, V>()),
        Kind::LogSoftmax => g,
    }
}

/// `p * (go - sum)` or `go - exp(logp) * sum`.
#[inline(always)]
fn apply<T: Real, V: Lanes<T>>(kind: Kind, g: V, y: V, sum: V) -> V {
    match kind {
        Kind::Softmax => y.mul_tiny(g.sub(sum), tiny_hint::<T, V>()),
        Kind::LogSoftmax => g.sub(y.exp().mul_tiny(sum, tiny_hint::<T, V>())),
    }
}

#[inline(always)]
fn row<T: Real, V: Lanes<T>>(kind: Kind, go: &[T], y: &[T], out: &mut [T]) {
    let n = go.len();
    let sum = match kind {
        _ if n < SHORT.below::<T>() => {
            // Rounded exactly as a lane of `tile_backward`: the terms summed in class order.
            let mut terms = [T::ZERO; SHORT_ROW];
            let mut i = 0;
            while i < n {
                let len = V::N.min(n - i);
                let t = term::<T, V>(kind, ld(go, i, len, T::ZERO), ld(y, i, len, T::ZERO));
                st(t, &mut terms, i, len);
                i += len;
            }
            class_order_sum(&terms[..n])
        }
        Kind::Softmax => return softmax_row::<T, V>(go, y, out),
        // In a row of one vector the gates' two horizontal reductions cost more than they save.
        Kind::LogSoftmax if n > V::N => return log_softmax_row::<T, V>(go, y, out),
        Kind::LogSoftmax => reduce::<T, V>(n, |i, len| ld(go, i, len, T::ZERO)),
    };
    let sum = V::splat(T::from_f64(sum));
    map2::<T, V>(go, y, out, |g, p| apply::<T, V>(kind, g, p, sum));
}

/// Vectors per block of [`softmax_row`]'s first pass: one [`Lanes::mul_tiny_pays`] test of
/// their minimum replaces [`Lanes::mul_tiny`]'s test per vector.
const GATE: usize = 4;

/// `p * (go - sum_k go_k p_k)` for a row, in [`reduce`]'s order. The first pass tests each
/// block of [`GATE`] vectors of `p` once for tiny values and keeps the row's minimum, which lets
/// the second pass take plain products when no `p` is tiny (every realistic row). Only speed
/// depends on the tests: [`Lanes::mul_tiny`] has `mul`'s bits.
#[inline(always)]
fn softmax_row<T: Real, V: Lanes<T>>(go: &[T], y: &[T], out: &mut [T]) {
    let (n, hint) = (go.len().min(y.len()).min(out.len()), tiny_hint::<T, V>());
    let mut totals = [0.0f64; 16];
    let mut least = V::splat(T::INFINITY);
    let mut i = 0;
    while i + GATE * V::N <= n {
        let ps: [V; GATE] = std::array::from_fn(|k| V::load(&y[i + k * V::N..]));
        let block_least = ps[0].min(ps[1]).min(ps[2].min(ps[3])); // GATE = 4
        least = least.min(block_least);
        let tiny = block_least.mul_tiny_pays(hint);
        for (k, p) in ps.into_iter().enumerate() {
            let g = V::load(&go[i + k * V::N..]);
            let t = if tiny { p.mul_tiny(g, hint) } else { p.mul(g) };
            t.add_to(&mut totals);
        }
        i += GATE * V::N;
    }
    while i < n {
        let len = V::N.min(n - i);
        least = least.min(ld(y, i, len, T::INFINITY));
        term::<T, V>(
            Kind::Softmax,
            ld(go, i, len, T::ZERO),
            ld(y, i, len, T::ZERO),
        )
        .add_to(&mut totals);
        i += len;
    }
    let sum = T::from_f64(tree16(&totals));
    // A finite sum has finite terms, so every `go` and `p` is finite (`inf * 0` is NaN); with
    // every `p` positive as well, `p * (go - sum)` is never NaN (not even `0 * inf` where
    // `go - sum` overflows) and needs no `canon_nan` before its store. Positive: every `p` in
    // `[MIN_POSITIVE, 1 + MIN_POSITIVE]`, a test without a horizontal reduction (a row of a
    // vector and one element took 1.09x with `reduce_min`).
    let positive = !least.sub(V::splat(T::MIN_POSITIVE)).any_outside_unit();
    let nan_free = sum.to_f64().abs() < f64::INFINITY && positive;
    let sum = V::splat(sum);
    if least.mul_tiny_pays(hint) {
        map2::<T, V>(go, y, out, |g, p| apply::<T, V>(Kind::Softmax, g, p, sum));
        return;
    }
    if !nan_free {
        map2::<T, V>(go, y, out, |g, p| p.mul(g.sub(sum)));
        return;
    }
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        let (g, p): (V, V) = (ld(go, i, len, T::ZERO), ld(y, i, len, T::ZERO));
        st_raw(p.mul(g.sub(sum)), out, i, len);
        i += len;
    }
}

/// `go - exp(logp) * sum_k go_k` for a row. The first pass also takes the extent of `logp`:
/// when every `exp(logp)` is well above [`tiny_hint`] the second pass takes plain products, and
/// when every `logp` is in [`Lanes::exp_in_range`]'s domain (a log_softmax output always is,
/// unless it has a class of probability below `e^-86` in float32), the cheaper exp. Neither
/// changes a bit.
#[inline(always)]
fn log_softmax_row<T: Real, V: Lanes<T>>(go: &[T], y: &[T], out: &mut [T]) {
    let (mut hi, mut lo) = (V::splat(T::NEG_INFINITY), V::splat(T::INFINITY));
    let sum = reduce::<T, V>(go.len().min(y.len()), |i, len| {
        hi = hi.max(ld(y, i, len, T::NEG_INFINITY));
        lo = lo.min(ld(y, i, len, T::INFINITY));
        ld(go, i, len, T::ZERO)
    });
    let sum = V::splat(T::from_f64(sum));
    let ext = Extent {
        max: hi.reduce_max(),
        min: reduce_min::<T, V>(lo),
    };
    let plain = ext.min >= tiny_hint_ln::<T>() && ext.max <= T::ZERO;
    let hint = tiny_hint::<T, V>();
    match (plain, ext.exps_in_range(T::ZERO)) {
        (true, true) => map2::<T, V>(go, y, out, |g, l| g.sub(l.exp_in_range().mul(sum))),
        (true, false) => map2::<T, V>(go, y, out, |g, l| g.sub(l.exp().mul(sum))),
        (false, true) => map2::<T, V>(go, y, out, |g, l| {
            g.sub(l.exp_in_range().mul_tiny(sum, hint))
        }),
        (false, false) => map2::<T, V>(go, y, out, |g, l| {
            apply::<T, V>(Kind::LogSoftmax, g, l, sum)
        }),
    }
}

/// A bound above `ln` of [`tiny_hint`] (`2^-106` in float32, `2^-1002` in float64, whose logs
/// are -73.5 and -694.5): `exp(l)` is at least the hint for `l` at or above it.
#[inline(always)]
fn tiny_hint_ln<T: Real>() -> T {
    let float32 = T::MIN_POSITIVE.to_f64() > f64::from(f32::MIN_POSITIVE) / 2.0;
    T::from_f64(if float32 { -73.0 } else { -694.0 })
}

/// One `(classes, inner)` block, [`GROUP`] vectors of columns at a time (long runs per class
/// row for the prefetcher, as in `softmax_tile::column_groups`).
#[inline(always)]
fn column_groups<T: Real, V: Lanes<T>>(
    kind: Kind,
    go: &[T],
    y: &[T],
    out: &mut [T],
    classes: usize,
    inner: usize,
) {
    let mut j = 0;
    while j < inner {
        let width = (GROUP * V::N).min(inner - j);
        let n = width.div_ceil(V::N);
        let tile = |k: usize| column_tile(j, k, width, V::N, inner);
        if width == GROUP * V::N {
            whole_group::<T, V, GROUP>(kind, go, y, out, classes, inner, j);
            j += width;
            continue;
        }
        let mut sums = [LaneSum::default(); GROUP];
        for c in 0..classes {
            for (k, sum) in sums.iter_mut().enumerate().take(n) {
                let t = tile(k);
                sum.add(term::<T, V>(
                    kind,
                    t.load(go, c, T::ZERO),
                    t.load(y, c, T::ZERO),
                ));
            }
        }
        let totals: [V; GROUP] = std::array::from_fn(|k| sums[k].lanes::<T, V>());
        for c in 0..classes {
            for (k, &total) in totals.iter().enumerate().take(n) {
                let t = tile(k);
                let g = apply::<T, V>(kind, t.load(go, c, T::ZERO), t.load(y, c, T::ZERO), total);
                t.store(g, out, c);
            }
        }
        j += width;
    }
}

/// `G` whole vectors of columns from `j` on: [`column_groups`]'s arithmetic through
/// [`column_vectors`].
#[inline(always)]
fn whole_group<T: Real, V: Lanes<T>, const G: usize>(
    kind: Kind,
    go: &[T],
    y: &[T],
    out: &mut [T],
    classes: usize,
    inner: usize,
    j: usize,
) {
    let mut sums = [LaneSum::default(); G];
    for c in 0..classes {
        let rows = column_vectors::<T, V>(go, j, c, inner, G)
            .zip(column_vectors::<T, V>(y, j, c, inner, G));
        for (sum, (gv, yv)) in sums.iter_mut().zip(rows) {
            sum.add(term::<T, V>(kind, V::load(gv), V::load(yv)));
        }
    }
    let totals: [V; G] = std::array::from_fn(|k| sums[k].lanes::<T, V>());
    for c in 0..classes {
        let rows = column_vectors::<T, V>(go, j, c, inner, G)
            .zip(column_vectors::<T, V>(y, j, c, inner, G))
            .zip(column_vectors_mut::<T, V>(out, j, c, inner, G));
        for (k, (&total, ((gv, yv), ov))) in totals.iter().zip(rows).enumerate() {
            let at = j + c * inner + k * V::N;
            prefetch_next_group::<T, V, G>(go, at);
            prefetch_next_group::<T, V, G>(y, at);
            let g = apply::<T, V>(kind, V::load(gv), V::load(yv), total);
            g.canon_nan().store(ov);
        }
    }
}

/// One tile of rows, one per lane (see `softmax_tile::short_rows`).
#[inline(always)]
fn tile_backward<T: Real, V: Lanes<T>>(
    kind: Kind,
    go: &[T],
    y: &[T],
    out: &mut [T],
    classes: usize,
    t: Tile,
) {
    let mut sums = LaneSum::default();
    for c in 0..classes {
        sums.add(term::<T, V>(
            kind,
            t.load(go, c, T::ZERO),
            t.load(y, c, T::ZERO),
        ));
    }
    let sum = sums.lanes::<T, V>();
    for c in 0..classes {
        let g = apply::<T, V>(kind, t.load(go, c, T::ZERO), t.load(y, c, T::ZERO), sum);
        t.store(g, out, c);
    }
}

#[cfg(test)]
mod tests {
    use super::super::softmax::forward;
    use super::*;

    #[test]
    fn matches_finite_differences() {
        let x = [0.3f64, 2.9, 4.0, -1.0];
        let go = [0.5f64, -1.25, 2.0, 0.75];
        let l = Layout::new(&[4], 0);
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let f = |x: &[f64]| {
                let mut y = vec![0.0; 4];
                forward(kind, x, &mut y, l);
                y.iter().zip(&go).map(|(a, b)| a * b).sum::<f64>()
            };
            let mut y = vec![0.0; 4];
            forward(kind, &x, &mut y, l);
            let mut g = vec![0.0; 4];
            backward(kind, &go, &y, &mut g, l);
            for i in 0..4 {
                let (mut xp, mut xm) = (x, x);
                xp[i] += 1e-6;
                xm[i] -= 1e-6;
                let fd = (f(&xp) - f(&xm)) / 2e-6;
                assert!((fd - g[i]).abs() < 1e-8, "{kind:?} {i}: {fd} vs {}", g[i]);
            }
        }
    }

    #[test]
    fn tiled_matches_rows() {
        let (c, n) = (3, 67);
        let go: Vec<f64> = (0..c * n).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let x: Vec<f64> = (0..c * n)
            .map(|i| ((i * 104_729) % 17) as f64 * 0.3)
            .collect();
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let mut y = vec![0.0; c * n];
            forward(kind, &x, &mut y, Layout::new(&[c, n], 0));
            let mut g = vec![0.0; c * n];
            backward(kind, &go, &y, &mut g, Layout::new(&[c, n], 0));
            for j in 0..n {
                let pick = |v: &[f64]| (0..c).map(|k| v[k * n + j]).collect::<Vec<_>>();
                let mut gr = vec![0.0; c];
                backward(kind, &pick(&go), &pick(&y), &mut gr, Layout::new(&[c], 0));
                assert!(pick(&g)
                    .iter()
                    .zip(&gr)
                    .all(|(a, b)| (a - b).abs() <= 1e-14 * b.abs().max(1.0)));
            }
        }
    }
}
