"""The outlet a reader sees: the feed's own title without its section, else the publisher's host; and the feed's
title kept in feed_state across a 304 that carries none."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor.digest.build import outlet
from monitor.events import catalogue as ev
from monitor.views import queries
from monitor.views.projections import Projections
from storage.engine import reading
from storage.eventlog import EventLog


@pytest.mark.parametrize(("title", "expected"), [
    ("Demo Herald – World News", "Demo Herald"),
    ("Reuters: World News", "Reuters"),
    ("The Hindu - International", "The Hindu"),
    ("Demo Diplomatic Wire", "Demo Diplomatic Wire"),
    ("  Demo\nHerald  ", "Demo Herald"),
    ("Rock-n-Roll Times", "Rock-n-Roll Times"),  # a hyphen inside a name is no separator
    (None, "herald.example"),
    ("", "herald.example"),
])
def test_the_outlet_is_the_feeds_title_without_its_section(title: str | None, expected: str) -> None:
    assert outlet("https://www.herald.example/world/1", title) == expected


def test_no_title_and_no_url_is_no_outlet() -> None:
    assert outlet(None, None) is None


def test_feed_state_keeps_the_title_of_the_last_full_response(tmp_path: Path) -> None:
    log = EventLog.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", migrate=True, upcasters=ev.UPCASTERS)
    try:
        at = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
        polled = {"url": "https://herald.example/feed.rss", "status": "ok"}
        log.append([ev.feed_polled("herald", "1", at, {**polled, "feed_title": "Demo Herald – World News"})])
        log.append([ev.feed_polled("herald", "2", at, {**polled, "status": "not_modified"})])  # a 304: no title
        log.append([ev.feed_polled("wire", "1", at, {**polled, "url": "https://wire.example/feed.atom"})])
        Projections(log.engine, upcasters=ev.UPCASTERS).catch_up()
        with reading(log.engine) as conn:
            assert queries.feed_titles(conn) == {"herald": "Demo Herald – World News"}
    finally:
        log.close()
