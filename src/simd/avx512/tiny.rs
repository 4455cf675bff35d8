//! `Lanes::mul_tiny` on AVX-512F: `e · a` rounded once, bitwise equal to `vmulps`/`vmulpd`,
//! with the lanes whose `e` or product is subnormal formed from normal numbers and integers
//! (`math`'s header, "Products of tiny values on x86", has the argument).
//!
//! No lane of any product here has a subnormal operand: the operands are selected first (0 in
//! the lanes a product does not serve). Masked arithmetic would not do: the intrinsics are a
//! plain operation and a select to LLVM, which may move the select after an unmasked one.
//! Powers of two are applied to the exponent field by integer arithmetic, for the same reason.

use crate::simd::math as s;
use std::arch::x86_64::{
    __m512, __m512d, _mm512_abs_pd, _mm512_abs_ps, _mm512_add_epi32, _mm512_add_epi64,
    _mm512_add_pd, _mm512_add_ps, _mm512_and_si512, _mm512_castpd_si512, _mm512_castps_si512,
    _mm512_castsi512_pd, _mm512_castsi512_ps, _mm512_cmp_pd_mask, _mm512_cmp_ps_mask,
    _mm512_fmsub_pd, _mm512_fmsub_ps, _mm512_mask_add_epi32, _mm512_mask_add_epi64,
    _mm512_mask_blend_pd, _mm512_mask_blend_ps, _mm512_mask_cmp_pd_mask, _mm512_mask_cmp_ps_mask,
    _mm512_mask_sub_epi32, _mm512_mask_sub_epi64, _mm512_maskz_mov_pd, _mm512_maskz_mov_ps,
    _mm512_mul_pd, _mm512_mul_ps, _mm512_or_si512, _mm512_set1_epi32, _mm512_set1_epi64,
    _mm512_set1_pd, _mm512_set1_ps, _mm512_setzero_pd, _mm512_setzero_ps, _mm512_sub_epi32,
    _mm512_sub_epi64, _mm512_sub_pd, _mm512_sub_ps, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ,
    _CMP_LT_OQ,
};

/// `e · a` on 16 lanes (see the module docs); `below` only picks the lanes that avoid the
/// assist (those with `0 < e < below`).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn mul_tiny16(e: __m512, a: __m512, below: __m512) -> __m512 {
    let zero = _mm512_setzero_ps();
    let tiny = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(e, below);
    let tiny = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(tiny, e, zero);
    if tiny == 0 {
        return _mm512_mul_ps(e, a);
    }
    let abs_a = _mm512_abs_ps(a);
    let tiny = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(tiny, e, _mm512_set1_ps(s::TINY_E_MAX_F32));
    let tiny =
        _mm512_mask_cmp_ps_mask::<_CMP_LE_OQ>(tiny, abs_a, _mm512_set1_ps(s::TINY_A_MAX_F32));
    // |a| 0 or at least TINY_A_MIN: `err` below is never subnormal.
    let tiny = tiny
        & (_mm512_cmp_ps_mask::<_CMP_GE_OQ>(abs_a, _mm512_set1_ps(s::TINY_A_MIN_F32))
            | _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(abs_a, zero));
    let plain = _mm512_mul_ps(_mm512_maskz_mov_ps(!tiny, e), a);
    // A = e 2^149: a subnormal's bits OR-ed into 2^23, less 2^23; a normal's exponent + 149.
    let two23 = _mm512_set1_ps(8_388_608.0);
    let bits = _mm512_castps_si512(e);
    let sub = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(tiny, e, _mm512_set1_ps(f32::MIN_POSITIVE));
    let from_sub = _mm512_sub_ps(
        _mm512_castsi512_ps(_mm512_or_si512(bits, _mm512_castps_si512(two23))),
        two23,
    );
    let from_norm = _mm512_castsi512_ps(_mm512_add_epi32(bits, _mm512_set1_epi32(149 << 23)));
    let big_a = _mm512_maskz_mov_ps(tiny, _mm512_mask_blend_ps(sub, from_norm, from_sub));
    let abs_a = _mm512_maskz_mov_ps(tiny, abs_a);
    let f = _mm512_mul_ps(big_a, abs_a);
    let err = _mm512_fmsub_ps(big_a, abs_a, f);
    // f < 2^23: round f to an integer (the bit pattern), fixing a tie in f by err's sign.
    let t = _mm512_add_ps(f, two23);
    let d = _mm512_sub_ps(f, _mm512_sub_ps(t, two23));
    let up = _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(tiny, d, _mm512_set1_ps(0.5));
    let up = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(up, err, zero);
    let down = _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(tiny, d, _mm512_set1_ps(-0.5));
    let down = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(down, err, zero);
    let one = _mm512_set1_epi32(1);
    let n = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(two23));
    let n = _mm512_mask_add_epi32(n, up, n, one);
    let n = _mm512_mask_sub_epi32(n, down, n, one);
    // f >= 2^23: a normal result, f 2^-149: its exponent less 149.
    let big = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(f, two23);
    let scaled = _mm512_sub_epi32(_mm512_castps_si512(f), _mm512_set1_epi32(149 << 23));
    let r = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(_mm512_mask_blend_ps(
            big,
            _mm512_castsi512_ps(n),
            _mm512_castsi512_ps(scaled),
        )),
        _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(i32::MIN)),
    ));
    _mm512_mask_blend_ps(tiny, plain, r)
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
