"""The append-only event log, on SQLite (embedded default) or PostgreSQL, with SQLAlchemy 2.x Core.

Every event has:
- a global ``position`` (the order of the whole log, the cursor that projections and digests follow);
- a ``stream`` and a ``version`` within it, unique together;
- an idempotency ``key``, unique in the whole log: appending an event whose key is already recorded is a
  no-op reported as "already recorded", never an error and never a second row;
- a ``schema`` number for its payload, raised when the payload's shape changes; ``Upcasters`` turn old
  payloads into the current shape as they are read, so stored events are never rewritten;
- ``occurred_at`` (when the thing happened, e.g. an article's publication) and ``recorded_at``.

Global order without gaps for readers
-------------------------------------
A reader that follows ``position > last_seen`` must never skip an event that commits late with a lower
position. On PostgreSQL positions come from a sequence when a row is inserted, and transactions commit in
any order: T1 takes 101, T2 takes 102 and commits, a reader sees 102 and moves its cursor there, then T1
commits 101, which that reader never sees.

We close that window on the writing side. Every append first takes one transaction-scoped advisory lock
(``pg_advisory_xact_lock``), and only then reads stream versions and inserts (so takes positions). The
lock is held until the transaction ends, and PostgreSQL makes a commit visible to other sessions before
it releases the transaction's locks, so the next writer can only take positions after the previous
writer's rows are visible, or after they were rolled back (leaving a gap that no one will ever fill).
Positions thus become visible in increasing order, and "the highest position I have seen" is a safe
cursor for every reader. The price is that appends are serialised; appends are batched (one article's
events are one batch, an import appends 1,000 at a time), so this costs little. Readers take no lock.

On SQLite there is one writer at a time anyway: a write transaction starts with ``BEGIN IMMEDIATE``,
which takes the write lock up front (and avoids two readers deadlocking when both upgrade to writers).
Reads start a plain deferred ``BEGIN`` (see ``reading``), so in WAL mode they never block the writer.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from monitor.errors import ConcurrencyError, StorageError
from storage.errors import safe_url, translate

# The advisory lock that serialises appends on PostgreSQL: a fixed 32-bit class plus the schema's hash, so
# that logs in different schemas of one database do not wait for each other.
_APPEND_LOCK_CLASS = 0x6E6D_6C01
APPEND_LOCK_SQL = "SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))"
_READ_ONLY = "news_monitor_read_only"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the event log: pass an aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = MetaData()
Payload = JSON().with_variant(JSONB(), "postgresql")

events_table = Table(
    "events",
    metadata,
    Column("position", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("stream", String(300), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(100), nullable=False),
    Column("schema", Integer, nullable=False, default=1),
    Column("key", String(500), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("data", Payload, nullable=False),
    UniqueConstraint("stream", "version", name="uq_events_stream_version"),
    UniqueConstraint("key", name="uq_events_key"),
    Index("ix_events_type_position", "type", "position"),
)


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``key`` makes it idempotent; ``occurred_at`` says when its thing happened."""

    stream: str
    type: str
    key: str
    data: dict[str, Any]
    occurred_at: dt.datetime
    schema: int = 1
    expected_version: int | None = None  # None: append at the end, whatever the stream's version


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    stream: str
    version: int
    type: str
    schema: int
    key: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "stream": self.stream,
            "version": self.version,
            "type": self.type,
            "schema": self.schema,
            "key": self.key,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "data": self.data,
        }


