"""softmax, log_softmax and the losses on dask arrays; mean/sum equal to the in-memory call.

Results are lazy dask arrays. A row must lie in one block, so a class axis split over several
chunks is rechunked to one (``{axis: -1}``); targets, and BCE ``weight`` / ``pos_weight``
(broadcast to the input's shape), are rechunked to the input's chunks; each block runs the
in-memory kernel. ``"sum"``/``"mean"`` give a 0-d array: each block yields its loss sum and weight
sum as unrounded float64, a fixed tree of tasks adds them exactly (Shewchuk expansions: block
order and tree shape do not matter), the last task rounds each sum once, divides (mean) and
rounds once to the input dtype; ``sum`` and ``mean`` of the same arrays share those tasks. Cheap
errors (dtype, ndim, shape, axis, weight, reduction, label_smoothing) raise at once with the
in-memory API's exceptions; value errors (targets out of range, BCE inputs outside [0, 1]) raise
when computing. Shapes must be known (no NaN chunk sizes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

try:
    import dask.array as da
    from dask.delayed import delayed
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "softloss.dask needs dask[array] and distributed: pip install softloss[dask]"
    ) from exc

import softloss
from softloss import _native
from softloss._prep import class_target, compute_dtype, float_input, like

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "log_softmax",
    "nll_loss",
    "softmax",
]

Reduction = Literal["none", "mean", "sum"]
#: An input: a dask array, or an array-like (wrapped with ``dask.array.asarray``, one chunk).
DaskLike: TypeAlias = "da.Array | ArrayLike"
#: Expansions (non-overlapping float64 terms) of a loss sum and of its weight sum.
Pair = tuple[list[float], list[float]]
_SPLIT_EVERY = 8  # fan-in of the tree of tasks that adds the per-block partial sums

# dask's annotations are partial: typed handles keep mypy --strict checking these calls.
_asarray: Callable[..., da.Array] = da.asarray
_rechunk: Callable[..., da.Array] = da.rechunk
_broadcast_to: Callable[..., da.Array] = da.broadcast_to
_blockwise: Callable[..., da.Array] = da.blockwise
_map_blocks: Callable[..., da.Array] = da.map_blocks
_from_delayed: Callable[..., da.Array] = da.from_delayed
_to_delayed: Callable[..., NDArray[np.object_]] = da.Array.to_delayed
_delayed: Callable[..., Any] = delayed


# -- exact float64 sums of the block partials ----------------------------------------------------


def _expansion(values: list[float]) -> list[float]:
    """Non-overlapping floats whose exact sum is the exact sum of ``values`` (Shewchuk)."""
    parts: list[float] = []
    if all(map(math.isfinite, values)):
        for v in values:
            i = 0
            for p in parts:
                big, small = (v, p) if abs(v) >= abs(p) else (p, v)
                hi = big + small
                lo = small - (hi - big)
                if lo:
                    parts[i] = lo
                    i += 1
                v = hi
            parts[i:] = [v]
        if all(map(math.isfinite, parts)):
            return parts
    return [sum(values, 0.0)]  # inf/NaN (or an overflow) propagate as in IEEE addition


def _round(parts: list[float]) -> float:
    """The exact sum of an expansion (or one non-finite value), rounded once to float64."""
    try:
        return math.fsum(parts)
    except OverflowError:  # rounds beyond the largest float
        return math.copysign(math.inf, parts[-1])


def _combine(*inputs: NDArray[np.float64] | Pair) -> Pair:
    """Adds block partials (arrays of ``[loss, weight]`` pairs) and expansions, exactly."""
    loss: list[float] = []
    weight: list[float] = []
    for item in inputs:
        if isinstance(item, np.ndarray):
            pairs = item.reshape(-1, 2)
            loss += pairs[:, 0].tolist()
            weight += pairs[:, 1].tolist()
        else:
            loss += item[0]
            weight += item[1]
    return _expansion(loss), _expansion(weight)


def _finish(pair: Pair, mean: bool, dtype: np.dtype[Any]) -> Any:
    """``loss_sum`` (sum) or ``loss_sum / weight_sum`` (mean) as a NumPy scalar of ``dtype``."""
    loss, weight = (np.float64(_round(p)) for p in pair)
    if mean:
        with np.errstate(divide="ignore", invalid="ignore"):  # all ignored / empty: NaN
            loss = loss / weight
    if np.isnan(loss):
        loss = np.float64(np.nan)  # the canonical NaN, as the in-memory functions return
    return dtype.type(loss)


def _block(
    x: NDArray[Any],
    t: NDArray[Any],
    w: NDArray[Any] | None,
    pw: NDArray[Any] | None,
    *,
    kind: str,
    partial: bool,
    ignore_index: int = -100,
    eps: float = 0.0,
    axis: int = 1,
    ndim: int,
) -> NDArray[Any]:
    """One block's losses, or (``partial``) its ``[loss_sum, weight_sum]`` in float64."""
    if not partial:
        if kind == "nll":
            return np.asarray(softloss.nll_loss(x, t, w, ignore_index, "none", axis=axis))
        if kind == "ce":
            return np.asarray(softloss.cross_entropy(x, t, w, ignore_index, "none", eps, axis=axis))
        if kind == "bce":
            return np.asarray(softloss.binary_cross_entropy(x, t, w, "none"))
        return np.asarray(softloss.binary_cross_entropy_with_logits(x, t, w, pw, "none"))
    xa, _ = float_input(x)
    probs = kind != "nll" and (kind != "ce" or t.dtype.kind not in "iu")  # float targets
    ta: NDArray[Any] = like(t, xa.dtype, "target") if probs else class_target(t)
    wa = None if w is None else like(w, xa.dtype, "weight")
    if kind == "nll":
        total = _native.nll_loss(xa, ta, wa, ignore_index, "sum", axis)
    elif kind == "ce":
        total = _native.cross_entropy(xa, ta, wa, ignore_index, "sum", eps, axis)
    elif kind == "bce":
        total = _native.binary_cross_entropy(xa, ta, wa, "sum")
    else:
        pwa = None if pw is None else like(pw, xa.dtype, "pos_weight")
        total = _native.binary_cross_entropy_with_logits(xa, ta, wa, pwa, "sum")
    if kind.startswith("bce"):  # mean divides by the element count
        count = float(xa.size)
    elif probs:  # ... by the number of rows
        count = float(math.prod(n for i, n in enumerate(xa.shape) if i != axis))
    else:  # ... by the weight of the targets kept
        kept = ta[ta != ignore_index]
        count = float(kept.size) if wa is None else math.fsum(wa.astype(np.float64)[kept].tolist())
    return np.array([float(total), count]).reshape((1,) * ndim + (2,))


