//! Accuracy of `Lanes::exp`/`ln` on every supported path: >= 10^7 samples per path, function and
//! dtype in `cargo test --release` (uniform over the finite bit patterns, and over the useful
//! range), max ULP <= 2, special values, and an opt-in exhaustive f32 sweep of the worst error
//! and of the same bits on every path (`cargo test --release -- --ignored --nocapture`).
//! Cross-path bitwise equality of every `Lanes` method on random vectors lives in
//! `tests_paths.rs`.
//!
//! f32 references are f64 `exp`/`ln` rounded to f32 (correctly rounded but for astronomically
//! rare double roundings); f64 references are std's `f64::exp`/`f64::ln` (glibc, < 1 ULP), so
//! the f64 bound reads "<= 2 ULP against std". `--nocapture` prints the measured maxima.

use super::{dispatch_on, supported, Isa, Kernel, Lanes, Path};
use rayon::prelude::*;

/// Samples per path, function and distribution (reduced in debug builds, where the vector
/// methods are not inlined).
const SAMPLES: usize = if cfg!(debug_assertions) {
    200_000
} else {
    10_000_000
};
const BATCH: usize = 1 << 14;
const MAX_ULP: u64 = 2;

/// splitmix64.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// Which `Lanes` function a [`Map`] applies.
#[derive(Clone, Copy, Debug)]
pub(super) enum Func {
    Exp,
    /// `Lanes::exp_in_range` (only for inputs in its domain).
    ExpInRange,
    Ln,
    /// `Lanes::ln_finite` (only for finite non-negative inputs).
    LnFinite,
    /// `Lanes::ln_normal` (only for finite inputs of at least `MIN_POSITIVE`).
    LnNormal,
}

/// A kernel mapping a slice in place through `Lanes::exp` or `Lanes::ln`: full vectors, then
/// one `load_partial`/`store_partial` tail.
pub(super) struct Map<'a, T>(pub(super) Func, pub(super) &'a mut [T]);

#[inline(always)]
fn map_lanes<T: Copy, V: Lanes<T>>(f: Func, v: &mut [T]) {
    let apply = |x: V| match f {
        Func::Exp => x.exp(),
        Func::ExpInRange => x.exp_in_range(),
        Func::Ln => x.ln(),
        Func::LnFinite => x.ln_finite(),
        Func::LnNormal => x.ln_normal(),
    };
    let mut chunks = v.chunks_exact_mut(V::N);
    for c in &mut chunks {
        apply(V::load(c)).store(c);
    }
    let rem = chunks.into_remainder();
    if let Some(&fill) = rem.first() {
        apply(V::load_partial(rem, fill)).store_partial(rem);
    }
}

impl Kernel for Map<'_, f32> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self, _: I) {
        map_lanes::<f32, I::F32>(self.0, self.1);
    }
}

impl Kernel for Map<'_, f64> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self, _: I) {
        map_lanes::<f64, I::F64>(self.0, self.1);
    }
}

/// An element type under test: its ULP distance and references.
pub(super) trait Float: Copy + Send + Sync + std::fmt::LowerExp + 'static {
    /// Distance in representable values (0 for two NaNs, `u64::MAX` for one).
    fn ulp(self, other: Self) -> u64;
    /// The reference for `f`.
    fn reference(self, f: Func) -> Self;
    /// Runs `f` over `v` on `path`.
    fn map(path: Path, f: Func, v: &mut [Self]);
}

impl Float for f32 {
    fn ulp(self, o: f32) -> u64 {
        if self.is_nan() || o.is_nan() {
            return if self.is_nan() && o.is_nan() {
                0
            } else {
                u64::MAX
            };
        }
        let ord = |x: f32| {
            let b = x.to_bits();
            let m = i64::from(b & 0x7fff_ffff);
            if b >> 31 == 1 {
                -m
            } else {
                m
            }
        };
        ord(self).abs_diff(ord(o))
    }
    fn reference(self, f: Func) -> f32 {
        match f {
            Func::Exp | Func::ExpInRange => f64::from(self).exp() as f32,
            Func::Ln | Func::LnFinite | Func::LnNormal => f64::from(self).ln() as f32,
        }
    }
    fn map(path: Path, f: Func, v: &mut [f32]) {
        dispatch_on(path, Map(f, v));
    }
}

