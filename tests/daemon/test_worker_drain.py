"""A worker under a service manager (#17, #18): SIGTERM drains it, and it speaks systemd's notify protocol.

One worker process, on the real PostgreSQL, polls one local feed of 10 entries whose article pages each answer
after a pause, with ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` set as systemd sets them. It must say READY=1 once
registered, ping the watchdog while it polls, and on SIGTERM in the middle of the feed say STOPPING=1, finish
the entry it is on, record the poll as interrupted and exit 0 well before the feed's remaining pages could have
been read. A second worker then resumes the feed: at the end every entry is in the log once, with its whole
batch (discovered and extracted), and no page of an entry the first worker recorded was fetched again.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.events import catalogue as ev
from storage.eventlog import EventLog
from tests.builders import REPO, config_text
from tests.daemon.fleet import serve, worker_env
from tests.daemon.test_workers import wait_for
from tests.notify import NotifySocket, abstract_notify_socket

ENTRIES = 10
PAGE_PAUSE = 0.7  # seconds each article page takes to answer


class SlowPages:
    """``/feed.xml``: 8 entries; ``/a/<k>``: an article page, answered after ``PAGE_PAUSE``; every hit kept."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.server, self.base = serve(self.handle)

    def pages(self) -> list[str]:
        with self.lock:
            return [path for path in self.hits if path.startswith("/a/")]

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.hits.append(request.path)
        if request.path == "/feed.xml":
            items = "".join(
                f"<item><title>Harbour board report {k}</title><link>{self.base}/a/{k}</link>"
                f"<guid>urn:drain:{k}</guid><pubDate>Mon, 0{1 + k % 8} Dec 2025 08:00:00 GMT</pubDate>"
                f"<description>Report {k}.</description></item>" for k in range(ENTRIES))
            body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Drain Gazette</title>'
                    f"<link>{self.base}/</link><description>d</description>{items}</channel></rss>")
            kind = "application/rss+xml"
        elif request.path.startswith("/a/"):
            time.sleep(PAGE_PAUSE)
            k = request.path.rsplit("/", 1)[-1]
            paragraphs = "".join(f"<p>The harbour board met on Monday to review cargo volumes for quarter {k}, "
                                 f"and its members agreed a plan for the northern quay, part {n}.</p>"
                                 for n in range(6))
            body = (f"<html><head><title>Harbour board report {k}</title></head><body><article>"
                    f"<h1>Harbour board report {k}</h1>{paragraphs}</article></body></html>")
            kind = "text/html"
        else:
            request.send_error(404)
            return
        data = body.encode()
        request.send_response(200)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, NotifySocket]]:
    with abstract_notify_socket("news-monitor-worker") as pair:
        yield pair


def start_worker(config: Path, env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "worker",
                                 "--concurrency", "1"], stdout=sink, stderr=subprocess.STDOUT,
                                env=worker_env() | env, cwd=REPO)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.mark.postgres
def test_sigterm_drains_a_worker_that_notifies_systemd_and_another_resumes_the_feed(
        postgres_url: str, tmp_path: Path, notify_socket: tuple[str, NotifySocket]) -> None:
    address, manager = notify_socket
    site = SlowPages()
    config = tmp_path / "monitor.toml"
    config.write_text(config_text(postgres_url, [{"name": "slow", "url": f"{site.base}/feed.xml", "interval": "1h",
                                                   "fetch_full_text": True}],
                                  scheduler={"jitter": "0", "shutdown_grace": "20s", "takeover": "10s"}),
                      encoding="utf-8")
    EventLog.open(postgres_url, migrate=True).close()
    # WatchdogSec=4s: pings every 2 s while the worker is healthy.
    first = start_worker(config, {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"}, tmp_path / "first.log")
    second = None
    try:
        assert wait_for(lambda: bool(manager.having("READY")), 60), (tmp_path / "first.log").read_text()
        assert wait_for(lambda: len(site.pages()) >= 2 and len(manager.having("WATCHDOG")) >= 2, 60), \
            "the worker never reached the feed's pages, or never pinged the watchdog twice"
        first.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert first.wait(30) == 0, (tmp_path / "first.log").read_text()
        drained_in = time.monotonic() - signalled
        pages_first = len(site.pages())

        log = EventLog.open(postgres_url)
        try:
            (polled,) = [e.data for e in log.read(types=[ev.FEED_POLLED])]
            discovered = Counter(e.data["article_id"] for e in log.read(types=[ev.ARTICLE_DISCOVERED]))
            extracted = Counter(e.data["article_id"] for e in log.read(types=[ev.ARTICLE_EXTRACTED]))
        finally:
            log.close()
        # It stopped after the entry it was on: fewer entries than the feed has, each with its whole batch, and
        # much sooner than reading the remaining pages would take.
        assert polled["status"] == "interrupted"
        assert 1 <= len(discovered) < ENTRIES and discovered == extracted and set(discovered.values()) == {1}
        assert pages_first <= len(discovered) + 1
        assert drained_in < (ENTRIES - len(discovered)) * PAGE_PAUSE + 5

        (ready_at, ready), = manager.having("READY")
        assert re.fullmatch(r"worker \d+: polling 1 feeds, \d+ polls run, \d+ in flight", ready["STATUS"])
        pings = [at for at, _ in manager.having("WATCHDOG")]
        stopping = manager.having("STOPPING")
        assert stopping and stopping[0][1]["STATUS"].startswith("worker ") and "draining" in stopping[0][1]["STATUS"]
        assert [at for at in pings if ready_at < at < stopping[0][0]], "no watchdog ping while it polled"
        assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 4.0  # within WatchdogSec=4s

        # The interrupted poll left the feed due at once: the next worker reads the rest, nothing twice.
        second = start_worker(config, {}, tmp_path / "second.log")

        def resumed() -> bool:
            log = EventLog.open(postgres_url)
            try:
                return sum(1 for _ in log.read(types=[ev.ARTICLE_EXTRACTED])) >= ENTRIES
            finally:
                log.close()

        assert wait_for(resumed, 60, step=0.5), (tmp_path / "second.log").read_text()
    finally:
        stop(first)
        if second is not None:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
            stop(second)
        site.close()
    log = EventLog.open(postgres_url)
    try:
        discovered = Counter(e.data["article_id"] for e in log.read(types=[ev.ARTICLE_DISCOVERED]))
        extracted = Counter(e.data["article_id"] for e in log.read(types=[ev.ARTICLE_EXTRACTED]))
    finally:
        log.close()
    assert len(discovered) == ENTRIES and discovered == extracted and set(discovered.values()) == {1}
    # No page was read twice: the drained worker recorded every page it read.
    assert Counter(site.pages()) == Counter(f"/a/{k}" for k in range(ENTRIES))
