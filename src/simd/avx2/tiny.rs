//! `Lanes::mul_tiny` on AVX2 + FMA, one register at a time: `e · a` rounded once, bitwise equal
//! to `vmulps`/`vmulpd`, with the lanes whose `e` or product is subnormal formed from normal
//! numbers and integers (`math`'s header, "Products of tiny values on x86"). As on AVX-512
//! (`avx512/tiny.rs`), no lane of any product has a subnormal operand: the operands are
//! selected first, and powers of two go to the exponent field by integer arithmetic.

use crate::simd::math as s;
use std::arch::x86_64::{
    __m256, __m256d, _mm256_add_epi32, _mm256_add_epi64, _mm256_add_pd, _mm256_add_ps,
    _mm256_and_pd, _mm256_and_ps, _mm256_andnot_pd, _mm256_andnot_ps, _mm256_blendv_pd,
    _mm256_blendv_ps, _mm256_castpd_si256, _mm256_castps_si256, _mm256_castsi256_pd,
    _mm256_castsi256_ps, _mm256_cmp_pd, _mm256_cmp_ps, _mm256_fmsub_pd, _mm256_fmsub_ps,
    _mm256_movemask_pd, _mm256_movemask_ps, _mm256_mul_pd, _mm256_mul_ps, _mm256_or_pd,
    _mm256_or_ps, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_set1_pd, _mm256_set1_ps,
    _mm256_setzero_pd, _mm256_setzero_ps, _mm256_sub_epi32, _mm256_sub_epi64, _mm256_sub_pd,
    _mm256_sub_ps, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ,
};

/// `e · a` on 8 f32 lanes (see the module docs); `below` only picks the lanes that avoid the
/// assist (those with `0 < e < below`).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn mul_tiny8(e: __m256, a: __m256, below: __m256) -> __m256 {
    let zero = _mm256_setzero_ps();
    let tiny = _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_LT_OQ>(e, below),
        _mm256_cmp_ps::<_CMP_GT_OQ>(e, zero),
    );
    if _mm256_movemask_ps(tiny) == 0 {
        return _mm256_mul_ps(e, a);
    }
    let sign_bit = _mm256_set1_ps(-0.0);
    let abs_a = _mm256_andnot_ps(sign_bit, a);
    let cmp = |p: __m256, q: f32| _mm256_cmp_ps::<_CMP_LE_OQ>(p, _mm256_set1_ps(q));
    let tiny = _mm256_and_ps(
        _mm256_and_ps(
            tiny,
            _mm256_cmp_ps::<_CMP_LT_OQ>(e, _mm256_set1_ps(s::TINY_E_MAX_F32)),
        ),
        _mm256_and_ps(cmp(abs_a, s::TINY_A_MAX_F32), zero_or_not_small_ps(abs_a)),
    );
    let plain = _mm256_mul_ps(_mm256_andnot_ps(tiny, e), a);
    // A = e 2^149: a subnormal's bits OR-ed into 2^23, less 2^23; a normal's exponent + 149.
    let two23 = _mm256_set1_ps(8_388_608.0);
    let bits = _mm256_castps_si256(e);
    let sub = _mm256_cmp_ps::<_CMP_LT_OQ>(e, _mm256_set1_ps(f32::MIN_POSITIVE));
    let from_sub = _mm256_sub_ps(_mm256_or_ps(e, two23), two23);
    let from_norm = _mm256_castsi256_ps(_mm256_add_epi32(bits, _mm256_set1_epi32(149 << 23)));
    let big_a = _mm256_and_ps(tiny, _mm256_blendv_ps(from_norm, from_sub, sub));
    let abs_a = _mm256_and_ps(tiny, abs_a);
    let f = _mm256_mul_ps(big_a, abs_a);
    let err = _mm256_fmsub_ps(big_a, abs_a, f);
    // f < 2^23: round f to an integer (the bit pattern), fixing a tie in f by err's sign.
    let t = _mm256_add_ps(f, two23);
    let d = _mm256_sub_ps(f, _mm256_sub_ps(t, two23));
    let up = _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_EQ_OQ>(d, _mm256_set1_ps(0.5)),
        _mm256_cmp_ps::<_CMP_GT_OQ>(err, zero),
    );
    let down = _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_EQ_OQ>(d, _mm256_set1_ps(-0.5)),
        _mm256_cmp_ps::<_CMP_LT_OQ>(err, zero),
    );
    // The masks are -1 per selected lane: subtracting `up` adds 1.
    let n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(two23));
    let n = _mm256_add_epi32(
        _mm256_sub_epi32(n, _mm256_castps_si256(up)),
        _mm256_castps_si256(down),
    );
    // f >= 2^23: a normal result, f 2^-149: its exponent less 149.
    let big = _mm256_cmp_ps::<_CMP_GE_OQ>(f, two23);
    let scaled = _mm256_sub_epi32(_mm256_castps_si256(f), _mm256_set1_epi32(149 << 23));
    let r = _mm256_blendv_ps(_mm256_castsi256_ps(n), _mm256_castsi256_ps(scaled), big);
    let r = _mm256_or_ps(r, _mm256_and_ps(a, sign_bit));
    _mm256_blendv_ps(plain, r, tiny)
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
        _mm256_and_pd(cmp(abs_a, s::TINY_A_MAX_F64), zero_or_not_small_pd(abs_a)),
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
fn zero_or_not_small_ps(abs_a: __m256) -> __m256 {
    _mm256_or_ps(
        _mm256_cmp_ps::<_CMP_GE_OQ>(abs_a, _mm256_set1_ps(s::TINY_A_MIN_F32)),
        _mm256_cmp_ps::<_CMP_EQ_OQ>(abs_a, _mm256_setzero_ps()),
    )
}

/// [`zero_or_not_small_ps`] for f64 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn zero_or_not_small_pd(abs_a: __m256d) -> __m256d {
    _mm256_or_pd(
        _mm256_cmp_pd::<_CMP_GE_OQ>(abs_a, _mm256_set1_pd(s::TINY_A_MIN_F64)),
        _mm256_cmp_pd::<_CMP_EQ_OQ>(abs_a, _mm256_setzero_pd()),
    )
}
