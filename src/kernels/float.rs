//! The float trait the kernels are generic over (implemented for `f32` and `f64`).
//!
//! Scalar arithmetic comes from the operator traits; everything transcendental runs on vectors
//! ([`Lanes`]), so the trait only adds constants, conversions to and from `f64` (the accumulation
//! type of every reduction) and the type's vector on each instruction set.

use crate::simd::{Isa, Lanes};
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub};

/// A floating-point element type the kernels compute in.
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + MulAssign
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// The clamp floor of `log` in binary cross-entropy (-100, as in PyTorch).
    const LOG_FLOOR: Self;
    /// The denominator floor of the BCE gradient: `1e-12` rounded to f32 (PyTorch's constant).
    const BCE_GRAD_EPS: Self;
    /// The lower end of [`Lanes::exp_in_range`]'s domain `[EXP_IN_RANGE_LO, 0]`.
    const EXP_IN_RANGE_LO: Self;
    /// The smallest positive normal value.
    const MIN_POSITIVE: Self;
    /// [`Lanes::mul_tiny`]'s cap: values at or above it take the plain product.
    const TINY_E_MAX: Self;
    /// About `-ln(TINY_E_MAX)`: `exp(-t)` is below [`Real::TINY_E_MAX`] for larger `t`.
    const TINY_EXP_ARG: Self;

    /// This type's vector on instruction set `I`.
    type V<I: Isa>: Lanes<Self>;

    /// Rounds an `f64` to this type; a NaN becomes the canonical quiet NaN (sign bit clear),
    /// as every stored result must be ([`Lanes::canon_nan`]).
    fn from_f64(v: f64) -> Self;
    /// Widens to `f64` exactly.
    fn to_f64(self) -> f64;
    /// [`Lanes::mul_tiny`]'s hint for products by the factor `self`: the values below it give
    /// a subnormal operand or product, `MIN_POSITIVE / |self|` but at least `MIN_POSITIVE`, at
    /// most [`Real::TINY_E_MAX`].
    #[must_use]
    fn tiny_below(self) -> Self;
}

macro_rules! impl_real {
    ($t:ty, $v:ident, $lo:expr, $cap:expr, $cap_arg:expr) => {
        impl Real for $t {
            type V<I: Isa> = I::$v;

            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const INFINITY: Self = <$t>::INFINITY;
            const LOG_FLOOR: Self = -100.0;
            #[allow(clippy::cast_lossless)]
            const BCE_GRAD_EPS: Self = 1e-12_f32 as $t;
            const EXP_IN_RANGE_LO: Self = $lo;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const TINY_E_MAX: Self = $cap;
            const TINY_EXP_ARG: Self = $cap_arg;

            #[inline]
            #[allow(clippy::cast_lossless)]
            fn from_f64(v: f64) -> Self {
                if v.is_nan() {
                    <$t>::NAN
                } else {
                    v as $t
                }
            }
            #[inline]
            #[allow(clippy::cast_lossless)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn tiny_below(self) -> Self {
                (<$t>::MIN_POSITIVE / self.abs())
                    .max(<$t>::MIN_POSITIVE)
                    .min(Self::TINY_E_MAX)
            }
        }
    };
}

impl_real!(
    f32,
    F32,
    crate::simd::math::EXP_IN_RANGE_LO_F32,
    crate::simd::math::TINY_E_MAX_F32,
    41.588_83 // 60 ln 2
);
impl_real!(
    f64,
    F64,
    crate::simd::math::EXP_IN_RANGE_LO_F64,
    crate::simd::math::TINY_E_MAX_F64,
    623.832_462_503_950_8 // 900 ln 2
);