@dataclass
class AppendResult:
    recorded: list[str] = field(default_factory=list)  # keys appended by this call
    duplicates: list[str] = field(default_factory=list)  # keys that were already recorded: a no-op

    @property
    def already_recorded(self) -> list[str]:
        return self.duplicates


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Steps that turn a stored payload of schema N into schema N+1 of the same event type.

    Reading applies every step from the stored schema up to the newest one registered, so the code that
    handles events only ever sees current payloads, while the stored events are never rewritten.
    """

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}
        self._latest: dict[str, int] = {}

    def register(self, event_type: str, from_schema: int) -> Callable[[Upcaster], Upcaster]:
        def decorator(step: Upcaster) -> Upcaster:
            self._steps[(event_type, from_schema)] = step
            self._latest[event_type] = max(self._latest.get(event_type, 1), from_schema + 1)
            return step
        return decorator

    def latest(self, event_type: str) -> int:
        return self._latest.get(event_type, 1)

    def upcast(self, event_type: str, schema: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        while (step := self._steps.get((event_type, schema))) is not None:
            data = step(dict(data))
            schema += 1
        return schema, data


NO_UPCASTERS = Upcasters()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_engine(url: str, *, lock_timeout: float = 30.0) -> Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout of ``lock_timeout`` seconds, and immediate
    write transactions; PostgreSQL gets psycopg 3 with a connect timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"invalid database URL {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the folder for the SQLite log {folder}: {exc.strerror}") from exc
        try:
            engine = create_engine(parsed, connect_args={"timeout": lock_timeout})
        except (NoSuchModuleError, ArgumentError) as exc:
            raise StorageError(f"unsupported database URL {url!r}: {exc}") from exc

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            deferred = conn.get_execution_options().get(_READ_ONLY)
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        # READ COMMITTED, whatever the server's default: each statement after the append lock must see the
        # rows of the writer that held it (a REPEATABLE READ snapshot, taken at the lock, would not).
        return create_engine(parsed, pool_pre_ping=True, isolation_level="READ COMMITTED",
                             connect_args={"connect_timeout": 10})
    except (NoSuchModuleError, ArgumentError) as exc:
        raise StorageError(f"unsupported database URL {url!r}: {exc}") from exc


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite its transaction is deferred, so it never takes the write lock."""
    with engine.connect() as conn:
        conn.execution_options(**{_READ_ONLY: True})
        yield conn


