"""Where the `out=` limit changes speed: `np.copyto` per byte against the array size.

    python benches/copy_limit_step.py [--sizes 32 64 96 112 128 160 256] [--per-byte 512x32000]

NumPy copies a contiguous array with the C library's `memcpy` (the step sits at glibc's
threshold), which switches to non-temporal stores above `x86_non_temporal_threshold` (on Linux,
`/lib64/ld-linux-x86-64.so.2 --list-diagnostics | grep non_temporal` prints it: 114 MiB on the
CI machine kind) and then moves two bytes of memory traffic per byte copied instead of three.
So the `np.copyto` limit of a `512x32000` `out=` row is the slow kind in float32 (62.5 MiB) and
the fast kind in float64 (125 MiB), which makes their ratios to the limit incomparable. Best
of 7 timings of 3 copies per size, one thread.

``--per-byte SHAPE`` then compares softloss's own time per byte of softmax and log_softmax
`out=` in float32 and float64 on that shape (default threads; medians of 5 interleaved best-of-3
timings): the float64/float32 ratio that the limits' ratio would give if both limits moved the
same traffic.
"""

import argparse
import timeit

import numpy as np

import softloss as sl


def per_byte(shape):
    rng = np.random.default_rng(0)
    x = {dt: rng.standard_normal(shape).astype(dt) for dt in (np.float32, np.float64)}
    out = {dt: np.empty_like(v) for dt, v in x.items()}
    for f in (sl.softmax, sl.log_softmax):
        calls = {dt: (lambda dt=dt, f=f: f(x[dt], out=out[dt])) for dt in x}
        rounds = [
            {
                dt: min(timeit.repeat(c, number=3, repeat=3)) / 3 / x[dt].nbytes
                for dt, c in calls.items()
            }
            for _ in range(5)
        ]
        med = {dt: sorted(r[dt] for r in rounds)[2] for dt in x}
        ratio = med[np.float64] / med[np.float32]
        print(
            f"{f.__name__} out= {shape}: float32 {med[np.float32] * 1e9:.3f} ns per byte, "
            f"float64 {med[np.float64] * 1e9:.3f}, float64/float32 {ratio:.2f}"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96, 112, 128, 160, 256])
    ap.add_argument("--per-byte", metavar="SHAPE", help="e.g. 512x32000")
    args = ap.parse_args()
    for mib in args.sizes:
        x = np.ones(mib * 2**20 // 4, np.float32)
        out = np.empty_like(x)
        t = min(timeit.repeat(lambda x=x, out=out: np.copyto(out, x), number=3, repeat=7)) / 3
        print(f"{mib:5d} MiB  np.copyto {t / x.nbytes * 1e9:.3f} ns per byte", flush=True)
    if args.per_byte:
        per_byte(tuple(int(d) for d in args.per_byte.split("x")))


if __name__ == "__main__":
    main()
