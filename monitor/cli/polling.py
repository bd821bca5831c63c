"""The commands that poll and serve: ``run`` (the daemon), ``poll`` (one cycle), ``serve`` (the review
page) and ``demo`` (the product on bundled sample feeds, with no network)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from monitor.cli.common import options
from monitor.cli.logs import set_our_level


def run(ctx: typer.Context) -> None:
    """Run the daemon: poll every feed on its interval until SIGINT or SIGTERM. A saved config file (or SIGHUP)
    is applied without a restart.

    Example: news-monitor --config config/monitor.toml run
    """
    from monitor.daemon.run import run_daemon
    from monitor.pipeline import Monitor

    set_our_level(logging.INFO)  # one line per poll from us; the libraries stay quiet unless -v
    monitor = Monitor(options(ctx).config())
    clean = True
    try:
        clean = run_daemon(monitor, load=options(ctx).config)  # a reload reads the file as the start did
    finally:
        if clean:
            monitor.close()
    if not clean:
        # Polls outlived the shutdown grace period: exit now, without closing what they still use (that
        # would make them fail and record it) and without waiting for their threads. Their open
        # transactions die with the process, so the log holds whole entries only.
        logging.shutdown()
        os._exit(0)


def poll(
    ctx: typer.Context,
    feed: Annotated[list[str] | None, typer.Option("--feed", help="Poll only this feed (repeatable).")] = None,
) -> None:
    """Poll every feed (or one) once, then exit. Failed feeds are recorded as events; the exit code is 0.
    Ctrl-C commits the polls that finished, says how many, and exits 130.

    Example: news-monitor poll --feed tass-world
    """
    from monitor.cli.progress import progress
    from monitor.pipeline import Monitor, PollInterrupted

    console = Console(stderr=True)
    with Monitor(options(ctx).config()) as monitor:
        try:
            count = len(feed) if feed else len(monitor.config.feeds)
            with progress("polling feeds", count, console=console) as advance:
                outcomes = monitor.poll(feed or None, on_done=advance)
        except PollInterrupted as stopped:
            for outcome in stopped.outcomes:
                _print_outcome(console, outcome)
            console.print(f"interrupted: {len(stopped.finished)} of {stopped.total} polls finished and were "
                          "committed; the others are due again at the next poll", markup=False, highlight=False,
                          soft_wrap=True)
            raise typer.Exit(130) from None
        for outcome in outcomes:
            _print_outcome(console, outcome)


def _print_outcome(console: Console, outcome: Any) -> None:
    console.print(f"{outcome.feed}: {outcome.status} ({outcome.summary()})", markup=False, highlight=False,
                  soft_wrap=True)


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

    set_our_level(logging.INFO)  # a long-running command, like run: its lines say what it does
    config = options(ctx).config()
    bound = f"{host or config.web.host}:{port or config.web.port}"
    logging.getLogger("monitor.web").info("serving the review page on http://%s/ (Ctrl-C to stop)", bound)
    serve_web(config, host, port)


def _serve_demo(ctx: typer.Context, port: int | None) -> None:
    from monitor.demo.run import demo_site
    from monitor.web import serve as serve_web

    with demo_site(options(ctx).config()) as (config, outcomes):
        for outcome in outcomes:
            print(f"polled {outcome.feed}: {outcome.status}, {outcome.mentions} mention(s)", file=sys.stderr)
        print(f"the demo's log: {config.storage.url} (e.g. news-monitor --database-url {config.storage.url} "
              "timeline)", file=sys.stderr)
        print(f"serving the review page on http://127.0.0.1:{port or config.web.port}/ (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        serve_web(config, "127.0.0.1", port)


def health(
    ctx: typer.Context,
    max_view_lag: Annotated[int, typer.Option("--max-view-lag", min=0,
                                              help="Events the views may be behind the log.")] = 1000,
    max_overdue: Annotated[str, typer.Option("--max-overdue",
                                             help="How long past its due time a feed's poll may be.")] = "10m",
    daemon: Annotated[bool, typer.Option("--daemon/--no-daemon",
                                         help="Check the daemon's heartbeat too (--no-daemon: the log only).")] = True,
    url: Annotated[str | None, typer.Option("--url", help="Ask a running page's /healthz instead "
                                            "(e.g. http://127.0.0.1:8080/healthz).")] = None,
) -> None:
    """Exit 0 when the log is reachable, the views are caught up and the daemon's heartbeat is recent; else
    exit 1 with one line saying why. For healthchecks and probes (the same answer as /healthz).

    Example: news-monitor health --max-overdue 15m
    """
    from monitor.config.units import parse_duration
    from monitor.views.health import service_health
    from monitor.web.probe import probe

    try:
        overdue = parse_duration(max_overdue)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--max-overdue") from None
    result = probe(url) if url else service_health(options(ctx).config(), daemon=daemon,
                                                   max_view_lag=max_view_lag, max_overdue=overdue)
    print(result.reason if result.ok else f"unhealthy: {result.reason}", file=sys.stdout if result.ok else sys.stderr)
    if not result.ok:
        raise typer.Exit(1)


def demo(
    ctx: typer.Context,
    serve: Annotated[bool, typer.Option("--serve", help="Then keep the demo's log and local site, and serve the "
                                                        "review page on 127.0.0.1 until Ctrl-C.")] = False,
    port: Annotated[int | None, typer.Option(help="With --serve: the page's port [default: [web] port, 8080].",
                                             min=1, max=65535)] = None,
) -> None:
    """Show the product work with no network: serve sample feeds locally, poll once, print the digest.

    Example: news-monitor demo
    Example: news-monitor demo --serve --port 8081
    """
    from monitor.demo.run import run_demo
    from monitor.digest.render import print_text

    if serve:
        _serve_demo(ctx, port)
        return
    console = Console(highlight=False, soft_wrap=True)
    result, outcomes = run_demo(options(ctx).config())
    for outcome in outcomes:
        console.print(f"polled {outcome.feed}: {outcome.status}, {outcome.entries_seen} entries, "
                      f"{outcome.mentions} mention(s)", markup=False)
    console.print()
    print_text(result, console)
