"""Polling on real parts: recorded schedules, resuming them after a restart, the per-host limit, and a
shutdown that waits for polls in flight only for its grace period."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.config import NetworkSettings, load_config
from monitor.daemon.run import build_dispatcher, resume_times
from monitor.errors import FetchError
from monitor.ingest.fetch import Fetcher
from monitor.pipeline import Monitor
from monitor.views.projections import Projections
from monitor.views.reducers import VIEWS
from monitor.views.tables import feed_state
from storage.eventlog import EventLog
from tests.builders import hourly_rss

REPO = Path(__file__).resolve().parents[2]


class Site:
    """A threaded local server: each path maps to (status, headers, body, delay); it counts requests and the
    most that were in flight at once."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.in_flight = self.peak = self.connections = 0
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # once per connection
                super().setup()
                with site.lock:
                    site.connections += 1

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with site.lock:
                    site.requests.append((self.path, dict(self.headers)))
                    site.in_flight += 1
                    site.peak = max(site.peak, site.in_flight)
                try:
                    status, headers, body, delay = site.routes.get(self.path, (404, {}, b"", 0.0))
                    time.sleep(delay)
                    self.send_response(status)
                    for name, value in {"Content-Length": str(len(body)), **headers}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with site.lock:
                        site.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, path: str, body: str | bytes, *, status: int = 200, delay: float = 0.0,
              content_type: str = "application/rss+xml", **headers: str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = (status, {"Content-Type": content_type, **headers}, data, delay)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


def feed_row(monitor: Monitor, name: str) -> dict[str, object]:
    with monitor.log.engine.connect() as conn:
        return dict(conn.execute(select(feed_state).where(feed_state.c.feed == name)).mappings().one())


def test_a_poll_records_its_schedule_and_a_restart_resumes_it(site: Site, write_config: Callable[..., Path]) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    site.route("/hourly.xml", hourly_rss(site.base, 10, now), ETag='"v1"')
    config = load_config(write_config([{"name": "hourly", "url": f"{site.base}/hourly.xml",
                                        "fetch_full_text": False}]))
    with Monitor(config) as monitor:
        [outcome] = monitor.poll()
        [polled] = [e for e in monitor.log.read(types=["FeedPolled"])]
        row = feed_row(monitor, "hourly")
    # Entries an hour apart: polled every half hour, plus at most 1s of jitter (the test config's).
    assert polled.data["schedule"] == "adaptive" and polled.data["interval"] == 1800
    next_at = dt.datetime.fromisoformat(polled.data["next_poll_at"])
    assert dt.timedelta(seconds=1800) <= next_at - polled.occurred_at <= dt.timedelta(seconds=1801)
    assert outcome.next_poll_at == next_at
    assert row["next_poll_at"] == next_at and row["interval"] == 1800 and row["schedule"] == "adaptive"

    # A restarted daemon resumes that schedule instead of polling at once; a new feed is due now.
    config = load_config(write_config([
        {"name": "hourly", "url": f"{site.base}/hourly.xml", "fetch_full_text": False},
        {"name": "new", "url": f"{site.base}/new.xml"}]))
    with Monitor(config) as monitor:
        due = resume_times(monitor)
        scheduled = build_dispatcher(monitor).due_times()
    assert due["hourly"] == next_at
    assert abs((due["new"] - dt.datetime.now(dt.UTC)).total_seconds()) < 30
    # The daemon's dispatcher starts from the same table: the resumed time, and "now" for the new feed.
    assert scheduled.keys() == due.keys() and scheduled["hourly"] == next_at
    assert abs((scheduled["new"] - dt.datetime.now(dt.UTC)).total_seconds()) < 30
    # A 304 keeps the interval and the validators; the next poll sends them.
    site.route("/hourly.xml", b"", status=304)
    with Monitor(load_config(write_config([{"name": "hourly", "url": f"{site.base}/hourly.xml",
                                            "fetch_full_text": False}]))) as monitor:
        [outcome] = monitor.poll()
        row = feed_row(monitor, "hourly")
    assert outcome.status == "not_modified"
    assert site.requests[-1][1].get("If-None-Match") == '"v1"'
    assert row["etag"] == '"v1"' and row["interval"] == 1800


