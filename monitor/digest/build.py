"""Digests of new mentions, read from the projections (never from the pipeline's stages).

A digest is a window of mentions (decision "mention", less those the analyst rejected, plus the articles the
analyst accepted, shown with decision "accepted") and their articles:
- by default the unreviewed ones: tagged after the review cursor (the last "everything up to here"
  ``DigestReviewed``) and not reviewed one by one since they were tagged;
- or those tagged since a date (``since``), or between two log positions (a scheduled digest's window);
- narrowed by ``Filters``: topic, feed, publication dates, score, review status.

Items are grouped into stories (the same event covered by several outlets, monitor.digest.stories) and the
stories by day. Rendering lives in monitor.digest.render; this module only reads.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

from monitor.language.features import STORY_TEXT_CHARS, StoryFeatures
from monitor.views import queries
from storage.engine import reading

Status = Literal["unreviewed", "reviewed", "all"]
STATUSES: tuple[str, ...] = ("unreviewed", "reviewed", "all")


@dataclass(frozen=True)
class Filters:
    """What a digest, the review page or the API shows. Dates are publication dates (the tag's time when the
    feed gave none), inclusive, in UTC."""

    topic: str | None = None
    feed: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    min_score: float | None = None
    status: Status = "unreviewed"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r} (choose {', '.join(STATUSES)})")
        if self.min_score is not None and not 0 <= self.min_score <= 1:
            raise ValueError(f"score must be between 0 and 1, got {self.min_score:g}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"the date range ends ({self.date_to}) before it starts ({self.date_from})")


@dataclass
class Digest:
    items: list[dict[str, Any]]
    since: dt.datetime | None
    after_position: int
    feeds_total: int
    feeds_failing: int
    feeds_polled: int
    stories: list[dict[str, Any]] = field(default_factory=list)
    up_to_position: int = 0  # the log's last position when the digest was read: the window's end
    unreviewed: int = 0  # unreviewed mentions in the whole log, whatever the filters
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    filters: Filters | None = None
    pages_failed: int = 0  # articles whose page failed, over all feeds (feeds status has them by feed and reason)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # the timeline's events that the items report

    @property
    def window(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None, "after_position": self.after_position,
                "up_to_position": self.up_to_position}

    @property
    def counts(self) -> dict[str, int]:
        return {"mentions": len(self.items), "stories": len(self.stories), "feeds": self.feeds_total,
                "feeds_polled": self.feeds_polled, "feeds_failing": self.feeds_failing,
                "pages_failed": self.pages_failed, "unreviewed": self.unreviewed}

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "stories": self.stories, "window": self.window, "counts": self.counts,
                "generated_at": self.generated_at.isoformat(), "timeline": self.timeline}

    def refs(self) -> list[tuple[str, str, int]]:
        """The tags shown, as ``(article_id, topic, position)``: what "mark all shown reviewed" reviews."""
        return [(item["article_id"], item["topic"], item["position"]) for item in self.items]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def build_digest(engine: Engine, since: dt.datetime | None = None, *, filters: Filters | None = None,
                 after_position: int | None = None, up_to_position: int | None = None, limit: int | None = None,
                 with_text: bool = False, clock: Any = None) -> Digest:
    """The mentions of a window, with their articles, grouped into stories.

    Without ``since`` or positions, the window is the unreviewed mentions (``filters.status`` decides
    otherwise); with them, every mention in the window, unless ``filters`` says which. ``limit`` keeps the
    newest items. ``with_text`` adds each article's extracted text (the review page expands it). ``timeline``
    holds the timeline's events that the items report (``monitor.digest.timeline``)."""
    from monitor.digest.timeline import VIEWS_READ, digest_events

    windowed = since is not None or after_position is not None or up_to_position is not None
    filters = filters or Filters(status="all" if windowed else "unreviewed")
    now = clock() if clock else dt.datetime.now(dt.UTC)
    with _collector_paused():
        with reading(engine, statements_apart=True) as conn:
            # The log's end, the review cursor, the feeds and the checkpoints the timeline is kept at, in one
            # statement: on PostgreSQL every statement is a round trip, and these were seven of a small digest's ten.
            summary = queries.digest_summary(conn, VIEWS_READ)
            end = up_to_position if up_to_position is not None else summary.last_position
            cursor = summary.cursor  # read once: every count below uses the same snapshot of it
            after = cursor if not windowed and filters.status == "unreviewed" else after_position or 0
            rows = queries.digest_mentions(
                conn, cursor, status=filters.status, since=since, after_position=after_position,
                up_to_position=up_to_position, topic=filters.topic, feed=filters.feed, min_score=filters.min_score,
                date_from=filters.date_from, date_to=filters.date_to, limit=limit, with_features=True,
                with_text=with_text, with_unreviewed_count=True)
            feeds = summary.feeds
            # Every row carries the count; with none listed, it takes a statement of its own.
            unreviewed = rows[0]["unreviewed_count"] if rows else queries.unreviewed_count(conn, cursor)
            # Newest publication first (the tag's time for an item the feed gave no date), the same order on the
            # page, in the API and in every digest; a tie goes to the newer tag.
            rows = sorted(rows, key=lambda r: (r["published_at"] or r["tagged_at"], r["position"]), reverse=True)
            titles = summary.titles
            items = [_item(row, with_text, titles) for row in rows]
            events = digest_events(conn, items, topic=filters.topic, read=summary) if items else []
        # Grouping compares the features stored when each article was tagged (computed here for any other: the
        # query gave their texts).
        stories = _stories(items, [row["text"] or "" for row in rows], _stored_features(rows))
    return Digest(items, since, after, feeds_total=len(feeds),
                  feeds_failing=sum(1 for status, _ in feeds if status in ("failing", "gone")),
                  feeds_polled=sum(1 for _, polls in feeds if polls), stories=stories, up_to_position=end,
                  unreviewed=unreviewed, generated_at=now, filters=filters, pages_failed=summary.pages_failed,
                  timeline=events)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a digest is read. A digest decodes some 40 containers per
    item (evidence, dates, features) that all stay alive until it is returned, and that growth set off full
    collections over the whole heap, several per large digest, finding no cycles (profile: 35-80 ms of a
    1,000-item digest). Reference counting frees everything as usual; the collector resumes afterwards (and stays
    paused if something else had paused it; concurrent digests can only resume it early).

    Before it resumes, what the digest left alive goes straight to the oldest generation (``gc.freeze`` then
    ``gc.unfreeze``, each a list splice): resumed with them young, the collector's next pass walked every one
    of them (7-10 ms of a 1,000-item digest, alternating runs on both backends). Any cycle among them is still
    found, at the next full pass. Not while something else keeps objects frozen (a server that froze its heap
    before forking): unfreezing would undo that."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


