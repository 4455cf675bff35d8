"""Property tests of reproducibility across instruction sets, and of canonical NaN results.

Generated cases (tests/strategies.py) are saved to a .npz and recomputed by a subprocess per
supported SIMD path other than this process's (SOFTLOSS_SIMD); every path must give every case
the same bits, NaN bits included, and every NaN a result holds must be np.nan's bits. Profile
and example counts from strategies.examples (SOFTLOSS_PROPERTY_SCALE).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import strategies as S
from hypothesis import given
from hypothesis import strategies as st

import softloss as sl

examples = S.examples

SIMD_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import strategies as S
import softloss as sl
out = []
for case in S.load_cases(sys.argv[2]):
    try:
        out.append(S.digest(S.call(case), nan_bits=sys.argv[3] == "exact"))
    except Exception as e:
        out.append("error: " + type(e).__name__)
print(json.dumps({"simd": sl.config()["simd"], "digests": out}))
"""


def digests_on_other_paths(cases, nan_bits):
    """{SIMD path: [digest of each case]} for every supported path but this process's."""
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cases.npz")
        S.save_cases(path, cases)
        assert [S.digest(S.call(c)) for c in S.load_cases(path)] == [
            S.digest(S.call(c)) for c in cases
        ]  # the .npz round trip is exact
        mode = "exact" if nan_bits else "nan"
        for simd in set(sl.config()["simd_supported"]) - {sl.config()["simd"]}:
            proc = subprocess.run(
                [sys.executable, "-c", SIMD_SCRIPT, tests_dir, path, mode],
                env=dict(os.environ, SOFTLOSS_SIMD=simd),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            assert got["simd"] == simd
            found[simd] = got["digests"]
    return found


@examples(2)
@given(
    cases=st.lists(st.one_of(S.any_case(), S.big_case(max_size=120_000)), min_size=40, max_size=40)
)
def test_bitwise_identical_across_simd_paths(cases):
    """Domain: 40 generated cases per example (every function, every value, small and parallel
    sizes), saved to a .npz and recomputed by a subprocess per supported SIMD path other than
    this process's (SOFTLOSS_SIMD). Exactly: every path gives every case the bits computed here,
    NaN bits included. (tests/test_simd_paths.py does the same for the fixtures and fixed random
    inputs.)"""
    here = [S.digest(S.call(c)) for c in cases]
    for simd, got in digests_on_other_paths(cases, nan_bits=True).items():
        bad = [(i, cases[i][0]) for i, (a, b) in enumerate(zip(got, here, strict=True)) if a != b]
        assert not bad, f"{simd} differs on cases {bad}"


def test_simd_paths_agree_on_the_sign_of_nan():
    """Once a bug: +NaN from a NaN input met -NaN from an invalid operation (0 * inf or inf - inf
    give x86's default NaN, 0xffc00000) and the result's sign followed the path's operand order
    (float32 bce_with_logits([nan, inf], [.5, .5], weight=0, reduction='sum') was 0x7fc00000 on
    avx2, 0xffc00000 on scalar; softmax([inf, nan])[1] the other way round). Every stored NaN is
    now the canonical quiet NaN, so results do not depend on the instruction set, NaN sign
    included."""
    f32 = np.float32
    x, y = np.array([np.nan, np.inf], f32), np.array([0.5, 0.5], f32)
    cases = [
        ("binary_cross_entropy_with_logits", (x, y), {"weight": f32(0), "reduction": r})
        for r in ("sum", "mean")
    ]
    cases.append(("softmax", (x[::-1].copy(),), {}))
    results = [S.call(c) for c in cases]
    assert all(np.isnan(r).all() for r in results[:2])
    assert np.isnan(results[2]).all()
    for r in results:
        assert_nans_canonical(r)
    here = [S.digest(r) for r in results]
    for got in digests_on_other_paths(cases, nan_bits=True).values():
        assert got == here


def assert_nans_canonical(result):
    """Every NaN in `result` (an array, a scalar or a tuple of them) is the positive quiet NaN
    with an empty payload, the bits of np.nan in its dtype."""
    for r in result if isinstance(result, tuple) else (result,):
        a = np.asarray(r)
        if a.dtype.kind != "f":
            continue
        nan = a.dtype.type(np.nan)
        uint = np.dtype(f"u{a.dtype.itemsize}").newbyteorder(a.dtype.byteorder)
        canonical = np.asarray(nan, a.dtype).view(uint)
        got = a[np.isnan(a)].view(uint)
        assert (got == canonical).all(), f"NaN bits {sorted({hex(int(v)) for v in got})}"


@examples(200)
@given(case=S.any_case())
def test_every_nan_result_is_the_canonical_quiet_nan(case):
    """Domain: any generated case (every function and keyword, values including NaN, ±inf,
    subnormal and huge). Every NaN in the result has the bits of np.nan (sign clear, quiet, no
    payload), whichever operation made it and whichever path ran it."""
    try:
        result = S.call(case)
    except (TypeError, ValueError, IndexError):
        return
    assert_nans_canonical(result)


def test_special_long_rows_are_all_canonical_nan() -> None:
    # The three-pass and online row routes store without canonicalising when the row sum is not
    # NaN, and fill the row with np.nan when it is: every NaN-producing row must come out as
    # exactly np.nan's bits, whatever NaN (sign, payload) the input held.
    for dtype, classes in [(np.float32, 1000), (np.float32, 530_000), (np.float64, 270_000)]:
        x = np.random.default_rng(classes).standard_normal((6, classes)).astype(dtype)
        uint = np.uint32 if dtype == np.float32 else np.uint64
        negative_nan = np.array(-np.nan, dtype)
        # uint(1), not 1: NumPy 1.x would widen a 0-d array or a Python int to int64.
        payload_nan = (np.array(np.nan, dtype).view(uint) | uint(1)).view(dtype)
        x[0, 5] = negative_nan
        x[1, -1] = payload_nan
        x[2, 3] = np.inf
        x[3] = -np.inf
        # rows 4 and 5 stay finite
        want = np.array(np.nan, dtype).view(uint)
        for f in (sl.softmax, sl.log_softmax):
            out = f(x)
            assert np.all(out[:4].view(uint) == want), (f.__name__, dtype, classes)
            assert np.all(np.isfinite(out[4:]) | (out[4:] == -np.inf))
