"""Shared helpers: fixture loading, tolerance-checked comparison and memory-layout transforms."""

import json
import pathlib
import sys

import numpy as np
import pytest

TESTS_DIR = pathlib.Path(__file__).resolve().parent
FIXTURES_DIR = TESTS_DIR / "fixtures"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

# Tolerances from tests/fixtures/README.md. Never loosen them.
TOLERANCES = {
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(np.float64): (1e-10, 1e-12),
}


def load_cases():
    """Return (list of case dicts, dict of arrays) from tests/fixtures."""
    with open(FIXTURES_DIR / "cases.json") as fh:
        cases = json.load(fh)["cases"]
    with np.load(FIXTURES_DIR / "arrays.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    return cases, arrays


def assert_close(actual, expected, dtype):
    """Compare with the fixture tolerance of `dtype`; NaN equals NaN, infinities must match."""
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    np.testing.assert_allclose(
        actual.astype(np.float64),
        expected.astype(np.float64),
        rtol=rtol,
        atol=atol,
        equal_nan=True,
    )


def assert_result(actual, expected, dtype, scalar=None):
    """assert_close plus the result contract: a C-contiguous array of `dtype`, or (`scalar`, by
    default when `expected` is 0-d, i.e. a mean/sum loss) a NumPy scalar of type `dtype`."""
    dtype = np.dtype(dtype)
    if scalar is None:
        scalar = np.ndim(expected) == 0
    if scalar:  # mean/sum: a NumPy scalar of the input dtype, not a 0-d array
        assert isinstance(actual, dtype.type), (
            f"expected a {dtype.type.__name__} scalar, got {type(actual).__name__}"
        )
    else:
        assert isinstance(actual, np.ndarray), f"expected an ndarray, got {type(actual)}"
        assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
        assert actual.flags.c_contiguous, "result is not C-contiguous"
    assert_close(actual, expected, dtype)


# ----------------------------------------------------------------------------- layouts
# Each transform returns an array with exactly the same values and dtype as its argument.


def backward_gate_rows(rng, dtype):
    """(go, p, logp) row sets for the softmax backwards' gates (kernels/softmax_backward.rs).

    Rows of 100, 1000 and 1003 classes (whole blocks of vectors, and a partial last vector),
    each row with one hazard: a tiny, subnormal, zero, negative, NaN or infinite p in the first
    block, in a later one or in the last vector; a go that is NaN, infinite, or large enough
    for the row's sum (or go - sum) to overflow; a logp past the fast exp's domain, between it
    and the tiny products' bound, above 0, or NaN. The first row of each set has no hazard.
    """
    info = np.finfo(dtype)
    tiny, big = float(info.tiny), float(info.max)
    sets = []
    for classes in (100, 1000, 1003):
        last = classes - 1
        p_hazards = [
            (1, tiny * 3),
            (5, tiny * 3),
            (last, tiny / 4),
            (70, 0.0),
            (last, 0.0),
            (7, -tiny),
            (9, np.nan),
            (last, np.nan),
            (3, np.inf),
            (80, -1.0),
        ]
        p = rng.uniform(0.5, 1.0, (len(p_hazards) + 7, classes)) / classes
        for row, (col, value) in enumerate(p_hazards, start=1):
            p[row, col] = value
        go = rng.standard_normal(p.shape)
        r = len(p_hazards) + 1
        go[r, 3] = np.nan
        go[r + 1, last] = np.inf
        go[r + 2] = big  # the sum overflows
        p[r + 2] = 1.0
        go[r + 3] = -big  # a finite sum near -big: go - sum overflows where go is big
        go[r + 3, 0] = big
        p[r + 3] = 1.0 / classes
        go[r + 4, 4] = -np.inf
        p[r + 4, 4] = 0.0  # inf * 0 in the sum
        go[r + 5] = -big  # as row r + 3, with a zero p where go - sum overflows: 0 * inf
        go[r + 5, 2] = big
        p[r + 5] = 1.0 / classes
        p[r + 5, 2] = 0.0
        logp = np.log(rng.uniform(0.5, 1.0, p.shape) / classes)
        floor = -80.0 if dtype == np.float32 else -697.0  # below the tiny bound, in range
        for row, (col, value) in enumerate(
            [(1, floor), (5, -100.0), (last, -800.0), (7, 0.5), (9, np.nan), (last, -np.inf)],
            start=1,
        ):
            logp[row, col] = value
        sets.append((go.astype(dtype), p.astype(dtype), logp.astype(dtype)))
    return sets


def as_c(a):
    return np.array(a, order="C", copy=True)


def as_fortran(a):
    return np.array(a, order="F", copy=True)


def as_strided(a):
    """A view with step-2 strides along every axis, made by embedding in a larger array."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(tuple(2 * n + 1 for n in a.shape), dtype=a.dtype)
    sl = tuple(slice(1, 1 + 2 * n, 2) for n in a.shape)
    big[sl] = a
    view = big[sl]
    assert view.size == 0 or not view.flags.c_contiguous or a.size <= 1
    return view


def as_reversed(a):
    """A negative-stride view: np.flip of a flipped copy, so the values are unchanged."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.copy()
    return np.flip(np.flip(a).copy())


def as_readonly(a):
    b = np.array(a, copy=True)
    b.flags.writeable = False
    return b


def as_byteswapped(a):
    """Same values in non-native byte order (e.g. '>f8' on little-endian machines)."""
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder("S"))


LAYOUTS = {
    "C": as_c,
    "F": as_fortran,
    "strided": as_strided,
    "reversed": as_reversed,
    "readonly": as_readonly,
    "byteswapped": as_byteswapped,
}


@pytest.fixture(params=sorted(LAYOUTS))
def layout(request):
    """Parametrised layout transform (name, function)."""
    return request.param, LAYOUTS[request.param]


@pytest.fixture
def restore_threads():
    """Put the thread count back after a test that changes it."""
    import softloss

    before = softloss.get_num_threads()
    yield before
    softloss.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(20240607)
