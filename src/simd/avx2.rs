//! The AVX2 + FMA path: 16×f32 as two `__m256`, 8×f64 as two `__m256d` (x86-64 only).
//!
//! Every method reproduces [`Portable`](super::Portable) bit for bit: `max`/`min` are
//! `maxps`/`minps` (the first operand when it is greater/less, else the second — exactly the
//! portable `if a > b { a } else { b }`), `reduce_max` follows the same halving tree (lanes
//! `i`/`i+8`, then `i+4`, `i+2`, `i+1`), `exp`/`ln` are the lane-wise transcriptions of `math.rs`
//! in `avx2/expln.rs`. Partial loads and stores use `vmaskmov`, which touches only the selected
//! elements, so they never read or write outside the slice.
//!
//! # Safety
//! The methods call AVX2/FMA intrinsics in `unsafe` blocks. An [`Avx2`] value can only be made
//! by [`Avx2::new`], whose caller (`dispatch_on`) has detected avx2 and fma at run time, and the
//! vector types are reachable only through `Avx2` (this module is private to `simd`), so these
//! methods only ever execute on a CPU with those features. They are `#[inline(always)]` so that
//! the intrinsics are compiled inside the `#[target_feature(enable = "avx2,fma")]` entry point.

mod expln;
mod tiny;
pub(super) mod transpose;

use super::lanes::{Isa, Lanes};
use super::Path;
use expln::{exp4d, exp8, ln4d, ln8};
use std::arch::x86_64::{
    __m256, __m256d, __m256i, _mm256_add_pd, _mm256_add_ps, _mm256_and_pd, _mm256_and_ps,
    _mm256_andnot_pd, _mm256_andnot_ps, _mm256_blendv_pd, _mm256_blendv_ps, _mm256_castpd256_pd128,
    _mm256_castps256_ps128, _mm256_castsi256_pd, _mm256_castsi256_ps, _mm256_cmp_pd, _mm256_cmp_ps,
    _mm256_cmpgt_epi32, _mm256_cmpgt_epi64, _mm256_cvtps_pd, _mm256_div_pd, _mm256_div_ps,
    _mm256_extractf128_pd, _mm256_extractf128_ps, _mm256_fmadd_pd, _mm256_fmadd_ps,
    _mm256_loadu_pd, _mm256_loadu_ps, _mm256_maskload_pd, _mm256_maskload_ps, _mm256_maskstore_pd,
    _mm256_maskstore_ps, _mm256_max_pd, _mm256_max_ps, _mm256_min_pd, _mm256_min_ps,
    _mm256_movemask_pd, _mm256_movemask_ps, _mm256_mul_pd, _mm256_mul_ps, _mm256_or_pd,
    _mm256_or_ps, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_set1_pd, _mm256_set1_ps,
    _mm256_setr_epi32, _mm256_setr_epi64x, _mm256_setzero_pd, _mm256_setzero_ps, _mm256_storeu_pd,
    _mm256_storeu_ps, _mm256_stream_pd, _mm256_stream_ps, _mm256_sub_pd, _mm256_sub_ps,
    _mm_cvtsd_f64, _mm_cvtss_f32, _mm_max_pd, _mm_max_ps, _mm_max_sd, _mm_max_ss, _mm_movehdup_ps,
    _mm_movehl_ps, _mm_prefetch, _mm_sfence, _mm_unpackhi_pd, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_LT_OQ,
    _CMP_NGE_UQ, _CMP_NLE_UQ, _CMP_UNORD_Q, _MM_HINT_T0,
};
use tiny::{any_between8, div_wide8, mul_tiny4d, mul_tiny8, mul_wide8};

/// Proof that the CPU supports AVX2 and FMA (zero-sized; made only by `dispatch_on`).
#[derive(Clone, Copy, Debug)]
pub struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU must support `avx2` and `fma` (checked at run time by the caller).
    #[inline(always)]
    pub(super) unsafe fn new() -> Self {
        Avx2(())
    }
}

