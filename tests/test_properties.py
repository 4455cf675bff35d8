"""Property tests (hypothesis) of the mathematical and reproducibility contracts.

Every bound below is derived from the error model the README promises (exp/ln within 1 ULP,
correctly rounded arithmetic, sums of exponentials accumulated in float64 over 8 lanes) and then
checked against what the library measures; none is a fudge factor. eps is the dtype's machine
epsilon, u = eps / 2, and n_C = ceil(C / 8) + 3 bounds the additions on the longest path of the
lane-wise float64 sum of a C-element row (relative error at most n_C u; negligible against eps32,
so n_C = 0 for float32). H = sum_i p_i (m - x_i), m the row max: rounding x_i - m adds u (m - x_i)
to the relative error of p_i. Thread-count reproducibility is in test_concurrency.py.

The examples are derandomized (the same on every run, so CI is deterministic); set
SOFTLOSS_PROPERTY_SCALE=10 to run ten times as many.
"""

import math

import numpy as np
import strategies as S
from conftest import LAYOUTS
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softloss as sl

examples = S.examples


# ----------------------------------------------------------------------------- softmax family


@examples(120)
@given(dtype=S.dtypes, sa=S.shape_and_axis(max_side=9), data=st.data())
def test_softmax_rows_sum_to_one(dtype, sa, data):
    """Domain: any finite values (huge, tiny, subnormal) and -inf; rows holding at least one
    finite value. Bound: |fsum(p) - 1| <= eps (1.5 + H / 2 + n_C / 2) + C * smallest_subnormal.
    (Each p_i carries exp's 1 ULP, the division's u and the argument's u (m - x_i); the shared sum
    n_C u; subnormal p_i an absolute half-subnormal.) Measured worst: 0.41 of it for float32,
    0.57 for float64 (random rows up to C = 70000)."""
    shape, axis = sa
    x = data.draw(S.arrays(dtype, shape, "-inf"))
    p = sl.softmax(x, axis=axis)
    eps, sub = S.eps_of(dtype), float(np.finfo(dtype).smallest_subnormal)
    for xr, pr in zip(
        S.rows(x, axis).astype(np.float64), S.rows(p, axis).astype(np.float64), strict=True
    ):
        if not np.isfinite(xr).any():
            continue  # empty or all -inf: a NaN row (test_special_values)
        with np.errstate(invalid="ignore", over="ignore"):
            h = float(np.sum(np.where(pr > 0, pr * (np.max(xr) - xr), 0.0)))
        c = len(pr)
        bound = eps * (1.5 + h / 2 + S.n_sum(dtype, c) / 2) + c * sub
        assert abs(math.fsum(pr) - 1.0) <= bound, (xr, pr)


@examples(120)
@given(dtype=S.dtypes, sa=S.shape_and_axis(), data=st.data())
def test_special_values(dtype, sa, data):
    """Domain: everything, +-inf and NaN included. Exactly (SPEC): a row holding NaN or +inf, or
    only -inf, is all NaN; otherwise nothing is NaN, -inf entries give p = 0 / logp = -inf,
    0 <= p <= 1, logp <= 0, and the row's maximum has p >= 1/C (a finite logp >= -log C - 1e-6)."""
    shape, axis = sa
    x = data.draw(S.arrays(dtype, shape, "special"))
    p, lp = (S.rows(f(x, axis=axis), axis) for f in (sl.softmax, sl.log_softmax))
    for xr, pr, lr in zip(S.rows(x, axis), p, lp, strict=True):
        if np.isnan(xr).any() or (xr == np.inf).any() or not (xr > -np.inf).any():
            assert np.isnan(pr).all(), (xr, pr)
            assert np.isnan(lr).all(), (xr, lr)
            continue
        assert not np.isnan(pr).any(), (xr, pr)
        assert not np.isnan(lr).any(), (xr, lr)
        neg = xr == -np.inf
        assert (pr[neg] == 0).all()
        assert (lr[neg] == -np.inf).all()
        assert ((pr >= 0) & (pr <= 1)).all()
        assert (lr <= 0).all()
        top = np.argmax(xr)
        assert pr[top] >= dtype.type(1 / len(xr)) * (1 - 2 * S.eps_of(dtype))
        assert lr[top] >= -math.log(len(xr)) - 1e-6


