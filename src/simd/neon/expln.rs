//! The NEON `exp`/`ln` kernels on one register (4×f32, 2×f64).
//!
//! Each is a lane-wise transcription of `math.rs` (same constants, same FMA and rounding
//! sequence), so results are bitwise equal to `math::exp_f32` etc.; see `math.rs` for the
//! algorithms and error bounds. NEON operand order: `vfmaq_f32(c, a, b) = c + a·b` (fused), so
//! `a.mul_add(b, c)` is written `vfmaq(c, a, b)`; `vbslq(m, a, b)` selects `a` where the mask is
//! set. NEON `vmax`/`vmin` propagate NaN (x86 does not), which in the `exp` clamp only affects
//! NaN lanes, and those are overwritten by the final select.
//!
//! The functions are `#[target_feature(enable = "neon")]` (NEON is part of the aarch64
//! baseline; see `neon.rs`), so the value intrinsics are safe to call inside them.

// Small exponent constants (< 2^11) as floats: exact.
#![allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
// Math notation, as in `math.rs`.
#![allow(clippy::many_single_char_names)]

use crate::simd::math as s;
use std::arch::aarch64::{
    float32x4_t, float64x2_t, vaddq_f32, vaddq_f64, vaddq_s32, vaddq_s64, vaddq_u32, vaddq_u64,
    vandq_u32, vandq_u64, vbslq_f32, vbslq_f64, vceqq_f32, vceqq_f64, vcgeq_f32, vcgeq_f64,
    vcltq_f32, vcltq_f64, vcvtq_f32_u32, vcvtq_f64_u64, vdivq_f32, vdivq_f64, vdupq_n_f32,
    vdupq_n_f64, vdupq_n_s32, vdupq_n_s64, vdupq_n_u32, vdupq_n_u64, vfmaq_f32, vfmaq_f64,
    vminq_f32, vminq_f64, vmulq_f32, vmulq_f64, vorrq_u32, vorrq_u64, vreinterpretq_f32_s32,
    vreinterpretq_f32_u32, vreinterpretq_f64_s64, vreinterpretq_f64_u64, vreinterpretq_s32_f32,
    vreinterpretq_s64_f64, vreinterpretq_u32_f32, vreinterpretq_u64_f64, vshlq_n_s32, vshlq_n_s64,
    vshrq_n_s32, vshrq_n_s64, vshrq_n_u32, vshrq_n_u64, vsubq_f32, vsubq_f64, vsubq_s32, vsubq_s64,
};

/// exp on 4 lanes; bitwise equal to `math::exp_f32` per lane.
///
/// With `IN_RANGE` the caller guarantees every lane is NaN or in `[math::EXP_IN_RANGE_LO_*, 0]`
/// (a row's `x - max` when its spread is small): the clamp is skipped and `2^k` (a normal number
/// there) scales `p` in one product, which rounds once, like the two-step product below, so the
/// bits are the same. Other lanes then get unspecified values.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn exp4<const IN_RANGE: bool>(x: float32x4_t) -> float32x4_t {
    // `live`: the lanes `math::exp_*` computes (x >= EXP_LO); the others (NaN included) run
    // exp(0) and are zeroed at the end, so no lane's product underflows.
    let live = vcgeq_f32(x, vdupq_n_f32(s::EXP_LO_F32));
    let zero = vdupq_n_f32(0.0);
    let xc = if IN_RANGE {
        x
    } else {
        vbslq_f32(live, vminq_f32(x, vdupq_n_f32(s::EXP_HI_F32)), zero)
    };
    let shift = vdupq_n_f32(s::SHIFT_F32);
    let t = vfmaq_f32(shift, xc, vdupq_n_f32(s::LOG2E_F32));
    let nk = vsubq_f32(shift, t);
    let r = vfmaq_f32(xc, nk, vdupq_n_f32(s::LN2_HI_F32));
    let r = vfmaq_f32(r, nk, vdupq_n_f32(s::LN2_LO_F32));
    let mut q = vdupq_n_f32(s::EXP_Q_F32[0]);
    for &c in &s::EXP_Q_F32[1..] {
        q = vfmaq_f32(vdupq_n_f32(c), q, r);
    }
    let one = vdupq_n_f32(1.0);
    let p = vfmaq_f32(one, vfmaq_f32(one, q, r), r);
    let k = vsubq_s32(
        vreinterpretq_s32_f32(t),
        vdupq_n_s32(s::SHIFT_F32.to_bits() as i32),
    );
    let bias = vdupq_n_s32(127);
    let y = if IN_RANGE {
        vmulq_f32(
            p,
            vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(k, bias))),
        )
    } else {
        let k1 = vshrq_n_s32::<1>(k);
        let k2 = vsubq_s32(k, k1);
        let s1 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(k1, bias)));
        let s2 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(k2, bias)));
        vbslq_f32(live, vmulq_f32(vmulq_f32(p, s1), s2), zero)
    };
    vbslq_f32(vceqq_f32(x, x), y, x)
}

