"""What a poll did, and how a cycle's events are committed.

``PollOutcome`` is one feed's poll as its appends recorded it, and the one line the CLI prints of it;
``PollInterrupted`` is a cycle stopped by Ctrl-C after committing the polls that finished; ``GroupCommit``
writes the events of many polls in few transactions. The pipeline (``monitor.pipeline``) makes them; the CLI,
the daemon and the demo read them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.events import catalogue as ev
from storage.eventlog import NewEvent

log = logging.getLogger(__name__)


@dataclass
class PollOutcome:
    """What one poll of one feed did, counted from what its appends really recorded."""

    feed: str
    status: str  # ok | not_modified | failed | interrupted
    reason: str | None = None
    message: str | None = None
    entries_seen: int = 0
    new_articles: int = 0
    mentions: int = 0
    revised: int = 0
    next_poll_at: dt.datetime | None = None
    moved_to: str | None = None
    pages_failed: Counter[str] = field(default_factory=Counter)  # article pages that failed, by reason
    entries_failed: Counter[str] = field(default_factory=Counter)  # entries that failed alone, by reason
    entries_skipped: dict[str, int] = field(default_factory=dict)  # entries that are no article, by reason
    duplicates: int = 0  # entries of the fetch that repeated another

    def summary(self) -> str:
        """One line: ``12 entries, 5 new, 1 mention(s), 2 pages failed: http_404 ×2``, or the failure."""
        if self.reason:
            return f"{self.reason}: {self.message}"
        parts = [f"{self.entries_seen} entries, {self.new_articles} new, {self.mentions} mention(s)"]
        for what, counts in (("pages failed", self.pages_failed), ("entries failed", self.entries_failed),
                             ("entries skipped", Counter(self.entries_skipped))):
            if counts:
                reasons = ", ".join(f"{reason} ×{n}" for reason, n in sorted(counts.items()))
                parts.append(f"{sum(counts.values())} {what}: {reasons}")
        return ", ".join(parts)

    def count(self, recorded: Iterable[str]) -> None:
        """Add what an append really recorded (a duplicate, written by another worker, is not new)."""
        for key in recorded:
            if key.startswith(ev.ARTICLE_DISCOVERED):
                self.new_articles += 1
            elif key.startswith(ev.MENTION_TAGGED):
                self.mentions += 1
            elif key.startswith(ev.ARTICLE_REVISED):
                self.revised += 1


class PollInterrupted(KeyboardInterrupt):
    """A cycle stopped by Ctrl-C, after committing the polls that finished (``outcomes``, of ``total``)."""

    def __init__(self, outcomes: list[PollOutcome], total: int) -> None:
        super().__init__(f"interrupted after {len(outcomes)} of {total} polls")
        self.outcomes = outcomes
        self.total = total

    @property
    def finished(self) -> list[PollOutcome]:
        """The polls that ran to their end (a poll stopped between entries recorded what it did, as
        "interrupted", and is due again at once)."""
        return [outcome for outcome in self.outcomes if outcome.status != "interrupted"]


class GroupCommit:
    """Commits the events of many polls in one transaction (group commit): a cycle over a thousand feeds,
    most of them answering 304, is a thousand one-event batches, and a transaction per batch costs far
    more than the event. Each poll's events stay whole (they are added together), every group is one
    atomic append, and a group is written once it holds ``limit`` events, and at each ``flush`` (the end of a
    cycle; the daemon's dispatcher flushes before it catches the views up, about twice a second while polls
    end). A crash loses only the polls of the unwritten group, and they are not lost work: their keys are not
    in the log and their feeds' validators were not advanced, so the next poll does them again.

    ``on_written`` is called with the outcomes of each group once it is written (their counts then say what
    was recorded). A group whose write fails goes back to the front of the queue for the next flush (the error
    is raised to the caller); past ``MAX_QUEUED_GROUPS`` groups of backlog, an outage drops the oldest, logged.
    When ``flush`` returns, every group added before it was called is written, or failed."""

    MAX_QUEUED_GROUPS = 20

    def __init__(self, log: Any, limit: int = 500,
                 on_written: Callable[[list[PollOutcome]], None] | None = None) -> None:
        self.log = log
        self.limit = limit
        self.on_written = on_written
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one group written at a time: a flush waits for one being written
        self._pending: list[tuple[PollOutcome, list[NewEvent]]] = []
        self._size = 0

    @property
    def pending(self) -> int:
        """Events added and not written yet."""
        with self._lock:
            return self._size

    def add(self, outcome: PollOutcome, events: list[NewEvent]) -> None:
        with self._lock:
            self._pending.append((outcome, events))
            self._size += len(events)
            if self._size < self.limit:
                return
            work, self._pending, self._size = self._pending, [], 0
        self._write(work)

    def write_now(self, outcome: PollOutcome, events: list[NewEvent]) -> None:
        """One poll's events in a transaction of their own, now (reported to ``on_written`` as a group's)."""
        self._write([(outcome, events)])

    def flush(self) -> None:
        with self._lock:
            work, self._pending, self._size = self._pending, [], 0
        self._write(work)

    def _write(self, work: list[tuple[PollOutcome, list[NewEvent]]]) -> None:
        with self._writing:
            if not work:
                return
            try:
                recorded = set(self.log.append([event for _, events in work for event in events]).recorded)
            except BaseException:
                self._requeue(work)
                raise
        for outcome, events in work:
            outcome.count(e.key for e in events if e.key in recorded)
        if self.on_written is not None:
            self.on_written([outcome for outcome, _ in work])

    def _requeue(self, work: list[tuple[PollOutcome, list[NewEvent]]]) -> None:
        with self._lock:
            self._pending[:0] = work
            self._size += sum(len(events) for _, events in work)
            if self._size <= self.MAX_QUEUED_GROUPS * self.limit:
                return
            dropped = 0
            while self._pending and self._size > self.MAX_QUEUED_GROUPS * self.limit:
                _, events = self._pending.pop(0)
                self._size -= len(events)
                dropped += 1
        log.error("the log is unavailable: the events of %d poll(s) were dropped (their feeds are polled again "
                  "and record them then)", dropped)
