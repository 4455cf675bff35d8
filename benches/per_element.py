"""Nanoseconds per element: in L2 against from memory, into a new array against `out=`.

    python benches/per_element.py [--only cross_entropy bce_with_logits_with_grad ...]
                                  [--shapes 16x4000 512x32000] [--threads 1 2]
                                  [--dtype float32]

Each call is timed (best of 5 repeats of enough calls for about 3e7 elements) and divided by
its element count, beside NumPy operations with the same memory traffic. A small shape whose
arrays fit in L2 gives a kernel's arithmetic cost; a large one adds its memory traffic; a new
array against `out=` adds the page faults of a fresh output (the kernel zeroes every page on
first touch). The figures quoted in the README for the next-row prefetch and for
`bce_with_logits_with_grad` came from these rows.
"""

import argparse
import timeit

import numpy as np

import softloss as sl


def calls(x, t, y, o):
    """name -> call, for logits `x`, class targets `t`, probabilities `y` and `out=` array `o`."""
    one = x.dtype.type(1.0)
    return {
        "cross_entropy": lambda: sl.cross_entropy(x, t),
        "cross_entropy_with_grad": lambda: sl.cross_entropy_with_grad(x, t),
        "softmax": lambda: sl.softmax(x),
        "softmax out=": lambda: sl.softmax(x, out=o),
        "softmax_backward out=": lambda: sl.softmax_backward(x, y, out=o),
        "bce_with_logits": lambda: sl.binary_cross_entropy_with_logits(x, y),
        "bce_with_logits_with_grad": lambda: sl.binary_cross_entropy_with_logits_with_grad(x, y),
        "bce_with_logits_with_grad out=": lambda: sl.binary_cross_entropy_with_logits_with_grad(
            x, y, out=o
        ),
        "bce_with_logits_backward": lambda: sl.binary_cross_entropy_with_logits_backward(one, x, y),
        "x.sum()": lambda: x.sum(),
        "x.copy()": lambda: x.copy(),
        "np.copyto": lambda: np.copyto(o, x),
        "np.add": lambda: np.add(x, y),
        "np.add out=": lambda: np.add(x, y, out=o),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", help="row names (default: all)")
    ap.add_argument("--shapes", nargs="+", default=["16x4000", "512x32000"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(sl.config(), args.dtype)
    data = {}
    for spec in args.shapes:
        shape = tuple(int(n) for n in spec.split("x"))
        x = rng.standard_normal(shape).astype(args.dtype)
        y = rng.uniform(size=shape).astype(args.dtype)
        t = rng.integers(0, shape[-1], shape[0])
        data[spec] = (x, calls(x, t, y, np.empty_like(x)))
    names = args.only or list(next(iter(data.values()))[1])
    for threads in args.threads:
        sl.set_num_threads(threads)
        for name in names:
            cells = []
            for spec, (x, fs) in data.items():
                n = max(1, int(3e7 // x.size))
                best = min(timeit.repeat(fs[name], number=n, repeat=5)) / n
                cells.append(f"{spec}: {best / x.size * 1e9:.3f} ns")
            print(f"{threads} thread(s)  {name:32s}", "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
