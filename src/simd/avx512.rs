//! The AVX-512F path: 16×f32 in one `__m512`, 8×f64 in one `__m512d` (x86-64 only).
//!
//! Every method reproduces [`Portable`](super::Portable) bit for bit: `max`/`min` are
//! `vmaxps`/`vminps` (the first operand when it is greater/less, else the second — exactly the
//! portable `if a > b { a } else { b }`), `reduce_max` follows the same halving tree, `exp`/`ln`
//! are the lane-wise transcriptions of `math.rs` in `avx512/expln.rs`. Partial loads and stores
//! are masked (`k`-register) loads and stores, which suppress the access — and any fault — for
//! the unselected elements, so they never touch memory outside the slice. Only AVX-512F
//! instructions are used, plus AVX/SSE for the 256/128-bit tail of `reduce_max` and the 256-bit
//! row loads and stores of the tile copies (`avx512/transpose.rs`, which hands partial tiles to
//! the AVX2 copies).
//!
//! # Safety
//! The methods call AVX-512F/AVX2/FMA intrinsics in `unsafe` blocks. An [`Avx512`] value can
//! only be made by [`Avx512::new`], whose caller (`dispatch_on`) has detected the features at
//! run time, and the vector types are reachable only through `Avx512` (this module is private to
//! `simd`), so these methods only ever execute on a CPU with those features. They are
//! `#[inline(always)]` so that the intrinsics are compiled inside the
//! `#[target_feature(enable = "avx512f,avx2,fma")]` entry point.

mod expln;
mod tiny;
mod transpose;

use super::lanes::{Isa, Lanes};
use super::Path;
use expln::{exp16, exp8d, ln16, ln8d};
use std::arch::x86_64::{
    __m512, __m512d, _mm256_castpd256_pd128, _mm256_castpd_ps, _mm256_castps256_ps128,
    _mm256_extractf128_pd, _mm256_extractf128_ps, _mm256_max_pd, _mm256_max_ps, _mm512_abs_pd,
    _mm512_abs_ps, _mm512_add_pd, _mm512_add_ps, _mm512_castpd512_pd256, _mm512_castps512_ps256,
    _mm512_castps_pd, _mm512_cmp_pd_mask, _mm512_cmp_ps_mask, _mm512_cvtps_pd, _mm512_div_pd,
    _mm512_div_ps, _mm512_extractf64x4_pd, _mm512_fmadd_pd, _mm512_fmadd_ps, _mm512_loadu_pd,
    _mm512_loadu_ps, _mm512_mask_blend_pd, _mm512_mask_blend_ps, _mm512_mask_loadu_pd,
    _mm512_mask_loadu_ps, _mm512_mask_storeu_pd, _mm512_mask_storeu_ps, _mm512_max_pd,
    _mm512_max_ps, _mm512_min_pd, _mm512_min_ps, _mm512_mul_pd, _mm512_mul_ps, _mm512_set1_pd,
    _mm512_set1_ps, _mm512_setzero_pd, _mm512_setzero_ps, _mm512_storeu_pd, _mm512_storeu_ps,
    _mm512_stream_pd, _mm512_stream_ps, _mm512_sub_pd, _mm512_sub_ps, _mm_cvtsd_f64, _mm_cvtss_f32,
    _mm_max_pd, _mm_max_ps, _mm_max_sd, _mm_max_ss, _mm_movehdup_ps, _mm_movehl_ps, _mm_sfence,
    _mm_unpackhi_pd, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_LT_OQ, _CMP_NGE_UQ, _CMP_NLE_UQ, _CMP_UNORD_Q,
};
use tiny::{any_between16, div_wide16, mul_tiny16, mul_tiny8d, mul_wide16};

/// Proof that the CPU supports AVX-512F, AVX2 and FMA (zero-sized; made only by `dispatch_on`).
#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU must support `avx512f`, `avx2` and `fma` (checked at run time by the caller).
    #[inline(always)]
    pub(super) unsafe fn new() -> Self {
        Avx512(())
    }
}

