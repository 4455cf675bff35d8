//! The vector abstraction the kernels are written against, once, for every instruction set.
//!
//! A [`Lanes<T>`] value holds a fixed number of logical lanes — 16 for `f32`, 8 for `f64` — on
//! every path: AVX-512 uses one register, AVX2 two, NEON four, the scalar path a plain array. Every
//! operation is an IEEE operation with one rounding (`mul_add` is a fused multiply-add everywhere),
//! and `exp`/`ln` perform the same operation sequence as the scalar reference in `math.rs`, so a
//! kernel written against this trait gives bitwise-identical results on every path. Reductions
//! across lanes are fixed trees, never the hardware's horizontal instructions.
//!
//! An [`Isa`] is a zero-sized proof that the CPU supports a path; kernels are generic over it and
//! instantiated inside a `#[target_feature]` entry point by `dispatch`, so every method here is
//! `#[inline(always)]` in the implementations.

use super::Path;
use std::cmp::Ordering::{Equal, Less};

/// The class capacity of a tile buffer ([`TILE_BUF`] elements, one row per lane): contiguous
/// rows with fewer classes may take the tile routes, below a bound that each kernel family sets
/// (`kernels::tiles::ShortRows`).
pub const SHORT_ROW: usize = 32;

/// Elements of a tile buffer: [`SHORT_ROW`] classes × 16 lanes, `buf[c * 16 + l]`.
pub const TILE_BUF: usize = 16 * SHORT_ROW;

/// The elements of a tile buffer that rows of `classes` use: whole blocks of 8 classes (the
/// register transposes move 8×8 or 4×4 blocks), 16 lanes each, at most [`TILE_BUF`].
#[must_use]
pub const fn tile_len(classes: usize) -> usize {
    let blocks = classes.div_ceil(8) * 8 * 16;
    if blocks < TILE_BUF {
        blocks
    } else {
        TILE_BUF
    }
}

/// The element-by-element copy of [`Lanes::gather_rows`], for rows `rows` (the portable path's,
/// and the transposes' for the rows past their last whole block). Slots past `buf` and rows past
/// `src` are skipped.
#[inline(always)]
pub(crate) fn gather_rest<T: Copy>(
    src: &[T],
    classes: usize,
    rows: std::ops::Range<usize>,
    buf: &mut [T],
) {
    for l in rows {
        let Some(row) = src.get(l * classes..(l + 1) * classes) else {
            return;
        };
        for (c, &v) in row.iter().enumerate() {
            if let Some(slot) = buf.get_mut(c * 16 + l) {
                *slot = v;
            }
        }
    }
}

/// The element-by-element copy back of rows `rows` ([`Lanes::scatter_rows`]'s portable form).
#[inline(always)]
pub(crate) fn scatter_rest<T: Copy>(
    buf: &[T],
    classes: usize,
    rows: std::ops::Range<usize>,
    dst: &mut [T],
) {
    for l in rows {
        let Some(row) = dst.get_mut(l * classes..(l + 1) * classes) else {
            return;
        };
        for (c, v) in row.iter_mut().enumerate() {
            if let Some(&b) = buf.get(c * 16 + l) {
                *v = b;
            }
        }
    }
}

/// A vector of `Self::N` lanes of `T` (16 for f32, 8 for f64).
pub trait Lanes<T: Copy>: Copy + Send + Sync {
    /// Logical lane count, the same on every path.
    const N: usize;

    /// Every lane set to `v`.
    fn splat(v: T) -> Self;
    /// Lanes from `s[..N]`; `s` must hold at least `N` elements.
    fn load(s: &[T]) -> Self;
    /// Lanes from `s` (fewer than `N` elements), the rest set to `fill`.
    fn load_partial(s: &[T], fill: T) -> Self;
    /// Writes the lanes to `s[..N]`; `s` must hold at least `N` elements.
    fn store(self, s: &mut [T]);
    /// Writes the first `s.len()` (fewer than `N`) lanes to `s`.
    fn store_partial(self, s: &mut [T]);
    /// Writes the lanes to `s[..N]` with a non-temporal store (no read-for-ownership, no cache
    /// pollution) when the path has one and `s` starts on a 64-byte boundary; a plain store
    /// otherwise. A kernel that streams calls [`Isa::stream_fence`] before it returns.
    #[inline(always)]
    fn stream(self, s: &mut [T]) {
        self.store(s);
    }

