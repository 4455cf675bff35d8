"""softloss.dask against the in-memory API: through a real 2-process LocalCluster, and locally.

Every function with every reduction runs through the cluster (ON_CLUSTER, one ``dask.compute``
call: a distributed task costs milliseconds on a small shared machine); the full matrix of CASES
also runs on the synchronous scheduler. What is asserted:

* mean/sum: a NumPy scalar of the input dtype; float16/float32 equal to the in-memory result
  (bit for bit), float64 within 1e-15 relative. Only the per-element losses' float64 accumulation
  order differs: the partials are combined exactly.
* softmax/log_softmax and reduction="none": same dtype and shape, and bit for bit equal: a row's
  result does not depend on the rows that share its call (tests/test_route_independence.py).
"""

import doctest
import logging
import math
import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

import softloss  # noqa: E402
import softloss.dask as sd  # noqa: E402

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]
CASES = {}  # id -> () -> (lazy, expected)


def case(name):
    def register(build):
        CASES[name] = build
        return build

    return register


def chunked(a, chunks):
    return da.from_array(a, chunks=chunks)


# -- the cases: (lazy, expected) builders, all computed together ---------------------------------

ACTIVATIONS = {
    "2d_class_split": ((13, 7), (4, 3), -1),
    "2d_axis0_uneven": ((13, 7), ((3, 9, 1), (5, 2)), 0),
    "3d_axis1": ((5, 6, 4), (2, 4, 3), 1),
    "1d": ((9,), 4, 0),
}


def activation(name, shape, chunks, axis, dtype):
    x = (np.random.default_rng(1).standard_normal(shape) * 4).astype(dtype)
    lazy = getattr(sd, name)(chunked(x, chunks), axis=axis)
    assert lazy.numblocks[axis] == 1  # the class axis was rechunked to one chunk
    assert lazy.numblocks[:axis] == chunked(x, chunks).numblocks[:axis]
    return lazy, getattr(softloss, name)(x, axis=axis)


for _name in ["softmax", "log_softmax"]:
    for _key, (_shape, _chunks, _axis) in ACTIVATIONS.items():
        for _dtype in [*DTYPES, np.float16, np.int32]:
            case(f"{_name}-{_key}-{np.dtype(_dtype)}")(
                lambda a=(_name, _shape, _chunks, _axis, _dtype): activation(*a)
            )


def class_inputs(key):
    """(input, target, input chunks, target chunks, keywords) of a class-target case."""
    rng = np.random.default_rng(len(key))
    if key == "2d_class_split":  # class axis split, target chunked differently, some ignored
        t = rng.integers(0, 5, 37)
        t[::4] = -100
        return rng.standard_normal((37, 5)), t, (15, 3), 10, {}
    if key == "3d_weight_ignore_a_class":  # (N, C, d); ignore_index is a valid class
        x, t = rng.standard_normal((6, 4, 9)), rng.integers(0, 4, (6, 9))
        return x, t, (4, 3, 5), (2, 4), {"weight": rng.uniform(0.5, 2, 4), "ignore_index": 2}
    if key == "ignored_blocks":  # whole blocks ignored, uneven chunks
        t = rng.integers(0, 3, 20)
        t[:11] = -1
        kw = {"ignore_index": -1, "weight": [1.0, 2.0, 0.5]}
        return rng.standard_normal((20, 3)), t, ((5, 6, 9), 3), 4, kw
    if key == "all_ignored":  # mean NaN, sum 0
        return rng.standard_normal((8, 3)), np.full(8, -100), 3, 5, {}
    if key == "axis_last_3d":  # (batch, time, vocab) with uint8 targets
        x, t = rng.standard_normal((4, 7, 11)), rng.integers(0, 11, (4, 7)).astype(np.uint8)
        return x, t, (3, 2, 4), 2, {"axis": -1}
    if key == "1d":  # (C,) with a 0-d target
        return rng.standard_normal(6), np.array(4), 4, (), {}
    assert key == "empty"
    return np.zeros((0, 3)), np.zeros(0, np.int64), 3, 3, {}


