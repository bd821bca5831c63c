"""Schema migrations: empty databases, walking-skeleton databases, refusals, racing workers, and the CLI.

Every database here is made by the code under test (or, for the walking skeleton's schema, by running only
revision 0001 and dropping the version table, which is what such a database looks like).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import Connection

from monitor.errors import StorageError
from monitor.events import catalogue as ev
from monitor.views.projections import Projections
from monitor.views.reducers import VIEWS
from monitor.views.tables import articles, feed_state, mentions, review_cursor
from monitor.views.tables import metadata as views_metadata
from storage import migrate as schema
from storage.engine import make_engine
from storage.eventlog import EventLog, NewEvent
from storage.tables import checkpoints
from storage.tables import metadata as log_metadata
from tests.builders import SHIPPED_CONFIG, cli

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "storage" / "migrations"
TABLES = ("events", "projection_checkpoints", "feed_state", "articles", "mentions", "review_cursor",
          "reviewed_mentions", "timeline", "story_features", "timeline_sightings")
# The tables of migrations after 0009 (gone once the worker queue's test migrates down to 0008).
AFTER_QUEUE_TABLES = ("timeline_sightings",)
# PostgreSQL only: the worker queue (migration 0009), procrastinate's tables and our two beside them.
QUEUE_TABLES = ("procrastinate_workers", "procrastinate_jobs", "procrastinate_periodic_defers", "procrastinate_events",
                "queue_workers", "queue_takeovers")
T0 = dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)
SPAWN = multiprocessing.get_context("spawn")
RACERS = 4


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_auto_migrate_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWS_MONITOR_AUTO_MIGRATE", raising=False)


def alembic_config(conn: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def create_walking_skeleton_schema(engine: Engine) -> None:
    """The tables of revision 0001 and no version table: a database made before migrations existed."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("DROP TABLE alembic_version"))


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def version_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT version_num FROM alembic_version")))


def assert_schema_is_the_code_metadata(engine: Engine) -> None:
    """Every table of the code's metadata exists with its columns (name, type, length, nullability, primary key),
    its indexes and its unique constraints."""
    inspector = inspect(engine)
    dialect = engine.dialect
    for table in [*log_metadata.sorted_tables, *views_metadata.sorted_tables]:
        assert inspector.has_table(table.name), table.name
        found = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(found) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            reflected = found[column.name]
            where = f"{table.name}.{column.name}"
            expected_type = column.type.dialect_impl(dialect)
            assert reflected["type"]._type_affinity is expected_type._type_affinity, where
            assert getattr(reflected["type"], "length", None) == getattr(expected_type, "length", None), where
            if dialect.name == "postgresql" and hasattr(expected_type, "timezone"):
                assert reflected["type"].timezone == expected_type.timezone, where
            assert reflected["nullable"] == column.nullable, where
        assert set(inspector.get_pk_constraint(table.name)["constrained_columns"]) == {
            c.name for c in table.primary_key.columns}, table.name
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            assert indexes.get(index.name) == [c.name for c in index.columns], f"{table.name}: {index.name}"
        uniques = {u["name"]: u["column_names"] for u in inspector.get_unique_constraints(table.name)}
        for constraint in table.constraints:
            if constraint.__class__.__name__ == "UniqueConstraint":
                assert uniques.get(constraint.name) == [c.name for c in constraint.columns], constraint.name


# -- an empty database ------------------------------------------------------------------------------------

def test_head_is_the_newest_migration_script() -> None:
    scripts = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    assert schema.head_revision() == scripts[-1].split("_", 1)[0]


def test_an_empty_database_migrates_to_head_with_the_code_tables(engine: Engine) -> None:
    head = schema.head_revision()
    assert schema.current_revision(engine) is None
    assert schema.upgrade(engine) == (None, head)
    assert schema.current_revision(engine) == head
    queue = QUEUE_TABLES if engine.dialect.name == "postgresql" else ()
    assert table_names(engine) == {*TABLES, *queue, "alembic_version"}
    assert_schema_is_the_code_metadata(engine)
    inspector = inspect(engine)
    assert "view_version" in {c["name"] for c in inspector.get_columns("projection_checkpoints")}
    assert "extraction_stage" in {c["name"] for c in inspector.get_columns("articles")}
    assert {"name": "ix_mentions_position", "column_names": ["position"]}.items() <= next(
        i for i in inspector.get_indexes("mentions") if i["name"] == "ix_mentions_position").items()


