"""The rebuild's bulk path (rows read through the driver's cursor, each view written by one compiled upsert per
batch): on a seeded random log holding every event type, a rebuild stores exactly what the live catch-up stored,
and exactly what SQLAlchemy's own executemany stores from the same rows, byte for byte, on both backends."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from monitor.events import catalogue as ev
from monitor.views.projections import Projections
from monitor.views.reducers import VIEWS
from monitor.views.tables import metadata as view_metadata
from storage.eventlog import EventLog, NewEvent
from storage.projector import Projector, Row, View
from storage.tables import checkpoints

T0 = dt.datetime(2025, 11, 20, 6, 30, 15, 250_000, tzinfo=dt.UTC)
TOPIC = "india-russia-summit"
OTHER_TOPIC = "brics"
PAIRS = ([{"name": "Narendra Modi", "side": "india", "role": "leader"},
          {"name": "Vladimir Putin", "side": "russia", "role": "leader"}],
         [{"name": "Subrahmanyam Jaishankar", "side": "india", "role": "minister"},
          {"name": "Sergey Lavrov", "side": "russia", "role": "minister"}])
WORDS = "summit talks energy trade defence ministers agreed signed visit cooperation rupee oil ports".split()


@pytest.fixture
def event_log(database_url: str) -> Iterator[EventLog]:
    log = EventLog.open(database_url, migrate=True, upcasters=ev.UPCASTERS)
    yield log
    log.close()


class RandomLog:
    """Seeded batches as the pipeline and the analyst append them, covering every type of the catalogue."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = T0
        self.articles: list[tuple[str, str]] = []  # (article_id, feed)
        self.n = 0

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=self.rng.randint(1, 90), microseconds=self.rng.randint(0, 999_999))
        return self.clock

    def text(self) -> str:
        rng = self.rng
        return " ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."
                        for _ in range(rng.randint(2, 6)))

    def evidence(self, at: dt.datetime) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for _ in range(rng.randint(1, 3)):
            pair = rng.choice(PAIRS)
            day = (at + dt.timedelta(days=rng.randint(-20, 40))).date().isoformat()
            place = rng.choice(("in Moscow", "in New Delhi", "at the Kremlin", "by video"))
            text = f"{pair[0]['name']} will meet {pair[1]['name']} {place} on {day}."
            out.append({"field": "text", "text": text, "start": 0, "end": len(text), "terms": ["summit"],
                        "groups": ["india_leader", "russia_leader"], "participants": pair if rng.random() < .8 else [],
                        "history": rng.random() < .1, "context": False,
                        "dates": [{"text": day, "start": 0, "end": 10, "date": day, "end_date": day,
                                   "precision": "day"}] if rng.random() < .8 else []})
        return out

    def article(self, feed: str) -> list[NewEvent]:
        rng = self.rng
        self.n += 1
        at = self.tick()
        url = f"https://{feed}.example/story-{self.n}"
        article = ev.article_id(url)
        self.articles.append((article, feed))
        published = None if rng.random() < .2 else (at - dt.timedelta(hours=rng.randint(0, 30))).isoformat()
        title = f"Story {self.n}: {self.text()[:60]}" if rng.random() < .9 else None
        batch = [ev.article_discovered(article, at, {"feed": feed, "url": url + "?utm=rss", "canonical_url": url,
                                                     "entry_id": None if rng.random() < .1 else f"urn:{self.n}",
                                                     "title": title, "published_at": published})]
        roll = rng.random()
        if roll < .15:  # the page failed and nothing replaced it; half of them as the first schema stored them
            data = {"article_id": article, "url": url, "reason": rng.choice(("http_403", "no_text", "timeout")),
                    "message": "Лавров — मोदी: the page did not answer", "fallback": None}
            if rng.random() < .5:
                batch.append(NewEvent(ev.article_stream(article), ev.EXTRACTION_FAILED, f"ExtractionFailed:{article}",
                                      data, at, schema=1))
            else:
                batch.append(ev.extraction_failed(article, at, {k: v for k, v in data.items() if k != "article_id"}))
            return batch
        if roll < .3:
            batch.append(ev.extraction_failed(article, at, {"url": url, "reason": "http_500", "message": "500",
                                                            "fallback": "feed_summary"}))
        text = self.text()
        batch.append(ev.article_extracted(article, at, {
            "url": url, "title": title, "text": text, "text_hash": f"h{hash(text) & 0xFFFFFFFF:x}",
            "text_source": "page" if roll >= .3 else "feed_summary", "word_count": len(text.split()),
            "language": rng.choice(("en", "ru", None)), "author": rng.choice((None, "A. Writer")),
            "page_date": None, "published_at": published}))
        if rng.random() < .6:
            batch.append(self.tag(article, TOPIC if rng.random() < .8 else OTHER_TOPIC, "v1", at))
        return batch

    def tag(self, article: str, topic: str, version: str, at: dt.datetime, supersedes: int | None = None) -> NewEvent:
        rng = self.rng
        mention = rng.random() < .7
        return ev.mention_tagged(article, topic, version, at, {
            "mention": mention, "decision": "mention" if mention else "possible",
            "score": round(rng.uniform(.5, 1) if mention else rng.uniform(.2, .5), 4),
            "sentences": [self.text()], "terms": ["summit", {"term": "Putin", "weight": 1.5}],
            "evidence": self.evidence(at), "rule": "india AND russia", "similarity": {"ref.md": rng.random()}},
            supersedes=supersedes)

    def poll(self, feed: str, log: EventLog) -> list[NewEvent]:
        rng = self.rng
        at = self.tick()
        attempt = f"{self.rng.getrandbits(64):016x}"
        url = f"https://{feed}.example/rss.xml"
        roll = rng.random()
        schedule = {"interval": 900.0, "next_poll_at": (at + dt.timedelta(minutes=15)).isoformat(),
                    "schedule": "adaptive"} if rng.random() < .7 else {}
        if roll < .15:
            return [ev.feed_failed(feed, attempt, at, {"url": url, "reason": rng.choice(("timeout", "http_410")),
                                                       "message": "no answer", "http_status": None, **schedule})]
        if roll < .2:
            return [ev.feed_moved(feed, attempt, at, {"url": url, "from_url": url, "to_url": url + "?moved",
                                                      "reason": "permanent_redirect", "http_status": 301})]
        if roll < .4:
            return [ev.feed_polled(feed, attempt, at, {"url": url, "status": "not_modified", "http_status": 304,
                                                       "entries_seen": 0, **schedule})]
        batch = [event for _ in range(rng.randint(0, 3)) for event in self.article(feed)]
        return [*batch, ev.feed_polled(feed, attempt, at, {
            "url": url, "status": "ok", "http_status": 200, "etag": f'W/"{attempt[:6]}"', "entries_seen": len(batch),
            "feed_title": rng.choice((None, f"The {feed.title()} Times")), **schedule})]

    def analyst(self, log: EventLog) -> list[NewEvent]:
        """What the analyst and the retagging do between polls: revisions, retags, retractions, verdicts,
        reviews, and events no view reads (config, digests, the daemon)."""
        rng = self.rng
        at = self.tick()
        article, feed = rng.choice(self.articles)
        roll = rng.random()
        if roll < .15:
            text = self.text() if rng.random() < .6 else None
            return [ev.article_revised(article, f"r{self.rng.getrandbits(32):x}", at, {
                "feed": feed, "changes": ["content", "title"], "url": f"https://{feed}.example/moved-{self.n}",
                "canonical_url": f"https://{feed}.example/moved-{self.n}", "title": f"Revised {self.n}",
                "entry_hash": f"e{self.rng.getrandbits(32):x}", "text": text,
                "text_hash": f"t{hash(text) & 0xFFFF:x}" if text else None, "text_source": "page" if text else None,
                "word_count": len(text.split()) if text else None})]
        if roll < .3:
            return [self.tag(article, TOPIC, f"v{rng.randint(2, 5)}", at, supersedes=log.last_position())]
        if roll < .4:
            return [ev.mention_retracted(article, TOPIC, "v9", at, {
                "previous_decision": "mention", "decision": "none", "score": 0.1}, supersedes=log.last_position())]
        if roll < .6:
            verdict = rng.choice(ev.VERDICTS)
            return [ev.mention_judged(article, rng.choice((TOPIC, OTHER_TOPIC)), verdict, at, {
                "note": rng.choice((None, "checked")), "decision": "mention", "topic_version": "v1",
                "position": log.last_position(), "source": rng.choice(("cli", "web"))},
                supersedes=log.last_position())]
        if roll < .75:
            picked = {(a, t, log.last_position()) for a, t in [(rng.choice(self.articles)[0], TOPIC)]}
            return [ev.digest_reviewed(None if rng.random() < .5 else log.last_position(), at, mentions=sorted(picked),
                                       source="web")]
        if roll < .85:
            return [ev.digest_reviewed(log.last_position(), at)]
        if roll < .9:
            return [ev.config_changed(f"c{self.n}", 0, at, {"source": "file"})]
        if roll < .95:
            return [ev.daemon_started(f"d{self.n}", at, {"version": "0.test", "config_version": f"c{self.n}"})]
        return [ev.digest_issued(at.isoformat(), at, {"scheduled_for": at.isoformat(), "after_position": 0,
                                                       "up_to_position": log.last_position(), "mentions": 0,
                                                       "stories": 0})]


