//! softmax and log_softmax along the class axis.
//!
//! Formula, per row x with max m and `s = sum_c exp(x_c - m)`:
//! `softmax(x)_c = exp(x_c - m) / s`, `log_softmax(x)_c = (x_c - m) - ln(s)`.
//!
//! Stability: subtracting the row max makes every exponent `<= 0`, so nothing overflows and the
//! largest term is exactly 1, hence `1 <= s <= C` and `ln(s)` is well conditioned. log_softmax
//! subtracts `m` before `ln(s)` so large logits with small differences keep their precision. The
//! exps are summed in `f64`. Special rows (SPEC.md): a row holding +inf or NaN, or only -inf,
//! becomes NaN (the NaN propagates through `s`); -inf among finite values gives 0 / -inf.
//!
//! Gradients (from the forward output, see [`super::softmax_backward`]):
//! `d softmax: gx = p * (go - sum(go * p))`, `d log_softmax: gx = go - exp(logp) * sum(go)`.
//!
//! Rows are contiguous when `inner == 1`; otherwise a `(classes, inner)` block is processed in
//! tiles of [`TILE`] columns, vectorising across the contiguous inner axis without a transpose.

use super::{Layout, Real};
use crate::parallel;

/// Columns of a `(classes, inner)` block processed together when the class axis is not last.
pub const TILE: usize = 64;

/// Which of the two functions to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `exp(x - m) / s`.
    Softmax,
    /// `(x - m) - ln(s)`.
    LogSoftmax,
}

/// softmax or log_softmax of `x` (laid out as `layout`) into `out` (same length).
pub fn forward<T: Real>(kind: Kind, x: &[T], out: &mut [T], layout: Layout) {
    let block = layout.block_len();
    if block == 0 || x.len() != out.len() {
        return;
    }
    parallel::map_chunks(
        layout.outer,
        block,
        out,
        block,
        &mut [] as &mut [u8],
        0,
        |r, o, _| {
            let src = &x[r.start * block..r.end * block];
            for (xb, ob) in src.chunks_exact(block).zip(o.chunks_exact_mut(block)) {
                if layout.inner == 1 {
                    row(kind, xb, ob);
                } else {
                    block_tiled(kind, xb, ob, layout.classes, layout.inner);
                }
            }
        },
    );
}

/// The max of a row, ignoring NaN (a NaN still reaches the result through the sum).
#[inline]
pub fn row_max<T: Real>(x: &[T]) -> T {
    x.iter().fold(T::NEG_INFINITY, |m, &v| m.max_ignore_nan(v))
}

/// One contiguous row.
fn row<T: Real>(kind: Kind, x: &[T], out: &mut [T]) {
    let m = row_max(x);
    match kind {
        Kind::Softmax => {
            let mut s = 0.0f64;
            for (o, &v) in out.iter_mut().zip(x) {
                let e = (v - m).exp();
                *o = e;
                s += e.to_f64();
            }
            for o in out.iter_mut() {
                *o = T::from_f64(o.to_f64() / s);
            }
        }
        Kind::LogSoftmax => {
            let s: f64 = x.iter().map(|&v| (v - m).exp().to_f64()).sum();
            let log_s = T::from_f64(s.ln());
            for (o, &v) in out.iter_mut().zip(x) {
                *o = (v - m) - log_s;
            }
        }
    }
}

