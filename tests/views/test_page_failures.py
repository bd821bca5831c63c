"""A page that fails is visible where users look: ``feeds status`` (table and JSON), the review page's feeds
panel and counts, and the digest header. A real local server on 127.0.0.1, the real pipeline."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.config import load_config
from monitor.digest.build import build_digest
from monitor.digest.render import header
from monitor.pipeline import Monitor
from monitor.views.status import feed_status
from monitor.web import create_app
from tests.builders import cli, rss_document, rss_item
from tests.ingest.test_polling import Site

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PAGE = b"<html><body><article><p>" + b"Rain is expected in the hills this week. " * 20 + b"</p></article></body></html>"


@pytest.fixture
def polled(write_config: Callable[..., Path]) -> tuple[Path, Monitor]:
    site = Site()
    site.route("/ok.html", PAGE, content_type="text/html")
    site.route("/missing.html", b"gone", status=404, content_type="text/html")
    items = [rss_item("Fine", f"{site.base}/ok.html", "a", NOW, "Fine."),
             rss_item("Missing one", f"{site.base}/missing.html?1", "b", NOW, "One."),
             rss_item("Missing two", f"{site.base}/missing.html?2", "c", NOW, "Two.")]
    site.route("/feed.xml", rss_document(items, title="T", link=site.base))
    path = write_config([{"name": "wire", "url": f"{site.base}/feed.xml", "fetch_full_text": True}])
    monitor = Monitor(load_config(path))
    monitor.poll()
    yield path, monitor
    monitor.close()
    site.close()


def test_feeds_status_names_the_failed_pages(polled, capsys, monkeypatch) -> None:
    path, monitor = polled
    (row,) = feed_status(monitor.log.engine, monitor.config)
    assert row["pages_failed"] == {"http_404": 2}
    code, out, _ = cli(capsys, "feeds", "status", "--format", "json", config=path)
    assert code == 0 and json.loads(out)[0]["pages_failed"] == {"http_404": 2}
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: one line a feed
    code, out, _ = cli(capsys, "feeds", "status", config=path)
    (line,) = [line for line in out.splitlines() if line.startswith("wire")]
    assert code == 0 and "2 (http_404 ×2)" in line


def test_the_digest_header_counts_failed_pages(polled) -> None:
    _, monitor = polled
    digest = build_digest(monitor.log.engine, since=NOW - dt.timedelta(days=30))
    assert digest.counts["pages_failed"] == 2
    assert "2 pages failed" in header(digest)


def test_the_review_page_shows_failed_pages(polled) -> None:
    _, monitor = polled
    with TestClient(create_app(monitor.config, log=monitor.log), base_url="http://127.0.0.1:8080") as client:
        page = client.get("/").text
    assert "2 pages failed" in page
    assert '<td class="pages-failed">2<br><span class="reason">http_404 ×2</span></td>' in page
