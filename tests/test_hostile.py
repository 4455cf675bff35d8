"""Hostile-input matrix: every public function x every parameter x bad values.

Each row is (function, parameter, bad value) -> (exception type, substring naming the parameter).
A row calls the function with a known-good set of keyword arguments in which that parameter (and
sometimes a companion, e.g. reduction="none" for a grad_output shape) is replaced. Every row must
raise an ordinary Exception of the expected type whose message names the parameter, never a
PanicException (a BaseException) or a crash; every call with an array result gets a
sentinel-filled ``out`` (the gradient's, or the per-element losses' for reduction="none") that must
be bitwise unchanged afterwards. tests/test_errors.py holds the hand-written cases this
table generalises. Rows that fail today because of a library bug are strict xfails naming the bug.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import softloss as sl
from softloss import nn

RNG = np.random.default_rng(5)
X = RNG.standard_normal((4, 3))
T = np.array([0, 1, 2, 0])
P = RNG.uniform(0.05, 0.95, (4, 3))
Y = RNG.uniform(0, 1, (4, 3))
W = np.array([0.5, 1.0, 2.0])
SOFTMAX_FAMILY = ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward")
CLASS = ("nll_loss", "cross_entropy")
BINARY = ("binary_cross_entropy", "binary_cross_entropy_with_logits")
VARIANTS = ("", "_backward", "_with_grad")


def good_call(name):
    """Keyword arguments of a call of softloss.<name> that succeeds."""
    base = name.removesuffix("_backward").removesuffix("_with_grad")
    if base in ("softmax", "log_softmax"):
        kw = {"input": X, "axis": 1}
        if name.endswith("_backward"):
            kw = {"grad_output": Y, "output": getattr(sl, base)(X, axis=1), "axis": 1}
    elif base in CLASS:
        kw = {"input": sl.log_softmax(X, axis=1), "target": T, "weight": W, "ignore_index": -100}
        kw.update(reduction="mean", axis=None)
        if base == "cross_entropy":
            kw.update(input=X, label_smoothing=0.1)
    else:
        kw = {"input": P, "target": Y, "weight": W, "reduction": "mean"}
        if "logits" in base:
            kw.update(input=X, pos_weight=np.array([1.0, 2.0, 3.0]))
    if name.endswith("_backward") and base not in ("softmax", "log_softmax"):
        kw = {"grad_output": 1.0, **kw}
    return kw


FUNCTIONS = [
    *SOFTMAX_FAMILY,
    *(b + v for b in CLASS for v in VARIANTS if (b, v) != ("nll_loss", "_with_grad")),
    *(b + v for b in BINARY for v in VARIANTS),
]
assert len(FUNCTIONS) == 15
assert sorted(FUNCTIONS) == sorted(
    n
    for n in sl.__all__
    if callable(getattr(sl, n)) and n not in ("config", "get_num_threads", "set_num_threads")
)

# ----------------------------------------------------------------------------- bad values

# Bugs this matrix found, now fixed (the rows that exposed them run as ordinary rows): scalar
# keywords of the wrong type or beyond the native range raised PyO3's messages (or OverflowError)
# without the parameter's name; a ragged target raised NumPy's ValueError; label_smoothing="0.1"
# was accepted through float() on the weighted path; CrossEntropyLoss(label_smoothing=None)
# failed in a comparison. Set one of these to a reason string to mark a new bug's rows as xfail.
BUG_NAMES = BUG_OVERFLOW = BUG_RAGGED = BUG_SMOOTHING_STR = None
WRONG_TYPES = {
    "None": None,
    "list-of-str": ["a", "b", "c"],
    "dict": {"a": 1},
    "object-array": X.astype(object),
    "complex-array": X.astype(complex),
    "str-array": X.astype(str),
    "bytes": b"abc",
    "datetime-array": np.zeros((4, 3), "datetime64[s]"),
    "ragged-list": [[1.0], [1.0, 2.0]],
}
OUTSIDE_01 = (1.5, -0.1, np.nan, np.inf, -np.inf)


class Over(dict):
    """Overrides of several parameters (a plain dict is a bad value in its own right)."""


def bad(a, value, dtype=None):
    """A copy of `a` (as `dtype`) whose first element is `value`."""
    a = np.array(a, dtype=dtype)
    a.flat[0] = value
    return a


def array_rows(name, param):
    """(label, overrides, exception, bug) for an array parameter."""
    base = name.removesuffix("_backward").removesuffix("_with_grad")
    ce = base == "cross_entropy"
    rows = [
        (k, v, TypeError) for k, v in WRONG_TYPES.items() if param[-6:] != "weight" or k != "None"
    ]
    if param == "grad_output" and base in CLASS + BINARY:
        rows += [("array-for-mean", np.ones(4), ValueError)]
        rows += [
            ("wrong-shape-for-none", Over({param: np.ones(3), "reduction": "none"}), ValueError)
        ]
        rows += [("2d-for-none", Over({param: np.ones((4, 1)), "reduction": "none"}), ValueError)]
    elif param in ("grad_output", "output"):
        rows += [("wrong-shape", np.ones((4, 2)), ValueError), ("1-d", np.ones(3), ValueError)]
        rows += [("empty", np.ones((0, 3)), ValueError)]
        rows += [("int-dtype", np.ones((4, 3), int), TypeError)] * (param == "output")
    elif param == "input" and base in CLASS + BINARY:
        rows += [("int", np.ones((4, 3), int), TypeError), ("bool", X > 0, TypeError)]
        rows += [("wrong-rows", np.zeros((5, 3)), ValueError), ("empty", X[:0], ValueError)]
        rows += [("0-d", np.float64(0.5), ValueError)] * (base in CLASS)
        if base == "binary_cross_entropy":
            rows += [(f"value-{v}", bad(P, v), ValueError) for v in OUTSIDE_01]
    elif param == "target" and base in CLASS:
        rows += [(f"class-{v}", bad(T, v), IndexError) for v in (3, -1, -5, 2**63 - 1)]
        rows += [("uint64-max", bad(T, 2**64 - 1, np.uint64), IndexError)]
        rows += [("int8-min", bad(T, -128, np.int8), IndexError)]
        rows += [("2-d", T[:, None], ValueError), ("wrong-batch", T[:3], ValueError)]
        rows += [("empty", T[:0], ValueError)]
        rows += [
            ("ignored-by-other-index", Over({param: bad(T, -100), "ignore_index": 1}), IndexError)
        ]
        if ce:
            rows += [("prob-wrong-shape", np.full((4, 2), 0.5), ValueError)]
        else:
            rows += [("float", T.astype(float), TypeError), ("bool", T > 0, TypeError)]
    elif param == "target":
        rows += [("wrong-shape", Y[:, :2], ValueError), ("empty", Y[:0], ValueError)]
        if base == "binary_cross_entropy":
            rows += [(f"value-{v}", bad(Y, v), ValueError) for v in OUTSIDE_01]
    elif param == "weight" and base in CLASS:
        shapes = {"short": (2,), "long": (4,), "2-d": (1, 3), "0-d": (), "empty": (0,)}
        rows += [(k, np.ones(s), ValueError) for k, s in shapes.items()]
    elif param in ("weight", "pos_weight"):
        shapes = {"incompatible": (2,), "enlarging": (2, 4, 3), "enlarging-3d": (1, 4, 3)}
        shapes.update({"enlarging-rows": (8, 3), "empty": (0,)})
        rows += [(k, np.ones(s), ValueError) for k, s in shapes.items()]
    bug = BUG_RAGGED if ce and param == "target" else None
    return [(k, v, exc, bug if k == "ragged-list" else None) for k, v, exc in rows]


def scalar_rows(name, param):
    """(label, value, exception, bug) for a scalar keyword."""
    wrong = {"float": 1.5, "str": "1", "list": [1], "ndarray": np.ones(2), "None": None}
    either = (ValueError, TypeError)
    if param == "axis":
        rows = [(f"out-of-range-{v}", v, ValueError, None) for v in (2, -3, 2**40)]
        if name not in SOFTMAX_FAMILY:
            del wrong["None"]  # the losses' default
        rows += [(f"type-{k}", v, TypeError, BUG_NAMES) for k, v in wrong.items()]
        return [*rows, ("huge-int", 2**70, either, BUG_OVERFLOW)]
    if param == "ignore_index":
        rows = [(f"type-{k}", v, TypeError, BUG_NAMES) for k, v in wrong.items()]
        return rows + [(f"huge-int-{s}", s * 2**70, either, BUG_OVERFLOW) for s in (1, -1)]
    if param == "reduction":
        typos = ("avg", "", "Mean", "MEAN", " mean", "elementwise_mean", "batchmean", "sum ")
        rows = [(f"typo-{v!r}", v, ValueError, None) for v in typos]
        types = {"None": None, "int": 1, "bytes": b"mean", "list": ["mean"]}
        return rows + [(f"type-{k}", v, either, BUG_NAMES) for k, v in types.items()]
    values = (-0.1, 1.5, np.nan, np.inf, -np.inf, np.nextafter(1, 2), -1e-300)
    rows = [(f"value-{v}", v, ValueError, None) for v in values]
    wrong = {k: v for k, v in wrong.items() if k not in ("float", "str")}
    rows += [(f"type-{k}", v, TypeError, BUG_NAMES) for k, v in wrong.items()]
    rows += [("type-complex", 1j, TypeError, BUG_NAMES), ("type-str", "0.1", TypeError, None)]
    return [*rows, ("huge-int", 2**1030, either, BUG_OVERFLOW)]


def readonly(a):
    a.flags.writeable = False
    return a


OUT_BAD = {
    "wrong-shape": (lambda: np.zeros((3, 4)), ValueError),
    "wrong-size": (lambda: np.zeros((4, 4)), ValueError),
    "0-d": (lambda: np.zeros(()), ValueError),
    "float32": (lambda: np.zeros((4, 3), np.float32), TypeError),
    "int64": (lambda: np.zeros((4, 3), np.int64), TypeError),
    "byteswapped": (lambda: np.zeros((4, 3), ">f8"), TypeError),
    "read-only": (lambda: readonly(np.zeros((4, 3))), ValueError),
    "fortran": (lambda: np.zeros((4, 3), order="F"), ValueError),
    "strided": (lambda: np.zeros((4, 6))[:, ::2], ValueError),
    "reversed": (lambda: np.zeros((4, 3))[::-1], ValueError),
    "list": (lambda: [0.0] * 12, TypeError),
    "tuple": (lambda: (0.0,) * 12, TypeError),
}
FAST_PATH = ("nll_loss", "cross_entropy", "cross_entropy_with_grad")  # weight=None: no Python
F16 = {"input": X.astype(np.float16), "grad_output": Y.astype(np.float16)}
F16["output"] = sl.softmax(X).astype(np.float16)

# ----------------------------------------------------------------------------- the table


def build_rows():
    """[(id, function, overrides, exception, parameter the message must name, bug or None)]"""
    rows = []
    for name in FUNCTIONS:
        good = good_call(name)
        for param in good:
            scalar = param in ("axis", "ignore_index", "reduction", "label_smoothing")
            for label, v, exc, bug in (scalar_rows if scalar else array_rows)(name, param):
                over = v if isinstance(v, Over) else {param: v}
                if label == "type-str" and param == "label_smoothing":
                    bug = BUG_SMOOTHING_STR
                rows.append((f"{name}-{param}-{label}", name, over, exc, param, bug))
                if scalar and name in FAST_PATH and param != "reduction":
                    # the same without a weight: the fast path straight into the native call
                    fast_bug = BUG_NAMES if bug == BUG_SMOOTHING_STR else bug
                    over = {**over, "weight": None}
                    rows.append((f"{name}-{param}-{label}-fast", name, over, exc, param, fast_bug))
            if param == "ignore_index" and name.startswith("cross_entropy"):
                over = {"target": Y, param: 0}  # ignore_index >= 0 with probability targets
                rows.append((f"{name}-{param}-prob-target", name, over, ValueError, param, None))
        # A loss's per-element losses only exist for reduction="none"; out= with a scalar
        # reduction is refused.
        none = {"reduction": "none"} if loss_forward(name) else {}
        if none:
            mean_out = np.zeros(out_shape(name, none))
            over = {"out": lambda mean_out=mean_out: mean_out.copy()}
            rows.append((f"{name}-out-for-mean", name, over, ValueError, "out", None))
        for label, (make, exc) in OUT_BAD.items():
            rows.append((f"{name}-out-{label}", name, {"out": make, **none}, exc, "out", None))
        if name in SOFTMAX_FAMILY or name.endswith("_with_grad") or none:
            f16 = {k: v.astype(np.float16) for k, v in good.items() if is_float_array(v)}
            for label, make, exc in [
                ("float32-for-float16", lambda: np.zeros((4, 3), np.float32), TypeError),
                ("float16-wrong-shape", lambda: np.zeros((3, 4), np.float16), ValueError),
            ]:
                over = {**f16, "out": make, **none}
                rows.append((f"{name}-out-{label}", name, over, exc, "out", None))
    return rows


def is_float_array(v):
    return isinstance(v, np.ndarray) and v.dtype.kind == "f"


def loss_forward(name):
    """True for a loss without its gradient: its array result needs reduction="none"."""
    return name in CLASS + BINARY


def out_shape(name, kw):
    """The shape of the array result a call writes to ``out=``, or None for a scalar loss."""
    if not loss_forward(name):
        return (4, 3)  # the softmax family's result, or a gradient
    if kw.get("reduction") != "none":
        return None
    return (4,) if name in CLASS else (4, 3)


ROWS = build_rows()


def names(err, needle):
    """The message names `needle` as a word (so 'n' is not found in 'an integer')."""
    return re.search(rf"(?<![A-Za-z_]){re.escape(needle)}(?![A-Za-z_])", str(err)) is not None


def run_row(name, overrides):
    """Call the row, with a sentinel-filled `out` when the row is not about `out`; returns
    (exception or None, out, the out's bytes before the call)."""
    kw = dict(good_call(name))
    kw.update({k: v() if callable(v) else v for k, v in overrides.items()})
    shape = out_shape(name, kw)
    if "out" not in overrides and shape is not None:
        kw["out"] = np.full(shape, 7.25)
    out = kw.get("out")
    if isinstance(out, np.ndarray) and out.flags.writeable:
        out[...] = 7.25
    before = np.array(out, copy=True).tobytes() if isinstance(out, np.ndarray) else None
    try:
        getattr(sl, name)(**kw)
    except BaseException as e:  # a PanicException must be caught to be reported
        return e, out, before
    return None, out, before


def check_row(row):
    """None when the row behaves as the contract says, else what went wrong."""
    rid, name, overrides, exc, needle, _ = row
    err, out, before = run_row(name, overrides)
    if err is None:
        return f"{rid}: no exception"
    if not isinstance(err, Exception) or type(err).__name__ == "PanicException":
        return f"{rid}: {type(err).__name__} escapes `except Exception`: {err}"
    if before is not None and out.tobytes() != before:
        return f"{rid}: out was modified by a failing call"
    if not isinstance(err, exc):
        return f"{rid}: {type(err).__name__}: {err}"
    if not names(err, needle):
        return f"{rid}: message {str(err)!r} does not name {needle!r}"
    return None


BUG_TAGS: dict[str | None, str] = {None: ""}
GROUPS = {}
for _row in ROWS:  # one test per (function, parameter, known bug): ~1000 rows in ~140 tests
    GROUPS.setdefault((_row[1], _row[4], _row[5]), []).append(_row)


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(
            rows,
            id=f"{name}-{param}{BUG_TAGS[bug]}",
            marks=[pytest.mark.xfail(strict=True, reason=bug)] if bug else [],
        )
        for (name, param, bug), rows in GROUPS.items()
    ],
)
def test_hostile_matrix(rows):
    """Every row of the group raises the right ordinary exception naming the parameter, and
    leaves out= untouched. (A strict-xfail group turns into a failure once its bug is fixed.)"""
    problems = [p for p in map(check_row, rows) if p]
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- threads, nn

