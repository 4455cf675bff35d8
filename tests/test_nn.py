"""softloss.nn module wrappers: same results as the functional API, and .backward()."""

import numpy as np
import pytest

import softloss
from softloss import nn

RNG = np.random.default_rng(5)
X = RNG.standard_normal((6, 4))
T = np.array([0, 3, 1, -100, 2, 3])
W = RNG.uniform(0.5, 2, 4)
P = RNG.uniform(0.05, 0.95, (6, 4))
Y = RNG.uniform(0, 1, (6, 4))
X3 = RNG.standard_normal((2, 5, 4))
T3 = RNG.integers(0, 4, (2, 5))


@pytest.mark.parametrize(("cls", "fn"), [(nn.Softmax, "softmax"), (nn.LogSoftmax, "log_softmax")])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_softmax_modules(cls, fn, axis):
    m = cls() if axis is None else cls(axis=axis)
    kw = {} if axis is None else {"axis": axis}
    out = m(X)
    want = getattr(softloss, fn)(X, **kw)
    np.testing.assert_array_equal(out, want)
    go = RNG.standard_normal(X.shape)
    np.testing.assert_array_equal(
        m.backward(go), getattr(softloss, fn + "_backward")(go, want, **kw)
    )
    ones = np.ones_like(X)
    np.testing.assert_array_equal(
        m.backward(1.0), getattr(softloss, fn + "_backward")(ones, want, **kw)
    )
    np.testing.assert_array_equal(m.backward(), m.backward(1.0))


LOSS_MODULES = [
    ("NLLLoss", "nll_loss", dict(weight=W, ignore_index=-100), (X, T)),
    ("NLLLoss-axis", "nll_loss", dict(axis=-1), (X3, T3)),
    ("CrossEntropyLoss", "cross_entropy", dict(weight=W, label_smoothing=0.1), (X, T)),
    (
        "CrossEntropyLoss-ignore",
        "cross_entropy",
        dict(ignore_index=3),
        (X, np.array([0, 3, 1, 3, 2, 1])),
    ),
    ("CrossEntropyLoss-axis", "cross_entropy", dict(axis=-1), (X3, T3)),
    (
        "CrossEntropyLoss-prob",
        "cross_entropy",
        dict(label_smoothing=0.2),
        (X, softloss.softmax(Y, axis=1)),
    ),
    ("BCELoss", "binary_cross_entropy", dict(weight=W), (P, Y)),
    (
        "BCEWithLogitsLoss",
        "binary_cross_entropy_with_logits",
        dict(weight=W[None, :], pos_weight=W[::-1].copy()),
        (X, Y),
    ),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("cls_name", "fn", "kw", "args"), LOSS_MODULES, ids=[m[0] for m in LOSS_MODULES]
)
def test_loss_modules(cls_name, fn, kw, args, reduction):
    cls = getattr(nn, cls_name.split("-")[0])
    m = cls(reduction=reduction, **kw)
    loss = m(*args)
    want = getattr(softloss, fn)(*args, reduction=reduction, **kw)
    np.testing.assert_array_equal(loss, want)
    assert type(loss) is type(want)
    go = 1.0 if reduction != "none" else np.ones(np.shape(want))
    want_grad = getattr(softloss, fn + "_backward")(go, *args, reduction=reduction, **kw)
    np.testing.assert_array_equal(m.backward(1.0), want_grad)
    np.testing.assert_array_equal(m.backward(), want_grad)
    go2 = 2.5 if reduction != "none" else RNG.standard_normal(np.shape(want))
    np.testing.assert_array_equal(
        m.backward(go2), getattr(softloss, fn + "_backward")(go2, *args, reduction=reduction, **kw)
    )


def test_backward_uses_the_last_call():
    m = nn.CrossEntropyLoss()
    m(X, T)
    m(X[:3] * 2, T[:3])
    np.testing.assert_array_equal(
        m.backward(), softloss.cross_entropy_backward(1.0, X[:3] * 2, T[:3])
    )


@pytest.mark.parametrize(
    "make",
    [nn.Softmax, nn.LogSoftmax, nn.NLLLoss, nn.CrossEntropyLoss, nn.BCELoss, nn.BCEWithLogitsLoss],
)
def test_backward_before_call_raises(make):
    with pytest.raises((RuntimeError, ValueError)):
        make().backward()


def test_module_constructor_validation():
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
