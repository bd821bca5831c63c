"""The view engine: read models projected from the event log, kept in step a batch at a time.

A view is one table of rows with a primary key, and a reducer per event type that it reads: a pure
function ``(current row or None, event) -> new row`` (None: the row stays as it is). Catching up reads a
batch of events after the view's checkpoint, loads the rows those events touch, folds the events into them
in position order, and writes the changed rows and the new checkpoint in one transaction. A crash therefore
leaves each view at a consistent position, and the next catch-up resumes there.

``rebuild`` empties a view and replays the log into it. Because the reducers depend on nothing but the
events, in position order, the rebuilt state equals the live state.

Each view has a version, stored beside its checkpoint (``storage.tables.checkpoints``). When a reducer's
meaning changes, its version is raised, and the view rebuilds itself at its next catch-up: no stale read
model survives an upgrade.

The engine knows no view: whoever defines the views (their tables and reducers) hands them to a Projector.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Integer, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from storage.engine import reading, sqlite_rows
from storage.errors import StorageError, translating
from storage.eventlog import NO_UPCASTERS, RecordedEvent, Upcasters, decode_row, read_columns
from storage.tables import checkpoints, events_table

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


class Projector:
    """Keeps ``views`` (by name) in step with the log. ``upcasters`` must be the log's, so that the reducers see
    current payloads."""

    def __init__(self, engine: Engine, views: Mapping[str, View], *, upcasters: Upcasters = NO_UPCASTERS,
                 batch_size: int = 500) -> None:
        self.engine = engine
        self.views = views
        self.upcasters = upcasters
        self.batch_size = batch_size

    def catch_up(self, names: Iterable[str] | None = None, *, batch_size: int | None = None,
                 remember: bool = False) -> int:
        """Apply every event not yet applied to each view. Returns how many events were applied.
        ``remember``: keep the rows written in memory from batch to batch (see _Memo): for a replay."""
        applied = 0
        views = [self._view(name) for name in names or self.views]
        with translating("cannot read the views' checkpoints", self.engine):
            behind = self._behind(views)
        for view in behind:
            with translating(f"cannot update the {view.name} view", self.engine):
                memo = _Memo() if remember else None
                while (count := self._apply_batch(view, batch_size or self.batch_size, memo)) > 0:
                    applied += count
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
        # A replay of the whole log goes in batches twenty times the daemon's: a transaction (its commit, its
        # checkpoint write, its load of the rows it touches) per 10,000 events, not per 500.
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
            types = sorted(view.reducers)
            query = (select(*read_columns(conn.dialect.name))
                     .where(events_table.c.position > position, events_table.c.type.in_(types))
                     .order_by(events_table.c.position))
            if (end := self._batch_end(conn, types, position, batch_size)) is not None:
                query = query.where(events_table.c.position <= end)
            rows = (list(sqlite_rows(conn, query, batch_size)) if conn.dialect.name == "sqlite"
                    else conn.execute(query).all())
            if not rows:
                return 0
            upcasters = self.upcasters
            batch = [decode_row(row, upcasters) for row in rows]
            try:
                keyed = ([(key, event) for event in batch for key in view.row_keys(event)] if view.row_keys
                         else [(view.row_key(event), event) for event in batch])
            except (KeyError, TypeError) as exc:
                raise StorageError(f"cannot update the {view.name} view: an event lacks {exc} in its payload "
                                   "(a corrupt or foreign event)") from exc
            keys = {key for key, _ in keyed}
            if memo is not None:
                state = memo.known(keys)
                state.update(self._load(conn, view, keys - state.keys()) if not memo.complete else {})
            else:
                state = self._load(conn, view, keys)
            changed: set[tuple[Any, ...]] = set()
            for key, event in keyed:
                try:
                    reducer = view.reducers[event.type]
                    new = reducer(state.get(key), event, key) if view.row_keys else reducer(state.get(key), event)
                except (KeyError, TypeError, ValueError) as exc:
                    raise StorageError(f"cannot update the {view.name} view: event {event.position} ({event.type}) "
                                       f"has a payload it cannot read: {type(exc).__name__}: {exc}") from exc
                if new is not None:
                    state[key] = new
                    changed.add(key)
            if changed:
                rows_changed = [state[key] for key in changed]
                if view.enrich is not None:
                    view.enrich(conn, rows_changed)
                self._store(conn, view, rows_changed)
                if view.details is not None:
                    self._store_details(conn, view, view.details, rows_changed)
            conn.execute(update(checkpoints).where(checkpoints.c.name == view.name)
                         .values(position=batch[-1].position))
        if memo is not None:  # committed: what the table now holds
            memo.written(batch[-1].position, {key: state[key] for key in changed})
        return len(batch)

    @staticmethod
    def _batch_end(conn: Connection, types: list[str], position: int, batch_size: int) -> int | None:
        """The position of the ``batch_size``-th event of ``types`` after ``position`` (None when there are fewer),
        found from each type's first positions in the (type, position) index: the batch then reads the events up
        to it. Asked at once for all the types, with a LIMIT, SQLite sorted every remaining event of the types,
        payloads and all, on every batch (a replay's cost grew with the square of the log)."""
        firsts: list[int] = []
        for event_type in types:
            firsts.extend(conn.scalars(select(events_table.c.position).where(
                events_table.c.type == event_type, events_table.c.position > position)
                .order_by(events_table.c.position).limit(batch_size)))
        if len(firsts) < batch_size:
            return None
        return sorted(firsts)[batch_size - 1]

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

    @staticmethod
    def _store(conn: Connection, view: View, rows: list[Row]) -> None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(view.table)
        key_names = [c.name for c in view.key_columns]
        values = {c.name: insert.excluded[c.name] for c in view.table.columns if c.name not in key_names}
        conn.execute(insert.on_conflict_do_update(index_elements=key_names, set_=values), rows)
