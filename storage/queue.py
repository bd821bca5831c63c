"""The worker queue's storage side (PostgreSQL): who coordinates a database, and what the queue holds.

The queue itself is procrastinate's (its tables come with migration 0009); this module only reads them, and
knows jobs by their ``lock`` string, never by what a job does.

- ``conninfo``: our SQLAlchemy URL as the libpq connection string procrastinate's connector takes (the same
  database, user and options, search_path included).
- ``coordination``: a session-level advisory lock held for a process's life. Workers hold it shared, a
  ``run`` daemon exclusive, so either refuses while the other kind holds the database. PostgreSQL drops a
  session lock with its connection, so a killed process (SIGKILL, a lost machine) holds nothing.
- ``queue_status``: the live workers (heartbeat younger than ``live_within``), the jobs each is running, the
  queue depth and the last takeovers, read at once (``workers status``, ``/metrics``).
- ``record_worker`` / ``record_takeover``: our two small tables beside procrastinate's.
- ``PollLocks``: a session advisory lock per feed, held by the worker polling it, on a pool of its own. A
  worker whose heartbeat went quiet while it still polls (a starved or partitioned process) has its job retried
  by another worker; the retry finds the feed's lock held and does not poll the feed a second time. The lock
  goes with its session: a killed process's at once, a lost machine's when the server's keepalives give up on
  its connection (set per session, well within ``takeover``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from storage.errors import StorageError, translating

# A fixed 32-bit class, and the schema's hash: deployments in two schemas of one database are two fleets.
_COORDINATION_CLASS = 0x6E6D_7701
# The feeds' poll locks: their own class, and the hash of the schema and the feed's key.
_POLL_CLASS = 0x6E6D_7702


class CoordinationRefused(StorageError):
    """Another process holds the database's coordination lock in a mode that excludes ours."""


def conninfo(url: str) -> str:
    """``postgresql+psycopg://u@h:5432/db?options=...`` -> ``postgresql://u@h:5432/db?options=...`` (libpq)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise StorageError(f"the worker queue needs PostgreSQL, not {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def coordination(engine: Engine, *, shared: bool, refusal: str) -> Iterator[None]:
    """Hold the database's coordination lock (shared or exclusive) while the block runs, on a connection of
    its own; raise ``CoordinationRefused(refusal)`` at once when it is held in a conflicting mode."""
    function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    with translating("cannot take the coordination lock", engine):
        conn = engine.connect()
    try:
        with translating("cannot take the coordination lock", engine):
            got = conn.scalar(text(f"SELECT {function}(:c, hashtext(current_schema()))"),
                              {"c": _COORDINATION_CLASS})
            conn.commit()  # the lock is the session's: it outlives this transaction
        if not got:
            raise CoordinationRefused(refusal)
        yield
    finally:
        conn.invalidate()  # closing the session is what releases the lock; never hand it back to the pool
        conn.close()


class PollLocks:
    """One advisory lock per key (a feed), each held on a connection of its own while its poll runs, from a
    pool of ``size`` connections (a worker's concurrency) beside the log's pool, so that holding them never
    starves the polls' own queries. ``dead_after`` seconds: the server's keepalives on these sessions (idle,
    then probes) drop the session of a machine that is gone, and its locks with it."""

    def __init__(self, engine: Engine, size: int, *, dead_after: float = 60.0) -> None:
        from sqlalchemy import create_engine, event

        self.queries = 0  # the lock and unlock statements run, and their time: the queue's share of a poll
        self.seconds = 0.0
        idle = max(1, int(dead_after / 2))
        probe = max(1, int(dead_after / 6))
        self.engine = create_engine(engine.url, pool_size=size, max_overflow=size, pool_pre_ping=True,
                                    connect_args={"connect_timeout": 10})

        @event.listens_for(self.engine, "connect")
        def _keepalives(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET tcp_keepalives_idle = {idle}; SET tcp_keepalives_interval = {probe}; "
                               "SET tcp_keepalives_count = 3")
            dbapi_connection.commit()

    @contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        """Try the lock of ``key`` for the block: True when it is ours, False when another session holds it."""
        with translating("cannot take the poll lock", self.engine):
            conn = self.engine.connect()
        got = False
        started = time.perf_counter()
        try:
            with translating("cannot take the poll lock", self.engine):
                got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:c, hashtext(current_schema() || '/' || :k))"),
                                       {"c": _POLL_CLASS, "k": key}))
                conn.commit()  # the lock is the session's
            self._count(started)
            yield got
        finally:
            try:
                if got:
                    started = time.perf_counter()
                    conn.scalar(text("SELECT pg_advisory_unlock(:c, hashtext(current_schema() || '/' || :k))"),
                                {"c": _POLL_CLASS, "k": key})
                    conn.commit()
                    self._count(started)
                conn.close()
            except Exception:  # the session is gone, and the lock with it; never hand the connection back
                conn.invalidate()
                conn.close()

    def _count(self, started: float) -> None:
        self.queries += 1
        self.seconds += time.perf_counter() - started

    def close(self) -> None:
        self.engine.dispose()


def record_worker(engine: Engine, worker_id: int, concurrency: int) -> None:
    """Name procrastinate's worker ``worker_id`` by this host and pid."""
    with translating("cannot record the worker", engine), engine.begin() as conn:
        conn.execute(text("INSERT INTO queue_workers (worker_id, host, pid, concurrency) VALUES (:w, :h, :p, :c) "
                          "ON CONFLICT (worker_id) DO NOTHING"),
                     {"w": worker_id, "h": socket.gethostname(), "p": os.getpid(), "c": concurrency})


def record_takeover(engine: Engine, job_id: int, lock: str | None, worker_id: int | None) -> None:
    with translating("cannot record the takeover", engine), engine.begin() as conn:
        conn.execute(text("INSERT INTO queue_takeovers (job_id, lock, worker_id) VALUES (:j, :l, :w)"),
                     {"j": job_id, "l": lock, "w": worker_id})


def pending_locks(engine: Engine, task: str) -> set[str]:
    """The locks of ``task``'s jobs waiting or running: the keys that already have their job."""
    with translating("cannot read the queue", engine), engine.connect() as conn:
        return set(conn.scalars(text("SELECT lock FROM procrastinate_jobs WHERE task_name = :t "
                                     "AND status IN ('todo', 'doing') AND lock IS NOT NULL"), {"t": task}))


def live_workers(engine: Engine, within: float = 3600.0) -> int:
    """How many workers heartbeat within ``within`` seconds (0 when the queue's tables are not there)."""
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT count(*) FROM procrastinate_workers "
                                        "WHERE last_heartbeat >= NOW() - make_interval(secs => :s)"),
                                   {"s": within}) or 0)
    except Exception:
        return 0


