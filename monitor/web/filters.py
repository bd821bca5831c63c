"""The filter parameters of the review page, the API and the Atom feed, read into ``monitor.digest.build.Filters``.

``parse_filters`` takes any mapping of parameter names to strings (a query string; the CLI's options would
do) and raises ``InvalidFilter`` with one line naming the parameter for a value it cannot read. It also gives
the values back cleaned, to put in links and redirects so that a page keeps its filters.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from monitor.digest.build import STATUSES, Filters

FILTER_KEYS = ("topic", "feed", "from", "to", "min_score", "status")


class InvalidFilter(ValueError):
    """A filter value that cannot be used (the web answers a 400 with its one-line message)."""


def parse_filters(params: Mapping[str, str | None], *,
                  default_status: str = "unreviewed") -> tuple[Filters, dict[str, str]]:
    """The filters of a query string, and the same values cleaned (to put in links and redirects).
    Raises InvalidFilter with a one-line message for a value that cannot be read."""
    raw = {key: (params.get(key) or "").strip() for key in FILTER_KEYS}
    status = raw["status"] or default_status
    if status not in STATUSES:
        raise InvalidFilter(f"status: unknown value {status!r} (choose {', '.join(STATUSES)})")
    dates: dict[str, dt.date | None] = {}
    for key in ("from", "to"):
        try:
            dates[key] = dt.date.fromisoformat(raw[key]) if raw[key] else None
        except ValueError:
            raise InvalidFilter(f"{key}: not a date {raw[key]!r} (expected YYYY-MM-DD)") from None
    min_score = None
    if raw["min_score"]:
        try:
            min_score = float(raw["min_score"])
        except ValueError:
            raise InvalidFilter(f"min_score: not a number {raw['min_score']!r}") from None
        if not math.isfinite(min_score):
            raise InvalidFilter(f"min_score: not a number {raw['min_score']!r}")
    try:
        filters = Filters(topic=raw["topic"] or None, feed=raw["feed"] or None, date_from=dates["from"],
                          date_to=dates["to"], min_score=min_score, status=status)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidFilter(str(exc)) from None
    query = {key: value for key, value in raw.items() if value}
    query["status"] = status
    return filters, query


TIMELINE_STATUSES = ("held", "upcoming", "all")


def parse_timeline_filters(params: Mapping[str, str | None]) -> dict[str, object]:
    """``topic``, ``from``, ``to`` and ``status`` (held, upcoming, all) of ``/api/timeline`` and
    ``/timeline.ics``, as ``build_timeline`` takes them."""
    topic = (params.get("topic") or "").strip() or None
    status = (params.get("status") or "").strip() or "all"
    if status not in TIMELINE_STATUSES:
        raise InvalidFilter(f"status: unknown value {status!r} (choose {', '.join(TIMELINE_STATUSES)})")
    dates: dict[str, dt.date | None] = {}
    for key in ("from", "to"):
        value = (params.get(key) or "").strip()
        try:
            dates[key] = dt.date.fromisoformat(value) if value else None
        except ValueError:
            raise InvalidFilter(f"{key}: not a date {value!r} (expected YYYY-MM-DD)") from None
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        raise InvalidFilter(f"the date range ends ({dates['to']}) before it starts ({dates['from']})")
    return {"topic": topic, "date_from": dates["from"], "date_to": dates["to"], "status": status}
