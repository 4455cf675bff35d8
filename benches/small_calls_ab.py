"""Small calls of two whole packages (Python layer and native module), side by side.

    python benches/small_calls_ab.py OLD_DIR [--rounds 3] [--shapes 1x10 64x10]

OLD_DIR holds an older ``softloss`` package directory (e.g. ``cp -r python/softloss OLD_DIR/``
from a checkout of the older commit, after ``maturin develop``). ``benches/small_calls.py`` runs
alternately under the importable package and under OLD_DIR, ``--rounds`` times each, in separate
processes (the two packages have the same name); each cell is the best over the rounds, in
microseconds per call. ``benches/small_rows_ab.py`` compares native modules alone, in one process.
"""

import argparse
import math
import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("small_calls.py")


def run(pythonpath, shapes):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, str(SCRIPT), "--shapes", *shapes, "--number", "10000"]
    # Run outside the repository, so that the source tree does not shadow either package.
    text = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, check=True).stdout
    rows, shape = {}, None
    for line in text.splitlines():
        if m := re.match(r"(\d+x\d+) ", line):
            shape = m.group(1)
            continue
        parts = line.split()
        if len(parts) == 5 and parts[0] != "function":
            rows[(shape, parts[0])] = [float(v) for v in parts[1:4]]
    return rows


def best(runs):
    merged = {}
    for rows in runs:
        for key, vals in rows.items():
            old = merged.get(key, [math.nan] * 3)
            merged[key] = [
                min(a, b) if not math.isnan(a) else b for a, b in zip(old, vals, strict=True)
            ]
    return merged


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old_dir")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shapes", nargs="+", default=["1x10", "64x10"])
    a = ap.parse_args()
    new_runs, old_runs = [], []
    for _ in range(a.rounds):
        old_runs.append(run(a.old_dir, a.shapes))
        new_runs.append(run(None, a.shapes))
    old, new = best(old_runs), best(new_runs)
    print(
        f"{'shape':6s} {'function':32s} {'old':>8s} {'new':>8s} {'new/old':>8s} "
        f"{'new out=':>9s} {'native':>8s}"
    )
    for key, (pub, with_out, native) in new.items():
        before = old[key][0]
        print(
            f"{key[0]:6s} {key[1]:32s} {before:8.3f} {pub:8.3f} {pub / before:8.2f} "
            f"{with_out:9.3f} {native:8.3f}"
        )


if __name__ == "__main__":
    main()