def fill_live(log: EventLog, seed: int, rounds: int) -> Projections:
    """Append the random log as the daemon does, catching the views up in small batches after each append."""
    generator = RandomLog(seed)
    projections = Projections(log.engine, upcasters=ev.UPCASTERS, batch_size=4)
    feeds = ["alpha", "beta", "gamma"]
    for number in range(rounds):
        log.append(generator.poll(generator.rng.choice(feeds), log))
        if generator.articles and number % 2:
            log.append(generator.analyst(log))
        if number % 3 == 2:
            projections.catch_up()
    projections.catch_up()
    return projections


def stored(conn: Connection) -> dict[str, list[Any]]:
    """Every view table and the checkpoints as the database holds them, value by value as the driver returns
    them (SQLite: the stored text of timestamps and JSON, NULL apart from JSON null; PostgreSQL: each row's
    text), in primary key order."""
    out = {}
    for table in [*view_metadata.sorted_tables, checkpoints]:
        order = ", ".join(c.name for c in table.primary_key.columns)
        query = (f"SELECT * FROM {table.name} ORDER BY {order}" if conn.dialect.name == "sqlite"
                 else f"SELECT CAST(t AS text) FROM {table.name} AS t ORDER BY {order}")
        out[table.name] = [tuple(row) for row in conn.exec_driver_sql(query)]
    return out


