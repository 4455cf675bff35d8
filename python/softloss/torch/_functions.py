"""The ``torch.autograd.Function`` classes behind :mod:`softloss.torch`, and their helpers.

Tensors reach softloss's kernels as NumPy views (``Tensor.numpy()``, no copy, any strides) and the
kernels' new arrays come back through ``torch.from_numpy``. ``Function.apply`` takes positional
arguments only; the checked, keyword-taking entry points are the functions in the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray

from softloss import functional as _sf

#: A ``torch.Tensor`` (``Any``, so that type-checking does not need PyTorch installed).
Tensor = Any
Reduction = Literal["none", "mean", "sum"]
_Fn = TypeVar("_Fn", bound=Callable[..., Any])

if TYPE_CHECKING:

    class _Function:
        """What the type checker sees of ``torch.autograd.Function``."""

        @classmethod
        def apply(cls, *args: Any) -> Any: ...

    def _once(fn: _Fn) -> _Fn: ...

else:
    _Function = torch.autograd.Function
    _once = torch.autograd.function.once_differentiable


def check_tensor(obj: object, name: str, kind: str = "float") -> Tensor:
    """``obj`` checked: a dense CPU tensor, float32/float64 (``kind="float"``) or integer."""
    if not isinstance(obj, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(obj).__name__}")
    if obj.device.type != "cpu" or obj.layout != torch.strided:
        raise TypeError(
            f"{name} must be a dense CPU tensor, got a {obj.layout} tensor on {obj.device}: "
            "softloss computes on the CPU (use .cpu())"
        )
    if kind == "float" and obj.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"{name} must be a float32 or float64 tensor, got {obj.dtype} (convert with .float())"
        )
    if kind == "int" and (obj.is_floating_point() or obj.is_complex() or obj.dtype == torch.bool):
        raise TypeError(f"{name} must be a tensor of integer class indices, got {obj.dtype}")
    return obj


def check_args(input: Tensor, target: Tensor, target_kind: str, **optional: Tensor | None) -> None:
    check_tensor(input, "input")
    check_tensor(target, "target", target_kind)
    for name, t in optional.items():
        if t is not None:
            check_tensor(t, name)


def _np(t: Tensor | None) -> Any:
    """A NumPy view of a CPU tensor's memory (no copy, whatever its strides); None for None."""
    return None if t is None else t.detach().resolve_neg().numpy()


def _out(result: object) -> Tensor:
    """A kernel result (new array or NumPy scalar) as a tensor sharing its memory."""
    return torch.from_numpy(np.asarray(result))


def _refuse(ctx: Any, *names: str) -> None:
    """PyTorch's error for a gradient it does not implement either (weights are inputs 2, 3)."""
    for index, name in enumerate(names, start=2):
        if ctx.needs_input_grad[index]:
            raise NotImplementedError(
                f"softloss.torch: the derivative for '{name}' is not implemented; detach {name}"
            )


def _factor(grad_output: Tensor, reduction: str, count: int) -> NDArray[Any]:
    """``grad_output`` as the factor of each element's loss (``mean`` divides by ``count``)."""
    g: NDArray[Any] = _np(grad_output)
    if reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            g = g / np.asarray(count, dtype=g.dtype)
    return g


def _target_grad(g: NDArray[Any], w: Any, x: NDArray[Any], target: Tensor) -> Tensor:
    g = g if w is None else g * w
    return _out(g.astype(x.dtype, copy=False)).to(target.dtype)


class SoftmaxFunction(_Function):
    """Softmax whose backward is :func:`softloss.softmax_backward` on the saved output."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, dim: int) -> Tensor:
        out = _out(_sf.softmax(_np(input), dim))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_once
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return _out(_sf.softmax_backward(_np(grad_output), _np(out), ctx.dim)), None


class LogSoftmaxFunction(_Function):
    """Log-softmax whose backward is :func:`softloss.log_softmax_backward` on the saved output."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, dim: int) -> Tensor:
        out = _out(_sf.log_softmax(_np(input), dim))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_once
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return _out(_sf.log_softmax_backward(_np(grad_output), _np(out), ctx.dim)), None


class NLLLossFunction(_Function):
    """NLL loss whose backward is :func:`softloss.nll_loss_backward`.

    ``apply(input, target, weight, (ignore_index, reduction, dim))``.
    """

    @staticmethod
    def forward(
        ctx: Any, input: Tensor, target: Tensor, weight: Tensor | None, opts: tuple[Any, ...]
    ) -> Tensor:
        ctx.opts = opts
        ctx.save_for_backward(input, target, weight)
        ignore_index, reduction, dim = opts
        x, t, w = _np(input), _np(target), _np(weight)
        return _out(_sf.nll_loss(x, t, w, ignore_index, reduction, axis=dim))

    @staticmethod
    @_once
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        _refuse(ctx, "weight")
        ignore_index, reduction, dim = ctx.opts
        x, t, w = (_np(a) for a in ctx.saved_tensors)
        grad = None
        if ctx.needs_input_grad[0]:
            g = _np(grad_output)
            grad = _out(_sf.nll_loss_backward(g, x, t, w, ignore_index, reduction, axis=dim))
        return grad, None, None, None


