"""One poisoned entry fails alone: the feed's other entries arrive, the feed does not back off, and the bad
entry is recorded with its reason. On real local servers (127.0.0.1 only), through the real pipeline."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable, Iterator
from html import escape
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.pipeline import Monitor, PollOutcome
from tests.builders import hourly_rss, rss_document, rss_item
from tests.ingest.test_hostile import events, sites  # noqa: F401 - sites is a fixture
from tests.ingest.test_polling import Site

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def item(guid: str, title: str, link: str, i: int) -> str:
    return rss_item(title, escape(link).replace(chr(1), "&#x1;"), guid, NOW - dt.timedelta(hours=i),
                    f"About {guid}: Modi met Putin.", permalink=False)


def feed(items: list[str]) -> str:
    return rss_document(items, title="Poisoned", link="http://127.0.0.1/")


@pytest.fixture
def poll_with(write_config: Callable[..., Path]) -> Iterator[Callable[..., tuple[dict[str, PollOutcome], Monitor]]]:
    """Poll one feed once, with a good feed beside it that must be polled as usual."""
    good, monitors = Site(), []

    def run(url: str, *, fetch_full_text: bool = False) -> tuple[dict[str, PollOutcome], Monitor]:
        good.route("/good.xml", hourly_rss(good.base, 3, NOW, "good"))
        path = write_config([{"name": "bad", "url": url, "fetch_full_text": fetch_full_text},
                             {"name": "good", "url": f"{good.base}/good.xml", "fetch_full_text": False}])
        monitors.append(Monitor(load_config(path)))
        outcomes = {o.feed: o for o in monitors[-1].poll()}
        assert outcomes["good"].status == "ok", outcomes["good"]
        return outcomes, monitors[-1]

    yield run
    for monitor in monitors:
        monitor.close()
    good.close()


# Links that httpx refuses before any lookup, so no test ever resolves a name or sends a packet for them.
BAD_LINKS = {
    "octal-ip": "http://0177.0.0.1/story.html",
    "too-long": "http://127.0.0.1/" + "a" * 70_000,
    "bad-idna": "http://xn--a.example/story.html",
    "control-in-host": "http://ex\x01ample.org/story.html",  # written as &#x1; (see item)
}


@pytest.mark.parametrize("fetch_full_text", [False, True], ids=["feed-text", "full-text"])
def test_entries_with_links_httpx_refuses_fail_alone(sites, poll_with, fetch_full_text: bool) -> None:  # noqa: F811
    site: Site = sites()
    site.route("/good-1.html", b"<html><body><article><p>" + b"Modi met Putin in Delhi. " * 30 +
               b"</p></article></body></html>", content_type="text/html")
    entries = [item("good-1", "Good one", f"{site.base}/good-1.html", 0)]
    entries += [item(name, f"Bad {name}", link, i + 1) for i, (name, link) in enumerate(BAD_LINKS.items())]
    entries.append(item("good-2", "Good two", f"{site.base}/good-1.html?second", 9))
    site.route("/feed.xml", feed(entries))
    outcomes, monitor = poll_with(f"{site.base}/feed.xml", fetch_full_text=fetch_full_text)
    assert outcomes["bad"].status == "ok", outcomes["bad"]
    titles = {e.data["title"] for e in events(monitor, "ArticleDiscovered") if e.data["feed"] == "bad"}
    assert {"Good one", "Good two"} <= titles
    assert not [e for e in events(monitor, "FeedFailed") if e.data["feed"] == "bad"]
    if fetch_full_text:
        failed = {e.data["url"]: e.data["reason"] for e in events(monitor, "ExtractionFailed")}
        assert sorted(r for u, r in failed.items() if "good" not in u) == ["bad_url"] * len(
            [t for t in titles if t.startswith("Bad ")])


def test_a_lone_surrogate_in_a_title_fails_no_entry(sites, poll_with) -> None:  # noqa: F811
    site: Site = sites()
    entries = [item("a", "Before", f"{site.base}/a.html", 0), item("s", "Odd &#xD800; title", f"{site.base}/s.html", 1),
               item("b", "After", f"{site.base}/b.html", 2)]
    site.route("/feed.xml", feed(entries))
    outcomes, monitor = poll_with(f"{site.base}/feed.xml")
    assert outcomes["bad"].status == "ok", outcomes["bad"]
    titles = [e.data["title"] for e in events(monitor, "ArticleDiscovered") if e.data["feed"] == "bad"]
    assert sorted(titles) == ["After", "Before", "Odd \ufffd title"]


def test_two_thousand_stacked_gzip_encodings_are_a_bad_encoding_not_a_crash(sites, poll_with) -> None:  # noqa: F811
    site: Site = sites()
    body = gzip.compress(feed([item("a", "A", f"{site.base}/a.html", 0)]).encode("utf-8"))
    site.route("/feed.xml", body, **{"Content-Encoding": ", ".join(["gzip"] * 2000)})
    outcomes, monitor = poll_with(f"{site.base}/feed.xml")
    assert (outcomes["bad"].status, outcomes["bad"].reason) == ("failed", "bad_encoding")
    [failed] = [e for e in events(monitor, "FeedFailed") if e.data["feed"] == "bad"]
    assert "2000 content encodings" in failed.data["message"]
