//! Criterion benches of the kernel families, with a memcpy baseline in the same run.
//!
//! Throughput is reported in bytes moved (reads + writes), so each kernel reads against the
//! memcpy line: `cargo bench --bench kernels`, or one family with `cargo bench -- softmax`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use softloss::kernels::cross_entropy::{forward_backward, Target};
use softloss::kernels::nll::ClassTargets;
use softloss::kernels::softmax::{forward, Kind};
use softloss::kernels::softmax_backward::backward;
use softloss::kernels::{bce_logits, GradScale, Layout};
use std::hint::black_box;

/// (rows, classes) shapes: a vocabulary-sized batch and many tiny rows.
const SHAPES: [(usize, usize); 2] = [(128, 32_000), (200_000, 10)];

fn data(n: usize) -> Vec<f32> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 16.0 - 8.0
        })
        .collect()
}

fn bytes(n: usize, arrays: usize) -> Throughput {
    Throughput::Bytes((n * arrays * std::mem::size_of::<f32>()) as u64)
}

fn softmax_family(c: &mut Criterion) {
    let mut g = c.benchmark_group("softmax");
    g.sample_size(20);
    for (rows, classes) in SHAPES {
        let n = rows * classes;
        let (x, layout) = (data(n), Layout::new(&[rows, classes], 1));
        let mut out = vec![0.0f32; n];
        let id = format!("{rows}x{classes}");
        g.throughput(bytes(n, 2));
        g.bench_function(BenchmarkId::new("memcpy", &id), |b| {
            b.iter(|| out.copy_from_slice(black_box(&x)));
        });
        for (name, kind) in [
            ("softmax", Kind::Softmax),
            ("log_softmax", Kind::LogSoftmax),
        ] {
            g.bench_function(BenchmarkId::new(name, &id), |b| {
                b.iter(|| forward(kind, black_box(&x), &mut out, layout));
            });
        }
        let y = out.clone();
        g.throughput(bytes(n, 3));
        g.bench_function(BenchmarkId::new("softmax_backward", &id), |b| {
            b.iter(|| backward(Kind::Softmax, black_box(&x), &y, &mut out, layout));
        });
    }
    g.finish();
}

fn losses(c: &mut Criterion) {
    let mut g = c.benchmark_group("losses");
    g.sample_size(20);
    for (rows, classes) in SHAPES {
        let n = rows * classes;
        let (x, layout) = (data(n), Layout::new(&[rows, classes], 1));
        let target: Vec<i64> = (0..rows as i64).map(|i| i % classes as i64).collect();
        let mut grad = vec![0.0f32; n];
        let id = format!("{rows}x{classes}");
        let t = || {
            Target::Class(ClassTargets {
                target: &target,
                weight: None,
                ignore_index: -100,
            })
        };
        g.throughput(bytes(n, 1));
        g.bench_function(BenchmarkId::new("cross_entropy", &id), |b| {
            b.iter(|| {
                forward_backward(
                    black_box(&x),
                    t(),
                    0.0,
                    layout,
                    &mut [],
                    &mut [],
                    GradScale::Uniform(0.0),
                )
            });
        });
        g.throughput(bytes(n, 2));
        g.bench_function(BenchmarkId::new("cross_entropy_with_grad", &id), |b| {
            b.iter(|| {
                forward_backward(
                    black_box(&x),
                    t(),
                    0.0,
                    layout,
                    &mut [],
                    &mut grad,
                    GradScale::Uniform(1.0),
                )
            });
        });
        let y: Vec<f32> = x.iter().map(|v| f32::from(u8::from(*v > 0.0))).collect();
        g.throughput(bytes(n, 2));
        g.bench_function(BenchmarkId::new("bce_with_logits", &id), |b| {
            b.iter(|| bce_logits::forward(black_box(&x), &y, None, None, &mut []));
        });
    }
    g.finish();
}

criterion_group!(benches, softmax_family, losses);
criterion_main!(benches);