def test_the_feed_state_view_rebuilds_to_the_live_state(site: Site, write_config: Callable[..., Path]) -> None:
    now = dt.datetime.now(dt.UTC)
    site.route("/a.xml", hourly_rss(site.base, 5, now, "a"))
    site.route("/moved.xml", "", status=301, Location=f"{site.base}/a2.xml")
    site.route("/a2.xml", hourly_rss(site.base, 3, now, "b"))
    config = load_config(write_config([
        {"name": "a", "url": f"{site.base}/a.xml", "fetch_full_text": False},
        {"name": "moved", "url": f"{site.base}/moved.xml", "fetch_full_text": False},
        {"name": "down", "url": f"{site.base}/missing.xml"}]))
    with Monitor(config) as monitor:
        monitor.poll()
        monitor.poll()
        with monitor.log.engine.connect() as conn:
            live = {name: sorted(map(tuple, conn.execute(select(VIEWS[name].table)).all())) for name in VIEWS}
        Projections(monitor.log.engine, upcasters=monitor.log.upcasters).rebuild()
        with monitor.log.engine.connect() as conn:
            rebuilt = {name: sorted(map(tuple, conn.execute(select(VIEWS[name].table)).all())) for name in VIEWS}
        moved = feed_row(monitor, "moved")
    assert rebuilt == live
    assert moved["current_url"] == f"{site.base}/a2.xml"
    # The second poll of the moved feed went straight to its new URL.
    assert [path for path, _ in site.requests].count("/moved.xml") == 1


def test_requests_to_one_host_are_limited_whatever_the_number_of_workers(
        site: Site, write_config: Callable[..., Path]) -> None:
    now = dt.datetime.now(dt.UTC)
    feeds = []
    for i in range(6):
        site.route(f"/slow{i}.xml", hourly_rss(site.base, 2, now, f"s{i}"), delay=0.4)
        feeds.append({"name": f"slow{i}", "url": f"{site.base}/slow{i}.xml", "fetch_full_text": False})
    path = write_config(feeds, scheduler={"max_workers": 6, "max_per_host": 2})
    with Monitor(load_config(path)) as monitor:
        started = time.monotonic()
        outcomes = monitor.poll()
        elapsed = time.monotonic() - started
    assert {o.status for o in outcomes} == {"ok"}
    assert site.peak == 2
    assert elapsed >= 3 * 0.4  # six requests, two at a time


def test_sigterm_waits_for_polls_only_for_the_grace_period(site: Site, write_config: Callable[..., Path]) -> None:
    now = dt.datetime.now(dt.UTC)
    site.route("/feed.xml", hourly_rss(site.base, 6, now, "story"))
    for i in range(6):  # every page hangs far longer than the grace period
        site.route(f"/story/{i}.html", "<html><body><p>late</p></body></html>", content_type="text/html",
                   delay=8.0)
    path = write_config([{"name": "slow-pages", "url": f"{site.base}/feed.xml"}], read_timeout="20s",
                        total_timeout="30s", scheduler={"shutdown_grace": "1s"})
    url = load_config(path).storage.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    daemon = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(path), "run"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not any(p.startswith("/story/") for p, _ in site.requests) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(p.startswith("/story/") for p, _ in site.requests), "the daemon never fetched a page"
        stopped_at = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=20)
        took = time.monotonic() - stopped_at
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, stderr
    assert took < 5, f"the daemon took {took:.1f}s to stop with a 1s grace period"
    assert "abandoned" in stderr and "Traceback" not in stderr
    log = EventLog.open(url, migrate=True)
    try:
        types = [e.type for e in log.read()]
    finally:
        log.close()
    # The poll in flight had not finished its first entry: nothing of it is in the log, not half of it.
    assert "ArticleDiscovered" not in types and "ArticleExtracted" not in types


@pytest.mark.parametrize(("status", "body"), [(304, b""), (302, b"moved"), (404, b"not here " * 100)])
def test_a_response_without_a_body_we_use_keeps_its_connection(site: Site, status: int, body: bytes) -> None:
    """304s, redirects and errors are drained, so the next request to the host reuses the connection."""
    site.route("/r", body, status=status, content_type="text/plain", Location=f"{site.base}/x", ETag='"e"')
    with Fetcher(NetworkSettings(allow_private_addresses=True, max_redirects=0)) as fetcher:
        for _ in range(3):
            try:
                fetcher.get(f"{site.base}/r", {"If-None-Match": '"e"'})
            except FetchError:
                pass
    assert len(site.requests) == 3 and site.connections == 1
