"""Regression tests for what the fuzzers found (fuzz/README.md); one section per finding.

Findings not fixed yet are strict xfails naming the finding: when the fix lands the xfail turns
into a failure, which is the reminder to drop the marker (and the matching entry of
``known_issue()`` in fuzz/atheris_api.py).
"""

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
