"""A catch-up that runs while another process appends never passes an event it did not read.

A view's batch reads each of its event types by a statement of its own. On PostgreSQL (READ COMMITTED) every
statement sees what committed before it, so a poll that commits between two of those statements is visible to
the later type's read and not to the earlier one's. The checkpoint must not move past the events of the
earlier type that came with it: the 3-worker soak found live views short of their rebuild by 11 articles.
Here the append happens, deterministically, between the first and the second type's read. (On SQLite a
catch-up's transaction holds the write lock from its start, so no append can come between its reads.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import storage.projector as projector_module
from monitor.events import catalogue as ev
from monitor.views.log import projections
from monitor.views.tables import feed_state
from storage.eventlog import EventLog

T0 = dt.datetime(2025, 12, 1, 9, tzinfo=dt.UTC)


def a_poll(feed: str, n: int) -> list:
    at = T0 + dt.timedelta(minutes=n)
    url = f"https://{feed}.example/story-{n}"
    article = ev.article_id(url)
    return [ev.article_discovered(article, at, {"feed": feed, "url": url, "canonical_url": url,
                                                "entry_id": f"urn:{n}", "title": f"Story {n}", "published_at": None}),
            ev.feed_polled(feed, f"attempt-{n}", at, {"url": f"https://{feed}.example/rss", "status": "ok",
                                                     "http_status": 200, "entries_seen": 1})]


def rows(log: EventLog) -> list[dict[str, Any]]:
    with log.engine.connect() as conn:
        return [dict(r) for r in conn.execute(feed_state.select().order_by(feed_state.c.feed)).mappings()]


@pytest.mark.postgres
def test_a_poll_committed_between_a_batchs_reads_is_read_by_the_next_batch(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog.open(postgres_url, migrate=True)
    writer = EventLog.open(postgres_url)  # another process's appends: a connection of its own, committed at once
    try:
        log.append(a_poll("feed-a", 1))
        views = projections(log)
        views.catch_up(["feed_state"])
        assert sorted(views.views["feed_state"].reducers)[0] == ev.ARTICLE_DISCOVERED  # read first, FeedPolled after

        log.append(a_poll("feed-a", 2))  # what the next batch has to read
        real = projector_module.driver_batches
        calls = {"n": 0}

        def interleaved(conn: Any, query: Any, batch_size: int, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:  # after the batch read the ArticleDiscovered events, before it reads the others
                writer.append(a_poll("feed-a", 3))
            return real(conn, query, batch_size, **kwargs)

        monkeypatch.setattr(projector_module, "driver_batches", interleaved)
        views.catch_up(["feed_state"])
        monkeypatch.setattr(projector_module, "driver_batches", real)
        assert calls["n"] >= 2
        views.catch_up(["feed_state"])  # the next batch reads what the interleaved one did not
        live = rows(log)
        views.rebuild(["feed_state"])
        assert rows(log) == live
        assert live[0]["articles"] == 3
    finally:
        writer.close()
        log.close()
