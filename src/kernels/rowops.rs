//! Row primitives over [`Lanes`]: max, fixed-order sums and elementwise maps of contiguous slices.
//!
//! Every sum uses one order on every path: element `i` goes to virtual lane `i % N` (N = 16 for
//! f32, 8 for f64), each vector of terms is widened and added to 16 `f64` lane totals, and the
//! totals meet in the fixed tree of `tree16`. Accumulating in f64 (rather than in f32 lanes) keeps
//! the low bits of a sum just above 1, which a confident row's log-probability is made of.
//! Vector tails are loaded with a neutral fill (0 for sums, -inf for max and exp), so tail handling
//! is the same everywhere. All functions are `#[inline(always)]` so that they compile inside the
//! caller's `#[target_feature]` entry point.
//!
//! The exps of a row or tile whose spread `max - min` is at most 86 (f32) or 700 (f64), which is
//! most real logits, take [`Lanes::exp_in_range`]: the same bits as `exp` without its clamp and
//! two-step scaling, 5-19% less time on compute-bound rows. The extent ([`Extent`]) comes with
//! the max pass, so the choice costs one `min` per vector and changes no result.

use super::Real;
use crate::simd::math::tree16;
use crate::simd::{Isa, Lanes};

/// Lanes of `s[i..i + len]` (`len <= N`), `fill` in the missing lanes.
#[inline(always)]
pub fn ld<T: Real, V: Lanes<T>>(s: &[T], i: usize, len: usize, fill: T) -> V {
    if len == V::N {
        V::load(&s[i..])
    } else {
        V::load_partial(&s[i..i + len], fill)
    }
}

/// `v` times the lanes of `w[i..i + len]` (zero past `len`), or `v` itself without `w`. (A
/// `match`, not `Option::map_or`: its closure would not compile with the caller's target features.)
#[inline(always)]
pub fn mul_opt<T: Real, V: Lanes<T>>(v: V, w: Option<&[T]>, i: usize, len: usize) -> V {
    match w {
        Some(w) => v.mul(ld(w, i, len, T::ZERO)),
        None => v,
    }
}

/// Writes the first `len` lanes of `v` to `s[i..]`, NaNs canonical ([`Lanes::canon_nan`]).
#[inline(always)]
pub fn st<T: Real, V: Lanes<T>>(v: V, s: &mut [T], i: usize, len: usize) {
    let v = v.canon_nan();
    if len == V::N {
        v.store(&mut s[i..]);
    } else {
        v.store_partial(&mut s[i..i + len]);
    }
}

/// [`st`] without [`Lanes::canon_nan`]: only for values that a later pass overwrites through
/// [`st`], or that are known not to be NaN (a NaN's bits would then depend on the path).
#[inline(always)]
pub fn st_raw<T: Real, V: Lanes<T>>(v: V, s: &mut [T], i: usize, len: usize) {
    if len == V::N {
        v.store(&mut s[i..]);
    } else {
        v.store_partial(&mut s[i..i + len]);
    }
}

/// `out[i] *= a` with [`st_raw`] stores: for a row known to hold no NaN.
#[inline(always)]
pub fn scale_raw<T: Real, V: Lanes<T>>(out: &mut [T], a: V) {
    let n = out.len();
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        let v = ld::<T, V>(out, i, len, T::ZERO).mul(a);
        st_raw(v, out, i, len);
        i += len;
    }
}

/// The maximum of `x` (-inf when empty); a NaN anywhere taints later arithmetic, not this value.
#[inline(always)]
pub fn max<T: Real, V: Lanes<T>>(x: &[T]) -> T {
    let (mut a, mut b) = (V::splat(T::NEG_INFINITY), V::splat(T::NEG_INFINITY));
    let mut pairs = x.chunks_exact(2 * V::N);
    for p in &mut pairs {
        a = a.max(V::load(p));
        b = b.max(V::load(&p[V::N..]));
    }
    let rest = pairs.remainder();
    let mut i = 0;
    while i < rest.len() {
        let len = V::N.min(rest.len() - i);
        a = a.max(ld(rest, i, len, T::NEG_INFINITY));
        i += len;
    }
    a.max(b).reduce_max()
}

