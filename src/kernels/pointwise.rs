//! The elementwise driver of the binary losses: one pass computes per-element losses (kept for
//! reduction none, summed otherwise) and, when asked, the gradient, over vectors of lanes.
//!
//! The sum of the losses uses the fixed lane order of [`super::rowops::reduce`] within the chunks
//! of [`crate::parallel::map_chunks`] (sized by the length alone) and adds the chunk sums in
//! order, so it is the same for every thread count and every instruction set.
//!
//! A step whose inputs may give subnormal operands or results ([`PointLoss::tiny`]: tiny
//! probabilities, far logits) is computed with x86 float32's assist-free products and quotients
//! ([`Lanes::mul_if`], [`Lanes::div_if`]); the bits are the same, and ordinary steps pay only
//! the test.

use super::rowops::{ld, st};
use super::{GradScale, LossSum, Real};
use crate::parallel;
use crate::simd::math::tree16;
use crate::simd::{self, Isa, Kernel, Lanes};

/// The arrays of an elementwise loss (all of the same length).
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a, T> {
    /// Predictions (probabilities or logits).
    pub x: &'a [T],
    /// Targets.
    pub y: &'a [T],
    /// Per-element weights, or `None` for ones.
    pub weight: Option<&'a [T]>,
    /// Per-element positive-class weights (logits only), or `None` for ones.
    pub pos_weight: Option<&'a [T]>,
}

/// The lanes of one step.
#[derive(Clone, Copy)]
pub struct Step<V> {
    /// Predictions.
    pub x: V,
    /// Targets.
    pub y: V,
    /// Weights.
    pub w: V,
    /// Positive-class weights.
    pub pw: V,
}

/// An elementwise loss: its value and its gradient (before the grad_output scale).
///
/// `TINY` steps are those [`PointLoss::tiny`] flags: their products and quotients take
/// [`Lanes::mul_if`] and [`Lanes::div_if`]'s assist-free forms, with the same bits.
pub trait PointLoss: Copy + Send + Sync {
    /// The loss lanes.
    fn loss<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> V;
    /// The gradient lanes for grad_output 1.
    fn grad<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> V;
    /// Both, sharing what they have in common; the same bits as [`Self::loss`] and [`Self::grad`].
    #[inline(always)]
    fn both<T: Real, V: Lanes<T>, const TINY: bool>(self, s: Step<V>) -> (V, V) {
        (self.loss::<T, V, TINY>(s), self.grad::<T, V, TINY>(s))
    }
    /// Whether this step's inputs may give subnormal operands or results, each a microcode
    /// assist on x86, where the path has assist-free forms ([`Lanes::assist_free_pays`]): the
    /// step is then computed as `TINY`. A test of one or two compares; ordinary data fails it.
    #[inline(always)]
    fn tiny<T: Real, V: Lanes<T>>(self, s: Step<V>) -> bool {
        let _ = s;
        false
    }
    /// Whether whole vectors are computed two at a time, side by side: one step's exp, log and
    /// divisions form a long chain of latencies, and a second independent chain in the same
    /// loop body keeps the units busy while the first waits (BCE-with-logits: 0.87-0.90x the
    /// time on Zen 4). The same bits either way.
    const PAIRED: bool = true;
    /// Whether inputs and targets must lie in `[0, 1]`: then [`run`] checks every element in the
    /// same pass (no separate pass over memory) and reports whether all were.
    const UNIT_INTERVAL: bool = false;
}

/// What one pass computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// The losses (kept in `losses` when it has a slot per element) and their sum.
    Loss,
    /// The gradient only.
    Grad,
    /// Both.
    Both,
}

/// What [`run`] found.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// The loss sum (0 unless the losses are wanted) and the element count.
    pub sum: LossSum,
    /// False when the loss requires [`PointLoss::UNIT_INTERVAL`] inputs and some input or target
    /// was outside `[0, 1]` or NaN: the outputs are then meaningless and must be discarded.
    pub in_range: bool,
}

