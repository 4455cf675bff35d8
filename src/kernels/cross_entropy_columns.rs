//! [`super::cross_entropy_tile`]'s first passes over a whole group of `G` adjacent column tiles
//! (a non-last class axis), with the per-tile accumulators in registers.
//!
//! The general passes keep each tile's max, min and exp sums in an array of per-tile structs,
//! indexed by a run-time count of tiles; the compiler keeps those in memory, so that every class
//! adds a store and a reload to each accumulator's dependency chain. For a whole group the count
//! is the constant `G` and the accumulators are local arrays, which stay in registers: the same
//! operations in the same order, so the same bits. (0.90-0.91x the time of a float32
//! `cross_entropy` on `(8, 21, 256, 256)`, `benches/ab_builds.py`.)

use super::cross_entropy_tile::Found;
use super::rowops::exp_if_in_range;
use super::tiles::{prefetch_next_group, LaneSum};
use super::Real;
use crate::simd::Lanes;

/// Tiles per half of a group in [`whole_group_exps`]: a half's sums, shifts and the exp's
/// constants fit the 32 vector registers of AVX-512 (a whole group's would not).
const HALF: usize = 4;

/// The input of a run of whole column tiles: class `c` of the tile at column `base` starts at
/// `x[base + c * stride]`.
#[derive(Clone, Copy)]
pub(super) struct Columns<'a, T> {
    pub x: &'a [T],
    pub base: usize,
    pub stride: usize,
    pub classes: usize,
}

impl<T> Columns<'_, T> {
    /// The same columns from `tiles` tiles of `lanes` further on.
    #[inline(always)]
    fn skip(self, tiles: usize, lanes: usize) -> Self {
        Columns {
            base: self.base + tiles * lanes,
            ..self
        }
    }
}

/// The lane-wise max and min over the classes of the `G` whole tiles of `cols`.
#[inline(always)]
pub(super) fn whole_group_extents<T: Real, V: Lanes<T>, const G: usize>(
    cols: Columns<'_, T>,
) -> ([V; G], [V; G]) {
    let (mut m, mut lo) = ([V::splat(T::NEG_INFINITY); G], [V::splat(T::INFINITY); G]);
    for c in 0..cols.classes {
        let row = &cols.x[cols.base + c * cols.stride..][..G * V::N];
        for k in 0..G {
            let v = V::load(&row[k * V::N..]);
            (m[k], lo[k]) = (m[k].max(v), lo[k].min(v));
        }
    }
    (m, lo)
}

/// The exp pass of class targets without smoothing over the `G` whole tiles of `cols`:
/// `exp(x - m)` summed into each tile's [`Found::s`] in class order, and stored raw into `g`
/// unless it is empty (`write_grad` overwrites it through a canonicalising store), while the
/// next group's input is fetched ([`prefetch_next_group`]). Half a group
/// at a time; a `G` that is not a multiple of [`HALF`] takes one tile at a time.
#[inline(always)]
pub(super) fn whole_group_exps<T: Real, V: Lanes<T>, const G: usize>(
    cols: Columns<'_, T>,
    g: &mut [T],
    found: &mut [Found<V>; G],
) {
    // Whether to store is decided here, once, not per vector in the loops below.
    if g.is_empty() {
        group_exps::<T, V, G, false>(cols, g, found);
    } else {
        group_exps::<T, V, G, true>(cols, g, found);
    }
}

/// [`whole_group_exps`], storing the exps when `STORE`.
#[inline(always)]
fn group_exps<T: Real, V: Lanes<T>, const G: usize, const STORE: bool>(
    cols: Columns<'_, T>,
    g: &mut [T],
    found: &mut [Found<V>; G],
) {
    if !G.is_multiple_of(HALF) {
        for (k, f) in found.iter_mut().enumerate() {
            exps::<T, V, G, 1, STORE>(cols.skip(k, V::N), g, std::slice::from_mut(f));
        }
        return;
    }
    for (h, half) in found.chunks_exact_mut(HALF).enumerate() {
        exps::<T, V, G, HALF, STORE>(cols.skip(h * HALF, V::N), g, half);
    }
}

/// [`whole_group_exps`] for the `K` tiles of `found`, the first `K` of `cols`, storing into `g`
/// when `STORE`.
#[inline(always)]
fn exps<T: Real, V: Lanes<T>, const G: usize, const K: usize, const STORE: bool>(
    cols: Columns<'_, T>,
    g: &mut [T],
    found: &mut [Found<V>],
) {
    let m: [V; K] = std::array::from_fn(|k| found[k].m);
    let fast: [bool; K] = std::array::from_fn(|k| found[k].in_range);
    let mut sums = [LaneSum::default(); K];
    for c in 0..cols.classes {
        let at = cols.base + c * cols.stride;
        let row = &cols.x[at..][..K * V::N];
        for k in 0..K {
            prefetch_next_group::<T, V, G>(cols.x, at + k * V::N);
            let e = exp_if_in_range::<T, V>(V::load(&row[k * V::N..]).sub(m[k]), fast[k]);
            if STORE {
                e.store(&mut g[at + k * V::N..]);
            }
            sums[k].add(e);
        }
    }
    for (f, s) in found.iter_mut().zip(sums) {
        f.s = s;
    }
}