/// One `(classes, inner)` block with the class axis strided by `inner`, in tiles of columns.
fn block_tiled<T: Real>(kind: Kind, x: &[T], out: &mut [T], classes: usize, inner: usize) {
    let mut j0 = 0;
    while j0 < inner {
        let w = TILE.min(inner - j0);
        let mut m = [T::NEG_INFINITY; TILE];
        let mut s = [0.0f64; TILE];
        let col = |c: usize| c * inner + j0..c * inner + j0 + w;
        for c in 0..classes {
            for (mj, &v) in m.iter_mut().zip(&x[col(c)]) {
                *mj = mj.max_ignore_nan(v);
            }
        }
        for c in 0..classes {
            let (xr, or) = (&x[col(c)], &mut out[col(c)]);
            for ((o, &v), (&mj, sj)) in or.iter_mut().zip(xr).zip(m.iter().zip(s.iter_mut())) {
                let e = (v - mj).exp();
                *sj += e.to_f64();
                if kind == Kind::Softmax {
                    *o = e;
                }
            }
        }
        for c in 0..classes {
            let (xr, or) = (&x[col(c)], &mut out[col(c)]);
            for (j, (o, &v)) in or.iter_mut().zip(xr).enumerate() {
                *o = match kind {
                    Kind::Softmax => T::from_f64(o.to_f64() / s[j]),
                    Kind::LogSoftmax => (v - m[j]) - T::from_f64(s[j].ln()),
                };
            }
        }
        j0 += w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: Real>(kind: Kind, x: &[T], layout: Layout) -> Vec<T> {
        let mut out = vec![T::ZERO; x.len()];
        forward(kind, x, &mut out, layout);
        out
    }

    fn lcg(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 20.0
            })
            .collect()
    }

    #[test]
    fn rows_sum_to_one() {
        let x = lcg(7 * 300, 1);
        let p = run(Kind::Softmax, &x, Layout::new(&[7, 300], 1));
        for r in p.chunks(300) {
            assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-13);
        }
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let p32 = run(Kind::Softmax, &x32, Layout::new(&[7, 300], 1));
        for r in p32.chunks(300) {
            assert!((r.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn shift_invariance() {
        let x = lcg(5 * 40, 2);
        let shifted: Vec<f64> = x.iter().map(|v| v + 1000.0).collect();
        let l = Layout::new(&[5, 40], 1);
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let (a, b) = (run(kind, &x, l), run(kind, &shifted, l));
            assert!(
                a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-9),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn overflow_example_has_no_nan() {
        let p = run(
            Kind::Softmax,
            &[1010.0f64, 1000.0, 990.0],
            Layout::new(&[3], 0),
        );
        let want = [
            9.999_546_000_702_375e-1,
            4.539_786_860_886_666e-5,
            2.061_060_046_209_062e-9,
        ];
        assert!(
            p.iter().zip(want).all(|(a, b)| ((a - b) / b).abs() < 1e-12),
            "{p:?}"
        );
    }

    #[test]
    fn special_rows() {
        let inf = f64::INFINITY;
        let l = Layout::new(&[4, 3], 1);
        let x = [
            1.0,
            -inf,
            2.0,
            inf,
            0.0,
            1.0,
            -inf,
            -inf,
            -inf,
            f64::NAN,
            1.0,
            2.0,
        ];
        let p = run(Kind::Softmax, &x, l);
        assert_eq!(p[1], 0.0);
        assert!(p[3..].iter().all(|v| v.is_nan()));
        let lp = run(Kind::LogSoftmax, &x, l);
        assert_eq!(lp[1], -inf);
        assert!(lp[3..].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn tiled_axis_matches_transposed_rows() {
        // (2, 5, 70) with axis 1: compare against rows gathered by hand.
        let (o, c, n) = (2, 5, 70);
        let x = lcg(o * c * n, 3);
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let got = run(kind, &x, Layout::new(&[o, c, n], 1));
            for b in 0..o {
                for j in 0..n {
                    let r: Vec<f64> = (0..c).map(|k| x[b * c * n + k * n + j]).collect();
                    let want = run(kind, &r, Layout::new(&[c], 0));
                    for k in 0..c {
                        assert_eq!(got[b * c * n + k * n + j].to_bits(), want[k].to_bits());
                    }
                }
            }
        }
    }

    #[test]
    fn serial_equals_parallel_bitwise() {
        let x: Vec<f32> = lcg(600 * 500, 4).iter().map(|&v| v as f32).collect();
        let l = Layout::new(&[600, 500], 1);
        crate::parallel::set_num_threads(1);
        let a = run(Kind::Softmax, &x, l);
        crate::parallel::set_num_threads(4);
        let b = run(Kind::Softmax, &x, l);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
