"""Random inputs of many shapes, axes and dtypes, compared with the NumPy reference."""

import numpy as np
import pytest
import reference as ref
from conftest import assert_close, assert_result
from hypothesis import given, settings
from hypothesis import strategies as st

import softloss

FLOATS = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]
SHAPES_AXES = [
    ((7,), -1),
    ((7,), 0),
    ((4, 9), -1),
    ((4, 9), 0),
    ((4, 9), -2),
    ((2, 3, 5), 1),
    ((2, 3, 5), -1),
    ((2, 3, 5), 0),
    ((2, 3, 4, 5), 2),
    ((2, 3, 4, 5), -3),
    ((2, 3, 4, 5), 3),
    ((6, 1), 1),
    ((1, 6), 0),
    ((3, 1537), -1),
    ((1537, 2), 0),
    ((1, 1), 0),
]
SM = [
    ("softmax", ref.softmax, ref.softmax_backward),
    ("log_softmax", ref.log_softmax, ref.log_softmax_backward),
]


def sl(name):
    return getattr(softloss, name)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# ----------------------------------------------------------------------------- softmax family


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES, ids=str)
@pytest.mark.parametrize(("name", "fwd", "bwd"), SM, ids=[s[0] for s in SM])
def test_softmax_family(name, fwd, bwd, shape, axis, dtype, rng):
    scale = 30.0 if shape[axis] > 1000 else 3.0
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    out = sl(name)(x, axis=axis)
    assert_result(out, fwd(x, axis), dtype)
    go = rng.uniform(-1, 1, shape).astype(dtype)
    assert_result(sl(name + "_backward")(go, out, axis=axis), bwd(go, out, axis), dtype)
    assert_result(sl(name)(x, axis), out, dtype)  # axis is also positional


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_default_axis_is_last(name, rng):
    x = rng.standard_normal((3, 4, 5))
    np.testing.assert_array_equal(sl(name)(x), sl(name)(x, axis=2))


