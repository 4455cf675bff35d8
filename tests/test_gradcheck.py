"""Central finite differences in float64: every backward is d(sum(go * f(x)))/dx of its forward."""

import numpy as np
import pytest

import softloss

REDUCTIONS = ["none", "mean", "sum"]
H = 1e-6


def numeric_grad(f, x, go):
    """Central differences of sum(go * f(x)) with respect to every element of x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += H
        xm[i] -= H
        g[i] = (np.sum(go * f(xp)) - np.sum(go * f(xm))) / (2 * H)
    return g


def check(f, backward, x, go):
    analytic = backward(go, x)
    assert analytic.shape == x.shape
    numeric = numeric_grad(f, x, go)
    assert np.abs(numeric).max() > 1e-3, "degenerate check: the gradient is zero"
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


def grad_output(rng, reduction, shape):
    if reduction == "none":
        return rng.uniform(-2, 2, shape)
    return float(rng.uniform(0.5, 2))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((3, 4), 1), ((3, 4), 0), ((2, 3, 4), 1), ((5,), 0), ((2, 3, 4), -1)],
    ids=str,
)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, shape, axis, rng):
    x = rng.standard_normal(shape) * 2
    go = rng.uniform(-2, 2, shape)
    fwd = getattr(softloss, name)
    bwd = getattr(softloss, name + "_backward")
    check(lambda z: fwd(z, axis=axis), lambda g, z: bwd(g, fwd(z, axis=axis), axis=axis), x, go)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["noweight", "weight"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((5, 4), None), ((2, 3, 3), None), ((2, 3, 4), -1), ((4,), None)], ids=str
)
def test_nll_loss(shape, axis, weighted, reduction, rng):
    x = rng.standard_normal(shape)
    ax = (1 if len(shape) > 1 else 0) if axis is None else axis % len(shape)
    tshape = shape[:ax] + shape[ax + 1 :]
    t = rng.integers(0, shape[ax], tshape)
    if t.ndim:
        t.flat[0] = -100
    w = rng.uniform(0.5, 2, shape[ax]) if weighted else None
    kw = dict(weight=w, reduction=reduction, axis=axis)
    go = grad_output(rng, reduction, tshape)
    check(
        lambda z: softloss.nll_loss(z, t, **kw),
        lambda g, z: softloss.nll_loss_backward(g, z, t, **kw),
        x,
        go,
    )


CE_SHAPES = [((5, 4), None), ((2, 3, 2, 2), None), ((2, 3, 5), -1), ((6,), None)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25], ids=["nosmooth", "smooth"])
@pytest.mark.parametrize("weighted", [False, True], ids=["noweight", "weight"])
@pytest.mark.parametrize(("shape", "axis"), CE_SHAPES, ids=str)
def test_cross_entropy_class_targets(shape, axis, weighted, smoothing, reduction, rng):
    x = rng.standard_normal(shape) * 2
    ax = (1 if len(shape) > 1 else 0) if axis is None else axis % len(shape)
    tshape = shape[:ax] + shape[ax + 1 :]
    t = rng.integers(0, shape[ax], tshape)
    if t.ndim:
        t.flat[-1] = -100
    w = rng.uniform(0.5, 2, shape[ax]) if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing, axis=axis)
    go = grad_output(rng, reduction, tshape)
    check(
        lambda z: softloss.cross_entropy(z, t, **kw),
        lambda g, z: softloss.cross_entropy_backward(g, z, t, **kw),
        x,
        go,
    )
    if reduction != "none":  # with_grad is the gradient for go = 1
        check(
            lambda z: softloss.cross_entropy(z, t, **kw),
            lambda g, z: softloss.cross_entropy_with_grad(z, t, **kw)[1],
            x,
            1.0,
        )
    else:
        ones = np.ones(tshape)
        check(
            lambda z: softloss.cross_entropy(z, t, **kw),
            lambda g, z: softloss.cross_entropy_with_grad(z, t, **kw)[1],
            x,
            ones,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25], ids=["nosmooth", "smooth"])
@pytest.mark.parametrize("weighted", [False, True], ids=["noweight", "weight"])
@pytest.mark.parametrize(("shape", "axis"), CE_SHAPES, ids=str)
def test_cross_entropy_probability_targets(shape, axis, weighted, smoothing, reduction, rng):
    x = rng.standard_normal(shape) * 2
    ax = (1 if len(shape) > 1 else 0) if axis is None else axis % len(shape)
    lshape = shape[:ax] + shape[ax + 1 :]
    y = np.moveaxis(rng.dirichlet(np.ones(shape[ax]), lshape), -1, ax)
    w = rng.uniform(0.5, 2, shape[ax]) if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing, axis=axis)
    go = grad_output(rng, reduction, lshape)
    check(
        lambda z: softloss.cross_entropy(z, y, **kw),
        lambda g, z: softloss.cross_entropy_backward(g, z, y, **kw),
        x,
        go,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wshape", [None, (4,), (3, 1), (3, 4)], ids=str)
def test_binary_cross_entropy_away_from_the_clamp(wshape, reduction, rng):
    x = rng.uniform(0.05, 0.95, (3, 4))
    y = rng.uniform(0, 1, (3, 4))
    y[0] = np.round(y[0])
    w = None if wshape is None else rng.uniform(0.5, 2, wshape)
    kw = dict(weight=w, reduction=reduction)
    go = grad_output(rng, reduction, x.shape)
    check(
        lambda z: softloss.binary_cross_entropy(z, y, **kw),
        lambda g, z: softloss.binary_cross_entropy_backward(g, z, y, **kw),
        x,
        go,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pshape", [None, (4,), (3, 4)], ids=str)
@pytest.mark.parametrize("wshape", [None, (4,), (3, 1)], ids=str)
def test_bce_with_logits(wshape, pshape, reduction, rng):
    x = rng.standard_normal((3, 4)) * 3
    y = rng.uniform(0, 1, (3, 4))
    y[0] = np.round(y[0])
    w = None if wshape is None else rng.uniform(0.5, 2, wshape)
    pw = None if pshape is None else rng.uniform(0.2, 4, pshape)
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    go = grad_output(rng, reduction, x.shape)
    check(
        lambda z: softloss.binary_cross_entropy_with_logits(z, y, **kw),
        lambda g, z: softloss.binary_cross_entropy_with_logits_backward(g, z, y, **kw),
        x,
        go,
    )