def _loss(
    reduction: Reduction, dtype: np.dtype[Any], out_ind: tuple[int, ...], *args: Any, **kw: Any
) -> da.Array:
    """``_block`` over aligned arrays: the losses (none) or a 0-d array of their sum/mean."""
    ndim = len(out_ind)
    kw.update(partial=reduction != "none", ndim=ndim, concatenate=True)
    if reduction == "none":
        meta = np.empty((0,) * ndim, dtype)
        return _blockwise(_block, out_ind, *args, dtype=dtype, meta=meta, **kw)
    pair = 1 + max((j for ind in args[1::2] if ind is not None for j in ind), default=-1)
    partials = _blockwise(
        _block,
        (*out_ind, pair),  # a new block axis of length 2: [loss_sum, weight_sum]
        *args,
        new_axes={pair: 2},
        adjust_chunks=dict.fromkeys(out_ind, 1),
        dtype=np.float64,
        meta=np.empty((0,) * (ndim + 1), np.float64),
        **kw,
    )
    level: list[Any] = _to_delayed(partials, optimize_graph=False).ravel().tolist()
    combine = _delayed(_combine, pure=True)
    while True:  # a fixed tree, at least one level deep
        level = [combine(*level[i : i + _SPLIT_EVERY]) for i in range(0, len(level), _SPLIT_EVERY)]
        if len(level) == 1:
            break
    value = _delayed(_finish, pure=True)(level[0], reduction == "mean", dtype)
    return _from_delayed(value, shape=(), dtype=dtype, meta=np.empty((), dtype))


