"""PyTorch autograd adapter: softloss's kernels behind ``torch.nn.functional``'s names.

``pip install softloss[torch]``; ``import softloss`` never imports PyTorch, this module does. Each
function takes and returns tensors and is a :class:`torch.autograd.Function` whose backward runs
softloss's backward kernels (cross-entropy keeps the gradient of its fused forward kernel).

- ``dim``, as in ``torch.nn.functional``, not ``axis``; the losses take an extra keyword-only
  ``dim`` for the class dimension (``None``: PyTorch's, 1 or 0 for 1-D input). Keywords after
  ``weight`` are keyword-only: PyTorch's positional order holds the deprecated ``size_average`` and
  ``reduce`` (and puts ``pos_weight`` last), so a positional call written for it fails loudly.
- Dense CPU tensors only (``TypeError`` otherwise), and every floating tensor float32 or float64:
  float16 and bfloat16 raise ``TypeError`` rather than being upcast silently (``softmax`` and
  ``log_softmax`` take ``dtype=``). Class targets may have any integer dtype.
- Zero-copy: the kernels read NumPy views of the tensors' memory, whatever their strides, and the
  results wrap the kernels' new arrays (``torch.from_numpy``).
- Gradients flow to ``input`` (kernels) and to float targets (binary cross-entropies, probability
  targets of ``cross_entropy``: PyTorch's closed forms). ``weight`` and ``pos_weight`` are not
  differentiable: ``backward`` raises ``NotImplementedError``, a ``RuntimeError`` like PyTorch's
  "the derivative for 'weight' is not implemented", when one requires grad. No double backward.
"""

from __future__ import annotations

from typing import Any

try:
    import torch
except ImportError as exc:
    raise ImportError(
        "softloss.torch needs PyTorch, which is not installed: pip install softloss[torch]"
    ) from exc

from softloss.torch._functions import (
    BinaryCrossEntropyFunction,
    BinaryCrossEntropyWithLogitsFunction,
    CrossEntropyFunction,
    LogSoftmaxFunction,
    NLLLossFunction,
    Reduction,
    SoftmaxFunction,
    Tensor,
    check_args,
    check_tensor,
)

