//! Cross-path equality: on every supported path, every `Lanes` method (f32 and f64) returns the
//! same bits as `Portable`, on random vectors mixing NaNs (quiet and signalling, both signs,
//! with payloads), ±inf, ±0, subnormals and ordinary values, with partial lengths `0..=N+1` for
//! `load_partial`/`store_partial` (and sentinels checking that nothing past the slice is
//! written). Also checks that `dispatch_on` runs the kernel on the resolved path.
//!
//! One documented relaxation: for the IEEE arithmetic methods (`add`, `sub`, `mul`, `mul_tiny`,
//! `div`, `mul_add`, `add_to`) a NaN result only has to be NaN on both sides, because Rust leaves NaN
//! payloads of arithmetic unspecified (LLVM may commute operands, which changes which input
//! payload survives when two are NaN; `canon_nan` removes the difference, which is checked
//! strictly on `mul` and `add` results). The test counts how often that relaxation was needed;
//! everything else — `max`/`min`/`reduce_max` operand choice, selects, `abs`, `exp`/`ln`
//! (which return NaN inputs unchanged), loads and stores — must match bit for bit.

use super::tests::Rng;
use super::{
    dispatch_on, resolve, supported, tile_len, Isa, Kernel, Lanes, Path, SHORT_ROW, TILE_BUF,
};

/// Random vector sets per path (reduced in debug builds).
const ROUNDS: usize = if cfg!(debug_assertions) { 1_000 } else { 5_000 };
/// Arrays per element type handed to the kernel (each holds `N + 1` values).
const ARRAYS: usize = 7;

/// An element type: bit conversions and generators.
trait Elem: Copy + PartialOrd + Default + std::fmt::Debug + 'static {
    const ZERO: Self;
    fn bits(self) -> u64;
    fn from_bits64(b: u64) -> Self;
    fn from_f64(v: f64) -> Self;
    fn is_nan(self) -> bool;
    /// A random value: mostly specials, subnormals and ordinary values.
    fn random(rng: &mut Rng) -> Self;
}

/// Special bit patterns shared by the generators (as f64, narrowed for f32 below).
fn special(rng: &mut Rng) -> f64 {
    let s = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        f64::MAX,
        f64::MIN,
    ];
    s[(rng.next() % s.len() as u64) as usize]
}

