"""The daemon's jobs: what runs when the scheduler fires (monitor.daemon.run decides *when*).

A job is an importable function called with plain arguments, the name of the daemon it runs for and, for a
poll, a feed's name: APScheduler 3.x stores a job as a function reference and its arguments, so no closure is
ever pickled. The running daemon registers itself in ``DAEMONS`` under its name; a job looks it up there and
does nothing when its daemon is gone or stopping. What a job needs of its daemon is the ``Host`` protocol.

A feed's poll is ``poll_feed_job``: ``run`` submits it from its dispatcher (monitor.daemon.dispatch, one thread
for every feed, #19), and it tells its host when the feed is due next (``Host.move_feed``): the pipeline decides
that (monitor.ingest.policy) and records it in the poll's event. ``add_feed_job``, ``move_feed_job`` and
``remove_feed_job`` keep the older way, one APScheduler job per feed (``job_id``) whose trigger is a safety net,
for a scheduler built elsewhere; ``run`` no longer uses them (10,000 jobs were 10,000 objects and a scheduler
lock taken at every poll).

Digests have a job (``DIGEST_JOB``) on an executor of their own (``DIGEST_EXECUTOR``), added, moved or removed
to match ``[digest] schedule``; at start, another job on it resumes the deliveries a stop interrupted.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler

from monitor.config import SchedulerSettings
from monitor.events.keys import feed_stream
from monitor.pipeline import Monitor
from monitor.polls import GroupCommit, PollOutcome
from monitor.views import queries
from storage.engine import reading

log = logging.getLogger(__name__)

DIGEST_JOB = "digest"
DIGEST_EXECUTOR = "digest"
RESUME_JOB = "digest-resume"


def job_id(feed_name: str) -> str:
    return f"feed:{feed_name}"


class Host(Protocol):
    """What a job needs of the daemon it runs for (monitor.daemon.run.Daemon)."""

    monitor: Monitor

    def polling(self) -> AbstractContextManager[None]:
        """Counts a poll in flight while it lasts (a stop waits for these)."""
        ...

    def move_feed(self, name: str, at: dt.datetime) -> bool:
        """Schedule the feed's next poll at ``at``; False when the feed is no longer scheduled (removed meanwhile)."""
        ...

    def polled(self, name: str) -> None:
        """A poll of ``name`` ran to its end: the daemon's sign of life (its systemd watchdog)."""
        ...


class Registry:
    """The running daemons of this process by name: where a job finds the daemon its arguments name."""

    def __init__(self) -> None:
        self._hosts: dict[str, Host] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def register(self, host: Host) -> str:
        """Register ``host`` under a new name (the argument its jobs are scheduled with); return the name."""
        with self._lock:
            name = f"daemon-{next(self._numbers)}"
            self._hosts[name] = host
        return name

    def unregister(self, name: str) -> None:
        with self._lock:
            self._hosts.pop(name, None)

    def get(self, name: str) -> Host | None:
        with self._lock:
            return self._hosts.get(name)


DAEMONS = Registry()


# -- feeds --------------------------------------------------------------------------------------------

def add_feed_job(scheduler: BaseScheduler, settings: SchedulerSettings, daemon: str, name: str,
                 due: dt.datetime) -> None:
    """The job of one feed for ``daemon``, first run at ``due`` (at start; and for a feed a config reload adds)."""
    safety_net = max(settings.max_interval, settings.max_backoff) * 1.5
    scheduler.add_job(poll_feed_job, "interval", args=[daemon, name], id=job_id(name), name=f"poll {name}",
                      seconds=safety_net, next_run_time=due, replace_existing=True)


def poll_feed_job(daemon: str, feed_name: str, catch_up: bool = True, sink: GroupCommit | None = None,
                  rows: Mapping[str, dict[str, Any] | None] | None = None) -> None:
    """Refresh one feed of the running monitor, then move the feed to its next poll. ``catch_up``: the views
    around the poll (False when the caller catches them up, as the dispatcher does). ``sink``: commit the poll's
    own events with other polls' (the dispatcher's group commit), which logs its line once they are written.
    ``rows``: the feed-state rows the caller keeps (the dispatcher's), for ``poll_one``."""
    host = DAEMONS.get(daemon)
    if host is None or host.monitor.stopping.is_set():
        return
    monitor = host.monitor
    # Every line logged during the poll (ours, httpx's, trafilatura's) carries the feed.
    with host.polling(), structlog.contextvars.bound_contextvars(feed=feed_name):
        next_at = poll_one(monitor, feed_name, catch_up=catch_up, sink=sink, rows=rows)
    if not monitor.stopping.is_set():
        host.move_feed(feed_name, next_at)  # False: the feed was removed meanwhile
    host.polled(feed_name)