impl Float for f64 {
    fn ulp(self, o: f64) -> u64 {
        if self.is_nan() || o.is_nan() {
            return if self.is_nan() && o.is_nan() {
                0
            } else {
                u64::MAX
            };
        }
        let ord = |x: f64| {
            let b = x.to_bits();
            let m = i128::from(b & 0x7fff_ffff_ffff_ffff);
            if b >> 63 == 1 {
                -m
            } else {
                m
            }
        };
        u64::try_from(ord(self).abs_diff(ord(o))).unwrap_or(u64::MAX)
    }
    fn reference(self, f: Func) -> f64 {
        match f {
            Func::Exp | Func::ExpInRange => self.exp(),
            Func::Ln | Func::LnFinite | Func::LnNormal => self.ln(),
        }
    }
    fn map(path: Path, f: Func, v: &mut [f64]) {
        dispatch_on(path, Map(f, v));
    }
}

/// Runs `SAMPLES` generated inputs through `f` on every supported path and asserts the max
/// ULP distance to the reference is <= `MAX_ULP`.
fn sweep<T: Float>(name: &str, f: Func, mut gen: impl FnMut() -> T) {
    let paths = supported();
    let mut worst = vec![(0u64, None::<T>); paths.len()];
    let (mut xs, mut refs, mut ys) = (Vec::new(), Vec::new(), Vec::new());
    let mut done = 0;
    while done < SAMPLES {
        let n = BATCH.min(SAMPLES - done);
        xs.clear();
        xs.extend((0..n).map(|_| gen()));
        refs.clear();
        refs.extend(xs.iter().map(|&x| x.reference(f)));
        for (w, &path) in worst.iter_mut().zip(&paths) {
            ys.clone_from(&xs);
            T::map(path, f, &mut ys);
            for ((&x, &y), &r) in xs.iter().zip(&ys).zip(&refs) {
                let u = y.ulp(r);
                if u > w.0 || w.1.is_none() {
                    *w = (u.max(w.0), Some(x));
                }
            }
        }
        done += n;
    }
    for (&(u, x), path) in worst.iter().zip(&paths) {
        let x = x.expect("at least one sample");
        println!(
            "{name} [{}]: {SAMPLES} samples, max {u} ULP (at x = {x:e})",
            path.name()
        );
        assert!(
            u <= MAX_ULP,
            "{name} [{}]: {u} ULP at x = {x:e}",
            path.name()
        );
    }
}

/// A finite value with random bits under `mask` (uniform over the finite bit patterns).
fn finite32(rng: &mut Rng, mask: u32) -> f32 {
    loop {
        let x = f32::from_bits(rng.next() as u32 & mask);
        if x.is_finite() {
            return x;
        }
    }
}

fn finite64(rng: &mut Rng, mask: u64) -> f64 {
    loop {
        let x = f64::from_bits(rng.next() & mask);
        if x.is_finite() {
            return x;
        }
    }
}

#[test]
fn exp_f32_bit_patterns() {
    let mut rng = Rng(1);
    sweep("exp f32 bits", Func::Exp, || finite32(&mut rng, u32::MAX));
}

#[test]
fn exp_f32_range() {
    let mut rng = Rng(2);
    sweep("exp f32 [-104,89]", Func::Exp, || {
        (-104.0 + 193.0 * rng.unit()) as f32
    });
}

#[test]
fn ln_f32_bit_patterns() {
    let mut rng = Rng(3);
    sweep("ln f32 bits(+)", Func::Ln, || {
        finite32(&mut rng, 0x7fff_ffff)
    });
}

#[test]
fn ln_f32_near_one() {
    let mut rng = Rng(4);
    sweep("ln f32 [0.5,2]", Func::Ln, || {
        (0.5 + 1.5 * rng.unit()) as f32
    });
}

#[test]
fn exp_f64_bit_patterns() {
    let mut rng = Rng(5);
    sweep("exp f64 bits", Func::Exp, || finite64(&mut rng, u64::MAX));
}

#[test]
fn exp_f64_range() {
    let mut rng = Rng(6);
    sweep("exp f64 [-745,710]", Func::Exp, || {
        -745.0 + 1455.0 * rng.unit()
    });
}

#[test]
fn ln_f64_bit_patterns() {
    let mut rng = Rng(7);
    sweep("ln f64 bits(+)", Func::Ln, || {
        finite64(&mut rng, !(1 << 63))
    });
}

#[test]
fn ln_f64_near_one() {
    let mut rng = Rng(8);
    sweep("ln f64 [0.5,2]", Func::Ln, || 0.5 + 1.5 * rng.unit());
}

/// `f` over `x` on `path`, as bits.
pub(super) fn bits32(path: Path, f: Func, x: &[f32]) -> Vec<u32> {
    let mut v = x.to_vec();
    f32::map(path, f, &mut v);
    v.iter().map(|e| e.to_bits()).collect()
}

pub(super) fn bits64(path: Path, f: Func, x: &[f64]) -> Vec<u64> {
    let mut v = x.to_vec();
    f64::map(path, f, &mut v);
    v.iter().map(|e| e.to_bits()).collect()
}

