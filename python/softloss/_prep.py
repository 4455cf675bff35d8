"""Input normalisation shared by every public function.

The native kernels take float32/float64 arrays (any memory layout) and int64 class targets. This
module turns whatever the caller passed into exactly that, or raises a ``TypeError`` naming the
parameter: float16 is computed in float32 and rounded once at the end; non-native byte order is
swapped; integer/bool input to softmax/log_softmax becomes float64; any integer target dtype
becomes int64. Shape and value checks happen in the native layer, before anything is written.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from softloss import _native

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
_NATIVE = frozenset((F32, F64))
_INT64 = np.dtype(np.int64)
_INT64_MAX = np.iinfo(np.int64).max
#: The largest finite value of each result dtype a float64 loss is rounded to.
_LARGEST = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32)}


def is_native(a: object) -> TypeGuard[NDArray[np.floating[Any]]]:
    """True for an ndarray the kernels take unchanged: native-order float32/float64."""
    if type(a) is not np.ndarray:
        return False
    dt = a.dtype
    return dt is F32 or dt is F64 or dt in _NATIVE  # identity first: the common case, cheaply


def is_native_target(t: object) -> TypeGuard[NDArray[np.int64]]:
    """True for an int64 ndarray of class indices (the fast path)."""
    return type(t) is np.ndarray and (t.dtype is _INT64 or t.dtype == _INT64)


def _describe(a: np.ndarray[Any, Any]) -> str:
    return f"an array of dtype {a.dtype}"


def _asarray(obj: object, name: str) -> np.ndarray[Any, Any]:
    if obj is None:
        raise TypeError(f"{name} must be an array, got None")
    try:
        return np.asarray(obj)
    except (TypeError, ValueError) as exc:  # ragged lists, objects NumPy cannot convert
        raise TypeError(f"{name} must be array-like, got {type(obj).__name__}: {exc}") from None


def _native_order(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if a.dtype.isnative:
        return a
    return a.astype(a.dtype.newbyteorder("="))


def compute_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype the kernels compute in for a result of ``dtype`` (float16 -> float32)."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def float_input(
    obj: ArrayLike, name: str = "input", *, ints_to_float64: bool = False
) -> tuple[NDArray[Any], np.dtype[Any]]:
    """``(array in a native compute dtype, dtype of the result)`` for a float input."""
    if type(obj) is np.ndarray and (obj.dtype is F32 or obj.dtype is F64):
        return obj, obj.dtype  # the common case, without the general path's dtype arithmetic
    a = _asarray(obj, name)
    kind = a.dtype.kind
    if kind in "biu" and ints_to_float64:
        return a.astype(np.float64), np.dtype(np.float64)
    if kind != "f" or a.dtype.itemsize not in (2, 4, 8):
        what = "a float16, float32 or float64 array"
        if ints_to_float64:
            what += " (or an integer/bool array, computed in float64)"
        raise TypeError(f"{name} must be {what}, got {_describe(a)}")
    result_dtype = np.dtype(a.dtype.newbyteorder("="))
    if result_dtype == np.float16:
        return a.astype(np.float32), result_dtype
    return _native_order(a), result_dtype


def like(obj: ArrayLike, dtype: np.dtype[Any], name: str) -> NDArray[Any]:
    """A float companion argument (target probabilities, weights, grad_output) in ``dtype``."""
    if type(obj) is np.ndarray and obj.dtype is dtype:
        return obj
    a = _asarray(obj, name)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got {_describe(a)}")
    if a.dtype != dtype:
        return a.astype(dtype)
    return _native_order(a)


def is_native_grad(obj: object, dtype: np.dtype[Any]) -> TypeGuard[NDArray[Any] | float]:
    """True for a ``grad_output`` the kernels take unchanged: a Python float, or an ndarray of
    the input's (native) ``dtype``."""
    return type(obj) is float or (type(obj) is np.ndarray and obj.dtype is dtype)


def grad_arg(obj: ArrayLike, dtype: np.dtype[Any]) -> NDArray[Any] | float:
    """A loss's ``grad_output`` for the kernels: a Python float as it is (they round it to
    ``dtype``, as converting it would), anything else through :func:`like`."""
    if type(obj) is float:
        return obj
    return like(obj, dtype, "grad_output")


