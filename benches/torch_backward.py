"""The softmax backward kernels against PyTorch's, per element, on cache-sized calls.

    python benches/torch_backward.py [--threads 1] [--shapes 8x4000 128x1000 256x1000]

Both libraries write into an existing array (``out=`` / PyTorch's ``.out`` overloads), so the
times are the kernels' own, without allocation. Best of 9 repeats, nanoseconds per element,
float32, one process; ``np.add(..., out=)`` over the same two inputs for scale. Needs PyTorch.
"""

import argparse
import timeit

import numpy as np
import torch

import softloss as sl


def row(spec, rng):
    """One shape's cells: each call's nanoseconds per element."""
    rows, classes = (int(v) for v in spec.split("x"))
    x = rng.standard_normal((rows, classes)).astype(np.float32)
    go = rng.standard_normal(x.shape).astype(np.float32)
    y, ly, out = sl.softmax(x), sl.log_softmax(x), np.empty_like(x)
    tg, ty, tly, tout = map(torch.from_numpy, (go, y, ly, out))
    aten, f32 = torch.ops.aten, torch.float32
    calls = {
        "softloss softmax_backward": lambda: sl.softmax_backward(go, y, out=out),
        "torch softmax_backward": lambda: aten._softmax_backward_data.out(
            tg, ty, -1, f32, grad_input=tout
        ),
        "softloss log_softmax_backward": lambda: sl.log_softmax_backward(go, ly, out=out),
        "torch log_softmax_backward": lambda: aten._log_softmax_backward_data.out(
            tg, tly, -1, f32, out=tout
        ),
        "np.add out=": lambda: np.add(go, y, out=out),
    }
    n = max(10, 2_000_000 // x.size)
    cells = []
    for name, f in calls.items():
        t = min(timeit.repeat(f, number=n, repeat=9)) / n / x.size * 1e9
        cells.append(f"{name} {t:.3f}")
    return ", ".join(cells)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shapes", nargs="+", default=["8x4000", "64x1000", "128x1000", "256x1000"])
    a = ap.parse_args()
    sl.set_num_threads(a.threads)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    print(f"threads {a.threads}, float32, ns per element")
    for spec in a.shapes:
        print(f"{spec}: {row(spec, rng)}")


if __name__ == "__main__":
    main()
