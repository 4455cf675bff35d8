//! Scalar exp and ln: the reference definition every SIMD path reproduces bit for bit.
//!
//! Every vector path (`avx2.rs`, `avx512.rs`, `neon.rs`) performs exactly the
//! same sequence of IEEE-754 operations as the functions here (same
//! constants, same fused multiply-adds, same rounding points), so all paths
//! return bitwise-identical values. `f32::mul_add` / `f64::mul_add` are exact
//! fused multiply-adds (hardware or libm), matching `vfmadd` / `vfma`.
//!
//! # exp
//! Below `EXP_LO` (where the result is +0) and for NaN, a lane computes `exp(0)`
//! and takes +0 (NaN: `x` itself) at the end: computing an underflowing result
//! costs a microcode assist per lane on x86 without flush-to-zero (a row of
//! masked `-inf` logits ran 10x slower, a partial vector's `-inf` fill cost more
//! than a short row's arithmetic). Other lanes clamp `x` at `EXP_HI` (where the
//! result is already +inf), then `k = round(x·log2 e)` via the
//! `1.5·2^p` shifter trick (`t = fma(x, log2e, S)`, `k = t - S`), reduce
//! `r = x - k·ln2` with a two-constant (Cody–Waite) `ln2 = HI + LO` using FMA
//! (the first FMA is exact), so `|r| <= ln2/2 (1 + 2^-20)`. Then
//! `exp(r) ≈ 1 + r + r²·q(r)` with `q` a near-minimax (Chebyshev) polynomial:
//! degree 4 for f32 (total degree 6, relative error 1.1e-8 = 2^-26.5), degree
//! 9 for f64 (total degree 11, 1.6e-17 = 2^-55.8), evaluated by Horner with
//! FMA. Finally `2^k` is applied as two exact power-of-two factors
//! `2^(k>>1) · 2^(k-(k>>1))`, built by exponent-bit manipulation, so results
//! in the subnormal range are rounded only once and overflow gives +inf.
//! NaN inputs are returned unchanged. Measured error: <= 1 ULP (see tests).
//!
//! # ln
//! fdlibm / musl algorithm: scale subnormals up to normals (below), write
//! `x = m·2^k` with `m ∈ [√½, √2)` by integer arithmetic on the bits,
//! `f = m - 1` (exact), `s = f/(2+f)`, `R(s²)` the fdlibm Remez polynomial
//! (|error| < 2^-34.2 f32, 2^-58.5 f64), and
//! `ln x = k·ln2_hi + (f - hfsq + (s·(hfsq + R) + k·ln2_lo))`, `hfsq = f²/2`.
//! `ln(±0) = -inf`, `ln(x<0) = NaN`, `ln(+inf) = +inf`, `ln(NaN) = NaN`
//! (input returned), `ln(1) = +0` exactly. Measured error: <= 1 ULP.
//!
//! A subnormal `x = b·2^-149` (f32; `2^-1074` for f64) is scaled to `b = x·2^149` without a
//! multiply, which on x86 would read a subnormal and cost an assist: `b`'s bits OR-ed into
//! `2^23`'s give the float `2^23 + b`, and subtracting `2^23` leaves `b` exactly (f64: `2^52`).
//! Any exact power-of-two scaling gives the same `m` and `k`, so the bits are those of fdlibm's
//! `x·2^54` route.
//!
//! # Subnormal results on x86
//! A result below the smallest normal (`k <= -126` for f32, `-1022` for f64,
//! with `p < 1` at the boundary) rounds once, into the subnormal range, and on
//! x86 a multiply or `vscalef` that does so costs a microcode assist (about 20x
//! a normal multiply: a row with half its `x - max` in `[-104, -87]` took 10x
//! as long to log-softmax, 15x in f64 with `[-745, -708]`). The AVX2 and
//! AVX-512 paths compute those lanes instead as `m = p·2^(k + 149)`
//! (`k + 1074` for f64), which is exact and normal, and round `m` to an integer
//! by adding `2^23` (`2^52`) in its binade; the integer is the result's bit
//! pattern, the same bits as the single rounding above. NEON (ARM cores handle
//! subnormals in hardware) and the scalar reference keep the product.
//!
//! # Products of tiny values on x86
//! A product or quotient with a subnormal operand or result takes the same
//! assist (NumPy here: 5.8 ns per f32 element for `subnormal * 2^100`, 0.3 ns
//! for normal operands; sums, compares and conversions of subnormals are free).
//! Softmax's `e · (1/s)` of a subnormal or tiny exp is such a product, and so
//! are the binary losses' products of tiny probabilities and of `exp(-|x|)`
//! for large logits. On AVX2 and AVX-512 (elsewhere these are `mul`/`div`):
//!
//! **float32** widens: the product of two f32 is exact in f64 (48 bits, at
//! least `2^-298`), and converting it back rounds once, into the subnormal
//! range where it belongs. A quotient rounds twice (53 bits, then f32), which
//! is innocuous since `53 >= 2·24 + 2`. So `Lanes::mul_assist_free`,
//! `div_assist_free` and `mul_tiny`'s tiny vectors are the plain operation's
//! bits, at the cost of a few conversions.
//!
//! **float64** has no wider type. `Lanes::mul_tiny` forms `RN(e·a)` for lanes
//! with `0 < e < min(below, TINY_E_MAX)` and `|a|` 0 or in
//! `[TINY_A_MIN, TINY_A_MAX]` from normal numbers and integers:
//! - `A = e·2^1074`, exactly: a subnormal's bits are its value in units of
//!   `2^-1074`, read as a float by OR-ing them into `2^52` and subtracting
//!   `2^52`; a normal `e` gets 1074 added to its exponent field. `A` is an
//!   integer below `2^174`;
//! - `f = RN(A·|a|)` and `err = A·|a| - f`, exact by one FMA (`A` is an
//!   integer and `ulp(|a|) >= 2^-952`, so the product's low bits are
//!   representable, as normal numbers);
//! - `f >= 2^52`: the result is normal, and `f·2^-1074` is it, exactly (1074
//!   off `f`'s exponent field);
//! - otherwise the result is `RN_int(A·|a|)` units of `2^-1074`, which is its
//!   bit pattern. `f + 2^52` rounds `f` to an integer; that double rounding
//!   differs from the single one only when `f` is itself a tie (`ulp(f) <= 1/2`
//!   below `2^52`, so rounding to `f` cannot cross a midpoint without landing
//!   on it), and then the sign of `err` says which way the true product lies;
//! - the sign of `a` is OR-ed in last (rounding to nearest is symmetric).
//!
//! No product in this has a subnormal operand or result: the lanes a product
//! does not serve get 0 first, and powers of two go to exponent fields by
//! integer arithmetic. So the bits are those of the plain product for every
//! input, and `below` only chooses which lanes avoid the assist: kernels pass
//! `MIN_POSITIVE / |a|` (the exps whose products are subnormal), at least
//! `MIN_POSITIVE` (subnormal operands), capped at `TINY_E_MAX`. float64's
//! `mul_assist_free` and `div_assist_free` are still the plain operations.
//!
//! # exp on a known range
//! `Lanes::exp_in_range` serves arguments known to lie in
//! `[EXP_IN_RANGE_LO, 0]` (or NaN): there `k` is in `[-124, 0]` (f32) or
//! `[-1010, 0]` (f64), so the clamp is a no-op and `2^k` is a normal number;
//! `p · 2^k` in one product rounds once, exactly as the two-factor product
//! does, so the bits are those of the full exp with fewer operations.
//!
//! # Sums
//! The fixed summation order shared by all paths (see `kernels::rowops`):
//! element `i` to virtual lane `i % N` (16 for f32, 8 for f64), each vector of
//! terms widened to f64 and added to 16 f64 lane totals, then the pairwise
//! tree of [`tree16`].

