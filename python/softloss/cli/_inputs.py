"""Input handling of :func:`softloss.cli.eval.evaluate`: memory maps, checks, batch sizes.

Every problem is an :class:`EvalError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BATCH_BYTES",
    "EvalError",
    "advise_sequential",
    "batch_rows",
    "check_inputs",
    "check_options",
    "class_targets",
    "load",
    "release",
    "shape_text",
]

#: Default batch size: about this many bytes of logits per batch.
BATCH_BYTES = 64 * 1024 * 1024
_INT64 = np.iinfo(np.int64)


class EvalError(ValueError):
    """A problem with the inputs of :func:`evaluate`; ``str(error)`` is one line."""


def load(path: str | os.PathLike[str], what: str) -> np.memmap[Any, np.dtype[Any]]:
    """``np.load(path, mmap_mode="r")``, or :class:`EvalError` saying why that fails."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise EvalError(f"{what} file not found: {name}")
    if os.path.isdir(name):
        raise EvalError(f"{what} file is a directory: {name}")
    try:
        array = np.load(name, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickled" in detail:
            detail = "no .npy header"
        raise EvalError(f"{what} file {name} is not a readable .npy file ({detail})") from None
    if not isinstance(array, np.memmap):
        if hasattr(array, "close"):
            array.close()
        raise EvalError(f"{what} file {name} is an .npz archive, not a .npy array")
    return array


def release(array: np.memmap[Any, np.dtype[Any]], start: int, stop: int) -> None:
    """Drops rows ``start:stop`` of a C-ordered memory map from the resident set (a hint)."""
    mm = array.base
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or not isinstance(mm, mmap.mmap) or not array.flags.c_contiguous:
        return
    if array.shape[0] == 0:
        return
    row = array.nbytes // array.shape[0]
    head = len(mm) - array.nbytes  # the map starts at an allocation boundary before the data
    begin = head + start * row
    begin -= begin % mmap.PAGESIZE
    end = min(len(mm), head + stop * row)
    if end > begin:
        with contextlib.suppress(OSError, ValueError):  # advice only: best effort
            mm.madvise(advice, begin, end - begin)


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as Python writes the tuple: ``(3,)``, ``(2, 5)``."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def check_options(label_smoothing: float, rows_per_batch: int | None, ignore_index: int) -> None:
    """:class:`EvalError` for a smoothing outside [0, 1], no rows, or a non-int64 ignore index."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise EvalError(f"--label-smoothing must be in [0, 1], got {label_smoothing}")
    if rows_per_batch is not None and rows_per_batch < 1:
        raise EvalError(f"--rows-per-batch must be at least 1, got {rows_per_batch}")
    if not _INT64.min <= ignore_index <= _INT64.max:
        raise EvalError(f"--ignore-index must fit in int64, got {ignore_index}")


def check_inputs(
    x: np.memmap[Any, np.dtype[Any]],
    t: np.memmap[Any, np.dtype[Any]],
    axis: int,
    w: NDArray[Any] | None,
) -> int:
    """The normalised class axis, after checking dtypes and shapes (:class:`EvalError`)."""
    if x.dtype.kind != "f" or x.dtype.itemsize not in (2, 4, 8):
        raise EvalError(f"logits must be float16, float32 or float64, got {x.dtype}")
    if t.dtype.kind not in "iu":
        raise EvalError(f"targets must be an integer array, got {t.dtype}")
    if x.ndim < 2:
        raise EvalError(
            f"logits must have a row axis and a class axis, got shape {shape_text(x.shape)}"
        )
    if not -x.ndim <= axis < x.ndim or axis % x.ndim == 0:
        axes = [*range(1, x.ndim), *range(1 - x.ndim, 0)]
        raise EvalError(
            f"--axis {axis} is not a class axis of logits {shape_text(x.shape)}: axis 0 holds the "
            f"rows, the class axis is one of {', '.join(map(str, axes))}"
        )
    axis %= x.ndim
    want = x.shape[:axis] + x.shape[axis + 1 :]
    if t.shape != want:
        raise EvalError(
            f"targets of shape {shape_text(t.shape)} do not match logits "
            f"{shape_text(x.shape)} with class axis {axis}: expected {shape_text(want)}"
        )
    classes = x.shape[axis]
    if classes == 0:
        raise EvalError(f"logits {shape_text(x.shape)} have no classes along axis {axis}")
    if w is not None:
        if w.dtype.kind not in "iuf":
            raise EvalError(f"weight must be a real numeric array, got {w.dtype}")
        if w.shape != (classes,):
            raise EvalError(f"weight must have shape ({classes},), got {shape_text(w.shape)}")
    return axis


def batch_rows(rows_per_batch: int | None, shape: tuple[int, ...], axis: int, itemsize: int) -> int:
    """The batch length along axis 0: as requested, or about ``BATCH_BYTES`` of logits.

    Any length gives the same result: a row's loss does not depend on the rows that share its
    call, so only the order of the float64 batch sums changes.
    """
    if rows_per_batch is not None:
        return rows_per_batch
    row_elems = math.prod(shape[1:])
    return max(1, BATCH_BYTES // max(1, row_elems * itemsize))


def class_targets(tb: NDArray[Any], start: int, classes: int, ignore_index: int, name: str) -> Any:
    """The batch's targets as int64, or :class:`EvalError` naming the first out-of-range one."""
    raw = tb
    if tb.dtype.kind == "u" and tb.dtype.itemsize == 8 and tb.size and int(tb.max()) > _INT64.max:
        tb = np.minimum(tb, np.uint64(_INT64.max))  # still out of range after the cast
    t = np.asarray(tb, dtype=np.int64)
    bad = ((t < 0) | (t >= classes)) & (t != ignore_index)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = np.unravel_index(i, t.shape)
        index = shape_text((start + int(where[0]), *(int(k) for k in where[1:])))
        value = int(np.asarray(raw).reshape(-1)[i])
        raise EvalError(
            f"{name}: target {value} at index {index} is outside [0, {classes}) "
            f"and is not the ignore index {ignore_index}"
        )
    return t


def advise_sequential(*arrays: np.memmap[Any, np.dtype[Any]]) -> None:
    """Tell the OS that these memory maps will be read front to back (more read-ahead)."""
    advice = getattr(mmap, "MADV_SEQUENTIAL", None)
    for array in arrays:
        if advice is not None and isinstance(array.base, mmap.mmap):
            with contextlib.suppress(OSError, ValueError):
                array.base.madvise(advice)
