"""The dispatcher: one thread that decides which feed ``run`` polls next, for any number of feeds (#19).

``DueTable`` is the schedule in memory: each feed's due time, and a heap of ``(due, name)`` to find the
earliest ones. It is seeded from the feed-state view (monitor.daemon.run.resume_times) and updated from each
poll's ``next_poll_at`` (monitor.ingest.policy), so adaptive intervals, backoff and Retry-After decide it as
they did when each feed had an APScheduler job of its own. A move pushes a new heap entry; the old one is
skipped when it comes up (the table's dict says which entry is current), and the heap is rebuilt when stale
entries outnumber live ones.

``Dispatcher`` runs one thread. It sleeps until the earliest due time (at most ``TICK``: a safety net against
a clock that jumps), woken early by a poll that ends, a reload or a stop; then it takes the feeds due now, at
most as many as the pool has free threads, and submits them to a thread pool of ``[scheduler] max_workers``.
A feed taken is out of the table until its poll ends, so one feed is never polled twice at once; its poll then
puts it back at the time the pipeline chose. The pool never queues: a feed that waits, waits in the table, in
due order, where a reload still reaches it. Requests to one host stay limited by the fetcher
(``max_per_host``, monitor.ingest.fetch.HostSlots).

The views are caught up by the dispatcher, not around each poll (that was two thirds of a cheap poll's cost,
and at 10,000 feeds a catch-up per poll held up every submission): every ``CATCH_UP_EVERY`` seconds while polls
end, and before it submits a feed whose previous poll ended since the last catch-up. So a poll always reads a
view that holds the poll before it (ETag, interval, failures), and the views lag the log by about a second.

The polls' own events (``FeedPolled``, ``FeedFailed``, ``FeedMoved``, and the entries of a feed without page
fetches) are committed in groups (``monitor.polls.GroupCommit``), as a cycle of ``poll`` commits them: a
transaction per poll was half of a 304's cost in the daemon (its idempotency reads, its write lock, its commit).
A group is written when it holds 500 events, and whenever the views are caught up (first), so what a poll
reads still holds the poll before it; each poll's line is logged once its group is written. A crash loses at
most the polls of the last half second, which their feeds' next polls do again (monitor.polls).

What a poll reads of its feed's state (URL, validators, interval, failures) the dispatcher keeps too: read for
every feed once when it starts, and again, in one read, for the feeds polled since, each time it catches the
views up, before any of them is submitted again (a read per poll was a quarter of a 304's remaining cost). A
feed it has no row for (added by a reload) reads the view itself.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from monitor.daemon import jobs
from monitor.pipeline import Monitor
from monitor.polls import GroupCommit

log = logging.getLogger(__name__)

TICK = 1.0  # seconds: the longest the dispatcher sleeps without looking at the table
CATCH_UP_EVERY = 0.5  # seconds: how far the views may lag the polls that ended


class DueTable:
    """When each feed is due, and the earliest first. Not thread-safe: its owner locks."""

    def __init__(self, due: Mapping[str, dt.datetime] | None = None) -> None:
        self._due: dict[str, dt.datetime] = dict(due or {})
        self._heap = [(at, name) for name, at in self._due.items()]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, name: object) -> bool:
        return name in self._due

    def get(self, name: str) -> dt.datetime | None:
        return self._due.get(name)

    def times(self) -> dict[str, dt.datetime]:
        """Every feed's due time (a copy)."""
        return dict(self._due)

    def set(self, name: str, at: dt.datetime) -> None:
        self._due[name] = at
        heapq.heappush(self._heap, (at, name))
        if len(self._heap) > 2 * len(self._due) + 64:  # mostly stale entries: rebuild from the live ones
            self._heap = [(when, feed) for feed, when in self._due.items()]
            heapq.heapify(self._heap)

    def remove(self, name: str) -> None:
        self._due.pop(name, None)

    def _clean(self) -> None:
        heap = self._heap
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)

    def earliest(self) -> dt.datetime | None:
        self._clean()
        return self._heap[0][0] if self._heap else None

    def take(self, horizon: dt.datetime, limit: int | None = None,
             skip: Callable[[str], bool] | None = None) -> list[tuple[str, dt.datetime]]:
        """Remove and return the feeds due at or before ``horizon``, earliest first, at most ``limit`` of them;
        a feed for which ``skip`` says true stays in the table."""
        taken: list[tuple[str, dt.datetime]] = []
        kept: list[tuple[dt.datetime, str]] = []
        heap = self._heap
        while heap and (limit is None or len(taken) < limit):
            self._clean()
            if not heap or heap[0][0] > horizon:
                break
            at, name = heapq.heappop(heap)
            if skip is not None and skip(name):
                kept.append((at, name))
                continue
            del self._due[name]
            taken.append((name, at))
        for entry in kept:
            heapq.heappush(heap, entry)
        return taken


