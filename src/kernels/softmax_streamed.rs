//! The pipelined route of contiguous softmax and log_softmax rows that fit in L2
//! ([`PIPELINED_MAX_ROW_BYTES`]): outputs far larger than the last-level cache
//! ([`super::streams`]), written with non-temporal stores, and log_softmax outputs from
//! [`PIPELINED_LOG_MIN_BYTES`], written with plain ones.
//!
//! Formulas, stability and gradients as in [`super::softmax`]: per row with max `m` and
//! `s = sum_c exp(x_c - m)`, `softmax = exp(x - m) / s` and `log_softmax = (x - m) - ln(s)`. The
//! same arithmetic as its three-pass route, in the same order, so the same bits; only the
//! schedule differs. One loop over a row's vectors does three rows' work:
//! - it reads row `r + 1` for its extent (max and min): the only read from memory;
//! - it computes row `r`'s exps `exp(x - m)` and their sum (softmax keeps the exps in one of two
//!   scratch rows);
//! - it writes row `r - 1`'s output (with non-temporal stores when streaming): `e (1 / s)` from
//!   the other scratch row, or `(x - m) - ln(s)` from `x`, which is still in L2.
//!
//! In the plain route the output pass of a row only moves memory, so the core idles while it
//! writes, and softmax writes its exps into the output and scales them there, which reads every
//! output line from memory before writing it. Here the output is written while the exps
//! compute, and when streaming the memory traffic is that of a copy: one read of `x`, one write
//! of `out`.

use super::rowops::{
    exp_sum_ahead, exp_sum_ahead_along, extent, ld, may_be_tiny, st, Alongside, Extent,
};
use super::softmax::Kind;
use super::Real;
use crate::simd::math::ln_f64;
use crate::simd::Lanes;

/// Rows up to this size (in bytes) take this route: the loop keeps three rows of `x` (and two
/// scratch rows for softmax) in L2.
pub const PIPELINED_MAX_ROW_BYTES: usize = 512 * 1024;

/// log_softmax outputs from this size (in bytes) take this route even when they do not stream,
/// with plain stores: its output pass then overlaps the next row's exps too. (softmax, whose
/// output would come from a scratch row, only takes it when streaming.)
pub const PIPELINED_LOG_MIN_BYTES: usize = 2 * 1024 * 1024;

/// softmax or log_softmax of the contiguous rows of `x` (length `n` each) into `out`, with
/// non-temporal stores if `stream`.
#[inline(always)]
pub fn rows<T: Real, V: Lanes<T>>(kind: Kind, x: &[T], out: &mut [T], n: usize, stream: bool) {
    match kind {
        Kind::Softmax => rows_of::<T, V, true>(x, out, n, stream),
        Kind::LogSoftmax => rows_of::<T, V, false>(x, out, n, stream),
    }
}

/// [`rows`] of softmax (`SOFT`) or log_softmax.
#[inline(always)]
fn rows_of<T: Real, V: Lanes<T>, const SOFT: bool>(x: &[T], out: &mut [T], n: usize, stream: bool) {
    if n == 0 {
        return;
    }
    let rows = x.len().min(out.len()) / n;
    let mut scratch = vec![T::ZERO; if SOFT { 2 * n } else { 0 }];
    let mut ext = extent::<T, V>(x.get(..n).unwrap_or_default());
    // The sum and extent of the row whose output is still to be written.
    let mut pending: Option<(f64, Extent<T>)> = None;
    for r in 0..rows {
        let xr = &x[r * n..(r + 1) * n];
        let next = x.get((r + 1) * n..(r + 2) * n).unwrap_or_default();
        let (even, odd) = scratch.split_at_mut(if SOFT { n } else { 0 });
        let (e, old) = if r % 2 == 0 { (even, odd) } else { (odd, even) };
        let prev = match (pending.take(), r.checked_sub(1)) {
            (Some((s, done)), Some(p)) => out.get_mut(p * n..r * n).and_then(|o| {
                let src = if SOFT { &*old } else { &x[p * n..r * n] };
                RowOutput::<T, SOFT>::start::<V>(o, src, s, done, stream)
            }),
            _ => None,
        };
        let found = match prev {
            Some(mut along) => {
                let found = exp_sum_ahead_along::<T, V, _>(xr, ext.max, ext, next, e, &mut along);
                along.finish::<V>();
                found
            }
            None => exp_sum_ahead::<T, V>(xr, ext.max, ext, next, e),
        };
        pending = Some((found.0, ext));
        ext = found.1;
    }
    if let (Some((s, done)), Some(last)) = (pending, rows.checked_sub(1)) {
        let src = if SOFT {
            scratch.get(last % 2 * n..(last % 2 + 1) * n)
        } else {
            x.get(last * n..rows * n)
        };
        let started = match (src, out.get_mut(last * n..rows * n)) {
            (Some(src), Some(o)) => RowOutput::<T, SOFT>::start::<V>(o, src, s, done, stream),
            _ => None,
        };
        if let Some(mut last) = started {
            let mut i = 0;
            while last.head + i + V::N <= n {
                last.at::<V>(i);
                i += V::N;
            }
            last.finish::<V>();
        }
    }
}

