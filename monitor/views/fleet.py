"""The fleet of workers as ``news-monitor workers status`` and ``/metrics`` show it, read at the time asked.

Live workers (heartbeat younger than half of ``[scheduler] takeover``: what the workers themselves take as
alive), the feeds each is polling, the queue depth, the configured feeds overdue by more than one interval
(from the feed-state view), and the takeovers (storage.queue). On SQLite there are no workers: ``None``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitor.config import Config
from monitor.views import queries
from storage.engine import reading
from storage.eventlog import EventLog, utcnow
from storage.queue import queue_status


def fleet_status(config: Config, event_log: EventLog, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The fleet as one JSON-ready dict, or None on SQLite."""
    if event_log.dialect != "postgresql":
        return None
    now = now or utcnow()
    takeover = config.scheduler.takeover
    queue = queue_status(event_log.engine, live_within=max(1.0, takeover / 2))
    configured = {feed.name for feed in config.feeds}
    with reading(event_log.engine) as conn:
        overdue = {name: late for name, late in queries.feed_overdue(conn, now, config.scheduler.default_interval)
                   .items() if name in configured}
    last = queue.last_takeover
    return {
        "workers": [{"id": w.worker_id, "host": w.host, "pid": w.pid, "concurrency": w.concurrency,
                     "started_at": _iso(w.started_at), "last_heartbeat": _iso(w.last_heartbeat),
                     "polling": [lock.removeprefix("feed:") for lock in w.running if lock.startswith("feed:")]}
                    for w in queue.workers],
        "queue": {"waiting": queue.queued, "due": queue.due, "running": queue.running},
        "overdue": [{"feed": name, "seconds": round(late, 1)} for name, late in sorted(overdue.items())],
        "takeovers": queue.takeovers,
        "last_takeover": None if last is None else {
            "feed": str(last["job"] or "").removeprefix("feed:"), "dead_worker": last["dead_worker"],
            "at": _iso(last["at"])},
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds") if value is not None else None


def status_lines(status: dict[str, Any]) -> list[str]:
    """The text form: a line per worker, then the queue, the overdue feeds and the last takeover."""
    lines = [f"{len(status['workers'])} live worker(s)"]
    for w in status["workers"]:
        polling = ", ".join(w["polling"]) or "idle"
        lines.append(f"  worker {w['id']} {w['host'] or '?'}:{w['pid'] or '?'} ×{w['concurrency'] or '?'} "
                     f"heartbeat {w['last_heartbeat']}: {polling}")
    q = status["queue"]
    lines.append(f"queue: {q['waiting']} waiting ({q['due']} due now), {q['running']} running")
    overdue = status["overdue"]
    lines.append(f"overdue by more than one interval: {len(overdue)}"
                 + (": " + ", ".join(f"{o['feed']} ({o['seconds']:g}s)" for o in overdue[:20]) if overdue else ""))
    last = status["last_takeover"]
    lines.append(f"takeovers: {status['takeovers']}" + (
        f", last {last['at']}: {last['feed']} from dead worker {last['dead_worker']}" if last else ""))
    return lines