class EventLog:
    """Append events idempotently; read them by position, stream or type; follow new ones."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = utcnow,
                 upcasters: Upcasters = NO_UPCASTERS) -> None:
        self.engine = engine
        self.clock = clock
        self.upcasters = upcasters

    @classmethod
    def open(cls, url: str, clock: Callable[[], dt.datetime] = utcnow, *, migrate: bool | None = None,
             upcasters: Upcasters = NO_UPCASTERS, lock_timeout: float = 30.0) -> EventLog:
        """Open the log at ``url``. ``migrate``: True upgrades the schema to head, False never does, None
        (the default) upgrades SQLite automatically and requires PostgreSQL to be at head already."""
        from storage import schema  # the migrations import this module

        engine = make_engine(url, lock_timeout=lock_timeout)
        try:
            schema.prepare(engine, migrate)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock, upcasters)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        return safe_url(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- appending ---------------------------------------------------------------------------------

    def append(self, new_events: Sequence[NewEvent]) -> AppendResult:
        """Append a batch atomically: all of its new events, or none of them.

        Events whose key is already recorded (by an earlier batch, another process, or earlier in this
        batch) are skipped and reported in ``duplicates``. A wrong ``expected_version`` raises
        ConcurrencyError and appends nothing: the caller re-reads the stream and decides again.
        """
        if not new_events:
            return AppendResult()
        return self._write(new_events, keep_positions=False)

    def import_events(self, recorded: Sequence[RecordedEvent], *, renumber: bool = False) -> AppendResult:
        """Append events exported from another log, keeping their keys, schemas, both dates and payloads as
        stored. Events whose key is already here are skipped, so importing twice adds nothing.

        The events keep their positions too, so that anything that refers to a position (a review cursor)
        still means the same, and a moved log is the same log. That needs every new event to lie after
        this log's last position; otherwise ``renumber`` appends them at the end with new positions, and
        without it a StorageError says so. Versions are assigned here, after each stream's current one.
        """
        if not recorded:
            return AppendResult()
        return self._write(recorded, keep_positions=not renumber)

    def _write(self, batch: Sequence[NewEvent | RecordedEvent], keep_positions: bool) -> AppendResult:
        result = AppendResult()
        try:
            with self.engine.begin() as conn:
                self._lock_for_append(conn)
                existing = self._existing_keys(conn, {e.key for e in batch})
                fresh: list[NewEvent | RecordedEvent] = []
                seen: set[str] = set()
                for item in batch:
                    if item.key in existing or item.key in seen:
                        result.duplicates.append(item.key)
                    else:
                        seen.add(item.key)
                        fresh.append(item)
                if not fresh:
                    return result
                if keep_positions:
                    self._check_positions(conn, fresh)
                versions = self._stream_versions(conn, {e.stream for e in fresh})
                now = self.clock()
                rows = []
                for item in fresh:
                    current = versions.get(item.stream, 0)
                    expected = item.expected_version if isinstance(item, NewEvent) else None
                    if expected is not None and expected != current:
                        raise ConcurrencyError(
                            f"stream {item.stream!r} is at version {current}, expected {expected}: "
                            "another writer appended to it first; re-read the stream and retry")
                    versions[item.stream] = current + 1
                    row = {
                        "stream": item.stream, "version": current + 1, "type": item.type, "schema": item.schema,
                        "key": item.key, "occurred_at": item.occurred_at,
                        "recorded_at": item.recorded_at if isinstance(item, RecordedEvent) else now,
                        "data": item.data,
                    }
                    if keep_positions and isinstance(item, RecordedEvent):
                        row["position"] = item.position
                    rows.append(row)
                    result.recorded.append(item.key)
                conn.execute(events_table.insert(), rows)
                if keep_positions:
                    self._advance_sequence(conn)
        except StorageError:
            raise
        except SQLAlchemyError as exc:
            raise translate(exc, "cannot append to the event log; nothing of this batch was written",
                            self.engine) from exc
        return result

    def _lock_for_append(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text(APPEND_LOCK_SQL), {"lock_class": _APPEND_LOCK_CLASS})

    @staticmethod
    def _check_positions(conn: Connection, fresh: Sequence[NewEvent | RecordedEvent]) -> None:
        last = conn.scalar(select(func.coalesce(func.max(events_table.c.position), 0))) or 0
        first = min(e.position for e in fresh if isinstance(e, RecordedEvent))
        if first <= last:
            raise StorageError(f"cannot keep the imported positions: this log already has events up to position "
                               f"{last} and the import has new events from position {first}; import with "
                               "--renumber to append them at the end with new positions")

    @staticmethod
    def _advance_sequence(conn: Connection) -> None:
        """After inserting explicit positions, make the sequence continue after them (PostgreSQL)."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('events', 'position'), "
                              "(SELECT max(position) FROM events))"))

    @staticmethod
    def _existing_keys(conn: Connection, keys: set[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start:start + 1000]
            found.update(conn.scalars(select(events_table.c.key).where(events_table.c.key.in_(chunk))))
        return found

    @staticmethod
    def _stream_versions(conn: Connection, streams: set[str]) -> dict[str, int]:
        versions: dict[str, int] = {}
        ordered = sorted(streams)
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start:start + 1000]
            query = (select(events_table.c.stream, func.max(events_table.c.version))
                     .where(events_table.c.stream.in_(chunk)).group_by(events_table.c.stream))
            versions.update({stream: version for stream, version in conn.execute(query)})
        return versions

    # -- reading -----------------------------------------------------------------------------------

    def has_key(self, key: str) -> bool:
        return bool(self.existing_keys([key]))

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        try:
            with reading(self.engine) as conn:
                return self._existing_keys(conn, set(keys))
        except SQLAlchemyError as exc:
            raise translate(exc, "cannot read the event log", self.engine) from exc

    def stream_version(self, stream: str) -> int:
        """The stream's current version (0 for a stream with no events): what ``expected_version`` compares to."""
        try:
            with reading(self.engine) as conn:
                return self._stream_versions(conn, {stream}).get(stream, 0)
        except SQLAlchemyError as exc:
            raise translate(exc, "cannot read the event log", self.engine) from exc

    def read(self, *, after: int = 0, types: Iterable[str] | None = None, stream: str | None = None,
             limit: int | None = None, batch_size: int = 1000, upcast: bool = True) -> Iterator[RecordedEvent]:
        """Events in position order, after ``after``, optionally of some types or one stream.

        Rows come through a server-side cursor (a named cursor on PostgreSQL; SQLite steps through its
        result), ``batch_size`` at a time, so memory stays flat however long the log. The read runs in one
        snapshot: events committed while it runs are left for the next read (or ``follow``). With
        ``upcast=False`` payloads come as stored, in their own schema (what an export writes).
        """
        upcasters = self.upcasters if upcast else NO_UPCASTERS
        query = select(*read_columns(self.engine.dialect.name)).where(events_table.c.position > after)
        if types is not None:
            query = query.where(events_table.c.type.in_(sorted(set(types))))
        if stream is not None:
            query = query.where(events_table.c.stream == stream)
        query = query.order_by(events_table.c.position)
        if limit is not None:
            query = query.limit(limit)
        try:
            with reading(self.engine) as conn:
                result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
                for rows in result.partitions():
                    for row in rows:
                        yield decode_row(row, upcasters)
        except SQLAlchemyError as exc:
            raise translate(exc, "cannot read the event log", self.engine) from exc

    def follow(self, *, after: int = 0, types: Iterable[str] | None = None, poll_interval: float = 0.5,
               stop: threading.Event | None = None, batch_size: int = 1000) -> Iterator[RecordedEvent]:
        """Every event after ``after`` and then each new one as it is committed, until ``stop`` is set.

        Safe to follow by position because positions become visible in increasing order (see the module
        docstring): nothing committed later can appear behind the cursor.
        """
        stop = stop or threading.Event()
        cursor = after
        wanted = list(types) if types is not None else None
        while not stop.is_set():
            # Fetch the batch first, so that no transaction stays open while the consumer works.
            batch = list(self.read(after=cursor, types=wanted, limit=batch_size, batch_size=batch_size))
            for recorded in batch:
                cursor = recorded.position
                yield recorded
            if len(batch) < batch_size:
                stop.wait(poll_interval)

    def last_position(self, exclude_types: Iterable[str] = ()) -> int:
        """The position of the newest event (0 for an empty log), not counting ``exclude_types``."""
        query = select(func.coalesce(func.max(events_table.c.position), 0))
        if excluded := sorted(set(exclude_types)):
            query = query.where(events_table.c.type.not_in(excluded))
        try:
            with reading(self.engine) as conn:
                return conn.scalar(query) or 0
        except SQLAlchemyError as exc:
            raise translate(exc, "cannot read the event log", self.engine) from exc


def read_columns(dialect: str) -> list[Any]:
    """The events columns, with SQLite's JSON text left undecoded so that ``decode_row`` can name the event
    whose payload is corrupt (PostgreSQL validates JSONB when it is written)."""
    columns: list[Any] = [c for c in events_table.c if c.name != "data"]
    data = events_table.c.data
    columns.append(type_coerce(data, Text).label("data") if dialect == "sqlite" else data)
    return columns


def decode_row(row: Any, upcasters: Upcasters = NO_UPCASTERS) -> RecordedEvent:
    """Build a RecordedEvent from a row of ``read_columns``; a payload that is not a JSON object, or that
    an upcaster cannot read, raises a StorageError that names the event."""
    data = row.data
    try:
        if isinstance(data, str | bytes):
            data = json.loads(data)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        schema, data = upcasters.upcast(row.type, row.schema, data)
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"event {row.position} ({row.type}, schema {row.schema}, key {row.key!r}) has a corrupt "
                           f"payload: {exc}") from exc
    return RecordedEvent(
        position=row.position, stream=row.stream, version=row.version, type=row.type, schema=schema,
        key=row.key, occurred_at=row.occurred_at, recorded_at=row.recorded_at, data=data,
    )
