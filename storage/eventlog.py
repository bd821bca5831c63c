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

On SQLite there is one writer at a time anyway: a write transaction starts with ``BEGIN IMMEDIATE`` and
reads with a deferred ``BEGIN`` (see ``storage.engine``), so in WAL mode reads never block the writer.

The tables are in ``storage.tables``, the engine and the dialects' differences in ``storage.engine``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine, LargeBinary, Text, cast, func, select, text, type_coerce
from sqlalchemy.engine import Connection

from storage.engine import chunks, driver_batches, load_json, make_engine, reading, unnest
from storage.errors import ConcurrencyError, StorageError, safe_url, translating
from storage.tables import events_table

# The advisory lock that serialises appends on PostgreSQL: a fixed 32-bit class plus the schema's hash, so
# that logs in different schemas of one database do not wait for each other.
_APPEND_LOCK_CLASS = 0x6E6D_6C01
APPEND_LOCK_SQL = "SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))"


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


_FIELDS = ("position", "stream", "version", "type", "schema", "key", "occurred_at", "recorded_at", "data")
_new_tuple = tuple.__new__


class RecordedEvent(tuple):  # noqa: SLOT001 - a tuple subclass, as a named tuple is
    """An event as stored: immutable, compared field by field.

    A read builds one per row, whose payload is decoded (and upcast) when ``data`` is first read, once: a replay
    that looks at positions, types and keys, or skips the events it has no use for, pays nothing for their
    payloads, which are most of what a row holds. A payload that cannot be read raises the StorageError that
    names the event then. A tuple, as the named tuple it was, built by one C call per row: its last item is a
    small list that holds the payload, or what decoding it takes (so the decoded payload can be kept).
    """

    __slots__ = ()

    position: int = property(itemgetter(0))  # type: ignore[assignment]
    stream: str = property(itemgetter(1))  # type: ignore[assignment]
    version: int = property(itemgetter(2))  # type: ignore[assignment]
    type: str = property(itemgetter(3))  # type: ignore[assignment]
    schema: int = property(itemgetter(4))  # type: ignore[assignment]
    key: str = property(itemgetter(5))  # type: ignore[assignment]
    occurred_at: dt.datetime = property(itemgetter(6))  # type: ignore[assignment]
    recorded_at: dt.datetime = property(itemgetter(7))  # type: ignore[assignment]

    def __new__(cls, position: int, stream: str, version: int, type: str, schema: int, key: str,  # noqa: A002
                occurred_at: dt.datetime, recorded_at: dt.datetime, data: dict[str, Any]) -> RecordedEvent:
        return _new_tuple(cls, (position, stream, version, type, schema, key, occurred_at, recorded_at,
                                [data, None, None, schema]))

    @property
    def data(self) -> dict[str, Any]:
        cell = self[8]  # [payload, raw payload or None, upcasters, stored schema]
        if cell[1] is not None:
            cell[0] = _payload(self[0], self[3], cell[3], self[5], cell[1], cell[2])
            cell[1] = None
        return cell[0]

    def __iter__(self) -> Iterator[Any]:  # unpacks as the named tuple it was: the payload last
        yield from self[:8]
        yield self.data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return self[:8] == other[:8] and self.data == other.data

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]  # the payload is a dict

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(_FIELDS, self, strict=True))
        return f"RecordedEvent({fields})"

    def __getnewargs__(self) -> tuple[Any, ...]:  # pickled (sent to a worker process) with its payload decoded
        return tuple(self)

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

    def has_steps(self, event_type: str) -> bool:
        return event_type in self._latest

    def latest(self, event_type: str) -> int:
        return self._latest.get(event_type, 1)

    def final_schema(self, event_type: str, schema: int) -> int:
        """The schema ``upcast`` brings a payload of ``schema`` to, known without the payload."""
        while (event_type, schema) in self._steps:
            schema += 1
        return schema

    def upcast(self, event_type: str, schema: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        while (step := self._steps.get((event_type, schema))) is not None:
            data = step(dict(data))
            schema += 1
        return schema, data


NO_UPCASTERS = Upcasters()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
        from storage import migrate as schema  # alembic, loaded only when a log is opened

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
        failed = "cannot append to the event log; nothing of this batch was written"
        with translating(failed, self.engine), self.engine.begin() as conn:
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
    def present_keys(conn: Connection, keys: set[str]) -> set[str]:
        """Which of ``keys`` are recorded, read on the caller's connection (inside its transaction)."""
        return EventLog._existing_keys(conn, keys)

    @staticmethod
    def _existing_keys(conn: Connection, keys: set[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(conn, keys):
            if conn.dialect.name == "postgresql":
                given = unnest(chunk)
                probe = select(events_table.c.position).where(events_table.c.key == given.c.value).limit(1)
                found.update(value for value, position in conn.execute(select(given.c.value, probe.scalar_subquery()))
                             if position is not None)
            else:
                found.update(conn.scalars(select(events_table.c.key).where(events_table.c.key.in_(chunk))))
        return found

    @staticmethod
    def _stream_versions(conn: Connection, streams: set[str]) -> dict[str, int]:
        versions: dict[str, int] = {}
        for chunk in chunks(conn, streams):
            if conn.dialect.name == "postgresql":
                given = unnest(chunk)
                newest = (select(func.max(events_table.c.version)).where(events_table.c.stream == given.c.value)
                          .scalar_subquery())
                query = select(given.c.value, newest)
            else:
                query = (select(events_table.c.stream, func.max(events_table.c.version))
                         .where(events_table.c.stream.in_(chunk)).group_by(events_table.c.stream))
            versions.update({stream: version for stream, version in conn.execute(query) if version is not None})
        return versions

    # -- reading -----------------------------------------------------------------------------------

    def has_key(self, key: str) -> bool:
        return bool(self.existing_keys([key]))

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        with translating("cannot read the event log", self.engine), reading(self.engine) as conn:
            return self._existing_keys(conn, set(keys))

    def stream_version(self, stream: str) -> int:
        """The stream's current version (0 for a stream with no events): what ``expected_version`` compares to."""
        with translating("cannot read the event log", self.engine), reading(self.engine) as conn:
            return self._stream_versions(conn, {stream}).get(stream, 0)

    def read(self, *, after: int = 0, types: Iterable[str] | None = None, stream: str | None = None,
             limit: int | None = None, batch_size: int = 1000, upcast: bool = True) -> Iterator[RecordedEvent]:
        """Events in position order, after ``after``, optionally of some types or one stream.

        Each payload is decoded (and upcast) when the event's ``data`` is first read, so a corrupt one raises its
        StorageError there. Rows come through the driver's own server-side cursor (a named cursor on PostgreSQL;
        SQLite steps through its result), ``batch_size`` at a time, so memory stays flat however long the log, and
        each becomes a RecordedEvent in one call, with no SQLAlchemy row in between (``row_reader``). The read runs in
        one snapshot: events committed while it runs are left for the next read (or ``follow``). With
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
        with translating("cannot read the event log", self.engine), reading(self.engine) as conn:
            make = row_reader(conn.dialect.name, upcasters)
            for rows in driver_batches(conn, query, batch_size, server_side=True):
                yield from map(make, rows)

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
        with translating("cannot read the event log", self.engine), reading(self.engine) as conn:
            return conn.scalar(query) or 0


# SQLite keeps timestamps as text ("2025-09-01 09:00:00.000000", UTC by our writes). Reading them as text and
# parsing them with fromisoformat, a zone appended, is several times faster than the DateTime result processor
# plus a tzinfo replace, and the whole replay is dominated by such per-row costs.
_SQLITE_UTC = "+00:00"
fromisoformat = dt.datetime.fromisoformat


def read_columns(dialect: str) -> list[Any]:
    """The events columns, with the payload left undecoded (decoded by ``RecordedEvent.data`` when read, and a
    corrupt one named there): SQLite's JSON as bytes (orjson reads them, no str decoding) and PostgreSQL's JSONB
    as text (psycopg would decode every payload as it fetches it); SQLite's timestamps as text."""
    if dialect != "sqlite":
        return [cast(c, Text).label(c.name) if c.name == "data" else c for c in events_table.c]
    return [cast(c, LargeBinary).label(c.name) if c.name == "data"
            else type_coerce(c, Text).label(c.name) if c.name in ("occurred_at", "recorded_at") else c
            for c in events_table.c]


def _payload(position: int, event_type: str, schema: int, key: str, data: Any, upcasters: Upcasters) -> dict[str, Any]:
    """A stored payload decoded and upcast; one that is not a JSON object, or that an upcaster cannot read, raises
    a StorageError that names the event."""
    try:
        if data.__class__ is not dict:
            data = load_json(data)
            if data.__class__ is not dict:
                raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        if upcasters.has_steps(event_type):
            schema, data = upcasters.upcast(event_type, schema, data)
    except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise StorageError(f"event {position} ({event_type}, schema {schema}, key {key!r}) has a corrupt "
                           f"payload: {exc}") from exc
    return data


def decode_row(row: Any, upcasters: Upcasters = NO_UPCASTERS) -> RecordedEvent:
    """A RecordedEvent from a row of ``read_columns``, its payload decoded now (what a projection reads at once);
    a corrupt payload raises a StorageError that names the event."""
    event = lazy_row(row, upcasters)
    event.data  # noqa: B018 - decoded now, so that a corrupt payload fails here
    return event


def lazy_row(row: Any, upcasters: Upcasters = NO_UPCASTERS) -> RecordedEvent:
    """A RecordedEvent from a row of ``read_columns`` (either dialect's), its payload decoded when first read."""
    return row_reader("sqlite" if row[6].__class__ is str else "postgresql", upcasters)(row)


def row_reader(dialect: str, upcasters: Upcasters = NO_UPCASTERS) -> Callable[[Any], RecordedEvent]:
    """The function that makes a RecordedEvent of a row of ``read_columns`` on ``dialect``, its payload decoded when
    first read. A replay runs it once an event, so it is written for speed: the dates parsed (SQLite: text) or
    brought to UTC (PostgreSQL: aware datetimes in the session's zone) as ``UTCDateTime`` does, and the schema
    upcast known from the event type alone (one dict lookup when no upcaster is registered for it)."""
    with_steps = upcasters._latest  # the types some upcaster is registered for (a class of this module)
    final_schema = upcasters.final_schema
    new, cls, parse, utc = _new_tuple, RecordedEvent, fromisoformat, dt.UTC

    if dialect == "sqlite":
        def make(row: Any) -> RecordedEvent:
            position, stream, version, event_type, schema, key, occurred, recorded, data = row
            try:
                occurred = parse(occurred + _SQLITE_UTC)
                recorded = parse(recorded + _SQLITE_UTC)
            except (ValueError, TypeError) as exc:
                raise StorageError(f"event {position} ({event_type}, schema {schema}, key {key!r}) has a corrupt "
                                   f"date: {exc}") from exc
            return new(cls, (position, stream, version, event_type,
                             final_schema(event_type, schema) if event_type in with_steps else schema, key,
                             occurred, recorded, [None, data, upcasters, schema]))
    else:
        def make(row: Any) -> RecordedEvent:
            position, stream, version, event_type, schema, key, occurred, recorded, data = row
            return new(cls, (position, stream, version, event_type,
                             final_schema(event_type, schema) if event_type in with_steps else schema, key,
                             occurred.astimezone(utc), recorded.astimezone(utc), [None, data, upcasters, schema]))
    return make


def row_decoder(dialect: str, upcasters: Upcasters = NO_UPCASTERS) -> Callable[[Any], RecordedEvent]:
    """As ``row_reader``, with the payload decoded (and upcast) at once (what a projection reads): a corrupt
    payload raises the StorageError that names the event here."""
    make = row_reader(dialect, upcasters)

    def decode(row: Any) -> RecordedEvent:
        event = make(row)
        cell = event[8]
        cell[0] = _payload(row[0], row[3], row[4], row[5], cell[1], upcasters)
        cell[1] = None
        return event
    return decode
