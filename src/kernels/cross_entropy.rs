//! Cross-entropy from logits, with class or probability targets and label smoothing, fused with
//! its gradient: one visit per row computes the loss and, when asked, writes the gradient.
//!
//! Per row with max m, `s = sum_c exp(x_c - m)` and `logp_c = (x_c - m) - ln(s)`:
//! * class target t, smoothing eps, weights w (all ones without): `nll = -w_t logp_t`,
//!   `S = -sum_c w_c logp_c`, `loss = (1 - eps) nll + (eps / C) S`; an ignored row gives 0 and
//!   weighs 0; mean divides by `W = sum of w_t` over non-ignored rows.
//!   Gradient: `q_c = (1 - eps) w_t [c == t] + (eps / C) w_c`, `g_c = s_i (p_c sum_c q_c - q_c)`.
//! * probability target y: `y' = (1 - eps) y + eps / C`, `loss = -sum_c w_c y'_c logp_c`, mean
//!   divides by the number of rows. Gradient: `g_c = s_i (p_c sum_c (w y')_c - (w y')_c)`.
//!
//! `s_i` is the gradient scale (`go_i`, `go`, or `go / W`). Stability: the same max shift as
//! log_softmax (exponents `<= 0`, `1 <= s <= C`); `S` is formed as `-(sum w_c (x_c - m) - ln(s)
//! sum w_c)` in `f64`, so no `-inf * 0` arises from masked logits unless a weighted class is -inf.

use super::cross_entropy_row::contiguous_rows;
use super::cross_entropy_short;
use super::cross_entropy_tile::{self, TileIo};
use super::nll::ClassTargets;
use super::tiles::{prefetch_ahead, tiles, ShortRows, Tile, TileBufs, GROUP};
use super::{GradScale, Layout, LossSum, Real};
use crate::parallel;
use crate::simd::{self, Isa, Kernel, Lanes};
use std::ops::Range;

/// Contiguous rows with fewer classes take the tile route ([`ShortRows`]): the forward, the
/// backward and the fused kernel alike, so that their losses and gradients agree bit for bit.
/// (float64's fused kernel stops gaining from tiles at about 24 classes: `benches/short_rows.py`.)
const SHORT: ShortRows = ShortRows { f32: 32, f64: 24 };

/// Calls with few short rows compute them in place, rounded as tile lanes
/// ([`cross_entropy_short`]): a tile's per-class vectors would be mostly idle lanes, and its
/// transposes overhead. A tile costs about as much as `(classes + k) / 6` rows in place,
/// whatever its number of rows; `k` is 24 for float32 and 12 for float64. From 8 rows on,
/// tiles: the transposes move rows 8 at a time, and a tile of 8 rows took less time than one
/// of 7 (`benches/tile_rows.py`, 1 to 8 rows of 4 to 31 classes).
#[inline(always)]
fn min_tile_rows<T>(classes: usize) -> usize {
    let k = if std::mem::size_of::<T>() == 4 {
        24
    } else {
        12
    };
    (classes + k).div_ceil(6).min(8)
}

/// What the logits are compared against.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a, T> {
    /// One class index per row.
    Class(ClassTargets<'a, T>),
    /// A probability for every logit (same layout as the input), with optional class weights.
    Prob {
        /// The target probabilities.
        y: &'a [T],
        /// Per-class weights, or `None`.
        weight: Option<&'a [T]>,
    },
}

impl<T: Real> Target<'_, T> {
    /// The denominator of reduction mean: the target-weight sum, or the row count.
    #[must_use]
    pub fn mean_denominator(&self, layout: Layout) -> f64 {
        match self {
            Target::Class(t) => t.weight_sum(layout.classes),
            Target::Prob { .. } => layout.rows() as f64,
        }
    }

    #[inline(always)]
    fn class_weight(&self, c: usize) -> f64 {
        let w = match self {
            Target::Class(t) => t.weight,
            Target::Prob { weight, .. } => *weight,
        };
        w.and_then(|w| w.get(c)).map_or(1.0, |v| v.to_f64())
    }
}

/// `smooth * w_c`, a class's share of the smoothed target; 0 without smoothing whatever `w_c`
/// (an inf or NaN weight of a class no target has leaves the gradient finite, as in PyTorch).
#[inline(always)]
pub(super) fn smoothed_weight(smooth: f64, w: f64) -> f64 {
    if smooth == 0.0 {
        0.0
    } else {
        smooth * w
    }
}

/// Everything a row needs besides its data.
pub(super) struct Ctx<'a, T> {
    pub target: Target<'a, T>,
    pub eps: f64,
    pub layout: Layout,
    /// `sum_c w_c` (C without weights) with label smoothing; 0 without, where nothing reads it.
    pub weight_total: f64,
}

impl<T: Real> Ctx<'_, T> {
    /// The weight of class `c` (1 without weights).
    #[inline(always)]
    pub fn weight(&self, c: usize) -> f64 {
        self.target.class_weight(c)
    }

    /// The per-class weights, if any.
    pub fn weights(&self) -> Option<&[T]> {
        match self.target {
            Target::Class(t) => t.weight,
            Target::Prob { weight, .. } => weight,
        }
    }
}

/// Whole `(classes, inner)` blocks `blocks` of the input, with their pieces of the outputs.
struct Chunk<'a, 'c, T> {
    ctx: &'c Ctx<'a, T>,
    x: &'a [T],
    blocks: Range<usize>,
    grad: &'c mut [T],
    losses: &'c mut [T],
    scale: GradScale<'a, T>,
}

