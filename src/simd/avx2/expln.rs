//! The AVX2 + FMA `exp`/`ln` kernels on one register (8×f32, 4×f64).
//!
//! Each is a lane-wise transcription of `math.rs` (same constants, same FMA and rounding
//! sequence), so results are bitwise equal to `math::exp_f32` etc.; see `math.rs` for the
//! algorithms and error bounds. AVX2 lacks a 64-bit arithmetic shift and an i64→f64 conversion,
//! so the f64 kernels compute `floor(k/2)` as `((k + 2048) >> 1) - 1024` (logical shift) and
//! convert exponents with the `2^52` magic-number trick; both are exact.

// Bit patterns reinterpreted as i32/i64 and small exponent constants (< 2^11) as floats: exact.
#![allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
// Math notation, as in `math.rs`.
#![allow(clippy::many_single_char_names)]

use crate::simd::math as s;
use std::arch::x86_64::{
    __m256, __m256d, _mm256_add_epi32, _mm256_add_epi64, _mm256_add_pd, _mm256_add_ps,
    _mm256_and_pd, _mm256_and_ps, _mm256_and_si256, _mm256_andnot_si256, _mm256_blendv_pd,
    _mm256_blendv_ps, _mm256_castpd_si256, _mm256_castps_si256, _mm256_castsi256_pd,
    _mm256_castsi256_ps, _mm256_cmp_pd, _mm256_cmp_ps, _mm256_cmpgt_epi32, _mm256_cmpgt_epi64,
    _mm256_cvtepi32_ps, _mm256_div_pd, _mm256_div_ps, _mm256_fmadd_pd, _mm256_fmadd_ps,
    _mm256_min_pd, _mm256_min_ps, _mm256_movemask_pd, _mm256_movemask_ps, _mm256_mul_pd,
    _mm256_mul_ps, _mm256_or_pd, _mm256_or_ps, _mm256_or_si256, _mm256_set1_epi32,
    _mm256_set1_epi64x, _mm256_set1_pd, _mm256_set1_ps, _mm256_setzero_pd, _mm256_setzero_ps,
    _mm256_slli_epi32, _mm256_slli_epi64, _mm256_srai_epi32, _mm256_srli_epi32, _mm256_srli_epi64,
    _mm256_sub_epi32, _mm256_sub_epi64, _mm256_sub_pd, _mm256_sub_ps, _CMP_EQ_OQ, _CMP_GE_OQ,
    _CMP_LT_OQ, _CMP_UNORD_Q,
};

/// exp on 8 lanes; bitwise equal to `math::exp_f32` per lane.
///
/// With `IN_RANGE` the caller guarantees every lane is NaN or in `[math::EXP_IN_RANGE_LO_*, 0]`
/// (a row's `x - max` when its spread is small): the clamp is skipped and `2^k` (a normal number
/// there) scales `p` in one product, which rounds once, like the two-step product below, so the
/// bits are the same. Other lanes then get unspecified values.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn exp8<const IN_RANGE: bool>(x: __m256) -> __m256 {
    // `live`: the lanes `math::exp_*` computes (x >= EXP_LO); the others (NaN included) run
    // exp(0) and are zeroed at the end, so no lane's product underflows.
    let live = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_set1_ps(s::EXP_LO_F32));
    let xc = if IN_RANGE {
        x
    } else {
        _mm256_and_ps(live, _mm256_min_ps(x, _mm256_set1_ps(s::EXP_HI_F32)))
    };
    let shift = _mm256_set1_ps(s::SHIFT_F32);
    let t = _mm256_fmadd_ps(xc, _mm256_set1_ps(s::LOG2E_F32), shift);
    let nk = _mm256_sub_ps(shift, t);
    let r = _mm256_fmadd_ps(nk, _mm256_set1_ps(s::LN2_HI_F32), xc);
    let r = _mm256_fmadd_ps(nk, _mm256_set1_ps(s::LN2_LO_F32), r);
    let mut q = _mm256_set1_ps(s::EXP_Q_F32[0]);
    for &c in &s::EXP_Q_F32[1..] {
        q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(c));
    }
    let one = _mm256_set1_ps(1.0);
    let p = _mm256_fmadd_ps(_mm256_fmadd_ps(q, r, one), r, one);
    let k = _mm256_sub_epi32(
        _mm256_castps_si256(t),
        _mm256_set1_epi32(s::SHIFT_F32.to_bits() as i32),
    );
    let bias = _mm256_set1_epi32(127);
    let y = if IN_RANGE {
        _mm256_mul_ps(
            p,
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k, bias))),
        )
    } else {
        // Results below 2^-126 by integer rounding, not by the product, which would round into
        // the subnormal range (see `math`): candidates k <= -126 (0 in dead lanes), of which
        // those with `p 2^(k + 149)` (exact) below 2^23 scale by 2^0 here and are replaced.
        let cand = _mm256_cmpgt_epi32(_mm256_set1_epi32(-125), k);
        let any = _mm256_movemask_ps(_mm256_castsi256_ps(cand)) != 0;
        let two23 = _mm256_set1_ps(8_388_608.0);
        let (kn, sub, m) = if any {
            let up = _mm256_and_si256(cand, _mm256_add_epi32(k, _mm256_set1_epi32(149)));
            let m = _mm256_mul_ps(
                p,
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(up, bias))),
            );
            let sub = _mm256_and_ps(
                _mm256_castsi256_ps(cand),
                _mm256_cmp_ps::<_CMP_LT_OQ>(m, two23),
            );
            (_mm256_andnot_si256(_mm256_castps_si256(sub), k), sub, m)
        } else {
            (k, _mm256_setzero_ps(), p)
        };
        let k1 = _mm256_srai_epi32::<1>(kn);
        let k2 = _mm256_sub_epi32(kn, k1);
        let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k1, bias)));
        let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k2, bias)));
        let y = _mm256_and_ps(live, _mm256_mul_ps(_mm256_mul_ps(p, s1), s2));
        if any {
            let n = _mm256_sub_epi32(
                _mm256_castps_si256(_mm256_add_ps(m, two23)),
                _mm256_castps_si256(two23),
            );
            _mm256_blendv_ps(y, _mm256_castsi256_ps(n), sub)
        } else {
            y
        }
    };
    _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
}

