"""run's dispatcher (#19): one due-time table for every feed, a bounded pool, one poll of a feed at a time, a
reload that reaches a feed in flight, and views that a rebuild reproduces. Real server, real log."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.config import load_config
from monitor.daemon.dispatch import DueTable
from monitor.daemon.run import Daemon
from monitor.pipeline import Monitor
from monitor.views.projections import Projections
from monitor.views.reducers import VIEWS
from tests.builders import hourly_rss
from tests.ingest.test_polling import Site, site  # noqa: F401 - the fixture

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_the_due_table_takes_the_earliest_first_and_follows_moves() -> None:
    table = DueTable({"a": at(30), "b": at(10), "c": at(20), "d": at(90)})
    assert table.earliest() == at(10)
    table.set("d", at(5))  # moved earlier: its old entry is stale
    table.set("c", at(60))  # moved later
    table.remove("b")
    assert table.take(at(40)) == [("d", at(5)), ("a", at(30))]
    assert table.times() == {"c": at(60)} and "a" not in table and len(table) == 1
    table.set("a", at(0))
    table.set("e", at(1))
    # At most ``limit``, and a feed ``skip`` refuses stays for later.
    assert table.take(at(100), limit=1, skip=lambda name: name == "a") == [("e", at(1))]
    assert table.take(at(100)) == [("a", at(0)), ("c", at(60))]
    assert table.earliest() is None and table.take(at(1000)) == []
    # Many moves of one feed leave one live entry (the heap is rebuilt when stale entries pile up).
    for i in range(1000):
        table.set("x", at(i))
    assert len(table._heap) <= 2 * len(table) + 64
    assert table.take(at(10_000)) == [("x", at(999))]


def polls(monitor: Monitor) -> dict[str, list[tuple[dt.datetime, float]]]:
    """Each feed's polls: when each began and how long it took."""
    by_feed: dict[str, list[tuple[dt.datetime, float]]] = {}
    for event in monitor.log.read(types=["FeedPolled", "FeedFailed"]):
        by_feed.setdefault(event.data["feed"], []).append((event.occurred_at, event.data.get("duration", 0.0)))
    return by_feed


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_every_due_feed_is_polled_max_workers_at_a_time_and_never_twice_at_once(
        site: Site, write_config: Callable[..., Path]) -> None:  # noqa: F811 - the fixture
    now = dt.datetime.now(dt.UTC)  # feeds of no entries: what is measured is the schedule, not the tagger
    names = [f"f{i}" for i in range(6)]
    for name in names:
        site.route(f"/{name}.xml", hourly_rss(site.base, 0, now, name), delay=0.3)
    path = write_config([{"name": n, "url": f"{site.base}/{n}.xml", "interval": "1s", "fetch_full_text": False}
                         for n in names],
                        scheduler={"max_workers": 2, "max_per_host": 6, "min_interval": "1s", "jitter": "0"})
    with Monitor(load_config(path)) as monitor:
        daemon = Daemon(monitor)
        try:
            daemon.start()
            assert wait_for(lambda: all(len(polls(monitor).get(n, [])) >= 2 for n in names), 30), polls(monitor)
        finally:
            assert daemon.stop()
        by_feed = polls(monitor)
        with monitor.log.engine.connect() as conn:
            live = {name: sorted(map(tuple, conn.execute(select(VIEWS[name].table)).all())) for name in VIEWS}
        Projections(monitor.log.engine, upcasters=monitor.log.upcasters).rebuild()
        with monitor.log.engine.connect() as conn:
            rebuilt = {name: sorted(map(tuple, conn.execute(select(VIEWS[name].table)).all())) for name in VIEWS}
    # The pool's bound, reached (the per-host limit is above it): two requests at once, never more.
    assert site.peak == 2
    for name, runs in by_feed.items():
        for (began, took), (next_began, _) in zip(runs, runs[1:], strict=False):
            # One poll of a feed at a time: each began after the one before ended (durations are rounded to ms).
            assert next_began >= began + dt.timedelta(seconds=took - 0.002), (name, runs)
    # The views the dispatcher caught up (at stop included) are what the log rebuilds.
    assert rebuilt == live
    assert {row[0] for row in live["feed_state"]} >= set(names)