#![allow(clippy::many_single_char_names)]
// math notation: x, t, r, k, p, q, f, s, z, w
// Integer <-> float bit manipulation below only touches small, range-checked
// values (exponents, shift counts), so these casts never lose information.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
#![allow(clippy::cast_sign_loss, clippy::cast_precision_loss)]
// Polynomial coefficients are copied verbatim from the generator / fdlibm.
#![allow(clippy::unreadable_literal, clippy::excessive_precision)]

/// Number of virtual accumulation lanes.
pub const LANES: usize = 16;

// ---- `Lanes::mul_tiny` bounds (see "Products of tiny values on x86") ----
/// `2^-60`: lanes at or above it take the plain product (f32 needs no cap; kernels use it to
/// skip the test for rows whose exps cannot be tiny).
pub const TINY_E_MAX_F32: f32 = pow2_f32(-60);
/// `2^-900`: lanes at or above it take the plain product (so `e·2^1074 < 2^174`).
pub const TINY_E_MAX_F64: f64 = pow2_f64(-900);
/// `2^-900`: a smaller nonzero `|a|` takes the plain product (so `A·|a|` has no bits below
/// `2^-952`).
pub const TINY_A_MIN_F64: f64 = pow2_f64(-900);
/// `2^800`: a larger `|a|` takes the plain product (so `A·|a| < 2^974`).
pub const TINY_A_MAX_F64: f64 = pow2_f64(800);

