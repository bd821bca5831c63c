"""Export the log as JSON lines, and import such a file into another log.

An export line is an event as stored: position, stream, version, type, schema, key, both dates and the
payload in its own schema (``news-monitor events`` prints the same shape, upcast). Importing keeps all of
it; the keys make it idempotent (importing twice adds nothing, an interrupted import can be run again),
and positions are kept so that a moved log is the same log: one export and one import move a log from
SQLite to PostgreSQL (NUL characters, which PostgreSQL cannot store in JSON text, are dropped from the
payloads; nothing else changes). Every line is checked before its batch is written, and a bad line stops the import
with its line number; the batches before it are in, whole.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import MonitorError
from monitor.events import payloads
from monitor.events.catalogue import SCHEMAS, UPCASTERS, without_nul
from storage.eventlog import EventLog, RecordedEvent


class ExportedEvent(BaseModel):
    """One line of an export file."""

    model_config = ConfigDict(extra="forbid", strict=False)

    position: int = Field(gt=0)
    stream: str = Field(min_length=1, max_length=300)
    version: int = Field(gt=0)
    type: str = Field(min_length=1, max_length=100)
    schema_: int = Field(alias="schema", ge=1)
    key: str = Field(min_length=1, max_length=500)
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    data: dict[str, Any]


@dataclass
class ImportReport:
    read: int = 0
    imported: int = 0
    already_recorded: int = 0


def export_events(log: EventLog, out: IO[str], *, after: int = 0) -> int:
    """Write every event after ``after`` to ``out``, one JSON object a line. Returns how many."""
    count = 0
    for event in log.read(after=after, upcast=False):
        out.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count


def import_events(log: EventLog, lines: Iterable[str], *, source: str = "input", renumber: bool = False,
                  batch_size: int = 1000) -> ImportReport:
    """Import an export file's lines into ``log``, ``batch_size`` events per atomic batch."""
    report = ImportReport()
    for batch in _batches(_parse(lines, source), batch_size):
        result = log.import_events(batch, renumber=renumber)
        report.read += len(batch)
        report.imported += len(result.recorded)
        report.already_recorded += len(result.duplicates)
    return report


def _parse(lines: Iterable[str], source: str) -> Iterator[RecordedEvent]:
    previous = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            item = ExportedEvent.model_validate_json(line)
        except ValidationError as exc:
            raise MonitorError(f"{where}: not an exported event: {_first_error(exc)}") from None
        if item.position <= previous:
            raise MonitorError(f"{where}: position {item.position} does not follow {previous}: an export lists "
                               "events in increasing position order")
        previous = item.position
        known = SCHEMAS.get(item.type)
        if known is not None and item.schema_ > known:
            raise MonitorError(f"{where}: {item.type} schema {item.schema_} is newer than this version knows "
                               f"({known}): import with the version that exported it, or a newer one")
        try:  # a payload that could not be read later is refused now
            schema, current = UPCASTERS.upcast(item.type, item.schema_, item.data)
            payloads.check(item.type, schema, current)
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitorError(f"{where}: the payload cannot be read: {exc}") from exc
        yield RecordedEvent(
            position=item.position, stream=item.stream, version=item.version, type=item.type,
            schema=item.schema_, key=item.key, occurred_at=item.occurred_at.astimezone(dt.UTC),
            recorded_at=item.recorded_at.astimezone(dt.UTC), data=without_nul(item.data),
        )


def _batches(events: Iterator[RecordedEvent], size: int) -> Iterator[list[RecordedEvent]]:
    batch: list[RecordedEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
