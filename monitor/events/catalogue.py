"""The event catalogue: stored type names, streams and idempotency keys, all derived from data.

A stored type is the name used here and is never renamed. Identity comes from the data, so that
re-polling, restarts and several workers produce the same keys for the same facts:

- an article's stream is ``article:<uuid5 of its canonical URL>``;
- a feed's stream is ``feed:<feed name>``;
- ``MentionTagged`` is keyed by article, topic and topic-config version, so a config change may tag
  again while a re-poll never does.

Payloads are versioned: monitor.events.payloads has a pydantic model per type and schema (``SCHEMAS`` is each
type's current one, and every constructor here checks its payload against it), and ``UPCASTERS`` turn a
stored payload of an older schema into the current one as it is read (stored events are never
rewritten). To change a payload's shape: add the new schema's model, make the constructor write it,
and register an upcaster from the old number that produces exactly what the constructor now writes.
Adding an optional field that readers treat as absent needs no new schema.

History:
- ``DigestReviewed`` 2 adds ``mentions`` (single tags reviewed, from the web page) and ``source``;
  ``up_to_position`` may be absent when only single tags are reviewed.
- ``ExtractionFailed`` 2 adds ``stage``: ``fetch`` when the page could not be fetched (or there was no
  link), ``extract`` when it was fetched but held no article text. The remedies differ (a blocked site
  vs. a page the extractor does not understand), so the digest and the articles view show it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson

from monitor.events import payloads
from monitor.events.keys import article_id, article_stream, feed_stream  # noqa: F401 (the catalogue names every id)
from monitor.events.payloads import SCHEMAS
from storage.eventlog import NewEvent, Upcasters

FEED_POLLED = "FeedPolled"
FEED_FAILED = "FeedFailed"
FEED_MOVED = "FeedMoved"
ARTICLE_REVISED = "ArticleRevised"
ARTICLE_DISCOVERED = "ArticleDiscovered"
ARTICLE_EXTRACTED = "ArticleExtracted"
EXTRACTION_FAILED = "ExtractionFailed"
MENTION_TAGGED = "MentionTagged"
MENTION_RETRACTED = "MentionRetracted"
DIGEST_REVIEWED = "DigestReviewed"
DIGEST_ISSUED = "DigestIssued"
DIGEST_DELIVERED = "DigestDelivered"
DIGEST_DELIVERY_FAILED = "DigestDeliveryFailed"
CONFIG_CHANGED = "ConfigChanged"
CONFIG_REJECTED = "ConfigRejected"
DAEMON_STARTED = "DaemonStarted"
DAEMON_STOPPED = "DaemonStopped"

UPCASTERS = Upcasters()

# Reasons that mean the page was fetched but yielded no article text; every other reason is a fetch failure,
# unless the event says its stage itself (a ``timeout`` or ``too_large`` of the extractor is ``extract``).
EXTRACT_REASONS = frozenset({"not_html", "no_text", "extractor_error"})


def extraction_stage(reason: str) -> str:
    return "extract" if reason in EXTRACT_REASONS else "fetch"


@UPCASTERS.register(EXTRACTION_FAILED, 1)
def _extraction_failed_v1(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "stage": extraction_stage(data.get("reason", ""))}


@UPCASTERS.register(DIGEST_REVIEWED, 1)
def _digest_reviewed_v1(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "mentions": [], "source": None}




def without_nul(value: Any) -> Any:
    """``value`` with NUL characters removed from every string in it. Feeds and pages do carry them now
    and then; they mean nothing in text, and PostgreSQL's JSONB cannot store them. (Most payloads have none:
    one serialisation tells, which is cheaper than rebuilding every dict.)"""
    if isinstance(value, dict):
        try:
            if b"\\u0000" not in orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS):
                return value
        except TypeError:
            pass
    return _strip_nul(value)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strip_nul(v) for v in value]
    return value


def _event(stream: str, event_type: str, key: str, payload: dict[str, Any], at: dt.datetime) -> NewEvent:
    """A new event in its type's current schema, its payload checked against that schema's model."""
    schema = SCHEMAS[event_type]
    payload = without_nul(payload)
    payloads.check(event_type, schema, payload)
    return NewEvent(stream, event_type, key, payload, at, schema=schema)


def feed_polled(feed: str, attempt: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return _event(feed_stream(feed), FEED_POLLED, f"{FEED_POLLED}:{feed}:{attempt}", {"feed": feed, **data}, at)


def feed_failed(feed: str, attempt: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return _event(feed_stream(feed), FEED_FAILED, f"{FEED_FAILED}:{feed}:{attempt}", {"feed": feed, **data}, at)


def feed_moved(feed: str, attempt: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    """The feed's URL changed for good: a permanent redirect, or autodiscovery from an HTML page."""
    return _event(feed_stream(feed), FEED_MOVED, f"{FEED_MOVED}:{feed}:{attempt}", {"feed": feed, **data}, at)


