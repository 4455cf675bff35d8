//! nll forward and backward (class weights, ignore_index, uniform or per-row gradient scale) over
//! arbitrary shapes, axes and values (NaN and infinities included: nll does no arithmetic beyond
//! one product per row).
//!
//! Checks: every loss, the loss and weight sums (in row order within the chunks of outer blocks
//! that `forward` is split into, then in chunk order) and the gradient equal the formula bit for
//! bit; the sums do not depend on whether the per-row losses are written; the validation
//! `first_invalid` finds the first target outside `[0, C)` that is not `ignore_index`, and
//! `check`'s `weight_sum` equals the serial one.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use softloss::kernels::nll::{backward, element_index, forward, ClassTargets, ROW_COST};
use softloss::kernels::{Layout, LossSum};
use softloss::parallel::items_per_chunk;
use softloss_fuzz::{fill, same_bits, Classes, Float, Scale, Shape, Val};

#[derive(Arbitrary, Debug)]
struct Input {
    f64: bool,
    shape: Shape,
    x: Vec<Val>,
    classes: Classes,
    scale: Scale,
    /// Any target values, for the validation the bindings run first (`first_invalid`).
    raw: Vec<i64>,
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
    let ct = ClassTargets {
        target: &target,
        weight: weight.as_deref(),
        ignore_index,
    };
    assert_eq!(ct.first_invalid(c), None, "targets outside the contract");
    let any = ClassTargets::<T> {
        target: &inp.raw,
        weight: None,
        ignore_index,
    };
    let bad = |t: i64| t != ignore_index && !(0..c as i64).contains(&t);
    assert_eq!(
        any.first_invalid(c),
        inp.raw.iter().copied().find(|&t| bad(t))
    );
    let go: Vec<T> = inp.scale.values(rows);
    let scale = inp.scale.get(&go);

    let mut losses = vec![T::ONE; rows];
    let s = forward(&x, &ct, lay, &mut losses);
    let s_alone = forward(&x, &ct, lay, &mut []);
    same_bits(
        "sums without losses",
        &[s.loss, s.weight],
        &[s_alone.loss, s_alone.weight],
    );
    let mut grad = vec![T::ZERO; n];
    backward(&ct, lay, scale, &mut grad);

    let rows_per_chunk = items_per_chunk(lay.outer, lay.inner * ROW_COST) * lay.inner;
    let (mut want, mut chunk, mut serial_weight) = (LossSum::default(), LossSum::default(), 0.0);
    let mut want_grad = vec![T::ZERO; n];
    for k in 0..rows {
        let (l, w) = match ct.class_of(k, c) {
            Some(t) => {
                let w = ct.weight_of(t);
                want_grad[element_index(lay, k, t)] = T::from_f64(-w * scale.at(k));
                (-w * x[element_index(lay, k, t)].to_f64(), w)
            }
            None => (0.0, 0.0),
        };
        let (got, r) = (losses[k], T::from_f64(l));
        assert!(
            got.bits() == r.bits() || (got.to_f64().is_nan() && l.is_nan()),
            "row {k}: loss {got:?}, formula {r:?}"
        );
        chunk = chunk + LossSum { loss: l, weight: w };
        serial_weight += w;
        if (k + 1) % rows_per_chunk == 0 || k + 1 == rows {
            want = want + chunk;
            chunk = LossSum::default();
        }
    }
    let same = s.loss.to_bits() == want.loss.to_bits() || s.loss.is_nan() && want.loss.is_nan();
    assert!(same, "loss sum {} != {}", s.loss, want.loss);
    same_bits("weight sum", &[s.weight], &[want.weight]);
    // `weight_sum` adds in plain row order. By value: an empty f64 sum() is -0.0 where the
    // oracle starts at +0.0 (harmless: 0 / ±0 is NaN).
    let ws = ct.weight_sum(c);
    assert!(
        ws == serial_weight || ws.is_nan() && serial_weight.is_nan(),
        "weight_sum {ws}"
    );
    let checked = ct.check(c).map(|t| t.weight_sum());
    assert!(
        checked.is_ok_and(|w| w == serial_weight || w.is_nan() && serial_weight.is_nan()),
        "check(..).weight_sum() {checked:?}"
    );
    same_bits("gradient", &grad, &want_grad);
}
