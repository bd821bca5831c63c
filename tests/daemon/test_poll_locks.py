"""A feed's poll lock (storage.queue.PollLocks) on the real PostgreSQL: one session per feed polls it.

A worker whose heartbeat goes quiet while its poll still runs has that job retried by another worker (the
takeover). The retry must not poll the feed a second time while the first poll runs: the feed's session lock
is held by the first worker, so the retry leaves the feed to it. The lock goes with its session, so a worker
that is really dead (its backend terminated) holds nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.config import load_config
from monitor.daemon.workers import Fleet, feed_lock
from monitor.events import catalogue as ev
from monitor.pipeline import Monitor
from storage.eventlog import EventLog
from storage.queue import PollLocks
from tests.builders import config_text
from tests.daemon.fleet import Site
from tests.daemon.test_workers import wait_for


@pytest.mark.postgres
def test_a_feed_lock_is_held_by_one_session_and_goes_with_it(postgres_url: str) -> None:
    log = EventLog.open(postgres_url, migrate=True)
    first, second = PollLocks(log.engine, 2), PollLocks(log.engine, 2)
    try:
        with first.hold("feed:a") as ours:
            assert ours
            with second.hold("feed:a") as theirs, second.hold("feed:b") as other:
                assert not theirs and other  # one feed's lock, not every feed's
        with second.hold("feed:a") as ours:
            assert ours  # let go at the end of the block
        # A worker that is gone: its session ends (terminated by the server), and its locks with it.
        with first.hold("feed:a") as ours:
            assert ours
            with log.engine.begin() as conn:
                pids = conn.scalars(text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = :c "
                    "AND objid::bigint = (hashtext(current_schema() || '/feed:a')::bigint & 4294967295)"),
                    {"c": 0x6E6D_7702}).all()
                assert len(pids) == 1
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
            # pg_terminate_backend only signals: the session (and its lock) is gone once its backend has exited.
            # A transaction sees one snapshot of pg_stat_activity, so each look is a connection of its own.
            def exited() -> bool:
                with log.engine.connect() as look:
                    return not look.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                                           {"p": pids[0]})

            assert wait_for(exited, 10)
            with second.hold("feed:a") as theirs:
                assert theirs
    finally:
        first.close()
        second.close()
        log.close()


@pytest.mark.postgres
def test_a_retried_poll_leaves_the_feed_to_the_worker_still_polling_it(postgres_url: str, tmp_path: Path) -> None:
    site = Site(1, every=3600.0)
    config = tmp_path / "monitor.toml"
    config.write_text(config_text(postgres_url, [{"name": "f0", "url": site.url(0), "interval": "1h",
                                                  "fetch_full_text": False}], scheduler={"jitter": "0"}),
                      encoding="utf-8")
    monitor = Monitor(load_config(config))
    fleet = Fleet(monitor, app=None)
    fleet.poll_locks = PollLocks(monitor.log.engine, 2)
    elsewhere = PollLocks(monitor.log.engine, 1)  # the quiet worker, still polling f0
    due = dt.datetime.now(dt.UTC).isoformat()
    try:
        with elsewhere.hold(feed_lock("f0")) as held:
            assert held
            fleet.poll("f0", due, False)
            assert not site.hits and not list(monitor.log.read(types=[ev.FEED_POLLED]))
        fleet.poll("f0", due, False)  # the lock is free: this worker polls it
        assert len(site.hits[0]) == 1 and len(list(monitor.log.read(types=[ev.FEED_POLLED]))) == 1
        fleet.poll("f0", due, False)  # the same job again (a retry after the poll ended): polled since planned
        assert len(site.hits[0]) == 1
    finally:
        fleet.poll_locks.close()
        elsewhere.close()
        monitor.close()
        site.close()


@pytest.mark.postgres
def test_a_worker_polls_with_the_validators_of_a_poll_its_views_have_not_caught_up_with(
        postgres_url: str, tmp_path: Path) -> None:
    """A worker's poll does not catch the views up (the tick does, and a first cycle keeps them seconds behind).
    A forced poll right after another poll of the feed must still send that poll's ETag and get a 304: in the
    scale-out benchmark a feed whose view lagged was fetched whole and never answered its steady cycle's 304."""
    from http.server import BaseHTTPRequestHandler

    from tests.daemon.fleet import serve

    asked: list[str | None] = []
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>http://127.0.0.1/</link>'
            b"<description>d</description><item><title>One</title><link>http://127.0.0.1/a/1</link>"
            b"<guid>urn:1</guid></item></channel></rss>")

    def handle(request: BaseHTTPRequestHandler) -> None:
        asked.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            request.send_response(304)
            request.send_header("ETag", '"v1"')
            request.end_headers()
            return
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("ETag", '"v1"')
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    server, base = serve(handle)
    config = tmp_path / "monitor.toml"
    config.write_text(config_text(postgres_url, [{"name": "f0", "url": f"{base}/feed.xml", "interval": "1h",
                                                  "fetch_full_text": False}], scheduler={"jitter": "0"}),
                      encoding="utf-8")
    monitor = Monitor(load_config(config))
    fleet = Fleet(monitor, app=None)
    try:
        fleet.poll("f0", dt.datetime.now(dt.UTC).isoformat(), False)
        fleet.poll("f0", dt.datetime.now(dt.UTC).isoformat(), True)  # forced (a config change), views behind
        assert asked == [None, '"v1"']
        statuses = [e.data["status"] for e in monitor.log.read(types=[ev.FEED_POLLED])]
        assert statuses == ["ok", "not_modified"]
    finally:
        monitor.close()
        server.shutdown()
        server.server_close()
