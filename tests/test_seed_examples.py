"""The worked examples of the seed tutorial, with their published numbers."""

import numpy as np
import pytest
from conftest import assert_close, load_cases

import softloss

CASES, ARRAYS = load_cases()
DTYPES = [np.float32, np.float64]


def published(actual, values, decimals=6):
    """The tutorial prints 6 significant decimals: agree to about half a unit in the last place."""
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), values, rtol=0, atol=0.6 * 10.0**-decimals
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_1d_softmax(dtype):
    p = softloss.softmax(np.array([0.3, 2.9, 4.0], dtype))
    assert p.dtype == dtype
    published(p, [0.018211, 0.245192, 0.736597])
    assert float(np.sum(p, dtype=np.float64)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_2d_table_matches_fixture_c0002(dtype):
    x = np.array([[0.3, 2.9, 4.0], [0.5, 1.1, 8.0], [0.9, 12.9, 34.0]], dtype)
    case_id = "c0002" if dtype == np.float64 else "c0088"  # the float32 copy of c0002
    case = next(c for c in CASES if c["id"] == case_id)
    assert case["fn"] == "softmax"
    assert case["dtype"] == np.dtype(dtype).name
    np.testing.assert_array_equal(ARRAYS[f"{case_id}.input"], x)
    p = softloss.softmax(x, axis=1)
    assert_close(p, ARRAYS[case["expected"]], dtype)
    published(p[0], [0.018211, 0.245192, 0.736597])
    # Each row sums to one; axis=0 would normalise the columns instead.
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(softloss.softmax(x, axis=0), p)


@pytest.mark.parametrize("dtype", DTYPES)
def test_overflow_example_is_stable(dtype):
    x = np.array([1010.0, 1000.0, 990.0], dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(x) / np.sum(np.exp(x))
    assert np.isnan(naive).any()  # the naive formula really does overflow
    p = softloss.softmax(x)
    assert not np.isnan(p).any()
    np.testing.assert_allclose(p, [9.999546e-01, 4.539787e-05, 2.061060e-09], rtol=1e-6)
    lp = softloss.log_softmax(x)
    lse = np.log1p(np.exp(-10.0) + np.exp(-20.0))  # log-sum-exp minus the max, 4.5401e-05
    np.testing.assert_allclose(lp, [-lse, -10.0 - lse, -20.0 - lse], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cat_horse_dog_tie(dtype):
    scores = np.array([[5, 4, 2], [4, 2, 8], [4, 4, 1]], dtype)
    p = softloss.softmax(scores, axis=1)
    published(p[2], [0.487856, 0.487856, 0.024289])
    assert p[2, 0] == p[2, 1]
    published(p[0], [0.705385, 0.259496, 0.035119])
    published(p[1], [0.017943, 0.002428, 0.979629])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_gradient_is_p_minus_one_hot(dtype):
    scores = np.array([[5, 4, 2], [4, 2, 8], [4, 4, 1]], dtype)
    t = np.array([0, 2, 1])
    p = softloss.softmax(scores, axis=1).astype(np.float64)
    onehot = np.eye(3)[t]
    g = softloss.cross_entropy_backward(1.0, scores, t, reduction="sum")
    assert_close(g, p - onehot, dtype)
    loss, g2 = softloss.cross_entropy_with_grad(scores, t, reduction="sum")
    assert_close(g2, p - onehot, dtype)
    assert_close(loss, -np.sum(np.log(p[np.arange(3), t])), dtype)
    assert_close(softloss.cross_entropy_backward(1.0, scores, t), (p - onehot) / 3, dtype)
    # The seed's hand-computed target probabilities 0.705385, 0.979629, 0.487856.
    published(
        np.exp(-softloss.cross_entropy(scores, t, reduction="none")), [0.705385, 0.979629, 0.487856]
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_with_class_weights(dtype):
    logp = softloss.log_softmax(np.array([[5, 4, 2], [4, 2, 8], [4, 4, 1]], dtype), axis=1)
    t = np.array([0, 2, 1])
    w = np.array([1.0, 2.0, 0.5], dtype)
    picked = logp.astype(np.float64)[np.arange(3), t]
    wt = w.astype(np.float64)[t]
    assert_close(softloss.nll_loss(logp, t, weight=w, reduction="none"), -wt * picked, dtype)
    assert_close(softloss.nll_loss(logp, t, weight=w, reduction="sum"), -np.sum(wt * picked), dtype)
    mean = softloss.nll_loss(logp, t, weight=w)
    assert_close(mean, -np.sum(wt * picked) / np.sum(wt), dtype)
    assert isinstance(mean, dtype)
    expected_grad = np.zeros((3, 3))
    expected_grad[np.arange(3), t] = -wt / np.sum(wt)
    assert_close(softloss.nll_loss_backward(1.0, logp, t, weight=w), expected_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_linspace_against_point_two(dtype):
    x = np.linspace(0, 1, 10).astype(dtype)
    y = np.full(10, 0.2, dtype)
    none = softloss.binary_cross_entropy(x, y, reduction="none")
    assert none.shape == (10,)
    assert none.dtype == dtype
    assert none[0] == pytest.approx(20.0, rel=1e-6)  # -0.8 * log1p(-0) - 0.2 * (-100)
    assert none[-1] == pytest.approx(80.0, rel=1e-6)  # -0.8 * (-100) clamp
    total = softloss.binary_cross_entropy(x, y, reduction="sum")
    assert isinstance(total, dtype)
    assert float(total) == pytest.approx(106.973194, abs=5e-6)
    assert float(softloss.binary_cross_entropy(x, y)) == pytest.approx(10.6973194, abs=5e-7)
    published(none[1:3], [0.533671, 0.501867])