/// A NaN with sign and payload (returned unchanged by `exp` and `ln`).
const NAN32: f32 = f32::from_bits(0xffc0_1234);
const NAN64: f64 = f64::from_bits(0x7ff8_0000_dead_beef);

#[test]
fn special_values_exp() {
    const INF32: f32 = f32::INFINITY;
    const INF64: f64 = f64::INFINITY;
    for path in supported() {
        let n = path.name();
        // Below -104 (f32) / -746 (f64) a lane is not computed (see `math`): +0 all the same.
        let x = [
            -INF32,
            INF32,
            NAN32,
            0.0,
            -0.0,
            89.0,
            88.8,
            -104.0,
            -104.00001,
            f32::MIN,
        ];
        let want = [0.0, INF32, NAN32, 1.0, 1.0, INF32, INF32, 0.0, 0.0, 0.0].map(f32::to_bits);
        assert_eq!(bits32(path, Func::Exp, &x), want, "exp f32 specials [{n}]");
        // The smallest subnormal, exp(-103.2789) = 2^-149, and a subnormal result.
        let sub = bits32(path, Func::Exp, &[-103.2789, -87.5]);
        assert_eq!(sub[0], 1, "exp f32 -> 2^-149 [{n}]");
        assert!(f32::from_bits(sub[1]).ulp((-87.5f32).reference(Func::Exp)) <= 1);

        let x = [
            -INF64,
            INF64,
            NAN64,
            0.0,
            -0.0,
            710.0,
            709.9,
            -746.0,
            -746.000_001,
            f64::MIN,
        ];
        let want = [0.0, INF64, NAN64, 1.0, 1.0, INF64, INF64, 0.0, 0.0, 0.0].map(f64::to_bits);
        assert_eq!(bits64(path, Func::Exp, &x), want, "exp f64 specials [{n}]");
        let sub = bits64(path, Func::Exp, &[-744.44, -709.0]);
        assert_eq!(sub[0], 1, "exp f64 -> 2^-1074 [{n}]");
        assert!(f64::from_bits(sub[1]).ulp((-709.0f64).exp()) <= 2);
    }
}

#[test]
fn special_values_ln() {
    for path in supported() {
        let n = path.name();
        let (inf, q) = (f32::INFINITY, f32::NAN);
        let x = [0.0, -0.0, -1.0, inf, NAN32, 1.0, -inf, -1e-40];
        let want = [-inf, -inf, q, inf, NAN32, 0.0, q, q].map(f32::to_bits);
        assert_eq!(bits32(path, Func::Ln, &x), want, "ln f32 specials [{n}]");
        let x = [f32::from_bits(1), f32::MAX, f32::MIN_POSITIVE];
        for (b, x) in bits32(path, Func::Ln, &x).into_iter().zip(x) {
            assert!(
                f32::from_bits(b).ulp(x.reference(Func::Ln)) <= 1,
                "ln f32 {x:e} [{n}]"
            );
        }

        let (inf, q) = (f64::INFINITY, f64::NAN);
        let x = [0.0, -0.0, -1.0, inf, NAN64, 1.0, -inf, -1e-310];
        let want = [-inf, -inf, q, inf, NAN64, 0.0, q, q].map(f64::to_bits);
        assert_eq!(bits64(path, Func::Ln, &x), want, "ln f64 specials [{n}]");
        let x = [f64::from_bits(1), f64::MAX, f64::MIN_POSITIVE];
        for (b, x) in bits64(path, Func::Ln, &x).into_iter().zip(x) {
            assert!(f64::from_bits(b).ulp(x.ln()) <= 1, "ln f64 {x:e} [{n}]");
        }
    }
}