impl Isa for Avx512 {
    const PATH: Path = Path::Avx512;
    type F32 = F32x16;
    type F64 = F64x8;

    #[inline(always)]
    fn stream_fence(self) {
        // SAFETY: SSE is part of x86-64.
        unsafe { _mm_sfence() }
    }

    #[inline(always)]
    fn prefetch<T>(self, s: &[T], span: std::ops::Range<usize>) {
        super::avx2::prefetch_lines(s, span);
    }
}

/// 16 f32 lanes in one register.
#[derive(Clone, Copy, Debug)]
pub struct F32x16(__m512);

/// 8 f64 lanes in one register.
#[derive(Clone, Copy, Debug)]
pub struct F64x8(__m512d);

/// Implements the lane-wise methods shared by both element types (the arguments pick the
/// `_ps` or `_pd` intrinsics).
macro_rules! lanewise {
    ($t:ty, $v:ident, $n:literal, $add:ident, $sub:ident, $mul:ident, $div:ident, $fma:ident,
     $max:ident, $min:ident, $abs:ident, $cmp:ident, $blend:ident, $set1:ident, $zero:ident,
     $loadu:ident, $storeu:ident, $stream:ident, $mask_loadu:ident, $mask_storeu:ident, $exp:ident,
     $ln:ident, $tiny:ident) => {
        const N: usize = $n;

        #[inline(always)]
        fn splat(v: $t) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($set1(v)) }
        }
        #[inline(always)]
        fn load(s: &[$t]) -> Self {
            let s = &s[..$n];
            // SAFETY: AVX-512F is available (module docs); `s` holds N readable elements and
            // loadu is unaligned.
            unsafe { $v($loadu(s.as_ptr())) }
        }
        #[inline(always)]
        fn load_partial(s: &[$t], fill: $t) -> Self {
            let k = s.len().min($n);
            // SAFETY: AVX-512F is available (module docs). The masked load reads only the first
            // `k <= s.len()` elements (faults are suppressed for the others); the rest come
            // from `fill`.
            unsafe { $v($mask_loadu($set1(fill), ((1u32 << k) - 1) as _, s.as_ptr())) }
        }
        #[inline(always)]
        fn store(self, s: &mut [$t]) {
            let s = &mut s[..$n];
            // SAFETY: AVX-512F is available (module docs); `s` holds N writable elements.
            unsafe { $storeu(s.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn stream(self, s: &mut [$t]) {
            let s = &mut s[..$n];
            if s.as_ptr().align_offset(64) != 0 {
                return self.store(s);
            }
            // SAFETY: AVX-512F is available (module docs); `s` holds N writable elements and
            // starts on the 64-byte boundary that the non-temporal store requires.
            unsafe { $stream(s.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn store_partial(self, s: &mut [$t]) {
            let k = s.len().min($n);
            // SAFETY: AVX-512F is available (module docs). The masked store writes only the
            // first `k <= s.len()` elements.
            unsafe { $mask_storeu(s.as_mut_ptr(), ((1u32 << k) - 1) as _, self.0) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($add(self.0, o.0)) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($sub(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($mul(self.0, o.0)) }
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($div(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($fma(self.0, a.0, b.0)) }
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs). `self` is the first operand.
            unsafe { $v($max(self.0, o.0)) }
        }
        #[inline(always)]
        fn min(self, o: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs). `self` is the first operand.
            unsafe { $v($min(self.0, o.0)) }
        }
        #[inline(always)]
        fn abs(self) -> Self {
            // SAFETY: AVX-512F is available (module docs). Clears the sign bit only.
            unsafe { $v($abs(self.0)) }
        }
        #[inline(always)]
        fn select_nonneg(self, a: Self, b: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs). GE_OQ is false for NaN (selects `b`);
            // the blend takes its second vector where the mask is set.
            unsafe { $v($blend($cmp::<_CMP_GE_OQ>(self.0, $zero()), b.0, a.0)) }
        }
        #[inline(always)]
        fn canon_nan(self) -> Self {
            // SAFETY: AVX-512F is available (module docs). UNORD_Q of a lane with itself is true
            // exactly for NaN; the blend takes its second vector where the mask is set.
            unsafe {
                let nan = $set1(<$t>::NAN);
                $v($blend($cmp::<_CMP_UNORD_Q>(self.0, self.0), self.0, nan))
            }
        }
        #[inline(always)]
        fn zero_where_zero(self, coef: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs). The result is +0, as in the portable
            // path.
            unsafe {
                let z = $zero();
                $v($blend($cmp::<_CMP_EQ_OQ>(coef.0, z), self.0, z))
            }
        }
        #[inline(always)]
        fn exp(self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($exp::<false>(self.0)) }
        }
        #[inline(always)]
        fn mul_tiny(self, a: Self, below: Self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($tiny(self.0, a.0, below.0)) }
        }
        #[inline(always)]
        fn exp_in_range(self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($exp::<true>(self.0)) }
        }
        #[inline(always)]
        fn ln(self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($ln::<true, false>(self.0)) }
        }
        #[inline(always)]
        fn ln_finite(self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($ln::<false, false>(self.0)) }
        }
        #[inline(always)]
        fn ln_normal(self) -> Self {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $v($ln::<false, true>(self.0)) }
        }
        #[inline(always)]
        fn mul_tiny_pays(self, below: Self) -> bool {
            // SAFETY: AVX-512F is available (module docs).
            unsafe { $cmp::<_CMP_LT_OQ>(self.0, below.0) != 0 }
        }
        #[inline(always)]
        fn any_above(self, bound: Self) -> bool {
            // SAFETY: AVX-512F is available (module docs). NLE_UQ is true for NaN.
            unsafe { $cmp::<_CMP_NLE_UQ>(self.0, bound.0) != 0 }
        }
        #[inline(always)]
        fn any_outside_unit(self) -> bool {
            // SAFETY: AVX-512F is available (module docs). NGE/NLE_UQ are true for NaN.
            unsafe {
                let below = $cmp::<_CMP_NGE_UQ>(self.0, $zero());
                let above = $cmp::<_CMP_NLE_UQ>(self.0, $set1(1.0));
                (below | above) != 0
            }
        }
        #[inline(always)]
        fn all_zero_or_one(self) -> bool {
            // SAFETY: AVX-512F is available (module docs).
            unsafe {
                let zero = $cmp::<_CMP_EQ_OQ>(self.0, $zero());
                let one = $cmp::<_CMP_EQ_OQ>(self.0, $set1(1.0));
                u32::from(zero | one) == (1u32 << $n) - 1
            }
        }
    };
}