@pytest.mark.parametrize(("shape", "axis"), [((5,), -1), ((4, 9), 0), ((2, 3, 40), -1)], ids=str)
@pytest.mark.parametrize(("name", "fwd", "bwd"), SM, ids=[s[0] for s in SM])
def test_float16_computed_in_float32_and_rounded_once(name, fwd, bwd, shape, axis, rng):
    x = (rng.standard_normal(shape) * 4).astype(np.float16)
    got = sl(name)(x, axis=axis)
    assert got.dtype == np.float16
    assert got.flags.c_contiguous
    via32 = sl(name)(x.astype(np.float32), axis=axis).astype(np.float16)
    np.testing.assert_array_equal(got, via32)
    np.testing.assert_allclose(got.astype(np.float64), fwd(x, axis), rtol=1e-3, atol=1e-7)
    go = rng.uniform(-1, 1, shape).astype(np.float16)
    g = sl(name + "_backward")(go, got, axis=axis)
    assert g.dtype == np.float16
    np.testing.assert_allclose(g.astype(np.float64), bwd(go, got, axis), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_integer_and_bool_input_give_float64(name, dtype, rng):
    x = rng.integers(0, 5, (3, 6)).astype(dtype)
    got = sl(name)(x, axis=1)
    assert got.dtype == np.float64
    assert_close(got, getattr(ref, name)(x.astype(np.float64), 1), np.float64)


def test_special_rows():
    x = np.array(
        [
            [1.0, np.inf, 0.0],
            [1.0, np.nan, 0.0],
            [-np.inf, -np.inf, -np.inf],
            [-np.inf, 0.0, 0.0],
            [1e300, -1e300, 0.0],
        ]
    )
    p, lp = softloss.softmax(x), softloss.log_softmax(x)
    assert np.isnan(p[:3]).all()
    assert np.isnan(lp[:3]).all()
    np.testing.assert_array_equal(p[3], [0.0, 0.5, 0.5])
    assert lp[3, 0] == -np.inf
    assert lp[3, 1] == pytest.approx(np.log(0.5), rel=1e-15)
    np.testing.assert_array_equal(p[4], [1.0, 0.0, 0.0])
    assert_close(lp[4], ref.log_softmax(x[4]), np.float64)


def test_log_softmax_keeps_precision_for_large_values():
    x = np.array([1e6, 1e6 + 1, 1e6 - 2])
    assert_close(softloss.log_softmax(x), ref.log_softmax(x), np.float64)
    assert_close(softloss.log_softmax(x), x - 1e6 - np.log(np.sum(np.exp(x - 1e6))), np.float64)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_zero_d_and_empty(name):
    got = sl(name)(np.float64(3.5))
    assert np.shape(got) == ()
    assert float(got) == (1.0 if name == "softmax" else 0.0)
    for shape, axis in [((0, 5), -1), ((3, 0), -1), ((0,), 0), ((2, 0, 3), 0)]:
        e = sl(name)(np.zeros(shape, np.float32), axis=axis)
        assert e.shape == shape
        assert e.dtype == np.float32


# ----------------------------------------------------------------------------- out=


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_out_and_in_place(name, dtype, rng):
    x = rng.standard_normal((5, 7)).astype(dtype)
    want = getattr(ref, name)(x, 0)
    out = np.full_like(x, 123.0)
    assert sl(name)(x, axis=0, out=out) is out
    assert_close(out, want, dtype)
    y = x.copy()
    assert sl(name)(y, axis=0, out=y) is y
    assert_close(y, want, dtype)
    go = rng.standard_normal(x.shape).astype(dtype)
    bwd = getattr(ref, name + "_backward")(go, out, 0)
    gout = np.empty_like(x)
    assert sl(name + "_backward")(go, out, axis=0, out=gout) is gout
    assert_close(gout, bwd, dtype)
    for alias in ("grad", "output"):
        g2, o2 = go.copy(), out.copy()
        target = g2 if alias == "grad" else o2
        assert sl(name + "_backward")(g2, o2, axis=0, out=target) is target
        assert_close(target, bwd, dtype)


def test_result_is_new_c_contiguous_array(rng):
    x = np.asfortranarray(rng.standard_normal((6, 5)))
    p = softloss.softmax(x, axis=0)
    assert p.flags.c_contiguous
    assert not np.shares_memory(p, x)
    assert_close(p, ref.softmax(x, 0), np.float64)


# ----------------------------------------------------------------------------- class losses


def class_case(rng, shape, axis, dtype, n_ignored=2, ignore_index=-100):
    x = rng.standard_normal(shape).astype(dtype)
    ax = ref._class_axis(x, axis)
    C = shape[ax]
    tshape = shape[:ax] + shape[ax + 1 :]
    t = rng.integers(0, C, tshape)
    if t.ndim and n_ignored:
        t.flat[rng.choice(t.size, min(n_ignored, t.size - 1), replace=False)] = ignore_index
    w = rng.uniform(0.2, 2.0, C).astype(dtype)
    return x, t, w


LOSS_SHAPES = [
    ((9, 5), None),
    ((6,), None),
    ((2, 4, 3, 5), None),
    ((3, 4, 11), -1),
    ((3, 4, 11), 2),
    ((4, 6, 3), 1),
    ((5, 1), None),
    # 288 columns per class: whole groups of column tiles (kernels/cross_entropy_columns.rs)
    # and a partial group after them, in both dtypes.
    ((2, 5, 3, 96), None),
]


def check_loss(name, args, kwargs, dtype, go_rng):
    want = getattr(ref, name)(*args, **kwargs)
    got = sl(name)(*args, **kwargs)
    assert_result(got, want, dtype, scalar=kwargs.get("reduction", "mean") != "none")
    go = go_rng.standard_normal(np.shape(want)).astype(dtype)
    go = go if kwargs.get("reduction", "mean") == "none" else go[()]
    gwant = getattr(ref, name + "_backward")(go, *args, **kwargs)
    assert_result(sl(name + "_backward")(go, *args, **kwargs), gwant, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["noweight", "weight"])
@pytest.mark.parametrize(("shape", "axis"), LOSS_SHAPES, ids=str)
def test_nll_loss(shape, axis, weighted, reduction, dtype, rng):
    x, t, w = class_case(rng, shape, axis, dtype)
    kw = dict(weight=w if weighted else None, reduction=reduction, axis=axis)
    check_loss("nll_loss", (x, t), kw, dtype, rng)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("weighted", [False, True], ids=["noweight", "weight"])
@pytest.mark.parametrize(("shape", "axis"), LOSS_SHAPES, ids=str)
def test_cross_entropy_class_targets(shape, axis, weighted, smoothing, reduction, dtype, rng):
    x, t, w = class_case(rng, shape, axis, dtype)
    kw = dict(
        weight=w if weighted else None, reduction=reduction, label_smoothing=smoothing, axis=axis
    )
    check_loss("cross_entropy", (x, t), kw, dtype, rng)
    loss, grad = softloss.cross_entropy_with_grad(x, t, **kw)
    want_loss, want_grad = ref.cross_entropy_with_grad(x, t, **kw)
    assert_result(loss, want_loss, dtype, scalar=reduction != "none")
    assert_result(grad, want_grad, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize(("shape", "axis"), LOSS_SHAPES, ids=str)
def test_cross_entropy_probability_targets(shape, axis, smoothing, reduction, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    ax = ref._class_axis(x, axis)
    y = np.moveaxis(rng.dirichlet(np.ones(shape[ax]), shape[:ax] + shape[ax + 1 :]), -1, ax)
    y = y.astype(dtype)
    w = rng.uniform(0.5, 1.5, shape[ax]).astype(dtype)
    for weight in (None, w):
        kw = dict(weight=weight, reduction=reduction, label_smoothing=smoothing, axis=axis)
        check_loss("cross_entropy", (x, y), kw, dtype, rng)
        loss, grad = softloss.cross_entropy_with_grad(x, y, **kw)
        want_loss, want_grad = ref.cross_entropy_with_grad(x, y, **kw)
        assert_result(loss, want_loss, dtype, scalar=reduction != "none")
        assert_result(grad, want_grad, dtype)


def test_batch_time_vocab_axis_minus_one_equals_moved_axis(rng):
    x, t, w = class_case(rng, (3, 5, 17), -1, np.float64)
    for name in ("nll_loss", "cross_entropy"):
        a = sl(name)(x, t, weight=w, axis=-1, reduction="none")
        b = sl(name)(np.moveaxis(x, -1, 1), t, weight=w, reduction="none")
        assert a.shape == t.shape
        assert_close(a, b, np.float64)


INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("tdtype", INT_DTYPES)
def test_any_integer_target_dtype(tdtype, rng):
    x = rng.standard_normal((8, 5))
    t = rng.integers(0, 5, 8)
    for name in ("nll_loss", "cross_entropy"):
        for reduction in REDUCTIONS:
            want = sl(name)(x, t, reduction=reduction)
            got = sl(name)(x, t.astype(tdtype), reduction=reduction)
            np.testing.assert_array_equal(got, want)
            assert_close(got, getattr(ref, name)(x, t, reduction=reduction), np.float64)
            g = sl(name + "_backward")(np.ones_like(want), x, t.astype(tdtype), reduction=reduction)
            assert_close(
                g,
                getattr(ref, name + "_backward")(np.ones_like(want), x, t, reduction=reduction),
                np.float64,
            )
    if np.issubdtype(tdtype, np.signedinteger):
        t2 = t.copy()
        t2[[1, 4]] = -100
        assert_close(softloss.nll_loss(x, t2.astype(tdtype)), ref.nll_loss(x, t2), np.float64)


def test_ignore_index_may_be_a_valid_class_or_out_of_range(rng):
    x = rng.standard_normal((6, 4))
    t = np.array([0, 3, 3, 1, 2, 3])
    assert_close(
        softloss.cross_entropy(x, t, ignore_index=3),
        ref.cross_entropy(x, t, ignore_index=3),
        np.float64,
    )
    t[2] = 99
    assert_close(
        softloss.nll_loss(x, t, ignore_index=99), ref.nll_loss(x, t, ignore_index=99), np.float64
    )


def test_empty_and_all_ignored(rng):
    for name in ("nll_loss", "cross_entropy"):
        x = np.zeros((0, 3))
        t = np.zeros((0,), np.int64)
        assert sl(name)(x, t, reduction="none").shape == (0,)
        assert sl(name)(x, t, reduction="sum") == 0.0
        assert np.isnan(sl(name)(x, t, reduction="mean"))
        x = rng.standard_normal((4, 3))
        t = np.full(4, -100)
        assert np.isnan(sl(name)(x, t))
        assert sl(name)(x, t, reduction="sum") == 0.0
        g = sl(name + "_backward")(1.0, x, t)
        np.testing.assert_array_equal(g, np.zeros((4, 3)))
    loss, g = softloss.cross_entropy_with_grad(x, t, label_smoothing=0.2, weight=np.ones(3))
    assert np.isnan(loss)
    np.testing.assert_array_equal(g, np.zeros((4, 3)))


@pytest.mark.parametrize(
    "go",
    [2.5, np.float64(2.5), np.array(2.5), np.float32(2.5)],
    ids=["float", "npf64", "0d", "npf32"],
)
def test_scalar_grad_output_forms(go, rng):
    x, t, _ = class_case(rng, (5, 4), None, np.float64)
    want = ref.cross_entropy_backward(2.5, x, t)
    assert_close(softloss.cross_entropy_backward(go, x, t), want, np.float64)
    assert_close(
        softloss.nll_loss_backward(go, x, t, reduction="sum"),
        ref.nll_loss_backward(2.5, x, t, reduction="sum"),
        np.float64,
    )


# ----------------------------------------------------------------------------- binary losses

BCE_WEIGHT_SHAPES = [None, (5,), (1, 5), (6, 1), (6, 5), ()]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wshape", BCE_WEIGHT_SHAPES, ids=str)
def test_binary_cross_entropy(wshape, reduction, dtype, rng):
    x = rng.uniform(0.001, 0.999, (6, 5)).astype(dtype)
    y = rng.uniform(0, 1, (6, 5)).astype(dtype)
    y[0] = y[0] > 0.5
    x[1, :2] = [0.0, 1.0]
    w = None if wshape is None else rng.uniform(0.1, 2, wshape).astype(dtype)
    check_loss("binary_cross_entropy", (x, y), dict(weight=w, reduction=reduction), dtype, rng)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pshape", [None, (5,), (1, 5), (6, 5)], ids=str)
@pytest.mark.parametrize("wshape", [None, (5,), (6, 1)], ids=str)
def test_bce_with_logits(wshape, pshape, reduction, dtype, rng):
    x = (rng.standard_normal((6, 5)) * 5).astype(dtype)
    x[0, :3] = [40.0, -40.0, 0.0]
    y = rng.uniform(0, 1, (6, 5)).astype(dtype)
    y[1] = y[1] > 0.5
    w = None if wshape is None else rng.uniform(0.1, 2, wshape).astype(dtype)
    pw = None if pshape is None else rng.uniform(0.1, 4, pshape).astype(dtype)
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    check_loss("binary_cross_entropy_with_logits", (x, y), kw, dtype, rng)


def test_bce_with_logits_infinite_logits_give_the_limit():
    x = np.array([np.inf, -np.inf, np.inf, -np.inf])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    got = softloss.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_array_equal(got, [0.0, 0.0, np.inf, np.inf])
    g = softloss.binary_cross_entropy_with_logits_backward(np.ones(4), x, y, reduction="none")
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, -1.0])


def test_bce_clamp_and_empty():
    got = softloss.binary_cross_entropy(
        np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]), reduction="none"
    )
    np.testing.assert_array_equal(got, [100.0, 100.0, 0.0])
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        e = np.zeros((0, 4))
        assert sl(name)(e, e, reduction="none").shape == (0, 4)
        assert sl(name)(e, e, reduction="sum") == 0.0
        assert np.isnan(sl(name)(e, e, reduction="mean"))


