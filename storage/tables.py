"""The tables storage owns: the event log, and the checkpoints of the views projected from it.

``events`` holds every event (see ``storage.eventlog``); ``projection_checkpoints`` holds, per view, the
position it has applied up to and the version of the reducers that wrote it (see ``storage.projector``).
The views' own tables belong to whoever defines the views; storage gives them ``Position``, the type of a
log position on every backend. The migrations in ``storage/migrations`` create the same tables.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB

from storage.engine import UTCDateTime

metadata = MetaData()
Position = BigInteger().with_variant(Integer(), "sqlite")
Payload = JSON().with_variant(JSONB(), "postgresql")

events_table = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
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

checkpoints = Table(
    "projection_checkpoints", metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Position, nullable=False),
    Column("view_version", Integer),
)
