"""End to end on real parts: a local HTTP server, real feeds and pages, the CLI, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from monitor.config import load_config
from monitor.views.reducers import VIEWS
from monitor.views.tables import feed_state, story_features
from storage.eventlog import EventLog
from storage.tables import checkpoints
from tests.builders import article_page, atom, cli, config_text, rss

REPO = Path(__file__).resolve().parents[1]
DEMO_PAGES = REPO / "monitor" / "demo" / "data" / "articles"

# Our own sample pages (written for the demo): near misses and unrelated news.
OTHER_PAGES = [
    ("putin-trump-alaska-summit-ukraine", "Putin and Trump meet in Alaska", "2025-08-16"),
    ("modi-xi-talks-sco-summit-tianjin", "Modi and Xi hold talks in Tianjin", "2025-08-31"),
    ("russia-china-trade-talks-putin-xi-beijing", "Putin and Xi discuss trade", "2025-09-02"),
    ("medvedev-indian-wells-exhibition", "Medvedev plays at Indian Wells", "2025-12-07"),
    ("alaska-earthquake-kodiak-tsunami-warning", "Earthquake shakes Alaska", "2025-10-22"),
    ("tanker-indian-ocean-monsoon-storm", "Tanker battles monsoon storm", "2025-09-18"),
]
SEEDS = [
    ("000_032e6bdd50b22086.txt", "seed-modi-putin-tianjin", "Modi to meet Putin after SCO summit", "2025-09-01"),
    ("003_20ce1cfc9bc07189.txt", "seed-jaishankar-kremlin", "Jaishankar meets Putin in the Kremlin", "2025-11-18"),
]


@pytest.fixture
def news_site(httpserver: HTTPServer, shared_dir: Path) -> dict[str, str]:
    """An RSS feed and an Atom feed whose entries link to seed pages, near misses and unrelated news."""
    base = httpserver.url_for("").rstrip("/")
    for filename, slug, title, _ in SEEDS:
        text = (shared_dir / "seeds" / filename).read_text(encoding="utf-8")
        httpserver.expect_request(f"/articles/{slug}.html").respond_with_data(
            article_page(title, text), content_type="text/html; charset=utf-8")
    for slug, _, _ in OTHER_PAGES:
        httpserver.expect_request(f"/articles/{slug}.html").respond_with_data(
            (DEMO_PAGES / f"{slug}.html").read_bytes(), content_type="text/html; charset=utf-8")
    rss_items = [(SEEDS[0][1], SEEDS[0][2], SEEDS[0][3]), *OTHER_PAGES[:3]]
    atom_items = [(SEEDS[1][1], SEEDS[1][2], SEEDS[1][3]), *OTHER_PAGES[3:]]
    httpserver.expect_request("/rss.xml").respond_with_data(rss(base, rss_items), content_type="application/rss+xml")
    httpserver.expect_request("/atom.xml").respond_with_data(atom(base, atom_items),
                                                             content_type="application/atom+xml")
    return {"rss": f"{base}/rss.xml", "atom": f"{base}/atom.xml", "base": base}


def events_by_type(config: Path) -> Counter[str]:
    log = EventLog.open(load_config(config).storage.url, migrate=True)
    try:
        return Counter(e.type for e in log.read())
    finally:
        log.close()


def snapshot(url: str) -> dict[str, list[dict]]:
    """Every read-model table, checkpoints included, row by row."""
    log = EventLog.open(url, migrate=True)
    try:
        with log.engine.connect() as conn:
            return {
                table.name: sorted((dict(r) for r in conn.execute(select(table)).mappings()), key=repr)
                for table in [*(view.table for view in VIEWS.values()), checkpoints]
            }
    finally:
        log.close()


def test_poll_digest_repoll_review_and_rebuild(news_site: dict[str, str], write_config: Callable[..., Path],
                                               capsys: pytest.CaptureFixture[str], httpserver: HTTPServer) -> None:
    config = write_config([{"name": "test-rss", "url": news_site["rss"]},
                           {"name": "test-atom", "url": news_site["atom"]}])
    code, _, err = cli(capsys, "--config", str(config), "poll")
    assert code == 0, err

    code, out, _ = cli(capsys, "--config", str(config), "digest", "--format", "json")
    assert code == 0
    items = json.loads(out)["items"]
    seed_urls = {f"{news_site['base']}/articles/{slug}.html?utm_source=rss" if feed == "rss"
                 else f"{news_site['base']}/articles/{slug}.html"
                 for (_, slug, _, _), feed in zip(SEEDS, ("rss", "atom"), strict=True)}
    assert {item["url"] for item in items} == seed_urls
    for item in items:
        assert set(item) >= {"article_id", "url", "title", "feed", "published_at", "topic", "score", "sentences"}
        assert item["topic"] == "india-russia-summit"
        assert item["sentences"] and all(isinstance(s, str) for s in item["sentences"])
        assert item["score"] >= 0.5
    by_title = {item["title"]: item for item in items}
    tianjin = by_title["Modi to meet Putin after SCO summit"]
    assert tianjin["feed"] == "test-rss" and tianjin["published_at"].startswith("2025-09-01")
    assert any("bilateral meeting with Russian President Vladimir Putin" in s for s in tianjin["sentences"])
    kremlin = by_title["Jaishankar meets Putin in the Kremlin"]
    assert any("annual summit" in s.lower() for s in kremlin["sentences"])

    counts = events_by_type(config)
    assert counts["ArticleDiscovered"] == counts["ArticleExtracted"] == 8
    assert counts["FeedPolled"] == 2 and counts["FeedFailed"] == 0
    before = snapshot(load_config(config).storage.url)

    code, _, _ = cli(capsys, "--config", str(config), "poll")
    assert code == 0
    again = events_by_type(config)
    assert again["FeedPolled"] == 4
    assert {t: n for t, n in again.items() if t.startswith(("Article", "Mention"))} == \
           {t: n for t, n in counts.items() if t.startswith(("Article", "Mention"))}
    page_requests = [r for r, _ in httpserver.log if r.path.startswith("/articles/")]
    assert len(page_requests) == 8  # the second poll fetched no page again

    code, out, _ = cli(capsys, "--config", str(config), "review")
    assert code == 0 and "marked 2 mentions reviewed (everything up to position " in out
    code, out, _ = cli(capsys, "--config", str(config), "digest", "--format", "json")
    assert json.loads(out)["items"] == []
    code, out, _ = cli(capsys, "--config", str(config), "digest", "--since", "2000-01-01", "--format", "json")
    assert len(json.loads(out)["items"]) == 2

    live = snapshot(load_config(config).storage.url)
    assert live["articles"] == before["articles"] and live["mentions"] == before["mentions"]
    code, out, _ = cli(capsys, "--config", str(config), "rebuild")
    read = {t for view in VIEWS.values() for t in view.reducers}
    replayed = sum(n for t, n in events_by_type(config).items() if t in read)
    assert code == 0 and out.strip() == f"rebuilt all projections: {replayed} events replayed"  # events, once each
    assert snapshot(load_config(config).storage.url) == live
    code, out, _ = cli(capsys, "--config", str(config), "review")
    assert code == 0 and "marked 0 mentions reviewed" in out


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: a feed that times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def snapshot_feeds(log: EventLog) -> list:
    with log.engine.connect() as conn:
        return list(conn.execute(select(feed_state)).mappings())


def test_failing_feeds_are_events_and_do_not_affect_the_others(
        news_site: dict[str, str], httpserver: HTTPServer, silent_port: int,
        write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    httpserver.expect_request("/missing.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/not-xml").respond_with_data("<html><body><p>Hello</p></body></html>",
                                                            content_type="text/html")
    config = write_config([
        {"name": "missing", "url": httpserver.url_for("/missing.xml")},
        {"name": "slow", "url": f"http://127.0.0.1:{silent_port}/feed.xml"},
        {"name": "not-xml", "url": httpserver.url_for("/not-xml")},
        {"name": "good", "url": news_site["rss"]},
    ], read_timeout="1s")
    code, _, err = cli(capsys, "--config", str(config), "poll")
    assert code == 0  # failures are events, not a failed run
    log = EventLog.open(load_config(config).storage.url, migrate=True)
    try:
        failures = {e.data["feed"]: e.data for e in log.read(types=["FeedFailed"])}
        polled = [e.data for e in log.read(types=["FeedPolled"])]
    finally:
        log.close()
    assert {feed: data["reason"] for feed, data in failures.items()} == {
        "missing": "http_404", "slow": "timeout", "not-xml": "not_a_feed"}
    assert all(data["message"] for data in failures.values())
    assert [p["feed"] for p in polled] == ["good"] and polled[0]["new_entries"] == 4

    code, out, _ = cli(capsys, "--config", str(config), "digest", "--format", "json")
    assert [item["title"] for item in json.loads(out)["items"]] == [SEEDS[0][2]]
    log = EventLog.open(load_config(config).storage.url, migrate=True)
    try:
        health = {row["feed"]: row for row in snapshot_feeds(log)}
    finally:
        log.close()
    assert health["missing"]["status"] == "failing" and health["missing"]["last_error_reason"] == "http_404"
    assert health["missing"]["consecutive_failures"] == 1 and health["good"]["status"] == "ok"


def test_unfetchable_page_falls_back_to_the_feed_text(httpserver: HTTPServer, write_config: Callable[..., Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        ("broken", "Modi holds talks with Putin at annual India-Russia summit", "2025-12-05")]))
    httpserver.expect_request("/articles/broken.html").respond_with_data("oops", status=500)
    config = write_config([{"name": "f", "url": f"{base}/feed.xml"}])
    assert cli(capsys, "--config", str(config), "poll")[0] == 0
    log = EventLog.open(load_config(config).storage.url, migrate=True)
    try:
        failed = [e.data for e in log.read(types=["ExtractionFailed"])]
        extracted = [e.data for e in log.read(types=["ArticleExtracted"])]
        tagged = [e for e in log.read(types=["MentionTagged"])]
    finally:
        log.close()
    assert failed[0]["reason"] == "http_500" and failed[0]["fallback"] == "feed_summary"
    assert extracted[0]["text_source"] == "feed_summary"
    assert tagged and tagged[0].occurred_at == dt.datetime(2025, 12, 5, 9, tzinfo=dt.UTC)


def test_an_entry_without_a_date_has_an_unknown_publication_date(
        httpserver: HTTPServer, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = httpserver.url_for("").rstrip("/")
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
            "<description>d</description><item><title>Modi and Putin hold talks at the annual summit</title>"
            f"<link>{base}/articles/undated.html</link><description>The leaders met.</description></item>"
            "</channel></rss>")
    httpserver.expect_request("/feed.xml").respond_with_data(feed, content_type="application/rss+xml")
    httpserver.expect_request("/articles/undated.html").respond_with_data("", status=404)
    config = write_config([{"name": "undated", "url": f"{base}/feed.xml"}])
    assert cli(capsys, "--config", str(config), "poll")[0] == 0
    code, out, _ = cli(capsys, "--config", str(config), "digest", "--format", "json")
    (item,) = json.loads(out)["items"]
    assert item["published_at"] is None
    log = EventLog.open(load_config(config).storage.url, migrate=True)
    try:
        (discovered,) = log.read(types=["ArticleDiscovered"])
    finally:
        log.close()
    assert discovered.data["published_at"] is None
    # Dated by its discovery: just before it was recorded (the page fetch lies between the two).
    assert dt.timedelta(0) <= discovered.recorded_at - discovered.occurred_at < dt.timedelta(seconds=30)


# What the daemon's polling must not import (#19): scikit-learn pulls scipy in, ~95 MB and seconds of start-up, and
# datasketch imports scipy too; the tagger and story features compute the same numbers without them. trafilatura
# (~8 MB) runs in the extraction workers, not in the daemon's process.
HEAVY = ("sklearn", "scipy", "datasketch", "trafilatura")
POLL = """
import json, sys
from monitor.config import load_config
from monitor.pipeline import Monitor
with Monitor(load_config(sys.argv[1])) as monitor:
    outcomes = monitor.poll()