def test_migrations_produce_exactly_the_code_metadata(engine: Engine) -> None:
    """Alembic's autogenerate, comparing the migrated database with the metadata, finds nothing to change:
    the next `alembic revision --autogenerate` would start from a clean slate."""
    schema.upgrade(engine)
    with engine.connect() as conn:
        # The queue's tables are procrastinate's schema, not our metadata (migration 0009 applies its SQL).
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": lambda name, kind, _p:
                                                         kind != "table" or name not in QUEUE_TABLES})
        assert compare_metadata(context, [log_metadata, views_metadata]) == []


def test_upgrading_twice_is_a_no_op(engine: Engine) -> None:
    head = schema.head_revision()
    schema.upgrade(engine)
    log = EventLog(engine, upcasters=ev.UPCASTERS)
    log.append([ev.digest_reviewed(0, T0)])
    before = list(log.read(upcast=False))
    assert schema.upgrade(engine) == (head, head)
    assert schema.upgrade(engine) == (head, head)
    assert version_rows(engine) == [head]
    assert list(log.read(upcast=False)) == before
    assert_schema_is_the_code_metadata(engine)


def test_the_worker_queue_migrates_down_and_up_again_on_postgresql(postgres_url: str) -> None:
    """0009 applies procrastinate's schema on PostgreSQL; its downgrade leaves nothing of it behind (no table,
    type or function named procrastinate_*), and the upgrade after works."""
    engine = make_engine(postgres_url)
    try:
        schema.upgrade(engine)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0008")
        with engine.connect() as conn:
            left = conn.scalar(text(
                "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'procrastinate%' AND relnamespace = "
                "current_schema()::regnamespace) + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%' "
                "AND pronamespace = current_schema()::regnamespace) + (SELECT count(*) FROM pg_type WHERE typname "
                "LIKE 'procrastinate%' AND typnamespace = current_schema()::regnamespace)"))
        assert left == 0
        assert table_names(engine) == {*TABLES, "alembic_version"} - set(AFTER_QUEUE_TABLES)
        assert schema.upgrade(engine) == ("0008", schema.head_revision())
        assert set(QUEUE_TABLES) <= table_names(engine)
    finally:
        engine.dispose()


# -- a database made by the walking skeleton --------------------------------------------------------------

def skeleton_events(article: str, url: str) -> list[NewEvent]:
    """What the walking skeleton wrote: ExtractionFailed in schema 1, with no stage."""
    return [
        ev.feed_polled("feed-a", "attempt-1", T0, {"url": "https://news.example/a.xml", "status": "ok",
                                                   "http_status": 200, "entries_seen": 1, "etag": "e1"}),
        ev.article_discovered(article, T0, {"feed": "feed-a", "url": url, "canonical_url": url, "entry_id": url,
                                            "title": "Modi meets Putin", "published_at": T0.isoformat()}),
        NewEvent(ev.article_stream(article), ev.EXTRACTION_FAILED, f"{ev.EXTRACTION_FAILED}:{article}",
                 {"article_id": article, "url": url, "reason": "http_403", "message": f"{url} answered 403",
                  "fallback": None}, T0, schema=1),
    ]