def class_target(obj: ArrayLike, name: str = "target") -> NDArray[np.int64]:
    """Class indices of any integer dtype as int64 (values beyond int64 are out of range)."""
    if type(obj) is np.ndarray and obj.dtype is _INT64:
        return obj
    a = _asarray(obj, name)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an array of integer class indices, got {_describe(a)}")
    # Any byte order: a swapped uint64 beyond int64 must not wrap to a negative index.
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and int(a.max()) > _INT64_MAX:
        raise IndexError(f"{name} {int(a.max())} is out of bounds for any class count")
    if a.dtype != np.int64:
        return a.astype(np.int64)
    return _native_order(a)


def is_class_target(obj: ArrayLike, name: str = "target") -> bool:
    """True when ``obj`` holds integers (class indices) rather than probabilities."""
    if type(obj) is np.ndarray:
        return obj.dtype.kind in "iu"
    return _asarray(obj, name).dtype.kind in "iu"


def broadcast_weight(
    obj: ArrayLike, shape: tuple[int, ...], dtype: np.dtype[Any], name: str
) -> NDArray[Any]:
    """``obj`` broadcast to ``shape`` (NumPy rules), refusing broadcasts that enlarge ``shape``."""
    w = like(obj, dtype, name)
    try:
        full = np.broadcast_shapes(w.shape, shape)
    except ValueError:
        full = None
    if full != shape:
        raise ValueError(f"{name} shape {w.shape} cannot be broadcast to the input shape {shape}")
    return np.broadcast_to(w, shape)


def kernel_out(dtype: np.dtype[Any], out: NDArray[Any] | None) -> NDArray[Any] | None:
    """The ``out`` the kernels write: ``out`` itself, or None for a float16 result, which they
    compute in float32 and :func:`finish_out` rounds into ``out``. (The kernels copy any input
    that overlaps ``out`` before they read it, so ``out`` may be an input.)"""
    return None if dtype.itemsize == 2 else out


def loss_out(dtype: np.dtype[Any], reduction: str, out: NDArray[Any] | None) -> NDArray[Any] | None:
    """:func:`kernel_out` for a loss: ``out`` goes to the kernels whenever they would refuse it
    (``mean``/``sum`` give a scalar), so the error is theirs whatever the dtype."""
    return out if reduction != "none" else kernel_out(dtype, out)


def finish_out(result: Any, dtype: np.dtype[Any], out: NDArray[Any] | None) -> Any:
    """:func:`finish` for a result that belongs in ``out`` when one is given: the kernels wrote it
    there already, or it is a float16 result in float32, rounded into ``out`` here."""
    if out is None or result is out:
        return finish(result, dtype)
    check_out(out, result.shape, dtype)
    with np.errstate(over="ignore"):  # float32 to float16: rounded once, beyond its range to inf
        np.copyto(out, result)
    return out


def check_out(out: object, shape: tuple[int, ...], dtype: DTypeLike) -> NDArray[Any]:
    """Checks an ``out=`` array whose dtype the kernels cannot write directly (float16)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {np.dtype(dtype)}, got an array of dtype {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out shape {out.shape} does not match the result shape {shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out must be writeable (it is read-only)")
    return out


#: Rounds a native result to the result dtype: a loss's float64 sum becomes a NumPy scalar
#: (rounded once), an array keeps or takes the dtype (float16 is computed in float32). The common
#: cases (float32/float64 scalars, arrays already right) run in Rust; the rest in
#: :func:`finish_other`.
finish = _native.finish


def finish_other(result: Any, dtype: np.dtype[Any]) -> Any:
    """The cases :func:`finish` hands back: scalars of other dtypes (float16), arrays to convert."""
    if isinstance(result, float):
        if abs(result) <= _LARGEST.get(dtype, math.inf) or result != result:
            return dtype.type(result)
        with np.errstate(over="ignore"):  # a sum beyond the dtype's range is inf, silently,
            return dtype.type(result)  # as reduction="none" gives it
    return finish_array(result, dtype)


def finish_array(result: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[Any]:
    """Rounds a native array result to the result dtype (float16 is computed in float32)."""
    if result.dtype != dtype:
        with np.errstate(over="ignore"):  # beyond float16's range is inf, as for a scalar loss
            return result.astype(dtype)
    return result
