//! Negative log-likelihood over log-probabilities, with class weights and an ignored class.
//!
//! Formula, for row i with target t_i and weight w: `l_i = -w[t_i] * input[i, t_i]`, and
//! `l_i = 0` where `t_i == ignore_index` (compared before the range check). Reductions: none keeps
//! the l_i; sum adds them; mean divides the sum by `W = sum of w[t_i]` over the non-ignored rows
//! (their count without weights), so all-ignored gives `0 / 0 = NaN`.
//!
//! Stability: no arithmetic beyond one product per row; sums are accumulated in `f64` in row order
//! within the size-fixed chunks of outer blocks, then in chunk order (independent of threads).
//!
//! Gradient: zero except `[i, t_i] = -w[t_i] * s_i` with `s_i = go_i` (none), `go` (sum) or
//! `go / W` (mean).

use super::{GradScale, Layout, LossSum, Real};
use crate::parallel;
use crate::simd::{self, Isa, Kernel};
use std::ops::Range;

/// Class targets (one per row), optional per-class weights and the ignored value.
#[derive(Clone, Copy, Debug)]
pub struct ClassTargets<'a, T> {
    /// One class index per row, `outer * inner` of them in row order.
    pub target: &'a [i64],
    /// Per-class weights (length `classes`), or `None` for all ones.
    pub weight: Option<&'a [T]>,
    /// Rows whose target equals this value contribute nothing.
    pub ignore_index: i64,
}

impl<'a, T: Real> ClassTargets<'a, T> {
    /// The first target that is neither `ignore_index` nor in `[0, classes)`.
    #[must_use]
    pub fn first_invalid(&self, classes: usize) -> Option<i64> {
        self.scan(classes).first_invalid
    }

    /// Checks every target in one pass: the targets with what the pass counted, or the first
    /// invalid target (see [`Self::first_invalid`]).
    pub fn check(self, classes: usize) -> Result<CheckedTargets<'a, T>, i64> {
        let scan = self.scan(classes);
        match scan.first_invalid {
            Some(bad) => Err(bad),
            None => Ok(CheckedTargets {
                targets: self,
                classes,
                counted: scan.counted,
            }),
        }
    }

    /// One pass over the targets ([`TargetScan`]), in the active path's instruction set so
    /// that the 64-bit compares vectorise.
    fn scan(&self, classes: usize) -> TargetScan {
        simd::dispatch(ScanTargets {
            target: self.target,
            ignore_index: self.ignore_index,
            classes,
        })
    }

    /// The class of row `k`, or `None` when it is ignored (or, defensively, out of range).
    #[inline]
    #[must_use]
    pub fn class_of(&self, k: usize, classes: usize) -> Option<usize> {
        self.class_from(*self.target.get(k)?, classes)
    }

    /// The class of a row whose target is `t` (see [`Self::class_of`]).
    #[inline]
    #[must_use]
    pub fn class_from(&self, t: i64, classes: usize) -> Option<usize> {
        if t == self.ignore_index {
            return None;
        }
        usize::try_from(t).ok().filter(|&c| c < classes)
    }

    /// The weight of class `c` (1 without weights).
    #[inline]
    #[must_use]
    pub fn weight_of(&self, c: usize) -> f64 {
        self.weight
            .and_then(|w| w.get(c))
            .map_or(1.0, |v| v.to_f64())
    }

    /// `W`: the sum of `w[t_i]` over the non-ignored rows, in row order; without weights the
    /// count of non-ignored rows (the same value: a sum of ones is exact below 2^53).
    #[must_use]
    pub fn weight_sum(&self, classes: usize) -> f64 {
        if self.weight.is_none() {
            return self.scan(classes).counted as f64;
        }
        (0..self.target.len())
            .filter_map(|k| self.class_of(k, classes))
            .map(|c| self.weight_of(c))
            .sum()
    }
}