    /// Lane-wise `self + o`.
    #[must_use]
    fn add(self, o: Self) -> Self;
    /// Lane-wise `self - o`.
    #[must_use]
    fn sub(self, o: Self) -> Self;
    /// Lane-wise `self * o`.
    #[must_use]
    fn mul(self, o: Self) -> Self;
    /// Lane-wise `self / o`.
    #[must_use]
    fn div(self, o: Self) -> Self;
    /// Lane-wise `self * a + b` with a single rounding.
    #[must_use]
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Lane-wise maximum (which operand a NaN yields is path-specific; callers only rely on the
    /// result being NaN-tainted through later arithmetic).
    #[must_use]
    fn max(self, o: Self) -> Self;
    /// Lane-wise minimum (NaN as for [`Lanes::max`]).
    #[must_use]
    fn min(self, o: Self) -> Self;
    /// Lane-wise `|self|`.
    #[must_use]
    fn abs(self) -> Self;
    /// `a` in the lanes where `self >= 0`, else `b` (NaN selects `b`).
    #[must_use]
    fn select_nonneg(self, a: Self, b: Self) -> Self;
    /// 0 in the lanes where `coef == 0`, else `self` (so `0 * inf` terms can be dropped).
    #[must_use]
    fn zero_where_zero(self, coef: Self) -> Self;
    /// The canonical quiet NaN (`T::NAN`, sign bit clear) in the lanes that hold any NaN, else
    /// `self`. Which NaN an operation on NaNs yields depends on operand order (which the compiler
    /// may commute) and on the CPU (x86's default NaN is negative, ARM's positive), so every
    /// stored result goes through this to be the same bits on every path and machine.
    #[must_use]
    fn canon_nan(self) -> Self;
    /// Lane-wise `e^self`, bitwise equal to `math::exp_f32`/`exp_f64`.
    #[must_use]
    fn exp(self) -> Self;
    /// [`Lanes::exp`] for lanes known to be NaN or in `[EXP_IN_RANGE_LO, 0]` (`math`'s
    /// `EXP_IN_RANGE_LO_F32`/`_F64`), where it gives the same bits with fewer operations (no
    /// clamp; one scaling product). Other lanes get unspecified values. The scalar path keeps
    /// the full `exp`.
    #[inline(always)]
    #[must_use]
    fn exp_in_range(self) -> Self {
        self.exp()
    }
    /// Lane-wise `self * a`, bitwise equal to [`Lanes::mul`] for every input. `below` is a
    /// hint: lanes with `0 < self < below` are formed without a subnormal operand or result,
    /// each of which costs a microcode assist on x86 (`math`'s header, "Products of tiny values
    /// on x86"). Kernels scaling a row's exps pass `kernels::rowops::Factor`'s bound. Paths
    /// whose CPUs handle subnormals in hardware take `mul` itself.
    #[inline(always)]
    #[must_use]
    fn mul_tiny(self, a: Self, below: Self) -> Self {
        let _ = below;
        self.mul(a)
    }
    /// Lane-wise `self * o`, bitwise equal to [`Lanes::mul`], without a microcode assist where
    /// an operand or the product is subnormal, on paths that can: x86 float32 forms the product
    /// in float64 and rounds it once by the conversion (`simd/avx512/tiny.rs`). It costs several
    /// plain products, so kernels take it only for vectors that [`Lanes::assist_free_pays`]
    /// flags. Elsewhere (float64, and CPUs that handle subnormals in hardware) it is `mul`.
    #[inline(always)]
    #[must_use]
    fn mul_assist_free(self, o: Self) -> Self {
        self.mul(o)
    }
    /// Lane-wise `self / o`, bitwise equal to [`Lanes::div`]; assist-free as
    /// [`Lanes::mul_assist_free`].
    #[inline(always)]
    #[must_use]
    fn div_assist_free(self, o: Self) -> Self {
        self.div(o)
    }
    /// [`Lanes::mul`], or with `ASSIST_FREE` [`Lanes::mul_assist_free`]: the same bits.
    #[inline(always)]
    #[must_use]
    fn mul_if<const ASSIST_FREE: bool>(self, o: Self) -> Self {
        if ASSIST_FREE {
            self.mul_assist_free(o)
        } else {
            self.mul(o)
        }
    }
    /// [`Lanes::div`], or with `ASSIST_FREE` [`Lanes::div_assist_free`]: the same bits.
    #[inline(always)]
    #[must_use]
    fn div_if<const ASSIST_FREE: bool>(self, o: Self) -> Self {
        if ASSIST_FREE {
            self.div_assist_free(o)
        } else {
            self.div(o)
        }
    }
    /// True when some lane lies in the open interval `(lo, hi)` and this path's
    /// [`Lanes::mul_assist_free`] and [`Lanes::div_assist_free`] differ from `mul` and `div`:
    /// a kernel whose subnormal operands or results come from such lanes then takes them for
    /// the vector. Always false on the other paths.
    #[inline(always)]
    #[must_use]
    fn assist_free_pays(self, lo: Self, hi: Self) -> bool {
        let _ = (lo, hi);
        false
    }
    /// For `self` the lane-wise minimum of a block of values about to be multiplied through
    /// [`Lanes::mul_tiny`] with the hint `below`: true when some lane is below `below` and this
    /// path's `mul_tiny` differs from `mul` (x86), so that the block must take `mul_tiny`.
    /// When false, `mul` gives the same bits without `mul_tiny`'s test per vector. Always false
    /// on the other paths. (A NaN lane does not count: its product is NaN either way.)
    #[inline(always)]
    #[must_use]
    fn mul_tiny_pays(self, below: Self) -> bool {
        let _ = below;
        false
    }
    /// Lane-wise natural log, bitwise equal to `math::ln_f32`/`ln_f64`.
    #[must_use]
    fn ln(self) -> Self;
    /// [`Self::ln`] for finite non-negative lanes (zeros and subnormals included), with the same
    /// bits there; a lane that is +inf, negative or NaN gets an unspecified value, so only a
    /// caller that discards those lanes, or whose result is NaN there anyway, uses it (binary
    /// cross-entropy's range-checked logs, `kernels::pointwise::ln_1p`). Paths without a cheaper
    /// version take `ln` itself.
    #[must_use]
    #[inline(always)]
    fn ln_finite(self) -> Self {
        self.ln()
    }

    /// [`Lanes::ln`] for lanes that are finite and at least `MIN_POSITIVE`: the same bits there,
    /// without [`Lanes::ln_finite`]'s handling of subnormal and zero lanes either (other lanes,
    /// NaN included, get unspecified values). For `ln(1 + e)` in the BCE-with-logits loss, where
    /// `1 + e` is in `[1, 2]` or NaN (and a NaN then comes through `ln_1p`'s correction). Paths
    /// without a cheaper version take [`Lanes::ln_finite`].
    #[must_use]
    #[inline(always)]
    fn ln_normal(self) -> Self {
        self.ln_finite()
    }

    /// Copies the first `rows` (at most 16) contiguous rows of `classes` elements (below
    /// [`SHORT_ROW`]) of `src` into `buf` class-major: row `l`, class `c` to `buf[c * 16 + l]`;
    /// `buf` holds [`tile_len`]`(classes)` elements. `src` may run on past the rows
    /// (register-transpose paths may read, never use, it); slots of classes past the last may be
    /// overwritten. Paths with register transposes override this element-by-element copy (same
    /// bits where it matters: data only moves).
    #[inline(always)]
    fn gather_rows(src: &[T], rows: usize, classes: usize, buf: &mut [T]) {
        gather_rest(src, classes, 0..rows.min(16), buf);
    }
    /// The inverse of [`Lanes::gather_rows`]: `buf[c * 16 + l]` to row `l`, class `c` of the
    /// first `rows` rows of `dst`; nothing else in `dst` is written.
    #[inline(always)]
    fn scatter_rows(buf: &[T], rows: usize, classes: usize, dst: &mut [T]) {
        scatter_rest(buf, classes, 0..rows.min(16), dst);
    }

    /// Asks for the cache line holding `s[i]` to be fetched ahead of its use (a hint: nothing
    /// where the path has no prefetch, or when `i` is past `s`).
    #[inline(always)]
    fn prefetch(s: &[T], i: usize) {
        let _ = (s, i);
    }

    /// The largest lane (a fixed tree of `max`).
    fn reduce_max(self) -> T;
    /// Adds lane `i` to `acc[i]`, widened to `f64`.
    fn add_to(self, acc: &mut [f64; 16]);
    /// True when some lane is outside `[0, 1]` or NaN.
    fn any_outside_unit(self) -> bool;
    /// True when some lane is above the same lane of `bound`, or NaN. The x86 paths compare
    /// whole registers; the default (the portable path's, which the path tests compare them
    /// with) stores the lanes and compares them one by one.
    #[inline(always)]
    #[must_use]
    fn any_above(self, bound: Self) -> bool
    where
        T: PartialOrd + Default,
    {
        let (mut v, mut b) = ([T::default(); 16], [T::default(); 16]);
        self.store(&mut v);
        bound.store(&mut b);
        v.iter()
            .zip(&b)
            .take(Self::N)
            .any(|(v, b)| !matches!(v.partial_cmp(b), Some(Less | Equal)))
    }
    /// True when every lane is 0 (of either sign) or 1: hard binary labels.
    fn all_zero_or_one(self) -> bool;
}

/// An instruction set the kernels can run on; a value proves the CPU supports it.
pub trait Isa: Copy + Send + Sync + 'static {
    /// Which path this is.
    const PATH: Path;
    /// 16 lanes of f32.
    type F32: Lanes<f32>;
    /// 8 lanes of f64.
    type F64: Lanes<f64>;

    /// Orders every earlier [`Lanes::stream`] store before any later store (`sfence` on x86;
    /// nothing where `stream` is a plain store), so another thread that is told the work is
    /// done sees the streamed data.
    #[inline(always)]
    fn stream_fence(self) {}

    /// Asks for the cache lines of `s[span]` to be fetched ahead of their use (a hint: nothing
    /// where the path has no prefetch; positions past `s` are skipped).
    #[inline(always)]
    fn prefetch<T>(self, s: &[T], span: std::ops::Range<usize>) {
        let _ = (s, span);
    }
}
