"""Opening the event log and its read models the way the product uses them.

One place decides the upcasters (the event catalogue's), the lock timeout and whether the schema may be
migrated, so that every command, the daemon and the tests read the same log the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from monitor.config import Config
from monitor.events.catalogue import UPCASTERS
from monitor.views.projections import Projections
from storage.eventlog import EventLog, utcnow


def open_log(config: Config, *, clock: Callable[[], dt.datetime] = utcnow, migrate: bool | None = None) -> EventLog:
    """The configured log. ``migrate`` None follows the config: SQLite upgrades itself, PostgreSQL only
    with ``[storage] auto_migrate`` (or ``--auto-migrate``), otherwise it asks for ``db upgrade``."""
    if migrate is None and config.storage.auto_migrate:
        migrate = True
    return EventLog.open(config.storage.url, clock, migrate=migrate, upcasters=UPCASTERS,
                         lock_timeout=config.storage.lock_timeout)


def projections(log: EventLog) -> Projections:
    return Projections(log.engine, upcasters=log.upcasters)