/// A row's output, `e (1 / s)` from its exps (softmax, `SOFT`) or `(x - m) - ln(s)` from `x`
/// (log_softmax), written in three parts: a head up to the first 64-byte boundary of `out`
/// ([`Self::start`]), whole vectors (non-temporal when streaming) alongside the next row's exps
/// ([`Alongside::at`]), and the rest ([`Self::finish`]). Heads and tails take plain stores.
struct RowOutput<'a, T, const SOFT: bool> {
    out: &'a mut [T],
    src: &'a [T],
    /// `1 / s` and its [`Lanes::mul_tiny`] hint when `tiny` (softmax), or `m` and `ln(s)`
    /// (log_softmax).
    a: T,
    b: T,
    /// Softmax: whether some exp of the row may be tiny (as in `rowops::Factor`).
    tiny: bool,
    stream: bool,
    head: usize,
}

impl<'a, T: Real, const SOFT: bool> RowOutput<'a, T, SOFT> {
    /// The output of the row with sum `s` and extent `ext` into `out` from `src` (the same
    /// length), its head written; `None` when there is nothing more to write: a NaN sum makes the
    /// whole row NaN, written here.
    #[inline(always)]
    fn start<V: Lanes<T>>(
        out: &'a mut [T],
        src: &'a [T],
        s: f64,
        ext: Extent<T>,
        stream: bool,
    ) -> Option<Self> {
        if s.is_nan() {
            out.fill(T::from_f64(f64::NAN));
            return None;
        }
        let tiny = SOFT && may_be_tiny(ext.min - ext.max, T::from_f64(1.0 / s));
        let (a, b) = if SOFT {
            let inv = T::from_f64(1.0 / s);
            (inv, if tiny { inv.tiny_below() } else { T::ZERO })
        } else {
            (ext.max, T::from_f64(ln_f64(s)))
        };
        let head = out.as_ptr().align_offset(64).min(out.len());
        let mut row = RowOutput {
            out,
            src,
            a,
            b,
            tiny,
            stream,
            head,
        };
        row.plain::<V>(0, head);
        Some(row)
    }

    /// Elements `from..to`, with plain stores.
    #[inline(always)]
    fn plain<V: Lanes<T>>(&mut self, from: usize, to: usize) {
        let to = to.min(self.out.len()).min(self.src.len());
        let mut j = from;
        while j < to {
            let len = V::N.min(to - j);
            let v = self.value::<V>(ld(self.src, j, len, T::ZERO));
            st(v, self.out, j, len);
            j += len;
        }
    }

    /// The output lanes of source lanes `src`.
    #[inline(always)]
    fn value<V: Lanes<T>>(&self, src: V) -> V {
        let a = V::splat(self.a);
        if SOFT && self.tiny {
            src.mul_tiny(a, V::splat(self.b))
        } else if SOFT {
            src.mul(a)
        } else {
            src.sub(a).sub(V::splat(self.b))
        }
    }

