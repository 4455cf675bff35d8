"""What the float64 target compares: each side's float64/float32 time, and the compute alone.

    python benches/float64_cost.py [--only binary_cross_entropy ...] [--shapes 2048x50257 ...]
                                   [--rounds 5]

Issue 3 asks that a float64 ratio to its limit stay within 1.2x of the float32 ratio. That
quotient is (softloss f64 / limit f64) / (softloss f32 / limit f32), which is the same as
(softloss f64/f32) / (limit f64/f32): each side's cost of going from float32 to float64. Per
row (the calls and limits of :func:`softloss.bench.cases`, as in ``benches/targets.py``), in one
process, with the two dtypes timed alternately in ``--rounds`` rounds:

- ``limit``: the limit's float64/float32 time. 2 for a pass bound by memory (twice the bytes);
  less for a limit that is itself compute-bound (NumPy's single-threaded ``x.sum()``), or that
  changes method with size (glibc's ``memcpy`` streams above 114 MiB here:
  ``benches/copy_limit_step.py``);
- ``softloss``: the same for softloss on its default threads;
- ``compute``: the same for softloss's arithmetic alone: one thread on an L2-resident slice of
  about 32K elements, where memory costs nothing (as ``benches/floors.py``). A float64 vector holds
  half the lanes of a float32 one, so a kernel with the same instructions per vector in both
  dtypes costs 2x per element;
- ``quotient``: softloss over limit, the quantity the target bounds by 1.2;
- ``compute/limit``: the quotient a kernel bound by its arithmetic would have. Above 1.2, a
  compute-bound kernel misses the target unless its float64 arithmetic per vector is cheaper
  than its float32 arithmetic.

Each cell is the median over the rounds.
"""

import argparse
import statistics
import timeit

import numpy as np

import softloss as sl
from softloss.bench import cases

#: (shape, class axis, small shape for the compute-only timing)
SHAPES = {
    "512x32000": ((512, 32000), -1, (1, 32000)),
    "2048x50257": ((2048, 50257), -1, (1, 50257)),
    "1000000x10": ((1_000_000, 10), -1, (3200, 10)),
    "8x21x256x256": ((8, 21, 256, 256), 1, (1, 21, 32, 32)),
}
#: The operations with a float64 target row at each shape (benches/targets.py).
WIDE = [
    "softmax",
    "log_softmax",
    "softmax out=",
    "log_softmax out=",
    "softmax_backward",
    "log_softmax_backward",
    "softmax_backward out=",
    "log_softmax_backward out=",
    "cross_entropy",
    "cross_entropy_with_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "bce_with_logits_with_grad",
]
OPS = {
    "512x32000": WIDE,
    "2048x50257": WIDE,
    "1000000x10": ["softmax", "log_softmax", "cross_entropy_with_grad"],
    "8x21x256x256": ["softmax", "cross_entropy"],
}


def batch_time(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=3)) / number


def number_for(fn):
    fn()  # warm up: page faults, the thread pool
    return max(1, int(0.02 / max(timeit.timeit(fn, number=1), 1e-7)))


def calls_of(shape, axis, dtype, ops):
    return {op: calls for op, calls in cases(shape, axis, dtype) if op in ops}


def compute_times(small, axis, ops, rounds):
    """{op: {dtype: [seconds per element]}} on one thread for the small shape."""
    threads = sl.config()["threads"]
    sl.set_num_threads(1)
    try:
        calls = {dt: calls_of(small, axis, dt, ops) for dt in ("float32", "float64")}
        size = int(np.prod(small))
        found = {}
        for op in ops:
            fns = {dt: calls[dt][op]["softloss"] for dt in calls}
            numbers = {dt: max(number_for(fn), 20) for dt, fn in fns.items()}
            found[op] = {dt: [] for dt in fns}
            for _ in range(rounds):
                for dt, fn in fns.items():
                    found[op][dt].append(batch_time(fn, numbers[dt]) / size)
        return found
    finally:
        sl.set_num_threads(threads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--only", nargs="+", help="exact operation names, e.g. 'softmax out='")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(sl.config())
    print(
        f"{'operation':30s} {'shape':14s} {'limit':>6s} {'softloss':>8s} {'compute':>7s} "
        f"{'quotient':>8s} {'compute/limit':>13s}   (float64/float32, medians)"
    )
    for name in args.shapes:
        shape, axis, small = SHAPES[name]
        ops = [op for op in OPS[name] if not args.only or op in args.only]
        if not ops:
            continue
        compute = compute_times(small, axis, ops, args.rounds)
        full = {dt: calls_of(shape, axis, dt, ops) for dt in ("float32", "float64")}
        for op in ops:
            sides = {(dt, who): full[dt][op][who] for dt in full for who in ("limit", "softloss")}
            numbers = {key: number_for(fn) for key, fn in sides.items()}
            times = {key: [] for key in sides}
            for _ in range(args.rounds):
                for key, fn in sides.items():
                    times[key].append(batch_time(fn, numbers[key]))

            def per_dtype(who, times=times):
                return statistics.median(
                    b / a for a, b in zip(times["float32", who], times["float64", who], strict=True)
                )

            lim, sft = per_dtype("limit"), per_dtype("softloss")
            comp = statistics.median(
                b / a for a, b in zip(compute[op]["float32"], compute[op]["float64"], strict=True)
            )
            print(
                f"{op:30s} {name:14s} {lim:6.2f} {sft:8.2f} {comp:7.2f} {sft / lim:8.2f} "
                f"{comp / lim:13.2f}",
                flush=True,
            )
        del full


if __name__ == "__main__":
    main()
