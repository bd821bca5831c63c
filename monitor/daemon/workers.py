"""Workers: any number of processes, on any machines, polling one PostgreSQL database's feeds (procrastinate).

``news-monitor run`` is one process deciding *when* with APScheduler. A worker is one of many: who polls a
feed is procrastinate's job queue, in the same database (its schema comes with our migration 0009). Three
tasks, all importable functions taking plain arguments, as the daemon's jobs are:

- ``dispatch``, a periodic task every second. procrastinate defers a periodic job once per period whatever
  the number of workers, so one worker plans each tick: it gives each stalled job (its worker's heartbeat is
  older than half of ``[scheduler] takeover``) to another worker, then defers one ``poll_feed`` job per feed
  due within ``LOOKAHEAD`` seconds, scheduled at the feed's due time. The due time is the pipeline's policy,
  read from the feed-state view (``next_poll_at`` of the feed's last FeedPolled or FeedFailed), so adaptive
  intervals, backoff and Retry-After work as under ``run``. The feed list is the worker's current config, so
  a hot reload (each worker runs monitor.daemon.reload) reaches the schedule at the next tick.
- ``poll_feed``, one feed: ``queueing_lock`` = the feed (one waiting job per feed) and ``lock`` = the feed
  (one running), and, while it polls, the feed's session lock (storage.queue.PollLocks): a job retried from a
  worker that went quiet but still polls finds that lock held and leaves the feed to it. A job first checks
  that the feed was not polled since it was planned (a tick can plan a feed whose poll is just ending: that
  job then waits on the lock and finds the new ``next_poll_at``), then runs the pipeline's poll
  (monitor.daemon.jobs.poll_one). Each entry is one atomic batch, so a worker killed mid-poll leaves whole
  entries, and the feed's next poll does the rest.
- ``issue_digest``: the tick defers it with procrastinate's periodic-defer guard keyed by the slot's time,
  so each ``[digest] schedule`` slot is issued once across workers (and DigestIssued's key is the slot's).

Under systemd (``Type=notify``, monitor.systemd) a worker sends ``READY=1`` once procrastinate has registered
it, ``WATCHDOG=1`` while its event loop runs and no poll has run longer than the watchdog's interval (a hung
poll stops the pings, and systemd restarts the worker: its jobs are taken over), ``STATUS=`` (its id, polls
run and in flight) and ``STOPPING=1`` when it drains.

A worker killed (SIGKILL, a lost machine) stops heartbeating. Its jobs are retried by the next tick after its
heartbeat is ``takeover / 2`` old (heartbeats every ``takeover / 10``), so its feed is polled by another
worker within ``takeover``; each takeover is recorded (``queue_takeovers``, ``workers status``). SIGTERM
drains: no new job starts, the polls in flight finish the entry they are on, for up to ``shutdown_grace``.

Workers hold the database's coordination lock shared and ``run`` holds it exclusive (storage.queue), so a
``run`` daemon and workers never poll one database together, nor two ``run`` daemons.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import structlog

from monitor.config import Config
from monitor.daemon import jobs
from monitor.daemon.dispatch import DueTable
from monitor.daemon.reload import start_reloader
from monitor.daemon.run import STALL_AFTER, STATUS_EVERY, resume_times
from monitor.errors import MonitorError
from monitor.events import catalogue as ev
from monitor.events.keys import feed_stream
from monitor.pipeline import Monitor
from monitor.systemd import Notifier
from monitor.views import queries
from storage.engine import reading
from storage.queue import (
    PollLocks,
    conninfo,
    coordination,
    pending_locks,
    record_takeover,
    record_worker,
)

log = logging.getLogger(__name__)

POLL_TASK = "poll_feed"
DISPATCH_TASK = "dispatch"
DIGEST_TASK = "issue_digest"
TICK_CRON = "* * * * * *"  # every second: croniter reads a sixth field as the second
LOOKAHEAD = 2.0  # seconds: a tick plans the feeds due before the tick after next, each at its own time
FETCH_EVERY = 0.1  # seconds between a worker's looks for a job come due (a new job wakes it at once)
DIGEST_GRACE = 3600.0  # a slot missed by longer (every worker down) is not issued late, as under run
REFUSE_RUN = ("news-monitor workers are polling this database; stop them (or use them instead of run) before "
              "starting news-monitor run")
REFUSE_WORKER = "a news-monitor run daemon polls this database; stop it before starting workers"


class WorkersNeedPostgres(MonitorError):
    """``news-monitor worker`` was started on SQLite: workers share a PostgreSQL database."""


def require_postgres(url: str) -> None:
    from sqlalchemy.engine import make_url

    if make_url(url).get_backend_name() != "postgresql":
        raise WorkersNeedPostgres("news-monitor worker needs PostgreSQL ([storage] url is SQLite); use news-monitor "
                                  "run, or point every worker at one PostgreSQL database")


def feed_lock(name: str) -> str:
    return f"feed:{name}"


def heartbeat_every(takeover: float) -> float:
    return max(0.5, takeover / 10)


def stalled_after(takeover: float) -> float:
    """A worker whose heartbeat is this old is dead: with heartbeats every ``takeover / 10`` and a tick a
    second, its feeds are polled again well within ``takeover``."""
    return max(2 * heartbeat_every(takeover), takeover / 2)


class Fleet:
    """This process's part of the fleet: its Monitor, its procrastinate app, and what its tasks do. The tasks
    (module functions) find it as ``FLEET``; the reloader changes its schedule (monitor.daemon.reload.Schedule)."""

    def __init__(self, monitor: Monitor, app: Any) -> None:
        self.monitor = monitor
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = monitor.clock()
        self.polls = 0  # the polls this worker ran
        self.notifier = Notifier()
        self.worker_id: int | None = None  # procrastinate's id, once it has registered this worker
        self._running: dict[int, float] = {}  # polls in flight: thread id -> when it began (monotonic)
        self._running_lock = threading.Lock()
        self.poll_locks: PollLocks | None = None  # opened by _serve, sized to the worker's concurrency

    @property
    def takeover(self) -> float:
        return self.monitor.config.scheduler.takeover

    # -- the tick (dispatch) ---------------------------------------------------------------------------

    async def tick(self) -> None:
        if self.monitor.stopping.is_set():
            return
        await self.take_over()
        await asyncio.to_thread(self.monitor.projections.catch_up)
        due = await asyncio.to_thread(self.plan)
        if due:
            await self.defer_polls(due)
        await self.defer_digest()

    def plan(self) -> list[tuple[str, dt.datetime]]:
        """The feeds due before ``LOOKAHEAD`` that have no job yet, with their due times. The queue is read
        before the view: a job that ends in between has committed its poll (and the view) first."""
        pending = pending_locks(self.monitor.log.engine, POLL_TASK)
        horizon = self.monitor.clock() + dt.timedelta(seconds=LOOKAHEAD)
        # The same due table as run's dispatcher, read afresh each tick: any worker may have polled any feed.
        return DueTable(resume_times(self.monitor)).take(horizon, skip=lambda name: feed_lock(name) in pending)

    async def defer_polls(self, due: list[tuple[str, dt.datetime]]) -> None:
        """Defer the jobs in one statement (a first cycle over thousands of feeds is one round trip); should a
        job of one of them have been deferred meanwhile (a reload), one by one."""
        from procrastinate.exceptions import AlreadyEnqueued

        task = self.app.tasks[POLL_TASK]
        batch = [task.configure(lock=feed_lock(name), queueing_lock=feed_lock(name), schedule_at=at)
                 .make_new_job(feed=name, due=at.isoformat(), force=False) for name, at in due]
        try:
            await self.app.job_manager.batch_defer_jobs_async(batch)
        except AlreadyEnqueued:
            for name, at in due:
                await self.defer_poll(name, at)

    async def defer_poll(self, name: str, at: dt.datetime, *, force: bool = False) -> bool:
        from procrastinate.exceptions import AlreadyEnqueued

        key = feed_lock(name)
        try:
            await self.app.tasks[POLL_TASK].configure(lock=key, queueing_lock=key, schedule_at=at).defer_async(
                feed=name, due=at.isoformat(), force=force)
        except AlreadyEnqueued:  # its job is waiting already
            return False
        return True

    async def take_over(self) -> int:
        """Give each job of a dead worker to the next free one; return how many."""
        from procrastinate import jobs as pjobs

        manager = self.app.job_manager
        taken = 0
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after(self.takeover)):
            try:
                await manager.retry_job(job)
            except Exception as exc:  # its key has a waiting job already: that one polls the feed
                log.info("stalled job %s (%s) not retried (%s); closing it", job.id, job.lock, type(exc).__name__)
                await manager.finish_job(job, status=pjobs.Status.FAILED, delete_job=True)
                continue
            taken += 1
            await asyncio.to_thread(record_takeover, self.monitor.log.engine, job.id, job.lock, job.worker_id)
            log.warning("took over %s from worker %s, whose heartbeat stopped", job.lock or job.task_name,
                        job.worker_id)
        return taken

    async def defer_digest(self) -> None:
        from monitor.digest.publish import last_slot, trigger

        cron = trigger(self.monitor.config)
        slot = last_slot(cron, self.monitor.clock()) if cron else None
        if slot is None or (self.monitor.clock() - slot).total_seconds() > DIGEST_GRACE or slot < self.started:
            return
        stamp = int(slot.timestamp())
        deferrer = self.app.tasks[DIGEST_TASK].configure(task_kwargs={"timestamp": stamp}, lock="digest")
        await self.app.job_manager.defer_periodic_job(deferrer.job, periodic_id="digest", defer_timestamp=stamp)

    # -- a job (poll_feed) -----------------------------------------------------------------------------

    def poll(self, name: str, due: str, force: bool) -> None:
        monitor = self.monitor
        if monitor.stopping.is_set():
            return  # draining: the feed is still due, and the next tick plans it for another worker
        try:
            monitor.config.feed(name)
        except Exception:  # removed from the config since it was planned
            return
        with self._poll_lock(name) as ours:
            if not ours:
                log.info("%s: another worker's poll of it is still running; leaving the feed to it", name)
                return
            # Under the feed's lock: a poll that ended just now has recorded itself before letting go of it.
            if self._polled_since(name, dt.datetime.fromisoformat(due), force):
                return
            self._feed_state_caught_up(name)
            self.polls += 1
            thread = threading.get_ident()
            with self._running_lock:
                self._running[thread] = time.monotonic()
            try:
                with structlog.contextvars.bound_contextvars(feed=name):
                    # No catch-up of the views around each poll (two thirds of a poll's cost): the tick catches
                    # them up every second, and a poll's identity checks the log's keys for what the views lack.
                    jobs.poll_one(monitor, name, catch_up=False)
            finally:
                with self._running_lock:
                    self._running.pop(thread, None)

    def _feed_state_caught_up(self, name: str) -> None:
        """Bring the feed-state view up to the feed's last poll when it lags (the tick catches the views up, and
        a first cycle's thousands of tags can keep it seconds behind): the poll reads its validators there, and
        without them a 304 becomes a full GET. Only that view, and only when it lacks the poll."""
        engine = self.monitor.log.engine
        with reading(engine) as conn:
            head = queries.stream_head(conn, feed_stream(name))
            checkpoint = dict((n, p) for n, p, _v in queries.view_checkpoints(conn, ["feed_state"]))
        if head is not None and checkpoint.get("feed_state", 0) < head:
            self.monitor.projections.catch_up(["feed_state"])

    def _polled_since(self, name: str, planned: dt.datetime, force: bool) -> bool:
        """Whether the feed was polled since its job was planned (a forced job: since the reload planned it)."""
        with reading(self.monitor.log.engine) as conn:  # the log, not the view: the last poll may be unprojected
            last = queries.last_of(conn, feed_stream(name), [ev.FEED_POLLED, ev.FEED_FAILED])
        if last is None:
            return False
        polled, data = last
        next_at = dt.datetime.fromisoformat(data["next_poll_at"]) if data.get("next_poll_at") else None
        if force:
            return polled >= planned  # another worker applied the same reload already
        return next_at is not None and next_at > planned

    def _poll_lock(self, name: str) -> AbstractContextManager[bool]:
        return self.poll_locks.hold(feed_lock(name)) if self.poll_locks is not None else nullcontext(True)

    # -- the service manager (monitor.systemd) ---------------------------------------------------------

    def in_flight(self) -> tuple[int, float]:
        """The polls running now, and how long the oldest has run (seconds)."""
        now = time.monotonic()
        with self._running_lock:
            return len(self._running), now - min(self._running.values(), default=now)

    def status(self) -> str:
        running, _ = self.in_flight()
        state = "draining" if self.monitor.stopping.is_set() else "polling"
        return (f"worker {self.worker_id}: {state} {len(self.monitor.config.feeds)} feeds, {self.polls} polls run, "
                f"{running} in flight")

    def alive(self) -> bool:
        """Whether this worker makes progress: it is registered and no poll has run longer than the watchdog's
        interval (the loop itself runs, or this is not called)."""
        interval = self.notifier.watchdog_interval or STALL_AFTER
        return self.worker_id is not None and self.in_flight()[1] <= interval

    async def keep_notified(self) -> None:
        """WATCHDOG=1 every half interval while ``alive``, and STATUS= every ``STATUS_EVERY`` seconds."""
        interval = self.notifier.watchdog_interval
        tick = min(0.5, interval / 4) if interval else 0.5
        next_ping = next_status = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if interval and now >= next_ping and self.alive():
                self.notifier.watchdog()
                next_ping = now + interval / 2
            if now >= next_status:
                self.notifier.status(self.status())
                next_status = now + STATUS_EVERY

    def issue(self, timestamp: int) -> None:
        from monitor.digest.publish import issue_digest

        slot = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        try:
            issue_digest(self.monitor.config, self.monitor.log, slot, clock=self.monitor.clock)
        except Exception:
            log.exception("the scheduled digest could not be issued")

    # -- what the reloader changes (monitor.daemon.reload.Schedule) -------------------------------------

    def _soon(self, name: str, at: dt.datetime) -> None:
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.defer_poll(name, at, force=True), self.loop)

    def add_feed(self, name: str, due: dt.datetime) -> None:
        """Nothing to do: a feed never polled is due now, and the next tick plans it."""

    def remove_feed(self, name: str) -> None:
        """Nothing to do: the next tick no longer plans it, and a job already waiting finds it gone."""

    def move_feed(self, name: str, at: dt.datetime) -> bool:
        self._soon(name, at)
        return True

    def sync_digest(self) -> None:
        """Nothing to do: each tick reads ``[digest] schedule`` from the config in force."""


FLEET: Fleet | None = None


async def dispatch(timestamp: int) -> None:
    if FLEET is not None:
        await FLEET.tick()


def poll_feed(feed: str, due: str, force: bool = False) -> None:
    if FLEET is not None:
        FLEET.poll(feed, due, force)


def issue_scheduled_digest(timestamp: int) -> None:
    if FLEET is not None:
        FLEET.issue(timestamp)


def _connector(url: str) -> Any:
    """procrastinate's psycopg connector, counting its queries and their time: a worker logs the queue's share
    of its work when it stops (benchmarks/scaleout.py reads it)."""
    import procrastinate

    class Counting(procrastinate.PsycopgConnector):  # type: ignore[misc]
        queries = 0
        seconds = 0.0

        async def _timed(self, call: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.queries += 1
                self.seconds += time.perf_counter() - started

        async def execute_query_async(self, query: Any, **arguments: Any) -> Any:
            return await self._timed(super().execute_query_async, query, **arguments)

        async def execute_query_one_async(self, query: Any, **arguments: Any) -> Any:
            return await self._timed(super().execute_query_one_async, query, **arguments)

        async def execute_query_all_async(self, query: Any, **arguments: Any) -> Any:
            return await self._timed(super().execute_query_all_async, query, **arguments)

    return Counting(conninfo=conninfo(url))


def build_app(url: str) -> Any:
    """The procrastinate app on the log's PostgreSQL database, with our three tasks."""
    import procrastinate

    app = procrastinate.App(connector=_connector(url), periodic_defaults={"max_delay": 5})
    app.task(name=POLL_TASK)(poll_feed)
    app.task(name=DIGEST_TASK)(issue_scheduled_digest)
    app.periodic(cron=TICK_CRON, periodic_id="tick")(app.task(name=DISPATCH_TASK, queueing_lock="dispatch")(dispatch))
    return app


