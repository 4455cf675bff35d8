"""Table-driven error behaviour: exception kind, a message naming the parameter, `out` untouched."""

import numpy as np
import pytest

import softloss as sl

X = np.random.default_rng(3).standard_normal((4, 3))
T = np.array([0, 1, 2, 0])
P = np.array([[0.1, 0.5, 0.9], [0.2, 0.3, 0.4]])
Y = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]])
X3 = np.zeros((2, 3, 4))
LOSSES = ["nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"]


def loss_args(name):
    return (X, T) if name in ("nll_loss", "cross_entropy") else (P, Y)


def bad(a, value, index=(0, 0)):
    a = a.copy()
    a[index] = value
    return a


# (id, thunk, exception, substring the message must contain or None)
ERRORS = [
    # ---- wrong kind of object or dtype -> TypeError
    ("softmax-None", lambda: sl.softmax(None), TypeError, None),
    ("softmax-str", lambda: sl.softmax("abc"), TypeError, None),
    ("softmax-dict", lambda: sl.softmax({"a": 1}), TypeError, None),
    ("softmax-complex", lambda: sl.softmax(np.array([1 + 2j, 3j])), TypeError, None),
    ("softmax-object", lambda: sl.softmax(np.array([1.0, 2.0], dtype=object)), TypeError, None),
    ("softmax-strarray", lambda: sl.softmax(np.array(["a", "b"])), TypeError, None),
    ("log_softmax-complex", lambda: sl.log_softmax(X.astype(complex)), TypeError, None),
    (
        "softmax_backward-complex",
        lambda: sl.softmax_backward(X.astype(complex), X),
        TypeError,
        None,
    ),
    ("nll-float-target", lambda: sl.nll_loss(X, T.astype(float)), TypeError, "target"),
    ("nll-str-target", lambda: sl.nll_loss(X, T.astype(str)), TypeError, "target"),
    ("nll-complex-input", lambda: sl.nll_loss(X.astype(complex), T), TypeError, None),
    (
        "nll_backward-float-target",
        lambda: sl.nll_loss_backward(1.0, X, T.astype(float)),
        TypeError,
        "target",
    ),
    ("ce-object-input", lambda: sl.cross_entropy(X.astype(object), T), TypeError, None),
    ("ce-complex-target", lambda: sl.cross_entropy(X, X.astype(complex)), TypeError, "target"),
    ("bce-complex", lambda: sl.binary_cross_entropy(P.astype(complex), Y), TypeError, None),
    (
        "bcel-str-target",
        lambda: sl.binary_cross_entropy_with_logits(P, Y.astype(str)),
        TypeError,
        "target",
    ),
    # ---- bad keyword values -> ValueError naming the keyword
    *[
        (
            f"{n}-reduction-{r}",
            lambda n=n, r=r: getattr(sl, n)(*loss_args(n), reduction=r),
            ValueError,
            "reduction",
        )
        for n in LOSSES
        for r in ("avg", "", "Mean")
    ],
    *[
        (
            f"{n}_backward-reduction",
            lambda n=n: getattr(sl, n + "_backward")(1.0, *loss_args(n), reduction="avg"),
            ValueError,
            "reduction",
        )
        for n in LOSSES
    ],
    *[
        (
            f"ce-label_smoothing-{e}",
            lambda e=e: sl.cross_entropy(X, T, label_smoothing=e),
            ValueError,
            "label_smoothing",
        )
        for e in (-0.1, 1.5, float("nan"))
    ],
    (
        "ce_backward-label_smoothing",
        lambda: sl.cross_entropy_backward(1.0, X, T, label_smoothing=1.5),
        ValueError,
        "label_smoothing",
    ),
    (
        "ce_with_grad-label_smoothing",
        lambda: sl.cross_entropy_with_grad(X, T, label_smoothing=-0.1),
        ValueError,
        "label_smoothing",
    ),
    (
        "ce-prob-target-ignore_index",
        lambda: sl.cross_entropy(X, sl.softmax(X), ignore_index=0),
        ValueError,
        "ignore_index",
    ),
    # ---- shapes -> ValueError
    ("nll-batch", lambda: sl.nll_loss(X, np.zeros(5, int)), ValueError, None),
    ("ce-batch", lambda: sl.cross_entropy(X, np.zeros(3, int)), ValueError, None),
    ("nll-spatial", lambda: sl.nll_loss(X3, np.zeros((2, 5), int)), ValueError, None),
    ("ce-spatial", lambda: sl.cross_entropy(X3, np.zeros((2, 3), int)), ValueError, None),
    ("ce-target-ndim", lambda: sl.cross_entropy(X, np.zeros((4, 1), int)), ValueError, None),
    ("ce-prob-target-shape", lambda: sl.cross_entropy(X, np.full((4, 2), 0.5)), ValueError, None),
    ("nll-weight-length", lambda: sl.nll_loss(X, T, weight=np.ones(4)), ValueError, "weight"),
    ("nll-weight-ndim", lambda: sl.nll_loss(X, T, weight=np.ones((1, 3))), ValueError, "weight"),
    ("ce-weight-length", lambda: sl.cross_entropy(X, T, weight=np.ones(2)), ValueError, "weight"),
    (
        "ce_backward-weight",
        lambda: sl.cross_entropy_backward(1.0, X, T, weight=np.ones(5)),
        ValueError,
        "weight",
    ),
    ("bce-shape", lambda: sl.binary_cross_entropy(P, Y[:, :2]), ValueError, None),
    ("bcel-shape", lambda: sl.binary_cross_entropy_with_logits(P, Y[:1]), ValueError, None),
    (
        "bce-weight-enlarges",
        lambda: sl.binary_cross_entropy(P[0], Y[0], weight=np.ones((2, 3))),
        ValueError,
        "weight",
    ),
    (
        "bce-weight-incompatible",
        lambda: sl.binary_cross_entropy(P, Y, weight=np.ones(2)),
        ValueError,
        "weight",
    ),
    (
        "bcel-weight-enlarges",
        lambda: sl.binary_cross_entropy_with_logits(P[0], Y[0], weight=np.ones((2, 3))),
        ValueError,
        "weight",
    ),
    (
        "bcel-pos_weight-enlarges",
        lambda: sl.binary_cross_entropy_with_logits(P, Y, pos_weight=np.ones((3, 3))),
        ValueError,
        "pos_weight",
    ),
    (
        "softmax_backward-shape",
        lambda: sl.softmax_backward(np.ones(3), sl.softmax(X)),
        ValueError,
        None,
    ),
    (
        "log_softmax_backward-shape",
        lambda: sl.log_softmax_backward(np.ones((3, 4)), sl.log_softmax(X)),
        ValueError,
        None,
    ),
    (
        "nll_backward-none-grad-shape",
        lambda: sl.nll_loss_backward(np.ones(3), X, T, reduction="none"),
        ValueError,
        None,
    ),
    (
        "ce_backward-mean-grad-array",
        lambda: sl.cross_entropy_backward(np.ones(4), X, T),
        ValueError,
        None,
    ),
    (
        "bce_backward-none-grad-shape",
        lambda: sl.binary_cross_entropy_backward(np.ones(3), P, Y, reduction="none"),
        ValueError,
        None,
    ),
    # ---- BCE values -> ValueError
    ("bce-input-above-1", lambda: sl.binary_cross_entropy(bad(P, 1.5), Y), ValueError, None),
    ("bce-input-below-0", lambda: sl.binary_cross_entropy(bad(P, -0.1), Y), ValueError, None),
    ("bce-input-nan", lambda: sl.binary_cross_entropy(bad(P, np.nan), Y), ValueError, None),
    ("bce-target-above-1", lambda: sl.binary_cross_entropy(P, bad(Y, 1.5)), ValueError, None),
    ("bce-target-nan", lambda: sl.binary_cross_entropy(P, bad(Y, np.nan)), ValueError, None),
    (
        "bce_backward-input-above-1",
        lambda: sl.binary_cross_entropy_backward(1.0, bad(P, 2.0), Y),
        ValueError,
        None,
    ),
    # ---- axis out of range -> ValueError (numpy.exceptions.AxisError is one)
    ("softmax-axis-2", lambda: sl.softmax(X, axis=2), ValueError, "axis"),
    ("softmax-axis--3", lambda: sl.softmax(X, axis=-3), ValueError, "axis"),
    ("log_softmax-axis-5", lambda: sl.log_softmax(X, axis=5), ValueError, "axis"),
    ("softmax_backward-axis", lambda: sl.softmax_backward(X, X, axis=2), ValueError, "axis"),
    ("nll-axis", lambda: sl.nll_loss(X, T, axis=2), ValueError, "axis"),
    ("ce-axis", lambda: sl.cross_entropy(X3, np.zeros((2, 3), int), axis=-4), ValueError, "axis"),
    # ---- targets out of range -> IndexError naming the value
    ("nll-target-7", lambda: sl.nll_loss(X, bad(T, 7, 1)), IndexError, "7"),
    ("nll-target--5", lambda: sl.nll_loss(X, bad(T, -5, 2)), IndexError, "-5"),
    ("nll-target-C", lambda: sl.nll_loss(X, np.array([0, 1, 3, 0])), IndexError, "3"),
    (
        "nll-target-uint8-200",
        lambda: sl.nll_loss(X, bad(T, 200, 0).astype(np.uint8)),
        IndexError,
        "200",
    ),
    ("nll_backward-target", lambda: sl.nll_loss_backward(1.0, X, bad(T, 9, 0)), IndexError, "9"),
    ("ce-target-17", lambda: sl.cross_entropy(X, bad(T, 17, 3)), IndexError, "17"),
    (
        "ce-none-target",
        lambda: sl.cross_entropy(X, bad(T, 17, 3), reduction="none"),
        IndexError,
        "17",
    ),
    (
        "ce_backward-target",
        lambda: sl.cross_entropy_backward(1.0, X, bad(T, -7, 0)),
        IndexError,
        "-7",
    ),
    ("ce_with_grad-target", lambda: sl.cross_entropy_with_grad(X, bad(T, 42, 0)), IndexError, "42"),
    ("ce-kdim-target", lambda: sl.cross_entropy(X3, np.full((2, 4), 3)), IndexError, "3"),
    (
        "ce-ignore-index-other",
        lambda: sl.cross_entropy(X, bad(T, -100, 0), ignore_index=1),
        IndexError,
        "-100",
    ),
]


