//! The NEON path: 16×f32 as four `float32x4_t`, 8×f64 as four `float64x2_t` (aarch64 only).
//!
//! Every method reproduces [`Portable`](super::Portable) bit for bit. NEON's `vmaxq`/`vminq`
//! propagate NaN and order `-0 < +0`, unlike x86 `maxps` and the portable
//! `if a > b { a } else { b }`, so `max`/`min`/`reduce_max` are a compare (`vcgtq`/`vcltq`, false
//! for NaN and for `±0` pairs) and a bit select, giving the second operand in those cases, as on
//! x86. `abs` clears the sign bit with an integer AND (no NaN processing), `exp`/`ln` are the
//! lane-wise transcriptions of `math.rs` in `neon/expln.rs`, and partial loads/stores copy
//! through a stack array, so they never touch memory outside the slice.
//!
//! # Safety
//! NEON is part of the aarch64 baseline: every aarch64 target this crate builds for enables the
//! `neon` target feature (checked at compile time below), so a [`Neon`] value needs no run-time
//! check. Rust still requires an `unsafe` block to call a `#[target_feature(enable = "neon")]`
//! intrinsic from a function that does not itself list the feature, hence the `unsafe` blocks
//! below; loads and stores additionally stay within the slices they are given.

mod expln;

#[cfg(not(target_feature = "neon"))]
compile_error!("the NEON path requires an aarch64 target with the `neon` feature (the default)");

use super::lanes::{Isa, Lanes};
use super::Path;
use expln::{exp2d, exp4, ln2d, ln4};
use std::arch::aarch64::{
    float32x4_t, float64x2_t, uint32x4_t, uint64x2_t, vaddq_f32, vaddq_f64, vandq_u32, vandq_u64,
    vbslq_f32, vbslq_f64, vceqq_f32, vceqq_f64, vcgeq_f32, vcgeq_f64, vcgtq_f32, vcgtq_f64,
    vcleq_f32, vcleq_f64, vcltq_f32, vcltq_f64, vcvt_f64_f32, vcvt_high_f64_f32, vdivq_f32,
    vdivq_f64, vdupq_n_f32, vdupq_n_f64, vdupq_n_u32, vdupq_n_u64, vextq_f32, vfmaq_f32, vfmaq_f64,
    vget_low_f32, vgetq_lane_f32, vgetq_lane_f64, vld1q_f32, vld1q_f64, vmaxvq_u32, vminvq_u32,
    vmulq_f32, vmulq_f64, vmvnq_u32, vorrq_u32, vorrq_u64, vreinterpretq_f32_u32,
    vreinterpretq_f64_u64, vreinterpretq_u32_f32, vreinterpretq_u32_u64, vreinterpretq_u64_f64,
    vst1q_f32, vst1q_f64, vsubq_f32, vsubq_f64,
};

/// The NEON instruction set (baseline on aarch64; zero-sized, made by `dispatch_on`).
#[derive(Clone, Copy, Debug)]
pub struct Neon(());

impl Neon {
    /// NEON is mandatory on aarch64, so no check is needed.
    #[inline(always)]
    pub(super) fn new() -> Self {
        Neon(())
    }
}

impl Isa for Neon {
    const PATH: Path = Path::Neon;
    type F32 = F32x16;
    type F64 = F64x8;
}

/// 16 f32 lanes: register `j` holds lanes `4j..4j+4`.
#[derive(Clone, Copy, Debug)]
pub struct F32x16([float32x4_t; 4]);

/// 8 f64 lanes: register `j` holds lanes `2j..2j+2`.
#[derive(Clone, Copy, Debug)]
pub struct F64x8([float64x2_t; 4]);

// The helpers below are `#[inline(always)]` and only call NEON value intrinsics.
// SAFETY (all `unsafe` blocks in this file): NEON is enabled for the whole build (module docs),
// and every pointer access is within the slice or array it was derived from, as noted.

