"""Each timeline sighting's event, kept in ``timeline_sightings`` as the sightings change, so that a digest reads its
mentions' events without merging every sighting of the log.

An event takes only sightings of its topic and participants whose range overlaps or touches its founding sighting's
(which is its range, and never grows): so the merge (``timeline.assemble``) of a union of connected components of
"same topic and participants, ranges overlap or touch" founds exactly the events that the merge of the whole log
founds from those sightings. When a batch of the timeline view adds or removes sightings, ``settle`` merges again
the components that touch their ranges (and only those: a component that touches none has the same sightings, and
so the same events, as before) and records each sighting's event: the key (article, n) of the sighting that founded
it. The merge's order reads each sighting's publication (the article's, else the tag's time): the articles and
mentions views are caught up before the timeline view, and an article's publication is set when it is discovered,
a tag's time when it is tagged, which changes the timeline row too.

Components are found by date, since no range is longer than ``MAX_SPAN_DAYS``: a range that overlaps or touches
[first, last] starts within [first - MAX_SPAN_DAYS - 1, last + 1]. Read the sightings that start there, and widen
(by the component's own length, so that a long chain is read in a few steps) while a component reaches the edge of
what was read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection

from monitor.views import queries
from monitor.views.timeline import MAX_SPAN_DAYS, assemble, component_extents
from storage.projector import Row


def settle(conn: Connection, removed: list[Row], added: list[Row]) -> None:
    """Record the event of every sighting in the components that touch the ranges of the sightings a batch
    removed or added (``timeline_sightings`` rows), where it changed."""
    seeds = {(row["topic"], row["participants"], row["start_date"], row["end_date"]) for row in [*removed, *added]}
    changes = []
    for event in assemble(components(conn, seeds), brief=True):
        founder = event.sightings[0]
        for sighting in event.sightings:
            if (sighting["event_article"], sighting["event_n"]) != (founder["article_id"], founder["n"]):
                changes.append({"key_article": sighting["article_id"], "key_topic": sighting["topic"],
                                "key_n": sighting["n"], "new_article": founder["article_id"],
                                "new_n": founder["n"]})
    queries.set_sighting_events(conn, changes)


def components(conn: Connection, seeds: Iterable[tuple[str, str, dt.date, dt.date]]) -> list[dict[str, Any]]:
    """The brief sightings (``queries.brief_sightings``) of the connected components that touch any of the seeds'
    ranges (topic, participants key, start, end)."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for topic, participants, start, end in seeds:
        groups[(topic, participants)].append((start.toordinal(), end.toordinal()))
    out: list[dict[str, Any]] = []
    for (topic, participants), ranges in sorted(groups.items()):
        read: list[tuple[int, int]] = []  # the start days read, as disjoint ranges
        rows: list[dict[str, Any]] = []
        wanted = [(start - MAX_SPAN_DAYS - 1, end + 1) for start, end in ranges]
        while missing := _missing(wanted, read):
            rows += queries.brief_sightings(conn, topic, participants,
                                            [(dt.date.fromordinal(lo), dt.date.fromordinal(hi)) for lo, hi in missing])
            read = component_extents([*read, *missing])
            extents = _touching(component_extents(_days(s) for s in rows), ranges)
            wanted = [(first - MAX_SPAN_DAYS - 1 - (last - first), last + 1 + (last - first))
                      for first, last in extents]
            if not _missing([(first - MAX_SPAN_DAYS - 1, last + 1) for first, last in extents], read):
                break
        extents = _touching(component_extents(_days(s) for s in rows), ranges)
        out += [s for s in rows if any(first <= _days(s)[0] <= last for first, last in extents)]
    return out


def _days(sighting: dict[str, Any]) -> tuple[int, int]:
    return sighting["start_day"], sighting["end_day"]


def _touching(extents: list[tuple[int, int]], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The extents that overlap or touch one of the ranges."""
    return [(first, last) for first, last in extents
            if any(first <= end + 1 and last >= start - 1 for start, end in ranges)]


def _missing(wanted: list[tuple[int, int]], read: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of the wanted ranges (inclusive days) not within the disjoint, sorted ranges ``read``."""
    out: list[tuple[int, int]] = []
    for lo, hi in component_extents(wanted):
        for first, last in read:
            if last < lo or first > hi:
                continue
            if first > lo:
                out.append((lo, first - 1))
            lo = max(lo, last + 1)
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return out


__all__ = ["components", "settle"]