/// `sum` over `n` elements of `term(i, len)`, the lanes for elements `i..i + len` (zero in the
/// lanes past `len`), in the fixed order described in the module header.
#[inline(always)]
pub fn reduce<T: Real, V: Lanes<T>>(n: usize, mut term: impl FnMut(usize, usize) -> V) -> f64 {
    let mut totals = [0.0f64; 16];
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        term(i, len).add_to(&mut totals);
        i += len;
    }
    tree16(&totals)
}

/// A row's largest and smallest elements ([`extent`]); with a NaN in the row either may or may
/// not be NaN, and the row's results are NaN through later arithmetic.
#[derive(Clone, Copy, Debug)]
pub struct Extent<T> {
    /// The maximum (-inf for an empty row).
    pub max: T,
    /// The minimum (+inf for an empty row).
    pub min: T,
}

impl<T: Real> Extent<T> {
    /// Whether every `x - m` of the row lies in [`Lanes::exp_in_range`]'s domain, for a shift
    /// `m` at least the row's max: the difference of the extremes rounds monotonically, so it
    /// bounds every element's. False for infinities and for NaN extremes.
    #[inline(always)]
    pub fn exps_in_range(self, m: T) -> bool {
        self.min - m >= T::EXP_IN_RANGE_LO
    }
}

/// The max and min of `x`, in one pass.
#[inline(always)]
pub fn extent<T: Real, V: Lanes<T>>(x: &[T]) -> Extent<T> {
    let (mut hi, mut lo) = (V::splat(T::NEG_INFINITY), V::splat(T::INFINITY));
    let mut i = 0;
    while i < x.len() {
        let len = V::N.min(x.len() - i);
        hi = hi.max(ld(x, i, len, T::NEG_INFINITY));
        lo = lo.min(ld(x, i, len, T::INFINITY));
        i += len;
    }
    Extent {
        max: hi.reduce_max(),
        min: reduce_min::<T, V>(lo),
    }
}

/// Whether every lane of a tile (one row per lane) has all its `x - m` in
/// [`Lanes::exp_in_range`]'s domain, from the lane-wise minima `lo` and maxima `m`. Lanes without
/// data (`lo = +inf`, `m = -inf`) pass; their results are never stored. Each lane's verdict is
/// made a 0 or a 1 before the lanes are combined: a NaN lane (whose row's results are NaN
/// anyway) counts as out of range, and cannot hide another lane from the reduction, as it could
/// in a min over the raw differences (which operand a max of a NaN returns is path-specific).
#[inline(always)]
pub fn lanes_in_range<T: Real, V: Lanes<T>>(lo: V, m: V) -> bool {
    let margin = lo.sub(m).sub(V::splat(T::EXP_IN_RANGE_LO));
    let outside = margin.select_nonneg(V::splat(T::ZERO), V::splat(T::ONE));
    outside.reduce_max() == T::ZERO
}

/// `exp(d)`, through [`Lanes::exp_in_range`] when the caller has established its domain.
#[inline(always)]
pub fn exp_if_in_range<T: Real, V: Lanes<T>>(d: V, in_range: bool) -> V {
    if in_range {
        d.exp_in_range()
    } else {
        d.exp()
    }
}

/// The smallest lane of `v` (as `-max(-v)`: negation is exact).
#[inline(always)]
fn reduce_min<T: Real, V: Lanes<T>>(v: V) -> T {
    -v.mul(V::splat(-T::ONE)).reduce_max()
}

