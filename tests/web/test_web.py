"""The review page (``news-monitor serve``) over a real log, seeded by polling feeds served from 127.0.0.1.

SQLite always, PostgreSQL when NEWS_MONITOR_TEST_DATABASE_URL is set. One test runs the real server
(uvicorn in a thread) and talks to it over a socket.
"""

from __future__ import annotations

import html
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx
import lxml.html
import pytest
import tomlkit
import uvicorn
from fastapi.testclient import TestClient
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli import main
from monitor.config import Config, load_config
from monitor.digest.build import build_digest
from monitor.digest.render import ATOM_TITLE, render_as
from monitor.events import catalogue as ev
from monitor.pipeline import Monitor
from monitor.views.log import open_log
from monitor.web import create_app
from storage.engine import make_engine
from storage.eventlog import EventLog, utcnow
from tests.builders import atom, rss

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "monitor" / "demo" / "data" / "articles"
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
HOSTILE_FEED = f"Hostile {XSS}"
HOSTILE_TITLE = f"Modi and Putin open the annual India-Russia summit {XSS}"
TOPIC = "india-russia-summit"
QUAKE = "alaska-quake"
STATIC_BASE = "{{BASE}}"  # the static server (monitor.demo.server) writes its address here

# (slug, title, published): our demo's sample pages, and one hostile page written here.
WORLD = [
    ("modi-putin-bilateral-talks-sco-tianjin", "Modi and Putin hold bilateral talks on sidelines of SCO summit "
     "in Tianjin", "2025-09-01T10:30:00Z"),
    ("medvedev-indian-wells-exhibition", "Medvedev sharp in Indian Wells exhibition", "2025-12-07T05:40:00Z"),
    ("alaska-earthquake-kodiak-tsunami-warning", "Strong earthquake shakes southern Alaska; tsunami warning lifted",
     "2025-10-22T17:20:00Z"),
]
DIPLOMACY = [
    ("putin-state-visit-new-delhi-23rd-annual-summit-preview",
     "Preview: Putin heads to New Delhi for the 23rd annual India–Russia summit", "2025-12-02T08:00:00Z"),
    ("jaishankar-lavrov-moscow-talks-annual-summit",
     "Jaishankar and Lavrov hold talks in Moscow to prepare annual India–Russia summit", "2025-11-17T15:00:00Z"),
    ("modi-xi-talks-sco-summit-tianjin", "Modi and Xi agree to steady India–China ties at SCO summit",
     "2025-08-31T13:00:00Z"),
]
HOSTILE = [("hostile-summit", HOSTILE_TITLE, "2025-12-05T07:00:00Z")]
HOSTILE_TEXT = ("Prime Minister Narendra Modi and President Vladimir Putin held talks in New Delhi on Friday at the "
                "annual India-Russia summit. A reader wrote <script>alert(2)</script> in the comments. "
                "The two leaders signed agreements on trade, energy and defence.")


def hostile_page() -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(HOSTILE_TITLE)}</title></head>"
            f"<body><article><h1>{html.escape(HOSTILE_TITLE)}</h1>"
            + "".join(f"<p>{html.escape(s.strip() + '.')}</p>" for s in HOSTILE_TEXT.split(". ") if s.strip())
            + "<p>Officials said further meetings between the delegations would follow in the coming months, "
              "and that the summit declaration would be published on the foreign ministry's website.</p>"
            + "</article></body></html>")


def as_text(value: str) -> str:
    """A feed's title as text: feeds carry titles as HTML, so literal ``<`` is escaped for HTML, then for XML."""
    return html.escape(html.escape(value))


def static_rss(title: str, items: list[tuple[str, str, str]]) -> str:
    """A feed for the static server: titles as text, links to its pages, guids the bare slugs."""
    return rss(STATIC_BASE, items, title=as_text(title), escape=as_text, query="", guid_prefix="", summary_end="")


@dataclass
class Seeded:
    config: Config
    config_path: Path
    base: str  # the feed server's address

    def open_log(self) -> EventLog:
        return open_log(self.config)


