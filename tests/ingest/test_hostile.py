"""Hostile feed servers, on real local servers (127.0.0.1 only), through the real pipeline and event log.

Each misbehaviour gives its event and reason code, and a good feed polled in the same cycle is polled as
usual. The last test runs the real scheduler with hanging feeds and checks that a good feed stays on time.
"""

from __future__ import annotations

import datetime as dt
import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import brotli
import pytest
from sqlalchemy import select

from monitor.config import load_config
from monitor.daemon.run import run_daemon
from monitor.pipeline import Monitor, PollOutcome
from monitor.views.tables import feed_state
from storage.eventlog import RecordedEvent
from tests.builders import hourly_rss, recent_rss
from tests.ingest.test_fetch import RawServer, gzip_bomb, raw_server, read_request  # noqa: F401 - raw_server is a fixture
from tests.ingest.test_polling import Site

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


# Items as (guid, title), the newest at NOW; links are base/<guid>.html.
rss = functools.partial(recent_rss, newest=NOW, title="Hostile")


@pytest.fixture
def sites() -> Iterator[Callable[[], Site]]:
    made: list[Site] = []

    def make() -> Site:
        made.append(Site())
        return made[-1]

    yield make
    for site in made:
        site.close()


@pytest.fixture
def poll(write_config: Callable[..., Path]) -> Iterator[Callable[..., tuple[dict[str, PollOutcome], Monitor]]]:
    """Poll the given feeds (name -> url) once, with a good feed beside them; returns outcomes by feed."""
    monitors: list[Monitor] = []
    good = Site()

    def run(feeds: dict[str, str], *, reuse: Monitor | None = None, scheduler: dict[str, Any] | None = None,
            interval: str = "adaptive", **network: Any) -> tuple[dict[str, PollOutcome], Monitor]:
        good.route("/good.xml", hourly_rss(good.base, 3, NOW, "good"))
        monitor = reuse
        if monitor is None:
            path = write_config([{"name": name, "url": url, "fetch_full_text": False, "interval": interval}
                                 for name, url in feeds.items()]
                                + [{"name": "good", "url": f"{good.base}/good.xml", "fetch_full_text": False}],
                                scheduler=scheduler, **network)
            monitor = Monitor(load_config(path))
            monitors.append(monitor)
        outcomes = {o.feed: o for o in monitor.poll()}
        assert outcomes["good"].status in ("ok", "not_modified"), outcomes["good"]
        return outcomes, monitor

    yield run
    for monitor in monitors:
        monitor.close()
    good.close()


def events(monitor: Monitor, *types: str) -> list[RecordedEvent]:
    return list(monitor.log.read(types=list(types) or None))


def state(monitor: Monitor, name: str) -> dict[str, Any]:
    with monitor.log.engine.connect() as conn:
        return dict(conn.execute(select(feed_state).where(feed_state.c.feed == name)).mappings().one())


def failure(monitor: Monitor, name: str) -> dict[str, Any]:
    [event] = [e for e in events(monitor, "FeedFailed") if e.data["feed"] == name]
    return event.data


# -- status codes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(404, "http_404"), (500, "http_500"), (410, "http_410")])
def test_error_statuses_are_feed_failures_with_their_code(sites, poll, status: int, reason: str) -> None:
    site = sites()
    site.route("/feed.xml", "gone or broken", status=status, content_type="text/plain")
    outcomes, monitor = poll({"bad": f"{site.base}/feed.xml"})
    assert (outcomes["bad"].status, outcomes["bad"].reason) == ("failed", reason)
    data = failure(monitor, "bad")
    assert (data["reason"], data["http_status"]) == (reason, status)
    row = state(monitor, "bad")
    if status == 410:  # gone: it stays in the status, and is only checked again once per max_backoff (6h)
        assert row["status"] == "gone" and data["schedule"] == "gone" and data["interval"] == 6 * 3600
    else:
        assert row["status"] == "failing" and data["schedule"] == "backoff"


