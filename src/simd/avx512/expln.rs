//! The AVX-512F `exp`/`ln` kernels on one register (16×f32, 8×f64).
//!
//! Each is a lane-wise transcription of `math.rs` (same constants, same FMA and rounding
//! sequence), so results are bitwise equal to `math::exp_f32` etc.; see `math.rs` for the
//! algorithms and error bounds. Only AVX-512F instructions are used (no DQ/VL): the i64→f64
//! exponent conversion uses the exact `2^52` magic-number trick.

// Bit patterns reinterpreted as i32/i64 and small exponent constants (< 2^11) as floats: exact.
#![allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
// Math notation, as in `math.rs`.
#![allow(clippy::many_single_char_names)]

use crate::simd::math as s;
use std::arch::x86_64::{
    __m512, __m512d, _mm512_add_epi32, _mm512_add_epi64, _mm512_add_pd, _mm512_add_ps,
    _mm512_and_si512, _mm512_castpd_si512, _mm512_castps_si512, _mm512_castsi512_pd,
    _mm512_castsi512_ps, _mm512_cmp_pd_mask, _mm512_cmp_ps_mask, _mm512_cvtepi32_ps, _mm512_div_pd,
    _mm512_div_ps, _mm512_fmadd_pd, _mm512_fmadd_ps, _mm512_mask_blend_pd, _mm512_mask_blend_ps,
    _mm512_mask_cmp_pd_mask, _mm512_mask_cmp_ps_mask, _mm512_mask_mov_pd, _mm512_mask_mov_ps,
    _mm512_maskz_mov_pd, _mm512_maskz_mov_ps, _mm512_maskz_scalef_pd, _mm512_maskz_scalef_ps,
    _mm512_min_pd, _mm512_min_ps, _mm512_mul_pd, _mm512_mul_ps, _mm512_or_si512, _mm512_set1_epi32,
    _mm512_set1_epi64, _mm512_set1_pd, _mm512_set1_ps, _mm512_setzero_pd, _mm512_setzero_ps,
    _mm512_srli_epi32, _mm512_srli_epi64, _mm512_sub_epi32, _mm512_sub_epi64, _mm512_sub_pd,
    _mm512_sub_ps, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_LT_OQ, _CMP_UNORD_Q,
};

/// exp on 16 lanes; bitwise equal to `math::exp_f32` per lane.
///
/// With `IN_RANGE` the caller guarantees every lane is NaN or in `[math::EXP_IN_RANGE_LO_*, 0]`
/// (a row's `x - max` when its spread is small): the clamp is skipped. Other lanes then get
/// unspecified values. `2^k` is applied by `vscalef` (see the body), but for the results below
/// the smallest normal, which only the full range has: those are rounded by integer arithmetic
/// (`math`'s header, "Subnormal results on x86").
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn exp16<const IN_RANGE: bool>(x: __m512) -> __m512 {
    // `live`: the lanes `math::exp_*` computes (x >= EXP_LO); the others (NaN included) run
    // exp(0) and take +0 from the masked `vscalef` below, which then never underflows.
    let (xc, live) = if IN_RANGE {
        (x, 0xffff)
    } else {
        let live = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(s::EXP_LO_F32));
        let xc = _mm512_min_ps(x, _mm512_set1_ps(s::EXP_HI_F32));
        (_mm512_maskz_mov_ps(live, xc), live)
    };
    let shift = _mm512_set1_ps(s::SHIFT_F32);
    let t = _mm512_fmadd_ps(xc, _mm512_set1_ps(s::LOG2E_F32), shift);
    // `k = t - S` (exact), and `r = x - k ln2` as `fma(k, -HI, x)`: the same bits as the
    // portable `fma(-k, HI, x)`, since negating a factor is exact.
    let k = _mm512_sub_ps(t, shift);
    let r = _mm512_fmadd_ps(k, _mm512_set1_ps(-s::LN2_HI_F32), xc);
    let r = _mm512_fmadd_ps(k, _mm512_set1_ps(-s::LN2_LO_F32), r);
    let mut q = _mm512_set1_ps(s::EXP_Q_F32[0]);
    for &c in &s::EXP_Q_F32[1..] {
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(c));
    }
    let one = _mm512_set1_ps(1.0);
    let p = _mm512_fmadd_ps(_mm512_fmadd_ps(q, r, one), r, one);
    // `p 2^k` rounded once (`vscalefps`), which is what the portable `p 2^k1 2^k2` computes
    // (its first product is exact), in one instruction, with or without `IN_RANGE`.
    let y = if IN_RANGE {
        _mm512_maskz_scalef_ps(live, p, k)
    } else {
        // Results below 2^-126 by integer rounding, not by `vscalef` (see `math`): candidates
        // k <= -126, of which those with `p 2^(k + 149)` (exact) below 2^23.
        let cand = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(live, k, _mm512_set1_ps(-125.0));
        if cand == 0 {
            _mm512_maskz_scalef_ps(live, p, k)
        } else {
            let two23 = _mm512_set1_ps(8_388_608.0);
            let m = _mm512_maskz_scalef_ps(cand, p, _mm512_add_ps(k, _mm512_set1_ps(149.0)));
            let sub = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(cand, m, two23);
            let y = _mm512_maskz_scalef_ps(live & !sub, p, k);
            let n = _mm512_sub_epi32(
                _mm512_castps_si512(_mm512_add_ps(m, two23)),
                _mm512_castps_si512(two23),
            );
            _mm512_mask_mov_ps(y, sub, _mm512_castsi512_ps(n))
        }
    };
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), y, x)
}

