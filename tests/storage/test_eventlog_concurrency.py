"""The event log under real concurrency: several OS processes, a follower, crashes, held transactions.

Everything here runs against real databases through real processes and connections: nothing is mocked.
The PostgreSQL tests need NEWS_MONITOR_TEST_DATABASE_URL (they skip without it, through the fixtures).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text

from monitor.errors import ConcurrencyError
from storage.engine import make_engine
from storage.eventlog import EventLog, NewEvent, RecordedEvent
from storage.tables import events_table

T0 = dt.datetime(2025, 9, 1, 10, 0, tzinfo=dt.UTC)
SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited engines, locks or threads

# test 1: the sizes the issue asks for
WRITERS = 4
EVENTS_PER_WRITER = 5_000
SHARED_KEYS = 2_000  # every writer tries every one of them, each in its own order
OCC_EVENTS_PER_WRITER = 1_000  # appended with expected_version, retried on ConcurrencyError
HOT_STREAMS = [f"hot-{n}" for n in range(4)]  # written by every writer, plainly and optimistically
OCC_MAX_ATTEMPTS = 500

# test 2
CRASH_BATCH = 200
CRASH_STREAMS = 4


def new(key: str, stream: str, expected_version: int | None = None, **data: Any) -> NewEvent:
    return NewEvent(stream=stream, type="Thing", key=key, data={"key": key, **data}, occurred_at=T0,
                    expected_version=expected_version)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def follow(log: EventLog, cursor: int) -> tuple[list[RecordedEvent], int]:
    """What a projection does: read everything after the highest position seen so far."""
    seen = list(log.read(after=cursor))
    return seen, (seen[-1].position if seen else cursor)


def assert_stream_versions_have_no_gaps(events: list[RecordedEvent]) -> dict[str, int]:
    """In position order, every stream's versions are exactly 1..n. Returns n for each stream."""
    by_stream: dict[str, list[int]] = defaultdict(list)
    for recorded in events:
        by_stream[recorded.stream].append(recorded.version)
    for stream, versions in by_stream.items():
        assert versions == list(range(1, len(versions) + 1)), f"stream {stream} has gaps or repeats"
    return {stream: len(versions) for stream, versions in by_stream.items()}


def assert_no_duplicate_keys_in_the_table(log: EventLog) -> int:
    """Counted by the database itself, not through read(). Returns the number of rows."""
    with log.engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(events_table))
        keys = conn.scalar(select(func.count(func.distinct(events_table.c.key))))
    assert rows == keys, f"{rows} rows but {keys} distinct keys"
    return rows or 0


# -- 1. many processes, shared keys, contested streams, a follower -------------------------------------

def _writer_plan(index: int) -> tuple[list[list[NewEvent]], list[tuple[str, list[str]]]]:
    """Writer ``index``'s plain batches and optimistic batches (stream, keys), all 5,000 events.

    Plain: every shared key (each writer in its own shuffled order) and own keys, on the hot streams and
    on the writer's own stream, in batches of 25 to 100. Optimistic: own keys on the hot streams, in
    batches of 10 to 40, each event carrying the version it expects.
    """
    rng = random.Random(1000 + index)
    shared = [f"shared:{n}" for n in range(SHARED_KEYS)]
    rng.shuffle(shared)
    own_plain = EVENTS_PER_WRITER - SHARED_KEYS - OCC_EVENTS_PER_WRITER
    plain = [new(key, HOT_STREAMS[int(key.split(":")[1]) % len(HOT_STREAMS)], writer=index) for key in shared]
    plain += [new(f"own:{index}:{n}", rng.choice([*HOT_STREAMS, f"mine-{index}"]), writer=index)
              for n in range(own_plain)]
    rng.shuffle(plain)
    plain_batches: list[list[NewEvent]] = []
    while plain:
        size = rng.randint(25, 100)
        plain_batches.append(plain[:size])
        plain = plain[size:]
    occ_batches: list[tuple[str, list[str]]] = []
    n = 0
    while n < OCC_EVENTS_PER_WRITER:
        size = min(rng.randint(10, 40), OCC_EVENTS_PER_WRITER - n)
        occ_batches.append((rng.choice(HOT_STREAMS), [f"occ:{index}:{n + i}" for i in range(size)]))
        n += size
    return plain_batches, occ_batches


