"""Reviewing: the review state lives in the log.

Whether a user reviews on the web page (one item, or all those shown), in the CLI (``review``: everything
so far) or by marking a digest read, the same ``DigestReviewed`` events are appended and the same views
(``review_cursor``, ``reviewed_mentions``) answer "what is unreviewed".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from monitor.events import catalogue as ev
from monitor.views.log import projections
from storage.eventlog import EventLog, utcnow

# Events that are not news: reviewing twice with only these in between records one review.
NOT_NEWS = [ev.DIGEST_REVIEWED, ev.DIGEST_ISSUED, ev.DIGEST_DELIVERED, ev.DIGEST_DELIVERY_FAILED,
            ev.CONFIG_CHANGED, ev.CONFIG_REJECTED, ev.DAEMON_STARTED, ev.DAEMON_STOPPED]
_VIEWS = ["review_cursor", "reviewed_mentions"]


def review_all(log: EventLog, *, source: str = "cli", clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Mark everything recorded so far as reviewed. Returns the position reviewed up to."""
    position = log.last_position(exclude_types=NOT_NEWS)
    log.append([ev.digest_reviewed(position, clock(), source=source)])
    projections(log).catch_up(_VIEWS)
    return position


def unreviewed_now(log: EventLog) -> int:
    """How many mentions nobody has reviewed (the views caught up first): what ``review_all`` will mark."""
    from monitor.views import queries
    from storage.engine import reading

    projections(log).catch_up(_VIEWS)
    with reading(log.engine) as conn:
        return queries.unreviewed_count(conn, queries.unreviewed_position(conn))


def mark_reviewed(log: EventLog, mentions: Iterable[tuple[str, str, int]], *, source: str = "web",
                  clock: Callable[[], dt.datetime] | None = None) -> bool:
    """Mark single tags ``(article_id, topic, position)`` reviewed. True when recorded, False when the same
    review already was (or there was nothing to review)."""
    refs = sorted({(str(a), str(t), int(p)) for a, t, p in mentions})
    if not refs:
        return False
    result = log.append([ev.digest_reviewed(None, (clock or utcnow)(), mentions=refs, source=source)])
    projections(log).catch_up(_VIEWS)
    return bool(result.recorded)