/// `2^k` for a normal exponent (`-126 <= k <= 127`), from its bits.
#[must_use]
pub(super) const fn pow2_f32(k: i32) -> f32 {
    assert!(-126 <= k && k <= 127);
    f32::from_bits(((k + 127) as u32) << 23)
}

/// `2^k` for a normal exponent (`-1022 <= k <= 1023`), from its bits.
#[must_use]
pub(super) const fn pow2_f64(k: i32) -> f64 {
    assert!(-1022 <= k && k <= 1023);
    f64::from_bits(((k + 1023) as u64) << 52)
}

// ---- f32 exp constants ----
pub(super) const EXP_LO_F32: f32 = -104.0;
pub(super) const EXP_HI_F32: f32 = 89.0;
/// `Lanes::exp_in_range` holds for `[EXP_IN_RANGE_LO_F32, 0]`: there `k = round(x log2 e)` is in
/// `[-124, 0]`, so `2^k` is a normal float and `p 2^k` needs no two-step scaling or clamp.
pub const EXP_IN_RANGE_LO_F32: f32 = -86.0;
pub(super) const LOG2E_F32: f32 = core::f32::consts::LOG2_E;
/// 1.5 * 2^23: adding it rounds to an integer (ties to even).
pub(super) const SHIFT_F32: f32 = 12_582_912.0;
pub(super) const LN2_HI_F32: f32 = core::f32::consts::LN_2;
pub(super) const LN2_LO_F32: f32 = -1.904_654_2e-9;
/// `q(r)` coefficients, highest degree first: exp(r) ≈ 1 + r + r²·q(r).
pub(super) const EXP_Q_F32: [f32; 5] = [
    1.392_621_3e-3,
    8.363_203e-3,
    4.166_655_6e-2,
    1.666_657_6e-1,
    0.5,
];

// ---- f64 exp constants ----
pub(super) const EXP_LO_F64: f64 = -746.0;
pub(super) const EXP_HI_F64: f64 = 710.0;
/// As [`EXP_IN_RANGE_LO_F32`] for f64: `k` in `[-1010, 0]`, `2^k` normal.
pub const EXP_IN_RANGE_LO_F64: f64 = -700.0;
pub(super) const LOG2E_F64: f64 = core::f64::consts::LOG2_E;
/// 1.5 * 2^52: adding it rounds to an integer (ties to even).
pub(super) const SHIFT_F64: f64 = 6_755_399_441_055_744.0;
pub(super) const LN2_HI_F64: f64 = core::f64::consts::LN_2;
pub(super) const LN2_LO_F64: f64 = 2.3190468138462996e-17;
pub(super) const EXP_Q_F64: [f64; 10] = [
    2.5100424157005067e-08,
    2.7620138719733994e-07,
    2.7557268378684192e-06,
    2.480152119021773e-05,
    0.00019841269863105968,
    0.0013888888917281794,
    0.008333333333330051,
    0.04166666666662399,
    0.16666666666666669,
    0.5000000000000001,
];