class _StreamVersions:
    """A writer's view of stream versions, caught up by reading the stream after the last position seen."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.seen: dict[str, tuple[int, int]] = {}  # stream -> (position, version)

    def current(self, stream: str) -> int:
        position, version = self.seen.get(stream, (0, 0))
        for recorded in self.log.read(stream=stream, after=position):
            assert recorded.version == version + 1, f"{stream}: version {recorded.version} after {version}"
            position, version = recorded.position, recorded.version
        self.seen[stream] = (position, version)
        return version


def _writer(url: str, index: int, out: str, barrier: Any) -> None:
    """A writer process: waits at the barrier with the others, appends its plan, writes what happened."""
    log = EventLog.open(url, migrate=True)
    plain_batches, occ_batches = _writer_plan(index)
    rng = random.Random(index)
    order = ["plain"] * len(plain_batches) + ["occ"] * len(occ_batches)
    rng.shuffle(order)
    versions = _StreamVersions(log)
    calls: list[dict[str, Any]] = []
    conflicts = 0
    barrier.wait(timeout=60)
    for kind in order:
        if kind == "plain":
            batch = plain_batches.pop()
            result = log.append(batch)
            calls.append({"occ": False, "attempted": [e.key for e in batch], "recorded": result.recorded,
                          "duplicates": result.duplicates})
            continue
        stream, keys = occ_batches.pop()
        for _attempt in range(OCC_MAX_ATTEMPTS):
            version = versions.current(stream)
            batch = [new(key, stream, expected_version=version + i, writer=index) for i, key in enumerate(keys)]
            try:
                result = log.append(batch)
            except ConcurrencyError:
                conflicts += 1
                continue
            calls.append({"occ": True, "stream": stream, "expected": version, "attempted": keys,
                          "recorded": result.recorded, "duplicates": result.duplicates})
            break
        else:
            raise RuntimeError(f"writer {index}: {stream} still conflicting after {OCC_MAX_ATTEMPTS} attempts")
    log.close()
    Path(out).write_text(json.dumps({"calls": calls, "conflicts": conflicts}), encoding="utf-8")


def test_four_processes_appending_and_a_follower_lose_nothing_and_skip_nothing(
        database_url: str, tmp_path: Path) -> None:
    """Four processes append 5,000 events each at once, in batches: 2,000 keys that all of them try, streams
    that all of them write, part of it with expected versions retried on conflict. A follower reads
    ``after=cursor`` all along. Proves: no key is recorded twice or lost; every stream's versions are 1..n;
    each append reports every key it was given as recorded or duplicate, and each recorded row is reported
    by exactly the writer that wrote it; a conflicting optimistic batch writes nothing; and the follower saw
    every event once, in position order, so that its list equals the final full read."""
    log = EventLog.open(database_url, migrate=True)
    follower_log = EventLog.open(database_url)
    stop = threading.Event()
    followed: list[RecordedEvent] = []
    polls: list[int] = []  # events per non-empty poll
    follower_errors: list[BaseException] = []

    def follower() -> None:
        cursor = 0
        try:
            while not stop.is_set():
                seen, cursor = follow(follower_log, cursor)
                followed.extend(seen)
                if seen:
                    polls.append(len(seen))
                time.sleep(0.01)
            seen, cursor = follow(follower_log, cursor)  # the final drain, once every writer has exited
            followed.extend(seen)
        except BaseException as exc:  # noqa: BLE001 (asserted below)
            follower_errors.append(exc)

    barrier = SPAWN.Barrier(WRITERS + 1)
    outputs = [tmp_path / f"writer-{n}.json" for n in range(WRITERS)]
    writers = [SPAWN.Process(target=_writer, args=(database_url, n, str(outputs[n]), barrier), daemon=True)
               for n in range(WRITERS)]
    following = threading.Thread(target=follower, daemon=True)
    try:
        following.start()
        for process in writers:
            process.start()
        barrier.wait(timeout=60)  # every writer has opened its log: go
        for process in writers:
            process.join(timeout=300)
    finally:
        for process in writers:
            if process.is_alive():
                process.kill()
                process.join()
        stop.set()
        following.join(timeout=60)
        follower_log.close()
    assert [process.exitcode for process in writers] == [0] * WRITERS, "a writer failed: see its captured stderr"
    assert follower_errors == []

    everything = list(log.read())
    rows = assert_no_duplicate_keys_in_the_table(log)
    assert rows == len(everything)
    log.close()

    # no loss: every distinct key that any writer tried is there, once
    attempted: set[str] = set()
    recorded_by: dict[str, int] = {}
    conflicts = 0
    for n, output in enumerate(outputs):
        report = json.loads(output.read_text(encoding="utf-8"))
        conflicts += report["conflicts"]
        assert sum(len(call["attempted"]) for call in report["calls"]) == EVENTS_PER_WRITER
        for call in report["calls"]:
            # each call accounts for each key it was given, as recorded or as duplicate
            assert Counter(call["recorded"] + call["duplicates"]) == Counter(call["attempted"])
            if call["occ"]:  # own keys only: a rejected attempt before it must have left nothing behind
                assert call["recorded"] == call["attempted"] and call["duplicates"] == []
            attempted.update(call["attempted"])
            for key in call["recorded"]:
                assert key not in recorded_by, f"{key} reported recorded by writers {recorded_by[key]} and {n}"
                recorded_by[key] = n
    assert len(attempted) == SHARED_KEYS + WRITERS * (EVENTS_PER_WRITER - SHARED_KEYS)
    assert {e.key for e in everything} == attempted == set(recorded_by)
    assert all(e.data["writer"] == recorded_by[e.key] for e in everything)  # reported by who wrote it

    lengths = assert_stream_versions_have_no_gaps(everything)
    assert set(lengths) == {*HOT_STREAMS, *(f"mine-{n}" for n in range(WRITERS))}

    # the follower: every event once, in strictly increasing position order, nothing skipped
    positions = [e.position for e in followed]
    assert all(a < b for a, b in zip(positions, positions[1:], strict=False))
    assert [(e.position, e.key) for e in followed] == [(e.position, e.key) for e in everything]
    assert len(polls) > 1, "the follower should have caught up while the writers were still appending"
    print(f"\n{database_url.split(':')[0]}: {len(everything)} events, {conflicts} optimistic conflicts retried, "
          f"follower caught up in {len(polls)} polls")


# -- 2. a writer killed mid-transaction -------------------------------------------------------------------

def _crash_child(url: str, progress: str, hold_at_batch: int) -> None:
    """Append batch after batch from batch 0 (so a restart replays what is already there) and note each
    result in ``progress``. At batch ``hold_at_batch`` (if not negative), stop just before COMMIT, inside
    the transaction, and wait there to be killed."""
    log = EventLog.open(url, migrate=True)
    current = {"batch": -1}

    @event.listens_for(log.engine, "commit")
    def _hold(_conn: Connection) -> None:
        if hold_at_batch >= 0 and current["batch"] == hold_at_batch:
            with open(progress, "a", encoding="utf-8") as notes:
                notes.write(f"holding {hold_at_batch}\n")
            threading.Event().wait(timeout=120)

    for batch in range(100_000):
        current["batch"] = batch
        result = log.append([new(f"crash:{batch}:{i}", f"crash-{i % CRASH_STREAMS}", batch=batch)
                             for i in range(CRASH_BATCH)])
        with open(progress, "a", encoding="utf-8") as notes:
            notes.write(f"batch {batch} recorded {len(result.recorded)} duplicates {len(result.duplicates)}\n")


def _whole_batches(log: EventLog) -> list[int]:
    """The batches present, after checking that each is whole and that versions have no gaps."""
    everything = list(log.read())
    sizes = Counter(e.data["batch"] for e in everything)
    assert all(size == CRASH_BATCH for size in sizes.values()), f"partial batches: {sizes}"
    assert_stream_versions_have_no_gaps(everything)
    assert assert_no_duplicate_keys_in_the_table(log) == len(everything)
    batches = sorted(sizes)
    assert batches == list(range(len(batches))), "the batches committed are not a prefix"
    return batches


def test_a_writer_killed_mid_batch_leaves_whole_batches_and_a_working_log(database_url: str, tmp_path: Path) -> None:
    """A child process appending 200-event batches is killed with SIGKILL four times. Three times a few
    batches after it started, at a random moment of its loop (most of which is spent inside the append's
    transaction), and, after each restart from batch 0, it replays what is there. The fourth time it is
    deliberately stopped inside its transaction just before COMMIT (rows inserted, append lock held). Proves:
    every batch is all there or not at all, stream versions have no gaps, a restarted writer finds what was
    committed as duplicates, the killed transaction's locks are released, and the log keeps working."""
    log = EventLog.open(database_url, migrate=True)
    rng = random.Random()

    def run_child(progress: Path, hold_at_batch: int, kill_when: Callable[[], bool], jitter: float) -> None:
        child = SPAWN.Process(target=_crash_child, args=(database_url, str(progress), hold_at_batch), daemon=True)
        child.start()
        try:
            wait_until(lambda: kill_when() or not child.is_alive(), 120, "the child to reach the kill point")
            time.sleep(rng.uniform(0, jitter))  # not right after a commit: anywhere in the loop
            assert child.is_alive(), f"the child exited with {child.exitcode}"
        finally:
            child.kill()  # SIGKILL: no cleanup, no rollback from the client side
            child.join(timeout=30)
        assert child.exitcode == -9

    present: list[int] = []
    for round_ in range(3):
        before = len(present)
        progress = tmp_path / f"round-{round_}.txt"
        third_new_batch = f"crash:{before + 2}:0"  # committed: three new batches are in
        run_child(progress, -1, lambda: log.has_key(third_new_batch), jitter=0.05)  # noqa: B023
        present = _whole_batches(log)
        assert len(present) >= before + 3
        notes = progress.read_text("utf-8").splitlines()
        expected = ([f"batch {b} recorded 0 duplicates {CRASH_BATCH}" for b in range(before)]
                    + [f"batch {b} recorded {CRASH_BATCH} duplicates 0" for b in range(before, len(present))])
        assert notes == expected[:len(notes)] and len(notes) >= len(present) - 1  # killed before noting, at most

    # the last round: restart from batch 0, stop inside the transaction of the second new batch, kill there
    held = len(present) + 1
    progress = tmp_path / "held.txt"
    run_child(progress, held, lambda: progress.exists() and f"holding {held}" in progress.read_text("utf-8"),
              jitter=0)
    assert _whole_batches(log) == list(range(held))  # the held batch is not there at all
    notes = progress.read_text("utf-8").splitlines()
    assert notes == (
        [f"batch {b} recorded 0 duplicates {CRASH_BATCH}" for b in present]
        + [f"batch {b} recorded {CRASH_BATCH} duplicates 0" for b in range(len(present), held)]
        + [f"holding {held}"]
    )

    # the log still works: the killed transaction's lock is gone (on PostgreSQL the append would wait on it)
    stream = "crash-0"
    version = sum(1 for _ in log.read(stream=stream))
    outcome: list[Any] = []
    appending = threading.Thread(target=lambda: outcome.append(log.append([
        new("after-the-crash", stream, expected_version=version, batch=-1)])), daemon=True)
    appending.start()
    appending.join(timeout=60)
    assert not appending.is_alive(), "an append after the crash is still waiting"
    assert outcome[0].recorded == ["after-the-crash"]
    last = list(log.read(stream=stream))[-1]
    assert (last.key, last.version, last.position) == ("after-the-crash", version + 1, log.last_position())
    log.close()