/// exp on 4 lanes; bitwise equal to `math::exp_f64` per lane.
///
/// With `IN_RANGE` the caller guarantees every lane is NaN or in `[math::EXP_IN_RANGE_LO_*, 0]`
/// (a row's `x - max` when its spread is small): the clamp is skipped and `2^k` (a normal number
/// there) scales `p` in one product, which rounds once, like the two-step product below, so the
/// bits are the same. Other lanes then get unspecified values.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn exp4d<const IN_RANGE: bool>(x: __m256d) -> __m256d {
    // `live`: the lanes `math::exp_*` computes (x >= EXP_LO); the others (NaN included) run
    // exp(0) and are zeroed at the end, so no lane's product underflows.
    let live = _mm256_cmp_pd::<_CMP_GE_OQ>(x, _mm256_set1_pd(s::EXP_LO_F64));
    let xc = if IN_RANGE {
        x
    } else {
        _mm256_and_pd(live, _mm256_min_pd(x, _mm256_set1_pd(s::EXP_HI_F64)))
    };
    let shift = _mm256_set1_pd(s::SHIFT_F64);
    let t = _mm256_fmadd_pd(xc, _mm256_set1_pd(s::LOG2E_F64), shift);
    let nk = _mm256_sub_pd(shift, t);
    let r = _mm256_fmadd_pd(nk, _mm256_set1_pd(s::LN2_HI_F64), xc);
    let r = _mm256_fmadd_pd(nk, _mm256_set1_pd(s::LN2_LO_F64), r);
    let mut q = _mm256_set1_pd(s::EXP_Q_F64[0]);
    for &c in &s::EXP_Q_F64[1..] {
        q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(c));
    }
    let one = _mm256_set1_pd(1.0);
    let p = _mm256_fmadd_pd(_mm256_fmadd_pd(q, r, one), r, one);
    let k = _mm256_sub_epi64(
        _mm256_castpd_si256(t),
        _mm256_set1_epi64x(s::SHIFT_F64.to_bits() as i64),
    );
    let bias = _mm256_set1_epi64x(1023);
    let y = if IN_RANGE {
        _mm256_mul_pd(
            p,
            _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(k, bias))),
        )
    } else {
        // Results below 2^-1022 by integer rounding, as in `exp8`.
        let cand = _mm256_cmpgt_epi64(_mm256_set1_epi64x(-1021), k);
        let any = _mm256_movemask_pd(_mm256_castsi256_pd(cand)) != 0;
        let two52 = _mm256_set1_pd(4_503_599_627_370_496.0);
        let (kn, sub, m) = if any {
            let up = _mm256_and_si256(cand, _mm256_add_epi64(k, _mm256_set1_epi64x(1074)));
            let m = _mm256_mul_pd(
                p,
                _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(up, bias))),
            );
            let sub = _mm256_and_pd(
                _mm256_castsi256_pd(cand),
                _mm256_cmp_pd::<_CMP_LT_OQ>(m, two52),
            );
            (_mm256_andnot_si256(_mm256_castpd_si256(sub), k), sub, m)
        } else {
            (k, _mm256_setzero_pd(), p)
        };
        // kn >= -1076, so kn + 2048 > 0 and a logical shift gives floor(kn/2) + 1024.
        let k1 = _mm256_sub_epi64(
            _mm256_srli_epi64::<1>(_mm256_add_epi64(kn, _mm256_set1_epi64x(2048))),
            _mm256_set1_epi64x(1024),
        );
        let k2 = _mm256_sub_epi64(kn, k1);
        let s1 = _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(k1, bias)));
        let s2 = _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(k2, bias)));
        let y = _mm256_and_pd(live, _mm256_mul_pd(_mm256_mul_pd(p, s1), s2));
        if any {
            let n = _mm256_sub_epi64(
                _mm256_castpd_si256(_mm256_add_pd(m, two52)),
                _mm256_castpd_si256(two52),
            );
            _mm256_blendv_pd(y, _mm256_castsi256_pd(n), sub)
        } else {
            y
        }
    };
    _mm256_blendv_pd(y, x, _mm256_cmp_pd::<_CMP_UNORD_Q>(x, x))
}

