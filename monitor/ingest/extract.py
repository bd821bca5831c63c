"""Extract an article's text from its fetched page with trafilatura, or fall back to the feed's text.

trafilatura only ever sees bytes we fetched (it never downloads). When the page cannot be fetched or
yields no text, the feed's own content, else its summary, else the headline is used, and the result
says which (``text_source``) and why the page was not used (``failure``). ``extract_entry`` makes that
choice for one entry: the page when the feed asks for full text and the page has some, else the feed's.

trafilatura has no time limit of its own (its issue #704): a page of 25,000 ``<div><p>`` blocks, far under
any body-size limit, keeps it busy for minutes and grows it by hundreds of megabytes. So ``ExtractorPool``
runs it in worker processes (``spawn``: a fresh interpreter each, never a fork of a threaded daemon; their
loop is ``monitor.ingest.worker``), each under an address-space cap (``RLIMIT_AS``, ``[extract]
max_memory``), and waits for each page at most ``[extract] timeout``. A page past the deadline is
``timeout``: its worker is killed and replaced, and only that page is lost. A page that runs a worker out of
memory is ``too_large`` (the worker is replaced too). Both are failures of the ``extract`` stage, so the
entry keeps the feed's text, as for any other failure.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any

from monitor.config import ExtractSettings
from monitor.errors import FetchError
from monitor.ingest.fetch import FetchResult
from monitor.ingest.parse import FeedEntry
from monitor.ingest.worker import MIN_PAGE_LETTERS, Extraction, PageFailure, extract_page, serve

log = logging.getLogger(__name__)

# A worker's interpreter, trafilatura's imports and its warm-up take a few seconds; a worker that is not ready
# by then is broken (an import that fails, a cap too small to start in), not slow.
STARTUP_TIMEOUT = 60.0

Extract = Callable[[bytes, str, str, bool], "Extraction | PageFailure"]  # page, URL, type, metadata wanted

__all__ = ["MIN_PAGE_LETTERS", "Extraction", "ExtractorPool", "PageFailure", "extract_entry", "extract_page",
           "from_feed"]


class _Worker:
    def __init__(self, context: Any, max_memory: int, target: Callable[[Any, int], None] = serve,
                 name: str = "news-monitor-extract") -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, max_memory), daemon=True, name=name)
        self.process.start()
        child.close()
        self.ready = False
        self.stopped = False

    def wait_ready(self) -> bool:
        if not self.ready:
            try:
                self.ready = self.conn.poll(STARTUP_TIMEOUT) and self.conn.recv() == "ready"
            except (EOFError, OSError):
                self.ready = False
        return self.ready

    def stop(self, *, kill: bool = False) -> None:
        """End the process (asked to exit, or killed) and free its pipe; only the thread that holds it calls
        this (or ``close``, for an idle worker)."""
        if self.stopped:
            return
        self.stopped = True
        if not kill and self.ready and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            else:
                self.process.join(1.0)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)
        self.conn.close()


class ExtractorPool:
    """At most ``workers`` extraction processes, started as pages come, each page under ``timeout`` seconds and
    each process under ``max_memory`` bytes; thread-safe (several polls share it). ``close`` stops them all."""

    def __init__(self, settings: ExtractSettings) -> None:
        self.timeout = settings.timeout
        self.max_memory = settings.max_memory
        self.size = settings.workers or max(1, os.cpu_count() or 1)
        self._context = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._closed = False

    def extract(self, html_bytes: bytes, url: str, content_type: str, metadata: bool = True
                ) -> Extraction | PageFailure:
        """``extract_page`` in a worker, or ``timeout`` / ``too_large`` / ``extractor_error`` when it fails."""
        if content_type and not any(kind in content_type for kind in ("html", "xml", "text/plain")):
            return extract_page(html_bytes, url, content_type)  # not_html, without a round trip
        worker = self._checkout()
        if worker is None:
            return PageFailure("extractor_error", f"the extraction pool is closed; {url} was not extracted")
        if not worker.wait_ready():
            self._discard(worker)
            log.error("an extraction worker did not start (exit code %s): is [extract] max_memory (%d MiB) enough "
                      "for the interpreter and trafilatura?", worker.process.exitcode, self.max_memory // 1024**2)
            return PageFailure("extractor_error", f"an extraction worker did not start; {url} was not extracted")
        try:
            worker.conn.send((html_bytes, url, content_type, metadata))
        except OSError:
            pass  # it stopped reading (a page it had no room for): its answer, or its exit code, says why
        try:
            answered = worker.conn.poll(self.timeout)
            result, spent = worker.conn.recv() if answered else (None, True)
        except (EOFError, OSError):
            worker.process.join(1.0)
            code = worker.process.exitcode
            self._discard(worker)
            return PageFailure("extractor_error", f"the extraction worker died on {url} (exit code {code})")
        if result is None:
            self._discard(worker)
            log.warning("extraction of %s passed its %gs deadline; its worker was replaced", url, self.timeout)
            return PageFailure("timeout", f"extracting {url} took longer than {self.timeout:g}s; stopped")
        if spent:
            self._discard(worker)
        else:
            self._checkin(worker)
        return result

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit; busy ones are killed, and the thread waiting on each
        gets ``extractor_error`` for its page and frees it."""
        with self._cond:
            self._closed = True
            idle, busy = self._idle, [w for w in self._workers if w not in self._idle]
            self._idle, self._workers = [], set(busy)
            self._cond.notify_all()
        for worker in idle:
            worker.stop()
        for worker in busy:
            if worker.process.is_alive():
                worker.process.kill()

    def __enter__(self) -> ExtractorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def processes(self) -> list[int]:
        """The process ids of the live workers (for tests and status)."""
        with self._cond:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def _checkout(self) -> _Worker | None:
        with self._cond:
            while not self._closed:
                if self._idle:
                    return self._idle.pop()
                if len(self._workers) < self.size:
                    worker = _Worker(self._context, self.max_memory)
                    self._workers.add(worker)
                    return worker
                self._cond.wait()
            return None

    def _checkin(self, worker: _Worker) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._workers.discard(worker)
        worker.stop()  # the pool was closed while it worked

    def _discard(self, worker: _Worker) -> None:
        """Kill ``worker`` and start its replacement now, so that it is ready by the next page."""
        worker.stop(kill=True)
        with self._cond:
            if worker not in self._workers:
                return
            self._workers.discard(worker)
            if not self._closed:
                replacement = _Worker(self._context, self.max_memory)
                self._workers.add(replacement)
                self._idle.append(replacement)
            self._cond.notify()


