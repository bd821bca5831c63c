"""The ``timeline`` command: the watched meetings (who, where, when, held or upcoming), merged across outlets."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from monitor.cli.common import choice, format_option, opened_log, options, parse_day
from monitor.cli.digests import check_names
from monitor.errors import MonitorError

TIMELINE_FORMATS = ("text", "json", "html", "ics")
TIMELINE_STATUSES = ("held", "upcoming", "all")


def timeline(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option(help="Only this topic (its id).")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Only events on or after this date.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Only events on or before this date.")] = None,
    status: Annotated[str, typer.Option(help="held, upcoming or all.",
                                        parser=choice("--status", TIMELINE_STATUSES, "status"))] = "all",
    format: Annotated[str, format_option(TIMELINE_FORMATS, "text, json, html (a standalone page) or ics "
                                                                "(iCalendar).")] = "text",
) -> None:
    """Print the timeline: each meeting the mentions report, with its date, place, participants and evidence.

    Example: news-monitor timeline --status upcoming --format ics > summits.ics
    """
    from monitor.digest.timeline import build_timeline
    from monitor.digest.timeline_render import render_timeline
    from monitor.views.log import projections

    first, last = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    with opened_log(ctx) as log:
        projections(log).catch_up()
        check_names(log, options(ctx).config(), topic=topic)
        try:
            events = build_timeline(log.engine, topic=topic, date_from=first, date_to=last, status=status)
        except ValueError as exc:
            raise MonitorError(str(exc)) from None
    content = render_timeline(events, format)
    sys.stdout.write(content if content.endswith("\n") else content + "\n")
