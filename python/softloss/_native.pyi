# Stub of the Rust extension module softloss._native (src/bindings). Arrays arrive already
# normalised by softloss._prep: float32/float64 inputs, int64 class targets.
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "__version__",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_with_grad",
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_with_grad",
    "finish",
    "get_num_threads",
    "log_softmax",
    "log_softmax_backward",
    "nll_loss",
    "nll_loss_backward",
    "set_num_threads",
    "simd_path",
    "simd_paths",
    "softmax",
    "softmax_backward",
    "streaming_stores",
]

__version__: str

_F = NDArray[np.floating[Any]]

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def softmax(input: _F, axis: int = ..., out: _F | None = None) -> _F: ...
def log_softmax(input: _F, axis: int = ..., out: _F | None = None) -> _F: ...
def softmax_backward(grad_output: _F, output: _F, axis: int = ..., out: _F | None = None) -> _F: ...
def log_softmax_backward(
    grad_output: _F, output: _F, axis: int = ..., out: _F | None = None
) -> _F: ...
def nll_loss(
    input: _F,
    target: NDArray[np.int64],
    weight: _F | None = None,
    ignore_index: int = ...,
    reduction: str = ...,
    axis: int | None = None,
    out: _F | None = None,
) -> float | _F: ...
def nll_loss_backward(
    grad_output: _F | float,
    input: _F,
    target: NDArray[np.int64],
    weight: _F | None = None,
    ignore_index: int = ...,
    reduction: str = ...,
    axis: int | None = None,
    out: _F | None = None,
) -> _F: ...
def cross_entropy(
    input: _F,
    target: NDArray[Any],
    weight: _F | None = None,
    ignore_index: int = ...,
    reduction: str = ...,
    label_smoothing: float = 0.0,
    axis: int | None = None,
    out: _F | None = None,
) -> float | _F: ...
def cross_entropy_backward(
    grad_output: _F | float,
    input: _F,
    target: NDArray[Any],
    weight: _F | None = None,
    ignore_index: int = ...,
    reduction: str = ...,
    label_smoothing: float = 0.0,
    axis: int | None = None,
    out: _F | None = None,
) -> _F: ...
def cross_entropy_with_grad(
    input: _F,
    target: NDArray[Any],
    weight: _F | None = None,
    ignore_index: int = ...,
    reduction: str = ...,
    label_smoothing: float = 0.0,
    axis: int | None = None,
    out: _F | None = None,
) -> tuple[float | _F, _F]: ...
def binary_cross_entropy(
    input: _F, target: _F, weight: _F | None = None, reduction: str = ..., out: _F | None = None
) -> float | _F: ...
def binary_cross_entropy_backward(
    grad_output: _F | float,
    input: _F,
    target: _F,
    weight: _F | None = None,
    reduction: str = ...,
    out: _F | None = None,
) -> _F: ...
def binary_cross_entropy_with_logits(
    input: _F,
    target: _F,
    weight: _F | None = None,
    pos_weight: _F | None = None,
    reduction: str = ...,
    out: _F | None = None,
) -> float | _F: ...
def binary_cross_entropy_with_logits_backward(
    grad_output: _F | float,
    input: _F,
    target: _F,
    weight: _F | None = None,
    pos_weight: _F | None = None,
    reduction: str = ...,
    out: _F | None = None,
) -> _F: ...
def binary_cross_entropy_with_grad(
    input: _F, target: _F, weight: _F | None = None, reduction: str = ..., out: _F | None = None
) -> tuple[float | _F, _F]: ...
def binary_cross_entropy_with_logits_with_grad(
    input: _F,
    target: _F,
    weight: _F | None = None,
    pos_weight: _F | None = None,
    reduction: str = ...,
    out: _F | None = None,
) -> tuple[float | _F, _F]: ...
def simd_path() -> str: ...
def simd_paths() -> list[str]: ...
def streaming_stores() -> bool: ...
def finish(result: Any, dtype: np.dtype[Any]) -> Any: ...
