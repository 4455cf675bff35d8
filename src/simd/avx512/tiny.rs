//! Assist-free arithmetic on AVX-512F, bitwise equal to `vmulps`/`vmulpd`/`vdivps`: f32 lanes
//! are widened to f64, where no f32 operand or result is subnormal, and rounded back once by the
//! conversion (`Lanes::mul_tiny`, `mul_assist_free`, `div_assist_free`). f64 has no wider type:
//! `Lanes::mul_tiny`'s lanes whose `e` or product is subnormal are formed from normal numbers
//! and integers (`math`'s header, "Products of tiny values on x86", has the argument).
//!
//! No lane of any f64 product here has a subnormal operand: the operands are selected first (0 in
//! the lanes a product does not serve). Masked arithmetic would not do: the intrinsics are a
//! plain operation and a select to LLVM, which may move the select after an unmasked one.
//! Powers of two are applied to the exponent field by integer arithmetic, for the same reason.

use crate::simd::math as s;
use std::arch::x86_64::{
    __m512, __m512d, _mm256_castpd_ps, _mm256_castps_pd, _mm512_abs_pd, _mm512_add_epi64,
    _mm512_add_pd, _mm512_and_si512, _mm512_castpd_ps, _mm512_castpd_si512, _mm512_castps256_ps512,
    _mm512_castps512_ps256, _mm512_castps_pd, _mm512_castsi512_pd, _mm512_cmp_pd_mask,
    _mm512_cmp_ps_mask, _mm512_cvtpd_ps, _mm512_cvtps_pd, _mm512_div_pd, _mm512_extractf64x4_pd,
    _mm512_fmsub_pd, _mm512_insertf64x4, _mm512_mask_add_epi64, _mm512_mask_blend_pd,
    _mm512_mask_cmp_pd_mask, _mm512_mask_cmp_ps_mask, _mm512_mask_sub_epi64, _mm512_maskz_mov_pd,
    _mm512_mul_pd, _mm512_mul_ps, _mm512_or_si512, _mm512_set1_epi64, _mm512_set1_pd,
    _mm512_setzero_pd, _mm512_setzero_ps, _mm512_sub_epi64, _mm512_sub_pd, _CMP_EQ_OQ, _CMP_GE_OQ,
    _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ,
};

/// `e · a` on 16 lanes (see the module docs); `below` only picks the vectors that avoid the
/// assist (those with a lane `0 < e < below`), which take [`mul_wide16`].
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn mul_tiny16(e: __m512, a: __m512, below: __m512) -> __m512 {
    if !any_between16(e, _mm512_setzero_ps(), below) {
        return _mm512_mul_ps(e, a);
    }
    mul_wide16(e, a)
}

/// `a · b` on 16 f32 lanes, bitwise equal to `vmulps` and free of assists: the product of two
/// f32 is exact in f64 (48 bits, at least `2^-298` in magnitude), and the conversion back rounds
/// it once, into the subnormal range where it belongs (conversions take no assist).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn mul_wide16(a: __m512, b: __m512) -> __m512 {
    let ((a0, a1), (b0, b1)) = (widen16(a), widen16(b));
    narrow16(_mm512_mul_pd(a0, b0), _mm512_mul_pd(a1, b1))
}

/// `a / b` on 16 f32 lanes, bitwise equal to `vdivps` and free of assists: the f64 quotient is
/// rounded twice, to 53 bits and then to f32, and since `53 >= 2·24 + 2` that double rounding
/// is innocuous for division (Figueroa, 1995), in the subnormal range as well (fewer bits).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn div_wide16(a: __m512, b: __m512) -> __m512 {
    let ((a0, a1), (b0, b1)) = (widen16(a), widen16(b));
    narrow16(_mm512_div_pd(a0, b0), _mm512_div_pd(a1, b1))
}

/// Whether some lane of `v` lies in the open interval `(lo, hi)`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn any_between16(v: __m512, lo: __m512, hi: __m512) -> bool {
    let above = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, lo);
    _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(above, v, hi) != 0
}