# -- eager checks --------------------------------------------------------------------------------


def _as_dask(obj: DaskLike | None, name: str) -> da.Array:
    if obj is None:
        raise TypeError(f"{name} must be an array, got None")
    arr = obj if isinstance(obj, da.Array) else _asarray(obj)
    if any(math.isnan(n) for n in arr.shape):
        raise ValueError(f"{name} has unknown chunk sizes; call compute_chunk_sizes() first")
    return arr


def _inputs(
    input: DaskLike, target: DaskLike, reduction: str
) -> tuple[da.Array, da.Array, np.dtype[Any], np.dtype[Any]]:
    """``(input, target, compute dtype, result dtype)``, or the in-memory API's error."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    x = _as_dask(input, "input")
    _, dtype = float_input(np.empty(0, x.dtype))
    return x, _as_dask(target, "target"), compute_dtype(dtype), dtype


def _axis(axis: int, ndim: int) -> int:
    n = max(ndim, 1)  # a 0-d array counts as one element along axis 0 / -1
    if not -n <= axis < n:
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % n


def _one_chunk(arr: da.Array, axis: int) -> da.Array:
    return _rechunk(arr, {axis: -1}) if arr.ndim and arr.numblocks[axis] > 1 else arr


def _same_shape(t: da.Array, x: da.Array, dtype: np.dtype[Any]) -> None:
    like(np.empty(0, t.dtype), dtype, "target")
    if t.shape != x.shape:
        raise ValueError(f"target shape {t.shape} does not match input shape {x.shape}")


def _broadcast(obj: DaskLike, x: da.Array, dtype: np.dtype[Any], name: str) -> da.Array:
    """``obj`` as a dask array broadcast to ``x``'s shape and chunks (never enlarging it)."""
    w = _as_dask(obj, name)
    like(np.empty(0, w.dtype), dtype, name)
    try:
        full = np.broadcast_shapes(w.shape, x.shape)
    except ValueError:
        full = None
    if full != x.shape:
        raise ValueError(f"{name} shape {w.shape} cannot be broadcast to the input shape {x.shape}")
    lead = x.ndim - w.ndim
    chunks = tuple((1,) if n == 1 else x.chunks[lead + i] for i, n in enumerate(w.shape))
    return _broadcast_to(_rechunk(w, chunks), x.shape, chunks=x.chunks)


# -- softmax, log_softmax ------------------------------------------------------------------------


def _activation(func: Callable[..., NDArray[Any]], input: DaskLike, axis: int) -> da.Array:
    x = _as_dask(input, "input")
    _, dtype = float_input(np.empty(0, x.dtype), ints_to_float64=True)
    ax = _axis(axis, x.ndim)
    x = _one_chunk(x, ax)
    return _map_blocks(func, x, axis=ax, dtype=dtype, meta=np.empty((0,) * x.ndim, dtype))


def softmax(x: DaskLike, axis: int = -1) -> da.Array:
    r"""Lazy :func:`softloss.softmax` of a dask array, block by block.

    Parameters
    ----------
    x : dask.array.Array or array_like
        As :func:`softloss.softmax`. The result is chunked like ``x`` except along ``axis``.
    axis : int, default -1
        The axis the probabilities sum to 1 along; rechunked to one chunk when it is split.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.from_array(np.array([[1.0, 2.0], [3.0, 3.0]]), chunks=(1, 1))
    >>> softmax(x).compute().round(4)
    array([[0.2689, 0.7311],
           [0.5   , 0.5   ]])
    """
    return _activation(softloss.softmax, x, axis)


