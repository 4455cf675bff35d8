"""Side-by-side benchmark: softloss against NumPy, SciPy, PyTorch and the memory-traffic limit.

``python benches/compare.py``, ``python -m softloss.bench`` or ``softloss bench`` times, in one
process, the median of several calls of every softloss function and of

- ``limit``: the NumPy operation with the same memory traffic and no arithmetic to speak of:
  ``x.copy()`` for one read and one new array, ``np.add(a, b)`` for two reads and one new array,
  ``x.sum()`` for a read-only pass, ``x.sum() + y.sum()`` for two, and their ``out=`` forms
  ``np.copyto`` / ``np.add(..., out=)``;
- ``numpy``: the seed tutorial's textbook NumPy code;
- ``scipy``: ``scipy.special.softmax`` / ``log_softmax`` (when SciPy is importable);
- ``torch``: ``torch.nn.functional`` on the same memory (when PyTorch is importable).

Every column is reported as a ratio to the limit. Only NumPy is required. ``--quick`` measures
the small and medium shapes with shorter repeats (well under a minute); the default measures
every shape of :data:`FULL_SHAPES`. ``--shapes`` and ``--dtypes`` narrow a run further.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import softloss as sl

FULL_SHAPES: list[tuple[tuple[int, ...], int]] = [
    ((1, 10), -1),
    ((64, 10), -1),
    ((256, 1000), -1),
    ((512, 32000), -1),
    ((2048, 50257), -1),
    ((1_000_000, 10), -1),
    ((8, 21, 256, 256), 1),
]
QUICK_SHAPES: list[tuple[tuple[int, ...], int]] = [
    ((1, 10), -1),
    ((64, 10), -1),
    ((256, 1000), -1),
    ((256, 8192), -1),
]
DTYPES = ("float32", "float64")
Fn = Callable[[], Any]
#: ``progress(done, total, label)``: before each measurement, and once more with done == total.
Progress = Callable[[int, int, str], None]


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:
        return None


@dataclass
class Row:
    """One measured operation: median seconds per call of each contender."""

    op: str
    shape: tuple[int, ...]
    dtype: str
    seconds: dict[str, float] = field(default_factory=dict)
    axis: int = -1

    def ratios(self) -> dict[str, float]:
        """Every contender's seconds divided by the limit's."""
        limit = self.seconds["limit"]
        return {k: v / limit for k, v in self.seconds.items() if k != "limit"}


def median_time(fn: Fn, budget: float) -> float:
    """Median seconds per call, over repeats that fill about ``budget`` seconds (3 at least)."""
    fn()  # warm up: page faults, thread-pool start, caches
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    # Batch tiny calls so the timer resolution does not matter (20 ms, or budget / 10 if less).
    number = max(1, int(min(0.02, budget / 10) / once))
    repeats = int(min(max(3, budget / (once * number)), 15))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return y


def _np_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    y: np.ndarray = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return y


def _np_ce_grad(x: np.ndarray, t: np.ndarray, axis: int) -> tuple[Any, np.ndarray]:
    logp = _np_log_softmax(x, axis)
    picked = np.take_along_axis(logp, np.expand_dims(t, axis), axis)
    grad = np.exp(logp)
    np.put_along_axis(grad, np.expand_dims(t, axis), picked * 0 + np.exp(picked) - 1, axis)
    return -picked.mean(), grad / t.size


def cases(shape: tuple[int, ...], axis: int, dtype: str) -> Iterator[tuple[str, dict[str, Fn]]]:
    """``(operation, {contender: zero-argument call})`` for one shape and dtype."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    go = rng.standard_normal(shape).astype(dtype)
    out = np.empty_like(x)
    y = sl.softmax(x, axis)
    t = rng.integers(0, shape[axis], np.delete(np.array(shape), axis % len(shape)))
    p = rng.uniform(0.001, 0.999, shape).astype(dtype)
    b = rng.uniform(0, 1, shape).astype(dtype)
    scipy_special = _optional("scipy.special")
    torch = _optional("torch")
    copy = {"limit": lambda: x.copy()}
    read = {"limit": lambda: x.sum()}
    read2 = {"limit": lambda: x.sum() + b.sum()}
    add2 = {"limit": lambda: np.add(go, y)}

    def with_torch(entry: dict[str, Fn], make: Callable[[Any], Fn]) -> dict[str, Fn]:
        if torch is not None:
            entry["torch"] = make(torch)
        return entry

    def tt(a: np.ndarray) -> Any:
        return torch.from_numpy(a)

    def grad_of(th: Any, loss: Callable[[Any], Any], a: np.ndarray) -> Fn:
        """PyTorch's forward and backward through autograd: ``(loss, d loss / d a)``."""

        def run() -> Any:
            leaf = th.from_numpy(a).requires_grad_()
            value = loss(leaf)
            value.backward()
            return value, leaf.grad

        return run

    ce_torch = np.moveaxis(x, axis, 1)  # PyTorch's class axis is 1
    F: Any = torch.nn.functional if torch is not None else None

    sm = {"softloss": lambda: sl.softmax(x, axis), "numpy": lambda: _np_softmax(x, axis), **copy}
    lsm = {
        "softloss": lambda: sl.log_softmax(x, axis),
        "numpy": lambda: _np_log_softmax(x, axis),
        **copy,
    }
    if scipy_special is not None:
        sm["scipy"] = lambda: scipy_special.softmax(x, axis=axis)
        lsm["scipy"] = lambda: scipy_special.log_softmax(x, axis=axis)
    yield "softmax", with_torch(sm, lambda th: lambda: th.softmax(tt(x), axis))
    yield "log_softmax", with_torch(lsm, lambda th: lambda: th.log_softmax(tt(x), axis))
    yield (
        "softmax out=",
        {"softloss": lambda: sl.softmax(x, axis, out=out), "limit": lambda: np.copyto(out, x)},
    )
    yield (
        "log_softmax out=",
        {"softloss": lambda: sl.log_softmax(x, axis, out=out), "limit": lambda: np.copyto(out, x)},
    )
    yield (
        "softmax_backward",
        with_torch(
            {
                "softloss": lambda: sl.softmax_backward(go, y, axis),
                "numpy": lambda: y * (go - (go * y).sum(axis=axis, keepdims=True)),
                **add2,
            },
            lambda th: lambda: th.ops.aten._softmax_backward_data(tt(go), tt(y), axis, tt(x).dtype),
        ),
    )
    yield (
        "log_softmax_backward",
        with_torch(
            {
                "softloss": lambda: sl.log_softmax_backward(go, y, axis),
                "numpy": lambda: go - np.exp(y) * go.sum(axis=axis, keepdims=True),
                **add2,
            },
            lambda th: (
                lambda: th.ops.aten._log_softmax_backward_data(tt(go), tt(y), axis, tt(x).dtype)
            ),
        ),
    )
    yield (
        "softmax_backward out=",
        {
            "softloss": lambda: sl.softmax_backward(go, y, axis, out=out),
            "limit": lambda: np.add(go, y, out=out),
        },
    )
    yield (
        "log_softmax_backward out=",
        {
            "softloss": lambda: sl.log_softmax_backward(go, y, axis, out=out),
            "limit": lambda: np.add(go, y, out=out),
        },
    )
    loss_axis = None if axis == 1 else axis
    yield (
        "nll_loss",
        with_torch(
            {
                "softloss": lambda: sl.nll_loss(x, t, axis=loss_axis),
                "numpy": lambda: -np.take_along_axis(x, np.expand_dims(t, axis), axis).mean(),
                "limit": lambda: t.sum(),
            },
            lambda th: lambda: F.nll_loss(tt(ce_torch), tt(t)),
        ),
    )
    yield (
        "cross_entropy",
        with_torch(
            {
                "softloss": lambda: sl.cross_entropy(x, t, axis=loss_axis),
                "numpy": lambda: _np_ce_grad(x, t, axis)[0],
                **read,
            },
            lambda th: lambda: F.cross_entropy(tt(ce_torch), tt(t)),
        ),
    )
    yield (
        "cross_entropy_backward",
        {
            "softloss": lambda: sl.cross_entropy_backward(1.0, x, t, axis=loss_axis),
            "numpy": lambda: _np_ce_grad(x, t, axis)[1],
            **copy,
        },
    )
    yield (
        "cross_entropy_with_grad",
        with_torch(
            {
                "softloss": lambda: sl.cross_entropy_with_grad(x, t, axis=loss_axis),
                "numpy": lambda: _np_ce_grad(x, t, axis),
                **copy,
            },
            lambda th: grad_of(th, lambda v: F.cross_entropy(v, tt(t)), ce_torch),
        ),
    )
    yield (
        "binary_cross_entropy",
        with_torch(
            {
                "softloss": lambda: sl.binary_cross_entropy(p, b),
                "numpy": lambda: (
                    -(b * np.maximum(np.log(p), -100) + (1 - b) * np.maximum(np.log1p(-p), -100))
                ).mean(),
                **read2,
            },
            lambda th: lambda: F.binary_cross_entropy(tt(p), tt(b)),
        ),
    )
    yield (
        "binary_cross_entropy_backward",
        {
            "softloss": lambda: sl.binary_cross_entropy_backward(1.0, p, b),
            "numpy": lambda: (p - b) / np.maximum(p * (1 - p), 1e-12) / p.size,
            "limit": lambda: np.add(p, b),
        },
    )
    yield (
        "binary_cross_entropy_with_grad",
        with_torch(
            {
                "softloss": lambda: sl.binary_cross_entropy_with_grad(p, b),
                "limit": lambda: np.add(p, b),
            },
            lambda th: grad_of(th, lambda v: F.binary_cross_entropy(v, tt(b)), p),
        ),
    )
    yield (
        "bce_with_logits",
        with_torch(
            {
                "softloss": lambda: sl.binary_cross_entropy_with_logits(x, b),
                "numpy": lambda: (np.maximum(x, 0) - x * b + np.log1p(np.exp(-np.abs(x)))).mean(),
                **read2,
            },
            lambda th: lambda: th.nn.functional.binary_cross_entropy_with_logits(tt(x), tt(b)),
        ),
    )
    yield (
        "bce_with_logits_backward",
        {
            "softloss": lambda: sl.binary_cross_entropy_with_logits_backward(1.0, x, b),
            "limit": lambda: np.add(x, b),
        },
    )
    yield (
        "bce_with_logits_with_grad",
        with_torch(
            {
                "softloss": lambda: sl.binary_cross_entropy_with_logits_with_grad(x, b),
                "limit": lambda: np.add(x, b),
            },
            lambda th: grad_of(th, lambda v: F.binary_cross_entropy_with_logits(v, tt(b)), x),
        ),
    )