/// exp on 2 lanes; bitwise equal to `math::exp_f64` per lane.
///
/// With `IN_RANGE` the caller guarantees every lane is NaN or in `[math::EXP_IN_RANGE_LO_*, 0]`
/// (a row's `x - max` when its spread is small): the clamp is skipped and `2^k` (a normal number
/// there) scales `p` in one product, which rounds once, like the two-step product below, so the
/// bits are the same. Other lanes then get unspecified values.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn exp2d<const IN_RANGE: bool>(x: float64x2_t) -> float64x2_t {
    // `live`: the lanes `math::exp_*` computes (x >= EXP_LO); the others (NaN included) run
    // exp(0) and are zeroed at the end, so no lane's product underflows.
    let live = vcgeq_f64(x, vdupq_n_f64(s::EXP_LO_F64));
    let zero = vdupq_n_f64(0.0);
    let xc = if IN_RANGE {
        x
    } else {
        vbslq_f64(live, vminq_f64(x, vdupq_n_f64(s::EXP_HI_F64)), zero)
    };
    let shift = vdupq_n_f64(s::SHIFT_F64);
    let t = vfmaq_f64(shift, xc, vdupq_n_f64(s::LOG2E_F64));
    let nk = vsubq_f64(shift, t);
    let r = vfmaq_f64(xc, nk, vdupq_n_f64(s::LN2_HI_F64));
    let r = vfmaq_f64(r, nk, vdupq_n_f64(s::LN2_LO_F64));
    let mut q = vdupq_n_f64(s::EXP_Q_F64[0]);
    for &c in &s::EXP_Q_F64[1..] {
        q = vfmaq_f64(vdupq_n_f64(c), q, r);
    }
    let one = vdupq_n_f64(1.0);
    let p = vfmaq_f64(one, vfmaq_f64(one, q, r), r);
    let k = vsubq_s64(
        vreinterpretq_s64_f64(t),
        vdupq_n_s64(s::SHIFT_F64.to_bits() as i64),
    );
    let bias = vdupq_n_s64(1023);
    let y = if IN_RANGE {
        vmulq_f64(
            p,
            vreinterpretq_f64_s64(vshlq_n_s64::<52>(vaddq_s64(k, bias))),
        )
    } else {
        let k1 = vshrq_n_s64::<1>(k);
        let k2 = vsubq_s64(k, k1);
        let s1 = vreinterpretq_f64_s64(vshlq_n_s64::<52>(vaddq_s64(k1, bias)));
        let s2 = vreinterpretq_f64_s64(vshlq_n_s64::<52>(vaddq_s64(k2, bias)));
        vbslq_f64(live, vmulq_f64(vmulq_f64(p, s1), s2), zero)
    };
    vbslq_f64(vceqq_f64(x, x), y, x)
}