impl Elem for f32 {
    const ZERO: f32 = 0.0;
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn from_bits64(b: u64) -> f32 {
        f32::from_bits(b as u32)
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    fn random(rng: &mut Rng) -> f32 {
        let r = rng.next();
        let sign = (r as u32) & 0x8000_0000;
        match (r >> 32) % 8 {
            // NaN: quiet or signalling, either sign, random payload.
            0 => f32::from_bits(sign | 0x7f80_0000 | ((rng.next() as u32) & 0x007f_ffff).max(1)),
            1 => special(rng) as f32,
            // Subnormal.
            2 => f32::from_bits(sign | ((rng.next() as u32) & 0x007f_ffff)),
            3 => f32::from_bits(rng.next() as u32),
            4 => rng.unit() as f32,
            _ => (-40.0 + 80.0 * rng.unit()) as f32,
        }
    }
}

impl Elem for f64 {
    const ZERO: f64 = 0.0;
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn from_bits64(b: u64) -> f64 {
        f64::from_bits(b)
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    fn random(rng: &mut Rng) -> f64 {
        let r = rng.next();
        let sign = r & (1 << 63);
        let frac = 0x000f_ffff_ffff_ffff;
        match r % 8 {
            0 => f64::from_bits(sign | 0x7ff0_0000_0000_0000 | (rng.next() & frac).max(1)),
            1 => special(rng),
            2 => f64::from_bits(sign | (rng.next() & frac)),
            3 => f64::from_bits(rng.next()),
            4 => rng.unit(),
            _ => -800.0 + 1600.0 * rng.unit(),
        }
    }
}

/// One method's result: lane bits, and whether a NaN may carry any payload (see module docs).
#[derive(Debug)]
struct Rec {
    name: String,
    bits: Vec<u64>,
    nan: Vec<bool>,
    any_nan_payload: bool,
}

/// Collects the results of every method.
struct Out(Vec<Rec>);

impl Out {
    fn push<T: Elem>(&mut self, name: impl Into<String>, v: &[T], any_nan_payload: bool) {
        self.0.push(Rec {
            name: name.into(),
            bits: v.iter().map(|x| x.bits()).collect(),
            nan: v.iter().map(|x| x.is_nan()).collect(),
            any_nan_payload,
        });
    }
    fn lanes<T: Elem, V: Lanes<T>>(
        &mut self,
        name: impl Into<String>,
        v: V,
        any_nan_payload: bool,
    ) {
        let mut s = vec![T::ZERO; V::N];
        v.store(&mut s);
        self.push(name, &s, any_nan_payload);
    }
}

/// Calls every `Lanes` method on vectors from `x` (`ARRAYS` arrays of `N + 1` values; `x[5]`
/// holds values in `[0, 1]` with at most one lane outside, for `any_outside_unit` and `any_above`,
/// and `x[6]` zeros and ones with at most one other lane, for `all_zero_or_one`).
#[inline(always)]
fn all_methods<T: Elem, V: Lanes<T>>(x: &[Vec<T>], acc0: &[f64; 16], out: &mut Out) {
    const SENTINEL: u64 = 0x5a5a_5a5a_5a5a_5a5a;
    let n = V::N;
    let (a, b, c) = (V::load(&x[0]), V::load(&x[1]), V::load(&x[2]));
    let (coef, unit, labels) = (V::load(&x[3]), V::load(&x[5]), V::load(&x[6]));
    out.lanes("splat", V::splat(x[4][0]), false);
    out.lanes("load", a, false);
    for k in 0..=n + 1 {
        out.lanes(
            format!("load_partial {k}"),
            V::load_partial(&x[1][..k], x[4][1]),
            false,
        );
        let mut buf = vec![T::from_bits64(SENTINEL); n + 3];
        a.store_partial(&mut buf[..k]);
        assert!(buf[k.min(n)..]
            .iter()
            .all(|v| v.bits() == T::from_bits64(SENTINEL).bits()));
        out.push(format!("store_partial {k}"), &buf, false);
    }
    let mut buf = vec![T::from_bits64(SENTINEL); n + 3];
    a.store(&mut buf);
    out.push("store (longer slice)", &buf, false);
    out.lanes("load (longer slice)", V::load(&x[2]), false);
    out.lanes("add", a.add(b), true);
    out.lanes("sub", a.sub(b), true);
    out.lanes("mul", a.mul(b), true);
    out.lanes("div", a.div(b), true);
    out.lanes("mul_add", a.mul_add(b, c), true);
    let every = V::splat(T::from_f64(f64::INFINITY));
    out.lanes("mul_tiny", a.mul_tiny(b, every), true);
    out.lanes("mul_tiny coef", a.mul_tiny(coef, c.abs()), true);
    for (name, (p, q)) in [
        ("ab", (a, b)),
        ("ba", (b, a)),
        ("ac", (a, coef)),
        ("ca", (coef, a)),
    ] {
        out.lanes(format!("max {name}"), p.max(q), false);
        out.lanes(format!("min {name}"), p.min(q), false);
    }
    out.lanes("abs", a.abs(), false);
    let mut canon = vec![T::ZERO; n];
    a.canon_nan().store(&mut canon);
    for (got, want) in canon.iter().zip(&x[0]) {
        let nan = T::from_f64(f64::NAN).bits();
        assert_eq!(got.bits(), if want.is_nan() { nan } else { want.bits() });
    }
    out.push("canon_nan", &canon, false);
    // Canonical NaNs make even the arithmetic's NaN results path-independent.
    out.lanes("mul canon_nan", a.mul(b).canon_nan(), false);
    out.lanes("add canon_nan", b.add(a).canon_nan(), false);
    out.lanes("select_nonneg", a.select_nonneg(b, c), false);
    out.lanes("select_nonneg coef", coef.select_nonneg(a, b), false);
    out.lanes("zero_where_zero", a.zero_where_zero(coef), false);
    out.lanes("exp", a.exp(), false);
    out.lanes("ln", a.ln(), false);
    out.lanes("exp mid", c.exp(), false);
    out.lanes("ln abs", c.abs().ln(), false);
    for (name, v) in [("a", a), ("coef", coef), ("unit", unit), ("labels", labels)] {
        out.push(format!("reduce_max {name}"), &[v.reduce_max()], false);
        let flag = T::from_f64(f64::from(u8::from(v.any_outside_unit())));
        out.push(format!("any_outside_unit {name}"), &[flag], false);
        let flag = T::from_f64(f64::from(u8::from(v.all_zero_or_one())));
        out.push(format!("all_zero_or_one {name}"), &[flag], false);
        let flag = T::from_f64(f64::from(u8::from(v.any_above(V::splat(T::from_f64(1.0))))));
        out.push(format!("any_above 1 {name}"), &[flag], false);
        let flag = T::from_f64(f64::from(u8::from(v.any_above(b))));
        out.push(format!("any_above b {name}"), &[flag], false);
    }
    let mut acc = *acc0;
    a.add_to(&mut acc);
    b.add_to(&mut acc);
    out.push("add_to", &acc, true);
}

/// The per-round inputs: `ARRAYS` arrays per type and an accumulator.
struct AllMethods<'a> {
    x32: &'a [Vec<f32>],
    x64: &'a [Vec<f64>],
    acc: &'a [f64; 16],
}

impl Kernel for AllMethods<'_> {
    type Output = (Path, Vec<Rec>);
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> (Path, Vec<Rec>) {
        let mut out = Out(Vec::new());
        all_methods::<f32, I::F32>(self.x32, self.acc, &mut out);
        all_methods::<f64, I::F64>(self.x64, self.acc, &mut out);
        (I::PATH, out.0)
    }
}

