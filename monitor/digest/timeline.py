"""The timeline read: the meetings of the ``timeline`` view merged across outlets (``monitor.views.timeline``),
narrowed by topic, dates and status, and the events a digest's mentions touch.

Events come upcoming first, then held, newest first: the order of the CLI, the page, the API and the digests.

The merge reads every sighting of a topic, so its result is kept per database and topic, with the checkpoints
of the views it read (timeline, mentions, articles) and the feeds' titles (the outlets): a view changes only
when its checkpoint moves, so while they stand still the same events are returned without reading the sightings
again. A digest every few minutes
and a page reloaded by an analyst cost one read of the checkpoints until a poll tags something new.

A digest needs only the events its mentions report (``digest_events``): when no merge is kept, it reads the events
that the timeline view recorded for its mentions' sightings (``monitor.views.sightings``), and renders those alone.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection, Engine

from monitor.digest.build import outlet
from monitor.views import queries
from monitor.views.timeline import founded, merge, rendered, select_events
from storage.engine import reading

STATUSES: tuple[str, ...] = ("held", "upcoming", "all")


# The views a merge reads, whose checkpoints it is kept at (``queries.digest_summary`` reads them for a digest).
VIEWS_READ = ("articles", "mentions", "timeline")
# Per engine (forgotten with it), per topic: the checkpoints read at, and the events.
_MERGED: weakref.WeakKeyDictionary[Engine, dict[str | None, tuple[Any, list[dict[str, Any]]]]] = (
    weakref.WeakKeyDictionary())
_MERGED_LOCK = threading.Lock()
# Per engine, per topic: the digest's events (``digest_events``) at the checkpoints, for the tags they were read for.
_Digested = tuple[Any, frozenset[tuple[str, str]], list[dict[str, Any]]]
_DIGESTED: weakref.WeakKeyDictionary[Engine, dict[str | None, _Digested]] = weakref.WeakKeyDictionary()


def forget() -> None:
    """Forget every kept read (the whole timeline's merges and the digests' events): the next reads are cold."""
    with _MERGED_LOCK:
        _MERGED.clear()
        _DIGESTED.clear()


def timeline_events(conn: Connection, *, topic: str | None = None) -> list[dict[str, Any]]:
    """Every event of the timeline (of ``topic``), read in the caller's snapshot (or the same events, kept from
    a read at the same checkpoints). The events are shared: callers copy before they change one."""
    titles, state, kept = _kept(conn, topic)
    if kept is not None:
        return kept
    sightings = queries.timeline_sightings(conn, topic)
    for sighting in sightings:
        sighting["outlet"] = outlet(sighting["url"], titles.get(sighting["feed"]))
    events = merge(sightings)
    with _MERGED_LOCK:
        _MERGED.setdefault(conn.engine, {})[topic] = (state, events)
    return events


def _kept(conn: Connection, topic: str | None, read: queries.DigestSummary | None = None,
          ) -> tuple[dict[str, str], Any, list[dict[str, Any]] | None]:
    """The feeds' titles, the state a merge is kept at, and the events kept for ``topic`` at that state (or None).
    ``read``: the titles and checkpoints already read in this snapshot (``queries.digest_summary``, VIEWS_READ)."""
    # The outlets are the feeds' titles (feed_state): kept events are reused while those stay the same too.
    if read is not None:
        titles, checkpoints = read.titles, read.checkpoints
    else:
        titles, checkpoints = queries.feed_titles(conn), queries.view_checkpoints(conn, VIEWS_READ)
    state = (checkpoints, tuple(sorted(titles.items())))
    with _MERGED_LOCK:
        kept = _MERGED.get(conn.engine, {}).get(topic)
    return titles, state, kept[1] if kept is not None and kept[0] == state else None


def digest_events(conn: Connection, items: Iterable[dict[str, Any]], *, topic: str | None = None,
                  read: queries.DigestSummary | None = None) -> list[dict[str, Any]]:
    """``touched(timeline_events(conn, topic=topic), items)``, the same events in the same order: from a kept merge,
    else from the events the timeline view recorded for the items' sightings, read and rendered alone. ``read``: the
    caller's ``queries.digest_summary(conn, VIEWS_READ)`` of this snapshot, whose titles and checkpoints spare their
    own reads (two round trips on PostgreSQL)."""
    items = list(items)
    shown = {(item["article_id"], item["topic"]) for item in items if topic is None or item["topic"] == topic}
    if not shown:
        return []
    titles, state, kept = _kept(conn, topic, read)
    if kept is not None:
        return touched(kept, items)
    with _MERGED_LOCK:
        digested = _DIGESTED.get(conn.engine, {}).get(topic)
    if digested is not None and digested[:2] == (state, frozenset(shown)):
        return digested[2]
    found = queries.event_sightings(conn, sorted(queries.sighting_events(conn, sorted(shown))))
    for sightings in found.values():
        for sighting in sightings:
            sighting["outlet"] = outlet(sighting["url"], titles.get(sighting["feed"]))
    events = founded(found.values())
    out = rendered(events)
    with _MERGED_LOCK:
        _DIGESTED.setdefault(conn.engine, {})[topic] = (state, frozenset(shown), out)
    return out


def build_timeline(engine: Engine, *, topic: str | None = None, date_from: dt.date | None = None,
                   date_to: dt.date | None = None, status: str = "all") -> list[dict[str, Any]]:
    """The events of ``topic`` (every topic by default) whose dates overlap ``[date_from, date_to]``, held,
    upcoming or all."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (choose {', '.join(STATUSES)})")
    if date_from and date_to and date_from > date_to:
        raise ValueError(f"the date range ends ({date_to}) before it starts ({date_from})")
    with reading(engine) as conn:
        events = timeline_events(conn, topic=topic)
    return select_events(events, date_from=date_from, date_to=date_to, status=status)


def touched(events: Iterable[dict[str, Any]], items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events that any of the items (a digest's mentions) reports, in the timeline's order."""
    shown = {(item["article_id"], item["topic"]) for item in items}
    return [e for e in events if any((ev["article_id"], e["topic"]) in shown for ev in e["evidence"])]


def timeline_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``timeline --format json`` document (fields are only ever added)."""
    return {"events": events}
