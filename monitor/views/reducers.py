"""The reducers of the read models: one pure function per view and event type, ``(row or None, event) -> row``.

Each takes the row the event changes (None for a new one) and returns the new row, or None to leave it as
it is; nothing but the event is read, so replaying the log rebuilds the same rows (the story features view's last
step reads the articles view, which is caught up before it: its rows are a function of that view's). ``VIEWS``
registers them with their tables (``tables``) and versions for the view engine (``storage.projector``): raise a
view's version when its reducers' meaning changes, and it rebuilds itself from the log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection

from monitor.events.keys import entry_key
from monitor.language.features import STORY_TEXT_CHARS, text_features
from monitor.views import places, queries
from monitor.views.sightings import settle
from monitor.views.tables import (
    articles,
    feed_state,
    mentions,
    review_cursor,
    reviewed_mentions,
    story_features,
    timeline,
    timeline_sightings,
)
from monitor.views.timeline import participants_key, sentence_meetings, tie_ranks
from storage.eventlog import RecordedEvent
from storage.projector import Details, Row, View, blank


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


# -- feed_state ----------------------------------------------------------------------------------------

def _schedule(row: Row, data: dict[str, Any], *, keep_interval: bool = False) -> None:
    if "next_poll_at" in data:  # events written before schedules were recorded leave these unknown
        row.update(next_poll_at=_time(data.get("next_poll_at")), schedule=data.get("schedule"))
        if not keep_interval:
            row["interval"] = data.get("interval")


def _polled_url(row: Row, data: dict[str, Any]) -> None:
    row.update(url=data.get("url"), current_url=data.get("requested_url") or data.get("url"))


def _feed_polled(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or blank(feed_state, {"feed": data["feed"]})
    status = data.get("status", "ok")
    _polled_url(row, data)
    _schedule(row, data)
    row.update(status=status, http_status=data.get("http_status"),
               last_polled_at=event.occurred_at, last_success_at=event.occurred_at, consecutive_failures=0,
               polls=row["polls"] + 1, entries_seen=data.get("entries_seen", row["entries_seen"]),
               title=data.get("feed_title") or row["title"])  # a 304 has no title: keep the last one
    # Keep the validators of the last full response: some servers omit them on a 304.
    if data.get("etag") or status != "not_modified":
        row["etag"] = data.get("etag")
    if data.get("last_modified") or status != "not_modified":
        row["last_modified"] = data.get("last_modified")
    return row


def _feed_failed(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or blank(feed_state, {"feed": data["feed"]})
    _polled_url(row, data)
    _schedule(row, data, keep_interval=True)  # a backoff is not the feed's interval
    row.update(status="gone" if data.get("reason") == "http_410" else "failing", http_status=data.get("http_status"),
               last_polled_at=event.occurred_at, last_error_at=event.occurred_at,
               last_error_reason=data.get("reason"), last_error_message=data.get("message"),
               consecutive_failures=row["consecutive_failures"] + 1, polls=row["polls"] + 1,
               failures=row["failures"] + 1)
    return row


def _feed_moved(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or blank(feed_state, {"feed": data["feed"]})
    row.update(url=data.get("url"), current_url=data["to_url"], last_moved_at=event.occurred_at)
    return row


def _feed_article(row: Row | None, event: RecordedEvent) -> Row:
    row = row or blank(feed_state, {"feed": event.data["feed"]})
    row["articles"] += 1
    return row


# -- articles ------------------------------------------------------------------------------------------

def _article_discovered(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    row = row or blank(articles, {"article_id": data["article_id"]})
    row.update(url=data["url"], canonical_url=data["canonical_url"], feed=data.get("feed"),
               entry_id=data.get("entry_id"), title=data.get("title"),
               # occurred_at falls back to the discovery time when the feed gives no date; the view says unknown.
               published_at=_time(data.get("published_at")), discovered_at=event.recorded_at, status="discovered",
               entry_key=entry_key(data.get("feed"), data.get("entry_id")), entry_hash=data.get("entry_hash"))
    return row


def _article_revised(row: Row | None, event: RecordedEvent) -> Row | None:
    if row is None:
        return None
    data = event.data
    row.update(url=data["url"], canonical_url=data["canonical_url"], entry_id=data.get("entry_id"),
               entry_key=entry_key(row["feed"], data.get("entry_id")), entry_hash=data["entry_hash"],
               title=data.get("title") or row["title"], revisions=row["revisions"] + 1, revised_at=event.occurred_at)
    if data.get("text") is not None:
        row.update(text=data["text"], text_hash=data.get("text_hash"), text_source=data.get("text_source"),
                   word_count=data.get("word_count"), status="extracted")
    return row


def _article_extracted(row: Row | None, event: RecordedEvent) -> Row | None:
    if row is None:
        return None  # the discovery comes first in the same stream; nothing to attach to otherwise
    data = event.data
    row.update(status="extracted", text_source=data.get("text_source"), text=data.get("text"),
               text_hash=data.get("text_hash"), word_count=data.get("word_count"), language=data.get("language"),
               author=data.get("author"), title=data.get("title") or row["title"])
    return row


def _extraction_failed(row: Row | None, event: RecordedEvent) -> Row | None:
    if row is None:
        return None
    data = event.data
    row.update(extraction_reason=data.get("reason"), extraction_message=data.get("message"),
               extraction_stage=data.get("stage"))
    # An article whose page failed but whose feed text was used stays "extracted" (set by the
    # ArticleExtracted event that follows); one with no text at all is "failed".
    if row["status"] == "discovered":
        row["status"] = "failed"
    return row


# -- mentions and the review cursor ----------------------------------------------------------------------

_VERDICT_COLUMNS = ("verdict", "verdict_note", "verdict_position", "judged_at", "judged")


def _verdict_of(row: Row | None) -> Row:
    """The verdict columns of ``row`` (all None for a new row): a new tag keeps the analyst's verdict."""
    return {column: (row or {}).get(column) for column in _VERDICT_COLUMNS}