impl Isa for Avx2 {
    const PATH: Path = Path::Avx2;
    type F32 = F32x16;
    type F64 = F64x8;

    #[inline(always)]
    fn stream_fence(self) {
        // SAFETY: SSE is part of x86-64.
        unsafe { _mm_sfence() }
    }

    #[inline(always)]
    fn prefetch<T>(self, s: &[T], span: std::ops::Range<usize>) {
        prefetch_lines(s, span);
    }
}

/// `prefetcht0` for each 64-byte line of `s[span]` (clipped to `s`).
#[inline(always)]
pub(super) fn prefetch_lines<T>(s: &[T], span: std::ops::Range<usize>) {
    // Elements per line (at least 1, whatever the element size).
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    let end = span.end.min(s.len());
    let mut i = span.start;
    while i < end {
        // SAFETY: SSE is part of x86-64; `i < s.len()`, so the address lies in `s` (a prefetch
        // reads nothing architecturally either way).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(s.as_ptr().add(i).cast::<i8>()) };
        i += step;
    }
}

/// 16 f32 lanes: lanes 0–7 in the first register, 8–15 in the second.
#[derive(Clone, Copy, Debug)]
pub struct F32x16([__m256; 2]);

/// 8 f64 lanes: lanes 0–3 in the first register, 4–7 in the second.
#[derive(Clone, Copy, Debug)]
pub struct F64x8([__m256d; 2]);

/// The `vmaskmov` masks selecting the first `k` (<= 16) of 16 f32 lanes, per register.
#[inline(always)]
fn mask_f32(k: usize) -> [__m256i; 2] {
    // SAFETY: AVX2 is available (module docs).
    unsafe {
        let k = _mm256_set1_epi32(k as i32);
        [
            _mm256_cmpgt_epi32(k, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
            _mm256_cmpgt_epi32(k, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15)),
        ]
    }
}

/// The `vmaskmov` masks selecting the first `k` (<= 8) of 8 f64 lanes, per register.
#[inline(always)]
fn mask_f64(k: usize) -> [__m256i; 2] {
    // SAFETY: AVX2 is available (module docs).
    unsafe {
        let k = _mm256_set1_epi64x(k as i64);
        [
            _mm256_cmpgt_epi64(k, _mm256_setr_epi64x(0, 1, 2, 3)),
            _mm256_cmpgt_epi64(k, _mm256_setr_epi64x(4, 5, 6, 7)),
        ]
    }
}

