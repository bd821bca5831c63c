"""The feeds panel in Debian's Chromium (Playwright), against the real server on 127.0.0.1: it fits its column,
each name on one line (a long one cut with "…", whole in its title, never broken), and a long error folded to
one line that opens to the whole message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.events import catalogue as ev
from monitor.views.log import open_log
from monitor.web.app import create_app
from tests.web.test_browser import browser_page  # noqa: F401 (fixture)
from tests.web.test_web import ServerThread

LONG_NAME = "google-news-india-russia-summit-and-a-much-longer-opml-import-name"
LONG_ERROR = ("the server answered 503 Service Unavailable, with a body that goes on about maintenance windows "
              "and retry hints for a long while: " + "more detail " * 20).strip()


@pytest.fixture
def panel_server(write_config: Callable[..., Path]) -> Iterator[ServerThread]:
    feeds = [{"name": "tass", "url": "https://tass.example/rss.xml"},
             {"name": LONG_NAME, "url": "https://news.example/rss?q=india+russia"},
             {"name": "wire", "url": "https://wire.example/feed.atom"}]
    config = load_config(write_config(feeds))
    log = open_log(config)
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    try:
        log.append([ev.feed_polled("tass", "1", at, {"url": feeds[0]["url"], "status": "ok"}),
                    ev.feed_failed(LONG_NAME, "1", at, {"url": feeds[1]["url"], "reason": "http_503",
                                                        "message": LONG_ERROR, "http_status": 503}),
                    ev.feed_failed("wire", "1", at, {"url": feeds[2]["url"], "reason": "timeout",
                                                     "message": "no answer in 20s"})])
        with ServerThread(create_app(config, log=log)) as server:
            yield server
    finally:
        log.close()


def test_the_feeds_panel_fits_its_column(browser_page: Any, panel_server: ServerThread) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    page.goto(panel_server.url + "/")
    panel = page.locator("#feeds")
    expect(panel.locator("tbody tr")).to_have_count(3)
    # The table stays inside its panel: nothing sticks out or needs a scroll bar.
    assert panel.evaluate("p => p.querySelector('table').scrollWidth <= p.clientWidth")
    names = panel.locator(".feed-name")
    heights = [names.nth(i).evaluate("e => e.getBoundingClientRect().height") for i in range(3)]
    assert max(heights) == min(heights)  # the long name takes one line, like the short ones
    long_name = panel.locator(f"tr[data-feed='{LONG_NAME}'] .feed-name")
    expect(long_name).to_have_attribute("title", LONG_NAME)
    assert long_name.evaluate("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).textOverflow === 'ellipsis'")
    assert names.nth(0).evaluate("e => e.scrollWidth <= e.clientWidth")  # a short name is whole
    # The long error: one folded line, as high as a name, until opened; then the whole message.
    error = panel.locator(f"tr[data-feed='{LONG_NAME}'] details.feed-error")
    summary = error.locator("summary")
    assert summary.evaluate("e => e.getBoundingClientRect().height") == heights[0]
    full = error.locator(".error-full")
    expect(full).to_be_hidden()
    summary.click()
    expect(full).to_be_visible()
    expect(full).to_have_text(f"http_503: {LONG_ERROR}")
    assert panel.evaluate("p => p.querySelector('table').scrollWidth <= p.clientWidth")  # opened, it still fits
    expect(panel.locator("tr[data-feed='wire'] .error-full")).to_be_hidden()  # the others stay folded
    expect(panel.locator("tr[data-feed='tass'] details")).to_have_count(0)  # no error, nothing to fold
