//! Cross-entropy on tiles: one row per lane, for a non-last class axis (adjacent columns) and for
//! short contiguous rows (transposed on the fly; below a bound per dtype, `cross_entropy::SHORT`).
//! Calls with too few short rows for a tile compute them in place (`cross_entropy_short`), through
//! this file's [`lane_results`] and [`fix_lane`], so they round the same.
//!
//! Formulas as in [`super::cross_entropy`]. Per tile: the lane-wise max; `e_c = exp(x_c - m)`
//! (stored into the gradient when one is wanted) summed per lane in f64 in class order; for
//! smoothing or probability targets the per-lane sums `sum w_c (x_c - m)` / `sum q_c (x_c - m)`
//! and `sum w_c y_c`; then per lane the loss in f64 and the gradient
//! `g_c = e_c (s_i Q / s) - s_i q_c`, with the class target's term fixed up lane by lane.

use super::cross_entropy::{smoothed_weight, Ctx, Target};
use super::cross_entropy_columns::{whole_group_exps, whole_group_extents, Columns};
use super::nll::ClassTargets;
use super::rowops::{exp_if_in_range, from_array, Factor};
use super::tiles::{
    column_vectors, column_vectors_mut, lanes_in_range, prefetch_next_group, whole_columns,
    LaneSum, Tile,
};
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

/// What the first passes found for one tile.
#[derive(Clone, Copy)]
pub(super) struct Found<V> {
    /// The lane-wise maximum.
    pub m: V,
    /// The lane-wise minimum (for [`lanes_in_range`]).
    pub lo: V,
    /// Whether the exps may take [`Lanes::exp_in_range`].
    pub in_range: bool,
    /// `sum_c exp(x_c - m)` per lane.
    pub s: LaneSum,
    /// `sum w_c (x_c - m)` (smoothing) or `sum q_c (x_c - m)` (probabilities), per lane.
    pub shifted: [f64; 16],
    /// `sum w_c y_c` per lane (probabilities).
    pub wy: [f64; 16],
}

/// Up to `G` tiles (with their chunk-local first rows), processed pass by pass so that each
/// pass reads runs of adjacent columns; returns their loss and weight sums, adding rows in order.
#[inline(always)]
pub(super) fn tiles<T: Real, V: Lanes<T>, W: Lanes<f64>, const G: usize>(
    ctx: &Ctx<'_, T>,
    io: &mut TileIo<'_, '_, T>,
    group: &[(Tile, usize)],
) -> LossSum {
    let found = first_passes::<T, V, G>(ctx, io, group);
    let mut sum = LossSum::default();
    let mut grad = [LaneGrad::default(); G];
    for ((f, &(t, r0)), lg) in found.iter().zip(group).zip(&mut grad) {
        sum = sum + lane_results::<T, V, W>(ctx, io, f, t, r0, lg);
    }
    if !io.g.is_empty() {
        write_grad::<T, V, G>(ctx, io.y, io.g, group, &found, &grad);
    }
    sum
}

/// A tile's gradient factors per lane, from [`lane_results`]: `g_c = e_c a - s_i q_c`, and for a
/// class target `class`, `s_i (1 - eps) w_t` (`amount`) subtracted from its term.
#[derive(Clone, Copy)]
pub(super) struct LaneGrad<T> {
    /// `s_i Q / s`, rounded to the element type.
    pub a: [T; 16],
    /// `s_i`.
    pub row_scale: [f64; 16],
    /// Each lane's class ([`NO_CLASS`] for an ignored row, past the tile, and for probability
    /// targets).
    pub class: [usize; 16],
    /// `s_i (1 - eps) w_t`.
    pub amount: [f64; 16],
}

impl<T: Real> Default for LaneGrad<T> {
    fn default() -> Self {
        LaneGrad {
            a: [T::ZERO; 16],
            row_scale: [0.0; 16],
            class: [NO_CLASS; 16],
            amount: [0.0; 16],
        }
    }
}

