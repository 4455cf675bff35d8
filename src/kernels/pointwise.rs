//! The elementwise driver of the binary losses: one pass computes per-element losses (kept for
//! reduction none, summed otherwise) and, when asked, the gradient, over vectors of lanes.
//!
//! The sum of the losses uses the fixed lane order of [`super::rowops::reduce`] within the chunks
//! of [`crate::parallel::map_chunks`] (sized by the length alone) and adds the chunk sums in order, so it is the same
//! for every thread count and every instruction set.

use super::rowops::{ld, reduce, st};
use super::{GradScale, LossSum, Real};
use crate::parallel;
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
pub trait PointLoss: Copy + Send + Sync {
    /// The loss lanes.
    fn loss<T: Real, V: Lanes<T>>(self, s: Step<V>) -> V;
    /// The gradient lanes for grad_output 1.
    fn grad<T: Real, V: Lanes<T>>(self, s: Step<V>) -> V;
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

/// Runs `loss` over `inputs`: per-element losses into `losses` when it has one slot per element,
/// the gradient times `scale` into `grad` when it is non-empty; returns the loss sum (0 unless
/// the losses are wanted) and the element count.
pub fn run<T: Real, L: PointLoss>(
    loss: L,
    want: Want,
    inputs: Inputs<'_, T>,
    losses: &mut [T],
    grad: &mut [T],
    scale: GradScale<'_, T>,
) -> LossSum {
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
    LossSum {
        weight: n as f64,
        ..LossSum::total(parts)
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
    type Output = LossSum;

    #[inline(always)]
    fn run<I: Isa>(self, _: I) -> LossSum {
        chunk::<T, T::V<I>, L>(self)
    }
}

#[inline(always)]
fn chunk<T: Real, V: Lanes<T>, L: PointLoss>(c: Chunk<'_, '_, T, L>) -> LossSum {
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
    let ones = [T::ONE; 16];
    // Padded lanes get x = y = 0 and weight 0, so their losses are exactly zero.
    let step = |i: usize, len: usize| Step {
        x: ld::<T, V>(x, i, len, T::ZERO),
        y: ld::<T, V>(y, i, len, T::ZERO),
        w: w.map_or_else(|| ld(&ones, 0, len, T::ZERO), |w| ld(w, i, len, T::ZERO)),
        pw: pw.map_or(one, |p| ld(p, i, len, T::ONE)),
    };
    let (store_loss, store_grad) = (!losses.is_empty(), !grad.is_empty());
    let uniform = match scale {
        GradScale::Uniform(s) => Some(V::splat(T::from_f64(s))),
        GradScale::PerElement(_) => None,
    };
    let go = match scale {
        GradScale::PerElement(go) => &go[span],
        GradScale::Uniform(_) => &[],
    };
    let total = reduce::<T, V>(n, |i, len| {
        let s = step(i, len);
        if store_grad {
            let sv = uniform.unwrap_or_else(|| ld(go, i, len, T::ZERO));
            st(loss.grad::<T, V>(s).mul(sv), grad, i, len);
        }
        if !want_loss {
            return V::splat(T::ZERO);
        }
        let l = loss.loss::<T, V>(s);
        if store_loss {
            st(l, losses, i, len);
        }
        l
    });
    LossSum {
        loss: total,
        weight: 0.0,
    }
}

/// `ln(1 + u)` for `u >= -1`: `ln(1 + u)` corrected by `(u - ((1 + u) - 1)) / (1 + u)`, which
/// recovers the low bits lost in forming `1 + u` (the correction is dropped where `1 + u == 0`).
#[inline(always)]
pub fn ln_1p<T: Real, V: Lanes<T>>(u: V) -> V {
    let one = V::splat(T::ONE);
    let a = one.add(u);
    let correction = u.sub(a.sub(one)).div(a).zero_where_zero(a);
    a.ln().add(correction)
}
