"""Accuracy beyond the fixtures: float32 results within a few ULP of the float64 answer, also where
a float32 sum would round early (confident rows, whose top log-probability is a tiny number)."""

import numpy as np
import pytest

import softloss as sl


@pytest.mark.parametrize("classes", [3, 15, 16, 40, 5000, 530_000])
@pytest.mark.parametrize("gap", [8.0, 12.0])
def test_confident_rows_keep_their_small_log_probabilities(classes, gap):
    x = np.zeros((3, classes), np.float32)
    x[:, 0] = gap
    exact = sl.log_softmax(x.astype(np.float64))
    got = sl.log_softmax(x)
    # The top entry is about -(C - 1) e^-gap: tiny, and still correct to float32 precision.
    np.testing.assert_allclose(got, exact, rtol=4e-7, atol=0)
    loss = sl.cross_entropy(x, np.zeros(3, np.int64))
    assert loss == pytest.approx(-exact[0, 0], rel=4e-7)


@pytest.mark.parametrize(
    ("shape", "axis"), [((64, 1000), -1), ((500, 7), -1), ((4, 9, 33), 1), ((3, 100_000), -1)]
)
def test_float32_error_is_what_the_float32_input_allows(shape, axis):
    """exp's argument x - max is rounded to float32 (relative error 2^-24 |z|), so softmax may be
    off by about |z| ULP and log_softmax by about 2^-24 (|z| + 1) absolutely; nothing more."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    z = np.abs(x - x.max(axis=axis, keepdims=True)).astype(np.float64)
    eps = 2.0**-24
    p_exact = sl.softmax(x.astype(np.float64), axis)
    p = sl.softmax(x, axis).astype(np.float64)
    assert np.all(np.abs(p - p_exact) <= eps * (4 + 2 * z) * p_exact)
    lp_exact = sl.log_softmax(x.astype(np.float64), axis)
    lp = sl.log_softmax(x, axis).astype(np.float64)
    assert np.all(np.abs(lp - lp_exact) <= eps * (4 * np.abs(lp_exact) + 4))
