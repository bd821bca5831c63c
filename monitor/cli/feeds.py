"""The ``feeds`` group: the watched feeds in the config file (``list``, ``add``, ``remove``), their health in
the log (``status``), and OPML subscription lists (``import``, ``export``)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from monitor.cli.common import TEXT_OR_JSON, format_option, opened_log, options

feeds_app = typer.Typer(no_args_is_help=True, help="The watched feeds: list, add, remove, their health, OPML "
                                                     "import and export.")


@feeds_app.command("status")
def feeds_status(
    ctx: typer.Context,
    output: Annotated[str, format_option(TEXT_OR_JSON, "text or json.")] = "text",
) -> None:
    """Each feed's health: status, last success, last error and its reason, failures in a row, next poll.

    The table fits the terminal (times as "12m ago", long values cut with "…"); --format json has every value
    in full, the URLs and exact times included.

    Example: news-monitor feeds status --format json
    """
    from monitor.views.health import check_health
    from monitor.views.log import projections
    from monitor.views.status import as_json, failed_pages_text, feed_status

    config = options(ctx).config()
    with opened_log(ctx) as log:
        projections(log).catch_up(["feed_state"])
        rows = feed_status(log.engine, config)
        daemon = check_health(config, log)  # a stopped daemon is told from an idle one
    if output == "json":
        print(json.dumps([as_json(row) for row in rows], ensure_ascii=False, indent=2))
        return
    from monitor.cli.tables import Column, print_table, relative

    now = dt.datetime.now(dt.UTC)
    table = [(row["feed"] + ("" if row["configured"] else " (not in config)"), row["status"] or "-",
              relative(row["last_success_at"], now),
              f"{relative(row['last_error_at'], now)} {row['last_error_reason']}" if row["last_error_reason"] else "-",
              str(row["consecutive_failures"] or 0), failed_pages_text(row["pages_failed"]),
              relative(row["next_poll_at"], now)) for row in rows]
    # The pages failed give up width first, the name last; the URLs are in feeds list and --format json.
    columns = [Column("feed", minimum=12, comfortable=24, priority=2), Column("status"), Column("last ok"),
               Column("last error", minimum=12, comfortable=24, priority=1), Column("fails", justify="right"),
               Column("pages failed", minimum=12), Column("next poll")]
    console = Console(highlight=False)
    print_table(console, columns, table)
    console.print(f"daemon: {daemon.reason}", markup=False, soft_wrap=True)


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

    path = resolve_config_path(options(ctx).config_path)
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

    feeds = options(ctx).config().feeds
    if output is None:
        sys.stdout.write(export_opml(feeds))
    else:
        print(f"exported {write_opml(feeds, output)} feed(s) to {output}", file=sys.stderr)


@feeds_app.command("list")
def feeds_list(
    ctx: typer.Context,
    format: Annotated[str, format_option(TEXT_OR_JSON, "text or json.")] = "text",
) -> None:
    """List the configured feeds: name, URL, interval, whether pages are fetched.

    Example: news-monitor feeds list --format json
    """
    from monitor.config.edit import feed_table

    rows = feed_table(options(ctx).config())
    if format == "json":
        print(json.dumps(rows, ensure_ascii=False))
        return
    from monitor.cli.tables import Column, print_table

    table = [(row["name"], row["url"], "adaptive" if row["interval"] == "adaptive" else f"{row['interval']:g}s",
              "page" if row["fetch_full_text"] else "feed text only") for row in rows]
    columns = [Column("feed", minimum=16, comfortable=32, priority=1), Column("url", minimum=16, comfortable=40),
               Column("every"), Column("text")]
    print_table(Console(highlight=False), columns, table)


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

    added = add_feed(options(ctx).config_path, url, name=name, interval=interval)
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

    print(f"feed removed: {name} ({remove_feed(options(ctx).config_path, name)})")
