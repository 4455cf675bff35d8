"""Binary cross-entropy on probabilities (with PyTorch's -100 log clamp) and on logits."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from softloss import _native
from softloss._prep import (
    broadcast_weight,
    finish,
    finish_out,
    float_input,
    grad_arg,
    is_native,
    is_native_grad,
    kernel_out,
    like,
    loss_out,
)
from softloss.losses import Loss, Reduction

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_with_grad",
]


def _fast(input: ArrayLike, target: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]] | None:
    """``(input, target)`` when they go to the kernels as they are: float32 or float64 ndarrays
    of one dtype (the common call, without the general path's conversions); else None."""
    if is_native(input) and type(target) is np.ndarray and target.dtype is input.dtype:
        return input, target
    return None


def _args(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, pos_weight: ArrayLike | None
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None, NDArray[Any] | None, np.dtype[Any]]:
    x, dtype = float_input(input)
    y = like(target, x.dtype, "target")
    w = None if weight is None else broadcast_weight(weight, x.shape, x.dtype, "weight")
    pw = (
        None if pos_weight is None else broadcast_weight(pos_weight, x.shape, x.dtype, "pos_weight")
    )
    return x, y, w, pw, dtype


def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    *,
    out: NDArray[Any] | None = None,
) -> Loss:
    r"""BCE on probabilities: :math:`-w (y \max(\log x, -100) + (1 - y) \max(\log(1 - x), -100))`.

    ``input`` and ``target`` must lie in [0, 1] (ValueError otherwise, NaN included); ``weight``
    broadcasts to the input's shape but may not enlarge it; ``mean`` divides by the element count.

    Examples
    --------
    >>> binary_cross_entropy(np.linspace(0, 1, 10), np.full(10, 0.2), reduction="none")[[0, -1]]
    array([20., 80.])
    """
    if weight is None and (xy := _fast(input, target)):
        return finish(_native.binary_cross_entropy(*xy, None, reduction, out), xy[0].dtype)
    x, y, w, _, dtype = _args(input, target, weight, None)
    loss = _native.binary_cross_entropy(x, y, w, reduction, loss_out(dtype, reduction, out))
    return finish_out(loss, dtype, out)


def binary_cross_entropy_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    *,
    out: NDArray[Any] | None = None,
) -> NDArray[Any]:
    r"""PyTorch's BCE gradient: :math:`s\, w (x - y) / \max(x (1 - x), 10^{-12})`.

    It is not the derivative of the clamped forward (the clamp is ignored, the floor is not).
    """
    xy = _fast(input, target) if weight is None else None
    if xy and is_native_grad(grad_output, xy[0].dtype):
        return _native.binary_cross_entropy_backward(grad_output, *xy, None, reduction, out)
    x, y, w, _, dtype = _args(input, target, weight, None)
    go = grad_arg(grad_output, x.dtype)
    grad = _native.binary_cross_entropy_backward(go, x, y, w, reduction, kernel_out(dtype, out))
    return finish_out(grad, dtype, out)  # type: ignore[no-any-return]


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    *,
    out: NDArray[Any] | None = None,
) -> Loss:
    r"""BCE on logits: :math:`-w (p_w y \log\sigma(x) + (1 - y) \log\sigma(-x))`, computed stably.

    ``weight`` and ``pos_weight`` broadcast to the input's shape (typically ``(C,)`` against
    ``(N, C)``). Infinite logits give the mathematical limit (PyTorch gives NaN).

    Examples
    --------
    >>> float(binary_cross_entropy_with_logits([0.0], [1.0]).round(6))
    0.693147
    """
    if weight is None and pos_weight is None and (xy := _fast(input, target)):
        loss = _native.binary_cross_entropy_with_logits(*xy, None, None, reduction, out)
        return finish(loss, xy[0].dtype)
    x, y, w, pw, dtype = _args(input, target, weight, pos_weight)
    kout = loss_out(dtype, reduction, out)
    loss = _native.binary_cross_entropy_with_logits(x, y, w, pw, reduction, kout)
    return finish_out(loss, dtype, out)


def binary_cross_entropy_with_logits_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    *,
    out: NDArray[Any] | None = None,
) -> NDArray[Any]:
    r"""Gradient of :func:`binary_cross_entropy_with_logits`.

    :math:`s\, w ((1 + (p_w - 1) y) \sigma(x) - p_w y)`.
    """
    xy = _fast(input, target) if weight is None and pos_weight is None else None
    if xy and is_native_grad(grad_output, xy[0].dtype):
        return _native.binary_cross_entropy_with_logits_backward(
            grad_output, *xy, None, None, reduction, out
        )
    x, y, w, pw, dtype = _args(input, target, weight, pos_weight)
    go = grad_arg(grad_output, x.dtype)
    kout = kernel_out(dtype, out)
    grad = _native.binary_cross_entropy_with_logits_backward(go, x, y, w, pw, reduction, kout)
    return finish_out(grad, dtype, out)  # type: ignore[no-any-return]


def binary_cross_entropy_with_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    *,
    out: NDArray[Any] | None = None,
) -> tuple[Loss, NDArray[Any]]:
    """``(binary_cross_entropy(...), binary_cross_entropy_backward(1, ...))`` in one pass.

    The gradient is for ``grad_output = 1`` (all ones for ``reduction="none"``).

    Examples
    --------
    >>> loss, grad = binary_cross_entropy_with_grad([0.25, 0.5], [0.0, 1.0], reduction="sum")
    >>> grad
    array([ 1.33333333, -2.        ])
    """
    if weight is None and (xy := _fast(input, target)):
        loss, grad = _native.binary_cross_entropy_with_grad(*xy, None, reduction, out)
        return finish(loss, xy[0].dtype), grad
    x, y, w, _, dtype = _args(input, target, weight, None)
    kout = kernel_out(dtype, out)
    loss, grad = _native.binary_cross_entropy_with_grad(x, y, w, reduction, kout)
    return finish(loss, dtype), finish_out(grad, dtype, out)


def binary_cross_entropy_with_logits_with_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    *,
    out: NDArray[Any] | None = None,
) -> tuple[Loss, NDArray[Any]]:
    """``(binary_cross_entropy_with_logits(...), ..._backward(1, ...))`` in one pass over the input.

    The gradient is for ``grad_output = 1`` (all ones for ``reduction="none"``).

    Examples
    --------
    >>> loss, grad = binary_cross_entropy_with_logits_with_grad([0.0, 2.0], [1.0, 0.0])
    >>> grad.round(4)
    array([-0.25  ,  0.4404])
    """
    if weight is None and pos_weight is None and (xy := _fast(input, target)):
        loss, grad = _native.binary_cross_entropy_with_logits_with_grad(
            *xy, None, None, reduction, out
        )
        return finish(loss, xy[0].dtype), grad
    x, y, w, pw, dtype = _args(input, target, weight, pos_weight)
    kout = kernel_out(dtype, out)
    loss, grad = _native.binary_cross_entropy_with_logits_with_grad(x, y, w, pw, reduction, kout)
    return finish(loss, dtype), finish_out(grad, dtype, out)
