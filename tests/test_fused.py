"""The one-pass ``*_with_grad`` functions equal the separate forward and backward, bit for bit."""

import numpy as np
import pytest
import reference as ref
from conftest import assert_close

import softloss as sl

RNG = np.random.default_rng(7)
REDUCTIONS = ["none", "mean", "sum"]


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_bce_with_grad(dtype, reduction, weighted):
    x = RNG.uniform(0.001, 0.999, (37, 13)).astype(dtype)
    y = RNG.uniform(0, 1, (37, 13)).astype(dtype)
    w = RNG.uniform(0.5, 2, 13).astype(dtype) if weighted else None
    loss, grad = sl.binary_cross_entropy_with_grad(x, y, w, reduction)
    _bits_equal(loss, sl.binary_cross_entropy(x, y, w, reduction))
    go = np.ones(x.shape, dtype) if reduction == "none" else 1.0
    _bits_equal(grad, sl.binary_cross_entropy_backward(go, x, y, w, reduction))
    assert_close(loss, ref.binary_cross_entropy(x, y, w, reduction), dtype)
    assert_close(grad, ref.binary_cross_entropy_backward(go, x, y, w, reduction), dtype)


def _parts(result):
    """A result as a tuple of arrays: (loss, grad) for the fused functions, (result,) otherwise."""
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n", [5, 16, 37, 1000, 40_000])
def test_no_weights_equal_weights_of_one_bit_for_bit(dtype, reduction, n):
    # Without weights the binary losses drop their products by the (absent) weights on whole
    # vectors (kernels/pointwise.rs); those products by 1 change no bit, not of NaN, infinite or
    # signed-zero operands either. Lengths with and without a partial last vector, and one large
    # enough for several threads.
    rng = np.random.default_rng(n)
    x = rng.normal(0, 8, n).astype(dtype)
    y = rng.uniform(0, 1, n).astype(dtype)
    y[::3] = np.round(y[::3])
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 100.0, -100.0, 1e-30]
    x[: len(specials)] = specials[: min(n, len(specials))]
    y[1:4] = [np.inf, np.nan, -0.0][: max(0, min(n, 4) - 1)]
    p = np.clip(1.0 / (1.0 + np.exp(-x.astype(np.float64))), 0, 1).astype(dtype)
    p[:3] = [0.0, 1.0, 1e-40][: min(n, 3)]
    py = np.clip(np.nan_to_num(y, nan=0.5), 0, 1)
    ones = np.ones(n, dtype)
    go = rng.normal(0, 1, n).astype(dtype) if reduction == "none" else dtype(0.7)
    with np.errstate(all="ignore"):
        for f, args, kws in [
            (sl.binary_cross_entropy, (p, py), [{"weight": ones}]),
            (sl.binary_cross_entropy_with_grad, (p, py), [{"weight": ones}]),
            (sl.binary_cross_entropy_backward, (go, p, py), [{"weight": ones}]),
            (
                sl.binary_cross_entropy_with_logits,
                (x, y),
                [{"weight": ones}, {"pos_weight": ones}, {"weight": ones, "pos_weight": ones}],
            ),
            (
                sl.binary_cross_entropy_with_logits_with_grad,
                (x, y),
                [{"weight": ones}, {"pos_weight": ones}, {"weight": ones, "pos_weight": ones}],
            ),
            (
                sl.binary_cross_entropy_with_logits_backward,
                (go, x, y),
                [{"weight": ones}, {"pos_weight": ones}],
            ),
        ]:
            plain = _parts(f(*args, reduction=reduction))
            for kw in kws:
                weighted = _parts(f(*args, reduction=reduction, **kw))
                for a, b in zip(plain, weighted, strict=True):
                    _bits_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_each_element_as_if_alone(dtype, weighted):
    # Whole vectors run two at a time, one at a time, or as a padded tail, and a vector with a
    # far logit or a tiny probability takes the assist-free form (kernels/pointwise.rs): every
    # element must get the bits it gets in a call of its own. Far logits and tiny probabilities
    # sit in some vectors of a pair and not in others.
    n = 101
    rng = np.random.default_rng(7)
    x = rng.normal(0, 3, n).astype(dtype)
    x[[3, 40, 41, 70, 90]] = [120.0, -95.0, 30.0, -200.0, -800.0]
    y = rng.uniform(0, 1, n).astype(dtype)
    p = rng.uniform(0.01, 0.99, n).astype(dtype)
    p[[5, 37, 80, 95]] = [1e-30, 3e-39, 1 - 1e-7, 1e-300]
    go = rng.normal(0, 1, n).astype(dtype)
    w = rng.uniform(0.5, 2, n).astype(dtype) if weighted else None
    pw = rng.uniform(0.5, 3, n).astype(dtype) if weighted else None

    def at(a, i):
        return None if a is None else a[i]

    calls = [
        lambda i: sl.binary_cross_entropy(p[i], y[i], at(w, i), "none"),
        lambda i: sl.binary_cross_entropy_with_grad(p[i], y[i], at(w, i), "none"),
        lambda i: sl.binary_cross_entropy_backward(go[i], p[i], y[i], at(w, i), "none"),
        lambda i: sl.binary_cross_entropy_with_logits(x[i], y[i], at(w, i), at(pw, i), "none"),
        lambda i: sl.binary_cross_entropy_with_logits_with_grad(
            x[i], y[i], at(w, i), at(pw, i), "none"
        ),
        lambda i: sl.binary_cross_entropy_with_logits_backward(
            go[i], x[i], y[i], at(w, i), at(pw, i), "none"
        ),
    ]
    everything = slice(None)
    for call in calls:
        whole = _parts(call(everything))
        alone = [_parts(call(slice(i, i + 1))) for i in range(n)]
        for k, part in enumerate(whole):
            _bits_equal(part, np.concatenate([a[k] for a in alone]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_bce_with_logits_with_grad(dtype, reduction, weighted):
    x = RNG.normal(0, 4, (41, 7)).astype(dtype)
    y = RNG.uniform(0, 1, (41, 7)).astype(dtype)
    w = RNG.uniform(0.5, 2, 7).astype(dtype) if weighted else None
    pw = RNG.uniform(0.5, 3, 7).astype(dtype) if weighted else None
    loss, grad = sl.binary_cross_entropy_with_logits_with_grad(x, y, w, pw, reduction)
    _bits_equal(loss, sl.binary_cross_entropy_with_logits(x, y, w, pw, reduction))
    go = np.ones(x.shape, dtype) if reduction == "none" else 1.0
    _bits_equal(grad, sl.binary_cross_entropy_with_logits_backward(go, x, y, w, pw, reduction))
    assert_close(loss, ref.binary_cross_entropy_with_logits(x, y, w, pw, reduction), dtype)
    assert_close(
        grad, ref.binary_cross_entropy_with_logits_backward(go, x, y, w, pw, reduction), dtype
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize(("shape", "axis"), [((29, 40), None), ((3, 6, 5, 4), 1), ((2, 5, 33), -1)])
def test_cross_entropy_with_grad_equals_separate(dtype, reduction, smoothing, shape, axis):
    x = RNG.normal(0, 3, shape).astype(dtype)
    c_axis = 1 if axis is None else axis
    classes = shape[c_axis]
    t = RNG.integers(0, classes, np.delete(np.array(shape), c_axis % len(shape)))
    t.flat[::5] = -100
    loss, grad = sl.cross_entropy_with_grad(
        x, t, reduction=reduction, label_smoothing=smoothing, axis=axis
    )
    _bits_equal(
        loss, sl.cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing, axis=axis)
    )
    go = np.ones(t.shape, dtype) if reduction == "none" else 1.0
    sep = sl.cross_entropy_backward(
        go, x, t, reduction=reduction, label_smoothing=smoothing, axis=axis
    )
    _bits_equal(grad, sep)


def test_bce_with_grad_checks_the_range_first():
    x = np.array([0.5, 1.5])
    with pytest.raises(ValueError, match="input"):
        sl.binary_cross_entropy_with_grad(x, np.array([0.0, 1.0]))
