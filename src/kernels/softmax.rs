//! softmax and log_softmax along the class axis.
//!
//! Formula, per row x with max m and `s = sum_c exp(x_c - m)`:
//! `softmax(x)_c = exp(x_c - m) / s`, `log_softmax(x)_c = (x_c - m) - ln(s)`.
//!
//! Stability: subtracting the row max makes every exponent `<= 0`, so nothing overflows and the
//! largest term is exactly 1, hence `1 <= s <= C` and `ln(s)` is well conditioned. log_softmax
//! subtracts `m` before `ln(s)` so large logits with small differences keep their precision. The
//! exps are summed in the fixed lane order of [`super::rowops`] (16 f64 lane totals), through its
//! in-range exp when the row's spread allows. Special rows (SPEC.md): a row holding +inf or NaN, or
//! only -inf, becomes NaN (the NaN propagates through `s`); -inf among finite values gives 0 /
//! -inf.
//!
//! Gradients (from the forward output, see [`super::softmax_backward`]):
//! `d softmax: gx = p * (go - sum(go * p))`, `d log_softmax: gx = go - exp(logp) * sum(go)`.
//!
//! Routes: a contiguous row (`inner == 1`) of up to [`ONLINE_MIN_BYTES`] takes three passes (max,
//! found while the previous row of the chunk computes its exps; exp stored and summed; scale), the
//! later passes hitting L2 or L3; a longer row takes the online two-pass route (running max and
//! rescaled sum, then one write pass), reading the row twice and writing its output once, at the
//! price of a second exp per element. Outputs streamed past the cache ([`super::streams`]) with
//! rows of up to 512 KiB take the same three passes scheduled across rows (`softmax_streamed`): one
//! loop reads row `r + 1`, computes row `r`'s exps and writes row `r - 1`'s output with
//! non-temporal stores. log_softmax outputs of 2 MiB or more take it too, with plain stores below
//! the streaming size. When the class axis is not last, a `(classes, inner)` block is processed in
//! tiles of one vector of columns, vectorising across the contiguous inner axis without a
//! transpose; short rows (below [`Kind::short_below`], at most 31 classes) are processed the same
//! way, one row per lane, after a transpose on the fly. A tile accumulates each lane's sum in f64
//! in class order (the tile routes are in `softmax_tile.rs`).

use super::rowops::{
    exp_sum_ahead, extent, ld, map, scale_raw, st, st_raw, sub_sub, Extent, Factor,
};
use super::softmax_streamed::{self, PIPELINED_LOG_MIN_BYTES, PIPELINED_MAX_ROW_BYTES};
use super::tiles::{
    class_order_sum, prefetch_ahead, tiles, LaneSum, ShortRows, TileBufs, SHORT_ROW,
};
use super::{softmax_tile, streams, Layout, Real};
use crate::parallel;
use crate::simd::math::ln_f64;
use crate::simd::{self, Isa, Kernel, Lanes};

/// Rows longer than this (in bytes) take the online two-pass route. The three-pass route reads
/// the row twice and its output twice, the online route computes every exp twice; measured on a
/// 2-core AVX2 EPYC (1 MiB L2, 32 MiB L3), three-pass softmax stays faster well past L2: 0.65-0.84x
/// of the online time on rows of 0.4-4 MiB, 0.86-1.00x on rows of 4-64 MiB (log_softmax, which
/// has no second exp, 0.96-1.01x). Rows up to the largest vocabularies (256K classes of f64) take
/// three passes; longer ones stay online, where more cores or cheaper exps (AVX-512) would make
/// memory the bound (not measured: no such machine here).
pub const ONLINE_MIN_BYTES: usize = 2 * 1024 * 1024;
/// Elements per step of the online route's running max and sum.
const ONLINE_BLOCK: usize = 4096;

/// Calls with fewer short rows take them one at a time ([`short_row`]): a tile's work grows
/// with the classes whatever the rows, a row's with its vectors, so a tile with most lanes idle
/// costs more. Measured on 2 to 15 rows of 10 to 31 float32 classes, tiles took 0.5-1.1x the
/// time of the rows one by one from 6 rows on (below 0.85x in most cases), and up to 1.4x below.
const MIN_TILE_ROWS: usize = 6;