@examples(80)
@given(
    dtype=S.dtypes,
    sa=S.shape_and_axis(max_side=6),
    shift=st.integers(-4096, 4096),
    data=st.data(),
)
def test_shift_invariance_is_bitwise(dtype, sa, shift, data):
    """Domain: values on the 1/64 grid with |x| <= 4096, and -inf; integer shifts |c| <= 4096, so
    that x + c is exact in both dtypes. Then (x + c) - max(x + c) == x - max(x) exactly, and
    softmax, log_softmax and cross_entropy (loss and gradient) must be bitwise unchanged."""
    shape, axis = sa
    grid = st.integers(-(2**18), 2**18).map(lambda k: k / 64)
    x = data.draw(hnp.arrays(dtype, shape, elements=st.one_of(grid, st.just(-np.inf))))
    xs = x + dtype.type(shift)
    assert np.array_equal(xs.astype(np.float64) - shift, x.astype(np.float64))  # exact shift
    for f in (sl.softmax, sl.log_softmax):
        assert S.bits(f(xs, axis=axis)) == S.bits(f(x, axis=axis)), f.__name__
    if x.ndim >= 1 and x.shape[axis] > 0:
        c = x.shape[axis]
        t = data.draw(
            hnp.arrays(np.int64, S.rows(x, axis).shape[:1], elements=st.integers(0, c - 1))
        )
        xr, xsr = S.rows(x, axis), S.rows(xs, axis)
        for red in S.REDUCTIONS:
            got = sl.cross_entropy_with_grad(xsr, t, reduction=red, label_smoothing=0.1)
            assert S.bits(got) == S.bits(
                sl.cross_entropy_with_grad(xr, t, reduction=red, label_smoothing=0.1)
            )


@examples(120)
@given(dtype=S.dtypes, sa=S.shape_and_axis(max_side=9), data=st.data())
def test_argmax_and_order_are_preserved(dtype, sa, data):
    """Domain: any finite values (huge, tiny, subnormal). Exactly: the row maximum of x has the
    largest p and logp, and x_i <= x_j implies p_i <= p_j and logp_i <= logp_j (monotone)."""
    shape, axis = sa
    x = data.draw(S.arrays(dtype, shape, "finite"))
    for f in (sl.softmax, sl.log_softmax):
        for xr, yr in zip(S.rows(x, axis), S.rows(f(x, axis=axis), axis), strict=True):
            if len(xr):
                assert yr[np.argmax(xr)] == yr.max(), (f.__name__, xr, yr)
                ys = yr[np.argsort(xr, kind="stable")]
                assert (ys[1:] >= ys[:-1]).all(), (f.__name__, xr, yr)


@examples(120)
@given(dtype=S.dtypes, sa=S.shape_and_axis(max_side=9), data=st.data())
def test_log_softmax_is_log_of_softmax(dtype, sa, data):
    """Domain: any finite values. Where p >= tiny (normal): |logp - log(p)| <=
    eps (2 + 2.5 |logp| + n_C) (logp: u |x - m| + 1 ULP of log S + u |logp| + the sum's n_C u;
    log of p: p's relative error eps (1.5 + |x - m| / 2) + n_C u, plus u |logp| for the log).
    Where p underflowed to 0: logp < log(tiny). Measured: below eps (1 + |logp|)."""
    shape, axis = sa
    x = data.draw(S.arrays(dtype, shape, "finite"))
    lp = sl.log_softmax(x, axis=axis).astype(np.float64)
    p = sl.softmax(x, axis=axis).astype(np.float64)
    c = 1 if x.ndim == 0 else x.shape[axis]
    tiny = float(np.finfo(dtype).tiny)
    normal = p >= tiny
    with np.errstate(over="ignore"):
        bound = S.eps_of(dtype) * (2 + 2.5 * np.abs(lp) + S.n_sum(dtype, c))
    assert (np.abs(lp - np.log(np.where(normal, p, 1.0)))[normal] <= bound[normal]).all()
    assert (lp[p == 0] < math.log(tiny)).all()


# ----------------------------------------------------------------------------- losses