/// exp on 8 lanes; bitwise equal to `math::exp_f64` per lane.
///
/// With `IN_RANGE` the caller guarantees every lane is NaN or in `[math::EXP_IN_RANGE_LO_*, 0]`
/// (a row's `x - max` when its spread is small): the clamp is skipped. Other lanes then get
/// unspecified values. `2^k` is applied by `vscalef` (see the body), but for the results below
/// the smallest normal, which only the full range has: those are rounded by integer arithmetic
/// (`math`'s header, "Subnormal results on x86").
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn exp8d<const IN_RANGE: bool>(x: __m512d) -> __m512d {
    // `live`: the lanes `math::exp_*` computes (x >= EXP_LO); the others (NaN included) run
    // exp(0) and take +0 from the masked `vscalef` below, which then never underflows.
    let (xc, live) = if IN_RANGE {
        (x, 0xff)
    } else {
        let live = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, _mm512_set1_pd(s::EXP_LO_F64));
        let xc = _mm512_min_pd(x, _mm512_set1_pd(s::EXP_HI_F64));
        (_mm512_maskz_mov_pd(live, xc), live)
    };
    let shift = _mm512_set1_pd(s::SHIFT_F64);
    let t = _mm512_fmadd_pd(xc, _mm512_set1_pd(s::LOG2E_F64), shift);
    // As in `exp16`: `k = t - S`, `r = fma(k, -HI, x)`, and `p 2^k` by `vscalefpd`.
    let k = _mm512_sub_pd(t, shift);
    let r = _mm512_fmadd_pd(k, _mm512_set1_pd(-s::LN2_HI_F64), xc);
    let r = _mm512_fmadd_pd(k, _mm512_set1_pd(-s::LN2_LO_F64), r);
    let mut q = _mm512_set1_pd(s::EXP_Q_F64[0]);
    for &c in &s::EXP_Q_F64[1..] {
        q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(c));
    }
    let one = _mm512_set1_pd(1.0);
    let p = _mm512_fmadd_pd(_mm512_fmadd_pd(q, r, one), r, one);
    let y = if IN_RANGE {
        _mm512_maskz_scalef_pd(live, p, k)
    } else {
        // Results below 2^-1022 by integer rounding, as in `exp16`.
        let cand = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(live, k, _mm512_set1_pd(-1021.0));
        if cand == 0 {
            _mm512_maskz_scalef_pd(live, p, k)
        } else {
            let two52 = _mm512_set1_pd(4_503_599_627_370_496.0);
            let m = _mm512_maskz_scalef_pd(cand, p, _mm512_add_pd(k, _mm512_set1_pd(1074.0)));
            let sub = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(cand, m, two52);
            let y = _mm512_maskz_scalef_pd(live & !sub, p, k);
            let n = _mm512_sub_epi64(
                _mm512_castpd_si512(_mm512_add_pd(m, two52)),
                _mm512_castpd_si512(two52),
            );
            _mm512_mask_mov_pd(y, sub, _mm512_castsi512_pd(n))
        }
    };
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_UNORD_Q>(x, x), y, x)
}