/// Class targets that [`ClassTargets::check`] passed, and the count of non-ignored rows it took.
#[derive(Clone, Copy, Debug)]
pub struct CheckedTargets<'a, T> {
    /// The checked targets.
    pub targets: ClassTargets<'a, T>,
    classes: usize,
    counted: usize,
}

impl<T: Real> CheckedTargets<'_, T> {
    /// `W` (see [`ClassTargets::weight_sum`]); without weights it is the check's count, so no
    /// second pass over the targets is made.
    #[must_use]
    pub fn weight_sum(&self) -> f64 {
        match self.targets.weight {
            None => self.counted as f64,
            Some(_) => self.targets.weight_sum(self.classes),
        }
    }
}

/// What one pass over class targets found.
struct TargetScan {
    /// The first target that is neither ignored nor a class.
    first_invalid: Option<i64>,
    /// How many targets are classes (not ignored); meaningless when one is invalid.
    counted: usize,
}

/// The pass of [`TargetScan`]: blocks of targets are tested and counted branch-free (which
/// vectorises), and searched one by one only when a block holds an invalid one.
struct ScanTargets<'a> {
    target: &'a [i64],
    ignore_index: i64,
    classes: usize,
}

impl Kernel for ScanTargets<'_> {
    type Output = TargetScan;

    #[inline(always)]
    fn run<I: Isa>(self, _isa: I) -> TargetScan {
        let (ignore, classes) = (self.ignore_index, self.classes as u64);
        // A negative target wraps to a u64 above any class count.
        #[allow(clippy::cast_sign_loss)]
        let is_class = |t: i64| (t as u64) < classes;
        let mut counted = 0;
        for block in self.target.chunks(1024) {
            let (mut classes_in, mut invalid) = (0usize, 0usize);
            for &t in block {
                let (class, ignored) = (is_class(t), t == ignore);
                classes_in += usize::from(class && !ignored);
                invalid += usize::from(!class && !ignored);
            }
            if invalid > 0 {
                let first_invalid = block.iter().copied().find(|&t| !is_class(t) && t != ignore);
                return TargetScan {
                    first_invalid,
                    counted,
                };
            }
            counted += classes_in;
        }
        TargetScan {
            first_invalid: None,
            counted,
        }
    }
}

/// Index of element `(o, c, j)` of a `(outer, classes, inner)` array, for row `k = o * inner + j`.
#[inline]
#[must_use]
pub fn element_index(layout: Layout, k: usize, c: usize) -> usize {
    let (o, j) = (k / layout.inner, k % layout.inner);
    (o * layout.classes + c) * layout.inner + j
}

/// Calls `f(k, base)` for every row `k` in order, `base` being the index of its class-0 element
/// (class `c` is at `base + c * inner`): [`element_index`] without its two divisions per row.
#[inline(always)]
fn for_each_row(layout: Layout, mut f: impl FnMut(usize, usize)) {
    let Layout {
        outer,
        classes,
        inner,
    } = layout;
    if inner == 1 {
        (0..outer).for_each(|k| f(k, k * classes));
    } else {
        for o in 0..outer {
            (0..inner).for_each(|j| f(o * inner + j, o * classes * inner + j));
        }
    }
}

/// The work of one row for the thread thresholds, in elements: a gather touches one cache line
/// (16 f32), however long the row; so `(2048, 50257)` stays on one thread and `(1000000, 10)`
/// does not. The chunks hold `parallel::items_per_chunk(outer, inner * ROW_COST)` outer blocks.
pub const ROW_COST: usize = 16;

/// The losses of every row: written to `losses` when it has one slot per row (reduction none),
/// and summed with their weights either way (in row order within the size-fixed chunks of
/// [`parallel::map_chunks`], then in chunk order).
pub fn forward<T: Real>(
    input: &[T],
    targets: &ClassTargets<'_, T>,
    layout: Layout,
    losses: &mut [T],
) -> LossSum {
    let block = layout.block_len();
    if block == 0 {
        return forward_rows(input, targets, layout, losses);
    }
    let loss_per = if losses.is_empty() { 0 } else { layout.inner };
    let parts = map_blocks(layout, losses, loss_per, |r, l| {
        let (input, targets, local) = chunk(input, targets, layout, r);
        forward_rows(input, &targets, local, l)
    });
    LossSum::total(parts)
}

