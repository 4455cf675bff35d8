//! Tiles: up to one vector of rows computed together, one row per lane. Rows of a non-last class
//! axis are adjacent columns; contiguous rows shorter than [`SHORT_ROW`] are gathered class-major
//! into local buffers ([`TileBufs`], double-buffered, with software prefetch ahead) by the
//! paths' register transposes. Per-lane sums ([`LaneSum`]) accumulate in f64 in class order.

use super::rowops::{from_array, ld, st, Factor};
use super::Real;
use crate::simd::{tile_len, Isa, Lanes, TILE_BUF};
use std::mem::MaybeUninit;
use std::slice::{ChunksExact, ChunksExactMut};

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

/// Up to one vector of rows processed together, one row per lane: lane `l`, class `c` is element
/// `base + l * lane_stride + c * class_stride`. Rows of a non-last class axis are adjacent columns
/// (`lane_stride` 1, `class_stride` inner); short contiguous rows are transposed on the fly
/// (`lane_stride` C, `class_stride` 1), which keeps every lane busy when C is smaller than a
/// vector.
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

/// Asks for the vector at `s[at..]`'s counterpart in the next group of `G` column vectors (one
/// cache line per vector). Called once per vector by the pass that computes from L1 (the exps,
/// or the backward's gradients), it spreads the next group's loads over that pass: the group's
/// first pass reads one short run per class row, and the hardware prefetcher alone left it
/// waiting on memory. Nothing for `G == 1` (short rows, already in a local buffer).
///
/// Measured on the 2-core Zen 4, `(8, 21, 256, 256)` with axis 1 (`benches/ab_builds.py`;
/// `benches/results/next-group-prefetch-zen4-2core.txt`):
/// softmax 0.84-0.95x, log_softmax 0.84-0.92x, cross_entropy 0.78-0.87x, cross_entropy_with_grad
/// 0.88-0.94x, log_softmax_backward 0.71-0.93x, softmax_backward 0.91-1.02x; same bits; other
/// shapes unchanged. Two groups ahead, or prefetching the output too, was no better.
#[inline(always)]
pub fn prefetch_next_group<T: Real, V: Lanes<T>, const G: usize>(s: &[T], at: usize) {
    if G > 1 {
        V::prefetch(s, at + G * V::N);
    }
}

pub use crate::simd::SHORT_ROW;

/// The class counts below which a kernel family computes contiguous rows as tiles, per element
/// type (at most [`SHORT_ROW`], the tile buffer's capacity). Tiles pay a transpose in and out
/// for full lanes and one reduction per 16 rows; the row kernels pay partial vectors and
/// horizontal reductions per row. Where the two cross depends on the arithmetic per element,
/// so on the family and the type, never on the SIMD path (a row's bits must not depend on it).
#[derive(Clone, Copy, Debug)]
pub struct ShortRows {
    /// float32 rows with fewer classes take tiles.
    pub f32: usize,
    /// float64 rows with fewer classes take tiles.
    pub f64: usize,
}

impl ShortRows {
    /// The bound for `T`.
    #[inline(always)]
    #[must_use]
    pub fn below<T>(self) -> usize {
        let v = if std::mem::size_of::<T>() == 4 {
            self.f32
        } else {
            self.f64
        };
        v.min(SHORT_ROW)
    }
}

/// A tile's rows gathered into a local buffer, class-major (`buf[c * 16 + l]`), so that short
/// rows are read and written once with plain scalar moves and computed on with contiguous loads.
/// Of its [`TILE_BUF`] slots, only the first [`tile_len`]`(classes)` are initialised and used.
type TileBuf<T> = [MaybeUninit<T>; TILE_BUF];

impl Tile {
    /// The same lanes in a tile buffer ([`TileBufs`]).
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
    pub fn gather<T: Real, V: Lanes<T>>(&self, src: &[T], classes: usize, buf: &mut [T]) {
        V::gather_rows(&src[self.base..], self.lanes, classes, buf);
    }

