"""Extraction under a deadline and a memory cap: a page that exceeds them costs only itself (#14 item 1).

trafilatura has no time limit (its #704): 25,000 repeated ``<div><p>…</p></div>`` blocks keep it busy for
minutes. Through the real pipeline, on real local servers (127.0.0.1 only): such a page is ``timeout``, its
entry keeps the feed's text, a good feed beside it is polled, and its worker is replaced; no worker outlives
the pool. Deadlines in these tests are generous: they only tell "bounded" from "minutes".
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tomlkit

from monitor.config import ExtractSettings, load_config
from monitor.ingest.extract import MIN_PAGE_LETTERS, Extraction, ExtractorPool, PageFailure, extract_page
from monitor.pipeline import Monitor
from tests.ingest.test_hostile import events, rss
from tests.ingest.test_polling import Site

PARAGRAPH = ("Prime Minister Modi and President Putin met in New Delhi for the annual summit on Friday. The two "
             "leaders signed agreements on energy, defence and trade, and agreed to meet again next year.")


def article_page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><title>{title}</title></head><body><nav>Home | World</nav>"
            f"<article><h1>{title}</h1>{body}</article><footer>(c) Example</footer></body></html>")


def pathological_page(blocks: int = 25_000) -> bytes:
    """The page of the issue: flat repeated blocks, about 825 KB at 25,000, far under any body-size limit."""
    return ("<html><head><title>Blocks</title></head><body>"
            + "<div><p>Lorem ipsum dolo.</p></div>" * blocks + "</body></html>").encode()


def workers_alive() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == "news-monitor-extract"]


@pytest.fixture
def pool() -> Iterator[ExtractorPool]:
    with ExtractorPool(ExtractSettings(timeout=1.0, workers=1)) as made:
        yield made
    assert not workers_alive()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


def with_extract(path: Path, **settings: str | int) -> Path:
    """The written config with these ``[extract]`` settings."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    table = document.setdefault("extract", tomlkit.table())
    for key, value in settings.items():
        table[key] = value
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return path


def test_a_normal_page_is_extracted_in_a_worker(pool: ExtractorPool) -> None:
    html = article_page("Summit", [PARAGRAPH, PARAGRAPH.replace("Friday", "Saturday")]).encode()
    result = pool.extract(html, "http://127.0.0.1/a.html", "text/html")
    assert isinstance(result, Extraction) and result.text_source == "page"
    assert "annual summit" in result.text and result.title == "Summit"
    assert result == extract_page(html, "http://127.0.0.1/a.html", "text/html")  # the same as in this process
    assert len(pool.processes()) == 1 and all(p.pid != os.getpid() for p in workers_alive())


def test_a_page_past_the_deadline_is_timeout_and_its_worker_is_replaced(pool: ExtractorPool) -> None:
    started = time.monotonic()
    result = pool.extract(pathological_page(), "http://127.0.0.1/blocks.html", "text/html")
    assert time.monotonic() - started < 30  # unbounded, this page takes minutes
    assert isinstance(result, PageFailure) and (result.reason, result.stage) == ("timeout", "extract")
    assert "1s" in result.message
    [before] = pool.processes()
    # The next page gets a fresh worker, and the one that timed out is gone.
    html = article_page("Next", [PARAGRAPH]).encode()
    assert isinstance(pool.extract(html, "http://127.0.0.1/next.html", "text/html"), Extraction)
    assert pool.processes() == [before] and len(workers_alive()) == 1


def test_a_page_past_the_memory_cap_is_too_large() -> None:
    # 400,000 blocks (14 MB) parse into a tree of some 200 MB, past what a worker capped at 200 MiB has left
    # after its imports; the deadline is left long so that the cap, not the clock, stops it.
    with ExtractorPool(ExtractSettings(timeout=120.0, max_memory=200 * 1024**2, workers=1)) as small:
        result = small.extract(pathological_page(400_000), "http://127.0.0.1/huge.html", "text/html")
        assert isinstance(result, PageFailure) and (result.reason, result.stage) == ("too_large", "extract")
        html = article_page("After", [PARAGRAPH]).encode()
        assert isinstance(small.extract(html, "http://127.0.0.1/after.html", "text/html"), Extraction)
    assert not workers_alive()


def test_the_minimum_text_counts_letters_in_any_script(pool: ExtractorPool) -> None:
    # About 120 characters of Chinese: two sentences, no spaces, so one "word" to str.split.
    chinese = ("莫迪总理与普京总统在新德里举行年度峰会，双方签署了多项合作协议，涉及能源、国防、贸易和太空领域。"
               "两国领导人同意进一步加强特殊和特惠战略伙伴关系，并讨论了地区和国际问题，决定明年在莫斯科再次会晤。")
    assert sum(ch.isalnum() for ch in chinese) >= MIN_PAGE_LETTERS and len(chinese.split()) == 1
    result = pool.extract(article_page("峰会", [chinese]).encode(), "http://127.0.0.1/zh.html", "text/html")
    assert isinstance(result, Extraction) and "普京" in result.text
    teaser = pool.extract(article_page("Teaser", ["Subscribe to read."]).encode(), "http://127.0.0.1/t.html",
                          "text/html")
    assert isinstance(teaser, PageFailure) and teaser.reason == "no_text"


