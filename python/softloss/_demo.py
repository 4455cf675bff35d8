"""The seed tutorial's worked examples, computed by softloss, as text and tables.

Each section is a list of blocks: lines of text and :class:`Table` s. :func:`render` lays them out
as plain text; ``softloss.cli.demo`` lays the same blocks out with rich. Every number shown is
computed here, by softloss or, for the comparisons, by NumPy; nothing is copied from the
reference fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

import softloss

CLASSES = ("cat", "horse", "dog")
SCORES = np.array([[5.0, 4.0, 2.0], [4.0, 2.0, 8.0], [4.0, 4.0, 1.0]])
TARGETS = np.array([0, 2, 1])
CLASS_WEIGHTS = np.array([1.0, 2.0, 0.5])


class Table(NamedTuple):
    """A table of formatted cells; a column whose cells are all numbers is right-aligned."""

    header: list[str]
    rows: list[list[str]]


Block = str | Table
Section = Callable[[], list[Block]]


def _f(value: Any, digits: int = 4) -> str:
    """A number in at most ~10 characters: fixed point, or scientific when tiny or huge."""
    v = float(value)
    if v != 0.0 and np.isfinite(v) and not 1e-4 <= abs(v) < 1e6:
        return f"{v:.{max(digits - 2, 1)}e}"
    return f"{v:.{digits}f}"


def numeric_columns(table: Table) -> list[bool]:
    """For each column of ``table``: True when every non-empty cell below the header is a number."""
    columns = zip(table.header, *table.rows, strict=True)
    return [all(_is_number(c) for c in col[1:] if c) for col in columns]


def _table(table: Table) -> list[str]:
    """Lines of a table: numbers right-aligned, text left-aligned, a rule under the header."""
    header, body = table
    widths = [max(map(len, col)) for col in zip(header, *body, strict=True)]
    numeric = numeric_columns(table)

    def line(row: Sequence[str]) -> str:
        cells = (
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)
        )
        return ("  " + "  ".join(cells)).rstrip()

    rule = "  " + "  ".join(("-" if h else " ") * w for h, w in zip(header, widths, strict=True))
    return [line(header), rule.rstrip(), *(line(r) for r in body)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _x(value: Any) -> str:
    """An input value as typed in the tutorial: 0.3, 4.0, 1010.0."""
    return repr(float(value))


def _scores_to_probabilities() -> list[Block]:
    p = softloss.softmax(SCORES, axis=1)
    rows = [
        [str(i + 1), *(f"{s:g}" for s in scores), *(_f(v) for v in probs), _f(probs.sum())]
        for i, (scores, probs) in enumerate(zip(SCORES, p, strict=True))
    ]
    header = ["image", *CLASSES, *(f"p({c})" for c in CLASSES), "sum"]
    tie = p[2]
    return [
        "Three images scored for cat / horse / dog; softmax(scores, axis=1) turns each",
        "row into probabilities that sum to 1.",
        "",
        Table(header, rows),
        "",
        f"Image 3 is a tie: cat and horse both score {SCORES[2, 0]:g}, so they share the",
        f"probability equally: {tie[0]:.2f} / {tie[1]:.2f} / {tie[2]:.2f} "
        f"({tie[0]:.6f} each, dog {tie[2]:.6f}).",
    ]


def _one_row() -> list[Block]:
    x = np.array([0.3, 2.9, 4.0])
    p = softloss.softmax(x)
    logp = softloss.log_softmax(x)
    rows = [[_x(a), _f(b), _f(c), _f(np.exp(c))] for a, b, c in zip(x, p, logp, strict=True)]
    return [
        "softmax(x) = exp(x) / sum(exp(x)); log_softmax(x) = x - log(sum(exp(x))).",
        "",
        Table(["x", "softmax(x)", "log_softmax(x)", "exp(log_softmax)"], rows),
        "",
        f"softmax sums to {_f(p.sum())}; exp(log_softmax) gives softmax back.",
    ]


def _overflow() -> list[Block]:
    x = np.array([1010.0, 1000.0, 990.0])
    with np.errstate(all="ignore"):
        e = np.exp(x)
        naive = e / e.sum()
    p = softloss.softmax(x)
    rows = [[_x(a), str(b), str(c), f"{d:.6e}"] for a, b, c, d in zip(x, e, naive, p, strict=True)]
    shifted = ", ".join(f"{v:g}" for v in x - x.max())
    return [
        "The textbook exp(x) / sum(exp(x)) overflows: exp(1010) is inf in float64,",
        "and inf / inf is nan.",
        "",
        Table(["x", "np.exp(x)", "naive", "softloss.softmax(x)"], rows),
        "",
        "softloss subtracts the row maximum first, computing exp([" + shifted + "]),",
        "which cannot overflow and gives the same probabilities.",
    ]


def _rows_2d() -> list[Block]:
    x = np.array([[0.3, 2.9, 4.0], [0.5, 1.1, 8.0], [0.9, 12.9, 34.0]])
    p = softloss.softmax(x, axis=1)
    rows = [[*map(_x, a), "|", *map(_f, b)] for a, b in zip(x, p, strict=True)]
    return [
        "With axis=1 each row of a 2-D array is normalised on its own.",
        "",
        Table(["x[:, 0]", "x[:, 1]", "x[:, 2]", "", "p[:, 0]", "p[:, 1]", "p[:, 2]"], rows),
        "",
        "A large gap (34 vs 12.9) leaves almost all the probability on one class;",
        "the small ones stay representable instead of rounding to zero.",
    ]


def _nll_with_weights() -> list[Block]:
    logp = softloss.log_softmax(SCORES, axis=1)
    plain = np.asarray(softloss.nll_loss(logp, TARGETS, reduction="none"))
    weighted = np.asarray(softloss.nll_loss(logp, TARGETS, weight=CLASS_WEIGHTS, reduction="none"))
    w_t = CLASS_WEIGHTS[TARGETS]
    rows = [
        [str(i + 1), CLASSES[t], _f(a), _x(w), _f(b)]
        for i, (t, a, w, b) in enumerate(zip(TARGETS, plain, w_t, weighted, strict=True))
    ]
    mean = softloss.nll_loss(logp, TARGETS, weight=CLASS_WEIGHTS)
    from_logits = softloss.cross_entropy(SCORES, TARGETS, weight=CLASS_WEIGHTS)
    weights = ", ".join(f"{c} {w}" for c, w in zip(CLASSES, CLASS_WEIGHTS, strict=True))
    return [
        f"logp = log_softmax(scores, axis=1), targets t = [cat, dog, horse] = {TARGETS.tolist()},",
        f"class weights w = [{weights}].",
        "",
        Table(["image", "target", "-logp[t]", "w[t]", "w[t] * -logp[t]"], rows),
        "",
        "The loss columns are nll_loss(logp, t, reduction='none') without and with",
        "weight=w. The weighted mean divides by the sum of the weights, not by N:",
        "",
        f"sum(w[t] * -logp[t]) / sum(w[t])   = {_f(weighted.sum())} / {w_t.sum()} "
        f"= {_f(weighted.sum() / w_t.sum())}",
        f"nll_loss(logp, t, weight=w)        = {_f(mean)}",
        f"cross_entropy(scores, t, weight=w) = {_f(from_logits)}  (the same, from the scores)",
    ]


def _gradient() -> list[Block]:
    loss, grad = softloss.cross_entropy_with_grad(SCORES, TARGETS, reduction="sum")
    backward = softloss.cross_entropy_backward(1.0, SCORES, TARGETS, reduction="sum")
    p = softloss.softmax(SCORES, axis=1)
    expected = p - np.eye(len(CLASSES))[TARGETS]
    rows = [
        [str(i + 1), CLASSES[t], *(_f(v) for v in pi), "|", *(_f(v) for v in gi)]
        for i, (t, pi, gi) in enumerate(zip(TARGETS, p, grad, strict=True))
    ]
    header = ["image", "target", *(f"p({c})" for c in CLASSES), "", *(f"g({c})" for c in CLASSES)]
    return [
        "loss, g = cross_entropy_with_grad(scores, t, reduction='sum'): the gradient",
        "of cross-entropy w.r.t. the scores is p = softmax(scores) with 1 subtracted",
        "at the target class.",
        "",
        Table(header, rows),
        "",
        f"loss = {_f(loss)} (the sum of -logp[t]); max |g - (p - onehot(t))| = "
        f"{_err(grad, expected)}.",
        "cross_entropy_backward(1.0, scores, t, reduction='sum') gives the same g",
        f"(max difference {_err(backward, grad)}).",
    ]


def _bce_clamp() -> list[Block]:
    x = np.linspace(0.0, 1.0, 10)
    y = np.full(10, 0.2)
    losses = np.asarray(softloss.binary_cross_entropy(x, y, reduction="none"))
    total = softloss.binary_cross_entropy(x, y, reduction="sum")
    notes = {0: "0.2 * -max(log 0, -100)", 9: "0.8 * -max(log(1 - 1), -100)"}
    pairs = enumerate(zip(x, losses, strict=True))
    rows = [[_f(a), _f(b), notes.get(i, "")] for i, (a, b) in pairs]
    return [
        "binary_cross_entropy(x, y) = -(y log x + (1 - y) log(1 - x)), each log clamped",
        "at -100 as in PyTorch, so x = 0 or 1 gives a large finite loss, not inf.",
        "x = linspace(0, 1, 10), y = 0.2 everywhere, reduction='none':",
        "",
        Table(["x", "loss", ""], rows),
        "",
        f"reduction='sum' gives {total:.6f}.",
    ]


def _err(a: NDArray[Any], b: NDArray[Any]) -> str:
    return f"{float(np.max(np.abs(a - b))):.1e}"


SECTIONS: list[tuple[str, Section]] = [
    ("Scores to probabilities", _scores_to_probabilities),
    ("softmax and log_softmax of one row", _one_row),
    ("Why subtract the maximum: overflow", _overflow),
    ("A 2-D array, one softmax per row", _rows_2d),
    ("Negative log-likelihood with class weights", _nll_with_weights),
    ("The gradient is p - 1 at the target", _gradient),
    ("Binary cross-entropy and the -100 clamp", _bce_clamp),
]


def title() -> list[str]:
    """The two lines above the sections."""
    return [
        f"softloss {softloss.__version__}: the softmax tutorial's worked examples,",
        "computed by softloss (float64).",
    ]


def sections() -> Iterator[tuple[str, list[Block]]]:
    """``(numbered heading, blocks)`` of every section, computed now."""
    for number, (name, section) in enumerate(SECTIONS, start=1):
        yield f"{number}. {name}", section()


def render() -> str:
    """The whole demo as one plain-text string (tables as aligned columns)."""
    lines = title()
    for heading, blocks in sections():
        lines += ["", heading, "=" * len(heading)]
        for block in blocks:
            lines += _table(block) if isinstance(block, Table) else [block]
    return "\n".join(lines) + "\n"