def operations() -> list[str]:
    """The name of every operation :func:`cases` measures, in order."""
    return [op for op, _ in cases((2, 3), -1, "float64")]


def parse_shape(text: str) -> tuple[tuple[int, ...], int]:
    """``"8x21x256x256:1"`` -> ``((8, 21, 256, 256), 1)``; the class axis defaults to -1."""
    dims, _, axis = text.partition(":")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
        parsed = (shape, int(axis) if axis else -1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a shape like 64x10 or 8x21x64x64:1: {text!r}"
        ) from None
    if not shape or min(shape) < 1 or not -len(shape) <= parsed[1] < len(shape):
        raise argparse.ArgumentTypeError(f"not a shape like 64x10 or 8x21x64x64:1: {text!r}")
    return parsed


def run(
    quick: bool = False,
    only: list[str] | None = None,
    progress: Progress | None = None,
    shapes: list[tuple[tuple[int, ...], int]] | None = None,
    dtypes: list[str] | None = None,
    budget: float | None = None,
) -> list[Row]:
    """Measures every case.

    Parameters
    ----------
    quick : bool
        :data:`QUICK_SHAPES` and shorter repeats instead of :data:`FULL_SHAPES`.
    only : list of str, optional
        Keep the operations whose name contains one of these.
    progress : callable, optional
        ``progress(done, total, label)`` before each measured row, and once at the end.
    shapes : list of (shape, axis), optional
        Measure these instead of the ``quick`` choice.
    dtypes : list of str, optional
        A subset of ``("float32", "float64")``.
    budget : float, optional
        Seconds of repeated calls per contender and row (default 1.0, or 0.05 with ``quick``).

    Returns
    -------
    list of Row
        One row per operation, shape and dtype, in that nesting order (dtype outermost).
    """
    if shapes is None:
        shapes = QUICK_SHAPES if quick else FULL_SHAPES
    if budget is None:
        budget = 0.05 if quick else 1.0
    dtypes = list(dtypes or DTYPES)
    ops = [op for op in operations() if not only or any(o in op for o in only)]
    total = len(ops) * len(shapes) * len(dtypes)
    rows: list[Row] = []
    for dtype in dtypes:
        for shape, axis in shapes:
            for op, contenders in cases(shape, axis, dtype):
                if op not in ops:
                    continue
                if progress is not None:
                    progress(len(rows), total, f"{op} {shape} {dtype}")
                row = Row(op, shape, dtype, axis=axis)
                for name, fn in contenders.items():
                    row.seconds[name] = median_time(fn, budget)
                rows.append(row)
    if progress is not None:
        progress(total, total, "done")
    return rows


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "softloss": sl.config(),
    }


