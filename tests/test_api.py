"""The public API contract: names, parameter order, defaults and keyword-only markers."""

import inspect

import numpy as np
import pytest

import softloss
from softloss import nn

P, K = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
CLASS_LOSS = [("weight", P, None), ("ignore_index", P, -100), ("reduction", P, "mean")]
SMOOTH = [("label_smoothing", P, 0.0)]
AXIS_KW = [("axis", K, None)]
OUT_KW = [("out", K, None)]
NO_DEFAULT = inspect.Parameter.empty

SIGNATURES = {
    "softmax": [("input", P, NO_DEFAULT), ("axis", P, -1), ("out", K, None)],
    "log_softmax": [("input", P, NO_DEFAULT), ("axis", P, -1), ("out", K, None)],
    "softmax_backward": [
        ("grad_output", P, NO_DEFAULT),
        ("output", P, NO_DEFAULT),
        ("axis", P, -1),
        ("out", K, None),
    ],
    "log_softmax_backward": [
        ("grad_output", P, NO_DEFAULT),
        ("output", P, NO_DEFAULT),
        ("axis", P, -1),
        ("out", K, None),
    ],
    "nll_loss": [
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        *CLASS_LOSS,
        *AXIS_KW,
        *OUT_KW,
    ],
    "nll_loss_backward": [
        ("grad_output", P, NO_DEFAULT),
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        *CLASS_LOSS,
        *AXIS_KW,
        *OUT_KW,
    ],
    "cross_entropy": [
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        *CLASS_LOSS,
        *SMOOTH,
        *AXIS_KW,
        *OUT_KW,
    ],
    "cross_entropy_backward": [
        ("grad_output", P, NO_DEFAULT),
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        *CLASS_LOSS,
        *SMOOTH,
        *AXIS_KW,
        *OUT_KW,
    ],
    "cross_entropy_with_grad": [
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        *CLASS_LOSS,
        *SMOOTH,
        *AXIS_KW,
        *OUT_KW,
    ],
    "binary_cross_entropy": [
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        ("weight", P, None),
        ("reduction", P, "mean"),
        *OUT_KW,
    ],
    "binary_cross_entropy_backward": [
        ("grad_output", P, NO_DEFAULT),
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        ("weight", P, None),
        ("reduction", P, "mean"),
        *OUT_KW,
    ],
    "binary_cross_entropy_with_logits": [
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        ("weight", P, None),
        ("pos_weight", P, None),
        ("reduction", P, "mean"),
        *OUT_KW,
    ],
    "binary_cross_entropy_with_logits_backward": [
        ("grad_output", P, NO_DEFAULT),
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        ("weight", P, None),
        ("pos_weight", P, None),
        ("reduction", P, "mean"),
        *OUT_KW,
    ],
    "binary_cross_entropy_with_grad": [
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        ("weight", P, None),
        ("reduction", P, "mean"),
        *OUT_KW,
    ],
    "binary_cross_entropy_with_logits_with_grad": [
        ("input", P, NO_DEFAULT),
        ("target", P, NO_DEFAULT),
        ("weight", P, None),
        ("pos_weight", P, None),
        ("reduction", P, "mean"),
        *OUT_KW,
    ],
}
NN_SIGNATURES = {
    "Softmax": [("axis", P, -1)],
    "LogSoftmax": [("axis", P, -1)],
    "NLLLoss": [*CLASS_LOSS, *AXIS_KW],
    "CrossEntropyLoss": [*CLASS_LOSS, *SMOOTH, *AXIS_KW],
    "BCELoss": [("weight", P, None), ("reduction", P, "mean")],
    "BCEWithLogitsLoss": [("weight", P, None), ("pos_weight", P, None), ("reduction", P, "mean")],
}


def params(fn):
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self"
    ]


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_function_signature(name):
    assert params(getattr(softloss, name)) == SIGNATURES[name]
    assert name in softloss.__all__


@pytest.mark.parametrize("name", sorted(NN_SIGNATURES))
def test_module_signature(name):
    assert params(getattr(nn, name).__init__) == NN_SIGNATURES[name]
    assert params(getattr(nn, name).backward) == [("grad_output", P, 1.0)]


def test_version_and_thread_functions():
    assert isinstance(softloss.__version__, str)
    assert softloss.__version__[0].isdigit()
    assert isinstance(softloss.get_num_threads(), int)


def test_positional_arguments_follow_the_documented_order():
    x = np.random.default_rng(0).standard_normal((5, 3))
    t = np.array([0, 2, 1, 1, 2])
    w = np.array([1.0, 2.0, 0.5])
    np.testing.assert_array_equal(
        softloss.cross_entropy(x, t, w, 1, "sum", 0.1),
        softloss.cross_entropy(
            x, t, weight=w, ignore_index=1, reduction="sum", label_smoothing=0.1
        ),
    )
    p = softloss.softmax(x, 0)
    np.testing.assert_array_equal(p, softloss.softmax(x, axis=0))
    with pytest.raises(TypeError):
        softloss.nll_loss(x, t, w, -100, "mean", 1)  # axis is keyword-only
