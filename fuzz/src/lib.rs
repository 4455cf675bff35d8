//! Helpers shared by the kernel fuzz targets: arbitrary values and shapes, row access, and the
//! tolerance checks against f64 reference formulas.
//!
//! The targets call the kernels within the preconditions the bindings guarantee (matching lengths,
//! class targets in range or equal to `ignore_index`, BCE probabilities in `[0, 1]`), and panic on
//! any property violation, which libFuzzer reports as a crash.

use arbitrary::Arbitrary;
use softloss::kernels::nll::element_index;
use softloss::kernels::{GradScale, Layout, Real};

/// The element types the kernels run on, with the constants the tolerances need.
pub trait Float: Real {
    /// Machine epsilon.
    const EPS: f64;
    /// Smallest positive normal value.
    const TINY: f64;
    /// Largest finite value.
    const MAX: f64;
    /// The type's bits from the low bits of `b`.
    fn from_bits64(b: u64) -> Self;
    /// The type's bits, widened.
    fn bits(self) -> u64;
}

impl Float for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    const TINY: f64 = f32::MIN_POSITIVE as f64;
    const MAX: f64 = f32::MAX as f64;
    fn from_bits64(b: u64) -> Self {
        f32::from_bits(b as u32)
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Float for f64 {
    const EPS: f64 = f64::EPSILON;
    const TINY: f64 = f64::MIN_POSITIVE;
    const MAX: f64 = f64::MAX;
    fn from_bits64(b: u64) -> Self {
        f64::from_bits(b)
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// One arbitrary value: small integers and fractions, scaled values over the whole exponent range
/// (subnormals and overflow to inf included), raw bit patterns, and special values.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Val {
    Small(i8),
    Frac(i16),
    Scaled(i16, i8),
    Bits(u64),
    Special(u8),
}

impl Val {
    /// The value in `T` (rounded from f64 where it is not a bit pattern).
    pub fn get<T: Float>(self) -> T {
        let v = match self {
            Val::Small(i) => f64::from(i),
            Val::Frac(i) => f64::from(i) / 256.0,
            Val::Scaled(m, e) => f64::from(m) * 2f64.powi(i32::from(e) * 8),
            Val::Bits(b) => return T::from_bits64(b),
            Val::Special(s) => {
                let sub = T::TINY * T::EPS;
                let all = [
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NAN,
                    -0.0,
                    0.0,
                    T::MAX,
                    -T::MAX,
                    T::TINY,
                    sub,
                    -sub,
                    1.0,
                    -1.0,
                    88.72,
                    -87.34,
                    709.79,
                    -745.2,
                    1e4,
                    -1e4,
                ];
                all[usize::from(s) % all.len()]
            }
        };
        T::from_f64(v)
    }

    /// A value in `[0, 1]` (for BCE probabilities): zero, one, the extremes next to them, or the
    /// fractional part of [`Val::get`].
    pub fn unit<T: Float>(self) -> T {
        let u = match self {
            Val::Special(s) => {
                let all = [
                    0.0,
                    1.0,
                    T::TINY,
                    T::TINY * T::EPS,
                    1.0 - T::EPS / 2.0,
                    0.5,
                    T::EPS,
                ];
                all[usize::from(s) % all.len()]
            }
            _ => {
                let v = self.get::<T>().to_f64();
                if (0.0..=1.0).contains(&v) {
                    v
                } else if v.is_finite() {
                    v.abs().fract()
                } else {
                    0.5
                }
            }
        };
        T::from_f64(u)
    }
}

/// `n` values cycled from `vals` (starting at `salt`), mapped by `f`; zeros when `vals` is empty.
pub fn fill<T: Float>(vals: &[Val], n: usize, salt: usize, f: impl Fn(Val) -> T) -> Vec<T> {
    if vals.is_empty() {
        return vec![T::ZERO; n];
    }
    (0..n).map(|i| f(vals[(i + salt) % vals.len()])).collect()
}

/// An arbitrary shape and axis: up to 4 dimensions of 0..=16 and at most 4096 elements, or, when
/// the top byte of `big` is all ones (rarely: such inputs run ~100x slower), one dimension of up
/// to 71416 (long rows, the online softmax route, the parallel split), at most 72000 elements.
#[derive(Arbitrary, Debug)]
pub struct Shape {
    pub dims: [u8; 4],
    pub ndim: u8,
    pub axis: u8,
    pub big: u16,
}

impl Shape {
    /// `(shape, axis)` with at least `min_ndim` dimensions.
    pub fn resolve(&self, min_ndim: usize) -> (Vec<usize>, usize) {
        let ndim = min_ndim.max(usize::from(self.ndim % 5));
        let mut shape: Vec<usize> = (0..ndim).map(|i| usize::from(self.dims[i] % 17)).collect();
        let mut keep = None;
        let mut cap = 4096;
        if self.big >> 8 == 0xFF && ndim > 0 {
            let i = usize::from(self.axis / 8) % ndim;
            shape[i] = 16 + usize::from(self.big & 0xFF) * 280;
            keep = Some(i);
            cap = 72_000;
        }
        // Halve the largest dimension (the big one last) until the size fits, zero-length
        // dimensions counted as 1: an empty (N, C, 0) array with a huge N would make the
        // cross-entropy kernel spin for seconds (finding R1, tests/fuzz_regressions.rs).
        while shape.iter().map(|&d| d.max(1)).product::<usize>() > cap {
            let i = (0..ndim)
                .filter(|&i| Some(i) != keep && shape[i] > 1)
                .max_by_key(|&i| shape[i])
                .or(keep)
                .unwrap_or(0);
            shape[i] /= 2;
        }
        let axis = if ndim == 0 {
            0
        } else {
            usize::from(self.axis) % ndim
        };
        (shape, axis)
    }
}

/// The flat indices of row `k` (its `classes` elements along the class axis).
pub fn row_indices(lay: Layout, k: usize) -> impl Iterator<Item = usize> {
    (0..lay.classes).map(move |c| element_index(lay, k, c))
}

/// Row `k` of `a`, widened to f64.
pub fn row<T: Float>(a: &[T], lay: Layout, k: usize) -> Vec<f64> {
    row_indices(lay, k).map(|i| a[i].to_f64()).collect()
}

/// A compensated (Neumaier) sum, so that the reference adds no error of its own on long rows.
pub fn sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for v in values {
        let t = s + v;
        c += if s.abs() >= v.abs() {
            (s - t) + v
        } else {
            (v - t) + s
        };
        s = t;
    }
    // Infinities and NaN leave the compensation NaN: the plain sum is the answer then.
    if s.is_finite() {
        s + c
    } else {
        s
    }
}

/// `(max, sum of exp(x - max))` of a row, in f64.
pub fn max_sum(x: &[f64]) -> (f64, f64) {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m, sum(x.iter().map(|v| (v - m).exp())))
}