/// All 2^32 f32 inputs through exp and ln on every supported path (minutes in `--release`):
/// the worst error of each, and the same bits on every path as on the first (the portable one).
#[test]
#[ignore = "exhaustive sweep; run with `cargo test --release -- --ignored --nocapture`"]
fn exhaustive_f32() {
    const CHUNK: u64 = 1 << 16;
    let paths = supported();
    // Per path: (max exp ULP, max ln ULP, inputs whose bits differ from the first path's).
    let worst = (0..(1u64 << 32) / CHUNK)
        .into_par_iter()
        .map(|c| {
            let xs: Vec<f32> = (0..CHUNK)
                .map(|i| f32::from_bits((c * CHUNK + i) as u32))
                .collect();
            let re: Vec<f32> = xs.iter().map(|x| x.reference(Func::Exp)).collect();
            let rl: Vec<f32> = xs.iter().map(|x| x.reference(Func::Ln)).collect();
            let run = |path, f| {
                let mut v = xs.clone();
                f32::map(path, f, &mut v);
                v
            };
            let first = (run(paths[0], Func::Exp), run(paths[0], Func::Ln));
            paths
                .iter()
                .map(|&p| {
                    let (e, l) = (run(p, Func::Exp), run(p, Func::Ln));
                    let max_ulp = |v: &[f32], r: &[f32]| {
                        v.iter().zip(r).map(|(&y, &r)| y.ulp(r)).max().unwrap_or(0)
                    };
                    let differ = |v: &[f32], w: &[f32]| {
                        v.iter()
                            .zip(w)
                            .filter(|(a, b)| a.to_bits() != b.to_bits())
                            .count()
                    };
                    (
                        max_ulp(&e, &re),
                        max_ulp(&l, &rl),
                        differ(&e, &first.0) + differ(&l, &first.1),
                    )
                })
                .collect::<Vec<_>>()
        })
        .reduce(
            || vec![(0, 0, 0); paths.len()],
            |a, b| {
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x.0.max(y.0), x.1.max(y.1), x.2 + y.2))
                    .collect()
            },
        );
    for (&(e, l, d), p) in worst.iter().zip(&paths) {
        println!(
            "exhaustive f32 [{}]: exp max {e} ULP, ln max {l} ULP, {d} results differ from [{}]",
            p.name(),
            paths[0].name()
        );
        assert!(
            e <= MAX_ULP && l <= MAX_ULP && d == 0,
            "[{}] exp {e} ln {l} differing {d}",
            p.name()
        );
    }
}

/// Asserts that `f` gives `Lanes::ln`'s bits on `x32` and `x64`, on every supported path.
fn assert_same_bits_as_ln(f: Func, x32: &[f32], x64: &[f64]) {
    for path in supported() {
        let n = path.name();
        assert_eq!(
            bits32(path, f, x32),
            bits32(path, Func::Ln, x32),
            "f32 [{n}]"
        );
        assert_eq!(
            bits64(path, f, x64),
            bits64(path, Func::Ln, x64),
            "f64 [{n}]"
        );
    }
}

#[test]
fn ln_finite_is_ln_on_finite_non_negative_inputs() {
    // -0, zero, subnormals, 1, the largest finite value, and 10^6 random bit patterns of [0, 1]
    // and as many of [0, MAX] (every finite non-negative value is reachable).
    let mut rng = Rng(11);
    let mut x32: Vec<f32> = vec![0.0, -0.0, f32::from_bits(1), f32::MIN_POSITIVE, 1.0, 0.5];
    x32.extend([2.0, f32::MAX]);
    x32.extend((0..1_000_000).map(|_| f32::from_bits((rng.next() % 0x3f80_0001) as u32)));
    x32.extend((0..1_000_000).map(|_| f32::from_bits((rng.next() % 0x7f80_0000) as u32)));
    let mut x64: Vec<f64> = vec![0.0, -0.0, f64::from_bits(1), f64::MIN_POSITIVE, 1.0, 0.5];
    x64.extend([2.0, f64::MAX]);
    x64.extend((0..1_000_000).map(|_| f64::from_bits(rng.next() % 0x3ff0_0000_0000_0001)));
    x64.extend((0..1_000_000).map(|_| f64::from_bits(rng.next() % 0x7ff0_0000_0000_0000)));
    assert_same_bits_as_ln(Func::LnFinite, &x32, &x64);
}

#[test]
fn ln_normal_is_ln_on_finite_normal_inputs() {
    // The ends of the normal range; every float32 of [1, 2] (the BCE-with-logits domain) and
    // 10^6 random bit patterns of float64's; 10^6 random ones of [MIN_POSITIVE, MAX] each.
    let mut rng = Rng(12);
    let mut x32: Vec<f32> = vec![f32::MIN_POSITIVE, f32::MAX];
    let min32 = f32::MIN_POSITIVE.to_bits();
    x32.extend((1.0f32.to_bits()..=2.0f32.to_bits()).map(f32::from_bits));
    x32.extend(
        (0..1_000_000)
            .map(|_| f32::from_bits(min32 + (rng.next() % u64::from(0x7f80_0000 - min32)) as u32)),
    );
    let mut x64: Vec<f64> = vec![f64::MIN_POSITIVE, 1.0, 2.0, 1.5, f64::MAX];
    let (one64, two64) = (1.0f64.to_bits(), 2.0f64.to_bits());
    let min64 = f64::MIN_POSITIVE.to_bits();
    x64.extend((0..1_000_000).map(|_| f64::from_bits(one64 + rng.next() % (two64 - one64 + 1))));
    x64.extend(
        (0..1_000_000)
            .map(|_| f64::from_bits(min64 + rng.next() % (0x7ff0_0000_0000_0000 - min64))),
    );
    assert_same_bits_as_ln(Func::LnNormal, &x32, &x64);
}