def article_revised(article: str, revision: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    """A known entry came back changed (its content, title or link). ``revision`` identifies the new state
    (a hash of it), so seeing the same revision again is a no-op."""
    return _event(article_stream(article), ARTICLE_REVISED, f"{ARTICLE_REVISED}:{article}:{revision}",
                  {"article_id": article, **data}, at)


def article_discovered(article: str, published_at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return _event(article_stream(article), ARTICLE_DISCOVERED, f"{ARTICLE_DISCOVERED}:{article}",
                  {"article_id": article, **data}, published_at)


def article_extracted(article: str, published_at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return _event(article_stream(article), ARTICLE_EXTRACTED, f"{ARTICLE_EXTRACTED}:{article}",
                  {"article_id": article, **data}, published_at)


def extraction_failed(article: str, published_at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return _event(article_stream(article), EXTRACTION_FAILED, f"{EXTRACTION_FAILED}:{article}",
                  {"article_id": article, "stage": extraction_stage(data["reason"]), **data}, published_at)


def mention_tagged(article: str, topic: str, topic_version: str, published_at: dt.datetime,
                   data: dict[str, Any], *, supersedes: int | None = None) -> NewEvent:
    """``supersedes``: for a retag, the position of the tag it replaces (0 when there was none): the same
    retag of the same state is one event however often it runs, and returning to an earlier config after
    another one is a new event, not a duplicate of the first."""
    key = f"{MENTION_TAGGED}:{article}:{topic}:{topic_version}"
    if supersedes is not None:
        key += f":after:{supersedes}"
    return _event(article_stream(article), MENTION_TAGGED, key,
                  {"article_id": article, "topic": topic, "topic_version": topic_version, **data}, published_at)


def mention_retracted(article: str, topic: str, topic_version: str, published_at: dt.datetime,
                      data: dict[str, Any], *, supersedes: int) -> NewEvent:
    """A tag that the topic's rules, as they are now, no longer give (``supersedes``: its position)."""
    return _event(article_stream(article), MENTION_RETRACTED,
                  f"{MENTION_RETRACTED}:{article}:{topic}:{topic_version}:after:{supersedes}",
                  {"article_id": article, "topic": topic, "topic_version": topic_version, **data}, published_at)


REVIEW_STREAM = "review:default"


def digest_reviewed(up_to_position: int | None, at: dt.datetime, *,
                    mentions: list[tuple[str, str, int]] = (), source: str | None = None) -> NewEvent:
    """Reviewing everything up to a position, or single tags ``(article_id, topic, position)``. The key comes
    from what is reviewed, so reviewing the same thing twice (a double click, two workers) records it once."""
    refs = sorted(set(mentions))
    if refs:
        digest = hashlib.sha256("\n".join(f"{a}\t{t}\t{p}" for a, t, p in refs).encode()).hexdigest()[:24]
        key = f"{DIGEST_REVIEWED}:default:{up_to_position or 0}:items:{digest}"
    else:
        key = f"{DIGEST_REVIEWED}:default:{up_to_position}"
    return _event(REVIEW_STREAM, DIGEST_REVIEWED, key, {
        "up_to_position": up_to_position, "source": source, "reviewed_at": at.isoformat(),
        "mentions": [{"article_id": a, "topic": t, "position": p} for a, t, p in refs]}, at)


def digest_stream(digest_id: str) -> str:
    return f"digest:{digest_id}"


def digest_issued(digest_id: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    """One scheduled digest. Its id is the time it was scheduled for, so several workers (or a restart)
    issuing the same slot record it once, and only the one that recorded it sends it."""
    return _event(digest_stream(digest_id), DIGEST_ISSUED, f"{DIGEST_ISSUED}:{digest_id}",
                  {"digest_id": digest_id, **data}, at)


def digest_delivered(digest_id: str, channel: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return _event(digest_stream(digest_id), DIGEST_DELIVERED, f"{DIGEST_DELIVERED}:{digest_id}:{channel}",
                  {"digest_id": digest_id, "channel": channel, **data}, at)


def digest_delivery_failed(digest_id: str, channel: str, attempt: int, at: dt.datetime,
                           data: dict[str, Any]) -> NewEvent:
    return _event(digest_stream(digest_id), DIGEST_DELIVERY_FAILED,
                  f"{DIGEST_DELIVERY_FAILED}:{digest_id}:{channel}:{attempt}",
                  {"digest_id": digest_id, "channel": channel, "attempt": attempt, **data}, at)


CONFIG_STREAM = "config:default"


def config_changed(version: str, after: int, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    """The config in force became ``version``. ``after`` is the position of the last ConfigChanged (0 for
    none): workers that see the same change record it once, and going back to an earlier config later is a
    new change, not a duplicate."""
    return _event(CONFIG_STREAM, CONFIG_CHANGED, f"{CONFIG_CHANGED}:{version}:after:{after}",
                  {"version": version, **data}, at)


def config_rejected(file_hash: str, after: int, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    """A saved config that is not valid; the same bad bytes are recorded once per config in force."""
    return _event(CONFIG_STREAM, CONFIG_REJECTED, f"{CONFIG_REJECTED}:{file_hash}:after:{after}",
                  {"file_hash": file_hash, **data}, at)


def daemon_stream(instance: str) -> str:
    return f"daemon:{instance}"


def daemon_started(instance: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    """A daemon began polling. ``instance`` names this run, so a retried append records it once; the log's
    newest DaemonStarted without its DaemonStopped is the daemon running now (monitor.views.health)."""
    return _event(daemon_stream(instance), DAEMON_STARTED, f"{DAEMON_STARTED}:{instance}",
                  {"instance": instance, **data}, at)


def daemon_stopped(instance: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    """That run ended (a signal, or its caller stopped it): once per instance."""
    return _event(daemon_stream(instance), DAEMON_STOPPED, f"{DAEMON_STOPPED}:{instance}",
                  {"instance": instance, **data}, at)
