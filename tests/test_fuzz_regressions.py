"""Regression tests for what the fuzzers found (fuzz/README.md); one section per finding.

Findings not fixed yet are strict xfails naming the finding: when the fix lands the xfail turns
into a failure, which is the reminder to drop the marker (and the matching entry of
``known_issue()`` in fuzz/atheris_api.py).
"""

import math

import numpy as np
import pytest

import softloss as sl

X = np.log(np.full((2, 3), 1 / 3))

# P1 (atheris_api): a uint64 class target in non-native byte order skipped the range check of
# softloss._prep.class_target (which compared the dtype with np.uint64, native order only) and
# wrapped to a negative int64: 2**64 - 100 became -100, the default ignore_index, so the row was
# silently ignored; 2**64 - 1 was reported as target -1. Fixed: the check covers any byte order.
BIG = 2**64 - 100
CLASS_TARGET_CALLS = {
    "nll_loss": lambda t: sl.nll_loss(X, t),
    "nll_loss_backward": lambda t: sl.nll_loss_backward(1.0, X, t),
    "cross_entropy": lambda t: sl.cross_entropy(X, t),
    "cross_entropy_backward": lambda t: sl.cross_entropy_backward(1.0, X, t),
    "cross_entropy_with_grad": lambda t: sl.cross_entropy_with_grad(X, t),
}
SWAPPED_U64 = np.dtype(np.uint64).newbyteorder()


@pytest.mark.parametrize("name", CLASS_TARGET_CALLS)
def test_p1_native_uint64_target_beyond_int64_raises(name):
    with pytest.raises(IndexError, match=str(BIG)):
        CLASS_TARGET_CALLS[name](np.array([0, BIG], dtype=np.uint64))


@pytest.mark.parametrize("name", CLASS_TARGET_CALLS)
def test_p1_byteswapped_uint64_target_beyond_int64_raises(name):
    with pytest.raises(IndexError, match=str(BIG)):
        CLASS_TARGET_CALLS[name](np.array([0, BIG], dtype=SWAPPED_U64))


def test_p1_byteswapped_uint64_error_names_the_value():
    with pytest.raises(IndexError, match=str(2**64 - 1)):
        sl.cross_entropy(X[:1], np.array([2**64 - 1], dtype=SWAPPED_U64))


# P2 (atheris_api, found by CI's 60-second run): a harness expectation, not a library bug. With
# reduction="mean" the gradient is -w[t] * (grad_output / W), W the targets' weight sum, divided
# first as PyTorch does (SPEC: "-w[t_i] * go / W"); a subnormal W overflows the quotient, so
# nll_loss_backward(1.0, [x0, x1, x2], 0, weight=[5e-324, ...]) is [-inf, 0, 0] although the
# exact gradient is -1. The harness now expects a finite gradient only where go / W is finite.
def test_p2_mean_gradient_divides_grad_output_by_the_weight_sum_first():
    x = np.array([1.4e-45, -2.1875, -2.078125])
    w = np.array([5e-324, 2.109375, 7.84375])
    got = sl.nll_loss_backward(1.0, x, np.array(0), weight=w, axis=-1)
    assert got.tolist() == [-np.inf, 0.0, 0.0]
    # With a finite quotient the value is -w[t] * (go / W), rounded in that order.
    w[0] = 1e-300
    got = sl.nll_loss_backward(1.0, x, np.array(0), weight=w, axis=-1)
    assert got.tolist() == [-(w[0] * (1.0 / w[0])), 0.0, 0.0]


# P3 (atheris_api, CI's 60-second run): also a harness expectation. Weights are converted to the
# input's dtype, so a float64 weight of 5e-324 is 0 for float32 logits; with reduction="mean" the
# only target's weight sum is then 0 and the mean divides by it (inf here, with label smoothing
# making the loss sum positive; NaN without). The harness now checks weights in the compute dtype.
def test_p3_weights_are_converted_to_the_input_dtype_before_the_mean():
    x = np.array([0.0, 0.0, 0.0, -3.015625], np.float32)
    w = np.array([5e-324, 7.0, 7.0, 7.0])
    kw = {"weight": w, "ignore_index": -58, "reduction": "mean", "label_smoothing": 0.1}
    assert np.isposinf(sl.cross_entropy(x, np.array(0, np.uint64), **kw))
    assert np.isnan(sl.cross_entropy(x, np.array(0), weight=w))
    # In float64 the weight survives: without smoothing the mean is finite.
    assert np.isfinite(sl.cross_entropy(x.astype(np.float64), np.array(0), weight=w))


