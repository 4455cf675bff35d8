//! softmax / log_softmax, forward and backward, over arbitrary shapes, axes, dtypes and values.
//!
//! Checks: rows holding NaN or +inf, or only -inf, are NaN (SPEC.md); other rows match an f64
//! reference, lie in range, sum to 1 and are monotone in the input; the backward passes match
//! their reference; every output element is written; and the first blocks computed alone give
//! the same bits as inside the whole call.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use softloss::kernels::softmax::{forward, Kind};
use softloss::kernels::softmax_backward::backward;
use softloss::kernels::Layout;
use softloss_fuzz::{
    bounded, close, fill, max_sum, row, same_bits, sample_rows, show, sum, Float, Shape, Val,
};

#[derive(Arbitrary, Debug)]
struct Input {
    f64: bool,
    shape: Shape,
    x: Vec<Val>,
    go: Vec<Val>,
    /// Feed the backward pass the forward output; otherwise arbitrary values stand in for it.
    y_is_output: bool,
    prefix: u8,
}

fuzz_target!(|inp: Input| {
    if inp.f64 {
        run::<f64>(&inp);
    } else {
        run::<f32>(&inp);
    }
});

/// Runs `f(out, layout)` on the whole layout twice, into outputs pre-filled with 0 and with 1
/// (every element must be written), and on its first `k` blocks alone (same bits).
fn call<T: Float>(lay: Layout, k: usize, f: impl Fn(&mut [T], Layout)) -> Vec<T> {
    let mut a = vec![T::ZERO; lay.len()];
    f(&mut a, lay);
    let mut b = vec![T::ONE; lay.len()];
    f(&mut b, lay);
    same_bits("every element written", &a, &b);
    let part = Layout { outer: k, ..lay };
    let mut p = vec![T::ZERO; part.len()];
    f(&mut p, part);
    same_bits("first blocks alone", &p, &a[..part.len()]);
    a
}

fn run<T: Float>(inp: &Input) {
    let (shape, axis) = inp.shape.resolve(0);
    let lay = Layout::new(&shape, axis);
    let n = lay.len();
    let x: Vec<T> = fill(&inp.x, n, 0, Val::get);
    let go: Vec<T> = fill(&inp.go, n, 7, Val::get);
    let k = usize::from(inp.prefix) % (lay.outer + 1);
    for kind in [Kind::Softmax, Kind::LogSoftmax] {
        let out = call(lay, k, |o, l| forward(kind, &x[..l.len()], o, l));
        check_forward(kind, &x, &out, lay);
        let y = if inp.y_is_output {
            out
        } else {
            fill(&inp.go, n, 3, Val::get)
        };
        let g = call(lay, k, |o, l| {
            backward(kind, &go[..l.len()], &y[..l.len()], o, l)
        });
        let log_domain = kind == Kind::Softmax || y.iter().all(|v| v.to_f64() <= 0.0);
        if bounded(&go, 1e4) && bounded(&y, 1e4) && log_domain {
            check_backward(kind, &go, &y, &g, lay);
        }
    }
}

fn check_forward<T: Float>(kind: Kind, x: &[T], out: &[T], lay: Layout) {
    let soft = kind == Kind::Softmax;
    for k in sample_rows(lay.rows()) {
        let (xr, or) = (row(x, lay, k), row(out, lay, k));
        let special = xr.iter().any(|v| v.is_nan() || *v == f64::INFINITY)
            || xr.iter().all(|v| *v == f64::NEG_INFINITY);
        if special {
            assert!(
                or.iter().all(|v| v.is_nan()),
                "row {k}: {} gave {}",
                show(&xr),
                show(&or)
            );
            continue;
        }
        let (m, s) = max_sum(&xr);
        let (ln_s, c) = (s.ln(), xr.len() as f64);
        // The kernel sums the exps in 16 f64 lanes (in class order when the class axis is not
        // last): up to ~C f64 ulps of error in s, counted here in units of T's epsilon.
        let se = c * f64::EPSILON / T::EPS;
        let mut parts = Vec::with_capacity(xr.len());
        for (&xv, &ov) in xr.iter().zip(&or) {
            let d = xv - m;
            if soft {
                let want = d.exp() / s;
                close::<T>(
                    "softmax",
                    T::from_f64(ov),
                    want,
                    T::EPS * want * (d.abs() + 16.0 + se),
                );
                assert!((0.0..=1.0).contains(&ov), "softmax {ov} outside [0, 1]");
                parts.push(ov);
            } else {
                let want = d - ln_s;
                let tol = 2.0 * T::EPS * (d.abs() + ln_s + 4.0 + se);
                close::<T>("log_softmax", T::from_f64(ov), want, tol);
                assert!(ov <= 0.0, "log_softmax {ov} > 0");
                parts.push(ov.exp());
            }
        }
        let (total, tol) = (sum(parts), T::EPS * (32.0 + 8.0 * c.ln() + se));
        assert!(
            (total - 1.0).abs() <= tol,
            "row {k} sums to {total}: {}",
            show(&xr)
        );
        let mut order: Vec<usize> = (0..xr.len()).collect();
        order.sort_by(|&a, &b| xr[a].total_cmp(&xr[b]));
        for w in order.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(
                or[a] <= or[b],
                "{kind:?} not monotone: x {} -> {}, x {} -> {}",
                xr[a],
                or[a],
                xr[b],
                or[b]
            );
        }
    }
}

fn check_backward<T: Float>(kind: Kind, go: &[T], y: &[T], g: &[T], lay: Layout) {
    let soft = kind == Kind::Softmax;
    for k in sample_rows(lay.rows()) {
        let (gr, yr, out) = (row(go, lay, k), row(y, lay, k), row(g, lay, k));
        let c = gr.len() as f64;
        // The row reduction: sum(go * p) for softmax, sum(go) for log_softmax; and its magnitude.
        // Summed in class order when the class axis is not last, it may be off by ~C ulps of it.
        let term = |i: usize| if soft { gr[i] * yr[i] } else { gr[i] };
        let s = sum((0..gr.len()).map(term));
        let abs = sum((0..gr.len()).map(|i| term(i).abs()));
        for i in 0..gr.len() {
            let (want, tol) = if soft {
                let tol = yr[i].abs() * (gr[i].abs() + (2.0 + c) * abs);
                (yr[i] * (gr[i] - s), tol)
            } else {
                let e = yr[i].exp();
                (gr[i] - e * s, gr[i].abs() + e * (4.0 + c) * abs)
            };
            close::<T>("backward", T::from_f64(out[i]), want, 4.0 * T::EPS * tol);
        }
    }
}
