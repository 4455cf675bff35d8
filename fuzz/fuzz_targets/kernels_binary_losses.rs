//! binary_cross_entropy (probabilities in [0, 1], the kernels' contract) and
//! binary_cross_entropy_with_logits (any values), forward, backward and with_grad, with weights,
//! pos_weight and a uniform or per-element gradient scale.
//!
//! Checks: `bce::first_out_of_range` agrees with a plain scan; with_grad gives the bits of the
//! separate forward and backward (losses, sum, gradient); every output element is written; a
//! prefix alone gives the same bits; bounded inputs (infinite logits allowed) match an f64
//! reference; losses are non-negative for non-negative weights.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use softloss::kernels::{bce, bce_logits, GradScale, LossSum};
use softloss_fuzz::{bounded, close, fill, same_bits, Float, Scale, Shape, Val};

#[derive(Arbitrary, Debug)]
struct Input {
    f64: bool,
    logits: bool,
    shape: Shape,
    x: Vec<Val>,
    y: Vec<Val>,
    weight: Option<Vec<Val>>,
    pos_weight: Option<Vec<Val>>,
    scale: Scale,
    prefix: u16,
}

fuzz_target!(|inp: Input| {
    if inp.f64 {
        run::<f64>(&inp);
    } else {
        run::<f32>(&inp);
    }
});

/// The three entry points of one loss: forward, backward, with_grad.
struct Calls<'a, T> {
    x: &'a [T],
    y: &'a [T],
    w: Option<&'a [T]>,
    pw: Option<&'a [T]>,
    logits: bool,
}

impl<T: Float> Calls<'_, T> {
    /// The first `n` elements.
    fn part(&self, n: usize) -> Calls<'_, T> {
        let (w, pw) = (self.w.map(|a| &a[..n]), self.pw.map(|a| &a[..n]));
        Calls {
            x: &self.x[..n],
            y: &self.y[..n],
            w,
            pw,
            logits: self.logits,
        }
    }
    fn forward(&self, l: &mut [T]) -> LossSum {
        if self.logits {
            bce_logits::forward(self.x, self.y, self.w, self.pw, l)
        } else {
            bce::forward(self.x, self.y, self.w, l)
        }
    }
    fn backward(&self, s: GradScale<'_, T>, g: &mut [T]) {
        if self.logits {
            bce_logits::backward(self.x, self.y, self.w, self.pw, s, g)
        } else {
            bce::backward(self.x, self.y, self.w, s, g)
        }
    }
    fn with_grad(&self, l: &mut [T], g: &mut [T], s: GradScale<'_, T>) -> LossSum {
        if self.logits {
            bce_logits::with_grad(self.x, self.y, self.w, self.pw, l, g, s)
        } else {
            bce::with_grad(self.x, self.y, self.w, l, g, s)
        }
    }
}