    /// What the whole vectors left: the elements past the last one.
    #[inline(always)]
    #[allow(clippy::needless_pass_by_value)] // consumed: the row is done
    fn finish<V: Lanes<T>>(mut self) {
        let n = self.out.len().min(self.src.len());
        let done = self.head + n.saturating_sub(self.head) / V::N * V::N;
        self.plain::<V>(done, n);
    }
}

impl<T: Real, const SOFT: bool> Alongside<T> for RowOutput<'_, T, SOFT> {
    /// The whole vector at `head + i`, if it lies within the row.
    #[inline(always)]
    fn at<V: Lanes<T>>(&mut self, i: usize) {
        let j = self.head + i;
        if j + V::N <= self.out.len().min(self.src.len()) {
            let v = self.value::<V>(V::load(&self.src[j..])).canon_nan();
            if self.stream {
                v.stream(&mut self.out[j..]);
            } else {
                v.store(&mut self.out[j..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::softmax::other_row;
    use crate::simd::{self, Isa, Kernel};

    /// The rows of `x` streamed, and one by one through the plain route.
    struct Both<'a, T> {
        kind: Kind,
        x: &'a [T],
        n: usize,
        streamed: &'a mut [T],
        plain: &'a mut [T],
        /// Non-temporal stores (the route is also taken without them, for log_softmax).
        stream: bool,
    }
    impl<T: Real> Kernel for Both<'_, T> {
        type Output = ();
        fn run<I: Isa>(self, isa: I) {
            rows::<T, T::V<I>>(self.kind, self.x, self.streamed, self.n, self.stream);
            isa.stream_fence();
            for (xr, or) in self
                .x
                .chunks_exact(self.n)
                .zip(self.plain.chunks_exact_mut(self.n))
            {
                other_row::<T, T::V<I>>(self.kind, xr, or, false);
            }
        }
    }

    /// `rows` rows of `n` pseudo-random values (spread about 12), with special rows mixed in.
    fn input<T: Real>(rows: usize, n: usize, seed: u64) -> Vec<T> {
        let mut state = seed;
        let mut x: Vec<T> = (0..rows * n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                T::from_f64(((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 12.0)
            })
            .collect();
        let specials: [(usize, f64); 5] = [
            (1, f64::NAN),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (4, 1e4),
            (6, f64::NEG_INFINITY),
        ];
        for (r, v) in specials.into_iter().filter(|&(r, _)| r < rows) {
            let row = &mut x[r * n..(r + 1) * n];
            match r {
                1 | 2 => row[n / 2] = T::from_f64(v),
                3 => row.fill(T::from_f64(v)),
                4 => row[0] = T::from_f64(v), // beyond exp_in_range's spread
                _ => row[..n / 3].fill(T::from_f64(v)),
            }
        }
        x
    }

    fn check<T: Real>() {
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            // From the shortest row that the row kernels take (shorter ones take tiles).
            for n in [kind.short_below::<T>(), 37, 1000, 4099] {
                for rows in [1, 2, 3, 8] {
                    let x = input::<T>(rows, n, (n * rows) as u64);
                    // Outputs starting off a 64-byte boundary: the heads take plain stores.
                    for (offset, stream) in (0..3).flat_map(|o| [(o, true), (o, false)]) {
                        let mut streamed = vec![T::ZERO; rows * n + offset];
                        let mut plain = vec![T::ZERO; rows * n];
                        simd::dispatch(Both {
                            kind,
                            x: &x,
                            n,
                            streamed: &mut streamed[offset..],
                            plain: &mut plain,
                            stream,
                        });
                        let bits =
                            |v: &[T]| v.iter().map(|f| f.to_f64().to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(&streamed[offset..]),
                            bits(&plain),
                            "{kind:?} n={n} rows={rows} offset={offset} stream={stream}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn streamed_rows_are_the_plain_routes_bits() {
        check::<f32>();
        check::<f64>();
    }
}