/// `a` where `a > b`, else `b` (the portable/x86 `max`).
#[inline(always)]
fn max_f32(a: float32x4_t, b: float32x4_t) -> float32x4_t {
    // SAFETY: NEON (module docs).
    unsafe { vbslq_f32(vcgtq_f32(a, b), a, b) }
}
/// `a` where `a < b`, else `b` (the portable/x86 `min`).
#[inline(always)]
fn min_f32(a: float32x4_t, b: float32x4_t) -> float32x4_t {
    // SAFETY: NEON (module docs).
    unsafe { vbslq_f32(vcltq_f32(a, b), a, b) }
}
/// `a` where `a > b`, else `b`.
#[inline(always)]
fn max_f64(a: float64x2_t, b: float64x2_t) -> float64x2_t {
    // SAFETY: NEON (module docs).
    unsafe { vbslq_f64(vcgtq_f64(a, b), a, b) }
}
/// `a` where `a < b`, else `b`.
#[inline(always)]
fn min_f64(a: float64x2_t, b: float64x2_t) -> float64x2_t {
    // SAFETY: NEON (module docs).
    unsafe { vbslq_f64(vcltq_f64(a, b), a, b) }
}
/// `|v|` by clearing the sign bit (no NaN processing).
#[inline(always)]
fn abs_f32(v: float32x4_t) -> float32x4_t {
    // SAFETY: NEON (module docs).
    unsafe {
        vreinterpretq_f32_u32(vandq_u32(
            vreinterpretq_u32_f32(v),
            vdupq_n_u32(0x7fff_ffff),
        ))
    }
}
/// `|v|` by clearing the sign bit (no NaN processing).
#[inline(always)]
fn abs_f64(v: float64x2_t) -> float64x2_t {
    // SAFETY: NEON (module docs).
    unsafe {
        let m = vdupq_n_u64(0x7fff_ffff_ffff_ffff);
        vreinterpretq_f64_u64(vandq_u64(vreinterpretq_u64_f64(v), m))
    }
}
/// All-ones lanes where `v` is NaN or outside `[0, 1]` (both compares are false for NaN).
#[inline(always)]
fn outside_f32(v: float32x4_t) -> uint32x4_t {
    // SAFETY: NEON (module docs).
    unsafe {
        vmvnq_u32(vandq_u32(
            vcgeq_f32(v, vdupq_n_f32(0.0)),
            vcleq_f32(v, vdupq_n_f32(1.0)),
        ))
    }
}
/// As [`outside_f32`], for f64 lanes (reinterpreted as u32 for the OR reduction).
#[inline(always)]
fn outside_f64(v: float64x2_t) -> uint32x4_t {
    // SAFETY: NEON (module docs).
    unsafe {
        let inside: uint64x2_t = vandq_u64(
            vcgeq_f64(v, vdupq_n_f64(0.0)),
            vcleq_f64(v, vdupq_n_f64(1.0)),
        );
        vmvnq_u32(vreinterpretq_u32_u64(inside))
    }
}
/// All-ones lanes where `v` is 0 (of either sign) or 1.
#[inline(always)]
fn binary_f32(v: float32x4_t) -> uint32x4_t {
    // SAFETY: NEON (module docs).
    unsafe {
        vorrq_u32(
            vceqq_f32(v, vdupq_n_f32(0.0)),
            vceqq_f32(v, vdupq_n_f32(1.0)),
        )
    }
}
/// As [`binary_f32`], for f64 lanes (reinterpreted as u32 for the AND reduction).
#[inline(always)]
fn binary_f64(v: float64x2_t) -> uint32x4_t {
    // SAFETY: NEON (module docs).
    unsafe {
        vreinterpretq_u32_u64(vorrq_u64(
            vceqq_f64(v, vdupq_n_f64(0.0)),
            vceqq_f64(v, vdupq_n_f64(1.0)),
        ))
    }
}