@pytest.mark.parametrize(("status", "retry_after", "seconds"), [
    (503, "120", 120.0),
    (429, "300", 300.0),
    (429, "date", 900.0),  # the HTTP-date form, 900 s from now
])
def test_retry_after_is_honoured(sites, poll, status: int, retry_after: str, seconds: float) -> None:
    if retry_after == "date":
        retry_after = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds), usegmt=True)
    site = sites()
    site.route("/feed.xml", "slow down", status=status, content_type="text/plain", **{"Retry-After": retry_after})
    polled_at = dt.datetime.now(dt.UTC)  # not the module's NOW: a slow run may reach this test minutes later
    outcomes, monitor = poll({"busy": f"{site.base}/feed.xml"}, interval="1m")  # the backoff alone: 1 minute
    data = failure(monitor, "busy")
    assert data["reason"] == f"http_{status}" and data["schedule"] == "retry-after"
    assert data["retry_after"] == pytest.approx(seconds, abs=5)
    wait = (outcomes["busy"].next_poll_at - polled_at).total_seconds()
    assert seconds - 5 <= wait <= seconds + 0.1 * seconds + 10  # not before; jitter at most 10%; test slack


# -- connections -------------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused(poll) -> None:
    outcomes, _ = poll({"down": f"http://127.0.0.1:{closed_port()}/feed.xml"})
    assert outcomes["down"].reason == "connection_refused"


def test_reset_in_the_middle_of_the_body(raw_server, poll) -> None:  # noqa: F811 - the imported fixture
    def reset(conn: socket.socket, _stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n"
                     + b"<rss version='2.0'><channel><title>cut</title>" + b" " * 1000)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close

    raw = raw_server(reset)
    outcomes, _ = poll({"reset": raw.url})
    assert outcomes["reset"].reason == "connection_error"


def test_slow_drip_past_the_read_timeout_does_not_hold_up_the_good_feed(raw_server, poll) -> None:  # noqa: F811
    def drip(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss")
        while not stop.wait(3):  # a byte every 3 s: past the 2 s read timeout
            conn.sendall(b" ")

    raw = raw_server(drip)
    started = time.monotonic()
    outcomes, monitor = poll({"drip": raw.url})
    assert outcomes["drip"].reason == "timeout"
    assert time.monotonic() - started < 10
    good = [e for e in events(monitor, "FeedPolled") if e.data["feed"] == "good"]
    assert good and good[0].data["duration"] < 2  # polled beside it, not after it


# -- sizes and bombs -----------------------------------------------------------------------------------------


def test_a_20_mb_body(sites, poll) -> None:
    site = sites()
    site.route("/huge.xml", b"<rss>" + b" " * (20 * 1024 * 1024))
    outcomes, _ = poll({"huge": f"{site.base}/huge.xml"})
    assert outcomes["huge"].reason == "too_large"


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_decompression_bombs(sites, poll, encoding: str) -> None:
    site = sites()
    inflated = 64 * 1024 * 1024
    body = gzip_bomb(inflated) if encoding == "gzip" else brotli.compress(bytes(inflated), quality=5)
    assert len(body) < 200_000  # small on the wire
    site.route("/bomb.xml", body, **{"Content-Encoding": encoding})
    started = time.monotonic()
    outcomes, _ = poll({"bomb": f"{site.base}/bomb.xml"}, max_decompressed_size="5MB")
    assert outcomes["bomb"].reason == "too_large" and "decompresses" in outcomes["bomb"].message
    assert time.monotonic() - started < 10


# -- redirects and the address guard ---------------------------------------------------------------------------


def test_a_redirect_loop(sites, poll) -> None:
    site = sites()
    site.route("/a.xml", "", status=302, Location=f"{site.base}/b.xml")
    site.route("/b.xml", "", status=302, Location=f"{site.base}/a.xml")
    outcomes, _ = poll({"loop": f"{site.base}/a.xml"})
    assert outcomes["loop"].reason == "too_many_redirects"


def test_the_private_address_guard_refuses_before_sending_anything(sites, write_config) -> None:
    """The guard on (as by default), against loopback only: no request may reach the server, not even the
    first one that would have redirected elsewhere."""
    site = sites()
    site.route("/redirect.xml", "", status=302, Location=f"{site.base}/inner.xml")
    path = write_config([{"name": "guarded", "url": f"{site.base}/redirect.xml", "fetch_full_text": False},
                         {"name": "by-name", "url": f"http://localhost:{site.base.rsplit(':', 1)[1]}/x.xml"}],
                        allow_private_addresses=False)
    with Monitor(load_config(path)) as monitor:
        outcomes = {o.feed: o for o in monitor.poll()}
    assert outcomes["guarded"].reason == "private_address"
    assert outcomes["by-name"].reason == "private_address"  # a name that resolves to loopback, too
    assert site.requests == []


# -- not feeds ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"<!doctype html><html><head><title>News</title></head><body><p>Welcome</p></body></html>", "text/html",
     "not_a_feed"),
    (b"", "application/rss+xml", "empty_body"),
    (bytes(range(256)) * 40, "application/octet-stream", "not_a_feed"),
])
def test_what_is_not_a_feed(sites, poll, body: bytes, content_type: str, reason: str) -> None:
    site = sites()
    site.route("/feed.xml", body, content_type=content_type)
    outcomes, _ = poll({"odd": f"{site.base}/feed.xml"})
    assert outcomes["odd"].reason == reason


