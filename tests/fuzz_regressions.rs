//! Regression tests for what the kernel fuzzers found (fuzz/README.md); one section per finding.
//!
//! A finding that is not fixed yet has an `#[ignore]`d test naming it, run with
//! `cargo test --test fuzz_regressions -- --ignored`; drop the `ignore` once the fix lands.

use softloss::kernels::cross_entropy::{forward_backward, Target};
use softloss::kernels::nll::ClassTargets;
use softloss::kernels::{GradScale, Layout, LossSum};
use std::time::{Duration, Instant};

// R1 (kernels_cross_entropy, slow units of 6 to 11 s): cross_entropy on an empty input whose
// dimensions after the class axis multiply to 0, e.g. shape (N, C, 0), visited N empty tiles and
// processed each over all C classes: 2.6 s for an empty (100000, 1000, 0) float32 array through
// the Python API, growing with N * C. `forward_backward` returns early only for `classes == 0`;
// now also returns `LossSum::default()` when `inner == 0` (fixed).

/// Runs cross_entropy with class and with probability targets, with and without the gradient,
/// on an empty `(outer, classes, 0)` input, and returns the slowest call's time.
fn empty_trailing_axis(outer: usize, classes: usize) -> Duration {
    let lay = Layout {
        outer,
        classes,
        inner: 0,
    };
    assert_eq!((lay.len(), lay.rows()), (0, 0));
    let weight = vec![1.0f32; classes];
    let class = Target::Class(ClassTargets {
        target: &[],
        weight: Some(&weight),
        ignore_index: -100,
    });
    let prob = Target::Prob {
        y: &[],
        weight: None,
    };
    let mut slowest = Duration::ZERO;
    for target in [class, prob] {
        for eps in [0.0, 0.25] {
            let start = Instant::now();
            let sum = forward_backward::<f32>(
                &[],
                target,
                eps,
                lay,
                &mut [],
                &mut [],
                GradScale::Uniform(1.0),
            );
            slowest = slowest.max(start.elapsed());
            assert_eq!(sum, LossSum::default(), "nothing to add on an empty input");
        }
    }
    slowest
}

#[test]
fn r1_cross_entropy_on_an_empty_trailing_axis_is_empty() {
    // Small enough to be quick before the fix too: the semantics only.
    empty_trailing_axis(1000, 17);
}

#[test]
fn r1_cross_entropy_on_an_empty_trailing_axis_does_no_work() {
    // Seconds per call in a debug build before the fix; nothing to compute after it.
    let slowest = empty_trailing_axis(2_000, 1000);
    assert!(
        slowest < Duration::from_secs(1),
        "an empty (2000, 1000, 0) input took {slowest:?}"
    );
}