def table(rows: list[Row]) -> str:
    """A plain-text table: softloss time and every contender's ratio to the limit."""
    names = ["softloss", "numpy", "scipy", "torch"]
    head = f"{'operation':32s} {'shape':>18s} {'dtype':>7s} {'limit':>10s} " + " ".join(
        f"{n:>9s}" for n in names
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratios = r.ratios()
        cells = " ".join(f"{ratios[n]:8.2f}x" if n in ratios else f"{'-':>9s}" for n in names)
        limit = r.seconds["limit"]
        lines.append(f"{r.op:32s} {r.shape!s:>18s} {r.dtype:>7s} {limit * 1e3:8.3f}ms {cells}")
    return "\n".join(lines)


def to_json(rows: list[Row]) -> dict[str, Any]:
    """The machine and every row (seconds per contender and ratios to the limit), for JSON."""
    return {
        "machine": machine(),
        "rows": [{**asdict(r), "ratios": r.ratios()} for r in rows],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``benches/compare.py`` and ``softloss bench``."""
    parser.add_argument(
        "--quick", action="store_true", help="small and medium shapes, shorter repeats"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="operations whose name contains one of these"
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        type=parse_shape,
        metavar="SHAPE",
        help="shapes to measure instead, like 64x10 or 8x21x64x64:1 (class axis after the colon)",
    )
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, help="float32, float64 or both")
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="seconds of repeated calls per contender and row (default 1, or 0.05 with --quick)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")


def main(argv: list[str] | None = None) -> int:
    """``python benches/compare.py``: plain-text progress and table; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)

    def progress(done: int, total: int, label: str) -> None:
        print(f"  [{done}/{total}] {label}", file=sys.stderr, flush=True)

    rows = run(args.quick, args.only, progress, args.shapes, args.dtypes, args.budget)
    print(json.dumps(machine()))
    print(table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(to_json(rows), fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
