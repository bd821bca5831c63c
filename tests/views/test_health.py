"""``news-monitor health`` and monitor.views.health: a good, a stalled and a stopped daemon, views behind, an
unreachable log (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config import load_config
from monitor.events import catalogue as ev
from monitor.pipeline import Monitor
from monitor.views.health import check_health
from monitor.views.log import open_log
from tests.builders import cli, one_line, rss

IDENTITY = {"version": "0.1.0", "config_version": "abc"}


@pytest.fixture
def polled(httpserver: HTTPServer, write_config: Callable[..., Path]) -> Path:
    """A config whose one feed (interval 1h) has been polled once: it is next due in about an hour."""
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(base, [
        ("other", "Monsoon rains arrive early", "2025-06-01")]), content_type="application/rss+xml")
    httpserver.expect_request("/articles/other.html").respond_with_data("", status=404)
    path = write_config([{"name": "local", "url": f"{base}/feed.xml", "interval": "1h"}])
    with Monitor(load_config(path)) as monitor:
        monitor.poll()
    return path


def _append(path: Path, *events: ev.NewEvent) -> None:
    log = open_log(load_config(path))
    try:
        log.append(list(events))
    finally:
        log.close()


def _check(path: Path, **kwargs: object) -> object:
    config = load_config(path)
    log = open_log(config)
    try:
        return check_health(config, log, **kwargs)
    finally:
        log.close()


def test_health_of_a_good_a_stalled_and_a_stopped_daemon(polled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "health", config=polled)
    assert code == 1 and err.strip() == "unhealthy: no daemon has started on this log (news-monitor run)"
    code, out, _ = cli(capsys, "health", "--no-daemon", config=polled)
    assert code == 0 and out.strip() == "the log is reachable and the views are caught up"

    now = dt.datetime.now(dt.UTC)
    _append(polled, ev.daemon_started("run-1", now, {**IDENTITY, "feeds": 1}))
    code, out, err = cli(capsys, "health", config=polled)
    assert code == 0 and out.startswith("ok: daemon running since ") and not err
    # Idle is not stalled: with the feed due in an hour, 50 minutes of silence is fine.
    assert _check(polled, now=now + dt.timedelta(minutes=50)).ok
    # Past its due time by more than the bound, nothing recorded: the daemon stalled (or died unannounced).
    stalled = _check(polled, now=now + dt.timedelta(hours=2))
    assert not stalled.ok and stalled.checks["daemon"] == "stalled"
    assert stalled.reason.startswith("the daemon looks stalled: feed local was due at ")
    assert _check(polled, now=now + dt.timedelta(hours=2), max_overdue=7200.0).ok

    _append(polled, ev.daemon_stopped("run-1", now + dt.timedelta(seconds=5), {**IDENTITY, "reason": "SIGTERM"}))
    code, _, err = cli(capsys, "health", config=polled)
    assert code == 1 and one_line(err, prefix="") .startswith("unhealthy: the daemon stopped at ")
    assert err.strip().endswith("(SIGTERM)")
    # A new run is the one that counts.
    _append(polled, ev.daemon_started("run-2", now + dt.timedelta(seconds=10), IDENTITY))
    assert _check(polled).ok


def test_a_feed_never_polled_is_due_when_the_daemon_started(polled: Path, httpserver: HTTPServer,
                                                            write_config: Callable[..., Path]) -> None:
    now = dt.datetime.now(dt.UTC)
    _append(polled, ev.daemon_started("run-1", now, IDENTITY))
    base = httpserver.url_for("").rstrip("/")
    more = write_config([{"name": "local", "url": f"{base}/feed.xml", "interval": "1h"},
                         {"name": "new", "url": f"{base}/new.xml", "interval": "1h"}])
    assert _check(more, now=now + dt.timedelta(minutes=5)).ok
    late = _check(more, now=now + dt.timedelta(minutes=11))
    assert not late.ok and "feed new was due at" in late.reason


def test_views_behind_the_log_are_unhealthy(polled: Path) -> None:
    # Appended without a catch-up: the review views have one event to apply (the daemon's own is read by none).
    now = dt.datetime.now(dt.UTC)
    _append(polled, ev.daemon_started("run-1", now, IDENTITY))
    assert _check(polled, max_view_lag=0).ok
    _append(polled, ev.digest_reviewed(1, now, source="cli"))
    assert _check(polled).ok
    behind = _check(polled, max_view_lag=0)
    assert not behind.ok and behind.checks["view_lag"] == 1
    assert behind.reason.startswith("the views are behind the log: review") and behind.reason.endswith(
        "by 1 events (bound 0)")


def test_an_unreachable_log_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "monitor.toml"
    config.write_text(f'[storage]\nurl = "postgresql+psycopg://nobody@127.0.0.1:{port}/none"\n', encoding="utf-8")
    code, out, err = cli(capsys, "health", config=config)
    assert code == 1 and not out and len(err.strip().splitlines()) == 1
    assert err.startswith("unhealthy: the event log cannot be opened: ") and "Traceback" not in err