# -- 3. two writers interleaved by hand on PostgreSQL -----------------------------------------------------

class _HeldAtCommit:
    """Stops the next transaction committed on ``engine`` just before its COMMIT, until released."""

    def __init__(self, log: EventLog) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        self.backend_pids: list[int] = []
        event.listen(log.engine, "commit", self._hold)
        event.listen(log.engine, "checkout", self._remember_pid)

    def _hold(self, _conn: Connection) -> None:
        if not self.reached.is_set():
            self.reached.set()
            self.release.wait(timeout=60)

    def _remember_pid(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        self.backend_pids.append(dbapi_conn.info.backend_pid)


def _in_thread(append: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(append())
        except BaseException as exc:  # noqa: BLE001 (asserted by the caller)
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _waiting_for_an_advisory_lock(log: EventLog, pid: int) -> bool:
    with log.engine.connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND locktype = 'advisory' "
                                     "AND NOT granted"), {"pid": pid}))


@pytest.fixture
def pg_logs(postgres_url: str) -> Iterator[tuple[EventLog, EventLog, EventLog]]:
    """A follower's log (which creates the schema) and two writers' logs, each on its own engine."""
    follower = EventLog.open(postgres_url, migrate=True)
    writer_a = EventLog(make_engine(postgres_url))
    writer_b = EventLog(make_engine(postgres_url))
    yield follower, writer_a, writer_b
    for log in (writer_a, writer_b, follower):
        log.close()