/// Runs `loss` over `inputs`: per-element losses into `losses` when it has one slot per element,
/// the gradient times `scale` into `grad` when it is non-empty.
pub fn run<T: Real, L: PointLoss>(
    loss: L,
    want: Want,
    inputs: Inputs<'_, T>,
    losses: &mut [T],
    grad: &mut [T],
    scale: GradScale<'_, T>,
) -> Outcome {
    let n = inputs.x.len();
    let (loss_per, grad_per) = (
        usize::from(!losses.is_empty()),
        usize::from(!grad.is_empty()),
    );
    let want_loss = want != Want::Grad;
    let parts = parallel::map_chunks(n, 1, losses, loss_per, grad, grad_per, |r, l, g| {
        simd::dispatch(Chunk {
            loss,
            inputs,
            start: r.start,
            len: r.len(),
            losses: l,
            grad: g,
            scale,
            want_loss,
        })
    });
    Outcome {
        sum: LossSum {
            weight: n as f64,
            ..LossSum::total(parts.iter().map(|p| p.0))
        },
        in_range: parts.iter().all(|p| p.1),
    }
}

struct Chunk<'a, 'c, T, L> {
    loss: L,
    inputs: Inputs<'a, T>,
    start: usize,
    len: usize,
    losses: &'c mut [T],
    grad: &'c mut [T],
    scale: GradScale<'a, T>,
    want_loss: bool,
}

impl<T: Real, L: PointLoss> Kernel for Chunk<'_, '_, T, L> {
    type Output = (LossSum, bool);

    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> (LossSum, bool) {
        chunk::<T, T::V<I>, L>(self)
    }
}

#[inline(always)]
fn chunk<T: Real, V: Lanes<T>, L: PointLoss>(c: Chunk<'_, '_, T, L>) -> (LossSum, bool) {
    let Chunk {
        loss,
        inputs,
        start,
        len: n,
        losses,
        grad,
        scale,
        want_loss,
    } = c;
    let span = start..start + n;
    let (x, y) = (&inputs.x[span.clone()], &inputs.y[span.clone()]);
    let w = inputs.weight.map(|w| &w[span.clone()]);
    let pw = inputs.pos_weight.map(|p| &p[span.clone()]);
    let one = V::splat(T::ONE);
    let (uniform, go) = match scale {
        GradScale::Uniform(s) => (V::splat(T::from_f64(s)), &[][..]),
        GradScale::PerElement(go) => (one, &go[span]),
    };
    let mut out = Outputs {
        loss,
        want_loss,
        losses,
        grad,
        go,
        uniform,
    };
    // The loop of `rowops::reduce`, written out: a closure this large is not inlined, and then
    // compiles without the entry point's target features (tests/test_codegen.py).
    let mut totals = [0.0f64; 16];
    let mut outside = false;
    let mut i = 0;
    // Whole vectors two at a time ([`PointLoss::PAIRED`]), then one at a time, then the tail.
    if w.is_none() && pw.is_none() {
        if L::PAIRED {
            while i + 2 * V::N <= n {
                let (a, b) = (unweighted(x, y, i), unweighted(x, y, i + V::N));
                outside |= step_pair::<T, V, L>(&mut out, a, b, i, &mut totals);
                i += 2 * V::N;
            }
        }
        while i + V::N <= n {
            outside |= step::<T, V, L>(&mut out, unweighted(x, y, i), i, V::N, &mut totals);
            i += V::N;
        }
    } else if L::PAIRED {
        while i + 2 * V::N <= n {
            let (a, b) = (
                lanes(x, y, w, pw, i, V::N),
                lanes(x, y, w, pw, i + V::N, V::N),
            );
            outside |= step_pair::<T, V, L>(&mut out, a, b, i, &mut totals);
            i += 2 * V::N;
        }
    }
    while i < n {
        let len = V::N.min(n - i);
        outside |= step::<T, V, L>(&mut out, lanes(x, y, w, pw, i, len), i, len, &mut totals);
        i += len;
    }
    let total = tree16(&totals);
    (
        LossSum {
            loss: total,
            weight: 0.0,
        },
        !outside,
    )
}

/// The whole vector at `i` without weights: the weights are the constant 1, so the compiler
/// drops the products by them (`v * 1` is `v`, bit for bit, NaN and signed zeros included).
#[inline(always)]
fn unweighted<T: Real, V: Lanes<T>>(x: &[T], y: &[T], i: usize) -> Step<V> {
    let one = V::splat(T::ONE);
    Step {
        x: V::load(&x[i..]),
        y: V::load(&y[i..]),
        w: one,
        pw: one,
    }
}

