"""Do short parallel calls get their second thread? Per-call times in a tight loop, 1 and 2 threads.

    python benches/helper_latency.py [--calls 3000] [--shapes 32x1000 64x1000 128x1000 256x1000]

A parallel call's calling thread starts on its chunks at once and a pool thread joins when it
wakes (``src/parallel/share.rs``); a call that ends before the helper wakes ran on one thread.
``softmax_backward`` with ``out=`` (float32) is called ``--calls`` times back to back per shape
and thread count, each call timed on its own. The table gives the 10th, 50th and 90th
percentiles in microseconds and the speed-up of the two-thread median over the one-thread
median: about 2 when the helper takes its share, about 1 when the caller works alone. Calls
below 32768 elements run on one thread whatever the setting.
"""

import argparse
import functools
import time

import numpy as np

import softloss as sl


def percentiles(f, calls):
    """10th, 50th and 90th percentile of `calls` back-to-back timings of `f`, in µs."""
    for _ in range(50):
        f()
    ts = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        f()
        ts[i] = time.perf_counter_ns() - t0
    return np.percentile(ts, [10, 50, 90]) / 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--shapes", nargs="+", default=["32x1000", "64x1000", "128x1000", "256x1000"])
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    threads = sl.config()["threads"]
    print(f"softmax_backward out=, float32, µs per call (p10 / p50 / p90), {a.calls} calls")
    for spec in a.shapes:
        shape = tuple(int(v) for v in spec.split("x"))
        go = rng.standard_normal(shape).astype(np.float32)
        y = sl.softmax(rng.standard_normal(shape).astype(np.float32))
        out = np.empty_like(y)
        call = functools.partial(sl.softmax_backward, go, y, out=out)
        cells = {}
        for n in (1, 2):
            sl.set_num_threads(n)
            cells[n] = percentiles(call, a.calls)
        sl.set_num_threads(threads)
        one, two = cells[1], cells[2]
        print(
            f"{spec:>9}: 1 thread {one[0]:7.1f} {one[1]:7.1f} {one[2]:7.1f} | "
            f"2 threads {two[0]:7.1f} {two[1]:7.1f} {two[2]:7.1f} | speed-up {one[1] / two[1]:.2f}"
        )


if __name__ == "__main__":
    main()
