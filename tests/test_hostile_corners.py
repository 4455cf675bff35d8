"""Corners next to the hostile-input matrix (test_hostile.py) that must NOT raise: out= aliasing
any input, fully or partly (allowed by the spec, so no alias is an error), and calls at the edge of
each parameter's domain. Also the in-place softmax of an empty array (a bug found and fixed).
"""

import warnings

import numpy as np
import pytest
from conftest import assert_close, backward_gate_rows
from test_hostile import BINARY, CLASS, F16, FUNCTIONS, P, T, X, Y, good_call

import softloss as sl

# ----------------------------------------------------------------------------- out= aliasing

#: How `out` shares memory with the argument: all of it (the same bytes), or from a few elements on.
SHIFTS = {"same-start": 0, "overlapping-by-one": 1, "overlapping-rows": 3}


def sharing(a, out_shape, out_dtype, shift):
    """(a copy of `a`, `out`): views of one buffer, `out` starting `shift` 8-byte words later
    (`out` may have another shape and dtype than `a`: the target of a loss, say)."""
    out_dtype = np.dtype(out_dtype)
    out_bytes = int(np.prod(out_shape)) * out_dtype.itemsize
    buf = np.zeros(max(a.nbytes, 8 * shift + out_bytes) + 8 * shift, np.uint8)
    moved = buf[: a.nbytes].view(a.dtype).reshape(a.shape)
    moved[...] = a
    out = buf[8 * shift : 8 * shift + out_bytes].view(out_dtype).reshape(out_shape)
    return moved, out


def aliasing_calls():
    """(function, argument) for every array argument of every function with an array result."""
    for name in FUNCTIONS:
        kw = good_call(name)
        for which, v in kw.items():
            if isinstance(v, np.ndarray):
                yield name, which


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shift", sorted(SHIFTS))
@pytest.mark.parametrize(("name", "which"), list(aliasing_calls()))
def test_out_may_alias_any_input(name, which, shift, dtype):
    """out= may overlap any argument, fully or partly: the result is that of the call without
    out= (the kernels copy an overlapping argument before reading it). A loss forward writes its
    per-element losses (reduction="none"), the other functions their array or gradient."""
    kw = {
        k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
        for k, v in good_call(name).items()
    }
    if name in CLASS + BINARY:
        kw["reduction"] = "none"
    if name.endswith("_backward") and "reduction" in kw:
        kw["grad_output"] = np.asarray(kw["grad_output"], dtype)  # a 0-d array can alias too
    expected = getattr(sl, name)(**kw)
    grad = isinstance(expected, tuple)  # (loss, grad): out= takes the gradient
    want = expected[1] if grad else expected
    kw[which], out = sharing(kw[which], want.shape, want.dtype, SHIFTS[shift])
    got = getattr(sl, name)(**kw, out=out)
    assert (got[1] if grad else got) is out
    assert out.tobytes() == want.tobytes()
    if grad:
        assert np.asarray(got[0]).tobytes() == np.asarray(expected[0]).tobytes()


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_empty_in_place(name, shape):
    x = np.zeros(shape)
    assert getattr(sl, name)(x, axis=-1, out=x) is x