/// Which of the two functions to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `exp(x - m) / s`.
    Softmax,
    /// `(x - m) - ln(s)`.
    LogSoftmax,
}

impl Kind {
    /// Contiguous rows with fewer classes take the tile route ([`ShortRows`]): a tile shares
    /// each exp's cost across its lanes, which pays longer for log_softmax, whose row kernel
    /// also takes a scalar `ln` per row (`benches/short_rows.py`).
    #[inline(always)]
    #[must_use]
    pub fn short_below<T>(self) -> usize {
        match self {
            Kind::Softmax => ShortRows { f32: 28, f64: 16 },
            Kind::LogSoftmax => ShortRows { f32: 32, f64: 28 },
        }
        .below::<T>()
    }
}

/// softmax or log_softmax of `x` (laid out as `layout`) into `out` (same length).
pub fn forward<T: Real>(kind: Kind, x: &[T], out: &mut [T], layout: Layout) {
    let block = layout.block_len();
    if block == 0 || x.len() != out.len() {
        return;
    }
    let stream = streams(out);
    let pipeline = stream
        || (kind == Kind::LogSoftmax && std::mem::size_of_val(out) >= PIPELINED_LOG_MIN_BYTES);
    parallel::map_chunks(
        layout.outer,
        block,
        out,
        block,
        &mut [] as &mut [u8],
        0,
        |r, o, _| {
            let x = &x[r.start * block..r.end * block];
            simd::dispatch(Forward {
                kind,
                x,
                out: o,
                layout,
                stream,
                pipeline,
            });
        },
    );
}

/// One chunk of whole blocks, run on the active instruction set.
struct Forward<'a, T> {
    kind: Kind,
    x: &'a [T],
    out: &'a mut [T],
    layout: Layout,
    /// Write contiguous rows with non-temporal stores (see [`super::streams`]).
    stream: bool,
    /// Schedule contiguous rows of up to `PIPELINED_MAX_ROW_BYTES` across rows
    /// (`softmax_streamed`).
    pipeline: bool,
}

impl<T: Real> Kernel for Forward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self, isa: I) {
        let Forward {
            kind,
            x,
            out,
            layout,
            stream,
            pipeline,
        } = self;
        let Layout { classes, inner, .. } = layout;
        let block = classes * inner;
        let short = kind.short_below::<T>();
        if let Some(tiles) = tiles(
            x.len() / block,
            classes,
            inner,
            T::V::<I>::N,
            MIN_TILE_ROWS,
            short,
        ) {
            let mut bufs = TileBufs::<T, 1>::uninit();
            bufs.init(classes, [x]);
            let mut tiles = tiles.peekable();
            if inner > 1 {
                for o in 0..x.len() / block {
                    softmax_tile::column_groups::<T, T::V<I>>(
                        kind,
                        &x[o * block..][..block],
                        &mut out[o * block..][..block],
                        classes,
                        inner,
                    );
                }
                return;
            }
            while let Some((tile, _)) = tiles.next() {
                prefetch_ahead(isa, tile, classes, [x, &*out]);
                let (xb, ob) = bufs.next::<T::V<I>>(tile, tiles.peek().map(|p| p.0), [x], classes);
                softmax_tile::short_rows::<T, T::V<I>>(kind, xb[0], ob, classes, tile.local());
                tile.scatter::<T, T::V<I>>(ob, classes, out);
            }
            return;
        }
        if block < short || block * std::mem::size_of::<T>() > ONLINE_MIN_BYTES {
            for (xr, or) in x.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
                other_row::<T, T::V<I>>(kind, xr, or, stream);
            }
        } else if pipeline && block * std::mem::size_of::<T>() <= PIPELINED_MAX_ROW_BYTES {
            softmax_streamed::rows::<T, T::V<I>>(kind, x, out, block, stream);
        } else {
            let mut m = extent::<T, T::V<I>>(x.get(..block).unwrap_or_default());
            for (r, (xr, or)) in x
                .chunks_exact(block)
                .zip(out.chunks_exact_mut(block))
                .enumerate()
            {
                let next = x.get((r + 1) * block..(r + 2) * block).unwrap_or_default();
                m = row::<T, T::V<I>>(kind, xr, m, next, or, stream);
            }
        }
        if stream {
            isa.stream_fence();
        }
    }
}