/// A short description of a row for failure messages: its length and first values.
pub fn show(r: &[f64]) -> String {
    format!("{} values {:?}", r.len(), &r[..r.len().min(8)])
}

/// True when every value is finite with magnitude at most `bound`.
pub fn bounded<T: Float>(a: &[T], bound: f64) -> bool {
    a.iter().all(|v| v.to_f64().abs() <= bound)
}

/// Asserts that `got` equals `want` (an f64 reference) within `tol` plus rounding to `T`: NaN must
/// match NaN, and an infinite reference (or one that rounds to an infinity) must be matched.
#[track_caller]
pub fn close<T: Float>(what: &str, got: T, want: f64, tol: f64) {
    let (g, w) = (got.to_f64(), T::from_f64(want).to_f64());
    let ok = if w.is_nan() {
        g.is_nan()
    } else {
        g == w || (g - want).abs() <= tol + want.abs() * T::EPS + T::TINY * 4.0
    };
    assert!(
        ok,
        "{what}: got {g:e}, reference {want:e} (tolerance {tol:e})"
    );
}

/// Asserts bitwise equality of two slices, NaN payloads aside (LLVM may commute an operation and
/// so propagate the other operand's NaN).
#[track_caller]
pub fn same_bits<T: Float>(what: &str, a: &[T], b: &[T]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let nan = |v: T| v.to_f64().is_nan();
    if let Some(i) = (0..a.len()).find(|&i| a[i].bits() != b[i].bits() && !(nan(a[i]) && nan(b[i])))
    {
        panic!("{what}: element {i} differs: {:?} vs {:?}", a[i], b[i]);
    }
}

/// Class targets within the kernels' contract: row `k`'s class is `k + targets[k]` modulo
/// `classes + 1`, `classes` standing for `ignore_index`; `ignore` is `Ok(k)` for a class (mod
/// `classes + 1`) or `Err(v)` for any value; optional per-class weights.
#[derive(Arbitrary, Debug)]
pub struct Classes {
    pub targets: Vec<u16>,
    pub ignore: Result<u8, i64>,
    pub weight: Option<Vec<Val>>,
}

impl Classes {
    /// `(targets, ignore_index, weights)` for `lay`.
    pub fn build<T: Float>(&self, lay: Layout) -> (Vec<i64>, i64, Option<Vec<T>>) {
        let c = lay.classes;
        let ignore = self
            .ignore
            .map_or_else(|v| v, |k| i64::from(k) % (c as i64 + 1));
        let raw = |k: usize| self.targets.get(k % self.targets.len().max(1));
        let targets = (0..lay.rows())
            .map(
                |k| match (k + raw(k).map_or(0, |t| usize::from(*t))) % (c + 1) {
                    t if t == c => ignore,
                    t => t as i64,
                },
            )
            .collect();
        (
            targets,
            ignore,
            self.weight.as_ref().map(|w| fill(w, c, 5, Val::get)),
        )
    }
}

/// A gradient scale: one value per row (reduction none) or one for every row (mean, sum).
#[derive(Arbitrary, Debug)]
pub struct Scale(pub Result<Vec<Val>, Val>);

impl Scale {
    /// The per-row values (empty for a uniform scale).
    pub fn values<T: Float>(&self, rows: usize) -> Vec<T> {
        self.0
            .as_ref()
            .map_or_else(|_| vec![], |g| fill(g, rows, 2, Val::get))
    }

    /// The kernels' scale, over `values` (from [`Scale::values`]).
    pub fn get<'a, T: Float>(&self, values: &'a [T]) -> GradScale<'a, T> {
        match self.0 {
            Ok(_) => GradScale::PerElement(values),
            Err(v) => GradScale::Uniform(v.get::<T>().to_f64()),
        }
    }
}

/// The rows a reference check visits: all of them up to 1024, else about 1024 spread evenly
/// (the last included), so that long inputs cost a bounded multiple of the kernel call.
pub fn sample_rows(rows: usize) -> impl Iterator<Item = usize> {
    let step = (rows / 1024).max(1);
    (0..rows).filter(move |k| k % step == 0 || k + 1 == rows)
}
