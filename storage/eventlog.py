"""The append-only event log, on SQLite (embedded default) or PostgreSQL, with SQLAlchemy 2.x Core.

Every event has:
- a global ``position`` (the order of the whole log, the cursor that projections and digests follow);
- a ``stream`` and a ``version`` within it, unique together;
- an idempotency ``key``, unique in the whole log: appending an event whose key is already recorded is a
  no-op reported as a duplicate, never an error and never a second row;
- ``occurred_at`` (when the thing happened, e.g. an article's publication) and ``recorded_at``.

Global order without gaps for readers: a reader that follows ``position > last_seen`` must never skip an
event that commits late with a lower position. On PostgreSQL, sequence values are taken at insert time and
transactions can commit out of order, so every append first takes a transaction-scoped advisory lock: the
appends are serialised, positions are allocated and committed in the same order, and "the highest position
I have seen" is a safe cursor. On SQLite, ``BEGIN IMMEDIATE`` takes the single write lock up front, which
gives the same guarantee (and avoids the deadlock of two readers upgrading to writers).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from monitor.errors import ConcurrencyError, StorageError

# Any fixed 64-bit number: the advisory lock that serialises appends on PostgreSQL.
_APPEND_LOCK_ID = 0x6E6D_6C6F_6701


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
    duplicates: list[str] = field(default_factory=list)  # keys that were already recorded


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _describe_db_error(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:300]


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite set up for WAL, a busy timeout and immediate write locks."""
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
            engine = create_engine(parsed, connect_args={"timeout": 30})
        except (NoSuchModuleError, ArgumentError) as exc:
            raise StorageError(f"unsupported database URL {url!r}: {exc}") from exc

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (NoSuchModuleError, ArgumentError) as exc:
        raise StorageError(f"unsupported database URL {url!r}: {exc}") from exc


class EventLog:
    """Append events idempotently; read them by position, stream or type."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def open(cls, url: str, clock: Callable[[], dt.datetime] = utcnow) -> EventLog:
        log = cls(make_engine(url), clock)
        log.create_schema()
        return log

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        try:
            with self.engine.begin() as conn:
                metadata.create_all(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot open the event log at {self._safe_url()}: {_describe_db_error(exc)}") from exc

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # -- appending ---------------------------------------------------------------------------------

    def append(self, new_events: Sequence[NewEvent]) -> AppendResult:
        """Append a batch atomically. Events whose key is already recorded are skipped and reported."""
        result = AppendResult()
        if not new_events:
            return result
        try:
            with self.engine.begin() as conn:
                self._lock_for_append(conn)
                existing = self._existing_keys(conn, {e.key for e in new_events})
                fresh: list[NewEvent] = []
                seen: set[str] = set()
                for new in new_events:
                    if new.key in existing or new.key in seen:
                        result.duplicates.append(new.key)
                    else:
                        seen.add(new.key)
                        fresh.append(new)
                if not fresh:
                    return result
                versions = self._stream_versions(conn, {e.stream for e in fresh})
                now = self.clock()
                rows = []
                for new in fresh:
                    current = versions.get(new.stream, 0)
                    if new.expected_version is not None and new.expected_version != current:
                        raise ConcurrencyError(
                            f"stream {new.stream!r} is at version {current}, expected {new.expected_version}"
                        )
                    versions[new.stream] = current + 1
                    rows.append({
                        "stream": new.stream, "version": current + 1, "type": new.type, "schema": new.schema,
                        "key": new.key, "occurred_at": new.occurred_at, "recorded_at": now, "data": new.data,
                    })
                    result.recorded.append(new.key)
                conn.execute(events_table.insert(), rows)
        except StorageError:
            raise
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot append to the event log: {_describe_db_error(exc)}") from exc
        return result

    def _lock_for_append(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPEND_LOCK_ID})

    @staticmethod
    def _existing_keys(conn: Connection, keys: set[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            found.update(conn.scalars(select(events_table.c.key).where(events_table.c.key.in_(chunk))))
        return found

    @staticmethod
    def _stream_versions(conn: Connection, streams: set[str]) -> dict[str, int]:
        versions: dict[str, int] = {}
        ordered = sorted(streams)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            query = (select(events_table.c.stream, func.max(events_table.c.version))
                     .where(events_table.c.stream.in_(chunk)).group_by(events_table.c.stream))
            versions.update({stream: version for stream, version in conn.execute(query)})
        return versions

    # -- reading -----------------------------------------------------------------------------------

    def has_key(self, key: str) -> bool:
        return bool(self.existing_keys([key]))

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        try:
            with self.engine.connect() as conn:
                return self._existing_keys(conn, set(keys))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the event log: {_describe_db_error(exc)}") from exc

    def read(self, *, after: int = 0, types: Iterable[str] | None = None, stream: str | None = None,
             limit: int | None = None, batch_size: int = 1000) -> Iterator[RecordedEvent]:
        """Events in position order, fetched in batches by keyset so that memory stays flat."""
        wanted = sorted(set(types)) if types else None
        remaining = limit
        cursor = after
        while remaining is None or remaining > 0:
            size = batch_size if remaining is None else min(batch_size, remaining)
            query = select(events_table).where(events_table.c.position > cursor)
            if wanted:
                query = query.where(events_table.c.type.in_(wanted))
            if stream is not None:
                query = query.where(events_table.c.stream == stream)
            query = query.order_by(events_table.c.position).limit(size)
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(query).mappings().all()
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot read the event log: {_describe_db_error(exc)}") from exc
            for row in rows:
                yield _to_recorded(row)
            if len(rows) < size:
                return
            cursor = rows[-1]["position"]
            if remaining is not None:
                remaining -= len(rows)

    def last_position(self, exclude_types: Iterable[str] = ()) -> int:
        """The position of the newest event (0 for an empty log), not counting ``exclude_types``."""
        query = select(func.coalesce(func.max(events_table.c.position), 0))
        if excluded := sorted(set(exclude_types)):
            query = query.where(events_table.c.type.not_in(excluded))
        try:
            with self.engine.connect() as conn:
                return conn.scalar(query) or 0
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read the event log: {_describe_db_error(exc)}") from exc


def _to_recorded(row: Any) -> RecordedEvent:
    data = row["data"]
    if isinstance(data, str):  # some drivers hand JSON back as text
        data = json.loads(data)
    return RecordedEvent(
        position=row["position"], stream=row["stream"], version=row["version"], type=row["type"],
        schema=row["schema"], key=row["key"], occurred_at=row["occurred_at"], recorded_at=row["recorded_at"],
        data=data,
    )