/// A contiguous row that is neither short nor longer than [`ONLINE_MIN_BYTES`].
#[inline(always)]
pub(super) fn other_row<T: Real, V: Lanes<T>>(kind: Kind, x: &[T], out: &mut [T], stream: bool) {
    if x.len() < kind.short_below::<T>() {
        short_row::<T, V>(kind, x, out);
    } else if std::mem::size_of_val(x) > ONLINE_MIN_BYTES {
        row_online::<T, V>(kind, x, out, stream);
    } else {
        row::<T, V>(kind, x, extent::<T, V>(x), &[], out, stream);
    }
}

/// The three-pass route for one contiguous row with max `m`; with `stream` (rows longer than
/// [`PIPELINED_MAX_ROW_BYTES`]), log_softmax's output pass uses non-temporal stores. (softmax
/// scales its output in place, in cache; streaming it would need a scratch row, which only the
/// pipelined route of [`super::softmax_streamed`] made pay.) `ext` is the row's [`Extent`];
/// returns that of `next`, the following row (or empty), found during the exps.
#[inline(always)]
fn row<T: Real, V: Lanes<T>>(
    kind: Kind,
    x: &[T],
    ext: Extent<T>,
    next: &[T],
    out: &mut [T],
    stream: bool,
) -> Extent<T> {
    let store: &mut [T] = if kind == Kind::Softmax {
        &mut *out
    } else {
        &mut []
    };
    let (s, next_ext) = exp_sum_ahead::<T, V>(x, ext.max, ext, next, store);
    write_output::<T, V>(kind, x, ext, s, out, stream);
    next_ext
}

/// The output pass of both routes, from the row's extent and sum `s` (softmax's `out` holds
/// the unscaled exps). A NaN anywhere in a row makes `s` NaN and every output NaN; otherwise
/// `1 <= s <= C`, no output is NaN, and the stores skip [`Lanes::canon_nan`].
#[inline(always)]
fn write_output<T: Real, V: Lanes<T>>(
    kind: Kind,
    x: &[T],
    ext: Extent<T>,
    s: f64,
    out: &mut [T],
    stream: bool,
) {
    if s.is_nan() {
        out.fill(T::from_f64(f64::NAN));
        return;
    }
    match kind {
        Kind::Softmax => {
            let inv = Factor::splat(T::from_f64(1.0 / s), ext.min - ext.max);
            scale_raw::<T, V>(out, inv);
        }
        Kind::LogSoftmax => {
            let log_s = V::splat(T::from_f64(ln_f64(s)));
            sub_sub::<T, V>(x, out, V::splat(ext.max), log_s, stream);
        }
    }
}

/// A row with fewer than [`Kind::short_below`] classes in a call with fewer than [`MIN_TILE_ROWS`]
/// of them, rounded exactly as a lane of [`softmax_tile::short_rows`]: the exps summed in f64 in
/// class order, then [`LaneSum`]'s reciprocal or log. So a row's bits do not depend on the rows
/// that share its call.
#[inline(always)]
fn short_row<T: Real, V: Lanes<T>>(kind: Kind, x: &[T], out: &mut [T]) {
    let n = x.len().min(SHORT_ROW);
    let ext = extent::<T, V>(&x[..n]);
    let m = V::splat(ext.max);
    let mut e = [T::ZERO; SHORT_ROW];
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        st(
            ld::<T, V>(x, i, len, T::NEG_INFINITY).sub(m).exp(),
            &mut e,
            i,
            len,
        );
        i += len;
    }
    let sum = LaneSum::splat(class_order_sum(&e[..n]));
    match kind {
        Kind::Softmax => {
            let inv = sum.recip_factor::<T, V>(V::splat(ext.min), m);
            map::<T, V>(&e[..n], out, |v| inv.of(v));
        }
        Kind::LogSoftmax => {
            let log_s = sum.ln::<T, V>();
            map::<T, V>(x, out, |v| v.sub(m).sub(log_s));
        }
    }
}