@pytest.mark.parametrize(
    ("thunk", "exc", "needle"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_error(thunk, exc, needle):
    with pytest.raises(exc) as info:
        thunk()
    assert isinstance(info.value, Exception)
    if needle is not None:
        assert needle in str(info.value), f"message {str(info.value)!r} does not name {needle!r}"


def test_errors_are_ordinary_exceptions():
    """`except Exception` catches every one of them (a PanicException would escape)."""
    for name, thunk, _exc, _ in ERRORS:
        with pytest.raises(Exception) as info:
            thunk()
        assert info.type.__name__ != "PanicException", name


ODD_CALLS = [
    lambda: sl.nll_loss(X, np.full(4, np.iinfo(np.int64).max)),
    lambda: sl.nll_loss(X, np.full(4, np.iinfo(np.uint64).max, dtype=np.uint64)),
    lambda: sl.nll_loss(X, T, ignore_index=2**70),
    lambda: sl.softmax(X, axis=2**40),
    lambda: sl.softmax(X, axis=1.5),
    lambda: sl.cross_entropy(np.zeros((4, 0)), T),
    lambda: sl.cross_entropy(X, T, label_smoothing="a"),
    lambda: sl.cross_entropy(X, T, reduction=None),
    lambda: sl.binary_cross_entropy(P, Y, weight=np.zeros(0)),
    lambda: sl.binary_cross_entropy_with_logits(P, Y, pos_weight=np.array([])),
    lambda: sl.set_num_threads(-1),
    lambda: sl.set_num_threads(2**70),
    lambda: sl.softmax(X, out=np.empty((4, 3), dtype=np.int64)),
    lambda: sl.softmax(X, out=[0.0] * 12),
]


@pytest.mark.parametrize("i", range(len(ODD_CALLS)))
def test_odd_inputs_never_panic(i):
    try:
        ODD_CALLS[i]()
    except Exception:
        pass
    except BaseException as e:
        pytest.fail(f"{type(e).__name__} is not an Exception subclass: {e}")


def test_ignored_out_of_range_targets_are_fine():
    t = np.array([0, -100, 2, -100])
    assert np.isfinite(sl.nll_loss(X, t))
    assert np.isfinite(sl.cross_entropy(X, t))
    t7 = np.array([0, 7, 2, 7])
    assert np.isfinite(sl.nll_loss(X, t7, ignore_index=7))
    g = sl.cross_entropy_backward(1.0, X, t7, ignore_index=7)
    np.testing.assert_array_equal(g[[1, 3]], 0.0)


# ----------------------------------------------------------------------------- out=

OUT_CASES = [
    ("shape", lambda x: np.zeros((3, 4))),
    ("size", lambda x: np.zeros((4, 4))),
    ("dtype", lambda x: np.zeros(x.shape, np.float32)),
    ("readonly", lambda x: _readonly(np.zeros(x.shape))),
    ("fortran", lambda x: np.zeros(x.shape, order="F")),
    ("strided", lambda x: np.zeros((4, 6))[:, ::2]),
    ("reversed", lambda x: np.zeros(x.shape)[::-1]),
]


def _readonly(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("make_out", [c[1] for c in OUT_CASES], ids=[c[0] for c in OUT_CASES])
@pytest.mark.parametrize(
    "name", ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"]
)
def test_bad_out_is_rejected_and_untouched(name, make_out):
    out = make_out(X)
    if out.flags.writeable:
        out[...] = 7.0
    before = out.copy()
    args = (X,) if name in ("softmax", "log_softmax") else (X, sl.softmax(X))
    # A wrong dtype is a TypeError (SPEC: wrong kind of object or dtype); the rest ValueError.
    expected = TypeError if out.dtype != X.dtype else ValueError
    with pytest.raises(expected) as info:
        getattr(sl, name)(*args, axis=1, out=out)
    assert "out" in str(info.value)
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize(
    "thunk",
    [
        lambda out: sl.softmax(X, axis=2, out=out),
        lambda out: sl.log_softmax(X, axis=-3, out=out),
        lambda out: sl.softmax_backward(np.ones((4, 2)), X, out=out),
        lambda out: sl.softmax_backward(X.astype(complex), X, out=out),
        lambda out: sl.log_softmax_backward(X, X, axis=7, out=out),
    ],
    ids=["softmax-axis", "log_softmax-axis", "backward-shape", "backward-complex", "backward-axis"],
)
def test_out_untouched_when_another_argument_is_bad(thunk):
    out = np.full(X.shape, 7.0)
    with pytest.raises((ValueError, TypeError)):
        thunk(out)
    np.testing.assert_array_equal(out, 7.0)


@pytest.mark.parametrize("where", [0, 1, 16, 299_983, 299_999])
@pytest.mark.parametrize("which", ["input", "target"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_range_is_checked_in_the_kernel_pass(where: int, which: str, dtype: type) -> None:
    # The [0, 1] check runs inside the (multi-chunk, multi-thread) loss pass; the error still
    # names the first bad element, for every function and reduction.
    n = 300_000
    rng = np.random.default_rng(where)
    x = rng.uniform(0, 1, n).astype(dtype)
    y = rng.uniform(0, 1, n).astype(dtype)
    bad_value = {0: np.nan, 1: -0.5}.get(where, 1.5)
    (x if which == "input" else y)[where] = bad_value
    (x if which == "input" else y)[-1 if where != n - 1 else 0] = 7.0  # a later/earlier culprit
    first = min(where, n - 1 if where != n - 1 else 0)
    calls = [
        lambda: sl.binary_cross_entropy(x, y),
        lambda: sl.binary_cross_entropy(x, y, reduction="sum"),
        lambda: sl.binary_cross_entropy(x, y, reduction="none"),
        lambda: sl.binary_cross_entropy_backward(1.0, x, y),
        lambda: sl.binary_cross_entropy_backward(np.ones(n, dtype), x, y, reduction="none"),
        lambda: sl.binary_cross_entropy_with_grad(x, y),
        lambda: sl.binary_cross_entropy_with_grad(x, y, reduction="none"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=rf"every {which} value .* at flat index {first}\b"):
            call()


@pytest.mark.parametrize("where", [0, 1023, 1024, 49_999])
def test_long_class_targets_are_checked_before_anything_is_written(where: int) -> None:
    # 50,000 targets: the one-pass check runs with the GIL released; it must still name the
    # first bad target, and a valid batch's mean must divide by the (weighted) count it took.
    n, c = 50_000, 3
    rng = np.random.default_rng(where)
    x = rng.standard_normal((n, c))
    t = rng.integers(0, c, n)
    t[rng.integers(0, n, 500)] = -100
    w = np.array([0.5, 2.0, 4.0])
    bad_t = t.copy()
    bad_t[where] = c + where
    bad_t[where + 1 :] = np.where(bad_t[where + 1 :] == 0, -7, bad_t[where + 1 :])  # later ones
    for call in (sl.nll_loss, sl.cross_entropy, sl.cross_entropy_with_grad):
        with pytest.raises(IndexError, match=rf"target {c + where} is out of bounds"):
            call(x, bad_t)
    with pytest.raises(IndexError, match=rf"target {c + where} "):
        sl.nll_loss_backward(1.0, x, bad_t)
    kept = t != -100
    for weight, denominator in ((None, kept.sum()), (w, w[t[kept]].sum())):
        g = sl.nll_loss_backward(np.float64(2.0), x, t, weight=weight)
        expect = np.zeros_like(x)
        rows = np.flatnonzero(kept)
        expect[rows, t[rows]] = -2.0 * (1.0 if weight is None else w[t[rows]]) / denominator
        np.testing.assert_allclose(g, expect, rtol=1e-15, atol=0)
        _, ce_grad = sl.cross_entropy_with_grad(x, t, weight=weight)
        ce_back = sl.cross_entropy_backward(np.float64(1.0), x, t, weight=weight)
        np.testing.assert_array_equal(ce_grad, ce_back)
        p = np.exp(x - np.logaddexp.reduce(x, axis=1, keepdims=True))
        onehot = np.zeros_like(x)
        onehot[rows, t[rows]] = 1.0
        wr = np.ones(n) if weight is None else w[np.where(kept, t, 0)]
        expect = (p - onehot) * (wr * kept)[:, None] / denominator
        np.testing.assert_allclose(ce_grad, expect, rtol=1e-12, atol=1e-18)