/// ln on 8 lanes; bitwise equal to `math::ln_f32` per lane. Without `ALL` (`Lanes::ln_finite`)
/// that holds for finite non-negative lanes only: +inf, negative and NaN lanes skip their fix-ups.
/// With `NORMAL` as well (`Lanes::ln_normal`), for positive normal lanes only: subnormals and 0
/// skip theirs too.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn ln8<const ALL: bool, const NORMAL: bool>(x: __m256) -> __m256 {
    let zero = _mm256_setzero_ps();
    // With NORMAL, every lane the caller keeps is positive and normal: no subnormal scaling, no
    // ln(0).
    let (xs, kadj) = if NORMAL {
        (x, _mm256_set1_ps(127.0))
    } else {
        let sub = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(f32::MIN_POSITIVE));
        let bias = _mm256_set1_ps(s::LN_SUB_BIAS_F32);
        let xs = _mm256_blendv_ps(x, _mm256_sub_ps(_mm256_or_ps(x, bias), bias), sub);
        let kadj = _mm256_blendv_ps(
            _mm256_set1_ps(127.0),
            _mm256_set1_ps((127 + s::LN_SUB_K_F32) as f32),
            sub,
        );
        (xs, kadj)
    };
    let ix = _mm256_add_epi32(
        _mm256_castps_si256(xs),
        _mm256_set1_epi32(s::LN_OFF_F32 as i32),
    );
    let dk = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32::<23>(ix)), kadj);
    let m = _mm256_castsi256_ps(_mm256_add_epi32(
        _mm256_and_si256(ix, _mm256_set1_epi32(0x007f_ffff)),
        _mm256_set1_epi32(s::SQRT_HALF_BITS_F32 as i32),
    ));
    let f = _mm256_sub_ps(m, _mm256_set1_ps(1.0));
    let sv = _mm256_div_ps(f, _mm256_add_ps(_mm256_set1_ps(2.0), f));
    let z = _mm256_mul_ps(sv, sv);
    let w = _mm256_mul_ps(z, z);
    let lg = |i: usize| _mm256_set1_ps(s::LG_F32[i]);
    let t1 = _mm256_mul_ps(w, _mm256_fmadd_ps(w, lg(3), lg(1)));
    let t2 = _mm256_mul_ps(z, _mm256_fmadd_ps(w, lg(2), lg(0)));
    let rr = _mm256_add_ps(t2, t1);
    let hfsq = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5), f), f);
    let a = _mm256_fmadd_ps(
        sv,
        _mm256_add_ps(hfsq, rr),
        _mm256_mul_ps(dk, _mm256_set1_ps(s::LN_LN2_LO_F32)),
    );
    let y = _mm256_fmadd_ps(
        dk,
        _mm256_set1_ps(s::LN_LN2_HI_F32),
        _mm256_add_ps(_mm256_sub_ps(a, hfsq), f),
    );
    // The special values' masks are disjoint, so their order does not matter: ln(0) = -inf
    // first, as the only one inside [0, 1].
    let y = if NORMAL {
        y
    } else {
        _mm256_blendv_ps(
            y,
            _mm256_set1_ps(f32::NEG_INFINITY),
            _mm256_cmp_ps::<_CMP_EQ_OQ>(x, zero),
        )
    };
    if !ALL {
        return y;
    }
    let inf = _mm256_set1_ps(f32::INFINITY);
    let y = _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_EQ_OQ>(x, inf));
    let y = _mm256_blendv_ps(
        y,
        _mm256_set1_ps(f32::NAN),
        _mm256_cmp_ps::<_CMP_LT_OQ>(x, zero),
    );
    _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
}