def test_a_walking_skeleton_database_is_recognised_upgraded_and_its_views_rebuilt(engine: Engine) -> None:
    head = schema.head_revision()
    create_walking_skeleton_schema(engine)
    assert not inspect(engine).has_table("alembic_version")
    assert "view_version" not in {c["name"] for c in inspect(engine).get_columns("projection_checkpoints")}
    assert schema.current_revision(engine) == "0001"

    url = "https://news.example/a/1"
    article = ev.article_id(url)
    old_log = EventLog(engine)  # the skeleton's log: the events table of 0001 is today's
    old_log.append(skeleton_events(article, url))
    stored = list(old_log.read(upcast=False))
    last = stored[-1].position
    # The skeleton's read models, caught up to the end of the log, but with what its reducers wrote then:
    # a failed article with no stage (the column did not exist), and a feed counted twice.
    with engine.begin() as conn:
        conn.execute(checkpoints.insert(), [{"name": name, "position": last} for name in VIEWS])
        conn.execute(articles.insert().values(article_id=article, url=url, canonical_url=url, feed="feed-a",
                                              status="failed", extraction_reason="http_403"))
        conn.execute(feed_state.insert().values(feed="feed-a", status="ok", consecutive_failures=0, polls=2,
                                                failures=0, entries_seen=1, articles=2))

    assert schema.upgrade(engine) == ("0001", head)
    assert schema.current_revision(engine) == head
    assert version_rows(engine) == [head]
    assert_schema_is_the_code_metadata(engine)
    log = EventLog(engine, upcasters=ev.UPCASTERS)
    assert list(log.read(upcast=False)) == stored  # the events are kept as they were
    with engine.connect() as conn:
        assert {r.name: r.view_version for r in conn.execute(select(checkpoints))} == dict.fromkeys(VIEWS)

    Projections(engine, upcasters=ev.UPCASTERS).catch_up()  # the next catch-up rebuilds every view
    with engine.connect() as conn:
        views = {r.name: (r.position, r.view_version) for r in conn.execute(select(checkpoints))}
        article_row = conn.execute(select(articles)).mappings().one()
        feed_row = conn.execute(select(feed_state)).mappings().one()
        assert conn.scalar(select(func.count()).select_from(mentions)) == 0
        assert conn.scalar(select(func.count()).select_from(review_cursor)) == 0
    # Each view's checkpoint is the last event it reads (mentions, the two review views, the timeline and the story
    # features read none: 0).
    assert views == {"feed_state": (stored[1].position, VIEWS["feed_state"].version),
                     "articles": (stored[2].position, VIEWS["articles"].version),
                     "mentions": (0, VIEWS["mentions"].version),
                     "review_cursor": (0, VIEWS["review_cursor"].version),
                     "reviewed_mentions": (0, VIEWS["reviewed_mentions"].version),
                     "timeline": (0, VIEWS["timeline"].version),
                     "story_features": (0, VIEWS["story_features"].version)}
    assert (article_row["status"], article_row["extraction_reason"], article_row["extraction_stage"]) == (
        "failed", "http_403", "fetch")  # stage from the upcast schema-1 event
    assert article_row["title"] == "Modi meets Putin" and article_row["discovered_at"] == stored[1].recorded_at
    assert (feed_row["polls"], feed_row["articles"], feed_row["etag"]) == (1, 1, "e1")


def test_opening_a_walking_skeleton_sqlite_log_upgrades_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    try:
        create_walking_skeleton_schema(engine)
        EventLog(engine).append([ev.digest_reviewed(0, T0)])
    finally:
        engine.dispose()
    log = EventLog.open(url, upcasters=ev.UPCASTERS)
    try:
        assert schema.current_revision(log.engine) == schema.head_revision()
        assert [e.type for e in log.read()] == [ev.DIGEST_REVIEWED]
    finally:
        log.close()