/// A row longer than [`ONLINE_MIN_BYTES`]: running max and rescaled sum in one pass, then the
/// output pass.
#[inline(always)]
fn row_online<T: Real, V: Lanes<T>>(kind: Kind, x: &[T], out: &mut [T], stream: bool) {
    let (mut m, mut s, mut lo) = (T::NEG_INFINITY, 0.0f64, T::INFINITY);
    for part in x.chunks(ONLINE_BLOCK) {
        let part_ext = extent::<T, V>(part);
        if part_ext.max > m {
            s *= crate::simd::math::exp_f64(m.to_f64() - part_ext.max.to_f64());
            m = part_ext.max;
        }
        if part_ext.min < lo {
            lo = part_ext.min;
        }
        s += exp_sum_ahead::<T, V>(part, m, part_ext, &[], &mut []).0;
    }
    let ext = Extent { max: m, min: lo };
    let in_range = ext.exps_in_range(m);
    if kind == Kind::LogSoftmax || s.is_nan() {
        // (For softmax only the NaN fill: `write_output` would scale exps `out` does not hold.)
        write_output::<T, V>(kind, x, ext, s, out, stream);
        return;
    }
    // Softmax recomputes the exps in its output pass. A loop, not `map` with a closure: the
    // closure would not inline its exp. No NaN (see `write_output`), so raw stores.
    let inv = Factor::<V>::splat(T::from_f64(1.0 / s), lo - m);
    let m = V::splat(m);
    let mut i = 0;
    while i < x.len() {
        let len = V::N.min(x.len() - i);
        let d = ld::<T, V>(x, i, len, T::ZERO).sub(m);
        let e = if in_range { d.exp_in_range() } else { d.exp() };
        st_raw(inv.of(e), out, i, len);
        i += len;
    }
}

#[cfg(test)]
mod tests {
    use super::super::rowops::{max, reduce};
    use super::*;

    fn run<T: Real>(kind: Kind, x: &[T], layout: Layout) -> Vec<T> {
        let mut out = vec![T::ZERO; x.len()];
        forward(kind, x, &mut out, layout);
        out
    }

