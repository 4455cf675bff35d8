"""Float64 NumPy reference implementation of every public softloss function.

Written straight from shared/SPEC.md, for readability rather than speed. Every function computes
in float64 and returns float64 (a 0-d array for mean/sum); tests cast or compare with the
tolerance of the dtype under test. Nothing here imports softloss.
"""

import numpy as np

REDUCTIONS = ("none", "mean", "sum")
# The BCE backward denominator floor: 1e-12 as a float32 constant, used for float64 too.
BCE_EPS = float(np.float32(1e-12))


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction, denominator):
    if reduction == "none":
        return loss
    total = np.sum(loss, dtype=np.float64)
    if reduction == "sum":
        return np.float64(total)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(total) / np.float64(denominator)


# ----------------------------------------------------------------------------- softmax family


def _rowwise(fn, x, axis):
    """Apply fn (which works on the last axis) along `axis`; 0-d input is one element."""
    x = _f64(x)
    if x.ndim == 0:
        return fn(x.reshape(1)).reshape(())
    axis = axis % x.ndim
    moved = np.moveaxis(x, axis, -1)
    if moved.size == 0:
        return np.empty(x.shape, dtype=np.float64)
    return np.moveaxis(fn(moved), -1, axis)


def _softmax_last(x):
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(x, axis=-1, keepdims=True)
        e = np.exp(x - m)
        return e / np.sum(e, axis=-1, keepdims=True)


def _log_softmax_last(x):
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = np.max(x, axis=-1, keepdims=True)
        shifted = x - m
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def softmax(x, axis=-1):
    """p = exp(x - m) / sum(exp(x - m)), m the row max."""
    return _rowwise(_softmax_last, x, axis)


def log_softmax(x, axis=-1):
    """logp = (x - m) - log(sum(exp(x - m)))."""
    return _rowwise(_log_softmax_last, x, axis)


def softmax_backward(grad_output, output, axis=-1):
    """gx = p * (go - sum(go * p)), from the forward output p."""
    go, p = _f64(grad_output), _f64(output)
    if p.ndim == 0:
        return p * (go - go * p)
    return p * (go - np.sum(go * p, axis=axis, keepdims=True))


def log_softmax_backward(grad_output, output, axis=-1):
    """gx = go - exp(logp) * sum(go), from the forward output logp."""
    go, logp = _f64(grad_output), _f64(output)
    if logp.ndim == 0:
        return go - np.exp(logp) * go
    return go - np.exp(logp) * np.sum(go, axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- class-axis losses


def _class_axis(x, axis):
    if axis is None:
        return 1 if x.ndim >= 2 else 0
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} out of range for {x.ndim}-d input")
    return axis % x.ndim


def _class_targets(x, target, weight, ignore_index, axis):
    """Move the class axis last; return (x_moved, axis, C, ignored mask, safe target, w, w[t])."""
    x = _f64(x)
    ax = _class_axis(x, axis)
    xm = np.moveaxis(x, ax, -1)
    t = np.asarray(target).astype(np.int64)
    if t.shape != xm.shape[:-1]:
        raise ValueError(f"target shape {t.shape} does not match input shape {x.shape}")
    C = xm.shape[-1]
    w = np.ones(C) if weight is None else _f64(weight)
    if w.shape != (C,):
        raise ValueError(f"weight must have shape ({C},), got {w.shape}")
    ignored = t == ignore_index
    bad = ~ignored & ((t < 0) | (t >= C))
    if np.any(bad):
        raise IndexError(f"target {t[bad].flat[0]} is out of bounds for {C} classes")
    t_safe = np.where(ignored, 0, t)
    w_t = np.where(ignored, 0.0, w[t_safe])
    return xm, ax, C, ignored, t_safe, w, w_t


def _gather(a, idx):
    return np.take_along_axis(a, idx[..., None], axis=-1)[..., 0]


def _scatter_rows(shape, idx, values):
    g = np.zeros(shape)
    np.put_along_axis(g, idx[..., None], np.asarray(values, dtype=np.float64)[..., None], axis=-1)
    return g