def test_a_walking_skeleton_postgresql_database_is_refused_until_upgraded(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        create_walking_skeleton_schema(engine)
    finally:
        engine.dispose()
    with pytest.raises(StorageError, match=r"is at schema revision 0001.*'news-monitor db upgrade'"):
        EventLog.open(postgres_url)
    log = EventLog.open(postgres_url, migrate=True)
    try:
        assert schema.current_revision(log.engine) == schema.head_revision()
    finally:
        log.close()


# -- EventLog.open and its migrate flag -------------------------------------------------------------------

def test_postgresql_open_on_an_empty_schema_asks_for_db_upgrade_and_creates_nothing(postgres_url: str) -> None:
    with pytest.raises(StorageError) as raised:
        EventLog.open(postgres_url)
    message = str(raised.value)
    assert "has no news-monitor schema yet" in message
    assert "run 'news-monitor db upgrade'" in message and "--auto-migrate" in message
    engine = make_engine(postgres_url)
    try:
        assert table_names(engine) == set()
    finally:
        engine.dispose()


def test_postgresql_open_with_migrate_true_migrates_and_works(postgres_url: str) -> None:
    log = EventLog.open(postgres_url, migrate=True, upcasters=ev.UPCASTERS)
    try:
        assert schema.current_revision(log.engine) == schema.head_revision()
        assert log.append([ev.digest_reviewed(0, T0)]).recorded == [f"{ev.DIGEST_REVIEWED}:default:0"]
        assert [e.position for e in log.read()] == [1]
    finally:
        log.close()
    again = EventLog.open(postgres_url)  # at head: migrate=None opens it without asking
    again.close()


def test_sqlite_open_with_migrate_none_migrates_by_itself(tmp_path: Path) -> None:
    log = EventLog.open(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    try:
        assert schema.current_revision(log.engine) == schema.head_revision()
        assert_schema_is_the_code_metadata(log.engine)
    finally:
        log.close()


def test_sqlite_open_with_migrate_false_on_an_empty_file_raises(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    with pytest.raises(StorageError, match="has no news-monitor schema yet.*'news-monitor db upgrade'"):
        EventLog.open(url, migrate=False)
    engine = make_engine(url)
    try:
        assert table_names(engine) == set()
        schema.upgrade(engine)
    finally:
        engine.dispose()
    EventLog.open(url, migrate=False).close()  # at head, migrate=False is enough


# -- a database from the future ---------------------------------------------------------------------------

@pytest.mark.parametrize("migrate", [None, True, False])
def test_a_database_at_an_unknown_revision_is_refused(engine: Engine, database_url: str,
                                                      migrate: bool | None) -> None:
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert schema.current_revision(engine) == "9999"
    with pytest.raises(StorageError, match="'9999'.*it was migrated by a newer version"):
        EventLog.open(database_url, migrate=migrate)
    with pytest.raises(StorageError, match="'9999'.*it was migrated by a newer version"):
        schema.upgrade(engine)
    assert version_rows(engine) == ["9999"]  # left alone


# -- workers racing to migrate ----------------------------------------------------------------------------

def _race_upgrade(url: str, barrier: Any, results: Any) -> None:
    engine = make_engine(url)
    try:
        # Load the migration scripts and connect first, so that the workers really meet at the lock.
        schema.head_revision()
        with engine.connect():
            pass
        barrier.wait(timeout=60)
        results.put(("ok", schema.upgrade(engine)))
    except BaseException as exc:  # reported to the test, which fails on it
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


def test_workers_upgrading_an_empty_postgresql_schema_at_once_all_succeed(postgres_url: str) -> None:
    head = schema.head_revision()
    barrier = SPAWN.Barrier(RACERS)
    results = SPAWN.Queue()
    workers = [SPAWN.Process(target=_race_upgrade, args=(postgres_url, barrier, results)) for _ in range(RACERS)]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    assert all(status == "ok" for status, _ in outcomes), outcomes
    # One of them migrated; the others waited for its lock and found the schema at head.
    assert sorted((tuple(r) for _, r in outcomes), key=repr) == sorted(
        [(None, head)] + [(head, head)] * (RACERS - 1), key=repr)
    engine = make_engine(postgres_url)
    try:
        assert version_rows(engine) == [head]
        assert_schema_is_the_code_metadata(engine)
    finally:
        engine.dispose()


# -- the command line -------------------------------------------------------------------------------------

def test_db_current_and_db_upgrade_print_the_revisions(database_url: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    head = schema.head_revision()
    db = ("--database-url", database_url, "db")
    assert cli(capsys, *db, "current", config=SHIPPED_CONFIG)[:2] == (
        0, f"revision none (empty database); this version needs {head}: needs 'news-monitor db upgrade'\n")
    assert cli(capsys, *db, "upgrade", config=SHIPPED_CONFIG)[:2] == (
        0, f"upgraded from an empty database to revision {head}\n")
    assert cli(capsys, *db, "current", config=SHIPPED_CONFIG)[:2] == (
        0, f"revision {head}; this version needs {head}: up to date\n")
    assert cli(capsys, *db, "upgrade", config=SHIPPED_CONFIG)[:2] == (0, f"already at revision {head}\n")


def test_db_upgrade_of_a_walking_skeleton_database(engine: Engine, database_url: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    create_walking_skeleton_schema(engine)
    head = schema.head_revision()
    db = ("--database-url", database_url, "db")
    assert cli(capsys, *db, "current", config=SHIPPED_CONFIG)[:2] == (
        0, f"revision 0001; this version needs {head}: needs 'news-monitor db upgrade'\n")
    assert cli(capsys, *db, "upgrade", config=SHIPPED_CONFIG)[:2] == (0, f"upgraded from 0001 to revision {head}\n")


def test_auto_migrate_lets_a_command_open_an_unmigrated_postgresql_schema(
        postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--database-url", postgres_url, "events", config=SHIPPED_CONFIG)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("news-monitor: error:"), err
    assert "'news-monitor db upgrade'" in lines[0] and "--auto-migrate" in lines[0]
    assert "Traceback" not in err and out == ""

    code, out, err = cli(capsys, "--database-url", postgres_url, "--auto-migrate", "events", config=SHIPPED_CONFIG)
    assert code == 0
    assert (out, err) == ("", "")
    engine = make_engine(postgres_url)
    try:
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()
    # At head now: no flag needed.
    assert cli(capsys, "--database-url", postgres_url, "events", config=SHIPPED_CONFIG)[0] == 0


def test_db_upgrade_refuses_a_database_from_a_newer_version_in_one_line(
        engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    code, _, err = cli(capsys, "--database-url", database_url, "db", "upgrade", config=SHIPPED_CONFIG)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("news-monitor: error:")
    assert "'9999'" in lines[0] and "migrated by a newer version" in lines[0]
