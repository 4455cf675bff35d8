"""Hypothesis strategies and case plumbing shared by the property and concurrency tests.

A *case* is ``(name, args, kwargs)``: a call of ``softloss.<name>(*args, **kwargs)``. The case
strategies here generate well-formed calls of every public function, over shapes with empty and
single-class axes, every axis, float32/float64 and values that may include huge, tiny, subnormal,
infinite and NaN entries (each strategy says which). ``save_cases``/``load_cases`` round-trip a list
of cases through a ``.npz`` so that a subprocess (another SIMD path) can recompute them.
"""

import hashlib
import json
import math
import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softloss as sl

settings.register_profile(
    "softloss-properties",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("softloss-properties")
SCALE = float(os.environ.get("SOFTLOSS_PROPERTY_SCALE", "1"))


def examples(n):
    """The property tests' settings (derandomized, no deadline) with n * SCALE examples."""
    return settings(PROFILE, max_examples=max(1, round(n * SCALE)))


FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("none", "mean", "sum")
SOFTMAX_FAMILY = ("softmax", "log_softmax")
FUNCTIONS = (
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "nll_loss",
    "nll_loss_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_with_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_with_grad",
)

dtypes = st.sampled_from(FLOAT_DTYPES)


# ----------------------------------------------------------------------------- values


def edge_values(dtype, special):
    """Huge, tiny, subnormal and signed-zero values of `dtype`; with `special`, also +-inf, NaN."""
    fi = np.finfo(dtype)
    vals = [fi.max, -fi.max, fi.tiny, -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal]
    vals += [0.0, -0.0, 1.0, fi.max / 4, np.sqrt(fi.max), -np.sqrt(fi.max)]
    if special:
        vals += [np.inf, -np.inf, np.nan]
    return [dtype.type(v) for v in vals]


def elements(dtype, domain):
    """Element strategy. Domains: "moderate" (|x| <= 20), "finite" (anything finite, weighted
    towards moderate values), "special" (finite plus +-inf and NaN), "-inf" (finite plus -inf)."""
    width = 8 * np.dtype(dtype).itemsize
    moderate = st.floats(-20, 20, width=width)
    if domain == "moderate":
        return moderate
    anything = st.floats(width=width, allow_nan=False, allow_infinity=False)
    edges = edge_values(dtype, special=domain == "special")
    if domain == "-inf":
        edges.append(dtype.type(-np.inf))
    return st.one_of(moderate, moderate, anything, st.sampled_from(edges))


def arrays(dtype, shape, domain="special", lo=None, hi=None):
    """Arrays of `shape`; with lo/hi, uniform-ish values in [lo, hi] including both ends."""
    if lo is not None:
        width = 8 * np.dtype(dtype).itemsize
        elems = st.one_of(
            st.floats(lo, hi, width=width), st.sampled_from([dtype.type(lo), dtype.type(hi)])
        )
    else:
        elems = elements(dtype, domain)
    return hnp.arrays(dtype, shape, elements=elems)


def shapes(min_dims=0, max_dims=4, max_side=6):
    """Shapes with empty (0) and single (1) sides among ordinary ones."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)


@st.composite
def shape_and_axis(draw, min_dims=0, max_dims=4, max_side=6):
    shape = draw(shapes(min_dims, max_dims, max_side))
    if not shape:
        return shape, draw(st.sampled_from([0, -1]))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


# ----------------------------------------------------------------------------- cases


@st.composite
def softmax_case(draw, dtype=None, domain="special", backward=None):
    """softmax/log_softmax (or their backward from the forward's own output)."""
    dtype = draw(dtypes) if dtype is None else dtype
    name = draw(st.sampled_from(SOFTMAX_FAMILY))
    shape, axis = draw(shape_and_axis())
    x = draw(arrays(dtype, shape, domain))
    if backward is None:
        backward = draw(st.booleans())
    if not backward:
        return name, (x,), {"axis": axis}
    go = draw(arrays(dtype, shape, "finite"))
    return name + "_backward", (go, getattr(sl, name)(x, axis=axis)), {"axis": axis}


def grad_output(draw, dtype, reduction, loss_shape):
    if reduction == "none":
        return draw(arrays(dtype, loss_shape, "moderate"))
    return draw(st.sampled_from([1.0, 0.5, -3.0, 1e-3]))


@st.composite
def class_loss_case(draw, name=None, dtype=None, domain="special", max_side=5, prob=None):
    """nll_loss / cross_entropy (+ backward, with_grad): class or probability targets, weights,
    ignore_index (including valid classes and C itself), smoothing, any class axis."""
    dtype = draw(dtypes) if dtype is None else dtype
    if name is None:
        name = draw(st.sampled_from(["nll_loss", "cross_entropy"]))
        name += draw(st.sampled_from(["", "_backward"] + ["_with_grad"] * (name != "nll_loss")))
    shape = draw(shapes(1, 4, max_side))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    cax = (1 if len(shape) > 1 else 0) if axis is None else axis % len(shape)
    c = shape[cax]
    tshape = shape[:cax] + shape[cax + 1 :]
    x = draw(arrays(dtype, shape, domain))
    kw = {"axis": axis, "reduction": draw(st.sampled_from(REDUCTIONS))}
    if draw(st.booleans()):
        kw["weight"] = draw(arrays(dtype, (c,), lo=0.0, hi=4.0))
    ce = name.startswith("cross_entropy")
    if ce:
        kw["label_smoothing"] = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]))
    if ce and (prob if prob is not None else draw(st.booleans())):
        target = draw(arrays(dtype, shape, lo=0.0, hi=1.0))
    else:
        ignore = draw(st.sampled_from([-100, -1, 0, max(c - 1, 0), c]))
        kw["ignore_index"] = ignore
        valid = st.integers(0, c - 1) if c else st.just(ignore)
        target = draw(hnp.arrays(np.int64, tshape, elements=st.one_of(valid, st.just(ignore))))
        if target.size and target.min() >= 0 and draw(st.booleans()):
            target = target.astype(draw(st.sampled_from([np.int32, np.uint16, np.uint8])))
    args = (x, target)
    if name.endswith("_backward"):
        args = (grad_output(draw, dtype, kw["reduction"], tshape), *args)
    return name, args, kw


