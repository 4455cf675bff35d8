"""Module-style wrappers around :mod:`softloss.functional`, for people coming from ``torch.nn``.

Each class is configured once with the keywords of its function, called like the torch module
(``Softmax()(x)``, ``CrossEntropyLoss()(x, t)``) and keeps what its backward needs from the last
call, so ``.backward(grad_output=1.0)`` returns the gradient with respect to that call's input.
There is no autograd: the saved arrays are references, so do not modify them in place between the
call and ``.backward()``.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from softloss.functional import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    cross_entropy,
    cross_entropy_backward,
    log_softmax,
    log_softmax_backward,
    nll_loss,
    nll_loss_backward,
    softmax,
    softmax_backward,
)

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "LogSoftmax",
    "NLLLoss",
    "Softmax",
]

Reduction: TypeAlias = Literal["none", "mean", "sum"]
FloatArray: TypeAlias = NDArray[np.floating[Any]]
LossValue: TypeAlias = "FloatArray | np.floating[Any]"

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _grad_like(grad_output: ArrayLike, result: FloatArray) -> ArrayLike:
    """A Python-number ``grad_output`` in the result's dtype, broadcast to its shape.

    Arrays are passed through untouched, so the functional API validates their shape and dtype.
    """
    if isinstance(grad_output, np.ndarray):
        return grad_output
    go = np.asarray(grad_output, dtype=result.dtype)
    return np.broadcast_to(go, result.shape) if go.ndim == 0 else go


def _no_call(obj: object) -> RuntimeError:
    name = type(obj).__name__
    return RuntimeError(f"{name}.backward() called before {name} was called on an input")


def _repr(obj: object, options: dict[str, str]) -> str:
    """``Name(key=value, ...)`` from already formatted values."""
    return f"{type(obj).__name__}({', '.join(f'{k}={v}' for k, v in options.items())})"


class Softmax:
    """Softmax along ``axis``, as ``torch.nn.Softmax``; see :func:`softloss.softmax`.

    Parameters
    ----------
    axis : int, default -1
        The axis the probabilities sum to one along.

    Examples
    --------
    >>> import numpy as np
    >>> from softloss.nn import Softmax
    >>> m = Softmax()
    >>> m(np.array([0.3, 2.9, 4.0])).round(4)
    array([0.0182, 0.2452, 0.7366])
    >>> m.backward(np.array([1.0, 0.0, 0.0])).round(4)
    array([ 0.0179, -0.0045, -0.0134])
    """

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis
        self._output: FloatArray | None = None

    def __call__(self, input: ArrayLike) -> FloatArray:
        self._output = softmax(input, self.axis)
        return self._output

    def backward(self, grad_output: ArrayLike = 1.0) -> FloatArray:
        """Gradient w.r.t. the last input: ``p * (grad_output - sum(grad_output * p))``."""
        if self._output is None:
            raise _no_call(self)
        return softmax_backward(_grad_like(grad_output, self._output), self._output, self.axis)

    def __repr__(self) -> str:
        return _repr(self, {"axis": repr(self.axis)})


class LogSoftmax:
    """Log-softmax along ``axis``, as ``torch.nn.LogSoftmax``; see :func:`softloss.log_softmax`.

    Parameters
    ----------
    axis : int, default -1
        The axis the normalisation runs along.

    Examples
    --------
    >>> import numpy as np
    >>> from softloss.nn import LogSoftmax
    >>> m = LogSoftmax()
    >>> m(np.array([0.3, 2.9, 4.0])).round(4)
    array([-4.0057, -1.4057, -0.3057])
    >>> m.backward(np.array([1.0, 0.0, 0.0])).round(4)
    array([ 0.9818, -0.2452, -0.7366])
    """

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis
        self._output: FloatArray | None = None

    def __call__(self, input: ArrayLike) -> FloatArray:
        self._output = log_softmax(input, self.axis)
        return self._output

    def backward(self, grad_output: ArrayLike = 1.0) -> FloatArray:
        """Gradient w.r.t. the last input: ``grad_output - exp(output) * sum(grad_output)``."""
        if self._output is None:
            raise _no_call(self)
        go = _grad_like(grad_output, self._output)
        return log_softmax_backward(go, self._output, self.axis)

    def __repr__(self) -> str:
        return _repr(self, {"axis": repr(self.axis)})


class _Loss:
    """Shared state of the losses: the reduction and the last call's input, target and loss."""

    def __init__(self, reduction: Reduction) -> None:
        _check_reduction(reduction)
        self.reduction: Reduction = reduction
        self._saved: tuple[ArrayLike, ArrayLike, FloatArray] | None = None

    def _save(self, input: ArrayLike, target: ArrayLike, loss: LossValue) -> LossValue:
        self._saved = (input, target, np.asarray(loss))
        return loss

    def _last(self, grad_output: ArrayLike) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
        if self._saved is None:
            raise _no_call(self)
        input, target, loss = self._saved
        return _grad_like(grad_output, loss), input, target


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities, as ``torch.nn.NLLLoss``.

    See :func:`softloss.nll_loss` for the shapes and the loss; ``axis=None`` means class axis 1
    (0 for 1-D input), as in PyTorch.

    Parameters
    ----------
    weight : array_like, optional
        Per-class weights, shape ``(C,)``.
    ignore_index : int, default -100
        Target value that contributes neither loss, gradient nor weight.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    axis : int, optional
        Class axis of the input.

    Examples
    --------
    >>> import numpy as np
    >>> from softloss import log_softmax
    >>> from softloss.nn import NLLLoss
    >>> logp = log_softmax(np.array([[5.0, 4.0, 2.0], [4.0, 2.0, 8.0]]), axis=1)
    >>> loss = NLLLoss(weight=np.array([1.0, 2.0, 0.5]))
    >>> round(float(loss(logp, np.array([0, 2]))), 4)  # sum of w[t] * -logp[t] / sum of w[t]
    0.2395
    >>> loss.backward().round(4)
    array([[-0.6667,  0.    ,  0.    ],
           [ 0.    ,  0.    , -0.3333]])
    """

    def __init__(
        self,
        weight: ArrayLike | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        *,
        axis: int | None = None,
    ) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index
        self.axis = axis

    def __call__(self, input: ArrayLike, target: ArrayLike) -> LossValue:
        loss = nll_loss(
            input, target, self.weight, self.ignore_index, self.reduction, axis=self.axis
        )
        return self._save(input, target, loss)

    def backward(self, grad_output: ArrayLike = 1.0) -> FloatArray:
        """Gradient w.r.t. the last input; see :func:`softloss.nll_loss_backward`."""
        return nll_loss_backward(
            *self._last(grad_output), self.weight, self.ignore_index, self.reduction, axis=self.axis
        )

    def __repr__(self) -> str:
        return _repr(self, _options(self, ignore_index=-100, axis=None))


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits against classes or probabilities, as ``torch.nn.CrossEntropyLoss``.

    See :func:`softloss.cross_entropy`; ``axis=None`` means class axis 1 (0 for 1-D input).

    Parameters
    ----------
    weight : array_like, optional
        Per-class weights, shape ``(C,)``.
    ignore_index : int, default -100
        Target value that contributes neither loss, gradient nor weight (class targets only).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    label_smoothing : float, default 0.0
        Mix ``label_smoothing / C`` of the uniform distribution into the target; in ``[0, 1]``.
    axis : int, optional
        Class axis of the input.

    Examples
    --------
    >>> import numpy as np
    >>> from softloss.nn import CrossEntropyLoss
    >>> loss = CrossEntropyLoss(reduction="sum")
    >>> scores = np.array([[5.0, 4.0, 2.0], [4.0, 2.0, 8.0]])
    >>> round(float(loss(scores, np.array([0, 2]))), 4)
    0.3696
    >>> loss.backward().round(4)  # softmax(scores) minus one at each target
    array([[-0.2946,  0.2595,  0.0351],
           [ 0.0179,  0.0024, -0.0204]])
    """

    def __init__(
        self,
        weight: ArrayLike | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        *,
        axis: int | None = None,
    ) -> None:
        super().__init__(reduction)
        if not isinstance(label_smoothing, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"label_smoothing must be a number, got {type(label_smoothing).__name__}"
            )
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.weight = weight
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.axis = axis

    def __call__(self, input: ArrayLike, target: ArrayLike) -> LossValue:
        loss = cross_entropy(
            input,
            target,
            self.weight,
            self.ignore_index,
            self.reduction,
            self.label_smoothing,
            axis=self.axis,
        )
        return self._save(input, target, loss)

    def backward(self, grad_output: ArrayLike = 1.0) -> FloatArray:
        """Gradient w.r.t. the last input; see :func:`softloss.cross_entropy_backward`."""
        return cross_entropy_backward(
            *self._last(grad_output),
            self.weight,
            self.ignore_index,
            self.reduction,
            self.label_smoothing,
            axis=self.axis,
        )

    def __repr__(self) -> str:
        return _repr(self, _options(self, ignore_index=-100, label_smoothing=0.0, axis=None))


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities, as ``torch.nn.BCELoss``.

    See :func:`softloss.binary_cross_entropy`; each log is clamped at -100.

    Parameters
    ----------
    weight : array_like, optional
        Element weights, broadcast to the input's shape.
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Examples
    --------
    >>> import numpy as np
    >>> from softloss.nn import BCELoss
    >>> loss = BCELoss(reduction="none")
    >>> loss(np.array([0.2, 0.5, 0.9]), np.array([0.0, 1.0, 1.0])).round(4)
    array([0.2231, 0.6931, 0.1054])
    >>> loss.backward().round(4)  # (x - y) / (x (1 - x))
    array([ 1.25  , -2.    , -1.1111])
    >>> loss(np.array([0.0]), np.array([1.0]))  # log(0) is clamped to -100
    array([100.])
    """

    def __init__(self, weight: ArrayLike | None = None, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def __call__(self, input: ArrayLike, target: ArrayLike) -> LossValue:
        loss = binary_cross_entropy(input, target, self.weight, self.reduction)
        return self._save(input, target, loss)

    def backward(self, grad_output: ArrayLike = 1.0) -> FloatArray:
        """Gradient w.r.t. the last input; see :func:`softloss.binary_cross_entropy_backward`."""
        return binary_cross_entropy_backward(*self._last(grad_output), self.weight, self.reduction)

    def __repr__(self) -> str:
        return _repr(self, _options(self))


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits (a stable sigmoid + BCE), as ``torch.nn.BCEWithLogitsLoss``.

    See :func:`softloss.binary_cross_entropy_with_logits`.

    Parameters
    ----------
    weight : array_like, optional
        Element weights, broadcast to the input's shape.
    pos_weight : array_like, optional
        Weight of the positive term, typically per class with shape ``(C,)``.
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Examples
    --------
    >>> import numpy as np
    >>> from softloss.nn import BCEWithLogitsLoss
    >>> loss = BCEWithLogitsLoss(pos_weight=np.array([2.0]))
    >>> round(float(loss(np.array([0.0, 2.0]), np.array([1.0, 0.0]))), 4)
    1.7566
    >>> loss.backward().round(4)  # ((1 + (pw - 1) y) sigmoid(x) - pw y) / numel
    array([-0.5   ,  0.4404])
    """

    def __init__(
        self,
        weight: ArrayLike | None = None,
        pos_weight: ArrayLike | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.pos_weight = pos_weight

    def __call__(self, input: ArrayLike, target: ArrayLike) -> LossValue:
        loss = binary_cross_entropy_with_logits(
            input, target, self.weight, self.pos_weight, self.reduction
        )
        return self._save(input, target, loss)

    def backward(self, grad_output: ArrayLike = 1.0) -> FloatArray:
        """Gradient w.r.t. the last input; see :func:`binary_cross_entropy_with_logits_backward`."""
        return binary_cross_entropy_with_logits_backward(
            *self._last(grad_output), self.weight, self.pos_weight, self.reduction
        )

    def __repr__(self) -> str:
        return _repr(self, _options(self))


def _options(loss: _Loss, **defaults: object) -> dict[str, str]:
    """``reduction`` always, then the options that differ from their defaults (as torch shows them).

    Weights are shown when given, by shape only (their values could be long): ``<array (3,)>``.
    """
    options = {"reduction": repr(loss.reduction)}
    for name in ("weight", "pos_weight"):
        value = getattr(loss, name, None)
        if value is not None:
            options[name] = f"<array {np.shape(value)}>"
    for name, default in defaults.items():
        value = getattr(loss, name)
        if value != default:
            options[name] = repr(value)
    return options