def _row_scale(grad_output, reduction, shape, denominator):
    """s_i: go_i (none), go (sum), go / denominator (mean), broadcast to the loss shape."""
    go = _f64(grad_output)
    if reduction == "none":
        return np.broadcast_to(go, shape)
    if reduction == "sum":
        return np.broadcast_to(go, shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.broadcast_to(go / np.float64(denominator), shape)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean", axis=None):
    """l_i = -w[t_i] * input[i, t_i] (0 when ignored); mean divides by sum of w[t_i]."""
    _check_reduction(reduction)
    xm, _, _, ignored, t_safe, _, w_t = _class_targets(input, target, weight, ignore_index, axis)
    loss = np.where(ignored, 0.0, -w_t * _gather(xm, t_safe))
    return _reduce(loss, reduction, np.sum(w_t))


def nll_loss_backward(
    grad_output, input, target, weight=None, ignore_index=-100, reduction="mean", axis=None
):
    """Zeros except [i, t_i] = -w[t_i] * s_i; an all-ignored mean gives zeros."""
    _check_reduction(reduction)
    xm, ax, _, ignored, t_safe, _, w_t = _class_targets(input, target, weight, ignore_index, axis)
    s = _row_scale(grad_output, reduction, t_safe.shape, np.sum(w_t))
    with np.errstate(invalid="ignore"):
        coef = np.where(ignored, 0.0, -w_t * s)
    return np.moveaxis(_scatter_rows(xm.shape, t_safe, coef), -1, ax)


def _prob_target(x, target, axis):
    x = _f64(x)
    ax = _class_axis(x, axis)
    y = _f64(target)
    if y.shape != x.shape:
        raise ValueError(f"probability target shape {y.shape} != input shape {x.shape}")
    return np.moveaxis(x, ax, -1), np.moveaxis(y, ax, -1), ax


def _is_class_target(target):
    return np.issubdtype(np.asarray(target).dtype, np.integer)


def _check_smoothing(label_smoothing):
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")


def _ce_parts(input, target, weight, ignore_index, reduction, label_smoothing, axis):
    """Return (per-element loss, row-scale denominator, q (class-last), p, ax, moved shape)."""
    _check_reduction(reduction)
    _check_smoothing(label_smoothing)
    eps = float(label_smoothing)
    if _is_class_target(target):
        xm, ax, C, ignored, t_safe, w, w_t = _class_targets(
            input, target, weight, ignore_index, axis
        )
        logp = _log_softmax_last(xm) if xm.size else xm.copy()
        with np.errstate(invalid="ignore"):
            nll = np.where(ignored, 0.0, -w_t * _gather(logp, t_safe))
            smooth = np.where(ignored, 0.0, -np.sum(w * logp, axis=-1)) if eps else 0.0
        loss = (1.0 - eps) * nll + (eps / C) * smooth
        q = _scatter_rows(xm.shape, t_safe, (1.0 - eps) * w_t) + (eps / C) * w
        q = np.where(ignored[..., None], 0.0, q)
        denominator = np.sum(w_t)
    else:
        xm, y, ax = _prob_target(input, target, axis)
        C = xm.shape[-1]
        w = np.ones(C) if weight is None else _f64(weight)
        if w.shape != (C,):
            raise ValueError(f"weight must have shape ({C},), got {w.shape}")
        logp = _log_softmax_last(xm) if xm.size else xm.copy()
        q = w * ((1.0 - eps) * y + eps / C)
        with np.errstate(invalid="ignore"):
            loss = -np.sum(np.where(q == 0, 0.0, q * logp), axis=-1)
        denominator = loss.size
    p = np.exp(logp)
    return loss, denominator, q, p, ax, xm.shape


def cross_entropy(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, axis=None
):
    """Class targets: (1-eps) nll_i + eps/C S_i; probability targets: -sum w y' logp."""
    loss, denominator, *_ = _ce_parts(
        input, target, weight, ignore_index, reduction, label_smoothing, axis
    )
    return _reduce(loss, reduction, denominator)


def cross_entropy_backward(
    grad_output,
    input,
    target,
    weight=None,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
    axis=None,
):
    """gx_i = s_i (p_i * sum_c q_ic - q_i)."""
    loss, denominator, q, p, ax, _ = _ce_parts(
        input, target, weight, ignore_index, reduction, label_smoothing, axis
    )
    s = _row_scale(grad_output, reduction, loss.shape, denominator)
    with np.errstate(invalid="ignore"):
        g = s[..., None] * (p * np.sum(q, axis=-1, keepdims=True) - q)
    # Ignored rows (q == 0) get 0, even for an all-ignored mean where s is inf.
    g = np.where(np.all(q == 0, axis=-1, keepdims=True), 0.0, g)
    return np.moveaxis(g, -1, ax)


def cross_entropy_with_grad(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, axis=None
):
    """(loss, gradient for grad_output = 1, all-ones for reduction='none')."""
    loss = cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing, axis)
    go = np.ones(np.shape(loss)) if reduction == "none" else 1.0
    grad = cross_entropy_backward(
        go, input, target, weight, ignore_index, reduction, label_smoothing, axis
    )
    return loss, grad


