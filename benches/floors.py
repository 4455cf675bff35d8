"""Compute floors of the issue-3 targets that are not met: can the target be reached at all here?

    python benches/floors.py [--dtype float64]

For each row, in one process: the call's time (as in ``benches/compare.py``), its limit (the
NumPy operation with the same memory traffic, as there), and its *compute floor*: the same
function on a slice small enough to stay in L2 (about 32K elements, timed on one thread, where
memory costs nothing) less the time of a 16-element call (the fixed cost of a call), scaled to
the full size and divided by the thread count, i.e. perfect scaling and free memory traffic. A
floor above the target ratio means the kernel would miss the target even if every byte arrived
for free: the target is out of reach for this arithmetic on this machine, whatever the memory
access pattern. Medians of 5 interleaved best-of-3 timings.

With ``--dtype float64`` the same rows run in float64, for the target that float64 ratios stay
within 1.2x of the float32 ones: a float64 floor above 1.2 times the float32 ratio puts that
target out of reach too (the targets printed are float32's).
"""

import argparse
import timeit

import numpy as np

import softloss as sl


def best(f, number):
    return min(timeit.repeat(f, number=number, repeat=3)) / number


def median_of(fs, number):
    runs = [[best(f, number) for f in fs] for _ in range(5)]
    return [sorted(r[i] for r in runs)[2] for i in range(len(fs))]


def row(name, target, full, limit, small, tiny, full_n, small_n, number=3):
    threads = sl.config()["threads"]
    t_full, t_limit = median_of([full, limit], number)
    sl.set_num_threads(1)
    t_small, t_tiny = median_of([small, tiny], max(1, int(2e6 // small_n)))
    sl.set_num_threads(threads)
    floor = (t_small - t_tiny) * (full_n / small_n) / threads
    verdict = "out of reach" if floor / t_limit > target else "reachable"
    print(
        f"{name:44s} target {target:4.2f}  measured {t_full / t_limit:5.2f}  "
        f"compute floor {floor / t_limit:5.2f}  ({verdict})"
    )


def wide_rows(rng, shape, dt):
    x = rng.standard_normal(shape).astype(dt)
    out = np.empty_like(x)
    small = np.ascontiguousarray(x[: max(1, 32768 // shape[1])])
    small_out = np.empty_like(small)
    tiny = np.ascontiguousarray(small[:1, :16])
    tiny_out = np.empty_like(tiny)
    n, sn = x.size, small.size
    for f in (sl.softmax, sl.log_softmax):
        row(
            f"{f.__name__} {shape}",
            1.3,
            lambda f=f: f(x),
            lambda: x.copy(),
            lambda f=f: f(small),
            lambda f=f: f(tiny),
            n,
            sn,
        )
    t = rng.integers(0, shape[1], shape[0])
    st = t[: small.shape[0]] % small.shape[1]
    row(
        f"cross_entropy {shape}",
        1.3,
        lambda: sl.cross_entropy(x, t),
        lambda: x.sum(),
        lambda: sl.cross_entropy(small, st),
        lambda: sl.cross_entropy(tiny, st[:1] % 16),
        n,
        sn,
    )
    for f in (sl.softmax, sl.log_softmax):
        row(
            f"{f.__name__} out= {shape}",
            1.15,
            lambda f=f: f(x, out=out),
            lambda: np.copyto(out, x),
            lambda f=f: f(small, out=small_out),
            lambda f=f: f(tiny, out=tiny_out),
            n,
            sn,
        )
    b = rng.uniform(0, 1, shape).astype(dt)
    sb = np.ascontiguousarray(b[: small.shape[0]])
    p, sp = 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(-small))
    row(
        f"binary_cross_entropy {shape}",
        2.0,
        lambda: sl.binary_cross_entropy(p, b),
        lambda: p.sum() + b.sum(),
        lambda: sl.binary_cross_entropy(sp, sb),
        lambda: sl.binary_cross_entropy(sp[:1, :16], sb[:1, :16]),
        n,
        sn,
    )
    row(
        f"bce_with_logits_with_grad {shape}",
        1.3,
        lambda: sl.binary_cross_entropy_with_logits_with_grad(x, b),
        lambda: np.add(x, b),
        lambda: sl.binary_cross_entropy_with_logits_with_grad(small, sb),
        lambda: sl.binary_cross_entropy_with_logits_with_grad(tiny, sb[:1, :16]),
        n,
        sn,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    dt = np.dtype(ap.parse_args().dtype)
    rng = np.random.default_rng(0)
    print(sl.config(), dt)
    for shape in [(2048, 50257), (512, 32000)]:
        wide_rows(rng, shape, dt)
    x = rng.standard_normal((1_000_000, 10)).astype(dt)
    t = rng.integers(0, 10, 1_000_000)
    row(
        "cross_entropy_with_grad (1000000, 10)",
        2.5,
        lambda: sl.cross_entropy_with_grad(x, t),
        lambda: x.copy(),
        lambda: sl.cross_entropy_with_grad(x[:3200], t[:3200]),
        lambda: sl.cross_entropy_with_grad(x[:2], t[:2]),
        x.size,
        32000,
    )
    x = rng.standard_normal((8, 21, 256, 256)).astype(dt)
    t = rng.integers(0, 21, (8, 256, 256))
    xs, ts = np.ascontiguousarray(x[:1, :, :32]), np.ascontiguousarray(t[:1, :32])
    row(
        "softmax (8, 21, 256, 256) axis 1",
        1.5,
        lambda: sl.softmax(x, axis=1),
        lambda: x.copy(),
        lambda: sl.softmax(xs, axis=1),
        lambda: sl.softmax(x[:1, :, :1, :1], axis=1),
        x.size,
        xs.size,
    )
    row(
        "cross_entropy (8, 21, 256, 256) axis 1",
        1.5,
        lambda: sl.cross_entropy(x, t),
        lambda: x.sum(),
        lambda: sl.cross_entropy(xs, ts),
        lambda: sl.cross_entropy(x[:1, :, :1, :1], t[:1, :1, :1]),
        x.size,
        xs.size,
    )


if __name__ == "__main__":
    main()