/// Lanes 0-7 and 8-15 of `v` as f64, exactly.
#[inline]
#[target_feature(enable = "avx512f")]
fn widen16(v: __m512) -> (__m512d, __m512d) {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    (
        _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
        _mm512_cvtps_pd(hi),
    )
}

/// The inverse of [`widen16`], each lane rounded once to f32.
#[inline]
#[target_feature(enable = "avx512f")]
fn narrow16(lo: __m512d, hi: __m512d) -> __m512 {
    let lo = _mm512_castps256_ps512(_mm512_cvtpd_ps(lo));
    let hi = _mm256_castps_pd(_mm512_cvtpd_ps(hi));
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castps_pd(lo), hi))
}

/// `e · a` on 8 lanes, as [`mul_tiny16`] with f64's constants (`2^1074`, the `2^52` shifter).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn mul_tiny8d(e: __m512d, a: __m512d, below: __m512d) -> __m512d {
    let zero = _mm512_setzero_pd();
    let tiny = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(e, below);
    let tiny = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(tiny, e, zero);
    if tiny == 0 {
        return _mm512_mul_pd(e, a);
    }
    let abs_a = _mm512_abs_pd(a);
    let tiny = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(tiny, e, _mm512_set1_pd(s::TINY_E_MAX_F64));
    let tiny =
        _mm512_mask_cmp_pd_mask::<_CMP_LE_OQ>(tiny, abs_a, _mm512_set1_pd(s::TINY_A_MAX_F64));
    // |a| 0 or at least TINY_A_MIN: `err` below is never subnormal.
    let tiny = tiny
        & (_mm512_cmp_pd_mask::<_CMP_GE_OQ>(abs_a, _mm512_set1_pd(s::TINY_A_MIN_F64))
            | _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(abs_a, zero));
    let plain = _mm512_mul_pd(_mm512_maskz_mov_pd(!tiny, e), a);
    let two52 = _mm512_set1_pd(4_503_599_627_370_496.0);
    let bits = _mm512_castpd_si512(e);
    let sub = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(tiny, e, _mm512_set1_pd(f64::MIN_POSITIVE));
    let from_sub = _mm512_sub_pd(
        _mm512_castsi512_pd(_mm512_or_si512(bits, _mm512_castpd_si512(two52))),
        two52,
    );
    let from_norm = _mm512_castsi512_pd(_mm512_add_epi64(bits, _mm512_set1_epi64(1074 << 52)));
    let big_a = _mm512_maskz_mov_pd(tiny, _mm512_mask_blend_pd(sub, from_norm, from_sub));
    let abs_a = _mm512_maskz_mov_pd(tiny, abs_a);
    let f = _mm512_mul_pd(big_a, abs_a);
    let err = _mm512_fmsub_pd(big_a, abs_a, f);
    let t = _mm512_add_pd(f, two52);
    let d = _mm512_sub_pd(f, _mm512_sub_pd(t, two52));
    let up = _mm512_mask_cmp_pd_mask::<_CMP_EQ_OQ>(tiny, d, _mm512_set1_pd(0.5));
    let up = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(up, err, zero);
    let down = _mm512_mask_cmp_pd_mask::<_CMP_EQ_OQ>(tiny, d, _mm512_set1_pd(-0.5));
    let down = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(down, err, zero);
    let one = _mm512_set1_epi64(1);
    let n = _mm512_sub_epi64(_mm512_castpd_si512(t), _mm512_castpd_si512(two52));
    let n = _mm512_mask_add_epi64(n, up, n, one);
    let n = _mm512_mask_sub_epi64(n, down, n, one);
    let big = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(f, two52);
    let scaled = _mm512_sub_epi64(_mm512_castpd_si512(f), _mm512_set1_epi64(1074 << 52));
    let r = _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_castpd_si512(_mm512_mask_blend_pd(
            big,
            _mm512_castsi512_pd(n),
            _mm512_castsi512_pd(scaled),
        )),
        _mm512_and_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(i64::MIN)),
    ));
    _mm512_mask_blend_pd(tiny, plain, r)
}