def _mention_tagged(row: Row | None, event: RecordedEvent) -> Row:
    data = event.data
    return {
        **_verdict_of(row), "article_id": data["article_id"], "topic": data["topic"], "position": event.position,
        "tagged_at": event.recorded_at, "topic_version": data.get("topic_version"),
        "decision": data.get("decision"), "mention": bool(data.get("mention")), "score": data["score"],
        "sentences": data.get("sentences", []), "terms": data.get("terms", []),
        "explanation": {k: v for k, v in data.items() if k not in ("sentences", "terms")},
    }


def _mention_retracted(row: Row | None, event: RecordedEvent) -> Row:
    """The tag stays visible as retracted (``explain`` shows it), out of every digest."""
    data = event.data
    return {
        **(row or {}), "article_id": data["article_id"], "topic": data["topic"], "position": event.position,
        "tagged_at": event.recorded_at, "topic_version": data.get("topic_version"), "decision": "retracted",
        "mention": False, "score": data["score"], "sentences": [], "terms": [],
        "explanation": {k: v for k, v in data.items() if k not in ("sentences", "terms")},
    }


def _mention_judged(row: Row | None, event: RecordedEvent) -> Row:
    """The newest verdict wins. An accepted article the tagger never tagged gets a row of its own (decision
    "none"), dated by the verdict, so that it enters the digest as new; an accepted possible or retracted tag
    takes the verdict's position for the same reason. A rejection leaves the tag's position alone."""
    data = event.data
    if row is None:
        row = {**blank(mentions, {"article_id": data["article_id"], "topic": data["topic"]}),
               "position": event.position, "tagged_at": event.recorded_at, "topic_version": None,
               "decision": "none", "mention": False, "score": 0.0, "sentences": [], "terms": [],
               "explanation": {}}
    elif data["verdict"] == "accept" and not row["mention"] and row.get("verdict") != "accept":
        row = {**row, "position": event.position}
    return {**row, "verdict": data["verdict"], "verdict_note": data.get("note"),
            "verdict_position": event.position, "judged_at": event.occurred_at,
            "judged": {"decision": data.get("decision"), "topic_version": data.get("topic_version"),
                       "position": data.get("position", 0), "source": data.get("source")}}


def _digest_reviewed(row: Row | None, event: RecordedEvent) -> Row | None:
    """The cursor only moves forward: a review of single tags leaves it, and a late "up to" never rewinds it."""
    up_to = event.data.get("up_to_position")
    if up_to is None or (row is not None and row["position"] >= up_to):
        return None
    return {"name": "default", "position": up_to, "reviewed_at": event.occurred_at}


def _reviewed_keys(event: RecordedEvent) -> list[tuple[Any, ...]]:
    return [(m["article_id"], m["topic"]) for m in event.data.get("mentions") or ()]


def _mention_reviewed(row: Row | None, event: RecordedEvent, key: tuple[Any, ...]) -> Row | None:
    position = max(m["position"] for m in event.data["mentions"] if (m["article_id"], m["topic"]) == key)
    if row is not None and row["position"] >= position:
        return None
    return {"article_id": key[0], "topic": key[1], "position": position, "reviewed_at": event.occurred_at,
            "source": event.data.get("source")}


