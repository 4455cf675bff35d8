//! Cross-entropy from logits, with class or probability targets and label smoothing, fused with
//! its gradient: one visit per row computes the loss and, when asked, writes the gradient.
//!
//! Per row with max m, `s = sum_c exp(x_c - m)` and `logp_c = (x_c - m) - ln(s)`:
//! * class target t, smoothing eps, weights w (all ones without): `nll = -w_t logp_t`,
//!   `S = -sum_c w_c logp_c`, `loss = (1 - eps) nll + (eps / C) S`; an ignored row gives 0 and
//!   weighs 0; mean divides by `W = sum of w_t` over non-ignored rows.
//!   Gradient: `q_c = (1 - eps) w_t [c == t] + (eps / C) w_c`, `g_c = s_i (p_c sum_c q_c - q_c)`.
//! * probability target y: `y' = (1 - eps) y + eps / C`, `loss = -sum_c w_c y'_c logp_c`, mean
//!   divides by the number of rows. Gradient: `g_c = s_i (p_c sum_c (w y')_c - (w y')_c)`.
//!
//! `s_i` is the gradient scale (`go_i`, `go`, or `go / W`). Stability: the same max shift as
//! log_softmax (exponents `<= 0`, `1 <= s <= C`); `S` is formed as `-(sum w_c (x_c - m) - ln(s)
//! sum w_c)` in `f64`, so no `-inf * 0` arises from masked logits unless a weighted class is -inf.

use super::nll::ClassTargets;
use super::{GradScale, Layout, LossSum, Real};
use crate::parallel;

/// What the logits are compared against.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a, T> {
    /// One class index per row.
    Class(ClassTargets<'a, T>),
    /// A probability for every logit (same layout as the input), with optional class weights.
    Prob {
        /// The target probabilities.
        y: &'a [T],
        /// Per-class weights, or `None`.
        weight: Option<&'a [T]>,
    },
}

impl<T: Real> Target<'_, T> {
    /// The denominator of reduction mean: the target-weight sum, or the row count.
    #[must_use]
    pub fn mean_denominator(&self, layout: Layout) -> f64 {
        match self {
            Target::Class(t) => t.weight_sum(layout.classes),
            Target::Prob { .. } => layout.rows() as f64,
        }
    }

    fn class_weight(&self, c: usize) -> f64 {
        let w = match self {
            Target::Class(t) => t.weight,
            Target::Prob { weight, .. } => *weight,
        };
        w.and_then(|w| w.get(c)).map_or(1.0, |v| v.to_f64())
    }
}

/// Everything a row needs besides its data.
struct Ctx<'a, T> {
    target: Target<'a, T>,
    eps: f64,
    layout: Layout,
    /// `sum_c w_c` (C without weights).
    weight_total: f64,
}

/// The target of one row.
#[derive(Clone, Copy)]
enum RowTarget<'a, T> {
    Class(usize),
    /// The row's block of target probabilities (indexed like the logits' block).
    Prob(&'a [T]),
}

