"""The command line: ``news-monitor`` (also ``python -m monitor``).

Each command calls one library function. Any MonitorError, bad argument or unexpected failure becomes
one line on stderr and a non-zero exit, never a traceback (set NEWS_MONITOR_DEBUG=1 to see one).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import dateutil.parser
import typer
from rich.console import Console
from typer.exceptions import Abort, TyperException

from monitor import __version__
from monitor.config import Config, load_config
from monitor.errors import HANDLED, MonitorError

if TYPE_CHECKING:
    from storage.eventlog import EventLog

app = typer.Typer(
    name="news-monitor", add_completion=False, no_args_is_help=True, rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="An event-sourced news monitor: polls feeds, extracts articles, tags watched topics, keeps a log.",
)


@dataclass
class Options:
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Options(config, database_url, auto_migrate)


def _options(ctx: typer.Context) -> Options:
    return ctx.ensure_object(Options)


def _parse_since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MonitorError(f"--since: invalid ISO date {value!r} (expected e.g. 2025-09-01 or "
                           "2025-09-01T12:00:00+00:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the daemon: poll every feed on its interval until SIGINT or SIGTERM. A saved config file (or SIGHUP)
    is applied without a restart.

    Example: news-monitor --config config/monitor.toml run
    """
    from monitor.daemon.run import run_daemon
    from monitor.pipeline import Monitor

    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    monitor = Monitor(_options(ctx).config())
    clean = True
    try:
        clean = run_daemon(monitor, load=_options(ctx).config)  # a reload reads the file as the start did
    finally:
        if clean:
            monitor.close()
    if not clean:
        # Polls outlived the shutdown grace period: exit now, without closing what they still use (that
        # would make them fail and record it) and without waiting for their threads. Their open
        # transactions die with the process, so the log holds whole entries only.
        logging.shutdown()
        os._exit(0)


@app.command()
def poll(
    ctx: typer.Context,
    feed: Annotated[list[str] | None, typer.Option("--feed", help="Poll only this feed (repeatable).")] = None,
) -> None:
    """Poll every feed (or one) once, then exit. Failed feeds are recorded as events; the exit code is 0.

    Example: news-monitor poll --feed tass-world
    """
    from monitor.pipeline import Monitor

    console = Console(stderr=True)
    with Monitor(_options(ctx).config()) as monitor:
        for outcome in monitor.poll(feed or None):
            detail = f"{outcome.reason}: {outcome.message}" if outcome.reason else (
                f"{outcome.entries_seen} entries, {outcome.new_articles} new, {outcome.mentions} mention(s)")
            console.print(f"{outcome.feed}: {outcome.status} ({detail})", markup=False, highlight=False)


DIGEST_FORMATS = ("text", "markdown", "html", "json", "atom")


def _parse_day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise MonitorError(f"{option}: invalid date {value!r} (expected e.g. 2025-09-01)") from None