    /// Copies `buf` back into this tile of short rows of `dst`.
    #[inline(always)]
    pub fn scatter<T: Real, V: Lanes<T>>(&self, buf: &[T], classes: usize, dst: &mut [T]) {
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

/// Vector `k` of the group of columns `j..j + width` of a `(classes, inner)` block, `lanes` wide
/// (the last one possibly partial).
#[inline(always)]
#[must_use]
pub fn column_tile(j: usize, k: usize, width: usize, lanes: usize, inner: usize) -> Tile {
    Tile {
        base: j + k * lanes,
        lanes: lanes.min(width - k * lanes),
        lane_stride: 1,
        class_stride: inner,
    }
}

/// Class `c`'s `n` whole vectors of adjacent columns from element `base` on (classes
/// `class_stride` apart), as `n` slices of `N` lanes: one bounds check per class row rather than
/// one per vector.
#[inline(always)]
pub fn column_vectors<T: Real, V: Lanes<T>>(
    s: &[T],
    base: usize,
    c: usize,
    class_stride: usize,
    n: usize,
) -> ChunksExact<'_, T> {
    s[base + c * class_stride..][..n * V::N].chunks_exact(V::N)
}

/// [`column_vectors`], writable.
#[inline(always)]
pub fn column_vectors_mut<T: Real, V: Lanes<T>>(
    s: &mut [T],
    base: usize,
    c: usize,
    class_stride: usize,
    n: usize,
) -> ChunksExactMut<'_, T> {
    s[base + c * class_stride..][..n * V::N].chunks_exact_mut(V::N)
}

/// The first element and class stride of a group of whole, adjacent tiles of columns (for
/// [`column_vectors`]), or `None` when a tile is partial or holds short rows.
#[inline(always)]
#[must_use]
pub fn whole_columns<R: Copy>(group: &[(Tile, R)], lanes: usize) -> Option<(usize, usize)> {
    let &(first, _) = group.first()?;
    let whole = group.iter().enumerate().all(|(k, (t, _))| {
        t.lane_stride == 1
            && t.lanes == lanes
            && t.class_stride == first.class_stride
            && t.base == first.base + k * lanes
    });
    whole.then_some((first.base, first.class_stride))
}

