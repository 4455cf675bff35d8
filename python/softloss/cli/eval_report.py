"""``softloss eval``: runs :func:`softloss.cli.eval.evaluate` with a progress bar and prints it.

Output: a summary table (inputs, targets counted and ignored, mean cross-entropy in nats,
perplexity, top-1 accuracy, time and throughput) and the per-class table of the ``--top`` classes
with the highest mean loss; ``--json FILE`` writes :meth:`EvalResult.to_dict` (every class).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from softloss.cli import console, error
from softloss.cli._inputs import shape_text
from softloss.cli.eval import EvalError, EvalResult, evaluate

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["class_table", "run", "summary_table"]


def _n(count: int) -> str:
    return f"{count:,}"


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.2f}%"


def _num(x: float, digits: int = 6) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def summary_table(result: EvalResult) -> Table:
    """The overall metrics of ``result`` as a two-column rich table."""
    from rich.table import Table
    from rich.text import Text

    s = result.settings
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row(
        "logits",
        Text(
            f"{s.get('logits')}  {result.logits_dtype} {shape_text(result.logits_shape)}, "
            f"{result.num_classes:,} classes on axis {result.axis}"
        ),
    )
    table.add_row("targets", Text(f"{s.get('targets')}"))
    if s.get("weight"):
        table.add_row("weight", Text(f"{s['weight']}"))
    if s.get("label_smoothing"):
        table.add_row("label smoothing", f"{s['label_smoothing']:g}")
    table.add_row(
        "targets counted",
        f"{_n(result.counted)} of {_n(result.samples)} "
        f"({_n(result.ignored)} ignored, ignore index {s.get('ignore_index')})",
    )
    mean = "weighted mean" if s.get("weight") else "mean"
    table.add_row("cross-entropy", Text(f"{_num(result.mean_loss)} nats ({mean})", style="bold"))
    table.add_row("perplexity", _num(result.perplexity, 4))
    table.add_row(
        "top-1 accuracy",
        f"{_pct(result.accuracy)} ({_n(result.correct)} of {_n(result.counted)})",
    )
    size = int(np.prod(result.logits_shape)) * np.dtype(result.logits_dtype).itemsize
    rate = size / result.seconds / 2**20 if result.seconds > 0 else math.inf
    batches = "1 batch" if result.batches == 1 else f"{_n(result.batches)} batches"
    table.add_row(
        "time",
        f"{result.seconds:.2f} s, {batches} of {_n(result.rows_per_batch)} rows "
        f"({rate:,.0f} MiB/s)",
    )
    return table


def _top_classes(result: EvalResult, top: int) -> tuple[np.ndarray[tuple[int], Any], int]:
    """The ``top`` classes seen with the highest mean loss (NaN first), and how many were seen."""
    mean = result.class_mean_loss()
    seen = np.flatnonzero(result.class_count)
    order = seen[np.argsort(-np.nan_to_num(mean[seen], nan=np.inf), kind="stable")]
    return order[:top], len(seen)


def class_table(result: EvalResult, top: int) -> Table:
    """The ``top`` classes with the highest mean (unweighted) loss, with count and accuracy."""
    from rich import box
    from rich.table import Table

    mean = result.class_mean_loss()
    order, _ = _top_classes(result, top)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("class", "count", "mean loss", "top-1 accuracy"):
        table.add_column(name, justify="right")
    for c in order:
        table.add_row(
            str(c),
            _n(int(result.class_count[c])),
            _num(float(mean[c])),
            _pct(float(result.class_correct[c] / result.class_count[c])),
        )
    return table


def render(result: EvalResult, out: Console, top: int = 20) -> None:
    """Print the summary and per-class tables of ``result`` on ``out``."""
    out.print(summary_table(result))
    if result.counted:
        shown, seen = _top_classes(result, top)
        out.print()
        out.print(
            f"Per class ({len(shown)} of {seen:,} classes seen, highest mean loss first; "
            "the per-sample loss without class weights):",
            soft_wrap=True,
        )
        out.print(class_table(result, top))


def run(args: argparse.Namespace) -> int:
    """``softloss eval``: evaluate, print, write ``--json``; 2 with one line on bad input."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    err = console(stderr=True)
    columns = (
        TextColumn("eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("eval", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = evaluate(
                args.logits,
                args.targets,
                weight=args.weight,
                axis=args.axis,
                ignore_index=args.ignore_index,
                label_smoothing=args.label_smoothing,
                rows_per_batch=args.rows_per_batch,
                progress=progress,
            )
    except EvalError as exc:
        return error("eval", str(exc))
    render(result, console(), args.top)
    if args.json:
        try:
            with open(args.json, "w") as fh:
                json.dump(result.to_dict(), fh, indent=1)
                fh.write("\n")
        except OSError as exc:
            return error("eval", f"cannot write {args.json}: {exc.strerror}")
    return 0
