"""A table's bulk upsert (``INSERT ... ON CONFLICT DO UPDATE`` on its primary key) compiled once per dialect, with
each row's parameters converted as SQLAlchemy would convert them, for the driver's own ``executemany``: what the
view engine (``storage.projector``) writes a batch's changed rows with."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from storage.engine import UTCDateTime
from storage.errors import StorageError

Row = dict[str, Any]


@dataclass(frozen=True)
class Upsert:
    """A view table's upsert compiled for one dialect: the statement, the columns its parameters set (in their
    order), and the bind processor of each column that has one (by its index)."""

    statement: str
    names: tuple[str, ...]
    processors: tuple[tuple[int, str, Callable[[Any], Any]], ...]
    positional: bool

    def parameters(self, rows: list[Row]) -> list[Any]:
        """Each row's parameters, converted as SQLAlchemy converts them. A column a row lacks is NULL, as
        SQLAlchemy leaves a column out of an INSERT when the parameters lack it, while a None given goes through
        the column's processor (a JSON column's None is JSON ``null``, as SQLAlchemy binds it). A row with every
        column (most are: ``blank`` gives them all, and a row read back has them) is read in one C call."""
        names, processors, every = self.names, self.processors, self.getter
        out = []
        for row in rows:
            try:
                values = list(every(row))
            except KeyError:  # a row without some column: those are NULL, unprocessed
                get = row.get
                values = [get(name) for name in names]
                for index, name, process in processors:
                    value = values[index]
                    if value is not None or name in row:
                        values[index] = process(value)
            else:
                for index, _name, process in processors:
                    values[index] = process(values[index])
            out.append(values if self.positional else dict(zip(names, values, strict=True)))
        return out

    @functools.cached_property
    def getter(self) -> Callable[[Row], tuple[Any, ...]]:
        """The row's values of every column, in the parameters' order (a tuple however many the columns)."""
        if len(self.names) == 1:
            only = self.names[0]
            return lambda row: (row[only],)
        return itemgetter(*self.names)


def compile_upsert(table: Table, dialect: Dialect) -> Upsert:
    insert = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(table)
    keys = [c.name for c in table.primary_key.columns]
    changes = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    compiled = insert.on_conflict_do_update(index_elements=keys, set_=changes).compile(
        dialect=dialect, column_keys=[c.name for c in table.columns])
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(c.name for c in table.columns)
    if sorted(names) != sorted(c.name for c in table.columns) or compiled.escaped_bind_names:
        raise StorageError(f"cannot compile the {table.name} view's upsert: its parameters are not its columns")
    processors = tuple((index, name, process) for index, name in enumerate(names)
                       if (process := _bind_processor(table.c[name], dialect)) is not None)
    return Upsert(str(compiled), names, processors, compiled.positional)


def _bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column's bind processor for ``dialect``; for a UTC timestamp on SQLite, one that gives the same text
    (SQLAlchemy's storage format, "2025-09-01 09:00:00.000000", of the UTC time) from ``isoformat`` in one C call,
    not a format over a dict of its fields: a rebuild's rows carry several timestamps each."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if dialect.name != "sqlite" or not isinstance(column.type, UTCDateTime) or process is None:
        return process
    general, datetime, utc = process, dt.datetime, dt.UTC

    def utc_text(value: Any) -> Any:
        if value.__class__ is not datetime or value.tzinfo is None:
            return general(value)  # None, or what SQLAlchemy's processor accepts or refuses (a naive datetime)
        return value.astimezone(utc).replace(tzinfo=None).isoformat(" ", "microseconds")
    return utc_text
