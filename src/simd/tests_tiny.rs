//! `Lanes::mul_tiny` gives the bits of the plain product on every path, for every input: exps
//! and other tiny values (every subnormal exponent, normals up to past the route's cap) times
//! softmax-like factors, large, negative, zero, subnormal, infinite and NaN factors, under the
//! kernels' `below` hint and under hints that send every or no lane down the assist-free route.
//! For f64, whose route is integer arithmetic, the test also counts the lanes that took it with a
//! subnormal and a normal result, and those whose rounding needed the tie correction in each
//! direction, and requires each to occur (f32 widens to f64 instead: no ties to correct).
//!
//! `mul_assist_free` and `div_assist_free` give the bits of `mul` and `div` on every path, for
//! operands drawn from every class of bit pattern, and `assist_free_pays` finds the lanes in its
//! interval exactly on the paths where those differ from `mul` and `div` (x86 f32).

use super::math::{pow2_f32, TINY_A_MAX_F64, TINY_A_MIN_F64, TINY_E_MAX_F32, TINY_E_MAX_F64};
use super::tests::Rng;
use super::Path;
use super::{dispatch_on, supported, Isa, Kernel, Lanes};

/// Lanes per factor and hint (reduced in debug builds).
const LANES: usize = if cfg!(debug_assertions) {
    1 << 12
} else {
    1 << 18
};

/// The element types, with what the test needs of each.
trait Elem: Copy + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    const MIN_POSITIVE: Self;
    const E_MAX: Self;
    const A_MIN: Self;
    const A_MAX: Self;
    /// Whether x86's `mul_tiny` forms this type's products by integer arithmetic (f64), whose
    /// coverage the test counts, rather than in a wider type (f32).
    const INTEGER_ROUTE: bool;
    /// Mantissa bits (23, 52): the shifter is `2^MANT`, a subnormal's scale `2^(MANT + BIAS - 1)`.
    const MANT: u32;
    fn bits(self) -> u64;
    fn from_bits64(b: u64) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn product(self, a: Self) -> Self;
    fn quotient(self, a: Self) -> Self;
    /// `(f, err)`: `RN(A |a|)` and its exact error, with `A = e 2^(MANT + BIAS - 1)` (exact).
    fn scaled_product(self, a: Self) -> (Self, Self);
}

macro_rules! elem {
    ($t:ty, $u:ty, $mant:literal, $scale:expr, $e_max:expr, $a_min:expr, $a_max:expr,
     $integer:literal) => {
        impl Elem for $t {
            const MIN_POSITIVE: $t = <$t>::MIN_POSITIVE;
            const E_MAX: $t = $e_max;
            const A_MIN: $t = $a_min;
            const A_MAX: $t = $a_max;
            const INTEGER_ROUTE: bool = $integer;
            const MANT: u32 = $mant;
            fn bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            #[allow(clippy::cast_possible_truncation)]
            fn from_bits64(b: u64) -> $t {
                <$t>::from_bits(b as $u)
            }
            #[allow(clippy::cast_possible_truncation)]
            fn from_f64(v: f64) -> $t {
                v as $t
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn product(self, a: $t) -> $t {
                self * a
            }
            fn quotient(self, a: $t) -> $t {
                self / a
            }
            fn scaled_product(self, a: $t) -> ($t, $t) {
                let big_a = self * $scale.0 * $scale.1;
                let f = big_a * a.abs();
                (f, big_a.mul_add(a.abs(), -f))
            }
        }
    };
}

elem!(
    f32,
    u32,
    23,
    (2f32.powi(100), 2f32.powi(49)),
    TINY_E_MAX_F32,
    pow2_f32(-60),
    pow2_f32(38),
    false
);
elem!(
    f64,
    u64,
    52,
    (2f64.powi(600), 2f64.powi(474)),
    TINY_E_MAX_F64,
    TINY_A_MIN_F64,
    TINY_A_MAX_F64,
    true
);

/// A tiny positive value: a random subnormal, or a normal with a random exponent from the
/// smallest up to eight binades past `E_MAX`, or one of the route's boundaries.
fn tiny<T: Elem>(rng: &mut Rng) -> T {
    let mant = (1u64 << T::MANT) - 1;
    let min = T::MIN_POSITIVE.bits();
    let cap = T::E_MAX.bits();
    match rng.next() % 8 {
        0 => T::from_bits64(1 + rng.next() % mant),
        1 => T::from_bits64([min - 1, min, cap - 1, cap, 1][(rng.next() % 5) as usize]),
        _ => {
            let span = (cap >> T::MANT) + 8 - (min >> T::MANT);
            let exp = (min >> T::MANT) + rng.next() % span;
            T::from_bits64((exp << T::MANT) | (rng.next() & mant))
        }
    }
}

/// A factor: softmax's `1 / sum` (in `(2^-30, 1]`), just below 1, large up to past `A_MAX`,
/// negative, zero, at the edges of `[A_MIN, A_MAX]`, subnormal, infinite or NaN.
fn factor<T: Elem>(rng: &mut Rng) -> T {
    let v = match rng.next() % 10 {
        0..=3 => 2f64.powf(-30.0 * rng.unit()),
        4 => 1.0 - rng.unit() * 1e-6,
        5 => 2f64.powf(45.0 * rng.unit()),
        6 => -(2f64.powf(-30.0 * rng.unit())),
        7 => [0.0, -0.0, f64::INFINITY, f64::NAN][(rng.next() % 4) as usize],
        8 => {
            let edges = [
                T::A_MAX.bits() + 1,
                T::A_MAX.bits(),
                T::A_MIN.bits(),
                T::A_MIN.bits() - 1,
            ];
            return T::from_bits64(edges[(rng.next() % 4) as usize]);
        }
        _ => return T::from_bits64(1 + rng.next() % ((1u64 << T::MANT) - 1)),
    };
    T::from_f64(v)
}

/// `e.mul_tiny(a, below)` lane by lane.
struct Products<'a, T> {
    e: &'a [T],
    a: &'a [T],
    below: &'a [T],
}

