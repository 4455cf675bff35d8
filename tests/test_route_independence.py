"""A row's result depends only on its values: not on how many rows share the call.

Short rows are computed one row per vector lane and long rows one row at a time; a call with
few rows must not take a different route (with different rounding) from a call with many, or a
streamed evaluation in batches would not reproduce the in-memory result bit for bit.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import softloss as sl

# Each kernel family takes tiles below its own class count (at most 32, per dtype): every count
# up to past that bound, so both sides of each family's switch are covered.
CLASSES = [*range(1, 34), 40]
ROWS = 70  # more than one vector of rows, so the whole-array call takes the many-row route


def bits(a: object) -> bytes:
    return np.ascontiguousarray(np.asarray(a)).tobytes()


def results(x, t, go, w):
    """Every row-wise result for the rows of ``x``."""
    n, dtype = len(x), x.dtype
    p = sl.softmax(go)
    return {
        "softmax": sl.softmax(x),
        "log_softmax": sl.log_softmax(x),
        "ce": sl.cross_entropy(x, t, reduction="none"),
        "ce_ls_w": sl.cross_entropy(x, t, w, reduction="none", label_smoothing=0.1),
        "ce_grad": sl.cross_entropy_with_grad(x, t, reduction="none")[1],
        "ce_back": sl.cross_entropy_backward(np.ones(n, dtype), x, t, reduction="none"),
        "ce_ls_w_grad": sl.cross_entropy_with_grad(x, t, w, reduction="none", label_smoothing=0.1)[
            1
        ],
        "ce_back_go": sl.cross_entropy_backward(go[:, 0], x, t, w, reduction="none"),
        "ce_prob": sl.cross_entropy(x, p, reduction="none"),
        "ce_prob_w_ls": sl.cross_entropy(x, p, w, reduction="none", label_smoothing=0.05),
        "ce_prob_w_ls_grad": sl.cross_entropy_with_grad(
            x, p, w, reduction="none", label_smoothing=0.05
        )[1],
        "softmax_back": sl.softmax_backward(go, sl.softmax(x)),
        "log_softmax_back": sl.log_softmax_backward(go, sl.log_softmax(x)),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", CLASSES)
def test_rows_do_not_depend_on_the_batch(dtype: type, classes: int) -> None:
    # Prefixes and suffixes: a long row's max is found while the row before it computes its exps
    # (rowops::exp_sum_ahead), so a call's first row and its later rows find it differently.
    rng = np.random.default_rng(classes)
    x = (rng.standard_normal((ROWS, classes)) * 4).astype(dtype)
    x[3, 0] = -np.inf
    x[4] += 1e4
    x[5, -1] = np.nan
    x[6] = -np.inf
    t = rng.integers(0, classes, ROWS)
    t[1] = t[8] = -100  # ignored rows
    go = rng.standard_normal((ROWS, classes)).astype(dtype)
    w = rng.uniform(0.5, 2, classes).astype(dtype)
    with np.errstate(invalid="ignore"):
        whole = results(x, t, go, w)
        for k in (1, 2, 3, 4, 5, 7, 8, 15, 17, 33):
            for rows in (slice(None, k), slice(k, None)):
                part = results(x[rows], t[rows], go[rows], w)
                for name, value in part.items():
                    assert bits(value) == bits(whole[name][rows]), (name, rows)


# Outputs of 32 MiB or more stream past the cache (where the CPU's non-temporal stores pay, or
# as SOFTLOSS_STREAMING_STORES says), and log_softmax outputs of 2 MiB or more take the same route
# with plain stores (softmax_streamed.rs: three rows in flight per loop); the same rows in small
# batches take the plain three-pass route. Outputs off a 64-byte boundary too, and special rows.
# The setting is read once per process, so each runs in a subprocess, which prints the setting
# it saw and a digest of its results.
STREAMED_SCRIPT = textwrap.dedent(
    r"""
    import hashlib, json
    import numpy as np
    import softloss as sl

    def bits(a):
        return np.ascontiguousarray(np.asarray(a)).tobytes()

    digest = hashlib.sha256()
    for dtype in (np.float32, np.float64):
        for mib in (3, 33):
            classes = 4099
            rows = -(-(mib << 20) // (classes * np.dtype(dtype).itemsize))
            rng = np.random.default_rng(7)
            x = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
            x[1, 5] = np.nan
            x[2, 9] = np.inf
            x[3] = -np.inf
            x[4, 0] = 1e4
            x[-1, :100] = -np.inf
            with np.errstate(invalid="ignore"):
                for f in (sl.softmax, sl.log_softmax):
                    batches = np.concatenate([f(x[k : k + 16]) for k in range(0, rows, 16)])
                    assert bits(f(x)) == bits(batches), (f.__name__, dtype, mib)
                    out = np.empty(x.size + 1, dtype)[1:].reshape(x.shape)
                    f(x, out=out)
                    assert bits(out) == bits(batches), (f.__name__, dtype, mib)
                    digest.update(bits(out))
    print(json.dumps({"streaming_stores": sl.config()["streaming_stores"],
                      "digest": digest.hexdigest()}))
    """
)


def _streamed(setting: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "SOFTLOSS_STREAMING_STORES"}
    if setting is not None:
        env["SOFTLOSS_STREAMING_STORES"] = setting
    run = subprocess.run(
        [sys.executable, "-c", STREAMED_SCRIPT], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, object] = json.loads(run.stdout)
    return result


def _cpu_vendor() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def test_streamed_calls_match_batches_with_and_without_streaming_stores() -> None:
    on, off = _streamed("on"), _streamed("OFF")
    assert on["streaming_stores"] is True
    assert off["streaming_stores"] is False
    assert on["digest"] == off["digest"]  # non-temporal stores change no bits
    default = _streamed(None)
    assert default["digest"] == on["digest"]
    vendor = _cpu_vendor()
    if platform.machine() in ("x86_64", "AMD64") and vendor is not None:
        assert default["streaming_stores"] is (vendor not in ("AuthenticAMD", "HygonGenuine"))
    # An unknown value is ignored: the CPU's default.
    assert _streamed("sometimes")["streaming_stores"] is default["streaming_stores"]