class CrossEntropyFunction(_Function):
    """Cross-entropy: the fused kernel :func:`softloss.cross_entropy_with_grad` when ``fused``.

    ``apply(input, target, weight, (ignore_index, reduction, label_smoothing, dim, fused))``;
    backward scales the saved gradient by ``grad_output``.
    """

    @staticmethod
    def forward(
        ctx: Any, input: Tensor, target: Tensor, weight: Tensor | None, opts: tuple[Any, ...]
    ) -> Tensor:
        *args, dim, fused = opts
        ctx.opts = opts
        x, t, w = _np(input), _np(target), _np(weight)
        grad = None
        if fused:
            loss, g = _sf.cross_entropy_with_grad(x, t, w, *args, axis=dim)
            grad = _out(g)
        else:
            loss = _sf.cross_entropy(x, t, w, *args, axis=dim)
        ctx.save_for_backward(input, target, weight, grad)
        return _out(loss)

    @staticmethod
    @_once
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        _refuse(ctx, "weight")
        input, target, weight, grad = ctx.saved_tensors
        *args, dim, _ = ctx.opts
        _, reduction, smoothing = args
        x, w = _np(input), _np(weight)
        axis = (1 if x.ndim >= 2 else 0) if dim is None else dim % x.ndim
        grad_input = grad_target = None
        if ctx.needs_input_grad[0]:
            if grad is None:  # not recorded with the fused kernel: run the backward kernel
                g = _sf.cross_entropy_backward(_np(grad_output), x, _np(target), w, *args, axis=dim)
                grad_input = _out(g)
            elif bool((grad_output == 1).all()):  # loss.backward(): the kernel's gradient
                grad_input = grad
            elif reduction != "none":
                grad_input = grad * grad_output
            else:  # one factor per sample, broadcast along the class dim
                grad_input = grad * grad_output.unsqueeze(axis)
        if ctx.needs_input_grad[1]:  # probability targets: d loss / d y = -(1 - eps) w s log p
            s = _factor(grad_output, reduction, x.size // x.shape[axis] if x.shape[axis] else 0)
            s = (np.expand_dims(s, axis) if reduction == "none" else s) * (smoothing - 1.0)
            shape = [-1 if i == axis else 1 for i in range(x.ndim)]
            w = None if w is None else w.reshape(shape)
            grad_target = _target_grad(s * _sf.log_softmax(x, axis), w, x, target)
        return grad_input, grad_target, None, None


class BinaryCrossEntropyFunction(_Function):
    """BCE on probabilities whose backward is :func:`softloss.binary_cross_entropy_backward`."""

    @staticmethod
    def forward(
        ctx: Any, input: Tensor, target: Tensor, weight: Tensor | None, reduction: Reduction
    ) -> Tensor:
        ctx.reduction = reduction
        ctx.save_for_backward(input, target, weight)
        x, y, w = _np(input), _np(target), _np(weight)
        return _out(_sf.binary_cross_entropy(x, y, w, reduction))

    @staticmethod
    @_once
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        _refuse(ctx, "weight")
        target = ctx.saved_tensors[1]
        x, y, w = (_np(a) for a in ctx.saved_tensors)
        grad_input = grad_target = None
        if ctx.needs_input_grad[0]:
            g = _sf.binary_cross_entropy_backward(_np(grad_output), x, y, w, ctx.reduction)
            grad_input = _out(g)
        if ctx.needs_input_grad[1]:  # d loss / d y = -w s logit(x), unclamped as in PyTorch
            s = _factor(grad_output, ctx.reduction, x.size)
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_target = _target_grad(s * (np.log1p(-x) - np.log(x)), w, x, target)
        return grad_input, grad_target, None, None


class BinaryCrossEntropyWithLogitsFunction(_Function):
    """BCE on logits, backward :func:`softloss.binary_cross_entropy_with_logits_backward`."""

    @staticmethod
    def forward(
        ctx: Any,
        input: Tensor,
        target: Tensor,
        weight: Tensor | None,
        pos_weight: Tensor | None,
        reduction: Reduction,
    ) -> Tensor:
        ctx.reduction = reduction
        ctx.save_for_backward(input, target, weight, pos_weight)
        x, y, w, pw = _np(input), _np(target), _np(weight), _np(pos_weight)
        return _out(_sf.binary_cross_entropy_with_logits(x, y, w, pw, reduction))

    @staticmethod
    @_once
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        _refuse(ctx, "weight", "pos_weight")
        target = ctx.saved_tensors[1]
        x, y, w, pw = (_np(a) for a in ctx.saved_tensors)
        grad_input = grad_target = None
        if ctx.needs_input_grad[0]:
            g = _np(grad_output)
            kernel = _sf.binary_cross_entropy_with_logits_backward
            grad_input = _out(kernel(g, x, y, w, pw, ctx.reduction))
        if ctx.needs_input_grad[1]:  # d loss / d y = w s (pw log(1 + e^-x) - log(1 + e^x))
            s = _factor(grad_output, ctx.reduction, x.size)
            dy = -x if pw is None else pw * np.logaddexp(0, -x) - np.logaddexp(0, x)
            grad_target = _target_grad(s * dy, w, x, target)
        return grad_input, grad_target, None, None, None
