"""Latency of small calls: every public function, with and without out=, beside the native call
under it and NumPy baselines.

    python benches/small_calls.py [--shapes 1x10 64x10] [--dtype float32] [--number 20000]

Best of 7 repeats of ``--number`` calls each, in microseconds per call, all in one process. The
"python" column is the public call less the native one: what the Python layer adds.
"""

import argparse
import timeit

import numpy as np

import softloss as sl
from softloss import _native


def per_call_us(f, n):
    return min(timeit.repeat(f, number=n, repeat=7)) / n * 1e6


def timed(f, n):
    """per_call_us, or NaN for a call this build does not have (out= on a loss before it had
    one), so that older builds can be timed by the same script."""
    try:
        f()
    except TypeError:
        return float("nan")
    return per_call_us(f, n)


def calls(x, dtype):
    """{name: (public call, public call with out=, native call)} for one (rows, classes) array."""
    rng = np.random.default_rng(0)
    rows, classes = x.shape
    t = rng.integers(0, classes, rows)
    p = rng.uniform(0.05, 0.95, x.shape).astype(dtype)
    y = rng.uniform(0, 1, x.shape).astype(dtype)
    sm, lsm = sl.softmax(x), sl.log_softmax(x)
    go, one = np.ones_like(x), np.asarray(1.0, dtype)
    out, lout = np.empty_like(x), np.empty(rows, dtype)
    ce = (None, -100, "mean", 0.0, None)
    return {
        "softmax": (
            lambda: sl.softmax(x),
            lambda: sl.softmax(x, out=out),
            lambda: _native.softmax(x, -1),
        ),
        "log_softmax": (
            lambda: sl.log_softmax(x),
            lambda: sl.log_softmax(x, out=out),
            lambda: _native.log_softmax(x, -1),
        ),
        "softmax_backward": (
            lambda: sl.softmax_backward(go, sm),
            lambda: sl.softmax_backward(go, sm, out=out),
            lambda: _native.softmax_backward(go, sm, -1),
        ),
        "log_softmax_backward": (
            lambda: sl.log_softmax_backward(go, lsm),
            lambda: sl.log_softmax_backward(go, lsm, out=out),
            lambda: _native.log_softmax_backward(go, lsm, -1),
        ),
        "nll_loss": (
            lambda: sl.nll_loss(lsm, t),
            lambda: sl.nll_loss(lsm, t, reduction="none", out=lout),
            lambda: _native.nll_loss(lsm, t, None, -100, "mean", None),
        ),
        "nll_loss_backward": (
            lambda: sl.nll_loss_backward(one, lsm, t),
            lambda: sl.nll_loss_backward(one, lsm, t, out=out),
            lambda: _native.nll_loss_backward(one, lsm, t, None, -100, "mean", None),
        ),
        "cross_entropy": (
            lambda: sl.cross_entropy(x, t),
            lambda: sl.cross_entropy(x, t, reduction="none", out=lout),
            lambda: _native.cross_entropy(x, t, *ce),
        ),
        "cross_entropy_backward": (
            lambda: sl.cross_entropy_backward(one, x, t),
            lambda: sl.cross_entropy_backward(one, x, t, out=out),
            lambda: _native.cross_entropy_backward(one, x, t, *ce),
        ),
        "cross_entropy_with_grad": (
            lambda: sl.cross_entropy_with_grad(x, t),
            lambda: sl.cross_entropy_with_grad(x, t, out=out),
            lambda: _native.cross_entropy_with_grad(x, t, *ce),
        ),
        "binary_cross_entropy": (
            lambda: sl.binary_cross_entropy(p, y),
            lambda: sl.binary_cross_entropy(p, y, reduction="none", out=out),
            lambda: _native.binary_cross_entropy(p, y, None, "mean"),
        ),
        "binary_cross_entropy_backward": (
            lambda: sl.binary_cross_entropy_backward(one, p, y),
            lambda: sl.binary_cross_entropy_backward(one, p, y, out=out),
            lambda: _native.binary_cross_entropy_backward(one, p, y, None, "mean"),
        ),
        "binary_cross_entropy_with_grad": (
            lambda: sl.binary_cross_entropy_with_grad(p, y),
            lambda: sl.binary_cross_entropy_with_grad(p, y, out=out),
            lambda: _native.binary_cross_entropy_with_grad(p, y, None, "mean"),
        ),
        "bce_with_logits": (
            lambda: sl.binary_cross_entropy_with_logits(x, y),
            lambda: sl.binary_cross_entropy_with_logits(x, y, reduction="none", out=out),
            lambda: _native.binary_cross_entropy_with_logits(x, y, None, None, "mean"),
        ),
        "bce_with_logits_backward": (
            lambda: sl.binary_cross_entropy_with_logits_backward(one, x, y),
            lambda: sl.binary_cross_entropy_with_logits_backward(one, x, y, out=out),
            lambda: _native.binary_cross_entropy_with_logits_backward(
                one, x, y, None, None, "mean"
            ),
        ),
        "bce_with_logits_with_grad": (
            lambda: sl.binary_cross_entropy_with_logits_with_grad(x, y),
            lambda: sl.binary_cross_entropy_with_logits_with_grad(x, y, out=out),
            lambda: _native.binary_cross_entropy_with_logits_with_grad(x, y, None, None, "mean"),
        ),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=["1x10", "64x10"])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--number", type=int, default=20_000)
    a = ap.parse_args()
    n = a.number
    for spec in a.shapes:
        shape = tuple(int(v) for v in spec.split("x"))
        x = np.random.default_rng(1).standard_normal(shape).astype(a.dtype)
        add = per_call_us(lambda x=x: np.add(x, x), n)
        print(
            f"{spec} {a.dtype}: np.add(x, x) {add:.3f} us, x.copy() {per_call_us(x.copy, n):.3f} us"
        )
        print(f"{'function':32s} {'public':>8s} {'out=':>8s} {'native':>8s} {'python':>8s}")
        for name, (public, with_out, native) in calls(x, a.dtype).items():
            pub, wo, nat = (timed(f, n) for f in (public, with_out, native))
            print(f"{name:32s} {pub:8.3f} {wo:8.3f} {nat:8.3f} {pub - nat:8.3f}")


if __name__ == "__main__":
    main()