def test_truncated_xml_keeps_the_complete_entries(sites, poll) -> None:
    site = sites()
    whole = rss(site.base, [(f"t{i}", f"Story {i}") for i in range(5)])
    site.route("/feed.xml", whole[:whole.index("<item><title>Story 3")] + "<item><title>Sto")
    outcomes, monitor = poll({"cut": f"{site.base}/feed.xml"})
    assert outcomes["cut"].status == "ok"
    [polled] = [e for e in events(monitor, "FeedPolled") if e.data["feed"] == "cut"]
    assert polled.data["bozo"] is True
    titles = {e.data["title"] for e in events(monitor, "ArticleDiscovered") if e.data["feed"] == "cut"}
    assert {"Story 0", "Story 1", "Story 2"} <= titles


@pytest.mark.parametrize(("body", "header"), [
    # UTF-8 bytes (declared in the XML) under a Latin-1 header.
    (rss("http://x", [("m", "Moscou–Delhi: Lavróv à Delhi")]).encode(), "application/xml; charset=iso-8859-1"),
    # Latin-1 bytes declared as UTF-8 in both the XML and the header.
    (rss("http://x", [("m", "Lavróv à Delhi")]).encode("latin-1"), "application/rss+xml; charset=utf-8"),
])
def test_a_wrong_charset_header_is_survived(sites, poll, body: bytes, header: str) -> None:
    site = sites()
    site.route("/feed.xml", body, content_type=header)
    outcomes, monitor = poll({"charset": f"{site.base}/feed.xml"})
    assert outcomes["charset"].status == "ok" and outcomes["charset"].new_articles == 1
    [article] = [e for e in events(monitor, "ArticleDiscovered") if e.data["feed"] == "charset"]
    assert "Lavr" in article.data["title"] and "Delhi" in article.data["title"]


# -- conditional GET and identity ------------------------------------------------------------------------------


def test_etags_that_flap_add_no_articles(sites, poll) -> None:
    site = sites()
    body = rss(site.base, [("a", "One"), ("b", "Two")])
    site.route("/feed.xml", body, ETag='"1"')
    outcomes, monitor = poll({"flap": f"{site.base}/feed.xml"})
    assert outcomes["flap"].new_articles == 2
    site.route("/feed.xml", body, ETag='"2"')
    outcomes, _ = poll({}, reuse=monitor)
    assert outcomes["flap"].status == "ok" and outcomes["flap"].new_articles == 0
    assert len(events(monitor, "ArticleDiscovered")) == 2 + 3  # and the good feed's three