/// `sum exp(x_i - m)` in the order of [`reduce`], storing the exps into `e` unless it is empty
/// (with [`st_raw`]: a later pass must rewrite them, or the caller must check the sum for NaN;
/// a slice, not a callback: closures do not inherit the entry point's target features), and
/// meanwhile the [`Extent`] of `next` (the following row: the same length, or empty for none).
/// Software pipelining: the next row's first pass, which reads it from memory, overlaps this
/// row's exps instead of stalling on its own. `x_extent` is `x`'s own extent (from the call
/// before, or [`extent`]): when [`Extent::exps_in_range`] holds, the full vectors take
/// [`Lanes::exp_in_range`] (the same bits, fewer operations). With a NaN in `next` the extent may
/// differ from [`extent`]'s; both only guarantee that the row's results are NaN.
#[inline(always)]
pub fn exp_sum_ahead<T: Real, V: Lanes<T>>(
    x: &[T],
    m: T,
    x_extent: Extent<T>,
    next: &[T],
    e: &mut [T],
) -> (f64, Extent<T>) {
    if x_extent.exps_in_range(m) {
        exp_sum_ahead_with::<T, V, true>(x, m, next, e)
    } else {
        exp_sum_ahead_with::<T, V, false>(x, m, next, e)
    }
}

/// [`exp_sum_ahead`] with the choice of `exp` made (a const parameter, so that the loop has no
/// test of it). Partial vectors hold `-inf` fill and always take the full `exp`.
#[inline(always)]
fn exp_sum_ahead_with<T: Real, V: Lanes<T>, const IN_RANGE: bool>(
    x: &[T],
    m: T,
    next: &[T],
    e: &mut [T],
) -> (f64, Extent<T>) {
    let n = x.len();
    let mv = V::splat(m);
    let mut totals = [0.0f64; 16];
    let (mut next_max, mut next_min) = (V::splat(T::NEG_INFINITY), V::splat(T::INFINITY));
    let ahead = next.len() == n;
    let store = !e.is_empty();
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        if ahead {
            next_max = next_max.max(ld(next, i, len, T::NEG_INFINITY));
            next_min = next_min.min(ld(next, i, len, T::INFINITY));
        }
        let d = ld::<T, V>(x, i, len, T::NEG_INFINITY).sub(mv);
        let v = if IN_RANGE && len == V::N {
            d.exp_in_range()
        } else {
            d.exp()
        };
        if store {
            st_raw(v, e, i, len);
        }
        v.add_to(&mut totals);
        i += len;
    }
    let next_extent = if ahead {
        Extent {
            max: next_max.reduce_max(),
            min: reduce_min::<T, V>(next_min),
        }
    } else {
        extent::<T, V>(next)
    };
    (tree16(&totals), next_extent)
}

/// `out[i] = f(x[i])` lane-wise (`out.len() == x.len()`).
#[inline(always)]
pub fn map<T: Real, V: Lanes<T>>(x: &[T], out: &mut [T], f: impl Fn(V) -> V) {
    let n = out.len().min(x.len());
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        st(f(ld(x, i, len, T::ZERO)), out, i, len);
        i += len;
    }
}

/// `out[i] = (x[i] - a) - b` lane-wise (log_softmax's output pass) with raw stores, for a row
/// known to give no NaN; with `stream` through non-temporal stores for the 64-byte-aligned body
/// of `out` (the edges take plain stores): for outputs far larger than the last-level cache,
/// where a plain store would first read each line it writes. Elementwise, so streaming does not
/// change the result. (No closure: one that does not inline compiles without the entry point's
/// target features.)
#[inline(always)]
pub fn sub_sub<T: Real, V: Lanes<T>>(x: &[T], out: &mut [T], a: V, b: V, stream: bool) {
    let n = out.len().min(x.len());
    let head = if stream {
        out.as_ptr().align_offset(64).min(n)
    } else {
        n
    };
    let mut i = 0;
    while i < head {
        let len = V::N.min(head - i);
        st_raw(ld::<T, V>(x, i, len, T::ZERO).sub(a).sub(b), out, i, len);
        i += len;
    }
    if !stream {
        return;
    }
    while i + V::N <= n {
        V::load(&x[i..])
            .sub(a)
            .sub(b)
            .canon_nan()
            .stream(&mut out[i..]);
        i += V::N;
    }
    if i < n {
        st(
            ld::<T, V>(x, i, n - i, T::ZERO).sub(a).sub(b),
            out,
            i,
            n - i,
        );
    }
}

