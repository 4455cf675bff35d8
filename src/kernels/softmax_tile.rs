//! softmax and log_softmax on tiles: one row per lane, the rows being adjacent columns of a
//! non-last class axis or short contiguous rows transposed into a tile buffer ([`TileBufs`]).
//!
//! Formula and stability as in [`super::softmax`]: per lane, the max `m` over the classes, then
//! `e_c = exp(x_c - m)` summed in f64 in class order ([`LaneSum`]), then `e_c / s` or
//! `(x_c - m) - ln(s)` ([`factor`]). The exps take the in-range exp when every lane's spread
//! allows ([`lanes_in_range`]). A non-last class axis is processed [`GROUP`] vectors of columns
//! at a time, pass by pass, so each pass streams whole runs of a class row; whole groups take
//! each class row as one checked slice ([`full_group`]), the last, partial one the general tile
//! loads ([`last_group`]); a whole group's exp pass also fetches the next group's input
//! ([`prefetch_next_group`]) and, for log_softmax, whose exp pass writes nothing, the output
//! lines its last pass will write (softmax stores its exps there). Gradients: see
//! [`super::softmax_backward`].

use super::rowops::{exp_if_in_range, Factor};
use super::softmax::Kind;
use super::tiles::{
    column_tile, column_vectors, column_vectors_mut, lanes_in_range, prefetch_next_group, LaneSum,
    Tile, GROUP,
};
use super::Real;
use crate::simd::Lanes;

/// One `(classes, inner)` block, `GROUP` vectors of columns at a time.
#[inline(always)]
pub(super) fn column_groups<T: Real, V: Lanes<T>>(
    kind: Kind,
    x: &[T],
    out: &mut [T],
    classes: usize,
    inner: usize,
) {
    let full = GROUP * V::N;
    let mut j = 0;
    while j < inner {
        if inner - j >= full {
            full_group::<T, V, GROUP>(kind, x, out, classes, inner, j);
        } else {
            last_group::<T, V>(kind, x, out, classes, inner, j);
        }
        j += full;
    }
}

/// What the last pass applies per lane: `1 / sum` (softmax, a product, for lanes with minima
/// `lo` and maxima `m`) or `ln(sum)` (log_softmax, a difference).
#[inline(always)]
fn factor<T: Real, V: Lanes<T>>(kind: Kind, sums: &LaneSum, lo: V, m: V) -> Factor<V> {
    match kind {
        Kind::Softmax => sums.recip_factor::<T, V>(lo, m),
        Kind::LogSoftmax => Factor::plain::<T>(sums.ln::<T, V>()),
    }
}

/// `G` whole vectors of columns from `j` on: [`last_group`]'s arithmetic, lane for lane,
/// through [`column_vectors`].
#[inline(always)]
fn full_group<T: Real, V: Lanes<T>, const G: usize>(
    kind: Kind,
    x: &[T],
    out: &mut [T],
    classes: usize,
    inner: usize,
    j: usize,
) {
    let mut m = [V::splat(T::NEG_INFINITY); G];
    let mut lo = [V::splat(T::INFINITY); G];
    for c in 0..classes {
        for ((mk, lk), xv) in m
            .iter_mut()
            .zip(&mut lo)
            .zip(column_vectors::<T, V>(x, j, c, inner, G))
        {
            let v = V::load(xv);
            *mk = mk.max(v);
            *lk = lk.min(v);
        }
    }
    let in_range: [bool; G] = std::array::from_fn(|k| lanes_in_range::<T, V>(lo[k], m[k]));
    let mut sums = [LaneSum::default(); G];
    for c in 0..classes {
        let lanes = m.iter().zip(&in_range).zip(&mut sums);
        if kind == Kind::Softmax {
            let rows = column_vectors::<T, V>(x, j, c, inner, G)
                .zip(column_vectors_mut::<T, V>(out, j, c, inner, G));
            for (k, (((mk, &r), sk), (xv, ov))) in lanes.zip(rows).enumerate() {
                prefetch_next_group::<T, V, G>(x, j + c * inner + k * V::N);
                let e = exp_if_in_range::<T, V>(V::load(xv).sub(*mk), r);
                // Raw: the scaling pass below overwrites it through a canonicalising store.
                e.store(ov);
                sk.add(e);
            }
        } else {
            let rows = column_vectors::<T, V>(x, j, c, inner, G);
            for (k, (((mk, &r), sk), xv)) in lanes.zip(rows).enumerate() {
                let at = j + c * inner + k * V::N;
                prefetch_next_group::<T, V, G>(x, at);
                // The last pass's stores then find their lines in cache (0.75-0.93x the time
                // of a float32 `out=` call on (8, 21, 256, 256)).
                V::prefetch(out, at);
                sk.add(exp_if_in_range::<T, V>(V::load(xv).sub(*mk), r));
            }
        }
    }
    let f: [Factor<V>; G] = std::array::from_fn(|k| factor::<T, V>(kind, &sums[k], lo[k], m[k]));
    for c in 0..classes {
        if kind == Kind::Softmax {
            for (fk, ov) in f
                .iter()
                .zip(column_vectors_mut::<T, V>(out, j, c, inner, G))
            {
                fk.of(V::load(ov)).canon_nan().store(ov);
            }
        } else {
            let rows = column_vectors::<T, V>(x, j, c, inner, G)
                .zip(column_vectors_mut::<T, V>(out, j, c, inner, G));
            for ((mk, fk), (xv, ov)) in m.iter().zip(&f).zip(rows) {
                V::load(xv).sub(*mk).sub(fk.value()).canon_nan().store(ov);
            }
        }
    }
}

