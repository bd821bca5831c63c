"""The daemon (APScheduler 3.x): it decides *when* a feed is polled, never *what* polling does.

``Daemon`` is one running daemon: its Monitor, its scheduler, the reloader, the polls in flight and the stop
event. It registers itself in monitor.daemon.jobs.DAEMONS, where its jobs (importable functions, called with
its name) find it. One job per feed, rebuilt from the config at start; the job moves itself to the next poll
the pipeline chose (monitor.daemon.jobs).

At start each feed resumes the schedule that the feed-state view recorded: a feed polled a minute ago
with a 15-minute interval is not polled again at once because the daemon restarted.

Concurrency: ``max_workers`` polls at once over all feeds; the fetcher limits requests to one host to
``max_per_host`` whatever the number of feeds on it.

SIGINT or SIGTERM stops the scheduler: no new poll starts, polls in flight finish the entry they are on
(each entry is one atomic batch) and record their FeedPolled, for up to ``shutdown_grace``; after that the
daemon exits anyway, and what was not committed is simply not in the log (never half an entry). SIGHUP asks
the reloader for a reload (monitor.daemon.reload).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.config import Config
from monitor.daemon import jobs
from monitor.daemon.reload import Reloader, start_reloader
from monitor.pipeline import Monitor
from monitor.views import queries
from storage.engine import reading

log = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], object] | int | None  # what signal.signal takes and returns


def resume_times(monitor: Monitor) -> dict[str, dt.datetime]:
    """When each configured feed is due, from the feed-state view: its recorded next poll, or now for a feed
    never polled (or whose configured URL changed since)."""
    now = monitor.clock()
    with reading(monitor.log.engine) as conn:
        rows = queries.feed_schedules(conn)
    due: dict[str, dt.datetime] = {}
    for feed in monitor.config.feeds:
        row = rows.get(feed.name)
        recorded = row.next_poll_at if row is not None and row.url == feed.url else None
        due[feed.name] = max(now, recorded) if recorded else now
    return due


def build_scheduler(monitor: Monitor, daemon: str = "") -> BackgroundScheduler:
    """The scheduler (not started) with every feed's job, due when ``resume_times`` says, and the digest's.
    Its jobs run for the daemon registered as ``daemon``; with no daemon (a scheduler only to look at), they
    do nothing."""
    settings = monitor.config.scheduler
    scheduler = BackgroundScheduler(
        # Digests have a worker of their own: a slow SMTP server never holds up a poll, nor a poll a digest.
        executors={"default": ThreadPoolExecutor(max_workers=settings.max_workers),
                   jobs.DIGEST_EXECUTOR: ThreadPoolExecutor(max_workers=1)},
        # A poll that waited for a free worker still runs (no misfire limit), once (coalesced).
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    for name, due in resume_times(monitor).items():
        jobs.add_feed_job(scheduler, settings, daemon, name, due)
    jobs.sync_digest_job(scheduler, monitor, daemon)
    return scheduler


class Daemon:
    """One running daemon. Registered in monitor.daemon.jobs.DAEMONS from its creation until ``stop``, so
    its jobs find it; it is what they need of it (monitor.daemon.jobs.Host) and what the reloader changes in
    the schedule (monitor.daemon.reload.Schedule)."""

    def __init__(self, monitor: Monitor, stop: threading.Event | None = None, *,
                 load: Callable[[], Config] | None = None) -> None:
        self.monitor = monitor
        self.stop_event = stop or threading.Event()
        self.load = load
        self.scheduler: BackgroundScheduler | None = None  # built by schedule()
        self.reloader: Reloader | None = None
        self._polls = 0  # polls in flight
        self._polls_done = threading.Condition()
        self._previous: dict[signal.Signals, Handler] = {}  # the signal handlers to restore at stop
        self.name = jobs.DAEMONS.register(self)

    # -- the lifecycle ---------------------------------------------------------------------------------

    def install_signals(self) -> None:
        """SIGINT and SIGTERM set the stop event (main thread only: elsewhere only ``stop_event`` stops)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the polls in flight", signal.Signals(signum).name)
        self.stop_event.set()

    def schedule(self) -> BackgroundScheduler:
        """Catch the views up and build the scheduler (not started yet)."""
        self.monitor.projections.catch_up()
        self.scheduler = build_scheduler(self.monitor, self.name)
        return self.scheduler

    def start(self) -> None:
        """Schedule every feed, start the reloader (and SIGHUP) and the scheduler."""
        monitor = self.monitor
        scheduler = self.schedule()
        reloader = self.reloader = start_reloader(monitor, self, self.load)
        if threading.current_thread() is threading.main_thread():
            self._previous[signal.SIGHUP] = signal.signal(signal.SIGHUP,
                                                          lambda _signum, _frame: reloader.request("sighup"))
        scheduler.start()
        if monitor.config.digest.channels:
            scheduler.add_job(jobs.resume_deliveries_job, args=[self.name], id=jobs.RESUME_JOB,
                              executor=jobs.DIGEST_EXECUTOR)
        log.info("news-monitor running: %d feed(s), %d topic(s)", len(monitor.config.feeds),
                 len(monitor.config.topics))

    def run_until_stopped(self) -> None:
        while not self.stop_event.wait(0.5):
            pass

    def stop(self) -> bool:
        """Stop polling, wait up to ``shutdown_grace`` for the polls in flight, restore the signal handlers.
        Returns False when polls were still running when the grace period ran out."""
        self.monitor.stopping.set()
        if self.reloader is not None:
            self.reloader.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        clean = self.wait_for_polls(self.monitor.config.scheduler.shutdown_grace)
        jobs.DAEMONS.unregister(self.name)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        log.info("news-monitor stopped" if clean else "news-monitor stopped; polls still running after the "
                 "shutdown grace period were abandoned (only whole entries are in the log)")
        return clean

    # -- what the jobs need (monitor.daemon.jobs.Host) ----------------------------------------------------

    @contextmanager
    def polling(self) -> Iterator[None]:
        with self._polls_done:
            self._polls += 1
        try:
            yield
        finally:
            with self._polls_done:
                self._polls -= 1
                self._polls_done.notify_all()

    def wait_for_polls(self, grace: float) -> bool:
        """Whether every poll in flight finished within ``grace`` seconds."""
        with self._polls_done:
            return self._polls_done.wait_for(lambda: self._polls == 0, timeout=grace)

    def move_feed(self, name: str, at: dt.datetime) -> bool:
        return self.scheduler is not None and jobs.move_feed_job(self.scheduler, name, at)

    # -- what the reloader changes (monitor.daemon.reload.Schedule) -------------------------------------

    def add_feed(self, name: str, due: dt.datetime) -> None:
        assert self.scheduler is not None
        jobs.add_feed_job(self.scheduler, self.monitor.config.scheduler, self.name, name, due)

    def remove_feed(self, name: str) -> None:
        assert self.scheduler is not None
        jobs.remove_feed_job(self.scheduler, name)

    def sync_digest(self) -> None:
        assert self.scheduler is not None
        jobs.sync_digest_job(self.scheduler, self.monitor, self.name)


def run_daemon(monitor: Monitor, stop: threading.Event | None = None, *,
               load: Callable[[], Config] | None = None) -> bool:
    """Poll every feed on its schedule until SIGINT/SIGTERM (or ``stop`` is set). Returns False when polls
    were still running when the shutdown grace period ran out (the caller should exit without waiting).
    A changed config file, or SIGHUP, reloads the config with ``load`` (monitor.daemon.reload)."""
    daemon = Daemon(monitor, stop, load=load)
    daemon.install_signals()
    try:
        daemon.start()
        daemon.run_until_stopped()
    finally:
        clean = daemon.stop()
    return clean