/// `out[i] = f(a[i], b[i])` lane-wise.
#[inline(always)]
pub fn map2<T: Real, V: Lanes<T>>(a: &[T], b: &[T], out: &mut [T], f: impl Fn(V, V) -> V) {
    let n = out.len().min(a.len()).min(b.len());
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        st(
            f(ld(a, i, len, T::ZERO), ld(b, i, len, T::ZERO)),
            out,
            i,
            len,
        );
        i += len;
    }
}

/// `out[i] = f(out[i])` lane-wise.
#[inline(always)]
pub fn update<T: Real, V: Lanes<T>>(out: &mut [T], f: impl Fn(V) -> V) {
    let n = out.len();
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        let v = f(ld(out, i, len, T::ZERO));
        st(v, out, i, len);
        i += len;
    }
}

/// The lanes of `vals` (at most 16 of them) as a vector.
#[inline(always)]
pub fn from_array<T: Real, V: Lanes<T>>(vals: &[T; 16]) -> V {
    V::load_partial(&vals[..V::N.min(16)], T::ZERO)
}

/// Up to one vector of rows processed together, one row per lane: lane `l`, class `c` is element
/// `base + l * lane_stride + c * class_stride`. Rows of a non-last class axis are adjacent columns
/// (`lane_stride` 1, `class_stride` inner); short contiguous rows are transposed on the fly
/// (`lane_stride` C, `class_stride` 1), which keeps every lane busy when C is smaller than a vector.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tile {
    /// Element of lane 0, class 0.
    pub base: usize,
    /// Rows in this tile (`<= N`).
    pub lanes: usize,
    /// Distance between the rows of adjacent lanes.
    pub lane_stride: usize,
    /// Distance between adjacent classes of one row.
    pub class_stride: usize,
}

impl Tile {
    /// Index of lane `l`, class `c`.
    #[inline(always)]
    #[must_use]
    pub fn at(&self, l: usize, c: usize) -> usize {
        self.base + l * self.lane_stride + c * self.class_stride
    }

    /// Class `c` of every lane (`fill` past `lanes`).
    #[inline(always)]
    pub fn load<T: Real, V: Lanes<T>>(&self, s: &[T], c: usize, fill: T) -> V {
        let start = self.base + c * self.class_stride;
        if self.lane_stride == 1 {
            return ld(s, start, self.lanes, fill);
        }
        let mut a = [fill; 16];
        for (l, v) in a.iter_mut().enumerate().take(self.lanes) {
            *v = s[start + l * self.lane_stride];
        }
        V::load(&a)
    }

    /// Writes class `c` of every lane.
    #[inline(always)]
    pub fn store<T: Real, V: Lanes<T>>(&self, v: V, s: &mut [T], c: usize) {
        let start = self.base + c * self.class_stride;
        if self.lane_stride == 1 {
            return st(v, s, start, self.lanes);
        }
        let mut a = [T::ZERO; 16];
        v.canon_nan().store(&mut a);
        for (l, &x) in a.iter().enumerate().take(self.lanes) {
            s[start + l * self.lane_stride] = x;
        }
    }
}

/// Vectors of adjacent columns processed together when the class axis is not last: each pass then
/// reads `GROUP` vectors of one class row in a row, so the hardware prefetcher sees long runs
/// rather than one cache line per class (C classes plus an output would be too many interleaved
/// streams for it).
pub const GROUP: usize = 8;

/// Contiguous rows shorter than this are processed as transposed tiles, one row per lane.
pub const SHORT_ROW: usize = 16;

/// A tile's rows gathered into a local buffer, class-major (`buf[c * 16 + l]`), so that short
/// rows are read and written once with plain scalar moves and computed on with contiguous loads.
pub type TileBuf<T> = [T; 16 * SHORT_ROW];

impl Tile {
    /// The same lanes in a [`TileBuf`].
    #[inline(always)]
    #[must_use]
    pub fn local(&self) -> Tile {
        Tile {
            base: 0,
            lanes: self.lanes,
            lane_stride: 1,
            class_stride: 16,
        }
    }

