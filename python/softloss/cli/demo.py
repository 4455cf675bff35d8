"""``softloss demo``: the worked examples of :mod:`softloss._demo`, laid out with rich.

The same sections, text and numbers as the plain-text :func:`softloss._demo.render`, which is
what is printed when rich is not installed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from softloss import _demo

if TYPE_CHECKING:
    from rich.console import Console, JustifyMethod
    from rich.table import Table

__all__ = ["rich_table", "run"]


def rich_table(table: _demo.Table) -> Table:
    """A demo table as a rich table: numeric columns right-aligned, ``|`` separators dropped."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    columns = list(zip(table.header, *table.rows, strict=True))
    keep = [k for k, col in enumerate(columns) if col[0] or any(c != "|" for c in col[1:])]
    numeric = _demo.numeric_columns(table)
    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for k in keep:
        justify: JustifyMethod = "right" if numeric[k] else "left"
        out.add_column(Text(table.header[k]), justify=justify, no_wrap=True)
    for row in table.rows:  # Text cells: "[t]" in "-logp[t]" is not rich markup
        out.add_row(*(Text(row[k]) for k in keep))
    return out


def render(console: Console) -> None:
    """Print the demo on ``console``: headings, text and tables."""
    from rich.text import Text

    for line in _demo.title():
        console.print(Text(line, style="bold"))
    for heading, blocks in _demo.sections():
        console.print()
        console.print(Text(heading, style="bold cyan"))
        console.print(Text("=" * len(heading), style="cyan"))
        for block in blocks:
            if isinstance(block, _demo.Table):
                console.print(rich_table(block))
            else:
                console.print(Text(block), soft_wrap=True)


def run() -> int:
    """Print the demo to stdout, with rich when it is importable; return the exit status."""
    from softloss.cli import console, has_rich

    if not has_rich():
        sys.stdout.write(_demo.render())
        sys.stdout.flush()
        return 0
    render(console())
    return 0