def log_softmax(x: DaskLike, axis: int = -1) -> da.Array:
    """Lazy :func:`softloss.log_softmax` of a dask array; parameters as :func:`softmax`.

    Examples
    --------
    >>> import dask.array as da
    >>> log_softmax(da.from_array(np.array([0.3, 2.9, 4.0]), chunks=2)).compute().round(4)
    array([-4.0057, -1.4057, -0.3057])
    """
    return _activation(softloss.log_softmax, x, axis)


# -- nll_loss, cross_entropy ---------------------------------------------------------------------


def _class_loss(
    kind: str,
    input: DaskLike,
    target: DaskLike,
    weight: ArrayLike | None,
    ignore_index: int,
    reduction: Reduction,
    eps: float,
    axis: int | None,
) -> da.Array:
    x, t, cdtype, dtype = _inputs(input, target, reduction)
    if x.ndim == 0:
        raise ValueError("input must have at least 1 dimension (the class axis), got a 0-d array")
    cax = _axis((1 if x.ndim >= 2 else 0) if axis is None else axis, x.ndim)
    probs = kind == "ce" and t.dtype.kind not in "iu"
    if probs:
        _same_shape(t, x, cdtype)
        if ignore_index >= 0:
            msg = f"ignore_index ({ignore_index}) is not supported with probability targets"
            raise ValueError(msg)
    else:
        class_target(np.empty(0, t.dtype))
        expected = x.shape[:cax] + x.shape[cax + 1 :]
        if t.shape != expected:
            raise ValueError(
                f"target shape {t.shape} does not match input shape {x.shape}: expected "
                f"{expected} (the input without its class axis {cax})"
            )
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {eps}")
    w = None if weight is None else like(weight, cdtype, "weight")
    if w is not None and w.shape != (x.shape[cax],):
        msg = f"weight must be a 1-D array with one entry per class ({x.shape[cax]}), got shape"
        raise ValueError(f"{msg} {w.shape}")
    x = _one_chunk(x, cax)
    x_ind = tuple(range(x.ndim))
    out_ind = tuple(i for i in x_ind if i != cax)
    t_ind = x_ind if probs else out_ind
    t = _rechunk(t, tuple(x.chunks[i] for i in t_ind))
    w_task = None if w is None else _delayed(w, pure=True)  # sent to each worker once
    args = (x, x_ind, t, t_ind, w_task, None, None, None)
    kw = {"kind": kind, "ignore_index": int(ignore_index), "eps": float(eps), "axis": cax}
    return _loss(reduction, dtype, out_ind, *args, **kw)


def nll_loss(
    input: DaskLike,
    target: DaskLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    *,
    axis: int | None = None,
) -> da.Array:
    """Lazy :func:`softloss.nll_loss` of dask arrays; ``mean``/``sum`` combine exact partials.

    Parameters
    ----------
    input : dask.array.Array or array_like
        Log-probabilities, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``; the class axis is
        rechunked to one chunk when it is split.
    target : dask.array.Array or array_like of int
        Class indices shaped like ``input`` without its class axis; rechunked to match it.
    weight : array_like, optional
        Per-class weights ``(C,)``: a NumPy array, sent to each worker once.
    ignore_index, axis
        As :func:`softloss.nll_loss` (``axis=None``: 1, or 0 for 1-D input).
    reduction : {"none", "mean", "sum"}
        ``none``: a dask array shaped like ``target``. ``mean``/``sum``: a 0-d dask array whose
        ``.compute()`` is a NumPy scalar of the input dtype (mean: NaN when all are ignored).
        Targets out of range raise ``IndexError`` when computing.

    Examples
    --------
    >>> import dask.array as da
    >>> logp = da.from_array(np.log([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]), chunks=(1, 3))
    >>> float(nll_loss(logp, da.from_array(np.array([0, 2]), chunks=1)).compute().round(6))
    0.289909
    """
    return _class_loss("nll", input, target, weight, ignore_index, reduction, 0.0, axis)


