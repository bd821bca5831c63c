"""Schema migrations with Alembic: what revision a database is at, and bringing it to head.

The migration scripts live in ``storage/migrations``. They run on a connection we hand over, inside one
transaction (both SQLite and PostgreSQL have transactional DDL), so a failed migration leaves the schema
as it was. On PostgreSQL a session-level advisory lock keeps two workers that start together from
migrating at once: the second waits, then finds the schema at head.

Databases created by the walking skeleton (before migrations existed) have the tables of revision 0001
but no version table; they are stamped 0001 and then upgraded like any other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from storage.errors import StorageError, safe_url, translating

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK_CLASS = 0x6E6D_6D01  # with the schema's hash: migrations of one schema wait for each other


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _current(conn: Connection) -> str | None:
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None and inspect(conn).has_table("events"):
        return "0001"  # created by create_all before migrations existed
    return current


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None for an empty database."""
    with translating("cannot open the event log", engine), engine.connect() as conn:
        return _current(conn)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to head. Returns (revision before, revision after)."""
    head = head_revision()
    with translating("cannot migrate the database", engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))"),
                         {"lock_class": _MIGRATION_LOCK_CLASS})
        before = _current(conn)
        _refuse_unknown(before, engine)
        if before == head:
            return before, head
        if before is not None and MigrationContext.configure(conn).get_current_revision() is None:
            command.stamp(_config(conn), before)
        command.upgrade(_config(conn), "head")
    return before, head


def prepare(engine: Engine, migrate: bool | None) -> None:
    """Make sure the schema is at head before the log is used.

    ``migrate`` True: upgrade. False: never upgrade. None: upgrade SQLite (an embedded file that only this
    program uses); on PostgreSQL, shared by several workers, an upgrade is an operator's decision.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    _refuse_unknown(current, engine)
    if migrate or (migrate is None and engine.dialect.name == "sqlite"):
        upgrade(engine)
        return
    state = "has no news-monitor schema yet" if current is None else f"is at schema revision {current}"
    raise StorageError(f"the database {safe_url(engine)} {state}; this version needs revision {head}: run "
                       "'news-monitor db upgrade' (or start with --auto-migrate)")


def is_known(revision: str | None) -> bool:
    """Whether this version has a migration script for ``revision`` (None, an empty database, is known)."""
    if revision is None:
        return True
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for revisions it cannot resolve
        return False


def _refuse_unknown(current: str | None, engine: Engine) -> None:
    if not is_known(current):
        raise StorageError(f"the database {safe_url(engine)} is at schema revision {current!r}, which this "
                           "version of news-monitor does not know: it was migrated by a newer version")
