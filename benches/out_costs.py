"""What out= costs or saves on the binary losses: the same calls with and without out=.

    python benches/out_costs.py [--shape 512x32000]

float32, median of 5 rounds of the best of 3 timings of 5 calls, milliseconds, one process.
``binary_cross_entropy`` with ``out=`` checks the [0, 1] range in a pass of its own before
writing (so that ``out`` is untouched on an error); without it the check rides along the kernel
pass and a new result is dropped on an error. The logits loss has no range to check, so its
``out=`` call only saves the new array.
"""

import argparse
import timeit

import numpy as np

import softloss as sl


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="512x32000")
    shape = tuple(int(v) for v in ap.parse_args().shape.split("x"))
    rng = np.random.default_rng(0)
    x = rng.uniform(0.01, 0.99, shape).astype(np.float32)
    y = rng.uniform(0, 1, shape).astype(np.float32)
    out = np.empty_like(x)
    bce, bcel = sl.binary_cross_entropy, sl.binary_cross_entropy_with_logits_backward
    calls = {
        "binary_cross_entropy none": lambda: bce(x, y, reduction="none"),
        "binary_cross_entropy none out=": lambda: bce(x, y, reduction="none", out=out),
        "binary_cross_entropy_backward": lambda: sl.binary_cross_entropy_backward(1.0, x, y),
        "binary_cross_entropy_backward out=": lambda: sl.binary_cross_entropy_backward(
            1.0, x, y, out=out
        ),
        "bce_with_logits_backward": lambda: bcel(1.0, x, y),
        "bce_with_logits_backward out=": lambda: bcel(1.0, x, y, out=out),
    }
    times = {k: [] for k in calls}
    for _ in range(5):
        for name, f in calls.items():
            times[name].append(min(timeit.repeat(f, number=5, repeat=3)) / 5 * 1e3)
    for name, t in times.items():
        print(f"{name:36s} {np.median(t):8.2f} ms")


if __name__ == "__main__":
    main()
