"""Export the log as JSON lines, and import such a file into another log.

An export line is an event as stored: position, stream, version, type, schema, key, both dates and the
payload in its own schema (``news-monitor events`` prints the same shape, upcast). Importing keeps all of
it; the keys make it idempotent (importing twice adds nothing, an interrupted import can be run again),
and positions are kept so that a moved log is the same log: one export and one import move a log from
SQLite to PostgreSQL (NUL characters, which PostgreSQL cannot store in JSON text, are dropped from the
payloads; nothing else changes).

An import refuses what no log could have written, and then writes nothing: every line is checked before
the first batch is written (a stream that cannot be read twice, stdin, is spooled to a temporary file), and
the first bad line stops it with ``FILE:LINE``: a line that is not UTF-8 or not an exported event, a
position out of range (past 2^53: a log never holds that many events, and a position near 2^63 would move
the log's sequence and the views' checkpoints past every later event) or not above the line before, an
event type this version does not know, a schema newer than it knows, a payload it could not read.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import MonitorError
from monitor.events import payloads
from monitor.events.catalogue import SCHEMAS, UPCASTERS, without_nul
from storage.eventlog import EventLog, RecordedEvent

MAX_POSITION = 2**53 - 1  # the largest integer every JSON reader keeps exact; no log gets near it
_SPOOL_IN_MEMORY = 64 * 1024 * 1024  # bytes of a stream held in memory before the spool goes to disk


class ExportedEvent(BaseModel):
    """One line of an export file."""

    model_config = ConfigDict(extra="forbid", strict=False)

    position: int = Field(gt=0, le=MAX_POSITION)
    stream: str = Field(min_length=1, max_length=300)
    version: int = Field(gt=0, le=MAX_POSITION)
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


def import_events(log: EventLog, lines: Iterable[str | bytes], *, source: str = "input", renumber: bool = False,
                  batch_size: int = 1000, on_batch: Callable[[int], None] | None = None) -> ImportReport:
    """Import an export file's lines (text, or bytes as read from a binary file) into ``log``, ``batch_size``
    events per atomic batch, once every line has been checked: a bad line writes nothing. ``on_batch`` is
    called with each batch's size once it is written (a progress bar)."""
    report = ImportReport()
    with _replayable(lines) as again:
        for _ in _parse(again(), source):  # the check: the first bad line raises before anything is written
            pass
        for batch in _batches(_parse(again(), source), batch_size):
            result = log.import_events(batch, renumber=renumber)
            report.read += len(batch)
            report.imported += len(result.recorded)
            report.already_recorded += len(result.duplicates)
            if on_batch is not None:
                on_batch(len(batch))
    return report


@contextmanager
def _replayable(lines: Iterable[str | bytes]) -> Iterator[Callable[[], Iterable[str | bytes]]]:
    """A way to read ``lines`` from the start again: a list as it is, a seekable file by seeking, anything
    else (stdin, a generator) spooled to a temporary file as it is read the first time."""
    if isinstance(lines, list | tuple):
        yield lambda: lines
        return
    seekable = getattr(lines, "seekable", None)
    if seekable is not None and seekable():
        start = lines.tell()  # type: ignore[attr-defined]

        def from_start() -> Iterable[str | bytes]:
            lines.seek(start)  # type: ignore[attr-defined]
            return lines
        yield from_start
        return
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY, mode="w+b") as spool:
        for line in lines:
            spool.write(line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass"))

        def spooled() -> Iterable[bytes]:
            spool.seek(0)
            return spool
        yield spooled


def _parse(lines: Iterable[str | bytes], source: str) -> Iterator[RecordedEvent]:
    previous = 0
    for number, raw in enumerate(lines, 1):
        where = f"{source}:{number}"
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise MonitorError(f"{where}: not UTF-8 (byte {exc.start + 1} of the line)") from None
        if not line.strip():
            continue
        try:
            item = ExportedEvent.model_validate_json(line)
        except ValidationError as exc:
            raise MonitorError(f"{where}: not an exported event: {_first_error(exc)}") from None
        if item.position <= previous:
            raise MonitorError(f"{where}: position {item.position} does not follow {previous}: an export lists "
                               "events in increasing position order")
        previous = item.position
        known = SCHEMAS.get(item.type)
        if known is None:
            raise MonitorError(f"{where}: unknown event type {item.type!r}: this version records no such event")
        if item.schema_ > known:
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
