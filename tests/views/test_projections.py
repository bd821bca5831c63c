"""The read models: batched catch-up, atomic checkpoints, versioned views, rebuilds, on both backends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from monitor.errors import StorageError
from monitor.events import catalogue as ev
from monitor.views.projections import Projections
from monitor.views.reducers import VIEWS
from monitor.views.tables import articles, feed_state, mentions, review_cursor, story_features
from storage.eventlog import EventLog, NewEvent
from storage.tables import checkpoints

T0 = dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def event_log(database_url: str) -> Iterator[EventLog]:
    log = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    yield log
    log.close()


def article_events(n: int, feed: str = "feed-a", mention: bool = False) -> list[NewEvent]:
    url = f"https://news.example/{feed}/{n}"
    article = ev.article_id(url)
    at = T0 + dt.timedelta(minutes=n)
    batch = [ev.article_discovered(article, at, {"feed": feed, "url": url, "canonical_url": url,
                                                 "entry_id": url, "title": f"Story {n}",
                                                 "published_at": at.isoformat()})]
    if n % 4 == 3:
        batch.append(ev.extraction_failed(article, at, {"url": url, "reason": "http_403", "message": "403",
                                                        "fallback": None}))
        return batch
    batch.append(ev.article_extracted(article, at, {"url": url, "title": f"Story {n}", "text": f"Text {n}.",
                                                    "text_hash": f"h{n}", "text_source": "page", "word_count": 2,
                                                    "language": "en", "author": None, "page_date": None,
                                                    "published_at": at.isoformat()}))
    if mention:
        batch.append(ev.mention_tagged(article, "india-russia-summit", "v1", at, {
            "mention": True, "decision": "mention", "score": 0.8, "sentences": [f"Sentence {n}."],
            "terms": ["modi"], "title": f"Story {n}", "url": url, "feed": feed}))
    return batch


def fill(log: EventLog, count: int) -> None:
    for n in range(count):
        log.append(article_events(n, feed=f"feed-{n % 3}", mention=n % 2 == 0))
        outcome = {"url": f"https://news.example/feed-{n % 3}.xml", "http_status": 200}
        if n % 5 == 4:
            log.append([ev.feed_failed(f"feed-{n % 3}", f"attempt-{n}", T0, {**outcome, "reason": "timeout",
                                                                             "message": "timed out"})])
        else:
            log.append([ev.feed_polled(f"feed-{n % 3}", f"attempt-{n}", T0, {**outcome, "status": "ok",
                                                                             "entries_seen": n, "etag": f"e{n}"})])
    log.append([ev.digest_reviewed(log.last_position(), T0)])


def tables(log: EventLog) -> dict[str, list[dict[str, Any]]]:
    with log.engine.connect() as conn:
        return {table.name: sorted((dict(r) for r in conn.execute(select(table)).mappings()), key=repr)
                for table in (feed_state, articles, mentions, review_cursor, story_features, checkpoints)}


def test_catch_up_in_small_batches_equals_one_big_batch(event_log: EventLog) -> None:
    """Folding rows across batch boundaries gives the same state as folding them in one go."""
    fill(event_log, 23)
    Projections(event_log.engine, upcasters=ev.UPCASTERS, batch_size=3).catch_up()
    small = tables(event_log)
    Projections(event_log.engine, upcasters=ev.UPCASTERS, batch_size=10_000).rebuild()
    assert tables(event_log) == small
    by_feed = {row["feed"]: row for row in small["feed_state"]}
    assert sum(row["articles"] for row in by_feed.values()) == 23
    assert sum(row["polls"] for row in by_feed.values()) == 23
    assert by_feed["feed-1"]["failures"] == 2  # n = 4 and 19
    statuses = {row["title"]: (row["status"], row["extraction_stage"]) for row in small["articles"]}
    assert statuses["Story 3"] == ("failed", "fetch") and statuses["Story 2"] == ("extracted", None)
    assert len(small["mentions"]) == 12
    assert len(small["story_features"]) == 12 and all(row["words"] for row in small["story_features"])


def test_each_catch_up_applies_only_what_is_new(event_log: EventLog) -> None:
    projections = Projections(event_log.engine, upcasters=ev.UPCASTERS)
    fill(event_log, 4)
    first = projections.catch_up()
    assert first > 0 and projections.catch_up() == 0
    event_log.append(article_events(100))
    assert projections.catch_up() == 2 + 1  # the feed_state view counts the discovery too
    assert projections.positions()["articles"] == event_log.last_position()


def test_a_view_of_an_older_version_rebuilds_itself(event_log: EventLog) -> None:
    projections = Projections(event_log.engine, upcasters=ev.UPCASTERS)
    fill(event_log, 6)
    projections.catch_up()
    expected = tables(event_log)
    with event_log.engine.begin() as conn:  # as if the stored view came from an older reducer
        conn.execute(update(articles).values(title="stale"))
        conn.execute(update(checkpoints).where(checkpoints.c.name == "articles")
                     .values(view_version=VIEWS["articles"].version - 1))
    projections.catch_up()
    assert tables(event_log) == expected


def test_a_failing_batch_changes_neither_rows_nor_checkpoint(event_log: EventLog) -> None:
    projections = Projections(event_log.engine, upcasters=ev.UPCASTERS)
    fill(event_log, 3)
    projections.catch_up()
    before = tables(event_log)
    event_log.append(article_events(50))
    event_log.append([NewEvent("article:broken", ev.ARTICLE_DISCOVERED, "broken", {"feed": "feed-0"}, T0)])
    with pytest.raises(StorageError, match=r"cannot update the articles view: an event lacks 'article_id'"):
        projections.catch_up(["articles"])
    assert tables(event_log) == before


def test_rebuild_one_view_leaves_the_others(event_log: EventLog) -> None:
    projections = Projections(event_log.engine, upcasters=ev.UPCASTERS)
    fill(event_log, 5)
    projections.catch_up()
    with event_log.engine.begin() as conn:
        conn.execute(update(feed_state).values(polls=999))
        conn.execute(update(articles).values(title="edited by hand"))
    replayed = projections.rebuild(["articles"])
    assert replayed == sum(1 for e in event_log.read() if e.type in VIEWS["articles"].reducers)
    state = tables(event_log)
    assert all(row["title"].startswith("Story") for row in state["articles"])
    assert all(row["polls"] == 999 for row in state["feed_state"])


def test_an_unknown_view_is_a_clear_error(event_log: EventLog) -> None:
    with pytest.raises(StorageError, match="unknown projection 'nope' \\(known: feed_state, articles"):
        Projections(event_log.engine).rebuild(["nope"])


def test_a_view_behind_is_prepared_before_a_replay_applies_any_view(event_log: EventLog) -> None:
    """``View.prepare`` (the timeline's: start reading the gazetteer) is called once per replay that finds the
    view behind, before the views ahead of it are applied, so that a slow load overlaps them. A catch-up of new
    events (the daemon's, after a poll) prepares nothing: the reducer loads what it needs when it needs it, and a
    process whose tags never name a place never loads it."""
    from dataclasses import replace

    from storage.projector import Projector

    calls: list[dict[str, int]] = []
    projector: Projector

    def prepare() -> None:
        calls.append(projector.positions())

    views = {name: VIEWS[name] for name in ("feed_state", "articles")}
    views["mentions"] = replace(VIEWS["mentions"], prepare=prepare)
    projector = Projector(event_log.engine, views, upcasters=ev.UPCASTERS)
    fill(event_log, 4)
    projector.catch_up()
    assert calls == [] and projector.positions()["mentions"] > 0
    projector.rebuild()
    assert calls == [{"feed_state": 0, "articles": 0, "mentions": 0}]  # before feed_state and articles applied
    projector.rebuild(["feed_state"])  # mentions not replayed: not prepared
    assert len(calls) == 1
    projector.rebuild(["mentions"])
    assert len(calls) == 2 and calls[1]["mentions"] == 0