/// The lanes `i..i + len` of the inputs. Padded lanes get x = y = 0 and weight 0, so their
/// losses are exactly zero, and they are inside [0, 1].
#[inline(always)]
fn lanes<T: Real, V: Lanes<T>>(
    x: &[T],
    y: &[T],
    w: Option<&[T]>,
    pw: Option<&[T]>,
    i: usize,
    len: usize,
) -> Step<V> {
    let ones = [T::ONE; 16];
    Step {
        x: ld::<T, V>(x, i, len, T::ZERO),
        y: ld::<T, V>(y, i, len, T::ZERO),
        w: match w {
            Some(w) => ld(w, i, len, T::ZERO),
            None => ld(&ones, 0, len, T::ZERO),
        },
        pw: match pw {
            Some(p) => ld(p, i, len, T::ONE),
            None => V::splat(T::ONE),
        },
    }
}

/// Where [`step`] puts its results, and what it needs besides the inputs.
struct Outputs<'a, 'c, T, V, L> {
    loss: L,
    want_loss: bool,
    /// One slot per element, or empty.
    losses: &'c mut [T],
    /// One slot per element, or empty when no gradient is wanted.
    grad: &'c mut [T],
    /// The per-element grad_output, or empty for the uniform scale.
    go: &'a [T],
    /// The uniform grad_output scale (1 with a per-element one).
    uniform: V,
}

/// One step of lanes `i..i + len`: the loss (stored when `losses` has slots, and added to
/// `totals`) and the gradient (stored when wanted). Returns whether an input or target of a
/// [`PointLoss::UNIT_INTERVAL`] loss was outside `[0, 1]`.
#[inline(always)]
fn step<T: Real, V: Lanes<T>, L: PointLoss>(
    out: &mut Outputs<'_, '_, T, V, L>,
    s: Step<V>,
    i: usize,
    len: usize,
    totals: &mut [f64; 16],
) -> bool {
    let loss = out.loss;
    let tiny = loss.tiny::<T, V>(s);
    let l = if out.grad.is_empty() {
        if tiny {
            loss.loss::<T, V, true>(s)
        } else {
            loss.loss::<T, V, false>(s)
        }
    } else {
        let sv = scale_at(out, i, len);
        let (l, g) = if tiny {
            loss_and_grad::<T, V, L, true>(loss, s, out.want_loss, sv)
        } else {
            loss_and_grad::<T, V, L, false>(loss, s, out.want_loss, sv)
        };
        st(g, out.grad, i, len);
        l
    };
    put_loss(out, l, i, len, totals);
    outside_unit::<T, V, L>(s)
}

/// [`step`] for the whole vectors at `i` and `i + V::N`, the two computed side by side (each
/// alone when either is `TINY`): the same bits, and the same order of the sums.
#[inline(always)]
fn step_pair<T: Real, V: Lanes<T>, L: PointLoss>(
    out: &mut Outputs<'_, '_, T, V, L>,
    a: Step<V>,
    b: Step<V>,
    i: usize,
    totals: &mut [f64; 16],
) -> bool {
    let (loss, j) = (out.loss, i + V::N);
    if loss.tiny::<T, V>(a) || loss.tiny::<T, V>(b) {
        let outside = step::<T, V, L>(out, a, i, V::N, totals);
        return step::<T, V, L>(out, b, j, V::N, totals) | outside;
    }
    let (la, lb) = if out.grad.is_empty() {
        (loss.loss::<T, V, false>(a), loss.loss::<T, V, false>(b))
    } else {
        let (sa, sb) = (scale_at(out, i, V::N), scale_at(out, j, V::N));
        let (la, ga) = loss_and_grad::<T, V, L, false>(loss, a, out.want_loss, sa);
        let (lb, gb) = loss_and_grad::<T, V, L, false>(loss, b, out.want_loss, sb);
        st(ga, out.grad, i, V::N);
        st(gb, out.grad, j, V::N);
        (la, lb)
    };
    put_loss(out, la, i, V::N, totals);
    put_loss(out, lb, j, V::N, totals);
    outside_unit::<T, V, L>(a) | outside_unit::<T, V, L>(b)
}

