"""softloss.torch against torch.nn.functional: values, gradients, gradcheck, zero-copy, errors.

PyTorch is optional (``pip install softloss[torch]``) and CI does not install it: every test that
needs it is skipped cleanly without it, while the tests of what happens without PyTorch (importing
softloss does not import it; ``import softloss.torch`` says how to install it) run everywhere.
"""

import doctest
import importlib
import subprocess
import sys

import numpy as np
import pytest

try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    import torch.nn.functional as F

    import softloss
    import softloss.torch as st
    from softloss.torch import _functions

needs_torch = pytest.mark.skipif(
    torch is None, reason="PyTorch is not installed (pip install softloss[torch])"
)
DTYPES = ["float32", "float64"]
REDUCTIONS = ["none", "mean", "sum"]
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}


def test_importing_softloss_does_not_import_torch():
    code = (
        "import sys, softloss; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_without_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    monkeypatch.delitem(sys.modules, "softloss.torch", raising=False)
    with pytest.raises(ImportError, match=r"pip install softloss\[torch\]"):
        importlib.import_module("softloss.torch")


def dt(name):
    return getattr(torch, name)


def rand(shape, dtype, seed=0, lo=None, hi=None, grad=True):
    g = torch.Generator().manual_seed(seed)
    if lo is None:
        x = torch.randn(shape, generator=g, dtype=torch.float64)
    else:
        x = lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)
    return x.to(dt(dtype)).requires_grad_(grad)


def twin(t):
    """An independent leaf with the same values, for the reference computation."""
    return t.detach().clone().requires_grad_(t.requires_grad)


def close(actual, expected):
    assert actual.dtype == expected.dtype, f"{actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{actual.shape} != {expected.shape}"
    rtol, atol = TOL[str(expected.dtype).removeprefix("torch.")]
    np.testing.assert_allclose(
        actual.detach().double().numpy(), expected.detach().double().numpy(), rtol=rtol, atol=atol
    )


def compare(ours, ref, leaves, go_seed=7):
    """Run ``ours`` and ``ref`` on twin leaves; compare the values and every leaf's gradient."""
    twins = [twin(t) if isinstance(t, torch.Tensor) and t.requires_grad else t for t in leaves]
    out, want = ours(*leaves), ref(*twins)
    close(out, want)
    go = rand(want.shape, str(want.dtype)[6:], go_seed, 0.5, 2.0, grad=False)
    out.backward(go)
    want.backward(go)
    for a, b in zip(leaves, twins, strict=True):
        if isinstance(a, torch.Tensor) and a.requires_grad:
            close(a.grad, b.grad)


def noncontiguous(t):
    """``t``'s values in a tensor with the same shape but transposed, strided memory."""
    big = torch.zeros((*t.shape[::-1], 2), dtype=t.dtype)
    view = big[..., 0].permute(*reversed(range(t.dim())))
    view.copy_(t.detach())
    return view.requires_grad_(t.requires_grad) if t.is_floating_point() else view


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "dim"), [((4, 5), 1), ((4, 5), -2), ((2, 3, 4), 1), ((6,), 0)])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_softmax_family(dtype, fn, shape, dim, layout):
    x = rand(shape, dtype)
    if layout == "strided":
        x = noncontiguous(x.detach()).requires_grad_()
        assert not x.is_contiguous()
    compare(lambda a: getattr(st, fn)(a, dim), lambda a: getattr(F, fn)(a, dim), [x])


@needs_torch
def test_softmax_dtype_keyword_casts_first():
    x = rand((3, 4), "float64").half().detach().requires_grad_()
    out = st.softmax(x, 1, dtype=torch.float32)
    close(out, F.softmax(x.detach(), 1, dtype=torch.float32))
    out.sum().backward()
    assert x.grad.dtype == torch.float16


CLASS_CASES = [((5, 4), (5,)), ((2, 4, 3), (2, 3)), ((4,), ())]  # (input, target) shapes


