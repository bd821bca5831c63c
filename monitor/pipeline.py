"""The one place the stages meet: fetch a feed, parse it, extract and tag its new entries, append events.

``Monitor`` holds what a process shares (config, event log, read models, HTTP client, tagger, clock).
``refresh_feed`` is what a scheduled job runs for one feed. Each new entry becomes one atomic batch
(ArticleDiscovered, then ArticleExtracted and/or ExtractionFailed, then MentionTagged per topic), so a
crash or a shutdown between entries leaves whole articles only, and the next poll resumes with the
entries whose keys are not yet in the log. A failure of the feed is a FeedFailed event, never an
exception: only a storage error (the pipeline itself cannot run) propagates.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from monitor import events as ev
from monitor.config import Config, FeedSettings
from monitor.errors import FetchError, StorageError
from monitor.extract import Extraction, PageFailure, extract_page, from_feed
from monitor.feeds import FeedEntry, parse_feed
from monitor.fetch import Fetcher
from monitor.store import open_log, projections
from monitor.tagging import Tagger
from storage.eventlog import NewEvent, reading, utcnow
from storage.projections import feed_state

log = logging.getLogger(__name__)


@dataclass
class PollOutcome:
    feed: str
    status: str  # ok | not_modified | failed | interrupted
    reason: str | None = None
    message: str | None = None
    entries_seen: int = 0
    new_articles: int = 0
    mentions: int = 0


class Monitor:
    def __init__(self, config: Config, *, clock: Callable[[], dt.datetime] = utcnow,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.clock = clock
        self.log = open_log(config, clock=clock)
        self.projections = projections(self.log)
        self.fetcher = Fetcher(config.network, transport=transport)
        self._tagger: Tagger | None = None
        self._tagger_lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def tagger(self) -> Tagger:
        with self._tagger_lock:
            if self._tagger is None:
                self._tagger = Tagger(self.config)
            return self._tagger

    def close(self) -> None:
        self.fetcher.close()
        self.log.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- polling -----------------------------------------------------------------------------------

    def poll(self, feed_names: Iterable[str] | None = None) -> list[PollOutcome]:
        """One cycle over the named feeds (all by default), several at a time."""
        feeds = [self.config.feed(n) for n in feed_names] if feed_names else list(self.config.feeds)
        self.projections.catch_up()
        workers = max(1, min(self.config.scheduler.max_workers, len(feeds)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
            return list(pool.map(self.refresh_feed, feeds))  # each catches the projections up

    def refresh_feed(self, feed: FeedSettings) -> PollOutcome:
        attempt = uuid.uuid4().hex
        started_at, started = self.clock(), time.monotonic()
        try:
            return self._refresh(feed, attempt, started_at, started)
        except StorageError:
            raise
        except Exception as exc:  # a bug must not stop the other feeds or the daemon: record it
            log.exception("polling %s failed unexpectedly", feed.name)
            message = f"internal error: {type(exc).__name__}: {exc}"[:300]
            self._failed(feed, attempt, started_at, FetchError("internal_error", message))
            return PollOutcome(feed.name, "failed", "internal_error", message)
        finally:
            self.projections.catch_up()

    def _conditional_headers(self, feed: FeedSettings) -> dict[str, str]:
        with reading(self.log.engine) as conn:
            row = conn.execute(select(feed_state.c.url, feed_state.c.etag, feed_state.c.last_modified)
                               .where(feed_state.c.feed == feed.name)).first()
        headers: dict[str, str] = {}
        if row is not None and row.url == feed.url:
            if row.etag:
                headers["If-None-Match"] = row.etag
            if row.last_modified:
                headers["If-Modified-Since"] = row.last_modified
        return headers

    def _failed(self, feed: FeedSettings, attempt: str, at: dt.datetime, error: FetchError) -> None:
        self.log.append([ev.feed_failed(feed.name, attempt, at, {
            "url": feed.url, "reason": error.reason, "message": error.message, "http_status": error.status,
            "retry_after": error.retry_after,
        })])

    def _refresh(self, feed: FeedSettings, attempt: str, started_at: dt.datetime, started: float) -> PollOutcome:
        try:
            response = self.fetcher.get(feed.url, self._conditional_headers(feed))
            parsed = None if response.status == 304 else parse_feed(response.content, response.url,
                                                                      response.headers)
        except FetchError as error:
            self._failed(feed, attempt, started_at, error)
            return PollOutcome(feed.name, "failed", error.reason, error.message)
        polled = {
            "url": feed.url, "final_url": response.url, "http_status": response.status,
            "etag": response.headers.get("etag"), "last_modified": response.headers.get("last-modified"),
        }
        if parsed is None:
            self.log.append([ev.feed_polled(feed.name, attempt, started_at, {
                **polled, "status": "not_modified", "entries_seen": 0, "new_entries": 0,
                "duration": round(time.monotonic() - started, 3)})])
            return PollOutcome(feed.name, "not_modified")

        unique: dict[str, FeedEntry] = {}
        for entry in parsed.entries:
            unique.setdefault(ev.article_id(entry.canonical_url), entry)
        known = self.log.existing_keys(f"{ev.ARTICLE_DISCOVERED}:{a}" for a in unique)
        outcome = PollOutcome(feed.name, "ok", entries_seen=len(parsed.entries))
        for article, entry in unique.items():
            if f"{ev.ARTICLE_DISCOVERED}:{article}" in known:
                continue
            if self.stopping.is_set():
                outcome.status = "interrupted"
                break
            result = self.log.append(self.process_entry(feed, article, entry))
            if result.recorded:
                outcome.new_articles += 1
                outcome.mentions += sum(1 for key in result.recorded if key.startswith(ev.MENTION_TAGGED))
        status = outcome.status
        if status == "interrupted":
            # Forget the validators, so that the next poll gets the full feed and the rest of its entries.
            polled["etag"] = polled["last_modified"] = None
        self.log.append([ev.feed_polled(feed.name, attempt, started_at, {
            **polled, "status": status, "feed_title": parsed.title, "format": parsed.version,
            "bozo": parsed.bozo, "entries_seen": len(parsed.entries), "new_entries": outcome.new_articles,
            "duration": round(time.monotonic() - started, 3)})])
        return outcome

    # -- one entry -----------------------------------------------------------------------------------

    def process_entry(self, feed: FeedSettings, article: str, entry: FeedEntry) -> list[NewEvent]:
        """The events of one new entry: discovery, extraction (or failure and fallback), mentions."""
        discovered_at = self.clock()
        occurred = entry.published_at or discovered_at
        published = entry.published_at.isoformat() if entry.published_at else None
        batch = [ev.article_discovered(article, occurred, {
            "feed": feed.name, "url": entry.url, "canonical_url": entry.canonical_url, "entry_id": entry.entry_id,
            "title": entry.title, "published_at": published,
        })]
        extraction, failure = self._extract(feed, entry)
        if extraction is None and failure is None:
            failure = PageFailure("no_text", "the entry has no link, text, summary or title")
        if failure is not None:
            batch.append(ev.extraction_failed(article, occurred, {
                "url": entry.url, "reason": failure.reason, "message": failure.message,
                "fallback": extraction.text_source if extraction else None,
            }))
        if extraction is None:
            return batch
        title = entry.title or extraction.title
        batch.append(ev.article_extracted(article, occurred, {
            "url": entry.url, "title": title, "text": extraction.text, "text_hash": extraction.text_hash,
            "text_source": extraction.text_source, "word_count": extraction.word_count,
            "language": extraction.language, "author": extraction.author, "page_date": extraction.published,
            "published_at": published,
        }))
        for topic, result in self.tagger.tag(title, extraction.text, entry.published_at).items():
            if result.decision == "none":
                continue
            payload: dict[str, Any] = {**result.as_dict(), "title": title, "url": entry.url, "feed": feed.name,
                                       "published_at": published}
            batch.append(ev.mention_tagged(article, topic, result.topic_version, occurred, payload))
        return batch

    def _extract(self, feed: FeedSettings, entry: FeedEntry) -> tuple[Extraction | None, PageFailure | None]:
        failure: PageFailure | None = None
        if feed.fetch_full_text and entry.url:
            try:
                page = self.fetcher.get(entry.url)
                page_result = extract_page(page.content, page.url, page.content_type)
            except FetchError as error:
                page_result = PageFailure(error.reason, error.message)
            if isinstance(page_result, Extraction):
                return page_result, None
            failure = page_result
        elif feed.fetch_full_text:
            failure = PageFailure("no_link", "the entry has no http(s) link to fetch")
        return from_feed(entry), failure

    # -- reviewing -----------------------------------------------------------------------------------

    def review(self) -> int:
        """Mark everything recorded so far as reviewed. Returns the position reviewed up to.

        Review events themselves do not count, so reviewing twice with nothing new in between records
        one event (the second has the same key).
        """
        position = self.log.last_position(exclude_types=[ev.DIGEST_REVIEWED])
        self.log.append([ev.digest_reviewed(position, self.clock())])
        self.projections.catch_up(["review_cursor"])
        return position