/// `ARRAYS` arrays of `n + 1` values: random, random, mid-range, coefficients (30% ±0),
/// random, unit-interval and binary labels (each with one lane perturbed in half the rounds).
fn inputs<T: Elem>(rng: &mut Rng, n: usize) -> Vec<Vec<T>> {
    let mut x: Vec<Vec<T>> = (0..ARRAYS)
        .map(|_| (0..=n).map(|_| T::random(rng)).collect())
        .collect();
    x[2] = (0..=n)
        .map(|_| T::from_f64(-30.0 + 40.0 * rng.unit()))
        .collect();
    for v in &mut x[3] {
        if rng.next() % 10 < 3 {
            *v = T::from_f64(if rng.next().is_multiple_of(2) {
                0.0
            } else {
                -0.0
            });
        }
    }
    let unit = [0.0, -0.0, 1.0, 0.5, f64::from_bits(1)];
    x[5] = (0..=n)
        .map(|_| match rng.next() % 3 {
            0 => T::from_f64(unit[(rng.next() % 5) as usize]),
            _ => T::from_f64(rng.unit()),
        })
        .collect();
    let labels = [0.0, -0.0, 1.0];
    x[6] = (0..=n)
        .map(|_| T::from_f64(labels[(rng.next() % 3) as usize]))
        .collect();
    for k in [5, 6] {
        if rng.next().is_multiple_of(2) {
            x[k][(rng.next() % n as u64) as usize] = T::random(rng);
        }
    }
    x
}