def class_target(shape, classes, ignore, seed=3):
    t = torch.randint(0, classes, shape, generator=torch.Generator().manual_seed(seed))
    if ignore is not None and t.dim():
        t.view(-1)[0] = ignore
    return t


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [-100, 1])
@pytest.mark.parametrize(("xshape", "tshape"), CLASS_CASES)
def test_nll_loss(dtype, reduction, weighted, ignore, xshape, tshape):
    classes = xshape[1] if len(xshape) > 1 else xshape[0]
    logp = F.log_softmax(rand(xshape, dtype, 1, grad=False), 0 if len(xshape) == 1 else 1)
    logp.requires_grad_()
    t = class_target(tshape, classes, ignore)
    w = rand((classes,), dtype, 2, 0.5, 2.0, grad=False) if weighted else None
    kw = dict(weight=w, ignore_index=ignore, reduction=reduction)
    compare(lambda a: st.nll_loss(a, t, **kw), lambda a: F.nll_loss(a, t, **kw), [logp])


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [-100, 2])
@pytest.mark.parametrize(("xshape", "tshape"), CLASS_CASES)
def test_cross_entropy_class_targets(dtype, reduction, weighted, smoothing, ignore, xshape, tshape):
    classes = xshape[1] if len(xshape) > 1 else xshape[0]
    x = rand(xshape, dtype, 1)
    t = class_target(tshape, classes, ignore)
    w = rand((classes,), dtype, 2, 0.5, 2.0, grad=False) if weighted else None
    kw = dict(weight=w, ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)
    compare(lambda a: st.cross_entropy(a, t, **kw), lambda a: F.cross_entropy(a, t, **kw), [x])


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("xshape", [(5, 4), (2, 4, 3), (4,)])
def test_cross_entropy_probability_targets(dtype, reduction, weighted, smoothing, xshape):
    dim = 1 if len(xshape) > 1 else 0
    x = rand(xshape, dtype, 1)
    y = F.softmax(rand(xshape, dtype, 4, grad=False), dim).requires_grad_()
    w = rand((xshape[dim],), dtype, 2, 0.5, 2.0, grad=False) if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    compare(
        lambda a, b: st.cross_entropy(a, b, **kw), lambda a, b: F.cross_entropy(a, b, **kw), [x, y]
    )


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, "full", "row"])
def test_binary_cross_entropy(dtype, reduction, weight):
    x = rand((5, 3), dtype, 1, 0.02, 0.98)
    y = rand((5, 3), dtype, 2, 0.0, 1.0)
    w = {None: None, "full": (5, 3), "row": (3,)}[weight]
    w = None if w is None else rand(w, dtype, 3, 0.5, 2.0, grad=False)
    kw = dict(weight=w, reduction=reduction)
    compare(
        lambda a, b: st.binary_cross_entropy(a, b, **kw),
        lambda a, b: F.binary_cross_entropy(a, b, **kw),
        [x, y],
    )


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_binary_cross_entropy_with_logits(dtype, reduction, weighted, pos_weighted):
    x = (rand((5, 3), dtype, 1, grad=False) * 3).requires_grad_()
    y = rand((5, 3), dtype, 2, 0.0, 1.0)
    w = rand((5, 3), dtype, 3, 0.5, 2.0, grad=False) if weighted else None
    pw = rand((3,), dtype, 4, 0.5, 3.0, grad=False) if pos_weighted else None
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    compare(
        lambda a, b: st.binary_cross_entropy_with_logits(a, b, **kw),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kw),
        [x, y],
    )


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_loss_inputs(dtype):
    x = noncontiguous(rand((6, 4), dtype, 1))
    t = noncontiguous(class_target((6,), 4, None))
    kw = dict(weight=noncontiguous(rand((4,), dtype, 2, 0.5, 2.0, grad=False)))
    compare(lambda a: st.cross_entropy(a, t, **kw), lambda a: F.cross_entropy(a, t, **kw), [x])
    compare(lambda a: st.nll_loss(a, t, **kw), lambda a: F.nll_loss(a, t, **kw), [twin(x)])
    y = noncontiguous(rand((6, 4), dtype, 3, 0.0, 1.0))
    p = noncontiguous(rand((6, 4), dtype, 4, 0.05, 0.95))
    compare(st.binary_cross_entropy, F.binary_cross_entropy, [p, y])
    compare(
        st.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [twin(x), twin(y)]
    )


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_class_dim_keyword(reduction):
    x = rand((2, 3, 5), "float64", 1)  # (batch, time, vocab): classes last
    t = class_target((2, 3), 5, -100)
    compare(
        lambda a: st.cross_entropy(a, t, reduction=reduction, dim=-1),
        lambda a: F.cross_entropy(a.transpose(1, 2), t, reduction=reduction),
        [x],
    )
    compare(
        lambda a: st.nll_loss(a, t, reduction=reduction, dim=2),
        lambda a: F.nll_loss(a.transpose(1, 2), t, reduction=reduction),
        [twin(x)],
    )


