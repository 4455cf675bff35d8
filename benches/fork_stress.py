"""Forks many children while another thread rebuilds the pool; counts the children that crash.

    python benches/fork_stress.py [--forks 60000] [--threads 2]

A child forked while a parent thread was inside `pthread_create` could inherit a heap that its own
first thread then corrupted (glibc frees a reused stack's TLS blocks outside its lock; see
`src/parallel/fork_fence.rs`). This is the stress run that reproduced it: one parent thread calls
`set_num_threads(threads)` and a parallel softmax in a loop (each call builds a new pool), while
the main thread forks children that each compute the same softmax (building their own pool) and
exit with 0 when the sum matches the parent's. It prints every child that exits otherwise (134 is
SIGABRT from glibc's heap checks) and the counts at the end. Without the fence, 2 of 40,000
children aborted on the 2-core VM; with it, 0 of 60,000 (about 10 minutes). Set `ulimit -c
unlimited` first to keep a core file of a crash.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

import softloss as sl

BIG = np.random.default_rng(0).standard_normal((512, 1000)).astype(np.float32)


def churn(stop: threading.Event, threads: int) -> None:
    while not stop.is_set():
        sl.set_num_threads(threads)
        sl.softmax(BIG)


def fork_once(expected: float) -> int:
    """Forks a child that computes the softmax sum; returns its wait status (-1 if it hung)."""
    pid = os.fork()
    if pid == 0:
        try:
            got = float(sl.softmax(BIG).sum(dtype=np.float64))
            os._exit(0 if got == expected else 3)
        except BaseException:
            os._exit(4)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return -1
        time.sleep(0.0005)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forks", type=int, default=60000)
    ap.add_argument("--threads", type=int, default=2, help="pool size the churn thread sets")
    args = ap.parse_args()
    sl.set_num_threads(2)
    expected = float(sl.softmax(BIG).sum(dtype=np.float64))
    stop = threading.Event()
    churner = threading.Thread(target=churn, args=(stop, args.threads))
    churner.start()
    bad: dict[int, int] = {}
    start = time.monotonic()
    try:
        for i in range(args.forks):
            status = fork_once(expected)
            if status != 0:
                bad[status] = bad.get(status, 0) + 1
                print(f"fork {i}: wait status {status}", flush=True)
    finally:
        stop.set()
        churner.join()
    print(sl.__file__, sl.config())
    print(
        f"{args.forks} forks, churn threads {args.threads}, failed {bad or 'none'}, "
        f"{time.monotonic() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
