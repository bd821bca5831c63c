"""The view engine: read models projected from the event log, kept in step a batch at a time.

A view is one table of rows with a primary key, and a reducer per event type that it reads: a pure
function ``(current row or None, event) -> new row`` (None: the row stays as it is). Catching up reads a
batch of events after the view's checkpoint, loads the rows those events touch, folds the events into them
in position order, and writes the changed rows and the new checkpoint in one transaction. A crash therefore
leaves each view at a consistent position, and the next catch-up resumes there. The events come straight from the
driver's cursor, each type's in index order, their payloads decoded once; the changed rows go to the table in one
bulk upsert per batch (``INSERT ... ON CONFLICT DO UPDATE`` through the driver's ``executemany``, compiled once).

``rebuild`` empties a view and replays the log into it. Because the reducers depend on nothing but the
events, in position order, the rebuilt state equals the live state. A replay from empty keeps the rows it wrote in
memory, and writes each batch in a thread while it reads and folds the next (``Projector._replay``).

Each view has a version, stored beside its checkpoint (``storage.tables.checkpoints``). When a reducer's
meaning changes, its version is raised, and the view rebuilds itself at its next catch-up: no stale read
model survives an upgrade.

The engine knows no view: whoever defines the views (their tables and reducers) hands them to a Projector.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Integer, Table, delete, func, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from storage.engine import driver_batches, driver_executemany, reading
from storage.errors import StorageError, translating
from storage.eventlog import NO_UPCASTERS, RecordedEvent, Upcasters, read_columns, row_decoder
from storage.tables import checkpoints, events_table
from storage.upsert import Upsert, compile_upsert

Row = dict[str, Any]
Reducer = Callable[..., Row | None]


@dataclass(frozen=True)
class Details:
    """Rows of a second table derived from each row of a view, for reads the view's own rows cannot index (a row
    holding a list, whose items are searched by their own columns). ``rows(row)`` gives them; the table's primary
    key starts with the view's key columns, by the same names. Whenever the view stores a row, its details are
    replaced by those of the new row, in the same transaction; a reset empties them with the view."""

    table: Table
    rows: Callable[[Row], list[Row]]
    # A last step once a batch's details are replaced, on its connection: ``settle(conn, removed, added)``, for
    # columns that depend on other details than a row's own (each timeline sighting's event depends on the
    # sightings near it). It must give the same columns for the same details (and views it reads), so that a
    # rebuild equals the live state.
    settle: Callable[[Connection, list[Row], list[Row]], None] | None = None


@dataclass(frozen=True)
class View:
    """One read model: its table, the reducer of each event type it reads, and the row an event changes."""

    name: str
    version: int
    table: Table
    row_key: Callable[[RecordedEvent], tuple[Any, ...]]  # the primary key of the row an event changes
    reducers: dict[str, Reducer]
    # For a view where one event changes several rows: their keys. Its reducers are then called with the key
    # as a third argument, ``(row or None, event, key)``.
    row_keys: Callable[[RecordedEvent], list[tuple[Any, ...]]] | None = None
    # A last step over the rows a batch changed, before they are stored, on the batch's connection: for columns
    # derived from what views applied before this one hold (read in the same transaction). It fills the rows in
    # place, and must give the same columns for the same rows of those views, so that a rebuild equals the live
    # state. Views are caught up in the order they are given, each to the end, so the views it reads are ahead.
    enrich: Callable[[Connection, list[Row]], None] | None = None
    details: Details | None = None
    # Called when a replay (``rebuild``) finds the view behind, before any view of that replay is applied: a slow
    # one-off load its reducers need (a gazetteer) can start then, and overlap the views applied ahead of it.
    # A daemon's catch-ups (a poll's events) leave the load to the reducer that first needs it.
    prepare: Callable[[], None] | None = None

    @property
    def key_columns(self) -> list[Column[Any]]:
        return list(self.table.primary_key.columns)


@functools.cache
def _template(table: Table) -> dict[str, Any]:
    """A new row's values: NULL, and 0 for the counters (non-null integers outside the key)."""
    return {column.name: 0 if isinstance(column.type, Integer) and not column.nullable and not column.primary_key
            else None for column in table.columns}


def blank(table: Table, key: dict[str, Any]) -> Row:
    """A new row of ``table`` with ``key``: NULL everywhere else, and 0 in the counters."""
    return {**_template(table), **key}


_first = itemgetter(0)


