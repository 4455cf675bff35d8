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

use super::rowops::{exp_sum_ahead, exp_sum_ahead_along, extent, ld, st, Alongside, Extent};
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

/// How a row whose sum is known becomes its output: `x - a - b` (log_softmax, from the row of
/// `x`: `a = m`, `b = ln s`) or `e * a` (softmax, from the row's exps: `a = 1 / s`); all NaN when
/// the sum is NaN.
#[derive(Clone, Copy)]
struct Factors<T> {
    a: T,
    b: T,
    nan: bool,
}

/// A row's output to write: where to, from what, and how.
struct Job<'a, T> {
    out: &'a mut [T],
    src: &'a [T],
    f: Factors<T>,
    /// Non-temporal stores for the body (plain ones otherwise).
    stream: bool,
}

/// softmax or log_softmax of the contiguous rows of `x` (length `n` each) into `out`, with
/// non-temporal stores if `stream`.
#[inline(always)]
pub fn rows<T: Real, V: Lanes<T>>(kind: Kind, x: &[T], out: &mut [T], n: usize, stream: bool) {
    if n == 0 {
        return;
    }
    let soft = kind == Kind::Softmax;
    let rows = x.len().min(out.len()) / n;
    let mut scratch = vec![T::ZERO; if soft { 2 * n } else { 0 }];
    let mut ext = extent::<T, V>(x.get(..n).unwrap_or_default());
    let mut pending: Option<Factors<T>> = None;
    for r in 0..rows {
        let xr = &x[r * n..(r + 1) * n];
        let next = x.get((r + 1) * n..(r + 2) * n).unwrap_or_default();
        let (even, odd) = scratch.split_at_mut(if soft { n } else { 0 });
        let (e, old) = if r % 2 == 0 { (even, odd) } else { (odd, even) };
        let prev = match (pending.take(), r.checked_sub(1)) {
            (Some(f), Some(p)) => out.get_mut(p * n..r * n).map(|o| Job {
                out: o,
                src: if soft { &*old } else { &x[p * n..r * n] },
                f,
                stream,
            }),
            _ => None,
        };
        let (s, next_ext) = step::<T, V>(soft, xr, ext, next, e, prev);
        pending = Some(if soft {
            Factors {
                a: T::from_f64(1.0 / s),
                b: T::ZERO,
                nan: s.is_nan(),
            }
        } else {
            Factors {
                a: ext.max,
                b: T::from_f64(ln_f64(s)),
                nan: s.is_nan(),
            }
        });
        ext = next_ext;
    }
    if let (Some(f), Some(last)) = (pending, rows.checked_sub(1)) {
        let src = if soft {
            scratch.get(last % 2 * n..(last % 2 + 1) * n)
        } else {
            x.get(last * n..rows * n)
        };
        if let (Some(src), Some(out)) = (src, out.get_mut(last * n..rows * n)) {
            write_last::<T, V>(
                soft,
                Job {
                    out,
                    src,
                    f,
                    stream,
                },
            );
        }
    }
}

/// One row's pass: its exps (into `e` unless empty) and their sum, the extent of `next`, and
/// `prev`'s output. Returns the sum and `next`'s extent.
#[inline(always)]
fn step<T: Real, V: Lanes<T>>(
    soft: bool,
    x: &[T],
    ext: Extent<T>,
    next: &[T],
    e: &mut [T],
    prev: Option<Job<'_, T>>,
) -> (f64, Extent<T>) {
    if soft {
        step_with::<T, V, true>(x, ext, next, e, prev)
    } else {
        step_with::<T, V, false>(x, ext, next, e, prev)
    }
}

