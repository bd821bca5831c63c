"""The storage layer's own errors, and database errors translated into them at one boundary.

    StorageError          the event log or a view cannot be reached, read or written
    └── ConcurrencyError  an append found a stream at another version than the caller expected

Every call into the database that can fail runs inside ``translating(doing, engine)``, which turns a
driver's error into a StorageError with one clear line, raised ``from`` the original. The conditions an
operator can act on get their own wording: a database that cannot be reached, a SQLite file locked by
another process, a full disk, a file that is not a database, a read-only file. Anything else keeps the
driver's own message, shortened to one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError


class StorageError(Exception):
    """The event log or a read model could not be reached, read or written."""


class ConcurrencyError(StorageError):
    """An append found a stream at another version than the caller expected."""


_CONDITIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("database is locked", "database table is locked"),
     "the database is locked by another process (waited for the busy timeout); is another news-monitor "
     "writing to it?"),
    (("database or disk is full", "no space left on device", "could not extend file", "disk full"),
     "the disk holding the database is full"),
    (("connection refused", "could not connect", "connection failed", "name or service not known",
      "could not translate host name", "timeout expired", "no route to host", "server closed the connection"),
     "the database cannot be reached"),
    (("file is not a database", "database disk image is malformed"),
     "the file is not a SQLite database, or it is corrupt"),
    (("attempt to write a readonly database", "read-only"), "the database is read-only"),
    (("unable to open database file",), "the database file cannot be opened"),
)


def brief(exc: BaseException) -> str:
    """The driver's message on one line, at most 300 characters."""
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:300]


def safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def translate(exc: BaseException, doing: str, engine: Engine | None = None) -> StorageError:
    """``doing`` says what failed, e.g. "cannot append to the event log"."""
    detail = brief(exc)
    lowered = detail.lower()
    where = f" at {safe_url(engine)}" if engine is not None else ""
    for needles, meaning in _CONDITIONS:
        if any(needle in lowered for needle in needles):
            return StorageError(f"{doing}{where}: {meaning} ({detail})")
    return StorageError(f"{doing}{where}: {detail}")


@contextmanager
def translating(doing: str, engine: Engine | None = None) -> Iterator[None]:
    """Run the block; a database error in it becomes a StorageError saying what failed (``doing``, e.g.
    "cannot append to the event log") and where, raised from the driver's error."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise translate(exc, doing, engine) from exc