def param_shape(draw, shape):
    """A shape that broadcasts to `shape` without enlarging it (dropped leading axes, 1s)."""
    k = draw(st.integers(0, len(shape)))
    return tuple(draw(st.sampled_from([1, n])) for n in shape[len(shape) - k :])


@st.composite
def binary_case(draw, name=None, dtype=None, domain="special"):
    """binary_cross_entropy(_with_logits) (+ backward, with_grad): probabilities in [0, 1] (with
    the exact ends 0 and 1) for BCE, any values for the logits; broadcast weight/pos_weight."""
    dtype = draw(dtypes) if dtype is None else dtype
    if name is None:
        base = draw(st.sampled_from(["binary_cross_entropy", "binary_cross_entropy_with_logits"]))
        name = base + draw(st.sampled_from(["", "_backward", "_with_grad"]))
    shape = draw(shapes(0, 3, 5))
    logits = "logits" in name
    x = draw(arrays(dtype, shape, domain)) if logits else draw(arrays(dtype, shape, lo=0, hi=1))
    y = draw(arrays(dtype, shape, lo=0, hi=1))
    kw = {"reduction": draw(st.sampled_from(REDUCTIONS))}
    if draw(st.booleans()):
        kw["weight"] = draw(arrays(dtype, param_shape(draw, shape), lo=0.0, hi=3.0))
    if logits and draw(st.booleans()):
        kw["pos_weight"] = draw(arrays(dtype, param_shape(draw, shape), lo=0.0, hi=5.0))
    args = (x, y)
    if name.endswith("_backward"):
        args = (grad_output(draw, dtype, kw["reduction"], shape), *args)
    return name, args, kw


def any_case(dtype=None, domain="special"):
    return st.one_of(
        softmax_case(dtype=dtype, domain=domain),
        class_loss_case(dtype=dtype, domain=domain),
        binary_case(dtype=dtype, domain=domain),
    )


# ----------------------------------------------------------------------------- large cases


