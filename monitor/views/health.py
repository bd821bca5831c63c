"""Is the service healthy? What ``news-monitor health`` and ``/healthz`` answer, from the log and the views.

Three checks, in order; the first that fails is the one-line reason:

1. **The log is reachable**: its newest position and the views' checkpoints can be read.
2. **The views are caught up**: no view is more than ``max_view_lag`` events behind the log (the daemon
   catches them up after every poll; a view far behind means nothing is applying the log).
3. **The daemon's heartbeat is recent** (unless ``daemon=False``, for a process that does not need it).

How the heartbeat is known without an event a minute: the log already says when the next sign of life is
due. Each poll's ``FeedPolled``/``FeedFailed`` records the feed's ``next_poll_at`` (the feed-state view keeps
it), and the daemon records ``DaemonStarted`` when it starts and ``DaemonStopped`` when it stops. So:

- no ``DaemonStarted`` in the log: no daemon has run;
- the newest of them is a ``DaemonStopped``: the daemon is stopped (and says why, and when);
- else the daemon claims to run since its ``DaemonStarted``: every configured feed must then have been
  polled by its due time (the later of its recorded ``next_poll_at`` and the start; a daemon resumes
  overdue feeds at once) plus ``max_overdue``. A feed overdue beyond that means the daemon stalled or died
  without saying so (SIGKILL, the OOM killer, a power cut). An idle daemon, whose feeds are all due later,
  is healthy however long ago it last wrote.

This costs no events at all while the daemon runs: the polls it makes are the heartbeat, and the schedule it
recorded says when the next one is due. ``max_overdue`` must cover a poll's own length (its event is recorded
when it ends) and the wait for a free worker (``[scheduler] max_workers``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from monitor.config import Config
from monitor.errors import HANDLED
from monitor.events import catalogue as ev
from monitor.views import queries
from monitor.views.log import open_log, projections
from storage.engine import reading
from storage.eventlog import EventLog, utcnow

MAX_VIEW_LAG = 1000  # events
MAX_OVERDUE = 600.0  # seconds


@dataclass
class Health:
    """The answer: ``ok``, the one line that says why (``reason``), and what was measured (``checks``)."""

    ok: bool
    reason: str
    checks: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "error", "reason": self.reason, **self.checks}


def check_health(config: Config, log: EventLog, *, now: dt.datetime | None = None, daemon: bool = True,
                 max_view_lag: int = MAX_VIEW_LAG, max_overdue: float = MAX_OVERDUE) -> Health:
    """The service's health (see the module docstring). Never raises: an unreadable log is an answer too."""
    now = now or utcnow()
    checks: dict[str, Any] = {}
    try:
        lags = projections(log).lag()
        with reading(log.engine) as conn:
            last = queries.last_event_position(conn)
            schedules = queries.feed_schedules(conn)
        lifecycle = None
        for event in log.read(types=[ev.DAEMON_STARTED, ev.DAEMON_STOPPED]):
            lifecycle = event  # the newest; a daemon records two events a run, so this read is short
    except (*HANDLED, SQLAlchemyError) as exc:
        return Health(False, f"the event log cannot be read: {' '.join(str(exc).split())}",
                      {"database": "error"})
    checks.update(database="ok", last_position=last)

    lag = max(lags.values(), default=0)
    behind = max(lags, key=lambda name: lags[name]) if lags else None
    checks["view_lag"] = lag
    if lag > max_view_lag:
        return Health(False, f"the views are behind the log: {behind} by {lag} events (bound {max_view_lag})",
                      checks)
    if not daemon:
        return Health(True, "the log is reachable and the views are caught up", checks)

    if lifecycle is None:
        return Health(False, "no daemon has started on this log (news-monitor run)", {**checks, "daemon": "never"})
    checks["daemon_instance"] = lifecycle.data.get("instance")
    if lifecycle.type == ev.DAEMON_STOPPED:
        when = lifecycle.occurred_at.isoformat(timespec="seconds")
        return Health(False, f"the daemon stopped at {when} ({lifecycle.data.get('reason')})",
                      {**checks, "daemon": "stopped"})
    started = lifecycle.occurred_at
    overdue: list[tuple[float, str, dt.datetime]] = []
    for feed in config.feeds:
        row = schedules.get(feed.name)
        recorded = row.next_poll_at if row is not None and row.url == feed.url else None
        due = max(started, recorded) if recorded else started
        overdue.append(((now - due).total_seconds(), feed.name, due))
    worst = max(overdue, default=None)
    checks.update(daemon="running", daemon_started_at=started.isoformat(timespec="seconds"),
                  most_overdue_seconds=round(max(worst[0], 0.0), 1) if worst else 0.0)
    if worst is not None and worst[0] > max_overdue:
        seconds, name, due = worst
        return Health(False, f"the daemon looks stalled: feed {name} was due at {due.isoformat(timespec='seconds')}"
                             f", {seconds:.0f}s ago (bound {max_overdue:g}s)", {**checks, "daemon": "stalled"})
    return Health(True, f"ok: daemon running since {started.isoformat(timespec='seconds')}, "
                        f"{len(config.feeds)} feed(s) on schedule, views {lag} event(s) behind", checks)


def service_health(config: Config, **bounds: Any) -> Health:
    """``check_health`` on the configured log, opened for the check alone (never migrated: a log that needs an
    upgrade is unhealthy, and says so)."""
    try:
        log = open_log(config, migrate=False)
    except HANDLED as exc:
        return Health(False, f"the event log cannot be opened: {' '.join(str(exc).split())}", {"database": "error"})
    try:
        return check_health(config, log, **bounds)
    finally:
        log.close()