/// ln on 4 lanes; bitwise equal to `math::ln_f32` per lane.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn ln4(x: float32x4_t) -> float32x4_t {
    let zero = vdupq_n_f32(0.0);
    let sub = vcltq_f32(x, vdupq_n_f32(f32::MIN_POSITIVE));
    let bias = vdupq_n_f32(s::LN_SUB_BIAS_F32);
    let biased = vreinterpretq_f32_u32(vorrq_u32(
        vreinterpretq_u32_f32(x),
        vreinterpretq_u32_f32(bias),
    ));
    let xs = vbslq_f32(sub, vsubq_f32(biased, bias), x);
    let kadj = vbslq_f32(
        sub,
        vdupq_n_f32((127 + s::LN_SUB_K_F32) as f32),
        vdupq_n_f32(127.0),
    );
    let ix = vaddq_u32(vreinterpretq_u32_f32(xs), vdupq_n_u32(s::LN_OFF_F32));
    let dk = vsubq_f32(vcvtq_f32_u32(vshrq_n_u32::<23>(ix)), kadj);
    let m = vreinterpretq_f32_u32(vaddq_u32(
        vandq_u32(ix, vdupq_n_u32(0x007f_ffff)),
        vdupq_n_u32(s::SQRT_HALF_BITS_F32),
    ));
    let f = vsubq_f32(m, vdupq_n_f32(1.0));
    let sv = vdivq_f32(f, vaddq_f32(vdupq_n_f32(2.0), f));
    let z = vmulq_f32(sv, sv);
    let w = vmulq_f32(z, z);
    let lg = |i: usize| vdupq_n_f32(s::LG_F32[i]);
    let t1 = vmulq_f32(w, vfmaq_f32(lg(1), w, lg(3)));
    let t2 = vmulq_f32(z, vfmaq_f32(lg(0), w, lg(2)));
    let rr = vaddq_f32(t2, t1);
    let hfsq = vmulq_f32(vmulq_f32(vdupq_n_f32(0.5), f), f);
    let a = vfmaq_f32(
        vmulq_f32(dk, vdupq_n_f32(s::LN_LN2_LO_F32)),
        sv,
        vaddq_f32(hfsq, rr),
    );
    let y = vfmaq_f32(
        vaddq_f32(vsubq_f32(a, hfsq), f),
        dk,
        vdupq_n_f32(s::LN_LN2_HI_F32),
    );
    let y = vbslq_f32(vceqq_f32(x, vdupq_n_f32(f32::INFINITY)), x, y);
    let y = vbslq_f32(vceqq_f32(x, zero), vdupq_n_f32(f32::NEG_INFINITY), y);
    let y = vbslq_f32(vcltq_f32(x, zero), vdupq_n_f32(f32::NAN), y);
    vbslq_f32(vceqq_f32(x, x), y, x)
}

/// ln on 2 lanes; bitwise equal to `math::ln_f64` per lane.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn ln2d(x: float64x2_t) -> float64x2_t {
    let zero = vdupq_n_f64(0.0);
    let sub = vcltq_f64(x, vdupq_n_f64(f64::MIN_POSITIVE));
    let bias = vdupq_n_f64(s::LN_SUB_BIAS_F64);
    let biased = vreinterpretq_f64_u64(vorrq_u64(
        vreinterpretq_u64_f64(x),
        vreinterpretq_u64_f64(bias),
    ));
    let xs = vbslq_f64(sub, vsubq_f64(biased, bias), x);
    let kadj = vbslq_f64(
        sub,
        vdupq_n_f64((1023 + s::LN_SUB_K_F64) as f64),
        vdupq_n_f64(1023.0),
    );
    let ix = vaddq_u64(vreinterpretq_u64_f64(xs), vdupq_n_u64(s::LN_OFF_F64));
    let dk = vsubq_f64(vcvtq_f64_u64(vshrq_n_u64::<52>(ix)), kadj);
    let m = vreinterpretq_f64_u64(vaddq_u64(
        vandq_u64(ix, vdupq_n_u64(0x000f_ffff_ffff_ffff)),
        vdupq_n_u64(s::SQRT_HALF_BITS_F64),
    ));
    let f = vsubq_f64(m, vdupq_n_f64(1.0));
    let sv = vdivq_f64(f, vaddq_f64(vdupq_n_f64(2.0), f));
    let z = vmulq_f64(sv, sv);
    let w = vmulq_f64(z, z);
    let lg = |i: usize| vdupq_n_f64(s::LG_F64[i]);
    let t1 = vmulq_f64(w, vfmaq_f64(lg(1), w, vfmaq_f64(lg(3), w, lg(5))));
    let t2 = vmulq_f64(
        z,
        vfmaq_f64(lg(0), w, vfmaq_f64(lg(2), w, vfmaq_f64(lg(4), w, lg(6)))),
    );
    let rr = vaddq_f64(t2, t1);
    let hfsq = vmulq_f64(vmulq_f64(vdupq_n_f64(0.5), f), f);
    let a = vfmaq_f64(
        vmulq_f64(dk, vdupq_n_f64(s::LN_LN2_LO_F64)),
        sv,
        vaddq_f64(hfsq, rr),
    );
    let y = vfmaq_f64(
        vaddq_f64(vsubq_f64(a, hfsq), f),
        dk,
        vdupq_n_f64(s::LN_LN2_HI_F64),
    );
    let y = vbslq_f64(vceqq_f64(x, vdupq_n_f64(f64::INFINITY)), x, y);
    let y = vbslq_f64(vceqq_f64(x, zero), vdupq_n_f64(f64::NEG_INFINITY), y);
    let y = vbslq_f64(vcltq_f64(x, zero), vdupq_n_f64(f64::NAN), y);
    vbslq_f64(vceqq_f64(x, x), y, x)
}
