"""The review page in a real browser: Debian's headless Chromium, driven by Playwright, against the real
server (uvicorn on 127.0.0.1) over a log seeded by polling local feeds.

Without /usr/bin/chromium the test is skipped, except on CI (the CI variable set), where it fails: CI
installs Chromium, so a missing browser there is a broken build, not a reason to skip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.test_web import (  # noqa: F401 (fixtures)
    DIPLOMACY,
    HOSTILE_FEED,
    HOSTILE_TITLE,
    live_server,
    seeded,
)

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must install it")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            browser.close()


def test_review_an_item_in_a_real_browser(browser_page: Any, live_server: Any, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    page.goto(live_server.url + "/")
    expect(page.locator("article.item")).to_have_count(5)
    # The hostile feed's name and item title are shown as text: no element, no handler, no dialog.
    hostile = page.locator(f"article.item[data-feed='{HOSTILE_FEED}']")
    expect(hostile.locator("h2.title")).to_have_text(HOSTILE_TITLE)
    expect(page.locator("#feeds .feed-name", has_text="Hostile")).to_have_text(HOSTILE_FEED)
    assert page.locator("script").count() == 0 and page.locator("[onerror]").count() == 0
    assert page.locator("img").count() == 0

    # Filter by feed with the form (no JavaScript: a GET submission).
    page.select_option("#filter-feed", "diplomacy")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"feed=diplomacy"))
    items = page.locator("article.item")
    expect(items).to_have_count(2)
    target = page.locator("article.item", has_text=DIPLOMACY[1][1])
    article_id = target.get_attribute("data-article-id")

    # Expand it: the extracted text appears with the mention sentences marked.
    text = target.locator("details.article-text .text")
    expect(text).to_be_hidden()
    target.locator("details.article-text summary").click()
    expect(text).to_be_visible()
    marks = text.locator("mark.evidence")
    assert marks.count() >= 1
    expect(marks.first).to_be_visible()
    sentences = target.locator("li.sentence").all_inner_texts()
    assert any(" ".join(s.split()) in " ".join(m.split()) for s in sentences for m in marks.all_inner_texts())

    page.screenshot(path=str(tmp_path / "review-page.png"), full_page=True)

    # Mark it reviewed: a POST, then a 303 back to the same filtered page.
    target.locator("button.mark-reviewed").click()
    page.wait_for_url(re.compile(r"feed=diplomacy"))
    expect(page.locator("#notice")).to_contain_text("Marked 1 mention reviewed")
    page.reload()
    expect(page.locator("article.item")).to_have_count(1)
    expect(page.locator(f"article.item[data-article-id='{article_id}']")).to_have_count(0)

    page.goto(live_server.url + "/?status=reviewed")
    reviewed = page.locator(f"article.item[data-article-id='{article_id}']")
    expect(reviewed).to_have_count(1)
    expect(reviewed).to_have_attribute("data-reviewed", "true")
    expect(page.locator("#filter-status")).to_have_value("reviewed")

    shot = tmp_path / "review-page.png"
    assert shot.exists() and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dialogs == []
    assert not [e for e in console_errors if "Content Security Policy" not in e], console_errors
