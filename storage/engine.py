"""The database engine the event log and the views run on: SQLite (the embedded default) or PostgreSQL.

``make_engine`` opens either with the settings the log relies on. On SQLite: WAL, a busy timeout, and a
write transaction that starts with ``BEGIN IMMEDIATE``, which takes the write lock up front (and avoids two
readers deadlocking when both upgrade to writers); reads go through ``reading``, whose plain deferred
``BEGIN`` never takes the write lock, so in WAL mode a reader never blocks the writer. On PostgreSQL: psycopg
3, READ COMMITTED and a connect timeout. Payloads are written and read as JSON by orjson.

Beside it live the pieces that differ by dialect: ``UTCDateTime`` (aware UTC datetimes on both), ``chunks``
and ``unnest`` (how a statement takes a set of values), and ``driver_batches`` and ``driver_executemany`` (a
replay's rows straight from the driver's cursor, and a view's rows written through it).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ARRAY, DateTime, Engine, String, bindparam, create_engine, event, func
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.types import TypeDecorator

from storage.errors import StorageError

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


def _dump_json(value: Any) -> str:
    """Payloads as JSON with orjson (several times faster than the json module on every append). A float NaN
    or infinity, which JSON cannot say, becomes null, as in JavaScript; the json module wrote ``NaN``, which
    is not JSON and which PostgreSQL refuses."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # a type orjson does not know (an int beyond 64 bits, say): the json module's answer
        return json.dumps(value)


def load_json(text: str | bytes) -> Any:
    """JSON columns read with orjson (a digest reads a few per mention; a rebuild's PostgreSQL payloads come as
    JSONB, which psycopg decodes with this too); what orjson refuses but the json module reads (NaN, written by
    earlier versions) goes to the json module."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


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
            engine = create_engine(parsed, connect_args={"timeout": lock_timeout}, json_serializer=_dump_json,
                                   json_deserializer=load_json)
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
        return create_engine(parsed, pool_pre_ping=True, isolation_level="READ COMMITTED", json_serializer=_dump_json,
                             json_deserializer=load_json,
                             connect_args={"connect_timeout": 10})
    except (NoSuchModuleError, ArgumentError) as exc:
        raise StorageError(f"unsupported database URL {url!r}: {exc}") from exc


@contextmanager
def reading(engine: Engine, *, statements_apart: bool = False) -> Iterator[Connection]:
    """A connection for reads only: on SQLite its transaction is deferred, so it never takes the write lock.

    ``statements_apart``: on PostgreSQL, each statement is a transaction of its own (the driver's autocommit).
    Under READ COMMITTED every statement takes its own snapshot anyway, so the reads see what they would see in
    one transaction, without its BEGIN and ROLLBACK: two of a small digest's round trips. Not for a server-side
    cursor, which needs a transaction. On SQLite, whose transaction is one snapshot for all its reads, it changes
    nothing."""
    with engine.connect() as conn:
        if statements_apart and conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execution_options(**{_READ_ONLY: True})
        yield conn


def chunks(conn: Connection, values: set[str]) -> Iterator[list[str]]:
    """``values`` sorted, in chunks a statement can take: SQLite limits bound parameters, while PostgreSQL
    gets the whole set as one array parameter."""
    ordered = sorted(values)
    size = max(1, len(ordered)) if conn.dialect.name == "postgresql" else 900
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def sqlite_rows(conn: Connection, query: Any, batch_size: int) -> Iterator[tuple[Any, ...]]:
    """The rows of ``query`` straight from the sqlite3 cursor, in the connection's transaction. A replay reads
    every event once, and SQLAlchemy's result rows cost a tenth of its time; the columns need no processing
    here (``storage.eventlog.read_columns`` reads the payload and timestamps as stored)."""
    for rows in driver_batches(conn, query, batch_size):
        yield from rows


def driver_batches(conn: Connection, query: Any, batch_size: int, *, server_side: bool = False,
                   ) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``query``, ``batch_size`` at a time, as the driver's own cursor gives them (tuples, no SQLAlchemy
    result processing), in the connection's transaction: what a replay reads once per event. The query's
    parameters must need no bind processing (positions, type names, streams). ``server_side``: on PostgreSQL, a
    named cursor, so that memory stays flat however long the result (SQLite's cursor steps through its result
    anyway). A driver's error is raised as SQLAlchemy raises it, for ``translating``."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    parameters = compiled.construct_params()
    conn.exec_driver_sql("SELECT 1")  # begin the transaction the SQLAlchemy way (on SQLite a deferred BEGIN)
    driver = conn.connection.driver_connection
    error: type[Exception] = sqlite3.Error
    if conn.dialect.name == "sqlite":
        cursor = driver.cursor()
        arguments: Any = [parameters[name] for name in compiled.positiontup or ()]
    else:
        import psycopg

        error = psycopg.Error
        cursor = driver.cursor(name=f"nm_rows_{id(query):x}") if server_side else driver.cursor()
        arguments = parameters
    try:
        cursor.execute(str(compiled), arguments)
        while rows := cursor.fetchmany(batch_size):
            yield rows
    except error as exc:  # raised as SQLAlchemy raises the driver's errors, for ``translating``
        raise DBAPIError.instance(None, None, exc, error) from exc
    finally:
        try:
            cursor.close()
        except error:  # the connection went first (a reader abandoned mid-way, at shutdown)
            pass


def driver_executemany(conn: Connection, statement: str, rows: list[Any]) -> None:
    """``statement`` (compiled for this connection's dialect) run once per row of already processed parameters,
    through the driver's own ``executemany``, in the connection's transaction: a view's bulk upsert, without
    SQLAlchemy building and processing a parameter set per row. Errors are raised as SQLAlchemy raises them."""
    driver = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        error: type[Exception] = sqlite3.Error
    else:
        import psycopg

        error = psycopg.Error
    cursor = driver.cursor()
    try:
        cursor.executemany(statement, rows)
    except error as exc:
        raise DBAPIError.instance(statement, None, exc, error) from exc
    finally:
        cursor.close()


def unnest(values: list[str]) -> Any:
    """The values as a table (PostgreSQL): one array parameter rather than one parameter per value, which spared
    psycopg parsing a statement with a thousand placeholders on every append (a fifth of its time). Each value
    is then looked up on its own through a unique index (a scalar subquery per key and per stream: an index
    probe each), a plan that holds whatever the table's statistics: an ``= ANY(array)`` filter
    planned without them (autovacuum off, or a prepared generic plan) scanned the whole log on every append."""
    return func.unnest(bindparam(None, values, type_=ARRAY(String))).table_valued("value").render_derived("given")