def test_a_304_without_validators_keeps_the_last_ones(sites, poll) -> None:
    site = sites()
    site.route("/feed.xml", rss(site.base, [("a", "One")]), ETag='"v1"', **{"Last-Modified": "Mon, 01 Jan 2024 "
                                                                                            "00:00:00 GMT"})
    _, monitor = poll({"cond": f"{site.base}/feed.xml"})
    site.route("/feed.xml", b"", status=304)
    outcomes, _ = poll({}, reuse=monitor)
    assert outcomes["cond"].status == "not_modified"
    outcomes, _ = poll({}, reuse=monitor)
    sent = [h for p, h in site.requests if p == "/feed.xml"]
    assert sent[1].get("If-None-Match") == sent[2].get("If-None-Match") == '"v1"'
    assert sent[2].get("If-Modified-Since") == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert state(monitor, "cond")["etag"] == '"v1"'


def test_guids_that_change_on_every_poll_add_no_articles(sites, poll) -> None:
    site = sites()
    site.route("/feed.xml", rss(site.base, [("a", "One"), ("b", "Two")]))
    _, monitor = poll({"guids": f"{site.base}/feed.xml"})
    body = rss(site.base, [("a", "One"), ("b", "Two")]).replace("<guid>a</guid>", "<guid>a-2</guid>")
    site.route("/feed.xml", body.replace("<guid>b</guid>", "<guid>b-2</guid>"))
    outcomes, _ = poll({}, reuse=monitor)
    assert outcomes["guids"].new_articles == 0 and outcomes["guids"].revised == 0


def test_links_that_change_with_the_same_guids_revise_the_articles(sites, poll) -> None:
    site = sites()
    site.route("/feed.xml", rss(site.base, [("a", "One")]))
    _, monitor = poll({"links": f"{site.base}/feed.xml"})
    site.route("/feed.xml", rss(site.base, [("a", "One")]).replace(f"{site.base}/a.html", f"{site.base}/a-v2.html"))
    outcomes, _ = poll({}, reuse=monitor)
    assert outcomes["links"].new_articles == 0 and outcomes["links"].revised == 1
    [revised] = events(monitor, "ArticleRevised")
    assert revised.data["changes"] == ["url"] and revised.data["url"] == f"{site.base}/a-v2.html"
    outcomes, _ = poll({}, reuse=monitor)  # the same again: nothing new
    assert outcomes["links"].revised == 0 and len(events(monitor, "ArticleRevised")) == 1


def test_an_entry_whose_content_changes_is_revised_not_duplicated(sites, poll) -> None:
    site = sites()
    site.route("/feed.xml", rss(site.base, [("a", "Talks begin")]))
    _, monitor = poll({"edits": f"{site.base}/feed.xml"})
    site.route("/feed.xml", rss(site.base, [("a", "Talks begin")]).replace("About Talks begin.", "Updated text."))
    outcomes, _ = poll({}, reuse=monitor)
    assert outcomes["edits"].revised == 1 and outcomes["edits"].new_articles == 0
    site.route("/feed.xml", rss(site.base, [("a", "Talks end")]))
    poll({}, reuse=monitor)
    changes = [e.data["changes"] for e in events(monitor, "ArticleRevised")]
    assert changes == [["content"], ["title"]]
    revised = events(monitor, "ArticleRevised")[0].data
    assert revised["text"] and "Updated text." in revised["text"]  # fetch_full_text = false: the feed's text
    assert len([e for e in events(monitor, "ArticleDiscovered") if e.data["feed"] == "edits"]) == 1