# -- the choice: the page, else the feed's text ------------------------------------------------------------


def from_feed(entry: FeedEntry) -> Extraction | None:
    """The entry's own text: its content, else its summary, else its headline."""
    for source, text in (("feed_content", entry.content), ("feed_summary", entry.summary), ("title", entry.title)):
        if text and text.strip():
            return Extraction(text=text.strip(), text_source=source, title=entry.title, author=None,
                              language=None, published=None)
    return None


def extract_entry(entry: FeedEntry, fetch: Callable[[str], FetchResult] | None, extract: Extract = extract_page
                  ) -> tuple[Extraction | None, PageFailure | None]:
    """The text of one entry, and why its page was not used. ``fetch`` gets the entry's page when the feed
    asks for full text (None: the feed's text is the article's text); ``extract`` reads it (the pipeline
    passes its ``ExtractorPool``). The text is None only when the entry has none at all, and then the failure
    says so."""
    extraction, failure = _choose(entry, fetch, extract)
    if extraction is None and failure is None:
        failure = PageFailure("no_text", "the entry has no link, text, summary or title")
    return extraction, failure


def _choose(entry: FeedEntry, fetch: Callable[[str], FetchResult] | None, extract: Extract
            ) -> tuple[Extraction | None, PageFailure | None]:
    failure: PageFailure | None = None
    if fetch is not None and entry.url:
        try:
            page = fetch(entry.url)
        except FetchError as error:
            page_result: Extraction | PageFailure = PageFailure(error.reason, error.message, stage="fetch")
        else:
            # The page's own title and date are looked for only when the feed lacks one of them.
            page_result = extract(page.content, page.url, page.content_type,
                                  not (entry.title.strip() and entry.published_at))
        if isinstance(page_result, Extraction):
            return page_result, None
        failure = page_result
    elif fetch is not None:
        failure = PageFailure("no_link", "the entry has no http(s) link to fetch", stage="fetch")
    return from_feed(entry), failure
