"""The event log's contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from monitor.errors import ConcurrencyError, StorageError
from storage.eventlog import EventLog, NewEvent

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
    assert "\n" not in str(info.value)
    with pytest.raises(StorageError, match="invalid database URL"):
        EventLog.open("not a url")
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StorageError, match="cannot create the folder"):
        EventLog.open(f"sqlite:///{tmp_path / 'a-file' / 'x.sqlite3'}")