@st.composite
def big_case(draw, min_size=32_768, max_size=300_000):
    """A call of any public function on an input large enough for the parallel path (the
    threshold is 32K elements): random normal values from a drawn seed, plus a few drawn special
    values (+-inf, NaN, huge, subnormal) at drawn positions, float32 or float64."""
    name = draw(st.sampled_from(FUNCTIONS))
    dtype = draw(dtypes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    c = draw(st.sampled_from([1, 2, 3, 10, 17, 100, 1000, 4099, 530_000]))
    rows = draw(st.integers(max(1, -(-min_size // c)), max(1, max_size // c)))
    shape = draw(st.sampled_from([(rows, c), (c, rows), (2, c, -(-rows // 2))]))
    axis = {2: draw(st.sampled_from([-1, 0])), 3: 1}[len(shape)]
    scale = draw(st.sampled_from([1.0, 10.0, 100.0]))
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    for v in draw(st.lists(st.sampled_from(edge_values(dtype, True)), max_size=4)):
        x[tuple(rng.integers(0, n) for n in shape)] = v
    reduction = draw(st.sampled_from(REDUCTIONS))
    if name in ("softmax", "log_softmax"):
        return name, (x,), {"axis": axis}
    if name.endswith("softmax_backward"):
        fwd = getattr(sl, name[: -len("_backward")])
        return name, (rng.standard_normal(shape).astype(dtype), fwd(x, axis=axis)), {"axis": axis}
    if "binary" in name:
        y = rng.uniform(0, 1, shape).astype(dtype)
        kw = {"reduction": reduction, "weight": rng.uniform(0, 2, shape[-1]).astype(dtype)}
        if "logits" in name:
            kw["pos_weight"] = rng.uniform(0, 3, shape[-1]).astype(dtype)
        else:
            x = rng.uniform(0, 1, shape).astype(dtype)
        args = (x, y)
        loss_shape = shape
    else:
        cax = axis % len(shape)
        classes = shape[cax]
        loss_shape = shape[:cax] + shape[cax + 1 :]
        target = rng.integers(0, classes, loss_shape)
        target.flat[:: draw(st.integers(2, 50))] = -100
        kw = {"reduction": reduction, "axis": axis}
        if draw(st.booleans()):
            kw["weight"] = rng.uniform(0, 2, classes).astype(dtype)
        if name.startswith("cross_entropy"):
            kw["label_smoothing"] = draw(st.sampled_from([0.0, 0.2]))
        args = (x, target)
    if name.endswith("_backward"):
        go = rng.standard_normal(loss_shape).astype(dtype) if reduction == "none" else 0.75
        args = (go, *args)
    return name, args, kw


# ----------------------------------------------------------------------------- bounds


def rows(a, axis):
    """2-D view of `a` whose rows are the slices along `axis` (0-d input: one 1-element row)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    m = np.moveaxis(a, axis, -1)
    return m.reshape(math.prod(m.shape[:-1]), m.shape[-1])


def n_sum(dtype, c):
    return math.ceil(c / 8) + 3 if np.dtype(dtype) == np.float64 else 0


def eps_of(dtype):
    return float(np.finfo(dtype).eps)


def reduced_bound(dtype, per, terms, result, count):
    """Bound for sum/mean of per-element values with bounds `per`: the per-element bounds, plus
    float64 accumulation of `count` terms of total magnitude `terms` in each of the two results
    (2 * count * 2^-53 each), plus rounding each result to `dtype` (u |result| each)."""
    return float(np.sum(per)) + 4 * count * 2.0**-53 * terms + eps_of(dtype) * abs(result)


def close_or_same(a, b, bound):
    """Equal (NaN included, e.g. a mean over nothing) or within `bound`."""
    a, b = float(a), float(b)
    return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= bound


# ----------------------------------------------------------------------------- running


def call(case):
    name, args, kwargs = case
    return getattr(sl, name)(*args, **kwargs)


def bits(result, nan_bits=True):
    """Everything that identifies a result: type, dtype, shape and the raw bytes of each part
    (with nan_bits=False every NaN is first replaced by the canonical quiet NaN)."""
    parts = result if isinstance(result, tuple) else (result,)
    out = []
    for r in parts:
        a = np.asarray(r)
        if not nan_bits and a.dtype.kind == "f":
            a = np.where(np.isnan(a), a.dtype.type(np.nan), a)
        out.append((type(r).__name__, a.dtype.str, a.shape, a.tobytes()))
    return out


def digest(result, nan_bits=True):
    h = hashlib.sha256()
    for kind, dt, shape, raw in bits(result, nan_bits):
        h.update(f"{kind}|{dt}|{shape}|".encode())
        h.update(raw)
    return h.hexdigest()


def save_cases(path, cases):
    """Cases -> one .npz: arrays under 'i.arg.j' / 'i.kw.key', the rest as JSON under 'spec'."""
    arrays, spec = {}, []
    for i, (name, args, kwargs) in enumerate(cases):

        def enc(v, key, i=i):
            if isinstance(v, (np.ndarray, np.generic)):  # a NumPy scalar comes back 0-d
                arrays[f"{i}.{key}"] = np.asarray(v)
                return {"array": f"{i}.{key}"}
            return v

        spec.append(
            {
                "name": name,
                "args": [enc(a, f"arg.{j}") for j, a in enumerate(args)],
                "kwargs": {k: enc(v, f"kw.{k}") for k, v in kwargs.items()},
            }
        )
    np.savez(path, spec=np.array(json.dumps(spec)), **arrays)


def load_cases(path):
    with np.load(path) as npz:
        spec = json.loads(str(npz["spec"]))

        def dec(v):
            return npz[v["array"]] if isinstance(v, dict) else v

        return [
            (
                c["name"],
                tuple(dec(a) for a in c["args"]),
                {k: dec(v) for k, v in c["kwargs"].items()},
            )
            for c in spec
        ]
