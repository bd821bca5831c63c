"""The event log's contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text

from monitor.errors import ConcurrencyError, StorageError
from monitor.events import catalogue as ev
from storage.eventlog import EventLog, NewEvent, Upcasters, decode_row, read_columns
from storage.tables import events_table

T0 = dt.datetime(2025, 9, 1, 10, 0, tzinfo=dt.UTC)


class FrozenClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))


@pytest.fixture
def event_log(database_url: str, clock: FrozenClock):
    log = EventLog.open(database_url, clock, migrate=True)
    yield log
    log.close()


def new(key: str, stream: str = "s-1", type_: str = "Thing", **data: object) -> NewEvent:
    return NewEvent(stream=stream, type=type_, key=key, data={"key": key, **data}, occurred_at=T0)


def test_append_assigns_positions_versions_and_both_dates(event_log: EventLog, clock: FrozenClock) -> None:
    result = event_log.append([new("a"), new("b"), new("c", stream="s-2")])
    assert result.recorded == ["a", "b", "c"] and result.duplicates == []
    recorded = list(event_log.read())
    assert [(e.stream, e.version) for e in recorded] == [("s-1", 1), ("s-1", 2), ("s-2", 1)]
    assert [e.position for e in recorded] == sorted(e.position for e in recorded)
    assert all(e.occurred_at == T0 and e.recorded_at == clock.now for e in recorded)
    assert recorded[0].data == {"key": "a"}


def test_duplicate_keys_are_no_ops_within_and_across_batches(event_log: EventLog) -> None:
    first = event_log.append([new("a"), new("a"), new("b")])
    assert first.recorded == ["a", "b"] and first.duplicates == ["a"]
    second = event_log.append([new("b"), new("c")])
    assert second.recorded == ["c"] and second.duplicates == ["b"]
    assert [e.key for e in event_log.read()] == ["a", "b", "c"]
    assert [e.version for e in event_log.read(stream="s-1")] == [1, 2, 3]


def test_expected_version_conflict_rejects_the_whole_batch(event_log: EventLog) -> None:
    event_log.append([new("a")])
    stale = NewEvent("s-1", "Thing", "b", {}, T0, expected_version=0)
    with pytest.raises(ConcurrencyError, match="at version 1, expected 0"):
        event_log.append([new("other", stream="s-9"), stale])
    assert [e.key for e in event_log.read()] == ["a"]  # nothing of the failed batch was written
    assert event_log.append([NewEvent("s-1", "Thing", "b", {}, T0, expected_version=1)]).recorded == ["b"]


def test_read_by_type_stream_position_and_in_batches(event_log: EventLog) -> None:
    event_log.append([new(f"k{i}", stream=f"s-{i % 3}", type_="Even" if i % 2 == 0 else "Odd") for i in range(25)])
    everything = list(event_log.read(batch_size=4))
    assert len(everything) == 25
    assert [e.key for e in event_log.read(types=["Even"], batch_size=3)] == [f"k{i}" for i in range(0, 25, 2)]
    assert [e.key for e in event_log.read(stream="s-1")] == [f"k{i}" for i in range(1, 25, 3)]
    middle = everything[9].position
    assert [e.key for e in event_log.read(after=middle)] == [f"k{i}" for i in range(10, 25)]
    assert [e.key for e in event_log.read(limit=5, batch_size=2)] == [f"k{i}" for i in range(5)]
    assert event_log.last_position() == everything[-1].position


def test_existing_keys(event_log: EventLog) -> None:
    event_log.append([new("a"), new("b")])
    assert event_log.existing_keys(["a", "x", "b"]) == {"a", "b"}
    assert event_log.has_key("a") and not event_log.has_key("x")


def test_concurrent_appenders_never_duplicate_a_key(event_log: EventLog, database_url: str) -> None:
    """Threads with their own connections race to record overlapping keys on shared streams."""
    logs = [EventLog.open(database_url, migrate=True) for _ in range(4)]
    errors: list[BaseException] = []

    def worker(log: EventLog, offset: int) -> None:
        try:
            for i in range(20):
                log.append([new(f"shared-{(i + offset) % 30}", stream=f"s-{i % 2}"), new(f"own-{offset}-{i}")])
        except BaseException as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(log, n * 5)) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        log.close()
    assert errors == []
    keys = [e.key for e in event_log.read()]
    assert len(keys) == len(set(keys)) == 30 + 80
    for stream in ("s-0", "s-1"):
        versions = [e.version for e in event_log.read(stream=stream)]
        assert versions == list(range(1, len(versions) + 1))  # no gaps, no repeats
    positions = [e.position for e in event_log.read()]
    assert positions == sorted(positions)


def test_naive_datetimes_are_refused(event_log: EventLog) -> None:
    with pytest.raises(StorageError):
        event_log.append([NewEvent("s", "T", "k", {}, dt.datetime(2025, 1, 1))])
    assert list(event_log.read()) == []


def test_unreachable_database_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(StorageError, match="cannot open the event log") as info:
        EventLog.open("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert "\n" not in str(info.value) and "cannot be reached" in str(info.value)
    with pytest.raises(StorageError, match="invalid database URL"):
        EventLog.open("not a url")
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StorageError, match="cannot create the folder"):
        EventLog.open(f"sqlite:///{tmp_path / 'a-file' / 'x.sqlite3'}")


def test_a_v1_payload_written_by_an_earlier_schema_is_read_upcast(database_url: str) -> None:
    """ExtractionFailed as the walking skeleton stored it (schema 1, no stage) reads as schema 2."""
    log = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    try:
        article = ev.article_id("https://example.org/a")
        old = {"article_id": article, "url": "https://example.org/a", "reason": "http_403",
               "message": "https://example.org/a answered 403 Forbidden", "fallback": "feed_summary"}
        log.append([NewEvent(ev.article_stream(article), ev.EXTRACTION_FAILED, f"ExtractionFailed:{article}", old, T0,
                             schema=1),
                    NewEvent("s", ev.EXTRACTION_FAILED, "ExtractionFailed:b", {**old, "reason": "no_text"}, T0,
                             schema=1)])
        current = list(log.read())
        assert [(e.schema, e.data["stage"]) for e in current] == [(2, "fetch"), (2, "extract")]
        assert {k: v for k, v in current[0].data.items() if k != "stage"} == old
        stored = list(log.read(upcast=False))
        assert [e.schema for e in stored] == [1, 1] and "stage" not in stored[0].data
        written_now = ev.extraction_failed(article, T0, {k: v for k, v in old.items() if k != "article_id"})
        assert written_now.schema == ev.SCHEMAS[ev.EXTRACTION_FAILED] == 2
        assert written_now.data == current[0].data  # the upcaster produces what the code writes today
    finally:
        log.close()


def test_the_lazy_read_equals_decoding_every_row_through_sqlalchemy(database_url: str) -> None:
    """``read()`` (the driver's own cursor on SQLite, payloads decoded when first read) gives the events that
    decoding every row of a plain SQLAlchemy select gives at once: upcast ones, nested and unicode payloads, both
    dates, whichever payloads a reader touches or skips."""
    casts = Upcasters()
    casts.register("Thing", 1)(lambda d: {**d, "b": 2})
    log = EventLog.open(database_url, migrate=True, upcasters=casts)
    try:
        log.append([NewEvent("s-1", "Thing", f"k{i}", {"key": f"k{i}", "nested": {"list": [i, 1.5, None, True]},
                                                       "text": "Лавров — मोदी\n" * i}, T0 + dt.timedelta(seconds=i),
                             schema=1 if i % 3 else 2) for i in range(30)]
                   + [NewEvent("s-2", "Other", "o", {"x": "y"}, T0)])
        with log.engine.connect() as conn:
            slow = [decode_row(row, casts) for row in conn.execute(
                select(*read_columns(conn.dialect.name)).order_by(events_table.c.position))]
        fast = list(log.read(batch_size=4))
        assert [e.data for e in fast[::2]] == [e.data for e in slow[::2]]  # half read now, half in the comparison
        assert fast == slow and [e.as_dict() for e in fast] == [e.as_dict() for e in slow]
        assert [e.schema for e in fast[:4]] == [2, 2, 2, 2]
        assert fast[1].data["b"] == 2 and fast[3].data == {**slow[3].data}
        assert [e.as_dict() for e in log.read(types=["Other"])] == [slow[-1].as_dict()]
        unpacked = tuple(fast[5])
        assert unpacked[0] == fast[5].position and unpacked[-1] == fast[5].data
        with pytest.raises(AttributeError):
            fast[0].key = "changed"  # type: ignore[misc]
    finally:
        log.close()


def test_upcasters_chain_from_any_old_schema() -> None:
    casts = Upcasters()
    casts.register("Thing", 1)(lambda d: {**d, "b": d["a"] * 2})
    casts.register("Thing", 2)(lambda d: {"c": d["b"] + 1})
    assert casts.latest("Thing") == 3 and casts.latest("Other") == 1
    assert casts.upcast("Thing", 1, {"a": 1}) == (3, {"c": 3})
    assert casts.upcast("Thing", 2, {"b": 5}) == (3, {"c": 6})
    assert casts.upcast("Thing", 3, {"c": 0}) == (3, {"c": 0})
    assert [casts.final_schema("Thing", n) for n in (1, 2, 3)] == [3, 3, 3] and casts.final_schema("Other", 1) == 1
    original = {"a": 1}
    casts.upcast("Thing", 1, original)
    assert original == {"a": 1}  # a step never mutates the stored payload


def test_reading_streams_in_batches_through_one_cursor(event_log: EventLog) -> None:
    """A long read fetches batch by batch from one server-side cursor, and sees one snapshot."""
    event_log.append([new(f"k{i}") for i in range(50)])
    reader = event_log.read(batch_size=7)
    first = [next(reader) for _ in range(10)]
    event_log.append([new("late")])  # committed while the read is under way
    rest = list(reader)
    assert [e.key for e in first + rest] == [f"k{i}" for i in range(50)]
    assert [e.key for e in event_log.read(after=rest[-1].position)] == ["late"]


def test_follow_sees_each_new_event_once_in_order(event_log: EventLog, database_url: str) -> None:
    event_log.append([new("before")])
    start = event_log.last_position()
    stop = threading.Event()
    seen: list[str] = []
    writer_log = EventLog.open(database_url, migrate=True)

    def write() -> None:
        for i in range(30):
            writer_log.append([new(f"f{i}-a", stream=f"w-{i % 3}"), new(f"f{i}-b")])

    writer = threading.Thread(target=write)
    writer.start()
    for recorded in event_log.follow(after=start, poll_interval=0.01, stop=stop, batch_size=5):
        seen.append(recorded.key)
        if len(seen) == 60:
            stop.set()
    writer.join()
    writer_log.close()
    assert seen == [f"f{i}-{part}" for i in range(30) for part in "ab"]


def test_follow_stops_when_told_even_with_nothing_new(event_log: EventLog) -> None:
    stop = threading.Event()
    stop.set()
    assert list(event_log.follow(stop=stop)) == []


def test_a_corrupt_payload_is_one_clear_error_naming_the_event(event_log: EventLog) -> None:
    event_log.append([new("good")])
    with event_log.engine.begin() as conn:
        bad = "{not json" if conn.dialect.name == "sqlite" else "[1, 2]"  # PostgreSQL's JSONB refuses bad JSON
        conn.execute(events_table.insert().values(stream="s-x", version=1, type="Thing", schema=1, key="bad",
                                                  occurred_at=T0, recorded_at=T0, data=None))
        conn.execute(text("UPDATE events SET data = :bad WHERE key = 'bad'" if conn.dialect.name == "sqlite"
                          else "UPDATE events SET data = CAST(:bad AS jsonb) WHERE key = 'bad'"), {"bad": bad})
    events = list(event_log.read())  # payloads are decoded when first read: reading the rows is not reading them
    assert [e.key for e in events] == ["good", "bad"]
    with pytest.raises(StorageError, match=r"event \d+ \(Thing, schema 1, key 'bad'\) has a corrupt payload") as info:
        [e.data for e in events]  # noqa: B018
    assert "\n" not in str(info.value)
    assert [e.key for e in event_log.read(limit=1)] == ["good"]  # what comes before it still reads


def test_a_locked_sqlite_log_fails_clearly_and_writes_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    holder = EventLog.open(url)
    log = EventLog.open(url, lock_timeout=0.2)
    try:
        with holder.engine.begin() as conn:  # another process mid-write holds the lock
            conn.execute(events_table.insert().values(stream="h", version=1, type="T", schema=1, key="held",
                                                      occurred_at=T0, recorded_at=T0, data={}))
            with pytest.raises(StorageError, match="locked by another process") as info:
                log.append([new("a"), new("b")])
            assert "\n" not in str(info.value)
        assert [e.key for e in log.read()] == ["held"]
        assert log.append([new("a"), new("b")]).recorded == ["a", "b"]  # free again: it works
    finally:
        log.close()
        holder.close()


def test_a_full_disk_fails_clearly_and_leaves_no_half_batch(tmp_path) -> None:
    """SQLite's max_page_count makes the database file full, as a full disk would."""
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    log = EventLog.open(url)
    try:
        log.append([new("first")])
        log.engine.dispose()
        sa_event.listen(log.engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA max_page_count = 40"))
        big = [new(f"big-{i}", blob="x" * 2000) for i in range(200)]
        with pytest.raises(StorageError, match="disk holding the database is full") as info:
            log.append(big)
        assert "nothing of this batch was written" in str(info.value)
        with log.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(events_table)) == 1
    finally:
        log.close()
