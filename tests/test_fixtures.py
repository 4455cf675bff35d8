"""Every PyTorch reference case in tests/fixtures, forward and backward, in several layouts."""

import json

import numpy as np
import pytest
import reference
from conftest import FIXTURES_DIR, LAYOUTS, assert_close, assert_result, load_cases

import softloss

CASES, ARRAYS = load_cases()
KNOWN_FNS = set(reference.FORWARD)
SOFTMAX_FAMILY = {"softmax", "log_softmax"}


def case_id(case):
    return f"{case['id']}-{case['fn']}-{case['dtype']}"


FORWARD_CASES = [pytest.param(c, id=case_id(c)) for c in CASES]
BACKWARD_CASES = [pytest.param(c, id=case_id(c)) for c in CASES if "expected_grad" in c]
WITH_GRAD_CASES = [pytest.param(c, id=case_id(c)) for c in CASES if c["fn"] == "cross_entropy"]


def case_arguments(case, transform=lambda a: a):
    """(positional arrays, keyword arguments) of a case, every array passed through transform."""
    args = [transform(ARRAYS[f"{case['id']}.{name}"]) for name in case["args"]]
    kwargs = {}
    for key, value in case["kwargs"].items():
        if isinstance(value, dict) and "array" in value:
            kwargs[key] = transform(ARRAYS[value["array"]])
        else:
            kwargs[key] = value
    return args, kwargs


def expected(case, key):
    return ARRAYS[case[key]]


def call_forward(module, case, transform=lambda a: a):
    args, kwargs = case_arguments(case, transform)
    return getattr(module, case["fn"])(*args, **kwargs)


def call_backward(module, case, transform=lambda a: a, grad_output=None):
    """The fixture README's backward convention, evaluated with `module` (softloss or reference)."""
    args, kwargs = case_arguments(case, transform)
    go = transform(expected(case, "grad_output")) if grad_output is None else grad_output
    backward = getattr(module, case["fn"] + "_backward")
    if case["fn"] in SOFTMAX_FAMILY:
        axis = kwargs["axis"]
        output = getattr(module, case["fn"])(args[0], axis=axis)
        return backward(go, transform(np.asarray(output)), axis=axis)
    return backward(go, *args, **kwargs)


# ----------------------------------------------------------------------------- bookkeeping


def test_every_case_is_parametrised():
    with open(FIXTURES_DIR / "cases.json") as fh:
        raw = json.load(fh)["cases"]
    assert len(raw) == 172
    assert len(CASES) == len(raw) == len(FORWARD_CASES)
    assert len({c["id"] for c in CASES}) == len(raw)
    assert len(BACKWARD_CASES) == sum("expected_grad" in c for c in raw)
    assert len(WITH_GRAD_CASES) == sum(c["fn"] == "cross_entropy" for c in raw)
    assert {c["fn"] for c in raw} == KNOWN_FNS
    assert {c["dtype"] for c in raw} == {"float32", "float64"}
    for fn in KNOWN_FNS:
        assert hasattr(softloss, fn), fn
        assert hasattr(softloss, fn + "_backward"), fn


def test_every_array_in_the_archive_is_used():
    used = set()
    for c in CASES:
        used.update(f"{c['id']}.{name}" for name in c["args"])
        used.update(v["array"] for v in c["kwargs"].values() if isinstance(v, dict))
        used.update(c[k] for k in ("expected", "grad_output", "expected_grad") if k in c)
    assert used == set(ARRAYS)


# ----------------------------------------------------------------------------- the reference itself


@pytest.mark.parametrize("case", FORWARD_CASES)
def test_reference_forward_matches_fixture(case):
    assert_close(call_forward(reference, case), expected(case, "expected"), case["dtype"])


@pytest.mark.parametrize("case", BACKWARD_CASES)
def test_reference_backward_matches_fixture(case):
    assert_close(call_backward(reference, case), expected(case, "expected_grad"), case["dtype"])


# ----------------------------------------------------------------------------- softloss


@pytest.mark.parametrize("case", FORWARD_CASES)
def test_forward(case):
    assert_result(call_forward(softloss, case), expected(case, "expected"), case["dtype"])


@pytest.mark.parametrize("case", BACKWARD_CASES)
def test_backward(case):
    got = call_backward(softloss, case)
    assert_result(got, expected(case, "expected_grad"), case["dtype"])
    assert got.shape == ARRAYS[f"{case['id']}.input"].shape


@pytest.mark.parametrize("case", WITH_GRAD_CASES)
def test_cross_entropy_with_grad(case):
    args, kwargs = case_arguments(case)
    loss, grad = softloss.cross_entropy_with_grad(*args, **kwargs)
    assert_result(loss, expected(case, "expected"), case["dtype"])
    dtype = np.dtype(case["dtype"])
    ones = np.ones(np.shape(expected(case, "expected")), dtype=dtype)
    go = ones if kwargs.get("reduction", "mean") == "none" else ones[()]
    assert_result(grad, softloss.cross_entropy_backward(go, *args, **kwargs), dtype)
    assert_close(grad, reference.cross_entropy_with_grad(*args, **kwargs)[1], dtype)


@pytest.mark.parametrize("layout_name", sorted(set(LAYOUTS) - {"C"}))
@pytest.mark.parametrize("case", FORWARD_CASES)
def test_layouts(case, layout_name):
    """Every array argument as an F-ordered / strided / reversed / read-only / byte-swapped view."""
    transform = LAYOUTS[layout_name]
    originals, _ = case_arguments(case)
    transformed, _ = case_arguments(case, transform)
    # the transform must not change any value
    for a, b in zip(originals, transformed, strict=True):
        assert a.dtype.kind == b.dtype.kind
        np.testing.assert_array_equal(a, b)
    dtype = case["dtype"]
    assert_result(call_forward(softloss, case, transform), expected(case, "expected"), dtype)
    if "expected_grad" in case:
        got = call_backward(softloss, case, transform)
        assert_result(got, expected(case, "expected_grad"), dtype)
    if case["fn"] == "cross_entropy":
        args, kwargs = case_arguments(case, transform)
        loss, _ = softloss.cross_entropy_with_grad(*args, **kwargs)
        assert_result(loss, expected(case, "expected"), dtype)