/// [`step`] with the output's kind chosen.
#[inline(always)]
fn step_with<T: Real, V: Lanes<T>, const SOFT: bool>(
    x: &[T],
    ext: Extent<T>,
    next: &[T],
    e: &mut [T],
    prev: Option<Job<'_, T>>,
) -> (f64, Extent<T>) {
    let n = x.len();
    // The previous row's output: a head up to its first 64-byte boundary with plain stores, then
    // one vector (non-temporal when streaming) per vector of this row, then the rest.
    let mut prev = prev.filter(|p| p.out.len() == n && p.src.len() == n);
    if let Some(p) = prev.take_if(|p| p.f.nan) {
        // A NaN row's output is all NaN, whatever its exps.
        p.out.fill(T::from_f64(f64::NAN));
    }
    let Some(mut p) = prev else {
        return exp_sum_ahead::<T, V>(x, ext.max, ext, next, e);
    };
    let head = p.out.as_ptr().align_offset(64).min(n);
    write_plain::<T, V>(SOFT, &mut p, 0, head);
    let mut along = Streamed::<T, SOFT> { job: p, head };
    let found = exp_sum_ahead_along::<T, V, _>(x, ext.max, ext, next, e, &mut along);
    // Past the last whole streamed vector.
    write_plain::<T, V>(SOFT, &mut along.job, head + (n - head) / V::N * V::N, n);
    found
}

/// A row's output written alongside the next row's exps: the vector at `head + i` for the
/// next row's vector `i`, while it lies within the row.
struct Streamed<'a, T, const SOFT: bool> {
    job: Job<'a, T>,
    head: usize,
}

impl<T: Real, const SOFT: bool> Alongside<T> for Streamed<'_, T, SOFT> {
    #[inline(always)]
    fn at<V: Lanes<T>>(&mut self, i: usize) {
        let j = self.head + i;
        let p = &mut self.job;
        if j + V::N <= p.out.len().min(p.src.len()) {
            let v = output::<T, V, SOFT>(V::load(&p.src[j..]), V::splat(p.f.a), V::splat(p.f.b));
            put(v, &mut p.out[j..], p.stream);
        }
    }
}

/// A row's output value from its source lanes.
#[inline(always)]
fn output<T: Real, V: Lanes<T>, const SOFT: bool>(src: V, a: V, b: V) -> V {
    if SOFT {
        src.mul(a)
    } else {
        src.sub(a).sub(b)
    }
}

/// The last row's output: a head up to the first 64-byte boundary and the tail with plain
/// stores, the body with non-temporal ones when streaming.
#[inline(always)]
#[allow(clippy::needless_pass_by_value)] // consumed: the job is done
fn write_last<T: Real, V: Lanes<T>>(soft: bool, mut p: Job<'_, T>) {
    if p.f.nan {
        p.out.fill(T::from_f64(f64::NAN));
        return;
    }
    let n = p.out.len().min(p.src.len());
    let head = p.out.as_ptr().align_offset(64).min(n);
    write_plain::<T, V>(soft, &mut p, 0, head);
    let (a, b) = (V::splat(p.f.a), V::splat(p.f.b));
    let mut j = head;
    while j + V::N <= n {
        let src = V::load(&p.src[j..]);
        let v = if soft {
            output::<T, V, true>(src, a, b)
        } else {
            output::<T, V, false>(src, a, b)
        };
        put(v, &mut p.out[j..], p.stream);
        j += V::N;
    }
    write_plain::<T, V>(soft, &mut p, j, n);
}

/// Stores `v` (NaNs canonical) at the start of `s`, non-temporally if `stream`.
#[inline(always)]
fn put<T: Real, V: Lanes<T>>(v: V, s: &mut [T], stream: bool) {
    if stream {
        v.canon_nan().stream(s);
    } else {
        v.canon_nan().store(s);
    }
}

/// `p`'s output for elements `from..to`, with plain stores (heads and tails); `p` is not NaN.
#[inline(always)]
fn write_plain<T: Real, V: Lanes<T>>(soft: bool, p: &mut Job<'_, T>, from: usize, to: usize) {
    let to = to.min(p.out.len()).min(p.src.len());
    let (a, b) = (V::splat(p.f.a), V::splat(p.f.b));
    let mut j = from;
    while j < to {
        let len = V::N.min(to - j);
        let src = ld::<T, V>(p.src, j, len, T::ZERO);
        let v = if soft {
            output::<T, V, true>(src, a, b)
        } else {
            output::<T, V, false>(src, a, b)
        };
        st(v, p.out, j, len);
        j += len;
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
        for n in [16, 37, 1000, 4099] {
            for rows in [1, 2, 3, 8] {
                let x = input::<T>(rows, n, (n * rows) as u64);
                for kind in [Kind::Softmax, Kind::LogSoftmax] {
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
