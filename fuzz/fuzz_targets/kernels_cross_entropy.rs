//! cross_entropy from logits (class or probability targets, class weights, ignore_index, label
//! smoothing, uniform or per-row gradient scale) over arbitrary shapes, axes and values.
//!
//! Checks: the loss sums, per-row losses and gradient have the same bits whichever of the outputs
//! are asked for (the fused `*_with_grad` contract); every output element is written; the first
//! blocks alone give the same bits as inside the whole call; and bounded inputs (masked -inf
//! logits allowed) match an f64 reference.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use softloss::kernels::cross_entropy::{forward_backward, Target};
use softloss::kernels::nll::{element_index, ClassTargets};
use softloss::kernels::Layout;
use softloss_fuzz::{
    bounded, close, fill, max_sum, row, same_bits, sample_rows, sum, Classes, Float,
};
use softloss_fuzz::{Scale, Shape, Val};

#[derive(Arbitrary, Debug)]
struct Input {
    f64: bool,
    shape: Shape,
    x: Vec<Val>,
    classes: Classes,
    /// Probability targets (any values: the bindings check only their shape).
    prob: Option<Vec<Val>>,
    eps: u16,
    scale: Scale,
    prefix: u8,
}

fuzz_target!(|inp: Input| {
    if inp.f64 {
        run::<f64>(&inp);
    } else {
        run::<f32>(&inp);
    }
});