@app.command()
def digest(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Mentions recorded since this ISO date, instead of the "
                                                   "unreviewed ones.")] = None,
    format: Annotated[str, typer.Option("--format", help="text, markdown, html (a standalone page), json or "
                                                         "atom.")] = "text",
    topic: Annotated[str | None, typer.Option(help="Only this topic (its id).")] = None,
    feed: Annotated[str | None, typer.Option(help="Only articles from this feed.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Only articles published on or after this "
                                                                 "date.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Only articles published on or before this "
                                                             "date.")] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Only mentions scoring at least this "
                                                                        "(0-1).")] = None,
    status: Annotated[str | None, typer.Option(help="unreviewed (the default), reviewed or all.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of "
                                                                       "stdout.")] = None,
    mark_reviewed: Annotated[bool, typer.Option("--mark-reviewed", help="Then mark the mentions shown as "
                                                                         "reviewed (appends DigestReviewed).")] = False,
    issue: Annotated[bool, typer.Option("--issue", help="Issue a digest now, as the schedule does: record "
                                                        "DigestIssued, write it to [digest] output_dir, send it "
                                                        "to the channels.")] = False,
) -> None:
    """Print the new mentions, grouped by story and by day, with their sentences, dates and scores.

    Example: news-monitor digest --format markdown --feed tass-world --min-score 0.6
    Example: news-monitor digest --format html -o digest.html --mark-reviewed
    Example: news-monitor digest --issue
    """
    from monitor.digest import render
    from monitor.digest.build import Filters, build_digest
    from monitor.views.log import projections
    from monitor.views.review import mark_reviewed as review_items

    if issue:
        given = [name for name, value in (("--since", since), ("--topic", topic), ("--feed", feed),
                                          ("--from", date_from), ("--to", date_to), ("--min-score", min_score),
                                          ("--status", status), ("--output", output)) if value is not None]
        given += ["--mark-reviewed"] * mark_reviewed + ["--format"] * (format != "text")
        if given:
            raise MonitorError("--issue: an issued digest holds every mention since the last one; it cannot be "
                               f"combined with {', '.join(given)}")
        _issue_now(ctx)
        return
    if format not in DIGEST_FORMATS:
        raise MonitorError(f"--format: unknown format {format!r} (choose {', '.join(DIGEST_FORMATS)})")
    after = _parse_since(since)
    try:
        filters = Filters(topic=topic, feed=feed, date_from=_parse_day(date_from, "--from"),
                          date_to=_parse_day(date_to, "--to"), min_score=min_score,
                          status=status or ("all" if after else "unreviewed"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise MonitorError(str(exc)) from None
    config = _options(ctx).config()
    log = _options(ctx).log()
    try:
        projections(log).catch_up()
        result = build_digest(log.engine, after, filters=filters)
        if format == "text" and output is None:
            render.print_text(result, Console(highlight=False, soft_wrap=True))
        else:
            content = render.render_as(result, format, config)
            if output is None:
                sys.stdout.write(content if content.endswith("\n") else content + "\n")
            else:
                try:
                    output.write_text(content, encoding="utf-8")
                except OSError as exc:
                    raise MonitorError(f"--output: cannot write {output}: {exc.strerror}") from exc
                print(f"wrote {len(result.items)} mention(s) in {len(result.stories)} stories to {output}",
                      file=sys.stderr)
        if mark_reviewed:
            recorded = review_items(log, result.refs(), source="digest")
            print(f"marked {len(result.items)} mention(s) reviewed" if recorded else "nothing new to mark reviewed",
                  file=sys.stderr)
    finally:
        log.close()


def _issue_now(ctx: typer.Context) -> None:
    from monitor.digest.publish import issue_digest

    config = _options(ctx).config()
    log = _options(ctx).log()
    try:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        issued = issue_digest(config, log, now)
    finally:
        log.close()
    if not issued.recorded:
        print(f"digest {issued.digest_id} was issued already")
        return
    digest = issued.digest
    assert digest is not None
    print(f"issued digest {issued.digest_id}: {len(digest.items)} mention(s) in {len(digest.stories)} stories")
    for fmt, path in (issued.files or {}).items():
        print(f"  wrote {fmt}: {path}")
    for name, delivery in (issued.deliveries or {}).items():
        outcome = (f"delivered ({delivery.detail})" if delivery.delivered
                   else f"failed after {delivery.attempts} attempt(s): {delivery.reason}: {delivery.message}")
        print(f"  {name}: {outcome}")
    if not config.digest.channels:
        print("  no channels configured ([[digest.channels]])")


@app.command()
def review(ctx: typer.Context) -> None:
    """Mark everything recorded so far as reviewed (appends DigestReviewed).

    Example: news-monitor review
    """
    from monitor.views.review import review_all

    log = _options(ctx).log()
    try:
        position = review_all(log, source="cli")
    finally:
        log.close()
    print(f"reviewed up to position {position}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: [web] host, 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: [web] port, 8080].",
                                             min=1, max=65535)] = None,
) -> None:
    """Serve the review page: mentions (unreviewed first), filters, mark reviewed, feed health, Atom, metrics.

    Example: news-monitor serve --port 8080
    """
    from monitor.web import serve as serve_web

    config = _options(ctx).config()
    bound = f"{host or config.web.host}:{port or config.web.port}"
    print(f"serving the review page on http://{bound}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    serve_web(config, host, port)


@app.command()
def events(
    ctx: typer.Context,
    after: Annotated[int | None, typer.Option(help="Only events after this position [default: 0, or the end "
                                                   "of the log with --follow].", min=0)] = None,
    type: Annotated[list[str] | None, typer.Option("--type", help="Only this event type (repeatable).")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream, e.g. feed:tass-world.")] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl (one JSON object a line).")] = "jsonl",
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
    if format != "jsonl":
        raise MonitorError(f"--format: unknown format {format!r} (only jsonl)")
    if follow and (stream is not None or limit is not None):
        raise MonitorError("--follow: cannot be combined with --stream or --limit")
    log = _options(ctx).log()
    try:
        if follow:
            start = log.last_position() if after is None else after
            print(f"following the log after position {start} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            for event in log.follow(after=start, types=type or None, poll_interval=interval):
                sys.stdout.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
        else:
            for event in log.read(after=after or 0, types=type or None, stream=stream, limit=limit):
                sys.stdout.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
    finally:
        log.close()


@app.command()
def export(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(help="Only events after this position.")] = 0,
) -> None:
    """Write the log to stdout as JSON lines, each event as stored (for backups and moves).

    Example: news-monitor export > log.jsonl
    """
    from monitor.events.transfer import export_events

    log = _options(ctx).log()
    try:
        count = export_events(log, sys.stdout, after=after)
    finally:
        log.close()
    print(f"exported {count} event(s)", file=sys.stderr)


@app.command("import")
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

    stream = sys.stdin if file == "-" else _open_input(file, "FILE")
    log = _options(ctx).log()
    try:
        report = import_events(log, stream, source="stdin" if file == "-" else file, renumber=renumber)
    finally:
        log.close()
        if stream is not sys.stdin:
            stream.close()
    print(f"imported {report.imported} event(s); {report.already_recorded} already recorded")


@app.command()
def tag(
    ctx: typer.Context,
    input: Annotated[str, typer.Option("--input", help="JSON lines with id, title, text and optional date; "
                                                       "'-' for stdin.")] = "-",
) -> None:
    """Tag JSON lines offline, with no store: one JSON line out per line in.

    Example: echo '{"id": "1", "title": "Modi meets Putin", "text": "..."}' | news-monitor tag
    """
    from monitor.tagging.rules import Tagger

    stream = sys.stdin if input == "-" else _open_input(input)
    try:
        items = [(number, _parse_item(line, number)) for number, line in enumerate(stream, 1) if line.strip()]
    finally:
        if stream is not sys.stdin:
            stream.close()
    # The articles seen so far are the input itself: the similarity learns its common words from them.
    tagger = Tagger(_options(ctx).config(),
                    background=[f"{item.get('title') or ''}\n{item.get('text') or ''}" for _, item in items])
    for number, item in items:
        results = tagger.tag(item.get("title") or "", item.get("text") or "", _item_date(item, number))
        out = {"id": item.get("id"), "topics": {tid: r.as_dict() for tid, r in results.items()}}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


def _open_input(path: str, what: str = "--input") -> Any:
    try:
        return open(path, encoding="utf-8")  # noqa: SIM115 (closed by the caller)
    except OSError as exc:
        raise MonitorError(f"{what}: cannot open {path}: {exc.strerror}") from exc


def _parse_item(line: str, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MonitorError(f"input line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(item, dict):
        raise MonitorError(f"input line {number}: expected a JSON object with id, title and text")
    for key in ("title", "text"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise MonitorError(f"input line {number}: {key!r} must be a string")
    return item


def _item_date(item: dict[str, Any], number: int) -> dt.date | None:
    """The item's date in ISO 8601, RFC 2822 or a common written form; a warning and None otherwise."""
    value = item.get("date")
    if not value:
        return None
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return dateutil.parser.parse(text, dayfirst=True, fuzzy=False).date()
    except (ValueError, OverflowError):
        print(f"news-monitor: warning: input line {number}: cannot read 'date' {text!r}; "
              "dates in the text are resolved without it", file=sys.stderr)
        return None


@app.command()
def rebuild(
    ctx: typer.Context,
    projection: Annotated[str | None, typer.Argument(help="feed_state, articles, mentions, review_cursor or "
                                                          "reviewed_mentions; "
                                                          "all by default.")] = None,
) -> None:
    """Drop a read model (or all) and replay the log into it.

    Example: news-monitor rebuild mentions
    """
    from monitor.views.log import projections

    log = _options(ctx).log()
    try:
        applied = projections(log).rebuild([projection] if projection else None)
    finally:
        log.close()
    print(f"rebuilt {projection or 'all projections'}: {applied} event(s) replayed")


db_app = typer.Typer(help="The database schema: its revision, and migrations to head.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to the schema this version needs (safe to run from several workers at once).

    Example: news-monitor --database-url postgresql+psycopg://news@db/news db upgrade
    """
    from storage import migrate as schema
    from storage.engine import make_engine

    config = _options(ctx).config()
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

    config = _options(ctx).config()
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


feeds_app = typer.Typer(no_args_is_help=True, help="The watched feeds: list, add, remove, their health, OPML "
                                                     "import and export.")
app.add_typer(feeds_app, name="feeds")


@feeds_app.command("status")
def feeds_status(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Each feed's health: status, last success, last error and its reason, failures in a row, next poll.

    Example: news-monitor feeds status --format json
    """
    from monitor.views.log import projections
    from monitor.views.status import as_json, feed_status

    if output not in ("text", "json"):
        raise typer.BadParameter(f"unknown format {output!r} (text or json)", param_hint="--format")
    options = _options(ctx)
    config = options.config()
    log = options.log()
    try:
        projections(log).catch_up(["feed_state"])
        rows = feed_status(log.engine, config)
    finally:
        log.close()
    if output == "json":
        print(json.dumps([as_json(row) for row in rows], ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("feed", "status", "last success", "last error", "failures", "next poll", "url"):
        table.add_column(column, overflow="fold")

    def when(value: dt.datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    for row in rows:
        error = f"{when(row['last_error_at'])} {row['last_error_reason']}" if row["last_error_reason"] else "-"
        table.add_row(row["feed"] + ("" if row["configured"] else " (not in config)"), row["status"] or "-",
                      when(row["last_success_at"]), error, str(row["consecutive_failures"] or 0),
                      when(row["next_poll_at"]), row["url"] or "-")
    Console(highlight=False).print(table)


@feeds_app.command("import")
def feeds_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.opml", help="An OPML subscription list, e.g. exported from "
                                                                      "another reader.")],
    interval: Annotated[str | None, typer.Option(help="Poll the new feeds at this fixed interval, e.g. 15m "
                                                      "[default: adaptive].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be added; write nothing.")] = False,
) -> None:
    """Add the OPML's feeds that are not configured yet (same URL) at the end of the config file.

    The file's comments and layout are kept; the result is validated before anything is written.

    Example: news-monitor feeds import feeds.opml --interval 30m --dry-run
    """
    from monitor.config import resolve_config_path
    from monitor.config.opml import import_opml

    path = resolve_config_path(_options(ctx).config_path)
    outcomes = import_opml(path, file, interval=interval, dry_run=dry_run)
    for outcome in outcomes:
        print(outcome)
    added = sum(outcome.action == "added" for outcome in outcomes)
    done = "dry run: nothing written" if dry_run else (f"written to {path}" if added else "nothing to write")
    print(f"{added} feed(s) added, {len(outcomes) - added} skipped ({done})")


@feeds_app.command("export")
def feeds_export(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of "
                                                                       "stdout.")] = None,
) -> None:
    """Print the configured feeds as an OPML 2.0 subscription list, for another reader.

    Example: news-monitor feeds export --output feeds.opml
    """
    from monitor.config.opml import export_opml, write_opml

    feeds = _options(ctx).config().feeds
    if output is None:
        sys.stdout.write(export_opml(feeds))
    else:
        print(f"exported {write_opml(feeds, output)} feed(s) to {output}", file=sys.stderr)


@feeds_app.command("list")
def feeds_list(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """List the configured feeds: name, URL, interval, whether pages are fetched.

    Example: news-monitor feeds list --format json
    """
    from monitor.config.edit import feed_table

    if format not in ("text", "json"):
        raise MonitorError(f"--format: unknown format {format!r} (choose text or json)")
    rows = feed_table(_options(ctx).config())
    if format == "json":
        print(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        interval = row["interval"] if row["interval"] == "adaptive" else f"{row['interval']:g}s"
        pages = "" if row["fetch_full_text"] else "  (feed text only)"
        print(f"{row['name']}  {row['url']}  every {interval}{pages}")


@feeds_app.command("add")
def feeds_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The feed's URL (http or https).")],
    name: Annotated[str | None, typer.Option("--name", help="Its name [default: from the URL's host].")] = None,
    interval: Annotated[str | None, typer.Option("--interval", help="A fixed interval such as 15m "
                                                                    "[default: adaptive].")] = None,
) -> None:
    """Add a feed at the end of the config file, keeping its comments; a running daemon picks it up.

    Example: news-monitor feeds add https://example.org/rss.xml --name example --interval 30m
    """
    from monitor.config.edit import add_feed

    added = add_feed(_options(ctx).config_path, url, name=name, interval=interval)
    print(f"feed added: {added} ({url})")


@feeds_app.command("remove")
def feeds_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The feed's name (see feeds list).")],
) -> None:
    """Remove a feed from the config file, keeping the rest as it is; its events stay in the log.

    Example: news-monitor feeds remove tass-world
    """
    from monitor.config.edit import remove_feed

    print(f"feed removed: {name} ({remove_feed(_options(ctx).config_path, name)})")


keywords_app = typer.Typer(no_args_is_help=True, help="The topics' keyword groups: list, add and remove terms.")
app.add_typer(keywords_app, name="keywords")


@keywords_app.command("list")
def keywords_list(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option("--topic", help="Only this topic (its id).")] = None,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """List each topic's keyword groups and their terms.

    Example: news-monitor keywords list --topic india-russia-summit
    """
    from monitor.config.edit import keyword_table

    if format not in ("text", "json"):
        raise MonitorError(f"--format: unknown format {format!r} (choose text or json)")
    table = keyword_table(_options(ctx).config(), topic)
    if format == "json":
        print(json.dumps(table, ensure_ascii=False))
        return
    for topic_id, groups in table.items():
        print(topic_id)
        for group, terms in groups.items():
            print(f"  {group} ({len(terms)}): {', '.join(terms)}")


def _print_keyword_edit(edit: Any, done: str, skipped: str) -> None:
    where = f"{edit.topic} {edit.group}"
    for term in edit.changed:
        print(f"{where}: {done} {term!r}")
    for term in edit.unchanged:
        print(f"{where}: {term!r} {skipped}, unchanged")
    if not edit.changed:
        print("nothing changed")


@keywords_app.command("add")
def keywords_add(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic's id.")],
    group: Annotated[str, typer.Argument(help="The keyword group, e.g. russia_side.")],
    terms: Annotated[list[str], typer.Argument(help="The terms to add.")],
) -> None:
    """Add terms to a topic's keyword group, keeping the file's comments and layout.

    Example: news-monitor keywords add india-russia-summit russia_side Rosneft "Russian Deputy PM"
    """
    from monitor.config.edit import add_keywords

    _print_keyword_edit(add_keywords(_options(ctx).config_path, topic, group, terms), "added", "already present")


@keywords_app.command("remove")
def keywords_remove(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic's id.")],
    group: Annotated[str, typer.Argument(help="The keyword group, e.g. russia_side.")],
    terms: Annotated[list[str], typer.Argument(help="The terms to remove.")],
) -> None:
    """Remove terms from a topic's keyword group, keeping the file's comments and layout.

    Example: news-monitor keywords remove india-russia-summit russia_side Rosneft
    """
    from monitor.config.edit import remove_keywords

    _print_keyword_edit(remove_keywords(_options(ctx).config_path, topic, group, terms), "removed", "not present")


config_app = typer.Typer(no_args_is_help=True, help="The configuration: check it and print it resolved.")
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", help="toml or json.")] = "toml",
    file: Annotated[Path | None, typer.Option("--file", help="Check this file instead of --config.")] = None,
) -> None:
    """Validate the config; print it resolved (defaults, then the file, then NEWS_MONITOR_* overrides), or every
    error as a line FILE:LINE: KEY: PROBLEM on stderr with exit code 1.

    Example: news-monitor config check --format json
    """
    from monitor.config import config_errors, env_overrides
    from monitor.config.diff import resolved_text
    from monitor.errors import ConfigError

    if format not in ("toml", "json"):
        raise MonitorError(f"--format: unknown format {format!r} (choose toml or json)")
    options = _options(ctx)
    try:
        config = Options(file, options.database_url, options.auto_migrate).config() if file else options.config()
    except ConfigError as exc:
        for line in config_errors(exc):
            print(line, file=sys.stderr)
        raise typer.Exit(1) from None
    overrides = [name for name, _ in env_overrides(config.model_dump(by_alias=True)).values()]
    sys.stdout.write(resolved_text(config, format, overrides=overrides))


@app.command()
def retag(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option("--topic", help="Only this topic (its id).")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles published at or after this ISO date.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would change; write nothing.")] = False,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Re-run stored articles through the topics' current rules; record tags added, removed or changed.

    Example: news-monitor retag --dry-run
    """
    from monitor.pipeline import Monitor
    from monitor.tagging.retag import plan, print_changes, record

    if format not in ("text", "json"):
        raise MonitorError(f"--format: unknown format {format!r} (choose text or json)")
    after = _parse_since(since)
    with Monitor(_options(ctx).config()) as monitor:
        monitor.projections.catch_up()
        changes = plan(monitor.config, monitor.log, monitor.tagger, topic=topic, since=after)
        recorded = 0
        if not dry_run and changes:
            recorded = record(monitor.log, changes)
            monitor.projections.catch_up()
    if format == "json":
        print(json.dumps({"dry_run": dry_run, "recorded": recorded, "changes": [c.as_dict() for c in changes]},
                         ensure_ascii=False))
    else:
        print_changes(changes, Console(highlight=False, soft_wrap=True), dry_run=dry_run, recorded=recorded)


@app.command()
def explain(
    ctx: typer.Context,
    article: Annotated[str, typer.Argument(help="The article's id, a unique id prefix, or its URL.")],
    current: Annotated[bool, typer.Option("--current", help="Also tag it again with the current config "
                                                            "(nothing is written).")] = False,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Print why a stored article is or is not tagged: rules, terms, sentences, dates and similarity.

    Example: news-monitor explain 3f2a9c1e
    """
    from monitor.pipeline import Monitor
    from monitor.tagging.retag import find_article, print_explanation, stored_explanations

    if format not in ("text", "json"):
        raise MonitorError(f"--format: unknown format {format!r} (choose text or json)")
    with Monitor(_options(ctx).config()) as monitor:
        monitor.projections.catch_up()
        row = find_article(monitor.log, article)
        stored = stored_explanations(monitor.log, row["article_id"])
        now = (monitor.tagger.tag(row["title"] or "", row["text"] or "", row["published_at"])
               if current else None)
    if format == "json":
        out = {"article": {k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                           for k, v in row.items() if k != "text"},
               "recorded": stored, "current": {k: r.as_dict() for k, r in now.items()} if now else None}
        print(json.dumps(out, ensure_ascii=False, default=str))
    else:
        print_explanation(row, stored, now, Console(highlight=False, soft_wrap=True))


@app.command()
def demo(ctx: typer.Context) -> None:
    """Show the product work with no network: serve sample feeds locally, poll once, print the digest.

    Example: news-monitor demo
    """
    from monitor.demo.run import run_demo
    from monitor.digest.render import print_text

    console = Console(highlight=False, soft_wrap=True)
    result, outcomes = run_demo(_options(ctx).config())
    for outcome in outcomes:
        console.print(f"polled {outcome.feed}: {outcome.status}, {outcome.entries_seen} entries, "
                      f"{outcome.mentions} mention(s)", markup=False)
    console.print()
    print_text(result, console)


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


if __name__ == "__main__":
    sys.exit(main())