BUG_NN_SMOOTHING = None
VE, TE, LS, GO = ValueError, TypeError, "label_smoothing", "grad_output"
CEL, BWL, NSM = nn.CrossEntropyLoss, nn.BCEWithLogitsLoss, BUG_NN_SMOOTHING


def o(thunk, exc, needle, bug=None):
    return thunk, exc, needle, bug


OTHER = {  # id: (thunk, exception, parameter the message must name, bug or None)
    "set_num_threads-0": o(lambda: sl.set_num_threads(0), VE, "n"),
    "set_num_threads--1": o(lambda: sl.set_num_threads(-1), VE, "n"),
    "set_num_threads-str": o(lambda: sl.set_num_threads("2"), TE, "n", BUG_NAMES),
    "set_num_threads-None": o(lambda: sl.set_num_threads(None), TE, "n", BUG_NAMES),
    "set_num_threads-float": o(lambda: sl.set_num_threads(1.5), TE, "n", BUG_NAMES),
    "set_num_threads-huge": o(lambda: sl.set_num_threads(2**70), VE, "n", BUG_OVERFLOW),
    "NLLLoss-reduction": o(lambda: nn.NLLLoss(reduction="avg"), VE, "reduction"),
    "BCELoss-reduction": o(lambda: nn.BCELoss(reduction=None), VE, "reduction"),
    "BCEWithLogitsLoss-reduction": o(lambda: BWL(reduction="Sum"), VE, "reduction"),
    "CrossEntropyLoss-smoothing": o(lambda: CEL(label_smoothing=1.5), VE, LS),
    "CrossEntropyLoss-smoothing-nan": o(lambda: CEL(label_smoothing=np.nan), VE, LS),
    "CrossEntropyLoss-smoothing-None": o(lambda: CEL(label_smoothing=None), TE, LS, NSM),
    "CrossEntropyLoss-smoothing-str": o(lambda: CEL(label_smoothing="a"), TE, LS, NSM),
    "NLLLoss-weight": o(lambda: nn.NLLLoss(weight=np.ones(5))(X, T), VE, "weight"),
    "CrossEntropyLoss-target": o(lambda: CEL()(X, bad(T, 9)), IndexError, "target"),
    "Softmax-axis": o(lambda: nn.Softmax(axis=5)(X), VE, "axis"),
    "LogSoftmax-input": o(lambda: nn.LogSoftmax()(X.astype(complex)), TE, "input"),
    "BCELoss-input": o(lambda: nn.BCELoss()(P + 1, Y), VE, "input"),
    "BCEWithLogitsLoss-pos_weight": o(
        lambda: BWL(pos_weight=np.ones((3, 3)))(X, Y), VE, "pos_weight"
    ),
    "Softmax-backward": o(lambda: call_then(nn.Softmax(), X).backward(np.ones(3)), VE, GO),
    "CrossEntropyLoss-backward": o(lambda: call_then(CEL(), X, T).backward(np.ones(4)), VE, GO),
}