#[inline(always)]
fn products<T: Copy + Default, V: Lanes<T>>(p: &Products<'_, T>) -> Vec<T> {
    let mut out = vec![T::default(); p.e.len()];
    for (((o, e), a), b) in out
        .chunks_exact_mut(V::N)
        .zip(p.e.chunks_exact(V::N))
        .zip(p.a.chunks_exact(V::N))
        .zip(p.below.chunks_exact(V::N))
    {
        V::load(e).mul_tiny(V::load(a), V::load(b)).store(o);
    }
    out
}

impl Kernel for Products<'_, f32> {
    type Output = Vec<f32>;
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> Vec<f32> {
        products::<f32, I::F32>(&self)
    }
}

impl Kernel for Products<'_, f64> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> Vec<f64> {
        products::<f64, I::F64>(&self)
    }
}

/// What the assist-free route met, over all paths.
#[derive(Default, Debug)]
struct Seen {
    subnormal: usize,
    normal: usize,
    tie_up: usize,
    tie_down: usize,
}

fn check<T: Elem + Default>(seed: u64) -> Seen
where
    for<'a> Products<'a, T>: Kernel<Output = Vec<T>>,
{
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    let e: Vec<T> = (0..LANES)
        .map(|i| match i % 16 {
            0 => T::from_f64([0.0, -0.0, f64::NAN, 1.0, -1e-300][(rng.next() % 5) as usize]),
            _ => tiny(&mut rng),
        })
        .collect();
    for round in 0..8 {
        // Per-lane factors half the time; one factor for the whole array (as in a row) else.
        let one = factor::<T>(&mut rng);
        let a: Vec<T> = (0..LANES)
            .map(|_| {
                if round % 2 == 0 {
                    one
                } else {
                    factor(&mut rng)
                }
            })
            .collect();
        // The kernels' hint; every lane; none; NaN.
        let kernel = |a: T| {
            let m = T::MIN_POSITIVE.to_f64();
            T::from_f64((m / a.to_f64().abs()).max(m).min(T::E_MAX.to_f64()))
        };
        for hint in 0..4 {
            let below: Vec<T> = a
                .iter()
                .map(|&a| match hint {
                    0 => kernel(a),
                    1 => T::from_f64(f64::INFINITY),
                    2 => T::from_f64(0.0),
                    _ => T::from_f64(f64::NAN),
                })
                .collect();
            for &path in &supported() {
                let got = dispatch_on(
                    path,
                    Products {
                        e: &e,
                        a: &a,
                        below: &below,
                    },
                );
                for (i, g) in got.iter().enumerate() {
                    let want = e[i].product(a[i]);
                    assert!(
                        g.bits() == want.bits(),
                        "[{}] {:?} * {:?} (below {:?}) = {g:?}, want {want:?}",
                        path.name(),
                        e[i],
                        a[i],
                        below[i]
                    );
                }
            }
            // Coverage of the route (the lanes it serves under an unbounded hint).
            if hint == 1 && T::INTEGER_ROUTE {
                for (&e, &a) in e.iter().zip(&a) {
                    let (ef, af) = (e.to_f64(), a.to_f64().abs());
                    let a_ok = af == 0.0 || (af >= T::A_MIN.to_f64() && af <= T::A_MAX.to_f64());
                    if !(ef > 0.0 && ef < T::E_MAX.to_f64() && a_ok) {
                        continue;
                    }
                    let (f, err) = e.scaled_product(a);
                    let f = f.to_f64();
                    if f >= 2f64.powi(T::MANT as i32) {
                        seen.normal += 1;
                        continue;
                    }
                    seen.subnormal += 1;
                    if f - f.floor() == 0.5 {
                        let err = err.to_f64();
                        seen.tie_up += usize::from(err > 0.0);
                        seen.tie_down += usize::from(err < 0.0);
                    }
                }
            }
        }
    }
    seen
}