def poll_one(monitor: Monitor, feed_name: str, *, catch_up: bool = True, sink: GroupCommit | None = None,
             rows: Mapping[str, dict[str, Any] | None] | None = None) -> dt.datetime:
    """Poll one feed and log its line (with ``sink``: once the sink has written its events, ``log_polls``);
    when it is due next. Never raises (a storage outage: soon again). ``catch_up``: bring the views up to date
    before and after the poll (monitor.pipeline.Monitor.refresh_feed). ``rows``: the feed's state as the caller
    read it after its previous poll (``Monitor.feed_rows``); a feed it lacks is read from the view."""
    try:
        feed = monitor.config.feed(feed_name)
        known = monitor.known_from(feed, rows[feed_name]) if rows is not None and feed_name in rows else None
        outcome = monitor.refresh_feed(feed, catch_up=catch_up, sink=sink, known=known)
    except Exception:  # a storage outage: logged, and tried again soon; the daemon lives on
        log.exception("poll of %s could not run", feed_name)
        return monitor.clock() + dt.timedelta(seconds=monitor.config.scheduler.min_interval)
    if sink is None:
        log_polls(monitor, [outcome])
    return outcome.next_poll_at or monitor.clock()


def log_polls(monitor: Monitor, outcomes: list[PollOutcome]) -> None:
    """One line per poll, once its events are in the log; a failed one is our failure, so WARNING (a bug inside
    it was logged at ERROR already). Each line carries the position of its poll's event."""
    levels = [logging.WARNING if outcome.status == "failed" else logging.INFO for outcome in outcomes]
    if not any(log.isEnabledFor(level) for level in levels):
        return
    positions = _poll_positions(monitor, [outcome.feed for outcome in outcomes])
    for outcome, level in zip(outcomes, levels, strict=True):
        if not log.isEnabledFor(level):
            continue
        with structlog.contextvars.bound_contextvars(feed=outcome.feed):  # as every line of the poll itself
            log.log(level, "polled %s: %s%s, %d new article(s), %d revised, %d mention(s); next at %s",
                    outcome.feed, outcome.status, f" ({outcome.reason}: {outcome.message})" if outcome.reason else "",
                    outcome.new_articles, outcome.revised, outcome.mentions,
                    outcome.next_poll_at.isoformat(timespec="seconds") if outcome.next_poll_at else "?",
                    extra={"event_position": positions.get(outcome.feed)})


def _poll_positions(monitor: Monitor, feed_names: list[str]) -> dict[str, int | None]:
    """The position of each poll's own event: its feed stream's newest (one poll of a feed at a time), read in
    one transaction."""
    try:
        with reading(monitor.log.engine) as conn:
            return {name: queries.stream_head(conn, feed_stream(name)) for name in dict.fromkeys(feed_names)}
    except Exception:  # only a log line's field: never fail the poll for it
        return {}


def move_feed_job(scheduler: BaseScheduler, name: str, at: dt.datetime) -> bool:
    """Move the job of feed ``name`` to ``at``; False when there is none."""
    try:
        scheduler.modify_job(job_id(name), next_run_time=at)
    except JobLookupError:
        return False
    return True


def remove_feed_job(scheduler: BaseScheduler, name: str) -> None:
    try:
        scheduler.remove_job(job_id(name))
    except JobLookupError:
        pass


# -- digests ------------------------------------------------------------------------------------------

def sync_digest_job(scheduler: BaseScheduler, monitor: Monitor, daemon: str) -> None:
    """Add, move or remove the scheduled-digest job to match ``[digest] schedule`` (at start and on reload)."""
    from monitor.digest.publish import trigger

    cron = trigger(monitor.config)
    try:
        scheduler.remove_job(DIGEST_JOB)
    except JobLookupError:
        pass
    if cron is not None:
        scheduler.add_job(digest_job, cron, args=[daemon], id=DIGEST_JOB, name="scheduled digest",
                          executor=DIGEST_EXECUTOR, misfire_grace_time=3600)


def resume_deliveries_job(daemon: str) -> None:
    """At start: send what a stop interrupted (monitor.digest.publish.resume_deliveries). Never raises."""
    from monitor.digest.publish import resume_deliveries

    host = DAEMONS.get(daemon)
    if host is None:
        return
    monitor = host.monitor
    try:
        resume_deliveries(monitor.config, monitor.log, clock=monitor.clock)
    except Exception:
        log.exception("interrupted digest deliveries could not be resumed")


def digest_job(daemon: str) -> None:
    """The scheduled job: issue the digest of the slot that just fired, write it, send it. Never raises."""
    from monitor.digest.publish import issue_digest, last_slot, trigger

    host = DAEMONS.get(daemon)
    if host is None or host.monitor.stopping.is_set():
        return
    monitor = host.monitor
    try:
        cron = trigger(monitor.config)
        slot = last_slot(cron, monitor.clock()) if cron else None
        if slot is not None:
            issue_digest(monitor.config, monitor.log, slot, clock=monitor.clock)
    except Exception:  # a storage outage or a bug: logged; the next slot tries again, polling goes on
        log.exception("the scheduled digest could not be issued")