@needs_torch
def test_any_integer_target_dtype():
    x, t = rand((5, 4), "float64", 1, grad=False), class_target((5,), 4, None)
    for dtype in (torch.int32, torch.uint8, torch.int16):
        close(st.cross_entropy(x, t.to(dtype)), F.cross_entropy(x, t))


LOSSES = ["nll", "ce", "ce_prob", "bce", "bcel"]
GRAD_CASES = ["softmax", "log_softmax"] + [f"{n}-{r}" for n in LOSSES for r in REDUCTIONS]


def grad_case(name):
    """``(function, inputs)`` for gradcheck: float64, every differentiable input requiring grad."""
    w = rand((4,), "float64", 2, 0.5, 2.0, grad=False)
    t = class_target((3,), 4, 1)
    x = rand((3, 4), "float64", 1)
    kind, _, r = name.partition("-")
    if kind == "softmax":
        return (lambda a: st.softmax(a, 1)), (x,)
    if kind == "log_softmax":
        return (lambda a: st.log_softmax(a, 0)), (x,)
    if kind == "nll":
        return (lambda a: st.nll_loss(a, t, w, ignore_index=1, reduction=r)), (x,)
    ce = dict(weight=w, reduction=r, label_smoothing=0.1)
    if kind == "ce_prob":
        y = F.softmax(rand((3, 4), "float64", 4, grad=False), 1).requires_grad_()
        return (lambda a, b: st.cross_entropy(a, b, **ce)), (x, y)
    if kind == "ce":
        return (lambda a: st.cross_entropy(a, t, ignore_index=1, **ce)), (x,)
    y = rand((3, 4), "float64", 3, 0.1, 0.9)
    if kind == "bce":
        p = rand((3, 4), "float64", 6, 0.1, 0.9)
        return (lambda a, b: st.binary_cross_entropy(a, b, w, reduction=r)), (p, y)
    pw = rand((4,), "float64", 5, 0.5, 3.0, grad=False)
    kw = dict(weight=w, pos_weight=pw, reduction=r)
    return (lambda a, b: st.binary_cross_entropy_with_logits(a, b, **kw)), (x, y)


@needs_torch
@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradcheck_float64(name):
    fn, inputs = grad_case(name)
    assert torch.autograd.gradcheck(fn, inputs)


@needs_torch
def test_fused_cross_entropy_gradient():
    x, t = rand((6, 5), "float32", 1), class_target((6,), 5, -100)
    calls = []
    real = softloss.functional.cross_entropy_with_grad

    def spy(*args, **kw):
        calls.append("fused")
        return real(*args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_functions._sf, "cross_entropy_with_grad", spy)
        loss = st.cross_entropy(x, t, label_smoothing=0.1)
        with torch.no_grad():
            st.cross_entropy(x, t)
        st.cross_entropy(x.detach(), t)
    assert calls == ["fused"]
    loss.backward(retain_graph=True)
    _, want = softloss.cross_entropy_with_grad(x.detach().numpy(), t.numpy(), label_smoothing=0.1)
    np.testing.assert_array_equal(x.grad.numpy(), want)  # grad_output 1: the kernel's own bits
    loss.backward(torch.tensor(2.0))  # the saved gradient is not modified by scaling
    np.testing.assert_array_equal(x.grad.numpy(), want * 3)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_unfused_cross_entropy_backward_kernel(reduction):
    x, t = rand((4, 3), "float64", 1), class_target((4,), 3, None)
    opts = (-100, reduction, 0.2, None, False)  # recorded without the fused kernel
    compare(
        lambda a: st.CrossEntropyFunction.apply(a, t, None, opts),
        lambda a: F.cross_entropy(a, t, reduction=reduction, label_smoothing=0.2),
        [x],
    )