def test_p4_a_subnormal_weight_sum_can_overflow_the_float32_mean():
    # Found by CI's 60-second atheris run: the harness expected a finite mean whenever every
    # weight is positive in the compute dtype. 1e-45 is a (subnormal) float32 weight; with label
    # smoothing the row's loss weighs the other classes' weights 7, and loss / W exceeds float32.
    x = np.array([0.0, 0.0, 0.0, -3.015625], np.float32)
    w = np.array([1e-45, 7.0, 7.0, 7.0])
    kw = {"weight": w, "ignore_index": -58, "reduction": "mean", "label_smoothing": 0.999}
    loss_sum = sl.cross_entropy(x, np.array(0), **{**kw, "reduction": "sum"})
    w_t = float(np.float32(1e-45))
    assert np.isfinite(loss_sum)
    assert float(loss_sum) / w_t > float(np.finfo(np.float32).max)
    got = sl.cross_entropy(x, np.array(0, np.uint64), **kw)
    assert got.dtype == np.float32
    assert np.isposinf(got)
    # The same call in float64 is finite: the quotient fits.
    assert np.isfinite(sl.cross_entropy(x.astype(np.float64), np.array(0), **kw))


def test_p5_bool_targets_are_probabilities():
    # P5 (CI's 60-second atheris run): a harness expectation. A bool target is a probability
    # target (True is 1.0), never class indices, so its shape must match the input's; the
    # harness read cross_entropy_backward(-0.0, [-0.375] (big-endian float32), [True],
    # weight=[0.109375], label_smoothing=1e-300) as class 1 of one class and indexed the weight
    # with it.
    x = np.array([-0.375], ">f4")
    got = sl.cross_entropy_backward(np.float32(-0.0), x, np.array([True]), weight=[0.109375])
    want = sl.cross_entropy_backward(
        np.float32(-0.0), x, np.array([1.0], np.float32), weight=[0.109375]
    )
    assert got.tobytes() == want.tobytes()
    x2 = np.array([[0.5, -1.0, 2.0], [0.0, 0.25, -0.5]], np.float32)
    t = np.array([[True, False, False], [False, False, True]])
    assert sl.cross_entropy(x2, t) == sl.cross_entropy(x2, t.astype(np.float32))
    with pytest.raises(ValueError, match="does not match"):
        sl.cross_entropy(x2, np.array([True, False]))


def test_c1_long_row_sums_stay_within_the_lane_summation_bound():
    # C1 (kernels_cross_entropy, CI's 60-second run): a float64 row of 71416 classes alternating
    # 0 and -1e4, all-zero probability targets and label smoothing 5.2e-4, so every q_c is the
    # same eps / C. The kernel adds sum q_c (x_c - m) in order into 16 f64 lanes (C / 16 equal
    # terms each), which can be off by ~C / 16 ulps of the sum of magnitudes: here ~290 ulps,
    # beyond the harness's old allowance of 8 ulps per term. The harness now allows for it.
    c, eps = 71416, 0.000520841810576344
    x = np.zeros(c)
    x[1::2] = -1e4
    got = float(sl.cross_entropy(x[None], np.zeros((1, c)), label_smoothing=eps))
    q = eps / c
    s = math.fsum(np.exp(x))
    terms = [q * math.log(s)] * c + [-q * v for v in x]
    exact = math.fsum(terms)
    magnitude = math.fsum(abs(t) for t in terms)
    assert abs(got - exact) <= (c / 16 + 8) * np.finfo(np.float64).eps * magnitude
    assert abs(got - exact) < 1e-12
