"""Non-temporal stores on and off: softmax and log_softmax rows whose outputs stream past the cache.

    python benches/streaming_stores.py [--shapes 512x32000 2048x50257 ...] [--dtypes float32]
                                       [--threads N] [--rounds 5]

``SOFTLOSS_STREAMING_STORES`` is read once per process, so each setting runs in its own
subprocess. Each one times every row against its limit in the same process (``x.copy()`` for a new
array, ``np.copyto`` for ``out=``), alternating the two in rounds, and reports the median ratio;
"off" runs first, then "on". The table gives both settings' ratios to the limit and the time of
"on" over "off" (the quotient of the two medians): below 1 means the non-temporal stores paid.
Outputs below 32 MiB never stream, so only larger shapes are worth giving.
"""

import argparse
import json
import os
import subprocess
import sys
import timeit

import numpy as np

SHAPES = ["512x32000", "2048x50257", "128x131072", "4096x8192", "65536x512"]


def calls(sl, x, o):
    """(label, softloss call, its limit) for the rows of input `x` and `out=` array `o`."""
    return [
        ("softmax", lambda: sl.softmax(x), lambda: x.copy()),
        ("log_softmax", lambda: sl.log_softmax(x), lambda: x.copy()),
        ("softmax out=", lambda: sl.softmax(x, out=o), lambda: np.copyto(o, x)),
        ("log_softmax out=", lambda: sl.log_softmax(x, out=o), lambda: np.copyto(o, x)),
    ]


def measure(shapes, dtypes, threads, rounds):
    """One process's ratios to the limit: {row label: median ratio}."""
    import softloss as sl

    if threads:
        sl.set_num_threads(threads)
    rng = np.random.default_rng(0)
    ratios = {}
    for dtype in dtypes:
        for spec in shapes:
            shape = tuple(int(n) for n in spec.split("x"))
            x = rng.standard_normal(shape).astype(dtype)
            o = np.empty_like(x)
            for name, f, limit in calls(sl, x, o):
                rs = []
                for _ in range(rounds):
                    t_limit = min(timeit.repeat(limit, number=1, repeat=3))
                    t_f = min(timeit.repeat(f, number=1, repeat=3))
                    rs.append(t_f / t_limit)
                ratios[f"{name:18s} {spec:12s} {dtype:8s}"] = float(np.median(rs))
    return {"config": sl.config(), "ratios": ratios}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=SHAPES)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=0, help="0: the default count")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.shapes, args.dtypes, args.threads, args.rounds)))
        return
    runs = {}
    for setting in ("off", "on"):
        env = {**os.environ, "SOFTLOSS_STREAMING_STORES": setting}
        cmd = [sys.executable, __file__, "--child", "--rounds", str(args.rounds)]
        cmd += ["--threads", str(args.threads), "--shapes", *args.shapes]
        cmd += ["--dtypes", *args.dtypes]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        runs[setting] = json.loads(out)
    print(runs["off"]["config"])
    print(f"{'row':40s} {'on':>6s} {'off':>6s} {'on/off':>7s}   (ratios to the limit)")
    for label, off in runs["off"]["ratios"].items():
        on = runs["on"]["ratios"][label]
        print(f"{label:40s} {on:6.2f} {off:6.2f} {on / off:7.2f}")


if __name__ == "__main__":
    main()