/// Cross-entropy of `x` against `target` with label smoothing `eps`. Per-row losses go to `losses`
/// when it has one slot per row; the gradient goes to `grad` (length `layout.len()`) scaled by
/// `scale` when `grad` is non-empty. Returns the loss and weight sums (in fixed chunk order).
pub fn forward_backward<T: Real>(
    x: &[T],
    target: Target<'_, T>,
    eps: f64,
    layout: Layout,
    losses: &mut [T],
    grad: &mut [T],
    scale: GradScale<'_, T>,
) -> LossSum {
    let block = layout.block_len();
    if layout.classes == 0 {
        // No classes: every (necessarily ignored) class target and every empty probability row
        // contributes 0.
        losses.fill(T::ZERO);
        return LossSum::default();
    }
    let weight_total = (0..layout.classes).map(|c| target.class_weight(c)).sum();
    let ctx = Ctx {
        target,
        eps,
        layout,
        weight_total,
    };
    let grad_per = if grad.is_empty() { 0 } else { block };
    let loss_per = if losses.is_empty() { 0 } else { layout.inner };
    let parts = parallel::map_chunks(
        layout.outer,
        block,
        grad,
        grad_per,
        losses,
        loss_per,
        |r, g, l| {
            let mut sum = LossSum::default();
            for (n, o) in r.enumerate() {
                let span = o * block..(o + 1) * block;
                let gb = g.get_mut(n * block..(n + 1) * block).unwrap_or_default();
                for j in 0..layout.inner {
                    let k = o * layout.inner + j;
                    let part = row(&ctx, &x[span.clone()], gb, span.start, j, k, scale.at(k));
                    if let Some(slot) = l.get_mut(n * layout.inner + j) {
                        *slot = T::from_f64(part.loss);
                    }
                    sum = sum + part;
                }
            }
            sum
        },
    );
    LossSum::total(parts)
}

/// Row `k`, column `j` of its block `x` (which starts at element `start` of the whole array):
/// returns its loss and weight, and writes its gradient into `g` when that is non-empty.
fn row<T: Real>(
    ctx: &Ctx<'_, T>,
    x: &[T],
    g: &mut [T],
    start: usize,
    j: usize,
    k: usize,
    scale: f64,
) -> LossSum {
    let (classes, inner, eps) = (ctx.layout.classes, ctx.layout.inner, ctx.eps);
    let at = |c: usize| c * inner + j;
    let w = |c: usize| ctx.target.class_weight(c);
    let target = match ctx.target {
        Target::Class(t) => {
            let Some(c) = t.class_of(k, classes) else {
                if !g.is_empty() {
                    (0..classes).for_each(|c| g[at(c)] = T::ZERO);
                }
                return LossSum::default();
            };
            RowTarget::Class(c)
        }
        Target::Prob { y, .. } => RowTarget::Prob(&y[start..start + x.len()]),
    };
    let smooth = eps / classes as f64;
    // q_c weighs logp_c in the loss; the gradient is scale * (p_c * q_total - q_c).
    let q = |c: usize| match target {
        RowTarget::Class(t) => (1.0 - eps) * w(t) * f64::from(u8::from(c == t)) + smooth * w(c),
        RowTarget::Prob(y) => w(c) * ((1.0 - eps) * y[at(c)].to_f64() + smooth),
    };

    let m = (0..classes).fold(T::NEG_INFINITY, |m, c| m.max_ignore_nan(x[at(c)]));
    let mut s = 0.0f64;
    for c in 0..classes {
        let e = (x[at(c)] - m).exp();
        s += e.to_f64();
        if !g.is_empty() {
            g[at(c)] = e;
        }
    }
    let (mf, log_s) = (m.to_f64(), s.ln());
    let shifted = |c: usize| x[at(c)].to_f64() - mf;
    let (loss, weight, q_total) = match target {
        RowTarget::Class(t) => {
            // Only the target's term when eps == 0, so masked (-inf) logits elsewhere stay harmless.
            let mut loss = -(1.0 - eps) * w(t) * (shifted(t) - log_s);
            if eps > 0.0 {
                let weighted: f64 = (0..classes).map(|c| w(c) * shifted(c)).sum();
                loss -= smooth * (weighted - log_s * ctx.weight_total);
            }
            (loss, w(t), (1.0 - eps) * w(t) + smooth * ctx.weight_total)
        }
        RowTarget::Prob(_) => {
            let loss = -(0..classes)
                .map(|c| q(c) * (shifted(c) - log_s))
                .sum::<f64>();
            (loss, 1.0, (0..classes).map(q).sum())
        }
    };
    if !g.is_empty() {
        for c in 0..classes {
            let p = g[at(c)].to_f64() / s;
            g[at(c)] = T::from_f64(scale * (p * q_total - q(c)));
        }
    }
    LossSum { loss, weight }
}
