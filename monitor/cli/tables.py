"""Tables for the terminal that fit its width: aligned columns, one line a row, no name broken over lines.

A column is fixed (a status, a time: always whole) or flexible with a minimum width, a comfortable width and
a priority: when the rows do not fit, the flexible columns give up width down to their comfortable width, the
lowest priority first, then down to their minimum in the same order (one long name does not take a URL's
whole room, and a name is cut only when nothing else can give). A cell cut short ends with "…", so what is
shown is never mistaken for the whole value (``--format json`` always has every value). Headers stay whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

GAP = 2  # the spaces between two columns (rich's padding of a borderless table)


@dataclass(frozen=True)
class Column:
    header: str
    minimum: int | None = None  # None: fixed, shown whole; else flexible, never narrower than this
    priority: int = 0  # among the flexible columns, the lowest gives up width first
    comfortable: int | None = None  # what a flexible column keeps until the others are there too (minimum)
    justify: str = "left"


def fit_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Each column's width: its widest cell (or header), less what the flexible columns give up, lowest
    priority first, until the row fits ``width`` (or every flexible column is at its minimum)."""
    widths = [max([len(column.header), *(len(row[i]) for row in rows)]) for i, column in enumerate(columns)]
    excess = sum(widths) + GAP * (len(columns) - 1) - width
    flexible = sorted((i for i, c in enumerate(columns) if c.minimum is not None), key=lambda i: columns[i].priority)
    least = {i: max(columns[i].minimum or 1, len(columns[i].header)) for i in flexible}  # a header stays whole
    for floors in ([max(columns[i].comfortable or 0, least[i]) for i in flexible], [least[i] for i in flexible]):
        for i, floor in zip(flexible, floors, strict=True):
            give = min(max(excess, 0), max(0, widths[i] - floor))
            widths[i] -= give
            excess -= give
    return widths


def relative(value: dt.datetime | None, now: dt.datetime) -> str:
    """ "12m ago", "in 3h", "now" or "-": a time as a short distance from ``now`` (the table's width is for
    names, and "when" matters as "how long ago"; ``--format json`` has the exact times)."""
    if value is None:
        return "-"
    seconds = (value - now).total_seconds()
    size = abs(seconds)
    if size < 60:
        return "now"
    amount = next(f"{int(size // unit)}{name}" for unit, name in ((86400, "d"), (3600, "h"), (60, "m"))
                  if size >= unit)
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def print_table(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    """The rows under their headers, fitted to the console's width."""
    widths = fit_widths(columns, rows, console.width)
    table = Table(box=None, pad_edge=False, show_edge=False, collapse_padding=False)
    for column, width in zip(columns, widths, strict=True):
        table.add_column(column.header, width=width, no_wrap=True, overflow="ellipsis",
                         justify=column.justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # feed text is text, never markup
    console.print(table, markup=False, crop=False)


__all__ = ["Column", "fit_widths", "print_table", "relative"]
