//! The portable path: lanes as plain arrays, operations as scalar loops over them.
//!
//! This is the fallback on CPUs without AVX2/AVX-512/NEON and the executable definition of what
//! every other path must reproduce bit for bit (`exp`/`ln` come from `math.rs`, `mul_add` is an
//! exact fused multiply-add).

use super::lanes::{Isa, Lanes};
use super::math;
use super::Path;

/// The portable instruction set (always available).
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

impl Isa for Portable {
    const PATH: Path = Path::Scalar;
    type F32 = Arr<f32, 16>;
    type F64 = Arr<f64, 8>;
}

/// `N` lanes held in an array.
#[derive(Clone, Copy, Debug)]
pub struct Arr<T, const N: usize>(pub [T; N]);

macro_rules! impl_lanes {
    ($t:ty, $n:literal, $exp:path, $ln:path) => {
        impl Arr<$t, $n> {
            #[inline(always)]
            fn map(self, f: impl Fn($t) -> $t) -> Self {
                Arr(self.0.map(f))
            }
            #[inline(always)]
            fn zip(self, o: Self, f: impl Fn($t, $t) -> $t) -> Self {
                Arr(std::array::from_fn(|i| f(self.0[i], o.0[i])))
            }
        }

        impl Lanes<$t> for Arr<$t, $n> {
            const N: usize = $n;

            #[inline(always)]
            fn splat(v: $t) -> Self {
                Arr([v; $n])
            }
            #[inline(always)]
            fn load(s: &[$t]) -> Self {
                let mut a = [0.0; $n];
                a.copy_from_slice(&s[..$n]);
                Arr(a)
            }
            #[inline(always)]
            fn load_partial(s: &[$t], fill: $t) -> Self {
                let mut a = [fill; $n];
                let k = s.len().min($n);
                a[..k].copy_from_slice(&s[..k]);
                Arr(a)
            }
            #[inline(always)]
            fn store(self, s: &mut [$t]) {
                s[..$n].copy_from_slice(&self.0);
            }
            #[inline(always)]
            fn store_partial(self, s: &mut [$t]) {
                let k = s.len().min($n);
                s[..k].copy_from_slice(&self.0[..k]);
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.zip(o, |a, b| a + b)
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.zip(o, |a, b| a - b)
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self.zip(o, |a, b| a * b)
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self.zip(o, |a, b| a / b)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                Arr(std::array::from_fn(|i| self.0[i].mul_add(a.0[i], b.0[i])))
            }
            #[inline(always)]
            fn max(self, o: Self) -> Self {
                // x86's maxps: the first operand when it is greater, else the second.
                self.zip(o, |a, b| if a > b { a } else { b })
            }
            #[inline(always)]
            fn min(self, o: Self) -> Self {
                self.zip(o, |a, b| if a < b { a } else { b })
            }
            #[inline(always)]
            fn abs(self) -> Self {
                self.map(<$t>::abs)
            }
            #[inline(always)]
            fn select_nonneg(self, a: Self, b: Self) -> Self {
                Arr(std::array::from_fn(|i| {
                    if self.0[i] >= 0.0 {
                        a.0[i]
                    } else {
                        b.0[i]
                    }
                }))
            }
            #[inline(always)]
            fn canon_nan(self) -> Self {
                self.map(|v| if v.is_nan() { <$t>::NAN } else { v })
            }
            #[inline(always)]
            fn zero_where_zero(self, coef: Self) -> Self {
                self.zip(coef, |v, c| if c == 0.0 { 0.0 } else { v })
            }
            #[inline(always)]
            fn exp(self) -> Self {
                self.map($exp)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                self.map($ln)
            }
            #[inline(always)]
            fn reduce_max(self) -> $t {
                let mut v = self.0;
                let mut half = $n / 2;
                while half > 0 {
                    for i in 0..half {
                        v[i] = if v[i] > v[i + half] {
                            v[i]
                        } else {
                            v[i + half]
                        };
                    }
                    half /= 2;
                }
                v[0]
            }
            #[inline(always)]
            fn add_to(self, acc: &mut [f64; 16]) {
                for (a, &v) in acc.iter_mut().zip(&self.0) {
                    *a += f64::from(v);
                }
            }
            #[inline(always)]
            fn any_outside_unit(self) -> bool {
                self.0
                    .iter()
                    .fold(false, |bad, &v| bad | !((0.0..=1.0).contains(&v)))
            }
            #[inline(always)]
            fn all_zero_or_one(self) -> bool {
                self.0
                    .iter()
                    .fold(true, |all, &v| all & (v == 0.0 || v == 1.0))
            }
        }
    };
}

impl_lanes!(f32, 16, math::exp_f32, math::ln_f32);
impl_lanes!(f64, 8, math::exp_f64, math::ln_f64);
