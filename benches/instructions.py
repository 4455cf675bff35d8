"""Instructions per row (and per element) of the native kernels, counted by valgrind's cachegrind.

    python benches/instructions.py [--shape 4096x10] [--dtype float32] [--calls 50]
        [--only softmax,cross_entropy_with_grad,binary_cross_entropy]

On a shared machine the timings of a small change drown in noise; the instruction count does
not. Each call runs under ``valgrind --tool=cachegrind --cache-sim=no`` in a child process
(one thread), and the softloss functions' counts are divided by ``calls * rows``. Fewer
instructions is not always faster (stalls do not show), so confirm a change with
``benches/ab_builds.py``. Needs ``valgrind`` on the PATH. Valgrind does not emulate AVX-512,
so the counts are the AVX2 path's (8 float32 or 4 float64 lanes per vector). The binary losses
take probabilities uniform in ``[0.001, 0.999]`` (logits: standard normal) against targets
uniform in ``[0, 1]`` (``(hard)``: 0 or 1), as ``softloss.bench.cases``.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHILD = """
import numpy as np
import softloss as sl
from softloss import _native as n
sl.set_num_threads(1)
rng = np.random.default_rng(0)
shape, dt, calls, name = {shape!r}, np.{dtype}, {calls}, {name!r}
x = rng.standard_normal(shape).astype(dt)
t = rng.integers(0, shape[-1], shape[0])
y = rng.random(shape).astype(dt)
u = rng.uniform(0.001, 0.999, shape).astype(dt)
b = rng.uniform(0, 1, shape).astype(dt)
hard = (b > 0.5).astype(dt)
p = n.softmax(x, -1)
logp = n.log_softmax(x, -1)
fs = {{
    "softmax": lambda: n.softmax(x, -1),
    "log_softmax": lambda: n.log_softmax(x, -1),
    "softmax_backward": lambda: n.softmax_backward(x, p, -1),
    "log_softmax_backward": lambda: n.log_softmax_backward(x, logp, -1),
    "cross_entropy": lambda: n.cross_entropy(x, t, None, -100, "mean", 0.0, None),
    "cross_entropy(probs)": lambda: n.cross_entropy(x, y, None, -100, "mean", 0.0, None),
    "cross_entropy_with_grad": lambda: n.cross_entropy_with_grad(
        x, t, None, -100, "mean", 0.0, None
    ),
    "binary_cross_entropy": lambda: n.binary_cross_entropy(u, b, None, "mean"),
    "binary_cross_entropy(hard)": lambda: n.binary_cross_entropy(u, hard, None, "mean"),
    "binary_cross_entropy_backward": lambda: n.binary_cross_entropy_backward(
        np.array(1.0, dt), u, b, None, "mean"
    ),
    "bce_with_logits": lambda: n.binary_cross_entropy_with_logits(x, b, None, None, "mean"),
    "bce_with_logits_with_grad": lambda: n.binary_cross_entropy_with_logits_with_grad(
        x, b, None, None, "mean"
    ),
}}
for _ in range(calls):
    fs[name]()
"""

NAMES = [
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "cross_entropy",
    "cross_entropy(probs)",
    "cross_entropy_with_grad",
    "binary_cross_entropy",
    "binary_cross_entropy(hard)",
    "binary_cross_entropy_backward",
    "bce_with_logits",
    "bce_with_logits_with_grad",
]


def count(name, shape, dtype, calls):
    """``{function: instructions}`` of the softloss functions for ``calls`` calls of ``name``."""
    with tempfile.TemporaryDirectory() as d:
        script, out = os.path.join(d, "child.py"), os.path.join(d, "cg.out")
        with open(script, "w") as f:
            f.write(CHILD.format(shape=shape, dtype=dtype, calls=calls, name=name))
        subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out}",
                sys.executable,
                script,
            ],
            check=True,
            capture_output=True,
        )
        report = subprocess.run(
            ["cg_annotate", out], check=True, capture_output=True, text=True
        ).stdout
    counts = {}
    for line in report.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*:(softloss::\S+)", line)
        if m:
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="4096x10")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--only", help="comma-separated, from: " + ", ".join(NAMES))
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not on the PATH")
    shape = tuple(int(d) for d in args.shape.split("x"))
    rows, size = shape[0], 1
    for d in shape:
        size *= d
    for name in args.only.split(",") if args.only else NAMES:
        counts = count(name, shape, args.dtype, args.calls)
        total = sum(counts.values())
        print(
            f"{name:24s} {args.shape} {args.dtype}: {total / (args.calls * rows):7.1f} "
            f"instructions/row, {total / (args.calls * size):6.2f}/element"
        )
        for fn, c in sorted(counts.items(), key=lambda kv: -kv[1])[:4]:
            print(f"    {c / (args.calls * rows):7.1f}  {fn}")


if __name__ == "__main__":
    main()