heavy = sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[2].split(","))
print(json.dumps({"statuses": [o.status for o in outcomes], "mentions": sum(o.mentions for o in outcomes),
                  "heavy": heavy}))
"""


def test_a_poll_imports_neither_scikit_learn_nor_scipy(httpserver: HTTPServer, tmp_path: Path) -> None:
    base = httpserver.url_for("").rstrip("/")
    slug = "putin-state-visit-new-delhi-23rd-annual-summit-preview"
    httpserver.expect_request(f"/articles/{slug}.html").respond_with_data(
        (DEMO_PAGES / f"{slug}.html").read_text(encoding="utf-8"), content_type="text/html; charset=utf-8")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        (slug, "Putin heads to New Delhi for the 23rd annual India-Russia summit", "2025-12-01")]),
        content_type="application/rss+xml")
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    config = tmp_path / "monitor.toml"
    config.write_text(config_text(url, [{"name": "local", "url": f"{base}/feed.xml"}]), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    done = subprocess.run([sys.executable, "-c", POLL, str(config), ",".join(HEAVY)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["statuses"] == ["ok"] and result["mentions"] == 1
    assert result["heavy"] == []
    # ... and the poll did the work they were imported for: similarity to each reference, story features signed.
    log = EventLog.open(url, migrate=True)
    try:
        (tagged,) = [e.data for e in log.read(types=["MentionTagged"])]
        with log.engine.connect() as conn:
            (signature,) = conn.execute(select(story_features.c.signature)).scalars().all()
    finally:
        log.close()
    assert len(tagged["similarity"]) == 2 and max(tagged["similarity"].values()) > 0.1
    assert signature is not None and len(signature) == 64