/// Implements the lane-wise methods shared by both element types: `$op` applied to each
/// register (the `$t`/`$v` arguments pick the `_ps` or `_pd` intrinsics).
macro_rules! lanewise {
    ($t:ty, $v:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $fma:ident, $max:ident,
     $min:ident, $andnot:ident, $cmp:ident, $blend:ident, $set1:ident, $zero:ident,
     $exp:ident, $ln:ident, $tiny:ident) => {
        #[inline(always)]
        fn splat(v: $t) -> Self {
            // SAFETY: AVX is available (module docs).
            let r = unsafe { $set1(v) };
            $v([r, r])
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: AVX is available (module docs).
            unsafe { $v([$add(self.0[0], o.0[0]), $add(self.0[1], o.0[1])]) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: AVX is available (module docs).
            unsafe { $v([$sub(self.0[0], o.0[0]), $sub(self.0[1], o.0[1])]) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            // SAFETY: AVX is available (module docs).
            unsafe { $v([$mul(self.0[0], o.0[0]), $mul(self.0[1], o.0[1])]) }
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            // SAFETY: AVX is available (module docs).
            unsafe { $v([$div(self.0[0], o.0[0]), $div(self.0[1], o.0[1])]) }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: FMA is available (module docs).
            unsafe {
                $v([
                    $fma(self.0[0], a.0[0], b.0[0]),
                    $fma(self.0[1], a.0[1], b.0[1]),
                ])
            }
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // SAFETY: AVX is available (module docs). `self` is the first operand, as in maxps.
            unsafe { $v([$max(self.0[0], o.0[0]), $max(self.0[1], o.0[1])]) }
        }
        #[inline(always)]
        fn min(self, o: Self) -> Self {
            // SAFETY: AVX is available (module docs). `self` is the first operand, as in minps.
            unsafe { $v([$min(self.0[0], o.0[0]), $min(self.0[1], o.0[1])]) }
        }
        #[inline(always)]
        fn abs(self) -> Self {
            // SAFETY: AVX is available (module docs). Clears the sign bit only, like `abs`.
            unsafe {
                let sign = $set1(-0.0);
                $v([$andnot(sign, self.0[0]), $andnot(sign, self.0[1])])
            }
        }
        #[inline(always)]
        fn select_nonneg(self, a: Self, b: Self) -> Self {
            // SAFETY: AVX is available (module docs). GE_OQ is false for NaN, so NaN selects `b`.
            unsafe {
                let z = $zero();
                let m0 = $cmp::<_CMP_GE_OQ>(self.0[0], z);
                let m1 = $cmp::<_CMP_GE_OQ>(self.0[1], z);
                $v([$blend(b.0[0], a.0[0], m0), $blend(b.0[1], a.0[1], m1)])
            }
        }
        #[inline(always)]
        fn canon_nan(self) -> Self {
            // SAFETY: AVX is available (module docs). UNORD_Q of a lane with itself is true
            // exactly for NaN.
            unsafe {
                let nan = $set1(<$t>::NAN);
                let m0 = $cmp::<_CMP_UNORD_Q>(self.0[0], self.0[0]);
                let m1 = $cmp::<_CMP_UNORD_Q>(self.0[1], self.0[1]);
                $v([$blend(self.0[0], nan, m0), $blend(self.0[1], nan, m1)])
            }
        }
        #[inline(always)]
        fn zero_where_zero(self, coef: Self) -> Self {
            // SAFETY: AVX is available (module docs). The result is +0, as in the portable path.
            unsafe {
                let z = $zero();
                let m0 = $cmp::<_CMP_EQ_OQ>(coef.0[0], z);
                let m1 = $cmp::<_CMP_EQ_OQ>(coef.0[1], z);
                $v([$blend(self.0[0], z, m0), $blend(self.0[1], z, m1)])
            }
        }
        #[inline(always)]
        fn exp(self) -> Self {
            // SAFETY: AVX2 and FMA are available (module docs).
            unsafe { $v([$exp::<false>(self.0[0]), $exp::<false>(self.0[1])]) }
        }
        #[inline(always)]
        fn mul_tiny(self, a: Self, below: Self) -> Self {
            // SAFETY: AVX2 and FMA are available (module docs).
            unsafe {
                $v([
                    $tiny(self.0[0], a.0[0], below.0[0]),
                    $tiny(self.0[1], a.0[1], below.0[1]),
                ])
            }
        }
        #[inline(always)]
        fn exp_in_range(self) -> Self {
            // SAFETY: AVX2 and FMA are available (module docs).
            unsafe { $v([$exp::<true>(self.0[0]), $exp::<true>(self.0[1])]) }
        }
        #[inline(always)]
        fn ln(self) -> Self {
            // SAFETY: AVX2 and FMA are available (module docs).
            unsafe { $v([$ln::<true, false>(self.0[0]), $ln::<true, false>(self.0[1])]) }
        }
        #[inline(always)]
        fn ln_finite(self) -> Self {
            // SAFETY: AVX2 and FMA are available (module docs).
            unsafe {
                $v([
                    $ln::<false, false>(self.0[0]),
                    $ln::<false, false>(self.0[1]),
                ])
            }
        }
        #[inline(always)]
        fn ln_normal(self) -> Self {
            // SAFETY: AVX2 and FMA are available (module docs).
            unsafe { $v([$ln::<false, true>(self.0[0]), $ln::<false, true>(self.0[1])]) }
        }
    };
}

impl Lanes<f32> for F32x16 {
    const N: usize = 16;

    #[inline(always)]
    fn prefetch(s: &[f32], i: usize) {
        prefetch_lines(s, i..i.saturating_add(1));
    }

    #[inline(always)]
    fn gather_rows(src: &[f32], rows: usize, classes: usize, buf: &mut [f32]) {
        // SAFETY: AVX2 is available (module docs).
        unsafe { transpose::gather_f32(src, rows, classes, buf) }
    }
    #[inline(always)]
    fn scatter_rows(buf: &[f32], rows: usize, classes: usize, dst: &mut [f32]) {
        // SAFETY: AVX2 is available (module docs).
        unsafe { transpose::scatter_f32(buf, rows, classes, dst) }
    }

    lanewise!(
        f32,
        F32x16,
        _mm256_add_ps,
        _mm256_sub_ps,
        _mm256_mul_ps,
        _mm256_div_ps,
        _mm256_fmadd_ps,
        _mm256_max_ps,
        _mm256_min_ps,
        _mm256_andnot_ps,
        _mm256_cmp_ps,
        _mm256_blendv_ps,
        _mm256_set1_ps,
        _mm256_setzero_ps,
        exp8,
        ln8,
        mul_tiny8
    );

    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        let s = &s[..16];
        // SAFETY: AVX is available (module docs); `s` holds 16 readable f32 and loadu is unaligned.
        unsafe {
            F32x16([
                _mm256_loadu_ps(s.as_ptr()),
                _mm256_loadu_ps(s.as_ptr().add(8)),
            ])
        }
    }
    #[inline(always)]
    fn load_partial(s: &[f32], fill: f32) -> Self {
        let k = s.len().min(16);
        let [m0, m1] = mask_f32(k);
        // SAFETY: AVX is available (module docs). vmaskmov reads only the lanes whose mask is
        // set, i.e. the first `k <= s.len()` elements; the second pointer is only formed (and
        // in bounds) when `k > 8`.
        unsafe {
            let f = _mm256_set1_ps(fill);
            let p = s.as_ptr();
            let lo = _mm256_maskload_ps(p, m0);
            let hi = if k > 8 {
                _mm256_maskload_ps(p.add(8), m1)
            } else {
                f
            };
            F32x16([
                _mm256_blendv_ps(f, lo, _mm256_castsi256_ps(m0)),
                _mm256_blendv_ps(f, hi, _mm256_castsi256_ps(m1)),
            ])
        }
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        let s = &mut s[..16];
        // SAFETY: AVX is available (module docs); `s` holds 16 writable f32.
        unsafe {
            _mm256_storeu_ps(s.as_mut_ptr(), self.0[0]);
            _mm256_storeu_ps(s.as_mut_ptr().add(8), self.0[1]);
        }
    }
    #[inline(always)]
    fn stream(self, s: &mut [f32]) {
        let s = &mut s[..16];
        if s.as_ptr().align_offset(32) != 0 {
            return self.store(s);
        }
        // SAFETY: AVX is available (module docs); `s` holds 16 writable f32 and starts on a
        // 32-byte boundary, as vmovntps requires of both halves.
        unsafe {
            _mm256_stream_ps(s.as_mut_ptr(), self.0[0]);
            _mm256_stream_ps(s.as_mut_ptr().add(8), self.0[1]);
        }
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32]) {
        let k = s.len().min(16);
        let [m0, m1] = mask_f32(k);
        // SAFETY: AVX is available (module docs). vmaskmov writes only the first `k <= s.len()`
        // elements; the second pointer is only formed (and in bounds) when `k > 8`.
        unsafe {
            let p = s.as_mut_ptr();
            _mm256_maskstore_ps(p, m0, self.0[0]);
            if k > 8 {
                _mm256_maskstore_ps(p.add(8), m1, self.0[1]);
            }
        }
    }
    #[inline(always)]
    fn mul_assist_free(self, o: Self) -> Self {
        let ([a0, a1], [b0, b1]) = (self.0, o.0);
        // SAFETY: AVX2 and FMA are available (module docs).
        unsafe { F32x16([mul_wide8(a0, b0), mul_wide8(a1, b1)]) }
    }
    #[inline(always)]
    fn div_assist_free(self, o: Self) -> Self {
        let ([a0, a1], [b0, b1]) = (self.0, o.0);
        // SAFETY: AVX2 and FMA are available (module docs).
        unsafe { F32x16([div_wide8(a0, b0), div_wide8(a1, b1)]) }
    }
    #[inline(always)]
    fn assist_free_pays(self, lo: Self, hi: Self) -> bool {
        let ([v0, v1], [l0, l1], [h0, h1]) = (self.0, lo.0, hi.0);
        // SAFETY: AVX2 and FMA are available (module docs).
        unsafe { any_between8(v0, l0, h0) | any_between8(v1, l1, h1) }
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        // SAFETY: AVX is available (module docs). The portable tree: lanes i/i+8 (the two
        // registers), i/i+4 (the 128-bit halves), i/i+2, then 0/1; the first operand of each
        // max is the lower lane, as in the portable `if v[i] > v[i + half]`.
        unsafe {
            let m = _mm256_max_ps(self.0[0], self.0[1]);
            let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
        }
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64; 16]) {
        let p = acc.as_mut_ptr();
        // SAFETY: AVX is available (module docs); offsets 0, 4, 8, 12 plus 4 lanes stay within
        // the 16 elements of `acc`.
        unsafe {
            for (h, &r) in self.0.iter().enumerate() {
                let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(r));
                let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(r));
                let (pl, ph) = (p.add(8 * h), p.add(8 * h + 4));
                _mm256_storeu_pd(pl, _mm256_add_pd(_mm256_loadu_pd(pl), lo));
                _mm256_storeu_pd(ph, _mm256_add_pd(_mm256_loadu_pd(ph), hi));
            }
        }
    }
    #[inline(always)]
    fn mul_tiny_pays(self, below: Self) -> bool {
        let ([v0, v1], [b0, b1]) = (self.0, below.0);
        // SAFETY: AVX is available (module docs).
        unsafe {
            let lt = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(v0, b0),
                _mm256_cmp_ps::<_CMP_LT_OQ>(v1, b1),
            );
            _mm256_movemask_ps(lt) != 0
        }
    }
    #[inline(always)]
    fn any_above(self, bound: Self) -> bool {
        let ([v0, v1], [b0, b1]) = (self.0, bound.0);
        // SAFETY: AVX is available (module docs). NLE_UQ is true for NaN.
        unsafe {
            let above = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_NLE_UQ>(v0, b0),
                _mm256_cmp_ps::<_CMP_NLE_UQ>(v1, b1),
            );
            _mm256_movemask_ps(above) != 0
        }
    }
    #[inline(always)]
    fn any_outside_unit(self) -> bool {
        // SAFETY: AVX is available (module docs). NGE/NLE_UQ are true for NaN.
        unsafe {
            let (z, one) = (_mm256_setzero_ps(), _mm256_set1_ps(1.0));
            let [r0, r1] = self.0;
            let below = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_NGE_UQ>(r0, z),
                _mm256_cmp_ps::<_CMP_NGE_UQ>(r1, z),
            );
            let above = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_NLE_UQ>(r0, one),
                _mm256_cmp_ps::<_CMP_NLE_UQ>(r1, one),
            );
            _mm256_movemask_ps(_mm256_or_ps(below, above)) != 0
        }
    }
    #[inline(always)]
    fn all_zero_or_one(self) -> bool {
        // SAFETY: AVX is available (module docs).
        unsafe {
            let (z, one) = (_mm256_setzero_ps(), _mm256_set1_ps(1.0));
            let binary = |r| {
                _mm256_or_ps(
                    _mm256_cmp_ps::<_CMP_EQ_OQ>(r, z),
                    _mm256_cmp_ps::<_CMP_EQ_OQ>(r, one),
                )
            };
            let [r0, r1] = self.0;
            _mm256_movemask_ps(_mm256_and_ps(binary(r0), binary(r1))) == 0xff
        }
    }
}