@needs_torch
def test_no_grad_and_grad_fn():
    x, t = rand((3, 4), "float64", 1), class_target((3,), 4, None)
    with torch.no_grad():
        assert st.cross_entropy(x, t).grad_fn is None
    assert type(st.cross_entropy(x, t).grad_fn).__name__ == "CrossEntropyFunctionBackward"
    assert st.cross_entropy(x.detach(), t).grad_fn is None


@needs_torch
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_zero_copy(monkeypatch, layout):
    x = rand((4, 6), "float32", 1)
    if layout == "strided":
        x = noncontiguous(x.detach()).requires_grad_()
    seen = {}

    def spy(name):
        real = getattr(softloss.functional, name)

        def wrapper(*args, **kw):
            seen[name] = (args, real(*args, **kw))
            return seen[name][1]

        monkeypatch.setattr(_functions._sf, name, wrapper)

    spy("softmax")
    spy("softmax_backward")
    out = st.softmax(x, 1)
    (arg, _), result = seen["softmax"]
    assert np.shares_memory(arg, x.detach().numpy())
    assert arg.strides == x.detach().numpy().strides
    assert out.data_ptr() == result.ctypes.data
    out.backward(torch.ones_like(out))
    (_, saved, _), grad = seen["softmax_backward"]
    assert np.shares_memory(saved, out.detach().numpy())
    assert x.grad.data_ptr() == grad.ctypes.data  # a leaf's first gradient is not copied


@needs_torch
def test_double_backward_is_refused():
    x = rand((3, 4), "float64", 1)
    (g,) = torch.autograd.grad((st.softmax(x, 1) ** 2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()


@needs_torch
@pytest.mark.parametrize("which", ["weight", "pos_weight"])
def test_weight_gradients_are_refused(which):
    x, y = rand((3, 4), "float64", 1), rand((3, 4), "float64", 2, 0.0, 1.0)
    w = rand((4,), "float64", 3, 0.5, 2.0)
    loss = st.binary_cross_entropy_with_logits(x, y, **{which: w})
    with pytest.raises(NotImplementedError, match=f"derivative for '{which}'"):
        loss.backward()
    if which == "weight":
        with pytest.raises(RuntimeError, match="derivative for 'weight'"):
            st.cross_entropy(x, class_target((3,), 4, None), w).backward()


@needs_torch
@pytest.mark.parametrize("bad", ["float16", "bfloat16", "int64", "complex64"])
def test_refused_dtypes(bad):
    x = torch.zeros((2, 3), dtype=dt(bad))
    with pytest.raises(TypeError, match="float32 or float64"):
        st.softmax(x, 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        st.cross_entropy(x, torch.tensor([0, 1]))


@needs_torch
def test_argument_errors():
    x = torch.zeros((2, 3))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        st.softmax(np.zeros((2, 3), np.float32), 1)
    with pytest.raises(TypeError, match="CPU"):
        st.softmax(torch.zeros((2, 3), device="meta"), 1)
    with pytest.raises(TypeError, match="dense CPU"):
        st.log_softmax(x.to_sparse(), 1)
    with pytest.raises(TypeError, match="integer class indices"):
        st.nll_loss(x, torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer class indices"):
        st.cross_entropy(x, torch.tensor([True, False]))
    with pytest.raises(TypeError, match="weight"):
        st.cross_entropy(x, torch.tensor([0, 1]), weight=torch.ones(3, dtype=torch.float16))
    with pytest.raises(TypeError):  # keyword-only: PyTorch's 4th positional is size_average
        st.nll_loss(x, torch.tensor([0, 1]), None, -100)
    with pytest.raises(IndexError):
        st.cross_entropy(x, torch.tensor([0, 3]))
    with pytest.raises(ValueError):
        st.cross_entropy(x, torch.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError):
        st.binary_cross_entropy(x + 2, x)


@needs_torch
def test_docstring_examples():
    result = doctest.testmod(st, extraglobs={"torch": torch}, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