#[test]
fn every_method_matches_portable() {
    let mut rng = Rng(11);
    let paths = supported();
    let mut lanes = vec![0usize; paths.len()];
    // Per path: method name -> lanes that differed only in a NaN payload.
    let mut relaxed = vec![std::collections::BTreeMap::<String, usize>::new(); paths.len()];
    for _ in 0..ROUNDS {
        let x32 = inputs::<f32>(&mut rng, 16);
        let x64 = inputs::<f64>(&mut rng, 8);
        let acc: [f64; 16] = std::array::from_fn(|_| f64::random(&mut rng));
        let k = || AllMethods {
            x32: &x32,
            x64: &x64,
            acc: &acc,
        };
        let (_, want) = dispatch_on(Path::Scalar, k());
        for (i, &path) in paths.iter().enumerate() {
            let (ran, got) = dispatch_on(path, k());
            assert_eq!(ran, path);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((&g.name, g.bits.len()), (&w.name, w.bits.len()));
                for (l, (&gb, &wb)) in g.bits.iter().zip(&w.bits).enumerate() {
                    lanes[i] += 1;
                    if gb == wb {
                        continue;
                    }
                    let both_nan = g.nan[l] && w.nan[l];
                    assert!(
                        w.any_nan_payload && both_nan,
                        "[{}] {} lane {l}: {gb:#x} vs portable {wb:#x}\ninputs f32 {x32:?}\n\
                         inputs f64 {x64:?}",
                        path.name(),
                        w.name
                    );
                    *relaxed[i].entry(w.name.clone()).or_default() += 1;
                }
            }
        }
    }
    for (i, p) in paths.iter().enumerate() {
        println!(
            "[{}] {ROUNDS} rounds, {} lanes compared with Portable; NaN-payload-only \
             differences: {:?}",
            p.name(),
            lanes[i],
            relaxed[i]
        );
    }
}

/// A kernel that only reports where it ran.
struct WhichPath;

impl Kernel for WhichPath {
    type Output = Path;
    fn run<I: Isa>(self, _: I) -> Path {
        I::PATH
    }
}

#[test]
fn dispatch_runs_the_resolved_path() {
    for p in [Path::Scalar, Path::Avx2, Path::Avx512, Path::Neon] {
        assert_eq!(dispatch_on(p, WhichPath), resolve(p), "{p:?}");
        assert!(resolve(p).is_supported());
    }
    assert_eq!(supported().first(), Some(&Path::Scalar));
}

/// Gathers and scatters tiles of every row count (0 to 16) and class count (1 to
/// `SHORT_ROW - 1`), on
/// sentinel-filled buffers, and returns everything they wrote.
struct TileCopies<'a> {
    x32: &'a [f32],
    x64: &'a [f64],
}

impl Kernel for TileCopies<'_> {
    type Output = (Vec<u32>, Vec<u64>);
    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> (Vec<u32>, Vec<u64>) {
        (
            tile_copies::<f32, I::F32>(self.x32, -7.0)
                .iter()
                .map(|v| v.to_bits())
                .collect(),
            tile_copies::<f64, I::F64>(self.x64, -7.0)
                .iter()
                .map(|v| v.to_bits())
                .collect(),
        )
    }
}

#[inline(always)]
fn tile_copies<T: Copy, V: Lanes<T>>(x: &[T], sentinel: T) -> Vec<T> {
    let mut out = Vec::new();
    for classes in 1..SHORT_ROW {
        for rows in 0..=16 {
            // The rows alone, and the rows at the start of a longer input (which the
            // transposes may read, never use): the slots of the rows' classes must agree.
            for src in [&x[..rows * classes], x] {
                // The buffer as the kernels size it (`TileBufs`).
                let mut buf = vec![sentinel; tile_len(classes)];
                V::gather_rows(src, rows, classes, &mut buf);
                for c in 0..classes {
                    out.extend_from_slice(&buf[c * 16..c * 16 + rows]);
                }
                // Scatter into a slice with sentinels around it: nothing outside may change.
                let mut dst = vec![sentinel; rows * classes + 32];
                V::scatter_rows(&buf, rows, classes, &mut dst[16..16 + rows * classes]);
                out.extend_from_slice(&dst);
                // A buffer one slot short: every path copies element by element, skipping the
                // slots past its end, so the whole buffer agrees.
                let mut short = vec![sentinel; tile_len(classes) - 1];
                V::gather_rows(src, rows, classes, &mut short);
                out.extend_from_slice(&short);
            }
        }
    }
    out
}