/// [`parallel::map_chunks`] over the outer blocks (chunks sized by [`ROW_COST`]) with one output,
/// `per` elements of `out` per block.
fn map_blocks<A: Send, R: Send>(
    layout: Layout,
    out: &mut [A],
    per: usize,
    f: impl Fn(Range<usize>, &mut [A]) -> R + Sync,
) -> Vec<R> {
    let no_second_output: &mut [u8] = &mut [];
    parallel::map_chunks(
        layout.outer,
        layout.inner * ROW_COST,
        out,
        per,
        no_second_output,
        0,
        |r, a, _| f(r, a),
    )
}

/// The input, targets and layout of the outer blocks `r`.
fn chunk<'a, T: Real>(
    input: &'a [T],
    targets: &ClassTargets<'a, T>,
    layout: Layout,
    r: Range<usize>,
) -> (&'a [T], ClassTargets<'a, T>, Layout) {
    let (block, inner) = (layout.block_len(), layout.inner);
    let input = input
        .get(r.start * block..r.end * block)
        .unwrap_or_default();
    let target = targets
        .target
        .get(r.start * inner..r.end * inner)
        .unwrap_or_default();
    let local = Layout {
        outer: r.len(),
        ..layout
    };
    (input, ClassTargets { target, ..*targets }, local)
}

/// [`forward`] on one thread.
fn forward_rows<T: Real>(
    input: &[T],
    targets: &ClassTargets<'_, T>,
    layout: Layout,
    losses: &mut [T],
) -> LossSum {
    let mut sum = LossSum::default();
    for_each_row(layout, |k, base| {
        let (loss, weight) = match targets.class_of(k, layout.classes) {
            Some(c) => {
                let w = targets.weight_of(c);
                let v = input
                    .get(base + c * layout.inner)
                    .map_or(f64::NAN, |v| v.to_f64());
                (-w * v, w)
            }
            None => (0.0, 0.0),
        };
        if let Some(slot) = losses.get_mut(k) {
            *slot = T::from_f64(loss);
        }
        sum = sum + LossSum { loss, weight };
    });
    sum
}

