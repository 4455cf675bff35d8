"""Thread-count control, and results that do not depend on the thread count."""

import numpy as np
import pytest

import softloss

THREADS = [1, 2, 3]


def test_set_get_roundtrip(restore_threads):
    assert isinstance(restore_threads, int)
    assert restore_threads >= 1
    for n in (1, 3, 2, 7):
        softloss.set_num_threads(n)
        assert softloss.get_num_threads() == n


@pytest.mark.parametrize("n", [0, -1])
def test_non_positive_thread_count_is_a_value_error(n, restore_threads):
    with pytest.raises(ValueError):
        softloss.set_num_threads(n)
    assert softloss.get_num_threads() == restore_threads


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((4096, 1000)) * 3).astype(np.float32)
    t = rng.integers(0, 1000, 4096)
    t[::17] = -100
    w = rng.uniform(0.5, 2, 1000).astype(np.float32)
    p = rng.uniform(0.01, 0.99, (4096, 1000)).astype(np.float32)
    y = rng.uniform(0, 1, (4096, 1000)).astype(np.float32)
    return x, t, w, p, y


CALLS = {
    "softmax": lambda x, t, w, p, y: softloss.softmax(x),
    "log_softmax_axis0": lambda x, t, w, p, y: softloss.log_softmax(x, axis=0),
    "softmax_backward": lambda x, t, w, p, y: softloss.softmax_backward(y, p),
    "cross_entropy_mean": lambda x, t, w, p, y: softloss.cross_entropy(x, t, weight=w),
    "cross_entropy_smooth_sum": lambda x, t, w, p, y: softloss.cross_entropy(
        x, t, reduction="sum", label_smoothing=0.1
    ),
    "cross_entropy_with_grad": lambda x, t, w, p, y: softloss.cross_entropy_with_grad(x, t),
    "nll_mean": lambda x, t, w, p, y: softloss.nll_loss(x, t, weight=w),
    "nll_backward": lambda x, t, w, p, y: softloss.nll_loss_backward(1.0, x, t),
    "bce_mean": lambda x, t, w, p, y: softloss.binary_cross_entropy(p, y),
    "bce_sum_weight": lambda x, t, w, p, y: softloss.binary_cross_entropy(
        p, y, weight=w, reduction="sum"
    ),
    "bce_logits_mean": lambda x, t, w, p, y: softloss.binary_cross_entropy_with_logits(
        x, y, pos_weight=w
    ),
}


def _bits(result):
    parts = result if isinstance(result, tuple) else (result,)
    return [np.asarray(r).tobytes() for r in parts]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_bitwise_identical_across_thread_counts(name, big, restore_threads):
    results = []
    for n in THREADS:
        softloss.set_num_threads(n)
        results.append(_bits(CALLS[name](*big)))
    assert results[0] == results[1] == results[2]