def class_loss(name, key, reduction, dtype):
    x, t, x_chunks, t_chunks, kw = class_inputs(key)
    x = x.astype(dtype)
    if name == "nll_loss":
        x = softloss.log_softmax(x, axis=kw.get("axis", 1 if x.ndim > 1 else 0))
    elif key != "1d":
        kw["label_smoothing"] = 0.1
    lazy = getattr(sd, name)(chunked(x, x_chunks), chunked(t, t_chunks), reduction=reduction, **kw)
    return lazy, getattr(softloss, name)(x, t, reduction=reduction, **kw)


def probability_targets(reduction, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 4, 5)).astype(dtype)
    y = softloss.softmax(rng.standard_normal((9, 4, 5)), axis=1).astype(dtype)
    kw = {"weight": rng.uniform(0.5, 2, 4), "label_smoothing": 0.2, "reduction": reduction}
    lazy = sd.cross_entropy(chunked(x, (5, 2, 5)), chunked(y, (3, 4, 5)), **kw)
    return lazy, softloss.cross_entropy(x, y, **kw)


def bce(weights, reduction, dtype):
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, (23, 4)).astype(dtype)
    x[0, :2] = [0.0, 1.0]  # the -100 log clamp
    y = rng.uniform(0, 1, (23, 4)).astype(dtype)
    w = {"none": None, "class": rng.uniform(0.5, 2, 4), "full_dask": rng.uniform(0, 1, (23, 4))}
    w_lazy = chunked(w["full_dask"], (12, 2)) if weights == "full_dask" else w[weights]
    lazy = sd.binary_cross_entropy(chunked(x, ((5, 1, 17), (3, 1))), y, w_lazy, reduction)
    return lazy, softloss.binary_cross_entropy(x, y, w[weights], reduction)


def bce_logits(reduction, dtype):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((3, 17, 4)) * 5).astype(dtype)
    y = rng.uniform(0, 1, (3, 17, 4)).astype(dtype)
    kw = {"weight": rng.uniform(0, 2, (17, 1)), "pos_weight": rng.uniform(0.5, 3, 4)}
    lazy = sd.binary_cross_entropy_with_logits(
        chunked(x, (2, 9, 4)), chunked(y, (3, 6, 4)), reduction=reduction, **kw
    )
    return lazy, softloss.binary_cross_entropy_with_logits(x, y, reduction=reduction, **kw)


for _r in REDUCTIONS:
    for _dtype in DTYPES:
        _d = np.dtype(_dtype)
        for _name in ["nll_loss", "cross_entropy"]:
            for _key in [
                "2d_class_split",
                "3d_weight_ignore_a_class",
                "ignored_blocks",
                "all_ignored",
                "axis_last_3d",
                "1d",
                "empty",
            ]:
                case(f"{_name}-{_key}-{_r}-{_d}")(
                    lambda a=(_name, _key, _r, _dtype): class_loss(*a)
                )
        case(f"cross_entropy-probabilities-{_r}-{_d}")(
            lambda a=(_r, _dtype): probability_targets(*a)
        )
        for _w in ["none", "class", "full_dask"]:
            case(f"binary_cross_entropy-weight_{_w}-{_r}-{_d}")(lambda a=(_w, _r, _dtype): bce(*a))
        case(f"binary_cross_entropy_with_logits-{_r}-{_d}")(lambda a=(_r, _dtype): bce_logits(*a))


def bce_float16_integer_target(reduction):
    rng = np.random.default_rng(10)
    x, y = rng.uniform(0, 1, (5, 3)).astype(np.float16), rng.integers(0, 2, (5, 3))
    lazy = sd.binary_cross_entropy(chunked(x, 2), y, reduction=reduction)
    return lazy, softloss.binary_cross_entropy(x, y, reduction=reduction)


for _r in REDUCTIONS:
    case(f"binary_cross_entropy-float16-integer_target-{_r}")(
        lambda r=_r: bce_float16_integer_target(r)
    )


@case("cross_entropy-float16-numpy_inputs-mean")
def _float16():
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((10, 4)).astype(np.float16), rng.integers(0, 4, 10)
    return sd.cross_entropy(x, t), softloss.cross_entropy(x, t)