def test_the_pool_closed_answers_without_a_worker() -> None:
    closed = ExtractorPool(ExtractSettings(workers=1))
    closed.close()
    result = closed.extract(article_page("x", [PARAGRAPH]).encode(), "http://127.0.0.1/x.html", "text/html")
    assert isinstance(result, PageFailure) and result.reason == "extractor_error" and not workers_alive()


def test_a_stalling_page_costs_only_its_entry_and_a_good_feed_is_polled(
        site: Site, write_config: Callable[..., Path]) -> None:
    """The issue's scene: one worker polls feeds one at a time, and the first feed links the stalling page."""
    site.route("/slow.xml", rss(site.base, [("blocks", "Blocks everywhere"), ("fine", "A fine story")]))
    site.route("/blocks.html", pathological_page(), content_type="text/html")
    site.route("/fine.html", article_page("A fine story", [PARAGRAPH]), content_type="text/html")
    site.route("/good.xml", rss(site.base, [("good", "Good news")], title="Good"))
    site.route("/good.html", article_page("Good news", [PARAGRAPH.replace("Friday", "Monday")]),
               content_type="text/html")
    path = with_extract(write_config([{"name": "slow", "url": f"{site.base}/slow.xml"},
                                      {"name": "good", "url": f"{site.base}/good.xml"}],
                                     scheduler={"max_workers": 1}), timeout="1s", workers=1)
    monitor = Monitor(load_config(path))
    try:
        started = time.monotonic()
        outcomes = {o.feed: o for o in monitor.poll()}
        assert time.monotonic() - started < 60  # unbounded, the first feed alone takes minutes
        assert outcomes["slow"].status == outcomes["good"].status == "ok"
        assert (outcomes["slow"].new_articles, outcomes["good"].new_articles) == (2, 1)
        urls = {e.data["article_id"]: e.data["url"] for e in events(monitor, "ArticleDiscovered")}
        failed = {urls[e.data["article_id"]]: e.data for e in events(monitor, "ExtractionFailed")}
        extracted = {urls[e.data["article_id"]]: e.data for e in events(monitor, "ArticleExtracted")}
        assert list(failed) == [f"{site.base}/blocks.html"]
        blocked = failed[f"{site.base}/blocks.html"]
        assert (blocked["reason"], blocked["stage"], blocked["fallback"]) == ("timeout", "extract", "feed_summary")
        assert extracted[f"{site.base}/blocks.html"]["text"] == "About Blocks everywhere."
        assert extracted[f"{site.base}/fine.html"]["text_source"] == "page"  # the replaced worker works
        assert extracted[f"{site.base}/good.html"]["text_source"] == "page"
        assert {e.data["feed"] for e in events(monitor, "FeedPolled")} == {"slow", "good"}
        assert workers_alive()
    finally:
        monitor.close()
    assert not workers_alive()  # closing the Monitor stops its workers


def test_a_cap_too_small_to_start_in_fails_the_page_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    with ExtractorPool(ExtractSettings(max_memory=40 * 1024**2, workers=1)) as tiny:
        result = tiny.extract(article_page("x", [PARAGRAPH]).encode(), "http://127.0.0.1/x.html", "text/html")
    assert isinstance(result, PageFailure) and result.reason == "extractor_error" and "did not start" in result.message
    assert "max_memory (40 MiB)" in caplog.text and not workers_alive()


def test_the_pages_metadata_is_read_only_when_the_feed_lacks_a_title_or_date() -> None:
    """The feed's title and date are what the daemon keeps: the page's are looked for only without them."""
    from monitor.ingest.extract import extract_entry
    from monitor.ingest.fetch import FetchResult
    from monitor.ingest.parse import FeedEntry

    html = article_page("Summit talks", [PARAGRAPH]).encode()
    assert extract_page(html, "http://127.0.0.1/a.html", "text/html", False).title == ""
    assert extract_page(html, "http://127.0.0.1/a.html", "text/html").title.startswith("Summit talks")
    asked: list[bool] = []

    def extract(content: bytes, url: str, content_type: str, metadata: bool) -> Extraction | PageFailure:
        asked.append(metadata)
        return extract_page(content, url, content_type, metadata)

    def fetch(url: str) -> FetchResult:
        return FetchResult(url, 200, {"content-type": "text/html"}, html, 0.0)

    dated = dt.datetime(2025, 12, 5, tzinfo=dt.UTC)
    for title, published in (("Summit talks", dated), ("", dated), ("Summit talks", None)):
        entry = FeedEntry("id", "http://127.0.0.1/a.html", "http://127.0.0.1/a.html", title, published, "", "")
        extraction, failure = extract_entry(entry, fetch, extract)
        assert failure is None and extraction is not None and extraction.text_source == "page"
    assert asked == [False, True, True]