impl Lanes<f32> for F32x16 {
    #[inline(always)]
    fn prefetch(s: &[f32], i: usize) {
        super::avx2::prefetch_lines(s, i..i.saturating_add(1));
    }

    #[inline(always)]
    fn gather_rows(src: &[f32], rows: usize, classes: usize, buf: &mut [f32]) {
        // SAFETY: AVX-512F and AVX2 are available (module docs).
        unsafe { transpose::gather_f32(src, rows, classes, buf) }
    }
    #[inline(always)]
    fn scatter_rows(buf: &[f32], rows: usize, classes: usize, dst: &mut [f32]) {
        // SAFETY: AVX-512F and AVX2 are available (module docs).
        unsafe { transpose::scatter_f32(buf, rows, classes, dst) }
    }

    lanewise!(
        f32,
        F32x16,
        16,
        _mm512_add_ps,
        _mm512_sub_ps,
        _mm512_mul_ps,
        _mm512_div_ps,
        _mm512_fmadd_ps,
        _mm512_max_ps,
        _mm512_min_ps,
        _mm512_abs_ps,
        _mm512_cmp_ps_mask,
        _mm512_mask_blend_ps,
        _mm512_set1_ps,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_stream_ps,
        _mm512_mask_loadu_ps,
        _mm512_mask_storeu_ps,
        exp16,
        ln16,
        mul_tiny16
    );

