//! Backward passes of softmax and log_softmax, computed from the forward OUTPUT.
//!
//! With p = softmax(x), logp = log_softmax(x) and incoming gradient `go`, per row:
//! `d softmax:     gx_c = p_c * (go_c - sum_k go_k p_k)`
//! `d log_softmax: gx_c = go_c - exp(logp_c) * sum_k go_k`.
//! Both follow from the Jacobian `dp_c/dx_k = p_c ([c == k] - p_k)`. The row reductions are
//! accumulated in `f64`; nothing can overflow since `0 <= p <= 1` and `exp(logp) <= 1`.

use super::softmax::{Kind, TILE};
use super::{Layout, Real};
use crate::parallel;

/// The gradient with respect to the forward input, given `grad_output` and the forward `output`.
pub fn backward<T: Real>(kind: Kind, go: &[T], y: &[T], out: &mut [T], layout: Layout) {
    let block = layout.block_len();
    if block == 0 || go.len() != out.len() || y.len() != out.len() {
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
            let span = r.start * block..r.end * block;
            let blocks = go[span.clone()]
                .chunks_exact(block)
                .zip(y[span].chunks_exact(block));
            for ((gb, yb), ob) in blocks.zip(o.chunks_exact_mut(block)) {
                if layout.inner == 1 {
                    row(kind, gb, yb, ob);
                } else {
                    block_tiled(kind, gb, yb, ob, layout.classes, layout.inner);
                }
            }
        },
    );
}

/// The row reduction: `sum(go * p)` for softmax, `sum(go)` for log_softmax.
#[inline]
fn reduce_term<T: Real>(kind: Kind, g: T, y: T) -> f64 {
    match kind {
        Kind::Softmax => g.to_f64() * y.to_f64(),
        Kind::LogSoftmax => g.to_f64(),
    }
}

#[inline]
fn apply<T: Real>(kind: Kind, g: T, y: T, sum: T) -> T {
    match kind {
        Kind::Softmax => y * (g - sum),
        Kind::LogSoftmax => g - y.exp() * sum,
    }
}

fn row<T: Real>(kind: Kind, go: &[T], y: &[T], out: &mut [T]) {
    let sum: f64 = go
        .iter()
        .zip(y)
        .map(|(&g, &p)| reduce_term(kind, g, p))
        .sum();
    let sum = T::from_f64(sum);
    for ((o, &g), &p) in out.iter_mut().zip(go).zip(y) {
        *o = apply(kind, g, p, sum);
    }
}

fn block_tiled<T: Real>(
    kind: Kind,
    go: &[T],
    y: &[T],
    out: &mut [T],
    classes: usize,
    inner: usize,
) {
    let mut j0 = 0;
    while j0 < inner {
        let w = TILE.min(inner - j0);
        let col = |c: usize| c * inner + j0..c * inner + j0 + w;
        let mut s = [0.0f64; TILE];
        for c in 0..classes {
            for ((sj, &g), &p) in s.iter_mut().zip(&go[col(c)]).zip(&y[col(c)]) {
                *sj += reduce_term(kind, g, p);
            }
        }
        let sums: [T; TILE] = std::array::from_fn(|j| T::from_f64(s[j]));
        for c in 0..classes {
            let (gr, yr, or) = (&go[col(c)], &y[col(c)], &mut out[col(c)]);
            for (((o, &g), &p), &sj) in or.iter_mut().zip(gr).zip(yr).zip(&sums) {
                *o = apply(kind, g, p, sj);
            }
        }
        j0 += w;
    }
}

#[cfg(test)]
mod tests {
    use super::super::softmax::forward;
    use super::*;

    #[test]
    fn matches_finite_differences() {
        let x = [0.3f64, 2.9, 4.0, -1.0];
        let go = [0.5f64, -1.25, 2.0, 0.75];
        let l = Layout::new(&[4], 0);
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let f = |x: &[f64]| {
                let mut y = vec![0.0; 4];
                forward(kind, x, &mut y, l);
                y.iter().zip(&go).map(|(a, b)| a * b).sum::<f64>()
            };
            let mut y = vec![0.0; 4];
            forward(kind, &x, &mut y, l);
            let mut g = vec![0.0; 4];
            backward(kind, &go, &y, &mut g, l);
            for i in 0..4 {
                let (mut xp, mut xm) = (x, x);
                xp[i] += 1e-6;
                xm[i] -= 1e-6;
                let fd = (f(&xp) - f(&xm)) / 2e-6;
                assert!((fd - g[i]).abs() < 1e-8, "{kind:?} {i}: {fd} vs {}", g[i]);
            }
        }
    }

    #[test]
    fn tiled_matches_rows() {
        let (c, n) = (3, 67);
        let go: Vec<f64> = (0..c * n).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let x: Vec<f64> = (0..c * n)
            .map(|i| ((i * 104_729) % 17) as f64 * 0.3)
            .collect();
        for kind in [Kind::Softmax, Kind::LogSoftmax] {
            let mut y = vec![0.0; c * n];
            forward(kind, &x, &mut y, Layout::new(&[c, n], 0));
            let mut g = vec![0.0; c * n];
            backward(kind, &go, &y, &mut g, Layout::new(&[c, n], 0));
            for j in 0..n {
                let pick = |v: &[f64]| (0..c).map(|k| v[k * n + j]).collect::<Vec<_>>();
                let mut gr = vec![0.0; c];
                backward(kind, &pick(&go), &pick(&y), &mut gr, Layout::new(&[c], 0));
                assert_eq!(pick(&g), gr);
            }
        }
    }
}
