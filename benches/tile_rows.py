"""Where calls with few short rows switch from rows in place to tiles: two builds, per row count.

    python benches/tile_rows.py TILES.so ROWS.so [--classes 4 10 20 31] [--dtypes float32 float64]
        [--rows-list 1 2 3 4 6 8 11 15] [--rounds 15] [--number 2000]

Build the two files from one tree with the family's ``min_tile_rows`` returning 1 (every short row
a tile lane) and 64 (every short row in place), e.g. in ``kernels/cross_entropy.rs``. Both
round a row identically, so only time differs. Per shape and function: the best of ``--rounds``
interleaved rounds of ``--number`` calls, microseconds, and rows/tiles.
"""

import argparse
import importlib.util
import timeit

import numpy as np


def load(path, name):
    spec = importlib.util.spec_from_file_location(f"{name}._native", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tiles")
    ap.add_argument("rows")
    ap.add_argument("--classes", type=int, nargs="+", default=[4, 10, 20, 31])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--rows-list", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 11, 15])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--number", type=int, default=2000)
    a = ap.parse_args()
    mods = [load(a.tiles, "tiles"), load(a.rows, "rows")]
    rng = np.random.default_rng(0)
    print(f"{'':34s}{'tiles':>9s}{'rows':>9s}{'rows/tiles':>12s}")
    for dtype in a.dtypes:
        for classes in a.classes:
            for n in a.rows_list:
                x = rng.standard_normal((n, classes)).astype(dtype)
                t = rng.integers(0, classes, n)
                calls = {
                    "cross_entropy": lambda m, x=x, t=t: m.cross_entropy(
                        x, t, None, -100, "mean", 0.0, None
                    ),
                    "cross_entropy_with_grad": lambda m, x=x, t=t: m.cross_entropy_with_grad(
                        x, t, None, -100, "mean", 0.0, None
                    ),
                }
                for name, call in calls.items():
                    best = [float("inf")] * 2
                    for _ in range(a.rounds):
                        for i, m in enumerate(mods):
                            us = timeit.timeit(lambda c=call, m=m: c(m), number=a.number)
                            best[i] = min(best[i], us / a.number * 1e6)
                    label = f"{name} {dtype[5:]} {(n, classes)}"
                    print(f"{label:34s}{best[0]:9.3f}{best[1]:9.3f}{best[1] / best[0]:12.2f}")


if __name__ == "__main__":
    main()