# ----------------------------------------------------------------------------- dtype / accumulation


@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy_with_logits"])
def test_loss_float16_input(name, rng):
    x = rng.standard_normal((16, 6)).astype(np.float16)
    t = (
        rng.integers(0, 6, 16)
        if name == "cross_entropy"
        else rng.uniform(0, 1, (16, 6)).astype(np.float16)
    )
    got = sl(name)(x, t)
    assert isinstance(got, np.float16)
    assert float(got) == pytest.approx(float(getattr(ref, name)(x, t)), rel=2e-3)
    none = sl(name)(x, t, reduction="none")
    assert none.dtype == np.float16


def test_float32_mean_accumulates_in_float64(rng):
    x = rng.uniform(0.01, 0.99, 2_000_000).astype(np.float32)
    y = rng.uniform(0, 1, x.shape).astype(np.float32)
    for reduction in ("mean", "sum"):
        got = softloss.binary_cross_entropy(x, y, reduction=reduction)
        assert isinstance(got, np.float32)
        assert_close(got, ref.binary_cross_entropy(x, y, reduction=reduction), np.float32)


def test_float16_out_and_layouts(rng):
    x = np.asfortranarray(rng.standard_normal((6, 5)).astype(np.float16))
    out = np.zeros((6, 5), np.float16)
    assert softloss.softmax(x, axis=0, out=out) is out
    np.testing.assert_array_equal(out, softloss.softmax(np.ascontiguousarray(x), axis=0))
    y = x.copy(order="C")
    assert softloss.log_softmax(y, axis=1, out=y) is y
    np.testing.assert_array_equal(y, softloss.log_softmax(x, axis=1))


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_random_shapes_hypothesis(data):
    ndim = data.draw(st.integers(1, 4), label="ndim")
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    axis = data.draw(st.integers(-ndim, ndim - 1), label="axis")
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    r = np.random.default_rng(seed)
    x = (r.standard_normal(shape) * r.uniform(0.1, 20)).astype(dtype)
    for name in ("softmax", "log_softmax"):
        assert_result(sl(name)(x, axis=axis), getattr(ref, name)(x, axis), dtype)
    C = shape[axis]
    t = r.integers(0, C, shape[: axis % ndim] + shape[axis % ndim + 1 :])
    eps = data.draw(st.sampled_from([0.0, 0.1]), label="label_smoothing")
    for reduction in REDUCTIONS:
        kw = dict(reduction=reduction, label_smoothing=eps, axis=axis)
        loss, grad = softloss.cross_entropy_with_grad(x, t, **kw)
        want_loss, want_grad = ref.cross_entropy_with_grad(x, t, **kw)
        assert_result(loss, want_loss, dtype, scalar=reduction != "none")
        assert_result(grad, want_grad, dtype)