def test_an_append_held_before_commit_holds_back_the_next_and_the_follower_skips_nothing(
        pg_logs: tuple[EventLog, EventLog, EventLog]) -> None:
    """Writer A is stopped inside its append just before COMMIT, its rows inserted. Writer B's append then
    waits on the append lock (seen in pg_locks) without taking a position, and a follower sees neither.
    Released, A commits and the follower sees A's events; then B (stopped before its own COMMIT in turn)
    commits and the follower sees B's, after A's. Proves that appends are serialised on PostgreSQL so that
    positions become visible in order, and a follower keeping only the highest position seen misses nothing
    (the control test below shows it would without the lock)."""
    follower, writer_a, writer_b = pg_logs
    follower.append([new("seed-1", "seed"), new("seed-2", "seed")])
    followed, cursor = follow(follower, 0)
    assert [e.key for e in followed] == ["seed-1", "seed-2"]
    hold_a, hold_b = _HeldAtCommit(writer_a), _HeldAtCommit(writer_b)
    a_keys, b_keys = ["a-1", "a-2", "a-3"], ["b-1", "b-2"]
    a_thread, a_outcome = _in_thread(lambda: writer_a.append([new(k, f"stream-{k[-1]}") for k in a_keys]))
    b_thread: threading.Thread | None = None
    try:
        assert hold_a.reached.wait(timeout=30), "A never reached its commit"
        seen, cursor = follow(follower, cursor)
        assert seen == []  # A's rows are inserted, not committed

        b_thread, b_outcome = _in_thread(lambda: writer_b.append([new(k, f"stream-{k[-1]}") for k in b_keys]))
        wait_until(lambda: bool(hold_b.backend_pids), 30, "B to take a connection")
        wait_until(lambda: _waiting_for_an_advisory_lock(follower, hold_b.backend_pids[-1]), 30,
                   "B to wait on the append lock")
        assert b_thread.is_alive() and b_outcome == [] and not hold_b.reached.is_set()
        seen, cursor = follow(follower, cursor)
        assert seen == []

        hold_a.release.set()  # A commits; B takes the lock, inserts, and stops before its own commit
        a_thread.join(timeout=30)
        assert not a_thread.is_alive()
        assert a_outcome[0].recorded == a_keys
        assert hold_b.reached.wait(timeout=30), "B never reached its commit"
        seen, cursor = follow(follower, cursor)
        followed += seen
        assert [e.key for e in seen] == a_keys

        hold_b.release.set()
        b_thread.join(timeout=30)
        assert not b_thread.is_alive()
        assert b_outcome[0].recorded == b_keys
        seen, cursor = follow(follower, cursor)
        followed += seen
        assert [e.key for e in seen] == b_keys
    finally:
        hold_a.release.set()
        hold_b.release.set()
        a_thread.join(timeout=30)
        if b_thread is not None:
            b_thread.join(timeout=30)

    everything = list(follower.read())
    assert [(e.position, e.key) for e in followed] == [(e.position, e.key) for e in everything]
    positions = [e.position for e in followed]
    assert all(a < b for a, b in zip(positions, positions[1:], strict=False))
    assert follow(follower, cursor)[0] == []