@examples(100)
@given(
    case=S.class_loss_case(name="cross_entropy", domain="moderate", prob=False, max_side=6),
    scale=st.sampled_from([1.0, 64.0, 1e6, 1e30]),
)
def test_cross_entropy_is_nll_of_log_softmax(case, scale):
    """Domain: class targets (with ignore_index, weights, any class axis), no label smoothing;
    logits up to 20 * scale, scale up to 1e30 (finite logp in both dtypes). Per element:
    |ce_i - nll_i| <= eps (w_i (2 + n_C) + 2 |l_i|) (logp's error as in
    test_log_softmax_is_log_of_softmax, times w_i, and each result's rounding); sum and mean add
    the float64 accumulation (reduced_bound) and divide by the same W."""
    _, (x, t), kw = case
    kw["label_smoothing"] = 0.0
    x = (x * x.dtype.type(scale)).astype(x.dtype)
    ax = kw["axis"] if kw["axis"] is not None else (1 if x.ndim > 1 else 0)
    lp = sl.log_softmax(x, axis=ax)
    assume(np.isfinite(lp).all())
    nkw = {k: v for k, v in kw.items() if k != "label_smoothing"}
    none = dict(kw, reduction="none")
    per_ce, per_nll = (
        sl.cross_entropy(x, t, **none),
        sl.nll_loss(lp, t, **dict(nkw, reduction="none")),
    )
    w = np.ones(x.shape[ax]) if kw.get("weight") is None else kw["weight"].astype(np.float64)
    ignored = np.asarray(t) == kw["ignore_index"]
    wt = np.where(ignored, 0.0, np.append(w, 0.0)[np.where(ignored, 0, t)])
    eps = S.eps_of(x.dtype)
    per = eps * (wt * (2 + S.n_sum(x.dtype, x.shape[ax])) + 2 * np.abs(per_nll.astype(np.float64)))
    assert (np.abs(per_ce.astype(np.float64) - per_nll) <= per).all()
    ce, nll = sl.cross_entropy(x, t, **kw), sl.nll_loss(lp, t, **nkw)
    if kw["reduction"] == "none":
        assert S.bits(ce)[0][:3] == S.bits(nll)[0][:3]  # same type, dtype and shape
        return
    terms = float(np.sum(np.abs(per_nll.astype(np.float64))))
    bound = S.reduced_bound(x.dtype, per, terms, float(nll), t.size)
    if kw["reduction"] == "mean":
        bound /= float(np.sum(wt)) if np.sum(wt) else 1.0
    assert type(ce) is type(nll) is x.dtype.type
    assert S.close_or_same(ce, nll, bound)


@examples(100)
@given(case=S.binary_case(name="binary_cross_entropy_with_logits", domain="moderate"))
def test_bce_with_logits_is_bce_of_sigmoid(case):
    """Domain: |x| <= 12 (float32) or 30 (float64), where sigmoid(x) rounded to the dtype stays
    inside (e^-100, 1) so BCE's -100 clamp is not active; no pos_weight (BCE has none). With
    p = sigmoid(x) in float64 rounded to the dtype, per element: |bcel_i - bce_i| <=
    eps (2 w_i (1 + e^x_i) + 4 |l_i|): rounding p costs u in log p and u p / (1 - p) = u e^x in
    log(1 - p) (times w_i), and each loss is a few ULP of itself. Reductions as reduced_bound."""
    _, (x, y), kw = case
    kw.pop("pos_weight", None)
    lim = 12.0 if x.dtype == np.float32 else 30.0
    x = np.clip(x * x.dtype.type(1.5), -lim, lim).astype(x.dtype)
    p = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype)
    none = dict(kw, reduction="none")
    a = sl.binary_cross_entropy_with_logits(x, y, **none).astype(np.float64)
    b = sl.binary_cross_entropy(p, y, **none).astype(np.float64)
    w = np.broadcast_to(1.0 if kw.get("weight") is None else kw["weight"], x.shape)
    per = S.eps_of(x.dtype) * (2 * w * (1 + np.exp(x.astype(np.float64))) + 4 * np.abs(b))
    assert (np.abs(a - b) <= per).all(), (x, y, a, b)
    if kw["reduction"] != "none":
        ra = float(sl.binary_cross_entropy_with_logits(x, y, **kw))
        rb = float(sl.binary_cross_entropy(p, y, **kw))
        bound = S.reduced_bound(x.dtype, per, float(np.sum(np.abs(b))), rb, x.size)
        assert S.close_or_same(ra, rb, bound / (max(x.size, 1) if kw["reduction"] == "mean" else 1))


# ----------------------------------------------------------------------------- gradients

H = 1e-6


def check_fd(f, analytic, x, go):
    """Central differences of F(x) = sum(go * f(x)) in float64 with step H. Bound per element:
    1e-6 |numeric| + 1e-8 (truncation, H^2 f''' / 6, well inside it for these domains) plus
    rounding: 8 eps64 S / H with S = sum |go * f(x)| (each evaluation of F is off by a few eps64 S).
    """
    assert analytic.shape == x.shape
    assert analytic.dtype == np.float64
    s = float(np.sum(np.abs(go * f(x))))
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += H
        xm[i] -= H
        numeric[i] = (np.sum(go * f(xp)) - np.sum(go * f(xm))) / (2 * H)
    bound = 1e-6 * np.abs(numeric) + 1e-8 + 8 * np.finfo(np.float64).eps * s / H
    assert (np.abs(analytic - numeric) <= bound).all(), (analytic, numeric)


@examples(50)
@given(case=S.softmax_case(dtype=np.dtype(np.float64), domain="moderate", backward=True))
def test_softmax_backward_matches_finite_differences(case):
    """Domain: float64, |x| <= 20, any shape and axis. Bound: check_fd."""
    name, (go, _), kw = case
    fwd = getattr(sl, name[: -len("_backward")])
    go = np.clip(go, -20, 20)
    x = np.array(go * 0.25)  # a fresh moderate input; the backward gets fwd(x) as the spec says
    check_fd(lambda z: fwd(z, **kw), getattr(sl, name)(go, fwd(x, **kw), **kw), x, go)