def call_then(module, *args):
    module(*args)
    return module


@pytest.mark.parametrize(
    ("thunk", "exc", "needle"),
    [
        pytest.param(*r[:3], id=k, marks=[pytest.mark.xfail(strict=True, reason=r[3])] * bool(r[3]))
        for k, r in OTHER.items()
    ],
)
def test_hostile_other(thunk, exc, needle, restore_threads):
    with pytest.raises(Exception) as info:  # an Exception: a PanicException would escape this
        thunk()
    assert info.type.__name__ != "PanicException"
    assert isinstance(info.value, exc), f"{info.type.__name__}: {info.value}"
    assert names(info.value, needle), f"message {str(info.value)!r} does not name {needle!r}"


# ----------------------------------------------------------------------------- survival

SURVIVE = """
import sys
sys.path.insert(0, sys.argv[1])
import test_hostile as h
for row in h.ROWS:
    h.run_row(row[1], row[2])
for row in h.OTHER.values():
    try:
        row[0]()
    except BaseException:
        pass
h.sl.set_num_threads(2)
print("survived", len(h.ROWS) + len(h.OTHER))
"""


def test_whole_matrix_in_a_subprocess():
    """Every row once more in a fresh process: it must exit normally (no abort, no segfault)."""
    env = dict(os.environ, SOFTLOSS_NUM_THREADS="2")
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run(
        [sys.executable, "-c", SURVIVE, here], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["survived", str(len(ROWS) + len(OTHER))]
