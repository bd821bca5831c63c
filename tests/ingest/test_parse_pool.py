"""Feeds parsed in parse workers (monitor.ingest.parse_pool): what a worker gives is what ``parse_feed`` gives
here, for every feed of the corpus, errors included; a worker that dies costs only a round trip; and a first
cycle whose parsing ran on the other core records exactly the events of a serial one."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ExtractSettings, load_config
from monitor.errors import ParseError
from monitor.ingest.parse import parse_feed
from monitor.ingest.parse_pool import ParsePool
from monitor.pipeline import Monitor
from tests.builders import config_text, hourly_rss
from tests.ingest.test_polling import Site


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    with ParsePool(ExtractSettings(timeout=5.0), size=1) as made:
        assert made.start(wait=60.0)
        yield made


def here(content: bytes, url: str, headers: dict[str, str]) -> Any:
    try:
        return parse_feed(content, url, headers)
    except ParseError as error:
        return ("ParseError", error.reason, error.message, error.status)


def test_a_worker_parses_every_corpus_feed_as_this_process_does(pool: ParsePool, shared_dir: Path) -> None:
    files = sorted(p for p in (shared_dir / "data/feeds").rglob("*") if p.is_file())
    assert len(files) > 100
    for path in files:
        content = path.read_bytes()
        url = f"http://127.0.0.1/{path.name}"
        headers = {"content-type": "application/json" if path.suffix == ".json" else "application/xml"}
        found = pool.try_parse(content, url, headers)
        if isinstance(found, ParseError):
            found = ("ParseError", found.reason, found.message, found.status)
        assert found == here(content, url, headers), path
    assert pool.parsed == len(files)


def test_a_worker_that_dies_costs_a_round_trip_and_is_replaced(pool: ParsePool) -> None:
    body = hourly_rss("http://127.0.0.1", 30, dt.datetime(2025, 12, 1, tzinfo=dt.UTC)).encode()
    [worker] = pool._idle
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.join(5)
    assert pool.try_parse(body, "http://127.0.0.1/a.xml", {}) is None  # the caller parses it
    assert pool.start(wait=60.0)  # a new worker
    assert pool.try_parse(body, "http://127.0.0.1/a.xml", {}) == parse_feed(body, "http://127.0.0.1/a.xml", {})


def test_a_poll_waits_for_a_busy_worker_up_to_its_wait(pool: ParsePool) -> None:
    body = hourly_rss("http://127.0.0.1", 30, dt.datetime(2025, 12, 1, tzinfo=dt.UTC)).encode()
    url = "http://127.0.0.1/a.xml"
    worker = pool._checkout()  # another poll's parse holds the only worker
    assert worker is not None
    assert pool.try_parse(body, url, {}) is None  # no wait: the caller parses it here
    assert pool.try_parse(body, url, {}, wait=0.05) is None  # the worker is still busy when the wait ends
    freed = threading.Timer(0.2, pool._checkin, (worker,))
    freed.start()
    try:
        assert pool.try_parse(body, url, {}, wait=30.0) == parse_feed(body, url, {})  # it came free meanwhile
    finally:
        freed.join()
    assert pool.parsed == 1


def _recorded(monitor: Monitor) -> list[tuple[Any, ...]]:
    """The log's events without what differs between any two runs: a poll's attempt id (in its key), the times
    it measured (its duration, an article's tagging seconds), and the order of the streams' events in the log
    (each stream's own order is kept)."""
    events = []
    for event in monitor.log.read():
        polled = event.type in ("FeedPolled", "FeedFailed")
        data = {k: v for k, v in event.data.items() if k not in ("duration", "tag_seconds", "extract_seconds")}
        events.append((event.stream, event.version, event.type, None if polled else event.key, event.occurred_at,
                       data))
    return sorted(events, key=repr)


def test_a_parallel_first_cycle_records_what_a_serial_one_does(tmp_path: Path) -> None:
    site = Site()
    newest = dt.datetime(2025, 12, 1, 8, tzinfo=dt.UTC)
    feeds = []
    for number in range(24):
        name = f"f{number}"
        site.route(f"/{name}.xml", hourly_rss(site.base, 30, newest, name))
        feeds.append({"name": name, "url": f"{site.base}/{name}.xml", "fetch_full_text": False,
                      "interval": "15m"})
    clock = lambda: newest + dt.timedelta(hours=1)  # noqa: E731 - the same instant in both runs
    runs = {}
    try:
        for workers in (1, 4):
            path = tmp_path / f"monitor-{workers}.toml"
            path.write_text(config_text(f"sqlite:///{tmp_path / f'log-{workers}.sqlite3'}", feeds, scheduler={
                "max_workers": workers, "max_per_host": workers, "jitter": "0"}), encoding="utf-8")
            config = load_config(path)
            with Monitor(config, clock=clock) as monitor:
                if workers > 1:
                    monitor.parse_pool.size = 1
                    assert monitor.parse_pool.start(wait=60.0)
                outcomes = monitor.poll()
                assert {o.status for o in outcomes} == {"ok"}
                runs[workers] = (_recorded(monitor), monitor.parse_pool.parsed)
    finally:
        site.close()
    (serial, in_pool_serial), (parallel, in_pool) = runs[1], runs[4]
    assert in_pool_serial == 0 and in_pool > 0  # the parallel cycle parsed some feeds in the worker
    assert parallel == serial
    assert sum(1 for event in serial if event[2] == "ArticleDiscovered") == 24 * 30