// ---- f32 ln constants (musl logf) ----
/// `2^23`, whose bits OR-ed with a subnormal's give `2^23 + x·2^149`.
pub(super) const LN_SUB_BIAS_F32: f32 = 8_388_608.0;
pub(super) const LN_SUB_K_F32: i32 = 149;
pub(super) const SQRT_HALF_BITS_F32: u32 = 0x3f35_04f3;
pub(super) const LN_OFF_F32: u32 = 0x3f80_0000 - SQRT_HALF_BITS_F32;
pub(super) const LN_LN2_HI_F32: f32 = f32::from_bits(0x3f31_7180);
pub(super) const LN_LN2_LO_F32: f32 = f32::from_bits(0x3717_f7d1);
pub(super) const LG_F32: [f32; 4] = [
    f32::from_bits(0x3f2a_aaaa),
    f32::from_bits(0x3ecc_ce13),
    f32::from_bits(0x3e91_e9ee),
    f32::from_bits(0x3e78_9e26),
];

// ---- f64 ln constants (fdlibm e_log.c) ----
/// `2^52`, whose bits OR-ed with a subnormal's give `2^52 + x·2^1074`.
pub(super) const LN_SUB_BIAS_F64: f64 = 4_503_599_627_370_496.0;
pub(super) const LN_SUB_K_F64: i64 = 1074;
pub(super) const SQRT_HALF_BITS_F64: u64 = 0x3fe6_a09e_667f_3bcd;
pub(super) const LN_OFF_F64: u64 = 0x3ff0_0000_0000_0000 - SQRT_HALF_BITS_F64;
pub(super) const LN_LN2_HI_F64: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
pub(super) const LN_LN2_LO_F64: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
pub(super) const LG_F64: [f64; 7] = [
    f64::from_bits(0x3fe5_5555_5555_5593),
    f64::from_bits(0x3fd9_9999_9997_fa04),
    f64::from_bits(0x3fd2_4924_9422_9359),
    f64::from_bits(0x3fcc_71c5_1d8e_78af),
    f64::from_bits(0x3fc7_4664_96cb_03de),
    f64::from_bits(0x3fc3_9a09_d078_c69f),
    f64::from_bits(0x3fc2_f112_df3e_5244),
];