#[test]
fn tile_gather_and_scatter_match_portable_and_round_trip() {
    let mut rng = Rng(5);
    let x32: Vec<f32> = (0..TILE_BUF).map(|_| f32::random(&mut rng)).collect();
    let x64: Vec<f64> = (0..TILE_BUF).map(|_| f64::random(&mut rng)).collect();
    let k = || TileCopies {
        x32: &x32,
        x64: &x64,
    };
    let want = dispatch_on(Path::Scalar, k());
    // The portable copy itself: gather puts row l, class c at c * 16 + l, and scatter(gather)
    // gives the rows back with the sentinels around them untouched.
    let mut at = 0;
    for classes in 1..SHORT_ROW {
        for rows in 0..=16usize {
            for _ in 0..2 {
                let buf = &want.0[at..at + classes * rows];
                for l in 0..rows {
                    for c in 0..classes {
                        assert_eq!(buf[c * rows + l], x32[l * classes + c].to_bits());
                    }
                }
                at += classes * rows;
                let dst = &want.0[at..at + rows * classes + 32];
                assert!(dst[..16]
                    .iter()
                    .chain(&dst[16 + rows * classes..])
                    .all(|&b| b == (-7.0f32).to_bits()));
                let back: Vec<u32> = x32[..rows * classes].iter().map(|v| v.to_bits()).collect();
                assert_eq!(&dst[16..16 + rows * classes], &back[..]);
                at += rows * classes + 32;
                // The short buffer: the rows' slots that fit, and sentinels elsewhere.
                let short = &want.0[at..at + tile_len(classes) - 1];
                for (i, &b) in short.iter().enumerate() {
                    let (c, l) = (i / 16, i % 16);
                    let want = if c < classes && l < rows {
                        x32[l * classes + c].to_bits()
                    } else {
                        (-7.0f32).to_bits()
                    };
                    assert_eq!(b, want, "classes {classes} rows {rows} slot {i}");
                }
                at += tile_len(classes) - 1;
            }
        }
    }
    assert_eq!(at, want.0.len());
    for path in supported() {
        let got = dispatch_on(path, k());
        assert!(
            got == want,
            "[{}] tile copies differ from the portable path",
            path.name()
        );
    }
}

/// Prefetches spans (inside, straddling and past the end, empty, reversed) of `f32`s and of an
/// element larger than a cache line, through the path's [`Isa::prefetch`]; and single elements
/// (inside, at and past the end, at `usize::MAX`) through [`Lanes::prefetch`].
struct Prefetches<'a> {
    small: &'a [f32],
    big: &'a [[u8; 200]],
}

impl Kernel for Prefetches<'_> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self, isa: I) {
        let (seven, three) = (7, 3);
        for span in [0..3, 2..40, 100..200, 5..5, seven..three] {
            isa.prefetch(self.small, span.clone());
            isa.prefetch(self.big, span);
        }
        let doubles = [2.5f64; 9];
        for i in [0, 7, 19, 20, 21, 4096, usize::MAX] {
            I::F32::prefetch(self.small, i);
            I::F64::prefetch(&doubles, i);
        }
    }
}

#[test]
fn prefetch_is_only_a_hint_for_any_span_and_element_size() {
    let small = vec![1.5f32; 20];
    let big = vec![[7u8; 200]; 4];
    for path in supported() {
        // An element wider than a line made the step 0 in the first version: a hang (the
        // kernels pass only f32 and f64).
        dispatch_on(
            path,
            Prefetches {
                small: &small,
                big: &big,
            },
        );
    }
    assert!(small.iter().all(|&v| v == 1.5) && big.iter().all(|b| b.iter().all(|&v| v == 7)));
}
