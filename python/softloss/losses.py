"""Negative log-likelihood and cross-entropy (class or probability targets), with gradients."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from softloss import _native
from softloss._prep import (
    class_target,
    finish,
    finish_out,
    float_input,
    grad_arg,
    is_class_target,
    is_native,
    is_native_grad,
    is_native_target,
    kernel_out,
    like,
    loss_out,
)

__all__ = [
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_with_grad",
    "nll_loss",
    "nll_loss_backward",
]

Reduction = Literal["none", "mean", "sum"]
#: What a loss returns: a NumPy scalar of the input dtype (mean, sum) or an array (none).
Loss = Any


def _weight(weight: ArrayLike | None, dtype: np.dtype[Any]) -> NDArray[Any] | None:
    return None if weight is None else like(weight, dtype, "weight")


def _fast_backward(
    grad_output: ArrayLike, input: ArrayLike, target: ArrayLike, weight: ArrayLike | None
) -> tuple[NDArray[Any] | float, NDArray[Any], NDArray[Any]] | None:
    """``(grad_output, input, target)`` when a class-loss backward takes them as they are (no
    weight, native input, int64 target, a Python float or input-dtype grad_output); else None."""
    if (
        weight is None
        and is_native(input)
        and is_native_target(target)
        and is_native_grad(grad_output, input.dtype)
    ):
        return grad_output, input, target
    return None


def _ce_target(target: ArrayLike, dtype: np.dtype[Any]) -> NDArray[Any]:
    if target is not None and is_class_target(target):
        return class_target(target)
    return like(target, dtype, "target")


def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    *,
    axis: int | None = None,
    out: NDArray[Any] | None = None,
) -> Loss:
    r"""Negative log-likelihood of log-probabilities: :math:`l_i = -w_{t_i}\, x_{i, t_i}`.

    Parameters
    ----------
    input : array_like
        Log-probabilities: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
    target : array_like of int
        Class indices of any integer dtype, shaped like ``input`` without its class axis.
    weight : array_like, optional
        Per-class weights, shape ``(C,)``.
    ignore_index : int, default -100
        Targets equal to it contribute nothing (checked before the range check).
    reduction : {"none", "mean", "sum"}
        ``mean`` divides by the sum of the targets' weights (NaN when every target is ignored).
    axis : int, optional
        The class axis; ``None`` is PyTorch's convention (1, or 0 for 1-D input).
    out : ndarray, optional
        For ``reduction="none"`` only: C-contiguous, writeable, shaped like ``target``, of the
        result's dtype; receives the per-element losses and is returned. It may overlap any
        argument.

    Returns
    -------
    numpy scalar of the input dtype (mean, sum) or ndarray shaped like ``target`` (none).

    Examples
    --------
    >>> logp = np.log([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    >>> float(nll_loss(logp, [0, 2]).round(6))
    0.289909
    """
    if weight is None and is_native(input) and is_native_target(target):
        loss = _native.nll_loss(input, target, None, ignore_index, reduction, axis, out)
        return finish(loss, input.dtype)
    x, dtype = float_input(input)
    t, w = class_target(target), _weight(weight, x.dtype)
    loss = _native.nll_loss(x, t, w, ignore_index, reduction, axis, loss_out(dtype, reduction, out))
    return finish_out(loss, dtype, out)


def nll_loss_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    *,
    axis: int | None = None,
    out: NDArray[Any] | None = None,
) -> NDArray[Any]:
    r"""Gradient of :func:`nll_loss`: zero except :math:`-w_{t_i} s_i` at each target.

    ``s_i`` is ``grad_output[i]`` (none), ``grad_output`` (sum) or ``grad_output / W`` (mean);
    ``grad_output`` is a scalar for mean/sum and shaped like the loss for none. ``out``, if
    given, receives the gradient (shaped like ``input``, which it may overwrite).
    """
    if fast := _fast_backward(grad_output, input, target, weight):
        return _native.nll_loss_backward(*fast, None, ignore_index, reduction, axis, out)
    x, dtype = float_input(input)
    go = grad_arg(grad_output, x.dtype)
    t, w = class_target(target), _weight(weight, x.dtype)
    grad = _native.nll_loss_backward(
        go, x, t, w, ignore_index, reduction, axis, kernel_out(dtype, out)
    )
    return finish_out(grad, dtype, out)  # type: ignore[no-any-return]


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    axis: int | None = None,
    out: NDArray[Any] | None = None,
) -> Loss:
    r"""Cross-entropy from logits: ``nll_loss(log_softmax(input, axis), target, ...)``.

    Parameters
    ----------
    input : array_like
        Logits (unnormalised scores), ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
    target : array_like
        Integer class indices shaped like ``input`` without the class axis, or float
        probabilities shaped like ``input`` (then ``mean`` divides by the number of rows and
        ``ignore_index`` must stay negative).
    weight, ignore_index, reduction, axis, out
        As :func:`nll_loss`.
    label_smoothing : float in [0, 1]
        Mixes the target with the uniform distribution: ``(1 - eps) y + eps / C``.

    Examples
    --------
    >>> scores = np.array([[5.0, 4.0, 2.0], [4.0, 2.0, 8.0], [4.0, 4.0, 1.0]])
    >>> float(cross_entropy(scores, [0, 2, 1]).round(6))
    0.362443
    """
    if weight is None and is_native(input) and is_native_target(target):
        loss = _native.cross_entropy(
            input, target, None, ignore_index, reduction, label_smoothing, axis, out
        )
        return finish(loss, input.dtype)
    x, dtype = float_input(input)
    t, w = _ce_target(target, x.dtype), _weight(weight, x.dtype)
    kout = loss_out(dtype, reduction, out)
    loss = _native.cross_entropy(x, t, w, ignore_index, reduction, label_smoothing, axis, kout)
    return finish_out(loss, dtype, out)


def cross_entropy_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    axis: int | None = None,
    out: NDArray[Any] | None = None,
) -> NDArray[Any]:
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    Class targets: :math:`s_i (p_i \sum_c q_{ic} - q_i)` with
    :math:`q_{ic} = (1 - \epsilon) w_{t_i} [c = t_i] + (\epsilon / C) w_c`; without smoothing
    and weights that is ``p - onehot(t)`` times ``s_i``. ``out``, if given, receives the gradient
    (shaped like ``input``, which it may overwrite).
    """
    if fast := _fast_backward(grad_output, input, target, weight):
        return _native.cross_entropy_backward(
            *fast, None, ignore_index, reduction, label_smoothing, axis, out
        )
    x, dtype = float_input(input)
    go = grad_arg(grad_output, x.dtype)
    t, w = _ce_target(target, x.dtype), _weight(weight, x.dtype)
    kout = kernel_out(dtype, out)
    grad = _native.cross_entropy_backward(
        go, x, t, w, ignore_index, reduction, label_smoothing, axis, kout
    )
    return finish_out(grad, dtype, out)  # type: ignore[no-any-return]


def cross_entropy_with_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    axis: int | None = None,
    out: NDArray[Any] | None = None,
) -> tuple[Loss, NDArray[Any]]:
    """``(cross_entropy(...), cross_entropy_backward(1, ...))`` in one pass over the logits.

    The gradient is for ``grad_output = 1`` (all ones for ``reduction="none"``). ``out``, if
    given, receives the gradient (shaped like ``input``): ``out=input`` overwrites the logits
    with their gradient, without a second array of their size.

    Examples
    --------
    >>> loss, grad = cross_entropy_with_grad([[2.0, 0.0]], [0], reduction="sum")
    >>> grad.round(4)
    array([[-0.1192,  0.1192]])
    """
    if weight is None and is_native(input) and is_native_target(target):
        loss, grad = _native.cross_entropy_with_grad(
            input, target, None, ignore_index, reduction, label_smoothing, axis, out
        )
        return finish(loss, input.dtype), grad
    x, dtype = float_input(input)
    t, w = _ce_target(target, x.dtype), _weight(weight, x.dtype)
    loss, grad = _native.cross_entropy_with_grad(
        x, t, w, ignore_index, reduction, label_smoothing, axis, kernel_out(dtype, out)
    )
    return finish(loss, dtype), finish_out(grad, dtype, out)
