//! Criterion benches of the vector `exp`/`ln`: the platform libm (`f32::exp` etc.), the portable
//! path (`scalar`) and each vector path this CPU supports, over 32,000-element f32 and f64
//! slices through `simd::dispatch_on`.
//!
//! Throughput is reported in bytes moved (input read + output written):
//! `cargo bench --bench simd`, or one function with `cargo bench --bench simd -- exp_f32`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use softloss::simd::{dispatch_on, supported, Isa, Kernel, Lanes};
use std::hint::black_box;
use std::time::Duration;

const LEN: usize = 32_000;

#[derive(Clone, Copy)]
enum Func {
    Exp,
    Ln,
}

/// `out[i] = f(x[i])` through the `Lanes` methods of the dispatched path.
struct Map<'a, T> {
    f: Func,
    x: &'a [T],
    out: &'a mut [T],
}

#[inline(always)]
fn map_lanes<T: Copy, V: Lanes<T>>(f: Func, x: &[T], out: &mut [T]) {
    let apply = |v: V| match f {
        Func::Exp => v.exp(),
        Func::Ln => v.ln(),
    };
    let n = x.len().min(out.len());
    let full = n - n % V::N;
    for (xc, oc) in x[..full].chunks_exact(V::N).zip(out.chunks_exact_mut(V::N)) {
        apply(V::load(xc)).store(oc);
    }
    if full < n {
        apply(V::load_partial(&x[full..n], x[full])).store_partial(&mut out[full..n]);
    }
}

impl Kernel for Map<'_, f32> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self, _: I) {
        map_lanes::<f32, I::F32>(self.f, self.x, self.out);
    }
}

impl Kernel for Map<'_, f64> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self, _: I) {
        map_lanes::<f64, I::F64>(self.f, self.x, self.out);
    }
}

/// Deterministic inputs: `[-30, 5]` for exp (softmax-like), `(0, 10]` for ln.
fn data(f: Func) -> Vec<f64> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..LEN)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            match f {
                Func::Exp => -30.0 + 35.0 * u,
                Func::Ln => 10.0 * (1.0 - u),
            }
        })
        .collect()
}

macro_rules! bench_type {
    ($c:expr, $t:ty, $name:literal, $f:expr, $libm:expr) => {{
        let f: Func = $f;
        let x: Vec<$t> = data(f).into_iter().map(|v| v as $t).collect();
        let mut out = vec![0.0 as $t; LEN];
        let mut g = $c.benchmark_group($name);
        g.throughput(Throughput::Bytes(
            (2 * LEN * std::mem::size_of::<$t>()) as u64,
        ));
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        g.bench_function(BenchmarkId::new("libm", LEN), |b| {
            b.iter(|| {
                for (o, &v) in out.iter_mut().zip(black_box(&x)) {
                    *o = $libm(v);
                }
            });
        });
        for path in supported() {
            g.bench_function(BenchmarkId::new(path.name(), LEN), |b| {
                b.iter(|| {
                    dispatch_on(
                        path,
                        Map {
                            f,
                            x: black_box(&x),
                            out: &mut out,
                        },
                    );
                });
            });
        }
        g.finish();
    }};
}

fn exp_ln(c: &mut Criterion) {
    bench_type!(c, f32, "exp_f32", Func::Exp, f32::exp);
    bench_type!(c, f64, "exp_f64", Func::Exp, f64::exp);
    bench_type!(c, f32, "ln_f32", Func::Ln, f32::ln);
    bench_type!(c, f64, "ln_f64", Func::Ln, f64::ln);
}

criterion_group!(benches, exp_ln);
criterion_main!(benches);