/// exp(x) for one f32; the reference for all vector paths.
#[inline]
#[must_use]
pub fn exp_f32(x: f32) -> f32 {
    let live = x >= EXP_LO_F32; // false for NaN
    let xc = if live { x.min(EXP_HI_F32) } else { 0.0 };
    let t = xc.mul_add(LOG2E_F32, SHIFT_F32);
    let nk = SHIFT_F32 - t; // -k, exact
    let r = nk.mul_add(LN2_HI_F32, xc);
    let r = nk.mul_add(LN2_LO_F32, r);
    let mut q = EXP_Q_F32[0];
    for &c in &EXP_Q_F32[1..] {
        q = q.mul_add(r, c);
    }
    let p = q.mul_add(r, 1.0).mul_add(r, 1.0);
    let k = t.to_bits().wrapping_sub(SHIFT_F32.to_bits()) as i32;
    let k1 = k >> 1;
    let k2 = k - k1;
    let s1 = f32::from_bits(((k1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((k2 + 127) as u32) << 23);
    let y = p * s1 * s2;
    if live {
        y
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// exp(x) for one f64; the reference for all vector paths.
#[inline]
#[must_use]
pub fn exp_f64(x: f64) -> f64 {
    let live = x >= EXP_LO_F64; // false for NaN
    let xc = if live { x.min(EXP_HI_F64) } else { 0.0 };
    let t = xc.mul_add(LOG2E_F64, SHIFT_F64);
    let nk = SHIFT_F64 - t;
    let r = nk.mul_add(LN2_HI_F64, xc);
    let r = nk.mul_add(LN2_LO_F64, r);
    let mut q = EXP_Q_F64[0];
    for &c in &EXP_Q_F64[1..] {
        q = q.mul_add(r, c);
    }
    let p = q.mul_add(r, 1.0).mul_add(r, 1.0);
    let k = t.to_bits().wrapping_sub(SHIFT_F64.to_bits()) as i64;
    let k1 = k >> 1;
    let k2 = k - k1;
    let s1 = f64::from_bits(((k1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((k2 + 1023) as u64) << 52);
    let y = p * s1 * s2;
    if live {
        y
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// ln(x) for one f32; the reference for all vector paths.
#[inline]
#[must_use]
pub fn ln_f32(x: f32) -> f32 {
    let sub = x < f32::MIN_POSITIVE;
    let (xs, kadj) = if sub {
        let biased = f32::from_bits(x.to_bits() | LN_SUB_BIAS_F32.to_bits());
        (biased - LN_SUB_BIAS_F32, 127 + LN_SUB_K_F32)
    } else {
        (x, 127)
    };
    let ix = xs.to_bits().wrapping_add(LN_OFF_F32);
    let dk = ((ix >> 23) as i32 - kadj) as f32;
    let m = f32::from_bits((ix & 0x007f_ffff) + SQRT_HALF_BITS_F32);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(LG_F32[3], LG_F32[1]);
    let t2 = z * w.mul_add(LG_F32[2], LG_F32[0]);
    let rr = t2 + t1;
    let hfsq = 0.5 * f * f;
    let a = s.mul_add(hfsq + rr, dk * LN_LN2_LO_F32);
    let y = dk.mul_add(LN_LN2_HI_F32, (a - hfsq) + f);
    if x.is_nan() {
        x
    } else if x < 0.0 {
        f32::NAN
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        y
    }
}

/// ln(x) for one f64; the reference for all vector paths.
#[inline]
#[must_use]
pub fn ln_f64(x: f64) -> f64 {
    let sub = x < f64::MIN_POSITIVE;
    let (xs, kadj) = if sub {
        let biased = f64::from_bits(x.to_bits() | LN_SUB_BIAS_F64.to_bits());
        (biased - LN_SUB_BIAS_F64, 1023 + LN_SUB_K_F64)
    } else {
        (x, 1023)
    };
    let ix = xs.to_bits().wrapping_add(LN_OFF_F64);
    let dk = ((ix >> 52) as i64 - kadj) as f64;
    let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff) + SQRT_HALF_BITS_F64);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(w.mul_add(LG_F64[5], LG_F64[3]), LG_F64[1]);
    let t2 = z * w.mul_add(
        w.mul_add(w.mul_add(LG_F64[6], LG_F64[4]), LG_F64[2]),
        LG_F64[0],
    );
    let rr = t2 + t1;
    let hfsq = 0.5 * f * f;
    let a = s.mul_add(hfsq + rr, dk * LN_LN2_LO_F64);
    let y = dk.mul_add(LN_LN2_HI_F64, (a - hfsq) + f);
    if x.is_nan() {
        x
    } else if x < 0.0 {
        f64::NAN
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY {
        x
    } else {
        y
    }
}

/// Fixed pairwise reduction of the 16 f64 lane totals shared by all paths:
/// fold the upper half onto the lower half (8, 4, 2, 1 lanes).
#[inline]
#[must_use]
pub fn tree16(t: &[f64; LANES]) -> f64 {
    let a: [f64; 8] = core::array::from_fn(|j| t[j] + t[j + 8]);
    let b: [f64; 4] = core::array::from_fn(|j| a[j] + a[j + 4]);
    let c: [f64; 2] = core::array::from_fn(|j| b[j] + b[j + 2]);
    c[0] + c[1]
}
