"""``softloss bench``: :mod:`softloss.bench` with a progress bar, a rich table and a bar chart."""

from __future__ import annotations

import argparse
import importlib.util
import json
from typing import TYPE_CHECKING

from softloss import bench
from softloss.cli import INSTALL_HINT, console, error

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["CONTENDERS", "plot", "ratio_table", "run"]

#: The columns of the ratio table and the bars of the chart, in order.
CONTENDERS = ("softloss", "numpy", "scipy", "torch")


def _shape(row: bench.Row) -> str:
    text = "x".join(map(str, row.shape))
    return text if row.axis in (-1, len(row.shape) - 1) else f"{text} axis={row.axis}"


def _contenders(rows: list[bench.Row]) -> list[str]:
    return [c for c in CONTENDERS if any(c in r.seconds for r in rows)]


def ratio_table(rows: list[bench.Row]) -> Table:
    """softloss and every other contender as a ratio to the limit, one line per measurement."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    names = _contenders(rows)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("operation", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("dtype")
    table.add_column("limit", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for r in rows:
        ratios = r.ratios()
        cells = [
            Text(f"{ratios[n]:.2f}x", style="green" if ratios[n] < 1.5 else "")
            if n in ratios
            else Text("-", style="dim")
            for n in names
        ]
        table.add_row(Text(r.op), _shape(r), r.dtype, _seconds(r.seconds["limit"]), *cells)
    return table


def _seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s"


def plot(rows: list[bench.Row], path: str) -> None:
    """Write a grouped bar chart of the ratios to ``path``: one panel per shape and dtype.

    Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend change).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shapes = list(dict.fromkeys(_shape(r) for r in rows))
    dtypes = list(dict.fromkeys(r.dtype for r in rows))
    names = [n for n in _contenders(rows) if any(n in r.ratios() for r in rows)]
    ops = list(dict.fromkeys(r.op for r in rows))
    width = max(6.0, 0.45 * len(ops) * max(1, len(names)) / 2 + 2)
    fig = Figure(figsize=(width * len(dtypes), 3.2 * len(shapes) + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(len(shapes), len(dtypes), squeeze=False, sharey=True)
    bar = 0.8 / max(1, len(names))
    for i, shape in enumerate(shapes):
        for j, dtype in enumerate(dtypes):
            ax = grid[i][j]
            mine = {r.op: r.ratios() for r in rows if _shape(r) == shape and r.dtype == dtype}
            for k, name in enumerate(names):
                xs = [x + (k - (len(names) - 1) / 2) * bar for x in range(len(ops))]
                ys = [mine.get(op, {}).get(name, float("nan")) for op in ops]
                ax.bar(xs, ys, bar, label=name)
            ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
            ax.set_yscale("log")
            ax.set_title(f"{shape} {dtype}", fontsize=10)
            ax.set_xticks(range(len(ops)), ops, rotation=60, ha="right", fontsize=7)
            if j == 0:
                ax.set_ylabel("time / limit")
    handles, labels = grid[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(names))
    fig.suptitle("softloss bench: time per call / memory-traffic limit (dashed: 1)", fontsize=11)
    fig.savefig(path, dpi=100)


def _machine() -> str:
    m = bench.machine()
    sl = m["softloss"]
    return (
        f"{m['platform']}, {m['processor']}, {m['cpus']} CPUs; NumPy {m['numpy']}; "
        f"softloss {sl['version']} ({sl['simd']}, {sl['threads']} threads)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the benchmark chosen by ``args``; print the table; write ``--json`` / ``--plot``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return error("bench", f"--plot needs matplotlib: {INSTALL_HINT}")
    if args.only and not any(o in op for op in bench.operations() for o in args.only):
        return error("bench", "no operation matches --only " + " ".join(args.only))
    err = console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[label]}", style="dim"),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("bench", total=None, label="")

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, label=label)

        rows = bench.run(args.quick, args.only, progress, args.shapes, args.dtypes, args.budget)
    out = console()
    out.print(_machine(), soft_wrap=True)
    missing = [n for n in ("scipy", "torch") if importlib.util.find_spec(n) is None]
    if missing:
        out.print(f"not importable, not measured: {', '.join(missing)}", style="dim")
    out.print(
        "Seconds per call as a ratio to the limit (lower is better); the limit column is the "
        "time of the NumPy operation with the same memory traffic:",
        soft_wrap=True,
    )
    out.print()
    out.print(ratio_table(rows))
    try:
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(bench.to_json(rows), fh, indent=1)
        if args.plot:
            plot(rows, args.plot)
    except OSError as exc:
        return error("bench", f"cannot write {exc.filename}: {exc.strerror}")
    return 0
