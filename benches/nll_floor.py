"""What bounds `nll_loss` on many short rows: the gather against reading the whole array.

    python benches/nll_floor.py [--rows 1000000] [--classes 10]

On `(1000000, 10)` float64 each row is 80 bytes, so the targets' elements fall in nearly every
cache line: a gather of one element per row reads about as much memory as `x.sum()`. Prints
median milliseconds of softloss's `nll_loss` on 1 and 2 threads, PyTorch's (when installed), a
NumPy fancy-index gather, `x.sum()` and `t.sum()` (the limit `benches/compare.py` uses).
"""

import argparse
import time

import numpy as np

import softloss as sl

try:
    import torch
except ImportError:
    torch = None


def median_ms(f, *args, k=30):
    """Median milliseconds of `f(*args)` over `k` calls."""
    f(*args)
    ts = []
    for _ in range(k):
        t0 = time.perf_counter()
        f(*args)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3


def gather_sum(x, t):
    return x[np.arange(len(t)), t].sum()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=10)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    threads = sl.get_num_threads()
    for dt in (np.float32, np.float64):
        x = rng.standard_normal((a.rows, a.classes)).astype(dt)
        t = rng.integers(0, a.classes, a.rows)
        r = {}
        for n in (1, 2):
            sl.set_num_threads(n)
            r[f"softloss {n} thread(s)"] = median_ms(sl.nll_loss, x, t)
        sl.set_num_threads(threads)
        if torch is not None:
            xt, tt = torch.from_numpy(x), torch.from_numpy(t)
            r["torch"] = median_ms(torch.nn.functional.nll_loss, xt, tt)
        r["numpy gather"] = median_ms(gather_sum, x, t)
        r["x.sum()"] = median_ms(x.sum)
        r["t.sum()"] = median_ms(t.sum)
        print(dt.__name__, ", ".join(f"{k} {v:.2f} ms" for k, v in r.items()))


if __name__ == "__main__":
    main()