@dataclass
class WorkerRow:
    worker_id: int
    host: str | None
    pid: int | None
    concurrency: int | None
    started_at: dt.datetime | None
    last_heartbeat: dt.datetime
    running: list[str] = field(default_factory=list)  # the locks of the jobs it runs


@dataclass
class QueueStatus:
    workers: list[WorkerRow]
    queued: int  # jobs waiting (todo), due or scheduled
    due: int  # of those, due now
    running: int
    takeovers: int
    last_takeover: dict[str, object] | None


def queue_status(engine: Engine, *, live_within: float) -> QueueStatus:
    """The queue as it is now (one read transaction)."""
    with translating("cannot read the worker queue", engine), engine.connect() as conn:
        workers = [WorkerRow(*row) for row in conn.execute(text(
            "SELECT w.id, q.host, q.pid, q.concurrency, q.started_at, w.last_heartbeat "
            "FROM procrastinate_workers w LEFT JOIN queue_workers q ON q.worker_id = w.id "
            "WHERE w.last_heartbeat >= NOW() - make_interval(secs => :live) ORDER BY w.id"), {"live": live_within})]
        by_id = {w.worker_id: w for w in workers}
        for worker_id, lock in conn.execute(text(
                "SELECT worker_id, coalesce(lock, task_name) FROM procrastinate_jobs WHERE status = 'doing' "
                "ORDER BY id")):
            if worker_id in by_id:
                by_id[worker_id].running.append(lock)
        queued, due, running = conn.execute(text(
            "SELECT count(*) FILTER (WHERE status = 'todo'), "
            "count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= NOW())), "
            "count(*) FILTER (WHERE status = 'doing') FROM procrastinate_jobs")).one()
        takeovers = conn.scalar(text("SELECT count(*) FROM queue_takeovers")) or 0
        last = conn.execute(text("SELECT lock, worker_id, at FROM queue_takeovers ORDER BY at DESC, job_id DESC "
                                 "LIMIT 1")).first()
    return QueueStatus(workers, int(queued), int(due), int(running), int(takeovers),
                       {"job": last[0], "dead_worker": last[1], "at": last[2]} if last else None)