#[test]
fn mul_tiny_is_the_plain_product() {
    check::<f32>(21);
    let seen = check::<f64>(22);
    println!("f64: assist-free route {seen:?}");
    assert!(
        seen.subnormal > 1000 && seen.normal > 1000 && seen.tie_up > 0 && seen.tie_down > 0,
        "f64: the inputs missed part of the route: {seen:?}"
    );
}

/// f64's two tie corrections, on inputs built to need them: `f` lands on a half-integer whose
/// even neighbour is on the wrong side of the true product (`A (1 - 2^-53)` with `A = 2^51 + 1`
/// is `2^51 + 0.75 - 2^-53`, which rounds to `f = 2^51 + 0.5`, whose even neighbour is `2^51`;
/// `A (1 - 2^-52)` with `A = 2^51 + 2` is `2^51 + 1.5 - 2^-51`, rounding to `2^51 + 1.5`, whose
/// even neighbour is `2^51 + 2`). Rounding `f` alone gives the wrong bits in both.
#[test]
fn mul_tiny_corrects_ties_in_both_directions() {
    for (units, a) in [(1u64 << 51) + 1, (1 << 51) + 2]
        .into_iter()
        .zip([1.0 - f64::EPSILON / 2.0, 1.0 - f64::EPSILON])
    {
        let e = f64::from_bits(units);
        let (f, err) = e.scaled_product(a);
        assert_eq!(f - f.floor(), 0.5, "{a}: f = {f} is not a tie");
        assert_ne!(err, 0.0);
        let want = e * a;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let naive = ((f + 4_503_599_627_370_496.0) - 4_503_599_627_370_496.0) as u64;
        assert_ne!(
            naive,
            want.to_bits(),
            "{a}: the tie does not need correcting"
        );
        let (e16, a16, below) = ([e; 16], [a; 16], [f64::INFINITY; 16]);
        for &path in &supported() {
            let got = dispatch_on(
                path,
                Products {
                    e: &e16,
                    a: &a16,
                    below: &below,
                },
            );
            assert_eq!(got[0].to_bits(), want.to_bits(), "[{}] {a}", path.name());
        }
    }
}

/// `mul_assist_free`, `div_assist_free` and `assist_free_pays` lane by lane: products,
/// quotients, and per vector whether it pays.
struct Arith<'a, T> {
    a: &'a [T],
    b: &'a [T],
    lo: T,
    hi: T,
}

#[inline(always)]
fn arith<T: Copy + Default, V: Lanes<T>>(p: &Arith<'_, T>) -> (Vec<T>, Vec<T>, Vec<bool>) {
    let (mut prod, mut quot) = (vec![T::default(); p.a.len()], vec![T::default(); p.a.len()]);
    let mut pays = Vec::new();
    for (((m, q), a), b) in prod
        .chunks_exact_mut(V::N)
        .zip(quot.chunks_exact_mut(V::N))
        .zip(p.a.chunks_exact(V::N))
        .zip(p.b.chunks_exact(V::N))
    {
        let (a, b) = (V::load(a), V::load(b));
        a.mul_assist_free(b).store(m);
        a.div_assist_free(b).store(q);
        pays.push(a.assist_free_pays(V::splat(p.lo), V::splat(p.hi)));
    }
    (prod, quot, pays)
}

impl Kernel for Arith<'_, f32> {
    type Output = (Vec<f32>, Vec<f32>, Vec<bool>);
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> Self::Output {
        arith::<f32, I::F32>(&self)
    }
}

impl Kernel for Arith<'_, f64> {
    type Output = (Vec<f64>, Vec<f64>, Vec<bool>);
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> Self::Output {
        arith::<f64, I::F64>(&self)
    }
}