    /// Copies this tile of short rows (`lane_stride == classes`) from `src` (the chunk's input:
    /// the transposes may read past the tile) into `buf`.
    #[inline(always)]
    pub fn gather<T: Real, V: Lanes<T>>(&self, src: &[T], classes: usize, buf: &mut TileBuf<T>) {
        V::gather_rows(&src[self.base..], self.lanes, classes, buf);
    }

    /// Copies `buf` back into this tile of short rows of `dst`.
    #[inline(always)]
    pub fn scatter<T: Real, V: Lanes<T>>(&self, buf: &TileBuf<T>, classes: usize, dst: &mut [T]) {
        V::scatter_rows(
            buf,
            self.lanes,
            classes,
            &mut dst[self.base..self.base + self.lanes * classes],
        );
    }
}

/// How many tiles of short rows ahead [`prefetch_ahead`] fetches: a tile of 16 rows of 10 f32
/// spans 10 cache lines per array and takes about half a microsecond to compute, so 8 tiles
/// ahead cover a memory latency with room to spare. (The hardware prefetcher alone left the
/// short-row routes about twice as slow per row on arrays far larger than the caches.)
pub const PREFETCH_TILES: usize = 8;

/// Prefetches, in each of `arrays` (laid out like the input; an empty one is skipped), the rows
/// of the short-row tile [`PREFETCH_TILES`] ahead of `t`.
#[inline(always)]
pub fn prefetch_ahead<I: Isa, T, const K: usize>(
    isa: I,
    t: Tile,
    classes: usize,
    arrays: [&[T]; K],
) {
    let len = t.lanes * classes;
    let ahead = t.base + PREFETCH_TILES * len;
    for a in arrays {
        isa.prefetch(a, ahead..ahead + len);
    }
}

/// Every tile of a chunk of whole `(classes, inner)` blocks, with the chunk-local index of its
/// first row: one vector of adjacent columns at a time when `inner > 1`, one vector of rows at a
/// time when the rows are contiguous and shorter than [`SHORT_ROW`]; `None` for contiguous rows
/// that are not short, and for fewer than `min_short_rows` short rows (they take the row kernels,
/// which must then round a short row exactly as a tile lane does: a row's bits may not depend on
/// how many rows share its call). An iterator rather than a callback: closures do not inherit
/// the `#[target_feature]`s of the entry point they are written in.
#[inline(always)]
#[must_use]
pub fn tiles(
    blocks: usize,
    classes: usize,
    inner: usize,
    lanes: usize,
    min_short_rows: usize,
) -> Option<Tiles> {
    if inner == 1 && (classes >= SHORT_ROW || blocks < min_short_rows) {
        return None;
    }
    Some(Tiles {
        blocks,
        classes,
        inner,
        lanes,
        block: 0,
        j: 0,
    })
}

/// The iterator of [`tiles`].
#[derive(Clone, Debug)]
pub struct Tiles {
    blocks: usize,
    classes: usize,
    inner: usize,
    lanes: usize,
    /// Next block (or, for short rows, next row).
    block: usize,
    /// Next column within the block.
    j: usize,
}

impl Iterator for Tiles {
    type Item = (Tile, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(Tile, usize)> {
        if self.block >= self.blocks {
            return None;
        }
        if self.inner == 1 {
            let (r, lanes) = (self.block, self.lanes.min(self.blocks - self.block));
            self.block += lanes;
            let tile = Tile {
                base: r * self.classes,
                lanes,
                lane_stride: self.classes,
                class_stride: 1,
            };
            return Some((tile, r));
        }
        let (o, j) = (self.block, self.j);
        let lanes = self.lanes.min(self.inner - j);
        self.j += lanes;
        if self.j >= self.inner {
            self.j = 0;
            self.block += 1;
        }
        let base = o * self.classes * self.inner + j;
        Some((
            Tile {
                base,
                lanes,
                lane_stride: 1,
                class_stride: self.inner,
            },
            o * self.inner + j,
        ))
    }
}

/// Per-lane sums over a tile's classes, accumulated in f64 in class order (a struct, not a
/// callback, so that nothing escapes the entry point's target features).
#[derive(Clone, Copy, Debug)]
pub struct LaneSum {
    totals: [f64; 16],
}

impl Default for LaneSum {
    fn default() -> Self {
        LaneSum { totals: [0.0; 16] }
    }
}

impl LaneSum {
    /// Every lane's total set to `total` (a short row summed on its own, in class order).
    #[inline(always)]
    #[must_use]
    pub fn splat(total: f64) -> Self {
        LaneSum {
            totals: [total; 16],
        }
    }