class SQLAlchemyStore(Projector):
    """The slow reference: each batch's rows written by SQLAlchemy's own executemany of the dialect's upsert."""

    def _store(self, conn: Connection, view: View, rows: list[Row]) -> None:
        insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(view.table)
        keys = [c.name for c in view.key_columns]
        conn.execute(insert.on_conflict_do_update(
            index_elements=keys, set_={c.name: insert.excluded[c.name] for c in view.table.columns
                                       if c.name not in keys}), rows)


def test_the_bulk_rebuild_stores_what_the_live_catch_up_and_sqlalchemy_store(event_log: EventLog) -> None:
    projections = fill_live(event_log, seed=19, rounds=70)
    types = {e.type for e in event_log.read()}
    read_by_views = {t for view in VIEWS.values() for t in view.reducers}
    assert read_by_views <= types and types - read_by_views  # every type a view reads, and some no view reads
    with event_log.engine.connect() as conn:
        live = stored(conn)
    assert all(live[name] for name in VIEWS), {name: len(live[name]) for name in VIEWS}

    assert projections.rebuild() > 0
    with event_log.engine.connect() as conn:
        rebuilt = stored(conn)
    assert rebuilt == live

    reference = SQLAlchemyStore(event_log.engine, VIEWS, upcasters=ev.UPCASTERS)
    reference.rebuild()
    with event_log.engine.connect() as conn:
        assert stored(conn) == live