__all__ = [
    "BinaryCrossEntropyFunction",
    "BinaryCrossEntropyWithLogitsFunction",
    "CrossEntropyFunction",
    "LogSoftmaxFunction",
    "NLLLossFunction",
    "SoftmaxFunction",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "log_softmax",
    "nll_loss",
    "softmax",
]


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    r"""Softmax along ``dim``, as ``torch.nn.functional.softmax``, differentiable.

    Parameters
    ----------
    input : torch.Tensor
        A float32 or float64 CPU tensor of any strides.
    dim : int
        The dimension the probabilities sum to 1 along (required; PyTorch's implicit choice is
        deprecated).
    dtype : torch.dtype, optional
        Cast ``input`` to it first (through PyTorch, so the cast is differentiable too).

    Returns
    -------
    torch.Tensor
        Same shape and dtype; its memory is the kernel's result array.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    >>> p = softmax(x, dim=1)
    >>> p
    tensor([[0.0900, 0.2447, 0.6652]], grad_fn=<SoftmaxFunctionBackward>)
    >>> p[0, 2].backward()
    >>> x.grad
    tensor([[-0.0599, -0.1628,  0.2227]])
    """
    if dtype is not None:
        input = check_tensor(input, "input", "any").to(dtype)
    return SoftmaxFunction.apply(check_tensor(input, "input"), dim)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Log-softmax along ``dim``, as ``torch.nn.functional.log_softmax``; see :func:`softmax`.

    Examples
    --------
    >>> log_softmax(torch.tensor([0.3, 2.9, 4.0], dtype=torch.float64), dim=0)
    tensor([-4.0057, -1.4057, -0.3057], dtype=torch.float64)
    """
    if dtype is not None:
        input = check_tensor(input, "input", "any").to(dtype)
    return LogSoftmaxFunction.apply(check_tensor(input, "input"), dim)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    dim: int | None = None,
) -> Tensor:
    """Negative log-likelihood, as ``torch.nn.functional.nll_loss``, differentiable in ``input``.

    Parameters
    ----------
    input : torch.Tensor
        Log-probabilities, float32/float64: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
    target : torch.Tensor
        Integer class indices (any integer dtype), shaped like ``input`` without the class dim.
    weight : torch.Tensor, optional
        Per-class weights ``(C,)``; not differentiable.
    ignore_index, reduction
        As PyTorch's (keyword-only here).
    dim : int, optional
        The class dimension; ``None`` is PyTorch's (1, or 0 for 1-D input).

    Returns
    -------
    torch.Tensor
        0-d for ``mean``/``sum``, shaped like ``target`` for ``none``; of the input's dtype.

    Examples
    --------
    >>> logp = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64).log()
    >>> nll_loss(logp, torch.tensor([0, 2]))
    tensor(0.2899, dtype=torch.float64)
    """
    check_args(input, target, "int", weight=weight)
    return NLLLossFunction.apply(input, target, weight, (ignore_index, reduction, dim))


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    dim: int | None = None,
) -> Tensor:
    """Cross-entropy from logits, as ``torch.nn.functional.cross_entropy``, differentiable.

    Parameters
    ----------
    input : torch.Tensor
        Logits, float32/float64: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
    target : torch.Tensor
        Integer class indices shaped like ``input`` without the class dim, or float class
        probabilities shaped like ``input`` (differentiable, as in PyTorch).
    weight, ignore_index, reduction, dim
        As :func:`nll_loss`.
    label_smoothing : float in [0, 1]
        Mixes the target with the uniform distribution: ``(1 - eps) y + eps / C``.

    Returns
    -------
    torch.Tensor
        0-d for ``mean``/``sum``, the per-sample losses for ``none``.

    Notes
    -----
    When ``input`` requires grad (in grad mode) the forward pass runs the fused kernel and keeps
    the gradient for ``grad_output = 1``. ``backward`` returns it as is for ``loss.backward()``,
    else multiplies it by ``grad_output`` (per sample for ``none``): one more rounding.

    Examples
    --------
    >>> scores = torch.tensor([[5.0, 4.0, 2.0], [4.0, 2.0, 8.0], [4.0, 4.0, 1.0]],
    ...                       requires_grad=True)
    >>> loss = cross_entropy(scores, torch.tensor([0, 2, 1]))
    >>> loss
    tensor(0.3624, grad_fn=<CrossEntropyFunctionBackward>)
    >>> loss.backward()
    >>> scores.grad * 3
    tensor([[-0.2946,  0.2595,  0.0351],
            [ 0.0179,  0.0024, -0.0204],
            [ 0.4879, -0.5121,  0.0243]])
    """
    kind = "float" if check_tensor(target, "target", "any").is_floating_point() else "int"
    check_args(input, target, kind, weight=weight)
    fused = torch.is_grad_enabled() and input.requires_grad
    opts = (ignore_index, reduction, float(label_smoothing), dim, fused)
    return CrossEntropyFunction.apply(input, target, weight, opts)


def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: Reduction = "mean"
) -> Tensor:
    """BCE on probabilities, as ``torch.nn.functional.binary_cross_entropy``, differentiable.

    ``input`` and ``target`` are float32/float64 tensors of one shape with values in [0, 1]
    (``ValueError`` otherwise); ``weight`` broadcasts to their shape and is not differentiable.
    Gradients flow to ``input`` and to ``target``.

    Examples
    --------
    >>> x = torch.tensor([0.25, 0.5], dtype=torch.float64, requires_grad=True)
    >>> binary_cross_entropy(x, torch.tensor([0.0, 1.0], dtype=torch.float64),
    ...                      reduction="sum").backward()
    >>> x.grad
    tensor([ 1.3333, -2.0000], dtype=torch.float64)
    """
    check_args(input, target, "float", weight=weight)
    return BinaryCrossEntropyFunction.apply(input, target, weight, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    pos_weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """BCE on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``, differentiable.

    ``target`` has the input's shape; ``weight`` and ``pos_weight`` broadcast to it (typically
    ``(C,)`` against ``(N, C)``) and are not differentiable. Gradients flow to ``input`` and to
    ``target``. Infinite logits give the mathematical limit (PyTorch gives NaN).

    Examples
    --------
    >>> x = torch.tensor([0.0, 2.0], requires_grad=True)
    >>> loss = binary_cross_entropy_with_logits(x, torch.tensor([1.0, 0.0]))
    >>> loss.backward()
    >>> x.grad
    tensor([-0.2500,  0.4404])
    """
    check_args(input, target, "float", weight=weight, pos_weight=pos_weight)
    return BinaryCrossEntropyWithLogitsFunction.apply(input, target, weight, pos_weight, reduction)