# A feed's title often names the outlet, then its section: "Demo Herald – World News", "Reuters: World News".
_SECTION = re.compile(r"\s+[–—|-]\s+|:\s+")


def outlet(url: str | None, feed_title: str | None = None) -> str | None:
    """What a reader calls the outlet: the feed's own title without its section ("Demo Herald"), else the
    publisher's host without "www."."""
    name = _SECTION.split(" ".join((feed_title or "").split()), maxsplit=1)[0].strip()
    if name:
        return name
    host = urlsplit(url or "").hostname
    return host.removeprefix("www.") if host else None


def _item(row: Any, with_text: bool, titles: dict[str, str]) -> dict[str, Any]:
    explanation = row["explanation"] or {}
    item = {
        "article_id": row["article_id"], "url": row["url"], "title": row["title"], "feed": row["feed"],
        "outlet": outlet(row["url"], titles.get(row["feed"])), "published_at": _iso(row["published_at"]),
        "topic": row["topic"],
        "score": row["score"], "sentences": [s["text"] if isinstance(s, dict) else s for s in row["sentences"]],
        "decision": row["decision"] if row["mention"] else "accepted", "terms": row["terms"],
        "dates": explanation.get("dates", []),
        "evidence": explanation.get("evidence", []), "similarity": explanation.get("similarity", {}),
        "rule": explanation.get("rule"), "topic_version": row["topic_version"], "tagged_at": _iso(row["tagged_at"]),
        "position": row["position"], "reviewed": bool(row["reviewed"]), "story": None,
        "verdict": row["verdict"], "verdict_note": row["verdict_note"],
    }
    if with_text:
        item["text"] = row["text"]
    return item


def _stored_features(rows: Sequence[Any]) -> dict[str, StoryFeatures]:
    """The story features stored for the rows' articles (``digest_mentions(with_features=True)``), by article."""
    return {row["article_id"]: StoryFeatures.from_json(row["story_words"], row["story_signature"])
            for row in rows if row.get("story_words") is not None}


def _stories(items: list[dict[str, Any]], texts: Sequence[str],
             features: dict[str, StoryFeatures]) -> list[dict[str, Any]]:
    """Group the items into stories (one article tagged for two topics is one story), newest day first, then by
    their first item (the items are newest first); set each item's ``story``."""
    from monitor.digest.stories import StoryDoc, group_stories

    if not items:
        return []
    # One document per article: an article tagged for several topics is the same story.
    first_index: dict[str, int] = {}
    of_article: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        first_index.setdefault(item["article_id"], index)
        of_article.setdefault(item["article_id"], []).append(index)
    article_order = list(first_index)
    # The topic's own terms (Modi, Putin, summit) are shared by every item of a topic: grouping ignores them.
    terms: dict[str, set[str]] = {a: set() for a in article_order}
    for item in items:
        terms[item["article_id"]].update(item["terms"] or ())
    published = [_published(item) for item in items]  # parsed once: a 1,000-item digest parsed each twice
    docs = [StoryDoc(items[first_index[a]]["title"] or "", texts[first_index[a]][:STORY_TEXT_CHARS],
                     published[first_index[a]], terms=tuple(sorted(terms[a])), features=features.get(a))
            for a in article_order]
    stories = []
    for group in group_stories(docs):
        indexes = sorted(i for member in group for i in of_article[article_order[member]]) if len(group) > 1 \
            else of_article[article_order[group[0]]]  # already in order
        lead = max(indexes, key=lambda i: (items[i]["score"], -i))
        dates = [d for i in indexes if (d := published[i])]
        first = min(dates) if dates else None
        day_source = first or dt.datetime.fromisoformat(items[indexes[0]]["tagged_at"])
        story_id = min(items[i]["article_id"] for i in indexes)[:12]
        for i in indexes:
            items[i]["story"] = story_id
        stories.append({
            "id": story_id, "title": items[lead]["title"] or items[lead]["url"],
            "day": day_source.astimezone(dt.UTC).date().isoformat(), "items": indexes,
            "outlets": sorted({items[i]["outlet"] for i in indexes if items[i]["outlet"]}),
            "feeds": sorted({items[i]["feed"] for i in indexes if items[i]["feed"]}),
            "first_published": _iso(first), "score": max(items[i]["score"] for i in indexes),
        })
    stories.sort(key=lambda s: s["items"][0])  # the items are newest first: so are the stories
    stories.sort(key=lambda s: s["day"], reverse=True)
    return stories


def _published(item: dict[str, Any]) -> dt.datetime | None:
    return dt.datetime.fromisoformat(item["published_at"]) if item["published_at"] else None
