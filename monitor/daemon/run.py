"""The daemon (APScheduler 3.x): it decides *when* a feed is polled, never *what* polling does.

``Daemon`` is one running daemon: its Monitor, its dispatcher, its scheduler, the reloader, the polls in flight
and the stop event. It registers itself in monitor.daemon.jobs.DAEMONS, where its jobs (importable functions,
called with its name) find it. Feeds are not APScheduler jobs: one dispatcher (monitor.daemon.dispatch) holds
every feed's due time, built from the config at start, and polls each when due; each poll puts its feed back at
the next poll the pipeline chose (monitor.daemon.jobs). APScheduler runs the digest's jobs only.

At start each feed resumes the schedule that the feed-state view recorded: a feed polled a minute ago
with a 15-minute interval is not polled again at once because the daemon restarted.

Concurrency: ``max_workers`` polls at once over all feeds; the fetcher limits requests to one host to
``max_per_host`` whatever the number of feeds on it.

Under systemd (``Type=notify``, monitor.systemd) the daemon sends ``READY=1`` once the scheduler runs,
``STATUS=`` with a one-line summary, ``WATCHDOG=1`` from its main loop only while polling makes progress
(``alive``: no poll stuck, and the dispatcher's earliest due feed not overdue unless polls keep ending), and
``STOPPING=1`` when it stops. It records ``DaemonStarted`` and ``DaemonStopped`` in the log: with the schedule
each poll records, that is its heartbeat (monitor.views.health).

SIGINT or SIGTERM stops the dispatcher and the scheduler: no new poll starts, polls in flight finish the entry
they are on (each entry is one atomic batch) and record their FeedPolled, for up to ``shutdown_grace``; after
that the daemon exits anyway, and what was not committed is simply not in the log (never half an entry). SIGHUP
asks the reloader for a reload (monitor.daemon.reload).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor import __version__
from monitor.config import Config
from monitor.config.diff import config_version
from monitor.daemon import jobs
from monitor.daemon.dispatch import Dispatcher
from monitor.daemon.reload import Reloader, start_reloader
from monitor.events import catalogue as ev
from monitor.pipeline import Monitor
from monitor.systemd import Notifier
from monitor.views import queries
from storage.engine import reading
from storage.eventlog import NewEvent

log = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], object] | int | None  # what signal.signal takes and returns

STALL_AFTER = 600.0  # seconds without progress that make polling "stalled" when systemd sets no watchdog
STATUS_EVERY = 30.0  # seconds between STATUS= summaries (each reads the views)


def status_line(monitor: Monitor) -> str:
    """``polling 6 feeds, 2 failing, 14 unreviewed``: what ``systemctl status`` shows."""
    with reading(monitor.log.engine) as conn:
        states = queries.feed_states(conn)
        unreviewed = queries.unreviewed_count(conn, queries.unreviewed_position(conn))
    configured = {feed.name for feed in monitor.config.feeds}
    failing = sum(1 for name, row in states.items() if name in configured and row.get("status") in ("failing", "gone"))
    return f"polling {len(configured)} feeds, {failing} failing, {unreviewed} unreviewed"


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


def build_dispatcher(monitor: Monitor, daemon: str = "") -> Dispatcher:
    """The dispatcher (not started) with every feed due when ``resume_times`` says, polling for the daemon
    registered as ``daemon`` ``[scheduler] max_workers`` at a time."""
    return Dispatcher(monitor, daemon, resume_times(monitor), monitor.config.scheduler.max_workers)


def build_scheduler(monitor: Monitor, daemon: str = "") -> BackgroundScheduler:
    """The scheduler (not started) with the digest's job (the feeds are the dispatcher's, ``build_dispatcher``).
    Its jobs run for the daemon registered as ``daemon``; with no daemon (a scheduler only to look at), they
    do nothing."""
    scheduler = BackgroundScheduler(
        # Digests have a worker of their own: a slow SMTP server never holds up a poll, nor a poll a digest.
        executors={"default": ThreadPoolExecutor(max_workers=1),
                   jobs.DIGEST_EXECUTOR: ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
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
        self.scheduler: BackgroundScheduler | None = None  # built by schedule(): the digest's jobs
        self.dispatcher: Dispatcher | None = None  # built by schedule(): the feeds
        self.reloader: Reloader | None = None
        self._polls = 0  # polls in flight
        self._polls_done = threading.Condition()
        self._started: dict[int, float] = {}  # polls in flight: thread id -> when it began (monotonic)
        self._progress = time.monotonic()  # when a poll last ended, or the schedule was last seen on time
        self.notifier = Notifier()
        self.stall_after = self.notifier.watchdog_interval or STALL_AFTER
        self.instance = uuid.uuid4().hex
        self.stop_reason = "stopped"
        self._previous: dict[signal.Signals, Handler] = {}  # the signal handlers to restore at stop
        self.name = jobs.DAEMONS.register(self)

    # -- the lifecycle ---------------------------------------------------------------------------------

    def install_signals(self) -> None:
        """SIGINT and SIGTERM set the stop event (main thread only: elsewhere only ``stop_event`` stops)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_reason = signal.Signals(signum).name
        log.info("received %s: stopping after the polls in flight", self.stop_reason)
        self.stop_event.set()

    def schedule(self) -> BackgroundScheduler:
        """Catch the views up and build the dispatcher and the scheduler (not started yet); the scheduler."""
        self.monitor.projections.catch_up()
        self.dispatcher = build_dispatcher(self.monitor, self.name)
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
        position = self._record(ev.daemon_started(self.instance, monitor.clock(), {
            **self._identity(), "reason": "start", "feeds": len(monitor.config.feeds)}))
        scheduler.start()
        assert self.dispatcher is not None
        self.dispatcher.start()
        if monitor.config.digest.channels:
            scheduler.add_job(jobs.resume_deliveries_job, args=[self.name], id=jobs.RESUME_JOB,
                              executor=jobs.DIGEST_EXECUTOR)
        log.info("news-monitor running: %d feed(s), %d topic(s)", len(monitor.config.feeds),
                 len(monitor.config.topics), extra={"event_position": position})
        self.notifier.ready(self._status())

    def run_until_stopped(self) -> None:
        """The main loop: it pings the watchdog only while ``alive`` (so a stalled poll or scheduler stops the
        pings and systemd restarts us), and refreshes STATUS= every STATUS_EVERY seconds."""
        interval = self.notifier.watchdog_interval
        tick = min(0.5, interval / 4) if interval else 0.5
        next_ping = next_status = time.monotonic()
        while not self.stop_event.wait(tick):
            now = time.monotonic()
            if interval and now >= next_ping and self.alive():
                self.notifier.watchdog()
                next_ping = now + interval / 2
            if self.notifier.enabled and now >= next_status:
                self.notifier.status(self._status())
                next_status = now + STATUS_EVERY

    def alive(self) -> bool:
        """Whether polling makes progress: the scheduler and the dispatcher run, no poll has run for
        ``stall_after``, and either no feed is overdue or a poll ended within ``stall_after`` (a backlog drains;
        a hang does not)."""
        scheduler, dispatcher = self.scheduler, self.dispatcher
        if scheduler is None or not scheduler.running or dispatcher is None or not dispatcher.running:
            return False
        now = time.monotonic()
        with self._polls_done:
            oldest = min(self._started.values(), default=now)
        if now - oldest > self.stall_after:
            return False
        due = self.monitor.clock() - dt.timedelta(seconds=min(30.0, self.stall_after / 4))
        earliest = dispatcher.earliest()  # a feed being polled is not in the table: never overdue
        on_time = earliest is None or earliest > due
        if on_time:
            self._progress = now
        return now - self._progress <= self.stall_after

    def _status(self) -> str:
        try:
            return status_line(self.monitor)
        except Exception as exc:  # the log unreadable: say so, the loop goes on
            return f"polling {len(self.monitor.config.feeds)} feeds; status unavailable: {type(exc).__name__}"

    def _identity(self) -> dict[str, object]:
        version = self.reloader.version if self.reloader is not None else config_version(self.monitor.config)
        return {"version": __version__, "config_version": version, "host": socket.gethostname(),
                "pid": os.getpid()}

    def _record(self, event: NewEvent) -> int | None:
        """Append a lifecycle event; its position (for the log line), or None."""
        self.monitor.log.append([event])
        with reading(self.monitor.log.engine) as conn:
            return queries.stream_head(conn, event.stream)

    def stop(self) -> bool:
        """Stop polling, wait up to ``shutdown_grace`` for the polls in flight, restore the signal handlers.
        Returns False when polls were still running when the grace period ran out."""
        self.notifier.stopping()
        self.monitor.stopping.set()
        if self.reloader is not None:
            self.reloader.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        clean = self.wait_for_polls(self.monitor.config.scheduler.shutdown_grace)
        if self.dispatcher is not None:
            self.dispatcher.flush()  # the finished polls' events held for a group
        if clean and self.dispatcher is not None:
            try:  # the last polls into the views (the dispatcher catches up before it submits, not after)
                self.monitor.projections.catch_up()
            except Exception as exc:
                log.warning("could not catch the views up: %s", exc)
        jobs.DAEMONS.unregister(self.name)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        position = None
        try:
            position = self._record(ev.daemon_stopped(self.instance, self.monitor.clock(), {
                **self._identity(), "reason": self.stop_reason, "clean": clean}))
        except Exception as exc:  # the log gone too: health will see the daemon overdue instead
            log.warning("could not record DaemonStopped: %s", exc)
        self.notifier.close()
        log.info("news-monitor stopped" if clean else "news-monitor stopped; polls still running after the "
                 "shutdown grace period were abandoned (only whole entries are in the log)",
                 extra={"event_position": position})
        return clean

    # -- what the jobs need (monitor.daemon.jobs.Host) ----------------------------------------------------

    @contextmanager
    def polling(self) -> Iterator[None]:
        thread = threading.get_ident()
        with self._polls_done:
            self._polls += 1
            self._started[thread] = time.monotonic()
        try:
            yield
        finally:
            with self._polls_done:
                self._polls -= 1
                self._started.pop(thread, None)
                self._polls_done.notify_all()

    def polled(self, name: str) -> None:
        self._progress = time.monotonic()

    def wait_for_polls(self, grace: float) -> bool:
        """Whether every poll in flight finished within ``grace`` seconds."""
        with self._polls_done:
            return self._polls_done.wait_for(lambda: self._polls == 0, timeout=grace)

    def move_feed(self, name: str, at: dt.datetime) -> bool:
        return self.dispatcher is not None and self.dispatcher.move(name, at)

    # -- what the reloader changes (monitor.daemon.reload.Schedule) -------------------------------------

    def add_feed(self, name: str, due: dt.datetime) -> None:
        assert self.dispatcher is not None
        self.dispatcher.add(name, due)

    def remove_feed(self, name: str) -> None:
        assert self.dispatcher is not None
        self.dispatcher.remove(name)

    def sync_digest(self) -> None:
        assert self.scheduler is not None
        jobs.sync_digest_job(self.scheduler, self.monitor, self.name)


