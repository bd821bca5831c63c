"""The daemon as a service: systemd's notify protocol on a real datagram socket, its JSON log lines, and the
lifecycle events it records (a child process, a local feed server, stopped by SIGTERM)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config import load_config
from monitor.systemd import Notifier
from storage.eventlog import EventLog
from tests.builders import rss
from tests.daemon.test_daemon import closed_port, types_in, wait_for
from tests.ingest.test_extract_pool import pathological_page
from tests.notify import NotifySocket, abstract_notify_socket

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, NotifySocket]]:
    with abstract_notify_socket() as pair:
        yield pair


def test_notifier_speaks_to_a_path_socket_and_is_silent_without_one(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    server = NotifySocket(str(path))
    try:
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "3000000"})
        assert notifier.enabled and notifier.watchdog_interval == 3.0
        assert notifier.ready("polling 2 feeds, 0 failing, 0 unreviewed")
        assert notifier.watchdog() and notifier.stopping()
        assert wait_for(lambda: len(server.messages) == 3, 5)
        assert [m for _, m in server.messages] == [
            {"READY": "1", "STATUS": "polling 2 feeds, 0 failing, 0 unreviewed"}, {"WATCHDOG": "1"},
            {"STOPPING": "1", "STATUS": "stopping"}]
        notifier.close()
    finally:
        server.close()
    silent = Notifier({})
    assert not silent.enabled and not silent.ready("x") and silent.watchdog_interval is None
    # A watchdog meant for another process (WATCHDOG_PID) is not ours to ping.
    other = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval is None


def _daemon(config: Path, extra_env: dict[str, str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWS_MONITOR_")} | extra_env
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(daemon: subprocess.Popen[str]) -> str:
    daemon.send_signal(signal.SIGTERM)
    try:
        _, stderr = daemon.communicate(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    return stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_daemon_notifies_systemd_and_logs_json_lines_with_ids(
        abstract_socket: tuple[str, NotifySocket], httpserver: HTTPServer,
        write_config: Callable[..., Path]) -> None:
    address, manager = abstract_socket
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        ("stall", "Modi and Putin hold talks at the annual summit", "2025-12-05")]),
        content_type="application/rss+xml")
    # A page that keeps trafilatura busy past the deadline: the warning is about one article of one feed.
    httpserver.expect_request("/articles/stall.html").respond_with_data(pathological_page(),
                                                                        content_type="text/html")
    config = write_config([
        {"name": "local", "url": f"{base}/feed.xml", "interval": "1h"},
        {"name": "offline", "url": f"http://127.0.0.1:{closed_port()}/rss", "interval": "1h"},
    ])
    text = config.read_text(encoding="utf-8").replace('timeout = "10s"', 'timeout = "1s"', 1)
    config.write_text(text, encoding="utf-8")
    url = load_config(config).storage.url
    # WatchdogSec=6s: pings every 3s; a loaded CI machine stretches a gap by a second or two, not by three.
    daemon = _daemon(config, {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "6000000",
                              "NEWS_MONITOR_LOG_FORMAT": "json"})
    try:
        assert wait_for(lambda: bool(manager.having("READY")), 60), "no READY=1"
        assert wait_for(lambda: {"FeedPolled", "FeedFailed"} <= set(types_in(url)), 60)
        assert wait_for(lambda: len(manager.having("WATCHDOG")) >= 4, 60), "the watchdog was not pinged"
        assert daemon.poll() is None
    finally:
        stderr = _stop(daemon)
    assert daemon.returncode == 0, stderr

    (_, ready), = manager.having("READY")
    assert re.fullmatch(r"polling 2 feeds, \d+ failing, \d+ unreviewed", ready["STATUS"])
    pings = [at for at, _ in manager.having("WATCHDOG")]
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 6.0  # within WatchdogSec=6s
    assert manager.having("STOPPING"), "no STOPPING=1"
    ready_at = manager.having("READY")[0][0]
    assert all(at > ready_at for at in pings) and manager.having("STOPPING")[0][0] > pings[-1]

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is a JSON object
    assert all({"event", "level", "logger", "timestamp"} <= set(line) for line in lines)
    polled = {line["feed"]: line for line in lines if line["event"].startswith("polled ")}
    assert polled["offline"]["level"] == "warning" and polled["local"]["level"] == "info"
    assert all(isinstance(line["event_position"], int) for line in polled.values())
    (deadline,) = [line for line in lines if "passed its" in line["event"]]
    assert deadline["level"] == "warning" and deadline["feed"] == "local"
    log = EventLog.open(url, migrate=True)
    try:
        (discovered,) = list(log.read(types=["ArticleDiscovered"]))
        positions = {e.type: e.position for e in log.read(types=["DaemonStarted", "DaemonStopped", "FeedFailed"])}
        started, stopped = (next(log.read(types=[t])) for t in ("DaemonStarted", "DaemonStopped"))
    finally:
        log.close()
    assert deadline["article_id"] == discovered.data["article_id"]
    assert polled["offline"]["event_position"] == positions["FeedFailed"]
    # No library INFO line in a default run: only ours, and nothing from APScheduler, httpx or alembic at all.
    assert {line["logger"].split(".")[0] for line in lines} <= {"monitor", "storage"}
    running = [line for line in lines if line["event"].startswith("news-monitor running")]
    assert running[0]["event_position"] == positions["DaemonStarted"]
    assert started.data["instance"] == stopped.data["instance"] and stopped.data["reason"] == "SIGTERM"
    assert started.data["config_version"] and stopped.data["clean"] is True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_default_text_run_has_no_library_info_lines(httpserver: HTTPServer,
                                                      write_config: Callable[..., Path]) -> None:
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        ("other", "Monsoon rains arrive early", "2025-06-01")]), content_type="application/rss+xml")
    httpserver.expect_request("/articles/other.html").respond_with_data("", status=404)
    config = write_config([{"name": "local", "url": f"{base}/feed.xml", "interval": "1h"},
                           {"name": "offline", "url": f"http://127.0.0.1:{closed_port()}/rss", "interval": "1h"}])
    url = load_config(config).storage.url
    daemon = _daemon(config, {})
    try:
        assert wait_for(lambda: {"FeedPolled", "FeedFailed"} <= set(types_in(url)), 60)
    finally:
        stderr = _stop(daemon)
    assert daemon.returncode == 0, stderr
    lines = stderr.splitlines()
    # One line per poll, from us; none of alembic's plugin setup, httpx's requests or APScheduler's jobs.
    assert len([line for line in lines if "polled " in line]) == 2
    for noise in ("HTTP Request", "executed successfully", "Adding job", "Added job", "next run at", "alembic",
                  "Context impl", "apscheduler"):
        assert noise not in stderr, noise
    assert all(re.search(r"\[(monitor|storage)\.", line) for line in lines), lines
    (failed,) = [line for line in lines if "polled offline" in line]
    assert "warning" in failed and "feed=offline" in failed


def test_the_watchdog_is_fed_only_while_polls_make_progress(tmp_path: Path) -> None:
    """``alive`` (what the main loop asks before each WATCHDOG=1) turns false when a poll runs past the stall
    bound, and true again when it ends."""
    from monitor.daemon.run import Daemon
    from monitor.pipeline import Monitor
    from tests.builders import config_for

    monitor = Monitor(config_for(f"sqlite:///{tmp_path / 'log.sqlite3'}", tmp_path))
    daemon = Daemon(monitor)
    try:
        assert not daemon.alive()  # no scheduler running yet
        daemon.start()
        assert daemon.alive()
        daemon.stall_after = 0.3
        with daemon.polling():
            assert daemon.alive()
            time.sleep(0.5)
            assert not daemon.alive()  # a poll stuck past the bound: no more pings, systemd restarts us
        assert daemon.alive()
    finally:
        daemon.stop()
        monitor.close()