/// The losses of the lanes of tile `t` (chunk-local first row `r0`) from what its first passes
/// `f` found: written to the chunk's per-row losses when it keeps them, summed with their
/// weights into the returned [`LossSum`] in lane order; and, when a gradient is wanted, the
/// lanes' gradient factors (into `grad`).
#[inline(always)]
pub(super) fn lane_results<T: Real, V: Lanes<T>, W: Lanes<f64>>(
    ctx: &Ctx<'_, T>,
    io: &mut TileIo<'_, '_, T>,
    f: &Found<V>,
    t: Tile,
    r0: usize,
    grad: &mut LaneGrad<T>,
) -> LossSum {
    let classes = ctx.layout.classes;
    let (eps, smooth) = (ctx.eps, ctx.eps / classes as f64);
    let store = !io.g.is_empty();
    let keep = 1.0 - eps;
    let (mut mv, mut log_sv, mut inv_sv) = ([T::ZERO; 16], [T::ZERO; 16], [T::ZERO; 16]);
    f.m.store(&mut mv);
    f.s.ln::<T, V>().store(&mut log_sv);
    let row0 = io.k0 + r0;
    if store {
        inv_sv = f.s.recip::<T, V>();
        grad.row_scale = io.scale.lanes(row0);
    }
    // Per lane: the loss and weight (an ignored row's, and those of lanes past the tile, stay
    // 0), then the gradient's factors. Class targets compute them on f64 vectors `W` over the
    // tile's lanes: the same f64 operations as a row's, one rounding each.
    let (mut loss, mut weight) = ([0.0f64; 16], [0.0f64; 16]);
    match ctx.target {
        Target::Prob { .. } => {
            for l in 0..t.lanes.min(16) {
                let q_total = keep * f.wy[l] + smooth * ctx.weight_total;
                (loss[l], weight[l]) = (log_sv[l].to_f64() * q_total - f.shifted[l], 1.0);
                if store {
                    grad.a[l] = T::from_f64(grad.row_scale[l] * q_total * inv_sv[l].to_f64());
                }
            }
        }
        Target::Class(tg) => {
            let mut counted = [0.0f64; 16];
            let x_t = gather_class_lanes(
                tg,
                io.x,
                t,
                row0,
                classes,
                &mut grad.class,
                &mut counted,
                &mut weight,
            );
            let (m, log_s, inv_s) = (widen(&mv), widen(&log_sv), widen(&inv_sv));
            let (neg_keep, smooth_total) = (W::splat(-keep), W::splat(smooth * ctx.weight_total));
            // The tile's lanes (up to 16 f32 or 8 f64), `W::N` (8) at a time.
            let mut h = 0;
            while h < t.lanes.min(V::N).min(16) {
                let (w, ls) = (W::load(&weight[h..]), W::load(&log_s[h..]));
                let d = W::load(&x_t[h..]).sub(W::load(&m[h..])).sub(ls);
                let mut v = neg_keep.mul(w).mul(d);
                if eps > 0.0 {
                    let total = W::load(&f.shifted[h..]).sub(ls.mul(W::splat(ctx.weight_total)));
                    v = v.sub(W::splat(smooth).mul(total));
                }
                v.zero_where_zero(W::load(&counted[h..]))
                    .store(&mut loss[h..]);
                if store {
                    let (sc, inv) = (W::load(&grad.row_scale[h..]), W::load(&inv_s[h..]));
                    let q_total = W::splat(keep).mul(w).add(smooth_total);
                    let mut a64 = [0.0f64; 16];
                    sc.mul(q_total).mul(inv).store(&mut a64[..]);
                    sc.mul(W::splat(keep)).mul(w).store(&mut grad.amount[h..]);
                    for (dst, &v) in grad.a[h..].iter_mut().zip(&a64[..W::N]) {
                        *dst = T::from_f64(v);
                    }
                }
                h += W::N;
            }
        }
    }
    if let Some(slots) = io.losses.get_mut(r0..r0 + t.lanes) {
        for (slot, &v) in slots.iter_mut().zip(&loss) {
            *slot = T::from_f64(v);
        }
    }
    let mut sum = LossSum::default();
    for l in 0..t.lanes.min(16) {
        sum = sum
            + LossSum {
                loss: loss[l],
                weight: weight[l],
            };
    }
    sum
}