/// ln on 16 lanes; bitwise equal to `math::ln_f32` per lane. Without `ALL` (`Lanes::ln_finite`)
/// that holds for finite non-negative lanes only: +inf, negative and NaN lanes skip their fix-ups.
/// With `NORMAL` as well (`Lanes::ln_normal`), for positive normal lanes only: subnormals and 0
/// skip theirs too.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn ln16<const ALL: bool, const NORMAL: bool>(x: __m512) -> __m512 {
    let zero = _mm512_setzero_ps();
    // With NORMAL, every lane the caller keeps is positive and normal: no subnormal scaling, no
    // ln(0).
    let (xs, kadj) = if NORMAL {
        (x, _mm512_set1_ps(127.0))
    } else {
        let sub = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_set1_ps(f32::MIN_POSITIVE));
        let bias = _mm512_set1_ps(s::LN_SUB_BIAS_F32);
        let biased = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(x),
            _mm512_castps_si512(bias),
        ));
        let xs = _mm512_mask_blend_ps(sub, x, _mm512_sub_ps(biased, bias));
        let kadj = _mm512_mask_blend_ps(
            sub,
            _mm512_set1_ps(127.0),
            _mm512_set1_ps((127 + s::LN_SUB_K_F32) as f32),
        );
        (xs, kadj)
    };
    let ix = _mm512_add_epi32(
        _mm512_castps_si512(xs),
        _mm512_set1_epi32(s::LN_OFF_F32 as i32),
    );
    let dk = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<23>(ix)), kadj);
    let m = _mm512_castsi512_ps(_mm512_add_epi32(
        _mm512_and_si512(ix, _mm512_set1_epi32(0x007f_ffff)),
        _mm512_set1_epi32(s::SQRT_HALF_BITS_F32 as i32),
    ));
    let f = _mm512_sub_ps(m, _mm512_set1_ps(1.0));
    let sv = _mm512_div_ps(f, _mm512_add_ps(_mm512_set1_ps(2.0), f));
    let z = _mm512_mul_ps(sv, sv);
    let w = _mm512_mul_ps(z, z);
    let lg = |i: usize| _mm512_set1_ps(s::LG_F32[i]);
    let t1 = _mm512_mul_ps(w, _mm512_fmadd_ps(w, lg(3), lg(1)));
    let t2 = _mm512_mul_ps(z, _mm512_fmadd_ps(w, lg(2), lg(0)));
    let rr = _mm512_add_ps(t2, t1);
    let hfsq = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5), f), f);
    let a = _mm512_fmadd_ps(
        sv,
        _mm512_add_ps(hfsq, rr),
        _mm512_mul_ps(dk, _mm512_set1_ps(s::LN_LN2_LO_F32)),
    );
    let y = _mm512_fmadd_ps(
        dk,
        _mm512_set1_ps(s::LN_LN2_HI_F32),
        _mm512_add_ps(_mm512_sub_ps(a, hfsq), f),
    );
    // The special values' masks are disjoint, so their order does not matter: ln(0) = -inf
    // first, as the only one inside [0, 1].
    let y = if NORMAL {
        y
    } else {
        _mm512_mask_blend_ps(
            _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, zero),
            y,
            _mm512_set1_ps(f32::NEG_INFINITY),
        )
    };
    if !ALL {
        return y;
    }
    let inf = _mm512_set1_ps(f32::INFINITY);
    let y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, inf), y, x);
    let y = _mm512_mask_blend_ps(
        _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, zero),
        y,
        _mm512_set1_ps(f32::NAN),
    );
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), y, x)
}

