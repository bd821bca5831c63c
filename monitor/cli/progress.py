"""Progress of long work on stderr (a poll cycle, retag, rebuild, import): a rich progress bar when stderr is a
terminal, nothing otherwise, so a pipe, a log file or cron gets only the command's result.

``progress(label, total)`` yields ``advance(n=1)``; with ``total=None`` the bar counts without an end. The
caller's own result line still goes out as before: the bar is gone (transient) once the work is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def wanted(console: Console | None = None) -> bool:
    """Whether to show progress: on a terminal only (``console``'s, else stderr's, as rich sees it: FORCE_COLOR
    makes one)."""
    return (console or Console(stderr=True)).is_terminal


@contextmanager
def progress(label: str, total: int | None = None, *, console: Console | None = None,
             force: bool | None = None) -> Iterator[Callable[..., None]]:
    """A progress bar for ``label``, advanced by the callable it yields (``advance(n=1)``), or a callable
    that does nothing when stderr is no terminal. ``force``: show it (True) or not (False) whatever stderr is."""
    shown = force if force is not None else wanted(console)
    if not shown:
        yield lambda n=1: None
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()] if total is not None else [
        SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,.0f}"), TimeElapsedColumn()]
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


__all__ = ["progress", "wanted"]
