//! Cross-entropy on tiles: one row per lane, for a non-last class axis (adjacent columns) and for
//! contiguous rows shorter than a vector (transposed on the fly).
//!
//! Formulas as in [`super::cross_entropy`]. Per tile: the lane-wise max; `e_c = exp(x_c - m)`
//! (stored into the gradient when one is wanted) summed per lane in f64 in class order; for
//! smoothing or probability targets the per-lane sums `sum w_c (x_c - m)` / `sum q_c (x_c - m)`
//! and `sum w_c y_c`; then per lane the loss in f64 and the gradient
//! `g_c = e_c (s_i Q / s) - s_i q_c`, with the class target's term fixed up lane by lane.

use super::cross_entropy::{Ctx, Target};
use super::rowops::{from_array, LaneSum, Tile};
use super::{GradScale, LossSum, Real};
use crate::simd::Lanes;

/// The arrays a tile reads and writes, all chunk-local (element 0 is the chunk's first).
pub(super) struct TileIo<'a, 'c, T> {
    /// The chunk's logits.
    pub x: &'c [T],
    /// The chunk's probability targets (empty for class targets).
    pub y: &'c [T],
    /// The chunk's gradient (empty when not wanted).
    pub g: &'c mut [T],
    /// Per-row losses of the chunk (empty unless reduction is none).
    pub losses: &'c mut [T],
    /// Gradient scale, indexed by global row.
    pub scale: GradScale<'a, T>,
    /// Global index of the chunk's first row.
    pub k0: usize,
}

/// One tile whose first row is chunk-local row `r0`; returns its loss and weight sums, adding the
/// rows in order.
#[inline(always)]
pub(super) fn tile<T: Real, V: Lanes<T>>(
    ctx: &Ctx<'_, T>,
    io: &mut TileIo<'_, '_, T>,
    t: Tile,
    r0: usize,
) -> LossSum {
    let classes = ctx.layout.classes;
    let (eps, smooth) = (ctx.eps, ctx.eps / classes as f64);
    let lanes = t.lanes;
    let k = |l: usize| io.k0 + r0 + l;
    // Each lane's class (None when ignored) and probability-target flag.
    let prob = matches!(ctx.target, Target::Prob { .. });
    let class: [Option<usize>; 16] = std::array::from_fn(|l| match ctx.target {
        Target::Class(tg) if l < lanes => tg.class_of(k(l), classes),
        _ => None,
    });
    let store = !io.g.is_empty();

    let mut m = V::splat(T::NEG_INFINITY);
    for c in 0..classes {
        m = m.max(t.load(io.x, c, T::NEG_INFINITY));
    }
    let mut s = LaneSum::default();
    let mut shifted = [0.0f64; 16]; // sum w_c (x_c - m), or sum q_c (x_c - m) for probabilities
    let mut wy = [0.0f64; 16]; // sum w_c y_c (probabilities)
    let (keep, add) = (
        V::splat(T::from_f64(1.0 - eps)),
        V::splat(T::from_f64(smooth)),
    );
    let q = |c: usize, y: V| {
        y.mul(keep)
            .add(add)
            .mul(V::splat(T::from_f64(ctx.weight(c))))
    };
    for c in 0..classes {
        let d = t.load::<T, V>(io.x, c, T::ZERO).sub(m);
        let e = d.exp();
        if store {
            t.store(e, io.g, c);
        }
        s.add(e);
        if prob {
            let y = t.load::<T, V>(io.y, c, T::ZERO);
            q(c, y).mul(d).add_to(&mut shifted);
            y.mul(V::splat(T::from_f64(ctx.weight(c)))).add_to(&mut wy);
        } else if eps > 0.0 {
            d.mul(V::splat(T::from_f64(ctx.weight(c))))
                .add_to(&mut shifted);
        }
    }
    let (mut mv, mut log_sv, mut inv_sv) = ([T::ZERO; 16], [T::ZERO; 16], [T::ZERO; 16]);
    m.store(&mut mv);
    s.ln::<T, V>().store(&mut log_sv);
    s.recip::<T, V>().store(&mut inv_sv);

    let mut sum = LossSum::default();
    let mut q_total = [0.0f64; 16];
    let mut row_scale = [0.0f64; 16];
    for l in 0..lanes {
        let log_s = log_sv[l].to_f64();
        row_scale[l] = io.scale.at(k(l));
        let part = if prob {
            q_total[l] = (1.0 - eps) * wy[l] + smooth * ctx.weight_total;
            LossSum {
                loss: log_s * q_total[l] - shifted[l],
                weight: 1.0,
            }
        } else if let Some(tc) = class[l] {
            let w_t = ctx.weight(tc);
            let x_t = io.x[t.at(l, tc)].to_f64() - mv[l].to_f64();
            let mut loss = -(1.0 - eps) * w_t * (x_t - log_s);
            if eps > 0.0 {
                loss -= smooth * (shifted[l] - log_s * ctx.weight_total);
            }
            q_total[l] = (1.0 - eps) * w_t + smooth * ctx.weight_total;
            LossSum { loss, weight: w_t }
        } else {
            row_scale[l] = 0.0;
            LossSum::default()
        };
        if let Some(slot) = io.losses.get_mut(r0 + l) {
            *slot = T::from_f64(part.loss);
        }
        sum = sum + part;
    }
    if store {
        let a: [T; 16] =
            std::array::from_fn(|l| T::from_f64(row_scale[l] * q_total[l] * inv_sv[l].to_f64()));
        write_grad::<T, V>(ctx, io.y, io.g, t, &class, &a, &row_scale);
    }
    sum
}

/// The gradient of a tile: `g_c = e_c a - s_i q_c` over the stored `e_c`, then each lane's class
/// target term (`-s_i (1 - eps) w_t`), and zeros for ignored class-target lanes.
#[inline(always)]
fn write_grad<T: Real, V: Lanes<T>>(
    ctx: &Ctx<'_, T>,
    y: &[T],
    g: &mut [T],
    t: Tile,
    class: &[Option<usize>; 16],
    a: &[T; 16],
    row_scale: &[f64; 16],
) {
    let classes = ctx.layout.classes;
    let (eps, smooth) = (ctx.eps, ctx.eps / classes as f64);
    let prob = matches!(ctx.target, Target::Prob { .. });
    let (keep, add) = (
        V::splat(T::from_f64(1.0 - eps)),
        V::splat(T::from_f64(smooth)),
    );
    let a = from_array::<T, V>(a);
    let sv = from_array::<T, V>(&std::array::from_fn(|l| T::from_f64(row_scale[l])));
    for c in 0..classes {
        let w = V::splat(T::from_f64(ctx.weight(c)));
        let e = t.load::<T, V>(g, c, T::ZERO);
        let qc = if prob {
            t.load::<T, V>(y, c, T::ZERO).mul(keep).add(add).mul(w)
        } else {
            V::splat(T::from_f64(smooth * ctx.weight(c)))
        };
        t.store(e.mul(a).sub(qc.mul(sv)), g, c);
    }
    for (l, cls) in class.iter().enumerate().take(t.lanes) {
        match *cls {
            Some(tc) => {
                let i = t.at(l, tc);
                g[i] = T::from_f64(g[i].to_f64() - row_scale[l] * (1.0 - eps) * ctx.weight(tc));
            }
            None if !prob => (0..classes).for_each(|c| g[t.at(l, c)] = T::ZERO),
            None => {}
        }
    }
}