    fn lcg(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 20.0
            })
            .collect()
    }

    #[test]
    fn rows_sum_to_one() {
        let x = lcg(7 * 300, 1);
        let p = run(Kind::Softmax, &x, Layout::new(&[7, 300], 1));
        for r in p.chunks(300) {
            assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-13);
        }
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let p32 = run(Kind::Softmax, &x32, Layout::new(&[7, 300], 1));
        for r in p32.chunks(300) {
            assert!((r.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn shift_invariance() {
        let x = lcg(5 * 40, 2);
        let shifted: Vec<f64> = x.iter().map(|v| v + 1000.0).collect();
        let l = Layout::new(&[5, 40], 1);
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let (a, b) = (run(kind, &x, l), run(kind, &shifted, l));
            assert!(
                a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-9),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn overflow_example_has_no_nan() {
        let p = run(
            Kind::Softmax,
            &[1010.0f64, 1000.0, 990.0],
            Layout::new(&[3], 0),
        );
        let want = [
            9.999_546_000_702_375e-1,
            4.539_786_860_886_666e-5,
            2.061_060_046_209_062e-9,
        ];
        assert!(
            p.iter().zip(want).all(|(a, b)| ((a - b) / b).abs() < 1e-12),
            "{p:?}"
        );
    }

    #[test]
    fn special_rows() {
        let inf = f64::INFINITY;
        let l = Layout::new(&[4, 3], 1);
        let x = [
            1.0,
            -inf,
            2.0,
            inf,
            0.0,
            1.0,
            -inf,
            -inf,
            -inf,
            f64::NAN,
            1.0,
            2.0,
        ];
        let p = run(Kind::Softmax, &x, l);
        assert_eq!(p[1], 0.0);
        assert!(p[3..].iter().all(|v| v.is_nan()));
        let lp = run(Kind::LogSoftmax, &x, l);
        assert_eq!(lp[1], -inf);
        assert!(lp[3..].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn tiled_axis_matches_rows_gathered_by_hand() {
        // (2, 5, 70) with axis 1: compare against rows gathered by hand.
        let (o, c, n) = (2, 5, 70);
        let x = lcg(o * c * n, 3);
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let got = run(kind, &x, Layout::new(&[o, c, n], 1));
            for b in 0..o {
                for j in 0..n {
                    let r: Vec<f64> = (0..c).map(|k| x[b * c * n + k * n + j]).collect();
                    let want = run(kind, &r, Layout::new(&[c], 0));
                    // Columns sum in f64 in class order, rows in the lane order: equal to rounding.
                    for k in 0..c {
                        assert!(
                            (got[b * c * n + k * n + j] - want[k]).abs()
                                <= 1e-14 * want[k].abs().max(1.0)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn online_route_matches_three_pass() {
        let n = ONLINE_MIN_BYTES / 4 + 1000;
        let x: Vec<f32> = lcg(n, 5).iter().map(|&v| v as f32).collect();
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let mut online = vec![0.0f32; n];
            simd::dispatch(Online {
                kind,
                x: &x,
                out: &mut online,
            });
            let mut three = vec![0.0f32; n];
            simd::dispatch(ThreePass {
                kind,
                x: &x,
                out: &mut three,
            });
            let worst = online
                .iter()
                .zip(&three)
                .map(|(a, b)| ((a - b) / b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{kind:?}: {worst}");
        }
    }

    struct Online<'a> {
        kind: Kind,
        x: &'a [f32],
        out: &'a mut [f32],
    }
    impl Kernel for Online<'_> {
        type Output = ();
        fn run<I: Isa>(self, _: I) {
            row_online::<f32, I::F32>(self.kind, self.x, self.out, false);
        }
    }

    /// One contiguous row through [`other_row`], streamed or not.
    struct Row<'a> {
        kind: Kind,
        x: &'a [f32],
        out: &'a mut [f32],
        stream: bool,
    }
    impl Kernel for Row<'_> {
        type Output = ();
        fn run<I: Isa>(self, isa: I) {
            other_row::<f32, I::F32>(self.kind, self.x, self.out, self.stream);
            isa.stream_fence();
        }
    }

    #[test]
    fn streamed_rows_equal_plain_rows_bitwise() {
        // Both routes, and outputs starting off a 64-byte boundary (the edges take plain stores).
        for n in [37, 1000, 4099, ONLINE_MIN_BYTES / 4 + 1000] {
            let x: Vec<f32> = lcg(n, 9).iter().map(|&v| v as f32).collect();
            for kind in [Kind::Softmax, Kind::LogSoftmax] {
                for offset in 0..3 {
                    let mut plain = vec![0.0f32; n + offset];
                    let mut streamed = vec![0.0f32; n + offset];
                    for (out, stream) in [(&mut plain, false), (&mut streamed, true)] {
                        simd::dispatch(Row {
                            kind,
                            x: &x,
                            out: &mut out[offset..],
                            stream,
                        });
                    }
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&plain),
                        bits(&streamed),
                        "{kind:?} n={n} offset={offset}"
                    );
                }
            }
        }
    }
    struct ThreePass<'a> {
        kind: Kind,
        x: &'a [f32],
        out: &'a mut [f32],
    }
    impl Kernel for ThreePass<'_> {
        type Output = ();
        fn run<I: Isa>(self, _: I) {
            let m = I::F32::splat(max::<f32, I::F32>(self.x));
            let s = reduce::<f32, I::F32>(self.x.len(), |i, len| {
                ld::<f32, I::F32>(self.x, i, len, f32::NEG_INFINITY)
                    .sub(m)
                    .exp()
            });
            for (o, &v) in self.out.iter_mut().zip(self.x) {
                let shifted = f64::from(v - m.reduce_max());
                *o = match self.kind {
                    Kind::Softmax => (shifted.exp() / s) as f32,
                    Kind::LogSoftmax => (shifted - s.ln()) as f32,
                };
            }
        }
    }

    #[test]
    fn serial_equals_parallel_bitwise() {
        let x: Vec<f32> = lcg(600 * 500, 4).iter().map(|&v| v as f32).collect();
        let l = Layout::new(&[600, 500], 1);
        crate::parallel::set_num_threads(1);
        let a = run(Kind::Softmax, &x, l);
        crate::parallel::set_num_threads(4);
        let b = run(Kind::Softmax, &x, l);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