fn run<T: Float>(inp: &Input) {
    let n: usize = inp.shape.resolve(0).0.iter().product();
    let f = if inp.logits {
        Val::get::<T>
    } else {
        Val::unit::<T>
    };
    let (x, y) = (fill(&inp.x, n, 0, f), fill(&inp.y, n, 1, f));
    let w: Option<Vec<T>> = inp.weight.as_ref().map(|v| fill(v, n, 2, Val::get));
    let pw: Option<Vec<T>> = inp
        .pos_weight
        .as_ref()
        .filter(|_| inp.logits)
        .map(|v| fill(v, n, 3, Val::get));
    // The range check the bindings run first, on any values (NaN included), against a plain scan.
    let any: Vec<T> = fill(&inp.x, n, 0, Val::get);
    let naive = any.iter().position(|v| !(0.0..=1.0).contains(&v.to_f64()));
    assert_eq!(bce::first_out_of_range(&any), naive, "first_out_of_range");
    let go: Vec<T> = inp.scale.values(n);
    let scale = inp.scale.get(&go);
    let calls = Calls {
        x: &x,
        y: &y,
        w: w.as_deref(),
        pw: pw.as_deref(),
        logits: inp.logits,
    };

    let (mut l0, mut g0) = (vec![T::ZERO; n], vec![T::ZERO; n]);
    let s0 = calls.with_grad(&mut l0, &mut g0, scale);
    let (mut l1, mut g1) = (vec![T::ONE; n], vec![T::ONE; n]);
    let s1 = calls.forward(&mut l1);
    calls.backward(scale, &mut g1);
    same_bits("losses: with_grad vs forward", &l0, &l1);
    same_bits("gradient: with_grad vs backward", &g0, &g1);
    let s2 = calls.with_grad(&mut [], &mut g1, scale);
    for s in [s1, s2, calls.forward(&mut [])] {
        same_bits("sums", &[s.loss, s.weight], &[s0.loss, s0.weight]);
    }
    // A prefix alone (per-element go only covers the prefix's elements).
    let k = usize::from(inp.prefix) % (n + 1);
    let (mut lp, mut gp) = (vec![T::ZERO; k], vec![T::ZERO; k]);
    let sp = match scale {
        GradScale::PerElement(g) => GradScale::PerElement(&g[..k]),
        u => u,
    };
    calls.part(k).with_grad(&mut lp, &mut gp, sp);
    same_bits("losses of a prefix alone", &lp, &l0[..k]);
    same_bits("gradient of a prefix alone", &gp, &g0[..k]);

    // The f64 reference for bounded values (infinite logits allowed).
    let ok = |a: &[T]| {
        inp.logits
            && a.iter()
                .all(|v| v.to_f64().abs() <= 1e4 || v.to_f64().is_infinite())
    };
    let opt = |a: &Option<Vec<T>>| a.as_deref().is_none_or(|a| bounded(a, 1e4));
    if !((ok(&x) || bounded(&x, 1e4))
        && bounded(&y, 1e4)
        && opt(&w)
        && opt(&pw)
        && bounded(&go, 1e4)
        && (n == 0 || scale.at(0).abs() <= 1e4))
    {
        return;
    }
    for i in 0..n {
        let at = |a: &Option<Vec<T>>| a.as_ref().map_or(1.0, |a| a[i].to_f64());
        let (xi, yi, wi, pwi, si) = (x[i].to_f64(), y[i].to_f64(), at(&w), at(&pw), scale.at(i));
        let (loss, ltol, grad, gtol) = if inp.logits {
            let logsig = |z: f64| z.min(0.0) - (-z.abs()).exp().ln_1p();
            // A zero coefficient (as rounded to T, where the kernel forms it) zeroes its term.
            let term = |coef: f64, z: f64| {
                let coef = T::from_f64(coef).to_f64();
                if coef == 0.0 {
                    (0.0, 0.0)
                } else {
                    (coef * logsig(z), coef.abs() * (logsig(z).abs() + 1.0))
                }
            };
            let ((a, ta), (b, tb)) = (term(pwi * yi, xi), term(1.0 - yi, -xi));
            let sig = 1.0 / (1.0 + (-xi).exp());
            let grad = si * wi * ((1.0 + (pwi - 1.0) * yi) * sig - pwi * yi);
            let gtol = si.abs()
                * wi.abs()
                * ((1.0 + (pwi.abs() + 1.0) * yi.abs()) * sig + (pwi * yi).abs());
            (-wi * (a + b), wi.abs() * (ta + tb), grad, gtol)
        } else {
            let (lx, l1x) = (xi.ln().max(-100.0), (-xi).ln_1p().max(-100.0));
            let floor = f64::from(1e-12f32);
            let den = (xi * (1.0 - xi)).max(floor);
            let grad = si * wi * (xi - yi) / den;
            let ltol = wi.abs() * (yi * lx.abs() + (1.0 - yi) * l1x.abs() + 1.0);
            (
                -wi * (yi * lx + (1.0 - yi) * l1x),
                ltol,
                grad,
                // The products before the division may be subnormal (x near 0): their rounding
                // error (a subnormal ulp, TINY * EPS once scaled below) magnified by 1 / den.
                (si * wi).abs() * (xi + yi) / den + si.abs() * (wi.abs() + 1.0) * T::TINY / den,
            )
        };
        close::<T>("loss", l0[i], loss, 8.0 * T::EPS * ltol);
        close::<T>("gradient", g0[i], grad, 8.0 * T::EPS * gtol);
        let (pos_w, in_unit) = (wi >= 0.0 && pwi >= 0.0, (0.0..=1.0).contains(&yi));
        assert!(
            !(pos_w && in_unit) || l0[i].to_f64() >= 0.0 || l0[i].to_f64().is_nan(),
            "negative loss"
        );
    }
}