def run_daemon(monitor: Monitor, stop: threading.Event | None = None, *,
               load: Callable[[], Config] | None = None) -> bool:
    """Poll every feed on its schedule until SIGINT/SIGTERM (or ``stop`` is set). Returns False when polls
    were still running when the shutdown grace period ran out (the caller should exit without waiting).
    A changed config file, or SIGHUP, reloads the config with ``load`` (monitor.daemon.reload)."""
    if monitor.log.dialect == "postgresql":
        with coordinating(monitor):
            return _run(monitor, stop, load)
    return _run(monitor, stop, load)


REFUSE_SECOND_RUN = "another news-monitor run daemon polls this database; one run per database (or use workers)"


@contextmanager
def coordinating(monitor: Monitor) -> Iterator[None]:
    """On PostgreSQL, hold the database's coordination lock exclusive while the daemon runs: a second ``run``,
    or ``run`` beside workers (who hold it shared, monitor.daemon.workers), refuses in one line instead of
    polling every feed twice. SQLite never gets here: it is one process's file."""
    from storage.queue import CoordinationRefused, coordination, live_workers

    try:
        with coordination(monitor.log.engine, shared=False, refusal=REFUSE_SECOND_RUN):
            yield
    except CoordinationRefused as refused:
        if live_workers(monitor.log.engine, monitor.config.scheduler.takeover):
            from monitor.daemon.workers import REFUSE_RUN

            raise CoordinationRefused(REFUSE_RUN) from refused
        raise


def _run(monitor: Monitor, stop: threading.Event | None, load: Callable[[], Config] | None) -> bool:
    daemon = Daemon(monitor, stop, load=load)
    daemon.install_signals()
    try:
        daemon.start()
        daemon.run_until_stopped()
    finally:
        clean = daemon.stop()
    return clean