@examples(60)
@given(case=S.class_loss_case(dtype=np.dtype(np.float64), domain="moderate", max_side=3))
def test_class_loss_backward_matches_finite_differences(case):
    """Domain: float64, |x| <= 20, nll_loss and cross_entropy with class or probability targets,
    weights, ignore_index, smoothing, every reduction and class axis; finite losses only (a mean
    over nothing is NaN). Bound: check_fd. *_with_grad is the gradient for go = 1 (ones)."""
    name, args, kw = case
    base = name.replace("_backward", "").replace("_with_grad", "")
    x, t = args[-2:]
    loss = getattr(sl, base)(x, t, **kw)
    assume(np.isfinite(loss).all())
    go = args[0] if name.endswith("_backward") else np.ones(np.shape(loss))
    grad = getattr(sl, base + "_backward")(go, x, t, **kw)
    if name.endswith("_with_grad"):
        grad = sl.cross_entropy_with_grad(x, t, **kw)[1]
    check_fd(lambda z: getattr(sl, base)(z, t, **kw), grad, x, go)


@examples(60)
@given(case=S.binary_case(dtype=np.dtype(np.float64), domain="moderate"))
def test_binary_backward_matches_finite_differences(case):
    """Domain: float64; BCE input in [0.05, 0.95] (away from the -100 clamp and the 1e-12 floor,
    where the backward is by definition not the forward's derivative), logits |x| <= 20, targets
    in [0, 1], broadcast weight and pos_weight, every reduction. Bound: check_fd."""
    name, args, kw = case
    base = name.replace("_backward", "").replace("_with_grad", "")
    x, y = args[-2:]
    if "logits" not in base:
        x = np.array(0.05 + 0.9 * x)
    loss = getattr(sl, base)(x, y, **kw)
    assume(np.isfinite(loss).all())
    go = args[0] if name.endswith("_backward") else np.ones(np.shape(loss))
    grad = getattr(sl, base + "_backward")(go, x, y, **kw)
    if name.endswith("_with_grad"):
        grad = getattr(sl, name)(x, y, **kw)[1]
    check_fd(lambda z: getattr(sl, base)(z, y, **kw), grad, x, go)


@examples(120)
@given(
    case=st.one_of(
        S.class_loss_case(name="cross_entropy_with_grad"),
        S.binary_case(name="binary_cross_entropy_with_grad"),
        S.binary_case(name="binary_cross_entropy_with_logits_with_grad"),
    )
)
def test_with_grad_is_forward_and_backward_bitwise(case):
    """Domain: everything each function accepts (logits with +-inf/NaN/huge/subnormal values).
    Exactly: (loss, grad) == (forward(...), backward(1 or ones, ...)), bit for bit."""
    name, args, kw = case
    base = name[: -len("_with_grad")]
    loss, grad = S.call(case)
    fwd = getattr(sl, base)(*args, **kw)
    go = np.ones(np.shape(fwd), args[0].dtype) if kw["reduction"] == "none" else 1.0
    bwd = getattr(sl, base + "_backward")(go, *args, **kw)
    assert S.bits(loss) == S.bits(fwd)
    assert S.bits(grad) == S.bits(bwd)


# ----------------------------------------------------------------------------- reproducibility


@examples(120)
@given(case=S.any_case(), data=st.data())
def test_bitwise_identical_across_layouts(case, data):
    """Domain: every function, every value. Exactly: each array argument in any layout (C, F,
    step-2 strided, negative strides, read-only, non-native byte order, drawn per argument) gives
    the bits of the C-contiguous call; for the softmax family so does out= (also in place)."""
    name, args, kw = case
    expected = S.bits(S.call(case))
    layouts = st.sampled_from(sorted(LAYOUTS))
    moved = tuple(LAYOUTS[data.draw(layouts)](a) if isinstance(a, np.ndarray) else a for a in args)
    kw2 = {
        k: LAYOUTS[data.draw(layouts)](v) if isinstance(v, np.ndarray) else v for k, v in kw.items()
    }
    assert S.bits(S.call((name, moved, kw2))) == expected
    if name in ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward"):
        out = np.full(args[-1].shape, 7, args[-1].dtype)
        assert getattr(sl, name)(*moved, **kw2, out=out) is out
        assert S.bits(out) == expected
        if name in S.SOFTMAX_FAMILY:
            inplace = args[0].copy()
            getattr(sl, name)(inplace, **kw, out=inplace)
            assert S.bits(inplace) == expected