/// The last, partial group of columns from `j` on (fewer than `GROUP` vectors, the last one
/// possibly partial: its missing lanes read `-inf` / `+inf` as fits each pass).
#[inline(always)]
fn last_group<T: Real, V: Lanes<T>>(
    kind: Kind,
    x: &[T],
    out: &mut [T],
    classes: usize,
    inner: usize,
    j: usize,
) {
    let width = (GROUP * V::N).min(inner - j);
    let n = width.div_ceil(V::N);
    let tile = |k: usize| column_tile(j, k, width, V::N, inner);
    let mut m = [V::splat(T::NEG_INFINITY); GROUP];
    let mut lo = [V::splat(T::INFINITY); GROUP];
    for c in 0..classes {
        for k in 0..n {
            m[k] = m[k].max(tile(k).load(x, c, T::NEG_INFINITY));
            lo[k] = lo[k].min(tile(k).load(x, c, T::INFINITY));
        }
    }
    let in_range: [bool; GROUP] = std::array::from_fn(|k| lanes_in_range::<T, V>(lo[k], m[k]));
    let mut sums = [LaneSum::default(); GROUP];
    for c in 0..classes {
        for k in 0..n {
            let d = tile(k).load::<T, V>(x, c, T::NEG_INFINITY).sub(m[k]);
            let e = exp_if_in_range::<T, V>(d, in_range[k]);
            if kind == Kind::Softmax {
                tile(k).store(e, out, c);
            }
            sums[k].add(e);
        }
    }
    let f: [Factor<V>; GROUP] =
        std::array::from_fn(|k| factor::<T, V>(kind, &sums[k], lo[k], m[k]));
    for c in 0..classes {
        for k in 0..n {
            let t = tile(k);
            let v = match kind {
                Kind::Softmax => f[k].of(t.load::<T, V>(out, c, T::ZERO)),
                Kind::LogSoftmax => t.load::<T, V>(x, c, T::ZERO).sub(m[k]).sub(f[k].value()),
            };
            t.store(v, out, c);
        }
    }
}

/// One tile of short contiguous rows gathered class-major into a tile buffer (one row per lane,
/// classes `t.class_stride` apart): a whole tile as one vector of columns ([`full_group`]), the
/// last, partial one through the general tile loads.
#[inline(always)]
pub(super) fn short_rows<T: Real, V: Lanes<T>>(
    kind: Kind,
    x: &[T],
    out: &mut [T],
    classes: usize,
    t: Tile,
) {
    if t.lanes == V::N {
        full_group::<T, V, 1>(kind, x, out, classes, t.class_stride, t.base);
    } else {
        tile_forward::<T, V>(kind, x, out, classes, t);
    }
}

/// One tile of rows (one per lane), each lane's sum accumulated in f64 in class order.
#[inline(always)]
fn tile_forward<T: Real, V: Lanes<T>>(kind: Kind, x: &[T], out: &mut [T], classes: usize, t: Tile) {
    let (mut m, mut lo) = (V::splat(T::NEG_INFINITY), V::splat(T::INFINITY));
    for c in 0..classes {
        m = m.max(t.load(x, c, T::NEG_INFINITY));
        lo = lo.min(t.load(x, c, T::INFINITY));
    }
    let in_range = lanes_in_range::<T, V>(lo, m);
    let mut sums = LaneSum::default();
    for c in 0..classes {
        let d = t.load::<T, V>(x, c, T::NEG_INFINITY).sub(m);
        let e = exp_if_in_range::<T, V>(d, in_range);
        if kind == Kind::Softmax {
            t.store(e, out, c);
        }
        sums.add(e);
    }
    let f = factor::<T, V>(kind, &sums, lo, m);
    for c in 0..classes {
        let v = match kind {
            Kind::Softmax => f.of(t.load::<T, V>(out, c, T::ZERO)),
            Kind::LogSoftmax => t.load::<T, V>(x, c, T::ZERO).sub(m).sub(f.value()),
        };
        t.store(v, out, c);
    }
}
