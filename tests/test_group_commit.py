"""monitor.polls.GroupCommit: a group that cannot be written waits for the next flush (the error still reaches
the caller), its polls are counted and reported once it is written, and an outage long enough drops the oldest
groups rather than holding every poll in memory. On a real SQLite log, locked by a real second connection."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from monitor.events import catalogue as ev
from monitor.polls import GroupCommit, PollOutcome
from storage.errors import StorageError
from storage.eventlog import EventLog

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _poll(feed: str, attempt: str) -> tuple[PollOutcome, list]:
    return PollOutcome(feed, "not_modified"), [ev.feed_polled(feed, attempt, T0, {
        "url": f"http://127.0.0.1/{feed}.xml", "status": "not_modified", "entries_seen": 0, "new_entries": 0})]


def test_a_group_that_cannot_be_written_waits_for_the_next_flush(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log = EventLog.open(f"sqlite:///{path}", migrate=True, lock_timeout=0.2)
    written: list[list[str]] = []
    sink = GroupCommit(log, limit=100, on_written=lambda outcomes: written.append([o.feed for o in outcomes]))
    try:
        first = _poll("a", "1")
        sink.add(*first)
        sink.add(*_poll("b", "1"))
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the log
        try:
            with pytest.raises(StorageError):
                sink.flush()
            assert sink.pending == 2 and written == []  # kept, not lost
            sink.add(*_poll("c", "1"))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        sink.flush()
        assert sink.pending == 0
        assert written == [["a", "b", "c"]]  # one group, in the order the polls came
        assert [e.data["feed"] for e in log.read(types=["FeedPolled"])] == ["a", "b", "c"]
        sink.add(*_poll("a", "1"))  # the same poll again (its key): nothing new to record
        sink.flush()
        assert len(list(log.read(types=["FeedPolled"]))) == 3 and written[-1] == ["a"]
        sink.add(*_poll("e", "1"))
        sink.write_now(*_poll("d", "1"))  # a poll that cannot wait for a group: written alone, reported alike
        assert written[-1] == ["d"] and sink.pending == 1
        assert [e.data["feed"] for e in log.read(types=["FeedPolled"])][-1] == "d"
    finally:
        log.close()


def test_a_long_outage_drops_the_oldest_groups_not_the_daemon(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log = EventLog.open(f"sqlite:///{path}", migrate=True, lock_timeout=0.05)
    sink = GroupCommit(log, limit=2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for k in range(3 * GroupCommit.MAX_QUEUED_GROUPS * sink.limit):
            try:
                sink.add(*_poll(f"f{k}", "1"))  # every second add writes a group, which fails
            except StorageError:
                pass
            assert sink.pending <= GroupCommit.MAX_QUEUED_GROUPS * sink.limit + 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    sink.flush()
    feeds = [e.data["feed"] for e in log.read(types=["FeedPolled"])]
    log.close()
    # What was kept is the newest polls, written once the log came back.
    assert 0 < len(feeds) <= GroupCommit.MAX_QUEUED_GROUPS * sink.limit + 1
    assert feeds[-1] == f"f{3 * GroupCommit.MAX_QUEUED_GROUPS * sink.limit - 1}"