/// ln on 4 lanes; bitwise equal to `math::ln_f64` per lane (`ALL` and `NORMAL` as in [`ln8`]).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn ln4d<const ALL: bool, const NORMAL: bool>(x: __m256d) -> __m256d {
    let zero = _mm256_setzero_pd();
    // With NORMAL, every lane the caller keeps is positive and normal: no subnormal scaling, no
    // ln(0).
    let (xs, kadj) = if NORMAL {
        (x, _mm256_set1_pd(1023.0))
    } else {
        let sub = _mm256_cmp_pd::<_CMP_LT_OQ>(x, _mm256_set1_pd(f64::MIN_POSITIVE));
        let bias = _mm256_set1_pd(s::LN_SUB_BIAS_F64);
        let xs = _mm256_blendv_pd(x, _mm256_sub_pd(_mm256_or_pd(x, bias), bias), sub);
        let kadj = _mm256_blendv_pd(
            _mm256_set1_pd(1023.0),
            _mm256_set1_pd((1023 + s::LN_SUB_K_F64) as f64),
            sub,
        );
        (xs, kadj)
    };
    let ix = _mm256_add_epi64(
        _mm256_castpd_si256(xs),
        _mm256_set1_epi64x(s::LN_OFF_F64 as i64),
    );
    // Biased exponent (< 2^12) to f64 exactly: bits of 2^52 + e, minus 2^52.
    let two52 = 4_503_599_627_370_496.0f64;
    let e = _mm256_castsi256_pd(_mm256_or_si256(
        _mm256_srli_epi64::<52>(ix),
        _mm256_set1_epi64x(two52.to_bits() as i64),
    ));
    let dk = _mm256_sub_pd(_mm256_sub_pd(e, _mm256_set1_pd(two52)), kadj);
    let m = _mm256_castsi256_pd(_mm256_add_epi64(
        _mm256_and_si256(ix, _mm256_set1_epi64x(0x000f_ffff_ffff_ffff)),
        _mm256_set1_epi64x(s::SQRT_HALF_BITS_F64 as i64),
    ));
    let f = _mm256_sub_pd(m, _mm256_set1_pd(1.0));
    let sv = _mm256_div_pd(f, _mm256_add_pd(_mm256_set1_pd(2.0), f));
    let z = _mm256_mul_pd(sv, sv);
    let w = _mm256_mul_pd(z, z);
    let lg = |i: usize| _mm256_set1_pd(s::LG_F64[i]);
    let t1 = _mm256_mul_pd(
        w,
        _mm256_fmadd_pd(w, _mm256_fmadd_pd(w, lg(5), lg(3)), lg(1)),
    );
    let t2 = _mm256_mul_pd(
        z,
        _mm256_fmadd_pd(
            w,
            _mm256_fmadd_pd(w, _mm256_fmadd_pd(w, lg(6), lg(4)), lg(2)),
            lg(0),
        ),
    );
    let rr = _mm256_add_pd(t2, t1);
    let hfsq = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), f), f);
    let a = _mm256_fmadd_pd(
        sv,
        _mm256_add_pd(hfsq, rr),
        _mm256_mul_pd(dk, _mm256_set1_pd(s::LN_LN2_LO_F64)),
    );
    let y = _mm256_fmadd_pd(
        dk,
        _mm256_set1_pd(s::LN_LN2_HI_F64),
        _mm256_add_pd(_mm256_sub_pd(a, hfsq), f),
    );
    // The special values' masks are disjoint, so their order does not matter: ln(0) = -inf
    // first, as the only one inside [0, 1].
    let y = if NORMAL {
        y
    } else {
        _mm256_blendv_pd(
            y,
            _mm256_set1_pd(f64::NEG_INFINITY),
            _mm256_cmp_pd::<_CMP_EQ_OQ>(x, zero),
        )
    };
    if !ALL {
        return y;
    }
    let inf = _mm256_set1_pd(f64::INFINITY);
    let y = _mm256_blendv_pd(y, x, _mm256_cmp_pd::<_CMP_EQ_OQ>(x, inf));
    let y = _mm256_blendv_pd(
        y,
        _mm256_set1_pd(f64::NAN),
        _mm256_cmp_pd::<_CMP_LT_OQ>(x, zero),
    );
    _mm256_blendv_pd(y, x, _mm256_cmp_pd::<_CMP_UNORD_Q>(x, x))
}