/// ln on 8 lanes; bitwise equal to `math::ln_f64` per lane (`ALL` and `NORMAL` as in [`ln16`]).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn ln8d<const ALL: bool, const NORMAL: bool>(x: __m512d) -> __m512d {
    let zero = _mm512_setzero_pd();
    // With NORMAL, every lane the caller keeps is positive and normal: no subnormal scaling, no
    // ln(0).
    let (xs, kadj) = if NORMAL {
        (x, _mm512_set1_pd(1023.0))
    } else {
        let sub = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_set1_pd(f64::MIN_POSITIVE));
        let bias = _mm512_set1_pd(s::LN_SUB_BIAS_F64);
        let biased = _mm512_castsi512_pd(_mm512_or_si512(
            _mm512_castpd_si512(x),
            _mm512_castpd_si512(bias),
        ));
        let xs = _mm512_mask_blend_pd(sub, x, _mm512_sub_pd(biased, bias));
        let kadj = _mm512_mask_blend_pd(
            sub,
            _mm512_set1_pd(1023.0),
            _mm512_set1_pd((1023 + s::LN_SUB_K_F64) as f64),
        );
        (xs, kadj)
    };
    let ix = _mm512_add_epi64(
        _mm512_castpd_si512(xs),
        _mm512_set1_epi64(s::LN_OFF_F64 as i64),
    );
    // Biased exponent (< 2^12) to f64 exactly: bits of 2^52 + e, minus 2^52.
    let two52 = 4_503_599_627_370_496.0f64;
    let e = _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_srli_epi64::<52>(ix),
        _mm512_set1_epi64(two52.to_bits() as i64),
    ));
    let dk = _mm512_sub_pd(_mm512_sub_pd(e, _mm512_set1_pd(two52)), kadj);
    let m = _mm512_castsi512_pd(_mm512_add_epi64(
        _mm512_and_si512(ix, _mm512_set1_epi64(0x000f_ffff_ffff_ffff)),
        _mm512_set1_epi64(s::SQRT_HALF_BITS_F64 as i64),
    ));
    let f = _mm512_sub_pd(m, _mm512_set1_pd(1.0));
    let sv = _mm512_div_pd(f, _mm512_add_pd(_mm512_set1_pd(2.0), f));
    let z = _mm512_mul_pd(sv, sv);
    let w = _mm512_mul_pd(z, z);
    let lg = |i: usize| _mm512_set1_pd(s::LG_F64[i]);
    let t1 = _mm512_mul_pd(
        w,
        _mm512_fmadd_pd(w, _mm512_fmadd_pd(w, lg(5), lg(3)), lg(1)),
    );
    let t2 = _mm512_mul_pd(
        z,
        _mm512_fmadd_pd(
            w,
            _mm512_fmadd_pd(w, _mm512_fmadd_pd(w, lg(6), lg(4)), lg(2)),
            lg(0),
        ),
    );
    let rr = _mm512_add_pd(t2, t1);
    let hfsq = _mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(0.5), f), f);
    let a = _mm512_fmadd_pd(
        sv,
        _mm512_add_pd(hfsq, rr),
        _mm512_mul_pd(dk, _mm512_set1_pd(s::LN_LN2_LO_F64)),
    );
    let y = _mm512_fmadd_pd(
        dk,
        _mm512_set1_pd(s::LN_LN2_HI_F64),
        _mm512_add_pd(_mm512_sub_pd(a, hfsq), f),
    );
    // The special values' masks are disjoint, so their order does not matter: ln(0) = -inf
    // first, as the only one inside [0, 1].
    let y = if NORMAL {
        y
    } else {
        _mm512_mask_blend_pd(
            _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, zero),
            y,
            _mm512_set1_pd(f64::NEG_INFINITY),
        )
    };
    if !ALL {
        return y;
    }
    let inf = _mm512_set1_pd(f64::INFINITY);
    let y = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, inf), y, x);
    let y = _mm512_mask_blend_pd(
        _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, zero),
        y,
        _mm512_set1_pd(f64::NAN),
    );
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_UNORD_Q>(x, x), y, x)
}
