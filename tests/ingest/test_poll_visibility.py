"""What a poll did is visible in its FeedPolled: new entries in every mode, pages that failed and entries
that failed alone by reason, entries that are no article, duplicates; and a poll stopped between entries is
due again at once. Real local servers on 127.0.0.1, through the real pipeline."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.pipeline import Monitor
from monitor.tagging.rules import Tagger
from tests.builders import rss_document, rss_item
from tests.ingest.test_hostile import events
from tests.ingest.test_polling import Site

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PAGE = b"<html><body><article><p>" + b"Modi met Putin in New Delhi for the annual summit. " * 20 + \
    b"</p></article></body></html>"


def item(title: str, link: str, guid: str, i: int) -> str:
    return rss_item(title, link, guid, NOW - dt.timedelta(hours=i), f"About {title}.", permalink=False)


def rss(items: list[str]) -> str:
    return rss_document(items, title="T", link="http://127.0.0.1/")


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    yield made
    made.close()


@pytest.fixture
def monitor_for(write_config: Callable[..., Path]) -> Iterator[Callable[..., Monitor]]:
    made: list[Monitor] = []

    def make(url: str, *, fetch_full_text: bool = False) -> Monitor:
        made.append(Monitor(load_config(write_config([{"name": "wire", "url": url,
                                                        "fetch_full_text": fetch_full_text}]))))
        return made[-1]

    yield make
    for monitor in made:
        monitor.close()


def polled(monitor: Monitor) -> list[dict[str, Any]]:
    return [e.data for e in events(monitor, "FeedPolled")]


def test_new_entries_is_counted_without_page_fetches(site: Site, monitor_for) -> None:
    site.route("/feed.xml", rss([item(f"Story {i}", f"{site.base}/{i}.html", f"g{i}", i) for i in range(3)]))
    monitor = monitor_for(f"{site.base}/feed.xml")
    (first,) = monitor.poll()
    (again,) = monitor.poll()
    assert (first.new_articles, again.new_articles) == (3, 0)
    assert [p["new_entries"] for p in polled(monitor)] == [3, 0]


def test_failed_pages_are_counted_by_reason_and_said(site: Site, monitor_for) -> None:
    site.route("/ok.html", PAGE, content_type="text/html")
    site.route("/gone-1.html", b"no", status=404, content_type="text/html")
    site.route("/gone-2.html", b"no", status=404, content_type="text/html")
    site.route("/feed.xml", rss([item("Fine", f"{site.base}/ok.html", "a", 0),
                                 item("Gone one", f"{site.base}/gone-1.html", "b", 1),
                                 item("Gone two", f"{site.base}/gone-2.html", "c", 2)]))
    monitor = monitor_for(f"{site.base}/feed.xml", fetch_full_text=True)
    (outcome,) = monitor.poll()
    assert outcome.status == "ok" and outcome.new_articles == 3
    assert outcome.pages_failed == {"http_404": 2}
    assert "3 entries, 3 new" in outcome.summary() and "2 pages failed: http_404 ×2" in outcome.summary()
    (payload,) = polled(monitor)
    assert payload["pages_failed"] == {"http_404": 2} and payload["new_entries"] == 3


def test_an_entry_that_fails_fails_alone_and_is_tried_again(site: Site, monitor_for, monkeypatch,
                                                            caplog) -> None:
    real_tag = Tagger.tag

    def tag(self: Tagger, title: str, *args: Any, **kwargs: Any) -> Any:
        if "Boom" in title:
            raise RuntimeError("a bug in the tagger")
        return real_tag(self, title, *args, **kwargs)

    monkeypatch.setattr(Tagger, "tag", tag)
    site.route("/feed.xml", rss([item("Before", f"{site.base}/1.html", "g1", 0),
                                 item("Boom", f"{site.base}/2.html", "g2", 1),
                                 item("After", f"{site.base}/3.html", "g3", 2)]))
    monitor = monitor_for(f"{site.base}/feed.xml")
    with caplog.at_level(logging.ERROR):
        (outcome,) = monitor.poll()
    assert outcome.status == "ok" and outcome.entries_failed == {"internal_error": 1}
    assert sorted(e.data["title"] for e in events(monitor, "ArticleDiscovered")) == ["After", "Before"]
    (payload,) = polled(monitor)
    assert payload["entries_failed"] == {"internal_error": 1}
    assert payload["failed_entries"][0]["entry_id"] == "g2"
    assert "RuntimeError: a bug in the tagger" in payload["failed_entries"][0]["message"]
    assert not events(monitor, "FeedFailed")
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged without NEWS_MONITOR_DEBUG"
    monkeypatch.setattr(Tagger, "tag", real_tag)
    (retried,) = monitor.poll()  # not in the log, so the next poll does it
    assert retried.new_articles == 1 and retried.entries_failed == {}


def test_episodes_sharing_one_link_are_each_an_article(site: Site, monitor_for) -> None:
    show = f"{site.base}/show.html"
    episodes = [item(f"Episode {i}", show, f"episode-{i}", i) for i in range(6)]
    site.route("/feed.xml", rss([*episodes, episodes[3]]))
    monitor = monitor_for(f"{site.base}/feed.xml")
    (outcome,) = monitor.poll()
    assert outcome.new_articles == 6 and outcome.duplicates == 1
    titles = sorted(e.data["title"] for e in events(monitor, "ArticleDiscovered"))
    assert titles == [f"Episode {i}" for i in range(6)]
    assert polled(monitor)[0]["duplicate_entries"] == 1
    (again,) = monitor.poll()
    assert again.new_articles == 0 and again.revised == 0


def test_permalinks_differing_by_fragment_are_each_an_article(site: Site, monitor_for) -> None:
    """As in the RSS 2.0 specification's sample: guids that are permalinks, ``...html#item573``, no link."""
    base = f"{site.base}/2003/06/03.html"
    items = [f"<item><title>Item {n}</title><guid>{base}#item{n}</guid><description>Text {n}.</description>"
             "</item>" for n in range(570, 574)]
    site.route("/feed.xml", rss(items))
    monitor = monitor_for(f"{site.base}/feed.xml")
    (outcome,) = monitor.poll()
    assert outcome.new_articles == 4
    assert sorted(e.data["canonical_url"] for e in events(monitor, "ArticleDiscovered")) == [
        f"{base}#item{n}" for n in range(570, 574)]


