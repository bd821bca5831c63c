"""What every command group shares: the global options, the log opened for one command, the ``--format``
option, and the readers of option values (dates, input files).

The group modules import from here and never from the package itself, so there is no import cycle: the
package (``monitor.cli``) imports the groups and registers their commands on ``app``.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from monitor.config import Config, load_config
from monitor.errors import MonitorError

if TYPE_CHECKING:
    from storage.eventlog import EventLog


@dataclass
class Options:
    """The global options (``--config``, ``--database-url``, ``--auto-migrate``), as the callback got them."""

    config_path: Path | None
    database_url: str | None
    auto_migrate: bool = False

    def config(self) -> Config:
        config = load_config(self.config_path, database_url=self.database_url)
        if self.auto_migrate:
            config = config.model_copy(update={"storage": config.storage.model_copy(update={"auto_migrate": True})})
        return config

    def log(self) -> EventLog:
        from monitor.views.log import open_log

        return open_log(self.config())


def options(ctx: typer.Context) -> Options:
    return ctx.ensure_object(Options)


@contextmanager
def opened_log(ctx: typer.Context) -> Iterator[EventLog]:
    """The event log of the command's config, closed when the block ends (however it ends)."""
    log = options(ctx).log()
    try:
        yield log
    finally:
        log.close()


@contextmanager
def about(option: str) -> Iterator[None]:
    """Name ``option`` in a MonitorError raised in the block: the library says what is wrong with a value, the
    command line says which option it came from (``--topic: no topic 'x' ...``). Keep the block to the call
    that checks the value, so that no other error is put down to the option."""
    try:
        yield
    except MonitorError as exc:
        raise MonitorError(f"{option}: {exc}") from exc


# -- option values -----------------------------------------------------------------------------------------

TEXT_OR_JSON = ("text", "json")


def choice(option: str, choices: Sequence[str], what: str = "format") -> Callable[[str], str]:
    """A parser for an option taking one of ``choices``: any other value is a usage error (exit code 2) that
    names the option, in every command alike: ``Invalid value for --format: unknown format 'pdf' (choose text
    or json)``. (A parser, not an Enum or Literal type: typer words those "'pdf' is not one of ...".)"""
    allowed = f"only {choices[0]}" if len(choices) == 1 else f"choose {', '.join(choices[:-1])} or {choices[-1]}"

    def parse(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"unknown {what} {value!r} ({allowed})", param_hint=option)
        return value
    return parse


def check_known(option: str, value: str | None, known: Iterable[str], what: str) -> None:
    """A usage error (exit code 2) for a ``value`` that names nothing known, with the closest names: a typo is
    not "no news". ``digest --feed tass-wrold``: ``Invalid value for --feed: no feed 'tass-wrold' (did you
    mean tass-world?)``."""
    names = sorted(set(known))
    if value is None or value in names:
        return
    close = difflib.get_close_matches(value, names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else (
        f"known: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}" if names else f"no {what} is known")
    raise typer.BadParameter(f"no {what} {value!r} ({hint})", param_hint=option)


def format_option(choices: Sequence[str], help: str) -> Any:
    """The ``--format`` option of a command whose output comes in one of ``choices``."""
    return typer.Option("--format", help=help, parser=choice("--format", choices))


def parse_since(value: str | None) -> dt.datetime | None:
    """A ``--since`` value: an ISO date or date-time (UTC unless it says otherwise)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MonitorError(f"--since: invalid ISO date {value!r} (expected e.g. 2025-09-01 or "
                           "2025-09-01T12:00:00+00:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_day(value: str | None, option: str) -> dt.date | None:
    """A day given to ``option``, as an ISO date."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise MonitorError(f"{option}: invalid date {value!r} (expected e.g. 2025-09-01)") from None


def open_input(path: str, what: str = "--input", *, binary: bool = False) -> Any:
    """``path`` opened for reading, as UTF-8 text or (``binary``) as bytes; the caller closes it."""
    try:
        if binary:
            return open(path, "rb")  # noqa: SIM115 (closed by the caller)
        return open(path, encoding="utf-8")  # noqa: SIM115 (closed by the caller)
    except OSError as exc:
        raise MonitorError(f"{what}: cannot open {path}: {exc.strerror}") from exc
