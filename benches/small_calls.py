"""Latency of small calls: the public function, the native call under it, and NumPy baselines.

    python benches/small_calls.py

Best of 7 repeats of 20,000 calls each, in microseconds per call, all in one process.
"""

import timeit

import numpy as np

import softloss as sl
from softloss import _native


def per_call_us(f, n=20_000):
    return min(timeit.repeat(f, number=n, repeat=7)) / n * 1e6


def main():
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, 10)).astype(np.float32)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    t = rng.integers(0, 10, 64)
    rows = [
        ("np.add(x, x)  (1, 10)", lambda: np.add(x1, x1)),
        ("x.copy()      (1, 10)", lambda: x1.copy()),
        ("_native.softmax (1, 10)", lambda: _native.softmax(x1, -1)),
        ("softmax       (1, 10)", lambda: sl.softmax(x1)),
        ("softmax       (64, 10)", lambda: sl.softmax(x)),
        (
            "_native.cross_entropy (64, 10)",
            lambda: _native.cross_entropy(x, t, None, -100, "mean", 0.0, None),
        ),
        ("cross_entropy (64, 10)", lambda: sl.cross_entropy(x, t)),
        ("cross_entropy_with_grad (64, 10)", lambda: sl.cross_entropy_with_grad(x, t)),
    ]
    for name, f in rows:
        print(f"{name:34s} {per_call_us(f):7.3f} us")


if __name__ == "__main__":
    main()
