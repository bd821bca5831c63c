"""The daemon as users run it: a child process, a local feed server, stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config import load_config
from storage.eventlog import EventLog
from tests.builders import rss

REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def heavy_libraries(pid: int) -> list[str]:
    """The files of scikit-learn, scipy (which datasketch imports) and their bundled libraries mapped into a
    process: importing any of them loads its compiled modules (#19: ~95 MB of the daemon's start-up)."""
    if not sys.platform.startswith("linux"):  # /proc/<pid>/maps is Linux's
        return []
    maps = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8")
    return sorted({line.split()[-1] for line in maps.splitlines()
                   if re.search(r"/(sklearn|scipy|scikit_learn\.libs|scipy\.libs)/", line)})


def types_in(url: str) -> list[str]:
    log = EventLog.open(url, migrate=True)
    try:
        return [e.type for e in log.read()]
    finally:
        log.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_daemon_polls_records_failures_and_stops_cleanly(
        stop_signal: signal.Signals, httpserver: HTTPServer, write_config: Callable[..., Path]) -> None:
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        ("summit", "Modi and Putin hold talks at the annual summit", "2025-12-05"),
        ("other", "Monsoon rains arrive early", "2025-06-01")]), content_type="application/rss+xml")
    for slug in ("summit", "other"):
        httpserver.expect_request(f"/articles/{slug}.html").respond_with_data("", status=404)
    config = write_config([
        {"name": "local", "url": f"{base}/feed.xml", "interval": "1h"},
        {"name": "offline-1", "url": f"http://127.0.0.1:{closed_port()}/rss", "interval": "2s"},
        {"name": "offline-2", "url": f"http://localhost:{closed_port()}/atom", "interval": "2s"},
    ])
    url = load_config(config).storage.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")}
    daemon = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Both offline feeds fail, are retried on their interval, and the daemon keeps running.
        assert wait_for(lambda: types_in(url).count("FeedFailed") >= 4), "offline feeds were not retried"
        assert daemon.poll() is None
        # The local feed's poll fits the tagger first, which can outlast two retries of the offline ones.
        assert wait_for(lambda: "FeedPolled" in types_in(url) and "MentionTagged" in types_in(url))
        assert types_in(url).count("MentionTagged") == 1
        assert heavy_libraries(daemon.pid) == []  # it tagged a mention without scikit-learn or scipy
        daemon.send_signal(stop_signal)
        _, stderr = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped" in stderr
    log = EventLog.open(url, migrate=True)
    try:
        failures = [e.data for e in log.read(types=["FeedFailed"])]
        by_article: dict[str, list[str]] = {}
        for event in log.read():
            if event.stream.startswith("article:"):
                by_article.setdefault(event.stream, []).append(event.type)
    finally:
        log.close()
    assert {f["feed"] for f in failures} == {"offline-1", "offline-2"}
    assert {f["reason"] for f in failures} == {"connection_refused"}
    # No partial work: every discovered article has its extraction outcome.
    assert len(by_article) == 2
    for types in by_article.values():
        assert types[0] == "ArticleDiscovered" and {"ArticleExtracted", "ExtractionFailed"} & set(types)