def test_control_without_the_append_lock_a_follower_skips_a_late_commit(
        pg_logs: tuple[EventLog, EventLog, EventLog]) -> None:
    """The hazard the append lock prevents is real: two plain inserts into the events table (bypassing
    EventLog.append and its lock), where the one that took the lower position commits last. A follower
    that keeps only the highest position it has seen skips that event for good, and its list no longer
    equals a full read: the checks of the tests above would catch a missing lock."""
    follower, writer_a, writer_b = pg_logs

    def row(key: str, stream: str) -> dict[str, Any]:
        return {"stream": stream, "version": 1, "type": "Thing", "schema": 1, "key": key, "occurred_at": T0,
                "recorded_at": T0, "data": {"key": key}}

    insert = events_table.insert().returning(events_table.c.position)
    with writer_a.engine.connect() as early, writer_b.engine.connect() as late:
        early_position = early.scalar(insert, row("early", "stream-early"))  # takes the lower position...
        late_position = late.scalar(insert, row("late", "stream-late"))
        late.commit()  # ...but commits last
        followed, cursor = follow(follower, 0)
        assert [e.key for e in followed] == ["late"] and cursor == late_position
        early.commit()
    assert early_position < late_position
    seen, cursor = follow(follower, cursor)
    assert seen == []  # "early" is committed, below the cursor: skipped for good
    everything = list(follower.read())
    assert [e.key for e in everything] == ["early", "late"]
    assert [(e.position, e.key) for e in followed] != [(e.position, e.key) for e in everything]
