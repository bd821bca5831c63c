"""How the process logs: structlog renders every line, ours and the libraries', for people or as JSON lines.

Our modules log through the standard library (``logging.getLogger(__name__)``), so pytest's caplog and any
embedding application still see them; structlog's ``ProcessorFormatter`` renders each record on the one
handler installed on the root logger:

- ``text`` (the default): structlog's console renderer, in colour on a terminal;
- ``json`` (``--log-format json`` or ``NEWS_MONITOR_LOG_FORMAT=json``): one JSON object a line, with
  ``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and ``event`` (the message), for journald, Loki or
  Elastic.

Ids ride along as fields where they apply: ``feed``, ``article_id`` and ``event_position``, taken from the
record's ``extra`` or from structlog's context variables (``structlog.contextvars.bound_contextvars``, which
the daemon's poll job and the pipeline's per-entry step bind, so a library's line inside them carries them too).

Levels: our own loggers (``monitor``, ``storage``) at INFO for the long-running commands (``run``: one line
per poll), otherwise WARNING; every other logger (alembic, httpx, trafilatura, uvicorn...) at WARNING unless
``-v``. APScheduler stays at WARNING even with ``-v``: its INFO lines are "Job ... executed successfully"
after a poll that failed (a failed poll is data, not an exception) and a "next run at" of the job's safety-net
trigger that contradicts the next poll we log. Our failures are WARNING, bugs ERROR.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

LOG_FORMATS = ("text", "json")
IDS = ("feed", "article_id", "event_position")  # the ids a line carries where they apply
OURS = ("monitor", "storage")
ALWAYS_QUIET = ("apscheduler",)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on whatever ``sys.stderr`` is when a line is written (pytest and CliRunner swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _renderer(log_format: str) -> Any:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(),
                                         exception_formatter=structlog.dev.plain_traceback)


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter that renders a stdlib record as structlog does (``text`` or ``json``)."""
    pre_chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(allow=IDS),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        final += [structlog.processors.format_exc_info]
    final.append(_renderer(log_format))
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=pre_chain, processors=final)


def configure_logging(log_format: str = "text", *, verbose: bool = False, ours: int | None = None) -> None:
    """Install the one root handler (replacing a previous one of ours) and set the levels. ``ours``: the level
    of our own loggers (None: as the root's); ``verbose``: every library's INFO lines too."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    set_our_level(ours)
    for name in ALWAYS_QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def set_our_level(level: int | None) -> None:
    """Our loggers' level (``run`` raises it to INFO: one line per poll); None follows the root's."""
    for name in OURS:
        logging.getLogger(name).setLevel(logging.NOTSET if level is None else level)