/// Whether an input or target of a [`PointLoss::UNIT_INTERVAL`] loss is outside `[0, 1]`.
#[inline(always)]
fn outside_unit<T: Real, V: Lanes<T>, L: PointLoss>(s: Step<V>) -> bool {
    L::UNIT_INTERVAL && (s.x.any_outside_unit() | s.y.any_outside_unit())
}

/// The grad_output lanes `i..i + len` (zero past `len`), or the uniform scale.
#[inline(always)]
fn scale_at<T: Real, V: Lanes<T>, L>(out: &Outputs<'_, '_, T, V, L>, i: usize, len: usize) -> V {
    if out.go.is_empty() {
        out.uniform
    } else {
        ld(out.go, i, len, T::ZERO)
    }
}

/// Stores one step's losses when `losses` has slots, and adds them to `totals`.
#[inline(always)]
fn put_loss<T: Real, V: Lanes<T>, L>(
    out: &mut Outputs<'_, '_, T, V, L>,
    l: V,
    i: usize,
    len: usize,
    totals: &mut [f64; 16],
) {
    if !out.losses.is_empty() {
        st(l, out.losses, i, len);
    }
    l.add_to(totals);
}

/// The loss lanes (0 unless `want_loss`) and the gradient lanes of one step, the gradient
/// scaled by the grad_output lanes `sv`.
#[inline(always)]
fn loss_and_grad<T: Real, V: Lanes<T>, L: PointLoss, const TINY: bool>(
    loss: L,
    s: Step<V>,
    want_loss: bool,
    sv: V,
) -> (V, V) {
    let (l, g) = if want_loss {
        loss.both::<T, V, TINY>(s)
    } else {
        (V::splat(T::ZERO), loss.grad::<T, V, TINY>(s))
    };
    (l, g.mul_if::<TINY>(sv))
}

/// `ln(1 + u)` for `u >= -1`: `ln(1 + u)` corrected by `(u - ((1 + u) - 1)) / (1 + u)`, which
/// recovers the low bits lost in forming `1 + u` (the correction is dropped where `1 + u == 0`).
/// With `FINITE` the caller knows that in each lane it keeps, `1 + u` is finite and
/// non-negative or `u` is NaN, so the log takes [`Lanes::ln_finite`]: the same bits where
/// `1 + u` is finite, and where `u` is NaN the correction is NaN, which the sum keeps.
#[inline(always)]
pub fn ln_1p<T: Real, V: Lanes<T>, const FINITE: bool, const TINY: bool>(u: V) -> V {
    let (a, correction) = ln_1p_parts::<T, V, TINY>(u);
    let ln_a = if FINITE { a.ln_finite() } else { a.ln() };
    ln_a.add(correction)
}

/// [`ln_1p`]'s `1 + u` and its correction: `ln_1p(u)` is `ln(1 + u) + correction`.
#[inline(always)]
pub fn ln_1p_parts<T: Real, V: Lanes<T>, const TINY: bool>(u: V) -> (V, V) {
    let one = V::splat(T::ONE);
    let a = one.add(u);
    (
        a,
        div_near_one::<T, V, TINY>(u.sub(a.sub(one)), a).zero_where_zero(a),
    )
}

/// `num / den` for lanes where `den` is exactly 1 whenever `num` may be tiny, and `num`, `den`
/// and the quotient are normal (or zero) elsewhere: `ln_1p`'s correction (`1 + u` is 1 for
/// `|u| <= 2^-25`, and otherwise `u - ((1 + u) - 1)` is 0 or a multiple of `ulp(u)`) and the
/// sigmoid's `e / (1 + e)`. A `TINY` step divides only the other lanes and takes `num` itself
/// where `den` is 1, without an assist and without widening; the bits are those of the
/// division, but for the sign of a zero correction, which every caller adds to a log of 1 (+0).
#[inline(always)]
pub fn div_near_one<T: Real, V: Lanes<T>, const TINY: bool>(num: V, den: V) -> V {
    if !TINY {
        return num.div(den);
    }
    let kept = num.zero_where_zero(den.sub(V::splat(T::ONE)));
    kept.div(den).add(num.sub(kept))
}
