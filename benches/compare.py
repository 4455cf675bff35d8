"""Side-by-side timings: softloss vs NumPy, the memory-traffic limit, PyTorch and SciPy.

Run from anywhere after installing softloss (``pip install .`` or ``maturin develop --release``)::

    python benches/compare.py            # full run, a few minutes
    python benches/compare.py --quick    # fewer, shorter repeats
    python benches/compare.py --json results.json

For each operation, shape and dtype it prints the median time per call of

- ``limit``: a NumPy operation with the same memory traffic and no arithmetic to speak of
  (``x.copy()`` for one read + one write, ``x.sum()`` for one read, ``x.sum() + y.sum()`` for two
  reads); the other columns are shown as multiples of it,
- ``softloss``,
- ``numpy``: the textbook NumPy code (x - max, exp, sum, divide),
- ``torch``: ``torch.nn.functional`` on the same memory (skipped if torch is not importable),
- ``scipy``: ``scipy.special.softmax`` / ``log_softmax`` (skipped if scipy is not importable).

NumPy runs on one thread; softloss and torch use their thread pools, so a ratio below 1 is
possible on large inputs. Results are checked against the NumPy code before timing.
Only the standard library and NumPy are required.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import softloss

SHAPES = [(1, 10), (64, 10), (256, 1000), (512, 32000)]
DTYPES = ["float32", "float64"]
OPS = ["softmax", "log_softmax", "cross_entropy", "cross_entropy_with_grad", "bce_with_logits"]

Fn = Callable[[], Any]


# --- the textbook NumPy code ----------------------------------------------------------------


def np_softmax(x: np.ndarray) -> Any:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_log_softmax(x: np.ndarray) -> Any:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_cross_entropy(x: np.ndarray, t: np.ndarray) -> Any:
    return -np_log_softmax(x)[np.arange(len(t)), t].mean()


def np_cross_entropy_with_grad(x: np.ndarray, t: np.ndarray) -> tuple[Any, np.ndarray]:
    logp = np_log_softmax(x)
    rows = np.arange(len(t))
    grad = np.exp(logp)
    grad[rows, t] -= 1.0
    grad /= len(t)
    return -logp[rows, t].mean(), grad


def np_bce_with_logits(x: np.ndarray, y: np.ndarray) -> Any:
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean()


# --- the cases ------------------------------------------------------------------------------


def optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:  # a broken install is as good as none here
        return None


def cases(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> dict[str, dict[str, Fn]]:
    """For each operation, its implementations as zero-argument callables on the same data."""
    ops: dict[str, dict[str, Fn]] = {
        "softmax": {
            "limit": x.copy,
            "softloss": lambda: softloss.softmax(x),
            "numpy": lambda: np_softmax(x),
        },
        "log_softmax": {
            "limit": x.copy,
            "softloss": lambda: softloss.log_softmax(x),
            "numpy": lambda: np_log_softmax(x),
        },
        "cross_entropy": {
            "limit": x.sum,
            "softloss": lambda: softloss.cross_entropy(x, t),
            "numpy": lambda: np_cross_entropy(x, t),
        },
        "cross_entropy_with_grad": {
            "limit": x.copy,
            "softloss": lambda: softloss.cross_entropy_with_grad(x, t),
            "numpy": lambda: np_cross_entropy_with_grad(x, t),
        },
        "bce_with_logits": {
            "limit": lambda: x.sum() + y.sum(),
            "softloss": lambda: softloss.binary_cross_entropy_with_logits(x, y),
            "numpy": lambda: np_bce_with_logits(x, y),
        },
    }
    scipy_special = optional("scipy.special")
    if scipy_special is not None:
        ops["softmax"]["scipy"] = lambda: scipy_special.softmax(x, axis=-1)
        ops["log_softmax"]["scipy"] = lambda: scipy_special.log_softmax(x, axis=-1)
    torch = optional("torch")
    if torch is not None:
        functional = torch.nn.functional
        xt, tt, yt = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(y)

        def torch_with_grad() -> Any:
            leaf = xt.detach().requires_grad_()
            loss = functional.cross_entropy(leaf, tt)
            return loss, torch.autograd.grad(loss, leaf)[0]

        ops["softmax"]["torch"] = lambda: functional.softmax(xt, dim=-1)
        ops["log_softmax"]["torch"] = lambda: functional.log_softmax(xt, dim=-1)
        ops["cross_entropy"]["torch"] = lambda: functional.cross_entropy(xt, tt)
        ops["cross_entropy_with_grad"]["torch"] = torch_with_grad
        ops["bce_with_logits"]["torch"] = (
            lambda: functional.binary_cross_entropy_with_logits(xt, yt)
        )
    return ops


def check(op: str, impls: dict[str, Fn], dtype: str) -> str:
    """'' when softloss agrees with the NumPy code, else a short description of the gap."""
    got, want = impls["softloss"](), impls["numpy"]()
    pairs = zip(got, want) if isinstance(got, tuple) else [(got, want)]
    rtol, atol = (1e-4, 1e-6) if dtype == "float32" else (1e-9, 1e-12)
    for a, b in pairs:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            gap = np.max(np.abs(a - b)) if a.shape == b.shape else f"{a.shape} vs {b.shape}"
            return f"{op}: softloss differs from numpy ({gap})"
    return ""


# --- timing ---------------------------------------------------------------------------------


def measure(fn: Fn, repeats: int, min_seconds: float) -> tuple[float, int]:
    """Median seconds per call over `repeats` loops of `number` calls, each loop >= min_seconds."""
    fn()  # warm up: first-touch page faults, lazy imports, thread pool start
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or number >= 1 << 20:
            break
        number *= 2 if elapsed == 0 else max(2, min(10, int(1.2 * min_seconds / elapsed) + 1))
    times = [elapsed / number]
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times), number


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g}{unit}"
    return f"{seconds * 1e9:.3g}ns"


def fmt_ratio(ratio: float) -> str:
    return f" ({ratio:.2g}x)" if ratio < 10 else f" ({ratio:.0f}x)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 short repeats instead of 7")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE as JSON")
    parser.add_argument("--threads", type=int, help="softloss.set_num_threads(THREADS) first")
    args = parser.parse_args(argv)
    repeats, min_seconds = (3, 0.02) if args.quick else (7, 0.1)
    if args.threads is not None:
        softloss.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    print(
        f"softloss {softloss.__version__}, {softloss.get_num_threads()} threads; "
        f"numpy {np.__version__}; {os.cpu_count()} CPUs; median of {repeats}"
    )
    print("time per call, and (x) its multiple of the limit")
    for op in OPS:
        rows: list[list[str]] = []
        for shape in SHAPES:
            for dtype in DTYPES:
                x = (rng.standard_normal(shape) * 3).astype(dtype)
                t = rng.integers(0, shape[1], size=shape[0])
                y = rng.random(shape).astype(dtype)
                impls = cases(x, t, y)[op]
                problem = check(op, impls, dtype)
                if problem:
                    problems.append(f"{problem} at {shape} {dtype}")
                timed = {name: measure(fn, repeats, min_seconds) for name, fn in impls.items()}
                limit = timed["limit"][0]
                row = [f"{shape[0]}x{shape[1]}", dtype.replace("float", "f")]
                for name, (seconds, number) in timed.items():
                    ratio = seconds / limit
                    row.append(fmt_time(seconds) + ("" if name == "limit" else fmt_ratio(ratio)))
                    results.append(
                        {"op": op, "shape": list(shape), "dtype": dtype, "impl": name,
                         "median_s": seconds, "ratio_to_limit": ratio,
                         "repeats": repeats, "number": number}
                    )
                rows.append(row)
        print_table(op, ["shape", "dtype", *impls], rows)
    for problem in problems:
        print("MISMATCH:", problem)
    if args.json:
        meta = {
            "softloss": softloss.__version__, "threads": softloss.get_num_threads(),
            "numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "repeats": repeats, "quick": args.quick,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "results": results, "mismatches": problems}, f, indent=1)
        print(f"wrote {args.json}")
    return 1 if problems else 0


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    table = [header, *rows]
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    print(f"\n{title}")
    for r in table:
        print("  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    raise SystemExit(main())