def misaligned(a):
    """A copy of `a` whose data starts one byte past an element boundary (NumPy's ALIGNED flag
    clear), in a writeable buffer."""
    raw = bytearray(a.nbytes + 1)
    m = np.frombuffer(raw, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned
    assert m.flags.c_contiguous
    return m


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_misaligned_inputs_give_the_aligned_results(name, dtype):
    """Arrays NumPy marks unaligned cannot be read in place: the bindings copy them (only
    C-contiguous, aligned arrays are borrowed as slices), so every float array argument may be
    misaligned and the results are those of aligned copies, bit for bit."""
    kw = {
        k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
        for k, v in good_call(name).items()
    }

    def parts(result):  # a result, or the (loss, grad) pair of a _with_grad call
        return [np.asarray(r) for r in (result if isinstance(result, tuple) else (result,))]

    expected = parts(getattr(sl, name)(**kw))
    for k, v in kw.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            got = parts(getattr(sl, name)(**{**kw, k: misaligned(v)}))
            assert [g.tobytes() for g in got] == [e.tobytes() for e in expected], (name, k)


# ----------------------------------------------------------------------------- fine corners

ACCEPTED = {
    "ignore_index-equal-to-C": lambda: sl.nll_loss(X, np.array([0, 3, 1, 3]), ignore_index=3),
    "ignore_index-a-valid-class": lambda: sl.cross_entropy(X, T, ignore_index=2),
    "ignore_index-numpy-int": lambda: sl.cross_entropy(X, T, ignore_index=np.int16(-100)),
    "ignore_index-int64-max": lambda: sl.nll_loss(X, T, ignore_index=2**63 - 1),
    "ignore_index-all-ignored": lambda: sl.cross_entropy_with_grad(X, np.full(4, -100)),
    "prob-target-negative-ignore_index": lambda: sl.cross_entropy(X, Y, ignore_index=-1),
    "zero-classes-all-ignored": lambda: sl.cross_entropy(X[:, :0], np.full(4, -100)),
    "empty-batch": lambda: sl.cross_entropy_with_grad(X[:0], T[:0], reduction="sum"),
    "label_smoothing-ends": lambda: sl.cross_entropy(X, T, label_smoothing=1.0),
    "label_smoothing-minus-zero": lambda: sl.cross_entropy(X, T, label_smoothing=-0.0),
    "label_smoothing-numpy-float32": lambda: sl.cross_entropy(
        X, T, label_smoothing=np.float32(0.5)
    ),
    "axis-numpy-int": lambda: sl.softmax(X, axis=np.int8(-1)),
    "bce-exact-0-and-1": lambda: sl.binary_cross_entropy_with_grad(np.eye(3), 1 - np.eye(3)),
    "bce-0-d-weight": lambda: sl.binary_cross_entropy(P, Y, weight=np.float64(2.0)),
    "bcel-inf-logits": lambda: sl.binary_cross_entropy_with_logits(
        np.array([np.inf, -np.inf]), np.array([1.0, 0.0])
    ),
    "bcel-targets-outside-01": lambda: sl.binary_cross_entropy_with_logits(X, Y * 3 - 1),
    "weight-int-dtype": lambda: sl.nll_loss(X, T, weight=np.array([1, 2, 3])),
    "target-uint8": lambda: sl.cross_entropy(X, T.astype(np.uint8)),
    "float16-everywhere": lambda: sl.softmax_backward(*(F16[k] for k in ("grad_output", "output"))),
    "float16-gradient-beyond-its-range": lambda: sl.binary_cross_entropy_backward(
        np.float16(1), np.zeros(3, np.float16), np.ones(3, np.float16)
    ),
    "float16-gradient-beyond-its-range-out": lambda: sl.binary_cross_entropy_backward(
        np.float16(1), np.zeros(3, np.float16), np.ones(3, np.float16), out=np.ones(3, np.float16)
    ),
}


@pytest.mark.parametrize("thunk", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_corner_cases(thunk):
    """Corners next to the matrix's errors that the spec allows: they return, without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thunk()


@pytest.mark.parametrize(("reduction", "expected"), [("sum", np.inf), ("mean", 3e38)])
def test_float32_reduction_overflow_is_silent(reduction, expected):
    """A float32 sum beyond float32's range rounds to inf without a RuntimeWarning (as "none"
    gives inf silently); the mean of the same losses is finite."""
    x = np.array([3e38, 3e38], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = sl.binary_cross_entropy_with_logits(x, np.zeros(2, np.float32), reduction=reduction)
    assert loss == np.float32(expected)


def test_float32_results_round_once_like_numpy():
    """A float32 loss is its float64 sum rounded once (`_native.finish`, every wrapper's last
    step): bit for bit `np.float32(v)`, including ties, subnormals, the edge of the range
    (rounding up to inf) and NaN, and always a NumPy float32 scalar; float64 sums become
    float64 scalars unchanged, and float16 ones round once through NumPy."""
    from softloss import _native

    rng = np.random.default_rng(7)
    f32_max = float(np.finfo(np.float32).max)
    edges = [0.0, -0.0, 1.5, 0.1, 1 / 3, np.inf, -np.inf, np.nan, 2.0**-149, 2.0**-150]
    edges += [2.0**-150 * 1.0000001, 1 + 2.0**-24, 1 + 3 * 2.0**-24, f32_max]
    edges += [f32_max * (1 + 2.0**-25), f32_max * (1 + 2.0**-24), 1e39, -1e39, 5e-324]
    values = edges + list(rng.standard_normal(20_000) * 10.0 ** rng.integers(-46, 39, 20_000))
    f16, f32, f64 = (np.dtype(t) for t in (np.float16, np.float32, np.float64))
    with np.errstate(over="ignore"):
        for v in values:
            for dtype in (f16, f32, f64):
                got, want = _native.finish(v, dtype), dtype.type(v)
                assert type(got) is dtype.type
                assert got.tobytes() == want.tobytes(), (v, dtype, got, want)
    half = np.array([0.1, 6e4, np.nan], np.float32)  # an array: kept, or converted
    assert _native.finish(half, f32) is half
    converted = _native.finish(half, f16)
    assert converted.dtype == f16
    assert converted.tobytes() == half.astype(f16).tobytes()
    x = rng.standard_normal((64, 10)).astype(np.float32)
    t = rng.integers(0, 10, 64)
    loss = sl.cross_entropy(x, t)
    assert type(loss) is np.float32
    total = _native.cross_entropy(x, t, None, -100, "mean", 0.0, None)
    assert type(total) is float
    assert loss.tobytes() == np.float32(total).tobytes()


# ----------------------------------------------------------------------------- backward gates


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_gate_rows_follow_the_formula(dtype):
    """The softmax backwards' rows with tiny, zero, negative, NaN and infinite values, and sums
    or differences that overflow (conftest.backward_gate_rows), give the formula's values: the
    row's sum of the dtype's products in float64, rounded once to the dtype, then the dtype's
    own arithmetic, as in the kernel (an intermediate that overflows the dtype is infinite).
    Every NaN is canonical."""
    canonical = np.array(np.nan, dtype).view(np.uint32 if dtype == np.float32 else np.uint64)
    for go, p, logp in backward_gate_rows(np.random.default_rng(7), dtype):
        with np.errstate(all="ignore"):
            s = np.sum((go * p).astype(np.float64), axis=-1, keepdims=True).astype(dtype)
            want_soft = p * (go - s)
            s = np.sum(go.astype(np.float64), axis=-1, keepdims=True).astype(dtype)
            want_log = go - np.exp(logp.astype(np.float64)).astype(dtype) * s
        for got, want in (
            (sl.softmax_backward(go, p), want_soft),
            (sl.log_softmax_backward(go, logp), want_log),
        ):
            assert_close(got, want, dtype)
            nan = np.isnan(got)
            assert (got[nan].view(canonical.dtype) == canonical).all()


@pytest.mark.parametrize("shape", [(4, 3), (4, 40), (4, 5000), (2, 3, 40), (2, 5, 3, 96)], ids=str)
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_non_finite_weight_of_an_unused_class_leaves_the_gradient_finite(shape, bad):
    """Without label smoothing only the targets' weights enter the loss and its gradient, as in
    PyTorch (nll_loss of log_softmax): an inf or NaN weight of a class that no target has once
    made every gradient NaN (0 * inf in the smoothing terms). Row, short-row and column routes;
    `w_t (p - onehot) / sum w_t` in float64."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    classes = shape[1]
    t = rng.integers(0, classes - 1, (shape[0], *shape[2:]))
    w = rng.uniform(0.5, 2.0, classes)
    w[-1] = bad
    loss, grad = sl.cross_entropy_with_grad(x, t, weight=w, axis=1)
    xc = np.moveaxis(x, 1, -1).reshape(-1, classes)
    tc = t.reshape(-1)
    p = np.exp(xc - xc.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    wt = w[tc]
    onehot = np.eye(classes)[tc]
    want = (wt[:, None] * (p - onehot) / wt.sum()).reshape((shape[0], *shape[2:], classes))
    assert np.isfinite(grad).all()
    assert_close(grad, np.moveaxis(want, -1, 1), np.float64)
    assert_close(loss, -(wt * np.log(p[np.arange(len(tc)), tc])).sum() / wt.sum(), np.float64)
    again = sl.cross_entropy_backward(1.0, x, t, weight=w, axis=1)
    assert np.array_equal(again, grad)