# ----------------------------------------------------------------------------- binary losses


def _broadcast_param(param, shape, name):
    if param is None:
        return np.ones(shape)
    param = _f64(param)
    if np.broadcast_shapes(param.shape, shape) != tuple(shape):
        raise ValueError(f"{name} of shape {param.shape} would enlarge input shape {shape}")
    return np.broadcast_to(param, shape)


def _bce_inputs(input, target, weight):
    x, y = _f64(input), _f64(target)
    if x.shape != y.shape:
        raise ValueError(f"target shape {y.shape} != input shape {x.shape}")
    for name, a in (("input", x), ("target", y)):
        if np.any(np.isnan(a)) or np.any((a < 0) | (a > 1)):
            raise ValueError(f"{name} values must be in [0, 1]")
    return x, y, _broadcast_param(weight, x.shape, "weight")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """l = -w (y max(log x, -100) + (1 - y) max(log1p(-x), -100)); mean = sum / numel."""
    _check_reduction(reduction)
    x, y, w = _bce_inputs(input, target, weight)
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(x), -100.0)
        log_1mx = np.maximum(np.log1p(-x), -100.0)
    loss = -w * (y * log_x + (1.0 - y) * log_1mx)
    return _reduce(loss, reduction, x.size)


def binary_cross_entropy_backward(grad_output, input, target, weight=None, reduction="mean"):
    """gx = go * w * (x - y) / max(x (1 - x), 1e-12f), / numel for mean."""
    _check_reduction(reduction)
    x, y, w = _bce_inputs(input, target, weight)
    s = _row_scale(grad_output, reduction, x.shape, x.size)
    return s * w * (x - y) / np.maximum(x * (1.0 - x), BCE_EPS)


def _log_sigmoid(x):
    with np.errstate(over="ignore"):
        return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _bcel_inputs(input, target, weight, pos_weight):
    x, y = _f64(input), _f64(target)
    if x.shape != y.shape:
        raise ValueError(f"target shape {y.shape} != input shape {x.shape}")
    return (
        x,
        y,
        _broadcast_param(weight, x.shape, "weight"),
        _broadcast_param(pos_weight, x.shape, "pos_weight"),
    )


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction="mean"):
    """l = -w (pw y logsig(x) + (1 - y) logsig(-x)); a zero factor kills an infinite log."""
    _check_reduction(reduction)
    x, y, w, pw = _bcel_inputs(input, target, weight, pos_weight)
    with np.errstate(invalid="ignore"):
        pos = np.where(pw * y == 0, 0.0, pw * y * _log_sigmoid(x))
        neg = np.where(1.0 - y == 0, 0.0, (1.0 - y) * _log_sigmoid(-x))
    loss = -w * (pos + neg)
    return _reduce(loss, reduction, x.size)


def binary_cross_entropy_with_logits_backward(
    grad_output, input, target, weight=None, pos_weight=None, reduction="mean"
):
    """gx = go * w * ((1 + (pw - 1) y) sigmoid(x) - pw y), / numel for mean."""
    _check_reduction(reduction)
    x, y, w, pw = _bcel_inputs(input, target, weight, pos_weight)
    s = _row_scale(grad_output, reduction, x.shape, x.size)
    return s * w * ((1.0 + (pw - 1.0) * y) * _sigmoid(x) - pw * y)


FORWARD = {
    "softmax": softmax,
    "log_softmax": log_softmax,
    "nll_loss": nll_loss,
    "cross_entropy": cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
}
BACKWARD = {
    "softmax": softmax_backward,
    "log_softmax": log_softmax_backward,
    "nll_loss": nll_loss_backward,
    "cross_entropy": cross_entropy_backward,
    "binary_cross_entropy": binary_cross_entropy_backward,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits_backward,
}
