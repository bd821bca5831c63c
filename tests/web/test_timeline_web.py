"""The timeline on the review page, /api/timeline and /timeline.ics, from the real server on 127.0.0.1; and in
Debian's Chromium (Playwright): the Timeline view, upcoming first, each event folded to its evidence. Also /feed.atom's
validators (304)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from monitor.config import load_config
from monitor.views.log import open_log
from monitor.web.app import create_app
from tests.timelines import append_report, seed_reports
from tests.views.test_timeline import TIANJIN_REWRITES
from tests.web.test_browser import browser_page  # noqa: F401 (fixture)
from tests.web.test_web import ServerThread


@pytest.fixture
def timeline_server(write_config: Callable[..., Path], shared_dir: Path) -> Iterator[ServerThread]:
    config = load_config(write_config([{"name": "herald", "url": "https://herald.example/feed.xml"}]))
    log = open_log(config)
    try:
        for report in [*seed_reports(shared_dir), *TIANJIN_REWRITES]:
            append_report(log, report)
        with ServerThread(create_app(config, log=log)) as server:
            yield server
    finally:
        log.close()


def test_api_timeline_and_its_filters(timeline_server: ServerThread) -> None:
    response = httpx.get(f"{timeline_server.url}/api/timeline", timeout=10)
    assert response.status_code == 200
    events = response.json()["events"]
    assert [(e["start"], e["status"], e["articles"]) for e in events] == [
        ("2025-12-05", "upcoming", 1), ("2025-11-18", "held", 1), ("2025-09-01", "held", 4), ("2025-08-22", "held", 1)]
    upcoming = httpx.get(f"{timeline_server.url}/api/timeline", params={"status": "upcoming"}, timeout=10).json()
    assert [e["start"] for e in upcoming["events"]] == ["2025-12-05"]
    november = httpx.get(f"{timeline_server.url}/api/timeline", params={"from": "2025-11-01", "to": "2025-11-30"},
                         timeout=10).json()
    assert [e["place"] for e in november["events"]] == ["Moscow, Russia"]
    bad = httpx.get(f"{timeline_server.url}/api/timeline", params={"status": "soon"}, timeout=10)
    assert bad.status_code == 400 and "status: unknown value 'soon'" in bad.json()["error"]


def test_timeline_ics_is_a_calendar(timeline_server: ServerThread) -> None:
    response = httpx.get(f"{timeline_server.url}/timeline.ics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    events = list(Calendar.from_ical(response.text).walk("VEVENT"))
    assert sorted(str(e["location"]) for e in events if "location" in e) == [
        "Moscow, Russia", "Moscow, Russia", "Tianjin, China"]
    assert sorted(str(e["status"]) for e in events) == ["CONFIRMED", "CONFIRMED", "CONFIRMED", "TENTATIVE"]


def test_the_timeline_view_in_a_real_browser(browser_page: Any, timeline_server: ServerThread) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    page.goto(timeline_server.url + "/?status=all")
    events = page.locator("#timeline details.tl-event")
    expect(events).to_have_count(4)
    # Upcoming first, then held, newest first.
    assert [events.nth(i).get_attribute("data-status") for i in range(4)] == ["upcoming", "held", "held", "held"]
    tianjin = events.nth(2)
    expect(tianjin.locator(".tl-head")).to_have_text(
        "1 Sep 2025 · bilateral meeting · Narendra Modi, Vladimir Putin · Tianjin, China")
    expect(tianjin.locator(".tl-cov")).to_contain_text("held · 4 articles from courier.example")
    # Folded: the evidence shows only once the event is opened (no script: a <details> element).
    sentences = tianjin.locator("li.tl-sentence")
    expect(sentences.first).to_be_hidden()
    tianjin.locator("summary").click()
    expect(sentences.first).to_be_visible()
    expect(sentences).to_have_count(5)
    expect(tianjin).to_contain_text("today,1 September")
    expect(events.nth(0).locator("li.tl-sentence").first).to_be_hidden()  # the others stay folded
    assert page.locator("script").count() == 0
    # The page's topic filter narrows the timeline too.
    page.goto(timeline_server.url + "/?status=all&topic=nosuch")
    expect(page.locator("#timeline-empty")).to_be_visible()


def test_feed_atom_answers_304_to_its_validators(timeline_server: ServerThread) -> None:
    url = f"{timeline_server.url}/feed.atom"
    first = httpx.get(url, timeout=10)
    assert first.status_code == 200 and first.headers["etag"] and first.headers["last-modified"]
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
    since = httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]}, timeout=10)
    assert since.status_code == 304
    assert httpx.get(url, headers={"If-None-Match": '"other"'}, timeout=10).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 §13.1.3).
    both = httpx.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": first.headers["last-modified"]},
                     timeout=10)
    assert both.status_code == 200
    # Another filter is another feed, with other validators.
    narrowed = httpx.get(url, params={"feed": "courier"}, headers={"If-None-Match": first.headers["etag"]},
                         timeout=10)
    assert narrowed.status_code == 200 and narrowed.headers["etag"] != first.headers["etag"]
