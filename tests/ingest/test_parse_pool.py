"""Feeds parsed in parse workers (monitor.ingest.parse_pool): what a worker gives is what ``parse_feed`` gives
here, for every feed of the corpus, errors included; a worker that dies costs only a round trip; and a first
cycle whose parsing ran on the other core records exactly the events of a serial one."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import signal
import threading
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ExtractSettings, load_config
from monitor.errors import ParseError
from monitor.ingest.parse import parse_feed
from monitor.ingest.parse_pool import ParsePool
from monitor.pipeline import Monitor
from tests.builders import SHIPPED_CONFIG, config_text, hourly_rss, rss_document, rss_item
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


SUMMIT = [  # entries the shipped topic tags (or nearly), in its three languages, beside others it does not
    ("Modi and Putin hold talks at the annual summit in New Delhi",
     "Prime Minister Narendra Modi and President Vladimir Putin met in New Delhi on December 5 for the 23rd "
     "India-Russia annual summit. Jaishankar and Lavrov held talks the day before."),
    ("Путин и Моди провели переговоры в Нью-Дели",
     "Президент России Владимир Путин и премьер-министр Индии Нарендра Моди провели переговоры в рамках "
     "ежегодного саммита 5 декабря."),
    ("मोदी और पुतिन की नई दिल्ली में शिखर वार्ता",
     "प्रधानमंत्री नरेंद्र मोदी और राष्ट्रपति व्लादिमीर पुतिन ने 5 दिसंबर को भारत-रूस वार्षिक शिखर सम्मेलन में बातचीत की।"),
    ("Jaishankar meets Lavrov in Moscow ahead of the summit", "External Affairs Minister S. Jaishankar met "
     "Russian Foreign Minister Sergey Lavrov in Moscow to prepare Putin's visit to India."),
    ("Putin and Xi meet in Beijing", "Russian President Vladimir Putin met Chinese President Xi Jinping."),
    ("Monsoon storm hits the coast", "A tanker was damaged in the Indian Ocean."),
]


def _mixed_feed(base: str, name: str, newest: dt.datetime) -> str:
    """30 entries an hour apart: the summit texts above among plain ones, one that is a headline alone, and one
    with nothing but its link (an ExtractionFailed, ``no_text``), so that every path of an entry is taken."""
    items = []
    for i in range(30):
        title, text = SUMMIT[(i // 3) % len(SUMMIT)] if i % 3 == 0 else (f"{name} {i}", f"Text {i}.")
        title, text = (title, "") if i == 28 else ("", "") if i == 29 else (title, text)
        items.append(rss_item(escape(title), f"{base}/{name}/{i}.html", f"{name}-{i}",
                              newest - dt.timedelta(hours=i), escape(text)))
    return rss_document(items, title="T", link=f"{base}/")


def test_a_parallel_first_cycle_records_what_a_serial_one_does(tmp_path: Path) -> None:
    """Parsed and tagged in the worker or here, a cycle records the same events: the worker tags each entry with
    this process's tagger (pickled), and the entries it tagged are recorded as tagged here would be."""
    site = Site()
    newest = dt.datetime(2025, 12, 1, 8, tzinfo=dt.UTC)
    feeds = []
    for number in range(24):
        name = f"f{number}"
        site.route(f"/{name}.xml", _mixed_feed(site.base, name, newest) if number % 2 else
                   hourly_rss(site.base, 30, newest, name))
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
                runs[workers] = (_recorded(monitor), monitor.parse_pool.parsed, monitor.prepared_in_workers)
    finally:
        site.close()
    (serial, in_pool_serial, prepared_serial), (parallel, in_pool, prepared) = runs[1], runs[4]
    assert in_pool_serial == 0 and prepared_serial == 0
    assert in_pool > 0 and prepared > 0  # the parallel cycle parsed feeds, and tagged entries, in the worker
    assert parallel == serial
    assert sum(1 for event in serial if event[2] == "ArticleDiscovered") == 24 * 30
    assert sum(1 for event in serial if event[2] == "ExtractionFailed") == 12  # the link-only entries
    tagged = [event for event in serial if event[2] == "MentionTagged"]
    assert len({event[5]["title"] for event in tagged}) >= 4 and len(tagged) >= 12  # English, Russian, Hindi tags


class _Upper:
    """A preparer for the pool's own tests: an entry's title in capitals; it raises on the entry named "boom"."""

    def __call__(self, entry: Any) -> str:
        if entry.title == "boom":
            raise ValueError("boom")
        return entry.title.upper()


def test_a_worker_prepares_each_entry_with_the_preparer_it_was_sent_once(pool: ParsePool) -> None:
    items = [rss_item(title, f"http://127.0.0.1/{k}.html", f"g{k}", dt.datetime(2025, 12, 1, tzinfo=dt.UTC), "x")
             for k, title in enumerate(["one", "boom", "three"])]
    body = rss_document(items, title="T", link="http://127.0.0.1/").encode()
    url = "http://127.0.0.1/feed.xml"
    blob = pickle.dumps(_Upper())
    parsed, prepared = pool.parse_and_prepare(body, url, {}, preparer=(1, blob))
    assert parsed == parse_feed(body, url, {})
    assert prepared == ["ONE", None, "THREE"]  # the entry where it raised is left to the caller
    [worker] = pool._idle
    assert worker.generation == 1
    # The same generation again: the worker keeps what it was sent (a blob that would not load is never opened).
    assert pool.parse_and_prepare(body, url, {}, preparer=(1, b"not a pickle"))[1] == ["ONE", None, "THREE"]
    # A new generation that does not load: nothing prepared, the feed still parsed.
    parsed, prepared = pool.parse_and_prepare(body, url, {}, preparer=(2, b"not a pickle"))
    assert parsed == parse_feed(body, url, {}) and prepared is None
    assert pool.parse_and_prepare(body, url, {})[1] is None  # no preparer asked for


def test_a_pickled_tagger_tags_as_the_original(shared_dir: Path) -> None:
    """What a parse worker tags with (the daemon's tagger through pickle) gives the daemon's results."""
    from monitor.entries import EntryPreparer
    from monitor.tagging.rules import Tagger

    items = [json.loads(line) for line in (shared_dir / "data/articles/dev.jsonl").read_text().splitlines()]
    config = load_config(SHIPPED_CONFIG)
    tagger = Tagger(config, background=[f"{i['title']}\n{i['text']}" for i in items[:50]])
    copy = pickle.loads(pickle.dumps(EntryPreparer(tagger))).tagger
    results = [tagger.tag(i["title"], i["text"], skip_hopeless=True) for i in items]
    assert [copy.tag(i["title"], i["text"], skip_hopeless=True) for i in items] == results
    assert sum(1 for r in results if any(t.decision != "none" for t in r.values())) >= 10