def test_a_reload_reaches_a_feed_while_it_is_polled(
        site: Site, write_config: Callable[..., Path]) -> None:  # noqa: F811 - the fixture
    now = dt.datetime.now(dt.UTC)
    for name in ("moved", "removed"):
        site.route(f"/{name}.xml", hourly_rss(site.base, 0, now, name), delay=1.0)
    path = write_config([{"name": n, "url": f"{site.base}/{n}.xml", "interval": "1h", "fetch_full_text": False}
                         for n in ("moved", "removed")], scheduler={"max_workers": 2, "jitter": "0"})
    with Monitor(load_config(path)) as monitor:
        daemon = Daemon(monitor)
        try:
            daemon.start()
            dispatcher = daemon.dispatcher
            assert dispatcher is not None
            assert wait_for(lambda: dispatcher.in_flight() == {"moved", "removed"}, 10)
            assert dispatcher.due_times() == {}  # a feed in flight is out of the table: it cannot be taken again
            # What the reloader does for a changed feed and a removed one, while both are being polled.
            assert daemon.move_feed("moved", monitor.clock())
            daemon.remove_feed("removed")
            assert not daemon.move_feed("removed", monitor.clock())
            assert wait_for(lambda: len(polls(monitor).get("moved", [])) >= 2 and not dispatcher.in_flight(), 15)
            due = dispatcher.due_times()
        finally:
            assert daemon.stop()
    by_feed = polls(monitor)
    # The changed feed was polled again at once after its poll, then went back to its interval; the removed one
    # finished its poll and was not put back.
    assert len(by_feed["moved"]) == 2 and len(by_feed["removed"]) == 1
    assert set(due) == {"moved"}
    assert due["moved"] - by_feed["moved"][-1][0] >= dt.timedelta(minutes=30)


def test_the_polls_events_are_committed_in_groups_and_each_poll_reads_the_one_before(
        site: Site, write_config: Callable[..., Path]) -> None:  # noqa: F811 - the fixture
    """The dispatcher commits its polls' events in groups, and writes a group before it catches the views up,
    so that the next poll of a feed still sends the validator its previous poll got."""
    now = dt.datetime.now(dt.UTC)
    names = [f"f{i}" for i in range(6)]
    for name in names:
        site.route(f"/{name}.xml", hourly_rss(site.base, 2, now, name), ETag=f'"{name}-v1"')
    path = write_config([{"name": n, "url": f"{site.base}/{n}.xml", "interval": "1s", "fetch_full_text": False}
                         for n in names],
                        scheduler={"max_workers": 6, "max_per_host": 6, "min_interval": "1s", "jitter": "0"})
    with Monitor(load_config(path)) as monitor:
        appends = []
        append = monitor.log.append

        def counted(events: Any) -> Any:
            appends.append(len(events))
            return append(events)

        monitor.log.append = counted  # type: ignore[method-assign]
        daemon = Daemon(monitor)
        try:
            daemon.start()
            assert wait_for(lambda: all(len(polls(monitor).get(n, [])) >= 3 for n in names), 60), polls(monitor)
        finally:
            assert daemon.stop()
        by_feed = polls(monitor)
    total = sum(len(runs) for runs in by_feed.values())
    # Six feeds due together share their groups: fewer appends than polls (DaemonStarted/Stopped are two more).
    assert len(appends) - 2 < total
    asked = {name: [headers.get("If-None-Match") for path, headers in site.requests if path == f"/{name}.xml"]
             for name in names}
    for name, validators in asked.items():
        assert validators[0] is None and len(validators) >= 3
        assert validators[1:] == [f'"{name}-v1"'] * (len(validators) - 1), (name, validators)
