"""Each feed's health, read from the feed-state view: what ``news-monitor feeds status`` shows.

Configured feeds come first, in config order, including those never polled yet; feeds that are in the log
but no longer in the config follow, so a removed or renamed feed's history stays visible.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Engine

from monitor.config import Config
from monitor.views import queries
from storage.engine import reading

FIELDS = ("feed", "configured", "url", "status", "last_polled_at", "last_success_at", "last_error_at",
          "last_error_reason", "last_error_message", "consecutive_failures", "polls", "failures", "articles",
          "interval", "schedule", "next_poll_at", "last_moved_at", "pages_failed")


def feed_status(engine: Engine, config: Config) -> list[dict[str, Any]]:
    """Each feed's health. ``pages_failed``: its articles whose page failed, by reason (``{"http_404": 2}``)."""
    with reading(engine) as conn:
        rows = queries.feed_states(conn)
        pages = queries.page_failures(conn)
    out: list[dict[str, Any]] = []
    for feed in config.feeds:
        row = rows.pop(feed.name, None)
        if row is None:
            out.append({**dict.fromkeys(FIELDS), "feed": feed.name, "configured": True, "url": feed.url,
                        "status": "never_polled", "consecutive_failures": 0, "polls": 0, "failures": 0,
                        "articles": 0, "pages_failed": {}})
            continue
        # The configured URL, unless the feed moved since (then the URL it is polled at now).
        url = row["current_url"] if row["url"] == feed.url and row["current_url"] else feed.url
        out.append(_entry(row, configured=True, url=url, pages=pages.get(feed.name, {})))
    for row in rows.values():
        out.append(_entry(row, configured=False, url=row["current_url"] or row["url"],
                          pages=pages.get(row["feed"], {})))
    return out


def _entry(row: dict[str, Any], *, configured: bool, url: str, pages: dict[str, int]) -> dict[str, Any]:
    entry = {name: row.get(name) for name in FIELDS}
    entry.update(configured=configured, url=url, pages_failed=pages)
    return entry


def failed_pages_text(pages: dict[str, int] | None) -> str:
    """``3 (http_404 ×2, timeout ×1)``, or ``-``: how the CLI and the page say a feed's failed pages."""
    if not pages:
        return "-"
    return f"{sum(pages.values())} ({', '.join(f'{reason} ×{n}' for reason, n in sorted(pages.items()))})"


def as_json(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in entry.items()}