    #[inline(always)]
    fn mul_assist_free(self, o: Self) -> Self {
        // SAFETY: AVX-512F is available (module docs).
        unsafe { F32x16(mul_wide16(self.0, o.0)) }
    }
    #[inline(always)]
    fn div_assist_free(self, o: Self) -> Self {
        // SAFETY: AVX-512F is available (module docs).
        unsafe { F32x16(div_wide16(self.0, o.0)) }
    }
    #[inline(always)]
    fn assist_free_pays(self, lo: Self, hi: Self) -> bool {
        // SAFETY: AVX-512F is available (module docs).
        unsafe { any_between16(self.0, lo.0, hi.0) }
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        // SAFETY: AVX-512F and AVX are available (module docs). The portable tree: lanes i/i+8
        // (the 256-bit halves), i/i+4, i/i+2, then 0/1, the lower lane always first.
        unsafe {
            let lo = _mm512_castps512_ps256(self.0);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
            let m = _mm256_max_ps(lo, hi);
            let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
        }
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64; 16]) {
        let p = acc.as_mut_ptr();
        // SAFETY: AVX-512F is available (module docs); offsets 0 and 8 plus 8 lanes stay within
        // the 16 elements of `acc`.
        unsafe {
            let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(self.0));
            let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(self.0),
            )));
            _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), lo));
            let q = p.add(8);
            _mm512_storeu_pd(q, _mm512_add_pd(_mm512_loadu_pd(q), hi));
        }
    }
}

impl Lanes<f64> for F64x8 {
    #[inline(always)]
    fn prefetch(s: &[f64], i: usize) {
        super::avx2::prefetch_lines(s, i..i.saturating_add(1));
    }

    #[inline(always)]
    fn gather_rows(src: &[f64], rows: usize, classes: usize, buf: &mut [f64]) {
        // SAFETY: AVX-512F and AVX2 are available (module docs).
        unsafe { transpose::gather_f64(src, rows, classes, buf) }
    }
    #[inline(always)]
    fn scatter_rows(buf: &[f64], rows: usize, classes: usize, dst: &mut [f64]) {
        // SAFETY: AVX-512F and AVX2 are available (module docs).
        unsafe { transpose::scatter_f64(buf, rows, classes, dst) }
    }

    lanewise!(
        f64,
        F64x8,
        8,
        _mm512_add_pd,
        _mm512_sub_pd,
        _mm512_mul_pd,
        _mm512_div_pd,
        _mm512_fmadd_pd,
        _mm512_max_pd,
        _mm512_min_pd,
        _mm512_abs_pd,
        _mm512_cmp_pd_mask,
        _mm512_mask_blend_pd,
        _mm512_set1_pd,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_stream_pd,
        _mm512_mask_loadu_pd,
        _mm512_mask_storeu_pd,
        exp8d,
        ln8d,
        mul_tiny8d
    );

    #[inline(always)]
    fn reduce_max(self) -> f64 {
        // SAFETY: AVX-512F and AVX are available (module docs). The portable tree: lanes i/i+4
        // (the 256-bit halves), i/i+2, then 0/1, the lower lane always first.
        unsafe {
            let m = _mm256_max_pd(
                _mm512_castpd512_pd256(self.0),
                _mm512_extractf64x4_pd::<1>(self.0),
            );
            let m = _mm_max_pd(_mm256_castpd256_pd128(m), _mm256_extractf128_pd::<1>(m));
            _mm_cvtsd_f64(_mm_max_sd(m, _mm_unpackhi_pd(m, m)))
        }
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64; 16]) {
        let p = acc.as_mut_ptr();
        // SAFETY: AVX-512F is available (module docs); lanes 0..8 of the 16 in `acc`.
        unsafe { _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), self.0)) }
    }
}
