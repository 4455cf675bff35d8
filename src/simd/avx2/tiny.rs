//! Assist-free arithmetic on AVX2 + FMA, one register at a time, bitwise equal to
//! `vmulps`/`vmulpd`/`vdivps`, as on AVX-512 (`avx512/tiny.rs`): f32 lanes are widened to f64
//! and rounded back once; f64's `Lanes::mul_tiny` forms the lanes whose `e` or product is
//! subnormal from normal numbers and integers (`math`'s header, "Products of tiny values on
//! x86"). No lane of any f64 product has a subnormal operand: the operands are selected first,
//! and powers of two go to the exponent field by integer arithmetic.

use crate::simd::math as s;
use std::arch::x86_64::{
    __m256, __m256d, _mm256_add_epi64, _mm256_add_pd, _mm256_and_pd, _mm256_and_ps,
    _mm256_andnot_pd, _mm256_blendv_pd, _mm256_castpd_si256, _mm256_castps256_ps128,
    _mm256_castsi256_pd, _mm256_cmp_pd, _mm256_cmp_ps, _mm256_cvtpd_ps, _mm256_cvtps_pd,
    _mm256_div_pd, _mm256_extractf128_ps, _mm256_fmsub_pd, _mm256_movemask_pd, _mm256_movemask_ps,
    _mm256_mul_pd, _mm256_mul_ps, _mm256_or_pd, _mm256_set1_epi64x, _mm256_set1_pd,
    _mm256_set_m128, _mm256_setzero_pd, _mm256_setzero_ps, _mm256_sub_epi64, _mm256_sub_pd,
    _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ,
};

/// `e · a` on 8 f32 lanes (see the module docs); `below` only picks the registers that avoid
/// the assist (those with a lane `0 < e < below`), which take [`mul_wide8`].
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn mul_tiny8(e: __m256, a: __m256, below: __m256) -> __m256 {
    if !any_between8(e, _mm256_setzero_ps(), below) {
        return _mm256_mul_ps(e, a);
    }
    mul_wide8(e, a)
}

/// `a · b` on 8 f32 lanes, bitwise equal to `vmulps` and free of assists, as
/// `avx512::tiny::mul_wide16`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn mul_wide8(a: __m256, b: __m256) -> __m256 {
    let ((a0, a1), (b0, b1)) = (widen8(a), widen8(b));
    narrow8(_mm256_mul_pd(a0, b0), _mm256_mul_pd(a1, b1))
}

/// `a / b` on 8 f32 lanes, bitwise equal to `vdivps` and free of assists, as
/// `avx512::tiny::div_wide16`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn div_wide8(a: __m256, b: __m256) -> __m256 {
    let ((a0, a1), (b0, b1)) = (widen8(a), widen8(b));
    narrow8(_mm256_div_pd(a0, b0), _mm256_div_pd(a1, b1))
}

/// Whether some lane of `v` lies in the open interval `(lo, hi)`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn any_between8(v: __m256, lo: __m256, hi: __m256) -> bool {
    let inside = _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_GT_OQ>(v, lo),
        _mm256_cmp_ps::<_CMP_LT_OQ>(v, hi),
    );
    _mm256_movemask_ps(inside) != 0
}

/// Lanes 0-3 and 4-7 of `v` as f64, exactly.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn widen8(v: __m256) -> (__m256d, __m256d) {
    (
        _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
        _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
    )
}

/// The inverse of [`widen8`], each lane rounded once to f32.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn narrow8(lo: __m256d, hi: __m256d) -> __m256 {
    _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo))
}

/// `e · a` on 4 f64 lanes, as [`mul_tiny8`] with f64's constants (`2^1074`, the `2^52`
/// shifter).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn mul_tiny4d(e: __m256d, a: __m256d, below: __m256d) -> __m256d {
    let zero = _mm256_setzero_pd();
    let tiny = _mm256_and_pd(
        _mm256_cmp_pd::<_CMP_LT_OQ>(e, below),
        _mm256_cmp_pd::<_CMP_GT_OQ>(e, zero),
    );
    if _mm256_movemask_pd(tiny) == 0 {
        return _mm256_mul_pd(e, a);
    }
    let sign_bit = _mm256_set1_pd(-0.0);
    let abs_a = _mm256_andnot_pd(sign_bit, a);
    let cmp = |p: __m256d, q: f64| _mm256_cmp_pd::<_CMP_LE_OQ>(p, _mm256_set1_pd(q));
    let tiny = _mm256_and_pd(
        _mm256_and_pd(
            tiny,
            _mm256_cmp_pd::<_CMP_LT_OQ>(e, _mm256_set1_pd(s::TINY_E_MAX_F64)),
        ),
        _mm256_and_pd(cmp(abs_a, s::TINY_A_MAX_F64), zero_or_not_small(abs_a)),
    );
    let plain = _mm256_mul_pd(_mm256_andnot_pd(tiny, e), a);
    let two52 = _mm256_set1_pd(4_503_599_627_370_496.0);
    let bits = _mm256_castpd_si256(e);
    let sub = _mm256_cmp_pd::<_CMP_LT_OQ>(e, _mm256_set1_pd(f64::MIN_POSITIVE));
    let from_sub = _mm256_sub_pd(_mm256_or_pd(e, two52), two52);
    let from_norm = _mm256_castsi256_pd(_mm256_add_epi64(bits, _mm256_set1_epi64x(1074 << 52)));
    let big_a = _mm256_and_pd(tiny, _mm256_blendv_pd(from_norm, from_sub, sub));
    let abs_a = _mm256_and_pd(tiny, abs_a);
    let f = _mm256_mul_pd(big_a, abs_a);
    let err = _mm256_fmsub_pd(big_a, abs_a, f);
    let t = _mm256_add_pd(f, two52);
    let d = _mm256_sub_pd(f, _mm256_sub_pd(t, two52));
    let up = _mm256_and_pd(
        _mm256_cmp_pd::<_CMP_EQ_OQ>(d, _mm256_set1_pd(0.5)),
        _mm256_cmp_pd::<_CMP_GT_OQ>(err, zero),
    );
    let down = _mm256_and_pd(
        _mm256_cmp_pd::<_CMP_EQ_OQ>(d, _mm256_set1_pd(-0.5)),
        _mm256_cmp_pd::<_CMP_LT_OQ>(err, zero),
    );
    let n = _mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_castpd_si256(two52));
    let n = _mm256_add_epi64(
        _mm256_sub_epi64(n, _mm256_castpd_si256(up)),
        _mm256_castpd_si256(down),
    );
    let big = _mm256_cmp_pd::<_CMP_GE_OQ>(f, two52);
    let scaled = _mm256_sub_epi64(_mm256_castpd_si256(f), _mm256_set1_epi64x(1074 << 52));
    let r = _mm256_blendv_pd(_mm256_castsi256_pd(n), _mm256_castsi256_pd(scaled), big);
    let r = _mm256_or_pd(r, _mm256_and_pd(a, sign_bit));
    _mm256_blendv_pd(plain, r, tiny)
}

/// The lanes of `abs_a` (non-negative or NaN) that are 0 or at least `TINY_A_MIN`, so that
/// `err` is never subnormal.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn zero_or_not_small(abs_a: __m256d) -> __m256d {
    _mm256_or_pd(
        _mm256_cmp_pd::<_CMP_GE_OQ>(abs_a, _mm256_set1_pd(s::TINY_A_MIN_F64)),
        _mm256_cmp_pd::<_CMP_EQ_OQ>(abs_a, _mm256_setzero_pd()),
    )
}