# -- moves ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "moves"), [(301, True), (308, True), (302, False), (307, False)])
def test_permanent_redirects_move_the_feed_and_temporary_ones_do_not(sites, poll, status: int, moves: bool) -> None:
    site = sites()
    site.route("/old.xml", "", status=status, Location=f"{site.base}/new.xml")
    site.route("/new.xml", rss(site.base, [("a", "One")]))
    outcomes, monitor = poll({"moving": f"{site.base}/old.xml"})
    assert outcomes["moving"].status == "ok"
    moved = events(monitor, "FeedMoved")
    if moves:
        assert [(m.data["reason"], m.data["to_url"], m.data["http_status"]) for m in moved] == [
            ("permanent_redirect", f"{site.base}/new.xml", status)]
    else:
        assert moved == []
    poll({}, reuse=monitor)
    old_requests = [p for p, _ in site.requests if p == "/old.xml"]
    assert len(old_requests) == (1 if moves else 2)


def test_an_html_page_that_links_to_its_feed_is_followed_once(sites, poll) -> None:
    site = sites()
    site.route("/", '<html><head><link rel="alternate" type="application/rss+xml" title="RSS" href="/real.xml">'
                    "</head><body>News</body></html>", content_type="text/html")
    site.route("/real.xml", rss(site.base, [("a", "One"), ("b", "Two")]))
    outcomes, monitor = poll({"site": f"{site.base}/"})
    assert outcomes["site"].status == "ok" and outcomes["site"].new_articles == 2
    [moved] = events(monitor, "FeedMoved")
    assert (moved.data["reason"], moved.data["from_url"], moved.data["to_url"]) == (
        "autodiscovery", f"{site.base}/", f"{site.base}/real.xml")
    poll({}, reuse=monitor)
    assert [p for p, _ in site.requests].count("/") == 1 and state(monitor, "site")["current_url"].endswith("/real.xml")


# -- recovery ----------------------------------------------------------------------------------------------------


def test_backoff_doubles_and_recovery_resets_it(sites, poll) -> None:
    site = sites()
    site.route("/feed.xml", "down", status=500, content_type="text/plain")
    _, monitor = poll({"flaky": f"{site.base}/feed.xml"})
    poll({}, reuse=monitor)
    waits = [e.data["interval"] for e in events(monitor, "FeedFailed")]
    assert len(waits) == 2 and waits[1] == 2 * waits[0]
    assert state(monitor, "flaky")["consecutive_failures"] == 2
    site.route("/feed.xml", rss(site.base, [("a", "Back")]))
    outcomes, _ = poll({}, reuse=monitor)
    row = state(monitor, "flaky")
    assert outcomes["flaky"].status == "ok" and row["consecutive_failures"] == 0 and row["status"] == "ok"


# -- the schedule keeps the good feed on time ----------------------------------------------------------------------


def test_the_good_feed_stays_on_time_while_hostile_feeds_hang(sites, raw_server, write_config) -> None:  # noqa: F811
    good = sites()
    good.route("/good.xml", hourly_rss(good.base, 3, NOW, "good"))

    def hang(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        stop.wait(4)  # silent for 4 s: the 2 s read timeout fires first

    hostile = [raw_server(hang), raw_server(hang)]
    path = write_config(
        [{"name": "good", "url": f"{good.base}/good.xml", "interval": "1s", "fetch_full_text": False}]
        + [{"name": f"hang-{i}", "url": raw.url, "interval": "1s", "fetch_full_text": False}
           for i, raw in enumerate(hostile)],
        scheduler={"max_workers": 2, "min_interval": "1s", "jitter": "0"})
    stop = threading.Event()
    with Monitor(load_config(path)) as monitor:
        runner = threading.Thread(target=run_daemon, args=(monitor, stop))
        runner.start()
        time.sleep(8)
        stop.set()
        runner.join(20)
        polled = [e.occurred_at for e in events(monitor, "FeedPolled") if e.data["feed"] == "good"]
        failed = [e.data["reason"] for e in events(monitor, "FeedFailed")]
    assert not runner.is_alive()
    assert len(polled) >= 5, polled
    gaps = [(b - a).total_seconds() for a, b in zip(polled, polled[1:], strict=False)]
    assert max(gaps) < 2.5, gaps
    assert failed and set(failed) == {"timeout"}
