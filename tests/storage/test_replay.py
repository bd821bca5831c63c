"""The replay's fast path (rows straight from the driver's cursor, a RecordedEvent built in one call per row,
payloads decoded when read) against the slow one: SQLAlchemy's typed select of the events table, its own
timestamp and JSON processing, each payload upcast, each event built by RecordedEvent's constructor."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from storage.eventlog import EventLog, NewEvent, RecordedEvent, Upcasters, read_columns, row_decoder
from storage.tables import events_table

T0 = dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)
ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-3))]
TYPES = ["Thing", "Other", "Upcast", "Twice"]


def casts() -> Upcasters:
    upcasters = Upcasters()
    upcasters.register("Upcast", 1)(lambda d: {**d, "added": [1, {"x": None}]})
    upcasters.register("Twice", 1)(lambda d: {**d, "step": 1})
    upcasters.register("Twice", 2)(lambda d: {**d, "step": d.get("step", 10) + 1})
    return upcasters


@pytest.fixture
def event_log(database_url: str) -> Iterator[EventLog]:
    log = EventLog.open(database_url, migrate=True, upcasters=casts())
    yield log
    log.close()


def payload(rng: random.Random, n: int) -> dict[str, Any]:
    text = rng.choice(["", "Лавров — मोदी\n", "plain", "quote \" and \\ backslash"]) * rng.randint(0, 4)
    return {"n": n, "text": text,
            "float": rng.random(), "big": 2 ** 53 + n, "none": None, "flag": rng.random() < .5,
            "nested": {"list": [n, 1.5, None, True, {"deep": ["a", {}]}], "empty": []}}


def seeded(log: EventLog, count: int = 120) -> None:
    rng = random.Random(7)
    batch = []
    for n in range(count):
        event_type = rng.choice(TYPES)
        at = (T0 + dt.timedelta(seconds=n * 37, microseconds=rng.randint(0, 999_999))).astimezone(rng.choice(ZONES))
        batch.append(NewEvent(f"s-{n % 7}", event_type, f"k{n}", payload(rng, n), at,
                              schema=rng.choice([1, 2]) if event_type in ("Upcast", "Twice") else 1))
        if len(batch) == 25:
            log.append(batch)
            batch = []
    log.append(batch)


def slow_read(log: EventLog, **where: Any) -> list[RecordedEvent]:
    """The events through SQLAlchemy's own column types, payloads upcast at once."""
    query = select(events_table).order_by(events_table.c.position)
    if "after" in where:
        query = query.where(events_table.c.position > where["after"])
    if "types" in where:
        query = query.where(events_table.c.type.in_(where["types"]))
    if "stream" in where:
        query = query.where(events_table.c.stream == where["stream"])
    if "limit" in where:
        query = query.limit(where["limit"])
    out = []
    with log.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            schema, data = log.upcasters.upcast(row["type"], row["schema"], row["data"])
            out.append(RecordedEvent(row["position"], row["stream"], row["version"], row["type"], schema, row["key"],
                                     row["occurred_at"], row["recorded_at"], data))
    return out


def fields(event: RecordedEvent) -> list[tuple[type, Any]]:
    """Each field with its exact type (a timestamp's zone object too), the payload last."""
    out: list[tuple[type, Any]] = [(type(value), value) for value in event[:8]]
    out += [(type(event.occurred_at.tzinfo), event.occurred_at.tzinfo), (type(event.data), event.data)]
    return out


def test_the_fast_replay_returns_the_events_the_slow_one_does(event_log: EventLog) -> None:
    seeded(event_log)
    slow = slow_read(event_log)
    assert len(slow) == 120 and {e.type for e in slow} == set(TYPES)
    assert all(e.occurred_at.tzinfo is dt.UTC and e.recorded_at.tzinfo is dt.UTC for e in slow)
    fast = list(event_log.read(batch_size=7))
    assert [fields(e) for e in fast] == [fields(e) for e in slow]
    assert fast == slow and [e.as_dict() for e in fast] == [e.as_dict() for e in slow]
    assert {e.schema for e in fast if e.type == "Twice"} == {3} and all(e.data["step"] for e in fast
                                                                         if e.type == "Twice")
    middle = slow[40].position
    for where in ({"after": middle}, {"types": ["Upcast", "Other"]}, {"stream": "s-3"}, {"limit": 9},
                  {"after": middle, "types": ["Twice"], "limit": 5}):
        for batch_size in (1, 1000):
            assert [fields(e) for e in event_log.read(batch_size=batch_size, **where)] == \
                [fields(e) for e in slow_read(event_log, **where)], (where, batch_size)
    stored = list(event_log.read(upcast=False))
    assert [(e.schema, e.data) for e in stored] == [(row.schema, row.data) for row in slow_read_unupcast(event_log)]


def slow_read_unupcast(log: EventLog) -> list[Any]:
    with log.engine.connect() as conn:
        return list(conn.execute(select(events_table).order_by(events_table.c.position)))


def test_a_projection_batch_decodes_the_events_the_slow_read_gives(event_log: EventLog) -> None:
    """The rebuild's decoder (payloads decoded at once, as ``Projector`` reads each batch) gives the same events."""
    seeded(event_log)
    decode = row_decoder(event_log.dialect, event_log.upcasters)
    with event_log.engine.connect() as conn:
        rows = conn.exec_driver_sql(str(select(*read_columns(event_log.dialect)).order_by(events_table.c.position)
                                        .compile(dialect=conn.dialect))).all()
    decoded = [decode(tuple(row)) for row in rows]
    assert [fields(e) for e in decoded] == [fields(e) for e in slow_read(event_log)]