def test_the_upsert_converts_full_and_partial_rows_as_sqlalchemy_does(event_log: EventLog) -> None:
    """A row with every column goes through the fast path (one C call for its values), a row lacking some
    through the slow one; both must store what SQLAlchemy stores: a column the row lacks is NULL, a JSON None
    given is JSON null, a timestamp is stored as SQLAlchemy stores its UTC time."""
    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table

    from storage.engine import UTCDateTime

    metadata = MetaData()
    table = Table("upsert_probe", metadata, Column("key", String, primary_key=True),
                  Column("count", Integer, nullable=False, default=0), Column("when", UTCDateTime),
                  Column("data", JSON), Column("note", String))
    metadata.create_all(event_log.engine)
    later = T0.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    rows = [{"key": "full", "count": 3, "when": later, "data": {"a": [1, "b"]}, "note": "x"},
            {"key": "full-nulls", "count": 0, "when": None, "data": None, "note": None},
            {"key": "partial", "count": 1, "when": T0},  # no data, no note: both NULL, not JSON null
            {"key": "partial-json", "count": 2, "data": None}]
    view = View("upsert_probe", 1, table, lambda e: (), {})
    results = []
    for store in ("ours", "sqlalchemy"):
        with event_log.engine.begin() as conn:
            conn.execute(table.delete())
            if store == "ours":
                Projector(event_log.engine, {})._store(conn, view, [dict(row) for row in rows])
            else:  # a row at a time: SQLAlchemy's executemany wants the same columns in every row
                for row in rows:
                    SQLAlchemyStore._store(None, conn, view, [dict(row)])  # type: ignore[arg-type]
        with event_log.engine.connect() as conn:
            query = (f"SELECT * FROM {table.name} ORDER BY key" if conn.dialect.name == "sqlite"
                     else f"SELECT CAST(t AS text) FROM {table.name} AS t ORDER BY key")
            results.append([tuple(row) for row in conn.exec_driver_sql(query)])
    ours, reference = results
    assert ours == reference
    assert len(ours) == 4
    with event_log.engine.connect() as conn:
        nulls = dict(conn.exec_driver_sql(
            f"SELECT key, data IS NULL FROM {table.name} ORDER BY key").all())
    assert nulls == {"full": False, "full-nulls": False, "partial": True, "partial-json": False}


class MovedMidway(Projector):
    """A replay during which another process applies a batch of each view (a second projector, a plain
    catch-up) just before this one's third write: that write must be refused, and the replay go on from there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes: dict[str, int] = {}
        self.refused: list[str] = []
        self.applied_by_other = 0

    def _write_after(self, view: View, position: int, rows: list[Row], end: int, count: int) -> int:
        self.writes[view.name] = self.writes.get(view.name, 0) + 1
        if self.writes[view.name] == 3:
            other = Projector(self.engine, {view.name: view}, upcasters=self.upcasters, batch_size=7)
            self.applied_by_other += other._apply_batch(view, 7)
        try:
            return super()._write_after(view, position, rows, end, count)
        except Exception as exc:
            self.refused.append(f"{view.name}: {type(exc).__name__}")
            raise


def test_a_replay_that_another_process_overtakes_ends_as_the_live_state(event_log: EventLog,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebuild writes each batch in a thread while it reads the next, each write only where the previous left
    the checkpoint: a batch applied meanwhile by someone else stops the overlap, and the replay goes on a batch at
    a time. In small batches (many writes in flight one after another), and with its memory of rows overflowing
    (it then reads rows back), the rebuilt views still equal the live ones, byte for byte."""
    import storage.projector as engine_module

    fill_live(event_log, seed=23, rounds=60)
    with event_log.engine.connect() as conn:
        live = stored(conn)
    monkeypatch.setattr(engine_module, "REBUILD_BATCH", 9)
    overtaken = MovedMidway(event_log.engine, VIEWS, upcasters=ev.UPCASTERS, batch_size=9)
    applied = overtaken.rebuild()
    with event_log.engine.connect() as conn:
        assert stored(conn) == live
    busy = [name for name, writes in overtaken.writes.items() if writes >= 3]
    assert {"articles", "feed_state", "mentions"} <= set(busy)
    assert sorted(overtaken.refused) == sorted(f"{name}: _Moved" for name in busy)
    applications = sum(1 for event in event_log.read() for view in VIEWS.values() if event.type in view.reducers)
    assert overtaken.applied_by_other > 0 and applied + overtaken.applied_by_other == applications

    monkeypatch.setattr(engine_module, "MEMO_ROWS", 5)
    assert Projector(event_log.engine, VIEWS, upcasters=ev.UPCASTERS, batch_size=9).rebuild() == applications
    with event_log.engine.connect() as conn:
        assert stored(conn) == live


