"""The daemon's scheduler (APScheduler 3.x): it decides *when* a feed is polled, never *what* polling does.

One interval job per feed, with jitter, rebuilt from the config at start. Jobs are the importable
function ``poll_feed_job`` called with a feed name; the running ``Monitor`` is registered in this module,
so no closure is ever pickled. SIGINT or SIGTERM stops the scheduler: polls in flight finish the entry
they are on (each entry is one atomic batch) and record their FeedPolled, so no partial work is appended.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.pipeline import Monitor

log = logging.getLogger(__name__)

_current: Monitor | None = None


def poll_feed_job(feed_name: str) -> None:
    """The scheduled job: refresh one feed of the running monitor."""
    monitor = _current
    if monitor is None or monitor.stopping.is_set():
        return
    try:
        outcome = monitor.refresh_feed(monitor.config.feed(feed_name))
    except Exception:  # a storage outage is logged and retried at the next interval; the daemon lives on
        log.exception("poll of %s could not run", feed_name)
        return
    log.info("polled %s: %s%s, %d new article(s), %d mention(s)", feed_name, outcome.status,
             f" ({outcome.reason}: {outcome.message})" if outcome.reason else "", outcome.new_articles,
             outcome.mentions)


def build_scheduler(monitor: Monitor) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=monitor.config.scheduler.max_workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC",
    )
    now = monitor.clock()
    for feed in monitor.config.feeds:
        scheduler.add_job(poll_feed_job, "interval", args=[feed.name], id=f"feed:{feed.name}",
                          name=f"poll {feed.name}", seconds=feed.interval, jitter=monitor.config.scheduler.jitter,
                          next_run_time=now)
    return scheduler


def run_daemon(monitor: Monitor, stop: threading.Event | None = None) -> None:
    """Poll every feed on its interval until SIGINT/SIGTERM (or ``stop`` is set)."""
    global _current
    stop = stop or threading.Event()
    _current = monitor

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the polls in flight", signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    scheduler = build_scheduler(monitor)
    try:
        monitor.projections.catch_up()
        scheduler.start()
        log.info("news-monitor running: %d feed(s), %d topic(s)", len(monitor.config.feeds),
                 len(monitor.config.topics))
        while not stop.wait(0.5):
            pass
    finally:
        monitor.stopping.set()
        scheduler.shutdown(wait=True)
        _current = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("news-monitor stopped")
