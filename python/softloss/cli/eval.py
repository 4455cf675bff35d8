"""Streaming cross-entropy evaluation of ``.npy`` logits and targets larger than memory.

:func:`evaluate` opens both files with ``np.load(mmap_mode="r")`` and walks them in batches of
rows along axis 0, so only one batch is resident at a time (on Linux each finished batch is
also dropped from the process's resident set with ``madvise(MADV_DONTNEED)``; the pages stay in
the OS page cache). Per batch it adds:

- the loss sum from the native ``reduction="sum"`` (the per-row losses accumulated in float64)
  and the weight sum ``W = sum w[t]`` over non-ignored targets (``W`` = their count without
  weights), so ``mean = sum / W`` is PyTorch's (weighted) mean. The batch sums themselves are
  added with Neumaier compensation, so the result equals the in-memory
  ``cross_entropy(logits, targets, ...)`` mean (before its rounding to the input dtype) to about
  1e-15 relative, whatever the batch size (a row's loss does not depend on the rows that
  share its call);
- top-1 hits (``argmax`` over the class axis, the first maximum on ties) over non-ignored targets;
- per class: the count, the sum of the *unweighted* per-sample loss (``reduction="none"``
  without ``weight``, with label smoothing) and the hits. Class weights only change the overall
  mean, not the per-class table.

Everything wrong with the inputs raises :class:`EvalError` with a one-line message, before any
batch is computed when it can be known from the headers (missing file, not ``.npy``, dtypes,
shapes, weight length) and at the batch that shows it otherwise (a target out of range).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from softloss import _native
from softloss.cli._inputs import (
    EvalError,
    advise_sequential,
    batch_rows,
    check_inputs,
    check_options,
    class_targets,
    load,
    release,
)

__all__ = ["EvalError", "EvalResult", "evaluate"]

#: ``progress(rows_done, rows_total)``, after each batch (and once with 0 before the first).
Progress = Callable[[int, int], None]


@dataclass
class EvalResult:
    """What :func:`evaluate` measured. Means are NaN when no target counts (all ignored)."""

    logits_shape: tuple[int, ...]
    logits_dtype: str
    axis: int
    num_classes: int
    samples: int
    ignored: int
    loss_sum: float
    weight_sum: float
    correct: int
    class_count: NDArray[np.int64]
    class_loss_sum: NDArray[np.float64]
    class_correct: NDArray[np.int64]
    batches: int
    rows_per_batch: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def counted(self) -> int:
        """Targets that count: all but the ignored ones."""
        return self.samples - self.ignored

    @property
    def mean_loss(self) -> float:
        """Mean cross-entropy in nats: ``loss_sum / weight_sum`` (PyTorch's weighted mean)."""
        return self.loss_sum / self.weight_sum if self.weight_sum != 0 else math.nan

    @property
    def perplexity(self) -> float:
        """``exp(mean_loss)``."""
        try:
            return math.exp(self.mean_loss)
        except OverflowError:
            return math.inf

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy over the counted targets."""
        return self.correct / self.counted if self.counted else math.nan

    def class_mean_loss(self) -> NDArray[np.float64]:
        """Mean unweighted per-sample loss of each class (NaN where a class never occurs)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.class_loss_sum / self.class_count

    def per_class(self) -> list[dict[str, Any]]:
        """``{class, count, mean_loss, accuracy}`` of every class that occurs as a target."""
        mean = self.class_mean_loss()
        return [
            {
                "class": int(c),
                "count": int(self.class_count[c]),
                "mean_loss": float(mean[c]),
                "accuracy": float(self.class_correct[c] / self.class_count[c]),
            }
            for c in np.flatnonzero(self.class_count)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Every metric as JSON-ready values (non-finite floats become ``None``)."""
        data: dict[str, Any] = {
            **self.settings,
            "logits_shape": list(self.logits_shape),
            "logits_dtype": self.logits_dtype,
            "axis": self.axis,
            "num_classes": self.num_classes,
            "samples": self.samples,
            "ignored": self.ignored,
            "counted": self.counted,
            "loss_sum": self.loss_sum,
            "weight_sum": self.weight_sum,
            "mean_loss": self.mean_loss,
            "perplexity": self.perplexity,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "batches": self.batches,
            "rows_per_batch": self.rows_per_batch,
            "seconds": self.seconds,
            "per_class": self.per_class(),
        }
        finite: dict[str, Any] = _finite(data)
        return finite


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class _Sum:
    """A Neumaier-compensated float sum: adding many batch sums loses nothing to their order."""

    def __init__(self) -> None:
        self.total = 0.0
        self.carry = 0.0

    def add(self, x: float) -> None:
        t = self.total + x
        if abs(self.total) >= abs(x):
            self.carry += (self.total - t) + x
        else:
            self.carry += (x - t) + self.total
        self.total = t

    @property
    def value(self) -> float:
        return self.total + self.carry


def evaluate(
    logits_path: str | os.PathLike[str],
    targets_path: str | os.PathLike[str],
    *,
    weight: str | os.PathLike[str] | NDArray[Any] | None = None,
    axis: int = 1,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    rows_per_batch: int | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Cross-entropy, perplexity and top-1 accuracy of ``.npy`` logits, streamed in row batches.

    Parameters
    ----------
    logits_path : path
        A ``.npy`` file of float16/32/64 logits, ``(N, C)`` or ``(N, ..., C, ...)``.
    targets_path : path
        A ``.npy`` file of integer class indices shaped like the logits without the class axis.
    weight : path or ndarray, optional
        Per-class weights of shape ``(C,)`` (a ``.npy`` path or an array).
    axis : int, default 1
        The class axis of the logits; not 0, which holds the rows that batches are cut along.
    ignore_index : int, default -100
        Targets equal to it count nowhere (loss, weight sum, accuracy, per-class table).
    label_smoothing : float in [0, 1]
        As :func:`softloss.cross_entropy`.
    rows_per_batch : int, optional
        Rows per batch (default: about 64 MiB of logits). Any size gives the same result to
        about 1e-15 relative (only the order of the float64 batch sums changes).
    progress : callable, optional
        ``progress(rows_done, rows_total)``, once before the first batch and after each.

    Returns
    -------
    EvalResult

    Raises
    ------
    EvalError
        Missing or unreadable files, wrong dtypes or shapes, a target outside ``[0, C)`` that
        is not ``ignore_index``, a bad weight, ``label_smoothing`` or ``rows_per_batch``.
    """
    check_options(label_smoothing, rows_per_batch, ignore_index)
    x = load(logits_path, "logits")
    t_all = load(targets_path, "targets")
    w_raw = load(weight, "weight") if isinstance(weight, (str, os.PathLike)) else weight
    w_raw = None if w_raw is None else np.asarray(w_raw)
    ax = check_inputs(x, t_all, axis, w_raw)
    classes = int(x.shape[ax])
    work: np.dtype[np.floating[Any]]
    work = np.dtype(np.float64) if x.dtype.itemsize == 8 else np.dtype(np.float32)
    w = None if w_raw is None else np.ascontiguousarray(w_raw, dtype=work)
    w64 = np.ones(classes) if w is None else w.astype(np.float64)
    n = int(x.shape[0])
    step = batch_rows(rows_per_batch, tuple(x.shape), ax, work.itemsize)

    advise_sequential(x, t_all)
    loss_sum, weight_sum = _Sum(), _Sum()
    count = np.zeros(classes, np.int64)
    correct = np.zeros(classes, np.int64)
    class_loss = np.zeros(classes, np.float64)
    samples = ignored = batches = 0
    started = time.perf_counter()
    if progress is not None:
        progress(0, n)
    for start in range(0, n, step):
        stop = min(n, start + step)
        xb = np.ascontiguousarray(x[start:stop], dtype=work)
        tb = class_targets(t_all[start:stop], start, classes, ignore_index, os.fspath(targets_path))
        try:
            total = _native.cross_entropy(
                xb, tb, w, ignore_index, "sum", float(label_smoothing), ax
            )
            each = _native.cross_entropy(
                xb, tb, None, ignore_index, "none", float(label_smoothing), ax
            )
        except (ValueError, TypeError) as exc:  # the native checks, should ours miss one
            raise EvalError(str(exc).splitlines()[0]) from None
        keep = tb != ignore_index
        tk = tb[keep]
        loss_sum.add(float(total))
        weight_sum.add(float(w64[tk].sum()))
        hits = tk[np.argmax(xb, axis=ax)[keep] == tk]
        count += np.bincount(tk, minlength=classes)
        correct += np.bincount(hits, minlength=classes)
        class_loss += np.bincount(tk, np.asarray(each)[keep].astype(np.float64), classes)
        samples += tb.size
        ignored += tb.size - tk.size
        batches += 1
        del xb, each
        release(x, start, stop)
        release(t_all, start, stop)
        if progress is not None:
            progress(stop, n)
    return EvalResult(
        logits_shape=tuple(int(d) for d in x.shape),
        logits_dtype=str(x.dtype),
        axis=ax,
        num_classes=classes,
        samples=samples,
        ignored=ignored,
        loss_sum=loss_sum.value,
        weight_sum=weight_sum.value,
        correct=int(correct.sum()),
        class_count=count,
        class_loss_sum=class_loss,
        class_correct=correct,
        batches=batches,
        rows_per_batch=min(step, n),
        seconds=time.perf_counter() - started,
        settings={
            "logits": os.fspath(logits_path),
            "targets": os.fspath(targets_path),
            "weight": os.fspath(weight) if isinstance(weight, (str, os.PathLike)) else None,
            "ignore_index": ignore_index,
            "label_smoothing": float(label_smoothing),
        },
    )
