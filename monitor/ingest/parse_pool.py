"""Feeds parsed on the other cores: a first cycle over many feeds is mostly ``feedparser.parse``, and one
process runs it on one core at a time.

``ParsePool.try_parse`` hands a body to an idle parse worker (``spawn``: a fresh interpreter, never a fork of a
threaded daemon), under ``[extract]``'s memory cap and deadline, and gives back what ``parse_feed`` would have
given here, byte for byte. It waits for a busy worker up to the caller's ``wait`` (none by default): when none
is free and ready by then it says None, and the caller parses in its own process (the pipeline offloads only
while other polls run beside the one parsing, so a lone poll never pays a round trip). When a worker fails (its
deadline, its cap, a crash), the body is parsed here after all, so that a parallel cycle records exactly what a
serial one does; the worker is replaced.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from multiprocessing import connection
from typing import Any

from monitor.config import ExtractSettings
from monitor.errors import FeedError, ParseError
from monitor.ingest.extract import _Worker
from monitor.ingest.parse import ParsedFeed
from monitor.ingest.parse_worker import serve

log = logging.getLogger(__name__)

__all__ = ["ParsePool", "Parsed"]

Parsed = ParsedFeed | FeedError  # what a worker found: the feed, or why it is no feed (raised by the caller)


class ParsePool:
    """Up to ``size`` parse workers, started when first wanted; thread-safe. ``close`` stops them."""

    def __init__(self, settings: ExtractSettings, size: int) -> None:
        self.size = size
        self.timeout = settings.timeout
        self.max_memory = settings.max_memory
        self.parsed = 0  # bodies a worker parsed (for tests and benchmarks)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # notified when a worker is checked in
        self._idle: list[_Worker] = []
        self._starting: list[_Worker] = []
        self._busy = 0  # workers checked out
        self._closed = False

    def try_parse(self, content: bytes, url: str, headers: dict[str, str], wait: float = 0.0) -> Parsed | None:
        """What ``parse_feed`` gives (the feed or its ParseError), parsed in a worker; None when no worker is
        ready within ``wait`` seconds or the worker failed: the caller parses then."""
        return self.parse_and_prepare(content, url, headers, wait)[0]

    def parse_and_prepare(self, content: bytes, url: str, headers: dict[str, str], wait: float = 0.0,
                          preparer: tuple[int, bytes] | None = None) -> tuple[Parsed | None, list[Any] | None]:
        """``try_parse``, and with ``preparer`` (a generation number and a pickled callable) the callable applied
        by the worker to each entry of the parsed feed: a list beside the entries, None for an entry whose call
        raised (the caller does that one itself). The callable is sent to a worker once per generation. The list
        is None when there is none (no preparer, a feed that is no feed, a worker that could not load it)."""
        worker = self._checkout(wait=wait)
        if worker is None:
            return None, None
        preparing = None
        if preparer is not None:
            generation, blob = preparer
            preparing = (generation, None if getattr(worker, "generation", None) == generation else blob)
        try:
            worker.conn.send((content, url, dict(headers), preparing))
            answer = worker.conn.recv() if worker.conn.poll(self.timeout) else ("failed", "past its deadline")
        except (EOFError, OSError) as exc:
            answer = ("failed", f"the worker died ({type(exc).__name__})")
        if answer[0] == "failed":
            log.warning("a parse worker failed on %s (%s); parsing it in the daemon", url, answer[1])
            self._checkin(worker, failed=True)
            return None, None
        if preparing is not None:
            worker.generation = preparing[0]  # it holds that generation's callable now (or knows it has none)
        self._checkin(worker)
        with self._lock:
            self.parsed += 1
        if answer[0] == "error":
            _, reason, message, status = answer
            return ParseError(reason, message, status=status), None
        return answer[1], answer[2]

    def start(self, wait: float = 0.0) -> bool:
        """Start the workers now, ahead of a cycle over many feeds; with ``wait``, wait up to that many seconds
        for one to be ready. True when one is."""
        with self._lock:
            while not self._closed and len(self._starting) + len(self._idle) + self._busy < self.size:
                self._starting.append(_Worker(self._context, self.max_memory, serve, "news-monitor-parse"))
            starting = list(self._starting)
        if wait and starting:
            connection.wait([worker.conn for worker in starting], timeout=wait)
        worker = self._checkout(start=False)
        if worker is not None:
            self._checkin(worker)
        with self._lock:
            return bool(self._idle)

    def _checkout(self, *, start: bool = True, wait: float = 0.0) -> _Worker | None:
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                worker = self._ready_worker(start)
                left = deadline - time.monotonic()
                if worker is not None or left <= 0 or self._closed or self.size == 0:
                    return worker
                # A starting worker says it is ready on its pipe, not on the condition: look again soon.
                self._freed.wait(min(left, 0.05) if self._starting else left)

    def _ready_worker(self, start: bool) -> _Worker | None:
        """An idle worker checked out, or None (starting one when ``start`` and there is room); under the lock."""
        if self._closed:
            return None
        for worker in list(self._starting):  # started earlier: ready by now?
            if not worker.process.is_alive():
                self._starting.remove(worker)
                worker.stop(kill=True)
            elif worker.conn.poll(0):
                self._starting.remove(worker)
                try:
                    worker.ready = worker.conn.recv() == "ready"
                except (EOFError, OSError):
                    worker.ready = False
                if worker.ready:
                    self._idle.append(worker)
                else:
                    worker.stop(kill=True)
        if self._idle:
            self._busy += 1
            return self._idle.pop()
        if start and len(self._starting) + self._busy < self.size:
            self._starting.append(_Worker(self._context, self.max_memory, serve, "news-monitor-parse"))
        return None

    def _checkin(self, worker: _Worker, *, failed: bool = False) -> None:
        with self._lock:
            self._busy -= 1
            self._freed.notify()
            if not self._closed and not failed:
                self._idle.append(worker)
                return
        worker.stop(kill=failed)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._freed.notify_all()
            workers, self._idle, self._starting = self._idle + self._starting, [], []
        for worker in workers:
            worker.stop(kill=not worker.ready)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
