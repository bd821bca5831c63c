"""Scheduled digests: the slot a cron schedule fired for, one DigestIssued per slot, windows that follow each
other, files written, channels sent to (a real local webhook receiver), failures retried and recorded,
interrupted deliveries resumed. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import feedparser
import pytest
from apscheduler.triggers.cron import CronTrigger
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.daemon.jobs import DAEMONS, DIGEST_EXECUTOR, DIGEST_JOB, digest_job
from monitor.daemon.run import Daemon, build_scheduler
from monitor.digest import notify
from monitor.digest.publish import digest_id, issue_digest, last_slot, resume_deliveries, trigger
from monitor.events import catalogue as ev
from monitor.pipeline import Monitor
from tests.builders import config_for
from tests.seeding import T0, Story, add, open_seeded

SECRET = "s3cret-for-tests"
SLOT = dt.datetime(2025, 12, 5, 8, 0, tzinfo=dt.UTC)
FIRST = [
    Story("summit-preview", "Putin to visit New Delhi for the annual summit",
          "Putin will visit New Delhi on December 4 for the annual summit with Modi.", feed="feed-a"),
    Story("lavrov-jaishankar", "Jaishankar holds talks with Lavrov in Moscow",
          "Jaishankar held talks with Lavrov in Moscow ahead of the summit.", feed="feed-b",
          published=T0 - dt.timedelta(days=17)),
]
LATER = Story("state-visit-outcome", "Modi and Putin sign agreements in New Delhi",
              "Modi and Putin signed agreements in New Delhi on December 5.", published=T0 + dt.timedelta(days=1))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(("schedule", "zone", "now", "slot"), [
    ("0 8 * * *", "UTC", "2026-12-02T08:00:30", "2026-12-02T08:00:00"),  # the job runs a little late
    ("0 8 * * *", "UTC", "2026-12-02T07:59:59", "2026-12-01T08:00:00"),
    ("*/15 * * * *", "UTC", "2026-12-02T10:31:00", "2026-12-02T10:30:00"),
    ("0 8 * * *", "Asia/Kolkata", "2026-12-02T03:00:00", "2026-12-02T02:30:00"),  # 08:00 IST is 02:30 UTC
    ("0 9 * * mon", "UTC", "2026-12-02T12:00:00", "2026-11-30T09:00:00"),  # a Wednesday: Monday's slot
    ("0 0 1 1 *", "UTC", "2026-12-02T12:00:00", "2026-01-01T00:00:00"),
])
def test_the_slot_is_the_latest_time_the_schedule_fired(schedule: str, zone: str, now: str, slot: str) -> None:
    cron = CronTrigger.from_crontab(schedule, timezone=zone)
    assert last_slot(cron, utc(now)) == utc(slot)


@pytest.fixture
def receiver(httpserver: HTTPServer) -> list[Request]:
    """A webhook receiver on 127.0.0.1 that keeps every request it gets."""
    received: list[Request] = []

    def handle(request: Request) -> Response:
        received.append(request)
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    return received


def digest_config(database_url: str, tmp_path: Path, httpserver: HTTPServer, **digest: object):
    return config_for(database_url, tmp_path, digest={
        "schedule": "0 8 * * *", "output_dir": str(tmp_path / "digests"), "retry_delay": "1s",
        "formats": ["html", "markdown", "json", "atom", "text"],
        "channels": [{"type": "webhook", "name": "hook", "url": httpserver.url_for("/hook"), "secret": SECRET}],
        **digest})


def test_a_slot_is_issued_once_written_in_every_format_and_sent_signed(
        database_url: str, tmp_path: Path, httpserver: HTTPServer, receiver: list[Request]) -> None:
    config = digest_config(database_url, tmp_path, httpserver)
    log = open_seeded(config, FIRST)
    try:
        issued = issue_digest(config, log, SLOT, clock=lambda: SLOT)
        again = issue_digest(config, log, SLOT, clock=lambda: SLOT)  # another worker, or a restart

        assert issued.recorded and not again.recorded
        [event] = list(log.read(types=[ev.DIGEST_ISSUED]))
        assert event.key == "DigestIssued:2025-12-05T08:00:00Z" and event.stream == "digest:2025-12-05T08:00:00Z"
        assert event.data["mentions"] == 2 and event.data["channels"] == ["hook"]
        assert {i["article_id"] for i in event.data["items"]} == {s.article_id for s in FIRST}
        assert event.data["after_position"] == 0 and event.data["up_to_position"] == log.last_position() - 2

        files = {fmt: Path(path) for fmt, path in event.data["files"].items()}
        assert set(files) == {"html", "markdown", "json", "atom", "text"}
        assert all(path.parent == tmp_path / "digests" and path.stat().st_size > 0 for path in files.values())
        document = json.loads(files["json"].read_text(encoding="utf-8"))
        assert {i["url"] for i in document["items"]} == {s.url for s in FIRST}
        atom = feedparser.parse(files["atom"].read_bytes())
        assert not atom.bozo and {e.link for e in atom.entries} == {s.url for s in FIRST}
        assert "Putin to visit New Delhi" in files["html"].read_text(encoding="utf-8")

        assert len(receiver) == 1  # sent once, by the worker that recorded the slot
        request = receiver[0]
        body = request.get_data()
        sent_at = SLOT.timestamp()  # the injected clock dates the signature
        assert notify.verify(SECRET, dict(request.headers), body, now=sent_at)
        assert not notify.verify("another secret", dict(request.headers), body, now=sent_at)
        assert {i["url"] for i in json.loads(body)["items"]} == {s.url for s in FIRST}
        [delivered] = list(log.read(types=[ev.DIGEST_DELIVERED]))
        assert delivered.data["channel"] == "hook" and delivered.data["attempts"] == 1
    finally:
        log.close()


def test_each_digest_holds_what_came_after_the_previous_one(
        database_url: str, tmp_path: Path, httpserver: HTTPServer, receiver: list[Request]) -> None:
    config = digest_config(database_url, tmp_path, httpserver)
    log = open_seeded(config, FIRST)
    try:
        first = issue_digest(config, log, SLOT, clock=lambda: SLOT)
        add(log, [LATER])
        second = issue_digest(config, log, SLOT + dt.timedelta(days=1), clock=lambda: SLOT)
        third = issue_digest(config, log, SLOT + dt.timedelta(days=2), clock=lambda: SLOT)

        assert [i["article_id"] for i in second.digest.items] == [LATER.article_id]
        assert second.digest.after_position == first.digest.up_to_position
        assert third.digest.items == []
        issued = [e.data for e in log.read(types=[ev.DIGEST_ISSUED])]
        assert [d["mentions"] for d in issued] == [2, 1, 0]
        assert issued[2]["channels"] == []  # an empty digest is not sent unless send_empty
        assert len(receiver) == 2
    finally:
        log.close()


def test_a_failing_channel_is_retried_and_recorded_and_the_digest_still_issued(
        database_url: str, tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("down", status=503)
    config = digest_config(database_url, tmp_path, httpserver, retries=2)
    log = open_seeded(config, FIRST)
    waits: list[float] = []
    try:
        issued = issue_digest(config, log, SLOT, clock=lambda: SLOT, sleep=waits.append)
        assert issued.recorded and Path(issued.files["html"]).exists()
        failures = [e.data for e in log.read(types=[ev.DIGEST_DELIVERY_FAILED])]
        assert [(f["attempt"], f["reason"], f["final"]) for f in failures] == [
            (1, "http_503", False), (2, "http_503", False), (3, "http_503", True)]
        assert waits == [1.0, 2.0]  # retry_delay, doubled
        assert list(log.read(types=[ev.DIGEST_DELIVERED])) == []
        assert SECRET not in json.dumps(failures)
    finally:
        log.close()


def test_a_delivery_that_a_stop_interrupted_is_resumed_once(
        database_url: str, tmp_path: Path, httpserver: HTTPServer, receiver: list[Request]) -> None:
    config = digest_config(database_url, tmp_path, httpserver)
    log = open_seeded(config, FIRST)
    try:
        issue_digest(config, log, SLOT, clock=lambda: SLOT, send=False)  # recorded, then the process stopped
        assert receiver == []
        assert resume_deliveries(config, log, clock=lambda: SLOT) == 1
        assert len(receiver) == 1 and json.loads(receiver[0].get_data())["counts"]["mentions"] == 2
        assert resume_deliveries(config, log, clock=lambda: SLOT) == 0
        assert len(list(log.read(types=[ev.DIGEST_DELIVERED]))) == 1
    finally:
        log.close()


def test_the_daemon_schedules_digests_on_a_worker_of_their_own(
        database_url: str, tmp_path: Path, httpserver: HTTPServer, receiver: list[Request]) -> None:
    config = digest_config(database_url, tmp_path, httpserver, timezone="Asia/Kolkata")
    add_log = open_seeded(config, FIRST)
    add_log.close()
    monitor = Monitor(config, clock=lambda: dt.datetime(2025, 12, 5, 2, 31, tzinfo=dt.UTC))
    daemon = Daemon(monitor)  # registered under its name, as run_daemon's is
    try:
        jobs = build_scheduler(monitor, daemon.name)
        job = jobs.get_job(DIGEST_JOB)
        assert job is not None and job.executor == DIGEST_EXECUTOR and job.args == (daemon.name,)
        assert str(job.trigger) == str(trigger(config))
        digest_job(daemon.name)  # as the scheduler calls it
        [issued] = list(monitor.log.read(types=[ev.DIGEST_ISSUED]))
        assert issued.data["digest_id"] == digest_id(dt.datetime(2025, 12, 5, 2, 30, tzinfo=dt.UTC))
        assert len(receiver) == 1
    finally:
        DAEMONS.unregister(daemon.name)
        monitor.close()


def test_a_hanging_channel_never_holds_up_a_poll(database_url: str, tmp_path: Path, httpserver: HTTPServer) -> None:
    """The real scheduler: while the digest's webhook hangs, a feed due meanwhile is still polled."""
    import http.server
    import threading
    import time

    from tests.builders import rss

    arrived, release = threading.Event(), threading.Event()

    class Hanging(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.set()
            release.wait(20)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(base, [("other", "Monsoon rains arrive early", "2025-06-01")]), content_type="application/rss+xml")
    config = config_for(database_url, tmp_path, network={"allow_private_addresses": True},
                        scheduler={"max_workers": 1, "jitter": "0"},
                        feeds=[{"name": "local", "url": f"{base}/feed.xml", "interval": "1h",
                                "fetch_full_text": False}],
                        digest={"schedule": "0 8 * * *", "output_dir": str(tmp_path / "digests"),
                                "channels": [{"type": "webhook", "url": f"http://127.0.0.1:{hook.server_port}/h",
                                              "timeout": "30s"}]})
    open_seeded(config, FIRST).close()
    monitor = Monitor(config)
    daemon = Daemon(monitor)
    jobs = daemon.schedule()  # built, not started
    feeds = daemon.dispatcher
    assert feeds is not None
    try:
        assert feeds.move("local", dt.datetime.now(dt.UTC) + dt.timedelta(days=1))  # waits until the digest hangs
        jobs.start()
        feeds.start()
        jobs.modify_job(DIGEST_JOB, next_run_time=dt.datetime.now(dt.UTC))
        assert arrived.wait(15), "the digest was not sent"
        assert feeds.move("local", dt.datetime.now(dt.UTC))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list(monitor.log.read(types=[ev.FEED_POLLED])):
            time.sleep(0.1)
        polled = list(monitor.log.read(types=[ev.FEED_POLLED]))
        assert polled and not list(monitor.log.read(types=[ev.DIGEST_DELIVERED]))  # polled while it hung
        release.set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not list(monitor.log.read(types=[ev.DIGEST_DELIVERED])):
            time.sleep(0.1)
        assert len(list(monitor.log.read(types=[ev.DIGEST_DELIVERED]))) == 1
    finally:
        release.set()
        feeds.stop()
        jobs.shutdown(wait=True)
        DAEMONS.unregister(daemon.name)
        monitor.close()
        hook.shutdown()


