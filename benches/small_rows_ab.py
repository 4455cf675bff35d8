"""Latency of calls with few short rows: two builds side by side, interleaved, microseconds.

    python benches/small_rows_ab.py OLD/_native.abi3.so [MORE.so ...] [--dtype float64]
        [--only cross_entropy ...] [--rounds 9] [--number 10000]

The importable build first, then each file given, per call: the best of ``--rounds``
interleaved rounds of ``--number`` calls (float32 unless ``--dtype``). For the switches between
row kernels and tiles (``benches/short_rows.py`` covers many rows; this covers 1 to 64 of them).
"""

import argparse
import importlib.util
import timeit

import numpy as np

from softloss import _native

SHAPES = [(1, 10), (2, 10), (4, 10), (8, 10), (15, 10), (64, 10), (1, 20), (4, 20), (8, 27)]
SHAPES += [(3, 10), (1, 31), (4, 31), (15, 31), (64, 20)]


def load(path):
    spec = importlib.util.spec_from_file_location("old._native", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--only", nargs="+")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--number", type=int, default=10_000)
    a = ap.parse_args()
    mods = [_native] + [load(p) for p in a.builds]
    names = ["this build"] + [p.rsplit("/", 1)[-1] for p in a.builds]
    rng = np.random.default_rng(0)
    print(f"{a.dtype}{'':23s}" + "".join(f"{n:>14s}" for n in names))
    for shape in SHAPES:
        x = rng.standard_normal(shape).astype(a.dtype)
        t = rng.integers(0, shape[1], shape[0])
        calls = {
            "softmax": lambda m, x=x: m.softmax(x, -1),
            "log_softmax": lambda m, x=x: m.log_softmax(x, -1),
            "cross_entropy": lambda m, x=x, t=t: m.cross_entropy(
                x, t, None, -100, "mean", 0.0, None
            ),
            "cross_entropy_with_grad": lambda m, x=x, t=t: m.cross_entropy_with_grad(
                x, t, None, -100, "mean", 0.0, None
            ),
        }
        for name, call in calls.items():
            if a.only and name not in a.only:
                continue
            best = [float("inf")] * len(mods)
            for _ in range(a.rounds):
                for i, m in enumerate(mods):
                    us = timeit.timeit(lambda c=call, m=m: c(m), number=a.number) / a.number * 1e6
                    best[i] = min(best[i], us)
            print(f"{name:23s} {shape!s:7s}" + "".join(f"{b:14.3f}" for b in best))


if __name__ == "__main__":
    main()