def cross_entropy(
    input: DaskLike,
    target: DaskLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    axis: int | None = None,
) -> da.Array:
    """Lazy :func:`softloss.cross_entropy` of dask arrays; ``mean``/``sum`` as :func:`nll_loss`.

    Parameters
    ----------
    input : dask.array.Array or array_like
        Logits; the class axis is rechunked to one chunk when it is split.
    target : dask.array.Array or array_like
        Integer class indices shaped like ``input`` without its class axis, or float
        probabilities shaped like ``input`` (``mean`` then divides by the number of rows, and
        ``ignore_index`` must stay negative); rechunked to match ``input``.
    weight, ignore_index, reduction, axis
        As :func:`nll_loss`.
    label_smoothing : float in [0, 1]
        As :func:`softloss.cross_entropy`.

    Examples
    --------
    >>> import dask.array as da
    >>> scores = da.from_array(np.array([[5.0, 4.0, 2.0], [4.0, 2.0, 8.0], [4.0, 4.0, 1.0]]))
    >>> float(cross_entropy(scores.rechunk((2, 1)), [0, 2, 1]).compute().round(6))
    0.362443
    """
    return _class_loss("ce", input, target, weight, ignore_index, reduction, label_smoothing, axis)


# -- binary_cross_entropy, binary_cross_entropy_with_logits --------------------------------------


def _binary_loss(
    kind: str,
    input: DaskLike,
    target: DaskLike,
    weight: DaskLike | None,
    pos_weight: DaskLike | None,
    reduction: Reduction,
) -> da.Array:
    x, y, cdtype, dtype = _inputs(input, target, reduction)
    _same_shape(y, x, cdtype)
    ind = tuple(range(x.ndim))
    args: list[Any] = [x, ind, _rechunk(y, x.chunks), ind]
    for obj, name in ((weight, "weight"), (pos_weight, "pos_weight")):
        args += [None, None] if obj is None else [_broadcast(obj, x, cdtype, name), ind]
    return _loss(reduction, dtype, ind, *args, kind=kind)


def binary_cross_entropy(
    input: DaskLike,
    target: DaskLike,
    weight: DaskLike | None = None,
    reduction: Reduction = "mean",
) -> da.Array:
    """Lazy :func:`softloss.binary_cross_entropy` of dask arrays (``input`` = probabilities).

    ``target`` must have the input's shape and ``weight`` (NumPy or dask) broadcast to it; both
    are rechunked to the input's chunks. ``mean`` divides the exact float64 sum of the per-block
    sums by the element count. Values outside [0, 1] raise ``ValueError`` when computing.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.from_array(np.array([0.25, 0.5, 0.75]), chunks=2)
    >>> float(binary_cross_entropy(x, np.array([0.0, 1.0, 1.0])).compute().round(6))
    0.422837
    """
    return _binary_loss("bce", input, target, weight, None, reduction)


def binary_cross_entropy_with_logits(
    input: DaskLike,
    target: DaskLike,
    weight: DaskLike | None = None,
    pos_weight: DaskLike | None = None,
    reduction: Reduction = "mean",
) -> da.Array:
    """Lazy :func:`softloss.binary_cross_entropy_with_logits` of dask arrays.

    ``weight`` and ``pos_weight`` (NumPy or dask; typically ``(C,)`` against ``(N, C)``)
    broadcast to the input's shape and are rechunked like it; ``mean`` as
    :func:`binary_cross_entropy`.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.from_array(np.array([[0.0, 2.0], [-1.0, 3.0]]), chunks=1)
    >>> y = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> float(binary_cross_entropy_with_logits(x, y, pos_weight=[2.0, 1.0]).compute().round(6))
    0.968768
    """
    return _binary_loss("bce_logits", input, target, weight, pos_weight, reduction)
