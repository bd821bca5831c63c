"""The commands about the event log itself: ``events`` (print or follow it), ``export`` and ``import`` (JSON
lines, for backups and moves), ``rebuild`` (replay it into a read model) and the ``db`` group (its schema)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from monitor.cli.common import format_option, open_input, opened_log, options
from monitor.errors import MonitorError


def events(
    ctx: typer.Context,
    after: Annotated[int | None, typer.Option(help="Only events after this position [default: 0, or the end "
                                                   "of the log with --follow].", min=0)] = None,
    type: Annotated[list[str] | None, typer.Option("--type", help="Only this event type (repeatable).")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream, e.g. feed:tass-world.")] = None,
    format: Annotated[str, format_option(["jsonl"], "jsonl (one JSON object a line).")] = "jsonl",
    limit: Annotated[int | None, typer.Option(help="At most this many events.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events as they are recorded "
                                                                "(from the end of the log unless --after).")] = False,
    interval: Annotated[float, typer.Option(help="With --follow: seconds between looks for new events.",
                                            min=0.05)] = 0.5,
) -> None:
    """Print the event log, one JSON object a line, payloads upcast to their current schema.

    Example: news-monitor events --type FeedFailed --after 100
    Example: news-monitor events --follow
    """
    if follow and (stream is not None or limit is not None):
        raise MonitorError("--follow: cannot be combined with --stream or --limit")
    with opened_log(ctx) as log:
        if follow:
            start = log.last_position() if after is None else after
            print(f"following the log after position {start} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            for event in log.follow(after=start, types=type or None, poll_interval=interval):
                sys.stdout.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
        else:
            for event in log.read(after=after or 0, types=type or None, stream=stream, limit=limit):
                sys.stdout.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")


def export(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(help="Only events after this position.")] = 0,
) -> None:
    """Write the log to stdout as JSON lines, each event as stored (for backups and moves).

    Example: news-monitor export > log.jsonl
    """
    from monitor.events.transfer import export_events

    with opened_log(ctx) as log:
        count = export_events(log, sys.stdout, after=after)
    print(f"exported {count} event(s)", file=sys.stderr)


def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="An export file (JSON lines); '-' for stdin.")],
    renumber: Annotated[bool, typer.Option(help="Append at the end with new positions when this log already "
                                                "has later events (positions are kept otherwise).")] = False,
) -> None:
    """Import an export file. Idempotent: events already recorded (same key) are skipped.

    Example: news-monitor --database-url postgresql+psycopg://news@db/news import log.jsonl
    """
    from monitor.events.transfer import import_events

    # Bytes, as stored: import_events decodes each line itself, so a line that is not UTF-8 is refused as
    # FILE:LINE (before anything is written) instead of failing the read. A stdin with no byte layer (a
    # StringIO) is read as text.
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    stream = stdin if file == "-" else open_input(file, "FILE", binary=True)
    try:
        from monitor.cli.progress import progress

        with opened_log(ctx) as log, progress("importing events") as advance:
            report = import_events(log, stream, source="stdin" if file == "-" else file, renumber=renumber,
                                   on_batch=advance)
    finally:
        if stream is not stdin:
            stream.close()
    print(f"imported {report.imported} event(s); {report.already_recorded} already recorded")


def rebuild(
    ctx: typer.Context,
    projection: Annotated[str | None, typer.Argument(help="feed_state, articles, mentions, review_cursor, "
                                                          "reviewed_mentions or timeline; "
                                                          "all by default.")] = None,
) -> None:
    """Drop a read model (or all) and replay the log into it.

    Example: news-monitor rebuild mentions
    """
    from monitor.cli.progress import progress
    from monitor.views.log import projections

    with opened_log(ctx) as log:
        views = projections(log)
        chosen = [projection] if projection else None
        with progress(f"rebuilding {projection or 'every projection'}"):  # no count: the replay is storage's
            views.rebuild(chosen)
        replayed = views.events_read(chosen)
    print(f"rebuilt {projection or 'all projections'}: {replayed} event{'' if replayed == 1 else 's'} replayed")


db_app = typer.Typer(help="The database schema: its revision, and migrations to head.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to the schema this version needs (safe to run from several workers at once).

    Example: news-monitor --database-url postgresql+psycopg://news@db/news db upgrade
    """
    from storage import migrate as schema
    from storage.engine import make_engine

    config = options(ctx).config()
    engine = make_engine(config.storage.url, lock_timeout=config.storage.lock_timeout)
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"already at revision {after}")
    else:
        print(f"upgraded from {before or 'an empty database'} to revision {after}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the database's schema revision and the one this version needs.

    Example: news-monitor db current
    """
    from storage import migrate as schema
    from storage.engine import make_engine

    config = options(ctx).config()
    engine = make_engine(config.storage.url, lock_timeout=config.storage.lock_timeout)
    try:
        current = schema.current_revision(engine)
    finally:
        engine.dispose()
    head = schema.head_revision()
    if current == head:
        state = "up to date"
    elif schema.is_known(current):
        state = "needs 'news-monitor db upgrade'"
    else:
        state = "migrated by a newer version of news-monitor: upgrade news-monitor"
    print(f"revision {current or 'none (empty database)'}; this version needs {head}: {state}")
