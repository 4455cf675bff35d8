"""out= on the losses: the gradient of every backward and _with_grad function, and the per-element
losses of a loss forward (reduction="none" only). A result written into ``out`` has the bits of
the new array the same call returns without it, on every layout, size (one thread or several)
and dtype; a failing call leaves ``out`` untouched. Aliasing (``out`` overlapping an argument) is
covered for every function by test_hostile_corners.py, bad ``out`` arrays by test_hostile.py.
"""

import numpy as np
import pytest

import softloss as sl

CLASS = ("nll_loss", "cross_entropy")
BINARY = ("binary_cross_entropy", "binary_cross_entropy_with_logits")
NAMES = [
    *(
        b + v
        for b in CLASS
        for v in ("", "_backward", "_with_grad")
        if b + v != "nll_loss_with_grad"
    ),
    *(b + v for b in BINARY for v in ("", "_backward", "_with_grad")),
]
#: (shape, class axis): one row, a few rows, many rows (several threads), a segmentation map.
SHAPES = [((7,), 0), ((5, 3), 1), ((3000, 100), 1), ((2, 5, 40, 40), 1)]


def call_args(name, shape, axis, dtype, rng, reduction):
    """Keyword arguments of a valid call of ``softloss.<name>``."""
    base = name.removesuffix("_backward").removesuffix("_with_grad")
    if base in CLASS:
        x = rng.standard_normal(shape).astype(dtype)
        if base == "nll_loss":
            x = sl.log_softmax(x, axis=axis)
        tshape = shape[:axis] + shape[axis + 1 :]
        t = rng.integers(0, shape[axis], tshape)
        if t.ndim:
            t.flat[::7] = -100  # some ignored targets: their gradient rows are zero
        kw = {"input": x, "target": t, "reduction": reduction, "axis": axis}
        kw["weight"] = rng.uniform(0.5, 2, shape[axis]).astype(dtype)
        if base == "cross_entropy":
            kw["label_smoothing"] = 0.1
        loss_shape = tshape
    else:
        lo = 0.0 if base == "binary_cross_entropy" else -3.0
        x = rng.uniform(lo, 1, shape).astype(dtype)
        y = rng.uniform(0, 1, shape).astype(dtype)
        kw = {"input": x, "target": y, "reduction": reduction}
        if "logits" in base:
            kw["pos_weight"] = rng.uniform(0.5, 2, shape[-1]).astype(dtype)
        loss_shape = shape
    if name.endswith("_backward"):
        go = rng.standard_normal(loss_shape) if reduction == "none" else 0.75
        kw["grad_output"] = np.asarray(go, dtype)
    return kw


def result_parts(result):
    return [np.asarray(r) for r in (result if isinstance(result, tuple) else (result,))]


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(("shape", "axis"), SHAPES, ids=[str(s[0]) for s in SHAPES])
@pytest.mark.parametrize("name", NAMES)
def test_out_holds_the_bits_of_the_new_array(name, shape, axis, dtype, layout, rng):
    reduction = "none" if name in CLASS + BINARY else "mean"
    kw = call_args(name, shape, axis, dtype, rng, reduction)
    if layout == "F":
        kw = {k: np.asfortranarray(v) if np.ndim(v) > 1 else v for k, v in kw.items()}
    expected = result_parts(getattr(sl, name)(**kw))
    array = expected[-1]  # the gradient of a _with_grad call, else the one result
    out = np.full(array.shape, 7.25, array.dtype)
    got = getattr(sl, name)(**kw, out=out)
    parts = result_parts(got)
    assert (got[1] if isinstance(got, tuple) else got) is out
    assert out.flags.c_contiguous
    assert [p.tobytes() for p in parts] == [e.tobytes() for e in expected]
    assert [p.dtype for p in parts] == [np.dtype(dtype)] * len(parts)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", ["cross_entropy_with_grad", "binary_cross_entropy_with_grad"])
def test_with_grad_out_takes_the_gradient_for_every_reduction(name, reduction, rng):
    """The loss of a _with_grad call is returned as without out= (an array for none, a scalar
    otherwise); out= receives the gradient."""
    kw = call_args(name, (6, 4), 1, np.float32, rng, reduction)
    loss, grad = getattr(sl, name)(**kw)
    out = np.empty_like(grad)
    got_loss, got_grad = getattr(sl, name)(**kw, out=out)
    assert got_grad is out
    np.testing.assert_array_equal(out, grad)
    assert type(got_loss) is type(loss)
    assert np.asarray(got_loss).tobytes() == np.asarray(loss).tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", [*CLASS, *BINARY])