def test_the_cli_issues_a_digest_now_and_refuses_filters_with_it(
        database_url: str, tmp_path: Path, httpserver: HTTPServer, receiver: list[Request],
        capsys: pytest.CaptureFixture[str]) -> None:
    import tomlkit

    from monitor.cli import main

    config = digest_config(database_url, tmp_path, httpserver)
    open_seeded(config, FIRST).close()
    path = tmp_path / "monitor.toml"
    path.write_text(tomlkit.dumps({
        "storage": {"url": database_url, "auto_migrate": True},
        "digest": {"output_dir": str(tmp_path / "out"), "formats": ["markdown"], "channels": [
            {"type": "webhook", "name": "hook", "url": httpserver.url_for("/hook"), "secret": SECRET}]}}),
        encoding="utf-8")

    assert main(["--config", str(path), "digest", "--issue"]) == 0
    out = capsys.readouterr().out
    assert "2 mention(s) in 2 stories" in out and "hook: delivered" in out
    [written] = list((tmp_path / "out").glob("digest-*.md"))
    assert "Putin to visit New Delhi" in written.read_text(encoding="utf-8")
    assert len(receiver) == 1

    assert main(["--config", str(path), "digest", "--issue", "--feed", "feed-a"]) == 1
    assert "--issue: an issued digest holds every mention since the last one; it cannot be combined with --feed" \
        in " ".join(capsys.readouterr().err.split())