def _worker_class() -> Any:
    from procrastinate.worker import Worker

    class DrainingWorker(Worker):  # type: ignore[misc]
        """procrastinate's worker; its stop also tells the polls in flight to end after their entry."""

        monitor: Monitor | None = None

        fleet: Fleet | None = None

        def stop(self) -> None:
            if self.monitor is not None and not self.monitor.stopping.is_set():
                log.info("stopping after the polls in flight")
                self.monitor.stopping.set()
                if self.fleet is not None:
                    self.fleet.notifier.stopping(self.fleet.status())
            super().stop()

    return DrainingWorker


async def _serve(fleet: Fleet, concurrency: int) -> None:
    settings = fleet.monitor.config.scheduler
    fleet.loop = asyncio.get_running_loop()
    locks = fleet.poll_locks = PollLocks(fleet.monitor.log.engine, concurrency, dead_after=settings.takeover / 2)
    async with fleet.app.open_async():
        worker = _worker_class()(
            fleet.app, concurrency=concurrency, name="news-monitor", fetch_job_polling_interval=FETCH_EVERY,
            update_heartbeat_interval=heartbeat_every(settings.takeover), stalled_worker_timeout=settings.takeover,
            shutdown_graceful_timeout=settings.shutdown_grace, delete_jobs="successful")
        worker.monitor = fleet.monitor
        worker.fleet = fleet
        named = asyncio.create_task(_name_worker(fleet, worker, concurrency))
        notified = asyncio.create_task(fleet.keep_notified())
        try:
            await worker.run()
        finally:
            named.cancel()
            notified.cancel()
            fleet.notifier.close()
            locks.close()
            connector = fleet.app.connector
            # procrastinate's queries and the feeds' lock statements: the queue's share of the work
            log.info("queue: %d queries in %.3fs over %d poll(s)", connector.queries + locks.queries,
                     connector.seconds + locks.seconds, fleet.polls)