    /// Adds the next class's lanes.
    #[inline(always)]
    pub fn add<T: Real, V: Lanes<T>>(&mut self, v: V) {
        v.add_to(&mut self.totals);
    }

    /// The sums rounded to the element type.
    #[inline(always)]
    #[must_use]
    pub fn lanes<T: Real, V: Lanes<T>>(&self) -> V {
        from_array::<T, V>(&std::array::from_fn(|l| T::from_f64(self.totals[l])))
    }

    /// `1 / sum` per lane, rounded once to the element type.
    #[inline(always)]
    #[must_use]
    pub fn recip<T: Real, V: Lanes<T>>(&self) -> V {
        from_array::<T, V>(&std::array::from_fn(|l| T::from_f64(1.0 / self.totals[l])))
    }

    /// `ln(sum)` per lane: `ln(hi) + lo / hi` with `sum = hi + lo` split at the element type, so a
    /// sum just above 1 (a confident row) keeps the low bits that rounding to f32 would drop.
    #[inline(always)]
    #[must_use]
    pub fn ln<T: Real, V: Lanes<T>>(&self) -> V {
        let hi: [T; 16] = std::array::from_fn(|l| T::from_f64(self.totals[l]));
        let lo: [T; 16] = std::array::from_fn(|l| T::from_f64(self.totals[l] - hi[l].to_f64()));
        let (hi, lo) = (from_array::<T, V>(&hi), from_array::<T, V>(&lo));
        hi.ln().add(lo.div(hi))
    }
}

/// Double-buffered [`TileBuf`]s for short rows: the rows of the next tile are gathered before the
/// current one is computed, so the vector loads never wait on the scalar stores that filled
/// their buffer (a store-forwarding stall that otherwise dominates short rows). `K` inputs. The
/// two sets trade roles by index: swapping them would copy `2 * K` KB per tile.
pub struct TileBufs<T, const K: usize> {
    sets: [[TileBuf<T>; K]; 2],
    /// The set holding the current tile's rows.
    ready: usize,
    out: TileBuf<T>,
    primed: bool,
}

impl<T: Real, const K: usize> Default for TileBufs<T, K> {
    /// Empty buffers.
    #[inline(always)]
    fn default() -> Self {
        let zero = [T::ZERO; 16 * SHORT_ROW];
        TileBufs {
            sets: [[zero; K]; 2],
            ready: 0,
            out: zero,
            primed: false,
        }
    }
}

impl<T: Real, const K: usize> TileBufs<T, K> {
    /// The gathered inputs of `tile` (from `src`; an empty source is skipped) and an output
    /// buffer, having started on `coming`.
    #[inline(always)]
    pub fn next<V: Lanes<T>>(
        &mut self,
        tile: Tile,
        coming: Option<Tile>,
        src: [&[T]; K],
        classes: usize,
    ) -> (&[TileBuf<T>; K], &mut TileBuf<T>) {
        if self.primed {
            self.ready ^= 1;
        } else {
            for (buf, s) in self.sets[self.ready]
                .iter_mut()
                .zip(src)
                .filter(|(_, s)| !s.is_empty())
            {
                tile.gather::<T, V>(s, classes, buf);
            }
        }
        self.primed = false;
        if let Some(c) = coming.filter(|c| c.lane_stride != 1) {
            for (buf, s) in self.sets[self.ready ^ 1]
                .iter_mut()
                .zip(src)
                .filter(|(_, s)| !s.is_empty())
            {
                c.gather::<T, V>(s, classes, buf);
            }
            self.primed = true;
        }
        (&self.sets[self.ready], &mut self.out)
    }
}