impl<T: Real> Kernel for Chunk<'_, '_, T> {
    type Output = LossSum;

    #[inline(always)]
    fn run<I: Isa>(self, isa: I) -> LossSum {
        let Chunk {
            ctx,
            x,
            blocks,
            grad,
            losses,
            scale,
        } = self;
        let Layout { classes, inner, .. } = ctx.layout;
        let block = classes * inner;
        let span = blocks.start * block..blocks.end * block;
        let y = match ctx.target {
            Target::Prob { y, .. } => &y[span.clone()],
            Target::Class(_) => &[],
        };
        let mut io = TileIo {
            x: &x[span],
            y,
            g: grad,
            losses,
            scale,
            k0: blocks.start * inner,
        };
        let mut sum = LossSum::default();
        let short = SHORT.below::<T>();
        let min_rows = min_tile_rows::<T>(classes);
        if let Some(tiles) = tiles(blocks.len(), classes, inner, T::V::<I>::N, min_rows, short) {
            let mut bufs = TileBufs::<T, 2>::uninit();
            bufs.init(classes, [io.x, io.y]);
            let mut tiles = tiles.peekable();
            let mut group = [(Tile::default(), 0); GROUP];
            while let Some((t, r0)) = tiles.next() {
                if t.lane_stride == 1 {
                    // Adjacent columns: up to GROUP tiles of the same block, pass by pass.
                    let mut n = 1;
                    group[0] = (t, r0);
                    while n < GROUP {
                        match tiles.peek() {
                            Some(&(next, r))
                                if next.lane_stride == 1
                                    && next.base == group[n - 1].0.base + group[n - 1].0.lanes =>
                            {
                                group[n] = (next, r);
                                tiles.next();
                                n += 1;
                            }
                            _ => break,
                        }
                    }
                    sum = sum
                        + cross_entropy_tile::tiles::<T, T::V<I>, I::F64, GROUP>(
                            ctx,
                            &mut io,
                            &group[..n],
                        );
                    continue;
                }
                // Short rows: computed on class-major copies, the gradient copied back.
                prefetch_ahead(isa, t, classes, [io.x, &*io.g]);
                let coming = tiles.peek().map(|p| p.0);
                let (ins, gb) = bufs.next::<T::V<I>>(t, coming, [io.x, io.y], classes);
                let want_grad = !io.g.is_empty();
                let mut local = TileIo {
                    x: ins[0],
                    y: if io.y.is_empty() { &[] } else { ins[1] },
                    g: if want_grad { &mut gb[..] } else { &mut [] },
                    losses: &mut *io.losses,
                    scale,
                    k0: io.k0,
                };
                sum = sum
                    + cross_entropy_tile::tiles::<T, T::V<I>, I::F64, 1>(
                        ctx,
                        &mut local,
                        &[(t.local(), r0)],
                    );
                if want_grad {
                    t.scatter::<T, T::V<I>>(gb, classes, io.g);
                }
            }
            return sum;
        }
        if classes < short {
            // Fewer than `min_rows` short rows.
            return cross_entropy_short::rows::<T, T::V<I>, I::F64>(ctx, &mut io, blocks.len());
        }
        contiguous_rows::<T, T::V<I>>(ctx, io.x, io.g, io.losses, io.k0, scale)
    }
}

/// Cross-entropy of `x` against `target` with label smoothing `eps`. Per-row losses go to `losses`
/// when it has one slot per row; the gradient goes to `grad` (length `layout.len()`) scaled by
/// `scale` when `grad` is non-empty. Returns the loss and weight sums (in fixed chunk order).
pub fn forward_backward<T: Real>(
    x: &[T],
    target: Target<'_, T>,
    eps: f64,
    layout: Layout,
    losses: &mut [T],
    grad: &mut [T],
    scale: GradScale<'_, T>,
) -> LossSum {
    let block = layout.block_len();
    if layout.classes == 0 || layout.inner == 0 {
        // No classes: every (necessarily ignored) class target and every empty probability row
        // contributes 0. No rows (an empty trailing axis): nothing to visit, however large the
        // other axes (the fuzzer found O(outer * classes) work here).
        losses.fill(T::ZERO);
        return LossSum::default();
    }
    // Only label smoothing reads `sum_c w_c` (as `smooth * weight_total`). Without it the sum is
    // skipped: a serial f64 chain over the classes cost 2.5x the rest of a one-row call on 50257
    // classes, and a weight of inf or NaN for a class no target has made every gradient NaN
    // (`0 * inf`), where PyTorch's stays finite.
    let weight_total = if eps > 0.0 {
        (0..layout.classes).map(|c| target.class_weight(c)).sum()
    } else {
        0.0
    };
    let ctx = Ctx {
        target,
        eps,
        layout,
        weight_total,
    };
    let grad_per = if grad.is_empty() { 0 } else { block };
    let loss_per = if losses.is_empty() { 0 } else { layout.inner };
    let parts = parallel::map_chunks(
        layout.outer,
        block,
        grad,
        grad_per,
        losses,
        loss_per,
        |r, g, l| {
            simd::dispatch(Chunk {
                ctx: &ctx,
                x,
                blocks: r,
                grad: g,
                losses: l,
                scale,
            })
        },
    );
    LossSum::total(parts)
}