async def _name_worker(fleet: Fleet, worker: Any, concurrency: int) -> None:
    while worker.worker_id is None:
        await asyncio.sleep(0.05)
    await asyncio.to_thread(record_worker, fleet.monitor.log.engine, worker.worker_id, concurrency)
    fleet.worker_id = worker.worker_id
    log.info("worker %s polling %d feed(s) with %d at a time", worker.worker_id, len(fleet.monitor.config.feeds),
             concurrency)
    fleet.notifier.ready(fleet.status())


def run_worker(monitor: Monitor, *, concurrency: int, load: Callable[[], Config] | None = None) -> None:
    """Run one worker until SIGINT/SIGTERM: poll the feeds the queue gives it, plan ticks when it is their
    turn, follow the config file. Refuses SQLite (``WorkersNeedPostgres``) and a database a ``run`` holds."""
    global FLEET
    require_postgres(monitor.log.url)
    with coordination(monitor.log.engine, shared=True, refusal=REFUSE_WORKER):
        monitor.projections.catch_up()
        fleet = FLEET = Fleet(monitor, build_app(monitor.log.engine.url.render_as_string(hide_password=False)))
        reloader = start_reloader(monitor, fleet, load)
        try:
            asyncio.run(_serve(fleet, concurrency))
        finally:
            reloader.stop()
            FLEET = None


__all__ = ["REFUSE_RUN", "REFUSE_WORKER", "Fleet", "WorkersNeedPostgres", "run_worker"]
