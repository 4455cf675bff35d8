"""Do short parallel calls get their second thread? Per-call times in a tight loop, 1 and 2 threads.

    python benches/helper_latency.py [--calls 3000] [--shapes 32x1000 64x1000 128x1000 256x1000]
                                     [--gaps 0 100 300 1000]

A parallel call's calling thread starts on its chunks at once and a helper joins when it arrives
(``src/parallel/share.rs``); a call that ends before its helper arrives ran on one thread. Helpers
wait a while for the next call before they sleep (``src/parallel/crew.rs``,
``SOFTLOSS_HELPER_WAIT_US``). ``softmax_backward`` with ``out=`` (float32) is called ``--calls``
times per shape, thread count and gap, each call timed on its own; before each call the calling
thread busy-waits ``gap`` microseconds, as a loop doing other work between calls would. The table
gives the 10th, 50th and 90th percentiles in microseconds and the speed-up of the two-thread
median over the one-thread median: about 2 when the helper takes its share, about 1 when the
caller works alone, below 1 when the caller waits for a helper that came late. Calls below 32768
elements run on one thread whatever the setting.
"""

import argparse
import functools
import time

import numpy as np

import softloss as sl


def busy(us):
    """Keeps the calling thread busy (not sleeping) for `us` microseconds."""
    end = time.perf_counter_ns() + us * 1000
    while time.perf_counter_ns() < end:
        pass


def percentiles(f, calls, gap):
    """10th, 50th and 90th percentile of `calls` timings of `f`, each after `gap` µs of other
    work, in µs."""
    for _ in range(50):
        f()
    ts = np.empty(calls)
    for i in range(calls):
        busy(gap)
        t0 = time.perf_counter_ns()
        f()
        ts[i] = time.perf_counter_ns() - t0
    return np.percentile(ts, [10, 50, 90]) / 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--shapes", nargs="+", default=["32x1000", "64x1000", "128x1000", "256x1000"])
    ap.add_argument("--gaps", nargs="+", type=int, default=[0], help="µs of other work per call")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    threads = sl.config()["threads"]
    print(f"softmax_backward out=, float32, µs per call (p10 / p50 / p90), {a.calls} calls")
    for gap, spec in ((g, s) for g in a.gaps for s in a.shapes):
        shape = tuple(int(v) for v in spec.split("x"))
        go = rng.standard_normal(shape).astype(np.float32)
        y = sl.softmax(rng.standard_normal(shape).astype(np.float32))
        out = np.empty_like(y)
        call = functools.partial(sl.softmax_backward, go, y, out=out)
        cells = {}
        for n in (1, 2):
            sl.set_num_threads(n)
            cells[n] = percentiles(call, a.calls, gap)
        sl.set_num_threads(threads)
        one, two = cells[1], cells[2]
        print(
            f"gap {gap:4} µs {spec:>9}: 1 thread {one[0]:7.1f} {one[1]:7.1f} {one[2]:7.1f} | "
            f"2 threads {two[0]:7.1f} {two[1]:7.1f} {two[2]:7.1f} | speed-up {one[1] / two[1]:.2f}"
        )


if __name__ == "__main__":
    main()