@case("cross_entropy-100_blocks_tree-sum-float32")
def _many_blocks():
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((300, 3)).astype(np.float32), rng.integers(0, 3, 300)
    lazy = sd.cross_entropy(chunked(x, (3, 3)), chunked(t, 3), reduction="sum")
    return lazy, softloss.cross_entropy(x, t, reduction="sum")


def compute_cases(names, **kwargs):
    """``{name: (actual, expected)}``, computed together in one ``dask.compute`` call."""
    built = {name: CASES[name]() for name in names}
    computed = dask.compute(*(lazy for lazy, _ in built.values()), **kwargs)
    return {name: (out, built[name][1]) for name, out in zip(built, computed, strict=True)}


def assert_same(actual, expected):
    """Same type and dtype; values as the module docstring says."""
    if np.ndim(expected) == 0 and not isinstance(expected, np.ndarray):  # mean / sum
        assert type(actual) is type(expected), (type(actual), type(expected))
        if expected.dtype == np.float64 and np.isfinite(expected):
            assert abs(actual - expected) <= 1e-15 * abs(expected)
        else:
            np.testing.assert_array_equal(actual, expected)
        return
    assert isinstance(actual, np.ndarray)
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape)
    np.testing.assert_array_equal(actual, expected, strict=True)


# -- the whole matrix on the synchronous scheduler (before the cluster starts) --------------------


@pytest.fixture(scope="module")
def synchronous():
    return compute_cases(CASES, scheduler="sync")


@pytest.mark.parametrize("name", CASES)
def test_synchronous(synchronous, name):
    assert_same(*synchronous[name])


# -- eager errors, laziness, exact sums, imports -------------------------------------------------

X, T = np.zeros((4, 3)), np.array([0, 1, 2, 1])
BAD_CALLS = {
    "target_shape": ("nll_loss", (X, T[:3]), {}),
    "target_ndim": ("cross_entropy", (X, T.reshape(2, 2)), {}),
    "float_class_target": ("nll_loss", (X, T.astype(float)), {}),
    "int_input": ("cross_entropy", (X.astype(np.int32), T), {}),
    "reduction": ("nll_loss", (X, T), {"reduction": "avg"}),
    "axis": ("nll_loss", (X, T), {"axis": 3}),
    "weight_shape": ("cross_entropy", (X, T), {"weight": np.ones(4)}),
    "label_smoothing": ("cross_entropy", (X, T), {"label_smoothing": 1.5}),
    "probs_ignore_index": ("cross_entropy", (X, X), {"ignore_index": 0}),
    "probs_shape": ("cross_entropy", (X, X[:2]), {}),
    "0d_input": ("cross_entropy", (np.zeros(()), np.array(0)), {}),
    "bce_target_shape": ("binary_cross_entropy", (X, X[:2]), {}),
    "bce_weight_enlarges": ("binary_cross_entropy", (X, X), {"weight": np.ones((2, 4, 3))}),
    "bcel_pos_weight": ("binary_cross_entropy_with_logits", (X, X), {"pos_weight": np.ones(4)}),
    "bce_complex_target": ("binary_cross_entropy", (X, X.astype(complex)), {}),
    "target_none": ("cross_entropy", (X, None), {}),
    "input_none": ("binary_cross_entropy_with_logits", (None, X), {}),
    "softmax_axis": ("softmax", (X,), {"axis": 2}),
    "softmax_dtype": ("log_softmax", (X.astype(complex),), {}),
}


@pytest.mark.parametrize("key", BAD_CALLS)
def test_cheap_errors_raise_eagerly_like_in_memory(key):
    name, args, kw = BAD_CALLS[key]
    with pytest.raises((TypeError, ValueError, IndexError)) as in_memory:
        getattr(softloss, name)(*args, **kw)
    lazy_args = [chunked(a, 2) if np.ndim(a) else a for a in args]
    with pytest.raises(type(in_memory.value)) as lazy:
        getattr(sd, name)(*lazy_args, **kw)  # building the graph, no compute
    assert str(lazy.value) == str(in_memory.value)


