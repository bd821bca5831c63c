"""The one place the stages meet: fetch a feed, parse it, tell its new entries, extract and tag them, append events.

``Monitor`` is what a process shares (config, event log, read models, HTTP client, tagger, polling policy,
clock): the CLI, the daemon and the tests build one. Its polling methods are the flow, and only here do
the stages meet::

    poll(feeds)                   one cycle, several feeds at a time; events committed in groups (GroupCommit)
    └── refresh_feed(feed)        one feed: what a scheduled job runs
        ├── fetch → parse         ingest.fetch, ingest.parse; an HTML page's feed link is followed once
        ├── identity              ingest.identity: each entry new, revised (ArticleRevised) or known, as the
        │                         articles view and the log say (known_articles)
        ├── each new entry        process_entry, one atomic batch: ArticleDiscovered, then
        │   ├── extract           ingest.extract: ArticleExtracted and/or ExtractionFailed (page, else feed text)
        │   └── tag               tagging.rules.Tagger: MentionTagged per topic
        └── when next             ingest.policy: FeedPolled (and FeedMoved), committed with the entries' events

What a poll did is a ``PollOutcome`` (``monitor.polls``, with the cycle's ``GroupCommit``): new entries, pages
that failed, entries that failed alone or were skipped, by reason, all recorded in its FeedPolled too.

Each new entry is one atomic batch, so a crash or a shutdown between entries leaves whole articles only,
and the next poll resumes with the entries whose keys are not yet in the log. A failure of the feed is a
FeedFailed event, never an exception: only a storage error (the pipeline itself cannot run) propagates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import pickle
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import ValidationError

from monitor.config import Config, FeedSettings
from monitor.entries import EntryPreparer, Prepared, prepare, tag_extraction
from monitor.errors import FeedError, StorageError
from monitor.events import catalogue as ev
from monitor.ingest import identity
from monitor.ingest.extract import ExtractorPool, extract_entry
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import FeedEntry, ParsedFeed, fetch_feed, parse_feed
from monitor.ingest.parse_pool import ParsePool
from monitor.ingest.policy import Policy
from monitor.polls import GroupCommit, PollInterrupted, PollOutcome
from monitor.tagging.rules import Tagger
from monitor.views import queries
from monitor.views.log import open_log, projections
from storage.engine import reading
from storage.eventlog import EventLog, NewEvent, utcnow

log = logging.getLogger(__name__)

_FAILURES_KEPT = 20  # entry failures described in a FeedPolled (all are counted)
# How long a poll that overlaps others waits for a busy parse worker before it parses here. Parsing is most of a
# first cycle's CPU: in the worker it runs beside this process's fetches, writes and tagging (which keep this
# core busy already), so waiting for a worker's turn beats parsing here, which would slow every other poll.
_OFFLOAD_WAIT = 1.0
_OFFLOAD_BYTES = 4096  # a smaller body is parsed here: its round trip to a parse worker costs more than it saves


def _log_bug(message: str) -> None:
    """A bug, logged on one line; with its traceback when NEWS_MONITOR_DEBUG=1 (as the CLI does)."""
    if os.environ.get("NEWS_MONITOR_DEBUG"):
        log.exception(message)
    else:
        log.error("%s (set NEWS_MONITOR_DEBUG=1 for the traceback)", message)


def entry_failure_reason(exc: BaseException) -> str:
    """The reason code of an entry that failed alone: its URL (``bad_url``), its text (``bad_text``), an event
    its data could not make (``bad_payload``), else ``internal_error``, which is a bug."""
    if isinstance(exc, httpx.InvalidURL):
        return "bad_url"
    if isinstance(exc, UnicodeError):
        return "bad_text"
    if isinstance(exc, ValidationError):
        return "bad_payload"
    return "internal_error"


@dataclass(frozen=True)
class KnownFeed:
    """What the feed-state view says about a feed before a poll."""

    url: str  # where to poll it: the configured URL, or where it moved since
    headers: dict[str, str]  # the validators of the last full response (RFC 9110 §13.1)
    interval: float | None  # its normal interval, as the last success decided it
    failures: int  # consecutive failures so far


class Monitor:
    """What a process shares, and the flow of a poll over it. One per process; ``close`` it (or use ``with``).

    ``stopping``, once set, stops each poll before its next new entry (the daemon sets it on shutdown)."""

    # -- what a process shares -------------------------------------------------------------------------

    def __init__(self, config: Config, *, clock: Callable[[], dt.datetime] = utcnow,
                 transport: httpx.BaseTransport | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.clock = clock
        self.log = open_log(config, clock=clock)
        self.projections = projections(self.log)
        self.fetcher = Fetcher(config.network, transport=transport, max_per_host=config.scheduler.max_per_host)
        self.policy = Policy(config.scheduler, rng)
        self._tagger: Tagger | None = None
        self._tagger_lock = threading.Lock()
        self._extractor: ExtractorPool | None = None  # started at the first page: most commands never extract
        # Parse workers, one per core (none on one core), for polls that overlap (see _parse): they parse and tag
        # while this process fetches, triages, writes and projects. One per core but one left the workers the
        # bottleneck of a first cycle once they tagged too (benchmarks/polling.py, 2 cores: 2.47x the floor
        # with one worker, 1.76-1.97x with two).
        cores = os.cpu_count() or 1
        self.parse_pool = ParsePool(config.extract, 0 if cores < 2 else min(cores, config.scheduler.max_workers - 1))
        self._parsing_here = 0
        self._polls_running = 0  # polls in flight in this process (a lone one parses here: see _parse)
        self._prepared_for: Tagger | None = None  # the tagger _preparer pickled last, its generation and pickle
        self._generation = 0
        self._preparer_blob: tuple[int, bytes] | None = None
        self.prepared_in_workers = 0  # new entries whose text and tags a parse worker made (tests, benchmarks)
        self.stopping = threading.Event()

    @property
    def tagger(self) -> Tagger:
        with self._tagger_lock:
            if self._tagger is None:
                self._tagger = Tagger(self.config, background=self.background_texts())
            return self._tagger

    @property
    def extractor(self) -> ExtractorPool:
        """The worker processes pages are extracted in, under ``[extract]``'s deadline and memory cap."""
        with self._tagger_lock:
            if self._extractor is None:
                self._extractor = ExtractorPool(self.config.extract)
            return self._extractor

    def apply_config(self, config: Config) -> None:
        """Use ``config`` from now on (hot reload, monitor.daemon.reload): the next poll tags with its topics and
        schedules with its policy. A poll in flight finishes with the config it started with."""
        with self._tagger_lock:
            self.config = config
            self.policy = Policy(config.scheduler, self.policy.rng)
            self._tagger = None

    def background_texts(self) -> list[str]:
        """The newest articles' titles and texts, oldest first, as many as a topic's similarity learns from."""
        limit = max((topic.similarity_background for topic in self.config.topics), default=0)
        if not limit:
            return []
        with reading(self.log.engine) as conn:
            rows = queries.newest_texts(conn, limit)
        return [f"{title or ''}\n{text}" for title, text in rows]

    def close(self) -> None:
        with self._tagger_lock:
            extractor, self._extractor = self._extractor, None
        if extractor is not None:
            extractor.close()
        self.parse_pool.close()
        self.fetcher.close()
        self.log.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the views say before a poll --------------------------------------------------------------

    def known_feed(self, feed: FeedSettings) -> KnownFeed:
        """The feed's state from its view. A feed whose configured URL changed starts afresh at the new URL."""
        with reading(self.log.engine) as conn:
            row = queries.feed_poll_state(conn, feed.name)
        return self._known(feed, row)

    def known_feeds(self) -> dict[str, KnownFeed]:
        """Every configured feed's state, in one read."""
        with reading(self.log.engine) as conn:
            rows = queries.feed_poll_states(conn)
        return {feed.name: self._known(feed, rows.get(feed.name)) for feed in self.config.feeds}

    def feed_rows(self, names: Iterable[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """What ``known_feed`` reads of each named feed (every configured one by default), in one read: its row
        of the feed-state view, None for a feed never polled. ``known_from`` makes the state of one."""
        wanted = list(names) if names is not None else [feed.name for feed in self.config.feeds]
        with reading(self.log.engine) as conn:
            rows = queries.feed_poll_states(conn, wanted)
        return {name: rows.get(name) for name in wanted}

    def known_from(self, feed: FeedSettings, row: dict[str, Any] | None) -> KnownFeed:
        """The feed's state from its row (``feed_rows``), as ``known_feed`` makes it."""
        return self._known(feed, row)

    @staticmethod
    def _known(feed: FeedSettings, row: Any) -> KnownFeed:
        if row is None:
            return KnownFeed(feed.url, {}, None, 0)
        if row["url"] != feed.url:
            return KnownFeed(feed.url, {}, None, row["consecutive_failures"])
        headers: dict[str, str] = {}
        if row["etag"]:
            headers["If-None-Match"] = row["etag"]
        if row["last_modified"]:
            headers["If-Modified-Since"] = row["last_modified"]
        return KnownFeed(row["current_url"] or feed.url, headers, row["interval"], row["consecutive_failures"])

    def known_articles(self, feed: str, entries: dict[str, str | None]) -> identity.Known:
        """What the views and the log know of a poll's entries (article id -> entry key in ``feed``), in one
        read transaction: see ingest.identity."""
        ids = list(entries)
        keys = [k for k in entries.values() if k]
        by_id: dict[str, dict[str, Any]] = {}
        by_entry: dict[str, dict[str, Any]] = {}
        with reading(self.log.engine) as conn:
            for row in queries.articles_by_id_or_entry_key(conn, ids, keys):
                by_id[row["article_id"]] = row
                if row["entry_key"] and row["feed"] == feed:
                    by_entry[row["entry_key"]] = dict(row)
            unknown = identity.unknown(entries, by_id, by_entry)
            logged = EventLog.present_keys(conn, unknown) if unknown else set()
        return identity.Known(by_id, by_entry, logged)

    # -- the flow: a cycle, a feed, an entry -----------------------------------------------------------

    def poll(self, feed_names: Iterable[str] | None = None,
             on_done: Callable[[], None] | None = None) -> list[PollOutcome]:
        """One cycle over the named feeds (all by default), several at a time; ``on_done`` is called as each
        feed's poll finishes (a progress bar)."""
        feeds = [self.config.feed(n) for n in feed_names] if feed_names else list(self.config.feeds)
        self.projections.catch_up()
        workers = max(1, min(self.config.scheduler.max_workers, len(feeds)))
        # In one cycle each feed is polled once, so what a poll reads of the views (its feed's state, its own
        # earlier entries) is as of the cycle's start: the states are read once, and the views catch up once,
        # at the end. The cycle's events are committed in groups (see GroupCommit).
        states = self.known_feeds()
        if workers > 1 and len(feeds) > workers:
            self.parse_pool.start()  # ready by the time the polls overlap (see _parse)
        sink = GroupCommit(self.log)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
                futures = [pool.submit(self.refresh_feed, feed, catch_up=False, known=states.get(feed.name),
                                       sink=sink) for feed in feeds]
                if on_done is not None:
                    for future in futures:
                        future.add_done_callback(lambda _: on_done())
                try:
                    return [future.result() for future in futures]
                except KeyboardInterrupt:
                    # Ctrl-C: start nothing new, let each poll in flight finish its entry and record what it
                    # did, and commit every finished poll (below); the caller says how many.
                    self.stopping.set()
                    for future in futures:
                        future.cancel()
                    pool.shutdown(wait=True)
                    done = [f.result() for f in futures if not f.cancelled() and f.exception() is None]
                    raise PollInterrupted(done, len(feeds)) from None
        finally:
            sink.flush()
            self.projections.catch_up()

    def refresh_feed(self, feed: FeedSettings, *, catch_up: bool = True, known: KnownFeed | None = None,
                     sink: GroupCommit | None = None) -> PollOutcome:
        """Poll one feed. ``catch_up``: bring the views up to date before (another worker may have polled this
        feed) and after (the daemon's polls do; a cycle of ``poll`` does it once for all). ``known``: the
        feed's state, when the caller read it already. ``sink``: commit the poll's events with others'. Every line
        logged meanwhile (ours and the libraries') carries the feed's name."""
        with self._tagger_lock:
            self._polls_running += 1
        try:
            with structlog.contextvars.bound_contextvars(feed=feed.name):
                return self._refresh_feed(feed, catch_up, known, sink)
        finally:
            with self._tagger_lock:
                self._polls_running -= 1

    def _refresh_feed(self, feed: FeedSettings, catch_up: bool, known: KnownFeed | None,
                      sink: GroupCommit | None) -> PollOutcome:
        if self.stopping.is_set():  # shutting down: a poll not started is not started (it stays due)
            return PollOutcome(feed.name, "interrupted")
        attempt = uuid.uuid4().hex
        started_at, started = self.clock(), time.monotonic()
        try:
            if catch_up:
                self.projections.catch_up()
            return self._refresh(feed, attempt, started_at, started, known or self.known_feed(feed), sink)
        except StorageError:
            raise
        except Exception as exc:  # a bug must not stop the other feeds or the daemon: record it
            message = f"internal error: {type(exc).__name__}: {exc}"[:300]
            _log_bug(f"polling {feed.name} failed unexpectedly: {message}")
            return self._failed(feed, attempt, started_at, FeedError("internal_error", message),
                                KnownFeed(feed.url, {}, None, 0), sink)
        finally:
            if catch_up:
                self.projections.catch_up()

    def _refresh(self, feed: FeedSettings, attempt: str, started_at: dt.datetime, started: float,
                 known: KnownFeed, sink: GroupCommit | None) -> PollOutcome:
        found: list[tuple[ParsedFeed, list[Prepared | None]]] = []  # what a parse worker prepared (see _parse)

        def parse(content: bytes, url: str, headers: Any) -> ParsedFeed:
            parsed, prepared = self._parse(content, url, headers, entries=not feed.fetch_full_text)
            found[:] = [(parsed, prepared)] if prepared is not None else []
            return parsed

        try:
            fetched = fetch_feed(self.fetcher.get, known.url, known.headers, parse)  # fetch → parse
        except FeedError as error:
            return self._failed(feed, attempt, started_at, error, known, sink)
        response, parsed = fetched.response, fetched.parsed
        polled: dict[str, Any] = {
            "url": feed.url, **self._requested(feed, known.url), "final_url": response.url,
            "http_status": response.status, "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
        }
        cache_control = response.headers.get("cache-control")
        if parsed is None:
            decision = self.policy.after_success(feed, started_at, previous=known.interval,
                                                 cache_control=cache_control)
            outcome = PollOutcome(feed.name, "not_modified", next_poll_at=decision.next_poll_at)
            self._commit(outcome, [ev.feed_polled(feed.name, attempt, started_at, {
                **polled, "status": "not_modified", "entries_seen": 0, "new_entries": 0,
                "duration": round(time.monotonic() - started, 3), **decision.as_payload()})], sink)
            return outcome

        prepared = ({id(entry): ready for entry, ready in zip(parsed.entries, found[0][1], strict=True)}
                    if found and found[0][0] is parsed and len(found[0][1]) == len(parsed.entries) else {})
        distinct = identity.distinct_entries(parsed.entries)
        outcome = PollOutcome(feed.name, "ok", entries_seen=len(parsed.entries), entries_skipped=parsed.skipped,
                              duplicates=distinct.duplicates)
        # Without page fetches an entry takes microseconds, so the whole poll is one atomic batch; with them,
        # each entry is appended as soon as it is done, so a long poll loses nothing when it is stopped.
        pending: list[NewEvent] = []
        flush_each = feed.fetch_full_text
        failures: list[dict[str, Any]] = []
        for batch in self._entry_batches(feed, distinct.entries, outcome, failures, prepared):  # identity → new
            if flush_each:
                outcome.count(self.log.append(batch).recorded)
            else:
                pending.extend(batch)
        # When next, then the poll's own events, committed with the entries' (when not appended already).
        decision = self.policy.after_success(feed, started_at, entry_dates=[e.published_at for e in parsed.entries],
                                             previous=known.interval, ttl=parsed.ttl, cache_control=cache_control)
        if outcome.status == "interrupted":
            # Forget the validators, so that the next poll gets the full feed and the rest of its entries, and
            # make it due at once: the next start (or cycle) resumes it, not the feed's next interval.
            polled["etag"] = polled["last_modified"] = None
            decision = dataclasses.replace(decision, next_poll_at=started_at, reason="interrupted")
        new_entries = outcome.new_articles + sum(e.type == ev.ARTICLE_DISCOVERED for e in pending)
        closing = [ev.feed_polled(feed.name, attempt, started_at, {
            **polled, "status": outcome.status, "feed_title": parsed.title, "format": parsed.version,
            "bozo": parsed.bozo, "entries_seen": len(parsed.entries), "new_entries": new_entries,
            "revised_entries": outcome.revised, "duration": round(time.monotonic() - started, 3),
            "duplicate_entries": distinct.duplicates, "entries_skipped": parsed.skipped,
            "pages_failed": dict(outcome.pages_failed), "entries_failed": dict(outcome.entries_failed),
            **({"failed_entries": failures[:_FAILURES_KEPT]} if failures else {}),
            **decision.as_payload()})]
        if fetched.moved:
            # After the poll's event, so that the view's current URL ends at the new one.
            closing.append(ev.feed_moved(feed.name, attempt, started_at, {"url": feed.url, **fetched.moved}))
            outcome.moved_to = fetched.moved["to_url"]
        outcome.next_poll_at = decision.next_poll_at
        # A poll that appended its entries one by one (page fetches: seconds each) appends its own events at once
        # too, so that they follow its entries in the log without waiting for a group.
        self._commit(outcome, pending + closing, sink, at_once=flush_each and outcome.new_articles > 0)
        return outcome

    def _entry_batches(self, feed: FeedSettings, unique: dict[str, FeedEntry], outcome: PollOutcome,
                       failures: list[dict[str, Any]], prepared: dict[int, Prepared | None] | None = None
                       ) -> Iterator[list[NewEvent]]:
        """The events of each entry that is new (``process_entry``) or revised (ingest.identity), a batch each.
        Once ``stopping`` is set, no new entry is started, and the outcome says "interrupted". An entry that
        fails costs only itself: it is counted by reason in ``outcome`` and described in ``failures``, and the
        next entries go on (only a storage error stops the poll)."""
        known = self.known_articles(feed.name, identity.entry_keys(feed.name, unique))
        for found in identity.triage(feed, unique, known, self.clock):
            if not isinstance(found, identity.NewEntry):
                yield [found]  # an ArticleRevised
                continue
            if self.stopping.is_set():
                outcome.status = "interrupted"
                return
            with structlog.contextvars.bound_contextvars(article_id=found.article):  # on every line logged
                try:
                    ready = (prepared or {}).get(id(found.entry))
                    batch = self.process_entry(feed, found.article, found.entry, ready)
                    if ready is not None:
                        with self._tagger_lock:
                            self.prepared_in_workers += 1
                except StorageError:
                    raise
                except Exception as exc:
                    reason = entry_failure_reason(exc)
                    outcome.entries_failed[reason] += 1
                    message = f"{type(exc).__name__}: {exc}"[:300]
                    failures.append({"entry_id": found.entry.entry_id[:500], "url": found.entry.url[:2000],
                                     "reason": reason, "message": message})
                    if reason == "internal_error":
                        _log_bug(f"an entry of {feed.name} failed unexpectedly: {message}")
                    continue
            if feed.fetch_full_text:
                outcome.pages_failed.update(e.data["reason"] for e in batch if e.type == ev.EXTRACTION_FAILED)
            yield batch

    def process_entry(self, feed: FeedSettings, article: str, entry: FeedEntry,
                      prepared: Prepared | None = None) -> list[NewEvent]:
        """The events of one new entry, one atomic batch: discovery, extraction (or failure and fallback),
        mentions. ``prepared``: the entry's text and tags as a parse worker computed them (``monitor.entries``;
        only for a feed whose entries are their own text), else they are computed here."""
        discovered_at = self.clock()
        occurred = entry.published_at or discovered_at
        published = entry.published_at.isoformat() if entry.published_at else None
        batch = [ev.article_discovered(article, occurred, {
            "feed": feed.name, "url": entry.url, "canonical_url": entry.canonical_url, "entry_id": entry.entry_id,
            "title": entry.title, "published_at": published, "entry_hash": identity.entry_hash(entry),
        })]
        spent = [0.0, 0]  # seconds in the extractor, pages it read

        def extract(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return self.extractor.extract(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - began
                spent[1] += 1

        if feed.fetch_full_text:
            prepared = None  # the page's text, not the feed's, is tagged
            extraction, failure = extract_entry(entry, self.fetcher.get, extract)
        else:
            prepared = prepared or prepare(self.tagger, entry)
            extraction, failure = prepared.extraction, prepared.failure
        if failure is not None:
            batch.append(ev.extraction_failed(article, occurred, {
                "url": entry.url, "reason": failure.reason, "message": failure.message, "stage": failure.stage,
                "fallback": extraction.text_source if extraction else None,
            }))
        if extraction is None:
            return batch
        if prepared is not None:
            title, language, results, tag_seconds = (prepared.title, prepared.language, prepared.results,
                                                     prepared.tag_seconds)
        else:
            title, language, results, tag_seconds = tag_extraction(self.tagger, entry, extraction)
        batch.append(ev.article_extracted(article, occurred, {
            "url": entry.url, "title": title, "text": extraction.text, "text_hash": extraction.text_hash,
            "text_source": extraction.text_source, "word_count": extraction.word_count,
            "language": language or None, "author": extraction.author, "page_date": extraction.published,
            "published_at": published, "tag_seconds": round(tag_seconds, 6),
            **({"extract_seconds": round(spent[0], 6)} if spent[1] else {}),
        }))
        for topic, result in results.items():
            if result.decision == "none":
                continue
            payload: dict[str, Any] = {**result.as_dict(), "title": title, "url": entry.url, "feed": feed.name,
                                       "published_at": published}
            batch.append(ev.mention_tagged(article, topic, result.topic_version, occurred, payload))
        return batch

    def _parse(self, content: bytes, url: str, headers: Any, *, entries: bool = False
               ) -> tuple[ParsedFeed, list[Prepared | None] | None]:
        """``parse_feed``, here or in a parse worker. While other polls run beside this one (a cycle, or the
        daemon's polls overlapping), the body goes to a parse worker, waiting up to ``_OFFLOAD_WAIT`` for one to
        be free, so that a first cycle's parsing runs on the other cores while this one fetches, tags and writes
        (this process parses only when no worker came in time, or one failed). A lone poll parses here and never
        pays a round trip. Either way the result is the same, so a parallel cycle records what a serial one
        does. ``entries`` (a feed whose entries are their own text): the worker also prepares each entry
        (monitor.entries) with this process's tagger, and the second value lists what it prepared (None when
        the feed was parsed here)."""
        with self._tagger_lock:
            overlapping = self._polls_running > 1 or self._parsing_here > 0
            offload = overlapping and self.parse_pool.size > 0 and len(content) >= _OFFLOAD_BYTES
            if not offload:
                self._parsing_here += 1
        if offload:
            found, prepared = self.parse_pool.parse_and_prepare(content, url, headers, wait=_OFFLOAD_WAIT,
                                                                preparer=self._preparer() if entries else None)
            if isinstance(found, FeedError):
                raise found
            if found is not None:
                return found, prepared
            with self._tagger_lock:
                self._parsing_here += 1
        try:
            return parse_feed(content, url, headers), None
        finally:
            with self._tagger_lock:
                self._parsing_here -= 1

    def _preparer(self) -> tuple[int, bytes] | None:
        """This process's tagger for a parse worker (monitor.entries): a generation number, new with each tagger,
        and the pickled ``EntryPreparer``; None if it does not pickle (the entries are then tagged here)."""
        tagger = self.tagger
        with self._tagger_lock:
            if self._prepared_for is not tagger:
                self._prepared_for = tagger
                self._generation += 1
                try:
                    blob: bytes | None = pickle.dumps(EntryPreparer(tagger), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:  # noqa: BLE001 - a tagger that does not pickle is used here only
                    log.warning("the tagger does not pickle (%s); new entries are tagged in the daemon", exc)
                    blob = None
                self._preparer_blob = None if blob is None else (self._generation, blob)
            return self._preparer_blob

    def _failed(self, feed: FeedSettings, attempt: str, at: dt.datetime, error: FeedError,
                known: KnownFeed, sink: GroupCommit | None) -> PollOutcome:
        decision = self.policy.after_failure(feed, at, failures=known.failures + 1, previous=known.interval,
                                             retry_after=error.retry_after, gone=error.reason == "http_410")
        outcome = PollOutcome(feed.name, "failed", error.reason, error.message, next_poll_at=decision.next_poll_at)
        self._commit(outcome, [ev.feed_failed(feed.name, attempt, at, {
            "url": feed.url, **self._requested(feed, known.url), "reason": error.reason, "message": error.message,
            "http_status": error.status, "retry_after": error.retry_after, **decision.as_payload(),
        })], sink)
        return outcome

    def _commit(self, outcome: PollOutcome, events: list[NewEvent], sink: GroupCommit | None, *,
                at_once: bool = False) -> None:
        if sink is not None and at_once:
            sink.write_now(outcome, events)
        elif sink is not None:
            sink.add(outcome, events)
        else:
            outcome.count(self.log.append(events).recorded)

    @staticmethod
    def _requested(feed: FeedSettings, url: str) -> dict[str, str]:
        return {"requested_url": url} if url != feed.url else {}