def test_an_entry_with_nothing_in_it_is_skipped_and_counted(site: Site, monitor_for) -> None:
    site.route("/feed.xml", rss([item("Real", f"{site.base}/1.html", "g1", 0), "<item></item>",
                                 "<item><pubDate>Mon, 01 Dec 2025 10:00:00 GMT</pubDate></item>"]))
    monitor = monitor_for(f"{site.base}/feed.xml")
    (outcome,) = monitor.poll()
    assert outcome.new_articles == 1 and outcome.entries_skipped == {"empty_entry": 2}
    assert polled(monitor)[0]["entries_skipped"] == {"empty_entry": 2}
    assert "2 entries skipped: empty_entry ×2" in outcome.summary()


def test_a_poll_stopped_between_entries_is_due_again_at_once(site: Site, monitor_for, monkeypatch) -> None:
    site.route("/ok.html", PAGE, content_type="text/html")
    site.route("/feed.xml", rss([item(f"Story {i}", f"{site.base}/ok.html?{i}", f"g{i}", i) for i in range(4)]))
    monitor = monitor_for(f"{site.base}/feed.xml", fetch_full_text=True)
    real_tag = Tagger.tag

    def tag(self: Tagger, *args: Any, **kwargs: Any) -> Any:
        monitor.stopping.set()  # the daemon is told to stop while the first entry is being done
        return real_tag(self, *args, **kwargs)

    monkeypatch.setattr(Tagger, "tag", tag)
    started = dt.datetime.now(dt.UTC)
    (outcome,) = monitor.poll()
    assert outcome.status == "interrupted" and outcome.new_articles == 1
    (payload,) = polled(monitor)
    assert payload["status"] == "interrupted" and payload["schedule"] == "interrupted"
    assert dt.datetime.fromisoformat(payload["next_poll_at"]) <= dt.datetime.now(dt.UTC)
    assert dt.datetime.fromisoformat(payload["next_poll_at"]) >= started - dt.timedelta(seconds=1)