/// The passes over the classes of up to `G` tiles: the lane-wise max (and min), then the exps
/// (stored into the gradient when one is wanted) with their sums, and for smoothing or
/// probability targets the per-lane sums of [`Found`].
#[inline(always)]
fn first_passes<T: Real, V: Lanes<T>, const G: usize>(
    ctx: &Ctx<'_, T>,
    io: &mut TileIo<'_, '_, T>,
    group: &[(Tile, usize)],
) -> [Found<V>; G] {
    let classes = ctx.layout.classes;
    let (eps, smooth) = (ctx.eps, ctx.eps / classes as f64);
    let prob = matches!(ctx.target, Target::Prob { .. });
    let store = !io.g.is_empty();
    let (keep, add) = (
        V::splat(T::from_f64(1.0 - eps)),
        V::splat(T::from_f64(smooth)),
    );
    let fresh = Found {
        m: V::splat(T::NEG_INFINITY),
        lo: V::splat(T::INFINITY),
        in_range: false,
        s: LaneSum::default(),
        shifted: [0.0; 16],
        wy: [0.0; 16],
    };
    let mut found = [fresh; G];
    let n = group.len();
    let whole = whole_columns(group, V::N);
    let cols = whole.map(|(base, stride)| Columns {
        x: io.x,
        base,
        stride,
        classes,
    });
    if let (Some(cols), true) = (cols, n == G) {
        let (m, lo) = whole_group_extents::<T, V, G>(cols);
        for (k, f) in found.iter_mut().enumerate() {
            (f.m, f.lo) = (m[k], lo[k]);
        }
    } else {
        for c in 0..classes {
            if let Some((base, stride)) = whole {
                for (f, xv) in found
                    .iter_mut()
                    .zip(column_vectors::<T, V>(io.x, base, c, stride, n))
                {
                    let v = V::load(xv);
                    (f.m, f.lo) = (f.m.max(v), f.lo.min(v));
                }
                continue;
            }
            for (f, &(t, _)) in found.iter_mut().zip(group) {
                f.m = f.m.max(t.load(io.x, c, T::NEG_INFINITY));
                f.lo = f.lo.min(t.load(io.x, c, T::INFINITY));
            }
        }
    }
    for f in &mut found {
        f.in_range = lanes_in_range::<T, V>(f.lo, f.m);
    }
    if let (Some(cols), false, true, true) = (cols, prob, n == G, eps == 0.0) {
        whole_group_exps::<T, V, G>(cols, io.g, &mut found);
        return found;
    }
    for c in 0..classes {
        let w = V::splat(T::from_f64(ctx.weight(c)));
        if let (Some((base, stride)), false) = (whole, prob) {
            // Class targets over whole tiles: the same steps as below, one bounds check per row.
            let xs = column_vectors::<T, V>(io.x, base, c, stride, n);
            if store {
                let gs = column_vectors_mut::<T, V>(io.g, base, c, stride, n);
                for ((f, xv), gv) in found.iter_mut().zip(xs).zip(gs) {
                    // Raw: `write_grad` overwrites it through a canonicalising store.
                    exp_step::<T, V>(f, V::load(xv), w, eps).store(gv);
                }
            } else {
                for (f, xv) in found.iter_mut().zip(xs) {
                    exp_step::<T, V>(f, V::load(xv), w, eps);
                }
            }
            continue;
        }
        for (k, (f, &(t, _))) in found.iter_mut().zip(group).enumerate() {
            if let (Some((base, stride)), true) = (whole, n == G) {
                let at = base + c * stride + k * V::N;
                prefetch_next_group::<T, V, G>(io.x, at);
                prefetch_next_group::<T, V, G>(io.y, at);
            }
            let d = t.load::<T, V>(io.x, c, T::ZERO).sub(f.m);
            let e = exp_if_in_range::<T, V>(d, f.in_range);
            if store {
                t.store(e, io.g, c);
            }
            f.s.add(e);
            if prob {
                let y = t.load::<T, V>(io.y, c, T::ZERO);
                y.mul(keep).add(add).mul(w).mul(d).add_to(&mut f.shifted);
                y.mul(w).add_to(&mut f.wy);
            } else if eps > 0.0 {
                d.mul(w).add_to(&mut f.shifted);
            }
        }
    }
    found
}

/// One vector of a class target's exp pass: `e = exp(x - m)` added to the lane sums (and, with
/// smoothing, `w (x - m)` to [`Found::shifted`]); returns `e`.
#[inline(always)]
fn exp_step<T: Real, V: Lanes<T>>(f: &mut Found<V>, x: V, w: V, eps: f64) -> V {
    let d = x.sub(f.m);
    let e = exp_if_in_range::<T, V>(d, f.in_range);
    f.s.add(e);
    if eps > 0.0 {
        d.mul(w).add_to(&mut f.shifted);
    }
    e
}