/// Every tile of a chunk of whole `(classes, inner)` blocks, with the chunk-local index of its
/// first row: one vector of adjacent columns at a time when `inner > 1`, one vector of rows at a
/// time when the rows are contiguous and have fewer than `short` classes (a family's
/// [`ShortRows::below`]); `None` for contiguous rows that are not short, and for fewer than
/// `min_short_rows` short rows (they take the row kernels,
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
    short: usize,
) -> Option<Tiles> {
    if inner == 1 && (classes >= short || blocks < min_short_rows) {
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

/// The f64 sum of one short row's terms in class order: what a lane of [`LaneSum`] accumulates
/// over a tile, for the routes that compute a short row on its own and must round as a lane.
#[inline(always)]
#[must_use]
pub fn class_order_sum<T: Real>(terms: &[T]) -> f64 {
    terms.iter().fold(0.0, |acc, v| acc + v.to_f64())
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

    /// Each lane's total given (short rows summed on their own, in class order).
    #[inline(always)]
    #[must_use]
    pub fn from_totals(totals: [f64; 16]) -> Self {
        LaneSum { totals }
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
    pub fn recip<T: Real, V: Lanes<T>>(&self) -> [T; 16] {
        std::array::from_fn(|l| T::from_f64(1.0 / self.totals[l]))
    }

    /// [`Self::recip`] as the factor of the exps of `x - m` with `x >= lo`, lane-wise
    /// ([`Factor::lanes`]).
    #[inline(always)]
    #[must_use]
    pub fn recip_factor<T: Real, V: Lanes<T>>(&self, lo: V, m: V) -> Factor<V> {
        Factor::lanes::<T>(&self.recip::<T, V>(), lo, m)
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

/// Double-buffered tile buffers for short rows: the rows of the next tile are gathered before
/// the current one is computed, so the vector loads never wait on the scalar stores that filled
/// their buffer (a store-forwarding stall that otherwise dominates short rows). `K` inputs. The
/// two sets trade roles by index: swapping them would copy `2 * K` KB per tile.
pub struct TileBufs<T, const K: usize> {
    sets: [[TileBuf<T>; K]; 2],
    out: TileBuf<T>,
    /// The slots at the start of each input's buffers (of the inputs that are not empty) and of
    /// `out` that are initialised: [`tile_len`]`(classes)`.
    len: usize,
    /// The inputs given (not empty) to [`Self::init`]; the others' buffers stay uninitialised.
    given: [bool; K],
    /// The set holding the current tile's rows.
    ready: usize,
    primed: bool,
}

impl<T: Real, const K: usize> TileBufs<T, K> {
    /// Buffers with nothing initialised, for [`Self::init`]. (Built in place by the caller and
    /// initialised there: a constructor that returned initialised buffers had them copied,
    /// 10-20 KB per call.)
    #[inline(always)]
    #[must_use]
    pub fn uninit() -> Self {
        TileBufs {
            sets: [[[MaybeUninit::uninit(); TILE_BUF]; K]; 2],
            out: [MaybeUninit::uninit(); TILE_BUF],
            len: 0,
            given: [false; K],
            ready: 0,
            primed: false,
        }
    }

    /// Readies the buffers for rows of `classes` classes from the inputs `src` (an empty input's
    /// buffers are left alone). Only the slots those rows use are initialised (zeroed): filling
    /// all of them cost a call on a few rows of 10 classes about 0.1 µs once the buffers held 32
    /// classes.
    #[inline(always)]
    pub fn init(&mut self, classes: usize, src: [&[T]; K]) {
        let len = tile_len(classes);
        let zero = MaybeUninit::new(T::ZERO);
        self.given = src.map(|s| !s.is_empty());
        for set in &mut self.sets {
            for (buf, _) in set.iter_mut().zip(self.given).filter(|(_, g)| *g) {
                buf[..len].fill(zero);
            }
        }
        self.out[..len].fill(zero);
        self.len = len;
        self.ready = 0;
        self.primed = false;
    }

    /// The gathered inputs of `tile` (from `src`; an input that was empty at [`Self::init`] is
    /// skipped, and its buffer is an empty slice) and an output buffer, having started on
    /// `coming`.
    #[inline(always)]
    pub fn next<V: Lanes<T>>(
        &mut self,
        tile: Tile,
        coming: Option<Tile>,
        src: [&[T]; K],
        classes: usize,
    ) -> ([&[T]; K], &mut [T]) {
        let (len, given) = (self.len, self.given);
        if self.primed {
            self.ready ^= 1;
        } else {
            for (buf, s) in self.sets[self.ready]
                .iter_mut()
                .zip(src)
                .zip(given)
                .filter_map(|(b, g)| g.then_some(b))
            {
                tile.gather::<T, V>(s, classes, initialised_mut(buf, len));
            }
        }
        self.primed = false;
        if let Some(c) = coming.filter(|c| c.lane_stride != 1) {
            for (buf, s) in self.sets[self.ready ^ 1]
                .iter_mut()
                .zip(src)
                .zip(given)
                .filter_map(|(b, g)| g.then_some(b))
            {
                c.gather::<T, V>(s, classes, initialised_mut(buf, len));
            }
            self.primed = true;
        }
        let (set, out) = (&self.sets[self.ready], &mut self.out);
        (
            std::array::from_fn(|k| initialised(&set[k], if given[k] { len } else { 0 })),
            initialised_mut(out, len),
        )
    }
}

/// The first `len` slots of `buf`, which [`TileBufs::init`] initialised.
#[inline(always)]
fn initialised<T>(buf: &TileBuf<T>, len: usize) -> &[T] {
    let len = len.min(TILE_BUF);
    // SAFETY: `TileBufs::init` wrote `buf[..len]` (its `len`, at most TILE_BUF) of every buffer
    // it hands out with that `len`, and only values of T are written there after;
    // `MaybeUninit<T>` has the layout of T.
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<T>(), len) }
}

/// [`initialised`], writable.
#[inline(always)]
fn initialised_mut<T>(buf: &mut TileBuf<T>, len: usize) -> &mut [T] {
    let len = len.min(TILE_BUF);
    // SAFETY: as in `initialised`; the slice borrows `buf` mutably.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<T>(), len) }
}