/// An operand from every class of bit pattern: subnormal, tiny and ordinary normals, large,
/// zero, infinite, NaN, and values near 1; either sign.
fn operand<T: Elem>(rng: &mut Rng) -> T {
    let mant = (1u64 << T::MANT) - 1;
    let inf = T::from_f64(f64::INFINITY).bits();
    let sign = if rng.next() & 1 == 1 {
        T::from_f64(-0.0).bits()
    } else {
        0
    };
    let v = match rng.next() % 8 {
        0 | 1 => 1 + rng.next() % mant,
        2 | 3 => T::from_f64(2f64.powf(-40.0 * rng.unit())).bits(),
        4 => T::from_f64(1.0 - rng.unit() * 1e-6).bits(),
        5 => [0, inf, T::from_f64(f64::NAN).bits()][(rng.next() % 3) as usize],
        _ => ((1 + rng.next() % ((inf >> T::MANT) - 1)) << T::MANT) | (rng.next() & mant),
    };
    T::from_bits64(v | sign)
}

fn check_arith<T: Elem + Default>(seed: u64)
where
    for<'a> Arith<'a, T>: Kernel<Output = (Vec<T>, Vec<T>, Vec<bool>)>,
{
    let mut rng = Rng(seed);
    let n = LANES;
    let a: Vec<T> = (0..n).map(|_| operand(&mut rng)).collect();
    let b: Vec<T> = (0..n).map(|_| operand(&mut rng)).collect();
    let (lo, hi) = (T::from_f64(0.0), T::E_MAX);
    let lanes = 64 / std::mem::size_of::<T>();
    for &path in &supported() {
        let (prod, quot, pays) = dispatch_on(
            path,
            Arith {
                a: &a,
                b: &b,
                lo,
                hi,
            },
        );
        for i in 0..n {
            for (got, want, op) in [
                (prod[i], a[i].product(b[i]), "*"),
                (quot[i], a[i].quotient(b[i]), "/"),
            ] {
                assert!(
                    got.bits() == want.bits(),
                    "[{}] {:?} {op} {:?} = {got:?}, want {want:?}",
                    path.name(),
                    a[i],
                    b[i]
                );
            }
        }
        let widened = !T::INTEGER_ROUTE && matches!(path, Path::Avx2 | Path::Avx512);
        for (v, &p) in a.chunks_exact(lanes).zip(&pays) {
            let inside = v
                .iter()
                .any(|x| x.to_f64() > lo.to_f64() && x.to_f64() < hi.to_f64());
            assert_eq!(p, widened && inside, "[{}] {v:?}", path.name());
        }
    }
}

#[test]
fn assist_free_arithmetic_is_the_plain_arithmetic() {
    check_arith::<f32>(31);
    check_arith::<f64>(32);
}

/// `mul_tiny_pays` per vector of `vs` against the hint `below`.
struct TinyPays<'a, T> {
    vs: &'a [T],
    below: T,
}

#[inline(always)]
fn tiny_pays<T: Copy, V: Lanes<T>>(p: &TinyPays<'_, T>) -> Vec<bool> {
    p.vs.chunks_exact(V::N)
        .map(|v| V::load(v).mul_tiny_pays(V::splat(p.below)))
        .collect()
}

impl Kernel for TinyPays<'_, f32> {
    type Output = Vec<bool>;
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> Vec<bool> {
        tiny_pays::<f32, I::F32>(&self)
    }
}

impl Kernel for TinyPays<'_, f64> {
    type Output = Vec<bool>;
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> Vec<bool> {
        tiny_pays::<f64, I::F64>(&self)
    }
}

fn check_tiny_pays<T: Elem>()
where
    for<'a> TinyPays<'a, T>: Kernel<Output = Vec<bool>>,
{
    let lanes = 64 / std::mem::size_of::<T>();
    let below = T::E_MAX;
    let b = below.to_f64();
    // One odd lane among ones, at every position: below the hint (zeros, subnormals,
    // negatives, -inf) or not (the hint itself, above it, +inf, NaN).
    let odd = [
        0.0,
        -0.0,
        b / 2.0,
        T::from_bits64(1).to_f64(),
        -1.0,
        f64::NEG_INFINITY,
        b,
        2.0 * b,
        f64::INFINITY,
        f64::NAN,
    ];
    let mut vs = Vec::new();
    let mut want = Vec::new();
    for &v in &odd {
        for k in 0..lanes {
            vs.extend((0..lanes).map(|l| T::from_f64(if l == k { v } else { 1.0 })));
            want.push(v < b);
        }
    }
    for &path in &supported() {
        let got = dispatch_on(path, TinyPays { vs: &vs, below });
        let x86 = matches!(path, Path::Avx2 | Path::Avx512);
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, x86 && w, "[{}] vector {i}", path.name());
        }
    }
}

#[test]
fn mul_tiny_pays_finds_a_lane_below_the_hint_on_x86() {
    check_tiny_pays::<f32>();
    check_tiny_pays::<f64>();
}
