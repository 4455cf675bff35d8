//! The float trait the kernels are generic over (implemented for `f32` and `f64`).
//!
//! Only the operations the kernels need: `exp`/`ln` are the scalar references of `simd::math`
//! (the same bits as every vector path, on every platform), `ln_1p` is the platform's, and conversions to and from `f64` (the
//! accumulation type of every reduction).

use crate::simd::{math, Isa, Lanes};
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub};

/// A floating-point element type the kernels compute in.
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
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
    /// A quiet NaN.
    const NAN: Self;
    /// The clamp floor of `log` in binary cross-entropy (-100, as in PyTorch).
    const LOG_FLOOR: Self;
    /// The denominator floor of the BCE gradient: `1e-12` rounded to f32 (PyTorch's constant).
    const BCE_GRAD_EPS: Self;

    /// This type's vector on instruction set `I`.
    type V<I: Isa>: Lanes<Self>;

    /// `e^self`.
    #[must_use]
    fn exp(self) -> Self;
    /// Natural logarithm.
    #[must_use]
    fn ln(self) -> Self;
    /// `ln(1 + self)`, accurate near 0.
    #[must_use]
    fn ln_1p(self) -> Self;
    /// Rounds an `f64` to this type.
    fn from_f64(v: f64) -> Self;
    /// Widens to `f64` exactly.
    fn to_f64(self) -> f64;
    /// True for NaN.
    fn is_nan(self) -> bool;

    /// The larger of two values where NaN is ignored unless both are NaN (like `f64::max`).
    #[inline]
    #[must_use]
    fn max_ignore_nan(self, other: Self) -> Self {
        if other > self || self.is_nan() {
            other
        } else {
            self
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $v:ident, $exp:path, $ln:path) => {
        impl Real for $t {
            type V<I: Isa> = I::$v;

            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const NAN: Self = <$t>::NAN;
            const LOG_FLOOR: Self = -100.0;
            #[allow(clippy::cast_lossless)]
            const BCE_GRAD_EPS: Self = 1e-12_f32 as $t;

            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            #[allow(clippy::cast_lossless)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            #[allow(clippy::cast_lossless)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}

impl_real!(f32, F32, math::exp_f32, math::ln_f32);
impl_real!(f64, F64, math::exp_f64, math::ln_f64);