def test_nothing_runs_before_compute():
    def boom():
        raise RuntimeError("computed")

    x = da.from_delayed(dask.delayed(boom)(), shape=(4, 3), dtype=np.float64)
    for name in ["nll_loss", "cross_entropy"]:
        for reduction in REDUCTIONS:
            getattr(sd, name)(x, T, reduction=reduction)
    sd.softmax(x)
    lazy = sd.binary_cross_entropy_with_logits(x, X, reduction="sum")
    with pytest.raises(RuntimeError, match="computed"):
        lazy.compute(scheduler="sync")


def test_partials_are_added_exactly_in_any_order():
    values = [1e16, 1.0, -1e16, 3.0, 1e-20, -3.0]
    blocks = [np.array([[v, 1.0]]) for v in values]
    for order in (blocks, blocks[::-1], blocks[2:] + blocks[:2]):
        pair = sd._combine(sd._combine(*order[:3]), sd._combine(*order[3:]))
        assert sd._finish(pair, False, np.dtype(np.float64)) == 1.0  # naive order gives 0.0
        assert sd._finish(pair, True, np.dtype(np.float32)) == np.float32(1.0 / 6)
    inf = sd._combine(np.array([[math.inf, 1.0], [-math.inf, 1.0]]))
    assert math.isnan(sd._finish(inf, False, np.dtype(np.float64)))


def test_sum_and_mean_share_their_partial_tasks():
    x, t = chunked(np.zeros((8, 3)), 2), chunked(np.zeros(8, np.int64), 2)
    graphs = [dict(sd.nll_loss(x, t, reduction=r).__dask_graph__()) for r in ("sum", "mean")]
    assert len(graphs[0]) > 10
    assert len(graphs[0].keys() - graphs[1].keys()) == 2  # only the final division and its array


def test_docstring_examples():
    with dask.config.set(scheduler="sync"):
        result = doctest.testmod(sd, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_import_softloss_does_not_import_dask():
    done = run_python("import sys, softloss; print('dask' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_import_without_dask_says_how_to_install():
    done = run_python("import sys; sys.modules['dask'] = None; import softloss.dask")
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "pip install softloss[dask]" in done.stderr


# -- through a real LocalCluster with 2 worker processes -----------------------------------------

#: Through the cluster: every function and reduction; several, uneven and misaligned chunks, a
#: split class axis, N-d input, weights, ignore_index with ignored blocks, label smoothing,
#: probability targets, pos_weight, float32 and float64. The rest of CASES runs synchronously.
ON_CLUSTER = [
    "softmax-2d_class_split-float32",
    "softmax-2d_axis0_uneven-int32",
    "log_softmax-3d_axis1-float64",
] + [
    f"{name}-{reduction}-{dtype}"
    for reduction in REDUCTIONS
    for name, dtype in [
        ("nll_loss-ignored_blocks", "float64"),
        ("cross_entropy-3d_weight_ignore_a_class", "float32"),
        ("cross_entropy-all_ignored", "float64"),
        ("cross_entropy-probabilities", "float64"),
        ("binary_cross_entropy-weight_full_dask", "float32"),
        ("binary_cross_entropy_with_logits", "float64"),
    ]
]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env={"SOFTLOSS_NUM_THREADS": "1"},
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def on_cluster(client):
    with distributed.get_task_stream(client) as stream:
        results = compute_cases(ON_CLUSTER)
    assert len({task["worker"] for task in stream.data}) == 2  # both worker processes ran tasks
    return results


@pytest.mark.parametrize("name", ON_CLUSTER)
def test_on_cluster(on_cluster, name):
    assert_same(*on_cluster[name])


def test_value_errors_raise_when_computing(client):
    x, t = chunked(np.zeros((6, 3)), 2), chunked(np.array([0, 1, 2, 3, 0, 1]), 2)
    with pytest.raises(IndexError, match="target 3 is out of bounds"):
        sd.nll_loss(x, t).compute()
    lazy = sd.binary_cross_entropy(chunked(np.array([0.5, 1.5]), 1), np.array([0.0, 1.0]), None)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        lazy.compute()