class Dispatcher:
    """The feeds' schedule of one daemon (registered as ``daemon`` in monitor.daemon.jobs.DAEMONS) and the
    thread that polls them when due, ``workers`` at a time."""

    def __init__(self, monitor: Monitor, daemon: str, due: Mapping[str, dt.datetime], workers: int) -> None:
        self.monitor = monitor
        self.daemon = daemon
        self.workers = max(1, workers)
        self.table = DueTable(due)
        self._running: dict[str, dt.datetime | None] = {}  # polls in flight: feed -> earliest move asked meanwhile
        self._dropped: set[str] = set()  # removed from the config while in flight: not put back
        self._fresh: set[str] = set()  # feeds whose poll ended since the views last caught up
        self._caught_up = time.monotonic()  # when the views last caught up
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.sink = GroupCommit(monitor.log, on_written=lambda outcomes: jobs.log_polls(monitor, outcomes))
        # Each feed's feed-state row as of its last poll (None: never polled); refreshed after each catch-up.
        self.rows: dict[str, dict[str, Any] | None] = {}

    # -- the schedule (what the daemon and the reloader change) ----------------------------------------

    def due_times(self) -> dict[str, dt.datetime]:
        """Each scheduled feed's due time; a feed being polled is not there until its poll ends."""
        with self._cond:
            return self.table.times()

    def in_flight(self) -> set[str]:
        with self._cond:
            return set(self._running)

    def earliest(self) -> dt.datetime | None:
        """The earliest due time of a feed not being polled, or None."""
        with self._cond:
            return self.table.earliest()

    def add(self, name: str, due: dt.datetime) -> None:
        """Schedule ``name`` at ``due``, replacing its time if it has one (a feed in flight: after its poll)."""
        with self._cond:
            if name in self._running:
                self._dropped.discard(name)
                self._ask(name, due)
            else:
                self.table.set(name, due)
            self._cond.notify_all()

    def move(self, name: str, at: dt.datetime) -> bool:
        """Move ``name`` to ``at``; False when it is not scheduled. A feed in flight goes back at the earliest
        time asked while it ran: its own poll's next time, or a reload's "now" (its URL changed meanwhile)."""
        with self._cond:
            if name in self._running and name not in self._dropped:
                self._ask(name, at)
            elif name in self.table:
                self.table.set(name, at)
                self._cond.notify_all()
            else:
                return False
            return True

    def remove(self, name: str) -> None:
        with self._cond:
            self.table.remove(name)
            if name in self._running:
                self._dropped.add(name)

    def _ask(self, name: str, at: dt.datetime) -> None:
        asked = self._running[name]
        self._running[name] = at if asked is None else min(asked, at)

    # -- the thread ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        try:
            self.rows = self.monitor.feed_rows()
        except Exception:  # the polls read the view themselves, and the next catch-up tries again
            log.exception("the feeds' states could not be read")
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="poll")
        self._thread = threading.Thread(target=self._loop, name="dispatch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Start no new poll; the polls in flight go on (the daemon waits for them, up to its grace)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._cond:
                    self._cond.wait(self._sleep())
                if not self._stop.is_set():
                    self.dispatch()
            except Exception:  # a bug or an outage must not end the schedule: logged, tried again
                log.exception("dispatching the due feeds failed")
                self._stop.wait(TICK)

    def _sleep(self) -> float:
        """Seconds until there is something to do (called with the lock held)."""
        if self.monitor.stopping.is_set():
            return TICK  # stopping: nothing more starts (a stop wakes us)
        catch_up = TICK
        if self._fresh:
            catch_up = max(0.0, self._caught_up + CATCH_UP_EVERY - time.monotonic())
        if len(self._running) >= self.workers:
            return catch_up  # a poll that ends wakes us
        earliest = self.table.earliest()
        if earliest is None:
            return catch_up
        return min(catch_up, max(0.0, (earliest - self.monitor.clock()).total_seconds()))

    def dispatch(self) -> list[str]:
        """Submit the feeds due now that fit in the pool; the names submitted."""
        if self.monitor.stopping.is_set():
            return []
        with self._cond:
            free = self.workers - len(self._running)
            due = self.table.take(self.monitor.clock(), limit=free) if free > 0 else []
            for name, _ in due:
                self._running[name] = None
            behind = bool(self._fresh) and (time.monotonic() - self._caught_up >= CATCH_UP_EVERY
                                            or any(name in self._fresh for name, _ in due))
            if behind:
                fresh, self._fresh = self._fresh, set()
        if behind:  # before the polls start: each reads the view of its feed's last poll
            try:
                self.sink.flush()  # first the polls' events, then the views
                self.monitor.projections.catch_up()
                self.rows.update(self.monitor.feed_rows(fresh))
            except Exception:  # the polls record their own failure; the next dispatch tries again
                log.exception("the views could not be caught up")
                for name in fresh:  # until then, their polls read the view themselves
                    self.rows.pop(name, None)
                with self._cond:
                    self._fresh |= fresh
            self._caught_up = time.monotonic()
        assert self._pool is not None
        submitted = []
        for name, at in due:
            try:
                self._pool.submit(self._poll, name)
            except RuntimeError:  # the pool is shut down: stopping
                with self._cond:
                    self._running.pop(name, None)
                    self.table.set(name, at)
                continue
            submitted.append(name)
        return submitted

    def _poll(self, name: str) -> None:
        try:
            jobs.poll_feed_job(self.daemon, name, catch_up=False, sink=self.sink, rows=self.rows)
        finally:
            self._finished(name)

    def flush(self) -> bool:
        """Write the polls' events held for a group now (the daemon does at its stop); False when that failed
        (logged: they are tried again at the next flush)."""
        try:
            self.sink.flush()
        except Exception:
            log.exception("the polls' events could not be written")
            return False
        return True

    def _finished(self, name: str) -> None:
        with self._cond:
            asked = self._running.pop(name, None)
            if name in self._dropped:
                self._dropped.discard(name)
            elif asked is not None:
                self.table.set(name, asked)
            elif not self.monitor.stopping.is_set():  # the poll moved nothing (it failed to run): soon again
                self.table.set(name, self.monitor.clock()
                               + dt.timedelta(seconds=self.monitor.config.scheduler.min_interval))
            self._fresh.add(name)
            self._cond.notify_all()