fn run<T: Float>(inp: &Input) {
    let (shape, axis) = inp.shape.resolve(1);
    let lay = Layout::new(&shape, axis);
    let (n, rows, c) = (lay.len(), lay.rows(), lay.classes);
    let x: Vec<T> = fill(&inp.x, n, 0, Val::get);
    let (target, ignore_index, weight) = inp.classes.build::<T>(lay);
    let w = weight.as_deref();
    let ct = ClassTargets {
        target: &target,
        weight: w,
        ignore_index,
    };
    let y: Option<Vec<T>> = inp.prob.as_ref().map(|y| fill(y, n, 9, Val::get));
    let kt = match &y {
        Some(y) => Target::Prob { y, weight: w },
        None => Target::Class(ct),
    };
    let eps = if inp.eps >= 0xF000 {
        0.0
    } else {
        f64::from(inp.eps) / f64::from(0xEFFF)
    };
    let go: Vec<T> = inp.scale.values(rows);
    let scale = inp.scale.get(&go);

    // Every combination of outputs, pre-filled with 0 and with 1, then the first blocks alone.
    let fb = |l: &mut [T], g: &mut [T], lay| forward_backward(&x, kt, eps, lay, l, g, scale);
    let (mut l0, mut g0) = (vec![T::ZERO; rows], vec![T::ZERO; n]);
    let s0 = fb(&mut l0, &mut g0, lay);
    let (mut l1, mut g1) = (vec![T::ONE; rows], vec![T::ONE; n]);
    let (s1, s2, s3) = (
        fb(&mut l1, &mut [], lay),
        fb(&mut [], &mut g1, lay),
        fb(&mut [], &mut [], lay),
    );
    same_bits("losses with and without the gradient", &l0, &l1);
    same_bits("gradient with and without the losses", &g0, &g1);
    for s in [s1, s2, s3] {
        same_bits("sums", &[s.loss, s.weight], &[s0.loss, s0.weight]);
    }
    let part = Layout {
        outer: usize::from(inp.prefix) % (lay.outer + 1),
        ..lay
    };
    let (mut lp, mut gp) = (vec![T::ZERO; part.rows()], vec![T::ZERO; part.len()]);
    fb(&mut lp, &mut gp, part);
    same_bits("losses of the first blocks alone", &lp, &l0[..part.rows()]);
    same_bits("gradient of the first blocks alone", &gp, &g0[..part.len()]);

    // The f64 reference, for bounded values (masked -inf logits allowed).
    let ok = |a: &[T]| {
        a.iter()
            .all(|v| *v == T::NEG_INFINITY || v.to_f64().abs() <= 1e4)
    };
    let nice = w.is_none_or(|w| bounded(w, 1e4)) && y.as_deref().is_none_or(|y| bounded(y, 1e4));
    if !(ok(&x) && nice && bounded(&go, 1e4) && scale.at(0).abs() <= 1e4) {
        return;
    }
    let wc = |i: usize| w.map_or(1.0, |w| w[i].to_f64());
    let (mut refs, mut tols, mut wsum, mut wabs) = (vec![], vec![], 0.0, 0.0);
    for k in sample_rows(rows) {
        let xr = row(&x, lay, k);
        let (m, s) = max_sum(&xr);
        if m == f64::NEG_INFINITY {
            continue; // an all -inf row: NaN, like softmax; not a bounded input
        }
        let q: Vec<f64> = match (&y, ct.class_of(k, c)) {
            (Some(y), _) => {
                (wsum, wabs) = (wsum + 1.0, wabs + 1.0);
                let yr = row(y, lay, k);
                (0..c)
                    .map(|i| wc(i) * ((1.0 - eps) * yr[i] + eps / c as f64))
                    .collect()
            }
            (None, None) => vec![0.0; c],
            (None, Some(t)) => {
                (wsum, wabs) = (wsum + wc(t), wabs + wc(t).abs());
                let hot = |i: usize| if i == t { (1.0 - eps) * wc(t) } else { 0.0 };
                (0..c).map(|i| hot(i) + eps / c as f64 * wc(i)).collect()
            }
        };
        let (ln_s, qt, qa) = (
            s.ln(),
            sum(q.iter().copied()),
            sum(q.iter().map(|v| v.abs())),
        );
        let d = |i: usize| xr[i] - m;
        // IEEE semantics (0 * -inf is NaN, as in PyTorch), but no smoothing term without smoothing.
        let loss = match (ct.class_of(k, c), &y) {
            (None, None) => 0.0,
            (Some(t), None) if eps == 0.0 => -wc(t) * (d(t) - ln_s),
            _ => -sum((0..c).map(|i| q[i] * (d(i) - ln_s))),
        };
        // Error allowances in units of T's epsilon. `se`: the kernel's row sums (the exps, and
        // for the loss also `sum q_c (x_c - m)` and `sum q_c`) add C / 16 terms per f64 lane in
        // order, so each may be off by up to ~C f64 ulps relative to the sum of its terms'
        // magnitudes (C1: 71416 equal terms, 290 ulps).
        let se = c as f64 * f64::EPSILON / T::EPS;
        let nz = |i: usize, v: f64| if q[i] == 0.0 { 0.0 } else { v };
        // A coefficient w_c y'_c formed in T may be subnormal there: an absolute T::TINY * EPS.
        let term = |i: usize| {
            let per_term = d(i).abs() + ln_s + 1.0;
            nz(i, (q[i].abs() + T::TINY) * (per_term * (1.0 + se) + se))
        };
        let tol = 8.0 * T::EPS * sum((0..c).map(term));
        close::<T>("loss", l0[k], loss, tol);
        let sk = scale.at(k);
        for i in 0..c {
            let p = d(i).exp() / s;
            let pt = if p == 0.0 {
                0.0
            } else {
                p * qa * (d(i).abs() + 16.0 + se)
            };
            let gt = 8.0 * T::EPS * sk.abs() * (pt + q[i].abs() + T::TINY);
            close::<T>(
                "gradient",
                g0[element_index(lay, k, i)],
                sk * (p * qt - q[i]),
                gt,
            );
        }
        refs.push(loss);
        tols.push(tol);
    }
    if refs.len() == rows {
        // Each row within its tolerance (and the absolute floor `close` grants it), plus the
        // rounding of the kernel's own running sum.
        let rounding = rows as f64 * f64::EPSILON * sum(refs.iter().map(|v| v.abs()));
        let floors = rows as f64 * 4.0 * T::TINY;
        close::<f64>(
            "loss sum",
            s0.loss,
            sum(refs),
            sum(tols) + rounding + floors,
        );
        close::<f64>("weight sum", s0.weight, wsum, 1e-12 * wabs);
        close::<f64>(
            "mean denominator",
            kt.mean_denominator(lay),
            wsum,
            1e-12 * wabs,
        );
    }
}