# -- the timeline ----------------------------------------------------------------------------------------

def _timeline_tagged(_row: Row | None, event: RecordedEvent) -> Row:
    """The newest tag decides: a tag that is no mention (or a retraction) leaves the article no meetings."""
    data = event.data
    meetings = sentence_meetings(data) if data.get("mention") and event.type == "MentionTagged" else []
    return {"article_id": data["article_id"], "topic": data["topic"], "position": event.position,
            "meetings": meetings, "count": len(meetings)}


def _timeline_sightings(row: Row) -> list[Row]:
    """The row's meetings one row each (``timeline_sightings``), for the digest's read by date."""
    meetings = row["meetings"]
    return [{"article_id": row["article_id"], "topic": row["topic"], "n": n,
             "participants": participants_key(meeting["participants"]),
             "start_date": dt.date.fromisoformat(meeting["start"]), "end_date": dt.date.fromisoformat(meeting["end"]),
             "tie_rank": rank, "place": meeting.get("place"), "sighting": meeting, "event_article": None,
             "event_n": None}
            for n, (meeting, rank) in enumerate(zip(meetings, tie_ranks(meetings), strict=True))]


# -- story features ------------------------------------------------------------------------------------

def _features_wanted(row: Row | None, event: RecordedEvent) -> Row | None:
    """A tag (or an accepting verdict) asks for the article's story features: ``_compute_features`` fills them
    in when the batch is stored, unless the row has them for the article's title and text as they are."""
    if event.type == "MentionJudged" and event.data["verdict"] != "accept":
        return None
    return dict(row) if row is not None else blank(story_features, {"article_id": event.data["article_id"]})


def _features_revised(row: Row | None, _event: RecordedEvent) -> Row | None:
    """A tagged article revised: its features follow its new title and text."""
    return dict(row) if row is not None else None


def _compute_features(conn: Connection, rows: list[Row]) -> None:
    """The features of each row, from the article's title and text as the articles view holds them (that view
    is caught up first), computed only when the row has none for that title and text hash. An article the view
    does not hold (yet) keeps none, and one revised since its tag keeps those of the text it was tagged on: the
    digest computes the features of either from the text (``queries.story_features`` serves only current ones)."""
    texts = queries.article_texts(conn, [row["article_id"] for row in rows])
    for row in rows:
        found = texts.get(row["article_id"])
        if found is None or (row["words"] is not None and (row["title"], row["text_hash"]) == (found[0], found[2])):
            continue
        title, text, text_hash = found
        row.update(title=title, text_hash=text_hash,
                   **text_features(title or "", (text or "")[:STORY_TEXT_CHARS]).as_json())


VIEWS: dict[str, View] = {
    "feed_state": View("feed_state", 4, feed_state, lambda e: (e.data["feed"],), {
        "FeedPolled": _feed_polled, "FeedFailed": _feed_failed, "FeedMoved": _feed_moved,
        "ArticleDiscovered": _feed_article,
    }),
    "articles": View("articles", 3, articles, lambda e: (e.data["article_id"],), {
        "ArticleDiscovered": _article_discovered, "ArticleExtracted": _article_extracted,
        "ExtractionFailed": _extraction_failed, "ArticleRevised": _article_revised,
    }),
    "story_features": View("story_features", 1, story_features, lambda e: (e.data["article_id"],), {
        "MentionTagged": _features_wanted, "MentionJudged": _features_wanted, "ArticleRevised": _features_revised,
    }, enrich=_compute_features),
    "mentions": View("mentions", 4, mentions, lambda e: (e.data["article_id"], e.data["topic"]), {
        "MentionTagged": _mention_tagged, "MentionRetracted": _mention_retracted, "MentionJudged": _mention_judged,
    }),
    "review_cursor": View("review_cursor", 3, review_cursor, lambda e: ("default",), {
        "DigestReviewed": _digest_reviewed,
    }),
    "reviewed_mentions": View("reviewed_mentions", 1, reviewed_mentions, lambda e: (), {
        "DigestReviewed": _mention_reviewed,
    }, row_keys=_reviewed_keys),
    "timeline": View("timeline", 3, timeline, lambda e: (e.data["article_id"], e.data["topic"]), {
        "MentionTagged": _timeline_tagged, "MentionRetracted": _timeline_tagged,
    }, details=Details(timeline_sightings, _timeline_sightings, settle), prepare=places.prefetch),
}