impl Lanes<f64> for F64x8 {
    const N: usize = 8;

    #[inline(always)]
    fn prefetch(s: &[f64], i: usize) {
        prefetch_lines(s, i..i.saturating_add(1));
    }

    #[inline(always)]
    fn gather_rows(src: &[f64], rows: usize, classes: usize, buf: &mut [f64]) {
        // SAFETY: AVX2 is available (module docs).
        unsafe { transpose::gather_f64(src, rows, classes, buf) }
    }
    #[inline(always)]
    fn scatter_rows(buf: &[f64], rows: usize, classes: usize, dst: &mut [f64]) {
        // SAFETY: AVX2 is available (module docs).
        unsafe { transpose::scatter_f64(buf, rows, classes, dst) }
    }

    lanewise!(
        f64,
        F64x8,
        _mm256_add_pd,
        _mm256_sub_pd,
        _mm256_mul_pd,
        _mm256_div_pd,
        _mm256_fmadd_pd,
        _mm256_max_pd,
        _mm256_min_pd,
        _mm256_andnot_pd,
        _mm256_cmp_pd,
        _mm256_blendv_pd,
        _mm256_set1_pd,
        _mm256_setzero_pd,
        exp4d,
        ln4d,
        mul_tiny4d
    );

    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        let s = &s[..8];
        // SAFETY: AVX is available (module docs); `s` holds 8 readable f64 and loadu is unaligned.
        unsafe {
            F64x8([
                _mm256_loadu_pd(s.as_ptr()),
                _mm256_loadu_pd(s.as_ptr().add(4)),
            ])
        }
    }
    #[inline(always)]
    fn load_partial(s: &[f64], fill: f64) -> Self {
        let k = s.len().min(8);
        let [m0, m1] = mask_f64(k);
        // SAFETY: as for f32: only the first `k <= s.len()` elements are read, and the second
        // pointer is only formed (and in bounds) when `k > 4`.
        unsafe {
            let f = _mm256_set1_pd(fill);
            let p = s.as_ptr();
            let lo = _mm256_maskload_pd(p, m0);
            let hi = if k > 4 {
                _mm256_maskload_pd(p.add(4), m1)
            } else {
                f
            };
            F64x8([
                _mm256_blendv_pd(f, lo, _mm256_castsi256_pd(m0)),
                _mm256_blendv_pd(f, hi, _mm256_castsi256_pd(m1)),
            ])
        }
    }
    #[inline(always)]
    fn store(self, s: &mut [f64]) {
        let s = &mut s[..8];
        // SAFETY: AVX is available (module docs); `s` holds 8 writable f64.
        unsafe {
            _mm256_storeu_pd(s.as_mut_ptr(), self.0[0]);
            _mm256_storeu_pd(s.as_mut_ptr().add(4), self.0[1]);
        }
    }
    #[inline(always)]
    fn stream(self, s: &mut [f64]) {
        let s = &mut s[..8];
        if s.as_ptr().align_offset(32) != 0 {
            return self.store(s);
        }
        // SAFETY: AVX is available (module docs); `s` holds 8 writable f64 and starts on a
        // 32-byte boundary, as vmovntpd requires of both halves.
        unsafe {
            _mm256_stream_pd(s.as_mut_ptr(), self.0[0]);
            _mm256_stream_pd(s.as_mut_ptr().add(4), self.0[1]);
        }
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f64]) {
        let k = s.len().min(8);
        let [m0, m1] = mask_f64(k);
        // SAFETY: as for f32: only the first `k <= s.len()` elements are written.
        unsafe {
            let p = s.as_mut_ptr();
            _mm256_maskstore_pd(p, m0, self.0[0]);
            if k > 4 {
                _mm256_maskstore_pd(p.add(4), m1, self.0[1]);
            }
        }
    }
    #[inline(always)]
    fn reduce_max(self) -> f64 {
        // SAFETY: AVX is available (module docs). The portable tree: lanes i/i+4 (the two
        // registers), i/i+2 (the 128-bit halves), then 0/1, lower lane first.
        unsafe {
            let m = _mm256_max_pd(self.0[0], self.0[1]);
            let m = _mm_max_pd(_mm256_castpd256_pd128(m), _mm256_extractf128_pd::<1>(m));
            _mm_cvtsd_f64(_mm_max_sd(m, _mm_unpackhi_pd(m, m)))
        }
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64; 16]) {
        let p = acc.as_mut_ptr();
        // SAFETY: AVX is available (module docs); lanes 0..8 of the 16 in `acc`.
        unsafe {
            for (h, &r) in self.0.iter().enumerate() {
                let q = p.add(4 * h);
                _mm256_storeu_pd(q, _mm256_add_pd(_mm256_loadu_pd(q), r));
            }
        }
    }
    #[inline(always)]
    fn mul_tiny_pays(self, below: Self) -> bool {
        let ([v0, v1], [b0, b1]) = (self.0, below.0);
        // SAFETY: AVX is available (module docs).
        unsafe {
            let lt = _mm256_or_pd(
                _mm256_cmp_pd::<_CMP_LT_OQ>(v0, b0),
                _mm256_cmp_pd::<_CMP_LT_OQ>(v1, b1),
            );
            _mm256_movemask_pd(lt) != 0
        }
    }
    #[inline(always)]
    fn any_above(self, bound: Self) -> bool {
        let ([v0, v1], [b0, b1]) = (self.0, bound.0);
        // SAFETY: AVX is available (module docs). NLE_UQ is true for NaN.
        unsafe {
            let above = _mm256_or_pd(
                _mm256_cmp_pd::<_CMP_NLE_UQ>(v0, b0),
                _mm256_cmp_pd::<_CMP_NLE_UQ>(v1, b1),
            );
            _mm256_movemask_pd(above) != 0
        }
    }
    #[inline(always)]
    fn any_outside_unit(self) -> bool {
        // SAFETY: AVX is available (module docs). NGE/NLE_UQ are true for NaN.
        unsafe {
            let (z, one) = (_mm256_setzero_pd(), _mm256_set1_pd(1.0));
            let [r0, r1] = self.0;
            let below = _mm256_or_pd(
                _mm256_cmp_pd::<_CMP_NGE_UQ>(r0, z),
                _mm256_cmp_pd::<_CMP_NGE_UQ>(r1, z),
            );
            let above = _mm256_or_pd(
                _mm256_cmp_pd::<_CMP_NLE_UQ>(r0, one),
                _mm256_cmp_pd::<_CMP_NLE_UQ>(r1, one),
            );
            _mm256_movemask_pd(_mm256_or_pd(below, above)) != 0
        }
    }
    #[inline(always)]
    fn all_zero_or_one(self) -> bool {
        // SAFETY: AVX is available (module docs).
        unsafe {
            let (z, one) = (_mm256_setzero_pd(), _mm256_set1_pd(1.0));
            let binary = |r| {
                _mm256_or_pd(
                    _mm256_cmp_pd::<_CMP_EQ_OQ>(r, z),
                    _mm256_cmp_pd::<_CMP_EQ_OQ>(r, one),
                )
            };
            let [r0, r1] = self.0;
            _mm256_movemask_pd(_mm256_and_pd(binary(r0), binary(r1))) == 0xf
        }
    }
}
