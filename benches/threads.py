"""Thread scaling: each function's time at 1, 2, 4, ... threads, as ratios to the limit.

    python benches/threads.py [--threads 1 2 4 8 16] [--only softmax cross_entropy_with_grad]
                              [--shapes 2048x50257 1000000x10] [--dtypes float32] [--budget 0.3]

One process: for every operation and shape, the limit (the NumPy operation with the same memory
traffic, one thread, as in ``benches/compare.py``) is timed once, then softloss at each thread
count (``softloss.set_num_threads``) and PyTorch at each (``torch.set_num_threads``) when it is
installed. The table gives each as a ratio to the limit, and softloss's speed-up over its own
one-thread time. The cases are ``softloss.bench.cases``, the same calls as compare.py.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import softloss as sl
from softloss.bench import cases, median_time, parse_shape

DEFAULT_SHAPES = ["512x32000", "2048x50257", "1000000x10", "8x21x256x256:1"]
DEFAULT_OPS = [
    "softmax",
    "log_softmax",
    "softmax_backward",
    "cross_entropy",
    "cross_entropy_with_grad",
    "bce_with_logits_with_grad",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cpus = os.cpu_count() or 1
    counts = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= cpus]
    parser.add_argument("--threads", type=int, nargs="+", default=counts)
    parser.add_argument("--only", nargs="+", default=DEFAULT_OPS, help="exact operation names")
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES)
    parser.add_argument("--dtypes", nargs="+", default=["float32"])
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per timing")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    default_threads = sl.get_num_threads()
    print(f"numpy {np.__version__}, softloss {sl.config()}, cpus {cpus}")
    if torch is not None:
        print(f"torch {torch.__version__}")
    head = " ".join(f"{f'sl {n}':>8}" for n in args.threads)
    if torch is not None:
        head += " " + " ".join(f"{f'pt {n}':>8}" for n in args.threads)
    print(f"{'operation':<28}{'shape':<20}{'dtype':<9}{'limit ms':>9} {head} {'speedup':>8}")
    for dtype in args.dtypes:
        for text in args.shapes:
            shape, axis = parse_shape(text)
            for op, contenders in cases(shape, axis, dtype):
                if op not in args.only:
                    continue
                limit = median_time(contenders["limit"], args.budget)
                ours = []
                for n in args.threads:
                    sl.set_num_threads(n)
                    ours.append(median_time(contenders["softloss"], args.budget))
                theirs = []
                if torch is not None and "torch" in contenders:
                    for n in args.threads:
                        torch.set_num_threads(n)
                        theirs.append(median_time(contenders["torch"], args.budget))
                cells = " ".join(f"{t / limit:>8.2f}" for t in ours + theirs)
                if torch is not None and not theirs:
                    cells += " " + " ".join(f"{'-':>8}" for _ in args.threads)
                print(
                    f"{op:<28}{text:<20}{dtype:<9}{limit * 1e3:>9.4g} {cells}"
                    f" {ours[0] / min(ours):>7.1f}x",
                    flush=True,
                )
    sl.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
