"""The event catalogue: stored type names, streams and idempotency keys, all derived from data.

A stored type is the name used here and is never renamed. Identity comes from the data, so that
re-polling, restarts and several workers produce the same keys for the same facts:

- an article's stream is ``article:<uuid5 of its canonical URL>``;
- a feed's stream is ``feed:<feed name>``;
- ``MentionTagged`` is keyed by article, topic and topic-config version, so a config change may tag
  again while a re-poll never does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.eventlog import NewEvent

FEED_POLLED = "FeedPolled"
FEED_FAILED = "FeedFailed"
ARTICLE_DISCOVERED = "ArticleDiscovered"
ARTICLE_EXTRACTED = "ArticleExtracted"
EXTRACTION_FAILED = "ExtractionFailed"
MENTION_TAGGED = "MentionTagged"
DIGEST_REVIEWED = "DigestReviewed"

_ARTICLE_NAMESPACE = uuid.UUID("9b1f6c2e-5d3a-4f0e-8a47-3c2d1e0f9a88")
REVIEW_STREAM = "review:default"


def article_id(canonical_url: str) -> str:
    return str(uuid.uuid5(_ARTICLE_NAMESPACE, canonical_url))


def article_stream(article: str) -> str:
    return f"article:{article}"


def feed_stream(feed: str) -> str:
    return f"feed:{feed}"


def feed_polled(feed: str, attempt: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return NewEvent(feed_stream(feed), FEED_POLLED, f"{FEED_POLLED}:{feed}:{attempt}", {"feed": feed, **data}, at)


def feed_failed(feed: str, attempt: str, at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return NewEvent(feed_stream(feed), FEED_FAILED, f"{FEED_FAILED}:{feed}:{attempt}", {"feed": feed, **data}, at)


def article_discovered(article: str, published_at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return NewEvent(article_stream(article), ARTICLE_DISCOVERED, f"{ARTICLE_DISCOVERED}:{article}",
                    {"article_id": article, **data}, published_at)


def article_extracted(article: str, published_at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return NewEvent(article_stream(article), ARTICLE_EXTRACTED, f"{ARTICLE_EXTRACTED}:{article}",
                    {"article_id": article, **data}, published_at)


def extraction_failed(article: str, published_at: dt.datetime, data: dict[str, Any]) -> NewEvent:
    return NewEvent(article_stream(article), EXTRACTION_FAILED, f"{EXTRACTION_FAILED}:{article}",
                    {"article_id": article, **data}, published_at)


def mention_tagged(article: str, topic: str, topic_version: str, published_at: dt.datetime,
                   data: dict[str, Any]) -> NewEvent:
    return NewEvent(article_stream(article), MENTION_TAGGED, f"{MENTION_TAGGED}:{article}:{topic}:{topic_version}",
                    {"article_id": article, "topic": topic, "topic_version": topic_version, **data}, published_at)


def digest_reviewed(up_to_position: int, at: dt.datetime) -> NewEvent:
    return NewEvent(REVIEW_STREAM, DIGEST_REVIEWED, f"{DIGEST_REVIEWED}:default:{up_to_position}",
                    {"up_to_position": up_to_position, "reviewed_at": at.isoformat()}, at)
