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
use crate::simd::Lanes;

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

/// A factor applied to values that may be tiny (a row's exps times `1 / sum`), with
/// [`Lanes::mul_tiny`]'s hint: the products have `mul`'s bits, without a microcode assist per
/// subnormal operand or product on x86. Made with the row's extent (its smallest logit against
/// its max): when no product can be subnormal, it takes `mul` and skips the per-vector test.
#[derive(Clone, Copy)]
pub struct Factor<V> {
    a: V,
    below: V,
    tiny: bool,
}

impl<V: Copy> Factor<V> {
    /// `a` in every lane, for values `v` with `ln(v) >= least` (the exps of `x - m` for
    /// `x >= lo`: `least = lo - m`).
    #[inline(always)]
    pub fn splat<T: Real>(a: T, least: T) -> Self
    where
        V: Lanes<T>,
    {
        let tiny = may_be_tiny(least, a);
        Factor {
            a: V::splat(a),
            below: V::splat(if tiny { a.tiny_below() } else { T::ZERO }),
            tiny,
        }
    }

    /// `a[l]` in lane `l`, for the exps of `x - m[l]` with `x >= lo[l]` (a tile: one row per
    /// lane), gated as [`may_be_tiny`] with the lanes' verdicts combined.
    #[inline(always)]
    pub fn lanes<T: Real>(a: &[T; 16], lo: V, m: V) -> Self
    where
        V: Lanes<T>,
    {
        let a = from_array::<T, V>(a);
        let (least_min, a_min) = tiny_gate::<T>();
        // Negative in a lane that may be tiny. (A NaN lane may pass: its row is NaN anyway.)
        let margin = lo
            .sub(m)
            .sub(V::splat(least_min))
            .min(a.sub(V::splat(a_min)));
        let tiny = margin.min(V::splat(T::ONE)).any_outside_unit();
        let min = V::splat(T::MIN_POSITIVE);
        Factor {
            a,
            below: if tiny {
                min.div(a.abs()).max(min).min(V::splat(T::TINY_E_MAX))
            } else {
                min
            },
            tiny,
        }
    }

    /// A factor whose products never take the tiny route, or a value that is never multiplied
    /// (log_softmax's `ln(sum)` where softmax has its factor).
    #[inline(always)]
    pub fn plain<T: Real>(a: V) -> Self
    where
        V: Lanes<T>,
    {
        Factor {
            a,
            below: V::splat(T::ZERO),
            tiny: false,
        }
    }

    /// The factor itself.
    #[inline(always)]
    pub fn value(self) -> V {
        self.a
    }

    /// `v` times the factor, lane-wise.
    #[inline(always)]
    pub fn of<T: Real>(self, v: V) -> V
    where
        V: Lanes<T>,
    {
        if self.tiny {
            v.mul_tiny(self.a, self.below)
        } else {
            v.mul(self.a)
        }
    }
}

/// Whether a value `v` with `ln(v) >= least` may have a subnormal product with the factor `a`,
/// or be subnormal: false when `least >= -60` and `a >= 2^-30` (float64: -600 and `2^-100`),
/// where `v a > 2^-117` (`2^-966`). Two compares: a bound read from `a`'s exponent bits made
/// a softmax of rows of 17 classes 1.3x slower. Only speed depends on it.
#[inline(always)]
pub fn may_be_tiny<T: Real>(least: T, a: T) -> bool {
    let (least_min, a_min) = tiny_gate::<T>();
    !(least >= least_min && a >= a_min)
}

/// [`may_be_tiny`]'s bounds on `least` and `a`.
#[inline(always)]
fn tiny_gate<T: Real>() -> (T, T) {
    if T::MIN_POSITIVE.to_f64() > 1e-300 {
        (T::from_f64(-60.0), T::from_f64(2f64.powi(-30)))
    } else {
        (T::from_f64(-600.0), T::from_f64(2f64.powi(-100)))
    }
}

/// `out[i] *= f` with [`st_raw`] stores: for a row known to hold no NaN.
#[inline(always)]
pub fn scale_raw<T: Real, V: Lanes<T>>(out: &mut [T], f: Factor<V>) {
    let n = out.len();
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        let v = f.of(ld::<T, V>(out, i, len, T::ZERO));
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
pub fn reduce_min<T: Real, V: Lanes<T>>(v: V) -> T {
    -v.mul(V::splat(-T::ONE)).reduce_max()
}

/// How far ahead of its reads [`exp_sum_ahead`] prefetches the next row. The next row streams
/// from memory while this row's exps compute; the hardware prefetcher alone left it 20% slower
/// than from L2 on an AMD EPYC (Zen 4; one cache line prefetched per vector: 1 KiB ahead gained
/// two thirds as much, 2-8 KiB the same).
pub const NEXT_ROW_LEAD_BYTES: usize = 2048;

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
    exp_sum_ahead_along::<T, V, _>(x, m, x_extent, next, e, &mut Nothing)
}

/// Work done in the loop of [`exp_sum_ahead_along`], once per vector: `at(i)` for the vector of
/// elements `i..i + N` (a trait, not a callback, for the entry point's target features).
pub trait Alongside<T: Real> {
    /// The work of vector `i`.
    fn at<V: Lanes<T>>(&mut self, i: usize);
}

/// No work alongside.
pub struct Nothing;

impl<T: Real> Alongside<T> for Nothing {
    #[inline(always)]
    fn at<V: Lanes<T>>(&mut self, _: usize) {}
}

/// [`exp_sum_ahead`] with `along`'s work done in the same loop (the streamed softmax route writes
/// the previous row's output there).
#[inline(always)]
pub fn exp_sum_ahead_along<T: Real, V: Lanes<T>, A: Alongside<T>>(
    x: &[T],
    m: T,
    x_extent: Extent<T>,
    next: &[T],
    e: &mut [T],
    along: &mut A,
) -> (f64, Extent<T>) {
    if x_extent.exps_in_range(m) {
        exp_sum_ahead_with::<T, V, A, true>(x, m, next, e, along)
    } else {
        exp_sum_ahead_with::<T, V, A, false>(x, m, next, e, along)
    }
}

/// [`exp_sum_ahead`] with the choice of `exp` made (a const parameter, so that the loop has no
/// test of it). Partial vectors hold `-inf` fill and always take the full `exp`.
#[inline(always)]
fn exp_sum_ahead_with<T: Real, V: Lanes<T>, A: Alongside<T>, const IN_RANGE: bool>(
    x: &[T],
    m: T,
    next: &[T],
    e: &mut [T],
    along: &mut A,
) -> (f64, Extent<T>) {
    let n = x.len();
    let mv = V::splat(m);
    let mut totals = [0.0f64; 16];
    let (mut next_max, mut next_min) = (V::splat(T::NEG_INFINITY), V::splat(T::INFINITY));
    let ahead = next.len() == n;
    let store = !e.is_empty();
    let lead = NEXT_ROW_LEAD_BYTES / std::mem::size_of::<T>();
    let mut i = 0;
    while i < n {
        let len = V::N.min(n - i);
        if ahead {
            V::prefetch(next, i + lead);
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
        along.at::<V>(i);
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
