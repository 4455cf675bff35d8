"""softmax and log_softmax along any axis, and their backward passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from softloss import _native
from softloss._prep import finish_out, float_input, is_native, kernel_out, like

__all__ = ["log_softmax", "log_softmax_backward", "softmax", "softmax_backward"]


def _run(
    kernel: Callable[..., NDArray[Any]],
    arrays: list[NDArray[Any]],
    dtype: np.dtype[Any],
    axis: int,
    out: NDArray[Any] | None,
) -> NDArray[Any]:
    result = kernel(*arrays, axis, kernel_out(dtype, out))
    return finish_out(result, dtype, out)  # type: ignore[no-any-return]


def softmax(input: ArrayLike, axis: int = -1, *, out: NDArray[Any] | None = None) -> NDArray[Any]:
    r"""Softmax along ``axis``: :math:`p_c = e^{x_c - m} / \sum_k e^{x_k - m}`, ``m`` the row max.

    Parameters
    ----------
    input : array_like
        float16/32/64 (float16 computed in float32 and rounded once); integer or bool input is
        converted to float64. Any memory layout.
    axis : int, default -1
        The axis the probabilities sum to 1 along.
    out : ndarray, optional
        C-contiguous, writeable, same shape and dtype as the result; may be ``input`` itself.

    Returns
    -------
    ndarray
        A new C-contiguous array (or ``out``). Rows holding +inf or NaN, or only -inf, are NaN.

    Examples
    --------
    >>> softmax([1010.0, 1000.0, 990.0])
    array([9.99954600e-01, 4.53978686e-05, 2.06106005e-09])
    """
    if is_native(input):
        return _native.softmax(input, axis, out)
    x, dtype = float_input(input, ints_to_float64=True)
    return _run(_native.softmax, [x], dtype, axis, out)


def log_softmax(
    input: ArrayLike, axis: int = -1, *, out: NDArray[Any] | None = None
) -> NDArray[Any]:
    r"""Log-softmax along ``axis``: :math:`(x_c - m) - \log \sum_k e^{x_k - m}`.

    Subtracting the max before the log-sum keeps precision for large logits with small
    differences. Parameters and special values as :func:`softmax` (-inf entries among finite
    ones give -inf).

    Examples
    --------
    >>> log_softmax([0.3, 2.9, 4.0]).round(4)
    array([-4.0057, -1.4057, -0.3057])
    """
    if is_native(input):
        return _native.log_softmax(input, axis, out)
    x, dtype = float_input(input, ints_to_float64=True)
    return _run(_native.log_softmax, [x], dtype, axis, out)


def _backward(
    kernel: Callable[..., NDArray[Any]],
    grad_output: ArrayLike,
    output: ArrayLike,
    axis: int,
    out: NDArray[Any] | None,
) -> NDArray[Any]:
    if is_native(output) and type(grad_output) is np.ndarray and grad_output.dtype is output.dtype:
        return kernel(grad_output, output, axis, out)
    y, dtype = float_input(output, "output")
    go = like(grad_output, y.dtype, "grad_output")
    return _run(kernel, [go, y], dtype, axis, out)


def softmax_backward(
    grad_output: ArrayLike, output: ArrayLike, axis: int = -1, *, out: NDArray[Any] | None = None
) -> NDArray[Any]:
    r"""Gradient of :func:`softmax` from its OUTPUT ``p``: :math:`p \odot (g - \sum_c g_c p_c)`.

    Examples
    --------
    >>> p = softmax([1.0, 2.0, 3.0])
    >>> softmax_backward([0.0, 0.0, 1.0], p).round(4)
    array([-0.0599, -0.1628,  0.2227])
    """
    return _backward(_native.softmax_backward, grad_output, output, axis, out)


def log_softmax_backward(
    grad_output: ArrayLike, output: ArrayLike, axis: int = -1, *, out: NDArray[Any] | None = None
) -> NDArray[Any]:
    r"""Gradient of :func:`log_softmax` from its OUTPUT: :math:`g - e^{\log p} \sum_c g_c`.

    Examples
    --------
    >>> lp = log_softmax([1.0, 2.0, 3.0])
    >>> log_softmax_backward([0.0, 0.0, 1.0], lp).round(4)
    array([-0.09  , -0.2447,  0.3348])
    """
    return _backward(_native.log_softmax_backward, grad_output, output, axis, out)