def _key_conditions(columns: list[Column[Any]], keys: Iterable[tuple[Any, ...]]) -> list[Any]:
    """WHERE clauses that together select the rows with ``keys`` (values of ``columns``), 500 keys a clause: per
    value of the other columns, the first column's IN (...), which SQLite looks up in the key's index (it scans the
    whole table for a row-value IN: a batch's load read every row of a view keyed by article and topic)."""
    tails: dict[tuple[Any, ...], set[Any]] = {}
    for key in keys:
        tails.setdefault(tuple(key[1:]), set()).add(key[0])
    out = []
    for tail, heads in sorted(tails.items()):
        ordered = sorted(heads)
        for start in range(0, len(ordered), 500):
            clause = columns[0].in_(ordered[start:start + 500])
            for column, value in zip(columns[1:], tail, strict=True):
                clause = clause & (column == value)
            out.append(clause)
    return out


REBUILD_BATCH = 10_000
MEMO_ROWS = 200_000  # rows a replay keeps in memory per view; past that it reads them back as catch_up does


class _Moved(Exception):
    """A replayed batch found the view's checkpoint moved by someone else: its write was not made."""


class _Memo:
    """The rows one replay wrote to a view, kept from batch to batch so that each batch need not read back
    what the previous one stored. Trusted only while the view's checkpoint is where this replay left it (no
    other process applied a batch in between); ``complete`` while it also holds every row of the view (the
    replay began on an empty view, at position 0), so that a key it lacks is a key the table lacks."""

    def __init__(self) -> None:
        self.rows: dict[tuple[Any, ...], Row] = {}
        self.position: int | None = None
        self.complete = False

    def start(self, position: int) -> None:
        if position != self.position:  # the first batch, or another process moved the checkpoint
            self.rows.clear()
            self.complete = position == 0
        self.position = position

    def known(self, keys: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], Row]:
        return {key: self.rows[key] for key in keys if key in self.rows}

    def written(self, position: int, rows: dict[tuple[Any, ...], Row]) -> None:
        self.rows.update(rows)
        self.position = position
        if len(self.rows) > MEMO_ROWS:
            self.rows.clear()
            self.complete = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a replay of the whole log. A replay allocates millions of
    small containers (payloads, rows, the memo's rows) that reference counting frees, while each of the
    collector's passes walks every container still alive, the memo's hundreds of thousands of rows included: a
    quarter of a rebuild's CPU time (profile: 100k events, 6.9-8.0 s of CPU with it, 5.1-5.3 s without). It runs
    again (and finds any cycle made meanwhile) when the replay ends, however it ends."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Projector:
    """Keeps ``views`` (by name) in step with the log. ``upcasters`` must be the log's, so that the reducers see
    current payloads."""

    def __init__(self, engine: Engine, views: Mapping[str, View], *, upcasters: Upcasters = NO_UPCASTERS,
                 batch_size: int = 2000) -> None:
        self.engine = engine
        self.views = views
        self.upcasters = upcasters
        self.batch_size = batch_size
        self._upserts: dict[str, Upsert] = {}  # each view's upsert, compiled for this engine's dialect

    def catch_up(self, names: Iterable[str] | None = None, *, batch_size: int | None = None,
                 remember: bool = False) -> int:
        """Apply every event not yet applied to each view. Returns how many events were applied.
        ``remember``: keep the rows written in memory from batch to batch (see _Memo): for a replay."""
        applied = 0
        views = [self._view(name) for name in names or self.views]
        with translating("cannot read the views' checkpoints", self.engine):
            behind = self._behind(views)
        for view in behind if remember else ():
            if view.prepare is not None:
                view.prepare()
        for view in behind:
            with translating(f"cannot update the {view.name} view", self.engine):
                size = batch_size or self.batch_size
                applied += self._replay(view, size) if remember else self._batches(view, size, None)
        return applied

    def _behind(self, views: list[View]) -> list[View]:
        """The views that have something to apply: a view of another version, or one whose checkpoint is
        before the newest event of a type it reads. Found in one read (each newest position is an index
        lookup), so that catching up a view with nothing to do takes no write transaction: the daemon
        catches up after every poll."""
        newest = {t: select(func.max(events_table.c.position)).where(events_table.c.type == t).scalar_subquery()
                  for t in sorted({t for view in views for t in view.reducers})}
        with reading(self.engine) as conn:
            stored = {name: (position, version) for name, position, version in conn.execute(
                select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.view_version))}
            row = conn.execute(select(*(q.label(f"t{i}") for i, q in enumerate(newest.values())))).one()
        latest = {t: position or 0 for t, position in zip(newest, row, strict=True)}
        out = []
        for view in views:
            position, version = stored.get(view.name, (0, None))
            if version != view.version or max(latest[t] for t in view.reducers) > position:
                out.append(view)
        return out

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Empty the views and replay the whole log into them."""
        chosen = list(names or self.views)
        for name in chosen:
            view = self._view(name)
            with translating(f"cannot rebuild the {name} view", self.engine), self.engine.begin() as conn:
                self._lock_checkpoint(conn, view)
                self._reset(conn, view)
        # A replay of the whole log goes in batches five times the daemon's: a transaction (its commit, its
        # checkpoint write, its load of the rows it touches) per 10,000 events, not per 2,000.
        with _collector_paused():
            return self.catch_up(chosen, batch_size=max(self.batch_size, REBUILD_BATCH), remember=True)

    def events_read(self, names: Iterable[str] | None = None) -> int:
        """How many events of the log the views read (each once, however many views read it): what a rebuild
        replays."""
        types = sorted({t for name in names or self.views for t in self._view(name).reducers})
        with translating("cannot count the log's events", self.engine), reading(self.engine) as conn:
            return conn.scalar(select(func.count()).select_from(events_table)
                               .where(events_table.c.type.in_(types))) or 0

    def positions(self) -> dict[str, int]:
        """Each view's checkpoint (0 for a view that has applied nothing yet)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(checkpoints.c.name, checkpoints.c.position))
            stored = {name: position for name, position in rows}
        return {name: stored.get(name, 0) for name in self.views}

    def lag(self) -> dict[str, int]:
        """Each view's lag: the events of the types it reads that it has not applied yet (one index range
        count per type). A view of another version counts everything it reads (it will rebuild)."""
        with reading(self.engine) as conn:
            stored = {name: (position, version) for name, position, version in conn.execute(
                select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.view_version))}
            out = {}
            for name, view in self.views.items():
                position, version = stored.get(name, (0, None))
                after = position if version == view.version else 0
                out[name] = conn.scalar(select(func.count()).select_from(events_table).where(
                    events_table.c.type.in_(sorted(view.reducers)), events_table.c.position > after)) or 0
        return out

    def _view(self, name: str) -> View:
        try:
            return self.views[name]
        except KeyError:
            raise StorageError(f"unknown projection {name!r} (known: {', '.join(self.views)})") from None

    @staticmethod
    def _lock_checkpoint(conn: Connection, view: View) -> int:
        """The view's checkpoint, locked for this transaction; a view of an older version is reset first."""
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(checkpoints)
        conn.execute(insert.values(name=view.name, position=0, view_version=view.version)
                     .on_conflict_do_nothing(index_elements=["name"]))
        query = select(checkpoints.c.position, checkpoints.c.view_version).where(checkpoints.c.name == view.name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # one catching-up worker per view at a time
        position, version = conn.execute(query).one()
        if version != view.version:
            Projector._reset(conn, view)
            return 0
        return position

    @staticmethod
    def _reset(conn: Connection, view: View) -> None:
        if view.details is not None:
            conn.execute(delete(view.details.table))
        conn.execute(delete(view.table))
        conn.execute(update(checkpoints).where(checkpoints.c.name == view.name)
                     .values(position=0, view_version=view.version))

    def _apply_batch(self, view: View, batch_size: int, memo: _Memo | None = None) -> int:
        with self.engine.begin() as conn:
            position = self._lock_checkpoint(conn, view)
            if memo is not None:
                memo.start(position)
            batch = self._read_batch(conn, view, position, batch_size)
            if not batch:
                return 0
            keyed = self._keyed(view, batch)
            keys = {key for key, _ in keyed}
            if memo is not None:
                state = memo.known(keys)
                state.update(self._load(conn, view, keys - state.keys()) if not memo.complete else {})
            else:
                state = self._load(conn, view, keys)
            changed = self._fold(view, keyed, state)
            rows_changed = [state[key] for key in changed]
            if view.enrich is not None and rows_changed:
                view.enrich(conn, rows_changed)
            self._write(conn, view, rows_changed, batch[-1].position)
        if memo is not None:  # committed: what the table now holds
            memo.written(batch[-1].position, {key: state[key] for key in changed})
        return len(batch)

    def _replay(self, view: View, batch_size: int) -> int:
        """Apply every event not yet applied to ``view``, remembering the rows written (see _Memo), and, while the
        view is replayed from empty, each batch's write (its upsert, details, checkpoint and commit, in a
        transaction of its own, on a connection of its own) in a thread while the next batch is read, decoded and
        folded here: SQLite's and PostgreSQL's drivers release the GIL while the database works, so the two
        overlap. A batch is written only if the checkpoint is still where the previous one left it; when another
        process moved it, the replay goes on a batch at a time as a catch-up does. Returns the events applied."""
        memo = _Memo()
        with reading(self.engine) as conn:
            memo.start(self._checkpoint(conn, view))
        if not memo.complete:  # not from empty: a batch must read the rows the table holds
            return self._batches(view, batch_size, memo)
        applied = 0
        pending: Future[int] | None = None
        in_flight: list[tuple[Any, ...]] = []  # the keys of the rows the write in flight holds
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"replay-{view.name}") as writer:
            try:
                with reading(self.engine) as conn:
                    position = 0  # complete: replayed from the start
                    while True:
                        batch = self._read_batch(conn, view, position, batch_size)
                        if not batch:
                            break
                        state = memo.rows  # complete: a key it lacks is a key the table lacks
                        keyed = self._keyed(view, batch)
                        # A reducer may change its row in place: the rows being written are folded as copies.
                        for key in {key for key, _ in keyed}.intersection(in_flight):
                            state[key] = dict(state[key])
                        in_flight = self._fold(view, keyed, state)
                        rows = [state[key] for key in in_flight]
                        if view.enrich is not None and rows:
                            view.enrich(conn, rows)
                        conn.rollback()  # each batch's reads in a transaction of their own
                        if pending is not None:
                            applied += pending.result()
                        pending = writer.submit(self._write_after, view, position, rows, batch[-1].position,
                                                len(batch))
                        position = batch[-1].position
                        if len(state) > MEMO_ROWS:  # too many to keep: on as catch_up goes, reading rows back
                            applied += pending.result()
                            pending = None
                            return applied + self._batches(view, batch_size, _Memo())
                if pending is not None:
                    applied += pending.result()
            except _Moved:  # another process applies this view too: on a batch at a time
                return applied + self._batches(view, batch_size, _Memo())
        return applied

    def _batches(self, view: View, batch_size: int, memo: _Memo | None) -> int:
        applied = 0
        while (count := self._apply_batch(view, batch_size, memo)) > 0:
            applied += count
        return applied

    def _write_after(self, view: View, position: int, rows: list[Row], end: int, count: int) -> int:
        """A replayed batch's write, in a transaction of its own: only if the view's checkpoint is still at
        ``position`` (where the previous batch left it), else _Moved. Returns ``count``."""
        with self.engine.begin() as conn:
            if self._lock_checkpoint(conn, view) != position:
                raise _Moved
            self._write(conn, view, rows, end)
        return count

    def _write(self, conn: Connection, view: View, rows: list[Row], end: int) -> None:
        """A batch's changed rows and their details stored, and the view's checkpoint moved to ``end``."""
        if rows:
            self._store(conn, view, rows)
            if view.details is not None:
                self._store_details(conn, view, view.details, rows)
        conn.execute(update(checkpoints).where(checkpoints.c.name == view.name).values(position=end))

    def _read_batch(self, conn: Connection, view: View, position: int, batch_size: int) -> list[RecordedEvent]:
        """The next batch of the view's events after ``position``, decoded, in position order (empty: none)."""
        types = sorted(view.reducers)
        end = self._batch_end(conn, types, position, batch_size)
        if end is None:
            # Fewer than a batch: up to the log's head as one statement sees it. Each type is read by a
            # statement of its own, and on PostgreSQL (READ COMMITTED) each statement sees the appends
            # committed before it: unbounded, a later type's read could see positions past an earlier
            # type's, and the checkpoint would pass events of that earlier type that committed in between.
            # Appends commit in position order (the append lock), so every later statement sees all of
            # the events up to a head read once.
            end = conn.scalar(select(func.max(events_table.c.position)).where(
                events_table.c.position > position))
            if end is None:
                return []
        # Each type's events in the order of the (type, position) index, merged here: asked for all the types
        # at once, SQLite sorted the batch's rows, payloads and all, in a temporary b-tree (a third of the read).
        rows = []
        for event_type in types:
            query = (select(*read_columns(conn.dialect.name))
                     .where(events_table.c.type == event_type, events_table.c.position > position)
                     .where(events_table.c.position <= end).order_by(events_table.c.position))
            for chunk in driver_batches(conn, query, batch_size):
                rows += chunk
        rows.sort(key=_first)
        return list(map(row_decoder(conn.dialect.name, self.upcasters), rows))

    @staticmethod
    def _keyed(view: View, batch: list[RecordedEvent]) -> list[tuple[tuple[Any, ...], RecordedEvent]]:
        try:
            return ([(key, event) for event in batch for key in view.row_keys(event)] if view.row_keys
                    else [(view.row_key(event), event) for event in batch])
        except (KeyError, TypeError) as exc:
            raise StorageError(f"cannot update the {view.name} view: an event lacks {exc} in its payload "
                               "(a corrupt or foreign event)") from exc

    @staticmethod
    def _fold(view: View, keyed: list[tuple[tuple[Any, ...], RecordedEvent]],
              state: dict[tuple[Any, ...], Row]) -> list[tuple[Any, ...]]:
        """Each event folded into its row of ``state`` (in place), in order; the keys of the rows changed."""
        changed: dict[tuple[Any, ...], None] = {}
        for key, event in keyed:
            try:
                reducer = view.reducers[event.type]
                new = reducer(state.get(key), event, key) if view.row_keys else reducer(state.get(key), event)
            except (KeyError, TypeError, ValueError) as exc:
                raise StorageError(f"cannot update the {view.name} view: event {event.position} ({event.type}) "
                                   f"has a payload it cannot read: {type(exc).__name__}: {exc}") from exc
            if new is not None:
                state[key] = new
                changed[key] = None
        return list(changed)

    @staticmethod
    def _checkpoint(conn: Connection, view: View) -> int:
        """The view's checkpoint as it stands (0 for none, or for a view of another version), unlocked."""
        row = conn.execute(select(checkpoints.c.position, checkpoints.c.view_version)
                           .where(checkpoints.c.name == view.name)).first()
        return row[0] if row is not None and row[1] == view.version else 0

    @staticmethod
    def _batch_end(conn: Connection, types: list[str], position: int, batch_size: int) -> int | None:
        """The position of the ``batch_size``-th event of ``types`` after ``position`` (None when there are fewer):
        the batch then reads the events up to it. Each type's first ``batch_size`` positions come from the (type,
        position) index, and the database picks the one that ends the batch from their union: one query, and no
        position travels to Python. (Asked at once for all the types, with a LIMIT, SQLite sorted every remaining
        event of the types, payloads and all, on every batch: a replay's cost grew with the square of the log.)"""
        firsts = [select(events_table.c.position.label("position"))
                  .where(events_table.c.type == event_type, events_table.c.position > position)
                  .order_by(events_table.c.position).limit(batch_size).subquery().select()
                  for event_type in types]
        union = (firsts[0] if len(firsts) == 1 else union_all(*firsts)).subquery()
        return conn.scalar(select(union.c.position).order_by(union.c.position).offset(batch_size - 1).limit(1))

    @staticmethod
    def _load(conn: Connection, view: View, keys: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], Row]:
        columns = view.key_columns
        found: dict[tuple[Any, ...], Row] = {}
        for condition in _key_conditions(columns, keys):
            for row in conn.execute(select(view.table).where(condition)).mappings():
                found[tuple(row[c.name] for c in columns)] = dict(row)
        return found

    @staticmethod
    def _store_details(conn: Connection, view: View, details: Details, rows: list[Row]) -> None:
        """The details of ``rows`` replace those stored for their keys."""
        key_names = [c.name for c in view.key_columns]
        columns = [details.table.c[name] for name in key_names]
        removed: list[Row] = []
        for condition in _key_conditions(columns, {tuple(row[name] for name in key_names) for row in rows}):
            if details.settle is not None:
                removed.extend(dict(row) for row in conn.execute(select(details.table).where(condition)).mappings())
            conn.execute(delete(details.table).where(condition))
        new = [detail for row in rows for detail in details.rows(row)]
        if new:
            conn.execute(details.table.insert(), new)
        if details.settle is not None and (removed or new):
            details.settle(conn, removed, new)

    def _store(self, conn: Connection, view: View, rows: list[Row]) -> None:
        """The changed rows in one bulk upsert (``INSERT ... ON CONFLICT DO UPDATE``) through the driver's
        ``executemany``: the statement compiled once per table and dialect, each value converted by its column's
        own bind processor, as SQLAlchemy's executemany would, without building a parameter set per row."""
        upsert = self._upserts.get(view.name)
        if upsert is None:
            upsert = self._upserts[view.name] = compile_upsert(view.table, conn.dialect)
        driver_executemany(conn, upsert.statement, upsert.parameters(rows))
