"""The fleet on PostgreSQL: ``worker`` (one worker process; run any number) and ``workers status``."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

from monitor.cli.common import TEXT_OR_JSON, format_option, opened_log, options
from monitor.cli.logs import set_our_level

workers_app = typer.Typer(no_args_is_help=True, help="The workers polling one PostgreSQL database: their status.")


def worker(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, max=64,
                                             help="Feeds this worker polls at once [default: [scheduler] "
                                                  "max_workers].")] = None,
) -> None:
    """Run one worker: poll the feeds the PostgreSQL queue gives it until SIGINT or SIGTERM. Run any number, on
    any machines, against one database; each due feed is polled by exactly one of them. Needs PostgreSQL.

    Example: news-monitor --database-url postgresql+psycopg://monitor@db/monitor worker --concurrency 8
    """
    from monitor.daemon.workers import WorkersNeedPostgres, require_postgres, run_worker
    from monitor.pipeline import Monitor

    set_our_level(logging.INFO)
    config = options(ctx).config()
    try:
        require_postgres(config.storage.url)
    except WorkersNeedPostgres as exc:  # a usage error, before anything is opened or created: exit 2
        print(f"news-monitor: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    with Monitor(config) as monitor:
        run_worker(monitor, concurrency=concurrency or config.scheduler.max_workers, load=options(ctx).config)


@workers_app.command("status")
def workers_status(
    ctx: typer.Context,
    output: Annotated[str, format_option(TEXT_OR_JSON, "text or json.")] = "text",
) -> None:
    """The live workers and what each polls, the queue depth, feeds overdue by more than one interval, and the
    last takeover of a dead worker's feed.

    Example: news-monitor workers status --format json
    """
    from monitor.daemon.workers import WorkersNeedPostgres
    from monitor.views.fleet import fleet_status, status_lines

    config = options(ctx).config()
    with opened_log(ctx) as log:
        status = fleet_status(config, log)
    if status is None:
        raise WorkersNeedPostgres("there are no workers on SQLite ([storage] url); workers need PostgreSQL")
    if output == "json":
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return
    print("\n".join(status_lines(status)))