/// Writes the gradient into `grad`, which the caller has zero-filled (length `layout.len()`).
pub fn backward<T: Real>(
    targets: &ClassTargets<'_, T>,
    layout: Layout,
    scale: GradScale<'_, T>,
    grad: &mut [T],
) {
    let block = layout.block_len();
    if block == 0 {
        return;
    }
    map_blocks(layout, grad, block, |r, g| {
        let k0 = r.start * layout.inner;
        let (_, targets, local) = chunk::<T>(&[], targets, layout, r);
        for_each_row(local, |k, base| {
            if let Some(c) = targets.class_of(k, layout.classes) {
                if let Some(g) = g.get_mut(base + c * layout.inner) {
                    *g = T::from_f64(-targets.weight_of(c) * scale.at(k0 + k));
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Reduction;

    #[test]
    fn weighted_mean_ignores_rows() {
        let x = [-1.0f64, -2.0, -3.0, -4.0, -5.0, -6.0];
        let w = [1.0, 2.0, 3.0];
        let t = ClassTargets {
            target: &[2, -100],
            weight: Some(&w),
            ignore_index: -100,
        };
        let l = Layout::new(&[2, 3], 1);
        let s = forward(&x, &t, l, &mut []);
        assert!((s.reduce(Reduction::Mean) - 3.0).abs() < 1e-15);
        let mut g = vec![0.0; 6];
        backward(&t, l, GradScale::Uniform(0.5), &mut g);
        assert_eq!(g, [0.0, 0.0, -1.5, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn invalid_targets_are_found_but_ignored_ones_are_not() {
        let t = ClassTargets::<f32> {
            target: &[0, 7, 3],
            weight: None,
            ignore_index: 7,
        };
        assert_eq!(t.first_invalid(3), Some(3));
        let t = ClassTargets::<f32> {
            target: &[0, -1],
            weight: None,
            ignore_index: -100,
        };
        assert_eq!(t.first_invalid(3), Some(-1));
        let t = ClassTargets::<f32> {
            target: &[2, -100],
            weight: None,
            ignore_index: -100,
        };
        assert_eq!(t.first_invalid(3), None);
    }

    #[test]
    fn target_scan_reports_the_first_invalid_and_counts_on_every_path() {
        // Targets over several scan blocks: classes, ignored values (inside and outside the class
        // range), then invalid ones (negative, equal to the class count, i64 extremes) late on.
        let mut target: Vec<i64> = (0..5000).map(|i| (i * 7) % 6 - 1).collect();
        for ignore_index in [-1i64, 2, -100] {
            let mut t = ClassTargets::<f32> {
                target: &target,
                weight: None,
                ignore_index,
            };
            let naive = |t: &ClassTargets<'_, f32>| {
                t.target
                    .iter()
                    .filter(|&&v| v != ignore_index && (0..5).contains(&v))
                    .count() as f64
            };
            let first_bad = target
                .iter()
                .copied()
                .find(|&v| v != ignore_index && !(0..5).contains(&v));
            for path in crate::simd::supported() {
                let scan = crate::simd::dispatch_on(
                    path,
                    ScanTargets {
                        target: &target,
                        ignore_index,
                        classes: 5,
                    },
                );
                assert_eq!(scan.first_invalid, first_bad, "{path:?}");
                if first_bad.is_none() {
                    assert_eq!(scan.counted as f64, naive(&t), "{path:?}");
                }
            }
            assert_eq!(t.first_invalid(5), first_bad);
            t.target = &target[..0];
            assert_eq!((t.first_invalid(5), t.weight_sum(5)), (None, 0.0));
            let valid: Vec<i64> = target.iter().map(|&v| v.max(0)).collect();
            t.target = &valid;
            assert_eq!(t.first_invalid(5), None);
            assert_eq!(t.weight_sum(5), naive(&t));
            assert_eq!(t.check(5).map(|c| c.weight_sum()), Ok(naive(&t)));
            let w = [0.5f32, 1.0, 2.0, 4.0, 8.0];
            let weighted = ClassTargets {
                weight: Some(&w),
                ..t
            };
            let want: f64 = valid
                .iter()
                .filter(|&&v| v != ignore_index)
                .map(|&v| f64::from(w[v as usize]))
                .sum();
            assert_eq!(weighted.check(5).map(|c| c.weight_sum()), Ok(want));
        }
        for (at, bad) in [(4321, 5i64), (1023, -2), (1024, i64::MIN), (4999, i64::MAX)] {
            for v in &mut target {
                *v = (*v).clamp(0, 4);
            }
            target[at] = bad;
            if let Some(later) = target.get_mut(at + 7) {
                *later = 6;
            }
            let t = ClassTargets::<f32> {
                target: &target,
                weight: None,
                ignore_index: -100,
            };
            assert_eq!(t.first_invalid(5), Some(bad));
            assert_eq!(t.check(5).err(), Some(bad));
        }
    }

    #[test]
    fn class_axis_in_the_middle() {
        // (1, 2, 3) with classes on axis 1: row j picks x[0, t_j, j].
        let x = [1.0f64, 2.0, 3.0, 10.0, 20.0, 30.0];
        let t = ClassTargets {
            target: &[1, 0, 1],
            weight: None,
            ignore_index: -100,
        };
        let mut l = vec![0.0; 3];
        forward(&x, &t, Layout::new(&[1, 2, 3], 1), &mut l);
        assert_eq!(l, [-10.0, -2.0, -30.0]);
    }
}