/// Implements the methods shared by both element types: the named operation applied to each of
/// the four registers (`$w` lanes each).
macro_rules! lanewise {
    ($t:ty, $v:ident, $n:literal, $w:literal, $add:ident, $sub:ident, $mul:ident, $div:ident,
     $fma:ident, $max:ident, $min:ident, $abs:ident, $bsl:ident, $cge:ident, $ceq:ident,
     $dup:ident, $ld:ident, $st:ident, $outside:ident, $binary:ident, $exp:ident, $ln:ident) => {
        const N: usize = $n;

        #[inline(always)]
        fn splat(v: $t) -> Self {
            // SAFETY: NEON (module docs).
            $v([unsafe { $dup(v) }; 4])
        }
        #[inline(always)]
        fn load(s: &[$t]) -> Self {
            let s = &s[..$n];
            // SAFETY: NEON (module docs); `s` holds N readable elements and register `j` reads
            // `s[W*j..W*j+W]`.
            unsafe { $v(std::array::from_fn(|j| $ld(s.as_ptr().add($w * j)))) }
        }
        #[inline(always)]
        fn load_partial(s: &[$t], fill: $t) -> Self {
            let mut a = [fill; $n];
            let k = s.len().min($n);
            a[..k].copy_from_slice(&s[..k]);
            Self::load(&a)
        }
        #[inline(always)]
        fn store(self, s: &mut [$t]) {
            let s = &mut s[..$n];
            let p = s.as_mut_ptr();
            for (j, &r) in self.0.iter().enumerate() {
                // SAFETY: NEON (module docs); `s` holds N writable elements and register `j`
                // writes `s[W*j..W*j+W]`.
                unsafe { $st(p.add($w * j), r) }
            }
        }
        #[inline(always)]
        fn store_partial(self, s: &mut [$t]) {
            let mut a = [0.0; $n];
            self.store(&mut a);
            let k = s.len().min($n);
            s[..k].copy_from_slice(&a[..k]);
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: NEON (module docs).
            unsafe { $v(std::array::from_fn(|j| $add(self.0[j], o.0[j]))) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: NEON (module docs).
            unsafe { $v(std::array::from_fn(|j| $sub(self.0[j], o.0[j]))) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            // SAFETY: NEON (module docs).
            unsafe { $v(std::array::from_fn(|j| $mul(self.0[j], o.0[j]))) }
        }
        #[inline(always)]
        fn div(self, o: Self) -> Self {
            // SAFETY: NEON (module docs).
            unsafe { $v(std::array::from_fn(|j| $div(self.0[j], o.0[j]))) }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: NEON (module docs). vfmaq(c, a, b) = c + a·b with one rounding.
            unsafe { $v(std::array::from_fn(|j| $fma(b.0[j], self.0[j], a.0[j]))) }
        }
        #[inline(always)]
        fn max(self, o: Self) -> Self {
            $v(std::array::from_fn(|j| $max(self.0[j], o.0[j])))
        }
        #[inline(always)]
        fn min(self, o: Self) -> Self {
            $v(std::array::from_fn(|j| $min(self.0[j], o.0[j])))
        }
        #[inline(always)]
        fn abs(self) -> Self {
            $v(self.0.map($abs))
        }
        #[inline(always)]
        fn select_nonneg(self, a: Self, b: Self) -> Self {
            // SAFETY: NEON (module docs). `>=` is false for NaN, which selects `b`.
            unsafe {
                let z = $dup(0.0);
                $v(std::array::from_fn(|j| {
                    $bsl($cge(self.0[j], z), a.0[j], b.0[j])
                }))
            }
        }
        #[inline(always)]
        fn canon_nan(self) -> Self {
            // SAFETY: NEON (module docs). `x == x` is false exactly for NaN.
            unsafe {
                let nan = $dup(<$t>::NAN);
                $v(std::array::from_fn(|j| {
                    $bsl($ceq(self.0[j], self.0[j]), self.0[j], nan)
                }))
            }
        }
        #[inline(always)]
        fn zero_where_zero(self, coef: Self) -> Self {
            // SAFETY: NEON (module docs). The result is +0, as in the portable path.
            unsafe {
                let z = $dup(0.0);
                $v(std::array::from_fn(|j| {
                    $bsl($ceq(coef.0[j], z), z, self.0[j])
                }))
            }
        }
        #[inline(always)]
        fn exp(self) -> Self {
            // SAFETY: NEON (module docs).
            unsafe { $v(self.0.map(|r| $exp::<false>(r))) }
        }
        #[inline(always)]
        fn exp_in_range(self) -> Self {
            // SAFETY: NEON (module docs).
            unsafe { $v(self.0.map(|r| $exp::<true>(r))) }
        }
        #[inline(always)]
        fn ln(self) -> Self {
            // SAFETY: NEON (module docs).
            unsafe { $v(self.0.map(|r| $ln(r))) }
        }
        #[inline(always)]
        fn any_outside_unit(self) -> bool {
            let [a, b, c, d] = self.0.map($outside);
            // SAFETY: NEON (module docs).
            unsafe { vmaxvq_u32(vorrq_u32(vorrq_u32(a, b), vorrq_u32(c, d))) != 0 }
        }
        #[inline(always)]
        fn all_zero_or_one(self) -> bool {
            let [a, b, c, d] = self.0.map($binary);
            // SAFETY: NEON (module docs).
            unsafe { vminvq_u32(vandq_u32(vandq_u32(a, b), vandq_u32(c, d))) != 0 }
        }
    };
}

impl Lanes<f32> for F32x16 {
    lanewise!(
        f32,
        F32x16,
        16,
        4,
        vaddq_f32,
        vsubq_f32,
        vmulq_f32,
        vdivq_f32,
        vfmaq_f32,
        max_f32,
        min_f32,
        abs_f32,
        vbslq_f32,
        vcgeq_f32,
        vceqq_f32,
        vdupq_n_f32,
        vld1q_f32,
        vst1q_f32,
        outside_f32,
        binary_f32,
        exp4,
        ln4
    );

    #[inline(always)]
    fn reduce_max(self) -> f32 {
        // The portable tree: lanes i/i+8 (registers 0/2, 1/3), i/i+4 (registers), i/i+2, 0/1,
        // the lower lane always first.
        let [r0, r1, r2, r3] = self.0;
        let m = max_f32(max_f32(r0, r2), max_f32(r1, r3));
        // SAFETY: NEON (module docs).
        let (a, b) = unsafe {
            let m = max_f32(m, vextq_f32::<2>(m, m));
            (vgetq_lane_f32::<0>(m), vgetq_lane_f32::<1>(m))
        };
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64; 16]) {
        for (j, &r) in self.0.iter().enumerate() {
            let p = acc[4 * j..4 * j + 4].as_mut_ptr();
            // SAFETY: NEON (module docs); `p` points at 4 elements of `acc`, read and written
            // as `p[0..2]` and `p[2..4]`.
            unsafe {
                vst1q_f64(p, vaddq_f64(vld1q_f64(p), vcvt_f64_f32(vget_low_f32(r))));
                let q = p.add(2);
                vst1q_f64(q, vaddq_f64(vld1q_f64(q), vcvt_high_f64_f32(r)));
            }
        }
    }
}

impl Lanes<f64> for F64x8 {
    lanewise!(
        f64,
        F64x8,
        8,
        2,
        vaddq_f64,
        vsubq_f64,
        vmulq_f64,
        vdivq_f64,
        vfmaq_f64,
        max_f64,
        min_f64,
        abs_f64,
        vbslq_f64,
        vcgeq_f64,
        vceqq_f64,
        vdupq_n_f64,
        vld1q_f64,
        vst1q_f64,
        outside_f64,
        binary_f64,
        exp2d,
        ln2d
    );

    #[inline(always)]
    fn reduce_max(self) -> f64 {
        // The portable tree: lanes i/i+4 (registers 0/2, 1/3), i/i+2 (registers), then 0/1,
        // the lower lane always first.
        let [r0, r1, r2, r3] = self.0;
        let m = max_f64(max_f64(r0, r2), max_f64(r1, r3));
        // SAFETY: NEON (module docs).
        let (a, b) = unsafe { (vgetq_lane_f64::<0>(m), vgetq_lane_f64::<1>(m)) };
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn add_to(self, acc: &mut [f64; 16]) {
        for (j, &r) in self.0.iter().enumerate() {
            let p = acc[2 * j..2 * j + 2].as_mut_ptr();
            // SAFETY: NEON (module docs); `p` points at 2 elements of `acc`.
            unsafe { vst1q_f64(p, vaddq_f64(vld1q_f64(p), r)) }
        }
    }
}