def add_quake_topic(path: Path) -> None:
    """A second topic, so that the topic filter has something to tell apart."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    topic = tomlkit.table()
    topic.update({"id": QUAKE, "title": "Alaska earthquakes", "rule": {"all": ["quake", "alaska"]},
                  "keywords": {"quake": ["earthquake", "tsunami"], "alaska": ["Alaska", "Kodiak"]},
                  "similarity_weight": 0.0})
    document["topics"].append(topic)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


@pytest.fixture
def seeded(tmp_path: Path, write_config: Callable[..., Path]) -> Iterator[Seeded]:
    """A log holding one poll of four feeds from a local server: three that answer, one that 404s."""
    from monitor.demo.server import StaticServer

    root = tmp_path / "site"
    (root / "articles").mkdir(parents=True)
    (root / "feeds").mkdir()
    for slug, _, _ in WORLD + DIPLOMACY:
        shutil.copy(DEMO / f"{slug}.html", root / "articles" / f"{slug}.html")
    (root / "articles" / "hostile-summit.html").write_text(hostile_page(), encoding="utf-8")
    (root / "feeds" / "world.rss").write_text(static_rss("Test World", WORLD), encoding="utf-8")
    (root / "feeds" / "diplomacy.atom").write_text(
        atom(STATIC_BASE, DIPLOMACY, title=as_text("Test Diplomacy"), escape=as_text, summary_end="",
             feed_id=f"tag:test,2025:{abs(hash('Test Diplomacy'))}"), encoding="utf-8")
    (root / "feeds" / "hostile.rss").write_text(static_rss(HOSTILE_FEED, HOSTILE), encoding="utf-8")
    with StaticServer(root) as server:
        path = write_config([
            {"name": "world", "url": f"{server.base_url}/feeds/world.rss"},
            {"name": "diplomacy", "url": f"{server.base_url}/feeds/diplomacy.atom"},
            {"name": HOSTILE_FEED, "url": f"{server.base_url}/feeds/hostile.rss"},
            {"name": "missing", "url": f"{server.base_url}/feeds/missing.xml"},
        ])
        add_quake_topic(path)
        config = load_config(path)
        with Monitor(config) as monitor:
            outcomes = {o.feed: o for o in monitor.poll()}
        assert outcomes["missing"].reason == "http_404"
        yield Seeded(config, path, server.base_url)


def with_web(config: Config, **web: Any) -> Config:
    return config.model_copy(update={"web": config.web.model_copy(update=web)})


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    log = seeded.open_log()
    try:
        with TestClient(create_app(seeded.config, log=log), base_url="http://127.0.0.1:8080") as test_client:
            yield test_client
    finally:
        log.close()


def page(response: httpx.Response) -> Any:
    return lxml.html.fromstring(response.text)


def shown(response: httpx.Response) -> list[dict[str, str]]:
    """The items on a page, as their data attributes plus their title text."""
    return [{**item.attrib, "title": item.find_class("title")[0].text_content()}
            for item in page(response).find_class("item")]


def keys(items: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(i["data-article-id"], i["data-topic"]) for i in items}


def api(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/mentions", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def reviews(seeded: Seeded) -> list[Any]:
    log = seeded.open_log()
    try:
        return list(log.read(types=["DigestReviewed"]))
    finally:
        log.close()


# -- the page --------------------------------------------------------------------------------------------

def test_page_lists_unreviewed_mentions_and_filters_narrow_them(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    items = shown(response)
    titles = {i["title"] for i in items}
    expected = {WORLD[0][1], DIPLOMACY[0][1], DIPLOMACY[1][1], HOSTILE_TITLE, WORLD[2][1]}
    assert titles == expected  # the near miss and the unrelated news are not shown
    assert all(i["data-reviewed"] == "false" for i in items)
    by_title = {i["title"]: i for i in items}
    assert by_title[WORLD[2][1]]["data-topic"] == QUAKE
    assert by_title[HOSTILE_TITLE]["data-feed"] == HOSTILE_FEED
    # Newest publication first, in the same order as the API (and the digests, which build the same list).
    listed = api(client)
    assert [i["article_id"] for i in listed] == [i["data-article-id"] for i in items]
    published = [i["published_at"] or i["tagged_at"] for i in listed]
    assert published == sorted(published, reverse=True)
    assert page(response).get_element_by_id("count-unreviewed").text_content() == "5"

    assert {i["title"] for i in shown(client.get("/", params={"topic": QUAKE}))} == {WORLD[2][1]}
    assert {i["title"] for i in shown(client.get("/", params={"topic": TOPIC}))} == expected - {WORLD[2][1]}
    assert {i["title"] for i in shown(client.get("/", params={"feed": "diplomacy"}))} == {
        DIPLOMACY[0][1], DIPLOMACY[1][1]}
    assert {i["title"] for i in shown(client.get("/", params={"feed": HOSTILE_FEED}))} == {HOSTILE_TITLE}
    # Publication dates, inclusive: 17 November and 2 December are in, 5 December is not.
    in_range = shown(client.get("/", params={"from": "2025-11-17", "to": "2025-12-02"}))
    assert {i["title"] for i in in_range} == {DIPLOMACY[0][1], DIPLOMACY[1][1]}
    assert shown(client.get("/", params={"from": "2025-12-06"})) == []
    # Score: the threshold at the middle score keeps exactly the items scoring at least that much.
    scored = api(client)
    scores = sorted(item["score"] for item in scored)
    middle = scores[len(scores) // 2]
    high = shown(client.get("/", params={"min_score": str(middle)}))
    assert keys(high) == {(i["article_id"], i["topic"]) for i in scored if i["score"] >= middle}
    assert 0 < len(high) < len(scored)
    combined = shown(client.get("/", params={"topic": TOPIC, "feed": "world", "status": "unreviewed"}))
    assert [i["title"] for i in combined] == [WORLD[0][1]]
    nothing = client.get("/", params={"status": "reviewed"})
    assert shown(nothing) == [] and "No mentions" in page(nothing).get_element_by_id("empty").text_content()
    # The filter form keeps what was chosen.
    form = page(client.get("/", params={"feed": "diplomacy", "from": "2025-11-01"}))
    assert form.get_element_by_id("filter-feed").value == "diplomacy"
    assert form.get_element_by_id("filter-from").value == "2025-11-01"


def test_items_show_sentences_dates_similarity_and_marked_text(client: TestClient) -> None:
    doc = page(client.get("/", params={"feed": "world", "topic": TOPIC}))
    (item,) = doc.find_class("item")
    link = item.find_class("title")[0].find("a")
    assert urlsplit(link.get("href")).path == f"/articles/{WORLD[0][0]}.html"
    assert link.get("rel") == "noopener noreferrer"
    (data,) = api(client, feed="world", topic=TOPIC, text="1")
    # The best three show (those that count first), the rest fold; a sentence that does not count says so.
    shown = [li for li in item.xpath("./ul[@class='sentences']/li")]
    folded = item.xpath(".//details[@class='more-evidence']//li")
    assert len(shown) == min(3, len(data["sentences"])) and len(shown) + len(folded) == len(data["sentences"])
    labels = {e["text"]: "history" if e.get("history") else "context" if e.get("context") else None
              for e in data["evidence"]}
    texts = []
    for li in shown + folded:
        label = labels[li.xpath("string(.)").split("does not count: ", 1)[-1]]
        assert bool(li.find_class("does-not-count")) == bool(label)
        texts.append((label is not None, li.xpath("string(.)").split("does not count: ", 1)[-1]))
    assert sorted(t for _, t in texts) == sorted(data["sentences"])
    assert [counts for counts, _ in texts] == sorted(counts for counts, _ in texts)  # counting ones first
    assert item.find_class("rule")[0].text_content() == f"Rule that fired: {data['rule']}"
    terms = [m.text_content().lower() for m in item.xpath(".//li[contains(@class, 'sentence')]/mark[@class='term']")]
    assert terms and set(terms) <= {t.lower() for t in data["terms"]}
    assert data["dates"]  # the Tianjin article names its dates
    shown_dates = item.find_class("dates")[0].text_content()
    assert all(f"{d['text']} → {d['date']}" in shown_dates for d in data["dates"])
    for reference, value in data["similarity"].items():
        assert f"{reference} {value:.2f}" in item.find_class("similarity")[0].text_content()
    details = item.xpath(".//details[@class='article-text']")[0]
    assert details.xpath("./summary")
    text = details.find_class("text")[0]
    assert text.text_content() == data["text"]  # the whole extracted text, unchanged
    marked = [m.text_content() for m in text.xpath(".//mark[@class='evidence']")]
    body_sentences = [e["text"] for e in data["evidence"] if e["field"] == "text"]
    assert body_sentences and all(any(s in m for m in marked) for s in body_sentences)
    assert f"published {data['published_at'][:10]}" in item.find_class("published")[0].text_content()


def test_everything_from_a_feed_is_escaped(client: TestClient) -> None:
    response = client.get("/")
    doc = page(response)
    assert doc.xpath("//script") == []
    assert doc.xpath("//img") == []
    assert doc.xpath("//*[@onerror]") == []
    hostile = [i for i in doc.find_class("item") if i.get("data-feed") == HOSTILE_FEED]
    assert hostile[0].find_class("title")[0].text_content() == HOSTILE_TITLE
    assert f"feed: {HOSTILE_FEED}" in hostile[0].text_content()
    assert "<script>alert(2)</script>" in hostile[0].find_class("text")[0].text_content()
    rows = doc.xpath("//*[@id='feeds']//tbody/tr")
    assert HOSTILE_FEED in [row.find_class("feed-name")[0].text_content() for row in rows]
    assert HOSTILE_FEED in [o.get("value") for o in doc.xpath("//*[@id='filter-feed']/option")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    headers = response.headers
    assert headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'")
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "same-origin"


def test_feeds_panel_shows_health(client: TestClient) -> None:
    rows = {row.get("data-feed"): row for row in page(client.get("/")).xpath("//*[@id='feeds']//tbody/tr")}
    assert set(rows) == {"world", "diplomacy", HOSTILE_FEED, "missing"}
    assert rows["world"].get("data-status") == "ok"
    assert rows["missing"].get("data-status") == "failing"
    assert rows["missing"].find_class("reason")[0].text_content() == "http_404"
    assert rows["missing"].find_class("failures")[0].text_content() == "1"
    assert rows["world"].find_class("feed-error") == []  # no error, nothing to fold
    assert rows["missing"].find_class("feed-error")[0].tag == "details"
    for name in ("world", "missing"):
        times = rows[name].xpath(".//time")
        assert times[-1].get("datetime")  # next poll is known
    assert rows["world"].xpath(".//time")[0].get("datetime")  # last success


def test_bad_filters_are_a_400_with_one_line(client: TestClient) -> None:
    for params, words in (({"from": "yesterday"}, "from: not a date"), ({"min_score": "high"}, "min_score"),
                          ({"min_score": "1.5"}, "between 0 and 1"), ({"status": "done"}, "status"),
                          ({"from": "2025-12-02", "to": "2025-12-01"}, "before it starts"),
                          ({"min_score": "nan"}, "min_score")):
        response = client.get("/", params=params)
        assert response.status_code == 400, params
        message = page(response).get_element_by_id("error-message").text_content()
        assert words in message and "\n" not in message and "Traceback" not in response.text
        assert client.get("/api/mentions", params=params).status_code == 400


# -- reviewing --------------------------------------------------------------------------------------------

def test_mark_one_reviewed_appends_once_and_it_leaves_the_unreviewed_list(client: TestClient, seeded: Seeded) -> None:
    item = next(i for i in shown(client.get("/")) if i["title"] == DIPLOMACY[1][1])
    ref = f"{item['data-article-id']}|{item['data-topic']}|{item['data-position']}"
    query = {"feed": "diplomacy", "status": "unreviewed"}
    response = client.post("/review", params=query, data={"item": ref}, follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/" and "feed=diplomacy" in location.query and "status=unreviewed" in location.query
    (event,) = reviews(seeded)
    assert [(m["article_id"], m["topic"], m["position"]) for m in event.data["mentions"]] == [
        (item["data-article-id"], item["data-topic"], int(item["data-position"]))]
    assert event.data["source"] == "web"
    again = client.post("/review", params=query, data={"item": ref}, follow_redirects=False)
    assert again.status_code == 303 and len(reviews(seeded)) == 1  # the same review is not recorded twice

    after = client.get(response.headers["location"])
    assert DIPLOMACY[1][1] not in {i["title"] for i in shown(after)}
    assert "Marked 1 mention reviewed" in page(after).get_element_by_id("notice").text_content()
    reviewed = shown(client.get("/", params={"status": "reviewed"}))
    assert [(i["title"], i["data-reviewed"]) for i in reviewed] == [(DIPLOMACY[1][1], "true")]
    everything = shown(client.get("/", params={"status": "all"}))
    assert everything[-1]["title"] == DIPLOMACY[1][1]  # unreviewed first
    assert page(client.get("/")).get_element_by_id("count-unreviewed").text_content() == "4"

    # Unknown or malformed items are refused and record nothing.
    for bad in ("nope|india-russia-summit|1", "no-pipes", f"{item['data-article-id']}|{TOPIC}|x"):
        assert client.post("/review", data={"item": bad}, follow_redirects=False).status_code == 400
    assert len(reviews(seeded)) == 1


def test_mark_all_shown_reviewed(client: TestClient, seeded: Seeded) -> None:
    doc = page(client.get("/", params={"topic": TOPIC}))
    hidden = [i.get("value") for i in doc.xpath("//*[@id='review-all']//input[@name='item']")]
    assert len(hidden) == 4
    response = client.post("/review", params={"topic": TOPIC}, data={"item": hidden}, follow_redirects=False)
    assert response.status_code == 303
    (event,) = reviews(seeded)
    assert sorted(f"{m['article_id']}|{m['topic']}|{m['position']}" for m in event.data["mentions"]) == sorted(hidden)
    assert shown(client.get("/", params={"topic": TOPIC})) == []
    empty = page(client.get("/", params={"topic": TOPIC}))
    assert "No unreviewed mentions" in empty.get_element_by_id("empty").text_content()
    assert [i["data-topic"] for i in shown(client.get("/"))] == [QUAKE]


def test_a_cli_review_shows_on_the_page_as_a_web_review_would(seeded: Seeded, client: TestClient,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # The web reviews everything shown; the CLI reviews everything so far: both leave nothing unreviewed,
    # and every mention shows as reviewed on the page, in the API and in the CLI's digest.
    capsys.readouterr()
    assert main(["--config", str(seeded.config_path), "review"]) == 0
    capsys.readouterr()
    assert shown(client.get("/")) == []
    via_cli = {(i["article_id"], i["topic"], i["reviewed"]) for i in api(client, status="all")}
    assert {r for *_, r in via_cli} == {True} and len(via_cli) == 5
    assert main(["--config", str(seeded.config_path), "digest", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    (cli_event,) = reviews(seeded)
    assert cli_event.data["source"] == "cli" and cli_event.data.get("up_to_position")


def test_a_web_review_shows_in_the_cli_digest(seeded: Seeded, client: TestClient,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    hidden = [i.get("value") for i in page(client.get("/")).xpath("//*[@id='review-all']//input[@name='item']")]
    assert client.post("/review", data={"item": hidden}, follow_redirects=False).status_code == 303
    capsys.readouterr()
    assert main(["--config", str(seeded.config_path), "digest", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []  # the CLI sees the web's review
    assert {i["reviewed"] for i in api(client, status="all")} == {True}
    # And reviewing in the CLI afterwards changes nothing anyone sees.
    before = api(client, status="all")
    assert main(["--config", str(seeded.config_path), "review"]) == 0
    assert api(client, status="all") == before


def test_the_json_api_reviews_too(client: TestClient, seeded: Seeded) -> None:
    (item,) = api(client, topic=QUAKE)
    body = {"items": [{"article_id": item["article_id"], "topic": item["topic"], "position": item["position"]}]}
    response = client.post("/api/review", json=body)
    assert response.status_code == 200 and response.json() == {"recorded": True, "items": 1}
    assert client.post("/api/review", json=body).json() == {"recorded": False, "items": 1}
    assert len(reviews(seeded)) == 1
    assert api(client, topic=QUAKE) == []
    assert client.post("/api/review", json={"items": [{"topic": QUAKE}]}).status_code == 400
    assert client.post("/api/review", content=b"items", headers={"content-type": "text/plain"}).status_code == 400


# -- the token and CSRF -----------------------------------------------------------------------------------

@pytest.fixture
def guarded(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("NM_TEST_WEB_TOKEN", "s3cret-token")
    log = seeded.open_log()
    try:
        app = create_app(with_web(seeded.config, token_env="NM_TEST_WEB_TOKEN"), log=log)
        with TestClient(app, base_url="http://127.0.0.1:8080") as test_client:
            yield test_client
    finally:
        log.close()


def test_a_configured_token_is_required_for_every_write(guarded: TestClient, seeded: Seeded) -> None:
    doc = page(guarded.get("/"))
    assert doc.get_element_by_id("login") is not None
    assert doc.find_class("mark-reviewed") == [] and doc.xpath("//*[@id='review-all']") == []
    why = " ".join(doc.get_element_by_id("login-why").text_content().split())
    assert why.startswith("The review buttons are hidden: this server has a token ([web] token)")
    (item,) = api(guarded, topic=QUAKE)
    ref = f"{item['article_id']}|{item['topic']}|{item['position']}"
    body = {"items": [{"article_id": item["article_id"], "topic": item["topic"], "position": item["position"]}]}

    refused = guarded.post("/review", data={"item": ref}, follow_redirects=False)
    assert refused.status_code == 401 and page(refused).xpath("//form[@class='login']")
    assert guarded.post("/api/review", json=body).status_code == 401
    assert guarded.post("/api/review", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.post("/login", data={"token": "wrong"}, follow_redirects=False).status_code == 401
    assert reviews(seeded) == []

    assert guarded.post("/api/review", json=body, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert len(reviews(seeded)) == 1
    first = api(guarded, feed="diplomacy")[0]
    with_bearer = guarded.post("/review", data={"item": f"{first['article_id']}|{TOPIC}|{first['position']}"},
                               headers={"Authorization": "Bearer s3cret-token"}, follow_redirects=False)
    assert with_bearer.status_code == 303 and len(reviews(seeded)) == 2

    login = guarded.post("/login", params={"feed": "world"}, data={"token": "s3cret-token"}, follow_redirects=False)
    assert login.status_code == 303 and urlsplit(login.headers["location"]).query == "feed=world&status=unreviewed"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "s3cret-token" not in cookie
    doc = page(guarded.get("/"))
    assert doc.find_class("mark-reviewed") and not doc.xpath("//*[@id='login']")
    assert not doc.xpath("//*[@id='login-why']")  # signed in: nothing hidden, nothing to explain
    (world,) = api(guarded, feed="world", topic=TOPIC)
    ok = guarded.post("/review", data={"item": f"{world['article_id']}|{TOPIC}|{world['position']}"},
                      follow_redirects=False)
    assert ok.status_code == 303 and len(reviews(seeded)) == 3
    guarded.cookies.clear()
    guarded.cookies.set("token", "forged")
    assert guarded.post("/review", data={"item": ref}, follow_redirects=False).status_code == 401


def test_cross_site_posts_are_refused(client: TestClient, seeded: Seeded) -> None:
    (item,) = api(client, topic=QUAKE)
    ref = f"{item['article_id']}|{item['topic']}|{item['position']}"
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Referer": "http://evil.example/page"}, {"Origin": "http://127.0.0.1:9999"}):
        response = client.post("/review", data={"item": ref}, headers=headers, follow_redirects=False)
        assert response.status_code == 403, headers
    assert client.post("/login", data={"token": "x"}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert reviews(seeded) == []
    same = client.post("/review", data={"item": ref}, headers={"Origin": "http://127.0.0.1:8080",
                                                                "Referer": "http://127.0.0.1:8080/?feed=world"},
                       follow_redirects=False)
    assert same.status_code == 303 and len(reviews(seeded)) == 1


def test_get_never_writes(client: TestClient, seeded: Seeded) -> None:
    log = seeded.open_log()
    try:
        before = log.last_position()
        for path in ("/", "/?status=all", "/api/mentions", "/feed.atom", "/healthz", "/metrics",
                     "/review", "/api/review"):
            client.get(path)
        assert log.last_position() == before
    finally:
        log.close()
    assert client.get("/review").status_code == 405


# -- the machine-readable endpoints -----------------------------------------------------------------------

def test_api_mentions_json(client: TestClient) -> None:
    response = client.get("/api/mentions")
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert set(document) >= {"items", "stories", "window", "counts"}
    assert document["counts"]["mentions"] == len(document["items"]) == 5
    assert document["counts"]["unreviewed"] == 5 and document["counts"]["feeds_failing"] == 1
    for item in document["items"]:
        assert set(item) >= {"article_id", "url", "title", "feed", "outlet", "published_at", "topic", "score",
                             "sentences", "dates", "similarity", "evidence", "position", "reviewed", "story"}
        assert "text" not in item
    assert all("text" in item and item["text"] for item in api(client, text="1"))
    assert [i["title"] for i in api(client, feed="diplomacy", min_score="0", status="all",
                                     **{"from": "2025-12-01"})] == [DIPLOMACY[0][1]]


def test_the_outlet_is_the_feeds_own_title(client: TestClient) -> None:
    # The feeds call themselves "Test World" and "Test Diplomacy": that is the outlet, not 127.0.0.1.
    outlets = {item["feed"]: item["outlet"] for item in api(client, status="all")}
    assert outlets["world"] == "Test World" and outlets["diplomacy"] == "Test Diplomacy"
    events = client.get("/api/timeline").json()["events"]
    assert events and {name for event in events for name in event["outlets"]} <= {
        "Test World", "Test Diplomacy", HOSTILE_FEED}
    doc = page(client.get("/", params={"status": "all"}))
    assert {"Test World", "Test Diplomacy"} <= {span.text_content() for span in doc.find_class("outlet")}
    assert "127.0.0.1" not in " ".join(span.text_content() for span in doc.find_class("outlet"))


def test_feed_atom(client: TestClient, seeded: Seeded) -> None:
    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    items = api(client, status="all")
    assert len(parsed.entries) == len(items) == 5
    assert {e.link for e in parsed.entries} == {i["url"] for i in items}
    assert {e.title for e in parsed.entries} == {i["title"] for i in items}
    self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_links == ["http://127.0.0.1:8080/feed.atom"]
    # One title, the same as the digest's Atom file says, and the language of the text the feed adds.
    root = etree.fromstring(response.content)
    assert [t.text for t in root.findall("{http://www.w3.org/2005/Atom}title")] == [ATOM_TITLE]
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    log = seeded.open_log()
    try:
        as_file = etree.fromstring(render_as(build_digest(log.engine), "atom", seeded.config).encode())
    finally:
        log.close()
    assert as_file.findtext("{http://www.w3.org/2005/Atom}title") == ATOM_TITLE
    filtered = feedparser.parse(client.get("/feed.atom", params={"feed": "diplomacy"}).content)
    assert {e.title for e in filtered.entries} == {DIPLOMACY[0][1], DIPLOMACY[1][1]}
    assert [link.href for link in filtered.feed.links if link.rel == "self"] == [
        "http://127.0.0.1:8080/feed.atom?feed=diplomacy"]


def test_healthz_and_metrics(client: TestClient, seeded: Seeded) -> None:
    log = seeded.open_log()
    try:
        position = log.last_position()
    finally:
        log.close()
    # Polled, but by no daemon: unhealthy, as `news-monitor health` says; the log alone is fine.
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["reason"] == "no daemon has started on this log (news-monitor run)"
    assert client.get("/healthz", params={"daemon": "0"}).status_code == 200
    log = seeded.open_log()
    try:
        log.append([ev.daemon_started("d1", utcnow(), {"version": "0", "config_version": "c"})])
        position = log.last_position()
    finally:
        log.close()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert {k: v for k, v in health.json().items() if k in ("status", "database", "last_position", "feeds",
                                                           "feeds_failing", "daemon")} == {
        "status": "ok", "database": "ok", "last_position": position, "feeds": 4, "feeds_failing": 1,
        "daemon": "running"}
    head = client.head("/healthz")  # uptime checks often send HEAD
    assert head.status_code == 200 and head.content == b""

    (item,) = api(client, topic=QUAKE)
    client.post("/api/review", json={"items": [{"article_id": item["article_id"], "topic": QUAKE,
                                                "position": item["position"]}]})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
    assert samples[("news_monitor_mentions", (("state", "unreviewed"), ("topic", TOPIC)))] == 4
    assert samples[("news_monitor_mentions", (("state", "reviewed"), ("topic", TOPIC)))] == 0
    assert samples[("news_monitor_mentions", (("state", "reviewed"), ("topic", QUAKE)))] == 1
    assert samples[("news_monitor_mentions", (("state", "unreviewed"), ("topic", QUAKE)))] == 0
    assert samples[("news_monitor_feeds", (("status", "ok"),))] == 3
    assert samples[("news_monitor_feeds", (("status", "failing"),))] == 1
    assert samples[("news_monitor_feed_consecutive_failures", (("feed", "missing"),))] == 1
    assert samples[("news_monitor_feed_consecutive_failures", (("feed", "world"),))] == 0
    assert ("news_monitor_feed_last_success_timestamp_seconds", (("feed", "missing"),)) not in samples
    success = samples[("news_monitor_feed_last_success_timestamp_seconds", (("feed", "world"),))]
    assert abs(success - time.time()) < 600
    assert samples[("news_monitor_log_position", ())] == position + 1  # the review just appended


def test_an_unreachable_database_is_a_503(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    config = load_config(write_config([]))
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = EventLog(make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none"))
    try:
        with TestClient(create_app(config, log=log), base_url="http://127.0.0.1:8080") as test_client:
            health = test_client.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "error"
            response = test_client.get("/")
            assert response.status_code == 503 and "Traceback" not in response.text
            assert "cannot be read" in page(response).get_element_by_id("error-message").text_content()
            assert test_client.get("/api/mentions").status_code == 503
    finally:
        log.close()


# -- the real server --------------------------------------------------------------------------------------

class ServerThread:
    """uvicorn serving an app on 127.0.0.1 at a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@pytest.fixture
def live_server(seeded: Seeded) -> Iterator[ServerThread]:
    log = seeded.open_log()
    try:
        with ServerThread(create_app(seeded.config, log=log)) as server:
            yield server
    finally:
        log.close()


def test_the_real_server_answers_over_a_socket(live_server: ServerThread) -> None:
    response = httpx.get(f"{live_server.url}/healthz?daemon=0", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["feeds"] == 4
    page_response = httpx.get(f"{live_server.url}/?feed=diplomacy", timeout=10)
    assert {i["title"] for i in shown(page_response)} == {DIPLOMACY[0][1], DIPLOMACY[1][1]}
