"""Where tiles beat row kernels: an A/B of two builds over short rows, one table per dtype.

    python benches/short_rows.py OLD/_native.abi3.so [--classes 2,4,...,31] [--elements 1600000]
        [--threads 1] [--dtypes float32,float64]

Contiguous rows with fewer classes than a kernel family's bound (``kernels::tiles::ShortRows``)
are computed as tiles, one row per vector lane; longer ones by the row kernels. To measure where
the two cross, build the extension twice, with every ``ShortRows { f32: .., f64: .. }`` in
``src/kernels`` set to 0 (row kernels only; copy the build aside as OLD) and to 32 (tiles up to
the buffers' capacity; the importable build), then run this script. It prints new/old time
ratios (median of 5 interleaved best-of-3 timings, as ``benches/ab_builds.py``) per function and
class count, on ``elements // classes`` rows: below 1, tiles are faster. The same command against
the build before a change of the bounds shows what the change did.
"""

import argparse
import importlib.util
import timeit

import numpy as np

import softloss as sl
from softloss import _native as new

FUNCTIONS = [
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "cross_entropy",
    "cross_entropy_with_grad",
]


def call(name, x, t, y):
    """The function's call on a module (upstream gradient x against the softmax output y)."""
    return {
        "softmax": lambda m: m.softmax(x, -1),
        "log_softmax": lambda m: m.log_softmax(x, -1),
        "softmax_backward": lambda m: m.softmax_backward(x, y, -1),
        "log_softmax_backward": lambda m: m.log_softmax_backward(x, np.log(y), -1),
        "cross_entropy": lambda m: m.cross_entropy(x, t, None, -100, "mean", 0.0, -1),
        "cross_entropy_with_grad": lambda m: m.cross_entropy_with_grad(
            x, t, None, -100, "mean", 0.0, -1
        )[1],
    }[name]


def ratio(f, old, n):
    ratios = []
    for _ in range(5):
        to = min(timeit.repeat(lambda: f(old), number=n, repeat=3))
        tn = min(timeit.repeat(lambda: f(new), number=n, repeat=3))
        ratios.append(tn / to)
    return sorted(ratios)[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("--classes", default="2,4,6,8,10,12,14,15,16,17,20,24,28,31,32")
    ap.add_argument("--elements", type=int, default=1_600_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtypes", default="float32,float64")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("old._native", args.old)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    sl.set_num_threads(args.threads)
    old.set_num_threads(args.threads)
    classes = [int(c) for c in args.classes.split(",")]
    rng = np.random.default_rng(0)
    for dt in args.dtypes.split(","):
        table = {f: [] for f in FUNCTIONS}
        for c in classes:
            rows = args.elements // c
            x = rng.standard_normal((rows, c)).astype(dt)
            t = rng.integers(0, c, rows)
            y = sl.softmax(rng.standard_normal((rows, c)).astype(dt))
            n = max(1, int(2e6 // x.size))
            for f in FUNCTIONS:
                table[f].append(ratio(call(f, x, t, y), old, n))
        print(f"\n{dt}: new/old time, {args.elements} elements, {args.threads} thread(s)")
        print(f"{'classes':24s}" + "".join(f"{c:6d}" for c in classes))
        for f, rs in table.items():
            print(f"{f:24s}" + "".join(f"{r:6.2f}" for r in rs))


if __name__ == "__main__":
    main()
