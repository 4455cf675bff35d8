"""Time per row of short rows as tiles: contiguous rows (transposed on the fly) against the same
rows laid out as columns of a non-last class axis (no transposes), one thread, cache-resident.

    python benches/row_costs.py [--classes 2 10 20 31] [--rows 4096] [--dtypes float32 float64]
                                [--rounds 7]

Both layouts compute each row as one tile lane, with the same arithmetic; contiguous rows are
first copied class-major into a tile buffer and their outputs copied back (``kernels::tiles``,
the paths' register transposes), columns are loaded as they lie. The difference between the two
is what the transposes and their buffers cost per row. The cost at 2 classes is mostly what a
row costs whatever its length (the per-lane loss, gradient factors and target lookup). Each cell
is the median over ``--rounds`` interleaved rounds of the best of 3 batches, in ns per row.
"""

import argparse
import statistics
import timeit

import numpy as np

import softloss as sl


def layouts(x, t):
    """{function: (call on the contiguous rows, call on the same rows as columns)}."""
    cols, tc = np.ascontiguousarray(x.T)[None], t[None]
    return {
        "softmax": (lambda: sl.softmax(x), lambda: sl.softmax(cols, axis=1)),
        "cross_entropy": (
            lambda: sl.cross_entropy(x, t),
            lambda: sl.cross_entropy(cols, tc, axis=1),
        ),
        "cross_entropy_with_grad": (
            lambda: sl.cross_entropy_with_grad(x, t),
            lambda: sl.cross_entropy_with_grad(cols, tc, axis=1),
        ),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classes", nargs="+", type=int, default=[2, 10, 20, 31])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    print(sl.config(), "1 thread, ns per row (median of the rounds)")
    sl.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = args.rows
    for dt in args.dtypes:
        print(f"\n{dt}: {n} rows   {'rows':>8s} {'columns':>8s}  (contiguous rows, columns)")
        for c in args.classes:
            x = rng.standard_normal((n, c)).astype(dt)
            t = rng.integers(0, c, n)
            calls = layouts(x, t)
            for name, pair in calls.items():
                number = max(1, int(0.01 / max(timeit.timeit(pair[0], number=1), 1e-7)))
                times = [[], []]
                for _ in range(args.rounds):
                    for k, fn in enumerate(pair):
                        best = min(timeit.repeat(fn, number=number, repeat=3)) / number
                        times[k].append(best / n * 1e9)
                a, b = (statistics.median(v) for v in times)
                print(f"  {name:24s} C={c:<3d} {a:8.2f} {b:8.2f}")


if __name__ == "__main__":
    main()
