"""The command line: ``news-monitor`` (also ``python -m monitor``).

Each command calls one library function. Any MonitorError, bad argument or unexpected failure becomes
one line on stderr and a non-zero exit, never a traceback (set NEWS_MONITOR_DEBUG=1 to see one).

This module holds ``app``, the global options, ``main`` (the entry point) and the list of commands, in the
order ``--help`` shows them. The commands live in one module per group:

- ``common``: what the groups share: ``Options``, ``opened_log``, the ``--format`` parser, ``about`` (an
  option named in a library error), the readers of dates and input files;
- ``polling``: ``run``, ``poll``, ``serve``, ``demo``;
- ``workers``: ``worker`` (one of many, on PostgreSQL) and the ``workers`` group (``status``);
- ``digests``: ``digest``, ``review`` (also the verdicts: ``--reject``, ``--accept``);
- ``timeline``: ``timeline``;
- ``tagging``: ``tag``, ``retag``, ``explain``;
- ``tune``: ``tune`` (config changes proposed from the analyst's verdicts);
- ``log``: ``events``, ``export``, ``import``, ``rebuild``, and the ``db`` group;
- ``feeds``: the ``feeds`` group;
- ``settings``: the ``keywords`` and ``config`` groups.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import Abort, TyperException

from monitor import __version__
from monitor.cli import digests, feeds, log, polling, settings, tagging, timeline, tune, workers
from monitor.cli.common import Options, choice
from monitor.cli.logs import LOG_FORMATS, configure_logging
from monitor.errors import HANDLED

app = typer.Typer(
    name="news-monitor", add_completion=False, no_args_is_help=True, rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="An event-sourced news monitor: polls feeds, extracts articles, tags watched topics, keeps a log.",
)


def _version(value: bool) -> None:
    if value:
        print(f"news-monitor {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="NEWS_MONITOR_CONFIG", help="Config file [default: config/monitor.toml].")] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", envvar="NEWS_MONITOR_DATABASE_URL", help="Database URL; overrides [storage] url.")] = None,
    auto_migrate: Annotated[bool, typer.Option(
        "--auto-migrate", envvar="NEWS_MONITOR_AUTO_MIGRATE",
        help="Upgrade a PostgreSQL schema at start (SQLite always upgrades itself).")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Log progress to stderr, the libraries' too.")] = False,
    log_format: Annotated[str, typer.Option(
        "--log-format", envvar="NEWS_MONITOR_LOG_FORMAT", parser=choice("--log-format", LOG_FORMATS),
        help="How log lines are written: text (for people) or json (one object a line).")] = "text",
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    configure_logging(log_format, verbose=verbose)
    ctx.obj = Options(config, database_url, auto_migrate)


app.command()(polling.run)
app.command()(polling.poll)
app.command()(digests.digest)
app.command()(digests.review)
app.command()(timeline.timeline)
app.command()(polling.serve)
app.command()(polling.health)
app.command()(workers.worker)
app.command()(log.events)
app.command()(log.export)
app.command("import")(log.import_)
app.command()(tagging.tag)
app.command()(log.rebuild)
app.command()(tagging.retag)
app.command()(tagging.explain)
app.command()(tune.tune)
app.command()(polling.demo)
app.add_typer(log.db_app, name="db")
app.add_typer(feeds.feeds_app, name="feeds")
app.add_typer(workers.workers_app, name="workers")
app.add_typer(settings.keywords_app, name="keywords")
app.add_typer(settings.config_app, name="config")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every error into one line on stderr."""
    debug = bool(os.environ.get("NEWS_MONITOR_DEBUG"))
    try:
        code = app(args=argv, prog_name="news-monitor", standalone_mode=False)
    except HANDLED as exc:
        _fail(f"error: {exc}")
        code = 1
    except TyperException as exc:  # bad arguments and usage
        _fail(f"error: {exc.format_message()} (see news-monitor --help)")
        code = getattr(exc, "exit_code", 2)
    except (Abort, KeyboardInterrupt):
        _fail("aborted")
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # a bug: still one line, with a way to see more
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set NEWS_MONITOR_DEBUG=1 for a traceback)")
        code = 70
    return int(code or 0)


def _fail(message: str) -> None:
    print(f"news-monitor: {' '.join(message.split())}", file=sys.stderr)


__all__ = ["Options", "app", "main"]

if __name__ == "__main__":
    sys.exit(main())
