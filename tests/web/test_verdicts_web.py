"""The review page's Reject and Accept buttons (``POST /judge``): the same token and same-origin rules as "mark
reviewed", feed text and notes escaped, and in a real browser (Chromium via Playwright, against uvicorn on
127.0.0.1) a click on Reject takes the item off the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from monitor.web.app import create_app
from tests.web.test_browser import browser_page  # noqa: F401 (fixture)
from tests.web.test_web import (  # noqa: F401 (fixtures)
    DIPLOMACY,
    QUAKE,
    TOPIC,
    XSS,
    Seeded,
    api,
    client,
    live_server,
    page,
    seeded,
    shown,
    with_web,
)


def verdicts(seeded: Seeded) -> list[Any]:  # noqa: F811
    log = seeded.open_log()
    try:
        return list(log.read(types=["MentionJudged"]))
    finally:
        log.close()


def ref(item: dict[str, Any]) -> str:
    return f"{item['article_id']}|{item['topic']}|{item['position']}"


def test_reject_takes_an_item_off_the_page_and_accept_marks_it(client: TestClient, seeded: Seeded) -> None:  # noqa: F811
    hostile = api(client, topic=TOPIC)[0]
    doc = page(client.get("/"))
    assert doc.xpath("//form[@class='verdict']//button[@value='reject']")

    accepted = client.post("/judge", params={"topic": TOPIC}, data={"item": ref(hostile), "verdict": "accept",
                                                                    "note": f"real {XSS}"}, follow_redirects=False)
    assert accepted.status_code == 303
    assert parse_qs(urlsplit(accepted.headers["location"]).query) == {
        "topic": [TOPIC], "status": ["unreviewed"], "judged": ["accepted"]}
    shown_page = client.get(accepted.headers["location"])
    assert "Recorded: the mention was accepted." in shown_page.text
    assert XSS not in shown_page.text  # the note (like the title) is shown as text, never as markup
    item = f"//article[@data-article-id='{hostile['article_id']}']"
    badge = page(shown_page).xpath(f"{item}//span[@class='badge verdict']")
    assert badge[0].text_content() == f"accepted: real {XSS}"

    again = client.post("/judge", data={"item": ref(hostile), "verdict": "accept"}, follow_redirects=False)
    assert parse_qs(urlsplit(again.headers["location"]).query)["judged"] == ["unchanged"]
    assert [e.data["verdict"] for e in verdicts(seeded)] == ["accept"]

    rejected = client.post("/judge", data={"item": ref(hostile), "verdict": "reject"}, follow_redirects=False)
    assert rejected.status_code == 303
    assert hostile["article_id"] not in {i["data-article-id"] for i in shown(client.get("/?status=all"))}
    assert hostile["article_id"] not in {i["article_id"] for i in api(client, status="all")}
    assert [e.data["verdict"] for e in verdicts(seeded)] == ["accept", "reject"]
    assert verdicts(seeded)[1].data["source"] == "web" and verdicts(seeded)[1].data["decision"] == "mention"


def test_a_bad_verdict_or_an_unknown_item_is_a_400_and_records_nothing(client: TestClient, seeded: Seeded) -> None:  # noqa: F811
    (item,) = api(client, topic=QUAKE)
    assert client.post("/judge", data={"item": ref(item), "verdict": "maybe"}).status_code == 400
    assert client.post("/judge", data={"verdict": "reject"}).status_code == 400
    unknown = f"{item['article_id']}|{item['topic']}|{item['position'] + 10_000}"
    assert client.post("/judge", data={"item": unknown, "verdict": "reject"}).status_code == 400
    assert verdicts(seeded) == []


@pytest.fixture
def guarded(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:  # noqa: F811
    monkeypatch.setenv("NM_TEST_WEB_TOKEN", "s3cret-token")
    log = seeded.open_log()
    try:
        app = create_app(with_web(seeded.config, token_env="NM_TEST_WEB_TOKEN"), log=log)
        with TestClient(app, base_url="http://127.0.0.1:8080") as test_client:
            yield test_client
    finally:
        log.close()


def test_a_verdict_needs_the_token_and_the_same_origin(guarded: TestClient, seeded: Seeded) -> None:  # noqa: F811
    (item,) = api(guarded, topic=QUAKE)
    assert page(guarded.get("/")).xpath("//form[@class='verdict']") == []  # no buttons without the token
    form = {"item": ref(item), "verdict": "reject"}
    assert guarded.post("/judge", data=form, follow_redirects=False).status_code == 401
    bearer = {"Authorization": "Bearer s3cret-token"}
    assert guarded.post("/judge", data=form, headers={**bearer, "Origin": "http://evil.example"},
                        follow_redirects=False).status_code == 403
    assert verdicts(seeded) == []
    assert guarded.post("/judge", data=form, headers=bearer, follow_redirects=False).status_code == 303
    assert [e.data["verdict"] for e in verdicts(seeded)] == ["reject"]


def test_reject_an_item_in_a_real_browser(browser_page: Any, live_server: Any, seeded: Seeded) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page_ = browser_page
    page_.goto(live_server.url + "/?feed=diplomacy")
    expect(page_.locator("article.item")).to_have_count(2)
    target = page_.locator("article.item", has_text=DIPLOMACY[1][1])
    article_id = target.get_attribute("data-article-id")
    target.locator("form.verdict input[name=note]").fill("a preview, no meeting")
    target.locator("form.verdict button.reject").click()
    page_.wait_for_url(re.compile(r"judged=rejected"))
    assert "feed=diplomacy" in page_.url
    expect(page_.locator("#judged-notice")).to_contain_text("the mention was rejected")
    expect(page_.locator("article.item")).to_have_count(1)
    expect(page_.locator(f"article.item[data-article-id='{article_id}']")).to_have_count(0)
    page_.goto(live_server.url + "/?status=all")
    expect(page_.locator(f"article.item[data-article-id='{article_id}']")).to_have_count(0)
    [judged] = verdicts(seeded)
    assert judged.data["article_id"] == article_id and judged.data["note"] == "a preview, no meeting"