/// The gradient of a group of tiles: `g_c = e_c a - s_i q_c` over the stored `e_c`, then each
/// lane's class-target term ([`fix_lane`]).
#[inline(always)]
fn write_grad<T: Real, V: Lanes<T>, const G: usize>(
    ctx: &Ctx<'_, T>,
    y: &[T],
    g: &mut [T],
    group: &[(Tile, usize)],
    found: &[Found<V>; G],
    grad: &[LaneGrad<T>; G],
) {
    let classes = ctx.layout.classes;
    let (eps, smooth) = (ctx.eps, ctx.eps / classes as f64);
    let prob = matches!(ctx.target, Target::Prob { .. });
    let (keep, add) = (
        V::splat(T::from_f64(1.0 - eps)),
        V::splat(T::from_f64(smooth)),
    );
    // Loops, not `array::from_fn`: a closure holding vector code that LLVM leaves out of line
    // loses the entry point's target features (tests/test_codegen.py).
    let mut av = [Factor::plain::<T>(V::splat(T::ZERO)); G];
    let mut sv = [V::splat(T::ZERO); G];
    for (((a, s), f), lg) in av.iter_mut().zip(&mut sv).zip(found).zip(grad) {
        *a = Factor::lanes::<T>(&lg.a, f.lo, f.m);
        let scale: [T; 16] = std::array::from_fn(|l| T::from_f64(lg.row_scale[l]));
        *s = from_array::<T, V>(&scale);
    }
    let whole = whole_columns(group, V::N).filter(|_| !prob);
    for c in 0..classes {
        let w = V::splat(T::from_f64(ctx.weight(c)));
        let smooth_w = V::splat(T::from_f64(smoothed_weight(smooth, ctx.weight(c))));
        if let Some((base, stride)) = whole {
            let gs = column_vectors_mut::<T, V>(g, base, c, stride, group.len());
            for ((ak, sk), gv) in av.iter().zip(&sv).zip(gs) {
                let e = V::load(gv);
                ak.of(e).sub(smooth_w.mul(*sk)).canon_nan().store(gv);
            }
            continue;
        }
        for (k, &(t, _)) in group.iter().enumerate() {
            let e = t.load::<T, V>(g, c, T::ZERO);
            let qc = if prob {
                t.load::<T, V>(y, c, T::ZERO).mul(keep).add(add).mul(w)
            } else {
                smooth_w
            };
            t.store(av[k].of(e).sub(qc.mul(sv[k])), g, c);
        }
    }
    for (&(t, _), lg) in group.iter().zip(grad) {
        for l in 0..t.lanes.min(16) {
            fix_lane(ctx, g, t, l, lg);
        }
    }
}

/// Lane `l`'s class-target term of the gradient `g` of tile `t`: `s_i (1 - eps) w_t` subtracted
/// from class `t`'s element in f64; an ignored class-target row's gradient is zero.
#[inline(always)]
pub(super) fn fix_lane<T: Real>(
    ctx: &Ctx<'_, T>,
    g: &mut [T],
    t: Tile,
    l: usize,
    grad: &LaneGrad<T>,
) {
    let Some(&tc) = grad.class.get(l) else {
        return;
    };
    if tc != NO_CLASS {
        if let Some(v) = g.get_mut(t.at(l, tc)) {
            *v = T::from_f64(v.to_f64() - grad.amount[l]);
        }
    } else if matches!(ctx.target, Target::Class(_)) {
        (0..ctx.layout.classes).for_each(|c| g[t.at(l, c)] = T::ZERO);
    }
}

/// [`Real::to_f64`] of each lane.
#[inline(always)]
fn widen<T: Real>(v: &[T; 16]) -> [f64; 16] {
    std::array::from_fn(|l| v[l].to_f64())
}

/// The class of lane `l` in `class[l]` ([`NO_CLASS`] for an ignored row and past the tile).
pub(super) const NO_CLASS: usize = usize::MAX;

/// Each lane's class (into `class`), whether its row counts (1 into `counted`), its weight
/// `w_t` (into `weight`) and the returned logit `x_t`, for the tile `t` whose first row is
/// `row0`; lanes of [`NO_CLASS`] are left as they are (0).
#[inline(always)]
fn gather_class_lanes<T: Real>(
    tg: ClassTargets<'_, T>,
    x: &[T],
    t: Tile,
    row0: usize,
    classes: usize,
    class: &mut [usize; 16],
    counted: &mut [f64; 16],
    weight: &mut [f64; 16],
) -> [f64; 16] {
    let mut x_t = [0.0f64; 16];
    let targets = tg.target.get(row0..row0 + t.lanes).unwrap_or_default();
    for (l, &target) in targets.iter().enumerate().take(16) {
        if let Some(tc) = tg.class_from(target, classes) {
            class[l] = tc;
            counted[l] = 1.0;
            weight[l] = tg.weight_of(tc);
            x_t[l] = x.get(t.at(l, tc)).map_or(f64::NAN, |v| v.to_f64());
        }
    }
    x_t
}