def test_a_replayed_batch_that_fails_to_write_stops_the_rebuild_at_the_last_written(
        event_log: EventLog, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.projector as engine_module
    from monitor.errors import StorageError

    projections = fill_live(event_log, seed=29, rounds=40)
    with event_log.engine.connect() as conn:
        live = stored(conn)
    monkeypatch.setattr(engine_module, "REBUILD_BATCH", 9)

    class FailingThird(Projector):
        stores = 0

        def _store(self, conn: Connection, view: View, rows: list[Row]) -> None:
            if view.name == "articles":
                FailingThird.stores += 1
                if FailingThird.stores == 3:
                    raise StorageError("the disk is full")
            super()._store(conn, view, rows)

    failing = FailingThird(event_log.engine, VIEWS, upcasters=ev.UPCASTERS, batch_size=9)
    with pytest.raises(StorageError, match="disk is full"):
        failing.rebuild(["articles"])
    with event_log.engine.connect() as conn:
        position = conn.scalar(select(checkpoints.c.position).where(checkpoints.c.name == "articles"))
    articles_events = sorted(e.position for e in event_log.read() if e.type in VIEWS["articles"].reducers)
    assert position == articles_events[17]  # two batches of 9 written, the third not
    projections.catch_up()
    with event_log.engine.connect() as conn:
        assert stored(conn) == live


def test_a_batch_being_written_keeps_its_rows_while_the_next_is_folded(event_log: EventLog,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """feed_state's reducers change a feed's row in place (its poll counter), and every batch of a replay touches
    the same few feeds: while a batch is written, the next one is folded from copies, so each write stores its
    rows as they stood at its own last event, not with later polls counted in."""
    import threading

    import storage.projector as engine_module

    fill_live(event_log, seed=31, rounds=50)
    polls = [(e.position, e.data["feed"]) for e in event_log.read() if e.type in ("FeedPolled", "FeedFailed")]
    monkeypatch.setattr(engine_module, "REBUILD_BATCH", 6)
    checked: list[tuple[str, int]] = []
    folded = threading.Event()

    class SlowWriter(Projector):
        def _fold(self, view: View, keyed: Any, state: Any) -> Any:  # type: ignore[override]
            changed = super()._fold(view, keyed, state)
            folded.set()
            return changed

        def _write_after(self, view: View, position: int, rows: list[Row], end: int, count: int) -> int:
            folded.clear()
            folded.wait(0.5)  # the next batch is folded meanwhile (or there is none)
            for row in rows:
                expected = sum(1 for at, feed in polls if feed == row["feed"] and at <= end)
                checked.append((row["feed"], row["polls"] - expected))
            return super()._write_after(view, position, rows, end, count)

    SlowWriter(event_log.engine, {"feed_state": VIEWS["feed_state"]}, upcasters=ev.UPCASTERS,
               batch_size=6).rebuild()
    assert len(checked) > 10 and all(difference == 0 for _, difference in checked), checked
