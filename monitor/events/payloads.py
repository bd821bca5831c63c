"""The payload of each event type, one pydantic model per stored schema.

Every event written is checked against the model of its current schema, so a pipeline bug fails at
the append, not later in a projection. An import checks each line's payload the same way, after
upcasting it. Models allow extra fields: a payload may carry more detail than its readers need (the
tagger's full explanation, say), and that never needs a new schema.

An old schema keeps its model here, next to the upcaster that turns it into the next one
(monitor.events.catalogue), so what was once written stays documented.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class FeedPolledV1(_Payload):
    feed: str
    url: str
    status: Literal["ok", "not_modified", "interrupted"] = "ok"
    http_status: int | None = None
    final_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    entries_seen: int = Field(default=0, ge=0)
    new_entries: int = Field(default=0, ge=0)
    duration: float | None = Field(default=None, ge=0)
    # Added without a new schema (absent in older events, and readers treat them as unknown):
    requested_url: str | None = None  # the URL polled, when a move made it differ from ``url``
    revised_entries: int = Field(default=0, ge=0)
    interval: float | None = Field(default=None, ge=0)  # the schedule decided after this poll
    next_poll_at: str | None = None
    schedule: str | None = None


class FeedFailedV1(_Payload):
    feed: str
    url: str
    reason: str = Field(min_length=1)  # a stable code: http_404, timeout, not_a_feed, private_address...
    message: str
    http_status: int | None = None
    retry_after: float | None = None
    requested_url: str | None = None
    interval: float | None = Field(default=None, ge=0)
    next_poll_at: str | None = None
    schedule: str | None = None


class FeedMovedV1(_Payload):
    feed: str
    url: str  # the configured URL
    from_url: str
    to_url: str
    reason: Literal["permanent_redirect", "autodiscovery"]
    http_status: int | None = None


class ArticleRevisedV1(_Payload):
    article_id: str
    feed: str | None
    changes: list[Literal["title", "content", "url"]] = Field(min_length=1)
    url: str
    canonical_url: str
    entry_id: str | None = None
    title: str | None = None
    entry_hash: str
    previous_entry_hash: str | None = None
    # The new article text, when the feed's own content is the text (fetch_full_text = false) or the page
    # was extracted again.
    text: str | None = None
    text_hash: str | None = None
    text_source: Literal["page", "feed_content", "feed_summary", "title"] | None = None
    word_count: int | None = Field(default=None, ge=0)


class ArticleDiscoveredV1(_Payload):
    article_id: str
    feed: str | None
    url: str
    canonical_url: str
    entry_id: str | None = None
    title: str | None = None
    published_at: str | None = None  # ISO 8601; None when the feed gives no date


class ArticleExtractedV1(_Payload):
    article_id: str
    url: str | None
    title: str | None = None
    text: str
    text_hash: str
    text_source: Literal["page", "feed_content", "feed_summary", "title"]
    word_count: int = Field(ge=0)
    language: str | None = None
    author: str | None = None
    page_date: str | None = None
    published_at: str | None = None
    # How long the extractor took on the page, and the tagger on the text (for /metrics; absent in older events).
    extract_seconds: float | None = Field(default=None, ge=0)
    tag_seconds: float | None = Field(default=None, ge=0)


class ExtractionFailedV1(_Payload):
    article_id: str
    url: str | None
    reason: str = Field(min_length=1)
    message: str
    fallback: str | None = None  # the feed text used instead, if any


class ExtractionFailedV2(ExtractionFailedV1):
    stage: Literal["fetch", "extract"]  # could not fetch the page, or found no article text in it


class MentionTaggedV1(_Payload):
    article_id: str
    topic: str
    topic_version: str
    mention: bool
    decision: str
    score: float = Field(ge=0, le=1)
    sentences: list[str] = []
    terms: list[Any] = []


class MentionRetractedV1(_Payload):
    article_id: str
    topic: str
    topic_version: str  # the version whose rules no longer give the tag
    previous_decision: str
    previous_topic_version: str | None = None
    decision: str  # what the rules give now: "none"
    score: float = Field(ge=0, le=1)
    rule_score: float | None = None


class DigestReviewedV1(_Payload):
    up_to_position: int = Field(ge=0)
    reviewed_at: str


class ReviewedMention(BaseModel):
    model_config = ConfigDict(extra="forbid")

    article_id: str
    topic: str
    position: int = Field(ge=1)  # of the tag reviewed: a later tag of the same article and topic is new again


class DigestReviewedV2(_Payload):
    """Everything up to a position (the CLI's ``review``, a digest marked read), or single mentions (the web
    page's "mark reviewed", for one item or for all those shown), or both."""

    up_to_position: int | None = Field(default=None, ge=0)
    mentions: list[ReviewedMention] = []
    source: Literal["cli", "web", "digest", "api"] | None = None
    reviewed_at: str


class DigestIssuedV1(_Payload):
    digest_id: str  # the scheduled time it was issued for, e.g. 2026-12-02T08:00:00+00:00
    scheduled_for: str
    after_position: int = Field(ge=0)  # the window: mentions recorded after this position...
    up_to_position: int = Field(ge=0)  # ...and up to this one
    mentions: int = Field(ge=0)
    stories: int = Field(ge=0)
    feeds_polled: int = Field(default=0, ge=0)
    feeds_failing: int = Field(default=0, ge=0)
    items: list[ReviewedMention] = []
    files: dict[str, str] = {}  # format -> path written
    channels: list[str] = []  # the channels it is sent to


class DigestDeliveredV1(_Payload):
    digest_id: str
    channel: str
    channel_type: Literal["email", "webhook", "apprise"]
    attempts: int = Field(ge=1)
    detail: str | None = None


class DigestDeliveryFailedV1(_Payload):
    digest_id: str
    channel: str
    channel_type: Literal["email", "webhook", "apprise"]
    attempt: int = Field(ge=1)
    reason: str = Field(min_length=1)  # smtp_error, http_500, timeout, connection_error, apprise_failed...
    message: str
    final: bool  # no retry follows


class ConfigChangedV1(_Payload):
    version: str  # a hash of the resolved config (secrets left out)
    previous_version: str | None = None
    source: str  # start | file | sighup | cli
    file: str | None = None
    diff: dict[str, Any] = {}  # per topic keywords added/removed; feeds added/removed/changed; other keys
    summary: list[str] = []  # the diff as readable lines
    config: dict[str, Any] = {}  # the resolved config, secrets redacted: the next change is diffed against it


class ConfigRejectedV1(_Payload):
    file: str | None = None
    file_hash: str  # of the rejected bytes: the same bad save is recorded once
    errors: list[str] = Field(min_length=1)
    running_version: str | None = None  # the config the daemon keeps running on


class DaemonStartedV1(_Payload):
    instance: str  # this run of the daemon (a uuid4): its DaemonStopped names the same
    version: str  # of news-monitor
    config_version: str  # monitor.config.diff.config_version of the config it started with
    reason: str = "start"
    host: str | None = None
    pid: int | None = None
    feeds: int = 0


class DaemonStoppedV1(_Payload):
    instance: str
    version: str
    config_version: str  # the config in force when it stopped (a hot reload may have changed it)
    reason: str  # SIGTERM | SIGINT | stopped
    clean: bool = True  # False: polls outlived the shutdown grace period and were abandoned
    host: str | None = None
    pid: int | None = None


MODELS: dict[tuple[str, int], type[_Payload]] = {
    ("FeedPolled", 1): FeedPolledV1,
    ("FeedFailed", 1): FeedFailedV1,
    ("FeedMoved", 1): FeedMovedV1,
    ("ArticleDiscovered", 1): ArticleDiscoveredV1,
    ("ArticleRevised", 1): ArticleRevisedV1,
    ("ArticleExtracted", 1): ArticleExtractedV1,
    ("ExtractionFailed", 1): ExtractionFailedV1,
    ("ExtractionFailed", 2): ExtractionFailedV2,
    ("MentionTagged", 1): MentionTaggedV1,
    ("MentionRetracted", 1): MentionRetractedV1,
    ("DigestReviewed", 1): DigestReviewedV1,
    ("DigestReviewed", 2): DigestReviewedV2,
    ("DigestIssued", 1): DigestIssuedV1,
    ("DigestDelivered", 1): DigestDeliveredV1,
    ("DigestDeliveryFailed", 1): DigestDeliveryFailedV1,
    ("ConfigChanged", 1): ConfigChangedV1,
    ("ConfigRejected", 1): ConfigRejectedV1,
    ("DaemonStarted", 1): DaemonStartedV1,
    ("DaemonStopped", 1): DaemonStoppedV1,
}

# The schema each type is written in today.
SCHEMAS: dict[str, int] = {}
for _type, _schema in MODELS:
    SCHEMAS[_type] = max(SCHEMAS.get(_type, 0), _schema)


def check(event_type: str, schema: int, data: dict[str, Any]) -> None:
    """Raise ValueError, in one line, when ``data`` is not a valid payload of that type and schema.
    Types this version does not know pass: a newer version may have written them."""
    model = MODELS.get((event_type, schema))
    if model is None:
        return
    try:
        model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                             for e in exc.errors()[:3])
        raise ValueError(f"{event_type} schema {schema}: {problems}") from None