def test_loss_out_needs_reduction_none(name, reduction, dtype, rng):
    """A mean or sum is a scalar: out= is refused, whatever the dtype, and left as it was."""
    kw = call_args(name, (5, 3), 1, dtype, rng, reduction)
    out = np.full(5 if name in CLASS else (5, 3), 7.25, dtype)
    with pytest.raises(ValueError, match=f"out= .*reduction='none'.*'{reduction}'"):
        getattr(sl, name)(**kw, out=out)
    assert (out == 7.25).all()


BCE_CALLS = {
    "loss": lambda x, y, out: sl.binary_cross_entropy(x, y, reduction="none", out=out),
    "backward": lambda x, y, out: sl.binary_cross_entropy_backward(1.0, x, y, out=out),
    "with_grad": lambda x, y, out: sl.binary_cross_entropy_with_grad(x, y, out=out),
}


@pytest.mark.parametrize("where", [0, 299_999])
@pytest.mark.parametrize("call", sorted(BCE_CALLS))
def test_bce_range_error_leaves_out_untouched(call, where, rng):
    """Without out= the [0, 1] check runs inside the kernel's pass and a violation drops the new
    result; with it the check runs first, so a bad value anywhere (here first or last, in a call
    big enough for several threads) leaves out as it was."""
    x = rng.uniform(0, 1, 300_000)
    y = rng.uniform(0, 1, 300_000)
    x[where] = 1.5
    out = np.full_like(x, 7.25)
    with pytest.raises(ValueError, match=f"flat index {where}"):
        BCE_CALLS[call](x, y, out)
    assert (out == 7.25).all()


@pytest.mark.parametrize("name", ["nll_loss_backward", "cross_entropy_backward"])
def test_out_untouched_on_a_bad_target(name, rng):
    kw = call_args(name, (3000, 100), 1, np.float64, rng, "mean")
    kw["target"][-1] = 100  # beyond the last class, found after the first chunks are valid
    out = np.full(kw["input"].shape, 7.25)
    with pytest.raises(IndexError, match="target 100"):
        getattr(sl, name)(**kw, out=out)
    assert (out == 7.25).all()


def test_in_place_gradient_over_the_logits(rng):
    """The memory-saving use: the logits overwritten by their gradient, as the call without out=
    would have returned it."""
    x = rng.standard_normal((512, 1000)).astype(np.float32)
    t = rng.integers(0, 1000, 512)
    loss, grad = sl.cross_entropy_with_grad(x, t)
    got_loss, got_grad = sl.cross_entropy_with_grad(x, t, out=x)
    assert got_grad is x
    assert x.tobytes() == grad.tobytes()
    assert got_loss == loss


BACKWARDS = [n for n in NAMES if n.endswith("_backward")]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", BACKWARDS)
def test_python_float_grad_output_is_rounded_like_an_array(name, reduction, dtype, rng):
    """The kernels take a Python float grad_output without an array for it (the fast path of
    small calls); it is rounded to the input's dtype first, as converting it would be: 1/3 gives
    the bits of np.asarray(1/3, dtype) (float16 inputs compute in float32)."""
    kw = call_args(name, (6, 4), 1, dtype, rng, reduction)
    compute = np.float32 if dtype == np.float16 else dtype
    from_float = getattr(sl, name)(**{**kw, "grad_output": 1 / 3})
    from_array = getattr(sl, name)(**{**kw, "grad_output": np.asarray(1 / 3, compute)})
    assert from_float.tobytes() == from_array.tobytes()


@pytest.mark.parametrize("name", BACKWARDS)
def test_python_float_grad_output_for_none(name, rng):
    """With reduction="none" a Python float is a 0-d grad_output: right for a loss of shape ()
    (1-D input of a class loss), a shape error naming grad_output otherwise."""
    kw = call_args(name, (5, 3), 1, np.float64, rng, "none")
    with pytest.raises(ValueError, match=r"grad_output shape \(\) does not match"):
        getattr(sl, name)(**{**kw, "grad_output": 2.0})
    if name.startswith(CLASS):
        kw1 = call_args(name, (7,), 0, np.float64, rng, "none")
        got = getattr(sl, name)(**{**kw1, "grad_output": 2.0})
        want = getattr(sl, name)(**{**kw1, "grad_output": np.asarray(2.0)})
        assert got.tobytes() == want.tobytes()
