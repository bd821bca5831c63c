"""Export and import: moving a log between SQLite and PostgreSQL, idempotence, resuming, renumbering,
position gaps, bad input, and the CLI's export/import commands."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine, make_url

from monitor.cli import main
from monitor.errors import MonitorError, StorageError
from monitor.events import catalogue as ev
from monitor.events.transfer import ImportReport, export_events, import_events
from monitor.views.projections import Projections
from monitor.views.tables import articles, feed_state, mentions, review_cursor
from storage.eventlog import EventLog, NewEvent, RecordedEvent
from storage.tables import checkpoints, events_table

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "config" / "monitor.toml"
PG_ENV = "NEWS_MONITOR_TEST_DATABASE_URL"
T0 = dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)
TOPIC = "india-russia-summit"


class StepClock:
    """recorded_at for each batch: a second and a bit later each time, with microseconds to keep."""

    def __init__(self) -> None:
        self.now = dt.datetime(2025, 12, 4, 10, 0, 0, 123456, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1, microseconds=234567)
        return self.now


def open_log(url: str) -> EventLog:
    return EventLog.open(url, StepClock(), migrate=True, upcasters=ev.UPCASTERS)


@pytest.fixture
def url_for(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, str], str]:
    """A URL on the named backend: a SQLite file in tmp_path, or the test's PostgreSQL schema."""

    def make(backend: str, name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite3"
        return request.getfixturevalue("postgres_url")

    return make


@pytest.fixture
def second_postgres_url(postgres_url: str) -> Iterator[str]:
    """Another fresh PostgreSQL schema, for moves between two PostgreSQL logs."""
    schema = f"nm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(os.environ[PG_ENV])
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(os.environ[PG_ENV]).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# -- a realistic source log ----------------------------------------------------------------------------

def _article(n: int, feed: str) -> tuple[str, str, dt.datetime, dict[str, Any]]:
    url = f"https://news.example/{feed}/{n}"
    at = T0 + dt.timedelta(hours=n, microseconds=n * 1001)
    discovered = {"feed": feed, "url": url, "canonical_url": url, "entry_id": url, "title": f"Story {n}",
                  "published_at": at.isoformat()}
    return ev.article_id(url), url, at, discovered


def _extracted(url: str, at: dt.datetime, text_: str, source: str = "page") -> dict[str, Any]:
    return {"url": url, "title": None, "text": text_, "text_hash": hashlib.sha256(text_.encode()).hexdigest(),
            "text_source": source, "word_count": len(text_.split()), "language": "en", "author": None,
            "page_date": None, "published_at": at.isoformat()}


def _mention(url: str, score: float, mention: bool) -> dict[str, Any]:
    return {"mention": mention, "decision": "mention" if mention else "no_mention", "score": score,
            "sentences": ["Моди и Путин провели переговоры.", "मोदी और पुतिन"] if mention else [],
            "terms": ["Modi", "Putin", {"group": "meeting", "term": "talks"}], "url": url, "feed": "tass",
            "similarity": {"annual-summit.md": 0.41, "tianjin.md": 0.0}, "dates": [], "rule": "a AND b"}


def fill_source(log: EventLog) -> None:
    """Every kind of event the product writes, plus an ExtractionFailed stored in schema 1 (no stage), the
    way the walking skeleton wrote it."""
    poll = {"url": "https://news.example/tass.xml", "http_status": 200, "etag": 'W/"e1"', "entries_seen": 3,
            "duration": 0.25}
    log.append([ev.feed_polled("tass", "attempt-1", T0, {**poll, "status": "ok"})])

    a, url_a, at_a, disc_a = _article(1, "tass")  # extracted and tagged as a mention
    log.append([ev.article_discovered(a, at_a, disc_a),
                ev.article_extracted(a, at_a, _extracted(url_a, at_a, "Modi met Putin in New Delhi — “talks”.")),
                ev.mention_tagged(a, TOPIC, "v1", at_a, _mention(url_a, 0.8125, True))])

    b, url_b, at_b, disc_b = _article(2, "tass")  # page fetched, no text in it; the feed summary used instead
    log.append([ev.article_discovered(b, at_b, disc_b),
                ev.extraction_failed(b, at_b, {"url": url_b, "reason": "no_text", "message": "no article text",
                                               "fallback": "feed_summary"}),
                ev.article_extracted(b, at_b, _extracted(url_b, at_b, "Summary only.", "feed_summary")),
                ev.mention_tagged(b, TOPIC, "v1", at_b, _mention(url_b, 0.125, False))])

    c, url_c, at_c, disc_c = _article(3, "tass")  # blocked: stored by the old version, schema 1, no stage
    log.append([ev.article_discovered(c, at_c, disc_c),
                NewEvent(ev.article_stream(c), ev.EXTRACTION_FAILED, f"{ev.EXTRACTION_FAILED}:{c}",
                         {"article_id": c, "url": url_c, "reason": "http_403", "message": f"{url_c} answered 403",
                          "fallback": None}, at_c, schema=1)])

    log.append([ev.feed_failed("rt", "attempt-1", T0, {"url": "https://news.example/rt.xml", "reason": "timeout",
                                                       "message": "timed out after 5 s", "http_status": None})])
    log.append([ev.digest_reviewed(log.last_position(), T0 + dt.timedelta(days=1))])

    d, url_d, at_d, disc_d = _article(4, "rt")  # after the review: what the next digest shows
    log.append([ev.article_discovered(d, at_d, disc_d),
                ev.article_extracted(d, at_d, _extracted(url_d, at_d, "Jaishankar and Lavrov held talks.")),
                ev.mention_tagged(d, TOPIC, "v1", at_d, _mention(url_d, 1.0, True))])
    log.append([ev.feed_polled("tass", "attempt-2", T0 + dt.timedelta(days=1),
                               {**poll, "status": "not_modified", "http_status": 304, "etag": None})])


SOURCE_EVENTS = 16  # 1 + 3 + 4 + 2 + 1 + 1 + 3 + 1, as appended by fill_source; position 6 is B's ExtractionFailed


def export_lines(log: EventLog, after: int = 0) -> list[str]:
    buffer = io.StringIO()
    count = export_events(log, buffer, after=after)
    lines = buffer.getvalue().splitlines(keepends=True)
    assert count == len(lines)
    return lines


def stored(log: EventLog) -> list[RecordedEvent]:
    return list(log.read(upcast=False))


def read_models(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {table.name: sorted((dict(r) for r in conn.execute(select(table)).mappings()), key=repr)
                for table in (feed_state, articles, mentions, review_cursor, checkpoints)}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[EventLog]:
    """A SQLite log with fill_source's events."""
    log = open_log(f"sqlite:///{tmp_path / 'source.sqlite3'}")
    fill_source(log)
    yield log
    log.close()


@pytest.fixture
def target(database_url: str) -> Iterator[EventLog]:
    """An empty log, on each backend."""
    log = open_log(database_url)
    yield log
    log.close()


# -- moving a log ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("source_backend, target_backend",
                         [("sqlite", "postgresql"), ("postgresql", "sqlite"), ("sqlite", "sqlite")])
def test_a_moved_log_has_every_event_as_stored(url_for: Callable[[str, str], str], source_backend: str,
                                               target_backend: str) -> None:
    source_log = open_log(url_for(source_backend, "source"))
    target_log = open_log(url_for(target_backend, "target"))
    try:
        fill_source(source_log)
        original = stored(source_log)
        assert len(original) == SOURCE_EVENTS
        lines = export_lines(source_log)

        report = import_events(target_log, lines, source="move.jsonl")
        assert report == ImportReport(read=SOURCE_EVENTS, imported=SOURCE_EVENTS, already_recorded=0)
        assert stored(target_log) == original  # position, stream, version, type, schema, key, both dates, data

        # The schema-1 ExtractionFailed travels as stored, and the target's upcasters read it as schema 2.
        old = next(e for e in original if e.type == ev.EXTRACTION_FAILED and e.schema == 1)
        exported = json.loads(lines[old.position - 1])
        assert (exported["position"], exported["schema"]) == (old.position, 1) and "stage" not in exported["data"]
        upcast = {e.key: e for e in target_log.read()}
        assert (upcast[old.key].schema, upcast[old.key].data["stage"]) == (2, "fetch")
        assert {k: v for k, v in upcast[old.key].data.items() if k != "stage"} == old.data
        new_style = next(e for e in original if e.type == ev.EXTRACTION_FAILED and e.schema == 2)
        assert upcast[new_style.key].data == new_style.data and new_style.data["stage"] == "extract"
    finally:
        source_log.close()
        target_log.close()


@pytest.mark.parametrize("source_backend, target_backend",
                         [("sqlite", "postgresql"), ("postgresql", "sqlite"), ("sqlite", "sqlite")])
def test_read_models_rebuilt_on_the_target_equal_the_source(url_for: Callable[[str, str], str],
                                                            source_backend: str, target_backend: str) -> None:
    source_log = open_log(url_for(source_backend, "source"))
    target_log = open_log(url_for(target_backend, "target"))
    try:
        fill_source(source_log)
        Projections(source_log.engine, upcasters=ev.UPCASTERS, batch_size=4).catch_up()
        import_events(target_log, export_lines(source_log))
        Projections(target_log.engine, upcasters=ev.UPCASTERS).rebuild()
        expected = read_models(source_log.engine)
        assert read_models(target_log.engine) == expected
        # ...and those are the read models the events describe.
        assert [(r["status"], r["extraction_stage"]) for r in sorted(expected["articles"],
                                                                     key=lambda r: r["title"])] == [
            ("extracted", None), ("extracted", "extract"), ("failed", "fetch"), ("extracted", None)]
        assert sorted((r["score"], r["mention"]) for r in expected["mentions"]) == [
            (0.125, False), (0.8125, True), (1.0, True)]
        assert {r["feed"]: (r["polls"], r["failures"], r["articles"], r["etag"]) for r in expected["feed_state"]} == {
            "tass": (2, 0, 3, 'W/"e1"'), "rt": (1, 1, 1, None)}
        assert [r["position"] for r in expected["review_cursor"]] == [11]  # the review of events 1..11
    finally:
        source_log.close()
        target_log.close()


# -- idempotence and resuming ----------------------------------------------------------------------------

def test_importing_the_same_file_twice_adds_nothing(source: EventLog, target: EventLog) -> None:
    lines = export_lines(source)
    first = import_events(target, lines, batch_size=5)
    second = import_events(target, lines, batch_size=5)
    assert first == ImportReport(read=SOURCE_EVENTS, imported=SOURCE_EVENTS, already_recorded=0)
    assert second == ImportReport(read=SOURCE_EVENTS, imported=0, already_recorded=SOURCE_EVENTS)
    assert stored(target) == stored(source)


class _KilledWhileWriting(list):
    """Lines whose first reading (the check) goes through, and whose second (the write) stops after
    ``count`` lines, as a process killed part-way through an import."""

    def __init__(self, lines: list[str], count: int) -> None:
        super().__init__(lines)
        self.count, self.passes = count, 0

    def __iter__(self) -> Iterator[str]:
        self.passes += 1
        if self.passes == 1:
            yield from super().__iter__()
            return
        yield from self[:self.count]
        raise KeyboardInterrupt  # the process stopped while reading line count + 1


def test_an_interrupted_import_run_again_completes_without_duplicates(source: EventLog, target: EventLog) -> None:
    lines = export_lines(source)
    with pytest.raises(KeyboardInterrupt):
        import_events(target, _KilledWhileWriting(lines, 8), batch_size=3)
    assert stored(target) == stored(source)[:6]  # batches 1-3 and 4-6 whole; 7-8 were never written

    report = import_events(target, lines, batch_size=3)
    assert report == ImportReport(read=SOURCE_EVENTS, imported=SOURCE_EVENTS - 6, already_recorded=6)
    assert stored(target) == stored(source)


def test_an_import_interrupted_while_it_is_checked_writes_nothing(source: EventLog, target: EventLog) -> None:
    lines = export_lines(source)

    def killed_after(count: int) -> Iterator[str]:
        yield from lines[:count]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_events(target, killed_after(8), batch_size=3)
    assert stored(target) == []
    assert import_events(target, iter(lines), batch_size=3).imported == SOURCE_EVENTS  # a stream: spooled, then in
    assert stored(target) == stored(source)


def test_an_import_of_the_first_part_then_the_whole_file(source: EventLog, target: EventLog) -> None:
    lines = export_lines(source)
    assert import_events(target, lines[:7], batch_size=4).imported == 7
    report = import_events(target, lines, batch_size=4)  # 7 is not a batch boundary of the second run
    assert report == ImportReport(read=SOURCE_EVENTS, imported=SOURCE_EVENTS - 7, already_recorded=7)
    assert stored(target) == stored(source)


# -- a target that already has events --------------------------------------------------------------------

def test_importing_before_existing_events_needs_renumber(source: EventLog, target: EventLog) -> None:
    local = [ev.feed_polled("tass", "local-1", T0, {"url": "https://news.example/tass.xml", "status": "ok"}),
             ev.digest_reviewed(0, T0)]
    target.append(local)
    before = stored(target)
    lines = export_lines(source)

    with pytest.raises(StorageError, match="--renumber") as raised:
        import_events(target, lines, batch_size=5)
    assert "up to position 2" in str(raised.value) and "from position 1" in str(raised.value)
    assert stored(target) == before  # nothing written

    report = import_events(target, lines, renumber=True, batch_size=5)
    assert report == ImportReport(read=SOURCE_EVENTS, imported=SOURCE_EVENTS, already_recorded=0)
    after = stored(target)
    assert after[:2] == before
    original = stored(source)
    moved = after[2:]
    assert [e.position for e in moved] == list(range(3, 3 + SOURCE_EVENTS))
    assert [(e.key, e.type, e.schema, e.stream, e.occurred_at, e.recorded_at, e.data) for e in moved] == [
        (e.key, e.type, e.schema, e.stream, e.occurred_at, e.recorded_at, e.data) for e in original]
    # Versions continue each stream: feed:tass and review:default already had one event here each.
    assert [e.version for e in moved if e.stream == "feed:tass"] == [2, 3]
    assert [e.version for e in moved if e.stream == "review:default"] == [2]
    local_streams = {"feed:tass", "review:default"}
    assert [e.version for e in moved if e.stream not in local_streams] == [
        e.version for e in original if e.stream not in local_streams]

    again = import_events(target, lines, renumber=True)
    assert again == ImportReport(read=SOURCE_EVENTS, imported=0, already_recorded=SOURCE_EVENTS)
    assert stored(target) == after


# -- PostgreSQL positions: gaps and the sequence ---------------------------------------------------------

def test_postgresql_gaps_survive_a_move_and_appends_continue_after_the_import(
        postgres_url: str, second_postgres_url: str, tmp_path: Path) -> None:
    pg_source = open_log(postgres_url)
    sqlite_log = open_log(f"sqlite:///{tmp_path / 'middle.sqlite3'}")
    pg_target = open_log(second_postgres_url)
    try:
        for n in range(3):
            pg_source.append([ev.digest_reviewed(n, T0)])
        with pg_source.engine.connect() as conn:  # an append that takes position 4 and rolls back
            transaction = conn.begin()
            conn.execute(events_table.insert(), {
                "stream": "s", "version": 1, "type": "Thing", "schema": 1, "key": "rolled-back",
                "occurred_at": T0, "recorded_at": T0, "data": {}})
            transaction.rollback()
        pg_source.append([ev.digest_reviewed(3, T0), ev.digest_reviewed(4, T0)])
        original = stored(pg_source)
        assert [e.position for e in original] == [1, 2, 3, 5, 6]  # a sequence never gives 4 back

        import_events(sqlite_log, export_lines(pg_source))
        assert stored(sqlite_log) == original
        import_events(pg_target, export_lines(sqlite_log))
        assert stored(pg_target) == original

        pg_target.append([ev.digest_reviewed(5, T0)])  # the sequence was moved past the imported positions
        assert [e.position for e in stored(pg_target)] == [1, 2, 3, 5, 6, 7]
        sqlite_log.append([ev.digest_reviewed(5, T0)])
        assert [e.position for e in stored(sqlite_log)] == [1, 2, 3, 5, 6, 7]
    finally:
        pg_source.close()
        sqlite_log.close()
        pg_target.close()


def test_postgresql_appends_after_a_partial_import_follow_it(postgres_url: str, source: EventLog) -> None:
    target_log = open_log(postgres_url)
    try:
        lines = export_lines(source)
        import_events(target_log, lines[:5])
        target_log.append([ev.feed_polled("local", "1", T0, {"url": "https://news.example/local.xml"})])
        assert target_log.last_position() == 6
        with pytest.raises(StorageError, match="--renumber"):  # position 6 is now taken by another event
            import_events(target_log, lines)
        report = import_events(target_log, lines, renumber=True)
        assert report == ImportReport(read=SOURCE_EVENTS, imported=SOURCE_EVENTS - 5, already_recorded=5)
        assert [e.position for e in stored(target_log)] == list(range(1, SOURCE_EVENTS + 2))
    finally:
        target_log.close()


# -- bad input -------------------------------------------------------------------------------------------

def _edit(lines: list[str], index: int, change: Callable[[dict[str, Any]], None]) -> list[str]:
    item = json.loads(lines[index])
    change(item)
    return [*lines[:index], json.dumps(item) + "\n", *lines[index + 1:]]


def _not_json(lines: list[str]) -> list[str]:
    return [*lines[:5], "{this is not json\n", *lines[6:]]


def _missing_key(lines: list[str]) -> list[str]:
    return _edit(lines, 5, lambda item: item.pop("key"))


def _naive_occurred_at(lines: list[str]) -> list[str]:
    return _edit(lines, 5, lambda item: item.update(occurred_at="2025-12-04T09:00:00"))


def _out_of_order(lines: list[str]) -> list[str]:
    return [*lines[:4], lines[5], lines[4], *lines[6:]]  # line 5 holds event 6, line 6 event 5


def _newer_schema(lines: list[str]) -> list[str]:
    return _edit(lines, 5, lambda item: item.update(schema=ev.SCHEMAS[item["type"]] + 1))


def _unreadable_payload(lines: list[str]) -> list[str]:
    return _edit(lines, 5, lambda item: item["data"].pop("url"))


def _huge_position(lines: list[str]) -> list[str]:
    return _edit(lines, 5, lambda item: item.update(position=2**63 - 1))


def _position_past_64_bits(lines: list[str]) -> list[str]:
    return _edit(lines, 5, lambda item: item.update(position=2**64))


def _unknown_type(lines: list[str]) -> list[str]:
    return _edit(lines, 5, lambda item: item.update(type="FeedHijacked"))


def _not_utf8(lines: list[str]) -> list[bytes]:
    raw = [line.encode("utf-8") for line in lines]
    raw[5] = raw[5].replace(b'"stream"', b'"str\xff\xfeeam"')
    return raw


@pytest.mark.parametrize("spoil, problem", [
    (_huge_position, r"not an exported event: position: Input should be less than or equal to 9007199254740991"),
    (_position_past_64_bits, r"not an exported event: position: Input should be less than or equal to "),
    (_unknown_type, r"unknown event type 'FeedHijacked'"),
    (_not_utf8, r"not UTF-8 \(byte \d+ of the line\)"),
    (_not_json, r"not an exported event: .*JSON"),
    (_missing_key, r"not an exported event: key: Field required"),
    (_naive_occurred_at, r"not an exported event: occurred_at: .*timezone"),
    (_out_of_order, r"position 5 does not follow 6"),
    (_newer_schema, r"ExtractionFailed schema 3 is newer than this version knows \(2\)"),
    (_unreadable_payload, r"the payload cannot be read: ExtractionFailed schema 2: url: Field required"),
], ids=["huge-position", "position-past-64-bits", "unknown-type", "not-utf8", "not-json", "missing-field",
        "naive-datetime", "out-of-order", "newer-schema", "bad-payload"])
def test_a_bad_line_stops_the_import_naming_source_and_line(source: EventLog, target: EventLog,
                                                            spoil: Callable[[list[str]], list[str]],
                                                            problem: str) -> None:
    lines = spoil(export_lines(source))
    with pytest.raises(MonitorError, match=rf"^backup\.jsonl:6: {problem}"):
        import_events(target, lines, source="backup.jsonl", batch_size=2)
    assert stored(target) == []  # every line is checked before the first batch: the good lines 1-5 wait too


def test_after_a_refused_tampered_import_the_log_appends_and_its_views_show_new_events(
        source: EventLog, target: EventLog) -> None:
    with pytest.raises(MonitorError, match=r"^input:6: "):
        import_events(target, _huge_position(export_lines(source)))
    assert import_events(target, export_lines(source)).imported == SOURCE_EVENTS
    projections = Projections(target.engine)
    projections.catch_up()
    result = target.append([ev.feed_failed("late", "attempt-9", dt.datetime(2025, 12, 9, tzinfo=dt.UTC), {
        "url": "https://news.example/late.xml", "reason": "http_500", "message": "boom", "http_status": 500})])
    assert target.last_position() == SOURCE_EVENTS + 1 and result.recorded  # the refused line moved no sequence
    projections.catch_up()
    assert projections.positions()["feed_state"] == SOURCE_EVENTS + 1


# -- the command line ------------------------------------------------------------------------------------

def test_cli_export_and_import_round_trip(source: EventLog, write_config: Callable[..., Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    source_url = source.engine.url.render_as_string(hide_password=False)
    config = str(write_config([]))
    assert main(["--config", str(SHIPPED_CONFIG), "--database-url", source_url, "export"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"exported {SOURCE_EVENTS} event(s)\n"
    assert captured.out == "".join(export_lines(source))
    dump = tmp_path / "log.jsonl"
    dump.write_text(captured.out, encoding="utf-8")

    assert main(["--config", config, "import", str(dump)]) == 0
    assert capsys.readouterr().out == f"imported {SOURCE_EVENTS} event(s); 0 already recorded\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(captured.out))
    assert main(["--config", config, "import", "-"]) == 0
    assert capsys.readouterr().out == f"imported 0 event(s); {SOURCE_EVENTS} already recorded\n"

    assert main(["--config", config, "export"]) == 0
    moved = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert moved == [json.loads(line) for line in captured.out.splitlines()]

    assert main(["--config", config, "export", "--after", "11"]) == 0
    captured_after = capsys.readouterr()
    tail = [json.loads(line) for line in captured_after.out.splitlines()]
    assert [e["position"] for e in tail] == list(range(12, SOURCE_EVENTS + 1))
    assert tail == moved[11:]
    assert captured_after.err == f"exported {SOURCE_EVENTS - 11} event(s)\n"


def test_cli_import_errors_are_one_line(source: EventLog, write_config: Callable[..., Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config = str(write_config([]))
    assert main(["--config", config, "import", str(tmp_path / "missing.jsonl")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"news-monitor: error: FILE: cannot open {tmp_path / 'missing.jsonl'}: No such file or directory"]

    lines = export_lines(source)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(_naive_occurred_at(lines)), encoding="utf-8")
    assert main(["--config", config, "import", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"news-monitor: error: {bad}:6: not an exported event: occurred_at")

    monkeypatch.setattr("sys.stdin", io.StringIO("".join(_out_of_order(lines))))
    assert main(["--config", config, "import", "-"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("news-monitor: error: stdin:6: position 5 does not follow 6")

    head = tmp_path / "head.jsonl"
    head.write_text("".join(lines[:4]), encoding="utf-8")
    assert main(["--config", config, "import", str(head)]) == 0
    assert main(["--config", config, "review"]) == 0  # the target's own event takes position 5...
    capsys.readouterr()
    rest = tmp_path / "rest.jsonl"
    rest.write_text("".join(lines[4:]), encoding="utf-8")
    assert main(["--config", config, "import", str(rest)]) == 1  # ...where the file's fifth event would go
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("news-monitor: error:") and "--renumber" in err[0]
    assert main(["--config", config, "import", "--renumber", str(rest)]) == 0
    assert capsys.readouterr().out == f"imported {SOURCE_EVENTS - 4} event(s); 0 already recorded\n"
