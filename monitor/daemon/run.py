"""The daemon's scheduler (APScheduler 3.x): it decides *when* a feed is polled, never *what* polling does.

One job per feed, rebuilt from the config at start. A job is the importable function ``poll_feed_job``
called with a feed name (the running ``Monitor`` is registered in this module, so no closure is ever
pickled). The pipeline decides each feed's next poll (monitor.ingest.policy) and records it in the poll's
event; the job then moves itself to that time. The job's own trigger is only a safety net, firing after
the longest wait the policy can choose, should a reschedule ever be lost.

At start each feed resumes the schedule that the feed-state view recorded: a feed polled a minute ago
with a 15-minute interval is not polled again at once because the daemon restarted.

Concurrency: ``max_workers`` polls at once over all feeds; the fetcher limits requests to one host to
``max_per_host`` whatever the number of feeds on it.

SIGINT or SIGTERM stops the scheduler: no new poll starts, polls in flight finish the entry they are on
(each entry is one atomic batch) and record their FeedPolled, for up to ``shutdown_grace``; after that the
daemon exits anyway, and what was not committed is simply not in the log (never half an entry).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from monitor.config import Config, SchedulerSettings
from monitor.daemon.reload import install_sighup, start_reloader
from monitor.pipeline import Monitor
from monitor.views.projections import feed_state
from storage.eventlog import reading

log = logging.getLogger(__name__)

_current: Monitor | None = None
_scheduler: BackgroundScheduler | None = None
_running = 0
_running_lock = threading.Condition()


def job_id(feed_name: str) -> str:
    return f"feed:{feed_name}"


def poll_feed_job(feed_name: str) -> None:
    """The scheduled job: refresh one feed of the running monitor, then move the job to its next poll."""
    global _running
    monitor = _current
    if monitor is None or monitor.stopping.is_set():
        return
    with _running_lock:
        _running += 1
    try:
        next_at = _poll(monitor, feed_name)
    finally:
        with _running_lock:
            _running -= 1
            _running_lock.notify_all()
    scheduler = _scheduler
    if scheduler is not None and not monitor.stopping.is_set():
        try:
            scheduler.modify_job(job_id(feed_name), next_run_time=next_at)
        except JobLookupError:  # the feed was removed meanwhile
            pass


def _poll(monitor: Monitor, feed_name: str) -> dt.datetime:
    try:
        outcome = monitor.refresh_feed(monitor.config.feed(feed_name))
    except Exception:  # a storage outage: logged, and tried again soon; the daemon lives on
        log.exception("poll of %s could not run", feed_name)
        return monitor.clock() + dt.timedelta(seconds=monitor.config.scheduler.min_interval)
    log.info("polled %s: %s%s, %d new article(s), %d revised, %d mention(s); next at %s", feed_name,
             outcome.status, f" ({outcome.reason}: {outcome.message})" if outcome.reason else "",
             outcome.new_articles, outcome.revised, outcome.mentions,
             outcome.next_poll_at.isoformat(timespec="seconds") if outcome.next_poll_at else "?")
    return outcome.next_poll_at or monitor.clock()


def resume_times(monitor: Monitor) -> dict[str, dt.datetime]:
    """When each configured feed is due, from the feed-state view: its recorded next poll, or now for a feed
    never polled (or whose configured URL changed since)."""
    now = monitor.clock()
    with reading(monitor.log.engine) as conn:
        rows = {row.feed: row for row in conn.execute(
            select(feed_state.c.feed, feed_state.c.url, feed_state.c.next_poll_at))}
    due: dict[str, dt.datetime] = {}
    for feed in monitor.config.feeds:
        row = rows.get(feed.name)
        recorded = row.next_poll_at if row is not None and row.url == feed.url else None
        due[feed.name] = max(now, recorded) if recorded else now
    return due


def build_scheduler(monitor: Monitor) -> BackgroundScheduler:
    settings = monitor.config.scheduler
    scheduler = BackgroundScheduler(
        # Digests have a worker of their own: a slow SMTP server never holds up a poll, nor a poll a digest.
        executors={"default": ThreadPoolExecutor(max_workers=settings.max_workers),
                   DIGEST_EXECUTOR: ThreadPoolExecutor(max_workers=1)},
        # A poll that waited for a free worker still runs (no misfire limit), once (coalesced).
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    for name, due in resume_times(monitor).items():
        add_feed_job(scheduler, settings, name, due)
    sync_digest_job(scheduler, monitor)
    return scheduler


def add_feed_job(scheduler: BackgroundScheduler, settings: SchedulerSettings, name: str, due: dt.datetime) -> None:
    """The job of one feed, first run at ``due`` (at start; and for a feed a config reload adds)."""
    safety_net = max(settings.max_interval, settings.max_backoff) * 1.5
    scheduler.add_job(poll_feed_job, "interval", args=[name], id=job_id(name), name=f"poll {name}",
                      seconds=safety_net, next_run_time=due, replace_existing=True)


DIGEST_JOB = "digest"
DIGEST_EXECUTOR = "digest"


def sync_digest_job(scheduler: BackgroundScheduler, monitor: Monitor) -> None:
    """Add, move or remove the scheduled-digest job to match ``[digest] schedule`` (at start and on reload)."""
    from monitor.digest.publish import trigger

    cron = trigger(monitor.config)
    try:
        scheduler.remove_job(DIGEST_JOB)
    except JobLookupError:
        pass
    if cron is not None:
        scheduler.add_job(digest_job, cron, id=DIGEST_JOB, name="scheduled digest", executor=DIGEST_EXECUTOR,
                          misfire_grace_time=3600)


def resume_deliveries_job() -> None:
    """At start: send what a stop interrupted (monitor.digest.publish.resume_deliveries). Never raises."""
    from monitor.digest.publish import resume_deliveries

    monitor = _current
    if monitor is None:
        return
    try:
        resume_deliveries(monitor.config, monitor.log, clock=monitor.clock)
    except Exception:
        log.exception("interrupted digest deliveries could not be resumed")


def digest_job() -> None:
    """The scheduled job: issue the digest of the slot that just fired, write it, send it. Never raises."""
    from monitor.digest.publish import issue_digest, last_slot, trigger

    monitor = _current
    if monitor is None or monitor.stopping.is_set():
        return
    try:
        cron = trigger(monitor.config)
        slot = last_slot(cron, monitor.clock()) if cron else None
        if slot is not None:
            issue_digest(monitor.config, monitor.log, slot, clock=monitor.clock)
    except Exception:  # a storage outage or a bug: logged; the next slot tries again, polling goes on
        log.exception("the scheduled digest could not be issued")


def run_daemon(monitor: Monitor, stop: threading.Event | None = None, *,
               load: Callable[[], Config] | None = None) -> bool:
    """Poll every feed on its schedule until SIGINT/SIGTERM (or ``stop`` is set). Returns False when polls
    were still running when the shutdown grace period ran out (the caller should exit without waiting).
    A changed config file, or SIGHUP, reloads the config with ``load`` (monitor.daemon.reload)."""
    global _current, _scheduler
    stop = stop or threading.Event()
    _current = monitor

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the polls in flight", signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    clean = True
    reloader = None
    try:
        monitor.projections.catch_up()
        _scheduler = scheduler = build_scheduler(monitor)
        reloader = start_reloader(monitor, scheduler, load)
        if threading.current_thread() is threading.main_thread():
            previous[signal.SIGHUP] = install_sighup(reloader)
        scheduler.start()
        if monitor.config.digest.channels:
            scheduler.add_job(resume_deliveries_job, id="digest-resume", executor=DIGEST_EXECUTOR)
        log.info("news-monitor running: %d feed(s), %d topic(s)", len(monitor.config.feeds),
                 len(monitor.config.topics))
        while not stop.wait(0.5):
            pass
    finally:
        monitor.stopping.set()
        if reloader is not None:
            reloader.stop()
        if _scheduler is not None:
            _scheduler.shutdown(wait=False)
        clean = _wait_for_polls(monitor.config.scheduler.shutdown_grace)
        _current = _scheduler = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("news-monitor stopped" if clean else "news-monitor stopped; polls still running after the "
                 "shutdown grace period were abandoned (only whole entries are in the log)")
    return clean


def _wait_for_polls(grace: float) -> bool:
    with _running_lock:
        return _running_lock.wait_for(lambda: _running == 0, timeout=grace)
